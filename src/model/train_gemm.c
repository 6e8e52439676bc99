/* Cache-blocked f32 GEMM (see train_gemm.h). Loop nest, per C tile of MC x NC owned by one
 * thread:  for k-block (KC): pack A (MC x KC) into MR-row panels, pack B (KC x NC) into NR-column
 * panels, then for every (NR, MR) panel pair run the register-tiled micro-kernel. */
#include "model/train_gemm.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/mem.h"
#include "tensor/dtype.h"
#include <stdlib.h>
#include <string.h>

struct afm_gemm_ws {
    int n_threads;
    bool bf16;      /* round packed inputs to bf16 */
    float **apack;  /* per thread: MC x KC */
    float **bpack;  /* per thread: KC x NC */
};

afm_status afm_gemm_ws_create(int n_threads, afm_gemm_ws **out) {
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    afm_gemm_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return afm_error(AFM_ERR_NOMEM, "out of memory for GEMM workspace");
    ws->n_threads = n_threads;
    ws->apack = calloc((size_t)n_threads, sizeof(float *));
    ws->bpack = calloc((size_t)n_threads, sizeof(float *));
    if (!ws->apack || !ws->bpack) { afm_gemm_ws_free(ws); return afm_error(AFM_ERR_NOMEM, "out of memory for GEMM workspace"); }
    for (int t = 0; t < n_threads; t++) {
        ws->apack[t] = afm_alloc(sizeof(float) * AFM_GEMM_MC * AFM_GEMM_KC);
        ws->bpack[t] = afm_alloc(sizeof(float) * AFM_GEMM_KC * AFM_GEMM_NC);
        if (!ws->apack[t] || !ws->bpack[t]) { afm_gemm_ws_free(ws); return afm_error(AFM_ERR_NOMEM, "out of memory for GEMM workspace"); }
    }
    *out = ws;
    return AFM_OK;
}

int afm_gemm_ws_threads(const afm_gemm_ws *ws) { return ws->n_threads; }
void afm_gemm_ws_set_bf16(afm_gemm_ws *ws, bool on) { ws->bf16 = on; }
bool afm_gemm_ws_bf16(const afm_gemm_ws *ws) { return ws->bf16; }

static void round_bf16(float *p, size_t n, bool avx2) {
    if (avx2) { afm_gemm_round_bf16_avx2(p, n); return; }
    for (size_t i = 0; i < n; i++) p[i] = afm_bf16_to_f32(afm_f32_to_bf16(p[i]));
}

void afm_gemm_ws_free(afm_gemm_ws *ws) {
    if (!ws) return;
    for (int t = 0; t < ws->n_threads; t++) {
        if (ws->apack) afm_free(ws->apack[t]);
        if (ws->bpack) afm_free(ws->bpack[t]);
    }
    free(ws->apack);
    free(ws->bpack);
    free(ws);
}

void afm_gemm_ukernel_scalar(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add) {
    enum { NR = AFM_GEMM_NR_SCALAR };
    float acc[AFM_GEMM_MR][NR];
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < kc; k++) {
        const float *a = ap + k * AFM_GEMM_MR, *b = bp + k * NR;
        for (int r = 0; r < AFM_GEMM_MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) c[r * c_rs + j] = (add ? c[r * c_rs + j] : 0.0f) + acc[r][j];
}

/* A micro-kernel, the width of the B panels it reads, and whether it reads bf16 pairs
 * (afm_gemm_pairs_bf16) instead of f32 panels. */
typedef struct ukernel_desc { afm_gemm_ukernel fn; int nr; bool pairs; } ukernel_desc;

static afm_gemm_ukernel g_forced;

void afm_gemm_set_ukernel(afm_gemm_ukernel k) { g_forced = k; }

static ukernel_desc desc_of(afm_gemm_ukernel k) {
    if (k == afm_gemm_ukernel_bf16_avx512) return (ukernel_desc){k, AFM_GEMM_NR_AVX512, true};
    if (k == afm_gemm_ukernel_avx512) return (ukernel_desc){k, AFM_GEMM_NR_AVX512, false};
    if (k == afm_gemm_ukernel_avx2) return (ukernel_desc){k, AFM_GEMM_NR_AVX2, false};
    return (ukernel_desc){afm_gemm_ukernel_scalar, AFM_GEMM_NR_SCALAR, false};
}

/* bf16 compute uses vdpbf16ps where the CPU has AVX512-BF16 (and the AVX-512 level is not
 * capped by AFM_FORCE_ISA), else the f32 kernels on bf16-rounded panels. */
static ukernel_desc pick_ukernel(bool bf16) {
    if (g_forced) return desc_of(g_forced);
    afm_isa isa = afm_isa_best();
    if (bf16 && isa >= AFM_ISA_AVX512 && afm_cpu()->avx512bf16) return desc_of(afm_gemm_ukernel_bf16_avx512);
    if (isa >= AFM_ISA_AVX512) return desc_of(afm_gemm_ukernel_avx512);
    if (isa >= AFM_ISA_AVX2) return desc_of(afm_gemm_ukernel_avx2);
    return desc_of(afm_gemm_ukernel_scalar);
}

/* ap: panels of MR rows; panel p holds A(i0 + p*MR + r, k0 + k) at [p*MR*kc + k*MR + r]
 * (rows past the edge are zero). */
static void pack_a(float *ap, const float *a, long a_rs, long a_cs, long i0, long mc, long k0, long kc, bool avx2) {
    long p = 0;
    if (a_rs == 1 && avx2 && mc >= AFM_GEMM_MR) { /* full panels row by row, the rest below */
        afm_gemm_pack_at6_avx2(ap, a + i0 + k0 * a_cs, a_cs, kc, mc);
        p = mc / AFM_GEMM_MR;
    }
    for (; p * AFM_GEMM_MR < mc; p++) {
        float *dst = ap + p * AFM_GEMM_MR * kc;
        long rows = mc - p * AFM_GEMM_MR < AFM_GEMM_MR ? mc - p * AFM_GEMM_MR : AFM_GEMM_MR;
        const float *src = a + (i0 + p * AFM_GEMM_MR) * a_rs + k0 * a_cs;
        if (rows < AFM_GEMM_MR) memset(dst, 0, sizeof(float) * AFM_GEMM_MR * (size_t)kc);
        if (a_rs == 1 && rows == AFM_GEMM_MR) { /* A's columns are contiguous (dW = dyᵀ·x): read along rows */
            for (long k = 0; k < kc; k++) memcpy(dst + k * AFM_GEMM_MR, src + k * a_cs, sizeof(float) * AFM_GEMM_MR);
        } else if (a_rs == 1) {
            for (long k = 0; k < kc; k++)
                for (long r = 0; r < rows; r++) dst[k * AFM_GEMM_MR + r] = src[k * a_cs + r];
        } else if (rows == AFM_GEMM_MR && a_cs == 1 && avx2) {
            afm_gemm_pack_a6_avx2(dst, src, a_rs, kc);
        } else if (rows == AFM_GEMM_MR && a_cs == 1) { /* full panel of contiguous rows */
            const float *s0 = src, *s1 = src + a_rs, *s2 = src + 2 * a_rs, *s3 = src + 3 * a_rs, *s4 = src + 4 * a_rs, *s5 = src + 5 * a_rs;
            for (long k = 0; k < kc; k++, dst += AFM_GEMM_MR) {
                dst[0] = s0[k]; dst[1] = s1[k]; dst[2] = s2[k]; dst[3] = s3[k]; dst[4] = s4[k]; dst[5] = s5[k];
            }
        } else {
            for (long r = 0; r < rows; r++)
                for (long k = 0; k < kc; k++) dst[k * AFM_GEMM_MR + r] = src[r * a_rs + k * a_cs];
        }
    }
}

/* bp: panels of nr columns; panel p holds B(k0 + k, j0 + p*nr + j) at [p*nr*kc + k*nr + j]
 * (columns past the edge are zero). */
static void pack_b(float *bp, int nr, const float *b, long b_rs, long b_cs, long k0, long kc, long j0, long nc, bool avx2) {
    long p = 0;
    if (b_cs == 1 && nr == 16 && avx2 && nc >= 16) { /* full panels row by row, the rest below */
        afm_gemm_pack_b16_avx2(bp, b + k0 * b_rs + j0, b_rs, kc, nc);
        p = nc / 16;
    }
    for (; p * nr < nc; p++) {
        float *dst = bp + p * nr * kc;
        long cols = nc - p * nr < nr ? nc - p * nr : nr;
        const float *src = b + k0 * b_rs + (j0 + p * nr) * b_cs;
        if (b_cs == 1) {
            for (long k = 0; k < kc; k++) {
                memcpy(dst + k * nr, src + k * b_rs, sizeof(float) * (size_t)cols);
                if (cols < nr) memset(dst + k * nr + cols, 0, sizeof(float) * (size_t)(nr - cols));
            }
        } else if (b_rs == 1 && cols == nr && avx2) { /* B = Wᵀ (x·Wᵀ): transpose rows of W */
            afm_gemm_pack_bt_avx2(dst, nr, src, b_cs, kc);
        } else {
            if (cols < nr) memset(dst, 0, sizeof(float) * (size_t)nr * (size_t)kc);
            /* walk each column of B contiguously when its rows are adjacent (b_rs == 1) */
            for (long j = 0; j < cols; j++)
                for (long k = 0; k < kc; k++) dst[k * nr + j] = src[k * b_rs + j * b_cs];
        }
    }
}

typedef struct gemm_job {
    afm_gemm_ws *ws;
    ukernel_desc uk;
    bool avx2;             /* AVX2 packing helpers usable */
    long M, Nc, K, nc_blk, tiles_n, m_chunk, tiles_m;
    const float *a, *b;
    long a_rs, a_cs, b_rs, b_cs, c_rs;
    float *c;
    bool accumulate;
} gemm_job;

/* Work unit: a column tile (nc_blk wide) x a row chunk (m_chunk tall) of C. Within it, each
 * KC-deep block of B is packed once and reused for every MC-row block of A (Goto's order); each
 * packed A block (MC x KC, in L2) is reused for every NR-wide panel of B (in L1). */
static void gemm_units(gemm_job *g, float *ap, float *bp, long u0, long step) {
    const int NR = g->uk.nr;
    long n_units = g->tiles_m * g->tiles_n;
    for (long u = u0; u < n_units; u += step) {
        long j0 = (u % g->tiles_n) * g->nc_blk, m0 = (u / g->tiles_n) * g->m_chunk;
        long nc = g->Nc - j0 < g->nc_blk ? g->Nc - j0 : g->nc_blk;
        long m1 = m0 + g->m_chunk < g->M ? m0 + g->m_chunk : g->M;
        if (g->K == 0) {  /* empty sum: C = 0 (or unchanged when accumulating) */
            if (!g->accumulate)
                for (long i = m0; i < m1; i++) memset(g->c + i * g->c_rs + j0, 0, sizeof(float) * (size_t)nc);
            continue;
        }
        /* K in equal slices of at most KC (2 KC for bf16 pair panels: the same bytes), no short
         * last slice, multiples of 4 but the last */
        const long kc_max = g->uk.pairs ? 2 * AFM_GEMM_KC : AFM_GEMM_KC;
        long n_slices = (g->K + kc_max - 1) / kc_max;
        long slice = ((g->K + n_slices - 1) / n_slices + 3) / 4 * 4;
        for (long k0 = 0; k0 < g->K; k0 += slice) {
            long kc = g->K - k0 < slice ? g->K - k0 : slice;
            bool add = g->accumulate || k0 > 0;
            /* panel stride in 4-byte words: kc floats, or (kc+1)/2 bf16 pairs */
            const long kw = g->uk.pairs ? (kc + 1) / 2 : kc;
            if (g->uk.pairs)
                afm_gemm_pack_pairs_avx512((uint32_t *)(void *)bp, NR, nc, g->b + k0 * g->b_rs + j0 * g->b_cs, g->b_cs, g->b_rs, kc);
            else {
                pack_b(bp, NR, g->b, g->b_rs, g->b_cs, k0, kc, j0, nc, g->avx2);
                if (g->ws->bf16) round_bf16(bp, (size_t)((nc + NR - 1) / NR * NR * kc), g->avx2);
            }
            for (long i0 = m0; i0 < m1; i0 += AFM_GEMM_MC) {
                long mc = m1 - i0 < AFM_GEMM_MC ? m1 - i0 : AFM_GEMM_MC;
                if (g->uk.pairs)
                    afm_gemm_pack_pairs_avx512((uint32_t *)(void *)ap, AFM_GEMM_MR, mc, g->a + i0 * g->a_rs + k0 * g->a_cs, g->a_rs, g->a_cs, kc);
                else {
                    pack_a(ap, g->a, g->a_rs, g->a_cs, i0, mc, k0, kc, g->avx2);
                    if (g->ws->bf16) round_bf16(ap, (size_t)((mc + AFM_GEMM_MR - 1) / AFM_GEMM_MR * AFM_GEMM_MR * kc), g->avx2);
                }
                for (long jr = 0; jr < nc; jr += NR) {
                    int nr = (int)(nc - jr < NR ? nc - jr : NR);
                    const float *bpanel = bp + (jr / NR) * NR * kw;
                    for (long ir = 0; ir < mc; ir += AFM_GEMM_MR) {
                        int mr = (int)(mc - ir < AFM_GEMM_MR ? mc - ir : AFM_GEMM_MR);
                        g->uk.fn(kc, ap + (ir / AFM_GEMM_MR) * AFM_GEMM_MR * kw, bpanel,
                                 g->c + (i0 + ir) * g->c_rs + j0 + jr, g->c_rs, mr, nr, add);
                    }
                }
            }
        }
    }
}

static void gemm_worker(void *ctx, int ith, int nth) {
    gemm_job *g = ctx;
    gemm_units(g, g->ws->apack[ith], g->ws->bpack[ith], ith, nth);
}

void afm_gemm_serial(afm_gemm_ws *ws, int slot, long M, long Nc, long K, const float *a, long a_rs, long a_cs,
                     const float *b, long b_rs, long b_cs, float *c, long c_rs, bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    if (ws->bf16 && !g_forced && afm_amx_bf16_usable()) { /* AMX tiles (train_gemm_amx.c) */
        afm_gemm_amx(NULL, 1, ws->apack + slot, ws->bpack + slot, M, Nc, K, a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs, accumulate);
        return;
    }
    gemm_job g = {ws, pick_ukernel(ws->bf16), afm_isa_best() >= AFM_ISA_AVX2, M, Nc, K, 0, 1, M, 1, a, b, a_rs, a_cs, b_rs, b_cs, c_rs, c, accumulate};
    long nc = (Nc + g.uk.nr - 1) / g.uk.nr * g.uk.nr;
    g.nc_blk = nc < AFM_GEMM_NC ? nc : AFM_GEMM_NC;
    g.tiles_n = (Nc + g.nc_blk - 1) / g.nc_blk;
    gemm_units(&g, ws->apack[slot], ws->bpack[slot], 0, 1);
}

void afm_gemm(afm_pool *pool, afm_gemm_ws *ws, long M, long Nc, long K,
              const float *a, long a_rs, long a_cs, const float *b, long b_rs, long b_cs,
              float *c, long c_rs, bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    int nth = afm_pool_size(pool);
    if (nth > ws->n_threads) nth = 1; /* workspace made for fewer threads: stay on this one */
    if (ws->bf16 && !g_forced && afm_amx_bf16_usable()) { /* AMX tiles (train_gemm_amx.c) */
        afm_gemm_amx(pool, nth, ws->apack, ws->bpack, M, Nc, K, a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs, accumulate);
        return;
    }
    gemm_job g = {ws, pick_ukernel(ws->bf16), afm_isa_best() >= AFM_ISA_AVX2, M, Nc, K, 0, 0, M, 1, a, b, a_rs, a_cs, b_rs, b_cs, c_rs, c, accumulate};
    const long NR = g.uk.nr;
    /* column tiles: as wide as NC allows, but at least one per thread when C is narrow */
    long panels = (Nc + NR - 1) / NR;
    long per = (panels + nth - 1) / nth;
    if (per * NR > AFM_GEMM_NC) per = AFM_GEMM_NC / NR;
    g.nc_blk = per * NR;
    g.tiles_n = (Nc + g.nc_blk - 1) / g.nc_blk;
    /* too few column tiles for the threads: split the rows as well (multiples of MR) */
    if (g.tiles_n < nth) {
        long parts = (nth + g.tiles_n - 1) / g.tiles_n;
        long chunk = (M + parts - 1) / parts;
        chunk = (chunk + AFM_GEMM_MR - 1) / AFM_GEMM_MR * AFM_GEMM_MR;
        g.m_chunk = chunk > 0 ? chunk : M;
        g.tiles_m = (M + g.m_chunk - 1) / g.m_chunk;
    }
    if (nth <= 1 || g.tiles_m * g.tiles_n == 1) gemm_worker(&g, 0, 1);
    else afm_pool_run(pool, gemm_worker, &g);
}

void afm_linear_fwd(afm_pool *pool, afm_gemm_ws *ws, float *y, const float *x, const float *W, long N, long I, long O) {
    /* y(n, o) = sum_i x(n, i) W(o, i): A = x, B(i, o) = W[o*I + i] */
    afm_gemm(pool, ws, N, O, I, x, I, 1, W, 1, I, y, O, false);
}

void afm_linear_bwd_x(afm_pool *pool, afm_gemm_ws *ws, float *dx, const float *dy, const float *W, long N, long I, long O, bool accumulate) {
    /* dx(n, i) = sum_o dy(n, o) W(o, i) */
    afm_gemm(pool, ws, N, I, O, dy, O, 1, W, I, 1, dx, I, accumulate);
}

void afm_linear_bwd_w(afm_pool *pool, afm_gemm_ws *ws, float *dW, const float *dy, const float *x, long N, long I, long O) {
    /* dW(o, i) += sum_n dy(n, o) x(n, i): A(o, n) = dy[n*O + o] */
    afm_gemm(pool, ws, O, I, N, dy, 1, O, x, I, 1, dW, I, true);
}
