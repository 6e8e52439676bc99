/* f32 GEMM for training: the three products of a linear layer y = x·Wᵀ.
 *
 *   forward     y (N, O)  = x (N, I) · W (O, I)ᵀ
 *   backward x  dx (N, I) (+)= dy (N, O) · W (O, I)
 *   backward W  dW (O, I) (+)= dy (N, O)ᵀ · x (N, I)
 *
 * All three go through one cache-blocked kernel (afm_gemm): C (M, Nc) (+)= A (M, K) · B (K, Nc)
 * where A and B are read through arbitrary row/column strides and packed into contiguous
 * panels, so transposes cost nothing extra. The inner micro-kernel is AVX-512 or AVX2 FMA when the
 * CPU has it (base/cpu.h, AFM_FORCE_ISA caps it), else portable C. Each element of C is owned by
 * one thread and summed in a fixed K order, so results do not depend on the thread count.
 *
 * Blocking (Goto / BLIS order): for each KC-deep slice, B (KC x NC) is packed into NR-wide
 * column panels, and A (MC x KC) into MR-tall row panels that stay in L2; the micro-kernel then
 * runs each B panel (KC x NR, in L1) against every A panel of the block. With several threads
 * the panels of a slice can be packed once, by all threads together, into buffers they all read
 * (shared packing, train_gemm.c; see afm_gemm_ws_set_pack). */
#ifndef AFM_MODEL_TRAIN_GEMM_H
#define AFM_MODEL_TRAIN_GEMM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "afm/status.h"
#include "base/threadpool.h"

/* Register tile of the micro-kernels (MR rows x NR columns; NR depends on the vector width) and
 * cache blocks, in floats. MC is a multiple of MR and NC of every NR. */
enum { AFM_GEMM_MR = 6, AFM_GEMM_NR_SCALAR = 16, AFM_GEMM_NR_AVX2 = 16, AFM_GEMM_NR_AVX512 = 32, AFM_GEMM_NR_MAX = 32,
       AFM_GEMM_KC = 384, AFM_GEMM_MC = 192, AFM_GEMM_NC = 1024 };

/* Per-thread packing buffers; create once for a pool size and reuse. */
typedef struct afm_gemm_ws afm_gemm_ws;
afm_status afm_gemm_ws_create(int n_threads, afm_gemm_ws **out);
void afm_gemm_ws_free(afm_gemm_ws *ws);
int afm_gemm_ws_threads(const afm_gemm_ws *ws);
/* bf16 compute: every GEMM run with this workspace rounds both inputs to bfloat16 (round to
 * nearest even) as it packs them and accumulates in f32, which is what a bf16 matrix unit with
 * f32 accumulation computes (the results are the exact f32 sums of products of bf16 values, up
 * to f32 rounding). Off by default. */
void afm_gemm_ws_set_bf16(afm_gemm_ws *ws, bool on);
bool afm_gemm_ws_bf16(const afm_gemm_ws *ws);
/* Packing with several threads: shared (every operand packed once per call by all threads, then
 * computed on; one more synchronization per K slice), per-thread (each thread packs what its
 * tile of C needs: A again for every column tile), or auto: shared for the calls where
 * per-thread packing would write at least twice the bytes (most calls at 16 threads, few at 2).
 * AFM_GEMM_SHARED_PACK=1 / 0 / unset in the environment when the workspace is created selects
 * shared / per-thread / auto. All give bit-identical results. */
typedef enum afm_gemm_pack { AFM_GEMM_PACK_AUTO = -1, AFM_GEMM_PACK_PER_THREAD = 0, AFM_GEMM_PACK_SHARED = 1 } afm_gemm_pack;
void afm_gemm_ws_set_pack(afm_gemm_ws *ws, afm_gemm_pack mode);
afm_gemm_pack afm_gemm_ws_pack(const afm_gemm_ws *ws);
/* Totals over the afm_gemm calls made with the workspace (afm_gemm_serial not counted): calls,
 * pool runs (synchronizations), wall seconds inside afm_gemm, FLOPs (2 M Nc K), wall seconds of
 * the shared driver's packing runs (0 with per-thread packing, where packing and computing
 * interleave), bytes the packers wrote for A and for B. */
typedef struct afm_gemm_stats {
    long calls, runs;
    double seconds, flops, pack_seconds;
    unsigned long long packed_a, packed_b;
} afm_gemm_stats;
afm_gemm_stats afm_gemm_ws_stats(afm_gemm_ws *ws);
void afm_gemm_ws_reset_stats(afm_gemm_ws *ws);

/* C(i, j) = (accumulate ? C(i, j) : 0) + sum_k A(i, k) B(k, j), with
 * A(i, k) = a[i*a_rs + k*a_cs], B(k, j) = b[k*b_rs + j*b_cs], C(i, j) = c[i*c_rs + j]. */
void afm_gemm(afm_pool *pool, afm_gemm_ws *ws, long M, long Nc, long K,
              const float *a, long a_rs, long a_cs, const float *b, long b_rs, long b_cs,
              float *c, long c_rs, bool accumulate);

/* The same product on the calling thread alone, with the packing buffers of thread `slot` of the
 * workspace (for callers that split work over the pool themselves, one GEMM per thread). */
void afm_gemm_serial(afm_gemm_ws *ws, int slot, long M, long Nc, long K, const float *a, long a_rs, long a_cs,
                     const float *b, long b_rs, long b_cs, float *c, long c_rs, bool accumulate);

/* The linear-layer products named above (x, y, W row-major and contiguous). */
void afm_linear_fwd(afm_pool *pool, afm_gemm_ws *ws, float *y, const float *x, const float *W, long N, long I, long O);
void afm_linear_bwd_x(afm_pool *pool, afm_gemm_ws *ws, float *dx, const float *dy, const float *W, long N, long I, long O, bool accumulate);
void afm_linear_bwd_w(afm_pool *pool, afm_gemm_ws *ws, float *dW, const float *dy, const float *x, long N, long I, long O);

/* Micro-kernel: acc (MR, NR) = sum_k ap[k*MR + r] * bp[k*NR + j] over k < kc; then
 * C(r, j) (+)= acc for r < mr, j < nr (partial tiles at the edges). bp is 32-byte aligned
 * (64 for AVX-512). NR: AFM_GEMM_NR_SCALAR, _AVX2 or _AVX512 for the kernel of that name. */
typedef void (*afm_gemm_ukernel)(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add);
void afm_gemm_ukernel_scalar(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add);
void afm_gemm_ukernel_avx2(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add);
void afm_gemm_ukernel_avx512(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add);
/* bf16 compute on AVX512-BF16 (train_gemm_bf16_avx512.c): the micro-kernel reads panels that
 * afm_gemm_pairs_bf16 rewrote in place (panels of kc x w floats -> (kc+1)/2 rows of w dwords,
 * each the bf16 values of k = 2q (low half) and 2q+1 (high half), rounded to nearest even) and
 * sums the products in f32 with vdpbf16ps. */
void afm_gemm_ukernel_bf16_avx512(long kc, const float *ap, const float *bp, float *c, long c_rs, int mr, int nr, bool add);
void afm_gemm_pairs_bf16(float *p, long panels, int w, long kc);        /* portable reference */
void afm_gemm_pairs_bf16_avx512(float *p, long panels, int w, long kc); /* the same, AVX-512 */
/* Packs a block straight into bf16 pair panels (what afm_gemm_pairs_bf16 makes of the f32
 * panels, in one pass): element (k, j) = src[k*s_k + j*s_j] for k < kc, j < n, 0 past them;
 * panel p of w columns at dst + p*w*((kc+1)/2), dword q*w + j = bf16(e(2q, j)) | bf16(e(2q+1, j)) << 16.
 * The AVX-512 twin vectorizes s_j == 1 and s_k == 1 (w <= 32) and falls back otherwise. */
typedef void (*afm_gemm_pack_pairs_fn)(uint32_t *dst, int w, long n, const float *src, long s_j, long s_k, long kc);
void afm_gemm_pack_pairs(uint32_t *dst, int w, long n, const float *src, long s_j, long s_k, long kc);
void afm_gemm_pack_pairs_avx512(uint32_t *dst, int w, long n, const float *src, long s_j, long s_k, long kc);
/* AVX2 packing helpers (train_gemm_pack_avx2.c): a full B panel from rows of W,
 * dst[k*nr + j] = src[j*ld + k] (nr a multiple of 8); a full A panel of 6 contiguous rows,
 * dst[k*6 + r] = src[r*ld + k]. */
void afm_gemm_pack_bt_avx2(float *dst, int nr, const float *src, long ld, long kc);
void afm_gemm_pack_a6_avx2(float *dst, const float *src, long ld, long kc);
/* Row-order packers (one source row at a time, contiguous reads) for the full panels of a block:
 * A with adjacent rows, dst[p*6*kc + k*6 + r] = src[k*ld + p*6 + r] for p < mc / 6; and B with
 * contiguous rows, dst[p*16*kc + k*16 + j] = src[k*ld + p*16 + j] for p < nc / 16 (dst 32-byte
 * aligned, kc * 16 floats per panel). */
void afm_gemm_pack_at6_avx2(float *dst, const float *src, long ld, long kc, long mc);
void afm_gemm_pack_b16_avx2(float *dst, const float *src, long ld, long kc, long nc);
/* p[i] = bf16(p[i]) (round to nearest even), as f32 */
void afm_gemm_round_bf16_avx2(float *p, size_t n);
/* bf16 compute on Intel AMX (train_gemm_amx.c): the whole product C (+)= A·B as afm_gemm defines
 * it, inputs rounded to bf16 (afm_f32_to_bf16) as they are packed, TDPBF16PS tiles with f32
 * sums. apack / bpack: nth per-thread buffers of the sizes afm_gemm_ws holds (MC*KC and KC*NC
 * floats); pool NULL or nth 1 runs on the calling thread. Call only when afm_amx_bf16_usable()
 * (base/cpu.h); afm_gemm does so for a bf16 workspace unless a micro-kernel is forced. */
void afm_gemm_amx(afm_pool *pool, int nth, float *const *apack, float *const *bpack, long M, long Nc, long K,
                  const float *a, long a_rs, long a_cs, const float *b, long b_rs, long b_cs, float *c, long c_rs,
                  bool accumulate);
/* B packed once for several products with the same B (K x Nc, B(k, j) = b[k*b_rs + j*b_cs]): the
 * output matrix, which every token chunk of the output layer multiplies by (train_model.c).
 * afm_gemm_bpack_fill packs all of B as afm_gemm packs it (same K slices, NR-wide panels, bf16
 * rounding or pairs) into buf (afm_gemm_bpack_floats(K, Nc) floats, 64-byte aligned), one K slice
 * after the other; afm_gemm_packed(M, a, pb) then computes C (+)= A (M, K) · B from those panels,
 * packing only A: the same sums as afm_gemm(M, Nc, K, a, ..., b, ...), so bit-identical results,
 * for any thread count and packing mode. B and buf must not change in between. Where afm_gemm
 * would not use such panels (bf16 compute on AMX tiles, a micro-kernel forced or the bf16 switch
 * changed since the fill, buf NULL) afm_gemm_packed runs afm_gemm on the unpacked b. */
typedef struct afm_gemm_bpack {
    const float *b;
    long b_rs, b_cs, K, Nc;
    long cols;            /* columns 0 .. cols packed (all Nc, or a multiple of AFM_GEMM_NR_MAX) */
    float *buf;
    afm_gemm_ukernel fn;  /* the micro-kernel the panels are for; NULL: not packed */
    bool bf16;
    long slice_stride;    /* floats from one K slice's panels to the next's */
} afm_gemm_bpack;
size_t afm_gemm_bpack_floats(long K, long Nc);
void afm_gemm_bpack_fill(afm_pool *pool, afm_gemm_ws *ws, afm_gemm_bpack *pb, float *buf, long K, long Nc,
                         const float *b, long b_rs, long b_cs);
/* Part of B packed (bounded memory): afm_gemm_bpack_fill_cols packs only columns 0 .. cols of B
 * (cols < Nc is rounded down to a multiple of AFM_GEMM_NR_MAX, so every kernel's panels end
 * there), into afm_gemm_bpack_floats(K, cols) floats; afm_gemm_packed then computes C's columns
 * 0 .. cols from those panels and the rest with afm_gemm on b (packed there as usual). Each C
 * column is the same sum either way (same K slices), so the results stay bit-identical to one
 * afm_gemm. afm_gemm_bpack_cols: the most columns (K deep) whose panels fit in `floats`. */
long afm_gemm_bpack_cols(long K, long Nc, size_t floats);
void afm_gemm_bpack_fill_cols(afm_pool *pool, afm_gemm_ws *ws, afm_gemm_bpack *pb, float *buf, long cols, long K, long Nc,
                              const float *b, long b_rs, long b_cs);
void afm_gemm_packed(afm_pool *pool, afm_gemm_ws *ws, long M, const float *a, long a_rs, long a_cs, const afm_gemm_bpack *pb,
                     float *c, long c_rs, bool accumulate);

/* B packed whole once for several serial products that each use a leading part of it (attention:
 * a kv head's K, Kᵀ, V, Vᵀ, packed once for all its query heads and query blocks, train_attn.c).
 * afm_gemm_bpanels_fill packs B (K x Nc, B(k, j) = b[k*b_rs + j*b_cs]) into NR-wide panels that
 * each hold all K rows (afm_gemm_bpanels_floats(K, Nc) floats, 64-byte aligned; f32, bf16-rounded
 * or bf16 pairs as afm_gemm packs); afm_gemm_serial_bpanels(M, Nc', K', a, pb) then computes
 * C (M, Nc') (+)= A (M, K') · B[0:K', 0:Nc'] for any K' <= K, Nc' <= Nc on the calling thread,
 * packing only A, in the K slices afm_gemm_serial takes for K': the same sums, so bit-identical
 * to afm_gemm_serial(M, Nc', K', a, b). Where afm_gemm_serial would not read such panels (AMX,
 * another kernel or bf16 switch than at the fill, bf16 pairs with an odd K' < K) it runs
 * afm_gemm_serial on b. B and buf must not change in between. */
typedef struct afm_gemm_bpanels {
    const float *b;
    long b_rs, b_cs, K, Nc;
    float *buf;
    afm_gemm_ukernel fn;  /* the micro-kernel the panels are for; NULL: not packed */
    bool bf16;
    long pstride;         /* floats from one panel to the next */
} afm_gemm_bpanels;
size_t afm_gemm_bpanels_floats(long K, long Nc);
void afm_gemm_bpanels_fill(afm_gemm_ws *ws, afm_gemm_bpanels *pb, float *buf, long K, long Nc, const float *b, long b_rs, long b_cs);
void afm_gemm_serial_bpanels(afm_gemm_ws *ws, int slot, long M, long Nc, long K, const float *a, long a_rs, long a_cs,
                             const afm_gemm_bpanels *pb, float *c, long c_rs, bool accumulate);

/* Forces a micro-kernel (tests compare them); NULL restores run-time selection (and with it the
 * AMX path for bf16 compute). */
void afm_gemm_set_ukernel(afm_gemm_ukernel k);
/* Forces a micro-kernel that reads bf16 pair panels (NR = AFM_GEMM_NR_AVX512) with the packer
 * that writes them (tests run an emulated vdpbf16ps kernel through afm_gemm this way). */
void afm_gemm_set_pairs_kernel(afm_gemm_ukernel k, afm_gemm_pack_pairs_fn pack);
#endif
