/* The training GEMM (src/model/train_gemm.c): the three linear-layer products against a naive
 * double-precision triple loop, for the scalar, AVX2 and AVX-512 micro-kernels (those the CPU has), on sizes that are not
 * multiples of the tiles (MR=6, NR=16 or 32, KC=384), with 1 and 2 threads, overwrite and accumulate.
 * Tolerance: |got - ref| <= 1e-5 * sum_k |a_k b_k| + 1e-6 (f32 summation error bound).
 * bf16 compute (afm_gemm_ws_set_bf16): the same bound against the reference on bf16-rounded inputs,
 * for every f32 micro-kernel on rounded panels and, on CPUs with AVX512-BF16, the vdpbf16ps
 * kernel on bf16 pair panels (products exact, f32 sums: the same bound holds), and on CPUs with
 * AMX-BF16 (when the OS grants the tiles and AFM_FORCE_ISA is unset or amx) the AMX tile path
 * that afm_gemm takes for bf16 compute, with 1, 2 and 3 threads, overwrite and accumulate.
 * Also: the GEMM attention (forward and backward, GQA, causal query blocks) equals the plain-loop
 * attention to 1e-5 relative per output, and with K/V packed once per (sequence, kv head) the
 * same bits as with K/V packed by every product (every kernel, f32 and bf16, 1 and 3 threads,
 * GQA ratios 2, 3 and 8).
 * Thread splits: with shared packing, with per-thread packing
 * and auto (afm_gemm_ws_set_pack), at 2, 3 and 16 threads, every product must be
 * bit-identical to the 1-thread result (each C element is summed in the same K order whatever
 * the split), f32 and bf16 compute, every micro-kernel, shapes with odd edges, several K slices
 * and more rows / columns than one shared block (SH_M = 2304, SH_N = 2048); and shared packing
 * must write exactly ceil(M/MR) MR x K floats of A per 2048 columns of C and ceil(Nc/NR) NR x K
 * of B (the workspace statistics). B packed once beforehand (afm_gemm_bpack_fill, as the
 * output layer packs its matrix for all token chunks) then used by afm_gemm_packed: bit-identical
 * to afm_gemm in all those cases, the fill on another thread count than the product, every
 * panel word written by the fill (the buffer starts as NaN) and no B packed by the product; and
 * with only B's first 32 / 64 / ... columns packed (afm_gemm_bpack_fill_cols, a buffer of exactly
 * their size), the rest packed by the product: bit-identical too. */
#include "model/train_gemm.h"
#include "model/train_ops.h"
#include "base/cpu.h"
#include "base/mem.h"
#include "base/rng.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;

static void fill(float *x, long n, afm_rng *r) { for (long i = 0; i < n; i++) x[i] = afm_rng_uniform(r) * 2.0f - 1.0f; }

/* C(i,j) (+)= sum_k A(i,k) B(k,j) with strides, in double; also the |.| sum for the bound */
static void naive(long M, long Nc, long K, const float *a, long ars, long acs, const float *b, long brs, long bcs,
                  const float *c0, double *ref, double *mag, bool acc) {
    for (long i = 0; i < M; i++)
        for (long j = 0; j < Nc; j++) {
            double s = acc ? c0[i * Nc + j] : 0.0, m = acc ? fabs(c0[i * Nc + j]) : 0.0;
            for (long k = 0; k < K; k++) {
                double p = (double)a[i * ars + k * acs] * b[k * brs + j * bcs];
                s += p;
                m += fabs(p);
            }
            ref[i * Nc + j] = s;
            mag[i * Nc + j] = m;
        }
}

static float r16(float x) { return afm_bf16_to_f32(afm_f32_to_bf16(x)); }

static void one(afm_pool *pool, afm_gemm_ws *ws, int mode, long N, long I, long O, bool acc, const char *kname) {
    afm_rng r;
    afm_rng_seed(&r, (uint64_t)(N * 1000003 + I * 1009 + O * 7 + mode));
    float *x = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * O * I), *dy = malloc(sizeof(float) * N * O);
    fill(x, N * I, &r); fill(W, O * I, &r); fill(dy, N * O, &r);
    /* bf16 compute: the reference takes the inputs rounded to bf16 (and the GEMM must round them) */
    bool b16 = afm_gemm_ws_bf16(ws);
    float *xr = malloc(sizeof(float) * N * I), *Wr = malloc(sizeof(float) * O * I), *dyr = malloc(sizeof(float) * N * O);
    for (long i = 0; i < N * I; i++) xr[i] = b16 ? r16(x[i]) : x[i];
    for (long i = 0; i < O * I; i++) Wr[i] = b16 ? r16(W[i]) : W[i];
    for (long i = 0; i < N * O; i++) dyr[i] = b16 ? r16(dy[i]) : dy[i];
    long M, Nc, K;
    float *out;
    double *ref, *mag;
    if (mode == 0) { M = N; Nc = O; K = I; }
    else if (mode == 1) { M = N; Nc = I; K = O; }
    else { M = O; Nc = I; K = N; }
    out = malloc(sizeof(float) * M * Nc);
    ref = malloc(sizeof(double) * M * Nc);
    mag = malloc(sizeof(double) * M * Nc);
    fill(out, M * Nc, &r);
    float *c0 = malloc(sizeof(float) * M * Nc);
    for (long i = 0; i < M * Nc; i++) c0[i] = out[i];
    if (mode == 0) { naive(M, Nc, K, xr, I, 1, Wr, 1, I, c0, ref, mag, false); afm_linear_fwd(pool, ws, out, x, W, N, I, O); }
    else if (mode == 1) { naive(M, Nc, K, dyr, O, 1, Wr, I, 1, c0, ref, mag, acc); afm_linear_bwd_x(pool, ws, out, dy, W, N, I, O, acc); }
    else { naive(M, Nc, K, dyr, 1, O, xr, I, 1, c0, ref, mag, true); afm_linear_bwd_w(pool, ws, out, dy, x, N, I, O); }
    double worst = 0;
    for (long i = 0; i < M * Nc; i++) {
        double e = fabs(out[i] - ref[i]) - (1e-5 * mag[i] + 1e-6);
        if (e > worst) worst = e;
    }
    if (worst > 0) {
        fprintf(stderr, "FAIL %s%s mode %d N=%ld I=%ld O=%ld acc=%d threads=%d: excess %.3g\n", kname, b16 ? " bf16" : "", mode,
                N, I, O, acc, afm_pool_size(pool), worst);
        g_fail = 1;
    }
    free(x); free(W); free(dy); free(out); free(ref); free(mag); free(c0); free(xr); free(Wr); free(dyr);
}

static double maxrel(const float *a, const float *b, long n) {
    double md = 0, mx = 0;
    for (long i = 0; i < n; i++) { md = fmax(md, fabs((double)a[i] - b[i])); mx = fmax(mx, fabs(b[i])); }
    return md / (mx > 0 ? mx : 1);
}

static void attention_paths(afm_pool *pool, afm_gemm_ws *ws, long B, long T, long H, long KH, long hd) {
    long nq = (long)B * T * H * hd, nk = (long)B * T * KH * hd, np = (long)B * H * T * T;
    float *q = malloc(4 * nq), *k = malloc(4 * nk), *v = malloc(4 * nk), *dout = malloc(4 * nq);
    float *o1 = malloc(4 * nq), *o2 = malloc(4 * nq), *p1 = malloc(4 * np), *p2 = malloc(4 * np);
    float *dq1 = malloc(4 * nq), *dq2 = malloc(4 * nq), *dk1 = malloc(4 * nk), *dk2 = malloc(4 * nk), *dv1 = malloc(4 * nk), *dv2 = malloc(4 * nk);
    float *scratch = malloc(4 * 512 * T), *ds = afm_alloc(sizeof(float) * 2 * afm_attn_scratch_floats(T, hd));
    afm_rng r;
    afm_rng_seed(&r, 99);
    fill(q, nq, &r); fill(k, nk, &r); fill(v, nk, &r); fill(dout, nq, &r);
    afm_attention_fwd(pool, o1, p1, q, k, v, B, T, H, KH, hd, 0.35f);
    float *st2 = malloc(4 * 2 * B * H * T); /* (B, H, T, 2) softmax stats */
    afm_attention_fwd_gemm(pool, ws, o2, st2, q, k, v, B, T, H, KH, hd, 0.35f, ds);
    afm_attention_bwd(pool, dq1, dk1, dv1, dout, p1, q, k, v, B, T, H, KH, hd, 0.35f, scratch);
    afm_attention_bwd_gemm(pool, ws, dq2, dk2, dv2, dout, st2, q, k, v, B, T, H, KH, hd, 0.35f, ds);
    /* the stats reproduce the reference probabilities: p = exp(scale q.k - m) / s */
    for (long u = 0; u < B * H; u++)
        for (long t = 0; t < T; t++)
            for (long j = 0; j <= t; j++) {
                long b = u / H, h = u % H, kh = h / (H / KH);
                double dot = 0;
                for (long i = 0; i < hd; i++) dot += (double)q[((b * T + t) * H + h) * hd + i] * k[((b * T + j) * KH + kh) * hd + i];
                p2[(u * T + t) * T + j] = (float)(exp(0.35 * dot - st2[(u * T + t) * 2]) * st2[(u * T + t) * 2 + 1]);
            }
    double e[5] = {maxrel(o2, o1, nq), 0, maxrel(dq2, dq1, nq), maxrel(dk2, dk1, nk), maxrel(dv2, dv1, nk)};
    double pe = 0;
    for (long u = 0; u < B * H; u++)
        for (long t = 0; t < T; t++)
            for (long j = 0; j <= t; j++) pe = fmax(pe, fabs((double)p2[(u * T + t) * T + j] - p1[(u * T + t) * T + j]));
    e[1] = pe;
    printf("attention GEMM vs loops (T=%ld, %d threads): out %.1e probs %.1e dq %.1e dk %.1e dv %.1e\n", T, afm_pool_size(pool), e[0], e[1], e[2], e[3], e[4]);
    for (int i = 0; i < 5; i++)
        if (!(e[i] <= 1e-5)) { fprintf(stderr, "FAIL attention GEMM vs loops, output %d: %.3g\n", i, e[i]); g_fail = 1; }
    free(q); free(k); free(v); free(dout); free(o1); free(o2); free(p1); free(p2);
    free(dq1); free(dq2); free(dk1); free(dk2); free(dv1); free(dv2); free(scratch); afm_free(ds); free(st2);
}

/* one product (mode as in one()) into out, with C preset to c0 */
static void product(afm_pool *pool, afm_gemm_ws *ws, int mode, long N, long I, long O, const float *x, const float *W,
                    const float *dy, float *out, const float *c0, long n_out) {
    memcpy(out, c0, sizeof(float) * (size_t)n_out);
    if (mode == 0) afm_linear_fwd(pool, ws, out, x, W, N, I, O);
    else if (mode == 1) afm_linear_bwd_x(pool, ws, out, dy, W, N, I, O, true);
    else afm_linear_bwd_w(pool, ws, out, dy, x, N, I, O);
}

static int g_split_cases, g_prepacked_cases, g_partial_cases;

/* mode 0 / 1 (the products with W as B) through afm_gemm_bpack_fill (on pool pf) + afm_gemm_packed
 * (on pool pu) into out, C preset to c0; the fill writes every B panel once, the product none */
static void product_prepacked(afm_pool *pf, afm_pool *pu, afm_gemm_ws *ws, int mode, long N, long I, long O, const float *x,
                              const float *W, const float *dy, float *out, const float *c0, long n_out, const char *kname,
                              long cols) {
    long K = mode == 0 ? I : O, Nc = mode == 0 ? O : I;
    /* cols < Nc: only columns 0 .. cols packed (a multiple of 32), in a buffer of exactly their size */
    if (cols > Nc) cols = Nc;
    size_t nbuf = afm_gemm_bpack_floats(K, cols);
    if (afm_gemm_bpack_cols(K, Nc, nbuf) != cols) {
        fprintf(stderr, "FAIL afm_gemm_bpack_cols(%ld, %ld, %zu) = %ld, expected %ld\n", K, Nc, nbuf, afm_gemm_bpack_cols(K, Nc, nbuf), cols);
        g_fail = 1;
    }
    float *buf = afm_alloc(sizeof(float) * (nbuf ? nbuf : 1));
    for (size_t i = 0; i < nbuf; i++) buf[i] = NAN; /* any panel word the fill misses poisons C */
    afm_gemm_bpack pb;
    afm_gemm_ws_reset_stats(ws);
    if (mode == 0) afm_gemm_bpack_fill_cols(pf, ws, &pb, buf, cols, K, Nc, W, 1, I);
    else afm_gemm_bpack_fill_cols(pf, ws, &pb, buf, cols, K, Nc, W, I, 1);
    unsigned long long filled = afm_gemm_ws_stats(ws).packed_b;
    memcpy(out, c0, sizeof(float) * (size_t)n_out);
    afm_gemm_ws_reset_stats(ws);
    if (mode == 0) afm_gemm_packed(pu, ws, N, x, I, 1, &pb, out, O, false);
    else afm_gemm_packed(pu, ws, N, dy, O, 1, &pb, out, I, true);
    afm_gemm_stats st = afm_gemm_ws_stats(ws);
    bool pairs = !strcmp(kname, "avx512bf16");
    if (!pairs && !afm_amx_bf16_usable()) {
        int w = !strcmp(kname, "scalar") ? AFM_GEMM_NR_SCALAR : !strcmp(kname, "avx2") ? AFM_GEMM_NR_AVX2 : AFM_GEMM_NR_AVX512;
        unsigned long long eb = 4ull * (unsigned long long)((cols + w - 1) / w * w * K);
        if (!pb.fn || pb.cols != cols || filled != eb || (cols == Nc && st.packed_b != 0)) {
            fprintf(stderr, "FAIL prepacked %s mode %d N=%ld I=%ld O=%ld: fill packed %llu bytes of B (expected %llu), the product %llu (expected 0)\n",
                    kname, mode, N, I, O, filled, eb, st.packed_b);
            g_fail = 1;
        }
    }
    afm_free(buf);
}

static void splits(afm_pool **pools, int n_pools, afm_gemm_ws *ws, long N, long I, long O, const char *kname) {
    afm_rng r;
    afm_rng_seed(&r, (uint64_t)(N * 31 + I * 7 + O));
    float *x = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * O * I), *dy = malloc(sizeof(float) * N * O);
    fill(x, N * I, &r); fill(W, O * I, &r); fill(dy, N * O, &r);
    for (int mode = 0; mode < 3; mode++) {
        long M = mode == 2 ? O : N, Nc = mode == 0 ? O : I, K = mode == 0 ? I : mode == 1 ? O : N, n_out = M * Nc;
        float *c0 = malloc(sizeof(float) * n_out), *ref = malloc(sizeof(float) * n_out), *out = malloc(sizeof(float) * n_out);
        fill(c0, n_out, &r);
        product(NULL, ws, mode, N, I, O, x, W, dy, ref, c0, n_out);
        for (int p = 0; p < n_pools; p++)
            for (int sh = 0; sh < 3; sh++) { /* per-thread, shared, auto */
                afm_gemm_ws_set_pack(ws, sh == 2 ? AFM_GEMM_PACK_AUTO : sh ? AFM_GEMM_PACK_SHARED : AFM_GEMM_PACK_PER_THREAD);
                afm_gemm_ws_reset_stats(ws);
                product(pools[p], ws, mode, N, I, O, x, W, dy, out, c0, n_out);
                g_split_cases++;
                if (memcmp(out, ref, sizeof(float) * (size_t)n_out)) {
                    fprintf(stderr, "FAIL split %s%s mode %d N=%ld I=%ld O=%ld threads %d shared %d: differs from 1 thread\n", kname,
                            afm_gemm_ws_bf16(ws) ? " bf16" : "", mode, N, I, O, afm_pool_size(pools[p]), sh);
                    g_fail = 1;
                }
                afm_gemm_stats st = afm_gemm_ws_stats(ws);
                bool pairs = !strcmp(kname, "avx512bf16");
                if (mode < 2) { /* B packed once beforehand (with another thread count): the same bits, all of
                                 * B packed or only its first 32 / 64 columns (the rest packed by the product) */
                    float *o2 = malloc(sizeof(float) * n_out);
                    const long part[3] = {Nc, 32, 64};
                    for (int pi = 0; pi < 3; pi++) {
                        if (pi > 0 && part[pi] >= Nc) continue;
                        product_prepacked(pools[(p + 1) % n_pools], pools[p], ws, mode, N, I, O, x, W, dy, o2, c0, n_out, kname, part[pi]);
                        g_prepacked_cases++;
                        if (pi > 0) g_partial_cases++;
                        if (memcmp(o2, ref, sizeof(float) * (size_t)n_out)) {
                            fprintf(stderr, "FAIL prepacked %s%s mode %d N=%ld I=%ld O=%ld threads %d shared %d, %ld of %ld columns packed: differs from afm_gemm\n",
                                    kname, afm_gemm_ws_bf16(ws) ? " bf16" : "", mode, N, I, O, afm_pool_size(pools[p]), sh, part[pi], Nc);
                            g_fail = 1;
                        }
                    }
                    free(o2);
                }
                if (sh == 1 && !pairs && st.calls == 1) { /* f32 panels: K floats deep in all */
                    int w = !strcmp(kname, "scalar") ? AFM_GEMM_NR_SCALAR : !strcmp(kname, "avx2") ? AFM_GEMM_NR_AVX2 : AFM_GEMM_NR_AVX512;
                    unsigned long long ea = 4ull * (unsigned long long)((M + 5) / 6 * 6 * K * ((Nc + 2047) / 2048));
                    unsigned long long eb = 4ull * (unsigned long long)((Nc + w - 1) / w * w * K);
                    if (st.packed_a != ea || st.packed_b != eb) {
                        fprintf(stderr, "FAIL shared packing %s mode %d N=%ld I=%ld O=%ld: packed A %llu B %llu bytes, expected %llu %llu\n",
                                kname, mode, N, I, O, st.packed_a, st.packed_b, ea, eb);
                        g_fail = 1;
                    }
                }
            }
        free(c0); free(ref); free(out);
    }
    afm_gemm_ws_set_pack(ws, AFM_GEMM_PACK_AUTO);
    free(x); free(W); free(dy);
}

/* B packed whole into panels (afm_gemm_bpanels_fill) and serial products on leading parts of it
 * (afm_gemm_serial_bpanels): bit-identical to afm_gemm_serial on the same part, for depths that
 * take one, two and three K slices (KC = 384) and widths inside a panel; B transposed (b_rs = 1)
 * and not. */
static int g_bpanel_cases;
static void bpanels(afm_gemm_ws *ws, const char *kname) {
    const long K = 1000, Nc = 70, M = 13;
    afm_rng r;
    afm_rng_seed(&r, 5);
    float *b = malloc(sizeof(float) * K * Nc), *a = malloc(sizeof(float) * M * K), *c1 = malloc(sizeof(float) * M * Nc),
          *c2 = malloc(sizeof(float) * M * Nc), *c0 = malloc(sizeof(float) * M * Nc);
    float *buf = afm_alloc(sizeof(float) * afm_gemm_bpanels_floats(K, Nc));
    fill(b, K * Nc, &r); fill(a, M * K, &r); fill(c0, M * Nc, &r);
    static const long ks[] = {1, 64, 383, 384, 385, 500, 769, 999, 1000}, ns[] = {1, 17, 64, 70};
    for (int tr = 0; tr < 2; tr++) {
        long b_rs = tr ? 1 : Nc, b_cs = tr ? K : 1;
        afm_gemm_bpanels pb;
        for (size_t i = 0; i < afm_gemm_bpanels_floats(K, Nc); i++) buf[i] = NAN;
        afm_gemm_bpanels_fill(ws, &pb, buf, K, Nc, b, b_rs, b_cs);
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                for (int acc = 0; acc < 2; acc++) {
                    long k = ks[ki], n = ns[ni];
                    memcpy(c1, c0, sizeof(float) * M * Nc);
                    memcpy(c2, c0, sizeof(float) * M * Nc);
                    afm_gemm_serial(ws, 0, M, n, k, a, K, 1, b, b_rs, b_cs, c1, Nc, acc);
                    afm_gemm_serial_bpanels(ws, 0, M, n, k, a, K, 1, &pb, c2, Nc, acc);
                    g_bpanel_cases++;
                    if (!pb.fn || memcmp(c1, c2, sizeof(float) * M * Nc)) {
                        fprintf(stderr, "FAIL bpanels %s%s transposed %d: K %ld of %ld, Nc %ld of %ld, accumulate %d: differs from afm_gemm_serial\n",
                                kname, afm_gemm_ws_bf16(ws) ? " bf16" : "", tr, k, K, n, Nc, acc);
                        g_fail = 1;
                    }
                }
    }
    free(b); free(a); free(c1); free(c2); free(c0); afm_free(buf);
}

/* K / V packed once per (sequence, kv head) and thread (the default) or by every product
 * (afm_attn_set_prepack(false), as before): the same bits in every output. GQA ratios above 1
 * and thread ranges that start inside a kv head's group of query heads make a wrong head or
 * sequence mapping of the packed operands differ. */
static int g_prepack_cases;
static void attention_prepack(afm_pool *pool, afm_gemm_ws *ws, long B, long T, long H, long KH, long hd, const char *what) {
    long nq = B * T * H * hd, nk = B * T * KH * hd, ns = 2 * B * H * T;
    float *in = malloc(sizeof(float) * (size_t)(2 * nq + 2 * nk)), *q = in, *k = q + nq, *v = k + nk, *dout = v + nk;
    float *out[2];
    size_t ds_n = (size_t)(pool ? afm_pool_size(pool) : 1) * afm_attn_scratch_floats(T, hd);
    float *ds = afm_alloc(sizeof(float) * ds_n);
    afm_rng r;
    afm_rng_seed(&r, (uint64_t)(T * 7 + H));
    fill(in, 2 * nq + 2 * nk, &r);
    for (int pre = 0; pre < 2; pre++) {
        float *o = out[pre] = malloc(sizeof(float) * (size_t)(2 * nq + 2 * nk + ns));
        float *att = o, *dq = att + nq, *dk = dq + nq, *dv = dk + nk, *st = dv + nk;
        for (size_t i = 0; i < ds_n; i++) ds[i] = NAN; /* nothing left over from the other run */
        afm_attn_set_prepack(pre == 1);
        afm_attention_fwd_gemm(pool, ws, att, st, q, k, v, B, T, H, KH, hd, 0.35f, ds);
        afm_attention_bwd_gemm(pool, ws, dq, dk, dv, dout, st, q, k, v, B, T, H, KH, hd, 0.35f, ds);
    }
    afm_attn_set_prepack(true);
    g_prepack_cases++;
    if (memcmp(out[0], out[1], sizeof(float) * (size_t)(2 * nq + 2 * nk + ns))) {
        fprintf(stderr, "FAIL attention %s B=%ld T=%ld H=%ld KH=%ld hd=%ld threads %d: K/V packed once per kv head differs from packed per product\n",
                what, B, T, H, KH, hd, pool ? afm_pool_size(pool) : 1);
        g_fail = 1;
    }
    free(in); free(out[0]); free(out[1]); afm_free(ds);
}

int main(void) {
    static const long sizes[][3] = {{1, 1, 1}, {5, 7, 3}, {6, 64, 64}, {13, 70, 129}, {37, 300, 65}, {30, 130, 190}, {7, 513, 40}, {20, 96, 300}, {5, 1100, 9}};
    afm_pool *pool2;
    if (afm_pool_create(2, &pool2) != AFM_OK) return 1;
    afm_gemm_ws *ws;
    if (afm_gemm_ws_create(2, &ws) != AFM_OK) return 1;
    afm_gemm_ukernel kernels[3] = {afm_gemm_ukernel_scalar, afm_gemm_ukernel_avx2, afm_gemm_ukernel_avx512};
    const char *names[3] = {"scalar", "avx2", "avx512"};
    int n_kernels = afm_isa_best() >= AFM_ISA_AVX512 ? 3 : afm_isa_best() >= AFM_ISA_AVX2 ? 2 : 1;
    int n = 0;
    for (int k = 0; k < n_kernels; k++) {
        afm_gemm_set_ukernel(kernels[k]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int mode = 0; mode < 3; mode++)
                for (int acc = 0; acc < 2; acc++)
                    for (int th = 0; th < 2; th++) {
                        one(th ? pool2 : NULL, ws, mode, sizes[s][0], sizes[s][1], sizes[s][2], acc, names[k]);
                        n++;
                    }
    }
    /* bf16 compute: inputs rounded to bf16 while packing, f32 sums (a wrong or missing rounding
     * is off by up to 2^-9 relative per product, far above the f32 bound) */
    afm_gemm_ws_set_bf16(ws, true);
    bool has_bf16 = afm_isa_best() >= AFM_ISA_AVX512 && afm_cpu()->avx512bf16;
    if (!has_bf16) printf("SKIP: cpu lacks avx512bf16 (or AFM_FORCE_ISA caps it): the vdpbf16ps kernel is not run here "
                          "(test_train_bf16_emu checks it emulated)\n");
    for (int k = 0; k < n_kernels + has_bf16; k++) {
        afm_gemm_set_ukernel(k < n_kernels ? kernels[k] : afm_gemm_ukernel_bf16_avx512);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int mode = 0; mode < 3; mode++) { one(pool2, ws, mode, sizes[s][0], sizes[s][1], sizes[s][2], mode == 1, k < n_kernels ? names[k] : "avx512bf16"); n++; }
    }
    afm_gemm_ws_set_bf16(ws, false);
    /* thread splits and shared packing: bit-identical to 1 thread */
    {
        static const long split_sizes[][3] = {{1, 1, 1}, {13, 70, 129}, {37, 300, 65}, {200, 33, 45}, {7, 800, 40}, {5, 9, 2500}, {3, 2100, 11}};
        afm_pool *p3, *p16;
        afm_gemm_ws *ws16;
        if (afm_pool_create(3, &p3) != AFM_OK || afm_pool_create(16, &p16) != AFM_OK || afm_gemm_ws_create(16, &ws16) != AFM_OK) return 1;
        afm_pool *pools[3] = {pool2, p3, p16};
        for (int b16 = 0; b16 < 2; b16++) {
            afm_gemm_ws_set_bf16(ws16, b16);
            for (int k = 0; k < n_kernels + (b16 && has_bf16); k++) {
                afm_gemm_set_ukernel(k < n_kernels ? kernels[k] : afm_gemm_ukernel_bf16_avx512);
                for (size_t s = 0; s < sizeof split_sizes / sizeof split_sizes[0]; s++)
                    splits(pools, 3, ws16, split_sizes[s][0], split_sizes[s][1], split_sizes[s][2], k < n_kernels ? names[k] : "avx512bf16");
            }
        }
        printf("%d thread-split cases (2/3/16 threads, shared, per-thread and auto packing) bit-identical to 1 thread\n", g_split_cases);
        /* one thread, the per-unit driver, and B packed once for two products */
        for (int mode = 0; mode < 2; mode++) {
            long N = 23, I = 70, O = 129, M = N, Nc = mode == 0 ? O : I, n_out = M * Nc;
            afm_rng r;
            afm_rng_seed(&r, 99);
            float *x = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * O * I), *dy = malloc(sizeof(float) * N * O);
            float *c0 = malloc(sizeof(float) * n_out), *ref = malloc(sizeof(float) * n_out), *o1 = malloc(sizeof(float) * n_out);
            fill(x, N * I, &r); fill(W, O * I, &r); fill(dy, N * O, &r); fill(c0, n_out, &r);
            afm_gemm_set_ukernel(NULL);
            product(NULL, ws16, mode, N, I, O, x, W, dy, ref, c0, n_out);
            for (long cols = 32; cols <= Nc + 32; cols += 32) {
                product_prepacked(NULL, NULL, ws16, mode, N, I, O, x, W, dy, o1, c0, n_out,
                                  afm_isa_best() >= AFM_ISA_AVX512 ? "avx512" : afm_isa_best() >= AFM_ISA_AVX2 ? "avx2" : "scalar", cols);
                if (memcmp(o1, ref, sizeof(float) * (size_t)n_out)) { fprintf(stderr, "FAIL prepacked mode %d, 1 thread, %ld columns: differs from afm_gemm\n", mode, cols); g_fail = 1; }
                g_prepacked_cases++;
                g_partial_cases += cols < Nc;
            }
            free(x); free(W); free(dy); free(c0); free(ref); free(o1);
        }
        printf("%d cases with B packed once beforehand (afm_gemm_bpack_fill_cols + afm_gemm_packed) bit-identical to afm_gemm, "
               "%d of them with only the first columns packed\n", g_prepacked_cases, g_partial_cases);
        afm_gemm_ws_free(ws16);
        afm_pool_free(p3);
        afm_pool_free(p16);
    }
    /* AMX tiles (train_gemm_amx.c): afm_gemm's own choice for bf16 compute, no kernel forced */
    afm_gemm_set_ukernel(NULL);
    if (afm_amx_bf16_usable()) {
        afm_pool *pool3;
        afm_gemm_ws *ws3;
        if (afm_pool_create(3, &pool3) != AFM_OK || afm_gemm_ws_create(3, &ws3) != AFM_OK) return 1;
        afm_gemm_ws_set_bf16(ws3, true);
        afm_pool *pools[3] = {NULL, pool2, pool3};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int mode = 0; mode < 3; mode++)
                for (int acc = 0; acc < 2; acc++)
                    for (int th = 0; th < 3; th++) { one(pools[th], ws3, mode, sizes[s][0], sizes[s][1], sizes[s][2], acc, "amx"); n++; }
        printf("AMX-BF16 tiles: run through afm_gemm (1, 2, 3 threads)\n");
        afm_gemm_ws_free(ws3);
        afm_pool_free(pool3);
    } else
        printf("SKIP: AMX-BF16 not usable here (no AMX-TILE/AMX-BF16, tiles not granted by the OS, or AFM_FORCE_ISA not amx/unset): "
               "the AMX path is not run (test_train_amx_emu checks it emulated)\n");
    afm_gemm_ws_set_bf16(ws, false);
    attention_paths(NULL, ws, 2, 13, 6, 2, 8);
    attention_paths(pool2, ws, 2, 13, 6, 2, 8);
    attention_paths(NULL, ws, 2, 150, 4, 2, 16); /* several query blocks (AFM_ATTN_QB = 64), a short last one */
    attention_paths(pool2, ws, 1, 150, 4, 1, 16);
    attention_paths(pool2, ws, 2, 130, 6, 2, 16); /* GQA ratio 3, thread ranges inside a group */
    attention_paths(NULL, ws, 3, 70, 3, 1, 8);    /* one kv head: consecutive units differ only in the sequence */
    {
        afm_pool *p3;
        afm_gemm_ws *ws3;
        if (afm_pool_create(3, &p3) != AFM_OK || afm_gemm_ws_create(3, &ws3) != AFM_OK) return 1;
        for (int b16 = 0; b16 < 2; b16++) {
            afm_gemm_ws_set_bf16(ws3, b16);
            for (int k = 0; k < n_kernels; k++) {
                afm_gemm_set_ukernel(kernels[k]);
                char what[32];
                snprintf(what, sizeof what, "%s%s", names[k], b16 ? " bf16" : "");
                bpanels(ws3, what);
                attention_prepack(NULL, ws3, 2, 150, 6, 2, 16, what); /* 3 query heads per kv head, blocks 64, 64, 22 */
                attention_prepack(p3, ws3, 2, 150, 6, 2, 16, what);   /* 12 units over 3 threads: 4 each, crossing kv heads */
                attention_prepack(p3, ws3, 3, 67, 4, 2, 12, what);    /* odd T, hd not a multiple of 8 */
                attention_prepack(p3, ws3, 1, 70, 8, 1, 8, what);     /* one kv head for all 8 query heads */
                attention_prepack(NULL, ws3, 3, 70, 3, 1, 8, what);   /* one kv head: only the sequence changes between units */
            }
        }
        afm_gemm_set_ukernel(NULL);
        printf("%d cases of B packed whole into panels, products on leading parts bit-identical to afm_gemm_serial; "
               "%d attention cases with K/V packed once per kv head bit-identical to packing per product\n", g_bpanel_cases, g_prepack_cases);
        afm_gemm_ws_free(ws3);
        afm_pool_free(p3);
    }
    printf("%d GEMM cases (%d micro-kernels): %s\n", n, n_kernels, g_fail ? "FAIL" : "ok");
    afm_gemm_ws_free(ws);
    afm_pool_free(pool2);
    return g_fail;
}
