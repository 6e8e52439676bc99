/* Loss curves of a training run as a PNG: train loss (raw and moving average) and validation
 * loss against the step, with stage boundaries marked, read from RUN/metrics.jsonl. */
#ifndef AFM_TRAIN_PLOT_H
#define AFM_TRAIN_PLOT_H
#include "afm/status.h"

typedef struct afm_plot_summary {
    int n_train, n_val, n_stages, n_bad_lines;
    double last_train, last_val;
} afm_plot_summary;

/* run: a run folder (holding metrics.jsonl) or a metrics.jsonl file. Lines that are not JSON
 * objects with numeric step and loss are skipped and counted. */
afm_status afm_plot_loss(const char *run, const char *out_png, int width, int height, afm_plot_summary *summary);
#endif
