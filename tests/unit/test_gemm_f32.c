/* The packed-panel GEMM for f32 / f16 / bf16 weights (src/kernels/gemm_f32_avx2.c), on shapes
 * that cross every blocking boundary: rows not a multiple of the 24-row micro-tile nor of the
 * 120-row block, tokens not a multiple of the 4-token micro-tile and beyond one and two 264-token
 * blocks,
 * columns beyond one 192-column K-slice with ragged remainders, and K below the 8-wide packing
 * step.
 *
 * Its contract: y[t, r] is the single FMA chain e = fma(W[r, k], x[t, k], e) over k = 0 .. K-1
 * in order, starting from e = 0. That chain is computed here independently with C's fmaf
 * (correctly rounded) from the dequantized weights, and the kernel, called directly (any T, rows
 * split into units at arbitrary boundaries), must match it bit for bit. As a check on the chain
 * itself, the outputs also lie within the rigorous error bound of a sequential sum,
 * gamma_K * sum_k |W x| with gamma_K = K u / (1 - K u), u = 2^-24, of the exact product in
 * double. Through afm_matmul (shapes it routes to this kernel), 1 and 2 threads must give the
 * same bits and the same bound holds. */
#define TEST_SEED 7
#include "test_check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "base/mem.h"
#include "tensor/quant.h"
#include "base/cpu.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* y (T, rows) against the in-order fmaf chain (bit for bit, if exact) and the error bound. */
static void check_out(const char *what, afm_dtype wt, const float *wd, const float *x, const float *y, int64_t rows,
                      int64_t cols, int64_t T, int exact) {
    const double u = ldexp(1.0, -24), gamma = (double)cols * u / (1 - (double)cols * u);
    int bad_chain = 0, bad_bound = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++) {
            const float *wr = wd + r * cols, *xt = x + t * cols;
            float e = 0;
            double sum = 0, mag = 0;
            for (int64_t k = 0; k < cols; k++) {
                e = fmaf(wr[k], xt[k], e);
                sum += (double)wr[k] * xt[k];
                mag += fabs((double)wr[k] * xt[k]);
            }
            float got = y[t * rows + r];
            if (exact && memcmp(&got, &e, sizeof e)) {
                if (!bad_chain)
                    fprintf(stderr, "  %s %s rows %lld cols %lld T %lld: y[%lld, %lld] = %.9g, fma chain %.9g\n", what,
                            afm_dtype_name(wt), (long long)rows, (long long)cols, (long long)T, (long long)t,
                            (long long)r, got, e);
                bad_chain++;
            }
            if (!(fabs(got - sum) <= gamma * mag)) bad_bound++;
        }
    CHECK(!bad_chain, "%s %s (%lld x %lld, T %lld): %d outputs differ from the in-order FMA chain", what,
          afm_dtype_name(wt), (long long)rows, (long long)cols, (long long)T, bad_chain);
    CHECK(!bad_bound, "%s %s (%lld x %lld, T %lld): %d outputs outside the sequential-sum error bound", what,
          afm_dtype_name(wt), (long long)rows, (long long)cols, (long long)T, bad_bound);
}

typedef struct { unsigned char *wq; float *wd, *x; size_t rb; } operands;

static operands make(afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    operands o = {malloc(afm_dtype_row_size(wt, cols) * rows), malloc(sizeof(float) * rows * cols),
                  malloc(sizeof(float) * T * cols), afm_dtype_row_size(wt, cols)};
    float *w = malloc(sizeof(float) * cols);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) w[c] = frand() * (1 + ((r + c) % 7 == 0) * 3);
        CHECK(afm_quantize_row(wt, w, o.wq + r * o.rb, cols) == AFM_OK, "quantize");
        CHECK(afm_dequantize_row(wt, o.wq + r * o.rb, o.wd + r * cols, cols) == AFM_OK, "dequantize");
    }
    for (int64_t i = 0; i < T * cols; i++) o.x[i] = frand() * (1 + (i % 13 == 0) * 5);
    free(w);
    return o;
}

static void release(operands *o) { free(o->wq); free(o->wd); free(o->x); }

/* The kernel itself: x packed in two calls (token groups split), rows in three units. */
static void direct_case(afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    operands o = make(wt, rows, cols, T);
    float *Ap = afm_alloc(sizeof(float) * afm_gemmf_pack_x_floats(T, cols));
    float *work = afm_alloc(sizeof(float) * afm_gemmf_work_floats(T, cols)), *y = malloc(sizeof(float) * T * rows);
    int64_t groups = (T + AFM_GEMMF_MR - 1) / AFM_GEMMF_MR;
    afm_gemmf_pack_x_avx2(o.x, T, cols, 0, groups / 2, Ap);
    afm_gemmf_pack_x_avx2(o.x, T, cols, groups / 2, groups, Ap);
    int64_t cut1 = rows / 3, cut2 = rows - rows / 5;
    afm_gemmf_rows_avx2(wt, o.wq, o.rb, cut2, rows, cols, Ap, T, y, rows, work);
    afm_gemmf_rows_avx2(wt, o.wq, o.rb, 0, cut1, cols, Ap, T, y, rows, work);
    afm_gemmf_rows_avx2(wt, o.wq, o.rb, cut1, cut2, cols, Ap, T, y, rows, work);
    check_out("direct", wt, o.wd, o.x, y, rows, cols, T, 1);
    afm_free(Ap);
    afm_free(work);
    free(y);
    release(&o);
}

/* Through afm_matmul_isa at the AVX2 level: 1 and 2 threads bit-identical, within the bound. */
static void matmul_case(afm_pool *p1, afm_pool *p2, afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    operands o = make(wt, rows, cols, T);
    float *y1 = malloc(sizeof(float) * T * rows), *y2 = malloc(sizeof(float) * T * rows);
    CHECK(afm_matmul_isa(p1, AFM_ISA_AVX2, y1, o.wq, wt, rows, cols, o.x, T) == AFM_OK, "matmul %s", afm_dtype_name(wt));
    CHECK(afm_matmul_isa(p2, AFM_ISA_AVX2, y2, o.wq, wt, rows, cols, o.x, T) == AFM_OK, "matmul %s 2 threads", afm_dtype_name(wt));
    check_out("afm_matmul", wt, o.wd, o.x, y1, rows, cols, T, 0);
    CHECK(!memcmp(y1, y2, sizeof(float) * T * rows), "%s (%lld x %lld, T %lld): 2 threads differ from 1",
          afm_dtype_name(wt), (long long)rows, (long long)cols, (long long)T);
    free(y1);
    free(y2);
    release(&o);
}

int main(void) {
    if (afm_isa_best() < AFM_ISA_AVX2) {
        printf("test_gemm_f32: no AVX2 on this CPU, skipped\n");
        return 0;
    }
    afm_pool *p1, *p2;
    if (afm_pool_create(1, &p1) || afm_pool_create(2, &p2)) { fprintf(stderr, "pool\n"); return 1; }
    /* (rows, cols, T) */
    static const int64_t direct[][3] = {
        {1, 1, 1},      {23, 7, 2},     {25, 8, 5},     {24, 193, 8},  {49, 385, 13},   {121, 390, 37},
        {250, 577, 270}, {7, 1000, 17}, {241, 64, 96},  {64, 200, 101}, {97, 31, 3},
        {300, 800, 600}, /* 3 MC blocks (per unit: 3 NC blocks) */
    };
    static const int64_t routed[][3] = {{250, 577, 37}, {600, 200, 64}, {193, 1000, 31}, {600, 200, 300}};
    const afm_dtype types[] = {AFM_F32, AFM_F16, AFM_BF16};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        for (size_t si = 0; si < sizeof direct / sizeof *direct; si++)
            direct_case(types[ti], direct[si][0], direct[si][1], direct[si][2]);
        for (size_t si = 0; si < sizeof routed / sizeof *routed; si++)
            matmul_case(p1, p2, types[ti], routed[si][0], routed[si][1], routed[si][2]);
    }
    afm_pool_free(p1);
    afm_pool_free(p2);
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_gemm_f32: all passed\n");
    return 0;
}
