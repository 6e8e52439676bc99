/* afm trace: runs one batch of token ids through a model and writes the output of every op of the
 * forward pass (the debug hook of src/model/trace.h) to a file, for op-by-op comparison with
 * another runtime (scripts/reference/compare_trace.py against llama.cpp's tensors dumped by
 * scripts/reference/llamacpp_trace.py).
 * File format (little-endian): "AFMTRC1\0", then per record: u32 name length, the name, i32 layer
 * (-1 for the output head), i64 rows (tokens), i64 cols, rows*cols f32 row-major. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/afm.h"
#include "args.h"
#include "cli.h"
#include "model/trace.h"

static const char *USAGE =
    "usage: afm trace -m MODEL --ids \"ID ID ...\" -o OUT [-t THREADS] [--kv-type f32|f16]\n"
    "Evaluates the ids as one batch (all logits) and writes every op's output to OUT (see\n"
    "tools/cmd_trace.c for the format; scripts/reference/compare_trace.py reads it).\n";

static void write_record(void *user, const char *name, int layer, const float *data, int64_t rows, int64_t cols) {
    FILE *f = user;
    uint32_t n = (uint32_t)strlen(name);
    int32_t l = layer;
    fwrite(&n, 4, 1, f);
    fwrite(name, 1, n, f);
    fwrite(&l, 4, 1, f);
    fwrite(&rows, 8, 1, f);
    fwrite(&cols, 8, 1, f);
    fwrite(data, sizeof(float), (size_t)(rows * cols), f);
}

int cmd_trace(int argc, char **argv) {
    const char *model = NULL, *ids_text = NULL, *out = NULL, *kv = "f32";
    long threads = 1;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (arg_str(argc, argv, &i, "--ids", NULL, &ids_text, &bad)) continue;
        if (arg_str(argc, argv, &i, "-o", "--out", &out, &bad)) continue;
        if (arg_str(argc, argv, &i, "--kv-type", NULL, &kv, &bad)) continue;
        if (arg_int(argc, argv, &i, "-t", "--threads", &threads, &bad)) continue;
        fprintf(stderr, "error: unknown option '%s'\n%s", argv[i], USAGE);
        return 2;
    }
    if (bad) return 2;
    if (!model || !ids_text || !out) { fprintf(stderr, "error: -m, --ids and -o are required\n%s", USAGE); return 2; }
    afm_kv_type kv_type;
    if (!strcmp(kv, "f32")) kv_type = AFM_KV_F32;
    else if (!strcmp(kv, "f16")) kv_type = AFM_KV_F16;
    else { fprintf(stderr, "error: --kv-type must be f32 or f16, not '%s'\n", kv); return 2; }
    int32_t n = 0, cap = 64, *ids = malloc((size_t)cap * sizeof *ids);
    for (const char *p = ids_text; ids;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (n == cap) { cap *= 2; int32_t *t = realloc(ids, (size_t)cap * sizeof *ids); if (!t) { free(ids); ids = NULL; break; } ids = t; }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (!ids || n == 0) { free(ids); fprintf(stderr, "error: --ids holds no token ids\n"); return 2; }
    afm_model *m = NULL;
    afm_session *s = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    int rc = 1;
    if (afm_model_load(model, &m) != AFM_OK) { cli_fail("load"); goto done; }
    afm_session_options o = {.n_ctx = n, .n_threads = (int32_t)threads, .kv_type = kv_type};
    if (afm_session_create(m, &o, &s) != AFM_OK) { cli_fail("session"); goto done; }
    logits = malloc((size_t)n * (size_t)afm_model_config(m)->n_vocab * sizeof(float));
    f = fopen(out, "wb");
    if (!logits || !f) { fprintf(stderr, "error: cannot write %s\n", out); goto done; }
    fwrite("AFMTRC1", 1, 8, f);
    afm_session_set_trace(s, write_record, f);
    if (afm_session_eval(s, ids, n, true, logits) != AFM_OK) { cli_fail("eval"); goto done; }
    rc = 0;
done:
    if (f && fclose(f) != 0 && rc == 0) { fprintf(stderr, "error: writing %s failed\n", out); rc = 1; }
    free(logits);
    free(ids);
    afm_session_free(s);
    afm_model_free(m);
    return rc;
}
