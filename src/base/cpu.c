#include "base/cpu.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static afm_cpu_features g_feat;
static int g_init;

static void detect(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    g_feat.avx2 = __builtin_cpu_supports("avx2");
    g_feat.fma = __builtin_cpu_supports("fma");
    g_feat.f16c = 1; /* every AVX2 CPU we target has F16C; checked with avx2 below */
    g_feat.avx512f = __builtin_cpu_supports("avx512f");
    g_feat.avx512bw = __builtin_cpu_supports("avx512bw");
    g_feat.avx512vl = __builtin_cpu_supports("avx512vl");
    g_feat.avx512dq = __builtin_cpu_supports("avx512dq");
    g_feat.avx512vnni = __builtin_cpu_supports("avx512vnni");
#if defined(__clang__) && __clang_major__ < 15
    g_feat.avx512bf16 = 0;
#else
    g_feat.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
    unsigned a, b, c, d;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        g_feat.amx_tile = (int)(d >> 24 & 1);
        g_feat.amx_bf16 = (int)(d >> 22 & 1);
    }
    /* XCR0 is readable (xgetbv) only when the OS set CR4.OSXSAVE: CPUID.1:ECX bit 27 */
    if (g_feat.amx_tile && __get_cpuid(1, &a, &b, &c, &d) && (c >> 27 & 1)) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        (void)hi;
        g_feat.amx_os = (lo >> 17 & 3u) == 3u;
    }
#endif
    g_init = 1;
}

const afm_cpu_features *afm_cpu(void) {
    if (!g_init) detect();
    return &g_feat;
}

afm_isa afm_isa_best(void) {
    const afm_cpu_features *f = afm_cpu();
    afm_isa best = AFM_ISA_SCALAR;
    if (f->avx2 && f->fma) best = AFM_ISA_AVX2;
    if (best == AFM_ISA_AVX2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni)
        best = AFM_ISA_AVX512;
    const char *force = getenv("AFM_FORCE_ISA");
    if (force) {
        afm_isa cap = best;
        if (!strcmp(force, "scalar")) cap = AFM_ISA_SCALAR;
        else if (!strcmp(force, "avx2")) cap = AFM_ISA_AVX2;
        else if (!strcmp(force, "avx512")) cap = AFM_ISA_AVX512;
        if (cap < best) best = cap;
    }
    return best;
}

const char *afm_isa_name(afm_isa isa) {
    switch (isa) {
    case AFM_ISA_SCALAR: return "scalar";
    case AFM_ISA_AVX2: return "avx2";
    case AFM_ISA_AVX512: return "avx512";
    }
    return "?";
}

#if defined(__x86_64__) && defined(__linux__)
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;
static int g_amx_granted;
/* Linux keeps the 8 KB of tile data out of a process's signal frames and context switches until
 * it asks: arch_prctl(ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18); the grant covers
 * every thread of the process. Without it a tile instruction faults (SIGILL). */
static void request_amx(void) { g_amx_granted = syscall(SYS_arch_prctl, 0x1023, 18) == 0; }
#endif

int afm_amx_bf16_usable(void) {
    const afm_cpu_features *f = afm_cpu();
    if (!f->amx_tile || !f->amx_bf16 || !f->amx_os || afm_isa_best() < AFM_ISA_AVX512) return 0;
    const char *force = getenv("AFM_FORCE_ISA");
    if (force && *force && strcmp(force, "amx")) return 0;
#if defined(__x86_64__) && defined(__linux__)
    pthread_once(&g_amx_once, request_amx);
    return g_amx_granted;
#else
    return 0;
#endif
}
