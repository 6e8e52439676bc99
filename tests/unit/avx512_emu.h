/* Lane-by-lane C emulation of the AVX-512 intrinsics that src/kernels/matmul_avx512.c,
 * src/kernels/attn_avx512.c and src/model/train_gemm_bf16_avx512.c use, so their kernels
 * (layouts, tails, tile walks, integer offsets) can be exercised on a CPU without AVX-512
 * (test_matmul_avx512_emu.c, test_attn_avx512_emu.c, test_train_bf16_emu.c). Written from Intel's documented semantics of each instruction; the
 * real instructions are checked by test_matmul / test_train_gemm on an AVX-512 machine.
 * Include after <immintrin.h> and before the kernel source, in code compiled for AVX2 + FMA +
 * F16C (the 128/256-bit intrinsics the kernels also use run natively). */
#ifndef AFM_TEST_AVX512_EMU_H
#define AFM_TEST_AVX512_EMU_H
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { float f[16]; } emu512;
typedef union { int8_t b[64]; uint8_t ub[64]; int16_t w[32]; uint16_t uw[32]; int32_t d[16]; int64_t q[8]; } emu512i;

#define EMU static inline
EMU emu512 emu_setzero_ps(void) { emu512 r; memset(&r, 0, sizeof r); return r; }
EMU emu512i emu_setzero_si512(void) { emu512i r; memset(&r, 0, sizeof r); return r; }
EMU emu512 emu_set1_ps(float v) { emu512 r; for (int i = 0; i < 16; i++) r.f[i] = v; return r; }
EMU emu512i emu_set1_epi32(int v) { emu512i r; for (int i = 0; i < 16; i++) r.d[i] = v; return r; }
EMU emu512i emu_set1_epi8(char v) { emu512i r; for (int i = 0; i < 64; i++) r.b[i] = (int8_t)v; return r; }
EMU emu512 emu_add_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) a.f[i] += b.f[i]; return a; }
EMU emu512 emu_mul_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) a.f[i] *= b.f[i]; return a; }
EMU emu512 emu_fmadd_ps(emu512 a, emu512 b, emu512 c) { for (int i = 0; i < 16; i++) c.f[i] = fmaf(a.f[i], b.f[i], c.f[i]); return c; }
EMU emu512i emu_and_si512(emu512i a, emu512i b) { for (int i = 0; i < 8; i++) a.q[i] &= b.q[i]; return a; }
EMU emu512i emu_xor_si512(emu512i a, emu512i b) { for (int i = 0; i < 8; i++) a.q[i] ^= b.q[i]; return a; }
EMU emu512i emu_sub_epi32(emu512i a, emu512i b) { for (int i = 0; i < 16; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] - (uint32_t)b.d[i]); return a; }
EMU emu512i emu_srli_epi16(emu512i a, unsigned n) { for (int i = 0; i < 32; i++) a.uw[i] = n > 15 ? 0 : (uint16_t)(a.uw[i] >> n); return a; }
EMU emu512i emu_slli_epi32(emu512i a, unsigned n) { for (int i = 0; i < 16; i++) a.d[i] = n > 31 ? 0 : (int32_t)((uint32_t)a.d[i] << n); return a; }
EMU emu512 emu_cvtepi32_ps(emu512i a) { emu512 r; for (int i = 0; i < 16; i++) r.f[i] = (float)a.d[i]; return r; }
EMU emu512 emu_castsi512_ps(emu512i a) { emu512 r; memcpy(&r, &a, 64); return r; }
EMU emu512 emu_loadu_ps(const float *p) { emu512 r; memcpy(&r, p, 64); return r; }
EMU emu512i emu_loadu_si512(const void *p) { emu512i r; memcpy(&r, p, 64); return r; }
EMU void emu_storeu_ps(float *p, emu512 a) { memcpy(p, &a, 64); }
/* masked lanes only are read (the others are 0 and their memory untouched) */
EMU emu512 emu_maskz_loadu_ps(__mmask16 m, const float *p) {
    emu512 r = emu_setzero_ps();
    for (int i = 0; i < 16; i++) if (m >> i & 1) r.f[i] = p[i];
    return r;
}
EMU __m256i emu256_maskz_loadu_epi16(__mmask16 m, const void *p) {
    uint16_t v[16] = {0};
    for (int i = 0; i < 16; i++) if (m >> i & 1) memcpy(&v[i], (const char *)p + 2 * i, 2);
    __m256i r;
    memcpy(&r, v, 32);
    return r;
}
EMU __m256 emu_castps512_ps256(emu512 a) { __m256 r; memcpy(&r, a.f, 32); return r; }
EMU __m256 emu_extractf32x8_ps(emu512 a, int hi) { __m256 r; memcpy(&r, a.f + 8 * (hi & 1), 32); return r; }
EMU emu512i emu_castsi256_si512(__m256i a) { emu512i r = emu_setzero_si512(); memcpy(&r, &a, 32); return r; }
EMU emu512i emu_inserti64x4(emu512i a, __m256i b, int hi) { memcpy(a.ub + 32 * (hi & 1), &b, 32); return a; }
/* the upper 256 bits of a cast are undefined: zeros here */
EMU emu512 emu_castps256_ps512(__m256 a) { emu512 r = emu_setzero_ps(); memcpy(r.f, &a, 32); return r; }
EMU emu512 emu_insertf32x8(emu512 a, __m256 b, int hi) { memcpy(a.f + 8 * (hi & 1), &b, 32); return a; }
EMU emu512i emu_cvtepu16_epi32(__m256i a) {
    uint16_t v[16];
    memcpy(v, &a, 32);
    emu512i r;
    for (int i = 0; i < 16; i++) r.d[i] = v[i];
    return r;
}
EMU emu512 emu_cvtph_ps(__m256i a) {
    uint16_t v[16];
    memcpy(v, &a, 32);
    emu512 r;
    for (int i = 0; i < 16; i++) r.f[i] = _cvtsh_ss(v[i]);
    return r;
}
/* vpmaddubsw: unsigned bytes of a times signed bytes of b, adjacent pairs added with signed
 * saturation to 16 bits */
EMU emu512i emu_maddubs_epi16(emu512i a, emu512i b) {
    emu512i r;
    for (int i = 0; i < 32; i++) {
        int s = a.ub[2 * i] * b.b[2 * i] + a.ub[2 * i + 1] * b.b[2 * i + 1];
        r.w[i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
    }
    return r;
}
/* vpdpbusd: src + the 4 products of unsigned bytes of a and signed bytes of b per dword */
EMU emu512i emu_dpbusd_epi32(emu512i src, emu512i a, emu512i b) {
    for (int i = 0; i < 16; i++) {
        int32_t s = 0;
        for (int k = 0; k < 4; k++) s += a.ub[4 * i + k] * b.b[4 * i + k];
        src.d[i] = (int32_t)((uint32_t)src.d[i] + (uint32_t)s);
    }
    return src;
}
EMU __m256i emu256_dpbusd_epi32(__m256i src, __m256i a, __m256i b) {
    emu512i s = emu_castsi256_si512(src), x = emu_castsi256_si512(a), y = emu_castsi256_si512(b);
    emu512i r = emu_dpbusd_epi32(s, x, y);
    __m256i out;
    memcpy(&out, &r, 32);
    return out;
}
/* vpdpwssd: src + the 2 products of signed words of a and b per dword */
EMU emu512i emu_dpwssd_epi32(emu512i src, emu512i a, emu512i b) {
    for (int i = 0; i < 16; i++) {
        int64_t s = (int64_t)a.w[2 * i] * b.w[2 * i] + (int64_t)a.w[2 * i + 1] * b.w[2 * i + 1];
        src.d[i] = (int32_t)((uint32_t)src.d[i] + (uint32_t)s);
    }
    return src;
}
EMU emu512i emu_load_si512(const void *p) { return emu_loadu_si512(p); }
EMU void emu_store_ps(float *p, emu512 a) { memcpy(p, &a, 64); }
/* vdpbf16ps (Intel's pseudocode): per f32 lane i, src += a.bf16[2i+1] * b.bf16[2i+1], then
 * src += a.bf16[2i] * b.bf16[2i], each product exact, each sum rounded to f32; bf16 subnormal
 * inputs count as 0 (DAZ). (Subnormal results are not flushed here.) */
EMU float emu_bf16(uint16_t h) {
    if ((h & 0x7f80) == 0) h &= 0x8000;
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
EMU emu512 emu_dpbf16_ps(emu512 src, emu512i a, emu512i b) {
    for (int i = 0; i < 16; i++) {
        src.f[i] += emu_bf16(a.uw[2 * i + 1]) * emu_bf16(b.uw[2 * i + 1]);
        src.f[i] += emu_bf16(a.uw[2 * i]) * emu_bf16(b.uw[2 * i]);
    }
    return src;
}
#define AFM_AS_BH(v) (v)
EMU emu512i emu_castps_si512(emu512 a) { emu512i r; memcpy(&r, &a, 64); return r; }
EMU emu512i emu_or_si512(emu512i a, emu512i b) { for (int i = 0; i < 8; i++) a.q[i] |= b.q[i]; return a; }
EMU emu512i emu_add_epi32(emu512i a, emu512i b) { for (int i = 0; i < 16; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] + (uint32_t)b.d[i]); return a; }
EMU emu512i emu_srli_epi32(emu512i a, unsigned n) { for (int i = 0; i < 16; i++) a.d[i] = n > 31 ? 0 : (int32_t)((uint32_t)a.d[i] >> n); return a; }
EMU __mmask16 emu_cmpgt_epi32_mask(emu512i a, emu512i b) {
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)(a.d[i] > b.d[i]) << i;
    return (__mmask16)m;
}
EMU emu512i emu_mask_mov_epi32(emu512i src, __mmask16 k, emu512i a) { for (int i = 0; i < 16; i++) if (k >> i & 1) src.d[i] = a.d[i]; return src; }
/* only the masked lanes are written */
EMU void emu_mask_storeu_epi32(void *p, __mmask16 k, emu512i a) { for (int i = 0; i < 16; i++) if (k >> i & 1) memcpy((char *)p + 4 * i, &a.d[i], 4); }

#undef __m512
#define __m512 emu512
#undef __m512i
#define __m512i emu512i
#undef _mm512_setzero_ps
#define _mm512_setzero_ps emu_setzero_ps
#undef _mm512_setzero_si512
#define _mm512_setzero_si512 emu_setzero_si512
#undef _mm512_set1_ps
#define _mm512_set1_ps emu_set1_ps
#undef _mm512_set1_epi32
#define _mm512_set1_epi32 emu_set1_epi32
#undef _mm512_set1_epi8
#define _mm512_set1_epi8 emu_set1_epi8
#undef _mm512_add_ps
#define _mm512_add_ps emu_add_ps
#undef _mm512_mul_ps
#define _mm512_mul_ps emu_mul_ps
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps emu_fmadd_ps
#undef _mm512_and_si512
#define _mm512_and_si512 emu_and_si512
#undef _mm512_xor_si512
#define _mm512_xor_si512 emu_xor_si512
#undef _mm512_sub_epi32
#define _mm512_sub_epi32 emu_sub_epi32
#undef _mm512_srli_epi16
#define _mm512_srli_epi16 emu_srli_epi16
#undef _mm512_slli_epi32
#define _mm512_slli_epi32 emu_slli_epi32
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps emu_cvtepi32_ps
#undef _mm512_castsi512_ps
#define _mm512_castsi512_ps emu_castsi512_ps
#undef _mm512_loadu_ps
#define _mm512_loadu_ps emu_loadu_ps
#undef _mm512_loadu_si512
#define _mm512_loadu_si512 emu_loadu_si512
#undef _mm512_storeu_ps
#define _mm512_storeu_ps emu_storeu_ps
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps emu_maskz_loadu_ps
#undef _mm256_maskz_loadu_epi16
#define _mm256_maskz_loadu_epi16 emu256_maskz_loadu_epi16
#undef _mm512_castps512_ps256
#define _mm512_castps512_ps256 emu_castps512_ps256
#undef _mm512_extractf32x8_ps
#define _mm512_extractf32x8_ps emu_extractf32x8_ps
#undef _mm512_castsi256_si512
#define _mm512_castsi256_si512 emu_castsi256_si512
#undef _mm512_inserti64x4
#define _mm512_inserti64x4 emu_inserti64x4
#undef _mm512_castps256_ps512
#define _mm512_castps256_ps512 emu_castps256_ps512
#undef _mm512_insertf32x8
#define _mm512_insertf32x8 emu_insertf32x8
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32 emu_cvtepu16_epi32
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps emu_cvtph_ps
#undef _mm512_maddubs_epi16
#define _mm512_maddubs_epi16 emu_maddubs_epi16
#undef _mm512_dpbusd_epi32
#define _mm512_dpbusd_epi32 emu_dpbusd_epi32
#undef _mm256_dpbusd_epi32
#define _mm256_dpbusd_epi32 emu256_dpbusd_epi32
#undef _mm512_dpwssd_epi32
#define _mm512_dpwssd_epi32 emu_dpwssd_epi32
#undef _mm512_load_si512
#define _mm512_load_si512 emu_load_si512
#undef _mm512_store_ps
#define _mm512_store_ps emu_store_ps
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps emu_dpbf16_ps
#undef _mm512_castps_si512
#define _mm512_castps_si512 emu_castps_si512
#undef _mm512_or_si512
#define _mm512_or_si512 emu_or_si512
#undef _mm512_add_epi32
#define _mm512_add_epi32 emu_add_epi32
#undef _mm512_srli_epi32
#define _mm512_srli_epi32 emu_srli_epi32
#undef _mm512_cmpgt_epi32_mask
#define _mm512_cmpgt_epi32_mask emu_cmpgt_epi32_mask
#undef _mm512_mask_mov_epi32
#define _mm512_mask_mov_epi32 emu_mask_mov_epi32
#undef _mm512_mask_storeu_epi32
#define _mm512_mask_storeu_epi32 emu_mask_storeu_epi32
#endif
