/* llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length,
 * that many bytes (../shared/models/stories260K/README.md). Spaces in pieces are stored as ' ';
 * we keep pieces in SentencePiece form ("▁"), BOS "\n<s>\n" and EOS "\n</s>\n" as "<s>", "</s>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "base/error.h"
#include "base/file.h"

static afm_status set_spm_piece(afm_tokenizer *t, int32_t id, const unsigned char *p, size_t len) {
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += p[i] == ' ';
    if (!spaces) return tok_set_piece(t, id, (const char *)p, len);
    char *buf = malloc(len + 2 * spaces);
    if (!buf) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == ' ') { memcpy(buf + o, "\xE2\x96\x81", 3); o += 3; }
        else buf[o++] = (char)p[i];
    }
    afm_status s = tok_set_piece(t, id, buf, o);
    free(buf);
    return s;
}

static afm_status parse(const unsigned char *d, size_t size, int32_t vocab_size, const char *what, afm_tokenizer **out) {
    if (size < 4) return afm_error(AFM_ERR_FORMAT, "%s: llama2.c tokenizer is %zu bytes, too short for its header", what, size);
    int32_t max_len;
    memcpy(&max_len, d, 4);
    if (max_len <= 0 || max_len > (1 << 20)) return afm_error(AFM_ERR_FORMAT, "%s: llama2.c tokenizer max_token_length %d is not in [1, 2^20]", what, max_len);
    /* count tokens first when the caller does not know the vocabulary size */
    int32_t n = 0;
    size_t o = 4;
    while (o < size && (vocab_size <= 0 || n < vocab_size)) {
        if (size - o < 8) return afm_error(AFM_ERR_FORMAT, "%s: llama2.c tokenizer truncated in the header of token %d at byte %zu", what, n, o);
        int32_t len;
        memcpy(&len, d + o + 4, 4);
        if (len < 0 || len > max_len) return afm_error(AFM_ERR_FORMAT, "%s: token %d has length %d, outside [0, max_token_length %d]", what, n, len, max_len);
        if (size - o - 8 < (size_t)len) return afm_error(AFM_ERR_FORMAT, "%s: llama2.c tokenizer truncated inside token %d (needs %d bytes at byte %zu, file has %zu)", what, n, len, o + 8, size);
        o += 8 + (size_t)len;
        n++;
        if (n > (1 << 26)) return afm_error(AFM_ERR_RANGE, "%s: more than 2^26 tokens", what);
    }
    if (vocab_size > 0 && n < vocab_size) return afm_error(AFM_ERR_FORMAT, "%s: llama2.c tokenizer has %d tokens, the model needs %d", what, n, vocab_size);
    if (n == 0) return afm_error(AFM_ERR_FORMAT, "%s: llama2.c tokenizer has no tokens", what);
    afm_tokenizer *t;
    AFM_TRY(tok_new(AFM_TOK_SPM, n, &t));
    *out = t;
    o = 4;
    for (int32_t i = 0; i < n; i++) {
        float score;
        int32_t len;
        memcpy(&score, d + o, 4);
        memcpy(&len, d + o + 4, 4);
        const unsigned char *p = d + o + 8;
        o += 8 + (size_t)len;
        t->scores[i] = score;
        if (i == 1 && len == 5 && !memcmp(p, "\n<s>\n", 5)) { AFM_TRY(tok_set_piece(t, i, "<s>", 3)); t->types[i] = AFM_TOKTYPE_CONTROL; continue; }
        if (i == 2 && len == 6 && !memcmp(p, "\n</s>\n", 6)) { AFM_TRY(tok_set_piece(t, i, "</s>", 4)); t->types[i] = AFM_TOKTYPE_CONTROL; continue; }
        AFM_TRY(set_spm_piece(t, i, p, (size_t)len));
        if (len == 6 && !memcmp(p, "<0x", 3) && p[5] == '>') t->types[i] = AFM_TOKTYPE_BYTE;
        else if (len == 5 && !memcmp(p, "<unk>", 5)) t->types[i] = AFM_TOKTYPE_UNKNOWN;
    }
    t->unk = n > 0 && t->types[0] == AFM_TOKTYPE_UNKNOWN ? 0 : -1;
    t->bos = n > 1 ? 1 : -1;
    t->eos = n > 2 ? 2 : -1;
    t->add_bos = true;
    t->add_space_prefix = true;
    return tok_finish(t);
}

afm_status tok_load_llama2c_memory(const unsigned char *data, size_t size, int32_t vocab_size, const char *what, afm_tokenizer **out) {
    afm_tokenizer *t = NULL;
    *out = NULL;
    afm_status s = parse(data, size, vocab_size, what, &t);
    if (s != AFM_OK) { afm_tokenizer_free(t); return s; }
    *out = t;
    return AFM_OK;
}

afm_status afm_tokenizer_load_llama2c(const char *path, int32_t vocab_size, afm_tokenizer **out) {
    afm_mmap m;
    *out = NULL;
    AFM_TRY(afm_mmap_open(path, &m));
    afm_status s = tok_load_llama2c_memory(m.data, m.size, vocab_size, path, out);
    afm_mmap_close(&m);
    return s;
}

afm_status afm_tokenizer_load(const char *path, const char *merges_path, afm_tokenizer **out) {
    *out = NULL;
    if (merges_path) return tok_load_gpt2_files(path, merges_path, out);
    if (afm_is_dir(path) > 0) {
        /* an HF model folder: tokenizer.json, else vocab.json + merges.txt */
        size_t n = strlen(path) + 32;
        char *a = malloc(n), *b = malloc(n);
        if (!a || !b) { free(a); free(b); return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory"); }
        snprintf(a, n, "%s/tokenizer.json", path);
        afm_status s;
        if (afm_file_exists(a) > 0) s = afm_tokenizer_load(a, NULL, out);
        else {
            snprintf(a, n, "%s/vocab.json", path);
            snprintf(b, n, "%s/merges.txt", path);
            if (afm_file_exists(a) > 0 && afm_file_exists(b) > 0) s = tok_load_gpt2_files(a, b, out);
            else s = afm_error(AFM_ERR_IO, "%s: folder has neither tokenizer.json nor vocab.json + merges.txt", path);
        }
        free(a);
        free(b);
        return s;
    }
    afm_mmap m;
    AFM_TRY(afm_mmap_open(path, &m));
    afm_status s;
    size_t i = 0;
    while (i < m.size && (m.data[i] == ' ' || m.data[i] == '\t' || m.data[i] == '\n' || m.data[i] == '\r')) i++;
    if (m.size >= 4 && !memcmp(m.data, "GGUF", 4)) {
        afm_mmap_close(&m);
        afm_gguf *g;
        AFM_TRY(afm_gguf_open(path, &g));
        s = afm_tokenizer_from_gguf(g, out);
        afm_gguf_close(g);
        if (s != AFM_OK) afm_error_prefix(s, "%s", path);
        return s;
    }
    if (i < m.size && m.data[i] == '{') {
        /* tokenizer.json has a "model" object; a GPT-2 vocab.json is a flat piece -> id map and
         * needs its merges.txt */
        s = tok_load_hf_json((const char *)m.data, m.size, path, out);
        afm_mmap_close(&m);
        return s;
    }
    s = tok_load_llama2c_memory(m.data, m.size, 0, path, out);
    afm_mmap_close(&m);
    return s;
}
