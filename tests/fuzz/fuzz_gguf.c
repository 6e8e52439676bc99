/* libFuzzer target for the GGUF reader: any input is either refused with a message or
 * loads, and then every key, array element and tensor byte the reader hands out is read.
 * Seeds: tests/fuzz/corpus/fuzz_gguf (written by scripts/reference/make_fuzz_seeds.py). */
#include "formats/gguf.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned touch(const void *p, size_t n) {
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += ((const unsigned char *)p)[i];
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    afm_gguf *g = NULL;
    if (afm_gguf_open_memory(data, size, &g) != AFM_OK) {
        if (!afm_last_error()[0]) abort(); /* a refusal must say why */
        return 0;
    }
    volatile unsigned sum = 0;
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) {
        const char *key = afm_gguf_key(g, i), *s;
        size_t len;
        afm_gguf_type et;
        uint64_t n, u;
        const void *arr;
        double d;
        bool b;
        sum += touch(key, strlen(key));
        if (afm_gguf_find_key(g, key) != i) abort();
        if (afm_gguf_get_str(g, key, &s, &len)) sum += touch(s, len);
        if (afm_gguf_get_arr(g, key, &et, &n, &arr)) {
            if (et == AFM_GGUF_STRING) {
                for (uint64_t j = 0; j < n; j++)
                    if (afm_gguf_arr_str(g, key, j, &s, &len)) sum += touch(s, len);
                    else abort();
            } else {
                sum += touch(arr, (size_t)n * afm_gguf_type_size(et));
            }
        }
        if (afm_gguf_get_u64(g, key, &u)) sum += (unsigned)u;
        if (afm_gguf_get_f64(g, key, &d)) sum += d > 0;
        if (afm_gguf_get_bool(g, key, &b)) sum += b;
    }
    for (int64_t i = 0; i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        if (afm_gguf_find_tensor(g, t->name) != t) abort();
        if ((const uint8_t *)t->data < data || (const uint8_t *)t->data + t->nbytes > data + size) abort();
        sum += touch(t->data, t->nbytes);
    }
    (void)sum;
    afm_gguf_close(g);
    return 0;
}
