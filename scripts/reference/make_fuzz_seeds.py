#!/usr/bin/env python3
"""Writes small seed inputs for the GGUF fuzz target with the independent Python `gguf` writer.

Usage: python3 scripts/reference/make_fuzz_seeds.py  (writes tests/fuzz/corpus/fuzz_gguf/*.gguf)
"""
import os
import numpy as np
import gguf

root = os.path.join(os.path.dirname(__file__), "..", "..")
out = os.path.join(root, "tests", "fuzz", "corpus", "fuzz_gguf")
os.makedirs(out, exist_ok=True)


def write(name, fill):
    path = os.path.join(out, name)
    w = gguf.GGUFWriter(path, "llama")
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def small(w):
    w.add_uint32("llama.block_count", 1)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_token_list(["<s>", "</s>", "a", "b c"])
    w.add_token_types([3, 3, 1, 1])
    w.add_array("x.f64", [1.5, -2.0])
    w.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("output_norm.weight", np.ones(5, dtype=np.float16))
    q = np.zeros((2, 34), dtype=np.uint8)  # 2 rows of one Q8_0 block (32 weights) each
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)


def meta_only(w):
    w.add_string("general.name", "seed")
    w.add_uint64("x.u64", 1 << 40)
    w.add_int8("x.i8", -3)
    w.add_array("x.strs", ["", "x", "yz"])


write("small.gguf", small)
write("meta_only.gguf", meta_only)
