#!/usr/bin/env python3
"""Fixture for afm_hf_permute_qk: llama.cpp's HF -> GGUF `llama` q/k row permutation, re-implemented
in numpy from the documented formula (reference/gguf-llamacpp.md §2.3, convert_hf_to_gguf.py
LlamaModel.permute):

    W.reshape(n_head, 2, W.shape[0] // n_head // 2, *W.shape[1:]).swapaxes(1, 2).reshape(W.shape)

q_proj uses n_head = num_attention_heads, k_proj n_head = num_key_value_heads. Writes
tests/fixtures/formats/permute_qk.json: cases of {n_heads, shape, input, output} (row-major).
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "formats",
                   "permute_qk.json")


def permute(w, n_head):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_half(q, pos, base=10000.0):
    """HF / NeoX rotate-half RoPE on one head q (d,): pairs (i, i + d/2)."""
    d = q.shape[0]
    theta = pos * base ** (-2.0 * np.arange(d // 2) / d)
    a, b = q[:d // 2], q[d // 2:]
    return np.concatenate([a * np.cos(theta) - b * np.sin(theta), b * np.cos(theta) + a * np.sin(theta)])


def rope_interleaved(q, pos, base=10000.0):
    """llama.cpp `llama` / llama2.c RoPE on one head q (d,): pairs (2i, 2i + 1)."""
    d = q.shape[0]
    theta = pos * base ** (-2.0 * np.arange(d // 2) / d)
    a, b = q[0::2], q[1::2]
    out = np.empty_like(q)
    out[0::2] = a * np.cos(theta) - b * np.sin(theta)
    out[1::2] = b * np.cos(theta) + a * np.sin(theta)
    return out


def check_semantics(rng):
    """Why the permutation is right: interleaved RoPE on the permuted weights gives the permuted
    result of rotate-half RoPE on the HF weights, so q.k dot products (attention) are unchanged."""
    n_head, d, dim = 2, 8, 6
    wq, wk, x = rng.standard_normal((n_head * d, dim)), rng.standard_normal((n_head * d, dim)), rng.standard_normal(dim)
    for pos in (0, 3, 17):
        for h in range(n_head):
            sl = slice(h * d, (h + 1) * d)
            hf = rope_half((wq @ x)[sl], pos)
            gg = rope_interleaved((permute(wq, n_head) @ x)[sl], pos)
            assert np.allclose(permute(hf[None].T, 1).ravel(), gg)
            hfk, ggk = rope_half((wk @ x)[sl], 5), rope_interleaved((permute(wk, n_head) @ x)[sl], 5)
            assert np.isclose(hf @ hfk, gg @ ggk)


def main():
    check_semantics(np.random.default_rng(9))
    rng = np.random.default_rng(5)
    cases = []
    # (n_heads, shape): q of 3 heads x head_dim 8, k with 1 kv head, 1-D q_norm-like gains,
    # head_dim 2 (smallest), and a wide matrix with 4 heads of head_dim 6.
    for n_heads, shape in ((3, (24, 5)), (1, (8, 5)), (2, (12,)), (4, (8, 3)), (4, (24, 7))):
        w = rng.standard_normal(shape).astype(np.float32)
        cases.append({"n_heads": n_heads, "shape": list(shape),
                      "input": [float(x) for x in w.ravel()],
                      "output": [float(x) for x in permute(w, n_heads).ravel()]})
    with open(OUT, "w") as f:
        json.dump({"formula": "W.reshape(n_head, 2, rows//n_head//2, ...).swapaxes(1, 2).reshape(W.shape)",
                   "cases": cases}, f)


if __name__ == "__main__":
    main()
