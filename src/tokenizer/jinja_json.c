/* JSON for the Jinja evaluator: a parser that keeps what Python's json.loads keeps (key order,
 * ints distinct from floats) and a writer byte-identical to json.dumps(x, ensure_ascii=False,
 * indent=..., separators=..., sort_keys=...) as transformers' tojson filter calls it. */
#include "tokenizer/jinja.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp { const char *s; size_t n, i; jarena *a; jerr *e; const char *what; int depth; } jp;

_Noreturn static void jp_fail(jp *p, const char *msg) {
    /* position as line:column of the JSON text */
    int line = 1, col = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++) {
        if (p->s[k] == '\n') { line++; col = 1; } else col++;
    }
    jfail(p->e, 0, 0, "%s: invalid JSON at line %d, column %d: %s", p->what, line, col, msg);
}

static void jp_ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static void put_utf8(jbuf *b, uint32_t cp) {
    char t[4];
    if (cp < 0x80) { t[0] = (char)cp; jbuf_put(b, t, 1); }
    else if (cp < 0x800) { t[0] = (char)(0xc0 | (cp >> 6)); t[1] = (char)(0x80 | (cp & 0x3f)); jbuf_put(b, t, 2); }
    else if (cp < 0x10000) {
        t[0] = (char)(0xe0 | (cp >> 12)); t[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[2] = (char)(0x80 | (cp & 0x3f));
        jbuf_put(b, t, 3);
    } else {
        t[0] = (char)(0xf0 | (cp >> 18)); t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[3] = (char)(0x80 | (cp & 0x3f));
        jbuf_put(b, t, 4);
    }
}

static int hex4(jp *p, uint32_t *out) {
    if (p->n - p->i < 4) return 0;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p->s[p->i + k];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (uint32_t)(ch - 'A' + 10);
        else return 0;
    }
    p->i += 4;
    *out = v;
    return 1;
}

static jv jp_string(jp *p) {
    p->i++; /* opening quote */
    jbuf b = {.a = p->a, .e = p->e};
    for (;;) {
        if (p->i >= p->n) jp_fail(p, "unterminated string");
        unsigned char ch = (unsigned char)p->s[p->i];
        if (ch == '"') { p->i++; break; }
        if (ch < 0x20) jp_fail(p, "control character in string");
        if (ch != '\\') { jbuf_putc(&b, (char)ch); p->i++; continue; }
        p->i++;
        if (p->i >= p->n) jp_fail(p, "unterminated escape");
        char esc = p->s[p->i++];
        switch (esc) {
        case '"': jbuf_putc(&b, '"'); break;
        case '\\': jbuf_putc(&b, '\\'); break;
        case '/': jbuf_putc(&b, '/'); break;
        case 'b': jbuf_putc(&b, '\b'); break;
        case 'f': jbuf_putc(&b, '\f'); break;
        case 'n': jbuf_putc(&b, '\n'); break;
        case 'r': jbuf_putc(&b, '\r'); break;
        case 't': jbuf_putc(&b, '\t'); break;
        case 'u': {
            uint32_t cp, lo;
            if (!hex4(p, &cp)) jp_fail(p, "bad \\u escape");
            if (cp >= 0xd800 && cp < 0xdc00 && p->n - p->i >= 6 && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                p->i += 2;
                if (hex4(p, &lo) && lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else p->i = save;
            }
            put_utf8(&b, cp);
            break;
        }
        default: jp_fail(p, "unknown escape");
        }
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jv jp_value(jp *p);

static jv jp_number(jp *p) {
    size_t start = p->i;
    bool is_float = false;
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') jp_fail(p, "bad number");
    if (p->s[p->i] == '0') p->i++;
    else while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        is_float = true;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') jp_fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        is_float = true;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') jp_fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    char tmp[64];
    size_t len = p->i - start;
    if (len >= sizeof tmp) jp_fail(p, "number too long");
    memcpy(tmp, p->s + start, len);
    tmp[len] = 0;
    if (is_float) return jv_float(strtod(tmp, NULL));
    errno = 0;
    char *end;
    long long v = strtoll(tmp, &end, 10);
    if (errno) jp_fail(p, "integer out of the 64-bit range");
    return jv_int(v);
}

static bool jp_lit(jp *p, const char *word) {
    size_t n = strlen(word);
    if (p->n - p->i >= n && !memcmp(p->s + p->i, word, n)) {
        p->i += n;
        return true;
    }
    return false;
}

static jv jp_value(jp *p) {
    jp_ws(p);
    if (p->i >= p->n) jp_fail(p, "unexpected end");
    if (++p->depth > 256) jp_fail(p, "nested too deeply");
    char ch = p->s[p->i];
    jv v;
    if (ch == '{') {
        p->i++;
        jdict *d = jdict_new(p->a, p->e, 0);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == '}') p->i++;
        else for (;;) {
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') jp_fail(p, "expected a string key");
            jv k = jp_string(p);
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') jp_fail(p, "expected ':'");
            p->i++;
            jv val = jp_value(p);
            jdict_set(p->a, p->e, d, k, val);
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == '}') { p->i++; break; }
            jp_fail(p, "expected ',' or '}'");
        }
        v.kind = JV_DICT;
        v.d = d;
    } else if (ch == '[') {
        p->i++;
        jlist *l = jlist_new(p->a, p->e, 0);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ']') p->i++;
        else for (;;) {
            jlist_push(p->a, p->e, l, jp_value(p));
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == ']') { p->i++; break; }
            jp_fail(p, "expected ',' or ']'");
        }
        v.kind = JV_LIST;
        v.l = l;
    } else if (ch == '"') v = jp_string(p);
    else if (jp_lit(p, "true")) v = jv_bool(true);
    else if (jp_lit(p, "false")) v = jv_bool(false);
    else if (jp_lit(p, "null")) v = jv_none();
    else if (jp_lit(p, "NaN")) v = jv_float(NAN);
    else if (jp_lit(p, "Infinity")) v = jv_float(INFINITY);
    else if (jp_lit(p, "-Infinity")) v = jv_float(-INFINITY);
    else if (ch == '-' || (ch >= '0' && ch <= '9')) v = jp_number(p);
    else jp_fail(p, "unexpected character");
    p->depth--;
    return v;
}

jv jjson_parse(jarena *a, jerr *e, const char *s, size_t n, const char *what) {
    jp p = {.s = s, .n = n, .a = a, .e = e, .what = what};
    jv v = jp_value(&p);
    jp_ws(&p);
    if (p.i != p.n) jp_fail(&p, "trailing characters");
    return v;
}

/* ---- writer ---- */
static void dump_str(jbuf *b, const char *s, size_t n, bool ensure_ascii) {
    jbuf_putc(b, '"');
    size_t i = 0;
    char tmp[16];
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"') { jbuf_puts(b, "\\\""); i++; }
        else if (ch == '\\') { jbuf_puts(b, "\\\\"); i++; }
        else if (ch == '\n') { jbuf_puts(b, "\\n"); i++; }
        else if (ch == '\r') { jbuf_puts(b, "\\r"); i++; }
        else if (ch == '\t') { jbuf_puts(b, "\\t"); i++; }
        else if (ch == '\b') { jbuf_puts(b, "\\b"); i++; }
        else if (ch == '\f') { jbuf_puts(b, "\\f"); i++; }
        else if (ch < 0x20 || (ensure_ascii && ch == 0x7f)) {
            snprintf(tmp, sizeof tmp, "\\u%04x", ch);
            jbuf_puts(b, tmp);
            i++;
        } else if (ch < 0x80 || !ensure_ascii) {
            jbuf_putc(b, (char)ch);
            i++;
        } else {
            uint32_t cp;
            i += ju8_decode(s + i, n - i, &cp);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            jbuf_puts(b, tmp);
        }
    }
    jbuf_putc(b, '"');
}

static void dump_float(jbuf *b, double x) {
    char tmp[48];
    if (isnan(x)) jbuf_puts(b, "NaN");
    else if (isinf(x)) jbuf_puts(b, x < 0 ? "-Infinity" : "Infinity");
    else { jfmt_double(x, tmp); jbuf_puts(b, tmp); }
}

static void newline_indent(jbuf *b, const jjson_opts *o, int level) {
    jbuf_putc(b, '\n');
    for (int k = 0; k < o->indent * level; k++) jbuf_putc(b, ' ');
}

static int key_cmp(const void *x, const void *y) {
    const jv *a = *(const jv *const *)x, *b = *(const jv *const *)y;
    size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
    int c = memcmp(a->s.p, b->s.p, n);
    if (c) return c;
    return a->s.n < b->s.n ? -1 : a->s.n > b->s.n;
}

static void dump(jbuf *b, jv v, const jjson_opts *o, int level, int line, int col) {
    if (level > 256) jfail(b->e, line, col, "tojson: value nested too deeply");
    char tmp[48];
    switch (v.kind) {
    case JV_NONE: jbuf_puts(b, "null"); return;
    case JV_BOOL: jbuf_puts(b, v.b ? "true" : "false"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.i); jbuf_puts(b, tmp); return;
    case JV_FLOAT: dump_float(b, v.f); return;
    case JV_STR: dump_str(b, v.s.p, v.s.n, o->ensure_ascii); return;
    case JV_LIST:
        if (v.l->gen) break;
        if (v.l->n == 0) { jbuf_puts(b, "[]"); return; }
        jbuf_putc(b, '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jbuf_puts(b, o->item_sep);
            if (o->indent >= 0) newline_indent(b, o, level + 1);
            dump(b, v.l->items[i], o, level + 1, line, col);
        }
        if (o->indent >= 0) newline_indent(b, o, level);
        jbuf_putc(b, ']');
        return;
    case JV_DICT: {
        if (v.d->ns) break;
        if (v.d->n == 0) { jbuf_puts(b, "{}"); return; }
        /* keys become strings as json.dumps does: str, int, float, bool, None */
        const jv **order = jalloc(b->a, b->e, v.d->n * sizeof *order);
        jv *skeys = jalloc(b->a, b->e, v.d->n * sizeof *skeys);
        for (size_t i = 0; i < v.d->n; i++) {
            jv k = v.d->keys[i];
            jbuf kb = {.a = b->a, .e = b->e};
            switch (k.kind) {
            case JV_STR: skeys[i] = k; break;
            case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)k.i); jbuf_puts(&kb, tmp); break;
            case JV_FLOAT: dump_float(&kb, k.f); break;
            case JV_BOOL: jbuf_puts(&kb, k.b ? "true" : "false"); break;
            case JV_NONE: jbuf_puts(&kb, "null"); break;
            default: jfail(b->e, line, col, "tojson: keys must be str, int, float, bool or None, not %s", jv_type_name(k));
            }
            if (k.kind != JV_STR) skeys[i] = jv_str(kb.p ? kb.p : "", kb.n);
            order[i] = &skeys[i];
        }
        if (o->sort_keys) qsort(order, v.d->n, sizeof *order, key_cmp);
        jbuf_putc(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            size_t idx = (size_t)(order[i] - skeys);
            if (i) jbuf_puts(b, o->item_sep);
            if (o->indent >= 0) newline_indent(b, o, level + 1);
            dump_str(b, skeys[idx].s.p, skeys[idx].s.n, o->ensure_ascii);
            jbuf_puts(b, o->key_sep);
            dump(b, v.d->vals[idx], o, level + 1, line, col);
        }
        if (o->indent >= 0) newline_indent(b, o, level);
        jbuf_putc(b, '}');
        return;
    }
    default: break;
    }
    jfail(b->e, line, col, "tojson: Object of type %s is not JSON serializable", v.kind == JV_LIST && v.l->gen ? "generator" : jv_type_name(v));
}

void jjson_dump(jbuf *b, jv v, const jjson_opts *o, int line, int col) { dump(b, v, o, 0, line, col); }
