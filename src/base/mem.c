#include "base/mem.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *afm_alloc(size_t n) {
    void *p = NULL;
    if (n == 0) n = 64;
    if (posix_memalign(&p, 64, (n + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}
void *afm_calloc(size_t n) {
    void *p = afm_alloc(n);
    if (p) memset(p, 0, n);
    return p;
}
void afm_free(void *p) { free(p); }

enum { HUGE_PAGE = 2 << 20 };

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL and pages fault in on first write */
#endif

static size_t page_round(size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (n + page - 1) & ~(page - 1);
}

void *afm_huge_alloc(size_t n, bool populate) {
    if (n == 0 || n > SIZE_MAX - 2 * (size_t)HUGE_PAGE) return NULL;
    size_t len = page_round(n), span = len + HUGE_PAGE; /* room to slide the start to a 2 MiB boundary */
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));                 /* the unused head ... */
    if (raw + span > p + len) munmap(p + len, (size_t)(raw + span - (p + len))); /* ... and tail */
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    if (populate) (void)madvise(p, len, MADV_POPULATE_WRITE);
    return p;
}

void afm_huge_free(void *p, size_t n) {
    if (p) munmap(p, page_round(n));
}
