/* Aggregation and output of evaluation results (see results.h). */
#include "eval/results.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"
#include "eval/strbuf.h"

afm_status afm_eval_results_init(afm_eval_results *r, const char *task) {
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "%s", task);
    r->config = cJSON_CreateObject();
    r->items = cJSON_CreateArray();
    if (!r->config || !r->items) { afm_eval_results_free(r); return afm_error(AFM_ERR_NOMEM, "results"); }
    return AFM_OK;
}

void afm_eval_results_free(afm_eval_results *r) {
    cJSON_Delete(r->config);
    cJSON_Delete(r->items);
    cJSON_Delete(r->finish);
    free(r->metrics);
    memset(r, 0, sizeof *r);
}

/* Makes room for element n of the array *p (capacity *cap, elements of `size` bytes): doubles the
 * capacity when full, starting at `first`. */
static afm_status grow(void **p, size_t *cap, size_t n, size_t size, size_t first, const char *what) {
    if (n < *cap) return AFM_OK;
    size_t nc = *cap ? 2 * *cap : first;
    void *m = realloc(*p, nc * size);
    if (!m) return afm_error(AFM_ERR_NOMEM, "%s", what);
    *p = m;
    *cap = nc;
    return AFM_OK;
}

afm_status afm_eval_results_add(afm_eval_results *r, const char *metric, double v) {
    if (r->defer) {
        afm_eval_samples *s = r->defer;
        AFM_TRY(grow((void **)&s->s, &s->cap, s->n, sizeof *s->s, 4, "metric samples"));
        snprintf(s->s[s->n].metric, sizeof s->s[s->n].metric, "%s", metric);
        s->s[s->n++].value = v;
        return AFM_OK;
    }
    size_t i = 0;
    while (i < r->n_metrics && strcmp(r->metrics[i].name, metric) != 0) i++;
    if (i == r->n_metrics) {
        AFM_TRY(grow((void **)&r->metrics, &r->cap_metrics, r->n_metrics, sizeof *r->metrics, 8, "metrics"));
        memset(&r->metrics[i], 0, sizeof r->metrics[i]);
        snprintf(r->metrics[i].name, sizeof r->metrics[i].name, "%s", metric);
        r->n_metrics++;
    }
    r->metrics[i].sum += v;
    r->metrics[i].sumsq += v * v;
    r->metrics[i].n++;
    return AFM_OK;
}

afm_status afm_eval_results_fold(afm_eval_results *r, const afm_eval_samples *s) {
    for (size_t k = 0; s && k < s->n; k++) AFM_TRY(afm_eval_results_add(r, s->s[k].metric, s->s[k].value));
    return AFM_OK;
}

void afm_eval_samples_free(afm_eval_samples *s) {
    free(s->s);
    memset(s, 0, sizeof *s);
}

void afm_eval_results_add_item(afm_eval_results *r, cJSON *rec) {
    if (!rec) return;
    r->n_items++;
    if (cJSON_GetObjectItem(rec, "error")) r->n_errors++;
    cJSON_AddItemToArray(r->items, rec);
}

static double metric_mean(const afm_eval_metric *m, double *se) {
    double mean = m->n ? m->sum / (double)m->n : 0;
    double var = m->n > 1 ? (m->sumsq - (double)m->n * mean * mean) / (double)(m->n - 1) : 0;
    if (var < 0) var = 0;
    if (se) *se = m->n > 1 ? sqrt(var / (double)m->n) : 0;
    return mean;
}

double afm_eval_results_mean(const afm_eval_results *r, const char *metric, double *se, int64_t *n) {
    for (size_t i = 0; i < r->n_metrics; i++)
        if (!strcmp(r->metrics[i].name, metric)) { if (n) *n = r->metrics[i].n; return metric_mean(&r->metrics[i], se); }
    if (se) *se = 0;
    if (n) *n = 0;
    return NAN;
}

cJSON *afm_eval_results_to_json(const afm_eval_results *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", r->task);
    cJSON_AddItemToObject(o, "config", cJSON_Duplicate(r->config, 1));
    cJSON *scores = cJSON_AddObjectToObject(o, "scores");
    cJSON *se = cJSON_AddObjectToObject(o, "stderr");
    cJSON *counts = cJSON_AddObjectToObject(o, "counts");
    for (size_t i = 0; i < r->n_metrics; i++) {
        double s;
        double m = metric_mean(&r->metrics[i], &s);
        cJSON_AddNumberToObject(scores, r->metrics[i].name, m);
        cJSON_AddNumberToObject(se, r->metrics[i].name, s);
        cJSON_AddNumberToObject(counts, r->metrics[i].name, (double)r->metrics[i].n);
    }
    if (r->finish) cJSON_AddItemToObject(o, "finish", cJSON_Duplicate(r->finish, 1));
    cJSON_AddNumberToObject(o, "n_items", (double)r->n_items);
    cJSON_AddNumberToObject(o, "n_errors", (double)r->n_errors);
    cJSON_AddItemToObject(o, "items", cJSON_Duplicate(r->items, 1));
    return o;
}

afm_status afm_eval_results_write(const afm_eval_results *r, const char *path) {
    cJSON *o = afm_eval_results_to_json(r);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return afm_error(AFM_ERR_NOMEM, "results: serializing %s", path);
    afm_atomic_file af;
    afm_status st = afm_atomic_open(path, &af);
    if (st == AFM_OK) {
        if (fputs(text, af.f) < 0 || fputc('\n', af.f) == EOF) { afm_atomic_abort(&af); st = afm_error(AFM_ERR_IO, "writing %s", path); }
        else st = afm_atomic_commit(&af);
    }
    free(text);
    return st;
}

/* o[key] if it is a number, else dflt */
static double num_or(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* o[key] printed as a whole number into buf, or "?" when it is missing or not a number (a results
 * file edited by hand or written by another tool) */
static const char *count_or_unknown(const cJSON *o, const char *key, char buf[32]) {
    double v = num_or(o, key, NAN);
    if (isnan(v)) return "?";
    snprintf(buf, 32, "%.0f", v);
    return buf;
}

char *afm_eval_results_table(const afm_eval_results *r) {
    afm_strbuf b;
    afm_sb_init(&b);
    afm_sb_printf(&b, "task %s: %lld items, %lld errors\n", r->task, (long long)r->n_items, (long long)r->n_errors);
    afm_sb_printf(&b, "%-32s %10s %10s %8s\n", "metric", "value", "stderr", "n");
    for (size_t i = 0; i < r->n_metrics; i++) {
        double se;
        double m = metric_mean(&r->metrics[i], &se);
        afm_sb_printf(&b, "%-32s %10.4f %10.4f %8lld\n", r->metrics[i].name, m, se, (long long)r->metrics[i].n);
    }
    double cut = num_or(r->finish, "length", 0), cap = num_or(r->finish, "max_tokens", 0);
    if (cut > 0)
        afm_sb_printf(&b, "%.0f of %.0f responses hit --max-tokens %.0f (cut there; see \"finish\" in the records)\n", cut,
                      num_or(r->finish, "responses", 0), cap);
    return afm_sb_take(&b);
}

static afm_status load_json(const char *path, cJSON **out) {
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    *out = cJSON_ParseWithLength(data, size);
    free(data);
    if (!*out || !cJSON_IsObject(cJSON_GetObjectItem(*out, "scores"))) {
        cJSON_Delete(*out);
        return afm_error(AFM_ERR_FORMAT, "%s: not an afm eval results file (no \"scores\" object)", path);
    }
    return AFM_OK;
}

static double num_in(cJSON *o, const char *section, const char *key) {
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(o, section), key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* v printed with fmt into buf, or "-" when v is NaN (missing) */
static const char *fmt_or_dash(double v, const char *fmt, char buf[32]) {
    if (isnan(v)) return "-";
    snprintf(buf, 32, fmt, v);
    return buf;
}

afm_status afm_eval_compare(const char *pa, const char *pb, char **table) {
    cJSON *a, *b;
    AFM_TRY(load_json(pa, &a));
    afm_status st = load_json(pb, &b);
    if (st != AFM_OK) { cJSON_Delete(a); return st; }
    afm_strbuf t;
    afm_sb_init(&t);
    cJSON *ta = cJSON_GetObjectItem(a, "task"), *tb = cJSON_GetObjectItem(b, "task");
    afm_sb_printf(&t, "A: %s (%s)\nB: %s (%s)\n", pa, cJSON_IsString(ta) ? ta->valuestring : "?", pb,
                  cJSON_IsString(tb) ? tb->valuestring : "?");
    afm_sb_printf(&t, "%-32s %10s %10s %10s  %s\n", "metric", "A", "B", "B-A", "significant (2 se)");
    /* metrics of A in order, then those only in B */
    for (int side = 0; side < 2; side++) {
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(side ? b : a, "scores")) {
            if (side && cJSON_GetObjectItem(cJSON_GetObjectItem(a, "scores"), m->string)) continue;
            double va = num_in(a, "scores", m->string), vb = num_in(b, "scores", m->string);
            double sa = num_in(a, "stderr", m->string), sb = num_in(b, "stderr", m->string);
            double d = vb - va, se = sqrt((isnan(sa) ? 0 : sa * sa) + (isnan(sb) ? 0 : sb * sb));
            char fa[32], fb[32], fd[32]; /* a metric one file lacks (or holds as a non-number) shows as "-" */
            afm_sb_printf(&t, "%-32s %10s %10s %10s  %s\n", m->string, fmt_or_dash(va, "%.4f", fa), fmt_or_dash(vb, "%.4f", fb),
                          fmt_or_dash(d, "%+.4f", fd), isnan(d) ? "-" : fabs(d) > 2 * se ? "yes" : "no");
        }
    }
    /* per-item verdict changes */
    cJSON *ia = cJSON_GetObjectItem(a, "items"), *ib = cJSON_GetObjectItem(b, "items");
    int na = cJSON_GetArraySize(ia), nb = cJSON_GetArraySize(ib);
    if (na == nb && na > 0) {
        int gained = 0, lost = 0, both = 0;
        for (int i = 0; i < na; i++) {
            cJSON *ca = cJSON_GetObjectItem(cJSON_GetArrayItem(ia, i), "correct");
            cJSON *cb = cJSON_GetObjectItem(cJSON_GetArrayItem(ib, i), "correct");
            if (!ca || !cb) continue;
            both++;
            if (cJSON_IsTrue(cb) && !cJSON_IsTrue(ca)) gained++;
            if (!cJSON_IsTrue(cb) && cJSON_IsTrue(ca)) lost++;
        }
        if (both) afm_sb_printf(&t, "items with a verdict in both: %d; B right where A wrong: %d; B wrong where A right: %d\n", both, gained, lost);
    } else if (na != nb) {
        afm_sb_printf(&t, "item counts differ (%d vs %d): no per-item comparison\n", na, nb);
    }
    /* responses cut at the token cap (results files from before the "finish" summary have none) */
    cJSON *fa = cJSON_GetObjectItem(a, "finish"), *fb = cJSON_GetObjectItem(b, "finish");
    if (cJSON_IsObject(fa) || cJSON_IsObject(fb)) {
        afm_sb_puts(&t, "responses at the --max-tokens cap:");
        for (int side = 0; side < 2; side++) {
            cJSON *f = side ? fb : fa;
            if (!cJSON_IsObject(f)) { afm_sb_printf(&t, "%s -", side ? "; B" : " A"); continue; }
            char cut[32], n[32], cap[32];
            afm_sb_printf(&t, "%s %s of %s (cap %s)", side ? "; B" : " A", count_or_unknown(f, "length", cut),
                          count_or_unknown(f, "responses", n), count_or_unknown(f, "max_tokens", cap));
        }
        afm_sb_puts(&t, "\n");
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    *table = afm_sb_take(&t);
    return *table ? AFM_OK : afm_error(AFM_ERR_NOMEM, "compare table");
}
