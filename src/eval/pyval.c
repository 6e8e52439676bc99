/* Python values (see pyval.h). */
#include "eval/pyval.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/text.h"

static afm_pv *pv_new(afm_pv_type t) {
    afm_pv *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

afm_pv *afm_pv_none(void) { return pv_new(AFM_PV_NONE); }
afm_pv *afm_pv_bool(bool b) {
    afm_pv *v = pv_new(AFM_PV_BOOL);
    if (v) v->i = b;
    return v;
}
afm_pv *afm_pv_int(int64_t i) {
    afm_pv *v = pv_new(AFM_PV_INT);
    if (v) { v->i = i; v->f = (double)i; }
    return v;
}
afm_pv *afm_pv_big(double d) {
    afm_pv *v = pv_new(AFM_PV_INT);
    if (v) { v->big = true; v->f = d; }
    return v;
}
afm_pv *afm_pv_float(double f) {
    afm_pv *v = pv_new(AFM_PV_FLOAT);
    if (v) v->f = f;
    return v;
}
afm_pv *afm_pv_str(const char *s, size_t len) {
    afm_pv *v = pv_new(AFM_PV_STR);
    if (!v) return NULL;
    v->s = malloc(len + 1);
    if (!v->s) { free(v); return NULL; }
    memcpy(v->s, s, len);
    v->s[len] = '\0';
    v->len = len;
    return v;
}
afm_pv *afm_pv_other(const char *name) {
    afm_pv *v = afm_pv_str(name, strlen(name));
    if (v) v->type = AFM_PV_OTHER;
    return v;
}
afm_pv *afm_pv_list(afm_pv_type t) { return pv_new(t); }

void afm_pv_free(afm_pv *v) {
    if (!v) return;
    for (size_t k = 0; k < v->n; k++) {
        afm_pv_free(v->items[k]);
        if (v->keys) afm_pv_free(v->keys[k]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    free(v);
}

afm_pv *afm_pv_copy(const afm_pv *v) {
    if (!v) return NULL;
    afm_pv *c = pv_new(v->type);
    if (!c) return NULL;
    c->i = v->i;
    c->f = v->f;
    c->big = v->big;
    if (v->s) {
        c->s = malloc(v->len + 1);
        if (!c->s) { free(c); return NULL; }
        memcpy(c->s, v->s, v->len + 1);
        c->len = v->len;
    }
    for (size_t k = 0; k < v->n; k++) {
        afm_pv *item = afm_pv_copy(v->items[k]);
        afm_status st;
        if (v->type == AFM_PV_DICT) st = afm_pv_dict_set(c, afm_pv_copy(v->keys[k]), item);
        else st = afm_pv_push(c, item);
        if (st != AFM_OK) { afm_pv_free(c); return NULL; }
    }
    return c;
}

static bool grow(afm_pv *l) {
    if (l->n < l->cap) return true;
    size_t nc = l->cap ? 2 * l->cap : 4;
    afm_pv **it = realloc(l->items, nc * sizeof *it);
    if (!it) return false;
    l->items = it;
    if (l->type == AFM_PV_DICT) {
        afm_pv **k = realloc(l->keys, nc * sizeof *k);
        if (!k) return false;
        l->keys = k;
    }
    l->cap = nc;
    return true;
}

afm_status afm_pv_push(afm_pv *l, afm_pv *item) {
    if (!item || !grow(l)) { afm_pv_free(item); return afm_error(AFM_ERR_NOMEM, "Python list"); }
    l->items[l->n++] = item;
    return AFM_OK;
}

long afm_pv_dict_find(const afm_pv *d, const afm_pv *key) {
    for (size_t k = 0; k < d->n; k++)
        if (afm_pv_eq(d->keys[k], key)) return (long)k;
    return -1;
}

afm_status afm_pv_dict_set(afm_pv *d, afm_pv *key, afm_pv *val) {
    if (!key || !val) { afm_pv_free(key); afm_pv_free(val); return afm_error(AFM_ERR_NOMEM, "Python dict"); }
    long at = afm_pv_dict_find(d, key);
    if (at >= 0) {
        afm_pv_free(key);
        afm_pv_free(d->items[at]);
        d->items[at] = val;
        return AFM_OK;
    }
    if (!grow(d)) { afm_pv_free(key); afm_pv_free(val); return afm_error(AFM_ERR_NOMEM, "Python dict"); }
    d->keys[d->n] = key;
    d->items[d->n++] = val;
    return AFM_OK;
}

const afm_pv *afm_pv_get(const afm_pv *d, const char *key) {
    if (!d || d->type != AFM_PV_DICT) return NULL;
    size_t l = strlen(key);
    for (size_t k = 0; k < d->n; k++)
        if (d->keys[k]->type == AFM_PV_STR && d->keys[k]->len == l && !memcmp(d->keys[k]->s, key, l)) return d->items[k];
    return NULL;
}

static bool is_num(const afm_pv *v) { return v->type == AFM_PV_BOOL || v->type == AFM_PV_INT || v->type == AFM_PV_FLOAT; }

bool afm_pv_eq(const afm_pv *a, const afm_pv *b) {
    if (is_num(a) && is_num(b)) {
        bool ai = a->type != AFM_PV_FLOAT && !a->big, bi = b->type != AFM_PV_FLOAT && !b->big;
        if (ai && bi) return a->i == b->i;
        long double x = ai ? (long double)a->i : (long double)a->f;
        long double y = bi ? (long double)b->i : (long double)b->f;
        return x == y;
    }
    if (a->type != b->type) return false;
    switch (a->type) {
    case AFM_PV_NONE: return true;
    case AFM_PV_STR: return a->len == b->len && !memcmp(a->s, b->s, a->len);
    case AFM_PV_OTHER: return false; /* never equal to anything the data holds */
    case AFM_PV_LIST:
    case AFM_PV_TUPLE:
        if (a->n != b->n) return false;
        for (size_t k = 0; k < a->n; k++)
            if (!afm_pv_eq(a->items[k], b->items[k])) return false;
        return true;
    case AFM_PV_DICT:
        if (a->n != b->n) return false;
        for (size_t k = 0; k < a->n; k++) {
            long j = afm_pv_dict_find(b, a->keys[k]);
            if (j < 0 || !afm_pv_eq(a->items[k], b->items[j])) return false;
        }
        return true;
    default: return false;
    }
}

bool afm_pv_in(const afm_pv *v, const afm_pv *list) {
    if (!list || (list->type != AFM_PV_LIST && list->type != AFM_PV_TUPLE)) return false;
    for (size_t k = 0; k < list->n; k++)
        if (afm_pv_eq(v, list->items[k])) return true;
    return false;
}

const char *afm_pv_type_name(const afm_pv *v) {
    switch (v->type) {
    case AFM_PV_NONE: return "NoneType";
    case AFM_PV_BOOL: return "bool";
    case AFM_PV_INT: return "int";
    case AFM_PV_FLOAT: return "float";
    case AFM_PV_STR: return "str";
    case AFM_PV_LIST: return "list";
    case AFM_PV_TUPLE: return "tuple";
    case AFM_PV_DICT: return "dict";
    default: return v->s ? v->s : "object";
    }
}

/* ---------------------------------------------------------------- repr */

/* shortest decimal digits that read back as f (Python's repr uses the same rule) */
static int shortest_digits(double f, char *buf, size_t cap) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*e", p - 1, f);
        if (strtod(buf, NULL) == f) return p;
    }
    return 17;
}

void afm_pv_float_repr(afm_strbuf *b, double f) {
    if (isnan(f)) { afm_sb_puts(b, "nan"); return; }
    if (isinf(f)) { afm_sb_puts(b, f < 0 ? "-inf" : "inf"); return; }
    if (f == 0) { afm_sb_puts(b, signbit(f) ? "-0.0" : "0.0"); return; }
    char e[64];
    int p = shortest_digits(f, e, sizeof e);
    snprintf(e, sizeof e, "%.*e", p - 1, f);
    /* e = [-]d[.ddd]e[+-]XX: digits and decimal exponent */
    char digits[32];
    int nd = 0;
    const char *s = e;
    bool neg = *s == '-';
    if (neg) s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    digits[nd] = '\0';
    int exp10 = atoi(s + 1);
    if (neg) afm_sb_puts(b, "-");
    /* Python's repr: scientific when exp < -4 or exp >= 16 */
    if (exp10 < -4 || exp10 >= 16) {
        afm_sb_append(b, digits, 1);
        if (nd > 1) { afm_sb_puts(b, "."); afm_sb_append(b, digits + 1, (size_t)nd - 1); }
        afm_sb_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        afm_sb_puts(b, "0.");
        for (int k = 0; k < -exp10 - 1; k++) afm_sb_puts(b, "0");
        afm_sb_append(b, digits, (size_t)nd);
    } else {
        int intd = exp10 + 1;
        for (int k = 0; k < intd; k++) afm_sb_append(b, k < nd ? &digits[k] : "0", 1);
        afm_sb_puts(b, ".");
        if (nd > intd) afm_sb_append(b, digits + intd, (size_t)(nd - intd));
        else afm_sb_puts(b, "0");
    }
}

static void int_repr(afm_strbuf *b, const afm_pv *v) {
    if (v->big) afm_sb_printf(b, "%.0f", v->f);
    else afm_sb_printf(b, "%lld", (long long)v->i);
}

static void str_repr(afm_strbuf *b, const char *s, size_t n) {
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    afm_sb_append(b, &q, 1);
    for (size_t k = 0; k < n;) {
        size_t l;
        uint32_t cp = afm_u8_decode(s + k, n - k, &l);
        if (cp == (uint32_t)q || cp == '\\') afm_sb_printf(b, "\\%c", (char)cp);
        else if (cp == '\n') afm_sb_puts(b, "\\n");
        else if (cp == '\r') afm_sb_puts(b, "\\r");
        else if (cp == '\t') afm_sb_puts(b, "\\t");
        else if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) afm_sb_printf(b, "\\x%02x", cp);
        else afm_sb_append(b, s + k, l);
        k += l;
    }
    afm_sb_append(b, &q, 1);
}

void afm_pv_repr(afm_strbuf *b, const afm_pv *v) {
    switch (v->type) {
    case AFM_PV_NONE: afm_sb_puts(b, "None"); break;
    case AFM_PV_BOOL: afm_sb_puts(b, v->i ? "True" : "False"); break;
    case AFM_PV_INT: int_repr(b, v); break;
    case AFM_PV_FLOAT: afm_pv_float_repr(b, v->f); break;
    case AFM_PV_STR: str_repr(b, v->s, v->len); break;
    case AFM_PV_LIST:
    case AFM_PV_TUPLE:
        afm_sb_puts(b, v->type == AFM_PV_LIST ? "[" : "(");
        for (size_t k = 0; k < v->n; k++) {
            if (k) afm_sb_puts(b, ", ");
            afm_pv_repr(b, v->items[k]);
        }
        if (v->type == AFM_PV_TUPLE && v->n == 1) afm_sb_puts(b, ",");
        afm_sb_puts(b, v->type == AFM_PV_LIST ? "]" : ")");
        break;
    case AFM_PV_DICT:
        afm_sb_puts(b, "{");
        for (size_t k = 0; k < v->n; k++) {
            if (k) afm_sb_puts(b, ", ");
            afm_pv_repr(b, v->keys[k]);
            afm_sb_puts(b, ": ");
            afm_pv_repr(b, v->items[k]);
        }
        afm_sb_puts(b, "}");
        break;
    default: afm_sb_printf(b, "<%s>", afm_pv_type_name(v)); break;
    }
}

/* ---------------------------------------------------------------- json.dumps */

static void json_str(afm_strbuf *b, const char *s, size_t n) {
    afm_sb_puts(b, "\"");
    for (size_t k = 0; k < n;) {
        size_t l;
        uint32_t cp = afm_u8_decode(s + k, n - k, &l);
        k += l;
        switch (cp) {
        case '"': afm_sb_puts(b, "\\\""); break;
        case '\\': afm_sb_puts(b, "\\\\"); break;
        case '\n': afm_sb_puts(b, "\\n"); break;
        case '\r': afm_sb_puts(b, "\\r"); break;
        case '\t': afm_sb_puts(b, "\\t"); break;
        case '\b': afm_sb_puts(b, "\\b"); break;
        case '\f': afm_sb_puts(b, "\\f"); break;
        default:
            if (cp < 0x20 || (cp >= 0x7f && cp < 0x10000)) {
                afm_sb_printf(b, "\\u%04x", cp);
            } else if (cp >= 0x10000) {
                uint32_t c = cp - 0x10000;
                afm_sb_printf(b, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
            } else {
                char ch = (char)cp;
                afm_sb_append(b, &ch, 1);
            }
        }
    }
    afm_sb_puts(b, "\"");
}

static void newline_indent(afm_strbuf *b, int indent, int depth) {
    afm_sb_puts(b, "\n");
    for (int k = 0; k < indent * depth; k++) afm_sb_puts(b, " ");
}

static void dump(afm_strbuf *b, const afm_pv *v, int indent, int depth) {
    switch (v->type) {
    case AFM_PV_NONE: afm_sb_puts(b, "null"); break;
    case AFM_PV_BOOL: afm_sb_puts(b, v->i ? "true" : "false"); break;
    case AFM_PV_INT: int_repr(b, v); break;
    case AFM_PV_FLOAT:
        if (isnan(v->f)) afm_sb_puts(b, "NaN");
        else if (isinf(v->f)) afm_sb_puts(b, v->f < 0 ? "-Infinity" : "Infinity");
        else afm_pv_float_repr(b, v->f);
        break;
    case AFM_PV_STR: json_str(b, v->s, v->len); break;
    case AFM_PV_LIST:
    case AFM_PV_TUPLE:
    case AFM_PV_DICT: {
        bool d = v->type == AFM_PV_DICT;
        if (v->n == 0) { afm_sb_puts(b, d ? "{}" : "[]"); break; }
        afm_sb_puts(b, d ? "{" : "[");
        for (size_t k = 0; k < v->n; k++) {
            if (k) afm_sb_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline_indent(b, indent, depth + 1);
            if (d) {
                const afm_pv *key = v->keys[k];
                if (key->type == AFM_PV_STR) json_str(b, key->s, key->len);
                else {
                    afm_strbuf kb;
                    afm_sb_init(&kb);
                    dump(&kb, key, -1, 0);
                    if (kb.s) json_str(b, kb.s, kb.n);
                    afm_sb_free(&kb);
                }
                afm_sb_puts(b, ": ");
            }
            dump(b, v->items[k], indent, depth + 1);
        }
        if (indent >= 0) newline_indent(b, indent, depth);
        afm_sb_puts(b, d ? "}" : "]");
        break;
    }
    default: afm_sb_puts(b, "null"); break;
    }
}

void afm_pv_dump_json(afm_strbuf *b, const afm_pv *v, int indent) { dump(b, v, indent, 0); }

/* ---------------------------------------------------------------- json.loads */

typedef struct jp { const char *s; size_t n, i; int depth; } jp;

static void ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static afm_status jerr(jp *p, const char *what) {
    return afm_error(AFM_ERR_FORMAT, "JSON: %s at offset %zu", what, p->i);
}

static int hex4(const char *s) {
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static afm_status jstring(jp *p, afm_pv **out) {
    afm_strbuf b;
    afm_sb_init(&b);
    p->i++; /* opening quote */
    while (p->i < p->n && p->s[p->i] != '"') {
        char c = p->s[p->i];
        if (c != '\\') { afm_sb_append(&b, &c, 1); p->i++; continue; }
        if (p->i + 1 >= p->n) break;
        char e = p->s[p->i + 1];
        p->i += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            afm_sb_append(&b, &map[simple - "\"\\/bfnrt"], 1);
            continue;
        }
        if (e != 'u' || p->i + 4 > p->n || hex4(p->s + p->i) < 0) { afm_sb_free(&b); return jerr(p, "bad escape"); }
        uint32_t cp = (uint32_t)hex4(p->s + p->i);
        p->i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && p->i + 6 <= p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
            int lo = hex4(p->s + p->i + 2);
            if (lo >= 0xDC00 && lo < 0xE000) { cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00); p->i += 6; }
        }
        char u[4];
        afm_sb_append(&b, u, afm_u8_encode(cp, u));
    }
    if (p->i >= p->n) { afm_sb_free(&b); return jerr(p, "unterminated string"); }
    p->i++;
    *out = afm_pv_str(b.s ? b.s : "", b.n);
    afm_sb_free(&b);
    return *out ? AFM_OK : afm_error(AFM_ERR_NOMEM, "JSON string");
}

static afm_status jnumber(jp *p, afm_pv **out) {
    size_t st = p->i;
    bool is_float = false;
    if (p->s[p->i] == '-') p->i++;
    if (p->i + 8 <= p->n && !memcmp(p->s + p->i, "Infinity", 8)) {
        p->i += 8;
        *out = afm_pv_float(p->s[st] == '-' ? -INFINITY : INFINITY);
        return *out ? AFM_OK : afm_error(AFM_ERR_NOMEM, "JSON");
    }
    size_t d0 = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i == d0) return jerr(p, "bad number");
    if (p->i < p->n && p->s[p->i] == '.') {
        is_float = true;
        p->i++;
        size_t f0 = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        if (p->i == f0) return jerr(p, "bad number");
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        is_float = true;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        size_t e0 = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        if (p->i == e0) return jerr(p, "bad number");
    }
    char buf[400];
    size_t l = p->i - st < sizeof buf - 1 ? p->i - st : sizeof buf - 1;
    memcpy(buf, p->s + st, l);
    buf[l] = '\0';
    if (is_float) *out = afm_pv_float(strtod(buf, NULL));
    else {
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        *out = errno == ERANGE ? afm_pv_big(strtod(buf, NULL)) : afm_pv_int(v);
    }
    return *out ? AFM_OK : afm_error(AFM_ERR_NOMEM, "JSON number");
}

static afm_status jvalue(jp *p, afm_pv **out) {
    *out = NULL;
    ws(p);
    if (p->i >= p->n) return jerr(p, "unexpected end");
    if (++p->depth > 200) return jerr(p, "nesting too deep");
    char c = p->s[p->i];
    afm_status st = AFM_OK;
    if (c == '"') st = jstring(p, out);
    else if (c == '{' || c == '[') {
        bool obj = c == '{';
        afm_pv *v = afm_pv_list(obj ? AFM_PV_DICT : AFM_PV_LIST);
        if (!v) return afm_error(AFM_ERR_NOMEM, "JSON");
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) p->i++;
        else {
            for (;;) {
                afm_pv *key = NULL, *val = NULL;
                if (obj) {
                    ws(p);
                    if (p->i >= p->n || p->s[p->i] != '"') { st = jerr(p, "expected a key"); break; }
                    if ((st = jstring(p, &key)) != AFM_OK) break;
                    ws(p);
                    if (p->i >= p->n || p->s[p->i] != ':') { afm_pv_free(key); st = jerr(p, "expected ':'"); break; }
                    p->i++;
                }
                if ((st = jvalue(p, &val)) != AFM_OK) { afm_pv_free(key); break; }
                st = obj ? afm_pv_dict_set(v, key, val) : afm_pv_push(v, val);
                if (st != AFM_OK) break;
                ws(p);
                if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
                if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; break; }
                st = jerr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
                break;
            }
        }
        if (st != AFM_OK) afm_pv_free(v);
        else *out = v;
    } else if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "true", 4)) { p->i += 4; *out = afm_pv_bool(true); }
    else if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "false", 5)) { p->i += 5; *out = afm_pv_bool(false); }
    else if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "null", 4)) { p->i += 4; *out = afm_pv_none(); }
    else if (p->n - p->i >= 3 && !memcmp(p->s + p->i, "NaN", 3)) { p->i += 3; *out = afm_pv_float(NAN); }
    else if (c == '-' || (c >= '0' && c <= '9') || c == 'I') st = jnumber(p, out);
    else st = jerr(p, "unexpected character");
    p->depth--;
    if (st == AFM_OK && !*out) st = afm_error(AFM_ERR_NOMEM, "JSON");
    return st;
}

afm_status afm_pv_parse_json(const char *text, size_t len, afm_pv **out, size_t *end) {
    jp p = {text, len, 0, 0};
    AFM_TRY(jvalue(&p, out));
    ws(&p);
    if (end) *end = p.i;
    return AFM_OK;
}
