/* Prefill (afm_session_eval of N tokens into an empty cache, last logits only) with several
 * forward-chunk sizes (afm_session_options.n_ubatch), interleaved round after round in one
 * process, so that every size sees the same machine state and the model is loaded once. Per size:
 * the median over rounds of the wall-clock tokens/s and of the process CPU seconds (all threads,
 * pool spinning included) per prompt, and whether the last logits equal the first size's bit for
 * bit (in parentheses: the size the session chose; 0 = automatic). One untimed warm-up prefill per
 * size first.
 * usage: bench_prefill_chunks MODEL.gguf [N (512)] [threads (2)] [rounds (3)] [sizes (128,512)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "afm/afm.h"
#include "bench_util.h"


enum { MAXS = 8, MAXR = 32 };

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_prefill_chunks MODEL.gguf [N] [threads] [rounds] [sizes]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 512, threads = argc > 3 ? atoi(argv[3]) : 2, rounds = argc > 4 ? atoi(argv[4]) : 3;
    int sizes[MAXS], ns = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", argc > 5 ? argv[5] : "128,512");
    for (char *t = strtok(list, ","); t && ns < MAXS; t = strtok(NULL, ",")) sizes[ns++] = atoi(t);
    if (n < 1 || threads < 1 || rounds < 1 || rounds > MAXR || ns < 1) {
        fprintf(stderr, "bench_prefill_chunks: N, threads >= 1, rounds 1..%d, at least one size\n", MAXR);
        return 2;
    }
    afm_model *m;
    if (afm_model_load(argv[1], &m) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    int V = afm_model_config(m)->n_vocab;
    afm_session *s[MAXS];
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    float *logits = malloc((size_t)ns * V * sizeof(float));
    if (!tok || !logits) { fprintf(stderr, "error: out of memory\n"); return 1; }
    for (int t = 0; t < n; t++) tok[t] = (int32_t)((t * 7919 + 13) % V);
    for (int i = 0; i < ns; i++) {
        afm_session_options o = {.n_ctx = n, .n_threads = threads, .n_ubatch = sizes[i]};
        if (afm_session_create(m, &o, &s[i]) != AFM_OK ||
            afm_session_eval(s[i], tok, n, false, logits + (size_t)i * V) != AFM_OK) {
            fprintf(stderr, "error: %s\n", afm_last_error());
            return 1;
        }
    }
    double tps[MAXS][MAXR], cpu[MAXS][MAXR];
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < ns; i++) {
            afm_session_rewind(s[i], 0);
            double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
            if (afm_session_eval(s[i], tok, n, false, logits + (size_t)i * V) != AFM_OK) {
                fprintf(stderr, "error: %s\n", afm_last_error());
                return 1;
            }
            tps[i][r] = n / (now(CLOCK_MONOTONIC) - w0);
            cpu[i][r] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
            printf("round %d  n_ubatch %4d  %8.2f tok/s  %7.2f CPU s\n", r + 1, sizes[i], tps[i][r], cpu[i][r]);
            fflush(stdout);
        }
    printf("pp%d, %d threads, %d rounds: median tok/s, median CPU s per prefill, last logits vs n_ubatch %d\n", n,
           threads, rounds, sizes[0]);
    for (int i = 0; i < ns; i++) {
        bool same = !memcmp(logits, logits + (size_t)i * V, (size_t)V * sizeof(float));
        printf("n_ubatch %4d (%4d)  %8.2f tok/s  %7.2f CPU s  %s\n", sizes[i], afm_session_n_ubatch(s[i]),
               median(tps[i], rounds), median(cpu[i], rounds), same ? "bit-identical" : "DIFFERENT");
    }
    for (int i = 0; i < ns; i++) afm_session_free(s[i]);
    afm_model_free(m);
    free(tok);
    free(logits);
    return 0;
}
