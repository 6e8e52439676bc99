/* Distillation (src/train/distill.c):
 *  1. loss and dloss/dlogits of both forms (AFM 0.9 top-1 + 0.1 label; KL at temperature T mixed
 *     with the hard label by alpha) equal PyTorch's autograd (tests/fixtures/distill/distill.json,
 *     scripts/reference/make_distill_fixtures.py) to 1e-6;
 *  2. the gradient matches central finite differences of the loss for every mode;
 *  3. the trainer's hook: kl with alpha 1 gives the same parameter gradients as plain cross-entropy;
 *  4. recipe validation (mode, unknown keys, other mode's keys, ranges, teacher path) and a teacher
 *     with another vocabulary size is refused;
 *  5. end to end: a student trained on a teacher's (a saved GGUF, run by the inference runtime)
 *     targets lowers its KL to the teacher on held-out tokens, in both modes. */
#include "train/distill.h"
#include "train/optim.h"
#include "model/train_model.h"
#include "model/train_gguf.h"
#include "base/error.h"
#include "base/file.h"
#include "base/rng.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_fail;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL line %d: ", __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); g_fail = 1; } } while (0)

static afm_status parse(const char *json, afm_distill_config *c) {
    cJSON *o = cJSON_Parse(json);
    afm_status st = afm_distill_parse(o, c);
    cJSON_Delete(o);
    return st;
}

static void floats(const cJSON *a, float *out, long n) {
    long i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) if (i < n) out[i++] = (float)v->valuedouble;
}

static void test_pytorch(void) {
    char path[4096], *txt;
    size_t len;
    snprintf(path, sizeof path, "%s/tests/fixtures/distill/distill.json", getenv("AFM_SOURCE_DIR") ? getenv("AFM_SOURCE_DIR") : ".");
    if (afm_read_file(path, &txt, &len) != AFM_OK) { CHECK(0, "cannot read %s", path); return; }
    cJSON *f = cJSON_ParseWithLength(txt, len);
    free(txt);
    long N = cJSON_GetObjectItem(f, "N")->valueint, V = cJSON_GetObjectItem(f, "V")->valueint;
    float *z = malloc(sizeof(float) * N * V), *t = malloc(sizeof(float) * N * V), *want = malloc(sizeof(float) * N * V), *g = malloc(sizeof(float) * N * V);
    int32_t y[64];
    floats(cJSON_GetObjectItem(f, "logits"), z, N * V);
    floats(cJSON_GetObjectItem(f, "teacher"), t, N * V);
    float yf[64];
    floats(cJSON_GetObjectItem(f, "labels"), yf, N);
    for (long n = 0; n < N; n++) y[n] = (int32_t)yf[n];
    double kl1_want = cJSON_GetObjectItem(f, "kl1")->valuedouble;
    int n_cases = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(f, "cases")) {
        const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
        afm_distill_config c;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "teacher", "unused.gguf");
        cJSON_AddItemToObject(o, "mode", cJSON_Duplicate(cJSON_GetObjectItem(cs, "mode"), 1));
        const char *keys[] = {"top1_weight", "temperature", "alpha"};
        for (int k = 0; k < 3; k++) if (cJSON_GetObjectItem(cs, keys[k])) cJSON_AddItemToObject(o, keys[k], cJSON_Duplicate(cJSON_GetObjectItem(cs, keys[k]), 1));
        afm_status st = afm_distill_parse(o, &c);
        cJSON_Delete(o);
        CHECK(st == AFM_OK, "%s: parse: %s", name, afm_last_error());
        memcpy(g, z, sizeof(float) * N * V);
        afm_distill_stats ds;
        st = afm_distill_loss(&c, g, t, y, N, V, true, 1.0f, &ds);
        double loss = ds.loss, kl1 = ds.kl1;
        long nv = ds.n_valid;
        CHECK(st == AFM_OK, "%s: %s", name, afm_last_error());
        double lw = cJSON_GetObjectItem(cs, "loss")->valuedouble;
        CHECK(fabs(loss - lw) <= 1e-6 * fabs(lw), "%s: loss %.9g, PyTorch %.9g", name, loss, lw);
        CHECK(nv == N - 1, "%s: %ld counted rows, expected %ld", name, nv, N - 1);
        CHECK(fabs(kl1 - kl1_want) <= 1e-6 * kl1_want, "%s: KL(T=1) %.9g, PyTorch %.9g", name, kl1, kl1_want);
        floats(cJSON_GetObjectItem(cs, "dlogits"), want, N * V);
        double worst = 0;
        for (long i = 0; i < N * V; i++) worst = fmax(worst, fabs((double)g[i] - want[i]));
        CHECK(worst <= 1e-6, "%s: dlogits differ from PyTorch by %.3g", name, worst);
        /* scale multiplies the gradient, not the loss */
        memcpy(g, z, sizeof(float) * N * V);
        afm_distill_loss(&c, g, t, y, N, V, true, 0.25f, &ds);
        double loss2 = ds.loss;
        double w2 = 0;
        for (long i = 0; i < N * V; i++) w2 = fmax(w2, fabs((double)g[i] - 0.25 * want[i]));
        CHECK(loss2 == loss && w2 <= 1e-6, "%s: scale 0.25", name);
        n_cases++;
    }
    CHECK(n_cases == 5, "expected 5 fixture cases, got %d", n_cases);
    free(z); free(t); free(want); free(g);
    cJSON_Delete(f);
}

static void test_finite_differences(void) {
    enum { N = 4, V = 37 };
    afm_rng r;
    afm_rng_seed(&r, 11);
    float z[N * V], t[N * V], g[N * V], zp[N * V];
    int32_t y[N] = {3, -1, 36, 0};
    for (int i = 0; i < N * V; i++) { z[i] = (float)(afm_rng_normal(&r) * 1.5); t[i] = (float)(afm_rng_normal(&r) * 2.5); }
    const char *modes[] = {"{\"teacher\":\"x\",\"mode\":\"afm\"}", "{\"teacher\":\"x\",\"mode\":\"afm\",\"top1_weight\":0.3}",
                           "{\"teacher\":\"x\",\"mode\":\"kl\",\"temperature\":3,\"alpha\":0.2}", "{\"teacher\":\"x\",\"mode\":\"kl\",\"temperature\":0.7}"};
    for (int mi = 0; mi < 4; mi++) {
        afm_distill_config c;
        CHECK(parse(modes[mi], &c) == AFM_OK, "parse %s", modes[mi]);
        memcpy(g, z, sizeof z);
        afm_distill_stats ds;
        afm_distill_loss(&c, g, t, y, N, V, true, 1.0f, &ds);
        double worst = 0;
        for (int i = 0; i < N * V; i++) {
            const float h = 1e-2f;
            memcpy(zp, z, sizeof z);
            zp[i] = z[i] + h;
            double dp = zp[i];
            afm_distill_loss(&c, zp, t, y, N, V, false, 1.0f, &ds);
            double lp = ds.loss;
            zp[i] = z[i] - h;
            double dm = zp[i];
            afm_distill_loss(&c, zp, t, y, N, V, false, 1.0f, &ds);
            double lm = ds.loss;
            double fd = (lp - lm) / (dp - dm);
            worst = fmax(worst, fabs(fd - g[i]));
        }
        CHECK(worst < 2e-5, "%s: gradient differs from finite differences by %.3g", modes[mi], worst);
    }
}

static afm_config small_config(void) {
    afm_config c = {.arch = "afm", .n_vocab = 48, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
                    .ffn_dim = 64, .max_seq_len = 16, .rope_theta = 10000.0f, .rope_layout = AFM_ROPE_INTERLEAVED,
                    .qk_norm = AFM_QK_NORM_AFTER_ROPE, .norm_eps = 1e-5f, .tied_output = true};
    return c;
}

/* kl with alpha 1 is the hard-label cross-entropy: through the logits_are_grads hook it must give
 * the same parameter gradients as the model's own cross-entropy backward. */
static void test_hook(afm_pool *pool) {
    afm_config c = small_config();
    enum { B = 2, T = 8 };
    afm_train_model *m;
    if (afm_train_model_create(&c, B, T, pool, &m) != AFM_OK) { CHECK(0, "create"); return; }
    afm_train_model_init(m, 3);
    afm_rng r;
    afm_rng_seed(&r, 5);
    int32_t x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++) { x[i] = (int32_t)(afm_rng_u64(&r) % 48); y[i] = (int32_t)(afm_rng_u64(&r) % 48); }
    y[5] = -1;
    double l_ce, l_d;
    afm_train_zero_grad(m);
    afm_train_forward(m, x, y, B, T, &l_ce);
    afm_train_backward(m, 0.5f);
    float *g_ce = malloc(sizeof(float) * m->n_params);
    memcpy(g_ce, m->grads, sizeof(float) * m->n_params);
    afm_distill_config dc;
    parse("{\"teacher\":\"x\",\"mode\":\"kl\",\"alpha\":1}", &dc);
    float *teacher = calloc((size_t)B * T * 48, sizeof(float));
    afm_train_zero_grad(m);
    afm_train_forward(m, x, y, B, T, &l_d);
    afm_distill_stats ds;
    afm_distill_loss(&dc, m->logits, teacher, y, B * T, 48, true, 0.5f, &ds);
    l_d = ds.loss;
    m->logits_are_grads = true;
    afm_train_backward(m, 0.5f);
    double worst = 0, mx = 0;
    for (size_t i = 0; i < m->n_params; i++) { worst = fmax(worst, fabs(m->grads[i] - g_ce[i])); mx = fmax(mx, fabs(g_ce[i])); }
    CHECK(fabs(l_d - l_ce) < 1e-5 * l_ce, "loss %g vs cross-entropy %g", l_d, l_ce);
    CHECK(worst <= 1e-5 * mx, "gradients through the hook differ from cross-entropy's by %.3g (max %.3g)", worst, mx);
    CHECK(!m->logits_are_grads, "backward must clear logits_are_grads");
    free(g_ce);
    free(teacher);
    afm_train_model_free(m);
}

/* The trainer's chunked distillation (afm_train_step_loss + afm_distill_loss_rows over chunks of
 * 5 rows, with the batch's count) against the full path (afm_train_forward, afm_distill_loss on
 * the (N, V) logits, the logits_are_grads hook, afm_train_backward): the same loss and KL/top-1
 * sums bit for bit, every gradient but the output matrix's bit for bit, that one to 1e-5. */
typedef struct chunk_ctx { const afm_distill_config *dc; const float *teacher; const int32_t *y; float scale; long n_total; afm_distill_sums acc; } chunk_ctx;

static afm_status chunk_fn(void *p, float *logits, long n0, long rows, long V) {
    chunk_ctx *c = p;
    return afm_distill_loss_rows(c->dc, logits, c->teacher + n0 * V, c->y + n0, rows, V, true, c->scale, c->n_total, &c->acc);
}

static void test_chunked(afm_pool *pool) {
    afm_config c = small_config();
    enum { B = 2, T = 8, N = B * T, V = 48 };
    const char *modes[2] = {"{\"teacher\":\"x\",\"mode\":\"afm\"}", "{\"teacher\":\"x\",\"mode\":\"kl\",\"temperature\":2,\"alpha\":0.3}"};
    for (int mi = 0; mi < 2; mi++) {
        afm_train_model *m;
        if (afm_train_model_create(&c, B, T, pool, &m) != AFM_OK) { CHECK(0, "create"); return; }
        afm_train_model_init(m, 9);
        afm_rng r;
        afm_rng_seed(&r, 21);
        int32_t x[N], y[N];
        float *teacher = malloc(sizeof(float) * N * V);
        for (int i = 0; i < N; i++) { x[i] = (int32_t)(afm_rng_u64(&r) % V); y[i] = (int32_t)(afm_rng_u64(&r) % V); }
        for (int i = 0; i < N * V; i++) teacher[i] = 2.0f * afm_rng_normal(&r);
        y[6] = y[7] = -1;
        afm_distill_config dc;
        parse(modes[mi], &dc);
        afm_train_zero_grad(m);
        afm_train_forward(m, x, y, B, T, NULL);
        afm_distill_stats ds;
        afm_distill_loss(&dc, m->logits, teacher, y, N, V, true, 0.5f, &ds);
        m->logits_are_grads = true;
        afm_train_backward(m, 0.5f);
        float *g_full = malloc(sizeof(float) * m->n_params);
        memcpy(g_full, m->grads, sizeof(float) * m->n_params);
        chunk_ctx cc = {&dc, teacher, y, 0.5f, ds.n_valid, {0, 0, 0, 0}};
        m->out_chunk = 5;
        afm_train_zero_grad(m);
        CHECK(afm_train_step_loss(m, x, y, B, T, chunk_fn, &cc) == AFM_OK, "step_loss: %s", afm_last_error());
        CHECK(cc.acc.n_valid == ds.n_valid && cc.acc.loss / (double)cc.acc.n_valid == ds.loss &&
              cc.acc.kl1 / (double)cc.acc.n_valid == ds.kl1 && cc.acc.top1 / (double)cc.acc.n_valid == ds.top1,
              "%s: chunked sums differ (loss %.17g vs %.17g)", modes[mi], cc.acc.loss / (double)cc.acc.n_valid, ds.loss);
        const afm_param_tensor *out = afm_train_find_tensor(m, "token_embd.weight"); /* tied */
        double e_out = 0, mx = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const afm_param_tensor *t = &m->tensors[i];
            if (t == out) {
                for (size_t j = 0; j < t->numel; j++) {
                    e_out = fmax(e_out, fabs(m->grads[t->offset + j] - g_full[t->offset + j]));
                    mx = fmax(mx, fabs(g_full[t->offset + j]));
                }
            } else {
                CHECK(!memcmp(m->grads + t->offset, g_full + t->offset, sizeof(float) * t->numel), "%s: %s gradient differs", modes[mi], t->name);
            }
        }
        CHECK(e_out <= 1e-5 * mx, "%s: output-matrix gradient differs by %.3g (max %.3g)", modes[mi], e_out, mx);
        printf("chunked distillation (%s): loss %.6f as the full path, output-matrix gradient rel %.2g\n", mi ? "kl" : "afm", ds.loss, e_out / mx);
        free(g_full);
        free(teacher);
        afm_train_model_free(m);
    }
}

static void test_parse(void) {
    afm_distill_config c;
    CHECK(afm_distill_parse(NULL, &c) == AFM_OK && c.mode == AFM_DISTILL_OFF, "absent: off");
    CHECK(parse("{\"teacher\":\"t.gguf\",\"mode\":\"afm\"}", &c) == AFM_OK && c.mode == AFM_DISTILL_AFM && c.top1_weight == 0.9f &&
          !strcmp(c.teacher, "t.gguf"), "afm defaults");
    CHECK(parse("{\"teacher\":\"t.gguf\",\"mode\":\"kl\",\"temperature\":2,\"alpha\":0.5}", &c) == AFM_OK && c.mode == AFM_DISTILL_KL &&
          c.temperature == 2.0f && c.alpha == 0.5f, "kl");
    struct { const char *json, *msg; } bad[] = {
        {"{\"teacher\":\"t.gguf\",\"mode\":\"soft\"}", "distill.mode"},
        {"{\"teacher\":\"t.gguf\"}", "distill.mode"},
        {"{\"mode\":\"afm\"}", "distill.teacher"},
        {"{\"teacher\":\"\",\"mode\":\"afm\"}", "distill.teacher"},
        {"{\"teacher\":\"t.gguf\",\"mode\":\"afm\",\"temperature\":2}", "unknown key \"temperature\""},
        {"{\"teacher\":\"t.gguf\",\"mode\":\"kl\",\"top1_weight\":0.9}", "unknown key \"top1_weight\""},
        {"{\"teacher\":\"t.gguf\",\"mode\":\"kl\",\"temp\":2}", "unknown key \"temp\""},
        {"{\"teacher\":\"t.gguf\",\"mode\":\"kl\",\"temperature\":0}", "distill.temperature"},
        {"{\"teacher\":\"t.gguf\",\"mode\":\"kl\",\"alpha\":1.5}", "distill.alpha"},
        {"{\"teacher\":\"t.gguf\",\"mode\":\"afm\",\"top1_weight\":\"0.9\"}", "distill.top1_weight"},
        {"[1]", "must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        afm_status st = parse(bad[i].json, &c);
        CHECK(st != AFM_OK && strstr(afm_last_error(), bad[i].msg), "%s: accepted or unclear message: %s", bad[i].json,
              st == AFM_OK ? "(accepted)" : afm_last_error());
    }
}

static double mean_kl(afm_train_model *s, afm_distill_teacher *teach, const afm_distill_config *c, const int32_t *x, const int32_t *y,
                      int B, int T, float *tl) {
    afm_distill_stats ds;
    afm_train_forward(s, x, NULL, B, T, NULL);
    afm_distill_teacher_logits(teach, x, B, T, tl);
    afm_distill_loss(c, s->logits, tl, y, (long)B * T, s->cfg.n_vocab, false, 1.0f, &ds);
    return ds.kl1;
}

static void test_end_to_end(afm_pool *pool) {
    afm_config c = small_config();
    enum { B = 4, T = 16, STEPS = 60 };
    char dir[] = "/tmp/afm_distill_XXXXXX", path[256];
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/teacher.gguf", dir);
    /* teacher: another random AFM with sharper output (its embedding scaled up) */
    afm_train_model *tm;
    if (afm_train_model_create(&c, B, T, pool, &tm) != AFM_OK) { CHECK(0, "create teacher"); return; }
    afm_train_model_init(tm, 99);
    const afm_param_tensor *e = afm_train_find_tensor(tm, "token_embd.weight");
    for (size_t i = 0; i < e->numel; i++) tm->params[e->offset + i] *= 6.0f;
    CHECK(afm_train_gguf_save(tm, path, NULL) == AFM_OK, "save teacher: %s", afm_last_error());
    const char *modes[] = {"{\"teacher\":\"%s\",\"mode\":\"kl\",\"temperature\":2,\"alpha\":0.1}", "{\"teacher\":\"%s\",\"mode\":\"afm\"}"};
    afm_rng r;
    afm_rng_seed(&r, 1);
    int32_t xv[B * T], yv[B * T], x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++) { xv[i] = (int32_t)(afm_rng_u64(&r) % 48); yv[i] = (int32_t)(afm_rng_u64(&r) % 48); }
    float *tl = malloc(sizeof(float) * B * T * 48);
    for (int mi = 0; mi < 2; mi++) {
        char js[512];
        snprintf(js, sizeof js, modes[mi], path);
        afm_distill_config dc;
        CHECK(parse(js, &dc) == AFM_OK, "parse");
        afm_distill_teacher *teach = NULL;
        afm_status st = afm_distill_teacher_open(&dc, 49, 0, T, 1, &teach);
        CHECK(st != AFM_OK && strstr(afm_last_error(), "vocabulary of 48 tokens, the student"), "vocabulary 49 accepted: %s", afm_last_error());
        st = afm_distill_teacher_open(&dc, 48, 0, T, 1, &teach);
        CHECK(st == AFM_OK, "teacher: %s", afm_last_error());
        if (st != AFM_OK) break;
        /* the runtime's teacher logits equal the training model's forward */
        afm_train_forward(tm, xv, NULL, B, T, NULL);
        afm_distill_teacher_logits(teach, xv, B, T, tl);
        double worst = 0;
        for (long i = 0; i < (long)B * T * 48; i++) worst = fmax(worst, fabs(tl[i] - tm->logits[i]));
        CHECK(worst < 1e-3, "teacher logits differ from the training forward by %g", worst);
        afm_train_model *s;
        afm_train_model_create(&c, B, T, pool, &s);
        afm_train_model_init(s, 7);
        afm_optim_config oc = afm_optim_defaults(AFM_OPTIM_ADAMW, c.dim);
        oc.lr = 3e-3f;
        oc.weight_decay = 0;
        afm_optim *opt;
        afm_optim_create(&oc, s->n_params, &opt);
        double kl0 = mean_kl(s, teach, &dc, xv, yv, B, T, tl);
        for (int step = 0; step < STEPS; step++) {
            for (int i = 0; i < B * T; i++) { x[i] = (int32_t)(afm_rng_u64(&r) % 48); y[i] = (int32_t)(afm_rng_u64(&r) % 48); }
            double l;
            afm_distill_stats ds;
            afm_train_zero_grad(s);
            afm_train_forward(s, x, y, B, T, &l);
            afm_distill_teacher_logits(teach, x, B, T, tl);
            afm_distill_loss(&dc, s->logits, tl, y, B * T, 48, true, 1.0f, &ds);
            s->logits_are_grads = true;
            afm_train_backward(s, 1.0f);
            afm_optim_result res;
            afm_optim_step(opt, s, 1.0f, &res);
        }
        double kl1 = mean_kl(s, teach, &dc, xv, yv, B, T, tl);
        printf("%s: held-out KL(teacher || student) %.4f -> %.4f after %d steps\n", mi ? "afm" : "kl", kl0, kl1, STEPS);
        CHECK(kl1 < 0.6 * kl0, "%s: KL to the teacher did not fall enough (%.4f -> %.4f)", mi ? "afm" : "kl", kl0, kl1);
        afm_optim_free(opt);
        afm_train_model_free(s);
        afm_distill_teacher_free(teach);
    }
    free(tl);
    afm_train_model_free(tm);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    afm_pool *pool;
    if (afm_pool_create(1, &pool) != AFM_OK) return 1;
    test_pytorch();
    test_finite_differences();
    test_parse();
    test_hook(pool);
    test_chunked(pool);
    test_end_to_end(pool);
    afm_pool_free(pool);
    if (!g_fail) printf("test_train_distill: ok\n");
    return g_fail;
}
