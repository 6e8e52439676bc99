/* A small backtracking regular-expression matcher with Python `re` semantics for the patterns
 * BFCL's type converters use: literals and escapes, ".", classes [a-z] [^...], \d \w \s \b
 * (ASCII), groups (capturing and (?:...)), alternation, lookahead (?=...), quantifiers * + ?
 * {m,n} greedy and lazy, anchors ^ $ ($ also before a final "\n", as in Python). */
#ifndef AFM_EVAL_MINIRE_H
#define AFM_EVAL_MINIRE_H
#include <stdbool.h>
#include <stddef.h>

enum { AFM_RE_MAX_GROUPS = 10 };

typedef struct afm_re_match {
    size_t start[AFM_RE_MAX_GROUPS], end[AFM_RE_MAX_GROUPS]; /* group 0: the whole match */
    bool set[AFM_RE_MAX_GROUPS];
} afm_re_match;

/* re.match (anchored at `from`) or re.search (first position >= from) of pattern over s[0..n).
 * dotall: "." matches "\n". Returns false on no match (or a pattern this matcher cannot read). */
bool afm_re_match_at(const char *pattern, const char *s, size_t n, size_t from, bool dotall, afm_re_match *m);
bool afm_re_search(const char *pattern, const char *s, size_t n, size_t from, bool dotall, afm_re_match *m);
#endif
