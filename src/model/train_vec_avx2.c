/* AVX2 row kernels for training (see train_vec.h for the maths and the exp accuracy). */
#include "model/train_vec.h"
#include <immintrin.h>
#include <math.h>

/* exp(x) for 8 floats (Cephes expf, vectorized). */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    /* n = round(x / ln2), r = x - n ln2 with ln2 = 0.693359375 - 2.12194440e-4 (exact first part) */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* times 2^n: add n to the exponent field. The clamp keeps n in [-126, 128] and, at n = 128,
     * r < 0 so p < 1: the biased exponent stays within [1, 254]. */
    __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline double hsum8d(__m256 v) {
    _Alignas(32) float t[8];
    _mm256_store_ps(t, v);
    return (((double)t[0] + t[1]) + ((double)t[2] + t[3])) + (((double)t[4] + t[5]) + ((double)t[6] + t[7]));
}

float afm_tv_max_avx2(const float *x, long n) {
    long j = 0;
    float m = x[0];
    if (n >= 8) {
        __m256 v = _mm256_loadu_ps(x);
        for (j = 8; j + 8 <= n; j += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(x + j));
        m = hmax8(v);
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

double afm_tv_exp_sum_avx2(float *y, const float *x, long n, float m) {
    __m256 mv = _mm256_set1_ps(m), s0 = _mm256_setzero_ps(), s1 = s0;
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)), e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mv));
        if (y) { _mm256_storeu_ps(y + j, e0); _mm256_storeu_ps(y + j + 8, e1); }
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; j + 8 <= n; j += 8) {
        __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
        if (y) _mm256_storeu_ps(y + j, e0);
        s0 = _mm256_add_ps(s0, e0);
    }
    double s = hsum8d(_mm256_add_ps(s0, s1));
    if (j < n) { /* tail: one masked vector (lanes past n read as -inf -> exp 0 is not needed: mask the sum) */
        _Alignas(32) float t[8];
        for (int i = 0; i < 8; i++) t[i] = j + i < n ? x[j + i] - m : -100.0f;
        _mm256_store_ps(t, exp8(_mm256_load_ps(t)));
        for (int i = 0; j + i < n; i++) { if (y) y[j + i] = t[i]; s += t[i]; }
    }
    return s;
}

void afm_tv_exp_scale_avx2(float *y, const float *x, long n, float m, float k) {
    __m256 mv = _mm256_set1_ps(m), kv = _mm256_set1_ps(k);
    long j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)), kv));
    if (j < n) {
        _Alignas(32) float t[8];
        for (int i = 0; i < 8; i++) t[i] = j + i < n ? x[j + i] - m : 0.0f;
        _mm256_store_ps(t, _mm256_mul_ps(exp8(_mm256_load_ps(t)), kv));
        for (int i = 0; j + i < n; i++) y[j + i] = t[i];
    }
}

void afm_tv_scale_avx2(float *y, const float *x, long n, float k) {
    __m256 kv = _mm256_set1_ps(k);
    long j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), kv));
    for (; j < n; j++) y[j] = x[j] * k;
}

/* sigmoid(g) = 1 / (1 + exp(-g)) */
static inline __m256 sigmoid8(__m256 g) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

void afm_tv_swiglu_fwd_avx2(float *act, const float *gate, const float *up, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        _mm256_storeu_ps(act + i, _mm256_mul_ps(_mm256_mul_ps(g, sigmoid8(g)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) act[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void afm_tv_swiglu_bwd_avx2(float *dgate, float *dup, const float *dact, const float *gate, const float *up, long n) {
    long i = 0;
    __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i), d = _mm256_loadu_ps(dact + i), s = sigmoid8(g);
        __m256 t = _mm256_add_ps(one, _mm256_mul_ps(g, _mm256_sub_ps(one, s)));
        _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, u), s), t));
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(d, g), s));
    }
    for (; i < n; i++) {
        float g = gate[i], s = 1.0f / (1.0f + expf(-g));
        dgate[i] = dact[i] * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] = dact[i] * g * s;
    }
}

double afm_tv_sumsq_avx2(const float *x, long n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i + 8 <= n; i += 8) { __m256 a = _mm256_loadu_ps(x + i); s0 = _mm256_fmadd_ps(a, a, s0); }
    double s = hsum8d(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

double afm_tv_dot3_avx2(const float *a, const float *b, const float *c, long n) {
    __m256 s0 = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)), _mm256_loadu_ps(c + i), s0);
    double s = hsum8d(s0);
    for (; i < n; i++) s += (double)a[i] * b[i] * c[i];
    return s;
}

void afm_tv_norm_apply_avx2(float *y, const float *x, const float *g, float r, long n) {
    __m256 rv = _mm256_set1_ps(r);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), rv), _mm256_loadu_ps(g + i)));
    for (; i < n; i++) y[i] = x[i] * r * g[i];
}

void afm_tv_norm_bwd_avx2(float *dx, float *dg, const float *dy, const float *x, const float *g, float r, float k, long n, int accumulate) {
    __m256 rv = _mm256_set1_ps(r), kv = _mm256_set1_ps(k);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_loadu_ps(dy + i), xv = _mm256_loadu_ps(x + i);
        __m256 v = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(g + i)), rv), _mm256_mul_ps(xv, kv));
        if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(dx + i), v);
        _mm256_storeu_ps(dx + i, v);
        _mm256_storeu_ps(dg + i, _mm256_add_ps(_mm256_loadu_ps(dg + i), _mm256_mul_ps(_mm256_mul_ps(d, xv), rv)));
    }
    for (; i < n; i++) {
        float v = dy[i] * g[i] * r - x[i] * k;
        dx[i] = accumulate ? dx[i] + v : v;
        dg[i] += dy[i] * x[i] * r;
    }
}

void afm_tv_add_avx2(float *y, const float *a, const float *b, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

void afm_tv_dsoftmax_avx2(float *d, const float *p, long n, float scale) {
    __m256 s0 = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(d + i), s0);
    double s = hsum8d(s0);
    for (; i < n; i++) s += (double)p[i] * d[i];
    float fs = (float)s;
    __m256 sv = _mm256_set1_ps(fs), kv = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_sub_ps(_mm256_loadu_ps(d + i), sv)), kv));
    for (; i < n; i++) d[i] = p[i] * (d[i] - fs) * scale;
}
