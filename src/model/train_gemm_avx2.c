/* AVX2 + FMA micro-kernel for afm_gemm. The 6 x 64 tile is done as four 6 x 16 column strips,
 * each held in 12 ymm accumulators: per k step 2 loads of the packed B panel, 6 broadcasts of
 * the packed A panel and 12 FMAs. The accumulators are named variables (an array indexed at run
 * time would make the compiler keep them in memory). Called only when base/cpu.h reports AVX2
 * and FMA. */
#include "model/train_gemm.h"
#include <immintrin.h>

void afm_gemm_ukernel_avx2(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    _Alignas(32) float tile[AFM_GEMM_MR][16];
    for (int s = 0; s * 16 < nr; s++) {
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        const float *b = bp + 16 * s, *a = ap;
        for (long k = 0; k < kc; k++, a += AFM_GEMM_MR, b += AFM_GEMM_NR) {
            __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), av;
            av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
            av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
            av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
            av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
            av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
            av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
        }
        int cols = nr - 16 * s < 16 ? nr - 16 * s : 16;
        if (mr == AFM_GEMM_MR && cols == 16) { /* full strip: add/store straight into C */
            float *cr = c + 16 * s;
#define ROW(r, lo, hi) do { float *p = cr + (r) * c_rs; __m256 x0 = lo, x1 = hi; \
            if (add) { x0 = _mm256_add_ps(x0, _mm256_loadu_ps(p)); x1 = _mm256_add_ps(x1, _mm256_loadu_ps(p + 8)); } \
            _mm256_storeu_ps(p, x0); _mm256_storeu_ps(p + 8, x1); } while (0)
            ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
#undef ROW
            continue;
        }
        _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
        _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
        _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
        _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
        _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
        _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
        for (int r = 0; r < mr; r++) {
            float *p = c + r * c_rs + 16 * s;
            for (int j = 0; j < cols; j++) p[j] = (add ? p[j] : 0.0f) + tile[r][j];
        }
    }
}
