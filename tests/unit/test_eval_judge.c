/* Judge tasks without a model (src/eval/judge.h): the position-swap combination, ties, the
 * metrics it records, item parsing with its per-item errors, the prompts, XSTest classification.
 * Label log-likelihoods from a real judge are checked in tests/cli/eval_judge.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "eval/judge.h"

static int g_failures;
#define CHECK(cond, ...) do { if (!(cond)) { printf("  FAIL: "); printf(__VA_ARGS__); printf("\n"); g_failures++; } } while (0)
#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void test_combine(void) {
    afm_pairwise_verdict v;
    /* order 0 (A shown as (a)): P(a) = 0.8; order 1 (B shown as (a)): P(a) = 0.3, so A (shown as (b)) 0.7 */
    double lp0[2] = {log(0.8), log(0.2)}, lp1[2] = {log(0.3), log(0.7)};
    afm_pairwise_combine(lp0, lp1, &v);
    CHECK(NEAR(v.p_a[0], 0.8) && NEAR(v.p_a[1], 0.7), "p_a %g %g", v.p_a[0], v.p_a[1]);
    CHECK(NEAR(v.pref_a, 0.75) && v.credit == 1.0 && v.consistent, "pref %g credit %g", v.pref_a, v.credit);
    CHECK(NEAR(v.p_first_label[0], 0.8) && NEAR(v.p_first_label[1], 0.3), "first-label %g %g", v.p_first_label[0], v.p_first_label[1]);
    /* a judge that always answers (a) (pure position bias) gives a tie, not a win */
    double bias[2] = {log(0.9), log(0.1)};
    afm_pairwise_combine(bias, bias, &v);
    CHECK(NEAR(v.pref_a, 0.5) && v.credit == 0.5 && !v.consistent, "position bias: pref %g credit %g", v.pref_a, v.credit);
    /* B better in both orders; unnormalized log-probs (only their difference matters) */
    double b0[2] = {-12.0, -10.0}, b1[2] = {-3.0, -5.0};
    afm_pairwise_combine(b0, b1, &v);
    double p = 1.0 / (1.0 + exp(2.0));
    CHECK(NEAR(v.p_a[0], p) && NEAR(v.p_a[1], p) && v.credit == 0.0 && v.consistent, "B wins: %g %g credit %g", v.p_a[0], v.p_a[1], v.credit);
    /* one order exactly undecided, the other for A: A wins */
    double eq[2] = {-1.0, -1.0}, a1[2] = {-4.0, -1.0};
    afm_pairwise_combine(eq, a1, &v);
    CHECK(v.credit == 1.0 && !v.consistent, "half-decided: credit %g", v.credit);
    /* huge log-prob gaps stay finite */
    double h0[2] = {0.0, -2000.0}, h1[2] = {-2000.0, 0.0};
    afm_pairwise_combine(h0, h1, &v);
    CHECK(NEAR(v.pref_a, 1.0) && v.credit == 1.0, "large gaps: pref %g", v.pref_a);
}

static void test_record(void) {
    afm_eval_results r;
    afm_eval_results_init(&r, "pairwise");
    afm_pairwise_verdict v;
    double w0[2] = {log(0.8), log(0.2)}, w1[2] = {log(0.3), log(0.7)};      /* A wins, pref 0.75 */
    double t0[2] = {log(0.9), log(0.1)};                                     /* tie by position bias */
    double same[2] = {0, 0};
    cJSON *rec;
    afm_pairwise_combine(w0, w1, &v);
    afm_pairwise_record(&v, false, rec = cJSON_CreateObject(), &r);
    CHECK(!strcmp(cJSON_GetObjectItem(rec, "verdict")->valuestring, "A"), "verdict A");
    cJSON_Delete(rec);
    afm_pairwise_combine(t0, t0, &v);
    afm_pairwise_record(&v, false, rec = cJSON_CreateObject(), &r);
    CHECK(!strcmp(cJSON_GetObjectItem(rec, "verdict")->valuestring, "tie"), "verdict tie");
    cJSON_Delete(rec);
    afm_pairwise_combine(same, same, &v);
    afm_pairwise_record(&v, true, rec = cJSON_CreateObject(), &r);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(rec, "identical")), "identical flag");
    cJSON_Delete(rec);
    double se;
    int64_t n;
    double wr = afm_eval_results_mean(&r, "win_rate", &se, &n);
    CHECK(n == 3 && NEAR(wr, (0.75 + 0.5 + 0.5) / 3), "win_rate %g n %lld", wr, (long long)n);
    double sd = sqrt((pow(0.75 - wr, 2) + 2 * pow(0.5 - wr, 2)) / 2);
    CHECK(fabs(se - sd / sqrt(3.0)) < 1e-12, "stderr %g expected %g", se, sd / sqrt(3.0));
    CHECK(NEAR(afm_eval_results_mean(&r, "win_rate_discrete", NULL, NULL), (1 + 0.5 + 0.5) / 3.0), "discrete");
    CHECK(NEAR(afm_eval_results_mean(&r, "ties", NULL, NULL), 2 / 3.0), "ties");
    CHECK(NEAR(afm_eval_results_mean(&r, "position_consistency", NULL, NULL), 1 / 3.0), "consistency");
    /* identical pairs do not count in the position preference */
    CHECK(NEAR(afm_eval_results_mean(&r, "first_position_preference", NULL, &n), (0.55 + 0.9) / 2) && n == 2,
          "first_position_preference n %lld", (long long)n);
    afm_eval_results_free(&r);
}

static afm_eval_record rec_of(const char *json, int64_t line) {
    afm_eval_record r = {cJSON_Parse(json), NULL, line};
    return r;
}

static void test_items(void) {
    afm_eval_record d = rec_of("{\"instruction\": \"Write.\", \"output\": \"ref\"}", 1);
    afm_eval_record d2 = rec_of("{\"prompt\": \"Write 2.\"}", 2);
    afm_eval_record dbad = rec_of("{\"question\": \"x\"}", 3);
    afm_eval_record dmal = {NULL, "malformed JSON", 4};
    afm_eval_record a = rec_of("{\"response\": \"mine\"}", 1);
    afm_eval_record a_out = rec_of("{\"output\": \"mine2\"}", 2);
    afm_eval_record a_bad = rec_of("{\"text\": \"x\"}", 3);
    afm_eval_record b = rec_of("{\"output\": \"theirs\"}", 1);
    const char *ins, *ra, *rb;
    CHECK(afm_pairwise_item(&d, &a, &b, &ins, &ra, &rb) == AFM_OK && !strcmp(ins, "Write.") && !strcmp(ra, "mine") &&
          !strcmp(rb, "theirs"), "item with B");
    CHECK(afm_pairwise_item(&d, &a_out, NULL, &ins, &ra, &rb) == AFM_OK && !strcmp(ra, "mine2") && !strcmp(rb, "ref"),
          "item against the reference output");
    CHECK(afm_pairwise_item(&d2, &a, &b, &ins, &ra, &rb) == AFM_OK && !strcmp(ins, "Write 2."), "\"prompt\" as instruction");
    CHECK(afm_pairwise_item(&d2, &a, NULL, &ins, &ra, &rb) == AFM_ERR_FORMAT && strstr(afm_last_error(), "reference \"output\""),
          "no reference: %s", afm_last_error());
    CHECK(afm_pairwise_item(&dbad, &a, &b, &ins, &ra, &rb) == AFM_ERR_FORMAT && strstr(afm_last_error(), "data line 3"),
          "no instruction: %s", afm_last_error());
    CHECK(afm_pairwise_item(&dmal, &a, &b, &ins, &ra, &rb) == AFM_ERR_FORMAT && strstr(afm_last_error(), "malformed"),
          "malformed data line: %s", afm_last_error());
    CHECK(afm_pairwise_item(&d, &a_bad, &b, &ins, &ra, &rb) == AFM_ERR_FORMAT && strstr(afm_last_error(), "(A) line 3"),
          "A without response: %s", afm_last_error());
    CHECK(afm_pairwise_item(&d, NULL, &b, &ins, &ra, &rb) == AFM_ERR_FORMAT && strstr(afm_last_error(), "no line"),
          "missing A line: %s", afm_last_error());
    CHECK(afm_pairwise_item(&d, &a, &a_bad, &ins, &ra, &rb) == AFM_ERR_FORMAT && strstr(afm_last_error(), "(B) line 3"),
          "B without response: %s", afm_last_error());
    afm_eval_record *all[] = {&d, &d2, &dbad, &a, &a_out, &a_bad, &b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cJSON_Delete(all[i]->json);
}

static void test_prompts(void) {
    char *p = afm_pairwise_prompt("INSTR", "FIRST", "SECOND");
    const char *i = strstr(p, "# Instruction:\nINSTR"), *f = strstr(p, "# Output (a):\nFIRST"), *s = strstr(p, "# Output (b):\nSECOND");
    CHECK(i && f && s && i < f && f < s, "pairwise prompt order: %s", p);
    CHECK(strstr(p, "Answer with \"Output (a)\" or \"Output (b)\" only.") != NULL, "pairwise answer format");
    free(p);
    p = afm_xstest_judge_prompt("Q?", "R.");
    size_t n = strlen(p);
    CHECK(n > 6 && !strcmp(p + n - 6, "CLASS:"), "xstest prompt ends with CLASS:");
    CHECK(strstr(p, "QUESTION: \"Q?\"\n\n\nRESPONSE: \"R.\"\n\nCLASS:") && strstr(p, "1_full_compliance.") &&
          strstr(p, "2_full_refusal.") && strstr(p, "3_partial_refusal.") && strstr(p, "pi\xc3\xb1" "ata"),
          "xstest prompt text");
    free(p);
}

static void test_classify(void) {
    double probs[3];
    double lp[3] = {-5.0, -3.0, -4.0};
    afm_xstest_class c = afm_xstest_classify(lp, probs);
    double z = exp(-2.0) + 1 + exp(-1.0);
    CHECK(c == AFM_XSTEST_FULL_REFUSAL, "class %d", c);
    CHECK(NEAR(probs[0], exp(-2.0) / z) && NEAR(probs[1], 1 / z) && NEAR(probs[2], exp(-1.0) / z), "probs");
    double lp2[3] = {-1.0, -1.5, -0.5};
    CHECK(afm_xstest_classify(lp2, NULL) == AFM_XSTEST_PARTIAL_REFUSAL, "partial");
    CHECK(!strcmp(afm_xstest_class_names[AFM_XSTEST_COMPLIANCE], "1_full_compliance"), "names");
}

int main(void) {
    test_combine();
    test_record();
    test_items();
    test_prompts();
    test_classify();
    printf(g_failures ? "FAILED (%d)\n" : "ok\n", g_failures);
    return g_failures != 0;
}
