/// \file
/// Geodesic distances to the outlet face and the mean geodesic tortuosity (definitions in
/// geodesic.h), on the slabs.
///
/// Algorithm. Multi-source shortest paths from the outlet face with Dial's bucket queue: buckets of
/// width w_min (the shortest step) are exact, because a step adds at least w_min, so a voxel never
/// improves another voxel of its own bucket; the queue costs O(1) per voxel instead of a heap's
/// O(log n). Every rank runs it on its slab, then each rank sends its two neighbours only the voxels
/// of its boundary planes whose distance dropped since it last sent them (in the smallest of
/// message.h's encodings: (index, value) pairs, varint index gaps with the values, a bitmap with
/// the values, or the whole plane), and restarts from the ghost voxels that the received values
/// lower, until no rank has a voxel left to settle (an allreduce per round). A round only touches
/// and sends what changed, so a path that crosses slab faces k times costs k cheap rounds, not k
/// full sweeps.
///
/// Bands. A rank that searched its whole block at once would settle every voxel at a distance that
/// only paths inside the block give, and settle it again (and send it again) each time a shorter
/// path arrives from a neighbour. So every round settles one band of distances only: the buckets
/// from the lowest that any rank still holds (the round's allreduce is a minimum) to -geodesic_band
/// (32) shortest steps above it; what lies beyond waits in the seeds for the next round (Defer). The
/// front then advances on all ranks together, a voxel is mostly settled once, at its final
/// distance, and a face voxel travels about once (5-8 bytes). Measured on the paper's
/// structure (benchmarks/README.md, communication): 128^3 on 32 ranks, the slowest rank settles 2.4x
/// fewer voxels and receives 0.70x the bytes; 128 x 128 x 512 on 64 ranks, 2.7x fewer and 0.62x; the
/// rounds grow (z on 64 ranks: 12-36 -> 57-90 per phase, a few ms on a network). One rank of one
/// thread has nobody to wait for and settles everything in one round. Seeds are ordered by a
/// counting sort of their buckets (a round's seeds span the band and the ring).
///
/// The wave. Along z the outlet lies on the last rank, and the distances would reach the first rank
/// only after one round per slab with all other ranks idle: P rounds in series. Instead the z
/// problem runs on the volume transposed to pencils along z (one all-to-all of the uint8 labels,
/// N bytes, making z local to every rank): the ranks as a grid of rows (blocks of x) by columns
/// (blocks of y), the most ranks that fit, then the least lateral face per rank
/// (PgGeodesicPencilGrid). Then every axis has its path axis inside the planes, each rank works on
/// its own block from the first round, and only lateral meanders cross faces. A rank of the grid exchanges with up to eight
/// neighbours (Side): four across its faces and four across its edges, whose ghost voxels carry
/// the diagonal steps through a corner; a side's message is the changed voxels of one box of owned
/// voxels, and its voxel e is voxel e of the neighbour's ghost box. Slabs are the one-column case.
/// Locality: every axis is solved as the y axis of its layout (x by swapping x and y inside each
/// plane, z as y' of the transposed volume [x][z][y]), because a front that advances along y
/// visits contiguous rows, while one advancing along x touches a new cache line per voxel
/// (measured 2.3 times slower at 300^3).
///
/// Communication per axis and rank: the changed boundary voxels (5-8 bytes each, or 4 bytes each
/// and a bit per box voxel as a bitmap, whichever is smaller) and one allreduce per round; along z, in
/// addition, the transpose of the labels, once for all phases (PgGeodesicComputePhases: the
/// slab's N/P bytes sent and received). The pencils' lateral faces are nz (nx/rows + ny/cols)
/// voxels: on a domain that grows along z with the ranks (weak scaling) they grow as sqrt(P)
/// (x-slabs: as P); a wave through the z-slabs instead would keep the bytes flat but run the ranks
/// in series.
/// Threads. A rank's planes are split once more, into one lane per thread (at most one per
/// plane), and each lane is searched exactly like a slab of its own: its own padded distances with
/// two ghost planes, bucket ring and seeds, in its own thread. After each round's searches the
/// ranks exchange their sides' boxes (which span the lanes; MPI from the calling thread only,
/// MPI_THREAD_FUNNELED, seeding whichever lane owns each voxel) and the lanes their inner planes in
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
#include <plurigauss/message.h>

#include <inttypes.h>
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
  int     z0, nzl; /* first plane (of the rank's slab) and number of planes */
  float  *dist;    /* (nzl + 2) padded planes; -1 out of play */
  float  *gv;      /* 2 planes: distances received so far for the lower and the upper ghost plane */
  float  *in;      /* 2 planes: the lower lane's last and the upper lane's first plane this round */
  Queue   seeds;
  Queue  *bucket;  /* nbucket queues */
  int64_t settled; /* voxels settled (relaxed) in this solve */
  char    pad[64]; /* lanes are written by different threads: not on one cache line */
} Lane;

#define LANE_GAP 4 /* unused queues between two lanes' bucket rings: their counters on distinct cache lines */

/* The ranks of a layout as a grid of rows (splitting the layout's z', the slabs) by columns
 * (splitting its x'): slabs are one column; the z problem's pencils have several. */
typedef struct {
  int rows, cols; /* ranks rows * cols hold the layout; the others are idle */
  int row, col;   /* this rank's place, or -1 when idle */
} Ranks;

/* One neighbour in the rank grid (direction a along the rows, b along the columns): the box of
 * owned voxels sent to it and the box of ghost voxels received from it, in local coordinates
 * (plane z', row y', column x'; ghosts at -1 or at the extent), with what was last sent and the best
 * value received per voxel of the boxes. */
typedef struct {
  int      rank;
  int      sz[2], sx[2], gz[2], gx[2]; /* [first, end) of the send and ghost boxes, z' and x' */
  int64_t  n;                          /* voxels per box (the send and ghost boxes are the same size) */
  float   *was, *gv, *val;             /* val: this round's values of the send box */
  uint8_t *go;                         /* the voxels of val that dropped below was: they travel */
} Side;

struct PgGeodesic_private {
  PgGrid   grid;
  PgGrid_s tgrid;              /* layout for z: x' = y (block), y' = z, z' = x (block): pencils along z */
  PgGrid_s xgrid;              /* layout for x: x' = y, y' = x, z' = z (transposed in each plane) */
  Ranks    tranks;             /* the pencils' rank grid: rows split x, columns split y */
  uint8_t *tv, *tsend, *trecv; /* transposed labels, the all-to-all's send and receive buffers */
  uint8_t *xv;                 /* labels with x and y swapped in each plane */
  int     *scount, *sdispl, *rcount, *rdispl;
  int     *xstart, *xcount; /* the pencils' x blocks (rows) */
  int     *ystart, *ycount; /* and y blocks (columns) */
  float   *buf;             /* the lanes' padded distances, one after the other */
  float   *ghost;           /* the lanes' gv and in planes (4 planes per lane) */
  size_t   buf_len, ghost_len;
  int     *laneof; /* per owned plane: its lane */
  size_t   laneof_len;
  Lane    *lane;   /* maxlane lanes: the rank's threads */
  Queue   *bucket; /* maxlane rings of nbucket queues, LANE_GAP apart */
  int      maxlane, nbucket;
  double   band;    /* -geodesic_band: voxels (shortest steps) of distance settled per round; 0: all */
  int64_t  settled; /* voxels settled by this rank in the last solve (a voxel settled twice counts twice) */
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

/* The pencils of the z problem: P ranks as rows x cols (rows <= nx, cols <= ny), as many ranks as
 * possible, then the least face per rank (the lateral faces of an (nx/rows) x (ny/cols) x nz pencil:
 * nz (nx/rows + ny/cols)); ranks beyond rows * cols are idle. */
void PgGeodesicPencilGrid(int P, int nx, int ny, int *rows, int *cols)
{
  double best = INFINITY;
  int    used = 0;

  *rows = 1;
  *cols = 1;
  for (int a = 1; a <= PetscMin(P, nx); a++)
    for (int b = 1; b <= PetscMin(P / a, ny); b++) {
      const double face = (double)nx / a + (double)ny / b;
      if (a * b > used || (a * b == used && face < best)) {
        used  = a * b;
        best  = face;
        *rows = a;
        *cols = b;
      }
    }
}

/* Near-equal blocks of n over k parts. */
static void Blocks(int n, int k, int *start, int *count)
{
  for (int q = 0, s = 0; q < k; q++) {
    count[q] = n / k + (q < n % k);
    start[q] = s;
    s += count[q];
  }
}

PetscErrorCode PgGeodesicCreate(PgGrid grid, PgGeodesic *geo)
{
  PgGeodesic g;
  const int  P = grid->size, nx = (int)grid->n[0], ny = (int)grid->n[1];
  Ranks     *tr;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&g));
  g->grid = grid;
  tr      = &g->tranks;
  PgGeodesicPencilGrid(P, nx, ny, &tr->rows, &tr->cols);
  tr->row = grid->rank < tr->rows * tr->cols ? grid->rank / tr->cols : -1;
  tr->col = grid->rank < tr->rows * tr->cols ? grid->rank % tr->cols : -1;
  PetscCall(PetscMalloc4(P, &g->scount, P, &g->sdispl, P, &g->rcount, P, &g->rdispl));
  PetscCall(PetscMalloc4(tr->rows, &g->xstart, tr->rows, &g->xcount, tr->cols, &g->ystart, tr->cols, &g->ycount));
  Blocks(nx, tr->rows, g->xstart, g->xcount);
  Blocks(ny, tr->cols, g->ystart, g->ycount);
  g->tgrid             = *grid;
  g->tgrid.n[0]        = tr->row < 0 ? 0 : g->ycount[tr->col]; /* x': this pencil's y block */
  g->tgrid.n[1]        = grid->n[2];
  g->tgrid.n[2]        = grid->n[0];
  g->tgrid.voxel_um[0] = grid->voxel_um[1];
  g->tgrid.voxel_um[1] = grid->voxel_um[2];
  g->tgrid.voxel_um[2] = grid->voxel_um[0];
  g->tgrid.nz_local    = tr->row < 0 ? 0 : g->xcount[tr->row];
  g->tgrid.z_start     = tr->row < 0 ? 0 : g->xstart[tr->row];
  g->tgrid.slab_start  = NULL; /* not slabs: the neighbours come from tranks */
  g->xgrid             = *grid;
  g->xgrid.n[0]        = grid->n[1];
  g->xgrid.n[1]        = grid->n[0];
  g->xgrid.voxel_um[0] = grid->voxel_um[1];
  g->xgrid.voxel_um[1] = grid->voxel_um[0];
  g->maxlane           = PetscMax(grid->threads, 1);
  g->band              = 32;
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-geodesic_band", &g->band, NULL));
  PetscCheck(g->band >= 0, grid->comm, PETSC_ERR_USER_INPUT,
             "-geodesic_band %g: the distance settled per round, in shortest steps, must be >= 0 (0: unbounded)",
             g->band);
  PetscCall(PetscCalloc1(g->maxlane, &g->lane));
  *geo = g;
  PetscFunctionReturn(0);
}

PetscErrorCode PgGeodesicDestroy(PgGeodesic *geo)
{
  PgGeodesic g = *geo;

  PetscFunctionBeginUser;
  if (!g) PetscFunctionReturn(0);
  PetscCall(PetscFree4(g->scount, g->sdispl, g->rcount, g->rdispl));
  PetscCall(PetscFree4(g->xstart, g->xcount, g->ystart, g->ycount));
  PetscCall(PetscFree3(g->tv, g->tsend, g->trecv));
  PetscCall(PetscFree(g->xv));
  PetscCall(PetscFree(g->buf));
  PetscCall(PetscFree(g->ghost));
  PetscCall(PetscFree(g->laneof));
  for (int t = 0; t < g->maxlane; t++) free(g->lane[t].seeds.i);
  for (int b = 0; g->bucket && b < g->maxlane * (g->nbucket + LANE_GAP); b++) free(g->bucket[b].i);
  PetscCall(PetscFree(g->bucket));
  PetscCall(PetscFree(g->lane));
  PetscCall(PetscFree(*geo));
  PetscFunctionReturn(0);
}

/* The labels on the pencils: the rank in row r and column c receives x in its row's block and y in
 * its column's block, every z, as [x][z][y]. */
static PetscErrorCode Transpose(PgGeodesic geo, const uint8_t *v)
{
  const PgGrid     g  = geo->grid;
  const Ranks     *tr = &geo->tranks;
  const int        P = g->size, nx = (int)g->n[0], ny = (int)g->n[1], nz = (int)g->n[2];
  const int        nzl = (int)g->nz_local;
  const size_t     nt  = (size_t)geo->tgrid.nz_local * (size_t)geo->tgrid.n[0] * (size_t)nz;
  const ptrdiff_t *zs  = g->slab_start;
  int64_t         *xoff;

  PetscFunctionBeginUser;
  PetscCheck((double)PgGridLocalVoxels(g) < 2147483647.0 && (double)nt < 2147483647.0, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "geodesic: a slab of more than 2^31 voxels per rank is not supported by the transpose");
  if (!geo->tv)
    PetscCall(PetscMalloc3(PetscMax(nt, 1), &geo->tv, PetscMax(PgGridLocalVoxels(g), 1), &geo->tsend, PetscMax(nt, 1),
                           &geo->trecv));
  /* pack: for the pencil in row r, column c, [x in r's block][zl][y in c's block]; each plane
     transposed in 32 x 32 tiles (reading columns of y one voxel at a time would touch a cache line
     per voxel); xoff[c * nx + x] is where x's rows for column c start */
  PetscCall(PetscMalloc1((size_t)tr->cols * (size_t)nx, &xoff));
  for (int q = 0, off = 0; q < P; q++) {
    const int r = q / tr->cols, c = q % tr->cols;
    geo->sdispl[q] = off;
    geo->scount[q] = q < tr->rows * tr->cols ? geo->xcount[r] * geo->ycount[c] * nzl : 0;
    for (int xl = 0; q < tr->rows * tr->cols && xl < geo->xcount[r]; xl++)
      xoff[(size_t)c * nx + geo->xstart[r] + xl] = off + (int64_t)xl * nzl * geo->ycount[c] - geo->ystart[c];
    off += geo->scount[q];
  }
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (int zl = 0; zl < nzl; zl++) {
    const uint8_t *in = v + PgGridIndex(g, zl, 0, 0);
    for (int c = 0; c < tr->cols; c++) {
      const int y0 = geo->ystart[c], y1 = y0 + geo->ycount[c];
      for (int yb = y0; yb < y1; yb += 32)
        for (int xb = 0; xb < nx; xb += 32)
          for (int x = xb; x < PetscMin(xb + 32, nx); x++) {
            uint8_t *o = geo->tsend + xoff[(size_t)c * nx + x] + (int64_t)zl * geo->ycount[c];
            for (int y = yb; y < PetscMin(yb + 32, y1); y++) o[y] = in[(size_t)y * nx + x];
          }
    }
  }
  PetscCall(PetscFree(xoff));
  (void)ny;
  const int nyl = (int)geo->tgrid.n[0], nxl = (int)geo->tgrid.nz_local;
  for (int p = 0, off = 0; p < P; p++) {
    geo->rdispl[p] = off;
    geo->rcount[p] = (int)(nxl * nyl * (zs[p + 1] - zs[p]));
    off += geo->rcount[p];
  }
  /* received as [x][z][y] blocks from each sender's z-range; placed into tv = [x][z][y] */
  uint8_t *recv = geo->trecv;
  PetscCallMPI(MPI_Alltoallv(geo->tsend, geo->scount, geo->sdispl, MPI_UINT8_T, recv, geo->rcount, geo->rdispl,
                             MPI_UINT8_T, g->comm));
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (int xl = 0; xl < nxl; xl++)
    for (int p = 0; p < P; p++)
      memcpy(geo->tv + ((size_t)xl * nz + zs[p]) * nyl, recv + geo->rdispl[p] + (size_t)xl * (zs[p + 1] - zs[p]) * nyl,
             (size_t)(zs[p + 1] - zs[p]) * nyl);
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
  int     dz[26], dy[26], dx[26];
  float   w[26];
  double  inv_wmin;
  int     nbucket;
  int64_t limit; /* this round settles the buckets up to limit; the rest waits for the next round */
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

/* The seeds in the order of their buckets, by a counting sort (the buckets of one round's seeds
 * span the band and the ring, or the distances one round received: a few thousand), and their
 * buckets in *key (malloc'd, 2 s->n entries: the second half is scratch). Plain C: 1 when memory
 * ran out. */
static int SortSeeds(Queue *s, const Ctx *c, const float *dist, int64_t **key)
{
  const int64_t n  = s->n;
  int64_t       lo = INT64_MAX, hi = INT64_MIN, *k, *tmp, *cnt;

  if (!(k = (int64_t *)malloc(2 * (size_t)n * sizeof(int64_t)))) return 1;
  tmp = k + n;
  for (int64_t q = 0; q < n; q++) {
    k[q] = BucketOf(c, dist[s->i[q]]);
    lo   = PetscMin(lo, k[q]);
    hi   = PetscMax(hi, k[q]);
  }
  if (!(cnt = (int64_t *)calloc((size_t)(hi - lo + 2), sizeof(int64_t)))) {
    free(k);
    return 1;
  }
  for (int64_t q = 0; q < n; q++) cnt[k[q] - lo + 1]++;
  for (int64_t b = 0; b <= hi - lo; b++) cnt[b + 1] += cnt[b];
  for (int64_t q = 0; q < n; q++) tmp[cnt[k[q] - lo]++] = s->i[q];
  memcpy(s->i, tmp, (size_t)n * sizeof(int64_t));
  for (int64_t q = 0; q < n; q++) k[q] = BucketOf(c, dist[s->i[q]]);
  free(cnt);
  *key = k;
  return 0;
}

/* What a banded round left: the seeds not reached and the live entries of the bucket ring (buckets
 * cur and later; an entry whose voxel improved into another bucket is stale) become the next
 * round's seeds, and the ring is left empty. Plain C: 1 when memory ran out. */
static int Defer(Lane *ln, const Ctx *c, int64_t sp, int64_t cur)
{
  Queue *s = &ln->seeds;

  memmove(s->i, s->i + sp, (size_t)(s->n - sp) * sizeof(int64_t));
  s->n -= sp;
  for (int64_t b = cur; b < cur + c->nbucket; b++) {
    Queue *q = &ln->bucket[b % c->nbucket];
    for (int64_t h = 0; h < q->n; h++)
      if (BucketOf(c, ln->dist[q->i[h]]) == b && QueuePush(s, q->i[h])) return 1;
    q->n = 0;
  }
  return 0;
}

/* Dial's algorithm in one lane from its seeds (padded indices whose distance was just lowered), up
 * to bucket c->limit; what lies beyond waits in the seeds for the next round (Defer). Plain C (one
 * per thread): 1 when memory ran out. */
static int Propagate(Lane *ln, const Ctx *c)
{
  Queue   *s  = &ln->seeds;
  int64_t  sp = 0, pending = 0, cur = 0;
  int64_t *key;

  if (!s->n) return 0;
  if (SortSeeds(s, c, ln->dist, &key)) return 1;
  while (sp < s->n || pending > 0) {
    if (pending == 0) cur = key[sp];
    if (cur > c->limit) break;
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
      ln->settled++;
      if (Relax(ln, c, i, d, &pending)) goto oom;
    }
    q->n = 0;
    cur++;
  }
  free(key);
  if (sp < s->n || pending > 0) return Defer(ln, c, sp, cur);
  s->n = 0;
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

/* The sides of this rank in the layout's rank grid, with their boxes (local coordinates of the
 * layout: z' in [0, nzl), y' in [0, ny), x' in [0, nxl)). A side toward (a, b) sends the owned
 * voxels next to it and receives the ghost voxels beyond it; the neighbour's opposite side has the
 * same box sizes (same rows share z' blocks, same columns x' blocks), so voxel e of one box is
 * voxel e of the other. */
static PetscErrorCode SidesSetUp(const Ranks *rg, const PgGrid_s *g, Side side[8], int *nside)
{
  const int nzl = (int)g->nz_local, ny = (int)g->n[1], nxl = (int)g->n[0];

  PetscFunctionBeginUser;
  *nside = 0;
  if (rg->row < 0 || nzl == 0) PetscFunctionReturn(0);
  for (int a = -1; a <= 1; a++)
    for (int b = -1; b <= 1; b++) {
      const int r = rg->row + a, c = rg->col + b;
      if ((!a && !b) || r < 0 || r >= rg->rows || c < 0 || c >= rg->cols) continue;
      Side *s  = &side[(*nside)++];
      s->rank  = r * rg->cols + c;
      s->sz[0] = a > 0 ? nzl - 1 : 0;
      s->sz[1] = a < 0 ? 1 : nzl;
      s->sx[0] = b > 0 ? nxl - 1 : 0;
      s->sx[1] = b < 0 ? 1 : nxl;
      s->gz[0] = a < 0 ? -1 : (a > 0 ? nzl : 0);
      s->gz[1] = a < 0 ? 0 : (a > 0 ? nzl + 1 : nzl);
      s->gx[0] = b < 0 ? -1 : (b > 0 ? nxl : 0);
      s->gx[1] = b < 0 ? 0 : (b > 0 ? nxl + 1 : nxl);
      s->n     = (int64_t)(s->sz[1] - s->sz[0]) * ny * (s->sx[1] - s->sx[0]);
      PetscCall(PetscMalloc4(s->n, &s->was, s->n, &s->gv, s->n, &s->val, s->n, &s->go));
      for (int64_t e = 0; e < s->n; e++) s->was[e] = s->gv[e] = INFINITY;
    }
  PetscFunctionReturn(0);
}

static PetscErrorCode SidesDestroy(Side side[8], int nside)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < nside; i++) PetscCall(PetscFree4(side[i].was, side[i].gv, side[i].val, side[i].go));
  PetscFunctionReturn(0);
}

/* The padded index, in its lane, of owned voxel (z', y', x'). */
static inline int64_t LaneIndex(const Lane *ln, int z, int y, int x, int64_t pplane, int64_t px)
{
  return ((int64_t)(z - ln->z0) + 1) * pplane + ((int64_t)y + 1) * px + x + 1;
}

/* A distance d received for ghost voxel (z, y, x) of a side (the slot gv): when it lowers what that
 * ghost voxel had, its owned neighbours that it lowers become seeds of their lanes. Voxels out of
 * play hold -1, so only the box tests remain. */
static int SeedFromSide(Lane *lane, const int *laneof, const Ctx *c, const PgGrid_s *g, int z, int y, int x, float d,
                        float *gv, int64_t pplane, int64_t px)
{
  const int nzl = (int)g->nz_local, ny = (int)g->n[1], nxl = (int)g->n[0];

  if (!(d >= 0 && d < *gv)) return 0;
  *gv = d;
  for (int k = 0; k < 26; k++) {
    const int tz = z + c->dz[k], ty = y + c->dy[k], tx = x + c->dx[k];
    if (tz < 0 || tz >= nzl || ty < 0 || ty >= ny || tx < 0 || tx >= nxl) continue;
    Lane         *ln = &lane[laneof[tz]];
    const int64_t j  = LaneIndex(ln, tz, ty, tx, pplane, px);
    const float   nd = d + c->w[k];
    if (nd < ln->dist[j]) {
      ln->dist[j] = nd;
      if (QueuePush(&ln->seeds, j)) return 1;
    }
  }
  return 0;
}

/* The message of one side: the voxels of its send box whose distance dropped since they were last
 * sent (was), in the smallest encoding (message.h); was is updated. */
static PetscErrorCode PackSide(const Lane *lane, const int *laneof, const PgGrid_s *g, Side *s, int64_t pplane,
                               int64_t px, char **msg, int *len)
{
  const int ny  = (int)g->n[1];
  float    *val = s->val;

  PetscFunctionBeginUser;
  for (int z = s->sz[0], e = 0; z < s->sz[1]; z++)
    for (int y = 0; y < ny; y++)
      for (int x = s->sx[0]; x < s->sx[1]; x++, e++) {
        val[e]   = lane[laneof[z]].dist[LaneIndex(&lane[laneof[z]], z, y, x, pplane, px)];
        s->go[e] = val[e] >= 0 && val[e] < s->was[e];
      }
  PetscCall(PgMessagePack(s->n, val, s->go, "geodesic: a ghost message", msg, len));
  PetscCall(PetscArraycpy(s->was, val, s->n));
  PetscFunctionReturn(0);
}

/* What one side received: every (box index, value) of it restarts the search next to its ghost voxel. */
static PetscErrorCode UnpackSide(Lane *lane, const int *laneof, const Ctx *c, const PgGrid_s *g, Side *s,
                                 const char *in, int bytes, int64_t pplane, int64_t px)
{
  const int       ny = (int)g->n[1], bx = s->gx[1] - s->gx[0];
  PgMessageReader rd;
  int64_t         e;
  float           d;
  int             more, err = 0;

  PetscFunctionBeginUser;
  PgMessageBegin(&rd, in, bytes, s->n);
  while (!err && (more = PgMessageNext(&rd, &e, &d)) > 0) {
    const int z = s->gz[0] + (int)(e / ((int64_t)ny * bx)), y = (int)(e / bx % ny), x = s->gx[0] + (int)(e % bx);
    err = SeedFromSide(lane, laneof, c, g, z, y, x, d, &s->gv[e], pplane, px);
  }
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's seeds");
  PetscCheck(more >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "geodesic: a corrupt ghost message (an index outside its box, or its length)");
  PetscFunctionReturn(0);
}

/* One round of the ghost exchange between ranks: to every side, only what changed (PackSide); what
 * arrives restarts the search next to the ghost voxels it lowers. */
#define TAG_GHOST 91
static PetscErrorCode ExchangeRanks(const PgGrid_s *g, const Ctx *c, Lane *lane, const int *laneof, Side side[8],
                                    int nside, int64_t pplane, int64_t px)
{
  char       *msg[8] = {NULL};
  MPI_Request req[8];

  PetscFunctionBeginUser;
  for (int i = 0; i < nside; i++) {
    int bytes = 0;
    PetscCall(PackSide(lane, laneof, g, &side[i], pplane, px, &msg[i], &bytes));
    PetscCallMPI(MPI_Isend(msg[i], bytes, MPI_BYTE, side[i].rank, TAG_GHOST, g->comm, &req[i]));
  }
  for (int i = 0; i < nside; i++) {
    MPI_Status st;
    int        bytes;
    char      *in;
    PetscCallMPI(MPI_Probe(side[i].rank, TAG_GHOST, g->comm, &st));
    PetscCallMPI(MPI_Get_count(&st, MPI_BYTE, &bytes));
    PetscCall(PetscMalloc1(bytes, &in));
    PetscCallMPI(MPI_Recv(in, bytes, MPI_BYTE, side[i].rank, TAG_GHOST, g->comm, MPI_STATUS_IGNORE));
    PetscCall(UnpackSide(lane, laneof, c, g, &side[i], in, bytes, pplane, px));
    PetscCall(PetscFree(in));
  }
  PetscCallMPI(MPI_Waitall(nside, req, MPI_STATUSES_IGNORE));
  for (int i = 0; i < nside; i++) PetscCall(PetscFree(msg[i]));
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
  if ((size_t)nzl > geo->laneof_len) {
    PetscCall(PetscFree(geo->laneof));
    PetscCall(PetscMalloc1(nzl, &geo->laneof));
    geo->laneof_len = (size_t)nzl;
  }
  for (int t = 0; t < L; t++)
    for (int z = geo->lane[t].z0; z < geo->lane[t].z0 + geo->lane[t].nzl; z++) geo->laneof[z] = t;
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
        c->dy[k]       = dy;
        c->dx[k]       = dx;
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

/* Shortest distances to the outlet face y = ny-1 on layout g, its ranks arranged as rg (every
 * axis is solved as y): each round, every lane searches from its seeds in its own thread, then the
 * ranks exchange their boundary voxels with their sides and the lanes their inner planes, until no
 * distance changed on any rank. */
static PetscErrorCode Solve(PgGeodesic geo, const PgGrid_s *g, const Ranks *rg, const uint8_t *v, uint8_t value,
                            PgGeodesicResult *res)
{
  const int64_t px = g->n[0] + 2, pplane = px * (g->n[1] + 2);
  Lane         *lane = geo->lane;
  Ctx           c;
  Side          side[8];
  double        wmin = INFINITY, wmax = 0;
  int           rounds = 0, nlane, nside, err = 0;
  int64_t       band;

  PetscFunctionBeginUser;
  PetscCall(SetLanes(geo, (int)g->nz_local, pplane, &nlane));
  Neighbours(&c, g, pplane, px, &wmin, &wmax);
  PetscCall(SetBuckets(geo, &c, wmin, wmax));
  PetscCall(SidesSetUp(rg, g, side, &nside));
  /* bands only where there is someone to wait for: one rank of one lane settles everything at once */
  band = g->size > 1 || nlane > 1 ? (int64_t)ceil(geo->band) : 0;
#pragma omp parallel for schedule(static, 1) num_threads(PetscMax(nlane, 1)) reduction(| : err)
  for (int t = 0; t < nlane; t++) err |= LaneStart(&lane[t], g, v, value, pplane, px);
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's seeds");
  for (int t = 0; t < nlane; t++) lane[t].settled = 0;
  for (;;) {
    int64_t lo = INT64_MAX; /* the lowest bucket that any lane of any rank has to settle */
    for (int t = 0; t < nlane; t++)
      for (int64_t q = 0; q < lane[t].seeds.n; q++) lo = PetscMin(lo, BucketOf(&c, lane[t].dist[lane[t].seeds.i[q]]));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT64_T, MPI_MIN, g->comm));
    if (lo == INT64_MAX) break;
    c.limit = band > 0 ? lo + band - 1 : INT64_MAX;
#pragma omp parallel for schedule(static, 1) num_threads(PetscMax(nlane, 1)) reduction(| : err)
    for (int t = 0; t < nlane; t++) err |= Propagate(&lane[t], &c);
    PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "geodesic: out of memory for the search's buckets");
    PetscCall(ExchangeRanks(g, &c, lane, geo->laneof, side, nside, pplane, px));
    PetscCall(ExchangeLanes(&c, lane, nlane, pplane, px));
    rounds++;
  }
  geo->settled = 0;
  for (int t = 0; t < nlane; t++) geo->settled += lane[t].settled;
  PetscCall(SidesDestroy(side, nside));
  PetscCall(Inlet(g, lane, nlane, pplane, px, res));
  res->rounds = rounds;
  PetscFunctionReturn(0);
}

PetscErrorCode PgGeodesicComputePhases(PgGeodesic geo, const uint8_t *v, int nvalue, const uint8_t value[], int axis,
                                       PgGeodesicResult result[])
{
  const PgGrid g     = geo->grid;
  double       t0    = MPI_Wtime();
  const Ranks  slabs = {g->nowners, 1, g->rank < g->nowners ? g->rank : -1, 0}; /* the z-slabs: one column */

  PetscFunctionBeginUser;
  PetscCheck(axis >= 0 && axis < 3, g->comm, PETSC_ERR_ARG_OUTOFRANGE, "geodesic: axis %d, allowed 0 (x), 1 (y), 2 (z)",
             axis);
  PetscCheck(g->n[axis] >= 2, g->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "geodesic: %" PetscInt_FMT " voxels along axis %d, at least 2 needed", g->n[axis], axis);
  /* every axis is solved as the y axis of some layout: the front of the search then runs along
     contiguous rows (along x it would touch one cache line per voxel: 2-3 times slower); the layout
     is made once for all phases */
  if (axis == 0) PetscCall(TransposeXY(geo, v));
  if (axis == 2) PetscCall(Transpose(geo, v));
  for (int i = 0; i < nvalue; i++) {
    PgGeodesicResult *res = &result[i];
    PetscCall(PetscMemzero(res, sizeof *res));
    if (axis == 1) PetscCall(Solve(geo, g, &slabs, v, value[i], res));
    else if (axis == 0) PetscCall(Solve(geo, &geo->xgrid, &slabs, geo->xv, value[i], res));
    else PetscCall(Solve(geo, &geo->tgrid, &geo->tranks, geo->tv, value[i], res));
    res->seconds = MPI_Wtime() - t0; /* the first phase carries the layout's time */
    t0           = MPI_Wtime();
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->seconds, 1, MPI_DOUBLE, MPI_MAX, g->comm));
    PetscCall(PetscInfo(NULL, "geodesic axis %d phase %d: %d rounds, rank %d settled %" PRId64 " voxels, %.3f s\n",
                        axis, (int)value[i], res->rounds, g->rank, geo->settled, res->seconds));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgGeodesicCompute(PgGeodesic geo, const uint8_t *v, uint8_t value, int axis, PgGeodesicResult *result)
{
  PetscFunctionBeginUser;
  PetscCall(PgGeodesicComputePhases(geo, v, 1, &value, axis, result));
  PetscFunctionReturn(0);
}
