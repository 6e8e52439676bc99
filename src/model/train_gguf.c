/* GGUF load/save of the training model (see train_gguf.h). */
#include "model/train_gguf.h"
#include "base/error.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static afm_status need_u32(const afm_gguf *g, const char *arch, const char *key, int32_t *out, int32_t dflt) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint32_t v;
    if (!afm_gguf_get_u32(g, k, &v)) {
        if (afm_gguf_find_key(g, k) >= 0) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' has a non-integer type", k);
        if (dflt < 0) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' is missing", k);
        *out = dflt;
        return AFM_OK;
    }
    if (v < 1 || v > INT32_MAX) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' = %u is out of range (expected >= 1)", k, v);
    *out = (int32_t)v;
    return AFM_OK;
}

static afm_status need_f32(const afm_gguf *g, const char *arch, const char *key, float *out, float dflt) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!afm_gguf_get_f32(g, k, out)) {
        if (afm_gguf_find_key(g, k) >= 0) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' is not a float", k);
        if (dflt < 0) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' is missing", k);
        *out = dflt;
    }
    if (!(*out > 0.0f) || !isfinite(*out)) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' must be a positive number", k);
    return AFM_OK;
}

static afm_status need_str(const afm_gguf *g, const char *key, const char *const *allowed, int n_allowed, int *which) {
    const char *s;
    size_t len;
    if (!afm_gguf_get_str(g, key, &s, &len)) return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' is missing or not a string", key);
    for (int i = 0; i < n_allowed; i++)
        if (strlen(allowed[i]) == len && !memcmp(s, allowed[i], len)) { *which = i; return AFM_OK; }
    return afm_error(AFM_ERR_FORMAT, "GGUF key '%s' = '%.*s' is not one of the allowed values", key, (int)len, s);
}

afm_status afm_train_gguf_config(const afm_gguf *g, afm_config *c) {
    memset(c, 0, sizeof *c);
    const char *arch;
    size_t alen;
    if (!afm_gguf_get_str(g, "general.architecture", &arch, &alen) || alen == 0 || alen >= sizeof c->arch)
        return afm_error(AFM_ERR_FORMAT, "GGUF: general.architecture is missing");
    memcpy(c->arch, arch, alen);
    c->arch[alen] = 0;
    bool is_afm = !strcmp(c->arch, "afm"), is_llama = !strcmp(c->arch, "llama"), is_qwen3 = !strcmp(c->arch, "qwen3");
    if (!is_afm && !is_llama && !is_qwen3)
        return afm_error(AFM_ERR_UNSUPPORTED, "GGUF architecture '%s' is not trainable here (expected afm, llama or qwen3)", c->arch);
    const char *a = c->arch;
    AFM_TRY(need_u32(g, a, "context_length", &c->max_seq_len, -1));
    AFM_TRY(need_u32(g, a, "embedding_length", &c->dim, -1));
    AFM_TRY(need_u32(g, a, "block_count", &c->n_layers, -1));
    AFM_TRY(need_u32(g, a, "feed_forward_length", &c->ffn_dim, -1));
    AFM_TRY(need_u32(g, a, "attention.head_count", &c->n_heads, -1));
    AFM_TRY(need_f32(g, a, "attention.layer_norm_rms_epsilon", &c->norm_eps, -1.0f));
    int32_t vl = 0;
    if (is_afm) {
        AFM_TRY(need_u32(g, a, "attention.head_count_kv", &c->n_kv_heads, -1));
        AFM_TRY(need_u32(g, a, "attention.key_length", &c->head_dim, -1));
        AFM_TRY(need_u32(g, a, "attention.value_length", &vl, -1));
        AFM_TRY(need_f32(g, a, "rope.freq_base", &c->rope_theta, -1.0f));
        AFM_TRY(need_u32(g, a, "vocab_size", &c->n_vocab, -1));
        static const char *const layouts[] = {"interleaved", "half"}, *const qks[] = {"off", "before_rope", "after_rope"};
        int w;
        AFM_TRY(need_str(g, "afm.rope.layout", layouts, 2, &w));
        c->rope_layout = w ? AFM_ROPE_HALF : AFM_ROPE_INTERLEAVED;
        AFM_TRY(need_str(g, "afm.attention.qk_norm", qks, 3, &w));
        c->qk_norm = (afm_qk_norm)w;
    } else {
        int32_t rdim = 0;
        AFM_TRY(need_u32(g, a, "attention.head_count_kv", &c->n_kv_heads, c->n_heads));
        AFM_TRY(need_u32(g, a, "rope.dimension_count", &rdim, 0));
        AFM_TRY(need_u32(g, a, "attention.key_length", &c->head_dim, rdim ? rdim : c->dim / c->n_heads));
        AFM_TRY(need_u32(g, a, "attention.value_length", &vl, c->head_dim));
        if (rdim && rdim != c->head_dim)
            return afm_error(AFM_ERR_UNSUPPORTED, "GGUF: %s.rope.dimension_count %d != head_dim %d (partial rotation is not supported)", a, rdim, c->head_dim);
        AFM_TRY(need_f32(g, a, "rope.freq_base", &c->rope_theta, 10000.0f));
        const afm_gguf_tensor *te = afm_gguf_find_tensor(g, "token_embd.weight");
        AFM_TRY(need_u32(g, a, "vocab_size", &c->n_vocab, te && te->ne[1] <= INT32_MAX ? (int32_t)te->ne[1] : -1));
        c->rope_layout = is_qwen3 ? AFM_ROPE_HALF : AFM_ROPE_INTERLEAVED;
        c->qk_norm = is_qwen3 ? AFM_QK_NORM_BEFORE_ROPE : AFM_QK_NORM_OFF;
    }
    if (vl != c->head_dim) return afm_error(AFM_ERR_UNSUPPORTED, "GGUF: %s.attention.value_length %d != key_length %d", a, vl, c->head_dim);
    c->tied_output = afm_gguf_find_tensor(g, "output.weight") == NULL;
    return afm_train_config_check(c);
}

afm_status afm_train_gguf_load(afm_train_model *m, const afm_gguf *g) {
    for (int i = 0; i < m->n_tensors; i++) {
        const afm_param_tensor *t = &m->tensors[i];
        const afm_gguf_tensor *gt = afm_gguf_find_tensor(g, t->name);
        if (!gt) return afm_error(AFM_ERR_FORMAT, "GGUF: tensor '%s' is missing", t->name);
        int64_t want0 = t->n_dims == 2 ? t->shape[1] : t->shape[0], want1 = t->n_dims == 2 ? t->shape[0] : 1;
        if (gt->n_dims != (uint32_t)t->n_dims || gt->ne[0] != want0 || gt->ne[1] != want1)
            return afm_error(AFM_ERR_FORMAT, "GGUF: tensor '%s' has ne {%lld, %lld}, expected {%lld, %lld}", t->name,
                             (long long)gt->ne[0], (long long)gt->ne[1], (long long)want0, (long long)want1);
        float *dst = m->params + t->offset;
        if (gt->type == AFM_F32 && gt->nbytes == t->numel * 4) {
            memcpy(dst, gt->data, t->numel * 4);
        } else if ((gt->type == AFM_F16 || gt->type == AFM_BF16) && gt->nbytes == t->numel * 2) {
            const unsigned char *src = gt->data;
            for (size_t j = 0; j < t->numel; j++) {
                uint16_t h;
                memcpy(&h, src + 2 * j, 2);
                dst[j] = gt->type == AFM_F16 ? afm_f16_to_f32(h) : afm_bf16_to_f32(h);
            }
        } else {
            return afm_error(AFM_ERR_UNSUPPORTED, "GGUF: tensor '%s' has type %u; training loads F32, F16 or BF16", t->name, gt->type);
        }
    }
    /* tensors the config does not expect (q/k norms with qk_norm off, output.weight when tied) */
    if (m->cfg.qk_norm == AFM_QK_NORM_OFF && afm_gguf_find_tensor(g, "blk.0.attn_q_norm.weight"))
        return afm_error(AFM_ERR_FORMAT, "GGUF: attn_q_norm tensors are present but qk_norm is off");
    return AFM_OK;
}

afm_status afm_train_gguf_save(const afm_train_model *m, const char *path, const afm_gguf *tok) {
    const afm_config *c = &m->cfg;
    afm_gguf_writer *w;
    AFM_TRY(afm_gguf_writer_create(&w));
    afm_status st = AFM_OK;
#define S(call) do { if (st == AFM_OK) st = (call); } while (0)
    S(afm_gguf_set_str(w, "general.architecture", "afm"));
    S(afm_gguf_set_str(w, "general.name", "afm"));
    S(afm_gguf_set_u32(w, "afm.context_length", (uint32_t)c->max_seq_len));
    S(afm_gguf_set_u32(w, "afm.embedding_length", (uint32_t)c->dim));
    S(afm_gguf_set_u32(w, "afm.block_count", (uint32_t)c->n_layers));
    S(afm_gguf_set_u32(w, "afm.feed_forward_length", (uint32_t)c->ffn_dim));
    S(afm_gguf_set_u32(w, "afm.attention.head_count", (uint32_t)c->n_heads));
    S(afm_gguf_set_u32(w, "afm.attention.head_count_kv", (uint32_t)c->n_kv_heads));
    S(afm_gguf_set_u32(w, "afm.attention.key_length", (uint32_t)c->head_dim));
    S(afm_gguf_set_u32(w, "afm.attention.value_length", (uint32_t)c->head_dim));
    S(afm_gguf_set_f32(w, "afm.attention.layer_norm_rms_epsilon", c->norm_eps));
    S(afm_gguf_set_f32(w, "afm.rope.freq_base", c->rope_theta));
    S(afm_gguf_set_str(w, "afm.rope.layout", c->rope_layout == AFM_ROPE_HALF ? "half" : "interleaved"));
    S(afm_gguf_set_str(w, "afm.attention.qk_norm", c->qk_norm == AFM_QK_NORM_OFF ? "off" : c->qk_norm == AFM_QK_NORM_BEFORE_ROPE ? "before_rope" : "after_rope"));
    S(afm_gguf_set_u32(w, "afm.vocab_size", (uint32_t)c->n_vocab));
    if (tok)
        for (int64_t i = 0; i < afm_gguf_n_kv(tok) && st == AFM_OK; i++)
            if (!strncmp(afm_gguf_key(tok, i), "tokenizer.", 10)) st = afm_gguf_copy_kv(w, tok, i);
    for (int i = 0; i < m->n_tensors && st == AFM_OK; i++) {
        const afm_param_tensor *t = &m->tensors[i];
        int64_t ne[2] = {t->n_dims == 2 ? t->shape[1] : t->shape[0], t->n_dims == 2 ? t->shape[0] : 1};
        st = afm_gguf_add_tensor(w, t->name, AFM_F32, (uint32_t)t->n_dims, ne, m->params + t->offset, t->numel * 4, false);
    }
    S(afm_gguf_write(w, path));
#undef S
    afm_gguf_writer_free(w);
    return st;
}
