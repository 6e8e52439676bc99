#!/usr/bin/env python3
"""Cross-checks afm's GGUF reader and writer against the independent Python `gguf` package.

  gguf_interop.py dump FILE          canonical dump (same format as `test_gguf --dump FILE`)
  gguf_interop.py write FILE         a file with every metadata type and several tensor types,
                                     written by gguf.GGUFWriter
  gguf_interop.py check-sample FILE  asserts the values `test_gguf --write-sample` meant to write

Canonical dump: integers in decimal, floats as hex bit patterns, bools 0/1, strings as hex bytes,
tensors with ggml-order dims, absolute data offset, byte size and CRC-32 of the data.
"""
import sys
import zlib

import numpy as np
import gguf
from gguf import GGUFReader, GGUFValueType as VT

TYPE_NAMES = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
              VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "string",
              VT.ARRAY: "array", VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64"}


def scalar(vtype, part):
    v = part[0]
    if vtype == VT.FLOAT32:
        return "%08x" % int(np.float32(v).view(np.uint32))
    if vtype == VT.FLOAT64:
        return "%016x" % int(np.float64(v).view(np.uint64))
    return str(int(v))


def dump(path):
    r = GGUFReader(path)
    out = ["version %d" % int(r.fields["GGUF.version"].parts[-1][0]), "alignment %d" % r.alignment]
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        t = f.types[0]
        if t == VT.STRING:
            out.append("kv %s string %s" % (name, bytes(f.parts[f.data[0]]).hex()))
        elif t == VT.ARRAY:
            et = f.types[1] if len(f.types) > 1 else VT(int(f.parts[3][0]))
            if et == VT.STRING:
                items = [bytes(f.parts[i]).hex() for i in f.data]
            else:
                items = [scalar(et, f.parts[i]) for i in f.data]
            out.append("kv %s array[%s] %d %s" % (name, TYPE_NAMES[et], len(f.data), ",".join(items)))
        else:
            out.append("kv %s %s %s" % (name, TYPE_NAMES[t], scalar(t, f.parts[f.data[0]])))
    for t in r.tensors:
        data = r.data[t.data_offset:t.data_offset + t.n_bytes]
        out.append("tensor %s type=%d ne=%s offset=%d nbytes=%d crc32=%08x" % (
            t.name, int(t.tensor_type), ",".join(str(int(d)) for d in t.shape), t.data_offset, t.n_bytes,
            zlib.crc32(np.ascontiguousarray(data).tobytes())))
    print("\n".join(out))


def write(path):
    w = gguf.GGUFWriter(path, "qwen3")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -12345)
    w.add_uint32("t.u32", 3000000000)
    w.add_int32("t.i32", -5)
    w.add_float32("t.f32", 0.1)
    w.add_bool("t.bool", False)
    w.add_string("t.str", "héllo wörld")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -2**62)
    w.add_float64("t.f64", 1.0 / 3.0)
    w.add_array("t.arr_str", ["a", "", "ĠĠ", "<|endoftext|>"])
    w.add_array("t.arr_f32", [1.5, -0.25])
    w.add_array("t.arr_i32", [7, -8, 9])
    w.add_token_types([1, 3, 6])
    w.add_token_scores([-1.0, 0.0, 2.5])
    rng = np.random.default_rng(7)
    w.add_tensor("token_embd.weight", rng.standard_normal((6, 16)).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((4, 32)).astype(np.float16))
    bf = (rng.standard_normal((2, 8)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("blk.0.attn_k.weight", bf, raw_dtype=gguf.GGMLQuantizationType.BF16)
    for qt, name in ((gguf.GGMLQuantizationType.Q8_0, "blk.0.attn_v.weight"),
                     (gguf.GGMLQuantizationType.Q4_0, "blk.0.ffn_up.weight"),
                     (gguf.GGMLQuantizationType.Q4_1, "blk.0.ffn_gate.weight")):
        q = gguf.quants.quantize(rng.standard_normal((3, 64)).astype(np.float32), qt)
        w.add_tensor(name, q, raw_dtype=qt)
    w.add_tensor("blk.0.ids", np.arange(5, dtype=np.int32))
    w.add_tensor("blk.0.f64", np.linspace(0, 1, 3).reshape(3, 1, 1))
    w.add_tensor("output_norm.weight", np.ones(16, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_sample(path):
    """Values test_gguf.c's build() and write_sample() put in, read by the independent reader."""
    r = GGUFReader(path)
    f = r.fields

    def val(k):
        return f[k].parts[f[k].data[0]]

    assert bytes(val("general.architecture")) == b"llama"
    assert bytes(val("general.name")) == b"round trip"
    assert list(f.keys())[3:5] == ["general.architecture", "general.name"], list(f.keys())[:6]
    assert int(val("t.u8")[0]) == 250 and int(val("t.i8")[0]) == -7
    assert int(val("t.u16")[0]) == 65000 and int(val("t.i16")[0]) == -30000
    assert int(val("t.u32")[0]) == 4000000000 and int(val("t.i32")[0]) == -2000000000
    assert val("t.f32")[0] == np.float32(1e-6) and bool(val("t.bool")[0]) is True
    assert int(val("t.u64")[0]) == 18000000000000000000 and int(val("t.i64")[0]) == -9000000000000000000
    assert float(val("t.f64")[0]) == 3.141592653589793
    assert bytes(val("t.str_nul")) == b"a\0b" and bytes(val("t.empty_str")) == b""
    arr = f["t.arr_i32"]
    assert [int(arr.parts[i][0]) for i in arr.data] == [1, -2, 3, -4, 2147483647]
    toks = f["tokenizer.ggml.tokens"]
    assert [bytes(toks.parts[i]).decode() for i in toks.data] == ["hello", "", "Ġ Ġ", "<|im_end|>"]
    names = [t.name for t in r.tensors]
    assert names[0] == "token_embd.weight" and names[-1] == "blk.0.ids" and len(names) == 9
    emb = r.tensors[0]
    assert list(emb.shape) == [8, 3] and emb.data.shape == (3, 8) and emb.tensor_type == gguf.GGMLQuantizationType.F32
    for i, t in enumerate(r.tensors):
        raw = np.ascontiguousarray(r.data[t.data_offset:t.data_offset + t.n_bytes])
        expect = ((i * 31 + np.arange(t.n_bytes) * 7) & 255).astype(np.uint8)
        assert np.array_equal(raw, expect), t.name
        assert t.data_offset % r.alignment == 0
    q6 = r.tensors[6]
    assert q6.tensor_type == gguf.GGMLQuantizationType.Q6_K and list(q6.shape) == [256, 1, 1, 2]
    print("check-sample: ok (%d keys, %d tensors)" % (len(f) - 3, len(r.tensors)))


if __name__ == "__main__":
    {"dump": dump, "write": write, "check-sample": check_sample}[sys.argv[1]](sys.argv[2])
