/* Prompt construction for model runs (no model needed, so it is unit-tested on its own).
 *   mmlu:  "The following are multiple choice questions (with answers) about {subject}.\n\n"
 *          + K dev examples "{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer: {X}\n\n" + the question
 *          without its answer; continuations " A" .. " D" (lm-eval mmlu default).
 *   boolq: "{passage}\nQuestion: {question}?\nAnswer:", continuations " no" / " yes".
 *   gsm8k: K of the 8 chain-of-thought exemplars (Wei et al. 2022) "Q: {q}\nA: {a}\n\n", then
 *          "Q: {q}\nA:"; generation stops at "Q:", "</s>", "<|im_end|>" (lm-eval gsm8k-cot).
 *   ifeval, xstest: the prompt; math: the problem + "Please reason step by step, and put your
 *          final answer within \boxed{}."; rouge: "Write a one-line subject summarizing this
 *          email:\n\n{email}" (first line of the answer is scored). These are one user turn
 *          rendered with the model's own chat template (tokenizer.chat_template), if it has one. */
#ifndef AFM_EVAL_PROMPTS_H
#define AFM_EVAL_PROMPTS_H
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "afm/status.h"

typedef struct afm_eval_prompts {
    char task[32];
    int shots;
    char *data_path;
    char subject[256];   /* MMLU: subject of the cached few-shot prefix */
    char *prefix;        /* MMLU: the cached description + few-shot prefix */
} afm_eval_prompts;

typedef struct afm_eval_choice_item {
    char *context;
    char *choices[8];
    int n_choices;
    int gold;
    const char *subject;
} afm_eval_choice_item;

typedef struct afm_eval_gen_item {
    char *prompt;
    bool special;      /* the prompt holds special-token text (chat template) */
    int max_tokens;
    char *stops[8];    /* NULL-terminated */
} afm_eval_gen_item;

afm_status afm_eval_prompts_init(afm_eval_prompts *p, const char *task, int shots, const char *data_path);
void afm_eval_prompts_free(afm_eval_prompts *p);
afm_status afm_eval_prompts_choice(afm_eval_prompts *p, const cJSON *item, afm_eval_choice_item *out);
void afm_eval_choice_item_free(afm_eval_choice_item *c);
/* chat_template: the model's template text or NULL (no chat wrapping) */
afm_status afm_eval_prompts_generate(afm_eval_prompts *p, const cJSON *item, const char *chat_template,
                                     afm_eval_gen_item *out);
void afm_eval_gen_item_free(afm_eval_gen_item *g);
/* One user turn rendered with a chat template (add_generation_prompt), as transformers'
 * apply_chat_template does; *special = true. Without a usable template: a copy of the text,
 * *special = false. NULL when out of memory. */
char *afm_eval_chat_wrap(const char *tmpl, const char *user, bool *special);
#endif
