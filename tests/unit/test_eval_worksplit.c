/* eval/worksplit: every item handed out exactly once, in contiguous runs; a worker that runs out
 * takes the back half of the largest range left; one worker gets the data in order. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "eval/worksplit.h"

static int g_fail;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); g_fail++; } } while (0)

static void test_one_worker(void) {
    afm_worksplit s;
    CHECK(afm_worksplit_init(&s, 7, 1) == AFM_OK, "init");
    for (long i = 0; i < 7; i++) CHECK(afm_worksplit_next(&s, 0) == i, "one worker: item %ld out of order", i);
    CHECK(afm_worksplit_next(&s, 0) == -1 && afm_worksplit_next(&s, 0) == -1, "one worker: items after the end");
    CHECK(s.steals == 0, "one worker stole %ld times", s.steals);
    afm_worksplit_free(&s);
    CHECK(afm_worksplit_init(&s, 0, 3) == AFM_OK, "init empty");
    for (int k = 0; k < 3; k++) CHECK(afm_worksplit_next(&s, k) == -1, "empty: worker %d got an item", k);
    afm_worksplit_free(&s);
    CHECK(afm_worksplit_init(&s, 5, 0) != AFM_OK, "zero workers must be refused");
    CHECK(afm_worksplit_init(&s, -1, 2) != AFM_OK, "negative item count must be refused");
}

/* Two workers, one fast: the fixed halves [0,5) and [5,10) first; then the fast one takes the
 * back half of the other's rest, again and again, while the slow one keeps its front part. */
static void test_steal_order(void) {
    afm_worksplit s;
    CHECK(afm_worksplit_init(&s, 10, 2) == AFM_OK, "init");
    CHECK(afm_worksplit_next(&s, 1) == 5, "worker 1 starts at its half");
    long got[16];
    int n = 0;
    for (long i; n < 16 && (i = afm_worksplit_next(&s, 0)) >= 0;) got[n++] = i;
    /* worker 0: 0..4 (its half), then 8, 9 (back half of [6,10)), then 7 (back half of [6,8)),
     * then nothing: [6,7) has one item, which its owner (busy with 5) will take */
    static const long want[] = {0, 1, 2, 3, 4, 8, 9, 7};
    CHECK(n == 8 && !memcmp(got, want, sizeof want), "worker 0's items: %d of them, e.g. %ld %ld %ld", n, got[5], got[6],
          n > 7 ? got[7] : -1L);
    CHECK(s.steals == 2, "steals %ld, expected 2", s.steals);
    CHECK(afm_worksplit_next(&s, 1) == 6, "worker 1 keeps the front of its range");
    CHECK(afm_worksplit_next(&s, 1) == -1 && afm_worksplit_next(&s, 0) == -1, "items left after all were handed out");
    afm_worksplit_free(&s);
}

/* Worker threads of uneven speed: every item exactly once, and each worker's items ascending
 * within each run it took (so a subject's items stay in order within a session). */
enum { N_ITEMS = 5000, N_THREADS = 4 };
typedef struct { afm_worksplit *s; int k; atomic_int *seen; long *order; int n; } thr;

static void *thread_main(void *p) {
    thr *t = p;
    for (long i; (i = afm_worksplit_next(t->s, t->k)) >= 0;) {
        atomic_fetch_add(&t->seen[i], 1);
        t->order[t->n++] = i;
        for (volatile int spin = 0; spin < 200 * t->k * t->k; spin++) {} /* worker k is slower */
    }
    return NULL;
}

static void test_threads(void) {
    afm_worksplit s;
    CHECK(afm_worksplit_init(&s, N_ITEMS, N_THREADS) == AFM_OK, "init");
    atomic_int *seen = calloc(N_ITEMS, sizeof *seen);
    thr t[N_THREADS];
    pthread_t th[N_THREADS];
    for (int k = 0; k < N_THREADS; k++) {
        t[k] = (thr){&s, k, seen, malloc(N_ITEMS * sizeof(long)), 0};
        pthread_create(&th[k], NULL, thread_main, &t[k]);
    }
    for (int k = 0; k < N_THREADS; k++) pthread_join(th[k], NULL);
    int bad = 0, total = 0;
    for (long i = 0; i < N_ITEMS; i++) bad += atomic_load(&seen[i]) != 1;
    CHECK(bad == 0, "%d items not handed out exactly once", bad);
    long runs = 0;
    for (int k = 0; k < N_THREADS; k++) {
        total += t[k].n;
        for (int j = 0; j < t[k].n; j++) runs += j == 0 || t[k].order[j] != t[k].order[j - 1] + 1;
        free(t[k].order);
    }
    CHECK(total == N_ITEMS, "%d items handed out, expected %d", total, N_ITEMS);
    /* each steal starts one new run in the thief */
    CHECK(runs == N_THREADS + s.steals, "%ld contiguous runs for %ld steals", runs, s.steals);
    free(seen);
    afm_worksplit_free(&s);
}

int main(void) {
    test_one_worker();
    test_steal_order();
    test_threads();
    if (g_fail) return 1;
    printf("eval worksplit: ok\n");
    return 0;
}
