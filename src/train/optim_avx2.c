/* AVX2 loops of the optimizers (see optim.h for the maths): the same per-element operations as
 * the portable loops in optim.c, in the same order, 8 parameters at a time (vsqrtps and vdivps
 * are correctly rounded like sqrtf and '/'). Called only when base/cpu.h reports AVX2 + FMA. */
#include "train/optim_vec.h"
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

void afm_adamw_avx2(float *w, float *g, float *m, float *v, size_t n, float beta1, float beta2, float eps,
                    float decay, float step, float sbc2, float gk) {
    const __m256 gkv = _mm256_set1_ps(gk);
    const int clip = gk != 1.0f;
    const __m256 b1 = _mm256_set1_ps(beta1), c1 = _mm256_set1_ps(1.0f - beta1), b2 = _mm256_set1_ps(beta2);
    const __m256 c2 = _mm256_set1_ps(1.0f - beta2), dv = _mm256_set1_ps(decay), st = _mm256_set1_ps(step);
    const __m256 sb = _mm256_set1_ps(sbc2), ep = _mm256_set1_ps(eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        if (clip) { gi = _mm256_mul_ps(gi, gkv); _mm256_storeu_ps(g + i, gi); }
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        __m256 wi = _mm256_mul_ps(_mm256_loadu_ps(w + i), dv);
        __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), sb), ep);
        wi = _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(st, mi), den));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(w + i, wi);
    }
    for (; i < n; i++) {
        if (clip) g[i] *= gk;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        w[i] *= decay;
        w[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}

/* max |x| of 8 lanes, with `bad` set in lanes that saw NaN or inf */
static inline void max_step(__m256 a, __m256 *mx, __m256 *bad) {
    const __m256 big = _mm256_set1_ps(FLT_MAX), sign = _mm256_set1_ps(-0.0f);
    a = _mm256_andnot_ps(sign, a);
    *bad = _mm256_or_ps(*bad, _mm256_cmp_ps(a, big, _CMP_NLE_UQ));
    *mx = _mm256_max_ps(*mx, a);
}
static inline float max_lanes(__m256 mx) {
    _Alignas(32) float t[8];
    _mm256_store_ps(t, mx);
    float m = 0.0f;
    for (int k = 0; k < 8; k++) if (t[k] > m) m = t[k];
    return m;
}

float afm_optim_maxabs_avx2(const float *x, size_t n) {
    __m256 mx = _mm256_setzero_ps(), bad = mx;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) max_step(_mm256_loadu_ps(x + i), &mx, &bad);
    float m = max_lanes(mx);
    if (_mm256_movemask_ps(bad)) i = 0; /* find the first non-finite value in order */
    for (; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a <= FLT_MAX)) return a;
        if (a > m) m = a;
    }
    return m;
}

/* The reproducible sums (optim.c): d = x²·k in [0, 2^90) as hi·2^45 + lo, both rounded by adding
 * and subtracting M = 1.5·2^52; while h = d·2^-45 + M and l = d - (h - M)·2^45 + M lie in
 * [2^52, 2^53), their bit patterns minus M's are the integers hi and lo, so the 64-bit lanes add
 * bit patterns and M's is taken off per block. The results equal optim.c's scalar ones exactly. */
#define FIXED_M 0x1.8p52
static inline void fixed_step(__m256d d, __m256i *ah, __m256i *al) {
    const __m256d M = _mm256_set1_pd(FIXED_M), s45 = _mm256_set1_pd(0x1p-45), p45 = _mm256_set1_pd(0x1p45);
    __m256d h = _mm256_add_pd(_mm256_mul_pd(d, s45), M);
    __m256d l = _mm256_add_pd(_mm256_sub_pd(d, _mm256_mul_pd(_mm256_sub_pd(h, M), p45)), M);
    *ah = _mm256_add_epi64(*ah, _mm256_castpd_si256(h));
    *al = _mm256_add_epi64(*al, _mm256_castpd_si256(l));
}
static inline void fixed_scalar(double d, int64_t *hi, int64_t *lo) {
    double h = (d * 0x1p-45 + FIXED_M) - FIXED_M;
    double l = (d - h * 0x1p45 + FIXED_M) - FIXED_M;
    *hi += (int64_t)h;
    *lo += (int64_t)l;
}
/* Lane sums minus `count` copies of M's bit pattern (mod 2^64: the true sums fit in 62 bits). */
static inline int64_t lanes_minus_m(__m256i a, uint64_t count) {
    _Alignas(32) uint64_t t[4];
    _mm256_store_si256((__m256i *)t, a);
    double m = FIXED_M;
    uint64_t mb;
    memcpy(&mb, &m, 8);
    return (int64_t)(t[0] + t[1] + t[2] + t[3] - count * mb);
}
enum { FIXED_BLOCK = 1 << 16 };

afm_int128 afm_optim_fixed_sumsq_avx2(const float *x, size_t n, double k) {
    const __m256d kv = _mm256_set1_pd(k);
    afm_int128 acc = 0;
    for (size_t b = 0; b < n; b += FIXED_BLOCK) {
        size_t e = n - b < FIXED_BLOCK ? n : b + FIXED_BLOCK, i = b;
        __m256i ah = _mm256_setzero_si256(), al = ah;
        for (; i + 8 <= e; i += 8) {
            __m256d p = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), q = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
            fixed_step(_mm256_mul_pd(_mm256_mul_pd(p, p), kv), &ah, &al);
            fixed_step(_mm256_mul_pd(_mm256_mul_pd(q, q), kv), &ah, &al);
        }
        uint64_t cnt = (uint64_t)(i - b);
        int64_t hi = lanes_minus_m(ah, cnt), lo = lanes_minus_m(al, cnt);
        for (; i < e; i++) fixed_scalar((double)x[i] * x[i] * k, &hi, &lo);
        acc += ((afm_int128)hi << 45) + lo;
    }
    return acc;
}

float afm_afm_pass1_avx2(const float *g, float *v, size_t n, float beta2, float inv_bc2) {
    const __m256 b2 = _mm256_set1_ps(beta2), c2 = _mm256_set1_ps(1.0f - beta2), tiny = _mm256_set1_ps(1e-30f);
    const __m256 ib = _mm256_set1_ps(inv_bc2);
    __m256 mx = _mm256_setzero_ps(), bad = mx;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(c2, _mm256_add_ps(_mm256_mul_ps(gi, gi), tiny)));
        _mm256_storeu_ps(v + i, vi);
        max_step(_mm256_div_ps(gi, _mm256_sqrt_ps(_mm256_mul_ps(vi, ib))), &mx, &bad);
    }
    for (size_t j = i; j < n; j++) v[j] = beta2 * v[j] + (1.0f - beta2) * (g[j] * g[j] + 1e-30f);
    float m = max_lanes(mx);
    if (_mm256_movemask_ps(bad)) i = 0;
    for (; i < n; i++) {
        float u = fabsf(g[i] / sqrtf(v[i] * inv_bc2));
        if (!(u <= FLT_MAX)) return u;
        if (u > m) m = u;
    }
    return m;
}

afm_int128 afm_afm_fixed_u2_avx2(const float *g, const float *v, size_t n, float inv_bc2, double k) {
    const __m256 ib = _mm256_set1_ps(inv_bc2);
    const __m256d kv = _mm256_set1_pd(k);
    afm_int128 acc = 0;
    for (size_t b = 0; b < n; b += FIXED_BLOCK) {
        size_t e = n - b < FIXED_BLOCK ? n : b + FIXED_BLOCK, i = b;
        __m256i ah = _mm256_setzero_si256(), al = ah;
        for (; i + 8 <= e; i += 8) {
            __m256 u = _mm256_div_ps(_mm256_loadu_ps(g + i), _mm256_sqrt_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), ib)));
            __m256d p = _mm256_cvtps_pd(_mm256_castps256_ps128(u)), q = _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1));
            fixed_step(_mm256_mul_pd(_mm256_mul_pd(p, p), kv), &ah, &al);
            fixed_step(_mm256_mul_pd(_mm256_mul_pd(q, q), kv), &ah, &al);
        }
        uint64_t cnt = (uint64_t)(i - b);
        int64_t hi = lanes_minus_m(ah, cnt), lo = lanes_minus_m(al, cnt);
        for (; i < e; i++) {
            float u = g[i] / sqrtf(v[i] * inv_bc2);
            fixed_scalar((double)u * u * k, &hi, &lo);
        }
        acc += ((afm_int128)hi << 45) + lo;
    }
    return acc;
}

void afm_afm_pass2_avx2(float *w, const float *g, float *m, const float *v, size_t n, float beta1, float inv_bc2,
                        float clip, float s, float lr, float wd) {
    const __m256 b1 = _mm256_set1_ps(beta1), c1 = _mm256_set1_ps(1.0f - beta1), ib = _mm256_set1_ps(inv_bc2);
    const __m256 cl = _mm256_set1_ps(clip), sv = _mm256_set1_ps(s), lv = _mm256_set1_ps(lr), wv = _mm256_set1_ps(wd);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 u = _mm256_mul_ps(_mm256_div_ps(_mm256_loadu_ps(g + i), _mm256_sqrt_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), ib))), cl);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, u));
        __m256 wi = _mm256_loadu_ps(w + i);
        wi = _mm256_sub_ps(wi, _mm256_mul_ps(sv, _mm256_add_ps(_mm256_mul_ps(lv, mi), _mm256_mul_ps(wv, wi))));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(w + i, wi);
    }
    for (; i < n; i++) {
        float u = g[i] / sqrtf(v[i] * inv_bc2) * clip;
        m[i] = beta1 * m[i] + (1.0f - beta1) * u;
        w[i] = w[i] - s * (lr * m[i] + wd * w[i]);
    }
}
