/* LoRA adapters (afm/adapter.h) against PyTorch (scripts/reference/make_lora_fixtures.py).
 *
 * tests/fixtures/adapter/: a tiny f16 llama-architecture base, two adapters in llama.cpp's GGUF
 * LoRA format written by the `gguf` package (all projections + output + embedding with mixed
 * ranks and dtypes, alpha 8; q/v only without alpha), and the logits a float64 PyTorch forward of
 * the merged weights gives for: no adapter, full, full at user scale 0.5, qv, full + qv at 0.75.
 * Per case: afm's logits over the 24-token sequence, as one batch and decoded one token at a time,
 * must be within 1e-5 (max |afm - ref| / max |ref|) of the reference; the adapters move the logits
 * by 0.3-1.2 of that measure, so a wrong scale, a transposed factor or a skipped slot fails.
 * Swapping adapters on one session and unloading them must give the matching case again.
 * Bad adapter files (built here from the good one with afm's GGUF writer) must fail with a
 * message naming the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "afm/adapter.h"
#include "afm/model.h"
#include "base/error.h"
#include "base/file.h"
#include "formats/gguf.h"

static int g_failures;
#define CHECK(cond, ...) do { if (!(cond)) { printf("  FAIL: "); printf(__VA_ARGS__); printf("\n"); g_failures++; } } while (0)

static char g_dir[4096];
static int g_tokens[64], g_n_tokens, g_vocab;

static char *path_in(const char *name) {
    static char buf[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static float *read_f32(const char *path, size_t count) {
    char *raw;
    size_t size;
    if (afm_read_file(path, &raw, &size) != AFM_OK || size != count * 4) {
        printf("  FAIL: %s: expected %zu bytes\n", path, count * 4);
        return NULL;
    }
    float *f = malloc(count * sizeof *f);
    for (size_t i = 0; i < count; i++) {
        uint32_t u = (uint32_t)(unsigned char)raw[4 * i] | (uint32_t)(unsigned char)raw[4 * i + 1] << 8 |
                     (uint32_t)(unsigned char)raw[4 * i + 2] << 16 | (uint32_t)(unsigned char)raw[4 * i + 3] << 24;
        memcpy(&f[i], &u, 4);
    }
    free(raw);
    return f;
}

static double rel_err(const float *a, const float *ref, size_t n) {
    double num = 0, den = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > num) num = d;
        if (fabs(ref[i]) > den) den = fabs(ref[i]);
    }
    return num / den;
}

/* logits of the whole sequence: one batch (decode = false) or one token at a time */
static int run(afm_session *s, bool decode, float *out) {
    if (afm_session_rewind(s, 0) != AFM_OK) return 1;
    int32_t ids[64];
    for (int i = 0; i < g_n_tokens; i++) ids[i] = g_tokens[i];
    if (!decode) return afm_session_eval(s, ids, g_n_tokens, true, out) != AFM_OK;
    for (int i = 0; i < g_n_tokens; i++)
        if (afm_session_eval(s, ids + i, 1, false, out + (size_t)i * g_vocab) != AFM_OK) return 1;
    return 0;
}

static void test_cases(cJSON *index, afm_model *m) {
    afm_adapter *full = NULL, *qv = NULL;
    afm_status st = afm_adapter_load(m, path_in("lora_full.gguf"), &full);
    CHECK(st == AFM_OK, "load lora_full: %s", afm_last_error());
    st = afm_adapter_load(m, path_in("lora_qv.gguf"), &qv);
    CHECK(st == AFM_OK, "load lora_qv: %s", afm_last_error());
    if (!full || !qv) { afm_adapter_free(full); afm_adapter_free(qv); return; }
    CHECK(afm_adapter_alpha(full) == 8.0f && afm_adapter_max_rank(full) == 8 && afm_adapter_n_pairs(full) == 16,
          "full: alpha %g rank %d pairs %d, expected 8, 8, 16", afm_adapter_alpha(full), afm_adapter_max_rank(full),
          afm_adapter_n_pairs(full));
    CHECK(afm_adapter_alpha(qv) == 0.0f && afm_adapter_n_pairs(qv) == 4, "qv: alpha %g pairs %d", afm_adapter_alpha(qv),
          afm_adapter_n_pairs(qv));
    afm_session_options so = {.n_ctx = 64, .n_threads = 2};
    afm_session *s = NULL;
    if (afm_session_create(m, &so, &s) != AFM_OK) { CHECK(0, "session: %s", afm_last_error()); return; }
    size_t n = (size_t)g_n_tokens * g_vocab;
    float *got = malloc(n * sizeof *got);
    const cJSON *c;
    /* cases in file order on one session: every switch replaces the set (hot swap) */
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(index, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        afm_adapter *set[2];
        float scales[2];
        int k = 0;
        const cJSON *ad;
        cJSON_ArrayForEach(ad, cJSON_GetObjectItem(c, "adapters")) {
            set[k] = !strcmp(cJSON_GetObjectItem(ad, "adapter")->valuestring, "full") ? full : qv;
            scales[k++] = (float)cJSON_GetObjectItem(ad, "scale")->valuedouble;
        }
        float *ref = read_f32(path_in(cJSON_GetObjectItem(c, "logits")->valuestring), n);
        if (!ref) { g_failures++; continue; }
        CHECK(afm_session_set_adapters(s, set, scales, k) == AFM_OK, "%s: set adapters: %s", name, afm_last_error());
        for (int decode = 0; decode < 2; decode++) {
            memset(got, 0, n * sizeof *got);
            if (run(s, decode, got)) { CHECK(0, "%s: eval: %s", name, afm_last_error()); continue; }
            double e = rel_err(got, ref, n);
            printf("  %-18s %-7s rel err %.2e\n", name, decode ? "decode" : "prefill", e);
            CHECK(e <= 1e-5, "%s (%s): rel err %.3e > 1e-5", name, decode ? "decode" : "prefill", e);
        }
        free(ref);
    }
    /* unloading: an empty set gives the base again; a set change clears the cache */
    afm_adapter *one[1] = {full};
    CHECK(afm_session_set_adapters(s, one, NULL, 1) == AFM_OK, "set full");
    int32_t t0 = g_tokens[0];
    CHECK(afm_session_eval(s, &t0, 1, false, got) == AFM_OK && afm_session_n_past(s) == 1, "eval one token");
    CHECK(afm_session_set_adapters(s, one, NULL, 1) == AFM_OK && afm_session_n_past(s) == 1,
          "setting the same set must keep the cache");
    CHECK(afm_session_set_adapters(s, NULL, NULL, 0) == AFM_OK && afm_session_n_past(s) == 0,
          "changing the set must clear the cache");
    float *base = read_f32(path_in("logits_base.f32"), n);
    if (base && !run(s, false, got)) CHECK(rel_err(got, base, n) <= 1e-5, "after unloading: rel err %.3e", rel_err(got, base, n));
    free(base);
    /* too many adapters, a NULL adapter */
    afm_adapter *many[9] = {full, full, full, full, full, full, full, full, full};
    CHECK(afm_session_set_adapters(s, many, NULL, 9) == AFM_ERR_INVALID_ARG, "9 adapters must be refused");
    afm_adapter *null_one[1] = {NULL};
    CHECK(afm_session_set_adapters(s, null_one, NULL, 1) == AFM_ERR_INVALID_ARG, "a NULL adapter must be refused");
    free(got);
    afm_session_free(s);
    afm_adapter_free(full);
    afm_adapter_free(qv);
}

/* ---- bad files: the good adapter rewritten with one defect ---- */

typedef struct { const char *label, *expect; } bad_case;

/* Copies lora_full.gguf with mutations chosen by `which`, writes it and tries to load it. */
static void try_bad(afm_model *m, const afm_gguf *good, int which, const bad_case *bc) {
    afm_gguf_writer *w;
    afm_gguf_writer_create(&w);
    for (int64_t i = 0; i < afm_gguf_n_kv(good); i++) afm_gguf_copy_kv(w, good, i);
    if (which == 0) afm_gguf_set_str(w, "general.type", "model");
    if (which == 1) afm_gguf_set_str(w, "adapter.type", "control_vector");
    if (which == 2) afm_gguf_set_str(w, "general.architecture", "qwen3");
    if (which == 3) afm_gguf_set_str(w, "adapter.lora.alpha", "eight");
    static float junk[4096];
    for (int64_t i = 0; i < afm_gguf_n_tensors(good); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(good, i);
        int64_t ne[2] = {t->ne[0], t->ne[1]};
        bool is_q_b = !strcmp(t->name, "blk.0.attn_q.weight.lora_b");
        bool is_k_a = !strcmp(t->name, "blk.0.attn_k.weight.lora_a");
        if (which == 4 && is_q_b) continue;                                          /* missing half */
        if (which == 5 && is_k_a) { ne[0] += 32; afm_gguf_add_tensor(w, t->name, 0, 2, ne, junk, (size_t)(ne[0] * ne[1] * 4), true); continue; }
        if (which == 6 && is_k_a) { int64_t tr[2] = {ne[1], ne[0]}; afm_gguf_add_tensor(w, t->name, 0, 2, tr, junk, (size_t)(ne[0] * ne[1] * 4), true); continue; }
        if (which == 7 && is_q_b) { ne[0] += 1; afm_gguf_add_tensor(w, t->name, 0, 2, ne, junk, (size_t)(ne[0] * ne[1] * 4), true); continue; }
        afm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, false);
    }
    int64_t ne2[2] = {32, 4}, ne3[2] = {4, 32};
    if (which == 8) afm_gguf_add_tensor(w, "blk.5.attn_q.weight.lora_a", 0, 2, ne2, junk, 512, true);   /* no layer 5 */
    if (which == 9) afm_gguf_add_tensor(w, "blk.0.attn_q.weight.scale", 0, 2, ne2, junk, 512, true);    /* not lora_a/b */
    if (which == 10) afm_gguf_add_tensor(w, "blk.0.attn_qkv.weight.lora_a", 0, 2, ne2, junk, 512, true);
    /* a LoRA of a norm gain is ignored (llama.cpp does the same): this one must load */
    if (which == 11) {
        afm_gguf_add_tensor(w, "blk.0.attn_norm.weight.lora_a", 0, 2, ne2, junk, 512, true);
        afm_gguf_add_tensor(w, "blk.0.attn_norm.weight.lora_b", 0, 2, ne3, junk, 512, true);
    }
    const char *path = "test_adapter_bad.gguf";
    afm_status st = afm_gguf_write(w, path);
    afm_gguf_writer_free(w);
    if (st != AFM_OK) { CHECK(0, "%s: write: %s", bc->label, afm_last_error()); return; }
    afm_adapter *a = NULL;
    st = afm_adapter_load(m, path, &a);
    if (!bc->expect) {
        CHECK(st == AFM_OK, "%s: must load: %s", bc->label, afm_last_error());
    } else {
        printf("  bad: %-26s -> %s\n", bc->label, afm_last_error());
        CHECK(st != AFM_OK && a == NULL, "%s: loaded", bc->label);
        CHECK(strstr(afm_last_error(), bc->expect) != NULL, "%s: message '%s' lacks '%s'", bc->label, afm_last_error(), bc->expect);
    }
    afm_adapter_free(a);
    remove(path);
}

static void test_bad(afm_model *m) {
    afm_gguf *good;
    if (afm_gguf_open(path_in("lora_full.gguf"), &good) != AFM_OK) { CHECK(0, "open lora_full"); return; }
    static const bad_case cases[] = {
        {"general.type model", "expected \"adapter\""},
        {"adapter.type control_vector", "only \"lora\""},
        {"architecture qwen3", "architecture \"qwen3\""},
        {"alpha is a string", "alpha must be a float"},
        {"missing lora_b", "blk.0.attn_q.weight has lora_a but no lora_b"},
        {"lora_a wrong n_in", "blk.0.attn_k.weight: lora_a is {64, 4}"},
        {"lora_a transposed", "blk.0.attn_k.weight: lora_a is {4, 32}"},
        {"rank mismatch", "rank mismatch"},
        {"layer 5 of 2", "no weight blk.5.attn_q.weight"},
        {"not a LoRA tensor", "not a LoRA tensor"},
        {"unknown projection", "no weight blk.0.attn_qkv.weight"},
        {"norm-gain LoRA ignored", NULL},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) try_bad(m, good, i, &cases[i]);
    afm_gguf_close(good);
    /* a model file is not an adapter; a missing file is an I/O error */
    afm_adapter *a = NULL;
    CHECK(afm_adapter_load(m, path_in("base.gguf"), &a) == AFM_ERR_FORMAT && strstr(afm_last_error(), "general.type"),
          "base.gguf as adapter: %s", afm_last_error());
    CHECK(afm_adapter_load(m, path_in("no_such.gguf"), &a) == AFM_ERR_IO, "missing file: %s", afm_last_error());
    /* output.weight on a tied model; an adapter of another model on a session */
    char tied[4200];
    snprintf(tied, sizeof tied, "%s/../model/llama_mha_tied.gguf", g_dir);
    afm_model *mt = NULL;
    if (afm_model_load(tied, &mt) != AFM_OK) { CHECK(0, "load %s: %s", tied, afm_last_error()); return; }
    afm_gguf_writer *w;
    afm_gguf_writer_create(&w);
    afm_gguf_set_str(w, "general.architecture", "llama");
    afm_gguf_set_str(w, "general.type", "adapter");
    afm_gguf_set_str(w, "adapter.type", "lora");
    static float junk[64 * 4];
    int64_t na[2] = {32, 4}, nb[2] = {4, 64};
    afm_gguf_add_tensor(w, "output.weight.lora_a", 0, 2, na, junk, sizeof(float) * 128, true);
    afm_gguf_add_tensor(w, "output.weight.lora_b", 0, 2, nb, junk, sizeof(float) * 256, true);
    afm_gguf_write(w, "test_adapter_tied.gguf");
    afm_gguf_writer_free(w);
    afm_status st = afm_adapter_load(mt, "test_adapter_tied.gguf", &a);
    printf("  bad: %-26s -> %s\n", "output on a tied model", afm_last_error());
    CHECK(st == AFM_ERR_FORMAT && strstr(afm_last_error(), "ties its output"), "tied output: %s", afm_last_error());
    remove("test_adapter_tied.gguf");
    afm_adapter *full = NULL;
    afm_session *s = NULL;
    afm_session_options so = {.n_ctx = 16, .n_threads = 1};
    if (afm_adapter_load(m, path_in("lora_full.gguf"), &full) == AFM_OK && afm_session_create(mt, &so, &s) == AFM_OK) {
        afm_adapter *one[1] = {full};
        CHECK(afm_session_set_adapters(s, one, NULL, 1) == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "another model"),
              "adapter of another model: %s", afm_last_error());
    }
    afm_session_free(s);
    afm_adapter_free(full);
    afm_model_free(mt);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/adapter", src ? src : ".");
    char *text;
    size_t size;
    if (afm_read_file(path_in("index.json"), &text, &size) != AFM_OK) { printf("FAIL: %s\n", afm_last_error()); return 1; }
    cJSON *index = cJSON_Parse(text);
    free(text);
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(index, "tokens")) g_tokens[g_n_tokens++] = t->valueint;
    g_vocab = cJSON_GetObjectItem(index, "n_vocab")->valueint;
    afm_model *m = NULL;
    if (afm_model_load(path_in("base.gguf"), &m) != AFM_OK) { printf("FAIL: %s\n", afm_last_error()); return 1; }
    test_cases(index, m);
    test_bad(m);
    afm_model_free(m);
    cJSON_Delete(index);
    printf(g_failures ? "FAILED (%d)\n" : "ok\n", g_failures);
    return g_failures != 0;
}
