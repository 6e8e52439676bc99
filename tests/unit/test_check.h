/* Helpers shared by the kernel unit tests.
 * CHECK(cond, fmt, ...): counts a failure in `failures` and prints the first 30 with file and line,
 * without stopping, so one run reports every broken case.
 * frand(): uniform floats in [-1, 1) from a 32-bit linear congruential generator (Numerical
 * Recipes' constants) seeded with TEST_SEED (define it before including; default 7), so each
 * test's inputs are the same on every run and machine. */
#ifndef AFM_TEST_CHECK_H
#define AFM_TEST_CHECK_H
#include <stdio.h>

#ifndef TEST_SEED
#define TEST_SEED 7
#endif

static int failures;
#define CHECK(c, ...) do { if (!(c)) { if (failures++ < 30) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } } while (0)

static unsigned g_seed = TEST_SEED;
static inline unsigned urand(void) { /* 24 random bits */
    g_seed = g_seed * 1664525u + 1013904223u;
    return g_seed >> 8;
}
static inline float frand(void) { return (float)(urand() / 8388608.0 - 1.0); }
#endif
