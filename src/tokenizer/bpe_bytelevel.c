/* Byte-level BPE (GPT-2): the pre-tokenizer splits the text into words; each word's bytes become
 * the tokens of their GPT-2 characters, then the adjacent pair with the lowest merge rank is
 * merged (leftmost first among equal ranks) until no pair has a merge. Words seen before come
 * from a per-thread cache. */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "base/error.h"

afm_status tok_vec_push(tok_vec *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        int32_t *p = realloc(v->v, cap * sizeof *p);
        if (!p) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for %zu tokens", cap);
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = id;
    return AFM_OK;
}

afm_status tok_vec_append(tok_vec *v, const int32_t *ids, size_t n) {
    if (n == 0) return AFM_OK; /* a word whose bytes all lack tokens */
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->n + n) cap *= 2;
        int32_t *p = realloc(v->v, cap * sizeof *p);
        if (!p) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for %zu tokens", cap);
        v->v = p;
        v->cap = cap;
    }
    memcpy(v->v + v->n, ids, n * sizeof *ids);
    v->n += n;
    return AFM_OK;
}

/* ---- merge lookup ---- */

/* Rank of merging (a, b), INT32_MAX if there is none; *res gets the merged token. */
static inline int32_t merge_rank(const afm_tokenizer *t, int32_t a, int32_t b, int32_t *res) {
    if (a < 0 || b < 0 || !t->merge_map.slots) return INT32_MAX;
    for (uint32_t h = tok_pair_hash(a, b) & t->merge_map.mask;; h = (h + 1) & t->merge_map.mask) {
        int32_t r = t->merge_map.slots[h];
        if (r < 0) return INT32_MAX;
        const int32_t *m = t->merges + 3 * (size_t)r;
        if (m[0] == a && m[1] == b) { *res = m[2]; return r; }
    }
}

/* ---- per-thread word cache ----
 * Two open-addressing tables, emptied when 3/4 full or when the thread switches tokenizer;
 * emptying bumps a generation number (a slot is live only if it carries the current one), so it
 * costs nothing until the 16-bit counter wraps:
 *  - short words (<= 8 bytes, most of them): the bytes packed in a u64 key, up to 5 tokens stored
 *    inline, one 32-byte slot, so a hit costs one multiply, one compare and one copy;
 *  - longer words (<= 128 bytes): hash, key bytes and tokens in side arenas. */

typedef struct short_slot { uint64_t key; uint8_t len, n_tok; uint16_t gen; int32_t tok[5]; } short_slot;
typedef struct cache_slot { uint64_t hash; uint32_t key_off, key_len, tok_off, n_tok, gen; } cache_slot;
typedef struct word_cache {
    uint64_t serial;
    short_slot *short_slots; /* gen != short_gen: empty */
    uint32_t short_mask, short_used;
    uint16_t short_gen;
    cache_slot *slots;       /* gen != gen: empty */
    uint32_t mask, used, gen;
    char *keys;
    size_t keys_used, keys_cap;
    int32_t *toks;
    size_t toks_used, toks_cap;
} word_cache;

enum { SHORT_SLOTS = 1 << 16, CACHE_SLOTS = 1 << 16, CACHE_KEY_BYTES = 1 << 21, CACHE_TOKS = 1 << 19, CACHE_MAX_WORD = 128 };

static pthread_key_t g_cache_key;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static int g_cache_key_ok;

static void cache_destroy(void *p) {
    word_cache *c = p;
    if (!c) return;
    free(c->short_slots);
    free(c->slots);
    free(c->keys);
    free(c->toks);
    free(c);
}

static void cache_make_key(void) { g_cache_key_ok = pthread_key_create(&g_cache_key, cache_destroy) == 0; }

static void short_clear(word_cache *c) {
    if (++c->short_gen == 0) { /* wrapped: make every old slot stale for good */
        memset(c->short_slots, 0, (size_t)(c->short_mask + 1) * sizeof *c->short_slots);
        c->short_gen = 1;
    }
    c->short_used = 0;
}

static void cache_clear(word_cache *c) {
    if (++c->gen == 0) {
        memset(c->slots, 0, (size_t)(c->mask + 1) * sizeof *c->slots);
        c->gen = 1;
    }
    c->used = 0;
    c->keys_used = 0;
    c->toks_used = 0;
}

/* The calling thread's cache, emptied if it last served another tokenizer; NULL if none can be
 * had (then words are encoded without it). */
static word_cache *cache_get(const afm_tokenizer *t) {
    pthread_once(&g_cache_once, cache_make_key);
    if (!g_cache_key_ok) return NULL;
    word_cache *c = pthread_getspecific(g_cache_key);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->short_slots = calloc(SHORT_SLOTS, sizeof *c->short_slots);
        c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
        c->keys = malloc(CACHE_KEY_BYTES);
        c->toks = malloc(CACHE_TOKS * sizeof(int32_t));
        if (!c->short_slots || !c->slots || !c->keys || !c->toks || pthread_setspecific(g_cache_key, c) != 0) {
            cache_destroy(c);
            return NULL;
        }
        c->short_mask = SHORT_SLOTS - 1;
        c->mask = CACHE_SLOTS - 1;
        c->short_gen = 1;
        c->gen = 1;
        c->keys_cap = CACHE_KEY_BYTES;
        c->toks_cap = CACHE_TOKS;
        c->serial = t->serial;
    }
    if (c->serial != t->serial) {
        short_clear(c);
        cache_clear(c);
        c->serial = t->serial;
    }
    return c;
}

static inline uint64_t pack8(const char *w, size_t n) {
    uint64_t k = 0;
    memcpy(&k, w, n);
    return k;
}

static inline short_slot *short_find(word_cache *c, uint64_t key, size_t n) {
    uint32_t i = (uint32_t)(((key ^ (uint64_t)n) * 0x9E3779B97F4A7C15ull) >> 40) & c->short_mask;
    for (;;) {
        short_slot *s = &c->short_slots[i];
        if (s->gen != c->short_gen || (s->key == key && s->len == n)) return s;
        i = (i + 1) & c->short_mask;
    }
}

static inline cache_slot *cache_find(word_cache *c, uint64_t h, const char *w, size_t n) {
    uint32_t i = (uint32_t)h & c->mask;
    for (;;) {
        cache_slot *s = &c->slots[i];
        if (s->gen != c->gen) return s;
        if (s->hash == h && s->key_len == n && !memcmp(c->keys + s->key_off, w, n)) return s;
        i = (i + 1) & c->mask;
    }
}

static void cache_put(word_cache *c, cache_slot *s, uint64_t h, const char *w, size_t n, const int32_t *ids, size_t m) {
    if (c->used * 4 >= (c->mask + 1) * 3 || c->keys_used + n > c->keys_cap || c->toks_used + m > c->toks_cap) {
        cache_clear(c);
        s = cache_find(c, h, w, n);
    }
    memcpy(c->keys + c->keys_used, w, n);
    memcpy(c->toks + c->toks_used, ids, m * sizeof *ids);
    s->hash = h;
    s->key_off = (uint32_t)c->keys_used;
    s->key_len = (uint32_t)n;
    s->tok_off = (uint32_t)c->toks_used;
    s->n_tok = (uint32_t)m;
    s->gen = c->gen;
    c->keys_used += n;
    c->toks_used += m;
    c->used++;
}

/* ---- merging one word ---- */

/* Small words: arrays with the rank of each adjacent pair; each step merges the leftmost pair
 * of lowest rank and updates the two neighbouring ranks. O(m^2) for m symbols, fast for m <= 64. */
static size_t merge_small(const afm_tokenizer *t, int32_t *sym, size_t m) {
    int32_t rank[64], res[64];
    for (size_t i = 0; i + 1 < m; i++) rank[i] = merge_rank(t, sym[i], sym[i + 1], &res[i]);
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        sym[best] = res[best];
        /* drop symbol best+1 and pair best+1 */
        memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
        if (best + 2 < m) {
            memmove(rank + best + 1, rank + best + 2, (m - best - 3) * sizeof *rank);
            memmove(res + best + 1, res + best + 2, (m - best - 3) * sizeof *res);
        }
        m--;
        if (best + 1 < m) rank[best] = merge_rank(t, sym[best], sym[best + 1], &res[best]);
        if (best > 0) rank[best - 1] = merge_rank(t, sym[best - 1], sym[best], &res[best - 1]);
    }
    return m;
}

/* Large words: symbols in a linked list, candidate pairs in a binary min-heap ordered by
 * (rank, position of the left symbol); stale entries are skipped when popped. O(m log m). */
typedef struct heap_ent { int32_t rank, pos, left, right; } heap_ent;

static inline int heap_less(const heap_ent *a, const heap_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_ent *h, size_t *n, heap_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static afm_status merge_large(const afm_tokenizer *t, int32_t *sym, size_t *m_io) {
    size_t m = *m_io;
    int32_t *next = malloc(m * sizeof *next), *prev = malloc(m * sizeof *prev);
    heap_ent *heap = malloc(m * 3 * sizeof *heap); /* m-1 initial pairs + at most 2 per merge */
    if (!next || !prev || !heap) {
        free(next); free(prev); free(heap);
        return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for a word of %zu bytes", m);
    }
    size_t hn = 0;
    for (size_t i = 0; i < m; i++) {
        next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < m; i++) {
        int32_t r, res;
        if ((r = merge_rank(t, sym[i], sym[i + 1], &res)) != INT32_MAX)
            heap_push(heap, &hn, (heap_ent){r, (int32_t)i, sym[i], sym[i + 1]});
    }
    while (hn > 0) {
        heap_ent e = heap_pop(heap, &hn);
        int32_t l = e.pos, r = next[l];
        if (sym[l] != e.left || r < 0 || sym[r] != e.right) continue; /* stale */
        int32_t res = -1;
        merge_rank(t, e.left, e.right, &res);
        sym[l] = res;
        sym[r] = -2; /* removed */
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        int32_t rr, nres;
        if (prev[l] >= 0 && (rr = merge_rank(t, sym[prev[l]], sym[l], &nres)) != INT32_MAX)
            heap_push(heap, &hn, (heap_ent){rr, prev[l], sym[prev[l]], sym[l]});
        if (next[l] >= 0 && (rr = merge_rank(t, sym[l], sym[next[l]], &nres)) != INT32_MAX)
            heap_push(heap, &hn, (heap_ent){rr, l, sym[l], sym[next[l]]});
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) sym[k++] = sym[i];
    *m_io = k;
    free(next); free(prev); free(heap);
    return AFM_OK;
}

/* Encodes one word into ids (at most n of them); returns the count through *m. Bytes without a
 * token become byte_unk, or are dropped when there is none (as HF tokenizers does). */
static afm_status encode_word(const afm_tokenizer *t, const unsigned char *w, size_t n, int32_t *ids, size_t *m) {
    if (t->ignore_merges) {
        char buf[4 * CACHE_MAX_WORD];
        if (n <= CACHE_MAX_WORD) {
            size_t o = 0;
            for (size_t i = 0; i < n; i++) o += (size_t)afm_utf8_encode(tok_gpt2_byte_cp(w[i]), buf + o);
            int32_t id = tok_lookup(t, buf, o);
            if (id >= 0) { ids[0] = id; *m = 1; return AFM_OK; }
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_tok[w[i]];
        if (id < 0) id = t->byte_unk;
        if (id >= 0) ids[k++] = id;
    }
    if (k <= 64) k = merge_small(t, ids, k);
    else AFM_TRY(merge_large(t, ids, &k));
    *m = k;
    return AFM_OK;
}

afm_status tok_encode_bytelevel(const afm_tokenizer *t, const char *text, size_t len, tok_vec *out) {
    word_cache *c = cache_get(t);
    afm_pretok_iter it;
    afm_pretok_begin(&it, t->pretok, text, len);
    size_t st, wl;
    int32_t small[CACHE_MAX_WORD];
    while (afm_pretok_next(&it, &st, &wl)) {
        const char *w = text + st;
        if (c && wl <= 8) {
            uint64_t key = pack8(w, wl);
            short_slot *s = short_find(c, key, wl);
            if (s->gen == c->short_gen) {
                AFM_TRY(tok_vec_append(out, s->tok, s->n_tok));
                continue;
            }
            size_t m;
            AFM_TRY(encode_word(t, (const unsigned char *)w, wl, small, &m));
            AFM_TRY(tok_vec_append(out, small, m));
            if (m <= 5) {
                if (c->short_used * 4 >= (c->short_mask + 1) * 3) {
                    short_clear(c);
                    s = short_find(c, key, wl);
                }
                s->key = key;
                s->len = (uint8_t)wl;
                s->n_tok = (uint8_t)m;
                s->gen = c->short_gen;
                memcpy(s->tok, small, m * sizeof *small);
                c->short_used++;
            }
        } else if (c && wl <= CACHE_MAX_WORD) {
            uint64_t h = tok_hash(w, wl);
            cache_slot *s = cache_find(c, h, w, wl);
            if (s->gen == c->gen) {
                AFM_TRY(tok_vec_append(out, c->toks + s->tok_off, s->n_tok));
                continue;
            }
            size_t m;
            AFM_TRY(encode_word(t, (const unsigned char *)w, wl, small, &m));
            cache_put(c, s, h, w, wl, small, m);
            AFM_TRY(tok_vec_append(out, small, m));
        } else if (wl <= CACHE_MAX_WORD) {
            size_t m;
            AFM_TRY(encode_word(t, (const unsigned char *)w, wl, small, &m));
            AFM_TRY(tok_vec_append(out, small, m));
        } else {
            int32_t *big = malloc(wl * sizeof *big);
            if (!big) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory for a word of %zu bytes", wl);
            size_t m;
            afm_status s = encode_word(t, (const unsigned char *)w, wl, big, &m);
            if (s == AFM_OK) s = tok_vec_append(out, big, m);
            free(big);
            if (s != AFM_OK) return s;
        }
    }
    return AFM_OK;
}
