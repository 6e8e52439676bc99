/* AVX-512 micro-kernel for afm_gemm: a 6 x 64 tile of C in 24 zmm accumulators. Each k step
 * loads 4 vectors of the packed B panel and broadcasts 6 values of the packed A panel:
 * 24 FMAs per 10 loads. The accumulators are named variables so they stay in registers.
 * Called only when base/cpu.h reports AVX-512. */
#include "model/train_gemm.h"
#include <immintrin.h>

void afm_gemm_ukernel_avx512(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    _Alignas(64) float tile[AFM_GEMM_MR][AFM_GEMM_NR];
    __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z;
    __m512 c30 = z, c31 = z, c32 = z, c33 = z, c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z;
    const float *a = ap, *b = bp;
    for (long k = 0; k < kc; k++, a += AFM_GEMM_MR, b += AFM_GEMM_NR) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), b2 = _mm512_load_ps(b + 32), b3 = _mm512_load_ps(b + 48), av;
#define ROW(r, x0, x1, x2, x3) av = _mm512_set1_ps(a[r]); x0 = _mm512_fmadd_ps(av, b0, x0); x1 = _mm512_fmadd_ps(av, b1, x1); \
        x2 = _mm512_fmadd_ps(av, b2, x2); x3 = _mm512_fmadd_ps(av, b3, x3)
        ROW(0, c00, c01, c02, c03); ROW(1, c10, c11, c12, c13); ROW(2, c20, c21, c22, c23);
        ROW(3, c30, c31, c32, c33); ROW(4, c40, c41, c42, c43); ROW(5, c50, c51, c52, c53);
#undef ROW
    }
    if (mr == AFM_GEMM_MR && nr == AFM_GEMM_NR) {
#define OUT(r, x0, x1, x2, x3) do { float *p = c + (r) * c_rs; __m512 y0 = x0, y1 = x1, y2 = x2, y3 = x3; \
        if (add) { y0 = _mm512_add_ps(y0, _mm512_loadu_ps(p)); y1 = _mm512_add_ps(y1, _mm512_loadu_ps(p + 16)); \
                   y2 = _mm512_add_ps(y2, _mm512_loadu_ps(p + 32)); y3 = _mm512_add_ps(y3, _mm512_loadu_ps(p + 48)); } \
        _mm512_storeu_ps(p, y0); _mm512_storeu_ps(p + 16, y1); _mm512_storeu_ps(p + 32, y2); _mm512_storeu_ps(p + 48, y3); } while (0)
        OUT(0, c00, c01, c02, c03); OUT(1, c10, c11, c12, c13); OUT(2, c20, c21, c22, c23);
        OUT(3, c30, c31, c32, c33); OUT(4, c40, c41, c42, c43); OUT(5, c50, c51, c52, c53);
#undef OUT
        return;
    }
#define SAVE(r, x0, x1, x2, x3) _mm512_store_ps(tile[r], x0); _mm512_store_ps(tile[r] + 16, x1); \
    _mm512_store_ps(tile[r] + 32, x2); _mm512_store_ps(tile[r] + 48, x3)
    SAVE(0, c00, c01, c02, c03); SAVE(1, c10, c11, c12, c13); SAVE(2, c20, c21, c22, c23);
    SAVE(3, c30, c31, c32, c33); SAVE(4, c40, c41, c42, c43); SAVE(5, c50, c51, c52, c53);
#undef SAVE
    for (int r = 0; r < mr; r++) {
        float *p = c + r * c_rs;
        for (int j = 0; j < nr; j++) p[j] = (add ? p[j] : 0.0f) + tile[r][j];
    }
}
