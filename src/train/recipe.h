/* Training recipes (JSON): the model shape, the optimizer and a list of stages.
 *
 * {
 *   "model": {"dim": 256, "n_layers": 4, "n_heads": 4, "n_kv_heads": 2, "head_dim": 64,
 *             "ffn_dim": 672, "max_seq_len": 512, "rope_layout": "interleaved"|"half",
 *             "qk_norm": "off"|"before_rope"|"after_rope", "tied": true, "norm_eps": 1e-5,
 *             "n_vocab": 49152 (only for --dry-run without data; data sets the vocabulary)},
 *   "optimizer": {"kind": "afm"|"adamw", "beta1", "beta2", "eps", "clip_norm", "skip_norm",
 *                 "update_rms_clip", "mup_scale" (default min(768/dim, 1)), "decay_norms"},
 *   "seed": 1, "z_loss": 0, "val_fraction": 0.01, "eval_every": 100, "eval_batches": 4,
 *   "checkpoint_every": 500, "log_every": 1, "max_bad_steps": 5,
 *   "stages": [{"name": "core", "steps": 1000 (or "tokens": N), "seq_len": 256, "batch_size": 8,
 *               "grad_accum": 1, "lr": 0.01, "warmup": 100, "schedule": "cosine"|"linear"|"constant",
 *               "floor": 0.005, "weight_decay": 3.16e-4, "rope_theta": 500000,
 *               "mixture": {"source": weight, ...} (default: every source, weight 1)}]
 * }
 * "shard_optimizer": true keeps each MPI rank's optimizer state for its 1/N of the parameters
 * only (ZeRO-1, trainer.h; the same as `afm train --shard-optimizer`; no effect on one process).
 * "reduce_groups": G (default: one per process) cuts every micro-batch into G row groups whose
 * gradients are summed in a fixed order, so runs on any number of processes dividing G are
 * bit-identical (trainer.h).
 * "compute": "f32" (default) or "bf16": bf16 compute for every matrix product (inputs rounded to
 * bfloat16, f32 accumulation; master weights, gradients, optimizer state and the other ops stay
 * f32; model/train_gemm.h afm_gemm_ws_set_bf16).
 * "checkpoint_activations": true keeps only each layer's input in the forward pass and recomputes
 * the layer's internals in the backward (model/train_model.h; same gradients, bit for bit, for
 * one more forward pass of the layers, 10-15% fewer tokens/s; the same as `afm train --checkpoint-activations`).
 * Optional "distill": {"teacher": "PATH.gguf", "mode": "afm"|"kl", ...} (train/distill.h).
 * Every key is checked: unknown keys, wrong types and impossible shapes are errors that name
 * the key. */
#ifndef AFM_TRAIN_RECIPE_H
#define AFM_TRAIN_RECIPE_H
#include <stdbool.h>
#include <stdint.h>
#include "afm/model.h"
#include "train/distill.h"
#include "train/optim.h"

enum { AFM_RECIPE_MAX_STAGES = 16, AFM_RECIPE_MAX_MIX = 64 };

typedef struct afm_stage {
    char name[64];
    int64_t steps;          /* resolved from "tokens" when given that way */
    int64_t tokens;         /* 0 if given as steps */
    int seq_len, batch_size, grad_accum;
    float lr, floor, weight_decay, rope_theta;
    int64_t warmup;
    afm_sched_kind schedule;
    int n_mix;
    char mix_name[AFM_RECIPE_MAX_MIX][72];
    double mix_weight[AFM_RECIPE_MAX_MIX];
} afm_stage;

typedef struct afm_recipe {
    afm_config model;       /* n_vocab 0 unless given */
    afm_optim_config optim; /* lr and weight_decay are per stage */
    uint64_t seed;
    float z_loss;
    double val_fraction;
    int64_t eval_every, eval_batches, checkpoint_every, log_every, max_bad_steps;
    bool shard_optimizer;   /* ZeRO-1 over MPI ranks */
    int reduce_groups;      /* 0: one row group per process */
    bool compute_bf16;      /* "compute": "bf16" */
    bool checkpoint_activations; /* "checkpoint_activations": true (or afm train --checkpoint-activations) */
    afm_distill_config distill; /* "distill" (train/distill.h); mode AFM_DISTILL_OFF when absent */
    int n_stages;
    afm_stage stages[AFM_RECIPE_MAX_STAGES];
} afm_recipe;

afm_status afm_recipe_parse(const char *json, size_t len, afm_recipe *out);
afm_status afm_recipe_load(const char *path, afm_recipe *out);
/* Total optimizer steps over all stages. */
int64_t afm_recipe_total_steps(const afm_recipe *r);
#endif
