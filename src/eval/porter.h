/* Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", 1980) with the extensions
 * that NLTK's PorterStemmer applies in its default NLTK_EXTENSIONS mode, which is what Google's
 * rouge-score uses: irregular forms (skies -> sky, dying -> die, ...), "ies"/"ied" on 4-letter
 * words -> "ie", y -> i only after a consonant, "bli" -> "ble", "fulli" -> "ful", "logi" -> "log",
 * a 2-letter vowel-consonant stem counts as *o, and words of <= 2 letters are left alone. */
#ifndef AFM_EVAL_PORTER_H
#define AFM_EVAL_PORTER_H
#include <stddef.h>

/* Stems the lowercase ASCII word w[0..n) into out (room for n + 2 bytes; the stem is at most
 * n + 1 letters long) and NUL-terminates it; returns the stem length. */
size_t afm_porter_stem(const char *w, size_t n, char *out);
#endif
