/* afm_matmul for every weight type, ISA variant (up to what this CPU has), thread count 1 and 2,
 * T in {1, 2, 5, 7, 17, 64}, odd row counts and column counts that are not multiples of the vector
 * width (while multiples of the type's block).
 *
 * References, both computed here in double precision from the dequantized weights Wd
 * (afm_dequantize_row, itself checked against the gguf package in test_quant):
 *  1. "exact": y = Wd . xq, where xq is x rounded the way the kernels quantize activations
 *     (q8: d = amax/127 per 32-block, q = round-half-even(x/d); q8_K: d = -max/127 per 256-block).
 *     Every variant must match it within 1e-5 * sum|Wd||xq| (float rounding of the sums only).
 *  2. "plain": y = Wd . x, the plain f32 matmul. Quantizing an activation moves it by at most
 *     d/2, so |y - plain| <= sum_blocks (d_b / 2) * sum_{i in b} |Wd_i| (+ the rounding term);
 *     that bound is checked too.
 * SIMD variants are also compared with the scalar one (same 1e-5 relative tolerance), and 2
 * threads must give the bit-identical result of 1 thread. Repacked q4_0/q4_1/q5_0/q5_1/q8_0 weights are checked
 * the same way (see run_case). */
#define TEST_SEED 1
#include "test_check.h"
#include "kernels/matmul.h"
#include "tensor/quant.h"
#include "kernels/matmul_internal.h"
#include "base/mem.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* x quantized as the kernels do, returned as floats (xq) plus the per-element max error (d/2). */
static void quantize_ref(afm_dtype wt, const float *x, int64_t n, double *xq, double *half_step, double *s_corr) {
    int kind = (wt == AFM_Q4_K || wt == AFM_Q6_K) ? 2 : (wt == AFM_F32 || wt == AFM_F16 || wt == AFM_BF16) ? 0 : 1;
    if (kind == 0) {
        for (int64_t i = 0; i < n; i++) { xq[i] = x[i]; half_step[i] = 0; }
        return;
    }
    int bs = kind == 1 ? 32 : 256;
    for (int64_t b = 0; b < n; b += bs) {
        float amax = 0, max = 0;
        for (int i = 0; i < bs; i++)
            if (fabsf(x[b + i]) > amax) { amax = fabsf(x[b + i]); max = x[b + i]; }
        float d, id;
        /* 32-blocks: ggml's q8_0 / q8_1 rules, the scale rounded to f16 (d16); q8_K: f32 scale */
        if (kind == 1) { d = amax >= 1e-30f ? amax / 127.f : 0.0f; id = amax >= 1e-30f ? 127.f / amax : 0.0f; }
        else { id = amax >= 1e-30f ? -127.f / max : 0.0f; d = id != 0 ? 1 / id : 0.0f; }
        float d16 = kind == 1 ? afm_f16_to_f32(afm_f32_to_f16(d)) : d;
        int sum = 0;
        for (int i = 0; i < bs; i++) {
            float q = nearbyintf(x[b + i] * id);
            if (q > 127) q = 127;
            sum += (int)q;
            xq[b + i] = (double)d16 * q;
            /* |d16 q - x| <= d/2 + |d16 - d| 127 */
            half_step[b + i] = fabs((double)d) / 2 + fabs((double)d16 - (double)d) * 127;
        }
        /* q4_1 / q5_1 take the offset term m * s with s = f16(d * sum) instead of m * d16 * sum */
        if (s_corr) s_corr[b / 32] = kind == 1 ? (double)afm_f16_to_f32(afm_f32_to_f16(d * (float)sum)) - (double)d16 * sum : 0;
    }
}

static void run_case(afm_pool *p1, afm_pool *p2, afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    const char *name = afm_dtype_name(wt);
    float *w = malloc(sizeof(float) * rows * cols), *wd = malloc(sizeof(float) * rows * cols);
    float *x = malloc(sizeof(float) * T * cols);
    size_t rb = afm_dtype_row_size(wt, cols);
    unsigned char *wq = malloc(rb * rows);
    for (int64_t i = 0; i < rows * cols; i++) w[i] = frand() * (1 + (i % 7 == 0) * 3);
    for (int64_t i = 0; i < T * cols; i++) x[i] = frand() * (1 + (i % 13 == 0) * 5);
    for (int64_t r = 0; r < rows; r++) {
        CHECK(afm_quantize_row(wt, w + r * cols, wq + r * rb, cols) == AFM_OK, "quantize %s", name);
        CHECK(afm_dequantize_row(wt, wq + r * rb, wd + r * cols, cols) == AFM_OK, "dequantize %s", name);
    }
    double *xq = malloc(sizeof(double) * T * cols), *hs = malloc(sizeof(double) * T * cols);
    double *sc = calloc((size_t)(T * cols / 32 + 1), sizeof(double));
    for (int64_t t = 0; t < T; t++) quantize_ref(wt, x + t * cols, cols, xq + t * cols, hs + t * cols, sc + t * (cols / 32));
    bool has_m = wt == AFM_Q4_1 || wt == AFM_Q5_1; /* blocks start with f16 d, f16 m */
    size_t bsz = (size_t)afm_dtype_get((uint32_t)wt)->type_size;
    double *exact = malloc(sizeof(double) * T * rows), *scale = malloc(sizeof(double) * T * rows);
    double *plain = malloc(sizeof(double) * T * rows), *qbound = malloc(sizeof(double) * T * rows);
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++) {
            double e = 0, s = 0, pl = 0, qb = 0;
            for (int64_t c = 0; c < cols; c++) {
                double wv = wd[r * cols + c];
                e += wv * xq[t * cols + c];
                s += fabs(wv * xq[t * cols + c]) + fabs(wv * x[t * cols + c]);
                pl += wv * x[t * cols + c];
                qb += fabs(wv) * hs[t * cols + c];
            }
            for (int64_t b = 0; has_m && b < cols / 32; b++) {
                uint16_t mh;
                memcpy(&mh, wq + r * rb + (size_t)b * bsz + 2, 2);
                double m = afm_f16_to_f32(mh), corr = m * sc[t * (cols / 32) + b];
                e += corr;
                qb += fabs(corr);
            }
            exact[t * rows + r] = e; scale[t * rows + r] = s; plain[t * rows + r] = pl; qbound[t * rows + r] = qb;
        }
    float *ys = malloc(sizeof(float) * T * rows), *y1 = malloc(sizeof(float) * T * rows), *y2 = malloc(sizeof(float) * T * rows);
    CHECK(afm_matmul_isa(p1, AFM_ISA_SCALAR, ys, wq, wt, rows, cols, x, T) == AFM_OK, "scalar %s", name);
    afm_isa best = afm_isa_best();
    for (int isa = AFM_ISA_SCALAR; isa <= (int)best; isa++) {
        CHECK(afm_matmul_isa(p1, (afm_isa)isa, y1, wq, wt, rows, cols, x, T) == AFM_OK, "%s %s", afm_isa_name(isa), name);
        CHECK(afm_matmul_isa(p2, (afm_isa)isa, y2, wq, wt, rows, cols, x, T) == AFM_OK, "%s %s 2 threads", afm_isa_name(isa), name);
        int bad_exact = 0, bad_plain = 0, bad_scalar = 0, bad_threads = 0;
        for (int64_t i = 0; i < T * rows; i++) {
            double tol = 1e-5 * scale[i] + 1e-6;
            if (!(fabs(y1[i] - exact[i]) <= tol)) {
                if (!bad_exact) fprintf(stderr, "  %s %s rows %lld cols %lld T %lld: y[%lld] = %.7g, exact %.7g (tol %.3g)\n",
                                        afm_isa_name(isa), name, (long long)rows, (long long)cols, (long long)T, (long long)i, y1[i], exact[i], tol);
                bad_exact++;
            }
            if (!(fabs(y1[i] - plain[i]) <= qbound[i] + tol)) bad_plain++;
            if (!(fabs(y1[i] - ys[i]) <= tol)) bad_scalar++;
            if (memcmp(&y1[i], &y2[i], 4)) bad_threads++;
        }
        CHECK(!bad_exact, "%s %s (%lld x %lld, T %lld): %d outputs off the quantized-activation reference", afm_isa_name(isa), name, (long long)rows, (long long)cols, (long long)T, bad_exact);
        CHECK(!bad_plain, "%s %s (%lld x %lld, T %lld): %d outputs outside the activation-quantization bound", afm_isa_name(isa), name, (long long)rows, (long long)cols, (long long)T, bad_plain);
        CHECK(!bad_scalar, "%s %s (%lld x %lld, T %lld): %d outputs differ from scalar", afm_isa_name(isa), name, (long long)rows, (long long)cols, (long long)T, bad_scalar);
        CHECK(!bad_threads, "%s %s (%lld x %lld, T %lld): 2 threads differ from 1 in %d outputs", afm_isa_name(isa), name, (long long)rows, (long long)cols, (long long)T, bad_threads);
    }
    /* Repacked weights (q4_0, q4_1, q5_0, q5_1, q8_0): same per-block integer dot products, so the scalar
     * variant must match the row-layout scalar bit for bit and every variant must meet the same
     * tolerances; 1 and 2 threads bit-identical. */
    if (afm_matmul_can_repack(wt)) {
        unsigned char *wp = malloc(rb * rows);
        float *yp1 = malloc(sizeof(float) * T * rows), *yp2 = malloc(sizeof(float) * T * rows);
        CHECK(afm_matmul_repack(wt, rows, cols, wq, wp) == AFM_OK, "repack %s", name);
        unsigned char *wi = malloc(rb * rows); /* in place gives the same bytes */
        memcpy(wi, wq, rb * rows);
        CHECK(afm_matmul_repack(wt, rows, cols, wi, wi) == AFM_OK, "in-place repack %s", name);
        CHECK(!memcmp(wi, wp, rb * rows), "in-place repack %s differs", name);
        free(wi);
        /* Each row read back from the packed layout equals the row layout's dequantization. */
        float *row = malloc(sizeof(float) * cols);
        int bad_rows = 0;
        for (int64_t r = 0; r < rows; r++) {
            CHECK(afm_matmul_packed_row(wt, wp, rows, cols, r, row) == AFM_OK, "packed row %s", name);
            if (memcmp(row, wd + r * cols, sizeof(float) * cols)) bad_rows++;
        }
        CHECK(!bad_rows, "packed %s (%lld x %lld): %d rows read back differ from the original", name, (long long)rows, (long long)cols, bad_rows);
        CHECK(afm_matmul_packed_row(wt, wp, rows, cols, rows, row) == AFM_ERR_INVALID_ARG, "packed row out of range must fail");
        free(row);
        for (int isa = AFM_ISA_SCALAR; isa <= (int)best; isa++) {
            CHECK(afm_matmul_packed_isa(p1, (afm_isa)isa, yp1, wp, wt, rows, cols, x, T) == AFM_OK, "packed %s", name);
            CHECK(afm_matmul_packed_isa(p2, (afm_isa)isa, yp2, wp, wt, rows, cols, x, T) == AFM_OK, "packed %s", name);
            int bad = 0, bad_threads = 0, bad_bits = 0;
            for (int64_t i = 0; i < T * rows; i++) {
                double tol = 1e-5 * scale[i] + 1e-6;
                if (!(fabs(yp1[i] - exact[i]) <= tol) || !(fabs(yp1[i] - ys[i]) <= tol)) bad++;
                if (memcmp(&yp1[i], &yp2[i], 4)) bad_threads++;
                if (isa == AFM_ISA_SCALAR && memcmp(&yp1[i], &ys[i], 4)) bad_bits++;
            }
            CHECK(!bad, "packed %s %s (%lld x %lld, T %lld): %d outputs off", afm_isa_name(isa), name, (long long)rows, (long long)cols, (long long)T, bad);
            CHECK(!bad_threads, "packed %s %s: 2 threads differ from 1 in %d outputs", afm_isa_name(isa), name, bad_threads);
            CHECK(!bad_bits, "packed scalar %s: %d outputs not bit-identical to the row layout", name, bad_bits);
        }
        CHECK(afm_matmul_packed(p2, yp2, wp, wt, rows, cols, x, T) == AFM_OK, "afm_matmul_packed %s", name);
        free(wp);
        free(yp1);
        free(yp2);
    }
    /* The default entry point is the best level */
    CHECK(afm_matmul(p2, y2, wq, wt, rows, cols, x, T) == AFM_OK, "afm_matmul %s", name);
    CHECK(!memcmp(y1, y2, sizeof(float) * T * rows), "afm_matmul %s differs from the best ISA", name);
    free(w); free(wd); free(x); free(wq); free(xq); free(hs); free(sc); free(exact); free(scale); free(plain); free(qbound);
    free(ys); free(y1); free(y2);
}

/* The SIMD activation quantizer must equal the scalar one bit for bit, including ties (x/d
 * exactly k + 0.5 rounds to even), zeros, -0, subnormals and huge values. */
static void check_act_quantizer(void) {
    enum { NB = 6 };
    float x[NB * 32];
    for (int i = 0; i < 32; i++) {
        x[i] = (float)(i - 16) + 0.5f;            /* ties, amax 15.5 */
        x[32 + i] = i == 7 ? 127.f : (float)(i % 5) - 2.5f; /* d = 1: exact .5 ties */
        x[64 + i] = 0.0f;                         /* all zero */
        x[96 + i] = i & 1 ? -0.0f : 1e-40f;       /* -0 and subnormals */
        x[128 + i] = (i - 16) * 1e36f;            /* huge */
        x[160 + i] = frand();
    }
    afm_act_q8 a[NB], b[NB];
    memset(a, 0x55, sizeof a);
    memset(b, 0xAA, sizeof b);
    afm_quantize_act_q8_scalar(x, a, NB);
    if (afm_isa_best() >= AFM_ISA_AVX2) {
        afm_quantize_act_q8_avx2(x, b, NB);
        for (int k = 0; k < NB; k++)
            CHECK(!memcmp(&a[k].d, &b[k].d, 4) && !memcmp(&a[k].ds, &b[k].ds, 4) && a[k].sum == b[k].sum && !memcmp(a[k].qs, b[k].qs, 32),
                  "avx2 activation quantization differs from scalar in block %d", k);
    }
    CHECK(a[1].qs[7] == 127 && a[1].qs[0] == -2 && a[1].qs[1] == -2 && a[1].qs[3] == 0 && a[1].qs[4] == 2,
          "round half to even: %d %d %d %d", a[1].qs[0], a[1].qs[1], a[1].qs[3], a[1].qs[4]);
    CHECK(a[3].d == 0 && a[3].sum == 0, "a subnormal block must quantize to zero");
}

/* q5_0 / q5_1 with every code at its maximum 31 against activations all 127 (x constant): the
 * largest integer sums the packed kernels build (8 steps of 2 * 31 * 127 overflow int16, so they
 * must widen every 4 steps). y = 8 rows x 2 blocks, every ISA and layout against the exact value. */
static void check_q5_extremes(afm_pool *pool) {
    enum { ROWS = 8, COLS = 64 };
    const afm_dtype types[2] = {AFM_Q5_0, AFM_Q5_1};
    float x[COLS], y[ROWS];
    for (int i = 0; i < COLS; i++) x[i] = 1.0f;
    for (int k = 0; k < 2; k++) {
        afm_dtype wt = types[k];
        size_t bsz = (size_t)afm_dtype_get(wt)->type_size;
        unsigned char w[ROWS * 2 * 24], wp[ROWS * 2 * 24];
        memset(w, 0xFF, sizeof w); /* codes nib 15 | 5th bit 1 = 31 */
        for (int b = 0; b < ROWS * COLS / 32; b++) {
            uint16_t one = 0x3C00; /* f16 1.0: d = 1 (and q5_1's m = 1) */
            memcpy(w + b * bsz, &one, 2);
            if (wt == AFM_Q5_1) memcpy(w + b * bsz + 2, &one, 2);
        }
        /* x quantizes to codes 127 with dx = f16(1/127) and ds = f16(dx * 32 * 127) = 32; per block
         * dw * dx * sum(u q) (+ m * ds): q5_0 sum (31 - 16) * 127 over 32 elements, q5_1 31 * 127 */
        double dx = afm_act_round_f16(1.0f / 127.0f);
        double want = wt == AFM_Q5_0 ? 2 * (dx * 15 * 127 * 32) : 2 * (dx * 31 * 127 * 32 + 32);
        CHECK(afm_matmul_repack(wt, ROWS, COLS, w, wp) == AFM_OK, "repack");
        for (int isa = AFM_ISA_SCALAR; isa <= (int)afm_isa_best(); isa++)
            for (int packed = 0; packed < 2; packed++) {
                CHECK(afm_matmul_like_isa(pool, (afm_isa)isa, packed, y, packed ? wp : w, wt, ROWS, COLS, x, 1, 1) == AFM_OK, "q5 extremes");
                for (int r = 0; r < ROWS; r++)
                    CHECK(fabs(y[r] - want) <= 1e-5 * want, "%s %s%s extreme codes: row %d = %.6g, want %.6g", afm_isa_name((afm_isa)isa),
                          packed ? "packed " : "", afm_dtype_name(wt), r, y[r], want);
            }
    }
}

int main(void) {
    afm_pool *p1, *p2;
    check_act_quantizer();
    if (afm_pool_create(1, &p1) || afm_pool_create(2, &p2)) { fprintf(stderr, "pool\n"); return 1; }
    printf("best ISA here: %s\n", afm_isa_name(afm_isa_best()));
    check_q5_extremes(p1);
    if (afm_isa_best() < AFM_ISA_AVX512)
        printf("SKIP: cpu lacks avx512 (f/bw/vl/dq/vnni) or AFM_FORCE_ISA caps it: the avx512 kernels are not run here "
               "(test_matmul_avx512_emu checks them emulated)\n");
    const afm_dtype types[] = {AFM_F32, AFM_F16, AFM_BF16, AFM_Q8_0, AFM_Q4_0, AFM_Q4_1, AFM_Q5_0, AFM_Q5_1, AFM_Q4_K, AFM_Q6_K};
    const int64_t Ts[] = {1, 2, 5, 7, 17, 64}; /* token tiles of 3, 4 and 6 and their remainders */
    const int64_t rows_list[] = {1, 7, 37, 16, 40}; /* 40: two 16-row tiles and one 8-row group */
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        afm_dtype wt = types[ti];
        int block = afm_dtype_get(wt)->block;
        int64_t cols_list[2];
        if (block == 1) { cols_list[0] = 37; cols_list[1] = 83; }
        else if (block == 32) { cols_list[0] = 96; cols_list[1] = 224; }
        else { cols_list[0] = 256; cols_list[1] = 768; }
        for (int ci = 0; ci < 2; ci++)
            for (size_t ri = 0; ri < sizeof rows_list / sizeof *rows_list; ri++)
                for (size_t k = 0; k < sizeof Ts / sizeof *Ts; k++) run_case(p1, p2, wt, rows_list[ri], cols_list[ci], Ts[k]);
        if (block == 256) { /* the k-quant GEMM's token blocks (64) and column passes (32 blocks) */
            run_case(p1, p2, wt, 5, 256 * 33, 3);
            run_case(p1, p2, wt, 3, 512, 70);
        }
    }
    /* Decode (T = 1) on f32/f16/bf16 walks each row in 64-element steps, then 8-element steps,
     * then single elements: 213 = 3 * 64 + 2 * 8 + 5 takes every path, 576 (SmolLM2's width)
     * only the first; rows 3 and 41 leave ragged thread units. */
    const afm_dtype ftypes[] = {AFM_F32, AFM_F16, AFM_BF16};
    for (size_t ti = 0; ti < 3; ti++) {
        run_case(p1, p2, ftypes[ti], 41, 213, 1);
        run_case(p1, p2, ftypes[ti], 3, 576, 1);
    }
    /* Bad arguments */
    float x[64] = {0}, y[64];
    unsigned char w[64 * 34] = {0};
    CHECK(afm_matmul(p1, y, w, AFM_Q4_0, 1, 48, x, 1) == AFM_ERR_INVALID_ARG, "cols not a block multiple");
    CHECK(afm_matmul(p1, y, w, AFM_Q2_K, 1, 256, x, 1) == AFM_ERR_UNSUPPORTED, "q2_k unsupported");
    CHECK(afm_matmul(p1, y, w, AFM_Q8_0, 0, 32, x, 1) == AFM_ERR_INVALID_ARG, "zero rows");
    CHECK(afm_matmul(p1, NULL, w, AFM_Q8_0, 1, 32, x, 1) == AFM_ERR_INVALID_ARG, "NULL y");
    CHECK(afm_matmul_supports(AFM_Q6_K) && !afm_matmul_supports(AFM_Q2_K), "supports()");
    CHECK(afm_matmul_repack(AFM_Q4_K, 8, 256, w, w + 1024) == AFM_ERR_UNSUPPORTED, "q4_k has no packed layout");
    CHECK(afm_matmul_repack(AFM_Q4_0, 8, 64, w, w + 8) == AFM_ERR_INVALID_ARG, "overlapping repack must fail");
    CHECK(afm_matmul_packed(p1, y, w, AFM_F16, 1, 32, x, 1) == AFM_ERR_UNSUPPORTED, "f16 packed unsupported");
    afm_pool_free(p1);
    afm_pool_free(p2);
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_matmul: all passed\n");
    return 0;
}
