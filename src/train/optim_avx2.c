/* AVX2 loops of the optimizers (see optim.h for the maths): the same per-element operations as
 * the portable loops in optim.c, in the same order, 8 parameters at a time (vsqrtps and vdivps
 * are correctly rounded like sqrtf and '/'). Called only when base/cpu.h reports AVX2 + FMA. */
#include "train/optim_vec.h"
#include <immintrin.h>
#include <math.h>

double afm_optim_sumsq_avx2(const float *g, size_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(g + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 4));
        __m256d c = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 8)), d = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 12));
        s0 = _mm256_fmadd_pd(a, a, s0); s1 = _mm256_fmadd_pd(b, b, s1);
        s2 = _mm256_fmadd_pd(c, c, s2); s3 = _mm256_fmadd_pd(d, d, s3);
    }
    _Alignas(32) double t[4];
    _mm256_store_pd(t, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

void afm_adamw_avx2(float *w, const float *g, float *m, float *v, size_t n, float beta1, float beta2, float eps,
                    float decay, float step, float sbc2) {
    const __m256 b1 = _mm256_set1_ps(beta1), c1 = _mm256_set1_ps(1.0f - beta1), b2 = _mm256_set1_ps(beta2);
    const __m256 c2 = _mm256_set1_ps(1.0f - beta2), dv = _mm256_set1_ps(decay), st = _mm256_set1_ps(step);
    const __m256 sb = _mm256_set1_ps(sbc2), ep = _mm256_set1_ps(eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
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
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        w[i] *= decay;
        w[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}

double afm_afm_pass1_avx2(const float *g, float *v, size_t n, float beta2, float inv_bc2) {
    const __m256 b2 = _mm256_set1_ps(beta2), c2 = _mm256_set1_ps(1.0f - beta2), tiny = _mm256_set1_ps(1e-30f);
    const __m256 ib = _mm256_set1_ps(inv_bc2);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(c2, _mm256_add_ps(_mm256_mul_ps(gi, gi), tiny)));
        _mm256_storeu_ps(v + i, vi);
        __m256 u = _mm256_div_ps(gi, _mm256_sqrt_ps(_mm256_mul_ps(vi, ib)));
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(u)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1));
        s0 = _mm256_fmadd_pd(lo, lo, s0);
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    _Alignas(32) double t[4];
    _mm256_store_pd(t, _mm256_add_pd(s0, s1));
    double ss = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) {
        v[i] = beta2 * v[i] + (1.0f - beta2) * (g[i] * g[i] + 1e-30f);
        float u = g[i] / sqrtf(v[i] * inv_bc2);
        ss += (double)u * u;
    }
    return ss;
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
