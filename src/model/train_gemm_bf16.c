/* Panel rewrite for the bf16 micro-kernel (train_gemm_bf16_avx512.c), portable C so it is
 * testable anywhere: a packed f32 panel (kc rows of w floats, k-major: p[k*w + j]) becomes, in
 * place, (kc+1)/2 rows of w dwords, dword q*w + j = bf16(p[2q*w + j]) in the low half and
 * bf16(p[(2q+1)*w + j]) in the high half (0 past kc), rounded to nearest even as
 * afm_f32_to_bf16 does. In place works because pair q reads floats [2qw, 2qw + 2w) and writes
 * dwords [qw, qw + w): at or below its own read range (read first, into row[]) and past every
 * range read before it. */
#include "model/train_gemm.h"
#include "tensor/dtype.h"
#include <stdint.h>
#include <string.h>

void afm_gemm_pairs_bf16(float *p, long panels, int w, long kc) {
    long pairs = (kc + 1) / 2;
    for (long s = 0; s < panels; s++) {
        float *panel = p + s * (long)w * kc;
        uint32_t *out = (uint32_t *)(void *)panel;
        for (long q = 0; q < pairs; q++) {
            uint32_t row[64]; /* w <= 32: both source rows read before the pair row is written */
            for (int j = 0; j < w; j++) {
                uint32_t lo = (uint32_t)afm_f32_to_bf16(panel[2 * q * w + j]);
                uint32_t hi = 2 * q + 1 < kc ? (uint32_t)afm_f32_to_bf16(panel[(2 * q + 1) * w + j]) : 0u;
                row[j] = lo | hi << 16;
            }
            memcpy(out + q * w, row, sizeof(uint32_t) * (size_t)w);
        }
    }
}


/* Packing straight into bf16 pairs (one pass, half the bytes of an f32 panel): element (k, j) of
 * the block is src[k*s_k + j*s_j] for k < kc, j < n (0 elsewhere); panel p (columns p*w ..) lies
 * at dst + p*w*pairs, pairs = (kc+1)/2, dword q*w + j = bf16(e(2q, j)) | bf16(e(2q+1, j)) << 16. */
void afm_gemm_pack_pairs(uint32_t *dst, int w, long n, const float *src, long s_j, long s_k, long kc) {
    long pairs = (kc + 1) / 2;
    for (long p = 0; p * w < n; p++) {
        uint32_t *out = dst + p * w * pairs;
        for (long q = 0; q < pairs; q++)
            for (int j = 0; j < w; j++) {
                long col = p * w + j;
                uint32_t lo = 0, hi = 0;
                if (col < n) {
                    lo = afm_f32_to_bf16(src[2 * q * s_k + col * s_j]);
                    if (2 * q + 1 < kc) hi = afm_f32_to_bf16(src[(2 * q + 1) * s_k + col * s_j]);
                }
                out[q * w + j] = lo | hi << 16;
            }
    }
}
