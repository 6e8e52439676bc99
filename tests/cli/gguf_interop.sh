#!/usr/bin/env bash
# GGUF interoperability with the independent Python `gguf` package (issue 2, check 4):
#  (a) files afm writes are read by gguf.GGUFReader key for key and tensor for tensor;
#  (b) a file gguf.GGUFWriter writes is read by afm identically, and afm's writer re-emits it
#      byte for byte; the same for the real SmolLM2-135M GGUF when models/ has it.
# Runs in the build folder; tests/test_gguf provides --write-sample / --dump / --copy.
set -euo pipefail
SRC=${AFM_SOURCE_DIR:?}
T=${AFM_TEST_GGUF:-$PWD/tests/test_gguf}
PY=${PYTHON:-python3}
if ! "$PY" -c "import gguf, numpy" 2>/dev/null; then
  echo "error: the Python gguf package is missing: pip install -r $SRC/scripts/requirements-test.txt" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
interop="$PY $SRC/tests/cli/gguf_interop.py"

same_dump() {  # both readers must give the same canonical dump of $1
  $interop dump "$1" > "$tmp/py.txt"
  "$T" --dump "$1" > "$tmp/afm.txt"
  if ! cmp -s "$tmp/py.txt" "$tmp/afm.txt"; then
    echo "FAIL: afm and gguf-py read $1 differently:" >&2
    diff "$tmp/py.txt" "$tmp/afm.txt" | head -20 >&2
    exit 1
  fi
  echo "ok: same reading of $(basename "$1"): $(grep -c '^kv ' "$tmp/afm.txt") keys, $(grep -c '^tensor ' "$tmp/afm.txt") tensors"
}

# (a) afm writes, gguf-py reads (default alignment and general.alignment = 64).
for align in 32 64; do
  "$T" --write-sample "$tmp/afm_$align.gguf" $align
  $interop check-sample "$tmp/afm_$align.gguf"
  same_dump "$tmp/afm_$align.gguf"
done

# (b) gguf-py writes, afm reads and re-writes.
$interop write "$tmp/py.gguf"
same_dump "$tmp/py.gguf"
"$T" --copy "$tmp/py.gguf" "$tmp/py_copy.gguf"
cmp "$tmp/py.gguf" "$tmp/py_copy.gguf"
echo "ok: afm's writer reproduces gguf-py's file byte for byte"

# A real model nobody here wrote.
model="$SRC/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$model" ]; then
  same_dump "$model"
  "$T" --copy "$model" "$tmp/smol.gguf"
  cmp "$model" "$tmp/smol.gguf"
  echo "ok: SmolLM2-135M-Instruct.Q4_1.gguf re-written byte for byte"
else
  echo "note: $model absent (scripts/fetch_smollm2.sh fetches it); skipped the real-model check"
fi
echo "gguf interop: all checks passed"
