#!/usr/bin/env python3
"""llama.cpp's per-choice log-probabilities of MMLU (5-shot) and BoolQ items on SmolLM2-135M-Instruct
with its weights dequantized to F32 and an F32 K/V cache: the arithmetic in which afm and llama.cpp
can be compared directly (issue 4 criterion 5), because neither quantizes activations to 8 bits
(with F32 weights both multiply f32 activations by f32 weights) nor rounds K/V to f16.

The F32 file is made by `afm convert MODEL -o F32 --type f32`; this script first checks that every
tensor of it equals, bit for bit, the gguf package's dequantization of the quantized file
(gguf.quants.dequantize) and that the metadata are the same, so llama.cpp runs weights that afm did
not produce on its own authority.

Prompts, tokens and scoring are llamacpp_choice_logprobs.py's (lm-eval formats and split; log P(cont
| ctx) = sum_i log_softmax(z_{i-1})[cont_i] in float64; every choice from an empty KV cache; flash
attention off).

1. Adds "logprobs_f32model" to every item of tests/fixtures/eval/llamacpp_choice/reference.json
   (12 MMLU + 12 BoolQ) and an "f32model" record at the top; every existing field is kept as it is
   (the tokens of the F32 model must equal the stored ones).
2. With --more DIR: a larger, disjoint set (10 subjects x 5 MMLU questions + 50 BoolQ items) in DIR
   (default tests/fixtures/eval/llamacpp_choice_f32/): the data subset afm eval reads
   (mmlu/{test,dev}/, boolq.jsonl) and reference.json with "logprobs_f32model", the continuation
   tokens, and the context tokens as their count and digest (token_digest: sha256 of the ids written
   in decimal, comma-separated) to keep the file small.

usage: afm convert models/SmolLM2-135M-Instruct.Q4_1.gguf -o /tmp/smollm2_f32.gguf --type f32
       python3 scripts/reference/llamacpp_f32_choice_logprobs.py --f32-model /tmp/smollm2_f32.gguf
       [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--shared /work/shared] [--threads 1]
       [--ref tests/fixtures/eval/llamacpp_choice/reference.json] [--more tests/fixtures/eval/llamacpp_choice_f32]
"""
import argparse
import hashlib
import json
import os
import sys

import gguf
import llama_cpp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_choice_logprobs import (BOOLQ_ROWS, SUBJECTS, choice_logprobs, make_items,  # noqa: E402
                                      open_llama, split_tokens)

GGML_F32 = 0
# The larger set: 10 subjects spread over MMLU's 57 (none of SUBJECTS), 5 test rows each; 50 BoolQ
# validation items none of which is in BOOLQ_ROWS.
MORE_SUBJECTS = ["anatomy", "college_biology", "college_physics", "elementary_mathematics", "high_school_biology",
                 "high_school_macroeconomics", "high_school_us_history", "international_law", "marketing",
                 "professional_medicine"]
MORE_MMLU_ROWS = [3, 17, 31, 45, 59]
MORE_BOOLQ_ROWS = [7 + 65 * i for i in range(50)]


def token_digest(ids):
    """sha256 of the token ids written in decimal and joined by commas (the test computes the same)."""
    return hashlib.sha256(",".join(str(t) for t in ids).encode()).hexdigest()


def compact(it):
    """An item of the larger fixture: the context tokens as their count and digest."""
    it = dict(it)
    ctx = it.pop("context_tokens")
    return dict(it, n_context_tokens=len(ctx), context_digest=token_digest(ctx))


def check_f32_file(quantized, f32):
    """Every tensor of the F32 file equals the gguf package's dequantization of the quantized one."""
    q, f = gguf.GGUFReader(quantized), gguf.GGUFReader(f32)
    qt, ft = {t.name: t for t in q.tensors}, {t.name: t for t in f.tensors}
    assert set(qt) == set(ft), "tensor names differ"
    for name, t in qt.items():
        assert ft[name].tensor_type == gguf.GGMLQuantizationType.F32, f"{name}: not F32 in {f32}"
        want = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        got = np.asarray(ft[name].data).reshape(-1)
        assert np.array_equal(want, got), f"{name}: F32 tensor differs from gguf.quants.dequantize"
    for key, field in q.fields.items():  # metadata (tokenizer, hyperparameters) unchanged
        if key.startswith("GGUF.") or key == "general.file_type":
            continue
        assert [bytes(p) for p in field.parts] == [bytes(p) for p in f.fields[key].parts], f"metadata {key} differs"
    return len(qt)


def score(llm, items, stored=None):
    """Tokens and llama.cpp log-probabilities of items; with stored items, their tokens must be the same."""
    for k, it in enumerate(items):
        ctx_ids, conts = split_tokens(llm, it)
        if stored is not None:
            s = stored[k]
            assert (s["task"], s["row"], s.get("subject")) == (it["task"], it["row"], it.get("subject")), "item order"
            assert s["context_tokens"] == ctx_ids and s["continuation_tokens"] == conts, "tokens differ from the fixture's"
        it["context_tokens"], it["continuation_tokens"] = ctx_ids, conts
        it["logprobs_f32model"] = choice_logprobs(llm, ctx_ids, conts)
        del it["context"]
        lp = sorted(it["logprobs_f32model"], reverse=True)
        print(it["task"], it.get("subject", ""), it["row"], len(ctx_ids), ["%.5f" % x for x in it["logprobs_f32model"]],
              "margin %.4f" % (lp[0] - lp[1]), flush=True)
    return items


def record(a, n_tensors):
    return dict(generator="scripts/reference/llamacpp_f32_choice_logprobs.py", llama_cpp_python=llama_cpp.__version__,
                model=os.path.basename(a.model) + " dequantized to F32 (afm convert --type f32; every tensor checked "
                "equal to gguf.quants.dequantize)", model_size=os.path.getsize(a.f32_model), n_tensors=n_tensors,
                type_k="f32", type_v="f32", flash_attn=False, n_ubatch=512, n_threads=a.threads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--f32-model", required=True, help="the model converted by afm convert --type f32")
    ap.add_argument("--shared", default=os.environ.get("AFM_SHARED", "../shared"))
    ap.add_argument("--ref", default="tests/fixtures/eval/llamacpp_choice/reference.json")
    ap.add_argument("--more", default=None, help="also write the larger fixture into this folder")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    n = check_f32_file(a.model, a.f32_model)
    print(f"{a.f32_model}: {n} tensors equal gguf.quants.dequantize of {a.model}")
    llm = open_llama(a.f32_model, GGML_F32, a.threads)

    ref = json.load(open(a.ref))
    items = score(llm, make_items(a.shared, None), ref["items"])
    for it, s in zip(items, ref["items"]):
        s["logprobs_f32model"] = it["logprobs_f32model"]
    ref["f32model"] = record(a, n)
    with open(a.ref, "w") as f:
        json.dump(ref, f, indent=0)
    ex = [abs(x - y) for s in ref["items"] if "logprobs_exact" in s for x, y in zip(s["logprobs_f32model"], s["logprobs_exact"])]
    print("llama.cpp (F32 model, f32 KV) vs float64 reference: max %.2e mean %.2e over %d choices"
          % (max(ex), np.mean(ex), len(ex)))

    if a.more:
        items = score(llm, make_items(a.shared, a.more, MORE_SUBJECTS, MORE_MMLU_ROWS, MORE_BOOLQ_ROWS))
        assert not set(MORE_SUBJECTS) & set(SUBJECTS) and not set(MORE_BOOLQ_ROWS) & set(BOOLQ_ROWS)
        with open(f"{a.more}/reference.json", "w") as f:  # one item per line
            f.write("{\"f32model\": %s,\n\"items\": [\n" % json.dumps(record(a, n)))
            f.write(",\n".join(json.dumps(compact(it)) for it in items))
            f.write("\n]}\n")


if __name__ == "__main__":
    main()
