#include "tensor/dtype.h"
#include <stdio.h>
#include <string.h>

static const afm_dtype_info g_info[AFM_DTYPE_COUNT] = {
    [AFM_F32] = {"f32", 1, 4, true},
    [AFM_F16] = {"f16", 1, 2, true},
    [AFM_Q4_0] = {"q4_0", 32, 18, true},
    [AFM_Q4_1] = {"q4_1", 32, 20, true},
    [AFM_Q5_0] = {"q5_0", 32, 22, true},
    [AFM_Q5_1] = {"q5_1", 32, 24, true},
    [AFM_Q8_0] = {"q8_0", 32, 34, true},
    [AFM_Q8_1] = {"q8_1", 32, 36, false},
    [AFM_Q2_K] = {"q2_k", 256, 84, false},
    [AFM_Q3_K] = {"q3_k", 256, 110, false},
    [AFM_Q4_K] = {"q4_k", 256, 144, true},
    [AFM_Q5_K] = {"q5_k", 256, 176, false},
    [AFM_Q6_K] = {"q6_k", 256, 210, true},
    [AFM_Q8_K] = {"q8_k", 256, 292, false},
    [16] = {"iq2_xxs", 256, 66, false},
    [17] = {"iq2_xs", 256, 74, false},
    [18] = {"iq3_xxs", 256, 98, false},
    [19] = {"iq1_s", 256, 50, false},
    [20] = {"iq4_nl", 32, 18, false},
    [21] = {"iq3_s", 256, 110, false},
    [22] = {"iq2_s", 256, 82, false},
    [23] = {"iq4_xs", 256, 136, false},
    [AFM_I8] = {"i8", 1, 1, false},
    [AFM_I16] = {"i16", 1, 2, false},
    [AFM_I32] = {"i32", 1, 4, false},
    [AFM_I64] = {"i64", 1, 8, false},
    [AFM_F64] = {"f64", 1, 8, false},
    [29] = {"iq1_m", 256, 56, false},
    [AFM_BF16] = {"bf16", 1, 2, true},
    [34] = {"tq1_0", 256, 54, false},
    [35] = {"tq2_0", 256, 66, false},
    [39] = {"mxfp4", 32, 17, false},
    [40] = {"nvfp4", 64, 36, false},
    [41] = {"q1_0", 128, 18, false},
    [42] = {"q2_0", 64, 18, false},
};

const afm_dtype_info *afm_dtype_get(uint32_t type) {
    if (type >= AFM_DTYPE_COUNT || !g_info[type].name) return NULL;
    return &g_info[type];
}

const char *afm_dtype_name(uint32_t type) {
    const afm_dtype_info *i = afm_dtype_get(type);
    return i ? i->name : "unknown";
}

int afm_dtype_from_name(const char *name) {
    for (int t = 0; t < AFM_DTYPE_COUNT; t++)
        if (g_info[t].name && !strcasecmp(g_info[t].name, name)) return t;
    return -1;
}

size_t afm_dtype_row_size(afm_dtype t, int64_t n) {
    const afm_dtype_info *i = afm_dtype_get((uint32_t)t);
    if (!i || n < 0 || n % i->block) return 0;
    return (size_t)(n / i->block) * (size_t)i->type_size;
}

float afm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
    if (exp == 0) {
        if (mant == 0) u = sign;
        else { /* subnormal: normalize */
            int e = -1;
            do { mant <<= 1; e++; } while (!(mant & 0x400));
            mant &= 0x3ff;
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000 | (mant << 13);
    else u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t afm_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return (uint16_t)(sign | 0x7e00);            /* NaN */
    if (a >= 0x477ff000) return (uint16_t)(sign | 0x7c00);           /* overflow -> inf */
    if (a < 0x38800000) {                                            /* subnormal or zero */
        if (a < 0x33000000) return (uint16_t)sign;                   /* < half of min subnormal */
        uint32_t mant = (a & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(a >> 23);                            /* 14..24 */
        uint32_t v = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (v & 1))) v++;
        return (uint16_t)(sign | v);
    }
    uint32_t v = ((a >> 13) - ((127 - 15) << 10));
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) v++;
    return (uint16_t)(sign | v);
}
