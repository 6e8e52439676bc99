/* Attention products over a KV cache (f32), for the forward pass's prefill and decode.
 *
 * Keys are stored in blocks of AFM_ATTN_KB positions so that the scores of one query against 8
 * consecutive keys are one 8-lane FMA chain (no horizontal sums): key j, dimension d of a head
 * lives at Kb[afm_attn_k_index(j, d, hd)] = Kb[((j / 8) * hd + d) * 8 + j % 8]. Values stay
 * row-major, V[j * hd + d], which is already the layout the weighted sum wants.
 *
 * Kb holds whole blocks: ceil(n / 8) of them (hd * 8 elements each); the unused positions of a
 * partial last block are read but never affect S (each lane is its own sum).
 *
 *   scores: S[r * lds + j] = scale * sum_d Q[r * ldq + d] K(j, d)     r < rows, j < n
 *   mix:    O[r * ldo + d] = sum_{j < n} P[r * ldp + j] V[j * hd + d]  r < rows, d < hd
 *
 * An AVX2 or AVX-512 variant is picked at run time (base/cpu.h; AFM_FORCE_ISA caps it); every output is one
 * chain over d (scores) or j (mix) in the same order whatever the rows/keys around it, so results
 * do not depend on how a caller splits rows or keys. The scalar references are for tests.
 * The _f16 variants read an f16 cache (same layouts, uint16_t elements); each key / value is
 * converted to f32 exactly, so they compute what the f32 kernels compute on the converted cache. */
#ifndef AFM_KERNELS_ATTN_H
#define AFM_KERNELS_ATTN_H
#include <stddef.h>
#include <stdint.h>

enum { AFM_ATTN_KB = 8 };

static inline size_t afm_attn_k_index(int64_t j, int64_t d, int64_t hd) {
    return (size_t)(((j / AFM_ATTN_KB) * hd + d) * AFM_ATTN_KB + j % AFM_ATTN_KB);
}

void afm_attn_scores(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd, float scale,
                     float *S, int64_t lds);
void afm_attn_mix(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd, float *O,
                  int64_t ldo);

void afm_attn_scores_f16(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n, int64_t hd,
                         float scale, float *S, int64_t lds);
void afm_attn_mix_f16(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n, int64_t hd, float *O,
                      int64_t ldo);

/* Decode attention of `rows` query rows sharing one KV head (grouped-query attention: the query
 * heads of one KV head, for one new token), over keys 0..n-1 of that head:
 *   S[r, j] = scale * Q[r] . K(j)                          j < n   (afm_attn_scores)
 *   P[r, j] = softmax over lo <= j < n of S[r, j]; 0 for j < lo     (afm_softmax, in S)
 *   O[r, d] = sum_{j < n} P[r, j] V[j * hd + d]                     (afm_attn_mix)
 * lo > 0 skips the keys before a sliding window (the caller starts Kb / V at a key block, so the
 * first lo keys' weights are exact zeros). S is work space of rows x lds floats (lds >= n), left
 * holding P; O may be Q itself (the queries are all read before O is written). The _f16 variant reads an f16 cache and first rounds the queries (in place in Q) and
 * the weights to f16, as llama.cpp's f16 cache computes. The cache is read once for all rows (see
 * attn_decode.c), and each row's S and O are bit for bit what a call with that row alone gives. */
void afm_attn_decode(float *Q, int64_t ldq, int64_t rows, const float *Kb, const float *V, int64_t n, int64_t lo,
                     int64_t hd, float scale, float *S, int64_t lds, float *O, int64_t ldo);
void afm_attn_decode_f16(float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, const uint16_t *V, int64_t n,
                         int64_t lo, int64_t hd, float scale, float *S, int64_t lds, float *O, int64_t ldo);

void afm_attn_scores_scalar(const float *Q, int64_t ldq, int64_t rows, const float *Kb, int64_t n, int64_t hd,
                            float scale, float *S, int64_t lds);
void afm_attn_mix_scalar(const float *P, int64_t ldp, int64_t rows, const float *V, int64_t n, int64_t hd, float *O,
                         int64_t ldo);
void afm_attn_scores_f16_scalar(const float *Q, int64_t ldq, int64_t rows, const uint16_t *Kb, int64_t n, int64_t hd,
                                float scale, float *S, int64_t lds);
void afm_attn_mix_f16_scalar(const float *P, int64_t ldp, int64_t rows, const uint16_t *V, int64_t n, int64_t hd,
                             float *O, int64_t ldo);
#endif
