#!/usr/bin/python3
"""PyTorch (CPU, eager, f32) training throughput for the same AFM configs as bench_train.c:
forward + backward + AdamW on random tokens, same B, T and thread count.
Usage: /usr/bin/python3 bench/train_torch.py 10m|50m B T STEPS THREADS
The model is the reference model of scripts/reference/train_core_reference.py (QK-norm after
RoPE, interleaved RoPE, tied output, GQA), so both sides do the same maths."""
import os, resource, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "reference"))
import torch
import train_core_reference as ref

CONFIGS = {
    "10m": dict(n_vocab=8192, dim=384, n_layers=5, n_heads=6, n_kv_heads=2, head_dim=64, ffn_dim=1024),
    "50m": dict(n_vocab=16384, dim=640, n_layers=10, n_heads=10, n_kv_heads=2, head_dim=64, ffn_dim=1728),
}


def main():
    name, B, T, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    c = dict(CONFIGS[name], rope_theta=500000.0, norm_eps=1e-5, rope="interleaved", qk="after", tied=True)
    gen = torch.Generator().manual_seed(1)
    P = ref.init_params(c, gen)
    tok = torch.randint(0, c["n_vocab"], (B, T + 1), generator=gen)
    x, y = tok[:, :-1].contiguous(), tok[:, 1:].contiguous()
    opt = torch.optim.AdamW(list(P.values()), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    # one thread: process CPU time (robust on a shared machine, like bench_train); else wall clock
    clock = time.process_time if threads == 1 else time.perf_counter
    total, loss = 0.0, None
    for s in range(steps + 1):
        t0 = clock()
        opt.zero_grad(set_to_none=True)
        _, loss = ref.forward(c, P, x, y, 0.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(P.values()), 1.0)
        opt.step()
        if s > 0:
            total += clock() - t0
    n = sum(p.numel() for p in P.values())
    print("torch %s: %.2fM params, B=%d T=%d, threads %d: loss %.4f" % (name, n / 1e6, B, T, threads, loss.item()))
    print("  peak RSS %.1f MiB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    print("RESULT tokens_per_s=%.2f" % (B * T * steps / total))


if __name__ == "__main__":
    main()
