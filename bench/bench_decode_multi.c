/* Batched decode (afm_session_eval_multi) against one-at-a-time decode, one thread.
 * B sessions each hold a context of `ctx` tokens (different tokens per session); each step
 * decodes one token of every session, either as one afm_session_eval_multi call of B rows or as
 * B afm_session_eval calls. The batch sizes are measured interleaved, round after round, and
 * each figure is the median over rounds of this thread's CPU time per decoded token (time
 * descheduled on a shared machine does not count; memory stalls do), with the wall-clock
 * tokens/s beside it.
 * usage: bench_decode_multi MODEL.gguf [ctx (800)] [steps per round (8)] [rounds (5)] [B list (1,2,4,8,16)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "afm/afm.h"
#include "base/error.h"
#include "bench_util.h"


enum { MAXB = 64, MAXR = 64 };

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_decode_multi MODEL.gguf [ctx] [steps] [rounds] [B list]\n");
        return 2;
    }
    int ctx = argc > 2 ? atoi(argv[2]) : 800, steps = argc > 3 ? atoi(argv[3]) : 8, rounds = argc > 4 ? atoi(argv[4]) : 5;
    int bs[16], nb = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", argc > 5 ? argv[5] : "1,2,4,8,16");
    for (char *t = strtok(list, ","); t && nb < 16; t = strtok(NULL, ",")) bs[nb++] = atoi(t);
    int maxb = 0;
    for (int i = 0; i < nb; i++) maxb = bs[i] > maxb ? bs[i] : maxb;
    if (ctx < 1 || steps < 1 || rounds < 1 || rounds > MAXR || maxb < 1 || maxb > MAXB) {
        fprintf(stderr, "bench_decode_multi: ctx, steps >= 1, rounds 1..%d, B 1..%d\n", MAXR, MAXB);
        return 2;
    }
    afm_model *m;
    if (afm_model_load(argv[1], &m) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    int V = afm_model_config(m)->n_vocab;
    int need = ctx + 2 * rounds * nb * steps + 8;
    afm_session_options o = {.n_ctx = need, .n_threads = 1};
    afm_session *s[MAXB];
    int32_t *prompt = malloc((size_t)ctx * sizeof *prompt);
    float *logits = malloc((size_t)maxb * V * sizeof(float));
    for (int i = 0; i < maxb; i++) {
        for (int t = 0; t < ctx; t++) prompt[t] = (int32_t)((t * 7919 + i * 104729 + 13) % (V - 1000)) + 500;
        if (afm_session_create(m, &o, &s[i]) != AFM_OK || afm_session_eval(s[i], prompt, ctx, false, logits) != AFM_OK) {
            fprintf(stderr, "error: %s\n", afm_last_error());
            return 1;
        }
    }
    double cpu_multi[16][MAXR], cpu_single[16][MAXR], wall_multi[16][MAXR], wall_single[16][MAXR];
    int32_t tok[MAXB];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nb; k++) {
            int B = bs[k];
            for (int i = 0; i < B; i++) tok[i] = 1000 + 17 * i + r;
            for (int pass = 0; pass < 2; pass++) { /* 0: batched, 1: one at a time */
                double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
                for (int st = 0; st < steps; st++) {
                    afm_status e = AFM_OK;
                    if (pass == 0) e = afm_session_eval_multi(s, B, tok, logits);
                    else for (int i = 0; i < B && e == AFM_OK; i++) e = afm_session_eval(s[i], &tok[i], 1, false, logits);
                    if (e != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
                }
                double c = (now(CLOCK_THREAD_CPUTIME_ID) - c0) / (steps * B), w = (now(CLOCK_MONOTONIC) - w0) / (steps * B);
                (pass ? cpu_single : cpu_multi)[k][r] = c;
                (pass ? wall_single : wall_multi)[k][r] = w;
            }
        }
    printf("ctx %d, %d steps x %d rounds, 1 thread; per decoded token: median CPU ms (wall tokens/s)\n", ctx, steps, rounds);
    printf("%4s %22s %22s %10s\n", "B", "batched", "one at a time", "ratio");
    double base = 0;
    for (int k = 0; k < nb; k++) {
        double *a[4] = {cpu_multi[k], cpu_single[k], wall_multi[k], wall_single[k]};
        for (int j = 0; j < 4; j++) qsort(a[j], (size_t)rounds, sizeof(double), cmp_d);
        double cm = cpu_multi[k][rounds / 2], cs = cpu_single[k][rounds / 2];
        double wm = wall_multi[k][rounds / 2], ws = wall_single[k][rounds / 2];
        if (bs[k] == 1 || base == 0) base = cs;
        printf("%4d %10.2f (%7.1f/s) %10.2f (%7.1f/s) %9.2fx\n", bs[k], 1e3 * cm, 1 / wm, 1e3 * cs, 1 / ws, cs / cm);
    }
    for (int i = 0; i < maxb; i++) afm_session_free(s[i]);
    afm_model_free(m);
    free(prompt);
    free(logits);
    return 0;
}
