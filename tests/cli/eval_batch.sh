#!/usr/bin/env bash
# afm eval --batch (generation items decoded together, afm_session_eval_multi): on SmolLM2-135M
# Q4_1, whose kernels compute a token's row the same way in any batch, every record (response,
# per-item scores, errors, context_full, finish reason and gen_tokens) and every score and the
# "finish" summary must equal the one-at-a-time run's (--batch 1). Three cases: GSM8K 8-shot (the slots take the shared prefix from each other's
# caches: profile tokens_copied > 0); GSM8K 0-shot in a 72-token context, where some prompts do
# not fit (per-item errors) and most generations run into the context end (context_full); IFEval
# (its chat-template head is copied between slots).
# Exit 77 without the model file.
set -euo pipefail
AFM=${AFM_BIN:?}
SRC=${AFM_SOURCE_DIR:?}
SH=${AFM_SHARED:?}
M=$SRC/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$M" ] || { echo "SKIP: $M is missing (scripts/fetch_smollm2.sh)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

check() { # one-at-a-time json, batched json, batch size, expect copied prefix (1/0), expect errors+context_full (1/0)
  python3 - "$@" <<'PY'
import json, sys
one, bat = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
B, copied, edge = int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
assert one["n_items"] == bat["n_items"] > 0, (one["n_items"], bat["n_items"])
for x, y in zip(one["items"], bat["items"]):
    assert x == y, f"item {x.get('index')} differs:\n{x}\n{y}"
assert one["scores"] == bat["scores"] and one["n_errors"] == bat["n_errors"], (one["scores"], bat["scores"])
assert one["config"]["batch"] == 1 and bat["config"]["batch"] == B, (one["config"]["batch"], bat["config"]["batch"])
p1, pb = one["config"]["profile"], bat["config"]["profile"]
assert p1["decode_calls"] == p1["decode_tokens"] == pb["decode_tokens"] > 0, (p1, pb)
assert pb["decode_calls"] < pb["decode_tokens"], f"no step was batched: {pb}"
assert (pb["tokens_copied"] > 0) == copied and p1["tokens_copied"] == 0, pb
# finish reasons: one per generated record, consistent with the cap, the context flag and the summary
cap = one["finish"]["max_tokens"]
assert one["finish"] == bat["finish"], (one["finish"], bat["finish"])
count = {}
for i in one["items"]:
    if "error" in i:
        assert "finish" not in i and "gen_tokens" not in i, i
        continue
    f, g = i["finish"], i["gen_tokens"]
    assert f in ("eos", "stop", "length", "context_full") and isinstance(g, int) and 0 <= g <= cap, i
    assert (f == "context_full") == bool(i.get("context_full")), i
    if f == "length": assert g == cap, i
    if f == "eos": assert g < cap, i  # the cap is checked before the next token is looked at
    count[f] = count.get(f, 0) + 1
fs = one["finish"]
assert all(fs[k] == count.get(k, 0) for k in ("eos", "stop", "length", "context_full")), (fs, count)
assert fs["responses"] == sum(count.values()) == one["n_items"] - one["n_errors"], fs
assert fs["length"] > 0, f"no response hit the cap of {cap}: the case does not test 'length'"
if edge: assert fs["context_full"] > 0, fs
# gen_tokens counts the stop-completing / unfed last token too; the profile counts fed tokens only
fed = sum(i["gen_tokens"] for i in one["items"] if "finish" in i) - fs["stop"] - fs["context_full"]
assert fed == p1["decode_tokens"], (fed, p1["decode_tokens"])
if edge:
    errs = sum("error" in i for i in one["items"])
    full = sum(bool(i.get("context_full")) for i in one["items"])
    assert errs > 0 and full > 0, f"{errs} errors, {full} context_full: the case does not test them"
print(f"{sys.argv[2]}: {bat['n_items']} items equal at batch {B}; {pb['decode_tokens']} tokens in "
      f"{pb['decode_calls']} calls (batch 1: {p1['decode_calls']}); {pb['tokens_copied']} prefix tokens copied")
PY
}

run() { # name, batch, options...
  local name=$1 b=$2
  shift 2
  "$AFM" eval -m "$M" --threads 2 --no-progress --batch "$b" --out "$T/$name$b.json" "$@" > "$T/log" 2>&1 \
    || { cat "$T/log" >&2; fail "$name --batch $b"; }
}

for b in 1 3; do run gsm8k $b --task gsm8k --limit 6 --max-tokens 24 --threads 1; done
grep -Eq "^[0-9]+ of 6 responses hit --max-tokens 24" "$T/log" || fail "no 'responses hit --max-tokens' line: $(cat "$T/log")"
check "$T/gsm8k1.json" "$T/gsm8k3.json" 3 1 0 || fail "gsm8k: --batch 3 differs from --batch 1"
for b in 1 3; do run ctx $b --task gsm8k --limit 8 --shots 0 --ctx 72 --max-tokens 40; done
check "$T/ctx1.json" "$T/ctx3.json" 3 0 1 || fail "gsm8k in a short context: --batch 3 differs from --batch 1"
for b in 1 4; do run ifeval $b --task ifeval --limit 8 --max-tokens 24; done
check "$T/ifeval1.json" "$T/ifeval4.json" 4 1 0 || fail "ifeval: --batch 4 differs from --batch 1"
# scripts/eval_token_caps.py (caps of runs without "finish") on a run whose records hold the truth
python3 "$SRC/scripts/eval_token_caps.py" "$T/ifeval1.json" -m "$M" --afm "$AFM" --data "$SH/data/ifeval/input_data.jsonl" \
  > "$T/caps.txt" || fail "eval_token_caps.py"
grep -q "^records: finish 'length' on" "$T/caps.txt" && grep -q "^prompt-level strict: at the cap" "$T/caps.txt" \
  || fail "eval_token_caps.py output: $(cat "$T/caps.txt")"
"$AFM" eval -m "$M" --task gsm8k --batch 0 > "$T/log" 2>&1 && fail "--batch 0 accepted"
grep -q "batch must be" "$T/log" || fail "--batch 0: unclear message: $(cat "$T/log")"
echo "eval batch: ok"
