#!/usr/bin/env python3
"""Exact-arithmetic reference for the quantized SmolLM2 file: a float64 numpy forward pass over the
GGUF's weights dequantized by the gguf package (gguf.quants.dequantize), with no activation
quantization and an exact (float64) KV cache. It separates the two error sources in
afm-vs-llama.cpp log-probability differences: llama.cpp quantizes activations to 8 bits (Q8_1 /
Q8_0 dot products) and stores K/V in f16 by default; afm's and llama.cpp's distance to this
reference shows which side each difference comes from.

The forward pass is make_exact_reference.py's (llama layout: RMSNorm, interleaved-pair RoPE,
grouped-query causal attention, SwiGLU, tied output), imported from there.
log P(cont | ctx) = sum_i log_softmax(logits at the position before cont_i)[cont_i].

Adds "logprobs_exact" to every item of tests/fixtures/eval/llamacpp_choice/reference.json (items
carry context_tokens and continuation_tokens) and prints each side's distance to it; with
--afm RESULTS.json... (afm eval --record-tokens outputs) it also prints afm's.

usage: OPENBLAS_NUM_THREADS=1 python3 scripts/reference/smollm2_exact_logprobs.py
       [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--ref tests/fixtures/eval/llamacpp_choice/reference.json]
       [--afm mmlu.json boolq.json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_exact_reference import forward, load_weights, log_softmax  # noqa: E402  (the float64 forward pass)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--ref", default="tests/fixtures/eval/llamacpp_choice/reference.json")
    ap.add_argument("--afm", nargs="*", default=[], help="afm eval --record-tokens results (mmlu, boolq)")
    ap.add_argument("--every", type=int, default=1, help="only every k-th item (the forward pass is slow)")
    a = ap.parse_args()
    hp, w = load_weights(a.model)
    ref = json.load(open(a.ref))
    for it in ref["items"][::a.every]:
        ctx, lps, done = it["context_tokens"], [], {}
        for cont in it["continuation_tokens"]:
            ids = ctx + cont[:-1]
            if tuple(ids) not in done:  # one-token choices share one forward pass
                done[tuple(ids)] = forward(hp, w, ids)[len(ctx) - 1:]
            z = done[tuple(ids)]
            lps.append(sum(float(log_softmax(z[k])[t]) for k, t in enumerate(cont)))
        it["logprobs_exact"] = lps
        print(it["task"], it.get("subject", ""), it["row"], ["%.4f" % x for x in lps], flush=True)
    json.dump(ref, open(a.ref, "w"), indent=0)
    def dist(key):
        d = [abs(x - y) for it in ref["items"] if "logprobs_exact" in it for x, y in zip(it[key], it["logprobs_exact"])]
        return max(d), sum(d) / len(d)
    for key in ("logprobs_f16kv", "logprobs_f32kv"):
        print("llama.cpp %s vs exact: max %.5f mean %.5f" % ((key[9:],) + dist(key)))
    if a.afm:
        got = {}
        for p in a.afm:
            for g in json.load(open(p))["items"]:
                got[tuple(g["tokens"]["context"])] = g["logprobs"]
        d = [abs(x - y) for it in ref["items"] if tuple(it["context_tokens"]) in got and "logprobs_exact" in it
             for x, y in zip(got[tuple(it["context_tokens"])], it["logprobs_exact"])]
        print("afm vs exact: max %.5f mean %.5f over %d choices" % (max(d), sum(d) / len(d), len(d)))


if __name__ == "__main__":
    main()
