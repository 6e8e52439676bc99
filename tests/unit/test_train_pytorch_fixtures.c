/* The training core against the forward/backward fixtures of scripts/reference/make_model_fixtures.py
 * (format: tests/fixtures/train/README.md). Those fixtures are independent of the training
 * core's own reference (tests/fixtures/train_core/): a separate float64 PyTorch model, whose
 * gradients Hugging Face Llama/Qwen3 confirm to 2e-6, over 12 configs covering every pair of
 * switch values (RoPE layout x QK-norm x tied x GQA 1/2/4 x head_dim != dim/heads), two with
 * z-loss 1e-4. Parameters come from the GGUF files in tests/fixtures/model/.
 *   - loss: relative error <= 1e-5; logits: per row max|a-b| / max|ref| <= 1e-5
 *   - every parameter gradient: per tensor max|a-b| / max|ref| <= 1e-4 (z-loss moves them ~1e-3)
 *   - 10 AdamW steps (lr 1e-3, betas 0.9/0.95, eps 1e-8, wd 0.1 decoupled, no clip, constant LR),
 *     decay on matrices only and on every tensor: each loss to 1e-5 relative, and the final
 *     parameters (matrices-only run) per tensor to 1e-4. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "formats/gguf.h"
#include "model/train_model.h"
#include "train/optim.h"

#define TOL_LOSS 1e-5
#define TOL_LOGITS 1e-5
#define TOL_GRAD 1e-4

static int g_fail;
#define CHECK(cond, ...) do { if (!(cond)) { printf("  FAIL: "); printf(__VA_ARGS__); printf("\n"); g_fail++; } } while (0)

static double jnum(const cJSON *o, const char *k) { return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k)); }
static const char *jstr(const cJSON *o, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k)); }

/* out = a "/" b; false if it does not fit. */
static bool join(char *out, size_t n, const char *a, const char *b) {
    int k = snprintf(out, n, "%s/%s", a, b ? b : "");
    return k > 0 && (size_t)k < n;
}

/* Little-endian f32 file of exactly `count` values -> malloc'd floats (NULL on any mismatch). */
static float *read_f32(const char *dir, const char *name, size_t count) {
    char path[4096], *raw = NULL;
    size_t size = 0;
    if (!join(path, sizeof path, dir, name) || afm_read_file(path, &raw, &size) != AFM_OK) {
        printf("  FAIL: cannot read %s/%s\n", dir, name ? name : "(null)");
        return NULL;
    }
    float *out = NULL;
    if (size == count * 4 && (out = malloc(count * sizeof(float))) != NULL) {
        const unsigned char *b = (const unsigned char *)raw;
        for (size_t i = 0; i < count; i++) {
            uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
            memcpy(&out[i], &u, 4);
        }
    } else {
        printf("  FAIL: %s has %zu bytes, expected %zu\n", path, size, count * 4);
    }
    free(raw);
    return out;
}

/* max over rows of max|got - ref| / max|ref| (a NaN counts as infinite) */
static double rows_err(const float *got, const float *ref, size_t rows, size_t width) {
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double d = 0, s = 1e-12;
        for (size_t i = 0; i < width; i++) {
            double e = fabs((double)got[r * width + i] - ref[r * width + i]);
            if (!(e <= d)) d = isnan(e) ? INFINITY : e;
            if (fabs(ref[r * width + i]) > s) s = fabs(ref[r * width + i]);
        }
        if (d / s > worst) worst = d / s;
    }
    return worst;
}

static afm_config config_of(const cJSON *j) {
    afm_config c = {0};
    snprintf(c.arch, sizeof c.arch, "%s", jstr(j, "arch"));
    c.n_vocab = (int32_t)jnum(j, "n_vocab"); c.dim = (int32_t)jnum(j, "dim"); c.n_layers = (int32_t)jnum(j, "n_layers");
    c.n_heads = (int32_t)jnum(j, "n_heads"); c.n_kv_heads = (int32_t)jnum(j, "n_kv_heads");
    c.head_dim = (int32_t)jnum(j, "head_dim"); c.ffn_dim = (int32_t)jnum(j, "ffn_dim");
    c.max_seq_len = (int32_t)jnum(j, "context_length");
    c.rope_theta = (float)jnum(j, "rope_theta"); c.norm_eps = (float)jnum(j, "norm_eps");
    c.rope_layout = strcmp(jstr(j, "rope_layout"), "half") == 0 ? AFM_ROPE_HALF : AFM_ROPE_INTERLEAVED;
    const char *qk = jstr(j, "qk_norm");
    c.qk_norm = strcmp(qk, "off") == 0 ? AFM_QK_NORM_OFF : strcmp(qk, "before_rope") == 0 ? AFM_QK_NORM_BEFORE_ROPE : AFM_QK_NORM_AFTER_ROPE;
    c.tied_output = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "tied"));
    return c;
}

/* Copies every parameter from the fixture's GGUF (f32) into the model, by tensor name. */
static bool load_params(afm_train_model *m, const char *dir, const char *gguf_rel) {
    char path[4096];
    afm_gguf *g = NULL;
    if (!join(path, sizeof path, dir, gguf_rel) || afm_gguf_open(path, &g) != AFM_OK) {
        printf("  FAIL: cannot open %s: %s\n", path, afm_last_error());
        return false;
    }
    bool ok = afm_gguf_n_tensors(g) == m->n_tensors;
    CHECK(ok, "%s has %lld tensors, the training model %d", path, (long long)afm_gguf_n_tensors(g), m->n_tensors);
    for (int i = 0; ok && i < m->n_tensors; i++) {
        const afm_gguf_tensor *t = afm_gguf_find_tensor(g, m->tensors[i].name);
        ok = t && t->type == 0 && t->nbytes == m->tensors[i].numel * sizeof(float);
        CHECK(ok, "tensor %s missing from %s or not f32 of %zu values", m->tensors[i].name, path, m->tensors[i].numel);
        if (ok) memcpy(m->params + m->tensors[i].offset, t->data, t->nbytes);
    }
    afm_gguf_close(g);
    return ok;
}

/* Token arrays (B, T) from JSON. */
static void tokens_of(const cJSON *a, int32_t *out, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) out[b * T + t] = (int32_t)cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetArrayItem(a, b), t));
}

typedef struct train_case {
    const cJSON *j;
    afm_config cfg;
    int B, T;
    int32_t *tok, *tgt;
} train_case;

static void run_case(afm_pool *pool, const char *dir, const cJSON *j) {
    train_case c = { .j = j, .cfg = config_of(cJSON_GetObjectItemCaseSensitive(j, "config")),
                     .B = (int)jnum(j, "batch"), .T = (int)jnum(j, "seq_len") };
    const char *name = jstr(j, "name");
    size_t N = (size_t)c.B * c.T, V = (size_t)c.cfg.n_vocab;
    afm_train_model *m = NULL;
    if (afm_train_model_create(&c.cfg, c.B, c.T, pool, &m) != AFM_OK) {
        printf("  FAIL: %s: afm_train_model_create: %s\n", name, afm_last_error());
        g_fail++;
        return;
    }
    m->z_loss = (float)jnum(j, "z_loss");
    c.tok = malloc(N * sizeof(int32_t));
    c.tgt = malloc(N * sizeof(int32_t));
    tokens_of(cJSON_GetObjectItemCaseSensitive(j, "inputs"), c.tok, c.B, c.T);
    tokens_of(cJSON_GetObjectItemCaseSensitive(j, "targets"), c.tgt, c.B, c.T);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
    float *ref_logits = read_f32(dir, jstr(j, "logits"), N * V);
    float *ref_grads = read_f32(dir, jstr(j, "grads"), m->n_params);
    double loss = NAN;
    if (ref_logits && ref_grads && load_params(m, dir, jstr(j, "model")) &&
        afm_train_forward(m, c.tok, c.tgt, c.B, c.T, &loss) == AFM_OK) {
        double e_loss = fabs(loss - jnum(j, "loss")) / jnum(j, "loss");
        double e_logits = rows_err(m->logits, ref_logits, N, V);
        afm_train_zero_grad(m);
        afm_status st = afm_train_backward(m, 1.0f);
        CHECK(st == AFM_OK, "%s: backward: %s", name, afm_last_error());
        double e_grad = 0;
        const char *worst = "";
        CHECK(cJSON_GetArraySize(params) == m->n_tensors, "%s: fixture lists %d tensors, model has %d", name,
              cJSON_GetArraySize(params), m->n_tensors);
        for (int i = 0; i < cJSON_GetArraySize(params); i++) {
            const cJSON *p = cJSON_GetArrayItem(params, i);
            const afm_param_tensor *t = afm_train_find_tensor(m, jstr(p, "name"));
            if (!t || t->numel != (size_t)jnum(p, "count")) {
                CHECK(0, "%s: tensor %s missing or of another size in the training model", name, jstr(p, "name"));
                continue;
            }
            double e = rows_err(m->grads + t->offset, ref_grads + (size_t)jnum(p, "offset"), 1, t->numel);
            CHECK(e <= TOL_GRAD, "%s: gradient of %s differs by %.2e relative", name, t->name, e);
            if (e > e_grad) { e_grad = e; worst = jstr(p, "name"); }
        }
        printf("%-28s loss %.6f (rel %.1e)  logits %.1e  gradients %.1e (%s)\n", name, loss, e_loss, e_logits, e_grad, worst);
        CHECK(e_loss <= TOL_LOSS, "%s: loss %.8f, PyTorch %.8f", name, loss, jnum(j, "loss"));
        CHECK(e_logits <= TOL_LOGITS, "%s: logits differ by %.2e relative", name, e_logits);
        /* the training step's path: output layer and loss in chunks that do not divide N */
        int C = (int)N / 3 > 1 ? (int)N / 3 : 1;
        while (C > 1 && N % (size_t)C == 0) C--;
        m->out_chunk = C < m->out_chunk_cap ? C : m->out_chunk_cap;
        afm_train_zero_grad(m);
        double l_c = NAN, e_cg = 0;
        st = afm_train_step(m, c.tok, c.tgt, c.B, c.T, 1.0f, &l_c);
        CHECK(st == AFM_OK, "%s: step: %s", name, afm_last_error());
        for (int i = 0; i < cJSON_GetArraySize(params); i++) {
            const cJSON *p = cJSON_GetArrayItem(params, i);
            const afm_param_tensor *t = afm_train_find_tensor(m, jstr(p, "name"));
            if (!t || t->numel != (size_t)jnum(p, "count")) continue;
            double e = rows_err(m->grads + t->offset, ref_grads + (size_t)jnum(p, "offset"), 1, t->numel);
            CHECK(e <= TOL_GRAD, "%s: chunked step: gradient of %s differs by %.2e relative", name, t->name, e);
            if (e > e_cg) e_cg = e;
        }
        double e_cl = fabs(l_c - jnum(j, "loss")) / jnum(j, "loss");
        CHECK(e_cl <= TOL_LOSS, "%s: chunked step: loss %.8f, PyTorch %.8f", name, l_c, jnum(j, "loss"));
        printf("%-28s chunked output layer (%d of %zu tokens per chunk): loss rel %.1e, gradients %.1e\n", "", m->out_chunk, N, e_cl, e_cg);
    } else {
        CHECK(0, "%s: could not load or run: %s", name, afm_last_error());
    }
    free(ref_logits);
    free(ref_grads);
    free(c.tok);
    free(c.tgt);
    afm_train_model_free(m);
}

/* 10 AdamW steps on the same batch; the losses (and, for one run, the final parameters). */
static void run_adamw(afm_pool *pool, const char *dir, const cJSON *cases, const cJSON *a) {
    const char *cname = jstr(a, "config_name");
    const cJSON *j = NULL;
    for (int i = 0; i < cJSON_GetArraySize(cases); i++)
        if (strcmp(jstr(cJSON_GetArrayItem(cases, i), "name"), cname) == 0) j = cJSON_GetArrayItem(cases, i);
    if (!j) { CHECK(0, "adamw: no case named %s", cname); return; }
    afm_config cfg = config_of(cJSON_GetObjectItemCaseSensitive(a, "config"));
    int B = (int)jnum(j, "batch"), T = (int)jnum(j, "seq_len");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(a, "hyper");
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    tokens_of(cJSON_GetObjectItemCaseSensitive(j, "inputs"), tok, B, T);
    tokens_of(cJSON_GetObjectItemCaseSensitive(j, "targets"), tgt, B, T);
    const char *runs[] = { "decay_matrices", "decay_all" };
    for (int r = 0; r < 2; r++) {
        const cJSON *run = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "runs"), runs[r]);
        afm_train_model *m = NULL;
        afm_optim *o = NULL;
        afm_optim_config oc = afm_optim_defaults(AFM_OPTIM_ADAMW, cfg.dim);
        oc.lr = (float)jnum(h, "lr"); oc.beta1 = (float)jnum(h, "beta1"); oc.beta2 = (float)jnum(h, "beta2");
        oc.eps = (float)jnum(h, "eps"); oc.weight_decay = (float)jnum(h, "weight_decay");
        oc.clip_norm = 0; oc.decay_norms = r == 1;
        if (afm_train_model_create(&cfg, B, T, pool, &m) != AFM_OK || afm_optim_create(&oc, m->n_params, &o) != AFM_OK ||
            !load_params(m, dir, jstr(a, "model"))) {
            CHECK(0, "adamw %s: setup failed: %s", runs[r], afm_last_error());
            afm_optim_free(o);
            afm_train_model_free(m);
            continue;
        }
        int steps = (int)jnum(h, "steps");
        double worst = 0, loss = NAN;
        for (int s = 0; s <= steps; s++) {
            afm_train_zero_grad(m);
            /* training steps as the trainer runs them (output layer in chunks); the last: loss only */
            afm_status fs = s < steps ? afm_train_step(m, tok, tgt, B, T, 1.0f, &loss) : afm_train_eval_loss(m, tok, tgt, B, T, &loss);
            if (fs != AFM_OK) { CHECK(0, "adamw step: %s", afm_last_error()); break; }
            double want = s < steps ? cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(run, "losses"), s))
                                    : jnum(run, "final_loss");
            double e = fabs(loss - want) / want;
            CHECK(e <= TOL_LOSS, "adamw %s: loss after %d steps %.8f, PyTorch %.8f", runs[r], s, loss, want);
            if (e > worst) worst = e;
            if (s == steps) break;
            afm_optim_result res;
            if (afm_optim_step(o, m, 1.0f, &res) != AFM_OK || res.skipped) {
                CHECK(0, "adamw %s: step %d failed or skipped: %s", runs[r], s, afm_last_error());
                break;
            }
        }
        double e_params = 0;
        const char *pfile = jstr(run, "final_params");
        if (pfile) {
            float *ref = read_f32(dir, pfile, m->n_params);
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
            for (int i = 0; ref && i < cJSON_GetArraySize(params); i++) {
                const cJSON *p = cJSON_GetArrayItem(params, i);
                const afm_param_tensor *t = afm_train_find_tensor(m, jstr(p, "name"));
                if (!t) { CHECK(0, "adamw: tensor %s missing", jstr(p, "name")); continue; }
                double e = rows_err(m->params + t->offset, ref + (size_t)jnum(p, "offset"), 1, t->numel);
                CHECK(e <= TOL_GRAD, "adamw %s: final %s differs by %.2e relative", runs[r], t->name, e);
                if (e > e_params) e_params = e;
            }
            CHECK(ref != NULL, "adamw: no final parameters");
            free(ref);
        }
        printf("adamw %-14s %d steps: loss %.6f -> %.6f, worst loss error %.1e%s", runs[r], steps,
               cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(run, "losses"), 0)), loss, worst,
               pfile ? "" : "\n");
        if (pfile) printf(", final parameters %.1e\n", e_params);
        afm_optim_free(o);
        afm_train_model_free(m);
    }
    free(tok);
    free(tgt);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    char dir[4096], path[4096], *text = NULL;
    size_t size = 0;
    if (!join(dir, sizeof dir, src ? src : ".", "tests/fixtures/train") || !join(path, sizeof path, dir, "index.json") ||
        afm_read_file(path, &text, &size) != AFM_OK) {
        printf("FAIL: cannot read the index (set AFM_SOURCE_DIR): %s\n", afm_last_error());
        return 1;
    }
    cJSON *index = cJSON_Parse(text);
    free(text);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(index, "cases");
    int n = cJSON_GetArraySize(cases);
    afm_pool *pool = NULL;
    if (n < 12 || afm_pool_create(2, &pool) != AFM_OK) {
        printf("FAIL: %d cases in %s (expected >= 12) or no thread pool\n", n, path);
        cJSON_Delete(index);
        return 1;
    }
    for (int i = 0; i < n; i++) run_case(pool, dir, cJSON_GetArrayItem(cases, i));
    run_adamw(pool, dir, cases, cJSON_GetObjectItemCaseSensitive(index, "adamw"));
    afm_pool_free(pool);
    cJSON_Delete(index);
    if (g_fail) printf("%d check(s) failed\n", g_fail);
    else printf("all %d cases and the AdamW runs match PyTorch\n", n);
    return g_fail ? 1 : 0;
}
