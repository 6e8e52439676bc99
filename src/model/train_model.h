/* The AFM transformer for training: f32 parameters, gradients and activations, each one big
 * buffer with named views (llm.c style), forward with loss and the full backward.
 *
 * Parameters are laid out tensor after tensor in GGUF order and named with GGUF (llama.cpp)
 * tensor names; matrices are row-major (out, in):
 *   token_embd.weight (V, D)
 *   blk.L.attn_norm.weight (D)    blk.L.attn_q.weight (H*hd, D)  blk.L.attn_k.weight (KH*hd, D)
 *   blk.L.attn_v.weight (KH*hd, D) blk.L.attn_q_norm.weight (hd)  blk.L.attn_k_norm.weight (hd)
 *   blk.L.attn_output.weight (D, H*hd)  blk.L.ffn_norm.weight (D)
 *   blk.L.ffn_gate.weight (F, D)  blk.L.ffn_up.weight (F, D)  blk.L.ffn_down.weight (D, F)
 *   output_norm.weight (D)        output.weight (V, D) unless tied
 * (the q/k norm gains exist only when qk_norm != off).
 *
 * Layer (afm.md §1.3), pre-norm, no biases:
 *   h   = x + Wo · attn(rope/qknorm(Wq·n1(x)), rope/qknorm(Wk·n1(x)), Wv·n1(x))
 *   out = h + Wdown · (silu(Wgate·n2(h)) ⊙ Wup·n2(h))
 * attention scores are (q·k) / sqrt(hd); logits = n_out(x_L) · Eᵀ (or output.weightᵀ). */
#ifndef AFM_MODEL_TRAIN_MODEL_H
#define AFM_MODEL_TRAIN_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "afm/model.h"
#include "base/threadpool.h"
#include "model/train_gemm.h"

typedef enum afm_param_kind {
    AFM_PARAM_EMBEDDING = 0, /* token embedding / untied output: full learning rate */
    AFM_PARAM_LINEAR = 1,    /* projection matrices: µP-simple scaled updates */
    AFM_PARAM_NORM = 2       /* RMSNorm gains */
} afm_param_kind;

typedef struct afm_param_tensor {
    char name[64];       /* GGUF tensor name */
    size_t offset;       /* floats from the start of the parameter buffer */
    size_t numel;
    int n_dims;
    int64_t shape[2];    /* row-major: (rows, cols) or (n) */
    afm_param_kind kind;
    long fan_in;         /* columns of a matrix (init std 1/sqrt(fan_in)) */
} afm_param_tensor;

typedef struct afm_layer_params {
    float *attn_norm, *wq, *wk, *wv, *q_norm, *k_norm, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
} afm_layer_params;

typedef struct afm_param_views {
    float *tok_embd, *output_norm, *output; /* output == tok_embd when tied */
    afm_layer_params *layers;
} afm_param_views;

typedef struct afm_layer_acts {
    float *x_n1, *rstd1;            /* (N, D), (N) */
    float *qkv;                     /* (N, H*hd + 2 KH*hd): row n = [q_lin | k_lin | v], one GEMM with the
                                       adjacent weights wq, wk, wv as one (H*hd + 2 KH*hd, D) matrix */
    float *q_mid, *k_mid;           /* RoPE output = QK-norm input (qk_norm after RoPE) */
    float *q_rstd, *k_rstd;         /* (N*H), (N*KH) */
    float *q, *k;                   /* attention inputs after RoPE and QK-norm */
    float *attn_stats;              /* (B, H, T, 2): softmax max and 1/sum per query row */
    float *att;                     /* (N, H*hd) */
    float *h;                       /* (N, D) residual after attention */
    float *x_n2, *rstd2;            /* (N, D), (N) */
    float *gu;                      /* (N, 2F): row n = [gate | up], one GEMM with w_gate, w_up as (2F, D) */
    float *act;                     /* (N, F) */
} afm_layer_acts;

typedef struct afm_train_model {
    afm_config cfg;
    afm_pool *pool;        /* borrowed */
    afm_gemm_ws *gemm;
    int B, T;              /* capacity: forward accepts b <= B, t <= T */
    /* Activation checkpointing (afm_train_model_opts): all layers share one set of internals
     * (acts[l] are the same buffers); forward keeps every layer's input resid[l], and backward
     * recomputes layer l's internals from it (the last layer's are still there) before its
     * backward, with the same ops in the same order: the same bits as without checkpointing, for
     * about one more forward pass of the layers. */
    bool checkpoint;
    float z_loss;          /* z-loss coefficient (0: plain cross-entropy) */

    size_t n_params;
    int n_tensors;
    afm_param_tensor *tensors;
    float *params, *grads;
    afm_param_views p, g;

    float *act_mem;
    float **resid;         /* L+1 residual streams (N, D): resid[0] = embeddings */
    afm_layer_acts *acts;
    float *x_nf, *rstdf, *lse, *losses; /* final norm, per-row lse and loss (N) */
    /* Full (N, V) logits of afm_train_forward: allocated by its first call (B*T*V floats, e.g.
     * 200 MB at N = 1024, V = 49152), never by afm_train_step / afm_train_eval_loss. */
    float *logits;
    /* Fused output layer (afm_train_step, afm_train_eval_loss): tokens per chunk, 1 ..
     * out_chunk_cap (create sets afm_train_out_chunk(cfg, B, T); callers may lower it), the
     * chunk's logits / their gradient (out_chunk_cap, V) and each row's loss in double. */
    int out_chunk, out_chunk_cap;
    float *chunk_logits;
    double *chunk_loss;
    /* backward scratch */
    float *d_resid, *d_xn, *d_att, *d_qkv, *d_act, *d_gu, *scratch; /* d_qkv, d_gu: layouts of qkv, gu */
    /* The output matrix packed for its two products in the output layer (afm_gemm_bpack_fill_cols:
     * logits = x · Wᵀ and dx = dlogits · W), once per step for all chunks, in d_resid .. d_gu,
     * which hold nothing while the output layer runs, and never in more than that
     * (afm_train_out_pack_bytes): vocabulary columns 0 .. out_pack_v_cols of the logits' operand,
     * then model columns 0 .. out_pack_d_cols of dx's; the rest of each product packs its columns
     * per chunk. NULL / 0: not packed beforehand. */
    float *out_pack_fwd, *out_pack_bwd;
    long out_pack_v_cols, out_pack_d_cols;
    float *d_scores;       /* attention scratch: threads x afm_attn_scratch_floats(T, hd) (train_ops.h), own allocation */
    float *rope_cos, *rope_sin;
    double rope_theta_tab;  /* theta the tables were built for */

    /* state of the last forward, used by backward */
    const int32_t *tokens, *targets;
    int cur_b, cur_t;
    long n_valid;
    double loss;
    /* Set by a caller that, after forward, replaced the logits with scale · d(its loss)/d(logits)
     * (e.g. a distillation loss, train/distill.h): backward then starts from them instead of the cross-entropy
     * gradient. forward clears it. */
    bool logits_are_grads;
    /* Optional per-op timing (bench_train profile): when prof is non-NULL, forward and backward
     * add the seconds of each op class, read with prof_clock, into prof[AFM_TP_*]. */
    double *prof;
    double (*prof_clock)(void);
} afm_train_model;

/* Op classes of the per-op timing; afm_train_prof_name gives each a short name. */
typedef enum afm_train_prof_id {
    AFM_TP_F_EMBED, AFM_TP_F_NORM, AFM_TP_F_QKV, AFM_TP_F_ROPE_QKN, AFM_TP_F_ATTN, AFM_TP_F_WO, AFM_TP_F_ADD,
    AFM_TP_F_GATEUP, AFM_TP_F_SWIGLU, AFM_TP_F_DOWN, AFM_TP_F_LOGITS, AFM_TP_F_XENT,
    AFM_TP_B_XENT, AFM_TP_B_LOGITS_DW, AFM_TP_B_LOGITS_DX, AFM_TP_B_NORM, AFM_TP_B_DOWN_DW, AFM_TP_B_DOWN_DX,
    AFM_TP_B_SWIGLU, AFM_TP_B_GATEUP_DW, AFM_TP_B_GATEUP_DX, AFM_TP_B_WO_DW, AFM_TP_B_WO_DX, AFM_TP_B_ATTN,
    AFM_TP_B_ROPE_QKN, AFM_TP_B_QKV_DW, AFM_TP_B_QKV_DX, AFM_TP_B_EMBED, AFM_TP_COUNT
} afm_train_prof_id;
const char *afm_train_prof_name(int id);

typedef struct afm_train_model_opts {
    bool checkpoint_activations; /* keep only each layer's input; recompute its internals in backward */
    /* do not pack the output matrix once per step for all chunks of the output layer (each chunk
     * packs it again, as for one chunk); same results, same memory (the packed part lies in the
     * backward scratch) */
    bool no_out_pack;
    /* at most this many floats of the output matrix packed once per step (0: as many as the
     * backward scratch holds, afm_train_out_pack_bytes; tests use it to cut the packing anywhere) */
    size_t out_pack_floats;
} afm_train_model_opts;

/* Allocates parameters, gradients and activations for batches up to (B, T). The pool is
 * borrowed and must outlive the model. Parameters are uninitialized: call init or load.
 * opts NULL: the defaults (no checkpointing). */
afm_status afm_train_model_create(const afm_config *cfg, int B, int T, afm_pool *pool, afm_train_model **out);
afm_status afm_train_model_create_opts(const afm_config *cfg, int B, int T, const afm_train_model_opts *opts, afm_pool *pool,
                                       afm_train_model **out);
void afm_train_model_free(afm_train_model *m);
/* Checks what training needs of a config (positive sizes, GQA divisibility, even head_dim). */
afm_status afm_train_config_check(const afm_config *cfg);
size_t afm_train_n_params(const afm_config *cfg);
/* Bytes of activations + backward scratch for (B, T) of a training step (afm_train_step: the
 * output layer in chunks of afm_train_out_chunk rows, no (N, V) logits). */
size_t afm_train_act_bytes(const afm_config *cfg, int B, int T);
/* The same with options (activation checkpointing: L (N, D) layer inputs and one layer's internals). */
size_t afm_train_act_bytes_opts(const afm_config *cfg, int B, int T, const afm_train_model_opts *opts);
/* Bytes of the full (B*T, V) logits that afm_train_forward adds (tests, inference parity). */
size_t afm_train_logits_bytes(const afm_config *cfg, int B, int T);
/* Default tokens per chunk of the fused output layer: about AFM_OUT_CHUNK_BYTES of logits, at
 * least AFM_OUT_CHUNK_MIN rows, at most B*T. The output matrix is packed once per step for its two
 * products (logits and dx; afm_train_out_pack_bytes), but dW_out's sum is read and written once
 * per chunk, so chunks are not made smaller than 256 tokens (48 MiB of logits at V = 49152). */
enum { AFM_OUT_CHUNK_MIN = 256 };
#ifndef AFM_OUT_CHUNK_BYTES
#define AFM_OUT_CHUNK_BYTES (8L << 20)
#endif
int afm_train_out_chunk(const afm_config *cfg, int B, int T);
/* Bytes of the output matrix packed once per step for the output layer's two products and reused
 * by every chunk, for (B, T): as much as fits in the backward scratch it shares memory with
 * (d_resid .. d_gu), the logits' layout first, so no memory of its own; the columns that do not
 * fit are packed by every chunk. afm_train_out_pack_full_bytes: both layouts whole (2 x V x D
 * floats, rounded up), what the packing would need to leave nothing per chunk. */
size_t afm_train_out_pack_bytes(const afm_config *cfg, int B, int T);
size_t afm_train_out_pack_full_bytes(const afm_config *cfg);

/* afm.md §1.3 init: linear weights N(0, 1/fan_in), embeddings N(0, 1/D), norm gains 1. */
void afm_train_model_init(afm_train_model *m, uint64_t seed);
const afm_param_tensor *afm_train_find_tensor(const afm_train_model *m, const char *name);

/* Forward over tokens (b, t) (b <= B, t <= T) keeping the full logits in m->logits (N, V).
 * targets (b, t), entries < 0 are ignored; targets NULL: logits only. Writes the mean loss
 * (CE + z * lse^2) to *loss. The arrays must stay valid until backward. Fails on out-of-range
 * token ids. For callers that need every logit (tests, inference parity); training steps
 * use afm_train_step. */
afm_status afm_train_forward(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t, double *loss);
/* After afm_train_forward: adds d(scale * loss)/dθ into grads (scale = 1/accumulation steps).
 * Overwrites the logits. */
afm_status afm_train_backward(afm_train_model *m, float scale);

/* Forward and backward in one call without the (N, V) logits: after the layers, the output layer
 * and the loss run over chunks of m->out_chunk tokens, in order: logits_c = x_c Wᵀ, the loss
 * terms, logits_c turned in place into d(scale * loss)/d(logits_c), dW_out += dlogits_cᵀ x_c and
 * dx_c = dlogits_c W; then the backward through the layers. Every value but dW_out (and the loss,
 * summed in double in row order) is bit-identical to forward + backward; dW_out differs only by
 * the grouping of its f32 sums (the chunks), in a fixed order whatever the thread count. targets
 * are required. Adds into grads like afm_train_backward; *loss as afm_train_forward's. */
afm_status afm_train_step(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t, float scale,
                          double *loss);
/* A loss of the caller's on the logits (distillation): called for consecutive chunks of rows in
 * order, rows n0 .. n0+rows-1 of the batch, it replaces logits (rows, V) with
 * d(scale · loss)/d(logits) (and keeps the loss itself). */
typedef afm_status (*afm_out_loss_fn)(void *ctx, float *logits, long n0, long rows, long V);
/* afm_train_step with fn in place of the cross-entropy: the same chunked output layer and
 * backward, without the (N, V) logits. targets may be NULL (fn knows its labels). */
afm_status afm_train_step_loss(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t,
                               afm_out_loss_fn fn, void *ctx);
/* The loss alone (validation), with the output layer in chunks as afm_train_step; no backward may follow. */
afm_status afm_train_eval_loss(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t, double *loss);
void afm_train_zero_grad(afm_train_model *m);
#endif
