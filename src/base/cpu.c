#include "base/cpu.h"
#include <stdlib.h>
#include <string.h>

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
