/* Prompts of model runs against lm-evaluation-harness's own task configs rendered with jinja2
 * (scripts/reference/eval_prompts.py): MMLU 5-shot, BoolQ, GSM8K 8-shot chain of thought. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "base/file.h"
#include "eval/dataset.h"
#include "eval/prompts.h"
#include "eval/task.h"

static int g_fail;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); g_fail++; } } while (0)

static void same_text(const char *what, const char *got, const char *want) {
    if (got && want && !strcmp(got, want)) return;
    size_t i = 0;
    while (got && want && got[i] && got[i] == want[i]) i++;
    CHECK(0, "%s differs at byte %zu: got '%.40s' want '%.40s'", what, i, got ? got + i : "(null)", want ? want + i : "(null)");
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR"), *shared = getenv("AFM_SHARED");
    if (!src || !shared) { fprintf(stderr, "AFM_SOURCE_DIR and AFM_SHARED must be set\n"); return 1; }
    char path[4096], *text;
    size_t size;
    snprintf(path, sizeof path, "%s/tests/fixtures/eval/prompts.json", src);
    if (afm_read_file(path, &text, &size) != AFM_OK) { fprintf(stderr, "cannot read %s\n", path); return 1; }
    cJSON *fx = cJSON_Parse(text);
    free(text);

    /* MMLU: first abstract_algebra test question, 5 shots from dev */
    char mmlu[4096];
    snprintf(mmlu, sizeof mmlu, "%s/data/mmlu", shared);
    afm_eval_dataset d;
    CHECK(afm_eval_load_mmlu(mmlu, &d) == AFM_OK && d.n > 0, "mmlu load");
    afm_eval_prompts p;
    afm_eval_prompts_init(&p, "mmlu", 5, mmlu);
    afm_eval_choice_item ci;
    cJSON *want = cJSON_GetObjectItem(fx, "mmlu_abstract_algebra_0");
    CHECK(afm_eval_prompts_choice(&p, d.rec[0].json, &ci) == AFM_OK, "mmlu prompt: %s", afm_last_error());
    same_text("mmlu context", ci.context, cJSON_GetObjectItem(want, "context")->valuestring);
    for (int k = 0; k < 4; k++) same_text("mmlu choice", ci.choices[k], cJSON_GetArrayItem(cJSON_GetObjectItem(want, "choices"), k)->valuestring);
    CHECK(ci.gold == cJSON_GetObjectItem(want, "gold")->valueint, "mmlu gold %d", ci.gold);
    afm_eval_choice_item_free(&ci);
    /* the prefix is cached per subject: a second item of the same subject shares it */
    const char *prefix = p.prefix;
    CHECK(afm_eval_prompts_choice(&p, d.rec[1].json, &ci) == AFM_OK && p.prefix == prefix, "prefix reused");
    CHECK(ci.context && !strncmp(ci.context, prefix, strlen(prefix)), "second item starts with the prefix");
    afm_eval_choice_item_free(&ci);
    /* a single test CSV finds its dev examples in ../dev */
    afm_eval_prompts_free(&p);
    snprintf(path, sizeof path, "%s/data/mmlu/test/abstract_algebra_test.csv", shared);
    afm_eval_prompts_init(&p, "mmlu", 5, path);
    CHECK(afm_eval_prompts_choice(&p, d.rec[0].json, &ci) == AFM_OK, "mmlu from one csv: %s", afm_last_error());
    same_text("mmlu context (csv)", ci.context, cJSON_GetObjectItem(want, "context")->valuestring);
    afm_eval_choice_item_free(&ci);
    afm_eval_prompts_free(&p);
    afm_eval_dataset_free(&d);

    /* BoolQ */
    snprintf(path, sizeof path, "%s/data/qa/boolq_validation.json", shared);
    CHECK(afm_eval_dataset_load(path, &d) == AFM_OK && d.n == 3270, "boolq rows %zu", d.n);
    want = cJSON_GetObjectItem(fx, "boolq_0");
    afm_eval_prompts_init(&p, "boolq", 0, path);
    CHECK(afm_eval_prompts_choice(&p, d.rec[0].json, &ci) == AFM_OK, "boolq prompt");
    same_text("boolq context", ci.context, cJSON_GetObjectItem(want, "context")->valuestring);
    same_text("boolq no", ci.choices[0], " no");
    same_text("boolq yes", ci.choices[1], " yes");
    CHECK(ci.gold == cJSON_GetObjectItem(want, "gold")->valueint, "boolq gold");
    afm_eval_choice_item_free(&ci);
    afm_eval_prompts_free(&p);
    afm_eval_dataset_free(&d);

    /* GSM8K 8-shot chain of thought, no chat template */
    snprintf(path, sizeof path, "%s/data/math/gsm8k_test.jsonl", shared);
    CHECK(afm_eval_dataset_load(path, &d) == AFM_OK && d.n == 1319, "gsm8k rows");
    want = cJSON_GetObjectItem(fx, "gsm8k_0");
    afm_eval_prompts_init(&p, "gsm8k", 8, path);
    afm_eval_gen_item g;
    CHECK(afm_eval_prompts_generate(&p, d.rec[0].json, NULL, &g) == AFM_OK, "gsm8k prompt");
    same_text("gsm8k prompt", g.prompt, cJSON_GetObjectItem(want, "prompt")->valuestring);
    for (int k = 0; k < 3; k++) same_text("gsm8k stop", g.stops[k], cJSON_GetArrayItem(cJSON_GetObjectItem(want, "stops"), k)->valuestring);
    afm_eval_gen_item_free(&g);
    /* a chat template wraps generation prompts; bad items are errors */
    afm_eval_prompts_free(&p);
    afm_eval_prompts_init(&p, "ifeval", 0, NULL);
    cJSON *it = cJSON_Parse("{\"prompt\": \"Say hi.\"}");
    const char *chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    CHECK(afm_eval_prompts_generate(&p, it, chatml, &g) == AFM_OK && g.special, "chat prompt");
    same_text("chat prompt", g.prompt, "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n");
    afm_eval_gen_item_free(&g);
    cJSON_Delete(it);
    it = cJSON_Parse("{\"text\": \"no prompt field\"}");
    CHECK(afm_eval_prompts_generate(&p, it, NULL, &g) == AFM_ERR_FORMAT, "missing prompt is a format error");
    cJSON_Delete(it);
    afm_eval_prompts_free(&p);
    afm_eval_dataset_free(&d);
    cJSON_Delete(fx);
    if (g_fail) { fprintf(stderr, "%d failures\n", g_fail); return 1; }
    printf("ok\n");
    return 0;
}
