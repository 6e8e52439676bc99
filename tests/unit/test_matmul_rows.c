/* A row of a matmul does not depend on the rows computed beside it, once the call is told how
 * many rows the full computation has (afm_matmul_like): the forward pass drops rows nobody reads
 * (the last layer and the output projection run only the last token when only its logits are
 * wanted) and must still give the logits of the full computation bit for bit.
 *
 * For every weight type afm_matmul supports (row layout, and the repacked layout where there is
 * one), every ISA level up to this CPU's, 1 and 2 threads, T_like tokens across the kernels'
 * thresholds (1, 2, 23 / 24 / 25 around the f32 packed GEMM, 64, 130), rows across the f32
 * GEMM's few-rows rule (67 and 200) and columns past the f32 loop's 1024-element K chunk:
 *   afm_matmul_like(one row t of x, T = 1, T_like) == row t of afm_matmul(x, T_like)   (memcmp)
 *   afm_matmul_like(the last two rows, T = 2, T_like) == the last two rows of it.
 * Also checks that the f32 kernels really do sum differently for one token and for many (so that
 * the test would catch a T_like that is ignored), and that T > T_like is refused.
 * afm_matmul_shared (several products of one x, quantized once) must give each product's
 * afm_matmul_like result bit for bit, for weights sharing an activation format and not. */
#define TEST_SEED 7
#include "test_check.h"
#include "kernels/matmul.h"
#include "tensor/quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_differ(const float *a, const float *b, int64_t n) {
    int d = 0;
    for (int64_t i = 0; i < n; i++) d += memcmp(a + i, b + i, sizeof(float)) != 0;
    return d;
}

/* f32 sums of one token vs many differ somewhere for these random rows (1 = they do) */
static int g_f32_gemv_differs;

static void run_case(afm_pool *pool, afm_isa isa, bool packed, afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    const char *name = afm_dtype_name(wt);
    size_t rb = afm_dtype_row_size(wt, cols);
    float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * T * cols);
    unsigned char *wq = malloc(rb * rows), *wp = malloc(rb * rows);
    float *y = malloc(sizeof(float) * T * rows), *y1 = malloc(sizeof(float) * 2 * rows);
    for (int64_t i = 0; i < rows * cols; i++) w[i] = frand() * (1 + (i % 7 == 0) * 3);
    for (int64_t i = 0; i < T * cols; i++) x[i] = frand() * (1 + (i % 13 == 0) * 5);
    for (int64_t r = 0; r < rows; r++) afm_quantize_row(wt, w + r * cols, wq + r * rb, cols);
    const void *W = wq;
    if (packed) {
        CHECK(afm_matmul_repack(wt, rows, cols, wq, wp) == AFM_OK, "repack %s", name);
        W = wp;
    }
    CHECK(afm_matmul_like_isa(pool, isa, packed, y, W, wt, rows, cols, x, T, T) == AFM_OK, "%s %s T %lld",
          afm_isa_name(isa), name, (long long)T);
    int64_t probe[3] = {0, T / 2, T - 1};
    for (int k = 0; k < 3; k++) {
        int64_t t = probe[k];
        CHECK(afm_matmul_like_isa(pool, isa, packed, y1, W, wt, rows, cols, x + t * cols, 1, T) == AFM_OK, "like 1");
        int d = n_differ(y1, y + t * rows, rows);
        CHECK(!d, "%s %s%s (%lld x %lld): row %lld of %lld alone differs from the full call in %d outputs",
              afm_isa_name(isa), packed ? "packed " : "", name, (long long)rows, (long long)cols, (long long)t,
              (long long)T, d);
    }
    if (T >= 2) {
        CHECK(afm_matmul_like_isa(pool, isa, packed, y1, W, wt, rows, cols, x + (T - 2) * cols, 2, T) == AFM_OK, "like 2");
        int d = n_differ(y1, y + (T - 2) * rows, 2 * rows);
        CHECK(!d, "%s %s%s (%lld x %lld): the last 2 of %lld rows differ from the full call in %d outputs",
              afm_isa_name(isa), packed ? "packed " : "", name, (long long)rows, (long long)cols, (long long)T, d);
    }
    if (wt == AFM_F32 && T > 1 && isa != AFM_ISA_SCALAR) { /* a plain one-token call (decode GEMV) */
        CHECK(afm_matmul_isa(pool, isa, y1, W, wt, rows, cols, x + (T - 1) * cols, 1) == AFM_OK, "gemv");
        if (n_differ(y1, y + (T - 1) * rows, rows)) g_f32_gemv_differs = 1;
    }
    free(w); free(x); free(wq); free(wp); free(y); free(y1);
}

/* afm_matmul_shared on n products of one x equals n afm_matmul_like calls bit for bit (x quantized
 * once for all when their activation formats agree, the separate route otherwise). */
static void run_shared(afm_pool *pool, const afm_dtype *types, const bool *packed, int n, int64_t cols, int64_t T,
                       int64_t T_like) {
    const int64_t rows[4] = {67, 200, 24, 131};
    afm_matmul_out outs[4];
    unsigned char *wq[4], *wp[4];
    float *ys[4], *yref = malloc(sizeof(float) * T * 200), *x = malloc(sizeof(float) * T * cols);
    for (int64_t i = 0; i < T * cols; i++) x[i] = frand() * (1 + (i % 11 == 0) * 4);
    for (int i = 0; i < n; i++) {
        size_t rb = afm_dtype_row_size(types[i], cols);
        float *w = malloc(sizeof(float) * rows[i] * cols);
        wq[i] = malloc(rb * rows[i]);
        wp[i] = malloc(rb * rows[i]);
        ys[i] = malloc(sizeof(float) * T * rows[i]);
        for (int64_t k = 0; k < rows[i] * cols; k++) w[k] = frand();
        for (int64_t r = 0; r < rows[i]; r++) afm_quantize_row(types[i], w + r * cols, wq[i] + r * rb, cols);
        if (packed[i]) afm_matmul_repack(types[i], rows[i], cols, wq[i], wp[i]);
        outs[i] = (afm_matmul_out){.y = ys[i], .W = packed[i] ? wp[i] : wq[i], .wt = types[i], .rows = rows[i], .packed = packed[i]};
        free(w);
    }
    CHECK(afm_matmul_shared(pool, outs, n, cols, x, T, T_like) == AFM_OK, "shared");
    for (int i = 0; i < n; i++) {
        CHECK(afm_matmul_like(pool, packed[i], yref, outs[i].W, types[i], rows[i], cols, x, T, T_like) == AFM_OK, "like");
        int d = n_differ(ys[i], yref, T * rows[i]);
        CHECK(!d, "shared product %d of %d (%s%s, T %lld of %lld, %d threads): %d outputs differ from its own call", i, n,
              packed[i] ? "packed " : "", afm_dtype_name(types[i]), (long long)T, (long long)T_like,
              afm_pool_size(pool), d);
        free(wq[i]); free(wp[i]); free(ys[i]);
    }
    free(yref); free(x);
}

int main(void) {
    afm_pool *pools[2];
    afm_pool_create(1, &pools[0]);
    afm_pool_create(2, &pools[1]);
    const afm_dtype types[] = {AFM_F32, AFM_F16, AFM_BF16, AFM_Q8_0, AFM_Q4_0, AFM_Q4_1, AFM_Q5_0, AFM_Q5_1,
                               AFM_Q4_K, AFM_Q6_K};
    const int64_t Ts[] = {1, 2, 23, 24, 25, 64, 130};
    const int64_t shapes[][2] = {{67, 1280}, {200, 256}};
    afm_isa best = afm_isa_best();
    int cases = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (int packed = 0; packed <= 1; packed++) {
            if (packed && !afm_matmul_can_repack(types[ti])) continue;
            for (int isa = AFM_ISA_SCALAR; isa <= (int)best; isa++)
                for (size_t si = 0; si < 2; si++)
                    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++)
                        for (int p = 0; p < 2; p++) {
                            /* the scalar level only for the small shape and a few T (slow) */
                            if (isa == AFM_ISA_SCALAR && (si == 0 || Ts[k] > 25)) continue;
                            run_case(pools[p], (afm_isa)isa, packed, types[ti], shapes[si][0], shapes[si][1], Ts[k]);
                            cases++;
                        }
        }
    if (best >= AFM_ISA_AVX2)
        CHECK(g_f32_gemv_differs, "f32 one-token (GEMV) sums equal the multi-token ones everywhere: the test no longer "
                                  "shows that T_like matters");
    /* shared activations: one q8 format (q4_1 / q8_0 / q4_0 / q5_0 / q5_1, packed or not), the
     * k-quants' q8_K, mixed formats and float weights (each its own way) */
    const afm_dtype q8mix[] = {AFM_Q4_1, AFM_Q8_0, AFM_Q4_0, AFM_Q5_1};
    /* Gemma 3's attention and FFN inputs: q5_0 Q and K with a q8_0 or q5_0 V, q5_0 gate and up
     * (here with a q5_1 fourth), all packed, or the q5s in the row layout beside packed q8_0 */
    const afm_dtype q5mix[] = {AFM_Q5_0, AFM_Q5_0, AFM_Q8_0, AFM_Q5_1};
    const bool pk_all[] = {true, true, true, true}, pk_q8[] = {false, false, true, false};
    const bool pk_a[] = {true, true, false, false}, pk_b[] = {false, false, true, false}, pk_none[] = {0, 0, 0, 0};
    const afm_dtype kq[] = {AFM_Q4_K, AFM_Q6_K}, mixed[] = {AFM_Q4_1, AFM_Q4_K, AFM_F32}, floats[] = {AFM_F32, AFM_F16, AFM_BF16};
    const int64_t sT[][2] = {{1, 1}, {2, 2}, {64, 64}, {130, 130}, {1, 130}, {1, 24}};
    for (int p = 0; p < 2; p++)
        for (size_t k = 0; k < sizeof sT / sizeof sT[0]; k++) {
            run_shared(pools[p], q8mix, pk_a, 3, 512, sT[k][0], sT[k][1]);
            run_shared(pools[p], q8mix, pk_b, 4, 512, sT[k][0], sT[k][1]);
            run_shared(pools[p], q5mix, pk_all, 4, 640, sT[k][0], sT[k][1]);
            run_shared(pools[p], q5mix, pk_q8, 3, 640, sT[k][0], sT[k][1]);
            run_shared(pools[p], kq, pk_none, 2, 512, sT[k][0], sT[k][1]);
            run_shared(pools[p], mixed, pk_none, 3, 512, sT[k][0], sT[k][1]);
            run_shared(pools[p], floats, pk_none, 3, 512, sT[k][0], sT[k][1]);
            cases += 7;
        }
    afm_matmul_out none[9] = {{0}};
    CHECK(afm_matmul_shared(pools[0], none, 0, 32, (const float *)none, 1, 1) == AFM_ERR_INVALID_ARG, "no products");
    CHECK(afm_matmul_shared(pools[0], none, 9, 32, (const float *)none, 1, 1) == AFM_ERR_INVALID_ARG, "9 products");
    float x[64] = {0}, y[64];
    unsigned char w[64 * 4] = {0};
    CHECK(afm_matmul_like(pools[0], false, y, w, AFM_F32, 1, 32, x, 2, 1) == AFM_ERR_INVALID_ARG, "T > T_like");
    afm_pool_free(pools[0]);
    afm_pool_free(pools[1]);
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_matmul_rows: %d cases bit-identical\n", cases);
    return 0;
}
