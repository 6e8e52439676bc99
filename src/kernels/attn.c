/* Attention products: scalar references and run-time dispatch (see attn.h). */
#include "kernels/attn.h"
#include "kernels/attn_isa.h"
#include "base/cpu.h"
#include "tensor/dtype.h"
#include <pthread.h>

void afm_attn_scores_f16_scalar(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n, int64_t hd,
                                float scale, float *S, int64_t lds) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t d = 0; d < hd; d++) s += Q[r * ldq + d] * afm_f16_to_f32(Kb[afm_attn_k_index(j, d, hd)]);
            S[r * lds + j] = s * scale;
        }
}

void afm_attn_mix_f16_scalar(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n, int64_t hd,
                             float *O, int64_t ldo) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < hd; d++) {
            float s = 0;
            for (int64_t j = 0; j < n; j++) s += P[r * ldp + j] * afm_f16_to_f32(V[j * hd + d]);
            O[r * ldo + d] = s;
        }
}

void afm_attn_scores_scalar(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd,
                            float scale, float *S, int64_t lds) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t d = 0; d < hd; d++) s += Q[r * ldq + d] * Kb[afm_attn_k_index(j, d, hd)];
            S[r * lds + j] = s * scale;
        }
}

void afm_attn_mix_scalar(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd, float *O,
                         int64_t ldo) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < hd; d++) {
            float s = 0;
            for (int64_t j = 0; j < n; j++) s += P[r * ldp + j] * V[j * hd + d];
            O[r * ldo + d] = s;
        }
}

static void (*g_scores)(const float *, int64_t, int64_t, const float *, int64_t, int64_t, float, float *,
                        int64_t) = afm_attn_scores_scalar;
static void (*g_mix)(const float *, int64_t, int64_t, const float *, int64_t, int64_t, float *,
                     int64_t) = afm_attn_mix_scalar;
static void (*g_scores_f16)(const float *, int64_t, int64_t, const uint16_t *, int64_t, int64_t, float, float *,
                            int64_t) = afm_attn_scores_f16_scalar;
static void (*g_mix_f16)(const float *, int64_t, int64_t, const uint16_t *, int64_t, int64_t, float *,
                         int64_t) = afm_attn_mix_f16_scalar;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pick(void) {
#if defined(__x86_64__)
    if (afm_isa_best() >= AFM_ISA_AVX2) {
        g_scores = afm_attn_scores_avx2;
        g_mix = afm_attn_mix_avx2;
        g_scores_f16 = afm_attn_scores_f16_avx2;
        g_mix_f16 = afm_attn_mix_f16_avx2;
    }
    if (afm_isa_best() >= AFM_ISA_AVX512) { /* same chains, 16 lanes (attn_avx512.c) */
        g_scores = afm_attn_scores_avx512;
        g_mix = afm_attn_mix_avx512;
        g_scores_f16 = afm_attn_scores_f16_avx512;
        g_mix_f16 = afm_attn_mix_f16_avx512;
    }
#endif
}

void afm_attn_scores(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd, float scale,
                     float *S, int64_t lds) {
    pthread_once(&g_once, pick);
    g_scores(Q, ldq, rows, Kb, n, hd, scale, S, lds);
}

void afm_attn_mix(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd, float *O,
                  int64_t ldo) {
    pthread_once(&g_once, pick);
    g_mix(P, ldp, rows, V, n, hd, O, ldo);
}

void afm_attn_scores_f16(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n, int64_t hd,
                         float scale, float *S, int64_t lds) {
    pthread_once(&g_once, pick);
    g_scores_f16(Q, ldq, rows, Kb, n, hd, scale, S, lds);
}

void afm_attn_mix_f16(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n, int64_t hd, float *O,
                      int64_t ldo) {
    pthread_once(&g_once, pick);
    g_mix_f16(P, ldp, rows, V, n, hd, O, ldo);
}
