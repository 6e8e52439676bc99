#!/usr/bin/env python3
"""Dump llama.cpp's intermediate tensors for one token sequence (llama-cpp-python's cb_eval hook).

Evaluates the ids of one fixture sequence (tests/fixtures/llamacpp/smollm2_teacher.json, by
prompt name) as one batch with the same context configuration as make_llamacpp_fixtures.py
(n_ctx 512, n_batch = n_ubatch = 512, no flash attention, KV cache type --kv-type), and records
every graph tensor whose name matches --names (regular expression, default: the per-op tensors
of layer 0..1, every layer's output and the output head). Each record is the tensor as float32
in ggml's shape order reversed (numpy order), keyed "<seq>:<name>:<op>" in an .npz file; a
tensor name that occurs several times (llama.cpp reuses "Qcur-0" for the matmul, the reshape
and the RoPE output) gets one record per occurrence, in graph order.

Compare with `afm trace` (same ids) using scripts/reference/compare_trace.py.

usage: python3 scripts/reference/llamacpp_trace.py --prompt fact --out /tmp/llama_fact.npz
Needs: pip install llama-cpp-python numpy.
"""
import argparse
import ctypes
import json
import os
import re

import numpy as np
import llama_cpp

GGML_MAX_DIMS, GGML_MAX_SRC, GGML_MAX_OP_PARAMS, GGML_MAX_NAME = 4, 10, 64, 64


class GgmlTensor(ctypes.Structure):
    """struct ggml_tensor of ggml 0.25 (ggml/include/ggml.h)."""
    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * GGML_MAX_DIMS),
        ("nb", ctypes.c_size_t * GGML_MAX_DIMS),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * (GGML_MAX_OP_PARAMS // 4)),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * GGML_MAX_SRC),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * GGML_MAX_NAME),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


GGML_TYPE_F32, GGML_TYPE_F16 = 0, 1


def read_tensor(t):
    """The tensor's elements as float32 numpy array of shape ne[::-1] (strided views handled)."""
    if t.type == GGML_TYPE_F32:
        dt, es = np.float32, 4
    elif t.type == GGML_TYPE_F16:
        dt, es = np.float16, 2
    else:
        return None
    ne = [int(t.ne[i]) for i in range(4)]
    nb = [int(t.nb[i]) for i in range(4)]
    span = sum((ne[i] - 1) * nb[i] for i in range(4)) + es
    buf = (ctypes.c_char * span).from_address(t.data)
    raw = np.frombuffer(bytes(buf), dtype=np.uint8)
    arr = np.lib.stride_tricks.as_strided(raw.view(dt) if nb[0] == es and span % es == 0 else raw,
                                          shape=ne[::-1], strides=nb[::-1])
    return np.array(arr, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--model", default=os.path.join(root, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--fixture", default=os.path.join(root, "tests/fixtures/llamacpp/smollm2_teacher.json"))
    ap.add_argument("--prompt", default="fact", help="fixture prompt name")
    ap.add_argument("--kv-type", choices=["f16", "f32"], default="f16")
    ap.add_argument("--names", default=r"^(.*-[01]|l_out-\d+|result_norm|result_output|inp_embd)$")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    fx = json.load(open(a.fixture))
    ids = next(p["ids"] for p in fx["prompts"] if p["name"] == a.prompt)
    pat = re.compile(a.names)
    records, counts = {}, {}

    @llama_cpp.ggml_backend_sched_eval_callback
    def cb(tp, ask, user):
        t = ctypes.cast(tp, ctypes.POINTER(GgmlTensor)).contents
        name = t.name.decode(errors="replace")
        if not pat.match(name):
            return False if ask else True
        if ask:
            return True
        k = counts.get(name, 0)
        counts[name] = k + 1
        arr = read_tensor(t)
        if arr is not None:
            records[f"{k}:{name}:{t.op}"] = arr
        return True

    llm = llama_cpp.Llama(model_path=a.model, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=1,
                          n_threads_batch=1, logits_all=True, verbose=False, flash_attn=False,
                          type_k={"f16": 1, "f32": 0}[a.kv_type], type_v={"f16": 1, "f32": 0}[a.kv_type])
    params = llm.context_params
    params.cb_eval = cb
    params.cb_eval_user_data = None
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    assert ctx, "context creation failed"
    n = len(ids)
    batch = llama_cpp.llama_batch_init(n, 0, 1)
    batch.n_tokens = n
    for i, tok in enumerate(ids):
        batch.token[i] = tok
        batch.pos[i] = i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = True
    rc = llama_cpp.llama_decode(ctx, batch)
    assert rc == 0, f"llama_decode returned {rc}"
    nv = llm.n_vocab()
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(ctx), shape=(n * nv,)).reshape(n, nv).copy()
    records["logits"] = logits
    records["ids"] = np.array(ids, dtype=np.int32)
    np.savez(a.out, **records)
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    print(f"{len(records)} records ({n} tokens) -> {a.out}")
    for k in list(records)[:60]:
        print(f"  {k:40s} {records[k].shape}")


if __name__ == "__main__":
    main()
