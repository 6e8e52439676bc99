/* afm/model.h — the AFM transformer: configuration, loading, and inference sessions.
 *
 * One config covers every supported model (DESIGN.md §2): tied or separate output, GQA with an
 * explicit head_dim, RoPE theta and layout, QK-norm position, RMSNorm epsilon, SwiGLU width; and the
 * Gemma 3 switches (GeGLU, post-sub-layer norms, embedding scale, interleaved sliding-window layers
 * with their own RoPE base), which are all off when zero. */
#ifndef AFM_MODEL_H
#define AFM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "afm/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum afm_rope_layout {
    AFM_ROPE_INTERLEAVED = 0, /* pairs (2i, 2i+1): AFM, llama2.c, GGUF `llama` */
    AFM_ROPE_HALF = 1         /* pairs (i, i + d/2), NeoX rotate-half: GGUF `qwen3`, HF */
} afm_rope_layout;

typedef enum afm_qk_norm {
    AFM_QK_NORM_OFF = 0,         /* Llama, SmolLM2 */
    AFM_QK_NORM_BEFORE_ROPE = 1, /* Qwen3 */
    AFM_QK_NORM_AFTER_ROPE = 2   /* AFM */
} afm_qk_norm;

typedef enum afm_ffn_act {
    AFM_FFN_SILU = 0,        /* SwiGLU: silu(gate) * up (Llama, Qwen3, AFM) */
    AFM_FFN_GELU_TANH = 1    /* GeGLU: gelu_tanh(gate) * up (Gemma) */
} afm_ffn_act;

typedef struct afm_config {
    char arch[32];          /* GGUF architecture name: "afm", "llama", "qwen3" */
    int32_t n_vocab;
    int32_t dim;            /* model width */
    int32_t n_layers;
    int32_t n_heads;        /* query heads */
    int32_t n_kv_heads;     /* key/value heads (GQA: n_heads % n_kv_heads == 0) */
    int32_t head_dim;       /* need not equal dim / n_heads */
    int32_t ffn_dim;        /* SwiGLU hidden width */
    int32_t max_seq_len;    /* context length the model was trained for */
    float rope_theta;
    afm_rope_layout rope_layout;
    afm_qk_norm qk_norm;
    float norm_eps;
    bool tied_output;       /* logits use the token embedding */
    /* Gemma 3 switches; zero = off (Llama, Qwen3, AFM). */
    afm_ffn_act ffn_act;    /* activation of the gated FFN */
    bool post_norms;        /* each sub-layer's output goes through its own RMSNorm before the
                             * residual add (GGUF post_attention_norm / post_ffw_norm) */
    float embed_scale;      /* token embeddings are multiplied by this (Gemma: sqrt(dim)); 0: 1 */
    int32_t sliding_window; /* > 0: local layers see only the last sliding_window positions (the
                             * query's own included: key j is visible from query i iff i - j < W) */
    int32_t swa_period;     /* with sliding_window: layer l is global iff l % swa_period ==
                             * swa_period - 1 (Gemma 3: 6, five local then one global); 0: all local */
    float rope_theta_local; /* RoPE base of the local layers; 0: rope_theta */
    float rope_freq_scale;  /* linear RoPE scaling of the global layers (position * scale); 0: 1 */
} afm_config;

/* Whether layer l attends through the sliding window (see sliding_window / swa_period). */
bool afm_config_layer_is_local(const afm_config *c, int32_t l);

/* Checks a config for consistency; the message names the offending field. */
afm_status afm_config_validate(const afm_config *c);
/* Number of parameters (embedding counted once when tied). */
int64_t afm_config_n_params(const afm_config *c);

typedef struct afm_model afm_model;

/* Loads a GGUF model (architectures afm, llama, qwen3). Weights are used in place from the
 * memory map when their layout allows. */
afm_status afm_model_load(const char *path, afm_model **out);
void afm_model_free(afm_model *m);
const afm_config *afm_model_config(const afm_model *m);

/* ---- inference sessions: a KV cache plus scratch buffers, for one sequence ---- */
typedef struct afm_session afm_session;
/* Element type of the KV cache. AFM_KV_F16 halves its memory; keys and values are rounded to f16
 * when stored, and the attention products then round queries and attention weights to f16 as
 * well (f16 x f16 products summed in f32, as llama.cpp's default f16 cache does). */
typedef enum afm_kv_type { AFM_KV_F32 = 0, AFM_KV_F16 = 1 } afm_kv_type;

typedef struct afm_session_options {
    int32_t n_ctx;      /* KV-cache length; 0: the model's max_seq_len (capped at 4096) */
    int32_t n_threads;  /* 0: all cores */
    afm_kv_type kv_type; /* 0 (AFM_KV_F32): f32 keys and values */
    int32_t n_ubatch;   /* most tokens per forward chunk of afm_session_eval / _eval_multi (each
                         * chunk reads every weight once; the activation scratch grows with it);
                         * 0: automatic, 512, 256 or 128 as the scratch fits in ~3% of the weight
                         * bytes and one product's input in 7 MiB. Capped at n_ctx rounded up to a
                         * multiple of 128. Logits do not depend on it as long as it is a multiple
                         * of 128 (session.c, chunk_tokens). */
} afm_session_options;

afm_status afm_session_create(afm_model *m, const afm_session_options *opt, afm_session **out);
void afm_session_free(afm_session *s);
int32_t afm_session_n_past(const afm_session *s);   /* tokens already in the cache */
int32_t afm_session_n_ctx(const afm_session *s);
int32_t afm_session_n_ubatch(const afm_session *s); /* tokens per forward chunk (chosen at creation) */
/* Truncates the cache to its first n_past tokens (n_past <= current). */
afm_status afm_session_rewind(afm_session *s, int32_t n_past);

/* Feeds n tokens at positions n_past.. as one batch (matrix-matrix), appends them to the KV
 * cache and writes logits: all_logits ? (n, n_vocab) : (n_vocab) of the last token.
 * Fails with AFM_ERR_RANGE (and changes nothing) if n_past + n exceeds n_ctx. */
afm_status afm_session_eval(afm_session *s, const int32_t *tokens, int32_t n, bool all_logits, float *logits);

/* Batched decode: advances each of n distinct sessions by one token, sessions[i] by tokens[i] at
 * its own position n_past_i, and writes logits (n, n_vocab), row i sessions[i]'s next-token
 * logits. The n rows go through every weight matrix together (one matrix-matrix product per
 * weight instead of n matrix-vector ones, so the weights are read once for all n), while each
 * row's RoPE uses its own position and its keys/values go into, and its attention reads only,
 * its own session's cache. Row i's logits are those of afm_session_eval(sessions[i], &tokens[i],
 * 1, false, ...): bit for bit with quantized weights (their kernels compute a row the same way in
 * any batch), up to float summation order with f32/f16/bf16 weights.
 * The sessions must share the model, the KV-cache type and the active adapters (the same
 * afm_adapter objects and scales). sessions[0] hosts the batch: its threads and scratch are used,
 * so no other session's context may be longer than its. Every session needs a free position
 * (AFM_ERR_RANGE otherwise). All checks happen before any work; on failure no session changes. */
afm_status afm_session_eval_multi(afm_session *const *sessions, int32_t n, const int32_t *tokens, float *logits);

/* Makes dst's cache hold src's first n positions (dst's n_past becomes n; what dst held is
 * dropped): a prefix computed once can seed other sessions, at the cost of copying its keys and
 * values instead of evaluating it. Same model, KV type and active adapters; n <= src's n_past and
 * <= dst's context. */
afm_status afm_session_copy_prefix(afm_session *dst, const afm_session *src, int32_t n);

#ifdef __cplusplus
}
#endif
#endif
