/* Model-driven evaluation (see run.h).
 *
 * One inference session per runner (a worker has one runner, or `batch` of them for generation
 * tasks, see generate_items). A mirror of the tokens in its KV cache lets every new request
 * reuse the longest common token prefix (afm_session_rewind), so a multiple-choice item
 * evaluates its prompt once for all choices, and consecutive items of one MMLU subject share the
 * 5-shot prefix without re-evaluating it.
 *
 * log P(continuation | context) = sum_i log_softmax(logits_{i-1})[cont_i], where logits_{-1} are
 * the logits after the context's last token. Context/continuation split as lm-evaluation-harness:
 * trailing spaces of the context move to the continuation; cont = enc(ctx + cont)[len(enc(ctx)):]. */
#include "eval/run.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/adapter.h"
#include "afm/model.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "eval/progress.h"
#include "eval/prompts.h"
#include "eval/strbuf.h"
#include "eval/worksplit.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

void afm_eval_run_options_default(afm_eval_run_options *o) {
    *o = (afm_eval_run_options){.limit = 0, .shots = -1, .n_threads = 0, .n_ctx = 0, .max_tokens = 0,
                                .progress = true, .chat = true, .adapter = NULL, .adapter_scale = 1.0f,
                                .batch = AFM_EVAL_DEFAULT_BATCH};
}

typedef struct runner {
    afm_model *model;
    afm_tokenizer *tok;
    afm_session *sess;
    afm_adapter *adapter;  /* LoRA adapter applied in the session, or NULL */
    bool owns_adapter;     /* loaded by this runner (else shared with the worker's first slot) */
    int32_t n_vocab, n_ctx;
    int32_t *cache;        /* tokens in the KV cache, in order */
    int32_t n_cache;
    float *last;           /* logits after cache[n_cache - 1] */
    bool last_valid;
    bool no_reuse;         /* always start from an empty cache */
    bool record_tokens;    /* put each multiple-choice item's token ids in its record */
    /* where the time goes (reported in results.json config.profile) */
    double n_forward;      /* tokens run through the model */
    double n_reused;       /* prompt tokens found in the cache instead */
    double n_copied;       /* of those, copied from another slot's cache (afm_session_copy_prefix) */
    double n_forward_calls;
    double t_forward, t_tokenize; /* wall seconds in afm_session_eval / the tokenizer */
    double n_decode, n_decode_calls, t_decode; /* generation steps: tokens appended, forward calls
                           * (a batched call counted once, on its first runner) and their seconds */
    double t_done;         /* when this runner's worker ran out of items (afm_eval_now_s) */
} runner;

enum { BATCH = 64 }; /* rows of all-position logits per perplexity step */
/* A peer's cached prefix is copied only if it is this many tokens longer than the slot's own:
 * copying costs ~1/100 of evaluating the tokens (a memcpy of their keys and values), but a few
 * tokens are not worth a pass over every layer's cache. */
enum { AFM_EVAL_MIN_COPY = 16 };

/* A runner on an already loaded model and tokenizer (shared, read-only, by all runners). With
 * o->adapter, `shared` (if not NULL) is that adapter already loaded by another runner: the slots
 * of one batch need the same afm_adapter object (afm_session_eval_multi). */
static afm_status runner_open(runner *r, afm_model *model, afm_tokenizer *tok, int n_threads, const afm_eval_run_options *o,
                              afm_adapter *shared) {
    memset(r, 0, sizeof *r);
    r->model = model;
    r->tok = tok;
    r->no_reuse = o->no_prefix_cache;
    r->record_tokens = o->record_tokens;
    afm_session_options so = {.n_ctx = o->n_ctx, .n_threads = n_threads, .kv_type = (afm_kv_type)o->kv_type};
    AFM_TRY(afm_session_create(r->model, &so, &r->sess));
    if (o->adapter) {
        if (shared) r->adapter = shared;
        else AFM_TRY(afm_adapter_load(r->model, o->adapter, &r->adapter));
        r->owns_adapter = !shared;
        float scale = o->adapter_scale;
        AFM_TRY(afm_session_set_adapters(r->sess, &r->adapter, &scale, 1));
    }
    r->n_vocab = afm_model_config(r->model)->n_vocab;
    r->n_ctx = afm_session_n_ctx(r->sess);
    r->cache = malloc((size_t)r->n_ctx * sizeof *r->cache);
    r->last = malloc((size_t)r->n_vocab * sizeof *r->last);
    if (!r->cache || !r->last) return afm_error(AFM_ERR_NOMEM, "eval buffers (vocabulary %d)", r->n_vocab);
    return AFM_OK;
}

static void runner_close(runner *r) {
    afm_session_free(r->sess);
    if (r->owns_adapter) afm_adapter_free(r->adapter);
    free(r->cache);
    free(r->last);
    memset(r, 0, sizeof *r);
}

/* Appends toks to the cache in one afm_session_eval call (the session splits it into its own
 * micro-batches); all_out (n x n_vocab) receives every row if given, r->last the last row. */
static afm_status append(runner *r, const int32_t *toks, int32_t n, float *all_out) {
    if (n <= 0) return AFM_OK;
    if (r->n_cache + n > r->n_ctx) return afm_error(AFM_ERR_RANGE, "%d tokens exceed the context of %d", r->n_cache + n, r->n_ctx);
    double t0 = afm_eval_now_s();
    afm_status st = afm_session_eval(r->sess, toks, n, all_out != NULL, all_out ? all_out : r->last);
    r->t_forward += afm_eval_now_s() - t0;
    if (st != AFM_OK) return st;
    r->n_forward += n;
    r->n_forward_calls += 1;
    memcpy(r->cache + r->n_cache, toks, (size_t)n * sizeof *toks);
    r->n_cache += n;
    if (all_out) memcpy(r->last, all_out + (size_t)(n - 1) * r->n_vocab, (size_t)r->n_vocab * sizeof(float));
    r->last_valid = true;
    return AFM_OK;
}

/* Makes the cache hold exactly toks[0..n) with r->last the logits after toks[n-1], reusing the
 * longest common prefix with what the cache holds. */
static afm_status feed(runner *r, const int32_t *toks, int32_t n) {
    if (n <= 0) return afm_error(AFM_ERR_INVALID_ARG, "empty prompt");
    if (n > r->n_ctx) return afm_error(AFM_ERR_RANGE, "prompt of %d tokens is longer than the context (%d)", n, r->n_ctx);
    int32_t l = 0;
    while (!r->no_reuse && l < n && l < r->n_cache && r->cache[l] == toks[l]) l++;
    if (l == n && l == r->n_cache && r->last_valid) { r->n_reused += n; return AFM_OK; }
    if (l == n) l = n - 1; /* re-evaluate the last token for its logits */
    r->n_reused += l;
    AFM_TRY(afm_session_rewind(r->sess, l));
    r->n_cache = l;
    r->last_valid = false;
    return append(r, toks + l, n - l, NULL);
}

/* log sum_i exp(x_i), the normalizer of log_softmax */
static double log_sum_exp(const float *x, int32_t n) {
    float m = x[0];
    for (int32_t i = 1; i < n; i++) if (x[i] > m) m = x[i];
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return (double)m + log(s);
}
static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static afm_status encode(runner *r, const char *text, bool bos, bool special, int32_t **ids, int32_t *n) {
    size_t k;
    double t0 = afm_eval_now_s();
    AFM_TRY(afm_tokenizer_encode(r->tok, text, strlen(text), bos && afm_tokenizer_add_bos(r->tok), special, ids, &k));
    r->t_tokenize += afm_eval_now_s() - t0;
    *n = (int32_t)k;
    return AFM_OK;
}

static cJSON *int_array(const int32_t *v, int32_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int32_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* log-likelihood of each continuation after ctx: lp[c] (sum over its tokens), greedy[c].
 *
 * The context is evaluated once (reusing the cached prefix); its last logits z give every
 * continuation's first token: log P(t | ctx) = z_t - logsumexp(z). A one-token continuation
 * (MMLU's " A".." D", BoolQ's " no"/" yes") therefore costs no forward pass at all: all choices
 * are read off one next-token distribution. A longer continuation c_0..c_{k-1} appends
 * c_0..c_{k-2} after the context (k-1 positions, all logits) for the remaining factors.
 * With r->no_reuse (the benchmark baseline) every choice evaluates context + continuation from
 * an empty cache, as a scorer without any sharing would. If tokens_out is given it receives
 * {"context": ids, "continuations": [ids...]}. special: the context holds special-token text
 * (chat-template output). */
static afm_status score_choices(runner *r, const char *ctx, bool special, const char *const *conts, int n_conts,
                                double *lp, bool *greedy, cJSON *tokens_out) {
    /* move trailing spaces of the context to the continuations */
    size_t cl = strlen(ctx), sp = 0;
    while (sp < cl && ctx[cl - 1 - sp] == ' ') sp++;
    char *c0 = afm_strndup(ctx, cl - sp);
    int32_t *cids = NULL, nc = 0;
    afm_status st = c0 ? encode(r, c0, true, special, &cids, &nc) : afm_error(AFM_ERR_NOMEM, "context");
    float *ctx_last = malloc((size_t)r->n_vocab * sizeof(float));
    if (!ctx_last && st == AFM_OK) st = afm_error(AFM_ERR_NOMEM, "logits");
    if (st == AFM_OK && !r->no_reuse) st = feed(r, cids, nc);
    if (st == AFM_OK && !r->no_reuse) memcpy(ctx_last, r->last, (size_t)r->n_vocab * sizeof(float));
    double ctx_lse = st == AFM_OK && !r->no_reuse ? log_sum_exp(ctx_last, r->n_vocab) : 0;
    int32_t ctx_best = st == AFM_OK && !r->no_reuse ? argmax(ctx_last, r->n_vocab) : -1;
    cJSON *conts_json = NULL;
    if (st == AFM_OK && tokens_out) {
        cJSON_AddItemToObject(tokens_out, "context", int_array(cids, nc));
        conts_json = cJSON_AddArrayToObject(tokens_out, "continuations");
    }
    for (int c = 0; c < n_conts && st == AFM_OK; c++) {
        afm_strbuf b;
        afm_sb_init(&b);
        afm_sb_puts(&b, c0);
        afm_sb_append(&b, ctx + cl - sp, sp);
        afm_sb_puts(&b, conts[c]);
        char *whole = afm_sb_take(&b);
        int32_t *wids = NULL, nw = 0;
        st = whole ? encode(r, whole, true, special, &wids, &nw) : afm_error(AFM_ERR_NOMEM, "continuation");
        free(whole);
        if (st != AFM_OK) break;
        int32_t ncont = nw - nc;
        if (ncont <= 0) { free(wids); st = afm_error(AFM_ERR_FORMAT, "choice %d adds no tokens to the context", c); break; }
        const int32_t *cont = wids + nc;
        if (conts_json) cJSON_AddItemToArray(conts_json, int_array(cont, ncont));
        if (r->no_reuse) { /* baseline: this choice's context from an empty cache */
            st = feed(r, cids, nc);
            if (st == AFM_OK) {
                memcpy(ctx_last, r->last, (size_t)r->n_vocab * sizeof(float));
                ctx_lse = log_sum_exp(ctx_last, r->n_vocab);
                ctx_best = argmax(ctx_last, r->n_vocab);
            }
        }
        double s = st == AFM_OK ? (double)ctx_last[cont[0]] - ctx_lse : 0;
        bool g = ctx_best == cont[0];
        if (st == AFM_OK && ncont > 1) {
            /* back to the end of the context, then c_0..c_{k-2}: row i predicts c_{i+1} */
            if (r->n_cache < nc || memcmp(r->cache, cids, (size_t)nc * sizeof *cids) != 0) st = feed(r, cids, nc);
            if (st == AFM_OK) st = afm_session_rewind(r->sess, nc);
            if (st == AFM_OK) r->n_cache = nc;
            float *rows = st == AFM_OK ? malloc((size_t)(ncont - 1) * r->n_vocab * sizeof(float)) : NULL;
            if (st == AFM_OK && !rows) st = afm_error(AFM_ERR_NOMEM, "continuation logits");
            if (st == AFM_OK) st = append(r, cont, ncont - 1, rows);
            for (int32_t i = 1; st == AFM_OK && i < ncont; i++) {
                const float *row = rows + (size_t)(i - 1) * r->n_vocab;
                s += (double)row[cont[i]] - log_sum_exp(row, r->n_vocab);
                g = g && argmax(row, r->n_vocab) == cont[i];
            }
            free(rows);
        }
        if (st == AFM_OK) {
            lp[c] = s;
            if (greedy) greedy[c] = g;
        }
        free(wids);
    }
    free(ctx_last);
    free(cids);
    free(c0);
    return st;
}

/* ---- greedy generation ----
 * After `prompt`, each step appends the argmax of r->last until an end-of-generation token, a stop
 * string (cut off the text), max_tokens or the context end (truncated); which one ended it is the
 * record's "finish" ("eos", "stop", "length", "context_full"), checked in that order each step. A generation is a state
 * on one runner, so that the steps of several runners (a worker's batch slots) can run as one
 * batched forward (afm_session_eval_multi): each runner's tokens, cache and logits stay its own,
 * and the quantized kernels compute each row as a lone decode step does, so an item's text does
 * not depend on which items run beside it. */
typedef struct gen {
    runner *r;
    int max_tokens, t;          /* cap; tokens appended so far */
    const char *const *stops;
    afm_strbuf b;               /* text so far */
    afm_detok_stream ds;
    bool truncated;             /* stopped by the context end */
    const char *finish;         /* why it ended: "eos", "stop", "length" or "context_full" (NULL: going on) */
    int n_gen;                  /* tokens chosen so far, not counting an end-of-generation token: the
                                 * appended ones (t), and with "stop" / "context_full" the last one,
                                 * whose text completed the stop string / is in the text but was not fed */
    int32_t next;               /* the token gen_next chose, to append */
} gen;

/* Before feeding toks[0..n) to r: if one of the peers' caches (the other slots of r's worker)
 * shares a longer prefix with toks than r's own, r's cache takes that prefix by copy (keys and
 * values computed once serve every slot: GSM8K's 8-shot prefix is evaluated once per worker, not
 * once per slot). The copied keys and values are those r would compute itself (each position's
 * row computed the same way in any batch with quantized weights; up to float rounding otherwise,
 * as with any reused prefix). */
static afm_status adopt_prefix(runner *r, runner *peers, int n_peers, const int32_t *toks, int32_t n) {
    if (r->no_reuse) return AFM_OK;
    int32_t own = 0, best = 0;
    while (own < n && own < r->n_cache && r->cache[own] == toks[own]) own++;
    runner *from = NULL;
    for (int k = 0; k < n_peers; k++) {
        runner *p = &peers[k];
        if (p == r) continue;
        int32_t l = 0;
        while (l < n && l < p->n_cache && p->cache[l] == toks[l]) l++;
        if (l > best) { best = l; from = p; }
    }
    if (!from || best <= own + AFM_EVAL_MIN_COPY) return AFM_OK;
    AFM_TRY(afm_session_copy_prefix(r->sess, from->sess, best));
    memcpy(r->cache, toks, (size_t)best * sizeof *toks);
    r->n_cache = best;
    r->last_valid = false;
    r->n_copied += best - own;
    return AFM_OK;
}

/* Encodes and feeds the prompt (reusing the cached prefix, or a longer one from a peer's cache).
 * On failure nothing needs freeing. */
static afm_status gen_start(gen *g, runner *r, runner *peers, int n_peers, const char *prompt, bool special, int max_tokens,
                            const char *const *stops) {
    memset(g, 0, sizeof *g);
    g->r = r;
    g->max_tokens = max_tokens;
    g->stops = stops;
    int32_t *ids = NULL, n = 0;
    AFM_TRY(encode(r, prompt, true, special, &ids, &n));
    afm_status st = n > r->n_ctx ? AFM_OK : adopt_prefix(r, peers, n_peers, ids, n);
    if (st == AFM_OK) st = feed(r, ids, n);
    free(ids);
    if (st != AFM_OK) return st;
    afm_sb_init(&g->b);
    afm_detok_init(&g->ds, r->tok);
    return AFM_OK;
}

/* Reads the next token off r->last: true with it in g->next if it is to be appended, false when
 * the generation ends here. */
static bool gen_next(gen *g) {
    runner *r = g->r;
    g->n_gen = g->t;
    if (g->t >= g->max_tokens) { g->finish = "length"; return false; }
    int32_t next = argmax(r->last, r->n_vocab);
    if (afm_tokenizer_is_eog(r->tok, next)) { g->finish = "eos"; return false; }
    g->n_gen = g->t + 1;
    char piece[256];
    size_t k = afm_detok_push(&g->ds, next, piece, sizeof piece);
    afm_sb_append(&g->b, piece, k);
    bool stop = false;
    for (const char *const *s = g->stops; s && *s && g->b.s; s++) {
        char *h = strstr(g->b.s, *s);
        if (h) { *h = '\0'; g->b.n = (size_t)(h - g->b.s); stop = true; }
    }
    if (stop) { g->finish = "stop"; return false; }
    if (r->n_cache >= r->n_ctx) { g->truncated = true; g->finish = "context_full"; return false; }
    g->next = next;
    return true;
}

/* The generated text (malloc'd; NULL when out of memory); frees the generation's buffers.
 * A token cap can stop in the middle of a character: invalid bytes become U+FFFD (as
 * tokenizers' lossy decode does), so results.json stays valid UTF-8. */
static char *gen_finish(gen *g) {
    char piece[256];
    size_t k = afm_detok_flush(&g->ds, piece, sizeof piece);
    afm_sb_append(&g->b, piece, k);
    afm_strbuf clean;
    afm_sb_init(&clean);
    for (size_t i = 0; g->b.s && i < g->b.n;) {
        int l = afm_utf8_valid_len((const unsigned char *)g->b.s + i, g->b.n - i);
        if (l > 0) { afm_sb_append(&clean, g->b.s + i, (size_t)l); i += (size_t)l; continue; }
        afm_sb_puts(&clean, "\xEF\xBF\xBD");
        i++;
        while (i < g->b.n && ((unsigned char)g->b.s[i] & 0xC0) == 0x80) i++; /* the rest of the broken sequence */
    }
    afm_sb_free(&g->b);
    return afm_sb_take(&clean);
}

/* One decode step of n generations: each appends its g->next. One runner: afm_session_eval as a
 * lone generation always did; several: one afm_session_eval_multi call (logits: n x n_vocab
 * scratch), then each runner's cache mirror and r->last as append() leaves them. The call's time
 * is booked on the first runner (profile sums over runners). */
static afm_status decode_step(gen *const *gs, int n, afm_session **sess, int32_t *toks, float *logits) {
    runner *r0 = gs[0]->r;
    double t0 = afm_eval_now_s();
    afm_status st;
    if (n == 1) {
        st = append(r0, &gs[0]->next, 1, NULL);
    } else {
        for (int k = 0; k < n; k++) {
            sess[k] = gs[k]->r->sess;
            toks[k] = gs[k]->next;
        }
        st = afm_session_eval_multi(sess, n, toks, logits);
        r0->t_forward += afm_eval_now_s() - t0;
        if (st == AFM_OK) {
            r0->n_forward_calls += 1;
            for (int k = 0; k < n; k++) {
                runner *r = gs[k]->r;
                memcpy(r->last, logits + (size_t)k * r->n_vocab, (size_t)r->n_vocab * sizeof(float));
                r->last_valid = true;
                r->cache[r->n_cache++] = toks[k];
                r->n_forward += 1;
            }
        }
    }
    r0->t_decode += afm_eval_now_s() - t0;
    if (st != AFM_OK) return st;
    r0->n_decode_calls += 1;
    for (int k = 0; k < n; k++) gs[k]->r->n_decode += 1;
    return AFM_OK;
}

/* ---------------------------------------------------------------- tasks */

static cJSON *item_error(size_t i, const char *what) {
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "index", (double)i);
    cJSON_AddStringToObject(rec, "error", what);
    return rec;
}

/* One multiple-choice item: its record; the accuracy sample goes to `metrics` (a deferring sink). */
static cJSON *choice_item(runner *r, afm_eval_prompts *pr, const afm_eval_record *rec, size_t i, afm_eval_results *metrics) {
    if (rec->error) return item_error(i, rec->error);
    afm_eval_choice_item ci;
    afm_status st = afm_eval_prompts_choice(pr, rec->json, &ci);
    if (st != AFM_OK) return item_error(i, afm_last_error());
    double lp[8];
    cJSON *toks = r->record_tokens ? cJSON_CreateObject() : NULL;
    st = score_choices(r, ci.context, false, (const char *const *)ci.choices, ci.n_choices, lp, NULL, toks);
    cJSON *j;
    if (st != AFM_OK) {
        j = item_error(i, afm_last_error());
        cJSON_Delete(toks);
    } else {
        int best = 0;
        for (int c = 1; c < ci.n_choices; c++) if (lp[c] > lp[best]) best = c;
        j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "index", (double)i);
        if (ci.subject) cJSON_AddStringToObject(j, "subject", ci.subject);
        cJSON *arr = cJSON_AddArrayToObject(j, "logprobs");
        for (int c = 0; c < ci.n_choices; c++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(lp[c]));
        cJSON_AddNumberToObject(j, "predicted", best);
        cJSON_AddNumberToObject(j, "gold", ci.gold);
        cJSON_AddBoolToObject(j, "correct", best == ci.gold);
        if (toks) cJSON_AddItemToObject(j, "tokens", toks);
        afm_eval_results_add(metrics, "accuracy", best == ci.gold);
    }
    afm_eval_choice_item_free(&ci);
    return j;
}

/* Choice and generation items are spread over parallel runners (one session each) in contiguous
 * ranges that idle workers split with busy ones (worksplit.h), so an MMLU subject's questions stay
 * together and keep sharing their few-shot prefix, and all workers finish at about the same time
 * whatever the items cost. Records land in recs[i] and metric samples in the worker's own results;
 * both are merged in data order afterwards. Which session evaluates an item, and which earlier
 * item's batches computed the prefix it reuses, varies from run to run: with kernels that compute
 * a token's row the same way in any batch (the quantized ones, session.c) the numbers equal a
 * one-session run's bit for bit; the f32 GEMM's order depends on the batch size, so there they
 * agree up to float rounding. */
typedef struct work {
    const afm_eval_task *task;
    const afm_eval_dataset *d;
    const afm_eval_run_options *o;
    runner *runners;
    afm_eval_samples *samples;  /* n: each item's metric samples, folded into the totals in data order */
    int *cap;                   /* per worker: the largest generation cap (max_tokens) its items had */
    cJSON **recs;               /* n */
    size_t n;
    afm_status *status;         /* one per worker */
    afm_progress *pb;
    pthread_mutex_t mu;         /* guards pb */
    afm_worksplit split;        /* which items each worker takes */
    int batch;                  /* generation: runners (batch slots) per worker, runners[k * batch ..] */
} work;

static void item_done(work *w) {
    pthread_mutex_lock(&w->mu);
    afm_progress_step(w->pb, 1);
    pthread_mutex_unlock(&w->mu);
}

/* ---- generation items, `batch` at a time per worker ----
 * Each of a worker's slots (one runner each, with its own cache and prefix reuse) generates one
 * item at a time; a slot whose item ended scores it and takes the worker's next item (whose prompt
 * it feeds on its own session, as a lone generation would), and every step decodes all slots that
 * are generating in one batched call. */
typedef struct slot {
    runner *r;
    long item;                  /* the item in progress, or -1 */
    afm_eval_gen_item g;        /* its prompt and stop strings */
    gen gen;
    char *err;                  /* a failed decode step's message (the item's error record), or NULL */
} slot;

/* Starts item i on slot s; false when it failed before generating (its error record is stored). */
static bool slot_start(work *w, int ith, afm_eval_prompts *pr, slot *s, long i) {
    const afm_eval_record *rec = &w->d->rec[i];
    if (rec->error) { w->recs[i] = item_error((size_t)i, rec->error); return false; }
    afm_status st = afm_eval_prompts_generate(pr, rec->json, w->o->chat ? afm_tokenizer_chat_template(s->r->tok) : NULL, &s->g);
    int cap = w->o->max_tokens > 0 ? w->o->max_tokens : s->g.max_tokens;
    if (st == AFM_OK && cap > w->cap[ith]) w->cap[ith] = cap;
    if (st == AFM_OK)
        st = gen_start(&s->gen, s->r, &w->runners[(size_t)ith * w->batch], w->batch, s->g.prompt, s->g.special, cap,
                       (const char *const *)s->g.stops);
    if (st != AFM_OK) {
        w->recs[i] = item_error((size_t)i, afm_last_error());
        afm_eval_gen_item_free(&s->g);
        return false;
    }
    s->item = i;
    return true;
}

/* Ends slot s's item: its record (response, finish reason, scores; metric samples into
 * w->samples[i]) or its error. */
static void slot_finish(work *w, slot *s) {
    long i = s->item;
    char *text = gen_finish(&s->gen);
    cJSON *j = NULL;
    if (s->err) {
        j = item_error((size_t)i, s->err);
    } else if (!text) {
        afm_error(AFM_ERR_NOMEM, "generated text");
        j = item_error((size_t)i, afm_last_error());
    } else {
        j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "index", (double)i);
        cJSON_AddStringToObject(j, "response", text);
        if (s->gen.truncated) cJSON_AddBoolToObject(j, "context_full", true);
        cJSON_AddStringToObject(j, "finish", s->gen.finish ? s->gen.finish : "?");
        cJSON_AddNumberToObject(j, "gen_tokens", s->gen.n_gen);
        afm_eval_results sink = {.defer = &w->samples[i]};
        if (w->task->score(w->d->rec[i].json, text, j, &sink) != AFM_OK) {
            cJSON_Delete(j);
            j = item_error((size_t)i, afm_last_error());
        }
    }
    w->recs[i] = j;
    free(text);
    free(s->err);
    s->err = NULL;
    afm_eval_gen_item_free(&s->g);
    s->item = -1;
    item_done(w);
}

/* Brings slot s to its next decode step: ends its item if the generation stopped (or its step
 * failed), then starts the worker's next items until one has a token to append. false: no item
 * left for this slot. */
static bool slot_ready(work *w, int ith, afm_eval_prompts *pr, slot *s) {
    for (;;) {
        if (s->item >= 0) {
            if (!s->err && gen_next(&s->gen)) return true;
            slot_finish(w, s);
        }
        long i = afm_worksplit_next(&w->split, ith);
        if (i < 0) return false;
        if (!slot_start(w, ith, pr, s, i)) item_done(w);
    }
}

static afm_status generate_items(work *w, int ith, afm_eval_prompts *pr) {
    int B = w->batch;
    runner *rs = &w->runners[(size_t)ith * B];
    slot *sl = calloc((size_t)B, sizeof *sl), **as = calloc((size_t)B, sizeof *as);
    gen **act = calloc((size_t)B, sizeof *act);
    afm_session **sess = calloc((size_t)B, sizeof *sess);
    int32_t *toks = calloc((size_t)B, sizeof *toks);
    float *logits = B > 1 ? malloc((size_t)B * rs[0].n_vocab * sizeof(float)) : NULL;
    afm_status st = sl && as && act && sess && toks && (B == 1 || logits) ? AFM_OK : afm_error(AFM_ERR_NOMEM, "generation slots");
    for (int k = 0; sl && k < B; k++) {
        sl[k].r = &rs[k];
        sl[k].item = -1;
    }
    for (int n = 1; st == AFM_OK && n > 0;) {
        n = 0;
        for (int k = 0; k < B; k++)
            if (slot_ready(w, ith, pr, &sl[k])) {
                as[n] = &sl[k];
                act[n++] = &sl[k].gen;
            }
        if (n == 0) break;
        afm_status ds = decode_step(act, n, sess, toks, logits);
        for (int k = 0; k < n; k++) {
            if (ds != AFM_OK && !(as[k]->err = strdup(afm_last_error()))) st = afm_error(AFM_ERR_NOMEM, "error message");
            act[k]->t++;
        }
    }
    for (int k = 0; sl && k < B; k++) /* items left unfinished by a failed run */
        if (sl[k].item >= 0) {
            free(gen_finish(&sl[k].gen));
            free(sl[k].err);
            afm_eval_gen_item_free(&sl[k].g);
        }
    free(sl);
    free(as);
    free(act);
    free(sess);
    free(toks);
    free(logits);
    return st;
}

static void items_worker(void *ctx, int ith, int nth) {
    (void)nth;
    work *w = ctx;
    afm_eval_prompts pr;
    const afm_eval_task *t = w->task;
    w->status[ith] = afm_eval_prompts_init(&pr, t->name, w->o->shots < 0 ? t->default_shots : w->o->shots, w->o->data_path);
    if (w->status[ith] != AFM_OK) return;
    if (t->kind == AFM_EVAL_GENERATE) {
        w->status[ith] = generate_items(w, ith, &pr);
    } else {
        for (long i; (i = afm_worksplit_next(&w->split, ith)) >= 0;) {
            afm_eval_results sink = {.defer = &w->samples[i]};
            w->recs[i] = choice_item(&w->runners[ith], &pr, &w->d->rec[i], (size_t)i, &sink);
            item_done(w);
        }
    }
    w->runners[(size_t)ith * w->batch].t_done = afm_eval_now_s();
    afm_eval_prompts_free(&pr);
}

/* results "finish": how the generations ended, counted over the records in data order */
static afm_status finish_summary(afm_eval_results *res, int cap) {
    static const char *const reasons[] = {"eos", "stop", "length", "context_full"};
    double count[4] = {0}, responses = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, res->items) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec, "finish");
        if (!cJSON_IsString(f)) continue;
        responses++;
        for (int k = 0; k < 4; k++) if (!strcmp(f->valuestring, reasons[k])) count[k]++;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return afm_error(AFM_ERR_NOMEM, "finish summary");
    for (int k = 0; k < 4; k++) cJSON_AddNumberToObject(o, reasons[k], count[k]);
    cJSON_AddNumberToObject(o, "responses", responses);
    cJSON_AddNumberToObject(o, "max_tokens", cap);
    cJSON_Delete(res->finish);
    res->finish = o;
    return AFM_OK;
}

static afm_status run_items(runner *runners, int n_workers, int batch, const afm_eval_task *task, const afm_eval_dataset *d,
                            size_t n, const afm_eval_run_options *o, afm_eval_results *res, afm_progress *pb, long *steals) {
    work w = {.task = task, .d = d, .o = o, .runners = runners, .n = n, .pb = pb, .batch = batch};
    w.samples = calloc(n ? n : 1, sizeof *w.samples);
    w.cap = calloc((size_t)n_workers, sizeof *w.cap);
    w.status = calloc((size_t)n_workers, sizeof *w.status);
    w.recs = calloc(n ? n : 1, sizeof *w.recs);
    afm_pool *pool = NULL;
    afm_status st = w.samples && w.cap && w.status && w.recs ? AFM_OK : afm_error(AFM_ERR_NOMEM, "eval work lists");
    if (st == AFM_OK && n_workers > 1) st = afm_pool_create(n_workers, &pool);
    if (st == AFM_OK) st = afm_worksplit_init(&w.split, (long)n, n_workers);
    if (st == AFM_OK) {
        pthread_mutex_init(&w.mu, NULL);
        afm_pool_run(pool, items_worker, &w); /* NULL pool (one worker): runs on this thread */
        pthread_mutex_destroy(&w.mu);
        *steals = w.split.steals;
        afm_worksplit_free(&w.split);
        for (int k = 0; k < n_workers && st == AFM_OK; k++) st = w.status[k];
        /* records and metric sums in data order, whichever session finished an item first */
        for (size_t i = 0; i < n; i++) {
            afm_eval_results_add_item(res, w.recs[i]);
            w.recs[i] = NULL;
            if (st == AFM_OK) st = afm_eval_results_fold(res, &w.samples[i]);
        }
        int cap = 0;
        for (int k = 0; k < n_workers; k++) if (w.cap[k] > cap) cap = w.cap[k];
        if (st == AFM_OK && task->kind == AFM_EVAL_GENERATE) st = finish_summary(res, cap);
    }
    afm_pool_free(pool);
    for (size_t i = 0; w.samples && i < n; i++) afm_eval_samples_free(&w.samples[i]);
    for (size_t i = 0; w.recs && i < n; i++) cJSON_Delete(w.recs[i]);
    free(w.samples);
    free(w.cap);
    free(w.status);
    free(w.recs);
    return st;
}

/* Perplexity over each item's "text" (JSONL) or the whole file: windows of n_ctx tokens, every
 * token after a window's first predicted from what precedes it in the window.
 * ppl = exp(NLL / tokens), bits per byte = NLL / (ln 2 * bytes of the predicted tokens). */
static afm_status run_perplexity(runner *r, const afm_eval_dataset *d, size_t n, afm_eval_results *res,
                                 afm_progress *pb) {
    double nll = 0, bytes = 0, tokens = 0;
    float *rows = malloc((size_t)BATCH * r->n_vocab * sizeof(float));
    if (!rows) return afm_error(AFM_ERR_NOMEM, "perplexity logits");
    for (size_t i = 0; i < n; i++) {
        const char *text = d->rec[i].json ? afm_eval_str(d->rec[i].json, "text") : NULL;
        if (!text) { afm_eval_results_add_item(res, item_error(i, d->rec[i].error ? d->rec[i].error : "no \"text\" string")); afm_progress_step(pb, 1); continue; }
        int32_t *ids = NULL, m = 0;
        afm_status st = encode(r, text, true, false, &ids, &m);
        double dn = 0, db = 0, dt = 0;
        for (int32_t w = 0; st == AFM_OK && w + 1 < m; w += r->n_ctx) {
            int32_t len = m - w < r->n_ctx ? m - w : r->n_ctx;
            st = afm_session_rewind(r->sess, 0);
            r->n_cache = 0;
            r->last_valid = false;
            for (int32_t k = 0; st == AFM_OK && k < len - 1; k += BATCH) {
                int32_t b = len - 1 - k < BATCH ? len - 1 - k : BATCH;
                st = append(r, ids + w + k, b, rows);
                for (int32_t t = 0; st == AFM_OK && t < b; t++) {
                    int32_t target = ids[w + k + t + 1];
                    const float *row = rows + (size_t)t * r->n_vocab;
                    dn -= (double)row[target] - log_sum_exp(row, r->n_vocab);
                    const char *tb;
                    size_t tl;
                    if (afm_tokenizer_token_bytes(r->tok, target, &tb, &tl) == AFM_OK) db += (double)tl;
                    dt += 1;
                }
            }
        }
        free(ids);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "index", (double)i);
        if (st != AFM_OK) {
            cJSON_Delete(j);
            j = item_error(i, afm_last_error());
        } else {
            cJSON_AddNumberToObject(j, "tokens", dt);
            cJSON_AddNumberToObject(j, "bytes", db);
            cJSON_AddNumberToObject(j, "nll", dn);
            nll += dn;
            bytes += db;
            tokens += dt;
        }
        afm_eval_results_add_item(res, j);
        afm_progress_step(pb, 1);
    }
    free(rows);
    /* corpus-level figures (one value each; their stderr is reported as 0) */
    if (tokens > 0) {
        afm_eval_results_add(res, "perplexity", exp(nll / tokens));
        afm_eval_results_add(res, "bits_per_byte", bytes > 0 ? nll / (log(2.0) * bytes) : NAN);
        afm_eval_results_add(res, "nll_per_token", nll / tokens);
        cJSON_AddNumberToObject(res->config, "tokens_scored", tokens);
        cJSON_AddNumberToObject(res->config, "bytes_scored", bytes);
    }
    return AFM_OK;
}

afm_status afm_eval_run_model(const afm_eval_task *task, const afm_eval_dataset *data, const char *model_path,
                              const afm_eval_run_options *opt, afm_eval_results *res) {
    if (task->kind == AFM_EVAL_PAIRWISE)
        return afm_error(AFM_ERR_INVALID_ARG, "task '%s' judges given responses: use afm_eval_run_pairwise", task->name);
    if (opt->parallel < 0) return afm_error(AFM_ERR_INVALID_ARG, "--parallel %d: expected >= 0", opt->parallel);
    size_t n = data ? data->n : 0;
    if (opt->limit > 0 && (size_t)opt->limit < n) n = (size_t)opt->limit;
    /* threads in all; parallel sessions (default: one single-threaded session per thread for
     * choice and generation tasks, which scale better than threads inside one session) */
    int threads = opt->n_threads > 0 ? opt->n_threads : afm_cpu_count();
    int workers = task->kind == AFM_EVAL_PERPLEXITY ? 1 : opt->parallel > 0 ? opt->parallel : threads;
    if ((size_t)workers > n) workers = n > 0 ? (int)n : 1;
    if (workers > 256) workers = 256;
    int per = threads / workers > 0 ? threads / workers : 1;
    /* generation: `batch` slots (runners) per worker, no more than its share of the items */
    if (opt->batch < 0 || opt->batch > AFM_EVAL_MAX_BATCH)
        return afm_error(AFM_ERR_INVALID_ARG, "--batch %d: expected 1..%d (0: the default, %d)", opt->batch, AFM_EVAL_MAX_BATCH,
                         AFM_EVAL_DEFAULT_BATCH);
    int batch = task->kind != AFM_EVAL_GENERATE ? 1 : opt->batch > 0 ? opt->batch : AFM_EVAL_DEFAULT_BATCH;
    size_t share = (n + (size_t)workers - 1) / (size_t)workers;
    if ((size_t)batch > share) batch = share > 0 ? (int)share : 1;
    int n_runners = workers * batch;
    afm_model *model = NULL;
    afm_tokenizer *tok = NULL;
    runner *rs = calloc((size_t)n_runners, sizeof *rs);
    afm_status st = rs ? afm_model_load(model_path, &model) : afm_error(AFM_ERR_NOMEM, "runners");
    if (st == AFM_OK) st = afm_tokenizer_load(model_path, NULL, &tok);
    for (int k = 0; k < n_runners && st == AFM_OK; k++) /* a worker's slots share its first slot's adapter */
        st = runner_open(&rs[k], model, tok, per, opt, k % batch ? rs[k - k % batch].adapter : NULL);
    if (st == AFM_OK) {
        if (opt->no_prefix_cache) cJSON_AddBoolToObject(res->config, "no_prefix_cache", true);
        cJSON_AddNumberToObject(res->config, "n_ctx", rs[0].n_ctx);
        cJSON_AddNumberToObject(res->config, "shots", opt->shots < 0 ? task->default_shots : opt->shots);
        cJSON_AddNumberToObject(res->config, "sessions", workers);
        cJSON_AddNumberToObject(res->config, "threads_per_session", per);
        if (task->kind == AFM_EVAL_GENERATE) {
            cJSON_AddNumberToObject(res->config, "batch", batch);
            if (opt->max_tokens > 0) cJSON_AddNumberToObject(res->config, "max_tokens", opt->max_tokens);
            cJSON_AddBoolToObject(res->config, "chat_template", opt->chat);
        }
        double t0 = afm_eval_now_s();
        long steals = 0;
        afm_progress pb;
        afm_progress_start(&pb, opt->progress ? stderr : NULL, task->name, (int64_t)n);
        if (task->kind == AFM_EVAL_PERPLEXITY) st = run_perplexity(&rs[0], data, n, res, &pb);
        else st = run_items(rs, workers, batch, task, data, n, opt, res, &pb, &steals);
        afm_progress_end(&pb);
        if (st == AFM_OK && task->finish) task->finish(res);
        cJSON_AddNumberToObject(res->config, "seconds", afm_eval_now_s() - t0);
        runner tot = {0};
        for (int k = 0; k < n_runners; k++) {
            tot.n_forward += rs[k].n_forward;
            tot.n_reused += rs[k].n_reused;
            tot.n_copied += rs[k].n_copied;
            tot.n_forward_calls += rs[k].n_forward_calls;
            tot.t_forward += rs[k].t_forward;
            tot.t_tokenize += rs[k].t_tokenize;
            tot.n_decode += rs[k].n_decode;
            tot.n_decode_calls += rs[k].n_decode_calls;
            tot.t_decode += rs[k].t_decode;
        }
        cJSON *prof = cJSON_AddObjectToObject(res->config, "profile"); /* seconds summed over sessions */
        cJSON_AddNumberToObject(prof, "tokens_forward", tot.n_forward);
        cJSON_AddNumberToObject(prof, "tokens_reused", tot.n_reused);
        cJSON_AddNumberToObject(prof, "forward_calls", tot.n_forward_calls);
        cJSON_AddNumberToObject(prof, "forward_seconds", tot.t_forward);
        cJSON_AddNumberToObject(prof, "tokenize_seconds", tot.t_tokenize);
        if (task->kind == AFM_EVAL_GENERATE) { /* the generation steps among the forward calls */
            cJSON_AddNumberToObject(prof, "tokens_copied", tot.n_copied); /* of tokens_reused: from another slot */
            cJSON_AddNumberToObject(prof, "decode_tokens", tot.n_decode);
            cJSON_AddNumberToObject(prof, "decode_calls", tot.n_decode_calls);
            cJSON_AddNumberToObject(prof, "decode_seconds", tot.t_decode);
        }
        cJSON_AddNumberToObject(prof, "work_steals", (double)steals); /* item ranges split between sessions */
        if (task->kind != AFM_EVAL_PERPLEXITY) { /* when each session ran out of items (balance) */
            cJSON *done = cJSON_AddArrayToObject(prof, "sessions_done_seconds");
            for (int k = 0; done && k < workers; k++)
                cJSON_AddItemToArray(done, cJSON_CreateNumber(rs[k * batch].t_done > 0 ? rs[k * batch].t_done - t0 : 0));
        }
    }
    for (int k = 0; rs && k < n_runners; k++) runner_close(&rs[k]);
    free(rs);
    afm_tokenizer_free(tok);
    afm_model_free(model);
    return st;
}

/* ---------------------------------------------------------------- access for other drivers */

struct afm_eval_model { afm_model *model; afm_tokenizer *tok; runner r; };

void afm_eval_model_close(afm_eval_model *m) {
    if (!m) return;
    runner_close(&m->r);
    afm_tokenizer_free(m->tok);
    afm_model_free(m->model);
    free(m);
}

afm_status afm_eval_model_open(const char *model_path, const afm_eval_run_options *opt, afm_eval_model **out) {
    *out = NULL;
    afm_eval_model *m = calloc(1, sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "judge model");
    afm_status st = afm_model_load(model_path, &m->model);
    if (st == AFM_OK) st = afm_tokenizer_load(model_path, NULL, &m->tok);
    if (st == AFM_OK) st = runner_open(&m->r, m->model, m->tok, opt->n_threads, opt, NULL);
    if (st != AFM_OK) { afm_eval_model_close(m); return st; }
    *out = m;
    return AFM_OK;
}

const char *afm_eval_model_chat_template(const afm_eval_model *m) { return afm_tokenizer_chat_template(m->r.tok); }
int32_t afm_eval_model_n_ctx(const afm_eval_model *m) { return m->r.n_ctx; }

afm_status afm_eval_model_loglik(afm_eval_model *m, const char *context, bool special, const char *const *conts, int n,
                                 double *lp) {
    return score_choices(&m->r, context, special, conts, n, lp, NULL, NULL);
}
