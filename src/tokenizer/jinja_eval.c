/* Jinja evaluator: expressions with Python semantics, statements with jinja2's scoping (a for
 * loop's body gets a fresh scope on every iteration; if blocks share their parent's scope;
 * macros see the scope they were defined in). */
#include "tokenizer/jinja.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { SIG_NONE = 0, SIG_BREAK, SIG_CONTINUE };
enum { MAX_CALL_DEPTH = 64 };
static const long MAX_STEPS = 5L * 1000 * 1000;

_Noreturn void jcfail(jctx *c, const jnode *at, const char *fmt, ...) {
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jfail(c->e, at ? at->line : 0, at ? at->col : 0, "%s", msg);
}

static void tick(jctx *c, const jnode *at) {
    if (++c->steps > MAX_STEPS) jcfail(c, at, "template evaluation exceeded %ld steps (runaway loop?)", MAX_STEPS);
}

/* ---- scopes ---- */
jframe *jframe_new(jctx *c, jframe *parent) {
    jframe *f = jalloc(c->a, c->e, sizeof *f);
    f->parent = parent;
    return f;
}

static jv *frame_find(jframe *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) return &f->vals[i];
    return NULL;
}

jv jframe_lookup(jframe *f, const char *name) {
    for (; f; f = f->parent) {
        jv *v = frame_find(f, name);
        if (v) return *v;
    }
    return jv_undef(NULL);
}

void jframe_set(jctx *c, jframe *f, const char *name, jv v) {
    jv *slot = frame_find(f, name);
    if (slot) { *slot = v; return; }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        const char **nn = jalloc(c->a, c->e, cap * sizeof *nn);
        jv *vv = jalloc(c->a, c->e, cap * sizeof *vv);
        if (f->n) {
            memcpy(nn, f->names, f->n * sizeof *nn);
            memcpy(vv, f->vals, f->n * sizeof *vv);
        }
        f->names = nn;
        f->vals = vv;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n] = v;
    f->n++;
}

void jframe_enter(jctx *c, jframe *f, const jnode *body) {
    if (!body || body->kind != JN_BODY) return;
    for (size_t i = 0; i < body->nnames; i++) jframe_set(c, f, body->names[i], jv_undef(NULL));
}

static jv undef_msg(jctx *c, const char *fmt, const char *a, const char *b) {
    char tmp[320];
    snprintf(tmp, sizeof tmp, fmt, a, b);
    jv v = jv_undef(jstrdup(c->a, c->e, tmp, strlen(tmp)));
    return v;
}

_Noreturn static void fail_undefined(jctx *c, const jnode *at, jv v) {
    jcfail(c, at, "%s", v.s.p ? v.s.p : "value is undefined");
}

jv jstr_of(jctx *c, jv v) {
    if (v.kind == JV_STR) return v;
    jbuf b = {.a = c->a, .e = c->e};
    jv_to_str(&b, v);
    return jv_str(b.p ? b.p : "", b.n);
}

/* ---- iteration ---- */
jlist *jiter_list(jctx *c, jv v, const jnode *at) {
    switch (v.kind) {
    case JV_LIST: return v.l;
    case JV_UNDEF: return jlist_new(c->a, c->e, 0);
    case JV_DICT: {
        if (v.d->ns) break;
        jlist *l = jlist_new(c->a, c->e, v.d->n);
        for (size_t i = 0; i < v.d->n; i++) jlist_push(c->a, c->e, l, v.d->keys[i]);
        return l;
    }
    case JV_STR: {
        jlist *l = jlist_new(c->a, c->e, 0);
        size_t i = 0;
        while (i < v.s.n) {
            uint32_t cp;
            size_t k = ju8_decode(v.s.p + i, v.s.n - i, &cp);
            jlist_push(c->a, c->e, l, jv_str(v.s.p + i, k));
            i += k;
        }
        return l;
    }
    default: break;
    }
    jcfail(c, at, "'%s' object is not iterable", jv_type_name(v));
}

/* ---- attribute and item access ---- */

static jv loop_attr(jctx *c, jloop *L, const char *name, const jnode *at) {
    if (!strcmp(name, "index")) return jv_int(L->index0 + 1);
    if (!strcmp(name, "index0")) return jv_int(L->index0);
    if (!strcmp(name, "revindex")) return jv_int(L->length - L->index0);
    if (!strcmp(name, "revindex0")) return jv_int(L->length - L->index0 - 1);
    if (!strcmp(name, "first")) return jv_bool(L->index0 == 0);
    if (!strcmp(name, "last")) return jv_bool(L->index0 == L->length - 1);
    if (!strcmp(name, "length")) return jv_int(L->length);
    if (!strcmp(name, "depth")) return jv_int(1);
    if (!strcmp(name, "depth0")) return jv_int(0);
    if (!strcmp(name, "previtem"))
        return L->index0 > 0 ? L->items[L->index0 - 1] : undef_msg(c, "there is no previous item%s%s", "", "");
    if (!strcmp(name, "nextitem"))
        return L->index0 + 1 < L->length ? L->items[L->index0 + 1] : undef_msg(c, "there is no next item%s%s", "", "");
    (void)at;
    return undef_msg(c, "'LoopContext' object has no attribute '%s'%s", name, "");
}

jv jget_attr(jctx *c, jv obj, const char *name, size_t n, const jnode *at) {
    switch (obj.kind) {
    case JV_UNDEF: fail_undefined(c, at, obj);
    case JV_DICT: {
        if (obj.d->ns) {
            const jv *v = jdict_get(obj.d, name, n);
            return v ? *v : undef_msg(c, "'Namespace' object has no attribute '%s'%s", name, "");
        }
        jv m = jmethod_lookup(c, obj, name, n);
        if (m.kind != JV_UNDEF) return m;
        const jv *v = jdict_get(obj.d, name, n);
        return v ? *v : undef_msg(c, "'dict object' has no attribute '%s'%s", name, "");
    }
    case JV_LOOP: {
        if (!strcmp(name, "cycle")) return jmethod_lookup(c, obj, name, n);
        return loop_attr(c, obj.loop, name, at);
    }
    case JV_NONE: return undef_msg(c, "'None' has no attribute '%s'%s", name, "");
    default: {
        jv m = jmethod_lookup(c, obj, name, n);
        if (m.kind != JV_UNDEF) return m;
        char tn[48];
        snprintf(tn, sizeof tn, "%s object", jv_type_name(obj));
        return undef_msg(c, "'%s' has no attribute '%s'", tn, name);
    }
    }
}

static bool as_index(jv k, int64_t *out) {
    if (k.kind == JV_INT) { *out = k.i; return true; }
    if (k.kind == JV_BOOL) { *out = k.b; return true; }
    return false;
}

jv jget_item(jctx *c, jv obj, jv key, const jnode *at) {
    int64_t idx;
    switch (obj.kind) {
    case JV_UNDEF: fail_undefined(c, at, obj);
    case JV_DICT: {
        const jv *v = jdict_getv(obj.d, key);
        if (v) return *v;
        if (key.kind == JV_STR) return jget_attr(c, obj, jstrdup(c->a, c->e, key.s.p, key.s.n), key.s.n, at);
        return undef_msg(c, "'dict object' has no item for this key%s%s", "", "");
    }
    case JV_LIST:
        if (as_index(key, &idx)) {
            if (idx < 0) idx += (int64_t)obj.l->n;
            if (idx < 0 || idx >= (int64_t)obj.l->n) return undef_msg(c, "'%s object' has no element at this index%s", jv_type_name(obj), "");
            return obj.l->items[idx];
        }
        break;
    case JV_STR:
        if (as_index(key, &idx)) {
            int64_t len = (int64_t)ju8_len(obj.s.p, obj.s.n);
            if (idx < 0) idx += len;
            if (idx < 0 || idx >= len) return undef_msg(c, "'str object' has no element at this index%s%s", "", "");
            size_t o = ju8_offset(obj.s.p, obj.s.n, (size_t)idx);
            uint32_t cp;
            size_t k = ju8_decode(obj.s.p + o, obj.s.n - o, &cp);
            return jv_str(obj.s.p + o, k);
        }
        break;
    case JV_NONE: return undef_msg(c, "'None' has no attribute or item%s%s", "", "");
    default: break;
    }
    if (key.kind == JV_STR) return jget_attr(c, obj, jstrdup(c->a, c->e, key.s.p, key.s.n), key.s.n, at);
    return undef_msg(c, "'%s object' has no item of this kind%s", jv_type_name(obj), "");
}

/* Python slice index normalization (PySlice_AdjustIndices). */
static int64_t slice_bound(jctx *c, jv v, int64_t len, int64_t step, bool is_start, const jnode *at) {
    int64_t x;
    if (v.kind == JV_NONE || v.kind == JV_UNDEF) return is_start ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
    if (!as_index(v, &x)) jcfail(c, at, "slice indices must be integers or None");
    if (x < 0) {
        x += len;
        if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= len) {
        x = step < 0 ? len - 1 : len;
    }
    return x;
}

static jv do_slice(jctx *c, jv obj, jv a, jv b, jv s, const jnode *at) {
    int64_t step = 1;
    if (s.kind != JV_NONE && s.kind != JV_UNDEF && !as_index(s, &step)) jcfail(c, at, "slice indices must be integers or None");
    if (step == 0) jcfail(c, at, "slice step cannot be zero");
    if (obj.kind == JV_UNDEF) fail_undefined(c, at, obj);
    int64_t len;
    size_t *offs = NULL;
    if (obj.kind == JV_LIST) len = (int64_t)obj.l->n;
    else if (obj.kind == JV_STR) {
        len = (int64_t)ju8_len(obj.s.p, obj.s.n);
        offs = jalloc(c->a, c->e, ((size_t)len + 1) * sizeof *offs);
        size_t i = 0, k = 0;
        uint32_t cp;
        while (i < obj.s.n) { offs[k++] = i; i += ju8_decode(obj.s.p + i, obj.s.n - i, &cp); }
        offs[k] = obj.s.n;
    } else jcfail(c, at, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t start = slice_bound(c, a, len, step, true, at), stop = slice_bound(c, b, len, step, false, at);
    if (obj.kind == JV_LIST) {
        jlist *l = jlist_new(c->a, c->e, 0);
        l->tuple = obj.l->tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jlist_push(c->a, c->e, l, obj.l->items[i]);
        jv r = {.kind = JV_LIST};
        r.l = l;
        return r;
    }
    if (step == 1) {
        if (stop <= start) return jv_str("", 0);
        return jv_str(obj.s.p + offs[start], offs[stop] - offs[start]);
    }
    jbuf out = {.a = c->a, .e = c->e};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jbuf_put(&out, obj.s.p + offs[i], offs[i + 1] - offs[i]);
    return jv_str(out.p ? out.p : "", out.n);
}

/* ---- operators ---- */
bool jcontains(jctx *c, jv container, jv item, const jnode *at) {
    switch (container.kind) {
    case JV_STR:
        if (item.kind != JV_STR) jcfail(c, at, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        if (item.s.n == 0) return true;
        if (item.s.n > container.s.n) return false;
        for (size_t i = 0; i + item.s.n <= container.s.n; i++)
            if (!memcmp(container.s.p + i, item.s.p, item.s.n)) return true;
        return false;
    case JV_LIST:
        for (size_t i = 0; i < container.l->n; i++)
            if (jv_equal(container.l->items[i], item)) return true;
        return false;
    case JV_DICT:
        if ((item.kind == JV_LIST && !item.l->tuple) || item.kind == JV_DICT)
            jcfail(c, at, "unhashable type: '%s'", jv_type_name(item));
        return !container.d->ns && jdict_getv(container.d, item) != NULL;
    case JV_UNDEF: return false;
    default: jcfail(c, at, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static int cmp_values(jctx *c, int op, jv a, jv b, const jnode *at) {
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind != JV_FLOAT && b.kind != JV_FLOAT) {
            int64_t x = a.kind == JV_BOOL ? a.b : a.i, y = b.kind == JV_BOOL ? b.b : b.i;
            return x < y ? -1 : x > y;
        }
        double x = jv_as_double(a), y = jv_as_double(b);
        if (isnan(x) || isnan(y)) return 2; /* unordered */
        return x < y ? -1 : x > y;
    }
    if (a.kind == JV_STR && b.kind == JV_STR) {
        size_t n = a.s.n < b.s.n ? a.s.n : b.s.n;
        int r = memcmp(a.s.p, b.s.p, n);
        if (r) return r < 0 ? -1 : 1;
        return a.s.n < b.s.n ? -1 : a.s.n > b.s.n;
    }
    if (a.kind == JV_LIST && b.kind == JV_LIST && a.l->tuple == b.l->tuple) {
        size_t n = a.l->n < b.l->n ? a.l->n : b.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_equal(a.l->items[i], b.l->items[i])) continue;
            return cmp_values(c, op, a.l->items[i], b.l->items[i], at);
        }
        return a.l->n < b.l->n ? -1 : a.l->n > b.l->n;
    }
    if (a.kind == JV_UNDEF) fail_undefined(c, at, a);
    if (b.kind == JV_UNDEF) fail_undefined(c, at, b);
    static const char *names[] = {[JOP_LT] = "<", [JOP_LE] = "<=", [JOP_GT] = ">", [JOP_GE] = ">="};
    jcfail(c, at, "'%s' not supported between instances of '%s' and '%s'", names[op], jv_type_name(a), jv_type_name(b));
}

bool jcompare(jctx *c, int op, jv a, jv b, const jnode *at) {
    switch (op) {
    case JOP_EQ: return jv_equal(a, b);
    case JOP_NE: return !jv_equal(a, b);
    case JOP_IN: return jcontains(c, b, a, at);
    case JOP_NOTIN: return !jcontains(c, b, a, at);
    default: break;
    }
    int r = cmp_values(c, op, a, b, at);
    if (r == 2) return false;
    switch (op) {
    case JOP_LT: return r < 0;
    case JOP_LE: return r <= 0;
    case JOP_GT: return r > 0;
    case JOP_GE: return r >= 0;
    }
    return false;
}

static jv repeat(jctx *c, jv seq, int64_t times, const jnode *at) {
    if (times < 0) times = 0;
    size_t unit = seq.kind == JV_STR ? seq.s.n : seq.l->n;
    if (unit && (uint64_t)times > (64u << 20) / unit) jcfail(c, at, "sequence repetition too large");
    if (seq.kind == JV_STR) {
        jbuf b = {.a = c->a, .e = c->e};
        for (int64_t i = 0; i < times; i++) jbuf_put(&b, seq.s.p, seq.s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    jlist *l = jlist_new(c->a, c->e, 0);
    l->tuple = seq.l->tuple;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.l->n; k++) jlist_push(c->a, c->e, l, seq.l->items[k]);
    jv r = {.kind = JV_LIST};
    r.l = l;
    return r;
}

jv jbinop(jctx *c, int op, jv a, jv b, const jnode *at) {
    static const char *sym[] = {[JOP_ADD] = "+", [JOP_SUB] = "-", [JOP_MUL] = "*", [JOP_DIV] = "/",
                                [JOP_FLOORDIV] = "//", [JOP_MOD] = "%", [JOP_POW] = "**"};
    if (op == JOP_CONCAT) {
        jbuf b2 = {.a = c->a, .e = c->e};
        jv_to_str(&b2, a);
        jv_to_str(&b2, b);
        return jv_str(b2.p ? b2.p : "", b2.n);
    }
    if (a.kind == JV_UNDEF) fail_undefined(c, at, a);
    if (b.kind == JV_UNDEF) fail_undefined(c, at, b);
    if ((a.kind == JV_LIST && a.l->gen) || (b.kind == JV_LIST && b.l->gen))
        jcfail(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], a.kind == JV_LIST && a.l->gen ? "generator" : jv_type_name(a),
               b.kind == JV_LIST && b.l->gen ? "generator" : jv_type_name(b));
    if (jv_is_number(a) && jv_is_number(b)) {
        bool ints = a.kind != JV_FLOAT && b.kind != JV_FLOAT;
        int64_t x = a.kind == JV_BOOL ? a.b : a.i, y = b.kind == JV_BOOL ? b.b : b.i, r;
        double fx = jv_as_double(a), fy = jv_as_double(b);
        switch (op) {
        case JOP_ADD:
            if (!ints) return jv_float(fx + fy);
            if (__builtin_add_overflow(x, y, &r)) jcfail(c, at, "integer overflow");
            return jv_int(r);
        case JOP_SUB:
            if (!ints) return jv_float(fx - fy);
            if (__builtin_sub_overflow(x, y, &r)) jcfail(c, at, "integer overflow");
            return jv_int(r);
        case JOP_MUL:
            if (!ints) return jv_float(fx * fy);
            if (__builtin_mul_overflow(x, y, &r)) jcfail(c, at, "integer overflow");
            return jv_int(r);
        case JOP_DIV:
            if (fy == 0) jcfail(c, at, "division by zero");
            return jv_float(fx / fy);
        case JOP_FLOORDIV:
            if (ints) {
                if (y == 0) jcfail(c, at, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) jcfail(c, at, "integer overflow");
                int64_t q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                return jv_int(q);
            }
            if (fy == 0) jcfail(c, at, "float floor division by zero");
            return jv_float(floor(fx / fy));
        case JOP_MOD:
            if (ints) {
                if (y == 0) jcfail(c, at, "integer division or modulo by zero");
                if (y == -1) return jv_int(0);
                int64_t m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) m += y;
                return jv_int(m);
            }
            if (fy == 0) jcfail(c, at, "float modulo");
            {
                double m = fmod(fx, fy); /* Python: the result has the divisor's sign, zero included */
                if (m != 0) { if ((m < 0) != (fy < 0)) m += fy; }
                else m = copysign(0.0, fy);
                return jv_float(m);
            }
        case JOP_POW:
            if (ints && y >= 0) {
                int64_t acc = 1, base = x;
                for (int64_t e = y; e > 0; e >>= 1) {
                    if (e & 1) { if (__builtin_mul_overflow(acc, base, &acc)) jcfail(c, at, "integer overflow"); }
                    if (e > 1 && __builtin_mul_overflow(base, base, &base)) jcfail(c, at, "integer overflow");
                }
                return jv_int(acc);
            }
            if (fx == 0 && fy < 0) jcfail(c, at, "0.0 cannot be raised to a negative power");
            return jv_float(pow(fx, fy));
        }
    }
    if (op == JOP_ADD && a.kind == JV_STR && b.kind == JV_STR) {
        char *p = jalloc(c->a, c->e, a.s.n + b.s.n + 1);
        memcpy(p, a.s.p, a.s.n);
        memcpy(p + a.s.n, b.s.p, b.s.n);
        return jv_str(p, a.s.n + b.s.n);
    }
    if (op == JOP_ADD && a.kind == JV_LIST && b.kind == JV_LIST && a.l->tuple == b.l->tuple) {
        jlist *l = jlist_new(c->a, c->e, a.l->n + b.l->n);
        l->tuple = a.l->tuple;
        for (size_t i = 0; i < a.l->n; i++) jlist_push(c->a, c->e, l, a.l->items[i]);
        for (size_t i = 0; i < b.l->n; i++) jlist_push(c->a, c->e, l, b.l->items[i]);
        jv r = {.kind = JV_LIST};
        r.l = l;
        return r;
    }
    if (op == JOP_MUL && (a.kind == JV_STR || a.kind == JV_LIST) && (b.kind == JV_INT || b.kind == JV_BOOL))
        return repeat(c, a, b.kind == JV_INT ? b.i : b.b, at);
    if (op == JOP_MUL && (b.kind == JV_STR || b.kind == JV_LIST) && (a.kind == JV_INT || a.kind == JV_BOOL))
        return repeat(c, b, a.kind == JV_INT ? a.i : a.b, at);
    if (op == JOP_MOD && a.kind == JV_STR) jcfail(c, at, "printf-style string formatting ('%%') is not supported");
    jcfail(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], jv_type_name(a), jv_type_name(b));
}

/* ---- calls ---- */
static void eval_args(jctx *c, jframe *f, const jnode *call, jargs *a, size_t extra_kw) {
    a->npos = call->n;
    a->pos = jalloc(c->a, c->e, (call->n + 1) * sizeof(jv)); /* never NULL: callers offset it */
    for (size_t i = 0; i < call->n; i++) a->pos[i] = jeval(c, f, call->list[i]);
    a->nkw = call->n2;
    a->kwn = jalloc(c->a, c->e, (call->n2 + extra_kw + 1) * sizeof(char *));
    a->kwv = jalloc(c->a, c->e, (call->n2 + extra_kw + 1) * sizeof(jv));
    for (size_t i = 0; i < call->n2; i++) {
        a->kwn[i] = call->names[i];
        a->kwv[i] = jeval(c, f, call->list2[i]);
    }
}

static jv render_body_to_string(jctx *c, jframe *f, const jnode *body) {
    jbuf *saved = c->out;
    jbuf tmp = {.a = c->a, .e = c->e};
    c->out = &tmp;
    int sig = 0;
    (void)sig;
    jexec(c, f, body);
    c->out = saved;
    return jv_str(tmp.p ? tmp.p : "", tmp.n);
}

static jv call_macro(jctx *c, jfunc *fn, jargs *a, const jnode *at) {
    const jnode *m = fn->macro;
    if (c->depth >= MAX_CALL_DEPTH) jcfail(c, at, "macro calls nested too deeply (more than %d)", MAX_CALL_DEPTH);
    jframe *f = jframe_new(c, fn->closure);
    jframe_enter(c, f, fn->caller_body ? fn->caller_body : m->a);
    if (a->npos > m->nnames) jcfail(c, at, "macro '%s' takes not more than %zu argument(s)", fn->name, m->nnames);
    bool *given = jalloc(c->a, c->e, (m->nnames + 1) * sizeof(bool));
    for (size_t i = 0; i < a->npos; i++) {
        jframe_set(c, f, m->names[i], a->pos[i]);
        given[i] = true;
    }
    for (size_t k = 0; k < a->nkw; k++) {
        if (!strcmp(a->kwn[k], "caller")) { jframe_set(c, f, "caller", a->kwv[k]); continue; }
        size_t i = 0;
        while (i < m->nnames && strcmp(m->names[i], a->kwn[k])) i++;
        if (i == m->nnames) jcfail(c, at, "macro '%s' takes no keyword argument '%s'", fn->name, a->kwn[k]);
        jframe_set(c, f, m->names[i], a->kwv[k]);
        given[i] = true;
    }
    for (size_t i = 0; i < m->nnames; i++) {
        if (given[i]) continue;
        if (m->list2 && m->list2[i]) jframe_set(c, f, m->names[i], jeval(c, f, m->list2[i]));
        else jframe_set(c, f, m->names[i], undef_msg(c, "parameter '%s' was not provided%s", m->names[i], ""));
    }
    c->depth++;
    jv r = render_body_to_string(c, f, fn->caller_body ? fn->caller_body : m->a);
    c->depth--;
    return r;
}

jv jcall_value(jctx *c, jv fn, jargs *a, const jnode *at) {
    if (fn.kind == JV_UNDEF) fail_undefined(c, at, fn);
    if (fn.kind != JV_FUNC) jcfail(c, at, "'%s' object is not callable", jv_type_name(fn));
    if (fn.fn->macro) return call_macro(c, fn.fn, a, at);
    return fn.fn->fn(c, fn.fn, a, at);
}

/* ---- expressions ---- */
static jv mk_list(jctx *c, jframe *f, const jnode *n, bool tuple) {
    jlist *l = jlist_new(c->a, c->e, n->n);
    l->tuple = tuple;
    for (size_t i = 0; i < n->n; i++) jlist_push(c->a, c->e, l, jeval(c, f, n->list[i]));
    jv r = {.kind = JV_LIST};
    r.l = l;
    return r;
}

jv jeval(jctx *c, jframe *f, const jnode *n) {
    tick(c, n);
    switch (n->kind) {
    case JN_LIT: return n->lit;
    case JN_NAME: {
        jv v = jframe_lookup(f, n->name);
        if (v.kind == JV_UNDEF) return undef_msg(c, "'%s' is undefined%s", n->name, "");
        return v;
    }
    case JN_ATTR: return jget_attr(c, jeval(c, f, n->a), n->name, n->name_len, n);
    case JN_ITEM: {
        jv obj = jeval(c, f, n->a);
        return jget_item(c, obj, jeval(c, f, n->b), n);
    }
    case JN_SLICE: {
        jv obj = jeval(c, f, n->a);
        jv a = n->b ? jeval(c, f, n->b) : jv_none(), b = n->c ? jeval(c, f, n->c) : jv_none(),
           s = n->d ? jeval(c, f, n->d) : jv_none();
        return do_slice(c, obj, a, b, s, n);
    }
    case JN_CALL: {
        jv fn = jeval(c, f, n->a);
        jargs a;
        eval_args(c, f, n, &a, 0);
        return jcall_value(c, fn, &a, n);
    }
    case JN_FILTER: {
        jv v = jeval(c, f, n->a);
        jargs a;
        eval_args(c, f, n, &a, 0);
        return jfilter_apply(c, n->op, v, &a, n);
    }
    case JN_TEST: {
        jv v = jeval(c, f, n->a);
        jargs a;
        eval_args(c, f, n, &a, 0);
        bool r = jtest_apply(c, n->op, v, &a, n);
        return jv_bool(n->flag ? !r : r);
    }
    case JN_BIN: {
        jv a = jeval(c, f, n->a);
        jv b = jeval(c, f, n->b);
        return jbinop(c, n->op, a, b, n);
    }
    case JN_UNARY: {
        jv v = jeval(c, f, n->a);
        if (v.kind == JV_UNDEF) fail_undefined(c, n, v);
        if (v.kind == JV_BOOL) v = jv_int(v.b);
        if (v.kind == JV_INT) {
            if (n->op == JOP_NEG && v.i == INT64_MIN) jcfail(c, n, "integer overflow");
            return n->op == JOP_NEG ? jv_int(-v.i) : v;
        }
        if (v.kind == JV_FLOAT) return n->op == JOP_NEG ? jv_float(-v.f) : v;
        jcfail(c, n, "bad operand type for unary %s: '%s'", n->op == JOP_NEG ? "-" : "+", jv_type_name(v));
    }
    case JN_AND: {
        jv a = jeval(c, f, n->a);
        return jv_truthy(a) ? jeval(c, f, n->b) : a;
    }
    case JN_OR: {
        jv a = jeval(c, f, n->a);
        return jv_truthy(a) ? a : jeval(c, f, n->b);
    }
    case JN_NOT: return jv_bool(!jv_truthy(jeval(c, f, n->a)));
    case JN_CMP: {
        jv left = jeval(c, f, n->a);
        for (size_t i = 0; i < n->n; i++) {
            jv right = jeval(c, f, n->list[i]);
            if (!jcompare(c, (int)(intptr_t)n->names[i], left, right, n)) return jv_bool(false);
            left = right;
        }
        return jv_bool(true);
    }
    case JN_COND:
        if (jv_truthy(jeval(c, f, n->a))) return jeval(c, f, n->b);
        return n->c ? jeval(c, f, n->c) : undef_msg(c, "the inline if-expression on line %s evaluated to false and no else section was defined%s", "?", "");
    case JN_LIST: return mk_list(c, f, n, false);
    case JN_TUPLE: return mk_list(c, f, n, true);
    case JN_DICT: {
        jdict *d = jdict_new(c->a, c->e, n->n);
        for (size_t i = 0; i < n->n; i++) {
            jv k = jeval(c, f, n->list[i]);
            if (k.kind == JV_LIST && !k.l->tuple) jcfail(c, n->list[i], "unhashable type: 'list'");
            if (k.kind == JV_DICT) jcfail(c, n->list[i], "unhashable type: 'dict'");
            jdict_set(c->a, c->e, d, k, jeval(c, f, n->list2[i]));
        }
        jv r = {.kind = JV_DICT};
        r.d = d;
        return r;
    }
    default: break;
    }
    jcfail(c, n, "internal error: statement evaluated as an expression");
}

/* ---- statements ---- */
static void assign_targets(jctx *c, jframe *f, const char *const *names, size_t nn, jv v, const jnode *at) {
    if (nn == 1) {
        jframe_set(c, f, names[0], v);
        return;
    }
    jlist *l = jiter_list(c, v, at);
    if (l->n != nn) jcfail(c, at, "cannot unpack %zu values into %zu names", l->n, nn);
    for (size_t i = 0; i < nn; i++) jframe_set(c, f, names[i], l->items[i]);
}

/* applies a filter chain whose innermost subject is a placeholder literal to value v */
static jv apply_chain(jctx *c, jframe *f, const jnode *chain, jv v) {
    if (chain->kind == JN_LIT) return v;
    if (chain->kind != JN_FILTER) jcfail(c, chain, "only filters may follow here");
    jv inner = apply_chain(c, f, chain->a, v);
    jargs a;
    eval_args(c, f, chain, &a, 0);
    return jfilter_apply(c, chain->op, inner, &a, chain);
}

static int exec_node(jctx *c, jframe *f, const jnode *n);

static int exec_body(jctx *c, jframe *f, const jnode *body) {
    for (size_t i = 0; i < body->n; i++) {
        int sig = exec_node(c, f, body->list[i]);
        if (sig) return sig;
    }
    return SIG_NONE;
}

static int exec_for(jctx *c, jframe *f, const jnode *n) {
    jv seq = jeval(c, f, n->a);
    jlist *items = jiter_list(c, seq, n->a);
    if (n->b) { /* loop filter: keep the items for which the condition holds */
        jlist *kept = jlist_new(c->a, c->e, items->n);
        for (size_t i = 0; i < items->n; i++) {
            jframe *tf = jframe_new(c, f);
            assign_targets(c, tf, n->names, n->nnames, items->items[i], n);
            if (jv_truthy(jeval(c, tf, n->b))) jlist_push(c->a, c->e, kept, items->items[i]);
        }
        items = kept;
    }
    jloop *L = jalloc(c->a, c->e, sizeof *L);
    L->length = (int64_t)items->n;
    L->items = items->items;
    for (size_t i = 0; i < items->n; i++) {
        tick(c, n);
        jframe *it = jframe_new(c, f);
        jframe_enter(c, it, n->c);
        assign_targets(c, it, n->names, n->nnames, items->items[i], n);
        jloop *cur = jalloc(c->a, c->e, sizeof *cur);
        *cur = *L;
        cur->index0 = (int64_t)i;
        jv lv = {.kind = JV_LOOP};
        lv.loop = cur;
        jframe_set(c, it, "loop", lv);
        int sig = exec_body(c, it, n->c);
        if (sig == SIG_BREAK) break;
    }
    if (items->n == 0 && n->d) return exec_body(c, jframe_new(c, f), n->d);
    return SIG_NONE;
}

static jv caller_fn(jctx *c, jfunc *fn, jargs *a, const jnode *at) { return call_macro(c, fn, a, at); }

static int exec_node(jctx *c, jframe *f, const jnode *n) {
    tick(c, n);
    switch (n->kind) {
    case JN_BODY: return exec_body(c, f, n);
    case JN_TEXT: jbuf_put(c->out, n->name, n->name_len); return SIG_NONE;
    case JN_OUT: jv_to_str(c->out, jeval(c, f, n->a)); return SIG_NONE;
    case JN_IF:
        if (jv_truthy(jeval(c, f, n->a))) return exec_body(c, f, n->b);
        if (n->c) return n->c->kind == JN_IF ? exec_node(c, f, n->c) : exec_body(c, f, n->c);
        return SIG_NONE;
    case JN_FOR: return exec_for(c, f, n);
    case JN_SET: assign_targets(c, f, n->names, n->nnames, jeval(c, f, n->a), n); return SIG_NONE;
    case JN_SETATTR: {
        jv ns = jframe_lookup(f, n->name);
        if (ns.kind != JV_DICT || !ns.d->ns) jcfail(c, n, "cannot assign attribute on non-namespace object");
        if (n->names[0][0] == '_') jcfail(c, n, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'. Please rename the attribute.", n->names[0]);
        jv val = jeval(c, f, n->a);
        jdict_set(c->a, c->e, ns.d, jv_str(n->names[0], strlen(n->names[0])), val);
        return SIG_NONE;
    }
    case JN_SETBLOCK: {
        jv v = render_body_to_string(c, f, n->b);
        if (n->a) v = apply_chain(c, f, n->a, v);
        jframe_set(c, f, n->names[0], v);
        return SIG_NONE;
    }
    case JN_MACRO: {
        jfunc *fn = jalloc(c->a, c->e, sizeof *fn);
        fn->name = n->name;
        fn->macro = n;
        fn->closure = f;
        jv v = {.kind = JV_FUNC};
        v.fn = fn;
        jframe_set(c, f, n->name, v);
        return SIG_NONE;
    }
    case JN_CALLBLOCK: {
        jfunc *cf = jalloc(c->a, c->e, sizeof *cf);
        cf->name = "caller";
        cf->macro = n; /* parameters of the call block */
        cf->caller_body = n->a;
        cf->closure = f;
        cf->fn = caller_fn;
        jv cv = {.kind = JV_FUNC};
        cv.fn = cf;
        const jnode *call = n->b;
        jv fn = jeval(c, f, call->a);
        jargs a;
        eval_args(c, f, call, &a, 1);
        a.kwn[a.nkw] = "caller";
        a.kwv[a.nkw] = cv;
        a.nkw++;
        jv_to_str(c->out, jcall_value(c, fn, &a, call));
        return SIG_NONE;
    }
    case JN_FILTERBLOCK: {
        jv v = render_body_to_string(c, f, n->b);
        jv_to_str(c->out, apply_chain(c, f, n->a, v));
        return SIG_NONE;
    }
    case JN_BREAK: return SIG_BREAK;
    case JN_CONTINUE: return SIG_CONTINUE;
    default: jv_to_str(c->out, jeval(c, f, n)); return SIG_NONE;
    }
}

void jexec(jctx *c, jframe *f, const jnode *body) { (void)exec_body(c, f, body); }
