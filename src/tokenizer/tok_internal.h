/* Internal layout of afm_tokenizer, shared by the loaders, the encoders and the decoder.
 * Loaders call tok_new, set every piece, type and score, call tok_index, add merges (byte-level)
 * and call tok_finish, which derives everything else. */
#ifndef AFM_TOKENIZER_TOK_INTERNAL_H
#define AFM_TOKENIZER_TOK_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "tokenizer/tokenizer.h"
#include "tokenizer/pretok.h"

/* Open-addressing map from byte strings (pieces in the tokenizer's arena) to token ids. */
typedef struct tok_strmap {
    int32_t *slots; /* token id or -1 */
    uint32_t mask;
} tok_strmap;

/* Open-addressing map from an adjacent pair (left id, right id) to its merge: a slot holds the
 * merge's rank r (-1: empty) and the pair is checked against merges[3r], merges[3r + 1]. Four
 * bytes a slot instead of a (key, rank, result) copy of each merge: 1.5 MiB less resident memory
 * for SmolLM2's 48,900 merges. */
typedef struct tok_mergemap {
    int32_t *slots;
    uint32_t mask;
} tok_mergemap;

/* Slot hash of the pair (a, b). */
static inline uint32_t tok_pair_hash(int32_t a, int32_t b) {
    uint64_t x = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Special tokens matched in text, bucketed by first byte, longest first within a bucket. */
typedef struct tok_specials {
    int32_t *ids;           /* all matchable ids, grouped by first byte */
    uint32_t start[257];    /* bucket b is ids[start[b] .. start[b+1]) */
    uint64_t first_byte[4]; /* bitset of bytes that begin some special token */
    int n;
} tok_specials;

enum { TOK_ATTR_EOG = 1, TOK_ATTR_BYTES_ARE_PIECE = 2 };

struct afm_tokenizer {
    afm_tok_kind kind;
    afm_pretok pretok;
    int32_t n_vocab;
    uint64_t serial; /* unique per tokenizer: keys the per-thread word cache */

    /* pieces as stored in the vocabulary (byte-level: GPT-2 alphabet; SPM: with U+2581) */
    char *piece_arena;
    size_t piece_used, piece_cap;
    uint32_t *piece_off, *piece_len; /* arena offsets; each piece is NUL-terminated there */
    int32_t *types;
    float *scores;      /* SPM: merge priority (higher first); NULL for byte-level */
    uint8_t *attr;      /* TOK_ATTR_* */

    /* raw bytes of each token as it appears in text (derived by tok_finish; read them with
     * tok_bytes / tok_bytes_len). A token whose bytes are its piece (attr TOK_ATTR_BYTES_ARE_PIECE:
     * control and user-defined tokens, byte-level pieces of printable ASCII, SPM pieces without
     * U+2581) is read from the piece arena; the others' bytes lie end to end in bytes_arena, token
     * id's at [bytes_off[id], bytes_off[id + 1]). No second copy of the pieces that need no
     * conversion (a byte-level vocabulary of special tokens was two copies of 754 KiB). */
    char *bytes_arena;
    uint32_t *bytes_off; /* (n_vocab + 1) */
    uint32_t max_token_bytes;

    tok_strmap piece_map;
    tok_mergemap merge_map;
    int32_t *merges;     /* byte-level: n_merges triples (left id, right id, merged id) in rank order */
    int32_t n_merges, merges_cap;
    int32_t byte_tok[256]; /* byte-level: token of each byte's GPT-2 character; SPM: <0xNN>; -1 */
    tok_specials specials;

    int32_t bos, eos, eot, eom, unk, pad;
    int32_t byte_unk;   /* byte-level: token for a byte missing from the alphabet (HF BPE unk_token),
                         * -1: such bytes are dropped, as HF does without unk_token */
    bool add_bos, add_eos, add_space_prefix;
    bool ignore_merges; /* byte-level: a word that is itself a token is not merged (Llama 3) */
    bool split_digits;  /* SPM: digits 0-9 never merge with anything */
    char *chat_template;
};

afm_status tok_new(afm_tok_kind kind, int32_t n_vocab, afm_tokenizer **out);
/* Sets token id's piece (copied). Every id must be set once before tok_index. */
afm_status tok_set_piece(afm_tokenizer *t, int32_t id, const char *s, size_t len);
/* Builds the piece -> id map (the first id wins for duplicate pieces). */
afm_status tok_index(afm_tokenizer *t);
/* Adds the merge of rank n_merges: "left right" pieces (byte-level). Unknown pieces or a merged
 * piece absent from the vocabulary are errors naming the merge. */
afm_status tok_add_merge(afm_tokenizer *t, const char *left, size_t llen, const char *right, size_t rlen);
/* "left right" split at the first space at position >= 1 (GGUF and merges.txt convention). */
afm_status tok_add_merge_line(afm_tokenizer *t, const char *line, size_t len);
/* Derives byte tables, token bytes, specials, end-of-generation flags. */
afm_status tok_finish(afm_tokenizer *t);

int32_t tok_lookup(const afm_tokenizer *t, const char *s, size_t len);
static inline const char *tok_piece(const afm_tokenizer *t, int32_t id) { return t->piece_arena + t->piece_off[id]; }
static inline const char *tok_bytes(const afm_tokenizer *t, int32_t id) {
    return t->attr[id] & TOK_ATTR_BYTES_ARE_PIECE ? tok_piece(t, id) : t->bytes_arena + t->bytes_off[id];
}
static inline size_t tok_bytes_len(const afm_tokenizer *t, int32_t id) {
    return t->attr[id] & TOK_ATTR_BYTES_ARE_PIECE ? t->piece_len[id] : t->bytes_off[id + 1] - t->bytes_off[id];
}

uint64_t tok_hash(const void *data, size_t len);

/* GPT-2 byte <-> character mapping: the printable bytes 33..126, 161..172, 174..255 stand for
 * themselves; the other 68 bytes, in increasing order, become U+0100..U+0143. */
static inline uint32_t tok_gpt2_byte_cp(unsigned b) {
    if (b <= 32) return 256 + b;
    if (b >= 127 && b <= 160) return 289 + (b - 127);
    if (b == 173) return 323;
    return b;
}
static inline int tok_gpt2_cp_byte(uint32_t cp) { /* -1 if cp is not in the alphabet */
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 289 + 127);
    if (cp == 323) return 173;
    return -1;
}

/* Encoders for one raw text fragment (no special tokens inside); append to a growable vector. */
typedef struct tok_vec { int32_t *v; size_t n, cap; } tok_vec;
afm_status tok_vec_push(tok_vec *v, int32_t id);
afm_status tok_vec_append(tok_vec *v, const int32_t *ids, size_t n);
afm_status tok_encode_bytelevel(const afm_tokenizer *t, const char *text, size_t len, tok_vec *out);
afm_status tok_encode_spm(const afm_tokenizer *t, const char *text, size_t len, bool prefix_space, tok_vec *out);

/* Loaders of particular formats (afm_tokenizer_load dispatches). */
afm_status tok_load_hf_json(const char *json, size_t len, const char *what, afm_tokenizer **out);
afm_status tok_load_gpt2_files(const char *vocab_path, const char *merges_path, afm_tokenizer **out);
afm_status tok_load_llama2c_memory(const unsigned char *data, size_t size, int32_t vocab_size, const char *what, afm_tokenizer **out);
#endif
