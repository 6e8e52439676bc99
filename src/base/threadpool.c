#include "base/threadpool.h"
#include "base/error.h"
#include "base/mem.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

struct afm_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int generation;   /* bumped for each job */
    atomic_int pending;      /* workers still running the current job */
    atomic_int stop;
    afm_pool_fn fn;
    void *ctx;
};

typedef struct { afm_pool *pool; int ith; } worker_arg;

enum { SPIN_ITERS = 200000 };

static void *worker_main(void *p) {
    worker_arg *wa = p;
    afm_pool *pool = wa->pool;
    int ith = wa->ith;
    free(wa);
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
               !atomic_load(&pool->stop)) {
            if (++spins < SPIN_ITERS) {
                if (spins % 1024 == 0) sched_yield(); /* let other runnable threads in when oversubscribed */
                else CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&pool->mu);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = atomic_load(&pool->generation);
        pool->fn(pool->ctx, ith, pool->n);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

int afm_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

afm_status afm_pool_create(int n_threads, afm_pool **out) {
    *out = NULL;
    if (n_threads <= 0) n_threads = afm_cpu_count();
    if (n_threads > 512) return afm_error(AFM_ERR_INVALID_ARG, "thread count %d is too large (max 512)", n_threads);
    afm_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return afm_error(AFM_ERR_NOMEM, "out of memory creating thread pool");
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) { free(pool); return afm_error(AFM_ERR_NOMEM, "out of memory creating thread pool"); }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { pool->n = i; afm_pool_free(pool); return afm_error(AFM_ERR_NOMEM, "out of memory"); }
        wa->pool = pool;
        wa->ith = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->n = i;
            afm_pool_free(pool);
            return afm_error(AFM_ERR_INTERNAL, "could not start worker thread %d", i);
        }
    }
    *out = pool;
    return AFM_OK;
}

void afm_pool_free(afm_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool->threads);
    free(pool);
}

int afm_pool_size(const afm_pool *pool) { return pool ? pool->n : 1; }

void afm_pool_run(afm_pool *pool, afm_pool_fn fn, void *ctx) {
    if (!pool || pool->n == 1) { fn(ctx, 0, 1); return; }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->pending, pool->n - 1);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    fn(ctx, 0, pool->n);
    /* spin (jobs are short), but yield once it takes long: on an oversubscribed machine the
     * worker we wait for may need this core */
    for (long spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; spins++) {
        if (spins < 20000) CPU_RELAX();
        else sched_yield();
    }
}
