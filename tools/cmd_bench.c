/* afm bench: prompt-processing (pp) and generation (tg) throughput, like llama-bench.
 * ppN: one batch of N tokens into an empty cache; tgN: N single-token steps from an empty cache.
 * With -d D (llama-bench's -d) both start after a D-token context instead: the D random tokens
 * are evaluated once, untimed, and every run rewinds the cache to them ("tg128 @ d1024").
 * Each test runs -r times after one warm-up; the mean and standard deviation are reported. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/afm.h"
#include "args.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "base/timer.h"
#include "cli.h"

static const char *USAGE =
    "usage: afm bench -m MODEL [-p 512] [-n 128] [-d DEPTH] [-t THREADS] [-r REPS] [-ub N] [--json]\n"
    "  -p N      prompt tokens for the pp test (0: skip)\n"
    "  -n N      generated tokens for the tg test (0: skip)\n"
    "  -d N      context depth: both tests run after N tokens already in the cache (default 0)\n"
    "  -t N      threads (default: all cores)\n"
    "  -r N      repetitions (default 5)\n"
    "  -ub N     most tokens per forward chunk (default 0: automatic, 512 for f32/f16/bf16 weights, else 128)\n"
    "  --adapter FILE [--adapter-scale S]   with a LoRA adapter active\n"
    "  --kv-type f32|f16     KV-cache element type (default f32; f16 halves its memory)\n"
    "  --json    one JSON object per line: {\"test\": \"pp512\", \"threads\": 2, \"tok_s\": 123.4, ...}\n";

/* the D-token context of -d (random tokens, seed 4321), evaluated once */
static int fill_depth(afm_session *s, const afm_config *c, int depth) {
    int32_t *toks = malloc((size_t)depth * sizeof(int32_t));
    float *logits = malloc((size_t)c->n_vocab * sizeof(float));
    if (!toks || !logits) { free(toks); free(logits); fprintf(stderr, "error: out of memory\n"); return 1; }
    afm_rng rng;
    afm_rng_seed(&rng, 4321);
    for (int i = 0; i < depth; i++) toks[i] = (int32_t)(afm_rng_u64(&rng) % (uint64_t)c->n_vocab);
    int rc = afm_session_eval(s, toks, depth, false, logits) != AFM_OK ? cli_fail("bench context") : 0;
    free(toks); free(logits);
    return rc;
}

static int run_test(afm_session *s, const afm_config *c, bool pp, int n, int depth, int reps, int threads, bool json,
                    const char *model) {
    int32_t *toks = malloc((size_t)n * sizeof(int32_t));
    float *logits = malloc((size_t)c->n_vocab * sizeof(float));
    double *ts = calloc((size_t)reps, sizeof(double));
    if (!toks || !logits || !ts) { fprintf(stderr, "error: out of memory\n"); return 1; }
    afm_rng rng;
    afm_rng_seed(&rng, 1234);
    for (int i = 0; i < n; i++) toks[i] = (int32_t)(afm_rng_u64(&rng) % (uint64_t)c->n_vocab);
    for (int r = -1; r < reps; r++) { /* r == -1: warm-up */
        afm_session_rewind(s, depth);
        double t0 = afm_now_s();
        if (pp) {
            if (afm_session_eval(s, toks, n, false, logits) != AFM_OK) return cli_fail("bench");
        } else {
            for (int i = 0; i < n; i++)
                if (afm_session_eval(s, toks + i, 1, false, logits) != AFM_OK) return cli_fail("bench");
        }
        double dt = afm_now_s() - t0;
        if (r >= 0) ts[r] = n / dt;
    }
    double mean = 0, var = 0;
    for (int r = 0; r < reps; r++) mean += ts[r];
    mean /= reps;
    for (int r = 0; r < reps; r++) var += (ts[r] - mean) * (ts[r] - mean);
    double sd = reps > 1 ? sqrt(var / (reps - 1)) : 0;
    char name[48];
    if (depth) snprintf(name, sizeof name, "%s%d @ d%d", pp ? "pp" : "tg", n, depth);
    else snprintf(name, sizeof name, "%s%d", pp ? "pp" : "tg", n);
    if (json)
        printf("{\"test\": \"%s\", \"threads\": %d, \"tok_s\": %.3f, \"tok_s_sd\": %.3f, \"reps\": %d, \"depth\": %d, "
               "\"model\": \"%s\"}\n",
               name, threads, mean, sd, reps, depth, model);
    else
        printf("| %-40s | %7d | %8s | %10.2f ± %.2f |\n", model, threads, name, mean, sd);
    fflush(stdout);
    free(toks); free(logits); free(ts);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    long pp = 512, tg = 128, depth = 0, threads = 0, reps = 5, ubatch = 0;
    bool bad = false, json = false;
    cli_adapter lora = CLI_ADAPTER_INIT;
    afm_kv_type kv_type = AFM_KV_F32;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (arg_adapter(argc, argv, &i, &lora, &bad)) continue;
        if (arg_kv_type(argc, argv, &i, &kv_type, &bad)) continue;
        if (arg_int(argc, argv, &i, "-p", "--n-prompt", &pp, &bad)) continue;
        if (arg_int(argc, argv, &i, "-n", "--n-gen", &tg, &bad)) continue;
        if (arg_int(argc, argv, &i, "-d", "--n-depth", &depth, &bad)) continue;
        if (arg_int(argc, argv, &i, "-t", "--threads", &threads, &bad)) continue;
        if (arg_int(argc, argv, &i, "-r", "--repetitions", &reps, &bad)) continue;
        if (arg_int(argc, argv, &i, "-ub", "--ubatch-size", &ubatch, &bad)) continue;
        if (!strcmp(argv[i], "--json")) { json = true; continue; }
        fprintf(stderr, "error: unknown option '%s'\n%s", argv[i], USAGE);
        return 2;
    }
    if (bad) return 2;
    if (!model) { fprintf(stderr, "error: -m MODEL is required\n%s", USAGE); return 2; }
    if (pp < 0 || tg < 0 || depth < 0 || reps < 1 || threads < 0 || pp + tg + depth > (1 << 20) || ubatch < 0 ||
        ubatch > (1 << 16)) {
        fprintf(stderr, "error: -p, -n and -d must be >= 0 (together at most 2^20), -r >= 1, -t >= 0, -ub 0..65536\n");
        return 2;
    }
    afm_model *m;
    if (afm_model_load(model, &m) != AFM_OK) return cli_fail(NULL);
    const afm_config *c = afm_model_config(m);
    long need = depth + (pp > tg ? pp : tg);
    afm_session_options so = {.n_ctx = (int32_t)(need < 16 ? 16 : need), .n_threads = (int32_t)threads, .kv_type = kv_type,
                            .n_ubatch = (int32_t)ubatch};
    afm_session *s;
    if (afm_session_create(m, &so, &s) != AFM_OK) { afm_model_free(m); return cli_fail(NULL); }
    if (cli_adapter_attach(&lora, m, s)) { afm_session_free(s); afm_adapter_free(lora.adapter); afm_model_free(m); return 1; }
    int nt = threads > 0 ? (int)threads : 0;
    if (!nt) nt = afm_cpu_count();
    const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    if (!json) printf("| %-40s | threads | test     |        tok/s |\n|---|---|---|---|\n", "model");
    int rc = depth > 0 ? fill_depth(s, c, (int)depth) : 0;
    if (!rc && pp > 0) rc = run_test(s, c, true, (int)pp, (int)depth, (int)reps, nt, json, base);
    if (!rc && tg > 0) rc = run_test(s, c, false, (int)tg, (int)depth, (int)reps, nt, json, base);
    afm_session_free(s);
    afm_adapter_free(lora.adapter);
    afm_model_free(m);
    return rc;
}
