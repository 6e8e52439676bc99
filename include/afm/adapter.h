/* afm/adapter.h — LoRA adapters applied at run time, without touching the base weights.
 *
 * File format: llama.cpp's GGUF LoRA adapter (reference/gguf-llamacpp.md §4), as written by its
 * convert_lora_to_gguf.py: general.type = "adapter", adapter.type = "lora",
 * general.architecture = the base model's, adapter.lora.alpha (f32; absent = 0). For each adapted
 * base weight W "X.weight" (ggml ne = {n_in, n_out}) the tensors
 *     X.weight.lora_a   ne = {n_in, r}   (PyTorch A: (r, n_in), PEFT lora_A)
 *     X.weight.lora_b   ne = {r, n_out}  (PyTorch B: (n_out, r), PEFT lora_B)
 * in f32, f16, bf16 or q8_0 (f16 and bf16 are kept as they are, others converted to f32). token_embd.weight is the exception:
 * lora_a has ne = {r, n_vocab} (one row of r values per token) and lora_b ne = {r, dim}.
 * LoRA tensors of norm gains ("*_norm.weight") are ignored, as llama.cpp does.
 *
 * Math, per adapted projection (x: (T, n_in) -> y: (T, n_out)):
 *     y = x Wᵀ + s · (x Aᵀ) Bᵀ,      s = scale · alpha / r   (alpha != 0),   s = scale (alpha == 0)
 * with r the pair's rank (lora_b's ne[0]); for the embedding, e(t) = E[t] + s · B A[t]. Several
 * active adapters add their terms. The output projection is adapted only when the model has its
 * own output.weight (a tied model's output reuses token_embd, which an adapter cannot target
 * through output.weight). */
#ifndef AFM_ADAPTER_H
#define AFM_ADAPTER_H
#include <stdint.h>
#include "afm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afm_adapter afm_adapter;

/* Loads an adapter for model m and checks every tensor against m's (name, shapes, ranks).
 * The adapter refers to m: free it before the model. */
afm_status afm_adapter_load(const afm_model *m, const char *path, afm_adapter **out);
void afm_adapter_free(afm_adapter *a);

float afm_adapter_alpha(const afm_adapter *a);
int32_t afm_adapter_max_rank(const afm_adapter *a);
int32_t afm_adapter_n_pairs(const afm_adapter *a);   /* adapted base weights */

/* Replaces the session's set of active adapters (n = 0: none) with user scales scales[i]
 * (NULL: all 1). The adapters must stay alive while they are set. Keys and values cached under
 * another set are stale, so a change of set clears the cache (n_past becomes 0); setting the same
 * set with the same scales keeps it. Adapters loaded for another model are refused. */
afm_status afm_session_set_adapters(afm_session *s, afm_adapter *const *adapters, const float *scales, int32_t n);

#ifdef __cplusplus
}
#endif
#endif
