/* AdamW, the AFM optimizer and LR schedules (see optim.h). */
#include "train/optim.h"
#include "train/optim_vec.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/mem.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

afm_optim_config afm_optim_defaults(afm_optim_kind kind, int D) {
    afm_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    if (kind == AFM_OPTIM_AFM) {
        c.lr = 0.01f;
        c.beta1 = 0.95f;
        c.beta2 = 0.95f;
        c.weight_decay = 3.16e-4f;
        c.clip_norm = 1.0f;
        c.skip_norm = 100.0f;
        c.update_rms_clip = 1.0f;
        c.mup_scale = D > 768 ? 768.0f / (float)D : 1.0f;
        c.decay_norms = true;
    } else {
        c.lr = 3e-4f;
        c.beta1 = 0.9f;
        c.beta2 = 0.95f;
        c.eps = 1e-8f;
        c.weight_decay = 0.1f;
        c.clip_norm = 1.0f;
        c.decay_norms = true;
    }
    return c;
}

static afm_status create_range(const afm_optim_config *cfg, size_t n_params, size_t lo, size_t hi, afm_dist *dist, afm_optim **out) {
    *out = NULL;
    if (cfg->kind != AFM_OPTIM_ADAMW && cfg->kind != AFM_OPTIM_AFM)
        return afm_error(AFM_ERR_INVALID_ARG, "unknown optimizer kind %d", (int)cfg->kind);
    if (!(cfg->lr >= 0.0f) || !(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) || !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
        return afm_error(AFM_ERR_INVALID_ARG, "optimizer: need lr >= 0 and betas in [0, 1) (got lr %g, betas %g, %g)",
                         (double)cfg->lr, (double)cfg->beta1, (double)cfg->beta2);
    afm_optim *o = calloc(1, sizeof *o);
    if (!o) return afm_error(AFM_ERR_NOMEM, "out of memory for the optimizer");
    o->cfg = *cfg;
    o->n = n_params;
    o->lo = lo;
    o->hi = hi;
    o->dist = dist;
    /* at least one element each, so an empty shard still has valid pointers */
    o->m = afm_calloc((hi - lo + 1) * sizeof(float));
    o->v = afm_calloc((hi - lo + 1) * sizeof(float));
    if (!o->m || !o->v) { afm_optim_free(o); return afm_error(AFM_ERR_NOMEM, "out of memory for optimizer state (%zu parameters)", hi - lo); }
    *out = o;
    return AFM_OK;
}

afm_status afm_optim_create(const afm_optim_config *cfg, size_t n_params, afm_optim **out) {
    return create_range(cfg, n_params, 0, n_params, NULL, out);
}

afm_status afm_optim_create_shard(const afm_optim_config *cfg, size_t n_params, afm_dist *dist, afm_optim **out) {
    if (!dist || dist->size <= 1) return create_range(cfg, n_params, 0, n_params, NULL, out);
    size_t lo, hi;
    afm_dist_shard_range(dist, n_params, dist->rank, &lo, &hi);
    return create_range(cfg, n_params, lo, hi, dist, out);
}

void afm_optim_free(afm_optim *o) {
    if (!o) return;
    afm_free(o->m);
    afm_free(o->v);
    free(o);
}

/* ---- reproducible sums of squares ----
 * Σ x² is computed so that it does not depend on the order of the terms or on how they are split
 * over ranks (ZeRO-1 adds per-rank parts; one process runs over all) or over SIMD lanes: with
 * every |x| < 2^e (e from the largest |x| over all ranks), each square, exact in double, is scaled
 * by 2^s, s = 90 - 2e (exact), rounded to an integer below 2^90 and the integers are added in
 * 128 bits (exact, associative). The result ldexp(Σ, -s) is within n/2 units of 2^-s of the true
 * sum, whose largest term alone is at least 2^88 units: relative error below n·2^-89 (2^-57 for
 * 2^32 terms), finer than double rounding.
 * An integer: d = x²·2^s = hi·2^45 + lo with hi = round(d·2^-45) and lo = round(d - hi·2^45)
 * (|lo| <= 2^44; rounding by adding and subtracting 1.5·2^52; d - hi·2^45 is exact). Blocks of
 * FIXED_BLOCK terms add hi and lo in 64 bits (2^16·2^45 = 2^61), the blocks in 128 bits. The AVX2
 * loops (optim_avx2.c) give the same integers. */
enum { FIXED_BLOCK = 1 << 16 };
static inline void fixed_add(double d, int64_t *hi, int64_t *lo) {
    double h = (d * 0x1p-45 + 0x1.8p52) - 0x1.8p52;
    double l = (d - h * 0x1p45 + 0x1.8p52) - 0x1.8p52;
    *hi += (int64_t)h;
    *lo += (int64_t)l;
}

static double max_abs(const float *x, size_t n) { /* NaN or inf: the first one, at once */
    if (afm_isa_best() >= AFM_ISA_AVX2) return (double)afm_optim_maxabs_avx2(x, n);
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a <= FLT_MAX)) return (double)a;
        if (a > m) m = a;
    }
    return (double)m;
}

static int sq_shift(double maxabs) { /* s with maxabs < 2^e, s = 90 - 2e; maxabs > 0 and finite */
    int e;
    frexp(maxabs, &e);
    return 90 - 2 * e;
}

static afm_int128 fixed_sum_squares(const float *x, size_t n, int s) {
    const double k = ldexp(1.0, s); /* a power of two: the products are exact */
    if (afm_isa_best() >= AFM_ISA_AVX2) return afm_optim_fixed_sumsq_avx2(x, n, k);
    afm_int128 acc = 0;
    for (size_t b = 0; b < n; b += FIXED_BLOCK) {
        size_t e = n - b < FIXED_BLOCK ? n : b + FIXED_BLOCK;
        int64_t hi = 0, lo = 0;
        for (size_t i = b; i < e; i++) fixed_add((double)x[i] * x[i] * k, &hi, &lo);
        acc += ((afm_int128)hi << 45) + lo;
    }
    return acc;
}

/* Work over the model's pool. Element-wise loops split each tensor's part at multiples of
 * SPLIT_ALIGN elements from its start, so every element takes the same vector or scalar path as
 * in one piece and the results do not depend on the thread count; maxima and the integer sums
 * of the reproducible sums of squares are exact whatever the split. */
enum { SPLIT_ALIGN = 64, OPT_MAX_THREADS = 512 };

static void part_of(size_t n, int ith, int nth, size_t *a, size_t *b) {
    long lo, hi, blocks = (long)((n + SPLIT_ALIGN - 1) / SPLIT_ALIGN);
    afm_split_range(blocks, ith, nth, &lo, &hi);
    *a = (size_t)lo * SPLIT_ALIGN;
    *b = (size_t)hi * SPLIT_ALIGN < n ? (size_t)hi * SPLIT_ALIGN : n;
}

/* max |x| (the first NaN or inf) of per-thread maxima taken over consecutive parts, in order */
static double combine_max(const double *part, int nth) {
    double m = 0.0;
    for (int t = 0; t < nth; t++) {
        if (!isfinite(part[t])) return part[t];
        if (part[t] > m) m = part[t];
    }
    return m;
}

typedef struct sumsq_job { const float *g; size_t n; int sh; double part_max[OPT_MAX_THREADS]; afm_int128 part_acc[OPT_MAX_THREADS]; } sumsq_job;

static void maxabs_worker(void *p, int ith, int nth) {
    sumsq_job *j = p;
    size_t a, b;
    part_of(j->n, ith, nth, &a, &b);
    j->part_max[ith] = a < b ? max_abs(j->g + a, b - a) : 0.0;
}

static void sumsq_worker(void *p, int ith, int nth) {
    sumsq_job *j = p;
    size_t a, b;
    part_of(j->n, ith, nth, &a, &b);
    j->part_acc[ith] = a < b ? fixed_sum_squares(j->g + a, b - a, j->sh) : 0;
}

static int pool_threads(afm_pool *pool) {
    int nth = afm_pool_size(pool);
    return nth > OPT_MAX_THREADS ? 1 : nth;
}

static void run_on(afm_pool *pool, afm_pool_fn fn, void *ctx) {
    if (pool_threads(pool) > 1) afm_pool_run(pool, fn, ctx);
    else fn(ctx, 0, 1);
}

/* Σ g² over [lo, hi) of every rank (dist: sharded, a collective; NULL: this range only). */
static afm_status global_sum_squares(afm_pool *pool, afm_dist *dist, const float *g, size_t n, double *out) {
    int nth = pool_threads(pool);
    sumsq_job *j = malloc(sizeof *j);
    if (!j) return afm_error(AFM_ERR_NOMEM, "out of memory");
    j->g = g;
    j->n = n;
    run_on(nth > 1 ? pool : NULL, maxabs_worker, j);
    double mx = combine_max(j->part_max, nth);
    afm_status st = AFM_OK;
    if (dist) {
        if (isnan(mx)) mx = INFINITY;
        st = afm_dist_max_doubles(dist, &mx, 1);
    }
    if (st != AFM_OK || !isfinite(mx) || mx == 0.0) { free(j); *out = mx * mx; return st; }
    j->sh = sq_shift(mx);
    run_on(nth > 1 ? pool : NULL, sumsq_worker, j);
    afm_int128 acc = 0;
    for (int t = 0; t < nth; t++) acc += j->part_acc[t];
    free(j);
    if (dist) AFM_TRY(afm_dist_sum_int128(dist, &acc, 1));
    *out = ldexp((double)acc, -sq_shift(mx));
    return AFM_OK;
}

/* the clip g ← g gk is done here, in the same pass (gk == 1: none) */
static void adamw_range(const afm_optim_config *c, float *w, float *g, float *m, float *v, size_t n,
                        float lr_t, float wd, double bc1, double bc2, float gk) {
    float decay = 1.0f - lr_t * wd;
    float step = (float)(lr_t / bc1);
    float sbc2 = (float)sqrt(bc2);
    if (afm_isa_best() >= AFM_ISA_AVX2) { afm_adamw_avx2(w, g, m, v, n, c->beta1, c->beta2, c->eps, decay, step, sbc2, gk); return; }
    for (size_t i = 0; i < n; i++) {
        if (gk != 1.0f) g[i] *= gk;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
        w[i] *= decay;
        w[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + c->eps);
    }
}

/* AFM pass 1 over a tensor's elements in this range: v ← β2 v + (1-β2)(g² + 1e-30); returns
 * max |u|, u = g / sqrt(v / (1-β2^t)) (the first NaN or inf at once). */
static double afm_second_moment(const afm_optim_config *c, const float *g, float *v, size_t n, double bc2) {
    float inv_bc2 = (float)(1.0 / bc2), m = 0.0f;
    if (afm_isa_best() >= AFM_ISA_AVX2) return (double)afm_afm_pass1_avx2(g, v, n, c->beta2, inv_bc2);
    for (size_t i = 0; i < n; i++) v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * (g[i] * g[i] + 1e-30f);
    for (size_t i = 0; i < n; i++) {
        float u = fabsf(g[i] / sqrtf(v[i] * inv_bc2));
        if (!(u <= FLT_MAX)) return (double)u;
        if (u > m) m = u;
    }
    return (double)m;
}

/* AFM pass 1b: Σ u² over this range as the integer of the reproducible sums (shift sh). */
static afm_int128 afm_fixed_u2(const float *g, const float *v, size_t n, double bc2, int sh) {
    float inv_bc2 = (float)(1.0 / bc2);
    const double k = ldexp(1.0, sh);
    if (afm_isa_best() >= AFM_ISA_AVX2) return afm_afm_fixed_u2_avx2(g, v, n, inv_bc2, k);
    afm_int128 acc = 0;
    for (size_t b = 0; b < n; b += FIXED_BLOCK) {
        size_t e = n - b < FIXED_BLOCK ? n : b + FIXED_BLOCK;
        int64_t hi = 0, lo = 0;
        for (size_t i = b; i < e; i++) {
            float u = g[i] / sqrtf(v[i] * inv_bc2);
            fixed_add((double)u * u * k, &hi, &lo);
        }
        acc += ((afm_int128)hi << 45) + lo;
    }
    return acc;
}

/* AFM pass 2, given the tensor's Σ u² over all numel elements (every rank's part). */
static void afm_update(const afm_optim_config *c, float *w, const float *g, float *m, const float *v, size_t n, double ss,
                       size_t numel, float s, float lr_scale, float wd, double bc2) {
    float inv_bc2 = (float)(1.0 / bc2);
    double rms = sqrt(ss / (double)numel);
    float clip = c->update_rms_clip > 0.0f && rms / c->update_rms_clip > 1.0 ? (float)(c->update_rms_clip / rms) : 1.0f;
    float lr = c->lr * lr_scale;
    if (afm_isa_best() >= AFM_ISA_AVX2) { afm_afm_pass2_avx2(w, g, m, v, n, c->beta1, inv_bc2, clip, s, lr, wd); return; }
    for (size_t i = 0; i < n; i++) {
        float u = g[i] / sqrtf(v[i] * inv_bc2) * clip;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * u;
        w[i] = w[i] - s * (lr * m[i] + wd * w[i]);
    }
}

static bool sharded(const afm_optim *o) { return o->dist && o->dist->size > 1; }

/* One pass of a step over every tensor's part in [lo, hi), each thread taking its share of
 * every tensor (part_of): pass 0 the clip, 3 the update, AFM passes 1 and 2 per-thread maxima
 * and integer sums of each tensor (part, pacc: nth x nt). */
typedef struct step_job {
    afm_optim *o;
    afm_train_model *mdl;
    int pass, nt;
    float clip_k, s;
    double bc1, bc2;
    double *tss, *part;
    afm_int128 *tacc, *pacc;
} step_job;

static void step_worker(void *p, int ith, int nth) {
    step_job *j = p;
    afm_optim *o = j->o;
    const afm_optim_config *c = &o->cfg;
    afm_train_model *mdl = j->mdl;
    const size_t lo = o->lo, hi = o->hi;
    for (int ti = 0; ti < j->nt; ti++) {
        const afm_param_tensor *t = &mdl->tensors[ti];
        /* the part [a, b) of the tensor in this range, and this thread's share [a + pa, a + pb) */
        size_t a = t->offset > lo ? t->offset : lo, b = t->offset + t->numel < hi ? t->offset + t->numel : hi;
        if (a >= b) continue;
        size_t pa, pb;
        part_of(b - a, ith, nth, &pa, &pb);
        if (pa >= pb) continue;
        a += pa;
        size_t n = pb - pa;
        float wd = (t->kind == AFM_PARAM_NORM && !c->decay_norms) ? 0.0f : c->weight_decay;
        float *w = mdl->params + a, *gt = mdl->grads + a, *m = o->m + (a - lo), *v = o->v + (a - lo);
        size_t slot = (size_t)ith * (size_t)j->nt + (size_t)ti;
        if (j->pass == 0)
            for (size_t i = 0; i < n; i++) gt[i] *= j->clip_k;
        else if (c->kind == AFM_OPTIM_ADAMW)
            adamw_range(c, w, gt, m, v, n, c->lr * j->s, wd, j->bc1, j->bc2, j->clip_k);
        else if (j->pass == 1)
            j->part[slot] = afm_second_moment(c, gt, v, n, j->bc2);
        else if (j->pass == 2) {
            if (isfinite(j->tss[ti]) && j->tss[ti] > 0.0) j->pacc[slot] = afm_fixed_u2(gt, v, n, j->bc2, sq_shift(j->tss[ti]));
        } else
            afm_update(c, w, gt, m, v, n, j->tss[ti], t->numel, j->s, t->kind == AFM_PARAM_LINEAR ? c->mup_scale : 1.0f, wd, j->bc2);
    }
}

afm_status afm_optim_step(afm_optim *o, afm_train_model *mdl, float s, afm_optim_result *res) {
    if (o->n != mdl->n_params)
        return afm_error(AFM_ERR_INVALID_ARG, "optimizer was made for %zu parameters, the model has %zu", o->n, mdl->n_params);
    const afm_optim_config *c = &o->cfg;
    const size_t lo = o->lo, hi = o->hi;
    float *g = mdl->grads;
    double ss = 0.0;
    AFM_TRY(global_sum_squares(mdl->pool, sharded(o) ? o->dist : NULL, g + lo, hi - lo, &ss));
    double gn = sqrt(ss);
    afm_optim_result r = {gn, false};
    if (!isfinite(gn) || (c->kind == AFM_OPTIM_AFM && c->skip_norm > 0.0f && gn >= c->skip_norm)) {
        r.skipped = true;
        if (res) *res = r;
        return AFM_OK;
    }
    float clip_k = 1.0f;
    if (c->clip_norm > 0.0f) {
        double den = gn + (c->kind == AFM_OPTIM_AFM ? 1e-8 : 1e-6);
        if (c->clip_norm / den < 1.0) clip_k = (float)(c->clip_norm / den);
    }
    o->t++;
    const int nt = mdl->n_tensors, nth = pool_threads(mdl->pool);
    step_job *j = calloc(1, sizeof *j);
    if (j) {
        j->part = calloc((size_t)nth * (size_t)nt, sizeof(double));
        j->pacc = calloc((size_t)nth * (size_t)nt, sizeof(afm_int128));
    }
    if (!j || !j->part || !j->pacc) {
        if (j) { free(j->part); free(j->pacc); }
        free(j);
        o->t--;
        return afm_error(AFM_ERR_NOMEM, "out of memory");
    }
    j->o = o;
    j->mdl = mdl;
    j->clip_k = clip_k;
    j->s = s;
    j->nt = nt;
    j->bc1 = 1.0 - pow((double)c->beta1, (double)o->t);
    j->bc2 = 1.0 - pow((double)c->beta2, (double)o->t);
    j->tss = c->kind == AFM_OPTIM_AFM ? calloc((size_t)nt + 1, sizeof(double)) : NULL;
    j->tacc = c->kind == AFM_OPTIM_AFM ? calloc((size_t)nt + 1, sizeof(afm_int128)) : NULL;
    afm_status st = AFM_OK;
    if (c->kind == AFM_OPTIM_AFM && (!j->tss || !j->tacc)) st = afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_pool *pool = nth > 1 ? mdl->pool : NULL;
    /* AdamW: the clip (g scaled in place) and the update in one pass; AFM: the clip, then per tensor, max |u| (pass 1),
     * then the reproducible Σ u² (pass 2, as integers), both combined over ranks when sharded,
     * then the update (pass 3) */
    if (st == AFM_OK && clip_k != 1.0f && c->kind == AFM_OPTIM_AFM) { j->pass = 0; run_on(pool, step_worker, j); }
    for (int pass = c->kind == AFM_OPTIM_AFM ? 1 : 3; pass <= 3 && st == AFM_OK; pass++) {
        if (pass == 2) { /* tss: max |u| of each tensor over this process's threads, then ranks */
            for (int ti = 0; ti < nt; ti++) {
                double col[OPT_MAX_THREADS];
                for (int t = 0; t < nth; t++) col[t] = j->part[(size_t)t * nt + ti];
                j->tss[ti] = combine_max(col, nth);
            }
            if (sharded(o)) {
                for (int ti = 0; ti < nt; ti++) if (isnan(j->tss[ti])) j->tss[ti] = INFINITY;
                st = afm_dist_max_doubles(o->dist, j->tss, nt);
            }
        }
        if (pass == 3 && j->tacc) { /* Σ u² of each tensor: threads, then ranks */
            for (int ti = 0; ti < nt; ti++) {
                afm_int128 acc = 0;
                for (int t = 0; t < nth; t++) acc += j->pacc[(size_t)t * nt + ti];
                j->tacc[ti] = acc;
            }
            if (sharded(o) && st == AFM_OK) st = afm_dist_sum_int128(o->dist, j->tacc, nt);
            if (st == AFM_OK) /* tss: Σ u² over the whole tensor */
                for (int ti = 0; ti < nt; ti++)
                    j->tss[ti] = !isfinite(j->tss[ti]) || j->tss[ti] == 0.0 ? j->tss[ti] * j->tss[ti]
                                                                          : ldexp((double)j->tacc[ti], -sq_shift(j->tss[ti]));
        }
        if (st != AFM_OK) break;
        j->pass = pass;
        run_on(pool, step_worker, j);
    }
    free(j->tss);
    free(j->tacc);
    free(j->part);
    free(j->pacc);
    free(j);
    if (st != AFM_OK) return st;
    if (res) *res = r;
    return AFM_OK;
}

double afm_schedule_at(const afm_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    if (s->warmup > 0 && step < s->warmup) return (double)step / (double)s->warmup;
    if (s->kind == AFM_SCHED_CONSTANT) return 1.0;
    int64_t span = s->total - s->warmup;
    if (span <= 0 || step >= s->total) return s->floor;
    double p = (double)(step - s->warmup) / (double)span;
    if (s->kind == AFM_SCHED_COSINE) return s->floor + (1.0 - s->floor) * 0.5 * (1.0 + cos(M_PI * p));
    return 1.0 - (1.0 - s->floor) * p;
}

afm_status afm_schedule_parse(const char *name, afm_sched_kind *out) {
    if (!strcmp(name, "constant")) *out = AFM_SCHED_CONSTANT;
    else if (!strcmp(name, "cosine")) *out = AFM_SCHED_COSINE;
    else if (!strcmp(name, "linear")) *out = AFM_SCHED_LINEAR;
    else return afm_error(AFM_ERR_INVALID_ARG, "unknown LR schedule '%s' (expected constant, cosine or linear)", name);
    return AFM_OK;
}
