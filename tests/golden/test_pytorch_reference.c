/* The forward pass against PyTorch (issue 2, "How we will know" item 2).
 *
 * tests/fixtures/model/ holds tiny random f32 models (GGUF architectures afm, llama, qwen3) that
 * together cover every pair of switch values (RoPE layout x QK-norm mode x tied output x GQA
 * ratio 1/2/4 x head_dim != dim/heads), a fixed token sequence for each (24 tokens; 280 for
 * afm_long_280, longer than the runtime's 256-token forward chunk), and the logits a float64
 * PyTorch implementation gives at every position (scripts/reference/make_model_fixtures.py).
 *
 * For every fixture the model's logits are compared with the reference in five ways:
 *   prefill   one batch of all T tokens, all_logits              -> rows 0..T-1
 *   last      one batch of all T tokens, last logits only        -> row T-1
 *   decode    T calls with one token each, fresh session         -> rows 0..T-1
 *   split     a batch of 10 tokens, then a batch of the rest     -> rows 0..T-1 (cache + batch)
 *   rewind    after decode: rewind to 12 and feed 12..T-1 again  -> rows 12..T-1
 * and decode is compared with prefill. The measure, per row (one position's logits), is
 *     err = max_v |afm - ref| / max(1e-6, max_v |ref|)
 * and every row must have err <= 1e-5. Loading must also report the fixture's config, and a
 * batch that overflows the context must fail with AFM_ERR_RANGE and leave the cache unchanged. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "afm/model.h"

#define TOLERANCE 1e-5
#define SPLIT_AT 10
#define REWIND_TO 12

static int g_failures;

#define CHECK(cond, ...) do { if (!(cond)) { printf("  FAIL: "); printf(__VA_ARGS__); printf("\n"); g_failures++; } } while (0)

/* Reads a whole file into a malloc'd, NUL-terminated buffer. */
static char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    }
    fclose(f);
    if (buf) { buf[n] = 0; if (size) *size = (size_t)n; }
    return buf;
}

/* Little-endian f32 file -> host floats (count must match). */
static float *read_f32(const char *path, size_t count) {
    size_t size = 0;
    unsigned char *raw = (unsigned char *)read_all(path, &size);
    if (!raw) { printf("  FAIL: cannot read %s\n", path); return NULL; }
    if (size != count * 4) {
        printf("  FAIL: %s has %zu bytes, expected %zu\n", path, size, count * 4);
        free(raw);
        return NULL;
    }
    float *out = malloc(count * sizeof(float));
    for (size_t i = 0; out && i < count; i++) {
        uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                     (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
    }
    free(raw);
    return out;
}

/* Largest per-row error over n rows of width V (see the file comment). A NaN counts as infinite. */
static double rows_err(const float *got, const float *ref, int n, int V) {
    double worst = 0;
    for (int r = 0; r < n; r++) {
        double diff = 0, scale = 1e-6;
        for (int v = 0; v < V; v++) {
            double d = fabs((double)got[(size_t)r * V + v] - (double)ref[(size_t)r * V + v]);
            if (!(d <= diff)) diff = isnan(d) ? INFINITY : d;
            if (fabs(ref[(size_t)r * V + v]) > scale) scale = fabs(ref[(size_t)r * V + v]);
        }
        if (diff / scale > worst) worst = diff / scale;
    }
    return worst;
}

/* out = a "/" b; false if it does not fit. */
static bool join(char *out, size_t n, const char *a, const char *b) {
    int k = snprintf(out, n, "%s/%s", a, b ? b : "");
    return k > 0 && (size_t)k < n;
}

static afm_session *new_session(afm_model *m, int n_ctx, int threads) {
    afm_session_options opt = { .n_ctx = n_ctx, .n_threads = threads };
    afm_session *s = NULL;
    afm_status st = afm_session_create(m, &opt, &s);
    CHECK(st == AFM_OK, "afm_session_create: %s", afm_last_error());
    return st == AFM_OK ? s : NULL;
}

static int eval(afm_session *s, const int32_t *tok, int n, bool all, float *out) {
    afm_status st = afm_session_eval(s, tok, n, all, out);
    CHECK(st == AFM_OK, "afm_session_eval(n=%d, all_logits=%d): %s", n, all, afm_last_error());
    return st == AFM_OK;
}

static const char *layout_name(afm_rope_layout l) { return l == AFM_ROPE_HALF ? "half" : "interleaved"; }
static const char *qk_name(afm_qk_norm q) {
    return q == AFM_QK_NORM_BEFORE_ROPE ? "before_rope" : q == AFM_QK_NORM_AFTER_ROPE ? "after_rope" : "off";
}

/* The loaded config must be the one the fixture was made with. */
static void check_config(const afm_config *c, const cJSON *j) {
    const struct { const char *key; double got; } ints[] = {
        { "dim", c->dim }, { "n_layers", c->n_layers }, { "n_heads", c->n_heads },
        { "n_kv_heads", c->n_kv_heads }, { "head_dim", c->head_dim }, { "ffn_dim", c->ffn_dim },
        { "n_vocab", c->n_vocab }, { "context_length", c->max_seq_len },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        double want = cJSON_GetNumberValue(cJSON_GetObjectItem(j, ints[i].key));
        CHECK(ints[i].got == want, "config %s = %g, fixture says %g", ints[i].key, ints[i].got, want);
    }
    double eps = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "norm_eps"));
    double theta = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "rope_theta"));
    CHECK(fabs(c->norm_eps - eps) <= 1e-6 * eps, "config norm_eps = %g, fixture says %g", c->norm_eps, eps);
    CHECK(fabs(c->rope_theta - theta) <= 1e-6 * theta, "config rope_theta = %g, fixture says %g", c->rope_theta, theta);
    CHECK(strcmp(c->arch, cJSON_GetStringValue(cJSON_GetObjectItem(j, "arch"))) == 0, "config arch = %s", c->arch);
    CHECK(strcmp(layout_name(c->rope_layout), cJSON_GetStringValue(cJSON_GetObjectItem(j, "rope_layout"))) == 0,
          "config rope_layout = %s", layout_name(c->rope_layout));
    CHECK(strcmp(qk_name(c->qk_norm), cJSON_GetStringValue(cJSON_GetObjectItem(j, "qk_norm"))) == 0,
          "config qk_norm = %s", qk_name(c->qk_norm));
    CHECK(c->tied_output == cJSON_IsTrue(cJSON_GetObjectItem(j, "tied")), "config tied_output = %d", c->tied_output);
}

static void run_fixture(const char *dir, const cJSON *fx) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name"));
    const cJSON *cfg = cJSON_GetObjectItem(fx, "config");
    const cJSON *jtok = cJSON_GetObjectItem(fx, "tokens");
    int T = cJSON_GetArraySize(jtok);
    int V = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "n_vocab"));
    char path[4096];
    printf("%-26s ", name);

    float *ref = NULL;
    if (join(path, sizeof path, dir, cJSON_GetStringValue(cJSON_GetObjectItem(fx, "logits"))))
        ref = read_f32(path, (size_t)T * V);
    afm_model *m = NULL;
    afm_status st = AFM_ERR_IO;
    if (join(path, sizeof path, dir, cJSON_GetStringValue(cJSON_GetObjectItem(fx, "gguf"))))
        st = afm_model_load(path, &m);
    CHECK(st == AFM_OK, "afm_model_load(%s): %s", path, afm_last_error());
    if (!ref || st != AFM_OK) { free(ref); afm_model_free(m); printf("\n"); return; }
    check_config(afm_model_config(m), cfg);

    int32_t *tok = malloc(sizeof(int32_t) * T);
    float *batch = calloc((size_t)T * V, sizeof(float));
    float *step = calloc((size_t)T * V, sizeof(float));
    float *other = calloc((size_t)T * V, sizeof(float));
    for (int t = 0; t < T; t++) tok[t] = (int32_t)cJSON_GetNumberValue(cJSON_GetArrayItem(jtok, t));
    double e_prefill = INFINITY, e_last = INFINITY, e_decode = INFINITY, e_split = INFINITY,
           e_rewind = INFINITY, e_agree = INFINITY;

    /* prefill: one batch, all logits (2 threads) */
    afm_session *s = new_session(m, 0, 2);
    if (s && eval(s, tok, T, true, batch)) {
        e_prefill = rows_err(batch, ref, T, V);
        CHECK(afm_session_n_past(s) == T, "n_past after prefill = %d, expected %d", afm_session_n_past(s), T);
    }
    afm_session_free(s);

    /* last: one batch, logits of the last token only */
    s = new_session(m, 0, 2);
    if (s && eval(s, tok, T, false, other)) e_last = rows_err(other, ref + (size_t)(T - 1) * V, 1, V);
    afm_session_free(s);

    /* decode: one token at a time (1 thread), then rewind and feed the tail again as a batch */
    s = new_session(m, 0, 1);
    int ok = s != NULL;
    for (int t = 0; ok && t < T; t++) ok = eval(s, tok + t, 1, false, step + (size_t)t * V);
    if (ok) {
        e_decode = rows_err(step, ref, T, V);
        e_agree = rows_err(step, batch, T, V);
        st = afm_session_rewind(s, REWIND_TO);
        CHECK(st == AFM_OK && afm_session_n_past(s) == REWIND_TO, "afm_session_rewind(%d): %s", REWIND_TO,
              st == AFM_OK ? "wrong n_past" : afm_last_error());
        if (st == AFM_OK && eval(s, tok + REWIND_TO, T - REWIND_TO, true, other))
            e_rewind = rows_err(other, ref + (size_t)REWIND_TO * V, T - REWIND_TO, V);
    }
    afm_session_free(s);

    /* split: a batch of SPLIT_AT tokens, then a batch of the rest on top of the cache */
    s = new_session(m, 0, 2);
    if (s && eval(s, tok, SPLIT_AT, true, other) && eval(s, tok + SPLIT_AT, T - SPLIT_AT, true, other + (size_t)SPLIT_AT * V))
        e_split = rows_err(other, ref, T, V);
    afm_session_free(s);

    /* a batch past the context fails with AFM_ERR_RANGE and leaves the cache as it was */
    s = new_session(m, T / 2, 1);
    if (s) {
        st = afm_session_eval(s, tok, T, true, other);
        CHECK(st == AFM_ERR_RANGE, "eval of %d tokens with n_ctx %d returned %s, expected AFM_ERR_RANGE", T, T / 2,
              afm_status_name(st));
        CHECK(afm_session_n_past(s) == 0, "n_past after a refused eval = %d, expected 0", afm_session_n_past(s));
        if (eval(s, tok, 1, false, other)) {
            double e = rows_err(other, ref, 1, V);
            CHECK(e <= TOLERANCE, "first logits after a refused eval: err %.2e", e);
        }
    }
    afm_session_free(s);

    printf("prefill %.1e  last %.1e  decode %.1e  split %.1e  rewind %.1e  decode-vs-prefill %.1e\n",
           e_prefill, e_last, e_decode, e_split, e_rewind, e_agree);
    const struct { const char *what; double err; } errs[] = {
        { "prefill", e_prefill }, { "last", e_last }, { "decode", e_decode }, { "split", e_split },
        { "rewind", e_rewind }, { "decode vs prefill", e_agree },
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        CHECK(errs[i].err <= TOLERANCE, "%s: %s logits differ by %.2e relative (limit %.0e)", name, errs[i].what,
              errs[i].err, TOLERANCE);
    free(tok); free(batch); free(step); free(other); free(ref);
    afm_model_free(m);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    char dir[4096], path[4096];
    char *text = NULL;
    if (join(dir, sizeof dir, src ? src : ".", "tests/fixtures/model") && join(path, sizeof path, dir, "index.json"))
        text = read_all(path, NULL);
    if (!text) { printf("FAIL: cannot read %s (set AFM_SOURCE_DIR)\n", path); return 1; }
    cJSON *index = cJSON_Parse(text);
    free(text);
    const cJSON *fixtures = cJSON_GetObjectItem(index, "fixtures");
    int n = cJSON_GetArraySize(fixtures);
    if (n < 13) { printf("FAIL: %s lists %d fixtures, expected at least 13\n", path, n); cJSON_Delete(index); return 1; }
    printf("error = max over positions of max|afm - torch| / max|torch| (limit %.0e)\n", TOLERANCE);
    for (int i = 0; i < n; i++) run_fixture(dir, cJSON_GetArrayItem(fixtures, i));
    cJSON_Delete(index);
    printf(g_failures ? "%d check(s) failed\n" : "all %d fixtures match PyTorch\n", g_failures ? g_failures : n);
    return g_failures ? 1 : 0;
}
