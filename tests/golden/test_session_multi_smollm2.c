/* Batched decode on a real model: SmolLM2-135M-Instruct Q4_1 (30 layers, GQA 9/3, tied embedding,
 * repacked q4_1 weights). Four prompts of different lengths (5 to ~150 tokens) are prefilled on
 * twin sessions; then each step decodes the four continuations together with
 * afm_session_eval_multi (host with 2 threads) and one by one with afm_session_eval (1 thread),
 * feeding both the twin's greedy token. The quantized kernels compute each token's row the same
 * way in any batch, so every row's logits must equal its twin's bit for bit, with the f32 and the
 * f16 KV cache. The greedy continuations must differ between prompts (else mixed-up rows could
 * pass). Exit 77 without the model file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/afm.h"
#include "base/error.h"
#include "base/file.h"
#include "tokenizer/tokenizer.h"

enum { NS = 4, STEPS = 10 };

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static int run(afm_model *m, afm_tokenizer *tok, afm_kv_type kvt) {
    static const char *prompts[NS] = {
        "The capital of France is",
        "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to her "
        "friends in May. How many clips did Natalia sell altogether in April and May?\nAnswer:",
        "def fibonacci(n):\n",
        "Once upon a time, in a small village at the edge of a great forest, there lived an old clockmaker who "
        "repaired every clock in the valley. One winter morning a stranger knocked on his door carrying a clock "
        "that had no hands. The clockmaker turned it over, listened to its ticking, and frowned, because the "
        "ticking was not regular at all: it sped up and slowed down like a heartbeat. He asked the stranger where "
        "the clock had come from, and the stranger said",
    };
    int V = afm_model_config(m)->n_vocab, fail = 0;
    afm_session *multi[NS], *twin[NS];
    afm_session_options om = {.n_ctx = 512, .n_threads = 2, .kv_type = kvt};
    afm_session_options ot = {.n_ctx = 512, .n_threads = 1, .kv_type = kvt};
    float *lm = malloc((size_t)NS * V * sizeof(float)), *lt = malloc((size_t)NS * V * sizeof(float));
    int32_t next[NS], first[NS];
    for (int i = 0; i < NS; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (afm_tokenizer_encode(tok, prompts[i], strlen(prompts[i]), afm_tokenizer_add_bos(tok), false, &ids, &n) != AFM_OK ||
            afm_session_create(m, &om, &multi[i]) != AFM_OK || afm_session_create(m, &ot, &twin[i]) != AFM_OK ||
            afm_session_eval(multi[i], ids, (int32_t)n, false, lm) != AFM_OK ||
            afm_session_eval(twin[i], ids, (int32_t)n, false, lt + (size_t)i * V) != AFM_OK) {
            printf("FAIL: prompt %d: %s\n", i, afm_last_error());
            return 1;
        }
        printf("prompt %d: %zu tokens\n", i, n);
        free(ids);
        next[i] = first[i] = argmax(lt + (size_t)i * V, V);
    }
    long same = 0, rows = 0;
    for (int step = 0; step < STEPS; step++) {
        if (afm_session_eval_multi(multi, NS, next, lm) != AFM_OK) {
            printf("FAIL: step %d: %s\n", step, afm_last_error());
            return 1;
        }
        for (int i = 0; i < NS; i++) {
            if (afm_session_eval(twin[i], &next[i], 1, false, lt + (size_t)i * V) != AFM_OK) {
                printf("FAIL: twin %d: %s\n", i, afm_last_error());
                return 1;
            }
            bool eq = memcmp(lm + (size_t)i * V, lt + (size_t)i * V, (size_t)V * sizeof(float)) == 0;
            same += eq;
            rows++;
            if (!eq) {
                int bad = 0;
                while (lm[(size_t)i * V + bad] == lt[(size_t)i * V + bad]) bad++;
                printf("FAIL: kv %s, step %d, prompt %d: logit %d is %.9g, separately %.9g\n", kvt ? "f16" : "f32", step, i,
                       bad, (double)lm[(size_t)i * V + bad], (double)lt[(size_t)i * V + bad]);
                fail = 1;
            }
            next[i] = argmax(lt + (size_t)i * V, V);
        }
    }
    int distinct = 0;
    for (int i = 0; i < NS; i++) {
        bool dup = false;
        for (int k = 0; k < i; k++) dup = dup || first[k] == first[i];
        distinct += !dup;
    }
    if (distinct < 3) { printf("FAIL: only %d distinct first tokens over %d prompts\n", distinct, NS); fail = 1; }
    printf("kv %s: %ld of %ld rows bit-identical to separate decoding\n", kvt ? "f16" : "f32", same, rows);
    for (int i = 0; i < NS; i++) {
        afm_session_free(multi[i]);
        afm_session_free(twin[i]);
    }
    free(lm);
    free(lt);
    return fail;
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    if (!src) src = ".";
    char path[4096];
    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src);
    if (!afm_file_exists(path)) {
        printf("SKIP: %s not found (run scripts/fetch_smollm2.sh)\n", path);
        return 77;
    }
    afm_model *m = NULL;
    afm_tokenizer *tok = NULL;
    if (afm_model_load(path, &m) != AFM_OK || afm_tokenizer_load(path, NULL, &tok) != AFM_OK) {
        printf("FAIL: %s\n", afm_last_error());
        return 1;
    }
    int fail = run(m, tok, AFM_KV_F32) | run(m, tok, AFM_KV_F16);
    afm_tokenizer_free(tok);
    afm_model_free(m);
    if (!fail) printf("OK\n");
    return fail;
}
