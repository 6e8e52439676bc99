#!/usr/bin/env python3
"""Writes tests/fixtures/quant/{q4_k,q6_k}.quant.bin: f32 input (the rows of
make_quant_fixtures.py, N = 2048) followed by llama.cpp's own quantization of it.

The gguf package has no numpy quantizer for the k-quants, so this calls ggml's C reference
through ctypes: ggml_quantize_chunk(type, src, dst, 0, nrows=1, n_per_row=N, imatrix=NULL), which
without an importance matrix runs quantize_row_q4_K_ref / quantize_row_q6_K_ref. The library
comes from the llama-cpp-python package (it builds llama.cpp from source):
  pip install llama-cpp-python   (or set LIBGGML_BASE=/path/to/libggml-base.so)
Run: python3 scripts/reference/make_kquant_fixtures.py
"""
import ctypes
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from make_quant_fixtures import N, OUT, inputs  # noqa: E402


def find_libggml_base():
    if os.environ.get("LIBGGML_BASE"):
        return os.environ["LIBGGML_BASE"]
    import llama_cpp
    libs = glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so*"))
    if not libs:
        sys.exit("libggml-base.so not found next to llama_cpp; set LIBGGML_BASE")
    return sorted(libs)[0]


def main():
    lib = ctypes.CDLL(find_libggml_base())
    q = lib.ggml_quantize_chunk
    q.restype = ctypes.c_size_t
    q.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_void_p]
    rng = np.random.default_rng(20261127)
    x = np.ascontiguousarray(inputs(rng))
    for name, ggml_type, block_bytes in [("q4_k", 12, 144), ("q6_k", 14, 210)]:
        out = np.zeros(N // 256 * block_bytes, dtype=np.uint8)
        n = q(ggml_type, x.ctypes.data, out.ctypes.data, 0, 1, N, None)
        assert n == out.size, (name, n)
        with open(os.path.join(OUT, f"{name}.quant.bin"), "wb") as f:
            f.write(x.tobytes() + out.tobytes())


if __name__ == "__main__":
    main()
