/* The f32 / f16 / bf16 GEMM loop shared by the AVX2 and AVX-512 kernel files (matmul_avx2.c,
 * matmul_avx512.c). The including file defines, before including this header:
 *   gemv_f(type, W, rb, nrows, x, n, y)                      one token: y[r] = W[r] . x
 *   tiles_f_rows(type, NT, W, rb, nrows, x, xs, n, y, ldy, acc)  NT tokens x nrows rows of
 *        y(t, r) = (acc ? y(t, r) : 0) + W[r] . x(t)
 * and the element types F_F32 / F_F16 / F_BF16. GEMM_F(name, type) then defines the kernel
 * name(W, rb, nrows, xa, xsb, ntok, cols, y, ldy) of the afm_gemm_fn table for that type.
 *
 * Loop order: K chunks of FKC elements, blocks of FRB rows, then 4 tokens. A 4-token slice of x
 * (4 * FKC * 4 bytes = 16 KiB) stays in L1 while the block's weight rows (FRB * FKC * 2..4 bytes
 * <= 192 KiB) stay in L2 for all the token groups; the partial sums of each K chunk are added
 * into y. */
#ifndef AFM_KERNELS_GEMM_F_LOOP_H
#define AFM_KERNELS_GEMM_F_LOOP_H

enum { FKC = 1024, FRB = 48 };
#define GEMM_F(name, type)                                                                                      \
    static void name(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xsb, int64_t ntok,    \
                     int64_t cols, float *y, int64_t ldy) {                                                      \
        const float *x = (const float *)xa;                                                                      \
        int64_t xs = (int64_t)(xsb / sizeof(float)), esz = type == F_F32 ? 4 : 2;                                 \
        if (ntok == 1) {                                                                                         \
            gemv_f(type, W, rb, nrows, x, cols, y);                                                              \
            return;                                                                                              \
        }                                                                                                        \
        for (int64_t k0 = 0; k0 < cols; k0 += FKC) {                                                             \
            int64_t kn = cols - k0 < FKC ? cols - k0 : FKC;                                                      \
            int acc = k0 > 0;                                                                                    \
            for (int64_t r0 = 0; r0 < nrows; r0 += FRB) {                                                        \
                int64_t nr = nrows - r0 < FRB ? nrows - r0 : FRB;                                                \
                const uint8_t *Wk = W + r0 * rb + k0 * esz;                                                      \
                int64_t t = 0;                                                                                   \
                for (; t + 4 <= ntok; t += 4)                                                                    \
                    tiles_f_rows(type, 4, Wk, rb, nr, x + t * xs + k0, xs, kn, y + t * ldy + r0, ldy, acc);      \
                for (; t < ntok; t++)                                                                            \
                    tiles_f_rows(type, 1, Wk, rb, nr, x + t * xs + k0, xs, kn, y + t * ldy + r0, ldy, acc);      \
            }                                                                                                    \
        }                                                                                                        \
    }

#endif
