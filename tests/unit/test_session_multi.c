/* afm_session_eval_multi (batched decode of several sessions) against separate afm_session_eval
 * calls on twin sessions, on small random models written by afm_init_model:
 *   - arch afm with GQA (4 query heads on 2 KV heads), QK-norm after RoPE, half-split RoPE;
 *     weights f32 and f16 (rows must agree to 1e-5 of the row's largest logit with the f32 cache:
 *     the f32 GEMM sums in another order than the GEMV; 2e-3 with the f16 cache, F16_KV_TOL),
 *     q8_0 and q4_0 (bit for bit: the quantized kernels compute a
 *     row the same way in any batch), with f32 and f16 KV caches;
 *   - the same q4_0 / f32 models with the Gemma 3 switches set after loading: sliding-window
 *     layers (window 6, every second layer global) with their own RoPE base, GeGLU, embedding scale.
 * Five sessions start from prompts of different lengths (1..17 tokens, so rows sit at different
 * positions, inside and beyond the window); each step feeds a random token to a rotating subset
 * of them (the batch's host, whose scratch and threads are used, changes, and positions drift
 * apart). A row that read another row's position or cache would miss its twin: every row is
 * also checked to differ from every other session's twin by far more than the tolerance.
 * Then the input checks: n <= 0, a session given twice, a token outside the vocabulary, a full
 * session (AFM_ERR_RANGE, nothing advanced), another model, another KV type, a longer context
 * than the host's. Last, afm_session_copy_prefix (see check_copy_prefix). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/afm.h"
#include "base/error.h"
#include "base/rng.h"
#include "model/init.h"
#include "model/model_internal.h"
#include "tensor/dtype.h"

enum { NS = 5, STEPS = 12, N_CTX = 48 };
/* f32/f16 weights with an f16 cache: the keys, values and queries are rounded to f16, so the GEMM's
 * ~1e-7 differences from the GEMV can move one of them by an f16 step (~1e-3 relative); measured
 * up to 4e-4 of the largest logit (1e-6 with the f32 cache). */
#define F16_KV_TOL 2e-3
static const int PROMPT_LEN[NS] = {1, 9, 4, 17, 12};
static int g_fail;

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL: " __VA_ARGS__); printf("\n"); g_fail = 1; } } while (0)

static double max_abs(const float *x, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}
static double max_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

/* rel_tol 0: bit for bit */
static void check_model(const char *label, afm_model *m, afm_kv_type kvt, double rel_tol) {
    int V = afm_model_config(m)->n_vocab;
    afm_session *multi[NS], *twin[NS];
    afm_session_options om = {.n_ctx = N_CTX, .n_threads = 2, .kv_type = kvt};
    afm_session_options ot = {.n_ctx = N_CTX, .n_threads = 1, .kv_type = kvt};
    float *lm = malloc((size_t)NS * V * sizeof(float)), *lt = malloc((size_t)NS * V * sizeof(float));
    afm_rng rng;
    afm_rng_seed(&rng, 1234);
    for (int i = 0; i < NS; i++) {
        if (afm_session_create(m, &om, &multi[i]) != AFM_OK || afm_session_create(m, &ot, &twin[i]) != AFM_OK) {
            printf("FAIL: %s: session: %s\n", label, afm_last_error());
            exit(1);
        }
        int32_t p[32];
        for (int t = 0; t < PROMPT_LEN[i]; t++) p[t] = (int32_t)(afm_rng_u64(&rng) % (uint64_t)V);
        if (afm_session_eval(multi[i], p, PROMPT_LEN[i], false, lm) != AFM_OK ||
            afm_session_eval(twin[i], p, PROMPT_LEN[i], false, lt) != AFM_OK) {
            printf("FAIL: %s: prefill: %s\n", label, afm_last_error());
            exit(1);
        }
    }
    double worst = 0, closest_other = INFINITY;
    long exact_rows = 0, rows = 0;
    for (int step = 0; step < STEPS; step++) {
        int n = step % 3 == 2 ? NS - 2 : NS; /* every third step leaves two sessions out */
        afm_session *batch[NS];
        int idx[NS];
        int32_t tok[NS];
        for (int r = 0; r < n; r++) {
            idx[r] = (r + step) % NS; /* rotating order: a different host each step */
            batch[r] = multi[idx[r]];
            tok[r] = (int32_t)(afm_rng_u64(&rng) % (uint64_t)V);
        }
        if (afm_session_eval_multi(batch, n, tok, lm) != AFM_OK) {
            printf("FAIL: %s: step %d: %s\n", label, step, afm_last_error());
            exit(1);
        }
        for (int r = 0; r < n; r++)
            if (afm_session_eval(twin[idx[r]], &tok[r], 1, false, lt + (size_t)r * V) != AFM_OK) {
                printf("FAIL: %s: twin step: %s\n", label, afm_last_error());
                exit(1);
            }
        for (int r = 0; r < n; r++) {
            const float *a = lm + (size_t)r * V, *b = lt + (size_t)r * V;
            double d = max_diff(a, b, V), scale = max_abs(b, V);
            rows++;
            exact_rows += memcmp(a, b, (size_t)V * sizeof(float)) == 0;
            worst = fmax(worst, d / scale);
            if (rel_tol == 0)
                CHECK(memcmp(a, b, (size_t)V * sizeof(float)) == 0, "%s: step %d row %d (session %d): logits differ by %g",
                      label, step, r, idx[r], d);
            else
                CHECK(d <= rel_tol * scale, "%s: step %d row %d: |diff| %g > %g x %g", label, step, r, d, rel_tol, scale);
            for (int o = 0; o < n; o++)
                if (o != r) closest_other = fmin(closest_other, max_diff(a, lt + (size_t)o * V, V) / scale);
            CHECK(afm_session_n_past(batch[r]) == afm_session_n_past(twin[idx[r]]), "%s: step %d: n_past %d vs %d", label,
                  step, afm_session_n_past(batch[r]), afm_session_n_past(twin[idx[r]]));
        }
    }
    /* rows of different sessions must be far apart, or a mixed-up row could pass */
    CHECK(closest_other > 1e-3 && closest_other > 100 * rel_tol, "%s: rows of different sessions are too alike (%g)", label,
          closest_other);
    printf("%s: %ld rows, %ld bit-identical, max |diff| / max|logit| %.3g; closest other session %.3g\n", label, rows,
           exact_rows, worst, closest_other);
    for (int i = 0; i < NS; i++) {
        afm_session_free(multi[i]);
        afm_session_free(twin[i]);
    }
    free(lm);
    free(lt);
}

static afm_model *make_model(const char *path, int type, bool gemma_switches) {
    afm_config c = {.arch = "afm", .n_vocab = 300, .dim = 64, .n_layers = 3, .n_heads = 4, .n_kv_heads = 2,
                    .head_dim = 16, .ffn_dim = 96, .max_seq_len = 128, .rope_theta = 10000.0f,
                    .rope_layout = AFM_ROPE_HALF, .qk_norm = AFM_QK_NORM_AFTER_ROPE, .norm_eps = 1e-5f,
                    .tied_output = false};
    afm_model *m = NULL;
    if (afm_init_model(&c, type, 7, NULL, path) != AFM_OK || afm_model_load(path, &m) != AFM_OK) {
        printf("FAIL: model %s: %s\n", path, afm_last_error());
        exit(1);
    }
    remove(path); /* the mapping stays valid */
    if (gemma_switches) { /* session-level switches only: the forward reads them from the config */
        m->cfg.sliding_window = 6;
        m->cfg.swa_period = 2;        /* layers 0 and 2 local, 1 global */
        m->cfg.rope_theta_local = 1000.0f;
        m->cfg.ffn_act = AFM_FFN_GELU_TANH;
        m->cfg.embed_scale = 3.0f;
    }
    return m;
}

static void check_errors(afm_model *m, afm_model *other) {
    afm_session *a, *b, *small, *f16, *longer, *foreign;
    afm_session_options o = {.n_ctx = 16, .n_threads = 1};
    afm_session_options os = {.n_ctx = 3, .n_threads = 1};
    afm_session_options oh = {.n_ctx = 16, .n_threads = 1, .kv_type = AFM_KV_F16};
    afm_session_options ol = {.n_ctx = 32, .n_threads = 1};
    if (afm_session_create(m, &o, &a) != AFM_OK || afm_session_create(m, &o, &b) != AFM_OK ||
        afm_session_create(m, &os, &small) != AFM_OK || afm_session_create(m, &oh, &f16) != AFM_OK ||
        afm_session_create(m, &ol, &longer) != AFM_OK || afm_session_create(other, &o, &foreign) != AFM_OK) {
        printf("FAIL: sessions: %s\n", afm_last_error());
        exit(1);
    }
    int V = afm_model_config(m)->n_vocab;
    float *lg = malloc((size_t)3 * V * sizeof(float));
    int32_t t3[3] = {1, 2, 3};
    CHECK(afm_session_eval(small, t3, 3, false, lg) == AFM_OK, "fill the small session");
    afm_status st;
    st = afm_session_eval_multi((afm_session *[]){a, b}, 0, t3, lg);
    CHECK(st == AFM_ERR_INVALID_ARG, "n = 0 accepted (%d)", st);
    st = afm_session_eval_multi((afm_session *[]){a, b, a}, 3, t3, lg);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "also session"), "a session twice: %d %s", st, afm_last_error());
    st = afm_session_eval_multi((afm_session *[]){a, b}, 2, (int32_t[]){1, V}, lg);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "vocabulary"), "token %d accepted: %d", V, st);
    st = afm_session_eval_multi((afm_session *[]){a, b, small}, 3, t3, lg);
    CHECK(st == AFM_ERR_RANGE && strstr(afm_last_error(), "session 2 is full"), "full session: %d %s", st, afm_last_error());
    CHECK(afm_session_n_past(a) == 0 && afm_session_n_past(b) == 0 && afm_session_n_past(small) == 3,
          "a refused call advanced a session");
    st = afm_session_eval_multi((afm_session *[]){a, foreign}, 2, t3, lg);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "another model"), "other model: %d %s", st, afm_last_error());
    st = afm_session_eval_multi((afm_session *[]){a, f16}, 2, t3, lg);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "KV cache"), "KV type: %d %s", st, afm_last_error());
    st = afm_session_eval_multi((afm_session *[]){a, longer}, 2, t3, lg);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "longer"), "longer context: %d %s", st, afm_last_error());
    /* the longer one may host */
    st = afm_session_eval_multi((afm_session *[]){longer, a, b}, 3, t3, lg);
    CHECK(st == AFM_OK && afm_session_n_past(a) == 1 && afm_session_n_past(longer) == 1, "longer host: %d", st);
    afm_session_free(a);
    afm_session_free(b);
    afm_session_free(small);
    afm_session_free(f16);
    afm_session_free(longer);
    afm_session_free(foreign);
    free(lg);
}

/* afm_session_copy_prefix: a session seeded with another's first 9 positions (of 13; the 9th key
 * block is partial) then fed the rest must give a fresh session's logits bit for bit (q8_0
 * weights), and its old content must be gone. */
static void check_copy_prefix(afm_model *m) {
    int V = afm_model_config(m)->n_vocab;
    afm_session *src, *dst, *fresh, *other_kv;
    afm_session_options o = {.n_ctx = 32, .n_threads = 1}, oh = {.n_ctx = 32, .n_threads = 1, .kv_type = AFM_KV_F16};
    afm_session_options o_short = {.n_ctx = 8, .n_threads = 1};
    afm_session *shorter;
    if (afm_session_create(m, &o, &src) != AFM_OK || afm_session_create(m, &o, &dst) != AFM_OK ||
        afm_session_create(m, &o, &fresh) != AFM_OK || afm_session_create(m, &oh, &other_kv) != AFM_OK ||
        afm_session_create(m, &o_short, &shorter) != AFM_OK) {
        printf("FAIL: sessions: %s\n", afm_last_error());
        exit(1);
    }
    int32_t p[16], junk[20];
    for (int t = 0; t < 16; t++) p[t] = (int32_t)((t * 37 + 5) % V);
    for (int t = 0; t < 20; t++) junk[t] = (int32_t)((t * 53 + 11) % V);
    float *a = malloc((size_t)20 * V * sizeof(float));
    CHECK(afm_session_eval(src, p, 13, false, a) == AFM_OK && afm_session_eval(dst, junk, 20, false, a) == AFM_OK,
          "copy_prefix setup: %s", afm_last_error());
    CHECK(afm_session_copy_prefix(dst, src, 9) == AFM_OK && afm_session_n_past(dst) == 9, "copy_prefix: %s", afm_last_error());
    CHECK(afm_session_eval(dst, p + 9, 4, true, a) == AFM_OK, "eval after copy_prefix: %s", afm_last_error());
    float *all = malloc((size_t)13 * V * sizeof(float));
    CHECK(afm_session_eval(fresh, p, 13, true, all) == AFM_OK, "fresh eval: %s", afm_last_error());
    CHECK(memcmp(a, all + (size_t)9 * V, (size_t)4 * V * sizeof(float)) == 0, "copied prefix: logits differ from a fresh session's");
    afm_status st = afm_session_copy_prefix(dst, src, 14);
    CHECK(st == AFM_ERR_RANGE, "copy_prefix past the source's tokens: %d", st);
    st = afm_session_copy_prefix(shorter, src, 9);
    CHECK(st == AFM_ERR_RANGE, "copy_prefix past the destination's context: %d", st);
    st = afm_session_copy_prefix(other_kv, src, 4);
    CHECK(st == AFM_ERR_INVALID_ARG, "copy_prefix across KV types: %d", st);
    st = afm_session_copy_prefix(src, src, 4);
    CHECK(st == AFM_ERR_INVALID_ARG, "copy_prefix onto itself: %d", st);
    afm_session_free(src);
    afm_session_free(dst);
    afm_session_free(fresh);
    afm_session_free(other_kv);
    afm_session_free(shorter);
    free(a);
    free(all);
}

int main(void) {
    static const struct { int type; const char *name; double tol; } types[] = {
        {AFM_F32, "f32", 1e-5}, {AFM_F16, "f16", 1e-5}, {AFM_Q8_0, "q8_0", 0}, {AFM_Q4_0, "q4_0", 0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        afm_model *m = make_model("test_session_multi.gguf", types[i].type, false);
        char label[64];
        snprintf(label, sizeof label, "%s weights, f32 KV", types[i].name);
        check_model(label, m, AFM_KV_F32, types[i].tol);
        snprintf(label, sizeof label, "%s weights, f16 KV", types[i].name);
        check_model(label, m, AFM_KV_F16, types[i].tol ? F16_KV_TOL : 0);
        afm_model_free(m);
    }
    for (int q = 0; q < 2; q++) {
        afm_model *m = make_model("test_session_multi.gguf", q ? AFM_Q4_0 : AFM_F32, true);
        check_model(q ? "q4_0, sliding window + GeGLU + embed scale" : "f32, sliding window + GeGLU + embed scale", m,
                    AFM_KV_F32, q ? 0 : 1e-5);
        afm_model_free(m);
    }
    afm_model *m = make_model("test_session_multi.gguf", AFM_Q8_0, false);
    afm_model *other = make_model("test_session_multi2.gguf", AFM_Q8_0, false);
    check_errors(m, other);
    check_copy_prefix(m);
    afm_model_free(m);
    afm_model_free(other);
    if (!g_fail) printf("OK\n");
    return g_fail;
}
