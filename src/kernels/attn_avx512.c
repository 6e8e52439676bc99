/* AVX-512 attention products (see attn.h), called only after run-time detection.
 *
 * The same arithmetic as attn_avx2.c with 16-lane vectors and 32 registers. Every output is
 * still a single FMA chain over d (scores) or j (mix) in index order, so the results are bit for
 * bit those of the AVX2 and in-order scalar chains (tests/unit/test_attn.c on AVX-512 hardware,
 * test_attn_avx512_emu.c anywhere):
 *
 * scores: an RT x (16 NP) tile (RT <= 8 query rows, NP <= 3 pairs of 8-key blocks) keeps 24
 * accumulators; per dimension d it loads the NP vectors K(16 p + lane, d), each the d-rows of two
 * consecutive key blocks joined (two 256-bit loads and an insert: the cache keeps 8-key blocks,
 * attn.h), and broadcasts Q[r, d]. Keys are walked in chunks of SCORE_PAIRS block pairs (96 keys)
 * so a chunk stays in L1 while every row tile passes over it. The keys past the last whole pair
 * of blocks (at most one whole block and a partial one) go to the AVX2 kernel, whose chains are
 * the same.
 * mix: an RT x 64 tile (RT <= 6 rows, four 16-dim vectors of V) keeps 24 accumulators; per key j
 * it loads V[j, d0 .. d0+63] and broadcasts P[r, j]; keys go in chunks of MIX_CHUNK with each
 * tile's sums parked in O between chunks. Leftover dimensions: 32-, 16- and 8-wide tiles, then
 * one lane.
 * The _f16 entry points read f16 keys / values, converted to f32 on load (exactly). */
#include "kernels/attn.h"
#include "kernels/attn_isa.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
enum { RT_MAX = 8, NP_MAX = 3, SCORE_PAIRS = 6, MRT_MAX = 6, MIX_CHUNK = 64 };

/* K(8 jb + lane, d) for lanes 0..15: the d-rows of key blocks jb and jb + 1, as f32 */
INLINE __m512 load_kpair(const void *K, int64_t jb, int64_t d, int64_t hd, const int H) {
    int64_t o0 = (jb * hd + d) * AFM_ATTN_KB, o1 = o0 + hd * AFM_ATTN_KB;
    if (H) {
        const uint16_t *k = K;
        __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(k + o0))),
                                            _mm_loadu_si128((const __m128i *)(k + o1)), 1);
        return _mm512_cvtph_ps(h);
    }
    const float *k = K;
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(k + o0)), _mm256_loadu_ps(k + o1), 1);
}

/* S[r, 16 p + lane] for r < RT, p < NP, keys from block jb on */
INLINE void scores_tile(const int RT, const int NP, const int H, const float *Q, int64_t ldq, const void *K, int64_t jb,
                        int64_t hd, __m512 vscale, float *S, int64_t lds) {
    __m512 acc[RT_MAX][NP_MAX];
    for (int r = 0; r < RT; r++)
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_ps();
    /* the next tile's blocks (contiguous) fetched while this one runs: 2 NP blocks of hd rows */
    const int64_t esz = H ? 2 : 4, step = 2 * NP * AFM_ATTN_KB * esz;
    const char *next = (const char *)K + (jb + 2 * NP) * hd * AFM_ATTN_KB * esz;
    for (int64_t d = 0; d < hd; d++) {
        for (int64_t o = 0; o < step; o += 64) _mm_prefetch(next + d * step + o, _MM_HINT_T0);
        __m512 k[NP_MAX];
        for (int p = 0; p < NP; p++) k[p] = load_kpair(K, jb + 2 * p, d, hd, H);
        for (int r = 0; r < RT; r++) {
            __m512 q = _mm512_set1_ps(Q[r * ldq + d]);
            for (int p = 0; p < NP; p++) acc[r][p] = _mm512_fmadd_ps(q, k[p], acc[r][p]);
        }
    }
    for (int r = 0; r < RT; r++)
        for (int p = 0; p < NP; p++) _mm512_storeu_ps(S + r * lds + 16 * p, _mm512_mul_ps(acc[r][p], vscale));
}

/* rows r0 .. r0+RT-1 against the whole key blocks jb0 .. jb1-1 (jb1 - jb0 even) */
INLINE void scores_rows(const int RT, const int H, const float *Q, int64_t ldq, const void *Kb, int64_t jb0, int64_t jb1,
                        int64_t hd, __m512 vscale, float *S, int64_t lds) {
    int64_t jb = jb0;
    for (; jb + 2 * NP_MAX <= jb1; jb += 2 * NP_MAX)
        scores_tile(RT, NP_MAX, H, Q, ldq, Kb, jb, hd, vscale, S + jb * AFM_ATTN_KB, lds);
    switch ((jb1 - jb) / 2) {
    case 2: scores_tile(RT, 2, H, Q, ldq, Kb, jb, hd, vscale, S + jb * AFM_ATTN_KB, lds); break;
    case 1: scores_tile(RT, 1, H, Q, ldq, Kb, jb, hd, vscale, S + jb * AFM_ATTN_KB, lds); break;
    default: break;
    }
}

#define SCORES_ROWS_CASE(rt) \
    case rt: scores_rows(rt, H, Q + r * ldq, ldq, Kb, c0, c1, hd, vscale, S + r * lds, lds); break;

INLINE void scores_any(const int H, const float *Q, int64_t ldq, int64_t rows, const void *Kb, int64_t n, int64_t hd,
                       float scale, float *S, int64_t lds) {
    const __m512 vscale = _mm512_set1_ps(scale);
    int64_t pb = n / AFM_ATTN_KB / 2 * 2; /* whole key blocks in whole pairs */
    for (int64_t c0 = 0; c0 < pb; c0 += 2 * SCORE_PAIRS) {
        int64_t c1 = c0 + 2 * SCORE_PAIRS < pb ? c0 + 2 * SCORE_PAIRS : pb, r = 0;
        for (; r + RT_MAX <= rows; r += RT_MAX)
            scores_rows(RT_MAX, H, Q + r * ldq, ldq, Kb, c0, c1, hd, vscale, S + r * lds, lds);
        switch (rows - r) {
            SCORES_ROWS_CASE(7)
            SCORES_ROWS_CASE(6)
            SCORES_ROWS_CASE(5)
            SCORES_ROWS_CASE(4)
            SCORES_ROWS_CASE(3)
            SCORES_ROWS_CASE(2)
            SCORES_ROWS_CASE(1)
        default: break;
        }
    }
    int64_t rest = n - pb * AFM_ATTN_KB; /* < 16 keys: at most one whole block and a partial one */
    if (rest <= 0) return;
    size_t off = (size_t)(pb * hd * AFM_ATTN_KB);
    if (H) afm_attn_scores_f16_avx2(Q, ldq, rows, (const uint16_t *)Kb + off, rest, hd, scale, S + pb * AFM_ATTN_KB, lds);
    else afm_attn_scores_avx2(Q, ldq, rows, (const float *)Kb + off, rest, hd, scale, S + pb * AFM_ATTN_KB, lds);
}
#undef SCORES_ROWS_CASE

void afm_attn_scores_avx512(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd,
                            float scale, float *S, int64_t lds) {
    scores_any(0, Q, ldq, rows, Kb, n, hd, scale, S, lds);
}

void afm_attn_scores_f16_avx512(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n, int64_t hd,
                                float scale, float *S, int64_t lds) {
    scores_any(1, Q, ldq, rows, Kb, n, hd, scale, S, lds);
}

/* 16 values of the cache (f32 or, with H, f16) from element index i, as f32 */
INLINE __m512 load16(const void *base, int64_t i, const int H) {
    if (H) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i)));
    return _mm512_loadu_ps((const float *)base + i);
}
INLINE __m256 load8(const void *base, int64_t i, const int H) {
    if (H) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

/* O[r, d0 .. d0 + 16 NV - 1] for r < RT over keys j0 .. j1-1, from 0 (j0 == 0) or from the
 * partial sums the previous key chunk left in O: each output one FMA chain over all keys in order */
INLINE void mix_tile(const int RT, const int NV, const int H, const float *P, int64_t ldp, const void *V, int64_t v0,
                     int64_t j0, int64_t j1, int64_t hd, float *O, int64_t ldo) {
    __m512 acc[MRT_MAX][4];
    for (int r = 0; r < RT; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = j0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(O + r * ldo + 16 * v);
    for (int64_t j = j0; j < j1; j++) {
        const char *ahead = (const char *)V + ((j + MIX_CHUNK) * hd + v0) * (H ? 2 : 4);
        for (int o = 0; o < NV * 16 * (H ? 2 : 4); o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
        __m512 x[4];
        for (int v = 0; v < NV; v++) x[v] = load16(V, j * hd + v0 + 16 * v, H);
        for (int r = 0; r < RT; r++) {
            __m512 p = _mm512_set1_ps(P[r * ldp + j]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(p, x[v], acc[r][v]);
        }
    }
    for (int r = 0; r < RT; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(O + r * ldo + 16 * v, acc[r][v]);
}

/* the same for 8 dimensions (a leftover of hd % 16), with 8-lane vectors */
INLINE void mix_tile8(const int RT, const int H, const float *P, int64_t ldp, const void *V, int64_t v0, int64_t j0,
                      int64_t j1, int64_t hd, float *O, int64_t ldo) {
    __m256 acc[MRT_MAX];
    for (int r = 0; r < RT; r++) acc[r] = j0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(O + r * ldo);
    for (int64_t j = j0; j < j1; j++) {
        __m256 x = load8(V, j * hd + v0, H);
        for (int r = 0; r < RT; r++) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(P[r * ldp + j]), x, acc[r]);
    }
    for (int r = 0; r < RT; r++) _mm256_storeu_ps(O + r * ldo, acc[r]);
}

/* rows r .. r+RT-1, keys j0 .. j1-1, the dimensions that whole 8-lane vectors cover */
INLINE void mix_rows(const int RT, const int H, const float *P, int64_t ldp, const void *V, int64_t j0, int64_t j1,
                     int64_t hd, float *O, int64_t ldo) {
    int64_t d = 0;
    for (; d + 64 <= hd; d += 64) mix_tile(RT, 4, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
    if (d + 32 <= hd) {
        mix_tile(RT, 2, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
        d += 32;
    }
    if (d + 16 <= hd) {
        mix_tile(RT, 1, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
        d += 16;
    }
    if (d + 8 <= hd) mix_tile8(RT, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
}

INLINE void mix_any(const int H, const float *P, int64_t ldp, int64_t rows, const void *V, int64_t n, int64_t hd,
                    float *O, int64_t ldo) {
    if (n <= 0) { /* no keys: empty sums */
        afm_attn_mix_lanes(H, P, ldp, rows, V, 0, hd, 0, O, ldo);
        return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += MIX_CHUNK) {
        int64_t j1 = n - j0 < MIX_CHUNK ? n : j0 + MIX_CHUNK, r = 0;
        for (; r + MRT_MAX <= rows; r += MRT_MAX) mix_rows(MRT_MAX, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo);
        switch (rows - r) {
        case 5: mix_rows(5, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        case 4: mix_rows(4, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        case 3: mix_rows(3, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        case 2: mix_rows(2, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        case 1: mix_rows(1, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        default: break;
        }
    }
    afm_attn_mix_lanes(H, P, ldp, rows, V, n, hd, hd / 8 * 8, O, ldo); /* leftover dimensions */
}

void afm_attn_mix_avx512(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd, float *O,
                         int64_t ldo) {
    mix_any(0, P, ldp, rows, V, n, hd, O, ldo);
}

void afm_attn_mix_f16_avx512(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n, int64_t hd,
                             float *O, int64_t ldo) {
    mix_any(1, P, ldp, rows, V, n, hd, O, ldo);
}
