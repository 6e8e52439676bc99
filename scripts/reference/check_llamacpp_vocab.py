#!/usr/bin/env python3
"""Checks that vocabulary-only GGUF files written by afm (`afm tokenize ... --write-gguf`) load in
llama.cpp (llama-cpp-python, vocab_only=True) and that llama.cpp tokenizes them exactly as afm does.
Not part of ctest: llama-cpp-python builds llama.cpp from source (minutes). Run with llama_cpp
importable, e.g. PYTHONPATH=<dir with llama_cpp>.

usage: check_llamacpp_vocab.py --afm build/afm [--shared ../shared] [--gguf models/SmolLM2...gguf]
       [--limit-mb 1] [--random-n 1000]
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_tokenizer_hf import shared_docs, random_docs, afm_encode  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--afm", required=True)
    ap.add_argument("--shared", default=os.environ.get("AFM_SHARED", "../shared"))
    ap.add_argument("--gguf", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--limit-mb", type=float, default=1)
    ap.add_argument("--random-n", type=int, default=1000)
    a = ap.parse_args()
    import llama_cpp
    bpe = os.path.join(a.shared, "data/bpe_fixtures")
    docs = shared_docs(a.shared, int(a.limit_mb * 1e6)) + random_docs(a.random_n)
    # llama.cpp matches USER_DEFINED tokens always and CONTROL with special=True; we pass plain text
    docs = [d for d in docs if "<|" not in d]
    sources = [("smollm2", ["-m", a.gguf]),
               ("stories260K", ["--tokenizer", os.path.join(a.shared, "models/stories260K/tok512.bin")]),
               ("gpt2", ["--tokenizer", os.path.join(bpe, "gpt2_vocab.json"), "--merges", os.path.join(bpe, "gpt2_merges.txt")])]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in sources:
            out = os.path.join(tmp, name + ".gguf")
            subprocess.run([a.afm, "tokenize"] + args + ["--write-gguf", out], check=True)
            m = llama_cpp.Llama(model_path=out, vocab_only=True, verbose=False)
            ours = afm_encode(a.afm, ["--tokenizer", out], docs)
            bad = 0
            for i, (d, o) in enumerate(zip(docs, ours)):
                theirs = m.tokenize(d.encode(), add_bos=False, special=False)
                if theirs != o:
                    bad += 1
                    if bad <= 3:
                        k = next((j for j in range(min(len(o), len(theirs))) if o[j] != theirs[j]), min(len(o), len(theirs)))
                        print(f"  {name}: document {i} differs at token {k}: afm {o[max(0,k-3):k+5]} llama.cpp {theirs[max(0,k-3):k+5]}"
                              f" text {d.encode()[:0]!r}")
            print(f"{name}: llama.cpp loaded afm's GGUF ({os.path.getsize(out)} bytes); {len(docs) - bad}/{len(docs)} documents identical")
            failed |= bad > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
