/* Jinja values: arena, error unwinding, buffers, lists/dicts, Python truth, equality, str()
 * and repr(), and UTF-8 helpers. */
#include "tokenizer/jinja.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jarena_chunk { jarena_chunk *next; size_t used, cap; _Alignas(16) unsigned char data[]; };

_Noreturn void jfail(jerr *e, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->line = line;
    e->col = col;
    longjmp(e->jb, 1);
}

void *jalloc(jarena *a, jerr *e, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->limit && (n > a->limit || a->used_total > a->limit - n))
        jfail(e, 0, 0, "template exceeded its %zu MiB of working memory", a->limit >> 20);
    jarena_chunk *h = a->head;
    if (!h || h->cap - h->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        h = malloc(sizeof *h + cap);
        if (!h) jfail(e, 0, 0, "out of memory");
        h->next = a->head;
        h->used = 0;
        h->cap = cap;
        a->head = h;
    }
    void *p = h->data + h->used;
    h->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

void jarena_free(jarena *a) {
    jarena_chunk *h = a->head;
    while (h) {
        jarena_chunk *next = h->next;
        free(h);
        h = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

char *jstrdup(jarena *a, jerr *e, const char *s, size_t n) {
    char *p = jalloc(a, e, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ---- buffer ---- */
void jbuf_put(jbuf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > ((size_t)1 << 40)) jfail(b->e, 0, 0, "output too large");
            cap *= 2;
        }
        char *p = jalloc(b->a, b->e, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void jbuf_putc(jbuf *b, char ch) { jbuf_put(b, &ch, 1); }

/* ---- containers ---- */
jlist *jlist_new(jarena *a, jerr *e, size_t cap) {
    jlist *l = jalloc(a, e, sizeof *l);
    if (cap) l->items = jalloc(a, e, cap * sizeof(jv));
    l->cap = cap;
    return l;
}

void jlist_push(jarena *a, jerr *e, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *p = jalloc(a, e, cap * sizeof(jv));
        if (l->n) memcpy(p, l->items, l->n * sizeof(jv));
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = v;
}

jdict *jdict_new(jarena *a, jerr *e, size_t cap) {
    jdict *d = jalloc(a, e, sizeof *d);
    if (cap) {
        d->keys = jalloc(a, e, cap * sizeof(jv));
        d->vals = jalloc(a, e, cap * sizeof(jv));
    }
    d->cap = cap;
    return d;
}

const jv *jdict_getv(const jdict *d, jv key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

const jv *jdict_get(const jdict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].kind == JV_STR && d->keys[i].s.n == n && !memcmp(d->keys[i].s.p, key, n)) return &d->vals[i];
    return NULL;
}

void jdict_set(jarena *a, jerr *e, jdict *d, jv key, jv val) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) {
            d->vals[i] = val;
            return;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *k = jalloc(a, e, cap * sizeof(jv)), *v = jalloc(a, e, cap * sizeof(jv));
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof(jv));
            memcpy(v, d->vals, d->n * sizeof(jv));
        }
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
}

/* ---- Python semantics ---- */
bool jv_truthy(jv v) {
    switch (v.kind) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s.n != 0;
    case JV_LIST: return v.l->gen || v.l->n != 0;
    case JV_DICT: return v.d->ns || v.d->n != 0;
    default: return true;
    }
}

bool jv_is_number(jv v) { return v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL; }

double jv_as_double(jv v) {
    if (v.kind == JV_FLOAT) return v.f;
    if (v.kind == JV_INT) return (double)v.i;
    if (v.kind == JV_BOOL) return v.b;
    return 0;
}

bool jv_equal(jv a, jv b) {
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind != JV_FLOAT && b.kind != JV_FLOAT) {
            int64_t x = a.kind == JV_BOOL ? a.b : a.i, y = b.kind == JV_BOOL ? b.b : b.i;
            return x == y;
        }
        return jv_as_double(a) == jv_as_double(b);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a.s.n == b.s.n && !memcmp(a.s.p, b.s.p, a.s.n);
    case JV_LIST:
        if (a.l->gen || b.l->gen) return a.l == b.l;
        if (a.l->tuple != b.l->tuple || a.l->n != b.l->n) return false;
        for (size_t i = 0; i < a.l->n; i++)
            if (!jv_equal(a.l->items[i], b.l->items[i])) return false;
        return true;
    case JV_DICT:
        if (a.d->ns || b.d->ns) return a.d == b.d;
        if (a.d->n != b.d->n) return false;
        for (size_t i = 0; i < a.d->n; i++) {
            const jv *o = jdict_getv(b.d, a.d->keys[i]);
            if (!o || !jv_equal(a.d->vals[i], *o)) return false;
        }
        return true;
    case JV_FUNC: return a.fn == b.fn;
    case JV_LOOP: return a.loop == b.loop;
    default: return false;
    }
}

const char *jv_type_name(jv v) {
    switch (v.kind) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.l->tuple ? "tuple" : "list";
    case JV_DICT: return v.d->ns ? "Namespace" : "dict";
    case JV_FUNC: return "function";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

/* Python repr(float): the shortest digits that read back to the same double; fixed notation
 * for decimal exponents -4 <= e < 16, otherwise d.ddde+XX. */
void jfmt_double(double x, char out[40]) {
    if (isnan(x)) { strcpy(out, "nan"); return; }
    if (isinf(x)) { strcpy(out, x < 0 ? "-inf" : "inf"); return; }
    if (x == 0) { strcpy(out, signbit(x) ? "-0.0" : "0.0"); return; }
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    /* buf = [-]d.ddde[+-]XX: pull out sign, digits and exponent */
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp10 = atoi(p + 1);
    char *o = out;
    if (neg) *o++ = '-';
    if (exp10 < -4 || exp10 >= 16) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        return;
    }
    if (exp10 < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -exp10 - 1; i++) *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp10; i++) *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd > exp10 + 1) {
            memcpy(o, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
            o += nd - exp10 - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = 0;
}

static void repr_str(jbuf *b, const char *p, size_t n) {
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    jbuf_putc(b, q);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = ju8_decode(p + i, n - i, &cp);
        char tmp[16];
        if (cp == (uint32_t)q || cp == '\\') {
            jbuf_putc(b, '\\');
            jbuf_putc(b, (char)cp);
        } else if (cp == '\n') jbuf_puts(b, "\\n");
        else if (cp == '\r') jbuf_puts(b, "\\r");
        else if (cp == '\t') jbuf_puts(b, "\\t");
        else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || (k == 1 && cp >= 0x80)) {
            snprintf(tmp, sizeof tmp, "\\x%02x", cp & 0xff);
            jbuf_puts(b, tmp);
        } else {
            jbuf_put(b, p + i, k);
        }
        i += k;
    }
    jbuf_putc(b, q);
}

void jv_repr(jbuf *b, jv v) {
    switch (v.kind) {
    case JV_STR: repr_str(b, v.s.p, v.s.n); return;
    case JV_LIST:
        if (v.l->gen) { jbuf_puts(b, "<generator object>"); return; }
        jbuf_putc(b, v.l->tuple ? '(' : '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jbuf_puts(b, ", ");
            jv_repr(b, v.l->items[i]);
        }
        if (v.l->tuple && v.l->n == 1) jbuf_putc(b, ',');
        jbuf_putc(b, v.l->tuple ? ')' : ']');
        return;
    case JV_DICT:
        if (v.d->ns) jbuf_puts(b, "<Namespace ");
        jbuf_putc(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) jbuf_puts(b, ", ");
            jv_repr(b, v.d->keys[i]);
            jbuf_puts(b, ": ");
            jv_repr(b, v.d->vals[i]);
        }
        jbuf_putc(b, '}');
        if (v.d->ns) jbuf_putc(b, '>');
        return;
    default: jv_to_str(b, v);
    }
}

void jv_to_str(jbuf *b, jv v) {
    char tmp[48];
    switch (v.kind) {
    case JV_UNDEF: return;
    case JV_NONE: jbuf_puts(b, "None"); return;
    case JV_BOOL: jbuf_puts(b, v.b ? "True" : "False"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.i); jbuf_puts(b, tmp); return;
    case JV_FLOAT: jfmt_double(v.f, tmp); jbuf_puts(b, tmp); return;
    case JV_STR: jbuf_put(b, v.s.p, v.s.n); return;
    case JV_LIST: case JV_DICT: jv_repr(b, v); return;
    case JV_FUNC: jbuf_puts(b, "<function "); jbuf_puts(b, v.fn->name ? v.fn->name : "?"); jbuf_putc(b, '>'); return;
    case JV_LOOP: jbuf_puts(b, "<LoopContext>"); return;
    }
}

/* ---- UTF-8 ---- */
size_t ju8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if ((c & 0xe0) == 0xc0) { len = 2; v = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; v = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; v = c & 0x07; min = 0x10000; }
    else { *cp = c; return 1; }
    if (len > n) { *cp = c; return 1; }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) { *cp = c; return 1; }
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) { *cp = c; return 1; }
    *cp = v;
    return len;
}

size_t ju8_len(const char *p, size_t n) {
    size_t i = 0, count = 0;
    uint32_t cp;
    while (i < n) {
        i += ju8_decode(p + i, n - i, &cp);
        count++;
    }
    return count;
}

size_t ju8_offset(const char *p, size_t n, size_t k) {
    size_t i = 0;
    uint32_t cp;
    while (i < n && k > 0) {
        i += ju8_decode(p + i, n - i, &cp);
        k--;
    }
    return i;
}

bool ju_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Simple Unicode case mapping for Latin-1, Latin Extended-A, Greek and Cyrillic (what Python's
 * str.upper/lower do there, one code point to one, except the few multi-character cases that
 * jv_case_map handles). Elsewhere code points map to themselves. */
uint32_t ju_upper(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c == 0xb5) return 0x39c;
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 0x20;
    if (c == 0xff) return 0x178;
    if (c >= 0x100 && c <= 0x17f) {
        if (c == 0x131) return 'I';
        if (c == 0x17f) return 'S';
        if ((c <= 0x12f || (c >= 0x132 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) && (c & 1)) return c - 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) && !(c & 1)) return c - 1;
        return c;
    }
    if (c >= 0x3b1 && c <= 0x3c9) return c == 0x3c2 ? 0x3a3 : c - 0x20;
    if (c == 0x3ac) return 0x386;
    if (c >= 0x3ad && c <= 0x3af) return c - 0x25;
    if (c == 0x3cc) return 0x38c;
    if (c == 0x3cd || c == 0x3ce) return c - 0x3f;
    if (c >= 0x430 && c <= 0x44f) return c - 0x20;
    if (c >= 0x450 && c <= 0x45f) return c - 0x50;
    if (((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf)) && (c & 1)) return c - 1;
    return c;
}

uint32_t ju_lower(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 0x20;
    if (c >= 0x100 && c <= 0x17f) {
        if (c == 0x178) return 0xff;
        if ((c <= 0x12f || (c >= 0x132 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) && !(c & 1)) return c + 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) && (c & 1)) return c + 1;
        return c;
    }
    if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 0x20;
    if (c == 0x386) return 0x3ac;
    if (c >= 0x388 && c <= 0x38a) return c + 0x25;
    if (c == 0x38c) return 0x3cc;
    if (c == 0x38e || c == 0x38f) return c + 0x3f;
    if (c >= 0x410 && c <= 0x42f) return c + 0x20;
    if (c >= 0x400 && c <= 0x40f) return c + 0x50;
    if (((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf)) && !(c & 1)) return c + 1;
    return c;
}

bool ju_cased(uint32_t c) {
    return ju_upper(c) != c || ju_lower(c) != c || c == 0xdf || c == 0x138 || c == 0x149 || c == 0x130;
}

static void put_cp(jbuf *b, uint32_t cp) {
    char t[4];
    if (cp < 0x80) { t[0] = (char)cp; jbuf_put(b, t, 1); }
    else if (cp < 0x800) { t[0] = (char)(0xc0 | (cp >> 6)); t[1] = (char)(0x80 | (cp & 0x3f)); jbuf_put(b, t, 2); }
    else if (cp < 0x10000) { t[0] = (char)(0xe0 | (cp >> 12)); t[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[2] = (char)(0x80 | (cp & 0x3f)); jbuf_put(b, t, 3); }
    else { t[0] = (char)(0xf0 | (cp >> 18)); t[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[3] = (char)(0x80 | (cp & 0x3f)); jbuf_put(b, t, 4); }
}

/* mode 'u' upper, 'l' lower, 't' Python str.title(), 'c' str.capitalize() */
jv jv_case_map(jarena *a, jerr *e, jv s, char mode) {
    jbuf b = {.a = a, .e = e};
    size_t i = 0;
    bool prev_cased = false, first = true;
    while (i < s.s.n) {
        uint32_t cp;
        size_t k = ju8_decode(s.s.p + i, s.s.n - i, &cp);
        if (k == 1 && cp >= 0x80) { jbuf_put(&b, s.s.p + i, 1); i++; prev_cased = false; first = false; continue; }
        bool up = mode == 'u' || (mode == 't' && !prev_cased) || (mode == 'c' && first);
        if (up) {
            if (cp == 0xdf) jbuf_puts(&b, (mode == 'u') ? "SS" : "Ss");
            else if (cp == 0x149) { put_cp(&b, 0x2bc); jbuf_putc(&b, 'N'); }
            else put_cp(&b, ju_upper(cp));
        } else {
            if (cp == 0x130) { jbuf_putc(&b, 'i'); put_cp(&b, 0x307); }
            else put_cp(&b, ju_lower(cp));
        }
        prev_cased = ju_cased(cp);
        first = false;
        i += k;
    }
    return jv_str(b.p ? b.p : "", b.n);
}
