/* libFuzzer target for the tokenizer. The first input byte picks the mode:
 *   0-1  byte-level BPE round trip: the rest of the input is text; decode(encode(x)) == x for every
 *        pre-tokenizer, and the streaming decoder yields the same bytes;
 *   2    SentencePiece-style round trip (with and without digit splitting): decode(encode(x)) equals
 *        x with U+2581 read as a space (SentencePiece's own convention);
 *   3    the rest parsed as an HF tokenizer.json; if accepted, it encodes and decodes a sample;
 *   4    the rest parsed as a llama2.c tokenizer.bin; if accepted, it encodes the input;
 *   5    the rest parsed as a GGUF file and its tokenizer.ggml.* keys read.
 * Any refusal must leave a message. Seeds: tests/fuzz/corpus/fuzz_tokenizer. */
#include "tokenizer/tok_internal.h"
#include "formats/gguf.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static afm_tokenizer *g_bl, *g_spm;

static void die(const char *what) {
    fprintf(stderr, "fuzz_tokenizer: %s: %s\n", what, afm_last_error());
    abort();
}

/* Byte-level vocabulary: the 256 byte characters plus merges of common English pieces. */
static afm_tokenizer *make_bytelevel(void) {
    static const char *merges[][2] = {
        {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"Ġ", "a"}, {"e", "r"}, {"Ġ", "Ġ"}, {"o", "n"},
        {"Ġ", "s"}, {"'", "s"}, {"1", "2"}, {"12", "3"}, {"Ċ", "Ċ"}, {"ĠĠ", "ĠĠ"}, {"Ã", "©"}, {"a", "a"}, {"aa", "aa"},
    };
    int n_m = (int)(sizeof merges / sizeof merges[0]);
    afm_tokenizer *t;
    if (tok_new(AFM_TOK_BYTELEVEL, 256 + n_m + 1, &t) != AFM_OK) die("tok_new");
    for (int b = 0; b < 256; b++) {
        char buf[4];
        uint32_t cp = tok_gpt2_byte_cp((unsigned)b);
        int l = cp < 0x80 ? (buf[0] = (char)cp, 1) : (buf[0] = (char)(0xC0 | (cp >> 6)), buf[1] = (char)(0x80 | (cp & 0x3F)), 2);
        if (tok_set_piece(t, b, buf, (size_t)l) != AFM_OK) die("piece");
    }
    for (int i = 0; i < n_m; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s%s", merges[i][0], merges[i][1]);
        if (tok_set_piece(t, 256 + i, buf, strlen(buf)) != AFM_OK) die("piece");
    }
    if (tok_set_piece(t, 256 + n_m, "<|endoftext|>", 13) != AFM_OK) die("piece");
    t->types[256 + n_m] = AFM_TOKTYPE_CONTROL;
    t->eos = t->bos = 256 + n_m;
    if (tok_index(t) != AFM_OK) die("index");
    for (int i = 0; i < n_m; i++)
        if (tok_add_merge(t, merges[i][0], strlen(merges[i][0]), merges[i][1], strlen(merges[i][1])) != AFM_OK) die("merge");
    if (tok_finish(t) != AFM_OK) die("finish");
    return t;
}

/* llama2.c tokenizer.bin in memory: <unk>, BOS, EOS, <0x00>..<0xFF>, then scored pieces. */
static afm_tokenizer *make_spm(void) {
    static const char *pieces[] = {" ", "t", "h", "e", "a", "n", "1", "2", " t", "he", " a", "in", " the", "12", " 1", "é", "  "};
    unsigned char buf[8192];
    size_t o = 0;
    int32_t maxlen = 16;
    memcpy(buf, &maxlen, 4);
    o = 4;
    for (int i = 0; i < 3 + 256 + (int)(sizeof pieces / sizeof *pieces); i++) {
        char p[16];
        if (i == 0) strcpy(p, "<unk>");
        else if (i == 1) strcpy(p, "\n<s>\n");
        else if (i == 2) strcpy(p, "\n</s>\n");
        else if (i < 259) snprintf(p, sizeof p, "<0x%02X>", i - 3);
        else strcpy(p, pieces[i - 259]);
        float score = i < 259 ? 0.0f : -(float)(i - 259);
        int32_t len = (int32_t)strlen(p);
        memcpy(buf + o, &score, 4);
        memcpy(buf + o + 4, &len, 4);
        memcpy(buf + o + 8, p, (size_t)len);
        o += 8 + (size_t)len;
    }
    afm_tokenizer *t;
    if (tok_load_llama2c_memory(buf, o, 0, "fuzz", &t) != AFM_OK) die("spm");
    return t;
}

static void roundtrip(const afm_tokenizer *t, const char *x, size_t n, const char *want, size_t want_n) {
    int32_t *ids;
    size_t m;
    if (afm_tokenizer_encode(t, x, n, false, false, &ids, &m) != AFM_OK) die("encode");
    char *out;
    size_t ol;
    if (afm_tokenizer_decode(t, ids, m, false, &out, &ol) != AFM_OK) die("decode");
    if (ol != want_n || memcmp(out, want, ol)) { fprintf(stderr, "round trip differs\n"); abort(); }
    afm_detok_stream st;
    afm_detok_init(&st, t);
    size_t cap = afm_tokenizer_max_token_bytes(t) + 16, so = 0;
    char *buf = malloc(cap), *acc = malloc(want_n + cap + 16);
    afm_detok_push(&st, afm_tokenizer_bos(t), buf, cap);
    for (size_t i = 0; i < m; i++) {
        size_t k = afm_detok_push(&st, ids[i], buf, cap);
        if (so + k > want_n) { fprintf(stderr, "stream emits too much\n"); abort(); }
        memcpy(acc + so, buf, k);
        so += k;
    }
    so += afm_detok_flush(&st, acc + so, cap);
    if (so != want_n || memcmp(acc, want, so)) { fprintf(stderr, "stream differs\n"); abort(); }
    free(buf);
    free(acc);
    free(out);
    free(ids);
    /* special-token parsing must not crash either */
    if (afm_tokenizer_encode(t, x, n, true, true, &ids, &m) != AFM_OK) die("encode special");
    free(ids);
}

static void try_loaded(afm_tokenizer *t, const uint8_t *data, size_t size) {
    int32_t *ids;
    size_t m;
    if (afm_tokenizer_encode(t, (const char *)data, size, true, true, &ids, &m) != AFM_OK) return;
    char *out;
    size_t ol;
    if (afm_tokenizer_decode(t, ids, m, true, &out, &ol) == AFM_OK) free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_bl) { g_bl = make_bytelevel(); g_spm = make_spm(); }
    if (size < 1) return 0;
    unsigned mode = data[0] % 6;
    const char *x = (const char *)data + 1;
    size_t n = size - 1;
    afm_tokenizer *t = NULL;
    if (mode <= 1) {
        for (int p = AFM_PRETOK_NONE; p < AFM_PRETOK_COUNT; p++) {
            g_bl->pretok = (afm_pretok)p;
            g_bl->ignore_merges = mode == 1;
            roundtrip(g_bl, x, n, x, n);
        }
    } else if (mode == 2) {
        char *want = malloc(n + 1);
        size_t w = 0;
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && !memcmp(x + i, "\xE2\x96\x81", 3)) { want[w++] = ' '; i += 3; }
            else want[w++] = x[i++];
        }
        for (int sd = 0; sd < 2; sd++) {
            g_spm->split_digits = sd;
            roundtrip(g_spm, x, n, want, w);
        }
        free(want);
    } else if (mode == 3) {
        if (tok_load_hf_json(x, n, "fuzz.json", &t) != AFM_OK) {
            if (!afm_last_error()[0]) abort();
            return 0;
        }
    } else if (mode == 4) {
        if (tok_load_llama2c_memory(data + 1, n, 0, "fuzz.bin", &t) != AFM_OK) {
            if (!afm_last_error()[0]) abort();
            return 0;
        }
    } else {
        afm_gguf *g;
        if (afm_gguf_open_memory(data + 1, n, &g) != AFM_OK) return 0;
        afm_status s = afm_tokenizer_from_gguf(g, &t);
        afm_gguf_close(g);
        if (s != AFM_OK) {
            if (!afm_last_error()[0]) abort();
            return 0;
        }
    }
    if (t) {
        try_loaded(t, data, size);
        afm_tokenizer_free(t);
    }
    return 0;
}
