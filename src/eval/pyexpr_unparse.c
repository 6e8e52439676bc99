/* ast.unparse for the expression tree (pyexpr.h): Python's precedence levels decide the
 * parentheses, constants print as repr. */
#include <string.h>
#include "eval/pyexpr.h"

enum { PR_TUPLE = 1, PR_TEST = 3, PR_OR = 4, PR_AND, PR_NOT, PR_CMP, PR_BOR, PR_BXOR, PR_BAND, PR_SHIFT, PR_ARITH,
       PR_TERM, PR_FACTOR, PR_POWER, PR_AWAIT, PR_ATOM };

static int binop_prec(const char *op) {
    if (!strcmp(op, "|")) return PR_BOR;
    if (!strcmp(op, "^")) return PR_BXOR;
    if (!strcmp(op, "&")) return PR_BAND;
    if (!strcmp(op, "<<") || !strcmp(op, ">>")) return PR_SHIFT;
    if (!strcmp(op, "+") || !strcmp(op, "-")) return PR_ARITH;
    if (!strcmp(op, "**")) return PR_POWER;
    return PR_TERM;
}

static int node_prec(const node *n) {
    switch (n->kind) {
    case N_TUPLE: return PR_ATOM; /* written with parentheses */
    case N_UNARY: return !strcmp(n->id, "not") ? PR_NOT : PR_FACTOR;
    case N_BINOP: return binop_prec(n->id);
    default: return PR_ATOM;
    }
}

static bool unparse(afm_strbuf *b, const node *n, int need);

static bool unparse_paren(afm_strbuf *b, const node *n, int need) {
    bool par = node_prec(n) < need;
    if (par) afm_sb_puts(b, "(");
    if (!unparse(b, n, need)) return false;
    if (par) afm_sb_puts(b, ")");
    return true;
}

static bool unparse(afm_strbuf *b, const node *n, int need) {
    (void)need;
    switch (n->kind) {
    case N_CONST:
        if (n->fstring) return false;
        if (n->val->type == AFM_PV_OTHER) return false;
        afm_pv_repr(b, n->val);
        return true;
    case N_ELLIPSIS: afm_sb_puts(b, "..."); return true;
    case N_NAME: afm_sb_append(b, n->id, n->id_len); return true;
    case N_ATTR:
        if (!unparse_paren(b, n->a, PR_ATOM)) return false;
        afm_sb_puts(b, ".");
        afm_sb_append(b, n->id, n->id_len);
        return true;
    case N_CALL:
        if (!unparse_paren(b, n->a, PR_ATOM)) return false;
        afm_sb_puts(b, "(");
        for (size_t k = 0; k < n->nk; k++) {
            if (k) afm_sb_puts(b, ", ");
            if (!unparse(b, n->kids[k], PR_TEST)) return false;
        }
        afm_sb_puts(b, ")");
        return true;
    case N_KEYWORD:
        if (n->id) { afm_sb_append(b, n->id, n->id_len); afm_sb_puts(b, "="); }
        else afm_sb_puts(b, "**");
        return unparse(b, n->a, PR_TEST);
    case N_STARRED:
        afm_sb_puts(b, "*");
        return unparse_paren(b, n->a, PR_BOR);
    case N_LIST:
    case N_SET:
    case N_TUPLE: {
        if (n->kind == N_SET && n->nk == 0) { afm_sb_puts(b, "{*()}"); return true; }
        afm_sb_puts(b, n->kind == N_LIST ? "[" : n->kind == N_SET ? "{" : "(");
        for (size_t k = 0; k < n->nk; k++) {
            if (k) afm_sb_puts(b, ", ");
            if (!unparse(b, n->kids[k], PR_TEST)) return false;
        }
        if (n->kind == N_TUPLE && n->nk == 1) afm_sb_puts(b, ",");
        afm_sb_puts(b, n->kind == N_LIST ? "]" : n->kind == N_SET ? "}" : ")");
        return true;
    }
    case N_DICT:
        afm_sb_puts(b, "{");
        for (size_t k = 0; k + 1 < n->nk; k += 2) {
            if (k) afm_sb_puts(b, ", ");
            if (!n->kids[k]) { afm_sb_puts(b, "**"); if (!unparse_paren(b, n->kids[k + 1], PR_BOR)) return false; continue; }
            if (!unparse(b, n->kids[k], PR_TEST)) return false;
            afm_sb_puts(b, ": ");
            if (!unparse(b, n->kids[k + 1], PR_TEST)) return false;
        }
        afm_sb_puts(b, "}");
        return true;
    case N_UNARY: {
        bool not = !strcmp(n->id, "not");
        afm_sb_puts(b, n->id);
        if (not) afm_sb_puts(b, " ");
        int p = not ? PR_NOT : PR_FACTOR;
        return unparse_paren(b, n->a, p);
    }
    case N_BINOP: {
        int p = binop_prec(n->id);
        bool right = !strcmp(n->id, "**");
        if (!unparse_paren(b, n->a, right ? p + 1 : p)) return false;
        afm_sb_printf(b, " %s ", n->id);
        return unparse_paren(b, n->b, right ? p : p + 1);
    }
    case N_SUBSCRIPT:
        if (!unparse_paren(b, n->a, PR_ATOM)) return false;
        afm_sb_puts(b, "[");
        if (n->b->kind == N_TUPLE && n->b->nk > 0) {
            for (size_t k = 0; k < n->b->nk; k++) {
                if (k) afm_sb_puts(b, ", ");
                if (!unparse(b, n->b->kids[k], PR_TEST)) return false;
            }
            if (n->b->nk == 1) afm_sb_puts(b, ",");
        } else if (!unparse(b, n->b, PR_TUPLE)) return false;
        afm_sb_puts(b, "]");
        return true;
    case N_SLICE:
        if (n->a && !unparse(b, n->a, PR_TEST)) return false;
        afm_sb_puts(b, ":");
        if (n->b && !unparse(b, n->b, PR_TEST)) return false;
        if (n->c) { afm_sb_puts(b, ":"); if (!unparse(b, n->c, PR_TEST)) return false; }
        return true;
    default: return false; /* comprehensions, lambdas, comparisons ...: not needed by BFCL's paths */
    }
}

bool afm_py_unparse(afm_strbuf *b, const node *n) { return unparse(b, n, PR_TEST); }
