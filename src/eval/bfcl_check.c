/* BFCL's AST checker (eval_checker/ast_eval/ast_checker.py) and the single-turn evaluation
 * around it (eval_runner.py: _evaluate_single_ast_entry, _evaluate_single_relevance_entry),
 * step for step: the same order of checks, the same error_type strings, Python's type() and ==
 * semantics (bool is not int; 1 == 1.0; list != tuple). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/bfcl.h"
#include "eval/text.h"

static void verdict(afm_bfcl_verdict *v, bool valid, const char *type, const char *fmt, const char *a, const char *b) {
    v->valid = valid;
    snprintf(v->error_type, sizeof v->error_type, "%s", valid ? "" : type);
    afm_sb_free(&v->error);
    afm_sb_init(&v->error);
    if (!valid && fmt) afm_sb_printf(&v->error, fmt, a ? a : "", b ? b : "");
}

static void ok(afm_bfcl_verdict *v) { verdict(v, true, "", NULL, NULL, NULL); }

char *afm_bfcl_standardize(const char *s, size_t n) {
    afm_strbuf b;
    afm_sb_init(&b);
    for (size_t k = 0; k < n; k++)
        if (!strchr(" ,./-_*^", s[k]) || !s[k]) afm_sb_append(&b, s[k] == '\'' ? "\"" : s + k, 1);
    char *t = afm_sb_take(&b);
    char *lower = t ? afm_py_lower_str(t, strlen(t)) : NULL;
    free(t);
    return lower;
}

/* standardized copy of a value: str -> standardize_string(str), others unchanged */
static afm_pv *std_copy(const afm_pv *v) {
    if (v->type != AFM_PV_STR) return afm_pv_copy(v);
    char *s = afm_bfcl_standardize(v->s, v->len);
    afm_pv *r = s ? afm_pv_str(s, strlen(s)) : NULL;
    free(s);
    return r;
}

static bool dict_has(const afm_pv *d, const afm_pv *key) { return d && d->type == AFM_PV_DICT && afm_pv_dict_find(d, key) >= 0; }
static bool is_empty_str(const afm_pv *v) { return v->type == AFM_PV_STR && v->len == 0; }
static bool contains_empty(const afm_pv *list) {
    if (!list || (list->type != AFM_PV_LIST && list->type != AFM_PV_TUPLE)) return false;
    for (size_t k = 0; k < list->n; k++) if (is_empty_str(list->items[k])) return true;
    return false;
}

/* ---------------------------------------------------------------- types */

#define T_NONE ((afm_pv_type)-1)

/* PYTHON_TYPE_MAPPING / JAVA_TYPE_CONVERSION / JS_TYPE_CONVERSION; T_NONE + *known=false if absent */
static afm_pv_type map_type(afm_bfcl_lang lang, const char *t, bool *known) {
    static const struct { const char *name; afm_pv_type type; } py[] = {
        {"string", AFM_PV_STR}, {"integer", AFM_PV_INT}, {"float", AFM_PV_FLOAT}, {"boolean", AFM_PV_BOOL},
        {"array", AFM_PV_LIST}, {"tuple", AFM_PV_LIST}, {"dict", AFM_PV_DICT}, {"any", AFM_PV_STR}, {NULL, 0}};
    static const struct { const char *name; afm_pv_type type; } java[] = {
        {"byte", AFM_PV_INT}, {"short", AFM_PV_INT}, {"integer", AFM_PV_INT}, {"float", AFM_PV_FLOAT},
        {"double", AFM_PV_FLOAT}, {"long", AFM_PV_INT}, {"boolean", AFM_PV_BOOL}, {"char", AFM_PV_STR},
        {"Array", AFM_PV_LIST}, {"ArrayList", AFM_PV_LIST}, {"Set", T_NONE}, {"HashMap", AFM_PV_DICT},
        {"Hashtable", AFM_PV_DICT}, {"Queue", AFM_PV_LIST}, {"Stack", AFM_PV_LIST}, {"String", AFM_PV_STR},
        {"any", AFM_PV_STR}, {NULL, 0}};
    static const struct { const char *name; afm_pv_type type; } js[] = {
        {"String", AFM_PV_STR}, {"integer", AFM_PV_INT}, {"float", AFM_PV_FLOAT}, {"Bigint", AFM_PV_INT},
        {"Boolean", AFM_PV_BOOL}, {"dict", AFM_PV_DICT}, {"array", AFM_PV_LIST}, {"any", AFM_PV_STR}, {NULL, 0}};
    const void *tab = lang == AFM_BFCL_JAVA ? (const void *)java : lang == AFM_BFCL_JAVASCRIPT ? (const void *)js : (const void *)py;
    const struct { const char *name; afm_pv_type type; } *e = tab;
    for (; e->name; e++)
        if (t && !strcmp(e->name, t)) { *known = true; return e->type; }
    *known = false;
    return T_NONE;
}

static const char *py_type_name(afm_pv_type t) {
    switch (t) {
    case AFM_PV_STR: return "str";
    case AFM_PV_INT: return "int";
    case AFM_PV_FLOAT: return "float";
    case AFM_PV_BOOL: return "bool";
    case AFM_PV_LIST: return "list";
    case AFM_PV_DICT: return "dict";
    default: return "set";
    }
}

/* get_possible_answer_type: type of the first answer that is not "" */
static afm_pv_type answer_type(const afm_pv *pa) {
    if (!pa || (pa->type != AFM_PV_LIST && pa->type != AFM_PV_TUPLE)) return T_NONE;
    for (size_t k = 0; k < pa->n; k++) if (!is_empty_str(pa->items[k])) return pa->items[k]->type;
    return T_NONE;
}

static void type_checker(const char *param, const afm_pv *value, const afm_pv *pa, const char *desc, afm_pv_type expected,
                         afm_pv_type nested, afm_bfcl_verdict *v, bool *is_variable) {
    ok(v);
    snprintf(v->error_type, sizeof v->error_type, "type_error:simple");
    afm_pv_type pat = answer_type(pa);
    *is_variable = pat != T_NONE && pat != expected;
    bool nested_failed = false;
    if (value->type == expected) {
        if (nested == T_NONE) { v->error_type[0] = '\0'; return; }
        for (size_t k = 0; pa && k < pa->n; k++) {
            const afm_pv *item = pa->items[k];
            bool flag = true;
            if (item->type == AFM_PV_LIST) {
                for (size_t j = 0; j < value->n && flag; j++) {
                    afm_bfcl_verdict sub = {0};
                    bool var;
                    type_checker(param, value->items[j], item, py_type_name(nested), nested, T_NONE, &sub, &var);
                    flag = sub.valid;
                    afm_sb_free(&sub.error);
                }
            }
            if (flag) { ok(v); return; }
        }
        verdict(v, false, "type_error:nested", "Nested type checking failed for parameter '%s'. Expected outer type %s.", param, desc);
        nested_failed = true;
    }
    if (pat != T_NONE && value->type == pat) { *is_variable = true; return; } /* result as it stands (invalid after a nested failure) */
    if (nested_failed) {
        afm_sb_printf(&v->error, " ");
    } else {
        v->valid = false;
    }
    v->valid = false;
    snprintf(v->error_type, sizeof v->error_type, "type_error:simple");
    afm_sb_printf(&v->error, "Incorrect type for parameter '%s'. Expected type %s, got %s.", param, desc, afm_pv_type_name(value));
}

/* ---------------------------------------------------------------- value checkers */

static void string_checker(const char *param, const afm_pv *value, const afm_pv *pa, afm_bfcl_verdict *v) {
    afm_pv *sv = std_copy(value);
    bool found = false;
    for (size_t k = 0; sv && pa && k < pa->n && !found; k++) {
        if (pa->items[k]->type != AFM_PV_STR) continue;
        afm_pv *sa = std_copy(pa->items[k]);
        found = sa && afm_pv_eq(sv, sa);
        afm_pv_free(sa);
    }
    afm_pv_free(sv);
    if (found) ok(v);
    else verdict(v, false, "value_error:string", "Invalid value for parameter '%s': '%s'. Case insensitive.", param, value->s);
}

/* each possible answer iterated as a list (a str iterates over its characters, as in Python) */
static afm_pv *as_std_list(const afm_pv *a) {
    afm_pv *l = afm_pv_list(AFM_PV_LIST);
    if (!l) return NULL;
    if (a->type == AFM_PV_STR) {
        for (size_t k = 0; k < a->len;) {
            size_t cl;
            afm_u8_decode(a->s + k, a->len - k, &cl);
            afm_pv *c = afm_pv_str(a->s + k, cl), *sc = c ? std_copy(c) : NULL;
            afm_pv_free(c);
            if (afm_pv_push(l, sc) != AFM_OK) { afm_pv_free(l); return NULL; }
            k += cl;
        }
    } else if (a->type == AFM_PV_LIST || a->type == AFM_PV_TUPLE) {
        for (size_t k = 0; k < a->n; k++)
            if (afm_pv_push(l, std_copy(a->items[k])) != AFM_OK) { afm_pv_free(l); return NULL; }
    } else {
        afm_pv_free(l);
        return NULL;
    }
    return l;
}

static void list_checker(const char *param, const afm_pv *value, const afm_pv *pa, afm_bfcl_verdict *v) {
    afm_pv *sv = afm_pv_list(AFM_PV_LIST);
    for (size_t k = 0; sv && k < value->n; k++)
        if (afm_pv_push(sv, std_copy(value->items[k])) != AFM_OK) sv = NULL;
    bool found = false;
    for (size_t k = 0; sv && pa && k < pa->n && !found; k++) {
        afm_pv *sa = as_std_list(pa->items[k]);
        found = sa && afm_pv_eq(sv, sa);
        afm_pv_free(sa);
    }
    afm_pv_free(sv);
    if (found) ok(v);
    else verdict(v, false, "value_error:list/tuple", "Invalid value for parameter '%s'.%s", param, "");
}

static void dict_checker(const char *param, const afm_pv *value, const afm_pv *pas, afm_bfcl_verdict *v) {
    verdict(v, false, "dict_checker:unclear", "dict_checker: no possible answer for parameter '%s'%s", param, "");
    for (size_t i = 0; pas && i < pas->n; i++) {
        const afm_pv *pa = pas->items[i];
        if (is_empty_str(pa)) continue;
        verdict(v, false, "dict_checker:unclear", NULL, NULL, NULL);
        bool flag = true;
        for (size_t k = 0; k < value->n; k++) {
            const afm_pv *key = value->keys[k];
            if (!dict_has(pa, key)) {
                verdict(v, false, "value_error:dict_key", "Unexpected dict key parameter: '%s'.%s", key->type == AFM_PV_STR ? key->s : "?", "");
                flag = false;
                break;
            }
            const afm_pv *answers = pa->items[afm_pv_dict_find(pa, key)];
            afm_pv *sv = std_copy(value->items[k]);
            bool found = false;
            for (size_t j = 0; sv && answers && (answers->type == AFM_PV_LIST || answers->type == AFM_PV_TUPLE) && j < answers->n && !found; j++) {
                afm_pv *sa = std_copy(answers->items[j]);
                found = sa && afm_pv_eq(sv, sa);
                afm_pv_free(sa);
            }
            afm_pv_free(sv);
            if (!found) {
                verdict(v, false, "value_error:dict_value", "Invalid value for parameter '%s'.%s", key->type == AFM_PV_STR ? key->s : "?", "");
                flag = false;
                break;
            }
        }
        for (size_t k = 0; pa->type == AFM_PV_DICT && k < pa->n; k++) {
            if (!dict_has(value, pa->keys[k]) && !contains_empty(pa->items[k])) {
                verdict(v, false, "value_error:dict_key", "Missing dict key parameter: '%s'.%s", pa->keys[k]->type == AFM_PV_STR ? pa->keys[k]->s : "?", "");
                flag = false;
                break;
            }
        }
        if (pa->type != AFM_PV_DICT) flag = false;
        if (flag) { ok(v); return; }
    }
}

static size_t py_len(const afm_pv *v) { return v->type == AFM_PV_STR ? afm_u8_count(v->s, v->len) : v->n; }

static void list_dict_checker(const char *param, const afm_pv *value, const afm_pv *pas, afm_bfcl_verdict *v) {
    verdict(v, false, "list_dict_checker:unclear", "list_dict_checker: no possible answer for parameter '%s'%s", param, "");
    for (size_t a = 0; pas && a < pas->n; a++) {
        const afm_pv *pa = pas->items[a];
        if (value->n != py_len(pa)) {
            verdict(v, false, "value_error:list_dict_count", "Wrong number of dictionaries in the list.%s%s", "", "");
            continue;
        }
        bool flag = true;
        for (size_t d = 0; d < value->n; d++) {
            if (value->items[d]->type != AFM_PV_DICT || pa->type != AFM_PV_LIST) { verdict(v, false, "list_dict_checker:unclear", "not a list of dicts%s%s", "", ""); flag = false; break; }
            afm_pv *one = afm_pv_list(AFM_PV_LIST);
            if (!one || afm_pv_push(one, afm_pv_copy(pa->items[d])) != AFM_OK) { flag = false; break; }
            dict_checker(param, value->items[d], one, v);
            afm_pv_free(one);
            if (!v->valid) { flag = false; break; }
        }
        if (flag) { ok(v); return; }
    }
}

/* ---------------------------------------------------------------- function checkers */

static const char *str_field(const afm_pv *o, const char *key) {
    const afm_pv *v = afm_pv_get(o, key);
    return v && v->type == AFM_PV_STR ? v->s : NULL;
}

static void simple_function_checker(const afm_pv *fd, const afm_pv *call, const afm_pv *answer, afm_bfcl_lang lang,
                                    afm_bfcl_verdict *v) {
    const afm_pv *pa = answer && answer->type == AFM_PV_DICT && answer->n ? answer->items[0] : NULL;
    const char *func_name = str_field(fd, "name");
    const afm_pv *params = afm_pv_get(fd, "parameters");
    const afm_pv *details = afm_pv_get(params, "properties");
    const afm_pv *required = afm_pv_get(params, "required");
    if (!fd || !func_name || !pa || pa->type != AFM_PV_DICT) {
        verdict(v, false, "checker:bad_data", "the function document or possible answer is malformed (BFCL would raise)%s%s", "", "");
        return;
    }
    const afm_pv *model_params = afm_pv_get(call, func_name);
    if (!model_params) {
        verdict(v, false, "simple_function_checker:wrong_func_name", "Function name '%s' not found in model output.%s", func_name, "");
        return;
    }
    for (size_t k = 0; required && k < required->n; k++) {
        if (!dict_has(model_params, required->items[k])) {
            verdict(v, false, "simple_function_checker:missing_required", "Missing required parameter: '%s'.%s",
                    required->items[k]->type == AFM_PV_STR ? required->items[k]->s : "?", "");
            return;
        }
    }
    for (size_t k = 0; k < model_params->n; k++) {
        const afm_pv *key = model_params->keys[k];
        const char *param = key->type == AFM_PV_STR ? key->s : "None";
        if (key->type != AFM_PV_STR || !dict_has(details, key) || !dict_has(pa, key)) {
            verdict(v, false, "simple_function_checker:unexpected_param", "Unexpected parameter: '%s'.%s", param, "");
            return;
        }
        const afm_pv *detail = afm_pv_get(details, param);
        const afm_pv *answers = afm_pv_get(pa, param);
        const char *desc = str_field(detail, "type");
        bool known;
        afm_pv_type expected = map_type(lang, desc, &known), nested = T_NONE;
        if (!known) {
            verdict(v, false, "checker:unknown_type", "parameter '%s' has type '%s', which BFCL's type tables lack (BFCL would raise)", param, desc ? desc : "?");
            return;
        }
        afm_pv *value = afm_pv_copy(model_params->items[k]);
        if (!value) { verdict(v, false, "checker:oom", "out of memory%s%s", "", ""); return; }
        if (lang != AFM_BFCL_PYTHON) {
            if (value->type != AFM_PV_STR) {
                verdict(v, false, lang == AFM_BFCL_JAVA ? "type_error:java" : "type_error:js",
                        "Incorrect type for parameter '%s'. Expected type String, got %s.", param, afm_pv_type_name(value));
                afm_pv_free(value);
                return;
            }
            const char *nested_name = NULL;
            if (!strcmp(desc, "Array") || !strcmp(desc, "ArrayList") || !strcmp(desc, "array")) {
                nested_name = str_field(afm_pv_get(detail, "items"), "type");
                bool nk;
                nested = map_type(lang, nested_name, &nk);
                if (!nk) { verdict(v, false, "checker:unknown_type", "parameter '%s' has items of an unknown type%s", param, ""); afm_pv_free(value); return; }
            }
            afm_pv *conv = lang == AFM_BFCL_JAVA ? afm_bfcl_java_convert(value->s, desc, nested_name) : afm_bfcl_js_convert(value->s, desc, nested_name);
            afm_pv_free(value);
            if (!conv) { verdict(v, false, "checker:conversion", "%s%s", afm_last_error(), ""); return; }
            value = conv;
        } else if (!strcmp(desc, "array") || !strcmp(desc, "tuple")) {
            const char *nested_name = str_field(afm_pv_get(detail, "items"), "type");
            bool nk;
            nested = map_type(lang, nested_name, &nk);
            if (!nk) { verdict(v, false, "checker:unknown_type", "parameter '%s' has items of an unknown type%s", param, ""); afm_pv_free(value); return; }
        }
        if (!strcmp(desc, "tuple") && value->type == AFM_PV_TUPLE) value->type = AFM_PV_LIST;
        if (lang == AFM_BFCL_PYTHON && !strcmp(desc, "float") && value->type == AFM_PV_INT) {
            value->type = AFM_PV_FLOAT;
            if (!value->big) value->f = (double)value->i;
        }
        bool is_variable;
        type_checker(param, value, answers, desc, expected, nested, v, &is_variable);
        if (!v->valid) { afm_pv_free(value); return; }
        if (!is_variable) {
            bool done = true;
            if (expected == AFM_PV_DICT) dict_checker(param, value, answers, v);
            else if (expected == AFM_PV_LIST && nested == AFM_PV_DICT) list_dict_checker(param, value, answers, v);
            else if (expected == AFM_PV_STR) string_checker(param, value, answers, v);
            else if (expected == AFM_PV_LIST) list_checker(param, value, answers, v);
            else done = false;
            if (done) {
                afm_pv_free(value);
                if (!v->valid) return;
                continue;
            }
        }
        bool in = afm_pv_in(value, answers);
        afm_pv_free(value);
        if (!in) {
            afm_strbuf r;
            afm_sb_init(&r);
            afm_pv_repr(&r, model_params->items[k]);
            verdict(v, false, "value_error:others", "Invalid value for parameter '%s': %s.", param, r.s ? r.s : "");
            afm_sb_free(&r);
            return;
        }
    }
    for (size_t k = 0; k < pa->n; k++) {
        if (!dict_has(model_params, pa->keys[k]) && !contains_empty(pa->items[k])) {
            verdict(v, false, "simple_function_checker:missing_optional", "Optional parameter '%s' not provided and not marked as optional.",
                    pa->keys[k]->type == AFM_PV_STR ? pa->keys[k]->s : "?", "");
            return;
        }
    }
    ok(v);
}

/* find_description: the function of that name in the list (or the one document) */
static const afm_pv *find_description(const afm_pv *fds, const afm_pv *answer) {
    if (fds->type != AFM_PV_LIST) return fds;
    const afm_pv *name = answer && answer->type == AFM_PV_DICT && answer->n ? answer->keys[0] : NULL;
    for (size_t k = 0; name && name->type == AFM_PV_STR && k < fds->n; k++) {
        const char *n = str_field(fds->items[k], "name");
        if (n && !strcmp(n, name->s)) return fds->items[k];
    }
    return NULL;
}

void afm_bfcl_check(const afm_pv *fds, const afm_pv *calls, const afm_pv *gt, afm_bfcl_lang lang, const char *category,
                    afm_bfcl_verdict *v) {
    if (!gt || gt->type != AFM_PV_LIST || !fds || fds->type != AFM_PV_LIST) {
        verdict(v, false, "checker:bad_data", "the item has no possible answers or functions%s%s", "", "");
        return;
    }
    if (strstr(category, "parallel")) {
        if (calls->n != gt->n) { verdict(v, false, "parallel_function_checker_no_order:wrong_count", "Wrong number of functions.%s%s", "", ""); return; }
        bool *matched = calloc(calls->n + 1, sizeof *matched);
        if (!matched) { verdict(v, false, "checker:oom", "out of memory%s%s", "", ""); return; }
        ok(v);
        for (size_t i = 0; i < gt->n; i++) {
            const afm_pv *fd = find_description(fds, gt->items[i]);
            for (size_t j = 0; j < calls->n; j++) {
                if (matched[j]) continue;
                if (!fd) { verdict(v, false, "checker:bad_data", "no function document for a possible answer%s%s", "", ""); break; }
                simple_function_checker(fd, calls->items[j], gt->items[i], lang, v);
                if (v->valid) { matched[j] = true; break; }
            }
            if (!v->valid) {
                char idx[32];
                snprintf(idx, sizeof idx, "%zu", i);
                afm_strbuf sub = v->error;
                afm_sb_init(&v->error);
                verdict(v, false, "parallel_function_checker_no_order:cannot_find_match",
                        "Could not find a matching function among the model's calls for possible answer %s (last: %s).", idx, sub.s ? sub.s : "");
                afm_sb_free(&sub);
                break;
            }
        }
        free(matched);
        return;
    }
    if (strstr(category, "multiple")) {
        if (calls->n != gt->n) { verdict(v, false, "multiple_function_checker:wrong_count", "Wrong number of functions.%s%s", "", ""); return; }
        const afm_pv *fd = gt->n ? find_description(fds, gt->items[0]) : NULL;
        simple_function_checker(fd, calls->n ? calls->items[0] : NULL, gt->n ? gt->items[0] : NULL, lang, v);
        return;
    }
    if (calls->n != 1) { verdict(v, false, "simple_function_checker:wrong_count", "Wrong number of functions.%s%s", "", ""); return; }
    simple_function_checker(fds->n ? fds->items[0] : NULL, calls->items[0], gt->n ? gt->items[0] : NULL, lang, v);
}

/* ---------------------------------------------------------------- decode + grade */

bool afm_bfcl_is_call_list(const afm_pv *v) {
    if (!v || v->type != AFM_PV_LIST) return false;
    for (size_t k = 0; k < v->n; k++) {
        const afm_pv *it = v->items[k];
        if (it->type != AFM_PV_DICT || it->n != 1 || it->items[0]->type != AFM_PV_DICT) return false;
    }
    return true;
}

afm_status afm_bfcl_decode(const char *response, afm_bfcl_lang lang, afm_pv **calls) {
    *calls = NULL;
    size_t n = strlen(response), a = 0, b = n;
    /* result.strip("`\n ") */
    while (a < b && strchr("`\n ", response[a]) && response[a]) a++;
    while (b > a && strchr("`\n ", response[b - 1]) && response[b - 1]) b--;
    afm_strbuf s;
    afm_sb_init(&s);
    if (b == a || response[a] != '[') afm_sb_puts(&s, "[");
    afm_sb_append(&s, response + a, b - a);
    if (s.n == 0 || s.s[s.n - 1] != ']' || (s.n == 1)) afm_sb_puts(&s, "]");
    if (!s.s) return afm_error(AFM_ERR_NOMEM, "response");
    afm_status st;
    if (lang == AFM_BFCL_PYTHON) {
        /* input_str.strip().strip("'") */
        size_t x, y;
        afm_py_strip(s.s, s.n, &x, &y);
        while (x < y && s.s[x] == '\'') x++;
        while (y > x && s.s[y - 1] == '\'') y--;
        st = afm_bfcl_parse_python(s.s + x, y - x, calls);
    } else {
        /* input_str[1:-1]: both ends are the brackets */
        st = lang == AFM_BFCL_JAVA ? afm_bfcl_parse_java(s.s + 1, s.n - 2, calls) : afm_bfcl_parse_javascript(s.s + 1, s.n - 2, calls);
    }
    afm_sb_free(&s);
    return st;
}

static afm_bfcl_lang lang_of(const char *category) {
    if (strstr(category, "javascript")) return AFM_BFCL_JAVASCRIPT;
    if (strstr(category, "java")) return AFM_BFCL_JAVA;
    return AFM_BFCL_PYTHON;
}

void afm_bfcl_grade(const char *category, const afm_pv *functions, const afm_pv *gt, const char *response, afm_bfcl_verdict *v) {
    afm_pv *calls = NULL;
    if (strstr(category, "relevance")) {
        /* irrelevance: no call may be decoded; relevance: one must be */
        afm_status st = afm_bfcl_decode(response, AFM_BFCL_PYTHON, &calls);
        bool has_call = st == AFM_OK && afm_bfcl_is_call_list(calls) && calls->n > 0 && !(calls->n == 1 && calls->items[0]->n == 0);
        afm_pv_free(calls);
        if (strstr(category, "irrelevance")) {
            if (has_call) verdict(v, false, "irrelevance_error:decoder_success", "Valid syntax. Successfully decode AST when it should not.%s%s", "", "");
            else ok(v);
        } else {
            if (!has_call) verdict(v, false, "relevance_error:decoder_failed", "Invalid syntax. Failed to decode AST when it should have. %s%s", st != AFM_OK ? afm_last_error() : "", "");
            else ok(v);
        }
        return;
    }
    afm_bfcl_lang lang = lang_of(category);
    afm_status st = afm_bfcl_decode(response, lang, &calls);
    if (st != AFM_OK) {
        verdict(v, false, "ast_decoder:decoder_failed", "Invalid syntax. Failed to decode AST. %s%s", afm_last_error(), "");
        return;
    }
    if (!afm_bfcl_is_call_list(calls)) {
        verdict(v, false, "ast_decoder:decoder_wrong_output_format", "Did not output in the specified format.%s%s", "", "");
        afm_pv_free(calls);
        return;
    }
    afm_bfcl_check(functions, calls, gt, lang, category, v);
    afm_pv_free(calls);
}
