/* Token data for training: binary token shards, a data folder made of named sources, and a
 * deterministic sampler with mixtures and a held-out validation split.
 *
 * Shard file (little-endian), one per source: DIR/<source>.tok
 *   char magic[8] "AFMSHRD1"; u32 version (1); u32 token_bytes (2 or 4); u64 n_tokens; u64 n_docs;
 *   u64 vocab_hash; u32 n_vocab; u32 reserved (0); then n_tokens token ids; then n_docs u64
 *   document start offsets (ascending, first 0). Documents are packed back to back, each
 *   followed by the tokenizer's EOS (when it has one) as separator (BOS first when the tokenizer
 *   wants one).
 * DIR/tokenizer.gguf holds the tokenizer (tokenizer.* keys); DIR/data.json lists the sources:
 *   {"version": 1, "vocab_hash": "<16 hex>", "n_vocab": V, "sources": {"name": {"file": "name.tok",
 *    "tokens": N, "docs": D, "inputs": [...]}}}
 * vocab_hash is FNV-1a 64 over the vocabulary's pieces and types, so a shard made with another
 * tokenizer is refused. */
#ifndef AFM_TRAIN_DATA_H
#define AFM_TRAIN_DATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "afm/status.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "tokenizer/tokenizer.h"

uint64_t afm_vocab_hash(const afm_tokenizer *t);

/* Tokenizes files into DIR/<source>.tok and registers the source in DIR/data.json (creating DIR,
 * tokenizer.gguf and data.json on first use; later sources must use the same tokenizer).
 * *.jsonl: one document per line, its "text" field; any other file: one document. Files are
 * tokenized in parallel on the pool; the shard is the same for any thread count. */
afm_status afm_data_prepare(afm_pool *pool, const afm_tokenizer *tok, const char *dir, const char *source,
                            const char *const *files, int n_files, uint64_t *n_tokens, uint64_t *n_docs);

typedef struct afm_data afm_data;

/* Opens DIR: reads data.json and maps every shard, checking magic, version, sizes, document
 * offsets, token ids < n_vocab and the vocabulary hash. */
afm_status afm_data_open(const char *dir, afm_data **out);
void afm_data_close(afm_data *d);
int32_t afm_data_n_vocab(const afm_data *d);
int afm_data_n_sources(const afm_data *d);
const char *afm_data_source_name(const afm_data *d, int i);
uint64_t afm_data_source_tokens(const afm_data *d, int i);
int afm_data_find_source(const afm_data *d, const char *name); /* -1 if absent */

/* The last val_fraction of every source's token stream (at least one window of T+1 tokens when
 * the source is long enough) is held out for validation; training windows never overlap it. */
afm_status afm_data_set_split(afm_data *d, double val_fraction, int T);

/* One training batch: b rows of T+1 tokens, row r from source i with probability weights[i]
 * (normalized; n_weights = number of sources), at a uniform random start inside the training
 * part. Inputs x (b, T) and targets y (b, T) = the window shifted by one. Deterministic in rng. */
afm_status afm_data_sample(const afm_data *d, afm_rng *rng, const double *weights, int b, int T, int32_t *x, int32_t *y);
/* Validation batch k (deterministic, independent of training): consecutive windows of the
 * held-out parts, sources in turn. Returns AFM_ERR_RANGE when no source has a validation part. */
afm_status afm_data_val_batch(const afm_data *d, int k, int b, int T, int32_t *x, int32_t *y);
#endif
