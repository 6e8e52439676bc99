/* Plain-loop forward/backward ops for training (see train_ops.h for the maths and shapes). */
#include "model/train_ops.h"
#include "model/train_vec.h"
#include "base/cpu.h"
#include <math.h>
#include <string.h>

typedef struct range_job { afm_range_fn fn; void *ctx; long n; } range_job;

static void range_worker(void *p, int ith, int nth) {
    range_job *j = p;
    long lo, hi;
    afm_split_range(j->n, ith, nth, &lo, &hi);
    if (lo < hi) j->fn(j->ctx, lo, hi, ith);
}

void afm_parallel_for(afm_pool *pool, long n, afm_range_fn fn, void *ctx) {
    if (n <= 0) return;
    range_job j = {fn, ctx, n};
    if (afm_pool_size(pool) <= 1 || n == 1) fn(ctx, 0, n, 0);
    else afm_pool_run(pool, range_worker, &j);
}

/* ---------------- embedding ---------------- */
typedef struct embed_ctx { float *x; float *dE; const float *E; const float *dx; const int32_t *tok; long N, D; } embed_ctx;

static void embed_fwd_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    embed_ctx *c = p;
    for (long n = lo; n < hi; n++) memcpy(c->x + n * c->D, c->E + (long)c->tok[n] * c->D, sizeof(float) * (size_t)c->D);
}

void afm_embed_fwd(afm_pool *pool, float *x, const float *E, const int32_t *tokens, long N, long D) {
    embed_ctx c = {x, NULL, E, NULL, tokens, N, D};
    afm_parallel_for(pool, N, embed_fwd_rows, &c);
}

static void embed_bwd_cols(void *p, long lo, long hi, int ith) {
    (void)ith;
    embed_ctx *c = p;
    for (long n = 0; n < c->N; n++) {
        float *dst = c->dE + (long)c->tok[n] * c->D;
        const float *src = c->dx + n * c->D;
        for (long i = lo; i < hi; i++) dst[i] += src[i];
    }
}

void afm_embed_bwd(afm_pool *pool, float *dE, const float *dx, const int32_t *tokens, long N, long D) {
    embed_ctx c = {NULL, dE, NULL, dx, tokens, N, D};
    afm_parallel_for(pool, D, embed_bwd_cols, &c);
}

/* ---------------- RMSNorm ---------------- */
typedef struct norm_ctx {
    float *y, *rstd, *dx, *partial;
    const float *x, *g, *dy, *rstd_in;
    long rows, D;
    float eps;
    bool accumulate, avx2;
} norm_ctx;

void afm_rmsnorm_row(float *y, float *rstd, const float *x, const float *g, long D, float eps, bool avx2) {
    double ss = 0.0;
    if (avx2) ss = afm_tv_sumsq_avx2(x, D);
    else for (long i = 0; i < D; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
    *rstd = r;
    if (avx2) { afm_tv_norm_apply_avx2(y, x, g, r, D); return; }
    for (long i = 0; i < D; i++) y[i] = x[i] * r * g[i];
}

static void norm_fwd_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    norm_ctx *c = p;
    for (long n = lo; n < hi; n++) afm_rmsnorm_row(c->y + n * c->D, c->rstd + n, c->x + n * c->D, c->g, c->D, c->eps, c->avx2);
}

void afm_rmsnorm_fwd(afm_pool *pool, float *y, float *rstd, const float *x, const float *g, long rows, long D, float eps) {
    norm_ctx c = {.y = y, .rstd = rstd, .x = x, .g = g, .rows = rows, .D = D, .eps = eps, .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, rows, norm_fwd_rows, &c);
}

void afm_rmsnorm_bwd_row(float *dx, float *dg, const float *dy, const float *x, float r, const float *g, long D,
                         bool accumulate, bool avx2) {
    /* y_i = x_i r g_i with r = (mean x^2 + eps)^-1/2, so dr/dx_i = -r^3 x_i / D */
    double dot = 0.0;
    if (avx2) dot = afm_tv_dot3_avx2(dy, g, x, D);
    else for (long i = 0; i < D; i++) dot += (double)dy[i] * g[i] * x[i];
    float k = (float)(dot / (double)D) * r * r * r;
    if (avx2) { afm_tv_norm_bwd_avx2(dx, dg, dy, x, g, r, k, D, accumulate); return; }
    for (long i = 0; i < D; i++) {
        float v = dy[i] * g[i] * r - x[i] * k;
        dx[i] = accumulate ? dx[i] + v : v;
        dg[i] += dy[i] * x[i] * r;
    }
}

static void norm_bwd_rows(void *p, long lo, long hi, int ith) {
    norm_ctx *c = p;
    float *dg = c->partial + (long)ith * c->D;
    memset(dg, 0, sizeof(float) * (size_t)c->D);
    for (long n = lo; n < hi; n++)
        afm_rmsnorm_bwd_row(c->dx + n * c->D, dg, c->dy + n * c->D, c->x + n * c->D, c->rstd_in[n], c->g, c->D,
                            c->accumulate, c->avx2);
}

void afm_rmsnorm_bwd(afm_pool *pool, float *dx, float *dg, const float *dy, const float *x, const float *rstd,
                     const float *g, long rows, long D, float *partial, bool accumulate) {
    int nth = afm_pool_size(pool);
    if (rows < nth) nth = (int)rows;
    norm_ctx c = {.dx = dx, .partial = partial, .x = x, .g = g, .dy = dy, .rstd_in = rstd, .rows = rows, .D = D,
                  .accumulate = accumulate, .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    /* threads that get no rows leave their partial untouched: clear all first */
    memset(partial, 0, sizeof(float) * (size_t)afm_pool_size(pool) * (size_t)D);
    afm_parallel_for(pool, rows, norm_bwd_rows, &c);
    for (int t = 0; t < afm_pool_size(pool); t++)
        for (long i = 0; i < D; i++) dg[i] += partial[(long)t * D + i];
}

/* ---------------- RoPE ---------------- */
void afm_rope_table(float *cosv, float *sinv, long T, long hd, double theta) {
    long half = hd / 2;
    for (long t = 0; t < T; t++)
        for (long i = 0; i < half; i++) {
            double freq = pow(theta, -2.0 * (double)i / (double)hd);
            double ang = (double)t * freq;
            cosv[t * half + i] = (float)cos(ang);
            sinv[t * half + i] = (float)sin(ang);
        }
}

typedef struct rope_ctx {
    float *out; const float *in, *cosv, *sinv;
    long T, nh, hd; afm_rope_layout layout; float sign;
} rope_ctx;

void afm_rope_head(float *y, const float *x, const float *cs, const float *sn, long hd, afm_rope_layout layout, float sign) {
    long half = hd / 2;
    for (long i = 0; i < half; i++) {
        long i0 = layout == AFM_ROPE_INTERLEAVED ? 2 * i : i;
        long i1 = layout == AFM_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
        float x0 = x[i0], x1 = x[i1], co = cs[i], si = sign * sn[i];
        /* (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos) */
        y[i0] = x0 * co - x1 * si;
        y[i1] = x0 * si + x1 * co;
    }
}

static void rope_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    rope_ctx *c = p;
    long half = c->hd / 2;
    for (long n = lo; n < hi; n++) {
        const float *cs = c->cosv + (n % c->T) * half, *sn = c->sinv + (n % c->T) * half;
        for (long h = 0; h < c->nh; h++)
            afm_rope_head(c->out + (n * c->nh + h) * c->hd, c->in + (n * c->nh + h) * c->hd, cs, sn, c->hd, c->layout, c->sign);
    }
}

void afm_rope(afm_pool *pool, float *out, const float *in, const float *cosv, const float *sinv,
              long N, long T, long nh, long hd, afm_rope_layout layout, bool inverse) {
    rope_ctx c = {out, in, cosv, sinv, T, nh, hd, layout, inverse ? -1.0f : 1.0f};
    afm_parallel_for(pool, N, rope_rows, &c);
}

/* ---------------- attention ---------------- */
typedef struct attn_ctx {
    float *out, *probs, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *probs_in;
    long B, T, H, KH, hd;
    float scale;
} attn_ctx;

static float dotf(const float *a, const float *b, long n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long i = 0;
    for (; i + 4 <= n; i += 4) { s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3]; }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static void attn_fwd_heads(void *p, long lo, long hi, int ith) {
    (void)ith;
    attn_ctx *c = p;
    long T = c->T, H = c->H, KH = c->KH, hd = c->hd, grp = H / KH;
    for (long bh = lo; bh < hi; bh++) {
        long b = bh / H, h = bh % H, kh = h / grp;
        for (long t = 0; t < T; t++) {
            const float *q = c->q + ((b * T + t) * H + h) * hd;
            float *pr = c->probs + (bh * T + t) * T;
            float mx = -INFINITY;
            for (long j = 0; j <= t; j++) {
                pr[j] = c->scale * dotf(q, c->k + ((b * T + j) * KH + kh) * hd, hd);
                if (pr[j] > mx) mx = pr[j];
            }
            double sum = 0.0;
            for (long j = 0; j <= t; j++) { pr[j] = expf(pr[j] - mx); sum += pr[j]; }
            float inv = (float)(1.0 / sum);
            for (long j = 0; j <= t; j++) pr[j] *= inv;
            for (long j = t + 1; j < T; j++) pr[j] = 0.0f;
            float *o = c->out + ((b * T + t) * H + h) * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            for (long j = 0; j <= t; j++) {
                const float *vj = c->v + ((b * T + j) * KH + kh) * hd;
                float pj = pr[j];
                for (long i = 0; i < hd; i++) o[i] += pj * vj[i];
            }
        }
    }
}

void afm_attention_fwd(afm_pool *pool, float *out, float *probs, const float *q, const float *k, const float *v,
                       long B, long T, long H, long KH, long hd, float scale) {
    attn_ctx c = {.out = out, .probs = probs, .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .KH = KH, .hd = hd, .scale = scale};
    afm_parallel_for(pool, B * H, attn_fwd_heads, &c);
}

/* One thread owns a (sequence, kv head) pair: it writes dk and dv of that head and dq of the
 * query heads that read it, so no two threads touch the same output. */
static void attn_bwd_groups(void *p, long lo, long hi, int ith) {
    attn_ctx *c = p;
    long T = c->T, H = c->H, KH = c->KH, hd = c->hd, grp = H / KH;
    float *dp = c->scratch + (long)ith * T;
    for (long bk = lo; bk < hi; bk++) {
        long b = bk / KH, kh = bk % KH;
        for (long t = 0; t < T; t++) {
            memset(c->dk + ((b * T + t) * KH + kh) * hd, 0, sizeof(float) * (size_t)hd);
            memset(c->dv + ((b * T + t) * KH + kh) * hd, 0, sizeof(float) * (size_t)hd);
        }
        for (long h = kh * grp; h < (kh + 1) * grp; h++) {
            for (long t = 0; t < T; t++) {
                const float *pr = c->probs_in + ((b * H + h) * T + t) * T;
                const float *dout = c->dout + ((b * T + t) * H + h) * hd;
                const float *q = c->q + ((b * T + t) * H + h) * hd;
                float *dq = c->dq + ((b * T + t) * H + h) * hd;
                /* dP_j = dout . v_j;  dv_j += P_j dout */
                double s = 0.0;
                for (long j = 0; j <= t; j++) {
                    const float *vj = c->v + ((b * T + j) * KH + kh) * hd;
                    float *dvj = c->dv + ((b * T + j) * KH + kh) * hd;
                    dp[j] = dotf(dout, vj, hd);
                    s += (double)pr[j] * dp[j];
                    for (long i = 0; i < hd; i++) dvj[i] += pr[j] * dout[i];
                }
                /* softmax backward: dS_j = P_j (dP_j - sum_j' P_j' dP_j'); scores = scale q.k */
                memset(dq, 0, sizeof(float) * (size_t)hd);
                for (long j = 0; j <= t; j++) {
                    float ds = pr[j] * (dp[j] - (float)s) * c->scale;
                    const float *kj = c->k + ((b * T + j) * KH + kh) * hd;
                    float *dkj = c->dk + ((b * T + j) * KH + kh) * hd;
                    for (long i = 0; i < hd; i++) { dq[i] += ds * kj[i]; dkj[i] += ds * q[i]; }
                }
            }
        }
    }
}

void afm_attention_bwd(afm_pool *pool, float *dq, float *dk, float *dv, const float *dout, const float *probs,
                       const float *q, const float *k, const float *v, long B, long T, long H, long KH, long hd,
                       float scale, float *scratch) {
    attn_ctx c = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v, .dout = dout,
                  .probs_in = probs, .B = B, .T = T, .H = H, .KH = KH, .hd = hd, .scale = scale};
    afm_parallel_for(pool, B * KH, attn_bwd_groups, &c);
}

/* ---------------- SwiGLU, residual ---------------- */
typedef struct ew_ctx { float *o1, *o2; const float *a, *b, *c; bool avx2; } ew_ctx;

static void swiglu_fwd_range(void *p, long lo, long hi, int ith) {
    (void)ith;
    ew_ctx *c = p;
    if (c->avx2) { afm_tv_swiglu_fwd_avx2(c->o1 + lo, c->a + lo, c->b + lo, hi - lo); return; }
    for (long i = lo; i < hi; i++) {
        float g = c->a[i];
        c->o1[i] = g / (1.0f + expf(-g)) * c->b[i];
    }
}

void afm_swiglu_fwd(afm_pool *pool, float *act, const float *gate, const float *up, long n) {
    ew_ctx c = {act, NULL, gate, up, NULL, afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, n, swiglu_fwd_range, &c);
}

static void swiglu_bwd_range(void *p, long lo, long hi, int ith) {
    (void)ith;
    ew_ctx *c = p;
    if (c->avx2) { afm_tv_swiglu_bwd_avx2(c->o1 + lo, c->o2 + lo, c->a + lo, c->b + lo, c->c + lo, hi - lo); return; }
    for (long i = lo; i < hi; i++) {
        float g = c->b[i], u = c->c[i], d = c->a[i];
        float sg = 1.0f / (1.0f + expf(-g));
        c->o1[i] = d * u * sg * (1.0f + g * (1.0f - sg));
        c->o2[i] = d * g * sg;
    }
}

void afm_swiglu_bwd(afm_pool *pool, float *dgate, float *dup, const float *dact, const float *gate, const float *up, long n) {
    ew_ctx c = {dgate, dup, dact, gate, up, afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, n, swiglu_bwd_range, &c);
}

static void add_range(void *p, long lo, long hi, int ith) {
    (void)ith;
    ew_ctx *c = p;
    if (c->avx2) { afm_tv_add_avx2(c->o1 + lo, c->a + lo, c->b + lo, hi - lo); return; }
    for (long i = lo; i < hi; i++) c->o1[i] = c->a[i] + c->b[i];
}

void afm_add(afm_pool *pool, float *y, const float *a, const float *b, long n) {
    ew_ctx c = {y, NULL, a, b, NULL, afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, n, add_range, &c);
}

/* ---------------- cross-entropy + z-loss ---------------- */
enum { XENT_MAX_THREADS = 512 };
typedef struct xent_ctx {
    float *lse, *losses, *logits;
    const int32_t *tgt;
    long V;
    float z, scale;
    bool avx2;
    double part_sum[XENT_MAX_THREADS];
    long part_n[XENT_MAX_THREADS];
} xent_ctx;

/* One row of logits x (V): returns lse in double (and *lse_f = (float)lse). */
static double xent_row_lse(const float *x, long V, bool avx2) {
    float mx = -INFINITY;
    double se = 0.0;
    if (avx2) {
        mx = afm_tv_max_avx2(x, V);
        se = afm_tv_exp_sum_avx2(NULL, x, V, mx);
    } else {
        for (long j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
        for (long j = 0; j < V; j++) se += expf(x[j] - mx);
    }
    return (double)mx + log(se);
}

/* One counted row (target y >= 0): x (V) becomes d/dx_j [lse - x_y + z lse^2] * scale
 * = (p_j (1 + 2 z lse) - [j == y]) * scale, from the row's lse l (f32, as stored). */
static void xent_row_grad(float *x, long V, int32_t y, float l, float z, float scale, bool avx2) {
    float k = (1.0f + 2.0f * z * l) * scale;
    if (avx2) afm_tv_exp_scale_avx2(x, x, V, l, k);
    else for (long j = 0; j < V; j++) x[j] = expf(x[j] - l) * k;
    x[y] -= scale;
}

static void xent_fwd_rows(void *p, long lo, long hi, int ith) {
    xent_ctx *c = p;
    double sum = 0.0;
    long cnt = 0;
    for (long n = lo; n < hi; n++) {
        const float *x = c->logits + n * c->V;
        double lse = xent_row_lse(x, c->V, c->avx2);
        c->lse[n] = (float)lse;
        if (c->tgt[n] < 0) { c->losses[n] = 0.0f; continue; }
        double l = lse - (double)x[c->tgt[n]] + (double)c->z * lse * lse;
        c->losses[n] = (float)l;
        sum += l;
        cnt++;
    }
    c->part_sum[ith] = sum;
    c->part_n[ith] = cnt;
}

double afm_xent_fwd(afm_pool *pool, float *lse, float *losses, const float *logits, const int32_t *targets,
                    long N, long V, float z, long *n_valid) {
    xent_ctx c = {.lse = lse, .losses = losses, .logits = (float *)logits, .tgt = targets, .V = V, .z = z,
                  .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, N, xent_fwd_rows, &c);
    double sum = 0.0;
    long cnt = 0;
    for (int t = 0; t < XENT_MAX_THREADS; t++) { sum += c.part_sum[t]; cnt += c.part_n[t]; }
    *n_valid = cnt;
    return cnt > 0 ? sum / (double)cnt : 0.0;
}

static void xent_bwd_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    xent_ctx *c = p;
    for (long n = lo; n < hi; n++) {
        float *x = c->logits + n * c->V;
        if (c->tgt[n] < 0) { memset(x, 0, sizeof(float) * (size_t)c->V); continue; }
        xent_row_grad(x, c->V, c->tgt[n], c->lse[n], c->z, c->scale, c->avx2);
    }
}

/* afm_xent_chunk: both passes per row, each row's loss kept in double for an ordered sum */
typedef struct xent_chunk_ctx { xent_ctx x; double *row_loss; bool grad; } xent_chunk_ctx;

static void xent_chunk_rows(void *p, long lo, long hi, int ith) {
    (void)ith;
    xent_chunk_ctx *k = p;
    xent_ctx *c = &k->x;
    for (long n = lo; n < hi; n++) {
        float *x = c->logits + n * c->V;
        double lse = xent_row_lse(x, c->V, c->avx2);
        c->lse[n] = (float)lse;
        if (c->tgt[n] < 0) {
            c->losses[n] = 0.0f;
            k->row_loss[n] = 0.0;
            if (k->grad) memset(x, 0, sizeof(float) * (size_t)c->V);
            continue;
        }
        double l = lse - (double)x[c->tgt[n]] + (double)c->z * lse * lse;
        c->losses[n] = (float)l;
        k->row_loss[n] = l;
        if (k->grad) xent_row_grad(x, c->V, c->tgt[n], c->lse[n], c->z, c->scale, c->avx2);
    }
}

double afm_xent_chunk(afm_pool *pool, float *logits, float *lse, float *losses, double *row_loss, const int32_t *targets,
                      long C, long V, float z, bool grad, float scale) {
    xent_chunk_ctx k = {.x = {.lse = lse, .losses = losses, .logits = logits, .tgt = targets, .V = V, .z = z, .scale = scale,
                              .avx2 = afm_isa_best() >= AFM_ISA_AVX2},
                        .row_loss = row_loss, .grad = grad};
    afm_parallel_for(pool, C, xent_chunk_rows, &k);
    double sum = 0.0;
    for (long n = 0; n < C; n++) sum += row_loss[n];
    return sum;
}

void afm_xent_bwd(afm_pool *pool, float *logits, const float *lse, const int32_t *targets, long N, long V, float z, float scale) {
    xent_ctx c = {.lse = (float *)lse, .logits = logits, .tgt = targets, .V = V, .z = z, .scale = scale,
                  .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    afm_parallel_for(pool, N, xent_bwd_rows, &c);
}
