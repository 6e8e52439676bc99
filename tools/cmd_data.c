/* afm data prepare: tokenize text, JSONL ("text" field) and source files into a token shard of
 * a data folder (src/train/data.h), recording the tokenizer there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/status.h"
#include "base/threadpool.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"
#include "cli.h"

static int usage(FILE *f) {
    fprintf(f, "usage: afm data prepare --tokenizer TOK --out DIR [--source NAME] [--merges MERGES] [--threads N] FILES...\n"
               "Tokenizes FILES into DIR/NAME.tok (NAME default 'default') and records the source in DIR/data.json\n"
               "and the tokenizer in DIR/tokenizer.gguf. *.jsonl files give one document per line (its \"text\"\n"
               "field); any other file is one document. Documents are packed with the tokenizer's EOS between them.\n"
               "TOK: GGUF, HF tokenizer.json, llama2.c tokenizer.bin or GPT-2 vocab.json (+ --merges).\n");
    return f == stdout ? 0 : 2;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "prepare")) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) return usage(stdout);
        fprintf(stderr, "error: expected 'afm data prepare ...'\n");
        return usage(stderr);
    }
    const char *tok_path = NULL, *merges = NULL, *out = NULL, *source = "default";
    int threads = 0, n_files = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool next = i + 1 < argc;
        if (!strcmp(a, "--tokenizer") && next) tok_path = argv[++i];
        else if (!strcmp(a, "--merges") && next) merges = argv[++i];
        else if (!strcmp(a, "--out") && next) out = argv[++i];
        else if (!strcmp(a, "--source") && next) source = argv[++i];
        else if (!strcmp(a, "--threads") && next) threads = atoi(argv[++i]);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { free(files); return usage(stdout); }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "error: unknown or incomplete option '%s'\n", a); free(files); return usage(stderr); }
        else files[n_files++] = a;
    }
    if (!tok_path || !out || n_files == 0) { fprintf(stderr, "error: need --tokenizer, --out and at least one file\n"); free(files); return usage(stderr); }
    afm_tokenizer *tok = NULL;
    afm_pool *pool = NULL;
    afm_status st = afm_tokenizer_load(tok_path, merges, &tok);
    if (st == AFM_OK) st = afm_pool_create(threads, &pool);
    uint64_t nt = 0, nd = 0;
    if (st == AFM_OK) st = afm_data_prepare(pool, tok, out, source, files, n_files, &nt, &nd);
    if (st == AFM_OK) fprintf(stderr, "%s/%s.tok: %llu tokens in %llu documents from %d files\n", out, source,
                              (unsigned long long)nt, (unsigned long long)nd, n_files);
    else fprintf(stderr, "error: %s\n", afm_last_error());
    afm_pool_free(pool);
    afm_tokenizer_free(tok);
    free(files);
    return st == AFM_OK ? 0 : 1;
}
