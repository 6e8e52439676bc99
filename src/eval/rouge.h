/* ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS) as Google's rouge-score package computes them
 * with use_stemmer=True:
 *   tokens: lowercase; every run of characters outside [a-z0-9] becomes a space; split on spaces;
 *           tokens longer than 3 characters are Porter-stemmed (porter.h).
 *   ROUGE-N: overlap = sum over n-grams g of min(count_ref(g), count_pred(g));
 *            P = overlap / max(#pred n-grams, 1), R = overlap / max(#ref n-grams, 1).
 *   ROUGE-L: L = |LCS(ref, pred)|; P = L / |pred|, R = L / |ref| (all 0 if either is empty).
 *   F = 2PR / (P + R) (0 when P + R = 0).
 * With several references each metric independently takes the reference with the highest F
 * (the first one on ties), as rouge_scorer.score_multi does. */
#ifndef AFM_EVAL_ROUGE_H
#define AFM_EVAL_ROUGE_H
#include <stddef.h>
#include "afm/status.h"

typedef struct afm_rouge_prf { double precision, recall, f; } afm_rouge_prf;
typedef struct afm_rouge_scores { afm_rouge_prf rouge1, rouge2, rougeL; } afm_rouge_scores;

/* Token list: tokens[i] points into one malloc'd arena. */
typedef struct afm_rouge_tokens { char **tokens; size_t n; char *arena; } afm_rouge_tokens;

afm_status afm_rouge_tokenize(const char *text, afm_rouge_tokens *out);
void afm_rouge_tokens_free(afm_rouge_tokens *t);

afm_status afm_rouge_score(const char *reference, const char *prediction, afm_rouge_scores *out);
/* refs: n_refs >= 1 references; each metric takes the best reference by F. */
afm_status afm_rouge_score_multi(const char *const *refs, size_t n_refs, const char *prediction,
                                 afm_rouge_scores *out);
#endif
