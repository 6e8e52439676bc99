/* The MPI transport of dist.c, as a table of functions that the module libafm_mpi.so
 * (src/train/mpi/dist_mpi.c, linked with the MPI library) exports. libafm loads it with dlopen
 * only in a process started by an MPI launcher, so the MPI libraries (about 1.1 MB resident:
 * libmpi, open-pal, open-rte, hwloc, libevent, libudev, zlib) stay out of every other afm process.
 * Only plain C types cross this boundary; each function returns 0 on success, else an MPI error
 * code (AFM_MPI_ENOMEM: the module ran out of memory), which error_string describes. All
 * communication is on MPI_COMM_WORLD. */
#ifndef AFM_TRAIN_DIST_MPI_H
#define AFM_TRAIN_DIST_MPI_H
#include <stddef.h>

enum { AFM_MPI_ABI = 1, AFM_MPI_ENOMEM = -1 };

/* One point-to-point message of `count` floats with `peer` and `tag`. */
typedef struct afm_mpi_xfer { float *buf; int count, peer, tag; } afm_mpi_xfer;

typedef struct afm_mpi_ops {
    int abi;          /* AFM_MPI_ABI */
    size_t size;      /* sizeof(afm_mpi_ops) */
    /* MPI_Init unless already initialized (*initialized_here tells which), rank and size */
    int (*init)(int *rank, int *size, int *initialized_here);
    void (*finalize)(void);
    void (*abort)(int code);
    void (*error_string)(int code, char *buf, size_t cap);
    /* MPI_Alltoallv of floats */
    int (*alltoallv_f32)(const float *send, const int *send_counts, const int *send_displs, float *recv,
                         const int *recv_counts, const int *recv_displs);
    /* MPI_Allgatherv of floats in place: rank k's counts[k] floats at x + displs[k] go to all */
    int (*allgatherv_f32_inplace)(float *x, const int *counts, const int *displs);
    /* Posts every receive, then every send (non-blocking), and waits for all of them. */
    int (*exchange_f32)(const afm_mpi_xfer *recv, int n_recv, const afm_mpi_xfer *send, int n_send);
    int (*send_f32)(const float *x, int count, int to, int tag);
    int (*recv_f32)(float *x, int count, int from, int tag);
    /* MPI_Allgather of `bytes` bytes from every rank into all (size·bytes, in rank order) */
    int (*allgather_bytes)(const void *x, int bytes, void *all);
    /* elementwise maximum over ranks, in place */
    int (*allreduce_max_f64)(double *x, int n);
    int (*allreduce_max_i32)(int *x, int n);
    int (*barrier)(void);
} afm_mpi_ops;

/* The module's one exported symbol. */
#define AFM_MPI_OPS_SYMBOL "afm_mpi_ops_v1"
const afm_mpi_ops *afm_mpi_ops_v1(void);
#endif
