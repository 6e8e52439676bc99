/* The AVX-512 matmul kernels (src/kernels/matmul_avx512.c) run through a lane-by-lane C
 * emulation of their AVX-512 intrinsics (avx512_emu.h), so their layouts, tails and tile walks
 * are checked on any AVX2 machine, not only on one with AVX-512 (where test_matmul runs the
 * real instructions against the scalar kernels).
 *
 * For every type the kernels cover (f32, f16, bf16, q8_0, q4_0, q4_1 in the row and the packed
 * layout, q4_K, q6_K), ragged shapes (rows around the 16/8-row tiles, token counts around the
 * 4-token tiles, cols of several blocks and, for f32/f16/bf16, not a multiple of 16 and above
 * the 1024-element K chunk):
 *  - y must equal an independent double-precision reference, y = sum_b dx_b sum_i Wd_i qs_i
 *    (quantized types: Wd = afm_dequantize_row, the activation blocks random with consistent
 *    sums) or W . x (float types), within 1e-5 * sum |terms| + 1e-6;
 *  - computing the rows in pieces of 8 (as the threads split them) must give the same bits. */
#define TEST_SEED 7
#include "test_check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "base/cpu.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "avx512_emu.h"
#define afm_gemm_fill_avx512 emu_gemm_fill_avx512
#define afm_gemm_fill_packed_avx512 emu_gemm_fill_packed_avx512
#include "kernels/matmul_avx512.c"
#pragma GCC diagnostic pop
#pragma GCC pop_options
#define HAVE_EMU 1
#endif

static int cases;

/* activation codes: mostly random, some at the extremes +-127 */
static int8_t qrand(void) { unsigned u = urand(); return (int8_t)(u % 16 == 0 ? (u & 32 ? 127 : -127) : (int)(u % 255) - 127); }

#ifdef HAVE_EMU
/* Activations for T tokens in the kernel's format; xr (T x cols doubles) = the values they stand for. */
static void *make_acts(afm_dtype wt, int64_t T, int64_t cols, size_t *stride, double *xr) {
    bool k = wt == AFM_Q4_K || wt == AFM_Q6_K, f = wt == AFM_F32 || wt == AFM_F16 || wt == AFM_BF16;
    size_t st = f ? (size_t)cols * 4 : k ? (size_t)(cols / 256) * sizeof(afm_act_q8k) : (size_t)(cols / 32) * sizeof(afm_act_q8);
    uint8_t *buf = calloc((size_t)T, st);
    for (int64_t t = 0; t < T; t++) {
        uint8_t *row = buf + t * st;
        double *xt = xr + t * cols;
        if (f) {
            for (int64_t c = 0; c < cols; c++) { ((float *)row)[c] = frand() * 2; xt[c] = ((float *)row)[c]; }
        } else if (k) {
            afm_act_q8k *a = (afm_act_q8k *)row;
            for (int64_t b = 0; b < cols / 256; b++) {
                a[b].d = 0.01f + 0.02f * (frand() + 1);
                for (int i = 0; i < 256; i++) { a[b].qs[i] = qrand(); xt[256 * b + i] = (double)a[b].d * a[b].qs[i]; }
                for (int g = 0; g < 16; g++) {
                    int s = 0;
                    for (int i = 0; i < 16; i++) s += a[b].qs[16 * g + i];
                    a[b].bsums[g] = (int16_t)s;
                }
            }
        } else {
            afm_act_q8 *a = (afm_act_q8 *)row;
            for (int64_t b = 0; b < cols / 32; b++) {
                a[b].d = 0.01f + 0.02f * (frand() + 1);
                int s = 0;
                for (int i = 0; i < 32; i++) { a[b].qs[i] = qrand(); s += a[b].qs[i]; xt[32 * b + i] = (double)a[b].d * a[b].qs[i]; }
                a[b].sum = s;
                a[b].ds = a[b].d * (float)s;
            }
        }
    }
    *stride = st;
    return buf;
}

static void run_case(afm_gemm_fn fn, afm_gemm_fn packed_fn, afm_dtype wt, int64_t rows, int64_t cols, int64_t T) {
    const char *name = afm_dtype_name(wt);
    size_t rb = afm_dtype_row_size(wt, cols);
    float *w = malloc(sizeof(float) * rows * cols), *wd = malloc(sizeof(float) * rows * cols);
    uint8_t *wq = malloc(rb * rows);
    for (int64_t i = 0; i < rows * cols; i++) w[i] = frand() * (1 + (i % 7 == 0) * 3);
    for (int64_t r = 0; r < rows; r++) {
        CHECK(afm_quantize_row(wt, w + r * cols, wq + r * rb, cols) == AFM_OK, "quantize %s", name);
        CHECK(afm_dequantize_row(wt, wq + r * rb, wd + r * cols, cols) == AFM_OK, "dequantize %s", name);
    }
    double *xr = malloc(sizeof(double) * T * cols);
    size_t xs;
    uint8_t *xa = make_acts(wt, T, cols, &xs, xr);
    double *ref = malloc(sizeof(double) * T * rows), *mag = malloc(sizeof(double) * T * rows);
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0, m = 0;
            for (int64_t c = 0; c < cols; c++) { double p = (double)wd[r * cols + c] * xr[t * cols + c]; s += p; m += fabs(p); }
            ref[t * rows + r] = s;
            mag[t * rows + r] = m;
        }
    float *y = malloc(sizeof(float) * T * rows), *y8 = malloc(sizeof(float) * T * rows);
    uint8_t *wp = NULL;
    for (int layout = 0; layout < (packed_fn ? 2 : 1); layout++) {
        const uint8_t *W = wq;
        afm_gemm_fn f = fn;
        if (layout == 1) {
            wp = malloc(rb * rows);
            CHECK(afm_matmul_repack(wt, rows, cols, wq, wp) == AFM_OK, "repack %s", name);
            W = wp;
            f = packed_fn;
        }
        for (int64_t i = 0; i < T * rows; i++) y[i] = y8[i] = NAN;
        f(W, rb, rows, xa, xs, T, cols, y, rows);
        for (int64_t r0 = 0; r0 < rows; r0 += 8) /* rows in units of 8, as the threads take them */
            f(W + r0 * rb, rb, rows - r0 < 8 ? rows - r0 : 8, xa, xs, T, cols, y8 + r0, rows);
        int bad = 0, bad_split = 0;
        for (int64_t i = 0; i < T * rows; i++) {
            double tol = 1e-5 * mag[i] + 1e-6;
            if (!(fabs(y[i] - ref[i]) <= tol)) {
                if (!bad) fprintf(stderr, "  %s%s rows %lld cols %lld T %lld: y[%lld] = %.7g, reference %.7g (tol %.3g)\n", name,
                                  layout ? " packed" : "", (long long)rows, (long long)cols, (long long)T, (long long)i, y[i], ref[i], tol);
                bad++;
            }
            if (memcmp(&y[i], &y8[i], 4)) bad_split++;
        }
        CHECK(!bad, "emulated avx512 %s%s (%lld x %lld, T %lld): %d outputs off the reference", name, layout ? " packed" : "",
              (long long)rows, (long long)cols, (long long)T, bad);
        CHECK(!bad_split, "emulated avx512 %s%s (%lld x %lld, T %lld): 8-row pieces differ in %d outputs", name,
              layout ? " packed" : "", (long long)rows, (long long)cols, (long long)T, bad_split);
        cases++;
    }
    free(w); free(wd); free(wq); free(xr); free(xa); free(ref); free(mag); free(y); free(y8); free(wp);
}

static void run_all(void) {
    afm_gemm_fn fn[AFM_DTYPE_COUNT] = {0}, pk[AFM_DTYPE_COUNT] = {0};
    emu_gemm_fill_avx512(fn);
    emu_gemm_fill_packed_avx512(pk);
    const afm_dtype types[] = {AFM_F32, AFM_F16, AFM_BF16, AFM_Q8_0, AFM_Q4_0, AFM_Q4_1, AFM_Q4_K, AFM_Q6_K};
    const int64_t rows_list[] = {1, 7, 8, 9, 16, 23, 37, 40};
    const int64_t Ts[] = {1, 2, 3, 4, 5, 9};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        afm_dtype wt = types[ti];
        CHECK(fn[wt] != NULL, "no avx512 kernel for %s", afm_dtype_name(wt));
        if (!fn[wt]) continue;
        int block = afm_dtype_get(wt)->block;
        int64_t cols_list[3] = {15, 83, 1100};
        if (block == 32) { cols_list[0] = 32; cols_list[1] = 96; cols_list[2] = 224; }
        if (block == 256) { cols_list[0] = 256; cols_list[1] = 768; cols_list[2] = 512; }
        for (int ci = 0; ci < 3; ci++)
            for (size_t ri = 0; ri < sizeof rows_list / sizeof *rows_list; ri++)
                for (size_t k = 0; k < sizeof Ts / sizeof *Ts; k++) {
                    if (cols_list[ci] > 1000 && (rows_list[ri] > 9 || Ts[k] > 5)) continue; /* keep it fast */
                    run_case(fn[wt], pk[wt], wt, rows_list[ri], cols_list[ci], Ts[k]);
                }
        if (block == 256) { /* the k-quant GEMM's token blocks (64) and column passes (32 super-blocks) */
            run_case(fn[wt], NULL, wt, 5, 256 * 33, 3);
            run_case(fn[wt], NULL, wt, 3, 512, 70);
        }
    }
    /* the kernels the table must not claim: q5_0 / q5_1 stay on AVX2 */
    CHECK(!fn[AFM_Q5_0] && !fn[AFM_Q5_1] && !pk[AFM_F16], "unexpected entries in the avx512 tables");
}
#endif

int main(void) {
#ifdef HAVE_EMU
    if (afm_isa_best() < AFM_ISA_AVX2) {
        printf("SKIP: cpu lacks avx2 (the emulation runs the kernels' 256-bit parts natively)\n");
        return 0;
    }
    printf("best ISA here: %s (AVX-512 kernels run emulated)\n", afm_isa_name(afm_isa_best()));
    run_all();
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_matmul_avx512_emu: %d cases passed\n", cases);
#else
    printf("SKIP: not x86-64\n");
#endif
    return 0;
}
