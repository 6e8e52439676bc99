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
# With MPI, the module libafm_mpi.so is installed too, and the installed afm finds it under an MPI
# launcher (bin/../lib) whatever the prefix: it then fails on the missing data, not on the module.
if [ -e "$BUILD/libafm_mpi.so" ]; then
  M=$(find "$T/prefix" -name libafm_mpi.so | head -1)
  [ -n "$M" ] || { echo "FAIL: libafm_mpi.so not installed"; exit 1; }
  if command -v mpirun >/dev/null; then
    echo '{"model": {"dim": 8, "n_layers": 1, "n_heads": 1, "head_dim": 8, "ffn_dim": 8}, "stages": [{"steps": 1}]}' >"$T/r.json"
    mpirun -np 1 --allow-run-as-root "$T/prefix/bin/afm" train --recipe "$T/r.json" --data "$T/none" --out "$T/run" \
      >"$T/mpi.log" 2>&1 || true
    if grep -q "MPI module" "$T/mpi.log"; then cat "$T/mpi.log"; echo "FAIL: the installed afm did not find libafm_mpi.so"; exit 1; fi
    echo "ok: the installed afm loads libafm_mpi.so under mpirun"
  fi
fi
echo "ok: installed tree builds and runs the example"
