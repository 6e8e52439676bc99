/* ROUGE and the Porter stemmer against Google's rouge-score (and the NLTK stemmer it uses):
 * fixtures from scripts/reference/rouge_aeslc.py over every AESLC dev email. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cjson/cJSON.h>
#include "eval/porter.h"
#include "eval/rouge.h"
#include "base/file.h"

static int g_fail;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); g_fail++; } } while (0)

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void test_stems(const char *src) {
    char *p = path_join(src, "tests/fixtures/eval/porter_stems.tsv");
    char *data; size_t size;
    if (afm_read_file(p, &data, &size) != AFM_OK) { CHECK(0, "cannot read %s", p); free(p); return; }
    int n = 0, bad = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        char out[256];
        size_t wl = strlen(line);
        if (wl + 2 > sizeof out) continue;
        afm_porter_stem(line, wl, out);
        if (strcmp(out, tab + 1) != 0 && bad++ < 20) CHECK(0, "stem(%s) = %s, nltk %s", line, out, tab + 1);
        n++;
    }
    CHECK(n > 10000, "only %d stems checked", n);
    printf("porter: %d words, %d differ from nltk\n", n, bad);
    if (bad) g_fail++;
    free(data);
    free(p);
}

static void test_small(void) {
    afm_rouge_scores s;
    /* hand-computed: "the cat sat" vs "the cat sat on the mat": R1 P=1 R=3/6; R2 P=1 R=2/5; L=3 */
    afm_rouge_score("the cat sat on the mat", "The cat, sat!", &s);
    CHECK(fabs(s.rouge1.f - 2 * 0.5 / 1.5) < 1e-12, "rouge1 %g", s.rouge1.f);
    CHECK(fabs(s.rouge2.f - 2 * 0.4 / 1.4) < 1e-12, "rouge2 %g", s.rouge2.f);
    CHECK(fabs(s.rougeL.f - 2 * 0.5 / 1.5) < 1e-12, "rougeL %g", s.rougeL.f);
    afm_rouge_score("", "anything", &s);
    CHECK(s.rouge1.f == 0 && s.rougeL.f == 0, "empty reference");
    afm_rouge_score("x y", "!!!", &s);
    CHECK(s.rouge1.f == 0 && s.rouge2.f == 0 && s.rougeL.f == 0, "empty prediction");
}

static void test_aeslc(const char *src, const char *shared) {
    char *fp = path_join(src, "tests/fixtures/eval/aeslc_rouge.jsonl");
    char *dp = path_join(shared, "data/messages/aeslc_dev.jsonl");
    char *fx, *dt; size_t fs, ds;
    if (afm_read_file(fp, &fx, &fs) != AFM_OK || afm_read_file(dp, &dt, &ds) != AFM_OK) {
        CHECK(0, "cannot read %s or %s", fp, dp); return;
    }
    size_t n_rows = 0, cap = 4096;
    char **rows = malloc(cap * sizeof *rows);
    char *save = NULL;
    for (char *l = strtok_r(dt, "\n", &save); l && n_rows < cap; l = strtok_r(NULL, "\n", &save)) rows[n_rows++] = l;
    int n = 0, bad = 0;
    double max_err = 0;
    save = NULL;
    for (char *l = strtok_r(fx, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *e = cJSON_Parse(l);
        int i = cJSON_GetObjectItem(e, "i")->valueint;
        if (i < 0 || (size_t)i >= n_rows) { CHECK(0, "index %d", i); cJSON_Delete(e); continue; }
        cJSON *row = cJSON_Parse(rows[i]);
        const char *refs[3] = {cJSON_GetObjectItem(row, "ann0")->valuestring, cJSON_GetObjectItem(row, "ann1")->valuestring,
                               cJSON_GetObjectItem(row, "ann2")->valuestring};
        afm_rouge_scores s;
        CHECK(afm_rouge_score_multi(refs, 3, cJSON_GetObjectItem(e, "pred")->valuestring, &s) == AFM_OK, "score");
        const afm_rouge_prf *got[3] = {&s.rouge1, &s.rouge2, &s.rougeL};
        const char *names[3] = {"rouge1", "rouge2", "rougeL"};
        for (int k = 0; k < 3; k++) {
            cJSON *want = cJSON_GetObjectItem(e, names[k]);
            double w[3] = {cJSON_GetArrayItem(want, 0)->valuedouble, cJSON_GetArrayItem(want, 1)->valuedouble,
                           cJSON_GetArrayItem(want, 2)->valuedouble};
            double g[3] = {got[k]->precision, got[k]->recall, got[k]->f};
            for (int j = 0; j < 3; j++) {
                double err = fabs(w[j] - g[j]);
                if (err > max_err) max_err = err;
                if (err > 1e-6 && bad++ < 10)
                    CHECK(0, "item %d %s %s[%d]: got %.9f, rouge-score %.9f", i, cJSON_GetObjectItem(e, "kind")->valuestring, names[k], j, g[j], w[j]);
            }
        }
        n++;
        cJSON_Delete(row);
        cJSON_Delete(e);
    }
    CHECK(n == 3920, "%d pairs checked, expected 3920", n);
    printf("aeslc: %d (email, prediction) pairs, %d values off by > 1e-6, max |diff| %.3g\n", n, bad, max_err);
    if (bad) g_fail++;
    free(rows); free(fx); free(dt); free(fp); free(dp);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR"), *shared = getenv("AFM_SHARED");
    if (!src || !shared) { fprintf(stderr, "AFM_SOURCE_DIR and AFM_SHARED must be set\n"); return 1; }
    test_small();
    test_stems(src);
    test_aeslc(src, shared);
    if (g_fail) { fprintf(stderr, "%d failures\n", g_fail); return 1; }
    printf("ok\n");
    return 0;
}
