/* BFCL pieces on their own: the Python decoder's quirks (expected values are what bfcl-eval
 * 2026.3.23's default_decode_ast_prompting returns, shown as Python repr), the Java and
 * JavaScript type converters on the cases of bfcl-eval's own test_java_type_converter /
 * test_js_type_converter, Python float repr and ==, json int/float, standardize_string and the
 * regular-expression matcher (expected values from Python's re). The whole pipeline against
 * bfcl-eval is tests/cli/eval_bfcl.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "eval/bfcl.h"
#include "eval/minire.h"
#include "base/file.h"

static int failures = 0;
#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

static char *repr_of(const afm_pv *v) {
    afm_strbuf b;
    afm_sb_init(&b);
    afm_pv_repr(&b, v);
    return afm_sb_take(&b);
}

static void decode_case(const char *in, const char *want) {
    afm_pv *calls = NULL;
    afm_status st = afm_bfcl_decode(in, AFM_BFCL_PYTHON, &calls);
    if (!want) { CHECK(st != AFM_OK, "decode(%s) should fail", in); afm_pv_free(calls); return; }
    CHECK(st == AFM_OK, "decode(%s) failed", in);
    if (st != AFM_OK) return;
    char *r = repr_of(calls);
    CHECK(!strcmp(r, want), "decode(%s) = %s, want %s", in, r, want);
    free(r);
    afm_pv_free(calls);
}

static void java_case(const char *v, const char *type, const char *nested, const char *want) {
    afm_pv *p = afm_bfcl_java_convert(v, type, nested);
    char *r = p ? repr_of(p) : strdup("NULL");
    CHECK(!strcmp(r, want), "java_type_converter(%s, %s) = %s, want %s", v, type, r, want);
    free(r);
    afm_pv_free(p);
}

static void js_case(const char *v, const char *type, const char *nested, const char *want) {
    afm_pv *p = afm_bfcl_js_convert(v, type, nested);
    char *r = p ? repr_of(p) : strdup("NULL");
    CHECK(!strcmp(r, want), "js_type_converter(%s, %s) = %s, want %s", v, type, r, want);
    free(r);
    afm_pv_free(p);
}

static void float_case(double f, const char *want) {
    afm_strbuf b;
    afm_sb_init(&b);
    afm_pv_float_repr(&b, f);
    CHECK(b.s && !strcmp(b.s, want), "repr(%.17g) = %s, want %s", f, b.s, want);
    afm_sb_free(&b);
}

static void re_case(const char *pat, const char *s, bool search, int group, const char *want) {
    afm_re_match m;
    bool ok = search ? afm_re_search(pat, s, strlen(s), 0, true, &m) : afm_re_match_at(pat, s, strlen(s), 0, false, &m);
    if (!want) { CHECK(!ok, "re %s on %s should not match", pat, s); return; }
    CHECK(ok && m.set[group], "re %s on %s: no match", pat, s);
    if (!ok || !m.set[group]) return;
    size_t l = m.end[group] - m.start[group];
    CHECK(l == strlen(want) && !memcmp(s + m.start[group], want, l), "re %s on %s: group %d = %.*s, want %s", pat, s, group, (int)l, s + m.start[group], want);
}

/* the system prompt and message list equal bfcl-eval's (fixture from bfcl_reference.py) */
static void prompt_cases(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/tests/fixtures/eval/bfcl_prompts.jsonl", src ? src : ".");
    snprintf(p2, sizeof p2, "%s/tests/fixtures/eval/bfcl_items.jsonl", src ? src : ".");
    char *pt, *it;
    size_t pn, in;
    if (afm_read_file(p1, &pt, &pn) != AFM_OK || afm_read_file(p2, &it, &in) != AFM_OK) { CHECK(0, "fixtures %s, %s", p1, p2); return; }
    /* item lines */
    const char *lines[1024];
    size_t nl = 0;
    for (char *l = it; l && *l && nl < 1024; ) {
        lines[nl++] = l;
        char *e = strchr(l, '\n');
        if (!e) break;
        *e = '\0';
        l = e + 1;
    }
    int checked = 0;
    for (char *l = pt; l && *l; ) {
        char *e = strchr(l, '\n');
        if (e) *e = '\0';
        cJSON *want = cJSON_Parse(l);
        int idx = cJSON_GetObjectItem(want, "item")->valueint;
        const char *cat = cJSON_GetObjectItem(want, "category")->valuestring;
        const char *sys = cJSON_GetObjectItem(want, "system")->valuestring;
        afm_pv *item = NULL;
        afm_pv_parse_json(lines[idx], strlen(lines[idx]), &item, NULL);
        const afm_pv *fn = afm_pv_get(item, "function");
        char *got = afm_bfcl_system_prompt(cat, fn);
        CHECK(got && !strcmp(got, sys), "system prompt of %s differs:\n%s\n---\n%s", cat, got, sys);
        /* the message list, as plain text (no chat template) */
        cJSON *rec = cJSON_Parse(lines[idx]);
        afm_strbuf fj;
        afm_sb_init(&fj);
        afm_pv_dump_json(&fj, fn, -1);
        cJSON_ReplaceItemInObject(rec, "function", cJSON_CreateString(fj.s));
        cJSON_AddStringToObject(rec, "category", cat);
        char *prompt = NULL;
        bool special;
        CHECK(afm_bfcl_prompt(rec, NULL, &prompt, &special) == AFM_OK, "afm_bfcl_prompt");
        afm_strbuf w;
        afm_sb_init(&w);
        cJSON *m;
        int k = 0;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(want, "messages")) afm_sb_printf(&w, "%s%s", k++ ? "\n\n" : "", cJSON_GetObjectItem(m, "content")->valuestring);
        afm_sb_puts(&w, "\n\n");
        CHECK(prompt && w.s && !strcmp(prompt, w.s), "messages of %s differ", cat);
        free(prompt);
        afm_sb_free(&w);
        afm_sb_free(&fj);
        cJSON_Delete(rec);
        free(got);
        afm_pv_free(item);
        cJSON_Delete(want);
        checked++;
        l = e ? e + 1 : NULL;
    }
    CHECK(checked >= 11, "only %d prompts checked", checked);
    free(pt);
    free(it);
}

int main(void) {
    prompt_cases();
    /* BFCL's decoder, quirks included */
    decode_case("[f(a=+5)]", "[{'f': {'a': -5}}]");
    decode_case("[f(a=-True)]", "[{'f': {'a': -1}}]");
    decode_case("[f(a=not 1)]", "[{'f': {'a': -1}}]");
    decode_case("[f(x, a=1)]", "[{'f': {'a': 1}}]");
    decode_case("[f(a=2*3, b=2**0.5, c='a'+'b', d=7//2, e=-7%3)]", "[{'f': {'a': 6, 'b': 1.4142135623730951, 'c': 'ab', 'd': 3, 'e': 2}}]");
    decode_case("[f(a=g(1))]", "[{'f': {'a': 'g(1)'}}]");
    decode_case("[f(a=g(b=1))]", "[{'f': {'a': {'g': {'b': 1}}}}]");
    decode_case("[f(a=x[1:2])]", "[{'f': {'a': 'x[1:2]'}}]");
    decode_case("[f(a=math.pi)]", NULL);
    decode_case("[a.b.c(d=1)]", "[{'a.b.c': {'d': 1}}]");
    decode_case("f(a=[1, (2, 3)], b={'k': None}, c=...)", "[{'f': {'a': [1, (2, 3)], 'b': {'k': None}, 'c': '...'}}]");
    decode_case("  ```\n[f(a=True)]\n```", "[{'f': {'a': True}}]");
    decode_case("'[f(a=1)]'", NULL);
    decode_case("[f(a=1)] extra", NULL);
    decode_case("[f(a=f'x')]", NULL);
    decode_case("[f(a=1e3, b=0x1F, c=1_000, d='\\u00e9\\n')]", "[{'f': {'a': 1000.0, 'b': 31, 'c': 1000, 'd': '\xc3\xa9\\n'}}]");
    decode_case("[]", "[]");
    decode_case("I cannot help with that.", NULL);
    decode_case("[f(a=1, 2)]", NULL);
    decode_case("[f(a=0777)]", NULL);

    /* bfcl-eval's test_java_type_converter */
    java_case("true", "boolean", NULL, "True");
    java_case("123", "integer", NULL, "123");
    java_case("-123", "integer", NULL, "-123");
    java_case("3.14f", "float", NULL, "3.14");
    java_case("3.14", "double", NULL, "3.14");
    java_case("-123L", "long", NULL, "-123");
    java_case("a", "char", NULL, "'a'");
    java_case("new int[]{1, 2, 3}", "Array", NULL, "[1, 2, 3]");
    java_case("new ArrayList<>(Arrays.asList(\"a\", \"b\"))", "ArrayList", NULL, "['a', 'b']");
    java_case("new HashMap<String, String>() {{ put(\"key\", \"value\"); }}", "HashMap", NULL, "{'key': 'value'}");
    java_case("3e-3F", "float", NULL, "0.003");
    java_case("9223372036854775807L", "long", NULL, "9223372036854775807");
    java_case("123", "any", NULL, "'123'");
    java_case("new int[] { }", "Array", NULL, "[]");
    java_case("new ArrayList<>()", "ArrayList", NULL, "[]");
    java_case("new HashMap<>() {{ }}", "HashMap", NULL, "{}");
    java_case("new Object[]{1, \"abc\", true}", "Array", NULL, "[1, 'abc', True]");
    java_case("new HashMap<String, Object>() {{ put(\"key1\", 1); put(\"key2\", \"value\"); put(\"key3\", true); }}", "HashMap", NULL,
              "{'key1': 1, 'key2': 'value', 'key3': True}");
    java_case("new long[]{1L, 2, 3L}", "Array", "long", "[1, '2', 3]");
    java_case("new ArrayList<Float>() {{ add(1.0f); add(2.0f); add(3.0f); }}", "ArrayList", "float", "[1.0, 2.0, 3.0]");
    java_case("new ArrayList<Character>() {{ add('a'); add('b'); add('c'); }}", "ArrayList", "char", "['a', 'b', 'c']");
    java_case("abc", "integer", NULL, "'abc'");
    java_case("3.14", "float", NULL, "'3.14'");
    java_case("x", "Set", NULL, "NULL");

    /* bfcl-eval's test_js_type_converter */
    js_case("true", "Boolean", NULL, "True");
    js_case("123", "integer", NULL, "123");
    js_case("3.14", "float", NULL, "3.14");
    js_case("123n", "Bigint", NULL, "123");
    js_case("abc", "String", NULL, "'abc'");
    js_case("[1, 2, 3]", "array", NULL, "[1, 2, 3]");
    js_case("new Array(1, 2, 3)", "array", NULL, "[1, 2, 3]");
    js_case("{'key': 'value'}", "dict", NULL, "{'key': 'value'}");
    js_case("{'key': 123}", "dict", NULL, "{'key': 123}");
    js_case("{'key1': 123, 'key2': 'value', 'key3': false}", "dict", NULL, "{'key1': 123, 'key2': 'value', 'key3': False}");
    js_case("[]", "array", NULL, "[]");
    js_case("{}", "dict", NULL, "{}");
    js_case("[1, 'two', true]", "array", NULL, "[1, 'two', True]");
    js_case("-3.14", "float", NULL, "-3.14");
    js_case("123.45", "integer", NULL, "'123.45'");
    js_case("[[1, 2], [3, 4]]", "array", NULL, "[[1, 2], [3, 4]]");
    js_case("['a', 'b']", "array", "String", "['a', 'b']");

    /* Python float repr */
    float_case(0.1, "0.1");
    float_case(5.0, "5.0");
    float_case(1e16, "1e+16");
    float_case(1e15, "1000000000000000.0");
    float_case(1e-5, "1e-05");
    float_case(0.0001, "0.0001");
    float_case(1.0 / 3.0, "0.3333333333333333");
    float_case(-2.5e-7, "-2.5e-07");
    float_case(123456.789, "123456.789");

    /* json ints and floats, Python == */
    afm_pv *a = NULL, *b = NULL;
    afm_pv_parse_json("[5, 5.0, true, 1, [1], \"x\", null, 1e2]", 38, &a, NULL);
    CHECK(a && a->n == 8, "json list");
    if (a && a->n == 8) {
        CHECK(a->items[0]->type == AFM_PV_INT && a->items[1]->type == AFM_PV_FLOAT && a->items[7]->type == AFM_PV_FLOAT, "int/float kept");
        CHECK(afm_pv_eq(a->items[0], a->items[1]) && afm_pv_eq(a->items[2], a->items[3]), "5 == 5.0, True == 1");
        b = afm_pv_list(AFM_PV_TUPLE);
        afm_pv_push(b, afm_pv_int(1));
        CHECK(!afm_pv_eq(a->items[4], b), "[1] != (1,)");
        afm_strbuf s;
        afm_sb_init(&s);
        afm_pv_dump_json(&s, a, -1);
        CHECK(s.s && !strcmp(s.s, "[5, 5.0, true, 1, [1], \"x\", null, 100.0]"), "json.dumps: %s", s.s);
        afm_sb_free(&s);
    }
    afm_pv_free(a);
    afm_pv_free(b);

    char *st = afm_bfcl_standardize("April 1, 2024 - It's_*^/.", 25);
    CHECK(st && !strcmp(st, "april12024it\"s"), "standardize: %s", st);
    free(st);
    st = afm_bfcl_standardize("\xc3\x89T\xc3\x89", 5);
    CHECK(st && !strcmp(st, "\xc3\xa9t\xc3\xa9"), "standardize lowercases non-ASCII: %s", st);
    free(st);

    /* regular expressions (Python re results) */
    re_case("new\\s+ArrayList<\\w*>\\(Arrays\\.asList\\((.+?)\\)\\)", "x new ArrayList<>(Arrays.asList(\"a\", f(1)), \"b\"))", true, 1, "\"a\", f(1");
    re_case("\\[(.*?)\\]|\\bnew\\s+Array\\((.*?)\\)", "new Array(1, 2)", false, 2, "1, 2");
    re_case("^-?\\d+(\\.\\d+)?$", "12.5\n", false, 0, "12.5");
    re_case("^-?\\d+(\\.\\d+)?$", "12.", false, 0, NULL);
    re_case("([^:]+):\\s*(.*?)(?:,\\s*(?=[^,]+:)|$)", "'a': 1, 'b': [1, 2]", true, 2, "1");
    re_case("a{2,3}?b", "aaab", true, 0, "aaab");

    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("ok\n");
    return 0;
}
