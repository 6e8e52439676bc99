/* Tiny option parsing shared by the subcommands. */
#ifndef AFM_TOOLS_ARGS_H
#define AFM_TOOLS_ARGS_H
#include <stdbool.h>
#include <stdint.h>

/* If argv[*i] equals name (or alt), stores the next argument in *val, advances *i and returns
 * true. Prints an error and sets *bad if the value is missing. */
bool arg_str(int argc, char **argv, int *i, const char *name, const char *alt, const char **val, bool *bad);
bool arg_int(int argc, char **argv, int *i, const char *name, const char *alt, long *val, bool *bad);
bool arg_float(int argc, char **argv, int *i, const char *name, const char *alt, double *val, bool *bad);
/* Sampling options shared by generate and chat: --temp, --top-k, --top-p, --min-p,
 * --repeat-penalty, --repeat-last-n, --seed/-s. Returns true if argv[*i] was one of them. */
#include "afm/sampler.h"
bool arg_sampler(int argc, char **argv, int *i, afm_sampler_params *p, bool *bad);
/* --adapter FILE (alias --lora) and --adapter-scale S (default 1): a LoRA adapter (afm/adapter.h)
 * attached to a session after it is created; free ad->adapter after the session, before the model. */
#include "afm/adapter.h"
typedef struct cli_adapter { const char *path; double scale; afm_adapter *adapter; } cli_adapter;
#define CLI_ADAPTER_INIT {NULL, 1.0, NULL}
bool arg_adapter(int argc, char **argv, int *i, cli_adapter *ad, bool *bad);
/* Loads and activates the adapter if one was given; prints the error and returns 1 on failure. */
int cli_adapter_attach(cli_adapter *ad, afm_model *m, afm_session *s);
/* --kv-type f32|f16: the session's KV-cache element type (afm_session_options.kv_type). */
#include "afm/model.h"
bool arg_kv_type(int argc, char **argv, int *i, afm_kv_type *kv, bool *bad);
/* Prints "error: <message>" to stderr and returns 1. */
int cli_fail(const char *what);
#endif
