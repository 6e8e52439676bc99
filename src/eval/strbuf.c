#include "eval/strbuf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void afm_sb_init(afm_strbuf *b) { memset(b, 0, sizeof *b); }

static bool reserve(afm_strbuf *b, size_t extra) {
    if (b->oom) return false;
    if (b->n + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) { b->oom = true; return false; }
    b->s = p;
    b->cap = cap;
    return true;
}

void afm_sb_append(afm_strbuf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void afm_sb_puts(afm_strbuf *b, const char *s) { afm_sb_append(b, s, strlen(s)); }

void afm_sb_printf(afm_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

char *afm_sb_take(afm_strbuf *b) {
    if (b->oom) { afm_sb_free(b); return NULL; }
    char *s = b->s ? b->s : calloc(1, 1);
    afm_sb_init(b);
    return s;
}

void afm_sb_free(afm_strbuf *b) { free(b->s); afm_sb_init(b); }

char *afm_str_replace(const char *s, const char *from, const char *to) {
    afm_strbuf b;
    afm_sb_init(&b);
    size_t fl = strlen(from);
    if (fl == 0) { afm_sb_puts(&b, s); return afm_sb_take(&b); }
    for (;;) {
        const char *hit = strstr(s, from);
        if (!hit) break;
        afm_sb_append(&b, s, (size_t)(hit - s));
        afm_sb_puts(&b, to);
        s = hit + fl;
    }
    afm_sb_puts(&b, s);
    return afm_sb_take(&b);
}

char *afm_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
