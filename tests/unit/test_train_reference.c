/* Training core against PyTorch (fixtures from scripts/reference/train_core_reference.py, format
 * in tests/fixtures/train_core/README.md). For each case (every RoPE layout, QK-norm position,
 * tied/separate output, GQA, z-loss, an ignored target):
 *   - logits and every parameter gradient:  max|afm - torch| <= 1e-4 * max|torch| per tensor
 *   - loss: relative error <= 1e-5
 *   - 10 AdamW steps (torch.optim.AdamW, global clip, warm-up + cosine) and 10 AFM-optimizer
 *     steps: each step's loss to 1e-5 relative.
 * The first case runs with 2 threads. */
#include "model/train_model.h"
#include "train/optim.h"
#include "base/file.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;

typedef struct fx_array { char name[96]; uint32_t dtype; int64_t numel; void *data; } fx_array; /* data: aligned copy */
typedef struct fixture { char *buf; size_t size; int n; fx_array arr[128]; } fixture;

static int load_fixture(const char *path, fixture *fx) {
    if (afm_read_file(path, &fx->buf, &fx->size) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return -1; }
    const unsigned char *p = (const unsigned char *)fx->buf, *end = p + fx->size;
    uint32_t count;
    if (fx->size < 12 || memcmp(p, "AFMFX001", 8)) { fprintf(stderr, "%s: bad magic\n", path); return -1; }
    memcpy(&count, p + 8, 4);
    p += 12;
    if (count > 128) return -1;
    for (uint32_t i = 0; i < count; i++) {
        fx_array *a = &fx->arr[i];
        uint32_t len, nd;
        if (end - p < 4) return -1;
        memcpy(&len, p, 4); p += 4;
        if (len >= sizeof a->name || end - p < (long)len + 8) return -1;
        memcpy(a->name, p, len); a->name[len] = 0; p += len;
        memcpy(&a->dtype, p, 4); memcpy(&nd, p + 4, 4); p += 8;
        if (nd > 4 || end - p < (long)(8 * nd)) return -1;
        a->numel = 1;
        for (uint32_t d = 0; d < nd; d++) { int64_t v; memcpy(&v, p, 8); p += 8; a->numel *= v; }
        if (end - p < a->numel * 4) return -1;
        a->data = malloc((size_t)a->numel * 4 + 4);
        memcpy(a->data, p, (size_t)a->numel * 4);
        p += a->numel * 4;
    }
    fx->n = (int)count;
    return 0;
}

static const fx_array *find(const fixture *fx, const char *name) {
    for (int i = 0; i < fx->n; i++) if (!strcmp(fx->arr[i].name, name)) return &fx->arr[i];
    fprintf(stderr, "fixture array '%s' missing\n", name);
    exit(1);
}

static double rel_err(const float *got, const float *want, int64_t n) {
    double md = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(want[i]) > mx) mx = fabs(want[i]);
    }
    return md / (mx > 0 ? mx : 1.0);
}

static void load_params(afm_train_model *m, const fixture *fx) {
    for (int i = 0; i < m->n_tensors; i++) {
        const fx_array *a = find(fx, m->tensors[i].name);
        if ((size_t)a->numel != m->tensors[i].numel) { fprintf(stderr, "size mismatch %s\n", a->name); exit(1); }
        memcpy(m->params + m->tensors[i].offset, a->data, sizeof(float) * m->tensors[i].numel);
    }
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) { fprintf(stderr, "json key '%s' missing\n", k); exit(1); }
    return v->valuedouble;
}

/* Runs the fixture's optimizer schedule and compares each step's loss with want[] (default: the
 * fixture's own losses) to tol relative; returns the worst relative error. */
static double run_optimizer_vs(afm_train_model *m, const fixture *fx, const cJSON *meta, afm_optim_kind kind,
                               const int32_t *tok, const int32_t *tgt, int B, int T, const char *label, const cJSON *want, double tol) {
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(meta, "optim");
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(opt, kind == AFM_OPTIM_ADAMW ? "adamw" : "afm");
    if (!want) want = cJSON_GetObjectItemCaseSensitive(meta, kind == AFM_OPTIM_ADAMW ? "adamw_losses" : "afm_losses");
    afm_optim_config c = afm_optim_defaults(kind, m->cfg.dim);
    c.lr = (float)jnum(oc, "lr");
    c.beta1 = (float)jnum(oc, "beta1");
    c.beta2 = (float)jnum(oc, "beta2");
    c.weight_decay = (float)jnum(oc, "weight_decay");
    c.clip_norm = (float)jnum(oc, "clip_norm");
    c.decay_norms = true;
    if (kind == AFM_OPTIM_ADAMW) c.eps = (float)jnum(oc, "eps");
    else { c.skip_norm = (float)jnum(oc, "skip_norm"); c.update_rms_clip = (float)jnum(oc, "update_rms_clip"); c.mup_scale = (float)jnum(oc, "mup_scale"); }
    afm_schedule s = {AFM_SCHED_COSINE, (int64_t)jnum(opt, "warmup"), (int64_t)jnum(opt, "total"), (float)jnum(opt, "floor")};
    afm_optim *o;
    if (afm_optim_create(&c, m->n_params, &o) != AFM_OK) exit(1);
    load_params(m, fx);
    int steps = (int)jnum(opt, "steps");
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        double loss;
        afm_train_zero_grad(m);
        afm_train_step(m, tok, tgt, B, T, 1.0f, &loss); /* as the trainer runs it: output layer in chunks */
        double w = cJSON_GetArrayItem(want, i)->valuedouble;
        double e = fabs(loss - w) / fabs(w);
        if (e > worst) worst = e;
        if (!(e <= tol)) { fprintf(stderr, "FAIL %s %s step %d: loss %.8f, torch %.8f\n", label, kind == AFM_OPTIM_ADAMW ? "adamw" : "afm", i, loss, w); g_fail = 1; }
        afm_optim_result r;
        afm_optim_step(o, m, (float)afm_schedule_at(&s, i), &r);
    }
    printf("  %-6s %d steps: last loss %.6f, worst relative loss error %.2e\n", kind == AFM_OPTIM_ADAMW ? "adamw" : "afm",
           steps, cJSON_GetArrayItem(want, steps - 1)->valuedouble, worst);
    afm_optim_free(o);
    return worst;
}

static void run_optimizer(afm_train_model *m, const fixture *fx, const cJSON *meta, afm_optim_kind kind,
                          const int32_t *tok, const int32_t *tgt, int B, int T, const char *label) {
    run_optimizer_vs(m, fx, meta, kind, tok, tgt, B, T, label, NULL, 1e-5);
}

/* bf16 compute (every GEMM input rounded to bf16, f32 accumulation) against PyTorch doing the
 * same (scripts/reference/train_bf16_reference.py): the loss and 10 AdamW losses must be much
 * closer to torch's bf16 run than bf16 and f32 are to each other (bf16 rounding flips where f32
 * sums differ in the last bit keep the two from matching exactly). */
static void run_bf16(afm_train_model *m, const fixture *fx, const cJSON *meta, const cJSON *b16, const int32_t *tok,
                     const int32_t *tgt, int B, int T, const char *name) {
    afm_gemm_ws_set_bf16(m->gemm, true);
    load_params(m, fx);
    double loss;
    afm_train_forward(m, tok, tgt, B, T, &loss);
    double want = jnum(b16, "loss_bf16"), f32 = jnum(b16, "loss_f32");
    double e = fabs(loss - want) / want, gap = fabs(want - f32) / want;
    printf("%s bf16 compute: loss %.6f (torch bf16 %.6f, rel %.1e; torch f32 %.6f, bf16-f32 gap %.1e)\n", name, loss, want, e, f32, gap);
    if (!(e <= 0.1 * gap)) { fprintf(stderr, "FAIL %s bf16 forward: error %.3g is not below a tenth of the bf16-f32 gap %.3g\n", name, e, gap); g_fail = 1; }
    const cJSON *w16 = cJSON_GetObjectItemCaseSensitive(b16, "adamw_losses_bf16"), *w32 = cJSON_GetObjectItemCaseSensitive(b16, "adamw_losses_f32");
    double gap_steps = 0;
    for (int i = 0; i < cJSON_GetArraySize(w16); i++) {
        double a = cJSON_GetArrayItem(w16, i)->valuedouble, b = cJSON_GetArrayItem(w32, i)->valuedouble;
        if (fabs(a - b) / a > gap_steps) gap_steps = fabs(a - b) / a;
    }
    double worst = run_optimizer_vs(m, fx, meta, AFM_OPTIM_ADAMW, tok, tgt, B, T, name, w16, 0.25 * gap_steps);
    printf("  bf16 AdamW: worst relative error vs torch bf16 %.1e, largest bf16-f32 gap %.1e\n", worst, gap_steps);
    afm_gemm_ws_set_bf16(m->gemm, false);
}

static void run_case(afm_pool *pool, const char *dir, const char *name, const cJSON *bf16) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    char *js; size_t jl;
    if (afm_read_file(path, &js, &jl) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); g_fail = 1; return; }
    cJSON *meta = cJSON_Parse(js);
    free(js);
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(meta, "config");
    afm_config c = {.arch = "afm"};
    c.n_vocab = (int)jnum(cc, "n_vocab"); c.dim = (int)jnum(cc, "dim"); c.n_layers = (int)jnum(cc, "n_layers");
    c.n_heads = (int)jnum(cc, "n_heads"); c.n_kv_heads = (int)jnum(cc, "n_kv_heads"); c.head_dim = (int)jnum(cc, "head_dim");
    c.ffn_dim = (int)jnum(cc, "ffn_dim"); c.rope_theta = (float)jnum(cc, "rope_theta"); c.norm_eps = (float)jnum(cc, "norm_eps");
    const char *rope = cJSON_GetObjectItemCaseSensitive(cc, "rope")->valuestring;
    const char *qk = cJSON_GetObjectItemCaseSensitive(cc, "qk")->valuestring;
    c.rope_layout = !strcmp(rope, "half") ? AFM_ROPE_HALF : AFM_ROPE_INTERLEAVED;
    c.qk_norm = !strcmp(qk, "off") ? AFM_QK_NORM_OFF : !strcmp(qk, "before") ? AFM_QK_NORM_BEFORE_ROPE : AFM_QK_NORM_AFTER_ROPE;
    c.tied_output = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cc, "tied"));
    int B = (int)jnum(meta, "B"), T = (int)jnum(meta, "T");
    c.max_seq_len = T;
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    fixture fx = {0};
    if (load_fixture(path, &fx)) { fprintf(stderr, "cannot read fixture %s\n", path); g_fail = 1; return; }
    afm_train_model *m;
    if (afm_train_model_create(&c, B, T, pool, &m) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); exit(1); }
    m->z_loss = (float)jnum(meta, "z_loss");
    load_params(m, &fx);
    const int32_t *tok = find(&fx, "tokens")->data, *tgt = find(&fx, "targets")->data;
    double loss;
    if (afm_train_forward(m, tok, tgt, B, T, &loss) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); exit(1); }
    double want = jnum(meta, "loss");
    double e_loss = fabs(loss - want) / fabs(want);
    double e_logits = rel_err(m->logits, find(&fx, "logits")->data, (int64_t)B * T * c.n_vocab);
    afm_train_zero_grad(m);
    afm_train_backward(m, 1.0f);
    double e_grad = 0;
    const char *worst_name = "";
    for (int i = 0; i < m->n_tensors; i++) {
        char gname[96];
        snprintf(gname, sizeof gname, "grad.%s", m->tensors[i].name);
        double e = rel_err(m->grads + m->tensors[i].offset, find(&fx, gname)->data, (int64_t)m->tensors[i].numel);
        if (!(e <= 1e-4)) { fprintf(stderr, "FAIL %s gradient %s: relative error %.3g\n", name, m->tensors[i].name, e); g_fail = 1; }
        if (e > e_grad) { e_grad = e; worst_name = m->tensors[i].name; }
    }
    printf("%s: loss %.6f (torch %.6f, rel %.1e), logits rel %.1e, %d gradients worst rel %.1e (%s)\n", name, loss, want,
           e_loss, e_logits, m->n_tensors, e_grad, worst_name);
    if (!(e_loss <= 1e-5) || !(e_logits <= 1e-4)) { fprintf(stderr, "FAIL %s forward\n", name); g_fail = 1; }
    /* the training step's path: output layer and loss in chunks that do not divide N = B*T */
    int N = B * T, C = N / 3 > 1 ? N / 3 : 1;
    while (C > 1 && N % C == 0) C--;
    m->out_chunk = C < m->out_chunk_cap ? C : m->out_chunk_cap;
    afm_train_zero_grad(m);
    double l_c = NAN, e_cg = 0;
    afm_train_step(m, tok, tgt, B, T, 1.0f, &l_c);
    for (int i = 0; i < m->n_tensors; i++) {
        char gname[96];
        snprintf(gname, sizeof gname, "grad.%s", m->tensors[i].name);
        double e = rel_err(m->grads + m->tensors[i].offset, find(&fx, gname)->data, (int64_t)m->tensors[i].numel);
        if (!(e <= 1e-4)) { fprintf(stderr, "FAIL %s chunked step: gradient %s relative error %.3g\n", name, m->tensors[i].name, e); g_fail = 1; }
        if (e > e_cg) e_cg = e;
    }
    double e_cl = fabs(l_c - want) / fabs(want);
    printf("  chunked output layer (%d of %d tokens per chunk): loss rel %.1e, gradients worst rel %.1e\n", m->out_chunk, N, e_cl, e_cg);
    if (!(e_cl <= 1e-5)) { fprintf(stderr, "FAIL %s chunked step loss %.8f\n", name, l_c); g_fail = 1; }
    run_optimizer(m, &fx, meta, AFM_OPTIM_ADAMW, tok, tgt, B, T, name);
    run_optimizer(m, &fx, meta, AFM_OPTIM_AFM, tok, tgt, B, T, name);
    if (bf16) run_bf16(m, &fx, meta, bf16, tok, tgt, B, T, name);
    afm_train_model_free(m);
    for (int i = 0; i < fx.n; i++) free(fx.arr[i].data);
    free(fx.buf);
    cJSON_Delete(meta);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/train_core", src ? src : ".");
    static const char *cases[] = {"afm_interleaved_qkafter_tied_z", "llama_interleaved_qkoff_tied", "qwen3_half_qkbefore_untied",
                                  "half_qkafter_untied_z", "interleaved_qkbefore_untied_z"};
    afm_pool *pool;
    if (afm_pool_create(2, &pool) != AFM_OK) return 1;
    /* the first case on 2 threads (thread split of every op), the rest on one (fast under ASan) */
    /* bf16 compute reference for the first case */
    char path[1200];
    snprintf(path, sizeof path, "%s/bf16_%s.json", dir, cases[0]);
    char *js; size_t jl;
    if (afm_read_file(path, &js, &jl) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    cJSON *bf16 = cJSON_Parse(js);
    free(js);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(i == 0 ? pool : NULL, dir, cases[i], i == 0 ? bf16 : NULL);
    cJSON_Delete(bf16);
    afm_pool_free(pool);
    printf("%s\n", g_fail ? "FAIL" : "all cases match PyTorch");
    return g_fail;
}
