/* LoRA adapters: loading llama.cpp's GGUF LoRA format, checking it against the base model, and
 * applying the low-rank terms in the forward pass (afm/adapter.h has the format and the math). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/mem.h"
#include "formats/gguf.h"
#include "kernels/matmul.h"
#include "model/adapter_internal.h"
#include "model/model_internal.h"
#include "tensor/quant.h"

static const char *const k_kind_names[AFM_LORA_PER_LAYER] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

static const afm_weight *layer_weight(const afm_model *m, int l, int kind) {
    const afm_layer *L = &m->layers[l];
    const afm_weight *w[AFM_LORA_PER_LAYER] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return w[kind];
}

/* Slot of a base weight name and the base weight's (n_out, n_in); -1 when the model has no such
 * weight. "blk.<l>.<kind>.weight", "output.weight", "token_embd.weight". */
static int slot_of(const afm_model *m, const char *base, int64_t *n_out, int64_t *n_in) {
    const afm_config *c = &m->cfg;
    if (!strcmp(base, "token_embd.weight")) {
        *n_out = m->tok_embd.rows;   /* n_vocab */
        *n_in = m->tok_embd.cols;    /* dim */
        return afm_lora_slot_embd(c->n_layers);
    }
    if (!strcmp(base, "output.weight")) {
        if (c->tied_output) return -2;
        *n_out = m->output.rows;
        *n_in = m->output.cols;
        return afm_lora_slot_output(c->n_layers);
    }
    int l, used = 0;
    char kind[32];
    if (sscanf(base, "blk.%d.%31[a-z_].weight%n", &l, kind, &used) != 2 || base[used] != '\0' || l < 0 || l >= c->n_layers)
        return -1;
    for (int k = 0; k < AFM_LORA_PER_LAYER; k++)
        if (!strcmp(kind, k_kind_names[k])) {
            const afm_weight *w = layer_weight(m, l, k);
            *n_out = w->rows;
            *n_in = w->cols;
            return afm_lora_slot(l, k);
        }
    return -1;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* A copy of a 2-D tensor (ne[1] rows of ne[0] values) that the matrix kernels take: f16 and bf16
 * as stored (16-bit adapters stay 16-bit: half the memory and bandwidth, exact products), other
 * types dequantized to f32; keep_16 false: always f32. */
static afm_status to_compute(const afm_gguf_tensor *t, bool keep_16, void **out, afm_dtype *type) {
    size_t row = afm_dtype_row_size((afm_dtype)t->type, t->ne[0]), n;
    if (keep_16 && row != 0 && (t->type == AFM_F16 || t->type == AFM_BF16)) {
        if (!afm_mul_ok(row, (size_t)t->ne[1], &n)) return afm_error(AFM_ERR_RANGE, "tensor %s is too large", t->name);
        void *c = afm_alloc(n);
        if (!c) return afm_error(AFM_ERR_NOMEM, "tensor %s: out of memory", t->name);
        memcpy(c, t->data, n);
        *out = c;
        *type = (afm_dtype)t->type;
        return AFM_OK;
    }
    *type = AFM_F32;
    if (row == 0) return afm_error(AFM_ERR_FORMAT, "tensor %s: type %s cannot hold rows of %lld values", t->name,
                                   afm_dtype_name(t->type), (long long)t->ne[0]);
    if (!afm_mul_ok((size_t)t->ne[0], (size_t)t->ne[1], &n) || !afm_mul_ok(n, sizeof(float), &n))
        return afm_error(AFM_ERR_RANGE, "tensor %s is too large", t->name);
    float *f = afm_alloc(n);
    if (!f) return afm_error(AFM_ERR_NOMEM, "tensor %s: out of memory", t->name);
    for (int64_t r = 0; r < t->ne[1]; r++) {
        afm_status st = afm_dequantize_row((afm_dtype)t->type, (const uint8_t *)t->data + (size_t)r * row,
                                           f + (size_t)r * (size_t)t->ne[0], t->ne[0]);
        if (st != AFM_OK) {
            afm_free(f);
            return afm_error(AFM_ERR_UNSUPPORTED, "tensor %s: type %s is not supported for LoRA tensors (f32, f16, bf16, q8_0 are)",
                             t->name, afm_dtype_name(t->type));
        }
    }
    *out = f;
    return AFM_OK;
}

static afm_status check_metadata(const afm_model *m, const afm_gguf *g, float *alpha) {
    const char *s;
    size_t n;
    if (!afm_gguf_get_str(g, "general.type", &s, &n))
        return afm_error(AFM_ERR_FORMAT, "general.type is missing: a LoRA adapter file has general.type = \"adapter\"");
    if (n != 7 || memcmp(s, "adapter", 7) != 0)
        return afm_error(AFM_ERR_FORMAT, "general.type is \"%.*s\", expected \"adapter\" (is this a model rather than a LoRA adapter?)",
                         (int)(n > 64 ? 64 : n), s);
    if (!afm_gguf_get_str(g, "adapter.type", &s, &n))
        return afm_error(AFM_ERR_FORMAT, "adapter.type is missing, expected \"lora\"");
    if (n != 4 || memcmp(s, "lora", 4) != 0)
        return afm_error(AFM_ERR_UNSUPPORTED, "adapter.type is \"%.*s\"; only \"lora\" adapters are supported",
                         (int)(n > 64 ? 64 : n), s);
    if (!afm_gguf_get_str(g, "general.architecture", &s, &n))
        return afm_error(AFM_ERR_FORMAT, "general.architecture is missing (it must name the base model's architecture)");
    if (strlen(m->cfg.arch) != n || memcmp(s, m->cfg.arch, n) != 0)
        return afm_error(AFM_ERR_FORMAT, "the adapter is for architecture \"%.*s\" but the model is \"%s\"",
                         (int)(n > 64 ? 64 : n), s, m->cfg.arch);
    *alpha = 0;
    if (afm_gguf_find_key(g, "adapter.lora.alpha") >= 0 && !afm_gguf_get_f32(g, "adapter.lora.alpha", alpha))
        return afm_error(AFM_ERR_FORMAT, "adapter.lora.alpha must be a float");
    if (afm_gguf_find_key(g, "adapter.alora.invocation_tokens") >= 0)
        return afm_error(AFM_ERR_UNSUPPORTED, "activated LoRA (adapter.alora.invocation_tokens) is not supported");
    return AFM_OK;
}

/* Checks the shapes of one pair against the base weight and converts it. */
static afm_status bind_pair(afm_lora_pair *p, const char *base, bool embd, int64_t n_out, int64_t n_in,
                            const afm_gguf_tensor *a, const afm_gguf_tensor *b) {
    if (!a || !b)
        return afm_error(AFM_ERR_FORMAT, "%s has %s but no %s: LoRA tensors come in pairs", base,
                         a ? "lora_a" : "lora_b", a ? "lora_b" : "lora_a");
    if (a->n_dims != 2 || b->n_dims != 2)
        return afm_error(AFM_ERR_FORMAT, "%s: lora_a and lora_b must be matrices (they have %u and %u dims)", base,
                         a->n_dims, b->n_dims);
    int64_t r = a->ne[embd ? 0 : 1];
    if (embd) {
        /* lora_a {r, n_vocab}, lora_b {r, dim} */
        if (a->ne[1] != n_out || b->ne[1] != n_in || b->ne[0] != r)
            return afm_error(AFM_ERR_FORMAT, "%s: lora_a is {%lld, %lld} and lora_b {%lld, %lld} (ggml order), expected "
                             "{r, %lld} and {r, %lld} for the token embedding",
                             base, (long long)a->ne[0], (long long)a->ne[1], (long long)b->ne[0], (long long)b->ne[1],
                             (long long)n_out, (long long)n_in);
    } else {
        if (a->ne[0] != n_in || b->ne[1] != n_out)
            return afm_error(AFM_ERR_FORMAT, "%s: lora_a is {%lld, %lld} and lora_b {%lld, %lld} (ggml order), but the base "
                             "weight is {%lld, %lld}: expected lora_a {%lld, r} and lora_b {r, %lld}",
                             base, (long long)a->ne[0], (long long)a->ne[1], (long long)b->ne[0], (long long)b->ne[1],
                             (long long)n_in, (long long)n_out, (long long)n_in, (long long)n_out);
        if (b->ne[0] != r)
            return afm_error(AFM_ERR_FORMAT, "%s: rank mismatch, lora_a has rank %lld (ne[1]) and lora_b %lld (ne[0]) "
                             "(lora_a must be stored {n_in, r}, not transposed)",
                             base, (long long)r, (long long)b->ne[0]);
    }
    if (r < 1 || r > 65536) return afm_error(AFM_ERR_FORMAT, "%s: rank %lld is out of range", base, (long long)r);
    snprintf(p->name, sizeof p->name, "%s", base);
    p->r = (int32_t)r;
    p->n_in = n_in;
    p->n_out = n_out;
    AFM_TRY(to_compute(a, !embd, &p->a, &p->a_type));
    return to_compute(b, !embd, &p->b, &p->b_type);
}

afm_status afm_adapter_load(const afm_model *m, const char *path, afm_adapter **out) {
    *out = NULL;
    afm_gguf *g;
    AFM_TRY(afm_gguf_open(path, &g));
    afm_status st = afm_adapter_from_gguf(m, g, out);
    afm_gguf_close(g);
    if (st != AFM_OK) afm_error_prefix(st, "LoRA adapter %s", path);
    return st;
}

afm_status afm_adapter_from_gguf(const afm_model *m, const afm_gguf *g, afm_adapter **out) {
    *out = NULL;
    const afm_config *c = &m->cfg;
    int n_slots = afm_lora_n_slots(c->n_layers);
    afm_adapter *ad = calloc(1, sizeof *ad);
    const afm_gguf_tensor **ta = calloc((size_t)n_slots, sizeof *ta), **tb = calloc((size_t)n_slots, sizeof *tb);
    afm_status st = (ad && ta && tb) ? AFM_OK : afm_error(AFM_ERR_NOMEM, "out of memory");
    if (st == AFM_OK) {
        ad->model = m;
        ad->n_slots = n_slots;
        ad->by_slot = calloc((size_t)n_slots, sizeof *ad->by_slot);
        ad->pairs = calloc((size_t)n_slots, sizeof *ad->pairs);
        if (!ad->by_slot || !ad->pairs) st = afm_error(AFM_ERR_NOMEM, "out of memory");
    }
    if (st == AFM_OK) st = check_metadata(m, g, &ad->alpha);
    /* sort the tensors into slots */
    for (int64_t i = 0; st == AFM_OK && i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        bool is_a = ends_with(t->name, ".lora_a");
        if (!is_a && !ends_with(t->name, ".lora_b")) {
            st = afm_error(AFM_ERR_FORMAT, "tensor %s is not a LoRA tensor (names end in .lora_a or .lora_b)", t->name);
            break;
        }
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(t->name) - 7), t->name);
        if (ends_with(base, "_norm.weight")) continue;   /* llama.cpp ignores LoRA of norm gains */
        int64_t n_out, n_in;
        int slot = slot_of(m, base, &n_out, &n_in);
        if (slot == -2) {
            st = afm_error(AFM_ERR_FORMAT, "tensor %s: the model ties its output to token_embd.weight and has no output.weight to adapt", t->name);
        } else if (slot < 0) {
            st = afm_error(AFM_ERR_FORMAT, "tensor %s: the base model has no weight %s (%d layers; adaptable: blk.N.{attn_q,attn_k,"
                           "attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight, output.weight, token_embd.weight)",
                           t->name, base, c->n_layers);
        } else {
            (is_a ? ta : tb)[slot] = t;
        }
    }
    for (int s = 0; st == AFM_OK && s < n_slots; s++) {
        if (!ta[s] && !tb[s]) continue;
        const afm_gguf_tensor *t = ta[s] ? ta[s] : tb[s];
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(t->name) - 7), t->name);
        int64_t n_out = 0, n_in = 0;
        slot_of(m, base, &n_out, &n_in);
        afm_lora_pair *p = &ad->pairs[ad->n_pairs];
        st = bind_pair(p, base, s == afm_lora_slot_embd(c->n_layers), n_out, n_in, ta[s], tb[s]);
        if (p->a || p->b) ad->n_pairs++;
        if (st != AFM_OK) break;
        ad->by_slot[s] = p;
        if (p->r > ad->max_rank) ad->max_rank = p->r;
        if (p->n_out > ad->max_out) ad->max_out = p->n_out;
    }
    if (st == AFM_OK && ad->n_pairs == 0) st = afm_error(AFM_ERR_FORMAT, "the adapter has no LoRA tensors");
    free(ta);
    free(tb);
    if (st != AFM_OK) {
        afm_adapter_free(ad);
        return st;
    }
    *out = ad;
    return AFM_OK;
}

void afm_adapter_free(afm_adapter *a) {
    if (!a) return;
    for (int32_t i = 0; a->pairs && i < a->n_pairs; i++) {
        afm_free(a->pairs[i].a);
        afm_free(a->pairs[i].b);
    }
    free(a->pairs);
    free(a->by_slot);
    free(a);
}

float afm_adapter_alpha(const afm_adapter *a) { return a->alpha; }
int32_t afm_adapter_max_rank(const afm_adapter *a) { return a->max_rank; }
int32_t afm_adapter_n_pairs(const afm_adapter *a) { return a->n_pairs; }

float afm_lora_pair_scale(const afm_adapter *a, const afm_lora_pair *p, float user_scale) {
    return a->alpha != 0.0f ? user_scale * a->alpha / (float)p->r : user_scale;
}

/* ---- the active set of a session ---- */

afm_status afm_lora_set_replace(afm_lora_set *set, const afm_model *m, afm_adapter *const *a, const float *scales,
                                int32_t n, bool *changed) {
    if (n < 0 || n > AFM_MAX_ACTIVE_ADAPTERS)
        return afm_error(AFM_ERR_INVALID_ARG, "%d adapters: between 0 and %d can be active at once", n, AFM_MAX_ACTIVE_ADAPTERS);
    for (int32_t i = 0; i < n; i++) {
        if (!a[i]) return afm_error(AFM_ERR_INVALID_ARG, "adapter %d is NULL", i);
        if (a[i]->model != m) return afm_error(AFM_ERR_INVALID_ARG, "adapter %d was loaded for another model", i);
    }
    bool same = set->n == n;
    for (int32_t i = 0; same && i < n; i++) same = set->a[i] == a[i] && set->scale[i] == (scales ? scales[i] : 1.0f);
    *changed = !same;
    set->n = n;
    for (int32_t i = 0; i < n; i++) {
        set->a[i] = a[i];
        set->scale[i] = scales ? scales[i] : 1.0f;
    }
    return AFM_OK;
}

void afm_lora_set_free(afm_lora_set *set) {
    afm_free(set->u);
    afm_free(set->d);
    memset(set, 0, sizeof *set);
}

static afm_status grow(float **buf, size_t *cap, size_t need) {
    if (need <= *cap) return AFM_OK;
    float *p = afm_alloc(need * sizeof(float));
    if (!p) return afm_error(AFM_ERR_NOMEM, "out of memory for LoRA scratch (%zu floats)", need);
    afm_free(*buf);
    *buf = p;
    *cap = need;
    return AFM_OK;
}

enum { LORA_CHUNK_FLOATS = 1 << 20 };   /* bounds the (rows, n_out) scratch: 4 MiB */

afm_status afm_lora_apply(afm_lora_set *set, afm_pool *pool, int slot, float *y, const float *x, int64_t T,
                          int64_t T_like) {
    if (T != T_like && T != 1)
        return afm_error(AFM_ERR_INVALID_ARG, "LoRA: %lld rows as part of %lld (only all rows or the last one)",
                         (long long)T, (long long)T_like);
    for (int32_t i = 0; i < set->n; i++) {
        const afm_adapter *ad = set->a[i];
        const afm_lora_pair *p = ad->by_slot[slot];
        if (!p) continue;
        float s = afm_lora_pair_scale(ad, p, set->scale[i]);
        /* u = x Aᵀ: (T, r) */
        AFM_TRY(grow(&set->u, &set->u_cap, (size_t)T * (size_t)p->r));
        AFM_TRY(afm_matmul_like(pool, false, set->u, p->a, p->a_type, p->r, p->n_in, x, T, T_like));
        /* y += s · u Bᵀ, in chunks of `rows` rows of the T_like-row computation; the last row
         * alone (T < T_like) is computed as its chunk (the last, T_like - t_last rows) computes it */
        int64_t rows = LORA_CHUNK_FLOATS / p->n_out;
        if (rows < 1) rows = 1;
        if (rows > T_like) rows = T_like;
        AFM_TRY(grow(&set->d, &set->d_cap, (size_t)(rows < T ? rows : T) * (size_t)p->n_out));
        int64_t last_like = T_like - (T_like - 1) / rows * rows;
        for (int64_t t0 = 0; t0 < T; t0 += rows) {
            int64_t nt = T - t0 < rows ? T - t0 : rows;
            AFM_TRY(afm_matmul_like(pool, false, set->d, p->b, p->b_type, p->n_out, p->r, set->u + (size_t)t0 * p->r,
                                    nt, T < T_like ? last_like : nt));
            float *yy = y + (size_t)t0 * p->n_out;
            for (size_t k = 0; k < (size_t)nt * (size_t)p->n_out; k++) yy[k] += s * set->d[k];
        }
    }
    return AFM_OK;
}

void afm_lora_apply_embd(const afm_lora_set *set, int slot, float *x, const int32_t *tokens, int64_t T, int64_t dim) {
    for (int32_t i = 0; i < set->n; i++) {
        const afm_adapter *ad = set->a[i];
        const afm_lora_pair *p = ad->by_slot[slot];
        if (!p) continue;
        float s = afm_lora_pair_scale(ad, p, set->scale[i]);
        for (int64_t t = 0; t < T; t++) {
            const float *at = (const float *)p->a + (size_t)tokens[t] * p->r;   /* A[token]: (r) */
            float *xt = x + (size_t)t * dim;
            for (int64_t j = 0; j < dim; j++) {
                const float *bj = (const float *)p->b + (size_t)j * p->r;       /* B row j: (r) */
                float acc = 0;
                for (int32_t k = 0; k < p->r; k++) acc += bj[k] * at[k];
                xt[j] += s * acc;
            }
        }
    }
}
