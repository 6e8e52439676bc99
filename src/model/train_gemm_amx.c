/* bf16 compute for afm_gemm on Intel AMX (AMX-TILE + AMX-BF16): C (M, Nc) (+)= A (M, K) · B (K, Nc)
 * with A and B rounded to bfloat16 as they are packed (round to nearest even, exactly
 * afm_f32_to_bf16) and f32 accumulation. Called from afm_gemm (train_gemm.c) only when
 * afm_amx_bf16_usable() (base/cpu.h) says the CPU has the tiles and the OS granted them.
 *
 * TDPBF16PS tC, tA, tB (Intel SDM): tA is 16 rows x 16 dwords, each dword a pair of bf16 along k
 * (row m holds A(m, k0 .. k0+31) in order); tB is 16 rows (pairs q) x 16 dwords (columns n), dword
 * (q, n) = bf16 B(k0+2q, n) | bf16 B(k0+2q+1, n) << 16; tC is 16 x 16 f32 and gets
 * C(m, n) += sum over the 32 k of A(m, k) B(k, n): per (m, n) the even-k and the odd-k products
 * are summed separately in f32 (each product of two bf16 is exact), then both sums are added to
 * C; inputs and results that are f32 subnormals count as 0.
 *
 * Packing (per thread, in the f32 packing buffers of afm_gemm_ws, which are large enough):
 *  - A block (mc <= AMX_MC rows, kc <= AMX_KC): row-major bf16, each row kcp = kc rounded up to
 *    32 values long (zeros past kc), rows past mc zero up to a multiple of 32; a tile is 16 rows
 *    at stride 2 kcp bytes.
 *  - B block (nc <= AMX_NC columns): panels of 16 columns, each kcp / 2 rows of 16 pair dwords
 *    (64 bytes, the tile row), zero pairs past kc and zero columns past nc (up to a multiple of
 *    32): the afm_gemm_pack_pairs layout with w = 16 and zero-padded k.
 * The sources are read with vector loads along whichever index is contiguous (A rows for x·Wᵀ and
 * dy·W, A columns for dyᵀ·x, B rows for dy·W and dyᵀ·x, B columns for x·Wᵀ); the two transposed
 * cases go through 16 x 16 dword transposes. Other strides take a scalar loop.
 *
 * Micro-kernel: a 32 x 32 block of C in the four tiles tmm0-3, per 32 k two A tiles (tmm4-5) and
 * two B tiles (tmm6-7), four TDPBF16PS. C is loaded into the tiles (or zeroed when not
 * accumulating, first k slice) and stored back after the slice; blocks at the edges of C go through
 * a 32 x 32 f32 buffer and a copy of the valid part. Each C element is summed in the same k order
 * whatever the thread count (the k slices depend on K only), so results do not depend on it. */
#include "model/train_gemm.h"
#include "model/train_gemm_unit.h"
#include "tensor/dtype.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

enum { AMX_KC = 512, AMX_MC = 192, AMX_NC = 1024 };
_Static_assert(AMX_MC * AMX_KC * 2 <= AFM_GEMM_MC * AFM_GEMM_KC * 4, "bf16 A block fits the f32 A buffer");
_Static_assert(AMX_NC * AMX_KC * 2 <= AFM_GEMM_KC * AFM_GEMM_NC * 4, "bf16 B block fits the f32 B buffer");

static inline __mmask16 amx_lanes(long c) { return (__mmask16)(c >= 16 ? 0xffffu : c <= 0 ? 0u : (1u << c) - 1u); }

/* afm_f32_to_bf16 on 16 lanes, the bf16 bits left in the high half of each lane:
 * r = u + 0x7fff + ((u >> 16) & 1); NaN -> u | 2^22 (quiet). */
static inline __m512i amx_round_hi(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
    __m512i r = _mm512_mask_mov_epi32(_mm512_add_epi32(u, bias), nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
    return _mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u));
}

/* Index vectors: the odd 16-bit words of two vectors (bf16 halves -> 32 packed bf16), and the
 * four stages of the 16 x 16 dword transpose. */
typedef struct amx_idx { __m512i odd16, lo[4], hi[4]; } amx_idx;

static void amx_idx_init(amx_idx *ix) {
    _Alignas(64) uint16_t w[32];
    for (int i = 0; i < 32; i++) w[i] = (uint16_t)(2 * i + 1); /* 0..31: first vector, 32..63: second */
    ix->odd16 = _mm512_loadu_si512(w);
    for (int s = 0; s < 4; s++) {
        /* stage s swaps bit s of the row index with bit s of the column index: rows i0 (bit s
         * clear) and i1 = i0 | b become new[i0][j] = old[i0 | (j & b)][j & ~b] and
         * new[i1][j] = old[i0 | (j & b)][(j & ~b) | b]; index >= 16 selects the second vector */
        _Alignas(64) int32_t lo[16], hi[16];
        int b = 1 << s;
        for (int j = 0; j < 16; j++) {
            lo[j] = (j & b ? 16 : 0) + (j & ~b);
            hi[j] = (j & b ? 16 : 0) + ((j & ~b) | b);
        }
        ix->lo[s] = _mm512_loadu_si512(lo);
        ix->hi[s] = _mm512_loadu_si512(hi);
    }
}

/* v[i][j] -> v[j][i] for 16 vectors of 16 dwords */
static inline void amx_transpose16(__m512i v[16], const amx_idx *ix) {
    for (int s = 0; s < 4; s++) {
        int b = 1 << s;
        for (int i = 0; i < 16; i++)
            if (!(i & b)) {
                __m512i x = v[i], y = v[i + b];
                v[i] = _mm512_permutex2var_epi32(x, ix->lo[s], y);
                v[i + b] = _mm512_permutex2var_epi32(x, ix->hi[s], y);
            }
    }
}

/* 32 consecutive floats p[0..31] (n of them valid, 0 past) as 32 bf16 in order: dword q =
 * bf16(p[2q]) | bf16(p[2q+1]) << 16. */
static inline __m512i amx_conv32(const float *p, long n, const amx_idx *ix) {
    __m512i lo = amx_round_hi(_mm512_maskz_loadu_ps(amx_lanes(n), p));
    __m512i hi = amx_round_hi(_mm512_maskz_loadu_ps(amx_lanes(n - 16), p + 16));
    return _mm512_permutex2var_epi16(lo, ix->odd16, hi);
}

/* Lane l = bf16(p0[l]) | bf16(p1[l]) << 16, lanes m0 of p0 and m1 of p1 read (0 elsewhere). */
static inline __m512i amx_pairs16(const float *p0, __mmask16 m0, const float *p1, __mmask16 m1) {
    __m512i lo = _mm512_srli_epi32(amx_round_hi(_mm512_maskz_loadu_ps(m0, p0)), 16);
    return _mm512_or_si512(lo, amx_round_hi(_mm512_maskz_loadu_ps(m1, p1)));
}

static inline uint32_t bf16_of(const float *p) { return afm_f32_to_bf16(*p); }

/* A block: dst[r*kcp + k] = bf16 A(r, k) for r < mc, k < kc (a points at A(0, 0)); 0 up to
 * mp rows (a multiple of 32) and kcp columns (a multiple of 32). */
static void amx_pack_a(uint16_t *dst, const float *a, long a_rs, long a_cs, long mc, long mp, long kc, long kcp, const amx_idx *ix) {
    if (a_cs == 1) { /* rows contiguous (A = x or dy) */
        for (long r = 0; r < mp; r++) {
            uint16_t *o = dst + r * kcp;
            if (r >= mc) { memset(o, 0, sizeof(uint16_t) * (size_t)kcp); continue; }
            for (long k = 0; k < kcp; k += 32)
                _mm512_storeu_si512(o + k, amx_conv32(a + r * a_rs + (k < kc ? k : 0), kc - k, ix));
        }
    } else if (a_rs == 1) { /* columns contiguous (A = dyᵀ): pairs of k across 16 rows, transposed */
        for (long p = 0; p < mp; p += 16) {
            __mmask16 m = amx_lanes(mc - p);
            const float *col = a + (p < mc ? p : 0);
            for (long q0 = 0; q0 < kcp / 2; q0 += 16) {
                __m512i v[16];
                for (int u = 0; u < 16; u++) {
                    long k = 2 * (q0 + u);
                    bool k0 = k < kc, k1 = k + 1 < kc;
                    v[u] = amx_pairs16(col + (k0 ? k : 0) * a_cs, k0 ? m : 0, col + (k1 ? k + 1 : 0) * a_cs, k1 ? m : 0);
                }
                amx_transpose16(v, ix); /* v[r] = the 16 pairs of row p + r */
                for (int r = 0; r < 16; r++) _mm512_storeu_si512(dst + (p + r) * kcp + 2 * q0, v[r]);
            }
        }
    } else {
        for (long r = 0; r < mp; r++)
            for (long k = 0; k < kcp; k++)
                dst[r * kcp + k] = (uint16_t)(r < mc && k < kc ? bf16_of(a + r * a_rs + k * a_cs) : 0u);
    }
}

/* B block: panel p (columns 16p ..) at dst + 16p * pk, pk = kcp / 2, dword q*16 + j =
 * bf16 B(2q, 16p + j) | bf16 B(2q+1, 16p + j) << 16 (b points at B(0, 0)); 0 past kc and nc,
 * np (a multiple of 32) columns in all. */
static void amx_pack_b(uint32_t *dst, const float *b, long b_rs, long b_cs, long nc, long np, long kc, long kcp, const amx_idx *ix) {
    const long pk = kcp / 2;
    for (long p = 0; p < np; p += 16) {
        uint32_t *o = dst + p * pk;
        long cols = nc - p;
        if (cols <= 0) { memset(o, 0, sizeof(uint32_t) * 16 * (size_t)pk); continue; }
        if (b_cs == 1) { /* rows contiguous (B = W in dy·W, x in dyᵀ·x) */
            __mmask16 m = amx_lanes(cols);
            for (long q = 0; q < pk; q++) {
                long k = 2 * q;
                bool k0 = k < kc, k1 = k + 1 < kc;
                _mm512_storeu_si512(o + q * 16, amx_pairs16(b + (k0 ? k : 0) * b_rs + p, k0 ? m : 0, b + (k1 ? k + 1 : 0) * b_rs + p, k1 ? m : 0));
            }
        } else if (b_rs == 1) { /* columns contiguous (B = Wᵀ in x·Wᵀ): 32 k per column, transposed */
            for (long q0 = 0; q0 < pk; q0 += 16) {
                __m512i v[16];
                for (int j = 0; j < 16; j++)
                    v[j] = j < cols ? amx_conv32(b + (p + j) * b_cs + (2 * q0 < kc ? 2 * q0 : 0), kc - 2 * q0, ix) : _mm512_setzero_si512();
                amx_transpose16(v, ix); /* v[q] = pair q0 + q of the 16 columns */
                for (int q = 0; q < 16; q++) _mm512_storeu_si512(o + (q0 + q) * 16, v[q]);
            }
        } else {
            for (long q = 0; q < pk; q++)
                for (long j = 0; j < 16; j++) {
                    uint32_t lo = 0, hi = 0;
                    if (j < cols && 2 * q < kc) lo = bf16_of(b + 2 * q * b_rs + (p + j) * b_cs);
                    if (j < cols && 2 * q + 1 < kc) hi = bf16_of(b + (2 * q + 1) * b_rs + (p + j) * b_cs);
                    o[q * 16 + j] = lo | hi << 16;
                }
        }
    }
}

/* Tile configuration (palette 1): tiles 0-7 all 16 rows x 64 bytes. */
typedef struct amx_cfg { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } amx_cfg;
_Static_assert(sizeof(amx_cfg) == 64, "tile configuration is 64 bytes");

static void amx_configure(void) {
    amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
    _tile_loadconfig(&cfg);
}

/* C block of 32 x 32 at c (row stride ldc bytes) (+)= A panels ap (2 x 16 rows, kcp bf16 each) ·
 * B panels bp0, bp1 (16 columns each, kcp / 2 pair rows). */
static void amx_kernel(const uint16_t *ap, long kcp, const uint32_t *bp0, const uint32_t *bp1, float *c, long ldc, bool load) {
    char *cb = (char *)c;
    if (load) {
        _tile_loadd(0, cb, ldc);
        _tile_loadd(1, cb + 64, ldc);
        _tile_loadd(2, cb + 16 * ldc, ldc);
        _tile_loadd(3, cb + 16 * ldc + 64, ldc);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    const long as = 2 * kcp;
    const uint16_t *a1 = ap + 16 * kcp;
    for (long k = 0; k < kcp; k += 32) {
        _tile_loadd(4, ap + k, as);
        _tile_loadd(6, bp0 + k / 2 * 16, 64);
        _tile_loadd(5, a1 + k, as);
        _tile_loadd(7, bp1 + k / 2 * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, cb, ldc);
    _tile_stored(1, cb + 64, ldc);
    _tile_stored(2, cb + 16 * ldc, ldc);
    _tile_stored(3, cb + 16 * ldc + 64, ldc);
}

typedef struct amx_job {
    float *const *apack, *const *bpack;
    long M, Nc, K, nc_blk, tiles_n, m_chunk, tiles_m;
    const float *a, *b;
    long a_rs, a_cs, b_rs, b_cs, c_rs;
    float *c;
    bool accumulate;
} amx_job;

static void amx_units(const amx_job *g, uint16_t *abuf, uint32_t *bbuf, long u0, long step) {
    amx_idx ix;
    amx_idx_init(&ix);
    amx_configure();
    const long n_units = g->tiles_m * g->tiles_n;
    /* K in equal slices of at most AMX_KC, multiples of 32 but the last */
    const long n_slices = (g->K + AMX_KC - 1) / AMX_KC;
    const long slice = n_slices ? ((g->K + n_slices - 1) / n_slices + 31) / 32 * 32 : 0;
    _Alignas(64) float edge[32 * 32];
    for (long u = u0; u < n_units; u += step) {
        const afm_gemm_unit t = afm_gemm_unit_at(u, g->M, g->Nc, g->m_chunk, g->nc_blk, g->tiles_n);
        const long j0 = t.j0, nc = t.nc, m0 = t.m0, m1 = t.m1;
        if (g->K == 0) { afm_gemm_unit_empty_sum(&t, g->c, g->c_rs, g->accumulate); continue; }
        const long np = (nc + 31) / 32 * 32;
        for (long k0 = 0; k0 < g->K; k0 += slice) {
            const long kc = g->K - k0 < slice ? g->K - k0 : slice, kcp = (kc + 31) / 32 * 32, pk = kcp / 2;
            const bool load = g->accumulate || k0 > 0;
            amx_pack_b(bbuf, g->b + k0 * g->b_rs + j0 * g->b_cs, g->b_rs, g->b_cs, nc, np, kc, kcp, &ix);
            for (long i0 = m0; i0 < m1; i0 += AMX_MC) {
                const long mc = m1 - i0 < AMX_MC ? m1 - i0 : AMX_MC, mp = (mc + 31) / 32 * 32;
                amx_pack_a(abuf, g->a + i0 * g->a_rs + k0 * g->a_cs, g->a_rs, g->a_cs, mc, mp, kc, kcp, &ix);
                for (long jr = 0; jr < np; jr += 32) { /* a B panel pair (<= 32 KB) stays in L1 across the A block */
                    const uint32_t *bp0 = bbuf + jr * pk, *bp1 = bp0 + 16 * pk;
                    const int nr = (int)(nc - jr < 32 ? nc - jr : 32);
                    for (long ir = 0; ir < mp; ir += 32) {
                        const int mr = (int)(mc - ir < 32 ? mc - ir : 32);
                        float *cblk = g->c + (i0 + ir) * g->c_rs + j0 + jr;
                        if (mr == 32 && nr == 32) {
                            amx_kernel(abuf + ir * kcp, kcp, bp0, bp1, cblk, g->c_rs * (long)sizeof(float), load);
                            continue;
                        }
                        if (load) {
                            memset(edge, 0, sizeof edge);
                            for (int r = 0; r < mr; r++) memcpy(edge + r * 32, cblk + r * g->c_rs, sizeof(float) * (size_t)nr);
                        }
                        amx_kernel(abuf + ir * kcp, kcp, bp0, bp1, edge, 32 * (long)sizeof(float), load);
                        for (int r = 0; r < mr; r++) memcpy(cblk + r * g->c_rs, edge + r * 32, sizeof(float) * (size_t)nr);
                    }
                }
            }
        }
    }
    _tile_release();
}

static void amx_worker(void *ctx, int ith, int nth) {
    const amx_job *g = ctx;
    amx_units(g, (uint16_t *)(void *)g->apack[ith], (uint32_t *)(void *)g->bpack[ith], ith, nth);
}

void afm_gemm_amx(afm_pool *pool, int nth, float *const *apack, float *const *bpack, long M, long Nc, long K,
                  const float *a, long a_rs, long a_cs, const float *b, long b_rs, long b_cs, float *c, long c_rs,
                  bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    if (nth < 1 || !pool) nth = 1;
    amx_job g = {apack, bpack, M, Nc, K, 0, 0, 0, 0, a, b, a_rs, a_cs, b_rs, b_cs, c_rs, c, accumulate};
    /* Work units: a row chunk x a column tile of C, both multiples of 32, columns at most AMX_NC.
     * Each unit packs its own A rows and B columns, and per k the tiles do about 512 multiply-adds
     * a cycle against about 4 packed values a cycle, so a thread's time per k is about
     * (units it runs) x (m n / 512 + (m + n) / 4) cycles for units of m x n: the split (columns in
     * pn parts, rows in enough parts for the threads) that minimizes it is taken. The split does
     * not change any result (the k order of every sum depends on K alone). */
    const long max_m = (M + 31) / 32, max_n = (Nc + 31) / 32;
    double best = -1;
    for (long pn = 1; pn <= max_n && pn <= nth; pn++) {
        long n_chunk = ((Nc + pn - 1) / pn + 31) / 32 * 32;
        if (n_chunk > AMX_NC) continue;
        long tn = (Nc + n_chunk - 1) / n_chunk, pm = (nth + tn - 1) / tn;
        if (pm > max_m) pm = max_m;
        long m_chunk = ((M + pm - 1) / pm + 31) / 32 * 32, tm = (M + m_chunk - 1) / m_chunk;
        long rounds = (tm * tn + nth - 1) / nth;
        double cost = (double)rounds * ((double)m_chunk * (double)n_chunk + 128.0 * (double)(m_chunk + n_chunk));
        if (best < 0 || cost < best) { best = cost; g.nc_blk = n_chunk; g.tiles_n = tn; g.m_chunk = m_chunk; g.tiles_m = tm; }
    }
    if (best < 0) { /* Nc > nth * AMX_NC: full-width column tiles, rows split for the threads */
        g.nc_blk = AMX_NC;
        g.tiles_n = (Nc + AMX_NC - 1) / AMX_NC;
        long pm = (nth + g.tiles_n - 1) / g.tiles_n;
        if (pm > max_m) pm = max_m;
        g.m_chunk = ((M + pm - 1) / pm + 31) / 32 * 32;
        g.tiles_m = (M + g.m_chunk - 1) / g.m_chunk;
    }
    if (nth <= 1 || g.tiles_m * g.tiles_n == 1) amx_worker(&g, 0, 1);
    else afm_pool_run(pool, amx_worker, &g);
}
