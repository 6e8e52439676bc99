/* Fused training ops (see train_ops.h): the element-wise steps the model chains between its
 * GEMMs, done row by row in one pool job each, with the per-row maths (and roundings) of the
 * unfused ops in train_ops.c. Rows are tokens; every output row is written by one thread. */
#include "model/train_ops.h"
#include "model/train_vec.h"
#include "base/cpu.h"
#include <math.h>
#include <string.h>

/* ---------------- residual add + RMSNorm ---------------- */
typedef struct add_norm_ctx {
    float *h, *y, *rstd;
    const float *a, *b, *g;
    long D;
    float eps;
    bool avx2;
} add_norm_ctx;

static void add_norm_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    add_norm_ctx *c = p;
    for (long n = lo; n < hi; n++) {
        float *h = c->h + n * c->D;
        const float *a = c->a + n * c->D, *b = c->b + n * c->D;
        if (c->avx2) afm_tv_add_avx2(h, a, b, c->D);
        else for (long i = 0; i < c->D; i++) h[i] = a[i] + b[i];
        afm_rmsnorm_row(c->y + n * c->D, c->rstd + n, h, c->g, c->D, c->eps, c->avx2);
    }
}

void afm_add_rmsnorm_fwd(afm_pool *pool, float *h, float *y, float *rstd, const float *a, const float *b, const float *g,
                         long N, long D, float eps) {
    add_norm_ctx c = {h, y, rstd, a, b, g, D, eps, afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, N, add_norm_rows, &c);
}

/* ---------------- SwiGLU on the fused gate/up product ---------------- */
typedef struct swiglu_ctx { float *act, *d_gu; const float *gu, *dact; long F; bool avx2; } swiglu_ctx;

static void swiglu_fwd_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    swiglu_ctx *c = p;
    long F = c->F;
    for (long n = lo; n < hi; n++) {
        const float *g = c->gu + n * 2 * F, *u = g + F;
        float *act = c->act + n * F;
        if (c->avx2) { afm_tv_swiglu_fwd_avx2(act, g, u, F); continue; }
        for (long i = 0; i < F; i++) act[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

void afm_swiglu_fwd_fused(afm_pool *pool, float *act, const float *gu, long N, long F) {
    swiglu_ctx c = {act, NULL, gu, NULL, F, afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, N, swiglu_fwd_rows, &c);
}

static void swiglu_bwd_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    swiglu_ctx *c = p;
    long F = c->F;
    for (long n = lo; n < hi; n++) {
        const float *g = c->gu + n * 2 * F, *u = g + F, *d = c->dact + n * F;
        float *dg = c->d_gu + n * 2 * F, *du = dg + F;
        if (c->avx2) { afm_tv_swiglu_bwd_avx2(dg, du, d, g, u, F); continue; }
        for (long i = 0; i < F; i++) {
            float sg = 1.0f / (1.0f + expf(-g[i]));
            dg[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
            du[i] = d[i] * g[i] * sg;
        }
    }
}

void afm_swiglu_bwd_fused(afm_pool *pool, float *d_gu, const float *dact, const float *gu, long N, long F) {
    swiglu_ctx c = {NULL, d_gu, gu, dact, F, afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, N, swiglu_bwd_rows, &c);
}

/* ---------------- RoPE + QK-norm on the fused q/k/v projection ---------------- */
typedef struct qk_ctx {
    const afm_qk_args *a;
    float *q, *k, *mid_q, *mid_k, *rstd_q, *rstd_k, *d_qkv, *scratch;
    const float *qkv, *cmid_q, *cmid_k, *crstd_q, *crstd_k;
    bool avx2;
} qk_ctx;

/* One group of heads (q or k) of token n: x (nh heads of hd) -> y, through mid when norming
 * after RoPE. */
static void qk_fwd_heads(const afm_qk_args *a, float *y, float *mid, float *rstd, const float *x, long nh,
                         const float *gain, const float *cs, const float *sn, bool avx2) {
    long hd = a->hd;
    for (long h = 0; h < nh; h++) {
        const float *xh = x + h * hd;
        float *yh = y + h * hd;
        switch (a->qk_norm) {
        case AFM_QK_NORM_OFF:
            afm_rope_head(yh, xh, cs, sn, hd, a->layout, 1.0f);
            break;
        case AFM_QK_NORM_BEFORE_ROPE:
            afm_rmsnorm_row(yh, rstd + h, xh, gain, hd, a->eps, avx2);
            afm_rope_head(yh, yh, cs, sn, hd, a->layout, 1.0f);
            break;
        case AFM_QK_NORM_AFTER_ROPE:
            afm_rope_head(mid + h * hd, xh, cs, sn, hd, a->layout, 1.0f);
            afm_rmsnorm_row(yh, rstd + h, mid + h * hd, gain, hd, a->eps, avx2);
            break;
        }
    }
}

static void qk_fwd_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    qk_ctx *c = p;
    const afm_qk_args *a = c->a;
    long H = a->H, KH = a->KH, hd = a->hd, QD = H * hd, KD = KH * hd, half = hd / 2;
    bool after = a->qk_norm == AFM_QK_NORM_AFTER_ROPE;
    for (long n = lo; n < hi; n++) {
        const float *cs = a->cosv + (n % a->T) * half, *sn = a->sinv + (n % a->T) * half;
        const float *x = c->qkv + n * a->S;
        qk_fwd_heads(a, c->q + n * QD, after ? c->mid_q + n * QD : NULL, c->rstd_q ? c->rstd_q + n * H : NULL, x, H,
                     a->q_norm, cs, sn, c->avx2);
        qk_fwd_heads(a, c->k + n * KD, after ? c->mid_k + n * KD : NULL, c->rstd_k ? c->rstd_k + n * KH : NULL, x + QD,
                     KH, a->k_norm, cs, sn, c->avx2);
    }
}

void afm_qk_fwd(afm_pool *pool, const afm_qk_args *a, float *q, float *k, float *mid_q, float *mid_k, float *rstd_q,
                float *rstd_k, const float *qkv) {
    qk_ctx c = {.a = a, .q = q, .k = k, .mid_q = mid_q, .mid_k = mid_k, .rstd_q = rstd_q, .rstd_k = rstd_k, .qkv = qkv,
                .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, a->N, qk_fwd_rows, &c);
}

/* Backward of one group of heads of token n, in place on d (nh heads): d(attention input) ->
 * d(projection output). x: the norm's input rows (stride hd between heads). */
static void qk_bwd_heads(const afm_qk_args *a, float *d, float *dg, float *tmp, const float *x, const float *rstd,
                         long nh, const float *gain, const float *cs, const float *sn, bool avx2) {
    long hd = a->hd;
    for (long h = 0; h < nh; h++) {
        float *dh = d + h * hd;
        switch (a->qk_norm) {
        case AFM_QK_NORM_OFF:
            afm_rope_head(dh, dh, cs, sn, hd, a->layout, -1.0f);
            break;
        case AFM_QK_NORM_BEFORE_ROPE: /* y = rope(norm(x)): un-rotate, then through the norm */
            afm_rope_head(tmp, dh, cs, sn, hd, a->layout, -1.0f);
            afm_rmsnorm_bwd_row(dh, dg, tmp, x + h * hd, rstd[h], gain, hd, false, avx2);
            break;
        case AFM_QK_NORM_AFTER_ROPE: /* y = norm(rope(x)): through the norm, then un-rotate */
            afm_rmsnorm_bwd_row(tmp, dg, dh, x + h * hd, rstd[h], gain, hd, false, avx2);
            afm_rope_head(dh, tmp, cs, sn, hd, a->layout, -1.0f);
            break;
        }
    }
}

static void qk_bwd_rows(void *p, long lo, long hi, int ith) {
    qk_ctx *c = p;
    const afm_qk_args *a = c->a;
    long H = a->H, KH = a->KH, hd = a->hd, QD = H * hd, KD = KH * hd, half = hd / 2;
    float *dgq = c->scratch + (long)ith * 3 * hd, *dgk = dgq + hd, *tmp = dgk + hd;
    bool before = a->qk_norm == AFM_QK_NORM_BEFORE_ROPE;
    for (long n = lo; n < hi; n++) {
        const float *cs = a->cosv + (n % a->T) * half, *sn = a->sinv + (n % a->T) * half;
        float *d = c->d_qkv + n * a->S;
        const float *xq = before ? c->qkv + n * a->S : c->cmid_q ? c->cmid_q + n * QD : NULL;
        const float *xk = before ? c->qkv + n * a->S + QD : c->cmid_k ? c->cmid_k + n * KD : NULL;
        qk_bwd_heads(a, d, dgq, tmp, xq, c->crstd_q ? c->crstd_q + n * H : NULL, H, a->q_norm, cs, sn, c->avx2);
        qk_bwd_heads(a, d + QD, dgk, tmp, xk, c->crstd_k ? c->crstd_k + n * KH : NULL, KH, a->k_norm, cs, sn, c->avx2);
    }
}

void afm_qk_bwd(afm_pool *pool, const afm_qk_args *a, float *d_qkv, float *dg_q, float *dg_k, const float *qkv,
                const float *mid_q, const float *mid_k, const float *rstd_q, const float *rstd_k, float *scratch) {
    int nth = afm_pool_size(pool);
    long hd = a->hd;
    qk_ctx c = {.a = a, .d_qkv = d_qkv, .scratch = scratch, .qkv = qkv, .cmid_q = mid_q, .cmid_k = mid_k,
                .crstd_q = rstd_q, .crstd_k = rstd_k, .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    /* per-thread gain-gradient partials: threads that get no rows leave theirs untouched */
    memset(scratch, 0, sizeof(float) * (size_t)nth * 3 * (size_t)hd);
    afm_parallel_for(pool, a->N, qk_bwd_rows, &c);
    if (a->qk_norm == AFM_QK_NORM_OFF) return;
    for (int t = 0; t < nth; t++)
        for (long i = 0; i < hd; i++) {
            dg_q[i] += scratch[(long)t * 3 * hd + i];
            dg_k[i] += scratch[(long)t * 3 * hd + hd + i];
        }
}
