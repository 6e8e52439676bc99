/* The fused, chunked output layer of afm_train_step (src/model/train_model.c) against the full
 * path (afm_train_forward keeping the (N, V) logits, then afm_train_backward), which the PyTorch
 * tests check: same loss and gradients to float rounding.
 *
 * For tied and separate output, z-loss off and on, f32 and bf16 compute (bf16 on the small
 * shape), ignored targets (one
 * chunk entirely ignored), chunk sizes that do not divide N = B*T (1, 5, 64, N - 1), N itself and
 * more than N, and one and two threads:
 *   - loss: relative difference <= 1e-12 (the per-row losses are the same doubles, summed in
 *     another order);
 *   - every gradient except the output matrix's (token_embd when tied, output otherwise) bit for
 *     bit: d(x_nf) is the same GEMM with the same K order per row, so everything below is too;
 *   - the output matrix's gradient: max|a - b| <= 1e-5 max|b| (its f32 sums are grouped by chunk);
 *   - the chunked step gives the same loss and matrix gradients (the output matrix's included)
 *     with 1 and 2 threads (RMSNorm gain gradients sum per-thread partials, so they are only
 *     reproducible per thread count, as before), and afm_train_eval_loss the step's loss bit for bit;
 *   - the output matrix packed once per step for all chunks (the default: as much as the backward
 *     scratch holds, which on the larger shape is all of the logits' operand and 32 of dx's 48
 *     columns), again for every chunk (afm_train_model_opts.no_out_pack), or only in part
 *     (out_pack_floats: the logits' first 32 or 64 vocabulary columns; all of them and dx's first 32
 *     model columns), the other columns per chunk: the same loss and every gradient bit for bit.
 * Prints the largest relative difference of each comparison. */
#include "model/train_model.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL: " __VA_ARGS__); fprintf(stderr, "\n"); g_fail = 1; } } while (0)

static double max_rel(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d) d = e;
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    return m > 0 ? d / m : d;
}

typedef struct shape { int V, D, L, H, KH, hd, F, B, T; } shape;

static afm_train_model *make_opts(const shape *s, int tied, float z, bool bf16, afm_pool *pool, const afm_train_model_opts *o) {
    afm_config c = {.arch = "afm", .n_vocab = s->V, .dim = s->D, .n_layers = s->L, .n_heads = s->H, .n_kv_heads = s->KH,
                    .head_dim = s->hd, .ffn_dim = s->F, .max_seq_len = s->T, .rope_theta = 10000.0f,
                    .rope_layout = AFM_ROPE_HALF, .qk_norm = AFM_QK_NORM_AFTER_ROPE, .norm_eps = 1e-5f, .tied_output = tied};
    afm_train_model *m;
    if (afm_train_model_create_opts(&c, s->B, s->T, o, pool, &m) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); exit(1); }
    afm_train_model_init(m, 7 + (uint64_t)tied);
    m->z_loss = z;
    afm_gemm_ws_set_bf16(m->gemm, bf16);
    return m;
}

static afm_train_model *make(const shape *s, int tied, float z, bool bf16, afm_pool *pool) {
    return make_opts(s, tied, z, bf16, pool, NULL);
}

static float *grads_copy(const afm_train_model *m) {
    float *g = malloc(sizeof(float) * m->n_params);
    memcpy(g, m->grads, sizeof(float) * m->n_params);
    return g;
}

int main(void) {
    const shape shapes[2] = {{37, 16, 2, 4, 2, 6, 24, 3, 7}, {515, 48, 1, 4, 2, 12, 64, 2, 60}};
    afm_pool *pool2;
    if (afm_pool_create(2, &pool2) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    double worst_loss = 0, worst_out = 0;
    int n_cases = 0;
    for (int si = 0; si < 2; si++) {
        const shape *s = &shapes[si];
        const int N = s->B * s->T;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)N), *tgt = malloc(sizeof(int32_t) * (size_t)N);
        afm_rng rng;
        afm_rng_seed(&rng, 11 + (uint64_t)si);
        for (int i = 0; i < N; i++) { tok[i] = (int32_t)(afm_rng_u64(&rng) % (uint64_t)s->V); tgt[i] = (int32_t)(afm_rng_u64(&rng) % (uint64_t)s->V); }
        for (int i = 5; i < 10; i++) tgt[i] = -1; /* chunk [5, 10) at chunk size 5: nothing counted */
        tgt[N - 1] = -1;
        const int chunks[6] = {1, 5, 64, N - 1, N, 4 * N}; /* 4N: clamped to the capacity (N) */
        for (int tied = 0; tied < 2; tied++)
            for (int zl = 0; zl < 2; zl++)
                for (int bf = 0; bf < 2 - si; bf++) { /* bf16 on the small shape only (test time under ASan) */
                    float z = zl ? 1e-2f : 0.0f;
                    /* reference: the full path, one thread */
                    afm_train_model *m = make(s, tied, z, bf, NULL);
                    double l_full;
                    afm_train_zero_grad(m);
                    if (afm_train_forward(m, tok, tgt, s->B, s->T, &l_full) != AFM_OK || afm_train_backward(m, 0.75f) != AFM_OK) {
                        fprintf(stderr, "%s\n", afm_last_error());
                        return 1;
                    }
                    float *g_full = grads_copy(m);
                    const afm_param_tensor *out = afm_train_find_tensor(m, tied ? "token_embd.weight" : "output.weight");
                    afm_train_model *m2 = make(s, tied, z, bf, pool2);
                    /* the output matrix packed for every chunk (no_out_pack), as before it was packed once per step */
                    const afm_train_model_opts repack = {.no_out_pack = true};
                    afm_train_model *m3 = make_opts(s, tied, z, bf, si ? pool2 : NULL, &repack);
                    /* bounded packing: only the logits' first 32 (V < 64) or 64 vocabulary columns packed once
                     * per step (m4), or all of them and dx's first 32 model columns (m5); the rest per chunk */
                    const long c4 = s->V > 64 ? 64 : 32;
                    const afm_train_model_opts part4 = {.out_pack_floats = afm_gemm_bpack_floats(s->D, c4)};
                    const afm_train_model_opts part5 = {.out_pack_floats = afm_gemm_bpack_floats(s->D, s->V) + afm_gemm_bpack_floats(s->V, 32)};
                    afm_train_model *m4 = make_opts(s, tied, z, bf, si ? pool2 : NULL, &part4);
                    afm_train_model *m5 = make_opts(s, tied, z, bf, si ? pool2 : NULL, &part5);
                    CHECK(m4->out_pack_v_cols == c4 && m4->out_pack_d_cols == 0 && m4->out_pack_bwd == NULL,
                          "partial packing: %ld and %ld columns, expected %ld and 0", m4->out_pack_v_cols, m4->out_pack_d_cols, c4);
                    CHECK(m5->out_pack_v_cols == s->V && m5->out_pack_d_cols == (s->D < 32 ? s->D : 32),
                          "partial packing: %ld and %ld columns, expected %d and %d", m5->out_pack_v_cols, m5->out_pack_d_cols, s->V,
                          s->D < 32 ? s->D : 32);
                    int cap = m->out_chunk_cap;
                    long want = AFM_OUT_CHUNK_BYTES / (4L * s->V);
                    want = want < AFM_OUT_CHUNK_MIN ? AFM_OUT_CHUNK_MIN : want > N ? N : want;
                    CHECK(cap == want && cap == N, "default chunk %d, expected %ld (= N here, so every chunk size below is tried)", cap, want);
                    for (int ci = 0; ci < 6; ci++) {
                        int C = chunks[ci];
                        if (C > cap) C = cap;
                        m->out_chunk = m2->out_chunk = m3->out_chunk = m4->out_chunk = m5->out_chunk = C;
                        double l1, l2, le, l3, l4, l5;
                        afm_train_zero_grad(m);
                        afm_train_zero_grad(m2);
                        afm_train_zero_grad(m3);
                        afm_train_zero_grad(m4);
                        afm_train_zero_grad(m5);
                        if (afm_train_step(m, tok, tgt, s->B, s->T, 0.75f, &l1) != AFM_OK ||
                            afm_train_step(m2, tok, tgt, s->B, s->T, 0.75f, &l2) != AFM_OK ||
                            afm_train_eval_loss(m2, tok, tgt, s->B, s->T, &le) != AFM_OK ||
                            afm_train_step(m3, tok, tgt, s->B, s->T, 0.75f, &l3) != AFM_OK ||
                            afm_train_step(m4, tok, tgt, s->B, s->T, 0.75f, &l4) != AFM_OK ||
                            afm_train_step(m5, tok, tgt, s->B, s->T, 0.75f, &l5) != AFM_OK) {
                            fprintf(stderr, "%s\n", afm_last_error());
                            return 1;
                        }
                        char label[128];
                        snprintf(label, sizeof label, "V=%d N=%d tied=%d z=%g %s chunk %d", s->V, N, tied, (double)z, bf ? "bf16" : "f32", C);
                        double el = fabs(l1 - l_full) / fabs(l_full);
                        if (el > worst_loss) worst_loss = el;
                        CHECK(el <= 1e-12, "%s: loss %.17g vs full %.17g", label, l1, l_full);
                        CHECK(l1 == l2, "%s: loss differs between 1 and 2 threads (%.17g, %.17g)", label, l1, l2);
                        CHECK(le == l1, "%s: eval_loss %.17g, step %.17g", label, le, l1);
                        /* packed once per step or per chunk: the same sums, every bit (m3 runs on 1 thread
                         * for the small shape, like m, and on 2 threads for the other, like m2) */
                        const afm_train_model *same = si ? m2 : m;
                        CHECK(l3 == (si ? l2 : l1), "%s: loss with the output matrix packed per chunk %.17g, once %.17g", label, l3, si ? l2 : l1);
                        CHECK(!memcmp(m3->grads, same->grads, sizeof(float) * m->n_params),
                              "%s: gradients differ between the output matrix packed once per step and per chunk", label);
                        CHECK(m3->out_pack_fwd == NULL && same->out_pack_fwd != NULL, "%s: out_pack buffers", label);
                        CHECK(l4 == l3 && l5 == l3, "%s: loss with part of the output matrix packed once %.17g / %.17g, per chunk %.17g", label,
                              l4, l5, l3);
                        CHECK(!memcmp(m4->grads, same->grads, sizeof(float) * m->n_params) &&
                              !memcmp(m5->grads, same->grads, sizeof(float) * m->n_params),
                              "%s: gradients differ with part of the output matrix packed once per step", label);
                        /* RMSNorm gains sum per-thread partials (train_ops.h: reproducible per thread count) */
                        for (int ti = 0; ti < m->n_tensors; ti++) {
                            const afm_param_tensor *t = &m->tensors[ti];
                            if (t->kind != AFM_PARAM_NORM)
                                CHECK(!memcmp(m->grads + t->offset, m2->grads + t->offset, sizeof(float) * t->numel),
                                      "%s: %s gradient differs between 1 and 2 threads", label, t->name);
                        }
                        for (int ti = 0; ti < m->n_tensors; ti++) {
                            const afm_param_tensor *t = &m->tensors[ti];
                            const float *a = m->grads + t->offset, *b = g_full + t->offset;
                            if (t == out) {
                                double e = max_rel(a, b, t->numel);
                                if (e > worst_out) worst_out = e;
                                CHECK(e <= 1e-5, "%s: %s gradient relative difference %.3g", label, t->name, e);
                            } else {
                                CHECK(!memcmp(a, b, sizeof(float) * t->numel), "%s: %s gradient is not bit-identical (rel %.3g)", label,
                                      t->name, max_rel(a, b, t->numel));
                            }
                        }
                        n_cases++;
                    }
                    free(g_full);
                    afm_train_model_free(m);
                    afm_train_model_free(m2);
                    afm_train_model_free(m3);
                    afm_train_model_free(m4);
                    afm_train_model_free(m5);
                }
        free(tok);
        free(tgt);
    }
    printf("%d cases: loss max rel diff %.3g, output-matrix gradient max rel diff %.3g, other gradients bit-identical: %s\n",
           n_cases, worst_loss, worst_out, g_fail ? "FAIL" : "ok");
    afm_pool_free(pool2);
    return g_fail;
}
