/* Cache-blocked f32 GEMM (see train_gemm.h). Two drivers, same sums:
 *  - shared packing (several threads; by default for the calls where per-unit packing would write
 *    at least twice the bytes, e.g. most calls at 16 threads): per SH_N-wide column block of C and KC-deep
 *    slice of K, the threads pack B (KC x SH_N) and A (SH_M x KC, per SH_M-row chunk) together
 *    into shared buffers, once (one pool run), then compute on them (a second pool run), each
 *    thread one rectangle of MR x NR tiles of a gm x gn grid. Every operand element is packed once
 *    per call (A once per SH_N columns of C).
 *  - per-unit packing (1 thread, the other calls, AFM_GEMM_SHARED_PACK=0, afm_gemm_serial): per C tile of up to
 *    MC x NC owned by one thread, for k-block (KC): pack A (MC x KC) into MR-row panels, pack B
 *    (KC x NC) into NR-column panels, then for every (NR, MR) panel pair run the micro-kernel;
 *    with many threads and narrow C, A is packed once per column tile.
 * Both cut K into the same slices and every C element is one micro-kernel tile entry per slice,
 * so the results are bit-identical between the drivers and across thread counts. */
#include "model/train_gemm.h"
#include "model/train_gemm_unit.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/mem.h"
#include "base/timer.h"
#include "tensor/dtype.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Shared packing blocks: A chunks of SH_M rows (a multiple of MR and MC) and B blocks of SH_N
 * columns (a multiple of NC and of every NR), each KC words deep: 3.4 + 3.0 MiB. */
enum { SH_M = 2304, SH_N = 2048 };

struct afm_gemm_ws {
    int n_threads;
    bool bf16;      /* round packed inputs to bf16 */
    afm_gemm_pack pack; /* shared or per-thread packing with several threads (AFM_GEMM_SHARED_PACK) */
    float **apack;  /* per thread: MC x KC */
    float **bpack;  /* per thread: KC x NC */
    float *sh_a;    /* shared: SH_M x KC (NULL with one thread) */
    float *sh_b;    /* shared: KC x SH_N */
    long calls, runs; /* statistics of afm_gemm calls (not afm_gemm_serial): calls, pool runs */
    double seconds, flops, pack_seconds; /* pack_seconds: the shared driver's packing runs */
    _Atomic unsigned long long packed_a, packed_b;
};

afm_status afm_gemm_ws_create(int n_threads, afm_gemm_ws **out) {
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    afm_gemm_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return afm_error(AFM_ERR_NOMEM, "out of memory for GEMM workspace");
    ws->n_threads = n_threads;
    const char *env = getenv("AFM_GEMM_SHARED_PACK");
    ws->pack = env && env[0] == '0' ? AFM_GEMM_PACK_PER_THREAD : env && env[0] == '1' ? AFM_GEMM_PACK_SHARED : AFM_GEMM_PACK_AUTO;
    ws->apack = calloc((size_t)n_threads, sizeof(float *));
    ws->bpack = calloc((size_t)n_threads, sizeof(float *));
    if (!ws->apack || !ws->bpack) { afm_gemm_ws_free(ws); return afm_error(AFM_ERR_NOMEM, "out of memory for GEMM workspace"); }
    for (int t = 0; t < n_threads; t++) {
        ws->apack[t] = afm_alloc(sizeof(float) * AFM_GEMM_MC * AFM_GEMM_KC);
        ws->bpack[t] = afm_alloc(sizeof(float) * AFM_GEMM_KC * AFM_GEMM_NC);
        if (!ws->apack[t] || !ws->bpack[t]) { afm_gemm_ws_free(ws); return afm_error(AFM_ERR_NOMEM, "out of memory for GEMM workspace"); }
    }
    if (n_threads > 1) {
        ws->sh_a = afm_alloc(sizeof(float) * SH_M * AFM_GEMM_KC);
        ws->sh_b = afm_alloc(sizeof(float) * AFM_GEMM_KC * SH_N);
        if (!ws->sh_a || !ws->sh_b) { afm_gemm_ws_free(ws); return afm_error(AFM_ERR_NOMEM, "out of memory for the shared GEMM packing buffers (%d MiB)", (int)((SH_M + SH_N) * AFM_GEMM_KC * sizeof(float) >> 20)); }
    }
    *out = ws;
    return AFM_OK;
}

int afm_gemm_ws_threads(const afm_gemm_ws *ws) { return ws->n_threads; }
void afm_gemm_ws_set_bf16(afm_gemm_ws *ws, bool on) { ws->bf16 = on; }
bool afm_gemm_ws_bf16(const afm_gemm_ws *ws) { return ws->bf16; }
void afm_gemm_ws_set_pack(afm_gemm_ws *ws, afm_gemm_pack mode) { ws->pack = mode; }
afm_gemm_pack afm_gemm_ws_pack(const afm_gemm_ws *ws) { return ws->pack; }

afm_gemm_stats afm_gemm_ws_stats(afm_gemm_ws *ws) {
    afm_gemm_stats st = {ws->calls, ws->runs, ws->seconds, ws->flops, ws->pack_seconds, atomic_load(&ws->packed_a), atomic_load(&ws->packed_b)};
    return st;
}

void afm_gemm_ws_reset_stats(afm_gemm_ws *ws) {
    ws->calls = ws->runs = 0;
    ws->seconds = ws->flops = ws->pack_seconds = 0;
    atomic_store(&ws->packed_a, 0);
    atomic_store(&ws->packed_b, 0);
}

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
    afm_free(ws->sh_a);
    afm_free(ws->sh_b);
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
 * (afm_gemm_pairs_bf16) instead of f32 panels, with the packer that writes them. */
typedef struct ukernel_desc { afm_gemm_ukernel fn; int nr; bool pairs; afm_gemm_pack_pairs_fn pack; } ukernel_desc;

static afm_gemm_ukernel g_forced;
static afm_gemm_pack_pairs_fn g_forced_pack;

void afm_gemm_set_ukernel(afm_gemm_ukernel k) { g_forced = k; g_forced_pack = NULL; }
void afm_gemm_set_pairs_kernel(afm_gemm_ukernel k, afm_gemm_pack_pairs_fn pack) { g_forced = k; g_forced_pack = k ? pack : NULL; }

static ukernel_desc desc_of(afm_gemm_ukernel k) {
    if (k == g_forced && g_forced_pack) return (ukernel_desc){k, AFM_GEMM_NR_AVX512, true, g_forced_pack};
    if (k == afm_gemm_ukernel_bf16_avx512) return (ukernel_desc){k, AFM_GEMM_NR_AVX512, true, afm_gemm_pack_pairs_avx512};
    if (k == afm_gemm_ukernel_avx512) return (ukernel_desc){k, AFM_GEMM_NR_AVX512, false, NULL};
    if (k == afm_gemm_ukernel_avx2) return (ukernel_desc){k, AFM_GEMM_NR_AVX2, false, NULL};
    return (ukernel_desc){afm_gemm_ukernel_scalar, AFM_GEMM_NR_SCALAR, false, NULL};
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
    bool count;            /* add the packed bytes to the workspace statistics */
    /* B packed beforehand (afm_gemm_bpack_fill), or NULL: K slice s, columns from j0 (a multiple
     * of NR) at bpre + s * bpre_stride + j0 * k_words(kc) */
    const float *bpre;
    long bpre_stride;
    bool row_split;        /* per-unit driver: thread ith runs row chunk ith's column tiles (else units ith, ith + nth, ...) */
    /* bpre panel-major (afm_gemm_bpanels_fill), or 0: panel p (columns p*NR ..) holds all of B's
     * rows at bpre + p * bpre_pstride, row k at word k (f32) or pair k/2 (bf16 pairs) times NR */
    long bpre_pstride;
} gemm_job;

/* K in equal slices of at most KC (2 KC for bf16 pair panels: the same bytes), no short last
 * slice, multiples of 4 but the last. Both drivers use it, so the sums are the same. */
static long k_slice(const gemm_job *g) {
    const long kc_max = g->uk.pairs ? 2 * AFM_GEMM_KC : AFM_GEMM_KC;
    long n_slices = (g->K + kc_max - 1) / kc_max;
    return ((g->K + n_slices - 1) / n_slices + 3) / 4 * 4;
}

/* panel stride in 4-byte words: kc floats, or (kc+1)/2 bf16 pairs */
static long k_words(const gemm_job *g, long kc) { return g->uk.pairs ? (kc + 1) / 2 : kc; }

/* A rows i0 .. i0+mc, K columns k0 .. k0+kc into MR-row panels at ap (layout of pack_a, or
 * pairs, or bf16-rounded f32) */
static void pack_a_block(const gemm_job *g, float *ap, long i0, long mc, long k0, long kc) {
    long padded = (mc + AFM_GEMM_MR - 1) / AFM_GEMM_MR * AFM_GEMM_MR;
    if (g->uk.pairs)
        g->uk.pack((uint32_t *)(void *)ap, AFM_GEMM_MR, mc, g->a + i0 * g->a_rs + k0 * g->a_cs, g->a_rs, g->a_cs, kc);
    else {
        pack_a(ap, g->a, g->a_rs, g->a_cs, i0, mc, k0, kc, g->avx2);
        if (g->ws->bf16) round_bf16(ap, (size_t)(padded * kc), g->avx2);
    }
    if (g->count) atomic_fetch_add_explicit(&g->ws->packed_a, (unsigned long long)(4 * padded * k_words(g, kc)), memory_order_relaxed);
}

/* B rows k0 .. k0+kc, columns j0 .. j0+nc into NR-column panels at bp */
static void pack_b_block(const gemm_job *g, float *bp, long j0, long nc, long k0, long kc) {
    const int NR = g->uk.nr;
    long padded = (nc + NR - 1) / NR * NR;
    if (g->uk.pairs)
        g->uk.pack((uint32_t *)(void *)bp, NR, nc, g->b + k0 * g->b_rs + j0 * g->b_cs, g->b_cs, g->b_rs, kc);
    else {
        pack_b(bp, NR, g->b, g->b_rs, g->b_cs, k0, kc, j0, nc, g->avx2);
        if (g->ws->bf16) round_bf16(bp, (size_t)(padded * kc), g->avx2);
    }
    if (g->count) atomic_fetch_add_explicit(&g->ws->packed_b, (unsigned long long)(4 * padded * k_words(g, kc)), memory_order_relaxed);
}

/* The B panel of prepacked B for the K slice starting at k0 (slices of `slice` rows, kw words
 * per row of this one) and columns j .. j+NR (j a multiple of NR). */
static const float *bpre_panel(const gemm_job *g, long k0, long slice, long j, long kw) {
    if (g->bpre_pstride) return g->bpre + (j / g->uk.nr) * g->bpre_pstride + (g->uk.pairs ? k0 / 2 : k0) * g->uk.nr;
    return g->bpre + (k0 / slice) * g->bpre_stride + j * kw;
}

/* Work unit: a column tile (nc_blk wide) x a row chunk (m_chunk tall) of C. Within it, each
 * KC-deep block of B is packed once and reused for every MC-row block of A (Goto's order); each
 * packed A block (MC x KC, in L2) is reused for every NR-wide panel of B (in L1). */
static void gemm_units(gemm_job *g, float *ap, float *bp, long u0, long u1, long step) {
    const int NR = g->uk.nr;
    for (long u = u0; u < u1; u += step) {
        const afm_gemm_unit t = afm_gemm_unit_at(u, g->M, g->Nc, g->m_chunk, g->nc_blk, g->tiles_n);
        const long j0 = t.j0, nc = t.nc, m0 = t.m0, m1 = t.m1;
        if (g->K == 0) { afm_gemm_unit_empty_sum(&t, g->c, g->c_rs, g->accumulate); continue; }
        long slice = k_slice(g);
        for (long k0 = 0; k0 < g->K; k0 += slice) {
            long kc = g->K - k0 < slice ? g->K - k0 : slice;
            bool add = g->accumulate || k0 > 0;
            const long kw = k_words(g, kc);
            if (!g->bpre) pack_b_block(g, bp, j0, nc, k0, kc);
            for (long i0 = m0; i0 < m1; i0 += AFM_GEMM_MC) {
                long mc = m1 - i0 < AFM_GEMM_MC ? m1 - i0 : AFM_GEMM_MC;
                pack_a_block(g, ap, i0, mc, k0, kc);
                for (long jr = 0; jr < nc; jr += NR) {
                    int nr = (int)(nc - jr < NR ? nc - jr : NR);
                    const float *bpanel = g->bpre ? bpre_panel(g, k0, slice, j0 + jr, kw) : bp + (jr / NR) * NR * kw;
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
    long n_units = g->tiles_m * g->tiles_n, lo = ith, hi = n_units, step = nth;
    if (g->row_split) { afm_split_range(n_units, ith, nth, &lo, &hi); step = 1; } /* a row chunk's tiles, in a row */
    gemm_units(g, g->ws->apack[ith], g->ws->bpack[ith], lo, hi, step);
}

/* One step of the shared driver: rows ic .. ic+mcs of A (and C), columns jc .. jc+ncs of B (and
 * C), K slice k0 .. k0+kc. Thread (gi, gj) of the gm x gn grid computes MR-row panels
 * [r0, r1) x NR-column panels [c0, c1) of the block: NC-wide column strips, MC-row blocks in
 * each, every B panel of the strip against every A panel of the row block. */
typedef struct shared_step {
    gemm_job *g;
    long ic, mcs, jc, ncs, k0, kc;
    bool pack_b, add;
    int gm, gn;
    const float *bpan;     /* the step's B panels: the shared buffer, or the pre-packed B */
} shared_step;

static void shared_pack(void *ctx, int ith, int nth) {
    shared_step *s = ctx;
    const gemm_job *g = s->g;
    const int NR = g->uk.nr;
    const long kw = k_words(g, s->kc);
    long lo, hi;
    afm_split_range((s->mcs + AFM_GEMM_MR - 1) / AFM_GEMM_MR, ith, nth, &lo, &hi);
    if (hi > lo) {
        long r1 = hi * AFM_GEMM_MR < s->mcs ? hi * AFM_GEMM_MR : s->mcs;
        pack_a_block(g, g->ws->sh_a + lo * AFM_GEMM_MR * kw, s->ic + lo * AFM_GEMM_MR, r1 - lo * AFM_GEMM_MR, s->k0, s->kc);
    }
    if (!s->pack_b) return;
    afm_split_range((s->ncs + NR - 1) / NR, ith, nth, &lo, &hi);
    if (hi > lo) {
        long c1 = hi * NR < s->ncs ? hi * NR : s->ncs;
        pack_b_block(g, g->ws->sh_b + lo * NR * kw, s->jc + lo * NR, c1 - lo * NR, s->k0, s->kc);
    }
}

static void shared_compute(void *ctx, int ith, int nth) {
    (void)nth;
    shared_step *s = ctx;
    if (ith >= s->gm * s->gn) return;
    const gemm_job *g = s->g;
    const int NR = g->uk.nr;
    const long kw = k_words(g, s->kc);
    long r0, r1, c0, c1;
    afm_split_range((s->mcs + AFM_GEMM_MR - 1) / AFM_GEMM_MR, ith / s->gn, s->gm, &r0, &r1);
    afm_split_range((s->ncs + NR - 1) / NR, ith % s->gn, s->gn, &c0, &c1);
    const long strip = AFM_GEMM_NC / NR, block = AFM_GEMM_MC / AFM_GEMM_MR;
    for (long jb = c0; jb < c1; jb += strip) {
        long jb1 = jb + strip < c1 ? jb + strip : c1;
        for (long ib = r0; ib < r1; ib += block) {
            long ib1 = ib + block < r1 ? ib + block : r1;
            for (long jp = jb; jp < jb1; jp++) {
                int nr = (int)(s->ncs - jp * NR < NR ? s->ncs - jp * NR : NR);
                const float *bpanel = g->bpre ? bpre_panel(g, s->k0, k_slice(g), s->jc + jp * NR, kw) : s->bpan + jp * NR * kw;
                float *cc = g->c + s->ic * g->c_rs + s->jc + jp * NR;
                for (long ip = ib; ip < ib1; ip++) {
                    int mr = (int)(s->mcs - ip * AFM_GEMM_MR < AFM_GEMM_MR ? s->mcs - ip * AFM_GEMM_MR : AFM_GEMM_MR);
                    g->uk.fn(s->kc, g->ws->sh_a + ip * AFM_GEMM_MR * kw, bpanel, cc + ip * AFM_GEMM_MR * g->c_rs, g->c_rs, mr, nr, s->add);
                }
            }
        }
    }
}

/* The gm x gn thread grid (gm * gn <= nth) over pm x pn tiles that minimizes the most tiles one
 * thread computes, then the rows + columns of a thread's rectangle (operand traffic). */
static void pick_grid(long pm, long pn, int nth, int mr, int nr, int *gm, int *gn) {
    long best = -1, best_edge = 0;
    *gm = *gn = 1;
    for (int a = 1; a <= nth && a <= pm; a++)
        for (int b = 1; a * b <= nth && b <= pn; b++) {
            long rows = (pm + a - 1) / a, cols = (pn + b - 1) / b, work = rows * cols, edge = rows * mr + cols * nr;
            if (best < 0 || work < best || (work == best && edge < best_edge)) { best = work; best_edge = edge; *gm = a; *gn = b; }
        }
}

static void gemm_shared(afm_pool *pool, gemm_job *g) {
    const int nth = afm_pool_size(pool), NR = g->uk.nr;
    const long slice = k_slice(g);
    for (long jc = 0; jc < g->Nc; jc += SH_N) {
        long ncs = g->Nc - jc < SH_N ? g->Nc - jc : SH_N;
        for (long k0 = 0; k0 < g->K; k0 += slice) {
            long kc = g->K - k0 < slice ? g->K - k0 : slice;
            for (long ic = 0; ic < g->M; ic += SH_M) {
                shared_step s = {g, ic, g->M - ic < SH_M ? g->M - ic : SH_M, jc, ncs, k0, kc, ic == 0 && !g->bpre,
                                 g->accumulate || k0 > 0, 1, 1, g->ws->sh_b};
                if (g->bpre) s.bpan = g->bpre + (k0 / slice) * g->bpre_stride + jc * k_words(g, kc);
                pick_grid((s.mcs + AFM_GEMM_MR - 1) / AFM_GEMM_MR, (ncs + NR - 1) / NR, nth, AFM_GEMM_MR, NR, &s.gm, &s.gn);
                double t0 = afm_now_s();
                afm_pool_run(pool, shared_pack, &s);
                g->ws->pack_seconds += afm_now_s() - t0;
                afm_pool_run(pool, shared_compute, &s);
                g->ws->runs += 2;
            }
        }
    }
}

void afm_gemm_serial(afm_gemm_ws *ws, int slot, long M, long Nc, long K, const float *a, long a_rs, long a_cs,
                     const float *b, long b_rs, long b_cs, float *c, long c_rs, bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    if (ws->bf16 && !g_forced && afm_amx_bf16_usable()) { /* AMX tiles (train_gemm_amx.c) */
        afm_gemm_amx(NULL, 1, ws->apack + slot, ws->bpack + slot, M, Nc, K, a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs, accumulate);
        return;
    }
    gemm_job g = {ws, pick_ukernel(ws->bf16), afm_isa_best() >= AFM_ISA_AVX2, M, Nc, K, 0, 1, M, 1, a, b, a_rs, a_cs, b_rs, b_cs, c_rs, c, accumulate, false, NULL, 0, false, 0};
    long nc = (Nc + g.uk.nr - 1) / g.uk.nr * g.uk.nr;
    g.nc_blk = nc < AFM_GEMM_NC ? nc : AFM_GEMM_NC;
    g.tiles_n = (Nc + g.nc_blk - 1) / g.nc_blk;
    gemm_units(&g, ws->apack[slot], ws->bpack[slot], 0, g.tiles_m * g.tiles_n, 1);
}

/* afm_gemm's driver for a job g (operands, kernel, bpre set): tiling, then the shared or the
 * per-unit driver. */
static void gemm_run(afm_pool *pool, int nth, gemm_job *g) {
    const long NR = g->uk.nr, M = g->M, Nc = g->Nc, panels = (Nc + NR - 1) / NR;
    afm_gemm_ws *ws = g->ws;
    /* Column tiles are at most NC wide (the per-thread B buffer), or all of C's columns when B is
     * packed beforehand. Two tilings of the per-unit driver for nth threads:
     *  - column split: tiles narrow enough for one per thread (too few tiles: rows split as well,
     *    multiples of MR); every unit packs A again for its tile and its own part of B;
     *  - row split: one row chunk per thread, each with its own column tiles; B is packed again
     *    by every thread (not at all when packed beforehand), A once per tile.
     * The one that packs fewer words is taken (per K row: A rows x A packings + B columns x B
     * packings); both give the same sums. */
    const long wide = g->bpre ? panels : AFM_GEMM_NC / NR;
    long per = (panels + nth - 1) / nth;
    if (per > wide) per = wide;
    g->nc_blk = per * NR;
    g->tiles_n = (Nc + g->nc_blk - 1) / g->nc_blk;
    if (g->tiles_n < nth) {
        long parts = (nth + g->tiles_n - 1) / g->tiles_n;
        long chunk = (M + parts - 1) / parts;
        chunk = (chunk + AFM_GEMM_MR - 1) / AFM_GEMM_MR * AFM_GEMM_MR;
        g->m_chunk = chunk > 0 ? chunk : M;
        g->tiles_m = (M + g->m_chunk - 1) / g->m_chunk;
    }
    const double a = (double)M, b = g->bpre ? 0.0 : (double)Nc;
    double per_unit = a * (double)g->tiles_n + b * (double)g->tiles_m;
    if (nth > 1) {
        long chunk = ((M + nth - 1) / nth + AFM_GEMM_MR - 1) / AFM_GEMM_MR * AFM_GEMM_MR;
        long blk = (panels < wide ? panels : wide) * NR, tn = (Nc + blk - 1) / blk, tm = (M + chunk - 1) / chunk;
        double rows = a * (double)tn + b * (double)tm;
        if (tm == nth && chunk >= 4 * AFM_GEMM_MR && rows < per_unit) {
            g->row_split = true;
            g->m_chunk = chunk; g->tiles_m = tm;
            g->nc_blk = blk; g->tiles_n = tn;
            per_unit = rows;
        }
    }
    bool shared = nth > 1 && g->K > 0 && ws->pack != AFM_GEMM_PACK_PER_THREAD;
    if (shared && ws->pack == AFM_GEMM_PACK_AUTO) {
        /* shared: A once per SH_N columns and B once. Shared packing costs a second
         * synchronization per K slice, so it is taken where it at least halves the words. */
        double one = a * (double)((Nc + SH_N - 1) / SH_N) + b;
        shared = per_unit >= 2.0 * one;
    }
    if (shared) gemm_shared(pool, g);
    else if (nth <= 1 || g->tiles_m * g->tiles_n == 1) gemm_worker(g, 0, 1);
    else { afm_pool_run(pool, gemm_worker, g); ws->runs++; }
}

static void count_call(afm_gemm_ws *ws, long M, long Nc, long K, double t0) {
    ws->calls++;
    ws->flops += 2.0 * (double)M * (double)Nc * (double)K;
    ws->seconds += afm_now_s() - t0;
}

static bool use_amx(const afm_gemm_ws *ws) { return ws->bf16 && !g_forced && afm_amx_bf16_usable(); }

void afm_gemm(afm_pool *pool, afm_gemm_ws *ws, long M, long Nc, long K,
              const float *a, long a_rs, long a_cs, const float *b, long b_rs, long b_cs,
              float *c, long c_rs, bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    double t0 = afm_now_s();
    int nth = afm_pool_size(pool);
    if (nth > ws->n_threads) nth = 1; /* workspace made for fewer threads: stay on this one */
    if (use_amx(ws)) /* AMX tiles (train_gemm_amx.c) */
        afm_gemm_amx(pool, nth, ws->apack, ws->bpack, M, Nc, K, a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs, accumulate);
    else {
        gemm_job g = {ws, pick_ukernel(ws->bf16), afm_isa_best() >= AFM_ISA_AVX2, M, Nc, K, 0, 0, M, 1, a, b, a_rs, a_cs, b_rs, b_cs,
                      c_rs, c, accumulate, true, NULL, 0, false, 0};
        gemm_run(pool, nth, &g);
    }
    count_call(ws, M, Nc, K, t0);
}

/* ---------------- B packed once for several products ---------------- */

size_t afm_gemm_bpack_floats(long K, long Nc) {
    /* f32 panels: Nc padded to the widest NR, K deep; bf16 pairs take (kc + 1) / 2 <= kc words per slice */
    if (K <= 0 || Nc <= 0) return 0;
    return (size_t)((Nc + AFM_GEMM_NR_MAX - 1) / AFM_GEMM_NR_MAX * AFM_GEMM_NR_MAX) * (size_t)K;
}

typedef struct bfill_ctx { gemm_job *g; float *buf; long slice, stride; } bfill_ctx;

/* thread ith of nth packs its share of the NR-wide panels of every K slice (columns 0 .. g->Nc,
 * the packed ones) */
static void bfill_worker(void *ctx, int ith, int nth) {
    bfill_ctx *f = ctx;
    const gemm_job *g = f->g;
    const long NR = g->uk.nr, panels = (g->Nc + NR - 1) / NR;
    long lo, hi;
    afm_split_range(panels, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    long j0 = lo * NR, j1 = hi * NR < g->Nc ? hi * NR : g->Nc;
    for (long k0 = 0; k0 < g->K; k0 += f->slice) {
        long kc = g->K - k0 < f->slice ? g->K - k0 : f->slice;
        pack_b_block(g, f->buf + (k0 / f->slice) * f->stride + j0 * k_words(g, kc), j0, j1 - j0, k0, kc);
    }
}

long afm_gemm_bpack_cols(long K, long Nc, size_t floats) {
    if (K <= 0 || Nc <= 0) return 0;
    size_t fit = floats / (size_t)K / AFM_GEMM_NR_MAX * AFM_GEMM_NR_MAX;
    return fit >= (size_t)Nc ? Nc : (long)fit;
}

void afm_gemm_bpack_fill_cols(afm_pool *pool, afm_gemm_ws *ws, afm_gemm_bpack *pb, float *buf, long cols, long K, long Nc,
                              const float *b, long b_rs, long b_cs) {
    double t0 = afm_now_s();
    if (cols > Nc) cols = Nc;
    if (cols < Nc) cols = cols / AFM_GEMM_NR_MAX * AFM_GEMM_NR_MAX; /* the rest starts on a panel boundary of every kernel */
    if (cols < 0) cols = 0;
    *pb = (afm_gemm_bpack){.b = b, .b_rs = b_rs, .b_cs = b_cs, .K = K, .Nc = Nc, .cols = cols, .buf = buf, .bf16 = ws->bf16};
    if (use_amx(ws) || !buf || K <= 0 || cols <= 0) return; /* AMX packs its own tiles: afm_gemm_packed multiplies by b */
    gemm_job g = {ws, pick_ukernel(ws->bf16), afm_isa_best() >= AFM_ISA_AVX2, 0, cols, K, 0, 0, 0, 1, NULL, b, 0, 0, b_rs, b_cs, 0,
                  NULL, false, true, NULL, 0, false, 0};
    long padded = (cols + g.uk.nr - 1) / g.uk.nr * g.uk.nr;
    bfill_ctx f = {&g, buf, k_slice(&g), 0};
    f.stride = padded * k_words(&g, f.slice);
    int nth = afm_pool_size(pool);
    if (nth > 1 && (cols + g.uk.nr - 1) / g.uk.nr >= nth) { afm_pool_run(pool, bfill_worker, &f); ws->runs++; }
    else bfill_worker(&f, 0, 1);
    pb->fn = g.uk.fn;
    pb->slice_stride = f.stride;
    ws->seconds += afm_now_s() - t0;
}

void afm_gemm_bpack_fill(afm_pool *pool, afm_gemm_ws *ws, afm_gemm_bpack *pb, float *buf, long K, long Nc,
                         const float *b, long b_rs, long b_cs) {
    afm_gemm_bpack_fill_cols(pool, ws, pb, buf, Nc, K, Nc, b, b_rs, b_cs);
}

void afm_gemm_packed(afm_pool *pool, afm_gemm_ws *ws, long M, const float *a, long a_rs, long a_cs, const afm_gemm_bpack *pb,
                     float *c, long c_rs, bool accumulate) {
    ukernel_desc uk = pick_ukernel(ws->bf16);
    if (!pb->fn || pb->fn != uk.fn || pb->bf16 != ws->bf16 || use_amx(ws)) { /* not packed for this kernel: as afm_gemm */
        afm_gemm(pool, ws, M, pb->Nc, pb->K, a, a_rs, a_cs, pb->b, pb->b_rs, pb->b_cs, c, c_rs, accumulate);
        return;
    }
    if (M <= 0 || pb->Nc <= 0) return;
    double t0 = afm_now_s();
    int nth = afm_pool_size(pool);
    if (nth > ws->n_threads) nth = 1;
    /* columns 0 .. cols from the panels; C's columns are independent sums with the same K slices,
     * so the unpacked rest (afm_gemm, which packs it as usual) gives the bits a whole product would */
    gemm_job g = {ws, uk, afm_isa_best() >= AFM_ISA_AVX2, M, pb->cols, pb->K, 0, 0, M, 1, a, pb->b, a_rs, a_cs, pb->b_rs, pb->b_cs,
                  c_rs, c, accumulate, true, pb->buf, pb->slice_stride, false, 0};
    gemm_run(pool, nth, &g);
    count_call(ws, M, pb->cols, pb->K, t0);
    if (pb->cols < pb->Nc)
        afm_gemm(pool, ws, M, pb->Nc - pb->cols, pb->K, a, a_rs, a_cs, pb->b + pb->cols * pb->b_cs, pb->b_rs, pb->b_cs,
                 c + pb->cols, c_rs, accumulate);
}

/* ---------------- B packed whole, panel by panel, for serial products on a leading part ---------------- */

size_t afm_gemm_bpanels_floats(long K, long Nc) { return afm_gemm_bpack_floats(K, Nc); }

void afm_gemm_bpanels_fill(afm_gemm_ws *ws, afm_gemm_bpanels *pb, float *buf, long K, long Nc, const float *b, long b_rs, long b_cs) {
    *pb = (afm_gemm_bpanels){.b = b, .b_rs = b_rs, .b_cs = b_cs, .K = K, .Nc = Nc, .buf = buf, .bf16 = ws->bf16};
    if (use_amx(ws) || !buf || K <= 0 || Nc <= 0) return;
    gemm_job g = {ws, pick_ukernel(ws->bf16), afm_isa_best() >= AFM_ISA_AVX2, 0, Nc, K, 0, 0, 0, 1, NULL, b, 0, 0, b_rs, b_cs, 0,
                  NULL, false, false, NULL, 0, false, 0};
    /* one block K rows deep: panel p at p * NR * k_words(K), row k at k * NR (pairs: k/2) */
    pack_b_block(&g, buf, 0, Nc, 0, K);
    pb->fn = g.uk.fn;
    pb->pstride = g.uk.nr * k_words(&g, K);
}

void afm_gemm_serial_bpanels(afm_gemm_ws *ws, int slot, long M, long Nc, long K, const float *a, long a_rs, long a_cs,
                             const afm_gemm_bpanels *pb, float *c, long c_rs, bool accumulate) {
    if (M <= 0 || Nc <= 0) return;
    ukernel_desc uk = pick_ukernel(ws->bf16);
    /* a pair (k, k+1) of bf16 panels past an odd K would hold row K of B, where afm_gemm packs 0 */
    bool odd_pair = uk.pairs && (K & 1) && K < pb->K;
    if (!pb->fn || pb->fn != uk.fn || pb->bf16 != ws->bf16 || use_amx(ws) || K > pb->K || Nc > pb->Nc || odd_pair) {
        afm_gemm_serial(ws, slot, M, Nc, K, a, a_rs, a_cs, pb->b, pb->b_rs, pb->b_cs, c, c_rs, accumulate);
        return;
    }
    /* the K slices of afm_gemm_serial (K, not pb->K, decides them), one column tile as wide as C:
     * A packed once per MC rows and K slice, B not at all */
    gemm_job g = {ws, uk, afm_isa_best() >= AFM_ISA_AVX2, M, Nc, K, 0, 1, M, 1, a, pb->b, a_rs, a_cs, pb->b_rs, pb->b_cs, c_rs, c,
                  accumulate, false, pb->buf, 0, false, pb->pstride};
    g.nc_blk = (Nc + uk.nr - 1) / uk.nr * uk.nr;
    gemm_units(&g, ws->apack[slot], ws->bpack[slot], 0, 1, 1);
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
