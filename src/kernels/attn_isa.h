/* Internal to the attention kernels: the ISA variants' entry points (attn.h has their contract;
 * attn.c dispatches) and the pieces the vector variants share. Included by attn.c and by
 * attn_avx2.c / attn_avx512.c; attn_mix_lanes needs F16C, so only the latter two use it. */
#ifndef AFM_KERNELS_ATTN_ISA_H
#define AFM_KERNELS_ATTN_ISA_H
#include "kernels/attn.h"
#include <math.h>

#define AFM_ATTN_DECLARE(isa)                                                                                      \
    void afm_attn_scores_##isa(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd,   \
                               float scale, float *S, int64_t lds);                                                 \
    void afm_attn_mix_##isa(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd,       \
                            float *O, int64_t ldo);                                                                 \
    void afm_attn_scores_f16_##isa(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n,        \
                                   int64_t hd, float scale, float *S, int64_t lds);                                 \
    void afm_attn_mix_f16_##isa(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n,            \
                                int64_t hd, float *O, int64_t ldo);
AFM_ATTN_DECLARE(avx2)
AFM_ATTN_DECLARE(avx512)

#if defined(__F16C__)
#include <immintrin.h>
/* element i of a cache (f32 or, with H, f16) as f32 */
static inline float afm_attn_load1(const void *base, int64_t i, int H) {
    return H ? _cvtsh_ss(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

/* The mix outputs that no vector tile covers, one lane each: O[r, d] for d0 <= d < hd, r < rows,
 * as the one fmaf chain over the keys in order (with no keys, 0) */
static inline void afm_attn_mix_lanes(int H, const float *P, int64_t ldp, int64_t rows, const void *V, int64_t n,
                                      int64_t hd, int64_t d0, float *O, int64_t ldo) {
    for (int64_t d = d0; d < hd; d++)
        for (int64_t r = 0; r < rows; r++) {
            float s = 0;
            for (int64_t j = 0; j < n; j++) s = fmaf(P[r * ldp + j], afm_attn_load1(V, j * hd + d, H), s);
            O[r * ldo + d] = s;
        }
}
#endif
#endif
