/* AVX2 + FMA + F16C matmul kernels (called only after run-time detection). */
#include "kernels/matmul_internal.h"
#include <immintrin.h>

void afm_gemm_fill_avx2(afm_gemm_fn *fn) { (void)fn; }
