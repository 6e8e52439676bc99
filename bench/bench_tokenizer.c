/* Encode throughput of afm's tokenizer on a document file (uint32 little-endian length + UTF-8
 * bytes, repeated; bench/bench_tokenizer.py writes it), with T threads each encoding every T-th
 * document. Prints one line: "afm threads=T cold_MBps=... best_MBps=... cpu_MBps=... tokens=N":
 * wall-clock throughput of the first and the best pass, and bytes per second of process CPU time
 * (summed over threads) in the best-CPU pass, which a busy shared machine distorts less.
 * usage: bench_tokenizer --tokenizer FILE [--merges FILE] --docs DOCS [--threads T] [--reps R] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tokenizer.h"
#include "base/file.h"
#include "base/timer.h"
#include <time.h>

static double cpu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    const afm_tokenizer *t;
    const char **doc;
    const uint32_t *len;
    size_t n_docs, first, step, tokens;
    int failed;
} job;

static void *run(void *arg) {
    job *j = arg;
    j->tokens = 0;
    for (size_t i = j->first; i < j->n_docs; i += j->step) {
        int32_t *ids;
        size_t n;
        if (afm_tokenizer_encode(j->t, j->doc[i], j->len[i], false, false, &ids, &n) != AFM_OK) { j->failed = 1; return NULL; }
        j->tokens += n;
        free(ids);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *tok = NULL, *merges = NULL, *docs = NULL;
    int threads = 1, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tokenizer")) tok = argv[i + 1];
        else if (!strcmp(argv[i], "--merges")) merges = argv[i + 1];
        else if (!strcmp(argv[i], "--docs")) docs = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    if (!tok || !docs || threads < 1 || threads > 64 || reps < 1) {
        fprintf(stderr, "usage: bench_tokenizer --tokenizer FILE [--merges FILE] --docs DOCS [--threads T] [--reps R]\n");
        return 2;
    }
    afm_tokenizer *t;
    if (afm_tokenizer_load(tok, merges, &t) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    afm_mmap m;
    if (afm_mmap_open(docs, &m) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    size_t cap = 1024, n = 0, bytes = 0;
    const char **doc = malloc(cap * sizeof *doc);
    uint32_t *len = malloc(cap * sizeof *len);
    for (size_t o = 0; o + 4 <= m.size;) {
        uint32_t l;
        memcpy(&l, m.data + o, 4);
        if (l > m.size - o - 4) { fprintf(stderr, "error: %s: truncated document %zu\n", docs, n); return 1; }
        if (n == cap) {
            cap *= 2;
            doc = realloc(doc, cap * sizeof *doc);
            len = realloc(len, cap * sizeof *len);
        }
        doc[n] = (const char *)m.data + o + 4;
        len[n++] = l;
        bytes += l;
        o += 4 + (size_t)l;
    }
    double cold = 0, best = 0, best_cpu = 0;
    size_t tokens = 0;
    for (int r = 0; r < reps; r++) {
        job jobs[64];
        pthread_t th[64];
        double t0 = afm_now_s(), c0 = cpu_now_s();
        for (int k = 0; k < threads; k++) {
            jobs[k] = (job){t, doc, len, n, (size_t)k, (size_t)threads, 0, 0};
            pthread_create(&th[k], NULL, run, &jobs[k]);
        }
        tokens = 0;
        for (int k = 0; k < threads; k++) {
            pthread_join(th[k], NULL);
            if (jobs[k].failed) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
            tokens += jobs[k].tokens;
        }
        double mbps = (double)bytes / 1e6 / (afm_now_s() - t0);
        double cpu_mbps = (double)bytes / 1e6 / (cpu_now_s() - c0);
        if (cpu_mbps > best_cpu) best_cpu = cpu_mbps;
        if (r == 0) cold = mbps;
        if (mbps > best) best = mbps;
    }
    printf("afm threads=%d cold_MBps=%.2f best_MBps=%.2f cpu_MBps=%.2f tokens=%zu bytes=%zu docs=%zu\n", threads, cold, best, best_cpu, tokens, bytes, n);
    free(doc);
    free(len);
    afm_mmap_close(&m);
    afm_tokenizer_free(t);
    return 0;
}
