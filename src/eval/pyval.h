/* Python values for the BFCL checker: the objects that Python's json.loads gives for the data
 * files and that BFCL's decoders give for a model's calls (None, bool, int, float, str, list,
 * tuple, dict), with Python's == (1 == 1.0 == True, list != tuple, dicts unordered), repr() and
 * json.dumps(indent=4) text.
 *
 * JSON numbers keep Python's int/float distinction ("5" is int, "5.0" and "5e0" are float),
 * which cJSON loses and the checker needs (the type of the first possible answer decides
 * whether a parameter holds a variable name). Ints beyond 64 bits are kept as "big" ints with
 * their double value. */
#ifndef AFM_EVAL_PYVAL_H
#define AFM_EVAL_PYVAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "afm/status.h"
#include "eval/strbuf.h"

typedef enum afm_pv_type {
    AFM_PV_NONE,
    AFM_PV_BOOL,
    AFM_PV_INT,
    AFM_PV_FLOAT,
    AFM_PV_STR,
    AFM_PV_LIST,
    AFM_PV_TUPLE,
    AFM_PV_DICT,
    AFM_PV_OTHER /* a Python object the checker never accepts (complex, bytes); s = type name */
} afm_pv_type;

typedef struct afm_pv afm_pv;
struct afm_pv {
    afm_pv_type type;
    int64_t i;        /* BOOL (0/1), INT */
    double f;         /* FLOAT; also the value of a big INT */
    bool big;         /* INT outside int64 */
    char *s;          /* STR: UTF-8, NUL-terminated (len bytes); OTHER: type name */
    size_t len;
    afm_pv **items;   /* LIST, TUPLE: elements; DICT: values */
    afm_pv **keys;    /* DICT: keys (insertion order) */
    size_t n, cap;
};

afm_pv *afm_pv_none(void);
afm_pv *afm_pv_bool(bool b);
afm_pv *afm_pv_int(int64_t i);
afm_pv *afm_pv_big(double v);
afm_pv *afm_pv_float(double f);
afm_pv *afm_pv_str(const char *s, size_t len);
afm_pv *afm_pv_other(const char *type_name);
afm_pv *afm_pv_list(afm_pv_type type); /* LIST, TUPLE or DICT, empty */
afm_pv *afm_pv_copy(const afm_pv *v);
void afm_pv_free(afm_pv *v);
/* Appends (takes ownership; frees item on failure). */
afm_status afm_pv_push(afm_pv *list, afm_pv *item);
/* d[key] = val as Python does: an equal key keeps its place and gets the new value. */
afm_status afm_pv_dict_set(afm_pv *d, afm_pv *key, afm_pv *val);
/* d[key] for a str key, or NULL */
const afm_pv *afm_pv_get(const afm_pv *d, const char *key);
/* index of an equal key, or -1 */
long afm_pv_dict_find(const afm_pv *d, const afm_pv *key);

/* Python ==: numbers (bool, int, float) compare by value, str by bytes, list with list and
 * tuple with tuple elementwise, dict with dict as unordered maps. */
bool afm_pv_eq(const afm_pv *a, const afm_pv *b);
/* Python `v in list` (a LIST or TUPLE) */
bool afm_pv_in(const afm_pv *v, const afm_pv *list);
/* Python type(v).__name__ */
const char *afm_pv_type_name(const afm_pv *v);
/* Python repr(v) (str with repr's quote choice and escapes, floats shortest round-trip) */
void afm_pv_repr(afm_strbuf *b, const afm_pv *v);
/* Python repr(float) */
void afm_pv_float_repr(afm_strbuf *b, double f);
/* Python json.dumps(v, indent=indent) (indent < 0: one line, ", " and ": " separators);
 * ensure_ascii: non-ASCII as \uXXXX (surrogate pairs above U+FFFF). Tuples are arrays. */
void afm_pv_dump_json(afm_strbuf *b, const afm_pv *v, int indent);

/* Parses one JSON value from text[0..len) (Python json.loads; NaN/Infinity accepted). *end gets
 * the offset after it (trailing whitespace skipped). */
afm_status afm_pv_parse_json(const char *text, size_t len, afm_pv **out, size_t *end);
#endif
