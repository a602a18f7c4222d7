/// \file
/// Self-test of the PMPI byte counter (benchmarks/commcount.c): plain MPI calls with known byte
/// counts in named stages, for tests/test_comm.py to compare with the CSV the counter writes.
/// Run it with the counter preloaded:
///
///   mpirun -np P -x LD_PRELOAD=bin/libcommcount.so -x PG_COMMCOUNT_OUT=c.csv bin/test_commcount
///
/// With r the rank, right = r+1 and left = r-1 (mod P), the calls are, per stage:
///   p2p     Isend 1000 (r+1) bytes to right, Recv from left; rank 0 Sends 123 doubles to rank P-1;
///           a persistent send of 7 (r+1) ints to right started twice (Startall), Recv_init from
///           left; Sendrecv of 10 floats to right; Sendrecv of 100 bytes to itself (not counted)
///   outer   Bcast 64 bytes from rank 0, then (after the nested stage coll) 32 bytes from rank P-1
///   coll    (nested in outer) Allreduce 5 doubles; Alltoallv of r+1+2j bytes to rank j; Allgatherv
///           of 3 (r+1) ints; Gather of 2 doubles to rank 1 % P; Reduce_scatter_block of 4 ints;
///           Exscan of one long long; Barrier
///   nbr     Neighbor_alltoallv of 11 (r+1) bytes on the ring's dist graph (out: right, in: left)
///   rma     Put of 16 bytes into right's window (one fence epoch; not on 1 rank)
/// Prints nothing; the counts are the test.
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                          \
  do {                                                       \
    if ((call) != MPI_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 1); \
  } while (0)

int main(int argc, char **argv)
{
  int      r, p, right, left;
  MPI_Comm ring;

  CHECK(MPI_Init(&argc, &argv));
  CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &r));
  CHECK(MPI_Comm_size(MPI_COMM_WORLD, &p));
  right = (r + 1) % p;
  left  = (r - 1 + p) % p;
  {
    int one[1] = {1}; /* weights, rather than MPI_UNWEIGHTED, which GCC takes for a zero-length array */
    CHECK(MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 1, &left, one, 1, &right, one, MPI_INFO_NULL, 0, &ring));
  }
  char *a = calloc(1 << 16, 1), *b = calloc(1 << 16, 1);

  CHECK(MPI_Pcontrol(1, "p2p"));
  {
    MPI_Request req[2];
    CHECK(MPI_Isend(a, 1000 * (r + 1), MPI_BYTE, right, 1, MPI_COMM_WORLD, &req[0]));
    CHECK(MPI_Recv(b, 1000 * (left + 1), MPI_BYTE, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(MPI_Wait(&req[0], MPI_STATUS_IGNORE));
    if (p > 1 && r == 0) CHECK(MPI_Send(a, 123, MPI_DOUBLE, p - 1, 2, MPI_COMM_WORLD));
    if (p > 1 && r == p - 1) CHECK(MPI_Recv(b, 123, MPI_DOUBLE, 0, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(MPI_Send_init(a, 7 * (r + 1), MPI_INT, right, 3, MPI_COMM_WORLD, &req[0]));
    CHECK(MPI_Recv_init(b, 7 * (left + 1), MPI_INT, left, 3, MPI_COMM_WORLD, &req[1]));
    for (int k = 0; k < 2; k++) {
      CHECK(MPI_Startall(2, req));
      CHECK(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
    }
    CHECK(MPI_Request_free(&req[0]));
    CHECK(MPI_Request_free(&req[1]));
    CHECK(MPI_Sendrecv(a, 10, MPI_FLOAT, right, 4, b, 10, MPI_FLOAT, left, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    CHECK(MPI_Sendrecv(a, 100, MPI_BYTE, r, 5, b, 100, MPI_BYTE, r, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  }
  CHECK(MPI_Pcontrol(-1));

  CHECK(MPI_Pcontrol(1, "outer"));
  CHECK(MPI_Bcast(a, 64, MPI_BYTE, 0, MPI_COMM_WORLD));
  CHECK(MPI_Pcontrol(1, "coll"));
  {
    int *sc = malloc(sizeof(int) * (size_t)p), *rc = malloc(sizeof(int) * (size_t)p),
        *sd = malloc(sizeof(int) * (size_t)p), *rd = malloc(sizeof(int) * (size_t)p);
    long long x = r, y = 0;
    CHECK(MPI_Allreduce(a, b, 5, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    for (int j = 0, os = 0, orr = 0; j < p; j++) {
      sc[j] = r + 1 + 2 * j;
      rc[j] = j + 1 + 2 * r;
      sd[j] = os;
      rd[j] = orr;
      os += sc[j];
      orr += rc[j];
    }
    CHECK(MPI_Alltoallv(a, sc, sd, MPI_BYTE, b, rc, rd, MPI_BYTE, MPI_COMM_WORLD));
    for (int j = 0, o = 0; j < p; j++) {
      rc[j] = 3 * (j + 1);
      rd[j] = o;
      o += rc[j];
    }
    CHECK(MPI_Allgatherv(a, 3 * (r + 1), MPI_INT, b, rc, rd, MPI_INT, MPI_COMM_WORLD));
    CHECK(MPI_Gather(a, 2, MPI_DOUBLE, b, 2, MPI_DOUBLE, 1 % p, MPI_COMM_WORLD));
    CHECK(MPI_Reduce_scatter_block(a, b, 4, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    CHECK(MPI_Exscan(&x, &y, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD));
    CHECK(MPI_Barrier(MPI_COMM_WORLD));
    free(sc), free(rc), free(sd), free(rd);
  }
  CHECK(MPI_Pcontrol(-1));
  CHECK(MPI_Bcast(a, 32, MPI_BYTE, p - 1, MPI_COMM_WORLD));
  CHECK(MPI_Pcontrol(-1));

  CHECK(MPI_Pcontrol(1, "nbr"));
  {
    int sc = 11 * (r + 1), rc = 11 * (left + 1), zero = 0;
    CHECK(MPI_Neighbor_alltoallv(a, &sc, &zero, MPI_BYTE, b, &rc, &zero, MPI_BYTE, ring));
  }
  CHECK(MPI_Pcontrol(-1));

  if (p > 1) { /* Open MPI makes no window on a single rank */
    MPI_Win win;
    CHECK(MPI_Win_create(b, 1 << 16, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win));
    CHECK(MPI_Win_fence(0, win));
    CHECK(MPI_Pcontrol(1, "rma"));
    CHECK(MPI_Put(a, 16, MPI_BYTE, right, 0, 16, MPI_BYTE, win));
    CHECK(MPI_Pcontrol(-1));
    CHECK(MPI_Win_fence(0, win));
    CHECK(MPI_Win_free(&win));
  }
  CHECK(MPI_Comm_free(&ring));
  free(a);
  free(b);
  CHECK(MPI_Finalize());
  return 0;
}
