#!/usr/bin/env python3
"""Op-by-op comparison of afm's forward pass (`afm trace`) with llama.cpp's (llamacpp_trace.py).

For every op that both record (same name, same layer), prints the relative difference
||afm - llama|| / ||llama|| (Frobenius over all tokens and features), the largest absolute
difference, and the fraction of exactly equal elements. The last column says whether the
difference grew through this op. Finally the mean KL(llama || afm) of the next-token distributions.

usage: python3 scripts/reference/compare_trace.py LLAMA.npz AFM.trc [--layers 0,1,29]
"""
import argparse
import re
import struct

import numpy as np

# llama.cpp tensor name (and which occurrence: llama.cpp reuses names along the graph) for each
# afm trace name. Qcur/Kcur: the RoPE output (third occurrence); Vcur: the matmul output.
LLAMA_NAME = {
    "attn_norm": ("attn_norm", 0), "Qcur": ("Qcur", 2), "Kcur": ("Kcur", 2), "Vcur": ("Vcur", 0),
    "kqv_out": ("kqv_out", 0), "attn_out": ("attn_out", 0), "ffn_inp": ("ffn_inp", 0),
    "ffn_norm": ("ffn_norm", 0), "ffn_gate": ("ffn_gate", 0), "ffn_up": ("ffn_up", 0),
    "ffn_swiglu": ("ffn_swiglu", 0), "ffn_out": ("ffn_out", 0), "l_out": ("l_out", 0),
    "result_norm": ("result_norm", 0), "result_output": ("result_output", 0),
}


def read_afm(path):
    data = open(path, "rb").read()
    assert data[:8] == b"AFMTRC1\0", "not an afm trace file"
    p, out = 8, {}
    while p < len(data):
        (n,) = struct.unpack_from("<I", data, p); p += 4
        name = data[p:p + n].decode(); p += n
        layer, rows, cols = struct.unpack_from("<iqq", data, p); p += 20
        arr = np.frombuffer(data, dtype="<f4", count=rows * cols, offset=p).reshape(rows, cols)
        p += 4 * rows * cols
        out[(name, layer)] = arr
    return out


def read_llama(path):
    z = np.load(path)
    out = {}
    for key in z.files:
        m = re.match(r"^(\d+):(.+?)(?:-(\d+))?:(\d+)$", key)
        if not m:
            continue
        k, name, layer = int(m.group(1)), m.group(2), int(m.group(3)) if m.group(3) else -1
        out[(name, layer, k)] = z[key]
    return out, z["logits"]


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("llama")
    ap.add_argument("afm")
    ap.add_argument("--layers", default="0,1", help="layers to show op by op (l_out is shown for all)")
    a = ap.parse_args()
    afm = read_afm(a.afm)
    llama, logits = read_llama(a.llama)
    show = {int(x) for x in a.layers.split(",") if x}
    print(f"{'op':>14} {'layer':>5} {'rel diff':>10} {'max |diff|':>11} {'equal':>7}")
    for (name, layer), x in afm.items():
        if name not in LLAMA_NAME or (layer not in show and name != "l_out" and layer != -1):
            continue
        ln, k = LLAMA_NAME[name]
        y = llama.get((ln, layer, k))
        if y is None:
            continue
        y = y.reshape(x.shape[0], -1)
        if y.shape != x.shape:
            print(f"{name:>14} {layer:>5} shape mismatch {x.shape} vs {y.shape}")
            continue
        d = x.astype(np.float64) - y
        rel = np.linalg.norm(d) / max(np.linalg.norm(y), 1e-30)
        print(f"{name:>14} {layer:>5} {rel:10.3e} {np.abs(d).max():11.3e} {np.mean(x == y):7.3f}")
    z = afm.get(("result_output", -1))
    if z is not None:
        lp, lq = log_softmax(logits), log_softmax(z)
        kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
        am = (logits.argmax(-1) == z.argmax(-1)).mean()
        print(f"KL(llama || afm): mean {kl.mean():.3e}, max {kl.max():.3e}; argmax agreement {am:.3f} "
              f"over {len(kl)} positions")


if __name__ == "__main__":
    main()
