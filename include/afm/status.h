/* afm/status.h — status codes and error messages shared by every libafm call.
 *
 * Every fallible call returns afm_status. On failure the library leaves a human-readable
 * message (what failed, which file/tensor/line, what was expected) that afm_last_error()
 * returns; the message is per thread and stays until the next failure on that thread. */
#ifndef AFM_STATUS_H
#define AFM_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum afm_status {
    AFM_OK = 0,
    AFM_ERR_IO,          /* a file could not be opened, read, written or mapped */
    AFM_ERR_FORMAT,      /* a file or input is malformed, truncated or inconsistent */
    AFM_ERR_NOMEM,       /* an allocation failed */
    AFM_ERR_INVALID_ARG, /* the caller passed a bad argument (shape, option, range) */
    AFM_ERR_UNSUPPORTED, /* valid input that this build does not handle (type, architecture) */
    AFM_ERR_RANGE,       /* a limit was exceeded (context length, vocabulary, size) */
    AFM_ERR_INTERNAL     /* a bug: an invariant did not hold */
} afm_status;

/* Message of the last failure on the calling thread ("" if none). */
const char *afm_last_error(void);

/* Short name of a status code ("ok", "io error", ...). */
const char *afm_status_name(afm_status s);

#ifdef __cplusplus
}
#endif
#endif
