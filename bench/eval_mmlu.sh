#!/usr/bin/env bash
# MMLU 5-shot by log-likelihood, with and without KV-prefix sharing, in one invocation on the
# same items: prints wall and CPU seconds of each and the speedup. Sharing evaluates each
# question's prompt once for its four choices and reuses the subject's 5-shot prefix across
# questions; the baseline evaluates prompt + choice from an empty cache for every choice.
# usage: bench/eval_mmlu.sh MODEL.gguf [N_ITEMS (0: all 14079)] [THREADS]
set -euo pipefail
MODEL=${1:?model}
N=${2:-40}
THREADS=${3:-2}
AFM=${AFM_BIN:-build/afm}
DATA=${AFM_SHARED:-../shared}/data/mmlu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
run() {
  /usr/bin/time -f "%e %U" -o "$T/time.$1" "$AFM" eval -m "$MODEL" --task mmlu --data "$DATA" --limit "$N" \
    --threads "$THREADS" --no-progress $2 --out "$T/$1.json" > /dev/null
}
run shared ""
run separate --no-prefix-cache
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
res = {}
for m in ("shared", "separate"):
    wall, user = map(float, open(f"{t}/time.{m}").read().split()[-2:])
    r = json.load(open(f"{t}/{m}.json"))
    res[m] = (wall, user, r["scores"].get("accuracy"), r["n_items"])
    print(f"{m:9s} items {r['n_items']:6d} accuracy {r['scores'].get('accuracy', float('nan')):.4f} wall {wall:8.1f} s cpu {user:8.1f} s")
a, b = json.load(open(f"{t}/shared.json")), json.load(open(f"{t}/separate.json"))
diff = max((abs(x - y) for i, j in zip(a["items"], b["items"]) if "logprobs" in i and "logprobs" in j
            for x, y in zip(i["logprobs"], j["logprobs"])), default=0)
print(f"speedup from prefix sharing: wall {res['separate'][0] / res['shared'][0]:.2f}x, cpu {res['separate'][1] / res['shared'][1]:.2f}x; "
      f"max |logprob difference| {diff:.2e}")
PY
