/* Decode attention alone: the query heads of each KV head as one afm_attn_decode call of G rows
 * (grouped) against G calls of one row (per head, what decode did before), over the caches of
 * L layers x n_kv KV heads at n keys each (sized like a model's, so a token's cache streams from
 * memory as it does in the forward pass). One thread; the two modes alternate round by round and
 * each figure is the median over rounds of this thread's CPU time per token (all layers), with
 * the cache bytes read per token divided by it.
 * usage: bench_attn_decode [hd 64] [G 3] [n_kv 3] [layers 30] [n 2048] [f16 0] [rounds 7] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/mem.h"
#include "kernels/attn.h"
#include "tensor/dtype.h"
#include "bench_util.h"


enum { MAXR = 64 };

int main(int argc, char **argv) {
    int64_t hd = argc > 1 ? atoll(argv[1]) : 64, G = argc > 2 ? atoll(argv[2]) : 3, nkv = argc > 3 ? atoll(argv[3]) : 3;
    int64_t L = argc > 4 ? atoll(argv[4]) : 30, n = argc > 5 ? atoll(argv[5]) : 2048;
    int f16 = argc > 6 ? atoi(argv[6]) : 0, rounds = argc > 7 ? atoi(argv[7]) : 7;
    if (hd < 1 || G < 1 || nkv < 1 || L < 1 || n < 1 || rounds < 1 || rounds > MAXR) {
        fprintf(stderr, "usage: bench_attn_decode [hd] [G] [n_kv] [layers] [n] [f16 0|1] [rounds 1..%d]\n", MAXR);
        return 2;
    }
    int64_t nkb = (n + 7) / 8 * 8, heads = L * nkv, lds = (n + 15) / 16 * 16;
    size_t es = f16 ? 2 : 4, kh = (size_t)(nkb * hd), vh = (size_t)(n * hd);
    char *K = afm_alloc((size_t)heads * kh * es), *V = afm_alloc((size_t)heads * vh * es);
    float *Q = afm_alloc(sizeof(float) * (size_t)(heads * G * hd)), *Qw = afm_alloc(sizeof(float) * (size_t)(G * hd));
    float *S = afm_alloc(sizeof(float) * (size_t)(G * lds)), *O = afm_alloc(sizeof(float) * (size_t)(G * hd));
    if (!K || !V || !Q || !Qw || !S || !O) { fprintf(stderr, "out of memory\n"); return 1; }
    unsigned seed = 1;
    for (size_t i = 0; i < (size_t)heads * kh; i++) {
        seed = seed * 1664525u + 1013904223u;
        float x = (float)((seed >> 8) / 8388608.0 - 1.0);
        if (f16) ((uint16_t *)K)[i] = afm_f32_to_f16(x); else ((float *)K)[i] = x;
    }
    for (size_t i = 0; i < (size_t)heads * vh; i++) {
        seed = seed * 1664525u + 1013904223u;
        float x = (float)((seed >> 8) / 8388608.0 - 1.0);
        if (f16) ((uint16_t *)V)[i] = afm_f32_to_f16(x); else ((float *)V)[i] = x;
    }
    for (int64_t i = 0; i < heads * G * hd; i++) Q[i] = (float)((i * 7919) % 2001 - 1000) / 500.0f;
    float scale = 1.0f / 8.0f;
    double t[2][MAXR];
    for (int r = -1; r < rounds; r++) /* r == -1: warm-up */
        for (int mode = 0; mode < 2; mode++) { /* 0: per head, 1: grouped */
            double c0 = now(CLOCK_THREAD_CPUTIME_ID);
            for (int64_t h = 0; h < heads; h++) {
                const char *Kh = K + (size_t)h * kh * es, *Vh = V + (size_t)h * vh * es;
                memcpy(Qw, Q + h * G * hd, sizeof(float) * (size_t)(G * hd)); /* f16 rounds it in place */
                int64_t step = mode ? G : 1;
                for (int64_t g = 0; g < G; g += step) {
                    if (f16)
                        afm_attn_decode_f16(Qw + g * hd, hd, step, (const uint16_t *)Kh, (const uint16_t *)Vh, n, 0, hd, scale,
                                            S, lds, O + g * hd, hd);
                    else
                        afm_attn_decode(Qw + g * hd, hd, step, (const float *)Kh, (const float *)Vh, n, 0, hd, scale, S, lds,
                                        O + g * hd, hd);
                }
            }
            if (r >= 0) t[mode][r] = now(CLOCK_THREAD_CPUTIME_ID) - c0;
        }
    qsort(t[0], (size_t)rounds, sizeof(double), cmp_d);
    qsort(t[1], (size_t)rounds, sizeof(double), cmp_d);
    double a = t[0][rounds / 2], b = t[1][rounds / 2], bytes = (double)heads * (double)(kh + vh) * (double)es;
    printf("hd %lld G %lld n_kv %lld layers %lld n %lld %s: cache %.1f MB/token; per head %.3f ms (%.1f GB/s of cache), "
           "grouped %.3f ms (%.1f GB/s): %.2fx\n",
           (long long)hd, (long long)G, (long long)nkv, (long long)L, (long long)n, f16 ? "f16" : "f32", bytes / 1e6, 1e3 * a,
           bytes / a / 1e9, 1e3 * b, bytes / b / 1e9, a / b);
    afm_free(K); afm_free(V); afm_free(Q); afm_free(Qw); afm_free(S); afm_free(O);
    return 0;
}
