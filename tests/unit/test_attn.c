/* Attention products (kernels/attn.h): the dispatched variant and the scalar reference against a
 * double-precision sum written here from the layout's definition (key j, dimension d of the
 * blocked K at ((j / 8) * hd + d) * 8 + j % 8; V row-major), for head sizes 8, 64, 72, 56 and 5
 * (32-, 16-, 8-wide and one-lane dimension tiles), 1..13 query rows (3-row tiles and their
 * leftovers), key counts around the 8-key blocks, the 4-block score tiles and the 64-key score and
 * mix chunks, and padded leading dimensions. The unused lanes of a partial last key block hold
 * NaN (the kernels read the whole block but must not use them), and scores must leave the
 * columns past n untouched. Tolerance: 2e-6 times the sum of |terms|, the rounding of a float sum in another
 * order. The AVX2 variant must moreover equal, bit for bit, one fmaf chain per output in index
 * order (scores: over d, then times the scale; mix: over j), whatever the tiles and chunks: the
 * forward pass relies on it for results that do not depend on how tokens are batched.
 * The f16-cache variants (dispatched and scalar) must equal, bit for bit, the f32 variants run on
 * the same keys and values converted to f32 (each f16 element converts exactly and the chains are
 * the same). */
#include "kernels/attn.h"
#include "base/cpu.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned g_seed = 7;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) / 8388608.0 - 1.0);
}

static int close_to(double got, double want, double mag) { return fabs(got - want) <= 2e-6 * mag + 1e-30; }

static int check(int64_t hd, int64_t rows, int64_t n) {
    int64_t ldq = hd + 3, lds = n + 5, ldo = hd + 1, nblk = (n + 7) / 8;
    float *Q = malloc(sizeof(float) * (size_t)(rows * ldq)), *K = calloc((size_t)(nblk * 8 * hd), sizeof(float));
    float *V = malloc(sizeof(float) * (size_t)(n * hd)), *P = malloc(sizeof(float) * (size_t)(rows * lds));
    float *S = malloc(sizeof(float) * (size_t)(rows * lds)), *S0 = malloc(sizeof(float) * (size_t)(rows * lds));
    float *O = malloc(sizeof(float) * (size_t)(rows * ldo)), *O0 = malloc(sizeof(float) * (size_t)(rows * ldo));
    float *Kr = malloc(sizeof(float) * (size_t)(n * hd)); /* the keys row-major, as the test sees them */
    for (int64_t i = 0; i < rows * ldq; i++) Q[i] = frand();
    for (int64_t j = 0; j < n; j++)
        for (int64_t d = 0; d < hd; d++) {
            Kr[j * hd + d] = frand();
            K[((j / 8) * hd + d) * 8 + j % 8] = Kr[j * hd + d];
            V[j * hd + d] = frand();
        }
    for (int64_t j = n; j < nblk * 8; j++) /* unused lanes of a partial last block: must not leak */
        for (int64_t d = 0; d < hd; d++) K[((j / 8) * hd + d) * 8 + j % 8] = NAN;
    for (int64_t i = 0; i < rows * lds; i++) P[i] = frand();
    for (int64_t i = 0; i < rows * lds; i++) S[i] = -7.0f; /* sentinel: columns n .. lds-1 stay */
    const float scale = 0.125f;
    afm_attn_scores(Q, ldq, rows, K, n, hd, scale, S, lds);
    afm_attn_scores_scalar(Q, ldq, rows, K, n, hd, scale, S0, lds);
    afm_attn_mix(P, lds, rows, V, n, hd, O, ldo);
    afm_attn_mix_scalar(P, lds, rows, V, n, hd, O0, ldo);
    int fails = 0;
    for (int64_t r = 0; r < rows && !fails; r++)
        for (int64_t j = n; j < lds; j++)
            if (S[r * lds + j] != -7.0f) {
                fprintf(stderr, "scores hd=%lld rows=%lld n=%lld: S[%lld,%lld] past the keys was written\n", (long long)hd,
                        (long long)rows, (long long)n, (long long)r, (long long)j);
                fails++;
                break;
            }
    for (int64_t r = 0; r < rows && !fails; r++) {
        for (int64_t j = 0; j < n && !fails; j++) {
            double want = 0, mag = 0;
            for (int64_t d = 0; d < hd; d++) {
                want += (double)Q[r * ldq + d] * Kr[j * hd + d];
                mag += fabs((double)Q[r * ldq + d] * Kr[j * hd + d]);
            }
            want *= scale;
            mag *= scale;
            if (!close_to(S[r * lds + j], want, mag) || !close_to(S0[r * lds + j], want, mag)) {
                fprintf(stderr, "scores hd=%lld rows=%lld n=%lld: S[%lld,%lld] = %.9g (scalar %.9g), want %.9g\n", (long long)hd,
                        (long long)rows, (long long)n, (long long)r, (long long)j, S[r * lds + j], S0[r * lds + j], want);
                fails++;
            }
        }
        for (int64_t d = 0; d < hd && !fails; d++) {
            double want = 0, mag = 0;
            for (int64_t j = 0; j < n; j++) {
                want += (double)P[r * lds + j] * V[j * hd + d];
                mag += fabs((double)P[r * lds + j] * V[j * hd + d]);
            }
            if (!close_to(O[r * ldo + d], want, mag) || !close_to(O0[r * ldo + d], want, mag)) {
                fprintf(stderr, "mix hd=%lld rows=%lld n=%lld: O[%lld,%lld] = %.9g (scalar %.9g), want %.9g\n", (long long)hd,
                        (long long)rows, (long long)n, (long long)r, (long long)d, O[r * ldo + d], O0[r * ldo + d], want);
                fails++;
            }
        }
    }
    for (int64_t r = 0; r < rows && !fails && afm_isa_best() >= AFM_ISA_AVX2; r++) {
        for (int64_t j = 0; j < n && !fails; j++) {
            float c = 0;
            for (int64_t d = 0; d < hd; d++) c = fmaf(Q[r * ldq + d], Kr[j * hd + d], c);
            c *= scale;
            if (memcmp(&c, &S[r * lds + j], sizeof c)) {
                fprintf(stderr, "scores hd=%lld rows=%lld n=%lld: S[%lld,%lld] = %.9g, in-order fmaf chain %.9g\n", (long long)hd,
                        (long long)rows, (long long)n, (long long)r, (long long)j, S[r * lds + j], c);
                fails++;
            }
        }
        for (int64_t d = 0; d < hd && !fails; d++) {
            float c = 0;
            for (int64_t j = 0; j < n; j++) c = fmaf(P[r * lds + j], V[j * hd + d], c);
            if (memcmp(&c, &O[r * ldo + d], sizeof c)) {
                fprintf(stderr, "mix hd=%lld rows=%lld n=%lld: O[%lld,%lld] = %.9g, in-order fmaf chain %.9g\n", (long long)hd,
                        (long long)rows, (long long)n, (long long)r, (long long)d, O[r * ldo + d], c);
                fails++;
            }
        }
    }
    /* f16 cache: Kh / Vh, and the same values as f32 in Kc / Vc */
    size_t nk = (size_t)(nblk * 8 * hd), nv = (size_t)(n * hd);
    uint16_t *Kh = calloc(nk, 2), *Vh = malloc(2 * nv);
    float *Kc = malloc(4 * nk), *Vc = malloc(4 * nv);
    float *S1 = malloc(sizeof(float) * (size_t)(rows * lds)), *O1 = malloc(sizeof(float) * (size_t)(rows * ldo));
    for (size_t i = 0; i < nk; i++) { Kh[i] = afm_f32_to_f16(K[i]); Kc[i] = afm_f16_to_f32(Kh[i]); } /* NaN stays NaN */
    for (size_t i = 0; i < nv; i++) { Vh[i] = afm_f32_to_f16(V[i]); Vc[i] = afm_f16_to_f32(Vh[i]); }
    for (int variant = 0; variant < 2; variant++) {
        if (variant == 0) {
            afm_attn_scores_f16(Q, ldq, rows, Kh, n, hd, scale, S, lds);
            afm_attn_scores(Q, ldq, rows, Kc, n, hd, scale, S1, lds);
            afm_attn_mix_f16(P, lds, rows, Vh, n, hd, O, ldo);
            afm_attn_mix(P, lds, rows, Vc, n, hd, O1, ldo);
        } else {
            afm_attn_scores_f16_scalar(Q, ldq, rows, Kh, n, hd, scale, S, lds);
            afm_attn_scores_scalar(Q, ldq, rows, Kc, n, hd, scale, S1, lds);
            afm_attn_mix_f16_scalar(P, lds, rows, Vh, n, hd, O, ldo);
            afm_attn_mix_scalar(P, lds, rows, Vc, n, hd, O1, ldo);
        }
        for (int64_t r = 0; r < rows; r++) {
            if (memcmp(S + r * lds, S1 + r * lds, sizeof(float) * (size_t)n) ||
                memcmp(O + r * ldo, O1 + r * ldo, sizeof(float) * (size_t)hd)) {
                fprintf(stderr, "%s f16 cache hd=%lld rows=%lld n=%lld: row %lld differs from the f32 kernel on the converted cache\n",
                        variant ? "scalar" : "dispatched", (long long)hd, (long long)rows, (long long)n, (long long)r);
                fails++;
                break;
            }
        }
    }
    free(Kh); free(Vh); free(Kc); free(Vc); free(S1); free(O1);
    free(Q); free(K); free(V); free(P); free(S); free(S0); free(O); free(O0); free(Kr);
    return fails;
}

int main(void) {
    const int64_t hds[] = {8, 64, 72, 56, 5}, ns[] = {1, 7, 8, 9, 16, 31, 63, 64, 65, 127, 130, 200, 256, 300, 517};
    int fails = 0;
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (int64_t rows = 1; rows <= 13; rows++)
            for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) fails += check(hds[h], rows, ns[k]);
    if (fails) { fprintf(stderr, "%d failures\n", fails); return 1; }
    printf("attention products: all shapes agree\n");
    return 0;
}
