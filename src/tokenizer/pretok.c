/* Hand-written matchers for the pre-tokenizer regexes (see pretok.h). Each match_* returns the
 * length in bytes of the match at s[0] within s[0..n), n >= 1; the patterns cover every
 * character, so the result is always >= 1. */
#include <string.h>
#include "tokenizer/pretok.h"
#include "tokenizer/unicode.h"

enum { OTHER = AFM_UC_OTHER, LETTER = AFM_UC_LETTER, NUMBER = AFM_UC_NUMBER, SPACE = AFM_UC_SPACE };

/* Class of the character at s[i] (i < n) and its length in bytes. */
static inline int cls_at(const unsigned char *s, size_t n, size_t i, int *len) {
    if (s[i] < 0x80) { *len = 1; return afm_uc_ascii[s[i]]; }
    uint32_t cp;
    *len = afm_utf8_next(s + i, n - i, &cp);
    return afm_uc_class_slow(cp);
}

/* End of the run of class k starting at i. */
static inline size_t run_of(const unsigned char *s, size_t n, size_t i, int k) {
    while (i < n) {
        if (s[i] < 0x80) {
            if (afm_uc_ascii[s[i]] != k) break;
            i++;
            continue;
        }
        int l;
        if (cls_at(s, n, i, &l) != k) break;
        i += (size_t)l;
    }
    return i;
}

/* Whitespace run starting at 0 (s[0] is whitespace): *end = end of the run, *last = start of its
 * last character, *nl = 1 + index of its last \r or \n (0 if none); returns its length in chars. */
static size_t ws_run(const unsigned char *s, size_t n, size_t *end, size_t *last, size_t *nl) {
    size_t j = 0, chars = 0;
    *last = 0;
    *nl = 0;
    while (j < n) {
        int l;
        if (cls_at(s, n, j, &l) != SPACE) break;
        if (s[j] == '\r' || s[j] == '\n') *nl = j + 1;
        *last = j;
        j += (size_t)l;
        chars++;
    }
    *end = j;
    return chars;
}

/* \s+(?!\S)|\s+ on a whitespace run: the whole run if it reaches the end or is one character,
 * otherwise all but its last character (which then starts the next word). */
static size_t ws_tail(size_t chars, size_t end, size_t last, size_t n) {
    return (end == n || chars == 1) ? end : last;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const unsigned char *s, size_t n) {
    if (s[0] == '\'' && n >= 2) {
        unsigned d = s[1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return 2;
        if (n >= 3 && ((d == 'r' && s[2] == 'e') || (d == 'v' && s[2] == 'e') || (d == 'l' && s[2] == 'l'))) return 3;
    }
    if (s[0] == ' ' && n > 1) {
        int l1, k1 = cls_at(s, n, 1, &l1);
        if (k1 != SPACE) return run_of(s, n, 1, k1);
    }
    int l0, k0 = cls_at(s, n, 0, &l0);
    if (k0 != SPACE) return run_of(s, n, 0, k0);
    size_t end, last, nl, chars = ws_run(s, n, &end, &last, &nl);
    return ws_tail(chars, end, last, n);
}

static inline unsigned lower_ascii(unsigned c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d): Oniguruma's case folding also lets 's' match U+017F LATIN SMALL
 * LETTER LONG S (UTF-8 C5 BF), which folds to 's'. Returns the length or 0. */
static size_t contraction_ci(const unsigned char *s, size_t n) {
    if (n < 2) return 0;
    unsigned d = lower_ascii(s[1]);
    if (d == 's' || d == 't' || d == 'm' || d == 'd') return 2;
    if (n >= 3 && s[1] == 0xC5 && s[2] == 0xBF) return 3;
    if (n >= 3) {
        unsigned e = lower_ascii(s[2]);
        if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return 3;
    }
    return 0;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const unsigned char *s, size_t n, int max_digits) {
    if (s[0] == '\'') {
        size_t c = contraction_ci(s, n);
        if (c) return c;
    }
    int l0, k0 = cls_at(s, n, 0, &l0);
    if (k0 == LETTER) return run_of(s, n, 0, LETTER);
    if (k0 != NUMBER && s[0] != '\r' && s[0] != '\n' && (size_t)l0 < n) {
        int l1;
        if (cls_at(s, n, (size_t)l0, &l1) == LETTER) return run_of(s, n, (size_t)l0, LETTER);
    }
    if (k0 == NUMBER) {
        size_t j = 0;
        for (int d = 0; d < max_digits && j < n; d++) {
            int l;
            if (cls_at(s, n, j, &l) != NUMBER) break;
            j += (size_t)l;
        }
        return j;
    }
    size_t st = 0;
    if (s[0] == ' ' && n > 1) {
        int l1;
        if (cls_at(s, n, 1, &l1) == OTHER) st = 1;
    }
    if (st == 1 || k0 == OTHER) {
        size_t j = run_of(s, n, st, OTHER);
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j;
    }
    size_t end, last, nl, chars = ws_run(s, n, &end, &last, &nl);
    if (nl) return nl; /* \s*[\r\n]+ : up to and including the run's last newline */
    return ws_tail(chars, end, last, n);
}

void afm_pretok_begin(afm_pretok_iter *it, afm_pretok kind, const char *s, size_t n) {
    it->s = (const unsigned char *)s;
    it->n = n;
    it->pos = 0;
    it->seg_end = 0;
    it->kind = kind;
}

int afm_pretok_next(afm_pretok_iter *it, size_t *start, size_t *len) {
    if (it->pos >= it->n) return 0;
    const unsigned char *s = it->s + it->pos;
    size_t n = it->n - it->pos, m;
    switch (it->kind) {
    case AFM_PRETOK_GPT2: m = match_gpt2(s, n); break;
    case AFM_PRETOK_LLAMA3: m = match_llama3(s, n, 3); break;
    case AFM_PRETOK_QWEN2: m = match_llama3(s, n, 1); break;
    case AFM_PRETOK_SMOLLM:
        if (it->pos >= it->seg_end) {
            int l;
            if (cls_at(s, n, 0, &l) == NUMBER) { m = (size_t)l; break; }
            size_t j = 0;
            while (j < n) {
                if (s[j] < 0x80) {
                    if (s[j] >= '0' && s[j] <= '9') break;
                    j++;
                    continue;
                }
                if (cls_at(s, n, j, &l) == NUMBER) break;
                j += (size_t)l;
            }
            it->seg_end = it->pos + j;
        }
        m = match_gpt2(s, it->seg_end - it->pos);
        break;
    default: m = n; break;
    }
    *start = it->pos;
    *len = m;
    it->pos += m;
    return 1;
}

static const char *const g_names[AFM_PRETOK_COUNT] = {"default", "gpt-2", "llama-bpe", "qwen2", "smollm"};

const char *afm_pretok_gguf_name(afm_pretok p) { return (unsigned)p < AFM_PRETOK_COUNT ? g_names[p] : NULL; }

int afm_pretok_from_gguf_name(const char *name, size_t len) {
    static const struct { const char *name; afm_pretok p; } map[] = {
        {"gpt-2", AFM_PRETOK_GPT2}, {"gpt2", AFM_PRETOK_GPT2}, {"default", AFM_PRETOK_GPT2},
        {"llama3", AFM_PRETOK_LLAMA3}, {"llama-v3", AFM_PRETOK_LLAMA3}, {"llama-bpe", AFM_PRETOK_LLAMA3},
        {"qwen2", AFM_PRETOK_QWEN2}, {"deepseek-r1-qwen", AFM_PRETOK_QWEN2},
        {"smollm", AFM_PRETOK_SMOLLM}, {"starcoder", AFM_PRETOK_SMOLLM}, {"refact", AFM_PRETOK_SMOLLM},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].name) == len && !memcmp(map[i].name, name, len)) return (int)map[i].p;
    return -1;
}
