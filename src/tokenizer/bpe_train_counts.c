/* Word counts for BPE training: an open-addressing hash map from word bytes (kept in one arena)
 * to an occurrence count. Slots hold (hash high 32 bits << 32) | (entry index + 1), so most
 * probes that miss are rejected without touching the arena. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/bpe_train.h"
#include "tokenizer/tok_internal.h"
#include "base/error.h"

struct afm_bpe_counts {
    uint64_t *slots; /* 0: empty */
    uint64_t mask;
    size_t n, cap;   /* entries */
    uint64_t *count;
    size_t *off;
    uint32_t *len;
    char *arena;
    size_t used, acap;
    uint64_t total;
};

afm_status afm_bpe_counts_create(afm_bpe_counts **out) {
    afm_bpe_counts *c = calloc(1, sizeof *c);
    if (!c) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for word counts");
    c->mask = (1u << 12) - 1;
    c->slots = calloc(c->mask + 1, sizeof *c->slots);
    if (!c->slots) { free(c); return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for word counts"); }
    *out = c;
    return AFM_OK;
}

void afm_bpe_counts_free(afm_bpe_counts *c) {
    if (!c) return;
    free(c->slots); free(c->count); free(c->off); free(c->len); free(c->arena);
    free(c);
}

size_t afm_bpe_counts_size(const afm_bpe_counts *c) { return c->n; }
uint64_t afm_bpe_counts_total(const afm_bpe_counts *c) { return c->total; }

bool afm_bpe_counts_get(const afm_bpe_counts *c, size_t i, const char **w, size_t *len, uint64_t *n) {
    if (i >= c->n) return false;
    *w = c->arena + c->off[i];
    *len = c->len[i];
    *n = c->count[i];
    return true;
}

static afm_status grow_slots(afm_bpe_counts *c) {
    uint64_t nmask = c->mask * 2 + 1;
    uint64_t *ns = calloc(nmask + 1, sizeof *ns);
    if (!ns) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory growing the word map to %llu slots", (unsigned long long)(nmask + 1));
    for (size_t i = 0; i < c->n; i++) {
        uint64_t h = tok_hash(c->arena + c->off[i], c->len[i]);
        uint64_t j = h & nmask;
        while (ns[j]) j = (j + 1) & nmask;
        ns[j] = (h >> 32 << 32) | (uint64_t)(i + 1);
    }
    free(c->slots);
    c->slots = ns;
    c->mask = nmask;
    return AFM_OK;
}

static afm_status new_entry(afm_bpe_counts *c, const char *w, size_t len, uint64_t h, uint64_t slot, uint64_t n) {
    if (c->n >= UINT32_MAX - 1) return afm_error(AFM_ERR_RANGE, "bpe train: more than 2^32 distinct words");
    if (len > UINT32_MAX) return afm_error(AFM_ERR_RANGE, "bpe train: a word of %zu bytes is too long", len);
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        uint64_t *cnt = realloc(c->count, nc * sizeof *cnt);
        if (cnt) c->count = cnt;
        size_t *off = realloc(c->off, nc * sizeof *off);
        if (off) c->off = off;
        uint32_t *ln = realloc(c->len, nc * sizeof *ln);
        if (ln) c->len = ln;
        if (!cnt || !off || !ln) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for %zu distinct words", nc);
        c->cap = nc;
    }
    if (c->used + len > c->acap) {
        size_t na = c->acap ? c->acap : 1 << 16;
        while (na < c->used + len) na *= 2;
        char *a = realloc(c->arena, na);
        if (!a) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for %zu bytes of distinct words", na);
        c->arena = a;
        c->acap = na;
    }
    memcpy(c->arena + c->used, w, len);
    c->off[c->n] = c->used;
    c->len[c->n] = (uint32_t)len;
    c->count[c->n] = n;
    c->used += len;
    c->n++;
    c->slots[slot] = (h >> 32 << 32) | (uint64_t)c->n;
    if (c->n * 2 > c->mask) return grow_slots(c); /* load factor <= 1/2 */
    return AFM_OK;
}

afm_status afm_bpe_counts_add(afm_bpe_counts *c, const char *w, size_t len, uint64_t n) {
    uint64_t h = tok_hash(w, len), tag = h >> 32 << 32;
    uint64_t j = h & c->mask;
    c->total += n;
    for (;;) {
        uint64_t s = c->slots[j];
        if (!s) return new_entry(c, w, len, h, j, n);
        if ((s >> 32 << 32) == tag) {
            size_t i = (size_t)(uint32_t)s - 1;
            if (c->len[i] == len && !memcmp(c->arena + c->off[i], w, len)) {
                c->count[i] += n;
                return AFM_OK;
            }
        }
        j = (j + 1) & c->mask;
    }
}

afm_status afm_bpe_counts_merge(afm_bpe_counts *dst, const afm_bpe_counts *src) {
    for (size_t i = 0; i < src->n; i++) AFM_TRY(afm_bpe_counts_add(dst, src->arena + src->off[i], src->len[i], src->count[i]));
    return AFM_OK;
}
