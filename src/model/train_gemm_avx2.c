/* AVX2 + FMA micro-kernel for afm_gemm. The 6 x 64 tile is done as four 6 x 16 column strips,
 * each held in 12 ymm accumulators: per k step 2 loads of the packed B panel, 6 broadcasts of
 * the packed A panel and 12 FMAs. Called only when base/cpu.h reports AVX2 and FMA. */
#include "model/train_gemm.h"
#include <immintrin.h>

static inline __m256i tail_mask(int left) {
    return _mm256_setr_epi32(0 < left ? -1 : 0, 1 < left ? -1 : 0, 2 < left ? -1 : 0, 3 < left ? -1 : 0,
                             4 < left ? -1 : 0, 5 < left ? -1 : 0, 6 < left ? -1 : 0, 7 < left ? -1 : 0);
}

void afm_gemm_ukernel_avx2(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    for (int s = 0; s * 16 < nr; s++) {
        __m256 acc[AFM_GEMM_MR][2];
        for (int r = 0; r < AFM_GEMM_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        const float *b = bp + 16 * s;
        for (long k = 0; k < kc; k++) {
            const float *a = ap + k * AFM_GEMM_MR;
            __m256 b0 = _mm256_load_ps(b + k * AFM_GEMM_NR), b1 = _mm256_load_ps(b + k * AFM_GEMM_NR + 8);
            for (int r = 0; r < AFM_GEMM_MR; r++) {
                __m256 av = _mm256_broadcast_ss(a + r);
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
        for (int r = 0; r < mr; r++) {
            float *cr = c + r * c_rs + 16 * s;
            for (int v = 0; v < 2; v++) {
                int left = nr - 16 * s - 8 * v;
                if (left <= 0) break;
                __m256 out = acc[r][v];
                if (left >= 8) {
                    if (add) out = _mm256_add_ps(out, _mm256_loadu_ps(cr + 8 * v));
                    _mm256_storeu_ps(cr + 8 * v, out);
                } else {
                    __m256i m = tail_mask(left);
                    if (add) out = _mm256_add_ps(out, _mm256_maskload_ps(cr + 8 * v, m));
                    _mm256_maskstore_ps(cr + 8 * v, m, out);
                }
            }
        }
    }
}
