/* libFuzzer target for the safetensors header parser: any input is refused with a message or
 * loads, and then every tensor byte handed out is read and converted. The same bytes are also
 * tried as an HF config.json. Seeds: tests/fuzz/corpus/fuzz_safetensors. */
#include "formats/safetensors.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    afm_safetensors *st = NULL;
    if (afm_safetensors_open_memory(data, size, &st) == AFM_OK) {
        volatile unsigned sum = 0;
        for (int64_t i = 0; i < afm_safetensors_n_tensors(st); i++) {
            const afm_st_tensor *t = afm_safetensors_tensor_at(st, i);
            if (afm_safetensors_find(st, t->name) != t) abort();
            const uint8_t *p = t->data;
            if (p < data || p + t->nbytes > data + size) abort();
            for (size_t k = 0; k < t->nbytes; k++) sum += p[k];
            float f[16];
            size_t n = t->nbytes / 4 < 16 ? t->nbytes / 4 : 16;
            afm_st_to_f32(t, f, n);
        }
        (void)sum;
        afm_safetensors_close(st);
    } else if (!afm_last_error()[0]) {
        abort();
    }
    afm_config c;
    afm_hf_extra x;
    afm_hf_config_parse((const char *)data, size, &c, &x);
    return 0;
}
