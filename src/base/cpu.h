/* Run-time CPU feature detection for kernel dispatch. AFM_FORCE_ISA=scalar|avx2|avx512|amx
 * in the environment caps the level (used by tests and benchmarks): every value but `amx` also
 * switches the AMX tiles off (afm_amx_bf16_usable). */
#ifndef AFM_BASE_CPU_H
#define AFM_BASE_CPU_H
typedef enum afm_isa { AFM_ISA_SCALAR = 0, AFM_ISA_AVX2 = 1, AFM_ISA_AVX512 = 2 } afm_isa;
typedef struct afm_cpu_features {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
    /* AMX: CPUID.(7,0):EDX bit 24 (AMX-TILE) and bit 22 (AMX-BF16); amx_os: the OS enabled the
     * tile state in XCR0 (bits 17 XTILECFG and 18 XTILEDATA). */
    int amx_tile, amx_bf16, amx_os;
} afm_cpu_features;
const afm_cpu_features *afm_cpu(void);
afm_isa afm_isa_best(void);    /* highest level the CPU supports, capped by AFM_FORCE_ISA */
const char *afm_isa_name(afm_isa isa);
/* 1 when the AMX-BF16 tiles may be used now: the CPU has AMX-TILE and AMX-BF16, XCR0 enables
 * the tile state, the AVX-512 level is available (the AMX code packs with AVX-512),
 * AFM_FORCE_ISA is unset or `amx`, and the OS granted this process the tile data (Linux:
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), requested once per process here). */
int afm_amx_bf16_usable(void);
#endif
