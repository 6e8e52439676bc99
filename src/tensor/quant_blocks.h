/* ggml block layouts (../shared/reference/gguf-llamacpp.md §5), shared by the reference
 * quantizers (tensor/quant.c) and the dot-product kernels (kernels/matmul*.c).
 * Every struct has exactly ggml's size and field order; f16 fields are raw IEEE half bits. */
#ifndef AFM_TENSOR_QUANT_BLOCKS_H
#define AFM_TENSOR_QUANT_BLOCKS_H
#include <stdint.h>

#define AFM_QK 32   /* elements per block of the *_0 / *_1 formats */
#define AFM_QK_K 256 /* elements per super-block of the k-quants */

/* q8_0: x = d * qs[i] */
typedef struct { uint16_t d; int8_t qs[32]; } afm_block_q8_0;
/* q4_0: x = d * (nib - 8); byte j holds element j (low nibble) and j + 16 (high nibble) */
typedef struct { uint16_t d; uint8_t qs[16]; } afm_block_q4_0;
/* q4_1: x = d * nib + m */
typedef struct { uint16_t d, m; uint8_t qs[16]; } afm_block_q4_1;
/* q5_0: x = d * ((nib | bit4 << 4) - 16); bit j of qh (little-endian u32) is element j's 5th bit */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } afm_block_q5_0;
/* q5_1: x = d * (nib | bit4 << 4) + m */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } afm_block_q5_1;
/* q4_k: 8 sub-blocks of 32; x = d * sc[j] * nib - dmin * mn[j]; 6-bit sc/mn packed in scales[12];
 * qs: four 32-byte chunks, chunk c holds sub-block 2c (low nibbles) and 2c + 1 (high nibbles) */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } afm_block_q4_k;
/* q6_k: 16 sub-blocks of 16; x = d * scales[j] * (q6 - 32); q6 = 4 low bits (ql) | 2 high bits (qh) */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } afm_block_q6_k;

_Static_assert(sizeof(afm_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(afm_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(afm_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(afm_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(afm_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(afm_block_q4_k) == 144, "q4_k block");
_Static_assert(sizeof(afm_block_q6_k) == 210, "q6_k block");

/* The 6-bit scale and min of sub-block j (0..7) of a q4_k block (ggml's get_scale_min_k4):
 * j < 4: low 6 bits of scales[j] / scales[j+4]; j >= 4: low / high nibble of scales[j+4]
 * joined with the top 2 bits of scales[j-4] / scales[j]. */
static inline void afm_q4k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *mn = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}
#endif
