/* Evaluation tasks: how to load each benchmark's data, how to grade one response, and (for
 * model runs) how to build its prompts. Scorer-only mode (afm eval --responses) uses load +
 * score; model runs (run.h) use the rest. */
#ifndef AFM_EVAL_TASK_H
#define AFM_EVAL_TASK_H
#include <stddef.h>
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "afm/status.h"
#include "eval/dataset.h"
#include "eval/results.h"

typedef enum afm_eval_kind {
    AFM_EVAL_GENERATE = 0,   /* the model writes a response, a scorer grades it */
    AFM_EVAL_CHOICE = 1,     /* multiple choice by log-likelihood of each continuation */
    AFM_EVAL_PERPLEXITY = 2, /* log-likelihood of the text itself */
    AFM_EVAL_PAIRWISE = 3    /* two given response files judged by a model (judge.h) */
} afm_eval_kind;

typedef struct afm_eval_task {
    const char *name;
    const char *description;
    const char *default_data;   /* path under the shared data folder */
    afm_eval_kind kind;
    int default_shots;
    /* NULL: afm_eval_dataset_load */
    afm_status (*load)(const char *path, afm_eval_dataset *out);
    /* Grades `response` for data item `item`: adds fields to `rec` and metric samples to `r`.
     * A malformed item returns AFM_ERR_FORMAT with a message; the caller records it. */
    afm_status (*score)(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
    /* optional: loads one named subset of the data (afm eval --category NAME) */
    afm_status (*load_subset)(const char *path, const char *subset, afm_eval_dataset *out);
    /* optional: adds summary metrics once every item is graded */
    void (*finish)(afm_eval_results *r);
} afm_eval_task;

const afm_eval_task *afm_eval_task_find(const char *name);
const afm_eval_task *afm_eval_task_list(size_t *n);

/* Grades a responses file (JSONL, one {"response": ...} per data item, in data order) against
 * data. limit > 0 grades only the first `limit` items. Bad data items, bad or missing response
 * lines become item records with "error" and count in n_errors; they never stop the run. */
afm_status afm_eval_score_responses(const afm_eval_task *task, const afm_eval_dataset *data,
                                    const char *responses_path, int64_t limit, afm_eval_results *r);

/* scorers, one per task family (task_*.c) */
afm_status afm_eval_score_rouge(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_score_gsm8k(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_score_math(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_score_xstest(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_score_mmlu(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_score_boolq(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_score_ifeval(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
afm_status afm_eval_load_mmlu(const char *path, afm_eval_dataset *out);
afm_status afm_eval_load_text(const char *path, afm_eval_dataset *out);

/* XSTest's string-match refusal rule: the lowercased, stripped completion starts with one of
 * its refusal openings ("sorry", "i'm sorry", "i cannot", "as an ai", ...). */
bool afm_xstest_is_refusal(const char *completion);
#endif
