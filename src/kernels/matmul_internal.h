/* Internals shared by matmul.c (dispatch, threading, activation quantization, scalar kernels)
 * and its SIMD variants (matmul_avx2.c, ...). Not part of the public API. */
#ifndef AFM_KERNELS_MATMUL_INTERNAL_H
#define AFM_KERNELS_MATMUL_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "tensor/dtype.h"

/* Activation block for the 32-element formats (q8_0 / q8_1 dot types in one struct):
 * x[i] ~ d * qs[i], qs in [-127, 127], sum = sum(qs). The sum serves the offsets: q4_1 / q5_1
 * weights dw*q + m give sum_i (dw*q_i + m) * d*qs_i = dw*d * sum(q_i qs_i) + m * ds with
 * ds ~ d * sum, and kernels that multiply unsigned codes (nib for q4_0) subtract 8 * sum exactly in
 * integers. Rounding follows ggml's q8_0 / q8_1 blocks (the values llama.cpp computes with):
 *   amax = max |x_i|, qs_i = round_half_even(x_i * (127 / amax)),
 *   d = f16(amax / 127), ds = f16(float(amax / 127) * sum)    (f16(): round to nearest even)
 * kept here as the floats those f16 values stand for; ds is computed once per block when the
 * block is quantized, so kernels read it (and can broadcast it from memory). */
typedef struct { float d; float ds; int32_t sum; int8_t qs[32]; } afm_act_q8;
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
 * packed layouts), q4_K/q6_K; q5_0/q5_1 (row and packed) stay on the AVX2 kernels. */
void afm_gemm_fill_avx512(afm_gemm_fn *fn);
void afm_gemm_fill_packed_avx512(afm_gemm_fn *fn);
/* Packed-panel GEMM for f32 / f16 / bf16 weights (gemm_f32_avx2.c), used for T >= a threshold:
 * x is packed once into Ap (afm_gemmf_pack_x_floats(T, K) floats; token groups g0..g1-1 per
 * call, so threads can share the work), then afm_gemmf_rows_avx2 computes y[t, r] for rows
 * r0..r1-1 and all T tokens, using work (afm_gemmf_work_floats(T, K) floats, 64-byte aligned, one per
 * thread) for the converted weight panels and the tile sums. Each output is the FMA chain over
 * k in order, so results do not depend on the row split. */
#ifndef AFM_GEMMF_MR /* (overridable for tuning experiments) */
#define AFM_GEMMF_MR 4   /* tokens per micro-tile */
#define AFM_GEMMF_NR 24  /* weight rows per micro-tile */
#define AFM_GEMMF_KC 192 /* most columns per K-slice */
#define AFM_GEMMF_NC 120 /* most rows whose packed slice one thread holds */
#define AFM_GEMMF_MC 264 /* most tokens per block of tile sums */
#endif
/* floats of per-thread work space (packed weights and tile sums) for T tokens and K columns */
#define AFM_GEMMF_WORK_FLOATS (AFM_GEMMF_NC * AFM_GEMMF_KC + AFM_GEMMF_MC * AFM_GEMMF_NC)
size_t afm_gemmf_work_floats(int64_t T, int64_t K);
int64_t afm_gemmf_kc(int64_t K);
size_t afm_gemmf_pack_x_floats(int64_t T, int64_t K);
void afm_gemmf_pack_x_avx2(const float *x, int64_t T, int64_t K, int64_t g0, int64_t g1, float *Ap);
void afm_gemmf_rows_avx2(afm_dtype wt, const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t K,
                         const float *Ap, int64_t T, float *y, int64_t ldy, float *work);
/* f16 rounding of the q8 scales (matmul.c): the nearest f16 value as a float, v where it overflows */
float afm_act_round_f16(float v);
/* q8 activation quantizer (scalar) and its AVX2 twin, bit-identical to it. */
void afm_quantize_act_q8_scalar(const float *x, afm_act_q8 *a, int64_t nb);
void afm_quantize_act_q8_avx2(const float *x, afm_act_q8 *a, int64_t nb);
#endif
