#include "kernels/nn.h"
#include "base/cpu.h"
#include <math.h>
#include <pthread.h>

void afm_softmax_avx2(float *x, int64_t n);
void afm_silu_mul_avx2(float *gate, const float *up, int64_t n);
void afm_rmsnorm_avx2(float *out, const float *x, const float *g, int64_t n, float eps);
void afm_gelu_tanh_mul_avx2(float *gate, const float *up, int64_t n);

static void (*g_softmax)(float *, int64_t) = afm_softmax_scalar;
static void (*g_silu_mul)(float *, const float *, int64_t) = afm_silu_mul_scalar;
static void (*g_gelu_tanh_mul)(float *, const float *, int64_t) = afm_gelu_tanh_mul_scalar;
static void (*g_rmsnorm)(float *, const float *, const float *, int64_t, float) = afm_rmsnorm_scalar;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pick(void) {
#if defined(__x86_64__)
    if (afm_isa_best() >= AFM_ISA_AVX2) {
        g_softmax = afm_softmax_avx2;
        g_silu_mul = afm_silu_mul_avx2;
        g_gelu_tanh_mul = afm_gelu_tanh_mul_avx2;
        g_rmsnorm = afm_rmsnorm_avx2;
    }
#endif
}

void afm_softmax(float *x, int64_t n) {
    pthread_once(&g_once, pick);
    g_softmax(x, n);
}

void afm_silu_mul(float *gate, const float *up, int64_t n) {
    pthread_once(&g_once, pick);
    g_silu_mul(gate, up, n);
}

void afm_gelu_tanh_mul(float *gate, const float *up, int64_t n) {
    pthread_once(&g_once, pick);
    g_gelu_tanh_mul(gate, up, n);
}

void afm_rmsnorm(float *out, const float *x, const float *g, int64_t n, float eps) {
    pthread_once(&g_once, pick);
    g_rmsnorm(out, x, g, n, eps);
}

void afm_rmsnorm_scalar(float *out, const float *x, const float *g, int64_t n, float eps) {
    /* ggml's rounding (llama.cpp computes the same values): each square rounded to f32, the sum
     * in double, mean and 1/sqrt(mean + eps) in f32 */
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    float mean = (float)(ss / (double)n);
    float r = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * r * g[i];
}

void afm_rope_rotate(float *x, int head_dim, const float *cos_t, const float *sin_t, int half_layout) {
    int h = head_dim / 2;
    if (half_layout) {
        for (int i = 0; i < h; i++) {
            float a = x[i], b = x[i + h];
            x[i] = a * cos_t[i] - b * sin_t[i];
            x[i + h] = a * sin_t[i] + b * cos_t[i];
        }
    } else {
        for (int i = 0; i < h; i++) {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * cos_t[i] - b * sin_t[i];
            x[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
        }
    }
}

void afm_softmax_scalar(float *x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void afm_silu_mul_scalar(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void afm_gelu_tanh_mul_scalar(float *gate, const float *up, int64_t n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i], u = c * (g + 0.044715f * g * g * g);
        gate[i] = 0.5f * g * (1.0f + tanhf(u)) * up[i];
    }
}

void afm_vec_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

float afm_dot_f32(const float *a, const float *b, int64_t n) {
    /* 16 independent partial sums so the compiler can vectorize without -ffast-math */
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

void afm_axpy(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
