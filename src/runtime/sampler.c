#include "afm/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/rng.h"

struct afm_sampler {
    afm_sampler_params p;
    int32_t n_vocab;
    afm_rng rng;
    int32_t *ids;      /* candidate ids */
    float *vals;       /* candidate logits, then probabilities */
};

afm_sampler_params afm_sampler_defaults(void) {
    afm_sampler_params p = {0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0};
    return p;
}

afm_status afm_sampler_create(const afm_sampler_params *p, int32_t n_vocab, afm_sampler **out) {
    *out = NULL;
    if (n_vocab <= 0) return afm_error(AFM_ERR_INVALID_ARG, "sampler: vocabulary size %d", n_vocab);
    if (!(p->repeat_penalty > 0)) return afm_error(AFM_ERR_INVALID_ARG, "sampler: repeat penalty %g must be positive", (double)p->repeat_penalty);
    if (p->top_p < 0 || isnan(p->top_p)) return afm_error(AFM_ERR_INVALID_ARG, "sampler: top-p %g must be in [0, 1]", (double)p->top_p);
    if (p->min_p > 1 || isnan(p->min_p)) return afm_error(AFM_ERR_INVALID_ARG, "sampler: min-p %g must be in [0, 1]", (double)p->min_p);
    if (isnan(p->temperature)) return afm_error(AFM_ERR_INVALID_ARG, "sampler: temperature is NaN");
    afm_sampler *s = calloc(1, sizeof *s);
    if (!s) return afm_error(AFM_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    afm_rng_seed(&s->rng, p->seed);
    s->ids = malloc((size_t)n_vocab * sizeof(int32_t));
    s->vals = malloc((size_t)n_vocab * sizeof(float));
    if (!s->ids || !s->vals) { afm_sampler_free(s); return afm_error(AFM_ERR_NOMEM, "out of memory"); }
    *out = s;
    return AFM_OK;
}

void afm_sampler_free(afm_sampler *s) {
    if (!s) return;
    free(s->ids);
    free(s->vals);
    free(s);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

/* Sift-down for a min-heap on vals (used to keep the top k candidates). */
static void heap_down(int32_t *ids, float *vals, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && vals[l] < vals[m]) m = l;
        if (r < n && vals[r] < vals[m]) m = r;
        if (m == i) return;
        float tv = vals[i]; vals[i] = vals[m]; vals[m] = tv;
        int32_t ti = ids[i]; ids[i] = ids[m]; ids[m] = ti;
        i = m;
    }
}

/* descending by logit; ties broken by the lower id so results never depend on qsort order */
static int cmp_desc(const void *a, const void *b, void *logits_v) {
    const float *logits = logits_v;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = logits[i], y = logits[j];
    if (x != y) return x < y ? 1 : -1;
    return (i > j) - (i < j);
}

int32_t afm_sampler_sample(afm_sampler *s, float *logits, const int32_t *history, int32_t n_history) {
    const afm_sampler_params *p = &s->p;
    int32_t n = s->n_vocab;
    if (p->repeat_penalty != 1.0f && history && n_history > 0) {
        int32_t from = p->repeat_last_n > 0 && n_history > p->repeat_last_n ? n_history - p->repeat_last_n : 0;
        /* each distinct token is penalized once: mark with a sign trick on a copy is costly, so
         * penalize the first occurrence only by checking earlier occurrences in the window */
        for (int32_t i = from; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= n) continue;
            int seen = 0;
            for (int32_t j = from; j < i && !seen; j++) seen = history[j] == t;
            if (seen) continue;
            logits[t] = logits[t] > 0 ? logits[t] / p->repeat_penalty : logits[t] * p->repeat_penalty;
        }
    }
    if (p->temperature <= 0) return argmax(logits, n);
    /* candidates: top-k by a min-heap (k small), or all */
    int32_t nc;
    if (p->top_k > 0 && p->top_k < n) {
        int32_t k = p->top_k;
        for (int32_t i = 0; i < k; i++) { s->ids[i] = i; s->vals[i] = logits[i]; }
        for (int32_t i = k / 2 - 1; i >= 0; i--) heap_down(s->ids, s->vals, k, i);
        for (int32_t i = k; i < n; i++)
            if (logits[i] > s->vals[0]) { s->vals[0] = logits[i]; s->ids[0] = i; heap_down(s->ids, s->vals, k, 0); }
        nc = k;
    } else {
        for (int32_t i = 0; i < n; i++) { s->ids[i] = i; s->vals[i] = logits[i]; }
        nc = n;
    }
    /* sort candidates by logit, descending (ties: lower id first, for determinism) */
    qsort_r(s->ids, (size_t)nc, sizeof(int32_t), cmp_desc, logits);
    /* softmax with temperature over the sorted candidates */
    float mx = logits[s->ids[0]], sum = 0;
    for (int32_t i = 0; i < nc; i++) { s->vals[i] = expf((logits[s->ids[i]] - mx) / p->temperature); sum += s->vals[i]; }
    for (int32_t i = 0; i < nc; i++) s->vals[i] /= sum;
    /* top-p: smallest prefix with mass >= top_p (at least one token) */
    if (p->top_p < 1.0f) {
        float cum = 0;
        int32_t keep = nc;
        for (int32_t i = 0; i < nc; i++) { cum += s->vals[i]; if (cum >= p->top_p) { keep = i + 1; break; } }
        nc = keep;
    }
    /* min-p: drop tokens below min_p * p_max */
    if (p->min_p > 0) {
        float thr = p->min_p * s->vals[0];
        int32_t keep = 1;
        while (keep < nc && s->vals[keep] >= thr) keep++;
        nc = keep;
    }
    float total = 0;
    for (int32_t i = 0; i < nc; i++) total += s->vals[i];
    float r = afm_rng_uniform(&s->rng) * total, cum = 0;
    for (int32_t i = 0; i < nc; i++) { cum += s->vals[i]; if (r < cum) return s->ids[i]; }
    return s->ids[nc - 1];
}
