#!/usr/bin/env bash
# cmake --install puts the library, public headers, the CLI and afm.pc under a prefix; a program
# using only the public API compiles against it with pkg-config and runs.
set -euo pipefail
BUILD=$(dirname "$(dirname "$AFM_BIN")")
[ -f "$BUILD/CMakeCache.txt" ] || BUILD=$(dirname "$AFM_BIN")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
for f in bin/afm include/afm/afm.h include/afm/model.h include/afm/generate.h; do
  [ -e "$T/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
PC=$(find "$T/prefix" -name afm.pc | head -1)
[ -n "$PC" ] || { echo "FAIL: afm.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$PC")
cc -std=c11 -Wall -Wextra -Werror "$AFM_SOURCE_DIR/examples/generate.c" -o "$T/example" \
  $(pkg-config --cflags afm) -L"$T/prefix/lib" $(pkg-config --libs --static afm)
S="$AFM_SHARED/models/stories260K"
"$AFM_BIN" convert "$S/stories260K.bin" --tokenizer "$S/tok512.bin" -o "$T/s.gguf" 2>/dev/null
LD_LIBRARY_PATH="$T/prefix/lib" "$T/example" "$T/s.gguf" | tee "$T/out.txt"
grep -q "Once upon a time" "$T/out.txt" || { echo "FAIL: the example did not generate the expected story"; exit 1; }
echo "ok: installed tree builds and runs the example"
