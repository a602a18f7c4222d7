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
/// 3. Merging across slab faces: one halo exchange of the boundary planes' ids (PgGridHaloExchange);
///    each rank lists the distinct pairs (own piece, piece below) that touch across its lower face,
///    and the pieces that reach an inner slab face. Only these lists are all-gathered (never
///    the volume); every rank then resolves the same small equivalence graph by union-find (root =
///    smallest provisional id), whatever the number of slab crossings (a serpentine channel
///    through all slabs costs one round, not one round per crossing).
/// 4. Final ids: the merged components, numbered in the order of their smallest provisional id,
///    which is the order of their first voxel in the global scan: the numbering and the per-voxel
///    labels are the same at any rank count. Each rank owns the table rows (volume, face bits) of
///    the components whose first voxel it holds.
///
/// Communication per call and rank: the halo exchange (2 planes of 4 nx ny bytes each way), a few
/// scalar collectives, and all-gathers of 24 bytes per piece that reaches an inner slab face and 8
/// bytes per distinct face-crossing pair, received from every rank. That is at most one plane's
/// worth per inner face and typically far less (one entry per component crossing); it grows with
/// the number of ranks, so at thousands of ranks a tree merge of neighbouring slabs would replace
/// the all-gather. Memory: 4 bytes per voxel (ids) plus two ghost planes, and per-piece tables.
/// Cost: near-linear in the voxels, single-threaded union-find (ids must follow the scan order).
/// The ids are int32: at most 2^31 - 1 voxels per rank and 2^31 - 1 provisional pieces in total.
#include <plurigauss/components.h>

#include <inttypes.h>
#include <stdlib.h>

struct PgComponents_private {
  PgGrid           grid;
  int32_t         *buf;            /* ghost plane, nz_local owned planes, ghost plane */
  int32_t         *id;             /* buf + one plane: the owned planes */
  PetscBool        computed;
  PgComponentsInfo info;
  int64_t          first, count;   /* this rank's table rows */
  int64_t         *voxels;         /* per row: volume in voxels */
  uint8_t         *faces;          /* per row: PG_FACE_* bits */
  int64_t          nforeign;       /* components of other ranks that reach into this slab */
  int64_t         *foreign_id;     /* their ids, ascending */
  uint8_t         *foreign_faces;  /* their face bits */
};

PetscErrorCode PgComponentsCreate(PgGrid grid, PgComponents *comp)
{
  PgComponents c;
  const size_t plane = PgGridPlane(grid);

  PetscFunctionBeginUser;
  PetscCheck(PgGridLocalVoxels(grid) <= (size_t)INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "components: rank %d holds %zu voxels, at most 2^31-1 supported", grid->rank, PgGridLocalVoxels(grid));
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
static void LocalUnionFind(PgComponents c, const uint8_t *v, uint8_t value, PgConnectivity conn, int64_t *npieces)
{
  const PgGrid g  = c->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1], nzl = (int)g->nz_local;
  int32_t     *p  = c->id;
  int          nb = 0, nshort, off[13][3];
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
  for (int z = 0; z < nzl; z++)
    for (int y = 0; y < ny; y++) {
      const int32_t row = (int32_t)PgGridIndex(g, z, y, 0);
      for (int x = 0; x < nx; x++) {
        const int32_t i = row + x;
        if (v[i] != value) {
          p[i] = -1;
          continue;
        }
        const int interior = z > 0 && y > 0 && y < ny - 1 && x > 0 && x < nx - 1;
        const int n        = x > 0 && p[i - 1] >= 0 ? PetscMin(nshort, nb) : nb;
        int32_t   r        = -1; /* root of i's set so far */
        for (int k = 0; k < n; k++) {
          if (!interior) {
            const int zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
            if (zz < 0 || yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
          }
          const int32_t j = i + delta[k];
          if (p[j] < 0) continue;
          const int32_t rj = Find(p, j);
          if (r < 0) r = p[i] = rj; /* i joins j's set */
          else if (rj != r) {     /* two sets meet at i: the larger root goes under the smaller */
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

/* Step 2: provisional global ids (offset + piece number, pieces in order of their first voxel);
 * the voxels and face bits of each piece. Every parent index precedes its child, so the parent's
 * slot already holds the final id when the child is reached. */
static void Relabel(PgComponents c, int64_t offset, int64_t *voxels, uint8_t *faces)
{
  const PgGrid g  = c->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1], nzl = (int)g->nz_local;
  int32_t     *p  = c->id;
  int32_t      next = 0;

  for (int z = 0; z < nzl; z++) {
    const int64_t zg    = g->z_start + z;
    const uint8_t fz    = (uint8_t)((zg == 0 ? PG_FACE_Z_LO : 0) | (zg == g->n[2] - 1 ? PG_FACE_Z_HI : 0));
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

/* Step 3b: records (id, voxels, faces) of the pieces that reach an inner slab face, ascending. */
static PetscErrorCode BoundaryPieces(PgComponents c, int64_t offset, int64_t npieces, const int64_t *voxels, const uint8_t *faces, int64_t *nrec, int64_t **rec)
{
  const PgGrid  g     = c->grid;
  const size_t  plane = PgGridPlane(g);
  PetscBool    *mark;
  int64_t       n = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(PetscMax(npieces, 1), &mark));
  if (g->nz_local > 0) {
    const int32_t *lo = c->id, *hi = c->id + plane * (size_t)(g->nz_local - 1);
    if (g->z_start > 0)
      for (size_t i = 0; i < plane; i++)
        if (lo[i] >= 0) mark[lo[i] - offset] = PETSC_TRUE;
    if (g->z_start + g->nz_local < g->n[2])
      for (size_t i = 0; i < plane; i++)
        if (hi[i] >= 0) mark[hi[i] - offset] = PETSC_TRUE;
  }
  for (int64_t k = 0; k < npieces; k++) n += mark[k];
  PetscCall(PetscMalloc1(3 * PetscMax(n, 1), rec));
  n = 0;
  for (int64_t k = 0; k < npieces; k++)
    if (mark[k]) {
      (*rec)[3 * n]     = offset + k;
      (*rec)[3 * n + 1] = voxels[k];
      (*rec)[3 * n + 2] = faces[k];
      n++;
    }
  *nrec = n;
  PetscCall(PetscFree(mark));
  PetscFunctionReturn(0);
}

/* All-gathers n items of `width` elements of `type` from every rank; *displ (size + 1 entries)
 * gives each rank's first item. */
static PetscErrorCode AllGather(MPI_Comm comm, int size, const void *mine, int64_t n, int width, MPI_Datatype type, size_t elem, void **all, int64_t *total, int **displ)
{
  int *cnt, *ecnt, *edispl, in = (int)n;

  PetscFunctionBeginUser;
  PetscCheck(n <= INT_MAX / width, PETSC_COMM_SELF, PETSC_ERR_SUP, "components: %" PRId64 " boundary entries exceed one MPI message", n);
  PetscCall(PetscMalloc3(size, &cnt, size, &ecnt, size, &edispl));
  PetscCall(PetscMalloc1(size + 1, displ));
  PetscCallMPI(MPI_Allgather(&in, 1, MPI_INT, cnt, 1, MPI_INT, comm));
  (*displ)[0] = 0;
  for (int r = 0; r < size; r++) {
    PetscCheck((int64_t)(*displ)[r] + cnt[r] <= INT_MAX / width, PETSC_COMM_SELF, PETSC_ERR_SUP, "components: the boundary equivalence graph exceeds one MPI message");
    (*displ)[r + 1] = (*displ)[r] + cnt[r];
    ecnt[r]         = cnt[r] * width;
    edispl[r]       = (*displ)[r] * width;
  }
  *total = (*displ)[size];
  PetscCall(PetscMalloc(elem * (size_t)width * (size_t)PetscMax(*total, 1), all));
  PetscCallMPI(MPI_Allgatherv(mine, in * width, type, *all, ecnt, edispl, type, comm));
  PetscCall(PetscFree3(cnt, ecnt, edispl));
  PetscFunctionReturn(0);
}

static int64_t Search(const int64_t *rec, int64_t n, int64_t id)
{
  int64_t lo = 0, hi = n - 1;
  while (lo <= hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (rec[3 * mid] == id) return mid;
    if (rec[3 * mid] < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* The boundary equivalence graph as every rank holds it after the all-gathers, and its resolution. */
typedef struct {
  int64_t   M, E;    /* pieces on inner faces, face-crossing pairs */
  int64_t  *rec;     /* M records (id, voxels, faces), ascending id (rank order, then piece order) */
  uint64_t *pairs;   /* E keys (id << 32 | id below) */
  int      *rdispl;  /* first record of each rank, size + 1 entries */
  int      *edispl;  /* first pair of each rank */
  int32_t  *root;    /* per record: index of the record with the smallest id of its component */
  int64_t  *voxels;  /* per root record: voxels of the whole component */
  uint8_t  *faces;   /* per root record: faces of the whole component */
  int32_t  *final;   /* per record: final component id */
  int64_t  *coff;    /* first final id of each rank, size + 1 entries */
} Boundary;

static PetscErrorCode BoundaryDestroy(Boundary *b)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(b->rec));
  PetscCall(PetscFree(b->pairs));
  PetscCall(PetscFree(b->rdispl));
  PetscCall(PetscFree(b->edispl));
  PetscCall(PetscFree4(b->root, b->voxels, b->faces, b->final));
  PetscCall(PetscFree(b->coff));
  PetscFunctionReturn(0);
}

/* Union-find over the gathered records; final ids. Rank r's components are numbered from coff[r] =
 * the sum over lower ranks of (pieces - pieces merged into a component with a smaller id), each
 * rank's in the order of their ids. Identical on every rank (same input, same order). */
static PetscErrorCode BoundaryResolve(PgGrid g, int64_t npieces, Boundary *b)
{
  const int64_t M = b->M;
  int64_t      *nloc;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(PetscMax(M, 1), &b->root, PetscMax(M, 1), &b->voxels, PetscMax(M, 1), &b->faces, PetscMax(M, 1), &b->final));
  for (int64_t j = 0; j < M; j++) b->root[j] = (int32_t)j;
  for (int64_t k = 0; k < b->E; k++) {
    const int64_t i = Search(b->rec, M, (int64_t)(b->pairs[k] >> 32)), j = Search(b->rec, M, (int64_t)(b->pairs[k] & 0xffffffffu));
    PetscCheck(i >= 0 && j >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "components: a face-crossing piece is missing from the boundary list");
    (void)Union(b->root, (int32_t)i, (int32_t)j);
  }
  for (int64_t j = 0; j < M; j++) { /* root[j] <= j: one increasing sweep flattens */
    b->root[j]   = b->root[b->root[j]];
    b->voxels[j] = 0;
    b->faces[j]  = 0;
  }
  for (int64_t j = 0; j < M; j++) {
    b->voxels[b->root[j]] += b->rec[3 * j + 1];
    b->faces[b->root[j]] |= (uint8_t)b->rec[3 * j + 2];
  }
  PetscCall(PetscMalloc1(g->size, &nloc));
  PetscCall(PetscMalloc1(g->size + 1, &b->coff));
  PetscCallMPI(MPI_Allgather(&npieces, 1, MPI_INT64_T, nloc, 1, MPI_INT64_T, g->comm));
  b->coff[0] = 0;
  int64_t off = 0; /* rank r's first provisional id */
  for (int r = 0; r < g->size; r++) {
    int64_t merged = 0;
    for (int64_t j = b->rdispl[r]; j < b->rdispl[r + 1]; j++) {
      if (b->root[j] == j) b->final[j] = (int32_t)(b->coff[r] + (b->rec[3 * j] - off) - merged);
      else merged++;
    }
    b->coff[r + 1] = b->coff[r] + nloc[r] - merged;
    off += nloc[r];
  }
  for (int64_t j = 0; j < M; j++)
    if (b->root[j] != j) b->final[j] = b->final[b->root[j]];
  PetscCall(PetscFree(nloc));
  PetscFunctionReturn(0);
}

/* Step 4 on this rank: final ids of the voxels, the table rows of the components whose smallest
 * piece is here, and the (sorted, distinct) components of other ranks that reach into the slab. */
static PetscErrorCode LocalResult(PgComponents c, int64_t offset, int64_t npieces, const int64_t *pvox, const uint8_t *pfaces, const Boundary *b)
{
  const PgGrid g = c->grid;
  int32_t     *map;
  uint64_t    *key;
  int64_t      s = b->rdispl[g->rank], send = b->rdispl[g->rank + 1], merged = 0, nf = 0, m = 0;

  PetscFunctionBeginUser;
  c->first = b->coff[g->rank];
  c->count = b->coff[g->rank + 1] - b->coff[g->rank];
  PetscCall(PetscMalloc1(PetscMax(npieces, 1), &map));
  PetscCall(PetscMalloc2(PetscMax(c->count, 1), &c->voxels, PetscMax(c->count, 1), &c->faces));
  PetscCall(PetscMalloc1(PetscMax(send - s, 1), &key));
  for (int64_t k = 0; k < npieces; k++) {
    if (s < send && b->rec[3 * s] == offset + k) { /* a piece on an inner face */
      map[k] = b->final[s];
      if (b->root[s] == s) {
        c->voxels[map[k] - c->first] = b->voxels[s];
        c->faces[map[k] - c->first]  = b->faces[s];
      } else {
        merged++;
        key[nf++] = (uint64_t)b->final[s] << 8 | b->faces[b->root[s]];
      }
      s++;
    } else {
      map[k]                       = (int32_t)(c->first + k - merged);
      c->voxels[map[k] - c->first] = pvox[k];
      c->faces[map[k] - c->first]  = pfaces[k];
    }
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
  PetscCall(PetscFree(key));
  {
    const size_t n = PgGridLocalVoxels(g);
    int32_t     *id = c->id;
#pragma omp parallel for schedule(static) num_threads(PetscMax(g->threads, 1))
    for (size_t i = 0; i < n; i++)
      if (id[i] >= 0) id[i] = map[id[i] - offset];
  }
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
  const PgGrid g     = c->grid;
  const size_t plane = PgGridPlane(g);
  int64_t      npieces = 0, offset = 0, total = 0, *pvox, *rec = NULL, nrec = 0, nedges = 0;
  uint8_t     *pfaces;
  uint64_t    *edges = NULL;
  Boundary     b = {0};

  PetscFunctionBeginUser;
  PetscCheck(conn == PG_CONNECTIVITY_6 || conn == PG_CONNECTIVITY_26, g->comm, PETSC_ERR_ARG_OUTOFRANGE, "components: connectivity %d, allowed 6 or 26", (int)conn);
  PetscCall(FreeResult(c));
  /* steps 1 and 2 */
  LocalUnionFind(c, v, value, conn, &npieces);
  PetscCallMPI(MPI_Exscan(&npieces, &offset, 1, MPI_INT64_T, MPI_SUM, g->comm));
  if (g->rank == 0) offset = 0;
  PetscCallMPI(MPI_Allreduce(&npieces, &total, 1, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCheck(total <= INT32_MAX, g->comm, PETSC_ERR_SUP, "components: %" PRId64 " pieces before merging, at most 2^31-1 supported", total);
  PetscCall(PetscCalloc2(PetscMax(npieces, 1), &pvox, PetscMax(npieces, 1), &pfaces));
  Relabel(c, offset, pvox, pfaces);
  /* step 3: the boundary equivalence graph, gathered on every rank and resolved there */
  for (size_t i = 0; i < plane; i++) c->buf[i] = c->id[plane * (size_t)g->nz_local + i] = -1;
  PetscCall(PgGridHaloExchange(g, c->buf, plane * sizeof(int32_t), 1, PETSC_FALSE));
  PetscCall(FaceEdges(c, conn, &nedges, &edges));
  PetscCall(BoundaryPieces(c, offset, npieces, pvox, pfaces, &nrec, &rec));
  PetscCall(AllGather(g->comm, g->size, rec, nrec, 3, MPI_INT64_T, sizeof(int64_t), (void **)&b.rec, &b.M, &b.rdispl));
  PetscCall(AllGather(g->comm, g->size, edges, nedges, 1, MPI_UINT64_T, sizeof(uint64_t), (void **)&b.pairs, &b.E, &b.edispl));
  PetscCall(PetscFree(rec));
  PetscCall(PetscFree(edges));
  PetscCall(BoundaryResolve(g, npieces, &b));
  /* step 4 */
  PetscCall(LocalResult(c, offset, npieces, pvox, pfaces, &b));
  PetscCall(Summarize(c));
  PetscCall(BoundaryDestroy(&b));
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

PetscErrorCode PgComponentsGetLocalTable(PgComponents c, int64_t *first, int64_t *count, const int64_t **voxels, const uint8_t **faces)
{
  PetscFunctionBeginUser;
  PetscCheck(c->computed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "components: call PgComponentsCompute first");
  *first  = c->first;
  *count  = c->count;
  *voxels = c->voxels;
  *faces  = c->faces;
  PetscFunctionReturn(0);
}

PetscErrorCode PgComponentsSelect(PgComponents c, unsigned faces, uint8_t *mask)
{
  const size_t n = PgGridLocalVoxels(c->grid);

  PetscFunctionBeginUser;
  PetscCheck(c->computed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "components: call PgComponentsCompute first");
  PetscCheck(faces < 64, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "components: face bits %u outside 0..63", faces);
  for (size_t i = 0; i < n; i++) {
    const int64_t q = c->id[i];
    unsigned      f = 0;
    if (q < 0) {
      mask[i] = 0;
      continue;
    }
    if (q >= c->first && q < c->first + c->count) f = c->faces[q - c->first];
    else {
      int64_t lo = 0, hi = c->nforeign - 1;
      while (lo <= hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (c->foreign_id[mid] == q) {
          f = c->foreign_faces[mid];
          break;
        }
        if (c->foreign_id[mid] < q) lo = mid + 1;
        else hi = mid - 1;
      }
    }
    mask[i] = (uint8_t)((f & faces) == faces);
  }
  PetscFunctionReturn(0);
}
