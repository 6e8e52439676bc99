/* AVX2 kernels for the k-quants (q4_k, q6_k) against q8_K activations (called only after
 * run-time detection).
 *
 * Both formats reduce to one integer form once a 256-element super-block is unpacked:
 *   u[k]  (k = 0..7): the 32 codes of elements 32k .. 32k+31 as unsigned bytes
 *                     (q4_k: nibble 0..15; q6_k: 6-bit code 0..63, weight code - 32);
 *   sv[k]:            int16 multipliers of maddubs(u[k], x) lanes (lanes 0..7 cover bytes 0..15,
 *                     lanes 8..15 bytes 16..31): q4_k sc_k in all lanes; q6_k scales[2k] / [2k+1];
 *   mv:               16 int16 multipliers of the activation's bsums (sums of 16 codes):
 *                     q4_k mn_{g/2}; q6_k scales[g];
 *   d, dm:            block scale and offset scale (q4_k: d, dmin; q6_k: d, 32 d).
 * and, with x ~ dx * qs (q8_K),
 *   dot(block, x) = d dx * sum_k sum(madd(maddubs(u[k], qs_k), sv[k])) - dm dx * sum(madd(bsums, mv)).
 * maddubs cannot saturate: |u| <= 63 and |qs| <= 128 give |pair| <= 16128.
 *
 * The GEMM unpacks weight rows, two at a time, once per block of tokens into an L1-resident buffer
 * and runs the tokens over them four at a time (each activation load serves both rows), so the bit-twiddling is paid once per row and token block,
 * not once per (row, token). Each output is one chain in block order: results do not depend on
 * the thread split or on the token grouping. */
#include "kernels/matmul_internal.h"
#include "tensor/quant_blocks.h"
#include <immintrin.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

typedef struct {
    __m256i u[8], sv[8], mv;
    float d, dm;
} kq_block;

/* Super-blocks unpacked per pass (32 x 256 = 8192 columns, 18 KB; longer rows take several passes)
 * and tokens per pass (their q8_K rows, 64 x 292 bytes per 256 columns, stay in L2). */
enum { KQ_BLOCKS = 32, KQ_TOKENS = 64 };

INLINE float kq_hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* q4_k: the twelve scale bytes as three little-endian words w0, w1, w2 hold
 *   sc[0..3] = w0 & 63,  mn[0..3] = w1 & 63 (per byte),
 *   sc[4..7] = (w2 & 15) | (w0 >> 6) << 4,  mn[4..7] = (w2 >> 4) | (w1 >> 6) << 4. */
INLINE void unpack_q4_k(const afm_block_q4_k *w, kq_block *o) {
    uint32_t w0, w1, w2;
    memcpy(&w0, w->scales, 4);
    memcpy(&w1, w->scales + 4, 4);
    memcpy(&w2, w->scales + 8, 4);
    const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    uint32_t sc[2] = {w0 & lo6, (w2 & lo4) | ((w0 >> 6) & lo2) << 4};
    uint32_t mn[2] = {w1 & lo6, ((w2 >> 4) & lo4) | ((w1 >> 6) & lo2) << 4};
    uint8_t scb[8];
    memcpy(scb, sc, 8);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; c++) { /* chunk c: sub-block 2c in the low nibbles, 2c + 1 in the high */
        __m256i v = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * c));
        o->u[2 * c] = _mm256_and_si256(v, m4);
        o->u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    for (int k = 0; k < 8; k++) o->sv[k] = _mm256_set1_epi16(scb[k]);
    /* bsums group g (16 elements) belongs to sub-block g / 2: each min twice */
    __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
    o->mv = _mm256_setr_m128i(_mm_unpacklo_epi16(m16, m16), _mm_unpackhi_epi16(m16, m16));
    o->d = _cvtsh_ss(w->d);
    o->dm = _cvtsh_ss(w->dmin);
}

/* q6_k: half h (128 elements) takes ql[64h .. 64h+63] and qh[32h .. 32h+31]; its four 32-element
 * runs are (ql low nibbles of bytes 0..31, of 32..63, high nibbles of 0..31, of 32..63), each
 * joined with qh's bit pairs 0-1, 2-3, 4-5, 6-7 as bits 4-5. */
INLINE void unpack_q6_k(const afm_block_q6_k *w, kq_block *o) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03);
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                         _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
        for (int k = 0; k < 4; k++) {
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
            o->u[4 * h + k] = _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4));
            int g = 8 * h + 2 * k; /* the run's two 16-element groups */
            o->sv[4 * h + k] = _mm256_setr_m128i(_mm_set1_epi16(w->scales[g]), _mm_set1_epi16(w->scales[g + 1]));
        }
    }
    o->mv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
    o->d = _cvtsh_ss(w->d);
    o->dm = 32.0f * o->d;
}

/* acc[r][t] += dot(block w[r], token t's q8_K block a[t]) for NR rows x NT tokens, in 8 float
 * lanes; each activation load serves NR rows, each weight load NT tokens. */
INLINE void kq_block_dot(const int NR, const int NT, const kq_block *const *w, const afm_act_q8k *const *a,
                         __m256 (*acc)[4]) {
    __m256i s[2][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) s[r][t] = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        __m256i u[2], sv[2];
        for (int r = 0; r < NR; r++) {
            u[r] = _mm256_load_si256(&w[r]->u[k]);
            sv[r] = _mm256_load_si256(&w[r]->sv[k]);
        }
        for (int t = 0; t < NT; t++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(a[t]->qs + 32 * k));
            for (int r = 0; r < NR; r++)
                s[r][t] = _mm256_add_epi32(s[r][t], _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], x), sv[r]));
        }
    }
    for (int t = 0; t < NT; t++) {
        __m256i bs = _mm256_loadu_si256((const __m256i *)a[t]->bsums);
        for (int r = 0; r < NR; r++) {
            __m256i m = _mm256_madd_epi16(bs, _mm256_load_si256(&w[r]->mv));
            acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(w[r]->d * a[t]->d), _mm256_cvtepi32_ps(s[r][t]), acc[r][t]);
            acc[r][t] = _mm256_fnmadd_ps(_mm256_set1_ps(w[r]->dm * a[t]->d), _mm256_cvtepi32_ps(m), acc[r][t]);
        }
    }
}

/* y[t * ldy + r] (+)= dot(row r, token t) for NR rows (unpacked blocks blk[r][0 .. nb)) x NT
 * tokens; xa points at the tokens' q8_K blocks for the same columns, xs bytes between tokens. */
INLINE void kq_dot(const int NR, const int NT, kq_block (*blk)[KQ_BLOCKS], int64_t nb, const uint8_t *xa,
                   size_t xs, float *y, int64_t ldy, int add) {
    __m256 acc[2][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const afm_act_q8k *a[4];
        const kq_block *w[2];
        for (int t = 0; t < NT; t++) a[t] = (const afm_act_q8k *)(xa + t * xs) + b;
        for (int r = 0; r < NR; r++) w[r] = &blk[r][b];
        kq_block_dot(NR, NT, w, a, acc);
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            float v = kq_hsum8(acc[r][t]);
            y[t * ldy + r] = add ? y[t * ldy + r] + v : v;
        }
}

/* Few tokens (decode): unpack each block into registers and use it at once, one row at a time;
 * the same per-block arithmetic and order as kq_dot, so the results are identical. */
INLINE void gemm_kq_few(const int q6, const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,
                        int64_t ntok, int64_t nb, float *y, int64_t ldy) {
    for (int64_t r = 0; r < nrows; r++) {
        const uint8_t *row = W + r * rb;
        if (r + 1 < nrows) _mm_prefetch((const char *)(row + rb), _MM_HINT_T0);
        for (int64_t t = 0; t < ntok; t++) {
            __m256 acc[1][4] = {{_mm256_setzero_ps()}};
            for (int64_t b = 0; b < nb; b++) {
                kq_block w;
                if (q6) unpack_q6_k((const afm_block_q6_k *)row + b, &w);
                else unpack_q4_k((const afm_block_q4_k *)row + b, &w);
                const afm_act_q8k *a = (const afm_act_q8k *)(xa + t * xs) + b;
                const kq_block *wp = &w;
                kq_block_dot(1, 1, &wp, &a, acc);
            }
            y[t * ldy + r] = kq_hsum8(acc[0][0]);
        }
    }
}

INLINE void gemm_kq(const int q6, const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs,
                    int64_t ntok, int64_t cols, float *y, int64_t ldy) {
    const int64_t nb = cols / 256;
    if (ntok < 3) { gemm_kq_few(q6, W, rb, nrows, xa, xs, ntok, nb, y, ldy); return; }
    alignas(32) kq_block buf[2][KQ_BLOCKS];
    for (int64_t t0 = 0; t0 < ntok; t0 += KQ_TOKENS) {
        const int64_t t1 = ntok - t0 < KQ_TOKENS ? ntok : t0 + KQ_TOKENS;
        int nr;
        for (int64_t r = 0; r < nrows; r += nr) {
            nr = nrows - r < 2 ? 1 : 2;
            for (int64_t b0 = 0; b0 < nb; b0 += KQ_BLOCKS) {
                const int64_t n = nb - b0 < KQ_BLOCKS ? nb - b0 : KQ_BLOCKS;
                for (int i = 0; i < nr; i++)
                    for (int64_t b = 0; b < n; b++) {
                        const uint8_t *row = W + (r + i) * rb;
                        if (q6) unpack_q6_k((const afm_block_q6_k *)row + b0 + b, &buf[i][b]);
                        else unpack_q4_k((const afm_block_q4_k *)row + b0 + b, &buf[i][b]);
                    }
                const uint8_t *xb = xa + (size_t)b0 * sizeof(afm_act_q8k);
                float *yr = y + r;
                int64_t t = t0;
                if (nr == 2) {
                    for (; t + 4 <= t1; t += 4) kq_dot(2, 4, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                    for (; t < t1; t++) kq_dot(2, 1, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                } else {
                    for (; t + 4 <= t1; t += 4) kq_dot(1, 4, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                    for (; t < t1; t++) kq_dot(1, 1, buf, n, xb + t * xs, xs, yr + t * ldy, ldy, b0 > 0);
                }
            }
        }
    }
}

static void gemm_q4_k(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,
                      int64_t cols, float *y, int64_t ldy) {
    gemm_kq(0, W, rb, nrows, xa, xs, ntok, cols, y, ldy);
}

static void gemm_q6_k(const uint8_t *W, size_t rb, int64_t nrows, const uint8_t *xa, size_t xs, int64_t ntok,
                      int64_t cols, float *y, int64_t ldy) {
    gemm_kq(1, W, rb, nrows, xa, xs, ntok, cols, y, ldy);
}

void afm_gemm_fill_kquant_avx2(afm_gemm_fn *fn) {
    fn[AFM_Q4_K] = gemm_q4_k;
    fn[AFM_Q6_K] = gemm_q6_k;
}
