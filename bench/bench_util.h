/* Small helpers shared by the bench/ programs: clock readings in seconds and medians. */
#ifndef AFM_BENCH_UTIL_H
#define AFM_BENCH_UTIL_H
#include <stdlib.h>
#include <time.h>

/* clock c (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID ...) in seconds */
static inline double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
/* qsort order for doubles, ascending */
static inline int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* median of v[0..n-1] (sorts v in place) */
static inline double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
#endif
