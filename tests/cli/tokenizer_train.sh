#!/usr/bin/env bash
# afm tokenizer train end to end (issue 3, training): vocabularies trained by the CLI, written as
# HF files and as GGUF, are loaded by the Python `tokenizers` package and by afm, and encode a
# sample of every shared corpus identically (byte-level gpt2 / llama3 and SentencePiece style);
# bad input gets an error message and a non-zero exit.
set -euo pipefail
SRC=${AFM_SOURCE_DIR:?}
SHARED=${AFM_SHARED:?}
AFM=${AFM_BIN:?}
PY=${PYTHON:-python3}
if ! "$PY" -c "import tokenizers" 2>/dev/null; then
  echo "error: the Python tokenizers package is missing: pip install -r $SRC/scripts/requirements-test.txt" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corpus=("$SHARED/data/text/tinyshakespeare.txt" "$SHARED/data/pretrain/moby-dick.jsonl")

"$AFM" tokenizer train -q --style bytelevel --vocab-size 1500 --special '<|endoftext|>' --format hf -o "$tmp/gpt2" "${corpus[@]}"
"$AFM" tokenizer train -q --style bytelevel --vocab-size 1500 --special '<|endoftext|>' -o "$tmp/gpt2.gguf" "${corpus[@]}"
"$AFM" tokenizer train -q --style bytelevel --pre llama3 --vocab-size 1200 --special '<|begin_of_text|>' --format hf -o "$tmp/llama3" "${corpus[@]}"
"$AFM" tokenizer train -q --style bytelevel --pre llama3 --vocab-size 1200 --special '<|begin_of_text|>' -o "$tmp/llama3.gguf" "${corpus[@]}"
"$AFM" tokenizer train -q --style sentencepiece --split-digits --vocab-size 1500 --format hf -o "$tmp/spm" "${corpus[@]}"
"$AFM" tokenizer train -q --style sentencepiece --split-digits --vocab-size 1500 -o "$tmp/spm.gguf" "${corpus[@]}"

"$PY" - "$AFM" "$tmp" "$SHARED" <<'PYEOF'
import json, subprocess, sys
from tokenizers import Tokenizer
afm, tmp, shared = sys.argv[1:4]
texts = []
texts.append(open(f"{shared}/data/text/tinyshakespeare.txt", encoding="utf-8").read()[200000:230000])
for i, line in enumerate(open(f"{shared}/data/pretrain/sotu.jsonl", encoding="utf-8")):
    if i in (3, 150):
        texts.append(json.loads(line)["text"][:30000])
for i, line in enumerate(open(f"{shared}/data/pretrain/brown.jsonl", encoding="utf-8")):
    if i in (7, 300):
        texts.append(json.loads(line)["text"])
texts.append(open(f"{shared}/data/email/spamassassin-ham.mbox", "rb").read()[:40000].decode("utf-8", "replace"))
texts.append(open(f"{shared}/data/bpe_fixtures/german.txt", encoding="utf-8").read())
texts.append("Numbers 1234567 and 3.14159, unicode caf\u00e9 \u65e5\u672c\u8a9e \U0001F600, tabs\t\tand   spaces\n\n")

def afm_ids(tok_file, text):
    r = subprocess.run([afm, "tokenize", "--tokenizer", tok_file, "--ids", "--no-bos"], input=text.encode("utf-8"),
                       capture_output=True, check=True)
    return [int(x) for x in r.stdout.split()]

bad = 0
for name in ("gpt2", "llama3", "spm"):
    hf = Tokenizer.from_file(f"{tmp}/{name}/tokenizer.json")
    n = 0
    for k, text in enumerate(texts):
        want = hf.encode(text, add_special_tokens=False).ids
        for src in (f"{tmp}/{name}/tokenizer.json", f"{tmp}/{name}.gguf"):
            got = afm_ids(src, text)
            if got != want:
                bad += 1
                i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                print(f"{name}: text {k} via {src.rsplit('/', 1)[1]}: afm differs from HF at token {i}: "
                      f"{got[i:i+5]} vs {want[i:i+5]}", file=sys.stderr)
        if hf.decode(want, skip_special_tokens=False) != text and name != "spm":
            bad += 1
            print(f"{name}: HF does not round-trip text {k}", file=sys.stderr)
        n += len(want)
    print(f"{name}: {len(texts)} texts, {n} tokens: afm (tokenizer.json and GGUF) == HF tokenizers")
sys.exit(1 if bad else 0)
PYEOF

# bad input: an error line on stderr and exit status 1 (runtime) or 2 (usage)
expect_fail() {  # expect_fail STATUS NEEDLE ARGS...
  local want=$1 needle=$2; shift 2
  set +e; "$AFM" tokenizer train -q "$@" 2>"$tmp/err" >/dev/null; local rc=$?; set -e
  if [ "$rc" != "$want" ] || ! grep -q -- "$needle" "$tmp/err"; then
    echo "FAIL: afm tokenizer train $* -> status $rc, stderr:" >&2; cat "$tmp/err" >&2; exit 1
  fi
}
: > "$tmp/empty.txt"
printf '{"text": "ok"}\n{"text": "ok"\n' > "$tmp/broken.jsonl"
expect_fail 1 "cannot open '$tmp/missing.txt'" --style bytelevel --vocab-size 300 -o "$tmp/x.gguf" "$tmp/missing.txt"
expect_fail 1 "smaller than the initial alphabet" --style bytelevel --vocab-size 100 -o "$tmp/x.gguf" "${corpus[0]}"
expect_fail 1 "no text" --style bytelevel --vocab-size 300 -o "$tmp/x.gguf" "$tmp/empty.txt"
expect_fail 1 "broken.jsonl:2: not a JSON object" --style bytelevel --vocab-size 300 -o "$tmp/x.gguf" "$tmp/broken.jsonl"
expect_fail 2 "give --style" --vocab-size 300 -o "$tmp/x.gguf" "${corpus[0]}"
expect_fail 2 "--pre must be" --style bytelevel --pre gpt4 --vocab-size 300 -o "$tmp/x.gguf" "${corpus[0]}"
expect_fail 2 "give at least one input file" --style bytelevel --vocab-size 300 -o "$tmp/x.gguf"
[ ! -e "$tmp/x.gguf" ] || { echo "FAIL: a failed run left $tmp/x.gguf" >&2; exit 1; }
echo "tokenizer train CLI: ok"
