/* afm tokenizer train: BPE training (byte-level or SentencePiece style) on text / JSONL files,
 * written as a vocab-only GGUF or as HF tokenizer files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "args.h"
#include "cli.h"
#include "tokenizer/bpe_train.h"
#include "base/timer.h"

static int usage_train(FILE *f) {
    fprintf(f,
            "usage: afm tokenizer train --vocab-size N --style bytelevel|sentencepiece -o OUT FILES...\n"
            "         [--special TOKEN]... [--split-digits] [--pre gpt2|llama3|qwen2|smollm]\n"
            "         [--format gguf|hf] [--ties hf|bytes] [--min-frequency N] [--limit-alphabet N]\n"
            "         [--character-coverage F]\n"
            "         [--field NAME] [--threads N] [--quiet]\n"
            "Trains a BPE vocabulary of N tokens (special tokens and the alphabet included).\n"
            "FILES: plain text (each line, with its line ending, is one unit, as HF tokenizers reads\n"
            "files) or *.jsonl (each line a JSON object; its \"text\" string, or --field NAME, is one unit).\n"
            "  --style bytelevel      GPT-2 byte alphabet, words from the --pre pattern (default gpt2)\n"
            "  --style sentencepiece  '\xE2\x96\x81' for spaces, <0x00>..<0xFF> byte fallback, score = -merge rank\n"
            "  --special TOKEN        special token (repeatable): ids 0, 1, ... in the order given; cut out\n"
            "                         of the text, never merged (sentencepiece default: <unk> <s> </s>)\n"
            "  --split-digits         digits 0-9 never merge (bytelevel: gpt2 becomes smollm)\n"
            "  --format gguf|hf       gguf (default): OUT is a vocab-only GGUF file; hf: OUT is a folder\n"
            "                         getting tokenizer.json (+ vocab.json and merges.txt for bytelevel)\n"
            "  --ties hf|bytes        equal counts: smallest id pair first (HF tokenizers' BpeTrainer,\n"
            "                         default) or greatest byte pair first (CS336 reference trainer)\n"
            "  --min-frequency N      stop when the best pair occurs fewer than N times\n"
            "  --character-coverage F sentencepiece: keep the most frequent characters covering the\n"
            "                         fraction F of all (default 0.9995, as SentencePiece; 1: all);\n"
            "                         the others are spelled with byte tokens\n"
            "  --limit-alphabet N     sentencepiece: keep at most the N most frequent characters\n"
            "  --threads N            threads counting words (default 2)\n");
    return f == stdout ? 0 : 2;
}

typedef struct progress_state { bool tty, quiet; double last, t0; const char *phase; } progress_state;

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total) {
    progress_state *p = ctx;
    if (p->quiet) return;
    double now = afm_now_s();
    bool finished = done >= total;
    if (!finished && (!p->tty || now - p->last < 0.1)) return;
    p->last = now;
    bool count = !strcmp(phase, "count");
    if (count) fprintf(stderr, "%scounting words: %.1f / %.1f MB (%3.0f%%)", p->tty ? "\r" : "", (double)done / 1e6, (double)total / 1e6,
                       total ? 100.0 * (double)done / (double)total : 100.0);
    else fprintf(stderr, "%smerging: %llu / %llu", p->tty ? "\r" : "", (unsigned long long)done, (unsigned long long)total);
    fprintf(stderr, "  [%.1f s]%s", now - p->t0, finished ? "\n" : "");
    fflush(stderr);
}

static int parse_style(const char *s, afm_bpe_style *out) {
    if (!strcmp(s, "bytelevel") || !strcmp(s, "byte-level")) *out = AFM_BPE_BYTELEVEL;
    else if (!strcmp(s, "sentencepiece") || !strcmp(s, "spm")) *out = AFM_BPE_SPM;
    else return -1;
    return 0;
}

static int parse_pre(const char *s, afm_pretok *out) {
    if (!strcmp(s, "gpt2")) *out = AFM_PRETOK_GPT2;
    else if (!strcmp(s, "llama3")) *out = AFM_PRETOK_LLAMA3;
    else if (!strcmp(s, "qwen2")) *out = AFM_PRETOK_QWEN2;
    else if (!strcmp(s, "smollm")) *out = AFM_PRETOK_SMOLLM;
    else return -1;
    return 0;
}

static int tokenizer_train(int argc, char **argv) {
    afm_bpe_train_opts o = {.style = AFM_BPE_BYTELEVEL, .pretok = AFM_PRETOK_GPT2, .n_threads = 2};
    const char *out = NULL, *style = NULL, *pre = NULL, *format = "gguf", *ties = "hf";
    long vocab = 0, minf = 0, limit = 0, threads = 2;
    double coverage = 0.9995;
    bool bad = false, quiet = false;
    const char **specials = calloc((size_t)argc + 4, sizeof *specials);
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int n_files = 0;
    if (!specials || !files) { free(specials); free(files); fprintf(stderr, "error: out of memory\n"); return 1; }
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i], *sp = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { free(specials); free(files); return usage_train(stdout); }
        if (arg_int(argc, argv, &i, "--vocab-size", NULL, &vocab, &bad)) continue;
        if (arg_str(argc, argv, &i, "--style", NULL, &style, &bad)) continue;
        if (arg_str(argc, argv, &i, "--special", NULL, &sp, &bad)) { if (sp) specials[o.n_specials++] = sp; continue; }
        if (!strcmp(a, "--split-digits")) { o.split_digits = true; continue; }
        if (arg_str(argc, argv, &i, "--pre", NULL, &pre, &bad)) continue;
        if (arg_str(argc, argv, &i, "--format", NULL, &format, &bad)) continue;
        if (arg_str(argc, argv, &i, "--ties", NULL, &ties, &bad)) continue;
        if (arg_int(argc, argv, &i, "--min-frequency", NULL, &minf, &bad)) continue;
        if (arg_int(argc, argv, &i, "--limit-alphabet", NULL, &limit, &bad)) continue;
        if (arg_float(argc, argv, &i, "--character-coverage", NULL, &coverage, &bad)) continue;
        if (arg_str(argc, argv, &i, "--field", NULL, &o.jsonl_field, &bad)) continue;
        if (arg_int(argc, argv, &i, "--threads", "-t", &threads, &bad)) continue;
        if (arg_str(argc, argv, &i, "-o", "--output", &out, &bad)) continue;
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { quiet = true; continue; }
        if (a[0] == '-' && a[1]) { fprintf(stderr, "error: unknown option '%s'\n", a); bad = true; break; }
        files[n_files++] = a;
    }
    int rc = 2;
    if (bad) goto done;
    if (!style) { fprintf(stderr, "error: give --style bytelevel or --style sentencepiece\n"); goto done; }
    if (parse_style(style, &o.style)) { fprintf(stderr, "error: --style must be bytelevel or sentencepiece, got '%s'\n", style); goto done; }
    if (vocab <= 0 || vocab > (1L << 26)) { fprintf(stderr, "error: give --vocab-size N with 0 < N <= 2^26\n"); goto done; }
    if (!out) { fprintf(stderr, "error: give the output with -o OUT\n"); goto done; }
    if (!n_files) { fprintf(stderr, "error: give at least one input file\n"); goto done; }
    if (strcmp(format, "gguf") && strcmp(format, "hf")) { fprintf(stderr, "error: --format must be gguf or hf, got '%s'\n", format); goto done; }
    if (!strcmp(ties, "hf")) o.ties = AFM_BPE_TIES_HF;
    else if (!strcmp(ties, "bytes")) o.ties = AFM_BPE_TIES_BYTES_MAX;
    else { fprintf(stderr, "error: --ties must be hf or bytes, got '%s'\n", ties); goto done; }
    if (minf < 0 || limit < 0 || threads < 1 || threads > 64) { fprintf(stderr, "error: --min-frequency, --limit-alphabet must be >= 0 and --threads in 1..64\n"); goto done; }
    if (pre) {
        if (o.style == AFM_BPE_SPM) { fprintf(stderr, "error: --pre applies to --style bytelevel only\n"); goto done; }
        if (parse_pre(pre, &o.pretok)) { fprintf(stderr, "error: --pre must be gpt2, llama3, qwen2 or smollm, got '%s'\n", pre); goto done; }
    }
    if (o.style == AFM_BPE_BYTELEVEL && o.split_digits) {
        if (o.pretok == AFM_PRETOK_GPT2) o.pretok = AFM_PRETOK_SMOLLM; /* GPT-2 pattern with every digit alone */
        else if (o.pretok == AFM_PRETOK_LLAMA3) { fprintf(stderr, "error: the llama3 pattern groups digits by three; use --pre qwen2 (one digit per word) with --split-digits\n"); goto done; }
    }
    if (!(coverage > 0 && coverage <= 1)) { fprintf(stderr, "error: --character-coverage must be in (0, 1]\n"); goto done; }
    if (limit && o.style != AFM_BPE_SPM) { fprintf(stderr, "error: --limit-alphabet applies to --style sentencepiece only (the byte-level alphabet is 256 bytes)\n"); goto done; }
    if (o.style == AFM_BPE_SPM && o.n_specials == 0) {
        specials[0] = "<unk>"; specials[1] = "<s>"; specials[2] = "</s>";
        o.n_specials = 3;
    }
    o.specials = specials;
    o.vocab_size = (int32_t)vocab;
    o.min_frequency = (uint64_t)minf;
    o.limit_alphabet = (int32_t)limit;
    o.char_coverage = o.style == AFM_BPE_SPM ? coverage : 0;
    o.n_threads = (int)threads;
    progress_state ps = {.tty = isatty(2), .quiet = quiet, .t0 = afm_now_s()};
    o.progress = on_progress;
    o.progress_ctx = &ps;

    rc = 1;
    afm_bpe_counts *counts = NULL;
    afm_bpe_vocab *v = NULL;
    afm_status s = afm_bpe_counts_create(&counts);
    if (s == AFM_OK) s = afm_bpe_count_files(counts, &o, files, n_files);
    if (s == AFM_OK && !quiet)
        fprintf(stderr, "%llu words, %zu distinct\n", (unsigned long long)afm_bpe_counts_total(counts), afm_bpe_counts_size(counts));
    if (s == AFM_OK) s = afm_bpe_train(counts, &o, &v);
    afm_bpe_counts_free(counts);
    if (s == AFM_OK) s = !strcmp(format, "hf") ? afm_bpe_vocab_write_hf(v, out) : afm_bpe_vocab_write_gguf(v, out);
    if (s != AFM_OK) rc = cli_fail("tokenizer train");
    else {
        if (!quiet) {
            fprintf(stderr, "%d tokens (%d special, %d merges) written to %s in %.2f s", v->n_tokens, v->n_specials, v->n_merges, out, afm_now_s() - ps.t0);
            if (v->n_tokens < o.vocab_size) fprintf(stderr, " (fewer than %d: no pair left to merge)", o.vocab_size);
            fprintf(stderr, "\n");
        }
        rc = 0;
    }
    afm_bpe_vocab_free(v);
done:
    if (rc == 2) fprintf(stderr, "Run 'afm tokenizer train --help' for the options.\n");
    free(specials);
    free(files);
    return rc;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return tokenizer_train(argc - 1, argv + 1);
    FILE *f = argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? stdout : stderr;
    if (f == stderr && argc >= 2) fprintf(stderr, "error: unknown tokenizer command '%s'\n", argv[1]);
    fprintf(f, "usage: afm tokenizer train ...   (train a BPE vocabulary; 'afm tokenizer train --help')\n");
    return f == stdout ? 0 : 2;
}
