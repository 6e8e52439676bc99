/* libFuzzer target for the LoRA adapter loader (src/model/adapter.c) on the fixture base model
 * tests/fixtures/adapter/base.gguf (found through AFM_SOURCE_DIR, else the working folder): any
 * input is either refused with a message or loads, and then runs in a forward pass with the
 * adapter active. Seeds: tests/fuzz/corpus/fuzz_adapter (the fixture adapters). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "afm/adapter.h"
#include "afm/model.h"
#include "formats/gguf.h"
#include "model/adapter_internal.h"

static afm_model *g_model;
static afm_session *g_sess;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_model) {
        const char *src = getenv("AFM_SOURCE_DIR");
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/fixtures/adapter/base.gguf", src ? src : ".");
        afm_session_options so = {.n_ctx = 8, .n_threads = 1};
        if (afm_model_load(path, &g_model) != AFM_OK || afm_session_create(g_model, &so, &g_sess) != AFM_OK) {
            fprintf(stderr, "fuzz_adapter: %s\n", afm_last_error());
            abort();
        }
    }
    afm_gguf *g = NULL;
    if (afm_gguf_open_memory(data, size, &g) != AFM_OK) return 0;
    afm_adapter *a = NULL;
    afm_status st = afm_adapter_from_gguf(g_model, g, &a);
    afm_gguf_close(g);
    if (st != AFM_OK) {
        if (!afm_last_error()[0] || a) abort(); /* a refusal must say why and return nothing */
        return 0;
    }
    int32_t toks[3] = {1, 2, 3};
    float logits[3 * 64];
    if (afm_session_set_adapters(g_sess, &a, NULL, 1) != AFM_OK || afm_session_rewind(g_sess, 0) != AFM_OK ||
        afm_session_eval(g_sess, toks, 3, true, logits) != AFM_OK)
        abort();
    afm_session_set_adapters(g_sess, NULL, NULL, 0);
    afm_adapter_free(a);
    return 0;
}
