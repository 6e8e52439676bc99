#include "base/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

const char *afm_last_error(void) { return g_msg; }

const char *afm_status_name(afm_status s) {
    switch (s) {
    case AFM_OK: return "ok";
    case AFM_ERR_IO: return "i/o error";
    case AFM_ERR_FORMAT: return "format error";
    case AFM_ERR_NOMEM: return "out of memory";
    case AFM_ERR_INVALID_ARG: return "invalid argument";
    case AFM_ERR_UNSUPPORTED: return "unsupported";
    case AFM_ERR_RANGE: return "out of range";
    case AFM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

afm_status afm_error(afm_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return code;
}

afm_status afm_error_prefix(afm_status code, const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t np = strlen(prefix);
    if (np > sizeof g_msg - 3) np = sizeof g_msg - 3;
    memcpy(g_msg, prefix, np);
    g_msg[np] = ':';
    g_msg[np + 1] = ' ';
    size_t room = sizeof g_msg - np - 3, no = strlen(old);
    if (no > room) no = room;
    memcpy(g_msg + np + 2, old, no);
    g_msg[np + 2 + no] = 0;
    return code;
}

void afm_error_clear(void) { g_msg[0] = 0; }
