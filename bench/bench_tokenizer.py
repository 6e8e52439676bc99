#!/usr/bin/env python3
"""Encode throughput, side by side on the same documents: afm (bench_tokenizer) vs HF tokenizers vs
tiktoken, all with the GPT-2 vocabulary (../shared/data/bpe_fixtures/gpt2_vocab.json + merges.txt;
the tiktoken Encoding is built locally from the same files). Documents: every shared document
(pretrain/*.jsonl, text/, email/ as in scripts/reference/compare_tokenizer_hf.py), ~52 MB.
Each measurement runs in its own process with the thread count fixed before the library loads
(HF: RAYON_NUM_THREADS; tiktoken: encode_ordinary_batch(num_threads)). Best of --reps passes.
Each afm pass starts new threads, so its per-thread word cache starts empty every pass.
Both wall-clock and process-CPU-time throughput are reported: on a busy shared machine the CPU-time
figures are the steadier comparison (for several threads they are per CPU-second, not wall).

usage: python3 bench/bench_tokenizer.py --afm-bench build/bench/bench_tokenizer [--threads 1,2] [--reps 2]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "reference"))

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tiktoken_gpt2(bpe_dir):
    import tiktoken
    dec = {v: k for k, v in bytes_to_unicode().items()}
    vocab = json.load(open(os.path.join(bpe_dir, "gpt2_vocab.json"), encoding="utf-8"))
    ranks = {bytes(dec[c] for c in tok): i for tok, i in vocab.items() if tok != "<|endoftext|>"}
    return tiktoken.Encoding("gpt2-local", pat_str=GPT2_PAT, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": vocab["<|endoftext|>"]})


def load_docs(path):
    docs = []
    with open(path, "rb") as f:
        data = f.read()
    o = 0
    while o < len(data):
        (n,) = struct.unpack_from("<I", data, o)
        docs.append(data[o + 4:o + 4 + n].decode("utf-8"))
        o += 4 + n
    return docs


def peer(kind, docs_path, bpe_dir, threads, reps):
    """Runs in a child process: prints MB/s of the peer."""
    docs = load_docs(docs_path)
    nbytes = sum(len(d.encode()) for d in docs)
    if kind == "hf":
        from tokenizers import Tokenizer, models, pre_tokenizers
        tok = Tokenizer(models.BPE.from_file(os.path.join(bpe_dir, "gpt2_vocab.json"), os.path.join(bpe_dir, "gpt2_merges.txt")))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        fn = lambda: sum(len(e.ids) for e in tok.encode_batch(docs, add_special_tokens=False))
    else:
        enc = tiktoken_gpt2(bpe_dir)
        if threads == 1:
            fn = lambda: sum(len(enc.encode_ordinary(d)) for d in docs)
        else:
            fn = lambda: sum(len(x) for x in enc.encode_ordinary_batch(docs, num_threads=threads))
    best = best_cpu = 0
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        ntok = fn()
        best = max(best, nbytes / 1e6 / (time.perf_counter() - t0))
        best_cpu = max(best_cpu, nbytes / 1e6 / (time.process_time() - c0))
    print(f"{kind} threads={threads} best_MBps={best:.2f} cpu_MBps={best_cpu:.2f} tokens={ntok}")


def run_child(args, env=None):
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{out.stderr}")
    line = out.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return float(fields["best_MBps"]), int(fields["tokens"]), line, float(fields.get("cpu_MBps", "nan"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--afm-bench", default="build/bench/bench_tokenizer")
    ap.add_argument("--shared", default=os.environ.get("AFM_SHARED", os.path.join(HERE, "../../shared")))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--limit-mb", type=float, default=0)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--docs-file", help=argparse.SUPPRESS)
    a = ap.parse_args()
    bpe = os.path.join(a.shared, "data/bpe_fixtures")
    if a.peer:
        peer(a.peer, a.docs_file, bpe, int(a.threads), a.reps)
        return
    from compare_tokenizer_hf import shared_docs
    docs = shared_docs(a.shared, int(a.limit_mb * 1e6))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "docs.bin")
        with open(path, "wb") as f:
            for d in docs:
                b = d.encode()
                f.write(struct.pack("<I", len(b)) + b)
        nbytes = sum(len(d.encode()) for d in docs)
        print(f"{len(docs)} documents, {nbytes / 1e6:.1f} MB, GPT-2 vocabulary; best of {a.reps} passes")
        for th in [int(x) for x in a.threads.split(",")]:
            res = {}
            afm = run_child([a.afm_bench, "--tokenizer", os.path.join(bpe, "gpt2_vocab.json"), "--merges", os.path.join(bpe, "gpt2_merges.txt"),
                             "--docs", path, "--threads", str(th), "--reps", str(a.reps)])
            res["afm"] = afm
            env = dict(os.environ, RAYON_NUM_THREADS=str(th), TOKENIZERS_PARALLELISM="true")
            for kind in ("hf", "tiktoken"):
                res[kind] = run_child([sys.executable, __file__, "--peer", kind, "--docs-file", path, "--threads", str(th), "--reps", str(a.reps)], env)
            for k, (mbps, ntok, line, cpu) in res.items():
                print(f"  {line}")
            if not (res["afm"][1] == res["hf"][1] == res["tiktoken"][1]):
                print("  WARNING: token counts differ between implementations")
            faster = max(res["hf"][0], res["tiktoken"][0])
            print(f"  threads={th}: afm/HF = {res['afm'][0] / res['hf'][0]:.2f}x, afm/tiktoken = {res['afm'][0] / res['tiktoken'][0]:.2f}x, "
                  f"afm/faster peer = {res['afm'][0] / faster:.2f}x (wall clock)")
            fc = max(res["hf"][3], res["tiktoken"][3])
            print(f"  threads={th}: by CPU time: afm/HF = {res['afm'][3] / res['hf'][3]:.2f}x, afm/tiktoken = {res['afm'][3] / res['tiktoken'][3]:.2f}x, "
                  f"afm/faster peer = {res['afm'][3] / fc:.2f}x")


if __name__ == "__main__":
    main()
