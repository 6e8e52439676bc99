/* afm eval: run a benchmark on a model, grade given responses, or compare two result files.
 *
 *   afm eval -m MODEL [--adapter FILE] --task TASK [--data PATH] [--limit N] [--shots K] [--out FILE]
 *   afm eval --task TASK [--data PATH] --responses FILE [--limit N] [--out FILE]
 *   afm eval --compare A.json B.json
 *   afm eval --list */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/model.h"
#include "cli.h"
#include "eval/task.h"
#include "eval/results.h"
#include "eval/run.h"
#include "eval/judge.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: afm eval -m MODEL [--adapter FILE [--adapter-scale S]] --task TASK [--data PATH] [--limit N] [--shots K]\n"
            "                [--threads N] [--parallel P] [--ctx N] [--kv-type f32|f16] [--max-tokens N] [--no-chat]\n"
            "                [--batch N] [--no-prefix-cache]\n"
            "                [--record-tokens] [--no-progress] [--out results.json]\n"
            "       afm eval --task TASK [--data PATH] --responses FILE [--limit N] [--out results.json]\n"
            "       afm eval --task pairwise -m JUDGE [--data PROMPTS] --responses A [--responses-b B] [--out results.json]\n"
            "       afm eval --task xstest ... --judge JUDGE      (adds a judge model's 3-way classification)\n"
            "       (bfcl: [--category simple|java|javascript|multiple|parallel|parallel_multiple|irrelevance|live_...])\n"
            "       afm eval --compare A.json B.json\n"
            "       afm eval --list\n\n"
            "--responses grades given outputs without a model: FILE is JSONL with one {\"response\": ...}\n"
            "per data item, in data order. --data defaults to the task's file under $AFM_SHARED/data\n"
            "(or ../shared/data). Results: scores with standard errors, per-item records.\n"
            "pairwise: the judge model compares response A with B (B defaults to the data's reference\n"
            "\"output\"), in both orders; responses are {\"response\": ...} or {\"output\": ...} records.\n"
            "--threads N: threads in all (default: all cores). --parallel P: P model sessions work on\n"
            "contiguous item ranges with N/P threads each, an idle one taking half of a busy one's rest\n"
            "(default: one single-threaded session per thread; perplexity always uses one). Results do\n"
            "not depend on N or P (bit for bit with quantized weights, else up to float rounding).\n"
            "--batch N: generation tasks decode N items at once per session worker (N sessions, each\n"
            "with its own prefix cache; every step one batched forward that reads the weights once for\n"
            "all N tokens). Default 8; 1: one item at a time. Outputs do not depend on N (bit for bit\n"
            "with quantized weights, else up to float rounding).\n"
            "--kv-type f16: keep the KV cache in f16 (half the memory; llama.cpp's default).\n"
            "--no-prefix-cache: score every choice from an empty KV cache (benchmark baseline).\n"
            "--record-tokens: multiple-choice records also hold the context and continuation token ids.\n");
}

static void list_tasks(FILE *f) {
    size_t n;
    const afm_eval_task *t = afm_eval_task_list(&n);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-12s %s\n", t[i].name, t[i].description);
}

/* $AFM_SHARED/data/<rel>, else ../shared/data/<rel> */
static char *default_data(const afm_eval_task *t) {
    const char *shared = getenv("AFM_SHARED");
    size_t n = (shared ? strlen(shared) : 9) + strlen(t->default_data) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/data/%s", shared ? shared : "../shared", t->default_data);
    return p;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *task_name = NULL, *data = NULL, *responses = NULL, *out = NULL;
    const char *cmp_a = NULL, *cmp_b = NULL, *responses_b = NULL, *judge = NULL, *category = NULL;
    afm_eval_run_options ro;
    afm_eval_run_options_default(&ro);
    long long limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) { fprintf(stderr, "error: %s needs a value\n", a); return 2; } i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--list")) { list_tasks(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); model = v; }
        else if (!strcmp(a, "--adapter") || !strcmp(a, "--lora")) { NEED_VALUE(); adapter = v; }
        else if (!strcmp(a, "--adapter-scale")) { NEED_VALUE(); ro.adapter_scale = (float)atof(v); }
        else if (!strcmp(a, "--task")) { NEED_VALUE(); task_name = v; }
        else if (!strcmp(a, "--data")) { NEED_VALUE(); data = v; }
        else if (!strcmp(a, "--category")) { NEED_VALUE(); category = v; }
        else if (!strcmp(a, "--responses")) { NEED_VALUE(); responses = v; }
        else if (!strcmp(a, "--responses-b")) { NEED_VALUE(); responses_b = v; }
        else if (!strcmp(a, "--judge")) { NEED_VALUE(); judge = v; }
        else if (!strcmp(a, "--out")) { NEED_VALUE(); out = v; }
        else if (!strcmp(a, "--limit")) { NEED_VALUE(); limit = atoll(v); }
        else if (!strcmp(a, "--shots")) { NEED_VALUE(); ro.shots = atoi(v); }
        else if (!strcmp(a, "--threads")) { NEED_VALUE(); ro.n_threads = atoi(v); }
        else if (!strcmp(a, "--parallel")) { NEED_VALUE(); ro.parallel = atoi(v); }
        else if (!strcmp(a, "--batch")) {
            NEED_VALUE();
            ro.batch = atoi(v);
            if (ro.batch < 1 || ro.batch > AFM_EVAL_MAX_BATCH) {
                fprintf(stderr, "error: --batch must be 1..%d, not '%s'\n", AFM_EVAL_MAX_BATCH, v);
                return 2;
            }
        }
        else if (!strcmp(a, "--ctx")) { NEED_VALUE(); ro.n_ctx = atoi(v); }
        else if (!strcmp(a, "--kv-type")) {
            NEED_VALUE();
            if (!strcmp(v, "f32")) ro.kv_type = AFM_KV_F32;
            else if (!strcmp(v, "f16")) ro.kv_type = AFM_KV_F16;
            else { fprintf(stderr, "error: --kv-type must be f32 or f16, not '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--max-tokens")) { NEED_VALUE(); ro.max_tokens = atoi(v); }
        else if (!strcmp(a, "--no-progress")) { ro.progress = false; }
        else if (!strcmp(a, "--no-prefix-cache")) { ro.no_prefix_cache = true; }
        else if (!strcmp(a, "--no-chat")) { ro.chat = false; }
        else if (!strcmp(a, "--record-tokens")) { ro.record_tokens = true; }
        else if (!strcmp(a, "--compare")) {
            if (i + 2 >= argc) { fprintf(stderr, "error: --compare needs two results files\n"); return 2; }
            cmp_a = argv[i + 1];
            cmp_b = argv[i + 2];
            i += 2;
        } else { fprintf(stderr, "error: unknown option '%s'\n", a); usage(stderr); return 2; }
#undef NEED_VALUE
    }
    if (cmp_a) {
        char *table;
        if (afm_eval_compare(cmp_a, cmp_b, &table) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
        fputs(table, stdout);
        free(table);
        return 0;
    }
    if (!task_name) { fprintf(stderr, "error: --task is required (afm eval --list shows the tasks)\n"); return 2; }
    const afm_eval_task *task = afm_eval_task_find(task_name);
    if (!task) { fprintf(stderr, "error: unknown task '%s'; tasks:\n", task_name); list_tasks(stderr); return 2; }
    bool pairwise = task->kind == AFM_EVAL_PAIRWISE;
    if (pairwise && (!model || !responses)) {
        fprintf(stderr, "error: pairwise needs a judge model (-m JUDGE) and --responses A (and optionally --responses-b B)\n");
        return 2;
    }
    if (!pairwise && responses_b) { fprintf(stderr, "error: --responses-b is for --task pairwise\n"); return 2; }
    if (judge && strcmp(task->name, "xstest") != 0) { fprintf(stderr, "error: --judge is for --task xstest (pairwise takes the judge as -m)\n"); return 2; }
    if (!responses && !model) { fprintf(stderr, "error: give a model (-m) or --responses FILE to grade\n"); return 2; }
    if (limit < 0) { fprintf(stderr, "error: --limit must be >= 0\n"); return 2; }
    char *data_path = data ? strdup(data) : default_data(task);
    afm_eval_results r;
    if (afm_eval_results_init(&r, task->name) != AFM_OK) { free(data_path); fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    cJSON_AddStringToObject(r.config, "task", task->name);
    cJSON_AddStringToObject(r.config, "data", data_path);
    if (limit) cJSON_AddNumberToObject(r.config, "limit", (double)limit);
    afm_eval_dataset ds = {0};
    if (category && !task->load_subset) { fprintf(stderr, "error: task '%s' has no categories\n", task->name); free(data_path); afm_eval_results_free(&r); return 2; }
    if (category) cJSON_AddStringToObject(r.config, "category", category);
    afm_status st = category ? task->load_subset(data_path, category, &ds)
                    : task->load ? task->load(data_path, &ds) : afm_eval_dataset_load(data_path, &ds);
    if (st == AFM_OK && ds.n == 0) st = AFM_ERR_FORMAT, fprintf(stderr, "error: %s: no data items\n", data_path);
    else if (st != AFM_OK) fprintf(stderr, "error: %s\n", afm_last_error());
    afm_eval_dataset resp_a = {0}, resp_b = {0};
    if (st == AFM_OK && (pairwise || judge) && responses && (st = afm_eval_dataset_load(responses, &resp_a)) != AFM_OK)
        fprintf(stderr, "error: %s\n", afm_last_error());
    if (st == AFM_OK && responses_b && (st = afm_eval_dataset_load(responses_b, &resp_b)) != AFM_OK)
        fprintf(stderr, "error: %s\n", afm_last_error());
    if (st == AFM_OK && pairwise) {
        cJSON_AddStringToObject(r.config, "judge", model);
        cJSON_AddStringToObject(r.config, "responses", responses);
        cJSON_AddStringToObject(r.config, "responses_b", responses_b ? responses_b : "(the data's reference \"output\")");
        if (adapter) cJSON_AddStringToObject(r.config, "adapter", adapter);
        ro.limit = limit;
        ro.adapter = adapter;
        st = afm_eval_run_pairwise(&ds, &resp_a, responses_b ? &resp_b : NULL, model, &ro, &r);
        if (st != AFM_OK) fprintf(stderr, "error: %s\n", afm_last_error());
    } else if (st == AFM_OK) {
        if (responses) {
            st = afm_eval_score_responses(task, &ds, responses, limit, &r);
        } else {
            cJSON_AddStringToObject(r.config, "model", model);
            if (adapter) cJSON_AddStringToObject(r.config, "adapter", adapter);
            if (adapter) cJSON_AddNumberToObject(r.config, "adapter_scale", ro.adapter_scale);
            ro.limit = limit;
            ro.adapter = adapter;
            ro.data_path = data_path;
            st = afm_eval_run_model(task, &ds, model, &ro, &r);
        }
        if (st == AFM_OK && judge) {
            afm_eval_run_options jo = ro;   /* the judge runs without the evaluated model's adapter */
            jo.adapter = NULL;
            st = afm_eval_xstest_judge(&ds, responses ? &resp_a : NULL, judge, &jo, &r);
        }
        if (st != AFM_OK) fprintf(stderr, "error: %s\n", afm_last_error());
    }
    afm_eval_dataset_free(&resp_a);
    afm_eval_dataset_free(&resp_b);
    if (st == AFM_OK) {
        char *table = afm_eval_results_table(&r);
        if (table) fputs(table, stdout);
        free(table);
        if (r.n_errors) fprintf(stderr, "note: %lld items could not be scored (see \"error\" in their records)\n", (long long)r.n_errors);
        if (out && (st = afm_eval_results_write(&r, out)) != AFM_OK) fprintf(stderr, "error: %s\n", afm_last_error());
    }
    afm_eval_dataset_free(&ds);
    afm_eval_results_free(&r);
    free(data_path);
    return st == AFM_OK ? 0 : 1;
}
