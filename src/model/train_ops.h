/* Forward and backward of every op of the AFM transformer, for training (f32).
 *
 * Shapes: N = B*T rows (batch-major), D model width, H query heads, KH key/value heads,
 * hd head_dim, F SwiGLU width, V vocabulary. Row n is position t = n % T of sequence n / T.
 * Backward functions that say "(+)=" add into their output when `accumulate` is true (the
 * residual stream and tied embeddings receive gradients from two places); others overwrite.
 * Work is split over the pool's threads; every output element is produced by one thread in a
 * fixed order, so results are reproducible for a given thread count. */
#ifndef AFM_MODEL_TRAIN_OPS_H
#define AFM_MODEL_TRAIN_OPS_H
#include <stdbool.h>
#include <stdint.h>
#include "base/threadpool.h"
#include "afm/model.h"
#include "model/train_gemm.h"

/* x (N, D) = E[tokens[n]] */
void afm_embed_fwd(afm_pool *pool, float *x, const float *E, const int32_t *tokens, long N, long D);
/* dE[tokens[n]] += dx[n] (threads own column ranges, so repeated tokens never race) */
void afm_embed_bwd(afm_pool *pool, float *dE, const float *dx, const int32_t *tokens, long N, long D);

/* RMSNorm over rows of width D: rstd[n] = 1/sqrt(mean_i x[n,i]^2 + eps); y = x * rstd * g. */
void afm_rmsnorm_fwd(afm_pool *pool, float *y, float *rstd, const float *x, const float *g, long rows, long D, float eps);
/* dx (+)= rstd * (dy*g - x * rstd^2 * mean_i(dy*g*x));  dg += sum_n dy * x * rstd.
 * partial: scratch of afm_pool_size(pool) * D floats for per-thread sums of dg. */
void afm_rmsnorm_bwd(afm_pool *pool, float *dx, float *dg, const float *dy, const float *x, const float *rstd,
                     const float *g, long rows, long D, float *partial, bool accumulate);

/* One row of each: y = x * r * g with *rstd = r; and dx (+)= ..., dg += dy * x * r (the loops of
 * the two functions above, for fused callers). */
void afm_rmsnorm_row(float *y, float *rstd, const float *x, const float *g, long D, float eps, bool avx2);
void afm_rmsnorm_bwd_row(float *dx, float *dg, const float *dy, const float *x, float r, const float *g, long D,
                         bool accumulate, bool avx2);

/* RoPE tables: cos/sin (T, hd/2) of angle t * theta^(-2i/hd), computed in double. */
void afm_rope_table(float *cosv, float *sinv, long T, long hd, double theta);
/* Rotates each head (N, nh, hd) of x by +angle (inverse=false) or -angle (the backward of the
 * forward rotation, which is orthogonal). Pairs (2i, 2i+1) for AFM_ROPE_INTERLEAVED, (i, i+hd/2)
 * for AFM_ROPE_HALF. out may equal in. */
void afm_rope(afm_pool *pool, float *out, const float *in, const float *cosv, const float *sinv,
              long N, long T, long nh, long hd, afm_rope_layout layout, bool inverse);

/* One head: y = x rotated by the angles of cs/sn (one table row), sign -1 for the inverse; y may equal x. */
void afm_rope_head(float *y, const float *x, const float *cs, const float *sn, long hd, afm_rope_layout layout, float sign);

/* Causal grouped-query attention. q (N, H, hd), k/v (N, KH, hd); query head h reads kv head
 * h / (H/KH). probs (B, H, T, T): softmax_j<=t(scale * q_t . k_j); out (N, H, hd) = probs . v. */
void afm_attention_fwd(afm_pool *pool, float *out, float *probs, const float *q, const float *k, const float *v,
                       long B, long T, long H, long KH, long hd, float scale);
/* dq, dk, dv overwritten. scratch: afm_pool_size(pool) * T floats. */
void afm_attention_bwd(afm_pool *pool, float *dq, float *dk, float *dv, const float *dout, const float *probs,
                       const float *q, const float *k, const float *v, long B, long T, long H, long KH, long hd,
                       float scale, float *scratch);

/* The same two functions on the blocked GEMM (train_attn.c), in causal query blocks of
 * AFM_ATTN_QB rows (only keys up to the block's end), flash-attention style: instead of the
 * (B, H, T, T) probabilities the forward keeps stats (B, H, T, 2) = each query row's softmax max
 * and inverse sum, and the backward recomputes the probabilities from them exactly.
 * Each thread packs the K and V of the kv head it works on once, as the GEMMs' B operands (Kᵀ and
 * V in the forward, Kᵀ, Vᵀ and K in the backward: afm_gemm_bpanels_fill), and reuses them for
 * every query head of that kv head and every query block; the results are the bits of packing
 * them per product.
 * ds: afm_pool_size(pool) * afm_attn_scratch_floats(T, hd) floats of scratch (both passes: a
 * query block's probabilities and their gradient, and the packed K / V), 64-byte aligned. The
 * workspace must have been made for at least afm_pool_size(pool) threads. Used by the model; the
 * loop versions above are the reference. */
enum { AFM_ATTN_QB = 64 };
size_t afm_attn_scratch_floats(long T, long hd);
/* Tests: off makes every product pack its K / V operand itself (the same results); on by default. */
void afm_attn_set_prepack(bool on);
void afm_attention_fwd_gemm(afm_pool *pool, afm_gemm_ws *ws, float *out, float *stats, const float *q, const float *k,
                            const float *v, long B, long T, long H, long KH, long hd, float scale, float *ds);
void afm_attention_bwd_gemm(afm_pool *pool, afm_gemm_ws *ws, float *dq, float *dk, float *dv, const float *dout,
                            const float *stats, const float *q, const float *k, const float *v, long B, long T, long H,
                            long KH, long hd, float scale, float *ds);

/* Row strides (floats from one token to the next) of the blocked attention's operands, for
 * callers whose q/k/v or gradients live in a fused (N, QD + 2 KD) buffer; 0 = packed (H*hd for
 * q, out, dout, dq; KH*hd for k, v, dk, dv). */
typedef struct afm_attn_strides { long q, k, v, out, dout, dq, dk, dv; } afm_attn_strides;
void afm_attention_fwd_gemm_strided(afm_pool *pool, afm_gemm_ws *ws, float *out, float *stats, const float *q,
                                    const float *k, const float *v, long B, long T, long H, long KH, long hd,
                                    float scale, float *ds, const afm_attn_strides *rs);
void afm_attention_bwd_gemm_strided(afm_pool *pool, afm_gemm_ws *ws, float *dq, float *dk, float *dv, const float *dout,
                                    const float *stats, const float *q, const float *k, const float *v, long B, long T,
                                    long H, long KH, long hd, float scale, float *ds, const afm_attn_strides *rs);

/* SwiGLU: act = silu(gate) * up, silu(g) = g * sigmoid(g). */
void afm_swiglu_fwd(afm_pool *pool, float *act, const float *gate, const float *up, long n);
/* dgate = dact * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))); dup = dact * silu(g). */
void afm_swiglu_bwd(afm_pool *pool, float *dgate, float *dup, const float *dact, const float *gate, const float *up, long n);

/* y = a + b elementwise (residual). */
void afm_add(afm_pool *pool, float *y, const float *a, const float *b, long n);

/* Cross-entropy with z-loss over rows of logits (N, V): lse[n] = log sum_j exp(logits[n, j]);
 * loss[n] = lse - logits[n, y_n] + z * lse^2 for targets y_n >= 0, 0 for targets < 0 (ignored).
 * Returns the mean over counted rows (sum in double) and writes the count to *n_valid. */
double afm_xent_fwd(afm_pool *pool, float *lse, float *losses, const float *logits, const int32_t *targets,
                    long N, long V, float z, long *n_valid);
/* Overwrites logits with dloss/dlogits * scale:  ((1 + 2 z lse) softmax - onehot(y)) * scale
 * for counted rows, 0 for ignored rows. */
void afm_xent_bwd(afm_pool *pool, float *logits, const float *lse, const int32_t *targets, long N, long V, float z, float scale);
/* Both for one chunk of C rows (the fused output layer of afm_train_step), row by row with the
 * per-row maths and roundings of the two functions above: lse, losses (C) as afm_xent_fwd,
 * row_loss (C) each row's loss in double (0 for ignored rows), and with grad the logits become
 * the gradient as afm_xent_bwd makes it. Returns the sum of row_loss in row order (independent of
 * the thread count). */
double afm_xent_chunk(afm_pool *pool, float *logits, float *lse, float *losses, double *row_loss, const int32_t *targets,
                      long C, long V, float z, bool grad, float scale);

/* ---- fused ops (train_fused.c): one pass and one pool job where the model chains several ---- */

/* h = a + b; y = rmsnorm(h) * g with rstd (rows of width D): afm_add then afm_rmsnorm_fwd, row by row. */
void afm_add_rmsnorm_fwd(afm_pool *pool, float *h, float *y, float *rstd, const float *a, const float *b, const float *g,
                         long N, long D, float eps);

/* SwiGLU on the fused gate/up product gu (N, 2F), row n = [gate_n (F) | up_n (F)]:
 * act (N, F) = silu(gate) * up;  backward: d_gu row n = [dgate_n | dup_n] from dact (N, F). */
void afm_swiglu_fwd_fused(afm_pool *pool, float *act, const float *gu, long N, long F);
void afm_swiglu_bwd_fused(afm_pool *pool, float *d_gu, const float *dact, const float *gu, long N, long F);

/* Query/key preparation on the fused projection qkv (N, S), S >= QD + KD, row n = [q_lin (H, hd) |
 * k_lin (KH, hd) | ...]: RoPE and QK-norm in the order of qk_norm, per head, written to q (N, QD)
 * and k (N, KD); mid_q/mid_k (N, QD)/(N, KD) keep the RoPE output for QK-norm after RoPE;
 * rstd_q (N, H), rstd_k (N, KH) the norms' 1/rms (unused when off). Same maths and rounding as
 * afm_rope + afm_rmsnorm_fwd. */
typedef struct afm_qk_args {
    long N, T, H, KH, hd, S;
    afm_rope_layout layout;
    afm_qk_norm qk_norm;
    float eps;
    const float *cosv, *sinv;
    const float *q_norm, *k_norm;   /* gains (hd) */
} afm_qk_args;
void afm_qk_fwd(afm_pool *pool, const afm_qk_args *a, float *q, float *k, float *mid_q, float *mid_k, float *rstd_q,
                float *rstd_k, const float *qkv);
/* Backward, in place on d_qkv (N, S): the q and k parts hold d(q), d(k) (attention inputs) and
 * become d(q_lin), d(k_lin). dg_q, dg_k (hd) += the QK-norm gain gradients; x_q/x_k are the
 * norms' inputs (qkv's q/k parts when before RoPE, mid_q/mid_k after; row strides S or packed).
 * scratch: afm_pool_size(pool) * 3 * hd floats. */
void afm_qk_bwd(afm_pool *pool, const afm_qk_args *a, float *d_qkv, float *dg_q, float *dg_k, const float *qkv,
                const float *mid_q, const float *mid_k, const float *rstd_q, const float *rstd_k, float *scratch);

/* Runs fn(ctx, lo, hi) on nearly equal parts of [0, n) over the pool. */
typedef void (*afm_range_fn)(void *ctx, long lo, long hi, int ith);
void afm_parallel_for(afm_pool *pool, long n, afm_range_fn fn, void *ctx);
#endif
