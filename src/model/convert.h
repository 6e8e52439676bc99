/* Model conversion into GGUF: llama2.c checkpoints, HF safetensors folders, GGUF (re-typing). */
#ifndef AFM_MODEL_CONVERT_H
#define AFM_MODEL_CONVERT_H
#include "afm/model.h"

typedef struct afm_convert_options {
    const char *tokenizer_path; /* tokenizer file to embed (llama2.c tokenizer.bin, tokenizer.json, GGUF) */
    int out_type;               /* afm_dtype for 2-D weights, or -1 to keep the source type (f32 for llama2.c) */
} afm_convert_options;

/* Converts input (llama2.c .bin, a safetensors folder with config.json, or a GGUF) to a GGUF
 * file written atomically at output. Weight matrices whose row length does not fit the chosen
 * block size fall back to f16 (reported in *n_fallback if not NULL). */
afm_status afm_convert(const char *input, const char *output, const afm_convert_options *opt, int *n_fallback);
#endif
