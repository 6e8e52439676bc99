/* safetensors import: afm convert on tiny Hugging Face checkpoints (config.json +
 * model.safetensors with f32 and f16 tensors; Llama with q/k rows in rotate-half order that must
 * be permuted for GGUF `llama`, and Qwen3 kept as is) must give the logits HF transformers
 * computed for the same checkpoint (scripts/reference/make_hf_checkpoints.py), within 1e-5 of
 * each row's largest logit. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "afm/afm.h"
#include "base/file.h"
#include "model/convert.h"

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    if (!src) { printf("AFM_SOURCE_DIR is not set\n"); return 1; }
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/fixtures/hf/index.json", src);
    char *text;
    if (afm_read_file(path, &text, NULL) != AFM_OK) { printf("%s\n", afm_last_error()); return 1; }
    cJSON *ix = cJSON_Parse(text);
    free(text);
    int failures = 0, n_cases = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ix, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        cJSON *toks = cJSON_GetObjectItem(c, "tokens");
        int T = cJSON_GetArraySize(toks), V = cJSON_GetObjectItem(c, "n_vocab")->valueint;
        char dir[2048], ref_path[2200], out[256];
        snprintf(dir, sizeof dir, "%s/tests/fixtures/hf/%s", src, name);
        snprintf(ref_path, sizeof ref_path, "%s/logits.f32", dir);
        snprintf(out, sizeof out, "convert_hf_%s.gguf", name);
        afm_convert_options o = {NULL, -1};
        afm_model *m = NULL;
        afm_session *s = NULL;
        if (afm_convert(dir, out, &o, NULL) != AFM_OK || afm_model_load(out, &m) != AFM_OK ||
            afm_session_create(m, &(afm_session_options){.n_ctx = 64, .n_threads = 1}, &s) != AFM_OK) {
            printf("FAIL %s: %s\n", name, afm_last_error());
            failures++;
            afm_model_free(m);
            continue;
        }
        int32_t *ids = malloc(sizeof(int32_t) * T);
        for (int t = 0; t < T; t++) ids[t] = cJSON_GetArrayItem(toks, t)->valueint;
        float *lg = malloc(sizeof(float) * T * V), *ref;
        size_t nref;
        afm_read_file(ref_path, (char **)&ref, &nref);
        double worst = 0;
        if (nref != sizeof(float) * (size_t)T * V || afm_session_eval(s, ids, T, true, lg) != AFM_OK) {
            printf("FAIL %s: bad reference or eval (%s)\n", name, afm_last_error());
            failures++;
        } else {
            for (int t = 0; t < T; t++) {
                double mx = 1e-6, err = 0;
                for (int v = 0; v < V; v++) mx = fmax(mx, fabs(ref[t * V + v]));
                for (int v = 0; v < V; v++) err = fmax(err, fabs(lg[t * V + v] - ref[t * V + v]));
                worst = fmax(worst, err / mx);
            }
            printf("%-28s %-6s worst relative logit error vs HF transformers: %.2e\n", name,
                   afm_model_config(m)->arch, worst);
            if (!(worst <= 1e-5)) { printf("FAIL %s\n", name); failures++; }
        }
        n_cases++;
        free(ids); free(lg); free(ref);
        afm_session_free(s);
        afm_model_free(m);
        remove(out);
    }
    cJSON_Delete(ix);
    if (n_cases < 3) { printf("FAIL: expected 3 cases, ran %d\n", n_cases); return 1; }
    return failures ? 1 : 0;
}
