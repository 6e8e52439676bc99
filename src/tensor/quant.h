/* Block quantization formats (ggml layouts, ../shared/reference/gguf-llamacpp.md §5):
 * reference quantizers and dequantizers. n is a multiple of the type's block size. */
#ifndef AFM_TENSOR_QUANT_H
#define AFM_TENSOR_QUANT_H
#include <stdint.h>
#include "afm/status.h"
#include "tensor/dtype.h"

/* dst[0..n) = dequantized src. Supported: every dtype with info->supported (f32, f16, bf16,
 * q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q6_k). */
afm_status afm_dequantize_row(afm_dtype t, const void *src, float *dst, int64_t n);
/* Quantize n floats into dst (afm_dtype_row_size(t, n) bytes), ggml-compatible reference
 * quantizers (same rounding as ggml's quantize_row_*_ref). Supported: f32, f16, bf16, q8_0,
 * q4_0, q4_1, q5_0, q5_1, q4_k, q6_k. */
afm_status afm_quantize_row(afm_dtype t, const float *src, void *dst, int64_t n);
#endif
