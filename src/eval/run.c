/* Model-driven evaluation entry point (see run.h). The runner (KV-prefix-sharing scoring,
 * generation, perplexity) waits for the model runtime (include/afm/model.h) to land in libafm;
 * until then model runs report that they are unavailable. */
#include "eval/run.h"
#include "base/error.h"

void afm_eval_run_options_default(afm_eval_run_options *o) {
    *o = (afm_eval_run_options){.limit = 0, .shots = -1, .n_threads = 0, .n_ctx = 0, .max_tokens = 0,
                                .progress = true, .chat = true, .adapter = NULL};
}

afm_status afm_eval_run_model(const afm_eval_task *task, const afm_eval_dataset *data, const char *model_path,
                              const afm_eval_run_options *opt, afm_eval_results *r) {
    (void)data; (void)opt; (void)r;
    return afm_error(AFM_ERR_UNSUPPORTED, "task '%s' on model %s: model runs need the model runtime, which this build lacks",
                     task->name, model_path);
}
