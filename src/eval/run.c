/* Model-driven evaluation (see run.h).
 *
 * One inference session per run. A mirror of the tokens in its KV cache lets every new request
 * reuse the longest common token prefix (afm_session_rewind), so a multiple-choice item
 * evaluates its prompt once for all choices, and consecutive items of one MMLU subject share the
 * 5-shot prefix without re-evaluating it.
 *
 * log P(continuation | context) = sum_i log_softmax(logits_{i-1})[cont_i], where logits_{-1} are
 * the logits after the context's last token. Context/continuation split as lm-evaluation-harness:
 * trailing spaces of the context move to the continuation; cont = enc(ctx + cont)[len(enc(ctx)):]. */
#include "eval/run.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/adapter.h"
#include "afm/model.h"
#include "base/error.h"
#include "eval/progress.h"
#include "eval/prompts.h"
#include "eval/strbuf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

void afm_eval_run_options_default(afm_eval_run_options *o) {
    *o = (afm_eval_run_options){.limit = 0, .shots = -1, .n_threads = 0, .n_ctx = 0, .max_tokens = 0,
                                .progress = true, .chat = true, .adapter = NULL, .adapter_scale = 1.0f};
}

typedef struct runner {
    afm_model *model;
    afm_tokenizer *tok;
    afm_session *sess;
    afm_adapter *adapter;  /* LoRA adapter applied in the session, or NULL */
    int32_t n_vocab, n_ctx;
    int32_t *cache;        /* tokens in the KV cache, in order */
    int32_t n_cache;
    float *logits;         /* scratch: up to BATCH rows of n_vocab */
    float *last;           /* logits after cache[n_cache - 1] */
    bool last_valid;
    bool no_reuse;         /* always start from an empty cache */
} runner;

enum { BATCH = 64 };

static afm_status runner_open(runner *r, const char *path, const afm_eval_run_options *o) {
    memset(r, 0, sizeof *r);
    AFM_TRY(afm_model_load(path, &r->model));
    afm_status st = afm_tokenizer_load(path, NULL, &r->tok);
    afm_session_options so = {.n_ctx = o->n_ctx, .n_threads = o->n_threads};
    if (st == AFM_OK) st = afm_session_create(r->model, &so, &r->sess);
    if (st == AFM_OK && o->adapter) {
        st = afm_adapter_load(r->model, o->adapter, &r->adapter);
        float scale = o->adapter_scale;
        if (st == AFM_OK) st = afm_session_set_adapters(r->sess, &r->adapter, &scale, 1);
    }
    if (st == AFM_OK) {
        r->n_vocab = afm_model_config(r->model)->n_vocab;
        r->n_ctx = afm_session_n_ctx(r->sess);
        r->cache = malloc((size_t)r->n_ctx * sizeof *r->cache);
        r->logits = malloc((size_t)BATCH * (size_t)r->n_vocab * sizeof *r->logits);
        r->last = malloc((size_t)r->n_vocab * sizeof *r->last);
        if (!r->cache || !r->logits || !r->last) st = afm_error(AFM_ERR_NOMEM, "eval buffers (vocabulary %d)", r->n_vocab);
    }
    return st;
}

static void runner_close(runner *r) {
    afm_session_free(r->sess);
    afm_adapter_free(r->adapter);
    afm_tokenizer_free(r->tok);
    afm_model_free(r->model);
    free(r->cache);
    free(r->logits);
    free(r->last);
    memset(r, 0, sizeof *r);
}

/* Appends toks to the cache in batches; all_out (n x n_vocab) receives every row if given,
 * r->last always receives the last row. */
static afm_status append(runner *r, const int32_t *toks, int32_t n, float *all_out) {
    if (r->n_cache + n > r->n_ctx) return afm_error(AFM_ERR_RANGE, "%d tokens exceed the context of %d", r->n_cache + n, r->n_ctx);
    for (int32_t i = 0; i < n; i += BATCH) {
        int32_t b = n - i < BATCH ? n - i : BATCH;
        bool all = all_out != NULL;
        AFM_TRY(afm_session_eval(r->sess, toks + i, b, all, r->logits));
        memcpy(r->cache + r->n_cache, toks + i, (size_t)b * sizeof *toks);
        r->n_cache += b;
        if (all) memcpy(all_out + (size_t)i * r->n_vocab, r->logits, (size_t)b * r->n_vocab * sizeof(float));
        memcpy(r->last, r->logits + (all ? (size_t)(b - 1) * r->n_vocab : 0), (size_t)r->n_vocab * sizeof(float));
    }
    r->last_valid = n > 0 || r->last_valid;
    return AFM_OK;
}

/* Makes the cache hold exactly toks[0..n) with r->last the logits after toks[n-1], reusing the
 * longest common prefix with what the cache holds. */
static afm_status feed(runner *r, const int32_t *toks, int32_t n) {
    if (n <= 0) return afm_error(AFM_ERR_INVALID_ARG, "empty prompt");
    if (n > r->n_ctx) return afm_error(AFM_ERR_RANGE, "prompt of %d tokens is longer than the context (%d)", n, r->n_ctx);
    int32_t l = 0;
    while (!r->no_reuse && l < n && l < r->n_cache && r->cache[l] == toks[l]) l++;
    if (l == n && l == r->n_cache && r->last_valid) return AFM_OK;
    if (l == n) l = n - 1; /* re-evaluate the last token for its logits */
    AFM_TRY(afm_session_rewind(r->sess, l));
    r->n_cache = l;
    return append(r, toks + l, n - l, NULL);
}

static double log_softmax_at(const float *x, int32_t n, int32_t k) {
    float m = x[0];
    for (int32_t i = 1; i < n; i++) if (x[i] > m) m = x[i];
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return (double)(x[k] - m) - log(s);
}
static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static afm_status encode(runner *r, const char *text, bool bos, bool special, int32_t **ids, int32_t *n) {
    size_t k;
    AFM_TRY(afm_tokenizer_encode(r->tok, text, strlen(text), bos && afm_tokenizer_add_bos(r->tok), special, ids, &k));
    *n = (int32_t)k;
    return AFM_OK;
}

/* log-likelihood of each continuation after ctx: lp[c] (sum over its tokens), greedy[c] */
static afm_status score_choices(runner *r, const char *ctx, bool special, const char *const *conts, int n_conts,
                                double *lp, bool *greedy) {
    /* move trailing spaces of the context to the continuations */
    size_t cl = strlen(ctx), sp = 0;
    while (sp < cl && ctx[cl - 1 - sp] == ' ') sp++;
    char *c0 = afm_strndup(ctx, cl - sp);
    int32_t *cids = NULL, nc = 0;
    afm_status st = c0 ? encode(r, c0, true, special, &cids, &nc) : afm_error(AFM_ERR_NOMEM, "context");
    float *ctx_last = malloc((size_t)r->n_vocab * sizeof(float));
    if (!ctx_last && st == AFM_OK) st = afm_error(AFM_ERR_NOMEM, "logits");
    if (st == AFM_OK) st = feed(r, cids, nc);
    if (st == AFM_OK) memcpy(ctx_last, r->last, (size_t)r->n_vocab * sizeof(float));
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
        /* back to the end of the context; its last logits predict the first continuation token */
        if (r->no_reuse || r->n_cache < nc || memcmp(r->cache, cids, (size_t)nc * sizeof *cids) != 0) {
            st = feed(r, cids, nc);
        } else {
            st = afm_session_rewind(r->sess, nc);
            r->n_cache = nc;
        }
        float *rows = st == AFM_OK ? malloc((size_t)ncont * r->n_vocab * sizeof(float)) : NULL;
        if (st == AFM_OK && !rows) st = afm_error(AFM_ERR_NOMEM, "continuation logits");
        if (st == AFM_OK) st = append(r, wids + nc, ncont, rows);
        if (st == AFM_OK) {
            double s = log_softmax_at(ctx_last, r->n_vocab, wids[nc]);
            bool g = argmax(ctx_last, r->n_vocab) == wids[nc];
            for (int32_t i = 1; i < ncont; i++) {
                const float *row = rows + (size_t)(i - 1) * r->n_vocab;
                s += log_softmax_at(row, r->n_vocab, wids[nc + i]);
                g = g && argmax(row, r->n_vocab) == wids[nc + i];
            }
            lp[c] = s;
            if (greedy) greedy[c] = g;
        }
        free(rows);
        free(wids);
    }
    free(ctx_last);
    free(cids);
    free(c0);
    return st;
}

/* Greedy generation after `prompt` until an end-of-generation token, a stop string or
 * max_tokens; *out malloc'd (stop string excluded). *truncated: stopped by the context end. */
static afm_status generate(runner *r, const char *prompt, bool special, int max_tokens, const char *const *stops,
                           char **out, bool *truncated) {
    int32_t *ids = NULL, n = 0;
    AFM_TRY(encode(r, prompt, true, special, &ids, &n));
    afm_status st = feed(r, ids, n);
    free(ids);
    *truncated = false;
    afm_strbuf b;
    afm_sb_init(&b);
    afm_detok_stream ds;
    afm_detok_init(&ds, r->tok);
    char piece[256];
    for (int t = 0; st == AFM_OK && t < max_tokens; t++) {
        int32_t next = argmax(r->last, r->n_vocab);
        if (afm_tokenizer_is_eog(r->tok, next)) break;
        size_t k = afm_detok_push(&ds, next, piece, sizeof piece);
        afm_sb_append(&b, piece, k);
        bool stop = false;
        for (const char *const *s = stops; s && *s && b.s; s++) {
            char *h = strstr(b.s, *s);
            if (h) { *h = '\0'; b.n = (size_t)(h - b.s); stop = true; }
        }
        if (stop) break;
        if (r->n_cache >= r->n_ctx) { *truncated = true; break; }
        st = append(r, &next, 1, NULL);
    }
    size_t k = afm_detok_flush(&ds, piece, sizeof piece);
    afm_sb_append(&b, piece, k);
    /* a token cap can stop in the middle of a character: invalid bytes become U+FFFD (as
     * tokenizers' lossy decode does), so results.json stays valid UTF-8 */
    afm_strbuf clean;
    afm_sb_init(&clean);
    for (size_t i = 0; b.s && i < b.n;) {
        int l = afm_utf8_valid_len((const unsigned char *)b.s + i, b.n - i);
        if (l > 0) { afm_sb_append(&clean, b.s + i, (size_t)l); i += (size_t)l; continue; }
        afm_sb_puts(&clean, "\xEF\xBF\xBD");
        i++;
        while (i < b.n && ((unsigned char)b.s[i] & 0xC0) == 0x80) i++; /* the rest of the broken sequence */
    }
    afm_sb_free(&b);
    *out = afm_sb_take(&clean);
    if (st == AFM_OK && !*out) st = afm_error(AFM_ERR_NOMEM, "generated text");
    return st;
}

/* ---------------------------------------------------------------- tasks */

static cJSON *item_error(size_t i, const char *what) {
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "index", (double)i);
    cJSON_AddStringToObject(rec, "error", what);
    return rec;
}

static afm_status run_choice(runner *r, const afm_eval_task *task, const afm_eval_dataset *d, size_t n,
                             const afm_eval_run_options *o, afm_eval_results *res, afm_progress *pb) {
    afm_eval_prompts pr;
    AFM_TRY(afm_eval_prompts_init(&pr, task->name, o->shots < 0 ? task->default_shots : o->shots, o->data_path));
    for (size_t i = 0; i < n; i++) {
        const afm_eval_record *rec = &d->rec[i];
        if (rec->error) { afm_eval_results_add_item(res, item_error(i, rec->error)); afm_progress_step(pb, 1); continue; }
        afm_eval_choice_item ci;
        afm_status st = afm_eval_prompts_choice(&pr, rec->json, &ci);
        double lp[8];
        if (st == AFM_OK) st = score_choices(r, ci.context, false, (const char *const *)ci.choices, ci.n_choices, lp, NULL);
        if (st != AFM_OK) {
            afm_eval_results_add_item(res, item_error(i, afm_last_error()));
        } else {
            int best = 0;
            for (int c = 1; c < ci.n_choices; c++) if (lp[c] > lp[best]) best = c;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "index", (double)i);
            if (ci.subject) cJSON_AddStringToObject(j, "subject", ci.subject);
            cJSON *arr = cJSON_AddArrayToObject(j, "logprobs");
            for (int c = 0; c < ci.n_choices; c++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(lp[c]));
            cJSON_AddNumberToObject(j, "predicted", best);
            cJSON_AddNumberToObject(j, "gold", ci.gold);
            cJSON_AddBoolToObject(j, "correct", best == ci.gold);
            afm_eval_results_add(res, "accuracy", best == ci.gold);
            afm_eval_results_add_item(res, j);
        }
        afm_eval_choice_item_free(&ci);
        afm_progress_step(pb, 1);
    }
    afm_eval_prompts_free(&pr);
    return AFM_OK;
}

static afm_status run_generate(runner *r, const afm_eval_task *task, const afm_eval_dataset *d, size_t n,
                               const afm_eval_run_options *o, afm_eval_results *res, afm_progress *pb) {
    afm_eval_prompts pr;
    AFM_TRY(afm_eval_prompts_init(&pr, task->name, o->shots < 0 ? task->default_shots : o->shots, o->data_path));
    const char *tmpl = afm_tokenizer_chat_template(r->tok);
    for (size_t i = 0; i < n; i++) {
        const afm_eval_record *rec = &d->rec[i];
        if (rec->error) { afm_eval_results_add_item(res, item_error(i, rec->error)); afm_progress_step(pb, 1); continue; }
        afm_eval_gen_item g;
        afm_status st = afm_eval_prompts_generate(&pr, rec->json, o->chat ? tmpl : NULL, &g);
        char *text = NULL;
        bool trunc = false;
        if (st == AFM_OK) st = generate(r, g.prompt, g.special, o->max_tokens > 0 ? o->max_tokens : g.max_tokens,
                                        (const char *const *)g.stops, &text, &trunc);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "index", (double)i);
        if (st == AFM_OK) {
            cJSON_AddStringToObject(j, "response", text);
            if (trunc) cJSON_AddBoolToObject(j, "context_full", true);
            st = task->score(rec->json, text, j, res);
        }
        if (st != AFM_OK) { cJSON_Delete(j); j = item_error(i, afm_last_error()); }
        afm_eval_results_add_item(res, j);
        free(text);
        afm_eval_gen_item_free(&g);
        afm_progress_step(pb, 1);
    }
    afm_eval_prompts_free(&pr);
    return AFM_OK;
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
                    dn -= log_softmax_at(rows + (size_t)t * r->n_vocab, r->n_vocab, target);
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
    runner r;
    afm_status st = runner_open(&r, model_path, opt);
    if (st != AFM_OK) { runner_close(&r); return st; }
    r.no_reuse = opt->no_prefix_cache;
    if (r.no_reuse) cJSON_AddBoolToObject(res->config, "no_prefix_cache", true);
    size_t n = data ? data->n : 0;
    if (opt->limit > 0 && (size_t)opt->limit < n) n = (size_t)opt->limit;
    cJSON_AddNumberToObject(res->config, "n_ctx", r.n_ctx);
    double t0 = afm_eval_now_s();
    cJSON_AddNumberToObject(res->config, "shots", opt->shots < 0 ? task->default_shots : opt->shots);
    afm_progress pb;
    afm_progress_start(&pb, opt->progress ? stderr : NULL, task->name, (int64_t)n);
    if (task->kind == AFM_EVAL_CHOICE) st = run_choice(&r, task, data, n, opt, res, &pb);
    else if (task->kind == AFM_EVAL_GENERATE) st = run_generate(&r, task, data, n, opt, res, &pb);
    else st = run_perplexity(&r, data, n, res, &pb);
    afm_progress_end(&pb);
    if (st == AFM_OK && task->finish) task->finish(res);
    cJSON_AddNumberToObject(res->config, "seconds", afm_eval_now_s() - t0);
    runner_close(&r);
    return st;
}

/* ---------------------------------------------------------------- access for other drivers */

struct afm_eval_model { runner r; };

afm_status afm_eval_model_open(const char *model_path, const afm_eval_run_options *opt, afm_eval_model **out) {
    *out = NULL;
    afm_eval_model *m = calloc(1, sizeof *m);
    if (!m) return afm_error(AFM_ERR_NOMEM, "judge model");
    afm_status st = runner_open(&m->r, model_path, opt);
    if (st != AFM_OK) { runner_close(&m->r); free(m); return st; }
    m->r.no_reuse = opt->no_prefix_cache;
    *out = m;
    return AFM_OK;
}

void afm_eval_model_close(afm_eval_model *m) {
    if (!m) return;
    runner_close(&m->r);
    free(m);
}

const char *afm_eval_model_chat_template(const afm_eval_model *m) { return afm_tokenizer_chat_template(m->r.tok); }
int32_t afm_eval_model_n_ctx(const afm_eval_model *m) { return m->r.n_ctx; }

afm_status afm_eval_model_loglik(afm_eval_model *m, const char *context, bool special, const char *const *conts, int n,
                                 double *lp) {
    return score_choices(&m->r, context, special, conts, n, lp, NULL);
}
