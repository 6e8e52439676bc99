/* Packed-panel GEMM for f32 / f16 / bf16 weights (AVX2 + FMA + F16C; called only after run-time
 * detection), the GotoBLAS / BLIS scheme:
 *
 *   y[t, r] = sum_k W[r, k] x[t, k]      x: (T, K) f32, W: (R, K) row-major, y: (T, R), ldy = R
 *
 * i.e. C = A B with A = x (T x K) and B = Wᵀ (K x R). Both operands are copied into "micro-panel"
 * layouts that the register-blocked micro-kernel reads strictly sequentially:
 *   Ap: x in groups of MR = 4 tokens, [k][4] per group and K-slice (tokens past T are 0); packed
 *       once per matmul, shared by all threads.
 *   Bp: a K-slice (at most KC = 192 columns) of NR = 24 consecutive weight rows as [k][24] f32,
 *       converted from f16 / bf16 on the way (rows past R are 0); packed by the thread that owns
 *       those rows, the next slice prefetched from memory while the current one computes.
 * Micro-kernel: a 4 x 24 tile of y in 12 ymm accumulators (4 tokens x 3 vectors of 8 rows); per k
 * three 8-row loads of Bp, four broadcasts of Ap and 12 FMAs (the FMA-bound ratio; measured here
 * a little faster than 6 x 16, whose 6 broadcasts per 12 FMAs cost more).
 * Cache blocking (Zen 3 here: L1d 32 KiB, L2 512 KiB per core): one Bp micro-panel (KC x 24 x 4 =
 * 18 KiB) stays in L1 while the A micro-panels stream by; the MC-token block of Ap (<= 264 x KC x
 * 4 = 198 KiB), the NC = 120 rows of Bp (90 KiB) and the MC x NC tile sums (124 KiB) stay in L2.
 *
 * Summation order: y[t, r] is one FMA chain over k = 0, 1, ..., K-1 in order, starting from 0:
 * between K-slices the partial sum is stored and reloaded into the accumulator, which is exact.
 * So every output is bit-identical whatever the tile it falls in, the blocking, the row split and
 * the thread count. */
#include "kernels/matmul_internal.h"
#include "kernels/simd_avx2.h"
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

enum { MR = AFM_GEMMF_MR, NR = AFM_GEMMF_NR, KC_MAX = AFM_GEMMF_KC, NC = AFM_GEMMF_NC };
/* Bytes of Ap one MC block may hold (about half of L2), and at most MC_MAX tokens (the size of
 * the per-thread tile buffer). */
enum { MC_BYTES = 256 * 1024, MC_MAX = AFM_GEMMF_MC };

/* Columns per K-slice: K split into equal slices of at most KC_MAX. */
int64_t afm_gemmf_kc(int64_t K) {
    int64_t n = (K + KC_MAX - 1) / KC_MAX;
    return (K + n - 1) / n;
}

size_t afm_gemmf_pack_x_floats(int64_t T, int64_t K) {
    return (size_t)((T + MR - 1) / MR) * MR * (size_t)K;
}

/* Token groups per MC block for T tokens and K columns (equal blocks). */
static int64_t mc_groups(int64_t T, int64_t K) {
    const int64_t kcb = afm_gemmf_kc(K), ngroups = (T + MR - 1) / MR;
    int64_t mcg = MC_BYTES / (MR * kcb * (int64_t)sizeof(float)); /* token groups per MC block */
    if (mcg > MC_MAX / MR) mcg = MC_MAX / MR;
    if (mcg < 1) mcg = 1;
    int64_t nmc = (ngroups + mcg - 1) / mcg;
    return (ngroups + nmc - 1) / nmc;
}

/* Per-thread work: the converted weights (one K-slice of NC rows) and the tile sums (MC x NC). */
size_t afm_gemmf_work_floats(int64_t T, int64_t K) {
    (void)T, (void)K;
    return AFM_GEMMF_WORK_FLOATS;
}

/* ------------------------------------------------------------ packing */

/* Ap for token groups g0 .. g1-1. Slice-major, so that one K-slice of all groups is one
 * sequential stream: element (token MR g + i, column pc + k) of the slice starting at column pc
 * (width kc) is at Ap[pc * G * MR + g * kc * MR + k * MR + i], G = ceil(T / MR) groups; tokens
 * past T are 0. */
void afm_gemmf_pack_x_avx2(const float *x, int64_t T, int64_t K, int64_t g0, int64_t g1, float *Ap) {
    const int64_t kcb = afm_gemmf_kc(K), G = (T + MR - 1) / MR;
    for (int64_t g = g0; g < g1; g++) {
        const float *xg = x + g * MR * K;
        int64_t valid = T - g * MR < MR ? T - g * MR : MR;
        for (int64_t pc = 0; pc < K; pc += kcb) {
            int64_t kc = K - pc < kcb ? K - pc : kcb, k = 0;
            float *dst = Ap + pc * G * MR + g * kc * MR;
            if (valid == MR) {
                for (; k + 8 <= kc; k += 8) {
                    __m256 r[8], o[8];
                    for (int i = 0; i < 8; i++) r[i] = i < MR ? _mm256_loadu_ps(xg + i * K + pc + k) : _mm256_setzero_ps();
                    afm_transpose8_ps(r, o);
                    for (int jj = 0; jj < 8; jj++) { /* MR of the 8 floats, no store past (k + jj) */
                        float *d = dst + (k + jj) * MR;
                        if (MR == 8) _mm256_storeu_ps(d, o[jj]);
                        else {
                            _mm_storeu_ps(d, _mm256_castps256_ps128(o[jj]));
                            if (MR == 6) _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(o[jj], 1));
                        }
                    }
                }
            }
            for (; k < kc; k++)
                for (int i = 0; i < MR; i++) dst[k * MR + i] = i < valid ? xg[i * K + pc + k] : 0.0f;
        }
    }
}

/* 8 consecutive weights of one row as f32. */
INLINE __m256 load_w8(const afm_dtype wt, const uint8_t *p) {
    if (wt == AFM_F32) return _mm256_loadu_ps((const float *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (wt == AFM_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* bf16: high half of f32 */
}

INLINE float load_w1(const afm_dtype wt, const uint8_t *p) {
    if (wt == AFM_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    if (wt == AFM_F16) return _cvtsh_ss(h);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Bp for rows 0 .. nrows-1 of W (already offset to the first row and the slice's first column),
 * kc columns: panel p at Bp + p*NR*kc, element (k, i) = W[NR p + i, k] (0 for rows >= nrows). */
INLINE void pack_w(const afm_dtype wt, const uint8_t *W, size_t rb, int64_t nrows, int64_t kc, float *Bp) {
    const size_t esz = wt == AFM_F32 ? 4 : 2;
    for (int64_t r0 = 0; r0 < nrows; r0 += NR, Bp += NR * kc) {
        int64_t valid = nrows - r0 < NR ? nrows - r0 : NR, k = 0;
        const uint8_t *Wr = W + (size_t)r0 * rb;
        if (valid == NR) {
            for (; k + 8 <= kc; k += 8)
                for (int h = 0; h < NR / 8; h++) {
                    __m256 r[8], o[8];
                    for (int i = 0; i < 8; i++) r[i] = load_w8(wt, Wr + (size_t)(8 * h + i) * rb + (size_t)k * esz);
                    afm_transpose8_ps(r, o);
                    for (int jj = 0; jj < 8; jj++) _mm256_store_ps(Bp + (k + jj) * NR + 8 * h, o[jj]);
                }
        }
        for (; k < kc; k++)
            for (int i = 0; i < NR; i++)
                Bp[k * NR + i] = i < valid ? load_w1(wt, Wr + (size_t)i * rb + (size_t)k * esz) : 0.0f;
    }
}

/* ------------------------------------------------------------ micro-kernel */

/* Co[i * ldo + j] (i < MR tokens, j < NR rows) = (accumulate ? Ci[i * ldi + j] : 0)
 * + sum_k A[k][i] B[k][j], each element one FMA chain in k order. A: kc x MR, B: kc x NR (64-byte aligned). The MR x NR / 8
 * accumulators are named variables (gcc keeps an array of them in memory). */
#if AFM_GEMMF_MR == 6 && AFM_GEMMF_NR == 16
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define UK_DECL(i) __m256 c##i##0, c##i##1;
#define UK_LOAD(i) c##i##0 = _mm256_loadu_ps(Ci + i * ldi), c##i##1 = _mm256_loadu_ps(Ci + i * ldi + 8);
#define UK_ZERO(i) c##i##0 = c##i##1 = _mm256_setzero_ps();
#define UK_BLOAD __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
#define UK_FMA(i)                                                                                             \
    {                                                                                                         \
        __m256 a = _mm256_broadcast_ss(A + i);                                                                \
        c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0), c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);                 \
    }
#define UK_STORE(i) _mm256_storeu_ps(Co + i * ldo, c##i##0), _mm256_storeu_ps(Co + i * ldo + 8, c##i##1);
#elif AFM_GEMMF_MR == 4 && AFM_GEMMF_NR == 24
#define UK_ROWS(X) X(0) X(1) X(2) X(3)
#define UK_DECL(i) __m256 c##i##0, c##i##1, c##i##2;
#define UK_LOAD(i)                                                                                            \
    c##i##0 = _mm256_loadu_ps(Ci + i * ldi), c##i##1 = _mm256_loadu_ps(Ci + i * ldi + 8),                     \
    c##i##2 = _mm256_loadu_ps(Ci + i * ldi + 16);
#define UK_ZERO(i) c##i##0 = c##i##1 = c##i##2 = _mm256_setzero_ps();
#define UK_BLOAD __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8), b2 = _mm256_load_ps(B + 16);
#define UK_FMA(i)                                                                                             \
    {                                                                                                         \
        __m256 a = _mm256_broadcast_ss(A + i);                                                                \
        c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0), c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);                 \
        c##i##2 = _mm256_fmadd_ps(a, b2, c##i##2);                                                            \
    }
#define UK_STORE(i)                                                                                           \
    _mm256_storeu_ps(Co + i * ldo, c##i##0), _mm256_storeu_ps(Co + i * ldo + 8, c##i##1),                     \
        _mm256_storeu_ps(Co + i * ldo + 16, c##i##2);
#else
#error "no micro-kernel for this AFM_GEMMF_MR x AFM_GEMMF_NR"
#endif

static void ukernel(int64_t kc, const float *A, const float *B, const float *Ci, int64_t ldi, float *Co, int64_t ldo,
                    int accumulate) {
    UK_ROWS(UK_DECL)
    if (accumulate) {
        UK_ROWS(UK_LOAD)
    } else {
        UK_ROWS(UK_ZERO)
    }
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++, A += MR, B += NR) {
        UK_BLOAD
        UK_ROWS(UK_FMA)
    }
    UK_ROWS(UK_STORE)
}

/* ------------------------------------------------------------ one unit of rows */

/* y[t, r] for rows r0 .. r1-1, all T tokens. Loops, outermost first: row blocks of at most NC rows
 * (rs; equal panel counts), MC tokens (g0),
 * K-slices (pc: pack the slice of the NC rows), 24-row panels (p), 4-token groups (g). (Keeping
 * all K-slices of the NC rows across MC blocks, so that a call of more than 264 tokens converts
 * each weight once, measured no better: BENCHMARKS.md, "Prefill chunk size".) Between
 * K-slices the tile sums live in Cb (MC x NC, row stride NC): reloading them from y itself, whose
 * rows are R floats apart (often a multiple of 4 KiB), would put the 4 rows of a tile in one L1
 * set. The last slice stores whole tiles straight into y, partial ones through Cb. */
INLINE void gemmf_rows(const afm_dtype wt, const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t K,
                       const float *Ap, int64_t T, float *y, int64_t ldy, float *work) {
    const size_t esz = wt == AFM_F32 ? 4 : 2;
    const int64_t kcb = afm_gemmf_kc(K), ngroups = (T + MR - 1) / MR;
    const int64_t mcg = mc_groups(T, K);
    float *Bp = work, *Cb = work + NC * KC_MAX;
    /* NC blocks of equal panel counts (within one): 16 panels as 5 + 5 + 5 + 1 would run the last
     * panel alone, re-reading the x slices from L3 for 24 rows, so they go as 4 x 4 */
    const int64_t unit_panels = (r1 - r0 + NR - 1) / NR, nblocks = (unit_panels + NC / NR - 1) / (NC / NR);
    for (int64_t b = 0, rs = r0, rs_next; b < nblocks; b++, rs = rs_next) {
        int64_t bp = unit_panels / nblocks + (b < unit_panels % nblocks); /* panels in this block */
        rs_next = rs + bp * NR < r1 ? rs + bp * NR : r1;
        int64_t nrows = rs_next - rs, npanels = bp;
        for (int64_t g0 = 0; g0 < ngroups; g0 += mcg) {
            int64_t g1 = g0 + mcg < ngroups ? g0 + mcg : ngroups;
            for (int64_t pc = 0; pc < K; pc += kcb) {
                int64_t kc = K - pc < kcb ? K - pc : kcb;
                int last = pc + kc >= K;
                pack_w(wt, W + (size_t)rs * rb + (size_t)pc * esz, rb, nrows, kc, Bp);
                /* the slice packed next: (rs, pc + kcb), else the next MC block's or NC block's first */
                int64_t rn = rs, pn = pc + kcb;
                if (pn >= K) {
                    pn = 0;
                    if (g1 >= ngroups) rn = rs_next;
                }
                int64_t kn = K - pn < kcb ? K - pn : kcb;
                for (int64_t p = 0; p < npanels; p++) {
                    const float *B = Bp + p * NR * kc;
                    int64_t nr = nrows - p * NR < NR ? nrows - p * NR : NR;
                    /* Fetch the next slice's rows of this panel into L2 while the panel computes,
                     * so packing need not wait for memory (the weights are read once): the
                     * nlines lines are spread evenly over the panel's g1 - g0 micro-kernel calls,
                     * a few per call, rather than a burst of 24 x 6 that competes with the
                     * micro-kernel's own misses (packing is ~10% of the profile of a 2-thread
                     * AFM-3B F16 prefill, most of it waiting for the weight loads). */
                    const int64_t pr0 = rn + p * NR, pr1 = rn + (p + 1) * NR < r1 ? rn + (p + 1) * NR : r1;
                    const int64_t lpr = (kn * (int64_t)esz + 63) / 64, nlines = pr1 > pr0 ? (pr1 - pr0) * lpr : 0;
                    for (int64_t g = g0; g < g1; g++) {
                        for (int64_t l = (g - g0) * nlines / (g1 - g0); l < (g - g0 + 1) * nlines / (g1 - g0); l++)
                            _mm_prefetch((const char *)(W + (size_t)(pr0 + l / lpr) * rb + (size_t)pn * esz + (size_t)(l % lpr) * 64),
                                         _MM_HINT_T1);
                        const float *A = Ap + pc * ngroups * MR + g * kc * MR;
                        float *cb = Cb + (g - g0) * MR * NC + p * NR, *yt = y + g * MR * ldy + rs + p * NR;
                        int64_t nt = T - g * MR < MR ? T - g * MR : MR;
                        if (last && nt == MR && nr == NR) {
                            ukernel(kc, A, B, cb, NC, yt, ldy, pc > 0);
                            continue;
                        }
                        ukernel(kc, A, B, cb, NC, cb, NC, pc > 0);
                        if (last)
                            for (int64_t i = 0; i < nt; i++) memcpy(yt + i * ldy, cb + i * NC, (size_t)nr * sizeof(float));
                    }
                }
            }
        }
    }
}

void afm_gemmf_rows_avx2(afm_dtype wt, const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t K,
                         const float *Ap, int64_t T, float *y, int64_t ldy, float *work) {
    switch (wt) {
    case AFM_F16: gemmf_rows(AFM_F16, W, rb, r0, r1, K, Ap, T, y, ldy, work); break;
    case AFM_BF16: gemmf_rows(AFM_BF16, W, rb, r0, r1, K, Ap, T, y, ldy, work); break;
    default: gemmf_rows(AFM_F32, W, rb, r0, r1, K, Ap, T, y, ldy, work); break;
    }
}
