/* Python's expression grammar by recursive descent: see pyexpr.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "eval/pyexpr.h"
#include "eval/pyexpr_lex.h"

typedef struct parser {
    lexer *L;
    size_t p;             /* token index */
    node **all;           /* every node, for freeing */
    size_t nall, capall;
    char err[160];
    int depth;
} parser;

static node *mk(parser *P, node_kind k) {
    if (P->err[0]) return NULL;
    node *n = calloc(1, sizeof *n);
    if (!n) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
    if (P->nall == P->capall) {
        size_t nc = P->capall ? 2 * P->capall : 64;
        node **a = realloc(P->all, nc * sizeof *a);
        if (!a) { free(n); snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        P->all = a;
        P->capall = nc;
    }
    P->all[P->nall++] = n;
    n->kind = k;
    return n;
}

static bool add_kid(parser *P, node *n, node *k) {
    if (P->err[0]) return false;
    if (n->nk == n->capk) {
        size_t nc = n->capk ? 2 * n->capk : 4;
        node **a = realloc(n->kids, nc * sizeof *a);
        if (!a) { snprintf(P->err, sizeof P->err, "out of memory"); return false; }
        n->kids = a;
        n->capk = nc;
    }
    n->kids[n->nk++] = k;
    return true;
}

static const tok *cur(parser *P) { return &P->L->toks[P->p]; }
static bool is_op(parser *P, const char *op) {
    const tok *t = cur(P);
    return t->kind == T_OP && t->len == strlen(op) && !memcmp(P->L->s + t->at, op, t->len);
}
static bool is_kw(parser *P, const char *kw) {
    const tok *t = cur(P);
    return t->kind == T_NAME && t->len == strlen(kw) && !memcmp(P->L->s + t->at, kw, t->len);
}
static bool is_keyword_tok(parser *P, const tok *t) {
    for (int k = 0; afm_py_keywords[k]; k++)
        if (t->kind == T_NAME && t->len == strlen(afm_py_keywords[k]) && !memcmp(P->L->s + t->at, afm_py_keywords[k], t->len)) return true;
    return false;
}
static node *fail(parser *P, const char *msg) {
    if (!P->err[0]) snprintf(P->err, sizeof P->err, "invalid syntax: %s (offset %zu)", msg, cur(P)->at);
    return NULL;
}
static bool expect(parser *P, const char *op) {
    if (!is_op(P, op)) { fail(P, op); return false; }
    P->p++;
    return true;
}

static node *expr(parser *P);      /* test: ternary / lambda / or */
static node *star_expr_list(parser *P, bool *is_tuple, const char *const *enders);
static node *or_expr(parser *P);
static node *bitor_expr(parser *P);

static bool at_comp_for(parser *P) { return is_kw(P, "for") || (is_kw(P, "async")); }

/* "for targets in or_test (if or_test)*" repeated; the result is a comprehension (OTHER) */
static bool comp_tail(parser *P) {
    while (at_comp_for(P)) {
        if (is_kw(P, "async")) P->p++;
        if (!is_kw(P, "for")) { fail(P, "for"); return false; }
        P->p++;
        /* target list: or-level expressions separated by commas */
        do {
            if (is_op(P, "*")) P->p++;
            if (!bitor_expr(P)) return false;
            if (!is_op(P, ",")) break;
            P->p++;
        } while (!is_kw(P, "in"));
        if (!is_kw(P, "in")) { fail(P, "in"); return false; }
        P->p++;
        if (!or_expr(P)) return false;
        while (is_kw(P, "if")) {
            P->p++;
            if (!or_expr(P)) return false;
        }
    }
    return true;
}

static node *atom(parser *P) {
    const tok *t = cur(P);
    if (++P->depth > 200) return fail(P, "too deeply nested");
    node *n = NULL;
    if (t->kind == T_NUMBER) {
        n = mk(P, N_CONST);
        if (n && !(n->val = afm_pv_copy(t->val))) snprintf(P->err, sizeof P->err, "out of memory");
        P->p++;
    } else if (t->kind == T_STRING) {
        /* implicit concatenation; bytes and str do not mix */
        afm_strbuf b;
        afm_sb_init(&b);
        bool bytes = t->bytes, fs = false;
        while (cur(P)->kind == T_STRING) {
            const tok *s = cur(P);
            if (s->bytes != bytes) { afm_sb_free(&b); return fail(P, "cannot mix bytes and nonbytes literals"); }
            fs |= s->fstring;
            if (!bytes) afm_sb_append(&b, s->val->s, s->val->len);
            P->p++;
        }
        n = mk(P, N_CONST);
        if (n) {
            n->val = bytes ? afm_pv_other("bytes") : afm_pv_str(b.s ? b.s : "", b.n);
            n->fstring = fs;
            if (!n->val) snprintf(P->err, sizeof P->err, "out of memory");
        }
        afm_sb_free(&b);
    } else if (t->kind == T_NAME) {
        if (is_kw(P, "True") || is_kw(P, "False") || is_kw(P, "None")) {
            n = mk(P, N_CONST);
            if (n) n->val = is_kw(P, "None") ? afm_pv_none() : afm_pv_bool(is_kw(P, "True"));
            P->p++;
        } else if (is_keyword_tok(P, t)) {
            return fail(P, "keyword");
        } else {
            n = mk(P, N_NAME);
            if (n) { n->id = P->L->s + t->at; n->id_len = t->len; }
            P->p++;
        }
    } else if (is_op(P, "...")) {
        n = mk(P, N_ELLIPSIS);
        P->p++;
    } else if (is_op(P, "(")) {
        P->p++;
        if (is_op(P, ")")) { P->p++; n = mk(P, N_TUPLE); }
        else {
            static const char *const enders[] = {")", NULL};
            bool tuple;
            if (is_kw(P, "yield")) return fail(P, "yield");
            n = star_expr_list(P, &tuple, enders);
            if (!n) return NULL;
            if (!tuple && at_comp_for(P)) {
                if (!comp_tail(P)) return NULL;
                node *g = mk(P, N_OTHER);
                if (g) g->id = "generator expression";
                n = g;
            } else if (!tuple && is_op(P, ":=")) {
                P->p++;
                if (!expr(P)) return NULL;
                node *w = mk(P, N_OTHER);
                if (w) w->id = "named expression";
                n = w;
            } else if (!tuple && n->kind == N_STARRED) {
                return fail(P, "cannot use starred expression here");
            }
            if (!expect(P, ")")) return NULL;
        }
    } else if (is_op(P, "[")) {
        P->p++;
        n = mk(P, N_LIST);
        if (!n) return NULL;
        if (!is_op(P, "]")) {
            node *first = is_op(P, "*") ? NULL : expr(P);
            if (!first && !is_op(P, "*")) return NULL;
            if (first && at_comp_for(P)) {
                if (!comp_tail(P)) return NULL;
                n->kind = N_OTHER;
                n->id = "list comprehension";
            } else {
                if (first) add_kid(P, n, first);
                else {
                    P->p++;
                    node *s = mk(P, N_STARRED);
                    if (!s || !(s->a = bitor_expr(P))) return NULL;
                    add_kid(P, n, s);
                }
                while (is_op(P, ",")) {
                    P->p++;
                    if (is_op(P, "]")) break;
                    node *e;
                    if (is_op(P, "*")) {
                        P->p++;
                        e = mk(P, N_STARRED);
                        if (!e || !(e->a = bitor_expr(P))) return NULL;
                    } else if (!(e = expr(P))) return NULL;
                    add_kid(P, n, e);
                }
            }
        }
        if (!expect(P, "]")) return NULL;
    } else if (is_op(P, "{")) {
        P->p++;
        n = mk(P, N_DICT);
        if (!n) return NULL;
        if (!is_op(P, "}")) {
            bool first = true;
            for (;;) {
                if (is_op(P, "**")) {
                    if (n->kind != N_DICT) return fail(P, "**");
                    P->p++;
                    node *v = bitor_expr(P);
                    if (!v) return NULL;
                    add_kid(P, n, NULL);
                    add_kid(P, n, v);
                } else if (is_op(P, "*")) {
                    if (!first && n->kind != N_SET) return fail(P, "*");
                    n->kind = N_SET;
                    P->p++;
                    node *s = mk(P, N_STARRED);
                    if (!s || !(s->a = bitor_expr(P))) return NULL;
                    add_kid(P, n, s);
                } else {
                    node *k = expr(P);
                    if (!k) return NULL;
                    if (is_op(P, ":") && (first || n->kind == N_DICT)) {
                        P->p++;
                        node *v = expr(P);
                        if (!v) return NULL;
                        add_kid(P, n, k);
                        add_kid(P, n, v);
                    } else if (first || n->kind == N_SET) {
                        n->kind = N_SET;
                        add_kid(P, n, k);
                    } else return fail(P, "':' expected");
                    if (first && at_comp_for(P)) {
                        if (!comp_tail(P)) return NULL;
                        n->kind = N_OTHER;
                        n->id = "comprehension";
                        break;
                    }
                }
                first = false;
                if (!is_op(P, ",")) break;
                P->p++;
                if (is_op(P, "}")) break;
            }
        }
        if (!expect(P, "}")) return NULL;
    } else {
        return fail(P, t->kind == T_END ? "unexpected end" : "unexpected token");
    }
    P->depth--;
    return n;
}

/* call arguments after "(": positional, *x, k=v, **x; Python's ordering rules */
static bool call_args(parser *P, node *call) {
    bool seen_kw = false, seen_dstar = false;
    while (!is_op(P, ")")) {
        node *a;
        if (is_op(P, "**")) {
            P->p++;
            a = mk(P, N_KEYWORD);
            if (!a || !(a->a = expr(P))) return false;
            seen_dstar = true;
        } else if (is_op(P, "*")) {
            if (seen_dstar) { fail(P, "iterable argument unpacking follows keyword argument unpacking"); return false; }
            P->p++;
            a = mk(P, N_STARRED);
            if (!a || !(a->a = expr(P))) return false;
        } else if (cur(P)->kind == T_NAME && P->L->toks[P->p + 1].kind == T_OP && P->L->toks[P->p + 1].len == 1 &&
                   P->L->s[P->L->toks[P->p + 1].at] == '=') {
            if (is_keyword_tok(P, cur(P))) { fail(P, "keyword as argument name"); return false; }
            a = mk(P, N_KEYWORD);
            if (!a) return false;
            a->id = P->L->s + cur(P)->at;
            a->id_len = cur(P)->len;
            P->p += 2;
            if (!(a->a = expr(P))) return false;
            seen_kw = true;
        } else {
            if (seen_kw || seen_dstar) { fail(P, seen_dstar ? "positional argument follows keyword argument unpacking" : "positional argument follows keyword argument"); return false; }
            if (!(a = expr(P))) return false;
            if (at_comp_for(P)) {
                if (!comp_tail(P)) return false;
                node *g = mk(P, N_OTHER);
                if (!g) return false;
                g->id = "generator expression";
                a = g;
            } else if (is_op(P, ":=")) {
                P->p++;
                if (!expr(P)) return false;
                node *w = mk(P, N_OTHER);
                if (!w) return false;
                w->id = "named expression";
                a = w;
            }
        }
        if (!add_kid(P, call, a)) return false;
        if (!is_op(P, ",")) break;
        P->p++;
    }
    return expect(P, ")");
}

static node *slice_item(parser *P) {
    node *lo = NULL, *hi = NULL, *step = NULL;
    if (!is_op(P, ":")) { if (!(lo = expr(P))) return NULL; }
    if (!is_op(P, ":")) return lo;
    P->p++;
    if (!is_op(P, ":") && !is_op(P, "]") && !is_op(P, ",")) { if (!(hi = expr(P))) return NULL; }
    if (is_op(P, ":")) {
        P->p++;
        if (!is_op(P, "]") && !is_op(P, ",")) { if (!(step = expr(P))) return NULL; }
    }
    node *s = mk(P, N_SLICE);
    if (s) { s->a = lo; s->b = hi; s->c = step; }
    return s;
}

static node *primary(parser *P) {
    node *n = atom(P);
    while (n) {
        if (is_op(P, ".")) {
            P->p++;
            if (cur(P)->kind != T_NAME || is_keyword_tok(P, cur(P))) return fail(P, "attribute name");
            node *a = mk(P, N_ATTR);
            if (!a) return NULL;
            a->a = n;
            a->id = P->L->s + cur(P)->at;
            a->id_len = cur(P)->len;
            P->p++;
            n = a;
        } else if (is_op(P, "(")) {
            P->p++;
            node *c = mk(P, N_CALL);
            if (!c) return NULL;
            c->a = n;
            if (!call_args(P, c)) return NULL;
            n = c;
        } else if (is_op(P, "[")) {
            P->p++;
            node *s = mk(P, N_SUBSCRIPT);
            if (!s) return NULL;
            s->a = n;
            node *first = slice_item(P);
            if (!first) return NULL;
            if (is_op(P, ",")) {
                node *t = mk(P, N_TUPLE);
                if (!t) return NULL;
                add_kid(P, t, first);
                while (is_op(P, ",")) {
                    P->p++;
                    if (is_op(P, "]")) break;
                    node *e = slice_item(P);
                    if (!e) return NULL;
                    add_kid(P, t, e);
                }
                first = t;
            }
            s->b = first;
            if (!expect(P, "]")) return NULL;
            n = s;
        } else break;
    }
    return n;
}

static node *unary(parser *P);

static node *power(parser *P) {
    if (is_kw(P, "await")) {
        P->p++;
        if (!primary(P)) return NULL;
        node *o = mk(P, N_OTHER);
        if (o) o->id = "await";
        return o;
    }
    node *b = primary(P);
    if (b && is_op(P, "**")) {
        P->p++;
        node *e = unary(P);
        if (!e) return NULL;
        node *n = mk(P, N_BINOP);
        if (!n) return NULL;
        n->id = "**";
        n->a = b;
        n->b = e;
        return n;
    }
    return b;
}

static node *unary(parser *P) {
    if (is_op(P, "-") || is_op(P, "+") || is_op(P, "~")) {
        const char *op = is_op(P, "-") ? "-" : is_op(P, "+") ? "+" : "~";
        P->p++;
        if (++P->depth > 200) return fail(P, "too deeply nested");
        node *o = unary(P);
        P->depth--;
        if (!o) return NULL;
        node *n = mk(P, N_UNARY);
        if (n) { n->id = op; n->a = o; }
        return n;
    }
    return power(P);
}

/* left-associative binary levels, from tightest */
static const char *const k_term[] = {"*", "/", "//", "%", "@", NULL};
static const char *const k_arith[] = {"+", "-", NULL};
static const char *const k_shift[] = {"<<", ">>", NULL};
static const char *const k_band[] = {"&", NULL};
static const char *const k_bxor[] = {"^", NULL};
static const char *const k_bor[] = {"|", NULL};
static const char *const *const k_levels[] = {k_term, k_arith, k_shift, k_band, k_bxor, k_bor};

static node *binary(parser *P, int level) {
    node *l = level == 0 ? unary(P) : binary(P, level - 1);
    while (l) {
        const char *op = NULL;
        for (int k = 0; k_levels[level][k]; k++) if (is_op(P, k_levels[level][k])) op = k_levels[level][k];
        if (!op) break;
        P->p++;
        node *r = level == 0 ? unary(P) : binary(P, level - 1);
        if (!r) return NULL;
        node *n = mk(P, N_BINOP);
        if (!n) return NULL;
        n->id = op;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static node *bitor_expr(parser *P) { return binary(P, 5); }

static bool at_cmp(parser *P) {
    static const char *const ops[] = {"<", ">", "==", ">=", "<=", "!=", NULL};
    for (int k = 0; ops[k]; k++) if (is_op(P, ops[k])) return true;
    return is_kw(P, "in") || is_kw(P, "is") || (is_kw(P, "not") && P->L->toks[P->p + 1].kind == T_NAME &&
                                                 P->L->toks[P->p + 1].len == 2 && !memcmp(P->L->s + P->L->toks[P->p + 1].at, "in", 2));
}

static node *comparison(parser *P) {
    node *l = bitor_expr(P);
    if (!l || !at_cmp(P)) return l;
    while (at_cmp(P)) {
        if (is_kw(P, "not")) P->p += 2;
        else if (is_kw(P, "is")) { P->p++; if (is_kw(P, "not")) P->p++; }
        else P->p++;
        if (!bitor_expr(P)) return NULL;
    }
    node *n = mk(P, N_OTHER);
    if (n) n->id = "comparison";
    return n;
}

static node *not_test(parser *P) {
    if (is_kw(P, "not")) {
        P->p++;
        if (++P->depth > 200) return fail(P, "too deeply nested");
        node *o = not_test(P);
        P->depth--;
        if (!o) return NULL;
        node *n = mk(P, N_UNARY);
        if (n) { n->id = "not"; n->a = o; }
        return n;
    }
    return comparison(P);
}

static node *bool_level(parser *P, const char *kw) {
    node *l = !strcmp(kw, "and") ? not_test(P) : bool_level(P, "and");
    if (!l || !is_kw(P, kw)) return l;
    while (is_kw(P, kw)) {
        P->p++;
        if (!(!strcmp(kw, "and") ? not_test(P) : bool_level(P, "and"))) return NULL;
    }
    node *n = mk(P, N_OTHER);
    if (n) n->id = "boolean operation";
    return n;
}

static node *or_expr(parser *P) { return bool_level(P, "or"); }

static node *expr(parser *P) {
    if (is_kw(P, "lambda")) {
        P->p++;
        while (!is_op(P, ":")) {
            if (cur(P)->kind == T_END) return fail(P, "lambda");
            P->p++;
        }
        P->p++;
        if (!expr(P)) return NULL;
        node *n = mk(P, N_OTHER);
        if (n) n->id = "lambda";
        return n;
    }
    node *n = or_expr(P);
    if (n && is_kw(P, "if")) {
        P->p++;
        if (!or_expr(P)) return NULL;
        if (!is_kw(P, "else")) return fail(P, "expected 'else' after 'if' expression");
        P->p++;
        if (!expr(P)) return NULL;
        node *t = mk(P, N_OTHER);
        if (t) t->id = "conditional expression";
        return t;
    }
    return n;
}

/* expressions (or *starred) separated by commas; a trailing comma or several make a tuple */
static node *star_expr_list(parser *P, bool *is_tuple, const char *const *enders) {
    node *first;
    if (is_op(P, "*")) {
        P->p++;
        first = mk(P, N_STARRED);
        if (!first || !(first->a = bitor_expr(P))) return NULL;
    } else if (!(first = expr(P))) return NULL;
    *is_tuple = false;
    if (!is_op(P, ",")) return first;
    node *t = mk(P, N_TUPLE);
    if (!t) return NULL;
    add_kid(P, t, first);
    *is_tuple = true;
    while (is_op(P, ",")) {
        P->p++;
        bool end = cur(P)->kind == T_END || cur(P)->kind == T_NEWLINE;
        for (int k = 0; enders && enders[k]; k++) if (is_op(P, enders[k])) end = true;
        if (end) break;
        node *e;
        if (is_op(P, "*")) {
            P->p++;
            e = mk(P, N_STARRED);
            if (!e || !(e->a = bitor_expr(P))) return NULL;
        } else if (!(e = expr(P))) return NULL;
        add_kid(P, t, e);
    }
    return t;
}

struct py_tree {
    lexer L;
    parser P;
};

afm_status afm_py_parse(const char *text, size_t len, py_tree **tree, const node **root) {
    *tree = NULL;
    *root = NULL;
    py_tree *t = calloc(1, sizeof *t);
    if (!t) return afm_error(AFM_ERR_NOMEM, "out of memory parsing Python");
    t->L = (lexer){.s = text, .n = len};
    t->P = (parser){.L = &t->L};
    parser *P = &t->P;
    if (!afm_py_lex(&t->L)) {
        afm_status st = afm_error(AFM_ERR_FORMAT, "Python syntax: %s", t->L.err);
        afm_py_free(t);
        return st;
    }
    bool tuple;
    node *body = star_expr_list(P, &tuple, NULL);
    while (body && cur(P)->kind == T_NEWLINE) P->p++;
    if (body && cur(P)->kind != T_END) fail(P, "unexpected text after the expression");
    if (!body || P->err[0]) {
        afm_status st = afm_error(AFM_ERR_FORMAT, "Python syntax: %s", P->err[0] ? P->err : "invalid syntax");
        afm_py_free(t);
        return st;
    }
    *tree = t;
    *root = body;
    return AFM_OK;
}

void afm_py_free(py_tree *t) {
    if (!t) return;
    for (size_t k = 0; k < t->L.nt; k++) afm_pv_free(t->L.toks[k].val);
    for (size_t j = 0; j < t->P.nall; j++) {
        if (t->P.all[j]->kind == N_CONST) afm_pv_free(t->P.all[j]->val);
        free(t->P.all[j]->kids);
        free(t->P.all[j]);
    }
    free(t->P.all);
    free(t->L.toks);
    free(t);
}
