/* The task table and the scorer-only driver (see task.h). */
#include "eval/task.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"
#include "eval/bfcl.h"

static const afm_eval_task k_tasks[] = {
    {"rouge", "summaries scored by ROUGE-1/2/L F1 against one or more references (AESLC: ann0..ann2)",
     "messages/aeslc_dev.jsonl", AFM_EVAL_GENERATE, 0, NULL, afm_eval_score_rouge, NULL, NULL},
    {"gsm8k", "grade-school math, 8-shot chain of thought, final-number exact match (lm-eval gsm8k-cot)",
     "math/gsm8k_test.jsonl", AFM_EVAL_GENERATE, 8, NULL, afm_eval_score_gsm8k, NULL, NULL},
    {"math", "MATH-500, last \\boxed{} answer, Hendrycks normalization (+ value comparison)",
     "math/math500_test.jsonl", AFM_EVAL_GENERATE, 0, NULL, afm_eval_score_math, NULL, NULL},
    {"ifeval", "IFEval: 25 verifiable instruction types, strict and loose, prompt and instruction level",
     "ifeval/input_data.jsonl", AFM_EVAL_GENERATE, 0, NULL, afm_eval_score_ifeval, NULL, NULL},
    {"xstest", "XSTest refusal rate on safe and unsafe prompts (string match; --judge MODEL: 3-way judge)",
     "safety/xstest_prompts.csv", AFM_EVAL_GENERATE, 0, NULL, afm_eval_score_xstest, NULL, NULL},
    {"mmlu", "MMLU multiple choice (A-D), 5-shot, by log-likelihood",
     "mmlu", AFM_EVAL_CHOICE, 5, afm_eval_load_mmlu, afm_eval_score_mmlu, NULL, NULL},
    {"boolq", "BoolQ yes/no reading comprehension, 0-shot, by log-likelihood",
     "qa/boolq_validation.json", AFM_EVAL_CHOICE, 0, NULL, afm_eval_score_boolq, NULL, NULL},
    {"perplexity", "perplexity and bits per byte of a text file or JSONL \"text\" fields",
     "text/tinyshakespeare.txt", AFM_EVAL_PERPLEXITY, 0, afm_eval_load_text, NULL, NULL, NULL},
    {"pairwise", "win rate of responses A over B (or the data's reference \"output\") judged by a model, both orders",
     "alpaca_eval/gpt4_1106_preview_model_outputs.json", AFM_EVAL_PAIRWISE, 0, NULL, NULL, NULL, NULL},
    {"bfcl", "BFCL v4 function calling (prompting mode), AST match as bfcl-eval; --category NAME for one category",
     "bfcl", AFM_EVAL_GENERATE, 0, afm_eval_load_bfcl_all, afm_eval_score_bfcl, afm_eval_load_bfcl, afm_eval_finish_bfcl},
};

const afm_eval_task *afm_eval_task_list(size_t *n) {
    *n = sizeof k_tasks / sizeof k_tasks[0];
    return k_tasks;
}

const afm_eval_task *afm_eval_task_find(const char *name) {
    for (size_t i = 0; i < sizeof k_tasks / sizeof k_tasks[0]; i++)
        if (!strcmp(k_tasks[i].name, name)) return &k_tasks[i];
    return NULL;
}

static cJSON *error_record(int64_t index, const char *fmt, const char *a, const char *b) {
    cJSON *rec = cJSON_CreateObject();
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b);
    cJSON_AddNumberToObject(rec, "index", (double)index);
    cJSON_AddStringToObject(rec, "error", msg);
    return rec;
}

afm_status afm_eval_score_responses(const afm_eval_task *task, const afm_eval_dataset *data,
                                    const char *responses_path, int64_t limit, afm_eval_results *r) {
    if (!task->score) return afm_error(AFM_ERR_UNSUPPORTED, "task '%s' has no scorer for given responses", task->name);
    afm_eval_dataset resp;
    AFM_TRY(afm_eval_dataset_load(responses_path, &resp));
    size_t n = data->n;
    if (limit > 0 && (size_t)limit < n) n = (size_t)limit;
    cJSON_AddStringToObject(r->config, "responses", responses_path);
    cJSON_AddNumberToObject(r->config, "n_responses", (double)resp.n);
    if (resp.n != data->n && !(limit > 0 && resp.n >= n))
        cJSON_AddStringToObject(r->config, "warning", resp.n < data->n ? "fewer response lines than data items"
                                                                       : "more response lines than data items");
    for (size_t i = 0; i < n; i++) {
        const afm_eval_record *d = &data->rec[i];
        char line[32];
        snprintf(line, sizeof line, "%lld", (long long)d->line);
        if (d->error) { afm_eval_results_add_item(r, error_record((int64_t)i, "data line %s: %s", line, d->error)); continue; }
        if (i >= resp.n) { afm_eval_results_add_item(r, error_record((int64_t)i, "no response line for this item%s%s", "", "")); continue; }
        const afm_eval_record *q = &resp.rec[i];
        snprintf(line, sizeof line, "%lld", (long long)q->line);
        if (q->error) { afm_eval_results_add_item(r, error_record((int64_t)i, "response line %s: %s", line, q->error)); continue; }
        const char *text = afm_eval_str(q->json, "response");
        if (!text) { afm_eval_results_add_item(r, error_record((int64_t)i, "response line %s: no \"response\" string%s", line, "")); continue; }
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddNumberToObject(rec, "index", (double)i);
        afm_status st = task->score(d->json, text, rec, r);
        if (st != AFM_OK) {
            cJSON_Delete(rec);
            char lb[32];
            snprintf(lb, sizeof lb, "%lld", (long long)d->line);
            afm_eval_results_add_item(r, error_record((int64_t)i, "data line %s: %s", lb, afm_last_error()));
            continue;
        }
        afm_eval_results_add_item(r, rec);
    }
    afm_eval_dataset_free(&resp);
    if (task->finish) task->finish(r);
    return AFM_OK;
}

/* ---- MMLU: a folder of <subject>_test.csv files (or its test/ subfolder), or one CSV ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static afm_status load_mmlu_csv(const char *path, const char *subject, afm_eval_dataset *out) {
    static const char *const cols[] = {"question", "A", "B", "C", "D", "answer"};
    AFM_TRY(afm_eval_dataset_load_csv(path, cols, 6, out));
    for (size_t i = 0; i < out->n; i++)
        if (out->rec[i].json) cJSON_AddStringToObject(out->rec[i].json, "subject", subject);
    return AFM_OK;
}

/* subject of "<dir>/high_school_physics_test.csv": "high_school_physics" */
static void subject_of(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *suffix = strrchr(out, '_');
    if (suffix && (!strcmp(suffix, "_test.csv") || !strcmp(suffix, "_dev.csv") || !strcmp(suffix, "_val.csv"))) *suffix = '\0';
    else if ((suffix = strstr(out, ".csv"))) *suffix = '\0';
}

afm_status afm_eval_load_mmlu(const char *path, afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    char subject[256];
    if (!afm_is_dir(path)) {
        subject_of(path, subject, sizeof subject);
        return load_mmlu_csv(path, subject, out);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/test", path);
    if (!afm_is_dir(dir)) snprintf(dir, sizeof dir, "%s", path);
    DIR *d = opendir(dir);
    if (!d) return afm_error(AFM_ERR_IO, "cannot open MMLU folder %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".csv") != 0) continue;
        if (n == cap) { cap = cap ? 2 * cap : 64; names = realloc(names, cap * sizeof *names); }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) { free(names); return afm_error(AFM_ERR_FORMAT, "no .csv files in MMLU folder %s", dir); }
    qsort(names, n, sizeof *names, cmp_str);
    afm_status st = AFM_OK;
    for (size_t i = 0; i < n; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        subject_of(p, subject, sizeof subject);
        afm_eval_dataset part;
        if (st == AFM_OK) st = load_mmlu_csv(p, subject, &part);
        if (st == AFM_OK) st = afm_eval_dataset_append(out, &part);
        free(names[i]);
    }
    free(names);
    if (st != AFM_OK) afm_eval_dataset_free(out);
    return st;
}

/* ---- perplexity data: JSONL/JSON items with "text", or any other file as one text ---- */
afm_status afm_eval_load_text(const char *path, afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    size_t l = strlen(path);
    if ((l > 6 && !strcmp(path + l - 6, ".jsonl")) || (l > 5 && !strcmp(path + l - 5, ".json")))
        return afm_eval_dataset_load(path, out);
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    if (size == 0) { free(data); return AFM_OK; }
    cJSON *o = cJSON_CreateObject();
    out->rec = calloc(1, sizeof *out->rec);
    if (!o || !out->rec || !cJSON_AddStringToObject(o, "text", data)) {
        cJSON_Delete(o);
        free(out->rec);
        out->rec = NULL;
        free(data);
        return afm_error(AFM_ERR_NOMEM, "%s: %zu bytes of text", path, size);
    }
    free(data);
    out->rec[0] = (afm_eval_record){o, NULL, 1};
    out->n = 1;
    return AFM_OK;
}
