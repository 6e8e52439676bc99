/* UTF-8 and Python-str helpers (see text.h). */
#include "eval/text.h"
#include <stdlib.h>
#include <string.h>

uint32_t afm_u8_decode(const char *s, size_t n, size_t *len) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *len = 1; return u[0]; }
    size_t k = u[0] >= 0xF0 && u[0] < 0xF8 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC2 ? 2 : 0;
    if (k == 0 || k > n) { *len = 1; return 0xFFFD; }
    uint32_t cp = u[0] & (0x7F >> k);
    for (size_t i = 1; i < k; i++) {
        if ((u[i] & 0xC0) != 0x80) { *len = 1; return 0xFFFD; }
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    *len = k;
    return cp;
}

size_t afm_u8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool afm_py_isspace(uint32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

bool afm_py_isdigit(uint32_t c) {
    static const uint32_t zeros[] = {0x30, 0x660, 0x6F0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6,
                                     0xD66, 0xE50, 0xED0, 0xFF10};
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) if (c >= zeros[i] && c < zeros[i] + 10) return true;
    return false;
}

/* \w: ASCII alphanumerics and "_"; outside ASCII every code point that is not whitespace,
 * punctuation or a symbol in the common blocks (Latin-1 signs, general punctuation, arrows,
 * math and technical symbols, box drawing, dingbats, CJK punctuation, full-width forms' symbols,
 * emoji) counts as a letter, digit or mark. */
bool afm_py_isword(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (afm_py_isspace(c)) return false;
    if (c >= 0x80 && c <= 0xBF) return c == 0xAA || c == 0xB5 || c == 0xBA || c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0xBC || c == 0xBD || c == 0xBE;
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return (c >= 0x2070 && c <= 0x209F) || (c >= 0x2460 && c <= 0x24FF) || c == 0x2102 || c == 0x2107 || (c >= 0x210A && c <= 0x2113) || c == 0x2115 || (c >= 0x2119 && c <= 0x211D) || c == 0x2124 || c == 0x2126 || c == 0x2128 || (c >= 0x212A && c <= 0x212D) || (c >= 0x212F && c <= 0x2139) || (c >= 0x2150 && c <= 0x2189);
    if (c >= 0x3000 && c <= 0x303F) return c == 0x3005 || c == 0x3006 || c == 0x3007 || (c >= 0x3021 && c <= 0x3029) || (c >= 0x3031 && c <= 0x3035);
    if (c >= 0xFF00 && c <= 0xFF0F) return false;
    if (c >= 0xFF1A && c <= 0xFF20) return false;
    if (c >= 0xFF3B && c <= 0xFF40 && c != 0xFF3F) return false;
    if (c >= 0xFF5B && c <= 0xFF65) return false;
    if (c >= 0x1F000 && c <= 0x1FAFF) return false;
    if (c == 0x60C || c == 0x61B || c == 0x61F || c == 0x6D4 || c == 0x964 || c == 0x965 || c == 0x55D || c == 0x589) return false;
    if (c == 0xFFFD || (c >= 0xFE10 && c <= 0xFE6F)) return false;
    return true;
}

/* Latin Extended-B / Additional (Vietnamese, ...), accented Greek, more Cyrillic, Armenian and
 * fullwidth Latin: the case pairs of Python's str.lower / str.upper there */
static uint32_t afm_py_lower_more(uint32_t c) {
    if (c >= 0x1E00 && c <= 0x1E95 && !(c & 1)) return c + 1;
    if (c >= 0x1EA0 && c <= 0x1EFF && !(c & 1)) return c + 1;
    if (c == 0x1E9E) return 0xDF;
    if (c == 0x1A0 || c == 0x1A2 || c == 0x1A4 || c == 0x1A7 || c == 0x1AC || c == 0x1AF || c == 0x1B3 || c == 0x1B5 ||
        c == 0x1B8 || c == 0x1BC || c == 0x1F4)
        return c + 1;
    if (c >= 0x1CD && c <= 0x1DC && (c & 1)) return c + 1;
    if (c >= 0x1DE && c <= 0x1EF && !(c & 1)) return c + 1;
    if (c >= 0x1F8 && c <= 0x21F && !(c & 1)) return c + 1;
    if (c >= 0x222 && c <= 0x233 && !(c & 1)) return c + 1;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x4FF)) && !(c & 1)) return c + 1;
    if (c >= 0x531 && c <= 0x556) return c + 48;
    if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
    return c;
}

static uint32_t afm_py_upper_more(uint32_t c) {
    if (c >= 0x1E01 && c <= 0x1E95 && (c & 1)) return c - 1;
    if (c >= 0x1EA1 && c <= 0x1EFF && (c & 1)) return c - 1;
    if (c == 0x1A1 || c == 0x1A3 || c == 0x1A5 || c == 0x1A8 || c == 0x1AD || c == 0x1B0 || c == 0x1B4 || c == 0x1B6 ||
        c == 0x1B9 || c == 0x1BD || c == 0x1F5)
        return c - 1;
    if (c >= 0x1CE && c <= 0x1DC && !(c & 1)) return c - 1;
    if (c >= 0x1DF && c <= 0x1EF && (c & 1)) return c - 1;
    if (c >= 0x1F9 && c <= 0x21F && (c & 1)) return c - 1;
    if (c >= 0x223 && c <= 0x233 && (c & 1)) return c - 1;
    if (c == 0x3AC) return 0x386;
    if (c >= 0x3AD && c <= 0x3AF) return c - 37;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 63;
    if (((c >= 0x461 && c <= 0x481) || (c >= 0x48B && c <= 0x4BF) || (c >= 0x4D1 && c <= 0x4FF)) && (c & 1)) return c - 1;
    if (c >= 0x561 && c <= 0x586) return c - 48;
    if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
    return c;
}

uint32_t afm_py_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if ((c >= 0xC0 && c <= 0xDE) && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x137 && !(c & 1)) return c + 1;
    if (c >= 0x139 && c <= 0x148 && (c & 1)) return c + 1;
    if (c >= 0x14A && c <= 0x177 && !(c & 1)) return c + 1;
    if (c == 0x178) return 0xFF;
    if (c == 0x179 || c == 0x17B || c == 0x17D) return c + 1;
    if ((c >= 0x391 && c <= 0x3A9) && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c == 0x212A) return 'k';
    return afm_py_lower_more(c);
}

uint32_t afm_py_upper(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if ((c >= 0xE0 && c <= 0xFE) && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c >= 0x101 && c <= 0x137 && (c & 1)) return c - 1;
    if (c >= 0x13A && c <= 0x148 && !(c & 1)) return c - 1;
    if (c >= 0x14B && c <= 0x177 && (c & 1)) return c - 1;
    if (c == 0x17A || c == 0x17C || c == 0x17E) return c - 1;
    if ((c >= 0x3B1 && c <= 0x3C9) && c != 0x3C2) return c - 32;
    if (c == 0x3C2) return 0x3A3;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return afm_py_upper_more(c);
}

/* cased: has a different other case, or is ß / final sigma / dotless i / ĸ (cased, lowercase) */
static int case_of(uint32_t c) {
    if (c == 0xDF || c == 0x3C2 || c == 0x131 || c == 0x138 || c == 0xAA || c == 0xBA || c == 0xB5 || c == 0x149 || c == 0x17F) return -1;
    if (c == 0x130) return 1;
    if (afm_py_lower(c) != c) return 1;
    if (afm_py_upper(c) != c) return -1;
    return 0;
}

void afm_py_strip(const char *s, size_t n, size_t *start, size_t *end) {
    size_t i = 0, e = n;
    while (i < n) {
        size_t l;
        uint32_t c = afm_u8_decode(s + i, n - i, &l);
        if (!afm_py_isspace(c)) break;
        i += l;
    }
    while (e > i) {
        size_t b = e - 1;
        while (b > i && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        size_t l;
        uint32_t c = afm_u8_decode(s + b, e - b, &l);
        if (!afm_py_isspace(c) || b + l != e) break;
        e = b;
    }
    *start = i;
    *end = e;
}

char *afm_py_lower_str(const char *s, size_t n) {
    char *out = malloc(n * 2 + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t c = afm_u8_decode(s + i, n - i, &l);
        if (c == 0xFFFD && l == 1 && (unsigned char)s[i] >= 0x80) { out[k++] = s[i]; i++; continue; }
        if (c == 0x130) { out[k++] = 'i'; k += afm_u8_encode(0x307, out + k); i += l; continue; }
        k += afm_u8_encode(afm_py_lower(c), out + k);
        i += l;
    }
    out[k] = '\0';
    return out;
}

static bool case_all(const char *s, size_t n, int want) {
    bool any = false;
    for (size_t i = 0; i < n;) {
        size_t l;
        int k = case_of(afm_u8_decode(s + i, n - i, &l));
        if (k == -want) return false;
        if (k == want) any = true;
        i += l;
    }
    return any;
}
bool afm_py_isupper_str(const char *s, size_t n) { return case_all(s, n, 1); }
bool afm_py_islower_str(const char *s, size_t n) { return case_all(s, n, -1); }

size_t afm_u8_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n;) { size_t l; afm_u8_decode(s + i, n - i, &l); i += l; k++; }
    return k;
}
