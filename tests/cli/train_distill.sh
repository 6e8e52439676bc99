#!/usr/bin/env bash
# afm train with a "distill" recipe (src/train/distill.h): a tiny teacher is trained first, then a
# smaller student learns from it in both modes; metrics.jsonl carries "kl" (KL(teacher || student)
# at T = 1) and it falls. Bad distill settings fail with clear messages. With mpirun present, a
# 2-process distillation run gives the same losses as one process.
set -euo pipefail
AFM=${AFM_BIN:?}
SHARED=${AFM_SHARED:?}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$AFM" data prepare --tokenizer "$SHARED/models/stories260K/tok512.bin" --out "$W/data" --source moby \
  "$SHARED/data/pretrain/moby-dick.jsonl" 2>"$W/prep.log" || { cat "$W/prep.log"; fail "data prepare"; }
cat > "$W/teacher.json" <<'JSON'
{"model": {"dim": 48, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "head_dim": 12, "ffn_dim": 96, "max_seq_len": 32},
 "optimizer": {"kind": "adamw"}, "seed": 1, "eval_every": 0, "checkpoint_every": 0,
 "stages": [{"name": "core", "steps": 40, "seq_len": 32, "batch_size": 4, "lr": 0.01, "warmup": 4}]}
JSON
"$AFM" train --recipe "$W/teacher.json" --data "$W/data" --out "$W/teacher" --threads 1 --quiet 2>"$W/t.log" || { cat "$W/t.log"; fail "teacher"; }
TEACHER="$W/teacher/ckpt/step-000000040/model.gguf"
[ -f "$TEACHER" ] || fail "no teacher model"

student() { # $1 = distill object, $2 = extra top-level keys
  cat <<JSON
{"model": {"dim": 32, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "head_dim": 16, "ffn_dim": 64, "max_seq_len": 32},
 "optimizer": {"kind": "adamw"}, "seed": 2, "eval_every": 0, "checkpoint_every": 0, $2
 "distill": $1,
 "stages": [{"name": "core", "steps": 30, "seq_len": 32, "batch_size": 4, "lr": 0.01, "warmup": 3}]}
JSON
}
kls() { grep '"split":"train"' "$1/metrics.jsonl" | sed 's/.*"kl":\([-0-9.e+]*\).*/\1/'; }
# baseline: kl with alpha 1 is plain cross-entropy on the data (the teacher only measured)
i=0
for mode in '{"teacher": "'"$TEACHER"'", "mode": "kl", "alpha": 1}' '{"teacher": "'"$TEACHER"'", "mode": "afm"}' \
            '{"teacher": "'"$TEACHER"'", "mode": "kl", "temperature": 2, "alpha": 0.2}'; do
  student "$mode" "" > "$W/s.json"
  "$AFM" train --recipe "$W/s.json" --data "$W/data" --out "$W/s$i" --threads 1 --quiet 2>"$W/s.log" || { cat "$W/s.log"; fail "student $mode"; }
  [ "$(kls "$W/s$i" | wc -l)" = 30 ] || fail "expected 30 train lines with \"kl\" ($mode)"
  i=$((i + 1))
done
python3 - "$W" <<'PY' || fail "distillation did not bring the student closer to the teacher"
import re, sys
def stat(run, key):
    k = [float(re.search(f'"{key}":([-0-9.e+]+)', l).group(1)) for l in open(f"{sys.argv[1]}/{run}/metrics.jsonl") if '"train"' in l]
    return sum(k[:5]) / 5, sum(k[-5:]) / 5
runs = [("cross-entropy only", "s0"), ("afm", "s1"), ("kl T=2", "s2")]
kl = {n: stat(r, "kl") for n, r in runs}
top1 = {n: stat(r, "top1") for n, r in runs}
for n, _ in runs:
    print(f"{n:>18}: KL(teacher || student) first/last 5 steps {kl[n][0]:.4f} -> {kl[n][1]:.4f}; "
          f"argmax agreement {top1[n][0]:.3f} -> {top1[n][1]:.3f}")
base = "cross-entropy only"
ok = kl["kl T=2"][1] < 0.5 * kl["kl T=2"][0] and kl["kl T=2"][1] < 0.7 * kl[base][1]  # soft targets: much closer than CE alone
ok = ok and kl["afm"][1] < kl["afm"][0] and top1["afm"][1] > top1[base][1] + 0.05  # top-1 targets: agrees more with the teacher
sys.exit(0 if ok else 1)
PY

# bad settings
expect_error() { # $1 recipe file, $2 message
  "$AFM" train --recipe "$1" --data "$W/data" --out "$W/bad" --threads 1 --quiet 2>"$W/bad.log" && fail "accepted: $(cat "$1")"
  grep -q "$2" "$W/bad.log" || { cat "$W/bad.log"; fail "unclear message, expected '$2'"; }
  rm -rf "$W/bad"
}
student '{"teacher": "'"$W"'/missing.gguf", "mode": "afm"}' "" > "$W/b1.json"; expect_error "$W/b1.json" "distill teacher"
student '{"teacher": "'"$TEACHER"'", "mode": "kl", "temperature": -1}' "" > "$W/b2.json"; expect_error "$W/b2.json" "distill.temperature"
student '{"teacher": "'"$TEACHER"'", "mode": "afm", "alpha": 0.5}' "" > "$W/b3.json"; expect_error "$W/b3.json" 'unknown key "alpha"'
student '{"teacher": "'"$TEACHER"'", "mode": "afm"}' '"z_loss": 1e-4,' > "$W/b4.json"; expect_error "$W/b4.json" "z_loss must be 0 with distill"

if command -v mpirun >/dev/null; then
  student '{"teacher": "'"$TEACHER"'", "mode": "kl", "temperature": 2, "alpha": 0.2}' "" > "$W/s.json"
  rm -rf "$W/one" "$W/two"
  "$AFM" train --recipe "$W/s.json" --data "$W/data" --out "$W/one" --threads 1 --quiet --max-steps 10 2>/dev/null || fail "one process"
  if mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,vader --mca btl_vader_single_copy_mechanism none "$AFM" train --recipe "$W/s.json" --data "$W/data" \
       --out "$W/two" --threads 1 --quiet --max-steps 10 >"$W/two.log" 2>&1; then
    paste <(grep '"split":"train"' "$W/one/metrics.jsonl" | sed 's/.*"loss":\([-0-9.e+]*\).*/\1/') \
          <(grep '"split":"train"' "$W/two/metrics.jsonl" | sed 's/.*"loss":\([-0-9.e+]*\).*/\1/') | python3 -c '
import sys
n = 0
for line in sys.stdin:
    a, b = map(float, line.split()); n += 1
    if abs(a - b) > 1e-6 * abs(a): sys.exit(f"distillation: one process {a!r}, two processes {b!r}")
sys.exit(0 if n == 10 else "expected 10 lines")' || fail "2-process distillation differs from one process"
  elif ! grep -q "built without MPI" "$W/two.log"; then cat "$W/two.log"; fail "mpirun distillation"; fi
fi
echo ok
