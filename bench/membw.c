/* membw — streaming memory read bandwidth, the bound on decode speed (DESIGN.md §5).
 *
 * usage: membw [-t THREADS] [-m MIB] [-r REPS] [--json]
 * Allocates MIB MiB (default 1024, far above any L3), touches every page, then each of THREADS
 * threads sums its contiguous slice with 8 independent accumulators (so the loop is limited by
 * loads, not by an add chain). Prints the best of REPS passes: bytes read / seconds, in GB/s
 * (1e9 bytes). With --json: {"test": "read_bw", "threads": T, "gb_s": X}. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/threadpool.h"
#include "base/timer.h"

typedef struct job {
    const uint64_t *buf;
    long n_words;
    uint64_t sums[64]; /* one per thread, so the reads cannot be optimised away */
} job;

static void read_slice(void *ctx, int ith, int nth) {
    job *j = ctx;
    long lo, hi;
    afm_split_range(j->n_words / 8, ith, nth, &lo, &hi);
    const uint64_t *p = j->buf + lo * 8;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (long i = 0; i < hi - lo; i++, p += 8) {
        a0 += p[0]; a1 += p[1]; a2 += p[2]; a3 += p[3];
        a4 += p[4]; a5 += p[5]; a6 += p[6]; a7 += p[7];
    }
    j->sums[ith] = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
}

int main(int argc, char **argv) {
    int threads = 1, reps = 5, json = 0;
    long mib = 1024;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) mib = atol(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else { fprintf(stderr, "usage: membw [-t THREADS] [-m MIB] [-r REPS] [--json]\n"); return 2; }
    }
    if (threads < 1 || threads > 64 || mib < 1 || reps < 1) { fprintf(stderr, "error: bad option value\n"); return 2; }
    size_t bytes = (size_t)mib << 20;
    uint64_t *buf = afm_alloc(bytes);
    if (!buf) { fprintf(stderr, "error: cannot allocate %ld MiB\n", mib); return 1; }
    for (size_t i = 0; i < bytes / 8; i++) buf[i] = i * 0x9E3779B97F4A7C15ull;
    afm_pool *pool = NULL;
    if (afm_pool_create(threads, &pool) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    job j = {.buf = buf, .n_words = (long)(bytes / 8)};
    double best = 1e30;
    uint64_t check = 0;
    for (int r = 0; r < reps + 1; r++) { /* the first pass warms up threads and the TLB */
        double t0 = afm_now_s();
        afm_pool_run(pool, read_slice, &j);
        double dt = afm_now_s() - t0;
        if (r > 0 && dt < best) best = dt;
        for (int t = 0; t < threads; t++) check += j.sums[t];
    }
    double gbs = (double)bytes / best / 1e9;
    if (json) printf("{\"test\": \"read_bw\", \"threads\": %d, \"gb_s\": %.2f}\n", threads, gbs);
    else printf("read bandwidth, %d thread(s), %ld MiB: %.2f GB/s (checksum %llx)\n", threads, mib, gbs,
                (unsigned long long)(check & 0xff));
    afm_pool_free(pool);
    afm_free(buf);
    return 0;
}
