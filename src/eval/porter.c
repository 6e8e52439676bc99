/* Porter stemmer, NLTK_EXTENSIONS flavour (see porter.h). The word is edited in place in a small
 * buffer; every step is "find the first rule whose suffix matches, then apply it if its condition
 * holds on the remaining stem" exactly as the paper's rule lists read. */
#include "eval/porter.h"
#include <string.h>
#include <stdbool.h>

typedef struct word { char *s; size_t n; } word;

static bool is_vowel_letter(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* A consonant is a letter other than a e i o u, and other than a y preceded by a consonant.
 * (Digits count as consonants, as in NLTK.) */
static bool is_cons(const char *s, size_t i) {
    if (is_vowel_letter(s[i])) return false;
    if (s[i] != 'y' || i == 0) return true;
    return !is_cons(s, i - 1);
}

/* measure m of s[0..n): the number of VC pairs in [C](VC){m}[V] */
static int measure(const char *s, size_t n) {
    int m = 0;
    bool prev_vowel = false;
    for (size_t i = 0; i < n; i++) {
        bool c = is_cons(s, i);
        if (c && prev_vowel) m++;
        prev_vowel = !c;
    }
    return m;
}

static bool has_vowel(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if (!is_cons(s, i)) return true;
    return false;
}

static bool ends_double_cons(const char *s, size_t n) {
    return n >= 2 && s[n - 1] == s[n - 2] && is_cons(s, n - 1);
}

/* *o: stem ends consonant-vowel-consonant, the last not w, x or y; NLTK also accepts a stem
 * of exactly two letters, vowel then consonant. */
static bool ends_cvc(const char *s, size_t n) {
    if (n >= 3 && is_cons(s, n - 3) && !is_cons(s, n - 2) && is_cons(s, n - 1) &&
        s[n - 1] != 'w' && s[n - 1] != 'x' && s[n - 1] != 'y')
        return true;
    return n == 2 && !is_cons(s, 0) && is_cons(s, 1);
}

static bool ends_with(const word *w, const char *suf) {
    size_t k = strlen(suf);
    return w->n >= k && memcmp(w->s + w->n - k, suf, k) == 0;
}

/* Replaces the last k letters with rep. */
static void replace_tail(word *w, size_t k, const char *rep) {
    size_t r = strlen(rep);
    memcpy(w->s + w->n - k, rep, r);
    w->n = w->n - k + r;
}

typedef enum cond { C_NONE, C_M_GT0, C_M_GT1, C_ION, C_LOGI } cond;
typedef struct rule { const char *suffix, *rep; cond c; } rule;

static bool cond_holds(cond c, const word *w, size_t stem_n) {
    switch (c) {
    case C_NONE: return true;
    case C_M_GT0: return measure(w->s, stem_n) > 0;
    case C_M_GT1: return measure(w->s, stem_n) > 1;
    case C_ION: return measure(w->s, stem_n) > 1 && stem_n > 0 && (w->s[stem_n - 1] == 's' || w->s[stem_n - 1] == 't');
    case C_LOGI: return measure(w->s, w->n - 3) > 0; /* NLTK tests the word less "ogi" */
    }
    return false;
}

/* The first rule whose suffix matches decides: applied if its condition holds, else nothing. */
static void apply_rules(word *w, const rule *rules, size_t n_rules) {
    for (size_t i = 0; i < n_rules; i++) {
        if (!ends_with(w, rules[i].suffix)) continue;
        size_t stem_n = w->n - strlen(rules[i].suffix);
        if (cond_holds(rules[i].c, w, stem_n)) replace_tail(w, strlen(rules[i].suffix), rules[i].rep);
        return;
    }
}

static void step1a(word *w) {
    if (ends_with(w, "ies") && w->n == 4) { replace_tail(w, 3, "ie"); return; }
    static const rule r[] = {{"sses", "ss", C_NONE}, {"ies", "i", C_NONE}, {"ss", "ss", C_NONE}, {"s", "", C_NONE}};
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

static void step1b(word *w) {
    if (ends_with(w, "ied")) { replace_tail(w, 3, w->n == 4 ? "ie" : "i"); return; }
    if (ends_with(w, "eed")) {
        if (measure(w->s, w->n - 3) > 0) replace_tail(w, 3, "ee");
        return;
    }
    size_t cut = 0;
    if (ends_with(w, "ed") && has_vowel(w->s, w->n - 2)) cut = 2;
    else if (ends_with(w, "ing") && has_vowel(w->s, w->n - 3)) cut = 3;
    if (!cut) return;
    w->n -= cut;
    if (ends_with(w, "at")) { replace_tail(w, 2, "ate"); return; }
    if (ends_with(w, "bl")) { replace_tail(w, 2, "ble"); return; }
    if (ends_with(w, "iz")) { replace_tail(w, 2, "ize"); return; }
    if (ends_double_cons(w->s, w->n)) {
        char last = w->s[w->n - 1];
        if (last != 'l' && last != 's' && last != 'z') w->n -= 1;
        return;
    }
    if (measure(w->s, w->n) == 1 && ends_cvc(w->s, w->n)) replace_tail(w, 0, "e");
}

/* (*c and not c) Y -> I: y after a consonant that is not the word's only letter */
static void step1c(word *w) {
    if (!ends_with(w, "y")) return;
    size_t stem_n = w->n - 1;
    if (stem_n > 1 && is_cons(w->s, stem_n - 1)) w->s[w->n - 1] = 'i';
}

static void step2(word *w) {
    if (ends_with(w, "alli") && measure(w->s, w->n - 4) > 0) {
        replace_tail(w, 4, "al");
        step2(w);
        return;
    }
    static const rule r[] = {
        {"ational", "ate", C_M_GT0}, {"tional", "tion", C_M_GT0}, {"enci", "ence", C_M_GT0},
        {"anci", "ance", C_M_GT0},   {"izer", "ize", C_M_GT0},    {"bli", "ble", C_M_GT0},
        {"alli", "al", C_M_GT0},     {"entli", "ent", C_M_GT0},   {"eli", "e", C_M_GT0},
        {"ousli", "ous", C_M_GT0},   {"ization", "ize", C_M_GT0}, {"ation", "ate", C_M_GT0},
        {"ator", "ate", C_M_GT0},    {"alism", "al", C_M_GT0},    {"iveness", "ive", C_M_GT0},
        {"fulness", "ful", C_M_GT0}, {"ousness", "ous", C_M_GT0}, {"aliti", "al", C_M_GT0},
        {"iviti", "ive", C_M_GT0},   {"biliti", "ble", C_M_GT0},  {"fulli", "ful", C_M_GT0},
        {"logi", "log", C_LOGI},
    };
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

static void step3(word *w) {
    static const rule r[] = {
        {"icate", "ic", C_M_GT0}, {"ative", "", C_M_GT0}, {"alize", "al", C_M_GT0}, {"iciti", "ic", C_M_GT0},
        {"ical", "ic", C_M_GT0},  {"ful", "", C_M_GT0},   {"ness", "", C_M_GT0},
    };
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

static void step4(word *w) {
    static const rule r[] = {
        {"al", "", C_M_GT1},   {"ance", "", C_M_GT1}, {"ence", "", C_M_GT1}, {"er", "", C_M_GT1},
        {"ic", "", C_M_GT1},   {"able", "", C_M_GT1}, {"ible", "", C_M_GT1}, {"ant", "", C_M_GT1},
        {"ement", "", C_M_GT1}, {"ment", "", C_M_GT1}, {"ent", "", C_M_GT1}, {"ion", "", C_ION},
        {"ou", "", C_M_GT1},   {"ism", "", C_M_GT1},  {"ate", "", C_M_GT1},  {"iti", "", C_M_GT1},
        {"ous", "", C_M_GT1},  {"ive", "", C_M_GT1},  {"ize", "", C_M_GT1},
    };
    apply_rules(w, r, sizeof r / sizeof r[0]);
}

/* (m>1) E ->, (m=1 and not *o) E -> */
static void step5a(word *w) {
    if (!ends_with(w, "e")) return;
    size_t stem_n = w->n - 1;
    int m = measure(w->s, stem_n);
    if (m > 1 || (m == 1 && !ends_cvc(w->s, stem_n))) w->n = stem_n;
}

/* (m > 1 and *d and *L) -> single letter; NLTK measures the word less its final l */
static void step5b(word *w) {
    if (ends_with(w, "ll") && measure(w->s, w->n - 1) > 1) w->n -= 1;
}

typedef struct irregular { const char *form, *stem; } irregular;
static const irregular k_irregular[] = {
    {"sky", "sky"},       {"skies", "sky"},       {"dying", "die"},     {"lying", "lie"},
    {"tying", "tie"},     {"news", "news"},       {"innings", "inning"}, {"inning", "inning"},
    {"outings", "outing"}, {"outing", "outing"},  {"cannings", "canning"}, {"canning", "canning"},
    {"howe", "howe"},     {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
};

size_t afm_porter_stem(const char *in, size_t n, char *out) {
    for (size_t i = 0; i < sizeof k_irregular / sizeof k_irregular[0]; i++) {
        if (strlen(k_irregular[i].form) == n && memcmp(k_irregular[i].form, in, n) == 0) {
            size_t k = strlen(k_irregular[i].stem);
            memcpy(out, k_irregular[i].stem, k + 1);
            return k;
        }
    }
    memcpy(out, in, n);
    out[n] = '\0';
    if (n <= 2) return n;
    word w = {out, n};
    step1a(&w);
    step1b(&w);
    step1c(&w);
    step2(&w);
    step3(&w);
    step4(&w);
    step5a(&w);
    step5b(&w);
    out[w.n] = '\0';
    return w.n;
}
