/* Pre-tokenizers: split text into the "words" that byte-level BPE encodes one by one. Each
 * pattern is a hand-written matcher equivalent to the regex named beside it (leftmost
 * alternative wins, as in Oniguruma/PCRE), with \p{L}, \p{N}, \s from unicode.h. Invalid UTF-8
 * bytes are single characters of class "other". */
#ifndef AFM_TOKENIZER_PRETOK_H
#define AFM_TOKENIZER_PRETOK_H
#include <stddef.h>

typedef enum afm_pretok {
    /* whole text is one word */
    AFM_PRETOK_NONE = 0,
    /* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    AFM_PRETOK_GPT2,
    /* Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
     *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    AFM_PRETOK_LLAMA3,
    /* Qwen2/Qwen3: the Llama 3 pattern with \p{N} (one digit) instead of \p{N}{1,3} */
    AFM_PRETOK_QWEN2,
    /* SmolLM2 / StarCoder (GGUF pre "smollm", "starcoder", "refact"; HF Sequence[Digits(
     * individual_digits=true), ByteLevel(use_regex=true)]): every \p{N} character is its own word,
     * the text between them is split with the GPT-2 pattern. */
    AFM_PRETOK_SMOLLM,
    AFM_PRETOK_COUNT
} afm_pretok;

/* Iterator over the words of s[0..n). */
typedef struct afm_pretok_iter {
    const unsigned char *s;
    size_t n, pos;
    size_t seg_end;  /* SMOLLM: end of the current digit-free segment */
    afm_pretok kind;
} afm_pretok_iter;

void afm_pretok_begin(afm_pretok_iter *it, afm_pretok kind, const char *s, size_t n);
/* Next word: returns false at the end; otherwise *start and *len give it (len >= 1). */
int afm_pretok_next(afm_pretok_iter *it, size_t *start, size_t *len);

/* Name used in GGUF tokenizer.ggml.pre for a pattern, and the reverse (NULL / -1 if unknown). */
const char *afm_pretok_gguf_name(afm_pretok p);
int afm_pretok_from_gguf_name(const char *name, size_t len);
#endif
