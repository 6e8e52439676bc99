/* Optimizers and schedules (src/train/optim.c):
 *  1. a single batch overfits (loss < 0.05) within 300 steps, with AdamW and with the AFM
 *     optimizer, on a small AFM (QK-norm after RoPE, tied output, GQA);
 *  2. the AFM optimizer skips a step whose gradient norm is >= 100 or NaN: parameters, moments
 *     and the step counter stay unchanged; the global clip scales gradients to norm 1;
 *  3. gradient accumulation: two half-batches with backward scale 1/2 give the gradient of the
 *     full batch (to 1e-5 relative);
 *  4. schedule values: warm-up, cosine, linear, constant, floor;
 *  5. the gradient norm is an exact-order-independent sum (a case a running double sum gets wrong);
 *  6. the step runs on the model's pool: 1 and 3 threads give bit-identical parameters, moments
 *     and gradient norms (AdamW and AFM, with the clip active). */
#include "model/train_model.h"
#include "train/optim.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL line %d: ", __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); g_fail = 1; } } while (0)

static afm_config small_config(void) {
    afm_config c = {.arch = "afm", .n_vocab = 64, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
                    .ffn_dim = 64, .max_seq_len = 16, .rope_theta = 10000.0f, .rope_layout = AFM_ROPE_INTERLEAVED,
                    .qk_norm = AFM_QK_NORM_AFTER_ROPE, .norm_eps = 1e-5f, .tied_output = true};
    return c;
}

static void overfit(afm_pool *pool, afm_optim_kind kind, float lr) {
    afm_config c = small_config();
    enum { B = 2, T = 16 };
    afm_train_model *m;
    if (afm_train_model_create(&c, B, T, pool, &m) != AFM_OK) exit(1);
    afm_train_model_init(m, 42);
    afm_rng r;
    afm_rng_seed(&r, 7);
    int32_t tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(afm_rng_u64(&r) % 64);
    for (int i = 0; i < B * T; i++) tgt[i] = (int32_t)(afm_rng_u64(&r) % 64);
    afm_optim_config oc = afm_optim_defaults(kind, c.dim);
    oc.lr = lr;
    oc.weight_decay = 0.0f;
    afm_optim *o;
    afm_optim_create(&oc, m->n_params, &o);
    afm_schedule s = {AFM_SCHED_CONSTANT, 10, 300, 1.0f};
    double loss = 0, first = 0;
    int step;
    for (step = 0; step < 300; step++) {
        afm_train_zero_grad(m);
        afm_train_forward(m, tok, tgt, B, T, &loss);
        if (step == 0) first = loss;
        if (loss < 0.05) break;
        afm_train_backward(m, 1.0f);
        afm_optim_step(o, m, (float)afm_schedule_at(&s, step), NULL);
    }
    printf("overfit %-5s lr %g: loss %.4f -> %.4f after %d steps\n", kind == AFM_OPTIM_ADAMW ? "adamw" : "afm", (double)lr, first, loss, step);
    CHECK(loss < 0.05, "%s did not overfit one batch: loss %.4f after 300 steps", kind == AFM_OPTIM_ADAMW ? "adamw" : "afm", loss);
    afm_optim_free(o);
    afm_train_model_free(m);
}

static void skip_and_clip(void) {
    afm_config c = small_config();
    afm_train_model *m;
    if (afm_train_model_create(&c, 1, 4, NULL, &m) != AFM_OK) exit(1);
    afm_train_model_init(m, 1);
    afm_optim_config oc = afm_optim_defaults(AFM_OPTIM_AFM, c.dim);
    afm_optim *o;
    afm_optim_create(&oc, m->n_params, &o);
    float *p0 = malloc(sizeof(float) * m->n_params);
    memcpy(p0, m->params, sizeof(float) * m->n_params);
    /* norm exactly 200 >= 100: skipped */
    afm_train_zero_grad(m);
    m->grads[5] = 200.0f;
    afm_optim_result r;
    afm_optim_step(o, m, 1.0f, &r);
    CHECK(r.skipped && fabs(r.grad_norm - 200.0) < 1e-3, "huge gradient norm not skipped (norm %g)", r.grad_norm);
    CHECK(o->t == 0 && !memcmp(p0, m->params, sizeof(float) * m->n_params) && o->v[5] == 0.0f, "skipped step changed state");
    m->grads[5] = NAN;
    afm_optim_step(o, m, 1.0f, &r);
    CHECK(r.skipped && o->t == 0, "NaN gradient not skipped");
    /* norm 50: applied, clipped to norm 1 */
    afm_train_zero_grad(m);
    m->grads[5] = 30.0f;
    m->grads[9] = 40.0f;
    afm_optim_step(o, m, 1.0f, &r);
    CHECK(!r.skipped && o->t == 1, "norm-50 step was skipped");
    CHECK(fabsf(m->grads[5] - 0.6f) < 1e-6f && fabsf(m->grads[9] - 0.8f) < 1e-6f, "clip did not scale to norm 1 (%g, %g)", m->grads[5], m->grads[9]);
    /* first step: v = 0.05 (g^2 + 1e-30), v_hat = g^2 -> u = ±1 (before the per-tensor RMS clip) */
    CHECK(fabsf(o->v[5] - 0.05f * 0.36f) < 1e-7f, "second moment %g", o->v[5]);
    free(p0);
    afm_optim_free(o);
    afm_train_model_free(m);
}

/* The gradient norm is a reproducible sum (optim.c: scaled squares added as 128-bit integers, so
 * ZeRO-1's per-rank parts give the same value): one square of 2^52 and 10000 squares of 0.25
 * must sum to exactly 2^52 + 2500 (a running double sum loses every 0.25), and random
 * gradients over 60 binary orders of magnitude agree with a compensated long-double sum, the
 * SIMD and portable loops bit for bit. */
static void norm_accuracy(void) {
    afm_config c = small_config();
    afm_train_model *m;
    if (afm_train_model_create(&c, 1, 4, NULL, &m) != AFM_OK) exit(1);
    afm_train_model_init(m, 1);
    afm_optim_config oc = afm_optim_defaults(AFM_OPTIM_ADAMW, c.dim);
    afm_optim *o;
    afm_optim_create(&oc, m->n_params, &o);
    CHECK(m->n_params > 10001, "model too small for the test");
    afm_train_zero_grad(m);
    m->grads[0] = 0x1p26f;
    for (size_t i = 1; i <= 10000; i++) m->grads[i] = 0.5f;
    afm_optim_result r;
    afm_optim_step(o, m, 1.0f, &r);
    CHECK(r.grad_norm == sqrt(0x1p52 + 2500.0), "norm %.17g, expected sqrt(2^52 + 2500) = %.17g", r.grad_norm, sqrt(0x1p52 + 2500.0));
    afm_rng g;
    afm_rng_seed(&g, 5);
    long double sum = 0, comp = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        double mag = ldexp(1.0, (int)(afm_rng_u64(&g) % 60) - 40);
        float x = (float)((double)(afm_rng_u64(&g) % 2000001) / 1e6 - 1.0) * (float)mag;
        m->grads[i] = x;
        long double y = (long double)x * x - comp, t = sum + y; /* Kahan */
        comp = (t - sum) - y;
        sum = t;
    }
    float *keep = malloc(sizeof(float) * m->n_params);
    memcpy(keep, m->grads, sizeof(float) * m->n_params);
    setenv("AFM_FORCE_ISA", "scalar", 1); /* the portable loops give the very same integers */
    afm_optim_step(o, m, 1.0f, &r);
    double scalar_norm = r.grad_norm;
    unsetenv("AFM_FORCE_ISA");
    memcpy(m->grads, keep, sizeof(float) * m->n_params);
    free(keep);
    afm_optim_step(o, m, 1.0f, &r);
    CHECK(r.grad_norm == scalar_norm, "gradient norm: SIMD %.17g vs portable %.17g", r.grad_norm, scalar_norm);
    double want = sqrt((double)sum), rel = fabs(r.grad_norm - want) / want;
    printf("gradient norm: exact case ok; random case relative difference to a compensated long-double sum %.2e\n", rel);
    CHECK(rel < 4e-16, "gradient norm %.17g vs %.17g (relative %.2e)", r.grad_norm, want, rel);
    afm_optim_free(o);
    afm_train_model_free(m);
}

static void accumulation(afm_pool *pool) {
    afm_config c = small_config();
    enum { B = 4, T = 8 };
    afm_train_model *m;
    if (afm_train_model_create(&c, B, T, pool, &m) != AFM_OK) exit(1);
    afm_train_model_init(m, 3);
    afm_rng r;
    afm_rng_seed(&r, 9);
    int32_t tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) { tok[i] = (int32_t)(afm_rng_u64(&r) % 64); tgt[i] = (int32_t)(afm_rng_u64(&r) % 64); }
    double l;
    afm_train_zero_grad(m);
    afm_train_forward(m, tok, tgt, B, T, &l);
    afm_train_backward(m, 1.0f);
    float *full = malloc(sizeof(float) * m->n_params);
    memcpy(full, m->grads, sizeof(float) * m->n_params);
    afm_train_zero_grad(m);
    for (int h = 0; h < 2; h++) {
        afm_train_forward(m, tok + h * (B / 2) * T, tgt + h * (B / 2) * T, B / 2, T, &l);
        afm_train_backward(m, 0.5f);
    }
    double md = 0, mx = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        md = fmax(md, fabs(full[i] - m->grads[i]));
        mx = fmax(mx, fabs(full[i]));
    }
    printf("accumulation: 2 x half batch vs full batch, max gradient difference %.2e (max |g| %.2e)\n", md, mx);
    CHECK(md <= 1e-5 * mx, "accumulated gradient differs from the full-batch gradient");
    free(full);
    afm_train_model_free(m);
}

static void schedules(void) {
    afm_schedule cs = {AFM_SCHED_COSINE, 10, 110, 0.005f};
    CHECK(afm_schedule_at(&cs, 0) == 0.0, "warm-up starts at 0");
    CHECK(fabs(afm_schedule_at(&cs, 5) - 0.5) < 1e-12, "warm-up midpoint");
    CHECK(fabs(afm_schedule_at(&cs, 10) - 1.0) < 1e-12, "peak after warm-up");
    CHECK(fabs(afm_schedule_at(&cs, 60) - (0.005 + 0.995 * 0.5)) < 1e-7, "cosine midpoint %g", afm_schedule_at(&cs, 60));
    CHECK(fabs(afm_schedule_at(&cs, 110) - 0.005) < 1e-7 && fabs(afm_schedule_at(&cs, 500) - 0.005) < 1e-7, "floor");
    afm_schedule ls = {AFM_SCHED_LINEAR, 0, 100, 0.0f};
    CHECK(fabs(afm_schedule_at(&ls, 25) - 0.75) < 1e-12, "linear decay");
    afm_schedule k = {AFM_SCHED_CONSTANT, 4, 0, 0.0f};
    CHECK(afm_schedule_at(&k, 2) == 0.5 && afm_schedule_at(&k, 1000) == 1.0, "constant");
    afm_sched_kind kind;
    CHECK(afm_schedule_parse("cosine", &kind) == AFM_OK && kind == AFM_SCHED_COSINE, "parse");
    CHECK(afm_schedule_parse("exp", &kind) == AFM_ERR_INVALID_ARG, "unknown schedule accepted");
}

/* Three steps from the same gradients (large enough to be clipped) with the model on `pool`;
 * params, m and v appended to out (n_params each). */
static void steps_on(afm_pool *pool, afm_optim_kind kind, float *out, double *norms) {
    afm_config c = small_config();
    afm_train_model *m;
    if (afm_train_model_create(&c, 2, 16, pool, &m) != AFM_OK) exit(1);
    afm_train_model_init(m, 11);
    afm_optim_config oc = afm_optim_defaults(kind, c.dim);
    afm_optim *o;
    if (afm_optim_create(&oc, m->n_params, &o) != AFM_OK) exit(1);
    for (int step = 0; step < 3; step++) {
        afm_rng r;
        afm_rng_seed(&r, 100 + (uint64_t)step);
        for (size_t i = 0; i < m->n_params; i++) m->grads[i] = 0.5f * (afm_rng_uniform(&r) - 0.5f);
        afm_optim_result res;
        afm_optim_step(o, m, 0.7f, &res);
        norms[step] = res.grad_norm;
    }
    memcpy(out, m->params, sizeof(float) * m->n_params);
    memcpy(out + m->n_params, o->m, sizeof(float) * m->n_params);
    memcpy(out + 2 * m->n_params, o->v, sizeof(float) * m->n_params);
    afm_optim_free(o);
    afm_train_model_free(m);
}

static void thread_invariance(void) {
    afm_config c = small_config();
    size_t n = afm_train_n_params(&c);
    afm_pool *pool3;
    if (afm_pool_create(3, &pool3) != AFM_OK) exit(1);
    float *a = malloc(sizeof(float) * 3 * n), *b = malloc(sizeof(float) * 3 * n);
    for (int kind = AFM_OPTIM_ADAMW; kind <= AFM_OPTIM_AFM; kind++) {
        double na[3], nb[3];
        steps_on(NULL, (afm_optim_kind)kind, a, na);
        steps_on(pool3, (afm_optim_kind)kind, b, nb);
        CHECK(na[0] > 1.0, "gradients too small to exercise the clip (norm %g)", na[0]);
        CHECK(!memcmp(na, nb, sizeof na), "%s: gradient norms differ between 1 and 3 threads", kind ? "afm" : "adamw");
        CHECK(!memcmp(a, b, sizeof(float) * 3 * n), "%s: parameters or moments differ between 1 and 3 threads",
              kind ? "afm" : "adamw");
    }
    free(a);
    free(b);
    afm_pool_free(pool3);
}

int main(void) {
    afm_pool *pool = NULL; /* one thread: tiny models (threads are covered by test_train_reference) */
    schedules();
    skip_and_clip();
    norm_accuracy();
    thread_invariance();
    accumulation(pool);
    overfit(pool, AFM_OPTIM_ADAMW, 1e-2f);
    overfit(pool, AFM_OPTIM_AFM, 2e-2f);
    printf("%s\n", g_fail ? "FAIL" : "ok");
    return g_fail;
}
