/// \file
/// Geodesic distances to the outlet face and the mean geodesic tortuosity (definitions in
/// geodesic.h), on the slabs.
///
/// Algorithm. Multi-source shortest paths from the outlet face with Dial's bucket queue: buckets of
/// width w_min (the shortest step) are exact, because a step adds at least w_min, so a voxel never
/// improves another voxel of its own bucket; the queue costs O(1) per voxel instead of a heap's
/// O(log n). Every rank runs it on its slab, then each rank sends its two neighbours only the voxels
/// of its boundary planes whose distance dropped since it last sent them ((index, value) pairs, or
/// the whole plane when that is smaller), and restarts from the ghost voxels that the received
/// values lower, until no distance changes anywhere (an allreduce per round). A round only touches
/// and sends what changed, so a path that crosses slab faces k times costs k cheap rounds, not k
/// full sweeps, and the bytes a rank receives are the changes of its two neighbour planes: flat in
/// the number of ranks (measured: benchmarks/README.md, communication).
///
/// The wave. Along z the outlet lies on the last rank, and the distances would reach the first rank
/// only after one round per slab with all other ranks idle: P rounds in series. Instead the z
/// problem runs on the transposed volume (one all-to-all of the uint8 labels, N bytes, making z
/// local to every rank: slabs along x). Then every axis has its path axis inside the planes, each
/// rank works on its own slab from the first round, and only lateral meanders cross slab faces.
/// Locality: every axis is solved as the y axis of its layout (x by swapping x and y inside each
/// plane, z as y' of the transposed volume [x][z][y]), because a front that advances along y
/// visits contiguous rows, while one advancing along x touches a new cache line per voxel
/// (measured 2.3 times slower at 300^3).
///
/// Communication per axis and rank: the changed boundary voxels (8 bytes each; the first round
/// sends about one plane of floats each way) and one allreduce per round; along z, in addition, the
/// transpose of the labels (the slab's N/P bytes sent and received). In the transposed layout the
/// exchanged planes are y-z planes (ny nz voxels): on a domain elongated along z (weak scaling
/// that grows nz with the ranks) they grow with nz, and with them the bytes of the z problem; a
/// wave through the z-slabs instead would keep the bytes flat but run the ranks in series.
/// Threads. A rank's planes are split once more, into one lane per thread (at most one per
/// plane), and each lane is searched exactly like a slab of its own: its own padded distances with
/// two ghost planes, bucket ring and seeds, in its own thread. After each round's searches the
/// ranks exchange their outer planes (the first lane's first plane, the last lane's last plane;
/// MPI from the calling thread only, MPI_THREAD_FUNNELED) and the lanes their inner planes in
/// shared memory: every lane copies its neighbours' boundary planes, then seeds its own planes
/// from them (reads, then writes, separated by a barrier: no lane writes another's memory). The
/// distances are the fixed point of the same equations whatever the split, and the inlet is
/// summed in plane order, so the result is bit-identical at any thread count (test_pores). The
/// lanes' queue counters sit on distinct cache lines (measured: two threads shared one line and
/// ran 1.2-1.5 times faster than one; apart, 1.95 times, as two ranks).
/// Memory: the float distances with two ghost planes per lane (4 bytes per voxel; voxels out of
/// play hold -1, so no mask is needed), along z the transposed labels and the all-to-all's send
/// and receive buffers (3 bytes per voxel), and the bucket queue (8 bytes per frontier voxel).
/// Cost: each phase voxel is settled about once per round that reaches it, with 26 neighbour
/// tests.
#include <plurigauss/geodesic.h>

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t *i; /* malloc'd: pushed from inside the threads' searches */
  int64_t  n, cap;
} Queue;

/* One thread's share of a rank's planes, searched as a slab of its own (a lane): its padded
 * distances with a ghost plane below and above, what its ghost planes received so far, the
 * neighbouring lanes' boundary planes of this round, its seeds and its bucket ring. */
typedef struct {
  int    z0, nzl; /* first plane (of the rank's slab) and number of planes */
  float *dist;    /* (nzl + 2) padded planes; -1 out of play */
  float *gv;      /* 2 planes: distances received so far for the lower and the upper ghost plane */
  float *in;      /* 2 planes: the lower lane's last and the upper lane's first plane this round */
  Queue  seeds;
  Queue *bucket;  /* nbucket queues */
  char   pad[64]; /* lanes are written by different threads: not on one cache line */
} Lane;

#define LANE_GAP 4 /* unused queues between two lanes' bucket rings: their counters on distinct cache lines */

struct PgGeodesic_private {
  PgGrid     grid;
  PgGrid_s   tgrid;              /* layout for z: x' = y, y' = z, z' = x (all-to-all; slabs along x) */
  PgGrid_s   xgrid;              /* layout for x: x' = y, y' = x, z' = z (transposed in each plane) */
  ptrdiff_t *ttable;             /* the slab table of tgrid */
  uint8_t   *tv, *tsend, *trecv; /* transposed labels, the all-to-all's send and receive buffers */
  uint8_t   *xv;                 /* labels with x and y swapped in each plane */
  int       *scount, *sdispl, *rcount, *rdispl, *xstart, *xcount;
  float     *buf;   /* the lanes' padded distances, one after the other */
  float     *ghost; /* the lanes' gv and in planes (4 planes per lane) */
  size_t     buf_len, ghost_len;
  Lane      *lane;   /* maxlane lanes: the rank's threads */
  Queue     *bucket; /* maxlane rings of nbucket queues, LANE_GAP apart */
  int        maxlane, nbucket;
};

/* Appends i; 0 on success, 1 when memory ran out (called inside the threads: plain C). */
static int QueuePush(Queue *q, int64_t i)
{
  if (q->n == q->cap) {
    const int64_t cap = q->cap > 512 ? 2 * q->cap : 1024;
    int64_t      *p   = (int64_t *)realloc(q->i, (size_t)cap * sizeof(int64_t));
    if (!p) return 1;
    q->i   = p;
    q->cap = cap;
  }
  q->i[q->n++] = i;
  return 0;
}

PetscErrorCode PgGeodesicCreate(PgGrid grid, PgGeodesic *geo)
{
  PgGeodesic g;
  const int  P = grid->size, nx = (int)grid->n[0];

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&g));
  g->grid = grid;
  /* the transposed layout: x split in near-equal blocks, as many ranks as there are x-planes */
  PetscCall(PetscMalloc6(P, &g->scount, P, &g->sdispl, P, &g->rcount, P, &g->rdispl, P, &g->xstart, P, &g->xcount));
  for (int q = 0, s = 0; q < P; q++) {
    g->xcount[q] = nx / P + (q < nx % P);
    g->xstart[q] = s;
    s += g->xcount[q];
  }
  g->tgrid             = *grid;
  g->tgrid.n[0]        = grid->n[1];
  g->tgrid.n[1]        = grid->n[2];
  g->tgrid.n[2]        = grid->n[0];
  g->tgrid.voxel_um[0] = grid->voxel_um[1];
  g->tgrid.voxel_um[1] = grid->voxel_um[2];
  g->tgrid.voxel_um[2] = grid->voxel_um[0];
  g->tgrid.nz_local    = g->xcount[grid->rank];
  g->tgrid.z_start     = g->xstart[grid->rank];
  PetscCall(PgGridSetSlabs(&g->tgrid, &g->ttable));
  g->xgrid             = *grid;
  g->xgrid.n[0]        = grid->n[1];
  g->xgrid.n[1]        = grid->n[0];
  g->xgrid.voxel_um[0] = grid->voxel_um[1];
  g->xgrid.voxel_um[1] = grid->voxel_um[0];
  g->maxlane           = PetscMax(grid->threads, 1);
  PetscCall(PetscCalloc1(g->maxlane, &g->lane));
  *geo = g;
  PetscFunctionReturn(0);
}

PetscErrorCode PgGeodesicDestroy(PgGeodesic *geo)
{
  PgGeodesic g = *geo;

  PetscFunctionBeginUser;
  if (!g) PetscFunctionReturn(0);
  PetscCall(PetscFree6(g->scount, g->sdispl, g->rcount, g->rdispl, g->xstart, g->xcount));
  PetscCall(PetscFree(g->ttable));
  PetscCall(PetscFree3(g->tv, g->tsend, g->trecv));
  PetscCall(PetscFree(g->xv));
  PetscCall(PetscFree(g->buf));
  PetscCall(PetscFree(g->ghost));
  for (int t = 0; t < g->maxlane; t++) free(g->lane[t].seeds.i);
  for (int b = 0; g->bucket && b < g->maxlane * (g->nbucket + LANE_GAP); b++) free(g->bucket[b].i);
  PetscCall(PetscFree(g->bucket));
  PetscCall(PetscFree(g->lane));
  PetscCall(PetscFree(*geo));
  PetscFunctionReturn(0);
}

/* The labels on the transposed layout: rank q receives x in its block, as [x][y][z]. */
static PetscErrorCode Transpose(PgGeodesic geo, const uint8_t *v)
{
  const PgGrid     g = geo->grid;
  const int        P = g->size, nx = (int)g->n[0], ny = (int)g->n[1], nz = (int)g->n[2];
  const int        nzl = (int)g->nz_local;
  const size_t     nt  = (size_t)geo->tgrid.nz_local * (size_t)ny * (size_t)nz;
  const ptrdiff_t *zs  = g->slab_start;

  PetscFunctionBeginUser;
  PetscCheck((double)PgGridLocalVoxels(g) < 2147483647.0 && (double)nt < 2147483647.0, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "geodesic: a slab of more than 2^31 voxels per rank is not supported by the transpose");
  if (!geo->tv)
    PetscCall(PetscMalloc3(PetscMax(nt, 1), &geo->tv, PetscMax(PgGridLocalVoxels(g), 1), &geo->tsend, PetscMax(nt, 1),
                           &geo->trecv));
  /* pack: for rank q, [x in q's block][zl][y]; each plane transposed in 32 x 32 tiles (reading
     columns of y one voxel at a time would touch a cache line per voxel) */
  int64_t *xoff;
  PetscCall(PetscMalloc1(g->n[0], &xoff));
  for (int q = 0, off = 0; q < P; q++) {
    geo->sdispl[q] = off;
    geo->scount[q] = geo->xcount[q] * ny * nzl;
    for (int xl = 0; xl < geo->xcount[q]; xl++) xoff[geo->xstart[q] + xl] = off + (int64_t)xl * nzl * ny;
    off += geo->scount[q];
  }
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (int zl = 0; zl < nzl; zl++) {
    const uint8_t *in = v + PgGridIndex(g, zl, 0, 0);
    for (int yb = 0; yb < ny; yb += 32)
      for (int xb = 0; xb < nx; xb += 32)
        for (int x = xb; x < PetscMin(xb + 32, nx); x++) {
          uint8_t *o = geo->tsend + xoff[x] + (int64_t)zl * ny;
          for (int y = yb; y < PetscMin(yb + 32, ny); y++) o[y] = in[(size_t)y * nx + x];
        }
  }
  PetscCall(PetscFree(xoff));
  for (int p = 0, off = 0; p < P; p++) {
    geo->rdispl[p] = off;
    geo->rcount[p] = (int)(geo->tgrid.nz_local * ny * (zs[p + 1] - zs[p]));
    off += geo->rcount[p];
  }
  /* received as [x][z] rows of y from each sender's z-range; placed into tv = [x][z][y] */
  uint8_t *recv = geo->trecv;
  PetscCallMPI(MPI_Alltoallv(geo->tsend, geo->scount, geo->sdispl, MPI_UINT8_T, recv, geo->rcount, geo->rdispl,
                             MPI_UINT8_T, g->comm));
  const int nxl = (int)geo->tgrid.nz_local;
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (int xl = 0; xl < nxl; xl++)
    for (int p = 0; p < P; p++)
      memcpy(geo->tv + ((size_t)xl * nz + zs[p]) * ny, recv + geo->rdispl[p] + (size_t)xl * (zs[p + 1] - zs[p]) * ny,
             (size_t)(zs[p + 1] - zs[p]) * ny);
  PetscFunctionReturn(0);
}

/* The labels with x and y swapped in every plane (x local: the path axis becomes y). */
static PetscErrorCode TransposeXY(PgGeodesic geo, const uint8_t *v)
{
  const PgGrid g  = geo->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1];
  const size_t n = PgGridLocalVoxels(g), plane = PgGridPlane(g);

  PetscFunctionBeginUser;
  if (!geo->xv) PetscCall(PetscMalloc1(PetscMax(n, 1), &geo->xv));
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++) {
    const uint8_t *in = v + (size_t)zl * plane;
    uint8_t       *o  = geo->xv + (size_t)zl * plane;
    for (int yb = 0; yb < ny; yb += 32) /* 32 x 32 tiles */
      for (int xb = 0; xb < nx; xb += 32)
        for (int y = yb; y < PetscMin(yb + 32, ny); y++)
          for (int x = xb; x < PetscMin(xb + 32, nx); x++) o[(size_t)x * ny + y] = in[(size_t)y * nx + x];
  }
  PetscFunctionReturn(0);
}

/* The search runs on padded planes: (nx + 2) x (ny + 2) per plane, a ghost plane below and above,
 * a border all around the owned voxels, so a neighbour needs no bounds test. Voxels out of play
 * (not of the phase, borders, ghosts) hold -1, which no path length undercuts: a relaxation is the
 * one comparison nd < dist[j], with no mask to read (the received ghost distances live apart).
 * The neighbourhood is the same for every lane. */
typedef struct {
  int64_t off[26];
  int     dz[26];
  float   w[26];
  double  inv_wmin;
  int     nbucket;
} Ctx;

static inline int64_t BucketOf(const Ctx *c, float d) { return (int64_t)((double)d * c->inv_wmin); }

/* Relaxes the 26 neighbours of padded voxel i (distance d); improved ones go to their bucket.
 * Plain C (runs in the lanes' threads): 1 when memory ran out. */
static inline int Relax(Lane *ln, const Ctx *c, int64_t i, float d, int64_t *pushed)
{
  for (int k = 0; k < 26; k++) {
    const int64_t j  = i + c->off[k];
    const float   nd = d + c->w[k];
    if (nd < ln->dist[j]) { /* false for -1: out of play */
      ln->dist[j] = nd;
      if (QueuePush(&ln->bucket[BucketOf(c, nd) % c->nbucket], j)) return 1;
      (*pushed)++;
    }
  }
  return 0;
}

static int CompareSeed(const void *a, const void *b, void *ctx)
{
  const float *dist = (const float *)ctx, da = dist[*(const int64_t *)a], db = dist[*(const int64_t *)b];
  return (da > db) - (da < db);
}

/* Dial's algorithm in one lane from its seeds (padded indices whose distance was just lowered).
 * Plain C (one per thread): 1 when memory ran out. */
static int Propagate(Lane *ln, const Ctx *c)
{
  Queue   *s  = &ln->seeds;
  int64_t  sp = 0, pending = 0, cur = 0;
  int64_t *key;

  if (!s->n) return 0;
  qsort_r(s->i, (size_t)s->n, sizeof(int64_t), CompareSeed, ln->dist);
  if (!(key = (int64_t *)malloc((size_t)s->n * sizeof(int64_t)))) return 1;
  for (int64_t q = 0; q < s->n; q++) key[q] = BucketOf(c, ln->dist[s->i[q]]);
  while (sp < s->n || pending > 0) {
    if (pending == 0) cur = key[sp];
    for (; sp < s->n && key[sp] <= cur; sp++) {
      const int64_t j = s->i[sp], b = BucketOf(c, ln->dist[j]);
      if (b < cur) continue; /* improved meanwhile and already settled */
      if (QueuePush(&ln->bucket[b % c->nbucket], j)) goto oom;
      pending++;
    }
    Queue *q = &ln->bucket[cur % c->nbucket];
    /* first in, first out: the front keeps roughly the memory order it started in */
    for (int64_t h = 0; h < q->n; h++) {
      const int64_t i = q->i[h];
      const float   d = ln->dist[i];
      pending--;
      if (BucketOf(c, d) != cur) continue; /* stale entry: improved into an earlier bucket */
      if (Relax(ln, c, i, d, &pending)) goto oom;
    }
    q->n = 0;
    cur++;
  }
  s->n = 0;
  free(key);
  return 0;
oom:
  free(key);
  return 1;
}

/* A distance d received for voxel q of a lane's ghost plane (side 0 below, 1 above): when it
 * lowers what that ghost voxel had, the adjacent owned voxels it lowers become seeds. Plain C. */
static int SeedFromGhost(Lane *ln, const Ctx *c, int side, int64_t pplane, int64_t q, float d)
{
  float        *gv    = ln->gv + side * pplane;
  const int64_t ghost = side ? (int64_t)(ln->nzl + 1) * pplane : 0;
  const int     dz    = side ? -1 : 1;

  if (!(d >= 0 && d < gv[q])) return 0;
  gv[q] = d;
  for (int k = 0; k < 26; k++) {
    if (c->dz[k] != dz) continue;
    const int64_t j  = ghost + q + c->off[k];
    const float   nd = d + c->w[k];
    if (nd < ln->dist[j]) {
      ln->dist[j] = nd;
      if (QueuePush(&ln->seeds, j)) return 1;
    }
  }
  return 0;
}

/* The message of one boundary plane own to a neighbouring rank: the voxels whose distance dropped
 * since it was last sent (was), as (index, value) pairs, or the whole plane when that is smaller;
 * was is updated. */
static PetscErrorCode PackChanges(const float *own, float *was, int64_t pplane, int64_t px, char **msg, int *len)
{
  int32_t n = 0;

  PetscFunctionBeginUser;
  for (int64_t q = px; q < pplane - px; q++) n += own[q] >= 0 && own[q] < was[q];
  const int     dense = (int64_t)n * 8 >= (pplane - 2 * px) * 4;
  const int64_t bytes = 4 + (dense ? (pplane - 2 * px) * 4 : (int64_t)n * 8);
  PetscCheck(bytes <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "geodesic: a ghost message of %" PRId64 " bytes exceeds one MPI message", bytes);
  PetscCall(PetscMalloc1(bytes, msg));
  ((int32_t *)*msg)[0] = dense ? -1 : n;
  if (dense) PetscCall(PetscArraycpy((float *)(*msg + 4), own + px, pplane - 2 * px));
  else {
    char *o = *msg + 4;
    for (int64_t q = px; q < pplane - px; q++)
      if (own[q] >= 0 && own[q] < was[q]) {
        const int32_t i = (int32_t)q;
        PetscCall(PetscMemcpy(o, &i, 4));
        PetscCall(PetscMemcpy(o + 4, &own[q], 4));
        o += 8;
      }
  }
  PetscCall(PetscArraycpy(was, own, pplane));
  *len = (int)bytes;
  PetscFunctionReturn(0);
}

/* One round of the ghost exchange between ranks: the rank's first lane sends its first owned
 * plane to the rank below, its last lane its last owned plane to the rank above, only what
 * changed (PackChanges); what arrives restarts the search in the adjacent owned plane. */
#define TAG_GHOST 91
static PetscErrorCode ExchangeRanks(const PgGrid_s *g, const Ctx *c, Lane *lane, int nlane, int64_t pplane, int64_t px,
                                    float *sent[2])
{
  const int   nb[2]  = {g->rank > 0 ? g->rank - 1 : -1, g->rank + 1 < g->nowners ? g->rank + 1 : -1};
  Lane       *end[2] = {&lane[0], &lane[nlane > 0 ? nlane - 1 : 0]};
  char       *msg[2] = {NULL, NULL};
  MPI_Request req[2];
  int         nreq = 0;

  PetscFunctionBeginUser;
  if (nlane == 0) PetscFunctionReturn(0);
  for (int side = 0; side < 2; side++) { /* 0: first owned plane to the rank below; 1: last to the one above */
    int bytes = 0;
    if (nb[side] < 0) continue;
    PetscCall(PackChanges(end[side]->dist + (side ? (int64_t)end[side]->nzl : 1) * pplane, sent[side], pplane, px,
                          &msg[side], &bytes));
    PetscCallMPI(MPI_Isend(msg[side], bytes, MPI_BYTE, nb[side], TAG_GHOST, g->comm, &req[nreq++]));
  }
  for (int side = 0; side < 2; side++) { /* 0: from below into the lower ghost plane; 1: from above */
    MPI_Status st;
    int        bytes, err = 0;
    char      *in;
    if (nb[side] < 0) continue;
    PetscCallMPI(MPI_Probe(nb[side], TAG_GHOST, g->comm, &st));
    PetscCallMPI(MPI_Get_count(&st, MPI_BYTE, &bytes));
    PetscCall(PetscMalloc1(bytes, &in));
    PetscCallMPI(MPI_Recv(in, bytes, MPI_BYTE, nb[side], TAG_GHOST, g->comm, MPI_STATUS_IGNORE));
    const int32_t n = ((const int32_t *)in)[0];
    const int64_t m = n < 0 ? pplane - 2 * px : n;
    for (int64_t e = 0; e < m && !err; e++) {
      int32_t q;
      float   d;
      if (n < 0) {
        q = (int32_t)(px + e);
        PetscCall(PetscMemcpy(&d, in + 4 + 4 * e, 4));
      } else {
        PetscCall(PetscMemcpy(&q, in + 4 + 8 * e, 4));
        PetscCall(PetscMemcpy(&d, in + 8 + 8 * e, 4));
      }
      err = SeedFromGhost(end[side], c, side, pplane, q, d);
    }
    PetscCall(PetscFree(in));
    PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's seeds");
  }
  PetscCallMPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
  PetscCall(PetscFree(msg[0]));
  PetscCall(PetscFree(msg[1]));
  PetscFunctionReturn(0);
}

/* One round of the exchange between the lanes of a rank, in shared memory: every lane copies its
 * neighbouring lanes' boundary planes (all lanes only read), then seeds its own planes from them
 * (each lane writes only its own). */
static PetscErrorCode ExchangeLanes(const Ctx *c, Lane *lane, int nlane, int64_t pplane, int64_t px)
{
  int err = 0;

  PetscFunctionBeginUser;
  if (nlane < 2) PetscFunctionReturn(0);
#pragma omp parallel num_threads(nlane) reduction(| : err)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int t = tid; t < nlane; t += nt) {
      if (t > 0)
        memcpy(lane[t].in, lane[t - 1].dist + (int64_t)lane[t - 1].nzl * pplane, (size_t)pplane * sizeof(float));
      if (t < nlane - 1) memcpy(lane[t].in + pplane, lane[t + 1].dist + pplane, (size_t)pplane * sizeof(float));
    }
#pragma omp barrier
    for (int t = tid; t < nlane; t += nt)
      for (int side = 0; side < 2; side++) {
        if (side ? t == nlane - 1 : t == 0) continue;
        for (int64_t q = px; q < pplane - px && !err; q++)
          err = SeedFromGhost(&lane[t], c, side, pplane, q, lane[t].in[side * pplane + q]);
      }
  }
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's seeds");
  PetscFunctionReturn(0);
}

/* The lanes of a solve: the rank's planes split in near-equal blocks, one per thread (at most
 * one per plane); their padded distances, ghost records and neighbour planes, grown when needed
 * (the layouts of the three axes have different planes). Returns the number of lanes. */
static PetscErrorCode SetLanes(PgGeodesic geo, int nzl, int64_t pplane, int *nlane)
{
  const int    L     = PetscMin(geo->maxlane, nzl);
  const size_t need  = (size_t)pplane * (size_t)(nzl + 2 * L);
  const size_t gneed = 4 * (size_t)pplane * (size_t)L;

  PetscFunctionBeginUser;
  if (need > geo->buf_len) {
    PetscCall(PetscFree(geo->buf));
    PetscCall(PetscMalloc1(need, &geo->buf));
    geo->buf_len = need;
  }
  if (gneed > geo->ghost_len) {
    PetscCall(PetscFree(geo->ghost));
    PetscCall(PetscMalloc1(gneed, &geo->ghost));
    geo->ghost_len = gneed;
  }
  for (int t = 0, z0 = 0; t < L; t++) {
    Lane *ln = &geo->lane[t];
    ln->z0   = z0;
    ln->nzl  = nzl * (t + 1) / L - z0;
    ln->dist = geo->buf + (size_t)pplane * (size_t)(z0 + 2 * t);
    ln->gv   = geo->ghost + 4 * (size_t)pplane * (size_t)t;
    ln->in   = ln->gv + 2 * pplane;
    z0 += ln->nzl;
  }
  *nlane = L;
  PetscFunctionReturn(0);
}

/* The 26 neighbours in the padded layout (rows px, planes pplane apart): offsets, z steps and
 * lengths (um); *wmin and *wmax the shortest and longest. */
static void Neighbours(Ctx *c, const PgGrid_s *g, int64_t pplane, int64_t px, double *wmin, double *wmax)
{
  int k = 0;

  for (int dz = -1; dz <= 1; dz++)
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++) {
        if (!dx && !dy && !dz) continue;
        const double l = sqrt(dx * dx * g->voxel_um[0] * g->voxel_um[0] + dy * dy * g->voxel_um[1] * g->voxel_um[1] +
                              dz * dz * g->voxel_um[2] * g->voxel_um[2]);
        c->off[k]      = dz * pplane + dy * px + dx;
        c->dz[k]       = dz;
        c->w[k]        = (float)l;
        *wmin          = PetscMin(*wmin, l);
        *wmax          = PetscMax(*wmax, l);
        k++;
      }
  c->inv_wmin = 1.0 / *wmin;
}

/* The bucket rings of the lanes, allocated at the first solve (the ring's length depends only on
 * the voxel's aspect, the same for every layout). */
static PetscErrorCode SetBuckets(PgGeodesic geo, Ctx *c, double wmin, double wmax)
{
  PetscFunctionBeginUser;
  if (!geo->bucket) {
    geo->nbucket = (int)floor(wmax / wmin) + 2;
    PetscCall(PetscCalloc1((size_t)geo->maxlane * (size_t)(geo->nbucket + LANE_GAP), &geo->bucket));
  }
  PetscCheck(geo->nbucket >= (int)floor(wmax / wmin) + 2, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "geodesic: bucket ring too small");
  c->nbucket = geo->nbucket;
  for (int t = 0; t < geo->maxlane; t++)
    geo->lane[t].bucket = geo->bucket + (size_t)t * (size_t)(geo->nbucket + LANE_GAP);
  PetscFunctionReturn(0);
}

/* A lane's distances from the labels: INFINITY in the phase, -1 elsewhere; the phase voxels of the
 * outlet face y = ny-1 at 0 and seeded. Plain C: 1 when memory ran out. */
static int LaneStart(Lane *ln, const PgGrid_s *g, const uint8_t *v, uint8_t value, int64_t pplane, int64_t px)
{
  const int    nx = (int)g->n[0], ny = (int)g->n[1];
  const size_t n = (size_t)pplane * (size_t)(ln->nzl + 2);

  for (size_t i = 0; i < n; i++) ln->dist[i] = -1;
  for (int64_t q = 0; q < 2 * pplane; q++) ln->gv[q] = INFINITY;
  ln->seeds.n = 0;
  for (int zl = 0; zl < ln->nzl; zl++)
    for (int y = 0; y < ny; y++) {
      const uint8_t *row = v + PgGridIndex(g, ln->z0 + zl, y, 0);
      float         *d   = ln->dist + ((int64_t)zl + 1) * pplane + ((int64_t)y + 1) * px + 1;
      for (int x = 0; x < nx; x++) d[x] = row[x] == value ? INFINITY : -1.0f;
    }
  for (int zl = 0; zl < ln->nzl; zl++)
    for (int x = 0; x < nx; x++) {
      const int64_t i = ((int64_t)zl + 1) * pplane + (int64_t)ny * px + x + 1; /* (zl, ny-1, x) */
      if (ln->dist[i] < 0) continue;
      ln->dist[i] = 0;
      if (QueuePush(&ln->seeds, i)) return 1;
    }
  return 0;
}

/* The result from the distances of the inlet face (y = 0): its phase voxels, those the outlet
 * reached, and their mean geodesic length over the straight one; summed in plane order whatever
 * the lanes. Collective. */
static PetscErrorCode Inlet(const PgGrid_s *g, const Lane *lane, int nlane, int64_t pplane, int64_t px,
                            PgGeodesicResult *res)
{
  const int nx     = (int)g->n[0];
  int64_t   tot[2] = {0, 0};
  double    sum    = 0;

  PetscFunctionBeginUser;
  for (int t = 0; t < nlane; t++)
    for (int zl = 0; zl < lane[t].nzl; zl++)
      for (int x = 0; x < nx; x++) {
        const float d = lane[t].dist[((int64_t)zl + 1) * pplane + px + x + 1]; /* (zl, 0, x) */
        if (d < 0) continue;
        tot[0]++;
        if (d < INFINITY) {
          tot[1]++;
          sum += d;
        }
      }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, tot, 2, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, g->comm));
  res->inlet          = tot[0];
  res->reached        = tot[1];
  res->mean_length_um = tot[1] ? sum / (double)tot[1] : 0.0;
  res->tau            = tot[1] ? res->mean_length_um / ((double)(g->n[1] - 1) * g->voxel_um[1]) : 0.0;
  PetscFunctionReturn(0);
}

/* Shortest distances to the outlet face y = ny-1 on grid g (every axis is solved as y): each
 * round, every lane searches from its seeds in its own thread, then the ranks exchange their
 * outer planes and the lanes their inner ones, until no distance changed on any rank. */
static PetscErrorCode Solve(PgGeodesic geo, const PgGrid_s *g, const uint8_t *v, uint8_t value, PgGeodesicResult *res)
{
  const int64_t px = g->n[0] + 2, pplane = px * (g->n[1] + 2);
  Lane         *lane = geo->lane;
  Ctx           c;
  double        wmin = INFINITY, wmax = 0;
  int           rounds = 0, nlane, err = 0;
  float        *sent[2];

  PetscFunctionBeginUser;
  PetscCall(SetLanes(geo, (int)g->nz_local, pplane, &nlane));
  Neighbours(&c, g, pplane, px, &wmin, &wmax);
  PetscCall(SetBuckets(geo, &c, wmin, wmax));
#pragma omp parallel for schedule(static, 1) num_threads(PetscMax(nlane, 1)) reduction(| : err)
  for (int t = 0; t < nlane; t++) err |= LaneStart(&lane[t], g, v, value, pplane, px);
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's seeds");
  PetscCall(PetscMalloc2(pplane, &sent[0], pplane, &sent[1]));
  for (int64_t q = 0; q < pplane; q++) sent[0][q] = sent[1][q] = INFINITY;
  for (;;) {
    int64_t nseeds = 0;
#pragma omp parallel for schedule(static, 1) num_threads(PetscMax(nlane, 1)) reduction(| : err)
    for (int t = 0; t < nlane; t++) err |= Propagate(&lane[t], &c);
    PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's buckets");
    PetscCall(ExchangeRanks(g, &c, lane, nlane, pplane, px, sent));
    PetscCall(ExchangeLanes(&c, lane, nlane, pplane, px));
    for (int t = 0; t < nlane; t++) nseeds += lane[t].seeds.n;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &nseeds, 1, MPI_INT64_T, MPI_SUM, g->comm));
    rounds++;
    if (!nseeds) break;
  }
  PetscCall(PetscFree2(sent[0], sent[1]));
  PetscCall(Inlet(g, lane, nlane, pplane, px, res));
  res->rounds = rounds;
  PetscFunctionReturn(0);
}

PetscErrorCode PgGeodesicCompute(PgGeodesic geo, const uint8_t *v, uint8_t value, int axis, PgGeodesicResult *result)
{
  const PgGrid g  = geo->grid;
  double       t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCheck(axis >= 0 && axis < 3, g->comm, PETSC_ERR_ARG_OUTOFRANGE, "geodesic: axis %d, allowed 0 (x), 1 (y), 2 (z)",
             axis);
  PetscCheck(g->n[axis] >= 2, g->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "geodesic: %" PetscInt_FMT " voxels along axis %d, at least 2 needed", g->n[axis], axis);
  PetscCall(PetscMemzero(result, sizeof *result));
  /* every axis is solved as the y axis of some layout: the front of the search then runs along
     contiguous rows (along x it would touch one cache line per voxel: 2-3 times slower) */
  if (axis == 1) PetscCall(Solve(geo, g, v, value, result));
  else if (axis == 0) {
    PetscCall(TransposeXY(geo, v));
    PetscCall(Solve(geo, &geo->xgrid, geo->xv, value, result));
  } else {
    PetscCall(Transpose(geo, v));
    PetscCall(Solve(geo, &geo->tgrid, geo->tv, value, result));
  }
  result->seconds = MPI_Wtime() - t0;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &result->seconds, 1, MPI_DOUBLE, MPI_MAX, g->comm));
  PetscFunctionReturn(0);
}
