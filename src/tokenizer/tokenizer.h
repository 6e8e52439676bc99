/* Tokenizers: byte-level BPE (GPT-2 byte-to-unicode alphabet, merges by rank, regex
 * pre-tokenizer) and SentencePiece-style BPE (scores, "▁" for spaces, <0xNN> byte fallback,
 * optional digit splitting). Loaded from GGUF tokenizer.ggml.* keys, HF tokenizer.json,
 * GPT-2 vocab.json + merges.txt, or llama2.c tokenizer.bin.
 *
 * A loaded tokenizer is immutable: any number of threads may encode and decode with it at once
 * (byte-level encoding keeps a word cache per thread, a few MB, freed when the thread exits).
 * Details and the exactness conventions: src/tokenizer/README.md. */
#ifndef AFM_TOKENIZER_TOKENIZER_H
#define AFM_TOKENIZER_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "afm/status.h"
#include "formats/gguf.h"

typedef struct afm_tokenizer afm_tokenizer;

typedef enum afm_tok_kind { AFM_TOK_BYTELEVEL = 0, AFM_TOK_SPM = 1 } afm_tok_kind;

/* GGUF token types */
enum { AFM_TOKTYPE_NORMAL = 1, AFM_TOKTYPE_UNKNOWN = 2, AFM_TOKTYPE_CONTROL = 3,
       AFM_TOKTYPE_USER_DEFINED = 4, AFM_TOKTYPE_UNUSED = 5, AFM_TOKTYPE_BYTE = 6 };

afm_status afm_tokenizer_from_gguf(const afm_gguf *g, afm_tokenizer **out);
afm_status afm_tokenizer_load_llama2c(const char *path, int32_t vocab_size, afm_tokenizer **out);
/* Any supported file: GGUF, tokenizer.json, llama2.c tokenizer.bin, or vocab.json (+ merges_path);
 * or an HF model folder holding tokenizer.json or vocab.json + merges.txt. */
afm_status afm_tokenizer_load(const char *path, const char *merges_path, afm_tokenizer **out);
void afm_tokenizer_free(afm_tokenizer *t);

/* Writes the tokenizer.ggml.* keys (model, pre, tokens, token_type, scores or merges, special
 * ids, add_bos) into a GGUF writer. */
afm_status afm_tokenizer_to_gguf(const afm_tokenizer *t, afm_gguf_writer *w);

afm_tok_kind afm_tokenizer_kind(const afm_tokenizer *t);
int32_t afm_tokenizer_n_vocab(const afm_tokenizer *t);
int32_t afm_tokenizer_bos(const afm_tokenizer *t);  /* -1 if none */
int32_t afm_tokenizer_eos(const afm_tokenizer *t);  /* -1 if none */
bool afm_tokenizer_add_bos(const afm_tokenizer *t); /* the model wants BOS prepended */
bool afm_tokenizer_is_eog(const afm_tokenizer *t, int32_t id); /* end of generation (eos, eot, <|im_end|>...) */
int32_t afm_tokenizer_find(const afm_tokenizer *t, const char *piece); /* -1 if absent */
const char *afm_tokenizer_chat_template(const afm_tokenizer *t); /* NULL if none */

/* Encodes text (len bytes, any bytes: invalid UTF-8 is encoded too). add_bos: prepend BOS if the
 * tokenizer has one. parse_special: match CONTROL token texts in the input (only when the caller
 * allows it); USER_DEFINED token texts always match (llama.cpp and HF added-token behaviour).
 * *ids is malloc'd (also when empty); the caller frees it. */
afm_status afm_tokenizer_encode(const afm_tokenizer *t, const char *text, size_t len, bool add_bos,
                                bool parse_special, int32_t **ids, size_t *n_ids);

/* Encodes a rendered chat prompt: special-token texts match as with parse_special (the template's
 * own markers), except in the n_plain byte ranges [plain[2k], plain[2k+1]) (sorted, disjoint: the
 * messages' text), which are read as with parse_special off: a CONTROL token text there is plain
 * text, and none may start before a range and reach into it. Tokenization is otherwise that of
 * afm_tokenizer_encode on the whole text. */
afm_status afm_tokenizer_encode_plain(const afm_tokenizer *t, const char *text, size_t len, bool add_bos,
                                      const size_t *plain, size_t n_plain, int32_t **ids, size_t *n_ids);

/* Raw bytes of one token as they appear in the text (byte-level: unmapped from the GPT-2
 * alphabet; SPM: "▁" -> " ", <0xNN> -> that byte; control tokens -> their text). */
afm_status afm_tokenizer_token_bytes(const afm_tokenizer *t, int32_t id, const char **bytes, size_t *len);
/* Stored piece string (as in the vocabulary) of a token; NULL if out of range. */
const char *afm_tokenizer_piece(const afm_tokenizer *t, int32_t id);
/* GGUF token type (AFM_TOKTYPE_*) of a token; -1 if out of range. */
int32_t afm_tokenizer_token_type(const afm_tokenizer *t, int32_t id);
/* Length of the longest token in bytes (sizes streaming-decoder buffers). */
uint32_t afm_tokenizer_max_token_bytes(const afm_tokenizer *t);

/* Decodes ids to bytes; *out malloc'd and NUL-terminated. skip_special: drop control tokens. */
afm_status afm_tokenizer_decode(const afm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                                char **out, size_t *out_len);

/* Streaming decoder: feed ids one at a time; emits only complete UTF-8 characters (an
 * incomplete multi-byte sequence waits for the next token; invalid bytes are emitted as is once
 * they cannot start a valid character). SPM: the leading space of the first token after BOS
 * is dropped, as SentencePiece/llama2.c do. */
typedef struct afm_detok_stream {
    const afm_tokenizer *tok;
    char pending[8];
    int n_pending;
    int32_t prev;
} afm_detok_stream;
void afm_detok_init(afm_detok_stream *s, const afm_tokenizer *t);
/* Appends the text that became complete to buf (cap bytes), returns bytes written (<= cap);
 * cap >= 64 is always enough for one token plus pending bytes if tokens are < 56 bytes. */
size_t afm_detok_push(afm_detok_stream *s, int32_t id, char *buf, size_t cap);
size_t afm_detok_flush(afm_detok_stream *s, char *buf, size_t cap);
#endif
