/* HF tokenizer.json (model type BPE) and GPT-2 vocab.json + merges.txt.
 * tokenizer.json: model.vocab {piece: id}, model.merges ["a b", ...] or [["a", "b"], ...],
 * added_tokens [{id, content, special}], and a pre_tokenizer that must be one we implement:
 *   ByteLevel(use_regex=true)                                  -> GPT-2 pattern
 *   Sequence[Digits(individual_digits=true), ByteLevel]        -> SmolLM2 / StarCoder
 *   Sequence[Split(Regex llama3 | qwen2, Isolated), ByteLevel(use_regex=false)] -> Llama 3 / Qwen2
 * A BPE model with byte_fallback (Llama 2 / Mistral style, "▁" for spaces) is read as
 * SentencePiece-style: a token's score is minus the rank of the first merge producing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cjson/cJSON.h>
#include "tokenizer/tok_internal.h"
#include "base/error.h"
#include "base/file.h"

static const char *const k_llama3_re[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};
static const char *const k_qwen2_re[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};
static const char *const k_gpt2_re[] = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};

static bool is_type(const cJSON *o, const char *type) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) && !strcmp(ty->valuestring, type);
}

static bool flag(const cJSON *o, const char *key, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static int match_list(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

/* Maps a pre_tokenizer object to our pattern. */
static afm_status pretok_of(const cJSON *pt, const char *what, afm_pretok *out) {
    if (!pt || cJSON_IsNull(pt)) { *out = AFM_PRETOK_NONE; return AFM_OK; }
    if (is_type(pt, "ByteLevel")) {
        if (flag(pt, "add_prefix_space", false))
            return afm_error(AFM_ERR_UNSUPPORTED, "%s: ByteLevel pre-tokenizer with add_prefix_space=true is not supported", what);
        *out = flag(pt, "use_regex", true) ? AFM_PRETOK_GPT2 : AFM_PRETOK_NONE;
        return AFM_OK;
    }
    if (is_type(pt, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
        int n = cJSON_GetArraySize(list);
        const cJSON *a = cJSON_GetArrayItem(list, 0), *b = cJSON_GetArrayItem(list, 1);
        if (n == 1) return pretok_of(a, what, out);
        if (n == 2 && is_type(a, "Digits") && flag(a, "individual_digits", false) && is_type(b, "ByteLevel") &&
            flag(b, "use_regex", true) && !flag(b, "add_prefix_space", false)) {
            *out = AFM_PRETOK_SMOLLM;
            return AFM_OK;
        }
        if (n == 2 && is_type(a, "Split") && is_type(b, "ByteLevel") && !flag(b, "use_regex", true) && !flag(b, "add_prefix_space", false)) {
            const cJSON *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "pattern"), "Regex");
            const cJSON *beh = cJSON_GetObjectItemCaseSensitive(a, "behavior");
            if (cJSON_IsString(pat) && cJSON_IsString(beh) && !strcmp(beh->valuestring, "Isolated") && !flag(a, "invert", false)) {
                const char *re = pat->valuestring;
                if (match_list(re, k_llama3_re, sizeof k_llama3_re / sizeof *k_llama3_re)) { *out = AFM_PRETOK_LLAMA3; return AFM_OK; }
                if (match_list(re, k_qwen2_re, sizeof k_qwen2_re / sizeof *k_qwen2_re)) { *out = AFM_PRETOK_QWEN2; return AFM_OK; }
                if (match_list(re, k_gpt2_re, sizeof k_gpt2_re / sizeof *k_gpt2_re)) { *out = AFM_PRETOK_GPT2; return AFM_OK; }
                return afm_error(AFM_ERR_UNSUPPORTED, "%s: pre-tokenizer regex '%.200s' is not one afm implements (GPT-2, Llama 3, Qwen2)", what, re);
            }
        }
    }
    char *txt = cJSON_PrintUnformatted(pt);
    afm_status s = afm_error(AFM_ERR_UNSUPPORTED, "%s: pre_tokenizer %.300s is not supported (expected ByteLevel, Digits+ByteLevel or Split(regex)+ByteLevel)", what, txt ? txt : "?");
    free(txt);
    return s;
}

static afm_status add_merges(afm_tokenizer *t, const cJSON *merges, const char *what) {
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        afm_status s;
        if (cJSON_IsString(m)) s = tok_add_merge_line(t, m->valuestring, strlen(m->valuestring));
        else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next))
            s = tok_add_merge(t, m->child->valuestring, strlen(m->child->valuestring), m->child->next->valuestring, strlen(m->child->next->valuestring));
        else s = afm_error(AFM_ERR_FORMAT, "tokenizer: merge %d is neither \"a b\" nor [\"a\", \"b\"]", t->n_merges);
        if (s != AFM_OK) return afm_error_prefix(s, "%s", what);
    }
    return AFM_OK;
}

/* Creates the tokenizer from a {piece: id} object plus added tokens: n_vocab = largest id + 1;
 * ids nobody names become "[PAD<id>]" tokens of type UNUSED (as llama.cpp's converter does). */
static afm_status vocab_from_json(const cJSON *vocab, const cJSON *added, afm_tok_kind kind, const char *what, afm_tokenizer **out) {
    if (!cJSON_IsObject(vocab)) return afm_error(AFM_ERR_FORMAT, "%s: vocabulary is not a JSON object", what);
    int64_t max_id = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (1 << 26) || e->valuedouble != floor(e->valuedouble))
            return afm_error(AFM_ERR_FORMAT, "%s: token '%.60s' has id %.60s, expected an integer in [0, 2^26)", what, e->string, cJSON_IsNumber(e) ? "out of range" : "that is not a number");
        if (e->valueint > max_id) max_id = e->valueint;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 26) || !cJSON_IsString(c))
            return afm_error(AFM_ERR_FORMAT, "%s: added token without an integer id in [0, 2^26) and a string content", what);
        if (id->valueint > max_id) max_id = id->valueint;
    }
    if (max_id < 0) return afm_error(AFM_ERR_FORMAT, "%s: empty vocabulary", what);
    int32_t n = (int32_t)max_id + 1;
    afm_tokenizer *t;
    AFM_TRY(tok_new(kind, n, &t));
    *out = t;
    uint8_t *set = calloc((size_t)n, 1);
    if (!set) return afm_error(AFM_ERR_NOMEM, "tokenizer: out of memory");
    afm_status s = AFM_OK;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = e->valueint;
        if (set[id]) { s = afm_error(AFM_ERR_FORMAT, "%s: id %d is given to two tokens (second: '%.60s')", what, id, e->string); break; }
        set[id] = 1;
        s = tok_set_piece(t, id, e->string, strlen(e->string));
        if (s != AFM_OK) break;
    }
    cJSON_ArrayForEach(e, added) {
        if (s != AFM_OK) break;
        int32_t id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        const char *c = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        if (!set[id]) { s = tok_set_piece(t, id, c, strlen(c)); set[id] = 1; }
        t->types[id] = flag(e, "special", false) ? AFM_TOKTYPE_CONTROL : AFM_TOKTYPE_USER_DEFINED;
    }
    for (int32_t id = 0; id < n && s == AFM_OK; id++) {
        if (set[id]) continue;
        char pad[32];
        int l = snprintf(pad, sizeof pad, "[PAD%d]", id);
        s = tok_set_piece(t, id, pad, (size_t)l);
        t->types[id] = AFM_TOKTYPE_UNUSED;
    }
    free(set);
    return s;
}

static int32_t id_of(const afm_tokenizer *t, const char *s) { return s ? tok_lookup(t, s, strlen(s)) : -1; }

static afm_status from_tokenizer_json(const cJSON *root, const char *what, afm_tokenizer **out) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (cJSON_IsString(mtype) && strcmp(mtype->valuestring, "BPE"))
        return afm_error(AFM_ERR_UNSUPPORTED, "%s: tokenizer model type '%.40s' is not supported (expected BPE)", what, mtype->valuestring);
    bool byte_fallback = flag(model, "byte_fallback", false);
    afm_tok_kind kind = byte_fallback ? AFM_TOK_SPM : AFM_TOK_BYTELEVEL;
    afm_pretok pre = AFM_PRETOK_NONE;
    if (kind == AFM_TOK_BYTELEVEL) AFM_TRY(pretok_of(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), what, &pre));
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    AFM_TRY(vocab_from_json(cJSON_GetObjectItemCaseSensitive(model, "vocab"), added, kind, what, out));
    afm_tokenizer *t = *out;
    AFM_TRY(tok_index(t));
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return afm_error(AFM_ERR_FORMAT, "%s: model.merges is missing or not an array", what);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    t->unk = cJSON_IsString(unk) ? id_of(t, unk->valuestring) : -1;
    if (kind == AFM_TOK_BYTELEVEL) {
        AFM_TRY(add_merges(t, merges, what));
        t->pretok = pre;
        t->byte_unk = t->unk;
        t->ignore_merges = flag(model, "ignore_merges", false);
    } else {
        /* SPM-style: score = -(rank of the first merge producing the token); other tokens rank last */
        for (int32_t i = 0; i < t->n_vocab; i++) t->scores[i] = -1e30f;
        AFM_TRY(add_merges(t, merges, what));
        for (int32_t r = t->n_merges - 1; r >= 0; r--) t->scores[t->merges[3 * r + 2]] = -(float)r;
        free(t->merges); /* SPM merges by score */
        t->merges = NULL;
        t->n_merges = t->merges_cap = 0;
        for (int32_t i = 0; i < t->n_vocab; i++) {
            const char *p = tok_piece(t, i);
            if (t->piece_len[i] == 6 && !memcmp(p, "<0x", 3) && p[5] == '>' && t->types[i] == AFM_TOKTYPE_NORMAL) t->types[i] = AFM_TOKTYPE_BYTE;
        }
        if (t->unk >= 0 && t->types[t->unk] != AFM_TOKTYPE_CONTROL) t->types[t->unk] = AFM_TOKTYPE_UNKNOWN;
        t->add_space_prefix = true;
        t->bos = id_of(t, "<s>");
        t->eos = id_of(t, "</s>");
        t->add_bos = t->bos >= 0;
    }
    if (kind == AFM_TOK_BYTELEVEL) {
        /* conventional names of the document markers */
        static const char *const bos_names[] = {"<|begin_of_text|>", "<|endoftext|>", "<s>", "<|im_start|>"};
        static const char *const eos_names[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|im_end|>"};
        for (size_t i = 0; i < 4 && t->bos < 0; i++) t->bos = id_of(t, bos_names[i]);
        for (size_t i = 0; i < 4 && t->eos < 0; i++) t->eos = id_of(t, eos_names[i]);
    }
    return tok_finish(t);
}

afm_status tok_load_hf_json(const char *json, size_t len, const char *what, afm_tokenizer **out) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return afm_error(AFM_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", what, (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0));
    afm_status s;
    if (!cJSON_IsObject(root)) s = afm_error(AFM_ERR_FORMAT, "%s: expected a JSON object", what);
    else if (!cJSON_GetObjectItemCaseSensitive(root, "model"))
        s = afm_error(AFM_ERR_INVALID_ARG, "%s: no \"model\" object, so not a tokenizer.json; a GPT-2 vocab.json needs its merges file (--merges)", what);
    else s = from_tokenizer_json(root, what, out);
    cJSON_Delete(root);
    if (s != AFM_OK) { afm_tokenizer_free(*out); *out = NULL; }
    return s;
}

/* GPT-2 files: vocab.json {piece: id}; merges.txt one "a b" per line, an optional first line
 * "#version: ..."; "<|endoftext|>" becomes a control token and both BOS and EOS. */
afm_status tok_load_gpt2_files(const char *vocab_path, const char *merges_path, afm_tokenizer **out) {
    *out = NULL;
    char *vj = NULL, *mt = NULL;
    size_t vlen, mlen;
    AFM_TRY(afm_read_file(vocab_path, &vj, &vlen));
    afm_status s = afm_read_file(merges_path, &mt, &mlen);
    if (s != AFM_OK) { free(vj); return s; }
    cJSON *root = cJSON_ParseWithLength(vj, vlen);
    afm_tokenizer *t = NULL;
    if (!root) s = afm_error(AFM_ERR_FORMAT, "%s: not valid JSON", vocab_path);
    else s = vocab_from_json(root, NULL, AFM_TOK_BYTELEVEL, vocab_path, &t);
    if (s == AFM_OK) s = tok_index(t);
    size_t line_no = 0;
    for (size_t i = 0; s == AFM_OK && i < mlen;) {
        size_t j = i;
        while (j < mlen && mt[j] != '\n') j++;
        size_t e = j;
        if (e > i && mt[e - 1] == '\r') e--;
        line_no++;
        if (e > i && !(line_no == 1 && mt[i] == '#')) {
            s = tok_add_merge_line(t, mt + i, e - i);
            if (s != AFM_OK) afm_error_prefix(s, "%s:%zu", merges_path, line_no);
        }
        i = j + 1;
    }
    if (s == AFM_OK) {
        t->pretok = AFM_PRETOK_GPT2;
        int32_t eot = tok_lookup(t, "<|endoftext|>", 13);
        if (eot >= 0) { t->types[eot] = AFM_TOKTYPE_CONTROL; t->bos = t->eos = eot; }
        s = tok_finish(t);
    }
    cJSON_Delete(root);
    free(vj);
    free(mt);
    if (s != AFM_OK) { afm_tokenizer_free(t); return s; }
    *out = t;
    return AFM_OK;
}
