#ifndef AFM_BASE_TIMER_H
#define AFM_BASE_TIMER_H
#include <time.h>
static inline double afm_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif
