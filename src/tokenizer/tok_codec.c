/* Encoding entry point (special-token splitting, then the model's encoder per raw fragment),
 * decoding, and the streaming decoder. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "base/error.h"

/* Longest special token starting at s[0..n) that may be matched, or -1. USER_DEFINED tokens
 * always match; CONTROL tokens only with parse_special (as llama.cpp and HF do). */
static int32_t match_special(const afm_tokenizer *t, const unsigned char *s, size_t n, bool parse_special) {
    const tok_specials *sp = &t->specials;
    unsigned b = s[0];
    for (uint32_t k = sp->start[b]; k < sp->start[b + 1]; k++) {
        int32_t id = sp->ids[k];
        if (!parse_special && t->types[id] == AFM_TOKTYPE_CONTROL) continue;
        size_t l = t->piece_len[id];
        if (l <= n && !memcmp(s, tok_piece(t, id), l)) return id;
    }
    return -1;
}

static afm_status encode_fragment(const afm_tokenizer *t, const char *s, size_t n, bool after_special, tok_vec *v) {
    if (t->kind == AFM_TOK_SPM) return tok_encode_spm(t, s, n, t->add_space_prefix && after_special, v);
    return tok_encode_bytelevel(t, s, n, v);
}

/* The special token matched at u[i] (-1: none). CONTROL tokens match only with parse_special and,
 * when plain ranges are given, only if they lie wholly outside them (*r: the first range not
 * ending before i, advanced as i grows). */
static int32_t match_at(const afm_tokenizer *t, const unsigned char *u, size_t len, size_t i, bool parse_special,
                        const size_t *plain, size_t n_plain, size_t *r) {
    if (!parse_special || !n_plain) return match_special(t, u + i, len - i, parse_special);
    while (*r < n_plain && plain[2 * *r + 1] <= i) (*r)++;
    bool inside = *r < n_plain && plain[2 * *r] <= i;
    int32_t id = match_special(t, u + i, len - i, !inside);
    if (id >= 0 && !inside && t->types[id] == AFM_TOKTYPE_CONTROL && *r < n_plain && i + t->piece_len[id] > plain[2 * *r])
        id = match_special(t, u + i, len - i, false); /* it would reach into plain text */
    return id;
}

static afm_status encode_impl(const afm_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                              const size_t *plain, size_t n_plain, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return afm_error(AFM_ERR_INVALID_ARG, "tokenizer: NULL text of %zu bytes", len);
    for (size_t k = 0; k < n_plain; k++)
        if (plain[2 * k] > plain[2 * k + 1] || plain[2 * k + 1] > len || (k && plain[2 * k] < plain[2 * k - 1]))
            return afm_error(AFM_ERR_INVALID_ARG, "tokenizer: plain range %zu [%zu, %zu) is not sorted, disjoint and within the %zu-byte text",
                             k, plain[2 * k], plain[2 * k + 1], len);
    tok_vec v = {0};
    afm_status s = AFM_OK;
    if (add_bos && t->bos >= 0) s = tok_vec_push(&v, t->bos);
    const unsigned char *u = (const unsigned char *)text;
    bool any_special = false;
    for (int i = 0; i < t->specials.n; i++)
        if (parse_special || t->types[t->specials.ids[i]] != AFM_TOKTYPE_CONTROL) { any_special = true; break; }
    size_t frag = 0;
    bool after_special = true; /* start of text counts as after a special token (SPM space prefix) */
    size_t r = 0;
    if (any_special) {
        const uint64_t *fb = t->specials.first_byte;
        for (size_t i = 0; i < len && s == AFM_OK;) {
            unsigned c = u[i];
            if (!(fb[c >> 6] >> (c & 63) & 1)) { i++; continue; }
            int32_t id = match_at(t, u, len, i, parse_special, plain, n_plain, &r);
            if (id < 0) { i++; continue; }
            if (i > frag) s = encode_fragment(t, text + frag, i - frag, after_special, &v);
            if (s == AFM_OK) s = tok_vec_push(&v, id);
            i += t->piece_len[id];
            frag = i;
            after_special = true;
        }
    }
    if (s == AFM_OK && len > frag) s = encode_fragment(t, text + frag, len - frag, after_special, &v);
    if (s != AFM_OK) { free(v.v); return s; }
    if (!v.v) { /* empty result: still return a valid allocation */
        v.v = malloc(sizeof(int32_t));
        if (!v.v) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    }
    *ids = v.v;
    *n_ids = v.n;
    return AFM_OK;
}

afm_status afm_tokenizer_encode(const afm_tokenizer *t, const char *text, size_t len, bool add_bos,
                                bool parse_special, int32_t **ids, size_t *n_ids) {
    return encode_impl(t, text, len, add_bos, parse_special, NULL, 0, ids, n_ids);
}

afm_status afm_tokenizer_encode_plain(const afm_tokenizer *t, const char *text, size_t len, bool add_bos,
                                      const size_t *plain, size_t n_plain, int32_t **ids, size_t *n_ids) {
    if (n_plain && !plain) return afm_error(AFM_ERR_INVALID_ARG, "tokenizer: NULL plain ranges");
    return encode_impl(t, text, len, add_bos, true, plain, n_plain, ids, n_ids);
}

static bool is_control(const afm_tokenizer *t, int32_t id) {
    return t->types[id] == AFM_TOKTYPE_CONTROL || id == t->bos || id == t->eos;
}

afm_status afm_tokenizer_decode(const afm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                                char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return afm_error(AFM_ERR_INVALID_ARG, "tokenizer: token id %d at position %zu out of range [0, %d)", ids[i], i, t->n_vocab);
        total += tok_bytes_len(t, ids[i]);
    }
    char *buf = malloc(total + 1);
    if (!buf) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for %zu bytes", total + 1);
    size_t o = 0;
    bool first_text = t->kind == AFM_TOK_SPM && t->add_space_prefix;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        bool ctl = is_control(t, id);
        if (ctl && skip_special) continue;
        const char *b = tok_bytes(t, id);
        size_t l = tok_bytes_len(t, id);
        if (!ctl && first_text) {
            /* SPM: drop the space that add_space_prefix put before the first word */
            if (l > 0 && b[0] == ' ') { b++; l--; }
            first_text = false;
        }
        memcpy(buf + o, b, l);
        o += l;
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return AFM_OK;
}

/* ---- streaming ---- */

void afm_detok_init(afm_detok_stream *s, const afm_tokenizer *t) {
    memset(s, 0, sizeof *s);
    s->tok = t;
    s->prev = -1;
}

/* Bytes s[0..n) are a proper prefix of some valid UTF-8 character (more bytes may complete it). */
static bool utf8_incomplete_prefix(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) need = 3;
    else if (c >= 0xF0 && c <= 0xF4) need = 4;
    else return false;
    if (n >= need) return false;
    for (size_t i = 1; i < n; i++) {
        unsigned d = s[i];
        unsigned lo = 0x80, hi = 0xBF;
        if (i == 1) {
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
            else if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        }
        if (d < lo || d > hi) return false;
    }
    return true;
}

/* Emits the complete characters of src[0..n) into buf, keeps an incomplete tail in s->pending. */
static size_t emit(afm_detok_stream *s, const unsigned char *src, size_t n, char *buf, size_t cap, bool final) {
    size_t o = 0, i = 0;
    while (i < n) {
        int l = afm_utf8_valid_len(src + i, n - i);
        if (l == 0) {
            if (!final && utf8_incomplete_prefix(src + i, n - i)) break; /* wait for more bytes */
            l = 1; /* invalid byte: pass through unchanged */
        }
        if (o + (size_t)l > cap) break; /* caller's buffer is full: the rest is dropped */
        memcpy(buf + o, src + i, (size_t)l);
        o += (size_t)l;
        i += (size_t)l;
    }
    size_t rest = n - i;
    if (rest > sizeof s->pending) rest = 0; /* only possible when buf was too small */
    memmove(s->pending, src + i, rest);
    s->n_pending = (int)rest;
    return o;
}

size_t afm_detok_push(afm_detok_stream *s, int32_t id, char *buf, size_t cap) {
    const afm_tokenizer *t = s->tok;
    if (!t || id < 0 || id >= t->n_vocab) return 0;
    int32_t prev = s->prev;
    s->prev = id;
    if (is_control(t, id)) return 0; /* BOS, EOS and control tokens print nothing */
    const char *b = tok_bytes(t, id);
    size_t l = tok_bytes_len(t, id);
    if (t->kind == AFM_TOK_SPM && t->add_space_prefix && prev >= 0 && prev == t->bos && l > 0 && b[0] == ' ') { b++; l--; }
    unsigned char stackbuf[512];
    size_t n = (size_t)s->n_pending + l;
    unsigned char *tmp = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!tmp) return 0;
    memcpy(tmp, s->pending, (size_t)s->n_pending);
    memcpy(tmp + s->n_pending, b, l);
    size_t o = emit(s, tmp, n, buf, cap, false);
    if (tmp != stackbuf) free(tmp);
    return o;
}

size_t afm_detok_flush(afm_detok_stream *s, char *buf, size_t cap) {
    unsigned char tmp[8];
    size_t n = (size_t)s->n_pending;
    memcpy(tmp, s->pending, n);
    return emit(s, tmp, n, buf, cap, true);
}
