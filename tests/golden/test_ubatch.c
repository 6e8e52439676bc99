/* The forward chunk size (afm_session_options.n_ubatch) changes no output bit.
 *
 * A prompt of n tokens runs in chunks of at most n_ubatch tokens (src/model/session.c,
 * chunk_tokens): larger chunks read each weight fewer times, but must give every row the values
 * the 128-token plan gives it. For each model, n_ubatch in {128, 256, 512, 0 (automatic)}, and
 * lengths around the chunk boundaries (a tail of 1..23 tokens past a multiple of 128 stays a
 * chunk of its own, since the matrix products sum fewer than AFM_MATMUL_UNIFORM_T rows another
 * way; 24 and more join the chunk), this test requires, against n_ubatch = 128:
 *   all rows' logits of eval(tokens, n, true), the last row's of eval(tokens, n, false) after a
 *   cached prefix, and the next decoded token's logits (same cache contents)   (memcmp).
 * Also: the automatic size (a multiple of 128, capped by the context), the range check on
 * n_ubatch, and that afm_session_eval_multi over more sessions than one chunk holds gives the
 * same logits for chunks of 128 and 512 rows.
 * Models: tiny random f32 fixtures (tests/fixtures/model; their f32 weights take the packed GEMM
 * from 24 rows on, the tiles below) and, when present, models/SmolLM2-135M-Instruct.Q4_1.gguf. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/model.h"
#include "base/file.h"

static int g_failures, g_cases;

#define CHECK(cond, ...) do { if (!(cond)) { printf("  FAIL: "); printf(__VA_ARGS__); printf("\n"); g_failures++; } } while (0)

static afm_session *open_session(afm_model *m, int n_ctx, int threads, afm_kv_type kv, int ub) {
    afm_session_options o = {.n_ctx = n_ctx, .n_threads = threads, .kv_type = kv, .n_ubatch = ub};
    afm_session *s = NULL;
    afm_status st = afm_session_create(m, &o, &s);
    CHECK(st == AFM_OK, "afm_session_create(n_ubatch %d): %s", ub, afm_last_error());
    return st == AFM_OK ? s : NULL;
}

/* first differing float of a and b, -1 if none */
static long first_diff(const float *a, const float *b, long n) {
    for (long i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)) != 0) return i;
    return -1;
}

/* Outputs of one plan: all rows' logits of n tokens after `prefix` cached tokens (all = true, or
 * only the last row), then the next token's logits. */
static bool run(afm_model *m, int threads, afm_kv_type kv, int ub, const int32_t *tok, int prefix, int n, bool all,
                float *out, float *next) {
    int V = afm_model_config(m)->n_vocab;
    afm_session *s = open_session(m, prefix + n + 1, threads, kv, ub);
    bool ok = s != NULL;
    if (ok && prefix > 0) ok = afm_session_eval(s, tok, prefix, false, next) == AFM_OK;
    if (ok) ok = afm_session_eval(s, tok + prefix, n, all, out) == AFM_OK;
    if (ok) ok = afm_session_eval(s, tok + prefix + n, 1, false, next) == AFM_OK;
    CHECK(ok, "eval (n_ubatch %d, prefix %d, n %d): %s", ub, prefix, n, afm_last_error());
    (void)V;
    afm_session_free(s);
    return ok;
}

static void check_model(const char *path, const int (*cases)[3], int ncases, int threads, afm_kv_type kv) {
    afm_model *m = NULL;
    afm_status st = afm_model_load(path, &m);
    CHECK(st == AFM_OK, "afm_model_load(%s): %s", path, afm_last_error());
    if (st != AFM_OK) return;
    int V = afm_model_config(m)->n_vocab, most = 0;
    for (int i = 0; i < ncases; i++) if (cases[i][0] + cases[i][1] + 1 > most) most = cases[i][0] + cases[i][1] + 1;
    int32_t *tok = malloc((size_t)most * sizeof *tok);
    uint32_t seed = 777u;
    for (int i = 0; i < most; i++) {
        seed = seed * 1664525u + 1013904223u;
        tok[i] = (int32_t)((seed >> 8) % (uint32_t)V);
    }
    static const int sizes[] = {256, 512, 0};
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int before = g_failures;
    for (int i = 0; i < ncases; i++) {
        int prefix = cases[i][0], n = cases[i][1];
        bool all = cases[i][2];
        size_t rows = all ? (size_t)n : 1;
        float *ref = malloc(rows * V * sizeof(float)), *got = malloc(rows * V * sizeof(float));
        float *ref_next = malloc((size_t)V * sizeof(float)), *got_next = malloc((size_t)V * sizeof(float));
        if (run(m, threads, kv, 128, tok, prefix, n, all, ref, ref_next))
            for (int k = 0; k < (int)(sizeof sizes / sizeof *sizes); k++) {
                g_cases++;
                if (!run(m, threads, kv, sizes[k], tok, prefix, n, all, got, got_next)) continue;
                long d = first_diff(ref, got, (long)(rows * V));
                CHECK(d < 0, "%s: prefix %d + %d tokens (%s logits): n_ubatch %d differs from 128 at row %ld, logit %ld "
                      "(%.9g vs %.9g)", base, prefix, n, all ? "all" : "last", sizes[k], d < 0 ? 0 : d / V,
                      d < 0 ? 0 : d % V, d < 0 ? 0.0 : (double)ref[d], d < 0 ? 0.0 : (double)got[d]);
                d = first_diff(ref_next, got_next, V);
                CHECK(d < 0, "%s: prefix %d + %d tokens: the next token's logits differ at %ld with n_ubatch %d (caches "
                      "differ)", base, prefix, n, d, sizes[k]);
            }
        free(ref); free(got); free(ref_next); free(got_next);
    }
    printf("%-50s %d thread%s, %s KV: %s\n", base, threads, threads > 1 ? "s" : "", kv ? "f16" : "f32",
           g_failures == before ? "bit-identical for every n_ubatch" : "DIFFERS");
    free(tok);
    afm_model_free(m);
}

/* eval_multi over n sessions (each with a short cached prompt of its own): host chunks of 128
 * and of 512 rows give the same logits */
static void check_multi(const char *path) {
    afm_model *m = NULL;
    if (afm_model_load(path, &m) != AFM_OK) { CHECK(0, "afm_model_load(%s): %s", path, afm_last_error()); return; }
    int V = afm_model_config(m)->n_vocab;
    enum { N = 150, CTX = 8 };
    float *lg[2] = {malloc((size_t)N * V * sizeof(float)), malloc((size_t)N * V * sizeof(float))};
    afm_session *ss[N];
    for (int pass = 0; pass < 2; pass++) {
        int32_t tok[N];
        for (int i = 0; i < N; i++) {
            /* the host's context bounds its chunk: 512 rows need a 512-token host */
            ss[i] = open_session(m, i == 0 ? 512 : CTX, 1, AFM_KV_F32, pass ? 512 : 128);
            int32_t p[2] = {(int32_t)((i * 31 + 7) % V), (int32_t)((i * 17 + 3) % V)};
            if (ss[i]) CHECK(afm_session_eval(ss[i], p, 2, false, lg[pass]) == AFM_OK, "prompt: %s", afm_last_error());
            tok[i] = (int32_t)((i * 13 + 5) % V);
        }
        CHECK(afm_session_n_ubatch(ss[0]) == (pass ? 512 : 128), "host chunk %d, expected %d", afm_session_n_ubatch(ss[0]),
              pass ? 512 : 128);
        CHECK(afm_session_eval_multi(ss, N, tok, lg[pass]) == AFM_OK, "eval_multi: %s", afm_last_error());
        for (int i = 0; i < N; i++) afm_session_free(ss[i]);
    }
    g_cases++;
    long d = first_diff(lg[0], lg[1], (long)N * V);
    CHECK(d < 0, "eval_multi of %d sessions: chunks of 512 rows differ from 128 at row %ld", N, d < 0 ? 0 : d / V);
    free(lg[0]); free(lg[1]);
    afm_model_free(m);
}

/* the automatic size and the argument check */
static void check_choice(const char *path, int expect_auto) {
    afm_model *m = NULL;
    if (afm_model_load(path, &m) != AFM_OK) { CHECK(0, "afm_model_load(%s): %s", path, afm_last_error()); return; }
    afm_session *s = open_session(m, 2048, 1, AFM_KV_F32, 0);
    if (s) CHECK(afm_session_n_ubatch(s) == expect_auto, "%s: automatic chunk %d, expected %d", path, afm_session_n_ubatch(s),
                 expect_auto);
    afm_session_free(s);
    s = open_session(m, 300, 1, AFM_KV_F32, 4096); /* capped: 300 rounded up to 384 */
    if (s) CHECK(afm_session_n_ubatch(s) == 384, "n_ubatch 4096 at n_ctx 300: %d, expected 384", afm_session_n_ubatch(s));
    afm_session_free(s);
    s = open_session(m, 20, 1, AFM_KV_F32, 0); /* a short context keeps 128 */
    if (s) CHECK(afm_session_n_ubatch(s) <= 128, "automatic chunk at n_ctx 20: %d, expected <= 128", afm_session_n_ubatch(s));
    afm_session_free(s);
    s = open_session(m, 64, 1, AFM_KV_F32, 5);
    if (s) CHECK(afm_session_n_ubatch(s) == 5, "n_ubatch 5: %d", afm_session_n_ubatch(s));
    afm_session_free(s);
    afm_session_options bad = {.n_ctx = 64, .n_threads = 1, .n_ubatch = -1};
    s = NULL;
    CHECK(afm_session_create(m, &bad, &s) == AFM_ERR_INVALID_ARG && !s, "n_ubatch -1 accepted");
    bad.n_ubatch = (1 << 16) + 1;
    CHECK(afm_session_create(m, &bad, &s) == AFM_ERR_INVALID_ARG && !s, "n_ubatch 65537 accepted");
    afm_session_free(s);
    afm_model_free(m);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    if (!src) src = ".";
    char path[4096];
    /* (prefix, n, all rows' logits): tails of 1, 12, 23 (own chunk), 24, 44 (joined), more than
     * one 512-token chunk; after prefixes */
    static const int tiny[][3] = {{0, 23, 1}, {0, 129, 1}, {0, 140, 1}, {0, 151, 1}, {0, 152, 1}, {0, 300, 1},
                                  {0, 524, 0}, {0, 660, 1}, {5, 290, 0}, {100, 413, 1}};
    static const char *const models[] = {"model/afm_long_280.gguf", "model/qwen3_gqa4_hd16_tied.gguf",
                                         "model/llama_gqa4_hd12_untied.gguf"};
    for (int i = 0; i < N(models); i++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/%s", src, models[i]);
        check_model(path, tiny, N(tiny), i == 0 ? 2 : 1, i == 1 ? AFM_KV_F16 : AFM_KV_F32);
    }
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", src, models[0]);
    check_choice(path, 128); /* a tiny model: the scratch of more than 128 tokens is over its budget */
    check_multi(path);

    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src);
    if (afm_file_exists(path)) {
        static const int smol[][3] = {{0, 140, 0}, {0, 530, 0}, {60, 300, 0}};
        check_model(path, smol, N(smol), 2, AFM_KV_F32);
        check_choice(path, 128); /* 98 MB file: 128 (its chunk scratch at 256 is over 3%) */
    } else {
        printf("SmolLM2 part skipped: %s not found (scripts/fetch_smollm2.sh)\n", path);
    }
    printf("%d cases, %d failures\n", g_cases, g_failures);
    return g_failures ? 1 : 0;
}
