#!/usr/bin/python3
"""PyTorch reference for the afm transformer: writes tiny random models as GGUF files together
with the logits (tests/fixtures/model/) and the training loss and gradients
(tests/fixtures/train/) that a correct implementation must reproduce.

Run with Debian's interpreter (python3-torch 1.13, CPU) and the `gguf` package:
    /usr/bin/python3 -m pip install --break-system-packages gguf
    /usr/bin/python3 scripts/reference/make_model_fixtures.py            # writes the fixtures
    /usr/bin/python3 scripts/reference/make_model_fixtures.py --dump NAME # per-layer diagnostics

The model is written here from the published definition (reference/afm.md §1.3, DESIGN.md §2,
reference/gguf-llamacpp.md §2), independently of the C code:
    x = E[tokens]                                                   E: (V, dim)
    per layer:
        a = RMSNorm(x; g_attn)
        q = a Wq^T -> (T, H, hd); k = a Wk^T, v = a Wv^T -> (T, Hkv, hd)
        qk_norm == before_rope: q = RMSNorm(q; g_q), k = RMSNorm(k; g_k)   (over hd, shared by heads)
        q, k = RoPE(q), RoPE(k)                                      (theta, layout)
        qk_norm == after_rope:  q = RMSNorm(q; g_q), k = RMSNorm(k; g_k)
        query head h reads kv head h // (H / Hkv)
        o = softmax(q k^T / sqrt(hd) + causal mask) v -> (T, H*hd)
        h = x + o Wo^T
        x = h + W2 (silu(W1 b) * (W3 b)),   b = RMSNorm(h; g_ffn)
    logits = RMSNorm(x; g_out) (E if tied else Wout)^T
    RMSNorm(y; g) = y * rsqrt(mean(y^2) + eps) * g
    RoPE angle of pair i at position p: p * theta^(-2i/hd), i in [0, hd/2); a pair (a, b) becomes
    (a cos - b sin, a sin + b cos); the pair is (2i, 2i+1) for layout "interleaved" and
    (i, i + hd/2) for layout "half".
Everything is computed in float64 from float32 weights; the fixtures store float32.
"""
import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
N_TOKENS = 24           # length of the forward-pass token sequence
TRAIN_B, TRAIN_T = 2, 12  # training batch: B sequences of T inputs (+1 target each)
Z_LOSS = 1e-4           # z-loss coefficient of the z-loss training cases

# ---------------------------------------------------------------------------------------------
# Configurations. Switches: rope layout (I interleaved / H half), qk_norm (off / before / after),
# tied output, GQA ratio n_heads / n_kv_heads (1, 2, 4), head_dim != dim / n_heads. The first
# nine rows form a pairwise-covering array over the five switches (checked by check_pairwise);
# the last three add AFM's own shape, and more llama / qwen3 files.
# ---------------------------------------------------------------------------------------------
def C(name, arch, layout, qk, tied, dim, n_heads, n_kv, hd, ffn, vocab, theta, eps, seed,
      n_tokens=N_TOKENS, context=64, train=True):
    return dict(name=name, arch=arch, rope_layout=layout, qk_norm=qk, tied=tied, dim=dim,
                n_layers=2, n_heads=n_heads, n_kv_heads=n_kv, head_dim=hd, ffn_dim=ffn,
                n_vocab=vocab, rope_theta=theta, norm_eps=eps, context_length=context, seed=seed,
                n_tokens=n_tokens, train=train)

CONFIGS = [
    #  name                         arch     layout         qk            tied   dim H Hkv hd ffn V   theta     eps
    C("llama_mha_tied",            "llama", "interleaved", "off",         True,  32, 4, 4, 8, 48, 64, 10000.0, 1e-5, 101),
    C("afm_half_off_gqa2_hd12",    "afm",   "half",        "off",         False, 32, 4, 2, 12, 56, 77, 10000.0, 1e-6, 102),
    C("llama_gqa4_hd12_untied",    "llama", "interleaved", "off",         False, 32, 8, 2, 12, 40, 66, 500000.0, 1e-5, 103),
    C("qwen3_mha_untied",          "qwen3", "half",        "before_rope", False, 32, 4, 4, 8, 48, 80, 1000000.0, 1e-6, 104),
    C("afm_inter_before_gqa2",     "afm",   "interleaved", "before_rope", True,  40, 4, 2, 10, 56, 70, 10000.0, 1e-5, 105),
    C("qwen3_gqa4_hd16_tied",      "qwen3", "half",        "before_rope", True,  32, 4, 1, 16, 48, 64, 1000000.0, 1e-6, 106),
    C("afm_inter_after_mha_hd6",   "afm",   "interleaved", "after_rope",  False, 32, 4, 4, 6, 48, 70, 500000.0, 1e-5, 107),
    C("afm_half_after_gqa2_hd16",  "afm",   "half",        "after_rope",  True,  32, 4, 2, 16, 40, 64, 10000.0, 1e-5, 108),
    C("afm_inter_after_gqa4",      "afm",   "interleaved", "after_rope",  True,  32, 8, 2, 4, 48, 90, 500000.0, 1e-5, 109),
    C("afm_ondevice_like",         "afm",   "interleaved", "after_rope",  True,  48, 6, 2, 8, 56, 80, 500000.0, 1e-5, 110),
    C("llama_gqa2_tied_hd16",      "llama", "interleaved", "off",         True,  32, 4, 2, 16, 48, 72, 10000.0, 1e-5, 111),
    C("qwen3_gqa2_untied_hd12",    "qwen3", "half",        "before_rope", False, 32, 4, 2, 12, 44, 88, 1000000.0, 1e-6, 112),
    # 280 tokens: a prompt longer than the runtime's 256-token forward chunk, RoPE angles up to
    # position 279, attention over hundreds of keys (forward fixture only)
    C("afm_long_280",              "afm",   "interleaved", "after_rope",  True,  32, 4, 2, 8, 32, 64, 500000.0, 1e-5, 113,
      n_tokens=280, context=320, train=False),
]

# the configs whose training fixture is also written with z-loss, and the AdamW run
Z_LOSS_CONFIGS = ["afm_inter_after_gqa4", "qwen3_mha_untied"]
ADAMW_CONFIG = "afm_ondevice_like"
ADAMW = dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, steps=10)

ARCH_SWITCHES = {"llama": ("interleaved", "off"), "qwen3": ("half", "before_rope")}


def switches(c):
    return dict(layout=c["rope_layout"], qk=c["qk_norm"], tied=c["tied"],
                gqa=c["n_heads"] // c["n_kv_heads"],
                hd_free=c["head_dim"] * c["n_heads"] != c["dim"])


def check_configs():
    """Every config is consistent, llama/qwen3 files carry their architecture's switches, and
    every pair of values of two switches occurs in some config (pairwise coverage)."""
    values = dict(layout=["interleaved", "half"], qk=["off", "before_rope", "after_rope"],
                  tied=[True, False], gqa=[1, 2, 4], hd_free=[True, False])
    for c in CONFIGS:
        assert c["n_heads"] % c["n_kv_heads"] == 0 and c["head_dim"] % 2 == 0, c["name"]
        if c["arch"] in ARCH_SWITCHES:
            assert (c["rope_layout"], c["qk_norm"]) == ARCH_SWITCHES[c["arch"]], c["name"]
    keys = list(values)
    rows = [switches(c) for c in CONFIGS]
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            for va in values[a]:
                for vb in values[b]:
                    assert any(r[a] == va and r[b] == vb for r in rows), f"pair {a}={va} {b}={vb} uncovered"
    assert len({c["name"] for c in CONFIGS}) == len(CONFIGS)


# ---------------------------------------------------------------------------------------------
# Parameters: float32 values of realistic scale. Linear weights N(0, 1/fan_in) (AFM init),
# embedding N(0, 1/dim); norm gains are *not* 1 but 1 + 0.25 N(0,1), so that a gain applied to
# the wrong place or skipped changes the logits. Wq and Wk get 1.5x scale so attention is peaked
# enough that RoPE and masking mistakes show (2x made some positions of the QK-norm-free configs
# ill-conditioned: see f32_sensitivity).
# Tensor order and names are the GGUF ones; shapes are PyTorch (out, in).
# ---------------------------------------------------------------------------------------------
def param_shapes(c):
    d, hd, H, Hkv, f, V = c["dim"], c["head_dim"], c["n_heads"], c["n_kv_heads"], c["ffn_dim"], c["n_vocab"]
    shapes = [("token_embd.weight", (V, d))]
    for l in range(c["n_layers"]):
        p = f"blk.{l}."
        shapes += [(p + "attn_norm.weight", (d,)),
                   (p + "attn_q.weight", (H * hd, d)),
                   (p + "attn_k.weight", (Hkv * hd, d)),
                   (p + "attn_v.weight", (Hkv * hd, d)),
                   (p + "attn_output.weight", (d, H * hd))]
        if c["qk_norm"] != "off":
            shapes += [(p + "attn_q_norm.weight", (hd,)), (p + "attn_k_norm.weight", (hd,))]
        shapes += [(p + "ffn_norm.weight", (d,)),
                   (p + "ffn_gate.weight", (f, d)),
                   (p + "ffn_up.weight", (f, d)),
                   (p + "ffn_down.weight", (d, f))]
    shapes.append(("output_norm.weight", (d,)))
    if not c["tied"]:
        shapes.append(("output.weight", (V, d)))
    return shapes


def make_params(c):
    rng = np.random.default_rng(c["seed"])
    params = {}
    for name, shape in param_shapes(c):
        if len(shape) == 1:
            w = 1.0 + 0.25 * rng.standard_normal(shape)
        elif name == "token_embd.weight":
            w = rng.standard_normal(shape) / math.sqrt(c["dim"])
        else:
            std = 1.0 / math.sqrt(shape[1])
            if name.endswith("attn_q.weight") or name.endswith("attn_k.weight"):
                std *= 1.5
            w = std * rng.standard_normal(shape)
        params[name] = w.astype(np.float32)
    return params


# ---------------------------------------------------------------------------------------------
# The reference forward pass (float64, autograd-capable).
# `variant` perturbs one detail on purpose (used only to prove that the fixtures tell a correct
# implementation from a subtly wrong one): None is the model itself.
# ---------------------------------------------------------------------------------------------
def rms_norm(x, g, eps):
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * g


def rope(x, theta, layout):
    """x: (B, T, n, hd), positions 0..T-1 -> rotated x."""
    B, T, n, hd = x.shape
    i = torch.arange(hd // 2, dtype=torch.float64)
    inv_freq = theta ** (-2.0 * i / hd)                                   # (hd/2)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (T, hd/2)
    cos = torch.cos(ang)[None, :, None, :].to(x.dtype)
    sin = torch.sin(ang)[None, :, None, :].to(x.dtype)
    if layout == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).reshape(B, T, n, hd)
    a, b = x[..., : hd // 2], x[..., hd // 2:]
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


def forward(c, P, tokens, variant=None, trace=None):
    """tokens: (B, T) int64 -> logits (B, T, V). P: name -> float64 tensor."""
    eps, hd, H, Hkv = c["norm_eps"], c["head_dim"], c["n_heads"], c["n_kv_heads"]
    layout = c["rope_layout"]
    if variant == "layout":
        layout = "half" if layout == "interleaved" else "interleaved"
    qk = c["qk_norm"]
    if variant == "qk_order":
        qk = {"before_rope": "after_rope", "after_rope": "before_rope"}[qk]
    if variant == "qk_skipped":
        qk = "off"
    B, T = tokens.shape
    x = P["token_embd.weight"][tokens]                                    # (B, T, dim)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(c["n_layers"]):
        p = f"blk.{l}."
        a = rms_norm(x, P[p + "attn_norm.weight"], eps)
        q = (a @ P[p + "attn_q.weight"].T).view(B, T, H, hd)
        k = (a @ P[p + "attn_k.weight"].T).view(B, T, Hkv, hd)
        v = (a @ P[p + "attn_v.weight"].T).view(B, T, Hkv, hd)
        if qk != "off":
            gq, gk = P[p + "attn_q_norm.weight"], P[p + "attn_k_norm.weight"]
            if variant == "qk_gains_swapped":
                gq, gk = gk, gq
        if qk == "before_rope":
            q, k = rms_norm(q, gq, eps), rms_norm(k, gk, eps)
        q, k = rope(q, c["rope_theta"], layout), rope(k, c["rope_theta"], layout)
        if qk == "after_rope":
            q, k = rms_norm(q, gq, eps), rms_norm(k, gk, eps)
        if variant == "gqa_modulo":          # wrong grouping: head h reads kv head h % Hkv
            kv_of = torch.arange(H) % Hkv
        else:                                # query head h reads kv head h // (H / Hkv)
            kv_of = torch.arange(H) // (H // Hkv)
        k, v = k[:, :, kv_of, :], v[:, :, kv_of, :]                       # (B, T, H, hd)
        s = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(hd)         # (B, H, T, T)
        s = s.masked_fill(~mask, float("-inf"))
        o = torch.einsum("bhij,bjhd->bihd", torch.softmax(s, dim=-1), v).reshape(B, T, H * hd)
        x = x + o @ P[p + "attn_output.weight"].T
        b = rms_norm(x, P[p + "ffn_norm.weight"], eps)
        g = b @ P[p + "ffn_gate.weight"].T
        u = b @ P[p + "ffn_up.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ P[p + "ffn_down.weight"].T
        if trace is not None:
            trace.append((l, x.detach().clone()))
    x = rms_norm(x, P["output_norm.weight"], eps)
    out = P["token_embd.weight"] if c["tied"] else P["output.weight"]
    return x @ out.T


def f32_sensitivity(c, params, tokens, logits, trials=5):
    """How much the logits move when every weight is perturbed at float32 rounding level
    (relative noise 6e-8): the error any correct float32 implementation may show from rounding
    alone. Asserted well below the 1e-5 test tolerance, so the tolerance judges the code, not the
    conditioning of a random model."""
    worst = 0.0
    for s in range(trials):
        g = np.random.default_rng(s)
        P = {k: torch.tensor(v.astype(np.float64) * (1 + 6e-8 * g.standard_normal(v.shape))) for k, v in params.items()}
        worst = max(worst, rel_err(forward(c, P, torch.tensor(tokens)[None])[0].numpy(), logits))
    return worst


def variants(c):
    """The deliberate mistakes a fixture must detect for this config."""
    v = ["layout"]
    if c["qk_norm"] != "off":
        v += ["qk_order", "qk_skipped"]
    if c["qk_norm"] == "before_rope":   # after RoPE, q.k is symmetric in the two gains
        v.append("qk_gains_swapped")
    if 1 < c["n_kv_heads"] < c["n_heads"]:
        v.append("gqa_modulo")
    return v


def rel_err(a, ref):
    """max over rows of max|a - ref| / max(1e-6, max|ref|) (one row = one position's logits)."""
    a, ref = np.asarray(a, np.float64).reshape(-1, ref.shape[-1]), np.asarray(ref, np.float64).reshape(-1, ref.shape[-1])
    scale = np.maximum(1e-6, np.abs(ref).max(axis=1))
    return float((np.abs(a - ref).max(axis=1) / scale).max())


# ---------------------------------------------------------------------------------------------
# GGUF writing (gguf-py). Architecture keys are documented in docs/gguf-afm.md.
# ---------------------------------------------------------------------------------------------
def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(ch) for b, ch in zip(bs, cs)}


def placeholder_vocab(V):
    """V-2 single-byte tokens (bytes 32.. in GPT-2 byte space) and two merged tokens."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(32, 32 + V - 2)] + [b2u[32] + "A", "TH"]
    merges = [b2u[32] + " A", "T H"]
    assert len(set(tokens)) == V
    return tokens, merges


def write_gguf(path, c, params):
    import gguf
    from gguf import GGUFValueType as T
    arch = c["arch"]
    w = gguf.GGUFWriter(path, arch)
    u32 = lambda k, v: w.add_key_value(f"{arch}.{k}", int(v), T.UINT32)
    f32 = lambda k, v: w.add_key_value(f"{arch}.{k}", float(v), T.FLOAT32)
    w.add_key_value("general.name", c["name"], T.STRING)
    u32("context_length", c["context_length"])
    u32("embedding_length", c["dim"])
    u32("block_count", c["n_layers"])
    u32("feed_forward_length", c["ffn_dim"])
    u32("attention.head_count", c["n_heads"])
    u32("attention.head_count_kv", c["n_kv_heads"])
    u32("attention.key_length", c["head_dim"])
    u32("attention.value_length", c["head_dim"])
    f32("attention.layer_norm_rms_epsilon", c["norm_eps"])
    f32("rope.freq_base", c["rope_theta"])
    u32("vocab_size", c["n_vocab"])
    if arch == "afm":
        w.add_key_value("afm.rope.layout", c["rope_layout"], T.STRING)
        w.add_key_value("afm.attention.qk_norm", c["qk_norm"], T.STRING)
    else:
        u32("rope.dimension_count", c["head_dim"])
    tokens, merges = placeholder_vocab(c["n_vocab"])
    w.add_key_value("tokenizer.ggml.model", "gpt2", T.STRING)
    w.add_key_value("tokenizer.ggml.pre", "gpt-2", T.STRING)
    w.add_key_value("tokenizer.ggml.tokens", tokens, T.ARRAY, T.STRING)
    w.add_key_value("tokenizer.ggml.token_type", [1] * len(tokens), T.ARRAY, T.INT32)
    w.add_key_value("tokenizer.ggml.merges", merges, T.ARRAY, T.STRING)
    w.add_key_value("tokenizer.ggml.bos_token_id", 0, T.UINT32)
    w.add_key_value("tokenizer.ggml.eos_token_id", c["n_vocab"] - 1, T.UINT32)
    for name, _ in param_shapes(c):
        w.add_tensor(name, params[name])        # gguf-py writes ne = reversed(numpy shape)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_back_check(path, c, params):
    """The gguf package reads the file back tensor for tensor, with the keys we meant."""
    import gguf
    r = gguf.GGUFReader(path)
    names = [t.name for t in r.tensors]
    assert names == [n for n, _ in param_shapes(c)], names
    for t in r.tensors:
        ref = params[t.name]
        assert list(t.shape) == list(reversed(ref.shape)), (t.name, t.shape)
        assert np.array_equal(np.asarray(t.data).reshape(ref.shape), ref), t.name
    f = r.fields
    arch = bytes(f["general.architecture"].parts[-1]).decode()
    assert arch == c["arch"]
    assert int(f[f"{arch}.attention.key_length"].parts[-1][0]) == c["head_dim"]


# ---------------------------------------------------------------------------------------------
# Fixture writers
# ---------------------------------------------------------------------------------------------
def f32_file(path, arr):
    np.ascontiguousarray(arr, dtype="<f4").tofile(path)
    return os.path.basename(path)


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def cfg_json(c):
    keys = ["arch", "rope_layout", "qk_norm", "tied", "dim", "n_layers", "n_heads", "n_kv_heads",
            "head_dim", "ffn_dim", "n_vocab", "rope_theta", "norm_eps", "context_length"]
    return {k: c[k] for k in keys}


def to_torch(params, requires_grad=False):
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad) for k, v in params.items()}


def model_fixture(c, outdir, log):
    params = make_params(c)
    gguf_path = os.path.join(outdir, c["name"] + ".gguf")
    write_gguf(gguf_path, c, params)
    read_back_check(gguf_path, c, params)
    rng = np.random.default_rng(c["seed"] + 1000)
    tokens = rng.integers(0, c["n_vocab"], size=c["n_tokens"])
    P = to_torch(params)
    with torch.no_grad():
        logits = forward(c, P, torch.tensor(tokens)[None])[0].numpy()   # (T, V)
        # prefix consistency: the reference itself is causal (a shorter prefix gives the same rows)
        short = forward(c, P, torch.tensor(tokens[:7])[None])[0].numpy()
        assert rel_err(short, logits[:7]) < 1e-12
        # float32 rounding of the stored logits is far below the test tolerance
        assert rel_err(logits.astype(np.float32), logits) < 1e-7
        sens = f32_sensitivity(c, params, tokens, logits)
        assert sens < 2e-6, f"{c['name']}: logits too sensitive to float32 rounding ({sens:.1e})"
        detect = {}
        for v in variants(c):
            detect[v] = rel_err(forward(c, P, torch.tensor(tokens)[None], variant=v)[0].numpy(), logits)
            assert detect[v] > 1e-3, f"{c['name']}: variant {v} only changes logits by {detect[v]:.2e}"
    logits_file = f32_file(os.path.join(outdir, c["name"] + ".logits.f32"), logits)
    log.append(f"{c['name']:28s} {c['arch']:5s} {c['rope_layout']:11s} {c['qk_norm']:11s} tied={int(c['tied'])} "
               f"H/Hkv={c['n_heads']}/{c['n_kv_heads']} hd={c['head_dim']:2d} dim={c['dim']} "
               f"|logit|max={np.abs(logits).max():.2f} f32-sensitivity {sens:.1e}  mistakes detected by: "
               + ", ".join(f"{k} {v:.1e}" for k, v in detect.items()))
    return dict(name=c["name"], gguf=os.path.basename(gguf_path), gguf_sha256=sha256(gguf_path),
                config=cfg_json(c), f32_sensitivity=sens, n_tokens=c["n_tokens"], tokens=[int(t) for t in tokens],
                logits=logits_file, logits_shape=[c["n_tokens"], c["n_vocab"]])


# ---------------------------------------------------------------------------------------------
# Training: loss = mean over the B*T positions of CE(logits, target) + z * logsumexp(logits)^2
# ---------------------------------------------------------------------------------------------
def loss_fn(logits, targets, z):
    lse = torch.logsumexp(logits, dim=-1)                                          # (B, T)
    ce = lse - logits.gather(-1, targets[..., None])[..., 0]
    return (ce + z * lse * lse).mean(), ce.mean(), (lse * lse).mean()


def train_batch(c):
    rng = np.random.default_rng(c["seed"] + 2000)
    seq = rng.integers(0, c["n_vocab"], size=(TRAIN_B, TRAIN_T + 1))
    return seq[:, :-1], seq[:, 1:]


def grad_rel_err(got, ref):
    """max over tensors of max|got - ref| / max(1e-12, max|ref|) (one tensor = one parameter)."""
    return max(float(np.abs(got[n] - ref[n]).max() / max(1e-12, np.abs(ref[n]).max())) for n in ref)


def gradients(c, params, inputs, targets, z, dtype):
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    logits = forward(c, P, torch.tensor(inputs))
    logits.retain_grad()
    loss, ce, lse2 = loss_fn(logits, torch.tensor(targets), z)
    loss.backward()
    return loss, ce, lse2, logits, {k: p.grad.numpy().astype(np.float64) for k, p in P.items()}


def finite_difference_check(c, params, inputs, targets, z, grads, n_coords=24, h=1e-5):
    """Central differences in float64 at random coordinates agree with autograd."""
    rng = np.random.default_rng(c["seed"] + 3000)
    names = sorted(params)
    worst = 0.0
    for _ in range(n_coords):
        n = names[rng.integers(len(names))]
        i = tuple(int(rng.integers(s)) for s in params[n].shape)
        f = []
        for sign in (1, -1):
            P = to_torch(params)
            P[n][i] += sign * h
            with torch.no_grad():
                f.append(float(loss_fn(forward(c, P, torch.tensor(inputs)), torch.tensor(targets), z)[0]))
        fd = (f[0] - f[1]) / (2 * h)
        worst = max(worst, abs(fd - grads[n][i]) / max(1e-3, np.abs(grads[n]).max()))
    assert worst < 1e-6, f"{c['name']}: finite differences disagree with autograd by {worst:.1e}"
    return worst


def train_case(c, z, outdir, tag):
    params = make_params(c)
    inputs, targets = train_batch(c)
    loss, ce, lse2, logits, grads = gradients(c, params, inputs, targets, z, torch.float64)
    fd_err = finite_difference_check(c, params, inputs, targets, z, grads)
    f32 = gradients(c, params, inputs, targets, z, torch.float32)
    names = [n for n, _ in param_shapes(c)]
    table, off = [], 0
    for n in names:
        table.append(dict(name=n, shape=list(grads[n].shape), offset=off, count=int(grads[n].size)))
        off += grads[n].size
    grad_file = f32_file(os.path.join(outdir, f"{tag}.grads.f32"), np.concatenate([grads[n].reshape(-1) for n in names]))
    logits_file = f32_file(os.path.join(outdir, f"{tag}.logits.f32"), logits.detach().numpy())
    # d loss / d logits only where z-loss makes it more than softmax - onehot (keeps fixtures small)
    dlogits_file = f32_file(os.path.join(outdir, f"{tag}.dlogits.f32"), logits.grad.numpy()) if z else None
    return dict(name=tag, model=f"../model/{c['name']}.gguf", config=cfg_json(c),
                batch=TRAIN_B, seq_len=TRAIN_T, inputs=inputs.tolist(), targets=targets.tolist(),
                z_loss=z, loss=float(loss), ce_loss=float(ce), mean_lse_sq=float(lse2),
                logits=logits_file, grads=grad_file, params=table, **({"dlogits": dlogits_file} if z else {}),
                grad_norm=float(math.sqrt(sum(float((grads[n] ** 2).sum()) for n in names))),
                finite_difference_rel_err=fd_err,
                float32_pytorch_loss_rel_err=abs(float(f32[0]) - float(loss)) / float(loss),
                float32_pytorch_grad_rel_err=grad_rel_err(f32[4], grads))


def adamw_run(c, decay_filter, dtype):
    """ADAMW['steps'] steps on the same batch; returns the loss before each step and final params.
    p <- p - lr * (wd * p + mhat / (sqrt(vhat) + eps)), mhat = m / (1 - b1^t), vhat = v / (1 - b2^t)."""
    a = ADAMW
    params = make_params(c)
    inputs, targets = train_batch(c)
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    m = {k: torch.zeros_like(v) for k, v in P.items()}
    s = {k: torch.zeros_like(v) for k, v in P.items()}
    losses = []
    for t in range(1, a["steps"] + 1):
        for p in P.values():
            p.grad = None
        loss = loss_fn(forward(c, P, torch.tensor(inputs)), torch.tensor(targets), 0.0)[0]
        loss.backward()
        losses.append(float(loss))
        with torch.no_grad():
            for k, p in P.items():
                g = p.grad
                m[k] = a["beta1"] * m[k] + (1 - a["beta1"]) * g
                s[k] = a["beta2"] * s[k] + (1 - a["beta2"]) * g * g
                mhat = m[k] / (1 - a["beta1"] ** t)
                vhat = s[k] / (1 - a["beta2"] ** t)
                wd = a["weight_decay"] if decay_filter(k, p) else 0.0
                p -= a["lr"] * (wd * p + mhat / (torch.sqrt(vhat) + a["eps"]))
    with torch.no_grad():
        final = float(loss_fn(forward(c, P, torch.tensor(inputs)), torch.tensor(targets), 0.0)[0])
    return losses, final, {k: p.detach().numpy() for k, p in P.items()}


def torch_adamw_losses(c, decay_filter):
    """The same run with torch.optim.AdamW (an independent implementation of the update)."""
    a = ADAMW
    inputs, targets = train_batch(c)
    P = to_torch(make_params(c), requires_grad=True)
    groups = [dict(params=[p for k, p in P.items() if decay_filter(k, p)], weight_decay=a["weight_decay"]),
              dict(params=[p for k, p in P.items() if not decay_filter(k, p)], weight_decay=0.0)]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=a["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"])
    losses = []
    for _ in range(a["steps"]):
        opt.zero_grad()
        loss = loss_fn(forward(c, P, torch.tensor(inputs)), torch.tensor(targets), 0.0)[0]
        loss.backward()
        losses.append(float(loss))
        opt.step()
    return losses


def adamw_fixture(c, outdir, log):
    torch.set_default_dtype(torch.float64)
    runs = {}
    filters = {"decay_matrices": lambda k, p: p.dim() == 2, "decay_all": lambda k, p: True}
    for fname, flt in filters.items():
        losses, final, fparams = adamw_run(c, flt, torch.float64)
        losses32, final32, fparams32 = adamw_run(c, flt, torch.float32)
        pdrift = grad_rel_err({k: v.astype(np.float64) for k, v in fparams32.items()}, fparams)
        drift = max(abs(x - y) / abs(x) for x, y in zip(losses + [final], losses32 + [final32]))
        ref = torch_adamw_losses(c, flt)
        assert max(abs(x - y) for x, y in zip(losses, ref)) < 1e-10, (fname, losses, ref)
        runs[fname] = dict(losses=losses, final_loss=final, float32_pytorch_max_rel_drift=drift,
                           float32_pytorch_final_params_rel_err=pdrift)
        if fname == "decay_matrices":   # final parameters of one run only, to keep fixtures small
            runs[fname]["final_params"] = f32_file(
                os.path.join(outdir, f"adamw_{fname}.params.f32"),
                np.concatenate([fparams[n].reshape(-1) for n, _ in param_shapes(c)]))
        log.append(f"adamw {fname}: losses {losses[0]:.6f} -> {final:.6f}; float32 PyTorch drift: losses {drift:.1e}, "
                   f"final params {pdrift:.1e}")
    return dict(config_name=c["name"], model=f"../model/{c['name']}.gguf", config=cfg_json(c),
                batch=TRAIN_B, seq_len=TRAIN_T, z_loss=0.0, same_batch_every_step=True,
                inputs_targets_from=f"{c['name']} (same batch as its training case)",
                hyper=ADAMW, runs=runs)


def dump(name):
    """Per-layer diagnostics: residual stream after each layer for position 0..N of the fixture."""
    c = next(c for c in CONFIGS if c["name"] == name)
    rng = np.random.default_rng(c["seed"] + 1000)
    tokens = rng.integers(0, c["n_vocab"], size=c["n_tokens"])
    trace = []
    with torch.no_grad():
        logits = forward(c, to_torch(make_params(c)), torch.tensor(tokens)[None], trace=trace)
    np.set_printoptions(precision=6, suppress=True, linewidth=150)
    print("tokens", tokens.tolist())
    for l, x in trace:
        print(f"layer {l} residual (pos 0..2, first 8):\n{x[0, :3, :8].numpy()}")
    print(f"logits (pos 0..2, first 8):\n{logits[0, :3, :8].numpy()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--dump", metavar="NAME", help="print per-layer diagnostics of one config")
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    if args.dump:
        return dump(args.dump)
    check_configs()
    mdir, tdir = os.path.join(args.out, "model"), os.path.join(args.out, "train")
    os.makedirs(mdir, exist_ok=True)
    os.makedirs(tdir, exist_ok=True)
    log = []
    models = [model_fixture(c, mdir, log) for c in CONFIGS]
    with open(os.path.join(mdir, "index.json"), "w") as fh:
        json.dump(dict(generator="scripts/reference/make_model_fixtures.py", torch=torch.__version__,
                       format="logits: little-endian float32, row-major (n_tokens, n_vocab); "
                              "row t = logits after feeding tokens[0..t] at positions 0..t",
                       tolerance="max_t max_v |afm - ref| / max(1e-6, max_v |ref|) <= 1e-5",
                       fixtures=models), fh, indent=1)
    if not args.skip_train:
        cases = []
        for c in (c for c in CONFIGS if c["train"]):
            cases.append(train_case(c, 0.0, tdir, c["name"]))
            if c["name"] in Z_LOSS_CONFIGS:
                cases.append(train_case(c, Z_LOSS, tdir, c["name"] + "_zloss"))
        for t in cases:
            log.append(f"train {t['name']:28s} loss {t['loss']:.6f} (ce {t['ce_loss']:.6f}) |grad| {t['grad_norm']:.4f}  "
                       f"fd-vs-autograd {t['finite_difference_rel_err']:.1e}  f32 torch: loss {t['float32_pytorch_loss_rel_err']:.1e} "
                       f"grads {t['float32_pytorch_grad_rel_err']:.1e}")
        adamw = adamw_fixture(next(c for c in CONFIGS if c["name"] == ADAMW_CONFIG), tdir, log)
        with open(os.path.join(tdir, "index.json"), "w") as fh:
            json.dump(dict(generator="scripts/reference/make_model_fixtures.py", torch=torch.__version__,
                           format="see README.md", cases=cases, adamw=adamw), fh, separators=(",", ":"))
    print("\n".join(log))
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (mdir, tdir) for f in os.listdir(d))
    print(f"fixtures: {total / 1e6:.2f} MB in {mdir} and {tdir}")


if __name__ == "__main__":
    sys.exit(main())
