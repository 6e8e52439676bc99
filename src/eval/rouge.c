/* ROUGE scores (see rouge.h). Tokens are mapped to integer ids (sorted unique strings) so that
 * n-gram counting is a sort-and-merge over integer keys and LCS compares integers. */
#include "eval/rouge.h"
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "eval/porter.h"
#include "base/error.h"

/* Lowercases the UTF-8 text and keeps only [a-z0-9] runs. The only non-ASCII characters whose
 * Python lowercase contains an ASCII letter are U+0130 (İ -> "i" + combining dot) and U+212A
 * (Kelvin sign -> "k"); every other non-ASCII byte acts as a separator. */
afm_status afm_rouge_tokenize(const char *text, afm_rouge_tokens *out) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    /* the arena holds the normalized text plus room for stems (one extra byte per token) */
    char *norm = malloc(2 * len + 2);
    char *arena = malloc(2 * len + 2);
    if (!norm || !arena) { free(norm); free(arena); return afm_error(AFM_ERR_NOMEM, "rouge: %zu-byte text", len); }
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 'A' && c <= 'Z') norm[k++] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) norm[k++] = (char)c;
        else if (c == 0xC4 && (unsigned char)text[i + 1] == 0xB0) { norm[k++] = 'i'; norm[k++] = ' '; i++; }
        else if (c == 0xE2 && (unsigned char)text[i + 1] == 0x84 && (unsigned char)text[i + 2] == 0xAA) { norm[k++] = 'k'; i += 2; }
        else norm[k++] = ' ';
    }
    norm[k] = '\0';
    size_t cap = k / 2 + 1;
    char **toks = malloc(cap * sizeof *toks);
    if (!toks) { free(norm); free(arena); return afm_error(AFM_ERR_NOMEM, "rouge: token list"); }
    size_t n = 0, a = 0;
    for (size_t i = 0; i < k;) {
        if (norm[i] == ' ') { i++; continue; }
        size_t j = i;
        while (j < k && norm[j] != ' ') j++;
        char *dst = arena + a;
        size_t tl;
        if (j - i > 3) tl = afm_porter_stem(norm + i, j - i, dst);
        else { memcpy(dst, norm + i, j - i); dst[j - i] = '\0'; tl = j - i; }
        a += tl + 1;
        if (tl > 0) toks[n++] = dst;
        i = j;
    }
    free(norm);
    out->tokens = toks;
    out->n = n;
    out->arena = arena;
    return AFM_OK;
}

void afm_rouge_tokens_free(afm_rouge_tokens *t) {
    free(t->tokens);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ids of each token: index in the sorted unique vocabulary of all tokens */
static afm_status assign_ids(const afm_rouge_tokens *r, const afm_rouge_tokens *p, uint32_t *rid, uint32_t *pid) {
    size_t n = r->n + p->n;
    char **all = malloc((n + 1) * sizeof *all);
    if (!all) return afm_error(AFM_ERR_NOMEM, "rouge: vocabulary");
    memcpy(all, r->tokens, r->n * sizeof *all);
    memcpy(all + r->n, p->tokens, p->n * sizeof *all);
    qsort(all, n, sizeof *all, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) if (u == 0 || strcmp(all[u - 1], all[i]) != 0) all[u++] = all[i];
    for (int side = 0; side < 2; side++) {
        const afm_rouge_tokens *t = side ? p : r;
        uint32_t *ids = side ? pid : rid;
        for (size_t i = 0; i < t->n; i++) {
            char **hit = bsearch(&t->tokens[i], all, u, sizeof *all, cmp_str);
            ids[i] = (uint32_t)(hit - all);
        }
    }
    free(all);
    return AFM_OK;
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

/* n-gram keys (n = 1 or 2) sorted ascending; returns the count */
static size_t ngram_keys(const uint32_t *ids, size_t n, int order, uint64_t *keys) {
    if (n < (size_t)order) return 0;
    size_t m = n - (size_t)order + 1;
    for (size_t i = 0; i < m; i++) keys[i] = order == 1 ? ids[i] : ((uint64_t)ids[i] << 32) | ids[i + 1];
    qsort(keys, m, sizeof *keys, cmp_u64);
    return m;
}

/* sum over shared keys of min(count in a, count in b): a merge of two sorted lists */
static size_t multiset_overlap(const uint64_t *a, size_t na, const uint64_t *b, size_t nb) {
    size_t i = 0, j = 0, hits = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) i++;
        else if (a[i] > b[j]) j++;
        else { hits++; i++; j++; }
    }
    return hits;
}

static afm_rouge_prf ngram_prf(const uint32_t *rid, size_t nr, const uint32_t *pid, size_t np, int order,
                               uint64_t *kr, uint64_t *kp) {
    size_t cr = ngram_keys(rid, nr, order, kr), cp = ngram_keys(pid, np, order, kp);
    size_t hits = multiset_overlap(kr, cr, kp, cp);
    afm_rouge_prf s;
    s.precision = (double)hits / (double)(cp > 1 ? cp : 1);
    s.recall = (double)hits / (double)(cr > 1 ? cr : 1);
    s.f = fmeasure(s.precision, s.recall);
    return s;
}

/* LCS length by the standard DP, keeping one row: O(nr * np) time, O(np) memory */
static size_t lcs_length(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *row) {
    memset(row, 0, (nb + 1) * sizeof *row);
    for (size_t i = 1; i <= na; i++) {
        uint32_t diag = 0;
        for (size_t j = 1; j <= nb; j++) {
            uint32_t up = row[j];
            row[j] = a[i - 1] == b[j - 1] ? diag + 1 : (row[j - 1] > up ? row[j - 1] : up);
            diag = up;
        }
    }
    return row[nb];
}

static afm_status score_tokens(const afm_rouge_tokens *r, const afm_rouge_tokens *p, afm_rouge_scores *out) {
    size_t n = r->n + p->n + 1;
    uint32_t *ids = malloc((n + p->n + 1) * sizeof *ids);
    uint64_t *keys = malloc(n * sizeof *keys);
    if (!ids || !keys) { free(ids); free(keys); return afm_error(AFM_ERR_NOMEM, "rouge: %zu tokens", n); }
    uint32_t *rid = ids, *pid = ids + r->n, *row = ids + r->n + p->n;
    afm_status st = assign_ids(r, p, rid, pid);
    if (st == AFM_OK) {
        out->rouge1 = ngram_prf(rid, r->n, pid, p->n, 1, keys, keys + r->n);
        out->rouge2 = ngram_prf(rid, r->n, pid, p->n, 2, keys, keys + r->n);
        if (r->n == 0 || p->n == 0) {
            out->rougeL = (afm_rouge_prf){0, 0, 0};
        } else {
            size_t l = lcs_length(rid, r->n, pid, p->n, row);
            out->rougeL.precision = (double)l / (double)p->n;
            out->rougeL.recall = (double)l / (double)r->n;
            out->rougeL.f = fmeasure(out->rougeL.precision, out->rougeL.recall);
        }
    }
    free(ids);
    free(keys);
    return st;
}

afm_status afm_rouge_score(const char *reference, const char *prediction, afm_rouge_scores *out) {
    return afm_rouge_score_multi(&reference, 1, prediction, out);
}

afm_status afm_rouge_score_multi(const char *const *refs, size_t n_refs, const char *prediction,
                                 afm_rouge_scores *out) {
    if (n_refs == 0) return afm_error(AFM_ERR_INVALID_ARG, "rouge: no reference to score against");
    afm_rouge_tokens p;
    AFM_TRY(afm_rouge_tokenize(prediction, &p));
    afm_status st = AFM_OK;
    for (size_t i = 0; i < n_refs && st == AFM_OK; i++) {
        afm_rouge_tokens r;
        st = afm_rouge_tokenize(refs[i], &r);
        if (st != AFM_OK) break;
        afm_rouge_scores s;
        st = score_tokens(&r, &p, &s);
        afm_rouge_tokens_free(&r);
        if (st != AFM_OK) break;
        /* strict > keeps the first reference on ties, like numpy.argmax */
        if (i == 0 || s.rouge1.f > out->rouge1.f) out->rouge1 = s.rouge1;
        if (i == 0 || s.rouge2.f > out->rouge2.f) out->rouge2 = s.rouge2;
        if (i == 0 || s.rougeL.f > out->rougeL.f) out->rougeL = s.rougeL;
    }
    afm_rouge_tokens_free(&p);
    return st;
}
