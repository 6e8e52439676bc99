/* Trained vocabulary -> afm_tokenizer, vocab-only GGUF, HF tokenizer.json (+ vocab.json and
 * merges.txt for byte-level).
 *
 * Conventions written (and read back the same way by afm's loaders and HF tokenizers):
 *   byte-level: pieces in the GPT-2 alphabet; pre-tokenizer ByteLevel(use_regex) for gpt2,
 *     Digits(individual)+ByteLevel for smollm, Split(regex, Isolated)+ByteLevel(no regex) for
 *     llama3 / qwen2; BOS/EOS found by their conventional names (<|endoftext|>, <s>, ...).
 *   SPM style: "▁" for spaces with a "▁" prepended, <0xNN> byte fallback, score of a merged token
 *     = -(rank of the first merge producing it), other tokens -1e30; <unk>/<s>/</s> are the
 *     unknown/BOS/EOS tokens when they are among the special tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "tokenizer/bpe_train.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "formats/gguf.h"
#include "base/error.h"
#include "base/file.h"

static const char *const k_llama3_re =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const k_qwen2_re =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

afm_status afm_bpe_vocab_piece(const afm_bpe_vocab *v, int32_t id, char **piece, size_t *len) {
    if (id < 0 || id >= v->n_tokens) return afm_error(AFM_ERR_RANGE, "bpe vocab: token id %d out of range [0, %d)", id, v->n_tokens);
    const unsigned char *b = (const unsigned char *)v->arena + v->off[id];
    size_t n = v->len[id];
    bool mapped = v->style == AFM_BPE_BYTELEVEL && v->types[id] == AFM_TOKTYPE_NORMAL;
    char *p = malloc(mapped ? 2 * n + 1 : n + 1);
    if (!p) return afm_error(AFM_ERR_NOMEM, "bpe vocab: out of memory");
    size_t o = 0;
    if (mapped)
        for (size_t i = 0; i < n; i++) o += (size_t)afm_utf8_encode(tok_gpt2_byte_cp(b[i]), p + o);
    else {
        memcpy(p, b, n);
        o = n;
    }
    p[o] = 0;
    *piece = p;
    *len = o;
    return AFM_OK;
}

/* All pieces, NUL-terminated, in one malloc'd array of strings (free each, then the array). */
static afm_status all_pieces(const afm_bpe_vocab *v, char ***out) {
    char **p = calloc((size_t)v->n_tokens, sizeof *p);
    if (!p) return afm_error(AFM_ERR_NOMEM, "bpe vocab: out of memory");
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t l;
        afm_status s = afm_bpe_vocab_piece(v, i, &p[i], &l);
        if (s != AFM_OK) {
            for (int32_t k = 0; k < i; k++) free(p[k]);
            free(p);
            return s;
        }
    }
    *out = p;
    return AFM_OK;
}

static void free_pieces(char **p, int32_t n) {
    if (!p) return;
    for (int32_t i = 0; i < n; i++) free(p[i]);
    free(p);
}

static int32_t find_special(const afm_bpe_vocab *v, const char *const *names, size_t n) {
    for (size_t k = 0; k < n; k++)
        for (int32_t i = 0; i < v->n_specials; i++)
            if (v->len[i] == strlen(names[k]) && !memcmp(v->arena + v->off[i], names[k], v->len[i])) return i;
    return -1;
}

static const char *const k_bos_names[] = {"<|begin_of_text|>", "<|endoftext|>", "<s>", "<|im_start|>"};
static const char *const k_eos_names[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|im_end|>"};

static afm_status build(const afm_bpe_vocab *v, char **pieces, afm_tokenizer **out) {
    bool spm = v->style == AFM_BPE_SPM;
    afm_tokenizer *t;
    AFM_TRY(tok_new(spm ? AFM_TOK_SPM : AFM_TOK_BYTELEVEL, v->n_tokens, &t));
    *out = t;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        AFM_TRY(tok_set_piece(t, i, pieces[i], strlen(pieces[i])));
        t->types[i] = v->types[i];
    }
    AFM_TRY(tok_index(t));
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int32_t j = tok_lookup(t, pieces[i], strlen(pieces[i]));
        if (j != i)
            return afm_error(AFM_ERR_INVALID_ARG, "bpe vocab: tokens %d and %d are both '%.60s' (a special token equal to an alphabet piece?)", j, i, pieces[i]);
    }
    if (spm) {
        for (int32_t i = 0; i < v->n_tokens; i++) t->scores[i] = -1e30f;
        for (int32_t r = v->n_merges - 1; r >= 0; r--) t->scores[v->merges[3 * r + 2]] = -(float)r;
        static const char *const unk[] = {"<unk>"}, *const bos[] = {"<s>"}, *const eos[] = {"</s>"};
        t->unk = find_special(v, unk, 1);
        t->bos = find_special(v, bos, 1);
        t->eos = find_special(v, eos, 1);
        t->add_bos = t->bos >= 0;
        t->add_space_prefix = true;
        t->split_digits = v->split_digits;
    } else {
        for (int32_t r = 0; r < v->n_merges; r++) {
            const char *a = pieces[v->merges[3 * r]], *b = pieces[v->merges[3 * r + 1]];
            AFM_TRY(tok_add_merge(t, a, strlen(a), b, strlen(b)));
        }
        t->pretok = v->pretok;
        t->ignore_merges = v->pretok == AFM_PRETOK_LLAMA3;
        t->bos = find_special(v, k_bos_names, 4);
        t->eos = find_special(v, k_eos_names, 4);
    }
    return tok_finish(t);
}

afm_status afm_bpe_vocab_to_tokenizer(const afm_bpe_vocab *v, afm_tokenizer **out) {
    *out = NULL;
    char **pieces;
    AFM_TRY(all_pieces(v, &pieces));
    afm_tokenizer *t = NULL;
    afm_status s = build(v, pieces, &t);
    free_pieces(pieces, v->n_tokens);
    if (s != AFM_OK) { afm_tokenizer_free(t); return s; }
    *out = t;
    return AFM_OK;
}

afm_status afm_bpe_vocab_write_gguf(const afm_bpe_vocab *v, const char *path) {
    afm_tokenizer *t;
    AFM_TRY(afm_bpe_vocab_to_tokenizer(v, &t));
    afm_gguf_writer *w = NULL;
    afm_status s = afm_gguf_writer_create(&w);
    if (s == AFM_OK) s = afm_gguf_set_str(w, "general.name", v->style == AFM_BPE_SPM ? "afm-bpe-sentencepiece" : "afm-bpe-bytelevel");
    if (s == AFM_OK) s = afm_tokenizer_to_gguf(t, w);
    if (s == AFM_OK && v->style == AFM_BPE_SPM) {
        /* the GGUF reader's SPM defaults (unk 0, bos 1, eos 2) must not apply to absent tokens */
        struct { const char *key; int32_t id; } ids[] = {
            {"tokenizer.ggml.bos_token_id", t->bos}, {"tokenizer.ggml.eos_token_id", t->eos}, {"tokenizer.ggml.unknown_token_id", t->unk},
        };
        for (size_t i = 0; i < sizeof ids / sizeof ids[0] && s == AFM_OK; i++)
            if (ids[i].id < 0) s = afm_gguf_set_i32(w, ids[i].key, -1);
    }
    if (s == AFM_OK) s = afm_gguf_write(w, path);
    afm_gguf_writer_free(w);
    afm_tokenizer_free(t);
    return s;
}

/* ---------- HF files ---------- */

static cJSON *bytelevel_obj(bool use_regex) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", false);
    cJSON_AddBoolToObject(o, "trim_offsets", true);
    cJSON_AddBoolToObject(o, "use_regex", use_regex);
    return o;
}

static cJSON *pre_tokenizer_obj(const afm_bpe_vocab *v) {
    if (v->style == AFM_BPE_SPM) return cJSON_CreateNull();
    if (v->pretok == AFM_PRETOK_GPT2) return bytelevel_obj(true);
    cJSON *seq = cJSON_CreateObject();
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(seq, "pretokenizers");
    if (v->pretok == AFM_PRETOK_SMOLLM) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "type", "Digits");
        cJSON_AddBoolToObject(d, "individual_digits", true);
        cJSON_AddItemToArray(list, d);
        cJSON_AddItemToArray(list, bytelevel_obj(true));
    } else {
        cJSON *sp = cJSON_CreateObject();
        cJSON_AddStringToObject(sp, "type", "Split");
        cJSON *pat = cJSON_AddObjectToObject(sp, "pattern");
        cJSON_AddStringToObject(pat, "Regex", v->pretok == AFM_PRETOK_LLAMA3 ? k_llama3_re : k_qwen2_re);
        cJSON_AddStringToObject(sp, "behavior", "Isolated");
        cJSON_AddBoolToObject(sp, "invert", false);
        cJSON_AddItemToArray(list, sp);
        cJSON_AddItemToArray(list, bytelevel_obj(false));
    }
    return seq;
}

static cJSON *string_pattern(const char *type, const char *pattern, const char *content) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON *p = cJSON_AddObjectToObject(o, "pattern");
    cJSON_AddStringToObject(p, "String", pattern);
    cJSON_AddStringToObject(o, "content", content);
    return o;
}

static cJSON *spm_normalizer(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(o, "normalizers");
    cJSON *pre = cJSON_CreateObject();
    cJSON_AddStringToObject(pre, "type", "Prepend");
    cJSON_AddStringToObject(pre, "prepend", "\xE2\x96\x81");
    cJSON_AddItemToArray(list, pre);
    cJSON_AddItemToArray(list, string_pattern("Replace", " ", "\xE2\x96\x81"));
    return o;
}

static cJSON *decoder_obj(const afm_bpe_vocab *v) {
    if (v->style == AFM_BPE_BYTELEVEL) return bytelevel_obj(true);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(o, "decoders");
    cJSON_AddItemToArray(list, string_pattern("Replace", "\xE2\x96\x81", " "));
    cJSON *bf = cJSON_CreateObject();
    cJSON_AddStringToObject(bf, "type", "ByteFallback");
    cJSON_AddItemToArray(list, bf);
    cJSON *fu = cJSON_CreateObject();
    cJSON_AddStringToObject(fu, "type", "Fuse");
    cJSON_AddItemToArray(list, fu);
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "type", "Strip");
    cJSON_AddStringToObject(st, "content", " ");
    cJSON_AddNumberToObject(st, "start", 1);
    cJSON_AddNumberToObject(st, "stop", 0);
    cJSON_AddItemToArray(list, st);
    return o;
}

static cJSON *vocab_obj(const afm_bpe_vocab *v, char **pieces) {
    cJSON *o = cJSON_CreateObject();
    for (int32_t i = 0; o && i < v->n_tokens; i++) {
        cJSON *n = cJSON_CreateNumber(i);
        if (!n) { cJSON_Delete(o); return NULL; }
        cJSON_AddItemToObject(o, pieces[i], n);
    }
    return o;
}

static cJSON *tokenizer_json(const afm_bpe_vocab *v, char **pieces) {
    bool spm = v->style == AFM_BPE_SPM;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int32_t i = 0; i < v->n_specials; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", pieces[i]);
        cJSON_AddBoolToObject(a, "single_word", false);
        cJSON_AddBoolToObject(a, "lstrip", false);
        cJSON_AddBoolToObject(a, "rstrip", false);
        cJSON_AddBoolToObject(a, "normalized", false);
        cJSON_AddBoolToObject(a, "special", true);
        cJSON_AddItemToArray(added, a);
    }
    if (spm) cJSON_AddItemToObject(root, "normalizer", spm_normalizer());
    else cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", pre_tokenizer_obj(v));
    cJSON_AddNullToObject(root, "post_processor");
    cJSON_AddItemToObject(root, "decoder", decoder_obj(v));
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    static const char *const unk_name[] = {"<unk>"};
    int32_t unk = spm ? find_special(v, unk_name, 1) : -1;
    if (unk >= 0) cJSON_AddStringToObject(m, "unk_token", pieces[unk]);
    else cJSON_AddNullToObject(m, "unk_token");
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddBoolToObject(m, "fuse_unk", spm);
    cJSON_AddBoolToObject(m, "byte_fallback", spm);
    cJSON_AddBoolToObject(m, "ignore_merges", !spm && v->pretok == AFM_PRETOK_LLAMA3);
    cJSON_AddItemToObject(m, "vocab", vocab_obj(v, pieces));
    cJSON *merges = cJSON_AddArrayToObject(m, "merges");
    for (int32_t r = 0; merges && r < v->n_merges; r++) {
        const char *pair[2] = {pieces[v->merges[3 * r]], pieces[v->merges[3 * r + 1]]};
        cJSON_AddItemToArray(merges, cJSON_CreateStringArray(pair, 2));
    }
    return root;
}

static afm_status write_text(const char *path, const char *text, size_t len) {
    afm_atomic_file af;
    AFM_TRY(afm_atomic_open(path, &af));
    if (fwrite(text, 1, len, af.f) != len) {
        afm_atomic_abort(&af);
        return afm_error(AFM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    return afm_atomic_commit(&af);
}

static afm_status write_json(const char *path, cJSON *j) {
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    if (!txt) return afm_error(AFM_ERR_NOMEM, "bpe vocab: out of memory building '%s'", path);
    afm_status s = write_text(path, txt, strlen(txt));
    cJSON_free(txt);
    return s;
}

static afm_status write_merges_txt(const afm_bpe_vocab *v, char **pieces, const char *path) {
    size_t total = 16;
    for (int32_t r = 0; r < v->n_merges; r++) total += strlen(pieces[v->merges[3 * r]]) + strlen(pieces[v->merges[3 * r + 1]]) + 2;
    char *buf = malloc(total);
    if (!buf) return afm_error(AFM_ERR_NOMEM, "bpe vocab: out of memory");
    size_t o = (size_t)sprintf(buf, "#version: 0.2\n");
    for (int32_t r = 0; r < v->n_merges; r++)
        o += (size_t)sprintf(buf + o, "%s %s\n", pieces[v->merges[3 * r]], pieces[v->merges[3 * r + 1]]);
    afm_status s = write_text(path, buf, o);
    free(buf);
    return s;
}

afm_status afm_bpe_vocab_write_hf(const afm_bpe_vocab *v, const char *dir) {
    if (!afm_is_dir(dir) && mkdir(dir, 0777) != 0 && errno != EEXIST)
        return afm_error(AFM_ERR_IO, "cannot create folder '%s': %s", dir, strerror(errno));
    if (!afm_is_dir(dir)) return afm_error(AFM_ERR_IO, "'%s' exists and is not a folder", dir);
    char **pieces;
    AFM_TRY(all_pieces(v, &pieces));
    size_t dl = strlen(dir);
    char *path = malloc(dl + 32);
    afm_status s = path ? AFM_OK : afm_error(AFM_ERR_NOMEM, "bpe vocab: out of memory");
    if (s == AFM_OK) {
        cJSON *j = tokenizer_json(v, pieces);
        sprintf(path, "%s/tokenizer.json", dir);
        s = write_json(path, j);
        cJSON_Delete(j);
    }
    if (s == AFM_OK && v->style == AFM_BPE_BYTELEVEL) {
        cJSON *j = vocab_obj(v, pieces);
        sprintf(path, "%s/vocab.json", dir);
        s = write_json(path, j);
        cJSON_Delete(j);
        sprintf(path, "%s/merges.txt", dir);
        if (s == AFM_OK) s = write_merges_txt(v, pieces, path);
    }
    free(path);
    free_pieces(pieces, v->n_tokens);
    return s;
}
