/* Data parallelism over MPI (see dist.h). Compiled with MPI when AFM_HAVE_MPI is defined
 * (CMake option AFM_MPI); otherwise one rank and no-ops. */
#include "train/dist.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>
#ifdef AFM_HAVE_MPI
#include <mpi.h>
#endif

bool afm_dist_compiled(void) {
#ifdef AFM_HAVE_MPI
    return true;
#else
    return false;
#endif
}

static int launched_size(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    if (!v) v = getenv("PMIX_SIZE");
    return v ? atoi(v) : 0;
}

bool afm_dist_launched(void) { return launched_size() > 0 || getenv("PMIX_RANK") != NULL; }

afm_status afm_dist_init(afm_dist *d) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (!afm_dist_launched()) return AFM_OK;
#ifdef AFM_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) return afm_error(AFM_ERR_IO, "MPI_Init failed");
    d->mpi = !inited;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return AFM_OK;
#else
    if (launched_size() > 1)
        return afm_error(AFM_ERR_INVALID_ARG, "started by an MPI launcher with %d processes, but this afm was built without MPI "
                         "(configure with -DAFM_MPI=ON and an MPI library such as Debian's libopenmpi-dev)", launched_size());
    return AFM_OK;
#endif
}

void afm_dist_finalize(afm_dist *d) {
    free(d->scratch);
    d->scratch = NULL;
    d->scratch_n = 0;
#ifdef AFM_HAVE_MPI
    if (d->mpi) MPI_Finalize();
#endif
    d->mpi = false;
}

void afm_dist_abort(const afm_dist *d, int code) {
#ifdef AFM_HAVE_MPI
    if (d->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)d;
    (void)code;
#endif
}

#ifdef AFM_HAVE_MPI
/* Chunk k of [0, n) split into `parts` contiguous pieces. */
static size_t chunk_lo(size_t n, int parts, int k) { return n / (size_t)parts * (size_t)k + (n % (size_t)parts < (size_t)k ? n % (size_t)parts : (size_t)k); }
static afm_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return afm_error(AFM_ERR_IO, "%s failed: %s", what, msg);
}
#endif

afm_status afm_dist_sum_floats(afm_dist *d, float *x, size_t n) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    const int N = d->size, me = d->rank;
    /* blocks of at most N·2^24 floats, so every MPI count fits an int */
    const size_t block = (size_t)N << 24;
    size_t need = (n < block ? n : block) / (size_t)N + 1;
    if (d->scratch_n < need * (size_t)N) {
        free(d->scratch);
        d->scratch_n = 0;
        d->scratch = malloc(need * (size_t)N * sizeof(float));
        if (!d->scratch) return afm_error(AFM_ERR_NOMEM, "out of memory for the gradient all-reduce (%zu floats)", need * (size_t)N);
        d->scratch_n = need * (size_t)N;
    }
    int *sc = malloc(sizeof(int) * 4 * (size_t)N);
    if (!sc) return afm_error(AFM_ERR_NOMEM, "out of memory");
    int *sdis = sc + N, *rc = sc + 2 * N, *rdis = sc + 3 * N;
    afm_status st = AFM_OK;
    for (size_t b0 = 0; b0 < n && st == AFM_OK; b0 += block) {
        size_t bn = n - b0 < block ? n - b0 : block;
        float *xb = x + b0;
        size_t my_lo = chunk_lo(bn, N, me), my_n = chunk_lo(bn, N, me + 1) - my_lo;
        for (int k = 0; k < N; k++) {
            sdis[k] = (int)chunk_lo(bn, N, k);
            sc[k] = (int)(chunk_lo(bn, N, k + 1) - chunk_lo(bn, N, k));
            rc[k] = (int)my_n;
            rdis[k] = (int)(my_n * (size_t)k);
        }
        /* rank k receives chunk k from every rank: scratch[j·my_n + i] = x_j[my_lo + i] */
        int rcode = MPI_Alltoallv(xb, sc, sdis, MPI_FLOAT, d->scratch, rc, rdis, MPI_FLOAT, MPI_COMM_WORLD);
        if (rcode != MPI_SUCCESS) { st = mpi_fail(rcode, "MPI_Alltoallv (gradient reduce)"); break; }
        for (size_t i = 0; i < my_n; i++) {
            double s = 0.0;
            for (int j = 0; j < N; j++) s += (double)d->scratch[(size_t)j * my_n + i];
            xb[my_lo + i] = (float)s;
        }
        for (int k = 0; k < N; k++) rc[k] = sc[k];
        rcode = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, xb, rc, sdis, MPI_FLOAT, MPI_COMM_WORLD);
        if (rcode != MPI_SUCCESS) st = mpi_fail(rcode, "MPI_Allgatherv (gradient broadcast)");
    }
    free(sc);
    return st;
#else
    (void)x;
    (void)n;
    return AFM_OK;
#endif
}

void afm_dist_shard_range(const afm_dist *d, size_t n, int rank, size_t *lo, size_t *hi) {
    size_t N = d && d->size > 1 ? (size_t)d->size : 1, k = (size_t)rank, q = n / N, r = n % N;
    *lo = q * k + (k < r ? k : r);
    *hi = *lo + q + (k < r ? 1 : 0);
}

#ifdef AFM_HAVE_MPI
/* Collectives on shards move pieces of at most PIECE floats per peer and round, so every MPI
 * count fits an int and the receive buffer stays N·PIECE floats however large the model. */
enum { PIECE = AFM_DIST_PIECE, TAG_GATHER = 102, TAG_P2P = 103, TAG_SCATTER = 200 /* + group */ };

static afm_status ensure_scratch(afm_dist *d, size_t n) {
    if (d->scratch_n >= n) return AFM_OK;
    free(d->scratch);
    d->scratch_n = 0;
    d->scratch = malloc(n * sizeof(float));
    if (!d->scratch) return afm_error(AFM_ERR_NOMEM, "out of memory for the MPI receive buffer (%zu floats)", n);
    d->scratch_n = n;
    return AFM_OK;
}

/* Floats of rank k's shard in the round of at most `step` floats starting at offset off into it. */
static int piece_count(const afm_dist *d, size_t n, int k, size_t off, size_t step) {
    size_t lo, hi;
    afm_dist_shard_range(d, n, k, &lo, &hi);
    size_t len = hi - lo;
    return off >= len ? 0 : (int)(len - off < step ? len - off : step);
}
#endif

afm_status afm_dist_reduce_scatter_floats(afm_dist *d, float *x, size_t n) {
    return afm_dist_sum_groups(d, &x, 1, n, x, true);
}

/* Rank order, then each rank's K groups in order: the sum of group g = r·K + j at element i. */
afm_status afm_dist_sum_groups(afm_dist *d, float *const *x, int K, size_t n, float *out, bool scatter) {
    if (K < 1 || K > AFM_DIST_MAX_GROUPS) return afm_error(AFM_ERR_INVALID_ARG, "%d gradient groups per process (expected 1 to %d)", K, AFM_DIST_MAX_GROUPS);
    if (d->size <= 1) {
        if (K == 1 && out == x[0]) return AFM_OK;
        for (size_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int j = 0; j < K; j++) s += (double)x[j][i];
            out[i] = (float)s;
        }
        return AFM_OK;
    }
#ifdef AFM_HAVE_MPI
    const int N = d->size, me = d->rank;
    size_t my_lo, my_hi, max_len = n / (size_t)N + 1;
    afm_dist_shard_range(d, n, me, &my_lo, &my_hi);
    /* pieces of at most PIECE / K floats, so the receive buffer stays N·PIECE floats */
    size_t step = (size_t)PIECE / (size_t)K, piece = max_len < step ? max_len : step;
    AFM_TRY(ensure_scratch(d, piece * (size_t)N * (size_t)K));
    MPI_Request *req = malloc(sizeof(MPI_Request) * 2 * (size_t)N * (size_t)K);
    if (!req) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_status st = AFM_OK;
    for (size_t off = 0; off < max_len && st == AFM_OK; off += step) {
        int nr = 0, mine = piece_count(d, n, me, off, step);
        /* scratch[(r·K + j)·piece + i] = group j of rank r at my_lo + off + i, for every other rank r */
        for (int r = 0; r < N && mine > 0; r++)
            for (int j = 0; j < K && r != me; j++)
                MPI_Irecv(d->scratch + ((size_t)r * (size_t)K + (size_t)j) * piece, mine, MPI_FLOAT, r, TAG_SCATTER + j, MPI_COMM_WORLD, &req[nr++]);
        for (int k = 0; k < N; k++) {
            int c = piece_count(d, n, k, off, step);
            size_t lo, hi;
            afm_dist_shard_range(d, n, k, &lo, &hi);
            for (int j = 0; j < K && k != me && c > 0; j++)
                MPI_Isend(x[j] + lo + off, c, MPI_FLOAT, k, TAG_SCATTER + j, MPI_COMM_WORLD, &req[nr++]);
        }
        int rcode = MPI_Waitall(nr, req, MPI_STATUSES_IGNORE);
        if (rcode != MPI_SUCCESS) { st = mpi_fail(rcode, "MPI_Waitall (gradient reduce-scatter)"); break; }
        size_t at = my_lo + off;
        for (int i = 0; i < mine; i++) {
            double s = 0.0;
            for (int r = 0; r < N; r++)
                for (int j = 0; j < K; j++)
                    s += (double)(r == me ? x[j][at + (size_t)i] : d->scratch[((size_t)r * (size_t)K + (size_t)j) * piece + (size_t)i]);
            out[at + (size_t)i] = (float)s;
        }
    }
    free(req);
    if (st == AFM_OK && !scatter) st = afm_dist_allgather_floats(d, out, n);
    return st;
#else
    (void)out;
    (void)scatter;
    return AFM_OK;
#endif
}

afm_status afm_dist_allgather_floats(afm_dist *d, float *x, size_t n) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    const int N = d->size, me = d->rank;
    size_t my_lo, my_hi, max_len = n / (size_t)N + 1;
    afm_dist_shard_range(d, n, me, &my_lo, &my_hi);
    MPI_Request *req = malloc(sizeof(MPI_Request) * 2 * (size_t)N);
    if (!req) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_status st = AFM_OK;
    for (size_t off = 0; off < max_len && st == AFM_OK; off += (size_t)PIECE) {
        int nr = 0, mine = piece_count(d, n, me, off, (size_t)PIECE);
        for (int j = 0; j < N; j++) {
            int c = piece_count(d, n, j, off, (size_t)PIECE);
            size_t lo, hi;
            afm_dist_shard_range(d, n, j, &lo, &hi);
            if (j != me && c > 0) MPI_Irecv(x + lo + off, c, MPI_FLOAT, j, TAG_GATHER, MPI_COMM_WORLD, &req[nr++]);
        }
        for (int k = 0; k < N && mine > 0; k++)
            if (k != me) MPI_Isend(x + my_lo + off, mine, MPI_FLOAT, k, TAG_GATHER, MPI_COMM_WORLD, &req[nr++]);
        int rcode = MPI_Waitall(nr, req, MPI_STATUSES_IGNORE);
        if (rcode != MPI_SUCCESS) st = mpi_fail(rcode, "MPI_Waitall (parameter all-gather)");
    }
    free(req);
    return st;
#else
    (void)x;
    (void)n;
    return AFM_OK;
#endif
}

afm_status afm_dist_send_floats(afm_dist *d, int to, const float *x, size_t n) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    for (size_t off = 0; off < n; off += (size_t)PIECE) {
        int c = (int)(n - off < (size_t)PIECE ? n - off : (size_t)PIECE);
        int rcode = MPI_Send(x + off, c, MPI_FLOAT, to, TAG_P2P, MPI_COMM_WORLD);
        if (rcode != MPI_SUCCESS) return mpi_fail(rcode, "MPI_Send");
    }
#else
    (void)to;
    (void)x;
    (void)n;
#endif
    return AFM_OK;
}

afm_status afm_dist_recv_floats(afm_dist *d, int from, float *x, size_t n) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    for (size_t off = 0; off < n; off += (size_t)PIECE) {
        int c = (int)(n - off < (size_t)PIECE ? n - off : (size_t)PIECE);
        int rcode = MPI_Recv(x + off, c, MPI_FLOAT, from, TAG_P2P, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rcode != MPI_SUCCESS) return mpi_fail(rcode, "MPI_Recv");
    }
#else
    (void)from;
    (void)x;
    (void)n;
#endif
    return AFM_OK;
}

afm_status afm_dist_sum_doubles(afm_dist *d, double *x, int n) {
    if (d->size <= 1 || n <= 0) return AFM_OK;
#ifdef AFM_HAVE_MPI
    double *all = malloc(sizeof(double) * (size_t)n * (size_t)d->size);
    if (!all) return afm_error(AFM_ERR_NOMEM, "out of memory");
    int rcode = MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    if (rcode != MPI_SUCCESS) { free(all); return mpi_fail(rcode, "MPI_Allgather"); }
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < d->size; j++) s += all[(size_t)j * (size_t)n + (size_t)i];
        x[i] = s;
    }
    free(all);
    return AFM_OK;
#else
    (void)x;
    return AFM_OK;
#endif
}

afm_status afm_dist_max_doubles(afm_dist *d, double *x, int n) {
    if (d->size <= 1 || n <= 0) return AFM_OK;
#ifdef AFM_HAVE_MPI
    int rcode = MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rcode != MPI_SUCCESS) return mpi_fail(rcode, "MPI_Allreduce (max)");
#else
    (void)x;
#endif
    return AFM_OK;
}

afm_status afm_dist_sum_int128(afm_dist *d, afm_int128 *x, int n) {
    if (d->size <= 1 || n <= 0) return AFM_OK;
#ifdef AFM_HAVE_MPI
    size_t bytes = sizeof(afm_int128) * (size_t)n;
    if (bytes > (size_t)1 << 30) return afm_error(AFM_ERR_INVALID_ARG, "too many integers to sum over ranks (%d)", n);
    afm_int128 *all = malloc(bytes * (size_t)d->size);
    if (!all) return afm_error(AFM_ERR_NOMEM, "out of memory");
    int rcode = MPI_Allgather(x, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    if (rcode != MPI_SUCCESS) { free(all); return mpi_fail(rcode, "MPI_Allgather"); }
    for (int i = 0; i < n; i++) {
        afm_int128 s = 0;
        for (int j = 0; j < d->size; j++) s += all[(size_t)j * (size_t)n + (size_t)i];
        x[i] = s;
    }
    free(all);
#else
    (void)x;
#endif
    return AFM_OK;
}

afm_status afm_dist_any(afm_dist *d, bool *flag) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    int in = *flag ? 1 : 0, out = 0;
    int rcode = MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rcode != MPI_SUCCESS) return mpi_fail(rcode, "MPI_Allreduce");
    *flag = out != 0;
#else
    (void)flag;
#endif
    return AFM_OK;
}

afm_status afm_dist_barrier(afm_dist *d) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    int rcode = MPI_Barrier(MPI_COMM_WORLD);
    if (rcode != MPI_SUCCESS) return mpi_fail(rcode, "MPI_Barrier");
#endif
    return AFM_OK;
}
