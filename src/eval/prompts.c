/* Prompt construction (see prompts.h). */
#include "eval/prompts.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"
#include "eval/bfcl.h"
#include "eval/dataset.h"
#include "eval/strbuf.h"
#include "eval/task.h"
#include "tokenizer/chat_template.h"

/* the 8 exemplars of lm-eval's gsm8k-cot (chain-of-thought prompt of Wei et al. 2022) */
static const char *const k_gsm8k_shots[8][2] = {
    {"There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6."},
    {"If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."},
    {"Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39."},
    {"Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8."},
    {"Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9."},
    {"There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29."},
    {"Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33."},
    {"Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8."},
};

afm_status afm_eval_prompts_init(afm_eval_prompts *p, const char *task, int shots, const char *data_path) {
    memset(p, 0, sizeof *p);
    snprintf(p->task, sizeof p->task, "%s", task);
    p->shots = shots;
    p->data_path = data_path ? strdup(data_path) : NULL;
    return AFM_OK;
}

void afm_eval_prompts_free(afm_eval_prompts *p) {
    free(p->data_path);
    free(p->prefix);
    memset(p, 0, sizeof *p);
}

void afm_eval_choice_item_free(afm_eval_choice_item *c) {
    free(c->context);
    for (int i = 0; i < c->n_choices; i++) free(c->choices[i]);
    memset(c, 0, sizeof *c);
}

void afm_eval_gen_item_free(afm_eval_gen_item *g) {
    free(g->prompt);
    for (int i = 0; i < 8 && g->stops[i]; i++) free(g->stops[i]);
    memset(g, 0, sizeof *g);
}

/* "{q.strip()}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:" */
static bool mmlu_question(afm_strbuf *b, const cJSON *it) {
    const char *q = afm_eval_str(it, "question"), *opt[4] = {afm_eval_str(it, "A"), afm_eval_str(it, "B"),
                                                            afm_eval_str(it, "C"), afm_eval_str(it, "D")};
    if (!q || !opt[0] || !opt[1] || !opt[2] || !opt[3]) return false;
    while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r') q++;
    size_t ql = strlen(q);
    while (ql && (q[ql - 1] == ' ' || q[ql - 1] == '\n' || q[ql - 1] == '\t' || q[ql - 1] == '\r')) ql--;
    afm_sb_append(b, q, ql);
    for (int k = 0; k < 4; k++) afm_sb_printf(b, "\n%c. %s", 'A' + k, opt[k]);
    afm_sb_puts(b, "\nAnswer:");
    return true;
}

/* dev examples of a subject: <root>/dev/<subject>_dev.csv where root is the MMLU folder (the
 * data path, or the folder above a single test CSV's folder) */
static afm_status mmlu_prefix(afm_eval_prompts *p, const char *subject) {
    if (p->prefix && !strcmp(p->subject, subject)) return AFM_OK;
    free(p->prefix);
    p->prefix = NULL;
    snprintf(p->subject, sizeof p->subject, "%s", subject);
    afm_strbuf b;
    afm_sb_init(&b);
    afm_sb_puts(&b, "The following are multiple choice questions (with answers) about ");
    for (const char *s = subject; *s; s++) afm_sb_append(&b, *s == '_' ? " " : s, 1);
    afm_sb_puts(&b, ".\n\n");
    if (p->shots > 0) {
        char root[4096], dev[8192];
        snprintf(root, sizeof root, "%s", p->data_path ? p->data_path : ".");
        if (!afm_is_dir(root)) {
            char *slash = strrchr(root, '/');
            if (slash) *slash = '\0'; else snprintf(root, sizeof root, ".");
            slash = strrchr(root, '/');
            if (slash) *slash = '\0'; else snprintf(root, sizeof root, "..");
        }
        snprintf(dev, sizeof dev, "%s/dev/%s_dev.csv", root, subject);
        afm_eval_dataset d;
        static const char *const cols[] = {"question", "A", "B", "C", "D", "answer"};
        afm_status st = afm_eval_dataset_load_csv(dev, cols, 6, &d);
        if (st != AFM_OK) { afm_sb_free(&b); return afm_error_prefix(st, "MMLU few-shot examples for '%s'", subject); }
        int used = 0;
        for (size_t i = 0; i < d.n && used < p->shots; i++) {
            if (!d.rec[i].json || !mmlu_question(&b, d.rec[i].json)) continue;
            afm_sb_printf(&b, " %s\n\n", afm_eval_str(d.rec[i].json, "answer"));
            used++;
        }
        afm_eval_dataset_free(&d);
        if (used < p->shots) { afm_sb_free(&b); return afm_error(AFM_ERR_FORMAT, "%s: only %d dev examples, %d shots asked", dev, used, p->shots); }
    }
    p->prefix = afm_sb_take(&b);
    return p->prefix ? AFM_OK : afm_error(AFM_ERR_NOMEM, "MMLU prefix");
}

afm_status afm_eval_prompts_choice(afm_eval_prompts *p, const cJSON *it, afm_eval_choice_item *out) {
    memset(out, 0, sizeof *out);
    afm_strbuf b;
    afm_sb_init(&b);
    if (!strcmp(p->task, "mmlu")) {
        const char *subject = afm_eval_str(it, "subject"), *ans = afm_eval_str(it, "answer");
        if (!subject || !ans || strlen(ans) != 1 || ans[0] < 'A' || ans[0] > 'D')
            return afm_error(AFM_ERR_FORMAT, "MMLU item needs \"subject\" and an \"answer\" letter A-D");
        AFM_TRY(mmlu_prefix(p, subject));
        afm_sb_puts(&b, p->prefix);
        if (!mmlu_question(&b, it)) { afm_sb_free(&b); return afm_error(AFM_ERR_FORMAT, "MMLU item needs question, A, B, C, D"); }
        static const char *const letters[] = {" A", " B", " C", " D"};
        for (int k = 0; k < 4; k++) out->choices[k] = strdup(letters[k]);
        out->n_choices = 4;
        out->gold = ans[0] - 'A';
        out->subject = subject;
    } else if (!strcmp(p->task, "boolq")) {
        const char *q = afm_eval_str(it, "question"), *passage = afm_eval_str(it, "passage");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "answer");
        if (!cJSON_IsBool(a)) a = cJSON_GetObjectItemCaseSensitive(it, "label");
        if (!q || !passage || !(cJSON_IsBool(a) || cJSON_IsNumber(a)))
            return afm_error(AFM_ERR_FORMAT, "BoolQ item needs \"passage\", \"question\" and a boolean \"answer\"");
        afm_sb_printf(&b, "%s\nQuestion: %s?\nAnswer:", passage, q);
        out->choices[0] = strdup(" no");
        out->choices[1] = strdup(" yes");
        out->n_choices = 2;
        out->gold = cJSON_IsBool(a) ? cJSON_IsTrue(a) : a->valueint != 0;
    } else {
        return afm_error(AFM_ERR_UNSUPPORTED, "task '%s' is not multiple choice", p->task);
    }
    out->context = afm_sb_take(&b);
    for (int k = 0; k < out->n_choices; k++) if (!out->choices[k]) out->context = NULL;
    if (!out->context) { afm_eval_choice_item_free(out); return afm_error(AFM_ERR_NOMEM, "prompt"); }
    return AFM_OK;
}

/* One user turn rendered with the model's chat template (add_generation_prompt), as
 * transformers' apply_chat_template does; without a usable template, the bare text. */
char *afm_eval_chat_wrap(const char *tmpl, const char *user, bool *special) {
    *special = false;
    if (tmpl) {
        afm_chat_message m = {.role = "user", .content = user};
        char *out = NULL;
        if (afm_chat_render(tmpl, &m, 1, NULL, true, NULL, NULL, &out) == AFM_OK && out) {
            *special = true;
            return out;
        }
    }
    return strdup(user);
}

afm_status afm_eval_prompts_generate(afm_eval_prompts *p, const cJSON *it, const char *tmpl, afm_eval_gen_item *g) {
    memset(g, 0, sizeof *g);
    afm_strbuf b;
    afm_sb_init(&b);
    const char *t = p->task;
    if (!strcmp(t, "gsm8k")) {
        const char *q = afm_eval_str(it, "question");
        if (!q) return afm_error(AFM_ERR_FORMAT, "GSM8K item needs \"question\"");
        int k = p->shots < 0 ? 8 : p->shots > 8 ? 8 : p->shots;
        for (int i = 0; i < k; i++) afm_sb_printf(&b, "Q: %s\nA: %s\n\n", k_gsm8k_shots[i][0], k_gsm8k_shots[i][1]);
        afm_sb_printf(&b, "Q: %s\nA:", q);
        g->prompt = afm_sb_take(&b);
        g->max_tokens = 256;
        g->stops[0] = strdup("Q:");
        g->stops[1] = strdup("</s>");
        g->stops[2] = strdup("<|im_end|>");
    } else if (!strcmp(t, "bfcl")) {
        afm_sb_free(&b);
        AFM_TRY(afm_bfcl_prompt(it, tmpl, &g->prompt, &g->special));
        g->max_tokens = 256;
    } else {
        const char *user = NULL;
        if (!strcmp(t, "ifeval") || !strcmp(t, "xstest")) {
            user = afm_eval_str(it, "prompt");
            if (!user) return afm_error(AFM_ERR_FORMAT, "item needs \"prompt\"");
            afm_sb_puts(&b, user);
            g->max_tokens = !strcmp(t, "ifeval") ? 1280 : 256;
        } else if (!strcmp(t, "math")) {
            user = afm_eval_str(it, "problem");
            if (!user) return afm_error(AFM_ERR_FORMAT, "MATH item needs \"problem\"");
            afm_sb_printf(&b, "%s\nPlease reason step by step, and put your final answer within \\boxed{}.", user);
            g->max_tokens = 1024;
        } else if (!strcmp(t, "rouge")) {
            user = afm_eval_str(it, "email");
            if (!user) user = afm_eval_str(it, "text");
            if (!user) return afm_error(AFM_ERR_FORMAT, "summarization item needs \"email\" or \"text\"");
            afm_sb_printf(&b, "Write a one-line subject summarizing this email:\n\n%s", user);
            g->max_tokens = 48;
            g->stops[0] = strdup("\n");
        } else {
            return afm_error(AFM_ERR_UNSUPPORTED, "task '%s' has no generation prompt", t);
        }
        char *u = afm_sb_take(&b);
        g->prompt = u ? afm_eval_chat_wrap(tmpl, u, &g->special) : NULL;
        free(u);
    }
    if (!g->prompt) { afm_eval_gen_item_free(g); return afm_error(AFM_ERR_NOMEM, "prompt"); }
    return AFM_OK;
}
