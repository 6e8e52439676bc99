/* Last-row logits without all rows' logits are bit for bit those of the all-rows computation.
 *
 * afm_session_eval(..., all_logits = false) runs the last layer's query, attention, Wo, FFN and
 * output norm only for the last token (the other tokens' keys and values are still cached), and a
 * multi-chunk prefill (n > the session's 128-token forward chunk) runs no output work at all for
 * its earlier chunks. Both are exact savings: for every model, thread count and KV-cache type
 * below, and lengths around the chunk and attention-tile boundaries (odd ones included), this test
 * requires
 *   last-row logits of eval(tokens, n, false) == row n-1 of eval(tokens, n, true)   (memcmp)
 * on a fresh session and on top of a cached prefix, and the next token's logits after each
 * (decoded on both sessions) equal too, which checks that both left the same keys and values in
 * the cache. Models: tiny random f32 fixtures (tests/fixtures/model, tests/fixtures/adapter with
 * a LoRA adapter on every projection, output and embedding) and, when present,
 * models/SmolLM2-135M-Instruct.Q4_1.gguf (quantized GEMM path; with and without its LoRA fixture)
 * — its part is skipped (reported) without the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "afm/adapter.h"
#include "afm/model.h"
#include "base/file.h"

static int g_failures, g_cases;

#define CHECK(cond, ...) do { if (!(cond)) { printf("  FAIL: "); printf(__VA_ARGS__); printf("\n"); g_failures++; } } while (0)

typedef struct {
    afm_model *m;
    afm_adapter *lora;   /* NULL: none */
    int threads;
    afm_kv_type kv;
    const char *label;
} setup;

static afm_session *open_session(const setup *u, int n_ctx) {
    afm_session_options o = {.n_ctx = n_ctx, .n_threads = u->threads, .kv_type = u->kv};
    afm_session *s = NULL;
    afm_status st = afm_session_create(u->m, &o, &s);
    CHECK(st == AFM_OK, "%s: afm_session_create: %s", u->label, afm_last_error());
    if (st == AFM_OK && u->lora) {
        st = afm_session_set_adapters(s, &u->lora, NULL, 1);
        CHECK(st == AFM_OK, "%s: afm_session_set_adapters: %s", u->label, afm_last_error());
    }
    if (st != AFM_OK) { afm_session_free(s); return NULL; }
    return s;
}

static bool eval(const setup *u, afm_session *s, const int32_t *tok, int n, bool all, float *out) {
    afm_status st = afm_session_eval(s, tok, n, all, out);
    CHECK(st == AFM_OK, "%s: afm_session_eval(n=%d, all=%d): %s", u->label, n, all, afm_last_error());
    return st == AFM_OK;
}

/* index of the first differing float, -1 if a and b are the same bytes */
static long first_diff(const float *a, const float *b, long n) {
    for (long i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)) != 0) return i;
    return -1;
}

/* After `prefix` tokens (evaluated with last logits only on both sessions), n more tokens: once
 * with all logits, once with the last only; then one more token on each. */
static void check_case(const setup *u, const int32_t *tok, int prefix, int n) {
    int V = afm_model_config(u->m)->n_vocab;
    int n_ctx = prefix + n + 1;
    float *all = malloc((size_t)n * V * sizeof(float)), *last = malloc((size_t)V * sizeof(float));
    float *next_a = malloc((size_t)V * sizeof(float)), *next_b = malloc((size_t)V * sizeof(float));
    afm_session *a = open_session(u, n_ctx), *b = open_session(u, n_ctx);
    g_cases++;
    bool ok = all && last && next_a && next_b && a && b;
    if (ok && prefix > 0) ok = eval(u, a, tok, prefix, false, last) && eval(u, b, tok, prefix, false, last);
    if (ok) ok = eval(u, a, tok + prefix, n, true, all) && eval(u, b, tok + prefix, n, false, last);
    if (ok) {
        long d = first_diff(all + (size_t)(n - 1) * V, last, V);
        CHECK(d < 0, "%s: prefix %d + %d tokens: last-row logit %ld differs: all_logits %.9g, last only %.9g",
              u->label, prefix, n, d, d < 0 ? 0.0 : (double)all[(size_t)(n - 1) * V + d], d < 0 ? 0.0 : (double)last[d]);
        ok = eval(u, a, tok + prefix + n, 1, false, next_a) && eval(u, b, tok + prefix + n, 1, false, next_b);
    }
    if (ok) {
        long d = first_diff(next_a, next_b, V);
        CHECK(d < 0, "%s: prefix %d + %d tokens: the next token's logit %ld differs (%.9g vs %.9g): the caches differ",
              u->label, prefix, n, d, d < 0 ? 0.0 : (double)next_a[d], d < 0 ? 0.0 : (double)next_b[d]);
    }
    afm_session_free(a);
    afm_session_free(b);
    free(all); free(last); free(next_a); free(next_b);
}

/* deterministic token ids in [0, V) */
static void fill_tokens(int32_t *tok, int n, int V, uint32_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        tok[i] = (int32_t)((seed >> 8) % (uint32_t)V);
    }
}

/* the cases run with one thread count: fresh prefills of lens[i] tokens, and pre[i][1] tokens
 * after a cached prefix of pre[i][0] */
typedef struct {
    const int *lens;
    int n_lens;
    const int (*pre)[2];
    int n_pre;
} plan;

/* plans[0] with 1 thread, plans[1] with 2; each with both KV-cache types (both_kv) or with one
 * (f32 for 1 thread, f16 for 2) */
static void run_model(const char *path, const char *lora_path, const plan plans[2], bool both_kv) {
    afm_model *m = NULL;
    afm_adapter *lora = NULL;
    afm_status st = afm_model_load(path, &m);
    CHECK(st == AFM_OK, "afm_model_load(%s): %s", path, afm_last_error());
    if (st != AFM_OK) return;
    if (lora_path) {
        st = afm_adapter_load(m, lora_path, &lora);
        CHECK(st == AFM_OK, "afm_adapter_load(%s): %s", lora_path, afm_last_error());
        if (st != AFM_OK) { afm_model_free(m); return; }
    }
    int V = afm_model_config(m)->n_vocab, most = 0;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < plans[k].n_lens; i++) if (plans[k].lens[i] + 1 > most) most = plans[k].lens[i] + 1;
        for (int i = 0; i < plans[k].n_pre; i++)
            if (plans[k].pre[i][0] + plans[k].pre[i][1] + 1 > most) most = plans[k].pre[i][0] + plans[k].pre[i][1] + 1;
    }
    int32_t *tok = malloc((size_t)most * sizeof(int32_t));
    fill_tokens(tok, most, V, 12345u);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int threads = 1; threads <= 2; threads++)
        for (int kv = both_kv ? 0 : threads - 1; kv <= (both_kv ? 1 : threads - 1); kv++) {
            const plan *p = &plans[threads - 1];
            if (!p->n_lens && !p->n_pre) continue;
            char label[256];
            snprintf(label, sizeof label, "%s%s, %d thread%s, %s KV", base, lora ? " + LoRA" : "", threads,
                     threads > 1 ? "s" : "", kv ? "f16" : "f32");
            setup u = {m, lora, threads, (afm_kv_type)kv, label};
            int before = g_failures;
            for (int i = 0; i < p->n_lens; i++) check_case(&u, tok, 0, p->lens[i]);
            for (int i = 0; i < p->n_pre; i++) check_case(&u, tok, p->pre[i][0], p->pre[i][1]);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            printf("%-60s %s (%.1f s)\n", label, g_failures == before ? "bit-identical" : "DIFFERS",
                   (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
            t0 = t1;
        }
    free(tok);
    afm_adapter_free(lora);
    afm_model_free(m);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    if (!src) src = ".";
    char path[4096], lora[4096];
    /* lengths: one token, below / at / past the attention-GEMM threshold (8), the f32 packed
     * GEMM's (24), one chunk (128) and one past it, several chunks with an odd tail; prefixes that
     * end inside and at the end of a chunk */
    static const int tiny_lens[] = {1, 2, 7, 8, 9, 23, 24, 31, 127, 128, 129, 257, 301};
    static const int tiny_pre[][2] = {{5, 1}, {5, 130}, {100, 200}, {128, 129}, {201, 77}};
    static const int tiny_lens2[] = {1, 9, 129, 301};
    static const int tiny_pre2[][2] = {{100, 200}};
    const plan tiny_plans[2] = {{tiny_lens, N(tiny_lens), tiny_pre, N(tiny_pre)},
                                {tiny_lens2, N(tiny_lens2), tiny_pre2, N(tiny_pre2)}};
    static const char *const tiny[] = {"model/afm_long_280.gguf", "model/qwen3_gqa4_hd16_tied.gguf",
                                       "model/afm_half_after_gqa2_hd16.gguf", "model/llama_gqa4_hd12_untied.gguf"};
    for (int i = 0; i < N(tiny); i++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/%s", src, tiny[i]);
        run_model(path, NULL, tiny_plans, true);
    }
    snprintf(path, sizeof path, "%s/tests/fixtures/adapter/base.gguf", src);
    snprintf(lora, sizeof lora, "%s/tests/fixtures/adapter/lora_full.gguf", src);
    run_model(path, lora, tiny_plans, true);

    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src);
    if (afm_file_exists(path)) {
        static const int lens[] = {9, 301}, lens2[] = {129}, lens_lora[] = {133};
        static const int pre[][2] = {{110, 147}};
        const plan plans[2] = {{lens, N(lens), pre, N(pre)}, {lens2, N(lens2), NULL, 0}};
        run_model(path, NULL, plans, false);
        const plan plans_lora[2] = {{lens_lora, N(lens_lora), NULL, 0}, {lens_lora, N(lens_lora), NULL, 0}};
        snprintf(lora, sizeof lora, "%s/tests/fixtures/adapter/smollm2_lora_r2.gguf", src);
        run_model(path, lora, plans_lora, false);
    } else {
        printf("SmolLM2 part skipped: %s not found (scripts/fetch_smollm2.sh)\n", path);
    }
    /* sliding-window layers (window 512: a query past it skips whole key blocks), GeGLU,
     * post-norms, q4_K / q6_K weights */
    snprintf(path, sizeof path, "%s/models/gemma-3-270m-q4_k_m.gguf", src);
    if (afm_file_exists(path)) {
        static const int pre[][2] = {{500, 21}}; /* (all 531 rows' logits would take 557 MB) */
        const plan plans[2] = {{NULL, 0, pre, N(pre)}, {NULL, 0, NULL, 0}};
        run_model(path, NULL, plans, false);
    } else {
        printf("Gemma 3 part skipped: %s not found (scripts/fetch_gemma3.sh)\n", path);
    }
    printf("%d cases, %d failures\n", g_cases, g_failures);
    return g_failures ? 1 : 0;
}
