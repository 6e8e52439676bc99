#!/usr/bin/env bash
# afm eval --task bfcl in scorer-only mode gives the same verdict as the bfcl-eval package's
# AST checker (fixtures from scripts/reference/bfcl_reference.py) on every response: hand-made
# and perturbed calls for every single-turn category and real SmolLM2-135M-Instruct outputs.
# Also: BFCL's summary scores, --category on the shared data, and bad input reported per item.
set -euo pipefail
AFM=${AFM_BIN:?}
SRC=${AFM_SOURCE_DIR:?}
FIX=$SRC/tests/fixtures/eval
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. every verdict equals bfcl-eval's (the data file has each response's item, in order)
python3 - "$FIX" "$T" <<'PY'
import json, sys
fix, t = sys.argv[1], sys.argv[2]
items = open(fix + "/bfcl_items.jsonl").read().splitlines()
with open(t + "/items.jsonl", "w") as d:
    for l in open(fix + "/bfcl_responses.jsonl"):
        d.write(items[json.loads(l)["item"]] + "\n")
PY
"$AFM" eval --task bfcl --data "$T/items.jsonl" --responses "$FIX/bfcl_responses.jsonl" --out "$T/r.json" > "$T/r.txt"
grep -q non_live_ast "$T/r.txt" || fail "no BFCL summary scores printed"
python3 - "$T/r.json" "$FIX" <<'PY' || fail "verdicts differ from bfcl-eval"
import json, sys
r = json.load(open(sys.argv[1]))
fix = sys.argv[2]
want = [json.loads(l) for l in open(fix + "/bfcl_verdicts.jsonl")]
resp = [json.loads(l) for l in open(fix + "/bfcl_responses.jsonl")]
items = r["items"]
assert len(items) == len(want), (len(items), len(want))
bad, et = [], 0
for i, (a, b) in enumerate(zip(items, want)):
    if "error" in a or a["correct"] != b["valid"]:
        bad.append((i, resp[i]["variant"], a.get("error", a.get("error_type")), b))
    elif not b["valid"] and a["error_type"] != b["error_type"]:
        et += 1
for x in bad[:20]:
    print("differs:", x)
n_model = sum(x["variant"].startswith("model:") for x in resp)
print(f"{len(want) - len(bad)}/{len(want)} verdicts equal ({n_model} model outputs); error_type differs on {et}")
assert not bad
assert et == 0
assert n_model > 0
# summary scores: per-category means, BFCL's unweighted non-live and weighted live aggregates
s = r["scores"]
cat = lambda c: s["accuracy_" + c]
simple = (cat("simple_python") + cat("simple_java") + cat("simple_javascript")) / 3
assert abs(s["simple_ast"] - simple) < 1e-12
assert abs(s["non_live_ast"] - (simple + cat("multiple") + cat("parallel") + cat("parallel_multiple")) / 4) < 1e-12
n = r["counts"]
live = ["live_simple", "live_parallel", "live_parallel_multiple"]
w = sum(cat(c) * n["accuracy_" + c] for c in live) / sum(n["accuracy_" + c] for c in live)
assert abs(s["live_ast"] - w) < 1e-12
assert all(k in items[0] for k in ("id", "category", "correct"))
assert any("reason" in it and it["reason"] for it in items if not it["correct"])
PY

# 2. --category on the shared data: the right file and count; correct answers score 1
DATA=${AFM_SHARED:?}/data/bfcl
if [ -d "$DATA" ]; then
  python3 - "$DATA" "$T/perfect.jsonl" <<'PY'
import json, sys
d = sys.argv[1]
with open(sys.argv[2], "w") as f:
    for l in open(d + "/possible_answer/BFCL_v4_simple_python.json"):
        calls = []
        for c in json.loads(l)["ground_truth"]:
            (name, params), = c.items()
            args = ", ".join(f"{k}={v[0]!r}" for k, v in params.items() if v and v[0] != "")
            calls.append(f"{name}({args})")
        f.write(json.dumps({"response": "[" + ", ".join(calls) + "]"}) + "\n")
PY
  "$AFM" eval --task bfcl --category simple --data "$DATA" --responses "$T/perfect.jsonl" --out "$T/p.json" > /dev/null
  python3 - "$T/p.json" <<'PY' || fail "--category simple"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n_items"] == 400 and r["n_errors"] == 0, (r["n_items"], r["n_errors"])
assert r["config"]["category"] == "simple"
assert r["scores"]["accuracy_simple_python"] > 0.97, r["scores"]
PY
  "$AFM" eval --task bfcl --category nosuch --data "$DATA" --responses "$T/perfect.jsonl" > /dev/null 2> "$T/e.txt" && fail "unknown category accepted"
  grep -q "unknown BFCL category" "$T/e.txt" || fail "no clear error for an unknown category"
fi

# 3. bad input is reported per item and never aborts the run
head -n 2 "$T/items.jsonl" > "$T/d.jsonl"
echo '{"id": "simple_python_0", "question": broken' >> "$T/d.jsonl"
echo '{"id": "simple_python_0", "question": [[{"role": "user", "content": "x"}]], "function": []}' >> "$T/d.jsonl"
echo '{"id": "nosuchcategory_1", "question": [[]], "function": []}' >> "$T/d.jsonl"
head -n 1 "$T/items.jsonl" >> "$T/d.jsonl"
printf '%s\n' '{"response": "[f(]"}' '{"response": 7}' '{"response": "x"}' '{"response": "y"}' '{"response": "z"}' > "$T/dr.jsonl"
"$AFM" eval --task bfcl --data "$T/d.jsonl" --responses "$T/dr.jsonl" --out "$T/b.json" > /dev/null 2>&1 || fail "bad input aborted the run"
python3 - "$T/b.json" <<'PY' || fail "bad input not reported per item"
import json, sys
r = json.load(open(sys.argv[1]))
it = r["items"]
assert len(it) == 6 and r["n_errors"] == 5, [x.get("error") for x in it]
assert it[0]["correct"] is False and it[0]["error_type"] == "ast_decoder:decoder_failed"
assert "response" in it[1]["error"]
assert "ground_truth" in it[3]["error"] and "category" in it[4]["error"]
assert "no response line" in it[5]["error"]
PY
echo "ok"
