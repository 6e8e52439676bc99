/* Inference session: KV cache, RoPE tables and scratch; the forward pass.
 *
 * Per layer, for a batch x: (T, dim) at positions p0..p0+T-1 (pre-norm transformer):
 *   xn = RMSNorm(x) * g_attn
 *   q = xn Wqᵀ (T, H, hd); k = xn Wkᵀ, v = xn Wvᵀ (T, KV, hd)
 *   QK-norm (RMSNorm over hd, per-head gains) before or after RoPE, or none
 *   RoPE(q, k) at each token's position (interleaved pairs or half split)
 *   att[t, h] = softmax_j<=p0+t (q[t,h] · k[j, h/(H/KV)] / sqrt(hd)) · v[j, h/(H/KV)]
 *   x += att Woᵀ
 *   x += W_down (silu(RMSNorm(x) W_gateᵀ) ⊙ RMSNorm(x) W_upᵀ)
 * logits = RMSNorm(x) * g_out · Eᵀ (E = output or the tied token embedding). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "kernels/matmul.h"
#include "kernels/nn.h"
#include "kernels/vec.h"
#include "afm/generate.h"
#include "model/adapter_internal.h"
#include "model/model_internal.h"
#include "tensor/quant.h"

enum { UBATCH = 256 }; /* tokens per forward chunk: bounds scratch memory */

struct afm_session {
    afm_model *m;
    afm_pool *pool;
    int32_t n_ctx, n_past;
    int64_t kv_dim;                /* n_kv_heads * head_dim */
    float *k_cache, *v_cache;      /* (n_layers, n_kv_heads, n_ctx, head_dim): each head's keys contiguous */
    float *rope_cos, *rope_sin;    /* (n_ctx, head_dim/2) */
    float *x, *xn, *q, *k, *v, *att, *gate, *up; /* scratch for UBATCH tokens */
    float *scores;                 /* (n_threads, n_ctx) attention weights (decode) */
    float *big_scores;             /* (group * UBATCH, n_ctx) scores of one KV group (prefill) */
    float *qg, *og, *vt;           /* (group * UBATCH, hd) queries / outputs of a group; (hd, n_ctx) V transposed */
    float *last_logits;            /* (n_vocab) */
    afm_lora_set lora;             /* active LoRA adapters (afm/adapter.h) */
};

afm_status afm_session_create(afm_model *m, const afm_session_options *opt, afm_session **out) {
    *out = NULL;
    const afm_config *c = &m->cfg;
    afm_session_options o = {0, 0};
    if (opt) o = *opt;
    if (o.n_ctx < 0) return afm_error(AFM_ERR_INVALID_ARG, "context length %d is negative", o.n_ctx);
    if (o.n_ctx == 0) o.n_ctx = c->max_seq_len < 4096 ? c->max_seq_len : 4096;
    if (o.n_ctx > (1 << 22)) return afm_error(AFM_ERR_INVALID_ARG, "context length %d is too large", o.n_ctx);
    afm_session *s = calloc(1, sizeof *s);
    if (!s) return afm_error(AFM_ERR_NOMEM, "out of memory creating session");
    s->m = m;
    s->n_ctx = o.n_ctx;
    s->kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    afm_status st = afm_pool_create(o.n_threads, &s->pool);
    if (st != AFM_OK) { free(s); return st; }
    int nt = afm_pool_size(s->pool);
    int64_t qd = (int64_t)c->n_heads * c->head_dim, half = c->head_dim / 2;
    size_t kv_bytes = (size_t)c->n_layers * (size_t)s->n_ctx * (size_t)s->kv_dim * sizeof(float);
    /* KV pages are touched only as the cache fills, so resident memory grows with use */
    s->k_cache = afm_alloc(kv_bytes);
    s->v_cache = afm_alloc(kv_bytes);
    s->rope_cos = afm_alloc((size_t)s->n_ctx * half * sizeof(float));
    s->rope_sin = afm_alloc((size_t)s->n_ctx * half * sizeof(float));
    s->x = afm_alloc(UBATCH * c->dim * sizeof(float));
    s->xn = afm_alloc(UBATCH * c->dim * sizeof(float));
    s->q = afm_alloc(UBATCH * qd * sizeof(float));
    s->att = afm_alloc(UBATCH * qd * sizeof(float));
    s->k = afm_alloc(UBATCH * s->kv_dim * sizeof(float));
    s->v = afm_alloc(UBATCH * s->kv_dim * sizeof(float));
    s->gate = afm_alloc((size_t)UBATCH * c->ffn_dim * sizeof(float));
    s->up = afm_alloc((size_t)UBATCH * c->ffn_dim * sizeof(float));
    s->scores = afm_alloc((size_t)nt * s->n_ctx * sizeof(float));
    s->last_logits = afm_alloc((size_t)c->n_vocab * sizeof(float));
    int64_t group = c->n_heads / c->n_kv_heads;
    s->big_scores = afm_alloc((size_t)group * UBATCH * s->n_ctx * sizeof(float));
    s->qg = afm_alloc((size_t)group * UBATCH * c->head_dim * sizeof(float));
    s->og = afm_alloc((size_t)group * UBATCH * c->head_dim * sizeof(float));
    s->vt = afm_alloc((size_t)c->head_dim * s->n_ctx * sizeof(float));
    if (!s->k_cache || !s->v_cache || !s->rope_cos || !s->rope_sin || !s->x || !s->xn || !s->q || !s->att ||
        !s->k || !s->v || !s->gate || !s->up || !s->scores || !s->last_logits || !s->big_scores || !s->qg || !s->og || !s->vt) {
        afm_session_free(s);
        return afm_error(AFM_ERR_NOMEM, "out of memory for a %d-token session (KV cache %.1f MiB)", o.n_ctx,
                         2.0 * (double)kv_bytes / 1048576.0);
    }
    /* angle(pos, i) = pos * theta^(-2i/hd), computed in double then rounded */
    for (int64_t p = 0; p < s->n_ctx; p++)
        for (int64_t i = 0; i < half; i++) {
            double freq = pow((double)c->rope_theta, -2.0 * (double)i / (double)c->head_dim);
            double a = (double)p * freq;
            s->rope_cos[p * half + i] = (float)cos(a);
            s->rope_sin[p * half + i] = (float)sin(a);
        }
    *out = s;
    return AFM_OK;
}

void afm_session_free(afm_session *s) {
    if (!s) return;
    afm_pool_free(s->pool);
    afm_free(s->k_cache); afm_free(s->v_cache);
    afm_free(s->rope_cos); afm_free(s->rope_sin);
    afm_free(s->x); afm_free(s->xn); afm_free(s->q); afm_free(s->att);
    afm_free(s->k); afm_free(s->v); afm_free(s->gate); afm_free(s->up);
    afm_free(s->scores); afm_free(s->last_logits);
    afm_free(s->big_scores); afm_free(s->qg); afm_free(s->og); afm_free(s->vt);
    afm_lora_set_free(&s->lora);
    free(s);
}

int32_t afm_session_n_past(const afm_session *s) { return s->n_past; }
int32_t afm_session_n_ctx(const afm_session *s) { return s->n_ctx; }

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

static void attn_worker(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    afm_session *s = j->s;
    const afm_config *c = &s->m->cfg;
    int H = c->n_heads, hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    int64_t qd = (int64_t)H * hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = s->scores + (size_t)ith * s->n_ctx;
    size_t layer_base = (size_t)j->layer * s->n_ctx * s->kv_dim;
    long lo, hi;
    afm_split_range((long)j->T * H, ith, nth, &lo, &hi);
    for (long w = lo; w < hi; w++) {
        int t = (int)(w / H), h = (int)(w % H), g = h / group;
        int32_t n_keys = j->p0 + t + 1; /* causal: keys 0..pos */
        const float *q = s->q + (size_t)t * qd + (size_t)h * hd;
        const float *kc = s->k_cache + layer_base + (size_t)g * s->n_ctx * hd, *vc = s->v_cache + layer_base + (size_t)g * s->n_ctx * hd;
        for (int32_t p = 0; p < n_keys; p++) sc[p] = afm_vec_dot_f32(q, kc + (size_t)p * hd, hd) * scale;
        afm_softmax(sc, n_keys);
        float *o = s->att + (size_t)t * qd + (size_t)h * hd;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int32_t p = 0; p < n_keys; p++) afm_vec_axpy_f32(o, sc[p], vc + (size_t)p * hd, hd);
    }
}

/* ---- prefill attention as matrix products, one KV group at a time ----
 * For the `group` query heads sharing KV head g and the T new tokens (rows r = t * group + h'):
 *   S = Q_g K_gᵀ / sqrt(hd)       (group*T, n) with n = p0 + T keys   [afm_matmul, W = K_g (n, hd)]
 *   P = softmax over keys j <= p0 + t (causal), row by row              [threaded]
 *   O = P V_g                      (group*T, hd)                         [afm_matmul, W = V_gᵀ (hd, n)]
 * The masked upper triangle is computed and discarded: at most half of S's work. */
enum { ATTN_GEMM_MIN_T = 8 };

typedef struct { float *S; int64_t rows, n, stride; int group; int32_t p0; float scale; } softmax_job;

static void softmax_worker(void *ctx, int ith, int nth) {
    softmax_job *j = ctx;
    long lo, hi;
    afm_split_range((long)j->rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        float *row = j->S + (size_t)r * j->stride;
        int64_t n_keys = j->p0 + r / j->group + 1;
        for (int64_t p = 0; p < n_keys; p++) row[p] *= j->scale;
        afm_softmax(row, n_keys);
        for (int64_t p = n_keys; p < j->n; p++) row[p] = 0;
    }
}

static afm_status attention_gemm(afm_session *s, int l, int T, int32_t p0) {
    const afm_config *c = &s->m->cfg;
    int group = c->n_heads / c->n_kv_heads;
    int64_t hd = c->head_dim, qd = (int64_t)c->n_heads * hd, n = p0 + T, rows = (int64_t)group * T;
    for (int g = 0; g < c->n_kv_heads; g++) {
        const float *K = s->k_cache + (((size_t)l * c->n_kv_heads + g) * s->n_ctx) * hd;
        const float *V = s->v_cache + (((size_t)l * c->n_kv_heads + g) * s->n_ctx) * hd;
        for (int t = 0; t < T; t++)
            for (int h = 0; h < group; h++)
                memcpy(s->qg + ((size_t)t * group + h) * hd, s->q + (size_t)t * qd + ((size_t)g * group + h) * hd, (size_t)hd * sizeof(float));
        AFM_TRY(afm_matmul(s->pool, s->big_scores, K, AFM_F32, n, hd, s->qg, rows));
        softmax_job sj = {s->big_scores, rows, n, n, group, p0, 1.0f / sqrtf((float)hd)};
        afm_pool_run(s->pool, softmax_worker, &sj);
        for (int64_t p = 0; p < n; p++)
            for (int64_t d = 0; d < hd; d++) s->vt[d * n + p] = V[p * hd + d];
        AFM_TRY(afm_matmul(s->pool, s->og, s->vt, AFM_F32, hd, n, s->big_scores, rows));
        for (int t = 0; t < T; t++)
            for (int h = 0; h < group; h++)
                memcpy(s->att + (size_t)t * qd + ((size_t)g * group + h) * hd, s->og + ((size_t)t * group + h) * hd, (size_t)hd * sizeof(float));
    }
    return AFM_OK;
}

static afm_status mm(afm_session *s, float *y, const afm_weight *w, const float *x, int64_t T) {
    if (w->packed) return afm_matmul_packed(s->pool, y, w->packed, w->type, w->rows, w->cols, x, T);
    return afm_matmul(s->pool, y, w->data, w->type, w->rows, w->cols, x, T);
}

/* y = x Wᵀ plus the active adapters' low-rank terms for this weight's slot */
static afm_status mm_lora(afm_session *s, float *y, const afm_weight *w, int slot, const float *x, int64_t T) {
    AFM_TRY(mm(s, y, w, x, T));
    return s->lora.n ? afm_lora_apply(&s->lora, s->pool, slot, y, x, T) : AFM_OK;
}

/* Forward of T <= UBATCH tokens at positions p0..; writes logits of all rows to `logits`
 * (T, n_vocab) when all is true, else the last row's to s->last_logits. */
static afm_status forward_chunk(afm_session *s, const int32_t *tokens, int T, bool all, float *logits) {
    afm_model *m = s->m;
    const afm_config *c = &m->cfg;
    int64_t d = c->dim, hd = c->head_dim, qd = (int64_t)c->n_heads * hd, kvd = s->kv_dim, half = hd / 2;
    int32_t p0 = s->n_past;
    for (int t = 0; t < T; t++) {
        const afm_weight *e = &m->tok_embd;
        const uint8_t *row = (const uint8_t *)e->data + (size_t)tokens[t] * afm_dtype_row_size(e->type, d);
        AFM_TRY(afm_dequantize_row(e->type, row, s->x + t * d, d));
    }
    if (s->lora.n) afm_lora_apply_embd(&s->lora, afm_lora_slot_embd(c->n_layers), s->x, tokens, T, d);
    for (int l = 0; l < c->n_layers; l++) {
        const afm_layer *L = &m->layers[l];
        for (int t = 0; t < T; t++) afm_rmsnorm(s->xn + t * d, s->x + t * d, L->attn_norm, d, c->norm_eps);
        AFM_TRY(mm_lora(s, s->q, &L->wq, afm_lora_slot(l, AFM_LORA_Q), s->xn, T));
        AFM_TRY(mm_lora(s, s->k, &L->wk, afm_lora_slot(l, AFM_LORA_K), s->xn, T));
        AFM_TRY(mm_lora(s, s->v, &L->wv, afm_lora_slot(l, AFM_LORA_V), s->xn, T));
        for (int t = 0; t < T; t++) {
            const float *cs = s->rope_cos + (size_t)(p0 + t) * half, *sn = s->rope_sin + (size_t)(p0 + t) * half;
            int half_layout = c->rope_layout == AFM_ROPE_HALF;
            for (int h = 0; h < c->n_heads; h++) {
                float *v = s->q + t * qd + h * hd;
                if (c->qk_norm == AFM_QK_NORM_BEFORE_ROPE) afm_rmsnorm(v, v, L->q_norm, hd, c->norm_eps);
                afm_rope_rotate(v, (int)hd, cs, sn, half_layout);
                if (c->qk_norm == AFM_QK_NORM_AFTER_ROPE) afm_rmsnorm(v, v, L->q_norm, hd, c->norm_eps);
            }
            for (int h = 0; h < c->n_kv_heads; h++) {
                float *v = s->k + t * kvd + h * hd;
                if (c->qk_norm == AFM_QK_NORM_BEFORE_ROPE) afm_rmsnorm(v, v, L->k_norm, hd, c->norm_eps);
                afm_rope_rotate(v, (int)hd, cs, sn, half_layout);
                if (c->qk_norm == AFM_QK_NORM_AFTER_ROPE) afm_rmsnorm(v, v, L->k_norm, hd, c->norm_eps);
            }
        }
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int t = 0; t < T; t++) {
                size_t dst = (((size_t)l * c->n_kv_heads + g) * s->n_ctx + (size_t)(p0 + t)) * hd;
                memcpy(s->k_cache + dst, s->k + (size_t)t * kvd + (size_t)g * hd, (size_t)hd * sizeof(float));
                memcpy(s->v_cache + dst, s->v + (size_t)t * kvd + (size_t)g * hd, (size_t)hd * sizeof(float));
            }
        if (T >= ATTN_GEMM_MIN_T) {
            AFM_TRY(attention_gemm(s, l, T, p0));
        } else {
            attn_job job = {s, l, T, p0};
            afm_pool_run(s->pool, attn_worker, &job);
        }
        AFM_TRY(mm_lora(s, s->xn, &L->wo, afm_lora_slot(l, AFM_LORA_O), s->att, T));
        afm_vec_add(s->x, s->xn, T * d);
        for (int t = 0; t < T; t++) afm_rmsnorm(s->xn + t * d, s->x + t * d, L->ffn_norm, d, c->norm_eps);
        AFM_TRY(mm_lora(s, s->gate, &L->w_gate, afm_lora_slot(l, AFM_LORA_GATE), s->xn, T));
        AFM_TRY(mm_lora(s, s->up, &L->w_up, afm_lora_slot(l, AFM_LORA_UP), s->xn, T));
        afm_silu_mul(s->gate, s->up, (int64_t)T * c->ffn_dim);
        AFM_TRY(mm_lora(s, s->xn, &L->w_down, afm_lora_slot(l, AFM_LORA_DOWN), s->gate, T));
        afm_vec_add(s->x, s->xn, T * d);
    }
    if (all) {
        for (int t = 0; t < T; t++) afm_rmsnorm(s->xn + t * d, s->x + t * d, m->output_norm, d, c->norm_eps);
        AFM_TRY(mm_lora(s, logits, &m->output, afm_lora_slot_output(c->n_layers), s->xn, T));
    } else {
        afm_rmsnorm(s->xn, s->x + (size_t)(T - 1) * d, m->output_norm, d, c->norm_eps);
        AFM_TRY(mm_lora(s, s->last_logits, &m->output, afm_lora_slot_output(c->n_layers), s->xn, 1));
    }
    s->n_past += T;
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
    for (int32_t i = 0; i < n; i += UBATCH) {
        int T = n - i < UBATCH ? n - i : UBATCH;
        bool last = i + T == n;
        afm_status st = forward_chunk(s, tokens + i, T, all_logits, all_logits ? logits + (size_t)i * c->n_vocab : NULL);
        if (st != AFM_OK) { s->n_past = start; return st; }
        if (last && !all_logits && logits) memcpy(logits, s->last_logits, (size_t)c->n_vocab * sizeof(float));
    }
    return AFM_OK;
}

afm_model *afm_session_model(afm_session *s) { return s->m; }

afm_status afm_session_set_adapters(afm_session *s, afm_adapter *const *adapters, const float *scales, int32_t n) {
    bool changed;
    AFM_TRY(afm_lora_set_replace(&s->lora, s->m, adapters, scales, n, &changed));
    if (changed) s->n_past = 0;   /* keys and values cached under the old set are stale */
    return AFM_OK;
}
