/* AVX-512 micro-kernel for afm_gemm: a 6 x 64 tile of C in 24 zmm accumulators. Each k step
 * loads 4 vectors of the packed B panel and broadcasts 6 values of the packed A panel:
 * 24 FMAs per 10 loads. Called only when base/cpu.h reports AVX-512. */
#include "model/train_gemm.h"
#include <immintrin.h>

void afm_gemm_ukernel_avx512(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    __m512 acc[AFM_GEMM_MR][4];
    for (int r = 0; r < AFM_GEMM_MR; r++)
        for (int v = 0; v < 4; v++) acc[r][v] = _mm512_setzero_ps();
    for (long k = 0; k < kc; k++) {
        const float *a = ap + k * AFM_GEMM_MR, *b = bp + k * AFM_GEMM_NR;
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), b2 = _mm512_load_ps(b + 32), b3 = _mm512_load_ps(b + 48);
        for (int r = 0; r < AFM_GEMM_MR; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(av, b3, acc[r][3]);
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * c_rs;
        for (int v = 0; v < 4; v++) {
            int left = nr - 16 * v;
            if (left <= 0) break;
            __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
            __m512 out = acc[r][v];
            if (add) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, cr + 16 * v));
            _mm512_mask_storeu_ps(cr + 16 * v, m, out);
        }
    }
}
