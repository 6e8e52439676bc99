/* afm_matmul throughput per weight type at SmolLM2-135M and AFM-3B shapes, judged against limits
 * measured in the same run:
 *   T = 1   (decode GEMV):  GB/s of weights read, vs a streaming-read loop on the same threads;
 *   T = 512 (prefill GEMM): GFLOP/s (2 rows cols T / time), vs independent-chain FMA and int8
 *           (maddubs+madd) peaks on the same threads.
 * Usage: bench_matmul [-t THREADS] [-T TOKENS] [-y TYPE[,TYPE..]] [-s small|afm|gemma|all] [-m SECONDS] [-c 1]
 *   defaults: threads 1 and 2, T 1 and 512, all types, all shapes, 0.3 s per measurement;
 *   -c 1 times by the calling thread's CPU time (use with -t 1 on a busy machine). */
#include "kernels/matmul.h"
#include "tensor/quant.h"
#include "base/cpu.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "base/timer.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPAQUE(v) __asm__ volatile("" : "+x"(v))

/* CPU time of the calling thread: with -c 1 and one thread, robust against other processes
 * taking the core (the machine is shared). */
static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int g_cpu_time;
static double clock_s(void) { return g_cpu_time ? thread_cpu_s() : afm_now_s(); }

/* ---- limits */

typedef struct { const float *a; size_t n; float out[64]; } bw_ctx;

__attribute__((target("avx2,fma"))) static void bw_job(void *p, int ith, int nth) {
    bw_ctx *c = p;
    long lo, hi;
    afm_split_range((long)(c->n / 64), ith, nth, &lo, &hi);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (long i = lo * 64; i < hi * 64; i += 64) {
        s0 = _mm256_add_ps(s0, _mm256_add_ps(_mm256_load_ps(c->a + i), _mm256_load_ps(c->a + i + 8)));
        s1 = _mm256_add_ps(s1, _mm256_add_ps(_mm256_load_ps(c->a + i + 16), _mm256_load_ps(c->a + i + 24)));
        s2 = _mm256_add_ps(s2, _mm256_add_ps(_mm256_load_ps(c->a + i + 32), _mm256_load_ps(c->a + i + 40)));
        s3 = _mm256_add_ps(s3, _mm256_add_ps(_mm256_load_ps(c->a + i + 48), _mm256_load_ps(c->a + i + 56)));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    float t[8];
    _mm256_storeu_ps(t, s);
    c->out[ith] = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

static double measure_bandwidth(afm_pool *pool) { /* GB/s reading 512 MiB */
    size_t n = (size_t)128 << 20;
    float *a = afm_alloc(n * sizeof(float));
    if (!a) return 0;
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023);
    bw_ctx c = {a, n, {0}};
    double best = 0;
    for (int rep = 0; rep < 4; rep++) {
        double t = clock_s();
        afm_pool_run(pool, bw_job, &c);
        t = clock_s() - t;
        if (n * 4 / t / 1e9 > best) best = n * 4 / t / 1e9;
    }
    afm_free(a);
    return best;
}

enum { CHAINS = 12, PEAK_ITERS = 20000000 };
typedef struct { double sink[64]; } peak_ctx;

/* fp32: 12 independent FMA chains, 8 lanes x 2 flops each */
__attribute__((target("avx2,fma"))) static void fma_job(void *p, int ith, int nth) {
    peak_ctx *c = p;
    __m256 a = _mm256_set1_ps(1.0001f), b = _mm256_set1_ps(0.9999f), acc[CHAINS];
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_ps((float)(k + 1 + ith));
    long m = PEAK_ITERS / nth;
    for (long i = 0; i < m; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
        OPAQUE(a);
    }
    for (int k = 1; k < CHAINS; k++) acc[0] = _mm256_add_ps(acc[0], acc[k]);
    float t[8];
    _mm256_storeu_ps(t, acc[0]);
    c->sink[ith] = t[0];
}

/* int8 (AVX2, no VNNI): the multiply instruction vpmaddubsw does 32 u8 x s8 multiply-adds (64
 * ops) into int16 pairs; chains of maddubs + add_epi16, each with its own input a[k] made opaque
 * every step so no product can be shared or hoisted. */
#define I8CH 6
/* Written in assembly: with intrinsics the compiler spilled the chains to the stack. */
__attribute__((target("avx2,fma"))) static void int8_job(void *p, int ith, int nth) {
    peak_ctx *c = p;
    long m = PEAK_ITERS / nth;
    short out[16];
    __asm__ volatile(
        "vpcmpeqb %%ymm15, %%ymm15, %%ymm15\n\t"
        "vpabsb %%ymm15, %%ymm15\n\t"            /* b = 1 */
        "vpaddb %%ymm15, %%ymm15, %%ymm0\n\t"    /* a_k = 2, 3, ... distinct inputs */
        "vpaddb %%ymm15, %%ymm0, %%ymm1\n\t"
        "vpaddb %%ymm15, %%ymm1, %%ymm2\n\t"
        "vpaddb %%ymm15, %%ymm2, %%ymm3\n\t"
        "vpaddb %%ymm15, %%ymm3, %%ymm4\n\t"
        "vpaddb %%ymm15, %%ymm4, %%ymm5\n\t"
        "vpxor %%ymm6, %%ymm6, %%ymm6\n\t"
        "vpxor %%ymm7, %%ymm7, %%ymm7\n\t"
        "vpxor %%ymm8, %%ymm8, %%ymm8\n\t"
        "vpxor %%ymm9, %%ymm9, %%ymm9\n\t"
        "vpxor %%ymm10, %%ymm10, %%ymm10\n\t"
        "vpxor %%ymm11, %%ymm11, %%ymm11\n\t"
        "1:\n\t"
        "vpmaddubsw %%ymm15, %%ymm0, %%ymm12\n\t vpaddw %%ymm12, %%ymm6, %%ymm6\n\t"
        "vpmaddubsw %%ymm15, %%ymm1, %%ymm13\n\t vpaddw %%ymm13, %%ymm7, %%ymm7\n\t"
        "vpmaddubsw %%ymm15, %%ymm2, %%ymm14\n\t vpaddw %%ymm14, %%ymm8, %%ymm8\n\t"
        "vpmaddubsw %%ymm15, %%ymm3, %%ymm12\n\t vpaddw %%ymm12, %%ymm9, %%ymm9\n\t"
        "vpmaddubsw %%ymm15, %%ymm4, %%ymm13\n\t vpaddw %%ymm13, %%ymm10, %%ymm10\n\t"
        "vpmaddubsw %%ymm15, %%ymm5, %%ymm14\n\t vpaddw %%ymm14, %%ymm11, %%ymm11\n\t"
        "dec %[m]\n\t"
        "jnz 1b\n\t"
        "vpaddw %%ymm6, %%ymm7, %%ymm6\n\t vpaddw %%ymm8, %%ymm9, %%ymm8\n\t vpaddw %%ymm10, %%ymm11, %%ymm10\n\t"
        "vpaddw %%ymm6, %%ymm8, %%ymm6\n\t vpaddw %%ymm6, %%ymm10, %%ymm6\n\t"
        "vmovdqu %%ymm6, %[out]\n\t"
        "vzeroupper"
        : [m] "+r"(m), [out] "=m"(out)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "cc");
    c->sink[ith] = out[ith & 15];
}

static double measure_peak(afm_pool *pool, afm_pool_fn fn, double ops_per_iter) {
    peak_ctx c;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = clock_s();
        afm_pool_run(pool, fn, &c);
        t = clock_s() - t;
        double g = (double)PEAK_ITERS * ops_per_iter / t / 1e9;
        if (g > best) best = g;
    }
    return best;
}

/* ---- matmul */

typedef struct { const char *model, *name; int64_t rows, cols; } shape;
static const shape SHAPES[] = {
    {"smollm2", "attn 576x576", 576, 576},      {"smollm2", "ffn up 1536x576", 1536, 576},
    {"smollm2", "ffn down 576x1536", 576, 1536}, {"smollm2", "lm_head 49152x576", 49152, 576},
    {"afm3b", "attn 3072x3072", 3072, 3072},     {"afm3b", "ffn up 8064x3072", 8064, 3072},
    {"afm3b", "ffn down 3072x8064", 3072, 8064}, {"afm3b", "attn kv 1024x3072", 1024, 3072},
    {"gemma3", "attn q 1024x640", 1024, 640},    {"gemma3", "ffn up 2048x640", 2048, 640},
    {"gemma3", "lm_head 262144x640", 262144, 640},
};

static unsigned g_seed = 99;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) / 8388608.0 - 1.0);
}

int main(int argc, char **argv) {
    int threads_list[2] = {1, 2}, nthr = 2;
    int64_t T_list[2] = {1, 512};
    int nT = 2;
    const char *types_arg = NULL, *shape_arg = "all";
    double min_s = 0.3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) { threads_list[0] = atoi(argv[i + 1]); nthr = 1; }
        else if (!strcmp(argv[i], "-T")) { T_list[0] = atoll(argv[i + 1]); nT = 1; }
        else if (!strcmp(argv[i], "-y")) types_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-s")) shape_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-m")) min_s = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-c")) g_cpu_time = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: %s [-t N] [-T N] [-y types] [-s small|afm|gemma|all] [-m s]\n", argv[0]); return 2; }
    }
    const afm_dtype all_types[] = {AFM_F32, AFM_F16, AFM_BF16, AFM_Q8_0, AFM_Q4_0, AFM_Q4_1, AFM_Q5_0, AFM_Q5_1, AFM_Q4_K, AFM_Q6_K};
    printf("matmul kernels: %s\n", afm_isa_name(afm_isa_best()));
    for (int ti = 0; ti < nthr; ti++) {
        afm_pool *pool;
        if (afm_pool_create(threads_list[ti], &pool)) { fprintf(stderr, "pool\n"); return 1; }
        int nt = threads_list[ti];
        double bw = measure_bandwidth(pool);
        double fma = measure_peak(pool, fma_job, CHAINS * 16.0);
        double i8 = measure_peak(pool, int8_job, I8CH * 64.0);
        printf("\n== %d thread(s): read bandwidth %.1f GB/s, fp32 FMA peak %.0f GFLOP/s, int8 (maddubs) peak %.0f GOP/s\n",
               nt, bw, fma, i8);
        printf("%-7s %-20s %-6s %5s %10s %10s %8s\n", "model", "shape", "type", "T", "time ms", "GB/s|GF/s", "of limit");
        for (size_t si = 0; si < sizeof SHAPES / sizeof *SHAPES; si++) {
            const shape *sh = &SHAPES[si];
            if (strcmp(shape_arg, "all") && !(strcmp(shape_arg, "small") == 0 && !strcmp(sh->model, "smollm2")) &&
                !(strcmp(shape_arg, "afm") == 0 && !strcmp(sh->model, "afm3b")) &&
                !(strcmp(shape_arg, "gemma") == 0 && !strcmp(sh->model, "gemma3")))
                continue;
            float *w = malloc(sizeof(float) * sh->cols);
            for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++) {
                afm_dtype wt = all_types[k];
                const char *tn = afm_dtype_name(wt);
                if (types_arg && !strstr(types_arg, tn)) continue;
                if (sh->cols % afm_dtype_get(wt)->block) continue; /* e.g. k-quants need cols % 256 == 0 */
                size_t rb = afm_dtype_row_size(wt, sh->cols), wbytes = rb * (size_t)sh->rows;
                unsigned char *W = afm_alloc(wbytes);
                for (int64_t r = 0; r < sh->rows; r++) {
                    for (int64_t c = 0; c < sh->cols; c++) w[c] = frand();
                    afm_quantize_row(wt, w, W + r * rb, sh->cols);
                }
                unsigned char *Wp = NULL; /* the repacked copy, measured as "<type>+r" */
                if (afm_matmul_can_repack(wt)) {
                    Wp = afm_alloc(wbytes);
                    afm_matmul_repack(wt, sh->rows, sh->cols, W, Wp);
                }
                for (int variant = 0; variant < (Wp ? 2 : 1); variant++)
                for (int tk = 0; tk < nT; tk++) {
                    int64_t T = T_list[tk];
                    char label[16];
                    snprintf(label, sizeof label, "%s%s", tn, variant ? "+r" : "");
                    const void *Wv = variant ? (const void *)Wp : (const void *)W;
                    afm_status (*mm)(afm_pool *, float *, const void *, afm_dtype, int64_t, int64_t, const float *,
                                     int64_t) = variant ? afm_matmul_packed : afm_matmul;
                    float *x = afm_alloc(sizeof(float) * T * sh->cols), *y = afm_alloc(sizeof(float) * T * sh->rows);
                    for (int64_t i = 0; i < T * sh->cols; i++) x[i] = frand();
                    if (mm(pool, y, Wv, wt, sh->rows, sh->cols, x, T) != AFM_OK) { /* also warms up */
                        fprintf(stderr, "matmul %s %s: %s\n", tn, sh->name, afm_last_error());
                        return 1;
                    }
                    double best = 1e30, start = afm_now_s();
                    int reps = 0;
                    while (reps < 2 || (afm_now_s() - start < min_s && reps < 1000)) {
                        double t = clock_s();
                        mm(pool, y, Wv, wt, sh->rows, sh->cols, x, T);
                        t = clock_s() - t;
                        if (t < best) best = t;
                        reps++;
                    }
                    if (T == 1) {
                        double gbs = wbytes / best / 1e9;
                        printf("%-7s %-20s %-6s %5lld %10.3f %7.1f GB/s %6.0f%%\n", sh->model, sh->name, label, (long long)T,
                               best * 1e3, gbs, 100 * gbs / bw);
                    } else {
                        double gf = 2.0 * sh->rows * sh->cols * T / best / 1e9;
                        int q = wt != AFM_F32 && wt != AFM_F16 && wt != AFM_BF16;
                        printf("%-7s %-20s %-6s %5lld %10.3f %7.1f GF/s %6.0f%% of %s\n", sh->model, sh->name, label,
                               (long long)T, best * 1e3, gf, 100 * gf / (q ? i8 : fma), q ? "int8" : "fma");
                    }
                    fflush(stdout);
                    afm_free(x);
                    afm_free(y);
                }
                afm_free(W);
                afm_free(Wp);
            }
            free(w);
        }
        afm_pool_free(pool);
    }
    return 0;
}
