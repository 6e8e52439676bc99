/* Samplers: greedy is argmax; with temperature the empirical distribution over 40000 draws
 * matches softmax(logits / T) restricted and renormalized by top-k, top-p and min-p as their
 * definitions say (each frequency within 5 standard errors); the repetition penalty divides
 * positive and multiplies negative logits of recent tokens once; the same seed repeats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/sampler.h"

enum { V = 8, DRAWS = 40000 };
static const float LOGITS[V] = {2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 3.0f};
static int failures;

/* Expected distribution by the definitions, computed here in double. */
static void expected(const afm_sampler_params *p, double *q) {
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (LOGITS[order[j]] > LOGITS[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    int keep = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    double pr[V], sum = 0;
    for (int i = 0; i < keep; i++) sum += pr[i] = exp((LOGITS[order[i]] - LOGITS[order[0]]) / p->temperature);
    for (int i = 0; i < keep; i++) pr[i] /= sum;
    if (p->top_p < 1) {
        double cum = 0;
        for (int i = 0; i < keep; i++) { cum += pr[i]; if (cum >= p->top_p) { keep = i + 1; break; } }
    }
    if (p->min_p > 0) {
        int k = 1;
        while (k < keep && pr[k] >= p->min_p * pr[0]) k++;
        keep = k;
    }
    memset(q, 0, sizeof(double) * V);
    sum = 0;
    for (int i = 0; i < keep; i++) sum += pr[i];
    for (int i = 0; i < keep; i++) q[order[i]] = pr[i] / sum;
}

static void check_distribution(const char *name, afm_sampler_params p) {
    afm_sampler *s;
    if (afm_sampler_create(&p, V, &s) != AFM_OK) { printf("FAIL %s: create\n", name); failures++; return; }
    double q[V];
    int count[V] = {0};
    expected(&p, q);
    for (int d = 0; d < DRAWS; d++) {
        float lg[V];
        memcpy(lg, LOGITS, sizeof lg);
        int t = afm_sampler_sample(s, lg, NULL, 0);
        if (t < 0 || t >= V) { printf("FAIL %s: token %d out of range\n", name, t); failures++; break; }
        count[t]++;
    }
    double worst = 0;
    for (int i = 0; i < V; i++) {
        double f = (double)count[i] / DRAWS, se = sqrt(fmax(q[i] * (1 - q[i]), 1e-12) / DRAWS);
        if (q[i] == 0 && count[i] > 0) { printf("FAIL %s: token %d drawn %d times but excluded\n", name, i, count[i]); failures++; }
        worst = fmax(worst, fabs(f - q[i]) / se);
    }
    printf("%-28s worst deviation %.2f standard errors\n", name, worst);
    if (worst > 5) { printf("FAIL %s\n", name); failures++; }
    afm_sampler_free(s);
}

int main(void) {
    afm_sampler_params p = afm_sampler_defaults();
    /* greedy */
    p.temperature = 0;
    afm_sampler *s;
    afm_sampler_create(&p, V, &s);
    float lg[V];
    memcpy(lg, LOGITS, sizeof lg);
    if (afm_sampler_sample(s, lg, NULL, 0) != 7) { printf("FAIL greedy\n"); failures++; }
    /* repetition penalty: token 7 (logit 3) / 4 = 0.75 < token 0 (2.0): argmax moves to 0;
     * a negative logit is multiplied, and a token repeated in the window is penalized once */
    afm_sampler_free(s);
    p.repeat_penalty = 4.0f;
    p.repeat_last_n = 3;
    afm_sampler_create(&p, V, &s);
    memcpy(lg, LOGITS, sizeof lg);
    int32_t hist[] = {6, 1, 7, 7};
    if (afm_sampler_sample(s, lg, hist, 4) != 0 || lg[7] != 0.75f || lg[6] != -1.0f || lg[1] != 1.5f / 4) {
        printf("FAIL repetition penalty: got logits %g %g %g\n", lg[7], lg[6], lg[1]);
        failures++;
    }
    afm_sampler_free(s);
    /* distributions */
    afm_sampler_params base = afm_sampler_defaults();
    base.top_k = 0; base.top_p = 1; base.min_p = 0; base.temperature = 1; base.seed = 1;
    check_distribution("temperature 1", base);
    p = base; p.temperature = 0.5f; check_distribution("temperature 0.5", p);
    p = base; p.temperature = 2.0f; check_distribution("temperature 2", p);
    p = base; p.top_k = 3; check_distribution("top-k 3", p);
    p = base; p.top_p = 0.8f; check_distribution("top-p 0.8", p);
    p = base; p.min_p = 0.2f; check_distribution("min-p 0.2", p);
    p = base; p.top_k = 5; p.top_p = 0.9f; p.min_p = 0.05f; p.temperature = 0.8f; check_distribution("top-k+top-p+min-p", p);
    /* determinism: same seed, same draws; another seed, different draws */
    int a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        p = base;
        p.seed = run == 2 ? 99 : 7;
        afm_sampler_create(&p, V, &s);
        for (int i = 0; i < 64; i++) {
            memcpy(lg, LOGITS, sizeof lg);
            (run == 0 ? a : run == 1 ? b : c)[i] = afm_sampler_sample(s, lg, NULL, 0);
        }
        afm_sampler_free(s);
    }
    if (memcmp(a, b, sizeof a) || !memcmp(a, c, sizeof a)) { printf("FAIL seeding\n"); failures++; }
    /* bad parameters are refused */
    p = base; p.repeat_penalty = 0;
    if (afm_sampler_create(&p, V, &s) == AFM_OK) { printf("FAIL: zero repeat penalty accepted\n"); failures++; afm_sampler_free(s); }
    p = base; p.top_p = NAN;
    if (afm_sampler_create(&p, V, &s) == AFM_OK) { printf("FAIL: NaN top-p accepted\n"); failures++; afm_sampler_free(s); }
    if (failures) { printf("%d failures\n", failures); return 1; }
    printf("samplers ok\n");
    return 0;
}
