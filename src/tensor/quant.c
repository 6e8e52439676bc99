/* Reference (de)quantizers for ggml block formats. The rounding follows ggml's
 * quantize_row_*_ref exactly (truncation with +0.5 offsets for the *_0/_1 formats, roundf for
 * q8_0, nearest_int and the same scale searches for the k-quants), so our files match llama.cpp's
 * byte for byte. This file is compiled without FMA flags: a fused multiply-add would change the
 * rounding of expressions like x*id + 8.5f. */
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "base/error.h"
#include <math.h>
#include <string.h>

#define GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties away from zero is NOT what this does: it adds 1.5*2^23 and reads the
 * mantissa, i.e. round-half-even for |v| < 2^22 (ggml's nearest_int). */
static inline int nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- dequantize */

static void deq_q8_0(const afm_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = b[i].qs[j] * d;
    }
}

static void deq_q4_0(const afm_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = ((b[i].qs[j] & 0xF) - 8) * d;
            y[i * 32 + j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const afm_block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d), m = afm_f16_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = (b[i].qs[j] & 0xF) * d + m;
            y[i * 32 + j + 16] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void deq_q5_0(const afm_block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
            y[i * 32 + j] = (((b[i].qs[j] & 0xF) | h0) - 16) * d;
            y[i * 32 + j + 16] = (((b[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void deq_q5_1(const afm_block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d), m = afm_f16_to_f32(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
            y[i * 32 + j] = ((b[i].qs[j] & 0xF) | h0) * d + m;
            y[i * 32 + j + 16] = ((b[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void deq_q4_k(const afm_block_q4_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d), dmin = afm_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32) { /* chunk c: sub-blocks 2c (low), 2c+1 (high) */
            uint8_t sc, mn;
            afm_q4k_scale_min(2 * c, b[i].scales, &sc, &mn);
            float d1 = d * sc, m1 = dmin * mn;
            afm_q4k_scale_min(2 * c + 1, b[i].scales, &sc, &mn);
            float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* q6_k element order: two halves of 128; in half h, element l + 32*k (k = 0..3, l = 0..31) has
 * low bits from ql[64h + l + 32*(k&1)] (low nibble for k < 2, high nibble for k >= 2) and high
 * bits (qh[32h + l] >> 2k) & 3; its scale is scales[8h + 2k + l/16]. */
static void deq_q6_k(const afm_block_q6_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = afm_f16_to_f32(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[128 * h + l] = d * sc[is] * q1;
                y[128 * h + l + 32] = d * sc[is + 2] * q2;
                y[128 * h + l + 64] = d * sc[is + 4] * q3;
                y[128 * h + l + 96] = d * sc[is + 6] * q4;
            }
        }
        y += 256;
    }
}

afm_status afm_dequantize_row(afm_dtype t, const void *src, float *dst, int64_t n) {
    const afm_dtype_info *info = afm_dtype_get((uint32_t)t);
    if (!info || !info->supported)
        return afm_error(AFM_ERR_UNSUPPORTED, "dequantize: type %s is not supported", afm_dtype_name((uint32_t)t));
    if (n < 0 || n % info->block)
        return afm_error(AFM_ERR_INVALID_ARG, "dequantize %s: %lld elements is not a multiple of the block size %d",
                         info->name, (long long)n, info->block);
    int64_t nb = n / info->block;
    switch (t) {
    case AFM_F32: memmove(dst, src, (size_t)n * 4); break;
    case AFM_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = afm_f16_to_f32(s[i]);
    } break;
    case AFM_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = afm_bf16_to_f32(s[i]);
    } break;
    case AFM_Q8_0: deq_q8_0(src, dst, nb); break;
    case AFM_Q4_0: deq_q4_0(src, dst, nb); break;
    case AFM_Q4_1: deq_q4_1(src, dst, nb); break;
    case AFM_Q5_0: deq_q5_0(src, dst, nb); break;
    case AFM_Q5_1: deq_q5_1(src, dst, nb); break;
    case AFM_Q4_K: deq_q4_k(src, dst, nb); break;
    case AFM_Q6_K: deq_q6_k(src, dst, nb); break;
    default:
        return afm_error(AFM_ERR_UNSUPPORTED, "dequantize: type %s is not supported", info->name);
    }
    return AFM_OK;
}

/* ---------------------------------------------------------------- quantize (ggml *_ref) */

static void quant_q8_0(const float *x, afm_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f, id = d ? 1.0f / d : 0.0f;
        y[i].d = afm_f32_to_f16(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* The signed value of largest magnitude (the first one on ties), as the *_0 quantizers use. */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    return max;
}

static void quant_q4_0(const float *x, afm_block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float d = signed_absmax(x, 32) / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = afm_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            int q0 = imin(15, (int8_t)(x[j] * id + 8.5f)), q1 = imin(15, (int8_t)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

static void quant_q4_1(const float *x, afm_block_q4_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        float d = (mx - mn) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = afm_f32_to_f16(d);
        y[i].m = afm_f32_to_f16(mn);
        for (int j = 0; j < 16; j++) {
            int q0 = imin(15, (int8_t)((x[j] - mn) * id + 0.5f));
            int q1 = imin(15, (int8_t)((x[j + 16] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q5_0(const float *x, afm_block_q5_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float d = signed_absmax(x, 32) / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = afm_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = imin(31, (int8_t)(x[j] * id + 16.5f)), q1 = imin(31, (int8_t)(x[j + 16] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void quant_q5_1(const float *x, afm_block_q5_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        float d = (mx - mn) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = afm_f32_to_f16(d);
        y[i].m = afm_f32_to_f16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = imin(31, (uint8_t)((x[j] - mn) * id + 0.5f));
            int q1 = imin(31, (uint8_t)((x[j + 16] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

/* ggml's make_qkx2_quants: asymmetric n-element quantization to 0..nmax minimising the
 * weighted squared error over a small grid of candidate scales; returns the scale and stores
 * -min (>= 0) in *the_min. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float mn = x[0], mx = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx == mn) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -mn;
        return 0.f;
    }
    float iscale = nmax / (mx - mn), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - mn));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + mn - x[i];
        best_error += w[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (mx - mn);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - mn))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += w[i] * diff * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                mn = this_min;
            }
        }
    }
    *the_min = -mn;
    return scale;
}

static void quant_q4_k(const float *x, afm_block_q4_k *y, int64_t nb) {
    uint8_t L[256], Laux[32];
    float weights[32], mins[8], scales[8];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        memset(y[i].scales, 0, 12);
        for (int j = 0; j < 8; j++) {
            uint8_t ls = (uint8_t)imin(63, (uint8_t)nearest_int(inv_scale * scales[j]));
            uint8_t lm = (uint8_t)imin(63, (uint8_t)nearest_int(inv_min * mins[j]));
            if (j < 4) {
                y[i].scales[j] = ls;
                y[i].scales[j + 4] = lm;
            } else {
                y[i].scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                y[i].scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                y[i].scales[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        y[i].d = afm_f32_to_f16(max_scale / 63.f);
        y[i].dmin = afm_f32_to_f16(max_min / 63.f);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            afm_q4k_scale_min(j, y[i].scales, &sc, &m);
            float d = afm_f16_to_f32(y[i].d) * sc;
            if (!d) continue;
            float dm = afm_f16_to_f32(y[i].dmin) * m;
            for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)imax(0, imin(15, nearest_int((x[32 * j + l] + dm) / d)));
        }
        uint8_t *q = y[i].qs;
        for (int j = 0; j < 256; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

/* ggml's make_qx_quants with rmse_type 1 (weights x^2) and no importance weights: symmetric
 * quantization to -nmax..nmax-1 choosing the best of 19 candidate scales. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void quant_q6_k(const float *x, afm_block_q6_k *y, int64_t nb) {
    int8_t L[256];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += 256) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = afm_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < 16; j++) {
            float d = afm_f16_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) {
                int q = imax(-32, imin(31, nearest_int(x[16 * j + l] / d)));
                L[16 * j + l] = (int8_t)(q + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < 256; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

afm_status afm_quantize_row(afm_dtype t, const float *src, void *dst, int64_t n) {
    const afm_dtype_info *info = afm_dtype_get((uint32_t)t);
    if (!info || !info->supported)
        return afm_error(AFM_ERR_UNSUPPORTED, "quantize: type %s is not supported", afm_dtype_name((uint32_t)t));
    if (n < 0 || n % info->block)
        return afm_error(AFM_ERR_INVALID_ARG, "quantize %s: %lld elements is not a multiple of the block size %d",
                         info->name, (long long)n, info->block);
    int64_t nb = n / info->block;
    switch (t) {
    case AFM_F32: memmove(dst, src, (size_t)n * 4); break;
    case AFM_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = afm_f32_to_f16(src[i]);
    } break;
    case AFM_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = afm_f32_to_bf16(src[i]);
    } break;
    case AFM_Q8_0: quant_q8_0(src, dst, nb); break;
    case AFM_Q4_0: quant_q4_0(src, dst, nb); break;
    case AFM_Q4_1: quant_q4_1(src, dst, nb); break;
    case AFM_Q5_0: quant_q5_0(src, dst, nb); break;
    case AFM_Q5_1: quant_q5_1(src, dst, nb); break;
    case AFM_Q4_K: quant_q4_k(src, dst, nb); break;
    case AFM_Q6_K: quant_q6_k(src, dst, nb); break;
    default:
        return afm_error(AFM_ERR_UNSUPPORTED, "quantize: type %s is not supported", info->name);
    }
    return AFM_OK;
}
