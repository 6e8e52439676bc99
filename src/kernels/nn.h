/* Small neural-network ops used by the forward pass (all f32, in place where noted). */
#ifndef AFM_KERNELS_NN_H
#define AFM_KERNELS_NN_H
#include <stdint.h>

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * g[i], i < n (out may alias x) */
void afm_rmsnorm(float *out, const float *x, const float *g, int64_t n, float eps);
/* Rotates pairs of x (head_dim values) by the angles whose cos/sin are given (head_dim/2 each):
 * interleaved: pairs (2i, 2i+1); half: pairs (i, i + head_dim/2). */
void afm_rope_rotate(float *x, int head_dim, const float *cos_t, const float *sin_t, int half_layout);
/* x = softmax(x) over n values, max-subtracted. */
void afm_softmax(float *x, int64_t n);
/* gate[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up */
void afm_silu_mul(float *gate, const float *up, int64_t n);
/* gate[i] = gelu_tanh(gate[i]) * up[i] (GeGLU, Gemma), with the tanh approximation of GELU
 *   gelu_tanh(g) = g/2 (1 + tanh(u)), u = sqrt(2/pi) (g + 0.044715 g^3)
 *                = g / (1 + exp(-2u))   (1 + tanh(u) = 2 / (1 + exp(-2u))) */
void afm_gelu_tanh_mul(float *gate, const float *up, int64_t n);
void afm_gelu_tanh_mul_scalar(float *gate, const float *up, int64_t n);
/* softmax, silu_mul, gelu_tanh_mul and rmsnorm pick an AVX2 variant (vectorized exp, within a few ulps of libm's expf)
 * at run time (base/cpu.h; AFM_FORCE_ISA caps it); these are the scalar references, for tests. */
void afm_softmax_scalar(float *x, int64_t n);
void afm_silu_mul_scalar(float *gate, const float *up, int64_t n);
void afm_rmsnorm_scalar(float *out, const float *x, const float *g, int64_t n, float eps);
/* y[i] += x[i] */
void afm_vec_add(float *y, const float *x, int64_t n);
/* sum_i a[i] * b[i] */
float afm_dot_f32(const float *a, const float *b, int64_t n);
/* y[i] += a * x[i] */
void afm_axpy(float *y, float a, const float *x, int64_t n);
#endif
