#!/usr/bin/python3
"""PyTorch (CPU, f32) training throughput for the same AFM configs as bench_train.c:
forward + backward + global-norm clip + AdamW on random tokens, same B, T and thread count.
Usage: PYTHON bench/train_torch.py 10m|50m B T STEPS THREADS [MODE]
MODE (default ref):
  ref          the reference model of scripts/reference/train_core_reference.py (QK-norm after
               RoPE, interleaved RoPE, tied output, GQA), eager; torch.optim.AdamW defaults
  fast         the same maths written the fastest way PyTorch offers: F.rms_norm, RoPE tables
               made once, F.scaled_dot_product_attention(is_causal, enable_gqa), F.cross_entropy,
               AdamW(fused=True), clip_grad_norm_(foreach=True); eager
  compile      fast with the forward + loss under torch.compile (inductor, C++ CPU codegen)
  compile-ref  ref with the forward under torch.compile
Needs torch >= 2.5 for fast / compile (Debian's 1.13 runs ref only); PYTHON is any interpreter
with torch (bench/train_vs_torch.sh picks it)."""
import math, os, resource, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "reference"))
import torch
import torch.nn.functional as F
import train_core_reference as ref

CONFIGS = {
    "10m": dict(n_vocab=8192, dim=384, n_layers=5, n_heads=6, n_kv_heads=2, head_dim=64, ffn_dim=1024),
    "50m": dict(n_vocab=16384, dim=640, n_layers=10, n_heads=10, n_kv_heads=2, head_dim=64, ffn_dim=1728),
}


def rope_tables(c, T):
    hd = c["head_dim"]
    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return ang.cos().float()[None, :, None, :], ang.sin().float()[None, :, None, :]


def fast_forward(c, P, tokens, targets, cos, sin):
    """The reference model's maths (interleaved RoPE, QK-norm after RoPE, tied output) with
    PyTorch's fused ops."""
    D, H, KH, hd, eps = c["dim"], c["n_heads"], c["n_kv_heads"], c["head_dim"], c["norm_eps"]
    Bb, Tt = tokens.shape

    def rope(x):
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)

    x = F.embedding(tokens, P["token_embd.weight"])
    for l in range(c["n_layers"]):
        p = f"blk.{l}."
        xn = F.rms_norm(x, (D,), P[p + "attn_norm.weight"], eps)
        q = F.linear(xn, P[p + "attn_q.weight"]).view(Bb, Tt, H, hd)
        k = F.linear(xn, P[p + "attn_k.weight"]).view(Bb, Tt, KH, hd)
        v = F.linear(xn, P[p + "attn_v.weight"]).view(Bb, Tt, KH, hd)
        q = F.rms_norm(rope(q), (hd,), P[p + "attn_q_norm.weight"], eps)
        k = F.rms_norm(rope(k), (hd,), P[p + "attn_k_norm.weight"], eps)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True, enable_gqa=True)
        h = x + F.linear(a.transpose(1, 2).reshape(Bb, Tt, H * hd), P[p + "attn_output.weight"])
        hn = F.rms_norm(h, (D,), P[p + "ffn_norm.weight"], eps)
        x = h + F.linear(F.silu(F.linear(hn, P[p + "ffn_gate.weight"])) * F.linear(hn, P[p + "ffn_up.weight"]),
                         P[p + "ffn_down.weight"])
    xf = F.rms_norm(x, (D,), P["output_norm.weight"], eps)
    logits = F.linear(xf, P["token_embd.weight"])
    return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    name, B, T, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    mode = sys.argv[6] if len(sys.argv) > 6 else "ref"
    torch.set_num_threads(threads)
    c = dict(CONFIGS[name], rope_theta=500000.0, norm_eps=1e-5, rope="interleaved", qk="after", tied=True)
    gen = torch.Generator().manual_seed(1)
    P = ref.init_params(c, gen)
    tok = torch.randint(0, c["n_vocab"], (B, T + 1), generator=gen)
    x, y = tok[:, :-1].contiguous(), tok[:, 1:].contiguous()
    params = list(P.values())
    if mode == "ref" or mode == "compile-ref":
        opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
        fwd = lambda: ref.forward(c, P, x, y, 0.0)[1]
        clip = lambda: torch.nn.utils.clip_grad_norm_(params, 1.0)
    elif mode in ("fast", "compile"):
        opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
        cos, sin = rope_tables(c, T)
        fwd = lambda: fast_forward(c, P, x, y, cos, sin)
        clip = lambda: torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
    else:
        sys.exit("unknown mode %r (ref, fast, compile, compile-ref)" % mode)
    if mode.startswith("compile"):
        fwd = torch.compile(fwd)
    # one thread: process CPU time (robust on a shared machine, like bench_train); else wall clock
    clock = time.process_time if threads == 1 else time.perf_counter
    total, loss = 0.0, None
    warm = 2 if mode.startswith("compile") else 1  # compile: first calls trace and build
    t_warm = time.perf_counter()
    for s in range(steps + warm):
        if s == warm:
            t_warm = time.perf_counter() - t_warm
        t0 = clock()
        opt.zero_grad(set_to_none=True)
        loss = fwd()
        loss.backward()
        clip()
        opt.step()
        if s >= warm:
            total += clock() - t0
    n = sum(p.numel() for p in params)
    print("torch %s %s (%s): %.2fM params, B=%d T=%d, threads %d: loss %.4f (warm-up %.1f s)" % (
        torch.__version__, mode, name, n / 1e6, B, T, threads, loss.item(), t_warm))
    print("  peak RSS %.1f MiB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    print("RESULT tokens_per_s=%.2f" % (B * T * steps / total))


if __name__ == "__main__":
    main()
