#!/usr/bin/env bash
# afm's tokenizers against HF tokenizers, token for token (scripts/reference/compare_tokenizer_hf.py):
# GPT-2 vocab.json/merges.txt, SmolLM2-135M-Instruct's tokenizer read from its GGUF, and the
# Llama 3 (with ignore_merges) / Qwen2 pre-tokenizer patterns read from tokenizer.json, on the
# first ~0.3 MB of every shared source (pretrain/*.jsonl, text/, email/) plus 1000 random strings
# built from every character class the patterns distinguish. The full-corpus run (all ~52 MB,
# all configs) is the same script without --limit-mb (see src/tokenizer/README.md).
set -euo pipefail
cd "$AFM_SOURCE_DIR"
GGUF=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -s "$GGUF" ] || bash scripts/fetch_smollm2.sh >/dev/null
python3 scripts/reference/compare_tokenizer_hf.py --afm "$AFM_BIN" --shared "$AFM_SHARED" --gguf "$GGUF" \
  --docs shared,random --limit-mb 0.3 --random-n 1000 --configs gpt2,smollm2,llama3-im,qwen2
