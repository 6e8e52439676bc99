/* Python's tokenizer for expressions: see pyexpr_lex.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "eval/pyexpr_lex.h"
#include "eval/text.h"
#include "tokenizer/unicode.h"

const char *const afm_py_keywords[] = {"False", "None", "True", "and", "as", "assert", "async", "await",
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

bool afm_py_lex(lexer *L) {
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
