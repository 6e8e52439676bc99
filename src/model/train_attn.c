/* Causal grouped-query attention on the blocked GEMM (see train_ops.h for the maths).
 *
 * Queries are taken in blocks of QB = AFM_ATTN_QB rows; block [i0, i1) only needs keys j < i1,
 * so every product below runs over the lower part of the T x T square only (about half of it
 * plus QB/2 per row, instead of all of it). Work is split over the pool by (sequence, head) in
 * the forward and by (sequence, kv head) in the backward (a kv head's dK/dV are written by one
 * thread), each thread running its GEMMs serially with its own packing buffers; results do not
 * depend on the thread count. probs keeps the (B, H, T, T) layout with zeros above the diagonal.
 *
 * The B operands that come from K and V (Kᵀ for S, V for O; Kᵀ, Vᵀ and K in the backward) are
 * packed once per (sequence, kv head) and thread, whole (afm_gemm_bpanels_fill), and each block's
 * product reads its leading part (keys [0, i1)); a thread repacks only when its next unit has
 * another kv head. The GEMMs take the same K slices as when they packed B themselves, so the
 * results are the same bits.
 *
 * Per block, with P = probs rows [i0, i1) x keys [0, i1):
 *   forward   S = Q_blk K[0:i1]ᵀ;  P = softmax_causal(scale S);  O_blk = P V[0:i1]
 *   backward  dV[0:i1] += Pᵀ dO_blk;  dP = dO_blk V[0:i1]ᵀ;  dS = scale P (dP - rowsum(P dP));
 *             dQ_blk = dS K[0:i1];  dK[0:i1] += dSᵀ Q_blk */
#include "model/train_ops.h"
#include "model/train_gemm.h"
#include "model/train_vec.h"
#include "base/cpu.h"
#include <math.h>
#include <string.h>

/* row t (absolute position) of scores r (length n >= t + 1): p = softmax_{j<=t}(scale r), 0 for
 * t < j < n. With st == NULL the row's statistics are computed and stored in st_out[0..1] = (m, 1/s);
 * with st given, p = exp(scale r - m) * (1/s) is recomputed from them by the same steps, so it
 * equals the forward's p exactly. */
static void softmax_row(float *r, long t, long n, float scale, bool avx2, const float *st, float *st_out) {
    if (avx2 && st) { /* exp then the multiply, the same two roundings as below, in one pass */
        afm_tv_scale_avx2(r, r, t + 1, scale);
        afm_tv_exp_scale_avx2(r, r, t + 1, st[0], st[1]);
    } else if (avx2) {
        afm_tv_scale_avx2(r, r, t + 1, scale);
        float mx = st ? st[0] : afm_tv_max_avx2(r, t + 1);
        double sum = afm_tv_exp_sum_avx2(r, r, t + 1, mx);
        float inv = st ? st[1] : (float)(1.0 / sum);
        afm_tv_scale_avx2(r, r, t + 1, inv);
        if (!st) { st_out[0] = mx; st_out[1] = inv; }
    } else {
        float mx = -INFINITY;
        for (long j = 0; j <= t; j++) { r[j] *= scale; mx = r[j] > mx ? r[j] : mx; }
        if (st) mx = st[0];
        double sum = 0.0;
        for (long j = 0; j <= t; j++) { r[j] = expf(r[j] - mx); sum += r[j]; }
        float inv = st ? st[1] : (float)(1.0 / sum);
        for (long j = 0; j <= t; j++) r[j] *= inv;
        if (!st) { st_out[0] = mx; st_out[1] = inv; }
    }
    for (long j = t + 1; j < n; j++) r[j] = 0.0f;
}

/* d (dP row, length n) becomes dS = scale p (d - sum_{j<=t} p_j d_j) for j <= t, 0 after */
static void dsoftmax_row(float *d, const float *p, long t, long n, float scale, bool avx2) {
    if (avx2) {
        afm_tv_dsoftmax_avx2(d, p, t + 1, scale);
        if (n > t + 1) memset(d + t + 1, 0, sizeof(float) * (size_t)(n - t - 1));
        return;
    }
    double s = 0.0;
    for (long j = 0; j <= t; j++) s += (double)p[j] * d[j];
    float fs = (float)s;
    for (long j = 0; j <= t; j++) d[j] = p[j] * (d[j] - fs) * scale;
    for (long j = t + 1; j < n; j++) d[j] = 0.0f;
}

typedef struct attn_job {
    afm_gemm_ws *ws;
    float *out, *stats, *dq, *dk, *dv, *ds;
    const float *q, *k, *v, *dout, *stats_in;
    long B, T, H, KH, hd;
    afm_attn_strides rs;  /* all filled in (no zeros) */
    float scale;
    bool avx2;
} attn_job;

static afm_attn_strides fill_strides(const afm_attn_strides *rs, long QD, long KD) {
    afm_attn_strides r = rs ? *rs : (afm_attn_strides){0};
    long *q[] = {&r.q, &r.out, &r.dout, &r.dq}, *k[] = {&r.k, &r.v, &r.dk, &r.dv};
    for (int i = 0; i < 4; i++) {
        if (*q[i] == 0) *q[i] = QD;
        if (*k[i] == 0) *k[i] = KD;
    }
    return r;
}

static bool g_no_prepack; /* tests: every product packs its K / V operand itself, as before */
void afm_attn_set_prepack(bool on) { g_no_prepack = !on; }

static long round16(long n) { return (n + 15) / 16 * 16; }

/* one packed K / V operand (either layout): T x hd values in NR-wide panels */
static long pack_floats(long T, long hd) {
    size_t a = afm_gemm_bpanels_floats(hd, T), b = afm_gemm_bpanels_floats(T, hd);
    return round16((long)(a > b ? a : b));
}

size_t afm_attn_scratch_floats(long T, long hd) {
    long qb = T < AFM_ATTN_QB ? T : AFM_ATTN_QB;
    return (size_t)(round16(2 * qb * T) + 3 * pack_floats(T, hd));
}

/* thread ith's scratch: the block's probabilities and their gradient (2 qb T), then three packed operands */
static float *thread_scratch(const attn_job *c, int ith) { return c->ds + (long)ith * (long)afm_attn_scratch_floats(c->T, c->hd); }
static float *pack_slot(const attn_job *c, int ith, int i) {
    long qb = c->T < AFM_ATTN_QB ? c->T : AFM_ATTN_QB;
    if (g_no_prepack) return NULL; /* afm_gemm_serial_bpanels then packs B per product */
    return thread_scratch(c, ith) + round16(2 * qb * c->T) + i * pack_floats(c->T, c->hd);
}

static void fwd_units(void *ctx, long lo, long hi, int ith) {
    attn_job *c = ctx;
    long T = c->T, H = c->H, hd = c->hd, grp = H / c->KH;
    const long sq = c->rs.q, sk = c->rs.k, sv = c->rs.v, so = c->rs.out;
    float *p = thread_scratch(c, ith);
    afm_gemm_bpanels kt, vp; /* B = K[0:T]ᵀ (hd, T) and V[0:T] (T, hd) of kv head `packed` */
    long packed = -1;
    for (long u = lo; u < hi; u++) {
        long b = u / H, h = u % H, kh = h / grp;
        const float *qh = c->q + b * T * sq + h * hd, *kk = c->k + b * T * sk + kh * hd, *vv = c->v + b * T * sv + kh * hd;
        float *o = c->out + b * T * so + h * hd, *st = c->stats + u * T * 2;
        /* this thread's units are consecutive heads: a kv head's query heads in a row. Without
         * prepacking every unit sets its operands afresh (the products then pack them themselves) */
        if (packed != b * c->KH + kh || g_no_prepack) {
            afm_gemm_bpanels_fill(c->ws, &kt, pack_slot(c, ith, 0), hd, T, kk, 1, sk);
            afm_gemm_bpanels_fill(c->ws, &vp, pack_slot(c, ith, 1), T, hd, vv, sv, 1);
            packed = b * c->KH + kh;
        }
        for (long i0 = 0; i0 < T; i0 += AFM_ATTN_QB) {
            long i1 = i0 + AFM_ATTN_QB < T ? i0 + AFM_ATTN_QB : T;
            /* S (i1-i0, i1) = Q[i0:i1] (., hd) · K[0:i1]ᵀ, then P in place */
            afm_gemm_serial_bpanels(c->ws, ith, i1 - i0, i1, hd, qh + i0 * sq, sq, 1, &kt, p, i1, false);
            for (long t = i0; t < i1; t++) softmax_row(p + (t - i0) * i1, t, i1, c->scale, c->avx2, NULL, st + 2 * t);
            /* O[i0:i1] = P (i1-i0, i1) · V[0:i1] (i1, hd) */
            afm_gemm_serial_bpanels(c->ws, ith, i1 - i0, hd, i1, p, i1, 1, &vp, o + i0 * so, so, false);
        }
    }
}

void afm_attention_fwd_gemm(afm_pool *pool, afm_gemm_ws *ws, float *out, float *stats, const float *q, const float *k,
                            const float *v, long B, long T, long H, long KH, long hd, float scale, float *ds) {
    afm_attention_fwd_gemm_strided(pool, ws, out, stats, q, k, v, B, T, H, KH, hd, scale, ds, NULL);
}

void afm_attention_fwd_gemm_strided(afm_pool *pool, afm_gemm_ws *ws, float *out, float *stats, const float *q,
                                    const float *k, const float *v, long B, long T, long H, long KH, long hd,
                                    float scale, float *ds, const afm_attn_strides *rs) {
    attn_job c = {.ws = ws, .out = out, .stats = stats, .ds = ds, .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .KH = KH,
                  .hd = hd, .rs = fill_strides(rs, H * hd, KH * hd), .scale = scale, .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    if (afm_pool_size(pool) > afm_gemm_ws_threads(ws)) pool = NULL; /* workspace made for fewer threads */
    afm_parallel_for(pool, B * H, fwd_units, &c);
}

static void bwd_units(void *ctx, long lo, long hi, int ith) {
    attn_job *c = ctx;
    long T = c->T, H = c->H, KH = c->KH, hd = c->hd, grp = H / KH;
    const long sq = c->rs.q, sk = c->rs.k, sv = c->rs.v, sdo = c->rs.dout, sdq = c->rs.dq, sdk = c->rs.dk, sdv = c->rs.dv;
    long qb = T < AFM_ATTN_QB ? T : AFM_ATTN_QB;
    float *pb = thread_scratch(c, ith), *dp = pb + qb * T;
    afm_gemm_bpanels kt, vt, kp; /* B = K[0:T]ᵀ (hd, T), V[0:T]ᵀ (hd, T), K[0:T] (T, hd) of the unit's kv head */
    for (long u = lo; u < hi; u++) {
        long b = u / KH, kh = u % KH;
        const float *kk = c->k + b * T * sk + kh * hd, *vv = c->v + b * T * sv + kh * hd;
        float *dkk = c->dk + b * T * sdk + kh * hd, *dvv = c->dv + b * T * sdv + kh * hd;
        afm_gemm_bpanels_fill(c->ws, &kt, pack_slot(c, ith, 0), hd, T, kk, 1, sk);
        afm_gemm_bpanels_fill(c->ws, &vt, pack_slot(c, ith, 1), hd, T, vv, 1, sv);
        afm_gemm_bpanels_fill(c->ws, &kp, pack_slot(c, ith, 2), T, hd, kk, sk, 1);
        for (long t = 0; t < T; t++) {
            memset(dkk + t * sdk, 0, sizeof(float) * (size_t)hd);
            memset(dvv + t * sdv, 0, sizeof(float) * (size_t)hd);
        }
        for (long h = kh * grp; h < (kh + 1) * grp; h++) {
            const float *st = c->stats_in + (b * H + h) * T * 2;
            const float *doh = c->dout + b * T * sdo + h * hd, *qh = c->q + b * T * sq + h * hd;
            float *dqh = c->dq + b * T * sdq + h * hd;
            for (long i0 = 0; i0 < T; i0 += AFM_ATTN_QB) {
                long i1 = i0 + AFM_ATTN_QB < T ? i0 + AFM_ATTN_QB : T, m = i1 - i0;
                /* P (m, i1) recomputed: the forward's GEMM and softmax steps with its (max, 1/sum) */
                afm_gemm_serial_bpanels(c->ws, ith, m, i1, hd, qh + i0 * sq, sq, 1, &kt, pb, i1, false);
                for (long t = i0; t < i1; t++) softmax_row(pb + (t - i0) * i1, t, i1, c->scale, c->avx2, st + 2 * t, NULL);
                /* dV[0:i1] += P_blkᵀ (i1, m) · dO[i0:i1] (m, hd) */
                afm_gemm_serial(c->ws, ith, i1, hd, m, pb, 1, i1, doh + i0 * sdo, sdo, 1, dvv, sdv, true);
                /* dP (m, i1) = dO[i0:i1] · V[0:i1]ᵀ, then dS in place */
                afm_gemm_serial_bpanels(c->ws, ith, m, i1, hd, doh + i0 * sdo, sdo, 1, &vt, dp, i1, false);
                for (long t = i0; t < i1; t++) dsoftmax_row(dp + (t - i0) * i1, pb + (t - i0) * i1, t, i1, c->scale, c->avx2);
                /* dQ[i0:i1] = dS (m, i1) · K[0:i1];  dK[0:i1] += dSᵀ (i1, m) · Q[i0:i1] */
                afm_gemm_serial_bpanels(c->ws, ith, m, hd, i1, dp, i1, 1, &kp, dqh + i0 * sdq, sdq, false);
                afm_gemm_serial(c->ws, ith, i1, hd, m, dp, 1, i1, qh + i0 * sq, sq, 1, dkk, sdk, true);
            }
        }
    }
}

void afm_attention_bwd_gemm(afm_pool *pool, afm_gemm_ws *ws, float *dq, float *dk, float *dv, const float *dout,
                            const float *stats, const float *q, const float *k, const float *v, long B, long T, long H,
                            long KH, long hd, float scale, float *ds) {
    afm_attention_bwd_gemm_strided(pool, ws, dq, dk, dv, dout, stats, q, k, v, B, T, H, KH, hd, scale, ds, NULL);
}

void afm_attention_bwd_gemm_strided(afm_pool *pool, afm_gemm_ws *ws, float *dq, float *dk, float *dv, const float *dout,
                                    const float *stats, const float *q, const float *k, const float *v, long B, long T,
                                    long H, long KH, long hd, float scale, float *ds, const afm_attn_strides *rs) {
    attn_job c = {.ws = ws, .dq = dq, .dk = dk, .dv = dv, .ds = ds, .q = q, .k = k, .v = v, .dout = dout,
                  .stats_in = stats, .B = B, .T = T, .H = H, .KH = KH, .hd = hd, .rs = fill_strides(rs, H * hd, KH * hd),
                  .scale = scale, .avx2 = afm_isa_best() >= AFM_ISA_AVX2};
    if (afm_pool_size(pool) > afm_gemm_ws_threads(ws)) pool = NULL;
    afm_parallel_for(pool, B * KH, bwd_units, &c);
}
