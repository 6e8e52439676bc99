/* Activation checkpointing (afm_train_model_opts.checkpoint_activations, src/model/train_model.c):
 * the forward keeps only each layer's input and the backward recomputes the layer's internals,
 * so the loss and every gradient must be bit-identical to the model that keeps everything.
 *
 * For 3-layer models over QK-norm off / before / after RoPE, both RoPE layouts, tied and separate
 * output, z-loss, one and two threads: two accumulated training steps (afm_train_step, different
 * batches and scales) and the full path (afm_train_forward + afm_train_backward, which
 * distillation uses), compared with memcmp; afm_train_eval_loss likewise. The activation bytes
 * must shrink by (L - 1) layers' internals. A negative control perturbs one weight of the
 * checkpointed model between forward and backward (the recomputation then reads another weight
 * than the forward did) and requires the gradients to differ, so the comparison cannot pass by
 * accident of both models sharing state. */
#include "model/train_model.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL: " __VA_ARGS__); fprintf(stderr, "\n"); g_fail = 1; } } while (0)

enum { B = 2, T = 9, L = 3 };

static afm_train_model *make(const afm_config *c, bool ckpt, afm_pool *pool) {
    afm_train_model_opts o = {.checkpoint_activations = ckpt};
    afm_train_model *m;
    if (afm_train_model_create_opts(c, B, T, &o, pool, &m) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); exit(1); }
    afm_train_model_init(m, 3);
    m->z_loss = 1e-3f;
    m->out_chunk = 5;
    return m;
}

int main(void) {
    afm_pool *pool2;
    if (afm_pool_create(2, &pool2) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    int n = 0;
    for (int qk = 0; qk < 3; qk++)
        for (int tied = 0; tied < 2; tied++)
            for (int th = 0; th < 2; th++) {
                afm_config c = {.arch = "afm", .n_vocab = 29, .dim = 24, .n_layers = L, .n_heads = 4, .n_kv_heads = 2,
                                .head_dim = 8, .ffn_dim = 40, .max_seq_len = T, .rope_theta = 10000.0f,
                                .rope_layout = qk == 1 ? AFM_ROPE_HALF : AFM_ROPE_INTERLEAVED, .qk_norm = (afm_qk_norm)qk,
                                .norm_eps = 1e-5f, .tied_output = tied};
                afm_pool *pool = th ? pool2 : NULL;
                afm_train_model *a = make(&c, false, pool), *k = make(&c, true, pool);
                char label[96];
                snprintf(label, sizeof label, "qk=%d tied=%d threads=%d", qk, tied, th ? 2 : 1);
                afm_train_model_opts on = {.checkpoint_activations = true};
                size_t ba = afm_train_act_bytes(&c, B, T), bk = afm_train_act_bytes_opts(&c, B, T, &on);
                CHECK(bk < ba, "%s: checkpointed activations %zu bytes, plain %zu", label, bk, ba);
                int32_t tok[2][B * T], tgt[2][B * T];
                afm_rng rng;
                afm_rng_seed(&rng, 99 + (uint64_t)n);
                for (int s = 0; s < 2; s++)
                    for (int i = 0; i < B * T; i++) {
                        tok[s][i] = (int32_t)(afm_rng_u64(&rng) % 29);
                        tgt[s][i] = (int32_t)(afm_rng_u64(&rng) % 29);
                    }
                tgt[0][4] = -1;
                double la[2], lk[2];
                afm_train_zero_grad(a);
                afm_train_zero_grad(k);
                for (int s = 0; s < 2; s++) {
                    float sc = s ? 0.25f : 0.75f;
                    if (afm_train_step(a, tok[s], tgt[s], B, T, sc, &la[s]) != AFM_OK || afm_train_step(k, tok[s], tgt[s], B, T, sc, &lk[s]) != AFM_OK) {
                        fprintf(stderr, "%s\n", afm_last_error());
                        return 1;
                    }
                    CHECK(la[s] == lk[s], "%s: step %d loss %.17g vs %.17g", label, s, lk[s], la[s]);
                }
                CHECK(!memcmp(a->grads, k->grads, sizeof(float) * a->n_params), "%s: accumulated step gradients differ", label);
                /* the full path (distillation's) */
                double fa, fk, ea, ek;
                afm_train_zero_grad(a);
                afm_train_zero_grad(k);
                if (afm_train_forward(a, tok[1], tgt[1], B, T, &fa) != AFM_OK || afm_train_backward(a, 1.0f) != AFM_OK ||
                    afm_train_forward(k, tok[1], tgt[1], B, T, &fk) != AFM_OK || afm_train_backward(k, 1.0f) != AFM_OK) {
                    fprintf(stderr, "%s\n", afm_last_error());
                    return 1;
                }
                CHECK(fa == fk, "%s: full-path loss %.17g vs %.17g", label, fk, fa);
                CHECK(!memcmp(a->grads, k->grads, sizeof(float) * a->n_params), "%s: full-path gradients differ", label);
                if (afm_train_eval_loss(a, tok[0], tgt[0], B, T, &ea) != AFM_OK || afm_train_eval_loss(k, tok[0], tgt[0], B, T, &ek) != AFM_OK) return 1;
                CHECK(ea == ek && ea == la[0], "%s: eval loss %.17g vs %.17g (step %.17g)", label, ek, ea, la[0]);
                /* negative control: a weight of layer 0 changed after the forward changes what the
                 * checkpointed backward recomputes, so its gradients must differ from the plain one's */
                if (qk == 2 && tied == 0 && th == 0) {
                    afm_train_zero_grad(a);
                    afm_train_zero_grad(k);
                    afm_train_forward(a, tok[0], tgt[0], B, T, NULL);
                    afm_train_forward(k, tok[0], tgt[0], B, T, NULL);
                    a->p.layers[0].wq[3] += 0.5f;
                    k->p.layers[0].wq[3] += 0.5f;
                    afm_train_backward(a, 1.0f);
                    afm_train_backward(k, 1.0f);
                    CHECK(memcmp(a->grads, k->grads, sizeof(float) * a->n_params) != 0,
                          "negative control: the checkpointed backward did not recompute layer 0");
                }
                afm_train_model_free(a);
                afm_train_model_free(k);
                printf("%-28s loss %.6f  activations %zu -> %zu bytes  ok\n", label, la[0], ba, bk);
                n++;
            }
    afm_pool_free(pool2);
    printf("%d configurations: %s\n", n, g_fail ? "FAIL" : "checkpointed = plain, bit for bit");
    return g_fail;
}
