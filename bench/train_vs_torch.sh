#!/usr/bin/env bash
# Training throughput, afm (bench_train) vs PyTorch CPU f32 (bench/train_torch.py), same config,
# batch, sequence length and threads, interleaved in one invocation: each round runs afm and then
# every PyTorch mode back to back, so all sides see the same machine load.
# With THREADS=1 both sides are timed in CPU time (the machine is shared), else wall clock.
# Usage: bench/train_vs_torch.sh [10m|50m] [B] [T] [STEPS] [THREADS]
# Environment: BUILD (build dir, default build); TORCH_PY (python with torch, default /usr/bin/python3,
# Debian's 1.13; a venv with PyPI torch 2.x for the fast modes); TORCH_MODES (default "ref";
# e.g. "ref fast compile", see train_torch.py); ROUNDS (default 1); BASE_BIN (a second bench_train,
# e.g. a copy built from an earlier commit: each round then runs it first, then BIN, then PyTorch,
# and prints new / base).
set -euo pipefail
cd "$(dirname "$0")/.."
CFG=${1:-10m}; B=${2:-4}; T=${3:-256}; STEPS=${4:-3}; THREADS=${5:-2}
BIN=${BUILD:-build}/bench/bench_train
PY=${TORCH_PY:-/usr/bin/python3}
MODES=${TORCH_MODES:-ref}
ROUNDS=${ROUNDS:-1}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
    if [ -n "${BASE_BIN:-}" ]; then
        base_out=$("$BASE_BIN" train "$CFG" "$B" "$T" "$STEPS" "$THREADS")
        echo "$base_out" | sed 's/^/[base] /'
        ab=$(echo "$base_out" | sed -n 's/.*RESULT tokens_per_s=\([0-9.]*\).*/\1/p')
    fi
    afm_out=$("$BIN" train "$CFG" "$B" "$T" "$STEPS" "$THREADS")
    echo "$afm_out"
    a=$(echo "$afm_out" | sed -n 's/.*RESULT tokens_per_s=\([0-9.]*\).*/\1/p')
    line="round $r $CFG threads $THREADS: afm $a tok/s"
    [ -n "${ab:-}" ] && line="$line (base $ab, new/base $(python3 -c "print('%.3f' % ($a / $ab))"))"
    for mode in $MODES; do
        torch_out=$(OMP_NUM_THREADS=$THREADS "$PY" bench/train_torch.py "$CFG" "$B" "$T" "$STEPS" "$THREADS" "$mode" 2>&1)
        echo "$torch_out" | grep -v "^RESULT"
        t=$(echo "$torch_out" | sed -n 's/.*RESULT tokens_per_s=\([0-9.]*\).*/\1/p')
        line="$line | torch $mode ${t:-failed}"
        [ -n "$t" ] && line="$line ($(python3 -c "print('%.2fx' % ($a / $t))"))"
    done
    echo "$line   [load $(cut -d' ' -f1-3 /proc/loadavg)]"
done
