/* Inference session: KV cache, RoPE tables and scratch; the forward pass.
 *
 * Per layer, for a batch x: (T, dim) at positions p0..p0+T-1 (pre-norm transformer):
 *   xn = RMSNorm(x) * g_attn
 *   q = xn Wqᵀ (T, H, hd); k = xn Wkᵀ, v = xn Wvᵀ (T, KV, hd)
 *   QK-norm (RMSNorm over hd, per-head gains) before or after RoPE, or none
 *   RoPE(q, k) at each token's position (interleaved pairs or half split; a local layer's own base)
 *   att[t, h] = softmax_{j in keys(t)} (q[t,h] · k[j, h/(H/KV)] / sqrt(hd)) · v[j, h/(H/KV)]
 *       keys(t) = j <= p0+t, and on a sliding-window (local) layer also p0+t - j < W
 *   x += post(att Woᵀ)
 *   x += post(W_down (act(RMSNorm(x) W_gateᵀ) ⊙ RMSNorm(x) W_upᵀ))
 *       act = silu (SwiGLU) or tanh-GELU (GeGLU); post = RMSNorm with the layer's post-norm gain
 *       when cfg.post_norms (Gemma), else the identity
 * logits = RMSNorm(x) * g_out · Eᵀ (E = output or the tied token embedding).
 * The embedding rows enter scaled by cfg.embed_scale (when set). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "kernels/attn.h"
#include "kernels/matmul.h"
#include "kernels/nn.h"
#include "kernels/vec.h"
#include "afm/generate.h"
#include "model/adapter_internal.h"
#include "model/model_internal.h"
#include "model/trace.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"

/* Tokens per forward chunk (s->ubatch; afm_session_options.n_ubatch, 0: automatic). Every chunk
 * reads all weights from memory once (f32 / f16 / bf16: also converts them to f32 panels once),
 * and runs a pool barrier per operation and layer, so fewer, larger chunks are faster (pp512 at 2
 * threads, 512 vs 128 tokens, same build: about 10% less CPU time on Qwen3-0.6B F16, 5% on its
 * Q4_0, 30% on SmolLM2-135M Q4_1; BENCHMARKS.md, "Prefill chunk size"); but the activation scratch
 * (x, xn, q, k, v, gate, up and the matmul's copy of x: about 100 KiB per token on AFM-3B, 25 KiB
 * on SmolLM2-135M) grows with the chunk, and so does one product's input x: the GEMM streams x
 * once per block of weight rows, from L3 while it fits (AFM-3B's FFN down product at 512 tokens:
 * 16.5 MB of x plus as much packed, over this machine's 32 MB L3; AFM-3B F16 pp512 at 1 thread
 * took ~5% more CPU time at 512 than at 128, no gain at 2 threads). Automatic: the largest of
 * UBATCH_AUTO_MAX, /2, ... down to UBATCH_STEP whose chunk scratch is at most 1/UBATCH_BUDGET of
 * the weight bytes (peak memory within ~3% of file + KV cache) and whose widest x (tokens x
 * max(dim, ffn) f32) is at most UBATCH_X_BYTES: Qwen3-0.6B F16: 512; SmolLM2-135M F16: 256;
 * SmolLM2-135M Q4_1, Qwen3-0.6B Q4_0, AFM-3B (ffn 8064, any type): 128. Capped at the session's
 * n_ctx rounded up to a multiple of UBATCH_STEP. */
enum { UBATCH_STEP = 128, UBATCH_AUTO_MAX = 512, UBATCH_BUDGET = 32, UBATCH_MAX = 1 << 16, UBATCH_X_BYTES = 7 << 20 };
/* Query tokens per prefill attention work item. Each item computes scores for all its rows against
 * keys up to its last token, so the rows of its earlier tokens carry up to ATTN_TB - 1 masked keys
 * (products computed, weights 0): with 16 tokens that waste is half of 32's, and the item's scores
 * (16 tokens x group heads x n keys) are half as large, while each KV head's keys and values are
 * read once per item from L2/L3 (perf on MMLU, 1 thread: attention / q4_1 GEMM time 0.287 at 16
 * vs 0.299 at 32 on the first 60 questions, 1.48 vs 1.59 on high_school_european_history). */
enum { ATTN_TB = 16 };

struct afm_session {
    afm_model *m;
    afm_pool *pool;
    int32_t n_ctx, n_past;
    int32_t ubatch;                /* most tokens per forward chunk (the scratch holds this many) */
    int32_t n_ctx_kb;              /* n_ctx rounded up to whole key blocks (AFM_ATTN_KB) */
    int64_t kv_dim;                /* n_kv_heads * head_dim */
    afm_kv_type kv_type;           /* element type of the caches: f32, or f16 (uint16_t) */
    size_t kv_esize;               /* bytes per cache element */
    void *k_cache;                 /* (n_layers, n_kv_heads, n_ctx_kb, head_dim), each head's keys in the
                                    * blocked layout of kernels/attn.h (8 positions x head_dim per block) */
    void *v_cache;                 /* (n_layers, n_kv_heads, n_ctx, head_dim): each head's values row-major */
    float *rope_cos, *rope_sin;    /* (n_ctx, head_dim/2) */
    float *rope_cos_local, *rope_sin_local; /* the same for the local layers' RoPE base, or NULL
                                    * when they use the global tables */
    float *x, *xn, *q, *k, *v, *gate, *up; /* scratch for ubatch tokens */
    float *att;                    /* attention output (ubatch, n_heads * head_dim): the bytes of q,
                                    * each (token, head) written after its query was last read */
    float *scores;                 /* (n_threads, group, scores_ld) attention weights (decode: the query
                                    * heads of one KV head) */
    int64_t scores_ld;             /* n_ctx_kb rounded up to 16 floats */
    float *attn_ws;                /* (n_threads, attn_ws_floats): prefill attention work space per thread */
    size_t attn_ws_floats;
    afm_lora_set lora;             /* active LoRA adapters (afm/adapter.h) */
    float *work;                   /* one buffer holding the scratch views above (carve_scratch) */
    afm_trace_fn trace;            /* debug hook (model/trace.h), NULL: off */
    void *trace_user;
    afm_session *const *rows;      /* while this session hosts an afm_session_eval_multi chunk: row t
                                    * belongs to rows[t] (its KV cache, RoPE tables and position
                                    * rows[t]->n_past); NULL: row t is this session's, at n_past + t */
};

/* Whether the local (sliding-window) layers need RoPE tables of their own. */
static bool local_rope_tables(const afm_config *c) {
    if (c->sliding_window <= 0) return false;
    bool any_local = false;
    for (int l = 0; l < c->n_layers && !any_local; l++) any_local = afm_config_layer_is_local(c, l);
    return any_local && ((c->rope_theta_local > 0 && c->rope_theta_local != c->rope_theta) ||
                         (c->rope_freq_scale != 0 && c->rope_freq_scale != 1));
}

void afm_session_set_trace(afm_session *s, afm_trace_fn fn, void *user) {
    s->trace = fn;
    s->trace_user = user;
}

/* reports an op's output (rows x cols) to the debug hook, if one is set */
#define TRACE(name, layer, data, rows, cols) \
    do { if (s->trace) s->trace(s->trace_user, name, layer, data, rows, cols); } while (0)

/* The scratch views live in one buffer. The attention group (q = att, k, v, attn_ws) is dead once
 * att has gone through Wo, and gate/up are live only in the FFN after it, so the two groups share
 * their bytes (on SmolLM2-135M, 512 positions, 2 threads: 1.2 MiB less at 128 tokens). Views
 * start on 64-byte boundaries; with base == NULL only the total size (floats) is computed. */
typedef struct { float **dst; size_t n; } scratch_view;

static size_t carve(float *base, const scratch_view *v, size_t n, size_t at) {
    for (size_t i = 0; i < n; i++) {
        if (base) *v[i].dst = base + at;
        at += (v[i].n + 15) & ~(size_t)15;
    }
    return at;
}

static size_t carve_scratch(afm_session *s, float *base) {
    const afm_config *c = &s->m->cfg;
    size_t U = (size_t)s->ubatch, hd = (size_t)c->head_dim, qd = (size_t)c->n_heads * hd, kvd = (size_t)s->kv_dim;
    size_t ctx = (size_t)s->n_ctx, half = hd / 2, nt = (size_t)afm_pool_size(s->pool);
    size_t local_rope = local_rope_tables(c) ? ctx * half : 0;
    scratch_view always[] = {{&s->x, U * c->dim}, {&s->xn, U * c->dim}, {&s->rope_cos, ctx * half},
                             {&s->rope_sin, ctx * half}, {&s->scores, nt * (size_t)(c->n_heads / c->n_kv_heads) * (size_t)s->scores_ld},
                             {&s->rope_cos_local, local_rope}, {&s->rope_sin_local, local_rope}};
    scratch_view attn[] = {{&s->q, U * qd}, {&s->k, U * kvd}, {&s->v, U * kvd}, {&s->attn_ws, nt * s->attn_ws_floats}};
    scratch_view ffn[] = {{&s->gate, U * c->ffn_dim}, {&s->up, U * c->ffn_dim}};
    size_t shared = carve(base, always, sizeof always / sizeof always[0], 0);
    size_t a = carve(base, attn, sizeof attn / sizeof attn[0], shared);
    size_t f = carve(base, ffn, sizeof ffn / sizeof ffn[0], shared);
    s->att = s->q;
    if (!local_rope) s->rope_cos_local = s->rope_sin_local = NULL;
    return a > f ? a : f;
}

/* angle(pos, i) = pos * scale * theta^(-2i/hd), computed in double then rounded (scale 0: 1) */
/* angle(pos, i) = scale * pos * theta^(-2i/hd), rounded as ggml computes it (so that llama.cpp and
 * afm rotate by the same f32 values): step = powf(theta, -2/hd) in f32, pos * step^i by repeated
 * f32 multiplication starting from (float)pos, times the frequency scale (unless 0 or 1), then
 * cosf / sinf. */
static void fill_rope(float *cos_t, float *sin_t, int64_t n_ctx, int64_t hd, float theta, float scale) {
    int64_t half = hd / 2;
    float step = powf(theta, -2.0f / (float)hd);
    bool scaled = scale != 0 && scale != 1;
    for (int64_t p = 0; p < n_ctx; p++) {
        float a = (float)p;
        for (int64_t i = 0; i < half; i++, a *= step) {
            float ai = scaled ? a * scale : a;
            cos_t[p * half + i] = cosf(ai);
            sin_t[p * half + i] = sinf(ai);
        }
    }
}

/* Bytes of the weight matrices a forward pass multiplies (every layer's projections and the
 * output matrix). */
static double weight_bytes(const afm_model *m) {
    double sum = (double)afm_dtype_row_size(m->output.type, m->output.cols) * (double)m->output.rows;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const afm_layer *L = &m->layers[l];
        const afm_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) sum += (double)afm_dtype_row_size(w[i]->type, w[i]->cols) * (double)w[i]->rows;
    }
    return sum;
}

/* Floats in the widest activation row a matrix product reads: max(dim, ffn) */
static int64_t widest_row(const afm_config *c) { return c->ffn_dim > c->dim ? c->ffn_dim : c->dim; }

/* Bytes a chunk of s->ubatch tokens adds: the session's scratch beyond its fixed part (x, xn,
 * q, k, v or gate, up) and the matrix products' copy of x (at most ubatch * max(dim, ffn) f32:
 * the packed GEMM's panels, or the 8-bit activations of the quantized kernels). */
static double chunk_bytes(afm_session *s) {
    int32_t u = s->ubatch;
    s->ubatch = 0;
    size_t fixed = carve_scratch(s, NULL);
    s->ubatch = u;
    return ((double)(carve_scratch(s, NULL) - fixed) + (double)u * (double)widest_row(&s->m->cfg)) * sizeof(float);
}

/* s->ubatch for options.n_ubatch = n (0: automatic, see UBATCH_STEP) and context n_ctx */
static void choose_ubatch(afm_session *s, int32_t n, int32_t n_ctx) {
    /* no more than the context holds, rounded up to whole UBATCH_STEPs (so an automatic size stays
     * a multiple of UBATCH_STEP, and a batched decode of many short sessions keeps its 128-row
     * chunks) */
    int32_t cap = (n_ctx + UBATCH_STEP - 1) / UBATCH_STEP * UBATCH_STEP;
    if (n > 0) {
        s->ubatch = n < cap ? n : cap;
        return;
    }
    double budget = weight_bytes(s->m) / UBATCH_BUDGET, widest = (double)widest_row(&s->m->cfg);
    for (n = UBATCH_AUTO_MAX; n > UBATCH_STEP; n /= 2) {
        s->ubatch = n < cap ? n : cap;
        if (chunk_bytes(s) <= budget && (double)n * widest * sizeof(float) <= UBATCH_X_BYTES) return;
    }
    s->ubatch = UBATCH_STEP < cap ? UBATCH_STEP : cap;
}

/* Tokens in the next forward chunk when `left` remain: s->ubatch, or all that remain when they fit,
 * except that a rest of more than UBATCH_STEP tokens whose last partial UBATCH_STEP is shorter than
 * AFM_MATMUL_UNIFORM_T leaves that short piece to a chunk of its own. With ubatch a multiple of
 * UBATCH_STEP, every chunk then is a run of whole UBATCH_STEP-token pieces of the 128-token plan
 * (n = 128 q + r: q pieces of 128, then r) with at most one piece of AFM_MATMUL_UNIFORM_T..127
 * tokens at its end, or that plan's short last piece alone, and each row is computed bit for bit
 * as in the 128-token plan:
 *   - matrix products: a row in a call of >= AFM_MATMUL_UNIFORM_T tokens is summed the same way
 *     whatever the call's token count (kernels/matmul.h), and the short piece keeps its own call;
 *   - prefill attention: work items are ATTN_TB-token blocks counted from the chunk's start (every
 *     piece starts at a multiple of 128 = 8 ATTN_TB from it), each against the keys up to its last
 *     token, the same products whatever chunk the block is in; a short piece below
 *     ATTN_GEMM_MIN_T tokens keeps the decode attention;
 *   - norms, RoPE, the cache writes and the GLU are per token.
 * So logits do not depend on n_ubatch (multiples of 128; tests/golden/test_ubatch.c). Merging the
 * short piece would save one pass over the weights for a prompt of 128 q + (1..23) tokens but
 * move its rows from the tiles' or the GEMV's summation to the GEMM's. */
static int chunk_tokens(const afm_session *s, int32_t left) {
    if (left > s->ubatch) return s->ubatch;
    int32_t tail = left % UBATCH_STEP;
    if (left > UBATCH_STEP && tail > 0 && tail < AFM_MATMUL_UNIFORM_T) return left - tail;
    return left;
}

afm_status afm_session_create(afm_model *m, const afm_session_options *opt, afm_session **out) {
    *out = NULL;
    const afm_config *c = &m->cfg;
    afm_session_options o = {0, 0, AFM_KV_F32, 0};
    if (opt) o = *opt;
    if (o.kv_type != AFM_KV_F32 && o.kv_type != AFM_KV_F16)
        return afm_error(AFM_ERR_INVALID_ARG, "KV-cache type %d is not f32 (0) or f16 (1)", (int)o.kv_type);
    if (o.n_ctx < 0) return afm_error(AFM_ERR_INVALID_ARG, "context length %d is negative", o.n_ctx);
    if (o.n_ctx == 0) o.n_ctx = c->max_seq_len < 4096 ? c->max_seq_len : 4096;
    if (o.n_ctx > (1 << 22)) return afm_error(AFM_ERR_INVALID_ARG, "context length %d is too large", o.n_ctx);
    if (o.n_ubatch < 0 || o.n_ubatch > UBATCH_MAX)
        return afm_error(AFM_ERR_INVALID_ARG, "forward chunk of %d tokens: expected 0 (automatic) to %d", o.n_ubatch,
                         (int)UBATCH_MAX);
    afm_session *s = calloc(1, sizeof *s);
    if (!s) return afm_error(AFM_ERR_NOMEM, "out of memory creating session");
    s->m = m;
    s->n_ctx = o.n_ctx;
    s->n_ctx_kb = (o.n_ctx + AFM_ATTN_KB - 1) / AFM_ATTN_KB * AFM_ATTN_KB;
    s->scores_ld = ((int64_t)s->n_ctx_kb + 15) / 16 * 16;
    s->kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    s->kv_type = o.kv_type;
    s->kv_esize = o.kv_type == AFM_KV_F16 ? sizeof(uint16_t) : sizeof(float);
    afm_status st = afm_pool_create(o.n_threads, &s->pool);
    if (st != AFM_OK) { free(s); return st; }
    size_t kv_bytes = (size_t)c->n_layers * (size_t)s->n_ctx * (size_t)s->kv_dim * s->kv_esize;
    size_t k_bytes = (size_t)c->n_layers * (size_t)s->n_ctx_kb * (size_t)s->kv_dim * s->kv_esize;
    /* KV pages are touched only as the cache fills, so resident memory grows with use */
    s->k_cache = afm_alloc(k_bytes);
    s->v_cache = afm_alloc(kv_bytes);
    /* per thread: queries and outputs of one work item (ATTN_TB tokens x group heads, hd) and its
     * scores (ATTN_TB * group, n_ctx) */
    size_t rows_tb = (size_t)ATTN_TB * (size_t)(c->n_heads / c->n_kv_heads);
    s->attn_ws_floats = 2 * rows_tb * (size_t)c->head_dim + rows_tb * (size_t)s->n_ctx;
    s->attn_ws_floats = (s->attn_ws_floats + 15) / 16 * 16; /* each thread's part 64-byte aligned */
    choose_ubatch(s, o.n_ubatch, o.n_ctx);
    s->work = afm_alloc(carve_scratch(s, NULL) * sizeof(float));
    if (!s->k_cache || !s->v_cache || !s->work) {
        afm_session_free(s);
        return afm_error(AFM_ERR_NOMEM, "out of memory for a %d-token session (KV cache %.1f MiB)", o.n_ctx,
                         (double)(k_bytes + kv_bytes) / 1048576.0);
    }
    carve_scratch(s, s->work);
    fill_rope(s->rope_cos, s->rope_sin, s->n_ctx, c->head_dim, c->rope_theta, c->rope_freq_scale);
    if (s->rope_cos_local) /* local layers: their own base, no scaling */
        fill_rope(s->rope_cos_local, s->rope_sin_local, s->n_ctx, c->head_dim,
                  c->rope_theta_local > 0 ? c->rope_theta_local : c->rope_theta, 1.0f);
    *out = s;
    return AFM_OK;
}

void afm_session_free(afm_session *s) {
    if (!s) return;
    afm_pool_free(s->pool);
    afm_free(s->k_cache); afm_free(s->v_cache);
    afm_free(s->work);
    afm_lora_set_free(&s->lora);
    free(s);
}

int32_t afm_session_n_past(const afm_session *s) { return s->n_past; }
int32_t afm_session_n_ctx(const afm_session *s) { return s->n_ctx; }
int32_t afm_session_n_ubatch(const afm_session *s) { return s->ubatch; }

afm_status afm_session_rewind(afm_session *s, int32_t n_past) {
    if (n_past < 0 || n_past > s->n_past)
        return afm_error(AFM_ERR_INVALID_ARG, "cannot rewind to %d tokens: the cache holds %d", n_past, s->n_past);
    s->n_past = n_past;
    return AFM_OK;
}

/* ---- attention over the cache, parallel over (token, head) ---- */
typedef struct {
    afm_session *s;
    int layer, T;
    int32_t p0;
} attn_job;

/* layer l, KV head g: its keys (blocked) and values, f32 or f16 elements (s->kv_type) */
static void *k_head(const afm_session *s, int l, int g) {
    const afm_config *c = &s->m->cfg;
    return (char *)s->k_cache +
           ((size_t)l * c->n_kv_heads + (size_t)g) * (size_t)s->n_ctx_kb * (size_t)c->head_dim * s->kv_esize;
}
static void *v_head(const afm_session *s, int l, int g) {
    const afm_config *c = &s->m->cfg;
    return (char *)s->v_cache +
           ((size_t)l * c->n_kv_heads + (size_t)g) * (size_t)s->n_ctx * (size_t)c->head_dim * s->kv_esize;
}

/* Row t of the chunk that session s computes: whose KV cache and RoPE tables it uses, and its
 * position (p0 + t for the contiguous chunk of one sequence starting at p0). */
static const afm_session *row_session(const afm_session *s, long t) { return s->rows ? s->rows[t] : s; }
static int32_t row_pos(const afm_session *s, int32_t p0, long t) { return s->rows ? s->rows[t]->n_past : p0 + (int32_t)t; }

/* Attention products against layer l, KV head g, for either cache type. With the f16 cache the
 * queries (scores) and the attention weights (mix) are rounded to f16 first, so every product is
 * one of two f16 values, summed in f32 (what llama.cpp's f16 cache computes). q / p are rounded in
 * place: callers pass their own copies or rows that are not read again. */
/* Keys ka .. ka+n-1 (ka a multiple of AFM_ATTN_KB: the blocked keys and the values of ka.. start
 * at element ka * hd). */
static void attn_scores(const afm_session *s, int l, int g, int32_t ka, float *q, int64_t rows, int64_t n, float scale,
                        float *S, int64_t lds) {
    int64_t hd = s->m->cfg.head_dim;
    const char *K = (const char *)k_head(s, l, g) + (size_t)ka * (size_t)hd * s->kv_esize;
    if (s->kv_type == AFM_KV_F16) {
        afm_vec_round_f16(q, rows * hd);
        afm_attn_scores_f16(q, hd, rows, (const uint16_t *)K, n, hd, scale, S, lds);
    } else {
        afm_attn_scores(q, hd, rows, (const float *)K, n, hd, scale, S, lds);
    }
}
static void attn_mix(const afm_session *s, int l, int g, int32_t ka, float *P, int64_t ldp, int64_t rows, int64_t n,
                     float *O, int64_t ldo) {
    int64_t hd = s->m->cfg.head_dim;
    const char *V = (const char *)v_head(s, l, g) + (size_t)ka * (size_t)hd * s->kv_esize;
    if (s->kv_type == AFM_KV_F16) {
        for (int64_t r = 0; r < rows; r++) afm_vec_round_f16(P + r * ldp, n);
        afm_attn_mix_f16(P, ldp, rows, (const uint16_t *)V, n, hd, O, ldo);
    } else {
        afm_attn_mix(P, ldp, rows, (const float *)V, n, hd, O, ldo);
    }
}

/* Sliding window of layer l: W > 0 on a local layer, else 0 (every earlier key is visible). */
static int32_t layer_window(const afm_session *s, int l) {
    const afm_config *c = &s->m->cfg;
    return afm_config_layer_is_local(c, l) ? c->sliding_window : 0;
}

/* First key a query at position pos sees: pos - W + 1 under a window W, else 0. */
static int32_t first_key(int32_t pos, int32_t W) { return W > 0 && pos >= W ? pos - W + 1 : 0; }

/* Keys below `first` are skipped a whole key block at a time: products start at key
 * ka = first rounded down to a block (the blocked keys and the values of ka.. start at offset
 * ka * hd), and the weights of keys ka..first-1 are exact zeros. */
static int32_t block_floor(int32_t first) { return first / AFM_ATTN_KB * AFM_ATTN_KB; }

/* Work: the T * n_heads (token, query head) rows, split evenly over the threads. A thread takes
 * its rows in runs that share a token and a KV head (up to `group` query heads) and computes
 * each run with one afm_attn_decode call, so that KV head's keys and values are streamed once
 * per run rather than once per query head; a KV head whose query heads straddle two threads'
 * ranges is read by both. Every row's result is the same whatever run it is in. */
static void attn_worker(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    afm_session *s = j->s;
    const afm_config *c = &s->m->cfg;
    int H = c->n_heads, hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    int64_t qd = (int64_t)H * hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = s->scores + (size_t)ith * (size_t)group * (size_t)s->scores_ld;
    int32_t W = layer_window(s, j->layer);
    long lo, hi;
    afm_split_range((long)j->T * H, ith, nth, &lo, &hi);
    for (long w = lo; w < hi;) {
        int t = (int)(w / H), h = (int)(w % H), g = h / group;
        int rows = (g + 1) * group - h; /* query heads h .. of KV head g in this thread's range */
        if (rows > hi - w) rows = (int)(hi - w);
        const afm_session *kv = row_session(s, t); /* the cache this row attends over */
        int32_t pos = row_pos(s, j->p0, t), first = first_key(pos, W), ka = block_floor(first);
        int32_t n_keys = pos + 1 - ka; /* causal: keys ka..pos */
        int64_t lds = ((int64_t)n_keys + 15) / 16 * 16;
        /* queries read only here (rounded in place for f16); the outputs overwrite them (att = q) */
        float *q = s->q + (size_t)t * qd + (size_t)h * hd, *o = s->att + (size_t)t * qd + (size_t)h * hd;
        size_t koff = (size_t)ka * (size_t)hd * kv->kv_esize;
        const char *K = (const char *)k_head(kv, j->layer, g) + koff, *V = (const char *)v_head(kv, j->layer, g) + koff;
        if (kv->kv_type == AFM_KV_F16)
            afm_attn_decode_f16(q, hd, rows, (const uint16_t *)K, (const uint16_t *)V, n_keys, first - ka, hd, scale, sc,
                                lds, o, hd);
        else
            afm_attn_decode(q, hd, rows, (const float *)K, (const float *)V, n_keys, first - ka, hd, scale, sc, lds, o, hd);
        w += rows;
    }
}

/* ---- prefill attention as matrix products ----
 * Work item (g, b): the `group` query heads sharing KV head g and the query tokens
 * t0 .. t0+tb-1 of block b (tb <= ATTN_TB; rows r = t * group + h'), against the n = p0 + t0 + tb
 * keys they can see (causal: later keys are skipped, not computed):
 *   S = Q K_gᵀ / sqrt(hd)  (rows, n)   [afm_attn_scores on the blocked keys]
 *   P = softmax over keys j <= p0 + t0 + r / group of S, 0 beyond
 *       (on a local layer also over j > pos - W only; the keys before the block's first row's
 *       window are skipped a key block at a time, see block_floor)
 *   O = P V_g              (rows, hd)  [afm_attn_mix on the row-major values]
 * Items run single-threaded, taken from a shared counter by the pool's threads (largest blocks
 * first), so one pool run covers a layer; each item is computed the same way whatever thread
 * takes it. */
enum { ATTN_GEMM_MIN_T = 8 };

typedef struct {
    afm_session *s;
    int layer, T, nblocks;
    int32_t p0;
    atomic_int next;
    atomic_int st; /* a failure code of any item (all items are attempted), else AFM_OK */
} attn_gemm_job;

static afm_status attn_item(afm_session *s, float *ws, int l, int T, int32_t p0, int g, int b) {
    const afm_config *c = &s->m->cfg;
    int group = c->n_heads / c->n_kv_heads;
    int64_t hd = c->head_dim, qd = (int64_t)c->n_heads * hd;
    int t0 = b * ATTN_TB, tb = T - t0 < ATTN_TB ? T - t0 : ATTN_TB;
    int32_t W = layer_window(s, l), ka = block_floor(first_key(p0 + t0, W));
    int64_t n = p0 + t0 + tb - ka, rows = (int64_t)tb * group; /* keys ka..p0+t0+tb-1 */
    float *qg = ws, *og = qg + (size_t)ATTN_TB * group * hd, *S = og + (size_t)ATTN_TB * group * hd;
    for (int t = 0; t < tb; t++)
        memcpy(qg + (size_t)t * group * hd, s->q + (size_t)(t0 + t) * qd + (size_t)g * group * hd,
               (size_t)(group * hd) * sizeof(float));
    attn_scores(s, l, g, ka, qg, rows, n, 1.0f / sqrtf((float)hd), S, n);
    for (int64_t r = 0; r < rows; r++) {
        float *row = S + (size_t)r * n;
        int32_t pos = p0 + t0 + (int32_t)(r / group), first = first_key(pos, W);
        int64_t lo = first - ka, hi = pos + 1 - ka; /* visible keys: row[lo..hi) */
        afm_softmax(row + lo, hi - lo);
        memset(row, 0, (size_t)lo * sizeof(float));
        memset(row + hi, 0, (size_t)(n - hi) * sizeof(float));
    }
    attn_mix(s, l, g, ka, S, n, rows, n, og, hd);
    for (int t = 0; t < tb; t++)
        memcpy(s->att + (size_t)(t0 + t) * qd + (size_t)g * group * hd, og + (size_t)t * group * hd,
               (size_t)(group * hd) * sizeof(float));
    return AFM_OK;
}

static void attn_gemm_worker(void *ctx, int ith, int nth) {
    attn_gemm_job *j = ctx;
    afm_session *s = j->s;
    int n_kv = s->m->cfg.n_kv_heads, nitems = j->nblocks * n_kv;
    float *ws = s->attn_ws + (size_t)ith * s->attn_ws_floats;
    if (nth == 1) { /* one thread: KV head outer, so a head's keys and values stay in L2 for all its blocks */
        for (int g = 0; g < n_kv; g++)
            for (int b = j->nblocks - 1; b >= 0; b--) {
                afm_status st = attn_item(s, ws, j->layer, j->T, j->p0, g, b);
                if (st != AFM_OK) atomic_store(&j->st, (int)st);
            }
        return;
    }
    for (int w; (w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < nitems;) {
        afm_status st = attn_item(s, ws, j->layer, j->T, j->p0, w % n_kv, j->nblocks - 1 - w / n_kv);
        if (st != AFM_OK) atomic_store(&j->st, (int)st);
    }
}

static afm_status attention_gemm(afm_session *s, int l, int T, int32_t p0) {
    attn_gemm_job j = {.s = s, .layer = l, .T = T, .nblocks = (T + ATTN_TB - 1) / ATTN_TB, .p0 = p0};
    atomic_init(&j.next, 0);
    atomic_init(&j.st, AFM_OK);
    afm_pool_run(s->pool, attn_gemm_worker, &j);
    return (afm_status)atomic_load(&j.st);
}

/* ---- per-token work of the forward pass, split over the pool's threads by token (one thread for
 * a single token: decode) ---- */
typedef struct {
    afm_session *s;
    const afm_layer *L;
    int layer, T;
    int32_t p0;
    float *delta;       /* add_norm: x += delta first (NULL: no residual) */
    const float *post_gain; /* add_norm: delta = RMSNorm(delta) * post_gain before the add (NULL: none) */
    const float *gain;  /* add_norm: RMSNorm gain */
    int rope;           /* rope_store: ROPE_Q and/or ROPE_KV */
} tok_job;

enum { ROPE_Q = 1, ROPE_KV = 2 };

static void run_tokens(afm_session *s, int T, afm_pool_fn fn, tok_job *j) {
    if (T == 1) fn(j, 0, 1);
    else afm_pool_run(s->pool, fn, j);
}

/* x[t] += delta[t]; xn[t] = RMSNorm(x[t]) * gain */
static void add_norm_worker(void *ctx, int ith, int nth) {
    tok_job *j = ctx;
    afm_session *s = j->s;
    const afm_config *c = &s->m->cfg;
    int64_t d = c->dim;
    long lo, hi;
    afm_split_range(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        if (j->delta && j->post_gain) afm_rmsnorm(j->delta + t * d, j->delta + t * d, j->post_gain, d, c->norm_eps);
        if (j->delta) afm_vec_add(s->x + t * d, j->delta + t * d, d);
        afm_rmsnorm(s->xn + t * d, s->x + t * d, j->gain, d, c->norm_eps);
    }
}

/* QK-norm and RoPE on q (ROPE_Q) and k of each token, then k and v into the cache at its position
 * (ROPE_KV) */
static void rope_store_worker(void *ctx, int ith, int nth) {
    tok_job *j = ctx;
    afm_session *s = j->s;
    const afm_config *c = &s->m->cfg;
    const afm_layer *L = j->L;
    int64_t hd = c->head_dim, qd = (int64_t)c->n_heads * hd, kvd = s->kv_dim, half = hd / 2;
    int half_layout = c->rope_layout == AFM_ROPE_HALF;
    bool local = s->rope_cos_local && afm_config_layer_is_local(c, j->layer);
    long lo, hi;
    afm_split_range(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        const afm_session *kv = row_session(s, t); /* its tables and cache */
        int32_t pos = row_pos(s, j->p0, t);
        const float *cos_t = local ? kv->rope_cos_local : kv->rope_cos, *sin_t = local ? kv->rope_sin_local : kv->rope_sin;
        const float *cs = cos_t + (size_t)pos * half, *sn = sin_t + (size_t)pos * half;
        for (int h = 0; h < c->n_heads && (j->rope & ROPE_Q); h++) {
            float *v = s->q + t * qd + h * hd;
            if (c->qk_norm == AFM_QK_NORM_BEFORE_ROPE) afm_rmsnorm(v, v, L->q_norm, hd, c->norm_eps);
            afm_rope_rotate(v, (int)hd, cs, sn, half_layout);
            if (c->qk_norm == AFM_QK_NORM_AFTER_ROPE) afm_rmsnorm(v, v, L->q_norm, hd, c->norm_eps);
        }
        if (!(j->rope & ROPE_KV)) continue;
        for (int h = 0; h < c->n_kv_heads; h++) {
            float *v = s->k + t * kvd + h * hd;
            if (c->qk_norm == AFM_QK_NORM_BEFORE_ROPE) afm_rmsnorm(v, v, L->k_norm, hd, c->norm_eps);
            afm_rope_rotate(v, (int)hd, cs, sn, half_layout);
            if (c->qk_norm == AFM_QK_NORM_AFTER_ROPE) afm_rmsnorm(v, v, L->k_norm, hd, c->norm_eps);
        }
        for (int g = 0; g < c->n_kv_heads; g++) {
            const float *kt = s->k + (size_t)t * kvd + (size_t)g * hd, *vt = s->v + (size_t)t * kvd + (size_t)g * hd;
            size_t vpos = (size_t)pos * (size_t)hd;
            if (s->kv_type == AFM_KV_F16) {
                uint16_t *kh = k_head(kv, j->layer, g), *vh = v_head(kv, j->layer, g);
                for (int64_t d = 0; d < hd; d++) kh[afm_attn_k_index(pos, d, hd)] = afm_f32_to_f16(kt[d]);
                afm_vec_to_f16(vh + vpos, vt, hd);
            } else {
                float *kh = k_head(kv, j->layer, g), *vh = v_head(kv, j->layer, g);
                for (int64_t d = 0; d < hd; d++) kh[afm_attn_k_index(pos, d, hd)] = kt[d];
                memcpy(vh + vpos, vt, (size_t)hd * sizeof(float));
            }
        }
    }
}

/* gate[t] = act(gate[t]) * up[t], act = silu or tanh-GELU (cfg.ffn_act) */
static void glu_worker(void *ctx, int ith, int nth) {
    tok_job *j = ctx;
    afm_session *s = j->s;
    int64_t f = s->m->cfg.ffn_dim;
    long lo, hi;
    afm_split_range(j->T, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    if (s->m->cfg.ffn_act == AFM_FFN_GELU_TANH) afm_gelu_tanh_mul(s->gate + lo * f, s->up + lo * f, (hi - lo) * f);
    else afm_silu_mul(s->gate + lo * f, s->up + lo * f, (hi - lo) * f);
}

/* y = x Wᵀ plus the active adapters' low-rank terms for this weight's slot; the T rows are the
 * last of T_like and get the values a T_like-row product gives them (afm_matmul_like) */
static afm_status mm_like(afm_session *s, float *y, const afm_weight *w, int slot, const float *x, int64_t T,
                          int64_t T_like) {
    AFM_TRY(afm_matmul_like(s->pool, w->packed != NULL, y, w->packed ? w->packed : w->data, w->type, w->rows, w->cols,
                            x, T, T_like));
    return s->lora.n ? afm_lora_apply(&s->lora, s->pool, slot, y, x, T, T_like) : AFM_OK;
}

/* mm_like for n products of the same x (Q, K, V; gate and up): x is quantized once for all of
 * them where their weights take the same activation format (afm_matmul_shared), then each
 * product's adapter terms are added. Same values as n separate mm_like calls. */
static afm_status mm_shared(afm_session *s, int n, float *const *ys, const afm_weight *const *ws, const int *slots,
                            const float *x, int64_t T, int64_t T_like) {
    afm_matmul_out outs[3];
    for (int i = 0; i < n; i++)
        outs[i] = (afm_matmul_out){.y = ys[i], .W = ws[i]->packed ? ws[i]->packed : ws[i]->data, .wt = ws[i]->type,
                                   .rows = ws[i]->rows, .packed = ws[i]->packed != NULL};
    AFM_TRY(afm_matmul_shared(s->pool, outs, n, ws[0]->cols, x, T, T_like));
    for (int i = 0; i < n && s->lora.n; i++) AFM_TRY(afm_lora_apply(&s->lora, s->pool, slots[i], ys[i], x, T, T_like));
    return AFM_OK;
}

/* Which logits a forward chunk produces: every row's, the last row's or none (the chunk only
 * extends the KV cache). */
typedef enum { OUT_ALL, OUT_LAST, OUT_NONE } chunk_out;

/* Forward of T <= s->ubatch tokens at positions p0.. (or, with s->rows, one token of each of T
 * sessions at their own positions; OUT_ALL only); writes logits as `out` says (OUT_ALL: all rows
 * into `logits`, (T, n_vocab); OUT_LAST: the last row's into `logits`, (n_vocab)). Each residual add is fused with the RMSNorm that follows it (the
 * next sub-layer's, or the output norm).
 * Without all rows' logits the last layer is cut short: its keys and values are still computed
 * and cached for every token (later tokens attend to them), but only the last token's query,
 * attention, output projection and FFN are run (OUT_LAST: its row is moved to row 0 and the layer
 * finishes as a one-token step at position p0 + T - 1; OUT_NONE: nothing after the cache write).
 * The last row's logits are bit for bit those of the full computation (tests/golden/
 * test_last_logits.c): its matrix products are told the chunk's row count (mm_like: f32/f16/bf16
 * weights sum one token differently from several, afm_matmul_like), and the one-token attention
 * sums the same products in the same order as the prefill tiles (the keys past a query's position
 * only ever enter those as exact zeros). */
static afm_status forward_chunk(afm_session *s, const int32_t *tokens, int T, chunk_out out, float *logits) {
    afm_model *m = s->m;
    const afm_config *c = &m->cfg;
    int64_t d = c->dim;
    int32_t p0 = s->n_past, T_in = T;
    for (int t = 0; t < T; t++) AFM_TRY(afm_model_embed_row(m, tokens[t], s->x + t * d));
    if (c->embed_scale != 0 && c->embed_scale != 1)
        for (int64_t i = 0; i < (int64_t)T * d; i++) s->x[i] *= c->embed_scale;
    if (s->lora.n) afm_lora_apply_embd(&s->lora, afm_lora_slot_embd(c->n_layers), s->x, tokens, T, d);
    tok_job tj = {.s = s, .T = T, .p0 = p0, .delta = NULL, .gain = m->layers[0].attn_norm, .rope = ROPE_Q | ROPE_KV};
    run_tokens(s, T, add_norm_worker, &tj);
    for (int l = 0; l < c->n_layers; l++) {
        const afm_layer *L = &m->layers[l];
        if (l > 0) TRACE("l_out", l - 1, s->x, T, d);
        TRACE("attn_norm", l, s->xn, T, d);
        tj.L = L;
        tj.layer = l;
        bool cut = l == c->n_layers - 1 && out != OUT_ALL && (T > 1 || out == OUT_NONE);
        { /* q (not on a cut layer), k, v */
            float *const ys[3] = {s->k, s->v, s->q};
            const afm_weight *const ws[3] = {&L->wk, &L->wv, &L->wq};
            const int slots[3] = {afm_lora_slot(l, AFM_LORA_K), afm_lora_slot(l, AFM_LORA_V), afm_lora_slot(l, AFM_LORA_Q)};
            AFM_TRY(mm_shared(s, cut ? 2 : 3, ys, ws, slots, s->xn, T, T_in));
        }
        tj.rope = cut ? ROPE_KV : ROPE_Q | ROPE_KV;
        run_tokens(s, T, rope_store_worker, &tj);
        if (cut) {
            if (out == OUT_NONE) break;
            /* the last token alone from here: row T-1 -> row 0, position p0 + T - 1 */
            memmove(s->x, s->x + (size_t)(T - 1) * d, (size_t)d * sizeof(float));
            memmove(s->xn, s->xn + (size_t)(T - 1) * d, (size_t)d * sizeof(float));
            p0 += T - 1;
            T = 1;
            tj.T = 1;
            tj.p0 = p0;
            AFM_TRY(mm_like(s, s->q, &L->wq, afm_lora_slot(l, AFM_LORA_Q), s->xn, 1, T_in));
            tj.rope = ROPE_Q;
            run_tokens(s, 1, rope_store_worker, &tj);
        }
        TRACE("Qcur", l, s->q, T, (int64_t)c->n_heads * c->head_dim);
        TRACE("Kcur", l, s->k, T, s->kv_dim);
        TRACE("Vcur", l, s->v, T, s->kv_dim);
        if (T >= ATTN_GEMM_MIN_T && !s->rows) {
            AFM_TRY(attention_gemm(s, l, T, p0));
        } else {
            attn_job job = {s, l, T, p0};
            afm_pool_run(s->pool, attn_worker, &job);
        }
        TRACE("kqv_out", l, s->att, T, (int64_t)c->n_heads * c->head_dim);
        AFM_TRY(mm_like(s, s->xn, &L->wo, afm_lora_slot(l, AFM_LORA_O), s->att, T, T_in));
        TRACE("attn_out", l, s->xn, T, d);
        tj.delta = s->xn;
        tj.post_gain = L->post_attn_norm;
        tj.gain = L->ffn_norm;
        run_tokens(s, T, add_norm_worker, &tj);
        TRACE("ffn_inp", l, s->x, T, d);
        TRACE("ffn_norm", l, s->xn, T, d);
        {
            float *const ys[2] = {s->gate, s->up};
            const afm_weight *const ws[2] = {&L->w_gate, &L->w_up};
            const int slots[2] = {afm_lora_slot(l, AFM_LORA_GATE), afm_lora_slot(l, AFM_LORA_UP)};
            AFM_TRY(mm_shared(s, 2, ys, ws, slots, s->xn, T, T_in));
        }
        TRACE("ffn_gate", l, s->gate, T, c->ffn_dim);
        TRACE("ffn_up", l, s->up, T, c->ffn_dim);
        run_tokens(s, T, glu_worker, &tj);
        TRACE("ffn_swiglu", l, s->gate, T, c->ffn_dim);
        AFM_TRY(mm_like(s, s->xn, &L->w_down, afm_lora_slot(l, AFM_LORA_DOWN), s->gate, T, T_in));
        TRACE("ffn_out", l, s->xn, T, d);
        tj.post_gain = L->post_ffn_norm;
        tj.gain = l + 1 < c->n_layers ? m->layers[l + 1].attn_norm : m->output_norm;
        run_tokens(s, T, add_norm_worker, &tj);
    }
    if (out != OUT_NONE) {
        TRACE("l_out", c->n_layers - 1, s->x, T, d);
        TRACE("result_norm", -1, s->xn, T, d);
    }
    if (out == OUT_ALL) {
        AFM_TRY(mm_like(s, logits, &m->output, afm_lora_slot_output(c->n_layers), s->xn, T, T_in));
        TRACE("result_output", -1, logits, T, c->n_vocab);
    } else if (out == OUT_LAST) {
        AFM_TRY(mm_like(s, logits, &m->output, afm_lora_slot_output(c->n_layers), s->xn + (size_t)(T - 1) * d, 1, T_in));
    }
    if (s->rows) for (int t = 0; t < T_in; t++) s->rows[t]->n_past++;
    else s->n_past += T_in;
    return AFM_OK;
}

afm_status afm_session_eval(afm_session *s, const int32_t *tokens, int32_t n, bool all_logits, float *logits) {
    const afm_config *c = &s->m->cfg;
    if (n <= 0) return afm_error(AFM_ERR_INVALID_ARG, "no tokens to evaluate");
    if ((int64_t)s->n_past + n > s->n_ctx)
        return afm_error(AFM_ERR_RANGE, "%d tokens do not fit in the context: %d already used of %d (prompt too long? raise the context size)",
                         n, s->n_past, s->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
            return afm_error(AFM_ERR_INVALID_ARG, "token id %d at index %d is outside the vocabulary (0..%d)", tokens[i], i, c->n_vocab - 1);
    int32_t start = s->n_past;
    for (int32_t i = 0, T; i < n; i += T) {
        T = chunk_tokens(s, n - i);
        bool last = i + T == n;
        chunk_out out = all_logits ? OUT_ALL : last && logits ? OUT_LAST : OUT_NONE;
        float *dst = out == OUT_ALL ? logits + (size_t)i * c->n_vocab : out == OUT_LAST ? logits : NULL;
        afm_status st = forward_chunk(s, tokens + i, T, out, dst);
        if (st != AFM_OK) { s->n_past = start; return st; }
    }
    return AFM_OK;
}

/* One decode step of n sequences together: row i of one forward batch is sessions[i]'s next token.
 * The host session sessions[0] lends its threads, scratch and adapter set; each row reads its own
 * session's RoPE tables and position, and writes and attends over its own session's cache (the
 * decode attention, per (row, head)). Chunks as chunk_tokens plans them for the host. Each check that can fail is done
 * before anything is computed; a failure inside a chunk (out of memory in a kernel) undoes the
 * positions the earlier chunks advanced. */
afm_status afm_session_eval_multi(afm_session *const *sessions, int32_t n, const int32_t *tokens, float *logits) {
    if (n <= 0 || !sessions || !tokens || !logits)
        return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: need n >= 1 sessions (got %d), tokens and logits", n);
    afm_session *host = sessions[0];
    if (!host) return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session 0 is NULL");
    const afm_config *c = &host->m->cfg;
    for (int32_t i = 0; i < n; i++) {
        const afm_session *si = sessions[i];
        if (!si) return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session %d is NULL", i);
        if (si->m != host->m) return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session %d runs another model than session 0", i);
        if (si->kv_type != host->kv_type)
            return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session %d's KV cache is %s, session 0's is %s", i,
                             si->kv_type == AFM_KV_F16 ? "f16" : "f32", host->kv_type == AFM_KV_F16 ? "f16" : "f32");
        if (si->n_ctx > host->n_ctx)
            return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session %d's context (%d) is longer than session 0's (%d), whose "
                             "scratch serves the batch", i, si->n_ctx, host->n_ctx);
        bool same_lora = si->lora.n == host->lora.n;
        for (int32_t a = 0; same_lora && a < si->lora.n; a++)
            same_lora = si->lora.a[a] == host->lora.a[a] && si->lora.scale[a] == host->lora.scale[a];
        if (!same_lora) return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session %d's active adapters differ from session 0's", i);
        if (si->n_past + 1 > si->n_ctx)
            return afm_error(AFM_ERR_RANGE, "eval_multi: session %d is full (%d of %d positions used)", i, si->n_past, si->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
            return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: token id %d of session %d is outside the vocabulary (0..%d)",
                             tokens[i], i, c->n_vocab - 1);
        for (int32_t k = 0; k < i; k++)
            if (sessions[k] == si) return afm_error(AFM_ERR_INVALID_ARG, "eval_multi: session %d is also session %d", i, k);
    }
    for (int32_t i = 0, T; i < n; i += T) {
        T = chunk_tokens(host, n - i);
        host->rows = sessions + i;
        afm_status st = forward_chunk(host, tokens + i, T, OUT_ALL, logits + (size_t)i * c->n_vocab);
        host->rows = NULL;
        if (st != AFM_OK) {
            for (int32_t k = 0; k < i; k++) sessions[k]->n_past--;
            return st;
        }
    }
    return AFM_OK;
}

/* Per layer l and KV head g: the key blocks holding positions 0..n-1 (whole blocks of AFM_ATTN_KB:
 * a partial last block also carries src's later positions, which lie past dst's n_past and are
 * never read as keys) and the n value rows. */
afm_status afm_session_copy_prefix(afm_session *dst, const afm_session *src, int32_t n) {
    if (!dst || !src) return afm_error(AFM_ERR_INVALID_ARG, "copy_prefix: NULL session");
    if (dst == src) return afm_error(AFM_ERR_INVALID_ARG, "copy_prefix: source and destination are the same session");
    if (dst->m != src->m) return afm_error(AFM_ERR_INVALID_ARG, "copy_prefix: the sessions run different models");
    if (dst->kv_type != src->kv_type) return afm_error(AFM_ERR_INVALID_ARG, "copy_prefix: the sessions' KV-cache types differ");
    bool same_lora = dst->lora.n == src->lora.n;
    for (int32_t a = 0; same_lora && a < src->lora.n; a++)
        same_lora = dst->lora.a[a] == src->lora.a[a] && dst->lora.scale[a] == src->lora.scale[a];
    if (!same_lora) return afm_error(AFM_ERR_INVALID_ARG, "copy_prefix: the sessions' active adapters differ");
    if (n < 0 || n > src->n_past || n > dst->n_ctx)
        return afm_error(AFM_ERR_RANGE, "copy_prefix: %d positions requested; the source holds %d, the destination's context is %d",
                         n, src->n_past, dst->n_ctx);
    const afm_config *c = &src->m->cfg;
    size_t hd = (size_t)c->head_dim, kbytes = (size_t)(n + AFM_ATTN_KB - 1) / AFM_ATTN_KB * AFM_ATTN_KB * hd * src->kv_esize;
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            memcpy(k_head(dst, l, g), k_head(src, l, g), kbytes);
            memcpy(v_head(dst, l, g), v_head(src, l, g), (size_t)n * hd * src->kv_esize);
        }
    dst->n_past = n;
    return AFM_OK;
}

afm_model *afm_session_model(afm_session *s) { return s->m; }

afm_status afm_session_set_adapters(afm_session *s, afm_adapter *const *adapters, const float *scales, int32_t n) {
    bool changed;
    AFM_TRY(afm_lora_set_replace(&s->lora, s->m, adapters, scales, n, &changed));
    if (changed) s->n_past = 0;   /* keys and values cached under the old set are stale */
    return AFM_OK;
}
