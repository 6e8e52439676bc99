/* Loading evaluation data (see dataset.h). */
#include "eval/dataset.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "base/error.h"
#include "base/file.h"
#include "eval/strbuf.h"

static afm_status push(afm_eval_dataset *d, size_t *cap, cJSON *json, char *error, int64_t line) {
    if (d->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        afm_eval_record *r = realloc(d->rec, nc * sizeof *r);
        if (!r) { cJSON_Delete(json); free(error); return afm_error(AFM_ERR_NOMEM, "dataset: %zu records", nc); }
        d->rec = r;
        *cap = nc;
    }
    d->rec[d->n++] = (afm_eval_record){json, error, line};
    return AFM_OK;
}

static char *dup_printf(const char *fmt, const char *a, size_t n) {
    afm_strbuf b;
    afm_sb_init(&b);
    afm_sb_printf(&b, fmt, (int)(n > 60 ? 60 : n), a);
    return afm_sb_take(&b);
}

afm_status afm_eval_dataset_parse_jsonl(const char *text, size_t len, afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    /* the last line that holds something: blank lines after it are ignored */
    size_t end = len;
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ' || text[end - 1] == '\t')) end--;
    int64_t line = 0;
    for (size_t i = 0; i < end;) {
        line++;
        const char *nl = memchr(text + i, '\n', end - i);
        size_t e = nl ? (size_t)(nl - text) : end;
        size_t s = i, t = e;
        while (s < t && (text[s] == ' ' || text[s] == '\t' || text[s] == '\r')) s++;
        while (t > s && (text[t - 1] == ' ' || text[t - 1] == '\t' || text[t - 1] == '\r')) t--;
        afm_status st;
        if (s == t) {
            st = push(out, &cap, NULL, dup_printf("blank line%.*s", "", 0), line);
        } else {
            const char *parse_end = NULL;
            cJSON *j = cJSON_ParseWithLengthOpts(text + s, t - s, &parse_end, 0);
            if (!j) st = push(out, &cap, NULL, dup_printf("malformed JSON: '%.*s'", text + s, t - s), line);
            else if (parse_end && parse_end < text + t) { cJSON_Delete(j); st = push(out, &cap, NULL, dup_printf("trailing text after the JSON value: '%.*s'", parse_end, (size_t)(text + t - parse_end)), line); }
            else if (!cJSON_IsObject(j)) { cJSON_Delete(j); st = push(out, &cap, NULL, dup_printf("not a JSON object: '%.*s'", text + s, t - s), line); }
            else st = push(out, &cap, j, NULL, line);
        }
        if (st != AFM_OK) { afm_eval_dataset_free(out); return st; }
        i = e + 1;
    }
    return AFM_OK;
}

static afm_status parse_array(const char *text, size_t len, afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    cJSON *arr = cJSON_ParseWithLength(text, len);
    if (!arr || !cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return afm_error(AFM_ERR_FORMAT, "not a valid JSON array of objects (expected '[{...}, ...]')");
    }
    size_t cap = 0;
    int64_t k = 0;
    cJSON *it;
    while ((it = arr->child)) {
        cJSON_DetachItemViaPointer(arr, it);
        k++;
        afm_status st = cJSON_IsObject(it) ? push(out, &cap, it, NULL, k)
                                           : (cJSON_Delete(it), push(out, &cap, NULL, dup_printf("array element is not an object%.*s", "", 0), k));
        if (st != AFM_OK) { cJSON_Delete(arr); afm_eval_dataset_free(out); return st; }
    }
    cJSON_Delete(arr);
    return AFM_OK;
}

/* one CSV field starting at *p; advances past it and its separator; *eol set at a row end */
static char *csv_field(const char **p, const char *end, bool *eol, int64_t *line) {
    afm_strbuf b;
    afm_sb_init(&b);
    const char *q = *p;
    if (q < end && *q == '"') {
        q++;
        while (q < end) {
            if (*q == '"') {
                if (q + 1 < end && q[1] == '"') { afm_sb_append(&b, "\"", 1); q += 2; continue; }
                q++;
                break;
            }
            if (*q == '\n') (*line)++;
            afm_sb_append(&b, q, 1);
            q++;
        }
        /* anything between the closing quote and the separator is kept as is */
        while (q < end && *q != ',' && *q != '\n') { if (*q != '\r') afm_sb_append(&b, q, 1); q++; }
    } else {
        while (q < end && *q != ',' && *q != '\n') { if (*q != '\r') afm_sb_append(&b, q, 1); q++; }
    }
    *eol = q >= end || *q == '\n';
    if (q < end) { if (*q == '\n') (*line)++; q++; }
    *p = q;
    if (!b.s) afm_sb_append(&b, "", 0);
    return afm_sb_take(&b);
}

afm_status afm_eval_dataset_parse_csv(const char *text, size_t len, const char *const *names, size_t n_names,
                                      afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + len;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r')) end--;
    size_t cap = 0;
    char **header = NULL;
    size_t n_header = 0;
    int64_t line = 1;
    afm_status st = AFM_OK;
    bool first = true;
    while (p < end && st == AFM_OK) {
        int64_t row_line = line;
        char *fields[64];
        size_t nf = 0;
        bool eol = false, too_many = false;
        while (!eol) {
            char *f = csv_field(&p, end, &eol, &line);
            if (!f) { st = afm_error(AFM_ERR_NOMEM, "csv field"); break; }
            if (nf < 64) fields[nf++] = f; else { free(f); too_many = true; }
        }
        if (st != AFM_OK) { for (size_t i = 0; i < nf; i++) free(fields[i]); break; }
        if (first && !names) {
            header = malloc(nf * sizeof *header);
            if (!header) { for (size_t i = 0; i < nf; i++) free(fields[i]); st = afm_error(AFM_ERR_NOMEM, "csv header"); break; }
            memcpy(header, fields, nf * sizeof *header);
            n_header = nf;
            first = false;
            continue;
        }
        first = false;
        const char *const *cols = names ? names : (const char *const *)header;
        size_t n_cols = names ? n_names : n_header;
        if (nf != n_cols || too_many) {
            char msg[128];
            snprintf(msg, sizeof msg, "CSV row has %zu fields, expected %zu", nf, n_cols);
            st = push(out, &cap, NULL, afm_strndup(msg, strlen(msg)), row_line);
        } else {
            cJSON *o = cJSON_CreateObject();
            for (size_t i = 0; o && i < nf; i++) cJSON_AddStringToObject(o, cols[i], fields[i]);
            st = o ? push(out, &cap, o, NULL, row_line) : afm_error(AFM_ERR_NOMEM, "csv row");
        }
        for (size_t i = 0; i < nf; i++) free(fields[i]);
    }
    for (size_t i = 0; i < n_header; i++) free(header[i]);
    free(header);
    if (st != AFM_OK) afm_eval_dataset_free(out);
    return st;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

afm_status afm_eval_dataset_load_csv(const char *path, const char *const *names, size_t n_names, afm_eval_dataset *out) {
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    afm_status st = afm_eval_dataset_parse_csv(data, size, names, n_names, out);
    free(data);
    if (st != AFM_OK) return afm_error_prefix(st, "%s", path);
    return AFM_OK;
}

afm_status afm_eval_dataset_load(const char *path, afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    afm_status st;
    if (ends_with(path, ".csv")) st = afm_eval_dataset_parse_csv(data, size, NULL, 0, out);
    else if (i < size && data[i] == '[') st = parse_array(data, size, out);
    else st = afm_eval_dataset_parse_jsonl(data, size, out);
    free(data);
    if (st != AFM_OK) return afm_error_prefix(st, "%s", path);
    return AFM_OK;
}

afm_status afm_eval_dataset_append(afm_eval_dataset *a, afm_eval_dataset *b) {
    afm_eval_record *r = realloc(a->rec, (a->n + b->n + 1) * sizeof *r);
    if (!r) return afm_error(AFM_ERR_NOMEM, "dataset append");
    memcpy(r + a->n, b->rec, b->n * sizeof *r);
    a->rec = r;
    a->n += b->n;
    free(b->rec);
    memset(b, 0, sizeof *b);
    return AFM_OK;
}

void afm_eval_dataset_free(afm_eval_dataset *d) {
    for (size_t i = 0; i < d->n; i++) { cJSON_Delete(d->rec[i].json); free(d->rec[i].error); }
    free(d->rec);
    memset(d, 0, sizeof *d);
}

const char *afm_eval_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
