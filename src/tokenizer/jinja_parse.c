/* Jinja lexer and parser: template text -> syntax tree.
 *
 * Whitespace rules are jinja2's with trim_blocks and lstrip_blocks on: the source's newlines are
 * normalized to "\n" and one trailing newline is dropped; "{%-"/"{{-"/"{#-" strip all whitespace
 * before the tag and "-%}"/"-}}"/"-#}" all whitespace after it; a block or comment tag drops the
 * one newline that follows it (trim_blocks) and the spaces and tabs before it when only those
 * stand between the tag and the start of its line (lstrip_blocks; "{%+" keeps them). Precedence
 * follows jinja2's parser: conditional < or < and < not < comparisons < + - < ~ < * / // % < ** <
 * unary - + < filters and tests < postfix (attribute, subscript, call). */
#include "tokenizer/jinja.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_TEXT, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_EOF } ttype;

typedef struct tok {
    ttype t;
    const char *s; size_t n; /* text (unescaped for strings), operator or name */
    int64_t i; double f;
    int line, col;
} tok;

typedef struct lexer {
    jarena *a; jerr *e;
    const char *src; size_t len;
    tok *toks; size_t nt, cap;
    size_t *line_starts; size_t nlines; /* offsets of line starts, for positions */
    size_t cur_off; int cur_line, cur_col; /* position cursor: tokens come in source order */
} lexer;

enum { MAX_DEPTH = 256 }; /* parser recursion units (a nesting level costs a few) */

static void pos_of(const lexer *L, size_t off, int *line, int *col) {
    size_t lo = 0, hi = L->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (L->line_starts[mid] <= off) lo = mid; else hi = mid;
    }
    *line = (int)lo + 1;
    /* columns count code points, as an editor shows them */
    *col = (int)ju8_len(L->src + L->line_starts[lo], off - L->line_starts[lo]) + 1;
}

_Noreturn static void lex_fail(lexer *L, size_t off, const char *msg) {
    int line, col;
    pos_of(L, off, &line, &col);
    jfail(L->e, line, col, "%s", msg);
}

static tok *push_tok(lexer *L, ttype t, size_t off) {
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        tok *p = jalloc(L->a, L->e, cap * sizeof *p);
        if (L->nt) memcpy(p, L->toks, L->nt * sizeof *p);
        L->toks = p;
        L->cap = cap;
    }
    tok *k = &L->toks[L->nt++];
    memset(k, 0, sizeof *k);
    k->t = t;
    if (off < L->cur_off) {
        pos_of(L, off, &k->line, &k->col);
        return k;
    }
    while (L->cur_off < off) { /* advance the cursor by code points */
        uint32_t cp;
        if (L->src[L->cur_off] == '\n') {
            L->cur_line++;
            L->cur_col = 1;
            L->cur_off++;
        } else {
            L->cur_off += ju8_decode(L->src + L->cur_off, L->len - L->cur_off, &cp);
            L->cur_col++;
        }
    }
    k->line = L->cur_line;
    k->col = L->cur_col;
    return k;
}


/* Length of the text after removing trailing whitespace (Python str.rstrip()). */
static size_t rstrip_len(const char *p, size_t n) {
    while (n > 0) {
        size_t k = 1;
        while (k < n && k < 4 && ((unsigned char)p[n - k] & 0xc0) == 0x80) k++;
        uint32_t cp;
        size_t used = ju8_decode(p + n - k, k, &cp);
        if (used != k) { used = 1; ju8_decode(p + n - 1, 1, &cp); }
        if (!ju_isspace(cp)) break;
        n -= used;
    }
    return n;
}

static size_t skip_ws(const char *p, size_t n, size_t i) { /* Python regex \s* */
    while (i < n) {
        uint32_t cp;
        size_t k = ju8_decode(p + i, n - i, &cp);
        if (!ju_isspace(cp)) break;
        i += k;
    }
    return i;
}

static void emit_text(lexer *L, size_t off, const char *p, size_t n) {
    if (n == 0) return;
    tok *k = push_tok(L, T_TEXT, off);
    k->s = p;
    k->n = n;
}

/* Applies "-" stripping or lstrip_blocks to the text before a tag; returns its new length. */
static size_t strip_before(const char *text, size_t n, char sign, bool is_var, bool line_starting) {
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || is_var) return n;
    size_t l_pos = n;
    while (l_pos > 0 && text[l_pos - 1] != '\n') l_pos--;
    if (l_pos == 0 && !line_starting) return n;
    for (size_t i = l_pos; i < n; i++)
        if (text[i] != ' ' && text[i] != '\t') return n;
    return l_pos;
}

/* Python string-literal unescaping (jinja2 decodes literals with "unicode-escape"). */
static void unescape(lexer *L, tok *k, const char *p, size_t n) {
    jbuf b = {.a = L->a, .e = L->e};
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\' || i + 1 >= n) { jbuf_putc(&b, p[i]); continue; }
        char c = p[++i];
        uint32_t cp = 0;
        int digits = 0;
        switch (c) {
        case '\n': break;
        case '\\': jbuf_putc(&b, '\\'); break;
        case '\'': jbuf_putc(&b, '\''); break;
        case '"': jbuf_putc(&b, '"'); break;
        case 'a': jbuf_putc(&b, '\a'); break;
        case 'b': jbuf_putc(&b, '\b'); break;
        case 'f': jbuf_putc(&b, '\f'); break;
        case 'n': jbuf_putc(&b, '\n'); break;
        case 'r': jbuf_putc(&b, '\r'); break;
        case 't': jbuf_putc(&b, '\t'); break;
        case 'v': jbuf_putc(&b, '\v'); break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (c >= '0' && c <= '7') {
                int m = 0;
                while (m < 3 && i < n && p[i] >= '0' && p[i] <= '7') { cp = cp * 8 + (uint32_t)(p[i] - '0'); i++; m++; }
                i--;
                digits = -1;
            } else {
                jbuf_putc(&b, '\\');
                jbuf_putc(&b, c);
            }
        }
        if (digits > 0) {
            for (int m = 0; m < digits; m++) {
                if (i + 1 >= n) lex_fail(L, 0, "truncated \\x/\\u escape in a string literal");
                char h = p[++i];
                cp <<= 4;
                if (h >= '0' && h <= '9') cp |= (uint32_t)(h - '0');
                else if (h >= 'a' && h <= 'f') cp |= (uint32_t)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F') cp |= (uint32_t)(h - 'A' + 10);
                else lex_fail(L, 0, "bad \\x/\\u escape in a string literal");
            }
        }
        if (digits != 0) {
            if (cp > 0x10ffff) lex_fail(L, 0, "\\U escape out of range in a string literal");
            char t[4];
            size_t m;
            if (cp < 0x80) { t[0] = (char)cp; m = 1; }
            else if (cp < 0x800) { t[0] = (char)(0xc0 | (cp >> 6)); t[1] = (char)(0x80 | (cp & 0x3f)); m = 2; }
            else if (cp < 0x10000) { t[0] = (char)(0xe0 | (cp >> 12)); t[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[2] = (char)(0x80 | (cp & 0x3f)); m = 3; }
            else { t[0] = (char)(0xf0 | (cp >> 18)); t[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[3] = (char)(0x80 | (cp & 0x3f)); m = 4; }
            jbuf_put(&b, t, m);
        }
    }
    k->s = b.p ? b.p : "";
    k->n = b.n;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS1[] = "+-/*%~[](){}><=.:|,;";

/* Lexes the inside of a {{ }} or {% %} tag starting at i; returns the offset after the tag. */
static size_t lex_tag(lexer *L, size_t i, bool is_block, bool *line_starting) {
    const char *s = L->src;
    size_t n = L->len;
    char stack[MAX_DEPTH];
    int depth = 0;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n) lex_fail(L, n, is_block ? "unexpected end of template: missing '%}'" : "unexpected end of template: missing '}}'");
        const char *end = is_block ? "%}" : "}}";
        if (depth == 0) {
            bool minus = s[i] == '-' && n - i >= 3 && s[i + 1] == end[0] && s[i + 2] == end[1];
            if (minus || (n - i >= 2 && s[i] == end[0] && s[i + 1] == end[1])) {
                push_tok(L, is_block ? T_BLOCK_END : T_VAR_END, i);
                i += minus ? 3 : 2;
                if (minus) i = skip_ws(s, n, i);
                else if (is_block && i < n && s[i] == '\n') i++;
                *line_starting = i > 0 && s[i - 1] == '\n';
                return i;
            }
        }
        char c = s[i];
        size_t start = i;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) i++;
            tok *k = push_tok(L, T_NAME, start);
            k->s = s + start;
            k->n = i - start;
        } else if (c >= '0' && c <= '9') {
            bool after_dot = start > 0 && s[start - 1] == '.';
            while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) i++;
            bool is_float = false;
            if (!after_dot && i + 1 < n && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
                is_float = true;
                i++;
                while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) i++;
            }
            if (!after_dot && i < n && (s[i] == 'e' || s[i] == 'E')) {
                size_t j = i + 1;
                if (j < n && (s[j] == '+' || s[j] == '-')) j++;
                if (j < n && s[j] >= '0' && s[j] <= '9') {
                    is_float = true;
                    i = j;
                    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) i++;
                }
            }
            char tmp[64];
            size_t m = 0;
            for (size_t j = start; j < i && m < sizeof tmp - 1; j++)
                if (s[j] != '_') tmp[m++] = s[j];
            tmp[m] = 0;
            if (i - start >= sizeof tmp - 1) lex_fail(L, start, "number literal too long");
            tok *k = push_tok(L, is_float ? T_FLOAT : T_INT, start);
            if (is_float) k->f = strtod(tmp, NULL);
            else {
                char *e;
                unsigned long long v = strtoull(tmp, &e, 10);
                if (v > (unsigned long long)INT64_MAX || m > 19) lex_fail(L, start, "integer literal out of the 64-bit range");
                k->i = (int64_t)v;
            }
        } else if (c == '\'' || c == '"') {
            i++;
            while (i < n && s[i] != c) {
                if (s[i] == '\\' && i + 1 < n) i++;
                i++;
            }
            if (i >= n) lex_fail(L, start, "unterminated string literal");
            tok *k = push_tok(L, T_STRING, start);
            unescape(L, k, s + start + 1, i - start - 1);
            i++;
        } else {
            size_t len = 0;
            for (size_t k = 0; k < sizeof OPS2 / sizeof OPS2[0]; k++)
                if (n - i >= 2 && s[i] == OPS2[k][0] && s[i + 1] == OPS2[k][1]) len = 2;
            if (!len && c && strchr(OPS1, c)) len = 1;
            if (!len) {
                char msg[64];
                snprintf(msg, sizeof msg, "unexpected character '%c' in a tag", (c >= 32 && c < 127) ? c : '?');
                lex_fail(L, i, msg);
            }
            if (len == 1 && (c == '(' || c == '[' || c == '{')) {
                if (depth >= MAX_DEPTH) lex_fail(L, i, "brackets nested too deeply");
                stack[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
            } else if (len == 1 && (c == ')' || c == ']' || c == '}')) {
                if (depth == 0 || stack[depth - 1] != c) {
                    char msg[48];
                    snprintf(msg, sizeof msg, "unexpected '%c'", c);
                    lex_fail(L, i, msg);
                }
                depth--;
            }
            tok *k = push_tok(L, T_OP, i);
            k->s = s + i;
            k->n = len;
            i += len;
        }
    }
}

/* {% raw %} ... {% endraw %}: the text between is emitted as is. i is just after "raw ... %}". */
static size_t lex_raw(lexer *L, size_t i, size_t tag_off, bool *line_starting) {
    const char *s = L->src;
    size_t n = L->len;
    for (size_t j = i; j + 1 < n; j++) {
        if (s[j] != '{' || s[j + 1] != '%') continue;
        size_t k = j + 2;
        char sign = 0;
        if (k < n && (s[k] == '-' || s[k] == '+')) sign = s[k++];
        k = skip_ws(s, n, k);
        if (n - k < 6 || memcmp(s + k, "endraw", 6)) continue;
        k = skip_ws(s, n, k + 6);
        bool minus = k < n && s[k] == '-';
        if (minus) k++;
        if (n - k < 2 || s[k] != '%' || s[k + 1] != '}') continue;
        size_t tl = strip_before(s + i, j - i, sign, false, *line_starting);
        emit_text(L, i, s + i, tl);
        k += 2;
        if (minus) k = skip_ws(s, n, k);
        else if (k < n && s[k] == '\n') k++;
        *line_starting = s[k - 1] == '\n';
        return k;
    }
    lex_fail(L, tag_off, "missing '{% endraw %}' for this '{% raw %}'");
}

static void lex(lexer *L) {
    const char *s = L->src;
    size_t n = L->len, pos = 0;
    bool line_starting = true;
    while (pos < n) {
        size_t at = pos;
        while (at + 1 < n && !(s[at] == '{' && (s[at + 1] == '{' || s[at + 1] == '%' || s[at + 1] == '#'))) at++;
        if (at + 1 >= n) {
            emit_text(L, pos, s + pos, n - pos);
            break;
        }
        char kind = s[at + 1];
        char sign = (at + 2 < n && (s[at + 2] == '-' || s[at + 2] == '+')) ? s[at + 2] : 0;
        if (kind == '{' && sign == '+') sign = 0;
        size_t tl = strip_before(s + pos, at - pos, sign, kind == '{', line_starting);
        emit_text(L, pos, s + pos, tl);
        size_t i = at + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            if (i >= n) break; /* jinja2 ends quietly on a comment opener that is the last thing */
            size_t j = i;
            for (;;) {
                if (j + 1 >= n) lex_fail(L, at, "missing end of comment tag '#}'");
                if (s[j] == '#' && s[j + 1] == '}') break;
                j++;
            }
            bool minus = j > i && s[j - 1] == '-';
            pos = j + 2;
            if (minus) pos = skip_ws(s, n, pos);
            else if (pos < n && s[pos] == '\n') pos++;
            line_starting = s[pos - 1] == '\n';
            continue;
        }
        if (kind == '%') {
            size_t k = skip_ws(s, n, i);
            if (n - k >= 3 && !memcmp(s + k, "raw", 3)) {
                size_t m = skip_ws(s, n, k + 3);
                bool minus = m < n && s[m] == '-';
                if (minus) m++;
                if (n - m >= 2 && s[m] == '%' && s[m + 1] == '}') {
                    m += 2;
                    if (minus) m = skip_ws(s, n, m);
                    line_starting = s[m - 1] == '\n';
                    pos = lex_raw(L, m, at, &line_starting);
                    continue;
                }
            }
        }
        push_tok(L, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN, at);
        pos = lex_tag(L, i, kind == '%', &line_starting);
    }
    push_tok(L, T_EOF, n);
}

/* ---------------------------------------------------------------- parser */
typedef struct parser { lexer *L; size_t i; int depth; } parser;

static tok *cur(parser *P) { return &P->L->toks[P->i]; }
static tok *peek(parser *P, size_t k) {
    size_t j = P->i + k;
    return &P->L->toks[j < P->L->nt ? j : P->L->nt - 1];
}
static void adv(parser *P) { if (P->i + 1 < P->L->nt) P->i++; }

static const char *tok_desc(tok *t, char *buf, size_t cap) {
    switch (t->t) {
    case T_TEXT: return "template text";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "end of print statement '}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "end of statement block '%}'";
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    case T_EOF: return "end of template";
    default: break;
    }
    snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
    return buf;
}

_Noreturn static void pfail(parser *P, tok *t, const char *fmt, const char *arg) {
    char what[64], msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : tok_desc(t, what, sizeof what));
    jfail(P->L->e, t->line, t->col, "%s", msg);
}

static bool is_op(tok *t, const char *op) { return t->t == T_OP && t->n == strlen(op) && !memcmp(t->s, op, t->n); }
static bool is_name(tok *t, const char *name) { return t->t == T_NAME && t->n == strlen(name) && !memcmp(t->s, name, t->n); }

static void expect_op(parser *P, const char *op) {
    if (!is_op(cur(P), op)) {
        char what[64], msg[128];
        snprintf(msg, sizeof msg, "expected '%s', got %s", op, tok_desc(cur(P), what, sizeof what));
        jfail(P->L->e, cur(P)->line, cur(P)->col, "%s", msg);
    }
    adv(P);
}

static void expect(parser *P, ttype t, const char *what) {
    if (cur(P)->t != t) {
        char d[64], msg[160];
        snprintf(msg, sizeof msg, "expected %s, got %s", what, tok_desc(cur(P), d, sizeof d));
        jfail(P->L->e, cur(P)->line, cur(P)->col, "%s", msg);
    }
    adv(P);
}

static const char *expect_name(parser *P) {
    tok *t = cur(P);
    if (t->t != T_NAME) pfail(P, t, "expected a name, got %s", NULL);
    adv(P);
    return jstrdup(P->L->a, P->L->e, t->s, t->n);
}

static jnode *mk(parser *P, jnk kind, tok *at) {
    jnode *n = jalloc(P->L->a, P->L->e, sizeof *n);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

/* growable node-pointer arrays */
typedef struct nvec { jnode **p; size_t n, cap; } nvec;
static void nv_push(parser *P, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jnode **q = jalloc(P->L->a, P->L->e, cap * sizeof *q);
        if (v->n) memcpy(q, v->p, v->n * sizeof *q);
        v->p = q;
        v->cap = cap;
    }
    v->p[v->n++] = x;
}
typedef struct svec { const char **p; size_t n, cap; } svec;
static void sv_push(parser *P, svec *v, const char *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        const char **q = jalloc(P->L->a, P->L->e, cap * sizeof *q);
        if (v->n) memcpy(q, v->p, v->n * sizeof *q);
        v->p = q;
        v->cap = cap;
    }
    v->p[v->n++] = x;
}

static void enter(parser *P) {
    if (++P->depth > MAX_DEPTH) pfail(P, cur(P), "template nested too deeply at %s", NULL);
}
static void leave(parser *P) { P->depth--; }

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *n);

/* call arguments after '(' : positional, then name=value */
static void parse_call_args(parser *P, jnode *call) {
    nvec args = {0}, kwv = {0};
    svec kwn = {0};
    expect_op(P, "(");
    while (!is_op(cur(P), ")")) {
        if (args.n + kwv.n) expect_op(P, ",");
        if (is_op(cur(P), ")")) break;
        if (is_op(cur(P), "*") || is_op(cur(P), "**")) pfail(P, cur(P), "*args and **kwargs in calls are not supported (%s)", NULL);
        if (cur(P)->t == T_NAME && is_op(peek(P, 1), "=")) {
            sv_push(P, &kwn, expect_name(P));
            adv(P);
            nv_push(P, &kwv, parse_expr(P));
        } else {
            if (kwv.n) pfail(P, cur(P), "positional argument after keyword argument at %s", NULL);
            nv_push(P, &args, parse_expr(P));
        }
    }
    expect_op(P, ")");
    call->list = args.p;
    call->n = args.n;
    call->list2 = kwv.p;
    call->n2 = kwv.n;
    call->names = kwn.p;
    call->nnames = kwn.n;
}

static bool is_tuple_end(parser *P) {
    tok *t = cur(P);
    return t->t == T_VAR_END || t->t == T_BLOCK_END || t->t == T_EOF || is_op(t, ")") || is_op(t, "]") || is_op(t, "}") ||
           is_op(t, "=") || is_name(t, "in") || is_name(t, "if") || is_name(t, "recursive");
}

/* expr or "a, b, ..." (a tuple); explicit: inside parentheses */
static jnode *parse_tuple(parser *P, bool simplified) {
    tok *at = cur(P);
    nvec items = {0};
    bool comma = false;
    for (;;) {
        if (items.n) {
            if (!is_op(cur(P), ",")) break;
            adv(P);
            comma = true;
            if (is_tuple_end(P)) break;
        }
        nv_push(P, &items, simplified ? parse_or(P) : parse_expr(P));
    }
    if (!comma && items.n == 1) return items.p[0];
    jnode *n = mk(P, JN_TUPLE, at);
    n->list = items.p;
    n->n = items.n;
    return n;
}

static jnode *parse_primary(parser *P) {
    tok *t = cur(P);
    jnode *n;
    enter(P);
    if (t->t == T_NAME) {
        adv(P);
        if ((t->n == 4 && (!memcmp(t->s, "true", 4) || !memcmp(t->s, "True", 4)))) { n = mk(P, JN_LIT, t); n->lit = jv_bool(true); }
        else if (t->n == 5 && (!memcmp(t->s, "false", 5) || !memcmp(t->s, "False", 5))) { n = mk(P, JN_LIT, t); n->lit = jv_bool(false); }
        else if (t->n == 4 && (!memcmp(t->s, "none", 4) || !memcmp(t->s, "None", 4))) { n = mk(P, JN_LIT, t); n->lit = jv_none(); }
        else { n = mk(P, JN_NAME, t); n->name = jstrdup(P->L->a, P->L->e, t->s, t->n); n->name_len = t->n; }
    } else if (t->t == T_STRING) {
        jbuf b = {.a = P->L->a, .e = P->L->e};
        while (cur(P)->t == T_STRING) {
            jbuf_put(&b, cur(P)->s, cur(P)->n);
            adv(P);
        }
        n = mk(P, JN_LIT, t);
        n->lit = jv_str(b.p ? b.p : "", b.n);
    } else if (t->t == T_INT) {
        adv(P);
        n = mk(P, JN_LIT, t);
        n->lit = jv_int(t->i);
    } else if (t->t == T_FLOAT) {
        adv(P);
        n = mk(P, JN_LIT, t);
        n->lit = jv_float(t->f);
    } else if (is_op(t, "(")) {
        adv(P);
        if (is_op(cur(P), ")")) {
            adv(P);
            n = mk(P, JN_TUPLE, t);
        } else {
            n = parse_tuple(P, false);
            expect_op(P, ")");
        }
    } else if (is_op(t, "[")) {
        adv(P);
        nvec items = {0};
        while (!is_op(cur(P), "]")) {
            if (items.n) expect_op(P, ",");
            if (is_op(cur(P), "]")) break;
            nv_push(P, &items, parse_expr(P));
        }
        expect_op(P, "]");
        n = mk(P, JN_LIST, t);
        n->list = items.p;
        n->n = items.n;
    } else if (is_op(t, "{")) {
        adv(P);
        nvec keys = {0}, vals = {0};
        while (!is_op(cur(P), "}")) {
            if (keys.n) expect_op(P, ",");
            if (is_op(cur(P), "}")) break;
            nv_push(P, &keys, parse_expr(P));
            expect_op(P, ":");
            nv_push(P, &vals, parse_expr(P));
        }
        expect_op(P, "}");
        n = mk(P, JN_DICT, t);
        n->list = keys.p;
        n->n = keys.n;
        n->list2 = vals.p;
        n->n2 = vals.n;
    } else {
        pfail(P, t, "unexpected %s", NULL);
    }
    leave(P);
    return n;
}

static jnode *parse_subscript(parser *P, jnode *obj, tok *at) {
    /* after '[': index, or slice a:b:c with any part empty */
    jnode *parts[3] = {NULL, NULL, NULL};
    int colons = 0;
    if (!is_op(cur(P), ":")) parts[0] = parse_expr(P);
    while (is_op(cur(P), ":") && colons < 2) {
        adv(P);
        colons++;
        if (!is_op(cur(P), ":") && !is_op(cur(P), "]")) parts[colons] = parse_expr(P);
    }
    expect_op(P, "]");
    jnode *n = mk(P, colons ? JN_SLICE : JN_ITEM, at);
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        tok *t = cur(P);
        if (is_op(t, ".")) {
            adv(P);
            tok *a = cur(P);
            if (a->t == T_NAME) {
                adv(P);
                jnode *x = mk(P, JN_ATTR, t);
                x->a = n;
                x->name = jstrdup(P->L->a, P->L->e, a->s, a->n);
                x->name_len = a->n;
                n = x;
            } else if (a->t == T_INT) {
                adv(P);
                jnode *x = mk(P, JN_ITEM, t), *k = mk(P, JN_LIT, a);
                k->lit = jv_int(a->i);
                x->a = n;
                x->b = k;
                n = x;
            } else {
                pfail(P, a, "expected a name after '.', got %s", NULL);
            }
        } else if (is_op(t, "[")) {
            adv(P);
            n = parse_subscript(P, n, t);
        } else if (is_op(t, "(")) {
            jnode *x = mk(P, JN_CALL, t);
            x->a = n;
            parse_call_args(P, x);
            n = x;
        } else {
            return n;
        }
    }
}

static jnode *parse_filter_expr(parser *P, jnode *n) {
    for (;;) {
        tok *t = cur(P);
        if (is_op(t, "|")) {
            adv(P);
            tok *nt = cur(P);
            const char *name = expect_name(P);
            int idx = jfilter_find(name, strlen(name));
            jnode *x = mk(P, JN_FILTER, nt);
            x->a = n;
            x->op = idx;
            x->name = name;
            if (is_op(cur(P), "(")) parse_call_args(P, x);
            n = x;
        } else if (is_name(t, "is")) {
            adv(P);
            bool neg = false;
            if (is_name(cur(P), "not")) { neg = true; adv(P); }
            tok *nt = cur(P);
            const char *name = expect_name(P);
            int idx = jtest_find(name, strlen(name));
            jnode *x = mk(P, JN_TEST, nt);
            x->a = n;
            x->op = idx;
            x->name = name;
            x->flag = neg;
            tok *c = cur(P);
            if (is_op(c, "(")) parse_call_args(P, x);
            else if ((c->t == T_NAME || c->t == T_STRING || c->t == T_INT || c->t == T_FLOAT || is_op(c, "[") || is_op(c, "{")) &&
                     !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
                jnode *arg = parse_postfix(P, parse_primary(P));
                x->list = jalloc(P->L->a, P->L->e, sizeof(jnode *));
                x->list[0] = arg;
                x->n = 1;
            }
            n = x;
        } else if (is_op(t, "(")) {
            jnode *x = mk(P, JN_CALL, t);
            x->a = n;
            parse_call_args(P, x);
            n = x;
        } else {
            return n;
        }
    }
}

static jnode *parse_unary(parser *P, bool with_filter) {
    tok *t = cur(P);
    jnode *n;
    enter(P);
    if (is_op(t, "-") || is_op(t, "+")) {
        adv(P);
        n = mk(P, JN_UNARY, t);
        n->op = is_op(t, "-") ? JOP_NEG : JOP_POS;
        n->a = parse_unary(P, false);
    } else {
        n = parse_postfix(P, parse_primary(P));
    }
    if (with_filter) n = parse_filter_expr(P, n);
    leave(P);
    return n;
}

static jnode *bin(parser *P, tok *t, int op, jnode *a, jnode *b) {
    jnode *n = mk(P, JN_BIN, t);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *n = parse_unary(P, true);
    while (is_op(cur(P), "**")) {
        tok *t = cur(P);
        adv(P);
        n = bin(P, t, JOP_POW, n, parse_unary(P, true));
    }
    return n;
}

static jnode *parse_math2(parser *P) {
    jnode *n = parse_pow(P);
    for (;;) {
        tok *t = cur(P);
        int op = is_op(t, "*") ? JOP_MUL : is_op(t, "/") ? JOP_DIV : is_op(t, "//") ? JOP_FLOORDIV : is_op(t, "%") ? JOP_MOD : 0;
        if (!op) return n;
        adv(P);
        n = bin(P, t, op, n, parse_pow(P));
    }
}

static jnode *parse_concat(parser *P) {
    jnode *n = parse_math2(P);
    while (is_op(cur(P), "~")) {
        tok *t = cur(P);
        adv(P);
        n = bin(P, t, JOP_CONCAT, n, parse_math2(P));
    }
    return n;
}

static jnode *parse_math1(parser *P) {
    jnode *n = parse_concat(P);
    for (;;) {
        tok *t = cur(P);
        int op = is_op(t, "+") ? JOP_ADD : is_op(t, "-") ? JOP_SUB : 0;
        if (!op) return n;
        adv(P);
        n = bin(P, t, op, n, parse_concat(P));
    }
}

static jnode *parse_compare(parser *P) {
    tok *at = cur(P);
    jnode *first = parse_math1(P);
    nvec rest = {0};
    svec ops = {0};
    for (;;) {
        tok *t = cur(P);
        intptr_t op = is_op(t, "==") ? JOP_EQ : is_op(t, "!=") ? JOP_NE : is_op(t, "<") ? JOP_LT : is_op(t, "<=") ? JOP_LE
                    : is_op(t, ">") ? JOP_GT : is_op(t, ">=") ? JOP_GE : is_name(t, "in") ? JOP_IN : 0;
        if (!op && is_name(t, "not") && is_name(peek(P, 1), "in")) {
            op = JOP_NOTIN;
            adv(P);
        }
        if (!op) break;
        adv(P);
        sv_push(P, &ops, (const char *)op);
        nv_push(P, &rest, parse_math1(P));
    }
    if (!rest.n) return first;
    jnode *n = mk(P, JN_CMP, at);
    n->a = first;
    n->list = rest.p;
    n->n = rest.n;
    n->names = ops.p;
    n->nnames = ops.n;
    return n;
}

static jnode *parse_not(parser *P) {
    tok *t = cur(P);
    if (is_name(t, "not")) {
        adv(P);
        enter(P);
        jnode *n = mk(P, JN_NOT, t);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *n = parse_not(P);
    while (is_name(cur(P), "and")) {
        tok *t = cur(P);
        adv(P);
        jnode *x = mk(P, JN_AND, t);
        x->a = n;
        x->b = parse_not(P);
        n = x;
    }
    return n;
}

static jnode *parse_or(parser *P) {
    jnode *n = parse_and(P);
    while (is_name(cur(P), "or")) {
        tok *t = cur(P);
        adv(P);
        jnode *x = mk(P, JN_OR, t);
        x->a = n;
        x->b = parse_and(P);
        n = x;
    }
    return n;
}

static jnode *parse_expr(parser *P) {
    enter(P);
    jnode *n = parse_or(P);
    while (is_name(cur(P), "if")) {
        tok *t = cur(P);
        adv(P);
        jnode *x = mk(P, JN_COND, t);
        x->a = parse_or(P); /* condition */
        x->b = n;           /* value if true */
        if (is_name(cur(P), "else")) {
            adv(P);
            x->c = parse_expr(P);
        }
        n = x;
    }
    leave(P);
    return n;
}

/* ---- statements ---- */
static jnode *parse_body(parser *P, const char *const *ends, tok *opener);

static void end_block(parser *P) { expect(P, T_BLOCK_END, "end of statement block '%}'"); }

static bool at_end_tag(parser *P, const char *const *ends) {
    if (cur(P)->t != T_BLOCK_BEGIN) return false;
    tok *t = peek(P, 1);
    for (size_t k = 0; ends && ends[k]; k++)
        if (is_name(t, ends[k])) return true;
    return false;
}

static jnode *parse_if(parser *P, tok *kw) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    jnode *n = mk(P, JN_IF, kw);
    n->a = parse_tuple(P, false);
    end_block(P);
    n->b = parse_body(P, ends, kw);
    tok *t = peek(P, 1);
    adv(P); /* '{%' */
    adv(P); /* elif / else / endif */
    if (is_name(t, "elif")) {
        enter(P);
        n->c = parse_if(P, t);
        leave(P);
        return n;
    }
    if (is_name(t, "else")) {
        static const char *const e2[] = {"endif", NULL};
        end_block(P);
        n->c = parse_body(P, e2, kw);
        adv(P);
        adv(P);
    }
    end_block(P);
    return n;
}

static jnode *parse_for(parser *P, tok *kw) {
    static const char *const ends[] = {"else", "endfor", NULL};
    jnode *n = mk(P, JN_FOR, kw);
    svec targets = {0};
    bool paren = is_op(cur(P), "(");
    if (paren) adv(P);
    do {
        if (targets.n) adv(P);
        sv_push(P, &targets, expect_name(P));
    } while (is_op(cur(P), ","));
    if (paren) expect_op(P, ")");
    n->names = targets.p;
    n->nnames = targets.n;
    if (!is_name(cur(P), "in")) pfail(P, cur(P), "expected 'in' in for loop, got %s", NULL);
    adv(P);
    n->a = parse_tuple(P, true); /* iterable */
    if (is_name(cur(P), "if")) {
        adv(P);
        n->b = parse_expr(P); /* loop filter */
    }
    if (is_name(cur(P), "recursive")) pfail(P, cur(P), "recursive for loops are not supported (%s)", NULL);
    end_block(P);
    n->c = parse_body(P, ends, kw);
    tok *t = peek(P, 1);
    adv(P);
    adv(P);
    if (is_name(t, "else")) {
        static const char *const e2[] = {"endfor", NULL};
        end_block(P);
        n->d = parse_body(P, e2, kw);
        adv(P);
        adv(P);
    }
    end_block(P);
    return n;
}

static jnode *parse_set(parser *P, tok *kw) {
    tok *nt = cur(P);
    const char *name = expect_name(P);
    if (is_op(cur(P), ".")) {
        adv(P);
        jnode *n = mk(P, JN_SETATTR, nt);
        n->name = name;
        n->names = jalloc(P->L->a, P->L->e, sizeof(char *));
        n->names[0] = expect_name(P);
        n->nnames = 1;
        expect_op(P, "=");
        n->a = parse_tuple(P, false);
        end_block(P);
        return n;
    }
    svec targets = {0};
    sv_push(P, &targets, name);
    while (is_op(cur(P), ",")) {
        adv(P);
        sv_push(P, &targets, expect_name(P));
    }
    if (is_op(cur(P), "=")) {
        adv(P);
        jnode *n = mk(P, JN_SET, nt);
        n->names = targets.p;
        n->nnames = targets.n;
        n->a = parse_tuple(P, false);
        end_block(P);
        return n;
    }
    if (targets.n != 1) pfail(P, cur(P), "expected '=' after the names of a set, got %s", NULL);
    static const char *const ends[] = {"endset", NULL};
    jnode *n = mk(P, JN_SETBLOCK, nt);
    n->names = targets.p;
    n->nnames = 1;
    if (is_op(cur(P), "|")) { /* {% set x | filter %} */
        jnode *dummy = mk(P, JN_LIT, cur(P));
        dummy->lit = jv_str("", 0);
        n->a = parse_filter_expr(P, dummy);
    }
    end_block(P);
    n->b = parse_body(P, ends, kw);
    adv(P);
    adv(P);
    end_block(P);
    return n;
}

/* parameter list "(a, b=default, ...)" for macros and call blocks */
static void parse_params(parser *P, jnode *n) {
    svec names = {0};
    nvec defs = {0};
    expect_op(P, "(");
    while (!is_op(cur(P), ")")) {
        if (names.n) expect_op(P, ",");
        if (is_op(cur(P), ")")) break;
        sv_push(P, &names, expect_name(P));
        if (is_op(cur(P), "=")) {
            adv(P);
            nv_push(P, &defs, parse_expr(P));
        } else {
            if (defs.n) pfail(P, cur(P), "non-default argument follows default argument at %s", NULL);
            nv_push(P, &defs, NULL);
        }
    }
    expect_op(P, ")");
    n->names = names.p;
    n->nnames = names.n;
    n->list2 = defs.p;
    n->n2 = defs.n;
}

static jnode *parse_statement(parser *P) {
    tok *open = cur(P);
    adv(P); /* '{%' */
    tok *kw = cur(P);
    if (kw->t != T_NAME) pfail(P, kw, "expected a statement name after '{%%', got %s", NULL);
    adv(P);
    jnode *n;
    enter(P);
    if (is_name(kw, "if")) n = parse_if(P, kw);
    else if (is_name(kw, "for")) n = parse_for(P, kw);
    else if (is_name(kw, "set")) n = parse_set(P, kw);
    else if (is_name(kw, "macro")) {
        static const char *const ends[] = {"endmacro", NULL};
        n = mk(P, JN_MACRO, kw);
        n->name = expect_name(P);
        parse_params(P, n);
        end_block(P);
        n->a = parse_body(P, ends, kw);
        adv(P);
        adv(P);
        if (cur(P)->t == T_NAME) adv(P);
        end_block(P);
    } else if (is_name(kw, "call")) {
        static const char *const ends[] = {"endcall", NULL};
        n = mk(P, JN_CALLBLOCK, kw);
        if (is_op(cur(P), "(")) parse_params(P, n);
        tok *ct = cur(P);
        n->b = parse_expr(P);
        if (n->b->kind != JN_CALL) jfail(P->L->e, ct->line, ct->col, "expected a call after 'call'");
        end_block(P);
        n->a = parse_body(P, ends, kw);
        adv(P);
        adv(P);
        end_block(P);
    } else if (is_name(kw, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        n = mk(P, JN_FILTERBLOCK, kw);
        jnode *dummy = mk(P, JN_LIT, cur(P));
        dummy->lit = jv_str("", 0);
        /* the chain starts with a filter name (no leading '|') */
        tok *ft = cur(P);
        const char *name = expect_name(P);
        int idx = jfilter_find(name, strlen(name));
        if (idx < 0) jfail(P->L->e, ft->line, ft->col, "No filter named '%s'.", name);
        jnode *f = mk(P, JN_FILTER, ft);
        f->a = dummy;
        f->op = idx;
        f->name = name;
        if (is_op(cur(P), "(")) parse_call_args(P, f);
        n->a = parse_filter_expr(P, f);
        end_block(P);
        n->b = parse_body(P, ends, kw);
        adv(P);
        adv(P);
        end_block(P);
    } else if (is_name(kw, "generation")) {
        /* transformers' AssistantTracker tag: renders its body */
        static const char *const ends[] = {"endgeneration", NULL};
        end_block(P);
        n = parse_body(P, ends, kw);
        adv(P);
        adv(P);
        end_block(P);
    } else if (is_name(kw, "break") || is_name(kw, "continue")) {
        n = mk(P, is_name(kw, "break") ? JN_BREAK : JN_CONTINUE, kw);
        end_block(P);
    } else {
        char name[48];
        snprintf(name, sizeof name, "%.*s", (int)(kw->n > 40 ? 40 : kw->n), kw->s);
        (void)open;
        jfail(P->L->e, kw->line, kw->col, "Encountered unknown tag '%s'.", name);
    }
    leave(P);
    return n;
}

static jnode *parse_body(parser *P, const char *const *ends, tok *opener) {
    tok *at = cur(P);
    jnode *body = mk(P, JN_BODY, at);
    nvec items = {0};
    enter(P);
    for (;;) {
        tok *t = cur(P);
        if (t->t == T_EOF) {
            if (ends) {
                size_t last = 0;
                while (ends[last + 1]) last++;
                char msg[200];
                snprintf(msg, sizeof msg, "unexpected end of template: the '%.*s' block opened at line %d, column %d was never closed (expected '%s')",
                         (int)opener->n, opener->s, opener->line, opener->col, ends[last]);
                jfail(P->L->e, t->line, t->col, "%s", msg);
            }
            break;
        }
        if (at_end_tag(P, ends)) break;
        if (t->t == T_TEXT) {
            jnode *x = mk(P, JN_TEXT, t);
            x->name = t->s;
            x->name_len = t->n;
            nv_push(P, &items, x);
            adv(P);
        } else if (t->t == T_VAR_BEGIN) {
            adv(P);
            jnode *x = mk(P, JN_OUT, t);
            x->a = parse_tuple(P, false);
            expect(P, T_VAR_END, "end of print statement '}}'");
            nv_push(P, &items, x);
        } else if (t->t == T_BLOCK_BEGIN) {
            tok *kw = peek(P, 1);
            if (kw->t == T_NAME && kw->n > 3 && !memcmp(kw->s, "end", 3)) {
                char name[48];
                snprintf(name, sizeof name, "%.*s", (int)(kw->n > 40 ? 40 : kw->n), kw->s);
                jfail(P->L->e, kw->line, kw->col, "Encountered unknown tag '%s'.%s", name,
                      ends ? "" : " There is no open block to close here.");
            }
            if (is_name(kw, "elif") || is_name(kw, "else"))
                jfail(P->L->e, kw->line, kw->col, "Encountered unexpected tag '%.*s' outside an if/for block.", (int)kw->n, kw->s);
            nv_push(P, &items, parse_statement(P));
        } else {
            pfail(P, t, "unexpected %s", NULL);
        }
    }
    leave(P);
    body->list = items.p;
    body->n = items.n;
    return body;
}

/* ---- jinja2's scoping of names stored in a frame ----
 * jinja2 compiles each frame (the template, a for body, a macro or call body) with a local
 * variable per name the frame stores. A name stored (in every branch) before the frame itself
 * reads it starts out undefined for the whole frame, so inner loops and macros that run before
 * the assignment see it undefined even when the caller passed a value; a name read first, or
 * first stored inside an if, starts from the context/enclosing value. This pass lists the
 * first kind on each frame body (JN_BODY names), mirroring jinja2's idtracking. */
enum { REF_RESOLVE = 1, REF_UNDEF, REF_ALIAS };
/* inner frames are analyzed after their parent frame is complete, as jinja2 compiles them */
typedef struct symjob { jnode *body; const char *const *params; size_t nparams; const jnode *filter; struct symjob *next; } symjob;
typedef struct symtab {
    struct symtab *parent;
    symjob **jobs; /* shared by a frame's branch copies */
    const char **names; int *state; size_t n, cap;
    const char **stores; size_t ns, scap;
    jarena *a; jerr *e;
} symtab;

static int sym_find_local(const symtab *t, const char *name) {
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], name)) return (int)i;
    return -1;
}
static bool sym_find_ref(const symtab *t, const char *name) {
    for (; t; t = t->parent)
        if (sym_find_local(t, name) >= 0) return true;
    return false;
}
static void sym_define(symtab *t, const char *name, int state) {
    int i = sym_find_local(t, name);
    if (i >= 0) { t->state[i] = state; return; }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        const char **nn = jalloc(t->a, t->e, cap * sizeof *nn);
        int *st = jalloc(t->a, t->e, cap * sizeof *st);
        if (t->n) { memcpy(nn, t->names, t->n * sizeof *nn); memcpy(st, t->state, t->n * sizeof *st); }
        t->names = nn; t->state = st; t->cap = cap;
    }
    t->names[t->n] = name;
    t->state[t->n] = state;
    t->n++;
}
static bool sym_stored(const symtab *t, const char *name) {
    for (size_t i = 0; i < t->ns; i++)
        if (!strcmp(t->stores[i], name)) return true;
    return false;
}
static void sym_add_store(symtab *t, const char *name) {
    if (sym_stored(t, name)) return;
    if (t->ns == t->scap) {
        size_t cap = t->scap ? t->scap * 2 : 8;
        const char **q = jalloc(t->a, t->e, cap * sizeof *q);
        if (t->ns) memcpy(q, t->stores, t->ns * sizeof *q);
        t->stores = q; t->scap = cap;
    }
    t->stores[t->ns++] = name;
}
static void sym_load(symtab *t, const char *name) {
    if (!sym_find_ref(t, name)) sym_define(t, name, REF_RESOLVE);
}
static void sym_store(symtab *t, const char *name) {
    sym_add_store(t, name);
    if (sym_find_local(t, name) >= 0) return;
    sym_define(t, name, sym_find_ref(t->parent, name) ? REF_ALIAS : REF_UNDEF);
}
static symtab sym_copy(const symtab *t) {
    symtab c = *t;
    c.cap = t->n + 4;
    c.names = jalloc(t->a, t->e, c.cap * sizeof *c.names);
    c.state = jalloc(t->a, t->e, c.cap * sizeof *c.state);
    if (t->n) { memcpy(c.names, t->names, t->n * sizeof *c.names); memcpy(c.state, t->state, t->n * sizeof *c.state); }
    c.scap = t->ns + 4;
    c.stores = jalloc(t->a, t->e, c.scap * sizeof *c.stores);
    if (t->ns) memcpy(c.stores, t->stores, t->ns * sizeof *c.stores);
    return c;
}

static void sym_expr(symtab *t, const jnode *n) {
    if (!n) return;
    if (n->kind == JN_NAME) { sym_load(t, n->name); return; }
    sym_expr(t, n->a);
    sym_expr(t, n->b);
    sym_expr(t, n->c);
    sym_expr(t, n->d);
    for (size_t i = 0; i < n->n; i++) sym_expr(t, n->list[i]);
    for (size_t i = 0; i < n->n2; i++) sym_expr(t, n->list2[i]);
}

static void defer_frame(symtab *t, jnode *body, const char *const *params, size_t nparams, const jnode *filter) {
    if (!body) return;
    symjob *j = jalloc(t->a, t->e, sizeof *j);
    j->body = body;
    j->params = params;
    j->nparams = nparams;
    j->filter = filter;
    j->next = *t->jobs;
    *t->jobs = j;
}

/* jinja2's branch_update: take the branches' references; a name first stored inside a branch
 * starts from the enclosing value (whether or not every branch stores it) */
static void sym_branch_merge(symtab *t, symtab br[3]) {
    for (int b = 0; b < 3; b++)
        for (size_t i = 0; i < br[b].n; i++) sym_define(t, br[b].names[i], br[b].state[i]);
    for (int b = 0; b < 3; b++)
        for (size_t i = 0; i < br[b].ns; i++) {
            const char *name = br[b].stores[i];
            if (sym_stored(t, name)) continue;
            sym_define(t, name, sym_find_ref(t->parent, name) ? REF_ALIAS : REF_RESOLVE);
        }
    for (int b = 0; b < 3; b++)
        for (size_t i = 0; i < br[b].ns; i++) sym_add_store(t, br[b].stores[i]);
}

static void sym_stmt(symtab *t, const jnode *n) {
    switch (n->kind) {
    case JN_BODY: for (size_t i = 0; i < n->n; i++) sym_stmt(t, n->list[i]); return;
    case JN_TEXT: case JN_BREAK: case JN_CONTINUE: return;
    case JN_OUT: sym_expr(t, n->a); return;
    case JN_SET:
        sym_expr(t, n->a);
        for (size_t i = 0; i < n->nnames; i++) sym_store(t, n->names[i]);
        return;
    case JN_SETATTR: sym_expr(t, n->a); sym_load(t, n->name); return;
    case JN_SETBLOCK:
        defer_frame(t, n->b, NULL, 0, NULL);
        sym_expr(t, n->a);
        sym_store(t, n->names[0]);
        return;
    case JN_MACRO:
        for (size_t i = 0; i < n->n2; i++) sym_expr(t, n->list2[i]);
        sym_store(t, n->name);
        defer_frame(t, n->a, n->names, n->nnames, NULL);
        return;
    case JN_CALLBLOCK:
        sym_expr(t, n->b);
        defer_frame(t, n->a, n->names, n->nnames, NULL);
        return;
    case JN_FILTERBLOCK:
        sym_expr(t, n->a);
        defer_frame(t, n->b, NULL, 0, NULL);
        return;
    case JN_FOR: {
        sym_expr(t, n->a);
        /* the loop body (with its filter) is a frame of its own; targets and 'loop' are its parameters */
        const char **params = jalloc(t->a, t->e, (n->nnames + 1) * sizeof *params);
        for (size_t i = 0; i < n->nnames; i++) params[i] = n->names[i];
        params[n->nnames] = "loop";
        defer_frame(t, n->c, params, n->nnames + 1, n->b);
        defer_frame(t, n->d, NULL, 0, NULL);
        return;
    }
    case JN_IF: {
        /* jinja2: branches are the body, all elifs together (each an if of its own), the else */
        sym_expr(t, n->a);
        symtab br[3];
        br[0] = sym_copy(t);
        sym_stmt(&br[0], n->b);
        br[1] = sym_copy(t);
        const jnode *x = n->c;
        for (; x && x->kind == JN_IF; x = x->c) {
            sym_expr(&br[1], x->a);
            symtab eb[3] = {sym_copy(&br[1]), sym_copy(&br[1]), sym_copy(&br[1])};
            sym_stmt(&eb[0], x->b);
            sym_branch_merge(&br[1], eb);
        }
        br[2] = sym_copy(t);
        if (x) sym_stmt(&br[2], x);
        sym_branch_merge(t, br);
        return;
    }
    default: sym_expr(t, n); return;
    }
}

static void analyze_frame(jarena *a, jerr *e, jnode *body, symtab *parent, const char *const *params, size_t nparams,
                          const jnode *filter) {
    if (!body || body->kind != JN_BODY) return;
    symjob *jobs = NULL;
    symtab t = {.parent = parent, .a = a, .e = e, .jobs = &jobs};
    for (size_t i = 0; i < nparams; i++) sym_define(&t, params[i], REF_ALIAS);
    if (filter) sym_expr(&t, filter);
    for (size_t i = 0; i < body->n; i++) sym_stmt(&t, body->list[i]);
    size_t k = 0;
    for (size_t i = 0; i < t.n; i++) k += t.state[i] == REF_UNDEF;
    if (k) {
        body->names = jalloc(a, e, k * sizeof *body->names);
        for (size_t i = 0; i < t.n; i++)
            if (t.state[i] == REF_UNDEF) body->names[body->nnames++] = t.names[i];
    }
    /* inner frames see this frame's complete symbols; the list is LIFO, so reverse it first */
    symjob *rev = NULL;
    while (jobs) { symjob *nx = jobs->next; jobs->next = rev; rev = jobs; jobs = nx; }
    for (symjob *j = rev; j; j = j->next) analyze_frame(a, e, j->body, &t, j->params, j->nparams, j->filter);
}

/* jinja2 reports an unknown filter or test when it compiles the template, except inside an
 * if-statement or a conditional expression (a "soft" frame), where the error waits until the
 * filter is used; a for body, macro, set or filter block starts a new, hard frame. */
static void check_names(jerr *e, const jnode *n, bool soft) {
    if (!n) return;
    if ((n->kind == JN_FILTER || n->kind == JN_TEST) && n->op < 0 && !soft)
        jfail(e, n->line, n->col, "No %s named '%s'.", n->kind == JN_FILTER ? "filter" : "test", n->name);
    switch (n->kind) {
    case JN_IF: soft = true; break;
    case JN_COND: soft = true; break;
    case JN_FOR:
        check_names(e, n->a, soft);
        check_names(e, n->b, false);
        check_names(e, n->c, false);
        check_names(e, n->d, false);
        return;
    case JN_MACRO: case JN_SETBLOCK: case JN_FILTERBLOCK: case JN_CALLBLOCK:
        if (n->kind == JN_CALLBLOCK) check_names(e, n->b, soft);
        else if (n->kind == JN_SETBLOCK || n->kind == JN_FILTERBLOCK) check_names(e, n->a, false);
        check_names(e, n->kind == JN_MACRO ? n->a : n->kind == JN_CALLBLOCK ? n->a : n->b, false);
        for (size_t i = 0; i < n->n2; i++) check_names(e, n->list2[i], false);
        return;
    default: break;
    }
    check_names(e, n->a, soft);
    check_names(e, n->b, soft);
    check_names(e, n->c, soft);
    check_names(e, n->d, soft);
    for (size_t i = 0; i < n->n; i++) check_names(e, n->list[i], soft);
    for (size_t i = 0; i < n->n2; i++) check_names(e, n->list2[i], soft);
}

jnode *jparse(jarena *a, jerr *e, const char *src, size_t len) {
    /* normalize newlines (\r\n, \r -> \n) and drop one trailing newline, as jinja2 does */
    char *s = jalloc(a, e, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;
    lexer L = {.a = a, .e = e, .src = s, .len = n, .cur_line = 1, .cur_col = 1};
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    L.line_starts = jalloc(a, e, lines * sizeof(size_t));
    L.line_starts[0] = 0;
    L.nlines = 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n') L.line_starts[L.nlines++] = i + 1;
    lex(&L);
    parser P = {.L = &L};
    jnode *root = parse_body(&P, NULL, NULL);
    check_names(e, root, false);
    analyze_frame(a, e, root, NULL, NULL, 0, NULL);
    return root;
}
