#!/usr/bin/env python3
"""BPE training benchmark (issue 3, "How fast"): a 32K byte-level vocabulary on ~40 MB of shared
English text, afm vs HF tokenizers' BpeTrainer vs sentencepiece (model_type=bpe), in one run.

The corpus is built once in a temporary folder from ../shared/data: pretrain/*.jsonl (the "text"
fields), text/tinyshakespeare.txt and email/spamassassin-ham.mbox (invalid UTF-8 replaced, as
sentencepiece and HF need valid text), written as one plain-text file that every trainer reads.
Each trainer runs in its own child process; wall time, CPU time (user + sys) and peak resident
memory come from os.wait4's rusage of that child. The machine is shared, so compare the ratios.
afm and HF train the same thing (GPT-2 pattern, <|endoftext|>, HF tie order), so their merges
are also compared for equality; sentencepiece trains its own kind of BPE on the same text.

Usage: python3 bench/bench_bpe_train.py [--afm build/afm] [--vocab-size 32000] [--threads 2]
                                        [--skip-spm] [--shared ../shared]
Needs: pip install tokenizers sentencepiece
"""
import argparse, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HF_CHILD = r"""
import sys
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
corpus, vocab, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train([corpus], trainer)
tok.save(out)
"""

SPM_CHILD = r"""
import sys
import sentencepiece as spm
corpus, vocab, prefix, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, vocab_size=vocab, model_type="bpe",
                               byte_fallback=True, character_coverage=1.0, num_threads=threads,
                               input_sentence_size=0, max_sentence_length=1 << 16, minloglevel=2)
"""


def build_corpus(shared, path):
    data = os.path.join(shared, "data")
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for f in ("pretrain/brown.jsonl", "pretrain/moby-dick.jsonl", "pretrain/sotu.jsonl"):
            for line in open(os.path.join(data, f), encoding="utf-8"):
                t = json.loads(line)["text"]
                out.write(t if t.endswith("\n") else t + "\n")
        out.write(open(os.path.join(data, "text/tinyshakespeare.txt"), encoding="utf-8").read())
        out.write(open(os.path.join(data, "email/spamassassin-ham.mbox"), "rb").read().decode("utf-8", "replace"))
    return os.path.getsize(path)


def run(name, argv, env=None):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.stderr.write(err.decode("utf-8", "replace"))
        raise SystemExit(f"{name} failed with status {p.returncode}")
    return dict(name=name, wall=wall, cpu=ru.ru_utime + ru.ru_stime, rss_mb=ru.ru_maxrss / 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--afm", default=os.path.join(ROOT, "build", "afm"))
    ap.add_argument("--shared", default=os.environ.get("AFM_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-spm", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        size = build_corpus(a.shared, corpus)
        print(f"corpus: {size / 1e6:.1f} MB, vocab {a.vocab_size}, {a.threads} threads, cores {os.cpu_count()}")
        results = []
        results.append(run("afm", [a.afm, "tokenizer", "train", "-q", "--style", "bytelevel", "--vocab-size", str(a.vocab_size),
                                   "--special", "<|endoftext|>", "--threads", str(a.threads), "--format", "hf",
                                   "-o", os.path.join(tmp, "afm"), corpus]))
        results.append(run("hf-tokenizers", [sys.executable, "-c", HF_CHILD, corpus, str(a.vocab_size), os.path.join(tmp, "hf.json")], env))
        if not a.skip_spm:
            results.append(run("sentencepiece", [sys.executable, "-c", SPM_CHILD, corpus, str(a.vocab_size), os.path.join(tmp, "spm"), str(a.threads)]))
        mine = json.load(open(os.path.join(tmp, "afm", "tokenizer.json")))["model"]
        hf = json.load(open(os.path.join(tmp, "hf.json")))["model"]
        same = mine["merges"] == hf["merges"] and mine["vocab"] == hf["vocab"]
        base = results[0]
        print(f"{'trainer':<15} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}   {'wall/afm':>8} {'cpu/afm':>8} {'mem/afm':>8}")
        for r in results:
            print(f"{r['name']:<15} {r['wall']:8.2f} {r['cpu']:8.2f} {r['rss_mb']:8.1f}   {r['wall'] / base['wall']:8.2f} "
                  f"{r['cpu'] / base['cpu']:8.2f} {r['rss_mb'] / base['rss_mb']:8.2f}")
        print(f"afm merges and vocabulary {'identical to' if same else 'DIFFER from'} HF tokenizers' "
              f"({len(mine['merges'])} merges)")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
