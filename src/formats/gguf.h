/* GGUF v2/v3 reader (memory-mapped, validated) and v3 writer (atomic).
 * Format: ../shared/reference/gguf-llamacpp.md §1. Dimensions are in ggml order: ne[0] is the
 * contiguous one, so a weight W (out, in) has ne = {in, out}. */
#ifndef AFM_FORMATS_GGUF_H
#define AFM_FORMATS_GGUF_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "afm/status.h"

typedef enum afm_gguf_type {
    AFM_GGUF_UINT8 = 0, AFM_GGUF_INT8 = 1, AFM_GGUF_UINT16 = 2, AFM_GGUF_INT16 = 3,
    AFM_GGUF_UINT32 = 4, AFM_GGUF_INT32 = 5, AFM_GGUF_FLOAT32 = 6, AFM_GGUF_BOOL = 7,
    AFM_GGUF_STRING = 8, AFM_GGUF_ARRAY = 9, AFM_GGUF_UINT64 = 10, AFM_GGUF_INT64 = 11,
    AFM_GGUF_FLOAT64 = 12, AFM_GGUF_TYPE_COUNT = 13
} afm_gguf_type;

typedef struct afm_gguf_tensor {
    const char *name;      /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[4];         /* unused dims are 1 */
    uint32_t type;         /* afm_dtype / ggml_type id */
    uint64_t offset;       /* relative to the data section */
    size_t nbytes;
    const void *data;      /* points into the mapping (or the caller's buffer); aligned to the
                            * file's alignment (>= 32 by default) with afm_gguf_open, since the map
                            * is page-aligned; with afm_gguf_open_memory only if the buffer is */
} afm_gguf_tensor;

/* A reader is immutable once open: any number of threads may query it at the same time. */
typedef struct afm_gguf afm_gguf;

afm_status afm_gguf_open(const char *path, afm_gguf **out);
/* Parses a buffer the caller keeps alive (fuzzing, tests). */
afm_status afm_gguf_open_memory(const void *data, size_t size, afm_gguf **out);
void afm_gguf_close(afm_gguf *g);

uint32_t afm_gguf_version(const afm_gguf *g);
size_t afm_gguf_alignment(const afm_gguf *g);
size_t afm_gguf_file_size(const afm_gguf *g);
/* File offset of the tensor data section (tensor offsets are relative to it). */
size_t afm_gguf_data_offset(const afm_gguf *g);
/* Lets the kernel drop the pages of the file's memory map from this process (afm_gguf_open's
 * mapping is private and read-only, so they are read back from the file on the next access):
 * used once a model has copied what it needs, so resident memory holds no second copy. No-op for
 * afm_gguf_open_memory. */
void afm_gguf_release_pages(const afm_gguf *g);

/* Key/value metadata. Index-based access plus typed getters by key. */
int64_t afm_gguf_n_kv(const afm_gguf *g);
int64_t afm_gguf_find_key(const afm_gguf *g, const char *key);   /* -1 if absent */
const char *afm_gguf_key(const afm_gguf *g, int64_t i);
afm_gguf_type afm_gguf_kv_type(const afm_gguf *g, int64_t i);
/* Getters return false if the key is absent or holds an incompatible type (use afm_gguf_find_key
 * and afm_gguf_kv_type to tell the two apart). Integer getters accept any integer type whose
 * value fits; *out is untouched on false. */
bool afm_gguf_get_u32(const afm_gguf *g, const char *key, uint32_t *out);
bool afm_gguf_get_i64(const afm_gguf *g, const char *key, int64_t *out);
bool afm_gguf_get_f32(const afm_gguf *g, const char *key, float *out);   /* f32 or f64 */
bool afm_gguf_get_bool(const afm_gguf *g, const char *key, bool *out);
bool afm_gguf_get_u64(const afm_gguf *g, const char *key, uint64_t *out);
bool afm_gguf_get_f64(const afm_gguf *g, const char *key, double *out);  /* f32 or f64 */
/* String value (not NUL-terminated in the file: use len). */
bool afm_gguf_get_str(const afm_gguf *g, const char *key, const char **s, size_t *len);
/* Arrays: element type and count; for non-string element types *data points at the packed
 * little-endian elements, aligned for the element type (a copy is made at open when the file's
 * bytes are not). String arrays: *data is NULL, use afm_gguf_arr_str (O(1) per element: at most 15
 * length prefixes are skipped).
 * Null pointers may be passed for outputs that are not wanted. */
bool afm_gguf_get_arr(const afm_gguf *g, const char *key, afm_gguf_type *elem_type, uint64_t *count, const void **data);
bool afm_gguf_arr_str(const afm_gguf *g, const char *key, uint64_t i, const char **s, size_t *len);

int64_t afm_gguf_n_tensors(const afm_gguf *g);
const afm_gguf_tensor *afm_gguf_tensor_at(const afm_gguf *g, int64_t i);
const afm_gguf_tensor *afm_gguf_find_tensor(const afm_gguf *g, const char *name); /* NULL if absent */

/* ---- writer ---- */
typedef struct afm_gguf_writer afm_gguf_writer;
afm_status afm_gguf_writer_create(afm_gguf_writer **out);
void afm_gguf_writer_free(afm_gguf_writer *w);
/* Setting a key that exists replaces its value. Strings and arrays are copied. */
afm_status afm_gguf_set_u32(afm_gguf_writer *w, const char *key, uint32_t v);
afm_status afm_gguf_set_i32(afm_gguf_writer *w, const char *key, int32_t v);
afm_status afm_gguf_set_u64(afm_gguf_writer *w, const char *key, uint64_t v);
afm_status afm_gguf_set_i64(afm_gguf_writer *w, const char *key, int64_t v);
afm_status afm_gguf_set_f32(afm_gguf_writer *w, const char *key, float v);
afm_status afm_gguf_set_f64(afm_gguf_writer *w, const char *key, double v);
/* Any fixed-size scalar type (UINT8 .. FLOAT64, BOOL); value points at one element. */
afm_status afm_gguf_set_scalar(afm_gguf_writer *w, const char *key, afm_gguf_type type, const void *value);
afm_status afm_gguf_set_bool(afm_gguf_writer *w, const char *key, bool v);
afm_status afm_gguf_set_str(afm_gguf_writer *w, const char *key, const char *s);
afm_status afm_gguf_set_strn(afm_gguf_writer *w, const char *key, const char *s, size_t len);
/* Array of fixed-size elements (not strings), elem_type's size each. */
afm_status afm_gguf_set_arr(afm_gguf_writer *w, const char *key, afm_gguf_type elem_type, const void *data, uint64_t count);
/* Array of strings: strs[i] with lens[i] bytes (lens NULL: NUL-terminated). */
afm_status afm_gguf_set_arr_str(afm_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, uint64_t count);
/* Copies one key (any type) from a reader. */
afm_status afm_gguf_copy_kv(afm_gguf_writer *w, const afm_gguf *src, int64_t kv_index);
/* Adds a tensor. ne in ggml order. The data is copied when copy is true; otherwise the pointer
 * must stay valid until afm_gguf_write returns. */
afm_status afm_gguf_add_tensor(afm_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                               const int64_t *ne, const void *data, size_t nbytes, bool copy);
/* Adds a tensor whose bytes are produced while the file is written, one tensor at a time, so
 * peak memory is one tensor (converting or initializing models larger than RAM would allow):
 * fill(ctx, name, buf, nbytes) must write exactly nbytes (the shape's size) into buf. A failing
 * fill aborts the write (no file is left) and its status is returned. */
typedef afm_status (*afm_gguf_fill_fn)(void *ctx, const char *name, void *buf, size_t nbytes);
afm_status afm_gguf_add_tensor_fn(afm_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                  const int64_t *ne, afm_gguf_fill_fn fill, void *ctx);
/* Writes the file atomically (temp file + fsync + rename). Alignment 32 unless set_u32
 * "general.alignment" was called. */
afm_status afm_gguf_write(afm_gguf_writer *w, const char *path);

const char *afm_gguf_type_name(afm_gguf_type t);   /* "u32", "string", ...; "invalid" */
/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and invalid ids. */
size_t afm_gguf_type_size(afm_gguf_type t);
#endif
