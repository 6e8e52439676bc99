#!/usr/bin/python3
"""Writes tiny Hugging Face checkpoints (config.json + model.safetensors, as save_pretrained
makes them) and the logits HF transformers computes for them, for the safetensors import test
(tests/golden/test_convert_hf.c): afm convert FOLDER -> GGUF must give the same logits.

The weights come from the model fixtures (tests/fixtures/model/), placed into
LlamaForCausalLM / Qwen3ForCausalLM by check_fixtures_against_hf.py's hf_model (q/k rows in HF's
rotate-half order); the logits are HF's own. Run with Debian's torch and transformers 4.51:
    /usr/bin/python3 scripts/reference/make_hf_checkpoints.py
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import check_fixtures_against_hf as hf  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = ["llama_gqa4_hd12_untied", "llama_gqa2_tied_hd16", "qwen3_gqa4_hd16_tied"]


def main():
    hf.stub_torch2_names()
    src = os.path.join(ROOT, "tests", "fixtures", "model")
    out_root = os.path.join(ROOT, "tests", "fixtures", "hf")
    index = {fx["name"]: fx for fx in json.load(open(os.path.join(src, "index.json")))["fixtures"]}
    meta = []
    for name in CASES:
        fx = index[name]
        c = fx["config"]
        model = hf.hf_model(c, hf.read_gguf(os.path.join(src, fx["gguf"])))
        model = model.float()
        with torch.no_grad():
            logits = model(torch.tensor([fx["tokens"]])).logits[0].numpy().astype("<f4")
        d = os.path.join(out_root, name)
        os.makedirs(d, exist_ok=True)
        # config.json as transformers writes it; weights with the safetensors package (its torch
        # writer rejects torch 1.13 tensors here). Tied models store no lm_head, as HF does.
        model.config.save_pretrained(d)
        from safetensors.numpy import save_file
        sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
              if not (c["tied"] and k == "lm_head.weight") and "rotary_emb" not in k}
        half = {k: v.astype(np.float16) if k.endswith("mlp.up_proj.weight") else v for k, v in sd.items()}
        save_file(half, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        # the up projections are stored as f16 (exercising the f16 path); logits use those values
        for l in range(c["n_layers"]):
            k = f"model.layers.{l}.mlp.up_proj.weight"
            model.state_dict()[k].copy_(torch.tensor(half[k].astype(np.float32)))
        with torch.no_grad():
            logits = model(torch.tensor([fx["tokens"]])).logits[0].numpy().astype("<f4")
        logits.tofile(os.path.join(d, "logits.f32"))
        meta.append({"name": name, "arch": c["arch"], "tokens": fx["tokens"], "n_vocab": c["n_vocab"],
                     "logits_shape": list(logits.shape)})
        print(name, "written", logits.shape)
    json.dump({"cases": meta}, open(os.path.join(out_root, "index.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
