/* GGUF writer -> reader round trip: every metadata value type, several tensor types, key
 * replacement, custom alignment, byte-exact re-serialization through afm_gguf_copy_kv, and the
 * exact layout rules llama.cpp demands (contiguous padded offsets, aligned data section).
 * Independent cross-checks against the Python gguf package are in tests/cli/gguf_interop.sh. */
#include "formats/gguf.h"
#include "base/error.h"
#include "base/file.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)
#define OK(e) do { afm_status s_ = (e); if (s_ != AFM_OK) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #e, afm_last_error()); exit(1); } } while (0)

typedef struct tspec { const char *name; uint32_t type; uint32_t n_dims; int64_t ne[4]; size_t nbytes; unsigned char *data; } tspec;

static size_t nbytes_of(uint32_t type, const int64_t *ne, uint32_t n_dims) {
    const afm_dtype_info *i = afm_dtype_get(type);
    int64_t ne0 = n_dims > 0 ? ne[0] : 1;
    size_t n = (size_t)(ne0 / i->block) * (size_t)i->type_size;
    for (uint32_t j = 1; j < n_dims; j++) n *= (size_t)ne[j];
    return n;
}

static afm_status fill_from_spec(void *ctx, const char *name, void *buf, size_t nbytes) {
    const tspec *t = ctx;
    if (strcmp(name, t->name) != 0 || nbytes != t->nbytes) return AFM_ERR_INTERNAL;
    memcpy(buf, t->data, nbytes);
    return AFM_OK;
}

static afm_status fill_fails(void *ctx, const char *name, void *buf, size_t nbytes) {
    (void)ctx; (void)name; (void)buf; (void)nbytes;
    return afm_error(AFM_ERR_IO, "source went away");
}

static void build(afm_gguf_writer *w, tspec *ts, int n_ts, uint32_t alignment) {
    OK(afm_gguf_set_str(w, "general.architecture", "llama"));
    OK(afm_gguf_set_str(w, "general.name", "placeholder, replaced below"));
    uint8_t u8 = 250; int8_t i8 = -7; uint16_t u16 = 65000; int16_t i16 = -30000;
    OK(afm_gguf_set_scalar(w, "t.u8", AFM_GGUF_UINT8, &u8));
    OK(afm_gguf_set_scalar(w, "t.i8", AFM_GGUF_INT8, &i8));
    OK(afm_gguf_set_scalar(w, "t.u16", AFM_GGUF_UINT16, &u16));
    OK(afm_gguf_set_scalar(w, "t.i16", AFM_GGUF_INT16, &i16));
    OK(afm_gguf_set_u32(w, "t.u32", 4000000000u));
    OK(afm_gguf_set_i32(w, "t.i32", -2000000000));
    OK(afm_gguf_set_f32(w, "t.f32", 1e-6f));
    OK(afm_gguf_set_bool(w, "t.bool", true));
    OK(afm_gguf_set_u64(w, "t.u64", 18000000000000000000ull));
    OK(afm_gguf_set_i64(w, "t.i64", -9000000000000000000ll));
    OK(afm_gguf_set_f64(w, "t.f64", 3.141592653589793));
    OK(afm_gguf_set_strn(w, "t.str_nul", "a\0b", 3));
    OK(afm_gguf_set_str(w, "t.empty_str", ""));
    int32_t ai32[5] = {1, -2, 3, -4, 2147483647};
    float af32[3] = {0.5f, -1.25f, 1e30f};
    uint8_t abool[4] = {1, 0, 0, 1};
    int64_t ai64[2] = {-1, 1ll << 40};
    double af64[2] = {1e-300, -2.5};
    uint16_t au16[3] = {1, 2, 65535};
    OK(afm_gguf_set_arr(w, "t.arr_i32", AFM_GGUF_INT32, ai32, 5));
    OK(afm_gguf_set_arr(w, "t.arr_f32", AFM_GGUF_FLOAT32, af32, 3));
    OK(afm_gguf_set_arr(w, "t.arr_bool", AFM_GGUF_BOOL, abool, 4));
    OK(afm_gguf_set_arr(w, "t.arr_i64", AFM_GGUF_INT64, ai64, 2));
    OK(afm_gguf_set_arr(w, "t.arr_f64", AFM_GGUF_FLOAT64, af64, 2));
    OK(afm_gguf_set_arr(w, "t.arr_u16", AFM_GGUF_UINT16, au16, 3));
    OK(afm_gguf_set_arr(w, "t.arr_empty", AFM_GGUF_UINT8, NULL, 0));
    const char *strs[4] = {"hello", "", "Ġ Ġ", "<|im_end|>"};
    OK(afm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", strs, NULL, 4));
    OK(afm_gguf_set_str(w, "general.name", "round trip"));   /* replaces, keeps position 1 */
    if (alignment != 32) OK(afm_gguf_set_u32(w, "general.alignment", alignment));
    /* Three ways in: copied, borrowed, and produced at write time by a fill function. */
    for (int i = 0; i < n_ts; i++)
        if (i % 3 == 2) OK(afm_gguf_add_tensor_fn(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, fill_from_spec, &ts[i]));
        else OK(afm_gguf_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, ts[i].data, ts[i].nbytes, i % 3 == 0));
}

static void check_kvs(const afm_gguf *g, uint32_t alignment) {
    CHECK(afm_gguf_n_kv(g) == 23 + (alignment != 32));
    CHECK(strcmp(afm_gguf_key(g, 0), "general.architecture") == 0);
    CHECK(strcmp(afm_gguf_key(g, 1), "general.name") == 0);
    CHECK(strcmp(afm_gguf_key(g, 2), "t.u8") == 0);
    CHECK(afm_gguf_find_key(g, "t.f64") == 12);
    CHECK(afm_gguf_find_key(g, "absent") == -1);
    const char *s; size_t len;
    CHECK(afm_gguf_get_str(g, "general.name", &s, &len) && len == 10 && memcmp(s, "round trip", 10) == 0);
    CHECK(afm_gguf_get_str(g, "t.str_nul", &s, &len) && len == 3 && memcmp(s, "a\0b", 3) == 0);
    CHECK(afm_gguf_get_str(g, "t.empty_str", &s, &len) && len == 0);
    uint32_t u32; int64_t i64; uint64_t u64; float f; double d; bool b;
    CHECK(afm_gguf_kv_type(g, afm_gguf_find_key(g, "t.u8")) == AFM_GGUF_UINT8);
    CHECK(afm_gguf_get_u32(g, "t.u8", &u32) && u32 == 250);
    CHECK(afm_gguf_get_i64(g, "t.i8", &i64) && i64 == -7);
    CHECK(!afm_gguf_get_u32(g, "t.i8", &u32));                  /* negative: does not fit */
    CHECK(afm_gguf_get_u32(g, "t.u16", &u32) && u32 == 65000);
    CHECK(afm_gguf_get_i64(g, "t.i16", &i64) && i64 == -30000);
    CHECK(afm_gguf_get_u32(g, "t.u32", &u32) && u32 == 4000000000u);
    CHECK(afm_gguf_get_i64(g, "t.i32", &i64) && i64 == -2000000000);
    CHECK(afm_gguf_get_f32(g, "t.f32", &f) && f == 1e-6f);
    CHECK(afm_gguf_get_bool(g, "t.bool", &b) && b);
    CHECK(afm_gguf_get_u64(g, "t.u64", &u64) && u64 == 18000000000000000000ull);
    CHECK(!afm_gguf_get_i64(g, "t.u64", &i64));                 /* > INT64_MAX */
    CHECK(!afm_gguf_get_u32(g, "t.u64", &u32));
    CHECK(afm_gguf_get_i64(g, "t.i64", &i64) && i64 == -9000000000000000000ll);
    CHECK(afm_gguf_get_f64(g, "t.f64", &d) && d == 3.141592653589793);
    CHECK(!afm_gguf_get_f32(g, "t.u32", &f));                   /* wrong type */
    CHECK(!afm_gguf_get_str(g, "t.u32", &s, &len));
    CHECK(!afm_gguf_get_bool(g, "t.u8", &b));
    afm_gguf_type et; uint64_t n; const void *data;
    CHECK(afm_gguf_get_arr(g, "t.arr_i32", &et, &n, &data) && et == AFM_GGUF_INT32 && n == 5);
    CHECK(((uintptr_t)data % 4) == 0 && ((const int32_t *)data)[1] == -2 && ((const int32_t *)data)[4] == 2147483647);
    CHECK(afm_gguf_get_arr(g, "t.arr_f32", &et, &n, &data) && et == AFM_GGUF_FLOAT32 && n == 3 &&
          ((const float *)data)[2] == 1e30f);
    CHECK(afm_gguf_get_arr(g, "t.arr_bool", &et, &n, &data) && et == AFM_GGUF_BOOL && n == 4 &&
          memcmp(data, "\1\0\0\1", 4) == 0);
    CHECK(afm_gguf_get_arr(g, "t.arr_i64", &et, &n, &data) && n == 2 && ((uintptr_t)data % 8) == 0 &&
          ((const int64_t *)data)[1] == 1ll << 40);
    CHECK(afm_gguf_get_arr(g, "t.arr_f64", &et, &n, &data) && n == 2 && ((const double *)data)[0] == 1e-300);
    CHECK(afm_gguf_get_arr(g, "t.arr_u16", &et, &n, &data) && n == 3 && ((const uint16_t *)data)[2] == 65535);
    CHECK(afm_gguf_get_arr(g, "t.arr_empty", &et, &n, NULL) && et == AFM_GGUF_UINT8 && n == 0);
    CHECK(afm_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) && et == AFM_GGUF_STRING && n == 4 && !data);
    CHECK(afm_gguf_arr_str(g, "tokenizer.ggml.tokens", 2, &s, &len) && len == 5 && memcmp(s, "Ġ Ġ", 5) == 0);
    CHECK(afm_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len) && len == 0);
    CHECK(afm_gguf_arr_str(g, "tokenizer.ggml.tokens", 3, &s, &len) && len == 10 && memcmp(s, "<|im_end|>", 10) == 0);
    CHECK(!afm_gguf_arr_str(g, "tokenizer.ggml.tokens", 4, &s, &len));
    CHECK(!afm_gguf_arr_str(g, "t.arr_i32", 0, &s, &len));
}

static void check_tensors(const afm_gguf *g, const tspec *ts, int n_ts, size_t alignment) {
    CHECK(afm_gguf_alignment(g) == alignment);
    CHECK(afm_gguf_data_offset(g) % alignment == 0);
    CHECK(afm_gguf_n_tensors(g) == n_ts);
    uint64_t expect_offset = 0;
    for (int i = 0; i < n_ts; i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        CHECK(t == afm_gguf_find_tensor(g, ts[i].name));
        CHECK(strcmp(t->name, ts[i].name) == 0 && t->type == ts[i].type && t->n_dims == ts[i].n_dims);
        for (int j = 0; j < 4; j++) CHECK(t->ne[j] == (j < (int)ts[i].n_dims ? ts[i].ne[j] : 1));
        CHECK(t->nbytes == ts[i].nbytes && memcmp(t->data, ts[i].data, t->nbytes) == 0);
        CHECK(t->offset == expect_offset);   /* contiguous, padded: what llama.cpp requires */
        expect_offset += (t->nbytes + alignment - 1) / alignment * alignment;
    }
    CHECK(afm_gguf_data_offset(g) + expect_offset == afm_gguf_file_size(g));
    CHECK(afm_gguf_find_tensor(g, "missing") == NULL);
}

static void round_trip(uint32_t alignment) {
    tspec ts[] = {
        {"token_embd.weight", AFM_F32, 2, {8, 3}, 0, NULL},
        {"blk.0.attn_q.weight", AFM_F16, 2, {32, 5}, 0, NULL},
        {"blk.0.ffn_up.weight", AFM_BF16, 2, {16, 2}, 0, NULL},
        {"blk.0.attn_k.weight", AFM_Q8_0, 2, {64, 3}, 0, NULL},
        {"blk.0.attn_v.weight", AFM_Q4_0, 3, {32, 2, 2}, 0, NULL},
        {"blk.0.ffn_down.weight", AFM_Q4_K, 2, {256, 2}, 0, NULL},
        {"blk.0.ffn_gate.weight", AFM_Q6_K, 4, {256, 1, 1, 2}, 0, NULL},
        {"output_norm.weight", AFM_F32, 1, {7}, 0, NULL},
        {"blk.0.ids", AFM_I32, 1, {3}, 0, NULL},
        {"empty", AFM_F32, 2, {0, 4}, 0, NULL},
        {"scalar", AFM_F32, 0, {0}, 0, NULL},
    };
    int n_ts = (int)(sizeof ts / sizeof ts[0]);
    unsigned seed = 12345;
    for (int i = 0; i < n_ts; i++) {
        ts[i].nbytes = nbytes_of(ts[i].type, ts[i].ne, ts[i].n_dims);
        ts[i].data = malloc(ts[i].nbytes + 1);
        for (size_t k = 0; k < ts[i].nbytes; k++) ts[i].data[k] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
    }
    char path[64], path2[64];
    snprintf(path, sizeof path, "test_gguf_a%u.gguf", alignment);
    snprintf(path2, sizeof path2, "test_gguf_b%u.gguf", alignment);
    afm_gguf_writer *w;
    OK(afm_gguf_writer_create(&w));
    build(w, ts, n_ts, alignment);
    OK(afm_gguf_write(w, path));
    afm_gguf_writer_free(w);

    afm_gguf *g;
    OK(afm_gguf_open(path, &g));
    CHECK(afm_gguf_version(g) == 3);
    check_kvs(g, alignment);
    check_tensors(g, ts, n_ts, alignment);

    /* Copy every key and tensor into a new writer: the bytes must come out identical. */
    OK(afm_gguf_writer_create(&w));
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) OK(afm_gguf_copy_kv(w, g, i));
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        OK(afm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, false));
    }
    OK(afm_gguf_write(w, path2));
    afm_gguf_writer_free(w);
    char *a, *b;
    size_t na, nb;
    OK(afm_read_file(path, &a, &na));
    OK(afm_read_file(path2, &b, &nb));
    CHECK(na == nb && memcmp(a, b, na) == 0);
    CHECK(na == afm_gguf_file_size(g));
    /* Header bytes as the spec lays them out. */
    uint32_t version; uint64_t n_t, n_kv;
    memcpy(&version, a + 4, 4); memcpy(&n_t, a + 8, 8); memcpy(&n_kv, a + 16, 8);
    CHECK(memcmp(a, "GGUF", 4) == 0 && version == 3 && n_t == (uint64_t)n_ts && n_kv == (uint64_t)afm_gguf_n_kv(g));

    /* The same bytes from a misaligned caller buffer: arrays are still handed out aligned. */
    char *shifted = malloc(na + 1);
    memcpy(shifted + 1, a, na);
    afm_gguf *m;
    OK(afm_gguf_open_memory(shifted + 1, na, &m));
    check_kvs(m, alignment);
    afm_gguf_close(m);
    free(shifted);
    free(a);
    free(b);
    afm_gguf_close(g);
    remove(path);
    remove(path2);
    for (int i = 0; i < n_ts; i++) free(ts[i].data);
}

static void writer_rejects(void) {
    afm_gguf_writer *w;
    OK(afm_gguf_writer_create(&w));
    int64_t ne[2] = {33, 2};
    float buf[66] = {0};
    CHECK(afm_gguf_add_tensor(w, "q", AFM_Q8_0, 2, ne, buf, 68, true) != AFM_OK);   /* 33 % 32 */
    CHECK(strstr(afm_last_error(), "block size") != NULL);
    CHECK(afm_gguf_add_tensor(w, "f", AFM_F32, 2, ne, buf, 100, true) != AFM_OK);   /* wrong nbytes */
    CHECK(afm_gguf_add_tensor(w, "f", AFM_F32, 2, ne, buf, 264, true) == AFM_OK);
    CHECK(afm_gguf_add_tensor(w, "f", AFM_F32, 2, ne, buf, 264, true) != AFM_OK);   /* duplicate */
    CHECK(afm_gguf_add_tensor(w, "x", 4, 2, ne, buf, 264, true) != AFM_OK);         /* retired type id */
    CHECK(afm_gguf_add_tensor(w, "a-very-long-tensor-name-that-exceeds-the-sixty-three-byte-limit-x", AFM_F32, 2, ne,
                              buf, 264, true) != AFM_OK);
    CHECK(afm_gguf_set_arr(w, "nested", AFM_GGUF_ARRAY, buf, 1) != AFM_OK);
    /* A failing fill function aborts the write and leaves no file. */
    CHECK(afm_gguf_add_tensor_fn(w, "lazy", AFM_F32, 2, ne, fill_fails, NULL) == AFM_OK);
    CHECK(afm_gguf_write(w, "test_gguf_fill_fails.gguf") == AFM_ERR_IO);
    CHECK(strstr(afm_last_error(), "tensor 'lazy': source went away") != NULL);
    CHECK(!afm_file_exists("test_gguf_fill_fails.gguf"));
    OK(afm_gguf_set_u32(w, "general.alignment", 48));
    CHECK(afm_gguf_write(w, "test_gguf_bad_align.gguf") != AFM_OK);
    CHECK(!afm_file_exists("test_gguf_bad_align.gguf"));
    afm_gguf_writer_free(w);
}

/* String arrays keep an index entry for every 16th element only: every element of arrays of
 * 1..70 strings (empty ones included, lengths 0..12) must read back, in a scattered order. */
static void string_index(void) {
    enum { MAX = 70 };
    static char text[MAX][16];
    const char *strs[MAX];
    size_t lens[MAX];
    for (int i = 0; i < MAX; i++) {
        lens[i] = (size_t)((i * 5) % 13);
        for (size_t k = 0; k < lens[i]; k++) text[i][k] = (char)('a' + (i + (int)k) % 26);
        strs[i] = text[i];
    }
    const int counts[] = {1, 15, 16, 17, 32, 33, MAX};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int n = counts[c];
        afm_gguf_writer *w;
        OK(afm_gguf_writer_create(&w));
        OK(afm_gguf_set_arr_str(w, "s", strs, lens, (uint64_t)n));
        OK(afm_gguf_set_u32(w, "after", 7));
        OK(afm_gguf_write(w, "test_gguf_strings.gguf"));
        afm_gguf_writer_free(w);
        afm_gguf *g;
        OK(afm_gguf_open("test_gguf_strings.gguf", &g));
        for (int j = 0; j < n; j++) {
            int i = (j * 37 + 11) % n; /* 37 is prime to every count: all elements, out of order */
            const char *s = NULL;
            size_t len = 99;
            CHECK(afm_gguf_arr_str(g, "s", (uint64_t)i, &s, &len) && len == lens[i] && memcmp(s, text[i], len) == 0);
        }
        CHECK(!afm_gguf_arr_str(g, "s", (uint64_t)n, NULL, NULL));
        uint32_t v = 0;
        CHECK(afm_gguf_get_u32(g, "after", &v) && v == 7);
        afm_gguf_close(g);
    }
    remove("test_gguf_strings.gguf");
}

/* ---- helper modes for tests/cli/gguf_interop.sh (the Python gguf package on the other side) ---- */

static uint32_t crc32_bytes(const unsigned char *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void print_hex(const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
}

/* One scalar of `type` at p (little-endian), canonically: integers in decimal, floats as their
 * bit patterns in hex, bools 0/1, strings (given as bytes + len) as hex. */
static void print_scalar(afm_gguf_type type, const void *p) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; } v;
    memcpy(&v, p, afm_gguf_type_size(type));
    switch (type) {
    case AFM_GGUF_UINT8: printf("%u", v.u8); break;
    case AFM_GGUF_INT8: printf("%d", v.i8); break;
    case AFM_GGUF_UINT16: printf("%u", v.u16); break;
    case AFM_GGUF_INT16: printf("%d", v.i16); break;
    case AFM_GGUF_UINT32: printf("%u", v.u32); break;
    case AFM_GGUF_INT32: printf("%d", v.i32); break;
    case AFM_GGUF_UINT64: printf("%llu", (unsigned long long)v.u64); break;
    case AFM_GGUF_INT64: printf("%lld", (long long)v.i64); break;
    case AFM_GGUF_FLOAT32: printf("%08x", v.u32); break;
    case AFM_GGUF_FLOAT64: printf("%016llx", (unsigned long long)v.u64); break;
    case AFM_GGUF_BOOL: printf("%d", v.u8 != 0); break;
    default: break;
    }
}

static int dump(const char *path) {
    afm_gguf *g;
    if (afm_gguf_open(path, &g) != AFM_OK) {
        fprintf(stderr, "error: %s\n", afm_last_error());
        return 1;
    }
    printf("version %u\nalignment %zu\n", afm_gguf_version(g), afm_gguf_alignment(g));
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) {
        const char *key = afm_gguf_key(g, i), *s;
        afm_gguf_type type = afm_gguf_kv_type(g, i), et;
        size_t len;
        printf("kv %s ", key);
        if (type == AFM_GGUF_STRING) {
            afm_gguf_get_str(g, key, &s, &len);
            printf("string ");
            print_hex(s, len);
        } else if (type == AFM_GGUF_ARRAY) {
            uint64_t n;
            const void *data;
            afm_gguf_get_arr(g, key, &et, &n, &data);
            printf("array[%s] %llu ", afm_gguf_type_name(et), (unsigned long long)n);
            for (uint64_t j = 0; j < n; j++) {
                if (j) putchar(',');
                if (et == AFM_GGUF_STRING) {
                    afm_gguf_arr_str(g, key, j, &s, &len);
                    print_hex(s, len);
                } else {
                    print_scalar(et, (const char *)data + j * afm_gguf_type_size(et));
                }
            }
        } else {
            /* Scalars: re-read through the typed getters and print canonically. */
            union { uint64_t u; int64_t i; float f; double d; unsigned char b[8]; } v = {0};
            switch (type) {
            case AFM_GGUF_UINT8: case AFM_GGUF_UINT16: case AFM_GGUF_UINT32: case AFM_GGUF_UINT64:
                afm_gguf_get_u64(g, key, &v.u);
                printf("%s %llu", afm_gguf_type_name(type), (unsigned long long)v.u);
                break;
            case AFM_GGUF_INT8: case AFM_GGUF_INT16: case AFM_GGUF_INT32: case AFM_GGUF_INT64:
                afm_gguf_get_i64(g, key, &v.i);
                printf("%s %lld", afm_gguf_type_name(type), (long long)v.i);
                break;
            case AFM_GGUF_FLOAT32:
                afm_gguf_get_f32(g, key, &v.f);
                printf("f32 ");
                print_scalar(type, &v.f);
                break;
            case AFM_GGUF_FLOAT64:
                afm_gguf_get_f64(g, key, &v.d);
                printf("f64 ");
                print_scalar(type, &v.d);
                break;
            default: {
                bool b = false;
                afm_gguf_get_bool(g, key, &b);
                printf("bool %d", b);
            }
            }
        }
        putchar('\n');
    }
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        printf("tensor %s type=%u ne=", t->name, t->type);
        for (uint32_t j = 0; j < t->n_dims; j++) printf(j ? ",%lld" : "%lld", (long long)t->ne[j]);
        printf(" offset=%zu nbytes=%zu crc32=%08x\n", afm_gguf_data_offset(g) + (size_t)t->offset, t->nbytes,
               crc32_bytes(t->data, t->nbytes));
    }
    afm_gguf_close(g);
    return 0;
}

/* Re-writes a GGUF through afm's writer (every key, every tensor, same order). */
static int copy_file(const char *in, const char *out) {
    afm_gguf *g;
    afm_gguf_writer *w;
    OK(afm_gguf_open(in, &g));
    OK(afm_gguf_writer_create(&w));
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) OK(afm_gguf_copy_kv(w, g, i));
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        OK(afm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, false));
    }
    OK(afm_gguf_write(w, out));
    afm_gguf_writer_free(w);
    afm_gguf_close(g);
    return 0;
}

static tspec g_sample[] = {
    {"token_embd.weight", AFM_F32, 2, {8, 3}, 0, NULL},
    {"blk.0.attn_q.weight", AFM_F16, 2, {32, 5}, 0, NULL},
    {"blk.0.ffn_up.weight", AFM_BF16, 2, {16, 2}, 0, NULL},
    {"blk.0.attn_k.weight", AFM_Q8_0, 2, {64, 3}, 0, NULL},
    {"blk.0.attn_v.weight", AFM_Q4_0, 3, {32, 2, 2}, 0, NULL},
    {"blk.0.ffn_down.weight", AFM_Q4_K, 2, {256, 2}, 0, NULL},
    {"blk.0.ffn_gate.weight", AFM_Q6_K, 4, {256, 1, 1, 2}, 0, NULL},
    {"output_norm.weight", AFM_F32, 1, {7}, 0, NULL},
    {"blk.0.ids", AFM_I32, 1, {3}, 0, NULL},
};

/* The sample file: every metadata type and several tensor types with deterministic bytes
 * (byte k of tensor i is (i * 31 + k * 7) & 255). */
static int write_sample(const char *path, uint32_t alignment) {
    int n = (int)(sizeof g_sample / sizeof g_sample[0]);
    for (int i = 0; i < n; i++) {
        g_sample[i].nbytes = nbytes_of(g_sample[i].type, g_sample[i].ne, g_sample[i].n_dims);
        g_sample[i].data = malloc(g_sample[i].nbytes);
        for (size_t k = 0; k < g_sample[i].nbytes; k++) g_sample[i].data[k] = (unsigned char)((i * 31 + k * 7) & 255);
    }
    afm_gguf_writer *w;
    OK(afm_gguf_writer_create(&w));
    build(w, g_sample, n, alignment);
    OK(afm_gguf_write(w, path));
    afm_gguf_writer_free(w);
    for (int i = 0; i < n; i++) free(g_sample[i].data);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--copy") == 0) return copy_file(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "--write-sample") == 0)
        return write_sample(argv[2], argc > 3 ? (uint32_t)atoi(argv[3]) : 32);
    round_trip(32);
    round_trip(64);
    round_trip(8);
    writer_rejects();
    string_index();
    CHECK(strcmp(afm_gguf_type_name(AFM_GGUF_STRING), "string") == 0);
    CHECK(afm_gguf_type_size(AFM_GGUF_FLOAT64) == 8 && afm_gguf_type_size(AFM_GGUF_ARRAY) == 0);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("test_gguf: all checks passed\n");
    return 0;
}
