/* Golden test on a real trained model nobody here trained: stories260K (llama2.c).
 * Converts the llama2.c checkpoint to GGUF with afm_convert, then checks the logits of the
 * prompt "Once upon a time" (ids 1 403 407 261 378 ...) against the reference values llama2.c's
 * fp32 forward pass gives (../shared/models/stories260K/README.md), both token by token and as
 * one batch, to 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/afm.h"
#include "model/convert.h"
#include "tensor/dtype.h"

typedef struct { int pos, input, argmax; double max_logit, sum, sumsq, l[4]; } ref_row;
static const ref_row REF[] = {
    {0, 1, 403, 17.023516, -1070.171674, 16412.036437, {-6.222911, 8.404342, -6.223737, -6.222542}},
    {1, 403, 407, 18.459986, -2162.157880, 28801.040746, {-9.589458, 3.841276, -9.590532, -9.589193}},
    {2, 407, 261, 17.136963, -2808.686215, 42953.382660, {-12.141099, 1.776247, -12.142951, -12.141023}},
    {3, 261, 378, 18.874399, -1423.074526, 15356.933697, {-6.714241, -6.053024, -6.715025, -6.714480}},
    {4, 378, 432, 17.799398, -2256.851513, 32225.346069, {-10.136575, -5.329466, -10.138081, -10.136852}},
    {5, 432, 383, 18.605124, -1422.568042, 19315.034137, {-6.345011, 0.677196, -6.346439, -6.344969}},
};
enum { NREF = sizeof REF / sizeof REF[0] };

static int failures;
static void check(const char *what, int pos, double got, double want, double tol) {
    double err = fabs(got - want) / fmax(1.0, fabs(want));
    if (!(err <= tol)) {
        printf("FAIL pos %d %s: got %.6f want %.6f (rel err %.2e > %.0e)\n", pos, what, got, want, err, tol);
        failures++;
    }
}

static void check_row(const float *lg, int n_vocab, const ref_row *r) {
    int am = 0;
    double sum = 0, sq = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (lg[i] > lg[am]) am = i;
        sum += lg[i];
        sq += (double)lg[i] * lg[i];
    }
    if (am != r->argmax) { printf("FAIL pos %d: argmax %d, want %d\n", r->pos, am, r->argmax); failures++; }
    check("max logit", r->pos, lg[r->argmax], r->max_logit, 1e-4);
    check("sum", r->pos, sum, r->sum, 1e-4);
    check("sum of squares", r->pos, sq, r->sumsq, 1e-4);
    for (int i = 0; i < 4; i++) check("logit[i]", r->pos, lg[i], r->l[i], 1e-4);
}

int main(void) {
    const char *shared = getenv("AFM_SHARED");
    if (!shared) { printf("AFM_SHARED is not set\n"); return 1; }
    char bin[1024], tok[1024];
    snprintf(bin, sizeof bin, "%s/models/stories260K/stories260K.bin", shared);
    snprintf(tok, sizeof tok, "%s/models/stories260K/tok512.bin", shared);
    const char *out = "stories260K-test.gguf";
    afm_convert_options o = {tok, -1};
    if (afm_convert(bin, out, &o, NULL) != AFM_OK) { printf("convert failed: %s\n", afm_last_error()); return 1; }
    afm_model *m;
    if (afm_model_load(out, &m) != AFM_OK) { printf("load failed: %s\n", afm_last_error()); return 1; }
    const afm_config *c = afm_model_config(m);
    if (c->dim != 64 || c->n_layers != 5 || c->n_heads != 8 || c->n_kv_heads != 4 || c->n_vocab != 512 || c->ffn_dim != 172 || !c->tied_output) {
        printf("FAIL: unexpected config\n");
        return 1;
    }
    afm_session_options so = {.n_ctx = 64, .n_threads = 1};
    afm_session *s;
    if (afm_session_create(m, &so, &s) != AFM_OK) { printf("session: %s\n", afm_last_error()); return 1; }
    float *lg = malloc(sizeof(float) * 512 * NREF);
    /* token by token */
    for (int p = 0; p < NREF; p++) {
        int32_t t = REF[p].input;
        if (afm_session_eval(s, &t, 1, false, lg) != AFM_OK) { printf("eval: %s\n", afm_last_error()); return 1; }
        check_row(lg, 512, &REF[p]);
    }
    /* one batch, all logits */
    int32_t toks[NREF];
    for (int p = 0; p < NREF; p++) toks[p] = REF[p].input;
    afm_session_rewind(s, 0);
    if (afm_session_eval(s, toks, NREF, true, lg) != AFM_OK) { printf("eval: %s\n", afm_last_error()); return 1; }
    for (int p = 0; p < NREF; p++) check_row(lg + 512 * p, 512, &REF[p]);
    /* prompt past the context: clear error, cache unchanged */
    int32_t many[80] = {0};
    afm_session_rewind(s, 0);
    if (afm_session_eval(s, many, 80, false, lg) != AFM_ERR_RANGE || afm_session_n_past(s) != 0) {
        printf("FAIL: an 80-token batch in a 64-token context must fail with a range error\n");
        failures++;
    } else printf("context overflow refused: %s\n", afm_last_error());
    free(lg);
    afm_session_free(s);
    afm_model_free(m);
    remove(out);
    if (failures) { printf("%d failures\n", failures); return 1; }
    printf("stories260K logits match llama2.c for positions 0..%d (token by token and batched)\n", NREF - 1);
    return 0;
}
