/* BPE training: byte-level (GPT-2 alphabet, regex pre-tokenizer) and SentencePiece-style ("▁" for
 * spaces, <0xNN> byte fallback, optional digit splitting, score = -merge rank).
 *
 * Pipeline: text -> words (pre-tokens) counted in a hash map while the files stream by (the corpus
 * is never held; memory grows with the number of distinct words) -> merge loop over the distinct
 * words -> vocabulary + merges -> afm_tokenizer / GGUF / HF tokenizer.json.
 *
 * Merge order is HF tokenizers' BpeTrainer's: at each step the pair with the highest count is
 * merged; ties go to the pair whose (left id, right id) is smallest, where ids are: special tokens
 * in the order given, then the alphabet sorted by code point (byte-level: the GPT-2 character of
 * each byte), then merged tokens in creation order. AFM_BPE_TIES_BYTES_MAX instead prefers the
 * lexicographically greatest (left bytes, right bytes) pair (Stanford CS336's reference trainer).
 * Counts follow BpeTrainer exactly, including its one quirk: a merged pair's own count is not
 * reduced by the occurrences it merged (this matters only when a later merge re-creates a token
 * string that already exists). */
#ifndef AFM_TOKENIZER_BPE_TRAIN_H
#define AFM_TOKENIZER_BPE_TRAIN_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "afm/status.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/pretok.h"

typedef enum afm_bpe_style { AFM_BPE_BYTELEVEL = 0, AFM_BPE_SPM = 1 } afm_bpe_style;
typedef enum afm_bpe_ties { AFM_BPE_TIES_HF = 0, AFM_BPE_TIES_BYTES_MAX = 1 } afm_bpe_ties;

/* Progress of a phase: phase is "count" (done/total in bytes of input) or "merge" (merges). */
typedef void (*afm_bpe_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

typedef struct afm_bpe_train_opts {
    afm_bpe_style style;
    afm_pretok pretok;         /* byte-level words; SPM style ignores it */
    int32_t vocab_size;        /* total, special tokens and alphabet included */
    const char *const *specials; /* added first, in this order; split out of the text, never merged */
    int n_specials;
    bool split_digits;         /* SPM: every digit 0-9 stays a token of its own */
    afm_bpe_ties ties;
    uint64_t min_frequency;    /* stop when the best pair occurs fewer times (0 or 1: no limit) */
    int32_t limit_alphabet;    /* SPM: keep only the most frequent characters (0: all) */
    double char_coverage;      /* SPM: keep the most frequent characters that cover this fraction
                                * of all character occurrences, like SentencePiece's
                                * character_coverage (0 or >= 1: all); the rest fall back to bytes */
    const char *jsonl_field;   /* JSONL files: the string field holding the text (NULL: "text") */
    int n_threads;             /* counting threads (<= 0: 2) */
    afm_bpe_progress_fn progress;
    void *progress_ctx;
} afm_bpe_train_opts;

/* ---- word counts ---- */
typedef struct afm_bpe_counts afm_bpe_counts;
afm_status afm_bpe_counts_create(afm_bpe_counts **out);
void afm_bpe_counts_free(afm_bpe_counts *c);
/* Adds n occurrences of the word w[0..len). */
afm_status afm_bpe_counts_add(afm_bpe_counts *c, const char *w, size_t len, uint64_t n);
/* Adds every word of src to dst. */
afm_status afm_bpe_counts_merge(afm_bpe_counts *dst, const afm_bpe_counts *src);
size_t afm_bpe_counts_size(const afm_bpe_counts *c); /* distinct words */
uint64_t afm_bpe_counts_total(const afm_bpe_counts *c); /* all occurrences */
/* i-th distinct word (insertion order) and its count; false if i is out of range. */
bool afm_bpe_counts_get(const afm_bpe_counts *c, size_t i, const char **w, size_t *len, uint64_t *n);

/* Splits one unit of text (a line of a text file, or one JSONL document) into words and counts
 * them: special tokens are cut out first; byte-level words come from opts->pretok; SPM words are
 * "▁"-prefixed runs (see bpe_train_words.c). */
afm_status afm_bpe_count_text(afm_bpe_counts *c, const afm_bpe_train_opts *o, const char *text, size_t len);

/* Streams the files (plain text: every line with its line ending is one unit, as HF tokenizers'
 * train(files) reads them; *.jsonl: each non-blank line is a JSON object whose opts->jsonl_field
 * string is one unit) and counts their words on opts->n_threads threads into c. */
afm_status afm_bpe_count_files(afm_bpe_counts *c, const afm_bpe_train_opts *o, const char *const *paths, int n_paths);

/* ---- training result ---- */
typedef struct afm_bpe_vocab {
    afm_bpe_style style;
    afm_pretok pretok;
    bool split_digits;
    int32_t n_tokens, n_specials;
    char *arena;              /* token bytes: byte-level raw bytes; SPM UTF-8 with "▁" and <0xNN> */
    uint32_t *off, *len;
    int32_t *types;           /* AFM_TOKTYPE_* */
    int32_t n_merges;
    int32_t *merges;          /* (left, right, result) per merge, in rank order */
} afm_bpe_vocab;

/* Runs the merge loop on the counted words. */
afm_status afm_bpe_train(const afm_bpe_counts *c, const afm_bpe_train_opts *o, afm_bpe_vocab **out);
void afm_bpe_vocab_free(afm_bpe_vocab *v);

/* Vocabulary piece of token id as stored in files (byte-level: bytes mapped to the GPT-2
 * alphabet); malloc'd, NUL-terminated. */
afm_status afm_bpe_vocab_piece(const afm_bpe_vocab *v, int32_t id, char **piece, size_t *len);

/* Builds a tokenizer that encodes with the trained vocabulary. */
afm_status afm_bpe_vocab_to_tokenizer(const afm_bpe_vocab *v, afm_tokenizer **out);
/* Writes a vocab-only GGUF (tokenizer.ggml.* keys, no tensors). */
afm_status afm_bpe_vocab_write_gguf(const afm_bpe_vocab *v, const char *path);
/* Writes dir/tokenizer.json, and for byte-level also dir/vocab.json and dir/merges.txt; dir is
 * created if missing. */
afm_status afm_bpe_vocab_write_hf(const afm_bpe_vocab *v, const char *dir);
#endif
