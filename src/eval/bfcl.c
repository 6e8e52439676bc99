/* The BFCL task: data loading (BFCL v4 question files + possible_answer/), categories, the
 * prompting-mode system prompt, per-item grading and BFCL's summary scores (see bfcl.h). */
#include "eval/bfcl.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"
#include "eval/task.h"
#include "tokenizer/chat_template.h"

/* BFCL v4 single-turn categories, in the order BFCL's tables list them */
static const char *const k_categories[] = {"simple_python", "simple_java", "simple_javascript", "multiple", "parallel",
                                           "parallel_multiple", "irrelevance", "live_simple", "live_multiple",
                                           "live_parallel", "live_parallel_multiple", "live_irrelevance",
                                           "live_relevance", NULL};

const char *afm_bfcl_category(const char *name) {
    if (!strcmp(name, "simple") || !strcmp(name, "python")) return "simple_python";
    if (!strcmp(name, "java")) return "simple_java";
    if (!strcmp(name, "javascript") || !strcmp(name, "js")) return "simple_javascript";
    for (int k = 0; k_categories[k]; k++) if (!strcmp(k_categories[k], name)) return k_categories[k];
    return NULL;
}

static bool needs_answers(const char *cat) { return !strstr(cat, "relevance"); }

/* "simple_python_12" -> "simple_python"; "live_simple_3-1-0" -> "live_simple" */
static void category_of_id(const char *id, char *out, size_t cap) {
    snprintf(out, cap, "%s", id);
    char *u = strrchr(out, '_');
    if (u) *u = '\0';
}

/* ---------------------------------------------------------------- loading */

typedef struct raw_line { afm_pv *v; char *error; int64_t line; } raw_line;

static afm_status read_lines(const char *path, raw_line **out, size_t *n_out) {
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    raw_line *lines = NULL;
    size_t n = 0, cap = 0;
    int64_t lineno = 0;
    for (size_t i = 0; i < size;) {
        size_t e = i;
        while (e < size && data[e] != '\n') e++;
        lineno++;
        size_t a = i;
        while (a < e && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r')) a++;
        if (a < e) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                raw_line *nl = realloc(lines, cap * sizeof *nl);
                if (!nl) { free(data); free(lines); return afm_error(AFM_ERR_NOMEM, "%s: lines", path); }
                lines = nl;
            }
            raw_line *r = &lines[n++];
            memset(r, 0, sizeof *r);
            r->line = lineno;
            size_t end;
            if (afm_pv_parse_json(data + a, e - a, &r->v, &end) != AFM_OK) r->error = strdup(afm_last_error());
            else if (end != e - a && !(end < e - a && data[a + end] == '\r')) { afm_pv_free(r->v); r->v = NULL; r->error = strdup("text after the JSON object"); }
            else if (r->v->type != AFM_PV_DICT) { afm_pv_free(r->v); r->v = NULL; r->error = strdup("not a JSON object"); }
        }
        i = e + 1;
    }
    free(data);
    *out = lines;
    *n_out = n;
    return AFM_OK;
}

static void free_lines(raw_line *l, size_t n) {
    for (size_t k = 0; k < n; k++) { afm_pv_free(l[k].v); free(l[k].error); }
    free(l);
}

static char *dump_compact(const afm_pv *v) {
    afm_strbuf b;
    afm_sb_init(&b);
    afm_pv_dump_json(&b, v, -1);
    return afm_sb_take(&b);
}

/* one data record: {"id", "category", "question", "function", "ground_truth"} with function and
 * ground_truth kept as JSON text (their int/float distinction matters; cJSON would lose it) */
static cJSON *make_record(const afm_pv *q, const afm_pv *gt, const char *category, char **error) {
    const afm_pv *id = afm_pv_get(q, "id"), *fn = afm_pv_get(q, "function"), *question = afm_pv_get(q, "question");
    if (!id || id->type != AFM_PV_STR || !fn || fn->type != AFM_PV_LIST || !question || question->type != AFM_PV_LIST) {
        *error = strdup("BFCL item needs \"id\", \"question\" (list of turns) and \"function\" (list)");
        return NULL;
    }
    char cat[128];
    if (category) snprintf(cat, sizeof cat, "%s", category);
    else category_of_id(id->s, cat, sizeof cat);
    if (!afm_bfcl_category(cat)) {
        *error = malloc(256);
        if (*error) snprintf(*error, 256, "unknown BFCL category '%s' (from id '%s')", cat, id->s);
        return NULL;
    }
    if (!gt) gt = afm_pv_get(q, "ground_truth");
    if (needs_answers(cat) && (!gt || gt->type != AFM_PV_LIST)) {
        *error = strdup("no possible answer (\"ground_truth\") for this item");
        return NULL;
    }
    char *qj = dump_compact(question), *fj = dump_compact(fn), *gj = gt ? dump_compact(gt) : NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *qc = qj ? cJSON_Parse(qj) : NULL;
    if (o && qc && fj) {
        cJSON_AddStringToObject(o, "id", id->s);
        cJSON_AddStringToObject(o, "category", cat);
        cJSON_AddItemToObject(o, "question", qc);
        cJSON_AddStringToObject(o, "function", fj);
        if (gj) cJSON_AddStringToObject(o, "ground_truth", gj);
    } else {
        cJSON_Delete(o);
        cJSON_Delete(qc);
        o = NULL;
        *error = strdup("out of memory");
    }
    free(qj);
    free(fj);
    free(gj);
    return o;
}

static afm_status add_record(afm_eval_dataset *d, cJSON *json, char *error, int64_t line) {
    afm_eval_record *r = realloc(d->rec, (d->n + 1) * sizeof *r);
    if (!r) { cJSON_Delete(json); free(error); return afm_error(AFM_ERR_NOMEM, "BFCL records"); }
    d->rec = r;
    d->rec[d->n++] = (afm_eval_record){json, error, line};
    return AFM_OK;
}

/* a question file; answers from answers_path (may be NULL or missing: then items must carry
 * "ground_truth" or be relevance items) */
static afm_status load_pair(const char *q_path, const char *a_path, const char *category, afm_eval_dataset *out) {
    raw_line *q = NULL, *a = NULL;
    size_t nq = 0, na = 0;
    AFM_TRY(read_lines(q_path, &q, &nq));
    if (a_path && afm_file_exists(a_path)) {
        afm_status st = read_lines(a_path, &a, &na);
        if (st != AFM_OK) { free_lines(q, nq); return st; }
    }
    afm_status st = AFM_OK;
    for (size_t i = 0; i < nq && st == AFM_OK; i++) {
        char *error = q[i].error ? strdup(q[i].error) : NULL;
        cJSON *rec = NULL;
        if (!error) {
            const afm_pv *gt = NULL;
            if (a) {
                /* possible answers by id (BFCL's files are in the same order; look up to be safe) */
                const afm_pv *id = afm_pv_get(q[i].v, "id");
                for (size_t j = 0; id && j < na && !gt; j++) {
                    size_t jj = (i + j) % na;
                    const afm_pv *aid = a[jj].v ? afm_pv_get(a[jj].v, "id") : NULL;
                    if (aid && afm_pv_eq(aid, id)) gt = afm_pv_get(a[jj].v, "ground_truth");
                }
            }
            rec = make_record(q[i].v, gt, category, &error);
        }
        st = add_record(out, rec, error, q[i].line);
    }
    free_lines(q, nq);
    free_lines(a, na);
    return st;
}

afm_status afm_eval_load_bfcl(const char *path, const char *category, afm_eval_dataset *out) {
    memset(out, 0, sizeof *out);
    const char *cat = NULL;
    if (category) {
        cat = afm_bfcl_category(category);
        if (!cat) return afm_error(AFM_ERR_INVALID_ARG, "unknown BFCL category '%s' (simple, java, javascript, multiple, parallel, parallel_multiple, irrelevance, live_simple, live_multiple, live_parallel, live_parallel_multiple, live_irrelevance, live_relevance)", category);
    }
    afm_status st = AFM_OK;
    if (afm_is_dir(path)) {
        for (int k = 0; k_categories[k] && st == AFM_OK; k++) {
            if (cat && strcmp(cat, k_categories[k]) != 0) continue;
            char qp[4096], ap[4096];
            snprintf(qp, sizeof qp, "%s/BFCL_v4_%s.json", path, k_categories[k]);
            snprintf(ap, sizeof ap, "%s/possible_answer/BFCL_v4_%s.json", path, k_categories[k]);
            if (!afm_file_exists(qp)) {
                if (cat) st = afm_error(AFM_ERR_IO, "%s: no such file (category %s)", qp, cat);
                continue;
            }
            afm_eval_dataset part = {0};
            st = load_pair(qp, needs_answers(k_categories[k]) ? ap : NULL, k_categories[k], &part);
            if (st == AFM_OK) st = afm_eval_dataset_append(out, &part);
            afm_eval_dataset_free(&part);
        }
    } else {
        /* one file; possible answers beside it in possible_answer/<same name>, if there */
        char ap[4096];
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(ap, sizeof ap, "%.*s/possible_answer/%s", (int)(slash - path), path, slash + 1);
        else snprintf(ap, sizeof ap, "possible_answer/%s", path);
        st = load_pair(path, ap, cat, out);
    }
    if (st != AFM_OK) afm_eval_dataset_free(out);
    return st;
}

afm_status afm_eval_load_bfcl_all(const char *path, afm_eval_dataset *out) { return afm_eval_load_bfcl(path, NULL, out); }

/* ---------------------------------------------------------------- grading */

afm_status afm_eval_score_bfcl(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r) {
    const char *cat = afm_eval_str(item, "category"), *fj = afm_eval_str(item, "function"), *gj = afm_eval_str(item, "ground_truth");
    const char *id = afm_eval_str(item, "id");
    if (!cat || !fj) return afm_error(AFM_ERR_FORMAT, "BFCL item needs \"category\" and \"function\" (load it with the bfcl task)");
    afm_pv *fn = NULL, *gt = NULL;
    AFM_TRY(afm_pv_parse_json(fj, strlen(fj), &fn, NULL));
    if (gj && afm_pv_parse_json(gj, strlen(gj), &gt, NULL) != AFM_OK) { afm_pv_free(fn); return afm_error_prefix(AFM_ERR_FORMAT, "ground_truth"); }
    afm_bfcl_verdict v = {0};
    afm_bfcl_grade(cat, fn, gt, response, &v);
    afm_pv_free(fn);
    afm_pv_free(gt);
    if (id) cJSON_AddStringToObject(rec, "id", id);
    cJSON_AddStringToObject(rec, "category", cat);
    cJSON_AddBoolToObject(rec, "correct", v.valid);
    if (!v.valid) {
        cJSON_AddStringToObject(rec, "error_type", v.error_type);
        cJSON_AddStringToObject(rec, "reason", v.error.s ? v.error.s : "");
    }
    afm_sb_free(&v.error);
    char metric[96];
    snprintf(metric, sizeof metric, "accuracy_%s", cat);
    afm_eval_results_add(r, "accuracy", v.valid);
    return afm_eval_results_add(r, metric, v.valid);
}

/* A metric with a given mean and standard error (stored as the sums results.c aggregates:
 * mean = sum / n, se^2 = (sumsq - n mean^2) / ((n - 1) n)). */
static void set_metric(afm_eval_results *r, const char *name, double mean, double se, int64_t n) {
    if (n < 1 || afm_eval_results_add(r, name, 0) != AFM_OK) return;
    for (size_t i = 0; i < r->n_metrics; i++) {
        afm_eval_metric *m = &r->metrics[i];
        if (strcmp(m->name, name) != 0) continue;
        m->n = n;
        m->sum = mean * (double)n;
        m->sumsq = n > 1 ? se * se * (double)n * (double)(n - 1) + (double)n * mean * mean : mean * mean;
    }
}

typedef struct cat_score { double mean, se; int64_t n; bool present; } cat_score;

static cat_score score_of(afm_eval_results *r, const char *cat) {
    char metric[96];
    snprintf(metric, sizeof metric, "accuracy_%s", cat);
    cat_score s = {0, 0, 0, false};
    s.mean = afm_eval_results_mean(r, metric, &s.se, &s.n);
    s.present = s.n > 0;
    return s;
}

/* unweighted mean of the present scores: se = sqrt(sum se_i^2) / k */
static cat_score unweighted(const cat_score *s, int k) {
    cat_score o = {0, 0, 0, false};
    double v = 0;
    int m = 0;
    for (int i = 0; i < k; i++)
        if (s[i].present) { o.mean += s[i].mean; v += s[i].se * s[i].se; o.n += s[i].n; m++; }
    if (!m) return o;
    o.mean /= m;
    o.se = sqrt(v) / m;
    o.present = true;
    return o;
}

/* count-weighted mean (the items pooled) */
static cat_score weighted(const cat_score *s, int k) {
    cat_score o = {0, 0, 0, false};
    double v = 0;
    for (int i = 0; i < k; i++)
        if (s[i].present) { o.mean += s[i].mean * (double)s[i].n; o.n += s[i].n; }
    if (!o.n) return o;
    o.mean /= (double)o.n;
    for (int i = 0; i < k; i++)
        if (s[i].present) v += s[i].se * s[i].se * (double)s[i].n * (double)s[i].n;
    o.se = sqrt(v) / (double)o.n;
    o.present = true;
    return o;
}

void afm_eval_finish_bfcl(afm_eval_results *r) {
    cat_score simple3[3] = {score_of(r, "simple_python"), score_of(r, "simple_java"), score_of(r, "simple_javascript")};
    cat_score simple = unweighted(simple3, 3);
    cat_score nonlive[4] = {simple, score_of(r, "multiple"), score_of(r, "parallel"), score_of(r, "parallel_multiple")};
    cat_score live[4] = {score_of(r, "live_simple"), score_of(r, "live_multiple"), score_of(r, "live_parallel"),
                         score_of(r, "live_parallel_multiple")};
    cat_score s;
    if (simple.present) set_metric(r, "simple_ast", simple.mean, simple.se, simple.n);
    if ((s = unweighted(nonlive, 4)).present) set_metric(r, "non_live_ast", s.mean, s.se, s.n);
    if ((s = weighted(live, 4)).present) set_metric(r, "live_ast", s.mean, s.se, s.n);
}

/* ---------------------------------------------------------------- prompt */

static const char *hint(const char *cat) {
    if (strstr(cat, "javascript")) return " Note that the provided function is in JavaScript syntax.";
    if (strstr(cat, "java")) return " Note that the provided function is in Java 8 SDK syntax.";
    return " Note that the provided function is in Python 3 syntax.";
}

/* appends text to a str value in place */
static void str_append(afm_pv *v, const char *text) {
    if (!v || v->type != AFM_PV_STR) return;
    size_t l = strlen(text);
    char *s = realloc(v->s, v->len + l + 1);
    if (!s) return;
    memcpy(s + v->len, text, l + 1);
    v->s = s;
    v->len += l;
}

static void set_str(afm_pv *obj, const char *key, const char *text) {
    for (size_t k = 0; k < obj->n; k++)
        if (obj->keys[k]->type == AFM_PV_STR && !strcmp(obj->keys[k]->s, key)) {
            afm_pv *nv = afm_pv_str(text, strlen(text));
            if (nv) { afm_pv_free(obj->items[k]); obj->items[k] = nv; }
        }
}

static void del_key(afm_pv *obj, const char *key) {
    for (size_t k = 0; k < obj->n; k++)
        if (obj->keys[k]->type == AFM_PV_STR && !strcmp(obj->keys[k]->s, key)) {
            afm_pv_free(obj->keys[k]);
            afm_pv_free(obj->items[k]);
            memmove(obj->keys + k, obj->keys + k + 1, (obj->n - k - 1) * sizeof *obj->keys);
            memmove(obj->items + k, obj->items + k + 1, (obj->n - k - 1) * sizeof *obj->items);
            obj->n--;
            return;
        }
}

/* BFCL's _func_doc_language_specific_pre_processing */
static void language_hints(afm_pv *fns, const char *cat) {
    bool java = strstr(cat, "java") && !strstr(cat, "javascript"), js = strstr(cat, "javascript") != NULL;
    char buf[512];
    for (size_t f = 0; f < fns->n; f++) {
        afm_pv *fn = fns->items[f];
        afm_pv *desc = (afm_pv *)afm_pv_get(fn, "description");
        str_append(desc, hint(cat));
        afm_pv *props = (afm_pv *)afm_pv_get(afm_pv_get(fn, "parameters"), "properties");
        if (!props || props->type != AFM_PV_DICT || (!java && !js)) continue;
        const char *lang = java ? "Java" : "JavaScript";
        for (size_t p = 0; p < props->n; p++) {
            afm_pv *val = props->items[p];
            const afm_pv *t = afm_pv_get(val, "type");
            afm_pv *d = (afm_pv *)afm_pv_get(val, "description");
            if (!t || t->type != AFM_PV_STR) continue;
            char type[128];
            snprintf(type, sizeof type, "%s", t->s);
            if (!strcmp(type, "any")) snprintf(buf, sizeof buf, " This parameter can be of any type of %s object in string representation.", lang);
            else snprintf(buf, sizeof buf, " This is %s %s type parameter in string representation.", lang, type);
            str_append(d, buf);
            bool list = java ? (!strcmp(type, "ArrayList") || !strcmp(type, "Array")) : !strcmp(type, "array");
            if (list) {
                const afm_pv *it = afm_pv_get(afm_pv_get(val, "items"), "type");
                snprintf(buf, sizeof buf, " The list elements are of type %s; they are not in string representation.", it && it->type == AFM_PV_STR ? it->s : "None");
                str_append(d, buf);
                del_key(val, "items");
            }
            if (js && !strcmp(type, "dict") && afm_pv_get(val, "properties")) {
                afm_strbuf b;
                afm_sb_init(&b);
                afm_sb_puts(&b, " The dictionary entries have the following schema; they are not in string representation. ");
                afm_pv_dump_json(&b, afm_pv_get(val, "properties"), -1);
                if (b.s) str_append(d, b.s);
                afm_sb_free(&b);
                del_key(val, "properties");
            }
            set_str(val, "type", "string");
        }
    }
}

char *afm_bfcl_system_prompt(const char *category, const afm_pv *functions) {
    afm_pv *fns = afm_pv_copy(functions);
    if (!fns) return NULL;
    language_hints(fns, category);
    afm_strbuf b;
    afm_sb_init(&b);
    /* formulate_system_prompt("ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic") */
    afm_sb_puts(&b,
                "You are an expert in composing functions."
                "You are given a question and a set of possible functions. Based on the question, you will need to make "
                "one or more function/tool calls to achieve the purpose. If none of the functions can be used, point it "
                "out. If the given question lacks the parameters required by the function, also point it out.\n\n"
                "You should only return the function calls in your response.\n\n"
                "If you decide to invoke any of the function(s), you MUST put it in the format of "
                "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)].  "
                "You SHOULD NOT include any other text in the response.\n\n"
                "At each turn, you should try your best to complete the tasks requested by the user within the current "
                "turn. Continue to output functions to call until you have fulfilled the user's request to the best of "
                "your ability. Once you have no more functions to call, the system will consider the current turn "
                "complete and proceed to the next turn or task.\n\n"
                "Here is a list of functions in json format that you can invoke.\n");
    afm_pv_dump_json(&b, fns, 4);
    afm_sb_puts(&b, "\n");
    afm_pv_free(fns);
    return afm_sb_take(&b);
}

afm_status afm_bfcl_prompt(const cJSON *item, const char *chat_template, char **prompt, bool *special) {
    *prompt = NULL;
    *special = false;
    const char *cat = afm_eval_str(item, "category"), *fj = afm_eval_str(item, "function");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(item, "question");
    const cJSON *turn = cJSON_IsArray(q) ? cJSON_GetArrayItem(q, 0) : NULL;
    int n = cJSON_IsArray(turn) ? cJSON_GetArraySize(turn) : 0;
    if (!cat || !fj || n < 1) return afm_error(AFM_ERR_FORMAT, "BFCL item needs \"category\", \"function\" and a first turn of messages");
    afm_pv *fn;
    AFM_TRY(afm_pv_parse_json(fj, strlen(fj), &fn, NULL));
    char *sys = afm_bfcl_system_prompt(cat, fn);
    afm_pv_free(fn);
    afm_chat_message *msgs = calloc((size_t)n + 1, sizeof *msgs);
    char *first_sys = NULL;
    if (!sys || !msgs) { free(sys); free(msgs); return afm_error(AFM_ERR_NOMEM, "BFCL prompt"); }
    /* system_prompt_pre_processing_chat_model: the BFCL system prompt leads an existing system
     * message ("\n\n" between) or becomes the first message */
    size_t m = 0;
    const cJSON *first = cJSON_GetArrayItem(turn, 0);
    const char *r0 = afm_eval_str(first, "role"), *c0 = afm_eval_str(first, "content");
    int start = 0;
    if (r0 && !strcmp(r0, "system")) {
        size_t l = strlen(sys) + (c0 ? strlen(c0) : 0) + 3;
        first_sys = malloc(l);
        if (first_sys) snprintf(first_sys, l, "%s\n\n%s", sys, c0 ? c0 : "");
        msgs[m++] = (afm_chat_message){.role = "system", .content = first_sys ? first_sys : sys};
        start = 1;
    } else {
        msgs[m++] = (afm_chat_message){.role = "system", .content = sys};
    }
    for (int k = start; k < n; k++) {
        const cJSON *msg = cJSON_GetArrayItem(turn, k);
        const char *role = afm_eval_str(msg, "role"), *content = afm_eval_str(msg, "content");
        if (!role || !content) { free(sys); free(first_sys); free(msgs); return afm_error(AFM_ERR_FORMAT, "BFCL message %d needs \"role\" and \"content\"", k); }
        msgs[m++] = (afm_chat_message){.role = role, .content = content};
    }
    afm_status st = AFM_OK;
    if (chat_template && afm_chat_render(chat_template, msgs, m, NULL, true, NULL, NULL, prompt) == AFM_OK && *prompt) {
        *special = true;
    } else {
        /* no usable chat template: the messages as plain text */
        afm_strbuf b;
        afm_sb_init(&b);
        for (size_t k = 0; k < m; k++) afm_sb_printf(&b, "%s%s", k ? "\n\n" : "", msgs[k].content);
        afm_sb_puts(&b, "\n\n");
        *prompt = afm_sb_take(&b);
        if (!*prompt) st = afm_error(AFM_ERR_NOMEM, "BFCL prompt");
    }
    free(sys);
    free(first_sys);
    free(msgs);
    return st;
}
