/// \file
/// Slab decomposition owned by FFTW-MPI, and the one halo exchange.
///
/// fftw_mpi_local_size_3d_transposed gives both the real-space z-slab and the Fourier-space
/// ky-slab; the block distribution depends only on (nz, ny, ranks), so the c2c transforms of the
/// field, the r2c transforms of the descriptors and every slab loop agree on ownership.
/// Communication: the slab table (every rank's first plane) is all-gathered once when a
/// decomposition is made (one integer per rank); the halo exchange then sends `width` planes to
/// each of two neighbours (2 * width * nx * ny * elem bytes per rank) and the halo gather receives
/// only the planes it needs: no per-call exchange grows with the number of ranks.
#include <plurigauss/grid.h>

#include <fftw3-mpi.h>
#include <stdlib.h>
#include <string.h>

PetscErrorCode PgGridCreate(MPI_Comm comm, const PetscInt n[3], const double voxel_um[3], int threads, PgGrid *grid)
{
  PgGrid g;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&g));
  PetscCallMPI(MPI_Comm_dup(comm, &g->comm));
  PetscCallMPI(MPI_Comm_rank(g->comm, &g->rank));
  PetscCallMPI(MPI_Comm_size(g->comm, &g->size));
  for (int d = 0; d < 3; d++) {
    g->n[d]        = n[d];
    g->voxel_um[d] = voxel_um[d];
  }
  g->threads = threads;
  /* FFTW orders dimensions slowest first: n0 = nz, n1 = ny, n2 = nx */
  g->alloc_complex = fftw_mpi_local_size_3d_transposed(n[2], n[1], n[0], g->comm, &g->nz_local, &g->z_start,
                                                       &g->nky_local, &g->ky_start);
  {
    ptrdiff_t nz_local, z_start, nky_local, ky_start;
    g->alloc_r2c =
      fftw_mpi_local_size_3d_transposed(n[2], n[1], n[0] / 2 + 1, g->comm, &nz_local, &z_start, &nky_local, &ky_start);
    PetscCheck(nz_local == g->nz_local && z_start == g->z_start && nky_local == g->nky_local && ky_start == g->ky_start,
               PETSC_COMM_SELF, PETSC_ERR_PLIB, "FFTW's r2c and c2c slabs differ");
  }
  {
    ptrdiff_t *table;
    PetscCall(PgGridSetSlabs(g, &table));
  }
  *grid = g;
  PetscFunctionReturn(0);
}

PetscErrorCode PgGridDestroy(PgGrid *grid)
{
  PetscFunctionBeginUser;
  if (!*grid) PetscFunctionReturn(0);
  {
    ptrdiff_t *table = (ptrdiff_t *)(*grid)->slab_start;
    PetscCall(PetscFree(table));
  }
  PetscCallMPI(MPI_Comm_free(&(*grid)->comm));
  PetscCall(PetscFree(*grid));
  PetscFunctionReturn(0);
}

PetscErrorCode PgPeakResidentBytes(MPI_Comm comm, double *peak)
{
  double mine = 0;
  FILE  *f    = fopen("/proc/self/status", "r");
  char   line[256];

  PetscFunctionBeginUser;
  if (f) {
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "VmHWM:", 6)) mine = 1024.0 * atof(line + 6);
    fclose(f);
  }
  PetscCallMPI(MPI_Allreduce(&mine, peak, 1, MPI_DOUBLE, MPI_MAX, comm));
  PetscFunctionReturn(0);
}

PetscErrorCode PgGridSetSlabs(PgGrid_s *g, ptrdiff_t **table)
{
  ptrdiff_t *t;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1((size_t)g->size + 1, &t));
  PetscCallMPI(
    MPI_Allgather(&g->z_start, (int)sizeof(ptrdiff_t), MPI_BYTE, t, (int)sizeof(ptrdiff_t), MPI_BYTE, g->comm));
  {
    ptrdiff_t *count;
    PetscCall(PetscMalloc1(g->size, &count));
    PetscCallMPI(
      MPI_Allgather(&g->nz_local, (int)sizeof(ptrdiff_t), MPI_BYTE, count, (int)sizeof(ptrdiff_t), MPI_BYTE, g->comm));
    g->nowners = 0;
    for (int q = 0; q < g->size; q++) {
      if (count[q] > 0) {
        PetscCheck(g->nowners == q, g->comm, PETSC_ERR_PLIB,
                   "grid: rank %d owns planes after rank %d owns none (owning ranks must be a prefix)", q, q - 1);
        PetscCheck(q == 0 || t[q] == t[q - 1] + count[q - 1], g->comm, PETSC_ERR_PLIB,
                   "grid: the slabs of ranks %d and %d are not contiguous", q - 1, q);
        g->nowners = q + 1;
      }
    }
    t[g->size] = g->nowners ? t[g->nowners - 1] + count[g->nowners - 1] : 0;
    for (int q = g->nowners; q < g->size; q++) t[q] = t[g->size];
    PetscCall(PetscFree(count));
  }
  g->slab_start = t;
  *table        = t;
  PetscFunctionReturn(0);
}

int64_t PgGridSlabHeight(const PgGrid_s *g)
{
  ptrdiff_t h = 0;

  for (int q = 1; g->slab_start && q < g->nowners; q++) {
    ptrdiff_t a = g->slab_start[q], b = h;
    while (b) {
      ptrdiff_t t = a % b;
      a           = b;
      b           = t;
    }
    h = a;
  }
  return (int64_t)h;
}

/* Nearest rank below/above that owns planes, or -1 (the owning ranks are 0 .. nowners-1). */
void PgGridOwningNeighbours(const PgGrid_s *g, PetscBool periodic, int *below, int *above)
{
  *below = *above = -1;
  if (g->rank >= g->nowners) return;
  if (g->rank > 0) *below = g->rank - 1;
  else if (periodic) *below = g->nowners - 1; /* itself when it is the only owner */
  if (g->rank + 1 < g->nowners) *above = g->rank + 1;
  else if (periodic) *above = 0;
}

PetscErrorCode PgGridHaloExchange(PgGrid g, void *buf, size_t plane_bytes, int width, PetscBool periodic)
{
  int         below = -1, above = -1;
  char       *b     = (char *)buf;
  size_t      bytes = plane_bytes * (size_t)width;
  MPI_Request req[4];
  int         nreq   = 0;
  const int   tag_up = 71, tag_down = 72;

  PetscFunctionBeginUser;
  PgGridOwningNeighbours(g, periodic, &below, &above);
  if (g->nz_local == 0) PetscFunctionReturn(0);
  PetscCheck(g->nz_local >= width, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "halo of width %d needs at least %d planes per rank, rank %d owns %td", width, width, g->rank,
             g->nz_local);
  PetscCheck(bytes <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "halo of %zu bytes exceeds one MPI message",
             bytes);
  char *ghost_lo = b, *own_lo = b + bytes, *own_hi = b + plane_bytes * (size_t)g->nz_local,
       *ghost_hi = b + plane_bytes * (size_t)(g->nz_local + width);
  if (below >= 0) {
    PetscCallMPI(MPI_Irecv(ghost_lo, (int)bytes, MPI_BYTE, below, tag_up, g->comm, &req[nreq++]));
    PetscCallMPI(MPI_Isend(own_lo, (int)bytes, MPI_BYTE, below, tag_down, g->comm, &req[nreq++]));
  }
  if (above >= 0) {
    PetscCallMPI(MPI_Irecv(ghost_hi, (int)bytes, MPI_BYTE, above, tag_down, g->comm, &req[nreq++]));
    PetscCallMPI(MPI_Isend(own_hi, (int)bytes, MPI_BYTE, above, tag_up, g->comm, &req[nreq++]));
  }
  PetscCallMPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
  PetscFunctionReturn(0);
}

PetscErrorCode PgGridHaloGather(PgGrid g, const void *slab, size_t plane_bytes, int width, void *out, ptrdiff_t *lo_out,
                                ptrdiff_t *hi_out)
{
  const ptrdiff_t nz = g->n[2], z0 = g->z_start, z1 = g->z_start + g->nz_local;
  const ptrdiff_t lo = g->nz_local ? PetscMax(z0 - width, 0) : z0, hi = g->nz_local ? PetscMin(z1 + width, nz) : z0;
  int            *scount, *sdisp, *rcount, *rdisp;
  MPI_Datatype    plane;

  PetscFunctionBeginUser;
  PetscCheck(plane_bytes <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "a plane of %zu bytes exceeds one MPI datatype", plane_bytes);
  PetscCheck(g->slab_start, PETSC_COMM_SELF, PETSC_ERR_PLIB, "grid: the halo gather needs the slab table");
  PetscCall(PetscMalloc4(g->size, &scount, g->size, &sdisp, g->size, &rcount, g->size, &rdisp));
  for (int q = 0; q < g->size; q++) {
    const long long q0 = g->slab_start[q], q1 = g->slab_start[q + 1];
    /* what q needs of mine: my planes within its window, and what I need of q: its planes in mine */
    const long long qlo = q1 > q0 ? PetscMax(q0 - width, 0) : q0,
                    qhi = q1 > q0 ? PetscMin(q1 + width, (long long)nz) : q0;
    long long s0 = PetscMax(qlo, (long long)z0), s1 = PetscMin(qhi, (long long)z1);
    long long r0 = PetscMax((long long)lo, q0), r1 = PetscMin((long long)hi, q1);
    if (q == g->rank) s0 = s1 = r0 = r1 = 0;
    scount[q] = s1 > s0 ? (int)(s1 - s0) : 0;
    sdisp[q]  = s1 > s0 ? (int)(s0 - z0) : 0;
    rcount[q] = r1 > r0 ? (int)(r1 - r0) : 0;
    rdisp[q]  = r1 > r0 ? (int)(r0 - lo) : 0;
  }
  PetscCallMPI(MPI_Type_contiguous((int)plane_bytes, MPI_BYTE, &plane));
  PetscCallMPI(MPI_Type_commit(&plane));
  PetscCallMPI(MPI_Alltoallv(slab, scount, sdisp, plane, out, rcount, rdisp, plane, g->comm));
  PetscCallMPI(MPI_Type_free(&plane));
  if (g->nz_local)
    PetscCall(PetscMemcpy((char *)out + (size_t)(z0 - lo) * plane_bytes, slab, (size_t)g->nz_local * plane_bytes));
  PetscCall(PetscFree4(scount, sdisp, rcount, rdisp));
  *lo_out = lo;
  *hi_out = hi;
  PetscFunctionReturn(0);
}
