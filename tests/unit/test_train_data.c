/* Token shards, data folders, the sampler (src/train/data.c) and recipes (src/train/recipe.c):
 *  - prepare is deterministic: 1 and 2 threads give byte-identical shards; document offsets and
 *    the EOS separators are where the documents end;
 *  - sampled windows: targets are the inputs shifted by one, the same seed gives the same
 *    batches, a source with weight 0 is skipped and an all-zero mixture is refused, a
 *    validation batch exists after the split;
 *  - bad shards (bad magic, truncated, out-of-range token, unordered offsets, random header
 *    bytes) and bad recipes (unknown key, wrong type, steps+tokens, seq_len > max_seq_len,
 *    impossible GQA) fail with a message and never crash. */
#include "train/data.h"
#include "train/recipe.h"
#include "base/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_fail;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL line %d: ", __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); g_fail = 1; } } while (0)

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *n) {
    char *b;
    if (afm_read_file(path, &b, n) != AFM_OK) return NULL;
    return b;
}

static void recipes(void) {
    const char *good = "{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 2, \"ffn_dim\": 64, \"max_seq_len\": 64},"
                       " \"stages\": [{\"tokens\": 1000, \"seq_len\": 32, \"batch_size\": 4, \"grad_accum\": 2, \"lr\": 0.01}]}";
    afm_recipe *r = malloc(sizeof *r);
    CHECK(afm_recipe_parse(good, strlen(good), r) == AFM_OK, "valid recipe rejected: %s", afm_last_error());
    CHECK(r->stages[0].steps == 4 && r->model.head_dim == 8 && r->optim.kind == AFM_OPTIM_AFM && r->model.tied_output,
          "defaults/token budget: steps %lld head_dim %d", (long long)r->stages[0].steps, r->model.head_dim);
    CHECK(!r->compute_bf16, "compute defaults to f32");
    const char *b16 = "{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64, \"max_seq_len\": 64}, \"compute\": \"bf16\","
                      " \"stages\": [{\"steps\": 3, \"seq_len\": 32, \"batch_size\": 4, \"lr\": 0.01}]}";
    CHECK(afm_recipe_parse(b16, strlen(b16), r) == AFM_OK && r->compute_bf16, "\"compute\": \"bf16\" rejected or ignored: %s", afm_last_error());
    static const struct { const char *json, *msg; } bad[] = {
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64, \"colour\": 1}, \"stages\": []}", "unknown key \"colour\""},
        {"{\"model\": {\"dim\": \"32\", \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64}, \"stages\": []}", "model.dim"},
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 3, \"ffn_dim\": 64}, \"stages\": []}", "multiple of n_kv_heads"},
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64, \"max_seq_len\": 64}, \"stages\": [{\"steps\": 3, \"tokens\": 9, \"seq_len\": 8, \"batch_size\": 1, \"lr\": 1}]}", "exactly one of"},
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64, \"max_seq_len\": 64}, \"stages\": [{\"steps\": 3, \"seq_len\": 65, \"batch_size\": 1, \"lr\": 1}]}", "seq_len"},
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64}, \"optimizer\": {\"kind\": \"sgd\"}, \"stages\": []}", "optimizer.kind"},
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64}, \"stages\": []}", "stages"},
        {"[1, 2", "not valid JSON"},
        {"{\"model\": {\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"ffn_dim\": 64}, \"compute\": \"fp8\", \"stages\": []}", "compute must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        afm_status st = afm_recipe_parse(bad[i].json, strlen(bad[i].json), r);
        CHECK(st != AFM_OK && strstr(afm_last_error(), bad[i].msg), "bad recipe %zu: status %d, message '%s'", i, st, afm_last_error());
    }
    free(r);
}

int main(void) {
    recipes();
    const char *shared = getenv("AFM_SHARED");
    char tp[1024], dir1[256], dir2[256], f1[256], f2[256], f3[256], p[512];
    snprintf(tp, sizeof tp, "%s/models/stories260K/tok512.bin", shared ? shared : "../shared");
    afm_tokenizer *tok;
    if (afm_tokenizer_load(tp, NULL, &tok) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    int pid = (int)getpid();
    snprintf(dir1, sizeof dir1, "train_data_a_%d", pid);
    snprintf(dir2, sizeof dir2, "train_data_b_%d", pid);
    snprintf(f1, sizeof f1, "train_data_1_%d.jsonl", pid);
    snprintf(f2, sizeof f2, "train_data_2_%d.txt", pid);
    snprintf(f3, sizeof f3, "train_data_3_%d.txt", pid);
    const char *jl = "{\"text\": \"Once upon a time there was a little girl.\"}\n\n{\"text\": \"She liked to play in the park with her dog.\"}\n";
    write_file(f1, jl, strlen(jl));
    char big[6000];
    size_t nb = 0;
    for (int i = 0; i < 60; i++) nb += (size_t)snprintf(big + nb, sizeof big - nb, "The cat sat on the mat number %d. ", i);
    write_file(f2, big, nb);
    write_file(f3, "int main(void) { return 0; }\n", 29);
    const char *files[3] = {f1, f2, f3};
    afm_pool *pool1 = NULL, *pool2;
    afm_pool_create(2, &pool2);
    uint64_t nt, nd, nt2, nd2;
    CHECK(afm_data_prepare(pool1, tok, dir1, "mix", files, 3, &nt, &nd) == AFM_OK, "prepare: %s", afm_last_error());
    CHECK(afm_data_prepare(pool2, tok, dir2, "mix", files, 3, &nt2, &nd2) == AFM_OK, "prepare 2 threads: %s", afm_last_error());
    CHECK(nd == 4 && nd2 == 4 && nt == nt2, "documents %llu (want 4), tokens %llu vs %llu", (unsigned long long)nd, (unsigned long long)nt, (unsigned long long)nt2);
    size_t n1, n2;
    snprintf(p, sizeof p, "%s/mix.tok", dir1);
    char *s1 = slurp(p, &n1);
    snprintf(p, sizeof p, "%s/mix.tok", dir2);
    char *s2 = slurp(p, &n2);
    CHECK(s1 && s2 && n1 == n2 && !memcmp(s1, s2, n1), "shards differ between 1 and 2 threads");
    /* document offsets: each document ends with EOS right before the next one starts */
    int32_t eos = afm_tokenizer_eos(tok);
    uint64_t d1;
    memcpy(&d1, s1 + n1 - 8 * 3, 8);
    uint16_t before;
    memcpy(&before, s1 + 48 + 2 * (d1 - 1), 2);
    CHECK(eos < 0 || before == eos, "token before document 2 is %u, expected EOS %d", before, eos);
    /* a second source with another name */
    const char *only2[1] = {f2};
    CHECK(afm_data_prepare(pool1, tok, dir1, "cats", only2, 1, NULL, NULL) == AFM_OK, "second source: %s", afm_last_error());
    afm_data *d;
    CHECK(afm_data_open(dir1, &d) == AFM_OK, "open: %s", afm_last_error());
    if (d) {
        enum { B = 16, T = 12 };
        int32_t x[B * T], y[B * T], x2[B * T], y2[B * T];
        CHECK(afm_data_n_sources(d) == 2 && afm_data_n_vocab(d) == 512, "sources/vocab");
        afm_data_set_split(d, 0.1, T);
        int cats = afm_data_find_source(d, "cats");
        double w[2] = {0, 0};
        w[cats] = 1.0;
        afm_rng r1, r2;
        afm_rng_seed(&r1, 3);
        afm_rng_seed(&r2, 3);
        for (int k = 0; k < 20; k++) {
            CHECK(afm_data_sample(d, &r1, w, B, T, x, y) == AFM_OK, "sample: %s", afm_last_error());
            afm_data_sample(d, &r2, w, B, T, x2, y2);
            CHECK(!memcmp(x, x2, sizeof x) && !memcmp(y, y2, sizeof y), "same seed, different batch");
            for (int b = 0; b < B; b++)
                for (int t = 0; t + 1 < T; t++) CHECK(y[b * T + t] == x[b * T + t + 1], "targets are not the inputs shifted");
        }
        CHECK(afm_data_val_batch(d, 0, 4, T, x, y) == AFM_OK, "val batch: %s", afm_last_error());
        double zero[2] = {0, 0};
        CHECK(afm_data_sample(d, &r1, zero, 1, T, x, y) == AFM_ERR_INVALID_ARG, "all-zero mixture accepted");
        afm_data_close(d);
    }
    /* corrupt shards */
    snprintf(p, sizeof p, "%s/mix.tok", dir1);
    static const char *why[] = {"bad magic", "truncated", "token out of range", "unordered offsets"};
    for (int c = 0; c < 4 + 200; c++) {
        char *b = malloc(n1);
        memcpy(b, s1, n1);
        size_t len = n1;
        if (c == 0) b[0] = 'X';
        else if (c == 1) len = n1 - 3;
        else if (c == 2) { uint16_t v = 600; memcpy(b + 48 + 2 * 5, &v, 2); }
        else if (c == 3) { uint64_t v = 1; memcpy(b + n1 - 8, &v, 8); }
        else { srand((unsigned)c); for (int k = 0; k < 3; k++) b[rand() % 48] = (char)rand(); }
        write_file(p, b, len);
        afm_data *bad = NULL;
        afm_status st = afm_data_open(dir1, &bad);
        if (c < 4) CHECK(st != AFM_OK && afm_last_error()[0], "%s accepted", why[c]);
        if (c == 1) CHECK(strstr(afm_last_error(), "truncated") != NULL, "truncation message: %s", afm_last_error());
        afm_data_close(bad);
        free(b);
    }
    printf("data and recipe checks: %s\n", g_fail ? "FAIL" : "ok");
    free(s1); free(s2);
    afm_tokenizer_free(tok);
    afm_pool_free(pool2);
    const char *dirs[2] = {dir1, dir2}, *names[4] = {"mix.tok", "cats.tok", "data.json", "tokenizer.gguf"};
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 4; k++) { snprintf(p, sizeof p, "%s/%s", dirs[i], names[k]); unlink(p); }
        rmdir(dirs[i]);
    }
    unlink(f1); unlink(f2); unlink(f3);
    return g_fail;
}
