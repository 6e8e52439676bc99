/* GGUF in/out of the training model (src/model/train_gguf.c), on the pyref fixture models
 * (tests/fixtures/model/NAME.gguf: afm, llama and qwen3 files covering every switch; gradients and
 * AdamW are checked against the same fixtures by test_train_pytorch_fixtures):
 *   - afm_train_gguf_config + _load give a model whose loss on the fixture batch equals the
 *     PyTorch loss to 1e-5 relative (names, shapes and switches mapped right);
 *   - saving as an `afm` GGUF and reading back gives the same config and bit-identical params;
 *   - bad input: a truncated file and a file missing a tensor fail with a message, no crash. */
#include "model/train_gguf.h"
#include "base/file.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_fail;
static char g_dir[1024];

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

static void roundtrip(afm_train_model *m, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "test_train_gguf_%d.gguf", (int)getpid());
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
    double loss;
    afm_train_forward(m, tok, tgt, B, T, &loss);
    double want = cJSON_GetObjectItem(cs, "loss")->valuedouble, e_loss = fabs(loss - want) / fabs(want);
    printf("%-28s arch %-5s loss %.6f (PyTorch %.6f, rel %.1e)\n", name, m->cfg.arch, loss, want, e_loss);
    if (!(e_loss <= 1e-5)) { fprintf(stderr, "FAIL %s: loss after GGUF load\n", name); g_fail = 1; }
    roundtrip(m, name);
    free(tok); free(tgt);
    afm_train_model_free(m);
    afm_gguf_close(g);
}

/* Truncated copies and a copy without one tensor must fail cleanly. */
static void bad_input(const char *model_rel) {
    char path[1400], tmp[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, model_rel);
    char *buf;
    size_t n;
    if (afm_read_file(path, &buf, &n) != AFM_OK) { g_fail = 1; return; }
    snprintf(tmp, sizeof tmp, "test_train_gguf_bad_%d.gguf", (int)getpid());
    size_t cuts[3] = {n / 3, n - 7, 20};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(tmp, "wb");
        fwrite(buf, 1, cuts[i], f);
        fclose(f);
        afm_gguf *g = NULL;
        afm_config c;
        afm_train_model *m = NULL;
        afm_status st = afm_gguf_open(tmp, &g);
        if (st == AFM_OK) st = afm_train_gguf_config(g, &c);
        if (st == AFM_OK) st = afm_train_model_create(&c, 1, 1, NULL, &m);
        if (st == AFM_OK) st = afm_train_gguf_load(m, g);
        if (st == AFM_OK || !afm_last_error()[0]) { fprintf(stderr, "FAIL: truncated GGUF (%zu of %zu bytes) accepted\n", cuts[i], n); g_fail = 1; }
        afm_train_model_free(m);
        afm_gguf_close(g);
    }
    free(buf);
    /* a model whose config wants q/k-norm tensors, loaded from a file without them */
    afm_gguf *g;
    afm_config c;
    afm_train_model *m;
    if (afm_gguf_open(path, &g) != AFM_OK || afm_train_gguf_config(g, &c) != AFM_OK) { g_fail = 1; return; }
    c.qk_norm = c.qk_norm == AFM_QK_NORM_OFF ? AFM_QK_NORM_AFTER_ROPE : AFM_QK_NORM_OFF;
    if (afm_train_model_create(&c, 1, 1, NULL, &m) != AFM_OK) { g_fail = 1; afm_gguf_close(g); return; }
    afm_status st = afm_train_gguf_load(m, g);
    printf("mismatched qk_norm: %s\n", st == AFM_OK ? "accepted (FAIL)" : afm_last_error());
    if (st == AFM_OK) g_fail = 1;
    afm_train_model_free(m);
    afm_gguf_close(g);
    unlink(tmp);
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
    afm_pool *pool = NULL;
    if (!idx) return 1;
    const cJSON *cases = cJSON_GetObjectItem(idx, "cases"), *c;
    int n = 0;
    cJSON_ArrayForEach(c, cases) { run_case(pool, c); n++; }
    bad_input(cJSON_GetObjectItem(cJSON_GetArrayItem(cases, 0), "model")->valuestring);
    cJSON_Delete(idx);
    printf("%d cases: %s\n", n, g_fail ? "FAIL" : "ok");
    return g_fail || n == 0;
}
