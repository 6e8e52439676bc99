/* AVX2 + FMA micro-kernel for afm_gemm: a 6 x 16 tile of C in 12 ymm accumulators; with the
 * two B vectors and two broadcast registers that is all 16 ymm registers. Per k step: 2 aligned
 * loads of the packed B panel (kc x 16, which stays in L1 across the row panels), 6 broadcasts
 * from the packed A panel (kc x 6, streamed from L2, prefetched a few steps ahead) and 12
 * independent FMAs, enough to cover the FMA latency on two pipes. The k loop is unrolled by 4.
 * Called only when base/cpu.h reports AVX2 and FMA. */
#include "model/train_gemm.h"
#include <immintrin.h>

enum { NR = AFM_GEMM_NR_AVX2 };

void afm_gemm_ukernel_avx2(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a = ap, *b = bp;
    for (int r = 0; r < mr; r++) { _mm_prefetch((const char *)(c + r * c_rs), _MM_HINT_T0); _mm_prefetch((const char *)(c + r * c_rs + NR - 1), _MM_HINT_T0); }
    /* The k loop in assembly with fixed registers: the 12 accumulators are asm operands (the
     * compiler puts them in ymm0-11, since ymm12-15 are clobbered), B in ymm12/13, the A
     * broadcasts alternate between ymm14/15. Written with intrinsics, gcc 12 spilled two
     * accumulators to the stack inside the loop (store-to-load forwarding on the critical FMA
     * chain, ~15% of the kernel's time). Same sums in the same order as the C loop it replaced:
     * acc(r, j) += a[k*6 + r] * b[k*16 + j] for k = 0, 1, ... (one FMA per step). */
    long k4 = kc / 4, kr = kc % 4;
    __asm__ volatile(
        "test %[k4], %[k4]\n\t"
        "jz 2f\n\t"
        ".p2align 5\n"
        "1:\n\t"
        "prefetcht0 384(%[a])\n\t"
        "vmovaps 0(%[b]), %%ymm12\n\t"
        "vmovaps 32(%[b]), %%ymm13\n\t"
        "vbroadcastss 0(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t"
        "vbroadcastss 4(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"
        "vbroadcastss 8(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t"
        "vbroadcastss 12(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"
        "vbroadcastss 16(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t"
        "vbroadcastss 20(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"
        "vmovaps 64(%[b]), %%ymm12\n\t"
        "vmovaps 96(%[b]), %%ymm13\n\t"
        "vbroadcastss 24(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t"
        "vbroadcastss 28(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"
        "vbroadcastss 32(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t"
        "vbroadcastss 36(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"
        "vbroadcastss 40(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t"
        "vbroadcastss 44(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"
        "vmovaps 128(%[b]), %%ymm12\n\t"
        "vmovaps 160(%[b]), %%ymm13\n\t"
        "vbroadcastss 48(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t"
        "vbroadcastss 52(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"
        "vbroadcastss 56(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t"
        "vbroadcastss 60(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"
        "vbroadcastss 64(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t"
        "vbroadcastss 68(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"
        "vmovaps 192(%[b]), %%ymm12\n\t"
        "vmovaps 224(%[b]), %%ymm13\n\t"
        "vbroadcastss 72(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t"
        "vbroadcastss 76(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"
        "vbroadcastss 80(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t"
        "vbroadcastss 84(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"
        "vbroadcastss 88(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t"
        "vbroadcastss 92(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"
        "add $96, %[a]\n\t"
        "add $256, %[b]\n\t"
        "dec %[k4]\n\t"
        "jnz 1b\n"
        "2:\n\t"
        : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4),
          [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
          [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
        :
        : "ymm12", "ymm13", "ymm14", "ymm15", "cc", "memory");
    if (kr) { /* the last kc % 4 steps */
        k4 = kr;
        __asm__ volatile(
        "3:\n\t"
        "vmovaps 0(%[b]), %%ymm12\n\t"
        "vmovaps 32(%[b]), %%ymm13\n\t"
        "vbroadcastss 0(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t"
        "vbroadcastss 4(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"
        "vbroadcastss 8(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t"
        "vbroadcastss 12(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"
        "vbroadcastss 16(%[a]), %%ymm14\n\t"
        "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t"
        "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t"
        "vbroadcastss 20(%[a]), %%ymm15\n\t"
        "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"
        "add $24, %[a]\n\t"
        "add $64, %[b]\n\t"
        "dec %[k4]\n\t"
        "jnz 3b\n\t"
        : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4),
          [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
          [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
        :
        : "ymm12", "ymm13", "ymm14", "ymm15", "cc", "memory");
    }
    if (mr == AFM_GEMM_MR && nr == NR) { /* full tile: add/store straight into C */
#define ROW(r, lo, hi) do { float *p = c + (r) * c_rs; __m256 x0 = lo, x1 = hi; \
        if (add) { x0 = _mm256_add_ps(x0, _mm256_loadu_ps(p)); x1 = _mm256_add_ps(x1, _mm256_loadu_ps(p + 8)); } \
        _mm256_storeu_ps(p, x0); _mm256_storeu_ps(p + 8, x1); } while (0)
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
#undef ROW
        return;
    }
    _Alignas(32) float tile[AFM_GEMM_MR][NR];
    _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
    _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
    _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
    _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
    _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
    _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
    for (int r = 0; r < mr; r++) {
        float *p = c + r * c_rs;
        for (int j = 0; j < nr; j++) p[j] = (add ? p[j] : 0.0f) + tile[r][j];
    }
}
