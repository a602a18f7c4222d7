/// \file
/// commcount: a PMPI profiling library that counts, per rank, per program stage and per MPI
/// function, the calls made and the bytes sent and received. Build with `make commcount`
/// (bin/libcommcount.so) and load it into the ranks only:
///
///   mpirun -x LD_PRELOAD=$PWD/bin/libcommcount.so -x PG_COMMCOUNT_OUT=comm.csv -np 8 bin/plurigauss DECK
///
/// Every MPI function below is defined here and forwards to its PMPI_ twin, so the calls of the
/// program and of every shared library it uses (PETSc, hypre, FFTW-MPI, HDF5) are counted; what
/// the MPI library does inside one call (the algorithm of a collective, the two-phase aggregation
/// of collective MPI-IO) is not seen, which is why collectives are counted by a stated convention.
///
/// Stages. The program marks its stages with the standard profiling hook (a no-op without a
/// profiling library): MPI_Pcontrol(1, "name") enters stage "name", MPI_Pcontrol(-1) leaves the
/// innermost stage (stages nest; bytes go to the innermost). Traffic outside any stage is counted
/// in stage "other". plurigauss does it through include/plurigauss/stage.h.
///
/// Output. At MPI_Finalize the counts are combined (with PMPI calls on a duplicate of
/// MPI_COMM_WORLD) and rank 0 writes the CSV named by the environment variable PG_COMMCOUNT_OUT:
///   rank,stage,function,calls,bytes_sent,bytes_received
/// (world ranks; one row per rank, stage and function with a non-zero count), and prints a summary
/// to stderr (per stage: the largest bytes received by one rank, the most calls by one rank, and
/// the function that received the most bytes over all ranks); PG_COMMCOUNT_QUIET=1 silences it.
///
/// What a byte is. Bytes are data bytes (count x MPI_Type_size), exchanged between different
/// ranks: a rank's messages to itself and its own block of a collective are not counted. MPI_File
/// rows are file traffic (bytes_sent written, bytes_received read), not rank-to-rank traffic.
///
/// Point to point (Send, Ssend, Bsend, Rsend, Isend, Issend, Ibsend, Irsend, Sendrecv,
/// Sendrecv_replace, persistent sends started by Start/Startall): counted exactly at the sender per
/// destination rank; at MPI_Finalize one MPI_Reduce_scatter_block gives each rank the bytes sent to
/// it. So a rank's received bytes appear in the row of the function its senders used (MPI_Isend,
/// MPI_Startall, ...), in the stage the sender was in (stages are collective, so it is the
/// receiver's too). The receive functions (Recv, Irecv, Recv_init, Mrecv, Imrecv) count calls
/// only. Send_init and friends count calls; each Start/Startall of a persistent send counts its
/// bytes in the MPI_Start/MPI_Startall row (PETSc's VecScatter uses persistent requests).
///
/// Collectives (P ranks in the communicator, me this rank, n = count x type size, L = ceil(log2 P)):
///   Barrier, Ibarrier              calls only
///   Bcast, Ibcast                  root sends n (P-1); every other rank receives n
///   Reduce, Ireduce                root receives n L (a binomial tree's root: no rank of the tree
///                                  receives more); the other ranks send n
///   Allreduce, Iallreduce          every rank receives n L and sends n L (recursive doubling; an
///                                  upper bound for large n, where Rabenseifner's needs ~2n)
///   Scan, Exscan, Iscan, Iexscan   every rank receives n L and sends n L (recursive doubling)
///   Reduce_scatter_block, Ireduce_scatter_block (recvcount c per rank)
///                                  receives c (P-1) (the others' contributions to its block),
///                                  sends c (P-1)
///   Reduce_scatter, Ireduce_scatter receives recvcounts[me] (P-1), sends sum of recvcounts[i], i != me
///   Gather(v), Igather(v)          root receives the sum of the others' counts; others send theirs
///   Scatter(v), Iscatter(v)        non-roots receive their recvcount; root sends the others' counts
///   Allgather, Iallgather          receives recvcount (P-1); sends its block (P-1)
///   Allgatherv, Iallgatherv        receives the sum of recvcounts[i], i != me; sends its block (P-1)
///   Alltoall(v,w), Ialltoall(v,w)  receives the sum of its recvcounts from the others; sends the
///                                  sum of its sendcounts to the others
///   Neighbor_alltoall(v), Neighbor_allgather, Ineighbor_alltoallv
///                                  exactly, like point to point: each block to its out-neighbour
///                                  (dist graph, graph or Cartesian topology)
///   (MPI_IN_PLACE: the block the rank would send is taken from the receive arguments.)
///   Collectives on intercommunicators count calls only.
/// One-sided: Put, Rput, Accumulate: bytes to the target, exactly (like point to point); Get, Rget:
/// received by the origin; Get_accumulate and Fetch_and_op: both. The target's side of Get is not
/// counted (it makes no call).
#include <mpi.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CC_MAX_STAGES 128
#define CC_MAX_DEPTH  32
#define CC_NAME_LEN   64

/* every counted function (the MPI_File ones last: file traffic, left out of the summary) */
// clang-format off
#define CC_FUNCS(X) \
  X(Send) X(Ssend) X(Bsend) X(Rsend) X(Isend) X(Issend) X(Ibsend) X(Irsend) X(Sendrecv) X(Sendrecv_replace) \
  X(Send_init) X(Ssend_init) X(Bsend_init) X(Rsend_init) X(Recv_init) X(Start) X(Startall) \
  X(Recv) X(Irecv) X(Mrecv) X(Imrecv) \
  X(Barrier) X(Ibarrier) X(Bcast) X(Ibcast) X(Reduce) X(Ireduce) X(Allreduce) X(Iallreduce) \
  X(Scan) X(Iscan) X(Exscan) X(Iexscan) X(Reduce_scatter_block) X(Ireduce_scatter_block) X(Reduce_scatter) X(Ireduce_scatter) \
  X(Gather) X(Igather) X(Gatherv) X(Igatherv) X(Scatter) X(Iscatter) X(Scatterv) X(Iscatterv) \
  X(Allgather) X(Iallgather) X(Allgatherv) X(Iallgatherv) X(Alltoall) X(Ialltoall) X(Alltoallv) X(Ialltoallv) \
  X(Alltoallw) X(Ialltoallw) X(Neighbor_alltoall) X(Neighbor_alltoallv) X(Ineighbor_alltoallv) X(Neighbor_allgather) \
  X(Put) X(Rput) X(Accumulate) X(Get) X(Rget) X(Get_accumulate) X(Fetch_and_op) \
  X(File_write_at_all) X(File_write_at) X(File_write_all) X(File_write) X(File_read_at_all) X(File_read_at) X(File_read_all) X(File_read)
// clang-format on

#define CC_ENUM(name) CC_##name,
enum { CC_FUNCS(CC_ENUM) CC_NFUNC };
#define CC_NAME(name) "MPI_" #name,
static const char *cc_fname[CC_NFUNC] = {CC_FUNCS(CC_NAME)};

typedef struct {
  uint64_t calls, sent, recv;
} Count;

static Count     cc_count[CC_MAX_STAGES][CC_NFUNC];
static uint64_t *cc_dest[CC_MAX_STAGES][CC_NFUNC]; /* bytes sent to each world rank, allocated on first use */
static char      cc_stage[CC_MAX_STAGES][CC_NAME_LEN] = {"other"};
static int       cc_nstage = 1, cc_stack[CC_MAX_DEPTH], cc_depth = 0, cc_overflow = 0;
static int       cc_rank = 0, cc_size = 1, cc_ready = 0, cc_keyval = MPI_KEYVAL_INVALID;

static int Cur(void) { return cc_depth ? cc_stack[cc_depth - 1] : 0; }

static void Setup(void)
{
  int flag = 0;
  if (cc_ready) return;
  PMPI_Initialized(&flag);
  if (!flag) return;
  PMPI_Comm_rank(MPI_COMM_WORLD, &cc_rank);
  PMPI_Comm_size(MPI_COMM_WORLD, &cc_size);
  cc_ready = 1;
}

static uint64_t Bytes(int count, MPI_Datatype type)
{
  int size = 0;
  if (count <= 0 || type == MPI_DATATYPE_NULL) return 0;
  PMPI_Type_size(type, &size);
  return (uint64_t)count * (uint64_t)size;
}

static int CeilLog2(int p)
{
  int l = 0;
  while ((1 << l) < p) l++;
  return l;
}

/* ---- ranks of a communicator (or of a window's group) as world ranks, cached on the communicator */
static int DeleteMap(MPI_Comm comm, int keyval, void *val, void *extra)
{
  (void)comm, (void)keyval, (void)extra;
  free(val);
  return MPI_SUCCESS;
}

static int *GroupToWorld(MPI_Group g)
{
  MPI_Group world;
  int       n, *in, *out;
  PMPI_Group_size(g, &n);
  in  = malloc(sizeof(int) * (size_t)(n ? n : 1));
  out = malloc(sizeof(int) * (size_t)(n ? n : 1));
  for (int i = 0; i < n; i++) in[i] = i;
  PMPI_Comm_group(MPI_COMM_WORLD, &world);
  PMPI_Group_translate_ranks(g, n, in, world, out);
  PMPI_Group_free(&world);
  free(in);
  return out;
}

/* the world rank of rank r of comm (of the remote group for an intercommunicator); -1 if none */
static int ToWorld(MPI_Comm comm, int r)
{
  int *map = NULL, flag = 0, inter = 0;
  if (r < 0) return -1; /* MPI_PROC_NULL, MPI_ANY_SOURCE */
  if (comm == MPI_COMM_WORLD) return r;
  if (cc_keyval == MPI_KEYVAL_INVALID) PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, DeleteMap, &cc_keyval, NULL);
  PMPI_Comm_get_attr(comm, cc_keyval, &map, &flag);
  if (!flag) {
    MPI_Group g;
    PMPI_Comm_test_inter(comm, &inter);
    if (inter) PMPI_Comm_remote_group(comm, &g);
    else PMPI_Comm_group(comm, &g);
    map = GroupToWorld(g);
    PMPI_Group_free(&g);
    PMPI_Comm_set_attr(comm, cc_keyval, map);
  }
  return map[r] == MPI_UNDEFINED ? -1 : map[r];
}

/* ---- the counters */
static void Call(int f)
{
  Setup();
  cc_count[Cur()][f].calls++;
}

/* bytes to world rank w (not to itself) */
static void ToRank(int f, int w, uint64_t bytes)
{
  int s = Cur();
  if (w < 0 || w == cc_rank || !bytes) return;
  if (!cc_dest[s][f]) cc_dest[s][f] = calloc((size_t)cc_size, sizeof(uint64_t));
  cc_dest[s][f][w] += bytes;
  cc_count[s][f].sent += bytes;
}

static void P2P(int f, int dest, int count, MPI_Datatype type, MPI_Comm comm)
{
  ToRank(f, ToWorld(comm, dest), Bytes(count, type));
}

static void Coll(int f, uint64_t sent, uint64_t recv)
{
  cc_count[Cur()][f].sent += sent;
  cc_count[Cur()][f].recv += recv;
}

static int Intra(MPI_Comm comm, int *rank, int *size)
{
  int inter = 0;
  PMPI_Comm_test_inter(comm, &inter);
  if (inter) return 0;
  PMPI_Comm_rank(comm, rank);
  PMPI_Comm_size(comm, size);
  return 1;
}

/* ---- persistent requests: a small chained hash from the request handle to its send */
typedef struct Persist {
  MPI_Request     req;
  int             world_dest; /* -1: a receive */
  uint64_t        bytes;
  struct Persist *next;
} Persist;
#define CC_NBUCKET 4096
static Persist *cc_persist[CC_NBUCKET];

static unsigned Hash(MPI_Request r)
{
  uintptr_t h = 0;
  memcpy(&h, &r, sizeof(r) < sizeof(h) ? sizeof(r) : sizeof(h));
  return (unsigned)((h >> 4) ^ (h >> 16)) % CC_NBUCKET;
}

static Persist *Find(MPI_Request r)
{
  for (Persist *p = cc_persist[Hash(r)]; p; p = p->next)
    if (p->req == r) return p;
  return NULL;
}

static void Remember(MPI_Request r, int world_dest, uint64_t bytes)
{
  Persist *p = Find(r);
  if (!p) {
    unsigned h    = Hash(r);
    p             = calloc(1, sizeof *p);
    p->req        = r;
    p->next       = cc_persist[h];
    cc_persist[h] = p;
  }
  p->world_dest = world_dest;
  p->bytes      = bytes;
}

static void Forget(MPI_Request r)
{
  for (Persist **pp = &cc_persist[Hash(r)]; *pp; pp = &(*pp)->next)
    if ((*pp)->req == r) {
      Persist *p = *pp;
      *pp        = p->next;
      free(p);
      return;
    }
}

static void StartOne(int f, MPI_Request r)
{
  Persist *p = Find(r);
  if (p && p->world_dest >= 0) ToRank(f, p->world_dest, p->bytes);
}

/* ---- stages: MPI_Pcontrol(1, "name") enters, MPI_Pcontrol(-1) leaves */
int MPI_Pcontrol(const int level, ...)
{
  Setup();
  if (level == 1) {
    va_list     ap;
    const char *name;
    int         s;
    va_start(ap, level);
    name = va_arg(ap, const char *);
    va_end(ap);
    if (!name) name = "unnamed";
    for (s = 0; s < cc_nstage; s++)
      if (!strncmp(cc_stage[s], name, CC_NAME_LEN - 1)) break;
    if (s == cc_nstage) {
      if (cc_nstage == CC_MAX_STAGES) s = 0; /* too many names: counted as "other" */
      else snprintf(cc_stage[cc_nstage++], CC_NAME_LEN, "%s", name);
    }
    if (cc_depth < CC_MAX_DEPTH) cc_stack[cc_depth++] = s;
    else cc_overflow++;
  } else if (level == -1) {
    if (cc_overflow) cc_overflow--;
    else if (cc_depth) cc_depth--;
  }
  return MPI_SUCCESS;
}

/* ---- point to point */
#define SEND_FN(NAME)                                                                             \
  int MPI_##NAME(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) \
  {                                                                                               \
    Call(CC_##NAME);                                                                              \
    P2P(CC_##NAME, dest, count, type, comm);                                                      \
    return PMPI_##NAME(buf, count, type, dest, tag, comm);                                        \
  }
SEND_FN(Send)
SEND_FN(Ssend)
SEND_FN(Bsend)
SEND_FN(Rsend)

#define ISEND_FN(NAME)                                                                                            \
  int MPI_##NAME(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request *r) \
  {                                                                                                               \
    Call(CC_##NAME);                                                                                              \
    P2P(CC_##NAME, dest, count, type, comm);                                                                      \
    return PMPI_##NAME(buf, count, type, dest, tag, comm, r);                                                     \
  }
ISEND_FN(Isend)
ISEND_FN(Issend)
ISEND_FN(Ibsend)
ISEND_FN(Irsend)

#define SEND_INIT_FN(NAME)                                                                                        \
  int MPI_##NAME(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request *r) \
  {                                                                                                               \
    int err;                                                                                                      \
    Call(CC_##NAME);                                                                                              \
    err = PMPI_##NAME(buf, count, type, dest, tag, comm, r);                                                      \
    if (err == MPI_SUCCESS) Remember(*r, ToWorld(comm, dest), Bytes(count, type));                                \
    return err;                                                                                                   \
  }
SEND_INIT_FN(Send_init)
SEND_INIT_FN(Ssend_init)
SEND_INIT_FN(Bsend_init)
SEND_INIT_FN(Rsend_init)

int MPI_Recv_init(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request *r)
{
  int err;
  Call(CC_Recv_init);
  err = PMPI_Recv_init(buf, count, type, source, tag, comm, r);
  if (err == MPI_SUCCESS) Remember(*r, -1, 0);
  return err;
}

int MPI_Start(MPI_Request *r)
{
  Call(CC_Start);
  StartOne(CC_Start, *r);
  return PMPI_Start(r);
}

int MPI_Startall(int n, MPI_Request r[])
{
  Call(CC_Startall);
  for (int i = 0; i < n; i++) StartOne(CC_Startall, r[i]);
  return PMPI_Startall(n, r);
}

int MPI_Request_free(MPI_Request *r)
{
  if (r && *r != MPI_REQUEST_NULL) Forget(*r);
  return PMPI_Request_free(r);
}

int MPI_Recv(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status *st)
{
  Call(CC_Recv);
  return PMPI_Recv(buf, count, type, source, tag, comm, st);
}

int MPI_Irecv(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request *r)
{
  Call(CC_Irecv);
  return PMPI_Irecv(buf, count, type, source, tag, comm, r);
}

int MPI_Mrecv(void *buf, int count, MPI_Datatype type, MPI_Message *m, MPI_Status *st)
{
  Call(CC_Mrecv);
  return PMPI_Mrecv(buf, count, type, m, st);
}

int MPI_Imrecv(void *buf, int count, MPI_Datatype type, MPI_Message *m, MPI_Request *r)
{
  Call(CC_Imrecv);
  return PMPI_Imrecv(buf, count, type, m, r);
}

int MPI_Sendrecv(const void *sbuf, int scount, MPI_Datatype stype, int dest, int stag, void *rbuf, int rcount,
                 MPI_Datatype rtype, int source, int rtag, MPI_Comm comm, MPI_Status *st)
{
  Call(CC_Sendrecv);
  P2P(CC_Sendrecv, dest, scount, stype, comm);
  return PMPI_Sendrecv(sbuf, scount, stype, dest, stag, rbuf, rcount, rtype, source, rtag, comm, st);
}

int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype type, int dest, int stag, int source, int rtag,
                         MPI_Comm comm, MPI_Status *st)
{
  Call(CC_Sendrecv_replace);
  P2P(CC_Sendrecv_replace, dest, count, type, comm);
  return PMPI_Sendrecv_replace(buf, count, type, dest, stag, source, rtag, comm, st);
}

/* ---- collectives */
static void CountBcast(int f, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
  int me, p;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  uint64_t n = Bytes(count, type);
  if (me == root) Coll(f, n * (uint64_t)(p - 1), 0);
  else Coll(f, 0, n);
}

int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
  CountBcast(CC_Bcast, count, type, root, comm);
  return PMPI_Bcast(buf, count, type, root, comm);
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request *r)
{
  CountBcast(CC_Ibcast, count, type, root, comm);
  return PMPI_Ibcast(buf, count, type, root, comm, r);
}

static void CountReduce(int f, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
  int me, p;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  uint64_t n = Bytes(count, type);
  if (me == root) Coll(f, 0, n * (uint64_t)CeilLog2(p));
  else Coll(f, n, 0);
}

int MPI_Reduce(const void *sbuf, void *rbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm)
{
  CountReduce(CC_Reduce, count, type, root, comm);
  return PMPI_Reduce(sbuf, rbuf, count, type, op, root, comm);
}

int MPI_Ireduce(const void *sbuf, void *rbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm,
                MPI_Request *r)
{
  CountReduce(CC_Ireduce, count, type, root, comm);
  return PMPI_Ireduce(sbuf, rbuf, count, type, op, root, comm, r);
}

/* Allreduce, Scan, Exscan: recursive doubling, n L each way */
static void CountDoubling(int f, int count, MPI_Datatype type, MPI_Comm comm)
{
  int me, p;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  uint64_t n = Bytes(count, type) * (uint64_t)CeilLog2(p);
  Coll(f, n, n);
}

#define DOUBLING_FN(NAME, INAME)                                                                        \
  int MPI_##NAME(const void *sbuf, void *rbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)  \
  {                                                                                                     \
    CountDoubling(CC_##NAME, count, type, comm);                                                        \
    return PMPI_##NAME(sbuf, rbuf, count, type, op, comm);                                              \
  }                                                                                                     \
  int MPI_##INAME(const void *sbuf, void *rbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm, \
                  MPI_Request *r)                                                                       \
  {                                                                                                     \
    CountDoubling(CC_##INAME, count, type, comm);                                                       \
    return PMPI_##INAME(sbuf, rbuf, count, type, op, comm, r);                                          \
  }
DOUBLING_FN(Allreduce, Iallreduce)
DOUBLING_FN(Scan, Iscan)
DOUBLING_FN(Exscan, Iexscan)

static void CountReduceScatterBlock(int f, int count, MPI_Datatype type, MPI_Comm comm)
{
  int me, p;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  uint64_t n = Bytes(count, type) * (uint64_t)(p - 1);
  Coll(f, n, n);
}

int MPI_Reduce_scatter_block(const void *sbuf, void *rbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
  CountReduceScatterBlock(CC_Reduce_scatter_block, count, type, comm);
  return PMPI_Reduce_scatter_block(sbuf, rbuf, count, type, op, comm);
}

int MPI_Ireduce_scatter_block(const void *sbuf, void *rbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                              MPI_Request *r)
{
  CountReduceScatterBlock(CC_Ireduce_scatter_block, count, type, comm);
  return PMPI_Ireduce_scatter_block(sbuf, rbuf, count, type, op, comm, r);
}

static void CountReduceScatter(int f, const int counts[], MPI_Datatype type, MPI_Comm comm)
{
  int      me, p;
  uint64_t others = 0;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  for (int i = 0; i < p; i++)
    if (i != me) others += Bytes(counts[i], type);
  Coll(f, others, Bytes(counts[me], type) * (uint64_t)(p - 1));
}

int MPI_Reduce_scatter(const void *sbuf, void *rbuf, const int counts[], MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
  CountReduceScatter(CC_Reduce_scatter, counts, type, comm);
  return PMPI_Reduce_scatter(sbuf, rbuf, counts, type, op, comm);
}

int MPI_Ireduce_scatter(const void *sbuf, void *rbuf, const int counts[], MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                        MPI_Request *r)
{
  CountReduceScatter(CC_Ireduce_scatter, counts, type, comm);
  return PMPI_Ireduce_scatter(sbuf, rbuf, counts, type, op, comm, r);
}

/* Gather(v): counts == NULL for Gather (rcount each) */
static void CountGather(int f, int scount, MPI_Datatype stype, int rcount, const int rcounts[], MPI_Datatype rtype,
                        int root, MPI_Comm comm)
{
  int me, p;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  if (me != root) {
    Coll(f, Bytes(scount, stype), 0);
    return;
  }
  uint64_t r = 0;
  for (int i = 0; i < p; i++)
    if (i != me) r += Bytes(rcounts ? rcounts[i] : rcount, rtype);
  Coll(f, 0, r);
}

int MPI_Gather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
               MPI_Comm comm)
{
  CountGather(CC_Gather, scount, stype, rcount, NULL, rtype, root, comm);
  return PMPI_Gather(sbuf, scount, stype, rbuf, rcount, rtype, root, comm);
}

int MPI_Igather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
                MPI_Comm comm, MPI_Request *r)
{
  CountGather(CC_Igather, scount, stype, rcount, NULL, rtype, root, comm);
  return PMPI_Igather(sbuf, scount, stype, rbuf, rcount, rtype, root, comm, r);
}

int MPI_Gatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, const int rcounts[], const int displs[],
                MPI_Datatype rtype, int root, MPI_Comm comm)
{
  CountGather(CC_Gatherv, scount, stype, 0, rcounts, rtype, root, comm);
  return PMPI_Gatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, root, comm);
}

int MPI_Igatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, const int rcounts[], const int displs[],
                 MPI_Datatype rtype, int root, MPI_Comm comm, MPI_Request *r)
{
  CountGather(CC_Igatherv, scount, stype, 0, rcounts, rtype, root, comm);
  return PMPI_Igatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, root, comm, r);
}

/* Scatter(v): counts == NULL for Scatter (scount each) */
static void CountScatter(int f, int scount, const int scounts[], MPI_Datatype stype, int rcount, MPI_Datatype rtype,
                         int root, MPI_Comm comm)
{
  int me, p;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  if (me != root) {
    Coll(f, 0, Bytes(rcount, rtype));
    return;
  }
  uint64_t s = 0;
  for (int i = 0; i < p; i++)
    if (i != me) s += Bytes(scounts ? scounts[i] : scount, stype);
  Coll(f, s, 0);
}

int MPI_Scatter(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
                MPI_Comm comm)
{
  CountScatter(CC_Scatter, scount, NULL, stype, rcount, rtype, root, comm);
  return PMPI_Scatter(sbuf, scount, stype, rbuf, rcount, rtype, root, comm);
}

int MPI_Iscatter(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
                 MPI_Comm comm, MPI_Request *r)
{
  CountScatter(CC_Iscatter, scount, NULL, stype, rcount, rtype, root, comm);
  return PMPI_Iscatter(sbuf, scount, stype, rbuf, rcount, rtype, root, comm, r);
}

int MPI_Scatterv(const void *sbuf, const int scounts[], const int displs[], MPI_Datatype stype, void *rbuf, int rcount,
                 MPI_Datatype rtype, int root, MPI_Comm comm)
{
  CountScatter(CC_Scatterv, 0, scounts, stype, rcount, rtype, root, comm);
  return PMPI_Scatterv(sbuf, scounts, displs, stype, rbuf, rcount, rtype, root, comm);
}

int MPI_Iscatterv(const void *sbuf, const int scounts[], const int displs[], MPI_Datatype stype, void *rbuf, int rcount,
                  MPI_Datatype rtype, int root, MPI_Comm comm, MPI_Request *r)
{
  CountScatter(CC_Iscatterv, 0, scounts, stype, rcount, rtype, root, comm);
  return PMPI_Iscatterv(sbuf, scounts, displs, stype, rbuf, rcount, rtype, root, comm, r);
}

/* Allgather(v): rcounts == NULL for Allgather */
static void CountAllgather(int f, const void *sbuf, int scount, MPI_Datatype stype, int rcount, const int rcounts[],
                           MPI_Datatype rtype, MPI_Comm comm)
{
  int      me, p;
  uint64_t r = 0, mine;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  for (int i = 0; i < p; i++)
    if (i != me) r += Bytes(rcounts ? rcounts[i] : rcount, rtype);
  mine = sbuf == MPI_IN_PLACE ? Bytes(rcounts ? rcounts[me] : rcount, rtype) : Bytes(scount, stype);
  Coll(f, mine * (uint64_t)(p - 1), r);
}

int MPI_Allgather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                  MPI_Comm comm)
{
  CountAllgather(CC_Allgather, sbuf, scount, stype, rcount, NULL, rtype, comm);
  return PMPI_Allgather(sbuf, scount, stype, rbuf, rcount, rtype, comm);
}

int MPI_Iallgather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                   MPI_Comm comm, MPI_Request *r)
{
  CountAllgather(CC_Iallgather, sbuf, scount, stype, rcount, NULL, rtype, comm);
  return PMPI_Iallgather(sbuf, scount, stype, rbuf, rcount, rtype, comm, r);
}

int MPI_Allgatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, const int rcounts[],
                   const int displs[], MPI_Datatype rtype, MPI_Comm comm)
{
  CountAllgather(CC_Allgatherv, sbuf, scount, stype, 0, rcounts, rtype, comm);
  return PMPI_Allgatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm);
}

int MPI_Iallgatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, const int rcounts[],
                    const int displs[], MPI_Datatype rtype, MPI_Comm comm, MPI_Request *r)
{
  CountAllgather(CC_Iallgatherv, sbuf, scount, stype, 0, rcounts, rtype, comm);
  return PMPI_Iallgatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm, r);
}

/* Alltoall(v,w): per-peer counts and types (NULL arrays: the uniform count/type) */
static void CountAlltoall(int f, const void *sbuf, int scount, const int scounts[], MPI_Datatype stype,
                          const MPI_Datatype stypes[], int rcount, const int rcounts[], MPI_Datatype rtype,
                          const MPI_Datatype rtypes[], MPI_Comm comm)
{
  int      me, p;
  uint64_t s = 0, r = 0;
  Call(f);
  if (!Intra(comm, &me, &p)) return;
  for (int i = 0; i < p; i++) {
    if (i == me) continue;
    uint64_t ri = Bytes(rcounts ? rcounts[i] : rcount, rtypes ? rtypes[i] : rtype);
    r += ri;
    s += sbuf == MPI_IN_PLACE ? ri : Bytes(scounts ? scounts[i] : scount, stypes ? stypes[i] : stype);
  }
  Coll(f, s, r);
}

int MPI_Alltoall(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                 MPI_Comm comm)
{
  CountAlltoall(CC_Alltoall, sbuf, scount, NULL, stype, NULL, rcount, NULL, rtype, NULL, comm);
  return PMPI_Alltoall(sbuf, scount, stype, rbuf, rcount, rtype, comm);
}

int MPI_Ialltoall(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                  MPI_Comm comm, MPI_Request *r)
{
  CountAlltoall(CC_Ialltoall, sbuf, scount, NULL, stype, NULL, rcount, NULL, rtype, NULL, comm);
  return PMPI_Ialltoall(sbuf, scount, stype, rbuf, rcount, rtype, comm, r);
}

int MPI_Alltoallv(const void *sbuf, const int scounts[], const int sdispls[], MPI_Datatype stype, void *rbuf,
                  const int rcounts[], const int rdispls[], MPI_Datatype rtype, MPI_Comm comm)
{
  CountAlltoall(CC_Alltoallv, sbuf, 0, scounts, stype, NULL, 0, rcounts, rtype, NULL, comm);
  return PMPI_Alltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm);
}

int MPI_Ialltoallv(const void *sbuf, const int scounts[], const int sdispls[], MPI_Datatype stype, void *rbuf,
                   const int rcounts[], const int rdispls[], MPI_Datatype rtype, MPI_Comm comm, MPI_Request *r)
{
  CountAlltoall(CC_Ialltoallv, sbuf, 0, scounts, stype, NULL, 0, rcounts, rtype, NULL, comm);
  return PMPI_Ialltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm, r);
}

int MPI_Alltoallw(const void *sbuf, const int scounts[], const int sdispls[], const MPI_Datatype stypes[], void *rbuf,
                  const int rcounts[], const int rdispls[], const MPI_Datatype rtypes[], MPI_Comm comm)
{
  CountAlltoall(CC_Alltoallw, sbuf, 0, scounts, MPI_DATATYPE_NULL, stypes, 0, rcounts, MPI_DATATYPE_NULL, rtypes, comm);
  return PMPI_Alltoallw(sbuf, scounts, sdispls, stypes, rbuf, rcounts, rdispls, rtypes, comm);
}

int MPI_Ialltoallw(const void *sbuf, const int scounts[], const int sdispls[], const MPI_Datatype stypes[], void *rbuf,
                   const int rcounts[], const int rdispls[], const MPI_Datatype rtypes[], MPI_Comm comm, MPI_Request *r)
{
  CountAlltoall(CC_Ialltoallw, sbuf, 0, scounts, MPI_DATATYPE_NULL, stypes, 0, rcounts, MPI_DATATYPE_NULL, rtypes,
                comm);
  return PMPI_Ialltoallw(sbuf, scounts, sdispls, stypes, rbuf, rcounts, rdispls, rtypes, comm, r);
}

int MPI_Barrier(MPI_Comm comm)
{
  Call(CC_Barrier);
  return PMPI_Barrier(comm);
}

int MPI_Ibarrier(MPI_Comm comm, MPI_Request *r)
{
  Call(CC_Ibarrier);
  return PMPI_Ibarrier(comm, r);
}

/* ---- neighbour collectives: the out-neighbours of the topology, in the standard's order */
static int OutNeighbours(MPI_Comm comm, int **out)
{
  int topo = MPI_UNDEFINED, n = 0, me;
  *out = NULL;
  PMPI_Topo_test(comm, &topo);
  PMPI_Comm_rank(comm, &me);
  if (topo == MPI_DIST_GRAPH) {
    int nin, nout, weighted;
    PMPI_Dist_graph_neighbors_count(comm, &nin, &nout, &weighted);
    int *src = malloc(sizeof(int) * (size_t)(nin + 1)), *w = malloc(sizeof(int) * (size_t)(nin + nout + 2));
    *out = malloc(sizeof(int) * (size_t)(nout + 1));
    /* weight arrays (ignored for an unweighted graph) rather than MPI_UNWEIGHTED, which GCC takes
       for a zero-length array */
    PMPI_Dist_graph_neighbors(comm, nin, src, w, nout, *out, w + nin + 1);
    free(src);
    free(w);
    n = nout;
  } else if (topo == MPI_GRAPH) {
    PMPI_Graph_neighbors_count(comm, me, &n);
    *out = malloc(sizeof(int) * (size_t)(n + 1));
    PMPI_Graph_neighbors(comm, me, n, *out);
  } else if (topo == MPI_CART) {
    int nd;
    PMPI_Cartdim_get(comm, &nd);
    *out = malloc(sizeof(int) * (size_t)(2 * nd + 1));
    for (int d = 0; d < nd; d++) PMPI_Cart_shift(comm, d, 1, &(*out)[2 * d], &(*out)[2 * d + 1]);
    n = 2 * nd;
  }
  return n;
}

static void CountNeighbour(int f, int scount, const int scounts[], MPI_Datatype stype, MPI_Comm comm)
{
  int *nb, n;
  Call(f);
  n = OutNeighbours(comm, &nb);
  for (int j = 0; j < n; j++) P2P(f, nb[j], scounts ? scounts[j] : scount, stype, comm);
  free(nb);
}

int MPI_Neighbor_alltoall(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                          MPI_Comm comm)
{
  CountNeighbour(CC_Neighbor_alltoall, scount, NULL, stype, comm);
  return PMPI_Neighbor_alltoall(sbuf, scount, stype, rbuf, rcount, rtype, comm);
}

int MPI_Neighbor_allgather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype,
                           MPI_Comm comm)
{
  CountNeighbour(CC_Neighbor_allgather, scount, NULL, stype, comm);
  return PMPI_Neighbor_allgather(sbuf, scount, stype, rbuf, rcount, rtype, comm);
}

int MPI_Neighbor_alltoallv(const void *sbuf, const int scounts[], const int sdispls[], MPI_Datatype stype, void *rbuf,
                           const int rcounts[], const int rdispls[], MPI_Datatype rtype, MPI_Comm comm)
{
  CountNeighbour(CC_Neighbor_alltoallv, 0, scounts, stype, comm);
  return PMPI_Neighbor_alltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm);
}

int MPI_Ineighbor_alltoallv(const void *sbuf, const int scounts[], const int sdispls[], MPI_Datatype stype, void *rbuf,
                            const int rcounts[], const int rdispls[], MPI_Datatype rtype, MPI_Comm comm, MPI_Request *r)
{
  CountNeighbour(CC_Ineighbor_alltoallv, 0, scounts, stype, comm);
  return PMPI_Ineighbor_alltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm, r);
}

/* ---- one-sided: the target's world rank through the window's group */
static int WinTarget(MPI_Win win, int target)
{
  MPI_Group g;
  int      *map, w;
  if (target < 0) return -1;
  PMPI_Win_get_group(win, &g);
  map = GroupToWorld(g);
  w   = map[target];
  free(map);
  PMPI_Group_free(&g);
  return w == MPI_UNDEFINED ? -1 : w;
}

static void CountRmaToTarget(int f, int count, MPI_Datatype type, int target, MPI_Win win)
{
  Call(f);
  ToRank(f, WinTarget(win, target), Bytes(count, type));
}

static void CountRmaFromTarget(int f, int count, MPI_Datatype type, int target, MPI_Win win)
{
  int w = WinTarget(win, target);
  if (w >= 0 && w != cc_rank) Coll(f, 0, Bytes(count, type));
}

int MPI_Put(const void *obuf, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount,
            MPI_Datatype ttype, MPI_Win win)
{
  CountRmaToTarget(CC_Put, ocount, otype, target, win);
  return PMPI_Put(obuf, ocount, otype, target, tdisp, tcount, ttype, win);
}

int MPI_Rput(const void *obuf, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount,
             MPI_Datatype ttype, MPI_Win win, MPI_Request *r)
{
  CountRmaToTarget(CC_Rput, ocount, otype, target, win);
  return PMPI_Rput(obuf, ocount, otype, target, tdisp, tcount, ttype, win, r);
}

int MPI_Accumulate(const void *obuf, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount,
                   MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
  CountRmaToTarget(CC_Accumulate, ocount, otype, target, win);
  return PMPI_Accumulate(obuf, ocount, otype, target, tdisp, tcount, ttype, op, win);
}

int MPI_Get(void *obuf, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
            MPI_Win win)
{
  Call(CC_Get);
  CountRmaFromTarget(CC_Get, ocount, otype, target, win);
  return PMPI_Get(obuf, ocount, otype, target, tdisp, tcount, ttype, win);
}

int MPI_Rget(void *obuf, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
             MPI_Win win, MPI_Request *r)
{
  Call(CC_Rget);
  CountRmaFromTarget(CC_Rget, ocount, otype, target, win);
  return PMPI_Rget(obuf, ocount, otype, target, tdisp, tcount, ttype, win, r);
}

int MPI_Get_accumulate(const void *obuf, int ocount, MPI_Datatype otype, void *res, int rcount, MPI_Datatype rtype,
                       int target, MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
  CountRmaToTarget(CC_Get_accumulate, ocount, otype, target, win);
  CountRmaFromTarget(CC_Get_accumulate, rcount, rtype, target, win);
  return PMPI_Get_accumulate(obuf, ocount, otype, res, rcount, rtype, target, tdisp, tcount, ttype, op, win);
}

int MPI_Fetch_and_op(const void *obuf, void *res, MPI_Datatype type, int target, MPI_Aint tdisp, MPI_Op op, MPI_Win win)
{
  CountRmaToTarget(CC_Fetch_and_op, 1, type, target, win);
  CountRmaFromTarget(CC_Fetch_and_op, 1, type, target, win);
  return PMPI_Fetch_and_op(obuf, res, type, target, tdisp, op, win);
}

/* ---- MPI-IO: file traffic (written: bytes_sent, read: bytes_received) */
#define FILE_AT_FN(NAME, CONSTBUF, WRITE)                                                                       \
  int MPI_##NAME(MPI_File fh, MPI_Offset off, CONSTBUF void *buf, int count, MPI_Datatype type, MPI_Status *st) \
  {                                                                                                             \
    Call(CC_##NAME);                                                                                            \
    Coll(CC_##NAME, WRITE ? Bytes(count, type) : 0, WRITE ? 0 : Bytes(count, type));                            \
    return PMPI_##NAME(fh, off, buf, count, type, st);                                                          \
  }
#define FILE_FN(NAME, CONSTBUF, WRITE)                                                          \
  int MPI_##NAME(MPI_File fh, CONSTBUF void *buf, int count, MPI_Datatype type, MPI_Status *st) \
  {                                                                                             \
    Call(CC_##NAME);                                                                            \
    Coll(CC_##NAME, WRITE ? Bytes(count, type) : 0, WRITE ? 0 : Bytes(count, type));            \
    return PMPI_##NAME(fh, buf, count, type, st);                                               \
  }
FILE_AT_FN(File_write_at_all, const, 1)
FILE_AT_FN(File_write_at, const, 1)
FILE_AT_FN(File_read_at_all, , 0)
FILE_AT_FN(File_read_at, , 0)
FILE_FN(File_write_all, const, 1)
FILE_FN(File_write, const, 1)
FILE_FN(File_read_all, , 0)
FILE_FN(File_read, , 0)

/* ---- start and end */
int MPI_Init(int *argc, char ***argv)
{
  int err = PMPI_Init(argc, argv);
  Setup();
  return err;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
  int err = PMPI_Init_thread(argc, argv, required, provided);
  Setup();
  return err;
}

static int CompareNames(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Combines the counts and writes the CSV and the summary (collective over MPI_COMM_WORLD). */
static void Report(void)
{
  MPI_Comm  comm;
  int       p = cc_size, me = cc_rank, ns, *lens, *displs, total = 0, nk = 0;
  char     *mine, *all, **names;
  int       gid[CC_MAX_STAGES];
  uint64_t *used, *sendv, *recvk;
  int      *key;

  PMPI_Comm_dup(MPI_COMM_WORLD, &comm);
  /* the union of the stage names of all ranks, sorted: the same global numbering everywhere */
  int mylen = 0;
  for (int s = 0; s < cc_nstage; s++) mylen += (int)strlen(cc_stage[s]) + 1;
  mine = malloc((size_t)mylen);
  for (int s = 0, o = 0; s < cc_nstage; s++) {
    strcpy(mine + o, cc_stage[s]);
    o += (int)strlen(cc_stage[s]) + 1;
  }
  lens   = malloc(sizeof(int) * (size_t)p);
  displs = malloc(sizeof(int) * (size_t)p);
  PMPI_Allgather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, comm);
  for (int i = 0; i < p; i++) {
    displs[i] = total;
    total += lens[i];
  }
  all = malloc((size_t)total);
  PMPI_Allgatherv(mine, mylen, MPI_CHAR, all, lens, displs, MPI_CHAR, comm);
  names = malloc(sizeof(char *) * (size_t)(total + 1));
  ns    = 0;
  for (int o = 0; o < total; o += (int)strlen(all + o) + 1) names[ns++] = all + o;
  qsort(names, (size_t)ns, sizeof(char *), CompareNames);
  {
    int u = 0;
    for (int i = 0; i < ns; i++)
      if (!u || strcmp(names[u - 1], names[i])) names[u++] = names[i];
    ns = u;
  }
  for (int s = 0; s < cc_nstage; s++)
    for (int g = 0; g < ns; g++)
      if (!strcmp(cc_stage[s], names[g])) gid[s] = g;

  /* the (stage, function) pairs with per-destination bytes on any rank; one reduce-scatter */
  used = calloc((size_t)ns * CC_NFUNC, sizeof(uint64_t));
  for (int s = 0; s < cc_nstage; s++)
    for (int f = 0; f < CC_NFUNC; f++)
      if (cc_dest[s][f]) used[gid[s] * CC_NFUNC + f] = 1;
  PMPI_Allreduce(MPI_IN_PLACE, used, ns * CC_NFUNC, MPI_UINT64_T, MPI_MAX, comm);
  key = malloc(sizeof(int) * (size_t)(ns * CC_NFUNC + 1));
  for (int i = 0; i < ns * CC_NFUNC; i++)
    if (used[i]) key[nk++] = i;
  sendv = calloc((size_t)p * (size_t)(nk ? nk : 1), sizeof(uint64_t));
  recvk = calloc((size_t)(nk ? nk : 1), sizeof(uint64_t));
  for (int s = 0; s < cc_nstage; s++)
    for (int f = 0; f < CC_NFUNC; f++) {
      if (!cc_dest[s][f]) continue;
      int k = 0;
      while (key[k] != gid[s] * CC_NFUNC + f) k++;
      for (int d = 0; d < p; d++) sendv[(size_t)d * nk + k] += cc_dest[s][f][d];
    }
  if (nk) PMPI_Reduce_scatter_block(sendv, recvk, nk, MPI_UINT64_T, MPI_SUM, comm);

  /* this rank's rows, by global stage */
  Count *rows = calloc((size_t)ns * CC_NFUNC, sizeof(Count));
  for (int s = 0; s < cc_nstage; s++)
    for (int f = 0; f < CC_NFUNC; f++) {
      Count *c = &rows[gid[s] * CC_NFUNC + f];
      c->calls += cc_count[s][f].calls;
      c->sent += cc_count[s][f].sent;
      c->recv += cc_count[s][f].recv;
    }
  for (int k = 0; k < nk; k++) rows[key[k]].recv += recvk[k];

  size_t cap = 256, len = 0;
  char  *text = malloc(cap);
  text[0]     = 0;
  for (int g = 0; g < ns; g++)
    for (int f = 0; f < CC_NFUNC; f++) {
      Count *c = &rows[g * CC_NFUNC + f];
      if (!c->calls && !c->sent && !c->recv) continue;
      if (len + 256 + strlen(names[g]) > cap) text = realloc(text, cap = 2 * cap + strlen(names[g]) + 256);
      len += (size_t)snprintf(text + len, cap - len, "%d,%s,%s,%llu,%llu,%llu\n", me, names[g], cc_fname[f],
                              (unsigned long long)c->calls, (unsigned long long)c->sent, (unsigned long long)c->recv);
    }
  int   tlen = (int)len, *tl = NULL, *td = NULL, ttot = 0;
  char *tall = NULL;
  if (me == 0) {
    tl = malloc(sizeof(int) * (size_t)p);
    td = malloc(sizeof(int) * (size_t)p);
  }
  PMPI_Gather(&tlen, 1, MPI_INT, tl, 1, MPI_INT, 0, comm);
  if (me == 0) {
    for (int i = 0; i < p; i++) {
      td[i] = ttot;
      ttot += tl[i];
    }
    tall = malloc((size_t)ttot + 1);
  }
  PMPI_Gatherv(text, tlen, MPI_CHAR, tall, tl, td, MPI_CHAR, 0, comm);
  const char *path = getenv("PG_COMMCOUNT_OUT");
  if (me == 0 && path && *path) {
    FILE *fp = fopen(path, "w");
    if (fp) {
      fputs("rank,stage,function,calls,bytes_sent,bytes_received\n", fp);
      fwrite(tall, 1, (size_t)ttot, fp);
      fclose(fp);
    } else fprintf(stderr, "commcount: error: cannot write %s\n", path);
  }

  /* summary: per stage the largest bytes received by one rank (network only), the most calls, and
     the function that received the most bytes over all ranks */
  uint64_t *loc = calloc((size_t)ns * 2, sizeof(uint64_t)), *mx = calloc((size_t)ns * 2, sizeof(uint64_t));
  uint64_t *fs   = calloc((size_t)ns * CC_NFUNC, sizeof(uint64_t)),
           *fsum = calloc((size_t)ns * CC_NFUNC, sizeof(uint64_t));
  for (int g = 0; g < ns; g++)
    for (int f = 0; f < CC_NFUNC; f++) {
      const Count *c = &rows[g * CC_NFUNC + f];
      if (f >= CC_File_write_at_all) continue; /* file traffic */
      loc[2 * g] += c->recv;
      loc[2 * g + 1] += c->calls;
      fs[g * CC_NFUNC + f] = c->recv;
    }
  PMPI_Reduce(loc, mx, 2 * ns, MPI_UINT64_T, MPI_MAX, 0, comm);
  PMPI_Reduce(fs, fsum, ns * CC_NFUNC, MPI_UINT64_T, MPI_SUM, 0, comm);
  const char *quiet = getenv("PG_COMMCOUNT_QUIET");
  if (me == 0 && !(quiet && *quiet == '1')) {
    fprintf(
      stderr,
      "commcount: %d rank%s; per stage: largest bytes received by one rank, most calls by one rank, function receiving the most%s%s\n",
      p, p > 1 ? "s" : "", path ? "; rows in " : "", path ? path : "");
    for (int g = 0; g < ns; g++) {
      int best = -1;
      for (int f = 0; f < CC_NFUNC; f++)
        if (fsum[g * CC_NFUNC + f] && (best < 0 || fsum[g * CC_NFUNC + f] > fsum[g * CC_NFUNC + best])) best = f;
      fprintf(stderr, "commcount:   %-14s %14llu B %10llu calls  %s\n", names[g], (unsigned long long)mx[2 * g],
              (unsigned long long)mx[2 * g + 1], best >= 0 ? cc_fname[best] : "-");
    }
  }
  free(loc), free(mx), free(fs), free(fsum), free(rows), free(text), free(tl), free(td), free(tall);
  free(used), free(key), free(sendv), free(recvk), free(names), free(all), free(lens), free(displs), free(mine);
  PMPI_Comm_free(&comm);
}

int MPI_Finalize(void)
{
  Setup();
  if (cc_ready) Report();
  for (int s = 0; s < CC_MAX_STAGES; s++)
    for (int f = 0; f < CC_NFUNC; f++) free(cc_dest[s][f]);
  if (cc_keyval != MPI_KEYVAL_INVALID) PMPI_Comm_free_keyval(&cc_keyval);
  return PMPI_Finalize();
}
