/* Evaluation data and response files: JSONL (one object a line), a JSON array of objects, or
 * CSV (first row a header, unless the caller gives column names). A line or row that cannot be
 * parsed becomes a record with an error message, so one bad line never stops a run. */
#ifndef AFM_EVAL_DATASET_H
#define AFM_EVAL_DATASET_H
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "afm/status.h"

typedef struct afm_eval_record {
    cJSON *json;    /* the parsed object, or NULL when error is set */
    char *error;    /* what was wrong with this line/row, or NULL */
    int64_t line;   /* 1-based line in the file where the record starts */
} afm_eval_record;

typedef struct afm_eval_dataset {
    afm_eval_record *rec;
    size_t n;
} afm_eval_dataset;

/* Loads by content: a file whose first non-blank byte is '[' is a JSON array; a name ending in
 * ".csv" is CSV with a header row; anything else is JSONL. Blank lines inside JSONL are records
 * with an error ("blank line"); blank lines at the end are ignored. Fails only when the file
 * cannot be read (an empty file gives n = 0). */
afm_status afm_eval_dataset_load(const char *path, afm_eval_dataset *out);
/* CSV without a header: column k of each row is stored under names[k] (rows with a different
 * number of fields become error records). */
afm_status afm_eval_dataset_load_csv(const char *path, const char *const *names, size_t n_names, afm_eval_dataset *out);
/* Parses CSV text (RFC 4180: quoted fields, "" escapes, newlines inside quotes). */
afm_status afm_eval_dataset_parse_csv(const char *text, size_t len, const char *const *names, size_t n_names,
                                      afm_eval_dataset *out);
afm_status afm_eval_dataset_parse_jsonl(const char *text, size_t len, afm_eval_dataset *out);
/* Appends b's records to a (b is emptied). */
afm_status afm_eval_dataset_append(afm_eval_dataset *a, afm_eval_dataset *b);
void afm_eval_dataset_free(afm_eval_dataset *d);

/* Field helpers: NULL when missing or of another type. */
const char *afm_eval_str(const cJSON *o, const char *key);
#endif
