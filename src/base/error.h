/* Internal error helpers: set the thread's message and return the code. */
#ifndef AFM_BASE_ERROR_H
#define AFM_BASE_ERROR_H
#include "afm/status.h"

/* Sets the calling thread's error message (printf-style) and returns `code`. */
afm_status afm_error(afm_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to the current message (adds context on the way up) and returns code. */
afm_status afm_error_prefix(afm_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void afm_error_clear(void);

#define AFM_TRY(expr) do { afm_status afm__s = (expr); if (afm__s != AFM_OK) return afm__s; } while (0)

#endif
