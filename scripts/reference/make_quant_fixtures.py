#!/usr/bin/env python3
"""Writes tests/fixtures/quant/*.bin: reference (de)quantization results from the `gguf` Python
package (llama.cpp's gguf-py, whose numpy quantizers are bit-exact with ggml's *_ref C code).

  <type>.quant.bin  f32 input (N values) followed by gguf.quants.quantize(input, type) bytes
                    (types with a numpy quantizer: bf16, q8_0, q4_0, q4_1, q5_0, q5_1; f16 uses
                    numpy's round-to-nearest-even float16 cast, as ggml does)
  <type>.deq.bin    quantized bytes (random blocks with finite scales) followed by
                    gguf.quants.dequantize(bytes, type) as f32 (every supported type)

N = 2048 (8 k-quant super-blocks). Input rows mix scales and include blocks that are all zero,
constant, one-hot and with ties in magnitude, which exercise the quantizers' edge cases.
Run: python3 scripts/reference/make_quant_fixtures.py  (needs numpy, gguf)
"""
import os
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

N = 2048
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "quant")


def inputs(rng):
    x = rng.standard_normal(N).astype(np.float32)
    x[0:256] *= 0.01                       # small scale
    x[256:512] *= 100.0                    # large scale
    x[512:544] = 0.0                       # all-zero 32-block
    x[544:576] = 0.75                      # constant block
    x[576:608] = 0.0
    x[590] = -3.0                          # one-hot block
    x[608:640] = np.float32(2.0) * np.sign(rng.standard_normal(32)).astype(np.float32)  # magnitude ties
    x[640:672] = np.abs(x[640:672])        # all positive (min > 0)
    x[672:704] = -np.abs(x[672:704])       # all negative
    x[768:1024] = 0.0                      # all-zero k super-block
    x[1024:1280] += 5.0                    # offset super-block
    return x


def random_blocks(rng, t, nblocks):
    """Random bytes with every f16 scale field replaced by a finite value of moderate size."""
    bs, ts = quants.GGML_QUANT_SIZES[t]
    raw = rng.integers(0, 256, size=(nblocks, ts), dtype=np.uint8)
    def put_f16(off):
        v = (rng.standard_normal(nblocks) * 0.05).astype(np.float16)
        raw[:, off:off + 2] = v.view(np.uint8).reshape(nblocks, 2)
    if t in (T.Q8_0, T.Q4_0, T.Q5_0):
        put_f16(0)
    elif t in (T.Q4_1, T.Q5_1):
        put_f16(0); put_f16(2)
    elif t == T.Q4_K:
        put_f16(0); put_f16(2)
    elif t == T.Q6_K:
        put_f16(ts - 2)
    return raw


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261127)
    x = inputs(rng)
    for name, t in [("bf16", T.BF16), ("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1),
                    ("q5_0", T.Q5_0), ("q5_1", T.Q5_1)]:
        q = quants.quantize(x, t)
        with open(os.path.join(OUT, f"{name}.quant.bin"), "wb") as f:
            f.write(x.tobytes() + q.tobytes())
    xf16 = x.copy()
    xf16[:4] = [65520.0, 1e-7, -3e-6, 70000.0]   # overflow to inf, subnormals, rounding at the top
    with open(os.path.join(OUT, "f16.quant.bin"), "wb") as f:
        f.write(xf16.tobytes() + xf16.astype(np.float16).tobytes())
    for name, t in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0),
                    ("q5_1", T.Q5_1), ("q4_k", T.Q4_K), ("q6_k", T.Q6_K)]:
        bs, ts = quants.GGML_QUANT_SIZES[t]
        raw = random_blocks(rng, t, N // bs)
        y = quants.dequantize(raw.reshape(-1), t).astype(np.float32)
        assert y.shape == (N,)
        with open(os.path.join(OUT, f"{name}.deq.bin"), "wb") as f:
            f.write(raw.tobytes() + y.tobytes())
    h = rng.integers(0, 65536, size=N, dtype=np.uint16)
    h = h[~np.isnan(h.view(np.float16))][:N // 2]
    h = np.concatenate([h, h])[:N]
    for name, conv in [("f16", lambda a: a.view(np.float16).astype(np.float32)),
                       ("bf16", lambda a: quants.dequantize(a.view(np.uint8), T.BF16))]:
        with open(os.path.join(OUT, f"{name}.deq.bin"), "wb") as f:
            f.write(h.tobytes() + np.asarray(conv(h), dtype=np.float32).tobytes())


if __name__ == "__main__":
    main()
