/* Golden: peak resident memory of inference on the real SmolLM2-135M-Instruct GGUF (models/,
 * fetched by scripts/fetch_smollm2.sh; skipped when absent). Load, a 512-token prefill and 32
 * decode steps must peak (getrusage ru_maxrss, whole process) below 1.20 x (file size + f32 KV
 * cache of the 512-position session). The goal is 1.10x (met within ~1.5% on this file,
 * see BENCHMARKS.md); 1.20 leaves room for the C library and allocator noise while still failing
 * if weights are held twice (embedding rows faulted in beside their packed copy gave about 1.27x) or
 * the scratch grows with the context. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "afm/afm.h"

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src ? src : ".");
    struct stat st;
    if (stat(path, &st) != 0) { printf("skip: %s is missing\n", path); return 0; }
    afm_model *m;
    if (afm_model_load(path, &m) != AFM_OK) { fprintf(stderr, "FAIL: load %s: %s\n", path, afm_last_error()); return 1; }
    const afm_config *c = afm_model_config(m);
    enum { N_CTX = 512, N_GEN = 32 };
    afm_session_options so = {N_CTX, 2};
    afm_session *s;
    if (afm_session_create(m, &so, &s) != AFM_OK) { fprintf(stderr, "FAIL: session: %s\n", afm_last_error()); return 1; }
    int32_t *toks = malloc(sizeof(int32_t) * N_CTX);
    float *logits = malloc(sizeof(float) * (size_t)c->n_vocab);
    for (int i = 0; i < N_CTX; i++) toks[i] = (int32_t)((uint32_t)i * 2654435761u % (uint32_t)c->n_vocab);
    int fail = 0;
    if (afm_session_eval(s, toks, N_CTX - N_GEN, false, logits) != AFM_OK) fail = 1;
    for (int i = N_CTX - N_GEN; i < N_CTX && !fail; i++)
        if (afm_session_eval(s, toks + i, 1, false, logits) != AFM_OK) fail = 1;
    if (fail) { fprintf(stderr, "FAIL: eval: %s\n", afm_last_error()); return 1; }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double kv = 2.0 * c->n_layers * (double)N_CTX * c->n_kv_heads * c->head_dim * sizeof(float);
    double peak = (double)ru.ru_maxrss * 1024.0, base = (double)st.st_size + kv, ratio = peak / base;
    printf("peak RSS %.1f MB, file %.1f MB + KV %.1f MB: %.3fx (bound 1.20x, goal 1.10x)\n", peak / 1e6,
           (double)st.st_size / 1e6, kv / 1e6, ratio);
    free(toks); free(logits);
    afm_session_free(s);
    afm_model_free(m);
    if (ratio > 1.20) { fprintf(stderr, "FAIL: peak RSS %.3fx file + KV exceeds 1.20x\n", ratio); return 1; }
    return 0;
}
