/* Decode attention of the query rows that share one KV head (see attn.h, afm_attn_decode):
 * scores of all rows against the keys, softmax per row, weighted sum of the values for all rows.
 * The row-tiled kernels (attn_avx2.c) load each key block and value row once per tile of up to
 * 3 rows and keep a 64-key chunk in L1 while the other tiles pass over it, so with grouped-query
 * attention the cache is streamed once per KV head instead of once per query head. Every score
 * and output is the same single chain as for one row, so the result of a row does not depend on
 * how many rows go with it. */
#include "kernels/attn.h"
#include "kernels/nn.h"
#include "kernels/vec.h"
#include <string.h>

/* rows: softmax over keys lo..n-1 of S (rows, lds), the keys before lo exact zeros */
static void softmax_rows(float *S, int64_t lds, int64_t rows, int64_t n, int64_t lo, int round_f16) {
    for (int64_t r = 0; r < rows; r++) {
        float *p = S + r * lds;
        afm_softmax(p + lo, n - lo);
        if (lo > 0) memset(p, 0, (size_t)lo * sizeof(float));
        if (round_f16) afm_vec_round_f16(p, n);
    }
}

void afm_attn_decode(float *Q, int64_t ldq, int64_t rows, const float *Kb, const float *V, int64_t n, int64_t lo,
                     int64_t hd, float scale, float *S, int64_t lds, float *O, int64_t ldo) {
    afm_attn_scores(Q, ldq, rows, Kb, n, hd, scale, S, lds);
    softmax_rows(S, lds, rows, n, lo, 0);
    afm_attn_mix(S, lds, rows, V, n, hd, O, ldo);
}

void afm_attn_decode_f16(float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, const uint16_t *V, int64_t n,
                         int64_t lo, int64_t hd, float scale, float *S, int64_t lds, float *O, int64_t ldo) {
    for (int64_t r = 0; r < rows; r++) afm_vec_round_f16(Q + r * ldq, hd);
    afm_attn_scores_f16(Q, ldq, rows, Kb, n, hd, scale, S, lds);
    softmax_rows(S, lds, rows, n, lo, 1);
    afm_attn_mix_f16(S, lds, rows, V, n, hd, O, ldo);
}
