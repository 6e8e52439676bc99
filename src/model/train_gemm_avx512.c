/* AVX-512 micro-kernel for afm_gemm: a 6 x 32 tile of C in 12 zmm accumulators (named
 * variables, so they stay in registers). Per k step: 2 aligned loads of the packed B panel
 * (kc x 32), 6 broadcasts from the packed A panel (kc x 6) and 12 independent FMAs; the k loop
 * is unrolled by 4 with the A panel prefetched ahead. The same structure as the AVX2 kernel with
 * twice the vector width. Called only when base/cpu.h reports AVX-512. */
#include "model/train_gemm.h"
#include <immintrin.h>

enum { NR = AFM_GEMM_NR_AVX512 };

void afm_gemm_ukernel_avx512(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a = ap, *b = bp;
    for (int r = 0; r < mr; r++) { _mm_prefetch((const char *)(c + r * c_rs), _MM_HINT_T0); _mm_prefetch((const char *)(c + r * c_rs + NR - 1), _MM_HINT_T0); }
#define STEP(u) do { \
        __m512 b0 = _mm512_load_ps(b + (u) * NR), b1 = _mm512_load_ps(b + (u) * NR + 16), av; \
        av = _mm512_set1_ps(a[(u) * AFM_GEMM_MR + 0]); c00 = _mm512_fmadd_ps(av, b0, c00); c01 = _mm512_fmadd_ps(av, b1, c01); \
        av = _mm512_set1_ps(a[(u) * AFM_GEMM_MR + 1]); c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11); \
        av = _mm512_set1_ps(a[(u) * AFM_GEMM_MR + 2]); c20 = _mm512_fmadd_ps(av, b0, c20); c21 = _mm512_fmadd_ps(av, b1, c21); \
        av = _mm512_set1_ps(a[(u) * AFM_GEMM_MR + 3]); c30 = _mm512_fmadd_ps(av, b0, c30); c31 = _mm512_fmadd_ps(av, b1, c31); \
        av = _mm512_set1_ps(a[(u) * AFM_GEMM_MR + 4]); c40 = _mm512_fmadd_ps(av, b0, c40); c41 = _mm512_fmadd_ps(av, b1, c41); \
        av = _mm512_set1_ps(a[(u) * AFM_GEMM_MR + 5]); c50 = _mm512_fmadd_ps(av, b0, c50); c51 = _mm512_fmadd_ps(av, b1, c51); \
    } while (0)
    long k = 0;
    for (; k + 4 <= kc; k += 4, a += 4 * AFM_GEMM_MR, b += 4 * NR) {
        _mm_prefetch((const char *)(a + 16 * AFM_GEMM_MR), _MM_HINT_T0);
        STEP(0); STEP(1); STEP(2); STEP(3);
    }
    for (; k < kc; k++, a += AFM_GEMM_MR, b += NR) STEP(0);
#undef STEP
    if (mr == AFM_GEMM_MR && nr == NR) {
#define ROW(r, lo, hi) do { float *p = c + (r) * c_rs; __m512 x0 = lo, x1 = hi; \
        if (add) { x0 = _mm512_add_ps(x0, _mm512_loadu_ps(p)); x1 = _mm512_add_ps(x1, _mm512_loadu_ps(p + 16)); } \
        _mm512_storeu_ps(p, x0); _mm512_storeu_ps(p + 16, x1); } while (0)
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
#undef ROW
        return;
    }
    _Alignas(64) float tile[AFM_GEMM_MR][NR];
    _mm512_store_ps(tile[0], c00); _mm512_store_ps(tile[0] + 16, c01);
    _mm512_store_ps(tile[1], c10); _mm512_store_ps(tile[1] + 16, c11);
    _mm512_store_ps(tile[2], c20); _mm512_store_ps(tile[2] + 16, c21);
    _mm512_store_ps(tile[3], c30); _mm512_store_ps(tile[3] + 16, c31);
    _mm512_store_ps(tile[4], c40); _mm512_store_ps(tile[4] + 16, c41);
    _mm512_store_ps(tile[5], c50); _mm512_store_ps(tile[5] + 16, c51);
    for (int r = 0; r < mr; r++) {
        float *p = c + r * c_rs;
        for (int j = 0; j < nr; j++) p[j] = (add ? p[j] : 0.0f) + tile[r][j];
    }
}
