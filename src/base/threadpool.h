/* A persistent pool of worker threads for data-parallel kernels.
 * afm_pool_run(pool, fn, ctx) calls fn(ctx, ith, nth) for ith = 0..nth-1 on nth threads
 * (the caller is thread 0) and returns when all are done. Workers spin briefly between jobs
 * (decode issues hundreds of small jobs per token) and then sleep. */
#ifndef AFM_BASE_THREADPOOL_H
#define AFM_BASE_THREADPOOL_H
#include "afm/status.h"

typedef struct afm_pool afm_pool;
typedef void (*afm_pool_fn)(void *ctx, int ith, int nth);

afm_status afm_pool_create(int n_threads, afm_pool **out); /* n_threads <= 0: all cores */
void afm_pool_free(afm_pool *pool);
int afm_pool_size(const afm_pool *pool);                    /* NULL pool counts as 1 */
void afm_pool_run(afm_pool *pool, afm_pool_fn fn, void *ctx); /* NULL pool: runs fn(ctx,0,1) */
int afm_cpu_count(void);

/* Splits [0, n) into nth nearly equal parts; part ith is [*lo, *hi). */
static inline void afm_split_range(long n, int ith, int nth, long *lo, long *hi) {
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}
#endif
