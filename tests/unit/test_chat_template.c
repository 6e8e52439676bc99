/* Chat templates against transformers/jinja2: every conversation x template family in
 * tests/fixtures/chat/cases.json (made by scripts/reference/make_chat_fixtures.py) must render
 * byte for byte as jinja2 rendered it, or fail where jinja2 failed, with the same message; the
 * feature templates likewise; syntax errors must be reported with jinja2's line; hostile
 * templates (deep nesting, runaway recursion and loops) must fail cleanly. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "tokenizer/chat_template.h"

static int g_fail, g_pass;

#define CHECK(cond, ...)                                                                                                \
    do {                                                                                                                \
        if (cond) g_pass++;                                                                                             \
        else { g_fail++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
    } while (0)

static const char *str_or_null(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void show_diff(const char *name, const char *want, const char *got, size_t got_len) {
    size_t wl = strlen(want), i = 0;
    while (i < wl && i < got_len && want[i] == got[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: first difference at byte %zu (want %zu bytes, got %zu)\n  want: ...%.*s\n  got:  ...%.*s\n", name, i, wl,
            got_len, (int)((wl - from) > 120 ? 120 : wl - from), want + from,
            (int)((got_len - from) > 120 ? 120 : got_len - from), got + from);
}

static void check_result(const char *what, afm_status st, char *out, size_t out_len, const cJSON *c) {
    const char *want = str_or_null(c, "expected"), *err = str_or_null(c, "error");
    if (want) {
        bool ok = st == AFM_OK && out_len == strlen(want) && !memcmp(out, want, out_len);
        CHECK(ok, "%s: output differs from jinja2 (status %d: %s)", what, (int)st, st ? afm_last_error() : "");
        if (!ok && st == AFM_OK) show_diff(what, want, out, out_len);
    } else {
        CHECK(st != AFM_OK, "%s: jinja2 failed (%s) but afm rendered", what, err ? err : "?");
        if (st != AFM_OK && err)
            CHECK(strstr(afm_last_error(), err) != NULL, "%s: error '%s' does not contain jinja2's '%s'", what, afm_last_error(), err);
    }
    free(out);
}

static void test_conversations(const cJSON *root) {
    const cJSON *templates = cJSON_GetObjectItemCaseSensitive(root, "templates");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    CHECK(cJSON_GetArraySize(cases) >= 120, "expected at least 120 conversation cases");
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *fam = str_or_null(c, "family"), *name = str_or_null(c, "name");
        const char *src = str_or_null(templates, fam);
        char what[128];
        snprintf(what, sizeof what, "%s/%s", fam, name);
        afm_chat_template *t = NULL;
        afm_status st = afm_chat_template_parse(src, strlen(src), &t);
        CHECK(st == AFM_OK, "%s: template does not parse: %s", what, afm_last_error());
        if (st != AFM_OK) continue;
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
        const cJSON *gen = cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt");
        afm_chat_options o = {.tools_json = str_or_null(c, "tools_json"), .add_generation_prompt = cJSON_IsTrue(gen),
                              .bos_token = str_or_null(c, "bos_token"), .eos_token = str_or_null(c, "eos_token"),
                              .extra_json = str_or_null(c, "extra_json")};
        char *out = NULL;
        size_t out_len = 0;
        st = afm_chat_template_render(t, m, (size_t)n, &o, &out, &out_len);
        check_result(what, st, out, out_len, c);
        free(m);
        afm_chat_template_free(t);
    }
}

static void test_features(const cJSON *root) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "features")) {
        const char *name = str_or_null(c, "name"), *src = str_or_null(c, "template"), *vars = str_or_null(c, "vars_json");
        char what[128];
        snprintf(what, sizeof what, "feature/%s", name);
        afm_chat_template *t = NULL;
        afm_status st = afm_chat_template_parse(src, strlen(src), &t);
        CHECK(st == AFM_OK, "%s: template does not parse: %s", what, afm_last_error());
        if (st != AFM_OK) continue;
        char *out = NULL;
        size_t out_len = 0;
        st = afm_chat_template_render_json(t, vars, strlen(vars), &out, &out_len);
        check_result(what, st, out, out_len, c);
        afm_chat_template_free(t);
    }
}

static void test_syntax_errors(const cJSON *root) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "syntax_errors")) {
        const char *name = str_or_null(c, "name"), *src = str_or_null(c, "template");
        int line = cJSON_GetObjectItemCaseSensitive(c, "line")->valueint;
        afm_chat_template *t = NULL;
        afm_status st = afm_chat_template_parse(src, strlen(src), &t);
        CHECK(st == AFM_ERR_FORMAT && !t, "syntax/%s: expected a syntax error, got status %d", name, (int)st);
        char want[48];
        snprintf(want, sizeof want, "line %d, column ", line);
        CHECK(st != AFM_OK && strstr(afm_last_error(), want), "syntax/%s: error '%s' lacks jinja2's '%s'", name, afm_last_error(), want);
        afm_chat_template_free(t);
    }
}

/* templates built to hurt: each must fail with a message (or render), never crash or hang */
static void test_hostile(void) {
    size_t depth = 20000;
    char *deep = malloc(depth * 2 + 16);
    strcpy(deep, "{{ ");
    size_t p = 3;
    for (size_t i = 0; i < depth; i++) deep[p++] = '(';
    deep[p++] = '1';
    for (size_t i = 0; i < depth; i++) deep[p++] = ')';
    strcpy(deep + p, " }}");
    afm_chat_template *t = NULL;
    afm_status st = afm_chat_template_parse(deep, strlen(deep), &t);
    CHECK(st == AFM_ERR_FORMAT && strstr(afm_last_error(), "nested too deeply"), "deep parentheses: %s", afm_last_error());
    free(deep);

    char *ifs = malloc(20000 * 10 + 16);
    for (int i = 0; i < 20000; i++) memcpy(ifs + i * 10, "{% if 1 %}", 10);
    ifs[20000 * 10] = 0;
    st = afm_chat_template_parse(ifs, strlen(ifs), &t);
    CHECK(st == AFM_ERR_FORMAT, "deep if nesting should fail");
    free(ifs);

    static const struct { const char *name, *src, *msg; } cases[] = {
        {"macro recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested too deeply"},
        {"runaway loop", "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}", "exceeded"},
        {"huge range", "{{ range(10000000) | length }}", "Range too big"},
        {"huge repetition", "{{ 'x' * 100000000000 }}", "too large"},
        {"int overflow", "{{ 9223372036854775807 + 1 }}", "overflow"},
        {"division by zero", "{{ 1 // 0 }}", "zero"},
        {"undefined call", "{{ nothing() }}", "'nothing' is undefined"},
        {"unpack mismatch", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", "unpack"},
        {"not iterable", "{% for x in 5 %}{% endfor %}", "not iterable"},
        {"setattr non-namespace", "{% set x = 1 %}{% set x.y = 2 %}", "non-namespace"},
        {"bad tojson", "{{ namespace() | tojson }}", "not JSON serializable"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st = afm_chat_template_parse(cases[i].src, strlen(cases[i].src), &t);
        CHECK(st == AFM_OK, "%s: parse failed: %s", cases[i].name, afm_last_error());
        if (st) continue;
        char *out = NULL;
        st = afm_chat_template_render_json(t, "{}", 2, &out, NULL);
        CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), cases[i].msg), "%s: want error with '%s', got %d '%s'",
              cases[i].name, cases[i].msg, (int)st, afm_last_error());
        free(out);
        afm_chat_template_free(t);
    }
}

/* the convenience API, bad JSON inputs, and afm's own template on a conversation with tools */
static void test_api(void) {
    afm_chat_message msgs[] = {
        {.role = "system", .content = "Be brief."},
        {.role = "user", .content = "Weather in Oslo?"},
        {.role = "assistant", .content = "", .tool_calls = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}}]"},
        {.role = "tool", .content = "-3 C", .name = "get_weather"},
    };
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{}}}]";
    char *out = NULL;
    afm_status st = afm_chat_render(afm_chat_template_afm, msgs, 4, tools, true, NULL, NULL, &out);
    const char *want = "<|system|>\nBe brief.\n\n<|tools|>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {}}}\n<|end_tools|><|end|>\n"
                       "<|user|>\nWeather in Oslo?<|end|>\n"
                       "<|assistant|>\n<|tool_call|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}<|end_tool_call|><|end|>\n"
                       "<|tool|>get_weather\n-3 C<|end|>\n<|assistant|>\n";
    CHECK(st == AFM_OK && !strcmp(out, want), "afm template: got %s (%s)", out ? out : "(null)", afm_last_error());
    free(out);

    st = afm_chat_render(afm_chat_template_afm, msgs, 2, "[{\"broken\": ", true, NULL, NULL, &out);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "tools: invalid JSON"), "bad tools JSON: %s", afm_last_error());
    CHECK(out == NULL, "no output on error");
    afm_chat_message bad = {.role = "assistant", .content = "x", .tool_calls = "{not json"};
    st = afm_chat_render(afm_chat_template_afm, &bad, 1, NULL, false, NULL, NULL, &out);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "tool_calls"), "bad tool_calls JSON: %s", afm_last_error());
    afm_chat_message norole = {.content = "x"};
    st = afm_chat_render(afm_chat_template_afm, &norole, 1, NULL, false, NULL, NULL, &out);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "no role"), "missing role: %s", afm_last_error());
    afm_chat_message odd = {.role = "narrator", .content = "x"};
    st = afm_chat_render(afm_chat_template_afm, &odd, 1, NULL, false, NULL, NULL, &out);
    CHECK(st == AFM_ERR_INVALID_ARG && strstr(afm_last_error(), "unknown role narrator"), "unknown role: %s", afm_last_error());
    st = afm_chat_render("{% if %}", msgs, 1, NULL, false, NULL, NULL, &out);
    CHECK(st == AFM_ERR_FORMAT && strstr(afm_last_error(), "line 1, column 7"), "syntax error position: %s", afm_last_error());
}

int main(void) {
    const char *srcdir = getenv("AFM_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/chat/cases.json", srcdir ? srcdir : ".");
    char *data = NULL;
    size_t size = 0;
    if (afm_read_file(path, &data, &size) != AFM_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, afm_last_error());
        return 1;
    }
    cJSON *root = cJSON_ParseWithLength(data, size);
    if (!root) {
        fprintf(stderr, "%s: not JSON\n", path);
        free(data);
        return 1;
    }
    test_conversations(root);
    test_features(root);
    test_syntax_errors(root);
    test_hostile();
    test_api();
    cJSON_Delete(root);
    free(data);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
