/* Grouped decode attention (kernels/attn.h, afm_attn_decode / _f16): the G query rows of one KV
 * head computed together must give, bit for bit (memcmp), what the per-head code computed before
 * it: for each row alone, scores of one query against the keys (afm_attn_scores, 1 row), softmax
 * of the keys lo..n-1 (afm_softmax) with the weights of keys 0..lo-1 set to 0, then the weighted
 * sum of the values (afm_attn_mix, 1 row); with an f16 cache the query and the weights rounded to
 * f16 first (afm_vec_round_f16). That is what makes decode logits independent of the grouping.
 * Cases: G = 1..8 rows, head_dim 64, 128, 256 (and 72: a 16-wide + 8-wide dimension tail), key
 * counts 1..607 (partial last key blocks, the 4-block score tiles, the 64-key chunks), lo = 0
 * and a sliding window's first key inside the first block (lo 1, 7), f32 and f16 caches, the
 * outputs written over the queries (the forward pass's att = q) and to a separate buffer.
 * The unused lanes of the partial last key block hold NaN (read, never used). Each output is
 * also checked against a double-precision softmax-attention written here from the definition
 * for G = 3 and 8, n < 70 and n >= 599 (tolerance 1e-5 of the sum of |terms| plus 1e-6: the f32 exp and sums; 2e-3
 * with the f16 cache, whose weights are rounded to f16), on the f16-rounded queries and cache.
 * The test runs twice: with the dispatched (AVX2 on this machine) kernels, then re-executes
 * itself with AFM_FORCE_ISA=scalar for the scalar references (fewer key counts: they are slow). */
#include "kernels/attn.h"
#include "kernels/nn.h"
#include "kernels/vec.h"
#include "base/cpu.h"
#include "tensor/dtype.h"
#include "test_check.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the per-head decode of one query row before grouping (session.c's attn_worker at 7d36393) */
static void per_head(float *q, const void *K, const void *V, int f16, int64_t n, int64_t lo, int64_t hd, float scale,
                     float *sc, float *o) {
    if (f16) {
        afm_vec_round_f16(q, hd);
        afm_attn_scores_f16(q, hd, 1, K, n, hd, scale, sc, n);
    } else {
        afm_attn_scores(q, hd, 1, K, n, hd, scale, sc, n);
    }
    afm_softmax(sc + lo, n - lo);
    if (lo > 0) memset(sc, 0, (size_t)lo * sizeof(float));
    if (f16) {
        afm_vec_round_f16(sc, n);
        afm_attn_mix_f16(sc, n, 1, V, n, hd, o, hd);
    } else {
        afm_attn_mix(sc, n, 1, V, n, hd, o, hd);
    }
}

static float as_f32(const void *base, size_t i, int f16) {
    return f16 ? afm_f16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

/* rows G, keys n (of which 0..lo-1 masked), head size hd; f16: the cache type */
static void check(int G, int64_t hd, int64_t n, int64_t lo, int f16) {
    int64_t nblk = (n + 7) / 8, lds = (n + 15) / 16 * 16;
    size_t es = f16 ? 2 : 4, nk = (size_t)(nblk * 8 * hd), nv = (size_t)(n * hd);
    void *K = malloc(nk * es), *V = malloc(nv * es);
    float *Q = malloc(sizeof(float) * (size_t)(G * hd)), *Qa = malloc(sizeof(float) * (size_t)(G * hd));
    float *Qb = malloc(sizeof(float) * (size_t)(G * hd)), *Qs = malloc(sizeof(float) * (size_t)(G * hd));
    float *S = malloc(sizeof(float) * (size_t)(G * lds)), *O = malloc(sizeof(float) * (size_t)(G * hd));
    float *S1 = malloc(sizeof(float) * (size_t)n), *O1 = malloc(sizeof(float) * (size_t)(G * hd));
    for (size_t i = 0; i < nk; i++) { /* K(j, d) at ((j / 8) hd + d) 8 + j % 8: lanes j >= n are NaN */
        int64_t j = (int64_t)(i / (size_t)(8 * hd)) * 8 + (int64_t)(i % 8);
        float x = j < n ? frand() : NAN;
        if (f16) ((uint16_t *)K)[i] = afm_f32_to_f16(x);
        else ((float *)K)[i] = x;
    }
    for (size_t i = 0; i < nv; i++) {
        float x = frand();
        if (f16) ((uint16_t *)V)[i] = afm_f32_to_f16(x);
        else ((float *)V)[i] = x;
    }
    for (int64_t i = 0; i < G * hd; i++) Q[i] = 2.0f * frand(); /* scores of a few units: a peaked softmax */
    const float scale = 1.0f / sqrtf((float)hd);
    memcpy(Qa, Q, sizeof(float) * (size_t)(G * hd));
    memcpy(Qb, Q, sizeof(float) * (size_t)(G * hd));
    memcpy(Qs, Q, sizeof(float) * (size_t)(G * hd));
    /* grouped, into O; and grouped with the outputs over the queries (Qb) */
    if (f16) {
        afm_attn_decode_f16(Qa, hd, G, K, V, n, lo, hd, scale, S, lds, O, hd);
        afm_attn_decode_f16(Qb, hd, G, K, V, n, lo, hd, scale, S, lds, Qb, hd);
    } else {
        afm_attn_decode(Qa, hd, G, K, V, n, lo, hd, scale, S, lds, O, hd);
        afm_attn_decode(Qb, hd, G, K, V, n, lo, hd, scale, S, lds, Qb, hd);
    }
    const char *what = f16 ? "f16" : "f32";
    for (int r = 0; r < G; r++) { /* the per-head code, row by row */
        per_head(Qs + r * hd, K, V, f16, n, lo, hd, scale, S1, O1 + r * hd);
        CHECK(!memcmp(S + r * lds, S1, sizeof(float) * (size_t)n), "%s G=%d hd=%lld n=%lld lo=%lld: row %d weights differ from per-head",
              what, G, (long long)hd, (long long)n, (long long)lo, r);
    }
    CHECK(!memcmp(O, O1, sizeof(float) * (size_t)(G * hd)), "%s G=%d hd=%lld n=%lld lo=%lld: outputs differ from per-head", what, G,
          (long long)hd, (long long)n, (long long)lo);
    CHECK(!memcmp(Qb, O1, sizeof(float) * (size_t)(G * hd)), "%s G=%d hd=%lld n=%lld lo=%lld: outputs over the queries differ", what,
          G, (long long)hd, (long long)n, (long long)lo);
    CHECK(!memcmp(Qa, Qs, sizeof(float) * (size_t)(G * hd)), "%s G=%d hd=%lld n=%lld lo=%lld: queries left differently", what, G,
          (long long)hd, (long long)n, (long long)lo);
    if ((G == 3 || G == 8) && (n < 70 || n > 598)) { /* the double reference on a subset: it is slow */
        double *p = malloc(sizeof(double) * (size_t)n);
        for (int r = 0; r < G; r++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = lo; j < n; j++) {
                double s = 0;
                for (int64_t d = 0; d < hd; d++) {
                    float qv = Q[r * hd + d];
                    if (f16) qv = afm_f16_to_f32(afm_f32_to_f16(qv));
                    s += (double)qv * as_f32(K, afm_attn_k_index(j, d, hd), f16);
                }
                p[j] = s * scale;
                if (p[j] > mx) mx = p[j];
            }
            for (int64_t j = lo; j < n; j++) sum += (p[j] = exp(p[j] - mx));
            for (int64_t d = 0; d < hd; d++) {
                double want = 0, mag = 0;
                for (int64_t j = lo; j < n; j++) {
                    double t = p[j] / sum * as_f32(V, (size_t)(j * hd + d), f16);
                    want += t;
                    mag += fabs(t);
                }
                double tol = (f16 ? 2e-3 : 1e-5) * mag + 1e-6; /* f16: the weights rounded to 11 bits */
                CHECK(fabs(O[r * hd + d] - want) <= tol, "%s G=%d hd=%lld n=%lld lo=%lld: O[%d,%lld] = %.9g, want %.9g", what, G,
                      (long long)hd, (long long)n, (long long)lo, r, (long long)d, O[r * hd + d], want);
            }
        }
        free(p);
    }
    free(K); free(V); free(Q); free(Qa); free(Qb); free(Qs); free(S); free(O); free(S1); free(O1);
}

int main(int argc, char **argv) {
    (void)argc;
    const int64_t hds[] = {64, 128, 256, 72};
    const int64_t ns[] = {1, 2, 7, 8, 9, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 200, 255, 257, 383, 513, 599, 607};
    const int64_t ns_scalar[] = {1, 7, 9, 64, 65, 200, 607}; /* the slow scalar pass: fewer key counts */
    const int64_t los[] = {0, 1, 7};
    const char *forced = getenv("AFM_FORCE_ISA");
    int cases = 0, scalar = afm_isa_best() == AFM_ISA_SCALAR;
    const int64_t *nk = scalar ? ns_scalar : ns;
    size_t nn = scalar ? sizeof ns_scalar / sizeof *ns_scalar : sizeof ns / sizeof *ns;
    for (int f16 = 0; f16 < 2; f16++)
        for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
            for (int G = 1; G <= 8; G++)
                for (size_t k = 0; k < nn; k++)
                    for (size_t l = 0; l < sizeof los / sizeof *los; l++)
                        if (los[l] < nk[k]) {
                            check(G, hds[h], nk[k], los[l], f16);
                            cases++;
                        }
    printf("%s: %d cases (isa %s), %d failures\n", failures ? "FAIL" : "ok", cases, afm_isa_name(afm_isa_best()), failures);
    if (failures) return 1;
    if (!forced && afm_isa_best() > AFM_ISA_SCALAR) { /* again with the scalar kernels */
        fflush(stdout);
        setenv("AFM_FORCE_ISA", "scalar", 1);
        execv("/proc/self/exe", argv);
        perror("execv /proc/self/exe");
        return 1;
    }
    return 0;
}
