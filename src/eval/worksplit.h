/* Items [0, n) shared by parallel workers in contiguous ranges, rebalanced by stealing.
 *
 * Worker k starts on the k-th of n_workers nearly equal contiguous parts and takes its items in
 * order. A worker whose part is used up takes the back half of the largest part still left
 * (at least 2 unstarted items; the owner keeps the front half, rounded up). Items stay in
 * contiguous runs, so consecutive items of one worker keep sharing their few-shot prefix (an
 * MMLU subject's questions), and each steal costs the thief at most one new prefix; meanwhile no
 * worker sits idle while another has a long tail of items left (MMLU's subjects differ a lot in
 * question and prefix length, so equal item counts are far from equal work). Thread-safe. */
#ifndef AFM_EVAL_WORKSPLIT_H
#define AFM_EVAL_WORKSPLIT_H
#include <pthread.h>
#include "afm/status.h"

typedef struct afm_worksplit {
    pthread_mutex_t mu;
    int n_workers;
    long *lo, *hi; /* worker k's unstarted items [lo[k], hi[k]) */
    long steals;   /* ranges moved between workers so far */
} afm_worksplit;

afm_status afm_worksplit_init(afm_worksplit *s, long n_items, int n_workers);
void afm_worksplit_free(afm_worksplit *s);
/* The next item for worker k (0 <= k < n_workers), or -1 when no item is left to start. */
long afm_worksplit_next(afm_worksplit *s, int k);
#endif
