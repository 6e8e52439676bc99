#!/usr/bin/env bash
# afm eval / generate with --adapter: the perplexity NLL of the fixture token sequence under the
# LoRA fixtures (tests/fixtures/adapter, PyTorch logits from scripts/reference/make_lora_fixtures.py)
# must match the NLL computed from the reference logits, with and without --adapter-scale; bad
# adapter files fail with a clear message.
set -euo pipefail
AFM=${AFM_BIN:?}
FX=${AFM_SOURCE_DIR:?}/tests/fixtures/adapter
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The base's placeholder byte-level vocabulary: id i < 62 is the byte 32 + i, 62 is " A", 63 "TH";
# so this text encodes to exactly the fixture's tokens (no BOS for a gpt2 tokenizer).
python3 - "$FX" "$T" <<'PY'
import json, sys
fx = json.load(open(sys.argv[1] + "/index.json"))
text = "".join(chr(32 + t) if t < 62 else (" A" if t == 62 else "TH") for t in fx["tokens"])
json.dump({"text": text}, open(sys.argv[2] + "/t.jsonl", "w"))
PY
run() { "$AFM" eval -m "$FX/base.gguf" --task perplexity --data "$T/t.jsonl" --threads 1 --no-progress --out "$T/$1.json" "${@:2}" > /dev/null; }
run base
run full --adapter "$FX/lora_full.gguf"
run half --adapter "$FX/lora_full.gguf" --adapter-scale 0.5
run qv --lora "$FX/lora_qv.gguf"
python3 - "$FX" "$T" <<'PY' || fail "perplexity NLL with adapters differs from the PyTorch reference"
import json, math, struct, sys
fx = json.load(open(sys.argv[1] + "/index.json"))
toks, V = fx["tokens"], fx["n_vocab"]
def nll(case):
    raw = open(f"{sys.argv[1]}/logits_{case}.f32", "rb").read()
    lg = struct.unpack(f"<{len(toks) * V}f", raw)
    total = 0.0
    for t in range(len(toks) - 1):
        row = lg[t * V:(t + 1) * V]
        m = max(row)
        total -= row[toks[t + 1]] - m - math.log(sum(math.exp(x - m) for x in row))
    return total
for run, case in (("base", "base"), ("full", "full"), ("half", "full_scale_0.5"), ("qv", "qv")):
    r = json.load(open(f"{sys.argv[2]}/{run}.json"))
    got, want = r["items"][0]["nll"], nll(case)
    print(f"{run:5s} nll afm {got:.6f} reference {want:.6f}")
    assert r["items"][0]["tokens"] == len(toks) - 1, r["items"][0]
    assert abs(got - want) < 1e-4 * max(1.0, abs(want)), (run, got, want)
    if run != "base":
        assert r["config"]["adapter"].endswith(".gguf")
PY
# generate and chat take the adapter too (greedy: deterministic)
"$AFM" generate -m "$FX/base.gguf" -p "AB" -n 6 --temp 0 --adapter "$FX/lora_qv.gguf" > "$T/g.txt" 2> /dev/null || fail "generate --adapter"
# bad adapters: a model file, a missing file
if "$AFM" eval -m "$FX/base.gguf" --task perplexity --data "$T/t.jsonl" --no-progress --adapter "$FX/base.gguf" 2> "$T/err" > /dev/null; then
  fail "a model file accepted as adapter"
fi
grep -q 'general.type' "$T/err" || fail "unclear error: $(cat "$T/err")"
if "$AFM" generate -m "$FX/base.gguf" -p "A" -n 1 --adapter "$T/none.gguf" 2> "$T/err" > /dev/null; then fail "missing adapter accepted"; fi
grep -q "none.gguf" "$T/err" || fail "unclear error: $(cat "$T/err")"
echo ok
