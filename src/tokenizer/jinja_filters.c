/* Jinja filters, tests, the methods templates call on str/dict/list values, and the globals of
 * transformers' chat-template environment (range, namespace, dict, raise_exception,
 * strftime_now). String case mapping: see jv_case_map. */
#include "tokenizer/jinja.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- argument helpers ---- */
static const jv *arg(jargs *a, size_t i, const char *name) {
    if (i < a->npos) return &a->pos[i];
    for (size_t k = 0; k < a->nkw; k++)
        if (!strcmp(a->kwn[k], name)) return &a->kwv[k];
    return NULL;
}

static void check_args(jctx *c, jargs *a, size_t max_pos, const char *const *kw, const char *fname, const jnode *at) {
    if (a->npos > max_pos) jcfail(c, at, "%s() takes at most %zu positional argument(s) (%zu given)", fname, max_pos, a->npos);
    for (size_t k = 0; k < a->nkw; k++) {
        bool ok = false;
        for (size_t j = 0; kw && kw[j]; j++) ok |= !strcmp(kw[j], a->kwn[k]);
        if (!ok) jcfail(c, at, "%s() got an unexpected keyword argument '%s'", fname, a->kwn[k]);
    }
}

static jv mk_list(jlist *l) { jv v = {.kind = JV_LIST}; v.l = l; return v; }
/* jinja2 filters that return Python generators: always true, no len(), not JSON */
static jv mk_gen(jlist *l) { l->gen = true; return mk_list(l); }
static jv mk_dict(jdict *d) { jv v = {.kind = JV_DICT}; v.d = d; return v; }

static jv need_str(jctx *c, jv v, const char *what, const jnode *at) {
    if (v.kind != JV_STR) jcfail(c, at, "%s expects a string, got %s", what, jv_type_name(v));
    return v;
}

static int64_t need_int(jctx *c, jv v, const char *what, const jnode *at) {
    if (v.kind == JV_INT) return v.i;
    if (v.kind == JV_BOOL) return v.b;
    jcfail(c, at, "%s expects an integer, got %s", what, jv_type_name(v));
}

static char ascii_upper(char ch) { return (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch; }
static char ascii_lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch; }

static jv map_case(jctx *c, jv s, char (*fn)(char)) { return jv_case_map(c->a, c->e, s, fn == ascii_upper ? 'u' : 'l'); }

/* Python str.strip/lstrip/rstrip: chars NULL -> whitespace, else any code point in chars */
static bool in_chars(uint32_t cp, jv chars) {
    if (chars.kind != JV_STR) return ju_isspace(cp);
    size_t i = 0;
    while (i < chars.s.n) {
        uint32_t x;
        i += ju8_decode(chars.s.p + i, chars.s.n - i, &x);
        if (x == cp) return true;
    }
    return false;
}

static jv strip(jv s, jv chars, bool left, bool right) {
    size_t b = 0, e = s.s.n;
    if (left)
        while (b < e) {
            uint32_t cp;
            size_t k = ju8_decode(s.s.p + b, e - b, &cp);
            if (!in_chars(cp, chars)) break;
            b += k;
        }
    if (right)
        while (e > b) {
            size_t k = 1;
            while (k < e - b && k < 4 && ((unsigned char)s.s.p[e - k] & 0xc0) == 0x80) k++;
            uint32_t cp;
            if (ju8_decode(s.s.p + e - k, k, &cp) != k) { k = 1; ju8_decode(s.s.p + e - 1, 1, &cp); }
            if (!in_chars(cp, chars)) break;
            e -= k;
        }
    return jv_str(s.s.p + b, e - b);
}

static const char *find_sub(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (!memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

static jv str_replace(jctx *c, jv s, jv old, jv rep, int64_t count) {
    jbuf b = {.a = c->a, .e = c->e};
    if (old.s.n == 0) { /* Python inserts rep between every code point (and at both ends) */
        size_t i = 0;
        int64_t done = 0;
        for (;;) {
            if (count < 0 || done < count) { jbuf_put(&b, rep.s.p, rep.s.n); done++; }
            if (i >= s.s.n) break;
            uint32_t cp;
            size_t k = ju8_decode(s.s.p + i, s.s.n - i, &cp);
            jbuf_put(&b, s.s.p + i, k);
            i += k;
        }
        return jv_str(b.p ? b.p : "", b.n);
    }
    size_t i = 0;
    int64_t done = 0;
    while (i < s.s.n) {
        const char *hit = (count < 0 || done < count) ? find_sub(s.s.p + i, s.s.n - i, old.s.p, old.s.n) : NULL;
        if (!hit) { jbuf_put(&b, s.s.p + i, s.s.n - i); break; }
        jbuf_put(&b, s.s.p + i, (size_t)(hit - (s.s.p + i)));
        jbuf_put(&b, rep.s.p, rep.s.n);
        i = (size_t)(hit - s.s.p) + old.s.n;
        done++;
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jv str_split(jctx *c, jv s, jv sep, int64_t maxsplit, const jnode *at) {
    jlist *l = jlist_new(c->a, c->e, 0);
    if (sep.kind == JV_NONE || sep.kind == JV_UNDEF) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            while (i < s.s.n) { /* skip whitespace */
                uint32_t cp;
                size_t k = ju8_decode(s.s.p + i, s.s.n - i, &cp);
                if (!ju_isspace(cp)) break;
                i += k;
            }
            if (i >= s.s.n) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                jv rest = strip(jv_str(s.s.p + i, s.s.n - i), jv_none(), false, true);
                jlist_push(c->a, c->e, l, rest);
                break;
            }
            size_t st = i;
            while (i < s.s.n) {
                uint32_t cp;
                size_t k = ju8_decode(s.s.p + i, s.s.n - i, &cp);
                if (ju_isspace(cp)) break;
                i += k;
            }
            jlist_push(c->a, c->e, l, jv_str(s.s.p + st, i - st));
            splits++;
        }
        return mk_list(l);
    }
    need_str(c, sep, "split separator", at);
    if (sep.s.n == 0) jcfail(c, at, "empty separator");
    size_t i = 0;
    int64_t splits = 0;
    for (;;) {
        const char *hit = (maxsplit < 0 || splits < maxsplit) ? find_sub(s.s.p + i, s.s.n - i, sep.s.p, sep.s.n) : NULL;
        if (!hit) { jlist_push(c->a, c->e, l, jv_str(s.s.p + i, s.s.n - i)); break; }
        jlist_push(c->a, c->e, l, jv_str(s.s.p + i, (size_t)(hit - (s.s.p + i))));
        i = (size_t)(hit - s.s.p) + sep.s.n;
        splits++;
    }
    return mk_list(l);
}

static bool affix_match(jctx *c, jv s, jv affix, bool prefix, const jnode *at) {
    if (affix.kind == JV_LIST && affix.l->tuple) {
        for (size_t i = 0; i < affix.l->n; i++)
            if (affix_match(c, s, affix.l->items[i], prefix, at)) return true;
        return false;
    }
    need_str(c, affix, prefix ? "startswith" : "endswith", at);
    if (affix.s.n > s.s.n) return false;
    return !memcmp(prefix ? s.s.p : s.s.p + s.s.n - affix.s.n, affix.s.p, affix.s.n);
}

static jv capitalize(jctx *c, jv s) { return jv_case_map(c->a, c->e, s, 'c'); }

/* ---- methods ---- */
typedef jv (*method_fn)(jctx *c, jv self, jargs *a, const jnode *at);

static jv m_strip(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 1, NULL, "strip", at); const jv *ch = arg(a, 0, ""); return strip(s, ch ? *ch : jv_none(), true, true); }
static jv m_lstrip(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 1, NULL, "lstrip", at); const jv *ch = arg(a, 0, ""); return strip(s, ch ? *ch : jv_none(), true, false); }
static jv m_rstrip(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 1, NULL, "rstrip", at); const jv *ch = arg(a, 0, ""); return strip(s, ch ? *ch : jv_none(), false, true); }
static jv m_split(jctx *c, jv s, jargs *a, const jnode *at) {
    static const char *const kw[] = {"sep", "maxsplit", NULL};
    check_args(c, a, 2, kw, "split", at);
    const jv *sep = arg(a, 0, "sep"), *mx = arg(a, 1, "maxsplit");
    return str_split(c, s, sep ? *sep : jv_none(), mx ? need_int(c, *mx, "maxsplit", at) : -1, at);
}
static jv m_startswith(jctx *c, jv s, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "startswith", at);
    if (!a->npos) jcfail(c, at, "startswith() takes at least 1 argument");
    return jv_bool(affix_match(c, s, a->pos[0], true, at));
}
static jv m_endswith(jctx *c, jv s, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "endswith", at);
    if (!a->npos) jcfail(c, at, "endswith() takes at least 1 argument");
    return jv_bool(affix_match(c, s, a->pos[0], false, at));
}
static jv m_upper(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "upper", at); return map_case(c, s, ascii_upper); }
static jv m_lower(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "lower", at); return map_case(c, s, ascii_lower); }
static jv m_capitalize(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "capitalize", at); return capitalize(c, s); }
static jv m_title(jctx *c, jv s, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "title", at); return jv_case_map(c->a, c->e, s, 't'); }
static jv m_replace(jctx *c, jv s, jargs *a, const jnode *at) {
    check_args(c, a, 3, NULL, "replace", at);
    if (a->npos < 2) jcfail(c, at, "replace() takes at least 2 arguments");
    const jv *cnt = arg(a, 2, "");
    return str_replace(c, s, need_str(c, a->pos[0], "replace", at), need_str(c, a->pos[1], "replace", at),
                       cnt ? need_int(c, *cnt, "replace count", at) : -1);
}
static jv m_find(jctx *c, jv s, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "find", at);
    if (!a->npos) jcfail(c, at, "find() takes at least 1 argument");
    jv sub = need_str(c, a->pos[0], "find", at);
    const char *hit = find_sub(s.s.p, s.s.n, sub.s.p, sub.s.n);
    return jv_int(hit ? (int64_t)ju8_len(s.s.p, (size_t)(hit - s.s.p)) : -1);
}
static jv m_count(jctx *c, jv s, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "count", at);
    if (!a->npos) jcfail(c, at, "count() takes at least 1 argument");
    if (s.kind == JV_LIST) {
        int64_t k = 0;
        for (size_t i = 0; i < s.l->n; i++) k += jv_equal(s.l->items[i], a->pos[0]);
        return jv_int(k);
    }
    jv sub = need_str(c, a->pos[0], "count", at);
    if (sub.s.n == 0) return jv_int((int64_t)ju8_len(s.s.p, s.s.n) + 1);
    int64_t k = 0;
    size_t i = 0;
    const char *hit;
    while ((hit = find_sub(s.s.p + i, s.s.n - i, sub.s.p, sub.s.n))) {
        k++;
        i = (size_t)(hit - s.s.p) + sub.s.n;
    }
    return jv_int(k);
}
static jv m_join(jctx *c, jv s, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "join", at);
    if (!a->npos) jcfail(c, at, "join() takes exactly one argument");
    jlist *l = jiter_list(c, a->pos[0], at);
    jbuf b = {.a = c->a, .e = c->e};
    for (size_t i = 0; i < l->n; i++) {
        if (i) jbuf_put(&b, s.s.p, s.s.n);
        if (l->items[i].kind != JV_STR) jcfail(c, at, "sequence item %zu: expected str instance, %s found", i, jv_type_name(l->items[i]));
        jbuf_put(&b, l->items[i].s.p, l->items[i].s.n);
    }
    return jv_str(b.p ? b.p : "", b.n);
}
static jv str_class(jctx *c, jv s, jargs *a, const jnode *at, int kind) {
    check_args(c, a, 0, NULL, "is*", at);
    if (s.s.n == 0) return jv_bool(false);
    bool has_cased = false, has_upper = false, has_lower = false;
    for (size_t i = 0; i < s.s.n; i++) {
        char ch = s.s.p[i];
        bool digit = ch >= '0' && ch <= '9', up = ch >= 'A' && ch <= 'Z', lo = ch >= 'a' && ch <= 'z';
        has_cased |= up || lo;
        has_upper |= up;
        has_lower |= lo;
        switch (kind) {
        case 0: if (!digit) return jv_bool(false); break;
        case 1: if (!(up || lo)) return jv_bool(false); break;
        case 2: if (!(up || lo || digit)) return jv_bool(false); break;
        case 3: if (!ju_isspace((unsigned char)ch)) return jv_bool(false); break;
        }
    }
    if (kind == 4 || kind == 5) { /* Unicode: cased code points all lower (upper) */
        has_cased = has_upper = has_lower = false;
        size_t i = 0;
        while (i < s.s.n) {
            uint32_t cp;
            i += ju8_decode(s.s.p + i, s.s.n - i, &cp);
            if (!ju_cased(cp)) continue;
            has_cased = true;
            if (ju_lower(cp) != cp) has_upper = true;
            if (ju_upper(cp) != cp) has_lower = true;
        }
    }
    if (kind == 4) return jv_bool(has_cased && !has_upper);
    if (kind == 5) return jv_bool(has_cased && !has_lower);
    return jv_bool(true);
}
static jv m_isdigit(jctx *c, jv s, jargs *a, const jnode *at) { return str_class(c, s, a, at, 0); }
static jv m_isalpha(jctx *c, jv s, jargs *a, const jnode *at) { return str_class(c, s, a, at, 1); }
static jv m_isalnum(jctx *c, jv s, jargs *a, const jnode *at) { return str_class(c, s, a, at, 2); }
static jv m_isspace(jctx *c, jv s, jargs *a, const jnode *at) { return str_class(c, s, a, at, 3); }
static jv m_islower(jctx *c, jv s, jargs *a, const jnode *at) { return str_class(c, s, a, at, 4); }
static jv m_isupper(jctx *c, jv s, jargs *a, const jnode *at) { return str_class(c, s, a, at, 5); }

static jv m_items(jctx *c, jv d, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "items", at);
    jlist *l = jlist_new(c->a, c->e, d.d->n);
    for (size_t i = 0; i < d.d->n; i++) {
        jlist *t = jlist_new(c->a, c->e, 2);
        t->tuple = true;
        jlist_push(c->a, c->e, t, d.d->keys[i]);
        jlist_push(c->a, c->e, t, d.d->vals[i]);
        jlist_push(c->a, c->e, l, mk_list(t));
    }
    return mk_list(l);
}
static jv m_keys(jctx *c, jv d, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "keys", at);
    jlist *l = jlist_new(c->a, c->e, d.d->n);
    for (size_t i = 0; i < d.d->n; i++) jlist_push(c->a, c->e, l, d.d->keys[i]);
    return mk_list(l);
}
static jv m_values(jctx *c, jv d, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "values", at);
    jlist *l = jlist_new(c->a, c->e, d.d->n);
    for (size_t i = 0; i < d.d->n; i++) jlist_push(c->a, c->e, l, d.d->vals[i]);
    return mk_list(l);
}
static jv m_get(jctx *c, jv d, jargs *a, const jnode *at) {
    check_args(c, a, 2, NULL, "get", at);
    if (!a->npos) jcfail(c, at, "get expected at least 1 argument, got 0");
    const jv *v = jdict_getv(d.d, a->pos[0]);
    if (v) return *v;
    return a->npos > 1 ? a->pos[1] : jv_none();
}
static jv m_index(jctx *c, jv l, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "index", at);
    if (!a->npos) jcfail(c, at, "index() takes at least 1 argument");
    if (l.kind == JV_STR) {
        jv r = m_find(c, l, a, at);
        if (r.i < 0) jcfail(c, at, "substring not found");
        return r;
    }
    for (size_t i = 0; i < l.l->n; i++)
        if (jv_equal(l.l->items[i], a->pos[0])) return jv_int((int64_t)i);
    jcfail(c, at, "value is not in list");
}
static jv m_cycle(jctx *c, jv lp, jargs *a, const jnode *at) {
    if (!a->npos) jcfail(c, at, "no items for cycling given");
    return a->pos[lp.loop->index0 % (int64_t)a->npos];
}

typedef struct method { jkind on; const char *name; method_fn fn; } method;
static const method METHODS[] = {
    {JV_STR, "strip", m_strip}, {JV_STR, "lstrip", m_lstrip}, {JV_STR, "rstrip", m_rstrip},
    {JV_STR, "split", m_split}, {JV_STR, "startswith", m_startswith}, {JV_STR, "endswith", m_endswith},
    {JV_STR, "upper", m_upper}, {JV_STR, "lower", m_lower}, {JV_STR, "capitalize", m_capitalize},
    {JV_STR, "title", m_title}, {JV_STR, "replace", m_replace}, {JV_STR, "find", m_find},
    {JV_STR, "count", m_count}, {JV_STR, "join", m_join}, {JV_STR, "index", m_index},
    {JV_STR, "isdigit", m_isdigit}, {JV_STR, "isalpha", m_isalpha}, {JV_STR, "isalnum", m_isalnum},
    {JV_STR, "isspace", m_isspace}, {JV_STR, "islower", m_islower}, {JV_STR, "isupper", m_isupper},
    {JV_DICT, "items", m_items}, {JV_DICT, "keys", m_keys}, {JV_DICT, "values", m_values}, {JV_DICT, "get", m_get},
    {JV_LIST, "index", m_index}, {JV_LIST, "count", m_count},
    {JV_LOOP, "cycle", m_cycle},
};
/* methods that modify their object: the immutable sandbox refuses them */
static const char *const UNSAFE[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear",
                                     "popitem", "setdefault", "update", NULL};

static jv call_method(jctx *c, jfunc *f, jargs *a, const jnode *at) {
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (METHODS[i].on == f->self.kind && !strcmp(METHODS[i].name, f->name)) return METHODS[i].fn(c, f->self, a, at);
    jcfail(c, at, "access to attribute '%s' of '%s' object is unsafe.", f->name, jv_type_name(f->self));
}

jv jmethod_lookup(jctx *c, jv obj, const char *name, size_t n) {
    bool found = false;
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0] && !found; i++)
        found = METHODS[i].on == obj.kind && strlen(METHODS[i].name) == n && !memcmp(METHODS[i].name, name, n);
    if (!found && (obj.kind == JV_LIST || (obj.kind == JV_DICT && !obj.d->ns)))
        for (size_t i = 0; UNSAFE[i] && !found; i++) found = strlen(UNSAFE[i]) == n && !memcmp(UNSAFE[i], name, n);
    if (!found) return jv_undef(NULL);
    jfunc *f = jalloc(c->a, c->e, sizeof *f);
    f->name = jstrdup(c->a, c->e, name, n);
    f->fn = call_method;
    f->self = obj;
    jv v = {.kind = JV_FUNC};
    v.fn = f;
    return v;
}

/* ---- sorting (stable merge sort with Python ordering) ---- */
typedef struct sortctx { jctx *c; const jnode *at; bool case_sensitive; jv *keys; } sortctx;

static jv fold_key(sortctx *s, jv v) {
    if (!s->case_sensitive && v.kind == JV_STR) return map_case(s->c, v, ascii_lower);
    return v;
}

static void merge_sort(sortctx *s, size_t *idx, size_t *tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(s, idx, tmp, h);
    merge_sort(s, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        /* take from the right only if strictly smaller: keeps equal items in order */
        if (jcompare(s->c, JOP_LT, s->keys[idx[j]], s->keys[idx[i]], s->at)) tmp[k++] = idx[j++];
        else tmp[k++] = idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static jv attr_path(jctx *c, jv obj, jv path, const jnode *at);

static jlist *sorted(jctx *c, jlist *in, bool reverse, bool cs, const jv *attribute, int pair_index, const jnode *at) {
    sortctx s = {.c = c, .at = at, .case_sensitive = cs};
    size_t n = in->n;
    s.keys = jalloc(c->a, c->e, (n + 1) * sizeof(jv));
    size_t *idx = jalloc(c->a, c->e, (n + 1) * sizeof(size_t)), *tmp = jalloc(c->a, c->e, (n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        jv k = in->items[i];
        if (attribute) k = attr_path(c, k, *attribute, at);
        if (pair_index >= 0 && k.kind == JV_LIST && k.l->n == 2) k = k.l->items[pair_index];
        s.keys[i] = fold_key(&s, k);
        idx[i] = i;
    }
    if (reverse) { /* Python's reverse=True keeps the stability of equal items */
        for (size_t i = 0; i < n / 2; i++) { size_t t = idx[i]; idx[i] = idx[n - 1 - i]; idx[n - 1 - i] = t; }
        merge_sort(&s, idx, tmp, n);
        for (size_t i = 0; i < n / 2; i++) { size_t t = idx[i]; idx[i] = idx[n - 1 - i]; idx[n - 1 - i] = t; }
    } else {
        merge_sort(&s, idx, tmp, n);
    }
    jlist *out = jlist_new(c->a, c->e, n);
    for (size_t i = 0; i < n; i++) jlist_push(c->a, c->e, out, in->items[idx[i]]);
    return out;
}

/* jinja's attribute getter: "a.b.0" looks up a, then b, then item 0 */
static jv attr_path(jctx *c, jv obj, jv path, const jnode *at) {
    if (path.kind == JV_INT) return jget_item(c, obj, path, at);
    need_str(c, path, "attribute", at);
    size_t i = 0;
    while (i <= path.s.n) {
        size_t j = i;
        while (j < path.s.n && path.s.p[j] != '.') j++;
        jv key = jv_str(path.s.p + i, j - i);
        bool digits = j > i;
        int64_t num = 0;
        for (size_t k = i; k < j; k++) {
            if (path.s.p[k] < '0' || path.s.p[k] > '9' || num > (INT64_MAX - 9) / 10) { digits = false; break; }
            num = num * 10 + (path.s.p[k] - '0');
        }
        obj = jget_item(c, obj, digits ? jv_int(num) : key, at);
        i = j + 1;
    }
    return obj;
}

/* ---- filters ---- */
typedef jv (*filter_fn)(jctx *c, jv v, jargs *a, const jnode *at);

static jv f_abs(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "abs", at);
    if (v.kind == JV_INT) { if (v.i == INT64_MIN) jcfail(c, at, "integer overflow"); return jv_int(v.i < 0 ? -v.i : v.i); }
    if (v.kind == JV_BOOL) return jv_int(v.b);
    if (v.kind == JV_FLOAT) return jv_float(fabs(v.f));
    jcfail(c, at, "bad operand type for abs(): '%s'", jv_type_name(v));
}
static jv f_attr(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 1, NULL, "attr", at);
    if (!a->npos) jcfail(c, at, "attr() needs a name");
    jv name = need_str(c, a->pos[0], "attr", at);
    return jget_attr(c, v, jstrdup(c->a, c->e, name.s.p, name.s.n), name.s.n, at);
}
static jv f_capitalize(jctx *c, jv v, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "capitalize", at); return capitalize(c, jstr_of(c, v)); }
static jv f_length(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "length", at);
    switch (v.kind) {
    case JV_STR: return jv_int((int64_t)ju8_len(v.s.p, v.s.n));
    case JV_LIST:
        if (v.l->gen) jcfail(c, at, "object of type 'generator' has no len()");
        return jv_int((int64_t)v.l->n);
    case JV_DICT: if (!v.d->ns) return jv_int((int64_t)v.d->n); break;
    case JV_UNDEF: return jv_int(0);
    case JV_LOOP: return jv_int(v.loop->length);
    default: break;
    }
    jcfail(c, at, "object of type '%s' has no len()", jv_type_name(v));
}
static jv f_default(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"default_value", "boolean", NULL};
    check_args(c, a, 2, kw, "default", at);
    const jv *d = arg(a, 0, "default_value"), *b = arg(a, 1, "boolean");
    bool boolean = b && jv_truthy(*b);
    if (v.kind == JV_UNDEF || (boolean && !jv_truthy(v))) return d ? *d : jv_str("", 0);
    return v;
}
static jv f_dictsort(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"case_sensitive", "by", "reverse", NULL};
    check_args(c, a, 3, kw, "dictsort", at);
    if (v.kind != JV_DICT) jcfail(c, at, "dictsort expects a dict, got %s", jv_type_name(v));
    const jv *cs = arg(a, 0, "case_sensitive"), *by = arg(a, 1, "by"), *rev = arg(a, 2, "reverse");
    bool by_value = false;
    if (by) {
        need_str(c, *by, "dictsort by", at);
        if (by->s.n == 5 && !memcmp(by->s.p, "value", 5)) by_value = true;
        else if (!(by->s.n == 3 && !memcmp(by->s.p, "key", 3))) jcfail(c, at, "You can only sort by either \"key\" or \"value\"");
    }
    jargs none = {0};
    jv items = m_items(c, v, &none, at);
    return mk_list(sorted(c, items.l, rev && jv_truthy(*rev), cs && jv_truthy(*cs), NULL, by_value ? 1 : 0, at));
}
static jv f_escape(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "escape", at);
    jv s = jstr_of(c, v);
    jbuf b = {.a = c->a, .e = c->e};
    for (size_t i = 0; i < s.s.n; i++) {
        switch (s.s.p[i]) {
        case '&': jbuf_puts(&b, "&amp;"); break;
        case '<': jbuf_puts(&b, "&lt;"); break;
        case '>': jbuf_puts(&b, "&gt;"); break;
        case '"': jbuf_puts(&b, "&#34;"); break;
        case '\'': jbuf_puts(&b, "&#39;"); break;
        default: jbuf_putc(&b, s.s.p[i]);
        }
    }
    return jv_str(b.p ? b.p : "", b.n);
}
static jv f_first(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "first", at);
    jlist *l = jiter_list(c, v, at);
    return l->n ? l->items[0] : jv_undef("No first item, sequence was empty.");
}
static jv f_last(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "last", at);
    jlist *l = jiter_list(c, v, at);
    return l->n ? l->items[l->n - 1] : jv_undef("No last item, sequence was empty.");
}
static bool parse_number_str(jv s, bool want_int, int64_t *iv, double *fv) {
    jv t = strip(s, jv_none(), true, true);
    char buf[128];
    if (t.s.n == 0 || t.s.n >= sizeof buf) return false;
    size_t m = 0;
    for (size_t i = 0; i < t.s.n; i++)
        if (t.s.p[i] != '_') buf[m++] = t.s.p[i];
    buf[m] = 0;
    char *end;
    if (want_int) {
        errno = 0;
        long long x = strtoll(buf, &end, 10);
        if (*end == 0 && !errno) { *iv = x; return true; }
    }
    double d = strtod(buf, &end);
    if (*end != 0) return false;
    *fv = d;
    *iv = (int64_t)d;
    return want_int ? (isfinite(d) && fabs(d) < 9.2e18) : true;
}
static jv f_float(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"default", NULL};
    check_args(c, a, 1, kw, "float", at);
    const jv *d = arg(a, 0, "default");
    jv dflt = d ? *d : jv_float(0.0);
    if (v.kind == JV_UNDEF) jcfail(c, at, "%s", v.s.p ? v.s.p : "value is undefined");
    if (jv_is_number(v)) return jv_float(jv_as_double(v));
    if (v.kind == JV_STR) {
        int64_t iv;
        double fv;
        if (parse_number_str(v, false, &iv, &fv)) return jv_float(fv);
    }
    return dflt;
}
static jv f_int(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"default", "base", NULL};
    check_args(c, a, 2, kw, "int", at);
    const jv *d = arg(a, 0, "default");
    jv dflt = d ? *d : jv_int(0);
    if (v.kind == JV_UNDEF) jcfail(c, at, "%s", v.s.p ? v.s.p : "value is undefined");
    if (v.kind == JV_INT) return v;
    if (v.kind == JV_BOOL) return jv_int(v.b);
    if (v.kind == JV_FLOAT) return isfinite(v.f) && fabs(v.f) < 9.2e18 ? jv_int((int64_t)v.f) : dflt;
    if (v.kind == JV_STR) {
        int64_t iv;
        double fv;
        if (parse_number_str(v, true, &iv, &fv)) return jv_int(iv);
    }
    return dflt;
}
static jv f_indent(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"width", "first", "blank", NULL};
    check_args(c, a, 3, kw, "indent", at);
    const jv *w = arg(a, 0, "width"), *fi = arg(a, 1, "first"), *bl = arg(a, 2, "blank");
    jv ind;
    if (w && w->kind == JV_STR) ind = *w;
    else {
        int64_t width = w ? need_int(c, *w, "indent width", at) : 4;
        if (width < 0) width = 0;
        if (width > 4096) jcfail(c, at, "indent width too large");
        char *p = jalloc(c->a, c->e, (size_t)width + 1);
        memset(p, ' ', (size_t)width);
        ind = jv_str(p, (size_t)width);
    }
    if (v.kind == JV_UNDEF) jcfail(c, at, "%s", v.s.p ? v.s.p : "value is undefined");
    if (v.kind != JV_STR) jcfail(c, at, "indent expects a string, got %s", jv_type_name(v));
    jv s = v;
    bool blank = bl && jv_truthy(*bl);
    jbuf b = {.a = c->a, .e = c->e};
    /* jinja: (s + "\n").splitlines(), i.e. s split at every Python line boundary (\r\n counts
     * once); lines after the first are indented (empty ones only with blank=True); joined by "\n" */
    size_t i = 0, line = 0;
    for (;;) {
        size_t j = i, next = s.s.n;
        bool found = false;
        while (j < s.s.n) {
            uint32_t cp;
            size_t k = ju8_decode(s.s.p + j, s.s.n - j, &cp);
            if (cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e) || cp == 0x85 ||
                cp == 0x2028 || cp == 0x2029) {
                next = j + k;
                if (cp == '\r' && next < s.s.n && s.s.p[next] == '\n') next++;
                found = true;
                break;
            }
            j += k;
        }
        if (line > 0) {
            jbuf_putc(&b, '\n');
            if (blank || j > i) jbuf_put(&b, ind.s.p, ind.s.n);
        }
        jbuf_put(&b, s.s.p + i, j - i);
        line++;
        if (!found) break;
        i = next;
    }
    jv r = jv_str(b.p ? b.p : "", b.n);
    if (fi && jv_truthy(*fi)) r = jbinop(c, JOP_CONCAT, ind, r, at);
    return r;
}
static jv f_items(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "items", at);
    if (v.kind == JV_UNDEF) return mk_gen(jlist_new(c->a, c->e, 0));
    if (v.kind != JV_DICT || v.d->ns) jcfail(c, at, "Can only get item pairs from a mapping.");
    jv r = m_items(c, v, a, at);
    r.l->gen = true;
    return r;
}
static jv f_join(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"d", "attribute", NULL};
    check_args(c, a, 2, kw, "join", at);
    const jv *d = arg(a, 0, "d"), *attr = arg(a, 1, "attribute");
    jv sep = d ? jstr_of(c, *d) : jv_str("", 0);
    jlist *l = jiter_list(c, v, at);
    jbuf b = {.a = c->a, .e = c->e};
    for (size_t i = 0; i < l->n; i++) {
        if (i) jbuf_put(&b, sep.s.p, sep.s.n);
        jv it = attr ? attr_path(c, l->items[i], *attr, at) : l->items[i];
        jv_to_str(&b, it);
    }
    return jv_str(b.p ? b.p : "", b.n);
}
static jv f_list(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "list", at);
    jlist *src = jiter_list(c, v, at), *l = jlist_new(c->a, c->e, src->n);
    for (size_t i = 0; i < src->n; i++) jlist_push(c->a, c->e, l, src->items[i]);
    return mk_list(l);
}
static jv f_lower(jctx *c, jv v, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "lower", at); return map_case(c, jstr_of(c, v), ascii_lower); }
static jv f_upper(jctx *c, jv v, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "upper", at); return map_case(c, jstr_of(c, v), ascii_upper); }
static jv f_map(jctx *c, jv v, jargs *a, const jnode *at) {
    jlist *src = jiter_list(c, v, at), *l = jlist_new(c->a, c->e, src->n);
    const jv *attr = NULL, *dflt = NULL;
    for (size_t k = 0; k < a->nkw; k++) {
        if (!strcmp(a->kwn[k], "attribute")) attr = &a->kwv[k];
        else if (!strcmp(a->kwn[k], "default")) dflt = &a->kwv[k];
    }
    int fidx = -1;
    if (!attr) {
        if (!a->npos) jcfail(c, at, "map requires a filter argument");
        jv name = need_str(c, a->pos[0], "map", at);
        fidx = jfilter_find(name.s.p, name.s.n);
        if (fidx < 0) jcfail(c, at, "No filter named '%.*s'.", (int)name.s.n, name.s.p);
    }
    jargs rest = {.pos = a->pos + (a->npos ? 1 : 0), .npos = a->npos ? a->npos - 1 : 0, .kwn = a->kwn, .kwv = a->kwv, .nkw = attr ? 0 : a->nkw};
    for (size_t i = 0; i < src->n; i++) {
        jv it;
        if (attr) {
            it = attr_path(c, src->items[i], *attr, at);
            if (it.kind == JV_UNDEF && dflt) it = *dflt;
        } else {
            it = jfilter_apply(c, fidx, src->items[i], &rest, at);
        }
        jlist_push(c->a, c->e, l, it);
    }
    return mk_gen(l);
}
static jv minmax(jctx *c, jv v, jargs *a, const jnode *at, bool want_max) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    check_args(c, a, 2, kw, want_max ? "max" : "min", at);
    const jv *cs = arg(a, 0, "case_sensitive"), *attr = arg(a, 1, "attribute");
    jlist *l = jiter_list(c, v, at);
    if (!l->n) return jv_undef("No aggregated item, sequence was empty.");
    jlist *s = sorted(c, l, false, cs && jv_truthy(*cs), attr, -1, at);
    return want_max ? s->items[s->n - 1] : s->items[0];
}
static jv f_max(jctx *c, jv v, jargs *a, const jnode *at) { return minmax(c, v, a, at, true); }
static jv f_min(jctx *c, jv v, jargs *a, const jnode *at) { return minmax(c, v, a, at, false); }

static jv select_common(jctx *c, jv v, jargs *a, const jnode *at, bool by_attr, bool keep) {
    jlist *src = jiter_list(c, v, at), *l = jlist_new(c->a, c->e, 0);
    size_t p = 0;
    const jv *attr = NULL;
    if (by_attr) {
        if (!a->npos) jcfail(c, at, "missing attribute name");
        attr = &a->pos[p++];
    }
    int tidx = -1;
    if (a->npos > p) {
        jv name = need_str(c, a->pos[p++], "test name", at);
        tidx = jtest_find(name.s.p, name.s.n);
        if (tidx < 0) jcfail(c, at, "No test named '%.*s'.", (int)name.s.n, name.s.p);
    }
    jargs rest = {.pos = a->pos + p, .npos = a->npos - p, .kwn = a->kwn, .kwv = a->kwv, .nkw = a->nkw};
    for (size_t i = 0; i < src->n; i++) {
        jv it = attr ? attr_path(c, src->items[i], *attr, at) : src->items[i];
        bool r = tidx < 0 ? jv_truthy(it) : jtest_apply(c, tidx, it, &rest, at);
        if (r == keep) jlist_push(c->a, c->e, l, src->items[i]);
    }
    return mk_gen(l);
}
static jv f_select(jctx *c, jv v, jargs *a, const jnode *at) { return select_common(c, v, a, at, false, true); }
static jv f_reject(jctx *c, jv v, jargs *a, const jnode *at) { return select_common(c, v, a, at, false, false); }
static jv f_selectattr(jctx *c, jv v, jargs *a, const jnode *at) { return select_common(c, v, a, at, true, true); }
static jv f_rejectattr(jctx *c, jv v, jargs *a, const jnode *at) { return select_common(c, v, a, at, true, false); }
static jv f_replace(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"old", "new", "count", NULL};
    check_args(c, a, 3, kw, "replace", at);
    const jv *o = arg(a, 0, "old"), *n = arg(a, 1, "new"), *cnt = arg(a, 2, "count");
    if (!o || !n) jcfail(c, at, "replace() needs old and new");
    return str_replace(c, jstr_of(c, v), jstr_of(c, *o), jstr_of(c, *n),
                       cnt && cnt->kind != JV_NONE ? need_int(c, *cnt, "replace count", at) : -1);
}
static jv f_reverse(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "reverse", at);
    if (v.kind == JV_STR) {
        jlist *cps = jiter_list(c, v, at);
        jbuf b = {.a = c->a, .e = c->e};
        for (size_t i = cps->n; i-- > 0;) jbuf_put(&b, cps->items[i].s.p, cps->items[i].s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    jlist *src = jiter_list(c, v, at), *l = jlist_new(c->a, c->e, src->n);
    for (size_t i = src->n; i-- > 0;) jlist_push(c->a, c->e, l, src->items[i]);
    return mk_gen(l);
}
static jv f_round(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"precision", "method", NULL};
    check_args(c, a, 2, kw, "round", at);
    const jv *pr = arg(a, 0, "precision"), *me = arg(a, 1, "method");
    int64_t prec = pr ? need_int(c, *pr, "round precision", at) : 0;
    if (prec < 0 || prec > 300) jcfail(c, at, "round precision out of range");
    if (!jv_is_number(v)) jcfail(c, at, "round expects a number, got %s", jv_type_name(v));
    double x = jv_as_double(v), m = pow(10.0, (double)prec);
    if (me) {
        need_str(c, *me, "round method", at);
        if (me->s.n == 4 && !memcmp(me->s.p, "ceil", 4)) return jv_float(ceil(x * m) / m);
        if (me->s.n == 5 && !memcmp(me->s.p, "floor", 5)) return jv_float(floor(x * m) / m);
        if (!(me->s.n == 6 && !memcmp(me->s.p, "common", 6))) jcfail(c, at, "method must be common, ceil or floor");
    }
    if (v.kind != JV_FLOAT) return jv_int(v.kind == JV_BOOL ? v.b : v.i); /* round(int, n) is that int */
    /* Python round(): correctly rounded, ties to even on the exact binary value */
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
    return jv_float(strtod(buf, NULL));
}
static jv f_safe(jctx *c, jv v, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "safe", at); return jstr_of(c, v); /* Markup(v) */ }
static jv f_sort(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"reverse", "case_sensitive", "attribute", NULL};
    check_args(c, a, 3, kw, "sort", at);
    const jv *rev = arg(a, 0, "reverse"), *cs = arg(a, 1, "case_sensitive"), *attr = arg(a, 2, "attribute");
    return mk_list(sorted(c, jiter_list(c, v, at), rev && jv_truthy(*rev), cs && jv_truthy(*cs), attr, -1, at));
}
static jv f_string(jctx *c, jv v, jargs *a, const jnode *at) { check_args(c, a, 0, NULL, "string", at); return jstr_of(c, v); }
static jv f_sum(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"attribute", "start", NULL};
    check_args(c, a, 2, kw, "sum", at);
    const jv *attr = arg(a, 0, "attribute"), *st = arg(a, 1, "start");
    jv acc = st ? *st : jv_int(0);
    jlist *l = jiter_list(c, v, at);
    for (size_t i = 0; i < l->n; i++) acc = jbinop(c, JOP_ADD, acc, attr ? attr_path(c, l->items[i], *attr, at) : l->items[i], at);
    return acc;
}
static jv f_title(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "title", at);
    /* jinja: chunks split at runs of whitespace, '-', '(', '{', '[', '<'; each chunk's first code
     * point upper-cased, the rest lower-cased */
    jv s = jstr_of(c, v);
    jbuf b = {.a = c->a, .e = c->e};
    size_t i = 0;
    bool start = true;
    while (i < s.s.n) {
        uint32_t cp;
        size_t k = ju8_decode(s.s.p + i, s.s.n - i, &cp);
        bool sep = ju_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
        jv one = jv_str(s.s.p + i, k);
        if (sep) jbuf_put(&b, one.s.p, one.s.n);
        else {
            jv m = jv_case_map(c->a, c->e, one, start ? 'u' : 'l');
            jbuf_put(&b, m.s.p, m.s.n);
        }
        start = sep;
        i += k;
    }
    return jv_str(b.p ? b.p : "", b.n);
}
static jv f_tojson(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    check_args(c, a, 4, kw, "tojson", at);
    const jv *ea = arg(a, 0, "ensure_ascii"), *ind = arg(a, 1, "indent"), *sep = arg(a, 2, "separators"), *sk = arg(a, 3, "sort_keys");
    jjson_opts o = {.indent = -1, .ensure_ascii = ea && jv_truthy(*ea), .sort_keys = sk && jv_truthy(*sk)};
    if (ind && ind->kind != JV_NONE) {
        int64_t k = need_int(c, *ind, "tojson indent", at);
        if (k > 64) jcfail(c, at, "tojson indent too large");
        o.indent = k < 0 ? 0 : (int)k;
    }
    o.item_sep = o.indent >= 0 ? "," : ", ";
    o.key_sep = ": ";
    if (sep && sep->kind != JV_NONE) {
        if (sep->kind != JV_LIST || sep->l->n != 2 || sep->l->items[0].kind != JV_STR || sep->l->items[1].kind != JV_STR)
            jcfail(c, at, "tojson separators must be a pair of strings");
        o.item_sep = jstrdup(c->a, c->e, sep->l->items[0].s.p, sep->l->items[0].s.n);
        o.key_sep = jstrdup(c->a, c->e, sep->l->items[1].s.p, sep->l->items[1].s.n);
    }
    jbuf b = {.a = c->a, .e = c->e};
    jjson_dump(&b, v, &o, at->line, at->col);
    return jv_str(b.p ? b.p : "", b.n);
}
static jv f_trim(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"chars", NULL};
    check_args(c, a, 1, kw, "trim", at);
    const jv *ch = arg(a, 0, "chars");
    return strip(jstr_of(c, v), ch ? *ch : jv_none(), true, true);
}
static jv f_unique(jctx *c, jv v, jargs *a, const jnode *at) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    check_args(c, a, 2, kw, "unique", at);
    const jv *cs = arg(a, 0, "case_sensitive"), *attr = arg(a, 1, "attribute");
    sortctx s = {.c = c, .at = at, .case_sensitive = cs && jv_truthy(*cs)};
    jlist *src = jiter_list(c, v, at), *out = jlist_new(c->a, c->e, 0), *seen = jlist_new(c->a, c->e, 0);
    for (size_t i = 0; i < src->n; i++) {
        jv k = fold_key(&s, attr ? attr_path(c, src->items[i], *attr, at) : src->items[i]);
        bool dup = false;
        for (size_t j = 0; j < seen->n && !dup; j++) dup = jv_equal(seen->items[j], k);
        if (dup) continue;
        jlist_push(c->a, c->e, seen, k);
        jlist_push(c->a, c->e, out, src->items[i]);
    }
    return mk_gen(out);
}
static jv f_wordcount(jctx *c, jv v, jargs *a, const jnode *at) {
    check_args(c, a, 0, NULL, "wordcount", at);
    jv s = jstr_of(c, v);
    int64_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.s.n; i++) {
        unsigned char ch = (unsigned char)s.s.p[i];
        bool w = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80;
        if (w && !in_word) n++;
        in_word = w;
    }
    return jv_int(n);
}

typedef struct filter { const char *name; filter_fn fn; } filter;
static const filter FILTERS[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"capitalize", f_capitalize}, {"count", f_length}, {"d", f_default},
    {"default", f_default}, {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
    {"float", f_float}, {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join},
    {"last", f_last}, {"length", f_length}, {"list", f_list}, {"lower", f_lower}, {"map", f_map},
    {"max", f_max}, {"min", f_min}, {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace},
    {"reverse", f_reverse}, {"round", f_round}, {"safe", f_safe}, {"select", f_select},
    {"selectattr", f_selectattr}, {"sort", f_sort}, {"string", f_string}, {"sum", f_sum}, {"title", f_title},
    {"tojson", f_tojson}, {"trim", f_trim}, {"unique", f_unique}, {"upper", f_upper}, {"wordcount", f_wordcount},
};

int jfilter_find(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof FILTERS[0]; i++)
        if (strlen(FILTERS[i].name) == n && !memcmp(FILTERS[i].name, name, n)) return (int)i;
    return -1;
}

jv jfilter_apply(jctx *c, int index, jv v, jargs *a, const jnode *at) {
    if (index < 0) jcfail(c, at, "No filter named '%s' found.", at->name);
    return FILTERS[index].fn(c, v, a, at);
}

/* ---- tests ---- */
typedef bool (*test_fn)(jctx *c, jv v, jargs *a, const jnode *at);

static const jv *one_arg(jctx *c, jargs *a, const char *test, const jnode *at) {
    if (a->npos + a->nkw < 1) jcfail(c, at, "test '%s' needs an argument", test);
    return a->npos ? &a->pos[0] : &a->kwv[0];
}
static bool t_boolean(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_BOOL; }
/* jinja2's Undefined defines __call__, so it counts as callable */
static bool t_callable(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_FUNC || v.kind == JV_UNDEF; }
static bool t_defined(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind != JV_UNDEF; }
static bool t_undefined(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_UNDEF; }
static bool t_divisibleby(jctx *c, jv v, jargs *a, const jnode *at) {
    jv m = jbinop(c, JOP_MOD, v, *one_arg(c, a, "divisibleby", at), at);
    return !jv_truthy(m);
}
static bool t_eq(jctx *c, jv v, jargs *a, const jnode *at) { return jv_equal(v, *one_arg(c, a, "eq", at)); }
static bool t_ne(jctx *c, jv v, jargs *a, const jnode *at) { return !jv_equal(v, *one_arg(c, a, "ne", at)); }
static bool t_lt(jctx *c, jv v, jargs *a, const jnode *at) { return jcompare(c, JOP_LT, v, *one_arg(c, a, "lt", at), at); }
static bool t_le(jctx *c, jv v, jargs *a, const jnode *at) { return jcompare(c, JOP_LE, v, *one_arg(c, a, "le", at), at); }
static bool t_gt(jctx *c, jv v, jargs *a, const jnode *at) { return jcompare(c, JOP_GT, v, *one_arg(c, a, "gt", at), at); }
static bool t_ge(jctx *c, jv v, jargs *a, const jnode *at) { return jcompare(c, JOP_GE, v, *one_arg(c, a, "ge", at), at); }
static bool t_in(jctx *c, jv v, jargs *a, const jnode *at) { return jcontains(c, *one_arg(c, a, "in", at), v, at); }
static bool t_escaped(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)v; (void)a; (void)at; return false; }
/* jinja: value % 2 == 0 (floats too) */
static bool t_even(jctx *c, jv v, jargs *a, const jnode *at) { (void)a; return jv_equal(jbinop(c, JOP_MOD, v, jv_int(2), at), jv_int(0)); }
static bool t_odd(jctx *c, jv v, jargs *a, const jnode *at) { (void)a; return jv_equal(jbinop(c, JOP_MOD, v, jv_int(2), at), jv_int(1)); }
static bool t_false(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_BOOL && !v.b; }
static bool t_true(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_BOOL && v.b; }
static bool t_float(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_FLOAT; }
static bool t_integer(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_INT; }
static bool t_number(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return jv_is_number(v); }
static bool t_iterable(jctx *c, jv v, jargs *a, const jnode *at) {
    (void)c; (void)a; (void)at;
    return v.kind == JV_STR || v.kind == JV_LIST || (v.kind == JV_DICT && !v.d->ns) || v.kind == JV_UNDEF || v.kind == JV_LOOP;
}
static bool t_sequence(jctx *c, jv v, jargs *a, const jnode *at) {
    (void)c; (void)a; (void)at;
    return v.kind == JV_STR || v.kind == JV_LIST || (v.kind == JV_DICT && !v.d->ns) || v.kind == JV_UNDEF;
}
static bool t_mapping(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_DICT && !v.d->ns; }
static bool t_none(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_NONE; }
static bool t_string(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_STR; }
/* jinja: str(value).islower() / .isupper() */
static bool t_lower(jctx *c, jv v, jargs *a, const jnode *at) { jargs none = {0}; (void)a; return m_islower(c, jstr_of(c, v), &none, at).b; }
static bool t_upper(jctx *c, jv v, jargs *a, const jnode *at) { jargs none = {0}; (void)a; return m_isupper(c, jstr_of(c, v), &none, at).b; }
static bool t_sameas(jctx *c, jv v, jargs *a, const jnode *at) {
    const jv *o = one_arg(c, a, "sameas", at);
    if (v.kind != o->kind) return false;
    switch (v.kind) {
    case JV_NONE: case JV_UNDEF: return true;
    case JV_BOOL: return v.b == o->b;
    case JV_INT: return v.i == o->i && v.i >= -5 && v.i <= 256; /* CPython's small-int cache */
    case JV_STR: return v.s.p == o->s.p && v.s.n == o->s.n;
    case JV_LIST: return v.l == o->l;
    case JV_DICT: return v.d == o->d;
    default: return jv_equal(v, *o);
    }
}
static bool t_filter(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_STR && jfilter_find(v.s.p, v.s.n) >= 0; }
static bool t_test(jctx *c, jv v, jargs *a, const jnode *at) { (void)c; (void)a; (void)at; return v.kind == JV_STR && jtest_find(v.s.p, v.s.n) >= 0; }

typedef struct test { const char *name; test_fn fn; } test;
static const test TESTS[] = {
    {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined}, {"divisibleby", t_divisibleby},
    {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"escaped", t_escaped}, {"even", t_even}, {"false", t_false},
    {"filter", t_filter}, {"float", t_float}, {"ge", t_ge}, {">=", t_ge}, {"gt", t_gt}, {"greaterthan", t_gt},
    {">", t_gt}, {"in", t_in}, {"integer", t_integer}, {"iterable", t_iterable}, {"le", t_le}, {"<=", t_le},
    {"lower", t_lower}, {"lt", t_lt}, {"lessthan", t_lt}, {"<", t_lt}, {"mapping", t_mapping}, {"ne", t_ne},
    {"!=", t_ne}, {"none", t_none}, {"number", t_number}, {"odd", t_odd}, {"sameas", t_sameas},
    {"sequence", t_sequence}, {"string", t_string}, {"test", t_test}, {"true", t_true}, {"undefined", t_undefined},
    {"upper", t_upper},
};

int jtest_find(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
        if (strlen(TESTS[i].name) == n && !memcmp(TESTS[i].name, name, n)) return (int)i;
    return -1;
}

bool jtest_apply(jctx *c, int index, jv v, jargs *a, const jnode *at) {
    if (index < 0) jcfail(c, at, "No test named '%s' found.", at->name);
    return TESTS[index].fn(c, v, a, at);
}

/* ---- globals ---- */
static jv g_range(jctx *c, jfunc *f, jargs *a, const jnode *at) {
    (void)f;
    check_args(c, a, 3, NULL, "range", at);
    if (!a->npos) jcfail(c, at, "range expected at least 1 argument, got 0");
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) stop = need_int(c, a->pos[0], "range", at);
    else {
        start = need_int(c, a->pos[0], "range", at);
        stop = need_int(c, a->pos[1], "range", at);
        if (a->npos > 2) step = need_int(c, a->pos[2], "range", at);
    }
    if (step == 0) jcfail(c, at, "range() arg 3 must not be zero");
    double count = step > 0 ? ceil(((double)stop - (double)start) / (double)step) : ceil(((double)start - (double)stop) / (double)-step);
    if (count > 100000) jcfail(c, at, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    jlist *l = jlist_new(c->a, c->e, count > 0 ? (size_t)count : 0);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jlist_push(c->a, c->e, l, jv_int(i));
    return mk_list(l);
}

static jv make_dict_from(jctx *c, jargs *a, bool ns, const jnode *at) {
    jdict *d = jdict_new(c->a, c->e, 0);
    d->ns = ns;
    if (a->npos > 1) jcfail(c, at, "%s expected at most 1 positional argument", ns ? "namespace" : "dict");
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.kind == JV_DICT && !src.d->ns) {
            for (size_t i = 0; i < src.d->n; i++) jdict_set(c->a, c->e, d, src.d->keys[i], src.d->vals[i]);
        } else {
            jlist *l = jiter_list(c, src, at);
            for (size_t i = 0; i < l->n; i++) {
                jv p = l->items[i];
                if (p.kind != JV_LIST || p.l->n != 2) jcfail(c, at, "dictionary update sequence element #%zu has the wrong length", i);
                jdict_set(c->a, c->e, d, p.l->items[0], p.l->items[1]);
            }
        }
    }
    for (size_t k = 0; k < a->nkw; k++) jdict_set(c->a, c->e, d, jv_str(a->kwn[k], strlen(a->kwn[k])), a->kwv[k]);
    if (ns)
        for (size_t i = 0; i < d->n; i++)
            if (d->keys[i].kind == JV_STR && d->keys[i].s.n && d->keys[i].s.p[0] == '_')
                jcfail(c, at, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%.*s'. Please rename the attribute.",
                       (int)d->keys[i].s.n, d->keys[i].s.p);
    return mk_dict(d);
}
static jv g_namespace(jctx *c, jfunc *f, jargs *a, const jnode *at) { (void)f; return make_dict_from(c, a, true, at); }
static jv g_dict(jctx *c, jfunc *f, jargs *a, const jnode *at) { (void)f; return make_dict_from(c, a, false, at); }

static jv g_raise_exception(jctx *c, jfunc *f, jargs *a, const jnode *at) {
    (void)f;
    jv msg = a->npos ? jstr_of(c, a->pos[0]) : jv_str("", 0);
    jcfail(c, at, "%.*s", (int)(msg.s.n > 400 ? 400 : msg.s.n), msg.s.p);
}

static jv g_strftime_now(jctx *c, jfunc *f, jargs *a, const jnode *at) {
    (void)f;
    check_args(c, a, 1, NULL, "strftime_now", at);
    if (!a->npos) jcfail(c, at, "strftime_now() needs a format");
    jv fmt = need_str(c, a->pos[0], "strftime_now", at);
    char *z = jstrdup(c->a, c->e, fmt.s.p, fmt.s.n);
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    char buf[512];
    size_t n = strftime(buf, sizeof buf, z, &tmv);
    return jv_str(jstrdup(c->a, c->e, buf, n), n);
}

void jglobals_install(jctx *c, jframe *g) {
    static const struct { const char *name; jfunc_fn fn; } G[] = {
        {"range", g_range}, {"namespace", g_namespace}, {"dict", g_dict},
        {"raise_exception", g_raise_exception}, {"strftime_now", g_strftime_now},
    };
    for (size_t i = 0; i < sizeof G / sizeof G[0]; i++) {
        jfunc *f = jalloc(c->a, c->e, sizeof *f);
        f->name = G[i].name;
        f->fn = G[i].fn;
        jv v = {.kind = JV_FUNC};
        v.fn = f;
        jframe_set(c, g, G[i].name, v);
    }
}
