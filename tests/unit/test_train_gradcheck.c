/* Finite-difference gradient check of the training backward (src/model/train_model.c) on a
 * 2-layer toy AFM, for every switch combination: RoPE interleaved/half x QK-norm off/before/
 * after RoPE x tied/separate output x z-loss off/on, with GQA (4 query heads, 2 kv heads) and
 * head_dim (6) != dim / n_heads, and one ignored target.
 *
 * For every parameter tensor P and two random ±1 directions v (restricted to P) it compares
 *   analytic  g·v   with the central difference (L(θ + h v) - L(θ - h v)) / 2h at h = 2e-3
 * and h = 1e-3, combined by Richardson extrapolation (cancels the h^2 error), computed in f32
 * (the loss itself is summed in double). Tolerance: |fd - an| <= 2e-2 max(|fd|, |an|)
 * + 2e-4. A negative control corrupts one gradient element by a small amount and requires the
 * check to notice, so the test cannot pass vacuously. The analytic gradient comes from
 * afm_train_forward + afm_train_backward (full logits) in the z-loss-off configurations and from
 * afm_train_step (output layer in chunks of 3 tokens) in the z-loss-on ones; the finite
 * differences always use afm_train_forward's loss. */
#include "model/train_model.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 5 };
static int g_fail;

static double loss_at(afm_train_model *m, const int32_t *tok, const int32_t *tgt) {
    double l;
    if (afm_train_forward(m, tok, tgt, B, T, &l) != AFM_OK) { fprintf(stderr, "forward failed: %s\n", afm_last_error()); exit(1); }
    return l;
}

/* Returns the worst (|fd - an| - tol) over all tensors and directions; > 0 means a mismatch. */
static double check(afm_train_model *m, const int32_t *tok, const int32_t *tgt, const float *grad, afm_rng *rng,
                    const char *label, bool verbose) {
    const float h = 2e-3f;
    double worst = -1e30;
    float *v = malloc(sizeof(float) * m->n_params);
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const afm_param_tensor *t = &m->tensors[ti];
        float *w = m->params + t->offset;
        for (int dir = 0; dir < 2; dir++) {
            double an = 0.0;
            for (size_t j = 0; j < t->numel; j++) {
                v[j] = (afm_rng_u64(rng) & 1) ? 1.0f : -1.0f;
                an += (double)grad[t->offset + j] * v[j];
            }
            float *saved = malloc(sizeof(float) * t->numel);
            memcpy(saved, w, sizeof(float) * t->numel);
            double fdh[2];
            for (int k = 0; k < 2; k++) {
                float hk = k ? h / 2 : h;
                for (size_t j = 0; j < t->numel; j++) w[j] = saved[j] + hk * v[j];
                double lp = loss_at(m, tok, tgt);
                for (size_t j = 0; j < t->numel; j++) w[j] = saved[j] - hk * v[j];
                double lm = loss_at(m, tok, tgt);
                fdh[k] = (lp - lm) / (2.0 * hk);
            }
            memcpy(w, saved, sizeof(float) * t->numel);
            free(saved);
            /* Richardson extrapolation cancels the h^2 term of the central difference */
            double fd = (4.0 * fdh[1] - fdh[0]) / 3.0;
            double tol = 2e-2 * fmax(fabs(fd), fabs(an)) + 2e-4;
            double excess = fabs(fd - an) - tol;
            if (excess > worst) worst = excess;
            if (verbose && excess > 0)
                fprintf(stderr, "MISMATCH %s %s dir %d: analytic %.6g, finite difference %.6g\n", label, t->name, dir, an, fd);
        }
    }
    free(v);
    return worst;
}

int main(void) {
    afm_pool *pool = NULL; /* one thread: the toy model is too small to split */
    int n_checked = 0;
    for (int rope = 0; rope < 2; rope++)
        for (int qk = 0; qk < 3; qk++)
            for (int tied = 0; tied < 2; tied++)
                for (int zl = 0; zl < 2; zl++) {
                    afm_config c = {.arch = "afm", .n_vocab = 11, .dim = 8, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                                    .head_dim = 6, .ffn_dim = 12, .max_seq_len = T, .rope_theta = 10000.0f,
                                    .rope_layout = (afm_rope_layout)rope, .qk_norm = (afm_qk_norm)qk, .norm_eps = 1e-5f,
                                    .tied_output = tied};
                    afm_train_model *m;
                    if (afm_train_model_create(&c, B, T, pool, &m) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
                    m->z_loss = zl ? 0.05f : 0.0f;
                    uint64_t seed = (uint64_t)(1 + rope * 100 + qk * 10 + tied * 2 + zl);
                    afm_train_model_init(m, seed);
                    afm_rng rng;
                    afm_rng_seed(&rng, seed * 7919);
                    /* random norm gains so their gradients and the gain paths are exercised */
                    for (int i = 0; i < m->n_tensors; i++)
                        if (m->tensors[i].kind == AFM_PARAM_NORM)
                            for (size_t j = 0; j < m->tensors[i].numel; j++)
                                m->params[m->tensors[i].offset + j] = 1.0f + 0.3f * afm_rng_normal(&rng);
                    int32_t tok[B * T], tgt[B * T];
                    for (int i = 0; i < B * T; i++) { tok[i] = (int32_t)(afm_rng_u64(&rng) % 11); tgt[i] = (int32_t)(afm_rng_u64(&rng) % 11); }
                    tgt[3] = -1; /* ignored position */
                    double l0 = loss_at(m, tok, tgt);
                    /* analytic gradient of the training step (output layer in chunks of 3 of the 10 tokens,
                     * the last chunk short); alternate configurations check the full path's backward */
                    afm_train_zero_grad(m);
                    m->out_chunk = 3;
                    afm_status st = zl ? afm_train_step(m, tok, tgt, B, T, 1.0f, NULL) : afm_train_backward(m, 1.0f);
                    if (st != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
                    float *grad = malloc(sizeof(float) * m->n_params);
                    memcpy(grad, m->grads, sizeof(float) * m->n_params);
                    char label[96];
                    snprintf(label, sizeof label, "rope=%s qk=%s tied=%d z=%.2f", rope ? "half" : "interleaved",
                             qk == 0 ? "off" : qk == 1 ? "before" : "after", tied, (double)m->z_loss);
                    double worst = check(m, tok, tgt, grad, &rng, label, true);
                    printf("%-48s loss %.5f  %d tensors  worst excess %.2e\n", label, l0, m->n_tensors, worst);
                    if (worst > 0) g_fail = 1;
                    n_checked++;
                    /* negative control: a 5% error in one element of one gradient must be caught */
                    if (rope == 0 && tied == 0 && zl == 0) {
                        const afm_param_tensor *tq = afm_train_find_tensor(m, "blk.1.attn_q.weight");
                        size_t big = 0;
                        for (size_t j = 1; j < tq->numel; j++)
                            if (fabsf(grad[tq->offset + j]) > fabsf(grad[tq->offset + big])) big = j;
                        float delta = 0.5f * fabsf(grad[tq->offset + big]) + 5e-3f;
                        grad[tq->offset + big] += delta;
                        double w2 = check(m, tok, tgt, grad, &rng, "control", false);
                        if (!(w2 > 0)) { fprintf(stderr, "negative control not detected (%s)\n", label); g_fail = 1; }
                    }
                    free(grad);
                    afm_train_model_free(m);
                }
    printf("%d configurations checked: %s\n", n_checked, g_fail ? "FAIL" : "ok");
    return g_fail;
}
