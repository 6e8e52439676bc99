/* The training loop: recipe stages over a data folder, metrics, validation, crash-safe
 * checkpoints and exact resume.
 *
 * Run folder RUN:
 *   metrics.jsonl   one JSON object per line: {"split":"train","step","stage","loss","lr",
 *                   "grad_norm","tokens","tokens_per_s","skipped"} and {"split":"val","step","loss"}
 *   ckpt/step-NNNNNNNNN/model.gguf   the model (`afm` GGUF, f32, tokenizer keys of the data)
 *   ckpt/step-NNNNNNNNN/state.bin    optimizer moments and step, sampler RNG, stage, tokens
 * A checkpoint is written into ckpt/.tmp-... (each file fsynced) and renamed into place, so a
 * crash at any moment leaves every earlier checkpoint intact; the newest three are kept.
 * Resume loads the newest checkpoint that validates (magic, version, checksum, sizes, config)
 * and trims metrics.jsonl to its step; with the same thread count the resumed run reproduces
 * the uninterrupted one bit for bit.
 *
 * NaN/Inf policy: a step whose loss or gradient norm is not finite (or whose norm reaches the
 * AFM optimizer's skip_norm) changes nothing; after max_bad_steps such steps in a row the run
 * stops with an error (the last good checkpoint stays valid).
 *
 * Data parallel (options.dist with size N > 1, see dist.h): every rank samples the whole global
 * batch, trains on its rows and sums gradients and loss in rank order; only rank 0 writes
 * metrics.jsonl and checkpoints, validates and reports progress. batch_size must be a multiple
 * of N. The losses equal a single process's up to float rounding (the per-rank sums are split
 * differently); resume works with any N that divides every stage's batch_size.
 *
 * ZeRO-1 (options.shard_optimizer or the recipe's "shard_optimizer", N > 1): each rank keeps the
 * optimizer moments only for its range [lo_r, hi_r) of the flattened parameters (dist.h). The
 * gradients are reduce-scattered (rank r receives the rank-order sums of its range only; the
 * values equal the unsharded all-reduce's), each rank updates its range (optim.h: the global
 * gradient norm and the AFM per-tensor RMS sums are all-reduced), and the updated ranges are
 * all-gathered. A checkpoint holds the full state in the same state.bin format: rank 0 receives
 * the other ranks' moments piece by piece while writing. So sharded and unsharded runs resume
 * each other's checkpoints with any N that divides the batch sizes.
 *
 * Fixed reduction order (the recipe's "reduce_groups": G, a multiple of N dividing every stage's
 * batch_size): each micro-batch is cut into G row groups; every group's gradient is computed by
 * its own forward/backward (accumulated over grad_accum into a buffer of its own) and the G
 * gradients are summed in group order in double (afm_dist_sum_groups), the losses likewise. A
 * process holds G / N groups, so the arithmetic is the same for every N that divides G: one
 * process and N processes give bit-identical runs. Without it G = N (one group per process). */
#ifndef AFM_TRAIN_TRAINER_H
#define AFM_TRAIN_TRAINER_H
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "afm/status.h"
#include "train/dist.h"
#include "train/recipe.h"

typedef struct afm_train_progress {
    int64_t step, total_steps;
    const char *stage;
    double loss, lr, tokens_per_s, eta_s;
    bool val;       /* a validation result (loss is the validation loss) */
    bool checkpoint;/* a checkpoint was just written (step) */
} afm_train_progress;

typedef struct afm_train_options {
    const char *data_dir;
    const char *run_dir;
    int64_t max_steps;                   /* stop after this many steps in total (0: the recipe's) */
    bool resume;                         /* continue from the newest valid checkpoint in run_dir */
    int n_threads;                       /* 0: all cores */
    volatile sig_atomic_t *stop;         /* set (e.g. by SIGINT) to checkpoint and return */
    void (*progress)(void *ctx, const afm_train_progress *p);
    void *progress_ctx;
    afm_dist *dist;                      /* data parallelism (train/dist.h); NULL: one process */
    bool shard_optimizer;                /* ZeRO-1 over dist's ranks (also the recipe's "shard_optimizer") */
} afm_train_options;

/* Trains; returns AFM_OK when the run reached its end, max_steps, or *stop. */
afm_status afm_train_run(const afm_recipe *r, const afm_train_options *o);

/* --dry-run: sizes and costs of a recipe for a vocabulary of n_vocab, per process of n_ranks
 * (activations for batch_size / n_ranks rows; optimizer state for 1/n_ranks of the parameters
 * when sharded by shard_optimizer or the recipe). */
typedef struct afm_train_plan {
    int64_t n_params, total_steps;
    int n_ranks, reduce_groups;
    bool shard_optimizer;
    double bytes_weights, bytes_grads, bytes_optim, bytes_acts; /* activations: the largest stage */
    double bytes_comm;                                          /* MPI receive buffer (n_ranks > 1) */
    /* output layer (in bytes_acts): training steps keep out_chunk tokens of logits
     * (bytes_logits_chunk) instead of all of them (bytes_logits_full, the largest stage);
     * distillation adds one sequence of the teacher's logits (in bytes_acts) */
    int out_chunk;
    bool checkpoint_activations;
    double bytes_acts_plain; /* activations without checkpointing (= bytes_acts when it is off) */
    double bytes_logits_chunk, bytes_logits_full;
    /* per stage: activations (as bytes_acts), and the bytes of the output matrix packed once per
     * step for every chunk (afm_train_out_pack_bytes: in the backward scratch, no memory of its
     * own) of bytes_out_pack_full (both layouts whole; the columns past the packed ones are packed
     * per chunk) */
    double bytes_acts_stage[AFM_RECIPE_MAX_STAGES], bytes_out_pack[AFM_RECIPE_MAX_STAGES];
    double bytes_out_pack_full;
    double flops_per_step[AFM_RECIPE_MAX_STAGES];              /* 6N + attention, per optimizer step */
    double tokens_per_step[AFM_RECIPE_MAX_STAGES];
} afm_train_plan;
afm_status afm_train_make_plan(const afm_recipe *r, int32_t n_vocab, int n_ranks, bool shard_optimizer, afm_train_plan *p);
#endif
