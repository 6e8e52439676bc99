/* AVX2 + FMA + F16C matmul kernels (called only after run-time detection).
 *
 * 32-block formats (q8_0, q4_0, q5_0 signed; q4_1, q5_1 unsigned with an offset m): a
 * micro-kernel computes an NR x NT tile (weight rows x tokens) and reuses each unpacked weight
 * block for NT tokens and each activation block for NR rows. Per (row, token, block):
 *   signed:   p = maddubs(|w|, sign(x, w))   (u8 x s8 -> s16 pairs; |w| <= 127, |x| <= 127)
 *   unsigned: p = maddubs(w, x)
 *   acc[r][t] += (dw*dx) * cvt(madd(p, 1))   (8 lanes of exact int32 partial sums)
 * and for the unsigned formats sum_b m_b * dx_b * sum(qs_b) in a separate accumulator.
 * Every output is one independent chain in block order, so results do not depend on NR/NT
 * (nor on the thread split). f32/f16/bf16: NR x NT tiles of 8-wide FMAs on f32.
 * k-quants: matmul_kquant_avx2.c. */
#include "kernels/matmul_internal.h"
#include "tensor/quant_blocks.h"
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 32 nibbles -> 32 bytes 0..15 in element order (low nibbles = elements 0..15). */
INLINE __m256i nibbles32(const uint8_t *qs) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_insertf128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* The 32 bits of qh -> 32 bytes, 0xFF where the bit is set (byte i <- bit i). */
INLINE __m256i bits32(const uint8_t *qh4) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000LL, 0x0101010101010101LL, 0x0202020202020202LL,
                                            0x0303030303030303LL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

enum { T_Q8_0, T_Q4_0, T_Q5_0, T_Q4_1, T_Q5_1 };

/* Unpack block b of a weight row: *w = the 32 codes (signed types: the signed values), *d, *m. */
INLINE void unpack_block(const int type, const uint8_t *row, int64_t b, __m256i *w, float *d, float *m) {
    switch (type) {
    case T_Q8_0: {
        const afm_block_q8_0 *blk = (const afm_block_q8_0 *)row + b;
        *w = _mm256_loadu_si256((const __m256i *)blk->qs);
        *d = h2f(blk->d);
    } break;
    case T_Q4_0: {
        const afm_block_q4_0 *blk = (const afm_block_q4_0 *)row + b;
        *w = _mm256_sub_epi8(nibbles32(blk->qs), _mm256_set1_epi8(8));
        *d = h2f(blk->d);
    } break;
    case T_Q5_0: { /* q - 16 = nib | 0xF0 when the 5th bit is clear, nib when set */
        const afm_block_q5_0 *blk = (const afm_block_q5_0 *)row + b;
        __m256i hi = _mm256_andnot_si256(bits32(blk->qh), _mm256_set1_epi8((char)0xF0));
        *w = _mm256_or_si256(nibbles32(blk->qs), hi);
        *d = h2f(blk->d);
    } break;
    case T_Q4_1: {
        const afm_block_q4_1 *blk = (const afm_block_q4_1 *)row + b;
        *w = nibbles32(blk->qs);
        *d = h2f(blk->d);
        *m = h2f(blk->m);
    } break;
    case T_Q5_1: {
        const afm_block_q5_1 *blk = (const afm_block_q5_1 *)row + b;
        __m256i hi = _mm256_and_si256(bits32(blk->qh), _mm256_set1_epi8(0x10));
        *w = _mm256_or_si256(nibbles32(blk->qs), hi);
        *d = h2f(blk->d);
        *m = h2f(blk->m);
    } break;
    }
}

/* NR x NT tile over nb blocks: y[t*ldy + r] for r < NR, t < NT. */
INLINE void tile_q(const int type, const int NR, const int NT, const uint8_t *W, size_t rb, const uint8_t *xa,
                   size_t xs, int64_t nb, float *y, int64_t ldy) {
    const int is_signed = type == T_Q8_0 || type == T_Q4_0 || type == T_Q5_0;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][4];
    float macc[4][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) { acc[r][t] = _mm256_setzero_ps(); macc[r][t] = 0; }
    for (int64_t b = 0; b < nb; b++) {
        __m256i wu[4], ws[4];
        float dw[4], mw[4];
        for (int r = 0; r < NR; r++) {
            __m256i w;
            unpack_block(type, W + r * rb, b, &w, &dw[r], &mw[r]);
            if (is_signed) { wu[r] = _mm256_sign_epi8(w, w); ws[r] = w; }
            else wu[r] = w;
        }
        for (int t = 0; t < NT; t++) {
            const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs) + b;
            __m256i x = _mm256_loadu_si256((const __m256i *)a->qs);
            __m256 dx = _mm256_set1_ps(a->d);
            for (int r = 0; r < NR; r++) {
                __m256i p = is_signed ? _mm256_maddubs_epi16(wu[r], _mm256_sign_epi8(x, ws[r]))
                                      : _mm256_maddubs_epi16(wu[r], x);
                __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                acc[r][t] = _mm256_fmadd_ps(s, _mm256_mul_ps(_mm256_set1_ps(dw[r]), dx), acc[r][t]);
                if (!is_signed) macc[r][t] += mw[r] * a->ds;
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) y[t * ldy + r] = hsum8(acc[r][t]) + macc[r][t];
}

/* 3 x 3 measured fastest here (4 x 3 spills accumulators to the stack). */
#define QR 3
#define QT 3
/* Walk an nrows x ntok tile in NRM x NTM micro-tiles; leftover tokens one at a time, leftover
 * rows one at a time. */
#define GEMM_Q(name, type, NRM, NTM)                                                                            \
    static void name(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,     \
                     int64_t cols, float *y, int64_t ldy) {                                                      \
        int64_t nb = cols / 32, r = 0;                                                                           \
        for (; r + NRM <= nrows; r += NRM) {                                                                     \
            int64_t t = 0;                                                                                       \
            for (; t + NTM <= ntok; t += NTM)                                                                    \
                tile_q(type, NRM, NTM, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);               \
            for (; t < ntok; t++) tile_q(type, NRM, 1, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy); \
        }                                                                                                        \
        for (; r < nrows; r++) {                                                                                 \
            int64_t t = 0;                                                                                       \
            for (; t + NTM <= ntok; t += NTM)                                                                    \
                tile_q(type, 1, NTM, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);                 \
            for (; t < ntok; t++) tile_q(type, 1, 1, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy); \
        }                                                                                                        \
    }
GEMM_Q(gemm_q8_0, T_Q8_0, QR, QT)
GEMM_Q(gemm_q5_0, T_Q5_0, QR, QT)
GEMM_Q(gemm_q5_1, T_Q5_1, QR, QT)


/* ------------------------------------------------------------ q4_0 / q4_1, 8 rows at a time
 *
 * Lanes are rows: the 16 code bytes of block b of 8 rows are transposed so that dword lane i of
 * D[k] holds bytes 4k..4k+3 of row i. Their low nibbles are elements 4k..4k+3 and their high
 * nibbles elements 16+4k..16+4k+3, so with Wk[j] = (j < 4 ? low : high) nibbles of D[j % 4],
 * maddubs(Wk[j], broadcast(x[4j..4j+3])) adds 4 products into each row's lane. Eight such
 * steps per block sum in int16 (at most 8 * 2 * 15 * 127 = 30480, no overflow), then one
 * madd widens to int32 per row: the block's exact integer dot for 8 rows and one token.
 * q4_0 subtracts 8 * sum(x) (codes are nib - 8) exactly; q4_1 adds m * dx * sum(x).
 * Each weight block is unpacked once for NT tokens. */

INLINE void load_t8(const uint8_t *p, size_t rb, __m256i D[4]) {
    __m256i Y[4];
    for (int i = 0; i < 4; i++)
        Y[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + i * rb))),
                                       _mm_loadu_si128((const __m128i *)(p + (i + 4) * rb)), 1);
    __m256i t0 = _mm256_unpacklo_epi32(Y[0], Y[1]), t1 = _mm256_unpackhi_epi32(Y[0], Y[1]);
    __m256i t2 = _mm256_unpacklo_epi32(Y[2], Y[3]), t3 = _mm256_unpackhi_epi32(Y[2], Y[3]);
    D[0] = _mm256_unpacklo_epi64(t0, t2);
    D[1] = _mm256_unpackhi_epi64(t0, t2);
    D[2] = _mm256_unpacklo_epi64(t1, t3);
    D[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* f16 at p + i*rb for the 8 rows i -> 8 floats */
INLINE __m256 load_h8(const uint8_t *p, size_t rb) {
    uint16_t h[8];
    for (int i = 0; i < 8; i++) memcpy(&h[i], p + i * rb, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* Decode on packed matrices reads each 8-row group as one sequential stream; a software prefetch
 * QPF bytes ahead (every cache line of the block there) keeps enough misses in flight. */
enum { QPF = 1024 };
INLINE void prefetch_block(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)(p + o), _MM_HINT_T0);
}

INLINE void tile8_q4(const int type, const int PACKED, const int NT, const uint8_t *W, size_t rb, const uint8_t *xa,
                     size_t xs, int64_t nb, float *y, int64_t ldy) {
    const size_t bsz = type == T_Q4_0 ? sizeof(afm_block_q4_0) : sizeof(afm_block_q4_1);
    const size_t qoff = type == T_Q4_0 ? offsetof(afm_block_q4_0, qs) : offsetof(afm_block_q4_1, qs);
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i D[4], Wk[8];
        __m256 dw, mw = _mm256_setzero_ps();
        if (PACKED) { /* 8 d, (8 m), then D[0..3] as stored by afm_matmul_repack */
            const uint8_t *pb = W + b * 8 * bsz;
            if (NT == 1) prefetch_block(pb + QPF, 8 * bsz);
            dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pb));
            if (type == T_Q4_1) mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pb + 16)));
            const uint8_t *q = pb + (type == T_Q4_1 ? 32 : 16);
            for (int k = 0; k < 4; k++) D[k] = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
        } else {
            const uint8_t *blk = W + b * bsz;
            load_t8(blk + qoff, rb, D);
            dw = load_h8(blk, rb);
            if (type == T_Q4_1) mw = load_h8(blk + 2, rb);
        }
        for (int k = 0; k < 4; k++) {
            Wk[k] = _mm256_and_si256(D[k], m4);
            Wk[k + 4] = _mm256_and_si256(_mm256_srli_epi16(D[k], 4), m4);
        }
        for (int t = 0; t < NT; t++) {
            const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs) + b;
            __m256i s16 = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++) {
                int32_t x4;
                memcpy(&x4, a->qs + 4 * j, 4);
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(Wk[j], _mm256_set1_epi32(x4)));
            }
            __m256i s32 = _mm256_madd_epi16(s16, ones);
            if (type == T_Q4_0) s32 = _mm256_sub_epi32(s32, _mm256_set1_epi32(8 * a->sum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d)), acc[t]);
            if (type == T_Q4_1) acc[t] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&a->ds), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

/* Prefill on packed q4_0 / q4_1 (NT >= 2 tokens): the same per-(row, token, block) arithmetic as
 * tile8_q4, so the same results bit for bit, in another instruction order: code vector j (the
 * 4-byte groups j of the 8 rows, nibbles unpacked from the packed block on the fly) is multiplied
 * with token t's broadcast x[4j .. 4j+3] for all NT tokens before the next j, so only the NT int16
 * sums, the NT float accumulators and one code vector are live (6 tokens fit the 16 registers
 * without spills; the token-inner form keeps all 8 code vectors live and spills at 4). */
INLINE void tile8p_q4(const int type, const int NT, const uint8_t *W, const uint8_t *xa, size_t xs, int64_t nb,
                      float *y, int64_t ldy) {
    const size_t bsz = type == T_Q4_0 ? sizeof(afm_block_q4_0) : sizeof(afm_block_q4_1);
    const size_t head = type == T_Q4_1 ? 32 : 16;
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[6];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = W + b * 8 * bsz;
        const afm_act_q8 *a[6];
        for (int t = 0; t < NT; t++) a[t] = (const afm_act_q8 *)(xa + t * xs) + b;
        __m256i s16[6];
        for (int t = 0; t < NT; t++) s16[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i D = _mm256_loadu_si256((const __m256i *)(pb + head + 32 * (j & 3)));
            __m256i Wk = j < 4 ? _mm256_and_si256(D, m4) : _mm256_and_si256(_mm256_srli_epi16(D, 4), m4);
            for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, a[t]->qs + 4 * j, 4);
                s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(Wk, _mm256_set1_epi32(x4)));
                /* keep the sum in its register at each step: otherwise gcc hoists all 8 NT products
                 * ahead of the additions (integer sums reassociate) and spills them to the stack */
                __asm__("" : "+x"(s16[t]));
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pb));
        __m256 mw = type == T_Q4_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pb + 16))) : _mm256_setzero_ps();
        for (int t = 0; t < NT; t++) {
            __m256i s32 = _mm256_madd_epi16(s16[t], ones);
            if (type == T_Q4_0) s32 = _mm256_sub_epi32(s32, _mm256_set1_epi32(8 * a[t]->sum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw, _mm256_broadcast_ss(&a[t]->d)), acc[t]);
            if (type == T_Q4_1) acc[t] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&a[t]->ds), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

/* Rows in groups of 8, leftover rows with the one-row kernel (packed matrices keep their leftover
 * rows in the row layout too). Row layout: tokens by 4; packed: tokens by 6 (tile8p_q4), a single
 * token (decode) with tile8_q4's prefetching stream. */
INLINE void rows8_q4(const int type, const uint8_t *Wr, size_t rb, const uint8_t *xa, size_t xs, int64_t ntok,
                     int64_t nb, float *yr, int64_t ldy) {
    int64_t t = 0;
    for (; t + 4 <= ntok; t += 4) tile8_q4(type, 0, 4, Wr, rb, xa + t * xs, xs, nb, yr + t * ldy, ldy);
    switch (ntok - t) {
    case 3: tile8_q4(type, 0, 3, Wr, rb, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 2: tile8_q4(type, 0, 2, Wr, rb, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 1: tile8_q4(type, 0, 1, Wr, rb, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    default: break;
    }
}

INLINE void rows8p_q4(const int type, const uint8_t *Wr, size_t rb, const uint8_t *xa, size_t xs, int64_t ntok,
                      int64_t nb, float *yr, int64_t ldy) {
    int64_t t = 0;
    for (; t + 6 <= ntok; t += 6) tile8p_q4(type, 6, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy);
    switch (ntok - t) {
    case 5: tile8p_q4(type, 5, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 4: tile8p_q4(type, 4, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 3: tile8p_q4(type, 3, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 2: tile8p_q4(type, 2, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 1: tile8_q4(type, 1, 1, Wr, rb, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    default: break;
    }
}

#define GEMM_Q4X8(name, type, packed)                                                                           \
    static void name(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,     \
                     int64_t cols, float *y, int64_t ldy) {                                                      \
        int64_t nb = cols / 32, r = 0;                                                                           \
        for (; r + 8 <= nrows; r += 8) {                                                                         \
            const uint8_t *Wr = W + r * rb;                                                                      \
            float *yr = y + r;                                                                                   \
            if (packed) rows8p_q4(type, Wr, rb, xa, xs, ntok, nb, yr, ldy);                                      \
            else rows8_q4(type, Wr, rb, xa, xs, ntok, nb, yr, ldy);                                              \
        }                                                                                                        \
        for (; r < nrows; r++) {                                                                                 \
            int64_t t = 0;                                                                                       \
            for (; t + 3 <= ntok; t += 3) tile_q(type, 1, 3, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy); \
            for (; t < ntok; t++) tile_q(type, 1, 1, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy); \
        }                                                                                                        \
    }
GEMM_Q4X8(gemm8_q4_0, T_Q4_0, 0)
GEMM_Q4X8(gemm8_q4_1, T_Q4_1, 0)
GEMM_Q4X8(gemm8p_q4_0, T_Q4_0, 1)
GEMM_Q4X8(gemm8p_q4_1, T_Q4_1, 1)


/* ------------------------------------------------------------ packed q5_0 / q5_1, 8 rows at a time
 *
 * The packed block (afm_matmul_repack) holds the 8 rows' d, (m,) a 32-byte vector Q of their 5th
 * bits and the nibbles as for q4 (lanes are rows, code vector j = elements 4j..4j+3 of each row).
 * Bit j of Q's byte 4i + c is the 5th bit of element 4j + c of row i, so code vector j's unsigned
 * 5-bit codes are u = nib_j | (Q shifted by 4 - j) & 0x10 (a 16-bit shift: the bits it carries
 * across a byte boundary never land on bit 4). maddubs(u, broadcast x[4j..4j+3]) adds 4 products
 * per row lane; the int16 sums are widened after every 4 steps (4 * 2 * 31 * 127 = 31496 fits
 * int16, 8 steps would not), giving the block's exact integer dot sum u*x. q5_0 (codes u - 16)
 * subtracts 16 * sum(x) exactly; q5_1 adds m * dx * sum(x) as q4_1 does. Per (row, token, block)
 *   acc += float(dot) * (dw * dx)   (q5_1: then acc += m * ds)
 * in block order: the same operations for every token count (decode, NT = 1, also prefetches the
 * stream), so a row's result does not depend on the tile it was computed in. The code vector is
 * the outer loop and the NT tokens inner, as in tile8p_q4. */
INLINE __m256i q5_codes(const int j, __m256i D, __m256i Q) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    __m256i nib = j < 4 ? _mm256_and_si256(D, m4) : _mm256_and_si256(_mm256_srli_epi16(D, 4), m4);
    __m256i hb = j < 4 ? _mm256_slli_epi16(Q, 4 - j) : j == 4 ? Q : _mm256_srli_epi16(Q, j - 4);
    return _mm256_or_si256(nib, _mm256_and_si256(hb, b4));
}

INLINE void tile8p_q5(const int type, const int NT, const uint8_t *W, const uint8_t *xa, size_t xs, int64_t nb,
                      float *y, int64_t ldy) {
    const size_t bsz = type == T_Q5_0 ? sizeof(afm_block_q5_0) : sizeof(afm_block_q5_1);
    const size_t qh_at = type == T_Q5_1 ? 32 : 16, code_at = qh_at + 32;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[6];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = W + b * 8 * bsz;
        if (NT == 1) prefetch_block(pb + QPF, 8 * bsz);
        const afm_act_q8 *a[6];
        for (int t = 0; t < NT; t++) a[t] = (const afm_act_q8 *)(xa + t * xs) + b;
        const __m256i Q = _mm256_loadu_si256((const __m256i *)(pb + qh_at));
        __m256i s32[6];
        for (int h = 0; h < 2; h++) {
            __m256i s16[6];
            for (int t = 0; t < NT; t++) s16[t] = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                const int j = 4 * h + k;
                __m256i Wk = q5_codes(j, _mm256_loadu_si256((const __m256i *)(pb + code_at + 32 * k)), Q);
                for (int t = 0; t < NT; t++) {
                    int32_t x4;
                    memcpy(&x4, a[t]->qs + 4 * j, 4);
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(Wk, _mm256_set1_epi32(x4)));
                    __asm__("" : "+x"(s16[t])); /* as in tile8p_q4: no hoisted products */
                }
            }
            for (int t = 0; t < NT; t++) {
                __m256i p = _mm256_madd_epi16(s16[t], ones);
                s32[t] = h ? _mm256_add_epi32(s32[t], p) : p;
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pb));
        __m256 mw = type == T_Q5_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pb + 16))) : _mm256_setzero_ps();
        for (int t = 0; t < NT; t++) {
            __m256i s = s32[t];
            if (type == T_Q5_0) s = _mm256_sub_epi32(s, _mm256_set1_epi32(16 * a[t]->sum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_broadcast_ss(&a[t]->d)), acc[t]);
            if (type == T_Q5_1) acc[t] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&a[t]->ds), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

#ifndef Q5_NT
#define Q5_NT 4 /* tokens per tile (measured: bench_matmul -s gemma) */
#endif
INLINE void rows8p_q5(const int type, const uint8_t *Wr, const uint8_t *xa, size_t xs, int64_t ntok, int64_t nb,
                      float *yr, int64_t ldy) {
    int64_t t = 0;
    for (; t + Q5_NT <= ntok; t += Q5_NT) tile8p_q5(type, Q5_NT, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy);
    switch (ntok - t) {
    case 5: tile8p_q5(type, 5, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 4: tile8p_q5(type, 4, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 3: tile8p_q5(type, 3, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 2: tile8p_q5(type, 2, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    case 1: tile8p_q5(type, 1, Wr, xa + t * xs, xs, nb, yr + t * ldy, ldy); break;
    default: break;
    }
}

/* Packed q5: rows in groups of 8; the leftover rows (kept in the row layout) with the row kernel. */
#define GEMM_Q5X8P(name, type, rowfn)                                                                           \
    static void name(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,     \
                     int64_t cols, float *y, int64_t ldy) {                                                      \
        int64_t nb = cols / 32, r = 0;                                                                           \
        for (; r + 8 <= nrows; r += 8) rows8p_q5(type, W + r * rb, xa, xs, ntok, nb, y + r, ldy);               \
        if (r < nrows) rowfn(W + r * rb, rb, nrows - r, xa, xs, ntok, cols, y + r, ldy);                         \
    }
GEMM_Q5X8P(gemm8p_q5_0, T_Q5_0, gemm_q5_0)
GEMM_Q5X8P(gemm8p_q5_1, T_Q5_1, gemm_q5_1)

/* ------------------------------------------------------------ q8_0, 8 rows at a time
 *
 * As for q4 (lanes are rows), in two halves of 16 elements: D[k] lane i = signed bytes
 * 16h+4k .. 16h+4k+3 of row i. Signed x signed uses maddubs(|w|, sign(x, w)) per step (|w| <= 128,
 * so one step's int16 pair sums reach 32512 and must be widened with madd every step). */
INLINE void tile8_q8(const int PACKED, const int NT, const uint8_t *W, size_t rb, const uint8_t *xa, size_t xs,
                     int64_t nb, float *y, int64_t ldy) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = W + b * (PACKED ? 8 : 1) * sizeof(afm_block_q8_0);
        if (PACKED && NT == 1) prefetch_block(blk + QPF, 8 * sizeof(afm_block_q8_0));
        __m256 dw = PACKED ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)) : load_h8(blk, rb);
        __m256i s32[4];
        for (int t = 0; t < NT; t++) s32[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i D[4], A[4];
            if (PACKED)
                for (int k = 0; k < 4; k++) D[k] = _mm256_loadu_si256((const __m256i *)(blk + 16 + 128 * h + 32 * k));
            else
                load_t8(blk + offsetof(afm_block_q8_0, qs) + 16 * h, rb, D);
            for (int k = 0; k < 4; k++) A[k] = _mm256_sign_epi8(D[k], D[k]);
            for (int t = 0; t < NT; t++) {
                const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs) + b;
                for (int k = 0; k < 4; k++) {
                    int32_t x4;
                    memcpy(&x4, a->qs + 16 * h + 4 * k, 4);
                    __m256i p = _mm256_maddubs_epi16(A[k], _mm256_sign_epi8(_mm256_set1_epi32(x4), D[k]));
                    s32[t] = _mm256_add_epi32(s32[t], _mm256_madd_epi16(p, ones));
                }
            }
        }
        for (int t = 0; t < NT; t++) {
            const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs) + b;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[t]), _mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d)), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

static void gemm8_q8_0(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,
                       int64_t cols, float *y, int64_t ldy) {
    int64_t nb = cols / 32, r = 0;
    if (ntok < 2) { /* decode: the row-wise kernel needs no transposition */
        gemm_q8_0(W, rb, nrows, xa, xs, ntok, cols, y, ldy);
        return;
    }
    for (; r + 8 <= nrows; r += 8) {
        int64_t t = 0;
        for (; t + 4 <= ntok; t += 4) tile8_q8(0, 4, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);
        for (; t < ntok; t++) tile8_q8(0, 1, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);
    }
    if (r < nrows) gemm_q8_0(W + r * rb, rb, nrows - r, xa, xs, ntok, cols, y + r, ldy);
}

static void gemm8p_q8_0(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,
                        int64_t cols, float *y, int64_t ldy) {
    int64_t nb = cols / 32, r = 0;
    for (; r + 8 <= nrows; r += 8) {
        int64_t t = 0;
        for (; t + 4 <= ntok; t += 4) tile8_q8(1, 4, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);
        for (; t < ntok; t++) tile8_q8(1, 1, W + r * rb, rb, xa + t * xs, xs, nb, y + t * ldy + r, ldy);
    }
    if (r < nrows) gemm_q8_0(W + r * rb, rb, nrows - r, xa, xs, ntok, cols, y + r, ldy);
}

/* ------------------------------------------------------------ f32 / f16 / bf16 */

enum { F_F32, F_F16, F_BF16 };

INLINE __m256 load8(const int type, const uint8_t *row, int64_t i) {
    switch (type) {
    case F_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
    case F_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * i))), 16));
    default: return _mm256_loadu_ps((const float *)row + i);
    }
}

INLINE float load1(const int type, const uint8_t *row, int64_t i) {
    uint16_t h;
    switch (type) {
    case F_F16: memcpy(&h, row + 2 * i, 2); return h2f(h);
    case F_BF16: {
        memcpy(&h, row + 2 * i, 2);
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: return ((const float *)row)[i];
    }
}

/* NR x NT tile over n elements; y = (accumulate ? y : 0) + W . x */
INLINE void tile_f(const int type, const int NR, const int NT, const uint8_t *W, size_t rb, const float *x,
                   int64_t xs, int64_t n, float *y, int64_t ldy, int accumulate) {
    __m256 acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 w[4];
        for (int r = 0; r < NR; r++) w[r] = load8(type, W + r * rb, i);
        for (int t = 0; t < NT; t++) {
            __m256 xv = _mm256_loadu_ps(x + t * xs + i);
            __asm__("" : "+x"(xv)); /* keep x in a register: reused by NR FMAs, not reloaded */
            for (int r = 0; r < NR; r++) acc[r][t] = _mm256_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            float s = hsum8(acc[r][t]);
            /* explicit fmaf: the compiler may not contract one instantiation and not another
             * (NR = 3 vs 1 depends on the rows a thread claims), so results stay thread-independent */
            for (int64_t k = i; k < n; k++) s = fmaf(load1(type, W + r * rb, k), x[t * xs + k], s);
            y[t * ldy + r] = accumulate ? y[t * ldy + r] + s : s;
        }
}

INLINE void tiles_f_rows(const int type, const int NT, const uint8_t *W, size_t rb, int64_t nrows, const float *x,
                         int64_t xs, int64_t n, float *y, int64_t ldy, int accumulate) {
    int64_t r = 0;
    for (; r + 3 <= nrows; r += 3) tile_f(type, 3, NT, W + r * rb, rb, x, xs, n, y + r, ldy, accumulate);
    for (; r < nrows; r++) tile_f(type, 1, NT, W + r * rb, rb, x, xs, n, y + r, ldy, accumulate);
}

/* Decode (one token): the matrix is read once, row after row, as one sequential stream (what
 * the hardware prefetchers follow best; several rows side by side measured ~20% slower here).
 * Per row: 8 independent FMA chains over 64 elements per step, y = sum of the 8 lanes' sums.
 * A software prefetch FPF bytes ahead of the current position (past the row end it runs into
 * the next rows, which follow contiguously) touches every cache line of the step once. */
enum { FPF = 1024 };
INLINE float gemv_f_row(const int type, const uint8_t *row, const float *x, int64_t n) {
    const int64_t esz = type == F_F32 ? 4 : 2;
    __m256 acc[8];
    for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int64_t o = 0; o < 64 * esz; o += 64) _mm_prefetch((const char *)(row + i * esz + FPF + o), _MM_HINT_T0);
        for (int k = 0; k < 8; k++) acc[k] = _mm256_fmadd_ps(load8(type, row, i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load8(type, row, i), _mm256_loadu_ps(x + i), acc[0]);
    for (int k = 0; k < 4; k++) acc[k] = _mm256_add_ps(acc[k], acc[k + 4]);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) s = fmaf(load1(type, row, i), x[i], s);
    return s;
}

INLINE void gemv_f(const int type, const uint8_t *W, size_t rb, int64_t nrows, const float *x, int64_t n, float *y) {
    for (int64_t r = 0; r < nrows; r++) y[r] = gemv_f_row(type, W + r * rb, x, n);
}

#include "kernels/gemm_f_loop.h"
GEMM_F(gemm_f32, F_F32)
GEMM_F(gemm_f16, F_F16)
GEMM_F(gemm_bf16, F_BF16)

void afm_quantize_act_q8_avx2(const float *x, afm_act_q8 *a, int64_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16),
               v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        int live = amax >= 1e-30f;
        float d = live ? amax / 127.f : 0.0f, id = live ? 127.f / amax : 0.0f;
        __m256 vid = _mm256_set1_ps(id), lo = _mm256_set1_ps(-127.f), hi = _mm256_set1_ps(127.f);
#define AFM_Q8_LANE(v)                                                                                         \
    _mm256_cvtps_epi32(_mm256_min_ps(                                                                          \
        _mm256_max_ps(_mm256_round_ps(_mm256_mul_ps(v, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), lo), hi))
        __m256i q0 = AFM_Q8_LANE(v0), q1 = AFM_Q8_LANE(v1), q2 = AFM_Q8_LANE(v2), q3 = AFM_Q8_LANE(v3);
#undef AFM_Q8_LANE
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        /* int32 -> int8 in element order: packs interleave 128-bit halves, the permute undoes it */
        __m256i p16a = _mm256_packs_epi32(q0, q1), p16b = _mm256_packs_epi32(q2, q3);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)a[b].qs, p8);
        int32_t sum = _mm_cvtsi128_si32(s4);
        /* afm_act_round_f16 with F16C (same rounding: nearest even; f32 kept where f16 overflows) */
        float dsum = d * (float)sum, d16 = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT)),
              s16 = _cvtsh_ss(_cvtss_sh(dsum, _MM_FROUND_TO_NEAREST_INT));
        a[b].d = isfinite(d16) || !isfinite(d) ? d16 : d;
        a[b].ds = isfinite(s16) || !isfinite(dsum) ? s16 : dsum;
        a[b].sum = sum;
    }
}

void afm_gemm_fill_packed_avx2(afm_gemm_fn *fn) {
    fn[AFM_Q4_0] = gemm8p_q4_0;
    fn[AFM_Q4_1] = gemm8p_q4_1;
    fn[AFM_Q8_0] = gemm8p_q8_0;
    fn[AFM_Q5_0] = gemm8p_q5_0;
    fn[AFM_Q5_1] = gemm8p_q5_1;
}

void afm_gemm_fill_avx2(afm_gemm_fn *fn) {
    fn[AFM_Q8_0] = gemm8_q8_0;
    fn[AFM_Q4_0] = gemm8_q4_0;
    fn[AFM_Q5_0] = gemm_q5_0;
    fn[AFM_Q4_1] = gemm8_q4_1;
    fn[AFM_Q5_1] = gemm_q5_1;
    fn[AFM_F32] = gemm_f32;
    fn[AFM_F16] = gemm_f16;
    fn[AFM_BF16] = gemm_bf16;
    afm_gemm_fill_kquant_avx2(fn); /* matmul_kquant_avx2.c */
}
