#!/usr/bin/env bash
# stories260K golden outputs: afm convert the llama2.c checkpoint, then greedy afm generate must
# reproduce llama2.c's three expected-output files byte for byte (llama2.c's -n counts positions
# including the prompt; afm's -n counts new tokens: 64 positions with BOS + 4 prompt tokens = 60 new; "Zoo" is BOS + 3 tokens: 57 new).
set -euo pipefail
S="$AFM_SHARED/models/stories260K"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$AFM_BIN" convert "$S/stories260K.bin" --tokenizer "$S/tok512.bin" -o "$T/s.gguf"
"$AFM_BIN" generate -m "$T/s.gguf" -p "" -n 200 --temp 0 -t 1 > "$T/noprompt.txt"
"$AFM_BIN" generate -m "$T/s.gguf" -p "Once upon a time" -n 60 --temp 0 -t 1 > "$T/once.txt"
"$AFM_BIN" generate -m "$T/s.gguf" -p "Zoo" -n 57 --temp 0 -t 2 > "$T/zoo.txt"
fail=0
for pair in "noprompt.txt greedy_noprompt_n200.txt" "once.txt greedy_once_n64.txt" "zoo.txt greedy_zoo_n60.txt"; do
  set -- $pair
  if cmp -s "$T/$1" "$S/$2"; then echo "ok: $2"; else echo "FAIL: $2 differs"; diff <(cat -A "$T/$1") <(cat -A "$S/$2") | head -20; fail=1; fi
done
# a prompt longer than the context gets a clear error, not a crash
if "$AFM_BIN" generate -m "$T/s.gguf" -p "$(printf 'Once upon a time %.0s' $(seq 1 100))" -n 4 -c 32 --temp 0 2> "$T/err.txt"; then
  echo "FAIL: a prompt past the context must fail"; fail=1
elif ! grep -q "does not fit in the context" "$T/err.txt"; then
  echo "FAIL: unclear error: $(cat "$T/err.txt")"; fail=1
else echo "ok: long prompt refused: $(head -c 200 "$T/err.txt")"; fi
exit $fail
