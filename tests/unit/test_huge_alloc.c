/* afm_huge_alloc: the buffer starts on a 2 MiB boundary, is zeroed, and its mapping is exactly
 * the requested size rounded up to 4 KiB, so once every byte has been written the resident memory
 * of that mapping is the buffer itself. The allocation it replaced (posix_memalign rounded up to
 * 2 MiB, MADV_HUGEPAGE) had the whole last huge page resident: 2 MiB + 4 KiB + 7 bytes held 4 MiB
 * (1.9 MB of the SmolLM2-135M Q4_0 repacked weights' peak RSS). Read from /proc/self/smaps (Rss and
 * AnonHugePages of the mapping holding the buffer); skipped where that file is missing. After
 * afm_huge_free the mapping is gone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/mem.h"
#include "test_check.h"

typedef struct { uintptr_t lo, hi; long rss_kb, huge_kb; } vma;

/* The mapping of /proc/self/smaps that holds address a; returns 0 if there is none, -1 if smaps
 * cannot be read. */
static int find_vma(uintptr_t a, vma *out) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        long v;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            if (found) break;
            if (a >= lo && a < hi) { found = 1; *out = (vma){lo, hi, 0, 0}; }
        } else if (found && sscanf(line, "Rss: %ld kB", &v) == 1) out->rss_kb = v;
        else if (found && sscanf(line, "AnonHugePages: %ld kB", &v) == 1) out->huge_kb = v;
    }
    fclose(f);
    return found;
}

int main(void) {
    const size_t MiB = 1 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t sizes[] = {1, 4096, 2 * MiB - 100, 2 * MiB, 2 * MiB + 4096 + 7, 5 * MiB + 12345};
    vma v;
    if (find_vma((uintptr_t)&v, &v) < 0) { printf("skip: /proc/self/smaps is not readable\n"); return 0; }
    CHECK(afm_huge_alloc(0, false) == NULL, "a 0-byte request must fail");
    CHECK(afm_huge_alloc(SIZE_MAX - 100, false) == NULL, "a request near SIZE_MAX must fail, not wrap");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int populate = 0; populate < 2; populate++) {
            size_t n = sizes[i], len = (n + page - 1) / page * page;
            uint8_t *p = afm_huge_alloc(n, populate);
            CHECK(p != NULL, "afm_huge_alloc(%zu) failed", n);
            if (!p) continue;
            CHECK((uintptr_t)p % (2 * MiB) == 0, "%zu bytes: start %p is not 2 MiB aligned", n, (void *)p);
            CHECK(p[0] == 0 && p[n - 1] == 0, "%zu bytes: not zeroed", n);
            memset(p, 0x5A, n); /* every byte resident now */
            int got = find_vma((uintptr_t)p, &v);
            CHECK(got == 1, "%zu bytes: no mapping holds the buffer", n);
            if (got == 1) {
                CHECK(v.lo == (uintptr_t)p && v.hi - v.lo == len,
                      "%zu bytes (populate %d): mapping [%#lx, %#lx) is %zu bytes, expected exactly %zu from the buffer's start",
                      n, populate, (unsigned long)v.lo, (unsigned long)v.hi, (size_t)(v.hi - v.lo), len);
                CHECK((size_t)v.rss_kb * 1024 <= len, "%zu bytes (populate %d): %ld KiB resident, more than the %zu-byte buffer",
                      n, populate, v.rss_kb, len);
                CHECK((size_t)v.huge_kb * 1024 <= len / (2 * MiB) * (2 * MiB),
                      "%zu bytes (populate %d): %ld KiB in huge pages, more than the whole 2 MiB pages inside it", n, populate, v.huge_kb);
            }
            afm_huge_free(p, n);
            got = find_vma((uintptr_t)p, &v);
            CHECK(got == 0, "%zu bytes: still mapped after afm_huge_free", n);
        }
    afm_huge_free(NULL, 0);
    if (failures) { fprintf(stderr, "%d failure(s)\n", failures); return 1; }
    printf("ok\n");
    return 0;
}
