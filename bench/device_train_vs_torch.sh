#!/usr/bin/env bash
# afm vs PyTorch training throughput on a quiet lent machine (the development machine is shared
# by many jobs, so its multi-thread wall clocks measure the scheduler): builds bench_train there,
# then for each config runs afm and, if that machine's python3 has torch, train_torch.py (ref and
# fast modes) on the same pinned cores, interleaved, ROUNDS times.
#   bash bench/device_train_vs_torch.sh        # on the device; logs under $OUT (default ./device-out)
# Environment: CPUS (cores to pin, default 0,1), THREADS (default 2), CFGS (default "10m 50m"),
# ROUNDS (default 2), STEPS (default 3), KIT (cJSON header/library when the device lacks
# libcjson-dev, as scripts/device_check.sh --make-kit makes: KIT/include/cjson, KIT/lib).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/device-out}; mkdir -p "$OUT"
KIT=${KIT:-$ROOT/build-device-kit}
CPUS=${CPUS:-0,1}; THREADS=${THREADS:-2}; CFGS=${CFGS:-"10m 50m"}; ROUNDS=${ROUNDS:-2}; STEPS=${STEPS:-3}
exec > >(tee "$OUT/train_vs_torch.log") 2>&1
echo "== $(date -u) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
PY=""
for p in python3 /usr/bin/python3 /usr/local/bin/python3 /opt/conda/bin/python; do
    if command -v "$p" > /dev/null && "$p" -c "import torch" 2> /dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] && echo "torch: $PY $($PY -c 'import torch; print(torch.__version__, torch.backends.mkldnn.is_available())')" \
             || echo "torch: none found"
[ -d "$KIT/lib" ] && export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B=$ROOT/build-device
base=(-S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DAFM_WERROR=OFF -DAFM_MPI=OFF)
if ! cmake "${base[@]}" > "$OUT/cmake.log" 2>&1; then
    rm -rf "$B"
    cmake "${base[@]}" -DCJSON_INCLUDE_DIR="$KIT/include" -DCJSON_LIBRARY="$KIT/lib/libcjson.so" >> "$OUT/cmake.log" 2>&1
fi
cmake --build "$B" -j "$(nproc)" --target bench_train > "$OUT/build.log" 2>&1 || { echo "build failed"; tail -20 "$OUT/build.log"; exit 1; }
echo "built: $(cc --version | head -1)"
for cfg in $CFGS; do
    for r in $(seq 1 "$ROUNDS"); do
        for isa in avx512 avx2; do
            o=$(AFM_FORCE_ISA=$isa taskset -c "$CPUS" "$B/bench/bench_train" train "$cfg" 4 256 "$STEPS" "$THREADS")
            echo "$o" | grep -E "^afm|per step|tokens/s|peak RSS" | sed "s/^/[$cfg r$r afm $isa] /"
        done
        [ -z "$PY" ] && continue
        for mode in ref fast; do
            OMP_NUM_THREADS=$THREADS taskset -c "$CPUS" "$PY" bench/train_torch.py "$cfg" 4 256 "$STEPS" "$THREADS" "$mode" 2>&1 \
                | grep -E "^torch|RSS|RESULT|Error" | sed "s/^/[$cfg r$r torch $mode] /"
        done
    done
done
echo "== done $(date -u)"
