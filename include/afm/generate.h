/* afm/generate.h — text generation: encode a prompt, prefill it as one batch, then sample one
 * token at a time, streaming complete UTF-8 text to a callback, until n_predict tokens, an
 * end-of-generation token, or a stop string. */
#ifndef AFM_GENERATE_H
#define AFM_GENERATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "afm/model.h"
#include "afm/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afm_generate_params {
    int32_t n_predict;          /* maximum new tokens (< 0: until the context is full) */
    afm_sampler_params sampler;
    const char *const *stop;    /* stop strings (not emitted), n_stop of them */
    int n_stop;
    bool parse_special;         /* match special-token texts (e.g. <|im_start|>) in the prompt */
} afm_generate_params;

typedef enum afm_stop_reason {
    AFM_STOP_LENGTH = 0,  /* n_predict reached */
    AFM_STOP_EOG,         /* end-of-generation token */
    AFM_STOP_STRING,      /* a stop string appeared */
    AFM_STOP_CALLBACK,    /* the callback asked to stop */
    AFM_STOP_CONTEXT      /* the context is full */
} afm_stop_reason;

typedef struct afm_generate_stats {
    int32_t n_prompt, n_generated;
    double prompt_s, gen_s;     /* prefill and decode wall time */
    afm_stop_reason stop_reason;
} afm_generate_stats;

/* Receives each piece of complete text; return false to stop. */
typedef bool (*afm_text_cb)(const char *text, size_t len, void *user);

/* Generates a continuation of `prompt` in session s (whose cache is cleared first). The model's
 * tokenizer decides whether BOS is prepended. */
afm_status afm_generate(afm_session *s, const char *prompt, const afm_generate_params *p,
                        afm_text_cb cb, void *user, afm_generate_stats *stats);

/* Continues from tokens already encoded (appended to whatever is in the cache). */
afm_status afm_generate_tokens(afm_session *s, const int32_t *tokens, int32_t n_tokens, const afm_generate_params *p,
                               afm_text_cb cb, void *user, afm_generate_stats *stats);

afm_model *afm_session_model(afm_session *s);

#ifdef __cplusplus
}
#endif
#endif
