/* Vocabulary construction shared by all loaders: pieces, the piece map, merges, and the tables
 * derived from them (byte tokens, raw token bytes, special tokens, end-of-generation flags). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "base/error.h"

static atomic_uint_fast64_t g_serial = 1;

uint64_t tok_hash(const void *data, size_t n) {
    const unsigned char *s = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

afm_status tok_new(afm_tok_kind kind, int32_t n_vocab, afm_tokenizer **out) {
    *out = NULL;
    if (n_vocab <= 0) return afm_error(AFM_ERR_FORMAT, "tokenizer: empty vocabulary (expected at least one token)");
    if (n_vocab > (1 << 26)) return afm_error(AFM_ERR_RANGE, "tokenizer: vocabulary of %d tokens is larger than the limit 2^26", n_vocab);
    afm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->serial = atomic_fetch_add(&g_serial, 1);
    t->piece_cap = (size_t)n_vocab * 8 + 64;
    t->piece_arena = malloc(t->piece_cap);
    t->piece_off = calloc((size_t)n_vocab, sizeof *t->piece_off);
    t->piece_len = calloc((size_t)n_vocab, sizeof *t->piece_len);
    t->types = malloc((size_t)n_vocab * sizeof *t->types);
    t->attr = calloc((size_t)n_vocab, 1);
    if (kind == AFM_TOK_SPM) t->scores = calloc((size_t)n_vocab, sizeof *t->scores);
    if (!t->piece_arena || !t->piece_off || !t->piece_len || !t->types || !t->attr || (kind == AFM_TOK_SPM && !t->scores)) {
        afm_tokenizer_free(t);
        return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for %d tokens", n_vocab);
    }
    for (int32_t i = 0; i < n_vocab; i++) t->types[i] = AFM_TOKTYPE_NORMAL;
    t->piece_used = 0;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = t->byte_unk = -1;
    t->pretok = AFM_PRETOK_NONE;
    *out = t;
    return AFM_OK;
}

afm_status tok_set_piece(afm_tokenizer *t, int32_t id, const char *s, size_t len) {
    if (id < 0 || id >= t->n_vocab) return afm_error(AFM_ERR_FORMAT, "tokenizer: token id %d out of range [0, %d)", id, t->n_vocab);
    if (len > (1u << 20)) return afm_error(AFM_ERR_FORMAT, "tokenizer: token %d is %zu bytes long (limit 1 MiB)", id, len);
    if (t->piece_used + len + 1 > t->piece_cap) {
        size_t cap = t->piece_cap * 2 + len + 1;
        if (cap > UINT32_MAX) return afm_error(AFM_ERR_RANGE, "tokenizer: vocabulary text exceeds 4 GiB");
        char *a = realloc(t->piece_arena, cap);
        if (!a) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
        t->piece_arena = a;
        t->piece_cap = cap;
    }
    memcpy(t->piece_arena + t->piece_used, s, len);
    t->piece_arena[t->piece_used + len] = 0;
    t->piece_off[id] = (uint32_t)t->piece_used;
    t->piece_len[id] = (uint32_t)len;
    t->piece_used += len + 1;
    return AFM_OK;
}

static uint32_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return (uint32_t)c;
}

afm_status tok_index(afm_tokenizer *t) {
    uint32_t cap = pow2_at_least((uint64_t)t->n_vocab * 2);
    free(t->piece_map.slots);
    t->piece_map.slots = malloc((size_t)cap * sizeof(int32_t));
    if (!t->piece_map.slots) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    memset(t->piece_map.slots, 0xFF, (size_t)cap * sizeof(int32_t));
    t->piece_map.mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *p = tok_piece(t, id);
        size_t len = t->piece_len[id];
        uint32_t h = (uint32_t)tok_hash(p, len) & t->piece_map.mask;
        for (;;) {
            int32_t o = t->piece_map.slots[h];
            if (o < 0) { t->piece_map.slots[h] = id; break; }
            if (t->piece_len[o] == len && !memcmp(tok_piece(t, o), p, len)) break; /* duplicate: keep first */
            h = (h + 1) & t->piece_map.mask;
        }
    }
    return AFM_OK;
}

int32_t tok_lookup(const afm_tokenizer *t, const char *s, size_t len) {
    if (!t->piece_map.slots) return -1;
    uint32_t h = (uint32_t)tok_hash(s, len) & t->piece_map.mask;
    for (;;) {
        int32_t o = t->piece_map.slots[h];
        if (o < 0) return -1;
        if (t->piece_len[o] == len && !memcmp(t->piece_arena + t->piece_off[o], s, len)) return o;
        h = (h + 1) & t->piece_map.mask;
    }
}

static void short_text(char *dst, size_t cap, const char *s, size_t len) {
    size_t n = len < cap - 4 ? len : cap - 4;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) dst[o++] = (s[i] >= 32 && s[i] != 127) ? s[i] : '?';
    if (n < len) { dst[o++] = '.'; dst[o++] = '.'; dst[o++] = '.'; }
    dst[o] = 0;
}

afm_status tok_add_merge(afm_tokenizer *t, const char *left, size_t llen, const char *right, size_t rlen) {
    char a[64], b[64];
    int32_t l = tok_lookup(t, left, llen), r = tok_lookup(t, right, rlen);
    if (l < 0 || r < 0) {
        short_text(a, sizeof a, left, llen);
        short_text(b, sizeof b, right, rlen);
        return afm_error(AFM_ERR_FORMAT, "tokenizer: merge %d '%s %s' names a token that is not in the vocabulary ('%s')",
                         t->n_merges, a, b, l < 0 ? a : b);
    }
    char stackbuf[256];
    char *cat = llen + rlen <= sizeof stackbuf ? stackbuf : malloc(llen + rlen);
    if (!cat) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(cat, left, llen);
    memcpy(cat + llen, right, rlen);
    int32_t m = tok_lookup(t, cat, llen + rlen);
    if (cat != stackbuf) free(cat);
    if (m < 0) {
        short_text(a, sizeof a, left, llen);
        short_text(b, sizeof b, right, rlen);
        return afm_error(AFM_ERR_FORMAT, "tokenizer: merge %d '%s %s' produces '%s%s', which is not in the vocabulary",
                         t->n_merges, a, b, a, b);
    }
    if (t->n_merges == t->merges_cap) {
        int32_t cap = t->merges_cap ? t->merges_cap * 2 : 1024;
        int32_t *v = realloc(t->merges, (size_t)cap * 3 * sizeof(int32_t));
        if (!v) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
        t->merges = v;
        t->merges_cap = cap;
    }
    int32_t *e = t->merges + 3 * (size_t)t->n_merges++;
    e[0] = l;
    e[1] = r;
    e[2] = m;
    return AFM_OK;
}

afm_status tok_add_merge_line(afm_tokenizer *t, const char *line, size_t len) {
    size_t sp = 1;
    while (sp < len && line[sp] != ' ') sp++;
    if (len < 3 || sp >= len - 1) {
        char a[64];
        short_text(a, sizeof a, line, len);
        return afm_error(AFM_ERR_FORMAT, "tokenizer: merge %d '%s' is not of the form 'left right'", t->n_merges, a);
    }
    return tok_add_merge(t, line, sp, line + sp + 1, len - sp - 1);
}

/* Builds the pair -> rank map; the lowest rank wins for a repeated pair. The merge list is first
 * trimmed to its length (it grew by doubling). */
static afm_status build_merge_map(afm_tokenizer *t) {
    if (!t->n_merges) return AFM_OK;
    if (t->n_merges < t->merges_cap) {
        int32_t *m = realloc(t->merges, (size_t)t->n_merges * 3 * sizeof(int32_t));
        if (m) { t->merges = m; t->merges_cap = t->n_merges; }
    }
    uint32_t cap = pow2_at_least((uint64_t)t->n_merges * 2);
    t->merge_map.slots = malloc((size_t)cap * sizeof(int32_t));
    if (!t->merge_map.slots) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    memset(t->merge_map.slots, 0xFF, (size_t)cap * sizeof(int32_t));
    t->merge_map.mask = cap - 1;
    for (int32_t r = 0; r < t->n_merges; r++) {
        const int32_t *e = t->merges + 3 * (size_t)r;
        uint32_t h = tok_pair_hash(e[0], e[1]) & t->merge_map.mask;
        for (;; h = (h + 1) & t->merge_map.mask) {
            int32_t o = t->merge_map.slots[h];
            if (o < 0) { t->merge_map.slots[h] = r; break; }
            if (t->merges[3 * (size_t)o] == e[0] && t->merges[3 * (size_t)o + 1] == e[1]) break; /* repeated pair */
        }
    }
    return AFM_OK;
}

static const char *const g_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "<|return|>", "<|call|>",
};

static int cmp_special(const void *pa, const void *pb, void *ctx) {
    const afm_tokenizer *t = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    unsigned char fa = (unsigned char)tok_piece(t, a)[0], fb = (unsigned char)tok_piece(t, b)[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (t->piece_len[a] != t->piece_len[b]) return t->piece_len[a] > t->piece_len[b] ? -1 : 1; /* longest first */
    return a < b ? -1 : a > b;
}

static afm_status build_specials(afm_tokenizer *t) {
    tok_specials *sp = &t->specials;
    int n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->types[i] == AFM_TOKTYPE_CONTROL || t->types[i] == AFM_TOKTYPE_USER_DEFINED) && t->piece_len[i] > 0) n++;
    sp->ids = malloc(((size_t)n + 1) * sizeof(int32_t));
    if (!sp->ids) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->types[i] == AFM_TOKTYPE_CONTROL || t->types[i] == AFM_TOKTYPE_USER_DEFINED) && t->piece_len[i] > 0) sp->ids[n++] = i;
    qsort_r(sp->ids, (size_t)n, sizeof(int32_t), cmp_special, t);
    sp->n = n;
    memset(sp->first_byte, 0, sizeof sp->first_byte);
    uint32_t k = 0;
    for (int b = 0; b <= 256; b++) {
        sp->start[b] = k;
        while (b < 256 && k < (uint32_t)n && (unsigned char)tok_piece(t, sp->ids[k])[0] == b) {
            sp->first_byte[b >> 6] |= 1ull << (b & 63);
            k++;
        }
    }
    return AFM_OK;
}

/* Raw bytes of every token (see afm_tokenizer_token_bytes and tok_internal.h): each token's are
 * converted at the end of bytes_arena, then kept there only if they differ from its piece. Every
 * conversion below writes at most as many bytes as it reads, so the pieces' total bounds the arena,
 * which is then cut to what it holds. */
static afm_status build_token_bytes(afm_tokenizer *t) {
    t->bytes_arena = malloc(t->piece_used + 1);
    t->bytes_off = malloc(((size_t)t->n_vocab + 1) * sizeof(uint32_t));
    if (!t->bytes_arena || !t->bytes_off) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    t->max_token_bytes = 0;
    size_t at = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const unsigned char *p = (const unsigned char *)tok_piece(t, id);
        size_t len = t->piece_len[id];
        int type = t->types[id];
        char *dst = t->bytes_arena + at;
        size_t w = 0;
        bool raw = type == AFM_TOKTYPE_CONTROL || type == AFM_TOKTYPE_UNKNOWN || type == AFM_TOKTYPE_UNUSED ||
                   (t->kind == AFM_TOK_BYTELEVEL && type == AFM_TOKTYPE_USER_DEFINED);
        if (raw) {
            memcpy(dst, p, len);
            w = len;
        } else if (t->kind == AFM_TOK_SPM && type == AFM_TOKTYPE_BYTE && len == 6 && !memcmp(p, "<0x", 3) && p[5] == '>') {
            unsigned v = 0;
            for (int i = 3; i < 5; i++) {
                unsigned c = p[i];
                v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0);
            }
            dst[w++] = (char)v;
        } else if (t->kind == AFM_TOK_SPM) {
            for (size_t i = 0; i < len;) {
                if (i + 3 <= len && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81) { dst[w++] = ' '; i += 3; }
                else dst[w++] = (char)p[i++];
            }
        } else {
            for (size_t i = 0; i < len;) {
                uint32_t cp;
                int l = afm_utf8_next(p + i, len - i, &cp);
                int b = cp == 0xFFFFFFFFu ? -1 : tok_gpt2_cp_byte(cp);
                if (b >= 0) dst[w++] = (char)b;
                else { memcpy(dst + w, p + i, (size_t)l); w += (size_t)l; }
                i += (size_t)l;
            }
        }
        t->bytes_off[id] = (uint32_t)at;
        if (w == len && !memcmp(dst, p, len)) t->attr[id] |= TOK_ATTR_BYTES_ARE_PIECE;
        else at += w;
        if (w > t->max_token_bytes) t->max_token_bytes = (uint32_t)w;
    }
    t->bytes_off[t->n_vocab] = (uint32_t)at;
    char *cut = realloc(t->bytes_arena, at + 1);
    if (cut) t->bytes_arena = cut;
    return AFM_OK;
}

afm_status tok_finish(afm_tokenizer *t) {
    if (!t->piece_map.slots) AFM_TRY(tok_index(t));
    AFM_TRY(build_merge_map(t));
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int l;
        if (t->kind == AFM_TOK_BYTELEVEL) l = afm_utf8_encode(tok_gpt2_byte_cp((unsigned)b), buf);
        else l = snprintf(buf, sizeof buf, "<0x%02X>", b);
        t->byte_tok[b] = tok_lookup(t, buf, (size_t)l);
    }
    AFM_TRY(build_token_bytes(t));
    AFM_TRY(build_specials(t));
    int32_t ids[4] = {t->eos, t->eot, t->eom, -1};
    for (int i = 0; i < 4; i++)
        if (ids[i] >= 0 && ids[i] < t->n_vocab) t->attr[ids[i]] |= TOK_ATTR_EOG;
    for (size_t k = 0; k < sizeof g_eog_texts / sizeof g_eog_texts[0]; k++) {
        int32_t id = tok_lookup(t, g_eog_texts[k], strlen(g_eog_texts[k]));
        if (id >= 0 && (t->types[id] == AFM_TOKTYPE_CONTROL || t->types[id] == AFM_TOKTYPE_USER_DEFINED)) t->attr[id] |= TOK_ATTR_EOG;
    }
    const int32_t special[] = {t->bos, t->eos, t->eot, t->eom, t->unk, t->pad};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (special[i] >= t->n_vocab) return afm_error(AFM_ERR_FORMAT, "tokenizer: special token id %d out of range [0, %d)", special[i], t->n_vocab);
    return AFM_OK;
}

void afm_tokenizer_free(afm_tokenizer *t) {
    if (!t) return;
    free(t->piece_arena);
    free(t->piece_off);
    free(t->piece_len);
    free(t->types);
    free(t->scores);
    free(t->attr);
    free(t->bytes_arena);
    free(t->bytes_off);
    free(t->piece_map.slots);
    free(t->merge_map.slots);
    free(t->merges);
    free(t->specials.ids);
    free(t->chat_template);
    free(t);
}

afm_tok_kind afm_tokenizer_kind(const afm_tokenizer *t) { return t->kind; }
int32_t afm_tokenizer_n_vocab(const afm_tokenizer *t) { return t->n_vocab; }
int32_t afm_tokenizer_bos(const afm_tokenizer *t) { return t->bos; }
int32_t afm_tokenizer_eos(const afm_tokenizer *t) { return t->eos; }
bool afm_tokenizer_add_bos(const afm_tokenizer *t) { return t->add_bos && t->bos >= 0; }
bool afm_tokenizer_is_eog(const afm_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab && (t->attr[id] & TOK_ATTR_EOG); }
int32_t afm_tokenizer_find(const afm_tokenizer *t, const char *piece) { return tok_lookup(t, piece, strlen(piece)); }
const char *afm_tokenizer_chat_template(const afm_tokenizer *t) { return t->chat_template; }
const char *afm_tokenizer_piece(const afm_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab ? tok_piece(t, id) : NULL; }
uint32_t afm_tokenizer_max_token_bytes(const afm_tokenizer *t) { return t->max_token_bytes; }
int32_t afm_tokenizer_token_type(const afm_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab ? t->types[id] : -1; }

afm_status afm_tokenizer_token_bytes(const afm_tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return afm_error(AFM_ERR_INVALID_ARG, "token id %d out of range [0, %d)", id, t->n_vocab);
    *bytes = tok_bytes(t, id);
    *len = tok_bytes_len(t, id);
    return AFM_OK;
}
