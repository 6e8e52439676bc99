#include "model/convert.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include "formats/safetensors.h"
#include "model/model_internal.h"
#include "tensor/quant.h"

/* Buffers kept alive until the GGUF is written. */
typedef struct {
    void **bufs;
    int n, cap;
} keep_list;

static void *keep(keep_list *k, size_t bytes) {
    if (k->n == k->cap) {
        int cap = k->cap ? k->cap * 2 : 64;
        void **nb = realloc(k->bufs, (size_t)cap * sizeof(void *));
        if (!nb) return NULL;
        k->bufs = nb;
        k->cap = cap;
    }
    void *p = afm_alloc(bytes);
    if (p) k->bufs[k->n++] = p;
    return p;
}

static void keep_free(keep_list *k) {
    for (int i = 0; i < k->n; i++) afm_free(k->bufs[i]);
    free(k->bufs);
}

/* Adds a tensor given as f32 rows (rows, cols) in the requested type (1-D when rows == 0). */
static afm_status add_f32(afm_gguf_writer *w, keep_list *k, const char *name, const float *src, int64_t rows, int64_t cols,
                          int type, int *n_fallback) {
    if (rows == 0 || type < 0) type = AFM_F32;
    if (afm_dtype_row_size((afm_dtype)type, cols) == 0) {
        type = AFM_F16;
        if (n_fallback) (*n_fallback)++;
    }
    int64_t r = rows ? rows : 1;
    size_t row_bytes = afm_dtype_row_size((afm_dtype)type, cols), total;
    if (!afm_mul_ok(row_bytes, (size_t)r, &total)) return afm_error(AFM_ERR_RANGE, "tensor %s is too large", name);
    void *dst = keep(k, total);
    if (!dst) return afm_error(AFM_ERR_NOMEM, "out of memory converting %s", name);
    for (int64_t i = 0; i < r; i++)
        AFM_TRY(afm_quantize_row((afm_dtype)type, src + i * cols, (uint8_t *)dst + i * row_bytes, cols));
    int64_t ne[2] = {cols, rows};
    return afm_gguf_add_tensor(w, name, (uint32_t)type, rows ? 2 : 1, ne, dst, total, false);
}

/* ---- llama2.c legacy checkpoint: 7 int32 header, then f32 weights (see
 * ../shared/models/stories260K/README.md) ---- */
static afm_status from_llama2c(const afm_mmap *mm, const char *path, afm_gguf_writer *w, keep_list *k, int type,
                               afm_config *cfg, int *n_fallback) {
    if (mm->size < 28) return afm_error(AFM_ERR_FORMAT, "%s: too small for a llama2.c checkpoint header (28 bytes)", path);
    int32_t h[7];
    memcpy(h, mm->data, sizeof h);
    int32_t dim = h[0], hidden = h[1], L = h[2], H = h[3], KV = h[4], vocab = h[5], seq = h[6];
    bool shared = vocab > 0;
    if (vocab < 0) vocab = -vocab;
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->arch, "llama");
    cfg->n_vocab = vocab; cfg->dim = dim; cfg->n_layers = L; cfg->n_heads = H; cfg->n_kv_heads = KV;
    cfg->head_dim = H > 0 ? dim / H : 0; cfg->ffn_dim = hidden; cfg->max_seq_len = seq;
    cfg->rope_theta = 10000.0f; cfg->rope_layout = AFM_ROPE_INTERLEAVED; cfg->qk_norm = AFM_QK_NORM_OFF;
    cfg->norm_eps = 1e-5f; cfg->tied_output = shared;
    afm_status s = afm_config_validate(cfg);
    if (s != AFM_OK) return afm_error_prefix(s, "%s: llama2.c header (dim %d, hidden %d, layers %d, heads %d, kv %d, vocab %d, seq %d)",
                                             path, dim, hidden, L, H, KV, vocab, seq);
    if (dim % H) return afm_error(AFM_ERR_FORMAT, "%s: dim %d is not a multiple of n_heads %d", path, dim, H);
    int64_t hd = dim / H, kvd = (int64_t)KV * hd;
    /* expected number of floats */
    int64_t n = (int64_t)vocab * dim + (int64_t)L * (dim + dim * (int64_t)dim + 2 * kvd * dim + dim * (int64_t)dim + dim +
                 3 * (int64_t)hidden * dim) + dim + (int64_t)seq * hd /* two half tables */;
    if (!shared) n += (int64_t)vocab * dim;
    if ((mm->size - 28) / 4 < (size_t)n)
        return afm_error(AFM_ERR_FORMAT, "%s: truncated llama2.c checkpoint: %zu bytes of weights, expected %lld for this header",
                         path, mm->size - 28, (long long)n * 4);
    /* weights are unaligned in the file (28-byte header): copy to aligned memory */
    float *all = keep(k, (size_t)n * sizeof(float));
    if (!all) return afm_error(AFM_ERR_NOMEM, "out of memory reading %s", path);
    memcpy(all, mm->data + 28, (size_t)n * sizeof(float));
    float *p = all;
    const float *emb = p; p += (int64_t)vocab * dim;
    const float *rms_att = p; p += (int64_t)L * dim;
    const float *wq = p; p += (int64_t)L * dim * dim;
    const float *wk = p; p += (int64_t)L * kvd * dim;
    const float *wv = p; p += (int64_t)L * kvd * dim;
    const float *wo = p; p += (int64_t)L * dim * dim;
    const float *rms_ffn = p; p += (int64_t)L * dim;
    const float *w1 = p; p += (int64_t)L * hidden * dim;
    const float *w2 = p; p += (int64_t)L * dim * hidden;
    const float *w3 = p; p += (int64_t)L * hidden * dim;
    const float *rms_final = p; p += dim;
    p += (int64_t)seq * hd; /* legacy RoPE tables freq_cis_real/imag: unused */
    const float *wcls = shared ? emb : p;
    AFM_TRY(afm_config_to_gguf(cfg, w));
    AFM_TRY(add_f32(w, k, "token_embd.weight", emb, vocab, dim, type, n_fallback));
    AFM_TRY(add_f32(w, k, "output_norm.weight", rms_final, 0, dim, -1, NULL));
    if (!shared) AFM_TRY(add_f32(w, k, "output.weight", wcls, vocab, dim, type, n_fallback));
    char name[64];
    for (int l = 0; l < L; l++) {
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, l), name)
        AFM_TRY(add_f32(w, k, NAME("attn_norm.weight"), rms_att + (int64_t)l * dim, 0, dim, -1, NULL));
        AFM_TRY(add_f32(w, k, NAME("attn_q.weight"), wq + (int64_t)l * dim * dim, dim, dim, type, n_fallback));
        AFM_TRY(add_f32(w, k, NAME("attn_k.weight"), wk + (int64_t)l * kvd * dim, kvd, dim, type, n_fallback));
        AFM_TRY(add_f32(w, k, NAME("attn_v.weight"), wv + (int64_t)l * kvd * dim, kvd, dim, type, n_fallback));
        AFM_TRY(add_f32(w, k, NAME("attn_output.weight"), wo + (int64_t)l * dim * dim, dim, dim, type, n_fallback));
        AFM_TRY(add_f32(w, k, NAME("ffn_norm.weight"), rms_ffn + (int64_t)l * dim, 0, dim, -1, NULL));
        AFM_TRY(add_f32(w, k, NAME("ffn_gate.weight"), w1 + (int64_t)l * hidden * dim, hidden, dim, type, n_fallback));
        AFM_TRY(add_f32(w, k, NAME("ffn_down.weight"), w2 + (int64_t)l * dim * hidden, dim, hidden, type, n_fallback));
        AFM_TRY(add_f32(w, k, NAME("ffn_up.weight"), w3 + (int64_t)l * hidden * dim, hidden, dim, type, n_fallback));
#undef NAME
    }
    return AFM_OK;
}

/* ---- GGUF -> GGUF: copy metadata, re-type 2-D weights ---- */
static afm_status from_gguf(const char *path, afm_gguf_writer *w, keep_list *k, int type, afm_gguf **src_out,
                            int *n_fallback) {
    afm_gguf *g;
    AFM_TRY(afm_gguf_open(path, &g));
    *src_out = g;
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) {
        const char *key = afm_gguf_key(g, i);
        if (!strcmp(key, "general.alignment") || !strcmp(key, "general.file_type")) continue;
        AFM_TRY(afm_gguf_copy_kv(w, g, i));
    }
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        if (type < 0 || t->n_dims != 2 || (int)t->type == type) {
            AFM_TRY(afm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, false));
            continue;
        }
        int64_t rows = t->ne[1], cols = t->ne[0];
        float *f = afm_alloc((size_t)cols * sizeof(float) * (size_t)rows);
        if (!f) return afm_error(AFM_ERR_NOMEM, "out of memory converting %s", t->name);
        size_t src_row = afm_dtype_row_size((afm_dtype)t->type, cols);
        afm_status s = AFM_OK;
        for (int64_t r = 0; r < rows && s == AFM_OK; r++)
            s = afm_dequantize_row((afm_dtype)t->type, (const uint8_t *)t->data + r * src_row, f + r * cols, cols);
        if (s == AFM_OK) s = add_f32(w, k, t->name, f, rows, cols, type, n_fallback);
        afm_free(f);
        if (s != AFM_OK) return afm_error_prefix(s, "tensor %s", t->name);
    }
    return AFM_OK;
}

/* ---- HF safetensors folder: config.json + *.safetensors (f32/f16/bf16). Llama checkpoints store
 * q/k rows in rotate-half order; GGUF `llama` wants interleaved pairs, so those rows are permuted
 * (reference/gguf-llamacpp.md §2.3). Qwen3 keeps the HF order (GGUF qwen3 is half-split). ---- */
static afm_status from_safetensors(const char *dir, afm_gguf_writer *w, keep_list *k, int type, afm_config *cfg,
                                   int *n_fallback) {
    AFM_TRY(afm_hf_config_load(dir, cfg, NULL));
    bool permute = !strcmp(cfg->arch, "llama");
    if (permute) cfg->rope_layout = AFM_ROPE_INTERLEAVED;
    afm_safetensors *st;
    AFM_TRY(afm_safetensors_open(dir, &st));
    afm_status s = afm_config_to_gguf(cfg, w);
    bool has_output = false;
    for (int64_t i = 0; i < afm_safetensors_n_tensors(st) && s == AFM_OK; i++) {
        const afm_st_tensor *t = afm_safetensors_tensor_at(st, i);
        char name[96];
        if (strstr(t->name, "rotary_emb.inv_freq")) continue; /* derived from rope_theta */
        s = afm_hf_to_gguf_name(t->name, name, sizeof name);
        if (s != AFM_OK) break;
        if (!strcmp(name, "output.weight")) {
            if (cfg->tied_output) continue; /* some tied checkpoints still store lm_head */
            has_output = true;
        }
        if (t->n_dims != 1 && t->n_dims != 2) { s = afm_error(AFM_ERR_FORMAT, "tensor %s has %u dims, expected 1 or 2", t->name, t->n_dims); break; }
        int64_t rows = t->n_dims == 2 ? t->shape[0] : 0, cols = t->n_dims == 2 ? t->shape[1] : t->shape[0];
        size_t n = (size_t)(rows ? rows : 1) * (size_t)cols;
        float *f = afm_alloc(n * sizeof(float));
        if (!f) { s = afm_error(AFM_ERR_NOMEM, "out of memory converting %s", t->name); break; }
        s = afm_st_to_f32(t, f, n);
        bool is_q = strstr(name, "attn_q.weight") != NULL, is_k = strstr(name, "attn_k.weight") != NULL;
        if (s == AFM_OK && permute && (is_q || is_k)) {
            float *g = afm_alloc(n * sizeof(float));
            if (!g) s = afm_error(AFM_ERR_NOMEM, "out of memory");
            else {
                s = afm_hf_permute_qk(g, f, rows, (size_t)cols * sizeof(float), is_q ? cfg->n_heads : cfg->n_kv_heads);
                afm_free(f);
                f = g;
            }
        }
        if (s == AFM_OK) s = add_f32(w, k, name, f, rows, cols, rows ? type : -1, n_fallback);
        afm_free(f);
        if (s != AFM_OK) s = afm_error_prefix(s, "tensor %s", t->name);
    }
    if (s == AFM_OK && !cfg->tied_output && !has_output)
        s = afm_error(AFM_ERR_FORMAT, "%s: config says the output is not tied, but lm_head.weight is missing", dir);
    afm_safetensors_close(st);
    return s;
}

afm_status afm_convert(const char *input, const char *output, const afm_convert_options *opt, int *n_fallback) {
    int type = opt ? opt->out_type : -1;
    if (n_fallback) *n_fallback = 0;
    if (type >= 0 && type != AFM_F32 && type != AFM_F16 && type != AFM_BF16 && type != AFM_Q8_0 && type != AFM_Q4_0 &&
        type != AFM_Q4_1 && type != AFM_Q5_0 && type != AFM_Q5_1 && type != AFM_Q4_K && type != AFM_Q6_K)
        return afm_error(AFM_ERR_UNSUPPORTED, "cannot convert to type %s", afm_dtype_name((uint32_t)type));
    afm_gguf_writer *w;
    AFM_TRY(afm_gguf_writer_create(&w));
    keep_list k = {0};
    afm_gguf *src = NULL;
    afm_tokenizer *tok = NULL;
    afm_mmap mm = {0};
    afm_config cfg;
    afm_status s;
    if (afm_is_dir(input)) {
        s = from_safetensors(input, w, &k, type, &cfg, n_fallback);
        if (s == AFM_OK) {
            /* tokenizer: --tokenizer, else the folder's tokenizer.json */
            char tp[4096];
            const char *path = opt && opt->tokenizer_path ? opt->tokenizer_path : NULL;
            if (!path) {
                snprintf(tp, sizeof tp, "%s/tokenizer.json", input);
                if (afm_file_exists(tp)) path = tp;
            }
            if (path && (s = afm_tokenizer_load(path, NULL, &tok)) != AFM_OK) s = afm_error_prefix(s, "tokenizer");
        }
    } else if ((s = afm_mmap_open(input, &mm)) == AFM_OK) {
        bool is_gguf = mm.size >= 4 && !memcmp(mm.data, "GGUF", 4);
        if (is_gguf) {
            afm_mmap_close(&mm);
            s = from_gguf(input, w, &k, type, &src, n_fallback);
        } else {
            s = from_llama2c(&mm, input, w, &k, type, &cfg, n_fallback);
            if (s == AFM_OK && !(opt && opt->tokenizer_path))
                s = afm_error(AFM_ERR_INVALID_ARG, "%s is a llama2.c checkpoint: give its tokenizer with --tokenizer tokenizer.bin", input);
            if (s == AFM_OK) {
                size_t tl = strlen(opt->tokenizer_path);
                bool is_bin = tl > 4 && !strcmp(opt->tokenizer_path + tl - 4, ".bin");
                s = is_bin ? afm_tokenizer_load_llama2c(opt->tokenizer_path, cfg.n_vocab, &tok)
                           : afm_tokenizer_load(opt->tokenizer_path, NULL, &tok);
                if (s != AFM_OK) s = afm_error_prefix(s, "tokenizer");
            }
        }
    }
    if (s == AFM_OK && tok) s = afm_tokenizer_to_gguf(tok, w);
    if (s == AFM_OK && type >= 0) s = afm_gguf_set_u32(w, "general.quantization_version", 2);
    if (s == AFM_OK) s = afm_gguf_write(w, output);
    afm_tokenizer_free(tok);
    afm_gguf_writer_free(w);
    afm_gguf_close(src);
    afm_mmap_close(&mm);
    keep_free(&k);
    return s;
}
