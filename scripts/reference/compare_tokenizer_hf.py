#!/usr/bin/env python3
"""Encodes documents with afm (`afm tokenize --jsonl`) and with HF `tokenizers` configured
identically, and compares the ids token for token.

Tokenizers (--configs, comma-separated):
  gpt2       GPT-2 vocab.json + merges.txt (../shared/data/bpe_fixtures), ByteLevel pre-tokenizer;
             afm reads the two files.
  gpt2-json  the same HF tokenizer saved as tokenizer.json; afm reads that file.
  smollm2    SmolLM2-135M-Instruct's tokenizer as stored in its GGUF (read with the gguf package):
             HF BPE from tokenizer.ggml.tokens/merges, control tokens as special added tokens,
             pre-tokenizer Sequence[Digits(individual_digits=True), ByteLevel] (HF SmolLM2's
             tokenizer.json); afm reads the GGUF.
  llama3, qwen2  the GPT-2 vocabulary with the Llama 3 / Qwen2 Split regex + ByteLevel(use_regex=
             False), saved as tokenizer.json; afm reads that file (tests the hand-written matchers).
  llama3-im  llama3 with BPE ignore_merges=True (as Llama 3's tokenizer.json has).
Documents (--docs): "shared" = every document of ../shared/data/pretrain/*.jsonl (text field),
text/*.txt (one document per file) and email/*.mbox (one per message, bytes decoded as UTF-8 with
U+FFFD for invalid sequences, since HF takes only valid UTF-8); "random" = random strings mixing
every character class the patterns distinguish (letters, numbers of all kinds, Unicode spaces,
\\r\\n, apostrophe contractions, U+017F, marks, emoji). --limit-mb caps the shared text per source.

usage: compare_tokenizer_hf.py --afm build/afm [--configs gpt2,smollm2] [--docs shared,random]
exit status 0 when every document matches.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, AddedToken

LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def shared_docs(shared, limit_bytes):
    docs = []
    for path in sorted(glob.glob(os.path.join(shared, "data/pretrain/*.jsonl"))):
        n = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                d = json.loads(line)["text"]
                docs.append(d)
                n += len(d)
                if limit_bytes and n > limit_bytes:
                    break
    for path in sorted(glob.glob(os.path.join(shared, "data/text/*.txt"))):
        with open(path, "rb") as f:
            docs.append(f.read(limit_bytes or -1).decode("utf-8", "replace"))
    for path in sorted(glob.glob(os.path.join(shared, "data/email/*.mbox"))):
        with open(path, "rb") as f:
            data = f.read()
        n = 0
        msg = []
        for line in data.split(b"\n"):
            if line.startswith(b"From ") and msg:
                docs.append(b"\n".join(msg).decode("utf-8", "replace"))
                n += len(docs[-1])
                msg = []
                if limit_bytes and n > limit_bytes:
                    break
            msg.append(line)
        if msg and not (limit_bytes and n > limit_bytes):
            docs.append(b"\n".join(msg).decode("utf-8", "replace"))
    return docs


def random_docs(n, seed=1234):
    rng = random.Random(seed)
    pieces = ["a", "Z", "é", "ß", "ſ", "Ω", "日本", "한", "ক", "ไ", "ʰ", "ǅ",            # letters (Lu Ll Lt Lm Lo)
              "0", "7", "٣", "²", "½", "Ⅷ", "𝟘", "〇",                                 # Nd No Nl
              " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u2003", "\u3000", "\u2028", "\u2029",
              "\x1c", "\x1f",                                                          # Python isspace, not \s
              "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'LL", "'d", "'D", "'x", "'", "''",
              "!", ".", ",", "-", "—", "$", "€", "\u0301", "\u200d", "😀", "👍🏽", "\U0001F1FA\U0001F1F8",
              "\u200b", "\ufeff", "\x00", "\x7f", "<|endoftext|>", "<|im_start|>", "Hello", " world", "123456"]
    docs = []
    for _ in range(n):
        k = rng.randint(0, 40)
        docs.append("".join(rng.choice(pieces) for _ in range(k)))
    return docs


def hf_gpt2(bpe_dir):
    tok = Tokenizer(models.BPE.from_file(os.path.join(bpe_dir, "gpt2_vocab.json"), os.path.join(bpe_dir, "gpt2_merges.txt")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def hf_split(bpe_dir, regex, ignore_merges=False):
    tok = hf_gpt2(bpe_dir)
    if ignore_merges:
        tok.model = models.BPE.from_file(os.path.join(bpe_dir, "gpt2_vocab.json"), os.path.join(bpe_dir, "gpt2_merges.txt"), ignore_merges=True)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    return tok


def hf_from_gguf(path):
    from gguf import GGUFReader
    r = GGUFReader(path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    tokens = strings("tokenizer.ggml.tokens")
    merges = strings("tokenizer.ggml.merges")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    pre = bytes(r.fields["tokenizer.ggml.pre"].parts[r.fields["tokenizer.ggml.pre"].data[0]]).decode()
    assert pre == "smollm", pre
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t == 3])
    return tok


def afm_encode(afm, args, docs):
    inp = "".join(json.dumps(d) + "\n" for d in docs).encode()
    out = subprocess.run([afm, "tokenize", "--jsonl", "--no-bos"] + args, input=inp, capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit("afm tokenize failed: " + out.stderr.decode(errors="replace"))
    lines = out.stdout.decode().split("\n")[:-1]
    return [[int(x) for x in l.split()] for l in lines]


def compare(name, hf, afm_ids, docs):
    bad = 0
    ntok = 0
    hf_ids = [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]
    for i, (d, ours, theirs) in enumerate(zip(docs, afm_ids, hf_ids)):
        ntok += len(theirs)
        if ours != theirs:
            bad += 1
            if bad <= 5:
                k = next((j for j in range(min(len(ours), len(theirs))) if ours[j] != theirs[j]), min(len(ours), len(theirs)))
                print(f"  {name}: document {i} differs at token {k}: afm {ours[max(0,k-3):k+5]} HF {theirs[max(0,k-3):k+5]}")
                print(f"    HF pieces {[hf.id_to_token(t) for t in theirs[max(0,k-3):k+5]]}")
                print(f"    afm pieces {[hf.id_to_token(t) for t in ours[max(0,k-3):k+5]]}")
    if len(afm_ids) != len(docs):
        print(f"  {name}: afm returned {len(afm_ids)} documents, expected {len(docs)}")
        bad += 1
    return bad, ntok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--afm", required=True)
    ap.add_argument("--shared", default=os.environ.get("AFM_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared")))
    ap.add_argument("--gguf", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--configs", default="gpt2,gpt2-json,smollm2,llama3,llama3-im,qwen2")
    ap.add_argument("--docs", default="shared,random")
    ap.add_argument("--limit-mb", type=float, default=0)
    ap.add_argument("--random-n", type=int, default=3000)
    a = ap.parse_args()
    bpe = os.path.join(a.shared, "data/bpe_fixtures")
    docs = []
    if "shared" in a.docs:
        docs += shared_docs(a.shared, int(a.limit_mb * 1e6))
    if "random" in a.docs:
        docs += random_docs(a.random_n)
    total_mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"{len(docs)} documents, {total_mb:.1f} MB")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in a.configs.split(","):
            if cfg == "gpt2":
                hf = hf_gpt2(bpe)
                args = ["--tokenizer", os.path.join(bpe, "gpt2_vocab.json"), "--merges", os.path.join(bpe, "gpt2_merges.txt")]
            elif cfg in ("gpt2-json", "llama3", "llama3-im", "qwen2"):
                hf = hf_gpt2(bpe) if cfg == "gpt2-json" else hf_split(bpe, QWEN2_RE if cfg == "qwen2" else LLAMA3_RE, cfg == "llama3-im")
                p = os.path.join(tmp, cfg + ".json")
                hf.save(p)
                args = ["--tokenizer", p]
            elif cfg == "smollm2":
                if not os.path.exists(a.gguf):
                    print(f"smollm2: {a.gguf} not found (scripts/fetch_smollm2.sh fetches it)")
                    failed = True
                    continue
                hf = hf_from_gguf(a.gguf)
                args = ["-m", a.gguf, "--parse-special"]
            else:
                sys.exit("unknown config " + cfg)
            ours = afm_encode(a.afm, args, docs)
            bad, ntok = compare(cfg, hf, ours, docs)
            print(f"{cfg}: {len(docs) - bad}/{len(docs)} documents identical ({ntok} HF tokens)")
            failed |= bad > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
