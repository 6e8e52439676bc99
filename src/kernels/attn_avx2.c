/* AVX2 + FMA attention products (see attn.h), called only after run-time detection.
 *
 * scores: an RT x (8 NB) tile (RT <= 3 query rows, NB <= 4 key blocks) keeps 12 accumulators;
 * per dimension d it loads the NB key vectors K(jb..jb+7, d) and broadcasts Q[r, d]:
 * acc[r][b] += Q[r, d] * K(8 (jb + b) + lane, d). Keys are walked in chunks of SCORE_CHUNK so a
 * chunk of keys stays in L1 while every row tile passes over it. A last partial key block is
 * summed lane by lane with fmaf in the same order (same result as a vector lane).
 * mix: an RT x 32 tile (RT <= 3 rows, four 8-dim vectors of V) keeps 12 accumulators; per key j
 * it loads V[j, d0 .. d0+31] and broadcasts P[r, j]; keys go in chunks of MIX_CHUNK, each tile's
 * sums parked in O between chunks. Leftover dimensions: 16- and 8-wide, then one lane.
 * Each output is a single FMA chain over d (scores) or j (mix) in index order.
 * Tile shapes and chunks (bench/bench_attn, one SmolLM2 work item: 96 rows, hd 64, 600..3000
 * keys, Zen 3): 3 x 4 score tiles in 64-key chunks run at ~88-92 f32 GFLOP/s at every key count,
 * where 6 x 2 tiles dropped to 62-72 beyond ~2,000 keys; the mix's 256-key chunks (64 KiB of V,
 * twice L1) gave 63-78, 64-key chunks 90-93. Each tile needs RT broadcasts + NB (NV) loads per
 * 12 FMAs; with 16 ymm registers that is the smallest ratio, and it is what bounds these
 * kernels at ~65% of the FMA peak (broadcasts from memory cost about an FMA slot each here).
 * Both prefetch ahead (the next key tile while a score tile runs, each value row one mix chunk
 * ahead): decode streams a KV head's cache from memory once, and with the prefetches the grouped
 * decode attention of SmolLM2's shape at 2,048 keys took ~14 instead of ~16 ms per token (f32;
 * f16 ~5.3 instead of ~12 ms; bench/bench_attn_decode, loaded machine); prefill unchanged.
 * The _f16 entry points read f16 keys / values (converted to f32 on load with F16C, so the f16
 * products are exact in f32 and each chain is the same as on the converted f32 cache). */
#include "kernels/attn.h"
#include "kernels/attn_isa.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
enum { RT_MAX = 3, NB_MAX = 4, NV_MAX = 4, SCORE_CHUNK = 64 };

/* 8 elements of a cache (f32 or, with H, f16) at element index i, as f32 */
INLINE __m256 load8(const void *base, int64_t i, const int H) {
    if (H) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

/* S[r, 8b + lane] for r < RT, b < NB; K points at the first key block of the tile */
INLINE void scores_tile(const int RT, const int NB, const int H, const float *Q, int64_t ldq, const void *K, int64_t k0,
                        int64_t hd, __m256 vscale, float *S, int64_t lds) {
    __m256 acc[RT_MAX][NB_MAX];
    for (int r = 0; r < RT; r++)
        for (int b = 0; b < NB; b++) acc[r][b] = _mm256_setzero_ps();
    /* the next tile's keys (the blocked keys are contiguous) fetched while this tile runs: NB * 8
     * elements of them per dimension */
    const char *next = (const char *)K + (k0 + (int64_t)NB * hd * AFM_ATTN_KB) * (H ? 2 : 4);
    const int64_t step = (int64_t)NB * AFM_ATTN_KB * (H ? 2 : 4);
    for (int64_t d = 0; d < hd; d++) {
        _mm_prefetch(next + d * step, _MM_HINT_T0);
        if (step > 64) _mm_prefetch(next + d * step + 64, _MM_HINT_T0);
        __m256 k[NB_MAX];
        for (int b = 0; b < NB; b++) k[b] = load8(K, k0 + ((int64_t)b * hd + d) * AFM_ATTN_KB, H);
        for (int r = 0; r < RT; r++) {
            __m256 q = _mm256_broadcast_ss(Q + r * ldq + d);
            for (int b = 0; b < NB; b++) acc[r][b] = _mm256_fmadd_ps(q, k[b], acc[r][b]);
        }
    }
    for (int r = 0; r < RT; r++)
        for (int b = 0; b < NB; b++) _mm256_storeu_ps(S + r * lds + 8 * b, _mm256_mul_ps(acc[r][b], vscale));
}

/* rows r0 .. r0+RT-1 against the full key blocks jb0 .. jb1-1 */
INLINE void scores_rows(const int RT, const int H, const float *Q, int64_t ldq, const void *Kb, int64_t jb0, int64_t jb1,
                        int64_t hd, __m256 vscale, float *S, int64_t lds) {
    int64_t jb = jb0;
    for (; jb + NB_MAX <= jb1; jb += NB_MAX)
        scores_tile(RT, NB_MAX, H, Q, ldq, Kb, jb * hd * AFM_ATTN_KB, hd, vscale, S + jb * AFM_ATTN_KB, lds);
    switch (jb1 - jb) {
    case 3: scores_tile(RT, 3, H, Q, ldq, Kb, jb * hd * AFM_ATTN_KB, hd, vscale, S + jb * AFM_ATTN_KB, lds); break;
    case 2: scores_tile(RT, 2, H, Q, ldq, Kb, jb * hd * AFM_ATTN_KB, hd, vscale, S + jb * AFM_ATTN_KB, lds); break;
    case 1: scores_tile(RT, 1, H, Q, ldq, Kb, jb * hd * AFM_ATTN_KB, hd, vscale, S + jb * AFM_ATTN_KB, lds); break;
    default: break;
    }
}

INLINE void scores_any(const int H, const float *Q, int64_t ldq, int64_t rows, const void *Kb, int64_t n, int64_t hd,
                       float scale, float *S, int64_t lds) {
    const __m256 vscale = _mm256_set1_ps(scale);
    int64_t nfull = n / AFM_ATTN_KB; /* full key blocks */
    for (int64_t c0 = 0; c0 < nfull; c0 += SCORE_CHUNK / AFM_ATTN_KB) {
        int64_t c1 = c0 + SCORE_CHUNK / AFM_ATTN_KB < nfull ? c0 + SCORE_CHUNK / AFM_ATTN_KB : nfull;
        int64_t r = 0;
        for (; r + RT_MAX <= rows; r += RT_MAX) scores_rows(RT_MAX, H, Q + r * ldq, ldq, Kb, c0, c1, hd, vscale, S + r * lds, lds);
        switch (rows - r) {
        case 2: scores_rows(2, H, Q + r * ldq, ldq, Kb, c0, c1, hd, vscale, S + r * lds, lds); break;
        case 1: scores_rows(1, H, Q + r * ldq, ldq, Kb, c0, c1, hd, vscale, S + r * lds, lds); break;
        default: break;
        }
    }
    int64_t tail = n - nfull * AFM_ATTN_KB;
    if (tail) { /* the last, partial key block: whole vectors (lanes are independent chains), the
                 * first `tail` lanes kept; the other lanes' keys (stale or unset) are not used */
        float buf[RT_MAX * AFM_ATTN_KB];
        for (int64_t r = 0; r < rows; r += RT_MAX) {
            int rt = rows - r < RT_MAX ? (int)(rows - r) : RT_MAX;
            const float *Qr = Q + r * ldq;
            int64_t k0 = nfull * hd * AFM_ATTN_KB;
            switch (rt) {
            case 3: scores_tile(3, 1, H, Qr, ldq, Kb, k0, hd, vscale, buf, AFM_ATTN_KB); break;
            case 2: scores_tile(2, 1, H, Qr, ldq, Kb, k0, hd, vscale, buf, AFM_ATTN_KB); break;
            default: scores_tile(1, 1, H, Qr, ldq, Kb, k0, hd, vscale, buf, AFM_ATTN_KB); break;
            }
            for (int i = 0; i < rt; i++)
                memcpy(S + (r + i) * lds + nfull * AFM_ATTN_KB, buf + i * AFM_ATTN_KB, (size_t)tail * sizeof(float));
        }
    }
}

void afm_attn_scores_avx2(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd,
                          float scale, float *S, int64_t lds) {
    scores_any(0, Q, ldq, rows, Kb, n, hd, scale, S, lds);
}

void afm_attn_scores_f16_avx2(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n, int64_t hd,
                              float scale, float *S, int64_t lds) {
    scores_any(1, Q, ldq, rows, Kb, n, hd, scale, S, lds);
}

/* Keys in chunks of MIX_CHUNK (16 KiB of f32 V at hd = 64: half of L1), all rows per chunk: with
 * long contexts a head's V (n * hd values) outgrows L2, and every row tile would otherwise stream
 * all of it again. */
enum { MIX_CHUNK = 64 };

/* O[r, d0 .. d0 + 8 NV - 1] for r < RT, over keys j0 .. j1-1; V points at the cache, v0 = d0.
 * Starts from 0 (j0 == 0) or from the partial sums that the previous key chunk left in O, so each
 * output is still one FMA chain over all keys in order. */
INLINE void mix_tile(const int RT, const int NV, const int H, const float *P, int64_t ldp, const void *V, int64_t v0,
                     int64_t j0, int64_t j1, int64_t hd, float *O, int64_t ldo) {
    __m256 acc[RT_MAX][NV_MAX];
    for (int r = 0; r < RT; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = j0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(O + r * ldo + 8 * v);
    for (int64_t j = j0; j < j1; j++) {
        /* this tile's part of the value row one chunk ahead */
        const char *ahead = (const char *)V + ((j + MIX_CHUNK) * hd + v0) * (H ? 2 : 4);
        _mm_prefetch(ahead, _MM_HINT_T0);
        if (NV * 8 * (H ? 2 : 4) > 64) _mm_prefetch(ahead + 64, _MM_HINT_T0);
        __m256 x[NV_MAX];
        for (int v = 0; v < NV; v++) x[v] = load8(V, j * hd + v0 + 8 * v, H);
        for (int r = 0; r < RT; r++) {
            __m256 p = _mm256_broadcast_ss(P + r * ldp + j);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(p, x[v], acc[r][v]);
        }
    }
    for (int r = 0; r < RT; r++)
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(O + r * ldo + 8 * v, acc[r][v]);
}

/* rows r .. r+RT-1, keys j0 .. j1-1 (the vector part of the dimensions) */
INLINE void mix_rows(const int RT, const int H, const float *P, int64_t ldp, const void *V, int64_t j0, int64_t j1,
                     int64_t hd, float *O, int64_t ldo) {
    int64_t d = 0;
    for (; d + 32 <= hd; d += 32) mix_tile(RT, 4, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
    if (d + 16 <= hd) {
        mix_tile(RT, 2, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
        d += 16;
    }
    if (d + 8 <= hd) mix_tile(RT, 1, H, P, ldp, V, d, j0, j1, hd, O + d, ldo);
}

INLINE void mix_any(const int H, const float *P, int64_t ldp, int64_t rows, const void *V, int64_t n, int64_t hd,
                    float *O, int64_t ldo) {
    if (n <= 0) { /* no keys: empty sums */
        afm_attn_mix_lanes(H, P, ldp, rows, V, 0, hd, 0, O, ldo);
        return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += MIX_CHUNK) {
        int64_t j1 = n - j0 < MIX_CHUNK ? n : j0 + MIX_CHUNK, r = 0;
        for (; r + RT_MAX <= rows; r += RT_MAX) mix_rows(RT_MAX, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo);
        switch (rows - r) {
        case 2: mix_rows(2, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        case 1: mix_rows(1, H, P + r * ldp, ldp, V, j0, j1, hd, O + r * ldo, ldo); break;
        default: break;
        }
    }
    afm_attn_mix_lanes(H, P, ldp, rows, V, n, hd, hd / 8 * 8, O, ldo); /* leftover dimensions */
}

void afm_attn_mix_avx2(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd, float *O,
                       int64_t ldo) {
    mix_any(0, P, ldp, rows, V, n, hd, O, ldo);
}

void afm_attn_mix_f16_avx2(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n, int64_t hd,
                           float *O, int64_t ldo) {
    mix_any(1, P, ldp, rows, V, n, hd, O, ldo);
}
