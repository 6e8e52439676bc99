/* libFuzzer target for the BFCL decoders and checker: arbitrary bytes as a model response in
 * Python, Java and JavaScript, graded against one item of each kind; also as JSON (the data
 * parser) and through the type converters and the regular-expression matcher. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "eval/bfcl.h"
#include "eval/minire.h"

static const char *k_fn =
    "[{\"name\": \"f\", \"parameters\": {\"type\": \"dict\", \"properties\": {\"a\": {\"type\": \"integer\"},"
    " \"b\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"c\": {\"type\": \"dict\"},"
    " \"d\": {\"type\": \"ArrayList\", \"items\": {\"type\": \"String\"}}, \"e\": {\"type\": \"float\"}},"
    " \"required\": [\"a\"]}}]";
static const char *k_gt = "[{\"f\": {\"a\": [1], \"b\": [[\"x\"], \"\"], \"c\": [{\"k\": [1]}, \"\"], \"d\": [[\"y\"], \"\"], \"e\": [1.5, \"\"]}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    afm_pv *fn = NULL, *gt = NULL;
    afm_pv_parse_json(k_fn, strlen(k_fn), &fn, NULL);
    afm_pv_parse_json(k_gt, strlen(k_gt), &gt, NULL);
    static const char *const cats[] = {"simple_python", "parallel_multiple", "simple_java", "simple_javascript", "irrelevance"};
    for (int k = 0; k < 5; k++) {
        afm_bfcl_verdict v = {0};
        afm_bfcl_grade(cats[k], fn, gt, s, &v);
        afm_sb_free(&v.error);
    }
    afm_pv *j = NULL;
    if (afm_pv_parse_json(s, size, &j, NULL) == AFM_OK) {
        afm_strbuf b;
        afm_sb_init(&b);
        afm_pv_dump_json(&b, j, 4);
        afm_pv_repr(&b, j);
        afm_sb_free(&b);
        afm_pv_free(j);
    }
    static const char *const jt[] = {"integer", "float", "double", "long", "boolean", "ArrayList", "Array", "HashMap", "String"};
    for (int k = 0; k < 9; k++) afm_pv_free(afm_bfcl_java_convert(s, jt[k], k == 5 || k == 6 ? "integer" : NULL));
    static const char *const st[] = {"String", "integer", "float", "Bigint", "Boolean", "dict", "array", "any"};
    for (int k = 0; k < 8; k++) afm_pv_free(afm_bfcl_js_convert(s, st[k], k == 6 ? "integer" : NULL));
    afm_re_match m;
    afm_re_search("([^:]+):\\s*(.*?)(?:,\\s*(?=[^,]+:)|$)", s, size, 0, true, &m);
    afm_pv_free(fn);
    afm_pv_free(gt);
    free(s);
    return 0;
}
