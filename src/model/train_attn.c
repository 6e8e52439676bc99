/* Causal grouped-query attention on the blocked GEMM (see train_ops.h for the maths): per
 * (sequence, query head) the score matrix, the mixing and all four backward products are GEMMs
 * over the full T x T square (the masked upper triangle is zero after the softmax, so it adds
 * work but no error), and the row-wise softmax parts are split over the threads. */
#include "model/train_ops.h"
#include "model/train_gemm.h"
#include <math.h>
#include <string.h>

typedef struct rows_ctx { float *p, *dp; const float *pin; long T; float scale; } rows_ctx;

/* row t of S (scores): p = softmax_{j<=t}(scale * S), 0 for j > t */
static void softmax_rows(void *v, long lo, long hi, int ith) {
    (void)ith;
    rows_ctx *c = v;
    for (long t = lo; t < hi; t++) {
        float *r = c->p + t * c->T, mx = -INFINITY;
        for (long j = 0; j <= t; j++) { r[j] *= c->scale; mx = r[j] > mx ? r[j] : mx; }
        double sum = 0.0;
        for (long j = 0; j <= t; j++) { r[j] = expf(r[j] - mx); sum += r[j]; }
        float inv = (float)(1.0 / sum);
        for (long j = 0; j <= t; j++) r[j] *= inv;
        for (long j = t + 1; j < c->T; j++) r[j] = 0.0f;
    }
}

/* dS = scale * P (dP - sum_j P dP), in place of dP */
static void dsoftmax_rows(void *v, long lo, long hi, int ith) {
    (void)ith;
    rows_ctx *c = v;
    for (long t = lo; t < hi; t++) {
        const float *p = c->pin + t * c->T;
        float *d = c->dp + t * c->T;
        double s = 0.0;
        for (long j = 0; j <= t; j++) s += (double)p[j] * d[j];
        for (long j = 0; j <= t; j++) d[j] = p[j] * (d[j] - (float)s) * c->scale;
        for (long j = t + 1; j < c->T; j++) d[j] = 0.0f;
    }
}

void afm_attention_fwd_gemm(afm_pool *pool, afm_gemm_ws *ws, float *out, float *probs, const float *q, const float *k,
                            const float *v, long B, long T, long H, long KH, long hd, float scale) {
    long QD = H * hd, KD = KH * hd, grp = H / KH;
    for (long b = 0; b < B; b++)
        for (long h = 0; h < H; h++) {
            long kh = h / grp;
            const float *qh = q + b * T * QD + h * hd, *kk = k + b * T * KD + kh * hd, *vv = v + b * T * KD + kh * hd;
            float *p = probs + (b * H + h) * T * T;
            /* S (T, T) = Q_h (T, hd) · K_khᵀ */
            afm_gemm(pool, ws, T, T, hd, qh, QD, 1, kk, 1, KD, p, T, false);
            rows_ctx rc = {p, NULL, NULL, T, scale};
            afm_parallel_for(pool, T, softmax_rows, &rc);
            /* O_h (T, hd) = P (T, T) · V_kh (T, hd) */
            afm_gemm(pool, ws, T, hd, T, p, T, 1, vv, KD, 1, out + b * T * QD + h * hd, QD, false);
        }
}

void afm_attention_bwd_gemm(afm_pool *pool, afm_gemm_ws *ws, float *dq, float *dk, float *dv, const float *dout,
                            const float *probs, const float *q, const float *k, const float *v, long B, long T, long H,
                            long KH, long hd, float scale, float *ds) {
    long QD = H * hd, KD = KH * hd, grp = H / KH;
    for (long b = 0; b < B; b++)
        for (long h = 0; h < H; h++) {
            long kh = h / grp;
            bool first = h % grp == 0;
            const float *p = probs + (b * H + h) * T * T, *doh = dout + b * T * QD + h * hd, *qh = q + b * T * QD + h * hd;
            const float *kk = k + b * T * KD + kh * hd, *vv = v + b * T * KD + kh * hd;
            float *dkk = dk + b * T * KD + kh * hd, *dvv = dv + b * T * KD + kh * hd;
            /* dV_kh (+)= Pᵀ · dO_h */
            afm_gemm(pool, ws, T, hd, T, p, 1, T, doh, QD, 1, dvv, KD, !first);
            /* dP (T, T) = dO_h · V_khᵀ, then dS = scale P (dP - rowsum(P dP)) */
            afm_gemm(pool, ws, T, T, hd, doh, QD, 1, vv, 1, KD, ds, T, false);
            rows_ctx rc = {NULL, ds, p, T, scale};
            afm_parallel_for(pool, T, dsoftmax_rows, &rc);
            /* dQ_h = dS · K_kh;  dK_kh (+)= dSᵀ · Q_h */
            afm_gemm(pool, ws, T, hd, T, ds, T, 1, kk, KD, 1, dq + b * T * QD + h * hd, QD, false);
            afm_gemm(pool, ws, T, hd, T, ds, 1, T, qh, QD, 1, dkk, KD, !first);
        }
}
