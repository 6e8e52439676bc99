/* A progress bar with rate and ETA, redrawn on a caller-given stream (stderr in the CLI) at
 * most a few times a second. */
#ifndef AFM_EVAL_PROGRESS_H
#define AFM_EVAL_PROGRESS_H
#include <stdio.h>
#include <stdint.h>

typedef struct afm_progress { FILE *f; const char *label; int64_t total, done; double t0, last; } afm_progress;

void afm_progress_start(afm_progress *p, FILE *f, const char *label, int64_t total);
void afm_progress_step(afm_progress *p, int64_t n);
void afm_progress_end(afm_progress *p);
/* monotonic clock in seconds */
double afm_eval_now_s(void);
#endif
