#include "model/init.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "model/model_internal.h"
#include "tensor/quant.h"

afm_status afm_shape_load(const char *path, afm_config *c) {
    char *text;
    size_t n;
    AFM_TRY(afm_read_file(path, &text, &n));
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return afm_error(AFM_ERR_FORMAT, "%s: not a JSON object", path);
    }
    memset(c, 0, sizeof *c);
    strcpy(c->arch, "afm");
    c->rope_theta = 500000.0f;
    c->norm_eps = 1e-5f;
    c->tied_output = true;
    c->rope_layout = AFM_ROPE_INTERLEAVED;
    c->qk_norm = AFM_QK_NORM_AFTER_ROPE;
    c->max_seq_len = 4096;
    bool has_layout = false, has_qk = false;
    afm_status s = AFM_OK;
    for (cJSON *it = j->child; it && s == AFM_OK; it = it->next) {
        const char *k = it->string;
        int32_t *ip = !strcmp(k, "n_vocab") ? &c->n_vocab : !strcmp(k, "dim") ? &c->dim : !strcmp(k, "n_layers") ? &c->n_layers
                    : !strcmp(k, "n_heads") ? &c->n_heads : !strcmp(k, "n_kv_heads") ? &c->n_kv_heads
                    : !strcmp(k, "head_dim") ? &c->head_dim : !strcmp(k, "ffn_dim") ? &c->ffn_dim
                    : !strcmp(k, "max_seq_len") ? &c->max_seq_len : NULL;
        if (ip) {
            if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 1 || it->valuedouble > 1e9)
                s = afm_error(AFM_ERR_FORMAT, "%s: \"%s\" must be a positive integer", path, k);
            else *ip = (int32_t)it->valuedouble;
        } else if (!strcmp(k, "rope_theta") || !strcmp(k, "norm_eps")) {
            if (!cJSON_IsNumber(it)) s = afm_error(AFM_ERR_FORMAT, "%s: \"%s\" must be a number", path, k);
            else *(!strcmp(k, "rope_theta") ? &c->rope_theta : &c->norm_eps) = (float)it->valuedouble;
        } else if (!strcmp(k, "tied_output")) {
            if (!cJSON_IsBool(it)) s = afm_error(AFM_ERR_FORMAT, "%s: \"tied_output\" must be true or false", path);
            else c->tied_output = cJSON_IsTrue(it);
        } else if (!strcmp(k, "arch")) {
            if (!cJSON_IsString(it) || (strcmp(it->valuestring, "afm") && strcmp(it->valuestring, "llama") && strcmp(it->valuestring, "qwen3")))
                s = afm_error(AFM_ERR_FORMAT, "%s: \"arch\" must be \"afm\", \"llama\" or \"qwen3\"", path);
            else strcpy(c->arch, it->valuestring);
        } else if (!strcmp(k, "rope_layout")) {
            has_layout = true;
            if (cJSON_IsString(it) && !strcmp(it->valuestring, "interleaved")) c->rope_layout = AFM_ROPE_INTERLEAVED;
            else if (cJSON_IsString(it) && !strcmp(it->valuestring, "half")) c->rope_layout = AFM_ROPE_HALF;
            else s = afm_error(AFM_ERR_FORMAT, "%s: \"rope_layout\" must be \"interleaved\" or \"half\"", path);
        } else if (!strcmp(k, "qk_norm")) {
            has_qk = true;
            const char *v = cJSON_IsString(it) ? it->valuestring : "";
            if (!strcmp(v, "off")) c->qk_norm = AFM_QK_NORM_OFF;
            else if (!strcmp(v, "before_rope")) c->qk_norm = AFM_QK_NORM_BEFORE_ROPE;
            else if (!strcmp(v, "after_rope")) c->qk_norm = AFM_QK_NORM_AFTER_ROPE;
            else s = afm_error(AFM_ERR_FORMAT, "%s: \"qk_norm\" must be \"off\", \"before_rope\" or \"after_rope\"", path);
        } else if (!strcmp(k, "name") || !strcmp(k, "comment")) {
            /* documentation only */
        } else s = afm_error(AFM_ERR_FORMAT, "%s: unknown key \"%s\"", path, k);
    }
    cJSON_Delete(j);
    AFM_TRY(s);
    if (!strcmp(c->arch, "llama")) {
        if (!has_layout) c->rope_layout = AFM_ROPE_INTERLEAVED;
        if (!has_qk) c->qk_norm = AFM_QK_NORM_OFF;
    } else if (!strcmp(c->arch, "qwen3")) {
        if (!has_layout) c->rope_layout = AFM_ROPE_HALF;
        if (!has_qk) c->qk_norm = AFM_QK_NORM_BEFORE_ROPE;
    }
    if (c->n_heads > 0 && c->head_dim == 0) c->head_dim = c->dim / c->n_heads;
    if (c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
    s = afm_config_validate(c);
    return s == AFM_OK ? s : afm_error_prefix(s, "%s", path);
}

/* ---- random weights, generated in parallel: row r of tensor t uses its own RNG stream seeded
 * from (seed, t, r), so the bytes do not depend on the thread count ---- */
typedef struct {
    uint8_t *dst;
    int64_t rows, cols;
    float std;
    int type;
    uint64_t seed;
    afm_status status;
} fill_job;

static void fill_worker(void *ctx, int ith, int nth) {
    fill_job *j = ctx;
    float *row = malloc((size_t)j->cols * sizeof(float));
    if (!row) { j->status = AFM_ERR_NOMEM; return; }
    size_t rb = afm_dtype_row_size((afm_dtype)j->type, j->cols);
    long lo, hi;
    afm_split_range((long)j->rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        afm_rng rng;
        afm_rng_seed(&rng, j->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)r);
        for (int64_t c = 0; c < j->cols; c++) row[c] = j->std * afm_rng_normal(&rng);
        if (afm_quantize_row((afm_dtype)j->type, row, j->dst + (size_t)r * rb, j->cols) != AFM_OK) j->status = AFM_ERR_INTERNAL;
    }
    free(row);
}

typedef struct { void **p; int n, cap; } bufs;
static void *bufs_alloc(bufs *b, size_t n) {
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        void **nb = realloc(b->p, (size_t)cap * sizeof(void *));
        if (!nb) return NULL;
        b->p = nb;
        b->cap = cap;
    }
    void *q = afm_alloc(n);
    if (q) b->p[b->n++] = q;
    return q;
}

static afm_status add_random(afm_gguf_writer *w, bufs *b, afm_pool *pool, const char *name, int64_t rows, int64_t cols,
                             float std, int type, uint64_t seed) {
    if (afm_dtype_row_size((afm_dtype)type, cols) == 0) type = AFM_F16; /* row not a multiple of the block */
    size_t bytes = afm_dtype_row_size((afm_dtype)type, cols) * (size_t)rows;
    uint8_t *dst = bufs_alloc(b, bytes);
    if (!dst) return afm_error(AFM_ERR_NOMEM, "out of memory for tensor %s (%zu bytes)", name, bytes);
    fill_job j = {dst, rows, cols, std, type, seed, AFM_OK};
    afm_pool_run(pool, fill_worker, &j);
    if (j.status != AFM_OK) return afm_error(j.status, "could not initialize tensor %s", name);
    int64_t ne[2] = {cols, rows};
    return afm_gguf_add_tensor(w, name, (uint32_t)type, 2, ne, dst, bytes, false);
}

static afm_status add_ones(afm_gguf_writer *w, bufs *b, const char *name, int64_t n) {
    float *v = bufs_alloc(b, (size_t)n * sizeof(float));
    if (!v) return afm_error(AFM_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) v[i] = 1.0f;
    int64_t ne[1] = {n};
    return afm_gguf_add_tensor(w, name, AFM_F32, 1, ne, v, (size_t)n * sizeof(float), false);
}

/* GPT-2 byte-to-unicode: printable bytes map to themselves, the rest to U+0100.. in order. */
static int byte_to_unicode(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256 + n;
}

static afm_status placeholder_tokenizer(afm_gguf_writer *w, int32_t n_vocab) {
    if (n_vocab < 257) return afm_error(AFM_ERR_INVALID_ARG, "a placeholder byte-level vocabulary needs n_vocab >= 257, got %d", n_vocab);
    char **strs = calloc((size_t)n_vocab, sizeof(char *));
    int32_t *types = malloc((size_t)n_vocab * sizeof(int32_t));
    afm_status s = (!strs || !types) ? afm_error(AFM_ERR_NOMEM, "out of memory") : AFM_OK;
    for (int32_t i = 0; i < n_vocab && s == AFM_OK; i++) {
        strs[i] = malloc(32);
        if (!strs[i]) { s = afm_error(AFM_ERR_NOMEM, "out of memory"); break; }
        if (i < 256) {
            int u = byte_to_unicode(i);
            if (u < 0x80) { strs[i][0] = (char)u; strs[i][1] = 0; }
            else { strs[i][0] = (char)(0xC0 | (u >> 6)); strs[i][1] = (char)(0x80 | (u & 0x3F)); strs[i][2] = 0; }
            types[i] = AFM_TOKTYPE_NORMAL;
        } else if (i == 256) {
            strcpy(strs[i], "<|endoftext|>");
            types[i] = AFM_TOKTYPE_CONTROL;
        } else {
            snprintf(strs[i], 32, "<|extra_%d|>", i - 257);
            types[i] = AFM_TOKTYPE_CONTROL;
        }
    }
    if (s == AFM_OK) s = afm_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (s == AFM_OK) s = afm_gguf_set_str(w, "tokenizer.ggml.pre", "default");
    if (s == AFM_OK) s = afm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, NULL, (uint64_t)n_vocab);
    if (s == AFM_OK) s = afm_gguf_set_arr(w, "tokenizer.ggml.token_type", AFM_GGUF_INT32, types, (uint64_t)n_vocab);
    if (s == AFM_OK) s = afm_gguf_set_arr_str(w, "tokenizer.ggml.merges", NULL, NULL, 0);
    if (s == AFM_OK) s = afm_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 256);
    if (s == AFM_OK) s = afm_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 256);
    if (s == AFM_OK) s = afm_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    for (int32_t i = 0; strs && i < n_vocab; i++) free(strs[i]);
    free(strs);
    free(types);
    return s;
}

afm_status afm_init_model(const afm_config *c, int type, uint64_t seed, const char *tokenizer_path, const char *out_path) {
    AFM_TRY(afm_config_validate(c));
    if (type < 0) type = AFM_F32;
    afm_gguf_writer *w = NULL;
    afm_pool *pool = NULL;
    afm_tokenizer *tok = NULL;
    bufs b = {0};
    afm_status s = afm_gguf_writer_create(&w);
    if (s == AFM_OK) s = afm_pool_create(0, &pool);
    if (s == AFM_OK) s = afm_config_to_gguf(c, w);
    if (s == AFM_OK) s = afm_gguf_set_str(w, "general.name", "afm random init");
    if (s == AFM_OK && tokenizer_path) {
        s = afm_tokenizer_load(tokenizer_path, NULL, &tok);
        if (s == AFM_OK && afm_tokenizer_n_vocab(tok) > c->n_vocab)
            s = afm_error(AFM_ERR_INVALID_ARG, "tokenizer %s has %d tokens, more than the shape's n_vocab %d", tokenizer_path,
                          afm_tokenizer_n_vocab(tok), c->n_vocab);
        if (s == AFM_OK) s = afm_tokenizer_to_gguf(tok, w);
    } else if (s == AFM_OK) s = placeholder_tokenizer(w, c->n_vocab);
    int64_t d = c->dim, q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim, f = c->ffn_dim;
    uint64_t ts = seed * 1000003ULL;
    float sd = 1.0f / sqrtf((float)d), sq = 1.0f / sqrtf((float)q), sf = 1.0f / sqrtf((float)f);
    if (s == AFM_OK) s = add_random(w, &b, pool, "token_embd.weight", c->n_vocab, d, sd, type, ts++);
    if (s == AFM_OK) s = add_ones(w, &b, "output_norm.weight", d);
    if (s == AFM_OK && !c->tied_output) s = add_random(w, &b, pool, "output.weight", c->n_vocab, d, sd, type, ts++);
    char name[64];
    for (int l = 0; l < c->n_layers && s == AFM_OK; l++) {
#define NAME(x) (snprintf(name, sizeof name, "blk.%d." x, l), name)
        s = add_ones(w, &b, NAME("attn_norm.weight"), d);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("attn_q.weight"), q, d, sd, type, ts++);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("attn_k.weight"), kv, d, sd, type, ts++);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("attn_v.weight"), kv, d, sd, type, ts++);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("attn_output.weight"), d, q, sq, type, ts++);
        if (s == AFM_OK && c->qk_norm != AFM_QK_NORM_OFF) s = add_ones(w, &b, NAME("attn_q_norm.weight"), c->head_dim);
        if (s == AFM_OK && c->qk_norm != AFM_QK_NORM_OFF) s = add_ones(w, &b, NAME("attn_k_norm.weight"), c->head_dim);
        if (s == AFM_OK) s = add_ones(w, &b, NAME("ffn_norm.weight"), d);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("ffn_gate.weight"), f, d, sd, type, ts++);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("ffn_up.weight"), f, d, sd, type, ts++);
        if (s == AFM_OK) s = add_random(w, &b, pool, NAME("ffn_down.weight"), d, f, sf, type, ts++);
#undef NAME
    }
    if (s == AFM_OK && type != AFM_F32 && type != AFM_F16 && type != AFM_BF16)
        s = afm_gguf_set_u32(w, "general.quantization_version", 2);
    if (s == AFM_OK) s = afm_gguf_write(w, out_path);
    for (int i = 0; i < b.n; i++) afm_free(b.p[i]);
    free(b.p);
    afm_tokenizer_free(tok);
    afm_pool_free(pool);
    afm_gguf_writer_free(w);
    return s;
}
