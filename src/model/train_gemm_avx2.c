/* AVX2 + FMA micro-kernel for afm_gemm: a 6 x 16 tile of C in 12 ymm accumulators (named
 * variables, so they stay in registers; with the two B vectors and one broadcast that is 15 of
 * the 16 ymm registers). Per k step: 2 aligned loads of the packed B panel (kc x 16, which stays
 * in L1 across the row panels), 6 broadcasts from the packed A panel (kc x 6, streamed from L2,
 * prefetched a few steps ahead) and 12 independent FMAs, enough to cover the FMA latency on two
 * pipes. The k loop is unrolled by 4. Called only when base/cpu.h reports AVX2 and FMA. */
#include "model/train_gemm.h"
#include <immintrin.h>

enum { NR = AFM_GEMM_NR_AVX2 };

void afm_gemm_ukernel_avx2(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a = ap, *b = bp;
    for (int r = 0; r < mr; r++) { _mm_prefetch((const char *)(c + r * c_rs), _MM_HINT_T0); _mm_prefetch((const char *)(c + r * c_rs + NR - 1), _MM_HINT_T0); }
#define STEP(u) do { \
        __m256 b0 = _mm256_load_ps(b + (u) * NR), b1 = _mm256_load_ps(b + (u) * NR + 8), av; \
        av = _mm256_broadcast_ss(a + (u) * AFM_GEMM_MR + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01); \
        av = _mm256_broadcast_ss(a + (u) * AFM_GEMM_MR + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11); \
        av = _mm256_broadcast_ss(a + (u) * AFM_GEMM_MR + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21); \
        av = _mm256_broadcast_ss(a + (u) * AFM_GEMM_MR + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31); \
        av = _mm256_broadcast_ss(a + (u) * AFM_GEMM_MR + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41); \
        av = _mm256_broadcast_ss(a + (u) * AFM_GEMM_MR + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51); \
    } while (0)
    long k = 0;
    for (; k + 4 <= kc; k += 4, a += 4 * AFM_GEMM_MR, b += 4 * NR) {
        _mm_prefetch((const char *)(a + 16 * AFM_GEMM_MR), _MM_HINT_T0);
        STEP(0); STEP(1); STEP(2); STEP(3);
    }
    for (; k < kc; k++, a += AFM_GEMM_MR, b += NR) STEP(0);
#undef STEP
    if (mr == AFM_GEMM_MR && nr == NR) { /* full tile: add/store straight into C */
#define ROW(r, lo, hi) do { float *p = c + (r) * c_rs; __m256 x0 = lo, x1 = hi; \
        if (add) { x0 = _mm256_add_ps(x0, _mm256_loadu_ps(p)); x1 = _mm256_add_ps(x1, _mm256_loadu_ps(p + 8)); } \
        _mm256_storeu_ps(p, x0); _mm256_storeu_ps(p + 8, x1); } while (0)
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
#undef ROW
        return;
    }
    _Alignas(32) float tile[AFM_GEMM_MR][NR];
    _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
    _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
    _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
    _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
    _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
    _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
    for (int r = 0; r < mr; r++) {
        float *p = c + r * c_rs;
        for (int j = 0; j < nr; j++) p[j] = (add ? p[j] : 0.0f) + tile[r][j];
    }
}
