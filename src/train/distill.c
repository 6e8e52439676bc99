/* Distillation targets and losses (see distill.h). */
#include "train/distill.h"
#include "train/data.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- recipe ---------------- */
static afm_status get_num(const cJSON *o, const char *key, double lo, double hi, bool lo_open, double dflt, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) { *out = dflt; return AFM_OK; }
    if (!cJSON_IsNumber(v) || !(lo_open ? v->valuedouble > lo : v->valuedouble >= lo) || !(v->valuedouble <= hi))
        return afm_error(AFM_ERR_FORMAT, "recipe: distill.%s must be a number in %s%g, %g]", key, lo_open ? "(" : "[", lo, hi);
    *out = v->valuedouble;
    return AFM_OK;
}

afm_status afm_distill_parse(const void *json_object, afm_distill_config *c) {
    memset(c, 0, sizeof *c);
    c->top1_weight = 0.9f;
    c->temperature = 1.0f;
    const cJSON *o = json_object;
    if (!o) return AFM_OK;
    if (!cJSON_IsObject(o)) return afm_error(AFM_ERR_FORMAT, "recipe: \"distill\" must be an object");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(o, "mode");
    if (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "afm") && strcmp(mode->valuestring, "kl")))
        return afm_error(AFM_ERR_FORMAT, "recipe: distill.mode must be \"afm\" (0.9 teacher top-1 + 0.1 label) or \"kl\" (soft targets)");
    bool kl = !strcmp(mode->valuestring, "kl");
    const char *const afm_keys[] = {"teacher", "mode", "top1_weight", NULL}, *const kl_keys[] = {"teacher", "mode", "temperature", "alpha", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, o) {
        bool ok = false;
        for (const char *const *a = kl ? kl_keys : afm_keys; *a; a++) ok = ok || !strcmp(*a, k->string);
        if (!ok) return afm_error(AFM_ERR_FORMAT, "recipe: unknown key \"%s\" in distill (mode \"%s\" takes %s)", k->string,
                                  mode->valuestring, kl ? "teacher, temperature, alpha" : "teacher, top1_weight");
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "teacher");
    if (!cJSON_IsString(t) || !t->valuestring[0]) return afm_error(AFM_ERR_FORMAT, "recipe: distill.teacher must be the path of a GGUF model");
    if (strlen(t->valuestring) >= sizeof c->teacher) return afm_error(AFM_ERR_FORMAT, "recipe: distill.teacher path is too long");
    snprintf(c->teacher, sizeof c->teacher, "%s", t->valuestring);
    double d = 0;
    c->mode = kl ? AFM_DISTILL_KL : AFM_DISTILL_AFM;
    AFM_TRY(get_num(o, "top1_weight", 0, 1, false, 0.9, &d)); c->top1_weight = (float)d;
    AFM_TRY(get_num(o, "temperature", 0, 1000, true, 1, &d)); c->temperature = (float)d;
    AFM_TRY(get_num(o, "alpha", 0, 1, false, 0, &d)); c->alpha = (float)d;
    return AFM_OK;
}

/* ---------------- loss ---------------- */
/* log Σ exp(x_j / T) in double */
static double lse_t(const float *x, long V, double T) {
    double mx = -INFINITY;
    for (long j = 0; j < V; j++) if (x[j] / T > mx) mx = x[j] / T;
    double s = 0.0;
    for (long j = 0; j < V; j++) s += exp(x[j] / T - mx);
    return mx + log(s);
}

afm_status afm_distill_loss(const afm_distill_config *c, float *logits, const float *teacher, const int32_t *labels,
                            long N, long V, bool want_grad, float scale, afm_distill_stats *out) {
    long cnt = 0;
    for (long n = 0; n < N; n++) cnt += labels[n] >= 0;
    afm_distill_sums s = {0};
    AFM_TRY(afm_distill_loss_rows(c, logits, teacher, labels, N, V, want_grad, scale, cnt, &s));
    out->loss = cnt > 0 ? s.loss / (double)cnt : 0.0;
    out->kl1 = cnt > 0 ? s.kl1 / (double)cnt : 0.0;
    out->top1 = cnt > 0 ? s.top1 / (double)cnt : 0.0;
    out->n_valid = cnt;
    return AFM_OK;
}

afm_status afm_distill_loss_rows(const afm_distill_config *c, float *logits, const float *teacher, const int32_t *labels,
                                 long N, long V, bool want_grad, float scale, long n_total, afm_distill_sums *acc) {
    if (c->mode != AFM_DISTILL_AFM && c->mode != AFM_DISTILL_KL) return afm_error(AFM_ERR_INVALID_ARG, "distillation loss: no mode set");
    for (long n = 0; n < N; n++)
        if (labels[n] >= V) return afm_error(AFM_ERR_RANGE, "distillation: label %d at position %ld is outside the vocabulary [0, %ld)", labels[n], n, V);
    double sum = acc->loss, sum_kl = acc->kl1, agree = acc->top1;
    long cnt = acc->n_valid;
    const double T = c->temperature, a = c->alpha, w = c->top1_weight;
    const double g = n_total > 0 ? (double)scale / (double)n_total : 0.0;
    for (long n = 0; n < N; n++) {
        float *z = logits + n * V;
        const float *t = teacher + n * V;
        int32_t y = labels[n];
        if (y < 0) { if (want_grad) memset(z, 0, sizeof(float) * (size_t)V); continue; }
        cnt++;
        double lz = lse_t(z, V, 1.0), lt = lse_t(t, V, 1.0);
        /* monitoring: KL(σ(t) || σ(z)) = Σ p_j ((t_j - lt) - (z_j - lz)) */
        double k1 = 0.0;
        for (long j = 0; j < V; j++) k1 += exp(t[j] - lt) * ((t[j] - lt) - (z[j] - lz));
        sum_kl += k1;
        long top = 0, ztop = 0;
        for (long j = 1; j < V; j++) {
            if (t[j] > t[top]) top = j;
            if (z[j] > z[ztop]) ztop = j;
        }
        agree += ztop == top;
        if (c->mode == AFM_DISTILL_AFM) {
            sum += lz - w * z[top] - (1.0 - w) * z[y];
            if (want_grad) {
                for (long j = 0; j < V; j++) z[j] = (float)(g * exp(z[j] - lz));
                z[top] -= (float)(g * w);
                z[y] -= (float)(g * (1.0 - w));
            }
        } else {
            double lzT = lse_t(z, V, T), ltT = lse_t(t, V, T), kl = 0.0;
            for (long j = 0; j < V; j++) {
                double lp = t[j] / T - ltT, ls = z[j] / T - lzT;
                kl += exp(lp) * (lp - ls);
            }
            sum += a * (lz - z[y]) + (1.0 - a) * T * T * kl;
            if (want_grad) {
                for (long j = 0; j < V; j++) {
                    double pz = exp(z[j] - lz), s = exp(z[j] / T - lzT), p = exp(t[j] / T - ltT);
                    z[j] = (float)(g * (a * pz + (1.0 - a) * T * (s - p)));
                }
                z[y] -= (float)(g * a);
            }
        }
    }
    acc->loss = sum;
    acc->kl1 = sum_kl;
    acc->top1 = agree;
    acc->n_valid = cnt;
    return AFM_OK;
}

/* ---------------- teacher ---------------- */
struct afm_distill_teacher {
    afm_model *model;
    afm_session *sess;
    int32_t n_vocab;
    int max_t;
};

void afm_distill_teacher_free(afm_distill_teacher *t) {
    if (!t) return;
    afm_session_free(t->sess);
    afm_model_free(t->model);
    free(t);
}

/* Vocabulary hash of the tokenizer stored in a GGUF file; 0 when it has none. */
static uint64_t gguf_vocab_hash(const char *path) {
    afm_gguf *g = NULL;
    afm_tokenizer *tok = NULL;
    uint64_t h = 0;
    if (afm_gguf_open(path, &g) == AFM_OK && afm_tokenizer_from_gguf(g, &tok) == AFM_OK) h = afm_vocab_hash(tok);
    afm_tokenizer_free(tok);
    afm_gguf_close(g);
    afm_error_clear();
    return h;
}

afm_status afm_distill_teacher_open(const afm_distill_config *c, int32_t n_vocab, uint64_t vocab_hash, int max_t,
                                    int n_threads, afm_distill_teacher **out) {
    *out = NULL;
    afm_distill_teacher *t = calloc(1, sizeof *t);
    if (!t) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_status st = afm_model_load(c->teacher, &t->model);
    if (st != AFM_OK) { afm_distill_teacher_free(t); return afm_error_prefix(st, "distill teacher %s", c->teacher); }
    int32_t teacher_vocab = afm_model_config(t->model)->n_vocab;
    if (teacher_vocab != n_vocab) {
        afm_distill_teacher_free(t);
        return afm_error(AFM_ERR_INVALID_ARG, "distill teacher %s has a vocabulary of %d tokens, the student (the data's tokenizer) has %d",
                         c->teacher, teacher_vocab, n_vocab);
    }
    uint64_t th = vocab_hash ? gguf_vocab_hash(c->teacher) : 0;
    if (vocab_hash && th && th != vocab_hash) {
        afm_distill_teacher_free(t);
        return afm_error(AFM_ERR_INVALID_ARG, "distill teacher %s has another tokenizer than the data (same size %d, different tokens)",
                         c->teacher, n_vocab);
    }
    afm_session_options so = {.n_ctx = max_t, .n_threads = n_threads};
    st = afm_session_create(t->model, &so, &t->sess);
    if (st != AFM_OK) { afm_distill_teacher_free(t); return afm_error_prefix(st, "distill teacher session"); }
    t->n_vocab = n_vocab;
    t->max_t = max_t;
    *out = t;
    return AFM_OK;
}

afm_status afm_distill_teacher_logits(afm_distill_teacher *t, const int32_t *tokens, int b, int T, float *out) {
    if (T > t->max_t) return afm_error(AFM_ERR_INVALID_ARG, "distill teacher: rows of %d tokens, opened for at most %d", T, t->max_t);
    for (int r = 0; r < b; r++) {
        AFM_TRY(afm_session_rewind(t->sess, 0));
        AFM_TRY(afm_session_eval(t->sess, tokens + (size_t)r * T, T, true, out + (size_t)r * T * t->n_vocab));
    }
    return AFM_OK;
}
