/* Evaluation results: per-item records, metric samples aggregated to mean and standard error,
 * the run's configuration; written as one JSON file and shown as a table.
 *
 * results.json: {"task", "config": {...}, "scores": {metric: mean}, "stderr": {metric: se},
 *                "counts": {metric: n}, "n_items", "n_errors", "items": [record, ...]}
 * se = sample standard deviation / sqrt(n) (0 when n < 2). */
#ifndef AFM_EVAL_RESULTS_H
#define AFM_EVAL_RESULTS_H
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "afm/status.h"

typedef struct afm_eval_metric { char name[64]; double sum, sumsq; int64_t n; } afm_eval_metric;

typedef struct afm_eval_results {
    char task[64];
    cJSON *config;   /* object: options of the run */
    cJSON *items;    /* array: one record per data item, in data order */
    afm_eval_metric *metrics;
    size_t n_metrics, cap_metrics;
    int64_t n_items, n_errors;
} afm_eval_results;

afm_status afm_eval_results_init(afm_eval_results *r, const char *task);
void afm_eval_results_free(afm_eval_results *r);
/* One sample of a metric (metrics appear in the order first added). */
afm_status afm_eval_results_add(afm_eval_results *r, const char *metric, double value);
/* Appends an item record (ownership passes to r); counts it as an error if it has "error". */
void afm_eval_results_add_item(afm_eval_results *r, cJSON *record);
/* Adds src's metric samples (sums, sums of squares, counts) to dst's. */
afm_status afm_eval_results_merge(afm_eval_results *dst, const afm_eval_results *src);
double afm_eval_results_mean(const afm_eval_results *r, const char *metric, double *stderr_out, int64_t *n_out);

cJSON *afm_eval_results_to_json(const afm_eval_results *r);
afm_status afm_eval_results_write(const afm_eval_results *r, const char *path);
/* The score table as text (malloc'd). */
char *afm_eval_results_table(const afm_eval_results *r);
/* Two results files side by side: metric, A, B, B - A and whether |B - A| > 2 sqrt(se_A^2 + se_B^2);
 * also how many items changed verdict when both have per-item "correct". */
afm_status afm_eval_compare(const char *path_a, const char *path_b, char **table);
#endif
