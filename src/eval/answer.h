/* Final-answer extraction and comparison for math word problems.
 *
 * GSM8K follows lm-evaluation-harness's gsm8k-cot task exactly:
 *   strict:   first match of the regex  The answer is (\-?[0-9\.\,]+).   (group 1)
 *   flexible: last match of  (-?[$0-9.,]{2,})|(-?[0-9]+)
 *   exact match after deleting ",", "$", everything up to the last "#### ", one trailing ".",
 *   and lowercasing, on both the extraction and the reference (text after the last "####").
 * MATH follows the Hendrycks MATH normalization (lm-eval hendrycks_math utils: last \boxed{},
 * strip_string, is_equiv) including its fall-back to raw string equality whenever the Python
 * raises; afm_math_equiv adds a documented extension on top (numbers compared by value after
 * removing \text{}, units, thousands commas, "$" and trailing ".0"). */
#ifndef AFM_EVAL_ANSWER_H
#define AFM_EVAL_ANSWER_H
#include <stdbool.h>
#include <stddef.h>

/* Each returns a malloc'd string (caller frees), or NULL where nothing was found
 * (lm-eval's "[invalid]"); NULL also on allocation failure. */
char *afm_gsm8k_extract_strict(const char *response);
char *afm_gsm8k_extract_flexible(const char *response);
/* Reference answer of a GSM8K "answer" field: text after the last "####", stripped. */
char *afm_gsm8k_reference(const char *answer_field);
/* lm-eval exact_match with the gsm8k-cot ignore-regexes and ignore_case. NULL pred: false. */
bool afm_gsm8k_match(const char *pred, const char *reference);

/* last \boxed{...} / \boxed ... / \fbox{...} with its content; NULL if none */
char *afm_math_last_boxed(const char *text);
/* content of a \boxed{...} string ("\boxed{x}" -> "x"); NULL if it is not one */
char *afm_math_remove_boxed(const char *boxed);
/* The answer a response gives: the last boxed content; without one, the text between the first
 * and last "$" (lm-eval hendrycks_math) or the whole response. */
char *afm_math_extract(const char *response);
/* Hendrycks strip_string; NULL where the Python would raise (then is_equiv compares raw). */
char *afm_math_strip_string(const char *s);
bool afm_math_equiv_hendrycks(const char *a, const char *b);
/* Hendrycks equivalence, or equal values after the extended normalization. */
bool afm_math_equiv(const char *a, const char *b);
#endif
