/* safetensors reader: single files and sharded HF checkpoints (model.safetensors.index.json).
 * Format: u64 LE header size N (at most 100 MB, as the reference implementation allows), a JSON
 * object of N bytes (trailing spaces allowed), then the data buffer. */
#include "formats/safetensors.h"
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include "tensor/dtype.h"
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct st_shard {
    afm_mmap map;
    const unsigned char *data;
    size_t size;
    char *name; /* file name, for messages */
} st_shard;

struct afm_safetensors {
    st_shard *shards;
    int32_t n_shards;
    afm_st_tensor *t;
    int64_t n, cap;
    afm_st_tensor **by_name; /* sorted by name, for binary search */
    cJSON *metadata;         /* first file's __metadata__ object, or NULL */
};

static const struct { const char *name; uint32_t dtype; size_t size; } g_dtypes[] = {
    {"F32", AFM_F32, 4}, {"F16", AFM_F16, 2}, {"BF16", AFM_BF16, 2}, {"F64", AFM_F64, 8},
    {"I8", AFM_I8, 1}, {"I16", AFM_I16, 2}, {"I32", AFM_I32, 4}, {"I64", AFM_I64, 8},
};

/* A JSON number that is an exact non-negative integer below 2^53. */
static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

static afm_status parse_entry(afm_safetensors *st, const cJSON *e, int32_t shard, size_t data_start) {
    const st_shard *sh = &st->shards[shard];
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return afm_error(AFM_ERR_FORMAT, "tensor '%s': entry is not a JSON object", name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return afm_error(AFM_ERR_FORMAT, "tensor '%s': missing string \"dtype\"", name);
    if (!cJSON_IsArray(shape)) return afm_error(AFM_ERR_FORMAT, "tensor '%s': missing array \"shape\"", name);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return afm_error(AFM_ERR_FORMAT, "tensor '%s': \"data_offsets\" must be [begin, end]", name);
    int k = -1;
    for (int i = 0; i < (int)(sizeof g_dtypes / sizeof g_dtypes[0]); i++)
        if (strcmp(dt->valuestring, g_dtypes[i].name) == 0) k = i;
    if (k < 0)
        return afm_error(AFM_ERR_UNSUPPORTED, "tensor '%s': dtype \"%.32s\" is not supported (F32, F16, BF16, F64, I8..I64)",
                         name, dt->valuestring);
    afm_st_tensor t = {.dtype = g_dtypes[k].dtype, .shape = {1, 1, 1, 1}, .shard = shard};
    int nd = cJSON_GetArraySize(shape);
    if (nd > AFM_ST_MAX_DIMS)
        return afm_error(AFM_ERR_UNSUPPORTED, "tensor '%s': %d dimensions, at most %d supported", name, nd, AFM_ST_MAX_DIMS);
    t.n_dims = (uint32_t)nd;
    size_t bytes = g_dtypes[k].size;
    int d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        uint64_t v;
        if (!json_uint(s, &v))
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': shape[%d] is not a non-negative integer", name, d);
        t.shape[d] = (int64_t)v;
        if (!afm_mul_ok(bytes, (size_t)v, &bytes))
            return afm_error(AFM_ERR_FORMAT, "tensor '%s': byte size overflows", name);
    }
    uint64_t begin, end;
    if (!json_uint(offs->child, &begin) || !json_uint(offs->child->next, &end) || begin > end)
        return afm_error(AFM_ERR_FORMAT, "tensor '%s': data_offsets must be integers with begin <= end", name);
    if (end - begin != bytes)
        return afm_error(AFM_ERR_FORMAT, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") hold %" PRIu64
                         " bytes, but %s shape needs %zu", name, begin, end, end - begin, g_dtypes[k].name, bytes);
    if (end > sh->size - data_start)
        return afm_error(AFM_ERR_FORMAT, "tensor '%s': data [%" PRIu64 "..%" PRIu64 ") extends past the end of the data (%zu bytes)",
                         name, begin, end, sh->size - data_start);
    t.nbytes = bytes;
    t.data = sh->data + data_start + begin;
    if (!(t.name = strdup(name))) return afm_error(AFM_ERR_NOMEM, "out of memory");
    if (st->n == st->cap) {
        int64_t nc = st->cap ? st->cap * 2 : 64;
        afm_st_tensor *p = realloc(st->t, (size_t)nc * sizeof *p);
        if (!p) {
            free((char *)t.name);
            return afm_error(AFM_ERR_NOMEM, "out of memory");
        }
        st->t = p;
        st->cap = nc;
    }
    st->t[st->n++] = t;
    return AFM_OK;
}

static int cmp_data(const void *a, const void *b) {
    const afm_st_tensor *x = a, *y = b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    const unsigned char *p = x->data, *q = y->data;
    if (p != q) return p < q ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1; /* empty tensors first */
    return strcmp(x->name, y->name);
}

/* Parses shard `shard` (already mapped) and appends its tensors. */
static afm_status parse_shard(afm_safetensors *st, int32_t shard) {
    const st_shard *sh = &st->shards[shard];
    uint64_t n;
    if (sh->size < 8) return afm_error(AFM_ERR_FORMAT, "file of %zu bytes is too short for a safetensors header", sh->size);
    memcpy(&n, sh->data, 8);
    if (n > ST_MAX_HEADER) return afm_error(AFM_ERR_FORMAT, "header size %" PRIu64 " exceeds the 100 MB limit", n);
    if (n > sh->size - 8)
        return afm_error(AFM_ERR_FORMAT, "header size %" PRIu64 " extends past the end of the file (%zu bytes)", n, sh->size);
    const char *text = (const char *)sh->data + 8, *end = NULL;
    if (n == 0 || text[0] != '{') return afm_error(AFM_ERR_FORMAT, "header does not start with a JSON object '{'");
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end ? (size_t)(end - text) : 0;
        if (!root && cJSON_GetErrorPtr()) at = (size_t)(cJSON_GetErrorPtr() - text);
        cJSON_Delete(root);
        return afm_error(AFM_ERR_FORMAT, "header is not valid JSON (near byte %zu of %" PRIu64 ")", at, n);
    }
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return afm_error(AFM_ERR_FORMAT, "unexpected bytes after the header JSON at byte %zu", (size_t)(p - text));
        }
    int64_t first = st->n;
    afm_status s = AFM_OK;
    for (const cJSON *e = root->child; e && s == AFM_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) s = afm_error(AFM_ERR_FORMAT, "__metadata__ is not a JSON object");
            else if (shard == 0 && !st->metadata && !(st->metadata = cJSON_Duplicate(e, 1)))
                s = afm_error(AFM_ERR_NOMEM, "out of memory");
            continue;
        }
        s = parse_entry(st, e, shard, 8 + (size_t)n);
    }
    cJSON_Delete(root);
    if (s != AFM_OK) return s;
    /* File order, and no two non-empty tensors may share a byte. */
    if (st->n > first) qsort(st->t + first, (size_t)(st->n - first), sizeof *st->t, cmp_data);
    const afm_st_tensor *prev = NULL;
    for (int64_t i = first; i < st->n; i++) {
        const afm_st_tensor *t = &st->t[i];
        if (!t->nbytes) continue;
        if (prev && (const unsigned char *)prev->data + prev->nbytes > (const unsigned char *)t->data)
            return afm_error(AFM_ERR_FORMAT, "tensor '%s' overlaps tensor '%s'", prev->name, t->name);
        prev = t;
    }
    return AFM_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const afm_st_tensor *const *)a)->name, (*(const afm_st_tensor *const *)b)->name);
}

/* Builds the name index; rejects a name that occurs twice (within or across files). */
static afm_status finish(afm_safetensors *st) {
    st->by_name = malloc((st->n ? (size_t)st->n : 1) * sizeof *st->by_name);
    if (!st->by_name) return afm_error(AFM_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < st->n; i++) st->by_name[i] = &st->t[i];
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name);
    for (int64_t i = 0; i + 1 < st->n; i++)
        if (strcmp(st->by_name[i]->name, st->by_name[i + 1]->name) == 0)
            return afm_error(AFM_ERR_FORMAT, "tensor '%s' appears twice", st->by_name[i]->name);
    return AFM_OK;
}

void afm_safetensors_close(afm_safetensors *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n; i++) free((char *)st->t[i].name);
    free(st->t);
    free(st->by_name);
    for (int32_t i = 0; i < st->n_shards; i++) {
        afm_mmap_close(&st->shards[i].map);
        free(st->shards[i].name);
    }
    free(st->shards);
    cJSON_Delete(st->metadata);
    free(st);
}

afm_status afm_safetensors_open_memory(const void *data, size_t size, afm_safetensors **out) {
    *out = NULL;
    afm_safetensors *st = calloc(1, sizeof *st);
    if (st) st->shards = calloc(1, sizeof *st->shards);
    if (!st || !st->shards) {
        free(st);
        return afm_error(AFM_ERR_NOMEM, "out of memory");
    }
    st->n_shards = 1;
    st->shards[0].data = data;
    st->shards[0].size = size;
    afm_status s = parse_shard(st, 0);
    if (s == AFM_OK) s = finish(st);
    if (s != AFM_OK) {
        afm_safetensors_close(st);
        return s;
    }
    *out = st;
    return AFM_OK;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Maps each file of `files` (names relative to dir) as one shard, in order. */
static afm_status open_files(afm_safetensors *st, const char *dir, char **files, int32_t n_files) {
    st->shards = calloc((size_t)n_files, sizeof *st->shards);
    if (!st->shards) return afm_error(AFM_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n_files; i++) {
        char *path = dir ? join(dir, files[i]) : strdup(files[i]);
        if (!path) return afm_error(AFM_ERR_NOMEM, "out of memory");
        st_shard *sh = &st->shards[i];
        afm_status s = afm_mmap_open(path, &sh->map);
        sh->name = path;
        st->n_shards = i + 1;
        if (s != AFM_OK) return s;
        sh->data = sh->map.data;
        sh->size = sh->map.size;
        if ((s = parse_shard(st, i)) != AFM_OK) return afm_error_prefix(s, "%s", path);
    }
    return finish(st);
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor": "file", ...}}. */
static afm_status open_index(afm_safetensors *st, const char *index_path) {
    char *text;
    size_t len;
    AFM_TRY(afm_read_file(index_path, &text, &len));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return afm_error(AFM_ERR_FORMAT, "%s: not JSON with a \"weight_map\" object", index_path);
    }
    char *dir = strdup(index_path);
    char **files = NULL;
    int32_t n_files = 0;
    afm_status s = dir ? AFM_OK : afm_error(AFM_ERR_NOMEM, "out of memory");
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else strcpy(dir, ".");
    }
    /* Distinct shard files in order of first mention; names must stay inside the folder. */
    int n_entries = cJSON_GetArraySize(map);
    files = calloc(n_entries ? (size_t)n_entries : 1, sizeof *files);
    if (!files && s == AFM_OK) s = afm_error(AFM_ERR_NOMEM, "out of memory");
    for (const cJSON *e = map->child; e && s == AFM_OK; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') || strcmp(e->valuestring, "..") == 0 ||
            strcmp(e->valuestring, ".") == 0) {
            s = afm_error(AFM_ERR_FORMAT, "%s: tensor '%s' maps to an invalid file name", index_path, e->string);
            break;
        }
        int32_t j = 0;
        while (j < n_files && strcmp(files[j], e->valuestring) != 0) j++;
        if (j == n_files) files[n_files++] = e->valuestring;
    }
    if (s == AFM_OK) s = open_files(st, dir, files, n_files);
    /* Every tensor the index names must be in the file it names. */
    for (const cJSON *e = map->child; e && s == AFM_OK; e = e->next) {
        const afm_st_tensor *t = afm_safetensors_find(st, e->string);
        if (!t || strcmp(files[t->shard], e->valuestring) != 0)
            s = afm_error(AFM_ERR_FORMAT, "%s: tensor '%s' is not in '%s' as the index says", index_path, e->string,
                          e->valuestring);
    }
    free(files);
    free(dir);
    cJSON_Delete(root);
    return s;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

afm_status afm_safetensors_open(const char *path, afm_safetensors **out) {
    *out = NULL;
    afm_safetensors *st = calloc(1, sizeof *st);
    if (!st) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_status s;
    if (afm_is_dir(path)) {
        char *index = join(path, "model.safetensors.index.json"), *single = join(path, "model.safetensors");
        if (!index || !single) s = afm_error(AFM_ERR_NOMEM, "out of memory");
        else if (afm_file_exists(index)) s = open_index(st, index);
        else if (afm_file_exists(single)) s = open_files(st, NULL, &single, 1);
        else s = afm_error(AFM_ERR_IO, "%s: no model.safetensors.index.json or model.safetensors in this folder", path);
        free(index);
        free(single);
    } else if (ends_with(path, ".json")) {
        s = open_index(st, path);
    } else {
        char *p = (char *)path;
        s = open_files(st, NULL, &p, 1);
    }
    if (s != AFM_OK) {
        afm_safetensors_close(st);
        return s;
    }
    *out = st;
    return AFM_OK;
}

int64_t afm_safetensors_n_tensors(const afm_safetensors *st) { return st->n; }

const afm_st_tensor *afm_safetensors_tensor_at(const afm_safetensors *st, int64_t i) {
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const afm_st_tensor *afm_safetensors_find(const afm_safetensors *st, const char *name) {
    if (!st->by_name) return NULL;
    int64_t lo = 0, hi = st->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *afm_safetensors_metadata(const afm_safetensors *st, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

afm_status afm_st_to_f32(const afm_st_tensor *t, float *out, size_t n) {
    size_t esz = t->dtype == AFM_F32 ? 4 : (t->dtype == AFM_F16 || t->dtype == AFM_BF16) ? 2 : 0;
    if (!esz) return afm_error(AFM_ERR_UNSUPPORTED, "tensor '%s': %s cannot be converted to f32 here", t->name,
                               afm_dtype_name(t->dtype));
    if (n > t->nbytes / esz)
        return afm_error(AFM_ERR_INVALID_ARG, "tensor '%s': %zu elements asked, it has %zu", t->name, n, t->nbytes / esz);
    const unsigned char *p = t->data;
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == AFM_F32) {
            memcpy(&out[i], p + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = t->dtype == AFM_F16 ? afm_f16_to_f32(h) : afm_bf16_to_f32(h);
        }
    }
    return AFM_OK;
}
