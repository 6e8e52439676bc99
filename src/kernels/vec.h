/* Hot f32 vector helpers for the model (attention scores, weighted sums of values), with a
 * scalar reference and an AVX2 variant picked at run time (base/cpu.h; AFM_FORCE_ISA caps it). */
#ifndef AFM_KERNELS_VEC_H
#define AFM_KERNELS_VEC_H
#include <stdint.h>

float afm_vec_dot_f32(const float *a, const float *b, int64_t n);    /* sum_i a[i] b[i] */
void afm_vec_axpy_f32(float *y, float a, const float *x, int64_t n); /* y[i] += a x[i] */
void afm_vec_scale_f32(float *y, float a, int64_t n);                /* y[i] *= a */
/* f16 conversions, round to nearest even (the f16 KV cache): dst[i] = f16(x[i]); and in place
 * x[i] = f16(x[i]) as a float (the value an f16 x f16 product would see). */
void afm_vec_to_f16(uint16_t *dst, const float *x, int64_t n);
void afm_vec_round_f16(float *x, int64_t n);

/* The scalar references, for tests. */
float afm_vec_dot_f32_scalar(const float *a, const float *b, int64_t n);
void afm_vec_axpy_f32_scalar(float *y, float a, const float *x, int64_t n);
void afm_vec_to_f16_scalar(uint16_t *dst, const float *x, int64_t n);
#endif
