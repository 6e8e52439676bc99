/* The AVX-512 attention kernels (src/kernels/attn_avx512.c) run through a lane-by-lane C
 * emulation of their AVX-512 intrinsics (avx512_emu.h), so their tiles, key-pair walks, chunks and
 * hand-offs to the AVX2 kernel are checked on any AVX2 machine, not only on one with AVX-512
 * (where test_attn runs the real instructions through the dispatcher).
 *
 * For head sizes 5, 8, 24, 56, 64, 72, 128 (the 64/32/16/8-wide mix tiles and one-lane
 * leftovers), 1..20 and 48 query rows (the 8-row score and 6-row mix tiles and their leftovers),
 * and key counts around the 8-key blocks, the 16-key pairs, the 48-key score tiles, the 96-key
 * score chunks and the 64-key mix chunks:
 *  - every score must equal, bit for bit, one fmaf chain over d in order times the scale, and
 *    every mix output one fmaf chain over j in order (the contract of attn.h that the forward
 *    pass relies on: the same bits from the AVX2 and AVX-512 variants and any row or key split);
 *  - the unused lanes of a partial last key block hold NaN and must not leak, and the score
 *    columns past n must stay untouched;
 *  - the f16-cache variants must equal the f32 variants run on the converted cache, bit for bit. */
#define TEST_SEED 11
#include "test_check.h"
#include "kernels/attn.h"
#include "base/cpu.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "avx512_emu.h"
#define afm_attn_scores_avx512 emu_attn_scores_avx512
#define afm_attn_mix_avx512 emu_attn_mix_avx512
#define afm_attn_scores_f16_avx512 emu_attn_scores_f16_avx512
#define afm_attn_mix_f16_avx512 emu_attn_mix_f16_avx512
#include "kernels/attn_avx512.c"
#pragma GCC diagnostic pop
#pragma GCC pop_options
#define HAVE_EMU 1
#endif

#ifdef HAVE_EMU
static int cases;

static void check(int64_t hd, int64_t rows, int64_t n) {
    int64_t ldq = hd + 3, lds = n + 5, ldo = hd + 1, nblk = (n + 7) / 8;
    size_t nk = (size_t)(nblk * 8 * hd), nv = (size_t)(n * hd);
    float *Q = malloc(sizeof(float) * (size_t)(rows * ldq)), *K = calloc(nk, sizeof(float));
    float *V = malloc(sizeof(float) * (nv ? nv : 1)), *P = malloc(sizeof(float) * (size_t)(rows * lds));
    float *S = malloc(sizeof(float) * (size_t)(rows * lds)), *O = malloc(sizeof(float) * (size_t)(rows * ldo));
    float *S1 = malloc(sizeof(float) * (size_t)(rows * lds)), *O1 = malloc(sizeof(float) * (size_t)(rows * ldo));
    float *Kr = malloc(sizeof(float) * (nv ? nv : 1));
    for (int64_t i = 0; i < rows * ldq; i++) Q[i] = frand();
    for (int64_t j = 0; j < n; j++)
        for (int64_t d = 0; d < hd; d++) {
            Kr[j * hd + d] = frand();
            K[afm_attn_k_index(j, d, hd)] = Kr[j * hd + d];
            V[j * hd + d] = frand();
        }
    for (int64_t j = n; j < nblk * 8; j++)
        for (int64_t d = 0; d < hd; d++) K[afm_attn_k_index(j, d, hd)] = NAN;
    for (int64_t i = 0; i < rows * lds; i++) P[i] = frand();
    for (int64_t i = 0; i < rows * lds; i++) S[i] = -7.0f;
    const float scale = 0.125f;
    emu_attn_scores_avx512(Q, ldq, rows, K, n, hd, scale, S, lds);
    emu_attn_mix_avx512(P, lds, rows, V, n, hd, O, ldo);
    int bad = 0;
    for (int64_t r = 0; r < rows && !bad; r++) {
        for (int64_t j = n; j < lds; j++)
            if (S[r * lds + j] != -7.0f) { bad = 1; CHECK(0, "hd %lld rows %lld n %lld: S[%lld, %lld] past the keys written", (long long)hd, (long long)rows, (long long)n, (long long)r, (long long)j); break; }
        for (int64_t j = 0; j < n && !bad; j++) {
            float c = 0;
            for (int64_t d = 0; d < hd; d++) c = fmaf(Q[r * ldq + d], Kr[j * hd + d], c);
            c *= scale;
            if (memcmp(&c, &S[r * lds + j], sizeof c)) {
                bad = 1;
                CHECK(0, "hd %lld rows %lld n %lld: S[%lld, %lld] = %.9g, in-order chain %.9g", (long long)hd, (long long)rows, (long long)n, (long long)r, (long long)j, S[r * lds + j], c);
            }
        }
        for (int64_t d = 0; d < hd && !bad; d++) {
            float c = 0;
            for (int64_t j = 0; j < n; j++) c = fmaf(P[r * lds + j], V[j * hd + d], c);
            if (memcmp(&c, &O[r * ldo + d], sizeof c)) {
                bad = 1;
                CHECK(0, "hd %lld rows %lld n %lld: O[%lld, %lld] = %.9g, in-order chain %.9g", (long long)hd, (long long)rows, (long long)n, (long long)r, (long long)d, O[r * ldo + d], c);
            }
        }
    }
    /* f16 cache against the f32 kernels on the converted values */
    uint16_t *Kh = calloc(nk, 2), *Vh = malloc(2 * (nv ? nv : 1));
    float *Kc = malloc(4 * (nk ? nk : 1)), *Vc = malloc(4 * (nv ? nv : 1));
    for (size_t i = 0; i < nk; i++) { Kh[i] = afm_f32_to_f16(K[i]); Kc[i] = afm_f16_to_f32(Kh[i]); }
    for (size_t i = 0; i < nv; i++) { Vh[i] = afm_f32_to_f16(V[i]); Vc[i] = afm_f16_to_f32(Vh[i]); }
    emu_attn_scores_f16_avx512(Q, ldq, rows, Kh, n, hd, scale, S, lds);
    emu_attn_scores_avx512(Q, ldq, rows, Kc, n, hd, scale, S1, lds);
    emu_attn_mix_f16_avx512(P, lds, rows, Vh, n, hd, O, ldo);
    emu_attn_mix_avx512(P, lds, rows, Vc, n, hd, O1, ldo);
    for (int64_t r = 0; r < rows; r++)
        if (memcmp(S + r * lds, S1 + r * lds, sizeof(float) * (size_t)n) || memcmp(O + r * ldo, O1 + r * ldo, sizeof(float) * (size_t)hd)) {
            CHECK(0, "f16 cache hd %lld rows %lld n %lld: row %lld differs from the f32 kernels on the converted cache", (long long)hd, (long long)rows, (long long)n, (long long)r);
            break;
        }
    cases++;
    free(Q); free(K); free(V); free(P); free(S); free(O); free(S1); free(O1); free(Kr);
    free(Kh); free(Vh); free(Kc); free(Vc);
}
#endif

int main(void) {
#ifdef HAVE_EMU
    if (afm_isa_best() < AFM_ISA_AVX2) {
        printf("test_attn_avx512_emu: skipped (the emulation runs over AVX2)\n");
        return 77;
    }
    const int64_t hds[] = {5, 8, 24, 56, 64, 72, 128};
    const int64_t ns[] = {0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 63, 64, 65, 95, 96, 97, 111, 130, 200, 257};
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (int64_t rows = 1; rows <= 20; rows++)
            for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                if (hds[h] == 128 && rows > 9 && ns[k] % 2) continue; /* keep the run short */
                check(hds[h], rows, ns[k]);
            }
    check(64, 48, 1100);
    check(128, 48, 517);
    printf("test_attn_avx512_emu: %d cases, %d failures\n", cases, failures);
    return failures ? 1 : 0;
#else
    printf("test_attn_avx512_emu: skipped (x86-64 only)\n");
    return 77;
#endif
}
