/* Training model: layout, init, forward and backward (see train_model.h). */
#include "model/train_model.h"
#include "model/train_ops.h"
#include "base/error.h"
#include "base/mem.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

afm_status afm_train_config_check(const afm_config *c) {
    if (!c) return afm_error(AFM_ERR_INVALID_ARG, "model config is NULL");
    if (c->n_vocab <= 0 || c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->head_dim <= 0 || c->ffn_dim <= 0)
        return afm_error(AFM_ERR_INVALID_ARG, "model config: n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim and "
                         "ffn_dim must all be positive (got %d, %d, %d, %d, %d, %d, %d)", c->n_vocab, c->dim,
                         c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_dim);
    if (c->n_heads % c->n_kv_heads)
        return afm_error(AFM_ERR_INVALID_ARG, "model config: n_heads (%d) must be a multiple of n_kv_heads (%d)", c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2)
        return afm_error(AFM_ERR_INVALID_ARG, "model config: head_dim (%d) must be even for RoPE", c->head_dim);
    if (!(c->rope_theta > 0.0f)) return afm_error(AFM_ERR_INVALID_ARG, "model config: rope_theta must be > 0");
    if (c->ffn_act != AFM_FFN_SILU || c->post_norms || (c->embed_scale != 0 && c->embed_scale != 1) || c->sliding_window ||
        (c->rope_freq_scale != 0 && c->rope_freq_scale != 1))
        return afm_error(AFM_ERR_UNSUPPORTED, "model config (%s): training supports SwiGLU models without post-norms, "
                         "embedding scale, sliding-window attention or RoPE scaling (Gemma-style switches are inference only)", c->arch);
    if (!(c->norm_eps > 0.0f)) return afm_error(AFM_ERR_INVALID_ARG, "model config: norm_eps must be > 0");
    if (c->rope_layout != AFM_ROPE_INTERLEAVED && c->rope_layout != AFM_ROPE_HALF)
        return afm_error(AFM_ERR_INVALID_ARG, "model config: unknown rope layout %d", (int)c->rope_layout);
    if (c->qk_norm != AFM_QK_NORM_OFF && c->qk_norm != AFM_QK_NORM_BEFORE_ROPE && c->qk_norm != AFM_QK_NORM_AFTER_ROPE)
        return afm_error(AFM_ERR_INVALID_ARG, "model config: unknown qk_norm position %d", (int)c->qk_norm);
    return AFM_OK;
}

/* Walks the parameter tensors in layout order; fn is called for each. */
typedef void (*tensor_fn)(void *ctx, const char *name, int n_dims, long rows, long cols, afm_param_kind kind);

static void walk_tensors(const afm_config *c, tensor_fn fn, void *ctx) {
    long D = c->dim, QD = (long)c->n_heads * c->head_dim, KD = (long)c->n_kv_heads * c->head_dim, F = c->ffn_dim;
    char name[64];
    fn(ctx, "token_embd.weight", 2, c->n_vocab, D, AFM_PARAM_EMBEDDING);
    for (int l = 0; l < c->n_layers; l++) {
#define T_(suffix, nd, r, cc, kind) do { snprintf(name, sizeof name, "blk.%d." suffix, l); fn(ctx, name, nd, r, cc, kind); } while (0)
        T_("attn_norm.weight", 1, D, 1, AFM_PARAM_NORM);
        T_("attn_q.weight", 2, QD, D, AFM_PARAM_LINEAR);
        T_("attn_k.weight", 2, KD, D, AFM_PARAM_LINEAR);
        T_("attn_v.weight", 2, KD, D, AFM_PARAM_LINEAR);
        if (c->qk_norm != AFM_QK_NORM_OFF) {
            T_("attn_q_norm.weight", 1, c->head_dim, 1, AFM_PARAM_NORM);
            T_("attn_k_norm.weight", 1, c->head_dim, 1, AFM_PARAM_NORM);
        }
        T_("attn_output.weight", 2, D, QD, AFM_PARAM_LINEAR);
        T_("ffn_norm.weight", 1, D, 1, AFM_PARAM_NORM);
        T_("ffn_gate.weight", 2, F, D, AFM_PARAM_LINEAR);
        T_("ffn_up.weight", 2, F, D, AFM_PARAM_LINEAR);
        T_("ffn_down.weight", 2, D, F, AFM_PARAM_LINEAR);
#undef T_
    }
    fn(ctx, "output_norm.weight", 1, D, 1, AFM_PARAM_NORM);
    if (!c->tied_output) fn(ctx, "output.weight", 2, c->n_vocab, D, AFM_PARAM_EMBEDDING);
}

typedef struct count_ctx { size_t n; int count; afm_param_tensor *out; } count_ctx;

static void count_fn(void *p, const char *name, int n_dims, long rows, long cols, afm_param_kind kind) {
    count_ctx *c = p;
    size_t numel = (size_t)rows * (size_t)cols;
    if (c->out) {
        afm_param_tensor *t = &c->out[c->count];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->offset = c->n;
        t->numel = numel;
        t->n_dims = n_dims;
        t->shape[0] = rows;
        t->shape[1] = n_dims == 2 ? cols : 1;
        t->kind = kind;
        t->fan_in = cols;
    }
    c->n += numel;
    c->count++;
}

size_t afm_train_n_params(const afm_config *cfg) {
    count_ctx c = {0, 0, NULL};
    walk_tensors(cfg, count_fn, &c);
    return c.n;
}

/* Per-thread scratch row (floats): RMSNorm gain partials (D), QK-norm partials and a head (3 hd). */
static size_t scratch_row(const afm_config *c, size_t T) {
    size_t scr = (size_t)c->dim > 3 * (size_t)c->head_dim ? (size_t)c->dim : 3 * (size_t)c->head_dim;
    return T > scr ? T : scr;
}

/* Activation and scratch sizes, in floats, for N = B*T rows. */
typedef struct act_sizes { size_t per_layer, final, scratch; } act_sizes;

int afm_train_out_chunk(const afm_config *cfg, int B, int T) {
    long N = (long)B * T, rows = AFM_OUT_CHUNK_BYTES / (4L * (cfg->n_vocab > 0 ? cfg->n_vocab : 1));
    if (rows < AFM_OUT_CHUNK_MIN) rows = AFM_OUT_CHUNK_MIN;
    if (rows > N) rows = N;
    return (int)(rows > 0 ? rows : 1);
}

size_t afm_train_logits_bytes(const afm_config *cfg, int B, int T) {
    return sizeof(float) * (size_t)B * (size_t)T * (size_t)cfg->n_vocab;
}

/* Floats of the output matrix (V, D) packed in full for both of its products in the output layer:
 * logits = x · Wᵀ (K = D, Nc = V) and dx = dlogits · W (K = V, Nc = D). */
static size_t out_pack_floats(const afm_config *c) {
    return afm_gemm_bpack_floats(c->dim, c->n_vocab) + afm_gemm_bpack_floats(c->n_vocab, c->dim);
}

/* Floats of the backward scratch d_resid .. d_gu (N rows), which holds nothing while the output
 * layer runs: the packed output matrix lies there and never takes more. */
static size_t dead_floats(const afm_config *c, size_t N) {
    size_t D = (size_t)c->dim, QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    return N * D /* d_resid */ + N * QD /* d_att */ + N * (QD + 2 * KD) /* d_qkv */ + 3 * N * (size_t)c->ffn_dim /* d_act, d_gu */;
}

/* The part of the output matrix packed once per step in `room` floats: the logits' panels first
 * (vocabulary columns 0 .. *v_cols, K = D deep: they are transposed as they are packed, the
 * dearer copy, and packed beforehand they also let the logits' A be packed once per chunk), then
 * dx's (model columns 0 .. *d_cols, K = V deep). The columns past them are packed per chunk. */
static void out_pack_split(const afm_config *c, size_t room, long *v_cols, long *d_cols) {
    long D = c->dim, V = c->n_vocab;
    *v_cols = afm_gemm_bpack_cols(D, V, room);
    size_t used = afm_gemm_bpack_floats(D, *v_cols);
    *d_cols = *v_cols == V ? afm_gemm_bpack_cols(V, D, room - used) : 0;
}

size_t afm_train_out_pack_full_bytes(const afm_config *cfg) { return sizeof(float) * out_pack_floats(cfg); }

size_t afm_train_out_pack_bytes(const afm_config *cfg, int B, int T) {
    long v_cols, d_cols;
    out_pack_split(cfg, dead_floats(cfg, (size_t)B * (size_t)T), &v_cols, &d_cols);
    return sizeof(float) * (afm_gemm_bpack_floats(cfg->dim, v_cols) + afm_gemm_bpack_floats(cfg->n_vocab, d_cols));
}

static act_sizes act_size(const afm_config *c, size_t B, size_t T) {
    size_t N = B * T, D = (size_t)c->dim, QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    size_t F = (size_t)c->ffn_dim, H = (size_t)c->n_heads, KH = (size_t)c->n_kv_heads, V = (size_t)c->n_vocab;
    act_sizes s;
    bool qkn = c->qk_norm != AFM_QK_NORM_OFF;
    s.per_layer = N * D /* x_n1 */ + N /* rstd1 */ + N * QD + 2 * N * KD /* qkv */ +
                  (qkn ? N * QD + N * KD + N * H + N * KH : 0) + N * QD + N * KD /* q, k */ +
                  B * H * T * 2 /* attention stats */ + N * QD /* att */ + N * D /* h */ + N * D + N /* x_n2, rstd2 */ +
                  3 * N * F /* gu, act */ + N * D /* resid[l] */;
    size_t C = (size_t)afm_train_out_chunk(c, (int)B, (int)T);
    s.final = N * D /* resid[L] */ + N * D + N /* x_nf, rstdf */ + 2 * N /* lse, losses */ +
              C * V + 2 * C + 1 /* chunk logits, chunk losses (double, aligned) */;
    size_t scr = scratch_row(c, T);
    /* d_xn, then the backward scratch d_resid .. d_gu, where the output layer packs as much of the
     * output matrix as fits (out_pack_split): no memory of its own */
    s.scratch = N * D /* d_xn */ + 16 /* alignment */ + dead_floats(c, N) + 512 * scr + T * (size_t)c->head_dim /* rope tables */;
    return s;
}

size_t afm_train_act_bytes_opts(const afm_config *cfg, int B, int T, const afm_train_model_opts *o) {
    act_sizes s = act_size(cfg, (size_t)B, (size_t)T);
    size_t L = (size_t)cfg->n_layers, resid = (size_t)B * (size_t)T * (size_t)cfg->dim;
    /* checkpointing: every layer's input (resid[l]), the internals of one layer */
    size_t layers = o && o->checkpoint_activations ? L * resid + (s.per_layer - resid) : L * s.per_layer;
    return sizeof(float) * (layers + s.final + s.scratch);
}

size_t afm_train_act_bytes(const afm_config *cfg, int B, int T) {
    return afm_train_act_bytes_opts(cfg, B, T, NULL);
}

static void set_views(const afm_config *c, float *base, afm_param_views *v, const afm_param_tensor *t) {
    int i = 0;
    v->tok_embd = base + t[i++].offset;
    for (int l = 0; l < c->n_layers; l++) {
        afm_layer_params *L = &v->layers[l];
        L->attn_norm = base + t[i++].offset;
        L->wq = base + t[i++].offset;
        L->wk = base + t[i++].offset;
        L->wv = base + t[i++].offset;
        if (c->qk_norm != AFM_QK_NORM_OFF) {
            L->q_norm = base + t[i++].offset;
            L->k_norm = base + t[i++].offset;
        } else {
            L->q_norm = L->k_norm = NULL;
        }
        L->wo = base + t[i++].offset;
        L->ffn_norm = base + t[i++].offset;
        L->w_gate = base + t[i++].offset;
        L->w_up = base + t[i++].offset;
        L->w_down = base + t[i++].offset;
    }
    v->output_norm = base + t[i++].offset;
    v->output = c->tied_output ? v->tok_embd : base + t[i++].offset;
}

/* Asks for transparent huge pages over the whole 4 KiB pages of [p, p + n) (a request: where the
 * kernel declines, the pages stay 4 KiB). The GEMMs walk activations and weights with row strides
 * of several KiB, touching a new 4 KiB page per row; 2 MiB pages keep those walks in the TLB.
 * Call before the memory is first touched. */
static void advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (p && e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p; (void)n;
#endif
}

afm_status afm_train_model_create(const afm_config *cfg, int B, int T, afm_pool *pool, afm_train_model **out) {
    return afm_train_model_create_opts(cfg, B, T, NULL, pool, out);
}

afm_status afm_train_model_create_opts(const afm_config *cfg, int B, int T, const afm_train_model_opts *opts, afm_pool *pool,
                                       afm_train_model **out) {
    *out = NULL;
    AFM_TRY(afm_train_config_check(cfg));
    if (B <= 0 || T <= 0) return afm_error(AFM_ERR_INVALID_ARG, "training batch must be positive (got B=%d, T=%d)", B, T);
    if (afm_pool_size(pool) > 512) return afm_error(AFM_ERR_INVALID_ARG, "at most 512 threads are supported");
    afm_train_model *m = calloc(1, sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "out of memory creating the training model");
    m->cfg = *cfg;
    m->pool = pool;
    m->B = B;
    m->T = T;
    m->checkpoint = opts && opts->checkpoint_activations;
    afm_status st = afm_gemm_ws_create(afm_pool_size(pool), &m->gemm);
    if (st != AFM_OK) { afm_train_model_free(m); return st; }

    count_ctx cc = {0, 0, NULL};
    walk_tensors(cfg, count_fn, &cc);
    m->n_params = cc.n;
    m->n_tensors = cc.count;
    m->tensors = calloc((size_t)cc.count, sizeof *m->tensors);
    m->p.layers = calloc((size_t)cfg->n_layers, sizeof(afm_layer_params));
    m->g.layers = calloc((size_t)cfg->n_layers, sizeof(afm_layer_params));
    m->acts = calloc((size_t)cfg->n_layers, sizeof(afm_layer_acts));
    m->resid = calloc((size_t)cfg->n_layers + 1, sizeof(float *));
    size_t pbytes;
    if (!afm_mul_ok(m->n_params, sizeof(float), &pbytes) || !m->tensors || !m->p.layers || !m->g.layers || !m->acts || !m->resid) {
        afm_train_model_free(m);
        return afm_error(AFM_ERR_NOMEM, "out of memory creating the training model");
    }
    count_ctx fill = {0, 0, m->tensors};
    walk_tensors(cfg, count_fn, &fill);
    m->params = afm_alloc(pbytes);
    /* attention scratch: a query block of probabilities and one of their gradients per thread (train_ops.h) */
    m->d_scores = afm_alloc(sizeof(float) * (size_t)afm_pool_size(pool) * afm_attn_scratch_floats(T, cfg->head_dim));
    m->grads = afm_calloc(pbytes);
    size_t abytes = afm_train_act_bytes_opts(cfg, B, T, opts);
    m->act_mem = afm_alloc(abytes);
    advise_huge(m->params, pbytes);
    advise_huge(m->grads, pbytes);
    advise_huge(m->act_mem, abytes);
    if (!m->params || !m->grads || !m->act_mem || !m->d_scores) {
        afm_train_model_free(m);
        return afm_error(AFM_ERR_NOMEM, "out of memory: %zu parameters (%.1f MiB each for weights and gradients) and "
                         "%.1f MiB of activations for B=%d, T=%d", m->n_params, pbytes / 1048576.0, abytes / 1048576.0, B, T);
    }
    set_views(cfg, m->params, &m->p, m->tensors);
    set_views(cfg, m->grads, &m->g, m->tensors);
    /* forward and backward multiply by [wq; wk; wv] and [w_gate; w_up] as single matrices */
    for (int l = 0; l < cfg->n_layers; l++) {
        const afm_layer_params *L = &m->p.layers[l];
        size_t qd = (size_t)cfg->n_heads * cfg->head_dim, kd = (size_t)cfg->n_kv_heads * cfg->head_dim;
        if (L->wk != L->wq + qd * (size_t)cfg->dim || L->wv != L->wk + kd * (size_t)cfg->dim ||
            L->w_up != L->w_gate + (size_t)cfg->ffn_dim * (size_t)cfg->dim) {
            afm_train_model_free(m);
            return afm_error(AFM_ERR_INTERNAL, "parameter layout: q/k/v or gate/up weights are not adjacent");
        }
    }

    size_t N = (size_t)B * T, D = (size_t)cfg->dim, QD = (size_t)cfg->n_heads * cfg->head_dim;
    size_t KD = (size_t)cfg->n_kv_heads * cfg->head_dim, F = (size_t)cfg->ffn_dim, V = (size_t)cfg->n_vocab;
    size_t H = (size_t)cfg->n_heads, KH = (size_t)cfg->n_kv_heads;
    bool qkn = cfg->qk_norm != AFM_QK_NORM_OFF;
    float *a = m->act_mem;
#define TAKE(ptr, n) do { (ptr) = a; a += (n); } while (0)
    for (int l = 0; l < cfg->n_layers; l++) {
        afm_layer_acts *A = &m->acts[l];
        TAKE(m->resid[l], N * D);
        if (m->checkpoint && l > 0) { *A = m->acts[0]; continue; } /* one set of internals, shared */
        TAKE(A->x_n1, N * D); TAKE(A->rstd1, N);
        TAKE(A->qkv, N * (QD + 2 * KD));
        if (qkn) { TAKE(A->q_mid, N * QD); TAKE(A->k_mid, N * KD); TAKE(A->q_rstd, N * H); TAKE(A->k_rstd, N * KH); }
        TAKE(A->q, N * QD); TAKE(A->k, N * KD);
        TAKE(A->attn_stats, (size_t)B * H * T * 2);
        TAKE(A->att, N * QD); TAKE(A->h, N * D);
        TAKE(A->x_n2, N * D); TAKE(A->rstd2, N);
        TAKE(A->gu, 2 * N * F); TAKE(A->act, N * F);
    }
    TAKE(m->resid[cfg->n_layers], N * D);
    TAKE(m->x_nf, N * D); TAKE(m->rstdf, N); TAKE(m->lse, N); TAKE(m->losses, N);
    m->out_chunk = m->out_chunk_cap = afm_train_out_chunk(cfg, B, T);
    TAKE(m->chunk_logits, (size_t)m->out_chunk_cap * V);
    if ((a - m->act_mem) & 1) a++; /* act_mem is 64-byte aligned: an even float offset aligns the doubles */
    m->chunk_loss = (double *)(void *)a;
    a += 2 * (size_t)m->out_chunk_cap;
    TAKE(m->d_xn, N * D);
    a = m->act_mem + ((size_t)(a - m->act_mem) + 15) / 16 * 16; /* 64-byte aligned panels */
    float *dead = a; /* d_resid .. d_gu: dead while the output layer runs, which packs W_out there */
    TAKE(m->d_resid, N * D);
    TAKE(m->d_att, N * QD); TAKE(m->d_qkv, N * (QD + 2 * KD));
    TAKE(m->d_act, N * F); TAKE(m->d_gu, 2 * N * F);
    if (!(opts && opts->no_out_pack)) {
        size_t room = (size_t)(a - dead);
        if (opts && opts->out_pack_floats > 0 && opts->out_pack_floats < room) room = opts->out_pack_floats;
        out_pack_split(cfg, room, &m->out_pack_v_cols, &m->out_pack_d_cols);
        if (m->out_pack_v_cols > 0) m->out_pack_fwd = dead;
        if (m->out_pack_d_cols > 0) m->out_pack_bwd = dead + afm_gemm_bpack_floats(D, m->out_pack_v_cols);
    }
    TAKE(m->scratch, 512 * scratch_row(cfg, (size_t)T));
    TAKE(m->rope_cos, (size_t)T * cfg->head_dim / 2); TAKE(m->rope_sin, (size_t)T * cfg->head_dim / 2);
#undef TAKE
    if ((size_t)(a - m->act_mem) * sizeof(float) > abytes) { afm_train_model_free(m); return afm_error(AFM_ERR_INTERNAL, "activation layout overflow"); }
    m->rope_theta_tab = -1.0;
    *out = m;
    return AFM_OK;
}

void afm_train_model_free(afm_train_model *m) {
    if (!m) return;
    afm_gemm_ws_free(m->gemm);
    afm_free(m->params);
    afm_free(m->grads);
    afm_free(m->act_mem);
    afm_free(m->logits);
    afm_free(m->d_scores);
    free(m->tensors);
    free(m->p.layers);
    free(m->g.layers);
    free(m->acts);
    free(m->resid);
    free(m);
}

void afm_train_model_init(afm_train_model *m, uint64_t seed) {
    afm_rng rng;
    afm_rng_seed(&rng, seed);
    for (int i = 0; i < m->n_tensors; i++) {
        const afm_param_tensor *t = &m->tensors[i];
        float *w = m->params + t->offset;
        if (t->kind == AFM_PARAM_NORM) {
            for (size_t j = 0; j < t->numel; j++) w[j] = 1.0f;
            continue;
        }
        /* linear: std 1/sqrt(fan_in); embedding (and untied output): std 1/sqrt(D) */
        float std = (float)(1.0 / sqrt((double)(t->kind == AFM_PARAM_LINEAR ? t->fan_in : m->cfg.dim)));
        for (size_t j = 0; j < t->numel; j++) w[j] = std * afm_rng_normal(&rng);
    }
}

const afm_param_tensor *afm_train_find_tensor(const afm_train_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

static void zero_range(void *ctx, long lo, long hi, int ith) {
    (void)ith;
    memset((float *)ctx + lo, 0, sizeof(float) * (size_t)(hi - lo));
}

void afm_train_zero_grad(afm_train_model *m) {
    /* one memset per thread: at 50M parameters this is a 200 MB store pass */
    afm_parallel_for(m->n_params >= (1u << 16) ? m->pool : NULL, (long)m->n_params, zero_range, m->grads);
}

const char *afm_train_prof_name(int id) {
    static const char *const names[AFM_TP_COUNT] = {
        "fwd embed", "fwd norm", "fwd qkv", "fwd rope+qknorm",
        "fwd attention", "fwd wo", "fwd add", "fwd gate+up",
        "fwd swiglu", "fwd down", "fwd logits", "fwd xent",
        "bwd xent", "bwd logits dW", "bwd logits dx", "bwd norm",
        "bwd down dW", "bwd down dx", "bwd swiglu", "bwd gate+up dW",
        "bwd gate+up dx", "bwd wo dW", "bwd wo dx", "bwd attention",
        "bwd qknorm+rope", "bwd qkv dW", "bwd qkv dx", "bwd embed"};
    return id >= 0 && id < AFM_TP_COUNT ? names[id] : "?";
}

/* Runs stmt and, when timing is on, adds its seconds to m->prof[id]. */
#define TP(id, stmt) do { \
        double tp0_ = m->prof ? m->prof_clock() : 0.0; \
        stmt; \
        if (m->prof) m->prof[id] += m->prof_clock() - tp0_; \
    } while (0)

/* Checks the batch and token ids and records them for backward. */
static afm_status begin_batch(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t) {
    const afm_config *c = &m->cfg;
    if (b <= 0 || t <= 0 || b > m->B || t > m->T)
        return afm_error(AFM_ERR_INVALID_ARG, "batch (%d, %d) does not fit the model's capacity (%d, %d)", b, t, m->B, m->T);
    long N = (long)b * t;
    for (long n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= c->n_vocab)
            return afm_error(AFM_ERR_RANGE, "token id %d at position %ld is outside the vocabulary [0, %d)", tokens[n], n, c->n_vocab);
        if (targets && targets[n] >= c->n_vocab)
            return afm_error(AFM_ERR_RANGE, "target id %d at position %ld is outside the vocabulary [0, %d)", targets[n], n, c->n_vocab);
    }
    m->tokens = tokens;
    m->targets = targets;
    m->logits_are_grads = false;
    m->cur_b = b;
    m->cur_t = t;
    return AFM_OK;
}

/* Layer l's internals from its normed input A->x_n1 up to act = SwiGLU(n2(h)) (the input of
 * the down projection); d_xn and d_scores serve as scratch. The forward and the recomputation
 * of checkpointed layers both run this, so they give the same bits. */
static void layer_fwd_to_act(afm_train_model *m, int l) {
    const afm_config *c = &m->cfg;
    afm_pool *P = m->pool;
    afm_gemm_ws *W = m->gemm;
    long b = m->cur_b, t = m->cur_t, N = b * t;
    long D = c->dim, hd = c->head_dim, H = c->n_heads, KH = c->n_kv_heads, QD = H * hd, KD = KH * hd, F = c->ffn_dim;
    float eps = c->norm_eps, scale = (float)(1.0 / sqrt((double)hd));
    /* q/k/v and gate/up are one GEMM each (their weights are adjacent in the parameter buffer);
     * each residual add is fused with the RMSNorm that follows it */
    const long S = QD + 2 * KD;
    const afm_attn_strides rs = {.v = S};
    afm_layer_params *L = &m->p.layers[l];
    afm_layer_acts *A = &m->acts[l];
    afm_qk_args qa = {.N = N, .T = t, .H = H, .KH = KH, .hd = hd, .S = S, .layout = c->rope_layout, .qk_norm = c->qk_norm,
                      .eps = eps, .cosv = m->rope_cos, .sinv = m->rope_sin, .q_norm = L->q_norm, .k_norm = L->k_norm};
    float *x = m->resid[l];
    TP(AFM_TP_F_QKV, afm_linear_fwd(P, W, A->qkv, A->x_n1, L->wq, N, D, S));
    TP(AFM_TP_F_ROPE_QKN, afm_qk_fwd(P, &qa, A->q, A->k, A->q_mid, A->k_mid, A->q_rstd, A->k_rstd, A->qkv));
    TP(AFM_TP_F_ATTN, afm_attention_fwd_gemm_strided(P, W, A->att, A->attn_stats, A->q, A->k, A->qkv + QD + KD, b, t, H,
                                                     KH, hd, scale, m->d_scores, &rs));
    /* d_xn: scratch for Wo·att, then for Wdown·act */
    TP(AFM_TP_F_WO, afm_linear_fwd(P, W, m->d_xn, A->att, L->wo, N, QD, D));
    TP(AFM_TP_F_ADD, afm_add_rmsnorm_fwd(P, A->h, A->x_n2, A->rstd2, x, m->d_xn, L->ffn_norm, N, D, eps));
    TP(AFM_TP_F_GATEUP, afm_linear_fwd(P, W, A->gu, A->x_n2, L->w_gate, N, D, 2 * F));
    TP(AFM_TP_F_SWIGLU, afm_swiglu_fwd_fused(P, A->act, A->gu, N, F));
}

/* The layers: embeddings to the final norm's output x_nf (N, D). */
static void forward_layers(afm_train_model *m) {
    const afm_config *c = &m->cfg;
    afm_pool *P = m->pool;
    afm_gemm_ws *W = m->gemm;
    long N = (long)m->cur_b * m->cur_t, D = c->dim, hd = c->head_dim, F = c->ffn_dim;
    float eps = c->norm_eps;
    if (m->rope_theta_tab != (double)c->rope_theta) {
        afm_rope_table(m->rope_cos, m->rope_sin, m->T, hd, (double)c->rope_theta);
        m->rope_theta_tab = (double)c->rope_theta;
    }
    TP(AFM_TP_F_EMBED, afm_embed_fwd(P, m->resid[0], m->p.tok_embd, m->tokens, N, D));
    TP(AFM_TP_F_NORM, afm_rmsnorm_fwd(P, m->acts[0].x_n1, m->acts[0].rstd1, m->resid[0], m->p.layers[0].attn_norm, N, D, eps));
    for (int l = 0; l < c->n_layers; l++) {
        afm_layer_params *L = &m->p.layers[l];
        afm_layer_acts *A = &m->acts[l];
        layer_fwd_to_act(m, l);
        TP(AFM_TP_F_DOWN, afm_linear_fwd(P, W, m->d_xn, A->act, L->w_down, N, F, D));
        /* out = h + Wdown·act, normed for the next layer (or the output) */
        bool last = l + 1 == c->n_layers;
        TP(AFM_TP_F_ADD, afm_add_rmsnorm_fwd(P, m->resid[l + 1], last ? m->x_nf : m->acts[l + 1].x_n1,
                                             last ? m->rstdf : m->acts[l + 1].rstd1, A->h, m->d_xn,
                                             last ? m->p.output_norm : m->p.layers[l + 1].attn_norm, N, D, eps));
    }
}

afm_status afm_train_forward(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t, double *loss) {
    AFM_TRY(begin_batch(m, tokens, targets, b, t));
    long N = (long)b * t, D = m->cfg.dim, V = m->cfg.n_vocab;
    if (!m->logits) {
        size_t bytes = afm_train_logits_bytes(&m->cfg, m->B, m->T);
        if (!(m->logits = afm_alloc(bytes))) {
            m->tokens = NULL;
            return afm_error(AFM_ERR_NOMEM, "out of memory for the full logits (%d x %d x %d floats, %.1f MiB)", m->B, m->T,
                             m->cfg.n_vocab, bytes / 1048576.0);
        }
    }
    forward_layers(m);
    TP(AFM_TP_F_LOGITS, afm_linear_fwd(m->pool, m->gemm, m->logits, m->x_nf, m->p.output, N, D, V));
    m->loss = 0.0;
    m->n_valid = 0;
    if (targets) TP(AFM_TP_F_XENT, m->loss = afm_xent_fwd(m->pool, m->lse, m->losses, m->logits, targets, N, V, m->z_loss, &m->n_valid));
    if (loss) *loss = m->loss;
    return AFM_OK;
}

/* The output layer and the loss over chunks of out_chunk rows of x_nf (see afm_train_step); with
 * grad, d(x_nf) goes to d_xn and dW_out is accumulated, seeded with d(loss)/d(loss_n) = seed.
 * With fn, fn computes the loss and the logits' gradient of each chunk instead of cross-entropy
 * (m->loss is then left at 0: the caller keeps its loss). */
static afm_status output_chunked(afm_train_model *m, bool grad, float seed, afm_out_loss_fn fn, void *ctx) {
    afm_pool *P = m->pool;
    afm_gemm_ws *W = m->gemm;
    long N = (long)m->cur_b * m->cur_t, D = m->cfg.dim, V = m->cfg.n_vocab;
    long C = m->out_chunk < 1 ? 1 : m->out_chunk > m->out_chunk_cap ? m->out_chunk_cap : m->out_chunk;
    double sum = 0.0;
    /* W_out packed once for all chunks, as each product would pack it (so the same sums):
     * logits(n, v) = sum_d x(n, d) W(v, d), B(d, v) = W[v*D + d]; dx(n, d) = sum_v dl(n, v) W(v, d),
     * B(v, d) = W[v*D + d]; as many columns of each as the backward scratch holds
     * (out_pack_v_cols, out_pack_d_cols), the rest packed by each chunk's product. One chunk: packed
     * inside the products as usual. */
    afm_gemm_bpack pf, pb;
    bool pack = N > C && m->out_pack_fwd;
    bool pack_dx = pack && grad && m->out_pack_bwd;
    const float *Wout = m->p.output;
    if (pack) TP(AFM_TP_F_LOGITS, afm_gemm_bpack_fill_cols(P, W, &pf, m->out_pack_fwd, m->out_pack_v_cols, D, V, Wout, 1, D));
    if (pack_dx) TP(AFM_TP_B_LOGITS_DX, afm_gemm_bpack_fill_cols(P, W, &pb, m->out_pack_bwd, m->out_pack_d_cols, V, D, Wout, D, 1));
    for (long n0 = 0; n0 < N; n0 += C) {
        long c = N - n0 < C ? N - n0 : C;
        const float *x = m->x_nf + n0 * D;
        float *lg = m->chunk_logits;
        if (pack) TP(AFM_TP_F_LOGITS, afm_gemm_packed(P, W, c, x, D, 1, &pf, lg, V, false));
        else TP(AFM_TP_F_LOGITS, afm_linear_fwd(P, W, lg, x, Wout, c, D, V));
        if (fn) {
            afm_status st;
            TP(AFM_TP_F_XENT, st = fn(ctx, lg, n0, c, V));
            if (st != AFM_OK) return st;
        } else {
            TP(AFM_TP_F_XENT, sum += afm_xent_chunk(P, lg, m->lse + n0, m->losses + n0, m->chunk_loss, m->targets + n0, c, V,
                                                    m->z_loss, grad, seed));
        }
        if (!grad) continue;
        TP(AFM_TP_B_LOGITS_DW, afm_linear_bwd_w(P, W, m->g.output, lg, x, c, D, V));
        if (pack_dx) TP(AFM_TP_B_LOGITS_DX, afm_gemm_packed(P, W, c, lg, V, 1, &pb, m->d_xn + n0 * D, D, false));
        else TP(AFM_TP_B_LOGITS_DX, afm_linear_bwd_x(P, W, m->d_xn + n0 * D, lg, Wout, c, D, V, false));
    }
    m->loss = m->n_valid > 0 && !fn ? sum / (double)m->n_valid : 0.0;
    return AFM_OK;
}

static long count_valid(const int32_t *targets, long N) {
    long n = 0;
    for (long i = 0; i < N; i++) n += targets[i] >= 0;
    return n;
}

/* The backward from d_xn = d(x_nf) (N, D) through the final norm and the layers. */
static void backward_layers(afm_train_model *m) {
    const afm_config *c = &m->cfg;
    afm_pool *P = m->pool;
    afm_gemm_ws *W = m->gemm;
    long b = m->cur_b, t = m->cur_t, N = b * t;
    long D = c->dim, hd = c->head_dim, H = c->n_heads, KH = c->n_kv_heads, QD = H * hd, KD = KH * hd, F = c->ffn_dim;
    float sc = (float)(1.0 / sqrt((double)hd));
    TP(AFM_TP_B_NORM, afm_rmsnorm_bwd(P, m->d_resid, m->g.output_norm, m->d_xn, m->resid[c->n_layers], m->rstdf, m->p.output_norm, N, D, m->scratch, false));
    const long S = QD + 2 * KD;
    afm_qk_args qa = {.N = N, .T = t, .H = H, .KH = KH, .hd = hd, .S = S, .layout = c->rope_layout, .qk_norm = c->qk_norm,
                      .eps = c->norm_eps, .cosv = m->rope_cos, .sinv = m->rope_sin};
    /* attention reads v in qkv and writes dq, dk, dv into d_qkv's parts */
    const afm_attn_strides rs = {.v = S, .dq = S, .dk = S, .dv = S};
    for (int l = c->n_layers - 1; l >= 0; l--) {
        afm_layer_params *L = &m->p.layers[l], *G = &m->g.layers[l];
        afm_layer_acts *A = &m->acts[l];
        if (m->checkpoint && l + 1 < c->n_layers) {
            /* recompute layer l's internals from its input (the last layer's are still in place);
             * d_xn and d_scores are free here. x_n1 is what forward's fused add + norm wrote:
             * afm_rmsnorm_row of the same resid[l] */
            TP(AFM_TP_F_NORM, afm_rmsnorm_fwd(P, A->x_n1, A->rstd1, m->resid[l], L->attn_norm, N, D, c->norm_eps));
            layer_fwd_to_act(m, l);
        }
        /* out = h + Wdown · act: d_resid is both d(out) and, below, the running d(h) */
        TP(AFM_TP_B_DOWN_DW, afm_linear_bwd_w(P, W, G->w_down, m->d_resid, A->act, N, F, D));
        TP(AFM_TP_B_DOWN_DX, afm_linear_bwd_x(P, W, m->d_act, m->d_resid, L->w_down, N, F, D, false));
        TP(AFM_TP_B_SWIGLU, afm_swiglu_bwd_fused(P, m->d_gu, m->d_act, A->gu, N, F));
        /* gate and up together: dW (2F, D) = d_guᵀ x_n2 fills w_gate's and w_up's gradients */
        TP(AFM_TP_B_GATEUP_DW, afm_linear_bwd_w(P, W, G->w_gate, m->d_gu, A->x_n2, N, D, 2 * F));
        TP(AFM_TP_B_GATEUP_DX, afm_linear_bwd_x(P, W, m->d_xn, m->d_gu, L->w_gate, N, D, 2 * F, false));
        TP(AFM_TP_B_NORM, afm_rmsnorm_bwd(P, m->d_resid, G->ffn_norm, m->d_xn, A->h, A->rstd2, L->ffn_norm, N, D, m->scratch, true));
        /* h = x + Wo · att */
        TP(AFM_TP_B_WO_DW, afm_linear_bwd_w(P, W, G->wo, m->d_resid, A->att, N, QD, D));
        TP(AFM_TP_B_WO_DX, afm_linear_bwd_x(P, W, m->d_att, m->d_resid, L->wo, N, QD, D, false));
        TP(AFM_TP_B_ATTN, afm_attention_bwd_gemm_strided(P, W, m->d_qkv, m->d_qkv + QD, m->d_qkv + QD + KD, m->d_att,
                                                         A->attn_stats, A->q, A->k, A->qkv + QD + KD, b, t, H, KH, hd, sc,
                                                         m->d_scores, &rs));
        /* back through QK-norm and RoPE to d(q_lin), d(k_lin), in place in d_qkv */
        qa.q_norm = L->q_norm;
        qa.k_norm = L->k_norm;
        TP(AFM_TP_B_ROPE_QKN, afm_qk_bwd(P, &qa, m->d_qkv, G->q_norm, G->k_norm, A->qkv, A->q_mid, A->k_mid, A->q_rstd,
                                         A->k_rstd, m->scratch));
        TP(AFM_TP_B_QKV_DW, afm_linear_bwd_w(P, W, G->wq, m->d_qkv, A->x_n1, N, D, S));
        TP(AFM_TP_B_QKV_DX, afm_linear_bwd_x(P, W, m->d_xn, m->d_qkv, L->wq, N, D, S, false));
        TP(AFM_TP_B_NORM, afm_rmsnorm_bwd(P, m->d_resid, G->attn_norm, m->d_xn, m->resid[l], A->rstd1, L->attn_norm, N, D, m->scratch, true));
    }
    TP(AFM_TP_B_EMBED, afm_embed_bwd(P, m->g.tok_embd, m->d_resid, m->tokens, N, D));
    m->tokens = NULL; /* activations are spent: a second backward needs a new forward */
}

afm_status afm_train_backward(afm_train_model *m, float scale) {
    if (!m->tokens || !m->targets || !m->logits) return afm_error(AFM_ERR_INVALID_ARG, "backward needs afm_train_forward with targets first");
    afm_pool *P = m->pool;
    afm_gemm_ws *W = m->gemm;
    long N = (long)m->cur_b * m->cur_t, D = m->cfg.dim, V = m->cfg.n_vocab;
    /* the loss is a mean over counted rows: seed d(loss)/d(loss_n) = scale / n_valid */
    float seed = m->n_valid > 0 ? scale / (float)m->n_valid : 0.0f;
    if (!m->logits_are_grads) TP(AFM_TP_B_XENT, afm_xent_bwd(P, m->logits, m->lse, m->targets, N, V, m->z_loss, seed));
    m->logits_are_grads = false;
    float *dlogits = m->logits;
    TP(AFM_TP_B_LOGITS_DW, afm_linear_bwd_w(P, W, m->g.output, dlogits, m->x_nf, N, D, V));
    TP(AFM_TP_B_LOGITS_DX, afm_linear_bwd_x(P, W, m->d_xn, dlogits, m->p.output, N, D, V, false));
    backward_layers(m);
    return AFM_OK;
}

afm_status afm_train_step(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t, float scale,
                          double *loss) {
    if (!targets) return afm_error(AFM_ERR_INVALID_ARG, "a training step needs targets");
    AFM_TRY(begin_batch(m, tokens, targets, b, t));
    forward_layers(m);
    m->n_valid = count_valid(targets, (long)b * t);
    /* the loss is a mean over counted rows: seed d(loss)/d(loss_n) = scale / n_valid (as backward) */
    afm_status st = output_chunked(m, true, m->n_valid > 0 ? scale / (float)m->n_valid : 0.0f, NULL, NULL);
    if (st != AFM_OK) { m->tokens = NULL; return st; }
    backward_layers(m);
    if (loss) *loss = m->loss;
    return AFM_OK;
}

afm_status afm_train_step_loss(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t,
                               afm_out_loss_fn fn, void *ctx) {
    if (!fn) return afm_error(AFM_ERR_INVALID_ARG, "afm_train_step_loss needs a loss function");
    AFM_TRY(begin_batch(m, tokens, targets, b, t));
    forward_layers(m);
    m->n_valid = targets ? count_valid(targets, (long)b * t) : 0;
    afm_status st = output_chunked(m, true, 0.0f, fn, ctx);
    if (st != AFM_OK) { m->tokens = NULL; return st; }
    backward_layers(m);
    return AFM_OK;
}

afm_status afm_train_eval_loss(afm_train_model *m, const int32_t *tokens, const int32_t *targets, int b, int t, double *loss) {
    if (!targets) return afm_error(AFM_ERR_INVALID_ARG, "a loss needs targets");
    AFM_TRY(begin_batch(m, tokens, targets, b, t));
    forward_layers(m);
    m->n_valid = count_valid(targets, (long)b * t);
    afm_status st = output_chunked(m, false, 0.0f, NULL, NULL);
    m->tokens = NULL;
    AFM_TRY(st);
    if (loss) *loss = m->loss;
    return AFM_OK;
}
