/* afm/sampler.h — choosing the next token from logits.
 * Order (as llama.cpp): repetition penalty -> greedy if temperature <= 0, else top-k -> temperature
 * -> softmax -> top-p -> min-p -> draw with the seeded RNG. */
#ifndef AFM_SAMPLER_H
#define AFM_SAMPLER_H
#include <stdint.h>
#include "afm/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afm_sampler_params {
    float temperature;     /* <= 0: greedy (argmax) */
    int32_t top_k;         /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off; keep tokens with p >= min_p * p_max */
    float repeat_penalty;  /* 1: off; logits of recent tokens: > 0 ? / penalty : * penalty */
    int32_t repeat_last_n; /* how many recent tokens the penalty looks at */
    uint64_t seed;
} afm_sampler_params;

/* Defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, last_n 64, seed 0. */
afm_sampler_params afm_sampler_defaults(void);

typedef struct afm_sampler afm_sampler;
afm_status afm_sampler_create(const afm_sampler_params *p, int32_t n_vocab, afm_sampler **out);
void afm_sampler_free(afm_sampler *s);
/* Picks a token from logits (n_vocab values; modified in place by the penalty).
 * history: the tokens so far (prompt and generated), for the repetition penalty. */
int32_t afm_sampler_sample(afm_sampler *s, float *logits, const int32_t *history, int32_t n_history);

#ifdef __cplusplus
}
#endif
#endif
