/* IFEval (Zhou et al. 2023, google-research/instruction_following_eval): 25 verifiable
 * instruction types. Each checker reproduces the official check_following (as in
 * lm-evaluation-harness's copy) on the response text; "strict" tests the response as is,
 * "loose" passes an instruction if any of 8 variants passes (the response; without its first
 * line, last line, or both; each of those with every "*" removed).
 *
 * Three pieces of the official code use data that is not available offline and are
 * approximated here (ifeval_nlp.c), with their agreement measured against the official code:
 * NLTK Punkt sentence splitting (length_constraints:number_sentences), NLTK word_tokenize
 * (change_case:capital_word_frequency) and langdetect (language:response_language,
 * change_case:english_capital, change_case:english_lowercase). */
#ifndef AFM_EVAL_IFEVAL_H
#define AFM_EVAL_IFEVAL_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "afm/status.h"

/* Number of instruction types, and their ids ("punctuation:no_comma", ...). */
size_t afm_ifeval_n_types(void);
const char *afm_ifeval_type(size_t i);

/* Checks one instruction on one response text (n bytes). kwargs: the item's kwargs object
 * for that instruction; prompt: the item's prompt (for repeat_prompt). Returns
 * AFM_ERR_FORMAT for an unknown id or missing argument. */
afm_status afm_ifeval_check(const char *id, const cJSON *kwargs, const char *prompt, const char *response,
                            size_t n, bool *follows);
/* Strict and loose verdicts of every instruction of an item (arrays of n_instructions). */
afm_status afm_ifeval_item(const cJSON *item, const char *response, bool *strict, bool *loose, size_t cap,
                           size_t *n_instructions);

/* approximations of the NLTK / langdetect pieces (ifeval_nlp.c) */
size_t afm_ifeval_count_sentences(const char *s, size_t n);
size_t afm_ifeval_count_upper_words(const char *s, size_t n);
/* ISO 639-1 code of the text's language ("en", "de", "hi", ...), or "" if it cannot tell */
const char *afm_ifeval_detect_language(const char *s, size_t n);
/* Python json.loads(s) succeeds */
bool afm_ifeval_is_json(const char *s, size_t n);
#endif
