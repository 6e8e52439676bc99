#!/usr/bin/env python3
"""Writes a random-weight GGUF model of a given shape with the `gguf` Python package + numpy.

Fallback for `afm init --shape SHAPE.json --type T -o OUT.gguf` (bench/bench_vs_llamacpp.py uses
afm init when it exists). The file is a valid `llama` or `qwen3` model that llama.cpp loads: a
placeholder byte-level BPE vocabulary (tokenizer.ggml.model "gpt2") of exactly n_vocab tokens,
tied output unless the shape says "tied_output": false, weights ~ N(0, 0.02^2) (output
projections scaled by 1/sqrt(2 n_layers)), RMSNorm gains 1. Matrices get the requested type (f32, f16, q8_0 or q4_0;
quantized with gguf.quants, the reference NumPy quantizers); norm gains stay F32.

Tensors are generated and written one at a time, so memory stays at one tensor even for the
5.5 GB AFM-3B F16 file.

usage: make_random_gguf.py --shape {smollm2-135m,qwen3-0.6b,afm-3b}|SHAPE.json --type q4_0 -o OUT.gguf
SHAPE.json uses afm_config's field names (arch, n_vocab, dim, n_layers, n_heads, n_kv_heads,
head_dim, ffn_dim, max_seq_len, rope_theta, norm_eps).
"""
import argparse
import json
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

SHAPES = {
    # HuggingFaceTB/SmolLM2-135M (config.json)
    "smollm2-135m": dict(arch="llama", n_vocab=49152, dim=576, n_layers=30, n_heads=9, n_kv_heads=3,
                         head_dim=64, ffn_dim=1536, max_seq_len=8192, rope_theta=100000.0, norm_eps=1e-5),
    # Qwen/Qwen3-0.6B (config.json)
    "qwen3-0.6b": dict(arch="qwen3", n_vocab=151936, dim=1024, n_layers=28, n_heads=16, n_kv_heads=8,
                       head_dim=128, ffn_dim=3072, max_seq_len=40960, rope_theta=1000000.0, norm_eps=1e-6),
    # AFM-on-device (reference/afm.md), written as qwen3
    "afm-3b": dict(arch="qwen3", n_vocab=49152, dim=3072, n_layers=26, n_heads=24, n_kv_heads=8,
                   head_dim=128, ffn_dim=8064, max_seq_len=4096, rope_theta=500000.0, norm_eps=1e-5),
}
TYPES = {"f32": QT.F32, "f16": QT.F16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0}
FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}  # general.file_type (LlamaFileType)


def byte_level_vocab(n_vocab):
    """n_vocab tokens: the 256 GPT-2 byte symbols, then strings built by appending one byte symbol
    to an earlier token (each with its merge "left right"), and <|endoftext|> last (CONTROL)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_sym = [chr(c) for c in cs]
    tokens, merges = byte_sym[:], []
    j = 0
    while len(tokens) < n_vocab - 1:
        left, right = tokens[j // 256], byte_sym[j % 256]
        tokens.append(left + right)
        merges.append(f"{left} {right}")
        j += 1
    tokens.append("<|endoftext|>")
    types = [1] * (n_vocab - 1) + [3]
    return tokens, types, merges


def tensor_plan(s, wtype):
    """[(name, numpy shape (rows, cols) or (n,), ggml type, std)] in file order."""
    d, hd, L = s["dim"], s["head_dim"], s["n_layers"]
    std, std_out = 0.02, 0.02 / np.sqrt(2 * L)
    plan = [("token_embd.weight", (s["n_vocab"], d), wtype, std)]
    for i in range(L):
        p = f"blk.{i}."
        plan += [(p + "attn_norm.weight", (d,), QT.F32, None),
                 (p + "attn_q.weight", (s["n_heads"] * hd, d), wtype, std),
                 (p + "attn_k.weight", (s["n_kv_heads"] * hd, d), wtype, std),
                 (p + "attn_v.weight", (s["n_kv_heads"] * hd, d), wtype, std),
                 (p + "attn_output.weight", (d, s["n_heads"] * hd), wtype, std_out)]
        if s["arch"] == "qwen3":
            plan += [(p + "attn_q_norm.weight", (hd,), QT.F32, None),
                     (p + "attn_k_norm.weight", (hd,), QT.F32, None)]
        plan += [(p + "ffn_norm.weight", (d,), QT.F32, None),
                 (p + "ffn_gate.weight", (s["ffn_dim"], d), wtype, std),
                 (p + "ffn_up.weight", (s["ffn_dim"], d), wtype, std),
                 (p + "ffn_down.weight", (d, s["ffn_dim"]), wtype, std_out)]
    plan.append(("output_norm.weight", (d,), QT.F32, None))
    if not s.get("tied_output", True):
        plan.append(("output.weight", (s["n_vocab"], d), wtype, std))
    return plan


def encode(values, qtype):
    if qtype == QT.F32:
        return values.astype(np.float32)
    if qtype == QT.F16:
        return values.astype(np.float16)
    return gguf.quants.quantize(values, qtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", required=True)
    ap.add_argument("--type", default="q4_0", choices=sorted(TYPES))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    if a.shape in SHAPES:
        s = dict(SHAPES[a.shape])
    else:
        with open(a.shape) as f:
            s = json.load(f)
    arch, wtype = s["arch"], TYPES[a.type]
    if arch not in ("llama", "qwen3"):
        sys.exit(f"error: architecture {arch!r}: only llama and qwen3 can be written by this fallback")

    w = gguf.GGUFWriter(a.output, arch)
    w.add_name(f"random {a.shape} {a.type}")
    w.add_context_length(s["max_seq_len"])
    w.add_embedding_length(s["dim"])
    w.add_block_count(s["n_layers"])
    w.add_feed_forward_length(s["ffn_dim"])
    w.add_head_count(s["n_heads"])
    w.add_head_count_kv(s["n_kv_heads"])
    w.add_key_length(s["head_dim"])
    w.add_value_length(s["head_dim"])
    w.add_rope_dimension_count(s["head_dim"])
    w.add_rope_freq_base(s["rope_theta"])
    w.add_layer_norm_rms_eps(s["norm_eps"])
    w.add_vocab_size(s["n_vocab"])
    w.add_file_type(FILE_TYPE[a.type])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, types, merges = byte_level_vocab(s["n_vocab"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(s["n_vocab"] - 1)
    w.add_eos_token_id(s["n_vocab"] - 1)
    w.add_add_bos_token(False)

    plan = tensor_plan(s, wtype)
    for name, shape, qtype, _ in plan:
        n = int(np.prod(shape))
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        w.add_tensor_info(name, shape, np.dtype(np.float32), n // block * size, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(a.seed)
    for name, shape, qtype, std in plan:
        if std is None:
            values = np.ones(shape, dtype=np.float32)
        else:
            values = rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        w.write_tensor_data(encode(values, qtype))
    w.close()
    print(a.output)


if __name__ == "__main__":
    main()
