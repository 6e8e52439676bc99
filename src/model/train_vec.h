/* AVX2 row kernels for the training ops (train_vec_avx2.c): the exp-heavy and elementwise loops
 * of softmax, cross-entropy, SwiGLU and RMSNorm, 8 floats at a time. The callers in
 * train_ops.c / train_attn.c keep the portable loops and use these only when base/cpu.h reports
 * AVX2 + FMA.
 *
 * exp is a vector version of the classic Cephes expf: x = n ln2 + r with |r| <= ln2/2
 * (ln2 split in a high and a low part so n ln2 is exact), exp(r) by a degree-6 polynomial,
 * 2^n put into the exponent bits. Inputs are clamped to [-87.3, 88.7] (results below about
 * 1e-38 come out as about 1e-38 instead of a denormal or 0). Error: about 2 ulp. */
#ifndef AFM_MODEL_TRAIN_VEC_H
#define AFM_MODEL_TRAIN_VEC_H

/* max_j x[j] (n >= 1) */
float afm_tv_max_avx2(const float *x, long n);
/* sum_j exp(x[j] - m); when y is not NULL also y[j] = exp(x[j] - m) (y may equal x). */
double afm_tv_exp_sum_avx2(float *y, const float *x, long n, float m);
/* y[j] = exp(x[j] - m) * k (y may equal x) */
void afm_tv_exp_scale_avx2(float *y, const float *x, long n, float m, float k);
/* y[j] = x[j] * k */
void afm_tv_scale_avx2(float *y, const float *x, long n, float k);
/* act = silu(g) * u, silu(g) = g / (1 + exp(-g)) */
void afm_tv_swiglu_fwd_avx2(float *act, const float *gate, const float *up, long n);
/* dgate = d u s (1 + g (1 - s)), dup = d g s with s = sigmoid(g) */
void afm_tv_swiglu_bwd_avx2(float *dgate, float *dup, const float *dact, const float *gate, const float *up, long n);
/* sum_j x[j]^2 and sum_j a[j] b[j] c[j] (float lanes, the lanes added in double) */
double afm_tv_sumsq_avx2(const float *x, long n);
double afm_tv_dot3_avx2(const float *a, const float *b, const float *c, long n);
/* y = x * r * g */
void afm_tv_norm_apply_avx2(float *y, const float *x, const float *g, float r, long n);
/* v = dy g r - x k;  dx = accumulate ? dx + v : v;  dg += dy x r */
void afm_tv_norm_bwd_avx2(float *dx, float *dg, const float *dy, const float *x, const float *g, float r, float k, long n, int accumulate);
/* softmax backward of one row: s = sum_j p[j] d[j] (float lanes, the lanes added in double);
 * d[j] = p[j] (d[j] - s) scale */
void afm_tv_dsoftmax_avx2(float *d, const float *p, long n, float scale);
/* y = a + b */
void afm_tv_add_avx2(float *y, const float *a, const float *b, long n);
#endif
