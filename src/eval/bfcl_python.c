/* BFCL's Python decoder: ast.parse(text, mode="eval") of a call list and BFCL's
 * resolve_ast_call / resolve_ast_by_type over it (model_handler/utils.py).
 *
 * The parser covers Python's expression grammar: literals (str with prefixes, escapes,
 * implicit concatenation; bytes; int in every base with "_"; float; imaginary), names, calls
 * (positional, keyword, *args, **kwargs), attributes, subscripts and slices, list / tuple /
 * dict / set displays and comprehensions, unary / binary / comparison / boolean operators,
 * conditional expressions, lambda and walrus. Text outside it is a syntax error, as in Python.
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
#include "eval/text.h"
#include "tokenizer/unicode.h"

/* ---------------------------------------------------------------- tokens */

typedef enum { T_END, T_NAME, T_NUMBER, T_STRING, T_OP, T_NEWLINE } tok_kind;

typedef struct tok {
    tok_kind kind;
    size_t at, len;     /* source span */
    afm_pv *val;        /* NUMBER, STRING: the constant (STRING: str or bytes-as-OTHER) */
    bool fstring;       /* STRING with an f prefix */
    bool bytes;
} tok;

typedef struct lexer {
    const char *s;
    size_t n, i;
    int depth;          /* bracket nesting: newlines inside brackets are whitespace */
    tok *toks;
    size_t nt, cap;
    char err[160];
} lexer;

static const char *const k_keywords[] = {"False", "None", "True", "and", "as", "assert", "async", "await",
                                         "break", "class", "continue", "def", "del", "elif", "else", "except",
                                         "finally", "for", "from", "global", "if", "import", "in", "is",
                                         "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
                                         "while", "with", "yield", NULL};

static bool ident_start(const char *s, size_t n, size_t *len) {
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) { *len = 1; return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
    uint32_t cp;
    int l = afm_utf8_next((const unsigned char *)s, n, &cp);
    *len = (size_t)l;
    return cp != 0xFFFFFFFFu && afm_uc_class(cp) == AFM_UC_LETTER;
}
static bool ident_cont(const char *s, size_t n, size_t *len) {
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) { *len = 1; return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9'); }
    uint32_t cp;
    int l = afm_utf8_next((const unsigned char *)s, n, &cp);
    *len = (size_t)l;
    return cp != 0xFFFFFFFFu && (afm_uc_class(cp) == AFM_UC_LETTER || afm_uc_class(cp) == AFM_UC_NUMBER);
}

static bool lex_push(lexer *L, tok t) {
    if (L->nt == L->cap) {
        size_t nc = L->cap ? 2 * L->cap : 64;
        tok *p = realloc(L->toks, nc * sizeof *p);
        if (!p) { afm_pv_free(t.val); snprintf(L->err, sizeof L->err, "out of memory"); return false; }
        L->toks = p;
        L->cap = nc;
    }
    L->toks[L->nt++] = t;
    return true;
}

static bool lex_fail(lexer *L, const char *msg) {
    snprintf(L->err, sizeof L->err, "%s (offset %zu)", msg, L->i);
    return false;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* body of a string literal (between the quotes) with Python's escapes */
static bool unescape(lexer *L, const char *s, size_t n, bool raw, bool bytes, afm_strbuf *b) {
    for (size_t k = 0; k < n;) {
        if (s[k] != '\\' || raw) {
            if (raw && s[k] == '\\' && k + 1 < n) { afm_sb_append(b, s + k, 2); k += 2; continue; }
            afm_sb_append(b, s + k, 1);
            k++;
            continue;
        }
        if (k + 1 >= n) return lex_fail(L, "bad escape at end of string");
        char e = s[k + 1];
        k += 2;
        char u[4];
        switch (e) {
        case '\n': break;
        case '\\': afm_sb_puts(b, "\\"); break;
        case '\'': afm_sb_puts(b, "'"); break;
        case '"': afm_sb_puts(b, "\""); break;
        case 'a': afm_sb_puts(b, "\a"); break;
        case 'b': afm_sb_puts(b, "\b"); break;
        case 'f': afm_sb_puts(b, "\f"); break;
        case 'n': afm_sb_puts(b, "\n"); break;
        case 'r': afm_sb_puts(b, "\r"); break;
        case 't': afm_sb_puts(b, "\t"); break;
        case 'v': afm_sb_puts(b, "\v"); break;
        case 'x': {
            int h1 = k < n ? hexval(s[k]) : -1, h2 = k + 1 < n ? hexval(s[k + 1]) : -1;
            if (h1 < 0 || h2 < 0) return lex_fail(L, "truncated \\xXX escape");
            uint32_t cp = (uint32_t)(h1 * 16 + h2);
            k += 2;
            if (bytes) { char c = (char)cp; afm_sb_append(b, &c, 1); }
            else afm_sb_append(b, u, afm_u8_encode(cp, u));
            break;
        }
        case 'u':
        case 'U': {
            if (bytes) { afm_sb_append(b, s + k - 2, 2); break; }
            int nd = e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int d = 0; d < nd; d++) {
                int h = k + (size_t)d < n ? hexval(s[k + (size_t)d]) : -1;
                if (h < 0) return lex_fail(L, "truncated \\u escape");
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) return lex_fail(L, "illegal Unicode character");
            k += (size_t)nd;
            afm_sb_append(b, u, afm_u8_encode(cp, u));
            break;
        }
        case 'N':
            if (bytes) { afm_sb_append(b, s + k - 2, 2); break; }
            return lex_fail(L, "\\N{...} escapes are not supported");
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = (uint32_t)(e - '0');
                for (int d = 0; d < 2 && k < n && s[k] >= '0' && s[k] <= '7'; d++) cp = cp * 8 + (uint32_t)(s[k++] - '0');
                if (bytes) { char c = (char)cp; afm_sb_append(b, &c, 1); }
                else afm_sb_append(b, u, afm_u8_encode(cp, u));
            } else {
                afm_sb_append(b, s + k - 2, 2); /* unknown escape: kept (a warning in Python) */
            }
        }
    }
    return true;
}

static bool lex_string(lexer *L, size_t start, size_t prefix_len) {
    bool raw = false, bytes = false, fstr = false;
    for (size_t k = start; k < start + prefix_len; k++) {
        char c = L->s[k];
        if (c == 'r' || c == 'R') raw = true;
        else if (c == 'b' || c == 'B') bytes = true;
        else if (c == 'f' || c == 'F') fstr = true;
    }
    size_t q = start + prefix_len;
    char qc = L->s[q];
    bool triple = q + 2 < L->n && L->s[q + 1] == qc && L->s[q + 2] == qc;
    size_t body = q + (triple ? 3 : 1), k = body;
    for (;;) {
        if (k >= L->n) { L->i = start; return lex_fail(L, "unterminated string literal"); }
        char c = L->s[k];
        if (c == '\\') { k += 2; continue; }
        if (!triple && c == '\n') { L->i = start; return lex_fail(L, "unterminated string literal"); }
        if (c == qc && (!triple || (k + 2 < L->n && L->s[k + 1] == qc && L->s[k + 2] == qc))) break;
        k++;
    }
    if (k > L->n) { L->i = start; return lex_fail(L, "unterminated string literal"); }
    afm_strbuf b;
    afm_sb_init(&b);
    if (!unescape(L, L->s + body, k - body, raw, bytes, &b)) { afm_sb_free(&b); return false; }
    size_t end = k + (triple ? 3 : 1);
    tok t = {.kind = T_STRING, .at = start, .len = end - start, .fstring = fstr, .bytes = bytes};
    t.val = bytes ? afm_pv_other("bytes") : afm_pv_str(b.s ? b.s : "", b.n);
    afm_sb_free(&b);
    if (!t.val) return lex_fail(L, "out of memory");
    L->i = end;
    return lex_push(L, t);
}

static bool digits_ok(const char *s, size_t n, int base) {
    if (n == 0 || s[0] == '_' || s[n - 1] == '_') return false;
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '_') { if (s[k + 1] == '_') return false; continue; }
        int h = hexval(s[k]);
        if (h < 0 || h >= base) return false;
    }
    return true;
}

static bool lex_number(lexer *L) {
    const char *s = L->s;
    size_t st = L->i, k = st, n = L->n;
    bool is_float = false, imag = false;
    int base = 10;
    if (s[k] == '0' && k + 1 < n && strchr("xXoObB", s[k + 1]) && s[k + 1]) {
        base = (s[k + 1] == 'x' || s[k + 1] == 'X') ? 16 : (s[k + 1] == 'o' || s[k + 1] == 'O') ? 8 : 2;
        k += 2;
        if (k < n && s[k] == '_') k++;
        size_t d0 = k;
        while (k < n && (hexval(s[k]) >= 0 || s[k] == '_')) k++;
        if (!digits_ok(s + d0, k - d0, base)) { L->i = st; return lex_fail(L, "invalid number literal"); }
    } else {
        while (k < n && ((s[k] >= '0' && s[k] <= '9') || s[k] == '_')) k++;
        if (k < n && s[k] == '.') { is_float = true; k++; while (k < n && ((s[k] >= '0' && s[k] <= '9') || s[k] == '_')) k++; }
        if (k < n && (s[k] == 'e' || s[k] == 'E')) {
            size_t e = k + 1;
            if (e < n && (s[e] == '+' || s[e] == '-')) e++;
            if (e < n && s[e] >= '0' && s[e] <= '9') {
                is_float = true;
                k = e;
                while (k < n && ((s[k] >= '0' && s[k] <= '9') || s[k] == '_')) k++;
            } else { L->i = st; return lex_fail(L, "invalid decimal literal"); }
        }
        if (k < n && (s[k] == 'j' || s[k] == 'J')) { imag = true; k++; }
    }
    size_t l;
    if (k < n && ident_cont(s + k, n - k, &l)) { L->i = k; return lex_fail(L, "invalid decimal literal"); }
    /* text without underscores */
    char buf[512];
    size_t bl = 0;
    for (size_t j = st; j < k && bl < sizeof buf - 1; j++) if (s[j] != '_') buf[bl++] = s[j];
    buf[bl] = '\0';
    tok t = {.kind = T_NUMBER, .at = st, .len = k - st};
    if (imag) t.val = afm_pv_other("complex");
    else if (is_float) t.val = afm_pv_float(strtod(buf, NULL));
    else if (base != 10) {
        errno = 0;
        unsigned long long v = strtoull(buf + 2, NULL, base);
        t.val = (errno == ERANGE || v > INT64_MAX) ? afm_pv_big((double)v) : afm_pv_int((int64_t)v);
    } else {
        /* "0777" is an error; "000" is 0 */
        if (buf[0] == '0') for (size_t j = 1; j < bl; j++) if (buf[j] != '0') { L->i = st; return lex_fail(L, "leading zeros in decimal integer literals are not permitted"); }
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        t.val = errno == ERANGE ? afm_pv_big(strtod(buf, NULL)) : afm_pv_int(v);
    }
    if (!t.val) return lex_fail(L, "out of memory");
    L->i = k;
    return lex_push(L, t);
}

static const char *const k_ops3[] = {"**=", "//=", ">>=", "<<=", "...", NULL};
static const char *const k_ops2[] = {"**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":=", "+=", "-=", "*=", "/=",
                                     "%=", "&=", "|=", "^=", "@=", NULL};

static bool lex(lexer *L) {
    const char *s = L->s;
    while (L->i < L->n) {
        char c = s[L->i];
        if (c == ' ' || c == '\t' || c == '\f' || c == '\r') { L->i++; continue; }
        if (c == '\\' && L->i + 1 < L->n && s[L->i + 1] == '\n') { L->i += 2; continue; }
        if (c == '#') { while (L->i < L->n && s[L->i] != '\n') L->i++; continue; }
        if (c == '\n') {
            if (L->depth == 0 && !lex_push(L, (tok){.kind = T_NEWLINE, .at = L->i, .len = 1})) return false;
            L->i++;
            continue;
        }
        size_t l;
        if (ident_start(s + L->i, L->n - L->i, &l)) {
            size_t st = L->i, k = st + l;
            while (k < L->n && ident_cont(s + k, L->n - k, &l)) k += l;
            /* string prefix? */
            size_t pl = k - st;
            if (pl <= 2 && k < L->n && (s[k] == '\'' || s[k] == '"')) {
                bool ok = true;
                int r = 0, b = 0, u = 0, f = 0;
                for (size_t j = st; j < k; j++) {
                    char p = s[j];
                    if (p == 'r' || p == 'R') r++;
                    else if (p == 'b' || p == 'B') b++;
                    else if (p == 'u' || p == 'U') u++;
                    else if (p == 'f' || p == 'F') f++;
                    else ok = false;
                }
                if (ok && r <= 1 && b <= 1 && f <= 1 && u <= 1 && !(u && (r || b || f)) && !(b && f)) {
                    L->i = st;
                    if (!lex_string(L, st, pl)) return false;
                    continue;
                }
            }
            if (!lex_push(L, (tok){.kind = T_NAME, .at = st, .len = k - st})) return false;
            L->i = k;
            continue;
        }
        if ((c >= '0' && c <= '9') || (c == '.' && L->i + 1 < L->n && s[L->i + 1] >= '0' && s[L->i + 1] <= '9')) {
            if (!lex_number(L)) return false;
            continue;
        }
        if (c == '\'' || c == '"') {
            if (!lex_string(L, L->i, 0)) return false;
            continue;
        }
        size_t ol = 0;
        for (int k = 0; k_ops3[k]; k++) if (L->n - L->i >= 3 && !memcmp(s + L->i, k_ops3[k], 3)) ol = 3;
        if (!ol) for (int k = 0; k_ops2[k]; k++) if (L->n - L->i >= 2 && !memcmp(s + L->i, k_ops2[k], 2)) ol = 2;
        if (!ol && strchr("()[]{},:;.=+-*/%@&|^~<>", c) && c) ol = 1;
        if (!ol) return lex_fail(L, "invalid character");
        if (ol == 1 && strchr("([{", c)) L->depth++;
        if (ol == 1 && strchr(")]}", c)) {
            if (L->depth == 0) return lex_fail(L, "unmatched closing bracket");
            L->depth--;
        }
        if (!lex_push(L, (tok){.kind = T_OP, .at = L->i, .len = ol})) return false;
        L->i += ol;
    }
    if (L->depth > 0) return lex_fail(L, "'[' or '(' was never closed");
    return lex_push(L, (tok){.kind = T_END, .at = L->n, .len = 0});
}

/* ---------------------------------------------------------------- syntax tree */

typedef enum {
    N_CONST, N_ELLIPSIS, N_NAME, N_CALL, N_KEYWORD, N_LIST, N_TUPLE, N_DICT, N_SET, N_UNARY, N_BINOP,
    N_ATTR, N_SUBSCRIPT, N_SLICE, N_STARRED, N_OTHER
} node_kind;

typedef struct node node;
struct node {
    node_kind kind;
    afm_pv *val;          /* CONST */
    const char *id;       /* NAME, ATTR (attribute), KEYWORD (NULL for **), UNARY/BINOP operator, OTHER (what) */
    size_t id_len;
    node *a, *b, *c;      /* CALL func; UNARY operand; BINOP l, r; ATTR/SUBSCRIPT value; SUBSCRIPT slice; SLICE parts; KEYWORD value; STARRED value */
    node **kids;          /* CALL args and keywords, LIST/TUPLE/SET elements, DICT key, value pairs (key NULL for **) */
    size_t nk, capk;
    bool fstring;         /* CONST made of f-strings (a JoinedStr in Python's AST) */
};

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
    for (int k = 0; k_keywords[k]; k++)
        if (t->kind == T_NAME && t->len == strlen(k_keywords[k]) && !memcmp(P->L->s + t->at, k_keywords[k], t->len)) return true;
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

/* ---------------------------------------------------------------- ast.unparse */

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

/* ---------------------------------------------------------------- eval of a binary operation */

static afm_pv *ev(parser *P, const node *n);

static bool is_intlike(const afm_pv *v) { return (v->type == AFM_PV_INT && !v->big) || v->type == AFM_PV_BOOL; }
static double num(const afm_pv *v) { return v->type == AFM_PV_FLOAT || v->big ? v->f : (double)v->i; }
static bool is_number(const afm_pv *v) { return v->type == AFM_PV_INT || v->type == AFM_PV_BOOL || v->type == AFM_PV_FLOAT; }

static afm_pv *ev_fail(parser *P, const char *msg) {
    if (!P->err[0]) snprintf(P->err, sizeof P->err, "%s", msg);
    return NULL;
}

static afm_pv *int_result(__int128 r) {
    if (r > INT64_MAX || r < INT64_MIN) return afm_pv_big((double)r);
    return afm_pv_int((int64_t)r);
}

static afm_pv *repeat(parser *P, const afm_pv *seq, const afm_pv *times) {
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

static afm_pv *binop(parser *P, const char *op, const afm_pv *x, const afm_pv *y) {
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

static afm_pv *ev(parser *P, const node *n) {
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

static afm_pv *resolve(parser *P, const node *n);

/* resolve_ast_call: {dotted.name: {keyword: value}} */
static afm_pv *resolve_call(parser *P, const node *call) {
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

static afm_pv *unparse_str(parser *P, const node *a, const node *b) {
    afm_strbuf s;
    afm_sb_init(&s);
    bool ok = unparse(&s, a, PR_TEST);
    if (ok && b) {
        afm_sb_puts(&s, "[");
        ok = unparse(&s, b, PR_TEST);
        afm_sb_puts(&s, "]");
    }
    afm_pv *r = ok ? afm_pv_str(s.s ? s.s : "", s.n) : ev_fail(P, "cannot unparse this expression");
    afm_sb_free(&s);
    return r;
}

static afm_pv *resolve(parser *P, const node *n) {
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
    lexer L = {.s = text, .n = len};
    parser P = {.L = &L};
    afm_status st = AFM_OK;
    if (!lex(&L)) { st = afm_error(AFM_ERR_FORMAT, "Python syntax: %s", L.err); goto done; }
    bool tuple;
    node *body = star_expr_list(&P, &tuple, NULL);
    while (body && cur(&P)->kind == T_NEWLINE) P.p++;
    if (body && cur(&P)->kind != T_END) fail(&P, "unexpected text after the expression");
    if (!body || P.err[0]) { st = afm_error(AFM_ERR_FORMAT, "Python syntax: %s", P.err[0] ? P.err : "invalid syntax"); goto done; }
    afm_pv *out = afm_pv_list(AFM_PV_LIST);
    if (!out) { st = afm_error(AFM_ERR_NOMEM, "decoded calls"); goto done; }
    if (body->kind == N_CALL) {
        afm_pv *c = resolve_call(&P, body);
        if (!c || afm_pv_push(out, c) != AFM_OK) st = afm_error(AFM_ERR_FORMAT, "%s", P.err);
    } else if (body->kind == N_LIST || body->kind == N_TUPLE || body->kind == N_SET) {
        for (size_t k = 0; k < body->nk && st == AFM_OK; k++) {
            const node *e = body->kids[k];
            if (e->kind != N_CALL) { st = afm_error(AFM_ERR_FORMAT, "AssertionError: list element %zu is not a call", k); break; }
            afm_pv *c = resolve_call(&P, e);
            if (!c || afm_pv_push(out, c) != AFM_OK) st = afm_error(AFM_ERR_FORMAT, "%s", P.err[0] ? P.err : "decode failed");
        }
    } else {
        st = afm_error(AFM_ERR_FORMAT, "the expression is not a list of calls");
    }
    if (st != AFM_OK) afm_pv_free(out);
    else *calls = out;
done:
    for (size_t k = 0; k < L.nt; k++) afm_pv_free(L.toks[k].val);
    for (size_t j = 0; j < P.nall; j++) {
        if (P.all[j]->kind == N_CONST) afm_pv_free(P.all[j]->val);
        free(P.all[j]->kids);
        free(P.all[j]);
    }
    free(P.all);
    free(L.toks);
    return st;
}
