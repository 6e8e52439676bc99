#!/usr/bin/python3
"""PyTorch reference for bf16 compute in the C training core ("compute": "bf16",
model/train_gemm.h afm_gemm_ws_set_bf16): every matrix product, forward and backward, takes its
two inputs rounded to bfloat16 (round to nearest even, torch's own f32 -> bf16 cast) and
accumulates in f32; everything else (norms, softmax, RoPE, loss, AdamW, master weights) is f32.

Written as a torch.autograd.Function around each product of the reference model of
train_core_reference.py (forward: bf16(a) @ bf16(b); backward: da = bf16(dy) @ bf16(b)^T,
db = bf16(a)^T @ bf16(dy)), for the first training-core case (AFM: interleaved RoPE, QK-norm
after RoPE, tied output, z-loss), same parameters, batch and optimizer schedule as its fixture.
Writes tests/fixtures/train_core/bf16_CASE.json: the bf16 loss and 10 AdamW losses, next to the
f32 ones of the same run for comparison.
Run with Debian's torch: /usr/bin/python3 scripts/reference/train_bf16_reference.py
"""
import json, os, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_core_reference as ref


def r16(x):
    return x.to(torch.bfloat16).to(torch.float32)


class BF16MM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return r16(a) @ r16(b)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved_tensors
        dy = r16(dy)
        return dy @ r16(b).transpose(-1, -2), r16(a).transpose(-1, -2) @ dy


def main():
    ci = 0
    case = ref.CASES[ci]
    c = dict(ref.SHAPE, **case)
    out = {"case": c["name"], "torch": torch.__version__}
    for mode in ("f32", "bf16"):
        ref.MM = (lambda a, b: a @ b) if mode == "f32" else BF16MM.apply
        gen = torch.Generator().manual_seed(1234 + ci)  # the fixture's parameters and batch
        P = ref.init_params(c, gen)
        tokens = torch.randint(0, c["n_vocab"], (ref.B, ref.T), generator=gen)
        targets = torch.randint(0, c["n_vocab"], (ref.B, ref.T), generator=gen)
        targets[1, 2] = -1
        _, loss = ref.forward(c, P, tokens, targets, c["z"])
        out["loss_" + mode] = loss.item()
        out["adamw_losses_" + mode] = ref.run_adamw(c, P, tokens, targets, c["z"])
    path = os.path.join(ref.OUT, "bf16_" + c["name"] + ".json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(path, "loss f32 %.6f bf16 %.6f" % (out["loss_f32"], out["loss_bf16"]),
          "last adamw f32 %.6f bf16 %.6f" % (out["adamw_losses_f32"][-1], out["adamw_losses_bf16"][-1]))


if __name__ == "__main__":
    main()
