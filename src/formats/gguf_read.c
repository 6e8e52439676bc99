/* GGUF v2/v3 reader over a read-only memory map or a caller's buffer.
 *
 * Everything is validated before any tensor data is touched, with llama.cpp's loader rules
 * (reference/gguf-llamacpp.md §1.1): magic, version, counts bounded by the bytes left,
 * string/array lengths, no nested arrays, unique keys and tensor names, names < 64 bytes,
 * n_dims <= 4, 0 <= ne with overflow checks, known tensor types with ne[0] a multiple of the
 * block, power-of-two alignment, tensor data aligned, inside the file and not overlapping.
 * (llama.cpp also demands exactly contiguous offsets; we accept any aligned, disjoint layout,
 * and our writer emits the contiguous one.) Host byte order is assumed little-endian. */
#include "formats/gguf.h"
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include "tensor/dtype.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GGUF_MAX_NAME 64                  /* tensor names hold at most 63 bytes (GGML_MAX_NAME) */
#define GGUF_MAX_LEN ((uint64_t)1 << 30)  /* cap on string bytes and array elements (llama.cpp) */
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_kv {
    char *key;                /* NUL-terminated copy */
    afm_gguf_type type;
    afm_gguf_type elem_type;  /* arrays only */
    uint64_t count;           /* string: bytes; array: elements; scalar: 1 */
    const unsigned char *val; /* scalar value, string bytes or packed array elements */
    void *owned;              /* aligned copy of array elements whose file bytes are misaligned */
    size_t *str_pos;          /* string arrays: file offset of element k·STR_STRIDE's u64 length prefix */
} gguf_kv;

/* String arrays keep the position of every STR_STRIDE-th element only: element i is found by
 * skipping the i mod STR_STRIDE (validated) strings before it, so a lookup stays O(1) while the
 * index is 1/16 of one offset per element (SmolLM2's 49,152 tokens and 48,900 merges: 48 KiB
 * instead of 776 KiB resident for as long as the model is loaded). */
enum { STR_STRIDE = 16 };

/* Open-addressing hash set of indices keyed by name; slots hold index + 1 (0 = empty). */
typedef struct name_index { int64_t *slots; size_t mask; } name_index;

struct afm_gguf {
    afm_mmap map;
    bool mapped;
    const unsigned char *data;
    size_t size;
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    gguf_kv *kv;
    int64_t n_kv;
    afm_gguf_tensor *tensors;
    int64_t n_tensors;
    name_index kv_index, tensor_index;
};

/* ---- bounded cursor over the file bytes ---- */

typedef struct cursor { const unsigned char *p; size_t size, pos; } cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static bool take(cursor *c, void *out, size_t n) {
    if (left(c) < n) return false;
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return true;
}

static afm_status truncated(const cursor *c, const char *what) {
    return afm_error(AFM_ERR_FORMAT, "truncated: %s at offset %zu needs more bytes than the file's %zu", what,
                     c->pos, c->size);
}

/* gguf_string: u64 length + bytes (no NUL). */
static afm_status take_string(cursor *c, const char *what, const unsigned char **s, uint64_t *len) {
    uint64_t n;
    if (!take(c, &n, 8)) return truncated(c, what);
    if (n > GGUF_MAX_LEN)
        return afm_error(AFM_ERR_FORMAT, "%s at offset %zu has length %" PRIu64 ", above the limit %" PRIu64, what,
                         c->pos - 8, n, GGUF_MAX_LEN);
    if (n > left(c))
        return afm_error(AFM_ERR_FORMAT, "%s at offset %zu has length %" PRIu64 " but only %zu bytes remain", what,
                         c->pos - 8, n, left(c));
    *s = c->p + c->pos;
    *len = n;
    c->pos += (size_t)n;
    return AFM_OK;
}

/* ---- name hash ---- */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static afm_status index_init(name_index *ix, int64_t n) {
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return afm_error(AFM_ERR_NOMEM, "out of memory for a name index of %" PRId64 " entries", n);
    ix->mask = cap - 1;
    return AFM_OK;
}

/* Returns the index stored under `name`, or -1. With insert >= 0, stores it when absent. */
static int64_t index_lookup(name_index *ix, const char *name, const char *(*name_of)(const void *, int64_t),
                            const void *owner, int64_t insert) {
    if (!ix->slots) return -1;
    for (size_t h = hash_name(name) & ix->mask;; h = (h + 1) & ix->mask) {
        int64_t v = ix->slots[h];
        if (v == 0) {
            if (insert >= 0) ix->slots[h] = insert + 1;
            return -1;
        }
        if (strcmp(name_of(owner, v - 1), name) == 0) return v - 1;
    }
}

static const char *kv_name(const void *g, int64_t i) { return ((const afm_gguf *)g)->kv[i].key; }
static const char *tensor_name(const void *g, int64_t i) { return ((const afm_gguf *)g)->tensors[i].name; }

/* ---- parsing ---- */

static char *copy_name(const unsigned char *s, uint64_t len) {
    char *r = malloc((size_t)len + 1);
    if (r) {
        memcpy(r, s, (size_t)len);
        r[len] = 0;
    }
    return r;
}

static afm_status parse_value(cursor *c, gguf_kv *kv) {
    const char *key = kv->key;
    if (kv->type == AFM_GGUF_STRING)
        return take_string(c, "string value", &kv->val, &kv->count) == AFM_OK
                   ? AFM_OK
                   : afm_error_prefix(AFM_ERR_FORMAT, "key '%s'", key);
    if (kv->type != AFM_GGUF_ARRAY) {
        size_t n = afm_gguf_type_size(kv->type);
        if (left(c) < n) return afm_error(AFM_ERR_FORMAT, "key '%s': truncated %s value at offset %zu (file size %zu)",
                                          key, afm_gguf_type_name(kv->type), c->pos, c->size);
        kv->val = c->p + c->pos;
        kv->count = 1;
        c->pos += n;
        return AFM_OK;
    }
    uint32_t et;
    uint64_t count;
    if (!take(c, &et, 4) || !take(c, &count, 8))
        return afm_error(AFM_ERR_FORMAT, "key '%s': truncated array header at offset %zu (file size %zu)", key, c->pos,
                         c->size);
    if (et == AFM_GGUF_ARRAY)
        return afm_error(AFM_ERR_FORMAT, "key '%s': nested arrays are not supported", key);
    if (et >= AFM_GGUF_TYPE_COUNT)
        return afm_error(AFM_ERR_FORMAT, "key '%s': unknown array element type %u (expected 0..12)", key, et);
    if (count > GGUF_MAX_LEN)
        return afm_error(AFM_ERR_FORMAT, "key '%s': array of %" PRIu64 " elements exceeds the limit %" PRIu64, key,
                         count, GGUF_MAX_LEN);
    kv->elem_type = (afm_gguf_type)et;
    kv->count = count;
    kv->val = c->p + c->pos;
    if (et == AFM_GGUF_STRING) {
        /* Each element takes at least its 8-byte length: bound the table by the bytes left. */
        if (count > left(c) / 8)
            return afm_error(AFM_ERR_FORMAT, "key '%s': %" PRIu64 " strings cannot fit in the %zu bytes left", key,
                             count, left(c));
        kv->str_pos = malloc((size_t)(count / STR_STRIDE + 1) * sizeof *kv->str_pos);
        if (!kv->str_pos) return afm_error(AFM_ERR_NOMEM, "key '%s': out of memory for %" PRIu64 " strings", key, count);
        for (uint64_t i = 0; i < count; i++) {
            const unsigned char *s;
            uint64_t len;
            if (i % STR_STRIDE == 0) kv->str_pos[i / STR_STRIDE] = c->pos;
            if (take_string(c, "string", &s, &len) != AFM_OK)
                return afm_error_prefix(AFM_ERR_FORMAT, "key '%s' element %" PRIu64, key, i);
        }
        return AFM_OK;
    }
    size_t esz = afm_gguf_type_size(kv->elem_type), bytes;
    if (!afm_mul_ok((size_t)count, esz, &bytes) || bytes > left(c))
        return afm_error(AFM_ERR_FORMAT, "key '%s': array of %" PRIu64 " %s values needs %" PRIu64 " x %zu bytes, only %zu left",
                         key, count, afm_gguf_type_name(kv->elem_type), count, esz, left(c));
    if ((uintptr_t)kv->val % esz != 0) {
        /* Callers may index the elements directly: give them an aligned copy. */
        kv->owned = afm_alloc(bytes);
        if (!kv->owned) return afm_error(AFM_ERR_NOMEM, "key '%s': out of memory copying %zu bytes", key, bytes);
        memcpy(kv->owned, kv->val, bytes);
        kv->val = kv->owned;
    }
    c->pos += bytes;
    return AFM_OK;
}

static afm_status parse_kvs(afm_gguf *g, cursor *c, uint64_t n_kv) {
    /* A key-value pair takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes. */
    if (n_kv > left(c) / 14)
        return afm_error(AFM_ERR_FORMAT, "n_kv = %" PRIu64 " is impossible in a file of %zu bytes", n_kv, c->size);
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    if (!g->kv) return afm_error(AFM_ERR_NOMEM, "out of memory for %" PRIu64 " keys", n_kv);
    AFM_TRY(index_init(&g->kv_index, (int64_t)n_kv));
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        const unsigned char *s;
        uint64_t len;
        if (take_string(c, "key name", &s, &len) != AFM_OK)
            return afm_error_prefix(AFM_ERR_FORMAT, "key %" PRIu64 " of %" PRIu64, i, n_kv);
        if (len == 0 || memchr(s, 0, (size_t)len))
            return afm_error(AFM_ERR_FORMAT, "key %" PRIu64 " at offset %zu: name is empty or contains a NUL byte", i,
                             c->pos - (size_t)len);
        if (!(kv->key = copy_name(s, len))) return afm_error(AFM_ERR_NOMEM, "out of memory");
        g->n_kv = (int64_t)i + 1;
        uint32_t type;
        if (!take(c, &type, 4)) return truncated(c, "key type");
        if (type >= AFM_GGUF_TYPE_COUNT)
            return afm_error(AFM_ERR_FORMAT, "key '%s': unknown value type %u (expected 0..12)", kv->key, type);
        kv->type = (afm_gguf_type)type;
        AFM_TRY(parse_value(c, kv));
        if (index_lookup(&g->kv_index, kv->key, kv_name, g, (int64_t)i) >= 0)
            return afm_error(AFM_ERR_FORMAT, "duplicate key '%s'", kv->key);
    }
    return AFM_OK;
}

static afm_status read_alignment(afm_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = afm_gguf_find_key(g, "general.alignment");
    if (i < 0) return AFM_OK;
    if (g->kv[i].type != AFM_GGUF_UINT32)
        return afm_error(AFM_ERR_FORMAT, "general.alignment has type %s, expected u32",
                         afm_gguf_type_name(g->kv[i].type));
    uint32_t a;
    memcpy(&a, g->kv[i].val, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return afm_error(AFM_ERR_FORMAT, "general.alignment = %u, expected a power of two", a);
    g->alignment = a;
    return AFM_OK;
}

/* Element count and byte size of a tensor, with overflow and block checks. */
static afm_status tensor_size(afm_gguf_tensor *t) {
    const afm_dtype_info *info = afm_dtype_get(t->type);
    if (!info) return afm_error(AFM_ERR_FORMAT, "tensor '%s': unknown type id %u", t->name, t->type);
    int64_t n = 1;
    for (int j = 0; j < 4; j++)
        if (__builtin_mul_overflow(n, t->ne[j], &n))
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': element count overflows (ne = %" PRId64 " x %" PRId64
                             " x %" PRId64 " x %" PRId64 ")", t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    if (t->ne[0] % info->block != 0)
        return afm_error(AFM_ERR_FORMAT, "tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                         t->name, t->ne[0], info->name, info->block);
    size_t bytes = (size_t)(t->ne[0] / info->block) * (size_t)info->type_size;
    for (int j = 1; j < 4; j++)
        if (!afm_mul_ok(bytes, (size_t)t->ne[j], &bytes))
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': byte size overflows", t->name);
    t->nbytes = bytes;
    return AFM_OK;
}

static afm_status parse_tensor_info(afm_gguf *g, cursor *c, afm_gguf_tensor *t, int64_t i) {
    const unsigned char *s;
    uint64_t len;
    if (take_string(c, "tensor name", &s, &len) != AFM_OK)
        return afm_error_prefix(AFM_ERR_FORMAT, "tensor %" PRId64 " of %" PRId64, i, g->n_tensors);
    if (len == 0 || memchr(s, 0, (size_t)len))
        return afm_error(AFM_ERR_FORMAT, "tensor %" PRId64 ": name is empty or contains a NUL byte", i);
    if (len >= GGUF_MAX_NAME)
        return afm_error(AFM_ERR_FORMAT, "tensor %" PRId64 ": name of %" PRIu64 " bytes is too long (at most %d)", i, len,
                         GGUF_MAX_NAME - 1);
    if (!(t->name = copy_name(s, len))) return afm_error(AFM_ERR_NOMEM, "out of memory");
    if (!take(c, &t->n_dims, 4)) return truncated(c, "tensor dimension count");
    if (t->n_dims > 4)
        return afm_error(AFM_ERR_FORMAT, "tensor '%s': n_dims = %u, at most 4 supported", t->name, t->n_dims);
    for (int j = 0; j < 4; j++) t->ne[j] = 1;
    for (uint32_t j = 0; j < t->n_dims; j++) {
        uint64_t ne;
        if (!take(c, &ne, 8)) return truncated(c, "tensor shape");
        if (ne > (uint64_t)INT64_MAX)
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': ne[%u] = %" PRId64 " is negative", t->name, j, (int64_t)ne);
        t->ne[j] = (int64_t)ne;
    }
    if (!take(c, &t->type, 4) || !take(c, &t->offset, 8)) return truncated(c, "tensor type and offset");
    AFM_TRY(tensor_size(t));
    if (index_lookup(&g->tensor_index, t->name, tensor_name, g, i) >= 0)
        return afm_error(AFM_ERR_FORMAT, "duplicate tensor name '%s'", t->name);
    return AFM_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const afm_gguf_tensor *x = *(const afm_gguf_tensor *const *)a, *y = *(const afm_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Every tensor's bytes lie in the file, aligned, and no two non-empty tensors share a byte. */
static afm_status place_tensors(afm_gguf *g) {
    size_t room = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        afm_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %zu",
                             t->name, t->offset, g->alignment);
        if (t->offset > room)
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': offset %" PRIu64 " is past end of file (data section %zu..%zu)",
                             t->name, t->offset, g->data_offset, g->size);
        if (t->nbytes > room - t->offset) {
            uint64_t start = g->data_offset + t->offset;
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': data [%" PRIu64 "..%" PRIu64 ") extends past end of file (size %zu)",
                             t->name, start, start + (uint64_t)t->nbytes, g->size);
        }
        t->data = g->data + g->data_offset + t->offset;
    }
    afm_gguf_tensor **order = malloc((g->n_tensors ? (size_t)g->n_tensors : 1) * sizeof *order);
    if (!order) return afm_error(AFM_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].nbytes) order[n++] = &g->tensors[i];
    qsort(order, n, sizeof *order, cmp_by_offset);
    afm_status st = AFM_OK;
    for (size_t i = 0; i + 1 < n; i++)
        if (order[i]->offset + order[i]->nbytes > order[i + 1]->offset) {
            st = afm_error(AFM_ERR_FORMAT, "tensor '%s': data at offsets [%" PRIu64 "..%" PRIu64 ") overlaps tensor '%s' at offset %" PRIu64,
                           order[i]->name, order[i]->offset, order[i]->offset + (uint64_t)order[i]->nbytes,
                           order[i + 1]->name, order[i + 1]->offset);
            break;
        }
    free(order);
    return st;
}

static afm_status parse(afm_gguf *g) {
    cursor c = {g->data, g->size, 0};
    char magic[4];
    if (!take(&c, magic, 4) || memcmp(magic, "GGUF", 4) != 0)
        return afm_error(AFM_ERR_FORMAT, "not a GGUF file (expected the magic \"GGUF\" in the first 4 bytes)");
    uint32_t version;
    if (!take(&c, &version, 4)) return truncated(&c, "version");
    if ((version & 0xFFFF) == 0)
        return afm_error(AFM_ERR_UNSUPPORTED, "big-endian GGUF files are not supported (version field 0x%08x)", version);
    if (version < 2 || version > 3)
        return afm_error(AFM_ERR_UNSUPPORTED, "GGUF version %u is not supported (expected 2 or 3)", version);
    g->version = version;
    uint64_t n_tensors, n_kv;
    if (!take(&c, &n_tensors, 8) || !take(&c, &n_kv, 8)) return truncated(&c, "header counts");
    AFM_TRY(parse_kvs(g, &c, n_kv));
    AFM_TRY(read_alignment(g));
    /* A tensor info takes at least 8 + 1 (name) + 4 (n_dims) + 4 (type) + 8 (offset) bytes. */
    if (n_tensors > left(&c) / 25)
        return afm_error(AFM_ERR_FORMAT, "n_tensors = %" PRIu64 " is impossible with %zu bytes left after the metadata",
                         n_tensors, left(&c));
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors) return afm_error(AFM_ERR_NOMEM, "out of memory for %" PRIu64 " tensors", n_tensors);
    AFM_TRY(index_init(&g->tensor_index, (int64_t)n_tensors));
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1;
        AFM_TRY(parse_tensor_info(g, &c, &g->tensors[i], (int64_t)i));
    }
    g->data_offset = c.pos;
    if (n_tensors > 0) {
        size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
        if (pad > left(&c))
            return afm_error(AFM_ERR_FORMAT, "truncated: the tensor data section would start at %zu, past the end of the file (size %zu)",
                             c.pos + pad, c.size);
        g->data_offset = c.pos + pad;
    }
    return place_tensors(g);
}

static afm_status open_impl(const unsigned char *data, size_t size, afm_gguf **out) {
    *out = NULL;
    afm_gguf *g = calloc(1, sizeof *g);
    if (!g) return afm_error(AFM_ERR_NOMEM, "out of memory");
    g->data = data;
    g->size = size;
    afm_status s = parse(g);
    if (s != AFM_OK) {
        afm_gguf_close(g);
        return s;
    }
    *out = g;
    return AFM_OK;
}

afm_status afm_gguf_open_memory(const void *data, size_t size, afm_gguf **out) {
    if (!out || (!data && size)) return afm_error(AFM_ERR_INVALID_ARG, "afm_gguf_open_memory: null argument");
    return open_impl(data, size, out);
}

afm_status afm_gguf_open(const char *path, afm_gguf **out) {
    if (!out || !path) return afm_error(AFM_ERR_INVALID_ARG, "afm_gguf_open: null argument");
    *out = NULL;
    afm_mmap m;
    AFM_TRY(afm_mmap_open(path, &m));
    afm_status s = open_impl(m.data, m.size, out);
    if (s != AFM_OK) {
        afm_mmap_close(&m);
        return afm_error_prefix(s, "%s", path);
    }
    (*out)->map = m;
    (*out)->mapped = true;
    return AFM_OK;
}

void afm_gguf_close(afm_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_pos);
        afm_free(g->kv[i].owned);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    if (g->mapped) afm_mmap_close(&g->map);
    free(g);
}

/* ---- accessors ---- */

uint32_t afm_gguf_version(const afm_gguf *g) { return g->version; }
size_t afm_gguf_alignment(const afm_gguf *g) { return g->alignment; }
size_t afm_gguf_file_size(const afm_gguf *g) { return g->size; }
size_t afm_gguf_data_offset(const afm_gguf *g) { return g->data_offset; }

void afm_gguf_release_pages(const afm_gguf *g) {
    if (g->mapped && g->map.size) madvise((void *)(uintptr_t)g->map.data, g->map.size, MADV_DONTNEED);
}
int64_t afm_gguf_n_kv(const afm_gguf *g) { return g->n_kv; }
int64_t afm_gguf_n_tensors(const afm_gguf *g) { return g->n_tensors; }

int64_t afm_gguf_find_key(const afm_gguf *g, const char *key) {
    return index_lookup((name_index *)&g->kv_index, key, kv_name, g, -1);
}
const char *afm_gguf_key(const afm_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL; }
afm_gguf_type afm_gguf_kv_type(const afm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : AFM_GGUF_TYPE_COUNT;
}

const afm_gguf_tensor *afm_gguf_tensor_at(const afm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}
const afm_gguf_tensor *afm_gguf_find_tensor(const afm_gguf *g, const char *name) {
    int64_t i = index_lookup((name_index *)&g->tensor_index, name, tensor_name, g, -1);
    return i >= 0 ? &g->tensors[i] : NULL;
}

static const gguf_kv *find(const afm_gguf *g, const char *key) {
    int64_t i = afm_gguf_find_key(g, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

/* Integer value of a scalar kv, widened: signed types into *s, unsigned into *u. */
static bool int_value(const gguf_kv *kv, bool *is_signed, int64_t *s, uint64_t *u) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; } v;
    size_t n = afm_gguf_type_size(kv->type);
    if (!n || kv->type == AFM_GGUF_FLOAT32 || kv->type == AFM_GGUF_FLOAT64 || kv->type == AFM_GGUF_BOOL) return false;
    memcpy(&v, kv->val, n);
    *is_signed = true;
    switch (kv->type) {
    case AFM_GGUF_INT8: *s = v.i8; break;
    case AFM_GGUF_INT16: *s = v.i16; break;
    case AFM_GGUF_INT32: *s = v.i32; break;
    case AFM_GGUF_INT64: *s = v.i64; break;
    case AFM_GGUF_UINT8: *is_signed = false; *u = v.u8; break;
    case AFM_GGUF_UINT16: *is_signed = false; *u = v.u16; break;
    case AFM_GGUF_UINT32: *is_signed = false; *u = v.u32; break;
    default: *is_signed = false; *u = v.u64; break;
    }
    return true;
}

bool afm_gguf_get_u64(const afm_gguf *g, const char *key, uint64_t *out) {
    const gguf_kv *kv = find(g, key);
    bool sg;
    int64_t s;
    uint64_t u;
    if (!kv || !int_value(kv, &sg, &s, &u)) return false;
    if (sg) {
        if (s < 0) return false;
        u = (uint64_t)s;
    }
    *out = u;
    return true;
}

bool afm_gguf_get_i64(const afm_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = find(g, key);
    bool sg;
    int64_t s;
    uint64_t u;
    if (!kv || !int_value(kv, &sg, &s, &u)) return false;
    if (!sg) {
        if (u > (uint64_t)INT64_MAX) return false;
        s = (int64_t)u;
    }
    *out = s;
    return true;
}

bool afm_gguf_get_u32(const afm_gguf *g, const char *key, uint32_t *out) {
    uint64_t v;
    if (!afm_gguf_get_u64(g, key, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool afm_gguf_get_f64(const afm_gguf *g, const char *key, double *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv) return false;
    if (kv->type == AFM_GGUF_FLOAT32) {
        float f;
        memcpy(&f, kv->val, 4);
        *out = f;
        return true;
    }
    if (kv->type == AFM_GGUF_FLOAT64) {
        memcpy(out, kv->val, 8);
        return true;
    }
    return false;
}

bool afm_gguf_get_f32(const afm_gguf *g, const char *key, float *out) {
    double d;
    if (!afm_gguf_get_f64(g, key, &d)) return false;
    *out = (float)d;
    return true;
}

bool afm_gguf_get_bool(const afm_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != AFM_GGUF_BOOL) return false;
    *out = kv->val[0] != 0;
    return true;
}

bool afm_gguf_get_str(const afm_gguf *g, const char *key, const char **s, size_t *len) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != AFM_GGUF_STRING) return false;
    if (s) *s = (const char *)kv->val;
    if (len) *len = (size_t)kv->count;
    return true;
}

bool afm_gguf_get_arr(const afm_gguf *g, const char *key, afm_gguf_type *elem_type, uint64_t *count, const void **data) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != AFM_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = kv->elem_type;
    if (count) *count = kv->count;
    if (data) *data = kv->elem_type == AFM_GGUF_STRING ? NULL : kv->val;
    return true;
}

bool afm_gguf_arr_str(const afm_gguf *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != AFM_GGUF_ARRAY || kv->elem_type != AFM_GGUF_STRING || i >= kv->count) return false;
    size_t pos = kv->str_pos[i / STR_STRIDE];
    uint64_t n;
    for (uint64_t k = i % STR_STRIDE;; k--) { /* lengths were checked at open: no bound checks here */
        memcpy(&n, g->data + pos, 8);
        if (k == 0) break;
        pos += 8 + (size_t)n;
    }
    if (s) *s = (const char *)g->data + pos + 8;
    if (len) *len = (size_t)n;
    return true;
}
