/* A growable NUL-terminated byte string for building text (prompts, normalized answers). */
#ifndef AFM_EVAL_STRBUF_H
#define AFM_EVAL_STRBUF_H
#include <stddef.h>
#include <stdbool.h>

typedef struct afm_strbuf { char *s; size_t n, cap; bool oom; } afm_strbuf;

void afm_sb_init(afm_strbuf *b);
void afm_sb_append(afm_strbuf *b, const char *s, size_t n);
void afm_sb_puts(afm_strbuf *b, const char *s);
void afm_sb_printf(afm_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the string (never NULL unless allocation failed) and leaves b empty. */
char *afm_sb_take(afm_strbuf *b);
void afm_sb_free(afm_strbuf *b);
/* a copy of s with every non-overlapping `from` (left to right) replaced by `to` (Python str.replace) */
char *afm_str_replace(const char *s, const char *from, const char *to);
char *afm_strndup(const char *s, size_t n);
#endif
