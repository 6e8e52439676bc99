/* Aligned allocation (64 bytes, for AVX-512) and overflow-checked size arithmetic. */
#ifndef AFM_BASE_MEM_H
#define AFM_BASE_MEM_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

void *afm_alloc(size_t n);          /* 64-byte aligned, uninitialized; NULL on failure */
void *afm_calloc(size_t n);         /* 64-byte aligned, zeroed */
void afm_free(void *p);

/* n bytes (n > 0) of zeroed anonymous memory for a large, long-lived buffer that is streamed (model
 * weights): starts on a 2 MiB boundary and asks for transparent huge pages (MADV_HUGEPAGE; where
 * the kernel declines, ordinary pages). The mapping is exactly n bytes rounded up to 4 KiB: the
 * kernel gives huge pages only to whole 2 MiB pages inside a mapping, so the last partial one is
 * 4 KiB pages and nothing past n is resident (a buffer rounded up to 2 MiB had the rest of its
 * last huge page, up to 2 MiB of zeros, resident). With `populate` the pages are allocated in one
 * call instead of one fault each (a request; older kernels fault them in on first write).
 * NULL when out of memory; free with afm_huge_free(p, n). */
void *afm_huge_alloc(size_t n, bool populate);
void afm_huge_free(void *p, size_t n);

/* a*b and a+b with overflow detection: return false on overflow. */
static inline bool afm_mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool afm_add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
#endif
