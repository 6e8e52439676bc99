/* Judge-based tasks: a model afm loads reads a judging prompt, and its log-probabilities of the
 * label continuations decide (no sampling, no parsing of free text).
 *
 * pairwise (AlpacaEval-style): is response A or response B the better answer to an instruction?
 *   The judge sees the instruction and two outputs labelled "Output (a)" and "Output (b)" and is
 *   asked which is better; it is asked twice, with A first and with B first (position swap).
 *   Order k gives log-probabilities l_k(a), l_k(b) of the continuations "Output (a)" and
 *   "Output (b)"; p_k = exp l_k(x) / (exp l_k(a) + exp l_k(b)) with x the label A had in order k.
 *     pref_A = (p_0 + p_1) / 2                      (order bias cancels to first order)
 *     vote_k = +1 if p_k > 1/2, -1 if p_k < 1/2, 0 if equal
 *     credit = 1 (vote_0 + vote_1 > 0), 0 (< 0), 1/2 (= 0: the orders disagree, or a tie)
 *   Identical responses are a tie without asking the judge (as AlpacaEval does).
 *   Metrics: win_rate = mean pref_A (AlpacaEval 2's weighted win rate), win_rate_discrete = mean
 *   credit (wins + ties / 2), wins / ties / losses (fractions), position_consistency (both orders
 *   pick the same response), first_position_preference = mean over orders of P(label (a)).
 *
 * xstest with a judge: XSTest's three-way classification of a response (Röttger et al. 2023,
 *   their GPT-4 classification prompt): 1_full_compliance, 2_full_refusal, 3_partial_refusal,
 *   chosen by the largest label log-likelihood; refused = full or partial refusal. Adds judge_*
 *   metrics beside the string-match ones, and judge_agreement (judge refusal == string match).
 *
 * Prompts are one user turn rendered with the judge's chat template (the label is the start of
 * the assistant's answer). Without a template (or with --no-chat) the bare text is used, with
 * "\nAnswer:" after the pairwise prompt, and the label follows after a space. */
#ifndef AFM_EVAL_JUDGE_H
#define AFM_EVAL_JUDGE_H
#include <stdbool.h>
#include "afm/status.h"
#include "eval/dataset.h"
#include "eval/results.h"
#include "eval/run.h"

/* ---- pairwise ---- */
typedef struct afm_pairwise_verdict {
    double p_first_label[2];   /* P(label (a)) in order 0 (A shown first) and order 1 (B first) */
    double p_a[2];             /* P(A is better) in each order */
    double pref_a;             /* (p_a[0] + p_a[1]) / 2 */
    double credit;             /* 1 win, 0.5 tie, 0 loss for A */
    bool consistent;           /* both orders prefer the same response */
} afm_pairwise_verdict;

/* lp0 = {log P("Output (a)"), log P("Output (b)")} with A shown as (a); lp1 the same with B as (a). */
void afm_pairwise_combine(const double lp0[2], const double lp1[2], afm_pairwise_verdict *v);
/* The judge's user text for one order: instruction, the output shown first as (a), second as (b). */
char *afm_pairwise_prompt(const char *instruction, const char *first, const char *second);
/* The texts of one item: the instruction ("instruction", else "prompt") from the data item,
 * response A from a's record ("response", else "output"), response B from b's record, or from
 * the data item's "output" (the reference) when b is NULL. Fails with a message naming what is
 * missing. */
afm_status afm_pairwise_item(const afm_eval_record *data, const afm_eval_record *a, const afm_eval_record *b,
                             const char **instruction, const char **resp_a, const char **resp_b);
/* Judges every data item (the first opt->limit) with the judge model; b may be NULL (see above).
 * Bad or missing lines and over-long prompts become item errors. */
afm_status afm_eval_run_pairwise(const afm_eval_dataset *data, const afm_eval_dataset *a, const afm_eval_dataset *b,
                                 const char *judge_path, const afm_eval_run_options *opt, afm_eval_results *r);
/* Adds the metrics and record fields of one judged item (used by the driver and the tests). */
void afm_pairwise_record(const afm_pairwise_verdict *v, bool identical, cJSON *rec, afm_eval_results *r);

/* ---- XSTest judge ---- */
typedef enum afm_xstest_class { AFM_XSTEST_COMPLIANCE = 0, AFM_XSTEST_FULL_REFUSAL = 1, AFM_XSTEST_PARTIAL_REFUSAL = 2 } afm_xstest_class;
extern const char *const afm_xstest_class_names[3];   /* "1_full_compliance", "2_full_refusal", "3_partial_refusal" */
char *afm_xstest_judge_prompt(const char *question, const char *response);
/* argmax of the three label log-likelihoods; probs (may be NULL): softmax over the three */
afm_xstest_class afm_xstest_classify(const double lp[3], double probs[3]);
/* Classifies the response of every item record in r that has no "error": the response is the
 * record's "response" (model runs) or line i of resp (scorer-only runs). Judge failures on one
 * item are recorded as "judge_error" in its record. */
afm_status afm_eval_xstest_judge(const afm_eval_dataset *data, const afm_eval_dataset *resp, const char *judge_path,
                                 const afm_eval_run_options *opt, afm_eval_results *r);
#endif
