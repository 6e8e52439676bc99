/* BFCL (Berkeley Function Calling Leaderboard) single-turn AST evaluation, as the bfcl-eval
 * package grades a model in prompting mode (no native tool tokens):
 *
 *   decode:  the response, stripped of "`", "\n" and " " at both ends and wrapped in [ ] if it
 *            is not already, is parsed as a Python list of calls [f(a=1, b="x"), g(c=[1, 2])]
 *            (keyword arguments only; positional ones are dropped, as BFCL's resolve_ast_call
 *            does). Java and JavaScript categories parse the text inside the brackets as one
 *            Java / JavaScript call whose argument values stay source text.
 *   check:   BFCL's ast_checker: function name, required parameters present, no parameter
 *            outside the function's properties and the possible answer, the Python type (or the
 *            Java/JS type after BFCL's string conversion), the value in the list of acceptable
 *            values (strings compared after removing " ,./-_*^", lowercasing and ' -> "),
 *            parallel calls matched in any order; irrelevance = no call decoded.
 *
 * A decoded call list is a Python LIST of DICTs {name: {param: value}} (pyval.h). */
#ifndef AFM_EVAL_BFCL_H
#define AFM_EVAL_BFCL_H
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "afm/status.h"
#include "eval/dataset.h"
#include "eval/pyval.h"
#include "eval/results.h"
#include "eval/strbuf.h"

typedef enum afm_bfcl_lang { AFM_BFCL_PYTHON, AFM_BFCL_JAVA, AFM_BFCL_JAVASCRIPT } afm_bfcl_lang;

/* BFCL's default_decode_ast_prompting: on success *calls is a LIST of {name: {param: value}}
 * (possibly not in that form for Java/JS, see afm_bfcl_is_call_list). On failure returns
 * AFM_ERR_FORMAT with the reason. */
afm_status afm_bfcl_decode(const char *response, afm_bfcl_lang lang, afm_pv **calls);
/* the Python and the Java / JavaScript decoders proper (input already bracket-wrapped) */
afm_status afm_bfcl_parse_python(const char *text, size_t len, afm_pv **calls);
afm_status afm_bfcl_parse_java(const char *text, size_t len, afm_pv **calls);
afm_status afm_bfcl_parse_javascript(const char *text, size_t len, afm_pv **calls);
/* is_function_calling_format_output: a list of one-key dicts whose value is a dict */
bool afm_bfcl_is_call_list(const afm_pv *v);

/* BFCL's Java / JavaScript type converters (java_type_converter, js_type_converter): the
 * source text of an argument -> a typed value, or the text itself when it does not parse.
 * nested_type may be NULL. Returns NULL (with an error) for types BFCL does not convert. */
afm_pv *afm_bfcl_java_convert(const char *value, const char *type, const char *nested_type);
afm_pv *afm_bfcl_js_convert(const char *value, const char *type, const char *nested_type);

/* BFCL's standardize_string: remove " ,./-_*^", lowercase, ' -> " (malloc'd) */
char *afm_bfcl_standardize(const char *s, size_t n);

typedef struct afm_bfcl_verdict {
    bool valid;
    char error_type[64];  /* BFCL's error_type ("" when valid) */
    afm_strbuf error;     /* its message */
} afm_bfcl_verdict;

/* ast_checker(functions, decoded, ground_truth, language, category): functions is the item's
 * function list (as in the data file), ground_truth its possible answers. */
void afm_bfcl_check(const afm_pv *functions, const afm_pv *calls, const afm_pv *ground_truth, afm_bfcl_lang lang,
                    const char *category, afm_bfcl_verdict *v);

/* Grades one response for a data item ({"id", "category", "function", "ground_truth"?, ...}
 * with function/ground_truth as JSON text, see afm_eval_load_bfcl): the whole BFCL pipeline
 * (decode, format check, checker; relevance and irrelevance by decodability). */
void afm_bfcl_grade(const char *category, const afm_pv *functions, const afm_pv *ground_truth, const char *response,
                    afm_bfcl_verdict *v);

/* Category names of the BFCL v4 single-turn files and their aliases (simple -> simple_python,
 * java -> simple_java, javascript -> simple_javascript). NULL if unknown. */
const char *afm_bfcl_category(const char *name);

/* The BFCL prompting-mode system prompt (ret_fmt=python, func_doc_fmt=json, plaintext, classic)
 * for the item's functions, with BFCL's language hints added to the descriptions (malloc'd). */
char *afm_bfcl_system_prompt(const char *category, const afm_pv *functions);

/* The prompt for a model run: the system prompt above, then the item's first-turn messages,
 * rendered with the model's chat template (*special: the text holds special tokens), or as plain
 * text without one. */
afm_status afm_bfcl_prompt(const cJSON *item, const char *chat_template, char **prompt, bool *special);

/* task hooks (task.h) */
afm_status afm_eval_load_bfcl(const char *path, const char *category, afm_eval_dataset *out);
afm_status afm_eval_load_bfcl_all(const char *path, afm_eval_dataset *out);
afm_status afm_eval_score_bfcl(const cJSON *item, const char *response, cJSON *rec, afm_eval_results *r);
void afm_eval_finish_bfcl(afm_eval_results *r);
#endif
