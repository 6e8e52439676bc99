/* Bad GGUF input is refused with a message naming the problem, never a crash, hang or
 * out-of-bounds read (CI runs this under ASan + UBSan):
 *   1. a valid small file truncated at every length;
 *   2. a few thousand seeded random byte flips (a flip that keeps the file valid must load, and
 *      then every key and tensor byte is read);
 *   3. hand-crafted files, one per failure mode, each checked for its error message. */
#include "formats/gguf.h"
#include "base/file.h"
#include "base/rng.h"
#include "tensor/dtype.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)
#define OK(e) do { afm_status s_ = (e); if (s_ != AFM_OK) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #e, afm_last_error()); exit(1); } } while (0)

/* Touches every byte the reader hands out, so ASan sees any pointer past the buffer. */
static unsigned walk(const afm_gguf *g) {
    unsigned sum = 0;
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) {
        const char *key = afm_gguf_key(g, i), *s;
        size_t len;
        afm_gguf_type et;
        uint64_t n;
        const void *data;
        sum += (unsigned)strlen(key);
        if (afm_gguf_get_str(g, key, &s, &len))
            for (size_t k = 0; k < len; k++) sum += (unsigned char)s[k];
        if (afm_gguf_get_arr(g, key, &et, &n, &data)) {
            if (et == AFM_GGUF_STRING) {
                for (uint64_t j = 0; j < n; j++)
                    if (afm_gguf_arr_str(g, key, j, &s, &len))
                        for (size_t k = 0; k < len; k++) sum += (unsigned char)s[k];
            } else {
                for (size_t k = 0; k < n * afm_gguf_type_size(et); k++) sum += ((const unsigned char *)data)[k];
            }
        }
        uint64_t u;
        double d;
        bool b;
        if (afm_gguf_get_u64(g, key, &u)) sum += (unsigned)u;
        if (afm_gguf_get_f64(g, key, &d)) sum += d > 0;
        if (afm_gguf_get_bool(g, key, &b)) sum += b;
    }
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        for (size_t k = 0; k < t->nbytes; k++) sum += ((const unsigned char *)t->data)[k];
        sum += afm_gguf_find_tensor(g, t->name) == t;
    }
    return sum;
}

/* A small valid file: mixed metadata, string arrays, three tensor types, last tensor unpadded
 * in size so that the tail padding can be cut off. */
static void make_sample(char **data, size_t *size, size_t *required) {
    afm_gguf_writer *w;
    OK(afm_gguf_writer_create(&w));
    OK(afm_gguf_set_str(w, "general.architecture", "llama"));
    OK(afm_gguf_set_u32(w, "llama.block_count", 1));
    OK(afm_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f));
    OK(afm_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true));
    const char *toks[] = {"<s>", "</s>", "a", "b c"};
    OK(afm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4));
    int32_t types[4] = {3, 3, 1, 1};
    OK(afm_gguf_set_arr(w, "tokenizer.ggml.token_type", AFM_GGUF_INT32, types, 4));
    OK(afm_gguf_set_u64(w, "x.u64", 77));
    unsigned char buf[512];
    for (int i = 0; i < 512; i++) buf[i] = (unsigned char)(i * 7);
    int64_t ne_f32[2] = {4, 3}, ne_q8[2] = {32, 2}, ne_f16[1] = {5};
    OK(afm_gguf_add_tensor(w, "token_embd.weight", AFM_F32, 2, ne_f32, buf, 48, true));
    OK(afm_gguf_add_tensor(w, "blk.0.attn_q.weight", AFM_Q8_0, 2, ne_q8, buf, 68, true));
    OK(afm_gguf_add_tensor(w, "output_norm.weight", AFM_F16, 1, ne_f16, buf, 10, true));
    OK(afm_gguf_write(w, "test_gguf_corrupt_sample.gguf"));
    afm_gguf_writer_free(w);
    OK(afm_read_file("test_gguf_corrupt_sample.gguf", data, size));
    remove("test_gguf_corrupt_sample.gguf");
    afm_gguf *g;
    OK(afm_gguf_open_memory(*data, *size, &g));
    *required = 0;
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        size_t end = afm_gguf_data_offset(g) + t->offset + t->nbytes;
        if (end > *required) *required = end;
    }
    afm_gguf_close(g);
}

/* Opens a private heap copy of exactly `size` bytes, so any read past the end is caught. */
static afm_status try_open(const void *bytes, size_t size, unsigned *sum) {
    unsigned char *copy = malloc(size ? size : 1);
    memcpy(copy, bytes, size);
    afm_gguf *g = NULL;
    afm_status s = afm_gguf_open_memory(copy, size, &g);
    if (s == AFM_OK) {
        if (sum) *sum += walk(g);
        afm_gguf_close(g);
    } else {
        CHECK(g == NULL);
        CHECK(afm_last_error()[0] != 0);
    }
    free(copy);
    return s;
}

static void truncations(const char *data, size_t size, size_t required) {
    int refused = 0;
    unsigned sum = 0;
    for (size_t n = 0; n < size; n++) {
        afm_status s = try_open(data, n, &sum);
        if (n < required) {
            CHECK(s != AFM_OK);
            refused += s != AFM_OK;
        } else {
            CHECK(s == AFM_OK); /* only the final padding is gone */
        }
    }
    CHECK(try_open(data, size, &sum) == AFM_OK);
    printf("truncation: %zu lengths, %d refused (file %zu bytes, data ends at %zu)\n", size, refused, size, required);
}

static void flips(const char *data, size_t size) {
    afm_rng rng;
    afm_rng_seed(&rng, 2024);
    unsigned char *buf = malloc(size);
    int loaded = 0, refused = 0;
    unsigned sum = 0;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(buf, data, size);
        int n_flips = 1 + (int)(afm_rng_u64(&rng) % 4);
        for (int k = 0; k < n_flips; k++) {
            size_t pos = afm_rng_u64(&rng) % size;
            /* Bias half the flips to the header and metadata, where the structure lives. */
            if (iter % 2) pos %= 400 < size ? 400 : size;
            uint64_t r = afm_rng_u64(&rng);
            if (r & 1) buf[pos] ^= (unsigned char)(1u << ((r >> 1) % 8));
            else buf[pos] = (unsigned char)(r >> 8);
        }
        if (try_open(buf, size, &sum) == AFM_OK) loaded++;
        else refused++;
    }
    free(buf);
    CHECK(loaded > 0 && refused > 0);
    printf("random flips: 4000 cases, %d loaded, %d refused (checksum %u)\n", loaded, refused, sum);
}

/* ---- hand-crafted files ---- */

typedef struct bytes { unsigned char d[4096]; size_t n; } bytes;
static void put(bytes *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n); b->n += n; }
static void u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void str(bytes *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(bytes *b, const char *key, uint32_t v) { str(b, key); u32(b, AFM_GGUF_UINT32); u32(b, v); }
static void tinfo(bytes *b, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type, uint64_t offset) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t j = 0; j < n_dims; j++) u64(b, (uint64_t)ne[j]);
    u32(b, type);
    u64(b, offset);
}
static void pad(bytes *b, size_t a) { while (b->n % a) b->d[b->n++] = 0; }
static void zeros(bytes *b, size_t n) { memset(b->d + b->n, 0, n); b->n += n; }

static void expect_error(const bytes *b, const char *needle, int line) {
    afm_status s = try_open(b->d, b->n, NULL);
    if (s == AFM_OK) {
        fprintf(stderr, "%s:%d: crafted file was accepted, expected an error containing \"%s\"\n", __FILE__, line, needle);
        failures++;
    } else if (!strstr(afm_last_error(), needle)) {
        fprintf(stderr, "%s:%d: error \"%s\" does not contain \"%s\"\n", __FILE__, line, afm_last_error(), needle);
        failures++;
    } else {
        printf("  refused as expected: %s\n", afm_last_error());
    }
}
#define EXPECT_ERROR(b, needle) expect_error(b, needle, __LINE__)

static void crafted(void) {
    static bytes b;
    int64_t ne2[2] = {4, 2}, ne1[1] = {8};
    /* Header. */
    b.n = 0; put(&b, "GGUX", 4); u32(&b, 3); u64(&b, 0); u64(&b, 0);
    EXPECT_ERROR(&b, "magic");
    b.n = 0; put(&b, "GG", 2);
    EXPECT_ERROR(&b, "magic");
    header(&b, 1, 0, 0); EXPECT_ERROR(&b, "version 1");
    header(&b, 4, 0, 0); EXPECT_ERROR(&b, "version 4");
    header(&b, 0x03000000, 0, 0); EXPECT_ERROR(&b, "big-endian");
    header(&b, 3, 0, 0); b.n -= 3; EXPECT_ERROR(&b, "truncated");
    header(&b, 3, 0, 1ull << 40); EXPECT_ERROR(&b, "n_kv");
    header(&b, 3, 0, UINT64_MAX); EXPECT_ERROR(&b, "n_kv");
    header(&b, 3, 1ull << 60, 0); EXPECT_ERROR(&b, "n_tensors");
    header(&b, 3, UINT64_MAX, 0); EXPECT_ERROR(&b, "n_tensors");
    /* Keys and values. */
    header(&b, 3, 0, 1); u64(&b, UINT64_MAX); zeros(&b, 16); EXPECT_ERROR(&b, "length");
    header(&b, 3, 0, 1); u64(&b, 1000); zeros(&b, 20); EXPECT_ERROR(&b, "only 20 bytes remain");
    header(&b, 3, 0, 1); str(&b, "k"); u32(&b, 13); u32(&b, 0); EXPECT_ERROR(&b, "unknown value type 13");
    header(&b, 3, 0, 1); str(&b, "k"); u32(&b, 0xffffffffu); u32(&b, 0); EXPECT_ERROR(&b, "unknown value type");
    header(&b, 3, 0, 1); str(&b, "k"); u32(&b, AFM_GGUF_UINT64); u32(&b, 0); EXPECT_ERROR(&b, "truncated u64");
    header(&b, 3, 0, 1); u64(&b, 3); put(&b, "a\0b", 3); u32(&b, AFM_GGUF_UINT8); put(&b, "x", 1);
    EXPECT_ERROR(&b, "NUL");
    header(&b, 3, 0, 1); str(&b, ""); u32(&b, AFM_GGUF_UINT8); zeros(&b, 8); EXPECT_ERROR(&b, "empty");
    header(&b, 3, 0, 2); kv_u32(&b, "a.b", 1); kv_u32(&b, "a.b", 2); EXPECT_ERROR(&b, "duplicate key 'a.b'");
    header(&b, 3, 0, 1); str(&b, "s"); u32(&b, AFM_GGUF_STRING); u64(&b, 1ull << 31); EXPECT_ERROR(&b, "limit");
    header(&b, 3, 0, 1); str(&b, "s"); u32(&b, AFM_GGUF_STRING); u64(&b, 50); put(&b, "short", 5);
    EXPECT_ERROR(&b, "key 's'");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, AFM_GGUF_ARRAY); u32(&b, AFM_GGUF_ARRAY); u64(&b, 1);
    u32(&b, AFM_GGUF_UINT8); u64(&b, 1); put(&b, "x", 1);
    EXPECT_ERROR(&b, "nested arrays");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, AFM_GGUF_ARRAY); u32(&b, 77); u64(&b, 0); EXPECT_ERROR(&b, "element type 77");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, AFM_GGUF_ARRAY); u32(&b, AFM_GGUF_UINT32); u64(&b, 1ull << 29);
    EXPECT_ERROR(&b, "only 0 left");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, AFM_GGUF_ARRAY); u32(&b, AFM_GGUF_INT64); u64(&b, UINT64_MAX);
    EXPECT_ERROR(&b, "limit");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, AFM_GGUF_ARRAY); u32(&b, AFM_GGUF_STRING); u64(&b, 1000000);
    EXPECT_ERROR(&b, "cannot fit");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, AFM_GGUF_ARRAY); u32(&b, AFM_GGUF_STRING); u64(&b, 2);
    str(&b, "ok"); u64(&b, 1ull << 20); zeros(&b, 16);
    EXPECT_ERROR(&b, "element 1");
    /* Alignment. */
    header(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 0); EXPECT_ERROR(&b, "power of two");
    header(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 48); EXPECT_ERROR(&b, "power of two");
    header(&b, 3, 0, 1); str(&b, "general.alignment"); u32(&b, AFM_GGUF_UINT64); u64(&b, 32); EXPECT_ERROR(&b, "expected u32");
    /* Tensor infos. */
    header(&b, 3, 1, 0); tinfo(&b, "t", 5, (int64_t[]){1, 1, 1, 1, 1}, AFM_F32, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "n_dims = 5");
    header(&b, 3, 1, 0); tinfo(&b, "t", 2, (int64_t[]){-4, 2}, AFM_F32, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "negative");
    header(&b, 3, 1, 0); tinfo(&b, "t", 4, (int64_t[]){1ll << 20, 1ll << 20, 1ll << 20, 1ll << 20}, AFM_F32, 0);
    pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "overflows");
    header(&b, 3, 1, 0); tinfo(&b, "t", 2, (int64_t[]){1ll << 32, 1ll << 30}, AFM_F64, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "overflows");
    header(&b, 3, 1, 0); tinfo(&b, "t", 2, ne2, 4, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "unknown type id 4");
    header(&b, 3, 1, 0); tinfo(&b, "t", 2, ne2, 1000, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "unknown type id 1000");
    header(&b, 3, 1, 0); tinfo(&b, "t", 2, (int64_t[]){48, 1}, AFM_Q4_0, 0); pad(&b, 32); zeros(&b, 64);
    EXPECT_ERROR(&b, "not a multiple of the q4_0 block size 32");
    header(&b, 3, 1, 0); tinfo(&b, "0123456789012345678901234567890123456789012345678901234567890123", 1, ne1, AFM_F32, 0);
    pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "too long");
    header(&b, 3, 1, 0); tinfo(&b, "", 1, ne1, AFM_F32, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "empty");
    header(&b, 3, 2, 0); tinfo(&b, "t", 1, ne1, AFM_F32, 0); tinfo(&b, "t", 1, ne1, AFM_F32, 32); pad(&b, 32); zeros(&b, 64);
    EXPECT_ERROR(&b, "duplicate tensor name 't'");
    header(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, AFM_F32, 16); pad(&b, 32); zeros(&b, 64);
    EXPECT_ERROR(&b, "not a multiple of the alignment 32");
    header(&b, 3, 1, 0); tinfo(&b, "blk.0.attn_q.weight", 1, ne1, AFM_F32, 0); pad(&b, 32); zeros(&b, 31);
    EXPECT_ERROR(&b, "tensor 'blk.0.attn_q.weight': data [");
    EXPECT_ERROR(&b, "extends past end of file");
    header(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, AFM_F32, 0xFFFFFFFFFFFFFFE0ull); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "offset 18446744073709551584 is past end of file");
    header(&b, 3, 1, 0); tinfo(&b, "t", 2, (int64_t[]){1ll << 40, 1ll << 20}, AFM_F32, 0); pad(&b, 32); zeros(&b, 32);
    EXPECT_ERROR(&b, "past end of file");
    header(&b, 3, 2, 0); tinfo(&b, "a", 1, (int64_t[]){16}, AFM_F32, 0); tinfo(&b, "b", 1, ne1, AFM_F32, 32);
    pad(&b, 32); zeros(&b, 96);
    EXPECT_ERROR(&b, "overlaps tensor 'b'");
    header(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, AFM_F32, 0); /* data section would start past the end */
    EXPECT_ERROR(&b, "data section");
    header(&b, 3, 1, 1); kv_u32(&b, "general.alignment", 64); tinfo(&b, "t", 1, ne1, AFM_F32, 32); pad(&b, 64); zeros(&b, 128);
    EXPECT_ERROR(&b, "alignment 64");

    /* Valid layouts that llama.cpp's stricter loader would refuse but we accept: a gap. */
    header(&b, 3, 2, 0); tinfo(&b, "a", 1, ne1, AFM_F32, 64); tinfo(&b, "b", 1, ne1, AFM_F32, 0); pad(&b, 32); zeros(&b, 96);
    CHECK(try_open(b.d, b.n, NULL) == AFM_OK);
    /* Version 2 (same layout) loads; so does a header-only file and a zero-sized tensor. */
    header(&b, 2, 1, 1); kv_u32(&b, "k", 5); tinfo(&b, "t", 1, ne1, AFM_F32, 0); pad(&b, 32);
    for (int i = 0; i < 8; i++) { float f = (float)i; put(&b, &f, 4); }
    afm_gguf *g;
    OK(afm_gguf_open_memory(b.d, b.n, &g));
    uint32_t k = 0;
    CHECK(afm_gguf_version(g) == 2 && afm_gguf_get_u32(g, "k", &k) && k == 5);
    CHECK(((const float *)afm_gguf_find_tensor(g, "t")->data)[7] == 7.0f);
    afm_gguf_close(g);
    header(&b, 3, 0, 0); CHECK(try_open(b.d, b.n, NULL) == AFM_OK);
    header(&b, 3, 1, 0); tinfo(&b, "z", 2, (int64_t[]){0, 5}, AFM_Q4_K, 0); pad(&b, 32);
    CHECK(try_open(b.d, b.n, NULL) == AFM_OK);
    /* Not a file / empty file through the path API. */
    CHECK(afm_gguf_open("/nonexistent/x.gguf", &g) != AFM_OK && strstr(afm_last_error(), "/nonexistent/x.gguf"));
    FILE *f = fopen("test_gguf_corrupt_empty.gguf", "wb");
    fclose(f);
    CHECK(afm_gguf_open("test_gguf_corrupt_empty.gguf", &g) != AFM_OK && strstr(afm_last_error(), "magic") &&
          strstr(afm_last_error(), "test_gguf_corrupt_empty.gguf"));
    remove("test_gguf_corrupt_empty.gguf");
}

int main(void) {
    char *data;
    size_t size, required;
    make_sample(&data, &size, &required);
    truncations(data, size, required);
    flips(data, size);
    free(data);
    crafted();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("test_gguf_corrupt: all checks passed\n");
    return 0;
}
