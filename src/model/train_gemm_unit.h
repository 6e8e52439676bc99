/* Work units of the blocked GEMMs (train_gemm.c, train_gemm_amx.c): C (M, Nc) is split into
 * row chunks of m_chunk rows x column tiles of nc_blk columns, tiles_n tiles across; unit u is
 * row chunk u / tiles_n and column tile u % tiles_n, and thread ith of nth runs the units
 * u = ith, ith + nth, ... Each element of C belongs to one unit, so to one thread. */
#ifndef AFM_MODEL_TRAIN_GEMM_UNIT_H
#define AFM_MODEL_TRAIN_GEMM_UNIT_H
#include <stdbool.h>
#include <string.h>

/* Rows m0 .. m1-1 and columns j0 .. j0+nc-1 of C (the last chunk and tile may be short). */
typedef struct afm_gemm_unit { long m0, m1, j0, nc; } afm_gemm_unit;

static inline afm_gemm_unit afm_gemm_unit_at(long u, long M, long Nc, long m_chunk, long nc_blk, long tiles_n) {
    afm_gemm_unit t;
    t.j0 = (u % tiles_n) * nc_blk;
    t.m0 = (u / tiles_n) * m_chunk;
    t.nc = Nc - t.j0 < nc_blk ? Nc - t.j0 : nc_blk;
    t.m1 = t.m0 + m_chunk < M ? t.m0 + m_chunk : M;
    return t;
}

/* K == 0, an empty sum: C = 0 on the unit (C(i, j) = c[i*c_rs + j]), or unchanged when accumulating. */
static inline void afm_gemm_unit_empty_sum(const afm_gemm_unit *t, float *c, long c_rs, bool accumulate) {
    if (accumulate) return;
    for (long i = t->m0; i < t->m1; i++) memset(c + i * c_rs + t->j0, 0, sizeof(float) * (size_t)t->nc);
}
#endif
