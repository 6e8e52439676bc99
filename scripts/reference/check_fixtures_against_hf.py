#!/usr/bin/python3
"""Cross-checks the model fixtures (tests/fixtures/model/) against Hugging Face transformers'
LlamaForCausalLM and Qwen3ForCausalLM — an implementation written by other people — so the PyTorch
reference in make_model_fixtures.py is not the only witness of what the logits should be.

Each fixture GGUF is read with the `gguf` package, its tensors are loaded into the HF model, and
the HF logits are compared with the stored fixture logits:
  - qk_norm "off"          -> LlamaForCausalLM
  - qk_norm "before_rope"  -> Qwen3ForCausalLM (RMSNorm of q and k over head_dim, then RoPE)
  - qk_norm "after_rope"   -> no HF model has this order (AFM's); not checkable here.
HF applies RoPE in the half-split layout. An interleaved-layout file is converted by permuting
the rows of each q/k head (and the q/k norm gains) from order (i0, i1, ...) pairs (2i, 2i+1) to
(first halves, second halves) — the inverse of llama.cpp's HF->GGUF `permute`.

Needs transformers >= 4.51 (Qwen3). With Debian's torch 1.13 transformers 4.51 imports only
after stubbing a few torch-2 names it touches at import time (not used on the eager CPU path):
    /usr/bin/python3 -m pip install --break-system-packages transformers==4.51.3
    /usr/bin/python3 scripts/reference/check_fixtures_against_hf.py
"""
import json
import os
import sys
import types

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def stub_torch2_names():
    """transformers 4.51 imports a few torch >= 2 modules at import time; stub them for torch 1.x."""
    if hasattr(torch, "compiler"):
        return
    st = types.ModuleType("torch.distributed.tensor")
    for n in ["DTensor", "Placement", "Replicate", "Shard"]:
        setattr(st, n, type(n, (), {}))
    sys.modules["torch.distributed.tensor"] = st
    import torch.distributed as dist
    dist.tensor = st
    torch.compiler = types.SimpleNamespace(is_compiling=lambda: False,
                                           disable=lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f))
    for n in ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64"]:
        if not hasattr(torch, n):
            setattr(torch, n, torch.float32)


def read_gguf(path):
    import gguf
    r = gguf.GGUFReader(path)
    tensors = {t.name: np.asarray(t.data).reshape(list(reversed([int(x) for x in t.shape]))).astype(np.float64)
               for t in r.tensors}
    return tensors


def interleaved_to_half_rows(w, n_heads, hd):
    """(n_heads*hd, in) rows ordered (pair i, member s) -> ordered (member s, pair i) per head."""
    return w.reshape(n_heads, hd // 2, 2, -1).transpose(0, 2, 1, 3).reshape(n_heads * hd, -1)


def interleaved_to_half_gain(g):
    return g.reshape(-1, 2).T.reshape(-1)


def hf_model(c, W):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM
    common = dict(vocab_size=c["n_vocab"], hidden_size=c["dim"], intermediate_size=c["ffn_dim"],
                  num_hidden_layers=c["n_layers"], num_attention_heads=c["n_heads"],
                  num_key_value_heads=c["n_kv_heads"], head_dim=c["head_dim"],
                  max_position_embeddings=c["context_length"], rms_norm_eps=c["norm_eps"],
                  rope_theta=c["rope_theta"], tie_word_embeddings=c["tied"], attention_bias=False,
                  hidden_act="silu", attn_implementation="eager")
    if c["qk_norm"] == "off":
        model = LlamaForCausalLM(LlamaConfig(mlp_bias=False, **common))
    elif c["qk_norm"] == "before_rope":
        model = Qwen3ForCausalLM(Qwen3Config(use_sliding_window=False, sliding_window=None, **common))
    else:
        return None
    model = model.double().eval()
    model.config.use_cache = False
    hd, H, Hkv = c["head_dim"], c["n_heads"], c["n_kv_heads"]
    inter = c["rope_layout"] == "interleaved"
    fix_q = (lambda w: interleaved_to_half_rows(w, H, hd)) if inter else (lambda w: w)
    fix_k = (lambda w: interleaved_to_half_rows(w, Hkv, hd)) if inter else (lambda w: w)
    fix_g = interleaved_to_half_gain if inter else (lambda g: g)
    sd = {"model.embed_tokens.weight": W["token_embd.weight"], "model.norm.weight": W["output_norm.weight"],
          "lm_head.weight": W["token_embd.weight"] if c["tied"] else W["output.weight"]}
    for l in range(c["n_layers"]):
        p, q = f"blk.{l}.", f"model.layers.{l}."
        sd[q + "input_layernorm.weight"] = W[p + "attn_norm.weight"]
        sd[q + "self_attn.q_proj.weight"] = fix_q(W[p + "attn_q.weight"])
        sd[q + "self_attn.k_proj.weight"] = fix_k(W[p + "attn_k.weight"])
        sd[q + "self_attn.v_proj.weight"] = W[p + "attn_v.weight"]
        sd[q + "self_attn.o_proj.weight"] = W[p + "attn_output.weight"]
        if c["qk_norm"] != "off":
            sd[q + "self_attn.q_norm.weight"] = fix_g(W[p + "attn_q_norm.weight"])
            sd[q + "self_attn.k_norm.weight"] = fix_g(W[p + "attn_k_norm.weight"])
        sd[q + "post_attention_layernorm.weight"] = W[p + "ffn_norm.weight"]
        sd[q + "mlp.gate_proj.weight"] = W[p + "ffn_gate.weight"]
        sd[q + "mlp.up_proj.weight"] = W[p + "ffn_up.weight"]
        sd[q + "mlp.down_proj.weight"] = W[p + "ffn_down.weight"]
    own = model.state_dict()
    assert set(own) - {"model.rotary_emb.inv_freq"} <= set(sd) | {"lm_head.weight"}, set(own) - set(sd)
    for k in own:
        if k in sd:
            assert tuple(own[k].shape) == sd[k].shape, (k, own[k].shape, sd[k].shape)
            own[k].copy_(torch.tensor(sd[k], dtype=torch.float64))
    model.load_state_dict(own)
    if c["tied"]:
        assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    return model


def hf_grads(c, model, case):
    """Loss of the training fixture computed by the HF model; gradients mapped back to GGUF names
    (and, for interleaved layout, the fixture's q/k gradients permuted to HF order instead)."""
    logits = model(torch.tensor(case["inputs"])).logits                   # (B, T, V)
    lse = torch.logsumexp(logits, dim=-1)
    ce = lse - logits.gather(-1, torch.tensor(case["targets"])[..., None])[..., 0]
    loss = (ce + case["z_loss"] * lse * lse).mean()
    model.zero_grad()
    loss.backward()
    g = {k: p.grad.numpy() for k, p in model.named_parameters()}
    out = {"token_embd.weight": g["model.embed_tokens.weight"], "output_norm.weight": g["model.norm.weight"]}
    if not c["tied"]:
        out["output.weight"] = g["lm_head.weight"]
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for k, v in g.items():
        if k.startswith("model.layers."):
            l, rest = k[len("model.layers."):].split(".", 1)
            out[f"blk.{l}.{names[rest[:-len('.weight')]]}.weight"] = v
    return float(loss), out


def hf_logits(c, W, tokens):
    model = hf_model(c, W)
    if model is None:
        return None
    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].numpy()


def main():
    stub_torch2_names()
    import transformers
    d = os.path.join(ROOT, "tests", "fixtures", "model")
    index = json.load(open(os.path.join(d, "index.json")))
    worst, checked, skipped = 0.0, 0, []
    for fx in index["fixtures"]:
        c = fx["config"]
        W = read_gguf(os.path.join(d, fx["gguf"]))
        got = hf_logits(c, W, fx["tokens"])
        if got is None:
            skipped.append(fx["name"])
            continue
        ref = np.fromfile(os.path.join(d, fx["logits"]), dtype="<f4").reshape(fx["logits_shape"]).astype(np.float64)
        err = float((np.abs(got - ref).max(axis=1) / np.maximum(1e-6, np.abs(ref).max(axis=1))).max())
        print(f"{fx['name']:28s} {c['arch']:5s} {c['rope_layout']:11s} {c['qk_norm']:11s} HF vs fixture: {err:.1e}")
        assert err < 1e-5, fx["name"]
        worst, checked = max(worst, err), checked + 1
    print(f"transformers {transformers.__version__}: {checked} fixtures agree with HF to {worst:.1e} relative; "
          f"not expressible in HF (qk_norm after_rope): {', '.join(skipped)}")

    # training fixtures: loss and the gradient of every parameter
    d = os.path.join(ROOT, "tests", "fixtures", "train")
    index = json.load(open(os.path.join(d, "index.json")))
    worst_loss, worst_grad, checked = 0.0, 0.0, 0
    for case in index["cases"]:
        c = case["config"]
        model = hf_model(c, read_gguf(os.path.join(d, case["model"])))
        if model is None:
            continue
        loss, g = hf_grads(c, model, case)
        flat = np.fromfile(os.path.join(d, case["grads"]), dtype="<f4").astype(np.float64)
        inter = c["rope_layout"] == "interleaved"
        err = 0.0
        assert sorted(g) == sorted(p["name"] for p in case["params"]), case["name"]
        for p in case["params"]:
            ref = flat[p["offset"]:p["offset"] + p["count"]].reshape(p["shape"])
            if inter and p["name"].endswith(("attn_q.weight", "attn_k.weight")):
                n = c["n_heads"] if p["name"].endswith("attn_q.weight") else c["n_kv_heads"]
                ref = interleaved_to_half_rows(ref, n, c["head_dim"])
            if inter and p["name"].endswith(("attn_q_norm.weight", "attn_k_norm.weight")):
                ref = interleaved_to_half_gain(ref)
            err = max(err, float(np.abs(g[p["name"]] - ref).max() / max(1e-12, np.abs(ref).max())))
        lerr = abs(loss - case["loss"]) / case["loss"]
        print(f"train {case['name']:28s} HF vs fixture: loss {lerr:.1e}, gradients {err:.1e} (per tensor, relative to its max)")
        assert lerr < 1e-6 and err < 1e-4, case["name"]
        worst_loss, worst_grad, checked = max(worst_loss, lerr), max(worst_grad, err), checked + 1
    print(f"{checked} training fixtures agree with HF: loss to {worst_loss:.1e}, gradients to {worst_grad:.1e}")


if __name__ == "__main__":
    main()
