/// \file
/// Connected components of one phase on the z-slabs, merged across ranks without moving the volume.
///
/// Algorithm, in four steps.
/// 1. Local union-find on the slab (the id array doubles as the parent array): voxels in scan order,
///    each united with its already visited neighbours (3 of the 6, or 13 of the 26, only 5 when the
///    left neighbour is in the phase), the root always the smaller index, with path halving. Every
///    parent index is then below its child's, so one increasing sweep relabels the voxels with
///    piece numbers in the order of their first voxel, without any find, and counts each piece's
///    voxels and the domain faces it touches.
/// 2. Provisional global ids: piece number + the exclusive prefix sum of the piece counts.
/// 3. Merging across slab faces: one halo exchange of the boundary planes' ids (PgGridHaloExchange)
///    gives each rank the distinct pairs (own piece, piece below) that touch across its lower face.
///    The pieces that reach an inner slab face are then merged by a tree along the chain of slabs
///    (never gathered): in round k the groups of 2^k consecutive ranks merge pairwise, each group
///    represented by its lowest rank with only the equivalence classes of the pieces on the group's
///    two outer faces (their voxels, face bits, smallest provisional id); classes that reach neither
///    outer face are complete. After ceil(log2 P) rounds every class is complete, and the rounds are
///    undone in reverse order, each representative sending back the data of the classes it
///    received. A serpentine channel through all slabs costs the same log2 P rounds.
/// 4. Final ids: the merged components, numbered in the order of their smallest provisional id,
///    which is the order of their first voxel in the global scan: the numbering and the per-voxel
///    labels are the same at any rank count. The rank holding a component's first piece owns its
///    table row (volume, face bits); an exclusive prefix sum of the owned counts numbers them, and a
///    second traversal of the same tree carries each number from its owner to the other ranks that
///    hold pieces of the component.
///
/// Communication per call and rank: the halo exchange (one plane of 4 nx ny bytes each way), three
/// scalar collectives, and per tree round at most one message of the summary of a group's two
/// faces (24 bytes per class, 16 per piece on a face, 8 per face-crossing pair) plus its answer:
/// O(F log2 P) bytes received, F the pieces on a slab face (at most nx ny, typically a few percent
/// of it), flat in weak scaling and growing only as log2 P at a fixed grid; log2 P messages in
/// series. Memory: 4 bytes per voxel (ids) plus two ghost planes, and per-piece tables.
/// Cost: near-linear in the voxels. Threads: the slab's planes split into one lane per thread, each
/// lane's union-find run in its own thread (the root of a set is its smallest index, so every
/// parent index stays below its child's), then the lanes' faces stitched in order by one thread
/// (unions of the plane pairs across each face, the smaller root winning); the relabelling sweep
/// stays serial (it numbers the pieces in scan order). 300^3, the paper's NVP phase: 1.69 times
/// faster on 2 threads, 1.93 on 2 ranks (benchmarks/bench_threads.py).
/// The ids are int32: at most 2^31 - 1 voxels per rank and 2^31 - 1 provisional pieces in total.
#include <plurigauss/components.h>

#include <inttypes.h>
#include <stdlib.h>

struct PgComponents_private {
  PgGrid           grid;
  int32_t         *buf; /* ghost plane, nz_local owned planes, ghost plane */
  int32_t         *id;  /* buf + one plane: the owned planes */
  PetscBool        computed;
  PgComponentsInfo info;
  int64_t          first, count;  /* this rank's table rows */
  int64_t         *voxels;        /* per row: volume in voxels */
  uint8_t         *faces;         /* per row: PG_FACE_* bits */
  int64_t          nforeign;      /* components of other ranks that reach into this slab */
  int64_t         *foreign_id;    /* their ids, ascending */
  uint8_t         *foreign_faces; /* their face bits */
};

PetscErrorCode PgComponentsCreate(PgGrid grid, PgComponents *comp)
{
  PgComponents c;
  const size_t plane = PgGridPlane(grid);

  PetscFunctionBeginUser;
  PetscCheck(PgGridLocalVoxels(grid) <= (size_t)INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "components: rank %d holds %zu voxels, at most 2^31-1 supported", grid->rank, PgGridLocalVoxels(grid));
  PetscCall(PetscNew(&c));
  c->grid = grid;
  PetscCall(PetscMalloc1(plane * (size_t)(grid->nz_local + 2), &c->buf));
  c->id = c->buf + plane;
  *comp = c;
  PetscFunctionReturn(0);
}

static PetscErrorCode FreeResult(PgComponents c)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree2(c->voxels, c->faces));
  PetscCall(PetscFree2(c->foreign_id, c->foreign_faces));
  c->computed = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode PgComponentsDestroy(PgComponents *comp)
{
  PetscFunctionBeginUser;
  if (!*comp) PetscFunctionReturn(0);
  PetscCall(FreeResult(*comp));
  PetscCall(PetscFree((*comp)->buf));
  PetscCall(PetscFree(*comp));
  PetscFunctionReturn(0);
}

static inline int32_t Find(int32_t *p, int32_t i)
{
  while (p[i] != i) {
    p[i] = p[p[i]]; /* path halving */
    i    = p[i];
  }
  return i;
}

/* Unites the sets of a and b under the smaller root; returns 1 if they were distinct. */
static inline int Union(int32_t *p, int32_t a, int32_t b)
{
  a = Find(p, a);
  b = Find(p, b);
  if (a == b) return 0;
  if (a < b) p[b] = a;
  else p[a] = b;
  return 1;
}

/* Step 1: parent indices in c->id (-1 outside the phase); the number of pieces. The visited half
 * of the neighbourhood is ordered: the left neighbour L = (z, y, x-1) first, then the neighbours
 * at x+1, then the rest. With 26-connectivity every visited neighbour at x-1 or x is adjacent to L
 * and was visited before L, so it is already in L's set: when L is in the phase only L and the x+1
 * neighbours need a union (5 instead of 13). */
static void LocalUnionFind(PgComponents c, const uint8_t *v, uint8_t value, PgConnectivity conn, int z0, int z1,
                           int64_t *npieces)
{
  const PgGrid g  = c->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1];
  int32_t     *p  = c->id;
  int          nb = 0, nshort = 0, off[13][3];
  int32_t      delta[13];
  int64_t      pieces = 0;

  for (int pass = 0; pass < 3; pass++) { /* L, then dx = +1, then the rest */
    for (int dz = -1; dz <= 0; dz++)
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
          if (dz == 0 && (dy > 0 || (dy == 0 && dx >= 0))) continue; /* not yet visited */
          if (conn == PG_CONNECTIVITY_6 && abs(dz) + abs(dy) + abs(dx) != 1) continue;
          const int left = dz == 0 && dy == 0 && dx == -1;
          if ((pass == 0) != left || (pass == 1) != (dx == 1 && !left)) continue;
          off[nb][0] = dz;
          off[nb][1] = dy;
          off[nb][2] = dx;
          delta[nb]  = (dz * ny + dy) * nx + dx;
          nb++;
        }
    if (pass == 1) nshort = conn == PG_CONNECTIVITY_26 ? nb : 13;
  }
  for (int z = z0; z < z1; z++)
    for (int y = 0; y < ny; y++) {
      const int32_t row = (int32_t)PgGridIndex(g, z, y, 0);
      for (int x = 0; x < nx; x++) {
        const int32_t i = row + x;
        if (v[i] != value) {
          p[i] = -1;
          continue;
        }
        const int interior = z > z0 && y > 0 && y < ny - 1 && x > 0 && x < nx - 1;
        const int n        = x > 0 && p[i - 1] >= 0 ? PetscMin(nshort, nb) : nb;
        int32_t   r        = -1; /* root of i's set so far */
        for (int k = 0; k < n; k++) {
          if (!interior) {
            const int zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
            if (zz < z0 || yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
          }
          const int32_t j = i + delta[k];
          if (p[j] < 0) continue;
          const int32_t rj = Find(p, j);
          if (r < 0) r = p[i] = rj; /* i joins j's set */
          else if (rj != r) {       /* two sets meet at i: the larger root goes under the smaller */
            if (rj < r) {
              p[r] = rj;
              r    = rj;
            } else p[rj] = r;
            pieces--;
          }
        }
        if (r < 0) { /* a new piece */
          p[i] = i;
          pieces++;
        }
      }
    }
  *npieces = pieces;
}

/* The sets of plane z united with those of plane z - 1 across the face between two lanes (the
 * visited half's neighbours below); the number of unions that joined two sets. The smaller root
 * wins, so every parent index stays below its child's. */
static int64_t StitchLanes(PgComponents c, PgConnectivity conn, int z)
{
  const PgGrid  g  = c->grid;
  const int     nx = (int)g->n[0], ny = (int)g->n[1], reach = conn == PG_CONNECTIVITY_26 ? 1 : 0;
  const int32_t plane  = (int32_t)PgGridPlane(g);
  int32_t      *p      = c->id;
  int64_t       joined = 0;

  for (int y = 0; y < ny; y++)
    for (int x = 0; x < nx; x++) {
      const int32_t i = (int32_t)PgGridIndex(g, z, y, x);
      if (p[i] < 0) continue;
      for (int dy = -reach; dy <= reach; dy++)
        for (int dx = -reach; dx <= reach; dx++) {
          if (y + dy < 0 || y + dy >= ny || x + dx < 0 || x + dx >= nx) continue;
          const int32_t j = i - plane + dy * nx + dx;
          if (p[j] >= 0) joined += Union(p, i, j);
        }
    }
  return joined;
}

/* Step 1 with threads: the slab's planes split into one lane per thread, each lane's union-find
 * run on its own planes in its own thread, then the lanes' faces stitched in order. */
static void UnionFindLanes(PgComponents c, const uint8_t *v, uint8_t value, PgConnectivity conn, int64_t *npieces)
{
  const int nzl = (int)c->grid->nz_local, L = PetscMax(PetscMin(c->grid->threads, nzl), 1);
  int64_t   pieces = 0;

#pragma omp parallel for schedule(static, 1) num_threads(L) reduction(+ : pieces)
  for (int t = 0; t < L; t++) {
    int64_t n;
    LocalUnionFind(c, v, value, conn, nzl * t / L, nzl * (t + 1) / L, &n);
    pieces += n;
  }
  for (int t = 1; t < L; t++) pieces -= StitchLanes(c, conn, nzl * t / L);
  *npieces = pieces;
}

/* Step 2: provisional global ids (offset + piece number, pieces in order of their first voxel);
 * the voxels and face bits of each piece. Every parent index precedes its child, so the parent's
 * slot already holds the final id when the child is reached. */
static void Relabel(PgComponents c, int64_t offset, int64_t *voxels, uint8_t *faces)
{
  const PgGrid g  = c->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1], nzl = (int)g->nz_local;
  int32_t     *p    = c->id;
  int32_t      next = 0;

  for (int z = 0; z < nzl; z++) {
    const int64_t zg = g->z_start + z;
    const uint8_t fz = (uint8_t)((zg == 0 ? PG_FACE_Z_LO : 0) | (zg == g->n[2] - 1 ? PG_FACE_Z_HI : 0));
    for (int y = 0; y < ny; y++) {
      const uint8_t fzy = (uint8_t)(fz | (y == 0 ? PG_FACE_Y_LO : 0) | (y == ny - 1 ? PG_FACE_Y_HI : 0));
      const int32_t row = (int32_t)PgGridIndex(g, z, y, 0);
      for (int x = 0; x < nx; x++) {
        const int32_t i = row + x, q = p[i];
        if (q < 0) continue;
        const int32_t k = q == i ? next++ : (int32_t)(p[q] - offset);
        p[i]            = (int32_t)(offset + k);
        voxels[k]++;
        faces[k] |= (uint8_t)(fzy | (x == 0 ? PG_FACE_X_LO : 0) | (x == nx - 1 ? PG_FACE_X_HI : 0));
      }
    }
  }
}

static int CompareU64(const void *a, const void *b)
{
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Step 3a: the distinct pairs (own id << 32 | id below) touching across this rank's lower slab
 * face, from the ghost plane below. */
static PetscErrorCode FaceEdges(PgComponents c, PgConnectivity conn, int64_t *nedges, uint64_t **edges)
{
  const PgGrid   g  = c->grid;
  const int      nx = (int)g->n[0], ny = (int)g->n[1], r = conn == PG_CONNECTIVITY_6 ? 0 : 1;
  const int32_t *own = c->id, *below = c->buf;
  uint64_t      *e;
  size_t         n = 0, cap = PgGridPlane(g) / 8 + 16; /* grows: up to 9 pairs per voxel with 26 */

  PetscFunctionBeginUser;
  *nedges = 0;
  *edges  = NULL;
  if (g->nz_local == 0 || g->z_start == 0) PetscFunctionReturn(0);
  PetscCall(PetscMalloc1(cap, &e));
  for (int y = 0; y < ny; y++)
    for (int x = 0; x < nx; x++) {
      const int32_t a = own[y * nx + x];
      if (a < 0) continue;
      for (int yy = PetscMax(y - r, 0); yy <= PetscMin(y + r, ny - 1); yy++)
        for (int xx = PetscMax(x - r, 0); xx <= PetscMin(x + r, nx - 1); xx++) {
          const int32_t b = below[yy * nx + xx];
          if (b < 0) continue;
          const uint64_t key = (uint64_t)a << 32 | (uint64_t)b;
          if (n > 0 && e[n - 1] == key) continue;
          if (n == cap) {
            cap *= 2;
            PetscCall(PetscRealloc(sizeof(uint64_t) * cap, &e));
          }
          e[n++] = key;
        }
    }
  qsort(e, n, sizeof *e, CompareU64);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (m == 0 || e[m - 1] != e[i]) e[m++] = e[i];
  *nedges = (int64_t)m;
  *edges  = e;
  PetscFunctionReturn(0);
}

/* Step 3, the merge tree along the chain of slabs. The owning ranks 0 .. Q-1 form a chain in z; at
 * level k the groups are the runs of 2^k consecutive ranks, and the leader of a group is its lowest
 * rank. Each leader holds its group's Summary: the equivalence classes of the pieces that still
 * touch one of the group's two outer slab faces, with their voxels, face bits and smallest
 * provisional id, and which pieces lie on each face. At level k the leader of an odd group sends its
 * summary, with the face-crossing pairs of its lowest rank, to the leader of the group below, which
 * merges the two by union-find on the classes. Classes that touch neither outer face of the merged
 * group are complete and leave the summary. After ceil(log2 Q) levels rank 0 holds no open class;
 * then every merge is undone in reverse order, each leader sending the final data of the classes
 * it received back down the tree. A rank receives at most one summary per level and one answer per
 * level it merged: O(F log Q) bytes, F the pieces on a slab face, independent of the rank count in
 * weak scaling and growing as log Q in strong scaling. */
#define TAG_UP   81
#define TAG_DOWN 82

typedef struct {
  int64_t  nclass, nbot, ntop;
  int64_t *cls; /* nclass x 3: voxels, face bits, smallest provisional id */
  int64_t *bot; /* nbot x 2: provisional id of a piece on the group's lower face, its class (ascending id) */
  int64_t *top; /* ntop x 2: the same on the group's upper face */
} Summary;

/* A merge done by a leader: the classes of its own summary (nl) and of the one received (nr) mapped
 * to the merged classes, and what became of each merged class. */
typedef struct {
  int      partner; /* the rank whose summary was merged in, -1 if none at this level */
  int64_t  nl, nr, nm;
  int64_t *map;  /* nl + nr: class (own first) -> merged class */
  int64_t *open; /* nm: merged class -> class of the merged summary, or -1 when complete */
  int64_t *info; /* nm x 3: voxels, face bits, smallest id (final for complete classes) */
} Merge;

static PetscErrorCode SummaryFree(Summary *s)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree3(s->cls, s->bot, s->top));
  s->nclass = s->nbot = s->ntop = 0;
  PetscFunctionReturn(0);
}

static PetscErrorCode SummaryAlloc(Summary *s, int64_t nclass, int64_t nbot, int64_t ntop)
{
  PetscFunctionBeginUser;
  s->nclass = nclass;
  s->nbot   = nbot;
  s->ntop   = ntop;
  PetscCall(
    PetscMalloc3(3 * PetscMax(nclass, 1), &s->cls, 2 * PetscMax(nbot, 1), &s->bot, 2 * PetscMax(ntop, 1), &s->top));
  PetscFunctionReturn(0);
}

/* The class of piece `id` in a face list (ascending ids), or -1. */
static int64_t FaceClass(const int64_t *list, int64_t n, int64_t id)
{
  int64_t lo = 0, hi = n - 1;
  while (lo <= hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (list[2 * mid] == id) return list[2 * mid + 1];
    if (list[2 * mid] < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

static inline int64_t Find64(int64_t *p, int64_t i)
{
  while (p[i] != i) {
    p[i] = p[p[i]];
    i    = p[i];
  }
  return i;
}

/* The level-0 summary of this rank: one class per piece that reaches an inner slab face. `cls`
 * receives, per piece, its class or -1. */
static PetscErrorCode SummaryOfSlab(PgComponents c, int64_t offset, int64_t npieces, const int64_t *voxels,
                                    const uint8_t *faces, int64_t *cls, Summary *s)
{
  const PgGrid g     = c->grid;
  const size_t plane = PgGridPlane(g);
  uint8_t     *on; /* per piece: bit 1 lower face, bit 2 upper face */
  int64_t      n = 0, nb = 0, nt = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(PetscMax(npieces, 1), &on));
  if (g->nz_local > 0) {
    const int32_t *lo = c->id, *hi = c->id + plane * (size_t)(g->nz_local - 1);
    if (g->z_start > 0)
      for (size_t i = 0; i < plane; i++)
        if (lo[i] >= 0) on[lo[i] - offset] |= 1;
    if (g->z_start + g->nz_local < g->n[2])
      for (size_t i = 0; i < plane; i++)
        if (hi[i] >= 0) on[hi[i] - offset] |= 2;
  }
  for (int64_t k = 0; k < npieces; k++) {
    n += on[k] != 0;
    nb += on[k] & 1;
    nt += (on[k] >> 1) & 1;
  }
  PetscCall(SummaryAlloc(s, n, nb, nt));
  n = nb = nt = 0;
  for (int64_t k = 0; k < npieces; k++) {
    cls[k] = -1;
    if (!on[k]) continue;
    cls[k]            = n;
    s->cls[3 * n]     = voxels[k];
    s->cls[3 * n + 1] = faces[k];
    s->cls[3 * n + 2] = offset + k;
    if (on[k] & 1) {
      s->bot[2 * nb]     = offset + k;
      s->bot[2 * nb + 1] = n;
      nb++;
    }
    if (on[k] & 2) {
      s->top[2 * nt]     = offset + k;
      s->top[2 * nt + 1] = n;
      nt++;
    }
    n++;
  }
  PetscCall(PetscFree(on));
  PetscFunctionReturn(0);
}

/* Sends a summary and the face-crossing pairs of this rank's lower face (one message). */
static PetscErrorCode SummarySend(MPI_Comm comm, int to, const Summary *s, int64_t nedges, const uint64_t *edges)
{
  const int64_t len = 4 + 3 * s->nclass + 2 * s->nbot + 2 * s->ntop + nedges;
  int64_t      *buf, *b;

  PetscFunctionBeginUser;
  PetscCheck(len <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "components: a merge message of %" PRId64 " entries exceeds one MPI message", len);
  PetscCall(PetscMalloc1(len, &buf));
  buf[0] = s->nclass;
  buf[1] = s->nbot;
  buf[2] = s->ntop;
  buf[3] = nedges;
  b      = buf + 4;
  PetscCall(PetscArraycpy(b, s->cls, 3 * s->nclass));
  b += 3 * s->nclass;
  PetscCall(PetscArraycpy(b, s->bot, 2 * s->nbot));
  b += 2 * s->nbot;
  PetscCall(PetscArraycpy(b, s->top, 2 * s->ntop));
  b += 2 * s->ntop;
  for (int64_t e = 0; e < nedges; e++) b[e] = (int64_t)edges[e];
  PetscCallMPI(MPI_Send(buf, (int)len, MPI_INT64_T, to, TAG_UP, comm));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* Receives a message of unknown length; *buf is allocated. */
static PetscErrorCode RecvAny(MPI_Comm comm, int from, int tag, int64_t **buf, int *len)
{
  MPI_Status st;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Probe(from, tag, comm, &st));
  PetscCallMPI(MPI_Get_count(&st, MPI_INT64_T, len));
  PetscCall(PetscMalloc1(PetscMax(*len, 1), buf));
  PetscCallMPI(MPI_Recv(*buf, *len, MPI_INT64_T, from, tag, comm, MPI_STATUS_IGNORE));
  PetscFunctionReturn(0);
}

/* Merges the summary received from the group above (buf: SummarySend's layout) into s. */
static PetscErrorCode SummaryMerge(Summary *s, const int64_t *buf, Merge *m)
{
  const int64_t  nl = s->nclass, nr = buf[0], nrb = buf[1], nrt = buf[2], ne = buf[3];
  const int64_t *rcls = buf + 4, *rbot = rcls + 3 * nr, *rtop = rbot + 2 * nrb, *edges = rtop + 2 * nrt;
  int64_t       *p, *root2m, nm = 0, nopen = 0;
  Summary        out;

  PetscFunctionBeginUser;
  m->nl = nl;
  m->nr = nr;
  PetscCall(PetscMalloc2(PetscMax(nl + nr, 1), &p, PetscMax(nl + nr, 1), &root2m));
  for (int64_t i = 0; i < nl + nr; i++) p[i] = i;
  for (int64_t e = 0; e < ne; e++) { /* (piece on the upper group's lower face, piece below it) */
    const int64_t a = FaceClass(rbot, nrb, (int64_t)((uint64_t)edges[e] >> 32)),
                  b = FaceClass(s->top, s->ntop, (int64_t)((uint64_t)edges[e] & 0xffffffffu));
    PetscCheck(a >= 0 && b >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "components: a face-crossing piece is missing from a face list");
    int64_t ra = Find64(p, nl + a), rb = Find64(p, b);
    if (ra != rb) {
      if (ra < rb) p[rb] = ra;
      else p[ra] = rb;
    }
  }
  for (int64_t i = 0; i < nl + nr; i++) root2m[i] = -1;
  PetscCall(PetscMalloc1(PetscMax(nl + nr, 1), &m->map));
  for (int64_t i = 0; i < nl + nr; i++) {
    const int64_t r = Find64(p, i);
    if (root2m[r] < 0) root2m[r] = nm++;
    m->map[i] = root2m[r];
  }
  m->nm = nm;
  PetscCall(PetscMalloc2(PetscMax(nm, 1), &m->open, 3 * PetscMax(nm, 1), &m->info));
  for (int64_t j = 0; j < nm; j++) {
    m->open[j]         = -1;
    m->info[3 * j]     = 0;
    m->info[3 * j + 1] = 0;
    m->info[3 * j + 2] = INT64_MAX;
  }
  for (int64_t i = 0; i < nl + nr; i++) {
    const int64_t *ci = i < nl ? s->cls + 3 * i : rcls + 3 * (i - nl);
    int64_t       *mi = m->info + 3 * m->map[i];
    mi[0] += ci[0];
    mi[1] |= ci[1];
    mi[2] = PetscMin(mi[2], ci[2]);
  }
  /* the merged group's faces: the lower face of the lower group and the upper face of the upper */
  for (int64_t i = 0; i < s->nbot; i++) m->open[m->map[s->bot[2 * i + 1]]] = 1;
  for (int64_t i = 0; i < nrt; i++) m->open[m->map[nl + rtop[2 * i + 1]]] = 1;
  for (int64_t j = 0; j < nm; j++) m->open[j] = m->open[j] > 0 ? nopen++ : -1;
  PetscCall(SummaryAlloc(&out, nopen, s->nbot, nrt));
  for (int64_t j = 0; j < nm; j++)
    if (m->open[j] >= 0) PetscCall(PetscArraycpy(out.cls + 3 * m->open[j], m->info + 3 * j, 3));
  for (int64_t i = 0; i < s->nbot; i++) {
    out.bot[2 * i]     = s->bot[2 * i];
    out.bot[2 * i + 1] = m->open[m->map[s->bot[2 * i + 1]]];
  }
  for (int64_t i = 0; i < nrt; i++) {
    out.top[2 * i]     = rtop[2 * i];
    out.top[2 * i + 1] = m->open[m->map[nl + rtop[2 * i + 1]]];
  }
  PetscCall(SummaryFree(s));
  *s = out;
  PetscCall(PetscFree2(p, root2m));
  PetscFunctionReturn(0);
}

/* Undoes a merge: the finals (w values per class) of the merged summary's classes give those of
 * the merged classes (complete ones keep their own, `own`, w per merged class), hence those of the
 * lower (own) and upper (received) summaries: *lower gets nl x w, *upper nr x w values. */
static PetscErrorCode MergeUndo(const Merge *m, int w, const int64_t *final, const int64_t *own, int64_t **lower,
                                int64_t **upper)
{
  int64_t *all;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(w * PetscMax(m->nm, 1), &all));
  for (int64_t j = 0; j < m->nm; j++)
    PetscCall(PetscArraycpy(all + w * j, m->open[j] >= 0 ? final + w * m->open[j] : own + w * j, w));
  PetscCall(PetscMalloc1(w * PetscMax(m->nl, 1), lower));
  PetscCall(PetscMalloc1(w * PetscMax(m->nr, 1), upper));
  for (int64_t i = 0; i < m->nl; i++) PetscCall(PetscArraycpy(*lower + w * i, all + w * m->map[i], w));
  for (int64_t i = 0; i < m->nr; i++) PetscCall(PetscArraycpy(*upper + w * i, all + w * m->map[m->nl + i], w));
  PetscCall(PetscFree(all));
  PetscFunctionReturn(0);
}

/* The down pass: from the finals of the summary this rank sent (or, on rank 0, of its final
 * summary, which has no open class) back through its merges, answering each partner. On return
 * *final holds w values per class of the rank's level-0 summary. own[k] (per level k) are the
 * values of the complete merged classes. */
static PetscErrorCode TreeDown(MPI_Comm comm, int rank, int levels, int sent, const Merge *lev, int w,
                               int64_t *const *own, int64_t **final)
{
  int64_t *f = NULL;

  PetscFunctionBeginUser;
  if (sent >= 0) {
    int len;
    PetscCall(RecvAny(comm, rank - (1 << sent), TAG_DOWN, &f, &len));
  } else PetscCall(PetscMalloc1(1, &f));
  for (int k = (sent >= 0 ? sent : levels) - 1; k >= 0; k--) {
    int64_t *lower, *upper;
    if (lev[k].partner < 0) continue;
    PetscCall(MergeUndo(&lev[k], w, f, own[k], &lower, &upper));
    PetscCheck(w * lev[k].nr <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
               "components: a merge answer exceeds one MPI message");
    PetscCallMPI(MPI_Send(upper, (int)(w * lev[k].nr), MPI_INT64_T, lev[k].partner, TAG_DOWN, comm));
    PetscCall(PetscFree(upper));
    PetscCall(PetscFree(f));
    f = lower;
  }
  *final = f;
  PetscFunctionReturn(0);
}

/* Steps 3 and 4 of the merge for this rank: the merge tree over the owning ranks. On return fin
 * holds, per class of the level-0 summary s0 (the pieces on inner slab faces), the voxels, face
 * bits and smallest provisional id of the whole component, and fid its final id (computed from the
 * owners' numbering by `Number`, called between the two passes). */
typedef struct {
  int     levels, sent; /* merge levels; the level at which this rank sent its summary (-1: never) */
  Merge  *lev;
  int64_t n0; /* classes of the level-0 summary */
} Tree;

static PetscErrorCode TreeDestroy(Tree *t)
{
  PetscFunctionBeginUser;
  for (int k = 0; k < t->levels; k++) {
    PetscCall(PetscFree(t->lev[k].map));
    PetscCall(PetscFree2(t->lev[k].open, t->lev[k].info));
  }
  PetscCall(PetscFree(t->lev));
  PetscFunctionReturn(0);
}

/* The up pass of the first tree traversal and its down pass: *fin = n0 x 3 finals. */
static PetscErrorCode TreeResolve(PgGrid g, Summary *s, int64_t nedges, const uint64_t *edges, Tree *t, int64_t **fin)
{
  const int Q = g->nowners, me = g->rank;
  int64_t **own;

  PetscFunctionBeginUser;
  t->levels = 0;
  while ((1 << t->levels) < Q) t->levels++;
  t->sent = -1;
  t->n0   = s->nclass;
  PetscCall(PetscCalloc1(PetscMax(t->levels, 1), &t->lev));
  for (int k = 0; k < t->levels; k++) t->lev[k].partner = -1;
  for (int k = 0; k < t->levels; k++) {
    if ((me >> k) & 1) {
      PetscCall(SummarySend(g->comm, me - (1 << k), s, nedges, edges));
      t->sent = k;
      break;
    }
    if (me + (1 << k) < Q) {
      int64_t *buf;
      int      len;
      PetscCall(RecvAny(g->comm, me + (1 << k), TAG_UP, &buf, &len));
      t->lev[k].partner = me + (1 << k);
      PetscCall(SummaryMerge(s, buf, &t->lev[k]));
      PetscCall(PetscFree(buf));
    }
  }
  PetscCheck(t->sent >= 0 || (s->nbot == 0 && s->ntop == 0 && s->nclass == 0), PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "components: classes left open at the root of the merge tree");
  PetscCall(PetscMalloc1(PetscMax(t->levels, 1), &own));
  for (int k = 0; k < t->levels; k++) own[k] = t->lev[k].info;
  PetscCall(TreeDown(g->comm, me, t->levels, t->sent, t->lev, 3, own, fin));
  PetscCall(PetscFree(own));
  PetscFunctionReturn(0);
}

/* The second traversal: the final ids, known to the owner of each component's first piece (known0:
 * per level-0 class, -1 where this rank is not the owner), carried up to where the component is
 * complete and back down to every rank holding a piece of it. *fid = n0 final ids. */
static PetscErrorCode TreeNumber(PgGrid g, Tree *t, const int64_t *known0, int64_t **fid)
{
  const int me = g->rank;
  int64_t  *cur, ncur = t->n0, **own;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(PetscMax(ncur, 1), &cur));
  PetscCall(PetscArraycpy(cur, known0, ncur));
  PetscCall(PetscMalloc1(PetscMax(t->levels, 1), &own));
  for (int k = 0; k < t->levels; k++) own[k] = NULL;
  for (int k = 0; k < t->levels; k++) {
    Merge *m = &t->lev[k];
    if (t->sent == k) {
      PetscCheck(ncur <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
                 "components: a merge message exceeds one MPI message");
      PetscCallMPI(MPI_Send(cur, (int)ncur, MPI_INT64_T, me - (1 << k), TAG_UP, g->comm));
      break;
    }
    if (m->partner < 0) continue;
    int64_t *up, *next, nopen = 0;
    int      len;
    PetscCall(RecvAny(g->comm, m->partner, TAG_UP, &up, &len));
    PetscCheck(len == m->nr && ncur == m->nl, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "components: the numbering pass does not match the merge");
    PetscCall(PetscMalloc1(PetscMax(m->nm, 1), &own[k]));
    for (int64_t j = 0; j < m->nm; j++) {
      own[k][j] = -1;
      nopen += m->open[j] >= 0;
    }
    for (int64_t i = 0; i < m->nl + m->nr; i++)
      own[k][m->map[i]] = PetscMax(own[k][m->map[i]], i < m->nl ? cur[i] : up[i - m->nl]);
    PetscCall(PetscMalloc1(PetscMax(nopen, 1), &next));
    for (int64_t j = 0; j < m->nm; j++) {
      if (m->open[j] >= 0) next[m->open[j]] = own[k][j];
      else PetscCheck(own[k][j] >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "components: a complete component has no owner");
    }
    PetscCall(PetscFree(up));
    PetscCall(PetscFree(cur));
    cur  = next;
    ncur = nopen;
  }
  PetscCall(PetscFree(cur));
  PetscCall(TreeDown(g->comm, me, t->levels, t->sent, t->lev, 1, own, fid));
  for (int k = 0; k < t->levels; k++) PetscCall(PetscFree(own[k]));
  PetscCall(PetscFree(own));
  PetscFunctionReturn(0);
}

/* Step 4 on this rank: which pieces own their component (the component's first piece is here),
 * the numbering (exclusive prefix sum of the owned counts), the final id of every piece, the table
 * rows and the face bits of the components of other ranks that reach into the slab. */
static PetscErrorCode LocalResult(PgComponents c, int64_t offset, int64_t npieces, const int64_t *pvox,
                                  const uint8_t *pfaces, const int64_t *cls, Tree *t, const int64_t *fin)
{
  const PgGrid g = c->grid;
  int64_t     *map, *known, *fid, owned = 0, first = 0, nf = 0, m = 0;
  uint64_t    *key;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(PetscMax(npieces, 1), &map));
  for (int64_t k = 0; k < npieces; k++) {
    map[k] = cls[k] < 0 || fin[3 * cls[k] + 2] == offset + k ? 0 : -1; /* 0: owned, numbered below */
    owned += map[k] == 0;
  }
  PetscCallMPI(MPI_Exscan(&owned, &first, 1, MPI_INT64_T, MPI_SUM, g->comm));
  if (g->rank == 0) first = 0;
  PetscCheck(first + owned <= INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "components: more than 2^31-1 components");
  c->first = first;
  c->count = owned;
  PetscCall(PetscMalloc2(PetscMax(owned, 1), &c->voxels, PetscMax(owned, 1), &c->faces));
  PetscCall(PetscMalloc1(PetscMax(t->n0, 1), &known));
  for (int64_t i = 0; i < t->n0; i++) known[i] = -1;
  for (int64_t k = 0, r = 0; k < npieces; k++) {
    if (map[k] < 0) continue;
    map[k]       = first + r;
    c->voxels[r] = cls[k] < 0 ? pvox[k] : fin[3 * cls[k]];
    c->faces[r]  = (uint8_t)(cls[k] < 0 ? pfaces[k] : fin[3 * cls[k] + 1]);
    if (cls[k] >= 0) known[cls[k]] = map[k];
    r++;
  }
  if (g->rank < g->nowners) PetscCall(TreeNumber(g, t, known, &fid));
  else PetscCall(PetscCalloc1(1, &fid));
  PetscCall(PetscMalloc1(PetscMax(npieces, 1), &key));
  for (int64_t k = 0; k < npieces; k++) {
    if (map[k] >= 0) continue;
    map[k]    = fid[cls[k]];
    key[nf++] = (uint64_t)map[k] << 8 | (uint64_t)fin[3 * cls[k] + 1];
  }
  /* several pieces may join one foreign component, which has one set of face bits */
  qsort(key, (size_t)nf, sizeof *key, CompareU64);
  for (int64_t i = 0; i < nf; i++)
    if (m == 0 || key[m - 1] != key[i]) key[m++] = key[i];
  PetscCall(PetscMalloc2(PetscMax(m, 1), &c->foreign_id, PetscMax(m, 1), &c->foreign_faces));
  for (int64_t i = 0; i < m; i++) {
    c->foreign_id[i]    = (int64_t)(key[i] >> 8);
    c->foreign_faces[i] = (uint8_t)(key[i] & 0xff);
  }
  c->nforeign = m;
  {
    const size_t n  = PgGridLocalVoxels(g);
    int32_t     *id = c->id;
#pragma omp parallel for schedule(static) num_threads(PetscMax(g->threads, 1))
    for (size_t i = 0; i < n; i++)
      if (id[i] >= 0) id[i] = (int32_t)map[id[i] - offset];
  }
  PetscCall(PetscFree(key));
  PetscCall(PetscFree(fid));
  PetscCall(PetscFree(known));
  PetscCall(PetscFree(map));
  PetscFunctionReturn(0);
}

/* Counts, largest component and percolation from the table rows; two reductions. */
static PetscErrorCode Summarize(PgComponents c)
{
  int64_t sums[4] = {0, 0, 0, 0}, largest = 0; /* phase voxels, percolating voxels along x, y, z */

  PetscFunctionBeginUser;
  for (int64_t r = 0; r < c->count; r++) {
    sums[0] += c->voxels[r];
    largest = PetscMax(largest, c->voxels[r]);
    for (int a = 0; a < 3; a++)
      if ((c->faces[r] & PgFacesNormalTo(a)) == PgFacesNormalTo(a)) sums[1 + a] += c->voxels[r];
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_INT64_T, MPI_SUM, c->grid->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &largest, 1, MPI_INT64_T, MPI_MAX, c->grid->comm));
  PetscCallMPI(MPI_Allreduce(&c->count, &c->info.count, 1, MPI_INT64_T, MPI_SUM, c->grid->comm));
  c->info.phase_voxels   = sums[0];
  c->info.largest_voxels = largest;
  for (int a = 0; a < 3; a++) {
    c->info.percolating_voxels[a]   = sums[1 + a];
    c->info.percolating_fraction[a] = sums[0] ? (double)sums[1 + a] / (double)sums[0] : 0.0;
    c->info.percolates[a]           = sums[1 + a] > 0 ? PETSC_TRUE : PETSC_FALSE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgComponentsCompute(PgComponents c, const uint8_t *v, uint8_t value, PgConnectivity conn)
{
  const PgGrid g       = c->grid;
  const size_t plane   = PgGridPlane(g);
  int64_t      npieces = 0, offset = 0, total = 0, *pvox, *cls, *fin = NULL, nedges = 0;
  uint8_t     *pfaces;
  uint64_t    *edges = NULL;
  Summary      s     = {0};
  Tree         t     = {0};

  PetscFunctionBeginUser;
  PetscCheck(conn == PG_CONNECTIVITY_6 || conn == PG_CONNECTIVITY_26, g->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "components: connectivity %d, allowed 6 or 26", (int)conn);
  PetscCall(FreeResult(c));
  /* steps 1 and 2 */
  UnionFindLanes(c, v, value, conn, &npieces);
  PetscCallMPI(MPI_Exscan(&npieces, &offset, 1, MPI_INT64_T, MPI_SUM, g->comm));
  if (g->rank == 0) offset = 0;
  PetscCallMPI(MPI_Allreduce(&npieces, &total, 1, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCheck(total <= INT32_MAX, g->comm, PETSC_ERR_SUP,
             "components: %" PRId64 " pieces before merging, at most 2^31-1 supported", total);
  PetscCall(PetscCalloc2(PetscMax(npieces, 1), &pvox, PetscMax(npieces, 1), &pfaces));
  Relabel(c, offset, pvox, pfaces);
  /* step 3: the pairs across the lower slab face, and the merge tree */
  for (size_t i = 0; i < plane; i++) c->buf[i] = c->id[plane * (size_t)g->nz_local + i] = -1;
  PetscCall(PgGridHaloExchange(g, c->buf, plane * sizeof(int32_t), 1, PETSC_FALSE));
  PetscCall(FaceEdges(c, conn, &nedges, &edges));
  PetscCall(PetscMalloc1(PetscMax(npieces, 1), &cls));
  PetscCall(SummaryOfSlab(c, offset, npieces, pvox, pfaces, cls, &s));
  if (g->rank < g->nowners) PetscCall(TreeResolve(g, &s, nedges, edges, &t, &fin));
  else PetscCall(PetscCalloc1(1, &fin));
  PetscCall(SummaryFree(&s));
  PetscCall(PetscFree(edges));
  /* step 4 */
  PetscCall(LocalResult(c, offset, npieces, pvox, pfaces, cls, &t, fin));
  PetscCall(Summarize(c));
  PetscCall(TreeDestroy(&t));
  PetscCall(PetscFree(fin));
  PetscCall(PetscFree(cls));
  PetscCall(PetscFree2(pvox, pfaces));
  c->computed = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode PgComponentsGetInfo(PgComponents c, PgComponentsInfo *info)
{
  PetscFunctionBeginUser;
  PetscCheck(c->computed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "components: call PgComponentsCompute first");
  *info = c->info;
  PetscFunctionReturn(0);
}

PetscErrorCode PgComponentsGetLabels(PgComponents c, const int32_t **id)
{
  PetscFunctionBeginUser;
  PetscCheck(c->computed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "components: call PgComponentsCompute first");
  *id = c->id;
  PetscFunctionReturn(0);
}

PetscErrorCode PgComponentsGetLocalTable(PgComponents c, int64_t *first, int64_t *count, const int64_t **voxels,
                                         const uint8_t **faces)
{
  PetscFunctionBeginUser;
  PetscCheck(c->computed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "components: call PgComponentsCompute first");
  *first  = c->first;
  *count  = c->count;
  *voxels = c->voxels;
  *faces  = c->faces;
  PetscFunctionReturn(0);
}

unsigned PgComponentsFacesOf(PgComponents c, size_t i)
{
  const int64_t q  = c->id[i];
  int64_t       lo = 0, hi = c->nforeign - 1;

  if (q < 0) return 0;
  if (q >= c->first && q < c->first + c->count) return c->faces[q - c->first];
  while (lo <= hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (c->foreign_id[mid] == q) return c->foreign_faces[mid];
    if (c->foreign_id[mid] < q) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

PetscErrorCode PgComponentsSelect(PgComponents c, unsigned faces, uint8_t *mask)
{
  const size_t n = PgGridLocalVoxels(c->grid);

  PetscFunctionBeginUser;
  PetscCheck(c->computed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "components: call PgComponentsCompute first");
  PetscCheck(faces < 64, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "components: face bits %u outside 0..63", faces);
  for (size_t i = 0; i < n; i++) mask[i] = c->id[i] >= 0 && (PgComponentsFacesOf(c, i) & faces) == faces;
  PetscFunctionReturn(0);
}
