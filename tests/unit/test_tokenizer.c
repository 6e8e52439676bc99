/* Tokenizer unit tests on real vocabularies from ../shared:
 * - stories260K tok512.bin (SentencePiece-style BPE): "Once upon a time" with BOS encodes to
 *   1 403 407 261 378 (llama2.c's own result, models/stories260K/README.md), and llama2.c's greedy
 *   continuation ids decode to the text run.c printed (greedy_once_n64.txt);
 * - GPT-2 vocab.json + merges.txt (byte-level BPE): ids HF tokenizers gives for fixed strings;
 * - decode(encode(x)) == x on random bytes including invalid UTF-8, for both kinds, and the
 *   streaming decoder reproduces decode() with multi-byte characters split across tokens;
 * - corrupt inputs (truncated tokenizer.bin, unknown merges, empty vocabulary) give errors.
 * The exhaustive comparison with HF tokenizers on every shared document is tests/cli/tokenizer_hf.sh. */
#include "tokenizer/tokenizer.h"
#include "base/file.h"
#include "base/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(c) do { if (!(c)) { if (failures++ < 20) fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); } } while (0)
#define OK(e) do { afm_status s_ = (e); if (s_ != AFM_OK) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #e, afm_last_error()); exit(1); } } while (0)

static char g_path[4096];
static const char *shared(const char *rel) {
    const char *root = getenv("AFM_SHARED");
    snprintf(g_path, sizeof g_path, "%s/%s", root ? root : "../shared", rel);
    return g_path;
}

static void check_ids(const afm_tokenizer *t, const char *text, bool bos, const int32_t *want, size_t n_want) {
    int32_t *ids;
    size_t n;
    OK(afm_tokenizer_encode(t, text, strlen(text), bos, false, &ids, &n));
    int same = n == n_want && !memcmp(ids, want, n * sizeof *ids);
    if (!same) {
        fprintf(stderr, "encode('%s') gave", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "; expected");
        for (size_t i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
    free(ids);
}

/* decode(encode(x)) == x, and the streaming decoder yields the same bytes. */
static void check_roundtrip(const afm_tokenizer *t, const char *x, size_t len) {
    int32_t *ids;
    size_t n;
    OK(afm_tokenizer_encode(t, x, len, false, false, &ids, &n));
    char *out;
    size_t ol;
    OK(afm_tokenizer_decode(t, ids, n, false, &out, &ol));
    CHECK(ol == len && !memcmp(out, x, len));
    if (!(ol == len && !memcmp(out, x, len)) && failures < 3) {
        fprintf(stderr, "round trip of %zu bytes:", len);
        for (size_t i = 0; i < len; i++) fprintf(stderr, " %02x", (unsigned char)x[i]);
        fprintf(stderr, "\ngave %zu bytes:", ol);
        for (size_t i = 0; i < ol; i++) fprintf(stderr, " %02x", (unsigned char)out[i]);
        fprintf(stderr, "\n");
    }
    /* stream, after a BOS so the SPM leading-space rule applies as in decode() */
    afm_detok_stream st;
    afm_detok_init(&st, t);
    size_t cap = afm_tokenizer_max_token_bytes(t) + 16, so = 0;
    char *buf = malloc(cap), *acc = malloc(len + 16);
    if (afm_tokenizer_bos(t) >= 0) afm_detok_push(&st, afm_tokenizer_bos(t), buf, cap);
    for (size_t i = 0; i < n; i++) {
        size_t k = afm_detok_push(&st, ids[i], buf, cap);
        /* emitted text is always whole characters or bytes that cannot start one */
        CHECK(so + k <= len);
        if (so + k <= len) memcpy(acc + so, buf, k);
        so += k;
    }
    size_t k = afm_detok_flush(&st, buf, cap);
    if (so + k <= len) memcpy(acc + so, buf, k);
    so += k;
    bool bos_ok = afm_tokenizer_bos(t) >= 0;
    CHECK(!bos_ok || (so == len && !memcmp(acc, x, len)));
    free(buf);
    free(acc);
    free(out);
    free(ids);
}

/* Random byte strings mixing ASCII, multi-byte characters, broken sequences and raw bytes. For
 * SPM the text never contains U+2581 itself: SentencePiece (and llama.cpp) read it as a space, so
 * it decodes to ' ' there by design. */
static void random_roundtrips(const afm_tokenizer *t, uint64_t seed) {
    afm_rng rng;
    afm_rng_seed(&rng, seed);
    char buf[300];
    static const char *frags[] = {" ", "  ", "\n", "\t", "é", "日本", "😀", "\xE2\x96\x81", "'s", "123", "ab", "\xF0\x9F", "\xC3", "\xFF", "\x80"};
    for (int it = 0; it < 2000; it++) {
        size_t n = 0, want = (uint32_t)afm_rng_u64(&rng) % 200;
        while (n < want) {
            uint32_t r = (uint32_t)afm_rng_u64(&rng);
            if (r % 3 == 0) {
                const char *f = frags[(r >> 8) % (sizeof frags / sizeof *frags)];
                if (afm_tokenizer_kind(t) == AFM_TOK_SPM && !strcmp(f, "\xE2\x96\x81")) continue;
                size_t l = strlen(f);
                if (n + l > sizeof buf) break;
                memcpy(buf + n, f, l);
                n += l;
            } else buf[n++] = (char)(r % 3 == 1 ? (r >> 8) & 0xFF : 'a' + (r >> 8) % 26);
        }
        check_roundtrip(t, buf, n);
    }
}

static void test_stories(void) {
    afm_tokenizer *t;
    OK(afm_tokenizer_load(shared("models/stories260K/tok512.bin"), NULL, &t));
    CHECK(afm_tokenizer_kind(t) == AFM_TOK_SPM);
    CHECK(afm_tokenizer_n_vocab(t) == 512);
    CHECK(afm_tokenizer_bos(t) == 1 && afm_tokenizer_eos(t) == 2 && afm_tokenizer_add_bos(t));
    const int32_t once[] = {1, 403, 407, 261, 378};
    check_ids(t, "Once upon a time", true, once, 5);
    /* llama2.c's greedy continuation (README) decodes to what run.c printed */
    static const int32_t cont[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419,
        292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432,
        398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310};
    char *golden;
    size_t glen;
    OK(afm_read_file(shared("models/stories260K/greedy_once_n64.txt"), &golden, &glen));
    char *out;
    size_t ol;
    OK(afm_tokenizer_decode(t, cont, sizeof cont / sizeof *cont, true, &out, &ol));
    /* run.c prints a final newline after the last token */
    CHECK(glen >= 1 && ol == glen - 1 && !memcmp(out, golden, ol));
    if (!(ol == glen - 1 && !memcmp(out, golden, ol))) fprintf(stderr, "decoded: [%s]\ngolden:  [%s]\n", out, golden);
    /* the streaming decoder agrees */
    afm_detok_stream st;
    afm_detok_init(&st, t);
    char buf[128], acc[1024];
    size_t so = 0;
    for (size_t i = 0; i < sizeof cont / sizeof *cont; i++) {
        size_t k = afm_detok_push(&st, cont[i], buf, sizeof buf);
        if (so + k < sizeof acc) memcpy(acc + so, buf, k);
        so += k;
    }
    so += afm_detok_flush(&st, acc + so, sizeof acc - so);
    CHECK(so == ol && !memcmp(acc, out, ol));
    free(out);
    free(golden);
    random_roundtrips(t, 11);
    /* byte fallback: a character not in the vocabulary becomes its <0xNN> tokens (id = byte + 3),
     * after the dummy-prefix "▁" (token 410) */
    CHECK(afm_tokenizer_find(t, "日") < 0 && afm_tokenizer_find(t, "\xE2\x96\x81") == 410);
    const int32_t ri[] = {1, 410, 0xE6 + 3, 0x97 + 3, 0xA5 + 3};
    int32_t *ids;
    size_t n;
    OK(afm_tokenizer_encode(t, "日", 3, true, false, &ids, &n));
    CHECK(n == 5 && !memcmp(ids, ri, sizeof ri));
    free(ids);
    afm_tokenizer_free(t);
}

static void test_gpt2(void) {
    afm_tokenizer *t;
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s", shared("data/bpe_fixtures/gpt2_vocab.json"));
    OK(afm_tokenizer_load(vocab, shared("data/bpe_fixtures/gpt2_merges.txt"), &t));
    CHECK(afm_tokenizer_kind(t) == AFM_TOK_BYTELEVEL);
    CHECK(afm_tokenizer_n_vocab(t) == 50257);
    /* expected ids from HF tokenizers (ByteLevel BPE built from the same two files) */
    const int32_t a[] = {15496, 995, 11, 340, 338, 48609, 0, 220, 11013, 38776, 40304, 628, 220, 1332, 220, 220, 220};
    check_ids(t, "Hello world, it's 2024!  Naïve café\n\n  test   ", false, a, sizeof a / sizeof *a);
    random_roundtrips(t, 12);
    /* a 5000-byte word takes the O(n log n) merge path and still round-trips */
    char *big = malloc(5000);
    for (int i = 0; i < 5000; i++) big[i] = "abcab"[i % 5];
    check_roundtrip(t, big, 5000);
    free(big);
    afm_tokenizer_free(t);
}

static void expect_error(afm_status s, afm_tokenizer *t, const char *what) {
    CHECK(s != AFM_OK);
    CHECK(t == NULL);
    if (s != AFM_OK) CHECK(strlen(afm_last_error()) > 10);
    if (s == AFM_OK) { fprintf(stderr, "%s: accepted\n", what); afm_tokenizer_free(t); }
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_bad_input(void) {
    char *tok;
    size_t len;
    OK(afm_read_file(shared("models/stories260K/tok512.bin"), &tok, &len));
    char path[64], path2[64];
    snprintf(path, sizeof path, "tok_test_%d.bin", (int)getpid());
    snprintf(path2, sizeof path2, "tok_test_%d.txt", (int)getpid());
    /* every truncation of tokenizer.bin that the model's vocabulary size exposes */
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 97)) {
        write_file(path, tok, cut);
        afm_tokenizer *t = NULL;
        expect_error(afm_tokenizer_load_llama2c(path, 512, &t), t, "truncated tokenizer.bin");
    }
    /* a token length beyond max_token_length */
    memcpy(tok + 4 + 4, "\xff\xff\xff\x7f", 4);
    write_file(path, tok, len);
    afm_tokenizer *t = NULL;
    expect_error(afm_tokenizer_load_llama2c(path, 0, &t), t, "huge token length");
    free(tok);
    /* GPT-2 files: empty vocabulary; a merge naming an unknown token; a merge whose result is absent */
    write_file(path, "{}", 2);
    write_file(path2, "#version: 0.2\n", 14);
    t = NULL;
    expect_error(afm_tokenizer_load(path, path2, &t), t, "empty vocab");
    const char *v = "{\"a\": 0, \"b\": 1, \"ab\": 2}";
    write_file(path, v, strlen(v));
    write_file(path2, "a b\nb c\n", 8);
    t = NULL;
    expect_error(afm_tokenizer_load(path, path2, &t), t, "unknown merge token");
    CHECK(strstr(afm_last_error(), "'b c'") != NULL);
    write_file(path2, "a b\nb a\n", 8);
    t = NULL;
    expect_error(afm_tokenizer_load(path, path2, &t), t, "merge result missing");
    write_file(path2, "a b\n", 4);
    t = NULL;
    OK(afm_tokenizer_load(path, path2, &t));
    /* bytes without a token are dropped (HF BPE without unk_token): "zz" -> nothing, "abz" -> ab */
    int32_t *ids;
    size_t n;
    OK(afm_tokenizer_encode(t, "zz", 2, false, false, &ids, &n));
    CHECK(n == 0);
    free(ids);
    OK(afm_tokenizer_encode(t, "abz", 3, false, false, &ids, &n));
    CHECK(n == 1 && ids[0] == 2);
    free(ids);
    afm_tokenizer_free(t);
    /* tokenizer.json: broken JSON, missing model */
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}", 40);
    t = NULL;
    expect_error(afm_tokenizer_load(path, NULL, &t), t, "broken json");
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", 53);
    t = NULL;
    expect_error(afm_tokenizer_load(path, NULL, &t), t, "empty tokenizer.json vocab");
    unlink(path);
    unlink(path2);
}

/* afm_tokenizer_to_gguf -> afm_tokenizer_from_gguf keeps every piece, type, score, merge, special
 * id and flag: the reloaded tokenizer encodes like the original. */
static void check_gguf_roundtrip(const afm_tokenizer *t, const char *sample) {
    char path[64];
    snprintf(path, sizeof path, "tok_test_%d.gguf", (int)getpid());
    afm_gguf_writer *w;
    OK(afm_gguf_writer_create(&w));
    OK(afm_gguf_set_str(w, "general.architecture", "llama"));
    OK(afm_tokenizer_to_gguf(t, w));
    OK(afm_gguf_write(w, path));
    afm_gguf_writer_free(w);
    afm_gguf *g;
    OK(afm_gguf_open(path, &g));
    afm_tokenizer *u;
    OK(afm_tokenizer_from_gguf(g, &u));
    afm_gguf_close(g);
    CHECK(afm_tokenizer_kind(u) == afm_tokenizer_kind(t));
    CHECK(afm_tokenizer_n_vocab(u) == afm_tokenizer_n_vocab(t));
    CHECK(afm_tokenizer_bos(u) == afm_tokenizer_bos(t) && afm_tokenizer_eos(u) == afm_tokenizer_eos(t));
    CHECK(afm_tokenizer_add_bos(u) == afm_tokenizer_add_bos(t));
    for (int32_t i = 0; i < afm_tokenizer_n_vocab(t); i++) {
        CHECK(!strcmp(afm_tokenizer_piece(u, i), afm_tokenizer_piece(t, i)));
        CHECK(afm_tokenizer_token_type(u, i) == afm_tokenizer_token_type(t, i));
    }
    int32_t *a, *b;
    size_t na, nb;
    OK(afm_tokenizer_encode(t, sample, strlen(sample), true, true, &a, &na));
    OK(afm_tokenizer_encode(u, sample, strlen(sample), true, true, &b, &nb));
    CHECK(na == nb && !memcmp(a, b, na * sizeof *a));
    free(a);
    free(b);
    afm_tokenizer_free(u);
    unlink(path);
}

int main(void) {
    {
        afm_tokenizer *t;
        OK(afm_tokenizer_load(shared("models/stories260K/tok512.bin"), NULL, &t));
        check_gguf_roundtrip(t, "Once upon a time, 12 cats saw <s> a \xE2\x82\xAC sign.");
        afm_tokenizer_free(t);
        char vocab[4096];
        snprintf(vocab, sizeof vocab, "%s", shared("data/bpe_fixtures/gpt2_vocab.json"));
        OK(afm_tokenizer_load(vocab, shared("data/bpe_fixtures/gpt2_merges.txt"), &t));
        check_gguf_roundtrip(t, "Hello world<|endoftext|> it's 2024!\n\n  caf\xC3\xA9");
        afm_tokenizer_free(t);
    }
    test_stories();
    test_gpt2();
    test_bad_input();
    if (failures) { fprintf(stderr, "%d check(s) failed\n", failures); return 1; }
    printf("tokenizer: all checks passed\n");
    return 0;
}
