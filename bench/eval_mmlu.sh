#!/usr/bin/env bash
# MMLU 5-shot by log-likelihood, with and without KV-prefix sharing, in one invocation on the
# same items: prints wall and CPU seconds of each, where the time goes (tokens through the model
# per question, tokens reused from the cache, seconds in the forward pass and the tokenizer) and
# the speedup. Sharing evaluates each question's prompt once (the four one-token answers " A".." D"
# are read off its next-token distribution) and reuses the subject's 5-shot prefix across
# questions; the baseline evaluates prompt + choice from an empty cache for every choice.
# SKIP_SEPARATE=1 runs the shared mode only (for large N). KEEP=DIR keeps the results JSON there
# (for bench/mmlu_extrapolate.py).
# usage: bench/eval_mmlu.sh MODEL.gguf [N_ITEMS (0: all 14079)] [THREADS] [DATA (MMLU folder)]
set -euo pipefail
MODEL=${1:?model}
N=${2:-40}
THREADS=${3:-2}
AFM=${AFM_BIN:-build/afm}
DATA=${4:-${AFM_SHARED:-../shared}/data/mmlu}
T=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && cp "$T"/*.json "$KEEP"/ 2>/dev/null; rm -rf "$T"' EXIT
run() {
  /usr/bin/time -f "%e %U %S" -o "$T/time.$1" "$AFM" eval -m "$MODEL" --task mmlu --data "$DATA" --limit "$N" \
    --threads "$THREADS" --no-progress $2 --out "$T/$1.json" > /dev/null
}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
run shared ""
[ "${SKIP_SEPARATE:-0}" = 1 ] || run separate --no-prefix-cache
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$T" <<'PY'
import json, os, sys
t = sys.argv[1]
res = {}
for m in ("shared", "separate"):
    if not os.path.exists(f"{t}/{m}.json"):
        continue
    wall, user, sys_ = map(float, open(f"{t}/time.{m}").read().split()[-3:])
    r = json.load(open(f"{t}/{m}.json"))
    p, n = r["config"]["profile"], max(r["n_items"], 1)
    res[m] = (wall, user + sys_, r)
    print(f"{m:9s} items {r['n_items']:6d} accuracy {r['scores'].get('accuracy', float('nan')):.4f} wall {wall:8.1f} s "
          f"cpu {user + sys_:8.1f} s ({(user + sys_) / n:.3f} cpu-s/question)")
    ns = r["config"].get("sessions", 1)
    print(f"          per question: {p['tokens_forward'] / n:.1f} tokens through the model, {p['tokens_reused'] / n:.1f} "
          f"reused from the cache, {p['forward_calls'] / n:.2f} forward calls; {ns} session(s): forward {p['forward_seconds']:.1f} s, "
          f"tokenizer {p['tokenize_seconds']:.1f} s (summed over sessions) of {r['config']['seconds']:.1f} s wall; "
          f"{p['tokens_forward'] / max(user + sys_, 1e-9):.0f} tokens per cpu-second")
    if "sessions_done_seconds" in p:
        print(f"          {p['tokens_forward'] / wall:.0f} forwarded tokens per wall second; range splits {p['work_steals']:.0f}, "
              f"sessions ran out of items at {', '.join(f'{x:.1f}' for x in p['sessions_done_seconds'])} s")
    if r["n_items"] and m == "shared":
        print(f"          full MMLU (14079 questions) at this rate: {14079 * wall / n / 60:.1f} min wall, "
              f"{14079 * (user + sys_) / n / 60:.1f} cpu-min (these questions' mix; later subjects cost more per "
              f"question and per token: bench/mmlu_extrapolate.py on shared.json, kept with KEEP=DIR, gives the full mix)")
if "separate" in res:
    a, b = res["shared"][2], res["separate"][2]
    diff = max((abs(x - y) for i, j in zip(a["items"], b["items"]) if "logprobs" in i and "logprobs" in j
                for x, y in zip(i["logprobs"], j["logprobs"])), default=0)
    print(f"speedup from prefix sharing: wall {res['separate'][0] / res['shared'][0]:.2f}x, cpu {res['separate'][1] / res['shared'][1]:.2f}x; "
          f"max |logprob difference| {diff:.2e}")
PY
