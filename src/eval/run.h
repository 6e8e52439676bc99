/* Model-driven evaluation: builds each task's prompts, runs the model (log-likelihood of
 * choices with the prompt's KV cache shared across them and few-shot prefixes cached across
 * items, greedy generation, or perplexity), and grades with the task's scorer. */
#ifndef AFM_EVAL_RUN_H
#define AFM_EVAL_RUN_H
#include <stdbool.h>
#include <stdint.h>
#include "afm/status.h"
#include "eval/task.h"

typedef struct afm_eval_run_options {
    int64_t limit;        /* 0: all items */
    int shots;            /* -1: the task's default */
    int n_threads;        /* threads in all; 0: all cores */
    int parallel;         /* sessions working on disjoint items, threads split among them; 0: one
                           * single-threaded session per thread (perplexity: always one session) */
    int n_ctx;            /* 0: the model's context (capped at 4096) */
    int batch;            /* generation tasks: sequences each session-worker decodes together (one
                           * session each, every step one afm_session_eval_multi call); 1: one at a
                           * time; 0: AFM_EVAL_DEFAULT_BATCH. Other tasks ignore it. */
    int kv_type;          /* afm_kv_type of the sessions' KV caches (0: f32, 1: f16) */
    int max_tokens;       /* generation cap; 0: the task's default */
    bool progress;        /* progress bar with ETA on stderr */
    bool chat;            /* wrap generation prompts in the model's chat template */
    bool no_prefix_cache; /* evaluate every request from an empty cache (for checks and benchmarks) */
    bool record_tokens;   /* multiple choice: store context and continuation token ids per item */
    const char *adapter;  /* LoRA adapter file (llama.cpp GGUF LoRA format, afm/adapter.h), or NULL */
    float adapter_scale;  /* user scale of the adapter (1: as trained) */
    const char *data_path; /* the data file or folder (MMLU few-shot examples are found beside it) */
} afm_eval_run_options;

enum { AFM_EVAL_DEFAULT_BATCH = 8, AFM_EVAL_MAX_BATCH = 128 };

void afm_eval_run_options_default(afm_eval_run_options *o);

afm_status afm_eval_run_model(const afm_eval_task *task, const afm_eval_dataset *data, const char *model_path,
                              const afm_eval_run_options *opt, afm_eval_results *r);
/* A loaded model for other drivers (judge.c): log-likelihoods of continuations, reusing the KV
 * cache's longest common token prefix across calls. */
typedef struct afm_eval_model afm_eval_model;
afm_status afm_eval_model_open(const char *model_path, const afm_eval_run_options *opt, afm_eval_model **out);
void afm_eval_model_close(afm_eval_model *m);
const char *afm_eval_model_chat_template(const afm_eval_model *m);   /* NULL: none */
int32_t afm_eval_model_n_ctx(const afm_eval_model *m);
/* lp[c] = log P(conts[c] | context), summed over the continuation's tokens (the split of run.c);
 * special: the context holds special-token text (chat-template output). */
afm_status afm_eval_model_loglik(afm_eval_model *m, const char *context, bool special, const char *const *conts, int n,
                                 double *lp);
#endif
