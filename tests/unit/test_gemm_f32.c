/* The packed-panel GEMM behind afm_matmul for f32 / f16 / bf16 weights at T >= 8 tokens
 * (src/kernels/gemm_f32_avx2.c), on shapes that cross every blocking boundary: rows not a
 * multiple of the 24-row micro-tile nor of the 120-row block, tokens not a multiple of the
 * 4-token micro-tile and beyond one 264-token block, columns beyond one 192-column K-slice with
 * ragged remainders, and K below the 8-wide packing step.
 *
 * Its contract: y[t, r] is the single FMA chain e = fma(W[r, k], x[t, k], e) over k = 0 .. K-1
 * in order, starting from e = 0. That chain is computed here independently with C's fmaf
 * (correctly rounded) from the dequantized weights and must match bit for bit, with 1 and 2
 * threads. As a check on the chain itself, the outputs also lie within the rigorous error bound
 * of a sequential sum, gamma_K * sum_k |W x| with gamma_K = K u / (1 - K u), u = 2^-24, of the
 * exact product computed in double. */
#include "kernels/matmul.h"
#include "tensor/quant.h"
#include "base/cpu.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c, ...) do { if (!(c)) { if (failures++ < 30) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } } while (0)

static unsigned g_seed = 7;
static float frand(void) { /* uniform in [-1, 1) */
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) / 8388608.0 - 1.0);
}

static void run_case(afm_pool *p1, afm_pool *p2, afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    const char *name = afm_dtype_name(wt);
    size_t rb = afm_dtype_row_size(wt, cols);
    float *w = malloc(sizeof(float) * cols), *wd = malloc(sizeof(float) * rows * cols);
    float *x = malloc(sizeof(float) * T * cols);
    unsigned char *wq = malloc(rb * rows);
    float *y1 = malloc(sizeof(float) * T * rows), *y2 = malloc(sizeof(float) * T * rows);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) w[c] = frand() * (1 + ((r + c) % 7 == 0) * 3);
        CHECK(afm_quantize_row(wt, w, wq + r * rb, cols) == AFM_OK, "quantize %s", name);
        CHECK(afm_dequantize_row(wt, wq + r * rb, wd + r * cols, cols) == AFM_OK, "dequantize %s", name);
    }
    for (int64_t i = 0; i < T * cols; i++) x[i] = frand() * (1 + (i % 13 == 0) * 5);
    CHECK(afm_matmul_isa(p1, AFM_ISA_AVX2, y1, wq, wt, rows, cols, x, T) == AFM_OK, "avx2 %s", name);
    CHECK(afm_matmul_isa(p2, AFM_ISA_AVX2, y2, wq, wt, rows, cols, x, T) == AFM_OK, "avx2 %s 2 threads", name);
    const double u = ldexp(1.0, -24), gamma = (double)cols * u / (1 - (double)cols * u);
    int bad_chain = 0, bad_bound = 0, bad_threads = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++) {
            const float *wr = wd + r * cols, *xt = x + t * cols;
            float e = 0;
            double exact = 0, mag = 0;
            for (int64_t k = 0; k < cols; k++) {
                e = fmaf(wr[k], xt[k], e);
                exact += (double)wr[k] * xt[k];
                mag += fabs((double)wr[k] * xt[k]);
            }
            float got = y1[t * rows + r];
            if (memcmp(&got, &e, sizeof e)) {
                if (!bad_chain)
                    fprintf(stderr, "  %s rows %lld cols %lld T %lld: y[%lld, %lld] = %.9g, fma chain %.9g\n", name,
                            (long long)rows, (long long)cols, (long long)T, (long long)t, (long long)r, got, e);
                bad_chain++;
            }
            if (!(fabs(got - exact) <= gamma * mag)) bad_bound++;
            if (memcmp(&y1[t * rows + r], &y2[t * rows + r], sizeof(float))) bad_threads++;
        }
    CHECK(!bad_chain, "%s (%lld x %lld, T %lld): %d outputs differ from the in-order FMA chain", name, (long long)rows,
          (long long)cols, (long long)T, bad_chain);
    CHECK(!bad_bound, "%s (%lld x %lld, T %lld): %d outputs outside the sequential-sum error bound", name,
          (long long)rows, (long long)cols, (long long)T, bad_bound);
    CHECK(!bad_threads, "%s (%lld x %lld, T %lld): 2 threads differ from 1 in %d outputs", name, (long long)rows,
          (long long)cols, (long long)T, bad_threads);
    free(w); free(wd); free(x); free(wq); free(y1); free(y2);
}

int main(void) {
    if (afm_isa_best() < AFM_ISA_AVX2) {
        printf("test_gemm_f32: no AVX2 on this CPU, skipped\n");
        return 0;
    }
    afm_pool *p1, *p2;
    if (afm_pool_create(1, &p1) || afm_pool_create(2, &p2)) { fprintf(stderr, "pool\n"); return 1; }
    /* (rows, cols, T) */
    static const int64_t shapes[][3] = {
        {1, 1, 8},     {23, 7, 9},     {25, 8, 11},   {24, 193, 8},  {49, 385, 13},
        {121, 390, 37}, {250, 577, 270}, {7, 1000, 17}, {241, 64, 96}, {64, 200, 101},
    };
    const afm_dtype types[] = {AFM_F32, AFM_F16, AFM_BF16};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            run_case(p1, p2, types[ti], shapes[si][0], shapes[si][1], shapes[si][2]);
    afm_pool_free(p1);
    afm_pool_free(p2);
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_gemm_f32: all passed\n");
    return 0;
}
