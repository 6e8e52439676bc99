/* afm tokenize / afm detokenize: the tokenizer of a GGUF model, an HF tokenizer.json, a llama2.c
 * tokenizer.bin or a GPT-2 vocab.json + merges.txt, applied to stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/status.h"
#include "tokenizer/tokenizer.h"
#include "cli.h"

typedef struct tok_opts {
    const char *file, *merges;
    int32_t vocab_size;
    int bos;           /* -1: the tokenizer's default */
    bool ids, parse_special, skip_special;
} tok_opts;

static int usage(const char *cmd, FILE *f) {
    if (!strcmp(cmd, "tokenize"))
        fprintf(f, "usage: afm tokenize (-m MODEL | --tokenizer FILE [--merges MERGES]) [--ids] [--bos|--no-bos]\n"
                   "                    [--parse-special] [--vocab-size N]\n"
                   "Reads text from stdin. Prints one token per line as 'ID<TAB>PIECE' (the piece's bytes with\n"
                   "control characters escaped), or with --ids all ids on one line separated by spaces.\n"
                   "FILE: GGUF, HF tokenizer.json, llama2.c tokenizer.bin (--vocab-size N reads only N tokens),\n"
                   "or GPT-2 vocab.json with --merges merges.txt. --parse-special matches control-token texts.\n");
    else
        fprintf(f, "usage: afm detokenize (-m MODEL | --tokenizer FILE [--merges MERGES]) [--skip-special]\n"
                   "Reads whitespace-separated token ids from stdin and writes the decoded bytes to stdout.\n");
    return f == stdout ? 0 : 2;
}

static int parse(const char *cmd, int argc, char **argv, tok_opts *o) {
    memset(o, 0, sizeof *o);
    o->bos = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--tokenizer")) && has_next) o->file = argv[++i];
        else if (!strcmp(a, "--merges") && has_next) o->merges = argv[++i];
        else if (!strcmp(a, "--vocab-size") && has_next) o->vocab_size = atoi(argv[++i]);
        else if (!strcmp(a, "--ids")) o->ids = true;
        else if (!strcmp(a, "--bos")) o->bos = 1;
        else if (!strcmp(a, "--no-bos")) o->bos = 0;
        else if (!strcmp(a, "--parse-special")) o->parse_special = true;
        else if (!strcmp(a, "--skip-special")) o->skip_special = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(cmd, stdout) + 100;
        else { fprintf(stderr, "error: unknown or incomplete option '%s'\n", a); return usage(cmd, stderr); }
    }
    if (!o->file) { fprintf(stderr, "error: give -m MODEL or --tokenizer FILE\n"); return usage(cmd, stderr); }
    return -1;
}

static afm_tokenizer *load(const tok_opts *o) {
    afm_tokenizer *t = NULL;
    afm_status s = o->vocab_size > 0 ? afm_tokenizer_load_llama2c(o->file, o->vocab_size, &t) : afm_tokenizer_load(o->file, o->merges, &t);
    if (s != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return NULL; }
    return t;
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); return NULL; }
            buf = b;
        }
    }
    *len = n;
    return buf;
}

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c < 32 || c == 127) printf("\\x%02x", c);
        else putchar(c);
    }
}

int cmd_tokenize(int argc, char **argv) {
    tok_opts o;
    int r = parse("tokenize", argc, argv, &o);
    if (r >= 0) return r >= 100 ? r - 100 : r;
    afm_tokenizer *t = load(&o);
    if (!t) return 1;
    size_t len;
    char *text = read_stdin(&len);
    if (!text) { fprintf(stderr, "error: out of memory reading stdin\n"); afm_tokenizer_free(t); return 1; }
    bool bos = o.bos < 0 ? afm_tokenizer_add_bos(t) : o.bos == 1;
    int32_t *ids;
    size_t n;
    afm_status s = afm_tokenizer_encode(t, text, len, bos, o.parse_special, &ids, &n);
    free(text);
    if (s != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); afm_tokenizer_free(t); return 1; }
    for (size_t i = 0; i < n; i++) {
        if (o.ids) { printf(i ? " %d" : "%d", ids[i]); continue; }
        const char *b;
        size_t bl;
        afm_tokenizer_token_bytes(t, ids[i], &b, &bl);
        printf("%d\t", ids[i]);
        print_escaped(b, bl);
        putchar('\n');
    }
    if (o.ids) putchar('\n');
    free(ids);
    afm_tokenizer_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_detokenize(int argc, char **argv) {
    tok_opts o;
    int r = parse("detokenize", argc, argv, &o);
    if (r >= 0) return r >= 100 ? r - 100 : r;
    afm_tokenizer *t = load(&o);
    if (!t) return 1;
    size_t len;
    char *text = read_stdin(&len);
    if (!text) { fprintf(stderr, "error: out of memory reading stdin\n"); afm_tokenizer_free(t); return 1; }
    size_t cap = 1024, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    char *p = text, *end = text + len;
    int rc = 0;
    while (ids && p < end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',')) p++;
        if (p >= end) break;
        char tmp[24];
        size_t k = 0;
        while (p < end && k < sizeof tmp - 1 && !(*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',')) tmp[k++] = *p++;
        tmp[k] = 0;
        char *e;
        long v = strtol(tmp, &e, 10);
        if (*e || k == 0 || v < 0 || v >= afm_tokenizer_n_vocab(t)) {
            fprintf(stderr, "error: '%s' is not a token id in [0, %d)\n", tmp, afm_tokenizer_n_vocab(t));
            rc = 1;
            break;
        }
        if (n == cap) {
            int32_t *b = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!b) { free(ids); ids = NULL; break; }
            ids = b;
        }
        ids[n++] = (int32_t)v;
    }
    free(text);
    if (!ids) { fprintf(stderr, "error: out of memory\n"); afm_tokenizer_free(t); return 1; }
    if (rc == 0) {
        char *out;
        size_t ol;
        if (afm_tokenizer_decode(t, ids, n, o.skip_special, &out, &ol) != AFM_OK) {
            fprintf(stderr, "error: %s\n", afm_last_error());
            rc = 1;
        } else {
            fwrite(out, 1, ol, stdout);
            free(out);
        }
    }
    free(ids);
    afm_tokenizer_free(t);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}
