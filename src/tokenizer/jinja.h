/* Internal: a Jinja2 subset for chat templates (lexer, parser, values, evaluator).
 *
 * Semantics follow Python jinja2 as Hugging Face transformers configures it for
 * apply_chat_template: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
 * extensions=[loopcontrols]), the default Undefined, globals raise_exception and strftime_now,
 * and transformers' own tojson filter (json.dumps with ensure_ascii=False).
 *
 * Memory: every node and value lives in an arena owned by the template (nodes) or by one
 * render (values); errors unwind with longjmp to the entry point, which frees the arena, so no
 * code path can leak. Values are immutable except namespaces. */
#ifndef AFM_TOKENIZER_JINJA_H
#define AFM_TOKENIZER_JINJA_H
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena ---- */
typedef struct jarena_chunk jarena_chunk;
typedef struct jarena {
    jarena_chunk *head;
    size_t used_total, limit; /* bytes handed out; hard cap (exceeding it is an error) */
} jarena;

/* ---- errors: a message with a source position, then longjmp ---- */
typedef struct jerr {
    jmp_buf jb;
    char msg[512];
    int line, col;
} jerr;
_Noreturn void jfail(jerr *e, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void *jalloc(jarena *a, jerr *e, size_t n); /* zeroed; fails through e on limit/OOM */
void jarena_free(jarena *a);
char *jstrdup(jarena *a, jerr *e, const char *s, size_t n); /* NUL-terminated copy */

/* ---- values ---- */
typedef enum jkind {
    JV_UNDEF = 0, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_FUNC, JV_LOOP
} jkind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;

typedef struct jv {
    jkind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s; /* JV_STR: UTF-8 bytes; JV_UNDEF: the name, for messages */
        jlist *l;
        jdict *d;
        jfunc *fn;
        jloop *loop;
    };
} jv;

struct jlist { jv *items; size_t n, cap; bool tuple; bool gen; /* a Python generator (map/select/...): truthy, no len() */ };
struct jdict { jv *keys, *vals; size_t n, cap; bool ns; /* namespace(): attributes can be set */ };
struct jloop { int64_t index0, length; const jv *items; };

typedef struct jargs {
    jv *pos; size_t npos;
    const char **kwn; jv *kwv; size_t nkw;
} jargs;

struct jctx;
struct jnode;
typedef jv (*jfunc_fn)(struct jctx *c, jfunc *f, jargs *a, const struct jnode *at);
struct jfunc {
    const char *name;
    jfunc_fn fn;
    jv self;                 /* bound object for methods */
    const struct jnode *macro; /* macros: the definition node */
    struct jframe *closure;  /* macros: frame of the definition */
    const struct jnode *caller_body; /* caller(): the call block's body */
};

static inline jv jv_undef(const char *hint) { jv v = {.kind = JV_UNDEF}; v.s.p = hint; v.s.n = 0; return v; }
static inline jv jv_none(void) { jv v = {.kind = JV_NONE}; return v; }
static inline jv jv_bool(bool b) { jv v = {.kind = JV_BOOL}; v.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {.kind = JV_INT}; v.i = i; return v; }
static inline jv jv_float(double f) { jv v = {.kind = JV_FLOAT}; v.f = f; return v; }
static inline jv jv_str(const char *p, size_t n) { jv v = {.kind = JV_STR}; v.s.p = p; v.s.n = n; return v; }

/* growable byte buffer (arena-backed) */
typedef struct jbuf { char *p; size_t n, cap; jarena *a; jerr *e; } jbuf;
void jbuf_put(jbuf *b, const char *s, size_t n);
static inline void jbuf_puts(jbuf *b, const char *s) { size_t n = 0; while (s[n]) n++; jbuf_put(b, s, n); }
void jbuf_putc(jbuf *b, char ch);

jlist *jlist_new(jarena *a, jerr *e, size_t cap);
void jlist_push(jarena *a, jerr *e, jlist *l, jv v);
jdict *jdict_new(jarena *a, jerr *e, size_t cap);
void jdict_set(jarena *a, jerr *e, jdict *d, jv key, jv val); /* replaces an equal key */
const jv *jdict_get(const jdict *d, const char *key, size_t n);
const jv *jdict_getv(const jdict *d, jv key);

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
const char *jv_type_name(jv v); /* Python's type names: 'str', 'int', 'dict object' ... */
bool jv_is_number(jv v);
double jv_as_double(jv v);

/* Python str() and repr() of a value appended to b. */
void jv_to_str(jbuf *b, jv v);
void jv_repr(jbuf *b, jv v);
void jfmt_double(double x, char out[40]); /* Python repr(float) */

/* UTF-8 helpers (code points are what Python's len() and slices count) */
size_t ju8_len(const char *p, size_t n);
size_t ju8_offset(const char *p, size_t n, size_t cp); /* byte offset of code point cp (<= len) */
size_t ju8_decode(const char *p, size_t n, uint32_t *cp); /* bytes used (>= 1); invalid -> the byte */
bool ju_isspace(uint32_t cp); /* Python str.isspace() for one code point */
uint32_t ju_upper(uint32_t cp); /* simple case mapping: Latin-1, Latin Extended-A, Greek, Cyrillic */
uint32_t ju_lower(uint32_t cp);
bool ju_cased(uint32_t cp);
jv jv_case_map(jarena *a, jerr *e, jv s, char mode); /* 'u' upper, 'l' lower, 't' title, 'c' capitalize */

/* JSON: parse to values (objects keep key order; integers stay ints), and Python json.dumps. */
jv jjson_parse(jarena *a, jerr *e, const char *s, size_t n, const char *what);
typedef struct jjson_opts { int indent; /* <0: none */ const char *item_sep, *key_sep; bool sort_keys, ensure_ascii; } jjson_opts;
void jjson_dump(jbuf *b, jv v, const jjson_opts *o, int line, int col);

/* ---- syntax tree ---- */
typedef enum jnk {
    /* expressions */
    JN_LIT, JN_NAME, JN_ATTR, JN_ITEM, JN_SLICE, JN_CALL, JN_FILTER, JN_TEST, JN_BIN, JN_UNARY,
    JN_AND, JN_OR, JN_NOT, JN_CMP, JN_COND, JN_LIST, JN_TUPLE, JN_DICT,
    /* statements */
    JN_BODY, JN_TEXT, JN_OUT, JN_IF, JN_FOR, JN_SET, JN_SETATTR, JN_SETBLOCK, JN_MACRO, JN_CALLBLOCK,
    JN_FILTERBLOCK, JN_BREAK, JN_CONTINUE
} jnk;

typedef struct jnode {
    jnk kind;
    int op;                 /* operator for JN_BIN/JN_UNARY; filter/test table index */
    int flag;               /* JN_TEST: 'is not' */
    int line, col;
    struct jnode *a, *b, *c, *d; /* children (meaning depends on kind) */
    struct jnode **list; size_t n;    /* args / items / body / comparison operands */
    struct jnode **list2; size_t n2;  /* kwarg values / dict values / else-body */
    const char **names; size_t nnames; /* kwarg names / loop targets / macro params / cmp ops */
    const char *name;       /* identifier / attribute / filter / text */
    size_t name_len;
    jv lit;
} jnode;

/* operators (JN_BIN op, JN_CMP ops stored as small ints in names[] cast) */
enum { JOP_ADD = 1, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW, JOP_CONCAT, JOP_NEG, JOP_POS,
       JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN };

/* Parses a template (len bytes) into a body node, allocating from a. Fails through e. */
jnode *jparse(jarena *a, jerr *e, const char *src, size_t len);

/* filters and tests: name -> index in the tables below, or -1 */
int jfilter_find(const char *name, size_t n);
int jtest_find(const char *name, size_t n);

/* ---- evaluation ---- */
typedef struct jframe {
    struct jframe *parent;
    const char **names; jv *vals; size_t n, cap;
} jframe;

typedef struct jctx {
    jarena *a;
    jerr *e;
    jbuf *out;
    jframe *globals;
    int depth;       /* macro/call recursion depth */
    long steps;      /* statement/expression budget (stops runaway templates) */
} jctx;

_Noreturn void jcfail(jctx *c, const struct jnode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
jv jeval(jctx *c, jframe *f, const jnode *n);
void jexec(jctx *c, jframe *f, const jnode *body);
/* marks the names a frame body stores before reading as undefined in f (jinja2 scoping) */
void jframe_enter(jctx *c, jframe *f, const jnode *body);
jv jframe_lookup(jframe *f, const char *name);
void jframe_set(jctx *c, jframe *f, const char *name, jv v);
jframe *jframe_new(jctx *c, jframe *parent);
jv jcall_value(jctx *c, jv fn, jargs *a, const jnode *at);
jv jstr_of(jctx *c, jv v); /* str(v) as a JV_STR */

jv jfilter_apply(jctx *c, int index, jv v, jargs *a, const jnode *at);
bool jtest_apply(jctx *c, int index, jv v, jargs *a, const jnode *at);
jv jget_attr(jctx *c, jv obj, const char *name, size_t n, const jnode *at); /* obj.name */
jv jget_item(jctx *c, jv obj, jv key, const jnode *at);                  /* obj[key] */
bool jcontains(jctx *c, jv container, jv item, const jnode *at);
jv jbinop(jctx *c, int op, jv a, jv b, const jnode *at);
bool jcompare(jctx *c, int op, jv a, jv b, const jnode *at);
jv jmethod_lookup(struct jctx *c, jv obj, const char *name, size_t n); /* bound method or undefined */
void jglobals_install(struct jctx *c, jframe *g); /* range, namespace, dict, raise_exception, strftime_now */
/* iterating: lists, tuples, dict keys, string code points; undefined is empty */
jlist *jiter_list(jctx *c, jv v, const jnode *at);

#endif
