/* GGUF in and out of the training model (docs/gguf-afm.md): read a config from `afm`, `llama` or
 * `qwen3` metadata, load parameters (F32, F16 or BF16 tensors, converted to f32) with every
 * shape checked, and save the model as an `afm` GGUF (f32 tensors) that the inference runtime
 * loads. Tokenizer keys (`tokenizer.*`) can be copied from another GGUF. */
#ifndef AFM_MODEL_TRAIN_GGUF_H
#define AFM_MODEL_TRAIN_GGUF_H
#include "formats/gguf.h"
#include "model/train_model.h"

/* Fills cfg from the file's architecture keys; the message names a missing or bad key. */
afm_status afm_train_gguf_config(const afm_gguf *g, afm_config *cfg);
/* Copies every parameter tensor of m from g (names and shapes must match the model's config;
 * q/k-norm tensors must be present exactly when qk_norm != off; output.weight iff untied). */
afm_status afm_train_gguf_load(afm_train_model *m, const afm_gguf *g);
/* Writes m as an `afm` GGUF at path (atomically). tokenizer_src (may be NULL): a GGUF whose
 * tokenizer.* keys are copied. */
afm_status afm_train_gguf_save(const afm_train_model *m, const char *path, const afm_gguf *tokenizer_src);
#endif
