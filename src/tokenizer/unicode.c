/* Code-point class lookup over the generated ranges (unicode_tables.c). */
#include "tokenizer/unicode.h"

#define L AFM_UC_LETTER
#define N AFM_UC_NUMBER
#define S AFM_UC_SPACE
/* ASCII: \t \n \v \f \r and ' ' are space, 0-9 numbers, A-Z a-z letters. */
const uint8_t afm_uc_ascii[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, S, S, S, S, S, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    S, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    N, N, N, N, N, N, N, N, N, N, 0, 0, 0, 0, 0, 0,
    0, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
    L, L, L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0,
    0, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
    L, L, L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0,
};
#undef L
#undef N
#undef S

int afm_uc_class_slow(uint32_t cp) {
    int lo = 0, hi = afm_uc_n_ranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        if (cp < afm_uc_ranges[mid].first) hi = mid - 1;
        else if (cp > afm_uc_ranges[mid].last) lo = mid + 1;
        else return afm_uc_ranges[mid].cls;
    }
    return AFM_UC_OTHER;
}

int afm_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12)); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18)); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
