/* IFEval instruction checkers (see ifeval.h). Each comment quotes the official rule; where the
 * official code uses a Python regex, the scan below reproduces that regex's matches. */
#include "eval/ifeval.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/strbuf.h"
#include "eval/text.h"

static const char *const k_types[] = {
    "keywords:existence", "keywords:frequency", "keywords:forbidden_words", "keywords:letter_frequency",
    "language:response_language", "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "length_constraints:number_words", "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders", "detectable_content:postscript",
    "detectable_format:number_bullet_lists", "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections", "detectable_format:multiple_sections",
    "detectable_format:json_format", "detectable_format:title", "combination:two_responses",
    "combination:repeat_prompt", "startend:end_checker", "change_case:capital_word_frequency",
    "change_case:english_capital", "change_case:english_lowercase", "punctuation:no_comma", "startend:quotation",
};

size_t afm_ifeval_n_types(void) { return sizeof k_types / sizeof k_types[0]; }
const char *afm_ifeval_type(size_t i) { return i < afm_ifeval_n_types() ? k_types[i] : NULL; }

/* ---- small text helpers ---- */

/* code point ending just before byte p (0 at the start) */
static uint32_t cp_before(const char *s, size_t p) {
    if (p == 0) return 0;
    size_t b = p - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80 && p - b < 4) b--;
    size_t l;
    uint32_t c = afm_u8_decode(s + b, p - b, &l);
    return b + l == p ? c : 0xFFFD;
}
static uint32_t cp_at(const char *s, size_t n, size_t p) {
    if (p >= n) return 0;
    size_t l;
    return afm_u8_decode(s + p, n - p, &l);
}
static bool word_at(const char *s, size_t n, size_t p) { return p < n && afm_py_isword(cp_at(s, n, p)); }
static bool word_before(const char *s, size_t p) { return p > 0 && afm_py_isword(cp_before(s, p)); }
/* regex \b at byte p */
static bool boundary(const char *s, size_t n, size_t p) { return word_before(s, p) != word_at(s, n, p); }

static size_t space_len(const char *s, size_t n, size_t p) {
    if (p >= n) return 0;
    size_t l;
    uint32_t c = afm_u8_decode(s + p, n - p, &l);
    return afm_py_isspace(c) ? l : 0;
}

static const char *kw_str(const cJSON *kw, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(kw, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}
/* the official code drops falsy kwargs (0, "", null) before use */
static bool kw_int(const cJSON *kw, const char *k, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(kw, k);
    if (!cJSON_IsNumber(v) || v->valuedouble == 0) return false;
    *out = (long)v->valuedouble;
    return true;
}
static bool less_than(const cJSON *kw, const char *k) {
    const char *r = kw_str(kw, k);
    return r && strcmp(r, "less than") == 0;
}
static bool relation_ok(const cJSON *kw, const char *k) {
    const char *r = kw_str(kw, k);
    return r && (strcmp(r, "less than") == 0 || strcmp(r, "at least") == 0);
}

/* non-overlapping occurrences of `pat` in `s` (both already lowercased) */
static size_t count_occurrences(const char *s, const char *pat) {
    size_t k = 0, pl = strlen(pat);
    if (!pl) return 0;
    for (const char *h = s; (h = strstr(h, pat)); h += pl) k++;
    return k;
}

/* ---- the checkers: each returns follows; *bad set on a missing argument ---- */

typedef struct ctx { const char *s; size_t n; const cJSON *kw; const char *prompt; const char *err; } ctx;

/* re.search(keyword, value, IGNORECASE) for every keyword */
static bool chk_existence(ctx *c) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c->kw, "keywords"), *e;
    if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr)) { c->err = "keywords"; return false; }
    char *low = afm_py_lower_str(c->s, c->n);
    bool ok = low != NULL;
    cJSON_ArrayForEach(e, arr) {
        if (!ok) break;
        if (!cJSON_IsString(e)) continue;
        char *k = afm_py_lower_str(e->valuestring, strlen(e->valuestring));
        if (!k || !strstr(low, k)) ok = false;
        free(k);
    }
    free(low);
    return ok;
}

/* len(re.findall(keyword, value, IGNORECASE)) < or >= frequency */
static bool chk_frequency(ctx *c) {
    const char *kwd = kw_str(c->kw, "keyword");
    long f;
    if (!kwd || !kw_int(c->kw, "frequency", &f) || !relation_ok(c->kw, "relation")) { c->err = "keyword/frequency/relation"; return false; }
    size_t ks, ke;
    afm_py_strip(kwd, strlen(kwd), &ks, &ke);
    char *low = afm_py_lower_str(c->s, c->n), *k = afm_py_lower_str(kwd + ks, ke - ks);
    long occ = (low && k) ? (long)count_occurrences(low, k) : 0;
    free(low);
    free(k);
    return less_than(c->kw, "relation") ? occ < f : occ >= f;
}

/* no re.search(r"\b" + word + r"\b", value, IGNORECASE) */
static bool chk_forbidden(ctx *c) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c->kw, "forbidden_words"), *e;
    if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr)) { c->err = "forbidden_words"; return false; }
    char *low = afm_py_lower_str(c->s, c->n);
    if (!low) return false;
    size_t ln = strlen(low);
    bool ok = true;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsString(e) || !ok) continue;
        char *w = afm_py_lower_str(e->valuestring, strlen(e->valuestring));
        if (!w) continue;
        size_t wl = strlen(w);
        for (const char *h = low; wl && (h = strstr(h, w)); h++) {
            size_t p = (size_t)(h - low);
            if (boundary(low, ln, p) && boundary(low, ln, p + wl)) { ok = false; break; }
        }
        free(w);
    }
    free(low);
    return ok;
}

/* collections.Counter(value.lower())[letter] < or >= let_frequency */
static bool chk_letter(ctx *c) {
    const char *l = kw_str(c->kw, "letter");
    long f;
    if (!l || !kw_int(c->kw, "let_frequency", &f) || !relation_ok(c->kw, "let_relation")) { c->err = "letter/let_frequency/let_relation"; return false; }
    /* the official code replaces a letter outside a-z by a random one; afm counts it as given */
    char *ll = afm_py_lower_str(l, strlen(l));
    char *low = afm_py_lower_str(c->s, c->n);
    long k = 0;
    if (ll && low && ll[0]) {
        size_t cl;
        afm_u8_decode(ll, strlen(ll), &cl);
        for (size_t i = 0, n = strlen(low); i + cl <= n; ) {
            size_t l2;
            afm_u8_decode(low + i, n - i, &l2);
            if (l2 == cl && memcmp(low + i, ll, cl) == 0) k++;
            i += l2;
        }
    }
    free(ll);
    free(low);
    return less_than(c->kw, "let_relation") ? k < f : k >= f;
}

static bool chk_language(ctx *c) {
    const char *lang = kw_str(c->kw, "language");
    if (!lang) { c->err = "language"; return false; }
    const char *got = afm_ifeval_detect_language(c->s, c->n);
    /* langdetect raising (no letters at all) counts as following */
    return !got[0] || strcmp(got, lang) == 0;
}

static bool chk_sentences(ctx *c) {
    long k;
    if (!kw_int(c->kw, "num_sentences", &k) || !relation_ok(c->kw, "relation")) { c->err = "num_sentences/relation"; return false; }
    long got = (long)afm_ifeval_count_sentences(c->s, c->n);
    return less_than(c->kw, "relation") ? got < k : got >= k;
}

/* a blank piece: piece.strip() == "" */
static bool blank(const char *s, size_t n) {
    size_t a, b;
    afm_py_strip(s, n, &a, &b);
    return a == b;
}

/* re.split(r"\s?\*\*\*\s?", value); empty pieces allowed only first and last; count == N */
static bool chk_paragraphs(ctx *c) {
    long want;
    if (!kw_int(c->kw, "num_paragraphs", &want)) { c->err = "num_paragraphs"; return false; }
    const char *s = c->s;
    size_t n = c->n;
    /* pieces between matches */
    size_t starts[4096], ends[4096], np = 0, piece = 0;
    for (size_t i = 0; i < n && np < 4095;) {
        size_t sl = space_len(s, n, i), m = 0;
        if (sl && i + sl + 3 <= n && !memcmp(s + i + sl, "***", 3)) m = sl + 3;
        else if (i + 3 <= n && !memcmp(s + i, "***", 3)) m = 3;
        if (!m) { i++; continue; }
        starts[np] = piece;
        ends[np++] = i;
        size_t e = i + m;
        e += space_len(s, n, e);
        piece = i = e;
    }
    starts[np] = piece;
    ends[np++] = n;
    long count = (long)np;
    for (size_t k = 0; k < np; k++) {
        if (blank(s + starts[k], ends[k] - starts[k])) {
            if (k == 0 || k == np - 1) count--;
            else return false;
        }
    }
    return count == want;
}

/* len(re.findall(r"\w+", value)) < or >= num_words */
static bool chk_words(ctx *c) {
    long want;
    if (!kw_int(c->kw, "num_words", &want) || !relation_ok(c->kw, "relation")) { c->err = "num_words/relation"; return false; }
    long k = 0;
    bool in = false;
    for (size_t i = 0; i < c->n;) {
        size_t l;
        bool w = afm_py_isword(afm_u8_decode(c->s + i, c->n - i, &l));
        if (w && !in) k++;
        in = w;
        i += l;
    }
    return less_than(c->kw, "relation") ? k < want : k >= want;
}

/* paragraphs = re.split(r"\n\n"); blank ones are not counted; the nth (1-based, in the
 * unfiltered list) must be non-blank and start with first_word (lowercased, cut at . , ? ! ' ")
 * and the count must equal num_paragraphs */
static bool chk_nth_first_word(ctx *c) {
    long want, nth;
    const char *fw = kw_str(c->kw, "first_word");
    if (!kw_int(c->kw, "num_paragraphs", &want) || !kw_int(c->kw, "nth_paragraph", &nth) || !fw) { c->err = "num_paragraphs/nth_paragraph/first_word"; return false; }
    if (nth <= 0 || nth > want) { c->err = "nth_paragraph out of range"; return false; }
    const char *s = c->s;
    size_t n = c->n;
    size_t np = 0, count = 0, nth_s = 0, nth_e = 0;
    bool have_nth = false;
    for (size_t start = 0;;) {
        const char *h = NULL;
        for (size_t i = start; i + 1 < n; i++) if (s[i] == '\n' && s[i + 1] == '\n') { h = s + i; break; }
        size_t end = h ? (size_t)(h - s) : n;
        np++;
        if (!blank(s + start, end - start)) count++;
        if ((long)np == nth) { nth_s = start; nth_e = end; have_nth = true; }
        if (!h) break;
        start = end + 2;
    }
    if (!(nth <= (long)count) || !have_nth) return false;
    size_t a, b;
    afm_py_strip(s + nth_s, nth_e - nth_s, &a, &b);
    if (a == b) return false;
    const char *p = s + nth_s + a, *e = s + nth_s + b;
    /* first whitespace-separated word, lstrip("'") then lstrip('"') */
    const char *we = p;
    while (we < e && !space_len(we, (size_t)(e - we), 0)) we++;
    while (p < we && *p == '\'') p++;
    while (p < we && *p == '"') p++;
    afm_strbuf w;
    afm_sb_init(&w);
    for (const char *q = p; q < we;) {
        if (strchr(".,?!'\"", *q) && *q) break;
        size_t l;
        uint32_t cp = afm_u8_decode(q, (size_t)(we - q), &l);
        char buf[4];
        afm_sb_append(&w, buf, afm_u8_encode(afm_py_lower(cp), buf));
        q += l;
    }
    char *got = afm_sb_take(&w);
    char *want_w = afm_py_lower_str(fw, strlen(fw));
    bool ok = got && want_w && (long)count == want && strcmp(got, want_w) == 0;
    free(got);
    free(want_w);
    return ok;
}

/* len(re.findall(r"\[.*?\]", value)) >= num_placeholders */
static bool chk_placeholders(ctx *c) {
    long want;
    if (!kw_int(c->kw, "num_placeholders", &want)) { c->err = "num_placeholders"; return false; }
    long k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->s[i] != '[') continue;
        size_t j = i + 1;
        while (j < c->n && c->s[j] != ']' && c->s[j] != '\n') j++;
        if (j < c->n && c->s[j] == ']') { k++; i = j; }
    }
    return k >= want;
}

/* lowercased value contains p\.\s?p\.\s?s (P.P.S), p\.\s?s\. (P.S.), or the marker lowercased */
static bool match_ps(const char *s, size_t n, size_t i, const char *pat) {
    /* pat: literal chars, with '~' meaning \s? */
    for (const char *p = pat; *p; p++) {
        if (*p == '~') { i += space_len(s, n, i); continue; }
        if (i >= n || s[i] != *p) return false;
        i++;
    }
    return true;
}
static bool chk_postscript(ctx *c) {
    const char *m = kw_str(c->kw, "postscript_marker");
    if (!m) { c->err = "postscript_marker"; return false; }
    char *low = afm_py_lower_str(c->s, c->n);
    if (!low) return false;
    size_t n = strlen(low);
    bool ok = false;
    size_t ms, me;
    afm_py_strip(m, strlen(m), &ms, &me);
    char *mm = afm_strndup(m + ms, me - ms);
    if (mm && !strcmp(mm, "P.P.S")) {
        for (size_t i = 0; i < n && !ok; i++) ok = match_ps(low, n, i, "p.~p.~s");
    } else if (mm && !strcmp(mm, "P.S.")) {
        for (size_t i = 0; i < n && !ok; i++) ok = match_ps(low, n, i, "p.~s.");
    } else if (mm) {
        char *ml = afm_py_lower_str(mm, strlen(mm));
        ok = ml && strstr(low, ml);
        free(ml);
    }
    /* \s?-flexible patterns may also tolerate a missing optional space: match_ps tries with the
     * space consumed only when present, which is what \s? does for a literal that follows */
    free(mm);
    free(low);
    return ok;
}

/* findall(r"^\s*\*[^\*].*$") + findall(r"^\s*-.*$") (MULTILINE) == num_bullets */
static size_t count_line_pattern(const char *s, size_t n, bool star) {
    size_t k = 0;
    for (size_t p = 0; p <= n;) {
        if (!(p == 0 || s[p - 1] == '\n')) { p++; continue; }
        size_t q = p, l;
        while ((l = space_len(s, n, q))) q += l;
        bool hit;
        size_t e = q;
        if (star) {
            hit = q + 1 < n && s[q] == '*' && s[q + 1] != '*';
            if (hit) {
                size_t cl;
                afm_u8_decode(s + q + 1, n - q - 1, &cl);
                e = q + 1 + cl;
            }
        } else {
            hit = q < n && s[q] == '-';
            e = q + 1;
        }
        if (!hit) { p++; continue; }
        while (e < n && s[e] != '\n') e++;
        k++;
        p = e > p ? e : p + 1;
    }
    return k;
}
static bool chk_bullets(ctx *c) {
    long want;
    if (!kw_int(c->kw, "num_bullets", &want)) { c->err = "num_bullets"; return false; }
    return (long)(count_line_pattern(c->s, c->n, true) + count_line_pattern(c->s, c->n, false)) == want;
}

static bool chk_constrained(ctx *c) {
    return strstr(c->s, "My answer is yes.") || strstr(c->s, "My answer is no.") || strstr(c->s, "My answer is maybe.");
}

/* findall(r"\*[^\n\*]*\*") with non-blank inside + findall(r"\*\*[^\n\*]*\*\*") likewise */
static bool chk_highlights(ctx *c) {
    long want;
    if (!kw_int(c->kw, "num_highlights", &want)) { c->err = "num_highlights"; return false; }
    const char *s = c->s;
    size_t n = c->n;
    long k = 0;
    for (int dbl = 0; dbl < 2; dbl++) {
        size_t w = dbl ? 2 : 1;
        for (size_t i = 0; i + 2 * w <= n;) {
            if (memcmp(s + i, "**", w) != 0) { i++; continue; }
            size_t j = i + w;
            while (j < n && s[j] != '\n' && s[j] != '*') j++;
            if (j + w <= n && memcmp(s + j, "**", w) == 0) {
                if (!blank(s + i + w, j - i - w)) k++;
                i = j + w;
            } else {
                i++;
            }
        }
    }
    return k >= want;
}

/* len(re.split(r"\s?" + spliter + r"\s?\d+\s?", value)) - 1 >= num_sections */
static bool chk_sections(ctx *c) {
    long want;
    const char *sp = kw_str(c->kw, "section_spliter");
    if (!kw_int(c->kw, "num_sections", &want) || !sp) { c->err = "num_sections/section_spliter"; return false; }
    size_t a, b;
    afm_py_strip(sp, strlen(sp), &a, &b);
    size_t sl = b - a;
    if (sl == 0) return false;
    /* count spliter occurrences followed by \s?\d+ (the leading \s? never changes the count) */
    long k = 0;
    for (size_t i = 0; i + sl <= c->n;) {
        if (memcmp(c->s + i, sp + a, sl) != 0) { i++; continue; }
        size_t p = i + sl;
        p += space_len(c->s, c->n, p);
        size_t d = 0, l;
        while (p + d < c->n && afm_py_isdigit(afm_u8_decode(c->s + p + d, c->n - p - d, &l))) d += l;
        if (d) { k++; i = p + d; } else i++;
    }
    return k >= want;
}

static bool chk_json(ctx *c) {
    size_t a, b;
    afm_py_strip(c->s, c->n, &a, &b);
    const char *s = c->s + a;
    size_t n = b - a;
    static const char *const pre[] = {"```json", "```Json", "```JSON", "```"};
    for (size_t i = 0; i < 4; i++)
        if (n >= strlen(pre[i]) && !memcmp(s, pre[i], strlen(pre[i]))) { s += strlen(pre[i]); n -= strlen(pre[i]); }
    if (n >= 3 && !memcmp(s + n - 3, "```", 3)) n -= 3;
    afm_py_strip(s, n, &a, &b);
    return afm_ifeval_is_json(s + a, b - a);
}

/* findall(r"<<[^\n]+>>"): any whose text without the brackets is not blank */
static bool chk_title(ctx *c) {
    const char *s = c->s;
    size_t n = c->n;
    for (size_t i = 0; i + 1 < n;) {
        if (s[i] != '<' || s[i + 1] != '<') { i++; continue; }
        size_t eol = i + 2;
        while (eol < n && s[eol] != '\n') eol++;
        /* greedy [^\n]+: the last ">>" on the line that leaves at least one character */
        size_t e = 0;
        for (size_t j = eol; j >= i + 5; j--) if (s[j - 1] == '>' && s[j - 2] == '>') { e = j; break; }
        if (!e) { i++; continue; }
        size_t x = i, y = e;
        while (x < y && s[x] == '<') x++;
        while (y > x && s[y - 1] == '>') y--;
        if (!blank(s + x, y - x)) return true;
        i = e;
    }
    return false;
}

/* value.split("******"): exactly two non-blank parts, blank ones only first/last, different */
static bool chk_two_responses(ctx *c) {
    const char *s = c->s;
    size_t n = c->n, starts[2], lens[2], nv = 0, np = 0;
    size_t total = count_occurrences(s, "******") + 1;
    for (size_t start = 0;;) {
        const char *h = strstr(s + start, "******");
        size_t end = h ? (size_t)(h - s) : n;
        if (blank(s + start, end - start)) {
            if (np != 0 && np != total - 1) return false;
        } else {
            if (nv < 2) { starts[nv] = start; lens[nv] = end - start; }
            nv++;
        }
        np++;
        if (!h) break;
        start = end + 6;
    }
    if (nv != 2) return false;
    size_t a0, b0, a1, b1;
    afm_py_strip(s + starts[0], lens[0], &a0, &b0);
    afm_py_strip(s + starts[1], lens[1], &a1, &b1);
    return !(b0 - a0 == b1 - a1 && !memcmp(s + starts[0] + a0, s + starts[1] + a1, b0 - a0));
}

static bool starts_with_lower(const char *s, size_t n, const char *pre) {
    size_t a, b, c2, d;
    afm_py_strip(s, n, &a, &b);
    afm_py_strip(pre, strlen(pre), &c2, &d);
    char *x = afm_py_lower_str(s + a, b - a), *y = afm_py_lower_str(pre + c2, d - c2);
    bool ok = x && y && strncmp(x, y, strlen(y)) == 0;
    free(x);
    free(y);
    return ok;
}

static bool chk_repeat(ctx *c) {
    const char *p = kw_str(c->kw, "prompt_to_repeat");
    if (!p) { c->err = "prompt_to_repeat"; return false; }
    return starts_with_lower(c->s, c->n, p);
}

/* value.strip().strip('"').lower().endswith(end_phrase.strip().lower()) */
static bool chk_end(ctx *c) {
    const char *e = kw_str(c->kw, "end_phrase");
    if (!e) { c->err = "end_phrase"; return false; }
    size_t a, b;
    afm_py_strip(c->s, c->n, &a, &b);
    while (a < b && c->s[a] == '"') a++;
    while (b > a && c->s[b - 1] == '"') b--;
    size_t ea, eb;
    afm_py_strip(e, strlen(e), &ea, &eb);
    char *x = afm_py_lower_str(c->s + a, b - a), *y = afm_py_lower_str(e + ea, eb - ea);
    bool ok = x && y && strlen(x) >= strlen(y) && strcmp(x + strlen(x) - strlen(y), y) == 0;
    free(x);
    free(y);
    return ok;
}

static bool chk_capital_words(ctx *c) {
    long want;
    if (!kw_int(c->kw, "capital_frequency", &want) || !relation_ok(c->kw, "capital_relation")) { c->err = "capital_frequency/capital_relation"; return false; }
    long k = (long)afm_ifeval_count_upper_words(c->s, c->n);
    return less_than(c->kw, "capital_relation") ? k < want : k >= want;
}

static bool is_english(const char *s, size_t n) {
    const char *l = afm_ifeval_detect_language(s, n);
    return !l[0] || !strcmp(l, "en");
}
static bool chk_english_capital(ctx *c) { return afm_py_isupper_str(c->s, c->n) && is_english(c->s, c->n); }
static bool chk_english_lower(ctx *c) { return afm_py_islower_str(c->s, c->n) && is_english(c->s, c->n); }
static bool chk_no_comma(ctx *c) { return memchr(c->s, ',', c->n) == NULL; }
static bool chk_quotation(ctx *c) {
    size_t a, b;
    afm_py_strip(c->s, c->n, &a, &b);
    return b - a > 1 && c->s[a] == '"' && c->s[b - 1] == '"';
}

typedef bool (*checker)(ctx *);
static const checker k_checkers[] = {
    chk_existence, chk_frequency, chk_forbidden, chk_letter, chk_language, chk_sentences, chk_paragraphs,
    chk_words, chk_nth_first_word, chk_placeholders, chk_postscript, chk_bullets, chk_constrained,
    chk_highlights, chk_sections, chk_json, chk_title, chk_two_responses, chk_repeat, chk_end,
    chk_capital_words, chk_english_capital, chk_english_lower, chk_no_comma, chk_quotation,
};

afm_status afm_ifeval_check(const char *id, const cJSON *kwargs, const char *prompt, const char *response,
                            size_t n, bool *follows) {
    *follows = false;
    for (size_t i = 0; i < afm_ifeval_n_types(); i++) {
        if (strcmp(id, k_types[i]) != 0) continue;
        /* the official harness fails every instruction on a blank response */
        ctx c = {response, n, kwargs, prompt, NULL};
        bool ok = !blank(response, n) && k_checkers[i](&c);
        if (c.err) return afm_error(AFM_ERR_FORMAT, "ifeval instruction '%s': missing or invalid argument %s", id, c.err);
        *follows = ok;
        return AFM_OK;
    }
    return afm_error(AFM_ERR_FORMAT, "unknown ifeval instruction id '%s'", id);
}

afm_status afm_ifeval_item(const cJSON *item, const char *response, bool *strict, bool *loose, size_t cap,
                           size_t *n_instr) {
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(item, "instruction_id_list");
    const cJSON *kws = cJSON_GetObjectItemCaseSensitive(item, "kwargs");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(item, "prompt");
    if (!cJSON_IsArray(ids) || !cJSON_IsArray(kws) || cJSON_GetArraySize(ids) != cJSON_GetArraySize(kws))
        return afm_error(AFM_ERR_FORMAT, "ifeval item needs \"instruction_id_list\" and \"kwargs\" arrays of equal length");
    size_t k = (size_t)cJSON_GetArraySize(ids);
    if (k > cap) return afm_error(AFM_ERR_RANGE, "ifeval item has %zu instructions (at most %zu)", k, cap);
    /* loose variants: r = response.split("\n"); without first / last / both lines (stripped),
     * and each of those four with every "*" removed */
    size_t n = strlen(response);
    const char *first_nl = strchr(response, '\n'), *last_nl = strrchr(response, '\n');
    char *var[8] = {0};
    var[0] = afm_strndup(response, n);
    if (first_nl) {
        size_t a, b;
        afm_py_strip(first_nl + 1, strlen(first_nl + 1), &a, &b);
        var[2] = afm_strndup(first_nl + 1 + a, b - a);
        afm_py_strip(response, (size_t)(last_nl - response), &a, &b);
        var[3] = afm_strndup(response + a, b - a);
        if (first_nl != last_nl) {
            afm_py_strip(first_nl + 1, (size_t)(last_nl - first_nl - 1), &a, &b);
            var[4] = afm_strndup(first_nl + 1 + a, b - a);
        } else {
            var[4] = afm_strndup("", 0);
        }
    } else {
        var[2] = afm_strndup("", 0);
        var[3] = afm_strndup("", 0);
        var[4] = afm_strndup("", 0);
    }
    var[1] = afm_str_replace(var[0], "*", "");
    for (int i = 5; i < 8; i++) var[i] = var[i - 3] ? afm_str_replace(var[i - 3], "*", "") : NULL;
    afm_status st = AFM_OK;
    for (int i = 0; i < 8; i++) if (!var[i]) st = afm_error(AFM_ERR_NOMEM, "ifeval response variants");
    for (size_t i = 0; i < k && st == AFM_OK; i++) {
        const cJSON *id = cJSON_GetArrayItem(ids, (int)i), *kw = cJSON_GetArrayItem(kws, (int)i);
        if (!cJSON_IsString(id)) { st = afm_error(AFM_ERR_FORMAT, "ifeval instruction id %zu is not a string", i); break; }
        st = afm_ifeval_check(id->valuestring, kw, cJSON_IsString(prompt) ? prompt->valuestring : "", var[0], n, &strict[i]);
        loose[i] = strict[i];
        /* loose order: response, no-stars, -first, -last, -both, then their no-star forms */
        static const int order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        for (int v = 1; v < 8 && st == AFM_OK && !loose[i]; v++)
            st = afm_ifeval_check(id->valuestring, kw, cJSON_IsString(prompt) ? prompt->valuestring : "", var[order[v]],
                                  strlen(var[order[v]]), &loose[i]);
    }
    for (int i = 0; i < 8; i++) free(var[i]);
    *n_instr = k;
    return st;
}
