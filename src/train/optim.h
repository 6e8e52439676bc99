/* Optimizers and learning-rate schedules for training.
 *
 * AdamW (decoupled weight decay, as torch.optim.AdamW): with lr_t = lr * s(t),
 *   θ ← θ (1 - lr_t wd);  m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²
 *   θ ← θ - lr_t (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
 * after an optional global-norm clip g ← g min(1, clip / (‖g‖ + 1e-6)).
 *
 * AFM (afm.md §3.3, AXLearn adastar as configured for honeycrisp), per step:
 *   ‖g‖ over all parameters; skip the whole step (no parameter or state change, t not advanced)
 *   if ‖g‖ >= skip_norm or not finite;  g ← g min(1, clip / (‖g‖ + 1e-8));  t ← t + 1
 *   per tensor:  v ← β2 v + (1-β2)(g² + 1e-30);  u = g / sqrt(v / (1-β2^t))
 *                u ← u / max(1, rms(u) / update_rms_clip);  m ← β1 m + (1-β1) u   (no debiasing)
 *                m' = m · mup_scale for linear weights (µP-simple, min(768 / D, 1)), m otherwise
 *                θ ← θ - s(t) (lr m' + wd θ)     (decay scaled by the schedule, not by lr)
 *
 * Both skip a step whose gradient norm is not finite (NaN/Inf policy: nothing changes; the
 * trainer counts consecutive skips and stops after a limit).
 *
 * Sharded (ZeRO-1, afm_optim_create_shard): this process keeps m and v only for the parameter
 * range [lo, hi) and updates only those parameters, from the summed gradients of that range
 * (afm_dist_reduce_scatter_floats). The quantities that span ranges are summed over ranks: the
 * squared gradient norm Σ g² and, for the AFM optimizer, Σ u² of every tensor for
 * its RMS clip (one per tensor; a tensor may span ranges). These sums of squares are computed
 * reproducibly (optim.c: squares scaled by a power of two chosen from the global largest value,
 * rounded to integers below 2^90 and added in 128 bits, relative error below n·2^-89), so they
 * are the same whatever the order and split: given the same gradients, sharded, unsharded and
 * one-process runs get bit-identical norms and clip factors, and every rank makes the same
 * skip/clip decisions. The caller all-gathers the parameters afterwards. */
#ifndef AFM_TRAIN_OPTIM_H
#define AFM_TRAIN_OPTIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "afm/status.h"
#include "model/train_model.h"
#include "train/dist.h"

typedef enum afm_optim_kind { AFM_OPTIM_ADAMW = 0, AFM_OPTIM_AFM = 1 } afm_optim_kind;

typedef struct afm_optim_config {
    afm_optim_kind kind;
    float lr;              /* peak learning rate */
    float beta1, beta2;    /* AdamW 0.9 / 0.95; AFM 0.95 / 0.95 */
    float eps;             /* AdamW only (AFM uses eps 0 outside the sqrt, 1e-30 inside) */
    float weight_decay;
    float clip_norm;       /* global gradient-norm clip; 0: off */
    float skip_norm;       /* AFM: skip the step when ‖g‖ >= this (100); 0: never (non-finite still skips) */
    float update_rms_clip; /* AFM: per-tensor RMS clip of the normalized update (1.0) */
    float mup_scale;       /* AFM: multiplier of linear-weight updates (min(768 / D, 1)) */
    bool decay_norms;      /* apply weight decay to RMSNorm gains too */
} afm_optim_config;

/* Defaults: AdamW β (0.9, 0.95), eps 1e-8, wd 0.1, clip 1; AFM as afm.md §3.3 for model width D. */
afm_optim_config afm_optim_defaults(afm_optim_kind kind, int D);

typedef struct afm_optim {
    afm_optim_config cfg;
    size_t n;             /* parameters of the model */
    size_t lo, hi;        /* this process's range: m[i - lo], v[i - lo] for i in [lo, hi); [0, n) unsharded */
    float *m, *v;         /* hi - lo each */
    int64_t t;            /* updates applied (bias-correction exponent) */
    afm_dist *dist;       /* sharded: sums partial norms over ranks; NULL: unsharded */
} afm_optim;

typedef struct afm_optim_result {
    double grad_norm;     /* before clipping */
    bool skipped;
} afm_optim_result;

afm_status afm_optim_create(const afm_optim_config *cfg, size_t n_params, afm_optim **out);
/* Sharded over dist's ranks (ZeRO-1): state for this rank's range (afm_dist_shard_range). With
 * one rank it equals afm_optim_create. afm_optim_step then is a collective: every rank calls it. */
afm_status afm_optim_create_shard(const afm_optim_config *cfg, size_t n_params, afm_dist *dist, afm_optim **out);
void afm_optim_free(afm_optim *o);
/* One update of the model's parameters from its gradients, with schedule multiplier s. The
 * gradient buffer is scaled in place by the clip. Sharded: reads and changes only [lo, hi) of the
 * gradients and parameters; res->grad_norm and res->skipped are global (equal on every rank). */
afm_status afm_optim_step(afm_optim *o, afm_train_model *m, float s, afm_optim_result *res);

/* Learning-rate schedules: a multiplier s(step) in [0, 1] of the peak LR, step = updates so far. */
typedef enum afm_sched_kind { AFM_SCHED_CONSTANT = 0, AFM_SCHED_COSINE = 1, AFM_SCHED_LINEAR = 2 } afm_sched_kind;
typedef struct afm_schedule {
    afm_sched_kind kind;
    int64_t warmup;       /* linear 0 -> 1 over these steps (s(0) = 0) */
    int64_t total;        /* decay ends here; s = floor afterwards */
    float floor;          /* final multiplier (AFM core: 0.005) */
} afm_schedule;
/* constant: 1 after warm-up; cosine: floor + (1-floor) (1 + cos(π (step-W)/(total-W))) / 2;
 * linear: 1 - (1-floor) (step-W)/(total-W). */
double afm_schedule_at(const afm_schedule *s, int64_t step);
afm_status afm_schedule_parse(const char *name, afm_sched_kind *out);
#endif
