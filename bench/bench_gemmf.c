/* The packed-panel f32/f16/bf16 prefill GEMM (src/kernels/gemm_f32_avx2.c) on one thread, timed
 * unit by unit so that it can be judged on a busy machine:
 *   x (T tokens) is packed once, then afm_gemmf_rows_avx2 runs on consecutive units of U rows
 *   (U = 384: one thread's unit of a 3072-row matrix in afm_matmul at 2 threads), each unit timed
 *   by the thread's CPU time; the units' GFLOP/s (2 U K T / time) are sorted and quantiles printed.
 *   A preempted unit loses its cache and comes out slow, so the upper quantiles (p10 = the value
 *   10% of units beat) estimate the undisturbed speed; the fp32 FMA peak is measured the same way
 *   (0.8 ms trials of 12 independent FMA chains) in the same run.
 * Usage: bench_gemmf [-y f16|bf16|f32] [-T tokens] [-U unit_rows] [-p passes]
 *   shapes: AFM-3B (dim 3072, kv 1024, ffn 8064): q/o 3072x3072, gate/up 8064x3072,
 *   down 3072x8064, k/v 1024x3072. */
#include "kernels/matmul_internal.h"
#include "tensor/quant.h"
#include "base/cpu.h"
#include "base/mem.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define OPAQUE(v) __asm__ volatile("" : "+x"(v))
enum { CHAINS = 12, PEAK_ITERS = 50000 };

/* GFLOP/s of one 12-chain FMA trial (PEAK_ITERS x 12 x 16 flops, about 0.8 ms at 100 GFLOP/s) */
__attribute__((target("avx2,fma"))) static double peak_trial(void) {
    __m256 a = _mm256_set1_ps(1.0001f), b = _mm256_set1_ps(0.9999f), acc[CHAINS];
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_ps((float)k);
    double t = cpu_s();
    for (long i = 0; i < PEAK_ITERS; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
        OPAQUE(a);
    }
    t = cpu_s() - t;
    for (int k = 1; k < CHAINS; k++) acc[0] = _mm256_add_ps(acc[0], acc[k]);
    OPAQUE(acc[0]);
    return (double)PEAK_ITERS * CHAINS * 16 / t / 1e9;
}

static int descending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static unsigned g_seed = 5;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) / 8388608.0 - 1.0);
}

int main(int argc, char **argv) {
    afm_dtype wt = AFM_F16;
    int64_t T = 512, U = 384;
    int passes = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-y")) wt = !strcmp(argv[i + 1], "f32") ? AFM_F32 : !strcmp(argv[i + 1], "bf16") ? AFM_BF16 : AFM_F16;
        else if (!strcmp(argv[i], "-T")) T = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-U")) U = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-p")) passes = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: %s [-y f16|bf16|f32] [-T tokens] [-U unit_rows] [-p passes]\n", argv[0]); return 2; }
    }
    if (afm_isa_best() < AFM_ISA_AVX2) { printf("bench_gemmf: no AVX2, nothing to measure\n"); return 0; }
    if (T < 1 || U < 1 || passes < 1) { fprintf(stderr, "bench_gemmf: -T, -U, -p must be positive\n"); return 2; }
    enum { NPEAK = 400 };
    static double pk[NPEAK];
    for (int i = 0; i < NPEAK; i++) pk[i] = peak_trial();
    qsort(pk, NPEAK, sizeof *pk, descending);
    printf("packed GEMM %s, T %lld, units of %lld rows; fp32 FMA peak (one thread) p10 %.1f GFLOP/s\n",
           afm_dtype_name(wt), (long long)T, (long long)U, pk[NPEAK / 10]);
    printf("%-22s %6s %8s %8s %8s %8s  %s\n", "shape (rows x cols)", "units", "max", "p10", "p25", "median", "p10 of peak");
    static const int64_t shapes[][2] = {{3072, 3072}, {8064, 3072}, {3072, 8064}, {1024, 3072}};
    float *work = afm_alloc(sizeof(float) * afm_gemmf_work_floats(T, 8064)); /* the longest K below */
    size_t nall = 0, cap = 0;
    double *all = NULL;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t R = shapes[s][0], K = shapes[s][1], u = U < R ? U : R;
        size_t rb = afm_dtype_row_size(wt, K);
        uint8_t *W = afm_alloc(rb * (size_t)R);
        float *w = malloc(sizeof(float) * (size_t)K), *x = afm_alloc(sizeof(float) * (size_t)(T * K));
        float *y = afm_alloc(sizeof(float) * (size_t)(T * R)), *Ap = afm_alloc(sizeof(float) * afm_gemmf_pack_x_floats(T, K));
        size_t n = (size_t)passes * (size_t)(R / u), m = 0;
        double *g = malloc(sizeof(double) * n);
        if (!W || !w || !x || !y || !Ap || !g || !work) { fprintf(stderr, "bench_gemmf: out of memory\n"); return 1; }
        for (int64_t r = 0; r < R; r++) {
            for (int64_t k = 0; k < K; k++) w[k] = frand();
            afm_quantize_row(wt, w, W + (size_t)r * rb, K);
        }
        for (int64_t i = 0; i < T * K; i++) x[i] = frand();
        afm_gemmf_pack_x_avx2(x, T, K, 0, (T + AFM_GEMMF_MR - 1) / AFM_GEMMF_MR, Ap);
        for (int p = 0; p < passes; p++)
            for (int64_t r0 = 0; r0 + u <= R; r0 += u) {
                double t = cpu_s();
                afm_gemmf_rows_avx2(wt, W, rb, r0, r0 + u, K, Ap, T, y, R, work);
                g[m++] = 2.0 * (double)u * (double)K * (double)T / (cpu_s() - t) / 1e9;
            }
        if (nall + m > cap) {
            cap = (nall + m) * 2;
            double *na = realloc(all, sizeof(double) * cap);
            if (!na) { fprintf(stderr, "bench_gemmf: out of memory\n"); return 1; }
            all = na;
        }
        memcpy(all + nall, g, sizeof(double) * m);
        nall += m;
        qsort(g, m, sizeof *g, descending);
        char name[32];
        snprintf(name, sizeof name, "%lldx%lld", (long long)R, (long long)K);
        printf("%-22s %6zu %8.1f %8.1f %8.1f %8.1f  %5.1f%%\n", name, m, g[0], g[m / 10], g[m / 4], g[m / 2],
               100 * g[m / 10] / pk[NPEAK / 10]);
        afm_free(W); free(w); afm_free(x); afm_free(y); afm_free(Ap); free(g);
    }
    qsort(all, nall, sizeof *all, descending);
    printf("%-22s %6zu %8.1f %8.1f %8.1f %8.1f  %5.1f%%\n", "all units", nall, all[0], all[nall / 10], all[nall / 4],
           all[nall / 2], 100 * all[nall / 10] / pk[NPEAK / 10]);
    free(all);
    afm_free(work);
    return 0;
}
