/* afm_config <-> GGUF metadata. Keys per architecture: reference/gguf-llamacpp.md §2 for
 * `llama` and `qwen3`; docs/gguf-afm.md for our `afm` (same keys plus afm.rope.layout and
 * afm.attention.qk_norm, which make every switch explicit). `gemma3` (read only) uses the same
 * keys plus gemma3.attention.sliding_window and optional gemma3.rope.scaling.{type,factor}; the
 * rest of Gemma 3 is fixed by the architecture (as llama.cpp hard-codes it): NeoX RoPE, QK-norm
 * before RoPE, GeGLU, post-norms, embeddings times sqrt(dim), five sliding-window layers then one
 * global (period 6), RoPE base 10000 on the local layers. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "base/error.h"
#include "model/model_internal.h"

static afm_status get_u32(const afm_gguf *g, const char *arch, const char *suffix, bool required,
                          uint32_t def, int32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    if (afm_gguf_get_u32(g, key, &v)) {
        if (v > 0x7fffffff) return afm_error(AFM_ERR_FORMAT, "GGUF key %s = %u is out of range", key, v);
        *out = (int32_t)v;
        return AFM_OK;
    }
    if (afm_gguf_find_key(g, key) >= 0)
        return afm_error(AFM_ERR_FORMAT, "GGUF key %s has type %s, expected an unsigned integer", key,
                         afm_gguf_type_name(afm_gguf_kv_type(g, afm_gguf_find_key(g, key))));
    if (required) return afm_error(AFM_ERR_FORMAT, "GGUF key %s is missing (required for architecture %s)", key, arch);
    *out = (int32_t)def;
    return AFM_OK;
}

static afm_status get_f32(const afm_gguf *g, const char *arch, const char *suffix, bool required, float def, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (afm_gguf_get_f32(g, key, out)) return AFM_OK;
    if (afm_gguf_find_key(g, key) >= 0) return afm_error(AFM_ERR_FORMAT, "GGUF key %s is not a float", key);
    if (required) return afm_error(AFM_ERR_FORMAT, "GGUF key %s is missing (required for architecture %s)", key, arch);
    *out = def;
    return AFM_OK;
}

static bool str_eq(const char *s, size_t n, const char *lit) { return n == strlen(lit) && !memcmp(s, lit, n); }

/* Gemma 3 (see the top of this file). Linear RoPE scaling (the larger Gemma 3 models) applies to
 * the global layers only. */
static afm_status gemma3_switches(const afm_gguf *g, afm_config *c) {
    c->rope_layout = AFM_ROPE_HALF;
    c->qk_norm = AFM_QK_NORM_BEFORE_ROPE;
    c->ffn_act = AFM_FFN_GELU_TANH;
    c->post_norms = true;
    c->embed_scale = sqrtf((float)c->dim);
    AFM_TRY(get_u32(g, "gemma3", "attention.sliding_window", true, 0, &c->sliding_window));
    if (c->sliding_window <= 0) return afm_error(AFM_ERR_FORMAT, "GGUF key gemma3.attention.sliding_window must be positive");
    c->swa_period = 6;
    c->rope_theta_local = 10000.0f;
    const char *s;
    size_t n;
    if (afm_gguf_find_key(g, "gemma3.rope.scaling.type") >= 0) {
        if (!afm_gguf_get_str(g, "gemma3.rope.scaling.type", &s, &n))
            return afm_error(AFM_ERR_FORMAT, "GGUF key gemma3.rope.scaling.type is not a string");
        if (str_eq(s, n, "linear")) {
            float factor;
            AFM_TRY(get_f32(g, "gemma3", "rope.scaling.factor", true, 0, &factor));
            if (!(factor >= 1 && factor <= 1e6f))
                return afm_error(AFM_ERR_FORMAT, "GGUF key gemma3.rope.scaling.factor %g must be in [1, 1e6]", (double)factor);
            c->rope_freq_scale = 1.0f / factor;
        } else if (!str_eq(s, n, "none")) {
            return afm_error(AFM_ERR_UNSUPPORTED, "gemma3.rope.scaling.type '%.*s' is not supported (none, linear)",
                             (int)(n > 32 ? 32 : n), s);
        }
    }
    return AFM_OK;
}

afm_status afm_config_from_gguf(const afm_gguf *g, afm_config *c) {
    memset(c, 0, sizeof *c);
    const char *arch;
    size_t alen;
    if (!afm_gguf_get_str(g, "general.architecture", &arch, &alen))
        return afm_error(AFM_ERR_FORMAT, "GGUF key general.architecture is missing or not a string");
    if (!str_eq(arch, alen, "afm") && !str_eq(arch, alen, "llama") && !str_eq(arch, alen, "qwen3") && !str_eq(arch, alen, "gemma3"))
        return afm_error(AFM_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (afm, llama, qwen3 and gemma3 are)",
                         (int)(alen > 64 ? 64 : alen), arch);
    memcpy(c->arch, arch, alen);
    c->arch[alen] = 0;
    const char *a = c->arch;
    /* docs/gguf-afm.md: every afm.* key is required (no silent defaults for our own format);
     * llama/qwen3 keep llama.cpp's defaults for the optional ones. */
    const bool own = !strcmp(a, "afm");
    AFM_TRY(get_u32(g, a, "embedding_length", true, 0, &c->dim));
    AFM_TRY(get_u32(g, a, "block_count", true, 0, &c->n_layers));
    AFM_TRY(get_u32(g, a, "feed_forward_length", true, 0, &c->ffn_dim));
    AFM_TRY(get_u32(g, a, "attention.head_count", true, 0, &c->n_heads));
    AFM_TRY(get_u32(g, a, "attention.head_count_kv", own, (uint32_t)c->n_heads, &c->n_kv_heads));
    AFM_TRY(get_u32(g, a, "context_length", true, 0, &c->max_seq_len));
    if (c->n_heads <= 0) return afm_error(AFM_ERR_FORMAT, "GGUF key %s.attention.head_count must be positive", a);
    AFM_TRY(get_u32(g, a, "attention.key_length", own, (uint32_t)(c->dim / c->n_heads), &c->head_dim));
    int32_t vlen;
    AFM_TRY(get_u32(g, a, "attention.value_length", own, (uint32_t)c->head_dim, &vlen));
    if (vlen != c->head_dim)
        return afm_error(AFM_ERR_UNSUPPORTED, "%s.attention.value_length %d differs from key_length %d", a, vlen, c->head_dim);
    AFM_TRY(get_f32(g, a, "attention.layer_norm_rms_epsilon", true, 0, &c->norm_eps));
    AFM_TRY(get_f32(g, a, "rope.freq_base", own, 10000.0f, &c->rope_theta));
    int32_t rope_dim;
    AFM_TRY(get_u32(g, a, "rope.dimension_count", false, (uint32_t)c->head_dim, &rope_dim));
    if (rope_dim != c->head_dim)
        return afm_error(AFM_ERR_UNSUPPORTED, "%s.rope.dimension_count %d != head_dim %d: partial RoPE is not supported", a, rope_dim, c->head_dim);
    if (!strcmp(a, "llama")) {
        c->rope_layout = AFM_ROPE_INTERLEAVED;
        c->qk_norm = AFM_QK_NORM_OFF;
    } else if (!strcmp(a, "qwen3")) {
        c->rope_layout = AFM_ROPE_HALF;
        c->qk_norm = AFM_QK_NORM_BEFORE_ROPE;
    } else if (!strcmp(a, "gemma3")) {
        AFM_TRY(gemma3_switches(g, c));
    } else {
        const char *s;
        size_t n;
        if (afm_gguf_find_key(g, "afm.rope.layout") < 0 || !afm_gguf_get_str(g, "afm.rope.layout", &s, &n))
            return afm_error(AFM_ERR_FORMAT, "GGUF key afm.rope.layout is missing or not a string (required for architecture afm)");
        if (str_eq(s, n, "interleaved")) c->rope_layout = AFM_ROPE_INTERLEAVED;
        else if (str_eq(s, n, "half")) c->rope_layout = AFM_ROPE_HALF;
        else return afm_error(AFM_ERR_FORMAT, "afm.rope.layout is '%.*s', expected 'interleaved' or 'half'", (int)(n > 32 ? 32 : n), s);
        if (afm_gguf_find_key(g, "afm.attention.qk_norm") < 0 || !afm_gguf_get_str(g, "afm.attention.qk_norm", &s, &n))
            return afm_error(AFM_ERR_FORMAT, "GGUF key afm.attention.qk_norm is missing or not a string (required for architecture afm)");
        if (str_eq(s, n, "off")) c->qk_norm = AFM_QK_NORM_OFF;
        else if (str_eq(s, n, "before_rope")) c->qk_norm = AFM_QK_NORM_BEFORE_ROPE;
        else if (str_eq(s, n, "after_rope")) c->qk_norm = AFM_QK_NORM_AFTER_ROPE;
        else return afm_error(AFM_ERR_FORMAT, "afm.attention.qk_norm is '%.*s', expected off, before_rope or after_rope", (int)(n > 32 ? 32 : n), s);
    }
    const afm_gguf_tensor *emb = afm_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return afm_error(AFM_ERR_FORMAT, "tensor token_embd.weight is missing");
    if (emb->n_dims != 2) return afm_error(AFM_ERR_FORMAT, "tensor token_embd.weight has %u dims, expected 2", emb->n_dims);
    if (emb->ne[1] > (1 << 24)) return afm_error(AFM_ERR_FORMAT, "token_embd.weight: vocabulary %lld is too large", (long long)emb->ne[1]);
    c->n_vocab = (int32_t)emb->ne[1];
    int32_t vocab;
    AFM_TRY(get_u32(g, a, "vocab_size", own, (uint32_t)c->n_vocab, &vocab));
    if (vocab != c->n_vocab)
        return afm_error(AFM_ERR_FORMAT, "GGUF key %s.vocab_size = %d but token_embd.weight has %d rows", a, vocab, c->n_vocab);
    c->tied_output = afm_gguf_find_tensor(g, "output.weight") == NULL;
    return afm_config_validate(c);
}

afm_status afm_config_to_gguf(const afm_config *c, afm_gguf_writer *w) {
    AFM_TRY(afm_config_validate(c));
    const char *a = c->arch;
    if (strcmp(a, "afm") && strcmp(a, "llama") && strcmp(a, "qwen3"))
        return afm_error(AFM_ERR_UNSUPPORTED, "architecture '%s' cannot be written (afm, llama, qwen3)", a);
    if (!strcmp(a, "llama") && (c->rope_layout != AFM_ROPE_INTERLEAVED || c->qk_norm != AFM_QK_NORM_OFF))
        return afm_error(AFM_ERR_INVALID_ARG, "architecture llama needs interleaved RoPE and no QK-norm; use arch afm for this shape");
    if (!strcmp(a, "qwen3") && (c->rope_layout != AFM_ROPE_HALF || c->qk_norm != AFM_QK_NORM_BEFORE_ROPE))
        return afm_error(AFM_ERR_INVALID_ARG, "architecture qwen3 needs half-split RoPE and QK-norm before RoPE; use arch afm for this shape");
    char key[128];
#define U32(suffix, v) do { snprintf(key, sizeof key, "%s." suffix, a); AFM_TRY(afm_gguf_set_u32(w, key, (uint32_t)(v))); } while (0)
#define F32(suffix, v) do { snprintf(key, sizeof key, "%s." suffix, a); AFM_TRY(afm_gguf_set_f32(w, key, (v))); } while (0)
    AFM_TRY(afm_gguf_set_str(w, "general.architecture", a));
    U32("context_length", c->max_seq_len);
    U32("embedding_length", c->dim);
    U32("block_count", c->n_layers);
    U32("feed_forward_length", c->ffn_dim);
    U32("attention.head_count", c->n_heads);
    U32("attention.head_count_kv", c->n_kv_heads);
    U32("attention.key_length", c->head_dim);
    U32("attention.value_length", c->head_dim);
    U32("rope.dimension_count", c->head_dim);
    U32("vocab_size", c->n_vocab);
    F32("attention.layer_norm_rms_epsilon", c->norm_eps);
    F32("rope.freq_base", c->rope_theta);
#undef U32
#undef F32
    if (!strcmp(a, "afm")) {
        AFM_TRY(afm_gguf_set_str(w, "afm.rope.layout", c->rope_layout == AFM_ROPE_HALF ? "half" : "interleaved"));
        static const char *qk[] = {"off", "before_rope", "after_rope"};
        AFM_TRY(afm_gguf_set_str(w, "afm.attention.qk_norm", qk[c->qk_norm]));
    }
    return AFM_OK;
}
