#!/usr/bin/env bash
# Decode (generation) tokens/s at context depth: `afm bench -p 0 -n N -d DEPTH` for two afm
# binaries (e.g. a base build and a new one) and, if given, llama.cpp's `llama-bench -p 0 -n N
# -d DEPTH`, run back to back for each (model, depth, threads) so that the ratios of one line
# share the machine's load; ROUNDS repeats the whole matrix (the llama.cpp runs only in round 1,
# since llama-bench evaluates the depth context again for every repetition).
# usage: bench/decode_depth.sh BASE_AFM NEW_AFM [LLAMA_BENCH|-] MODEL...
# env: DEPTHS (default "0 1024 2048"), THREADS ("1 2"), N (64), REPS (3), LLAMA_REPS (2),
#      ROUNDS (2). Prints one markdown row per measurement group.
set -euo pipefail
base=$1 new=$2 llama=${3:--}
shift 3
DEPTHS=${DEPTHS:-"0 1024 2048"} THREADS=${THREADS:-"1 2"} N=${N:-64} REPS=${REPS:-3}
LLAMA_REPS=${LLAMA_REPS:-2} ROUNDS=${ROUNDS:-2}
afm_ts() { # BIN MODEL DEPTH THREADS -> tok/s
    "$1" bench -m "$2" -p 0 -n "$N" -d "$3" -t "$4" -r "$REPS" --json |
        python3 -c 'import json,sys; print("%.2f" % json.loads(sys.stdin.read().strip().splitlines()[-1])["tok_s"])'
}
llama_ts() { # MODEL DEPTH THREADS -> tok/s
    "$llama" -m "$1" -p 0 -n "$N" -d "$2" -t "$3" -r "$LLAMA_REPS" -o jsonl 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % json.loads(sys.stdin.read().strip().splitlines()[-1])["avg_ts"])'
}
echo "| round | model | depth | threads | base t/s | new t/s | new/base | llama.cpp t/s | new/llama.cpp | load |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    for model in "$@"; do
        for d in $DEPTHS; do
            for t in $THREADS; do
                if (( round % 2 )); then b=$(afm_ts "$base" "$model" "$d" "$t"); n=$(afm_ts "$new" "$model" "$d" "$t")
                else n=$(afm_ts "$new" "$model" "$d" "$t"); b=$(afm_ts "$base" "$model" "$d" "$t"); fi
                l=- r=-
                if [[ $llama != - && $round == 1 ]]; then
                    l=$(llama_ts "$model" "$d" "$t")
                    r=$(python3 -c "print('%.2f' % ($n / $l))")
                fi
                echo "| $round | $(basename "$model") | $d | $t | $b | $n | $(python3 -c "print('%.3f' % ($n / $b))") | $l | $r | $(cut -d' ' -f1 /proc/loadavg) |"
            done
        done
    done
done
