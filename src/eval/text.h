/* UTF-8 text helpers that follow Python 3's str semantics where the scorers need them:
 * code points, str.isspace / strip, the regex class \w, lower/upper case of the common
 * alphabets (ASCII, Latin-1, Latin Extended-A and Additional, most of Extended-B, Greek, Cyrillic,
 * Armenian, fullwidth Latin; other scripts are uncased). */
#ifndef AFM_EVAL_TEXT_H
#define AFM_EVAL_TEXT_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Decodes one code point at s (n bytes left, n >= 1); *len gets its byte length (1 for an
 * invalid byte, which decodes as U+FFFD). */
uint32_t afm_u8_decode(const char *s, size_t n, size_t *len);
size_t afm_u8_encode(uint32_t cp, char out[4]);

bool afm_py_isspace(uint32_t cp);
bool afm_py_isword(uint32_t cp);   /* regex \w: letters, digits, marks, underscore */
bool afm_py_isdigit(uint32_t cp);  /* regex \d (ASCII and the common decimal scripts) */
uint32_t afm_py_lower(uint32_t cp);
uint32_t afm_py_upper(uint32_t cp);

/* Python str.strip(): the [start, end) of s without surrounding whitespace */
void afm_py_strip(const char *s, size_t n, size_t *start, size_t *end);
/* malloc'd s.lower() (U+0130 lowercases to "i" + U+0307, as in Python) */
char *afm_py_lower_str(const char *s, size_t n);
/* str.isupper() / str.islower(): at least one cased character and none of the other case */
bool afm_py_isupper_str(const char *s, size_t n);
bool afm_py_islower_str(const char *s, size_t n);
size_t afm_u8_count(const char *s, size_t n);
#endif
