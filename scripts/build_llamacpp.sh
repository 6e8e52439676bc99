#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` (the peer for bench/bench_vs_llamacpp.sh) from the llama.cpp
# sources bundled in the `llama-cpp-python` source distribution on PyPI, into a cache folder
# (default build/peers/llama.cpp, override with AFM_PEERS_DIR). Nothing of llama.cpp is committed.
# Idempotent: a second run only prints the binary's path. Prints the path of llama-bench on stdout;
# everything else goes to stderr.
#
#   LLAMACPP_PY_VERSION  llama-cpp-python version to fetch (default 0.3.36)
#   JOBS                 parallel compile jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${LLAMACPP_PY_VERSION:-0.3.36}
JOBS=${JOBS:-2}
PEERS=${AFM_PEERS_DIR:-$PWD/build/peers}
SRC=$PEERS/llama_cpp_python-$VERSION
BUILD=$PEERS/llama.cpp-$VERSION
BIN=$BUILD/bin/llama-bench

if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$PEERS/sdist"

# 1. The sdist (only llama-cpp-python itself; its dependencies are not needed).
TARBALL=$PEERS/sdist/llama_cpp_python-$VERSION.tar.gz
if [ ! -s "$TARBALL" ]; then
  echo "build_llamacpp: downloading llama-cpp-python==$VERSION sdist" >&2
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$PEERS/sdist" >&2
fi
if [ ! -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ]; then
  tar -xzf "$TARBALL" -C "$PEERS"
fi

# 2. Configure llama.cpp alone (not the Python binding): static, native ISA (AVX-512 here),
#    CPU backend only, no server / tests / examples / network.
echo "build_llamacpp: configuring in $BUILD" >&2
cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=ON \
  -DGGML_OPENMP=ON \
  -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_COMMON=ON \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$BUILD/bin" >&2

# 3. Only the llama-bench target (and what it links).
echo "build_llamacpp: building llama-bench with -j$JOBS (several minutes on 2 cores)" >&2
cmake --build "$BUILD" --target llama-bench -j"$JOBS" >&2
[ -x "$BIN" ] || { echo "build_llamacpp: $BIN was not produced" >&2; exit 1; }
echo "$BIN"
