/* Run-time CPU feature detection for kernel dispatch. AFM_FORCE_ISA=scalar|avx2|avx512
 * in the environment caps the level (used by tests and benchmarks). */
#ifndef AFM_BASE_CPU_H
#define AFM_BASE_CPU_H
typedef enum afm_isa { AFM_ISA_SCALAR = 0, AFM_ISA_AVX2 = 1, AFM_ISA_AVX512 = 2 } afm_isa;
typedef struct afm_cpu_features {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
} afm_cpu_features;
const afm_cpu_features *afm_cpu(void);
afm_isa afm_isa_best(void);    /* highest level the CPU supports, capped by AFM_FORCE_ISA */
const char *afm_isa_name(afm_isa isa);
#endif
