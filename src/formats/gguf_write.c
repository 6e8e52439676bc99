/* GGUF v3 writer: keys in insertion order (re-setting a key replaces its value in place),
 * tensors in the order added, tensor data contiguous with each tensor padded to the alignment
 * (what llama.cpp's loader requires), written atomically (temp file, fsync, rename). */
#include "formats/gguf.h"
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include "tensor/dtype.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_NAME 64
#define GGUF_MAX_LEN ((uint64_t)1 << 30)

typedef struct wkv {
    char *key;
    afm_gguf_type type;
    unsigned char *val; /* the value exactly as serialized after the type field */
    size_t val_size;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    const void *data;
    size_t nbytes;
    void *owned;
    afm_gguf_fill_fn fill; /* produces the bytes at write time when set */
    void *ctx;
} wtensor;

struct afm_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

afm_status afm_gguf_writer_create(afm_gguf_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? AFM_OK : afm_error(AFM_ERR_NOMEM, "out of memory");
}

void afm_gguf_writer_free(afm_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

/* Stores (key, type, serialized value), taking ownership of val; replaces an existing key. */
static afm_status put(afm_gguf_writer *w, const char *key, afm_gguf_type type, unsigned char *val, size_t val_size) {
    if (!key || !*key) {
        free(val);
        return afm_error(AFM_ERR_INVALID_ARG, "gguf writer: empty key");
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].val_size = val_size;
            return AFM_OK;
        }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free(val);
        return afm_error(AFM_ERR_NOMEM, "gguf writer: out of memory adding key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){k, type, val, val_size};
    return AFM_OK;
}

afm_status afm_gguf_set_scalar(afm_gguf_writer *w, const char *key, afm_gguf_type type, const void *value) {
    size_t n = afm_gguf_type_size(type);
    if (!n) return afm_error(AFM_ERR_INVALID_ARG, "key '%s': %s is not a fixed-size scalar type", key,
                             afm_gguf_type_name(type));
    unsigned char *v = malloc(n);
    if (!v) return afm_error(AFM_ERR_NOMEM, "out of memory");
    memcpy(v, value, n);
    if (type == AFM_GGUF_BOOL) v[0] = v[0] != 0;
    return put(w, key, type, v, n);
}

afm_status afm_gguf_set_u32(afm_gguf_writer *w, const char *key, uint32_t v) { return afm_gguf_set_scalar(w, key, AFM_GGUF_UINT32, &v); }
afm_status afm_gguf_set_i32(afm_gguf_writer *w, const char *key, int32_t v) { return afm_gguf_set_scalar(w, key, AFM_GGUF_INT32, &v); }
afm_status afm_gguf_set_u64(afm_gguf_writer *w, const char *key, uint64_t v) { return afm_gguf_set_scalar(w, key, AFM_GGUF_UINT64, &v); }
afm_status afm_gguf_set_i64(afm_gguf_writer *w, const char *key, int64_t v) { return afm_gguf_set_scalar(w, key, AFM_GGUF_INT64, &v); }
afm_status afm_gguf_set_f32(afm_gguf_writer *w, const char *key, float v) { return afm_gguf_set_scalar(w, key, AFM_GGUF_FLOAT32, &v); }
afm_status afm_gguf_set_f64(afm_gguf_writer *w, const char *key, double v) { return afm_gguf_set_scalar(w, key, AFM_GGUF_FLOAT64, &v); }
afm_status afm_gguf_set_bool(afm_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v;
    return afm_gguf_set_scalar(w, key, AFM_GGUF_BOOL, &b);
}

afm_status afm_gguf_set_strn(afm_gguf_writer *w, const char *key, const char *s, size_t len) {
    if (len > GGUF_MAX_LEN) return afm_error(AFM_ERR_RANGE, "key '%s': string of %zu bytes is too long", key, len);
    unsigned char *v = malloc(8 + len);
    if (!v) return afm_error(AFM_ERR_NOMEM, "out of memory");
    uint64_t n = len;
    memcpy(v, &n, 8);
    if (len) memcpy(v + 8, s, len);
    return put(w, key, AFM_GGUF_STRING, v, 8 + len);
}

afm_status afm_gguf_set_str(afm_gguf_writer *w, const char *key, const char *s) {
    return afm_gguf_set_strn(w, key, s, strlen(s));
}

/* Array value: u32 element type, u64 count, then the elements. */
afm_status afm_gguf_set_arr(afm_gguf_writer *w, const char *key, afm_gguf_type elem_type, const void *data, uint64_t count) {
    size_t esz = afm_gguf_type_size(elem_type), bytes;
    if (!esz) return afm_error(AFM_ERR_INVALID_ARG, "key '%s': arrays of %s need afm_gguf_set_arr_str or are not allowed",
                               key, afm_gguf_type_name(elem_type));
    if (count > GGUF_MAX_LEN || !afm_mul_ok((size_t)count, esz, &bytes))
        return afm_error(AFM_ERR_RANGE, "key '%s': array of %" PRIu64 " elements is too long", key, count);
    unsigned char *v = malloc(12 + bytes);
    if (!v) return afm_error(AFM_ERR_NOMEM, "out of memory");
    uint32_t et = elem_type;
    memcpy(v, &et, 4);
    memcpy(v + 4, &count, 8);
    if (bytes) memcpy(v + 12, data, bytes);
    if (elem_type == AFM_GGUF_BOOL)
        for (size_t i = 0; i < bytes; i++) v[12 + i] = v[12 + i] != 0;
    return put(w, key, AFM_GGUF_ARRAY, v, 12 + bytes);
}

afm_status afm_gguf_set_arr_str(afm_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, uint64_t count) {
    if (count > GGUF_MAX_LEN) return afm_error(AFM_ERR_RANGE, "key '%s': array of %" PRIu64 " strings is too long", key, count);
    size_t total = 12;
    for (uint64_t i = 0; i < count; i++) {
        size_t n = lens ? lens[i] : strlen(strs[i]);
        if (n > GGUF_MAX_LEN || !afm_add_ok(total, 8 + n, &total))
            return afm_error(AFM_ERR_RANGE, "key '%s': string %" PRIu64 " is too long", key, i);
    }
    unsigned char *v = malloc(total), *p = v + 12;
    if (!v) return afm_error(AFM_ERR_NOMEM, "key '%s': out of memory for %zu bytes of strings", key, total);
    uint32_t et = AFM_GGUF_STRING;
    memcpy(v, &et, 4);
    memcpy(v + 4, &count, 8);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = lens ? lens[i] : strlen(strs[i]);
        memcpy(p, &n, 8);
        if (n) memcpy(p + 8, strs[i], (size_t)n);
        p += 8 + n;
    }
    return put(w, key, AFM_GGUF_ARRAY, v, total);
}

afm_status afm_gguf_copy_kv(afm_gguf_writer *w, const afm_gguf *src, int64_t i) {
    const char *key = afm_gguf_key(src, i);
    if (!key) return afm_error(AFM_ERR_INVALID_ARG, "afm_gguf_copy_kv: no key with index %" PRId64, i);
    afm_gguf_type type = afm_gguf_kv_type(src, i);
    if (type == AFM_GGUF_STRING) {
        const char *s;
        size_t len;
        afm_gguf_get_str(src, key, &s, &len);
        return afm_gguf_set_strn(w, key, s, len);
    }
    if (type != AFM_GGUF_ARRAY) {
        /* Re-read the scalar through the widest getter of its kind and narrow back exactly. */
        union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
                float f; double d; bool b; } v;
        uint64_t u = 0;
        int64_t s = 0;
        switch (type) {
        case AFM_GGUF_UINT8: afm_gguf_get_u64(src, key, &u); v.u8 = (uint8_t)u; break;
        case AFM_GGUF_UINT16: afm_gguf_get_u64(src, key, &u); v.u16 = (uint16_t)u; break;
        case AFM_GGUF_UINT32: afm_gguf_get_u64(src, key, &u); v.u32 = (uint32_t)u; break;
        case AFM_GGUF_UINT64: afm_gguf_get_u64(src, key, &u); v.u64 = u; break;
        case AFM_GGUF_INT8: afm_gguf_get_i64(src, key, &s); v.i8 = (int8_t)s; break;
        case AFM_GGUF_INT16: afm_gguf_get_i64(src, key, &s); v.i16 = (int16_t)s; break;
        case AFM_GGUF_INT32: afm_gguf_get_i64(src, key, &s); v.i32 = (int32_t)s; break;
        case AFM_GGUF_INT64: afm_gguf_get_i64(src, key, &s); v.i64 = s; break;
        case AFM_GGUF_FLOAT32: afm_gguf_get_f32(src, key, &v.f); break;
        case AFM_GGUF_FLOAT64: afm_gguf_get_f64(src, key, &v.d); break;
        case AFM_GGUF_BOOL: { bool b = false; afm_gguf_get_bool(src, key, &b); v.u8 = b; break; }
        default: return afm_error(AFM_ERR_INTERNAL, "key '%s': unexpected type %d", key, (int)type);
        }
        return afm_gguf_set_scalar(w, key, type, &v);
    }
    afm_gguf_type et;
    uint64_t count;
    const void *data;
    afm_gguf_get_arr(src, key, &et, &count, &data);
    if (et != AFM_GGUF_STRING) return afm_gguf_set_arr(w, key, et, data, count);
    const char **strs = malloc((count ? (size_t)count : 1) * sizeof *strs);
    size_t *lens = malloc((count ? (size_t)count : 1) * sizeof *lens);
    afm_status st = AFM_OK;
    if (!strs || !lens) st = afm_error(AFM_ERR_NOMEM, "key '%s': out of memory", key);
    for (uint64_t j = 0; st == AFM_OK && j < count; j++) afm_gguf_arr_str(src, key, j, &strs[j], &lens[j]);
    if (st == AFM_OK) st = afm_gguf_set_arr_str(w, key, strs, lens, count);
    free(strs);
    free(lens);
    return st;
}

/* Validates name and shape and appends a tensor entry of the right byte size (*t gets it). */
static afm_status add_entry(afm_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                            wtensor **out) {
    if (!name || !*name || strlen(name) >= GGUF_MAX_NAME)
        return afm_error(AFM_ERR_INVALID_ARG, "tensor name '%s' must have 1..%d bytes", name ? name : "(null)",
                         GGUF_MAX_NAME - 1);
    if (n_dims > 4) return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': n_dims = %u, at most 4", name, n_dims);
    const afm_dtype_info *info = afm_dtype_get(type);
    if (!info) return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': unknown type id %u", name, type);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    for (uint32_t j = 0; j < n_dims; j++) {
        if (ne[j] < 0) return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': ne[%u] = %" PRId64 " < 0", name, j, ne[j]);
        t.ne[j] = ne[j];
    }
    if (t.ne[0] % info->block)
        return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                         name, t.ne[0], info->name, info->block);
    t.nbytes = (size_t)(t.ne[0] / info->block) * (size_t)info->type_size;
    for (int j = 1; j < 4; j++)
        if (!afm_mul_ok(t.nbytes, (size_t)t.ne[j], &t.nbytes))
            return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': size overflows", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return afm_error(AFM_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
    if (!(t.name = strdup(name)) || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(t.name);
        return afm_error(AFM_ERR_NOMEM, "tensor '%s': out of memory", name);
    }
    w->t[w->n_t] = t;
    *out = &w->t[w->n_t++];
    return AFM_OK;
}

static void drop_last(afm_gguf_writer *w) {
    w->n_t--;
    free(w->t[w->n_t].name);
    free(w->t[w->n_t].owned);
}

afm_status afm_gguf_add_tensor(afm_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                               const void *data, size_t nbytes, bool copy) {
    wtensor *t = NULL;
    AFM_TRY(add_entry(w, name, type, n_dims, ne, &t));
    if (nbytes != t->nbytes) {
        size_t need = t->nbytes;
        drop_last(w);
        return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': %zu bytes given, its %s shape needs %zu", name, nbytes,
                         afm_dtype_name(type), need);
    }
    if (nbytes && !data) {
        drop_last(w);
        return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': no data", name);
    }
    t->data = data;
    if (copy && nbytes) {
        if (!(t->owned = malloc(nbytes))) {
            drop_last(w);
            return afm_error(AFM_ERR_NOMEM, "tensor '%s': out of memory copying %zu bytes", name, nbytes);
        }
        memcpy(t->owned, data, nbytes);
        t->data = t->owned;
    }
    return AFM_OK;
}

afm_status afm_gguf_add_tensor_fn(afm_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                  const int64_t *ne, afm_gguf_fill_fn fill, void *ctx) {
    if (!fill) return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': no fill function", name ? name : "(null)");
    wtensor *t = NULL;
    AFM_TRY(add_entry(w, name, type, n_dims, ne, &t));
    t->fill = fill;
    t->ctx = ctx;
    return AFM_OK;
}

static size_t pad_to(size_t x, size_t a) { return (x + a - 1) / a * a; }

static void put_bytes(FILE *f, const void *p, size_t n) {
    if (n) fwrite(p, 1, n, f);
}

static void put_zeros(FILE *f, size_t n) {
    static const unsigned char zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        fwrite(zeros, 1, k, f);
        n -= k;
    }
}

static void put_string(FILE *f, const char *s) {
    uint64_t n = strlen(s);
    put_bytes(f, &n, 8);
    put_bytes(f, s, (size_t)n);
}

afm_status afm_gguf_write(afm_gguf_writer *w, const char *path) {
    size_t alignment = 32;
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0) {
            uint32_t a = 0;
            if (w->kv[i].type == AFM_GGUF_UINT32) memcpy(&a, w->kv[i].val, 4);
            if (a == 0 || (a & (a - 1)))
                return afm_error(AFM_ERR_INVALID_ARG, "general.alignment must be a u32 power of two");
            alignment = a;
        }
    afm_atomic_file af;
    AFM_TRY(afm_atomic_open(path, &af));
    FILE *f = af.f;
    uint32_t version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    put_bytes(f, "GGUF", 4);
    put_bytes(f, &version, 4);
    put_bytes(f, &n_t, 8);
    put_bytes(f, &n_kv, 8);
    size_t pos = 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        uint32_t type = w->kv[i].type;
        put_string(f, w->kv[i].key);
        put_bytes(f, &type, 4);
        put_bytes(f, w->kv[i].val, w->kv[i].val_size);
        pos += 8 + strlen(w->kv[i].key) + 4 + w->kv[i].val_size;
    }
    /* Tensor i starts at the padded end of tensor i-1 (offsets relative to the data section). */
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_string(f, t->name);
        put_bytes(f, &t->n_dims, 4);
        put_bytes(f, t->ne, 8 * (size_t)t->n_dims);
        put_bytes(f, &t->type, 4);
        put_bytes(f, &offset, 8);
        pos += 8 + strlen(t->name) + 4 + 8 * (size_t)t->n_dims + 4 + 8;
        offset += pad_to(t->nbytes, alignment);
    }
    if (w->n_t) put_zeros(f, pad_to(pos, alignment) - pos);
    /* Tensors with a fill function are produced one at a time into one reused buffer. */
    void *buf = NULL;
    size_t buf_size = 0;
    afm_status s = AFM_OK;
    for (size_t i = 0; i < w->n_t && s == AFM_OK; i++) {
        const wtensor *t = &w->t[i];
        const void *data = t->data;
        if (t->fill && t->nbytes) {
            if (t->nbytes > buf_size) {
                free(buf);
                buf_size = 0;
                if (!(buf = malloc(t->nbytes))) {
                    s = afm_error(AFM_ERR_NOMEM, "tensor '%s': out of memory for %zu bytes", t->name, t->nbytes);
                    break;
                }
                buf_size = t->nbytes;
            }
            if ((s = t->fill(t->ctx, t->name, buf, t->nbytes)) != AFM_OK) {
                afm_error_prefix(s, "tensor '%s'", t->name);
                break;
            }
            data = buf;
        }
        put_bytes(f, data, t->nbytes);
        put_zeros(f, pad_to(t->nbytes, alignment) - t->nbytes);
        if (ferror(f)) s = afm_error(AFM_ERR_IO, "error writing tensor '%s'", t->name);
    }
    free(buf);
    if (s != AFM_OK) {
        afm_atomic_abort(&af);
        return afm_error_prefix(s, "writing GGUF '%s'", path);
    }
    s = afm_atomic_commit(&af);
    return s == AFM_OK ? AFM_OK : afm_error_prefix(s, "writing GGUF '%s'", path);
}
