#!/usr/bin/env bash
# afm eval in scorer-only mode (--responses): ROUGE on all AESLC dev emails against the
# rouge-score package's means, bad input reported per item, --compare, and clear errors.
set -euo pipefail
AFM=${AFM_BIN:?}
DATA=${AFM_SHARED:?}/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. subject lines as summaries; expected means from rouge-score 0.1.2 (score_multi over ann0..ann2)
python3 -c "
import json
with open('$T/subj.jsonl', 'w') as f:
    for l in open('$DATA/messages/aeslc_dev.jsonl'):
        f.write(json.dumps({'response': json.loads(l)['subject']}) + '\n')
"
"$AFM" eval --task rouge --data "$DATA/messages/aeslc_dev.jsonl" --responses "$T/subj.jsonl" --out "$T/a.json" > "$T/a.txt"
grep -q rouge1 "$T/a.txt" || fail "no table printed"
python3 - "$T/a.json" <<'PY' || fail "rouge means differ from rouge-score"
import json, sys
r = json.load(open(sys.argv[1]))
want = {"rouge1": 0.36873353206947634, "rouge2": 0.17797405249194312, "rougeL": 0.3527331017125844}
for k, v in want.items():
    assert abs(r["scores"][k] - v) < 1e-9, (k, r["scores"][k], v)
assert abs(r["stderr"]["rouge1"] - 0.006586641718973713) < 1e-9
assert r["n_items"] == 1960 and r["n_errors"] == 0 and len(r["items"]) == 1960
assert r["config"]["task"] == "rouge"
PY

# 2. bad input: malformed JSON, missing field, blank line, a non-object, too few lines
head -n 6 "$DATA/messages/aeslc_dev.jsonl" > "$T/d.jsonl"
echo '{"email": "x", "ann0": broken' >> "$T/d.jsonl"
head -n 8 "$DATA/messages/aeslc_dev.jsonl" | tail -n 1 >> "$T/d.jsonl"
printf '%s\n' '{"response": "meeting confirmation"}' '{"response": 5}' '' '{"response": "ok"' '[1,2]' \
  '{"response": "draw file"}' '{"response": "anything"}' > "$T/r.jsonl"
"$AFM" eval --task rouge --data "$T/d.jsonl" --responses "$T/r.jsonl" --out "$T/b.json" > /dev/null 2> "$T/b.err" || fail "bad lines aborted the run"
python3 - "$T/b.json" <<'PY' || fail "bad input not reported per item"
import json, sys
r = json.load(open(sys.argv[1]))
items = r["items"]
assert r["n_items"] == 8, r["n_items"]
errs = [i for i, it in enumerate(items) if "error" in it]
assert errs == [1, 2, 3, 4, 6, 7], errs
assert "no \"response\" string" in items[1]["error"]
assert "blank line" in items[2]["error"]
assert "malformed JSON" in items[3]["error"]
assert "not a JSON object" in items[4]["error"]
assert "data line 7" in items[6]["error"]
assert "no response line" in items[7]["error"]
assert r["counts"]["rouge1"] == 2 and r["n_errors"] == 6
assert items[0]["rouge1"] > 0.5
PY

# 3. an empty responses file: every item is an error, the run still finishes
: > "$T/empty.jsonl"
"$AFM" eval --task rouge --data "$T/d.jsonl" --responses "$T/empty.jsonl" --out "$T/c.json" > /dev/null 2>&1 || fail "empty responses aborted"
python3 -c "import json; r = json.load(open('$T/c.json')); assert r['n_errors'] == 8 and r['scores'] == {}" || fail "empty responses"

# 4. empty data and missing files: a clear error and a non-zero exit
if "$AFM" eval --task rouge --data "$T/empty.jsonl" --responses "$T/r.jsonl" 2> "$T/e.err"; then fail "empty data accepted"; fi
grep -q "no data items" "$T/e.err" || fail "empty data message: $(cat "$T/e.err")"
if "$AFM" eval --task rouge --data "$T/nope.jsonl" --responses "$T/r.jsonl" 2> "$T/e.err"; then fail "missing file accepted"; fi
grep -q "nope.jsonl" "$T/e.err" || fail "missing file message: $(cat "$T/e.err")"
if "$AFM" eval --task nosuch --responses "$T/r.jsonl" 2> /dev/null; then fail "unknown task accepted"; fi

# 5. --compare
"$AFM" eval --compare "$T/a.json" "$T/b.json" > "$T/cmp.txt" || fail "compare failed"
grep -q "rouge1" "$T/cmp.txt" || fail "compare output: $(cat "$T/cmp.txt")"
if "$AFM" eval --compare "$T/a.json" "$T/r.jsonl" 2> /dev/null; then fail "compare accepted a non-results file"; fi
echo "eval scorer CLI: ok"
