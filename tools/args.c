#include "args.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/status.h"

static bool match(const char *a, const char *name, const char *alt) {
    return !strcmp(a, name) || (alt && !strcmp(a, alt));
}

bool arg_str(int argc, char **argv, int *i, const char *name, const char *alt, const char **val, bool *bad) {
    if (!match(argv[*i], name, alt)) return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "error: option %s needs a value\n", argv[*i]);
        *bad = true;
        return true;
    }
    *val = argv[++*i];
    return true;
}

bool arg_int(int argc, char **argv, int *i, const char *name, const char *alt, long *val, bool *bad) {
    const char *s = NULL;
    if (!arg_str(argc, argv, i, name, alt, &s, bad)) return false;
    if (*bad) return true;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        fprintf(stderr, "error: option %s expects an integer, got '%s'\n", name, s);
        *bad = true;
    } else *val = v;
    return true;
}

bool arg_float(int argc, char **argv, int *i, const char *name, const char *alt, double *val, bool *bad) {
    const char *s = NULL;
    if (!arg_str(argc, argv, i, name, alt, &s, bad)) return false;
    if (*bad) return true;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "error: option %s expects a number, got '%s'\n", name, s);
        *bad = true;
    } else *val = v;
    return true;
}

int cli_fail(const char *what) {
    if (what && *what) fprintf(stderr, "error: %s: %s\n", what, afm_last_error());
    else fprintf(stderr, "error: %s\n", afm_last_error());
    return 1;
}

bool arg_sampler(int argc, char **argv, int *i, afm_sampler_params *p, bool *bad) {
    long v;
    double f;
    if (arg_float(argc, argv, i, "--temp", NULL, &f, bad)) { if (!*bad) p->temperature = (float)f; return true; }
    if (arg_int(argc, argv, i, "--top-k", NULL, &v, bad)) { if (!*bad) p->top_k = (int32_t)v; return true; }
    if (arg_float(argc, argv, i, "--top-p", NULL, &f, bad)) { if (!*bad) p->top_p = (float)f; return true; }
    if (arg_float(argc, argv, i, "--min-p", NULL, &f, bad)) { if (!*bad) p->min_p = (float)f; return true; }
    if (arg_float(argc, argv, i, "--repeat-penalty", NULL, &f, bad)) { if (!*bad) p->repeat_penalty = (float)f; return true; }
    if (arg_int(argc, argv, i, "--repeat-last-n", NULL, &v, bad)) { if (!*bad) p->repeat_last_n = (int32_t)v; return true; }
    if (arg_int(argc, argv, i, "--seed", "-s", &v, bad)) { if (!*bad) p->seed = (uint64_t)v; return true; }
    return false;
}

bool arg_adapter(int argc, char **argv, int *i, cli_adapter *ad, bool *bad) {
    if (arg_str(argc, argv, i, "--adapter", "--lora", &ad->path, bad)) return true;
    return arg_float(argc, argv, i, "--adapter-scale", NULL, &ad->scale, bad);
}

bool arg_kv_type(int argc, char **argv, int *i, afm_kv_type *kv, bool *bad) {
    const char *v = NULL;
    if (!arg_str(argc, argv, i, "--kv-type", NULL, &v, bad)) return false;
    if (!v) return true;
    if (!strcmp(v, "f32")) *kv = AFM_KV_F32;
    else if (!strcmp(v, "f16")) *kv = AFM_KV_F16;
    else { fprintf(stderr, "error: --kv-type must be f32 or f16, not '%s'\n", v); *bad = true; }
    return true;
}

int cli_adapter_attach(cli_adapter *ad, afm_model *m, afm_session *s) {
    if (!ad->path) return 0;
    if (afm_adapter_load(m, ad->path, &ad->adapter) != AFM_OK) return cli_fail(NULL);
    float scale = (float)ad->scale;
    if (afm_session_set_adapters(s, &ad->adapter, &scale, 1) != AFM_OK) return cli_fail(NULL);
    return 0;
}
