#!/usr/bin/python3
"""LoRA adapter fixtures: a tiny f16 base model, adapters in llama.cpp's GGUF LoRA format written
with the `gguf` package, and the logits PyTorch computes for them (tests/fixtures/adapter/).

    /usr/bin/python3 scripts/reference/make_lora_fixtures.py            # writes the fixtures
    python3 scripts/reference/make_lora_fixtures.py --llamacpp          # cross-check with llama.cpp
                                                                        # (llama-cpp-python)

Format (reference/gguf-llamacpp.md §4, llama.cpp's convert_lora_to_gguf.py / llama-adapter.cpp):
general.type = "adapter", general.architecture = the base's, adapter.type = "lora",
adapter.lora.alpha (f32, optional). For a base weight W "X.weight" (numpy (n_out, n_in), ggml
ne {n_in, n_out}): "X.weight.lora_a" = A, numpy (r, n_in); "X.weight.lora_b" = B, numpy (n_out, r)
(PEFT's lora_A / lora_B). token_embd.weight: lora_a numpy (n_vocab, r), lora_b numpy (dim, r).

Reference math, independent of the C code: the adapter is merged into float64 copies of the
dequantized (f16 -> f64) base weights and the merged model runs through the PyTorch forward of
make_model_fixtures.py:
    W' = W + s B A            s = user_scale * alpha / r (alpha != 0), else user_scale
    E'[t] = E[t] + s B A_e[t] (embedding lookup only; this base has its own output.weight)
Norm-gain LoRA tensors ("*_norm.weight.lora_a/b") are ignored by afm (tests/unit/test_adapter.c
builds such a file); they are left out here because llama.cpp 0.3.36 crashes on them.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "adapter")

BASE = dict(name="lora_base_llama_f16", arch="llama", rope_layout="interleaved", qk_norm="off", tied=False,
            dim=32, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8, ffn_dim=48, n_vocab=64,
            rope_theta=10000.0, norm_eps=1e-5, context_length=64, seed=4242, n_tokens=24, train=False)
KINDS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def base_params():
    """make_model_fixtures' random params, matrices rounded to f16 (what the file stores)."""
    import make_model_fixtures as mf
    p = mf.make_params(BASE)
    return {k: (v.astype(np.float16) if v.ndim == 2 else v) for k, v in p.items()}


def lora_pairs(params, targets, rank_of, seed, embd=False):
    """{base name: (A, B)}; A (r, n_in), B (n_out, r); scaled so the adapter moves logits clearly."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for name in targets:
        n_out, n_in = params[name].shape
        r = rank_of(name)
        a = rng.standard_normal((r, n_in)) / np.sqrt(n_in)
        b = 0.6 * rng.standard_normal((n_out, r)) / np.sqrt(r) * np.sqrt(np.mean(np.square(params[name].astype(np.float64))))
        pairs[name] = (a.astype(np.float32), b.astype(np.float32))
    if embd:
        V, d = params["token_embd.weight"].shape
        r = rank_of("token_embd.weight")
        a_e = rng.standard_normal((V, r)).astype(np.float32)                  # (n_vocab, r)
        b_e = (0.3 * rng.standard_normal((d, r)) / np.sqrt(r * d)).astype(np.float32)  # (dim, r)
        pairs["token_embd.weight"] = (a_e, b_e)
    return pairs


def write_adapter(path, pairs, alpha, dtype_of, extra=None):
    import gguf
    from gguf import GGUFValueType as T
    w = gguf.GGUFWriter(path, BASE["arch"])
    w.add_key_value("general.type", "adapter", T.STRING)
    w.add_key_value("general.name", os.path.basename(path), T.STRING)
    w.add_key_value("adapter.type", "lora", T.STRING)
    if alpha is not None:
        w.add_key_value("adapter.lora.alpha", float(alpha), T.FLOAT32)
    for name, (a, b) in list(pairs.items()) + list((extra or {}).items()):
        dt = dtype_of(name)
        w.add_tensor(name + ".lora_a", a.astype(dt))    # gguf-py: ne = reversed(numpy shape)
        w.add_tensor(name + ".lora_b", b.astype(dt))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_back(path):
    """{base name: (A, B)} as stored, through the gguf package's reader."""
    import gguf
    r = gguf.GGUFReader(path)
    out = {}
    for t in r.tensors:
        arr = np.asarray(t.data).astype(np.float64).reshape(list(reversed([int(x) for x in t.shape])))
        base, half = t.name.rsplit(".", 1)
        out.setdefault(base, {})[half] = arr
    return {k: (v["lora_a"], v["lora_b"]) for k, v in out.items()}


def merged(params, adapters):
    """float64 params with each (pairs, alpha, user_scale) merged in."""
    P = {k: v.astype(np.float64) for k, v in params.items()}
    for pairs, alpha, scale in adapters:
        for name, (a, b) in pairs.items():
            if name.endswith("_norm.weight"):
                continue
            if name == "token_embd.weight":
                r = a.shape[1]
                s = scale * alpha / r if alpha else scale
                P[name] = P[name] + s * (a @ b.T)              # (V, r) (r, dim)
            else:
                r = a.shape[0]
                s = scale * alpha / r if alpha else scale
                P[name] = P[name] + s * (b @ a)                # (n_out, r) (r, n_in)
    return P


def logits_of(P, tokens):
    import torch
    import make_model_fixtures as mf
    with torch.no_grad():
        T = {k: torch.tensor(v, dtype=torch.float64) for k, v in P.items()}
        return mf.forward(BASE, T, torch.tensor(tokens)[None])[0].numpy()


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1e-6, np.max(np.abs(b))))


def make():
    sys.path.insert(0, HERE)
    import make_model_fixtures as mf
    os.makedirs(OUT, exist_ok=True)
    params = base_params()
    base_path = os.path.join(OUT, "base.gguf")
    mf.write_gguf(base_path, BASE, params)
    rng = np.random.default_rng(BASE["seed"] + 1)
    tokens = [int(t) for t in rng.integers(0, BASE["n_vocab"], size=BASE["n_tokens"])]

    all_targets = [f"blk.{l}.{k}.weight" for l in range(BASE["n_layers"]) for k in KINDS] + ["output.weight"]
    # ranks differ per pair (llama.cpp takes r from each pair): attn_q 8, ffn_down 2, others 4
    rank = lambda n: 8 if "attn_q" in n else 2 if "ffn_down" in n else 3 if n == "token_embd.weight" else 4
    full = lora_pairs(params, all_targets, rank, seed=7, embd=True)
    full_path = os.path.join(OUT, "lora_full.gguf")
    # layer 0 and the embedding in f32, layer 1 and the output in f16
    write_adapter(full_path, full, 8.0, lambda n: np.float32 if n.startswith("blk.0.") or n.startswith("token_embd") else np.float16)
    qv = lora_pairs(params, [f"blk.{l}.{k}.weight" for l in range(2) for k in ("attn_q", "attn_v")], lambda n: 2, seed=8)
    qv_path = os.path.join(OUT, "lora_qv.gguf")
    write_adapter(qv_path, qv, None, lambda n: np.float16)   # no alpha: s = user scale

    full_rb, qv_rb = read_back(full_path), read_back(qv_path)
    cases = [
        ("base", []),
        ("full", [(full_rb, 8.0, 1.0)]),
        ("full_scale_0.5", [(full_rb, 8.0, 0.5)]),
        ("qv", [(qv_rb, 0.0, 1.0)]),
        ("full_and_qv_0.75", [(full_rb, 8.0, 1.0), (qv_rb, 0.0, 0.75)]),
    ]
    base_logits = logits_of(merged(params, []), tokens)
    index = dict(generator="scripts/reference/make_lora_fixtures.py", base="base.gguf", base_sha256=sha256(base_path),
                 tokens=tokens, n_vocab=BASE["n_vocab"], config={k: BASE[k] for k in ("arch", "dim", "n_layers", "n_heads",
                 "n_kv_heads", "head_dim", "ffn_dim", "n_vocab", "context_length")},
                 adapters={"full": dict(file="lora_full.gguf", sha256=sha256(full_path), alpha=8.0,
                                        note="all 7 projections of both layers, output.weight, token_embd.weight; "
                                             "ranks attn_q 8, ffn_down 2, embd 3, others 4; layer 0 + embd f32, rest f16"),
                           "qv": dict(file="lora_qv.gguf", sha256=sha256(qv_path), alpha=None,
                                      note="attn_q and attn_v of both layers, rank 2, f16, no alpha")},
                 tolerance="max |afm - ref| / max |ref| over all (n_tokens, n_vocab) logits <= 1e-5",
                 cases=[])
    for name, adapters in cases:
        lg = logits_of(merged(params, adapters), tokens)
        fn = f"logits_{name}.f32"
        np.ascontiguousarray(lg, dtype="<f4").tofile(os.path.join(OUT, fn))
        moved = rel(lg, base_logits)
        if name != "base":
            assert moved > 0.05, f"{name}: the adapter moves the logits by only {moved:.3g}"
        index["cases"].append(dict(name=name, adapters=[dict(adapter="full" if p is full_rb else "qv", scale=s)
                                                         for p, _, s in adapters],
                                   logits=fn, rel_change_from_base=moved))
        print(f"{name:18s} logits moved from base by {moved:.3f} (relative to max |logit|)")
    # the adapter math itself: the low-rank form equals the merged form on a random input
    a, b = full_rb["blk.0.attn_q.weight"]
    x = np.random.default_rng(0).standard_normal((5, a.shape[1]))
    W = params["blk.0.attn_q.weight"].astype(np.float64)
    s = 8.0 / a.shape[0]
    assert rel(x @ W.T + s * (x @ a.T) @ b.T, x @ (W + s * b @ a).T) < 1e-12
    with open(os.path.join(OUT, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1)
        fh.write("\n")


def llamacpp_check():
    """Loads base + adapters with llama.cpp (llama-cpp-python, f32 KV cache) and compares its
    logits with the PyTorch fixtures."""
    import llama_cpp
    index = json.load(open(os.path.join(OUT, "index.json")))
    tokens = index["tokens"]
    V = index["n_vocab"]
    for case in index["cases"]:
        if len(case["adapters"]) > 1:
            continue   # llama-cpp-python's Llama() takes one adapter
        kw = {}
        if case["adapters"]:
            ad = case["adapters"][0]
            kw = dict(lora_path=os.path.join(OUT, index["adapters"][ad["adapter"]]["file"]), lora_scale=ad["scale"])
        llm = llama_cpp.Llama(os.path.join(OUT, index["base"]), n_ctx=64, logits_all=True, verbose=False,
                              type_k=0, type_v=0, n_threads=1, **kw)
        llm.eval(tokens)
        got = np.array(llm.scores[:len(tokens)], dtype=np.float64)
        ref = np.fromfile(os.path.join(OUT, case["logits"]), dtype="<f4").reshape(len(tokens), V)
        print(f"llama.cpp {case['name']:18s} max rel diff vs PyTorch {rel(got, ref):.2e}")
        del llm


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--llamacpp", action="store_true", help="cross-check the fixtures with llama.cpp")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    if args.llamacpp:
        llamacpp_check()
    else:
        make()
