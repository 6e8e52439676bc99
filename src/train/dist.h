/* Data parallelism over MPI: N processes (ranks) train one model on one global batch.
 *
 * Every rank draws the same global batch from the same sampler state and keeps rows
 * [r·b/N, (r+1)·b/N) of each micro-batch (b = batch_size; N must divide b). A rank's loss is a
 * mean over its own counted target positions n_r; with n = Σ n_r the global mean is
 *   L = Σ_r (n_r / n) L_r,   so   ∇L = Σ_r (n_r / n) ∇L_r,
 * and each rank seeds its backward with scale n_r / n. The gradients are then summed across ranks
 * in a fixed order (afm_dist_sum_floats): rank k owns the k-th of N contiguous chunks, receives
 * that chunk from every rank, adds them in rank order 0..N-1 in double and sends the rounded sum
 * back to everyone. The result is the same on every rank, independent of the MPI library's
 * reduction algorithm, so every rank applies the same optimizer step to identical weights.
 *
 * Without MPI (built with -DAFM_MPI=OFF, or not started by mpirun/srun) there is one rank and
 * every function here is a no-op; the library never starts MPI on its own otherwise. */
#ifndef AFM_TRAIN_DIST_H
#define AFM_TRAIN_DIST_H
#include <stdbool.h>
#include <stddef.h>
#include "afm/status.h"

typedef struct afm_dist {
    int rank, size;      /* this process, number of processes (1 without MPI) */
    bool mpi;            /* MPI was initialized by afm_dist_init */
    float *scratch;      /* receive buffer of afm_dist_sum_floats */
    size_t scratch_n;
} afm_dist;

/* True when libafm was built with MPI. */
bool afm_dist_compiled(void);
/* True when this process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK in the environment). */
bool afm_dist_launched(void);
/* Initializes MPI when launched by mpirun (and built with it); otherwise rank 0 of 1. Fails when
 * launched by mpirun with more than one process but built without MPI (each process would train
 * alone and they would overwrite one another's run folder). */
afm_status afm_dist_init(afm_dist *d);
/* Frees the scratch and finalizes MPI. */
void afm_dist_finalize(afm_dist *d);
/* Ends every rank after an error on one (MPI_Abort); returns when there is no MPI. */
void afm_dist_abort(const afm_dist *d, int code);

/* x (n floats, the same n on every rank) ← Σ_r x_r, summed in rank order in double (above). */
afm_status afm_dist_sum_floats(afm_dist *d, float *x, size_t n);
/* x (n doubles) ← Σ_r x_r in rank order; the same on every rank. */
afm_status afm_dist_sum_doubles(afm_dist *d, double *x, int n);

/* ZeRO-1 (optimizer state sharded across ranks, trainer.h): rank k owns the contiguous range
 * [lo_k, hi_k) of an n-element vector, the k-th of N balanced pieces (sizes differ by at most 1):
 *   lo_k = k·⌊n/N⌋ + min(k, n mod N). */
void afm_dist_shard_range(const afm_dist *d, size_t n, int rank, size_t *lo, size_t *hi);
/* Reduce-scatter: x[lo_me, hi_me) ← Σ_r x_r over that range, added in rank order in double and
 * rounded once (the very values afm_dist_sum_floats gives there); the rest of x is unchanged. */
afm_status afm_dist_reduce_scatter_floats(afm_dist *d, float *x, size_t n);
/* Fixed-order sum of G = N·K gradient copies ("reduce_groups", trainer.h): rank r contributes the
 * K vectors x[0..K-1] (groups r·K .. r·K+K-1), and every element's G values are added in group
 * order in double, starting from 0, and rounded once. So the result depends on G only, not on
 * how the groups are spread over processes; with K = 1 it is afm_dist_sum_floats's. The sums go
 * to out (which may be one of the x): this rank's range only when scatter (ZeRO-1), otherwise all
 * n. Without MPI (one rank) the K vectors are summed locally. */
enum { AFM_DIST_MAX_GROUPS = 4096 };
afm_status afm_dist_sum_groups(afm_dist *d, float *const *x, int K, size_t n, float *out, bool scatter);
/* All-gather: every rank k's range [lo_k, hi_k) of x is copied to every other rank. */
afm_status afm_dist_allgather_floats(afm_dist *d, float *x, size_t n);
/* Point to point, sent as messages of at most AFM_DIST_PIECE floats: the receiver calls
 * afm_dist_recv_floats with the same n, or once per piece of the same split. */
enum { AFM_DIST_PIECE = 1 << 22 };
afm_status afm_dist_send_floats(afm_dist *d, int to, const float *x, size_t n);
afm_status afm_dist_recv_floats(afm_dist *d, int from, float *x, size_t n);
/* x (n doubles) ← the largest x_r over ranks, elementwise (exact); NaN must be mapped to +inf first. */
afm_status afm_dist_max_doubles(afm_dist *d, double *x, int n);
/* x (n 128-bit integers) ← Σ_r x_r (integer sums: exact, the same in any order). */
__extension__ typedef __int128 afm_int128;
afm_status afm_dist_sum_int128(afm_dist *d, afm_int128 *x, int n);
/* *flag ← OR over ranks (e.g. a stop request that reached only some ranks). */
afm_status afm_dist_any(afm_dist *d, bool *flag);
/* Waits for every rank. */
afm_status afm_dist_barrier(afm_dist *d);
#endif
