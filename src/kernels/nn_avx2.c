/* AVX2 + FMA twins of the exp-heavy ops in nn.c (softmax, SwiGLU), called only after run-time
 * detection. They differ from the scalar versions (libm expf) by a few float ulps.
 *
 * exp(x) for 8 lanes: n = round(x log2 e), r = x - n ln2 (ln2 split in a high part exact in
 * float and a low correction, Cody & Waite), exp(r) = 1 + r + r^2/2! + ... + r^7/7! on
 * |r| <= ln2/2 (truncation error < 0.347^8/8! ~ 5e-8 relative), times 2^n built in the exponent
 * bits. x is clamped to [-87.3, 88.72283] so 2^n stays a normal float (or 2^127 * 2); below
 * -87.3 the result is 0 (true value < 1.2e-38), above 88.72283 (overflow) +inf, NaN stays NaN. */
#include "kernels/nn.h"
#include <immintrin.h>
#include <math.h>

void afm_softmax_avx2(float *x, int64_t n);
void afm_silu_mul_avx2(float *gate, const float *up, int64_t n);
void afm_rmsnorm_avx2(float *out, const float *x, const float *g, int64_t n, float eps);
void afm_gelu_tanh_mul_avx2(float *gate, const float *up, int64_t n);

static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.72283f);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc); /* ln2 high part: 8 bits */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);      /* ln2 - high part */
    __m256 p = _mm256_set1_ps(1.f / 5040.f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    /* 2^n from the exponent bits: n in [-126, 128] after the clamp; n = 128 (x > 88.38, where
     * the product overflows to inf anyway) is built as 2^127 * 2 */
    __m256 big = _mm256_cmp_ps(n, _mm256_set1_ps(127.f), _CMP_GT_OQ);
    n = _mm256_min_ps(n, _mm256_set1_ps(127.f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_blendv_ps(y, _mm256_add_ps(y, y), big);
    y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);                          /* tiny -> 0 */
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ)); /* huge -> inf */
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));                   /* NaN stays */
}

/* exp8 for the max-subtracted inputs of softmax: x <= 0, -inf or NaN. The same operations as
 * exp8 minus those that only act on other inputs (the upper clamp, 2^128, +inf), so the result is
 * bit for bit exp8's: -inf and x < -87.3 give 0, and NaN stays NaN (max(lo, NaN) passes the NaN
 * on, and no mask clears it). */
static inline __m256 exp8_nonpos(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f);
    __m256 xc = _mm256_max_ps(lo, x); /* NaN as the second operand: returned */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.f / 5040.f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y); /* tiny -> 0 */
}

static inline float hmax8(__m256 v) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* Lanes of an 8-float tail: mask of the first k lanes (k < 8). */
static inline __m256i tail_mask(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Aligned to a cache line: its exp loop ran ~10% slower (0.82-0.86 vs 0.58-0.75 ns per element,
 * bench_attn) when adding unrelated code elsewhere moved the function from offset 32 to offset 16
 * of a 64-byte line; with the alignment it no longer depends on what is linked before it. */
__attribute__((aligned(64))) void afm_softmax_avx2(float *x, int64_t n) {
    int64_t i = 0, tail = n % 8, body = n - tail;
    __m256i tm = tail_mask(tail);
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (; i < body; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    float mx = hmax8(vmax);
    for (i = body; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    __m256 vm = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
    for (i = 0; i < body; i += 8) {
        __m256 e = exp8_nonpos(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    if (tail) {
        __m256 e = exp8_nonpos(_mm256_sub_ps(_mm256_maskload_ps(x + body, tm), vm));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
        _mm256_maskstore_ps(x + body, tm, e);
        vs = _mm256_add_ps(vs, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum8(vs));
    for (i = 0; i < body; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    if (tail) _mm256_maskstore_ps(x + body, tm, _mm256_mul_ps(_mm256_maskload_ps(x + body, tm), inv));
}

/* gate = gate / (1 + exp(-gate)) * up */
static inline __m256 silu_mul8(__m256 g, __m256 u) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.f), e)), u);
}

/* gate[i] = act_mul8(gate[i], up[i]) over n elements, 8 at a time, the tail masked; inlined into
 * each caller with its activation (a constant), so no call per vector */
static inline __attribute__((always_inline)) void glu_apply(float *gate, const float *up, int64_t n,
                                                            __m256 (*act_mul8)(__m256, __m256)) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(gate + i, act_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        __m256i tm = tail_mask(n - i);
        _mm256_maskstore_ps(gate + i, tm, act_mul8(_mm256_maskload_ps(gate + i, tm), _mm256_maskload_ps(up + i, tm)));
    }
}

void afm_silu_mul_avx2(float *gate, const float *up, int64_t n) { glu_apply(gate, up, n, silu_mul8); }

/* gate = gelu_tanh(gate) * up = gate / (1 + exp(-2u)) * up, u = sqrt(2/pi) (g + 0.044715 g^3).
 * For g << 0, exp(-2u) overflows to inf and the quotient is -0 (true value below 1e-30 in
 * magnitude); for g >> 0 it is g. */
static inline __m256 gelu_tanh_mul8(__m256 g, __m256 u) {
    __m256 g3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
    __m256 t = _mm256_mul_ps(_mm256_set1_ps(-2.0f * 0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), g3, g));
    __m256 e = exp8(t);
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.f), e)), u);
}

void afm_gelu_tanh_mul_avx2(float *gate, const float *up, int64_t n) { glu_apply(gate, up, n, gelu_tanh_mul8); }

/* RMSNorm with the scalar version's rounding (squares in f32, summed in double: here in 4 x 4
 * lanes, another order of the same double sum), then out = (x * r) * g in float as there. */
void afm_rmsnorm_avx2(float *out, const float *x, const float *g, int64_t n, float eps) {
    /* the same rounding as afm_rmsnorm_scalar: squares in f32, summed in double */
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128 x0 = _mm_loadu_ps(x + i), x1 = _mm_loadu_ps(x + i + 4), x2 = _mm_loadu_ps(x + i + 8),
               x3 = _mm_loadu_ps(x + i + 12);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_mul_ps(x0, x0)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_mul_ps(x1, x1)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm_mul_ps(x2, x2)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm_mul_ps(x3, x3)));
    }
    __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    double l[4];
    _mm256_storeu_pd(l, a);
    double ss = (l[0] + l[1]) + (l[2] + l[3]);
    for (; i < n; i++) ss += (double)(x[i] * x[i]);
    float mean = (float)(ss / (double)n);
    float r = 1.0f / sqrtf(mean + eps);
    __m256 vr = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vr), _mm256_loadu_ps(g + i)));
    for (; i < n; i++) out[i] = x[i] * r * g[i];
}
