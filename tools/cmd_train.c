/* afm train: pre-train an AFM model from a recipe over a data folder (src/train/trainer.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/status.h"
#include "train/data.h"
#include "train/dist.h"
#include "train/recipe.h"
#include "train/trainer.h"
#include "cli.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int usage(FILE *f) {
    fprintf(f, "usage: afm train --recipe FILE.json --data DIR --out RUN [--max-steps N] [--resume] [--threads N] [--quiet]\n"
               "                 [--shard-optimizer] [--checkpoint-activations]\n"
               "       afm train --recipe FILE.json [--data DIR] --dry-run [--ranks N] [--shard-optimizer] [--checkpoint-activations]\n"
               "Trains the recipe's model on DIR (made by 'afm data prepare'), writing RUN/metrics.jsonl and\n"
               "checkpoints RUN/ckpt/step-N/{model.gguf,state.bin}. SIGINT/SIGTERM write a checkpoint and stop;\n"
               "--resume continues from the newest valid checkpoint (bit-exact with the same --threads).\n"
               "--dry-run prints the parameter count, memory per process and FLOPs per step, without training.\n"
               "Data parallel: mpirun -np N afm train ... splits each batch across N processes (N must divide\n"
               "every stage's batch_size; docs/training-mpi.md); SIGUSR1 to mpirun checkpoints and stops.\n"
               "--shard-optimizer (or the recipe's \"shard_optimizer\": true) keeps each process's optimizer state\n"
               "for its 1/N of the parameters only (ZeRO-1); --dry-run --ranks N plans for N processes.\n"
               "--checkpoint-activations (or the recipe's \"checkpoint_activations\": true) keeps only each layer's\n"
               "input and recomputes the layer in the backward pass: less memory, the same gradients bit for bit.\n");
    return f == stdout ? 0 : 2;
}

static void progress(void *ctx, const afm_train_progress *p) {
    bool *quiet = ctx;
    if (p->val) { fprintf(stderr, "\nstep %lld  validation loss %.4f\n", (long long)p->step, p->loss); return; }
    if (p->checkpoint) { if (!*quiet) fprintf(stderr, "\ncheckpoint at step %lld\n", (long long)p->step); return; }
    if (*quiet) return;
    int width = 30, done = p->total_steps ? (int)(width * p->step / p->total_steps) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %lld/%lld %s loss %.4f lr %.2e %.0f tok/s ETA %.0fs   ", bar, (long long)p->step,
            (long long)p->total_steps, p->stage, p->loss, p->lr, p->tokens_per_s, p->eta_s);
}

static double gib(double b) { return b / (1024.0 * 1024.0 * 1024.0); }

static int dry_run(const afm_recipe *r, const char *data_dir, int n_ranks, bool shard) {
    int32_t n_vocab = r->model.n_vocab;
    if (data_dir) {
        afm_data *d;
        if (afm_data_open(data_dir, &d) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
        n_vocab = afm_data_n_vocab(d);
        afm_data_close(d);
    }
    if (n_vocab <= 0) { fprintf(stderr, "error: --dry-run needs --data DIR or model.n_vocab in the recipe\n"); return 1; }
    afm_train_plan p;
    if (afm_train_make_plan(r, n_vocab, n_ranks, shard, &p) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    printf("model: dim %d, %d layers, %d heads (%d kv, head_dim %d), ffn %d, vocab %d, %s output\n", r->model.dim, r->model.n_layers,
           r->model.n_heads, r->model.n_kv_heads, r->model.head_dim, r->model.ffn_dim, n_vocab, r->model.tied_output ? "tied" : "separate");
    printf("parameters: %lld (%.3f B)\n", (long long)p.n_params, p.n_params / 1e9);
    if (p.n_ranks > 1)
        printf("processes: %d (batch rows per process: batch_size / %d), optimizer state %s\n", p.n_ranks, p.n_ranks,
               p.shard_optimizer ? "sharded (ZeRO-1: 1/N of the parameters per process)" : "replicated on every process");
    char gbuf[64] = "";
    if (p.reduce_groups / p.n_ranks > 1) snprintf(gbuf, sizeof gbuf, " (%d row-group buffers)", p.reduce_groups / p.n_ranks);
    printf("memory per process (f32): weights %.2f GiB, gradients %.2f GiB%s, optimizer state %.2f GiB%s, activations %.2f GiB "
           "(largest stage)", gib(p.bytes_weights), gib(p.bytes_grads), gbuf, gib(p.bytes_optim), p.shard_optimizer ? " (sharded)" : "",
           gib(p.bytes_acts));
    if (p.n_ranks > 1) printf(", MPI buffer %.2f GiB", gib(p.bytes_comm));
    printf(", total %.2f GiB\n", gib(p.bytes_weights + p.bytes_grads + p.bytes_optim + p.bytes_acts + p.bytes_comm));
    if (p.checkpoint_activations)
        printf("activation checkpointing: activations %.2f GiB instead of %.2f GiB (each layer's input kept, its internals "
               "recomputed in the backward pass)\n", gib(p.bytes_acts), gib(p.bytes_acts_plain));
    printf("output layer: in chunks of %d tokens, %.1f MiB of logits at a time (all of them at once would be %.2f GiB)%s\n",
           p.out_chunk, p.bytes_logits_chunk / 1048576.0, gib(p.bytes_logits_full),
           r->distill.mode != AFM_DISTILL_OFF ? "; distillation: plus one sequence of the teacher's logits" : "");
    double total_flops = 0;
    for (int i = 0; i < r->n_stages; i++) {
        const afm_stage *s = &r->stages[i];
        printf("stage %-10s %lld steps x %.0f tokens (seq %d, batch %d, accum %d): %.3g FLOP/step, lr %g, rope theta %g\n", s->name,
               (long long)s->steps, p.tokens_per_step[i], s->seq_len, s->batch_size, s->grad_accum, p.flops_per_step[i], (double)s->lr,
               (double)s->rope_theta);
        printf("  activations %.2f GiB; output matrix packed once per step: %.1f of %.1f MiB, in the backward scratch (no memory "
               "of its own)%s\n", gib(p.bytes_acts_stage[i]), p.bytes_out_pack[i] / 1048576.0, p.bytes_out_pack_full / 1048576.0,
               p.bytes_out_pack[i] < p.bytes_out_pack_full ? ", the rest packed per chunk" : "");
        total_flops += p.flops_per_step[i] * (double)s->steps;
    }
    printf("total: %lld steps, %.3g FLOP\n", (long long)p.total_steps, total_flops);
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *recipe_path = NULL;
    afm_train_options o;
    memset(&o, 0, sizeof o);
    bool dry = false, quiet = false, ckpt_acts = false;
    int n_ranks = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool next = i + 1 < argc;
        if (!strcmp(a, "--recipe") && next) recipe_path = argv[++i];
        else if (!strcmp(a, "--data") && next) o.data_dir = argv[++i];
        else if (!strcmp(a, "--out") && next) o.run_dir = argv[++i];
        else if (!strcmp(a, "--max-steps") && next) o.max_steps = atoll(argv[++i]);
        else if (!strcmp(a, "--threads") && next) o.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "--dry-run")) dry = true;
        else if (!strcmp(a, "--shard-optimizer")) o.shard_optimizer = true;
        else if (!strcmp(a, "--checkpoint-activations")) ckpt_acts = true;
        else if (!strcmp(a, "--ranks") && next) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000) { fprintf(stderr, "error: --ranks needs a positive number of processes\n"); return usage(stderr); }
            n_ranks = (int)v;
        }
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
        else { fprintf(stderr, "error: unknown or incomplete option '%s'\n", a); return usage(stderr); }
    }
    if (!recipe_path) { fprintf(stderr, "error: --recipe is required\n"); return usage(stderr); }
    if (n_ranks != 1 && !dry) { fprintf(stderr, "error: --ranks is for --dry-run (mpirun -np N sets the processes of a run)\n"); return usage(stderr); }
    afm_recipe *r = malloc(sizeof *r);
    if (!r) return 1;
    if (afm_recipe_load(recipe_path, r) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); free(r); return 1; }
    if (ckpt_acts) r->checkpoint_activations = true;
    if (dry) { int rc = dry_run(r, o.data_dir, n_ranks, o.shard_optimizer); free(r); return rc; }
    if (!o.data_dir || !o.run_dir) { fprintf(stderr, "error: --data and --out are required\n"); free(r); return usage(stderr); }
    o.stop = &g_stop;
    o.progress = progress;
    o.progress_ctx = &quiet;
    afm_dist dist;
    if (afm_dist_init(&dist) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); free(r); return 1; }
    o.dist = &dist;
    if (dist.rank != 0) quiet = true;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal); /* under mpirun: `kill -USR1 <mpirun>` reaches every rank (mpirun forwards it) */
    afm_status st = afm_train_run(r, &o);
    if (!quiet) fprintf(stderr, "\n");
    free(r);
    if (st != AFM_OK) {
        if (dist.size > 1) fprintf(stderr, "error (rank %d of %d): %s\n", dist.rank, dist.size, afm_last_error());
        else fprintf(stderr, "error: %s\n", afm_last_error());
        afm_dist_abort(&dist, 1); /* the other ranks would wait forever in the next all-reduce */
        afm_dist_finalize(&dist);
        return 1;
    }
    afm_dist_finalize(&dist);
    if (g_stop) fprintf(stderr, "stopped by signal; checkpoint written, continue with --resume\n");
    return 0;
}
