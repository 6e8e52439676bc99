/* AVX2 row kernels of training (src/model/train_vec_avx2.c) and the AVX2 optimizer loops
 * (src/train/optim_avx2.c) against the portable maths (libm expf, double sums):
 *  1. exp: exp(x - m) over [-87, 88] and random inputs, within 4 ulp (2.4e-7 relative) of exp
 *     in double; the returned sums to 1e-6; lengths 1..40 cover the tails;
 *  2. max, scale, SwiGLU forward/backward, sum of squares, triple dot, RMSNorm apply/backward, add
 *     to 1e-6 relative of double-precision formulas;
 *  3. bf16 rounding of packed GEMM panels (afm_gemm_round_bf16_avx2): bit for bit the scalar
 *     afm_f32_to_bf16 (ties to even, NaN, infinities, denormals, random values);
 *  4. AdamW and the AFM optimizer: three steps on the AVX2 path equal the scalar path
 *     (AFM_FORCE_ISA=scalar) to 1e-6 relative.
 * Skipped (exit 0) when the CPU has no AVX2. */
#include "model/train_vec.h"
#include "model/train_model.h"
#include "train/optim.h"
#include "base/cpu.h"
#include "base/rng.h"
#include "model/train_gemm.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL line %d: ", __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); g_fail = 1; } } while (0)

static double rel(double got, double want) { return fabs(got - want) / fmax(fabs(want), 1e-30); }

static void exp_kernels(afm_rng *r) {
    enum { N = 4096 };
    static float x[N], y[N];
    double worst = 0;
    for (int i = 0; i < N; i++) x[i] = -87.0f + 175.0f * (float)i / (N - 1); /* grid over the full range */
    afm_tv_exp_sum_avx2(y, x, N, 0.0f); /* the sum overflows here; only the values are checked */
    for (int i = 0; i < N; i++) worst = fmax(worst, rel(y[i], exp((double)x[i])));
    CHECK(worst <= 2.4e-7, "exp over [-87, 88]: worst relative error %.3g", worst);
    double s = afm_tv_exp_sum_avx2(NULL, x, N, 88.0f), sref = 0;
    for (int i = 0; i < N; i++) sref += exp((double)x[i] - 88.0);
    CHECK(rel(s, sref) <= 1e-6, "sum of exp(x - 88) %.9g vs %.9g", s, sref);
    printf("exp8 over [-87, 88]: worst relative error %.2g\n", worst);
    for (int n = 1; n <= 40; n++) { /* tails, and y = x in place */
        for (int i = 0; i < n; i++) x[i] = 8.0f * (afm_rng_uniform(r) - 0.5f);
        float m = afm_tv_max_avx2(x, n), mref = x[0];
        for (int i = 1; i < n; i++) mref = fmaxf(mref, x[i]);
        CHECK(m == mref, "max of %d: %g vs %g", n, m, mref);
        double want = 0;
        float keep[40];
        memcpy(keep, x, sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) want += exp((double)x[i] - m);
        double got = afm_tv_exp_sum_avx2(x, x, n, m);
        CHECK(rel(got, want) <= 1e-6, "exp sum of %d: %.9g vs %.9g", n, got, want);
        for (int i = 0; i < n; i++) CHECK(rel(x[i], exp((double)keep[i] - m)) <= 2.4e-7, "exp in place n=%d i=%d", n, i);
        afm_tv_exp_scale_avx2(y, keep, n, m, 0.25f);
        for (int i = 0; i < n; i++) CHECK(rel(y[i], 0.25 * exp((double)keep[i] - m)) <= 2.4e-7, "exp scale n=%d i=%d", n, i);
    }
}

static void elementwise(afm_rng *r) {
    enum { N = 203 }; /* not a multiple of 8 */
    float g[N], u[N], d[N], x[N], a1[N], a2[N], dx[N], dg[N], dx0[N], dg0[N];
    for (int i = 0; i < N; i++) {
        g[i] = 12.0f * (afm_rng_uniform(r) - 0.5f); u[i] = afm_rng_uniform(r) - 0.5f;
        d[i] = afm_rng_uniform(r) - 0.5f; x[i] = afm_rng_uniform(r) - 0.5f;
        dx0[i] = afm_rng_uniform(r); dg0[i] = afm_rng_uniform(r);
    }
    afm_tv_swiglu_fwd_avx2(a1, g, u, N);
    afm_tv_swiglu_bwd_avx2(dx, dg, d, g, u, N);
    double w = 0;
    for (int i = 0; i < N; i++) {
        double sg = 1.0 / (1.0 + exp(-(double)g[i]));
        w = fmax(w, fabs(a1[i] - g[i] * sg * u[i]) / (fabs(g[i] * u[i]) + 1e-6));
        w = fmax(w, fabs(dx[i] - d[i] * u[i] * sg * (1.0 + g[i] * (1.0 - sg))) / (fabs(d[i] * u[i]) * (1 + fabs(g[i])) + 1e-6));
        w = fmax(w, fabs(dg[i] - d[i] * g[i] * sg) / (fabs(d[i] * g[i]) + 1e-6));
    }
    CHECK(w <= 1e-6, "SwiGLU forward/backward: worst relative error %.3g", w);
    double ss = 0, d3 = 0;
    for (int i = 0; i < N; i++) { ss += (double)x[i] * x[i]; d3 += (double)d[i] * u[i] * x[i]; }
    CHECK(rel(afm_tv_sumsq_avx2(x, N), ss) <= 1e-6, "sum of squares");
    CHECK(fabs(afm_tv_dot3_avx2(d, u, x, N) - d3) <= 1e-6 * N * 0.125, "triple dot %.9g vs %.9g", afm_tv_dot3_avx2(d, u, x, N), d3);
    float rr = 1.7f, k = 0.3f;
    afm_tv_norm_apply_avx2(a2, x, u, rr, N);
    for (int i = 0; i < N; i++) CHECK(fabs(a2[i] - (double)x[i] * rr * u[i]) <= 1e-6 * fabs((double)x[i] * rr * u[i]) + 1e-12, "norm apply %d", i);
    for (int acc = 0; acc < 2; acc++) {
        memcpy(dx, dx0, sizeof dx); memcpy(dg, dg0, sizeof dg);
        afm_tv_norm_bwd_avx2(dx, dg, d, x, u, rr, k, N, acc);
        for (int i = 0; i < N; i++) {
            double v = (double)d[i] * u[i] * rr - (double)x[i] * k, want = acc ? dx0[i] + v : v;
            CHECK(fabs(dx[i] - want) <= 1e-6 * (fabs(want) + 1), "norm backward dx %d (acc %d)", i, acc);
            CHECK(fabs(dg[i] - (dg0[i] + (double)d[i] * x[i] * rr)) <= 1e-6 * (fabs(dg0[i]) + 1), "norm backward dg %d", i);
        }
    }
    afm_tv_add_avx2(a2, x, u, N);
    for (int i = 0; i < N; i++) CHECK(a2[i] == x[i] + u[i], "add %d", i);
    afm_tv_scale_avx2(a2, x, N, 3.0f);
    for (int i = 0; i < N; i++) CHECK(a2[i] == x[i] * 3.0f, "scale %d", i);
}

/* Three optimizer steps from the same state with the given ISA cap; returns the parameters. */
static float *optim_run(afm_optim_kind kind, const char *isa) {
    afm_config c = {.arch = "afm", .n_vocab = 37, .dim = 24, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .head_dim = 12,
                    .ffn_dim = 40, .max_seq_len = 8, .rope_theta = 10000.0f, .rope_layout = AFM_ROPE_INTERLEAVED,
                    .qk_norm = AFM_QK_NORM_AFTER_ROPE, .norm_eps = 1e-5f, .tied_output = true};
    if (isa) setenv("AFM_FORCE_ISA", isa, 1); else unsetenv("AFM_FORCE_ISA");
    afm_train_model *m;
    if (afm_train_model_create(&c, 1, 8, NULL, &m) != AFM_OK) exit(1);
    afm_train_model_init(m, 5);
    afm_optim_config oc = afm_optim_defaults(kind, c.dim);
    afm_optim *o;
    if (afm_optim_create(&oc, m->n_params, &o) != AFM_OK) exit(1);
    afm_rng r;
    afm_rng_seed(&r, 11);
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < m->n_params; i++) m->grads[i] = 0.02f * (afm_rng_uniform(&r) - 0.5f);
        afm_optim_step(o, m, 0.7f, NULL);
    }
    float *out = malloc(sizeof(float) * m->n_params);
    memcpy(out, m->params, sizeof(float) * m->n_params);
    CHECK(o->t == 3, "optimizer applied %lld of 3 steps", (long long)o->t);
    afm_optim_free(o);
    afm_train_model_free(m);
    unsetenv("AFM_FORCE_ISA");
    return out;
}

static void optimizers(void) {
    size_t n = afm_train_n_params(&(afm_config){.n_vocab = 37, .dim = 24, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                                                .head_dim = 12, .ffn_dim = 40, .qk_norm = AFM_QK_NORM_AFTER_ROPE, .tied_output = true});
    for (int kind = 0; kind < 2; kind++) {
        float *a = optim_run((afm_optim_kind)kind, NULL), *b = optim_run((afm_optim_kind)kind, "scalar");
        double w = 0;
        for (size_t i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]) / (fabs(b[i]) + 1e-3));
        printf("%s optimizer, AVX2 vs scalar after 3 steps: worst relative difference %.2g\n", kind ? "AFM" : "AdamW", w);
        CHECK(w <= 1e-6, "%s optimizer: AVX2 and scalar paths differ by %.3g", kind ? "AFM" : "AdamW", w);
        free(a); free(b);
    }
}

static void bf16_rounding(afm_rng *r) {
    enum { N = 1027 };
    static float x[N], y[N];
    static const uint32_t special[] = {0x3f808000u /* tie, even below */, 0x3f818000u /* tie, odd below */, 0x3f80ffffu,
                                       0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u /* signalling NaN */, 0x00008000u,
                                       0x80000001u, 0x7f7fffffu /* rounds to inf */, 0, 0x80000000u};
    for (int i = 0; i < N; i++) {
        uint32_t u = i < (int)(sizeof special / sizeof special[0]) ? special[i] : (uint32_t)afm_rng_u64(r);
        memcpy(&x[i], &u, 4);
    }
    memcpy(y, x, sizeof x);
    afm_gemm_round_bf16_avx2(y, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = afm_bf16_to_f32(afm_f32_to_bf16(x[i]));
        if (memcmp(&want, &y[i], 4)) bad++;
    }
    CHECK(bad == 0, "bf16 rounding: %d of %d values differ from afm_f32_to_bf16", bad, N);
}

int main(void) {
    if (afm_isa_best() < AFM_ISA_AVX2) { printf("no AVX2: skipped\n"); return 0; }
    afm_rng r;
    afm_rng_seed(&r, 2026);
    exp_kernels(&r);
    elementwise(&r);
    bf16_rounding(&r);
    optimizers();
    printf("%s\n", g_fail ? "FAIL" : "ok");
    return g_fail;
}
