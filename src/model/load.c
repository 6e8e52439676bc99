/* Loading a model from GGUF: config from metadata, weights as views into the memory map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "base/error.h"
#include "base/threadpool.h"
#include "base/mem.h"
#include "kernels/matmul.h"
#include "model/model_internal.h"
#include "tensor/quant.h"

static afm_status bind_matrix(const afm_gguf *g, const char *name, int64_t rows, int64_t cols, afm_weight *w) {
    const afm_gguf_tensor *t = afm_gguf_find_tensor(g, name);
    if (!t) return afm_error(AFM_ERR_FORMAT, "tensor %s is missing", name);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return afm_error(AFM_ERR_FORMAT, "tensor %s has shape [%lld, %lld] (%u dims), expected [%lld, %lld] (ggml order: in, out)",
                         name, (long long)t->ne[0], (long long)t->ne[1], t->n_dims, (long long)cols, (long long)rows);
    if (!afm_matmul_supports((afm_dtype)t->type))
        return afm_error(AFM_ERR_UNSUPPORTED, "tensor %s has type %s, which afm cannot compute with yet", name, afm_dtype_name(t->type));
    w->data = t->data;
    w->type = (afm_dtype)t->type;
    w->rows = rows;
    w->cols = cols;
    return AFM_OK;
}

/* Norm gains are small: keep an f32 copy whatever their stored type. */
static afm_status bind_vector(afm_model *m, const char *name, int64_t n, float **out) {
    const afm_gguf_tensor *t = afm_gguf_find_tensor(m->gguf, name);
    if (!t) return afm_error(AFM_ERR_FORMAT, "tensor %s is missing", name);
    if (t->n_dims != 1 || t->ne[0] != n)
        return afm_error(AFM_ERR_FORMAT, "tensor %s has %u dims and %lld elements, expected a vector of %lld",
                         name, t->n_dims, (long long)t->ne[0], (long long)n);
    float *v = afm_alloc((size_t)n * sizeof(float));
    if (!v) return afm_error(AFM_ERR_NOMEM, "out of memory for %s", name);
    afm_status s = afm_dequantize_row((afm_dtype)t->type, t->data, v, n);
    if (s != AFM_OK) { afm_free(v); return afm_error_prefix(s, "tensor %s", name); }
    m->owned[m->n_owned++] = v;
    *out = v;
    return AFM_OK;
}

static afm_status load_weights(afm_model *m) {
    const afm_config *c = &m->cfg;
    const afm_gguf *g = m->gguf;
    int64_t d = c->dim, q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim, f = c->ffn_dim;
    m->owned = calloc((size_t)c->n_layers * 6 + 1, sizeof(float *));
    m->layers = calloc((size_t)c->n_layers, sizeof(afm_layer));
    if (!m->owned || !m->layers) return afm_error(AFM_ERR_NOMEM, "out of memory loading model");
    /* The embedding is read a row at a time (dequantized), so any supported type works. */
    const afm_gguf_tensor *e = afm_gguf_find_tensor(g, "token_embd.weight");
    if (!e || e->ne[0] != d)
        return afm_error(AFM_ERR_FORMAT, "tensor token_embd.weight must have shape [%lld, n_vocab]", (long long)d);
    AFM_TRY(bind_matrix(g, "token_embd.weight", c->n_vocab, d, &m->tok_embd));
    if (c->tied_output) m->output = m->tok_embd;
    else AFM_TRY(bind_matrix(g, "output.weight", c->n_vocab, d, &m->output));
    AFM_TRY(bind_vector(m, "output_norm.weight", d, &m->output_norm));
    char name[96];
    for (int l = 0; l < c->n_layers; l++) {
        afm_layer *L = &m->layers[l];
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, l), name)
        AFM_TRY(bind_vector(m, NAME("attn_norm.weight"), d, &L->attn_norm));
        AFM_TRY(bind_vector(m, NAME("ffn_norm.weight"), d, &L->ffn_norm));
        if (c->post_norms) {
            AFM_TRY(bind_vector(m, NAME("post_attention_norm.weight"), d, &L->post_attn_norm));
            AFM_TRY(bind_vector(m, NAME("post_ffw_norm.weight"), d, &L->post_ffn_norm));
        }
        AFM_TRY(bind_matrix(g, NAME("attn_q.weight"), q, d, &L->wq));
        AFM_TRY(bind_matrix(g, NAME("attn_k.weight"), kv, d, &L->wk));
        AFM_TRY(bind_matrix(g, NAME("attn_v.weight"), kv, d, &L->wv));
        AFM_TRY(bind_matrix(g, NAME("attn_output.weight"), d, q, &L->wo));
        AFM_TRY(bind_matrix(g, NAME("ffn_gate.weight"), f, d, &L->w_gate));
        AFM_TRY(bind_matrix(g, NAME("ffn_up.weight"), f, d, &L->w_up));
        AFM_TRY(bind_matrix(g, NAME("ffn_down.weight"), d, f, &L->w_down));
        if (c->qk_norm != AFM_QK_NORM_OFF) {
            AFM_TRY(bind_vector(m, NAME("attn_q_norm.weight"), c->head_dim, &L->q_norm));
            AFM_TRY(bind_vector(m, NAME("attn_k_norm.weight"), c->head_dim, &L->k_norm));
        } else if (afm_gguf_find_tensor(g, NAME("attn_q_norm.weight")) || afm_gguf_find_tensor(g, NAME("attn_k_norm.weight"))) {
            /* gains the config says not to use: the file and its metadata disagree */
            return afm_error(AFM_ERR_FORMAT, "blk.%d has QK-norm gains but the %s config says qk_norm is off", l, c->arch);
        }
#undef NAME
    }
    return AFM_OK;
}

enum { HUGE_PAGE = 2 << 20, COPY_CHUNK = 4 << 20 };

static void drop_mapped_pages(const void *data, size_t bytes) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)data + page - 1) & ~(page - 1),
              hi = ((uintptr_t)data + bytes) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Repacks the weights the interleaved-row kernels take (q4_0, q4_1, q5_0, q5_1, q8_0: about 2x
 * decode speed, and the packed prefill tiles) into one huge-page arena, as copy_float_weights
 * does for the float types: decode streams every matrix once per token, and through 4 KiB pages
 * each 64 cache lines cost a TLB miss and end the hardware prefetchers' run (Gemma 3's 178 MB tied
 * output matrix is most of a token's bytes). Each mapped original's pages are then dropped from
 * this process (they are file-backed and read again on demand: the tied embedding's lookup
 * touches only the rows it needs), so resident memory stays about the size of the file. */
static size_t weight_bytes(const afm_weight *w) { return afm_dtype_row_size(w->type, w->cols) * (size_t)w->rows; }

static afm_status repack_all(afm_model *m) {
    const char *off = getenv("AFM_NO_REPACK");
    if (off && *off && strcmp(off, "0")) return AFM_OK;
    int nl = m->cfg.n_layers, n = 0;
    afm_weight **ws = malloc(sizeof(afm_weight *) * ((size_t)nl * 7 + 1));
    if (!ws) return afm_error(AFM_ERR_NOMEM, "out of memory loading model");
    if (afm_matmul_can_repack(m->output.type)) ws[n++] = &m->output;
    for (int l = 0; l < nl; l++) {
        afm_layer *L = &m->layers[l];
        afm_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++)
            if (afm_matmul_can_repack(lw[i]->type)) ws[n++] = lw[i];
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (weight_bytes(ws[i]) + 63) & ~(size_t)63; /* copies 64-byte aligned */
    afm_status st = AFM_OK;
    /* not populated up front: pages fault in as the weights are repacked one after the other, so
     * resident memory peaks at the copies made so far plus the one original being read (the
     * whole arena plus the largest original, the tied output, measured 5 MB over the RSS bound) */
    uint8_t *arena = total ? afm_huge_alloc(total, false) : NULL;
    if (total && !arena) st = afm_error(AFM_ERR_NOMEM, "out of memory for %zu bytes of repacked weights", total);
    for (size_t i = 0, at = 0; st == AFM_OK && i < (size_t)n; i++) {
        afm_weight *w = ws[i];
        w->packed = arena + at;
        at += (weight_bytes(w) + 63) & ~(size_t)63;
        st = afm_matmul_repack(w->type, w->rows, w->cols, w->data, w->packed);
        if (st == AFM_OK) drop_mapped_pages(w->data, weight_bytes(w));
    }
    if (st == AFM_OK) {
        m->packed_arena = arena;
        m->packed_bytes = total;
    } else {
        for (int i = 0; i < n; i++) ws[i]->packed = NULL;
        afm_huge_free(arena, total);
    }
    free(ws);
    return st;
}

/* f32/f16/bf16 matrices are read in place by the kernels. Decode streams every one of them per
 * token, and through 4 KiB pages of the file mapping that costs a TLB miss every 64 cache lines
 * (and the hardware prefetchers stop at each page end): measured ~25% slower than reading the
 * same bytes from 2 MiB pages. So they are copied into one anonymous arena that asks for
 * transparent huge pages (MADV_HUGEPAGE; where the kernel declines it is an ordinary buffer),
 * and, as for repack, the mapped originals' pages are dropped from this process: resident memory
 * stays about the size of the file. A tied embedding shares the output's copy. */
static bool is_float_type(afm_dtype t) { return t == AFM_F32 || t == AFM_F16 || t == AFM_BF16; }

/* One piece of the copy: the weights' bytes are laid end to end in the arena (each copy
 * 64-byte aligned); thread ith of nth copies the part of every weight that falls in its equal
 * share [lo, hi) of the arena, so the page faults of the arena and of the file mapping are taken
 * by all threads at once. The copied part of the mapping is dropped at once (see above). */
typedef struct float_copy {
    afm_weight **ws;
    const uint8_t **src; /* original mapped data of ws[i] */
    size_t *off;         /* arena offset of ws[i] */
    int n;
    uint8_t *arena;
    size_t total;
} float_copy;

static void copy_share(void *ctx, int ith, int nth) {
    float_copy *c = ctx;
    size_t per = (c->total / (size_t)nth + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    size_t lo = per * (size_t)ith, hi = lo + per < c->total ? lo + per : c->total;
    for (int i = 0; i < c->n && lo < hi; i++) {
        size_t a = c->off[i], b = a + weight_bytes(c->ws[i]);
        size_t from = a > lo ? a : lo, to = b < hi ? b : hi;
        for (size_t p = from; p < to; p += COPY_CHUNK) { /* in chunks: resident memory stays ~ the arena */
            size_t len = to - p < COPY_CHUNK ? to - p : COPY_CHUNK;
            memcpy(c->arena + p, c->src[i] + (p - a), len);
            drop_mapped_pages(c->src[i] + (p - a), len);
        }
    }
}

static afm_status copy_float_weights(afm_model *m) {
    const char *off = getenv("AFM_NO_REPACK");
    if (off && *off && strcmp(off, "0")) return AFM_OK;
    int nl = m->cfg.n_layers, n = 0;
    size_t cap = (size_t)nl * 7 + 1;
    float_copy c = {0};
    c.ws = malloc(sizeof(afm_weight *) * cap);
    c.src = malloc(sizeof(uint8_t *) * cap);
    c.off = malloc(sizeof(size_t) * cap);
    afm_status st = AFM_OK;
    if (!c.ws || !c.src || !c.off) { st = afm_error(AFM_ERR_NOMEM, "out of memory loading model"); goto done; }
    if (is_float_type(m->output.type)) c.ws[n++] = &m->output;
    for (int l = 0; l < nl; l++) {
        afm_layer *L = &m->layers[l];
        afm_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++)
            if (is_float_type(lw[i]->type)) c.ws[n++] = lw[i];
    }
    c.n = n;
    for (int i = 0; i < n; i++) { /* each copy starts on a 64-byte boundary */
        c.src[i] = c.ws[i]->data;
        c.off[i] = c.total;
        c.total += (weight_bytes(c.ws[i]) + 63) & ~(size_t)63;
    }
    if (c.total == 0) goto done;
    void *arena = afm_huge_alloc(c.total, true);
    if (!arena) {
        st = afm_error(AFM_ERR_NOMEM, "out of memory for a %zu-byte copy of the f32/f16/bf16 weights", c.total);
        goto done;
    }
    /* afm_huge_alloc allocates the (huge) pages in one call instead of one fault each; then copy with
     * every core (without THP the copy still works). On this loaded 2-core VM a 1.2 GB
     * copy took ~1.3 s this way plus 0.5-7 s of allocation (the kernel compacting memory for
     * huge pages: the spread is the page cache's fragmentation, not ours) against 5-10 s in all
     * faulting page by page on 1 thread. */
    c.arena = arena;
    afm_pool *pool = NULL;
    int nth = c.total >= (size_t)64 * HUGE_PAGE ? 0 : 1; /* 0: all cores, for >= 128 MiB */
    if (nth == 1 || afm_pool_create(nth, &pool) != AFM_OK) copy_share(&c, 0, 1);
    else afm_pool_run(pool, copy_share, &c);
    afm_pool_free(pool);
    for (int i = 0; i < n; i++) {
        drop_mapped_pages(c.src[i], weight_bytes(c.ws[i]));
        c.ws[i]->data = c.arena + c.off[i];
    }
    if (m->cfg.tied_output && is_float_type(m->tok_embd.type)) m->tok_embd.data = m->output.data;
    m->float_arena = arena;
    m->float_bytes = c.total;
done:
    free(c.ws);
    free(c.src);
    free(c.off);
    return st;
}

afm_status afm_model_load(const char *path, afm_model **out) {
    *out = NULL;
    afm_model *m = calloc(1, sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "out of memory loading %s", path);
    afm_status s = afm_gguf_open(path, &m->gguf);
    if (s == AFM_OK) s = afm_config_from_gguf(m->gguf, &m->cfg);
    if (s == AFM_OK) s = load_weights(m);
    if (s == AFM_OK) s = repack_all(m);
    if (s == AFM_OK) s = copy_float_weights(m);
    if (s == AFM_OK && afm_gguf_find_key(m->gguf, "tokenizer.ggml.model") >= 0) {
        s = afm_tokenizer_from_gguf(m->gguf, &m->tokenizer);
        if (s == AFM_OK && afm_tokenizer_n_vocab(m->tokenizer) > m->cfg.n_vocab)
            s = afm_error(AFM_ERR_FORMAT, "tokenizer has %d tokens but the model's vocabulary is %d",
                          afm_tokenizer_n_vocab(m->tokenizer), m->cfg.n_vocab);
    }
    /* Everything the model uses from the file now lives in its own buffers (repacked weights,
     * norm gains, tokenizer tables) or is read back on demand (weights used in place, embedding
     * rows): drop the pages loading touched (metadata, the edges of repacked tensors). */
    if (s == AFM_OK) afm_gguf_release_pages(m->gguf);
    if (s != AFM_OK) {
        afm_error_prefix(s, "%s", path);
        afm_model_free(m);
        return s;
    }
    *out = m;
    return AFM_OK;
}

void afm_model_free(afm_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) afm_free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    afm_huge_free(m->float_arena, m->float_bytes);
    afm_huge_free(m->packed_arena, m->packed_bytes);
    afm_tokenizer_free(m->tokenizer);
    afm_gguf_close(m->gguf);
    free(m);
}

const afm_config *afm_model_config(const afm_model *m) { return &m->cfg; }

afm_status afm_model_embed_row(const afm_model *m, int32_t token, float *out) {
    const afm_weight *e = m->cfg.tied_output && m->output.packed ? &m->output : &m->tok_embd;
    if (e->packed) return afm_matmul_packed_row(e->type, e->packed, e->rows, e->cols, token, out);
    const uint8_t *row = (const uint8_t *)e->data + (size_t)token * afm_dtype_row_size(e->type, e->cols);
    return afm_dequantize_row(e->type, row, out, e->cols);
}
