/* SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI) against llama.cpp, by teacher forcing.
 *
 * Fixture (tests/fixtures/llamacpp/smollm2_teacher.{bin,json}, written by
 * scripts/reference/make_llamacpp_fixtures.py with llama-cpp-python): for each prompt, the token
 * ids llama.cpp used (its tokenization of the prompt + its 64-token greedy continuation) and, for
 * every position, llama.cpp's top-1/top-2 logits and its next-token distribution truncated to the
 * top K (1024) log-probabilities plus the remaining tail mass.
 *
 * afm evaluates the same ids (one batch prefill with all logits; and token by token for one
 * prompt) and must satisfy, at every position p:
 *   argmax afm logits[p] == llama.cpp's top-1 id, wherever llama.cpp's top-1 logit leads its
 *   top-2 by more than 0.5;
 * and over all positions:  mean KL(llama || afm) < KL_GUARD (issue 2 asks 1e-3; reported), where (q = afm's softmax)
 *   KL ~= sum_{i in topK} p_i (log p_i - log q_i) + p_tail (log p_tail - log q_tail),
 *   q_tail = 1 - sum_{i in topK} q_i — a lower bound of the full KL, tight for a tiny tail.
 * The log also shows afm's free-running greedy continuation beside llama.cpp's.
 *
 * afm runs with an f16 KV cache (the fixture's llama.cpp configuration) and rounds as ggml does
 * (q8 scales and offset sums in f16, RMSNorm, RoPE angles, f16 queries and attention weights):
 * `afm trace` + scripts/reference/compare_trace.py show layer 0 equal to llama.cpp up to float
 * summation order (attn_norm bit for bit, Q/K/V within 3e-7).
 * Why the mean-KL bar of 1e-3 is reported rather than enforced: both runtimes round every
 * activation to 8 bits before each quantized product (and K, V, q, P to f16), and a last-bit
 * difference from summation order flips some of those roundings, which then grow through the 30
 * layers; llama.cpp differs from itself by 2.2e-3 between its batch and one-token-at-a-time paths
 * (same rounding rules; smollm2_teacher.json) and by 2.1e-3 .. 5.7e-3 across its configurations
 * (flash attention on/off, f16/f32 KV cache) — smollm2_exact.json, written by
 * scripts/reference/make_exact_reference.py --llama. So the arithmetic itself is checked
 * separately (part 4): afm with activation quantization off (the same weights converted to F32)
 * against a float64 numpy forward of the dequantized weights (smollm2_exact.bin), where a real bug
 * shows up as a large KL and the bar is tight (EXACT_KL).
 *
 * Exit 77 (ctest: skipped) when the model file is absent (scripts/fetch_smollm2.sh fetches it). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "afm/afm.h"
#include "base/file.h"
#include "formats/gguf.h"
#include "model/convert.h"
#include "tensor/dtype.h"
#include "tokenizer/tokenizer.h"
#include "golden/teacher_fixture.h"

#define MARGIN 0.5f        /* llama.cpp top1 - top2 logit gap above which the argmax must agree */
#define KL_ISSUE 1e-3      /* issue 2's bar on the mean KL: reported (met / NOT MET), see below */
#define KL_GUARD 4.5e-3    /* the test fails above this mean KL. Measured (llama-cpp-python 0.3.36, its
                            * default f16 KV cache; afm with --kv-type f16 and ggml's rounding rules):
                            * 3.23e-3 (was 3.6e-3 before afm followed ggml's rounding: f16 q8 scales and
                            * offset sums, RMSNorm, RoPE angles, f16 K/V/q/P). llama.cpp differs from
                            * itself by 2.2e-3 between its batch and one-token-at-a-time paths (same
                            * rounding rules, other summation orders; smollm2_teacher.json), so the
                            * remaining gap is float summation order amplified by the 8-bit and f16
                            * roundings (BENCHMARKS.md, "afm vs llama.cpp numerics, op by op"). A wrong
                            * RoPE, norm or weight layout gives KL >> 0.1 and confident-argmax misses. */
#define EXACT_KL 1e-6     /* part 4: mean KL(float64 reference || afm on F32 weights) must be below this */
#define EXACT_MARGIN 0.01f /* part 4: reference top1 - top2 logit gap above which the argmax must agree */
#define N_THREADS 1        /* results do not depend on it (kernels/matmul.h); 1 avoids spin-waits on a busy machine */

static const teacher_format SMOLLM2_TEACHER = {.magic = "AFMLCTF1", .version = 2, .id_bytes = 2, .max_seqs = 1000};

static int g_failures;
#define CHECK(cond, ...) do { if (!(cond)) { g_failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Checks afm logits (n rows of n_vocab, for positions first..first+n-1) against llama.cpp. */
static void compare_rows(const char *label, const teacher_sequence *sq, uint32_t first, uint32_t n, const float *logits,
                         const teacher_fixture *fx, teacher_stats *st) {
    for (uint32_t r = 0; r < n; r++)
        g_failures += teacher_compare_row(label, fx, sq, first + r, logits + (size_t)r * fx->n_vocab, MARGIN, st);
}

static char *decode(const afm_tokenizer *tok, const int32_t *ids, size_t n) {
    char *text = NULL; size_t len = 0;
    if (!tok || afm_tokenizer_decode(tok, ids, n, false, &text, &len) != AFM_OK) return NULL;
    return text;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    printf("    %s ids:", label);
    for (size_t i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\n");
}

/* Part 4. Converts model_path to F32 in a temporary file, evaluates every fixture sequence of
 * smollm2_exact.bin as one batch and checks mean KL(exact || afm) < EXACT_KL and the argmax
 * wherever the exact top-1 leads top-2 by more than 0.01. Returns the mean KL (or INFINITY). The
 * llama.cpp noise floor recorded in smollm2_exact.json is printed for context. */
static double exact_check(const char *src, const char *fx_dir, const char *model_path, float *logits) {
    char path[4096], json_path[4096], f32_path[4096];
    snprintf(path, sizeof path, "%s/smollm2_exact.bin", fx_dir);
    snprintf(json_path, sizeof json_path, "%s/smollm2_exact.json", fx_dir);
    (void)src;
    teacher_fixture fx;
    if (teacher_fixture_load(path, &SMOLLM2_TEACHER, &fx) != 0) { CHECK(0, "exact fixture %s unreadable", path); return INFINITY; }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f32_path, sizeof f32_path, "%s/afm_smollm2_f32_%ld.gguf", tmp, (long)getpid());
    afm_convert_options co = {.tokenizer_path = NULL, .out_type = AFM_F32};
    double mean = INFINITY;
    afm_model *m = NULL;
    afm_session *ses = NULL;
    if (afm_convert(model_path, f32_path, &co, NULL) != AFM_OK) { CHECK(0, "convert to f32: %s", afm_last_error()); goto done; }
    if (afm_model_load(f32_path, &m) != AFM_OK) { CHECK(0, "load f32: %s", afm_last_error()); goto done; }
    uint32_t max_total = 0;
    for (uint32_t s = 0; s < fx.n_seqs; s++) if (fx.seqs[s].n_total > max_total) max_total = fx.seqs[s].n_total;
    afm_session_options opt = {.n_ctx = (int32_t)max_total + 8, .n_threads = N_THREADS};
    if (afm_session_create(m, &opt, &ses) != AFM_OK) { CHECK(0, "session: %s", afm_last_error()); goto done; }
    teacher_stats all = {0};
    printf("\nexact arithmetic: afm on F32-converted weights vs a float64 forward of the dequantized GGUF:\n");
    for (uint32_t s = 0; s < fx.n_seqs; s++) {
        const teacher_sequence *sq = &fx.seqs[s];
        if (afm_session_rewind(ses, 0) != AFM_OK || afm_session_eval(ses, sq->ids, (int32_t)sq->n_total, true, logits) != AFM_OK) {
            CHECK(0, "exact eval: %s", afm_last_error());
            continue;
        }
        char label[64];
        snprintf(label, sizeof label, "exact: sequence %u", s);
        for (uint32_t p = 0; p < sq->n_total; p++)
            g_failures += teacher_compare_row(label, &fx, sq, p, logits + (size_t)p * fx.n_vocab, EXACT_MARGIN, &all);
    }
    teacher_stats_print("all prompts, F32 vs float64", &all);
    /* For context: the shipped Q4_1 model with afm's 8-bit activations against the same exact
     * reference, over the generated positions (comparable with llama.cpp's figures below). */
    afm_model *q = NULL;
    afm_session *qs = NULL;
    if (afm_model_load(model_path, &q) == AFM_OK && afm_session_create(q, &opt, &qs) == AFM_OK) {
        double kq = 0;
        int nq = 0;
        for (uint32_t s = 0; s < fx.n_seqs; s++) {
            const teacher_sequence *sq = &fx.seqs[s];
            if (afm_session_rewind(qs, 0) != AFM_OK || afm_session_eval(qs, sq->ids, (int32_t)sq->n_total, true, logits) != AFM_OK) break;
            for (uint32_t p = sq->n_prompt - 1; p + 1 < sq->n_total; p++, nq++)
                kq += teacher_kl(&fx, &sq->pos[p], logits + (size_t)p * fx.n_vocab);
        }
        if (nq) printf("  afm on the Q4_1 weights (8-bit activations) vs float64, generated positions: mean KL %.2e\n", kq / nq);
    }
    afm_session_free(qs);
    afm_model_free(q);
    mean = all.n ? all.kl_sum / all.n : INFINITY;
    CHECK(mean < EXACT_KL, "exact arithmetic: mean KL %.3e >= %.0e", mean, EXACT_KL);
    cJSON *j = teacher_meta_load(json_path);
    if (j) {
        const cJSON *nf = cJSON_GetObjectItemCaseSensitive(j, "noise_floor"), *it;
        double lo = INFINITY, hi = 0, elo = INFINITY, ehi = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(nf, "kl_llama_to_llama")) {
            if (it->valuedouble > 0 && it->valuedouble < lo) lo = it->valuedouble; /* 0: two configurations llama.cpp runs identically */
            if (it->valuedouble > hi) hi = it->valuedouble;
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(nf, "kl_exact_to_llama")) {
            if (it->valuedouble < elo) elo = it->valuedouble;
            if (it->valuedouble > ehi) ehi = it->valuedouble;
        }
        if (hi > 0)
            printf("  8-bit activation noise floor (smollm2_exact.json, generated positions): llama.cpp vs itself across "
                   "configurations %.2e .. %.2e; exact vs llama.cpp %.2e .. %.2e\n", lo, hi, elo, ehi);
        cJSON_Delete(j);
    }
done:
    afm_session_free(ses);
    afm_model_free(m);
    remove(f32_path);
    teacher_fixture_free(&fx);
    return mean;
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    if (!src) src = ".";
    char model_path[4096], fx_path[4096], json_path[4096];
    snprintf(model_path, sizeof model_path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", src);
    /* AFM_LLAMACPP_FIXTURE_DIR: another fixture folder (e.g. one made with --kv-type f32);
     * AFM_TF_BATCH_ONLY=1: only the batch teacher-forcing pass (for quick investigations). */
    char fx_dir[3000];
    if (getenv("AFM_LLAMACPP_FIXTURE_DIR")) snprintf(fx_dir, sizeof fx_dir, "%s", getenv("AFM_LLAMACPP_FIXTURE_DIR"));
    else snprintf(fx_dir, sizeof fx_dir, "%s/tests/fixtures/llamacpp", src);
    bool batch_only = getenv("AFM_TF_BATCH_ONLY") && !strcmp(getenv("AFM_TF_BATCH_ONLY"), "1");
    snprintf(fx_path, sizeof fx_path, "%s/smollm2_teacher.bin", fx_dir);
    snprintf(json_path, sizeof json_path, "%s/smollm2_teacher.json", fx_dir);
    if (!afm_file_exists(model_path)) {
        printf("SKIP: %s not found (run scripts/fetch_smollm2.sh)\n", model_path);
        return 77;
    }
    teacher_fixture fx;
    if (teacher_fixture_load(fx_path, &SMOLLM2_TEACHER, &fx) != 0) return 1;
    cJSON *meta = teacher_meta_load(json_path);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(meta, "prompts");

    afm_gguf *g = NULL;
    if (afm_gguf_open(model_path, &g) != AFM_OK) { fprintf(stderr, "gguf: %s\n", afm_last_error()); return 1; }
    if (afm_gguf_file_size(g) != fx.model_size) {
        fprintf(stderr, "model file has %zu bytes, the fixture was made from one of %llu bytes\n",
                afm_gguf_file_size(g), (unsigned long long)fx.model_size);
        return 1;
    }
    afm_tokenizer *tok = NULL;
    if (afm_tokenizer_from_gguf(g, &tok) != AFM_OK) {
        printf("note: tokenizer not available (%s); printing ids only\n", afm_last_error());
        tok = NULL;
    }
    afm_model *model = NULL;
    if (afm_model_load(model_path, &model) != AFM_OK) { fprintf(stderr, "load: %s\n", afm_last_error()); return 1; }
    CHECK(afm_model_config(model)->n_vocab == (int32_t)fx.n_vocab, "n_vocab %d, fixture %u",
          afm_model_config(model)->n_vocab, fx.n_vocab);
    if (g_failures) return 1;

    uint32_t max_total = 0;
    for (uint32_t s = 0; s < fx.n_seqs; s++) if (fx.seqs[s].n_total > max_total) max_total = fx.seqs[s].n_total;
    afm_session_options opt = {.n_ctx = (int32_t)max_total + 8, .n_threads = N_THREADS, .kv_type = AFM_KV_F16};
    afm_session *ses = NULL;
    if (afm_session_create(model, &opt, &ses) != AFM_OK) { fprintf(stderr, "session: %s\n", afm_last_error()); return 1; }
    float *logits = malloc((size_t)max_total * fx.n_vocab * sizeof *logits);
    float *batch0 = malloc((size_t)max_total * fx.n_vocab * sizeof *batch0);

    /* 1. Teacher forcing, one batch per sequence with all logits. */
    teacher_stats all = {0};
    printf("teacher forcing, batch prefill (KL over llama.cpp's top-%u + tail bucket):\n", fx.top_k);
    for (uint32_t s = 0; s < fx.n_seqs; s++) {
        const teacher_sequence *sq = &fx.seqs[s];
        char label[64];
        snprintf(label, sizeof label, "[%s] batch", teacher_prompt_name(prompts, s));
        CHECK(afm_session_rewind(ses, 0) == AFM_OK, "rewind: %s", afm_last_error());
        if (afm_session_eval(ses, sq->ids, (int32_t)sq->n_total, true, logits) != AFM_OK) {
            CHECK(0, "%s eval: %s", label, afm_last_error());
            continue;
        }
        if (s == 0) memcpy(batch0, logits, (size_t)sq->n_total * fx.n_vocab * sizeof *logits);
        teacher_stats st = {0};
        compare_rows(label, sq, 0, sq->n_total, logits, &fx, &st);
        teacher_stats_print(label, &st);
        teacher_stats_add(&all, &st);
    }
    teacher_stats_print("all prompts, batch", &all);
    double mean_kl = all.n ? all.kl_sum / all.n : INFINITY;
    printf("  issue 2 bar: mean KL < %.0e: %s (llama.cpp's own batch-vs-incremental KL: see fixture json)\n", KL_ISSUE,
           mean_kl < KL_ISSUE ? "met" : "NOT MET");
    CHECK(mean_kl < KL_GUARD, "mean KL(llama||afm) %.3e >= %.0e", mean_kl, KL_GUARD);

    /* 2. The first sequence again, one token at a time (decode path). */
    if (!batch_only) {
        const teacher_sequence *sq = &fx.seqs[0];
        teacher_stats st = {0};
        double max_diff = 0;
        CHECK(afm_session_rewind(ses, 0) == AFM_OK, "rewind: %s", afm_last_error());
        for (uint32_t p = 0; p < sq->n_total; p++) {
            if (afm_session_eval(ses, &sq->ids[p], 1, false, logits) != AFM_OK) {
                CHECK(0, "token-by-token eval at %u: %s", p, afm_last_error());
                break;
            }
            compare_rows("[0] token-by-token", sq, p, 1, logits, &fx, &st);
            for (uint32_t v = 0; v < fx.n_vocab; v++) {
                double d = fabs((double)logits[v] - batch0[(size_t)p * fx.n_vocab + v]);
                if (d > max_diff) max_diff = d;
            }
        }
        teacher_stats_print("[0] token-by-token", &st);
        printf("  [0] token-by-token vs batch: max |logit difference| %.3e\n", max_diff);
        CHECK(st.n && st.kl_sum / st.n < KL_GUARD, "token-by-token mean KL %.3e >= %.0e", st.n ? st.kl_sum / st.n : INFINITY, KL_GUARD);
    }

    /* 3. Free-running greedy continuation from llama.cpp's prompt ids, beside llama.cpp's. */
    printf("\nfree-running greedy continuation (afm vs llama.cpp, same prompt ids):\n");
    int32_t *gen = malloc(sizeof *gen * max_total);
    for (uint32_t s = 0; s < fx.n_seqs && !batch_only; s++) {
        const teacher_sequence *sq = &fx.seqs[s];
        const cJSON *pj = cJSON_GetArrayItem(prompts, (int)s);
        uint32_t n_gen_ref = sq->n_total - sq->n_prompt, n_gen = 0;
        CHECK(afm_session_rewind(ses, 0) == AFM_OK, "rewind: %s", afm_last_error());
        if (afm_session_eval(ses, sq->ids, (int32_t)sq->n_prompt, false, logits) != AFM_OK) {
            CHECK(0, "free-running prompt eval: %s", afm_last_error());
            continue;
        }
        while (n_gen < n_gen_ref) {
            int32_t t = teacher_argmax(logits, (int32_t)fx.n_vocab);
            gen[n_gen++] = t;
            if (tok && afm_tokenizer_is_eog(tok, t)) break;
            if (n_gen == n_gen_ref) break;
            if (afm_session_eval(ses, &t, 1, false, logits) != AFM_OK) {
                CHECK(0, "free-running eval: %s", afm_last_error());
                break;
            }
        }
        uint32_t same = 0;
        while (same < n_gen && same < n_gen_ref && gen[same] == sq->ids[sq->n_prompt + same]) same++;
        printf("--- [%s] %u tokens identical to llama.cpp's %u (afm generated %u)\n", teacher_prompt_name(prompts, s), same,
               n_gen_ref, n_gen);
        const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pj, "prompt"));
        const char *ref_text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pj, "llama_text"));
        char *afm_text = decode(tok, gen, n_gen);
        if (prompt) printf("  prompt:    %s\n", prompt);
        printf("  llama.cpp: %s\n", ref_text ? ref_text : "(no text in fixture json)");
        if (afm_text) printf("  afm:       %s\n", afm_text);
        else { print_ids("llama.cpp", sq->ids + sq->n_prompt, n_gen_ref); print_ids("afm", gen, n_gen); }
        free(afm_text);
    }

    free(gen);
    afm_session_free(ses);
    afm_model_free(model);
    ses = NULL; model = NULL;

    /* 4. Arithmetic without activation quantization: the same weights converted to F32 (f32
     * activations throughout) against the float64 reference of the dequantized model. */
    double exact_kl = exact_check(src, fx_dir, model_path, logits);
    free(logits); free(batch0);
    afm_tokenizer_free(tok);
    afm_gguf_close(g);
    cJSON_Delete(meta);
    teacher_fixture_free(&fx);
    if (g_failures) { printf("%d check(s) failed\n", g_failures); return 1; }
    printf("ok: mean KL %.3e < %.0e (guard); argmax agrees at all %d confident positions; exact arithmetic: mean KL %.3e < %.0e\n",
           mean_kl, KL_GUARD, all.n_strict, exact_kl, EXACT_KL);
    return 0;
}
