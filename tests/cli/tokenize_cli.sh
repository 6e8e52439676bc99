#!/usr/bin/env bash
# afm tokenize / detokenize: known ids, byte-exact round trips through the CLI (GGUF, llama2.c and
# GPT-2 files), and clear errors for missing or corrupt tokenizer files.
set -euo pipefail
S="$AFM_SHARED"
TOK="$S/models/stories260K/tok512.bin"
V="$S/data/bpe_fixtures/gpt2_vocab.json"; M="$S/data/bpe_fixtures/gpt2_merges.txt"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

[ "$(printf 'Once upon a time' | "$AFM_BIN" tokenize --tokenizer "$TOK" --ids)" = "1 403 407 261 378" ] || fail "stories260K ids"
[ "$(printf 'Hello world' | "$AFM_BIN" tokenize --tokenizer "$V" --merges "$M" --ids)" = "15496 995" ] || fail "gpt2 ids"

# round trips of text with multi-byte characters and invalid UTF-8
printf 'caf\xc3\xa9 \xff\xfe  \xe2\x82 na\xc3\xafve\n\n\t12345 <|endoftext|>' > "$tmp/in"
for args in "--tokenizer $TOK" "--tokenizer $V --merges $M"; do
  "$AFM_BIN" tokenize $args --ids --no-bos < "$tmp/in" > "$tmp/ids"
  "$AFM_BIN" detokenize $args < "$tmp/ids" > "$tmp/out"
  cmp -s "$tmp/in" "$tmp/out" || fail "round trip with $args"
done

# the tokenizer written to a vocabulary-only GGUF encodes the same
"$AFM_BIN" tokenize --tokenizer "$V" --merges "$M" --write-gguf "$tmp/v.gguf"
[ "$("$AFM_BIN" tokenize -m "$tmp/v.gguf" --ids --no-bos < "$tmp/in")" = "$(cat "$tmp/ids")" ] || fail "GGUF copy encodes differently"

# errors: missing file, truncated tokenizer.bin, vocab.json without merges, bad ids
expect_err() { if "$@" < "$tmp/in" > /dev/null 2> "$tmp/err"; then fail "accepted: $*"; fi; grep -q "^error: " "$tmp/err" || fail "no error message: $*"; }
expect_err "$AFM_BIN" tokenize --tokenizer "$tmp/missing.bin"
head -c 3000 "$TOK" > "$tmp/trunc.bin"
expect_err "$AFM_BIN" tokenize --tokenizer "$tmp/trunc.bin" --vocab-size 512
expect_err "$AFM_BIN" tokenize --tokenizer "$V"
echo "1 2 99999" > "$tmp/badids"
if "$AFM_BIN" detokenize --tokenizer "$TOK" < "$tmp/badids" > /dev/null 2> "$tmp/err"; then fail "bad id accepted"; fi
grep -q "not a token id" "$tmp/err" || fail "bad id message"
echo "tokenize CLI: ok"
