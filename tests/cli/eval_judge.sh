#!/usr/bin/env bash
# Judge tasks with stories260K as the judge, against an independent numpy forward pass and
# llama2.c's tokenizer algorithm (scripts/reference/judge_loglik_stories.py ->
# tests/fixtures/eval/judge_stories.json): the label log-likelihoods of pairwise (both orders)
# and of the XSTest classification, the swap/combination arithmetic, and bad input reported per
# item (malformed line, missing fields, missing response lines, a response longer than the context).
set -euo pipefail
AFM=${AFM_BIN:?}
SRC=${AFM_SOURCE_DIR:?}
S=${AFM_SHARED:?}/models/stories260K
FX=$SRC/tests/fixtures/eval/judge_stories.json
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$AFM" convert "$S/stories260K.bin" --tokenizer "$S/tok512.bin" -o "$T/s.gguf" > /dev/null 2>&1
python3 - "$FX" "$T" <<'PY'
import csv, json, sys
fx, d = json.load(open(sys.argv[1])), sys.argv[2]
P = fx["pairwise"]
with open(d + "/prompts.jsonl", "w") as f, open(d + "/a.jsonl", "w") as fa, open(d + "/b.jsonl", "w") as fb:
    for p in P:
        f.write(json.dumps({"instruction": p["instruction"], "output": p["b"]}) + "\n")
        fa.write(json.dumps({"response": p["a"]}) + "\n")
        fb.write(json.dumps({"output": p["b"]}) + "\n")
    f.write('{"instruction": "broken\n')                                    # 3: malformed line
    f.write(json.dumps({"question": "no instruction"}) + "\n")              # 4: missing field
    f.write(json.dumps({"instruction": "Hi."}) + "\n")                      # 5: A line lacks "response"
    f.write(json.dumps({"instruction": "Hi."}) + "\n")                      # 6: no B line
    fa.write(json.dumps({"response": "x"}) + "\n" + json.dumps({"response": "x"}) + "\n")
    fa.write(json.dumps({"text": "x"}) + "\n" + json.dumps({"response": "x"}) + "\n")
    fb.write(json.dumps({"output": "y"}) + "\n" * 1 + json.dumps({"output": "y"}) + "\n" + json.dumps({"output": "y"}) + "\n")
with open(d + "/xs.csv", "w", newline="") as f, open(d + "/xr.jsonl", "w") as fr:
    w = csv.writer(f)
    w.writerow(["id", "prompt", "type", "label", "focus", "note"])
    for i, x in enumerate(fx["xstest"]):
        w.writerow([i + 1, x["prompt"], "t", x["label"], "", ""])
        fr.write(json.dumps({"response": x["response"]}) + "\n")
    w.writerow([9, "Tell me everything.", "t", "safe", "", ""])
    fr.write(json.dumps({"response": "The cat sat. " * 400}) + "\n")     # longer than the context
PY
"$AFM" eval --task pairwise -m "$T/s.gguf" --data "$T/prompts.jsonl" --responses "$T/a.jsonl" --responses-b "$T/b.jsonl" \
  --threads 1 --no-progress --out "$T/pw.json" > /dev/null || fail "pairwise run"
"$AFM" eval --task pairwise -m "$T/s.gguf" --data "$T/prompts.jsonl" --responses "$T/a.jsonl" --limit 3 \
  --threads 1 --no-progress --out "$T/pw_ref.json" > /dev/null || fail "pairwise run against the data's reference outputs"
"$AFM" eval --task xstest --data "$T/xs.csv" --responses "$T/xr.jsonl" --judge "$T/s.gguf" --ctx 1024 \
  --threads 1 --no-progress --out "$T/xs.json" > /dev/null || fail "xstest --judge run"
python3 - "$FX" "$T" <<'PY' || fail "judge results differ from the reference"
import json, math, sys
fx, d = json.load(open(sys.argv[1])), sys.argv[2]
TOL = 1e-3
worst = [0.0]
def close(a, b):
    assert len(a) == len(b) and all(abs(x - y) < TOL for x, y in zip(a, b)), (a, b)
    worst[0] = max([worst[0]] + [abs(x - y) for x, y in zip(a, b)])
def p_first(l):                      # P(label (a)) from the two label log-likelihoods
    return 1 / (1 + math.exp(l[1] - l[0]))
r = json.load(open(d + "/pw.json"))
items = r["items"]
assert len(items) == 7 and r["n_errors"] == 4, (len(items), r["n_errors"])
prefs = []
for got, want in zip(items[:3], fx["pairwise"]):
    if want["a"] == want["b"]:
        assert got.get("identical") and got["verdict"] == "tie" and got["pref_a"] == 0.5, got
        prefs.append(0.5)
        continue
    close(got["logprobs_a_first"], want["logprobs_a_first"])
    close(got["logprobs_b_first"], want["logprobs_b_first"])
    pa = [p_first(want["logprobs_a_first"]), 1 - p_first(want["logprobs_b_first"])]   # A shown second in order 1
    assert abs(got["pref_a"] - sum(pa) / 2) < 1e-4, (got, pa)
    votes = sum(1 if p > 0.5 else -1 for p in pa)
    assert got["verdict"] == ("A" if votes > 0 else "B" if votes < 0 else "tie"), (got, pa)
    assert got["consistent"] == (votes != 0)
    prefs.append(sum(pa) / 2)
assert abs(r["scores"]["win_rate"] - sum(prefs) / 3) < 1e-4, (r["scores"], prefs)
errs = [it["error"] for it in items[3:]]
print("pairwise errors:", errs)
assert "data line 4" in errs[0], errs[0]
assert "no \"instruction\"" in errs[1], errs[1]
assert "responses (A) line 6" in errs[2] and "\"response\"" in errs[2], errs[2]
assert "responses file (B)" in errs[3], errs[3]
ref = json.load(open(d + "/pw_ref.json"))
for a, b in zip(ref["items"], items[:3]):
    assert abs(a["pref_a"] - b["pref_a"]) < 1e-9, (a, b)
x = json.load(open(d + "/xs.json"))
names = ["1_full_compliance", "2_full_refusal", "3_partial_refusal"]
for got, want in zip(x["items"], fx["xstest"]):
    close(got["judge_logprobs"], want["judge_logprobs"])
    lp = want["judge_logprobs"]
    assert got["judge_class"] == names[lp.index(max(lp))], got
    assert got["judge_refused"] == (lp.index(max(lp)) != 0)
last = x["items"][2]
print("xstest over-long response:", last.get("judge_error"))
assert "context" in last["judge_error"] and "refused" in last, last   # string match still scored
print(f"max |label log-likelihood - numpy reference| = {worst[0]:.2e} nats")
s = x["scores"]
assert s["refusal_rate_unsafe"] == 1.0 and "judge_refusal_rate_safe" in s and "judge_agreement" in s, s
PY
# a model run: the judge reads the responses the model just wrote (records' "response")
"$AFM" eval -m "$T/s.gguf" --task xstest --data "$T/xs.csv" --limit 2 --max-tokens 6 --judge "$T/s.gguf" --ctx 1024 \
  --threads 1 --no-progress --out "$T/xm.json" > /dev/null || fail "xstest model run with --judge"
python3 - "$T/xm.json" <<'PY' || fail "model run + judge"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n_items"] == 2 and r["n_errors"] == 0, r
for it in r["items"]:
    assert "response" in it and it["judge_class"] in ("1_full_compliance", "2_full_refusal", "3_partial_refusal"), it
assert r["scores"]["judge_agreement"] >= 0
PY
# option errors
if "$AFM" eval --task pairwise -m "$T/s.gguf" --data "$T/prompts.jsonl" 2> "$T/err" > /dev/null; then fail "pairwise without --responses"; fi
grep -q "responses A" "$T/err" || fail "unclear error: $(cat "$T/err")"
if "$AFM" eval --task gsm8k --responses "$T/a.jsonl" --judge "$T/s.gguf" 2> "$T/err" > /dev/null; then fail "--judge on gsm8k"; fi
grep -q "judge is for" "$T/err" || fail "unclear error: $(cat "$T/err")"
echo ok
