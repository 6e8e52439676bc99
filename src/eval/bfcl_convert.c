/* BFCL's Java and JavaScript type converters (eval_checker/ast_eval/type_convertor/ java_type_converter.py and js_type_converter.py):
 * the source text of an argument -> the typed value the checker compares, with the same
 * regular expressions (minire.h) and the same fall-backs (the text itself when it does not
 * match). Python's int() / float() parsing of element text is reproduced for the forms that
 * occur (signs, surrounding whitespace, underscores between digits, exponents, inf / nan). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/bfcl.h"
#include "eval/minire.h"
#include "eval/text.h"

static bool full(const char *pattern, const char *s) {
    afm_re_match m;
    return afm_re_match_at(pattern, s, strlen(s), 0, false, &m);
}

/* Python str.strip() as a new string */
static char *pystrip(const char *s, size_t n) {
    size_t a, b;
    afm_py_strip(s, n, &a, &b);
    char *r = malloc(b - a + 1);
    if (r) { memcpy(r, s + a, b - a); r[b - a] = '\0'; }
    return r;
}

/* Python int(s): optional sign, decimal digits with single underscores between them, whitespace around */
static bool py_int(const char *s, afm_pv **out) {
    char *t = pystrip(s, strlen(s));
    if (!t) return false;
    const char *p = t;
    char buf[400];
    size_t bl = 0;
    if (*p == '+' || *p == '-') buf[bl++] = *p++;
    bool ok = *p >= '0' && *p <= '9';
    for (; ok && *p && bl < sizeof buf - 1; p++) {
        if (*p == '_' && p[1] >= '0' && p[1] <= '9' && p[-1] >= '0' && p[-1] <= '9') continue;
        if (*p < '0' || *p > '9') ok = false;
        else buf[bl++] = *p;
    }
    ok = ok && !*p;
    free(t);
    if (!ok) return false;
    buf[bl] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    *out = errno == ERANGE ? afm_pv_big(strtod(buf, NULL)) : afm_pv_int(v);
    return *out != NULL;
}

/* Python float(s): decimal / exponent forms, inf, infinity, nan (any case), underscores between digits */
static bool py_float(const char *s, afm_pv **out) {
    char *t = pystrip(s, strlen(s));
    if (!t) return false;
    char buf[400];
    size_t bl = 0;
    bool ok = true;
    for (const char *p = t; *p && bl < sizeof buf - 1; p++) {
        if (*p == '_') {
            if (p == t || !isdigit((unsigned char)p[-1]) || !isdigit((unsigned char)p[1])) ok = false;
            continue;
        }
        buf[bl++] = *p;
    }
    buf[bl] = '\0';
    free(t);
    if (!ok || !bl) return false;
    const char *b = buf + (buf[0] == '+' || buf[0] == '-');
    double v;
    if (!strcasecmp(b, "inf") || !strcasecmp(b, "infinity")) v = buf[0] == '-' ? -INFINITY : INFINITY;
    else if (!strcasecmp(b, "nan")) v = NAN;
    else {
        if (!full("^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?$", buf) || buf[bl - 1] == '\n') return false;
        v = strtod(buf, NULL);
    }
    *out = afm_pv_float(v);
    return *out != NULL;
}

static afm_pv *str_of(const char *s, size_t n) { return afm_pv_str(s, n); }
static afm_pv *str0(const char *s) { return afm_pv_str(s, strlen(s)); }

/* ---------------------------------------------------------------- Java */

static afm_pv *parse_java_value(const char *v) {
    size_t n = strlen(v);
    if (!strcmp(v, "true")) return afm_pv_bool(true);
    if (!strcmp(v, "false")) return afm_pv_bool(false);
    if (n >= 1 && v[0] == '"' && v[n - 1] == '"') return str_of(v + (n > 1), n > 1 ? n - 2 : 0);
    afm_pv *r = NULL;
    if (full("^-?\\d+[lL]$", v)) {
        char buf[64];
        size_t l = n - 1 < sizeof buf - 1 ? n - 1 : sizeof buf - 1;
        memcpy(buf, v, l);
        buf[l] = '\0';
        return py_int(buf, &r) ? r : str0(v);
    }
    if (full("^-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?[fF]$", v)) {
        char buf[128];
        size_t l = n - 1 < sizeof buf - 1 ? n - 1 : sizeof buf - 1;
        memcpy(buf, v, l);
        buf[l] = '\0';
        return afm_pv_float(strtod(buf, NULL));
    }
    if (py_int(v, &r)) return r;
    if (py_float(v, &r)) return r;
    return str0(v);
}

/* elements of "a, b, c" split at every "," (as str.split(",")) */
typedef afm_pv *(*elem_fn)(const char *elem, const char *nested);

static afm_pv *java_elem(const char *e, const char *nested) {
    size_t n = strlen(e);
    if (nested && (!strcmp(nested, "char") || !strcmp(nested, "String"))) return n >= 2 ? str_of(e + 1, n - 2) : str0("");
    return nested ? afm_bfcl_java_convert(e, nested, NULL) : parse_java_value(e);
}

static afm_pv *split_elems(const char *s, size_t n, const char *nested, bool skip_empty, elem_fn fn) {
    afm_pv *list = afm_pv_list(AFM_PV_LIST);
    size_t st = 0;
    for (size_t k = 0; list && k <= n; k++) {
        if (k < n && s[k] != ',') continue;
        char *e = pystrip(s + st, k - st);
        st = k + 1;
        if (!e) { afm_pv_free(list); return NULL; }
        if (skip_empty && !*e) { free(e); continue; }
        afm_pv *v = fn(e, nested);
        free(e);
        if (!v || afm_pv_push(list, v) != AFM_OK) { afm_pv_free(list); return NULL; }
    }
    return list;
}

static afm_pv *java_arraylist(const char *s, const char *nested) {
    afm_re_match m;
    size_t n = strlen(s);
    if (afm_re_search("new\\s+ArrayList<\\w*>\\(Arrays\\.asList\\((.+?)\\)\\)", s, n, 0, false, &m))
        return split_elems(s + m.start[1], m.end[1] - m.start[1], nested, false, java_elem);
    if (afm_re_search("new\\s+ArrayList<\\w*>\\(\\)\\s*\\{\\{\\s*(.+?)\\s*\\}\\}", s, n, 0, true, &m)) {
        afm_pv *list = afm_pv_list(AFM_PV_LIST);
        const char *body = s + m.start[1];
        size_t bn = m.end[1] - m.start[1], from = 0;
        afm_re_match a;
        while (list && from <= bn && afm_re_search("add\\((.+?)\\)", body, bn, from, false, &a)) {
            char *e = pystrip(body + a.start[1], a.end[1] - a.start[1]);
            afm_pv *v = e ? java_elem(e, nested) : NULL;
            free(e);
            if (!v || afm_pv_push(list, v) != AFM_OK) { afm_pv_free(list); return NULL; }
            from = a.end[0] > a.start[0] ? a.end[0] : a.end[0] + 1;
        }
        return list;
    }
    if (afm_re_search("new\\s+ArrayList<\\w*>\\(\\)", s, n, 0, false, &m)) return afm_pv_list(AFM_PV_LIST);
    return str0(s);
}

static afm_pv *java_array(const char *s, const char *nested) {
    afm_re_match m;
    if (afm_re_search("new\\s+\\w+\\[\\]\\s*\\{(.*?)\\}", s, strlen(s), 0, false, &m)) {
        if (nested) return split_elems(s + m.start[1], m.end[1] - m.start[1], nested, true, java_elem);
        return split_elems(s + m.start[1], m.end[1] - m.start[1], NULL, true, java_elem);
    }
    return str0(s);
}

static afm_pv *java_hashmap(const char *s) {
    afm_re_match m;
    size_t n = strlen(s);
    if (afm_re_search("new\\s+HashMap<.*?>\\s*\\(\\)\\s*\\{\\s*\\{?\\s*(.*?)\\s*\\}?\\s*\\}", s, n, 0, true, &m)) {
        afm_pv *d = afm_pv_list(AFM_PV_DICT);
        const char *body = s + m.start[1];
        size_t bn = m.end[1] - m.start[1], from = 0;
        afm_re_match a;
        while (d && from <= bn && afm_re_search("put\\(\"(.*?)\",\\s*(.*?)\\)", body, bn, from, false, &a)) {
            char *e = pystrip(body + a.start[2], a.end[2] - a.start[2]);
            afm_pv *v = e ? parse_java_value(e) : NULL;
            free(e);
            if (afm_pv_dict_set(d, str_of(body + a.start[1], a.end[1] - a.start[1]), v) != AFM_OK) { afm_pv_free(d); return NULL; }
            from = a.end[0] > a.start[0] ? a.end[0] : a.end[0] + 1;
        }
        return d;
    }
    if (afm_re_search("new\\s+HashMap<.*?>\\s*\\(\\)", s, n, 0, false, &m)) return afm_pv_list(AFM_PV_DICT);
    return str0(s);
}

afm_pv *afm_bfcl_java_convert(const char *v, const char *type, const char *nested) {
    size_t n = strlen(v);
    afm_pv *r = NULL;
    if (!strcmp(type, "byte") || !strcmp(type, "short") || !strcmp(type, "integer"))
        return full("^-?\\d+$", v) && py_int(v, &r) ? r : str0(v);
    if (!strcmp(type, "float")) {
        if (!full("^-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?[fF]$", v)) return str0(v);
        char buf[128];
        size_t l = n - 1 < sizeof buf - 1 ? n - 1 : sizeof buf - 1;
        memcpy(buf, v, l);
        buf[l] = '\0';
        return afm_pv_float(strtod(buf, NULL));
    }
    if (!strcmp(type, "double")) return full("^-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?$", v) && py_float(v, &r) ? r : str0(v);
    if (!strcmp(type, "long")) {
        if (!full("^-?\\d+[lL]$", v)) return str0(v);
        char buf[64];
        size_t l = n - 1 < sizeof buf - 1 ? n - 1 : sizeof buf - 1;
        memcpy(buf, v, l);
        buf[l] = '\0';
        return py_int(buf, &r) ? r : str0(v);
    }
    if (!strcmp(type, "boolean")) return !strcmp(v, "true") ? afm_pv_bool(true) : !strcmp(v, "false") ? afm_pv_bool(false) : str0(v);
    if (!strcmp(type, "char") || !strcmp(type, "String") || !strcmp(type, "any")) return str0(v); /* BFCL's char regex never matches */
    if (!strcmp(type, "ArrayList")) return java_arraylist(v, nested);
    if (!strcmp(type, "Array")) return java_array(v, nested);
    if (!strcmp(type, "HashMap")) return java_hashmap(v);
    afm_error(AFM_ERR_UNSUPPORTED, "Java type '%s': BFCL has no conversion for it", type);
    return NULL;
}

/* ---------------------------------------------------------------- JavaScript */

static afm_pv *parse_js_value(const char *s) {
    char *v = pystrip(s, strlen(s));
    if (!v) return NULL;
    size_t n = strlen(v);
    afm_pv *r = NULL;
    if (!strcmp(v, "true")) r = afm_pv_bool(true);
    else if (!strcmp(v, "false")) r = afm_pv_bool(false);
    else if (n >= 1 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '\'' && v[n - 1] == '\''))) r = str_of(v + (n > 1), n > 1 ? n - 2 : 0);
    else if (!py_int(v, &r) && !py_float(v, &r)) r = str0(v);
    free(v);
    return r;
}

static afm_pv *js_plain(const char *e, const char *nested) {
    (void)nested;
    return parse_js_value(e);
}

static afm_pv *js_elem(const char *e, const char *nested) {
    if (nested) return afm_bfcl_js_convert(e, nested, (e[0] == '\'' || e[0] == '"') ? "String" : NULL);
    return parse_js_value(e);
}

static afm_pv *js_array(const char *code, const char *nested) {
    size_t n = strlen(code);
    afm_re_match m;
    if (afm_re_match_at("\\[\\s*\\[.*?\\]\\s*(,\\s*\\[.*?\\]\\s*)*\\]|\\bnew\\s+Array\\(\\s*\\[.*?\\]\\s*(,\\s*\\[.*?\\]\\s*)*\\)", code, n, 0, false, &m)) {
        const char *es = code + m.start[0];
        size_t en = m.end[0] - m.start[0], from = 0;
        afm_pv *outer = afm_pv_list(AFM_PV_LIST);
        afm_re_match a;
        int idx = 0;
        while (outer && from <= en && afm_re_search("\\[(.*?)\\]", es, en, from, false, &a)) {
            char *inner = pystrip(es + a.start[1], a.end[1] - a.start[1]);
            if (!inner) { afm_pv_free(outer); return NULL; }
            const char *in = inner;
            if (idx == 0 && in[0] == '[') in++;
            afm_pv *row = split_elems(in, strlen(in), NULL, false, js_plain);
            free(inner);
            if (!row || afm_pv_push(outer, row) != AFM_OK) { afm_pv_free(outer); return NULL; }
            from = a.end[0] > a.start[0] ? a.end[0] : a.end[0] + 1;
            idx++;
        }
        return outer;
    }
    if (afm_re_match_at("\\[(.*?)\\]|\\bnew\\s+Array\\((.*?)\\)", code, n, 0, false, &m)) {
        int g = m.set[1] ? 1 : m.set[2] ? 2 : 0;
        if (!g) return afm_pv_list(AFM_PV_LIST);
        char *body = pystrip(code + m.start[g], m.end[g] - m.start[g]);
        if (!body) return NULL;
        afm_pv *r = *body ? split_elems(body, strlen(body), nested, false, js_elem) : afm_pv_list(AFM_PV_LIST);
        free(body);
        return r ? r : str0(code); /* BFCL: any exception -> the code itself */
    }
    return str0(code);
}

static afm_pv *js_dict(const char *code) {
    size_t n = strlen(code);
    if (!strcmp(code, "{}")) return afm_pv_list(AFM_PV_DICT);
    afm_re_match m;
    if (!afm_re_match_at("\\{(.*?)\\}", code, n, 0, false, &m)) return str0(code);
    const char *c = code + m.start[1];
    size_t cn = m.end[1] - m.start[1], from = 0;
    afm_pv *d = afm_pv_list(AFM_PV_DICT);
    afm_re_match a;
    while (d && from <= cn && afm_re_search("([^:]+):\\s*(.*?)(?:,\\s*(?=[^,]+:)|$)", c, cn, from, false, &a)) {
        /* key.strip().strip("'\"") */
        char *k = pystrip(c + a.start[1], a.end[1] - a.start[1]);
        char *v = pystrip(c + a.start[2], a.end[2] - a.start[2]);
        if (!k || !v) { free(k); free(v); afm_pv_free(d); return NULL; }
        size_t kl = strlen(k), ks = 0;
        while (ks < kl && (k[ks] == '\'' || k[ks] == '"')) ks++;
        while (kl > ks && (k[kl - 1] == '\'' || k[kl - 1] == '"')) kl--;
        size_t vl = strlen(v);
        afm_pv *val;
        if (vl && v[0] == '[' && v[vl - 1] == ']') val = js_array(v, NULL);
        else if (vl && v[0] == '{' && v[vl - 1] == '}') val = js_dict(v);
        else {
            size_t vs = 0, ve = vl;
            while (vs < ve && (v[vs] == '\'' || v[vs] == '"')) vs++;
            while (ve > vs && (v[ve - 1] == '\'' || v[ve - 1] == '"')) ve--;
            char *t = malloc(ve - vs + 1);
            if (t) { memcpy(t, v + vs, ve - vs); t[ve - vs] = '\0'; }
            val = t ? parse_js_value(t) : NULL;
            free(t);
        }
        afm_status st = afm_pv_dict_set(d, str_of(k + ks, kl - ks), val);
        free(k);
        free(v);
        if (st != AFM_OK) { afm_pv_free(d); return NULL; }
        from = a.end[0] > a.start[0] ? a.end[0] : a.end[0] + 1;
    }
    return d;
}

afm_pv *afm_bfcl_js_convert(const char *v, const char *type, const char *nested) {
    size_t n = strlen(v);
    afm_pv *r = NULL;
    if (!strcmp(type, "String")) {
        if (n >= 1 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '\'' && v[n - 1] == '\''))) return str_of(v + (n > 1), n > 1 ? n - 2 : 0);
        return str0(v);
    }
    if (!strcmp(type, "integer")) return full("^-?\\d+$", v) && py_int(v, &r) ? r : str0(v);
    if (!strcmp(type, "float")) return full("^-?\\d+(\\.\\d+)?$", v) && py_float(v, &r) ? r : str0(v);
    if (!strcmp(type, "Bigint")) {
        if (!full("^-?\\d+n$", v)) return str0(v);
        char buf[64];
        size_t l = n - 1 < sizeof buf - 1 ? n - 1 : sizeof buf - 1;
        memcpy(buf, v, l);
        buf[l] = '\0';
        return py_int(buf, &r) ? r : str0(v);
    }
    if (!strcmp(type, "Boolean")) return !strcmp(v, "true") ? afm_pv_bool(true) : !strcmp(v, "false") ? afm_pv_bool(false) : str0(v);
    if (!strcmp(type, "dict") || !strcmp(type, "array")) {
        char *code = pystrip(v, n);
        if (!code) return NULL;
        afm_pv *out = !strcmp(type, "dict") ? js_dict(code) : js_array(code, nested);
        free(code);
        return out;
    }
    if (!strcmp(type, "any")) return str0(v);
    afm_error(AFM_ERR_UNSUPPORTED, "JavaScript type '%s': BFCL has no conversion for it", type);
    return NULL;
}
