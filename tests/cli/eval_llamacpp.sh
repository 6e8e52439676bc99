#!/usr/bin/env bash
# afm eval's MMLU (5-shot) and BoolQ per-choice log-probabilities on SmolLM2-135M-Instruct Q4_1
# against llama.cpp's (tests/fixtures/eval/llamacpp_choice/reference.json, written by
# scripts/reference/llamacpp_choice_logprobs.py with llama-cpp-python 0.3.36; 12 MMLU + 12 BoolQ
# items, 72 choices).
# Required (the test fails otherwise):
#   - afm's context and continuation token ids equal llama.cpp's, item by item (same prompt text,
#     same lm-eval context/continuation split);
#   - |afm - llama.cpp| <= MAX_GUARD nats for every choice and <= MEAN_GUARD on average, both with
#     an f16 KV cache (llama.cpp's default; afm eval --kv-type f16);
#   - afm picks llama.cpp's answer wherever llama.cpp's best choice leads its second by > MARGIN_GUARD.
# Reported (issue 4 criterion 5: within 0.01 nats, same answer where the margin exceeds 0.05):
# NOT MET, and not meetable between two 8-bit-activation implementations of this model: llama.cpp
# with its default f16 KV cache and with an f32 one differ from each other by up to 0.57 nats
# (mean 0.065) on these very items; afm with f16 KV and ggml's rounding rules is at max 0.88,
# mean 0.074 from llama.cpp's default (before those rules, f32 KV: max 0.41, mean 0.074; against
# llama.cpp f32 KV: 0.34 / 0.070): summation-order differences flip 8-bit roundings and grow
# over the 500-token 5-shot prompts (BENCHMARKS.md, "afm vs llama.cpp numerics, op by op"). See docs/eval.md "llama.cpp cross-check"
# for the exact float64 reference that locates the differences. A wrong split, position or
# prefix reuse is off by nats and fails the guards.
# Part 2, issue 4 criterion 5 itself, MET on the unquantized weights: the same SmolLM2 weights
# dequantized to F32 (afm convert --type f32, ~540 MB in the temp folder, removed at the end), run by
# afm and by llama.cpp with an f32 KV cache (scripts/reference/llamacpp_f32_choice_logprobs.py,
# "logprobs_f32model"; its F32 file checked tensor by tensor against gguf.quants.dequantize), so
# neither side rounds activations to 8 bits or K/V to f16. Required: |afm - llama.cpp| <= 0.01 nats
# for every choice and the same answer wherever llama.cpp's margin exceeds 0.05 (the issue's bar);
# measured max 2.3e-5, mean 3.7e-6 nats, 24/24 answers. Also required: afm on the F32 model within
# 1e-4 nats of the float64 reference (scripts/reference/smollm2_exact_logprobs.py, "logprobs_exact"
# on 8 items; measured 1.1e-5; llama.cpp's F32 run is at 6.4e-6 from it). Default: conversion ~4 s
# plus ~15 CPU-s for the 24 items. Part 2 catches what part 1's Q4_1 guards let through: afm
# evaluating the context without its first token (recorded tokens unchanged) reads 0.50/0.11 nats
# (max/mean) against llama.cpp f16 KV on Q4_1, inside part 1's guards, and 0.60/0.099 on F32; prefix
# reuse keeping one stale token reads 0.49/0.080 on Q4_1 and 0.50/0.055 on F32.
# With AFM_EVAL_EXACT=1 (slow: ~80 CPU-s more) part 2 also runs the larger, disjoint fixture
# tests/fixtures/eval/llamacpp_choice_f32/ (50 MMLU over 10 subjects + 50 BoolQ; measured max
# 2.6e-5, mean 3.4e-6 nats, 95/95 answers where the margin exceeds 0.05).
# Exit 77 (skipped) when the model file has not been fetched (scripts/fetch_smollm2.sh).
set -euo pipefail
AFM=${AFM_BIN:?}
SRC=${AFM_SOURCE_DIR:?}
MODEL=${AFM_SMOLLM2:-$SRC/models/SmolLM2-135M-Instruct.Q4_1.gguf}
FX=$SRC/tests/fixtures/eval/llamacpp_choice
[ -f "$MODEL" ] || { echo "skipped: $MODEL not found (scripts/fetch_smollm2.sh)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$AFM" eval -m "$MODEL" --task mmlu --data "$FX/mmlu" --threads 1 --kv-type f16 --record-tokens --no-progress --out "$T/mmlu.json" > /dev/null \
  || fail "mmlu run"
"$AFM" eval -m "$MODEL" --task boolq --data "$FX/boolq.jsonl" --threads 1 --kv-type f16 --record-tokens --no-progress --out "$T/boolq.json" > /dev/null \
  || fail "boolq run"
python3 - "$FX/reference.json" "$T" <<'PY' || fail "afm differs from llama.cpp"
import json, sys
TOL, MARGIN = 0.01, 0.05                          # issue 4's bar: reported
MAX_GUARD, MEAN_GUARD, MARGIN_GUARD = 1.0, 0.12, 0.2  # enforced on f16 KV (measured 0.88 / 0.074)
ref = json.load(open(sys.argv[1]))
want = {"mmlu": sorted([it for it in ref["items"] if it["task"] == "mmlu"], key=lambda it: it["subject"]),
        "boolq": [it for it in ref["items"] if it["task"] == "boolq"]}
bad, issue = [], []
diffs = {"f16kv": [], "f32kv": []}
for task in ("mmlu", "boolq"):
    got = json.load(open(f"{sys.argv[2]}/{task}.json"))
    assert got["n_errors"] == 0 and len(got["items"]) == len(want[task]), (task, got["n_errors"], len(got["items"]))
    for g, w in zip(got["items"], want[task]):
        name = f"{task} {w.get('subject', '')} row {w['row']}"
        assert g["tokens"]["context"] == w["context_tokens"], f"{name}: context tokens differ from llama.cpp's"
        assert g["tokens"]["continuations"] == w["continuation_tokens"], f"{name}: continuation tokens differ"
        assert g["gold"] == w["gold"], name
        for kv in diffs:
            diffs[kv] += [abs(a - b) for a, b in zip(g["logprobs"], w["logprobs_" + kv])]
        d32 = max(abs(a - b) for a, b in zip(g["logprobs"], w["logprobs_f32kv"]))
        d16 = max(abs(a - b) for a, b in zip(g["logprobs"], w["logprobs_f16kv"]))
        lp = w["logprobs_f16kv"]
        order = sorted(range(len(lp)), key=lambda c: -lp[c])
        margin = lp[order[0]] - lp[order[1]]
        if d16 > TOL:
            issue.append(name)
        if margin > MARGIN and g["predicted"] != order[0]:
            issue.append(f"{name} (answer; margin {margin:.3f})")
        if d16 > MAX_GUARD:
            bad.append(f"{name}: max |afm - llama.cpp f16 KV| = {d16:.4f} nats (afm {g['logprobs']}, llama.cpp {w['logprobs_f16kv']})")
        if margin > MARGIN_GUARD and g["predicted"] != order[0]:
            bad.append(f"{name}: afm picks {g['predicted']}, llama.cpp {order[0]} with margin {margin:.3f}")
for kv, d in diffs.items():
    print(f"afm vs llama.cpp ({kv}): {len(d)} choices, max |diff| {max(d):.5f} nats, mean {sum(d) / len(d):.5f}")
print(f"llama.cpp f16 vs f32 KV cache: max {ref['f16kv_vs_f32kv_max']:.5f}, mean {ref['f16kv_vs_f32kv_mean']:.5f}")
mean16 = sum(diffs["f16kv"]) / len(diffs["f16kv"])
if mean16 > MEAN_GUARD:
    bad.append(f"mean |afm - llama.cpp f16 KV| = {mean16:.4f} nats > {MEAN_GUARD}")
print(f"issue 4 criterion 5 (|diff| <= {TOL} vs llama.cpp defaults, same answer where margin > {MARGIN}): "
      + ("met" if not issue else f"NOT MET ({len(issue)} failed checks over {len(want['mmlu']) + len(want['boolq'])} items)"))
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
PY
# Part 2: afm and llama.cpp on the F32-dequantized weights, both with an f32 KV cache (see the header).
"$AFM" convert "$MODEL" -o "$T/f32.gguf" --type f32 > /dev/null || fail "f32 conversion"
f32_eval() {  # f32_eval FIXTURE_DIR OUT_PREFIX: afm on the F32 model over the fixture's MMLU and BoolQ items
  "$AFM" eval -m "$T/f32.gguf" --task mmlu --data "$1/mmlu" --threads 1 --kv-type f32 --record-tokens --no-progress --out "$2_mmlu.json" > /dev/null \
    || fail "f32 mmlu run ($1)"
  "$AFM" eval -m "$T/f32.gguf" --task boolq --data "$1/boolq.jsonl" --threads 1 --kv-type f32 --record-tokens --no-progress --out "$2_boolq.json" > /dev/null \
    || fail "f32 boolq run ($1)"
}
f32_check() {  # f32_check FIXTURE_DIR OUT_PREFIX: afm vs llama.cpp's "logprobs_f32model", the issue's bar
  python3 - "$1/reference.json" "$2_mmlu.json" "$2_boolq.json" <<'PY'
import hashlib, json, sys
TOL, MARGIN = 0.01, 0.05  # issue 4 criterion 5, enforced
ref = json.load(open(sys.argv[1]))
want = {"mmlu": sorted([it for it in ref["items"] if it["task"] == "mmlu"], key=lambda it: it["subject"]),
        "boolq": [it for it in ref["items"] if it["task"] == "boolq"]}
bad, d, n_margin, n_agree = [], [], 0, 0
for task, path in (("mmlu", sys.argv[2]), ("boolq", sys.argv[3])):
    got = json.load(open(path))
    assert got["n_errors"] == 0 and len(got["items"]) == len(want[task]), (task, got["n_errors"], len(got["items"]))
    for g, w in zip(got["items"], want[task]):
        name = f"{task} {w.get('subject', '')} row {w['row']}"
        ctx = g["tokens"]["context"]
        if "context_tokens" in w:
            assert ctx == w["context_tokens"], f"{name}: context tokens differ from llama.cpp's"
        else:  # the larger fixture stores the count and sha256 of the ids written as "i,j,k"
            digest = hashlib.sha256(",".join(map(str, ctx)).encode()).hexdigest()
            assert (len(ctx), digest) == (w["n_context_tokens"], w["context_digest"]), f"{name}: context tokens differ"
        assert g["tokens"]["continuations"] == w["continuation_tokens"], f"{name}: continuation tokens differ"
        assert g["gold"] == w["gold"], name
        lp = w["logprobs_f32model"]
        e = [abs(a - b) for a, b in zip(g["logprobs"], lp)]
        d += e
        if max(e) > TOL:
            bad.append(f"{name}: max |afm - llama.cpp| = {max(e):.2e} nats > {TOL} (afm {g['logprobs']}, llama.cpp {lp})")
        order = sorted(range(len(lp)), key=lambda c: -lp[c])
        if lp[order[0]] - lp[order[1]] > MARGIN:
            n_margin += 1
            n_agree += g["predicted"] == order[0]
            if g["predicted"] != order[0]:
                bad.append(f"{name}: afm picks {g['predicted']}, llama.cpp {order[0]} (margin {lp[order[0]] - lp[order[1]]:.3f})")
n = len(want["mmlu"]) + len(want["boolq"])
print(f"afm vs llama.cpp, both on the F32-dequantized model (f32 KV), {n} items ({len(want['mmlu'])} MMLU, "
      f"{len(want['boolq'])} BoolQ), {len(d)} choices: max |diff| {max(d):.2e} nats, mean {sum(d) / len(d):.2e}; "
      f"same answer on {n_agree}/{n_margin} items with margin > {MARGIN}")
print(f"issue 4 criterion 5 on the F32-dequantized weights (|diff| <= {TOL}, same answer where margin > {MARGIN}): "
      + ("met" if not bad else "NOT MET"))
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
PY
}
f32_eval "$FX" "$T/f32"
f32_check "$FX" "$T/f32" || fail "afm (F32 model) differs from llama.cpp (F32 model, f32 KV)"
python3 - "$FX/reference.json" "$T/f32_mmlu.json" "$T/f32_boolq.json" "$T/mmlu.json" "$T/boolq.json" <<'PY' \
  || fail "afm (f32 weights) differs from the float64 reference"
import json, sys
exact = [it for it in json.load(open(sys.argv[1]))["items"] if "logprobs_exact" in it]
def by_context(paths):
    return {tuple(g["tokens"]["context"]): g["logprobs"] for p in paths for g in json.load(open(p))["items"]}
def dist(logprobs_of):  # |x - float64 reference| over every choice of the items that have one
    return [abs(a - b) for it in exact for a, b in zip(logprobs_of(it), it["logprobs_exact"])]
afm32, afmq = by_context(sys.argv[2:4]), by_context(sys.argv[4:6])
d = dist(lambda it: afm32[tuple(it["context_tokens"])])
print(f"afm (F32 model) vs float64 reference: {len(d)} choices, max |diff| {max(d):.2e} nats")
l = dist(lambda it: it["logprobs_f32model"])
print(f"llama.cpp (F32 model, f32 KV) vs float64 reference: max |diff| {max(l):.2e} nats")
e = dist(lambda it: afmq[tuple(it["context_tokens"])])
print(f"afm (Q4_1, 8-bit activations, f16 KV) vs float64 reference: max |diff| {max(e):.4f} nats, mean {sum(e) / len(e):.4f}")
sys.exit(0 if len(d) >= 20 and max(d) < 1e-4 else 1)
PY
rm -f "$T"/f32_*.json
# With AFM_EVAL_EXACT=1 (slow: ~80 CPU-s) also the larger fixture, 50 MMLU + 50 BoolQ items
# (tests/fixtures/eval/llamacpp_choice_f32/, disjoint from the 24).
if [ "${AFM_EVAL_EXACT:-0}" = 1 ]; then
  f32_eval "$SRC/tests/fixtures/eval/llamacpp_choice_f32" "$T/more"
  f32_check "$SRC/tests/fixtures/eval/llamacpp_choice_f32" "$T/more" \
    || fail "afm (F32 model) differs from llama.cpp (F32 model, f32 KV) on the larger fixture"
fi
rm -f "$T/f32.gguf"
echo "eval vs llama.cpp: ok"
