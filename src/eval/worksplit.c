/* Contiguous item ranges with stealing (see worksplit.h). */
#include "eval/worksplit.h"
#include <stdlib.h>
#include "base/error.h"
#include "base/threadpool.h"

afm_status afm_worksplit_init(afm_worksplit *s, long n_items, int n_workers) {
    s->lo = s->hi = NULL;
    if (n_items < 0 || n_workers < 1)
        return afm_error(AFM_ERR_INVALID_ARG, "work split of %ld items over %d workers: expected n >= 0, workers >= 1",
                         n_items, n_workers);
    s->lo = calloc((size_t)n_workers, sizeof *s->lo);
    s->hi = calloc((size_t)n_workers, sizeof *s->hi);
    if (!s->lo || !s->hi) {
        free(s->lo);
        free(s->hi);
        s->lo = s->hi = NULL;
        return afm_error(AFM_ERR_NOMEM, "work split for %d workers", n_workers);
    }
    s->n_workers = n_workers;
    s->steals = 0;
    for (int k = 0; k < n_workers; k++) afm_split_range(n_items, k, n_workers, &s->lo[k], &s->hi[k]);
    pthread_mutex_init(&s->mu, NULL);
    return AFM_OK;
}

void afm_worksplit_free(afm_worksplit *s) {
    if (!s->lo) return;
    pthread_mutex_destroy(&s->mu);
    free(s->lo);
    free(s->hi);
    s->lo = s->hi = NULL;
}

long afm_worksplit_next(afm_worksplit *s, int k) {
    pthread_mutex_lock(&s->mu);
    if (s->lo[k] >= s->hi[k]) {
        int v = -1; /* the worker with the most unstarted items (ties: the lowest index) */
        for (int j = 0; j < s->n_workers; j++)
            if (j != k && s->hi[j] - s->lo[j] >= 2 && (v < 0 || s->hi[j] - s->lo[j] > s->hi[v] - s->lo[v])) v = j;
        if (v >= 0) {
            long mid = s->lo[v] + (s->hi[v] - s->lo[v] + 1) / 2; /* the owner keeps [lo, mid) */
            s->lo[k] = mid;
            s->hi[k] = s->hi[v];
            s->hi[v] = mid;
            s->steals++;
        }
    }
    long i = s->lo[k] < s->hi[k] ? s->lo[k]++ : -1;
    pthread_mutex_unlock(&s->mu);
    return i;
}
