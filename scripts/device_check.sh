#!/usr/bin/env bash
# AVX-512 device check: one script, run from the repository root on a remote x86-64 machine
# (ideally with AVX-512 F/BW/VL/DQ/VNNI and BF16), that builds afm there, verifies the AVX-512
# kernels against the scalar references and measures AVX2 vs AVX-512 throughput. Designed to
# finish in under 6 minutes on 16 cores; every phase is time-boxed and later phases are skipped
# when the budget (BUDGET seconds, default 330) runs out.
#
#   bash scripts/device_check.sh              # on the device; logs and summary under $OUT
#   bash scripts/device_check.sh --make-kit   # here, before: fills build-device-kit/ (below)
#   QUICK=1 OUT=/tmp/dc bash scripts/device_check.sh   # a small end-to-end run (any machine)
#
# Environment: OUT (logs; default ./device-out), BUDGET (seconds, default 330), QUICK=1 (tiny
# benchmark sizes, 1-2 threads: for trying the script on a slow machine), KIT (default
# ./build-device-kit), THREADS (bench thread counts, default "1 2 8 16" capped at nproc), BUILD
# (build folder, default ./build-device; reused when it exists), PREBUILT=1 (skip the build, use
# the kit's binaries), ONLY=train (phases 1-3 and 5 only: no inference benches, no ctest; the
# training comparison then runs for the 10m and 50m configs), TRAIN_CFGS (configs of phase 5,
# default "10m", or "10m 50m" with ONLY=train), TRAIN_THREADS (thread counts of phase 5,
# default "2 16", capped at nproc), TRAIN_PACKS (GEMM packing settings phase 5 compares, e.g.
# "auto 1 0", default "auto 0": auto = the default (shared or per-thread packing chosen per call), 1 = shared
# packing for every call (AFM_GEMM_SHARED_PACK=1), 0 = per-thread packing, the scheme before
# (AFM_GEMM_SHARED_PACK=0)).
#
# Phases (logs in $OUT, one line per result in $OUT/results.tsv, table in $OUT/summary.txt):
#  1. CPU: lscpu model and the avx512* / vnni / amx flags.
#  2. Build: cmake + gcc there (Release, -DAFM_MPI=OFF, warnings not fatal). cJSON is the one
#     required library; when the device lacks libcjson-dev the configure uses the header and
#     library carried in build-device-kit/ (made here by --make-kit, gitignored: pass it as a
#     `carry` path). If the build fails or cmake is missing, the prebuilt binaries of the kit
#     (built here without MPI) are used instead.
#  3. Kernel unit tests at AFM_FORCE_ISA=scalar, avx2, avx512 (and amx on CPUs with AMX-BF16:
#     the one setting that lets afm_gemm use the AMX tiles): test_matmul (every weight type,
#     every ISA level up to the cap, vs the scalar kernels and a double reference),
#     test_train_gemm (f32 micro-kernels and bf16 compute, incl. the vdpbf16ps kernel and, at
#     amx, the AMX tile path), test_vec, test_attn / test_attn_decode (attention kernels, bit for
#     bit against in-order chains); plus the emulated-intrinsics tests once (AVX-512, AMX).
#     A test prints "SKIP: ..." for what the CPU lacks.
#  4. bench_attn (one prefill attention work item, 1 thread) and afm bench pp512 / tg128 at
#     AFM_FORCE_ISA=avx2 vs avx512 on random models from `afm init`
#     (SmolLM2-135M shape in q4_0, q8_0, then the AFM-3B shape in q4_0 at 16 threads with
#     pp256 / tg64 if time allows, then SmolLM2 f16), one measured run after a warm-up.
#  5. Training: `bench_train ukernel` per ISA cap (f32 micro-kernel and, with AVX512-BF16, the
#     vdpbf16ps one); on AMX-BF16 CPUs the bf16 GEMM GFLOP/s at avx512 (vdpbf16ps) vs amx (AMX
#     tiles, 1 thread); the GEMMs alone at the most threads (f32 / bf16 per TRAIN_PACKS); then
#     throughput (bench_train train 10m, and 50m with ONLY=train) at TRAIN_THREADS, avx512 runs
#     first, then amx (bf16 only: its f32 is avx512's, AMX does not change f32), then avx2, for
#     each packing setting of TRAIN_PACKS (f32 and the vdpbf16ps path use it; AMX has its own
#     packing), f32 and bf16 compute, with the GEMM share of the step and the bytes packed per
#     step; ratios bf16/f32 per setting (amx: AMX bf16 over avx512 f32) and new/old
#     (packauto/pack0, pack1/pack0).
#  6. The whole ctest suite with the time left (tests that need ../shared or real models fail
#     or skip there: listed).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KIT=${KIT:-$ROOT/build-device-kit}
QUICK=${QUICK:-0}
NPROC=$(nproc 2>/dev/null || echo 1)

# ------------------------------------------------------------------ --make-kit (run here)
if [ "${1:-}" = "--make-kit" ]; then
    set -e
    rm -rf "$KIT"
    mkdir -p "$KIT/include/cjson" "$KIT/lib" "$KIT/bin"
    hdr=$(find /usr/include /usr/local/include -name cJSON.h -path '*cjson*' 2>/dev/null | head -1)
    lib=$(readlink -f "$(find /usr/lib /usr/local/lib /usr/lib64 -name 'libcjson.so*' 2>/dev/null | head -1)")
    [ -n "$hdr" ] && [ -n "$lib" ] || { echo "make-kit: cJSON header or library not found here" >&2; exit 1; }
    cp "$hdr" "$KIT/include/cjson/"
    cp "$lib" "$KIT/lib/libcjson.so.1"   # the soname the binaries ask for
    cp "$lib" "$KIT/lib/libcjson.so"     # what the linker looks for
    kb=${KIT_BUILD:-/tmp/afm-device-kit-build}
    gen=()
    command -v ninja > /dev/null && gen=(-G Ninja)
    cmake -S "$ROOT" -B "$kb" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DAFM_WERROR=OFF -DAFM_MPI=OFF > /dev/null
    cmake --build "$kb" -j "${KIT_JOBS:-2}" --target afm test_matmul test_train_gemm test_vec test_attn \
        test_attn_decode test_matmul_avx512_emu test_attn_avx512_emu test_train_bf16_emu test_train_amx_emu \
        bench_train bench_attn
    cp "$kb/afm" "$kb/tests/test_matmul" "$kb/tests/test_train_gemm" "$kb/tests/test_vec" "$kb/tests/test_attn" \
       "$kb/tests/test_attn_decode" "$kb/tests/test_attn_avx512_emu" "$kb/bench/bench_attn" \
       "$kb/tests/test_matmul_avx512_emu" "$kb/tests/test_train_bf16_emu" "$kb/tests/test_train_amx_emu" \
       "$kb/bench/bench_train" "$KIT/bin/"
    git -C "$ROOT" rev-parse HEAD > "$KIT/COMMIT"
    du -sh "$KIT"
    echo "kit ready: $KIT (built at $(cat "$KIT/COMMIT")); carry it as build-device-kit"
    exit 0
fi

OUT=${OUT:-$ROOT/device-out}
BUDGET=${BUDGET:-330}
mkdir -p "$OUT"
RES="$OUT/results.tsv"
: > "$RES"
T0=$SECONDS
left() { echo $((BUDGET - (SECONDS - T0))); }
log() { echo "[$((SECONDS - T0))s] $*"; }
result() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >> "$RES"; } # phase, name, setting, status, detail
main() {

# ------------------------------------------------------------------ 1. CPU
log "== 1. CPU"
lscpu 2>/dev/null | grep -E '^(Model name|Architecture|CPU\(s\)|Thread|Core|Socket|L[123])' | tee "$OUT/lscpu.txt"
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512|avx_vnni|amx)' | sort | tr '\n' ' ')
echo "avx512/vnni/amx flags: ${FLAGS:-none}" | tee -a "$OUT/lscpu.txt"
result cpu model "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)" info "$NPROC cpus"
result cpu flags - info "${FLAGS:-none}"
has_flag() { grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -qx "$1"; }
HAS512=0
has_flag avx512f && has_flag avx512bw && has_flag avx512vl && has_flag avx512dq && has_flag avx512_vnni && HAS512=1
HASBF16=0
has_flag avx512_bf16 && HASBF16=1
HASAMX=0
has_flag amx_tile && has_flag amx_bf16 && HASAMX=1
log "AVX-512 level (F/BW/VL/DQ/VNNI): $HAS512, AVX512-BF16: $HASBF16, AMX-TILE+AMX-BF16: $HASAMX"

# ------------------------------------------------------------------ 2. build
log "== 2. build"
BUILD=${BUILD:-$ROOT/build-device}
BIN_AFM="" TESTDIR="" BENCHDIR="" BUILT=0
[ -d "$KIT/lib" ] && export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "${PREBUILT:-0}" = 1 ]; then
    log "PREBUILT=1: not building"
elif command -v cmake > /dev/null && command -v cc > /dev/null; then
    gen=()
    command -v ninja > /dev/null && gen=(-G Ninja)
    base=(-S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DAFM_WERROR=OFF -DAFM_MPI=OFF)
    if timeout 90 cmake "${base[@]}" > "$OUT/cmake.log" 2>&1; then
        log "configured with the system cJSON"
    elif [ -f "$KIT/include/cjson/cJSON.h" ]; then
        rm -rf "$BUILD"
        timeout 90 cmake "${base[@]}" -DCJSON_INCLUDE_DIR="$KIT/include" -DCJSON_LIBRARY="$KIT/lib/libcjson.so" \
            >> "$OUT/cmake.log" 2>&1 && log "configured with the kit's cJSON"
    fi
    targets=() # ONLY=train: just what phases 3 and 5 run
    [ "${ONLY:-}" = train ] && targets=(--target afm test_matmul test_train_gemm test_vec test_attn test_attn_decode test_matmul_avx512_emu test_attn_avx512_emu test_train_bf16_emu test_train_amx_emu bench_train)
    if [ -f "$BUILD/CMakeCache.txt" ] && timeout $(( $(left) > 240 ? 180 : $(left) / 2 )) \
            cmake --build "$BUILD" -j "$NPROC" "${targets[@]}" > "$OUT/build.log" 2>&1; then
        BUILT=1 BIN_AFM=$BUILD/afm TESTDIR=$BUILD/tests BENCHDIR=$BUILD/bench
        log "build ok ($(grep -c 'warning:' "$OUT/build.log") compiler warnings)"
        result build cmake "$(cc --version | head -1)" PASS "$(grep -c 'warning:' "$OUT/build.log") warnings"
    else
        log "build FAILED (see $OUT/cmake.log, $OUT/build.log):"; tail -20 "$OUT/build.log" 2>/dev/null || tail -20 "$OUT/cmake.log"
        result build cmake - FAIL "see build.log"
    fi
else
    log "cmake or cc missing"
    result build cmake - FAIL "cmake/cc missing"
fi
if [ "$BUILT" = 0 ] && [ -x "$KIT/bin/afm" ]; then
    BIN_AFM=$KIT/bin/afm TESTDIR=$KIT/bin BENCHDIR=$KIT/bin
    log "using the kit's prebuilt binaries (commit $(cat "$KIT/COMMIT" 2>/dev/null))"
    result build prebuilt "$(cat "$KIT/COMMIT" 2>/dev/null)" INFO "kit binaries"
fi
if [ -z "$BIN_AFM" ]; then log "no binaries: stopping"; exit 1; fi
"$BIN_AFM" --help > /dev/null 2>&1 || true

# ------------------------------------------------------------------ 3. kernel unit tests
log "== 3. kernel unit tests per ISA cap"
run_unit() { # name isa
    local t=$1 isa=$2 f="$OUT/unit_$1_$2.log" s=$SECONDS rc
    if [ ! -x "$TESTDIR/$t" ]; then result unit "$t" "$isa" MISSING ""; return; fi
    (cd "${BUILD:-$ROOT}" 2>/dev/null || true; AFM_SOURCE_DIR=$ROOT AFM_FORCE_ISA=$isa timeout 150 "$TESTDIR/$t") > "$f" 2>&1
    rc=$?
    local st=PASS skip
    [ $rc = 0 ] || st="FAIL(rc=$rc)"
    skip=$(grep -m2 '^SKIP' "$f" | cut -c1-60 | tr '\n' ' ')
    result unit "$t" "$isa" "$st" "$((SECONDS - s))s ${skip}"
    log "$t AFM_FORCE_ISA=$isa: $st ($((SECONDS - s))s) ${skip}"
    [ $rc = 0 ] || tail -15 "$f"
}
[ "$HASAMX" = 1 ] && run_unit test_train_gemm amx # AFM_FORCE_ISA=amx: afm_gemm's AMX tile path for bf16
for isa in avx512 avx2 scalar; do
    for t in test_matmul test_train_gemm test_vec test_attn test_attn_decode; do run_unit "$t" "$isa"; done
done
run_unit test_matmul_avx512_emu avx2
run_unit test_attn_avx512_emu avx2
run_unit test_train_bf16_emu avx2
run_unit test_train_amx_emu avx2

# ------------------------------------------------------------------ 4. afm bench
log "== 4. afm bench avx2 vs avx512 (budget left $(left)s)"
MODELS=${TMPDIR:-/tmp}/afm-device-models
mkdir -p "$MODELS"
THREADS=${THREADS:-"1 2 8 16"}
PP=512 TG=128 REPS=1
if [ "$QUICK" = 1 ]; then THREADS=${THREADS_QUICK:-"1 2"} PP=32 TG=8 REPS=1; fi
ISAS="avx2"
[ "$HAS512" = 1 ] && ISAS="avx2 avx512"
[ "$HAS512" = 1 ] || result bench avx512 - SKIP "cpu lacks avx512 (f/bw/vl/dq/vnni): avx2 only"
make_model() { # shape type out
    [ -s "$3" ] && return 0
    timeout 120 "$BIN_AFM" init --shape "$1" --type "$2" --seed 1 -o "$3" > "$OUT/init_$(basename "$3").log" 2>&1
}
bench_model() { # file label threads...
    local m=$1 label=$2; shift 2
    for isa in $ISAS; do
        for t in "$@"; do
            [ "$t" -le "$NPROC" ] || continue
            [ "$(left)" -gt 15 ] || { log "bench: out of time"; return; }
            AFM_FORCE_ISA=$isa timeout 90 "$BIN_AFM" bench -m "$m" -p "$PP" -n "$TG" -t "$t" -r "$REPS" --json 2>> "$OUT/bench.err" \
                | sed "s/^{/{\"label\": \"$label\", \"isa\": \"$isa\", /" >> "$OUT/bench.jsonl"
        done
    done
    log "bench $label done"
}
: > "$OUT/bench.jsonl"
bench_small() { # type
    local f="$MODELS/smollm2-135m-$1.gguf"
    [ "$(left)" -gt 60 ] || { result bench "smollm2-135m $1" - SKIPPED "not enough time left ($(left)s)"; return; }
    if make_model configs/models/smollm2-135m.json "$1" "$f"; then
        # shellcheck disable=SC2086
        bench_model "$f" "smollm2-135m $1" $THREADS
    else
        result bench "smollm2-135m $1" - FAIL "afm init failed"
    fi
}
if [ "${ONLY:-}" = train ]; then
    log "ONLY=train: inference benches skipped"
    result bench all - SKIPPED "ONLY=train"
else
# attention kernels alone (one prefill work item: SmolLM2's 96 rows x hd 64 at MMLU's mean
# context, and the AFM-3B head size), 1 thread, AVX2 vs AVX-512 (attn_avx512.c)
if [ -x "$BENCHDIR/bench_attn" ]; then
    for isa in $ISAS; do
        for shape in "1100 96 64" "1024 48 128"; do
            # shellcheck disable=SC2086
            line=$(AFM_FORCE_ISA=$isa timeout 60 "$BENCHDIR/bench_attn" $shape 20 2>&1 | grep -m1 scores)
            log "bench_attn $shape AFM_FORCE_ISA=$isa: $line"
            result bench_attn "$shape" "$isa" INFO "$line"
        done
    done
fi
bench_small q4_0
bench_small q8_0
if [ "$QUICK" != 1 ] && [ "$(left)" -gt 100 ]; then # the AFM-3B shape (q4_0) at 16 threads
    f="$MODELS/afm-3b-q4_0.gguf"
    s=$SECONDS
    if make_model configs/models/afm-on-device-3b.json q4_0 "$f"; then
        log "AFM-3B q4_0 made in $((SECONDS - s))s"
        PP=256 TG=64 REPS=1 bench_model "$f" "afm-3b q4_0" $((NPROC < 16 ? NPROC : 16))
    else
        result bench "afm-3b q4_0" - FAIL "afm init failed or timed out"
    fi
else
    result bench "afm-3b q4_0" - SKIPPED "quick mode or not enough time left ($(left)s)"
fi
bench_small f16
fi

# ------------------------------------------------------------------ 5. training throughput
log "== 5. training f32 vs bf16 (budget left $(left)s)"
TR_B=4 TR_S=3 TR_L=256
TRAIN_THREADS=${TRAIN_THREADS:-"2 16"}
TRAIN_PACKS=${TRAIN_PACKS:-"auto 0"}
[ "$QUICK" = 1 ] && TRAIN_THREADS=2 TR_B=1 TR_S=1 TR_L=64
TRAIN_CFGS=${TRAIN_CFGS:-$([ "${ONLY:-}" = train ] && echo "10m 50m" || echo 10m)}
TR_ISAS=$(echo "$ISAS" | tr ' ' '\n' | sort -r | tr '\n' ' ') # avx512 first: its runs matter most
[ "$HASAMX" = 1 ] && [ "$HAS512" = 1 ] && TR_ISAS="avx512 amx avx2" # amx: bf16 on AMX tiles
if [ -x "$BENCHDIR/bench_train" ] && [ "$HASAMX" = 1 ] && [ "$HAS512" = 1 ] && [ "$(left)" -gt 60 ]; then
    for isa in avx512 amx; do # bf16 GEMM GFLOP/s, 1 thread: vdpbf16ps vs AMX tiles
        f="$OUT/gemm_bf16_t1_$isa.log"
        AFM_FORCE_ISA=$isa timeout 60 "$BENCHDIR/bench_train" gemm 1 bf16 > "$f" 2>&1
        log "bench_train gemm 1 bf16 at $isa:"; cat "$f"
        result train "gemm bf16 t1" "$isa" "$(grep -q GFLOP "$f" && echo OK || echo FAIL)" "$(grep -m1 '^N=1024 I=640 O=1728' "$f" | cut -d: -f2 | cut -c1-60)"
    done
fi
if [ -x "$BENCHDIR/bench_train" ]; then
    # one core: the f32 micro-kernel vs the vdpbf16ps one (the most bf16 can gain in the GEMMs)
    for isa in $ISAS; do
        f="$OUT/ukernel_$isa.log"
        AFM_FORCE_ISA=$isa timeout 60 "$BENCHDIR/bench_train" ukernel > "$f" 2>&1
        result train "ukernel $isa" "1 thread" INFO "$(grep -E '^micro-kernel' "$f" | sed 's/ (.*): /: /' | tr '\n' ';' | cut -c1-200)"
        log "ukernel $isa: $(grep -E '^micro-kernel' "$f" | tr '\n' ';')"
    done
    # the linear-layer GEMMs alone (50m shapes) at the most threads, f32 vs bf16, new vs old packing
    tg=1; for t in $TRAIN_THREADS; do [ "$t" -le "$NPROC" ] && [ "$t" -gt "$tg" ] && tg=$t; done
    isa=${TR_ISAS%% *}
    for pk in $TRAIN_PACKS; do
        for cm in f32 bf16; do
            [ "$(left)" -gt 30 ] || break 2
            f="$OUT/gemm_${isa}_t${tg}_pack${pk}_$cm.log"
            AFM_GEMM_SHARED_PACK=$([ "$pk" = auto ] || echo "$pk") AFM_FORCE_ISA=$isa timeout 60 "$BENCHDIR/bench_train" gemm "$tg" $cm > "$f" 2>&1
            log "gemm $isa t$tg pack$pk $cm:"; grep -E '^N=' "$f" | sed 's/ (.*//' | cut -c1-120
            result train "gemm $isa t$tg pack$pk $cm" "GFLOP/s fwd/bwd_x/bwd_w" INFO "$(grep -E '^N=' "$f" | sed 's/ GFLOP.*//; s/N=1024 //; s/x·Wᵀ //; s/ dy·W / /; s/ dyᵀ·x / /' | tr '\n' ';')"
        done
    done
    declare -A TOK=()
    for isa in $TR_ISAS; do
      for cfg in $TRAIN_CFGS; do
        for t in $TRAIN_THREADS; do
          [ "$t" -le "$NPROC" ] || continue
          for pk in $TRAIN_PACKS; do   # auto (default), 1 (shared GEMM packing), 0 (per-thread packing, as before)
            [ "$isa" = amx ] && [ "$pk" != "${TRAIN_PACKS%% *}" ] && continue # AMX packs its own way: one setting
            for cm in f32 bf16; do
                [ "$(left)" -gt 10 ] || { log "train: out of time"; break 5; }
                [ "$isa" = amx ] && [ "$cm" = f32 ] && continue # f32 never uses AMX: avx512's f32 is the baseline
                f="$OUT/train_${cfg}_${isa}_t${t}_pack${pk}_$cm.log"
                AFM_GEMM_SHARED_PACK=$([ "$pk" = auto ] || echo "$pk") AFM_FORCE_ISA=$isa timeout 90 "$BENCHDIR/bench_train" train "$cfg" $TR_B $TR_L $TR_S "$t" $cm > "$f" 2>&1
                tok=$(sed -n 's/^RESULT tokens_per_s=\([0-9.]*\).*/\1/p' "$f")
                gs=$(sed -n 's/^RESULT .*gemm_share=\([0-9.]*\).*/\1/p' "$f")
                pm=$(sed -n 's/^RESULT .*packed_mib=\([0-9.]*\).*/\1/p' "$f")
                TOK[$cfg.$isa.$t.$pk.$cm]=$tok
                result train "$cfg B=$TR_B T=$TR_L" "$isa $cm t$t pack$pk" "$([ -n "$tok" ] && echo OK || echo FAIL)" \
                    "${tok:-see $f} tok/s, GEMM share ${gs:-?}, packed ${pm:-?} MiB/step"
                log "train $cfg $isa t$t pack$pk $cm: ${tok:-FAIL} tokens/s (GEMM share ${gs:-?}, packed ${pm:-?} MiB/step)"
                grep -E '^  (per step|linear-layer|packed)' "$f" | cut -c1-220
            done
          done
        done
      done
    done
    for key in $(printf "%s\n" "${!TOK[@]}" | sort); do # ratios: bf16/f32 per setting (goal >= 1.6); new/old packing
        case $key in *.f32) ;; *) continue ;; esac
        base=${key%.f32}; IFS=. read -r cfg isa t pk _ <<< "$key"
        a=${TOK[$key]:-} b=${TOK[$base.bf16]:-}
        if [ "$isa" = avx512 ] && [ -n "${TOK[$cfg.amx.$t.$pk.bf16]:-}" ]; then # AMX bf16 over avx512 f32
            r=$(awk -v a="$a" -v b="${TOK[$cfg.amx.$t.$pk.bf16]}" 'BEGIN { printf "%.2f", b / a }')
            result train "$cfg bf16/f32" "amx t$t pack$pk" INFO "$r (AMX bf16 / avx512 f32)"
            log "train $cfg amx t$t pack$pk: bf16/f32 = $r (AMX bf16 / avx512 f32)"
        fi
        if [ -n "$a" ] && [ -n "$b" ]; then
            r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
            result train "$cfg bf16/f32" "$isa t$t pack$pk" INFO "$r"
            log "train $cfg $isa t$t pack$pk: bf16/f32 = $r"
        fi
        if [ "$pk" != 0 ]; then
            for cm in f32 bf16; do
                a=${TOK[$cfg.$isa.$t.0.$cm]:-} b=${TOK[$cfg.$isa.$t.$pk.$cm]:-}
                [ -n "$a" ] && [ -n "$b" ] || continue
                r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
                result train "$cfg new/old (pack$pk/pack0)" "$isa $cm t$t" INFO "$r"
                log "train $cfg $isa $cm t$t: new/old (pack$pk/pack0) = $r"
            done
        fi
    done
    unset TOK
else
    result train - - MISSING "bench_train not built"
fi

# ------------------------------------------------------------------ 6. whole ctest suite (with the time left)
log "== 6. ctest (budget left $(left)s)"
if [ "${ONLY:-}" = train ]; then
    result ctest all - SKIPPED "ONLY=train"
elif [ "$BUILT" = 1 ] && [ "$(left)" -gt 30 ]; then
    ct=$(( $(left) - 10 )); [ $ct -gt 150 ] && ct=150
    (cd "$BUILD" && timeout $ct ctest -j "$NPROC" --timeout 100 -E '^(test_matmul|test_train_gemm|test_vec|test_attn|test_attn_decode)$' \
        > "$OUT/ctest.log" 2>&1)
    rc=$?
    sumline=$(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)
    failed=$(sed -n '/The following tests FAILED/,$p' "$OUT/ctest.log" | grep -E '^\s+[0-9]+ - ' | sed 's/^ *[0-9]* - //' | tr '\n' ';')
    [ $rc = 124 ] && sumline="timed out after ${ct}s; $(grep -c 'Passed' "$OUT/ctest.log") passed so far"
    result ctest all "-j$NPROC" "$( [ $rc = 0 ] && echo PASS || echo "rc=$rc")" "$sumline | failed: ${failed:-none}"
    log "ctest: $sumline"; [ -n "$failed" ] && log "ctest failed: $failed"
else
    result ctest all - SKIPPED "no local build or no time"
fi

# ------------------------------------------------------------------ summary
log "== summary (total $((SECONDS - T0))s)"
{
    echo "# device_check summary ($(date -u +%FT%TZ), $((SECONDS - T0))s, commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo
    echo "## results (phase | name | setting | status | detail)"
    column -t -s $'\t' "$RES" 2>/dev/null || cat "$RES"
    echo
    echo "## afm bench tok/s (mean of $REPS runs after a warm-up): avx2 vs avx512"
    if command -v python3 > /dev/null; then
        python3 - "$OUT/bench.jsonl" << 'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except ValueError: continue
    rows.setdefault((r["label"], r["test"], r["threads"]), {})[r["isa"]] = r["tok_s"]
print("| model | test | threads | avx2 | avx512 | avx512/avx2 |")
print("|---|---|---:|---:|---:|---:|")
for (label, test, th), v in rows.items():
    a, b = v.get("avx2"), v.get("avx512")
    ratio = f"{b / a:.2f}" if a and b else "-"
    print(f"| {label} | {test} | {th} | {a if a is not None else '-'} | {b if b is not None else '-'} | {ratio} |")
EOF
    else
        cat "$OUT/bench.jsonl"
    fi
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
}
main 2>&1 | tee "$OUT/device_check.log"
