/* Generation loop: prefill, sample, stream text, stop strings. */
#include "afm/generate.h"
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/timer.h"
#include "model/model_internal.h"

/* Text decoded but not yet emitted, held back while it could be the start of a stop string. */
typedef struct {
    char *buf;
    size_t len, cap;
} holdbuf;

static afm_status hold_append(holdbuf *h, const char *s, size_t n) {
    if (h->len + n + 1 > h->cap) {
        size_t cap = (h->len + n + 1) * 2;
        char *nb = realloc(h->buf, cap);
        if (!nb) return afm_error(AFM_ERR_NOMEM, "out of memory");
        h->buf = nb;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = 0;
    return AFM_OK;
}

/* Position of the first complete stop string in h, or -1. */
static long find_stop(const holdbuf *h, const afm_generate_params *p) {
    long best = -1;
    for (int i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        if (!sl || sl > h->len) continue;
        const char *f = memmem(h->buf, h->len, p->stop[i], sl);
        if (f && (best < 0 || f - h->buf < best)) best = f - h->buf;
    }
    return best;
}

/* Length of the prefix of h that can safely be emitted: no suffix starting there is a
 * prefix of a stop string. */
static size_t safe_prefix(const holdbuf *h, const afm_generate_params *p) {
    for (size_t k = 0; k < h->len; k++) {
        size_t rest = h->len - k;
        for (int i = 0; i < p->n_stop; i++) {
            size_t sl = strlen(p->stop[i]);
            if (sl > rest && !memcmp(h->buf + k, p->stop[i], rest)) return k;
        }
    }
    return h->len;
}

static bool emit(afm_text_cb cb, void *user, const char *s, size_t n) {
    if (!n || !cb) return true;
    return cb(s, n, user);
}

afm_status afm_generate_tokens(afm_session *s, const int32_t *tokens, int32_t n_tokens, const afm_generate_params *p,
                               afm_text_cb cb, void *user, afm_generate_stats *stats) {
    afm_model *m = afm_session_model(s);
    const afm_tokenizer *tok = m->tokenizer;
    if (!tok) return afm_error(AFM_ERR_INVALID_ARG, "the model has no tokenizer: cannot generate text");
    if (n_tokens <= 0) return afm_error(AFM_ERR_INVALID_ARG, "empty prompt: nothing to condition on (a BOS token is needed at least)");
    int32_t n_vocab = m->cfg.n_vocab;
    afm_generate_stats st = {0};
    st.n_prompt = n_tokens;
    int32_t n_ctx = afm_session_n_ctx(s), n_past0 = afm_session_n_past(s);
    if (n_past0 + n_tokens > n_ctx)
        return afm_error(AFM_ERR_RANGE, "prompt of %d tokens does not fit in the context of %d tokens (%d already used); shorten it or raise the context size",
                         n_tokens, n_ctx, n_past0);
    int32_t max_new = p->n_predict < 0 ? n_ctx : p->n_predict;
    int32_t *hist = malloc(((size_t)n_tokens + (size_t)max_new + 1) * sizeof(int32_t));
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    afm_sampler *smp = NULL;
    holdbuf hold = {0};
    afm_status rc = (!hist || !logits) ? afm_error(AFM_ERR_NOMEM, "out of memory") : AFM_OK;
    if (rc == AFM_OK) rc = afm_sampler_create(&p->sampler, n_vocab, &smp);
    if (rc != AFM_OK) goto done;
    memcpy(hist, tokens, (size_t)n_tokens * sizeof(int32_t));
    int32_t n_hist = n_tokens;
    double t0 = afm_now_s();
    rc = afm_session_eval(s, tokens, n_tokens, false, logits);
    if (rc != AFM_OK) goto done;
    st.prompt_s = afm_now_s() - t0;
    afm_detok_stream ds;
    afm_detok_init(&ds, tok);
    /* prime the stream with the prompt so spacing after BOS/prompt tokens is handled */
    char piece[512];
    for (int32_t i = 0; i < n_tokens; i++) afm_detok_push(&ds, tokens[i], piece, sizeof piece);
    t0 = afm_now_s();
    st.stop_reason = AFM_STOP_LENGTH;
    int32_t bos = afm_tokenizer_bos(tok);
    for (int32_t i = 0; i < max_new; i++) {
        int32_t next = afm_sampler_sample(smp, logits, hist, n_hist);
        if (afm_tokenizer_is_eog(tok, next) || next == bos) { st.stop_reason = AFM_STOP_EOG; break; }
        hist[n_hist++] = next;
        st.n_generated++;
        size_t n = afm_detok_push(&ds, next, piece, sizeof piece);
        if ((rc = hold_append(&hold, piece, n)) != AFM_OK) goto done;
        long at = find_stop(&hold, p);
        if (at >= 0) {
            emit(cb, user, hold.buf, (size_t)at);
            hold.len = 0;
            st.stop_reason = AFM_STOP_STRING;
            break;
        }
        size_t safe = safe_prefix(&hold, p);
        if (!emit(cb, user, hold.buf, safe)) { hold.len = 0; st.stop_reason = AFM_STOP_CALLBACK; break; }
        memmove(hold.buf, hold.buf + safe, hold.len - safe);
        hold.len -= safe;
        if (i + 1 == max_new) break;
        if (afm_session_n_past(s) >= n_ctx) { st.stop_reason = AFM_STOP_CONTEXT; break; }
        if ((rc = afm_session_eval(s, &next, 1, false, logits)) != AFM_OK) goto done;
    }
    if (st.stop_reason == AFM_STOP_LENGTH || st.stop_reason == AFM_STOP_EOG || st.stop_reason == AFM_STOP_CONTEXT) {
        size_t n = afm_detok_flush(&ds, piece, sizeof piece);
        if ((rc = hold_append(&hold, piece, n)) != AFM_OK) goto done;
        emit(cb, user, hold.buf, hold.len);
    }
    st.gen_s = afm_now_s() - t0;
done:
    if (stats) *stats = st;
    afm_sampler_free(smp);
    free(hold.buf);
    free(hist);
    free(logits);
    return rc;
}

afm_status afm_generate(afm_session *s, const char *prompt, const afm_generate_params *p,
                        afm_text_cb cb, void *user, afm_generate_stats *stats) {
    afm_model *m = afm_session_model(s);
    if (!m->tokenizer) return afm_error(AFM_ERR_INVALID_ARG, "the model has no tokenizer: cannot generate text");
    AFM_TRY(afm_session_rewind(s, 0));
    int32_t *ids = NULL;
    size_t n = 0;
    AFM_TRY(afm_tokenizer_encode(m->tokenizer, prompt, strlen(prompt), afm_tokenizer_add_bos(m->tokenizer),
                                 p->parse_special, &ids, &n));
    if (n > 0x7fffffff) { free(ids); return afm_error(AFM_ERR_RANGE, "prompt is too long"); }
    afm_status rc = afm_generate_tokens(s, ids, (int32_t)n, p, cb, user, stats);
    free(ids);
    return rc;
}
