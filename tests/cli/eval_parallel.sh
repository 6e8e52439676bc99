#!/usr/bin/env bash
# afm eval with several sessions (--parallel, src/eval/worksplit.c): on an MMLU folder of two
# subjects of unequal size, records come back in data order and equal a one-session run's item
# for item -- up to float rounding on stories260K (its f16 matrices' GEMM order depends on the batch
# size), and bit for bit on SmolLM2-135M Q4_1 when models/ has it (its kernels compute a token's
# row the same way in any batch). results.json reports the range splits and each session's
# finish time.
set -euo pipefail
AFM=${AFM_BIN:?}
SRC=${AFM_SOURCE_DIR:?}
SH=${AFM_SHARED:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$T/mmlu/test" "$T/mmlu/dev"
head -n 3 "$SH/data/mmlu/test/abstract_algebra_test.csv" > "$T/mmlu/test/abstract_algebra_test.csv"
head -n 6 "$SH/data/mmlu/test/anatomy_test.csv" > "$T/mmlu/test/anatomy_test.csv"
cp "$SH/data/mmlu/dev/abstract_algebra_dev.csv" "$SH/data/mmlu/dev/anatomy_dev.csv" "$T/mmlu/dev/"

check() { # one-session json, several-sessions json, max allowed |logprob difference|
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
one, par, tol = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3])
assert one["n_items"] == par["n_items"] == 9, (one["n_items"], par["n_items"])
assert [i["index"] for i in par["items"]] == list(range(9)), "records out of data order"
assert [i.get("subject") for i in par["items"]] == [i.get("subject") for i in one["items"]]
assert [i.get("predicted") for i in par["items"]] == [i.get("predicted") for i in one["items"]], "verdicts differ"
d = max(abs(a - b) for x, y in zip(one["items"], par["items"]) for a, b in zip(x["logprobs"], y["logprobs"]))
assert d <= tol, f"several sessions differ from one by {d} (allowed {tol})"
assert one["scores"] == par["scores"], (one["scores"], par["scores"])
p = par["config"]["profile"]
assert par["config"]["sessions"] == 3 and len(p["sessions_done_seconds"]) == 3, p
assert p["work_steals"] >= 0 and one["config"]["profile"]["work_steals"] == 0, p
print(f"{sys.argv[2]}: 3 sessions vs 1: max |logprob difference| {d}, {p['work_steals']} range split(s)")
PY
}

"$AFM" convert "$SH/models/stories260K/stories260K.bin" --tokenizer "$SH/models/stories260K/tok512.bin" -o "$T/s.gguf" > /dev/null 2>&1
for P in 1 3; do
  "$AFM" eval -m "$T/s.gguf" --task mmlu --data "$T/mmlu" --shots 0 --threads $P --parallel $P --no-progress \
    --out "$T/s$P.json" > /dev/null 2>&1 || fail "stories260K run with $P session(s)"
done
check "$T/s1.json" "$T/s3.json" 1e-4 || fail "stories260K: several sessions disagree with one"

M=$SRC/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$M" ] || { echo "skip SmolLM2 part: $M is missing"; echo "eval parallel: ok"; exit 0; }
for P in 1 3; do
  "$AFM" eval -m "$M" --task mmlu --data "$T/mmlu" --threads $P --parallel $P --no-progress --out "$T/m$P.json" > /dev/null 2>&1 \
    || fail "SmolLM2 run with $P session(s)"
done
check "$T/m1.json" "$T/m3.json" 0 || fail "SmolLM2 Q4_1: several sessions are not bit-identical to one"
echo "eval parallel: ok"
