/* C emulation of the AMX tile intrinsics (and the few AVX-512 ones avx512_emu.h lacks) that
 * src/model/train_gemm_amx.c uses, so its driver (packing, tiling, k tails, C edges, thread
 * split) runs on a CPU without AMX (test_train_amx_emu.c). Written from Intel's SDM:
 *  - LDTILECFG: a 64-byte block, byte 0 palette (1), bytes 16+2t colsb of tile t, byte 48+t its
 *    rows; tiles 0-7. TILELOADD / TILESTORED move rows x colsb bytes at base + r * stride;
 *    TILEZERO zeroes a tile; TILERELEASE returns to the init state. Each thread has its own tiles.
 *  - TDPBF16PS tC, tA, tB (pseudo-code of the SDM): for each row m of C, temp[0 .. 2N) = 0; for
 *    each pair k of A's row (colsb / 4 of them) and each column n of C, in that order,
 *      temp[2n]   += fp32(A.row[m].bf16[2k])   * fp32(B.row[k].bf16[2n])
 *      temp[2n+1] += fp32(A.row[m].bf16[2k+1]) * fp32(B.row[k].bf16[2n+1])
 *    each an f32 FMA with DAZ (bf16 subnormal inputs count as 0), FTZ (subnormal results become
 *    0) and round to nearest even; then C.row[m].fp32[n] += temp[2n] + temp[2n+1] (the pair sum
 *    first, then added to C; DAZ, FTZ, RNE). Shapes must agree (A rows = C rows, B rows =
 *    A colsb / 4, B colsb = C colsb, colsb <= 64, rows <= 16), else the real instruction faults:
 *    here abort().
 * Include after <immintrin.h>, in code compiled for AVX2 (avx512_emu.h). */
#ifndef AFM_TEST_AMX_EMU_H
#define AFM_TEST_AMX_EMU_H
#include "avx512_emu.h"
#include <stdio.h>
#include <stdlib.h>

/* vpermt2w / vpermt2d: lane i = (idx[i] & 2N) ? b[idx[i] & (N-1)] : a[idx[i] & (N-1)] */
EMU emu512i emu_permutex2var_epi16(emu512i a, emu512i idx, emu512i b) {
    emu512i r;
    for (int i = 0; i < 32; i++) { unsigned j = idx.uw[i] & 63u; r.uw[i] = j & 32u ? b.uw[j & 31u] : a.uw[j & 31u]; }
    return r;
}
EMU emu512i emu_permutex2var_epi32(emu512i a, emu512i idx, emu512i b) {
    emu512i r;
    for (int i = 0; i < 16; i++) { unsigned j = (unsigned)idx.d[i] & 31u; r.d[i] = j & 16u ? b.d[j & 15u] : a.d[j & 15u]; }
    return r;
}
EMU void emu_storeu_si512(void *p, emu512i a) { memcpy(p, &a, 64); }

typedef struct emu_tiles {
    int configured;
    uint16_t colsb[8];
    uint8_t rows[8];
    uint8_t t[8][16][64];
} emu_tiles;
static _Thread_local emu_tiles g_emu_tiles;
static long g_emu_tdp_count; /* TDPBF16PS executed (all threads; for the test's sanity check) */

EMU void emu_tile_fault(const char *what, int t) {
    fprintf(stderr, "AMX emulation: %s (tile %d): the real instruction would fault\n", what, t);
    abort();
}
EMU void emu_tile_check(int t) {
    if (!g_emu_tiles.configured) emu_tile_fault("tile used without a configuration", t);
    if (t < 0 || t > 7 || g_emu_tiles.rows[t] == 0 || g_emu_tiles.colsb[t] == 0) emu_tile_fault("tile not configured", t);
}
EMU void emu_tile_loadconfig(const void *p) {
    const uint8_t *c = p;
    if (c[0] != 1) emu_tile_fault("palette is not 1", -1);
    memset(&g_emu_tiles, 0, sizeof g_emu_tiles);
    for (int t = 0; t < 8; t++) {
        uint16_t cb;
        memcpy(&cb, c + 16 + 2 * t, 2);
        g_emu_tiles.colsb[t] = cb;
        g_emu_tiles.rows[t] = c[48 + t];
        if (cb > 64 || c[48 + t] > 16 || (cb & 3)) emu_tile_fault("tile shape beyond palette 1", t);
    }
    g_emu_tiles.configured = 1;
}
EMU void emu_tile_release(void) { memset(&g_emu_tiles, 0, sizeof g_emu_tiles); }
EMU void emu_tile_loadd(int t, const void *base, long stride) {
    emu_tile_check(t);
    memset(g_emu_tiles.t[t], 0, sizeof g_emu_tiles.t[t]);
    for (int r = 0; r < g_emu_tiles.rows[t]; r++) memcpy(g_emu_tiles.t[t][r], (const char *)base + r * stride, g_emu_tiles.colsb[t]);
}
EMU void emu_tile_stored(int t, void *base, long stride) {
    emu_tile_check(t);
    for (int r = 0; r < g_emu_tiles.rows[t]; r++) memcpy((char *)base + r * stride, g_emu_tiles.t[t][r], g_emu_tiles.colsb[t]);
}
EMU void emu_tile_zero(int t) { emu_tile_check(t); memset(g_emu_tiles.t[t], 0, sizeof g_emu_tiles.t[t]); }

/* f32 value of a bf16 with DAZ; f32 with FTZ */
EMU float emu_amx_bf16(uint16_t h) {
    if ((h & 0x7f80) == 0) h &= 0x8000;
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
EMU float emu_ftz(float x) { return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x; }

EMU void emu_tile_dpbf16ps(int tc, int ta, int tb) {
    emu_tile_check(tc); emu_tile_check(ta); emu_tile_check(tb);
    const emu_tiles *s = &g_emu_tiles;
    int M = s->rows[tc], N = s->colsb[tc] / 4, K = s->colsb[ta] / 4;
    if (s->rows[ta] != M || s->rows[tb] != K || s->colsb[tb] != s->colsb[tc]) emu_tile_fault("TDPBF16PS shapes disagree", tc);
    if (tc == ta || tc == tb || ta == tb) emu_tile_fault("TDPBF16PS operands must be distinct tiles", tc);
    for (int m = 0; m < M; m++) {
        float temp[32] = {0};
        uint16_t a[32];
        memcpy(a, g_emu_tiles.t[ta][m], 64);
        for (int k = 0; k < K; k++) {
            uint16_t b[32];
            memcpy(b, g_emu_tiles.t[tb][k], 64);
            for (int n = 0; n < N; n++) {
                temp[2 * n] = emu_ftz(fmaf(emu_amx_bf16(a[2 * k]), emu_amx_bf16(b[2 * n]), temp[2 * n]));
                temp[2 * n + 1] = emu_ftz(fmaf(emu_amx_bf16(a[2 * k + 1]), emu_amx_bf16(b[2 * n + 1]), temp[2 * n + 1]));
            }
        }
        for (int n = 0; n < N; n++) {
            float c;
            memcpy(&c, g_emu_tiles.t[tc][m] + 4 * n, 4);
            c = emu_ftz(emu_ftz(c) + emu_ftz(temp[2 * n] + temp[2 * n + 1]));
            memcpy(g_emu_tiles.t[tc][m] + 4 * n, &c, 4);
        }
    }
    __atomic_add_fetch(&g_emu_tdp_count, 1, __ATOMIC_RELAXED);
}

#undef _mm512_permutex2var_epi16
#define _mm512_permutex2var_epi16 emu_permutex2var_epi16
#undef _mm512_permutex2var_epi32
#define _mm512_permutex2var_epi32 emu_permutex2var_epi32
#undef _mm512_storeu_si512
#define _mm512_storeu_si512 emu_storeu_si512
#undef _tile_loadconfig
#define _tile_loadconfig emu_tile_loadconfig
#undef _tile_release
#define _tile_release emu_tile_release
#undef _tile_loadd
#define _tile_loadd emu_tile_loadd
#undef _tile_stored
#define _tile_stored emu_tile_stored
#undef _tile_zero
#define _tile_zero emu_tile_zero
#undef _tile_dpbf16ps
#define _tile_dpbf16ps emu_tile_dpbf16ps
#endif
