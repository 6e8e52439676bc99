/* Matrix multiplication with weights of any supported dtype.
 *
 *   y[t, r] = sum_c W[r, c] * x[t, c]     W: (rows, cols) in dtype wt, each row
 *                                          afm_dtype_row_size(wt, cols) bytes, rows contiguous
 *                                          x: (T, cols) f32, row stride cols
 *                                          y: (T, rows) f32, row stride rows
 *
 * T == 1 is the decode GEMV (memory-bound); T > 1 is prefill GEMM (compute-bound). Quantized
 * weights multiply activations quantized to the matching dot type (q8_0 for q4_0/q5_0/q8_0,
 * q8_1-style for q4_1/q5_1, q8_K for k-quants), as llama.cpp does; f32/f16/bf16 weights multiply
 * the f32 activations directly. Work is split over the pool's threads (rows); the SIMD level is
 * picked once at run time (base/cpu.h), capped by AFM_FORCE_ISA. Results do not depend on the
 * thread count. Scratch for the quantized activations is kept per calling thread and reused. */
#ifndef AFM_KERNELS_MATMUL_H
#define AFM_KERNELS_MATMUL_H
#include <stdbool.h>
#include <stdint.h>
#include "afm/status.h"
#include "base/cpu.h"
#include "base/threadpool.h"
#include "tensor/dtype.h"

afm_status afm_matmul(afm_pool *pool, float *y, const void *W, afm_dtype wt, int64_t rows, int64_t cols,
                      const float *x, int64_t T);

/* True if afm_matmul handles weights of this dtype. */
bool afm_matmul_supports(afm_dtype wt);

/* afm_matmul with an explicit kernel level, for tests and benchmarks. A level above what this
 * CPU supports is AFM_ERR_UNSUPPORTED; a level without a kernel for wt uses the next lower one. */
afm_status afm_matmul_isa(afm_pool *pool, afm_isa isa, float *y, const void *W, afm_dtype wt, int64_t rows,
                          int64_t cols, const float *x, int64_t T);

/* Optional load-time repacking (q4_0, q4_1, q5_0, q5_1, q8_0). afm_matmul_repack rewrites a (rows,
 * cols) matrix into dst, which has the same byte size and is either W itself (in place, e.g. on a
 * copy-on-write MAP_PRIVATE mapping, so no second copy is kept) or does not overlap it: each group of 8
 * consecutive rows becomes, block by block, the 8 scales (and the 8 offsets for q4_1 / q5_1; for
 * q5_0 / q5_1 then the rows' 5th bits, 32 bytes arranged per 4-code vector) followed by the rows'
 * code bytes interleaved in 4-byte units (the transposed form the kernels otherwise build on the
 * fly); leftover rows (rows % 8) are copied as they are to the end. Row r0 still starts at byte
 * r0 * row_bytes for r0 a multiple of 8. afm_matmul_packed multiplies such a matrix and gives
 * afm_matmul's result up to float summation order (the same per-block integer dot products; for
 * q5_0 / q5_1 the row-layout AVX2 kernel sums 8 float lanes per row instead, so the two layouts
 * differ in the last bits there). Decode streams one sequential array instead of 8 rows at once:
 * about 2x the tokens/s of afm_matmul on SmolLM2-135M Q4_1 here (AVX2); q5_0 prefill about 2.9x. */
bool afm_matmul_can_repack(afm_dtype wt);
afm_status afm_matmul_repack(afm_dtype wt, int64_t rows, int64_t cols, const void *W, void *dst);
afm_status afm_matmul_packed(afm_pool *pool, float *y, const void *Wp, afm_dtype wt, int64_t rows, int64_t cols,
                             const float *x, int64_t T);
afm_status afm_matmul_packed_isa(afm_pool *pool, afm_isa isa, float *y, const void *Wp, afm_dtype wt, int64_t rows,
                                 int64_t cols, const float *x, int64_t T);
/* Rows as part of a larger call. Which kernel a call uses can depend on its token count T, and
 * for f32 / f16 / bf16 weights that decides how each output is summed: one token is the decode
 * GEMV (8 chains of 8 lanes over 64-element steps), 2 or more the 8-lane tiles, and from
 * GEMMF_MIN_T tokens on (AVX2, enough rows) the packed GEMM's in-order chain. Quantized weights
 * sum every output the same way whatever T (per-block integer dots added in block order).
 * afm_matmul_like computes T token rows exactly as a call with T_like >= T tokens computes each of
 * its rows (bit for bit), so a forward pass can drop rows whose outputs nobody reads without
 * changing the others. packed: Wp was rewritten by afm_matmul_repack. T == T_like is afm_matmul
 * (afm_matmul_packed). */
afm_status afm_matmul_like(afm_pool *pool, bool packed, float *y, const void *W, afm_dtype wt, int64_t rows,
                           int64_t cols, const float *x, int64_t T, int64_t T_like);
/* From this many tokens (T_like) on, how every output is summed no longer depends on the token
 * count, for any weight type: the kernel is then chosen by dtype, shape and ISA alone (packed GEMM
 * or 8-lane tiles for f32 / f16 / bf16). Below it, f32 / f16 / bf16 weights may take the tiles
 * (2 or more tokens) or the decode GEMV (1) instead of the packed GEMM, and row-layout q8_0 its
 * one-token kernel. So a row computed in a call of T_like >= this many tokens gets the same bits
 * in any such call. */
#define AFM_MATMUL_UNIFORM_T 24
afm_status afm_matmul_like_isa(afm_pool *pool, afm_isa isa, bool packed, float *y, const void *W, afm_dtype wt,
                               int64_t rows, int64_t cols, const float *x, int64_t T, int64_t T_like);
/* Several products of the same activations: outs[i].y (T, rows_i) = x W_iᵀ for i < n (n <= 8),
 * x: (T, cols), each as afm_matmul_like(…, T, T_like) computes it, bit for bit. When the weights
 * multiply the same 8-bit activation format (q4_0/q8_0/q5_0, q4_1/q5_1, or the k-quants among
 * themselves), x is quantized once for all of them and their row tiles share one run over the
 * threads (Q, K, V of an attention layer; gate and up of the FFN). */
typedef struct afm_matmul_out {
    float *y;
    const void *W;     /* afm_matmul_repack output when packed */
    afm_dtype wt;
    int64_t rows;
    bool packed;
} afm_matmul_out;
afm_status afm_matmul_shared(afm_pool *pool, const afm_matmul_out *outs, int n, int64_t cols, const float *x,
                             int64_t T, int64_t T_like);
afm_status afm_matmul_shared_isa(afm_pool *pool, afm_isa isa, const afm_matmul_out *outs, int n, int64_t cols,
                                 const float *x, int64_t T, int64_t T_like);
/* Dequantizes row r of a repacked (rows, cols) matrix into out (cols floats): the same values
 * afm_dequantize_row gives for row r of the original. Lets a tied token embedding be read from
 * the packed output copy instead of faulting the mapped original back in. */
afm_status afm_matmul_packed_row(afm_dtype wt, const void *Wp, int64_t rows, int64_t cols, int64_t r, float *out);
#endif
