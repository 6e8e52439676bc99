/* Internal model layout: weight views into the GGUF mapping (or owned buffers). */
#ifndef AFM_MODEL_INTERNAL_H
#define AFM_MODEL_INTERNAL_H
#include "afm/model.h"
#include "formats/gguf.h"
#include "tensor/dtype.h"
#include "tokenizer/tokenizer.h"

/* A weight matrix W: (rows, cols) in `type`, rows contiguous (GGUF ne = {cols, rows}). */
typedef struct afm_weight {
    const void *data;
    afm_dtype type;
    int64_t rows, cols;
    void *packed;              /* repacked copy for the fast kernels (afm_matmul_repack; in the model's
                                  packed_arena), or NULL */
} afm_weight;

typedef struct afm_layer {
    float *attn_norm;          /* (dim) */
    afm_weight wq, wk, wv, wo; /* (H*hd, dim), (KV*hd, dim), (KV*hd, dim), (dim, H*hd) */
    float *q_norm, *k_norm;    /* (hd) gains, NULL when QK-norm is off */
    float *ffn_norm;           /* (dim) */
    float *post_attn_norm, *post_ffn_norm; /* (dim) gains on the sub-layer outputs, NULL unless cfg.post_norms */
    afm_weight w_gate, w_up, w_down; /* (ffn, dim), (ffn, dim), (dim, ffn) */
} afm_layer;

struct afm_model {
    afm_config cfg;
    afm_gguf *gguf;            /* owns the mapping the weights point into */
    afm_weight tok_embd;       /* (n_vocab, dim) */
    afm_weight output;         /* (n_vocab, dim): == tok_embd when tied */
    float *output_norm;        /* (dim) */
    afm_layer *layers;
    afm_tokenizer *tokenizer;  /* NULL if the file has no tokenizer */
    float **owned;             /* f32 copies of norm gains (freed with the model) */
    int n_owned;
    size_t packed_bytes;       /* bytes of repacked weight copies (packed_arena, afm_huge_alloc) */
    void *packed_arena;        /* the repacked copies (huge pages), or NULL */
    void *float_arena;         /* copies of the f32/f16/bf16 matrices (huge pages), or NULL */
    size_t float_bytes;        /* bytes of float_arena */
};

/* Token `token`'s embedding row, dequantized: out (dim). For a tied embedding whose output copy
 * was repacked it is read from that copy, so the mapped original stays out of resident memory. */
afm_status afm_model_embed_row(const afm_model *m, int32_t token, float *out);

/* Reads an afm_config from a GGUF's metadata (architectures afm, llama, qwen3). */
afm_status afm_config_from_gguf(const afm_gguf *g, afm_config *c);
/* Writes the metadata keys of a config (architecture c->arch) into a GGUF writer. */
afm_status afm_config_to_gguf(const afm_config *c, afm_gguf_writer *w);
#endif
