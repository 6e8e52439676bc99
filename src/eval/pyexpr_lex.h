/* Python's tokenizer for expressions (internal to src/eval: pyexpr_lex.c, used by the parser in
 * pyexpr_parse.c). Tokens are NAME, NUMBER, STRING (with the constant already decoded: escapes,
 * prefixes, bases, "_" separators), OP (longest match of Python's operators), NEWLINE (outside
 * brackets only) and END. */
#ifndef AFM_EVAL_PYEXPR_LEX_H
#define AFM_EVAL_PYEXPR_LEX_H
#include <stdbool.h>
#include <stddef.h>
#include "eval/pyval.h"

typedef enum { T_END, T_NAME, T_NUMBER, T_STRING, T_OP, T_NEWLINE } tok_kind;

typedef struct tok {
    tok_kind kind;
    size_t at, len;     /* source span */
    afm_pv *val;        /* NUMBER, STRING: the constant (STRING: str or bytes-as-OTHER) */
    bool fstring;       /* STRING with an f prefix */
    bool bytes;
} tok;

typedef struct lexer {
    const char *s;
    size_t n, i;
    int depth;          /* bracket nesting: newlines inside brackets are whitespace */
    tok *toks;
    size_t nt, cap;
    char err[160];
} lexer;

/* Python's reserved words, NULL-terminated. */
extern const char *const afm_py_keywords[];

/* Tokenizes L->s[0, L->n) into L->toks (ending with T_END); false with L->err set on a lexical
 * error (bad character, unterminated string, unmatched bracket, malformed number). */
bool afm_py_lex(lexer *L);

#endif
