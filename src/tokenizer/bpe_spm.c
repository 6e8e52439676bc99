/* SentencePiece-style BPE (llama2.c tokenizer.bin, GGUF "llama"): spaces become U+2581 "▁" (and
 * one is prepended when add_space_prefix), the text starts as one symbol per UTF-8 character,
 * then the adjacent pair whose concatenation is the vocabulary token with the highest score is
 * merged (leftmost first among equal scores) until no concatenation is a token. A final symbol
 * that is not a token is spelled with its bytes' <0xNN> tokens (or unk without them). */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "base/error.h"

typedef struct spm_sym { int32_t start, len, prev, next; } spm_sym;
typedef struct spm_pair { float score; int32_t left, right, size; } spm_pair;

/* Max-heap on score, then min on left position. */
static inline int pair_before(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void pq_push(spm_pair *h, size_t *n, spm_pair e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pair_before(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static spm_pair pq_pop(spm_pair *h, size_t *n) {
    spm_pair top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && pair_before(&h[c + 1], &h[c])) c++;
        if (!pair_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static int has_digit(const char *s, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9') return 1;
    return 0;
}

static void try_pair(const afm_tokenizer *t, const char *buf, const spm_sym *sym, int32_t l, int32_t r, spm_pair *h, size_t *hn) {
    if (l < 0 || r < 0) return;
    int32_t st = sym[l].start, size = sym[l].len + sym[r].len;
    if (t->split_digits && has_digit(buf + st, size)) return;
    int32_t id = tok_lookup(t, buf + st, (size_t)size);
    if (id < 0) return;
    pq_push(h, hn, (spm_pair){t->scores[id], l, r, size});
}

afm_status tok_encode_spm(const afm_tokenizer *t, const char *text, size_t len, bool prefix_space, tok_vec *out) {
    if (len == 0) return AFM_OK;
    /* buf = ["▁"] + text with ' ' -> "▁" */
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t blen = len + 2 * spaces + (prefix_space ? 3 : 0);
    if (blen > INT32_MAX / 2) return afm_error(AFM_ERR_RANGE, "tokenizer: text of %zu bytes is too long for one SPM fragment", len);
    char *buf = malloc(blen);
    spm_sym *sym = malloc(blen * sizeof *sym);
    spm_pair *heap = malloc(blen * 3 * sizeof *heap);
    if (!buf || !sym || !heap) {
        free(buf); free(sym); free(heap);
        return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for %zu bytes of text", len);
    }
    size_t o = 0;
    if (prefix_space) { memcpy(buf, "\xE2\x96\x81", 3); o = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(buf + o, "\xE2\x96\x81", 3); o += 3; }
        else buf[o++] = text[i];
    }
    int32_t n = 0;
    for (size_t i = 0; i < blen;) {
        uint32_t cp;
        int l = afm_utf8_next((const unsigned char *)buf + i, blen - i, &cp);
        sym[n] = (spm_sym){(int32_t)i, l, n - 1, -1};
        if (n > 0) sym[n - 1].next = n;
        n++;
        i += (size_t)l;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < n; i++) try_pair(t, buf, sym, i, i + 1, heap, &hn);
    while (hn > 0) {
        spm_pair p = pq_pop(heap, &hn);
        spm_sym *L = &sym[p.left], *R = &sym[p.right];
        if (L->len == 0 || R->len == 0 || L->next != p.right || L->len + R->len != p.size) continue; /* stale */
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) sym[R->next].prev = p.left;
        try_pair(t, buf, sym, L->prev, p.left, heap, &hn);
        try_pair(t, buf, sym, p.left, L->next, heap, &hn);
    }
    afm_status s = AFM_OK;
    for (int32_t i = 0; i >= 0 && s == AFM_OK; i = sym[i].next) {
        int32_t id = tok_lookup(t, buf + sym[i].start, (size_t)sym[i].len);
        if (id >= 0) { s = tok_vec_push(out, id); continue; }
        for (int32_t k = 0; k < sym[i].len && s == AFM_OK; k++) {
            int32_t b = t->byte_tok[(unsigned char)buf[sym[i].start + k]];
            if (b < 0) b = t->unk;
            if (b >= 0) s = tok_vec_push(out, b);
        }
    }
    free(buf); free(sym); free(heap);
    return s;
}
