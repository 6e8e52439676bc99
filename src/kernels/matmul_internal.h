/* Internals shared by matmul.c (dispatch, threading, activation quantization, scalar kernels)
 * and its SIMD variants (matmul_avx2.c, ...). Not part of the public API. */
#ifndef AFM_KERNELS_MATMUL_INTERNAL_H
#define AFM_KERNELS_MATMUL_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "tensor/dtype.h"

/* Activation block for the 32-element formats (q8_0 / q8_1 dot types in one struct):
 * x[i] ~ d * qs[i], qs in [-127, 127], sum = sum(qs). The sum serves the offsets: q4_1 / q5_1
 * weights dw*q + m give sum_i (dw*q_i + m) * d*qs_i = dw*d * sum(q_i qs_i) + m * (d * sum), and
 * kernels that multiply unsigned codes (nib for q4_0) subtract 8 * sum exactly in integers. */
typedef struct { float d; int32_t sum; int8_t qs[32]; } afm_act_q8;
/* Activation block for the k-quants (ggml's q8_K): x[i] ~ d * qs[i], bsums[g] = sum of qs over
 * elements 16g .. 16g+15 (so a per-16/32 weight offset needs no second pass over qs). */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } afm_act_q8k;

typedef enum { AFM_ACT_F32, AFM_ACT_Q8, AFM_ACT_Q8K } afm_act_kind;

/* One tile: y[t*ldy + r] = sum_c W[r, c] x[t, c] for r < nrows, t < ntok.
 * W: nrows rows of row_bytes bytes; xa: ntok activation rows (xa_stride bytes apart) in the
 * weight type's activation format (f32 for f32/f16/bf16); cols: elements per row. */
typedef void (*afm_gemm_fn)(const uint8_t *W, size_t row_bytes, int64_t nrows, const uint8_t *xa,
                            size_t xa_stride, int64_t ntok, int64_t cols, float *y, int64_t ldy);

/* Fill fn[dtype] with the variant's kernels (entries it lacks stay as they are); _packed: the
 * kernels for matrices rewritten by afm_matmul_repack. */
void afm_gemm_fill_avx2(afm_gemm_fn *fn);
void afm_gemm_fill_packed_avx2(afm_gemm_fn *fn);
void afm_gemm_fill_kquant_avx2(afm_gemm_fn *fn); /* q4_k, q6_k */
/* AVX-512 (F/BW/VL/DQ + VNNI, the AFM_ISA_AVX512 level): f32/f16/bf16, q8_0/q4_0/q4_1 (row and
 * packed layouts), q4_K/q6_K; q5_0/q5_1 stay on the AVX2 kernels. */
void afm_gemm_fill_avx512(afm_gemm_fn *fn);
void afm_gemm_fill_packed_avx512(afm_gemm_fn *fn);
/* q8 activation quantizer (scalar) and its AVX2 twin, bit-identical to it. */
void afm_quantize_act_q8_scalar(const float *x, afm_act_q8 *a, int64_t nb);
void afm_quantize_act_q8_avx2(const float *x, afm_act_q8 *a, int64_t nb);
#endif
