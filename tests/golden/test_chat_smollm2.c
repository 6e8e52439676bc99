/* Golden: the chat template stored in the real SmolLM2-135M-Instruct GGUF (models/, fetched by
 * scripts/fetch_smollm2.sh) is the fixture template byte for byte, and rendered straight from the
 * GGUF it reproduces jinja2's outputs for every SmolLM2 conversation in cases.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "formats/gguf.h"
#include "tokenizer/chat_template.h"

static const char *str_or_null(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src ? src : ".");
    if (!afm_file_exists(path)) {
        printf("SKIP: %s not found (run scripts/fetch_smollm2.sh)\n", path);
        return 0;
    }
    afm_gguf *g;
    if (afm_gguf_open(path, &g) != AFM_OK) {
        fprintf(stderr, "FAIL: %s\n", afm_last_error());
        return 1;
    }
    const char *tpl;
    size_t tpl_len;
    if (!afm_gguf_get_str(g, "tokenizer.chat_template", &tpl, &tpl_len)) {
        fprintf(stderr, "FAIL: no tokenizer.chat_template in %s\n", path);
        afm_gguf_close(g);
        return 1;
    }
    int fails = 0, passes = 0;
    char fpath[4096];
    snprintf(fpath, sizeof fpath, "%s/tests/fixtures/chat/templates/smollm2.jinja", src ? src : ".");
    char *fixture = NULL;
    size_t flen = 0;
    if (afm_read_file(fpath, &fixture, &flen) != AFM_OK || flen != tpl_len || memcmp(fixture, tpl, flen)) {
        fprintf(stderr, "FAIL: GGUF chat template differs from %s\n", fpath);
        fails++;
    } else passes++;
    free(fixture);

    afm_chat_template *t;
    if (afm_chat_template_parse(tpl, tpl_len, &t) != AFM_OK) {
        fprintf(stderr, "FAIL: %s\n", afm_last_error());
        afm_gguf_close(g);
        return 1;
    }
    snprintf(fpath, sizeof fpath, "%s/tests/fixtures/chat/cases.json", src ? src : ".");
    char *data = NULL;
    size_t size = 0;
    cJSON *root = NULL;
    if (afm_read_file(fpath, &data, &size) != AFM_OK || !(root = cJSON_ParseWithLength(data, size))) {
        fprintf(stderr, "FAIL: cannot read %s\n", fpath);
        free(data);
        afm_chat_template_free(t);
        afm_gguf_close(g);
        return 1;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        if (strcmp(str_or_null(c, "family"), "smollm2")) continue;
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "c_messages");
        int n = cJSON_GetArraySize(msgs);
        afm_chat_message *m = calloc((size_t)n + 1, sizeof *m);
        for (int i = 0; i < n; i++) {
            const cJSON *x = cJSON_GetArrayItem(msgs, i);
            m[i].role = str_or_null(x, "role");
            m[i].content = str_or_null(x, "content");
            m[i].tool_calls = str_or_null(x, "tool_calls");
            m[i].tool_call_id = str_or_null(x, "tool_call_id");
            m[i].name = str_or_null(x, "name");
            m[i].reasoning_content = str_or_null(x, "reasoning_content");
        }
        afm_chat_options o = {.tools_json = str_or_null(c, "tools_json"),
                              .add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt")),
                              .bos_token = str_or_null(c, "bos_token"), .eos_token = str_or_null(c, "eos_token"),
                              .extra_json = str_or_null(c, "extra_json")};
        char *out = NULL;
        const char *want = str_or_null(c, "expected"), *err = str_or_null(c, "error");
        afm_status st = afm_chat_template_render(t, m, (size_t)n, &o, &out, NULL);
        bool ok = want ? (st == AFM_OK && !strcmp(out, want)) /* jinja2 rendered this */
                       : (st != AFM_OK && err && strstr(afm_last_error(), err)); /* jinja2 failed: so must we */
        if (!ok) {
            fprintf(stderr, "FAIL: smollm2/%s: %s\n", str_or_null(c, "name"), st ? afm_last_error() : "output differs");
            fails++;
        } else passes++;
        free(out);
        free(m);
    }
    cJSON_Delete(root);
    free(data);
    afm_chat_template_free(t);
    afm_gguf_close(g);
    printf("%d passed, %d failed\n", passes, fails);
    return fails != 0 || passes < 20;
}
