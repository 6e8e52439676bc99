/* BFCL's Java and JavaScript call decoders (model_handler/parser/{java,js}_parser.py), which
 * run tree-sitter on the text inside the response's brackets and read the first call:
 *
 *   Java: the first method_invocation (depth first) -> {"obj.name": {arg: text}}; arguments
 *         `name=value` give value as BFCL's traverse_node text (string and char literals lose
 *         their quotes at the top level; composite expressions are their tokens concatenated
 *         without spaces, "new T(args)" keeps ", " between arguments and drops a class body,
 *         "new T[]{...}" keeps its initializer, method invocations and class literals keep their
 *         source text); bare identifiers / class literals go under the key None. No call -> {}.
 *   JS:   the first expression statement whose child is a call -> {callee: {arg: source text,
 *         quotes stripped}}; bare identifiers and `true` go under None; no such statement ->
 *         None (a non-list, which the format check rejects).
 *   Both: a syntax error anywhere in the text fails the decode, as does an argument name given
 *         twice.
 *
 * This is a recursive-descent parser of the expression subset that calls are written in, not
 * tree-sitter: text tree-sitter accepts only through error recovery is judged by the rule that
 * tree-sitter-java 0.21 follows for the usual case, a last statement without ';' (it inserts the
 * missing ';' when the statement's bytes + 30 per line break exceed 10, and reports an ERROR
 * otherwise); other malformed text is an error here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/bfcl.h"
#include "eval/strbuf.h"

typedef struct jtok { int kind; size_t at, len; } jtok; /* kind: 'i' ident, 'n' number, 's' string, 'c' char, 't' template, 'o' op, 0 end */

typedef struct jp {
    const char *s;
    size_t n;
    bool js;
    jtok *t;
    size_t nt, p;
    char err[160];
    int depth;
    /* the first call found */
    bool found;
    afm_pv *result;
} jp;

typedef struct jx {
    size_t start, end;  /* source span */
    char kind;          /* 's' string literal, 'c' char literal, 'm' method invocation, 'a' assignment, 'i' identifier,
                           'k' class literal, 't' true, 'x' other */
    afm_strbuf text;    /* Java: traverse_node(node, nested=True) */
    size_t lhs_end;     /* assignment: end of the left side */
    size_t rhs_start;   /* assignment: start of the value */
    afm_strbuf rhs_text;
    char rhs_kind;
} jx;

static void jx_free(jx *x) { afm_sb_free(&x->text); afm_sb_free(&x->rhs_text); }

static bool jfail(jp *P, const char *msg) {
    if (!P->err[0]) snprintf(P->err, sizeof P->err, "%s syntax: %s (offset %zu)", P->js ? "JavaScript" : "Java", msg,
                             P->p < P->nt ? P->t[P->p].at : P->n);
    return false;
}

static bool is_id(char c, bool first) {
    unsigned char u = (unsigned char)c;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u == '$' || u >= 0x80 || (!first && u >= '0' && u <= '9');
}

static bool jlex(jp *P) {
    size_t cap = 64;
    P->t = malloc(cap * sizeof *P->t);
    if (!P->t) return jfail(P, "out of memory");
    size_t i = 0;
    const char *s = P->s;
    while (i <= P->n) {
        if (P->nt + 1 >= cap) {
            jtok *nt = realloc(P->t, 2 * cap * sizeof *nt);
            if (!nt) return jfail(P, "out of memory");
            P->t = nt;
            cap *= 2;
        }
        if (i == P->n) { P->t[P->nt++] = (jtok){0, i, 0}; break; }
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') { i++; continue; }
        if (c == '/' && i + 1 < P->n && s[i + 1] == '/') { while (i < P->n && s[i] != '\n') i++; continue; }
        if (c == '/' && i + 1 < P->n && s[i + 1] == '*') {
            const char *e = NULL;
            for (size_t k = i + 2; k + 1 < P->n; k++) if (s[k] == '*' && s[k + 1] == '/') { e = s + k; break; }
            if (!e) return jfail(P, "unterminated comment");
            i = (size_t)(e - s) + 2;
            continue;
        }
        size_t st = i;
        if (is_id(c, true)) {
            while (i < P->n && is_id(s[i], false)) i++;
            P->t[P->nt++] = (jtok){'i', st, i - st};
        } else if ((c >= '0' && c <= '9') || (c == '.' && i + 1 < P->n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
            bool dot = false;
            while (i < P->n && (is_id(s[i], false) || (s[i] == '.' && !dot && (dot = true)) ||
                                ((s[i] == '+' || s[i] == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E') && !(s[st] == '0' && (s[st + 1] == 'x' || s[st + 1] == 'X')))))
                i++;
            P->t[P->nt++] = (jtok){'n', st, i - st};
        } else if (c == '"' || c == '\'' || (c == '`' && P->js)) {
            i++;
            int brace = 0;
            while (i < P->n && (s[i] != c || brace > 0)) {
                if (s[i] == '\\') i++;
                else if (c != '`' && s[i] == '\n') return jfail(P, "unterminated string");
                else if (c == '`' && s[i] == '$' && i + 1 < P->n && s[i + 1] == '{') { brace++; i++; }
                else if (c == '`' && brace > 0 && s[i] == '}') brace--;
                i++;
            }
            if (i >= P->n) return jfail(P, "unterminated string");
            i++;
            int kind = c == '"' ? 's' : c == '`' ? 't' : P->js ? 's' : 'c';
            if (kind == 'c' && i - st < 3) return jfail(P, "empty character literal");
            P->t[P->nt++] = (jtok){kind, st, i - st};
        } else {
            static const char *const ops[] = {">>>=", "===", "!==", "**=", "...", ">>>", "<<=", ">>=", "&&=", "||=", "?\?=",
                                              "=>", "->", "::", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--",
                                              "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", "**", NULL};
            size_t l = 0;
            for (int k = 0; ops[k] && !l; k++) {
                size_t ol = strlen(ops[k]);
                if (P->n - i >= ol && !memcmp(s + i, ops[k], ol)) l = ol;
            }
            if (!l && strchr("()[]{},;:.?=+-*/%<>!~&|^@#", c)) l = 1;
            if (!l) { P->p = P->nt; return jfail(P, "invalid character"); }
            /* ">>" is lexed as two ">" so that generic types close; shift expressions still parse */
            P->t[P->nt++] = (jtok){'o', st, l};
            i += l;
        }
    }
    return true;
}

static const jtok *cur(jp *P) { return &P->t[P->p]; }
static bool op(jp *P, const char *o) {
    const jtok *t = cur(P);
    return t->kind == 'o' && t->len == strlen(o) && !memcmp(P->s + t->at, o, t->len);
}
static bool op_at(jp *P, size_t k, const char *o) {
    if (k >= P->nt) return false;
    const jtok *t = &P->t[k];
    return t->kind == 'o' && t->len == strlen(o) && !memcmp(P->s + t->at, o, t->len);
}
static bool word(jp *P, const char *w) {
    const jtok *t = cur(P);
    return t->kind == 'i' && t->len == strlen(w) && !memcmp(P->s + t->at, w, t->len);
}
static size_t prev_end(jp *P) { return P->p ? P->t[P->p - 1].at + P->t[P->p - 1].len : 0; }
static void put_tok(jp *P, afm_strbuf *b) { afm_sb_append(b, P->s + cur(P)->at, cur(P)->len); }

static bool expr(jp *P, jx *x);
static bool assign_expr(jp *P, jx *x);

/* Java type: name(.name)* (<args>)? ([])* ; text concatenated */
static bool java_type(jp *P, afm_strbuf *b) {
    if (cur(P)->kind != 'i') return jfail(P, "type name");
    put_tok(P, b);
    P->p++;
    for (;;) {
        if (op(P, ".") && P->t[P->p + 1].kind == 'i') { afm_sb_puts(b, "."); P->p++; put_tok(P, b); P->p++; continue; }
        if (op(P, "<")) {
            afm_sb_puts(b, "<");
            P->p++;
            while (!op(P, ">")) {
                if (op(P, "?")) { afm_sb_puts(b, "?"); P->p++; if (word(P, "extends") || word(P, "super")) { put_tok(P, b); P->p++; } else continue; }
                if (!java_type(P, b)) return false;
                if (op(P, ",")) { afm_sb_puts(b, ","); P->p++; continue; }
                if (!op(P, ">")) return jfail(P, "'>' expected");
            }
            afm_sb_puts(b, ">");
            P->p++;
            continue;
        }
        break;
    }
    return true;
}

/* skips a balanced { ... } block (class bodies, function bodies): its text is not used */
static bool skip_block(jp *P) {
    int d = 0;
    do {
        if (cur(P)->kind == 0) return jfail(P, "'}' expected");
        if (op(P, "{")) d++;
        else if (op(P, "}")) d--;
        P->p++;
    } while (d > 0);
    return true;
}

/* argument list after "(" : each argument is an assignment expression; records BFCL's map */
static bool arguments(jp *P, jx *x, afm_pv **args_out) {
    afm_pv *args = args_out ? afm_pv_list(AFM_PV_DICT) : NULL;
    bool first = true, ok = true;
    afm_sb_puts(&x->text, "(");
    while (ok && !op(P, ")")) {
        if (!first) {
            if (!op(P, ",")) { ok = jfail(P, "',' or ')' expected"); break; }
            P->p++;
            if (op(P, ")") && !P->js) { ok = jfail(P, "trailing ','"); break; }
            if (op(P, ")")) break;
        }
        first = false;
        if (P->js && op(P, "...")) P->p++;
        jx a;
        memset(&a, 0, sizeof a);
        ok = assign_expr(P, &a);
        if (ok) afm_sb_append(&x->text, a.text.s ? a.text.s : "", a.text.n);
        if (ok && args) {
            afm_pv *key = NULL, *val = NULL;
            if (a.kind == 'a') {
                key = afm_pv_str(P->s + a.start, a.lhs_end - a.start);
                if (P->js) {
                    const char *v = P->s + a.rhs_start;
                    size_t vl = a.end - a.rhs_start;
                    if (vl >= 2 && ((v[0] == '"' && v[vl - 1] == '"') || (v[0] == '\'' && v[vl - 1] == '\''))) { v++; vl -= 2; }
                    val = afm_pv_str(v, vl);
                } else if (a.rhs_kind == 's' || a.rhs_kind == 'c') {
                    val = afm_pv_str(a.rhs_text.s + 1, a.rhs_text.n - 2);
                } else {
                    val = afm_pv_str(a.rhs_text.s ? a.rhs_text.s : "", a.rhs_text.n);
                }
            } else if (a.kind == 'i' || (P->js ? a.kind == 't' : a.kind == 'k')) {
                key = afm_pv_none();
                val = afm_pv_str(P->s + a.start, a.end - a.start);
            }
            if (key) {
                if (afm_pv_dict_find(args, key) >= 0) { afm_pv_free(key); afm_pv_free(val); ok = jfail(P, "Multiple arguments with the same name are not supported"); }
                else if (afm_pv_dict_set(args, key, val) != AFM_OK) ok = jfail(P, "out of memory");
            }
        }
        jx_free(&a);
    }
    if (ok && !op(P, ")")) ok = jfail(P, "')' expected");
    if (ok) { P->p++; afm_sb_puts(&x->text, ")"); }
    if (!ok) { afm_pv_free(args); args = NULL; }
    if (args_out) *args_out = args;
    return ok;
}

/* "(args)" of a method invocation at callee span [start, callee_end) */
static bool invocation(jp *P, jx *x, size_t start, size_t callee_end) {
    bool record = !P->found;
    if (record) P->found = true; /* depth first: the outer call is found before its arguments */
    afm_pv *args = NULL;
    P->p++; /* ( */
    jx inner;
    memset(&inner, 0, sizeof inner);
    bool ok = arguments(P, &inner, record ? &args : NULL);
    jx_free(&inner);
    if (!ok) return false;
    if (record) {
        afm_pv *call = afm_pv_list(AFM_PV_DICT), *list = afm_pv_list(AFM_PV_LIST);
        if (!call || !list || afm_pv_dict_set(call, afm_pv_str(P->s + start, callee_end - start), args) != AFM_OK ||
            afm_pv_push(list, call) != AFM_OK) {
            afm_pv_free(list);
            return jfail(P, "out of memory");
        }
        P->result = list;
    }
    x->end = prev_end(P);
    x->kind = 'm';
    afm_sb_free(&x->text);
    afm_sb_append(&x->text, P->s + start, x->end - start);
    return true;
}

static bool primary(jp *P, jx *x) {
    const jtok *t = cur(P);
    x->start = t->at;
    x->kind = 'x';
    if (++P->depth > 200) return jfail(P, "too deeply nested");
    bool ok = true;
    if (t->kind == 'n' || t->kind == 's' || t->kind == 'c' || t->kind == 't') {
        x->kind = t->kind == 's' ? 's' : t->kind == 'c' ? 'c' : 'x';
        put_tok(P, &x->text);
        P->p++;
    } else if (word(P, "new")) {
        P->p++;
        afm_strbuf type;
        afm_sb_init(&type);
        ok = java_type(P, &type);
        if (ok && op(P, "[")) {
            /* array creation: new T[]...{init} (Java) */
            bool sized = false;
            while (ok && op(P, "[")) {
                P->p++;
                if (!op(P, "]")) { jx d; memset(&d, 0, sizeof d); ok = expr(P, &d); jx_free(&d); sized = true; }
                if (ok && !op(P, "]")) ok = jfail(P, "']' expected");
                P->p++;
            }
            if (ok && op(P, "{")) {
                afm_sb_printf(&x->text, "new %s[]", type.s ? type.s : "");
                /* array_initializer: "{" + elements joined by "," + "}" */
                int d = 0;
                do {
                    if (cur(P)->kind == 0) { ok = jfail(P, "'}' expected"); break; }
                    if (op(P, "{")) d++;
                    else if (op(P, "}")) d--;
                    if (cur(P)->kind == 's' || cur(P)->kind == 'c' || cur(P)->kind == 'n' || cur(P)->kind == 'i' || cur(P)->kind == 'o') put_tok(P, &x->text);
                    P->p++;
                } while (d > 0);
            } else if (ok && sized) {
                ok = jfail(P, "array creation without initializer has no value (BFCL fails on it)");
            } else if (ok) ok = jfail(P, "array initializer expected");
        } else if (ok && op(P, "(")) {
            P->p++;
            jx args;
            memset(&args, 0, sizeof args);
            /* arguments joined by ", " (BFCL's object_creation_expression text) */
            afm_sb_printf(&x->text, "new %s(", type.s ? type.s : "");
            bool first = true;
            while (ok && !op(P, ")")) {
                if (!first) { if (!op(P, ",")) { ok = jfail(P, "',' expected"); break; } P->p++; }
                first = false;
                jx a;
                memset(&a, 0, sizeof a);
                ok = assign_expr(P, &a);
                if (ok) {
                    if (args.text.n) afm_sb_puts(&x->text, ", ");
                    afm_sb_append(&x->text, a.text.s ? a.text.s : "", a.text.n);
                    afm_sb_puts(&args.text, "x");
                }
                jx_free(&a);
            }
            jx_free(&args);
            if (ok) { P->p++; afm_sb_puts(&x->text, ")"); }
            if (ok && op(P, "{")) ok = skip_block(P); /* anonymous class body: dropped by BFCL */
        } else if (ok && P->js) {
            afm_sb_printf(&x->text, "new %s", type.s ? type.s : "");
        } else if (ok) ok = jfail(P, "'(' or '[' expected after new");
        afm_sb_free(&type);
    } else if (t->kind == 'i') {
        x->kind = word(P, "true") ? 't' : 'i';
        /* arrow function x => ... (JS) / lambda x -> ... (Java) */
        if (op_at(P, P->p + 1, P->js ? "=>" : "->")) {
            put_tok(P, &x->text);
            P->p++;
            put_tok(P, &x->text);
            P->p++;
            x->kind = 'x';
            if (op(P, "{")) ok = skip_block(P);
            else { jx b; memset(&b, 0, sizeof b); ok = assign_expr(P, &b); if (ok) afm_sb_append(&x->text, b.text.s ? b.text.s : "", b.text.n); jx_free(&b); }
        } else if (P->js && word(P, "function")) {
            P->p++;
            if (cur(P)->kind == 'i') P->p++;
            if (!op(P, "(")) ok = jfail(P, "'(' expected");
            else { int d = 0; do { if (!cur(P)->kind) { ok = jfail(P, "')' expected"); break; } if (op(P, "(")) d++; else if (op(P, ")")) d--; P->p++; } while (d > 0); }
            if (ok && op(P, "{")) ok = skip_block(P);
            else if (ok) ok = jfail(P, "function body expected");
            x->kind = 'x';
        } else {
            put_tok(P, &x->text);
            P->p++;
        }
    } else if (op(P, "(")) {
        /* parenthesized expression, arrow parameters (JS) or a cast (Java) */
        size_t save = P->p;
        int d = 0;
        do { if (!cur(P)->kind) return jfail(P, "')' expected"); if (op(P, "(")) d++; else if (op(P, ")")) d--; P->p++; } while (d > 0);
        if (op(P, P->js ? "=>" : "->")) {
            for (size_t k = save; k < P->p; k++) afm_sb_append(&x->text, P->s + P->t[k].at, P->t[k].len);
            put_tok(P, &x->text);
            P->p++;
            x->kind = 'x';
            if (op(P, "{")) ok = skip_block(P);
            else { jx b; memset(&b, 0, sizeof b); ok = assign_expr(P, &b); if (ok) afm_sb_append(&x->text, b.text.s ? b.text.s : "", b.text.n); jx_free(&b); }
        } else {
            P->p = save + 1;
            jx in;
            memset(&in, 0, sizeof in);
            ok = expr(P, &in);
            if (ok && !op(P, ")")) ok = jfail(P, "')' expected");
            if (ok) {
                P->p++;
                afm_sb_puts(&x->text, "(");
                afm_sb_append(&x->text, in.text.s ? in.text.s : "", in.text.n);
                afm_sb_puts(&x->text, ")");
                /* Java cast: (Type) operand */
                if (!P->js && (in.kind == 'i' || in.kind == 'x') && (cur(P)->kind == 'i' || cur(P)->kind == 'n' || cur(P)->kind == 's' || op(P, "("))) {
                    jx o;
                    memset(&o, 0, sizeof o);
                    ok = primary(P, &o);
                    if (ok) afm_sb_append(&x->text, o.text.s ? o.text.s : "", o.text.n);
                    jx_free(&o);
                }
            }
            jx_free(&in);
        }
    } else if (P->js && op(P, "[")) {
        P->p++;
        afm_sb_puts(&x->text, "[");
        while (ok && !op(P, "]")) {
            if (op(P, ",")) { P->p++; continue; }
            if (op(P, "...")) P->p++;
            jx e;
            memset(&e, 0, sizeof e);
            ok = assign_expr(P, &e);
            jx_free(&e);
            if (ok && !op(P, ",") && !op(P, "]")) ok = jfail(P, "',' or ']' expected");
        }
        if (ok) P->p++;
    } else if (P->js && op(P, "{")) {
        /* object literal: key: value, "key": value, [expr]: value, shorthand, ...spread */
        P->p++;
        while (ok && !op(P, "}")) {
            if (op(P, "...")) { P->p++; jx e; memset(&e, 0, sizeof e); ok = assign_expr(P, &e); jx_free(&e); }
            else {
                if (op(P, "[")) { P->p++; jx e; memset(&e, 0, sizeof e); ok = assign_expr(P, &e); jx_free(&e); if (ok && !op(P, "]")) ok = jfail(P, "']' expected"); P->p++; }
                else if (cur(P)->kind == 'i' || cur(P)->kind == 's' || cur(P)->kind == 'n') P->p++;
                else ok = jfail(P, "property name expected");
                if (ok && op(P, ":")) { P->p++; jx e; memset(&e, 0, sizeof e); ok = assign_expr(P, &e); jx_free(&e); }
                else if (ok && op(P, "(")) { int d = 0; do { if (!cur(P)->kind) { ok = jfail(P, "')' expected"); break; } if (op(P, "(")) d++; else if (op(P, ")")) d--; P->p++; } while (d > 0); if (ok) ok = op(P, "{") ? skip_block(P) : jfail(P, "method body expected"); }
            }
            if (ok && op(P, ",")) P->p++;
            else if (ok && !op(P, "}")) ok = jfail(P, "',' or '}' expected");
        }
        if (ok) P->p++;
    } else {
        ok = jfail(P, cur(P)->kind ? "unexpected token" : "unexpected end");
    }
    P->depth--;
    x->end = prev_end(P);
    if (x->kind == 'x' && !P->js) { /* nothing */ }
    return ok;
}

static bool postfix(jp *P, jx *x) {
    if (!primary(P, x)) return false;
    for (;;) {
        if (op(P, "(")) {
            if (!invocation(P, x, x->start, prev_end(P))) return false;
        } else if (op(P, ".") || (P->js && op(P, "?."))) {
            put_tok(P, &x->text);
            P->p++;
            if (!P->js && word(P, "class")) { P->p++; x->kind = 'k'; x->end = prev_end(P); afm_sb_free(&x->text); afm_sb_append(&x->text, P->s + x->start, x->end - x->start); continue; }
            if (!P->js && op(P, "<")) { afm_strbuf g; afm_sb_init(&g); P->p++; while (!op(P, ">") && cur(P)->kind) P->p++; P->p++; afm_sb_free(&g); }
            if (cur(P)->kind != 'i') return jfail(P, "member name expected");
            put_tok(P, &x->text);
            P->p++;
            x->kind = 'x';
        } else if (op(P, "[")) {
            afm_sb_puts(&x->text, "[");
            P->p++;
            jx i;
            memset(&i, 0, sizeof i);
            bool ok = expr(P, &i);
            if (ok) afm_sb_append(&x->text, i.text.s ? i.text.s : "", i.text.n);
            jx_free(&i);
            if (!ok) return false;
            if (!op(P, "]")) return jfail(P, "']' expected");
            afm_sb_puts(&x->text, "]");
            P->p++;
            x->kind = 'x';
        } else if (op(P, "++") || op(P, "--") || (!P->js && op(P, "::"))) {
            bool mref = op(P, "::");
            put_tok(P, &x->text);
            P->p++;
            if (mref) { if (cur(P)->kind != 'i') return jfail(P, "method name expected"); put_tok(P, &x->text); P->p++; }
            x->kind = 'x';
        } else if (P->js && cur(P)->kind == 't') {
            put_tok(P, &x->text);
            P->p++;
            x->kind = 'x';
        } else break;
        x->end = prev_end(P);
    }
    return true;
}

static bool unary(jp *P, jx *x) {
    static const char *const pre[] = {"-", "+", "!", "~", "++", "--", NULL};
    static const char *const words[] = {"typeof", "void", "delete", "await", NULL};
    for (int k = 0; pre[k]; k++)
        if (op(P, pre[k])) {
            x->start = cur(P)->at;
            put_tok(P, &x->text);
            P->p++;
            jx o;
            memset(&o, 0, sizeof o);
            if (++P->depth > 200) return jfail(P, "too deeply nested");
            bool ok = unary(P, &o);
            P->depth--;
            if (ok) afm_sb_append(&x->text, o.text.s ? o.text.s : "", o.text.n);
            jx_free(&o);
            x->kind = 'x';
            x->end = prev_end(P);
            return ok;
        }
    for (int k = 0; P->js && words[k]; k++)
        if (word(P, words[k])) {
            x->start = cur(P)->at;
            P->p++;
            jx o;
            memset(&o, 0, sizeof o);
            bool ok = unary(P, &o);
            jx_free(&o);
            x->kind = 'x';
            x->end = prev_end(P);
            return ok;
        }
    return postfix(P, x);
}

static bool is_binop(jp *P) {
    static const char *const ops[] = {"||", "&&", "|", "^", "&", "==", "!=", "===", "!==", "<", ">", "<=", ">=", "<<",
                                      ">>>", "+", "-", "*", "/", "%", "**", "??", NULL};
    for (int k = 0; ops[k]; k++) if (op(P, ops[k])) return true;
    if (op(P, ">") && op_at(P, P->p + 1, ">")) return true;
    return word(P, "instanceof") || (P->js && word(P, "in"));
}

/* binary operators (precedence does not change the text BFCL keeps, so they are read flat) */
static bool binary(jp *P, jx *x) {
    if (!unary(P, x)) return false;
    while (is_binop(P)) {
        bool inst = word(P, "instanceof");
        put_tok(P, &x->text);
        P->p++;
        jx r;
        memset(&r, 0, sizeof r);
        bool ok = inst && !P->js ? (afm_sb_init(&r.text), java_type(P, &r.text)) : unary(P, &r);
        if (ok) afm_sb_append(&x->text, r.text.s ? r.text.s : "", r.text.n);
        jx_free(&r);
        if (!ok) return false;
        x->kind = 'x';
        x->end = prev_end(P);
    }
    return true;
}

static bool ternary(jp *P, jx *x) {
    if (!binary(P, x)) return false;
    if (!op(P, "?")) return true;
    afm_sb_puts(&x->text, "?");
    P->p++;
    jx a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    bool ok = assign_expr(P, &a);
    if (ok && !op(P, ":")) ok = jfail(P, "':' expected");
    if (ok) { P->p++; ok = assign_expr(P, &b); }
    if (ok) {
        afm_sb_append(&x->text, a.text.s ? a.text.s : "", a.text.n);
        afm_sb_puts(&x->text, ":");
        afm_sb_append(&x->text, b.text.s ? b.text.s : "", b.text.n);
    }
    jx_free(&a);
    jx_free(&b);
    x->kind = 'x';
    x->end = prev_end(P);
    return ok;
}

static bool assign_expr(jp *P, jx *x) {
    if (!ternary(P, x)) return false;
    static const char *const ops[] = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", ">>>=", "**=",
                                      "&&=", "||=", "?\?=", NULL};
    const char *o = NULL;
    for (int k = 0; ops[k]; k++) if (op(P, ops[k])) o = ops[k];
    if (!o) return true;
    if (x->kind != 'i' && x->kind != 'x' && x->kind != 't') return jfail(P, "invalid assignment target");
    x->lhs_end = x->end;
    afm_sb_puts(&x->text, o);
    P->p++;
    jx r;
    memset(&r, 0, sizeof r);
    if (!assign_expr(P, &r)) { jx_free(&r); return false; }
    x->rhs_start = r.start;
    x->rhs_kind = r.kind;
    afm_sb_append(&x->rhs_text, r.text.s ? r.text.s : "", r.text.n);
    afm_sb_append(&x->text, r.text.s ? r.text.s : "", r.text.n);
    x->end = r.end;
    x->kind = 'a';
    jx_free(&r);
    return true;
}

static bool expr(jp *P, jx *x) {
    if (!assign_expr(P, x)) return false;
    while (P->js && op(P, ",") && P->depth == 0) {
        P->p++;
        jx r;
        memset(&r, 0, sizeof r);
        bool ok = assign_expr(P, &r);
        jx_free(&r);
        if (!ok) return false;
        x->kind = 'x';
        x->end = prev_end(P);
    }
    return true;
}

static afm_status parse(const char *text, size_t len, bool js, afm_pv **calls) {
    *calls = NULL;
    jp P = {.s = text, .n = len, .js = js};
    bool ok = jlex(&P);
    afm_pv *js_result = NULL;
    bool js_done = false;
    while (ok && cur(&P)->kind) {
        if (op(&P, ";")) { P.p++; continue; }
        /* a label "name:" before a statement; in JavaScript a labeled statement is not an
         * expression statement, so its call does not count */
        bool labeled = false;
        while (cur(&P)->kind == 'i' && op_at(&P, P.p + 1, ":")) { P.p += 2; labeled = true; }
        size_t stmt_start = cur(&P)->at;
        bool found_before = P.found;
        jx x;
        memset(&x, 0, sizeof x);
        ok = expr(&P, &x);
        bool is_call = ok && x.kind == 'm' && P.found && !found_before && !labeled;
        jx_free(&x);
        if (!ok) break;
        if (js && !js_done) {
            /* the first expression statement that is a call */
            if (is_call) { js_result = P.result; P.result = NULL; js_done = true; }
            else if (P.result) { afm_pv_free(P.result); P.result = NULL; P.found = false; }
        }
        if (op(&P, ";")) { P.p++; continue; }
        if (!cur(&P)->kind) {
            if (!js) {
                /* tree-sitter-java: a missing ';' is inserted when skipping the statement would cost more */
                size_t stmt_end = prev_end(&P), lines = 0;
                for (size_t k = stmt_start; k < stmt_end; k++) lines += text[k] == '\n';
                if ((stmt_end - stmt_start) + 30 * lines <= 10) ok = jfail(&P, "missing ';' (tree-sitter reports an ERROR for a statement this short)");
            }
            break;
        }
        /* JavaScript: automatic semicolon insertion at a line break */
        if (js && P.p > 0 && memchr(text + prev_end(&P), '\n', cur(&P)->at - prev_end(&P))) continue;
        ok = jfail(&P, "';' expected");
    }
    afm_status st = AFM_OK;
    if (!ok) {
        st = afm_error(AFM_ERR_FORMAT, "%s", P.err);
        afm_pv_free(js_result);
        afm_pv_free(P.result);
    } else if (js) {
        afm_pv_free(P.result);
        *calls = js_result ? js_result : afm_pv_none();
    } else {
        *calls = P.result ? P.result : afm_pv_list(AFM_PV_DICT);
    }
    free(P.t);
    if (st == AFM_OK && !*calls) st = afm_error(AFM_ERR_NOMEM, "decoded call");
    return st;
}

afm_status afm_bfcl_parse_java(const char *text, size_t len, afm_pv **calls) { return parse(text, len, false, calls); }
afm_status afm_bfcl_parse_javascript(const char *text, size_t len, afm_pv **calls) { return parse(text, len, true, calls); }
