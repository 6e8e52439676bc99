/* GSM8K and MATH answer extraction (see answer.h). The regex behaviour of the Python reference
 * is reproduced by hand, backtracking included, and commented where it is surprising. */
#include "eval/answer.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "eval/strbuf.h"

/* ---------------------------------------------------------------- GSM8K */

static bool is_num_char(char c) { return (c >= '0' && c <= '9') || c == '.' || c == ','; }
static bool is_flex_char(char c) { return is_num_char(c) || c == '$'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Python str.strip() for the ASCII whitespace that can surround an extraction */
static char *strip_dup(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return afm_strndup(s, n);
}

/* `The answer is (\-?[0-9\.\,]+).` — the final "." is any character but a newline, so the
 * greedy group gives back its last character when nothing follows it. */
char *afm_gsm8k_extract_strict(const char *r) {
    static const char key[] = "The answer is ";
    for (const char *p = strstr(r, key); p; p = strstr(p + 1, key)) {
        const char *g = p + sizeof key - 1;
        for (int with_minus = (*g == '-'); with_minus >= 0; with_minus--) {
            const char *start = g + (with_minus ? 1 : 0);
            size_t run = 0;
            while (is_num_char(start[run])) run++;
            if (run == 0) continue;
            char after = start[run];
            if (after != '\0' && after != '\n') return strip_dup(g, (size_t)(start - g) + run);
            if (run >= 2) return strip_dup(g, (size_t)(start - g) + run - 1);
        }
    }
    return NULL;
}

/* findall over `(-?[$0-9.,]{2,})|(-?[0-9]+)`, keeping the last match */
char *afm_gsm8k_extract_flexible(const char *r) {
    const char *best = NULL;
    size_t best_n = 0;
    size_t i = 0, n = strlen(r);
    while (i < n) {
        /* alternative 1 with or without the '-'; then alternative 2 ('-' is not in the class) */
        size_t len = 0;
        size_t s = i + (r[i] == '-' ? 1 : 0);
        size_t run = 0;
        while (is_flex_char(r[s + run])) run++;
        if (run >= 2) {
            len = s - i + run;
        } else {
            size_t d = 0;
            while (is_digit(r[s + d])) d++;
            if (d >= 1) len = s - i + d;
        }
        if (len) { best = r + i; best_n = len; i += len; }
        else i++;
    }
    return best ? strip_dup(best, best_n) : NULL;
}

char *afm_gsm8k_reference(const char *a) {
    const char *p = a, *hit;
    while ((hit = strstr(p, "####"))) p = hit + 4;
    return strip_dup(p, strlen(p));
}

/* regexes_to_ignore in order: ",", "\$", "(?s).*#### " (greedy: through the last "#### "),
 * "\.$" (a final ".", or one before a final newline), then lowercase */
static char *gsm8k_clean(const char *s) {
    afm_strbuf b;
    afm_sb_init(&b);
    for (const char *p = s; *p; p++) if (*p != ',' && *p != '$') afm_sb_append(&b, p, 1);
    char *t = afm_sb_take(&b);
    if (!t) return NULL;
    char *last = NULL, *h = t;
    while ((h = strstr(h, "#### "))) { last = h; h++; }
    if (last) memmove(t, last + 5, strlen(last + 5) + 1);
    size_t n = strlen(t);
    if (n >= 1 && t[n - 1] == '.') memmove(t + n - 1, t + n, 1);
    else if (n >= 2 && t[n - 1] == '\n' && t[n - 2] == '.') memmove(t + n - 2, t + n - 1, 2);
    for (char *p = t; *p; p++) *p = (char)tolower((unsigned char)*p);
    return t;
}

bool afm_gsm8k_match(const char *pred, const char *ref) {
    if (!pred || !ref) return false;
    char *a = gsm8k_clean(pred), *b = gsm8k_clean(ref);
    bool eq = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    return eq;
}

/* ---------------------------------------------------------------- MATH */

char *afm_math_last_boxed(const char *s) {
    /* a "\boxed " (with a space) anywhere wins: the text after its last occurrence up to "$" */
    const char *sp = NULL, *h = s;
    while ((h = strstr(h, "\\boxed "))) { sp = h; h++; }
    if (sp) {
        const char *t = sp + 7;
        size_t n = strcspn(t, "$");
        afm_strbuf b;
        afm_sb_init(&b);
        afm_sb_puts(&b, "\\boxed ");
        afm_sb_append(&b, t, n);
        return afm_sb_take(&b);
    }
    const char *idx = NULL;
    for (h = s; (h = strstr(h, "\\boxed")); h++) idx = h;
    if (!idx) for (h = s; (h = strstr(h, "\\fbox")); h++) idx = h;
    if (!idx) return NULL;
    int open = 0;
    for (const char *p = idx; *p; p++) {
        if (*p == '{') open++;
        if (*p == '}' && --open == 0) return afm_strndup(idx, (size_t)(p - idx + 1));
    }
    return NULL;
}

char *afm_math_remove_boxed(const char *b) {
    if (!b) return NULL;
    if (strstr(b, "\\boxed ")) return strncmp(b, "\\boxed ", 7) == 0 ? afm_strndup(b + 7, strlen(b + 7)) : NULL;
    size_t n = strlen(b);
    /* \fbox{...} is accepted too (the Python asserts on it) */
    const char *pre = strncmp(b, "\\boxed{", 7) == 0 ? "\\boxed{" : strncmp(b, "\\fbox{", 6) == 0 ? "\\fbox{" : NULL;
    if (!pre || n < strlen(pre) + 1 || b[n - 1] != '}') return NULL;
    return afm_strndup(b + strlen(pre), n - strlen(pre) - 1);
}

char *afm_math_extract(const char *r) {
    char *boxed = afm_math_last_boxed(r);
    char *inner = afm_math_remove_boxed(boxed);
    free(boxed);
    if (inner) return inner;
    const char *first = strchr(r, '$'), *last = strrchr(r, '$');
    if (first && last > first) return afm_strndup(first + 1, (size_t)(last - first - 1));
    return afm_strndup(r, strlen(r));
}

/* length in bytes of the UTF-8 character starting with byte c (Python indexes code points) */
static size_t u8len(unsigned char c) { return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }
/* the same, clamped to the n - i bytes left, so a truncated or invalid sequence never reads past n */
static size_t u8len_in(const char *s, size_t i, size_t n) {
    size_t l = u8len((unsigned char)s[i]);
    return l < n - i ? l : n - i;
}
static size_t u8count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i += u8len_in(s, i, n)) k++;
    return k;
}

/* replaces *s by afm_str_replace(*s, from, to) */
static bool repl(char **s, const char *from, const char *to) {
    char *t = afm_str_replace(*s, from, to);
    free(*s);
    *s = t;
    return t != NULL;
}

static size_t count_occ(const char *s, const char *pat) {
    size_t k = 0, pl = strlen(pat);
    for (const char *h = s; (h = strstr(h, pat)); h += pl) k++;
    return k;
}

typedef enum { ST_OK, ST_RAISE } step_status;

/* \sqrt3 -> \sqrt{3}: the first character after each \sqrt gets braces unless it is "{" */
static step_status fix_sqrt(char **s) {
    if (!strstr(*s, "\\sqrt")) return ST_OK;
    afm_strbuf b;
    afm_sb_init(&b);
    const char *p = *s, *h = strstr(p, "\\sqrt");
    afm_sb_append(&b, p, (size_t)(h - p));
    while (h) {
        const char *part = h + 5, *next = strstr(part, "\\sqrt");
        size_t len = next ? (size_t)(next - part) : strlen(part);
        if (len == 0) { afm_sb_free(&b); return ST_RAISE; } /* split[0] on "" */
        if (part[0] != '{') {
            size_t cl = u8len((unsigned char)part[0]);
            if (cl > len) cl = len;
            afm_sb_puts(&b, "\\sqrt{");
            afm_sb_append(&b, part, cl);
            afm_sb_puts(&b, "}");
            afm_sb_append(&b, part + cl, len - cl);
        } else {
            afm_sb_puts(&b, "\\sqrt");
            afm_sb_append(&b, part, len);
        }
        h = next;
    }
    free(*s);
    *s = afm_sb_take(&b);
    return ST_OK;
}

/* \frac12 -> \frac{1}{2}, \frac1{72} -> \frac{1}{72}; a part shorter than 2 characters makes
 * the whole step return its input unchanged */
static step_status fix_fracs(char **s) {
    const char *p = *s, *h = strstr(p, "\\frac");
    if (!h) return ST_OK;
    afm_strbuf b;
    afm_sb_init(&b);
    afm_sb_append(&b, p, (size_t)(h - p));
    while (h) {
        const char *part = h + 5, *next = strstr(part, "\\frac");
        size_t len = next ? (size_t)(next - part) : strlen(part);
        afm_sb_puts(&b, "\\frac");
        if (len == 0) { afm_sb_free(&b); return ST_RAISE; }
        if (part[0] == '{') {
            afm_sb_append(&b, part, len);
        } else {
            if (u8count(part, len) < 2) { afm_sb_free(&b); return ST_OK; }
            size_t al = u8len_in(part, 0, len); /* u8count >= 2 leaves at least one byte after a */
            size_t bl = u8len_in(part, al, len);
            const char *a = part, *c = part + al, *post = part + al + bl;
            size_t post_n = len - al - bl;
            afm_sb_puts(&b, "{");
            afm_sb_append(&b, a, al);
            if (!(bl == 1 && *c == '{')) {
                afm_sb_puts(&b, "}{");
                afm_sb_append(&b, c, bl);
                afm_sb_puts(&b, "}");
            } else {
                afm_sb_puts(&b, "}");
                afm_sb_append(&b, c, bl);
            }
            afm_sb_append(&b, post, post_n);
        }
        h = next;
    }
    free(*s);
    *s = afm_sb_take(&b);
    return ST_OK;
}

/* Python int(x): surrounding whitespace, optional sign, digits with single "_" between them.
 * Returns 0 if int() raises, 1 if valid, 2 if valid and already in canonical form str(int(x)). */
static int py_int(const char *s, size_t n) {
    size_t i = 0, e = n;
    while (i < e && isspace((unsigned char)s[i])) i++;
    while (e > i && isspace((unsigned char)s[e - 1])) e--;
    bool trimmed = i > 0 || e < n;
    size_t start = i;
    bool plus = false;
    if (i < e && (s[i] == '+' || s[i] == '-')) { plus = s[i] == '+'; i++; }
    size_t digits_start = i;
    if (i >= e || !is_digit(s[i])) return 0;
    bool underscore = false;
    for (; i < e; i++) {
        if (is_digit(s[i])) continue;
        if (s[i] == '_' && i + 1 < e && is_digit(s[i + 1]) && is_digit(s[i - 1])) { underscore = true; continue; }
        return 0;
    }
    bool leading_zero = s[digits_start] == '0' && e - digits_start > 1;
    bool neg_zero = s[start] == '-' && e - digits_start == 1 && s[digits_start] == '0';
    return (trimmed || plus || underscore || leading_zero || neg_zero) ? 1 : 2;
}

/* "a/b" with canonical integers -> \frac{a}{b}; a non-integer side raises (int() ValueError) */
static step_status fix_a_slash_b(char **s) {
    if (count_occ(*s, "/") != 1) return ST_OK;
    const char *slash = strchr(*s, '/');
    int a = py_int(*s, (size_t)(slash - *s)), b = py_int(slash + 1, strlen(slash + 1));
    if (a == 0 || b == 0) return ST_RAISE;
    if (a == 2 && b == 2) {
        afm_strbuf sb;
        afm_sb_init(&sb);
        afm_sb_puts(&sb, "\\frac{");
        afm_sb_append(&sb, *s, (size_t)(slash - *s));
        afm_sb_puts(&sb, "}{");
        afm_sb_puts(&sb, slash + 1);
        afm_sb_puts(&sb, "}");
        free(*s);
        *s = afm_sb_take(&sb);
    }
    return ST_OK;
}

char *afm_math_strip_string(const char *in) {
    char *s = afm_strndup(in, strlen(in));
    static const char *const rep[][2] = {
        {"\n", ""}, {"\\!", ""}, {"\\\\", "\\"}, {"tfrac", "frac"}, {"dfrac", "frac"}, {"\\left", ""},
        {"\\right", ""}, {"^{\\circ}", ""}, {"^\\circ", ""}, {"\\$", ""},
    };
    for (size_t i = 0; s && i < sizeof rep / sizeof rep[0]; i++) repl(&s, rep[i][0], rep[i][1]);
    if (!s) return NULL;
    /* units on the right: "\text{ " must occur exactly once (the Python asserts) */
    size_t units = count_occ(s, "\\text{ ");
    if (units > 1) { free(s); return NULL; }
    if (units == 1) *strstr(s, "\\text{ ") = '\0';
    if (!repl(&s, "\\%", "") || !repl(&s, " .", " 0.") || !repl(&s, "{.", "{0.")) return NULL;
    if (!*s) return s;
    if (s[0] == '.') {
        char *t = malloc(strlen(s) + 2);
        if (!t) { free(s); return NULL; }
        t[0] = '0';
        strcpy(t + 1, s);
        free(s);
        s = t;
    }
    if (count_occ(s, "=") == 1) {
        char *eq = strchr(s, '=');
        if (u8count(s, (size_t)(eq - s)) <= 2) memmove(s, eq + 1, strlen(eq + 1) + 1);
    }
    if (fix_sqrt(&s) == ST_RAISE || !s) { free(s); return NULL; }
    if (!repl(&s, " ", "")) return NULL;
    if (fix_fracs(&s) == ST_RAISE || !s) { free(s); return NULL; }
    if (strcmp(s, "0.5") == 0) { free(s); s = afm_strndup("\\frac{1}{2}", 11); if (!s) return NULL; }
    if (fix_a_slash_b(&s) == ST_RAISE || !s) { free(s); return NULL; }
    return s;
}

bool afm_math_equiv_hendrycks(const char *a, const char *b) {
    if (!a || !b) return false;
    char *x = afm_math_strip_string(a), *y = afm_math_strip_string(b);
    bool eq = (x && y) ? strcmp(x, y) == 0 : strcmp(a, b) == 0;
    free(x);
    free(y);
    return eq;
}

/* ---- extension: value comparison ---- */

/* removes \text{..}, \textbf{..}, \mbox{..}, \mathrm{..} wrappers (keeping their content) */
static void unwrap_text(char *s) {
    static const char *const wrappers[] = {"\\text{", "\\textbf{", "\\mbox{", "\\mathrm{"};
    for (size_t w = 0; w < sizeof wrappers / sizeof wrappers[0]; w++) {
        size_t wl = strlen(wrappers[w]);
        char *h;
        while ((h = strstr(s, wrappers[w]))) {
            int depth = 1;
            char *p = h + wl;
            while (*p && depth) { if (*p == '{') depth++; else if (*p == '}') depth--; if (depth) p++; }
            if (*p == '}') memmove(p, p + 1, strlen(p + 1) + 1);
            memmove(h, h + wl, strlen(h + wl) + 1);
        }
    }
}

/* parses a plain number ("-1,234.50", "3.0"), \frac{a}{b} or a/b (either signed); false if not one */
static bool parse_value(const char *s, double *v) {
    while (*s == ' ') s++;
    double sign = 1;
    if (*s == '-') { sign = -1; s++; }
    if (strncmp(s, "\\frac{", 6) == 0) {
        char *end;
        double num = strtod(s + 6, &end);
        if (end == s + 6 || strncmp(end, "}{", 2) != 0) return false;
        const char *d = end + 2;
        double den = strtod(d, &end);
        if (end == d || strcmp(end, "}") != 0 || den == 0) return false;
        *v = sign * num / den;
        return true;
    }
    /* digits with optional thousands commas, optional decimals */
    char buf[128];
    size_t k = 0;
    for (const char *p = s; *p; p++) {
        if (*p == ',') {
            if (!(p > s && is_digit(p[-1]) && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && !is_digit(p[4]))) return false;
            continue;
        }
        if (!(is_digit(*p) || *p == '.' || *p == '/')) return false;
        if (k + 1 >= sizeof buf) return false;
        buf[k++] = *p;
    }
    buf[k] = '\0';
    if (k == 0 || (!is_digit(buf[0]) && buf[0] != '.')) return false;
    char *slash = strchr(buf, '/'), *end;
    if (slash) {
        *slash = '\0';
        double num = strtod(buf, &end);
        if (*end) return false;
        const char *d = slash + 1;
        if (*d == '-') { sign = -sign; d++; }
        double den = strtod(d, &end);
        if (end == d || *end || den == 0) return false;
        *v = sign * num / den;
        return true;
    }
    double x = strtod(buf, &end);
    if (*end) return false;
    *v = sign * x;
    return true;
}

/* extended normalization: strip_string, text wrappers and "$" removed, trailing "." and unit
 * words after a number dropped */
static char *normalize_ext(const char *a) {
    char *s = afm_math_strip_string(a);
    if (!s) s = afm_strndup(a, strlen(a));
    if (!s) return NULL;
    unwrap_text(s);
    char *w = s;
    for (char *p = s; *p; p++) if (*p != '$' && *p != ' ' && !(p[0] == '\\' && p[1] == ',')) *w++ = *p; else if (*p == '\\') p++;
    *w = '\0';
    size_t n = strlen(s);
    while (n && s[n - 1] == '.') s[--n] = '\0';
    /* "12dollars", "5cm", "3^2units": drop trailing letters after a number */
    size_t e = n;
    while (e && isalpha((unsigned char)s[e - 1])) e--;
    if (e < n && e > 0 && is_digit(s[e - 1])) s[e] = '\0';
    return s;
}

bool afm_math_equiv(const char *a, const char *b) {
    if (!a || !b) return false;
    if (afm_math_equiv_hendrycks(a, b)) return true;
    char *x = normalize_ext(a), *y = normalize_ext(b);
    bool eq = false;
    if (x && y) {
        double u, v;
        if (strcmp(x, y) == 0) eq = true;
        else if (parse_value(x, &u) && parse_value(y, &v))
            eq = fabs(u - v) <= 1e-9 * fmax(1.0, fmax(fabs(u), fabs(v)));
    }
    free(x);
    free(y);
    return eq;
}
