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
    bool ids, parse_special, skip_special, jsonl;
    const char *write_gguf;
} tok_opts;

static int usage(const char *cmd, FILE *f) {
    if (!strcmp(cmd, "tokenize"))
        fprintf(f, "usage: afm tokenize (-m MODEL | --tokenizer FILE [--merges MERGES]) [--ids] [--bos|--no-bos]\n"
                   "                    [--parse-special] [--vocab-size N] [--jsonl]\n"
                   "Reads text from stdin. Prints one token per line as 'ID<TAB>PIECE' (the piece's bytes with\n"
                   "control characters escaped), or with --ids all ids on one line separated by spaces.\n"
                   "FILE: GGUF, HF tokenizer.json, llama2.c tokenizer.bin (--vocab-size N reads only N tokens),\n"
                   "or GPT-2 vocab.json with --merges merges.txt. --parse-special matches control-token texts.\n"
                   "--jsonl: every stdin line is a JSON string (one document); prints one line of ids per document.\n"
                   "--write-gguf OUT: write the tokenizer as a vocabulary-only GGUF (tokenizer.ggml.* keys; the\n"
                   "  general.* and architecture keys of a GGUF source, else a minimal 'llama' header) and exit.\n");
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
        else if (!strcmp(a, "--jsonl")) o->jsonl = true;
        else if (!strcmp(a, "--write-gguf") && has_next) o->write_gguf = argv[++i];
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

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int hex4(const char *s, const char *end, unsigned *v) {
    if (end - s < 4) return 0;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0) return 0;
        *v = *v * 16 + (unsigned)h;
    }
    return 1;
}

/* Decodes the JSON string literal s[0..n) (quotes included, surrounding spaces allowed) into out
 * (n bytes of room), keeping embedded NULs (\u0000), which cJSON would cut at. Returns the
 * decoded length or -1 if s is not one string literal. */
static long json_string(const char *s, size_t n, char *out) {
    const char *p = s, *end = s + n;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p >= end || *p++ != '"') return -1;
    long o = 0;
    while (p < end && *p != '"') {
        if (*p != '\\') { out[o++] = *p++; continue; }
        if (++p >= end) return -1;
        char c = *p++;
        unsigned v, lo;
        switch (c) {
        case '"': case '\\': case '/': out[o++] = c; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u':
            if (!hex4(p, end, &v)) return -1;
            p += 4;
            if (v >= 0xD800 && v <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            if (v < 0x80) out[o++] = (char)v;
            else if (v < 0x800) { out[o++] = (char)(0xC0 | (v >> 6)); out[o++] = (char)(0x80 | (v & 0x3F)); }
            else if (v < 0x10000) {
                out[o++] = (char)(0xE0 | (v >> 12)); out[o++] = (char)(0x80 | ((v >> 6) & 0x3F)); out[o++] = (char)(0x80 | (v & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (v >> 18)); out[o++] = (char)(0x80 | ((v >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((v >> 6) & 0x3F)); out[o++] = (char)(0x80 | (v & 0x3F));
            }
            break;
        default: return -1;
        }
    }
    if (p >= end) return -1;
    for (p++; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') return -1;
    return o;
}

/* --jsonl: one JSON string per line in, one line of ids per document out. */
static int tokenize_jsonl(const afm_tokenizer *t, const tok_opts *o, char *text, size_t len) {
    bool bos = o->bos < 0 ? afm_tokenizer_add_bos(t) : o->bos == 1;
    size_t line = 0;
    char *doc = malloc(len + 1);
    if (!doc) { fprintf(stderr, "error: out of memory\n"); return 1; }
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        line++;
        if (j > i) {
            long dl = json_string(text + i, j - i, doc);
            int32_t *ids;
            size_t n;
            if (dl < 0) {
                fprintf(stderr, "error: stdin line %zu is not a JSON string\n", line);
                rc = 1;
            } else if (afm_tokenizer_encode(t, doc, (size_t)dl, bos, o->parse_special, &ids, &n) != AFM_OK) {
                fprintf(stderr, "error: line %zu: %s\n", line, afm_last_error());
                rc = 1;
            } else {
                for (size_t k = 0; k < n; k++) printf(k ? " %d" : "%d", ids[k]);
                putchar('\n');
                free(ids);
            }
        }
        i = j + 1;
    }
    free(doc);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

/* Vocabulary-only GGUF, as llama.cpp's convert_hf_to_gguf.py --vocab-only writes: the tokenizer
 * keys plus the model header keys llama.cpp reads before the vocabulary. */
static int write_vocab_gguf(const afm_tokenizer *t, const tok_opts *o) {
    afm_gguf_writer *w;
    if (afm_gguf_writer_create(&w) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    afm_status s = AFM_OK;
    afm_gguf *src = NULL;
    if (afm_gguf_open(o->file, &src) == AFM_OK) {
        for (int64_t i = 0; i < afm_gguf_n_kv(src) && s == AFM_OK; i++)
            if (strncmp(afm_gguf_key(src, i), "tokenizer.", 10)) s = afm_gguf_copy_kv(w, src, i);
    } else {
        /* a small 'llama' header (stories260K's shape) so that llama.cpp accepts the file */
        s = afm_gguf_set_str(w, "general.architecture", "llama");
        if (s == AFM_OK) s = afm_gguf_set_str(w, "general.name", "vocab");
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.context_length", 512);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.embedding_length", 64);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.block_count", 1);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.feed_forward_length", 172);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.attention.head_count", 8);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.attention.head_count_kv", 4);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.rope.dimension_count", 8);
        if (s == AFM_OK) s = afm_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        if (s == AFM_OK) s = afm_gguf_set_u32(w, "llama.vocab_size", (uint32_t)afm_tokenizer_n_vocab(t));
    }
    if (s == AFM_OK) s = afm_tokenizer_to_gguf(t, w);
    if (s == AFM_OK) s = afm_gguf_write(w, o->write_gguf);
    if (src) afm_gguf_close(src);
    afm_gguf_writer_free(w);
    if (s != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tok_opts o;
    int r = parse("tokenize", argc, argv, &o);
    if (r >= 0) return r >= 100 ? r - 100 : r;
    afm_tokenizer *t = load(&o);
    if (!t) return 1;
    if (o.write_gguf) {
        int rc = write_vocab_gguf(t, &o);
        afm_tokenizer_free(t);
        return rc;
    }
    size_t len;
    char *text = read_stdin(&len);
    if (!text) { fprintf(stderr, "error: out of memory reading stdin\n"); afm_tokenizer_free(t); return 1; }
    if (o.jsonl) {
        int rc = tokenize_jsonl(t, &o, text, len);
        free(text);
        afm_tokenizer_free(t);
        return rc;
    }
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
