/* safetensors reader (single file or sharded HF checkpoint) and HF config.json -> afm_config.
 *
 * safetensors layout: u64 little-endian header length N, N bytes of JSON
 *   { "name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
 *     "__metadata__": {"k": "v"} }
 * then the data; offsets are relative to the byte after the header. Shapes are in PyTorch order
 * (outermost first): a Linear weight (out, in) has shape {out, in}, i.e. ggml ne = {in, out}.
 * Everything (JSON, dtypes, shapes, byte counts, bounds, overlaps, shard names) is validated
 * before data is touched; the files stay memory-mapped and tensors point into the maps. */
#ifndef AFM_FORMATS_SAFETENSORS_H
#define AFM_FORMATS_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "afm/status.h"
#include "afm/model.h"

#define AFM_ST_MAX_DIMS 4

typedef struct afm_st_tensor {
    const char *name;               /* NUL-terminated copy */
    uint32_t dtype;                 /* afm_dtype id: AFM_F32, AFM_F16, AFM_BF16 (also F64, I8..I64) */
    uint32_t n_dims;                /* 0..4 */
    int64_t shape[AFM_ST_MAX_DIMS]; /* PyTorch order; unused dims are 1 */
    size_t nbytes;
    const void *data;               /* into the shard's mapping (or the caller's buffer) */
    int32_t shard;                  /* index of the file it lives in */
} afm_st_tensor;

typedef struct afm_safetensors afm_safetensors;

/* path: a .safetensors file, a model.safetensors.index.json, or a folder holding either
 * model.safetensors.index.json (+ the shards it names) or model.safetensors. */
afm_status afm_safetensors_open(const char *path, afm_safetensors **out);
/* One file's bytes, kept alive by the caller (fuzzing, tests). */
afm_status afm_safetensors_open_memory(const void *data, size_t size, afm_safetensors **out);
void afm_safetensors_close(afm_safetensors *st);

/* Tensors in file order (shards in index order, then by data offset). */
int64_t afm_safetensors_n_tensors(const afm_safetensors *st);
const afm_st_tensor *afm_safetensors_tensor_at(const afm_safetensors *st, int64_t i);
const afm_st_tensor *afm_safetensors_find(const afm_safetensors *st, const char *name); /* NULL if absent */
/* A "__metadata__" string of the first file, or NULL. */
const char *afm_safetensors_metadata(const afm_safetensors *st, const char *key);

/* Converts n elements of an F32/F16/BF16 tensor's data to float (any tensor dtype among those). */
afm_status afm_st_to_f32(const afm_st_tensor *t, float *out, size_t n);

/* ---- Hugging Face config.json (LlamaForCausalLM, Qwen3ForCausalLM) ---- */

typedef struct afm_hf_extra {
    int32_t bos_token_id;   /* -1 when absent */
    int32_t eos_token_id;   /* -1 when absent; the first one when config gives a list */
    char torch_dtype[16];   /* "bfloat16", "float32", ... or "" */
} afm_hf_extra;

/* Fills *out from a config.json text. The config describes the checkpoint as stored: arch
 * "llama" (model_type llama) or "qwen3"; rope_layout is AFM_ROPE_HALF for both because HF
 * stores q/k rows in rotate-half order. To write GGUF `llama` (interleaved pairs, what
 * llama.cpp expects), pass q_proj through afm_hf_permute_qk with n_heads and k_proj with
 * n_kv_heads, and set rope_layout = AFM_ROPE_INTERLEAVED; GGUF `qwen3` keeps the HF order.
 * qk_norm: qwen3 -> AFM_QK_NORM_BEFORE_ROPE, llama -> OFF. Defaults follow transformers:
 * num_key_value_heads = num_attention_heads, head_dim = hidden_size / num_attention_heads,
 * rope_theta = 10000, rms_norm_eps = 1e-6, tie_word_embeddings = false. Unsupported settings
 * (rope_scaling, attention/mlp biases, non-silu activations, sliding windows) are refused.
 * extra may be NULL. */
afm_status afm_hf_config_parse(const char *json, size_t len, afm_config *out, afm_hf_extra *extra);
/* path: config.json or the folder holding it. */
afm_status afm_hf_config_load(const char *path, afm_config *out, afm_hf_extra *extra);

/* HF tensor name -> GGUF name (reference/gguf-llamacpp.md §11):
 *   model.embed_tokens.weight -> token_embd.weight      model.norm.weight -> output_norm.weight
 *   lm_head.weight -> output.weight
 *   model.layers.N.input_layernorm -> blk.N.attn_norm    .post_attention_layernorm -> blk.N.ffn_norm
 *   .self_attn.{q,k,v}_proj -> blk.N.attn_{q,k,v}         .self_attn.o_proj -> blk.N.attn_output
 *   .self_attn.{q,k}_norm -> blk.N.attn_{q,k}_norm         .mlp.{gate,up,down}_proj -> blk.N.ffn_*
 * (each with its .weight or .bias suffix). Unknown names (e.g. rotary_emb.inv_freq) give
 * AFM_ERR_UNSUPPORTED with a message; out gets a NUL-terminated name. */
afm_status afm_hf_to_gguf_name(const char *hf_name, char *out, size_t out_size);

/* llama.cpp's HF -> GGUF `llama` q/k row permutation (convert_hf_to_gguf.py LlamaModel.permute):
 *   W.reshape(n_heads, 2, rows / n_heads / 2, ...).swapaxes(1, 2).reshape(W.shape)
 * i.e. within each head of head_dim = rows / n_heads rows, output row 2i + j is input row
 * j * head_dim / 2 + i (rotate-half pairs (i, i + hd/2) become adjacent pairs (2i, 2i+1)).
 * Rows are opaque blocks of row_bytes (any dtype, also 1-D gains with row_bytes = element size).
 * dst and src must not overlap. rows must be a multiple of 2 * n_heads. */
afm_status afm_hf_permute_qk(void *dst, const void *src, int64_t rows, size_t row_bytes, int32_t n_heads);
/* The inverse: interleaved pairs (GGUF llama, AFM) -> rotate-half (HF, GGUF qwen3). */
afm_status afm_hf_unpermute_qk(void *dst, const void *src, int64_t rows, size_t row_bytes, int32_t n_heads);

#endif
