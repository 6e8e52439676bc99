/* Tokenizer from GGUF tokenizer.ggml.* keys (../shared/reference/gguf-llamacpp.md §3) and the
 * reverse: writing those keys so llama.cpp (and afm) can load the vocabulary again. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "base/error.h"

#define KEY(k) "tokenizer.ggml." k

static bool get_id(const afm_gguf *g, const char *key, int32_t *out) {
    int64_t v;
    if (!afm_gguf_get_i64(g, key, &v)) return false;
    *out = v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
    return true;
}

static afm_status read_i32_array(const afm_gguf *g, const char *key, int32_t n, int32_t *dst, bool *present) {
    afm_gguf_type et;
    uint64_t count;
    const void *data;
    *present = false;
    if (!afm_gguf_get_arr(g, key, &et, &count, &data)) return AFM_OK;
    if (et != AFM_GGUF_INT32 && et != AFM_GGUF_UINT32)
        return afm_error(AFM_ERR_FORMAT, "gguf: %s has elements of type %s, expected int32", key, afm_gguf_type_name(et));
    if (count != (uint64_t)n)
        return afm_error(AFM_ERR_FORMAT, "gguf: %s has %llu entries, expected one per token (%d)", key, (unsigned long long)count, n);
    memcpy(dst, data, (size_t)n * sizeof(int32_t));
    *present = true;
    return AFM_OK;
}

static afm_status build(const afm_gguf *g, afm_tokenizer **out) {
    const char *model;
    size_t mlen;
    if (!afm_gguf_get_str(g, KEY("model"), &model, &mlen))
        return afm_error(AFM_ERR_FORMAT, "gguf: no tokenizer (key tokenizer.ggml.model is missing or not a string)");
    afm_tok_kind kind;
    if (mlen == 4 && !memcmp(model, "gpt2", 4)) kind = AFM_TOK_BYTELEVEL;
    else if (mlen == 5 && !memcmp(model, "llama", 5)) kind = AFM_TOK_SPM;
    else return afm_error(AFM_ERR_UNSUPPORTED, "gguf: tokenizer model '%.*s' is not supported (expected 'gpt2' or 'llama')", (int)(mlen > 64 ? 64 : mlen), model);

    afm_gguf_type et;
    uint64_t count;
    const void *data;
    if (!afm_gguf_get_arr(g, KEY("tokens"), &et, &count, &data))
        return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer.ggml.tokens is missing or not an array");
    if (et != AFM_GGUF_STRING) return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer.ggml.tokens has elements of type %s, expected string", afm_gguf_type_name(et));
    if (count == 0) return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer.ggml.tokens is empty");
    if (count > (1u << 26)) return afm_error(AFM_ERR_RANGE, "gguf: tokenizer.ggml.tokens has %llu entries (limit 2^26)", (unsigned long long)count);
    int32_t n = (int32_t)count;
    afm_tokenizer *t;
    AFM_TRY(tok_new(kind, n, &t));
    *out = t;
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (!afm_gguf_arr_str(g, KEY("tokens"), (uint64_t)i, &s, &len)) return afm_error(AFM_ERR_FORMAT, "gguf: cannot read token %d of tokenizer.ggml.tokens", i);
        AFM_TRY(tok_set_piece(t, i, s, len));
    }
    bool have;
    AFM_TRY(read_i32_array(g, KEY("token_type"), n, t->types, &have));
    if (kind == AFM_TOK_SPM && afm_gguf_get_arr(g, KEY("scores"), &et, &count, &data)) {
        if (et != AFM_GGUF_FLOAT32) return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer.ggml.scores has elements of type %s, expected float32", afm_gguf_type_name(et));
        if (count != (uint64_t)n) return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer.ggml.scores has %llu entries, expected %d", (unsigned long long)count, n);
        memcpy(t->scores, data, (size_t)n * sizeof(float));
    }
    AFM_TRY(tok_index(t));
    if (kind == AFM_TOK_BYTELEVEL) {
        if (!afm_gguf_get_arr(g, KEY("merges"), &et, &count, &data))
            return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer model 'gpt2' needs tokenizer.ggml.merges, which is missing");
        if (et != AFM_GGUF_STRING) return afm_error(AFM_ERR_FORMAT, "gguf: tokenizer.ggml.merges has elements of type %s, expected string", afm_gguf_type_name(et));
        for (uint64_t i = 0; i < count; i++) {
            const char *s;
            size_t len;
            if (!afm_gguf_arr_str(g, KEY("merges"), i, &s, &len)) return afm_error(AFM_ERR_FORMAT, "gguf: cannot read merge %llu", (unsigned long long)i);
            AFM_TRY(tok_add_merge_line(t, s, len));
        }
        const char *pre;
        size_t plen;
        t->pretok = AFM_PRETOK_GPT2; /* llama.cpp: a missing pre means "default" */
        if (afm_gguf_get_str(g, KEY("pre"), &pre, &plen)) {
            int p = afm_pretok_from_gguf_name(pre, plen);
            if (p < 0)
                return afm_error(AFM_ERR_UNSUPPORTED, "gguf: pre-tokenizer '%.*s' (tokenizer.ggml.pre) is not supported (supported: gpt-2, llama-bpe, qwen2, smollm, starcoder, refact)",
                                 (int)(plen > 64 ? 64 : plen), pre);
            t->pretok = (afm_pretok)p;
        }
        t->ignore_merges = t->pretok == AFM_PRETOK_LLAMA3;
    } else {
        t->bos = 1; t->eos = 2; t->unk = 0; /* llama.cpp's SPM defaults */
        t->add_bos = true;
        t->add_space_prefix = true;
    }
    get_id(g, KEY("bos_token_id"), &t->bos);
    get_id(g, KEY("eos_token_id"), &t->eos);
    get_id(g, KEY("eot_token_id"), &t->eot);
    get_id(g, KEY("eom_token_id"), &t->eom);
    get_id(g, KEY("unknown_token_id"), &t->unk);
    get_id(g, KEY("padding_token_id"), &t->pad);
    int32_t *special[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->pad};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (*special[i] >= n) *special[i] = -1; /* out-of-range ids count as absent, as llama.cpp warns and ignores */
    afm_gguf_get_bool(g, KEY("add_bos_token"), &t->add_bos);
    afm_gguf_get_bool(g, KEY("add_eos_token"), &t->add_eos);
    afm_gguf_get_bool(g, KEY("add_space_prefix"), &t->add_space_prefix);
    afm_gguf_get_bool(g, "tokenizer.afm.split_digits", &t->split_digits);
    const char *tmpl;
    size_t tlen;
    if (afm_gguf_get_str(g, "tokenizer.chat_template", &tmpl, &tlen)) {
        t->chat_template = malloc(tlen + 1);
        if (!t->chat_template) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
        memcpy(t->chat_template, tmpl, tlen);
        t->chat_template[tlen] = 0;
    }
    return tok_finish(t);
}

afm_status afm_tokenizer_from_gguf(const afm_gguf *g, afm_tokenizer **out) {
    afm_tokenizer *t = NULL;
    *out = NULL;
    afm_status s = build(g, &t);
    if (s != AFM_OK) { afm_tokenizer_free(t); return s; }
    *out = t;
    return AFM_OK;
}

afm_status afm_tokenizer_to_gguf(const afm_tokenizer *t, afm_gguf_writer *w) {
    int32_t n = t->n_vocab;
    const char **strs = malloc((size_t)n * sizeof *strs);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    if (!strs || !lens) { free(strs); free(lens); return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory"); }
    for (int32_t i = 0; i < n; i++) { strs[i] = tok_piece(t, i); lens[i] = t->piece_len[i]; }
    afm_status s = afm_gguf_set_str(w, KEY("model"), t->kind == AFM_TOK_SPM ? "llama" : "gpt2");
    if (s == AFM_OK && t->kind == AFM_TOK_BYTELEVEL) s = afm_gguf_set_str(w, KEY("pre"), afm_pretok_gguf_name(t->pretok));
    if (s == AFM_OK) s = afm_gguf_set_arr_str(w, KEY("tokens"), strs, lens, (uint64_t)n);
    if (s == AFM_OK) s = afm_gguf_set_arr(w, KEY("token_type"), AFM_GGUF_INT32, t->types, (uint64_t)n);
    if (s == AFM_OK && t->kind == AFM_TOK_SPM) s = afm_gguf_set_arr(w, KEY("scores"), AFM_GGUF_FLOAT32, t->scores, (uint64_t)n);
    free(strs);
    free(lens);
    if (s == AFM_OK && t->kind == AFM_TOK_BYTELEVEL) {
        size_t total = 0;
        for (int32_t r = 0; r < t->n_merges; r++) total += t->piece_len[t->merges[3 * r]] + t->piece_len[t->merges[3 * r + 1]] + 2;
        char *buf = malloc(total + 1);
        const char **ms = malloc(((size_t)t->n_merges + 1) * sizeof *ms);
        size_t *ml = malloc(((size_t)t->n_merges + 1) * sizeof *ml);
        if (!buf || !ms || !ml) { free(buf); free(ms); free(ml); return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory"); }
        size_t o = 0;
        for (int32_t r = 0; r < t->n_merges; r++) {
            int32_t a = t->merges[3 * r], b = t->merges[3 * r + 1];
            ms[r] = buf + o;
            memcpy(buf + o, tok_piece(t, a), t->piece_len[a]);
            o += t->piece_len[a];
            buf[o++] = ' ';
            memcpy(buf + o, tok_piece(t, b), t->piece_len[b]);
            o += t->piece_len[b];
            ml[r] = (size_t)(buf + o - ms[r]);
        }
        s = afm_gguf_set_arr_str(w, KEY("merges"), ms, ml, (uint64_t)t->n_merges);
        free(buf); free(ms); free(ml);
    }
    struct { const char *key; int32_t id; } ids[] = {
        {KEY("bos_token_id"), t->bos}, {KEY("eos_token_id"), t->eos}, {KEY("eot_token_id"), t->eot},
        {KEY("eom_token_id"), t->eom}, {KEY("unknown_token_id"), t->unk}, {KEY("padding_token_id"), t->pad},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && s == AFM_OK; i++)
        if (ids[i].id >= 0) s = afm_gguf_set_u32(w, ids[i].key, (uint32_t)ids[i].id);
    if (s == AFM_OK) s = afm_gguf_set_bool(w, KEY("add_bos_token"), t->add_bos);
    if (s == AFM_OK) s = afm_gguf_set_bool(w, KEY("add_eos_token"), t->add_eos);
    if (s == AFM_OK) s = afm_gguf_set_bool(w, KEY("add_space_prefix"), t->add_space_prefix);
    if (s == AFM_OK && t->split_digits) s = afm_gguf_set_bool(w, "tokenizer.afm.split_digits", true);
    if (s == AFM_OK && t->chat_template) s = afm_gguf_set_str(w, "tokenizer.chat_template", t->chat_template);
    return s;
}
