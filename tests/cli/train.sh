#!/usr/bin/env bash
# afm data prepare + afm train end to end on a micro AFM (tok512 from stories260K, Moby-Dick):
#  - a run stopped at --max-steps and resumed equals the uninterrupted run bit for bit
#    (every train/val loss in metrics.jsonl and the final model.gguf);
#  - a run killed with SIGKILL at random moments (also during checkpoint writes) and resumed
#    each time equals it too;
#  - SIGINT writes a checkpoint at the current step and exits cleanly;
#  - a corrupt newest checkpoint is skipped for the previous valid one;
#  - bad input (unknown recipe key, impossible shape, truncated shard, another tokenizer's data,
#    reusing a run folder without --resume) fails with a clear message;
#  - --dry-run of the published 3B recipe prints its parameter count.
set -euo pipefail
AFM=${AFM_BIN:?}
SHARED=${AFM_SHARED:?}
SRC=${AFM_SOURCE_DIR:?}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$AFM" data prepare --tokenizer "$SHARED/models/stories260K/tok512.bin" --out "$W/data" --source moby \
  "$SHARED/data/pretrain/moby-dick.jsonl" 2>"$W/prep.log" || { cat "$W/prep.log"; fail "data prepare"; }
grep -q '"n_vocab":	512' "$W/data/data.json" || fail "data.json lacks n_vocab 512"

cat > "$W/micro.json" <<'JSON'
{"model": {"dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "head_dim": 8, "ffn_dim": 64, "max_seq_len": 64},
 "optimizer": {"kind": "afm"}, "seed": 7, "z_loss": 1e-4, "val_fraction": 0.02,
 "eval_every": 5, "eval_batches": 2, "checkpoint_every": 3,
 "stages": [{"name": "core", "steps": 10, "seq_len": 32, "batch_size": 4, "lr": 0.01, "warmup": 3, "floor": 0.1},
            {"name": "long", "steps": 6, "seq_len": 64, "batch_size": 2, "grad_accum": 2, "lr": 0.003,
             "schedule": "linear", "rope_theta": 6315089}]}
JSON
losses() { grep -o '"split":"[a-z]*","step":[0-9]*,"stage":"[a-z]*","loss":[-0-9.e+]*' "$1/metrics.jsonl"; }
final_model() { ls -d "$1"/ckpt/step-* | tail -n 1; }

"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/A" --threads 1 --quiet 2>"$W/A.log" || { cat "$W/A.log"; fail "uninterrupted run"; }
[ "$(losses "$W/A" | grep -c train)" = 16 ] || fail "expected 16 train lines"
[ "$(losses "$W/A" | grep -c val)" = 3 ] || fail "expected 3 val lines"
first=$(losses "$W/A" | head -n 1 | sed 's/.*"loss"://'); last=$(losses "$W/A" | grep train | tail -n 1 | sed 's/.*"loss"://')
python3 -c "import sys; sys.exit(0 if $last < $first - 0.15 else 1)" || fail "loss did not fall ($first -> $last)"

# stop at --max-steps 7, resume to the end
"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/B" --threads 1 --quiet --max-steps 7 2>/dev/null || fail "run B part 1"
"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/B" --threads 1 --quiet 2>/dev/null && fail "reusing a run folder without --resume was accepted"
"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/B" --threads 1 --quiet --resume 2>"$W/B.log" || { cat "$W/B.log"; fail "run B resume"; }
diff <(losses "$W/A") <(losses "$W/B") >/dev/null || fail "resumed run B differs from the uninterrupted run"
cmp -s "$(final_model "$W/A")/model.gguf" "$(final_model "$W/B")/model.gguf" || fail "final model of run B differs"

# SIGKILL at random moments, resume until done
kills=0
for attempt in $(seq 1 40); do
  args=(--recipe "$W/micro.json" --data "$W/data" --out "$W/C" --threads 1 --quiet)
  [ -d "$W/C/ckpt" ] && ls "$W/C/ckpt" | grep -q '^step-' && args+=(--resume)
  "$AFM" train "${args[@]}" 2>/dev/null &
  pid=$!
  sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ -d "$W/C/ckpt/step-000000016" ] && break
done
if [ ! -d "$W/C/ckpt/step-000000016" ]; then
  args=(--recipe "$W/micro.json" --data "$W/data" --out "$W/C" --threads 1 --quiet)
  ls "$W/C/ckpt" 2>/dev/null | grep -q '^step-' && args+=(--resume)
  "$AFM" train "${args[@]}" 2>"$W/c.log" || { cat "$W/c.log"; fail "run C final resume"; }
fi
diff <(losses "$W/A") <(losses "$W/C") >/dev/null || fail "run C (killed $kills times) differs from the uninterrupted run"
cmp -s "$(final_model "$W/A")/model.gguf" "$(final_model "$W/C")/model.gguf" || fail "final model of run C differs"
echo "killed $kills times with SIGKILL; resumed run equals the uninterrupted one"

# SIGINT: checkpoint at the current step, message, exit 0
sed 's/"steps": 10,/"steps": 100000,/' "$W/micro.json" > "$W/long.json"
"$AFM" train --recipe "$W/long.json" --data "$W/data" --out "$W/S" --threads 1 --quiet 2>"$W/s.log" &
pid=$!
# wait for the first logged step (up to 2 minutes: CI machines can be slow to start a process)
for _ in $(seq 1 1200); do [ -s "$W/S/metrics.jsonl" ] && break; sleep 0.1; done
[ -s "$W/S/metrics.jsonl" ] || fail "no step logged within 2 minutes"
kill -INT "$pid"
wait "$pid" || { cat "$W/s.log"; fail "SIGINT run exited non-zero"; }
grep -q 'stopped by signal' "$W/s.log" || fail "no stop message after SIGINT"
n=$(grep -c '"split":"train"' "$W/S/metrics.jsonl")
[ -d "$W/S/ckpt/step-$(printf %09d "$n")" ] || fail "no checkpoint at step $n after SIGINT"

# corrupt newest checkpoint: resume falls back to the previous one and still matches
"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/D" --threads 1 --quiet --max-steps 9 2>/dev/null || fail "run D"
truncate -s 100 "$W/D/ckpt/step-000000009/state.bin"
"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/D" --threads 1 --quiet --resume 2>/dev/null || fail "run D resume after corruption"
diff <(losses "$W/A") <(losses "$W/D") >/dev/null || fail "run D differs after resuming from the older checkpoint"

# activation checkpointing: the same run, recomputing each layer in the backward, equals run A bit for bit
"$AFM" train --recipe "$W/micro.json" --data "$W/data" --out "$W/K" --threads 1 --quiet --checkpoint-activations 2>"$W/K.log" || { cat "$W/K.log"; fail "run K (--checkpoint-activations)"; }
diff <(losses "$W/A") <(losses "$W/K") >/dev/null || fail "run K (--checkpoint-activations) differs from run A"
cmp -s "$(final_model "$W/A")/model.gguf" "$(final_model "$W/K")/model.gguf" || fail "final model of run K differs"
sed 's/"seed": 7/"seed": 7, "checkpoint_activations": 1/' "$W/micro.json" > "$W/bad0.json"
"$AFM" train --recipe "$W/bad0.json" --data "$W/data" --out "$W/E" 2>"$W/e.log" && fail "checkpoint_activations 1 accepted"
grep -q 'checkpoint_activations must be true or false' "$W/e.log" || fail "checkpoint_activations message: $(cat "$W/e.log")"

# bad input
sed 's/"seed": 7/"seed": 7, "sede": 1/' "$W/micro.json" > "$W/bad1.json"
"$AFM" train --recipe "$W/bad1.json" --data "$W/data" --out "$W/E" 2>"$W/e.log" && fail "unknown key accepted"
grep -q 'unknown key "sede"' "$W/e.log" || fail "unknown key message: $(cat "$W/e.log")"
sed 's/"n_kv_heads": 2/"n_kv_heads": 3/' "$W/micro.json" > "$W/bad2.json"
"$AFM" train --recipe "$W/bad2.json" --data "$W/data" --out "$W/E" 2>"$W/e.log" && fail "impossible shape accepted"
grep -q 'multiple of n_kv_heads' "$W/e.log" || fail "shape message: $(cat "$W/e.log")"
cp -r "$W/data" "$W/data2"; truncate -s -5 "$W/data2/moby.tok"
"$AFM" train --recipe "$W/micro.json" --data "$W/data2" --out "$W/E" 2>"$W/e.log" && fail "truncated shard accepted"
grep -q 'truncated or corrupt' "$W/e.log" || fail "truncated shard message: $(cat "$W/e.log")"
cp -r "$W/data" "$W/data3"; sed -i 's/"vocab_hash":	"[0-9a-f]*"/"vocab_hash":	"0123456789abcdef"/' "$W/data3/data.json"
"$AFM" train --recipe "$W/micro.json" --data "$W/data3" --out "$W/E" 2>"$W/e.log" && fail "shard of another tokenizer accepted"
grep -q 'another tokenizer' "$W/e.log" || fail "tokenizer mismatch message: $(cat "$W/e.log")"
[ ! -e "$W/E/ckpt" ] || fail "a failed run wrote checkpoints"

"$AFM" train --recipe "$SRC/configs/recipes/afm-on-device-3b.json" --dry-run > "$W/plan.txt" || fail "3B dry run"
grep -q 'parameters: 2737739264' "$W/plan.txt" || fail "3B parameter count: $(cat "$W/plan.txt")"
grep -q 'output layer: in chunks of 256 tokens' "$W/plan.txt" || fail "3B output-layer line: $(cat "$W/plan.txt")"
# the output matrix packed once per step only where the backward scratch holds it (core stage: 553.9 of 1152 MiB)
grep -q 'activations 21.74 GiB; output matrix packed once per step: 553.9 of 1152.0 MiB' "$W/plan.txt" || fail "3B core-stage memory line: $(cat "$W/plan.txt")"
"$AFM" train --recipe "$SRC/configs/recipes/afm-on-device-3b.json" --dry-run --checkpoint-activations > "$W/plan2.txt" || fail "3B dry run, checkpointing"
grep -q 'activation checkpointing: activations' "$W/plan2.txt" || fail "3B checkpointing line: $(cat "$W/plan2.txt")"
"$AFM" train --recipe "$SRC/configs/recipes/tiny.json" --data "$W/data" --dry-run > /dev/null || fail "tiny dry run"
echo "ok"
