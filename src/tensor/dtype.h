/* Element types, numbered as GGUF's ggml_type ids so files map to them directly.
 * Quantized types store blocks of `block` elements in `type_size` bytes (layouts: ggml, see
 * ../shared/reference/gguf-llamacpp.md §5 and src/tensor/quant.h). */
#ifndef AFM_TENSOR_DTYPE_H
#define AFM_TENSOR_DTYPE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

typedef enum afm_dtype {
    AFM_F32 = 0, AFM_F16 = 1, AFM_Q4_0 = 2, AFM_Q4_1 = 3, AFM_Q5_0 = 6, AFM_Q5_1 = 7,
    AFM_Q8_0 = 8, AFM_Q8_1 = 9, AFM_Q2_K = 10, AFM_Q3_K = 11, AFM_Q4_K = 12, AFM_Q5_K = 13,
    AFM_Q6_K = 14, AFM_Q8_K = 15, AFM_I8 = 24, AFM_I16 = 25, AFM_I32 = 26, AFM_I64 = 27,
    AFM_F64 = 28, AFM_BF16 = 30,
    AFM_DTYPE_COUNT = 43
} afm_dtype;

typedef struct afm_dtype_info {
    const char *name;  /* "f32", "q4_0", ... (NULL: unknown / retired id) */
    int block;         /* elements per block */
    int type_size;     /* bytes per block */
    bool supported;    /* afm can compute with it (dequantize / dot product) */
} afm_dtype_info;

const afm_dtype_info *afm_dtype_get(uint32_t type); /* NULL if the id is unknown */
const char *afm_dtype_name(uint32_t type);          /* "unknown(N)" style for bad ids */
int afm_dtype_from_name(const char *name);          /* -1 if unknown */
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t afm_dtype_row_size(afm_dtype t, int64_t n);

/* IEEE half and bfloat16 <-> float. */
float afm_f16_to_f32(uint16_t h);
uint16_t afm_f32_to_f16(float f);   /* round to nearest even */
static inline float afm_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t afm_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);                                       /* round to nearest even */
    return (uint16_t)(u >> 16);
}
#endif
