/* Text -> counted words for BPE training.
 *
 * Special tokens are cut out of the text first (the earliest occurrence wins, the longest one at
 * the same position); the pieces between them are split independently, so no word spans a
 * special token and the special tokens themselves are not counted.
 *
 * Byte-level: the words of the pre-tokenizer pattern (pretok.h), as raw bytes.
 *
 * SentencePiece style: the unit is read as "▁" + text with every ' ' written "▁" (the same
 * prefix the SPM encoder adds). Words are
 *   - "▁" (optional) + a maximal run of letters, or of numbers, or of other non-space characters;
 *   - a maximal run of whitespace characters other than ' ' (newline, tab, ...);
 *   - a "▁" that nothing can follow ("▁" before whitespace, another "▁", a split digit, the end);
 *   - with split_digits: every digit 0-9 alone (it never merges; the encoder knows it too).
 * Invalid UTF-8 bytes belong to no word: they can only ever be encoded with byte tokens. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/bpe_train.h"
#include "tokenizer/unicode.h"
#include "base/error.h"

enum { C_OTHER = AFM_UC_OTHER, C_LETTER = AFM_UC_LETTER, C_NUMBER = AFM_UC_NUMBER, C_SPACE = AFM_UC_SPACE,
       C_MARK = 10, C_DIGIT = 11, C_INVALID = 12 };

/* Class of the character at s[i] for SPM words, and its length. ' ' is the "▁" marker. */
static int spm_class(const unsigned char *s, size_t n, size_t i, bool split_digits, int *len) {
    unsigned c = s[i];
    if (c < 0x80) {
        *len = 1;
        if (c == ' ') return C_MARK;
        if (split_digits && c >= '0' && c <= '9') return C_DIGIT;
        return afm_uc_ascii[c];
    }
    uint32_t cp;
    *len = afm_utf8_next(s + i, n - i, &cp);
    if (cp == 0xFFFFFFFFu) return C_INVALID;
    if (cp == 0x2581) return C_MARK; /* a literal "▁" in the text is the same piece */
    return afm_uc_class_slow(cp);
}

/* Adds one SPM word: marks (count of leading "▁") + s[a..b) with ' ' never inside. */
static afm_status add_spm_word(afm_bpe_counts *c, const unsigned char *s, size_t a, size_t b, bool mark, char **buf, size_t *cap) {
    size_t need = (b - a) + 3;
    if (need > *cap) {
        size_t nc = need * 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for a word of %zu bytes", b - a);
        *buf = nb;
        *cap = nc;
    }
    size_t o = 0;
    if (mark) { memcpy(*buf, "\xE2\x96\x81", 3); o = 3; }
    memcpy(*buf + o, s + a, b - a);
    return afm_bpe_counts_add(c, *buf, o + (b - a), 1);
}

/* SPM words of one piece of text; `mark` says a "▁" precedes it (the unit's prefix). */
static afm_status count_spm(afm_bpe_counts *c, const afm_bpe_train_opts *o, const unsigned char *s, size_t n, bool mark) {
    char *buf = NULL;
    size_t cap = 0;
    afm_status st = AFM_OK;
    size_t i = 0;
    while (st == AFM_OK && (i < n || mark)) {
        if (i >= n) { /* a trailing "▁" */
            st = add_spm_word(c, s, i, i, true, &buf, &cap);
            mark = false;
            break;
        }
        int l, k = spm_class(s, n, i, o->split_digits, &l);
        if (k == C_MARK) {
            if (mark) st = add_spm_word(c, s, i, i, true, &buf, &cap);
            mark = true;
            i += (size_t)l;
            continue;
        }
        if (k == C_INVALID) {
            if (mark) st = add_spm_word(c, s, i, i, true, &buf, &cap);
            mark = false;
            i += (size_t)l;
            continue;
        }
        if (k == C_DIGIT || k == C_SPACE) {
            if (mark) st = add_spm_word(c, s, i, i, true, &buf, &cap);
            if (st != AFM_OK) break;
            mark = false;
            size_t j = i + (size_t)l;
            if (k == C_SPACE) {
                int l2;
                while (j < n && spm_class(s, n, j, o->split_digits, &l2) == C_SPACE) j += (size_t)l2;
            }
            st = add_spm_word(c, s, i, j, false, &buf, &cap);
            i = j;
            continue;
        }
        size_t j = i + (size_t)l;
        int l2;
        while (j < n && spm_class(s, n, j, o->split_digits, &l2) == k) j += (size_t)l2;
        st = add_spm_word(c, s, i, j, mark, &buf, &cap);
        mark = false;
        i = j;
    }
    free(buf);
    return st;
}

/* One piece between special tokens. SPM: each non-empty piece gets the "▁" prefix, as the
 * encoder adds it at the start of the text and after every special token. */
static afm_status count_piece(afm_bpe_counts *c, const afm_bpe_train_opts *o, const char *s, size_t n) {
    if (n == 0) return AFM_OK;
    if (o->style == AFM_BPE_SPM) return count_spm(c, o, (const unsigned char *)s, n, true);
    afm_pretok_iter it;
    afm_pretok_begin(&it, o->pretok, s, n);
    size_t st, len;
    while (afm_pretok_next(&it, &st, &len)) AFM_TRY(afm_bpe_counts_add(c, s + st, len, 1));
    return AFM_OK;
}

/* Position of special token k's first occurrence in t[from..len), or len if none. */
static size_t find_special(const afm_bpe_train_opts *o, int k, const char *t, size_t len, size_t from) {
    size_t kl = strlen(o->specials[k]);
    const char *p = kl && from + kl <= len ? memmem(t + from, len - from, o->specials[k], kl) : NULL;
    return p ? (size_t)(p - t) : len;
}

afm_status afm_bpe_count_text(afm_bpe_counts *c, const afm_bpe_train_opts *o, const char *text, size_t len) {
    if (o->n_specials <= 0) return count_piece(c, o, text, len);
    size_t stack_next[32], *next = stack_next;
    if (o->n_specials > 32) {
        next = malloc((size_t)o->n_specials * sizeof *next);
        if (!next) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    }
    for (int k = 0; k < o->n_specials; k++) next[k] = find_special(o, k, text, len, 0);
    afm_status s = AFM_OK;
    size_t pos = 0;
    while (s == AFM_OK) {
        /* earliest occurrence, longest special at equal positions */
        size_t at = len, slen = 0;
        for (int k = 0; k < o->n_specials; k++) {
            size_t kl = strlen(o->specials[k]);
            if (next[k] < at || (next[k] == at && at < len && kl > slen)) { at = next[k]; slen = kl; }
        }
        s = count_piece(c, o, text + pos, at - pos);
        if (at >= len) break;
        pos = at + slen;
        for (int k = 0; k < o->n_specials; k++)
            if (next[k] < pos) next[k] = find_special(o, k, text, len, pos);
    }
    if (next != stack_next) free(next);
    return s;
}
