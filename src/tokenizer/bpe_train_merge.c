/* The BPE merge loop (see bpe_train.h for the merge order).
 *
 * State, over the W distinct words (each a sequence of token ids, weighted by its count):
 *   count(p)  for every adjacent pair p = (left, right): sum over words of count(word) times the
 *             occurrences of p, kept exactly as HF's BpeTrainer keeps it;
 *   words(p)  the words where p has been created (initially, or by a merge); may hold words that
 *             no longer contain p, never misses one that does;
 *   a max-heap of pairs keyed by (count, tie rule), indexed (each pair knows its heap slot) so a
 *             changed count moves its pair in O(log P).
 * Merging p = (a, b) into c rewrites only the words in words(p), left to right without overlap
 * ("a a a" -> "aa a"), and for each occurrence applies the count changes
 *   (prev, a) -= n, (prev, c) += n, (b, next) -= n, (c, next) += n     (n = the word's count)
 * where prev is the symbol before the occurrence after earlier rewrites and next the one after.
 * Pairs whose counts changed are re-placed in the heap once per merge step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/bpe_train.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "base/error.h"

typedef struct word_list { uint32_t *w; uint32_t n, cap; } word_list;
typedef struct pair_slot { uint64_t key; uint32_t idx; } pair_slot; /* key UINT64_MAX: empty */

enum { PF_DIRTY = 1, PF_GREW = 2, PF_BLOCKED = 4 };

typedef struct trainer {
    const afm_bpe_train_opts *o;
    /* tokens */
    char *tarena;
    size_t tused, tacap;
    uint32_t *toff, *tlen;
    int32_t *ttype;
    int32_t ntok, tcap;
    int32_t *tmap; /* piece -> id, open addressing, -1 empty */
    uint32_t tmask;
    /* words */
    int32_t *sym;
    size_t *woff;
    uint32_t *wlen;
    int64_t *wcount;
    uint32_t nwords;
    /* pairs */
    pair_slot *pmap;
    uint64_t pmask;
    int32_t *pa, *pb;
    int64_t *pcount;
    int64_t *pdelta; /* count changes of the current step, applied one pair at a time by settle() */
    int32_t *hpos; /* heap slot, -1 if not in the heap */
    word_list *plist;
    uint8_t *pflags;
    uint32_t npairs, pcap;
    uint32_t *heap, hn, hcap;
    char *scratch;
    size_t scap;
    uint32_t *dirty, ndirty, dcap;
    /* result */
    int32_t *merges;
    int32_t nmerges, mcap;
} trainer;

/* ---------- tokens ---------- */

static afm_status tmap_rebuild(trainer *t, uint32_t nmask) {
    int32_t *m = malloc(((size_t)nmask + 1) * sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    memset(m, 0xFF, ((size_t)nmask + 1) * sizeof *m);
    for (int32_t id = 0; id < t->ntok; id++) {
        uint32_t h = (uint32_t)tok_hash(t->tarena + t->toff[id], t->tlen[id]) & nmask;
        while (m[h] >= 0) h = (h + 1) & nmask;
        m[h] = id;
    }
    free(t->tmap);
    t->tmap = m;
    t->tmask = nmask;
    return AFM_OK;
}

static int32_t tok_find(const trainer *t, const char *s, size_t len) {
    uint32_t h = (uint32_t)tok_hash(s, len) & t->tmask;
    for (;;) {
        int32_t id = t->tmap[h];
        if (id < 0) return -1;
        if (t->tlen[id] == len && !memcmp(t->tarena + t->toff[id], s, len)) return id;
        h = (h + 1) & t->tmask;
    }
}

/* Appends a token (bytes a then b) of the given type; returns its id in *id. */
static afm_status tok_push(trainer *t, const char *a, size_t la, const char *b, size_t lb, int32_t type, int32_t *id) {
    size_t len = la + lb;
    if (len > UINT32_MAX) return afm_error(AFM_ERR_RANGE, "bpe train: token of %zu bytes", len);
    if (t->ntok == t->tcap) {
        int32_t nc = t->tcap ? t->tcap * 2 : 1024;
        uint32_t *off = realloc(t->toff, (size_t)nc * sizeof *off);
        if (off) t->toff = off;
        uint32_t *ln = realloc(t->tlen, (size_t)nc * sizeof *ln);
        if (ln) t->tlen = ln;
        int32_t *ty = realloc(t->ttype, (size_t)nc * sizeof *ty);
        if (ty) t->ttype = ty;
        if (!off || !ln || !ty) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for %d tokens", nc);
        t->tcap = nc;
    }
    if (t->tused + len > t->tacap) {
        size_t na = t->tacap ? t->tacap : 1 << 16;
        while (na < t->tused + len) na *= 2;
        if (na > UINT32_MAX) return afm_error(AFM_ERR_RANGE, "bpe train: tokens take more than 4 GiB");
        char *ar = realloc(t->tarena, na);
        if (!ar) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for token bytes");
        t->tarena = ar;
        t->tacap = na;
    }
    memcpy(t->tarena + t->tused, a, la);
    if (lb) memcpy(t->tarena + t->tused + la, b, lb);
    int32_t n = t->ntok++;
    t->toff[n] = (uint32_t)t->tused;
    t->tlen[n] = (uint32_t)len;
    t->ttype[n] = type;
    t->tused += len;
    *id = n;
    if ((uint32_t)t->ntok * 2 > t->tmask) return tmap_rebuild(t, t->tmask * 2 + 1);
    uint32_t h = (uint32_t)tok_hash(t->tarena + t->toff[n], len) & t->tmask;
    while (t->tmap[h] >= 0) h = (h + 1) & t->tmask;
    t->tmap[h] = n;
    return AFM_OK;
}

/* Python-style byte string comparison: memcmp, then the shorter first. */
static inline int cmp_tok(const trainer *t, int32_t x, int32_t y) {
    uint32_t lx = t->tlen[x], ly = t->tlen[y];
    int c = memcmp(t->tarena + t->toff[x], t->tarena + t->toff[y], lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly;
}

/* ---------- pairs and the heap ---------- */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static afm_status pmap_grow(trainer *t) {
    uint64_t nmask = t->pmask ? t->pmask * 2 + 1 : (1u << 12) - 1;
    pair_slot *m = malloc((nmask + 1) * sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for %llu pair slots", (unsigned long long)(nmask + 1));
    for (uint64_t i = 0; i <= nmask; i++) m[i].key = UINT64_MAX;
    for (uint32_t p = 0; p < t->npairs; p++) {
        uint64_t k = pair_key(t->pa[p], t->pb[p]), h = mix64(k) & nmask;
        while (m[h].key != UINT64_MAX) h = (h + 1) & nmask;
        m[h] = (pair_slot){k, p};
    }
    free(t->pmap);
    t->pmap = m;
    t->pmask = nmask;
    return AFM_OK;
}

/* Index of pair (a, b), created with count 0 if new. */
static afm_status pair_get(trainer *t, int32_t a, int32_t b, uint32_t *out) {
    uint64_t k = pair_key(a, b), h = mix64(k) & t->pmask;
    for (;;) {
        pair_slot *s = &t->pmap[h];
        if (s->key == k) { *out = s->idx; return AFM_OK; }
        if (s->key == UINT64_MAX) break;
        h = (h + 1) & t->pmask;
    }
    if (t->npairs == UINT32_MAX - 1) return afm_error(AFM_ERR_RANGE, "bpe train: more than 2^32 distinct pairs");
    if (t->npairs == t->pcap) {
        uint32_t nc = t->pcap ? t->pcap + t->pcap / 2 : 1u << 12;
        int32_t *pa = realloc(t->pa, (size_t)nc * sizeof *pa);
        if (pa) t->pa = pa;
        int32_t *pb = realloc(t->pb, (size_t)nc * sizeof *pb);
        if (pb) t->pb = pb;
        int64_t *pc = realloc(t->pcount, (size_t)nc * sizeof *pc);
        if (pc) t->pcount = pc;
        int64_t *pd = realloc(t->pdelta, (size_t)nc * sizeof *pd);
        if (pd) t->pdelta = pd;
        int32_t *hp = realloc(t->hpos, (size_t)nc * sizeof *hp);
        if (hp) t->hpos = hp;
        word_list *pl = realloc(t->plist, (size_t)nc * sizeof *pl);
        if (pl) t->plist = pl;
        uint8_t *pf = realloc(t->pflags, (size_t)nc);
        if (pf) t->pflags = pf;
        if (!pa || !pb || !pc || !pd || !hp || !pl || !pf) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for %u pairs", nc);
        t->pcap = nc;
    }
    uint32_t p = t->npairs++;
    t->pa[p] = a;
    t->pb[p] = b;
    t->pcount[p] = 0;
    t->pdelta[p] = 0;
    t->hpos[p] = -1;
    t->plist[p] = (word_list){0};
    t->pflags[p] = 0;
    t->pmap[h] = (pair_slot){k, p};
    if ((uint64_t)t->npairs * 2 > t->pmask) AFM_TRY(pmap_grow(t));
    *out = p;
    return AFM_OK;
}

static afm_status list_add(word_list *l, uint32_t w) {
    if (l->n && l->w[l->n - 1] == w) return AFM_OK;
    if (l->n == l->cap) {
        uint32_t nc = l->cap ? l->cap * 2 : 2;
        uint32_t *nw = realloc(l->w, (size_t)nc * sizeof *nw);
        if (!nw) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
        l->w = nw;
        l->cap = nc;
    }
    l->w[l->n++] = w;
    return AFM_OK;
}

/* Heap order: higher count first; equal counts by the tie rule. */
static inline bool before(const trainer *t, uint32_t p, uint32_t q) {
    if (t->pcount[p] != t->pcount[q]) return t->pcount[p] > t->pcount[q];
    if (t->o->ties == AFM_BPE_TIES_HF) return t->pa[p] != t->pa[q] ? t->pa[p] < t->pa[q] : t->pb[p] < t->pb[q];
    int c = cmp_tok(t, t->pa[p], t->pa[q]);
    if (c) return c > 0;
    return cmp_tok(t, t->pb[p], t->pb[q]) > 0;
}

static void sift_up(trainer *t, uint32_t i) {
    uint32_t p = t->heap[i];
    while (i > 0) {
        uint32_t up = (i - 1) / 2;
        if (!before(t, p, t->heap[up])) break;
        t->heap[i] = t->heap[up];
        t->hpos[t->heap[i]] = (int32_t)i;
        i = up;
    }
    t->heap[i] = p;
    t->hpos[p] = (int32_t)i;
}

static void sift_down(trainer *t, uint32_t i) {
    uint32_t p = t->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= t->hn) break;
        if (c + 1 < t->hn && before(t, t->heap[c + 1], t->heap[c])) c++;
        if (!before(t, t->heap[c], p)) break;
        t->heap[i] = t->heap[c];
        t->hpos[t->heap[i]] = (int32_t)i;
        i = c;
    }
    t->heap[i] = p;
    t->hpos[p] = (int32_t)i;
}

static void heap_remove(trainer *t, uint32_t p) {
    uint32_t i = (uint32_t)t->hpos[p];
    t->hpos[p] = -1;
    uint32_t last = t->heap[--t->hn];
    if (i == t->hn) return;
    t->heap[i] = last;
    t->hpos[last] = (int32_t)i;
    sift_up(t, i);
    sift_down(t, (uint32_t)t->hpos[last]);
}

static afm_status heap_insert(trainer *t, uint32_t p) {
    if (t->hn == t->hcap) {
        uint32_t nc = t->hcap + t->hcap / 2 + 1024;
        uint32_t *h = realloc(t->heap, (size_t)nc * sizeof *h);
        if (!h) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for the pair heap");
        t->heap = h;
        t->hcap = nc;
    }
    t->heap[t->hn] = p;
    sift_up(t, t->hn++);
    return AFM_OK;
}

/* Records delta for pair (x, y)'s count from word w; settle() applies it. (Applying every
 * change to the heap at once would leave several keys wrong at the same time, and sifting one
 * of them past another one that is still wrong can break the heap order.) */
static afm_status change(trainer *t, int32_t x, int32_t y, int64_t delta, uint32_t w) {
    uint32_t p;
    AFM_TRY(pair_get(t, x, y, &p));
    t->pdelta[p] += delta;
    if (!(t->pflags[p] & PF_DIRTY)) {
        if (t->ndirty == t->dcap) {
            uint32_t nc = t->dcap ? t->dcap * 2 : 4096;
            uint32_t *d = realloc(t->dirty, (size_t)nc * sizeof *d);
            if (!d) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
            t->dirty = d;
            t->dcap = nc;
        }
        t->dirty[t->ndirty++] = p;
        t->pflags[p] |= PF_DIRTY;
    }
    if (delta > 0) {
        t->pflags[p] |= PF_GREW;
        AFM_TRY(list_add(&t->plist[p], w));
    }
    return AFM_OK;
}

/* Rewrites (a, b) -> c in word w (see the file comment). */
static afm_status merge_word(trainer *t, uint32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *s = t->sym + t->woff[w];
    uint32_t n = t->wlen[w], i = 0, j = 0;
    int64_t cnt = t->wcount[w];
    while (i < n) {
        if (s[i] == a && i + 1 < n && s[i + 1] == b) {
            if (j > 0) {
                AFM_TRY(change(t, s[j - 1], a, -cnt, w));
                AFM_TRY(change(t, s[j - 1], c, cnt, w));
            }
            if (i + 2 < n) {
                AFM_TRY(change(t, b, s[i + 2], -cnt, w));
                AFM_TRY(change(t, c, s[i + 2], cnt, w));
            }
            s[j++] = c;
            i += 2;
        } else s[j++] = s[i++];
    }
    t->wlen[w] = j;
    return AFM_OK;
}

/* Applies this step's count changes one pair at a time, re-placing each in the heap. */
static afm_status settle(trainer *t) {
    for (uint32_t k = 0; k < t->ndirty; k++) {
        uint32_t p = t->dirty[k];
        t->pcount[p] += t->pdelta[p];
        t->pdelta[p] = 0;
        bool grew = t->pflags[p] & PF_GREW;
        t->pflags[p] &= (uint8_t)~(PF_DIRTY | PF_GREW);
        if (t->hpos[p] >= 0) {
            if (t->pcount[p] <= 0) heap_remove(t, p);
            else {
                sift_up(t, (uint32_t)t->hpos[p]);
                sift_down(t, (uint32_t)t->hpos[p]);
            }
        } else if (grew && t->pcount[p] > 0 && !(t->pflags[p] & PF_BLOCKED)) AFM_TRY(heap_insert(t, p));
    }
    t->ndirty = 0;
    return AFM_OK;
}

/* ---------- setup ---------- */

/* Byte-level alphabet: the 256 bytes in the order of their GPT-2 characters' code points. */
static afm_status setup_bytelevel(trainer *t, int32_t byte_id[256]) {
    int order[256], n = 0;
    for (uint32_t cp = 0; cp < 324; cp++) {
        int b = tok_gpt2_cp_byte(cp);
        if (b >= 0) order[n++] = b;
    }
    for (int k = 0; k < 256; k++) {
        char c = (char)order[k];
        AFM_TRY(tok_push(t, &c, 1, NULL, 0, AFM_TOKTYPE_NORMAL, &byte_id[order[k]]));
    }
    return AFM_OK;
}

typedef struct char_count { uint32_t cp; uint64_t n; } char_count;
static int by_count_desc(const void *x, const void *y) {
    const char_count *a = x, *b = y;
    if (a->n != b->n) return a->n > b->n ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}
static int by_cp(const void *x, const void *y) {
    const char_count *a = x, *b = y;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

/* SPM alphabet: code points in increasing order with their token ids. */
typedef struct spm_alphabet { uint32_t *cp; int32_t *id; size_t n; } spm_alphabet;

static int32_t alpha_find(const spm_alphabet *a, uint32_t cp) {
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->cp[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < a->n && a->cp[lo] == cp ? a->id[lo] : -1;
}

/* Frequency of every code point in the words (open addressing, key UINT32_MAX = empty). */
static afm_status char_freqs(const afm_bpe_counts *c, char_count **out, size_t *n_out) {
    size_t mask = 255, n = 0;
    char_count *m = malloc((mask + 1) * sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    for (size_t i = 0; i <= mask; i++) m[i] = (char_count){UINT32_MAX, 0};
    const char *w;
    size_t len;
    uint64_t cnt;
    for (size_t i = 0; afm_bpe_counts_get(c, i, &w, &len, &cnt); i++)
        for (size_t k = 0; k < len;) {
            uint32_t cp;
            k += (size_t)afm_utf8_next((const unsigned char *)w + k, len - k, &cp);
            if (cp >= 0x110000) continue;
            size_t h = (cp * 0x9E3779B1u) & mask;
            while (m[h].cp != UINT32_MAX && m[h].cp != cp) h = (h + 1) & mask;
            if (m[h].cp == UINT32_MAX) {
                m[h].cp = cp;
                if (++n * 2 > mask) { /* grow */
                    size_t nmask = mask * 2 + 1;
                    char_count *nm = malloc((nmask + 1) * sizeof *nm);
                    if (!nm) { free(m); return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory"); }
                    for (size_t j = 0; j <= nmask; j++) nm[j] = (char_count){UINT32_MAX, 0};
                    m[h].n += cnt;
                    for (size_t j = 0; j <= mask; j++) {
                        if (m[j].cp == UINT32_MAX) continue;
                        size_t g = (m[j].cp * 0x9E3779B1u) & nmask;
                        while (nm[g].cp != UINT32_MAX) g = (g + 1) & nmask;
                        nm[g] = m[j];
                    }
                    free(m);
                    m = nm;
                    mask = nmask;
                    continue;
                }
            }
            m[h].n += cnt;
        }
    size_t o = 0;
    for (size_t i = 0; i <= mask; i++)
        if (m[i].cp != UINT32_MAX) m[o++] = m[i];
    *out = m;
    *n_out = o;
    return AFM_OK;
}

/* SPM alphabet: <0x00>..<0xFF>, then the characters seen (the most frequent ones covering
 * char_coverage of all, at most limit_alphabet, if set), by code point. */
static afm_status setup_spm(trainer *t, const afm_bpe_counts *c, spm_alphabet *alpha) {
    for (int b = 0; b < 256; b++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        int32_t id;
        AFM_TRY(tok_push(t, piece, 6, NULL, 0, AFM_TOKTYPE_BYTE, &id));
    }
    char_count *cc = NULL;
    size_t nchars = 0;
    AFM_TRY(char_freqs(c, &cc, &nchars));
    qsort(cc, nchars, sizeof *cc, by_count_desc);
    double cov = t->o->char_coverage;
    if (cov > 0 && cov < 1) { /* the most frequent characters until they cover cov of all */
        double total = 0, acc = 0;
        for (size_t i = 0; i < nchars; i++) total += (double)cc[i].n;
        size_t keep = 0;
        while (keep < nchars && acc < cov * total) acc += (double)cc[keep++].n;
        nchars = keep;
    }
    if (t->o->limit_alphabet > 0 && nchars > (size_t)t->o->limit_alphabet) nchars = (size_t)t->o->limit_alphabet;
    qsort(cc, nchars, sizeof *cc, by_cp);
    alpha->cp = malloc((nchars ? nchars : 1) * sizeof *alpha->cp);
    alpha->id = malloc((nchars ? nchars : 1) * sizeof *alpha->id);
    afm_status s = alpha->cp && alpha->id ? AFM_OK : afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    for (size_t i = 0; i < nchars && s == AFM_OK; i++) {
        char u[4];
        int l = afm_utf8_encode(cc[i].cp, u);
        alpha->cp[i] = cc[i].cp;
        s = tok_push(t, u, (size_t)l, NULL, 0, AFM_TOKTYPE_NORMAL, &alpha->id[i]);
        alpha->n = i + 1;
    }
    free(cc);
    return s;
}

/* Turns the counted words into symbol sequences (words that cannot hold a pair are dropped;
 * SPM words are cut at characters outside the alphabet). */
static afm_status setup_words(trainer *t, const afm_bpe_counts *c, const int32_t *byte_id, const spm_alphabet *alpha) {
    size_t nw = afm_bpe_counts_size(c), total = 0;
    const char *w;
    size_t len;
    uint64_t n;
    for (size_t i = 0; afm_bpe_counts_get(c, i, &w, &len, &n); i++) total += len;
    t->sym = malloc((total ? total : 1) * sizeof *t->sym);
    t->woff = malloc((nw ? nw : 1) * sizeof *t->woff);
    t->wlen = malloc((nw ? nw : 1) * sizeof *t->wlen);
    t->wcount = malloc((nw ? nw : 1) * sizeof *t->wcount);
    if (!t->sym || !t->woff || !t->wlen || !t->wcount) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for %zu words", nw);
    size_t used = 0;
    uint32_t nword = 0;
    for (size_t i = 0; afm_bpe_counts_get(c, i, &w, &len, &n); i++) {
        if (n > (uint64_t)INT64_MAX / 4) return afm_error(AFM_ERR_RANGE, "bpe train: a word occurs %llu times (too many to count)", (unsigned long long)n);
        size_t start = used;
        for (size_t k = 0; k <= len;) {
            int32_t id = -1;
            size_t step = 1;
            if (k < len) {
                if (t->o->style == AFM_BPE_BYTELEVEL) id = byte_id[(unsigned char)w[k]];
                else {
                    uint32_t cp;
                    step = (size_t)afm_utf8_next((const unsigned char *)w + k, len - k, &cp);
                    id = cp < 0x110000 ? alpha_find(alpha, cp) : -1;
                }
            }
            if (id >= 0) t->sym[used++] = id;
            else { /* end of a segment: keep it if it has a pair */
                if (used - start >= 2) {
                    if (nword == UINT32_MAX) return afm_error(AFM_ERR_RANGE, "bpe train: too many words");
                    if (nword == nw) { /* more segments than words: grow the word arrays */
                        size_t nn = nw * 2 + 16;
                        size_t *wo = realloc(t->woff, nn * sizeof *wo);
                        if (wo) t->woff = wo;
                        uint32_t *wl = realloc(t->wlen, nn * sizeof *wl);
                        if (wl) t->wlen = wl;
                        int64_t *wc = realloc(t->wcount, nn * sizeof *wc);
                        if (wc) t->wcount = wc;
                        if (!wo || !wl || !wc) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
                        nw = nn;
                    }
                    t->woff[nword] = start;
                    t->wlen[nword] = (uint32_t)(used - start);
                    t->wcount[nword] = (int64_t)n;
                    nword++;
                } else used = start;
                start = used;
            }
            k += step;
        }
    }
    t->nwords = nword;
    return AFM_OK;
}

static afm_status count_pairs(trainer *t) {
    AFM_TRY(pmap_grow(t));
    for (uint32_t w = 0; w < t->nwords; w++) {
        const int32_t *s = t->sym + t->woff[w];
        for (uint32_t i = 0; i + 1 < t->wlen[w]; i++) {
            uint32_t p;
            AFM_TRY(pair_get(t, s[i], s[i + 1], &p));
            t->pcount[p] += t->wcount[w];
            AFM_TRY(list_add(&t->plist[p], w));
        }
    }
    t->hcap = t->npairs + 1;
    t->heap = malloc((size_t)t->hcap * sizeof *t->heap);
    if (!t->heap) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for the pair heap");
    t->hn = 0;
    for (uint32_t p = 0; p < t->npairs; p++)
        if (t->pcount[p] > 0) { t->heap[t->hn] = p; t->hpos[p] = (int32_t)t->hn++; }
    for (uint32_t i = t->hn / 2; i-- > 0;) sift_down(t, i);
    return AFM_OK;
}

/* ---------- the loop ---------- */

static afm_status record_merge(trainer *t, int32_t a, int32_t b, int32_t c) {
    if (t->nmerges == t->mcap) {
        int32_t nc = t->mcap ? t->mcap * 2 : 1024;
        int32_t *m = realloc(t->merges, (size_t)nc * 3 * sizeof *m);
        if (!m) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
        t->merges = m;
        t->mcap = nc;
    }
    int32_t *m = t->merges + 3 * (size_t)t->nmerges++;
    m[0] = a; m[1] = b; m[2] = c;
    return AFM_OK;
}

static afm_status run(trainer *t) {
    const afm_bpe_train_opts *o = t->o;
    int64_t min_count = o->min_frequency > 1 ? (int64_t)o->min_frequency : 1;
    int32_t target = o->vocab_size - t->ntok;
    while (t->ntok < o->vocab_size && t->hn > 0) {
        uint32_t p = t->heap[0];
        if (t->pcount[p] < min_count) break;
        heap_remove(t, p);
        int32_t a = t->pa[p], b = t->pb[p];
        /* the merged token; an existing token with the same bytes is reused (as HF does) */
        size_t la = t->tlen[a], lb = t->tlen[b];
        if (la + lb > t->scap) {
            char *nb = realloc(t->scratch, (la + lb) * 2);
            if (!nb) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
            t->scratch = nb;
            t->scap = (la + lb) * 2;
        }
        memcpy(t->scratch, t->tarena + t->toff[a], la);
        memcpy(t->scratch + la, t->tarena + t->toff[b], lb);
        int32_t c = tok_find(t, t->scratch, la + lb);
        if (c >= 0 && t->ttype[c] != AFM_TOKTYPE_NORMAL) {
            /* would equal a byte or special token's piece (SPM text "<0x41>"): never merge it */
            t->pflags[p] |= PF_BLOCKED;
            continue;
        }
        if (c < 0) AFM_TRY(tok_push(t, t->scratch, la + lb, NULL, 0, AFM_TOKTYPE_NORMAL, &c));
        AFM_TRY(record_merge(t, a, b, c));
        word_list l = t->plist[p];
        t->plist[p] = (word_list){0};
        afm_status s = AFM_OK;
        for (uint32_t k = 0; k < l.n && s == AFM_OK; k++) s = merge_word(t, l.w[k], a, b, c);
        free(l.w);
        AFM_TRY(s);
        AFM_TRY(settle(t));
        if (o->progress && (t->nmerges & 255) == 0)
            o->progress(o->progress_ctx, "merge", (uint64_t)t->nmerges, (uint64_t)(target > 0 ? target : 0));
    }
    if (o->progress) o->progress(o->progress_ctx, "merge", (uint64_t)t->nmerges, (uint64_t)t->nmerges);
    return AFM_OK;
}

static void trainer_free(trainer *t) {
    free(t->tarena); free(t->toff); free(t->tlen); free(t->ttype); free(t->tmap);
    free(t->sym); free(t->woff); free(t->wlen); free(t->wcount);
    free(t->pmap); free(t->pa); free(t->pb); free(t->pcount); free(t->pdelta); free(t->hpos);
    for (uint32_t p = 0; p < t->npairs; p++) free(t->plist[p].w);
    free(t->plist); free(t->pflags); free(t->heap); free(t->dirty); free(t->merges); free(t->scratch);
}

void afm_bpe_vocab_free(afm_bpe_vocab *v) {
    if (!v) return;
    free(v->arena); free(v->off); free(v->len); free(v->types); free(v->merges);
    free(v);
}

static afm_status check_opts(const afm_bpe_train_opts *o) {
    if (o->style != AFM_BPE_BYTELEVEL && o->style != AFM_BPE_SPM) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: unknown style %d", (int)o->style);
    if (o->style == AFM_BPE_BYTELEVEL && (o->pretok <= AFM_PRETOK_NONE || o->pretok >= AFM_PRETOK_COUNT))
        return afm_error(AFM_ERR_INVALID_ARG, "bpe train: byte-level training needs a pre-tokenizer (gpt2, llama3, qwen2 or smollm)");
    if (o->vocab_size <= 0) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: vocabulary size %d must be positive", o->vocab_size);
    if (o->n_specials < 0 || (o->n_specials > 0 && !o->specials)) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: bad special-token list");
    for (int i = 0; i < o->n_specials; i++) {
        if (!o->specials[i] || !o->specials[i][0]) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: special token %d is empty", i + 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(o->specials[i], o->specials[j])) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: special token '%s' is given twice", o->specials[i]);
    }
    return AFM_OK;
}

static afm_status train(trainer *t, const afm_bpe_counts *c, afm_bpe_vocab **out) {
    const afm_bpe_train_opts *o = t->o;
    AFM_TRY(check_opts(o));
    if (afm_bpe_counts_size(c) == 0) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: the corpus has no text (no words were counted)");
    AFM_TRY(tmap_rebuild(t, 1023));
    for (int i = 0; i < o->n_specials; i++) {
        int32_t id;
        AFM_TRY(tok_push(t, o->specials[i], strlen(o->specials[i]), NULL, 0, AFM_TOKTYPE_CONTROL, &id));
    }
    int32_t byte_id[256];
    spm_alphabet alpha = {0};
    afm_status s = o->style == AFM_BPE_BYTELEVEL ? setup_bytelevel(t, byte_id) : setup_spm(t, c, &alpha);
    if (s == AFM_OK && t->ntok > o->vocab_size) {
        if (o->style == AFM_BPE_BYTELEVEL)
            s = afm_error(AFM_ERR_INVALID_ARG, "bpe train: vocabulary size %d is smaller than the initial alphabet (%d special tokens + 256 bytes = %d)",
                          o->vocab_size, o->n_specials, t->ntok);
        else
            s = afm_error(AFM_ERR_INVALID_ARG, "bpe train: vocabulary size %d is smaller than the initial alphabet (%d special tokens + 256 byte tokens + %d characters = %d); "
                          "raise the size, lower --character-coverage or use --limit-alphabet", o->vocab_size, o->n_specials, t->ntok - 256 - o->n_specials, t->ntok);
    }
    if (s == AFM_OK) s = setup_words(t, c, byte_id, &alpha);
    free(alpha.cp);
    free(alpha.id);
    AFM_TRY(s);
    AFM_TRY(count_pairs(t));
    AFM_TRY(run(t));

    afm_bpe_vocab *v = calloc(1, sizeof *v);
    if (!v) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    v->style = o->style;
    v->pretok = o->pretok;
    v->split_digits = o->split_digits;
    v->n_tokens = t->ntok;
    v->n_specials = o->n_specials;
    v->n_merges = t->nmerges;
    v->arena = t->tarena; t->tarena = NULL;
    v->off = t->toff; t->toff = NULL;
    v->len = t->tlen; t->tlen = NULL;
    v->types = t->ttype; t->ttype = NULL;
    v->merges = t->merges; t->merges = NULL;
    if (!v->merges) v->merges = malloc(sizeof *v->merges);
    if (!v->merges) { afm_bpe_vocab_free(v); return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory"); }
    *out = v;
    return AFM_OK;
}

afm_status afm_bpe_train(const afm_bpe_counts *c, const afm_bpe_train_opts *o, afm_bpe_vocab **out) {
    *out = NULL;
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    afm_status s = train(&t, c, out);
    trainer_free(&t);
    return s;
}
