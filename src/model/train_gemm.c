/* Cache-blocked f32 GEMM (see train_gemm.h). Loop nest, per C tile of MC x NC owned by one
 * thread:  for k-block (KC): pack A (MC x KC) into MR-row panels, pack B (KC x NC) into NR-column
 * panels, then for every (NR, MR) panel pair run the register-tiled micro-kernel. */
#include "model/train_gemm.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/mem.h"
#include <stdlib.h>
#include <string.h>

struct afm_gemm_ws {
    int n_threads;
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
    float acc[AFM_GEMM_MR][AFM_GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < kc; k++) {
        const float *a = ap + k * AFM_GEMM_MR, *b = bp + k * AFM_GEMM_NR;
        for (int r = 0; r < AFM_GEMM_MR; r++)
            for (int j = 0; j < AFM_GEMM_NR; j++) acc[r][j] += a[r] * b[j];
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) c[r * c_rs + j] = (add ? c[r * c_rs + j] : 0.0f) + acc[r][j];
}

static afm_gemm_ukernel g_forced;

void afm_gemm_set_ukernel(afm_gemm_ukernel k) { g_forced = k; }

static afm_gemm_ukernel pick_ukernel(void) {
    if (g_forced) return g_forced;
    afm_isa isa = afm_isa_best();
    if (isa >= AFM_ISA_AVX512) return afm_gemm_ukernel_avx512;
    if (isa >= AFM_ISA_AVX2) return afm_gemm_ukernel_avx2;
    return afm_gemm_ukernel_scalar;
}

/* ap: panels of MR rows; panel p holds A(i0 + p*MR + r, k0 + k) at [p*MR*kc + k*MR + r]. */
static void pack_a(float *ap, const float *a, long a_rs, long a_cs, long i0, long mc, long k0, long kc) {
    for (long p = 0; p * AFM_GEMM_MR < mc; p++) {
        float *dst = ap + p * AFM_GEMM_MR * kc;
        long rows = mc - p * AFM_GEMM_MR < AFM_GEMM_MR ? mc - p * AFM_GEMM_MR : AFM_GEMM_MR;
        if (rows < AFM_GEMM_MR) memset(dst, 0, sizeof(float) * AFM_GEMM_MR * kc);
        const float *src = a + (i0 + p * AFM_GEMM_MR) * a_rs + k0 * a_cs;
        if (a_rs == 1) /* A's columns are contiguous (dW = dyᵀ·x): read along rows */
            for (long k = 0; k < kc; k++)
                for (long r = 0; r < rows; r++) dst[k * AFM_GEMM_MR + r] = src[k * a_cs + r];
        else
            for (long r = 0; r < rows; r++)
                for (long k = 0; k < kc; k++) dst[k * AFM_GEMM_MR + r] = src[r * a_rs + k * a_cs];
    }
}

/* bp: panels of NR columns; panel p holds B(k0 + k, j0 + p*NR + j) at [p*NR*kc + k*NR + j]. */
static void pack_b(float *bp, const float *b, long b_rs, long b_cs, long k0, long kc, long j0, long nc) {
    for (long p = 0; p * AFM_GEMM_NR < nc; p++) {
        float *dst = bp + p * AFM_GEMM_NR * kc;
        long cols = nc - p * AFM_GEMM_NR < AFM_GEMM_NR ? nc - p * AFM_GEMM_NR : AFM_GEMM_NR;
        const float *src = b + k0 * b_rs + (j0 + p * AFM_GEMM_NR) * b_cs;
        if (b_cs == 1) {
            for (long k = 0; k < kc; k++) {
                memcpy(dst + k * AFM_GEMM_NR, src + k * b_rs, sizeof(float) * (size_t)cols);
                if (cols < AFM_GEMM_NR) memset(dst + k * AFM_GEMM_NR + cols, 0, sizeof(float) * (size_t)(AFM_GEMM_NR - cols));
            }
        } else {
            if (cols < AFM_GEMM_NR) memset(dst, 0, sizeof(float) * AFM_GEMM_NR * kc);
            /* walk each column of B contiguously when its rows are adjacent (b_rs == 1) */
            for (long j = 0; j < cols; j++)
                for (long k = 0; k < kc; k++) dst[k * AFM_GEMM_NR + j] = src[k * b_rs + j * b_cs];
        }
    }
}

typedef struct gemm_job {
    afm_gemm_ws *ws;
    afm_gemm_ukernel uk;
    long M, Nc, K, nc_blk, tiles_n, m_chunk, tiles_m;
    const float *a, *b;
    long a_rs, a_cs, b_rs, b_cs, c_rs;
    float *c;
    bool accumulate;
} gemm_job;

/* Work unit: a column tile (nc_blk wide) x a row chunk (m_chunk tall) of C. Within it, each
 * KC-deep block of B is packed once and reused for every MC-row block of A (Goto's order). */
static void gemm_worker(void *ctx, int ith, int nth) {
    gemm_job *g = ctx;
    float *ap = g->ws->apack[ith], *bp = g->ws->bpack[ith];
    long n_units = g->tiles_m * g->tiles_n;
    for (long u = ith; u < n_units; u += nth) {
        long j0 = (u % g->tiles_n) * g->nc_blk, m0 = (u / g->tiles_n) * g->m_chunk;
        long nc = g->Nc - j0 < g->nc_blk ? g->Nc - j0 : g->nc_blk;
        long m1 = m0 + g->m_chunk < g->M ? m0 + g->m_chunk : g->M;
        if (g->K == 0) {  /* empty sum: C = 0 (or unchanged when accumulating) */
            if (!g->accumulate)
                for (long i = m0; i < m1; i++) memset(g->c + i * g->c_rs + j0, 0, sizeof(float) * (size_t)nc);
            continue;
        }
        for (long k0 = 0; k0 < g->K; k0 += AFM_GEMM_KC) {
            long kc = g->K - k0 < AFM_GEMM_KC ? g->K - k0 : AFM_GEMM_KC;
            bool add = g->accumulate || k0 > 0;
            pack_b(bp, g->b, g->b_rs, g->b_cs, k0, kc, j0, nc);
            for (long i0 = m0; i0 < m1; i0 += AFM_GEMM_MC) {
                long mc = m1 - i0 < AFM_GEMM_MC ? m1 - i0 : AFM_GEMM_MC;
                pack_a(ap, g->a, g->a_rs, g->a_cs, i0, mc, k0, kc);
                for (long jr = 0; jr < nc; jr += AFM_GEMM_NR) {
                    int nr = (int)(nc - jr < AFM_GEMM_NR ? nc - jr : AFM_GEMM_NR);
                    const float *bpanel = bp + (jr / AFM_GEMM_NR) * AFM_GEMM_NR * kc;
                    for (long ir = 0; ir < mc; ir += AFM_GEMM_MR) {
                        int mr = (int)(mc - ir < AFM_GEMM_MR ? mc - ir : AFM_GEMM_MR);
                        g->uk(kc, ap + (ir / AFM_GEMM_MR) * AFM_GEMM_MR * kc, bpanel,
                              g->c + (i0 + ir) * g->c_rs + j0 + jr, g->c_rs, mr, nr, add);
                    }
                }
            }
        }
    }
}

void afm_gemm(afm_pool *pool, afm_gemm_ws *ws, long M, long Nc, long K,
              const float *a, long a_rs, long a_cs, const float *b, long b_rs, long b_cs,
              float *c, long c_rs, bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    int nth = afm_pool_size(pool);
    if (nth > ws->n_threads) nth = 1; /* workspace made for fewer threads: stay on this one */
    gemm_job g = {ws, pick_ukernel(), M, Nc, K, 0, 0, M, 1, a, b, a_rs, a_cs, b_rs, b_cs, c_rs, c, accumulate};
    /* column tiles: as wide as NC allows, but at least one per thread when C is narrow */
    long panels = (Nc + AFM_GEMM_NR - 1) / AFM_GEMM_NR;
    long per = (panels + nth - 1) / nth;
    if (per * AFM_GEMM_NR > AFM_GEMM_NC) per = AFM_GEMM_NC / AFM_GEMM_NR;
    g.nc_blk = per * AFM_GEMM_NR;
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
