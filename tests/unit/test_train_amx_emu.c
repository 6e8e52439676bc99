/* The AMX-BF16 training GEMM driver (src/model/train_gemm_amx.c), run on any AVX2 machine through
 * a C emulation of its tile and AVX-512 intrinsics (amx_emu.h, written from Intel's SDM).
 *
 * Every output must equal, bit for bit, an independent per-element reference that rounds the
 * inputs to bf16 with afm_f32_to_bf16 and sums in f32 in the order TDPBF16PS defines: for each
 * 32-wide k chunk (k = 0, 32, 64 ..: the driver's k slices are multiples of 32), the even-k and
 * the odd-k products are summed separately with FMAs, their sum is added to C; bf16 subnormal
 * inputs count as 0 and subnormal f32 results are flushed. This checks packing (both source
 * orders of A and B, the strided fallback, the zero-padded k tail and the edges of C), the tile
 * walk, the k slices (K > 512), accumulate on / off and the thread split (1, 2 and 3 threads, which
 * must give the same bits). As a check of the reading of the SDM order itself, every output must
 * also lie within the f32 summation bound 1e-5 * sum |a_k b_k| + 1e-6 of a double-precision sum of
 * the bf16-rounded products.
 *
 * Layouts (as afm_linear_* call afm_gemm): x·Wᵀ (A = x rows contiguous, B = Wᵀ columns
 * contiguous), dy·W (A rows, B rows contiguous), dyᵀ·x (A = dyᵀ columns contiguous: strided A),
 * and one with neither index contiguous (scalar packing). The real instructions are checked by
 * test_train_gemm on an AMX machine. */
#define TEST_SEED 5
#include "test_check.h"
#include "model/train_gemm.h"
#include "base/cpu.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#if !defined(__clang__) /* clang takes -mavx2 -mfma -mf16c from tests/CMakeLists.txt instead */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#include "amx_emu.h"
#define afm_gemm_amx emu_gemm_amx
#include "model/train_gemm_amx.c"
#undef afm_gemm_amx
#if !defined(__clang__)
#pragma GCC pop_options
#endif
#define HAVE_EMU 1
#endif

#ifdef HAVE_EMU

/* bf16 rounding (afm_f32_to_bf16), then subnormals to 0 as the instruction reads them */
static float bf16_in(float x) {
    float f = afm_bf16_to_f32(afm_f32_to_bf16(x));
    return fpclassify(f) == FP_SUBNORMAL ? copysignf(0.0f, f) : f;
}
static float flush(float x) { return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x; }

typedef struct view { const float *p; long rs, cs; } view;
static float at(view v, long r, long c) { return v.p[r * v.rs + c * v.cs]; }

/* C(i, j) in the TDPBF16PS order (see the header) */
static float ref_tile_order(view A, view B, long i, long j, long K, float init) {
    float acc = init;
    for (long c0 = 0; c0 < K; c0 += 32) {
        float t0 = 0.0f, t1 = 0.0f;
        for (long p = 0; p < 16; p++) {
            long k = c0 + 2 * p;
            if (k < K) t0 = flush(fmaf(bf16_in(at(A, i, k)), bf16_in(at(B, k, j)), t0));
            if (k + 1 < K) t1 = flush(fmaf(bf16_in(at(A, i, k + 1)), bf16_in(at(B, k + 1, j)), t1));
        }
        acc = flush(flush(acc) + flush(t0 + t1));
    }
    return acc;
}

typedef struct bufs { int n; float *ap[3], *bp[3]; } bufs;

/* One product C (M, Nc) (+)= A (M, K) · B (K, Nc) through the emulated driver with nth threads. */
static void one(afm_pool *pool, int nth, bufs *bu, const char *layout, long M, long Nc, long K, view A, view B, bool acc) {
    long ldc = Nc + 3; /* C rows not contiguous: the driver must keep to c_rs */
    float *c = malloc(sizeof(float) * (size_t)(M * ldc + 1)), *c0 = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    for (long i = 0; i < M * ldc + 1; i++) c[i] = c0[i] = frand() * 4.0f;
    long tdp0 = g_emu_tdp_count;
    emu_gemm_amx(pool, nth, bu->ap, bu->bp, M, Nc, K, A.p, A.rs, A.cs, B.p, B.rs, B.cs, c, ldc, acc);
    int bad = 0, bad_bound = 0, untouched = 0;
    for (long i = 0; i < M; i++)
        for (long j = 0; j < ldc; j++) {
            float got = c[i * ldc + j];
            if (j >= Nc) { if (memcmp(&got, &c0[i * ldc + j], 4)) untouched++; continue; }
            float init = acc ? c0[i * ldc + j] : 0.0f;
            float want = ref_tile_order(A, B, i, j, K, init);
            if (memcmp(&got, &want, 4) && !(got == 0 && want == 0)) {
                if (bad++ < 3) fprintf(stderr, "  %s %ldx%ldx%ld C(%ld,%ld) = %.9g, reference %.9g\n", layout, M, Nc, K, i, j, got, want);
            }
            double s = init, m = fabs(init);
            for (long k = 0; k < K; k++) { double t = (double)bf16_in(at(A, i, k)) * bf16_in(at(B, k, j)); s += t; m += fabs(t); }
            if (!(fabs(got - s) <= 1e-5 * m + 1e-6)) bad_bound++;
        }
    if (c[M * ldc] != c0[M * ldc]) untouched++;
    CHECK(!bad, "%s M %ld Nc %ld K %ld acc %d threads %d: %d outputs differ from the TDPBF16PS-order reference", layout, M, Nc, K, acc, nth, bad);
    CHECK(!bad_bound, "%s M %ld Nc %ld K %ld acc %d threads %d: %d outputs outside the f32 bound of the double reference", layout, M, Nc, K, acc, nth, bad_bound);
    CHECK(!untouched, "%s M %ld Nc %ld K %ld: %d values outside C written", layout, M, Nc, K, untouched);
    CHECK(K == 0 || Nc == 0 || g_emu_tdp_count > tdp0, "%s: no TDPBF16PS ran", layout);
    free(c); free(c0);
}

static float *rnd(long n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++) p[i] = frand();
    /* a few values that round to bf16 subnormals (read as 0) or sit on rounding ties */
    if (n > 7) { p[1] = 3e-39f; p[4] = -1.5e-39f; p[6] = 1.00390625f; p[7] = -2.01171875f; }
    return p;
}

/* The linear-layer products of a layer (N tokens, I inputs, O outputs), as afm_linear_* pass them */
static void layer(afm_pool *pool, int nth, bufs *bu, long N, long I, long O, bool acc) {
    float *x = rnd(N * I), *W = rnd(O * I), *dy = rnd(N * O);
    one(pool, nth, bu, "x.Wt", N, O, I, (view){x, I, 1}, (view){W, 1, I}, acc);
    one(pool, nth, bu, "dy.W", N, I, O, (view){dy, O, 1}, (view){W, I, 1}, acc);
    one(pool, nth, bu, "dyt.x", O, I, N, (view){dy, 1, O}, (view){x, I, 1}, acc);
    free(x); free(W); free(dy);
}

static void strided(afm_pool *pool, int nth, bufs *bu, long M, long Nc, long K) {
    float *a = rnd(M * K * 2 + 1), *b = rnd(K * Nc * 3 + 1);
    one(pool, nth, bu, "strided", M, Nc, K, (view){a, 2 * K, 2}, (view){b, 3, 3 * K}, true);
    free(a); free(b);
}
#endif

int main(void) {
#ifdef HAVE_EMU
    if (afm_isa_best() < AFM_ISA_AVX2) { printf("SKIP: cpu lacks avx2: the emulated AMX driver is not run\n"); return 77; }
    afm_pool *pools[4] = {NULL, NULL, NULL, NULL};
    if (afm_pool_create(2, &pools[2]) != AFM_OK || afm_pool_create(3, &pools[3]) != AFM_OK) return 1;
    bufs bu = {3, {0}, {0}};
    for (int t = 0; t < 3; t++) {
        bu.ap[t] = afm_alloc(sizeof(float) * AFM_GEMM_MC * AFM_GEMM_KC);
        bu.bp[t] = afm_alloc(sizeof(float) * AFM_GEMM_KC * AFM_GEMM_NC);
    }
    /* (N, I, O): odd shapes, single elements, C edges in both directions, K tails, K > 512 (two
     * slices) in every layout, more than AMX_MC rows, more than AMX_NC columns */
    static const long shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {16, 32, 32}, {33, 31, 17}, {13, 70, 129},
                                     {37, 65, 40}, {7, 600, 9}, {530, 9, 6}, {6, 11, 530}, {200, 40, 33}, {3, 1100, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int th = 1; th <= 3; th++)
            for (int acc = 0; acc < 2; acc++) {
                if (th > 1 && acc == 0 && s % 2) continue; /* keep the run short */
                layer(pools[th], th, &bu, shapes[s][0], shapes[s][1], shapes[s][2], acc);
            }
    strided(NULL, 1, &bu, 19, 21, 45);
    strided(pools[3], 3, &bu, 40, 70, 600);
    /* K = 0: C zeroed (or left as it is when accumulating) */
    layer(pools[2], 2, &bu, 5, 0, 4, false);
    layer(NULL, 1, &bu, 5, 0, 4, true);
    for (int t = 0; t < 3; t++) { afm_free(bu.ap[t]); afm_free(bu.bp[t]); }
    afm_pool_free(pools[2]);
    afm_pool_free(pools[3]);
    printf("emulated TDPBF16PS instructions: %ld\n", g_emu_tdp_count);
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_train_amx_emu: all passed (AMX usable on this CPU: %s)\n", afm_amx_bf16_usable() ? "yes" : "no");
    return 0;
#else
    printf("SKIP: not x86-64\n");
    return 77;
#endif
}
