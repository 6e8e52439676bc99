#!/usr/bin/env python3
"""Exact (float64) reference for SmolLM2-135M-Instruct's GGUF, and the 8-bit-activation noise floor.

Why: issue 2 compares afm with llama.cpp by teacher forcing (make_llamacpp_fixtures.py). Both
runtimes quantize every activation to 8 bits before each quantized matrix product, so each adds
its own rounding noise. This script measures how large that noise is, independently of afm:

 1. It dequantizes every tensor of the GGUF with the `gguf` package and runs the model's forward
    pass in float64 numpy (no activation quantization, no float16 anywhere): the exact function
    that the Q4_1 weights define. Llama layout: RMSNorm (eps from the file), interleaved-pair RoPE
    (llama.cpp's "normal" mode for arch llama), grouped-query causal attention, SwiGLU, tied output.
 2. It writes that exact distribution for the same token ids as the llama.cpp fixture, in the same
    AFMLCTF1 format (tests/fixtures/llamacpp/smollm2_exact.bin); tests/golden/test_smollm2_llamacpp.c
    checks afm's arithmetic against it with activation quantization switched off (afm on the
    F32-converted weights), where any real bug shows up as a large KL.
 3. With --llama it also runs llama.cpp (llama-cpp-python) in four configurations (f16/f32 KV
    cache x flash attention off/on), batch and one token at a time, and records in
    smollm2_exact.json the mean KL between every pair and against the exact reference: the
    spread of llama.cpp against itself is the floor any other 8-bit-activation runtime can reach.

usage: python3 scripts/reference/make_exact_reference.py [--model M] [--llama]
Needs: numpy, gguf (and llama-cpp-python for --llama).
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from teacher_fixture import TeacherWriter, log_softmax  # noqa: E402  (log_softmax: smollm2_exact_logprobs.py imports it from here)

TOP_K = 1024


def load_weights(path):
    r = gguf.GGUFReader(path)
    f = {k: v.parts[v.data[0]].tolist() if len(v.data) == 1 else None for k, v in r.fields.items()}
    def scalar(key):
        v = r.fields[key]
        return v.parts[v.data[0]][0]
    arch = bytes(r.fields["general.architecture"].parts[r.fields["general.architecture"].data[0]]).decode()
    if arch != "llama":
        sys.exit(f"error: this reference implements arch 'llama' (got {arch!r})")
    hp = dict(n_layer=int(scalar("llama.block_count")), dim=int(scalar("llama.embedding_length")),
              n_head=int(scalar("llama.attention.head_count")), n_kv=int(scalar("llama.attention.head_count_kv")),
              eps=float(scalar("llama.attention.layer_norm_rms_epsilon")), theta=float(scalar("llama.rope.freq_base")))
    W = {t.name: dequantize(t.data, t.tensor_type).astype(np.float64).reshape([int(x) for x in t.shape[::-1]])
         for t in r.tensors}
    del f
    return hp, W


def forward(hp, W, ids):
    """float64 logits [T, n_vocab] for the token ids."""
    L, D, H, KV = hp["n_layer"], hp["dim"], hp["n_head"], hp["n_kv"]
    hd, eps, theta = D // H, hp["eps"], hp["theta"]
    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    ang = pos[:, None] * theta ** (-2.0 * np.arange(hd // 2) / hd)[None]      # [T, hd/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x):  # [T, heads, hd], rotate pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        y = np.empty_like(x)
        y[..., 0::2] = x0 * cos - x1 * sin
        y[..., 1::2] = x0 * sin + x1 * cos
        return y

    mask = np.triu(np.full((T, T), -np.inf), 1)
    emb = W["token_embd.weight"]
    out_w = W.get("output.weight", emb)
    x = emb[ids]
    for l in range(L):
        p = f"blk.{l}."
        h = rms(x, W[p + "attn_norm.weight"])
        q = rope((h @ W[p + "attn_q.weight"].T).reshape(T, H, hd))
        k = rope((h @ W[p + "attn_k.weight"].T).reshape(T, KV, hd))
        v = (h @ W[p + "attn_v.weight"].T).reshape(T, KV, hd)
        o = np.empty((T, H, hd))
        for hh in range(H):
            g = hh // (H // KV)
            s = q[:, hh] @ k[:, g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            o[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, g]
        x = x + o.reshape(T, D) @ W[p + "attn_output.weight"].T
        h = rms(x, W[p + "ffn_norm.weight"])
        gate, up = h @ W[p + "ffn_gate.weight"].T, h @ W[p + "ffn_up.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ W[p + "ffn_down.weight"].T
    return rms(x, W["output_norm.weight"]) @ out_w.T


def mean_kl(lp, lq):
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


def llama_runs(model, seqs):
    import llama_cpp
    runs = {}
    for kv in ("f16", "f32"):
        for fa in (False, True):
            llm = llama_cpp.Llama(model_path=model, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=1,
                                  n_threads_batch=1, logits_all=True, verbose=False, flash_attn=fa,
                                  type_k={"f16": 1, "f32": 0}[kv], type_v={"f16": 1, "f32": 0}[kv])
            for mode in ("batch", "incremental"):
                rows = []
                for ids in seqs:
                    llm.reset()
                    if mode == "batch":
                        llm.eval(ids)
                    else:
                        for t in ids:
                            llm.eval([t])
                    rows.append(np.array(llm.scores[: len(ids)], dtype=np.float32))
                runs[f"llama.cpp kv={kv} flash_attn={int(fa)} {mode}"] = rows
            del llm
    return runs, llama_cpp.__version__


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(root, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--fixtures", default=os.path.join(root, "tests/fixtures/llamacpp"))
    ap.add_argument("--llama", action="store_true", help="also measure llama.cpp's configurations (noise floor)")
    a = ap.parse_args()

    meta = json.load(open(os.path.join(a.fixtures, "smollm2_teacher.json")))
    if meta["model_size"] != os.path.getsize(a.model):
        sys.exit("error: the teacher fixture was made from another model file")
    seqs = [p["ids"] for p in meta["prompts"]]
    n_prompt = [p["n_prompt"] for p in meta["prompts"]]
    hp, W = load_weights(a.model)
    n_vocab = W["token_embd.weight"].shape[0]
    exact = []
    for j, ids in enumerate(seqs):
        exact.append(forward(hp, W, ids))
        print(f"exact forward {j + 1}/{len(seqs)} ({len(ids)} tokens)", file=sys.stderr)

    out = TeacherWriter(b"AFMLCTF1", 2, "<u2", n_vocab, TOP_K, len(seqs), a.model)
    for ids, npr, z in zip(seqs, n_prompt, exact):
        out.add(npr, ids, z)
    out.write(os.path.join(a.fixtures, "smollm2_exact.bin"))

    summary = dict(generator="scripts/reference/make_exact_reference.py", model=os.path.basename(a.model),
                   model_size=os.path.getsize(a.model), top_k=TOP_K, gguf_py=getattr(gguf, "__version__", "?"),
                   note="float64 forward of the dequantized weights; same ids as smollm2_teacher.json",
                   prompts=[dict(name=p["name"], n_prompt=p["n_prompt"], n_total=len(p["ids"])) for p in meta["prompts"]])
    if a.llama:
        runs, ver = llama_runs(a.model, seqs)
        gen = lambda rows: np.concatenate([r[n - 1: len(i) - 1] for r, i, n in zip(rows, seqs, n_prompt)])
        lps = {k: log_softmax(gen(v)) for k, v in runs.items()}
        ex = log_softmax(gen(exact))
        summary["llama_cpp_python"] = ver
        summary["noise_floor"] = dict(
            note="mean KL over the generated positions (the teacher-forcing positions of issue 2), full vocabulary",
            kl_exact_to_llama={k: mean_kl(ex, v) for k, v in lps.items()},
            kl_llama_to_llama={f"{a_} || {b_}": mean_kl(lps[a_], lps[b_]) for a_ in lps for b_ in lps if a_ < b_})
        vals = list(summary["noise_floor"]["kl_llama_to_llama"].values())
        print(f"llama.cpp vs itself across configurations: mean KL {min(vals):.2e} .. {max(vals):.2e}; "
              f"exact vs llama.cpp: {min(summary['noise_floor']['kl_exact_to_llama'].values()):.2e} .. "
              f"{max(summary['noise_floor']['kl_exact_to_llama'].values()):.2e}", file=sys.stderr)
    with open(os.path.join(a.fixtures, "smollm2_exact.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"wrote {len(out.blob)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
