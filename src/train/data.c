/* Token shards, data folders and the sampler (see data.h). */
#include "train/data.h"
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { SHARD_HEADER = 48, MAX_SOURCES = 64 };
static const char SHARD_MAGIC[8] = {'A', 'F', 'M', 'S', 'H', 'R', 'D', '1'};

uint64_t afm_vocab_hash(const afm_tokenizer *t) {
    uint64_t h = 1469598103934665603ULL;
    int32_t n = afm_tokenizer_n_vocab(t);
    for (int32_t i = 0; i < n; i++) {
        const char *p = afm_tokenizer_piece(t, i);
        for (; p && *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ULL; }
        h ^= 0xffu; h *= 1099511628211ULL;                   /* piece separator */
        h ^= (uint64_t)(afm_tokenizer_token_type(t, i) & 0xff); h *= 1099511628211ULL;
    }
    return h;
}

/* ---------------- prepare ---------------- */
typedef struct tok_buf { int32_t *ids; size_t n, cap; uint64_t *docs; size_t n_docs, cap_docs; afm_status st; char err[512]; } tok_buf;

static int buf_push(tok_buf *b, const int32_t *ids, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        int32_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p) return -1;
        b->ids = p;
        b->cap = cap;
    }
    memcpy(b->ids + b->n, ids, n * sizeof *ids);
    b->n += n;
    return 0;
}

static int buf_doc(tok_buf *b) {
    if (b->n_docs == b->cap_docs) {
        size_t cap = b->cap_docs ? 2 * b->cap_docs : 64;
        uint64_t *p = realloc(b->docs, cap * sizeof *p);
        if (!p) return -1;
        b->docs = p;
        b->cap_docs = cap;
    }
    b->docs[b->n_docs++] = b->n;
    return 0;
}

static afm_status encode_doc(const afm_tokenizer *t, tok_buf *b, const char *text, size_t len) {
    int32_t *ids;
    size_t n;
    AFM_TRY(afm_tokenizer_encode(t, text, len, afm_tokenizer_add_bos(t), false, &ids, &n));
    int32_t eos = afm_tokenizer_eos(t);
    int bad = buf_doc(b) || buf_push(b, ids, n) || (eos >= 0 && buf_push(b, &eos, 1));
    free(ids);
    return bad ? afm_error(AFM_ERR_NOMEM, "out of memory tokenizing") : AFM_OK;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static afm_status encode_file(const afm_tokenizer *t, const char *path, tok_buf *b) {
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    afm_status st = AFM_OK;
    if (ends_with(path, ".jsonl")) {
        size_t line = 0;
        char *p = data, *end = data + size;
        while (p < end && st == AFM_OK) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *e = nl ? nl : end;
            line++;
            size_t len = (size_t)(e - p);
            bool blank = true;
            for (size_t i = 0; i < len; i++) if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') { blank = false; break; }
            if (!blank) {
                cJSON *j = cJSON_ParseWithLength(p, len);
                const cJSON *txt = cJSON_GetObjectItemCaseSensitive(j, "text");
                if (!j || !cJSON_IsString(txt))
                    st = afm_error(AFM_ERR_FORMAT, "%s line %zu: expected a JSON object with a string \"text\" field", path, line);
                else
                    st = encode_doc(t, b, txt->valuestring, strlen(txt->valuestring));
                cJSON_Delete(j);
            }
            p = e + 1;
        }
    } else {
        st = encode_doc(t, b, data, size);
    }
    free(data);
    return st;
}

typedef struct prep_ctx { const afm_tokenizer *tok; const char *const *files; tok_buf *bufs; int n; } prep_ctx;

static void prep_worker(void *p, int ith, int nth) {
    prep_ctx *c = p;
    for (int i = ith; i < c->n; i += nth) {
        c->bufs[i].st = encode_file(c->tok, c->files[i], &c->bufs[i]);
        if (c->bufs[i].st != AFM_OK) snprintf(c->bufs[i].err, sizeof c->bufs[i].err, "%s", afm_last_error());
    }
}

static afm_status mkdir_p(const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return afm_error(AFM_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
    if (!afm_is_dir(dir)) return afm_error(AFM_ERR_IO, "%s exists and is not a folder", dir);
    return AFM_OK;
}

static bool valid_source_name(const char *s) {
    if (!*s || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')) return false;
    return true;
}

static afm_status write_shard(const char *path, const tok_buf *all, int32_t n_vocab, uint64_t hash) {
    afm_atomic_file af;
    AFM_TRY(afm_atomic_open(path, &af));
    uint32_t version = 1, tb = n_vocab <= 65536 ? 2 : 4, n_vocab_u = (uint32_t)n_vocab, zero = 0;
    uint64_t nt = all->n, nd = all->n_docs;
    bool ok = fwrite(SHARD_MAGIC, 1, 8, af.f) == 8 && fwrite(&version, 4, 1, af.f) == 1 && fwrite(&tb, 4, 1, af.f) == 1 &&
              fwrite(&nt, 8, 1, af.f) == 1 && fwrite(&nd, 8, 1, af.f) == 1 && fwrite(&hash, 8, 1, af.f) == 1 &&
              fwrite(&n_vocab_u, 4, 1, af.f) == 1 && fwrite(&zero, 4, 1, af.f) == 1;
    for (size_t i = 0; ok && i < all->n; i++) {
        if (tb == 2) { uint16_t v = (uint16_t)all->ids[i]; ok = fwrite(&v, 2, 1, af.f) == 1; }
        else ok = fwrite(&all->ids[i], 4, 1, af.f) == 1;
    }
    if (ok && nd) ok = fwrite(all->docs, 8, all->n_docs, af.f) == all->n_docs;
    if (!ok) { afm_atomic_abort(&af); return afm_error(AFM_ERR_IO, "cannot write shard %s", path); }
    return afm_atomic_commit(&af);
}

static afm_status write_json(const char *path, const cJSON *j) {
    char *s = cJSON_Print(j);
    if (!s) return afm_error(AFM_ERR_NOMEM, "out of memory writing %s", path);
    afm_atomic_file af;
    afm_status st = afm_atomic_open(path, &af);
    if (st == AFM_OK) {
        if (fputs(s, af.f) < 0 || fputc('\n', af.f) < 0) { afm_atomic_abort(&af); st = afm_error(AFM_ERR_IO, "cannot write %s", path); }
        else st = afm_atomic_commit(&af);
    }
    free(s);
    return st;
}

afm_status afm_data_prepare(afm_pool *pool, const afm_tokenizer *tok, const char *dir, const char *source,
                            const char *const *files, int n_files, uint64_t *n_tokens, uint64_t *n_docs) {
    if (!valid_source_name(source)) return afm_error(AFM_ERR_INVALID_ARG, "source name '%s': use 1-64 letters, digits, '_' or '-'", source);
    if (n_files <= 0) return afm_error(AFM_ERR_INVALID_ARG, "no input files");
    AFM_TRY(mkdir_p(dir));
    uint64_t hash = afm_vocab_hash(tok);
    int32_t n_vocab = afm_tokenizer_n_vocab(tok);
    char path[4096], hexhash[17];
    snprintf(hexhash, sizeof hexhash, "%016" PRIx64, hash);
    /* an existing folder must have been made with the same tokenizer */
    snprintf(path, sizeof path, "%s/data.json", dir);
    cJSON *meta = NULL;
    if (afm_file_exists(path)) {
        char *js;
        size_t jl;
        AFM_TRY(afm_read_file(path, &js, &jl));
        meta = cJSON_ParseWithLength(js, jl);
        free(js);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(meta, "vocab_hash");
        if (!meta || !cJSON_IsString(h)) { cJSON_Delete(meta); return afm_error(AFM_ERR_FORMAT, "%s: not an afm data.json", path); }
        if (strcmp(h->valuestring, hexhash)) {
            cJSON_Delete(meta);
            return afm_error(AFM_ERR_INVALID_ARG, "%s was made with another tokenizer (vocabulary hash %s, this one %s)", dir, h->valuestring, hexhash);
        }
    } else {
        meta = cJSON_CreateObject();
        cJSON_AddNumberToObject(meta, "version", 1);
        cJSON_AddStringToObject(meta, "vocab_hash", hexhash);
        cJSON_AddNumberToObject(meta, "n_vocab", n_vocab);
        cJSON_AddStringToObject(meta, "tokenizer", "tokenizer.gguf");
        cJSON_AddObjectToObject(meta, "sources");
        snprintf(path, sizeof path, "%s/tokenizer.gguf", dir);
        afm_gguf_writer *w;
        afm_status st = afm_gguf_writer_create(&w);
        if (st == AFM_OK) st = afm_tokenizer_to_gguf(tok, w);
        if (st == AFM_OK) st = afm_gguf_write(w, path);
        afm_gguf_writer_free(w);
        if (st != AFM_OK) { cJSON_Delete(meta); return st; }
    }
    tok_buf *bufs = calloc((size_t)n_files, sizeof *bufs);
    if (!bufs) { cJSON_Delete(meta); return afm_error(AFM_ERR_NOMEM, "out of memory"); }
    prep_ctx c = {tok, files, bufs, n_files};
    afm_pool_run(pool, prep_worker, &c);
    afm_status st = AFM_OK;
    for (int i = 0; i < n_files && st == AFM_OK; i++)
        if (bufs[i].st != AFM_OK) st = afm_error(bufs[i].st, "%s", bufs[i].err);
    tok_buf all = {0};
    for (int i = 0; i < n_files && st == AFM_OK; i++) {
        uint64_t base = all.n;
        for (size_t d = 0; d < bufs[i].n_docs && st == AFM_OK; d++)
            if (buf_doc(&all)) st = afm_error(AFM_ERR_NOMEM, "out of memory");
            else all.docs[all.n_docs - 1] = base + bufs[i].docs[d];
        if (st == AFM_OK && buf_push(&all, bufs[i].ids, bufs[i].n)) st = afm_error(AFM_ERR_NOMEM, "out of memory");
    }
    if (st == AFM_OK && all.n == 0) st = afm_error(AFM_ERR_INVALID_ARG, "the input files hold no text");
    if (st == AFM_OK) {
        snprintf(path, sizeof path, "%s/%s.tok", dir, source);
        st = write_shard(path, &all, n_vocab, hash);
    }
    if (st == AFM_OK) {
        cJSON *sources = cJSON_GetObjectItemCaseSensitive(meta, "sources");
        cJSON_DeleteItemFromObjectCaseSensitive(sources, source);
        cJSON *s = cJSON_AddObjectToObject(sources, source);
        snprintf(path, sizeof path, "%s.tok", source);
        cJSON_AddStringToObject(s, "file", path);
        cJSON_AddNumberToObject(s, "tokens", (double)all.n);
        cJSON_AddNumberToObject(s, "docs", (double)all.n_docs);
        cJSON *in = cJSON_AddArrayToObject(s, "inputs");
        for (int i = 0; i < n_files; i++) cJSON_AddItemToArray(in, cJSON_CreateString(files[i]));
        snprintf(path, sizeof path, "%s/data.json", dir);
        st = write_json(path, meta);
    }
    if (n_tokens) *n_tokens = all.n;
    if (n_docs) *n_docs = all.n_docs;
    for (int i = 0; i < n_files; i++) { free(bufs[i].ids); free(bufs[i].docs); }
    free(bufs);
    free(all.ids);
    free(all.docs);
    cJSON_Delete(meta);
    return st;
}

/* ---------------- reading ---------------- */
typedef struct source {
    char name[72];
    afm_mmap map;
    const unsigned char *tokens;
    uint32_t tb;
    uint64_t n, n_train, n_val;
} source;

struct afm_data {
    int n;
    source src[MAX_SOURCES];
    int32_t n_vocab;
};

static inline int32_t tok_at(const source *s, uint64_t i) {
    if (s->tb == 2) { uint16_t v; memcpy(&v, s->tokens + 2 * i, 2); return v; }
    int32_t v;
    memcpy(&v, s->tokens + 4 * i, 4);
    return v;
}

static afm_status open_shard(source *s, const char *path, uint64_t hash, int32_t n_vocab) {
    AFM_TRY(afm_mmap_open(path, &s->map));
    const unsigned char *p = s->map.data;
    size_t size = s->map.size;
    if (size < SHARD_HEADER || memcmp(p, SHARD_MAGIC, 8)) return afm_error(AFM_ERR_FORMAT, "%s: not an afm token shard (bad magic)", path);
    uint32_t version, tb, nv;
    uint64_t nt, nd, h;
    memcpy(&version, p + 8, 4); memcpy(&tb, p + 12, 4); memcpy(&nt, p + 16, 8); memcpy(&nd, p + 24, 8); memcpy(&h, p + 32, 8); memcpy(&nv, p + 40, 4);
    if (version != 1) return afm_error(AFM_ERR_FORMAT, "%s: shard version %u, expected 1", path, version);
    if (tb != 2 && tb != 4) return afm_error(AFM_ERR_FORMAT, "%s: token width %u bytes, expected 2 or 4", path, tb);
    if (h != hash || (int32_t)nv != n_vocab)
        return afm_error(AFM_ERR_FORMAT, "%s was made with another tokenizer (vocabulary hash %016" PRIx64 ", expected %016" PRIx64 ")", path, h, hash);
    if (nt > (size - SHARD_HEADER) / tb || nd > (size - SHARD_HEADER - nt * tb) / 8 || SHARD_HEADER + nt * tb + nd * 8 != size)
        return afm_error(AFM_ERR_FORMAT, "%s: size %zu does not match its header (%" PRIu64 " tokens, %" PRIu64 " documents): truncated or corrupt", path, size, nt, nd);
    s->tokens = p + SHARD_HEADER;
    s->tb = tb;
    s->n = nt;
    for (uint64_t i = 0; i < nt; i++)
        if (tok_at(s, i) < 0 || tok_at(s, i) >= n_vocab)
            return afm_error(AFM_ERR_FORMAT, "%s: token %" PRIu64 " has id %d outside the vocabulary [0, %d)", path, i, tok_at(s, i), n_vocab);
    const unsigned char *docs = s->tokens + nt * tb;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < nd; i++) {
        uint64_t d;
        memcpy(&d, docs + 8 * i, 8);
        if (d >= nt || (i == 0 && d != 0) || (i > 0 && d <= prev))
            return afm_error(AFM_ERR_FORMAT, "%s: document offset %" PRIu64 " (%" PRIu64 ") is out of order or range", path, i, d);
        prev = d;
    }
    s->n_train = nt;
    return AFM_OK;
}

afm_status afm_data_open(const char *dir, afm_data **out) {
    *out = NULL;
    char path[4096], *js;
    size_t jl;
    snprintf(path, sizeof path, "%s/data.json", dir);
    AFM_TRY(afm_read_file(path, &js, &jl));
    cJSON *meta = cJSON_ParseWithLength(js, jl);
    free(js);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(meta, "vocab_hash"), *nv = cJSON_GetObjectItemCaseSensitive(meta, "n_vocab");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(meta, "sources");
    if (!meta || !cJSON_IsString(h) || !cJSON_IsNumber(nv) || !cJSON_IsObject(sources) || nv->valuedouble < 1) {
        cJSON_Delete(meta);
        return afm_error(AFM_ERR_FORMAT, "%s: expected an afm data.json (vocab_hash, n_vocab, sources)", path);
    }
    afm_data *d = calloc(1, sizeof *d);
    if (!d) { cJSON_Delete(meta); return afm_error(AFM_ERR_NOMEM, "out of memory"); }
    d->n_vocab = (int32_t)nv->valuedouble;
    uint64_t hash = strtoull(h->valuestring, NULL, 16);
    afm_status st = AFM_OK;
    const cJSON *s;
    cJSON_ArrayForEach(s, sources) {
        if (d->n == MAX_SOURCES) { st = afm_error(AFM_ERR_RANGE, "%s: more than %d sources", path, MAX_SOURCES); break; }
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "file");
        if (!cJSON_IsString(f) || strchr(f->valuestring, '/') || !valid_source_name(s->string)) {
            st = afm_error(AFM_ERR_FORMAT, "%s: source '%s' has no valid \"file\"", path, s->string);
            break;
        }
        source *src = &d->src[d->n++];
        snprintf(src->name, sizeof src->name, "%s", s->string);
        snprintf(path, sizeof path, "%s/%s", dir, f->valuestring);
        if ((st = open_shard(src, path, hash, d->n_vocab)) != AFM_OK) break;
    }
    cJSON_Delete(meta);
    if (st == AFM_OK && d->n == 0) st = afm_error(AFM_ERR_FORMAT, "%s/data.json lists no sources", dir);
    if (st != AFM_OK) { afm_data_close(d); return st; }
    *out = d;
    return AFM_OK;
}

void afm_data_close(afm_data *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) afm_mmap_close(&d->src[i].map);
    free(d);
}

int32_t afm_data_n_vocab(const afm_data *d) { return d->n_vocab; }
int afm_data_n_sources(const afm_data *d) { return d->n; }
const char *afm_data_source_name(const afm_data *d, int i) { return d->src[i].name; }
uint64_t afm_data_source_tokens(const afm_data *d, int i) { return d->src[i].n; }
int afm_data_find_source(const afm_data *d, const char *name) {
    for (int i = 0; i < d->n; i++) if (!strcmp(d->src[i].name, name)) return i;
    return -1;
}

afm_status afm_data_set_split(afm_data *d, double frac, int T) {
    if (!(frac >= 0.0 && frac < 1.0) || T < 1) return afm_error(AFM_ERR_INVALID_ARG, "validation fraction must be in [0, 1)");
    uint64_t w = (uint64_t)T + 1;
    for (int i = 0; i < d->n; i++) {
        source *s = &d->src[i];
        uint64_t nv = (uint64_t)((double)s->n * frac);
        if (frac > 0 && nv < w) nv = w;
        if (s->n < 2 * w) nv = 0; /* too short to hold out a window and still train */
        s->n_val = nv;
        s->n_train = s->n - nv;
    }
    return AFM_OK;
}

static void window(const source *s, uint64_t start, int T, int32_t *x, int32_t *y) {
    for (int t = 0; t < T; t++) { x[t] = tok_at(s, start + (uint64_t)t); y[t] = tok_at(s, start + (uint64_t)t + 1); }
}

afm_status afm_data_sample(const afm_data *d, afm_rng *rng, const double *weights, int b, int T, int32_t *x, int32_t *y) {
    double total = 0;
    for (int i = 0; i < d->n; i++) {
        if (weights[i] < 0) return afm_error(AFM_ERR_INVALID_ARG, "mixture weight of '%s' is negative", d->src[i].name);
        if (weights[i] > 0 && d->src[i].n_train < (uint64_t)T + 1)
            return afm_error(AFM_ERR_RANGE, "source '%s' has %" PRIu64 " training tokens, fewer than one window of %d", d->src[i].name, d->src[i].n_train, T + 1);
        total += weights[i];
    }
    if (!(total > 0)) return afm_error(AFM_ERR_INVALID_ARG, "mixture weights sum to zero");
    for (int r = 0; r < b; r++) {
        double u = (double)(afm_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0) * total, acc = 0;
        int i = 0;
        for (; i < d->n - 1; i++) { acc += weights[i]; if (u < acc && weights[i] > 0) break; }
        while (weights[i] <= 0) i--; /* rounding at the top end: last source with weight */
        const source *s = &d->src[i];
        uint64_t range = s->n_train - (uint64_t)T; /* starts 0 .. n_train - T - 1 */
        uint64_t start = afm_rng_u64(rng) % range;
        window(s, start, T, x + (long)r * T, y + (long)r * T);
    }
    return AFM_OK;
}

afm_status afm_data_val_batch(const afm_data *d, int k, int b, int T, int32_t *x, int32_t *y) {
    uint64_t w = (uint64_t)T + 1, total = 0;
    for (int i = 0; i < d->n; i++) total += d->src[i].n_val / w;
    if (total == 0) return afm_error(AFM_ERR_RANGE, "no validation data (sources too short for a window of %d tokens)", T + 1);
    for (int r = 0; r < b; r++) {
        uint64_t g = ((uint64_t)k * (uint64_t)b + (uint64_t)r) % total;
        int i = 0;
        while (g >= d->src[i].n_val / w) { g -= d->src[i].n_val / w; i++; }
        const source *s = &d->src[i];
        window(s, s->n_train + g * w, T, x + (long)r * T, y + (long)r * T);
    }
    return AFM_OK;
}
