/* GSM8K and MATH answer extraction: against lm-evaluation-harness's own regexes and Hendrycks
 * MATH normalization (fixtures from scripts/reference/math_answers.py), plus hand-checked
 * tricky cases for afm_math_equiv's value comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "eval/answer.h"
#include "base/file.h"

static int g_fail;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); g_fail++; } } while (0)

static const char *str_or_null(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static char **read_lines(const char *dir, const char *name, size_t *n, char **buf) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t size;
    if (afm_read_file(path, buf, &size) != AFM_OK) { CHECK(0, "cannot read %s", path); *n = 0; return NULL; }
    size_t cap = 1024, k = 0;
    char **lines = malloc(cap * sizeof *lines);
    char *save = NULL;
    for (char *l = strtok_r(*buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (k == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[k++] = l;
    }
    *n = k;
    return lines;
}

static void test_gsm8k_fixture(const char *src) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/eval", src);
    char *buf; size_t n;
    char **lines = read_lines(dir, "gsm8k_extract.jsonl", &n, &buf);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_Parse(lines[i]);
        const char *resp = str_or_null(e, "response"), *ref = str_or_null(e, "reference");
        char *s = afm_gsm8k_extract_strict(resp), *f = afm_gsm8k_extract_flexible(resp);
        int sm = afm_gsm8k_match(s ? s : "[invalid]", ref), fm = afm_gsm8k_match(f ? f : "[invalid]", ref);
        if (!same(s, str_or_null(e, "strict")) || !same(f, str_or_null(e, "flexible")) ||
            sm != cJSON_IsTrue(cJSON_GetObjectItem(e, "strict_match")) || fm != cJSON_IsTrue(cJSON_GetObjectItem(e, "flexible_match"))) {
            if (bad++ < 10) CHECK(0, "gsm8k %zu: %.60s... strict %s/%s flexible %s/%s match %d,%d", i, resp, s ? s : "(none)",
                                  str_or_null(e, "strict") ? str_or_null(e, "strict") : "(none)", f ? f : "(none)",
                                  str_or_null(e, "flexible") ? str_or_null(e, "flexible") : "(none)", sm, fm);
        }
        free(s); free(f);
        cJSON_Delete(e);
    }
    CHECK(n > 400, "only %zu gsm8k cases", n);
    printf("gsm8k: %zu responses, %d disagree with lm-eval\n", n, bad);
    if (bad) g_fail++;
    free(lines); free(buf);
}

static void test_math_fixture(const char *src, const char *shared) {
    char dir[4096], ddir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/eval", src);
    snprintf(ddir, sizeof ddir, "%s/data/math", shared);
    char *buf, *dbuf; size_t n, nd;
    char **lines = read_lines(dir, "math_extract.jsonl", &n, &buf);
    char **data = read_lines(ddir, "math_test5000.jsonl", &nd, &dbuf);
    int bad = 0, n_sol = 0, n_pair = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_Parse(lines[i]);
        cJSON *idx = cJSON_GetObjectItem(e, "i");
        if (idx) {
            if (idx->valueint < 0 || (size_t)idx->valueint >= nd) { CHECK(0, "index"); cJSON_Delete(e); continue; }
            cJSON *row = cJSON_Parse(data[idx->valueint]);
            const char *sol = str_or_null(row, "solution");
            char *boxed = afm_math_last_boxed(sol);
            char *ans = afm_math_remove_boxed(boxed);
            char *st = ans ? afm_math_strip_string(ans) : NULL;
            if (!same(ans, str_or_null(e, "answer")) || !same(st, str_or_null(e, "strip"))) {
                if (bad++ < 10) CHECK(0, "solution %d: answer %s (want %s) strip %s (want %s)", idx->valueint, ans ? ans : "(none)",
                                      str_or_null(e, "answer") ? str_or_null(e, "answer") : "(none)", st ? st : "(none)",
                                      str_or_null(e, "strip") ? str_or_null(e, "strip") : "(none)");
            }
            free(boxed); free(ans); free(st);
            cJSON_Delete(row);
            n_sol++;
        } else {
            const char *p = str_or_null(e, "pred"), *g = str_or_null(e, "gold");
            char *st = afm_math_strip_string(p);
            int eq = afm_math_equiv_hendrycks(p, g);
            if (!same(st, str_or_null(e, "strip")) || eq != cJSON_IsTrue(cJSON_GetObjectItem(e, "equiv"))) {
                if (bad++ < 10) CHECK(0, "pair '%s' vs '%s': strip %s (want %s), equiv %d", p, g, st ? st : "(raise)",
                                      str_or_null(e, "strip") ? str_or_null(e, "strip") : "(raise)", eq);
            }
            /* the extension may only add matches */
            if (cJSON_IsTrue(cJSON_GetObjectItem(e, "equiv"))) CHECK(afm_math_equiv(p, g), "extended lost '%s' vs '%s'", p, g);
            free(st);
            n_pair++;
        }
        cJSON_Delete(e);
    }
    CHECK(n_sol == 5000 && n_pair > 8000, "%d solutions, %d pairs", n_sol, n_pair);
    printf("math: %d solutions + %d pairs, %d disagree with lm-eval hendrycks_math\n", n_sol, n_pair, bad);
    if (bad) g_fail++;
    free(lines); free(buf); free(data); free(dbuf);
}

static void test_tricky(void) {
    /* GSM8K, by the lm-eval regexes read by hand */
    /* the regex's final "." takes any character: a one-digit answer at the very end does not
     * match at all, and "18" at the end is cut to "1" */
    char *s = afm_gsm8k_extract_strict("So she has 23 - 15 = 8 dollars left. The answer is 8");
    CHECK(s == NULL, "strict: one digit at the end: got %s", s ? s : "(none)");
    free(s);
    s = afm_gsm8k_extract_strict("The answer is 18");
    CHECK(s && strcmp(s, "1") == 0, "strict: '18' at the end: got %s", s ? s : "(none)");
    free(s);
    s = afm_gsm8k_extract_strict("The answer is 1,234.\nQ:");
    CHECK(s && afm_gsm8k_match(s, "1234"), "strict: %s", s ? s : "(none)");
    free(s);
    s = afm_gsm8k_extract_flexible("Total is $1,234.50 and then -7 apples, finally 42.");
    CHECK(s && strcmp(s, "42.") == 0 && afm_gsm8k_match(s, "42"), "flexible last number: %s", s ? s : "(none)");
    free(s);
    s = afm_gsm8k_extract_flexible("she owes -3 dollars");
    CHECK(s && strcmp(s, "-3") == 0 && afm_gsm8k_match(s, "-3"), "negative: %s", s ? s : "(none)");
    free(s);
    s = afm_gsm8k_extract_flexible("It costs $1,200.");
    CHECK(s && afm_gsm8k_match(s, "1200"), "commas and $: %s", s ? s : "(none)");
    free(s);
    s = afm_gsm8k_reference("5 * 2 = <<5*2=10>>10\n#### 1,000");
    CHECK(s && strcmp(s, "1,000") == 0 && afm_gsm8k_match("1000", s), "reference: %s", s ? s : "(none)");
    free(s);
    CHECK(afm_gsm8k_extract_flexible("no digits at all") == NULL, "no number -> invalid");

    /* MATH: extraction */
    char *a = afm_math_extract("so $x = 2$ and the answer is $\\boxed{\\frac{1}{2}}$.");
    CHECK(a && strcmp(a, "\\frac{1}{2}") == 0, "boxed: %s", a ? a : "(none)");
    free(a);
    a = afm_math_extract("nested \\boxed{\\left(1, \\sqrt{2}\\right)} end");
    CHECK(a && strcmp(a, "\\left(1, \\sqrt{2}\\right)") == 0, "nested braces: %s", a ? a : "(none)");
    free(a);
    a = afm_math_extract("first \\boxed{1} then \\boxed{2}");
    CHECK(a && strcmp(a, "2") == 0, "last boxed: %s", a ? a : "(none)");
    free(a);
    a = afm_math_extract("unbalanced \\boxed{3");
    CHECK(a && strcmp(a, "unbalanced \\boxed{3") == 0, "unbalanced -> whole text: %s", a ? a : "(none)");
    free(a);
    /* MATH: equivalence, Hendrycks and the value extension */
    CHECK(afm_math_equiv("\\dfrac{3}{4}", "\\frac34"), "dfrac vs frac34");
    CHECK(afm_math_equiv("3/4", "\\frac{3}{4}"), "a/b");
    CHECK(afm_math_equiv("0.5", "\\frac{1}{2}"), "0.5");
    CHECK(afm_math_equiv("1,000", "1000"), "thousands comma");
    CHECK(afm_math_equiv("5.00", "5"), "trailing zeros");
    CHECK(afm_math_equiv("-\\frac{1}{3}", "\\frac{-1}{3}"), "negative fraction");
    CHECK(afm_math_equiv("10\\text{ cm}", "10"), "units");
    CHECK(afm_math_equiv("\\$18.90", "18.90"), "dollar");
    CHECK(afm_math_equiv("12 \\text{dollars}", "12"), "text units");
    CHECK(afm_math_equiv("\\text{(C)}", "(C)"), "text wrapper");
    CHECK(afm_math_equiv("90^\\circ", "90"), "degrees");
    CHECK(afm_math_equiv("x = 5", "5"), "x =");
    CHECK(!afm_math_equiv("5", "-5"), "sign matters");
    CHECK(!afm_math_equiv("\\frac{1}{3}", "0.33"), "no rounding");
    CHECK(!afm_math_equiv("12", "120"), "digits matter");
    CHECK(!afm_math_equiv("(1,2)", "(2,1)"), "tuples keep order");
    /* invalid UTF-8 after \frac / \sqrt (a lead byte promising more bytes than remain) must not
     * read or copy past the string: found by fuzz_eval; ASan checks this run */
    CHECK(!afm_math_equiv("\\frac" "c\x95\xe9i", "1"), "invalid UTF-8 after frac");
    CHECK(!afm_math_equiv("\\fracc\xf0", "1"), "truncated UTF-8 after frac");
    CHECK(!afm_math_equiv("\\sqrt\xe9", "1"), "truncated UTF-8 after sqrt");
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR"), *shared = getenv("AFM_SHARED");
    if (!src || !shared) { fprintf(stderr, "AFM_SOURCE_DIR and AFM_SHARED must be set\n"); return 1; }
    test_tricky();
    test_gsm8k_fixture(src);
    test_math_fixture(src, shared);
    if (g_fail) { fprintf(stderr, "%d failures\n", g_fail); return 1; }
    printf("ok\n");
    return 0;
}
