/* Hugging Face checkpoints: config.json -> afm_config, HF -> GGUF tensor names, and llama.cpp's
 * q/k row permutation between rotate-half (HF) and interleaved-pair (GGUF llama) layouts. */
#include "formats/safetensors.h"
#include "base/error.h"
#include "base/file.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* Positive integer field that fits int32; absent: *out = dflt (dflt < 0: required). */
static afm_status get_int(const cJSON *o, const char *key, int32_t dflt, int32_t *out) {
    const cJSON *v = item(o, key);
    if (!v) {
        if (dflt < 0) return afm_error(AFM_ERR_FORMAT, "config.json: missing \"%s\"", key);
        *out = dflt;
        return AFM_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 || v->valuedouble > INT32_MAX)
        return afm_error(AFM_ERR_FORMAT, "config.json: \"%s\" must be a positive integer", key);
    *out = (int32_t)v->valuedouble;
    return AFM_OK;
}

static afm_status get_float(const cJSON *o, const char *key, float dflt, float *out) {
    const cJSON *v = item(o, key);
    if (!v) {
        *out = dflt;
        return AFM_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
        return afm_error(AFM_ERR_FORMAT, "config.json: \"%s\" must be a positive number", key);
    *out = (float)v->valuedouble;
    return AFM_OK;
}

static bool is_true(const cJSON *o, const char *key) { return cJSON_IsTrue(item(o, key)); }

static int32_t token_id(const cJSON *v) {
    if (cJSON_IsArray(v)) v = v->child;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= INT32_MAX) return (int32_t)v->valuedouble;
    return -1;
}

static afm_status parse_root(const cJSON *c, afm_config *out, afm_hf_extra *extra) {
    if (!cJSON_IsObject(c)) return afm_error(AFM_ERR_FORMAT, "config.json: not a JSON object");
    memset(out, 0, sizeof *out);
    const cJSON *mt = item(c, "model_type"), *archs = item(c, "architectures");
    const char *type = cJSON_IsString(mt) ? mt->valuestring : NULL;
    const char *arch0 = cJSON_IsArray(archs) && cJSON_IsString(archs->child) ? archs->child->valuestring : NULL;
    if (!type && arch0) type = strcmp(arch0, "LlamaForCausalLM") == 0 ? "llama" : strcmp(arch0, "Qwen3ForCausalLM") == 0 ? "qwen3" : arch0;
    if (!type) return afm_error(AFM_ERR_FORMAT, "config.json: no \"model_type\" or \"architectures\"");
    bool qwen3 = strcmp(type, "qwen3") == 0;
    if (!qwen3 && strcmp(type, "llama") != 0)
        return afm_error(AFM_ERR_UNSUPPORTED, "config.json: model_type \"%.40s\" is not supported (llama, qwen3)", type);
    snprintf(out->arch, sizeof out->arch, "%s", qwen3 ? "qwen3" : "llama");

    /* Settings outside what afm_config can express. */
    const cJSON *act = item(c, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return afm_error(AFM_ERR_UNSUPPORTED, "config.json: hidden_act must be \"silu\" (SwiGLU)");
    if (is_true(c, "attention_bias") || is_true(c, "mlp_bias"))
        return afm_error(AFM_ERR_UNSUPPORTED, "config.json: attention or MLP biases are not supported");
    if (is_true(c, "use_sliding_window"))
        return afm_error(AFM_ERR_UNSUPPORTED, "config.json: sliding-window attention is not supported");
    if (item(c, "rope_scaling"))
        return afm_error(AFM_ERR_UNSUPPORTED, "config.json: rope_scaling is not supported (only plain RoPE)");
    /* Newer transformers keep theta in "rope_parameters": {"rope_type": "default", "rope_theta": ...}. */
    const cJSON *rp = item(c, "rope_parameters"), *theta_src = c;
    if (cJSON_IsObject(rp)) {
        const cJSON *rt = item(rp, "rope_type");
        if (rt && (!cJSON_IsString(rt) || strcmp(rt->valuestring, "default") != 0))
            return afm_error(AFM_ERR_UNSUPPORTED, "config.json: rope_parameters.rope_type must be \"default\"");
        if (item(rp, "rope_theta")) theta_src = rp;
    }

    AFM_TRY(get_int(c, "hidden_size", -1, &out->dim));
    AFM_TRY(get_int(c, "num_hidden_layers", -1, &out->n_layers));
    AFM_TRY(get_int(c, "num_attention_heads", -1, &out->n_heads));
    AFM_TRY(get_int(c, "intermediate_size", -1, &out->ffn_dim));
    AFM_TRY(get_int(c, "vocab_size", -1, &out->n_vocab));
    AFM_TRY(get_int(c, "num_key_value_heads", out->n_heads, &out->n_kv_heads));
    if (out->dim % out->n_heads != 0 && !item(c, "head_dim"))
        return afm_error(AFM_ERR_FORMAT, "config.json: hidden_size %d is not a multiple of num_attention_heads %d and no head_dim is given",
                         out->dim, out->n_heads);
    AFM_TRY(get_int(c, "head_dim", out->dim / out->n_heads, &out->head_dim));
    AFM_TRY(get_int(c, "max_position_embeddings", qwen3 ? 32768 : 2048, &out->max_seq_len));
    AFM_TRY(get_float(theta_src, "rope_theta", 10000.0f, &out->rope_theta));
    AFM_TRY(get_float(c, "rms_norm_eps", 1e-6f, &out->norm_eps));
    if (out->n_heads % out->n_kv_heads != 0)
        return afm_error(AFM_ERR_FORMAT, "config.json: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                         out->n_heads, out->n_kv_heads);
    if (out->head_dim % 2 != 0)
        return afm_error(AFM_ERR_FORMAT, "config.json: head_dim %d must be even for RoPE", out->head_dim);
    out->tied_output = is_true(c, "tie_word_embeddings");
    out->rope_layout = AFM_ROPE_HALF;
    out->qk_norm = qwen3 ? AFM_QK_NORM_BEFORE_ROPE : AFM_QK_NORM_OFF;
    if (extra) {
        memset(extra, 0, sizeof *extra);
        extra->bos_token_id = token_id(item(c, "bos_token_id"));
        extra->eos_token_id = token_id(item(c, "eos_token_id"));
        const cJSON *dt = item(c, "torch_dtype");
        if (!dt) dt = item(c, "dtype");
        if (cJSON_IsString(dt)) snprintf(extra->torch_dtype, sizeof extra->torch_dtype, "%s", dt->valuestring);
    }
    return AFM_OK;
}

afm_status afm_hf_config_parse(const char *json, size_t len, afm_config *out, afm_hf_extra *extra) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return afm_error(AFM_ERR_FORMAT, "config.json: not valid JSON");
    afm_status s = parse_root(root, out, extra);
    cJSON_Delete(root);
    return s;
}

afm_status afm_hf_config_load(const char *path, afm_config *out, afm_hf_extra *extra) {
    char *file = NULL, *text = NULL;
    size_t len;
    if (afm_is_dir(path)) {
        size_t n = strlen(path) + 16;
        if (!(file = malloc(n))) return afm_error(AFM_ERR_NOMEM, "out of memory");
        snprintf(file, n, "%s/config.json", path);
    }
    const char *p = file ? file : path;
    afm_status s = afm_read_file(p, &text, &len);
    if (s == AFM_OK) {
        s = afm_hf_config_parse(text, len, out, extra);
        if (s != AFM_OK) afm_error_prefix(s, "%s", p);
    }
    free(text);
    free(file);
    return s;
}

/* ---- tensor names ---- */

static const struct { const char *hf, *gguf; } g_layer_names[] = {
    {"input_layernorm", "attn_norm"},       {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},         {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
    {"self_attn.q_norm", "attn_q_norm"},    {"self_attn.k_norm", "attn_k_norm"},
    {"mlp.gate_proj", "ffn_gate"},          {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
};
static const struct { const char *hf, *gguf; } g_global_names[] = {
    {"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"},
};

static afm_status put_name(char *out, size_t out_size, const char *hf, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static afm_status put_name(char *out, size_t out_size, const char *hf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, out_size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= out_size)
        return afm_error(AFM_ERR_RANGE, "tensor '%s': GGUF name needs %d bytes, buffer has %zu", hf, n + 1, out_size);
    return AFM_OK;
}

afm_status afm_hf_to_gguf_name(const char *hf, char *out, size_t out_size) {
    if (out_size) out[0] = 0;
    const char *suffix = strrchr(hf, '.');
    if (!suffix || (strcmp(suffix, ".weight") != 0 && strcmp(suffix, ".bias") != 0))
        return afm_error(AFM_ERR_UNSUPPORTED, "tensor '%s': no GGUF name (expected a .weight or .bias)", hf);
    size_t stem = (size_t)(suffix - hf);
    for (size_t i = 0; i < sizeof g_global_names / sizeof g_global_names[0]; i++)
        if (strlen(g_global_names[i].hf) == stem && strncmp(hf, g_global_names[i].hf, stem) == 0)
            return put_name(out, out_size, hf, "%s%s", g_global_names[i].gguf, suffix);
    static const char prefix[] = "model.layers.";
    if (strncmp(hf, prefix, sizeof prefix - 1) == 0) {
        const char *p = hf + sizeof prefix - 1, *digits = p;
        long layer = 0;
        while (*p >= '0' && *p <= '9' && p - digits < 9) layer = layer * 10 + (*p++ - '0');
        if (p > digits && *p == '.' && (p - digits == 1 || digits[0] != '0')) {
            p++;
            size_t rest = (size_t)(suffix - p);
            for (size_t i = 0; i < sizeof g_layer_names / sizeof g_layer_names[0]; i++)
                if (strlen(g_layer_names[i].hf) == rest && strncmp(p, g_layer_names[i].hf, rest) == 0)
                    return put_name(out, out_size, hf, "blk.%ld.%s%s", layer, g_layer_names[i].gguf, suffix);
        }
    }
    return afm_error(AFM_ERR_UNSUPPORTED, "tensor '%s' has no GGUF counterpart in the llama/qwen3 layout", hf);
}

/* ---- q/k permutation ---- */

static afm_status permute(void *dst, const void *src, int64_t rows, size_t row_bytes, int32_t n_heads, bool inverse) {
    if (n_heads <= 0 || rows <= 0 || rows % (2 * (int64_t)n_heads) != 0)
        return afm_error(AFM_ERR_INVALID_ARG, "q/k permutation: %lld rows cannot be split into %d heads of an even size",
                         (long long)rows, n_heads);
    if (!dst || !src || dst == src) return afm_error(AFM_ERR_INVALID_ARG, "q/k permutation: dst and src must be distinct buffers");
    int64_t hd = rows / n_heads, half = hd / 2;
    unsigned char *d = dst;
    const unsigned char *s = src;
    /* Interleaved row 2i + j of a head <- rotate-half row j * half + i (inverse: the reverse). */
    for (int64_t h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++) {
                int64_t inter = h * hd + 2 * i + j, rot = h * hd + j * half + i;
                int64_t to = inverse ? rot : inter, from = inverse ? inter : rot;
                memcpy(d + (size_t)to * row_bytes, s + (size_t)from * row_bytes, row_bytes);
            }
    return AFM_OK;
}

afm_status afm_hf_permute_qk(void *dst, const void *src, int64_t rows, size_t row_bytes, int32_t n_heads) {
    return permute(dst, src, rows, row_bytes, n_heads, false);
}

afm_status afm_hf_unpermute_qk(void *dst, const void *src, int64_t rows, size_t row_bytes, int32_t n_heads) {
    return permute(dst, src, rows, row_bytes, n_heads, true);
}
