/* Python expressions as ast.parse(text, mode="eval") sees them (internal to src/eval).
 *
 * The parser covers Python's expression grammar: literals (str with prefixes, escapes,
 * implicit concatenation; bytes; int in every base with "_"; float; imaginary), names, calls
 * (positional, keyword, *args, **kwargs), attributes, subscripts and slices, list / tuple /
 * dict / set displays and comprehensions, unary / binary / comparison / boolean operators,
 * conditional expressions, lambda and walrus. Text outside it is a syntax error, as in Python.
 * The tree keeps what BFCL's decoder reads (constants, names, calls, keywords, displays,
 * unary/binary operators, attributes, subscripts, slices, starred); every other construct is
 * an N_OTHER node naming what it was. Files: pyexpr_lex.c (tokens), pyexpr_parse.c (syntax
 * tree), pyexpr_unparse.c (ast.unparse). */
#ifndef AFM_EVAL_PYEXPR_H
#define AFM_EVAL_PYEXPR_H
#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"
#include "eval/pyval.h"
#include "eval/strbuf.h"

typedef enum {
    N_CONST, N_ELLIPSIS, N_NAME, N_CALL, N_KEYWORD, N_LIST, N_TUPLE, N_DICT, N_SET, N_UNARY, N_BINOP,
    N_ATTR, N_SUBSCRIPT, N_SLICE, N_STARRED, N_OTHER
} node_kind;

typedef struct node node;
struct node {
    node_kind kind;
    afm_pv *val;          /* CONST */
    const char *id;       /* NAME, ATTR (attribute), KEYWORD (NULL for **), UNARY/BINOP operator, OTHER (what) */
    size_t id_len;
    node *a, *b, *c;      /* CALL func; UNARY operand; BINOP l, r; ATTR/SUBSCRIPT value; SUBSCRIPT slice; SLICE parts; KEYWORD value; STARRED value */
    node **kids;          /* CALL args and keywords, LIST/TUPLE/SET elements, DICT key, value pairs (key NULL for **) */
    size_t nk, capk;
    bool fstring;         /* CONST made of f-strings (a JoinedStr in Python's AST) */
};

typedef struct py_tree py_tree; /* owns every node and constant of one parse */

/* Parses text[0, len) as one expression (a bare comma list is a tuple; trailing newlines are
 * allowed). On success *tree owns the nodes and *root is the body; on a syntax error the
 * message says what and where (byte offset). */
afm_status afm_py_parse(const char *text, size_t len, py_tree **tree, const node **root);
void afm_py_free(py_tree *tree);

/* Appends ast.unparse(n) to b (Python 3.9+ spelling: minimal parentheses, repr of constants);
 * false for constructs BFCL never unparses (f-strings, comprehensions, lambdas, comparisons...). */
bool afm_py_unparse(afm_strbuf *b, const node *n);

#endif
