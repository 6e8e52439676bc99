/* libFuzzer target for the evaluation parsers and scorers: JSONL and CSV records, ROUGE
 * tokenization, GSM8K/MATH answer extraction and normalization, IFEval checks (all 25 types
 * on one item each), XSTest matching and afm eval --compare of a results file (scores, stderr,
 * items, finish summary) against itself, on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "eval/answer.h"
#include "eval/dataset.h"
#include "eval/ifeval.h"
#include "eval/results.h"
#include "eval/rouge.h"
#include "eval/task.h"

static const char *k_items =
    "[{\"instruction_id_list\": [\"keywords:existence\", \"keywords:frequency\", \"keywords:forbidden_words\","
    " \"keywords:letter_frequency\", \"language:response_language\"], \"kwargs\": [{\"keywords\": [\"a\", \"bc\"]},"
    " {\"keyword\": \"x\", \"frequency\": 2, \"relation\": \"at least\"}, {\"forbidden_words\": [\"no\"]},"
    " {\"letter\": \"q\", \"let_frequency\": 3, \"let_relation\": \"less than\"}, {\"language\": \"de\"}], \"prompt\": \"p\"},"
    " {\"instruction_id_list\": [\"length_constraints:number_sentences\", \"length_constraints:number_paragraphs\","
    " \"length_constraints:number_words\", \"length_constraints:nth_paragraph_first_word\", \"detectable_content:number_placeholders\"],"
    " \"kwargs\": [{\"num_sentences\": 3, \"relation\": \"less than\"}, {\"num_paragraphs\": 2}, {\"num_words\": 5, \"relation\": \"at least\"},"
    " {\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"so\"}, {\"num_placeholders\": 1}], \"prompt\": \"p\"},"
    " {\"instruction_id_list\": [\"detectable_content:postscript\", \"detectable_format:number_bullet_lists\","
    " \"detectable_format:constrained_response\", \"detectable_format:number_highlighted_sections\", \"detectable_format:multiple_sections\"],"
    " \"kwargs\": [{\"postscript_marker\": \"P.P.S\"}, {\"num_bullets\": 2}, {}, {\"num_highlights\": 1},"
    " {\"section_spliter\": \"Section\", \"num_sections\": 2}], \"prompt\": \"p\"},"
    " {\"instruction_id_list\": [\"detectable_format:json_format\", \"detectable_format:title\", \"combination:two_responses\","
    " \"combination:repeat_prompt\", \"startend:end_checker\"], \"kwargs\": [{}, {}, {}, {\"prompt_to_repeat\": \"say\"},"
    " {\"end_phrase\": \"bye\"}], \"prompt\": \"p\"},"
    " {\"instruction_id_list\": [\"change_case:capital_word_frequency\", \"change_case:english_capital\","
    " \"change_case:english_lowercase\", \"punctuation:no_comma\", \"startend:quotation\", \"detectable_content:postscript\"],"
    " \"kwargs\": [{\"capital_frequency\": 2, \"capital_relation\": \"at least\"}, {}, {}, {}, {}, {\"postscript_marker\": \"P.S.\"}],"
    " \"prompt\": \"p\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    afm_eval_dataset d;
    if (afm_eval_dataset_parse_jsonl((const char *)data, size, &d) == AFM_OK) afm_eval_dataset_free(&d);
    if (afm_eval_dataset_parse_csv((const char *)data, size, NULL, 0, &d) == AFM_OK) afm_eval_dataset_free(&d);
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    afm_rouge_scores r;
    const char *refs[2] = {s, "the reference summary"};
    afm_rouge_score_multi(refs, 2, s, &r);
    free(afm_gsm8k_extract_strict(s));
    char *f = afm_gsm8k_extract_flexible(s);
    afm_gsm8k_match(f, "42");
    free(f);
    char *m = afm_math_extract(s);
    afm_math_equiv(m, "\\frac{1}{2}");
    free(m);
    free(afm_math_strip_string(s));
    afm_ifeval_is_json(s, strlen(s));
    afm_xstest_is_refusal(s);
    cJSON *items = cJSON_Parse(k_items);
    cJSON *it;
    cJSON_ArrayForEach(it, items) {
        bool st[8], lo[8];
        size_t k;
        afm_ifeval_item(it, s, st, lo, 8, &k);
    }
    cJSON_Delete(items);
    free(s);
    /* the input as a results file for --compare */
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/afm_fuzz_eval_%d.json", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (fp) {
        size_t w = fwrite(data, 1, size, fp);
        fclose(fp);
        char *table = NULL;
        if (w == size && afm_eval_compare(path, path, &table) == AFM_OK) free(table);
        remove(path);
    }
    return 0;
}
