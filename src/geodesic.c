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
/// Memory: the float distances with two ghost planes (4 bytes per voxel; voxels out of play hold
/// -1, so no mask is needed), along z the transposed labels and their send buffer (2 bytes per
/// voxel), and the bucket queue (8 bytes per frontier voxel). Cost: each phase voxel is settled about once per round
/// that reaches it, with 26 neighbour tests; single-threaded per rank.
#include <plurigauss/geodesic.h>

#include <math.h>
#include <stdlib.h>

typedef struct {
  int64_t *i;
  int64_t  n, cap;
} Queue;

struct PgGeodesic_private {
  PgGrid     grid;
  PgGrid_s   tgrid;      /* layout for z: x' = y, y' = z, z' = x (all-to-all; slabs along x) */
  PgGrid_s   xgrid;      /* layout for x: x' = y, y' = x, z' = z (transposed in each plane) */
  ptrdiff_t *ttable;     /* the slab table of tgrid */
  uint8_t   *tv, *tsend; /* transposed labels and the all-to-all send buffer */
  uint8_t   *xv;         /* labels with x and y swapped in each plane */
  int       *scount, *sdispl, *rcount, *rdispl, *xstart, *xcount;
  float     *buf;   /* distances on padded planes: ghost plane, owned planes, ghost plane */
  float     *ghost; /* the distances received for the two ghost planes */
  size_t     buf_len, ghost_len;
  Queue      seeds, *bucket;
  int        nbucket;
};

static PetscErrorCode QueuePush(Queue *q, int64_t i)
{
  PetscFunctionBeginUser;
  if (q->n == q->cap) {
    int64_t cap = PetscMax(1024, 2 * q->cap);
    PetscCall(PetscRealloc((size_t)cap * sizeof(int64_t), &q->i));
    q->cap = cap;
  }
  q->i[q->n++] = i;
  PetscFunctionReturn(0);
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
  *geo                 = g;
  PetscFunctionReturn(0);
}

PetscErrorCode PgGeodesicDestroy(PgGeodesic *geo)
{
  PgGeodesic g = *geo;

  PetscFunctionBeginUser;
  if (!g) PetscFunctionReturn(0);
  PetscCall(PetscFree6(g->scount, g->sdispl, g->rcount, g->rdispl, g->xstart, g->xcount));
  PetscCall(PetscFree(g->ttable));
  PetscCall(PetscFree2(g->tv, g->tsend));
  PetscCall(PetscFree(g->xv));
  PetscCall(PetscFree(g->buf));
  PetscCall(PetscFree(g->ghost));
  PetscCall(PetscFree(g->seeds.i));
  if (g->bucket)
    for (int b = 0; b < g->nbucket; b++) PetscCall(PetscFree(g->bucket[b].i));
  PetscCall(PetscFree(g->bucket));
  PetscCall(PetscFree(*geo));
  PetscFunctionReturn(0);
}

/* The labels on the transposed layout: rank q receives x in its block, as [x][y][z]. */
static PetscErrorCode Transpose(PgGeodesic geo, const uint8_t *v)
{
  const PgGrid     g = geo->grid;
  const int        P = g->size, ny = (int)g->n[1], nz = (int)g->n[2];
  const int        nzl = (int)g->nz_local;
  const size_t     nt  = (size_t)geo->tgrid.nz_local * (size_t)ny * (size_t)nz;
  const ptrdiff_t *zs  = g->slab_start;

  PetscFunctionBeginUser;
  PetscCheck((double)PgGridLocalVoxels(g) < 2147483647.0 && (double)nt < 2147483647.0, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "geodesic: a slab of more than 2^31 voxels per rank is not supported by the transpose");
  if (!geo->tv) PetscCall(PetscMalloc2(PetscMax(nt, 1), &geo->tv, PetscMax(PgGridLocalVoxels(g), 1), &geo->tsend));
  /* pack: for rank q, [x in q's block][zl][y] */
  for (int q = 0, off = 0; q < P; q++) {
    const int x0 = geo->xstart[q], nxq = geo->xcount[q];
    geo->sdispl[q] = off;
    geo->scount[q] = nxq * ny * nzl;
    for (int xl = 0; xl < nxq; xl++)
      for (int zl = 0; zl < nzl; zl++) {
        uint8_t       *o  = geo->tsend + off + ((size_t)xl * nzl + zl) * ny;
        const uint8_t *in = v + PgGridIndex(g, zl, 0, x0 + xl);
        for (int y = 0; y < ny; y++) o[y] = in[(size_t)y * g->n[0]];
      }
    off += geo->scount[q];
  }
  for (int p = 0, off = 0; p < P; p++) {
    geo->rdispl[p] = off;
    geo->rcount[p] = (int)(geo->tgrid.nz_local * ny * (zs[p + 1] - zs[p]));
    off += geo->rcount[p];
  }
  /* received as [x][z] rows of y from each sender's z-range; placed into tv = [x][z][y] */
  uint8_t *recv;
  PetscCall(PetscMalloc1(PetscMax(nt, 1), &recv));
  PetscCallMPI(MPI_Alltoallv(geo->tsend, geo->scount, geo->sdispl, MPI_UINT8_T, recv, geo->rcount, geo->rdispl,
                             MPI_UINT8_T, g->comm));
  const int nxl = (int)geo->tgrid.nz_local;
  for (int p = 0; p < P; p++)
    for (int xl = 0; xl < nxl; xl++)
      PetscCall(PetscArraycpy(geo->tv + ((size_t)xl * nz + zs[p]) * ny,
                              recv + geo->rdispl[p] + (size_t)xl * (zs[p + 1] - zs[p]) * ny,
                              (size_t)(zs[p + 1] - zs[p]) * ny));
  PetscCall(PetscFree(recv));
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
 * one comparison nd < dist[j], with no mask to read (the received ghost distances live apart). */
typedef struct {
  float  *dist; /* padded, ghost planes included; -1 out of play */
  int64_t off[26];
  int     dz[26];
  float   w[26];
  double  inv_wmin;
} Ctx;

static inline int64_t BucketOf(const Ctx *c, float d) { return (int64_t)((double)d * c->inv_wmin); }

static PetscErrorCode QueueGrow(Queue *q)
{
  PetscFunctionBeginUser;
  int64_t cap = PetscMax(1024, 2 * q->cap);
  PetscCall(PetscRealloc((size_t)cap * sizeof(int64_t), &q->i));
  q->cap = cap;
  PetscFunctionReturn(0);
}

/* Relaxes the 26 neighbours of padded voxel i (distance d); improved ones go to their bucket. */
static inline PetscErrorCode Relax(PgGeodesic geo, const Ctx *c, int64_t i, float d, int64_t *pushed)
{
  PetscFunctionBeginUser;
  for (int k = 0; k < 26; k++) {
    const int64_t j  = i + c->off[k];
    const float   nd = d + c->w[k];
    if (nd < c->dist[j]) { /* false for -1: out of play */
      Queue *q   = &geo->bucket[BucketOf(c, nd) % geo->nbucket];
      c->dist[j] = nd;
      if (q->n == q->cap) PetscCall(QueueGrow(q));
      q->i[q->n++] = j;
      (*pushed)++;
    }
  }
  PetscFunctionReturn(0);
}

static int CompareSeed(const void *a, const void *b, void *ctx)
{
  const float *dist = (const float *)ctx, da = dist[*(const int64_t *)a], db = dist[*(const int64_t *)b];
  return (da > db) - (da < db);
}

/* Dial's algorithm from the seeds (padded indices whose distance was just lowered). */
static PetscErrorCode Propagate(PgGeodesic geo, const Ctx *c)
{
  Queue   *s  = &geo->seeds;
  int64_t  sp = 0, pending = 0, cur = 0;
  int64_t *key;

  PetscFunctionBeginUser;
  if (!s->n) PetscFunctionReturn(0);
  qsort_r(s->i, (size_t)s->n, sizeof(int64_t), CompareSeed, c->dist);
  PetscCall(PetscMalloc1(s->n, &key));
  for (int64_t q = 0; q < s->n; q++) key[q] = BucketOf(c, c->dist[s->i[q]]);
  while (sp < s->n || pending > 0) {
    if (pending == 0) cur = key[sp];
    for (; sp < s->n && key[sp] <= cur; sp++) {
      const int64_t j = s->i[sp], b = BucketOf(c, c->dist[j]);
      if (b < cur) continue; /* improved meanwhile and already settled */
      PetscCall(QueuePush(&geo->bucket[b % geo->nbucket], j));
      pending++;
    }
    Queue *q = &geo->bucket[cur % geo->nbucket];
    /* first in, first out: the front keeps roughly the memory order it started in */
    for (int64_t h = 0; h < q->n; h++) {
      const int64_t i = q->i[h];
      const float   d = c->dist[i];
      pending--;
      if (BucketOf(c, d) != cur) continue; /* stale entry: improved into an earlier bucket */
      PetscCall(Relax(geo, c, i, d, &pending));
    }
    q->n = 0;
    cur++;
  }
  s->n = 0;
  PetscCall(PetscFree(key));
  PetscFunctionReturn(0);
}

/* One round of the ghost exchange: each owning rank sends its neighbours only the voxels of its
 * boundary planes whose distance dropped since it last sent them (sent_lo / sent_hi hold what was
 * sent), as (index, value) pairs, or the whole plane when that is smaller; the received values
 * that lower a ghost voxel restart the search in the adjacent owned plane (new seeds). */
#define TAG_GHOST 91
static PetscErrorCode ExchangeChanges(PgGeodesic geo, const PgGrid_s *g, const Ctx *c, int64_t pplane, int64_t px,
                                      int nzl, float *sent[2])
{
  const int   nb[2]  = {g->rank > 0 ? g->rank - 1 : -1, g->rank + 1 < g->nowners ? g->rank + 1 : -1};
  char       *msg[2] = {NULL, NULL};
  MPI_Request req[2];
  int         nreq = 0;

  PetscFunctionBeginUser;
  if (nzl == 0) PetscFunctionReturn(0);
  for (int side = 0; side < 2; side++) { /* 0: first owned plane to the rank below; 1: last to the one above */
    const float *own = c->dist + (side ? (int64_t)nzl : 1) * pplane;
    float       *was = sent[side];
    int32_t      n   = 0;
    if (nb[side] < 0) continue;
    for (int64_t q = px; q < pplane - px; q++) n += own[q] >= 0 && own[q] < was[q];
    const int     dense = (int64_t)n * 8 >= (pplane - 2 * px) * 4;
    const int64_t bytes = 4 + (dense ? (pplane - 2 * px) * 4 : (int64_t)n * 8);
    PetscCheck(bytes <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
               "geodesic: a ghost message of %" PRId64 " bytes exceeds one MPI message", bytes);
    PetscCall(PetscMalloc1(bytes, &msg[side]));
    ((int32_t *)msg[side])[0] = dense ? -1 : n;
    if (dense) PetscCall(PetscArraycpy((float *)(msg[side] + 4), own + px, pplane - 2 * px));
    else {
      char *o = msg[side] + 4;
      for (int64_t q = px; q < pplane - px; q++)
        if (own[q] >= 0 && own[q] < was[q]) {
          const int32_t i = (int32_t)q;
          PetscCall(PetscMemcpy(o, &i, 4));
          PetscCall(PetscMemcpy(o + 4, &own[q], 4));
          o += 8;
        }
    }
    PetscCall(PetscArraycpy(was, own, pplane));
    PetscCallMPI(MPI_Isend(msg[side], (int)bytes, MPI_BYTE, nb[side], TAG_GHOST, g->comm, &req[nreq++]));
  }
  for (int side = 0; side < 2; side++) { /* 0: from below into the lower ghost plane; 1: from above */
    MPI_Status st;
    int        bytes;
    char      *in;
    if (nb[side] < 0) continue;
    PetscCallMPI(MPI_Probe(nb[side], TAG_GHOST, g->comm, &st));
    PetscCallMPI(MPI_Get_count(&st, MPI_BYTE, &bytes));
    PetscCall(PetscMalloc1(bytes, &in));
    PetscCallMPI(MPI_Recv(in, bytes, MPI_BYTE, nb[side], TAG_GHOST, g->comm, MPI_STATUS_IGNORE));
    const int32_t n     = ((const int32_t *)in)[0];
    const int64_t ghost = side ? (int64_t)(nzl + 1) * pplane : 0;
    const int     dz    = side ? -1 : 1;
    const int64_t m     = n < 0 ? pplane - 2 * px : n;
    for (int64_t e = 0; e < m; e++) {
      int32_t q;
      float   d;
      if (n < 0) {
        q = (int32_t)(px + e);
        PetscCall(PetscMemcpy(&d, in + 4 + 4 * e, 4));
      } else {
        PetscCall(PetscMemcpy(&q, in + 4 + 8 * e, 4));
        PetscCall(PetscMemcpy(&d, in + 8 + 8 * e, 4));
      }
      float *gv = geo->ghost + side * pplane; /* what was received for this ghost voxel so far */
      if (!(d >= 0 && d < gv[q])) continue;
      gv[q] = d;
      for (int k = 0; k < 26; k++) {
        if (c->dz[k] != dz) continue;
        const int64_t j  = ghost + q + c->off[k];
        const float   nd = d + c->w[k];
        if (nd < c->dist[j]) {
          c->dist[j] = nd;
          PetscCall(QueuePush(&geo->seeds, j));
        }
      }
    }
    PetscCall(PetscFree(in));
  }
  PetscCallMPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
  PetscCall(PetscFree(msg[0]));
  PetscCall(PetscFree(msg[1]));
  PetscFunctionReturn(0);
}

/* The buffers of a solve: the padded distances (need floats) and two ghost planes of pplane, grown
 * when needed (the layouts of the three axes have different planes). */
static PetscErrorCode Reserve(PgGeodesic geo, size_t need, int64_t pplane)
{
  PetscFunctionBeginUser;
  if (need > geo->buf_len) {
    PetscCall(PetscFree(geo->buf));
    PetscCall(PetscMalloc1(need, &geo->buf));
    geo->buf_len = need;
  }
  if ((size_t)pplane > geo->ghost_len) {
    PetscCall(PetscFree(geo->ghost));
    PetscCall(PetscMalloc1(2 * (size_t)pplane, &geo->ghost));
    geo->ghost_len = (size_t)pplane;
  }
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

/* The result from the distances of the inlet face (y = 0): its phase voxels, those the outlet
 * reached, and their mean geodesic length over the straight one. Collective. */
static PetscErrorCode Inlet(const PgGrid_s *g, const float *dist, int64_t pplane, int64_t px, PgGeodesicResult *res)
{
  const int nx = (int)g->n[0], nzl = (int)g->nz_local;
  int64_t   tot[2] = {0, 0};
  double    sum    = 0;

  PetscFunctionBeginUser;
  for (int zl = 0; zl < nzl; zl++)
    for (int x = 0; x < nx; x++) {
      const int64_t i = ((int64_t)zl + 1) * pplane + px + x + 1; /* (zl, 0, x) */
      if (dist[i] < 0) continue;
      tot[0]++;
      if (dist[i] < INFINITY) {
        tot[1]++;
        sum += dist[i];
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

/* Shortest distances to the outlet face y = ny-1 on grid g (every axis is solved as y). */
static PetscErrorCode Solve(PgGeodesic geo, const PgGrid_s *g, const uint8_t *v, uint8_t value, PgGeodesicResult *res)
{
  const int     nx = (int)g->n[0], ny = (int)g->n[1], nzl = (int)g->nz_local;
  const int64_t px = nx + 2, pplane = px * (ny + 2);
  const size_t  need = (size_t)pplane * (size_t)(nzl + 2);
  Ctx           c;
  double        wmin = INFINITY, wmax = 0;
  int           rounds = 0;
  float        *sent[2];

  PetscFunctionBeginUser;
  PetscCall(Reserve(geo, need, pplane));
  for (size_t i = 0; i < need; i++) geo->buf[i] = -1;
  for (int64_t q = 0; q < 2 * pplane; q++) geo->ghost[q] = INFINITY;
#define P(zl, y, x) (((int64_t)(zl) + 1) * pplane + ((int64_t)(y) + 1) * px + (x) + 1)
  for (int zl = 0; zl < nzl; zl++)
    for (int y = 0; y < ny; y++) {
      const uint8_t *row = v + PgGridIndex(g, zl, y, 0);
      float         *d   = geo->buf + P(zl, y, 0);
      for (int x = 0; x < nx; x++) d[x] = row[x] == value ? INFINITY : -1.0f;
    }
  c.dist = geo->buf;
  Neighbours(&c, g, pplane, px, &wmin, &wmax);
  if (!geo->bucket) {
    geo->nbucket = (int)floor(wmax / wmin) + 2;
    PetscCall(PetscCalloc1(geo->nbucket, &geo->bucket));
  }
  PetscCheck(geo->nbucket >= (int)floor(wmax / wmin) + 2, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "geodesic: bucket ring too small");
  /* sources: the phase voxels of the outlet face */
  for (int zl = 0; zl < nzl; zl++)
    for (int x = 0; x < nx; x++)
      if (c.dist[P(zl, ny - 1, x)] >= 0) {
        c.dist[P(zl, ny - 1, x)] = 0;
        PetscCall(QueuePush(&geo->seeds, P(zl, ny - 1, x)));
      }
  PetscCall(PetscMalloc2(pplane, &sent[0], pplane, &sent[1]));
  for (int64_t q = 0; q < pplane; q++) sent[0][q] = sent[1][q] = INFINITY;
  for (;;) {
    int64_t nseeds;
    PetscCall(Propagate(geo, &c));
    PetscCall(ExchangeChanges(geo, g, &c, pplane, px, nzl, sent));
    nseeds = geo->seeds.n;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &nseeds, 1, MPI_INT64_T, MPI_SUM, g->comm));
    rounds++;
    if (!nseeds) break;
  }
  PetscCall(PetscFree2(sent[0], sent[1]));
#undef P
  PetscCall(Inlet(g, c.dist, pplane, px, res));
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
