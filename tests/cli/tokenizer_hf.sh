#!/usr/bin/env bash
# afm's tokenizers against HF tokenizers, token for token (scripts/reference/compare_tokenizer_hf.py):
# GPT-2 vocab.json/merges.txt, the same as tokenizer.json, SmolLM2-135M-Instruct's tokenizer read
# from its GGUF, and the Llama 3 / Qwen2 pre-tokenizer patterns, on the first ~1 MB of every
# shared source (pretrain/*.jsonl, text/, email/) plus 2000 random strings built from every
# character class the patterns distinguish. The full-corpus run is the same script without
# --limit-mb (see src/tokenizer/README.md).
set -euo pipefail
cd "$AFM_SOURCE_DIR"
GGUF=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -s "$GGUF" ] || bash scripts/fetch_smollm2.sh >/dev/null
python3 scripts/reference/compare_tokenizer_hf.py --afm "$AFM_BIN" --shared "$AFM_SHARED" --gguf "$GGUF" \
  --docs shared,random --limit-mb 1 --random-n 2000
