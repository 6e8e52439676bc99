/* Training core against the `pyref` PyTorch fixtures (tests/fixtures/train/README.md: float64
 * autograd, cross-checked with HF transformers and finite differences). For every case (llama,
 * qwen3 and afm switch settings, MHA/GQA, head_dim != dim/heads, tied/untied, z-loss):
 *   model from its GGUF (tests/fixtures/model/NAME.gguf) via afm_train_gguf_config/_load;
 *   logits: per row max|a-ref| / max|ref| <= 1e-5;  loss: relative <= 1e-5;
 *   dlogits and every parameter gradient: per tensor max|a-ref| / max|ref| <= 1e-4.
 * AdamW runs (decay on matrices only / on all): the 10 losses and the final loss relative
 * <= 1e-5, final parameters per tensor <= 1e-4.
 * Also: save the model as an `afm` GGUF, read it back, and require the same config and
 * bit-identical parameters. Runs with 2 threads. */
#include "model/train_gguf.h"
#include "train/optim.h"
#include "base/file.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_fail;
static char g_dir[1024];

static float *read_f32(const char *name, size_t want) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    char *buf;
    size_t n;
    if (afm_read_file(path, &buf, &n) != AFM_OK || n != want * 4) { fprintf(stderr, "cannot read %s (%zu bytes, want %zu)\n", path, n, want * 4); exit(1); }
    float *f = malloc(want * 4);
    memcpy(f, buf, want * 4);
    free(buf);
    return f;
}

static double rel(const float *a, const float *ref, size_t n) {
    double md = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        mx = fmax(mx, fabs(ref[i]));
    }
    return md / (mx > 0 ? mx : 1);
}

static afm_train_model *load_model(afm_pool *pool, const char *model_rel, int B, int T, afm_gguf **gout) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", g_dir, model_rel);
    afm_gguf *g;
    afm_config c;
    afm_train_model *m;
    if (afm_gguf_open(path, &g) != AFM_OK || afm_train_gguf_config(g, &c) != AFM_OK ||
        afm_train_model_create(&c, B, T, pool, &m) != AFM_OK || afm_train_gguf_load(m, g) != AFM_OK) {
        fprintf(stderr, "%s: %s\n", path, afm_last_error());
        exit(1);
    }
    *gout = g;
    return m;
}

static void tokens_of(const cJSON *rows, int B, int T, int32_t *out) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) out[b * T + t] = (int32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(rows, b), t)->valuedouble;
}

static const cJSON *param_entry(const cJSON *params, const char *name) {
    const cJSON *p;
    cJSON_ArrayForEach(p, params) if (!strcmp(cJSON_GetObjectItem(p, "name")->valuestring, name)) return p;
    return NULL;
}

static void roundtrip(afm_train_model *m, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "test_train_pyref_%d.gguf", (int)getpid());
    afm_gguf *g;
    afm_config c;
    afm_train_model *m2;
    if (afm_train_gguf_save(m, path, NULL) != AFM_OK || afm_gguf_open(path, &g) != AFM_OK || afm_train_gguf_config(g, &c) != AFM_OK ||
        afm_train_model_create(&c, 1, 1, NULL, &m2) != AFM_OK || afm_train_gguf_load(m2, g) != AFM_OK) {
        fprintf(stderr, "FAIL %s GGUF round trip: %s\n", name, afm_last_error());
        g_fail = 1;
        unlink(path);
        return;
    }
    afm_config a = m->cfg;
    bool same = c.dim == a.dim && c.n_layers == a.n_layers && c.n_heads == a.n_heads && c.n_kv_heads == a.n_kv_heads &&
                c.head_dim == a.head_dim && c.ffn_dim == a.ffn_dim && c.n_vocab == a.n_vocab && c.rope_theta == a.rope_theta &&
                c.rope_layout == a.rope_layout && c.qk_norm == a.qk_norm && c.norm_eps == a.norm_eps && c.tied_output == a.tied_output &&
                c.max_seq_len == a.max_seq_len && !strcmp(c.arch, "afm");
    if (!same || m2->n_params != m->n_params || memcmp(m2->params, m->params, m->n_params * 4)) {
        fprintf(stderr, "FAIL %s GGUF round trip changed the config or parameters\n", name);
        g_fail = 1;
    }
    afm_train_model_free(m2);
    afm_gguf_close(g);
    unlink(path);
}

static void run_case(afm_pool *pool, const cJSON *cs) {
    const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
    int B = (int)cJSON_GetObjectItem(cs, "batch")->valuedouble, T = (int)cJSON_GetObjectItem(cs, "seq_len")->valuedouble;
    afm_gguf *g;
    afm_train_model *m = load_model(pool, cJSON_GetObjectItem(cs, "model")->valuestring, B, T, &g);
    m->z_loss = (float)cJSON_GetObjectItem(cs, "z_loss")->valuedouble;
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    tokens_of(cJSON_GetObjectItem(cs, "inputs"), B, T, tok);
    tokens_of(cJSON_GetObjectItem(cs, "targets"), B, T, tgt);
    long V = m->cfg.n_vocab, N = (long)B * T;
    float *ref_logits = read_f32(cJSON_GetObjectItem(cs, "logits")->valuestring, (size_t)(N * V));
    float *ref_dlogits = read_f32(cJSON_GetObjectItem(cs, "dlogits")->valuestring, (size_t)(N * V));
    const cJSON *params = cJSON_GetObjectItem(cs, "params");
    size_t total = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, params) total += (size_t)cJSON_GetObjectItem(p, "count")->valuedouble;
    float *ref_grads = read_f32(cJSON_GetObjectItem(cs, "grads")->valuestring, total);
    double loss;
    afm_train_forward(m, tok, tgt, B, T, &loss);
    double want = cJSON_GetObjectItem(cs, "loss")->valuedouble, e_loss = fabs(loss - want) / fabs(want), e_logit = 0;
    for (long n = 0; n < N; n++) e_logit = fmax(e_logit, rel(m->logits + n * V, ref_logits + n * V, (size_t)V));
    afm_train_zero_grad(m);
    afm_train_backward(m, 1.0f);
    double e_dl = rel(m->logits, ref_dlogits, (size_t)(N * V)), e_g = 0;
    const char *worst = "";
    for (int i = 0; i < m->n_tensors; i++) {
        const cJSON *pe = param_entry(params, m->tensors[i].name);
        if (!pe || (size_t)cJSON_GetObjectItem(pe, "count")->valuedouble != m->tensors[i].numel) {
            fprintf(stderr, "FAIL %s: fixture has no gradient of the right size for %s\n", name, m->tensors[i].name);
            g_fail = 1;
            continue;
        }
        double e = rel(m->grads + m->tensors[i].offset, ref_grads + (size_t)cJSON_GetObjectItem(pe, "offset")->valuedouble, m->tensors[i].numel);
        if (!(e <= 1e-4)) { fprintf(stderr, "FAIL %s gradient %s: %.3g\n", name, m->tensors[i].name, e); g_fail = 1; }
        if (e > e_g) { e_g = e; worst = m->tensors[i].name; }
    }
    printf("%-28s loss rel %.1e, logits rel %.1e, dlogits rel %.1e, %2d gradients worst %.1e (%s)\n", name, e_loss, e_logit, e_dl,
           m->n_tensors, e_g, worst);
    if (!(e_loss <= 1e-5) || !(e_logit <= 1e-5) || !(e_dl <= 1e-4)) { fprintf(stderr, "FAIL %s forward/dlogits\n", name); g_fail = 1; }
    roundtrip(m, name);
    free(tok); free(tgt); free(ref_logits); free(ref_dlogits); free(ref_grads);
    afm_train_model_free(m);
    afm_gguf_close(g);
}

static void run_adamw(afm_pool *pool, const cJSON *aw, const cJSON *cases) {
    const char *cname = cJSON_GetObjectItem(aw, "config_name")->valuestring;
    const cJSON *cs = NULL, *c;
    cJSON_ArrayForEach(c, cases) if (!strcmp(cJSON_GetObjectItem(c, "name")->valuestring, cname)) cs = c;
    if (!cs) { fprintf(stderr, "FAIL: AdamW case %s not found\n", cname); g_fail = 1; return; }
    int B = (int)cJSON_GetObjectItem(aw, "batch")->valuedouble, T = (int)cJSON_GetObjectItem(aw, "seq_len")->valuedouble;
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    tokens_of(cJSON_GetObjectItem(cs, "inputs"), B, T, tok);
    tokens_of(cJSON_GetObjectItem(cs, "targets"), B, T, tgt);
    const cJSON *hy = cJSON_GetObjectItem(aw, "hyper");
    const char *runs[2] = {"decay_matrices", "decay_all"};
    for (int r = 0; r < 2; r++) {
        const cJSON *run = cJSON_GetObjectItem(cJSON_GetObjectItem(aw, "runs"), runs[r]);
        afm_gguf *g;
        afm_train_model *m = load_model(pool, cJSON_GetObjectItem(aw, "model")->valuestring, B, T, &g);
        afm_optim_config oc = afm_optim_defaults(AFM_OPTIM_ADAMW, m->cfg.dim);
        oc.lr = (float)cJSON_GetObjectItem(hy, "lr")->valuedouble;
        oc.beta1 = (float)cJSON_GetObjectItem(hy, "beta1")->valuedouble;
        oc.beta2 = (float)cJSON_GetObjectItem(hy, "beta2")->valuedouble;
        oc.eps = (float)cJSON_GetObjectItem(hy, "eps")->valuedouble;
        oc.weight_decay = (float)cJSON_GetObjectItem(hy, "weight_decay")->valuedouble;
        oc.clip_norm = 0.0f;
        oc.decay_norms = r == 1;
        afm_optim *o;
        afm_optim_create(&oc, m->n_params, &o);
        int steps = (int)cJSON_GetObjectItem(hy, "steps")->valuedouble;
        const cJSON *losses = cJSON_GetObjectItem(run, "losses");
        double worst = 0, loss;
        for (int s = 0; s <= steps; s++) {
            afm_train_zero_grad(m);
            afm_train_forward(m, tok, tgt, B, T, &loss);
            double want = s < steps ? cJSON_GetArrayItem(losses, s)->valuedouble : cJSON_GetObjectItem(run, "final_loss")->valuedouble;
            double e = fabs(loss - want) / fabs(want);
            worst = fmax(worst, e);
            if (!(e <= 1e-5)) { fprintf(stderr, "FAIL adamw %s step %d: %.8f vs %.8f\n", runs[r], s, loss, want); g_fail = 1; }
            if (s == steps) break;
            afm_train_backward(m, 1.0f);
            afm_optim_step(o, m, 1.0f, NULL);
        }
        double e_p = 0;
        const cJSON *fp = cJSON_GetObjectItem(run, "final_params");
        if (fp) {
            const cJSON *params = cJSON_GetObjectItem(cs, "params");
            float *ref = read_f32(fp->valuestring, m->n_params);
            for (int i = 0; i < m->n_tensors; i++) {
                const cJSON *pe = param_entry(params, m->tensors[i].name);
                double e = rel(m->params + m->tensors[i].offset, ref + (size_t)cJSON_GetObjectItem(pe, "offset")->valuedouble, m->tensors[i].numel);
                if (!(e <= 1e-4)) { fprintf(stderr, "FAIL adamw final %s: %.3g\n", m->tensors[i].name, e); g_fail = 1; }
                e_p = fmax(e_p, e);
            }
            free(ref);
        }
        printf("adamw %-15s %d steps: final loss %.6f, worst loss rel %.1e, final params worst rel %.1e%s\n", runs[r], steps, loss,
               worst, e_p, fp ? "" : " (not in fixture)");
        afm_optim_free(o);
        afm_train_model_free(m);
        afm_gguf_close(g);
    }
    free(tok); free(tgt);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/train", src ? src : ".");
    char path[1400], *js;
    size_t jl;
    snprintf(path, sizeof path, "%s/index.json", g_dir);
    if (afm_read_file(path, &js, &jl) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    cJSON *idx = cJSON_Parse(js);
    free(js);
    afm_pool *pool;
    if (!idx || afm_pool_create(2, &pool) != AFM_OK) return 1;
    const cJSON *cases = cJSON_GetObjectItem(idx, "cases"), *c;
    int n = 0;
    cJSON_ArrayForEach(c, cases) { run_case(pool, c); n++; }
    run_adamw(pool, cJSON_GetObjectItem(idx, "adamw"), cases);
    afm_pool_free(pool);
    cJSON_Delete(idx);
    printf("%d cases: %s\n", n, g_fail ? "FAIL" : "all match the PyTorch fixtures");
    return g_fail || n == 0;
}
