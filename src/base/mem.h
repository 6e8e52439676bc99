/* Aligned allocation (64 bytes, for AVX-512) and overflow-checked size arithmetic. */
#ifndef AFM_BASE_MEM_H
#define AFM_BASE_MEM_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

void *afm_alloc(size_t n);          /* 64-byte aligned, uninitialized; NULL on failure */
void *afm_calloc(size_t n);         /* 64-byte aligned, zeroed */
void afm_free(void *p);

/* a*b and a+b with overflow detection: return false on overflow. */
static inline bool afm_mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool afm_add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
#endif
