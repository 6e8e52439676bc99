/* Golden: peak resident memory of inference on the real SmolLM2-135M-Instruct GGUF (models/,
 * fetched by scripts/fetch_smollm2.sh; skipped when absent). Load, a 512-token prefill and 32
 * decode steps must peak (getrusage ru_maxrss, whole process) at most 1.10 x (file size + f32 KV
 * cache of the 512-position session): the goal. This process measures about 1.06x (1.058 at rss3)
 * (1.10x before the tokenizer tables, the GGUF string index, the forward scratch and the MPI
 * libraries were cut by 6.4 MB), so the bound fails when about 5 MB more is held: weights held
 * twice (embedding rows faulted in beside their packed copy gave about 1.27x), scratch that grows
 * with the context, or the tokenizer's and the libraries' fixed costs growing back.
 * Also checked without the model: no MPI library is mapped into a process that does not train
 * under an MPI launcher (libafm loads libafm_mpi.so on demand, src/train/dist_mpi.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "afm/afm.h"

/* 1 if /proc/self/maps names a library whose file name starts with `prefix`. */
static int maps_library(const char *prefix) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        const char *name = strrchr(line, '/');
        found = name && strncmp(name + 1, prefix, strlen(prefix)) == 0;
    }
    fclose(f);
    return found;
}

int main(void) {
    if (maps_library("libmpi") || maps_library("libopen-pal")) {
        fprintf(stderr, "FAIL: an MPI library is mapped into an inference process (it should load only under mpirun)\n");
        return 1;
    }
    const char *src = getenv("AFM_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src ? src : ".");
    struct stat st;
    if (stat(path, &st) != 0) { printf("skip: %s is missing\n", path); return 0; }
    afm_model *m;
    if (afm_model_load(path, &m) != AFM_OK) { fprintf(stderr, "FAIL: load %s: %s\n", path, afm_last_error()); return 1; }
    const afm_config *c = afm_model_config(m);
    enum { N_CTX = 512, N_GEN = 32 };
    afm_session_options so = {.n_ctx = N_CTX, .n_threads = 2};
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
    printf("peak RSS %.1f MB, file %.1f MB + KV %.1f MB: %.3fx (bound and goal 1.10x)\n", peak / 1e6,
           (double)st.st_size / 1e6, kv / 1e6, ratio);
    free(toks); free(logits);
    afm_session_free(s);
    afm_model_free(m);
    if (ratio > 1.10) { fprintf(stderr, "FAIL: peak RSS %.3fx file + KV exceeds 1.10x\n", ratio); return 1; }
    return 0;
}
