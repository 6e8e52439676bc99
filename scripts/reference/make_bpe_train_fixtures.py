#!/usr/bin/env python3
"""Reference merges for afm's BPE trainer, made by HF tokenizers' BpeTrainer (PyPI `tokenizers`).

Writes tests/fixtures/bpe_train/<name>.merges.json (the merges as [left, right] piece pairs, as in
tokenizer.json; SPM pieces may hold newlines, so not one per line) and index.json describing each run, for tests/unit/test_bpe_train.c:
  - byte-level with the GPT-2, Llama-3 and SmolLM2 pre-tokenizers, on a plain-text file (HF reads
    it line by line, line endings kept) and on a JSONL file (one document per record);
  - SentencePiece style, reproduced in HF as: normalizer Prepend("▁") + Replace(" ", "▁"), a Split
    regex giving afm's SPM words, Digits(individual_digits) for --split-digits, and the special
    tokens followed by <0x00>..<0xFF> as the first ids (afm's SPM vocabulary layout).

Usage: python3 scripts/reference/make_bpe_train_fixtures.py [SHARED_DIR]
"""
import json, os, sys
from tokenizers import Tokenizer, Regex, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "fixtures", "bpe_train")

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
# afm's SPM words (src/tokenizer/bpe_train_words.c) after " " -> "▁": "▁"? + a run of letters, of
# numbers or of other non-space characters; a run of whitespace; a lone "▁".
SPM_WORDS = r"▁?\p{L}+|▁?\p{N}+|▁?[^\s\p{L}\p{N}▁]+|\s+|▁"

RUNS = [
    dict(name="shakespeare_gpt2", input="text/tinyshakespeare.txt", style="bytelevel", pre="gpt2",
         vocab_size=2000, specials=["<|endoftext|>", "<|pad|>"]),
    dict(name="mobydick_llama3", input="pretrain/moby-dick.jsonl", style="bytelevel", pre="llama3",
         vocab_size=1500, specials=["<|begin_of_text|>"]),
    dict(name="mobydick_smollm", input="pretrain/moby-dick.jsonl", style="bytelevel", pre="smollm",
         vocab_size=1200, specials=[]),
    dict(name="shakespeare_spm_digits", input="text/tinyshakespeare.txt", style="sentencepiece",
         vocab_size=1200, specials=["<unk>", "<s>", "</s>"], split_digits=True),
    dict(name="mobydick_spm", input="pretrain/moby-dick.jsonl", style="sentencepiece",
         vocab_size=1500, specials=["<pad>", "</s>", "<unk>"], split_digits=False),
]


def build(run):
    tok = Tokenizer(models.BPE())
    if run["style"] == "bytelevel":
        bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=run["pre"] != "llama3")
        if run["pre"] == "gpt2":
            tok.pre_tokenizer = bl
        elif run["pre"] == "llama3":
            tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), "isolated"), bl])
        else:
            tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl])
        specials = run["specials"]
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        pts = [pre_tokenizers.Split(Regex(SPM_WORDS), "isolated")]
        if run["split_digits"]:
            pts.append(pre_tokenizers.Digits(individual_digits=True))
        tok.pre_tokenizer = pre_tokenizers.Sequence(pts)
        specials = run["specials"] + ["<0x%02X>" % b for b in range(256)]
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=run["vocab_size"], special_tokens=specials,
                                  initial_alphabet=alphabet, show_progress=False)
    return tok, trainer


def main():
    os.makedirs(OUT, exist_ok=True)
    index = []
    for run in RUNS:
        tok, trainer = build(run)
        path = os.path.join(SHARED, "data", run["input"])
        if path.endswith(".jsonl"):
            docs = [json.loads(l)["text"] for l in open(path, encoding="utf-8") if l.strip()]
            tok.train_from_iterator(docs, trainer)
        else:
            tok.train([path], trainer)
        model = json.loads(tok.to_str())["model"]
        merges = [m.split(" ", 1) if isinstance(m, str) else m for m in model["merges"]]
        with open(os.path.join(OUT, run["name"] + ".merges.json"), "w", encoding="utf-8") as f:
            json.dump(merges, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        entry = dict(run)
        entry["n_tokens"] = len(model["vocab"])
        entry["n_merges"] = len(merges)
        index.append(entry)
        print(run["name"], len(model["vocab"]), "tokens,", len(merges), "merges")
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
