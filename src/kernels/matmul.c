/* afm_matmul: argument checks, ISA dispatch, threading, activation quantization and the scalar
 * reference kernels. Each scalar kernel computes every block's integer dot product exactly and
 * then scales it, in block order, so SIMD variants (which reorder only the float sums) agree
 * with it to float rounding. */
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "base/error.h"
#include "base/mem.h"
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* ------------------------------------------------------------ activation quantization */

/* Round to nearest, ties to even, for |v| < 2^22: adding and subtracting 1.5 * 2^23 leaves the
 * rounded value (the FPU's default mode). Same result as nearbyintf, without a libm call. */
static inline float round_even(float v) {
    const float big = 12582912.f; /* not folded away: IEEE arithmetic is not reassociated */
    return (v + big) - big;
}

/* The nearest f16 value (ties to even) as a float; v itself where that overflows f16 (ggml would
 * store inf there: activations beyond 127 * 65504 keep their f32 scale here). */
float afm_act_round_f16(float v) {
    float r = afm_f16_to_f32(afm_f32_to_f16(v));
    return isfinite(r) || !isfinite(v) ? r : v;
}

/* q8 (32-blocks), ggml's rules (matmul_internal.h): qs = round-half-even(x * 127/amax),
 * d = f16(amax/127), s = f16((amax/127) * sum(qs)). The same operations in every variant (all ISAs
 * share this code), so the quantized activations are identical everywhere. */
void afm_quantize_act_q8_scalar(const float *x, afm_act_q8 *a, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 32) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        /* Blocks below 1e-30 count as zero (their scale is 0 in f16 anyway); the clamp keeps
         * NaN / inf inputs defined (NaN -> -127), identically in the SIMD twin. */
        bool live = amax >= 1e-30f;
        float d = live ? amax / 127.f : 0.0f, id = live ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            int q = (int)fminf(fmaxf(round_even(x[i] * id), -127.f), 127.f);
            a[b].qs[i] = (int8_t)q;
            sum += q;
        }
        a[b].d = afm_act_round_f16(d);
        a[b].ds = afm_act_round_f16(d * (float)sum);
        a[b].sum = sum;
    }
}

/* q8_K (256-blocks, ggml's quantize_row_q8_K_ref): the signed extreme maps to -127. */
static void quantize_act_q8k(const float *x, afm_act_q8k *a, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 256) {
        float max = 0, amax = 0;
        for (int i = 0; i < 256; i++)
            if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
        if (!(amax >= 1e-30f) || amax > 3e38f) { /* zero, subnormal, NaN or inf: a zero block */
            memset(&a[b], 0, sizeof a[b]);
            continue;
        }
        float iscale = -127.f / max;
        for (int i = 0; i < 256; i++) {
            /* clamp to [-127, 127], NaN (a NaN element, which amax skips) to -127: what
             * fminf(fmaxf(v, -127), 127) gives, without the libm calls gcc keeps for them */
            float v = round_even(iscale * x[i]);
            int q = v >= -127.f ? (v <= 127.f ? (int)v : 127) : -127;
            a[b].qs[i] = (int8_t)q;
        }
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += a[b].qs[16 * g + i];
            a[b].bsums[g] = (int16_t)s;
        }
        a[b].d = 1 / iscale;
    }
}

static afm_act_kind act_kind(afm_dtype wt) {
    switch (wt) {
    case AFM_Q8_0: case AFM_Q4_0: case AFM_Q4_1: case AFM_Q5_0: case AFM_Q5_1: return AFM_ACT_Q8;
    case AFM_Q4_K: case AFM_Q6_K: return AFM_ACT_Q8K;
    default: return AFM_ACT_F32;
    }
}

/* Bytes of one quantized activation row of `cols` elements. */
static size_t act_row_bytes(afm_act_kind k, int64_t cols) {
    switch (k) {
    case AFM_ACT_Q8: return (size_t)(cols / 32) * sizeof(afm_act_q8);
    case AFM_ACT_Q8K: return (size_t)(cols / 256) * sizeof(afm_act_q8k);
    default: return (size_t)cols * sizeof(float);
    }
}

static void quantize_act_row(afm_isa isa, afm_act_kind k, const float *x, uint8_t *dst, int64_t cols) {
#if defined(__x86_64__)
    if (k == AFM_ACT_Q8 && isa >= AFM_ISA_AVX2) {
        afm_quantize_act_q8_avx2(x, (afm_act_q8 *)dst, cols / 32);
        return;
    }
#else
    (void)isa;
#endif
    if (k == AFM_ACT_Q8) afm_quantize_act_q8_scalar(x, (afm_act_q8 *)dst, cols / 32);
    else if (k == AFM_ACT_Q8K) quantize_act_q8k(x, (afm_act_q8k *)dst, cols / 256);
}

/* ------------------------------------------------------------ scalar kernels */

static float f16(uint16_t h) { return afm_f16_to_f32(h); }

/* Integer dot of 32 weights w[i] (already as small ints) with activation qs. */
static inline int32_t idot32(const int *w, const int8_t *q) {
    int32_t s = 0;
    for (int i = 0; i < 32; i++) s += w[i] * q[i];
    return s;
}

/* Unpack 32 nibble codes (element j: low nibble of byte j, element j+16: high nibble). */
static inline void unpack_nib(const uint8_t *qs, int *w, int offset) {
    for (int j = 0; j < 16; j++) {
        w[j] = (qs[j] & 0xF) - offset;
        w[j + 16] = (qs[j] >> 4) - offset;
    }
}

static inline void unpack_5bit(const uint8_t *qs, const uint8_t *qh4, int *w, int offset) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; j++) {
        w[j] = ((qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - offset;
        w[j + 16] = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - offset;
    }
}

static float dot_q8_0(const uint8_t *wr, const afm_act_q8 *a, int64_t nb) {
    const afm_block_q8_0 *w = (const afm_block_q8_0 *)wr;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += w[b].qs[i] * a[b].qs[i];
        acc += f16(w[b].d) * a[b].d * (float)s;
    }
    return acc;
}

static float dot_q4_0(const uint8_t *wr, const afm_act_q8 *a, int64_t nb) {
    const afm_block_q4_0 *w = (const afm_block_q4_0 *)wr;
    float acc = 0;
    int q[32];
    for (int64_t b = 0; b < nb; b++) {
        unpack_nib(w[b].qs, q, 8);
        acc += f16(w[b].d) * a[b].d * (float)idot32(q, a[b].qs);
    }
    return acc;
}

static float dot_q4_1(const uint8_t *wr, const afm_act_q8 *a, int64_t nb) {
    const afm_block_q4_1 *w = (const afm_block_q4_1 *)wr;
    float acc = 0;
    int q[32];
    for (int64_t b = 0; b < nb; b++) {
        unpack_nib(w[b].qs, q, 0);
        acc += f16(w[b].d) * a[b].d * (float)idot32(q, a[b].qs) + f16(w[b].m) * a[b].ds;
    }
    return acc;
}

static float dot_q5_0(const uint8_t *wr, const afm_act_q8 *a, int64_t nb) {
    const afm_block_q5_0 *w = (const afm_block_q5_0 *)wr;
    float acc = 0;
    int q[32];
    for (int64_t b = 0; b < nb; b++) {
        unpack_5bit(w[b].qs, w[b].qh, q, 16);
        acc += f16(w[b].d) * a[b].d * (float)idot32(q, a[b].qs);
    }
    return acc;
}

static float dot_q5_1(const uint8_t *wr, const afm_act_q8 *a, int64_t nb) {
    const afm_block_q5_1 *w = (const afm_block_q5_1 *)wr;
    float acc = 0;
    int q[32];
    for (int64_t b = 0; b < nb; b++) {
        unpack_5bit(w[b].qs, w[b].qh, q, 0);
        acc += f16(w[b].d) * a[b].d * (float)idot32(q, a[b].qs) + f16(w[b].m) * a[b].ds;
    }
    return acc;
}

/* q4_k: per super-block, isum = sum_j sc_j * sum_{i in j} nib_i qs_i and
 * msum = sum_j mn_j * (bsums[2j] + bsums[2j+1]); contribution d*ad*isum - dmin*ad*msum. */
static float dot_q4_k(const uint8_t *wr, const afm_act_q8k *a, int64_t nb) {
    const afm_block_q4_k *w = (const afm_block_q4_k *)wr;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, mn;
            afm_q4k_scale_min(j, w[b].scales, &sc, &mn);
            const uint8_t *q = w[b].qs + 32 * (j / 2);
            const int8_t *x = a[b].qs + 32 * j;
            int32_t s = 0;
            for (int i = 0; i < 32; i++) s += ((j & 1) ? (q[i] >> 4) : (q[i] & 0xF)) * x[i];
            isum += sc * s;
            msum += mn * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        acc += f16(w[b].d) * a[b].d * (float)isum - f16(w[b].dmin) * a[b].d * (float)msum;
    }
    return acc;
}

/* q6_k: isum = sum over 16 groups g of scales[g] * sum_{i in g} (q6_i - 32) qs_i. */
static float dot_q6_k(const uint8_t *wr, const afm_act_q8k *a, int64_t nb) {
    const afm_block_q6_k *w = (const afm_block_q6_k *)wr;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        int q[256];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                q[128 * h + l] = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                q[128 * h + l + 32] = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                q[128 * h + l + 64] = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                q[128 * h + l + 96] = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
        }
        int32_t isum = 0;
        for (int g = 0; g < 16; g++) {
            int32_t s = 0;
            for (int i = 0; i < 16; i++) s += q[16 * g + i] * a[b].qs[16 * g + i];
            isum += w[b].scales[g] * s;
        }
        acc += f16(w[b].d) * a[b].d * (float)isum;
    }
    return acc;
}

static float dot_f32(const uint8_t *wr, const float *x, int64_t n) {
    const float *w = (const float *)wr;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += w[i] * x[i];
    return acc;
}

static float dot_f16(const uint8_t *wr, const float *x, int64_t n) {
    const uint16_t *w = (const uint16_t *)wr;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += f16(w[i]) * x[i];
    return acc;
}

static float dot_bf16(const uint8_t *wr, const float *x, int64_t n) {
    const uint16_t *w = (const uint16_t *)wr;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += afm_bf16_to_f32(w[i]) * x[i];
    return acc;
}

/* Generic scalar tile from a row-times-activation dot function. */
#define SCALAR_GEMM(name, dotfn, acttype, nunits)                                                      \
    static void name(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,        \
                     int64_t ntok, int64_t cols, float *y, int64_t ldy) {                               \
        for (int64_t t = 0; t < ntok; t++)                                                            \
            for (int64_t r = 0; r < nrows; r++)                                                       \
                y[t * ldy + r] = dotfn(W + r * rb, (const acttype *)(xa + t * xs), nunits);           \
    }
SCALAR_GEMM(gemm_q8_0_scalar, dot_q8_0, afm_act_q8, cols / 32)
SCALAR_GEMM(gemm_q4_0_scalar, dot_q4_0, afm_act_q8, cols / 32)
SCALAR_GEMM(gemm_q4_1_scalar, dot_q4_1, afm_act_q8, cols / 32)
SCALAR_GEMM(gemm_q5_0_scalar, dot_q5_0, afm_act_q8, cols / 32)
SCALAR_GEMM(gemm_q5_1_scalar, dot_q5_1, afm_act_q8, cols / 32)
SCALAR_GEMM(gemm_q4_k_scalar, dot_q4_k, afm_act_q8k, cols / 256)
SCALAR_GEMM(gemm_q6_k_scalar, dot_q6_k, afm_act_q8k, cols / 256)
SCALAR_GEMM(gemm_f32_scalar, dot_f32, float, cols)
SCALAR_GEMM(gemm_f16_scalar, dot_f16, float, cols)
SCALAR_GEMM(gemm_bf16_scalar, dot_bf16, float, cols)

/* ------------------------------------------------------------ repacked weights */

/* Packed layout (afm_matmul_repack): per group of 8 rows and block b, at offset
 * (g * nb + b) * 8 * block_bytes: the 8 rows' d (f16), for q4_1 / q5_1 the 8 m, for q5_0 / q5_1
 * the 8 rows' 5th bits (32 bytes, below), then the code bytes:
 * q4_0/q4_1/q5_0/q5_1: 128 bytes, byte 32k + 4i + c = qs[4k + c] of row i (k, c < 4), so the
 *   low nibbles of bytes 32k .. 32k+31 are elements 4k + c of the 8 rows and their high nibbles
 *   elements 16 + 4k + c: code vector j (0..7) holds elements 4j + c;
 * q8_0: 256 bytes, byte 128h + 32k + 4i + c = qs[16h + 4k + c] of row i (h < 2).
 * 5th bits: bit j of byte 4i + c = bit 4j + c of row i's qh (element 4j + c), i.e. the bits code
 * vector j needs, at bit j of the byte that code sits in (a shift by 4 - j and a mask put them in
 * place). Leftover rows (rows % 8) follow in the row layout. */
static bool has_m(afm_dtype wt) { return wt == AFM_Q4_1 || wt == AFM_Q5_1; }
static bool has_qh(afm_dtype wt) { return wt == AFM_Q5_0 || wt == AFM_Q5_1; }
static size_t packed_qh_at(afm_dtype wt) { return has_m(wt) ? 32 : 16; } /* offset of the 5th bits */
static size_t packed_head(afm_dtype wt) { return packed_qh_at(wt) + (has_qh(wt) ? 32 : 0); }
static size_t block_code_at(afm_dtype wt) { return (has_m(wt) ? 4 : 2) + (has_qh(wt) ? 4 : 0); } /* qs in a block */
static size_t block_ncode(afm_dtype wt) { return wt == AFM_Q8_0 ? 32 : 16; }

static size_t packed_code_index(afm_dtype wt, int i, int j) { /* row i, code byte j of the block */
    if (wt == AFM_Q8_0) return (size_t)(128 * (j / 16) + 32 * ((j % 16) / 4) + 4 * i + j % 4);
    return (size_t)(32 * (j / 4) + 4 * i + j % 4);
}

/* Row i's qh (4 bytes, little-endian: bit e = element e's 5th bit) <-> its 4 bytes of the packed
 * 5th-bit vector q (bit j of q[c] = bit 4j + c). */
static void qh_to_packed(const uint8_t *qh4, uint8_t *q) {
    uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 | (uint32_t)qh4[3] << 24;
    for (int c = 0; c < 4; c++) {
        uint8_t v = 0;
        for (int j = 0; j < 8; j++) v |= (uint8_t)(((qh >> (4 * j + c)) & 1u) << j);
        q[c] = v;
    }
}
static void qh_from_packed(const uint8_t *q, uint8_t *qh4) {
    uint32_t qh = 0;
    for (int c = 0; c < 4; c++)
        for (int j = 0; j < 8; j++) qh |= (uint32_t)((q[c] >> j) & 1u) << (4 * j + c);
    for (int k = 0; k < 4; k++) qh4[k] = (uint8_t)(qh >> (8 * k));
}

/* Rebuild row i's block from a packed 8-row block. */
static void unpack_block(afm_dtype wt, const uint8_t *pb, int i, uint8_t *blk) {
    size_t head = packed_head(wt), ncode = block_ncode(wt), off = block_code_at(wt);
    memcpy(blk, pb + 2 * i, 2);                          /* d */
    if (has_m(wt)) memcpy(blk + 2, pb + 16 + 2 * i, 2);  /* m */
    if (has_qh(wt)) qh_from_packed(pb + packed_qh_at(wt) + 4 * i, blk + off - 4);
    for (size_t j = 0; j < ncode; j++) blk[off + j] = pb[head + packed_code_index(wt, i, (int)j)];
}

static float dot_block(afm_dtype wt, const uint8_t *blk, const afm_act_q8 *a) {
    switch (wt) {
    case AFM_Q4_0: return dot_q4_0(blk, a, 1);
    case AFM_Q4_1: return dot_q4_1(blk, a, 1);
    case AFM_Q5_0: return dot_q5_0(blk, a, 1);
    case AFM_Q5_1: return dot_q5_1(blk, a, 1);
    default: return dot_q8_0(blk, a, 1);
    }
}

static afm_gemm_fn row_scalar(afm_dtype wt) { /* the row-layout kernel of a packable type */
    switch (wt) {
    case AFM_Q4_0: return gemm_q4_0_scalar;
    case AFM_Q4_1: return gemm_q4_1_scalar;
    case AFM_Q5_0: return gemm_q5_0_scalar;
    case AFM_Q5_1: return gemm_q5_1_scalar;
    default: return gemm_q8_0_scalar;
    }
}

/* Scalar reference on the packed layout: the same per-block terms, summed in the same order,
 * as the row-layout scalar kernel. */
static void gemm_packed_scalar(afm_dtype wt, const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,
                               int64_t ntok, int64_t cols, float *y, int64_t ldy) {
    int64_t nb = cols / 32, r = 0;
    size_t bsz = (size_t)afm_dtype_get((uint32_t)wt)->type_size;
    uint8_t blk[64];
    for (; r + 8 <= nrows; r += 8)
        for (int i = 0; i < 8; i++)
            for (int64_t t = 0; t < ntok; t++) {
                const afm_act_q8 *a = (const afm_act_q8 *)(xa + t * xs);
                float acc = 0;
                for (int64_t b = 0; b < nb; b++) {
                    unpack_block(wt, W + r * rb + (size_t)b * 8 * bsz, i, blk);
                    acc += dot_block(wt, blk, a + b);
                }
                y[t * ldy + r + i] = acc;
            }
    if (r < nrows) row_scalar(wt)(W + r * rb, rb, nrows - r, xa, xs, ntok, cols, y + r, ldy);
}
static void gemmp_q4_0_scalar(const uint8_t *W, size_t rb, int64_t n, const uint8_t *xa, size_t xs, int64_t nt,
                              int64_t cols, float *y, int64_t ldy) {
    gemm_packed_scalar(AFM_Q4_0, W, rb, n, xa, xs, nt, cols, y, ldy);
}
static void gemmp_q4_1_scalar(const uint8_t *W, size_t rb, int64_t n, const uint8_t *xa, size_t xs, int64_t nt,
                              int64_t cols, float *y, int64_t ldy) {
    gemm_packed_scalar(AFM_Q4_1, W, rb, n, xa, xs, nt, cols, y, ldy);
}
static void gemmp_q5_0_scalar(const uint8_t *W, size_t rb, int64_t n, const uint8_t *xa, size_t xs, int64_t nt,
                              int64_t cols, float *y, int64_t ldy) {
    gemm_packed_scalar(AFM_Q5_0, W, rb, n, xa, xs, nt, cols, y, ldy);
}
static void gemmp_q5_1_scalar(const uint8_t *W, size_t rb, int64_t n, const uint8_t *xa, size_t xs, int64_t nt,
                              int64_t cols, float *y, int64_t ldy) {
    gemm_packed_scalar(AFM_Q5_1, W, rb, n, xa, xs, nt, cols, y, ldy);
}
static void gemmp_q8_0_scalar(const uint8_t *W, size_t rb, int64_t n, const uint8_t *xa, size_t xs, int64_t nt,
                              int64_t cols, float *y, int64_t ldy) {
    gemm_packed_scalar(AFM_Q8_0, W, rb, n, xa, xs, nt, cols, y, ldy);
}

bool afm_matmul_can_repack(afm_dtype wt) {
    return wt == AFM_Q4_0 || wt == AFM_Q4_1 || wt == AFM_Q5_0 || wt == AFM_Q5_1 || wt == AFM_Q8_0;
}

afm_status afm_matmul_repack(afm_dtype wt, int64_t rows, int64_t cols, const void *W, void *dst) {
    if (!afm_matmul_can_repack(wt))
        return afm_error(AFM_ERR_UNSUPPORTED, "matmul repack: type %s has no packed layout (q4_0, q4_1, q5_0, q5_1, q8_0 do)",
                         afm_dtype_name((uint32_t)wt));
    if (!W || !dst) return afm_error(AFM_ERR_INVALID_ARG, "matmul repack: NULL pointer argument");
    size_t rb = afm_dtype_row_size(wt, cols), total;
    if (rows <= 0 || cols <= 0 || rb == 0)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul repack %s: bad shape (%lld, %lld), cols must be a multiple of 32",
                         afm_dtype_name((uint32_t)wt), (long long)rows, (long long)cols);
    if (!afm_mul_ok(rb, (size_t)rows, &total)) return afm_error(AFM_ERR_RANGE, "matmul repack: size overflows");
    const uint8_t *src = W;
    uint8_t *out = dst;
    bool in_place = out == src;
    if (!in_place && out < src + total && src < out + total)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul repack: source and destination overlap (only dst == W may)");
    int64_t nb = cols / 32, full = rows / 8 * 8;
    size_t bsz = (size_t)afm_dtype_get((uint32_t)wt)->type_size, head = packed_head(wt);
    size_t ncode = block_ncode(wt), off = block_code_at(wt);
    /* A group of 8 packed rows occupies exactly the bytes of its 8 source rows, so in place it is
     * enough to copy each group aside first. */
    uint8_t *tmp = NULL;
    if (in_place && full > 0 && !(tmp = afm_alloc(8 * rb)))
        return afm_error(AFM_ERR_NOMEM, "matmul repack: out of memory for %zu bytes", 8 * rb);
    for (int64_t r = 0; r < full; r += 8) {
        const uint8_t *g = src + r * rb;
        if (in_place) {
            memcpy(tmp, g, 8 * rb);
            g = tmp;
        }
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *pb = out + r * rb + (size_t)b * 8 * bsz;
            for (int i = 0; i < 8; i++) {
                const uint8_t *blk = g + i * rb + (size_t)b * bsz;
                memcpy(pb + 2 * i, blk, 2);
                if (has_m(wt)) memcpy(pb + 16 + 2 * i, blk + 2, 2);
                if (has_qh(wt)) qh_to_packed(blk + off - 4, pb + packed_qh_at(wt) + 4 * i);
                for (size_t j = 0; j < ncode; j++) pb[head + packed_code_index(wt, i, (int)j)] = blk[off + j];
            }
        }
    }
    afm_free(tmp);
    if (!in_place) memcpy(out + full * rb, src + full * rb, (size_t)(rows - full) * rb);
    return AFM_OK;
}

afm_status afm_matmul_packed_row(afm_dtype wt, const void *Wp, int64_t rows, int64_t cols, int64_t r, float *out) {
    if (!afm_matmul_can_repack(wt))
        return afm_error(AFM_ERR_UNSUPPORTED, "packed row: type %s has no packed layout", afm_dtype_name((uint32_t)wt));
    size_t rb = afm_dtype_row_size(wt, cols);
    if (!Wp || !out || rb == 0 || r < 0 || r >= rows)
        return afm_error(AFM_ERR_INVALID_ARG, "packed row %lld of a (%lld, %lld) %s matrix: bad argument", (long long)r,
                         (long long)rows, (long long)cols, afm_dtype_name((uint32_t)wt));
    const uint8_t *W = Wp;
    int64_t full = rows / 8 * 8;
    if (r >= full) return afm_dequantize_row(wt, W + (size_t)r * rb, out, cols); /* leftover rows: row layout */
    size_t bsz = (size_t)afm_dtype_get((uint32_t)wt)->type_size;
    const uint8_t *group = W + (size_t)(r / 8 * 8) * rb;
    uint8_t blk[64];
    for (int64_t b = 0; b < cols / 32; b++) {
        unpack_block(wt, group + (size_t)b * 8 * bsz, (int)(r % 8), blk);
        AFM_TRY(afm_dequantize_row(wt, blk, out + b * 32, 32));
    }
    return AFM_OK;
}

/* ------------------------------------------------------------ dispatch tables */

static afm_gemm_fn g_tables[3][AFM_DTYPE_COUNT], g_packed[3][AFM_DTYPE_COUNT];
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    afm_gemm_fn *s = g_tables[AFM_ISA_SCALAR];
    s[AFM_F32] = gemm_f32_scalar;
    s[AFM_F16] = gemm_f16_scalar;
    s[AFM_BF16] = gemm_bf16_scalar;
    s[AFM_Q8_0] = gemm_q8_0_scalar;
    s[AFM_Q4_0] = gemm_q4_0_scalar;
    s[AFM_Q4_1] = gemm_q4_1_scalar;
    s[AFM_Q5_0] = gemm_q5_0_scalar;
    s[AFM_Q5_1] = gemm_q5_1_scalar;
    s[AFM_Q4_K] = gemm_q4_k_scalar;
    s[AFM_Q6_K] = gemm_q6_k_scalar;
    /* Each level starts from the one below and overrides what it implements. */
    memcpy(g_tables[AFM_ISA_AVX2], s, sizeof g_tables[0]);
#if defined(__x86_64__)
    afm_gemm_fill_avx2(g_tables[AFM_ISA_AVX2]);
#endif
    /* AFM_ISA_AVX512 is only selected on CPUs with AVX-512 F/BW/VL/DQ and VNNI (base/cpu.c), all
     * of which its kernels use; what it lacks (q5_0, q5_1) stays on AVX2. */
    memcpy(g_tables[AFM_ISA_AVX512], g_tables[AFM_ISA_AVX2], sizeof g_tables[0]);
#if defined(__x86_64__)
    afm_gemm_fill_avx512(g_tables[AFM_ISA_AVX512]);
#endif
    afm_gemm_fn *p = g_packed[AFM_ISA_SCALAR];
    p[AFM_Q4_0] = gemmp_q4_0_scalar;
    p[AFM_Q4_1] = gemmp_q4_1_scalar;
    p[AFM_Q5_0] = gemmp_q5_0_scalar;
    p[AFM_Q5_1] = gemmp_q5_1_scalar;
    p[AFM_Q8_0] = gemmp_q8_0_scalar;
    memcpy(g_packed[AFM_ISA_AVX2], p, sizeof g_packed[0]);
#if defined(__x86_64__)
    afm_gemm_fill_packed_avx2(g_packed[AFM_ISA_AVX2]);
#endif
    memcpy(g_packed[AFM_ISA_AVX512], g_packed[AFM_ISA_AVX2], sizeof g_packed[0]);
#if defined(__x86_64__)
    afm_gemm_fill_packed_avx512(g_packed[AFM_ISA_AVX512]);
#endif
}

bool afm_matmul_supports(afm_dtype wt) {
    pthread_once(&g_tables_once, init_tables);
    return (unsigned)wt < AFM_DTYPE_COUNT && g_tables[AFM_ISA_SCALAR][wt] != NULL;
}

/* ------------------------------------------------------------ per-thread scratch */

/* The quantized activations live in a buffer owned by the calling thread, grown as needed and
 * freed when the thread exits (no allocation per call once it is large enough). */
typedef struct { void *p; size_t cap; } scratch;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *p) {
    scratch *s = p;
    afm_free(s->p);
    afm_free(s);
}
static void scratch_init(void) { (void)pthread_key_create(&g_scratch_key, scratch_free); }

static void *scratch_get(size_t n) {
    pthread_once(&g_scratch_once, scratch_init);
    scratch *s = pthread_getspecific(g_scratch_key);
    if (!s) {
        s = afm_calloc(sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(g_scratch_key, s) != 0) { afm_free(s); return NULL; }
    }
    if (s->cap < n) {
        size_t cap = n + n / 4;
        void *p = afm_alloc(cap);
        if (!p) return NULL;
        afm_free(s->p);
        s->p = p;
        s->cap = cap;
    }
    return s->p;
}

/* ------------------------------------------------------------ threading */

/* Threads take rows in units of whole groups of 8 (the widest row tile of any kernel), so every
 * output is computed by the same code path whatever the thread count and whichever thread takes
 * its unit. With several threads the units (about UNITS_PER_THREAD per thread) are claimed from a
 * shared counter: a thread that starts late (woken late, or descheduled on a busy machine) takes
 * fewer units instead of making the others wait for it. */
enum { ROW_GROUP = 8, UNITS_PER_THREAD = 4 };

typedef struct {
    afm_gemm_fn fn;
    afm_isa isa;
    afm_act_kind kind;
    const uint8_t *W;
    size_t row_bytes;
    int64_t rows, cols, T, tok_chunk, unit_rows;
    int nunits;
    atomic_int next;
    const float *x;
    uint8_t *xa;
    size_t xa_stride;
    float *y;
} mm_job;

static void quantize_job(void *p, int ith, int nth) {
    mm_job *j = p;
    long lo, hi;
    afm_split_range((long)j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
        quantize_act_row(j->isa, j->kind, j->x + t * j->cols, j->xa + t * j->xa_stride, j->cols);
}

/* Rows r0..r1-1 for all tokens, in chunks of tok_chunk tokens, so a chunk's activations stay in
 * cache while the unit's rows stream by. */
static void gemm_unit(const mm_job *j, int64_t r0, int64_t r1) {
    for (int64_t t0 = 0; t0 < j->T; t0 += j->tok_chunk) {
        int64_t nt = j->T - t0 < j->tok_chunk ? j->T - t0 : j->tok_chunk;
        j->fn(j->W + (size_t)r0 * j->row_bytes, j->row_bytes, r1 - r0, j->xa + (size_t)t0 * j->xa_stride,
              j->xa_stride, nt, j->cols, j->y + t0 * j->rows + r0, j->rows);
    }
}

static void gemm_job(void *p, int ith, int nth) {
    (void)ith;
    mm_job *j = p;
    if (nth == 1) {
        gemm_unit(j, 0, j->rows);
        return;
    }
    for (int u; (u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->nunits;) {
        int64_t r0 = (int64_t)u * j->unit_rows, r1 = r0 + j->unit_rows < j->rows ? r0 + j->unit_rows : j->rows;
        gemm_unit(j, r0, r1);
    }
}

/* ------------------------------------------------------------ packed-panel GEMM (f32 / f16 / bf16)
 *
 * The float-weight types go to gemm_f32_avx2.c when T >= GEMMF_MIN_T and the matrix is not a few
 * rows against long columns: x is packed once (token groups split over the threads), then threads
 * claim units of rows from a shared counter as above. Every output is one FMA chain over k in
 * order (see gemm_f32_avx2.c), so results do not depend on the thread count or on which thread
 * takes a unit. Below about 24 tokens, or for the attention P V product (hd rows, n columns),
 * packing both operands costs more than it saves and the tiled kernels are faster (measured). */
enum { GEMMF_MIN_T = AFM_MATMUL_UNIFORM_T, GEMMF_MIN_ROWS = 192, GEMMF_MAX_COLS_FEW_ROWS = 256 };

typedef struct {
    afm_dtype wt;
    const uint8_t *W;
    size_t row_bytes;
    int64_t rows, cols, T;
    int nunits;
    atomic_int next;
    const float *x;
    float *y, *Ap, *work;
    size_t work_floats; /* per thread, a multiple of 16 */
} gemmf_job;

#if defined(__x86_64__)
static void gemmf_pack_job(void *p, int ith, int nth) {
    gemmf_job *j = p;
    long lo, hi;
    afm_split_range((long)((j->T + AFM_GEMMF_MR - 1) / AFM_GEMMF_MR), ith, nth, &lo, &hi);
    afm_gemmf_pack_x_avx2(j->x, j->T, j->cols, lo, hi, j->Ap);
}

static void gemmf_rows_job(void *p, int ith, int nth) {
    (void)nth;
    gemmf_job *j = p;
    float *work = j->work + (size_t)ith * j->work_floats;
    const long npanels = (long)((j->rows + AFM_GEMMF_NR - 1) / AFM_GEMMF_NR);
    for (int u; (u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->nunits;) {
        long p0, p1; /* unit u: panels [p0, p1), the panels split as evenly as whole panels allow */
        afm_split_range(npanels, u, j->nunits, &p0, &p1);
        int64_t r0 = (int64_t)p0 * AFM_GEMMF_NR, r1 = (int64_t)p1 * AFM_GEMMF_NR < j->rows ? (int64_t)p1 * AFM_GEMMF_NR : j->rows;
        afm_gemmf_rows_avx2(j->wt, j->W, j->row_bytes, r0, r1, j->cols, j->Ap, j->T, j->y, j->rows, work);
    }
}

static afm_status gemmf_run(afm_pool *pool, float *y, const void *W, afm_dtype wt, int64_t rows, int64_t cols,
                            const float *x, int64_t T) {
    int nth = afm_pool_size(pool);
    size_t ap = afm_gemmf_pack_x_floats(T, cols), bp = afm_gemmf_work_floats(T, cols), total;
    ap = (ap + 15) / 16 * 16; /* keeps the work buffers after it 64-byte aligned */
    bp = (bp + 15) / 16 * 16;
    if (!afm_mul_ok(bp, (size_t)nth, &total) || !afm_add_ok(total, ap, &total) ||
        !afm_mul_ok(total, sizeof(float), &total))
        return afm_error(AFM_ERR_RANGE, "matmul: packing buffer size overflows (T %lld, cols %lld)", (long long)T,
                         (long long)cols);
    float *buf = scratch_get(total);
    if (!buf) return afm_error(AFM_ERR_NOMEM, "matmul: out of memory for %zu bytes of packed operands", total);
    gemmf_job j = {.wt = wt, .W = W, .row_bytes = afm_dtype_row_size(wt, cols), .rows = rows, .cols = cols, .T = T,
                   .x = x, .y = y, .Ap = buf, .work = buf + ap, .work_floats = bp};
    afm_pool_run(pool, gemmf_pack_job, &j);
    /* UNITS_PER_THREAD units per thread (one with one thread), each a run of whole NR-row panels,
     * their panel counts differing by at most one: units rounded up to whole panels left a short
     * last unit (1024 rows at 2 threads: 7 x 144 + 16), so one thread did 12% more than the other. */
    int64_t npanels = (rows + AFM_GEMMF_NR - 1) / AFM_GEMMF_NR, target = nth == 1 ? 1 : (int64_t)nth * UNITS_PER_THREAD;
    j.nunits = (int)(target < npanels ? target : npanels);
    atomic_init(&j.next, 0);
    afm_pool_run(pool, gemmf_rows_job, &j);
    return AFM_OK;
}
#endif

static _Atomic int g_best_isa = -1;

/* Checks one product's arguments (AFM_OK: valid). */
static afm_status check_args(bool packed, float *y, const void *W, afm_dtype wt, int64_t rows, int64_t cols,
                             const float *x, int64_t T, int64_t T_like) {
    pthread_once(&g_tables_once, init_tables);
    const afm_dtype_info *info = afm_dtype_get((uint32_t)wt);
    if (!info || !g_tables[AFM_ISA_SCALAR][wt])
        return afm_error(AFM_ERR_UNSUPPORTED, "matmul: weight type %s is not supported", afm_dtype_name((uint32_t)wt));
    if (packed && !g_packed[AFM_ISA_SCALAR][wt])
        return afm_error(AFM_ERR_UNSUPPORTED, "matmul: weight type %s has no packed layout", info->name);
    if (!y || !W || !x) return afm_error(AFM_ERR_INVALID_ARG, "matmul: NULL pointer argument");
    if (rows <= 0 || cols <= 0 || T <= 0)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul: shape (rows %lld, cols %lld, T %lld) must be positive",
                         (long long)rows, (long long)cols, (long long)T);
    if (cols % info->block)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul: %s weights need cols a multiple of %d, got %lld", info->name,
                         info->block, (long long)cols);
    if (T_like < T)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul: %lld rows cannot be computed as part of %lld", (long long)T,
                         (long long)T_like);
    return AFM_OK;
}

/* Whether the product goes to the packed-panel f32/f16/bf16 GEMM (gemmf_run) */
static bool uses_gemmf(afm_isa isa, bool packed, afm_dtype wt, int64_t rows, int64_t cols, int64_t T_like) {
#if defined(__x86_64__)
    /* (at the AVX-512 level only for types without an AVX-512 kernel of their own) */
    return !packed && isa >= AFM_ISA_AVX2 && g_tables[isa][wt] == g_tables[AFM_ISA_AVX2][wt] &&
           act_kind(wt) == AFM_ACT_F32 && T_like >= GEMMF_MIN_T &&
           (rows >= GEMMF_MIN_ROWS || cols <= GEMMF_MAX_COLS_FEW_ROWS);
#else
    (void)isa; (void)packed; (void)wt; (void)rows; (void)cols; (void)T_like;
    return false;
#endif
}

/* The kernels with a one-token path of their own that sums differently (afm_matmul_like):
 * f32/f16/bf16 (the decode GEMV) and q8_0 in the row layout (the row-wise kernel instead of the
 * 8-row tiles). There one row of a larger call runs as two tokens that both read the same
 * activation row (stride 0) into scratch, and row 0 is kept. */
static bool one_as_two(bool packed, afm_dtype wt, int64_t T, int64_t T_like) {
    return (act_kind(wt) == AFM_ACT_F32 || (wt == AFM_Q8_0 && !packed)) && T == 1 && T_like > 1;
}

/* A row-tile job for y = x Wᵀ on activations xa already in the weight type's format; y_one: the
 * scratch of a one_as_two product. */
static void setup_job(mm_job *j, afm_isa isa, bool packed, float *y, const void *W, afm_dtype wt, int64_t rows,
                      int64_t cols, const float *x, int64_t T, int nth, uint8_t *xa, float *y_one) {
    *j = (mm_job){.fn = packed ? g_packed[isa][wt] : g_tables[isa][wt], .isa = isa, .kind = act_kind(wt), .W = W,
                  .row_bytes = afm_dtype_row_size(wt, cols), .rows = rows, .cols = cols, .T = T, .x = x, .y = y,
                  .xa = xa};
    j->xa_stride = act_row_bytes(j->kind, cols);
    if (y_one) {
        j->T = 2;
        j->y = y_one;
        j->xa_stride = 0;
    }
    /* Token chunk for the quantized kernels (rows outer, tokens inner): a chunk's activation rows
     * stay within ~256 KiB (L2). The f32/f16/bf16 kernels block K, rows and tokens themselves. */
    int64_t chunk = j->xa_stride ? (int64_t)((256 * 1024) / j->xa_stride) : 64;
    j->tok_chunk = j->kind == AFM_ACT_F32 ? j->T : chunk < 4 ? 4 : chunk > 64 ? 64 : chunk;
    int64_t ngroups = (rows + ROW_GROUP - 1) / ROW_GROUP;
    int64_t nunits = ngroups < nth * UNITS_PER_THREAD ? ngroups : nth * UNITS_PER_THREAD;
    j->unit_rows = (ngroups + nunits - 1) / nunits * ROW_GROUP;
    j->nunits = (int)((rows + j->unit_rows - 1) / j->unit_rows);
    atomic_init(&j->next, 0);
}

/* Scratch for T quantized activation rows of `kind` (none for f32) followed by, if two_rows, a
 * (2, rows) output; *xa_bytes: the size of the first part (64-byte aligned). */
static afm_status get_scratch(afm_act_kind kind, int64_t cols, int64_t T, bool two_rows, int64_t rows,
                              uint8_t **scr, size_t *xa_bytes) {
    size_t xb = 0, yb = 0, bytes;
    if (kind != AFM_ACT_F32 && !afm_mul_ok(act_row_bytes(kind, cols), (size_t)T, &xb))
        return afm_error(AFM_ERR_RANGE, "matmul: activation buffer size overflows");
    xb = (xb + 63) & ~(size_t)63;
    if (two_rows && !afm_mul_ok((size_t)rows, 2 * sizeof(float), &yb))
        return afm_error(AFM_ERR_RANGE, "matmul: output buffer size overflows");
    if (!afm_add_ok(xb, yb, &bytes)) return afm_error(AFM_ERR_RANGE, "matmul: scratch size overflows");
    *scr = bytes ? scratch_get(bytes) : NULL;
    if (bytes && !*scr)
        return afm_error(AFM_ERR_NOMEM, "matmul: out of memory for %zu bytes of quantized activations / outputs", bytes);
    *xa_bytes = xb;
    return AFM_OK;
}

/* x quantized into xa (T rows of the kind's format), over the pool's threads */
static void quantize_all(afm_pool *pool, afm_isa isa, afm_act_kind kind, const float *x, int64_t T, int64_t cols,
                         uint8_t *xa) {
    mm_job q = {.isa = isa, .kind = kind, .x = x, .T = T, .cols = cols, .xa = xa, .xa_stride = act_row_bytes(kind, cols)};
    if (T == 1) quantize_job(&q, 0, 1);
    else afm_pool_run(pool, quantize_job, &q);
}

static afm_status matmul_run(afm_pool *pool, afm_isa isa, bool packed, float *y, const void *W, afm_dtype wt,
                             int64_t rows, int64_t cols, const float *x, int64_t T, int64_t T_like) {
    AFM_TRY(check_args(packed, y, W, wt, rows, cols, x, T, T_like));
#if defined(__x86_64__)
    if (uses_gemmf(isa, packed, wt, rows, cols, T_like)) return gemmf_run(pool, y, W, wt, rows, cols, x, T);
#endif
    afm_act_kind kind = act_kind(wt);
    bool two = one_as_two(packed, wt, T, T_like);
    uint8_t *scr;
    size_t xa_bytes;
    AFM_TRY(get_scratch(kind, cols, T, two, rows, &scr, &xa_bytes));
    uint8_t *xa = kind == AFM_ACT_F32 ? (uint8_t *)(uintptr_t)x : scr;
    if (kind != AFM_ACT_F32) quantize_all(pool, isa, kind, x, T, cols, xa);
    float *y_one = two ? (float *)(void *)(scr + xa_bytes) : NULL;
    mm_job j;
    setup_job(&j, isa, packed, y, W, wt, rows, cols, x, T, afm_pool_size(pool), xa, y_one);
    afm_pool_run(pool, gemm_job, &j);
    if (y_one) memcpy(y, y_one, (size_t)rows * sizeof(float));
    return AFM_OK;
}

/* ------------------------------------------------------------ several products of one x */

enum { MAX_SHARED = 8 };

typedef struct {
    mm_job *jobs;
    int n;
    int first[MAX_SHARED + 1]; /* job i's units are first[i] .. first[i+1]-1 of the shared count */
    atomic_int next;
} multi_job;

static void multi_gemm_job(void *p, int ith, int nth) {
    (void)ith;
    multi_job *m = p;
    if (nth == 1) {
        for (int i = 0; i < m->n; i++) gemm_unit(&m->jobs[i], 0, m->jobs[i].rows);
        return;
    }
    for (int u; (u = atomic_fetch_add_explicit(&m->next, 1, memory_order_relaxed)) < m->first[m->n];) {
        int i = 0;
        while (u >= m->first[i + 1]) i++;
        const mm_job *j = &m->jobs[i];
        int64_t r0 = (int64_t)(u - m->first[i]) * j->unit_rows, r1 = r0 + j->unit_rows < j->rows ? r0 + j->unit_rows : j->rows;
        gemm_unit(j, r0, r1);
    }
}

static afm_status matmul_shared_run(afm_pool *pool, afm_isa isa, const afm_matmul_out *outs, int n, int64_t cols,
                                    const float *x, int64_t T, int64_t T_like) {
    if (n < 1 || n > MAX_SHARED || !outs)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul: %d products of one input (1 to %d)", n, MAX_SHARED);
    for (int i = 0; i < n; i++)
        AFM_TRY(check_args(outs[i].packed, outs[i].y, outs[i].W, outs[i].wt, outs[i].rows, cols, x, T, T_like));
    /* shared: all quantize x the same way, and none takes another route (f32 GEMM, one row as two) */
    afm_act_kind kind = act_kind(outs[0].wt);
    bool shared = n > 1 && kind != AFM_ACT_F32;
    for (int i = 0; i < n && shared; i++)
        shared = act_kind(outs[i].wt) == kind && !one_as_two(outs[i].packed, outs[i].wt, T, T_like);
    if (!shared) {
        for (int i = 0; i < n; i++)
            AFM_TRY(matmul_run(pool, isa, outs[i].packed, outs[i].y, outs[i].W, outs[i].wt, outs[i].rows, cols, x, T,
                               T_like));
        return AFM_OK;
    }
    uint8_t *xa;
    size_t xa_bytes;
    AFM_TRY(get_scratch(kind, cols, T, false, 0, &xa, &xa_bytes));
    quantize_all(pool, isa, kind, x, T, cols, xa);
    mm_job jobs[MAX_SHARED];
    multi_job m = {.jobs = jobs, .n = n};
    int nth = afm_pool_size(pool);
    for (int i = 0; i < n; i++) {
        setup_job(&jobs[i], isa, outs[i].packed, outs[i].y, outs[i].W, outs[i].wt, outs[i].rows, cols, x, T, nth, xa, NULL);
        m.first[i + 1] = m.first[i] + jobs[i].nunits;
    }
    atomic_init(&m.next, 0);
    afm_pool_run(pool, multi_gemm_job, &m);
    return AFM_OK;
}

static afm_status check_isa(afm_isa isa) {
    if ((int)isa < 0 || isa > AFM_ISA_AVX512)
        return afm_error(AFM_ERR_INVALID_ARG, "matmul: unknown ISA level %d", (int)isa);
    afm_isa best = afm_isa_best();
    if (isa > best)
        return afm_error(AFM_ERR_UNSUPPORTED, "matmul: ISA %s is not available on this CPU (best: %s)",
                         afm_isa_name(isa), afm_isa_name(best));
    return AFM_OK;
}

static afm_isa cached_best(void) {
    int isa = atomic_load_explicit(&g_best_isa, memory_order_relaxed);
    if (isa < 0) {
        isa = (int)afm_isa_best();
        atomic_store_explicit(&g_best_isa, isa, memory_order_relaxed);
    }
    return (afm_isa)isa;
}

afm_status afm_matmul_isa(afm_pool *pool, afm_isa isa, float *y, const void *W, afm_dtype wt, int64_t rows,
                          int64_t cols, const float *x, int64_t T) {
    AFM_TRY(check_isa(isa));
    return matmul_run(pool, isa, false, y, W, wt, rows, cols, x, T, T);
}

afm_status afm_matmul(afm_pool *pool, float *y, const void *W, afm_dtype wt, int64_t rows, int64_t cols,
                      const float *x, int64_t T) {
    return matmul_run(pool, cached_best(), false, y, W, wt, rows, cols, x, T, T);
}

afm_status afm_matmul_packed_isa(afm_pool *pool, afm_isa isa, float *y, const void *Wp, afm_dtype wt, int64_t rows,
                                 int64_t cols, const float *x, int64_t T) {
    AFM_TRY(check_isa(isa));
    return matmul_run(pool, isa, true, y, Wp, wt, rows, cols, x, T, T);
}

afm_status afm_matmul_packed(afm_pool *pool, float *y, const void *Wp, afm_dtype wt, int64_t rows, int64_t cols,
                             const float *x, int64_t T) {
    return matmul_run(pool, cached_best(), true, y, Wp, wt, rows, cols, x, T, T);
}

afm_status afm_matmul_like_isa(afm_pool *pool, afm_isa isa, bool packed, float *y, const void *W, afm_dtype wt,
                               int64_t rows, int64_t cols, const float *x, int64_t T, int64_t T_like) {
    AFM_TRY(check_isa(isa));
    return matmul_run(pool, isa, packed, y, W, wt, rows, cols, x, T, T_like);
}

afm_status afm_matmul_like(afm_pool *pool, bool packed, float *y, const void *W, afm_dtype wt, int64_t rows,
                           int64_t cols, const float *x, int64_t T, int64_t T_like) {
    return matmul_run(pool, cached_best(), packed, y, W, wt, rows, cols, x, T, T_like);
}

afm_status afm_matmul_shared(afm_pool *pool, const afm_matmul_out *outs, int n, int64_t cols, const float *x,
                             int64_t T, int64_t T_like) {
    return matmul_shared_run(pool, cached_best(), outs, n, cols, x, T, T_like);
}

afm_status afm_matmul_shared_isa(afm_pool *pool, afm_isa isa, const afm_matmul_out *outs, int n, int64_t cols,
                                 const float *x, int64_t T, int64_t T_like) {
    AFM_TRY(check_isa(isa));
    return matmul_shared_run(pool, isa, outs, n, cols, x, T, T_like);
}
