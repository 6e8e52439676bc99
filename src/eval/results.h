/* Evaluation results: per-item records, metric samples aggregated to mean and standard error,
 * the run's configuration; written as one JSON file and shown as a table.
 *
 * results.json: {"task", "config": {...}, "scores": {metric: mean}, "stderr": {metric: se},
 *                "counts": {metric: n}, ["finish": {...},] "n_items", "n_errors", "items": [record, ...]}
 * se = sample standard deviation / sqrt(n) (0 when n < 2).
 *
 * Metric sums are accumulated in data order whatever order items finish in (parallel sessions,
 * batched generation): a model run scores each item into its own sample list (r->defer) and folds
 * the lists into the totals in index order at the end (afm_eval_results_fold), so float sums, and
 * with them scores and stderr, are the same bits for any --threads / --batch, and equal a
 * scorer-only run's over the same responses. */
#ifndef AFM_EVAL_RESULTS_H
#define AFM_EVAL_RESULTS_H
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "afm/status.h"

typedef struct afm_eval_metric { char name[64]; double sum, sumsq; int64_t n; } afm_eval_metric;
/* Metric samples in the order a scorer added them (one item's, kept for a fold in data order). */
typedef struct afm_eval_sample { char metric[64]; double value; } afm_eval_sample;
typedef struct afm_eval_samples { afm_eval_sample *s; size_t n, cap; } afm_eval_samples;

typedef struct afm_eval_results {
    char task[64];
    cJSON *config;   /* object: options of the run */
    cJSON *items;    /* array: one record per data item, in data order */
    afm_eval_metric *metrics;
    size_t n_metrics, cap_metrics;
    int64_t n_items, n_errors;
    afm_eval_samples *defer; /* non-NULL: afm_eval_results_add appends samples here instead of summing */
    cJSON *finish;           /* generation runs: {"eos", "stop", "length", "context_full", "responses",
                              * "max_tokens"} (see run.h), or NULL */
} afm_eval_results;

afm_status afm_eval_results_init(afm_eval_results *r, const char *task);
void afm_eval_results_free(afm_eval_results *r);
/* One sample of a metric (metrics appear in the order first added). */
afm_status afm_eval_results_add(afm_eval_results *r, const char *metric, double value);
/* Appends an item record (ownership passes to r); counts it as an error if it has "error". */
void afm_eval_results_add_item(afm_eval_results *r, cJSON *record);
/* Adds the samples of s to r's sums, in their order (as afm_eval_results_add one by one). */
afm_status afm_eval_results_fold(afm_eval_results *r, const afm_eval_samples *s);
void afm_eval_samples_free(afm_eval_samples *s);
double afm_eval_results_mean(const afm_eval_results *r, const char *metric, double *stderr_out, int64_t *n_out);

cJSON *afm_eval_results_to_json(const afm_eval_results *r);
afm_status afm_eval_results_write(const afm_eval_results *r, const char *path);
/* The score table as text (malloc'd); with r->finish and responses cut at the token cap, a line
 * "N of M responses hit --max-tokens CAP" under it. */
char *afm_eval_results_table(const afm_eval_results *r);
/* Two results files side by side: metric, A, B, B - A and whether |B - A| > 2 sqrt(se_A^2 + se_B^2);
 * also how many items changed verdict when both have per-item "correct", and how many responses
 * hit the token cap when either file has a "finish" summary (files without one show "-"). */
afm_status afm_eval_compare(const char *path_a, const char *path_b, char **table);
#endif
