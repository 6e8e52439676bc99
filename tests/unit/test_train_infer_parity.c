/* A model saved by the trainer (afm_train_gguf_save) is loaded by the inference runtime
 * (afm_model_load + afm_session_eval) and gives the same logits as the training forward, for
 * every switch combination (RoPE layout x QK-norm position x tied/separate output, GQA,
 * head_dim != dim/heads, random norm gains): max|infer - train| <= 1e-4 * max|train| per row. */
#include "afm/model.h"
#include "model/train_gguf.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    int fail = 0, n = 0;
    enum { T = 9 };
    for (int rope = 0; rope < 2; rope++)
        for (int qk = 0; qk < 3; qk++)
            for (int tied = 0; tied < 2; tied++) {
                afm_config c = {.arch = "afm", .n_vocab = 37, .dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
                                .ffn_dim = 40, .max_seq_len = 32, .rope_theta = 10000.0f, .rope_layout = (afm_rope_layout)rope,
                                .qk_norm = (afm_qk_norm)qk, .norm_eps = 1e-5f, .tied_output = tied};
                afm_train_model *m;
                if (afm_train_model_create(&c, 1, T, NULL, &m) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
                afm_train_model_init(m, (uint64_t)(11 + rope * 6 + qk * 2 + tied));
                afm_rng r;
                afm_rng_seed(&r, 5);
                for (int i = 0; i < m->n_tensors; i++)
                    if (m->tensors[i].kind == AFM_PARAM_NORM)
                        for (size_t j = 0; j < m->tensors[i].numel; j++) m->params[m->tensors[i].offset + j] = 1.0f + 0.3f * afm_rng_normal(&r);
                int32_t tok[T];
                for (int t = 0; t < T; t++) tok[t] = (int32_t)(afm_rng_u64(&r) % 37);
                double unused;
                afm_train_forward(m, tok, NULL, 1, T, &unused);
                char path[128];
                snprintf(path, sizeof path, "test_train_infer_parity_%d.gguf", (int)getpid());
                afm_model *im = NULL;
                afm_session *s = NULL;
                float *logits = malloc(sizeof(float) * T * 37);
                afm_session_options so = {.n_ctx = 32, .n_threads = 1};
                if (afm_train_gguf_save(m, path, NULL) != AFM_OK || afm_model_load(path, &im) != AFM_OK ||
                    afm_session_create(im, &so, &s) != AFM_OK || afm_session_eval(s, tok, T, true, logits) != AFM_OK) {
                    fprintf(stderr, "FAIL rope %d qk %d tied %d: %s\n", rope, qk, tied, afm_last_error());
                    fail = 1;
                } else {
                    double worst = 0;
                    for (int t = 0; t < T; t++) {
                        double md = 0, mx = 0;
                        for (int v = 0; v < 37; v++) {
                            md = fmax(md, fabs((double)logits[t * 37 + v] - m->logits[t * 37 + v]));
                            mx = fmax(mx, fabs(m->logits[t * 37 + v]));
                        }
                        worst = fmax(worst, md / mx);
                    }
                    printf("rope %-11s qk %-6s %-8s: inference vs training logits, worst row rel %.1e\n", rope ? "half" : "interleaved",
                           qk == 0 ? "off" : qk == 1 ? "before" : "after", tied ? "tied" : "separate", worst);
                    if (!(worst <= 1e-4)) fail = 1;
                }
                n++;
                afm_session_free(s);
                afm_model_free(im);
                unlink(path);
                free(logits);
                afm_train_model_free(m);
            }
    printf("%d configurations: %s\n", n, fail ? "FAIL" : "ok");
    return fail;
}
