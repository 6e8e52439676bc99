/* AVX2 packing for afm_gemm (see train_gemm.h): the two transposing copies, done as 8 x 8
 * register transposes so that eight source rows stream at once (one scalar load and strided
 * store per element was the largest cost outside the micro-kernel). Called only when
 * base/cpu.h reports AVX2. */
#include "model/train_gemm.h"
#include "kernels/simd_avx2.h"
#include "tensor/dtype.h"
#include <immintrin.h>
#include <string.h>

/* One full B panel from rows of W: dst[k*nr + j] = src[j*ld + k] for j < nr, k < kc
 * (nr a multiple of 8). */
void afm_gemm_pack_bt_avx2(float *dst, int nr, const float *src, long ld, long kc) {
    for (int j0 = 0; j0 < nr; j0 += 8) {
        const float *s = src + (long)j0 * ld;
        long k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(s + j * ld + k);
            afm_transpose8_ps(r, r);
            for (int kk = 0; kk < 8; kk++) _mm256_storeu_ps(dst + (k + kk) * nr + j0, r[kk]);
        }
        for (; k < kc; k++)
            for (int j = 0; j < 8; j++) dst[k * nr + j0 + j] = s[j * ld + k];
    }
}

/* One full A panel from MR = 6 contiguous rows: dst[k*6 + r] = src[r*ld + k]. */
void afm_gemm_pack_a6_avx2(float *dst, const float *src, long ld, long kc) {
    long k = 0;
    const __m256i first6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        if (!(k & 15)) /* the next panel's rows (A's next 6 rows): 6 short streams the hardware prefetcher misses */
            for (int i = 6; i < 12; i++) _mm_prefetch((const char *)(src + i * ld + k), _MM_HINT_T0);
        for (int i = 0; i < 6; i++) r[i] = _mm256_loadu_ps(src + i * ld + k);
        r[6] = r[7] = _mm256_setzero_ps();
        afm_transpose8_ps(r, r);
        /* 8-wide stores overlap the next k's first two values, which the next store rewrites */
        for (int kk = 0; kk < 7; kk++) _mm256_storeu_ps(dst + (k + kk) * AFM_GEMM_MR, r[kk]);
        _mm256_maskstore_ps(dst + (k + 7) * AFM_GEMM_MR, first6, r[7]);
    }
    for (; k < kc; k++)
        for (int i = 0; i < 6; i++) dst[k * AFM_GEMM_MR + i] = src[i * ld + k];
}

/* p[i] = bf16(p[i]) as f32: round to nearest even at 16 bits (NaN stays a quiet NaN), the same
 * as tensor/dtype.h afm_f32_to_bf16 then afm_bf16_to_f32. */
void afm_gemm_round_bf16_avx2(float *p, size_t n) {
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1), hi = _mm256_set1_epi32((int)0xffff0000u);
    const __m256i quiet = _mm256_set1_epi32(0x00400000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(p + i));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_blendv_epi8(r, _mm256_or_si256(u, quiet), nan);
        _mm256_storeu_ps(p + i, _mm256_castsi256_ps(_mm256_and_si256(r, hi)));
    }
    for (; i < n; i++) p[i] = afm_bf16_to_f32(afm_f32_to_bf16(p[i]));
}

/* A panels of MR = 6 rows from an A whose rows are adjacent in memory (a_rs == 1: A(i, k) =
 * src[k*ld + i], i.e. A = dyᵀ in dW = dyᵀ·x): dst[p*6*kc + k*6 + r] = src[k*ld + p*6 + r] for
 * the full panels p < mc / 6. Walks src one k row at a time (mc contiguous floats), so the reads
 * stream instead of touching kc lines 24 bytes apart for every panel. */
void afm_gemm_pack_at6_avx2(float *dst, const float *src, long ld, long kc, long mc) {
    long panels = mc / 6;
    for (long k = 0; k < kc; k++) {
        const float *s = src + k * ld;
        float *d = dst + k * 6;
        for (long j = 0; j < mc; j += 16) _mm_prefetch((const char *)(s + 4 * ld + j), _MM_HINT_T0); /* 4 rows ahead */
        long p = 0;
        for (; p + 4 <= panels; p += 4, s += 24) { /* 24 floats -> 4 panels */
            __m256 v0 = _mm256_loadu_ps(s), v1 = _mm256_loadu_ps(s + 8), v2 = _mm256_loadu_ps(s + 16);
            float *d0 = d + p * 6 * kc, *d1 = d0 + 6 * kc, *d2 = d1 + 6 * kc, *d3 = d2 + 6 * kc;
            _mm_storeu_ps(d0, _mm256_castps256_ps128(v0));
            _mm_storel_pi((__m64 *)(d0 + 4), _mm256_extractf128_ps(v0, 1));
            _mm_storeh_pi((__m64 *)d1, _mm256_extractf128_ps(v0, 1));
            _mm_storeu_ps(d1 + 2, _mm256_castps256_ps128(v1));
            _mm_storeu_ps(d2, _mm256_extractf128_ps(v1, 1));
            _mm_storel_pi((__m64 *)(d2 + 4), _mm256_castps256_ps128(v2));
            _mm_storeh_pi((__m64 *)d3, _mm256_castps256_ps128(v2));
            _mm_storeu_ps(d3 + 2, _mm256_extractf128_ps(v2, 1));
        }
        for (; p < panels; p++, s += 6) {
            float *dp = d + p * 6 * kc;
            _mm_storeu_ps(dp, _mm_loadu_ps(s));
            memcpy(dp + 4, s + 4, 2 * sizeof(float)); /* 8-byte copy: s + 4 need not be 8-aligned */
        }
    }
}

/* B panels of nr = 16 columns from a row-major B (b_cs == 1: B(k, j) = src[k*ld + j]):
 * dst[p*16*kc + k*16 + j] = src[k*ld + p*16 + j] for the full panels p < nc / 16, one k row of
 * src at a time (contiguous reads). */
void afm_gemm_pack_b16_avx2(float *dst, const float *src, long ld, long kc, long nc) {
    long panels = nc / 16;
    for (long k = 0; k < kc; k++) {
        const float *s = src + k * ld;
        float *d = dst + k * 16;
        for (long j = 0; j < nc; j += 16) _mm_prefetch((const char *)(s + 4 * ld + j), _MM_HINT_T0); /* 4 rows ahead */
        for (long p = 0; p < panels; p++) {
            _mm256_store_ps(d + p * 16 * kc, _mm256_loadu_ps(s + p * 16));
            _mm256_store_ps(d + p * 16 * kc + 8, _mm256_loadu_ps(s + p * 16 + 8));
        }
    }
}
