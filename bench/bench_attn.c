/* Prefill attention kernels in isolation (kernels/attn.h, kernels/nn.h), one thread: the shapes
 * of one session.c work item (ATTN_TB = 32 query tokens x `group` heads = rows, against n keys of
 * one KV head, head size hd) with causal masking as attn_item applies it. Prints the time of each
 * stage per item (thread CPU time, the fastest of the repetitions) and the f32 GFLOP/s of the two products (2 flops per multiply-add).
 * With SETS > 1 each repetition uses the next of SETS separate key/value sets, so that with enough
 * of them (SETS * n * hd * 8 bytes well past L3) the keys and values come from memory, as in a
 * forward pass where each layer's cache was last touched one layer-sweep ago.
 * usage: bench_attn [n_keys (2650)] [rows (96)] [hd (64)] [reps (20)] [SETS (1)] */
#include "base/mem.h"
#include "kernels/attn.h"
#include "kernels/nn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* this thread's CPU seconds: time descheduled on a shared machine does not count */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned g_seed = 1;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) / 8388608.0 - 1.0);
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atol(argv[1]) : 2650, rows = argc > 2 ? atol(argv[2]) : 96, hd = argc > 3 ? atol(argv[3]) : 64;
    int reps = argc > 4 ? atoi(argv[4]) : 20, sets = argc > 5 ? atoi(argv[5]) : 1, group = 3;
    if (n < 1 || rows < 1 || hd < 1 || reps < 1 || sets < 1) {
        fprintf(stderr, "usage: bench_attn [n_keys] [rows] [hd] [reps] [sets], all >= 1\n");
        return 2;
    }
    int64_t nb = (n + 7) / 8 * 8;
    float *Q = afm_alloc(sizeof(float) * (size_t)(rows * hd)), *K0 = afm_alloc(sizeof(float) * (size_t)(nb * hd * sets));
    float *V0 = afm_alloc(sizeof(float) * (size_t)(n * hd * sets)), *S = afm_alloc(sizeof(float) * (size_t)(rows * n));
    float *O = afm_alloc(sizeof(float) * (size_t)(rows * hd));
    for (int64_t i = 0; i < rows * hd; i++) Q[i] = frand();
    for (int64_t i = 0; i < nb * hd * sets; i++) K0[i] = frand();
    for (int64_t i = 0; i < n * hd * sets; i++) V0[i] = frand();
    double ts = 1e30, tm = 1e30, tx = 1e30; /* the fastest repetition of each stage */
    for (int it = 0; it <= reps; it++) {
        const float *K = K0 + (size_t)(it % sets) * (size_t)(nb * hd), *V = V0 + (size_t)(it % sets) * (size_t)(n * hd);
        double t0 = cpu_now();
        afm_attn_scores(Q, hd, rows, K, n, hd, 0.125f, S, n);
        double t1 = cpu_now();
        for (int64_t r = 0; r < rows; r++) { /* the last rows / group tokens are the block's; causal */
            int64_t hi = n - (rows / group - 1 - r / group);
            afm_softmax(S + r * n, hi);
            memset(S + r * n + hi, 0, (size_t)(n - hi) * sizeof(float));
        }
        double t2 = cpu_now();
        afm_attn_mix(S, n, rows, V, n, hd, O, hd);
        double t3 = cpu_now();
        if (it) { /* rep 0 warms up */
            ts = t1 - t0 < ts ? t1 - t0 : ts;
            tx = t2 - t1 < tx ? t2 - t1 : tx;
            tm = t3 - t2 < tm ? t3 - t2 : tm;
        }
    }
    double fl = 2.0 * (double)rows * (double)n * (double)hd;
    printf("rows %lld n %lld hd %lld sets %d: scores %.1f us (%.1f GFLOP/s), softmax %.1f us (%.2f ns/elem), mix %.1f us "
           "(%.1f GFLOP/s), total %.1f us\n",
           (long long)rows, (long long)n, (long long)hd, sets, 1e6 * ts, fl / ts * 1e-9, 1e6 * tx,
           1e9 * tx / (double)(rows * n), 1e6 * tm, fl / tm * 1e-9, 1e6 * (ts + tx + tm));
    printf("checksum %g\n", (double)O[0] + (double)O[rows * hd - 1]);
    afm_free(Q); afm_free(K0); afm_free(V0); afm_free(S); afm_free(O);
    return 0;
}
