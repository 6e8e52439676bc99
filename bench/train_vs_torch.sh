#!/usr/bin/env bash
# Training throughput, afm (bench_train) vs PyTorch CPU eager f32 (bench/train_torch.py), same
# config, batch, sequence length and threads, run back to back in one invocation.
# With THREADS=1 both sides are timed in CPU time (the machine is shared), else wall clock.
# Usage: bench/train_vs_torch.sh [10m|50m] [B] [T] [STEPS] [THREADS]   (build dir: $BUILD or build)
set -euo pipefail
cd "$(dirname "$0")/.."
CFG=${1:-10m}; B=${2:-4}; T=${3:-256}; STEPS=${4:-3}; THREADS=${5:-2}
BIN=${BUILD:-build}/bench/bench_train
afm_out=$("$BIN" train "$CFG" "$B" "$T" "$STEPS" "$THREADS")
echo "$afm_out"
torch_out=$(OMP_NUM_THREADS=$THREADS /usr/bin/python3 bench/train_torch.py "$CFG" "$B" "$T" "$STEPS" "$THREADS")
echo "$torch_out"
a=$(echo "$afm_out" | sed -n 's/.*RESULT tokens_per_s=\([0-9.]*\).*/\1/p')
t=$(echo "$torch_out" | sed -n 's/.*RESULT tokens_per_s=\([0-9.]*\).*/\1/p')
python3 -c "print('afm / torch training tokens/s: %.2fx (%s vs %s)' % ($a / $t, '$a', '$t'))"
