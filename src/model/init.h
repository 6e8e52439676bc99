/* Random initialization of a model of any shape (AFM's initialization, reference/afm.md §1.3):
 * linear weights ~ N(0, 1/fan_in), embedding ~ N(0, 1/dim), norm gains 1. */
#ifndef AFM_MODEL_INIT_H
#define AFM_MODEL_INIT_H
#include <stdint.h>
#include "afm/model.h"

/* Parses a shape JSON file: {"arch": "afm"|"llama"|"qwen3", "n_vocab", "dim", "n_layers", "n_heads",
 * "n_kv_heads", "head_dim", "ffn_dim", "max_seq_len", "rope_theta", "rope_layout":
 * "interleaved"|"half", "qk_norm": "off"|"before_rope"|"after_rope", "norm_eps", "tied_output"}.
 * Keys the architecture fixes (rope_layout, qk_norm for llama/qwen3) default accordingly;
 * unknown keys are errors. */
afm_status afm_shape_load(const char *path, afm_config *c);

/* Writes a randomly initialized model as GGUF: 2-D weights in `type` (f32, f16, bf16, q8_0,
 * q4_0, ...), norms f32, a tokenizer from tokenizer_path or a placeholder byte-level vocabulary
 * of n_vocab tokens (256 byte tokens, then control tokens <|extra_i|>; <|endoftext|> is BOS/EOS). */
afm_status afm_init_model(const afm_config *c, int type, uint64_t seed, const char *tokenizer_path, const char *out_path);
#endif
