/* AVX2 versions of the optimizer loops of optim.c (optim_avx2.c), each the same per-element
 * maths in the same order (see optim.h); optim.c calls them only when base/cpu.h reports AVX2. */
#ifndef AFM_TRAIN_OPTIM_VEC_H
#define AFM_TRAIN_OPTIM_VEC_H
#include <stddef.h>
#include "train/dist.h" /* afm_int128 */

/* max |x[i]|; the first NaN or inf (as |x|) if there is one */
float afm_optim_maxabs_avx2(const float *x, size_t n);
/* optim.c's reproducible sum: Σ_i round(x[i]² k) as integers (k a power of two, x² k < 2^90) */
afm_int128 afm_optim_fixed_sumsq_avx2(const float *x, size_t n, double k);
/* AdamW on one tensor: g ← g gk (the global clip, skipped when gk == 1), m, v moments;
 * w ← w decay - step m / (sqrt(v) / sbc2 + eps) */
void afm_adamw_avx2(float *w, float *g, float *m, float *v, size_t n, float beta1, float beta2, float eps,
                    float decay, float step, float sbc2, float gk);
/* AFM optimizer, first pass: v ← β2 v + (1-β2)(g² + 1e-30); returns max_i |u_i| (the first
 * NaN or inf if any) for u = g / sqrt(v inv_bc2) */
float afm_afm_pass1_avx2(const float *g, float *v, size_t n, float beta2, float inv_bc2);
/* then Σ_i round(u_i² k) as integers, like afm_optim_fixed_sumsq_avx2 */
afm_int128 afm_afm_fixed_u2_avx2(const float *g, const float *v, size_t n, float inv_bc2, double k);
/* second pass: u = g / sqrt(v inv_bc2) clip;  m ← β1 m + (1-β1) u;  w ← w - s (lr m + wd w) */
void afm_afm_pass2_avx2(float *w, const float *g, float *m, const float *v, size_t n, float beta1, float inv_bc2,
                        float clip, float s, float lr, float wd);
#endif
