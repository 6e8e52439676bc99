/* Training throughput of the C training core and the machine's f32 FMA peak, measured in the
 * same run.
 *
 *   bench_train peak [THREADS]                     f32 FMA peak (GFLOP/s), AVX2 and AVX-512
 *   bench_train gemm [THREADS [f32|bf16]]          the three linear-layer GEMMs, GFLOP/s (bf16: bf16
 *                                                  compute, AMX tiles where usable)
 *   bench_train ukernel                            the GEMM micro-kernel alone (1 thread, packed
 *                                                  panels resident in L1/L2), GFLOP/s; also the
 *                                                  vdpbf16ps kernel where the CPU has AVX512-BF16
 *   bench_train train 10m|50m [B T STEPS THREADS [f32|bf16]]  tokens/s of forward + backward + AdamW
 *                                                  (bf16: GEMM inputs rounded to bf16, f32 accumulation)
 *   bench_train profile 10m|50m [...]              the same with a per-op time breakdown
 *
 * Training FLOPs per token (for MFU): 6 x (parameters of every matrix multiply, i.e. all linear
 * weights plus the output projection) + 6 x L x T x H x hd (attention scores and mixing, forward
 * and backward, counted as llm.c does without halving for the causal mask).
 * The peak uses 12 independent accumulator chains with distinct inputs per thread and an opaque
 * barrier, so the compiler cannot merge them (see ../shared/tools/machine_limits.c).
 * With THREADS = 1 every time is the thread's CPU time (robust on a shared machine); otherwise
 * wall clock. `train` also reports the linear-layer GEMMs' share of the step (wall time inside
 * afm_gemm; attention's GEMMs are not in it) and the bytes their packers wrote per step
 * (AFM_GEMM_SHARED_PACK=0 selects per-thread packing, for A/B runs). AFM_OUT_CHUNK=C runs the
 * output layer in chunks of C < the default tokens; AFM_OUT_PACK=0 packs the output matrix for
 * every chunk instead of once per step; AFM_CHECKPOINT_ACTIVATIONS=1 checkpoints
 * activations (model/train_model.h). */
#include "model/train_model.h"
#include "train/optim.h"
#include "base/cpu.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/timer.h"
#include <immintrin.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of the calling thread: on a shared machine (this one runs ~10 jobs on 2 cores) wall
 * time measures the scheduler; with one thread per core, thread CPU time measures the code. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define OPAQUE(v) __asm__ volatile("" : "+x"(v))
enum { CHAINS = 12 };
static const long PEAK_ITERS = 40000000;

typedef struct peak_ctx { double sink[512]; int avx512; } peak_ctx;

__attribute__((target("avx2,fma"))) static double peak_avx2(long iters, int seed) {
    __m256 a = _mm256_set1_ps(1.0001f), b = _mm256_set1_ps(0.9999f), c[CHAINS];
    for (int k = 0; k < CHAINS; k++) c[k] = _mm256_set1_ps((float)(k + 1 + seed));
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS; k++) c[k] = _mm256_fmadd_ps(a, b, c[k]);
        OPAQUE(a);
    }
    for (int k = 1; k < CHAINS; k++) c[0] = _mm256_add_ps(c[0], c[k]);
    float out[8];
    _mm256_storeu_ps(out, c[0]);
    return out[0];
}

__attribute__((target("avx512f"))) static double peak_avx512(long iters, int seed) {
    __m512 a = _mm512_set1_ps(1.0001f), b = _mm512_set1_ps(0.9999f), c[CHAINS];
    for (int k = 0; k < CHAINS; k++) c[k] = _mm512_set1_ps((float)(k + 1 + seed));
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS; k++) c[k] = _mm512_fmadd_ps(a, b, c[k]);
        OPAQUE(a);
    }
    for (int k = 1; k < CHAINS; k++) c[0] = _mm512_add_ps(c[0], c[k]);
    return _mm512_reduce_add_ps(c[0]);
}

static void peak_worker(void *p, int ith, int nth) {
    (void)nth;
    peak_ctx *c = p;
    c->sink[ith] = c->avx512 ? peak_avx512(PEAK_ITERS / 2, ith) : peak_avx2(PEAK_ITERS, ith);
}

/* GFLOP/s of FMA over all pool threads (best of 3). */
static double fma_peak(afm_pool *pool, int avx512) {
    peak_ctx c = {{0}, avx512};
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        bool one = afm_pool_size(pool) == 1;
        double t = one ? cpu_s() : afm_now_s();
        afm_pool_run(pool, peak_worker, &c);
        t = (one ? cpu_s() : afm_now_s()) - t;
        double flops = (double)afm_pool_size(pool) * (avx512 ? PEAK_ITERS / 2 * 32.0 : PEAK_ITERS * 16.0) * CHAINS;
        if (flops / t / 1e9 > best) best = flops / t / 1e9;
    }
    if (c.sink[0] == 12345.0) puts("");
    return best;
}

static double machine_peak(afm_pool *pool, const char **isa) {
    if (afm_cpu()->avx512f) { *isa = "avx512"; return fma_peak(pool, 1); }
    if (afm_cpu()->avx2 && afm_cpu()->fma) { *isa = "avx2"; return fma_peak(pool, 0); }
    *isa = "none";
    return 0;
}

static const char *pack_name(afm_gemm_pack p) { return p == AFM_GEMM_PACK_SHARED ? "shared" : p == AFM_GEMM_PACK_PER_THREAD ? "per-thread" : "auto"; }

static void fill(float *x, size_t n, afm_rng *r) { for (size_t i = 0; i < n; i++) x[i] = afm_rng_uniform(r) - 0.5f; }

static const char *compute_name(bool bf16) {
    if (!bf16) return "f32";
    if (afm_amx_bf16_usable()) return "bf16 (AMX tiles)";
    if (afm_isa_best() >= AFM_ISA_AVX512 && afm_cpu()->avx512bf16) return "bf16 (vdpbf16ps)";
    return "bf16 (f32 kernels on rounded panels)";
}

static int bench_gemm(afm_pool *pool, bool bf16) {
    static const long shapes[][3] = {{1024, 640, 640}, {1024, 640, 128}, {1024, 640, 1728}, {1024, 1728, 640}, {1024, 640, 16384}};
    afm_gemm_ws *ws;
    if (afm_gemm_ws_create(afm_pool_size(pool), &ws) != AFM_OK) return 1;
    afm_gemm_ws_set_bf16(ws, bf16);
    afm_rng r;
    afm_rng_seed(&r, 1);
    const char *isa;
    double peak = machine_peak(pool, &isa);
    printf("threads %d, FMA peak (%s) %.1f GFLOP/s, compute %s, %s packing\n", afm_pool_size(pool), isa, peak, compute_name(bf16),
           pack_name(afm_gemm_ws_pack(ws)));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        long N = shapes[s][0], I = shapes[s][1], O = shapes[s][2];
        float *x = afm_alloc(sizeof(float) * N * I), *W = afm_alloc(sizeof(float) * O * I), *y = afm_alloc(sizeof(float) * N * O);
        float *dx = afm_alloc(sizeof(float) * N * I), *dW = afm_calloc(sizeof(float) * O * I);
        fill(x, N * I, &r); fill(W, O * I, &r);
        double flops = 2.0 * N * I * O, t[3];
        for (int mode = 0; mode < 3; mode++) {
            double best = 1e30;
            for (int rep = 0; rep < 3; rep++) {
                bool one = afm_pool_size(pool) == 1;
                double t0 = one ? cpu_s() : afm_now_s();
                if (mode == 0) afm_linear_fwd(pool, ws, y, x, W, N, I, O);
                else if (mode == 1) afm_linear_bwd_x(pool, ws, dx, y, W, N, I, O, false);
                else afm_linear_bwd_w(pool, ws, dW, y, x, N, I, O);
                double dt = (one ? cpu_s() : afm_now_s()) - t0;
                if (dt < best) best = dt;
            }
            t[mode] = flops / best / 1e9;
        }
        printf("N=%ld I=%ld O=%ld: x·Wᵀ %.1f  dy·W %.1f  dyᵀ·x %.1f GFLOP/s (%.0f%% / %.0f%% / %.0f%% of peak)\n", N, I, O,
               t[0], t[1], t[2], 100 * t[0] / peak, 100 * t[1] / peak, 100 * t[2] / peak);
        afm_free(x); afm_free(W); afm_free(y); afm_free(dx); afm_free(dW);
    }
    afm_gemm_ws_free(ws);
    return 0;
}

/* A micro-kernel and its packed panels: the MR-row A panels of an MC-row block (rows i .. i+MR at
 * ap + i * kw) and panels_b NR-wide B panels (panel j at bp + j * kw * nr); k is the depth the
 * kernel is called with (kw floats per panel row: k for f32, k / 2 for bf16 pairs). */
typedef struct ukernel_panels {
    afm_gemm_ukernel fn;
    int nr;
    long k, kw;
    const float *ap, *bp;
    long panels_b;
} ukernel_panels;

/* Best GFLOP/s (2 MR nr k per call, thread CPU time) over reps runs of `passes` walks of C
 * (rows x cols, row-major) as afm_gemm walks it: per MC-row block, every NR-wide column panel
 * against the block's A panels (B panels reused cyclically). */
static double ukernel_gflops(ukernel_panels u, float *c, long rows, long cols, int passes, int reps) {
    double best = 0;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = cpu_s();
        long calls = 0;
        for (int pass = 0; pass < passes; pass++)
            for (long i0 = 0; i0 + AFM_GEMM_MC <= rows; i0 += AFM_GEMM_MC)
                for (long jp = 0; jp < cols / u.nr; jp++) {
                    const float *bpanel = u.bp + (jp % u.panels_b) * u.kw * u.nr;
                    for (long i = 0; i < AFM_GEMM_MC; i += AFM_GEMM_MR, calls++)
                        u.fn(u.k, u.ap + i * u.kw, bpanel, c + (i0 + i) * cols + jp * u.nr, cols, AFM_GEMM_MR, u.nr, true);
                }
        double dt = cpu_s() - t0, gf = 2.0 * AFM_GEMM_MR * u.nr * u.k * calls / dt / 1e9;
        if (gf > best) best = gf;
    }
    return best;
}

/* The micro-kernel in isolation: one B panel (KC x NR, L1) against the A panels of an MC x KC
 * block (L2), as afm_gemm runs it, over a C block that stays in cache. */
static int bench_ukernel(afm_pool *pool) {
    const char *isa;
    double peak = machine_peak(pool, &isa);
    afm_gemm_ukernel fn = afm_isa_best() >= AFM_ISA_AVX512 ? afm_gemm_ukernel_avx512 :
                          afm_isa_best() >= AFM_ISA_AVX2 ? afm_gemm_ukernel_avx2 : afm_gemm_ukernel_scalar;
    int nr = afm_isa_best() >= AFM_ISA_AVX512 ? AFM_GEMM_NR_AVX512 : afm_isa_best() >= AFM_ISA_AVX2 ? AFM_GEMM_NR_AVX2 : AFM_GEMM_NR_SCALAR;
    long kc = AFM_GEMM_KC, mc = AFM_GEMM_MC, panels_b = 8;
    float *ap = afm_alloc(sizeof(float) * mc * kc), *bp = afm_alloc(sizeof(float) * kc * nr * panels_b);
    float *c = afm_alloc(sizeof(float) * mc * nr * panels_b);
    afm_rng r;
    afm_rng_seed(&r, 3);
    fill(ap, mc * kc, &r); fill(bp, kc * nr * panels_b, &r);
    const ukernel_panels f32 = {fn, nr, kc, kc, ap, bp, panels_b};
    double best = ukernel_gflops(f32, c, mc, nr * panels_b, 40, 5);
    printf("micro-kernel %s (%dx%d, kc %ld): %.1f GFLOP/s, %.0f%% of the FMA peak (%s) %.1f GFLOP/s\n",
           afm_isa_name(afm_isa_best()), AFM_GEMM_MR, nr, kc, best, 100 * best / peak, isa, peak);
    /* the same calls with C a 64 MiB row-major matrix (8192 columns) walked as afm_gemm walks a
     * wide output: C tiles come from memory, as in the logits and FFN products */
    long cols = 8192, rows = 2048;
    float *cbig = afm_calloc(sizeof(float) * (size_t)rows * (size_t)cols);
    best = ukernel_gflops(f32, cbig, rows, cols, 1, 3);
    printf("  with C in memory (%ld x %ld): %.1f GFLOP/s, %.0f%% of the FMA peak\n", rows, cols, best, 100 * best / peak);
    afm_free(cbig);
    if (afm_isa_best() >= AFM_ISA_AVX512 && afm_cpu()->avx512bf16) {
        /* vdpbf16ps kernel on pair panels: a KC-deep f32 slice is 2 KC deep in pairs (the same
         * bytes); FLOPs 2 x MR x NR x k. Its ratio to the f32 kernel is what bf16 can gain. */
        long kb = 2 * AFM_GEMM_KC, pw = kb / 2;
        float *ap2 = afm_alloc(sizeof(float) * mc * pw), *bp2 = afm_alloc(sizeof(float) * pw * AFM_GEMM_NR_AVX512 * panels_b);
        for (long i = 0; i < mc * pw; i++) ap2[i] = 0.25f + (float)(i % 7) * 0.01f;
        for (long i = 0; i < pw * AFM_GEMM_NR_AVX512 * panels_b; i++) bp2[i] = 0.5f - (float)(i % 5) * 0.01f;
        const ukernel_panels bf16 = {afm_gemm_ukernel_bf16_avx512, AFM_GEMM_NR_AVX512, kb, pw, ap2, bp2, panels_b};
        best = ukernel_gflops(bf16, c, mc, AFM_GEMM_NR_AVX512 * panels_b, 40, 5);
        printf("micro-kernel bf16 vdpbf16ps (%dx%d, k %ld): %.1f GFLOP/s, %.2fx the f32 FMA peak\n", AFM_GEMM_MR, AFM_GEMM_NR_AVX512, kb, best, best / peak);
        printf("RESULT ukernel_bf16_gflops=%.1f f32_peak=%.1f\n", best, peak);
        afm_free(ap2); afm_free(bp2);
    } else printf("micro-kernel bf16: cpu lacks avx512bf16 (or AFM_FORCE_ISA caps it), not run\n");
    afm_free(ap); afm_free(bp); afm_free(c);
    return 0;
}

static int bench_step(afm_pool *pool, const char *name, int B, int T, int steps, bool bf16, bool profile) {
    afm_config c = {.arch = "afm", .rope_theta = 500000.0f, .rope_layout = AFM_ROPE_INTERLEAVED,
                    .qk_norm = AFM_QK_NORM_AFTER_ROPE, .norm_eps = 1e-5f, .tied_output = true, .head_dim = 64};
    if (!strcmp(name, "10m")) { c.n_vocab = 8192; c.dim = 384; c.n_layers = 5; c.n_heads = 6; c.n_kv_heads = 2; c.ffn_dim = 1024; }
    else if (!strcmp(name, "50m")) { c.n_vocab = 16384; c.dim = 640; c.n_layers = 10; c.n_heads = 10; c.n_kv_heads = 2; c.ffn_dim = 1728; }
    else { fprintf(stderr, "unknown config '%s' (10m or 50m)\n", name); return 2; }
    c.max_seq_len = T;
    afm_train_model *m;
    const char *cke = getenv("AFM_CHECKPOINT_ACTIVATIONS"); /* 1: activation checkpointing (train_model.h) */
    const char *opk = getenv("AFM_OUT_PACK"); /* 0: repack the output matrix for every chunk (A/B runs) */
    afm_train_model_opts mo = {.checkpoint_activations = cke && atoi(cke) > 0, .no_out_pack = opk && opk[0] == '0'};
    if (afm_train_model_create_opts(&c, B, T, &mo, pool, &m) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    afm_train_model_init(m, 1);
    afm_gemm_ws_set_bf16(m->gemm, bf16);
    const char *och = getenv("AFM_OUT_CHUNK"); /* tuning: fewer tokens per output-layer chunk than the default */
    if (och && atoi(och) > 0 && atoi(och) < m->out_chunk_cap) m->out_chunk = atoi(och);
    afm_optim_config oc = afm_optim_defaults(AFM_OPTIM_ADAMW, c.dim);
    afm_optim *o;
    if (afm_optim_create(&oc, m->n_params, &o) != AFM_OK) return 1;
    afm_rng r;
    afm_rng_seed(&r, 5);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    for (long i = 0; i < (long)B * (T + 1); i++) tok[i] = (int32_t)(afm_rng_u64(&r) % (uint64_t)c.n_vocab);
    int32_t *x = malloc(sizeof(int32_t) * (size_t)B * T), *y = malloc(sizeof(int32_t) * (size_t)B * T);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) { x[b * T + t] = tok[b * (T + 1) + t]; y[b * T + t] = tok[b * (T + 1) + t + 1]; }
    /* matmul parameters: every linear weight plus the output projection (the embedding lookup is free) */
    double mm_params = 0;
    for (int i = 0; i < m->n_tensors; i++) if (m->tensors[i].kind == AFM_PARAM_LINEAR) mm_params += (double)m->tensors[i].numel;
    mm_params += (double)c.n_vocab * c.dim;
    double flops_tok = 6.0 * mm_params + 6.0 * c.n_layers * T * c.n_heads * c.head_dim;
    double tf = 0, tb = 0, to = 0, loss = 0, twall = 0; /* twall: wall clock of the measured steps, for the GEMM share */
    int measured = 0;
    bool one = afm_pool_size(pool) == 1;
    double (*clk)(void) = one ? cpu_s : afm_now_s;
    double prof[AFM_TP_COUNT] = {0}, tz = 0;
    for (int s = 0; s < steps + 1; s++) {
        if (profile && s == 1) { m->prof = prof; m->prof_clock = clk; }
        if (s == 1) afm_gemm_ws_reset_stats(m->gemm);
        double t0 = clk(), w0 = afm_now_s();
        afm_train_zero_grad(m);
        double tz1 = clk();
        /* forward + backward in one call (the output layer and loss in chunks, no (N, V) logits) */
        afm_train_step(m, x, y, B, T, 1.0f, &loss);
        double t1 = clk(), t2 = t1;
        afm_optim_step(o, m, 1.0f, NULL);
        double t3 = clk(), w3 = afm_now_s();
        if (s == 0) continue; /* warm-up step: first-touch page faults */
        twall += w3 - w0;
        tf += t1 - t0; tb += t2 - t1; to += t3 - t2; tz += tz1 - t0;
        measured++;
    }
    double tok_s = (double)B * T * measured / (tf + tb + to);
    const char *isa;
    double peak = machine_peak(pool, &isa);
    printf("afm %s: %.2fM params, B=%d T=%d, threads %d, isa %s, compute %s: loss %.4f\n", name, m->n_params / 1e6, B, T,
           afm_pool_size(pool), afm_isa_name(afm_isa_best()), compute_name(bf16), loss);
    printf("  timing: %s\n", one ? "thread CPU time (1 thread)" : "wall clock");
    char opk_s[160] = ", output matrix packed per chunk";
    if (m->out_pack_fwd)
        snprintf(opk_s, sizeof opk_s, ", output matrix packed once per step: %ld of %d columns for the logits, %ld of %d for dx, %.1f MiB",
                 m->out_pack_v_cols, c.n_vocab, m->out_pack_d_cols, c.dim,
                 4.0 * (double)(afm_gemm_bpack_floats(c.dim, m->out_pack_v_cols) + afm_gemm_bpack_floats(c.n_vocab, m->out_pack_d_cols)) / 1048576.0);
    printf("  per step: forward+backward %.3f s (output layer in chunks of %d tokens%s%s), optimizer %.3f s\n", (tf + tb) / measured,
           m->out_chunk, opk_s, m->checkpoint ? ", activation checkpointing" : "", to / measured);
    afm_gemm_stats gs = afm_gemm_ws_stats(m->gemm);
    /* the GEMM timer is a wall clock: its share is of the steps' wall time (at 1 thread the step
     * timing above is CPU time, which on a loaded machine is shorter than the wall time) */
    double step_s = twall / measured, gemm_s = gs.seconds / measured, gshare = step_s > 0 ? gemm_s / step_s : 0;
    printf("  linear-layer GEMMs (%s packing): %.3f s per step (wall), %.1f%% of the step, %.1f GFLOP/s; the rest %.3f s; "
           "if the GEMMs ran 2x faster the step would be %.2fx faster\n", pack_name(afm_gemm_ws_pack(m->gemm)),
           gemm_s, 100 * gshare, gs.flops / measured / (gemm_s > 0 ? gemm_s : 1) / 1e9, step_s - gemm_s, 1.0 / (1.0 - gshare / 2));
    printf("  packed per step: A %.1f MiB, B %.1f MiB (%.2f bytes per GEMM FLOP x 1000); %ld GEMM calls, %ld pool runs per step",
           gs.packed_a / measured / 1048576.0, gs.packed_b / measured / 1048576.0,
           1000.0 * (double)(gs.packed_a + gs.packed_b) / (gs.flops > 0 ? gs.flops : 1), gs.calls / measured, gs.runs / measured);
    if (gs.pack_seconds > 0) printf("; packing runs %.4f s per step (%.1f%% of the GEMM time)", gs.pack_seconds / measured, 100 * gs.pack_seconds / (gs.seconds > 0 ? gs.seconds : 1));
    printf("\n");
    printf("  %.1f tokens/s, %.1f GFLOP/s model FLOPs, FMA peak (%s) %.1f GFLOP/s, MFU %.1f%%\n", tok_s, tok_s * flops_tok / 1e9,
           isa, peak, 100.0 * tok_s * flops_tok / 1e9 / peak);
    if (profile) {
        /* per-op seconds per step, their share of the step, and what the model FLOPs are left for */
        double step = (tf + tb + to) / measured, acc = 0;
        printf("  per-op time per step (%s):\n", one ? "thread CPU" : "wall");
        for (int i = 0; i < AFM_TP_COUNT; i++) {
            double v = prof[i] / measured;
            acc += v;
            printf("    %-18s %8.2f ms %5.1f%%\n", afm_train_prof_name(i), 1e3 * v, 100 * v / step);
        }
        printf("    %-18s %8.2f ms %5.1f%%\n", "zero_grad", 1e3 * tz / measured, 100 * tz / measured / step);
        printf("    %-18s %8.2f ms %5.1f%%\n", "optimizer", 1e3 * to / measured, 100 * to / measured / step);
        acc += (tz + to) / measured;
        printf("    %-18s %8.2f ms %5.1f%%\n", "unaccounted", 1e3 * (step - acc), 100 * (step - acc) / step);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
    printf("RESULT tokens_per_s=%.2f mfu=%.4f gemm_share=%.3f packed_mib=%.1f\n", tok_s, tok_s * flops_tok / 1e9 / peak, gshare,
           (gs.packed_a + gs.packed_b) / measured / 1048576.0);
    free(tok); free(x); free(y);
    afm_optim_free(o);
    afm_train_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: bench_train peak|gemm|ukernel [THREADS] | train 10m|50m [B T STEPS THREADS]\n"); return 2; }
    int threads = 0;
    afm_pool *pool;
    if (!strcmp(argv[1], "train") || !strcmp(argv[1], "profile")) {
        if (argc < 3) { fprintf(stderr, "usage: bench_train train|profile 10m|50m [B T STEPS THREADS]\n"); return 2; }
        int B = argc > 3 ? atoi(argv[3]) : 4, T = argc > 4 ? atoi(argv[4]) : 256, steps = argc > 5 ? atoi(argv[5]) : 3;
        threads = argc > 6 ? atoi(argv[6]) : 0;
        if (afm_pool_create(threads, &pool) != AFM_OK) return 1;
        int rc = bench_step(pool, argv[2], B, T, steps, argc > 7 && !strcmp(argv[7], "bf16"), !strcmp(argv[1], "profile"));
        afm_pool_free(pool);
        return rc;
    }
    threads = argc > 2 ? atoi(argv[2]) : 0;
    if (afm_pool_create(threads, &pool) != AFM_OK) return 1;
    int rc = 0;
    if (!strcmp(argv[1], "gemm")) rc = bench_gemm(pool, argc > 3 && !strcmp(argv[3], "bf16"));
    else if (!strcmp(argv[1], "ukernel")) rc = bench_ukernel(NULL);
    else if (!strcmp(argv[1], "peak")) {
        const char *isa;
        double p = machine_peak(pool, &isa);
        printf("threads %d: f32 FMA peak (%s) %.1f GFLOP/s\n", afm_pool_size(pool), isa, p);
    } else { fprintf(stderr, "unknown mode '%s'\n", argv[1]); rc = 2; }
    afm_pool_free(pool);
    return rc;
}
