#include "base/mem.h"
#include <stdlib.h>
#include <string.h>

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
