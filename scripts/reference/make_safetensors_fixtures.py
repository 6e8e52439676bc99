#!/usr/bin/env python3
"""Writes the safetensors / HF-checkpoint fixtures for tests/unit/test_safetensors.c with numpy and
json only, following the published format: u64 little-endian header size, a JSON header
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}} padded with spaces,
then the data buffer. If the `safetensors` package is installed, every file is also loaded with
it as an independent check of this writer.

Outputs (tests/fixtures/formats/):
  tiny.safetensors, tiny.expect.json     F32/F16/BF16, 0-d and empty tensors, shuffled order
  tiny_lib.safetensors, tiny_lib.expect.json   written by safetensors.torch.save_file (needs torch;
                                         run with Debian's /usr/bin/python3)
  sharded/model-0000{1,2}-of-00002.safetensors, sharded/model.safetensors.index.json,
  sharded/config.json                    a 1-layer Llama-layout checkpoint in two shards
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "formats")


def bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even (NaN-free input)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


def encode(arr, dtype):
    if dtype == "F32":
        return np.asarray(arr, dtype="<f4"), np.asarray(arr, dtype=np.float32)
    if dtype == "F16":
        h = np.asarray(arr, dtype="<f2")
        return h, h.astype(np.float32)
    if dtype == "BF16":
        b = bf16_bits(arr).astype("<u2")
        return b, (b.astype(np.uint32) << 16).view(np.float32)
    raise ValueError(dtype)


def write_safetensors(path, tensors, data_order, metadata=None):
    """tensors: list of (name, dtype, ndarray); data_order: names in the order their bytes go."""
    by_name = {n: (d, a) for n, d, a in tensors}
    header, blobs, offset, decoded = {}, [], 0, {}
    for name in data_order:
        dtype, arr = by_name[name]
        stored, values = encode(arr, dtype)
        raw = stored.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        decoded[name] = {"dtype": dtype, "shape": list(arr.shape), "values": [float(v) for v in values.ravel()]}
        blobs.append(raw)
        offset += len(raw)
    # JSON key order differs from the data order on purpose (tensor names in listed order).
    ordered = {n: header[n] for n, _, _ in tensors}
    if metadata:
        ordered = {"__metadata__": metadata, **ordered}
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(np.uint64(len(text)).astype("<u8").tobytes())
        f.write(text)
        for b in blobs:
            f.write(b)
    check_with_library(path, decoded)
    return decoded


def check_with_library(path, decoded):
    try:
        from safetensors import safe_open
    except ImportError:
        return
    try:
        import torch  # BF16 needs the torch framework in safe_open
        fw = "pt"
    except ImportError:
        fw = "numpy"
    with safe_open(path, framework=fw) as f:
        assert sorted(f.keys()) == sorted(decoded), (sorted(f.keys()), sorted(decoded))
        for name, d in decoded.items():
            if fw == "numpy" and d["dtype"] == "BF16":
                continue
            t = f.get_tensor(name)
            v = t.float().numpy() if fw == "pt" else t.astype(np.float32)
            assert list(v.shape) == d["shape"], name
            assert np.array_equal(v.ravel(), np.array(d["values"], dtype=np.float32)), name


def write_with_library(path, expect_path, rng):
    """The same kind of file written by the reference implementation (safetensors.torch.save_file),
    so the reader also meets that writer's conventions. Kept as is if torch/safetensors are absent."""
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError:
        print("safetensors/torch not available: %s left unchanged" % path)
        return
    tensors = {
        "model.layers.1.self_attn.k_proj.weight": torch.from_numpy(rng.standard_normal((6, 4)).astype(np.float32)).bfloat16(),
        "model.layers.1.self_attn.k_norm.weight": torch.from_numpy(rng.standard_normal(6).astype(np.float32)).half(),
        "lm_head.weight": torch.from_numpy(rng.standard_normal((3, 4)).astype(np.float32)),
    }
    save_file(tensors, path, metadata={"format": "pt", "writer": "safetensors.torch"})
    expect = {n: {"dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype],
                  "shape": list(t.shape), "values": [float(v) for v in t.float().flatten()]}
              for n, t in tensors.items()}
    with open(expect_path, "w") as f:
        json.dump({"tensors": expect}, f, indent=1)


def main():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    rng = np.random.default_rng(1234)
    tensors = [
        ("model.embed_tokens.weight", "F32", rng.standard_normal((5, 4)).astype(np.float32)),
        ("model.layers.0.self_attn.q_proj.weight", "F16", rng.standard_normal((4, 4)).astype(np.float32)),
        ("model.layers.0.mlp.up_proj.weight", "BF16", rng.standard_normal((3, 4)).astype(np.float32)),
        ("model.norm.weight", "F32", np.array([1.0, 0.5, -2.0, 1e-3], dtype=np.float32)),
        ("scalar", "F32", np.array(3.25, dtype=np.float32)),
        ("empty", "F16", np.zeros((0, 4), dtype=np.float32)),
        ("cube", "BF16", rng.standard_normal((2, 3, 2)).astype(np.float32)),
    ]
    order = ["model.norm.weight", "cube", "model.embed_tokens.weight", "empty", "scalar",
             "model.layers.0.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.weight"]
    decoded = write_safetensors(os.path.join(OUT, "tiny.safetensors"), tensors, order, {"format": "pt"})
    decoded = {"order": order, "tensors": decoded}
    with open(os.path.join(OUT, "tiny.expect.json"), "w") as f:
        json.dump(decoded, f, indent=1)

    write_with_library(os.path.join(OUT, "tiny_lib.safetensors"), os.path.join(OUT, "tiny_lib.expect.json"), np.random.default_rng(99))

    # A 1-layer Llama-layout checkpoint (dim 8, 2 heads, 1 kv head, ffn 12, vocab 10), two shards.
    dim, heads, kv, hd, ffn, vocab = 8, 2, 1, 4, 12, 10
    shapes = {
        "model.embed_tokens.weight": (vocab, dim),
        "model.layers.0.input_layernorm.weight": (dim,),
        "model.layers.0.self_attn.q_proj.weight": (heads * hd, dim),
        "model.layers.0.self_attn.k_proj.weight": (kv * hd, dim),
        "model.layers.0.self_attn.v_proj.weight": (kv * hd, dim),
        "model.layers.0.self_attn.o_proj.weight": (dim, heads * hd),
        "model.layers.0.post_attention_layernorm.weight": (dim,),
        "model.layers.0.mlp.gate_proj.weight": (ffn, dim),
        "model.layers.0.mlp.up_proj.weight": (ffn, dim),
        "model.layers.0.mlp.down_proj.weight": (dim, ffn),
        "model.norm.weight": (dim,),
        "lm_head.weight": (vocab, dim),
    }
    names = list(shapes)
    shard_of = {n: (1 if i < 6 else 2) for i, n in enumerate(names)}
    weight_map = {}
    for s in (1, 2):
        fname = "model-%05d-of-00002.safetensors" % s
        ts = [(n, "BF16", rng.standard_normal(shapes[n]).astype(np.float32)) for n in names if shard_of[n] == s]
        write_safetensors(os.path.join(OUT, "sharded", fname), ts, [n for n, _, _ in ts])
        weight_map.update({n: fname for n, _, _ in ts})
    with open(os.path.join(OUT, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
        "intermediate_size": ffn, "num_attention_heads": heads, "num_key_value_heads": kv,
        "num_hidden_layers": 1, "vocab_size": vocab, "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
        "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
    }
    with open(os.path.join(OUT, "sharded", "config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
