/* bf16 compute for afm_gemm on AVX512-BF16 (vdpbf16ps): products of bf16 inputs, f32 sums.
 *
 * vdpbf16ps acc, a, b: for each f32 lane i, acc[i] += a.bf16[2i] b.bf16[2i] + a.bf16[2i+1] b.bf16[2i+1]
 * (each product of two bf16 values is exact in f32; the sums are rounded to nearest even in
 * f32; bf16 subnormal inputs count as 0 and subnormal results are flushed to 0). So the panels
 * hold pairs along k, as afm_gemm_pairs_bf16 (train_gemm_bf16.c) writes them; its vectorized
 * twin here is the one afm_gemm uses (about 6 ns per element for the scalar loop would cost a
 * good part of the kernel's time).
 *
 * Micro-kernel: the 6 x 32 tile of the f32 kernel (12 zmm accumulators); per pair of k steps,
 * 2 loads of B pairs (32 columns), 6 broadcasts of an A pair (one dword each) and 12 vdpbf16ps:
 * twice the multiply-adds of an f32 FMA step per instruction. Called only when base/cpu.h
 * reports AVX512-BF16 (train_gemm.c). */
#include "model/train_gemm.h"
#include <immintrin.h>
#include <stdint.h>

/* The vdpbf16ps operands are vectors of bf16 pairs; the packed dwords are reinterpreted. */
#ifndef AFM_AS_BH
#define AFM_AS_BH(v) ((__m512bh)(v))
#endif

enum { NR = AFM_GEMM_NR_AVX512 };

/* afm_gemm_pairs_bf16 (the portable reference in train_gemm_bf16.c) with 16-lane integer
 * rounding: r = u + 0x7fff + ((u >> 16) & 1) (round to nearest even at bit 16), NaN -> u | 2^22
 * (quiet), bf16 = r >> 16, exactly afm_f32_to_bf16. A pair row of w <= 32 columns is 1 or 2
 * masked chunks of 16; all of a pair's source lanes are loaded before its row is stored. */
static inline __m512i round_bf16_hi(__m512 x) { /* bf16 bits in the high half of each lane */
    __m512i u = _mm512_castps_si512(x);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
    __m512i r = _mm512_mask_mov_epi32(_mm512_add_epi32(u, bias), nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
    return _mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u));
}

void afm_gemm_pairs_bf16_avx512(float *p, long panels, int w, long kc) {
    if (w > 32) { afm_gemm_pairs_bf16(p, panels, w, kc); return; }
    const __mmask16 m0 = (__mmask16)(w >= 16 ? 0xffffu : (1u << w) - 1u);
    const __mmask16 m1 = (__mmask16)(w >= 32 ? 0xffffu : w > 16 ? (1u << (w - 16)) - 1u : 0u);
    long pairs = (kc + 1) / 2;
    for (long s = 0; s < panels; s++) {
        float *panel = p + s * (long)w * kc;
        for (long q = 0; q < pairs; q++) {
            const float *r0 = panel + 2 * q * w, *r1 = r0 + w;
            bool odd = 2 * q + 1 >= kc; /* no row 2q+1: high halves 0 */
            __m512i lo0 = _mm512_srli_epi32(round_bf16_hi(_mm512_maskz_loadu_ps(m0, r0)), 16);
            __m512i lo1 = _mm512_srli_epi32(round_bf16_hi(_mm512_maskz_loadu_ps(m1, r0 + 16)), 16);
            __m512i hi0 = round_bf16_hi(_mm512_maskz_loadu_ps(odd ? 0 : m0, r1));
            __m512i hi1 = round_bf16_hi(_mm512_maskz_loadu_ps(odd ? 0 : m1, r1 + 16));
            float *out = panel + q * w;
            _mm512_mask_storeu_epi32(out, m0, _mm512_or_si512(lo0, hi0));
            _mm512_mask_storeu_epi32(out + 16, m1, _mm512_or_si512(lo1, hi1));
        }
    }
}

static inline __mmask16 lanes(long c) { return (__mmask16)(c >= 16 ? 0xffffu : c <= 0 ? 0u : (1u << c) - 1u); }

/* One panel (n <= w columns) of afm_gemm_pack_pairs with the columns contiguous (s_j == 1):
 * per pair, the rows 2q and 2q+1 (w floats each, 0 past n or kc) rounded and merged. */
static void pack_pairs_cols(uint32_t *out, int w, long n, const float *src, long s_k, long kc) {
    const __mmask16 n0 = lanes(n), n1 = lanes(n - 16), w0 = lanes(w), w1 = lanes(w - 16);
    long pairs = (kc + 1) / 2;
    for (long q = 0; q < pairs; q++, out += w) {
        const float *r0 = src + 2 * q * s_k, *r1 = r0 + s_k;
        bool odd = 2 * q + 1 >= kc;
        __m512i lo0 = _mm512_srli_epi32(round_bf16_hi(_mm512_maskz_loadu_ps(n0, r0)), 16);
        __m512i hi0 = round_bf16_hi(_mm512_maskz_loadu_ps(odd ? 0 : n0, r1));
        _mm512_mask_storeu_epi32(out, w0, _mm512_or_si512(lo0, hi0));
        if (w > 16) {
            __m512i lo1 = _mm512_srli_epi32(round_bf16_hi(_mm512_maskz_loadu_ps(n1, r0 + 16)), 16);
            __m512i hi1 = round_bf16_hi(_mm512_maskz_loadu_ps(odd ? 0 : n1, r1 + 16));
            _mm512_mask_storeu_epi32(out + 16, w1, _mm512_or_si512(lo1, hi1));
        }
    }
}

/* One panel with k contiguous (s_k == 1): each column's 32 consecutive k (16 pairs) are rounded
 * in two vectors, then merged and transposed into the pair rows through a small buffer. */
static void pack_pairs_rows(uint32_t *out, int w, long n, const float *src, long s_j, long kc) {
    long pairs = (kc + 1) / 2;
    _Alignas(64) uint32_t t[32];
    for (long q0 = 0; q0 < pairs; q0 += 16) {
        long nq = pairs - q0 < 16 ? pairs - q0 : 16, left = kc - 2 * q0;
        const __mmask16 m0 = lanes(left), m1 = lanes(left - 16);
        uint32_t *o = out + q0 * w;
        for (int j = 0; j < w; j++) {
            if (j >= n) { for (long u = 0; u < nq; u++) o[u * w + j] = 0; continue; }
            const float *s = src + j * s_j + 2 * q0;
            _mm512_storeu_ps((float *)(void *)t, _mm512_castsi512_ps(round_bf16_hi(_mm512_maskz_loadu_ps(m0, s))));
            _mm512_storeu_ps((float *)(void *)(t + 16), _mm512_castsi512_ps(round_bf16_hi(_mm512_maskz_loadu_ps(m1, s + 16))));
            for (long u = 0; u < nq; u++) o[u * w + j] = t[2 * u] >> 16 | t[2 * u + 1];
        }
    }
}

/* afm_gemm_pack_pairs (train_gemm_bf16.c) vectorized for the two layouts afm_gemm packs:
 * columns contiguous (B = x, A = dyᵀ) and k contiguous (A = x or dy, B = Wᵀ). */
void afm_gemm_pack_pairs_avx512(uint32_t *dst, int w, long n, const float *src, long s_j, long s_k, long kc) {
    if (w > 32 || (s_j != 1 && s_k != 1)) { afm_gemm_pack_pairs(dst, w, n, src, s_j, s_k, kc); return; }
    long pairs = (kc + 1) / 2;
    for (long p = 0; p * w < n; p++) {
        long cols = n - p * w < w ? n - p * w : w;
        if (s_j == 1) pack_pairs_cols(dst + p * w * pairs, w, cols, src + p * w, s_k, kc);
        else pack_pairs_rows(dst + p * w * pairs, w, cols, src + p * w * s_j, s_j, kc);
    }
}

void afm_gemm_ukernel_bf16_avx512(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr,
                                  bool add) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const uint32_t *a = (const uint32_t *)(const void *)ap;
    const float *b = bp;
    long pairs = (kc + 1) / 2;
    for (int r = 0; r < mr; r++) { _mm_prefetch((const char *)(c + r * c_rs), _MM_HINT_T0); _mm_prefetch((const char *)(c + r * c_rs + NR - 1), _MM_HINT_T0); }
#define STEP(u) do { \
        __m512i b0 = _mm512_load_si512((const void *)(b + (u) * NR)), b1 = _mm512_load_si512((const void *)(b + (u) * NR + 16)), av; \
        av = _mm512_set1_epi32((int)a[(u) * AFM_GEMM_MR + 0]); c00 = _mm512_dpbf16_ps(c00, AFM_AS_BH(av), AFM_AS_BH(b0)); c01 = _mm512_dpbf16_ps(c01, AFM_AS_BH(av), AFM_AS_BH(b1)); \
        av = _mm512_set1_epi32((int)a[(u) * AFM_GEMM_MR + 1]); c10 = _mm512_dpbf16_ps(c10, AFM_AS_BH(av), AFM_AS_BH(b0)); c11 = _mm512_dpbf16_ps(c11, AFM_AS_BH(av), AFM_AS_BH(b1)); \
        av = _mm512_set1_epi32((int)a[(u) * AFM_GEMM_MR + 2]); c20 = _mm512_dpbf16_ps(c20, AFM_AS_BH(av), AFM_AS_BH(b0)); c21 = _mm512_dpbf16_ps(c21, AFM_AS_BH(av), AFM_AS_BH(b1)); \
        av = _mm512_set1_epi32((int)a[(u) * AFM_GEMM_MR + 3]); c30 = _mm512_dpbf16_ps(c30, AFM_AS_BH(av), AFM_AS_BH(b0)); c31 = _mm512_dpbf16_ps(c31, AFM_AS_BH(av), AFM_AS_BH(b1)); \
        av = _mm512_set1_epi32((int)a[(u) * AFM_GEMM_MR + 4]); c40 = _mm512_dpbf16_ps(c40, AFM_AS_BH(av), AFM_AS_BH(b0)); c41 = _mm512_dpbf16_ps(c41, AFM_AS_BH(av), AFM_AS_BH(b1)); \
        av = _mm512_set1_epi32((int)a[(u) * AFM_GEMM_MR + 5]); c50 = _mm512_dpbf16_ps(c50, AFM_AS_BH(av), AFM_AS_BH(b0)); c51 = _mm512_dpbf16_ps(c51, AFM_AS_BH(av), AFM_AS_BH(b1)); \
    } while (0)
    long q = 0;
    for (; q + 4 <= pairs; q += 4, a += 4 * AFM_GEMM_MR, b += 4 * NR) {
        _mm_prefetch((const char *)(a + 16 * AFM_GEMM_MR), _MM_HINT_T0);
        STEP(0); STEP(1); STEP(2); STEP(3);
    }
    for (; q < pairs; q++, a += AFM_GEMM_MR, b += NR) STEP(0);
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
