#!/usr/bin/env python3
"""Distillation loss reference (src/train/distill.h) from PyTorch autograd.

Writes tests/fixtures/distill/distill.json: for random student logits z (N, V), teacher logits
t (N, V) and labels y (one ignored, -100 -> -1), the mean loss over counted rows and dloss/dz for
  afm: target q = w onehot(argmax t) + (1-w) onehot(y), loss = cross_entropy(z, q)
  kl:  loss = alpha CE(z, y) + (1-alpha) T^2 KL(softmax(t/T) || softmax(z/T))
computed with torch.nn.functional (cross_entropy with probability targets, kl_div with
log_target) in float64, plus KL(softmax(t) || softmax(z)) at T = 1.
Run with Debian's torch: /usr/bin/python3 scripts/reference/make_distill_fixtures.py
"""
import json
import os
import torch
import torch.nn.functional as F

torch.manual_seed(5)
N, V = 7, 13
z = (torch.randn(N, V, dtype=torch.float64) * 2.0).float().double()
t = (torch.randn(N, V, dtype=torch.float64) * 3.0).float().double()
y = torch.randint(0, V, (N,))
y[3] = -1  # ignored position
keep = y >= 0


def kl1(z, t):
    return F.kl_div(F.log_softmax(z[keep], -1), F.log_softmax(t[keep], -1), reduction="batchmean", log_target=True)


def afm_loss(z, w):
    top = t.argmax(-1)
    q = w * F.one_hot(top, V).double() + (1 - w) * F.one_hot(y.clamp(min=0), V).double()
    return F.cross_entropy(z[keep], q[keep])


def kl_loss(z, T, alpha):
    hard = F.cross_entropy(z, y, ignore_index=-1)
    soft = F.kl_div(F.log_softmax(z[keep] / T, -1), F.log_softmax(t[keep] / T, -1), reduction="batchmean", log_target=True)
    return alpha * hard + (1 - alpha) * T * T * soft


cases = []
for name, fn, params in [("afm_w0.9", lambda zz: afm_loss(zz, 0.9), {"mode": "afm", "top1_weight": 0.9}),
                         ("afm_w0.6", lambda zz: afm_loss(zz, 0.6), {"mode": "afm", "top1_weight": 0.6}),
                         ("kl_T1_a0", lambda zz: kl_loss(zz, 1.0, 0.0), {"mode": "kl", "temperature": 1.0, "alpha": 0.0}),
                         ("kl_T2_a0.3", lambda zz: kl_loss(zz, 2.0, 0.3), {"mode": "kl", "temperature": 2.0, "alpha": 0.3}),
                         ("kl_T0.5_a1", lambda zz: kl_loss(zz, 0.5, 1.0), {"mode": "kl", "temperature": 0.5, "alpha": 1.0})]:
    zz = z.clone().requires_grad_(True)
    loss = fn(zz)
    loss.backward()
    cases.append(dict(name=name, **params, loss=loss.item(), dlogits=zz.grad.flatten().tolist()))

out = dict(N=N, V=V, logits=z.flatten().tolist(), teacher=t.flatten().tolist(), labels=y.tolist(),
           kl1=kl1(z, t).item(), cases=cases, torch=torch.__version__)
path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "distill", "distill.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
