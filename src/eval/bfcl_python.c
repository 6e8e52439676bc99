/* BFCL's Python decoder: ast.parse(text, mode="eval") of a call list and BFCL's
 * resolve_ast_call / resolve_ast_by_type over it (model_handler/utils.py).
 *
 * The expression itself is parsed by pyexpr.h.
 *
 * Resolution follows BFCL exactly, quirks included: only keyword arguments are kept; a unary
 * operator on a constant gives minus that constant whatever the operator; a binary operation
 * is evaluated (eval(ast.unparse(node))): here for numbers, strings, lists and tuples of
 * constants (names or calls inside it fail, as they would raise NameError in nearly every
 * case); a call without keyword arguments becomes its ast.unparse text, one with keywords a
 * nested {name: {...}}; a subscript becomes "value[slice]" text; names become their string;
 * attributes, sets, lambdas, f-strings, comparisons etc. make the decode fail. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/bfcl.h"
#include "eval/pyexpr.h"

/* The resolution's state: the first error met. */
typedef struct resolver {
    char err[160];
} resolver;

/* ---------------------------------------------------------------- eval of a binary operation */

static afm_pv *ev(resolver *P, const node *n);

static bool is_intlike(const afm_pv *v) { return (v->type == AFM_PV_INT && !v->big) || v->type == AFM_PV_BOOL; }
static double num(const afm_pv *v) { return v->type == AFM_PV_FLOAT || v->big ? v->f : (double)v->i; }
static bool is_number(const afm_pv *v) { return v->type == AFM_PV_INT || v->type == AFM_PV_BOOL || v->type == AFM_PV_FLOAT; }

static afm_pv *ev_fail(resolver *P, const char *msg) {
    if (!P->err[0]) snprintf(P->err, sizeof P->err, "%s", msg);
    return NULL;
}

static afm_pv *int_result(__int128 r) {
    if (r > INT64_MAX || r < INT64_MIN) return afm_pv_big((double)r);
    return afm_pv_int((int64_t)r);
}

static afm_pv *repeat(resolver *P, const afm_pv *seq, const afm_pv *times) {
    int64_t k = times->i < 0 ? 0 : times->i;
    if (k > 100000 || (seq->type == AFM_PV_STR && (double)seq->len * (double)k > 1e7)) return ev_fail(P, "repetition too large");
    if (seq->type == AFM_PV_STR) {
        afm_strbuf b;
        afm_sb_init(&b);
        for (int64_t j = 0; j < k; j++) afm_sb_append(&b, seq->s, seq->len);
        afm_pv *r = afm_pv_str(b.s ? b.s : "", b.n);
        afm_sb_free(&b);
        return r;
    }
    afm_pv *r = afm_pv_list(seq->type);
    for (int64_t j = 0; r && j < k; j++)
        for (size_t i = 0; i < seq->n; i++)
            if (afm_pv_push(r, afm_pv_copy(seq->items[i])) != AFM_OK) { afm_pv_free(r); return NULL; }
    return r;
}

static afm_pv *binop(resolver *P, const char *op, const afm_pv *x, const afm_pv *y) {
    bool sx = x->type == AFM_PV_STR || x->type == AFM_PV_LIST || x->type == AFM_PV_TUPLE;
    bool sy = y->type == AFM_PV_STR || y->type == AFM_PV_LIST || y->type == AFM_PV_TUPLE;
    if (!strcmp(op, "+") && sx && x->type == y->type) {
        if (x->type == AFM_PV_STR) {
            afm_strbuf b;
            afm_sb_init(&b);
            afm_sb_append(&b, x->s, x->len);
            afm_sb_append(&b, y->s, y->len);
            afm_pv *r = afm_pv_str(b.s ? b.s : "", b.n);
            afm_sb_free(&b);
            return r;
        }
        afm_pv *r = afm_pv_copy(x);
        for (size_t i = 0; r && i < y->n; i++)
            if (afm_pv_push(r, afm_pv_copy(y->items[i])) != AFM_OK) { afm_pv_free(r); return NULL; }
        return r;
    }
    if (!strcmp(op, "*") && sx && is_intlike(y)) return repeat(P, x, y);
    if (!strcmp(op, "*") && sy && is_intlike(x)) return repeat(P, y, x);
    if (!is_number(x) || !is_number(y)) return ev_fail(P, "unsupported operand types in a binary operation");
    bool ints = is_intlike(x) && is_intlike(y);
    if (ints && strcmp(op, "/") != 0 && strcmp(op, "**") != 0) {
        __int128 a = x->i, c = y->i, r;
        if (!strcmp(op, "+")) r = a + c;
        else if (!strcmp(op, "-")) r = a - c;
        else if (!strcmp(op, "*")) r = a * c;
        else if (!strcmp(op, "//") || !strcmp(op, "%")) {
            if (c == 0) return ev_fail(P, "integer division or modulo by zero");
            __int128 q = a / c, m = a % c;
            if (m != 0 && ((m < 0) != (c < 0))) { q -= 1; m += c; }
            r = !strcmp(op, "//") ? q : m;
        } else if (!strcmp(op, "<<")) { if (c < 0) return ev_fail(P, "negative shift count"); if (c > 62) return afm_pv_big(ldexp((double)a, (int)(c > 2000 ? 2000 : c))); r = a << c; }
        else if (!strcmp(op, ">>")) { if (c < 0) return ev_fail(P, "negative shift count"); r = c > 100 ? (a < 0 ? -1 : 0) : a >> c; }
        else if (!strcmp(op, "&")) r = a & c;
        else if (!strcmp(op, "|")) r = a | c;
        else if (!strcmp(op, "^")) r = a ^ c;
        else return ev_fail(P, "unsupported operator");
        return int_result(r);
    }
    if (ints && !strcmp(op, "**") && y->i >= 0) {
        __int128 r = 1, a = x->i;
        for (int64_t k = 0; k < y->i; k++) {
            r *= a;
            if (r > INT64_MAX || r < INT64_MIN) return afm_pv_big(pow((double)x->i, (double)y->i));
            if (r == 0 || r == 1) break;
        }
        if (a == -1) r = (y->i % 2) ? -1 : 1;
        return int_result(r);
    }
    double a = num(x), c = num(y), r;
    if (!strcmp(op, "+")) r = a + c;
    else if (!strcmp(op, "-")) r = a - c;
    else if (!strcmp(op, "*")) r = a * c;
    else if (!strcmp(op, "/")) { if (c == 0) return ev_fail(P, "division by zero"); r = a / c; }
    else if (!strcmp(op, "//") || !strcmp(op, "%")) {
        if (c == 0) return ev_fail(P, "float modulo or floor division by zero");
        double m = fmod(a, c);
        if (m != 0 && ((m < 0) != (c < 0))) m += c;
        r = !strcmp(op, "%") ? m : floor(a / c);
    } else if (!strcmp(op, "**")) {
        if (a == 0 && c < 0) return ev_fail(P, "0.0 cannot be raised to a negative power");
        if (a < 0 && c != floor(c)) return afm_pv_other("complex");
        r = pow(a, c);
        if (isinf(r) && !isinf(a)) return ev_fail(P, "numerical result out of range");
    } else return ev_fail(P, "unsupported operand type(s) for float");
    return afm_pv_float(r);
}

static afm_pv *ev(resolver *P, const node *n) {
    switch (n->kind) {
    case N_CONST:
        if (n->fstring) return ev_fail(P, "f-string in a binary operation");
        return afm_pv_copy(n->val);
    case N_UNARY: {
        afm_pv *o = ev(P, n->a);
        if (!o) return NULL;
        afm_pv *r = NULL;
        if (!strcmp(n->id, "not")) {
            bool t = o->type == AFM_PV_NONE ? false : is_number(o) ? num(o) != 0 : o->type == AFM_PV_STR ? o->len > 0 : o->n > 0;
            r = afm_pv_bool(!t);
        } else if (!is_number(o)) r = ev_fail(P, "bad operand type for unary operator");
        else if (!strcmp(n->id, "+")) r = o->type == AFM_PV_BOOL ? afm_pv_int(o->i) : afm_pv_copy(o);
        else if (!strcmp(n->id, "-")) r = o->type == AFM_PV_FLOAT || o->big ? (o->type == AFM_PV_FLOAT ? afm_pv_float(-o->f) : afm_pv_big(-o->f)) : int_result(-(__int128)o->i);
        else r = o->type == AFM_PV_FLOAT ? ev_fail(P, "bad operand type for unary ~: 'float'") : afm_pv_int(~o->i);
        afm_pv_free(o);
        return r;
    }
    case N_BINOP: {
        afm_pv *x = ev(P, n->a), *y = x ? ev(P, n->b) : NULL;
        afm_pv *r = x && y ? binop(P, n->id, x, y) : NULL;
        afm_pv_free(x);
        afm_pv_free(y);
        return r;
    }
    case N_LIST:
    case N_TUPLE: {
        afm_pv *l = afm_pv_list(n->kind == N_LIST ? AFM_PV_LIST : AFM_PV_TUPLE);
        for (size_t k = 0; l && k < n->nk; k++) {
            afm_pv *e = ev(P, n->kids[k]);
            if (!e || afm_pv_push(l, e) != AFM_OK) { afm_pv_free(l); return NULL; }
        }
        return l;
    }
    default: return ev_fail(P, "a binary operation on names or calls cannot be evaluated");
    }
}

/* ---------------------------------------------------------------- BFCL's resolution */

static afm_pv *resolve(resolver *P, const node *n);

/* resolve_ast_call: {dotted.name: {keyword: value}} */
static afm_pv *resolve_call(resolver *P, const node *call) {
    /* func name: the attribute chain down to a Name (other bases are dropped) */
    const node *parts[64];
    int np = 0;
    const node *f = call->a;
    while (f->kind == N_ATTR && np < 64) { parts[np++] = f; f = f->a; }
    /* ".".join(reversed(parts)): the base Name (if it is one), then the attributes */
    afm_strbuf name;
    afm_sb_init(&name);
    if (f->kind == N_NAME) afm_sb_append(&name, f->id, f->id_len);
    for (int k = np - 1; k >= 0; k--) {
        if (k != np - 1 || f->kind == N_NAME) afm_sb_puts(&name, ".");
        afm_sb_append(&name, parts[k]->id, parts[k]->id_len);
    }
    afm_pv *args = afm_pv_list(AFM_PV_DICT);
    for (size_t k = 0; args && k < call->nk; k++) {
        const node *kw = call->kids[k];
        if (kw->kind != N_KEYWORD) continue;
        afm_pv *v = resolve(P, kw->a);
        if (!v) { afm_pv_free(args); args = NULL; break; }
        afm_pv *key = kw->id ? afm_pv_str(kw->id, kw->id_len) : afm_pv_none();
        if (afm_pv_dict_set(args, key, v) != AFM_OK) { afm_pv_free(args); args = NULL; }
    }
    afm_pv *out = NULL;
    if (args) {
        out = afm_pv_list(AFM_PV_DICT);
        if (afm_pv_dict_set(out, afm_pv_str(name.s ? name.s : "", name.n), args) != AFM_OK) out = NULL;
        else if (!out) afm_pv_free(args);
    }
    afm_sb_free(&name);
    if (!out && !P->err[0]) snprintf(P->err, sizeof P->err, "out of memory");
    return out;
}

static afm_pv *unparse_str(resolver *P, const node *a, const node *b) {
    afm_strbuf s;
    afm_sb_init(&s);
    bool ok = afm_py_unparse(&s, a);
    if (ok && b) {
        afm_sb_puts(&s, "[");
        ok = afm_py_unparse(&s, b);
        afm_sb_puts(&s, "]");
    }
    afm_pv *r = ok ? afm_pv_str(s.s ? s.s : "", s.n) : ev_fail(P, "cannot unparse this expression");
    afm_sb_free(&s);
    return r;
}

static afm_pv *resolve(resolver *P, const node *n) {
    switch (n->kind) {
    case N_CONST:
        if (n->fstring) return ev_fail(P, "Unsupported AST type: <class 'ast.JoinedStr'>");
        return afm_pv_copy(n->val);
    case N_ELLIPSIS: return afm_pv_str("...", 3);
    case N_UNARY: {
        /* BFCL: output = -value.operand.value, whatever the operator */
        const node *o = n->a;
        if (o->kind != N_CONST || o->fstring) return ev_fail(P, "unary operator on a non-constant");
        const afm_pv *v = o->val;
        if (v->type == AFM_PV_INT && !v->big) return int_result(-(__int128)v->i);
        if (v->type == AFM_PV_INT) return afm_pv_big(-v->f);
        if (v->type == AFM_PV_BOOL) return afm_pv_int(-v->i);
        if (v->type == AFM_PV_FLOAT) return afm_pv_float(-v->f);
        if (v->type == AFM_PV_OTHER && !strcmp(v->s, "complex")) return afm_pv_other("complex");
        return ev_fail(P, "bad operand type for unary -");
    }
    case N_LIST:
    case N_TUPLE: {
        afm_pv *l = afm_pv_list(n->kind == N_LIST ? AFM_PV_LIST : AFM_PV_TUPLE);
        for (size_t k = 0; l && k < n->nk; k++) {
            afm_pv *e = resolve(P, n->kids[k]);
            if (!e || afm_pv_push(l, e) != AFM_OK) { afm_pv_free(l); return NULL; }
        }
        return l;
    }
    case N_DICT: {
        afm_pv *d = afm_pv_list(AFM_PV_DICT);
        for (size_t k = 0; d && k + 1 < n->nk; k += 2) {
            if (!n->kids[k]) { afm_pv_free(d); return ev_fail(P, "Unsupported AST type: <class 'NoneType'>"); }
            afm_pv *key = resolve(P, n->kids[k]);
            afm_pv *val = key ? resolve(P, n->kids[k + 1]) : NULL;
            if (key && (key->type == AFM_PV_LIST || key->type == AFM_PV_DICT)) {
                afm_pv_free(key);
                afm_pv_free(val);
                afm_pv_free(d);
                return ev_fail(P, "unhashable type as a dict key");
            }
            if (!key || !val || afm_pv_dict_set(d, key, val) != AFM_OK) { afm_pv_free(key); afm_pv_free(val); afm_pv_free(d); return NULL; }
        }
        return d;
    }
    case N_BINOP: return ev(P, n);
    case N_NAME: return afm_pv_str(n->id, n->id_len);
    case N_CALL: {
        bool kw = false;
        for (size_t k = 0; k < n->nk; k++) kw |= n->kids[k]->kind == N_KEYWORD;
        return kw ? resolve_call(P, n) : unparse_str(P, n, NULL);
    }
    case N_SUBSCRIPT: return unparse_str(P, n->a, n->b);
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "Unsupported AST type: %s", n->kind == N_ATTR ? "Attribute" : n->kind == N_SET ? "Set" : n->kind == N_STARRED ? "Starred" : n->id ? n->id : "expression");
        return ev_fail(P, msg);
    }
    }
}

afm_status afm_bfcl_parse_python(const char *text, size_t len, afm_pv **calls) {
    *calls = NULL;
    py_tree *tree;
    const node *body;
    AFM_TRY(afm_py_parse(text, len, &tree, &body));
    resolver R = {{0}}, *P = &R;
    afm_status st = AFM_OK;
    afm_pv *out = afm_pv_list(AFM_PV_LIST);
    if (!out) { st = afm_error(AFM_ERR_NOMEM, "decoded calls"); goto done; }
    if (body->kind == N_CALL) {
        afm_pv *c = resolve_call(P, body);
        if (!c || afm_pv_push(out, c) != AFM_OK) st = afm_error(AFM_ERR_FORMAT, "%s", P->err);
    } else if (body->kind == N_LIST || body->kind == N_TUPLE || body->kind == N_SET) {
        for (size_t k = 0; k < body->nk && st == AFM_OK; k++) {
            const node *e = body->kids[k];
            if (e->kind != N_CALL) { st = afm_error(AFM_ERR_FORMAT, "AssertionError: list element %zu is not a call", k); break; }
            afm_pv *c = resolve_call(P, e);
            if (!c || afm_pv_push(out, c) != AFM_OK) st = afm_error(AFM_ERR_FORMAT, "%s", P->err[0] ? P->err : "decode failed");
        }
    } else {
        st = afm_error(AFM_ERR_FORMAT, "the expression is not a list of calls");
    }
    if (st != AFM_OK) afm_pv_free(out);
    else *calls = out;
done:
    afm_py_free(tree);
    return st;
}
