/* decode(encode(x)) == x for every shared document, as raw bytes (emails include invalid UTF-8),
 * with the GPT-2 byte-level tokenizer and stories260K's SentencePiece-style tok512.bin:
 * pretrain/ JSONL files (each line's "text"), text/tinyshakespeare.txt, email/ mbox files (whole files,
 * split into messages at "\nFrom "). SPM documents containing U+2581 itself are skipped (it
 * decodes as a space by SentencePiece's design); the count of skipped documents is printed. */
#include "tokenizer/tokenizer.h"
#include "base/file.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static size_t n_docs, n_bytes, n_skipped;
static char g_path[4096];

static const char *shared(const char *rel) {
    const char *root = getenv("AFM_SHARED");
    snprintf(g_path, sizeof g_path, "%s/%s", root ? root : "../shared", rel);
    return g_path;
}

static void roundtrip(const afm_tokenizer *t, const char *name, const char *x, size_t n) {
    if (afm_tokenizer_kind(t) == AFM_TOK_SPM && memmem(x, n, "\xE2\x96\x81", 3)) { n_skipped++; return; }
    int32_t *ids;
    size_t m;
    char *out;
    size_t ol;
    if (afm_tokenizer_encode(t, x, n, false, false, &ids, &m) != AFM_OK || afm_tokenizer_decode(t, ids, m, false, &out, &ol) != AFM_OK) {
        fprintf(stderr, "%s: %s\n", name, afm_last_error());
        failures++;
        return;
    }
    if (ol != n || memcmp(out, x, n)) {
        size_t k = 0;
        while (k < n && k < ol && out[k] == x[k]) k++;
        if (failures++ < 5) fprintf(stderr, "%s: round trip of %zu bytes differs at byte %zu (got %zu bytes)\n", name, n, k, ol);
    }
    n_docs++;
    n_bytes += n;
    free(ids);
    free(out);
}

static void all_docs(const afm_tokenizer *t) {
    static const char *jsonl[] = {"data/pretrain/brown.jsonl", "data/pretrain/moby-dick.jsonl", "data/pretrain/sotu.jsonl"};
    for (size_t f = 0; f < 3; f++) {
        char *d;
        size_t len;
        if (afm_read_file(shared(jsonl[f]), &d, &len) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); failures++; continue; }
        for (size_t i = 0; i < len;) {
            size_t j = i;
            while (j < len && d[j] != '\n') j++;
            cJSON *o = cJSON_ParseWithLength(d + i, j - i);
            const cJSON *txt = cJSON_GetObjectItemCaseSensitive(o, "text");
            if (cJSON_IsString(txt)) roundtrip(t, jsonl[f], txt->valuestring, strlen(txt->valuestring));
            cJSON_Delete(o);
            i = j + 1;
        }
        free(d);
    }
    static const char *raw[] = {"data/text/tinyshakespeare.txt", "data/email/spamassassin-ham.mbox", "data/email/spamassassin-spam.mbox"};
    for (size_t f = 0; f < 3; f++) {
        char *d;
        size_t len;
        if (afm_read_file(shared(raw[f]), &d, &len) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); failures++; continue; }
        size_t st = 0;
        for (size_t i = 0; i <= len; i++) {
            if (i == len || (i > st && i + 6 <= len && !memcmp(d + i, "\nFrom ", 6))) {
                roundtrip(t, raw[f], d + st, i - st);
                st = i;
            }
        }
        free(d);
    }
}

int main(void) {
    afm_tokenizer *t;
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s", shared("data/bpe_fixtures/gpt2_vocab.json"));
    if (afm_tokenizer_load(vocab, shared("data/bpe_fixtures/gpt2_merges.txt"), &t) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    all_docs(t);
    printf("gpt2: %zu documents, %zu bytes round-tripped\n", n_docs, n_bytes);
    afm_tokenizer_free(t);
    n_docs = n_bytes = 0;
    if (afm_tokenizer_load(shared("models/stories260K/tok512.bin"), NULL, &t) != AFM_OK) { fprintf(stderr, "%s\n", afm_last_error()); return 1; }
    all_docs(t);
    printf("stories260K tok512: %zu documents, %zu bytes round-tripped, %zu skipped (contain U+2581)\n", n_docs, n_bytes, n_skipped);
    afm_tokenizer_free(t);
    if (failures) { fprintf(stderr, "%d failure(s)\n", failures); return 1; }
    return 0;
}
