/* GGUF metadata value types: names and sizes (reference/gguf-llamacpp.md §1.1). */
#include "formats/gguf.h"

const char *afm_gguf_type_name(afm_gguf_type t) {
    static const char *const names[AFM_GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    if ((unsigned)t >= AFM_GGUF_TYPE_COUNT) return "invalid";
    return names[t];
}

size_t afm_gguf_type_size(afm_gguf_type t) {
    switch (t) {
    case AFM_GGUF_UINT8: case AFM_GGUF_INT8: case AFM_GGUF_BOOL: return 1;
    case AFM_GGUF_UINT16: case AFM_GGUF_INT16: return 2;
    case AFM_GGUF_UINT32: case AFM_GGUF_INT32: case AFM_GGUF_FLOAT32: return 4;
    case AFM_GGUF_UINT64: case AFM_GGUF_INT64: case AFM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}
