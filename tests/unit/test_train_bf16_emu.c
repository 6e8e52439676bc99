/* bf16 compute for the training GEMM on AVX512-BF16 (src/model/train_gemm_bf16*.c), checked on
 * any machine:
 *  - afm_gemm_pairs_bf16 (portable C) rewrites f32 panels in place into bf16 pairs along k:
 *    every dword must hold bf16(p[2q][j]) | bf16(p[2q+1][j]) << 16 (afm_f32_to_bf16 rounding,
 *    0 past an odd kc), for the A (w = 6) and B (w = 32) panel widths;
 *  - its AVX-512 twin (afm_gemm_pairs_bf16_avx512, the one afm_gemm uses), emulated, must
 *    write the same bits for widths 6, 32 and others up to 32, odd and even kc;
 *  - the vdpbf16ps micro-kernel, run through the lane-by-lane emulation of its intrinsics
 *    (avx512_emu.h, needs AVX2 for the rest of the file), must give
 *    C (+)= sum_k bf16(A) bf16(B) within the f32 summation bound 1e-5 * sum|terms| + 1e-6 of a
 *    double-precision reference, for full and partial tiles and odd / even kc.
 *  - afm_gemm_pack_pairs (portable) packs a strided block straight into pair panels: every dword
 *    must be bf16(e(2q, j)) | bf16(e(2q+1, j)) << 16, 0 past n columns or kc; its AVX-512 twin
 *    (emulated) must write the same bits for columns contiguous (s_j = 1, the B = x and
 *    A = dyᵀ packs) and k contiguous (s_k = 1, the A = x, dy and B = Wᵀ packs), w 6 and 32,
 *    full and partial panels, and must not write past the panels;
 *  - the whole afm_gemm driver with the emulated kernel and packer forced in
 *    (afm_gemm_set_pairs_kernel): the three linear-layer products on odd shapes, K deeper than
 *    one pair slice (768), more rows / columns than one shared block, within the bound of the
 *    double reference on bf16-rounded inputs at 1 thread, and bit-identical to that at 2, 3 and
 *    16 threads with shared, per-thread and auto packing.
 *  - B packed whole into pair panels (afm_gemm_bpanels_fill) and products on leading parts of it
 *    (afm_gemm_serial_bpanels, 1 to 3 pair slices, odd and even depths): the bits of
 *    afm_gemm_serial; and the blocked attention (train_attn.c) with the emulated kernel: K / V
 *    packed once per kv head into pair panels gives the bits of packing them per product (1 and
 *    3 threads, odd T).
 * On an AVX512-BF16 machine test_train_gemm runs the real kernel through afm_gemm. */
#define TEST_SEED 11
#include "test_check.h"
#include "model/train_gemm.h"
#include "model/train_ops.h"
#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/mem.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#include "avx512_emu.h"
#define afm_gemm_ukernel_bf16_avx512 emu_ukernel_bf16
#define afm_gemm_pairs_bf16_avx512 emu_pairs_bf16
#define afm_gemm_pack_pairs_avx512 emu_pack_pairs
#include "model/train_gemm_bf16_avx512.c"
#pragma GCC pop_options
#define HAVE_EMU 1
#endif

static float r16(float x) { return afm_bf16_to_f32(afm_f32_to_bf16(x)); }

static void check_pairs(int w, long kc, long panels) {
    size_t n = (size_t)w * (size_t)kc * (size_t)panels;
    float *p = afm_alloc(sizeof(float) * n), *orig = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) orig[i] = p[i] = frand() * (i % 5 == 0 ? 1e3f : 1.0f);
    if (n > 3) { p[1] = orig[1] = NAN; p[2] = orig[2] = INFINITY; p[3] = orig[3] = -0.0f; }
    afm_gemm_pairs_bf16(p, panels, w, kc);
    int bad = 0;
    for (long s = 0; s < panels; s++) {
        const float *src = orig + s * w * kc;
        uint32_t *out = (uint32_t *)(void *)(p + s * w * kc);
        for (long q = 0; q < (kc + 1) / 2; q++)
            for (int j = 0; j < w; j++) {
                uint32_t lo = afm_f32_to_bf16(src[2 * q * w + j]), hi = 2 * q + 1 < kc ? afm_f32_to_bf16(src[(2 * q + 1) * w + j]) : 0;
                if (out[q * w + j] != (lo | hi << 16)) bad++;
            }
    }
    CHECK(!bad, "pairs w %d kc %ld panels %ld: %d dwords wrong", w, kc, panels, bad);
    afm_free(p);
    free(orig);
}

#ifdef HAVE_EMU
static void check_pairs_avx512(int w, long kc, long panels) {
    size_t n = (size_t)w * (size_t)kc * (size_t)panels;
    float *a = afm_alloc(sizeof(float) * n + 64), *b = afm_alloc(sizeof(float) * n + 64);
    for (size_t i = 0; i < n; i++) a[i] = b[i] = frand() * (i % 3 == 0 ? 1e-3f : 7.0f);
    if (n > 4) { a[0] = b[0] = NAN; a[1] = b[1] = -INFINITY; a[2] = b[2] = 1e-41f; a[4] = b[4] = 3.3895314e38f; }
    for (int i = 0; i < 16; i++) a[n + i] = b[n + i] = 12345.f; /* past the end: must stay */
    afm_gemm_pairs_bf16(a, panels, w, kc);
    emu_pairs_bf16(b, panels, w, kc);
    CHECK(!memcmp(a, b, sizeof(float) * (n + 16)), "avx512 pairs w %d kc %ld panels %ld differ from the reference", w, kc, panels);
    afm_free(a);
    afm_free(b);
}

/* block of n columns x kc, element (k, j) at src[k*s_k + j*s_j]; cols: s_j = 1 (else s_k = 1) */
static void check_pack(int w, long n, long kc, bool cols) {
    long s_j = cols ? 1 : kc + 3, s_k = cols ? n + 5 : 1;
    size_t len = (size_t)(cols ? kc * s_k : n * s_j);
    float *src = malloc(sizeof(float) * len);
    for (size_t i = 0; i < len; i++) src[i] = frand() * (i % 4 == 0 ? 3e2f : 1.0f);
    if (len > 4) { src[0] = NAN; src[1] = -INFINITY; src[2] = 1e-41f; src[3] = 3.3895314e38f; src[4] = -0.0f; }
    long pairs = (kc + 1) / 2, panels = (n + w - 1) / w;
    size_t words = (size_t)(panels * w * pairs);
    uint32_t *ref = malloc(4 * (words + 16)), *emu = afm_alloc(4 * (words + 16));
    for (size_t i = 0; i < words + 16; i++) ref[i] = emu[i] = 0xdeadbeefu;
    afm_gemm_pack_pairs(ref, w, n, src, s_j, s_k, kc);
    int bad = 0;
    for (long p = 0; p < panels; p++)
        for (long q = 0; q < pairs; q++)
            for (int j = 0; j < w; j++) {
                long c = p * w + j;
                uint32_t lo = c < n ? afm_f32_to_bf16(src[2 * q * s_k + c * s_j]) : 0;
                uint32_t hi = c < n && 2 * q + 1 < kc ? afm_f32_to_bf16(src[(2 * q + 1) * s_k + c * s_j]) : 0;
                if (ref[p * w * pairs + q * w + j] != (lo | hi << 16)) bad++;
            }
    for (size_t i = words; i < words + 16; i++) if (ref[i] != 0xdeadbeefu) bad++;
    CHECK(!bad, "pack_pairs w %d n %ld kc %ld cols %d: %d dwords wrong", w, n, kc, cols, bad);
    emu_pack_pairs(emu, w, n, src, s_j, s_k, kc);
    CHECK(!memcmp(ref, emu, 4 * (words + 16)), "avx512 pack_pairs w %d n %ld kc %ld cols %d differs from the reference", w, n, kc, cols);
    free(src); free(ref); afm_free(emu);
}

static void check_kernel(long kc, int mr, int nr, bool add) {
    enum { MR = AFM_GEMM_MR, NR = AFM_GEMM_NR_AVX512 };
    float *ap = afm_alloc(sizeof(float) * MR * (size_t)(kc + 1)), *bp = afm_alloc(sizeof(float) * NR * (size_t)(kc + 1));
    float *a = malloc(sizeof(float) * MR * kc), *b = malloc(sizeof(float) * NR * kc);
    for (long i = 0; i < MR * kc; i++) ap[i] = a[i] = frand();
    for (long i = 0; i < NR * kc; i++) bp[i] = b[i] = frand();
    afm_gemm_pairs_bf16(ap, 1, MR, kc);
    afm_gemm_pairs_bf16(bp, 1, NR, kc);
    long ldc = NR + 3;
    float *c = malloc(sizeof(float) * MR * ldc), *c0 = malloc(sizeof(float) * MR * ldc);
    for (long i = 0; i < MR * ldc; i++) c[i] = c0[i] = frand();
    emu_ukernel_bf16(kc, ap, bp, c, ldc, mr, nr, add);
    int bad = 0;
    for (int r = 0; r < MR; r++)
        for (long j = 0; j < ldc; j++) {
            bool inside = r < mr && j < nr;
            double s = inside && add ? c0[r * ldc + j] : 0, m = fabs(s);
            for (long k = 0; inside && k < kc; k++) {
                double t = (double)r16(a[k * MR + r]) * r16(b[k * NR + j]);
                s += t;
                m += fabs(t);
            }
            if (!inside) { if (memcmp(&c[r * ldc + j], &c0[r * ldc + j], 4)) bad++; } /* untouched */
            else if (!(fabs(c[r * ldc + j] - s) <= 1e-5 * m + 1e-6)) bad++;
        }
    CHECK(!bad, "emulated bf16 kernel kc %ld mr %d nr %d add %d: %d outputs wrong", kc, mr, nr, add, bad);
    afm_free(ap); afm_free(bp); free(a); free(b); free(c); free(c0);
}

/* afm_gemm with the emulated vdpbf16ps kernel: mode 0 y = x·Wᵀ, 1 dx += dy·W, 2 dW += dyᵀ·x */
static void run_product(afm_pool *pool, afm_gemm_ws *ws, int mode, long N, long I, long O, const float *x, const float *W,
                        const float *dy, float *out, const float *c0, long n_out) {
    memcpy(out, c0, sizeof(float) * (size_t)n_out);
    if (mode == 0) afm_linear_fwd(pool, ws, out, x, W, N, I, O);
    else if (mode == 1) afm_linear_bwd_x(pool, ws, out, dy, W, N, I, O, true);
    else afm_linear_bwd_w(pool, ws, out, dy, x, N, I, O);
}

static void check_driver(afm_pool **pools, int n_pools, afm_gemm_ws *ws, long N, long I, long O) {
    float *x = malloc(sizeof(float) * N * I), *W = malloc(sizeof(float) * O * I), *dy = malloc(sizeof(float) * N * O);
    for (long i = 0; i < N * I; i++) x[i] = frand();
    for (long i = 0; i < O * I; i++) W[i] = frand();
    for (long i = 0; i < N * O; i++) dy[i] = frand();
    for (int mode = 0; mode < 3; mode++) {
        long M = mode == 2 ? O : N, Nc = mode == 0 ? O : I, K = mode == 0 ? I : mode == 1 ? O : N, n = M * Nc;
        float *c0 = malloc(sizeof(float) * n), *ref = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
        for (long i = 0; i < n; i++) c0[i] = frand();
        run_product(NULL, ws, mode, N, I, O, x, W, dy, ref, c0, n);
        int bad = 0;
        for (long i = 0; i < M; i++)
            for (long j = 0; j < Nc; j++) {
                double s = mode == 0 ? 0 : c0[i * Nc + j], m = fabs(s);
                for (long k = 0; k < K; k++) {
                    float a = mode == 2 ? dy[k * O + i] : mode == 1 ? dy[i * O + k] : x[i * I + k];
                    float b = mode == 0 ? W[j * I + k] : mode == 1 ? W[k * I + j] : x[k * I + j];
                    double t = (double)r16(a) * r16(b);
                    s += t;
                    m += fabs(t);
                }
                if (!(fabs(ref[i * Nc + j] - s) <= 1e-5 * m + 1e-6)) bad++;
            }
        CHECK(!bad, "emulated bf16 afm_gemm mode %d N=%ld I=%ld O=%ld, 1 thread: %d outputs off the bf16 reference", mode, N, I, O, bad);
        for (int p = 0; p < n_pools; p++)
            for (int sh = 0; sh < 3; sh++) { /* per-thread, shared, auto */
                afm_gemm_ws_set_pack(ws, sh == 2 ? AFM_GEMM_PACK_AUTO : sh ? AFM_GEMM_PACK_SHARED : AFM_GEMM_PACK_PER_THREAD);
                run_product(pools[p], ws, mode, N, I, O, x, W, dy, out, c0, n);
                CHECK(!memcmp(out, ref, sizeof(float) * (size_t)n), "emulated bf16 afm_gemm mode %d N=%ld I=%ld O=%ld, %d threads shared %d: differs from 1 thread",
                      mode, N, I, O, afm_pool_size(pools[p]), sh);
                if (mode == 2) continue;
                /* the B operand (W) packed once into pair panels beforehand: the same bits */
                long Kb = mode == 0 ? I : O, Nb = mode == 0 ? O : I;
                size_t nbuf = afm_gemm_bpack_floats(Kb, Nb);
                float *buf = afm_alloc(sizeof(float) * (nbuf ? nbuf : 1));
                afm_gemm_bpack pb;
                if (mode == 0) afm_gemm_bpack_fill(pools[(p + 1) % n_pools], ws, &pb, buf, Kb, Nb, W, 1, I);
                else afm_gemm_bpack_fill(pools[(p + 1) % n_pools], ws, &pb, buf, Kb, Nb, W, I, 1);
                memcpy(out, c0, sizeof(float) * (size_t)n);
                if (mode == 0) afm_gemm_packed(pools[p], ws, N, x, I, 1, &pb, out, O, false);
                else afm_gemm_packed(pools[p], ws, N, dy, O, 1, &pb, out, I, true);
                CHECK(pb.fn == emu_ukernel_bf16 && !memcmp(out, ref, sizeof(float) * (size_t)n),
                      "emulated bf16 pre-packed B mode %d N=%ld I=%ld O=%ld, %d threads shared %d: differs from afm_gemm", mode, N, I, O,
                      afm_pool_size(pools[p]), sh);
                afm_free(buf);
            }
        afm_gemm_ws_set_pack(ws, AFM_GEMM_PACK_AUTO);
        free(c0); free(ref); free(out);
    }
    free(x); free(W); free(dy);
}

/* B packed whole into pair panels, products on leading parts (depths of one to three pair slices
 * of 768, even and odd; an odd depth short of the packed one falls back): the bits of
 * afm_gemm_serial */
static void check_bpanels(afm_gemm_ws *ws) {
    const long K = 1700, Nc = 40, M = 7;
    float *b = malloc(sizeof(float) * K * Nc), *a = malloc(sizeof(float) * M * K), *c1 = malloc(sizeof(float) * M * Nc),
          *c2 = malloc(sizeof(float) * M * Nc);
    float *buf = afm_alloc(sizeof(float) * afm_gemm_bpanels_floats(K, Nc));
    for (long i = 0; i < K * Nc; i++) b[i] = frand();
    for (long i = 0; i < M * K; i++) a[i] = frand();
    afm_gemm_bpanels pb;
    afm_gemm_bpanels_fill(ws, &pb, buf, K, Nc, b, 1, K); /* B transposed, as Kᵀ */
    static const long ks[] = {2, 767, 768, 770, 1537, 1540, 1699, 1700};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        for (long n = 17; n <= Nc; n += 23) {
            memset(c1, 0, sizeof(float) * M * Nc);
            memset(c2, 0, sizeof(float) * M * Nc);
            afm_gemm_serial(ws, 0, M, n, ks[i], a, K, 1, b, 1, K, c1, Nc, false);
            afm_gemm_serial_bpanels(ws, 0, M, n, ks[i], a, K, 1, &pb, c2, Nc, false);
            CHECK(pb.fn == emu_ukernel_bf16 && !memcmp(c1, c2, sizeof(float) * M * Nc),
                  "emulated bf16 B panels: K %ld of %ld, Nc %ld of %ld: differs from afm_gemm_serial", ks[i], K, n, Nc);
        }
    free(b); free(a); free(c1); free(c2); afm_free(buf);
}

/* the blocked attention with K / V packed once per kv head into pair panels, or by every product:
 * the same bits (odd T: the last block's K is odd and equals the packed depth) */
static void check_attention(afm_pool *pool, afm_gemm_ws *ws, long B, long T, long H, long KH, long hd) {
    long nq = B * T * H * hd, nk = B * T * KH * hd, n_out = 2 * nq + 2 * nk + 2 * B * H * T;
    float *in = malloc(sizeof(float) * (size_t)(2 * nq + 2 * nk)), *q = in, *k = q + nq, *v = k + nk, *dout = v + nk, *out[2];
    float *ds = afm_alloc(sizeof(float) * (size_t)(pool ? afm_pool_size(pool) : 1) * afm_attn_scratch_floats(T, hd));
    for (long i = 0; i < 2 * nq + 2 * nk; i++) in[i] = frand();
    for (int pre = 0; pre < 2; pre++) {
        float *o = out[pre] = malloc(sizeof(float) * (size_t)n_out), *dq = o + nq, *dk = dq + nq, *dv = dk + nk, *st = dv + nk;
        afm_attn_set_prepack(pre == 1);
        afm_attention_fwd_gemm(pool, ws, o, st, q, k, v, B, T, H, KH, hd, 0.3f, ds);
        afm_attention_bwd_gemm(pool, ws, dq, dk, dv, dout, st, q, k, v, B, T, H, KH, hd, 0.3f, ds);
    }
    afm_attn_set_prepack(true);
    CHECK(!memcmp(out[0], out[1], sizeof(float) * (size_t)n_out),
          "emulated bf16 attention B=%ld T=%ld H=%ld KH=%ld hd=%ld, %d threads: K/V packed once per kv head differs from per product", B, T,
          H, KH, hd, pool ? afm_pool_size(pool) : 1);
    free(in); free(out[0]); free(out[1]); afm_free(ds);
}
#endif

int main(void) {
    const long kcs[] = {1, 2, 3, 7, 8, 64, 255, 256};
    for (size_t i = 0; i < sizeof kcs / sizeof *kcs; i++) {
        check_pairs(AFM_GEMM_MR, kcs[i], 3);
        check_pairs(AFM_GEMM_NR_AVX512, kcs[i], 2);
    }
#ifdef HAVE_EMU
    if (afm_isa_best() >= AFM_ISA_AVX2) {
        const int widths[] = {1, 6, 15, 16, 17, 31, 32};
        for (size_t i = 0; i < sizeof kcs / sizeof *kcs; i++)
            for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) check_pairs_avx512(widths[k], kcs[i], 2);
        for (size_t i = 0; i < sizeof kcs / sizeof *kcs; i++)
            for (int cols = 0; cols < 2; cols++) {
                check_pack(AFM_GEMM_MR, 6, kcs[i], cols);
                check_pack(AFM_GEMM_MR, 17, kcs[i], cols);
                check_pack(AFM_GEMM_NR_AVX512, 32, kcs[i], cols);
                check_pack(AFM_GEMM_NR_AVX512, 45, kcs[i], cols);
                check_pack(AFM_GEMM_NR_AVX512, 7, kcs[i], cols);
            }
        check_pack(AFM_GEMM_MR, 12, 512, false);
        check_pack(AFM_GEMM_NR_AVX512, 64, 511, true);
        for (size_t i = 0; i < sizeof kcs / sizeof *kcs; i++)
            for (int add = 0; add < 2; add++) {
                check_kernel(kcs[i], AFM_GEMM_MR, AFM_GEMM_NR_AVX512, add);
                check_kernel(kcs[i], 4, 17, add);
                check_kernel(kcs[i], 1, 32, add);
            }
        afm_pool *pools[3];
        afm_gemm_ws *ws;
        if (afm_pool_create(2, &pools[0]) != AFM_OK || afm_pool_create(3, &pools[1]) != AFM_OK ||
            afm_pool_create(16, &pools[2]) != AFM_OK || afm_gemm_ws_create(16, &ws) != AFM_OK) return 1;
        afm_gemm_ws_set_bf16(ws, true);
        afm_gemm_set_pairs_kernel(emu_ukernel_bf16, emu_pack_pairs);
        static const long shapes[][3] = {{1, 1, 1}, {13, 70, 129}, {37, 300, 65}, {7, 801, 40}, {5, 9, 2500}, {3, 2100, 11}, {50, 64, 33}};
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) check_driver(pools, 3, ws, shapes[i][0], shapes[i][1], shapes[i][2]);
        printf("emulated bf16 afm_gemm: %zu shapes x 3 products at 1/2/3/16 threads, shared, per-thread and auto packing\n", sizeof shapes / sizeof *shapes);
        check_bpanels(ws);
        for (int p = 0; p < 2; p++) {
            check_attention(p ? pools[1] : NULL, ws, 1, 130, 4, 2, 8);
            check_attention(p ? pools[1] : NULL, ws, 2, 67, 2, 1, 12);
        }
        printf("emulated bf16 attention: K/V packed once per kv head into pair panels, the same bits as per product\n");
        afm_gemm_set_pairs_kernel(NULL, NULL);
        afm_gemm_ws_free(ws);
        for (int i = 0; i < 3; i++) afm_pool_free(pools[i]);
    } else printf("SKIP: cpu lacks avx2: the emulated bf16 kernel is not run\n");
#endif
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_train_bf16_emu: all passed\n");
    return 0;
}
