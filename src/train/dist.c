/* Data parallelism over MPI (see dist.h). With AFM_HAVE_MPI (CMake option AFM_MPI) the MPI calls
 * go through the module libafm_mpi.so (dist_mpi.h), loaded when the process was started by an
 * MPI launcher; otherwise one rank and no-ops. */
#include "train/dist.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>
#ifdef AFM_HAVE_MPI
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "train/dist_mpi.h"
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

#ifdef AFM_HAVE_MPI
static const afm_mpi_ops *g_mpi;
static pthread_once_t g_mpi_once = PTHREAD_ONCE_INIT;
static char g_mpi_error[1024];

/* Opens the module at path; true when it provides a table of this version. A failure is
 * appended to g_mpi_error. */
static bool try_module(const char *path) {
    /* RTLD_GLOBAL: Open MPI's own components, loaded later, resolve their symbols in libmpi */
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    const afm_mpi_ops *(*get)(void) = NULL;
    if (h) *(void **)&get = dlsym(h, AFM_MPI_OPS_SYMBOL);
    const afm_mpi_ops *ops = get ? get() : NULL;
    if (ops && ops->abi == AFM_MPI_ABI && ops->size == sizeof(afm_mpi_ops)) {
        g_mpi = ops;
        return true;
    }
    size_t used = strlen(g_mpi_error);
    if (!h) snprintf(g_mpi_error + used, sizeof g_mpi_error - used, "%s%s", used ? "; " : "", dlerror());
    else snprintf(g_mpi_error + used, sizeof g_mpi_error - used, "%s%s: %s", used ? "; " : "", path,
                  !ops ? "no " AFM_MPI_OPS_SYMBOL " in it" : "built for another afm version");
    if (h) dlclose(h);
    return false;
}

/* dir/sub/libafm_mpi.so, where dir is the folder part of `file` (nothing if it has none). */
static bool try_beside(const char *file, const char *sub) {
    const char *slash = strrchr(file, '/');
    if (!slash) return false;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s/%s%slibafm_mpi.so", (int)(slash - file), file, sub, *sub ? "/" : "");
    return try_module(path);
}

#ifndef AFM_MPI_MODULE_DIR
#define AFM_MPI_MODULE_DIR "/usr/local/lib"
#endif
#ifndef AFM_MPI_MODULE_RELDIR
#define AFM_MPI_MODULE_RELDIR "../lib"
#endif

/* The module is $AFM_MPI_PLUGIN when set; else it is looked for beside the object holding libafm
 * (libafm.so, or the program it is linked into: build/afm beside build/libafm_mpi.so), in the
 * library folder of the program's install tree (bin/../lib, wherever the tree was installed), in
 * the configured install's library folder, then on the loader's search path. */
static void load_module(void) {
    const char *env = getenv("AFM_MPI_PLUGIN");
    if (env && *env) {
        try_module(env);
        return;
    }
    char exe[PATH_MAX] = "", lib[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    Dl_info info; /* dli_fname: libafm.so's path, or the program's when libafm is linked into it */
    if (dladdr((void *)afm_dist_init, &info) && info.dli_fname && realpath(info.dli_fname, lib) && strcmp(lib, exe) &&
        try_beside(lib, ""))
        return;
    if (*exe && (try_beside(exe, "") || try_beside(exe, AFM_MPI_MODULE_RELDIR))) return;
    if (try_module(AFM_MPI_MODULE_DIR "/libafm_mpi.so")) return;
    try_module("libafm_mpi.so");
}

static afm_status mpi_fail(int rc, const char *what) {
    char msg[512];
    g_mpi->error_string(rc, msg, sizeof msg);
    return afm_error(AFM_ERR_IO, "%s failed: %s", what, msg);
}
#endif

afm_status afm_dist_init(afm_dist *d) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (!afm_dist_launched()) return AFM_OK;
#ifdef AFM_HAVE_MPI
    pthread_once(&g_mpi_once, load_module);
    if (!g_mpi)
        return afm_error(AFM_ERR_IO, "started by an MPI launcher, but the MPI module libafm_mpi.so could not be loaded (%s)", g_mpi_error);
    int here = 0;
    if (g_mpi->init(&d->rank, &d->size, &here) != 0) return afm_error(AFM_ERR_IO, "MPI_Init failed");
    d->mpi = here != 0;
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
    if (d->mpi) g_mpi->finalize();
#endif
    d->mpi = false;
}

void afm_dist_abort(const afm_dist *d, int code) {
#ifdef AFM_HAVE_MPI
    if (d->size > 1 && g_mpi) g_mpi->abort(code);
#else
    (void)d;
    (void)code;
#endif
}

#ifdef AFM_HAVE_MPI
/* Chunk k of [0, n) split into `parts` contiguous pieces. */
static size_t chunk_lo(size_t n, int parts, int k) { return n / (size_t)parts * (size_t)k + (n % (size_t)parts < (size_t)k ? n % (size_t)parts : (size_t)k); }
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
        int rcode = g_mpi->alltoallv_f32(xb, sc, sdis, d->scratch, rc, rdis);
        if (rcode != 0) { st = mpi_fail(rcode, "MPI_Alltoallv (gradient reduce)"); break; }
        for (size_t i = 0; i < my_n; i++) {
            double s = 0.0;
            for (int j = 0; j < N; j++) s += (double)d->scratch[(size_t)j * my_n + i];
            xb[my_lo + i] = (float)s;
        }
        for (int k = 0; k < N; k++) rc[k] = sc[k];
        rcode = g_mpi->allgatherv_f32_inplace(xb, rc, sdis);
        if (rcode != 0) st = mpi_fail(rcode, "MPI_Allgatherv (gradient broadcast)");
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
    afm_mpi_xfer *xf = malloc(sizeof *xf * 2 * (size_t)N * (size_t)K);
    if (!xf) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_mpi_xfer *sends = xf + (size_t)N * (size_t)K;
    afm_status st = AFM_OK;
    for (size_t off = 0; off < max_len && st == AFM_OK; off += step) {
        int nr = 0, ns = 0, mine = piece_count(d, n, me, off, step);
        /* scratch[(r·K + j)·piece + i] = group j of rank r at my_lo + off + i, for every other rank r */
        for (int r = 0; r < N && mine > 0; r++)
            for (int j = 0; j < K && r != me; j++)
                xf[nr++] = (afm_mpi_xfer){d->scratch + ((size_t)r * (size_t)K + (size_t)j) * piece, mine, r, TAG_SCATTER + j};
        for (int k = 0; k < N; k++) {
            int c = piece_count(d, n, k, off, step);
            size_t lo, hi;
            afm_dist_shard_range(d, n, k, &lo, &hi);
            for (int j = 0; j < K && k != me && c > 0; j++) sends[ns++] = (afm_mpi_xfer){x[j] + lo + off, c, k, TAG_SCATTER + j};
        }
        int rcode = g_mpi->exchange_f32(xf, nr, sends, ns);
        if (rcode != 0) { st = mpi_fail(rcode, "MPI_Waitall (gradient reduce-scatter)"); break; }
        size_t at = my_lo + off;
        for (int i = 0; i < mine; i++) {
            double s = 0.0;
            for (int r = 0; r < N; r++)
                for (int j = 0; j < K; j++)
                    s += (double)(r == me ? x[j][at + (size_t)i] : d->scratch[((size_t)r * (size_t)K + (size_t)j) * piece + (size_t)i]);
            out[at + (size_t)i] = (float)s;
        }
    }
    free(xf);
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
    afm_mpi_xfer *xf = malloc(sizeof *xf * 2 * (size_t)N);
    if (!xf) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_mpi_xfer *sends = xf + N;
    afm_status st = AFM_OK;
    for (size_t off = 0; off < max_len && st == AFM_OK; off += (size_t)PIECE) {
        int nr = 0, ns = 0, mine = piece_count(d, n, me, off, (size_t)PIECE);
        for (int j = 0; j < N; j++) {
            int c = piece_count(d, n, j, off, (size_t)PIECE);
            size_t lo, hi;
            afm_dist_shard_range(d, n, j, &lo, &hi);
            if (j != me && c > 0) xf[nr++] = (afm_mpi_xfer){x + lo + off, c, j, TAG_GATHER};
        }
        for (int k = 0; k < N && mine > 0; k++)
            if (k != me) sends[ns++] = (afm_mpi_xfer){x + my_lo + off, mine, k, TAG_GATHER};
        int rcode = g_mpi->exchange_f32(xf, nr, sends, ns);
        if (rcode != 0) st = mpi_fail(rcode, "MPI_Waitall (parameter all-gather)");
    }
    free(xf);
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
        int rcode = g_mpi->send_f32(x + off, c, to, TAG_P2P);
        if (rcode != 0) return mpi_fail(rcode, "MPI_Send");
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
        int rcode = g_mpi->recv_f32(x + off, c, from, TAG_P2P);
        if (rcode != 0) return mpi_fail(rcode, "MPI_Recv");
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
    if ((size_t)n > (size_t)INT_MAX / sizeof(double)) { free(all); return afm_error(AFM_ERR_INVALID_ARG, "too many values to sum over ranks (%d)", n); }
    int rcode = g_mpi->allgather_bytes(x, n * (int)sizeof(double), all);
    if (rcode != 0) { free(all); return mpi_fail(rcode, "MPI_Allgather"); }
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
    int rcode = g_mpi->allreduce_max_f64(x, n);
    if (rcode != 0) return mpi_fail(rcode, "MPI_Allreduce (max)");
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
    int rcode = g_mpi->allgather_bytes(x, (int)bytes, all);
    if (rcode != 0) { free(all); return mpi_fail(rcode, "MPI_Allgather"); }
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
    int v = *flag ? 1 : 0;
    int rcode = g_mpi->allreduce_max_i32(&v, 1);
    if (rcode != 0) return mpi_fail(rcode, "MPI_Allreduce");
    *flag = v != 0;
#else
    (void)flag;
#endif
    return AFM_OK;
}

afm_status afm_dist_barrier(afm_dist *d) {
    if (d->size <= 1) return AFM_OK;
#ifdef AFM_HAVE_MPI
    int rcode = g_mpi->barrier();
    if (rcode != 0) return mpi_fail(rcode, "MPI_Barrier");
#endif
    return AFM_OK;
}
