/* Seeded deterministic RNG (xoshiro256**, seeded through splitmix64). One per component. */
#ifndef AFM_BASE_RNG_H
#define AFM_BASE_RNG_H
#include <stdint.h>

typedef struct afm_rng { uint64_t s[4]; } afm_rng;

void afm_rng_seed(afm_rng *r, uint64_t seed);
uint64_t afm_rng_u64(afm_rng *r);
float afm_rng_uniform(afm_rng *r);  /* [0, 1) with 24 random bits */
float afm_rng_normal(afm_rng *r);   /* N(0, 1), Box-Muller */
#endif
