#!/usr/bin/env bash
# Training demo (part of README command 1): a tiny AFM trained for a few minutes on the Python 3.11
# documentation sources (Debian package python3.11-doc, fetched with apt-get download; PSF
# licence), with a BPE tokenizer trained on the same text, its loss plot and a sample.
# Outputs in runs/demo/: tokenizer.gguf, data/, run/ (metrics.jsonl, checkpoints), loss.png.
set -euo pipefail
cd "$(dirname "$0")/.."
AFM=${AFM:-build/release/afm}
W=runs/demo
mkdir -p "$W"
if [ ! -d "$W/text" ]; then
  echo "== fetching text: the Python 3.11 documentation sources (Debian package python3.11-doc)"
  rm -rf "$W/dl" && mkdir -p "$W/dl"
  (cd "$W/dl" && apt-get download python3.11-doc >/dev/null 2>&1) || {
    echo "error: apt-get download python3.11-doc failed (needs a Debian/Ubuntu package archive)" >&2; exit 1; }
  dpkg-deb -x "$W"/dl/python3.11-doc_*.deb "$W/dl/x"
  mkdir -p "$W/text.part"
  find "$W/dl/x" -name '*.rst.txt' -exec cp {} "$W/text.part/" \;
  mv "$W/text.part" "$W/text" && rm -rf "$W/dl"
fi
echo "== $(ls "$W/text" | wc -l) documents, $(du -sh "$W/text" | cut -f1) of text"
if [ ! -s "$W/tokenizer.gguf" ]; then
  echo "== training a 1024-token BPE tokenizer (SentencePiece style, digits split) on it"
  "$AFM" tokenizer train --vocab-size 1024 --style sentencepiece --split-digits --format gguf \
    -o "$W/tokenizer.gguf" "$W"/text/*.txt
fi
if [ ! -s "$W/data/data.json" ]; then
  echo "== tokenizing into shards"
  "$AFM" data prepare --tokenizer "$W/tokenizer.gguf" --out "$W/data" --source pydoc "$W"/text/*.txt
fi
echo "== training (configs/recipes/demo.json; Ctrl-C stops with a checkpoint, re-running resumes)"
RESUME=""
[ -d "$W/run/ckpt" ] && RESUME="--resume"
"$AFM" train --recipe configs/recipes/demo.json --data "$W/data" --out "$W/run" $RESUME
"$AFM" plot "$W/run" -o "$W/loss.png"
MODEL=$(ls -d "$W"/run/ckpt/step-*/ | sort | tail -n 1)model.gguf
echo "== a sample from $MODEL"
"$AFM" generate -m "$MODEL" -p "The list" -n 80 --temp 0.8 --seed 1 -t 2
echo "== loss plot: $W/loss.png"
