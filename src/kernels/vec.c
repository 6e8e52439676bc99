/* Scalar references of the vector helpers and the run-time choice of variant. */
#include "kernels/vec.h"
#include "base/cpu.h"
#include "tensor/dtype.h"
#include <pthread.h>

float afm_vec_dot_f32_avx2(const float *a, const float *b, int64_t n);
void afm_vec_axpy_f32_avx2(float *y, float a, const float *x, int64_t n);
void afm_vec_scale_f32_avx2(float *y, float a, int64_t n);
void afm_vec_to_f16_avx2(uint16_t *dst, const float *x, int64_t n);
void afm_vec_round_f16_avx2(float *x, int64_t n);

float afm_vec_dot_f32_scalar(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
void afm_vec_axpy_f32_scalar(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
static void scale_scalar(float *y, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}

void afm_vec_to_f16_scalar(uint16_t *dst, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = afm_f32_to_f16(x[i]);
}
static void round_f16_scalar(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = afm_f16_to_f32(afm_f32_to_f16(x[i]));
}

static void (*g_to_f16)(uint16_t *, const float *, int64_t) = afm_vec_to_f16_scalar;
static void (*g_round_f16)(float *, int64_t) = round_f16_scalar;
static float (*g_dot)(const float *, const float *, int64_t) = afm_vec_dot_f32_scalar;
static void (*g_axpy)(float *, float, const float *, int64_t) = afm_vec_axpy_f32_scalar;
static void (*g_scale)(float *, float, int64_t) = scale_scalar;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pick(void) {
#if defined(__x86_64__)
    if (afm_isa_best() >= AFM_ISA_AVX2) {
        g_dot = afm_vec_dot_f32_avx2;
        g_axpy = afm_vec_axpy_f32_avx2;
        g_scale = afm_vec_scale_f32_avx2;
        g_to_f16 = afm_vec_to_f16_avx2;
        g_round_f16 = afm_vec_round_f16_avx2;
    }
#endif
}

float afm_vec_dot_f32(const float *a, const float *b, int64_t n) {
    pthread_once(&g_once, pick);
    return g_dot(a, b, n);
}
void afm_vec_axpy_f32(float *y, float a, const float *x, int64_t n) {
    pthread_once(&g_once, pick);
    g_axpy(y, a, x, n);
}
void afm_vec_scale_f32(float *y, float a, int64_t n) {
    pthread_once(&g_once, pick);
    g_scale(y, a, n);
}
void afm_vec_to_f16(uint16_t *dst, const float *x, int64_t n) {
    pthread_once(&g_once, pick);
    g_to_f16(dst, x, n);
}
void afm_vec_round_f16(float *x, int64_t n) {
    pthread_once(&g_once, pick);
    g_round_f16(x, n);
}
