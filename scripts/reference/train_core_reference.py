#!/usr/bin/python3
"""PyTorch reference for the C training core (src/model/train_*.c, src/train/optim.c).

Builds the AFM transformer of afm.md §1.3 independently in PyTorch (no afm code involved) for
tiny configs covering every switch (RoPE interleaved/half, QK-norm off/before/after RoPE, tied or
separate output, GQA with head_dim != dim/n_heads, z-loss, an ignored target), and writes for
each case into tests/fixtures/train_core/:
  CASE.json  config, batch shape, loss, optimizer settings, the losses of 10 AdamW steps
             (torch.optim.AdamW + clip_grad_norm_ + warm-up/cosine LambdaLR) and of 10 AFM
             optimizer steps (afm.md §3.3 written out below in torch)
  CASE.bin   named arrays: tokens, targets, every parameter (initial values), logits, and the
             gradient of every parameter ("grad." + name)
Format of CASE.bin (little-endian): magic "AFMFX001", u32 count, then per array:
  u32 name_len, name bytes, u32 dtype (0 = f32, 1 = i32), u32 n_dims, i64 dims[n_dims], data.
Run with Debian's torch: /usr/bin/python3 scripts/reference/train_core_reference.py
"""
import json, math, os, struct, sys
import torch

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "train_core")

CASES = [
    # name, rope layout, qk norm, tied, z-loss
    dict(name="afm_interleaved_qkafter_tied_z", rope="interleaved", qk="after", tied=True, z=1e-3),
    dict(name="llama_interleaved_qkoff_tied", rope="interleaved", qk="off", tied=True, z=0.0),
    dict(name="qwen3_half_qkbefore_untied", rope="half", qk="before", tied=False, z=0.0),
    dict(name="half_qkafter_untied_z", rope="half", qk="after", tied=False, z=1e-2),
    dict(name="interleaved_qkbefore_untied_z", rope="interleaved", qk="before", tied=False, z=1e-4),
]
SHAPE = dict(n_vocab=29, dim=24, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8, ffn_dim=40,
             rope_theta=10000.0, norm_eps=1e-5)
B, T = 2, 7


def MM(a, b):
    """Every matrix product of the model goes through here (train_bf16_reference.py swaps it)."""
    return a @ b


def param_specs(c):
    D, QD, KD, F, V = c["dim"], c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"], c["ffn_dim"], c["n_vocab"]
    specs = [("token_embd.weight", (V, D), "emb")]
    for l in range(c["n_layers"]):
        p = f"blk.{l}."
        specs += [(p + "attn_norm.weight", (D,), "norm"), (p + "attn_q.weight", (QD, D), "lin"),
                  (p + "attn_k.weight", (KD, D), "lin"), (p + "attn_v.weight", (KD, D), "lin")]
        if c["qk"] != "off":
            specs += [(p + "attn_q_norm.weight", (c["head_dim"],), "norm"), (p + "attn_k_norm.weight", (c["head_dim"],), "norm")]
        specs += [(p + "attn_output.weight", (D, QD), "lin"), (p + "ffn_norm.weight", (D,), "norm"),
                  (p + "ffn_gate.weight", (F, D), "lin"), (p + "ffn_up.weight", (F, D), "lin"),
                  (p + "ffn_down.weight", (D, F), "lin")]
    specs.append(("output_norm.weight", (D,), "norm"))
    if not c["tied"]:
        specs.append(("output.weight", (V, D), "emb"))
    return specs


def init_params(c, gen):
    params = {}
    for name, shape, kind in param_specs(c):
        if kind == "norm":  # random gains around 1 so gain gradients are exercised
            w = 1.0 + 0.3 * torch.randn(shape, generator=gen)
        elif kind == "lin":
            w = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        else:
            w = torch.randn(shape, generator=gen) / math.sqrt(c["dim"])
        params[name] = w.float().requires_grad_(True)
    return params


def rmsnorm(x, g, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rope(x, layout, theta):
    # x: (B, T, nh, hd); rotate pairs by angle t * theta^(-2i/hd)
    Bb, Tt, nh, hd = x.shape
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(Tt, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().float()[None, :, None, :], ang.sin().float()[None, :, None, :]
    if layout == "interleaved":
        x0, x1 = x[..., 0::2], x[..., 1::2]
        y0, y1 = x0 * cos - x1 * sin, x0 * sin + x1 * cos
        return torch.stack([y0, y1], dim=-1).reshape(x.shape)
    h = hd // 2
    x0, x1 = x[..., :h], x[..., h:]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


def forward(c, P, tokens, targets, z):
    D, H, KH, hd = c["dim"], c["n_heads"], c["n_kv_heads"], c["head_dim"]
    eps = c["norm_eps"]
    x = P["token_embd.weight"][tokens]
    Bb, Tt = tokens.shape
    mask = torch.ones(Tt, Tt, dtype=torch.bool).tril()
    for l in range(c["n_layers"]):
        p = f"blk.{l}."
        xn = rmsnorm(x, P[p + "attn_norm.weight"], eps)
        q = MM(xn, P[p + "attn_q.weight"].T).view(Bb, Tt, H, hd)
        k = MM(xn, P[p + "attn_k.weight"].T).view(Bb, Tt, KH, hd)
        v = MM(xn, P[p + "attn_v.weight"].T).view(Bb, Tt, KH, hd)
        if c["qk"] == "before":
            q, k = rmsnorm(q, P[p + "attn_q_norm.weight"], eps), rmsnorm(k, P[p + "attn_k_norm.weight"], eps)
        q, k = rope(q, c["rope"], c["rope_theta"]), rope(k, c["rope"], c["rope_theta"])
        if c["qk"] == "after":
            q, k = rmsnorm(q, P[p + "attn_q_norm.weight"], eps), rmsnorm(k, P[p + "attn_k_norm.weight"], eps)
        rep = H // KH
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)      # (B, H, T, hd)
        s = MM(q, k.transpose(-1, -2)) * hd ** -0.5
        s = s.masked_fill(~mask, float("-inf"))
        a = MM(torch.softmax(s, dim=-1), v)
        a = a.transpose(1, 2).reshape(Bb, Tt, H * hd)
        h = x + MM(a, P[p + "attn_output.weight"].T)
        hn = rmsnorm(h, P[p + "ffn_norm.weight"], eps)
        f = torch.nn.functional.silu(MM(hn, P[p + "ffn_gate.weight"].T)) * MM(hn, P[p + "ffn_up.weight"].T)
        x = h + MM(f, P[p + "ffn_down.weight"].T)
    xf = rmsnorm(x, P["output_norm.weight"], eps)
    W = P["token_embd.weight"] if c["tied"] else P["output.weight"]
    logits = MM(xf, W.T)
    lse = torch.logsumexp(logits, dim=-1)
    valid = targets >= 0
    tl = logits.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    per = lse - tl + z * lse * lse
    loss = per[valid].mean()
    return logits, loss


def cosine_mult(step, warmup, total, floor):
    if step < warmup:
        return step / warmup
    if step >= total:
        return floor
    p = (step - warmup) / (total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


OPT = dict(steps=10, warmup=3, total=10, floor=0.1,
           adamw=dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip_norm=1.0),
           afm=dict(lr=1e-2, beta1=0.95, beta2=0.95, weight_decay=3.16e-4, clip_norm=1.0, skip_norm=100.0,
                    update_rms_clip=1.0, mup_scale=0.5))


def run_adamw(c, P0, tokens, targets, z):
    P = {k: v.detach().clone().requires_grad_(True) for k, v in P0.items()}
    o = OPT["adamw"]
    opt = torch.optim.AdamW(list(P.values()), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                            weight_decay=o["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_mult(s, OPT["warmup"], OPT["total"], OPT["floor"]))
    losses = []
    for _ in range(OPT["steps"]):
        opt.zero_grad()
        _, loss = forward(c, P, tokens, targets, z)
        loss.backward()
        losses.append(loss.item())
        torch.nn.utils.clip_grad_norm_(list(P.values()), o["clip_norm"])
        opt.step()
        sched.step()
    return losses


def run_afm(c, P0, tokens, targets, z, kinds):
    """afm.md §3.3 'exact rule', written from the pseudocode."""
    P = {k: v.detach().clone().requires_grad_(True) for k, v in P0.items()}
    o = OPT["afm"]
    m = {k: torch.zeros_like(v) for k, v in P.items()}
    v2 = {k: torch.zeros_like(v) for k, v in P.items()}
    t = 0
    losses = []
    for step in range(OPT["steps"]):
        for p in P.values():
            p.grad = None
        _, loss = forward(c, P, tokens, targets, z)
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            gn = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in P.values())).item()
            if not math.isfinite(gn) or gn >= o["skip_norm"]:
                continue
            scale = min(1.0, o["clip_norm"] / (gn + 1e-8))
            t += 1
            s = cosine_mult(step, OPT["warmup"], OPT["total"], OPT["floor"])
            for name, p in P.items():
                g = p.grad * scale
                v2[name] = o["beta2"] * v2[name] + (1 - o["beta2"]) * (g * g + 1e-30)
                vhat = v2[name] / (1 - o["beta2"] ** t)
                u = g / torch.sqrt(vhat)
                rms = torch.sqrt((u.double() ** 2).mean()).item()
                u = u / max(1.0, rms / o["update_rms_clip"])
                m[name] = o["beta1"] * m[name] + (1 - o["beta1"]) * u
                mp = m[name] * (o["mup_scale"] if kinds[name] == "lin" else 1.0)
                p.sub_(s * (o["lr"] * mp + o["weight_decay"] * p))
    return losses


def write_bin(path, arrays):
    with open(path, "wb") as f:
        f.write(b"AFMFX001")
        f.write(struct.pack("<I", len(arrays)))
        for name, t in arrays:
            t = t.detach().contiguous()
            dt = 0 if t.dtype == torch.float32 else 1
            if dt == 1:
                t = t.to(torch.int32)
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", dt, t.dim()))
            f.write(struct.pack("<%dq" % t.dim(), *t.shape))
            f.write(t.numpy().tobytes())


def main():
    os.makedirs(OUT, exist_ok=True)
    for ci, case in enumerate(CASES):
        c = dict(SHAPE, **case)
        gen = torch.Generator().manual_seed(1234 + ci)
        P = init_params(c, gen)
        tokens = torch.randint(0, c["n_vocab"], (B, T), generator=gen)
        targets = torch.randint(0, c["n_vocab"], (B, T), generator=gen)
        targets[1, 2] = -1  # ignored position
        logits, loss = forward(c, P, tokens, targets, c["z"])
        loss.backward()
        kinds = {n: k for n, _, k in param_specs(c)}
        arrays = [("tokens", tokens), ("targets", targets)]
        arrays += [(n, P[n]) for n, _, _ in param_specs(c)]
        arrays += [("logits", logits.reshape(B * T, c["n_vocab"]))]
        arrays += [("grad." + n, P[n].grad) for n, _, _ in param_specs(c)]
        write_bin(os.path.join(OUT, c["name"] + ".bin"), arrays)
        meta = dict(config={k: c[k] for k in list(SHAPE) + ["rope", "qk", "tied"]}, z_loss=c["z"], B=B, T=T,
                    loss=loss.item(), optim=OPT, adamw_losses=run_adamw(c, P, tokens, targets, c["z"]),
                    afm_losses=run_afm(c, P, tokens, targets, c["z"], kinds), torch=torch.__version__)
        with open(os.path.join(OUT, c["name"] + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(c["name"], "loss %.6f" % loss.item(), "adamw", "%.5f" % meta["adamw_losses"][-1], "afm", "%.5f" % meta["afm_losses"][-1])


if __name__ == "__main__":
    main()
