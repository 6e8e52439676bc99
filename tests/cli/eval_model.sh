#!/usr/bin/env bash
# afm eval model runs on stories260K against an independent numpy forward pass and llama2.c's
# tokenizer algorithm (scripts/reference/eval_loglik_stories.py): per-choice log-likelihoods
# with and without KV-prefix sharing, perplexity / bits per byte, generation and bad input.
set -euo pipefail
AFM=${AFM_BIN:?}
SRC=${AFM_SOURCE_DIR:?}
S=${AFM_SHARED:?}/models/stories260K
FX=$SRC/tests/fixtures/eval/stories260k_loglik.json
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$AFM" convert "$S/stories260K.bin" --tokenizer "$S/tok512.bin" -o "$T/s.gguf" > /dev/null 2>&1
python3 - "$FX" "$T" <<'PY'
import json, sys
fx = json.load(open(sys.argv[1]))
with open(sys.argv[2] + "/bq.jsonl", "w") as f:
    for it in fx["items"]:
        f.write(json.dumps({k: it[k] for k in ("passage", "question", "answer")}) + "\n")
    f.write('{"passage": "no question here"}\n')
open(sys.argv[2] + "/t.txt", "w").write(fx["perplexity"]["text"])
PY
for mode in shared separate parallel; do
  flag="--threads 1"; [ $mode = separate ] && flag="--threads 1 --no-prefix-cache"
  [ $mode = parallel ] && flag="--threads 3 --parallel 3"   # three sessions on disjoint items
  "$AFM" eval -m "$T/s.gguf" --task boolq --data "$T/bq.jsonl" --no-progress $flag --out "$T/$mode.json" > /dev/null 2>&1 \
    || fail "boolq run ($mode)"
done
python3 - "$FX" "$T" <<'PY' || fail "log-likelihoods differ from the numpy reference"
import json, sys
fx = json.load(open(sys.argv[1]))
for mode in ("shared", "separate", "parallel"):
    r = json.load(open(f"{sys.argv[2]}/{mode}.json"))
    items = r["items"]
    assert len(items) == len(fx["items"]) + 1, len(items)
    assert "error" in items[-1] and r["n_errors"] == 1, items[-1]
    for got, want in zip(items, fx["items"]):
        for a, b in zip(got["logprobs"], want["logprobs"]):
            assert abs(a - b) < 1e-3, (mode, got["logprobs"], want["logprobs"])
        assert got["gold"] == int(want["answer"])
        assert got["predicted"] == max(range(2), key=lambda c: want["logprobs"][c])
    assert [it["index"] for it in items[:-1]] == list(range(len(fx["items"]))), "records out of data order"
    if mode == "parallel":  # sessions split the items: same numbers as one session, up to float rounding
        one = json.load(open(f"{sys.argv[2]}/shared.json"))  # (a reused prefix was computed in other batches)
        d = max(abs(a - b) for x, y in zip(one["items"], items) if "logprobs" in x for a, b in zip(x["logprobs"], y["logprobs"]))
        assert d < 1e-4, f"parallel run differs by {d}"
        assert [i.get("predicted") for i in one["items"]] == [i.get("predicted") for i in items], "parallel verdicts differ"
        assert one["counts"] == r["counts"] and one["scores"] == r["scores"], (one["scores"], r["scores"])
        print("parallel vs one session: max |diff|", d)
    print(mode, "max |diff|", max(abs(a - b) for g, w in zip(items, fx["items"]) for a, b in zip(g["logprobs"], w["logprobs"])))
PY
"$AFM" eval -m "$T/s.gguf" --task perplexity --data "$T/t.txt" --threads 1 --no-progress --out "$T/p.json" > /dev/null 2>&1 || fail "perplexity run"
python3 - "$FX" "$T/p.json" <<'PY' || fail "perplexity differs from the numpy reference"
import json, math, sys
want = json.load(open(sys.argv[1]))["perplexity"]
r = json.load(open(sys.argv[2]))
it = r["items"][0]
assert it["tokens"] == want["tokens"] and it["bytes"] == want["bytes"], (it, want)
assert abs(it["nll"] - want["nll"]) < 1e-3 * want["tokens"], (it["nll"], want["nll"])
assert abs(r["scores"]["perplexity"] - math.exp(want["nll"] / want["tokens"])) < 1e-3
assert abs(r["scores"]["bits_per_byte"] - want["nll"] / (math.log(2) * want["bytes"])) < 1e-4
PY
# generation: gsm8k with one shot runs, hits the 512-token context and is graded; a prompt longer
# than the context is an item error, not a failed run
"$AFM" eval -m "$T/s.gguf" --task gsm8k --data "$AFM_SHARED/data/math/gsm8k_test.jsonl" --limit 2 --shots 1 \
  --max-tokens 16 --threads 1 --no-progress --out "$T/g.json" > /dev/null 2>&1 || fail "gsm8k run"
python3 -c "
import json; r = json.load(open('$T/g.json'))
assert r['n_items'] == 2 and all('response' in it for it in r['items']), r['items']
assert 'exact_match_flexible' in r['scores']" || fail "gsm8k results"
"$AFM" eval -m "$T/s.gguf" --task gsm8k --data "$AFM_SHARED/data/math/gsm8k_test.jsonl" --limit 1 --shots 8 \
  --threads 1 --no-progress --out "$T/g8.json" > /dev/null 2>&1 || fail "over-long prompt aborted the run"
python3 -c "
import json; r = json.load(open('$T/g8.json'))
assert r['n_errors'] == 1 and 'longer than the context' in r['items'][0]['error'], r['items']" || fail "over-long prompt not reported"
echo "eval model runs: ok"
