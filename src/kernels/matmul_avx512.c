/* AVX-512 matmul kernels (F, BW, VL, DQ and VNNI; selected only when base/cpu.h reports the
 * AVX-512 level, which requires all five). Each kernel computes exactly what its scalar twin in
 * matmul.c computes: the same per-block integer dot products, only the float sums reordered.
 *
 * vpdpbusd (VNNI) multiplies unsigned bytes by signed bytes and adds each group of 4 products to
 * an int32 lane: one instruction for the AVX2 maddubs + madd + add chain, with no int16 step.
 * Activation codes x are signed (|x| <= 127), so the weight side must be unsigned:
 *   q4_1:  w = nib in 0..15                          -> dot = sum nib*x
 *   q4_0:  w = nib - 8, sum (nib - 8) x = sum nib*x - 8 * sum(x)           (sum(x) = act->sum)
 *   q8_0:  w in -128..127, w ^ 0x80 = w + 128 as u8, sum w x = sum (w+128) x - 128 * sum(x)
 * All exact in int32 (|dot| <= 32 * 255 * 127).
 *
 * q8_0 / q4_0 / q4_1 (row layout and afm_matmul_repack's packed layout): lanes are rows. The
 * packed layout keeps 8 rows per group; a zmm holds two groups (16 rows: group 0 in the low 256
 * bits, group 1 in the high), so D[k] lane i = code bytes 4k..4k+3 of row i and one vpdpbusd
 * per 4 activation codes (broadcast) advances 16 rows. The row layout is transposed into the
 * same form on the fly. Leftover rows (rows % 8) use a row-wise kernel (one row, 256-bit
 * vpdpbusd over a block, w unsigned via |w| and x via sign(x, w)).
 * f32 / f16 / bf16: NR x NT register tiles of 16-wide FMAs (f16 via vcvtph2ps, bf16 widened by a
 * 16-bit shift: exact), masked loads for the tail; decode (one token) streams 4 rows at a time.
 * q4_K / q6_K: super-blocks unpacked once per row pair and block of 64 tokens (as the AVX2
 * kernels do), 64 codes per zmm, maddubs (u8 x s8 -> s16 pairs) then vpdpwssd with the scales.
 * Every output is one chain whose operations do not depend on the tile it was computed in, so
 * results do not depend on the thread split. */
#include "kernels/matmul_internal.h"
#include "tensor/quant_blocks.h"
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

INLINE float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

INLINE float hsum16(__m512 v) {
    return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

/* Two 256-bit halves -> one zmm (lo in bits 0..255). */
INLINE __m512i join256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

enum { T_Q8_0, T_Q4_0, T_Q4_1 };

/* ------------------------------------------------------------ row-wise 32-block kernel */

/* 32 nibbles -> 32 bytes 0..15 in element order (low nibbles = elements 0..15). */
INLINE __m256i nibbles32(const uint8_t *qs) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* One weight row against NT tokens over nb blocks: y[t*ldy] = sum_b dw_b dx_b dot_b (+ m terms).
 * Signed types: u = |w| (as u8, also right for -128) and sign(x, w), so u * sign(x, w) = w * x. */
INLINE void row_q(const int type, const int NT, const uint8_t *row, const uint8_t *xa, size_t xs, int64_t nb, float *y,
                  int64_t ldy) {
    __m256 acc[4];
    float macc[4];
    for (int t = 0; t < NT; t++) { acc[t] = _mm256_setzero_ps(); macc[t] = 0; }
    for (int64_t b = 0; b < nb; b++) {
        __m256i w;
        float dw, mw = 0;
        if (type == T_Q8_0) {
            const afm_block_q8_0 *blk = (const afm_block_q8_0 *)row + b;
            w = _mm256_loadu_si256((const __m256i *)blk->qs);
            dw = h2f(blk->d);
        } else if (type == T_Q4_0) {
            const afm_block_q4_0 *blk = (const afm_block_q4_0 *)row + b;
            w = _mm256_sub_epi8(nibbles32(blk->qs), _mm256_set1_epi8(8));
            dw = h2f(blk->d);
        } else {
            const afm_block_q4_1 *blk = (const afm_block_q4_1 *)row + b;
            w = nibbles32(blk->qs);
            dw = h2f(blk->d);
            mw = h2f(blk->m);
        }
        __m256i wu = type == T_Q4_1 ? w : _mm256_sign_epi8(w, w);
        for (int t = 0; t < NT; t++) {
            const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs) + b;
            __m256i x = _mm256_loadu_si256((const __m256i *)a->qs);
            if (type != T_Q4_1) x = _mm256_sign_epi8(x, w);
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wu, x);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * a->d), acc[t]);
            if (type == T_Q4_1) macc[t] += mw * a->ds;
        }
    }
    for (int t = 0; t < NT; t++) y[t * ldy] = hsum8(acc[t]) + macc[t];
}

/* Rows one at a time (tokens by 4): the leftover rows of the 16/8-row kernels, and q8_0 decode
 * on the row layout (no transposition needed). */
INLINE void rows_q(const int type, const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,
                   int64_t ntok, int64_t nb, float *y, int64_t ldy) {
    for (int64_t r = 0; r < nrows; r++) {
        int64_t t = 0;
        for (; t + 4 <= ntok; t += 4) row_q(type, 4, W + r * rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);
        for (; t < ntok; t++) row_q(type, 1, W + r * rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);
    }
}

/* ------------------------------------------------------------ 16 rows (two 8-row groups) */

/* Row layout: the 16 bytes at p + i*rb (rows i = 0..7) transposed so that dword lane i of D[k]
 * holds bytes 4k..4k+3 of row i (256-bit). */
INLINE void load_t8(const uint8_t *p, size_t rb, __m256i D[4]) {
    __m256i Y[4];
    for (int i = 0; i < 4; i++)
        Y[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + i * rb))),
                                       _mm_loadu_si128((const __m128i *)(p + (i + 4) * rb)), 1);
    /* Y[i] = rows i (low) and i+4 (high); after the two unpack stages dword lane j of D[k] is
     * dword k of row j (lanes 0..3 from the low halves = rows 0..3, lanes 4..7 = rows 4..7). */
    __m256i t0 = _mm256_unpacklo_epi32(Y[0], Y[1]), t1 = _mm256_unpackhi_epi32(Y[0], Y[1]);
    __m256i t2 = _mm256_unpacklo_epi32(Y[2], Y[3]), t3 = _mm256_unpackhi_epi32(Y[2], Y[3]);
    D[0] = _mm256_unpacklo_epi64(t0, t2);
    D[1] = _mm256_unpackhi_epi64(t0, t2);
    D[2] = _mm256_unpacklo_epi64(t1, t3);
    D[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* 8 f16 at p + i*rb (rows i = 0..7) as 8 u16 */
INLINE __m128i load_h8(const uint8_t *p, size_t rb) {
    uint16_t h[8];
    for (int i = 0; i < 8; i++) memcpy(&h[i], p + i * rb, 2);
    return _mm_loadu_si128((const __m128i *)h);
}

enum { QPF = 1024 }; /* decode prefetch distance on packed matrices (bytes ahead in a group's stream) */

/* Block b of one 8-row group at g (row layout: rows g + i*rb; packed: the group's stream):
 * the code dwords D[0..NK-1] (q8_0: NK = 8, halves h = 0, 1 as D[4h + k]; q4: NK = 4), the 8
 * scales and (q4_1) the 8 offsets as f16. */
INLINE void group_block(const int type, const int PACKED, const int PF, const uint8_t *g, size_t rb, int64_t b,
                        __m256i *D, __m128i *dh, __m128i *mh) {
    const size_t bsz = type == T_Q8_0 ? sizeof(afm_block_q8_0) : type == T_Q4_0 ? sizeof(afm_block_q4_0)
                                                                                : sizeof(afm_block_q4_1);
    const size_t qoff = type == T_Q4_1 ? offsetof(afm_block_q4_1, qs) : 2; /* q8_0, q4_0: qs after d */
    if (PACKED) { /* 8 d, (8 m), then the code dwords as stored by afm_matmul_repack */
        const uint8_t *pb = g + b * 8 * bsz;
        if (PF)
            for (size_t o = 0; o < 8 * bsz; o += 64) _mm_prefetch((const char *)(pb + QPF + o), _MM_HINT_T0);
        *dh = _mm_loadu_si128((const __m128i *)pb);
        if (type == T_Q4_1) *mh = _mm_loadu_si128((const __m128i *)(pb + 16));
        const uint8_t *q = pb + (type == T_Q4_1 ? 32 : 16);
        for (int k = 0; k < (type == T_Q8_0 ? 8 : 4); k++) D[k] = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
    } else {
        const uint8_t *blk = g + b * bsz;
        load_t8(blk + qoff, rb, D);
        if (type == T_Q8_0) load_t8(blk + qoff + 16, rb, D + 4);
        *dh = load_h8(blk, rb);
        if (type == T_Q4_1) *mh = load_h8(blk + 2, rb);
    }
}

/* G groups of 8 rows (G = 1 or 2, rows g*8 .. g*8+7 at W + g*8*rb) x NT tokens over nb blocks;
 * lane 8g + i = row 8g + i; y[t*ldy + lane]. */
INLINE void tile16_q(const int type, const int PACKED, const int G, const int NT, const uint8_t *W, size_t rb,
                     const uint8_t *xa, size_t xs, int64_t nb, float *y, int64_t ldy) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8((char)0x80);
    const int NK = type == T_Q8_0 ? 8 : 4;
    __m512 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i D0[8], D1[8];
        __m128i dh0, dh1 = _mm_setzero_si128(), mh0 = _mm_setzero_si128(), mh1 = _mm_setzero_si128();
        group_block(type, PACKED, NT == 1, W, rb, b, D0, &dh0, &mh0);
        if (G == 2) group_block(type, PACKED, NT == 1, W + 8 * rb, rb, b, D1, &dh1, &mh1);
        else
            for (int k = 0; k < NK; k++) D1[k] = _mm256_setzero_si256();
        __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(dh0), dh1, 1));
        __m512 mw = _mm512_setzero_ps();
        if (type == T_Q4_1) mw = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(mh0), mh1, 1));
        /* Wk[j]: the unsigned codes multiplied by activation codes 4j..4j+3 */
        __m512i Wk[8];
        if (type == T_Q8_0) {
            for (int k = 0; k < 8; k++) Wk[k] = _mm512_xor_si512(join256(D0[k], D1[k]), flip);
        } else {
            for (int k = 0; k < 4; k++) {
                __m512i v = join256(D0[k], D1[k]);
                Wk[k] = _mm512_and_si512(v, m4);                           /* elements 4k..4k+3 */
                Wk[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4); /* elements 16+4k.. */
            }
        }
        for (int t = 0; t < NT; t++) {
            const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs) + b;
            __m512i s = _mm512_setzero_si512();
            for (int j = 0; j < 8; j++) {
                int32_t x4;
                memcpy(&x4, a->qs + 4 * j, 4);
                s = _mm512_dpbusd_epi32(s, Wk[j], _mm512_set1_epi32(x4));
            }
            if (type == T_Q8_0) s = _mm512_sub_epi32(s, _mm512_set1_epi32(128 * a->sum));
            if (type == T_Q4_0) s = _mm512_sub_epi32(s, _mm512_set1_epi32(8 * a->sum));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(a->d)), acc[t]);
            if (type == T_Q4_1) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a->ds), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) {
        if (G == 2) _mm512_storeu_ps(y + t * ldy, acc[t]);
        else _mm256_storeu_ps(y + t * ldy, _mm512_castps512_ps256(acc[t]));
    }
}

INLINE void tiles16_tokens(const int type, const int PACKED, const int G, const uint8_t *W, size_t rb,
                           const uint8_t *xa, size_t xs, int64_t ntok, int64_t nb, float *y, int64_t ldy) {
    int64_t t = 0;
    for (; t + 4 <= ntok; t += 4) tile16_q(type, PACKED, G, 4, W, rb, xa + t * xs, xs, nb, y + t * ldy, ldy);
    switch (ntok - t) {
    case 3: tile16_q(type, PACKED, G, 3, W, rb, xa + t * xs, xs, nb, y + t * ldy, ldy); break;
    case 2: tile16_q(type, PACKED, G, 2, W, rb, xa + t * xs, xs, nb, y + t * ldy, ldy); break;
    case 1: tile16_q(type, PACKED, G, 1, W, rb, xa + t * xs, xs, nb, y + t * ldy, ldy); break;
    }
}

/* Rows by 16, then one group of 8, then the leftover rows one at a time (the packed layout keeps
 * rows % 8 in the row layout). */
#define GEMM_Q16(name, type, packed)                                                                          \
    static void name(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,   \
                     int64_t cols, float *y, int64_t ldy) {                                                    \
        int64_t nb = cols / 32, r = 0;                                                                         \
        if (!(packed) && type == T_Q8_0 && ntok == 1) { /* decode on the row layout: no transposition */       \
            rows_q(type, W, rb, nrows, xa, xs, ntok, nb, y, ldy);                                              \
            return;                                                                                            \
        }                                                                                                      \
        for (; r + 16 <= nrows; r += 16) tiles16_tokens(type, packed, 2, W + r * rb, rb, xa, xs, ntok, nb, y + r, ldy); \
        if (r + 8 <= nrows) {                                                                                  \
            tiles16_tokens(type, packed, 1, W + r * rb, rb, xa, xs, ntok, nb, y + r, ldy);                     \
            r += 8;                                                                                            \
        }                                                                                                      \
        rows_q(type, W + r * rb, rb, nrows - r, xa, xs, ntok, nb, y + r, ldy);                                 \
    }
GEMM_Q16(gemm16_q8_0, T_Q8_0, 0)
GEMM_Q16(gemm16_q4_0, T_Q4_0, 0)
GEMM_Q16(gemm16_q4_1, T_Q4_1, 0)
GEMM_Q16(gemm16p_q8_0, T_Q8_0, 1)
GEMM_Q16(gemm16p_q4_0, T_Q4_0, 1)
GEMM_Q16(gemm16p_q4_1, T_Q4_1, 1)

/* ------------------------------------------------------------ f32 / f16 / bf16 */

enum { F_F32, F_F16, F_BF16 };

/* 16 weights of a row from element i as f32; the masked form reads only the lanes in m (the
 * others are 0 and their memory is not touched). bf16 -> f32 is exact: the bits shifted up 16. */
INLINE __m512 load16(const int type, const uint8_t *row, int64_t i) {
    switch (type) {
    case F_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * i)));
    case F_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + 2 * i))), 16));
    default: return _mm512_loadu_ps((const float *)row + i);
    }
}

INLINE __m512 load16m(const int type, const uint8_t *row, int64_t i, __mmask16 m) {
    switch (type) {
    case F_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * i));
    case F_BF16: return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * i)), 16));
    default: return _mm512_maskz_loadu_ps(m, (const float *)row + i);
    }
}

INLINE __mmask16 tail_mask(int64_t left) { return (__mmask16)((1u << left) - 1u); } /* 0 < left < 16 */

/* NR x NT tile over n elements: y = (accumulate ? y : 0) + W . x */
INLINE void tile_f(const int type, const int NR, const int NT, const uint8_t *W, size_t rb, const float *x,
                   int64_t xs, int64_t n, float *y, int64_t ldy, int accumulate) {
    __m512 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 w[4];
        for (int r = 0; r < NR; r++) w[r] = load16(type, W + r * rb, i);
        for (int t = 0; t < NT; t++) {
            __m512 xv = _mm512_loadu_ps(x + t * xs + i);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 w[4];
        for (int r = 0; r < NR; r++) w[r] = load16m(type, W + r * rb, i, m);
        for (int t = 0; t < NT; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + t * xs + i);
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            float s = hsum16(acc[r][t]);
            y[t * ldy + r] = accumulate ? y[t * ldy + r] + s : s;
        }
}

INLINE void tiles_f_rows(const int type, const int NT, const uint8_t *W, size_t rb, int64_t nrows, const float *x,
                         int64_t xs, int64_t n, float *y, int64_t ldy, int accumulate) {
    int64_t r = 0;
    for (; r + 4 <= nrows; r += 4) tile_f(type, 4, NT, W + r * rb, rb, x, xs, n, y + r, ldy, accumulate);
    for (; r < nrows; r++) tile_f(type, 1, NT, W + r * rb, rb, x, xs, n, y + r, ldy, accumulate);
}

/* Decode (one token): the matrix is read once, row after row, as one sequential stream (as the
 * AVX2 kernel does; the hardware prefetchers follow one stream best). Per row: 8 independent
 * FMA chains over 128 elements per step, then 16 at a time, then a masked tail; y = the sum of
 * the chains. A software prefetch FPF bytes ahead of the current position (past the row end it
 * runs into the next rows, which follow contiguously) touches every cache line of the step. */
enum { FPF = 2048 };
INLINE float gemv_f_row(const int type, const uint8_t *row, const float *x, int64_t n) {
    const int64_t esz = type == F_F32 ? 4 : 2;
    __m512 acc[8];
    for (int k = 0; k < 8; k++) acc[k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 128 <= n; i += 128) {
        for (int64_t o = 0; o < 128 * esz; o += 64) _mm_prefetch((const char *)(row + i * esz + FPF + o), _MM_HINT_T0);
        for (int k = 0; k < 8; k++) acc[k] = _mm512_fmadd_ps(load16(type, row, i + 16 * k), _mm512_loadu_ps(x + i + 16 * k), acc[k]);
    }
    for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(load16(type, row, i), _mm512_loadu_ps(x + i), acc[0]);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        acc[1] = _mm512_fmadd_ps(load16m(type, row, i, m), _mm512_maskz_loadu_ps(m, x + i), acc[1]);
    }
    for (int k = 0; k < 4; k++) acc[k] = _mm512_add_ps(acc[k], acc[k + 4]);
    return hsum16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

INLINE void gemv_f(const int type, const uint8_t *W, size_t rb, int64_t nrows, const float *x, int64_t n, float *y) {
    for (int64_t r = 0; r < nrows; r++) y[r] = gemv_f_row(type, W + r * rb, x, n);
}

#include "kernels/gemm_f_loop.h"
GEMM_F(gemm_f32, F_F32)
GEMM_F(gemm_f16, F_F16)
GEMM_F(gemm_bf16, F_BF16)

/* ------------------------------------------------------------ k-quants
 *
 * One integer form for both formats once a 256-element super-block is unpacked (kq_block):
 *   u[m] (m < 4): the 64 codes of elements 64m .. 64m+63 as unsigned bytes (q4_k: nibble 0..15;
 *                 q6_k: 6-bit code 0..63 standing for code - 32);
 *   sv[m]:        32 int16 multipliers of the maddubs(u[m], x) lanes (lane l = elements 2l, 2l+1;
 *                 quarter q = 16 elements): q4_k the sub-block scale sc (32 elements per scale),
 *                 q6_k scales[4m + q];
 *   mv:           16 int16 multipliers of the activation's bsums (sums of 16 codes): q4_k
 *                 mn[g/2], q6_k scales[g];
 *   d, dm:        q4_k d and dmin; q6_k d and 32 d.
 * With x ~ dx * qs (q8_K):
 *   dot = d dx * sum_m sum(vpdpwssd(maddubs(u[m], qs_m), sv[m])) - dm dx * sum(madd(bsums, mv))
 * (maddubs cannot saturate: |u| <= 63, |qs| <= 127). Prefill unpacks the rows, two at a time, once
 * per block of up to 64 tokens into a buffer of 32 super-blocks per row and runs the tokens over
 * them four at a time; decode (fewer than 3 tokens) unpacks each block into registers and uses it
 * at once, with the same arithmetic in the same order, so results do not depend on the token or
 * row grouping. */
typedef struct {
    __m512i u[4], sv[4];
    __m256i mv;
    float d, dm;
} kq_block;

enum { KQ_BLOCKS = 32, KQ_TOKENS = 64 };

INLINE __m512i sv_quarters(int16_t s0, int16_t s1, int16_t s2, int16_t s3) {
    return join256(_mm256_setr_m128i(_mm_set1_epi16(s0), _mm_set1_epi16(s1)),
                   _mm256_setr_m128i(_mm_set1_epi16(s2), _mm_set1_epi16(s3)));
}

/* q4_k: chunk c (32 bytes of qs) holds sub-block 2c in its low nibbles and 2c+1 in its high
 * nibbles, i.e. elements 64c .. 64c+63 in that order. */
INLINE void unpack_q4_k(const afm_block_q4_k *w, kq_block *o) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) afm_q4k_scale_min(j, w->scales, &sc[j], &mn[j]);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * c));
        o->u[c] = join256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        o->sv[c] = sv_quarters(sc[2 * c], sc[2 * c], sc[2 * c + 1], sc[2 * c + 1]);
    }
    int16_t mv[16];
    for (int g = 0; g < 16; g++) mv[g] = mn[g / 2];
    o->mv = _mm256_loadu_si256((const __m256i *)mv);
    o->d = h2f(w->d);
    o->dm = h2f(w->dmin);
}

/* q6_k: half h (128 elements) takes l0 = ql[64h ..], l1 = ql[64h+32 ..], qh[32h ..]; its runs of
 * 32 elements are l0 low nibbles, l1 low, l0 high, l1 high, joined with qh bit pairs 0-1, 2-3,
 * 4-5, 6-7 as bits 4-5. */
INLINE void unpack_q6_k(const afm_block_q6_k *w, kq_block *o) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03);
    __m256i u[8];
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                         _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
        for (int k = 0; k < 4; k++)
            u[4 * h + k] = _mm256_or_si256(lo[k], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3), 4));
    }
    for (int m = 0; m < 4; m++) {
        const int8_t *s = w->scales + 4 * m;
        o->u[m] = join256(u[2 * m], u[2 * m + 1]);
        o->sv[m] = sv_quarters(s[0], s[1], s[2], s[3]);
    }
    o->mv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
    o->d = h2f(w->d);
    o->dm = 32.0f * o->d;
}

INLINE int32_t hsum8_epi32(__m256i v) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    return _mm_cvtsi128_si32(h);
}

/* For NR rows x NT tokens: acc[r][t] (16 float lanes) += d dx * isum and macc[r][t] += dm dx * msum
 * for block w[r] against token t's block a[t]; the dot is sum(acc) - macc. */
INLINE void kq_block_dot(const int NR, const int NT, const kq_block *const *w, const afm_act_q8k *const *a,
                         __m512 (*acc)[4], float (*macc)[4]) {
    __m512i s[2][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) s[r][t] = _mm512_setzero_si512();
    for (int m = 0; m < 4; m++) {
        for (int t = 0; t < NT; t++) {
            __m512i x = _mm512_loadu_si512((const void *)(a[t]->qs + 64 * m));
            for (int r = 0; r < NR; r++) s[r][t] = _mm512_dpwssd_epi32(s[r][t], _mm512_maddubs_epi16(w[r]->u[m], x), w[r]->sv[m]);
        }
    }
    for (int t = 0; t < NT; t++) {
        __m256i bs = _mm256_loadu_si256((const __m256i *)a[t]->bsums);
        for (int r = 0; r < NR; r++) {
            int32_t msum = hsum8_epi32(_mm256_madd_epi16(bs, w[r]->mv)); /* sum_g mv[g] bsums[g], exact */
            acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(w[r]->d * a[t]->d), _mm512_cvtepi32_ps(s[r][t]), acc[r][t]);
            macc[r][t] += w[r]->dm * a[t]->d * (float)msum;
        }
    }
}

/* y[t*ldy + r] (+)= dot(row r, token t) for NR rows (unpacked blocks blk[r][0 .. nb)) x NT tokens;
 * xa: the tokens' q8_K blocks for the same columns, xs bytes apart. */
INLINE void kq_dot(const int NR, const int NT, kq_block (*blk)[KQ_BLOCKS], int64_t nb, const uint8_t *xa, size_t xs,
                   float *y, int64_t ldy, int add) {
    __m512 acc[2][4];
    float macc[2][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) { acc[r][t] = _mm512_setzero_ps(); macc[r][t] = 0; }
    for (int64_t b = 0; b < nb; b++) {
        const afm_act_q8k *a[4];
        const kq_block *w[2];
        for (int t = 0; t < NT; t++) a[t] = (const afm_act_q8k *)(xa + t * xs) + b;
        for (int r = 0; r < NR; r++) w[r] = &blk[r][b];
        kq_block_dot(NR, NT, w, a, acc, macc);
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            float v = hsum16(acc[r][t]) - macc[r][t];
            y[t * ldy + r] = add ? y[t * ldy + r] + v : v;
        }
}

INLINE void kq_unpack(const int q6, const uint8_t *row, int64_t b, kq_block *o) {
    if (q6) unpack_q6_k((const afm_block_q6_k *)row + b, o);
    else unpack_q4_k((const afm_block_q4_k *)row + b, o);
}

/* Decode: each block unpacked into registers and used at once (same arithmetic as kq_dot). */
INLINE void gemm_kq_few(const int q6, const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,
                        int64_t ntok, int64_t nb, float *y, int64_t ldy) {
    for (int64_t r = 0; r < nrows; r++) {
        const uint8_t *row = W + r * rb;
        if (r + 1 < nrows) _mm_prefetch((const char *)(row + rb), _MM_HINT_T0);
        for (int64_t t = 0; t < ntok; t++) {
            __m512 acc[1][4] = {{_mm512_setzero_ps()}};
            float macc[1][4] = {{0}};
            for (int64_t b = 0; b < nb; b++) {
                kq_block w;
                kq_unpack(q6, row, b, &w);
                const afm_act_q8k *a = (const afm_act_q8k *)(xa + t * xs) + b;
                const kq_block *wp = &w;
                kq_block_dot(1, 1, &wp, &a, acc, macc);
            }
            y[t * ldy + r] = hsum16(acc[0][0]) - macc[0][0];
        }
    }
}

/* Prefill: tokens in blocks of KQ_TOKENS, rows by 2, columns in passes of KQ_BLOCKS super-blocks
 * (later passes add to y), tokens by 4. */
INLINE void gemm_kq(const int q6, const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,
                    int64_t ntok, int64_t cols, float *y, int64_t ldy) {
    const int64_t nb = cols / 256;
    if (ntok < 3) { gemm_kq_few(q6, W, rb, nrows, xa, xs, ntok, nb, y, ldy); return; }
    _Alignas(64) kq_block buf[2][KQ_BLOCKS];
    for (int64_t t0 = 0; t0 < ntok; t0 += KQ_TOKENS) {
        const int64_t t1 = ntok - t0 < KQ_TOKENS ? ntok : t0 + KQ_TOKENS;
        int nr;
        for (int64_t r = 0; r < nrows; r += nr) {
            nr = nrows - r < 2 ? 1 : 2;
            for (int64_t b0 = 0; b0 < nb; b0 += KQ_BLOCKS) {
                const int64_t n = nb - b0 < KQ_BLOCKS ? nb - b0 : KQ_BLOCKS;
                for (int i = 0; i < nr; i++)
                    for (int64_t b = 0; b < n; b++) kq_unpack(q6, W + (r + i) * rb, b0 + b, &buf[i][b]);
                const uint8_t *xb = xa + (size_t)b0 * sizeof(afm_act_q8k);
                float *yr = y + r;
                int64_t t = t0;
                if (nr == 2) {
                    for (; t + 4 <= t1; t += 4) kq_dot(2, 4, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                    for (; t < t1; t++) kq_dot(2, 1, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                } else {
                    for (; t + 4 <= t1; t += 4) kq_dot(1, 4, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                    for (; t < t1; t++) kq_dot(1, 1, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                }
            }
        }
    }
}

static void gemm_q4_k(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,
                      int64_t cols, float *y, int64_t ldy) {
    gemm_kq(0, W, rb, nrows, xa, xs, ntok, cols, y, ldy);
}

static void gemm_q6_k(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,
                      int64_t cols, float *y, int64_t ldy) {
    gemm_kq(1, W, rb, nrows, xa, xs, ntok, cols, y, ldy);
}

/* ------------------------------------------------------------ tables */

void afm_gemm_fill_avx512(afm_gemm_fn *fn) {
    fn[AFM_F32] = gemm_f32;
    fn[AFM_F16] = gemm_f16;
    fn[AFM_BF16] = gemm_bf16;
    fn[AFM_Q8_0] = gemm16_q8_0;
    fn[AFM_Q4_0] = gemm16_q4_0;
    fn[AFM_Q4_1] = gemm16_q4_1;
    fn[AFM_Q4_K] = gemm_q4_k;
    fn[AFM_Q6_K] = gemm_q6_k;
}

void afm_gemm_fill_packed_avx512(afm_gemm_fn *fn) {
    fn[AFM_Q8_0] = gemm16p_q8_0;
    fn[AFM_Q4_0] = gemm16p_q4_0;
    fn[AFM_Q4_1] = gemm16p_q4_1;
}
