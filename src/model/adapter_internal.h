/* LoRA adapters inside the model runtime (public API: afm/adapter.h).
 *
 * Every base weight an adapter may target has a slot number: per layer the 7 projections
 * (slot = layer * AFM_LORA_PER_LAYER + kind), then the output projection and the token
 * embedding. A session holds the active set (afm_lora_set); its forward pass adds each active
 * adapter's low-rank term after the base matrix product of the same slot. */
#ifndef AFM_MODEL_ADAPTER_INTERNAL_H
#define AFM_MODEL_ADAPTER_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include "afm/adapter.h"
#include "base/threadpool.h"
#include "formats/gguf.h"
#include "tensor/dtype.h"

enum afm_lora_kind {
    AFM_LORA_Q = 0, AFM_LORA_K, AFM_LORA_V, AFM_LORA_O, AFM_LORA_GATE, AFM_LORA_UP, AFM_LORA_DOWN,
    AFM_LORA_PER_LAYER
};
static inline int afm_lora_slot(int layer, int kind) { return layer * AFM_LORA_PER_LAYER + kind; }
static inline int afm_lora_slot_output(int n_layers) { return n_layers * AFM_LORA_PER_LAYER; }
static inline int afm_lora_slot_embd(int n_layers) { return n_layers * AFM_LORA_PER_LAYER + 1; }
static inline int afm_lora_n_slots(int n_layers) { return n_layers * AFM_LORA_PER_LAYER + 2; }

typedef struct afm_lora_pair {
    void *a;           /* projections: A (r, n_in); embedding: (n_vocab, r), one row per token */
    void *b;           /* B (n_out, r) */
    afm_dtype a_type, b_type;  /* f16 / bf16 as stored in the file, else f32 (embedding: always f32) */
    int32_t r;
    int64_t n_in, n_out;
    char name[256];    /* base weight name, e.g. "blk.0.attn_q.weight" */
} afm_lora_pair;

struct afm_adapter {
    const afm_model *model;
    float alpha;
    int32_t max_rank, n_pairs, n_slots;
    int64_t max_out;
    afm_lora_pair *pairs;      /* n_pairs */
    afm_lora_pair **by_slot;   /* n_slots: the pair adapting that slot, or NULL */
};

enum { AFM_MAX_ACTIVE_ADAPTERS = 8 };

typedef struct afm_lora_set {
    int32_t n;
    const afm_adapter *a[AFM_MAX_ACTIVE_ADAPTERS];
    float scale[AFM_MAX_ACTIVE_ADAPTERS];   /* user scales */
    float *u;                  /* scratch: x Aᵀ, (T, r) */
    float *d;                  /* scratch: (x Aᵀ) Bᵀ for a chunk of rows, (rows, n_out) */
    size_t u_cap, d_cap;       /* floats */
} afm_lora_set;

/* afm_adapter_load on an open GGUF (the adapter copies what it keeps; g may be closed after). */
afm_status afm_adapter_from_gguf(const afm_model *m, const afm_gguf *g, afm_adapter **out);

/* Replaces the active set; *changed tells whether it differs from the previous one. */
afm_status afm_lora_set_replace(afm_lora_set *set, const afm_model *m, afm_adapter *const *a, const float *scales,
                                int32_t n, bool *changed);
void afm_lora_set_free(afm_lora_set *set);
/* y (T, n_out) += sum over active adapters adapting `slot` of s · (x Aᵀ) Bᵀ, x: (T, n_in).
 * T_like: the rows are the last T of a T_like-row computation and get its values bit for bit
 * (afm_matmul_like); T == T_like (all rows) or T == 1 (the last row). */
afm_status afm_lora_apply(afm_lora_set *set, afm_pool *pool, int slot, float *y, const float *x, int64_t T,
                          int64_t T_like);
/* x (T, dim) += s · B A[tokens[t]] for the embedding slot. */
void afm_lora_apply_embd(const afm_lora_set *set, int slot, float *x, const int32_t *tokens, int64_t T, int64_t dim);
/* The effective multiplier of a pair: scale · alpha / r, or scale when alpha is 0. */
float afm_lora_pair_scale(const afm_adapter *a, const afm_lora_pair *p, float user_scale);
#endif
