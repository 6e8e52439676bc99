#!/usr/bin/env bash
# The afm eval suite on SmolLM2-135M-Instruct (Q4_1), on bounded subsets that fit a shared 2-core
# machine; results.json files go to OUT (default docs/results/smollm2). Deterministic subsets:
#   mmlu:  12 subjects (every 5th of the 57, alphabetical), first 10 test questions each, 5-shot
#   xstest: every 9th prompt (50 of 450: safe and unsafe mixed)
#   perplexity: the first 8,192 characters of tinyshakespeare, windows of 1024 tokens
#   others: the first N items (--limit), generation capped where noted (--max-tokens).
# usage: scripts/eval_smollm2_suite.sh [MODEL] [OUT] [THREADS]   (TASKS="mmlu boolq ..." to choose;
#   larger subsets: N_BOOLQ, N_GSM8K, N_MATH, N_IFEVAL, N_ROUGE (first N items), XSTEST_STEP (every k-th))
set -euo pipefail
MODEL=${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=${2:-docs/results/smollm2}
THREADS=${3:-2}
AFM=${AFM_BIN:-build/afm}
DATA=${AFM_SHARED:-../shared}/data
TASKS=${TASKS:-"mmlu boolq gsm8k math ifeval xstest rouge perplexity"}
mkdir -p "$OUT"
SUB=$(mktemp -d)
trap 'rm -rf "$SUB"' EXIT
python3 - "$DATA" "$SUB" <<'PY'
import csv, glob, os, sys
data, sub = sys.argv[1:3]
subjects = sorted(os.path.basename(f)[:-9] for f in glob.glob(f"{data}/mmlu/test/*_test.csv"))[::5]
os.makedirs(f"{sub}/mmlu/test"); os.symlink(os.path.abspath(f"{data}/mmlu/dev"), f"{sub}/mmlu/dev")
for s in subjects:
    rows = list(csv.reader(open(f"{data}/mmlu/test/{s}_test.csv", newline="", encoding="utf-8")))[:10]
    csv.writer(open(f"{sub}/mmlu/test/{s}_test.csv", "w", newline="", encoding="utf-8"), lineterminator="\n").writerows(rows)
rows = list(csv.reader(open(f"{data}/safety/xstest_prompts.csv", newline="", encoding="utf-8")))
step = int(os.environ.get("XSTEST_STEP", "9"))
csv.writer(open(f"{sub}/xstest.csv", "w", newline="", encoding="utf-8"), lineterminator="\n").writerows([rows[0]] + rows[1::step])
open(f"{sub}/shakespeare.txt", "w").write(open(f"{data}/text/tinyshakespeare.txt").read()[:8192])
PY
run() {  # task, extra options...
  local t=$1; shift
  echo "== $t $* (load $(cut -d' ' -f1 /proc/loadavg))"
  /usr/bin/time -f "$t: %e s wall, %U s user, %S s sys" "$AFM" eval -m "$MODEL" --task "$t" --threads "$THREADS" --no-progress \
    --out "$OUT/$t.json" "$@" | grep -v '^task '
}
for t in $TASKS; do
  case $t in
    mmlu) run mmlu --data "$SUB/mmlu" ;;
    boolq) run boolq --limit "${N_BOOLQ:-40}" ;;
    gsm8k) run gsm8k --limit "${N_GSM8K:-10}" ;;
    math) run math --limit "${N_MATH:-6}" --max-tokens 384 ;;
    ifeval) run ifeval --limit "${N_IFEVAL:-10}" --max-tokens 256 ;;
    xstest) run xstest --data "$SUB/xstest.csv" --max-tokens 48 ;;
    rouge) run rouge --limit "${N_ROUGE:-25}" ;;
    perplexity) run perplexity --data "$SUB/shakespeare.txt" --ctx 1024 ;;
  esac
done
