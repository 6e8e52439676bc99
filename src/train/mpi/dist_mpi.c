/* libafm_mpi.so: MPI_COMM_WORLD primitives for src/train/dist.c behind the table of
 * train/dist_mpi.h. Built only with -DAFM_MPI=ON; libafm dlopens it when a process is started by
 * an MPI launcher. It uses nothing of libafm. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/dist_mpi.h"

static int code(int rc) { return rc == MPI_SUCCESS ? 0 : rc; }

static int init(int *rank, int *size, int *initialized_here) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) return MPI_ERR_OTHER;
    *initialized_here = !inited;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

static void finalize(void) { MPI_Finalize(); }
static void abort_all(int c) { MPI_Abort(MPI_COMM_WORLD, c); }

static void error_string(int c, char *buf, size_t cap) {
    if (!cap) return;
    if (c == AFM_MPI_ENOMEM) {
        snprintf(buf, cap, "out of memory");
        return;
    }
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(c, msg, &len) != MPI_SUCCESS) len = snprintf(msg, sizeof msg, "MPI error %d", c);
    snprintf(buf, cap, "%.*s", len, msg);
}

static int alltoallv_f32(const float *send, const int *sc, const int *sd, float *recv, const int *rc, const int *rd) {
    return code(MPI_Alltoallv(send, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, MPI_COMM_WORLD));
}

static int allgatherv_f32_inplace(float *x, const int *counts, const int *displs) {
    return code(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_FLOAT, MPI_COMM_WORLD));
}

static int exchange_f32(const afm_mpi_xfer *recv, int n_recv, const afm_mpi_xfer *send, int n_send) {
    MPI_Request *req = malloc(sizeof *req * ((size_t)n_recv + (size_t)n_send + 1));
    if (!req) return AFM_MPI_ENOMEM;
    int n = 0;
    for (int i = 0; i < n_recv; i++)
        MPI_Irecv(recv[i].buf, recv[i].count, MPI_FLOAT, recv[i].peer, recv[i].tag, MPI_COMM_WORLD, &req[n++]);
    for (int i = 0; i < n_send; i++)
        MPI_Isend(send[i].buf, send[i].count, MPI_FLOAT, send[i].peer, send[i].tag, MPI_COMM_WORLD, &req[n++]);
    int rc = MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
    free(req);
    return code(rc);
}

static int send_f32(const float *x, int count, int to, int tag) {
    return code(MPI_Send(x, count, MPI_FLOAT, to, tag, MPI_COMM_WORLD));
}

static int recv_f32(float *x, int count, int from, int tag) {
    return code(MPI_Recv(x, count, MPI_FLOAT, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
}

static int allgather_bytes(const void *x, int bytes, void *all) {
    return code(MPI_Allgather(x, bytes, MPI_BYTE, all, bytes, MPI_BYTE, MPI_COMM_WORLD));
}

static int allreduce_max_f64(double *x, int n) {
    return code(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
}

static int allreduce_max_i32(int *x, int n) {
    return code(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
}

static int barrier(void) { return code(MPI_Barrier(MPI_COMM_WORLD)); }

const afm_mpi_ops *afm_mpi_ops_v1(void) {
    static const afm_mpi_ops ops = {
        .abi = AFM_MPI_ABI, .size = sizeof(afm_mpi_ops), .init = init, .finalize = finalize, .abort = abort_all,
        .error_string = error_string, .alltoallv_f32 = alltoallv_f32, .allgatherv_f32_inplace = allgatherv_f32_inplace,
        .exchange_f32 = exchange_f32, .send_f32 = send_f32, .recv_f32 = recv_f32, .allgather_bytes = allgather_bytes,
        .allreduce_max_f64 = allreduce_max_f64, .allreduce_max_i32 = allreduce_max_i32, .barrier = barrier,
    };
    return &ops;
}
