/// \file
/// The one decomposition: z-slabs exactly as FFTW-MPI assigns them.
///
/// Arrays are C-ordered [z][y][x] (x fastest); rank r owns planes z_start .. z_start+nz_local-1,
/// whole x-y planes. In Fourier space (FFTW_MPI_TRANSPOSED layout) the same rank owns the
/// ky-planes ky_start .. ky_start+nky_local-1 of an array ordered [ky][kz][kx]. A rank may own zero
/// planes when there are more ranks than FFTW's block distribution needs; every collective
/// operation in plurigauss accepts that.
#pragma once

#include <petscsys.h>
#include <stddef.h>
#include <stdint.h>

/// Floating point of the fields (output.precision) and FFTW's planner effort (fft.planner).
typedef enum { PG_PRECISION_SINGLE = 0, PG_PRECISION_DOUBLE = 1 } PgPrecision;
typedef enum { PG_PLANNER_ESTIMATE = 0, PG_PLANNER_MEASURE = 1, PG_PLANNER_PATIENT = 2 } PgPlanner;

typedef struct {
  MPI_Comm         comm; /* duplicated; owned by the grid */
  int              rank, size;
  PetscInt         n[3];                /* global voxels along x, y, z */
  double           voxel_um[3];         /* voxel edge along x, y, z (µm) */
  ptrdiff_t        nz_local, z_start;   /* real-space slab */
  ptrdiff_t        nky_local, ky_start; /* Fourier-space slab (transposed layout) */
  ptrdiff_t        alloc_complex;       /* complex elements a c2c FFTW-MPI buffer needs on this rank */
  ptrdiff_t        alloc_r2c;           /* complex elements an in-place r2c/c2r buffer needs (rows of
                                    nx/2+1 complex = 2*(nx/2+1) reals) */
  int              threads;             /* threads per rank for FFTW and pointwise loops */
  int              nowners;             /* ranks 0 .. nowners-1 own planes, the others none (FFTW's blocks
                                    leave only trailing ranks empty) */
  const ptrdiff_t *slab_start;          /* size + 1 entries: rank q owns planes slab_start[q] ..
                                    slab_start[q+1]-1 (owned by the grid; a copy of the struct that
                                    changes the decomposition must set its own, or NULL) */
} PgGrid_s;
typedef PgGrid_s *PgGrid;

/// Creates the decomposition of an nx*ny*nz grid on comm (collective).
PetscErrorCode PgGridCreate(MPI_Comm comm, const PetscInt n[3], const double voxel_um[3], int threads, PgGrid *grid);
PetscErrorCode PgGridDestroy(PgGrid *grid);

/// Voxels in one x-y plane and on this rank.
static inline size_t PgGridPlane(const PgGrid_s *g) { return (size_t)g->n[0] * (size_t)g->n[1]; }
static inline size_t PgGridLocalVoxels(const PgGrid_s *g) { return PgGridPlane(g) * (size_t)g->nz_local; }
static inline double PgGridGlobalVoxels(const PgGrid_s *g)
{
  return (double)g->n[0] * (double)g->n[1] * (double)g->n[2];
}
/// Linear index of local voxel (zl, y, x), zl counted from this rank's first plane.
static inline size_t PgGridIndex(const PgGrid_s *g, ptrdiff_t zl, ptrdiff_t y, ptrdiff_t x)
{
  return ((size_t)zl * (size_t)g->n[1] + (size_t)y) * (size_t)g->n[0] + (size_t)x;
}

/// Largest peak resident memory (VmHWM) of any rank of comm, in bytes (0 where /proc is absent).
PetscErrorCode PgPeakResidentBytes(MPI_Comm comm, double *peak);

/// The slab table (ptrdiff_t[size + 1]) of a decomposition whose rank q owns count[q] planes
/// (collective: one MPI_Allgather of one integer, done once per decomposition, never per call).
/// Sets g->slab_start and g->nowners; checks that the owning ranks are a prefix 0 .. nowners-1.
/// The caller frees *table with PetscFree when the decomposition goes away.
PetscErrorCode PgGridSetSlabs(PgGrid_s *g, ptrdiff_t **table);

/// The slab height of g's decomposition: the greatest common divisor of the slabs' starts (FFTW's
/// block, ceil(nz / P)); 0 with one owning rank or no slab table. Not collective.
int64_t PgGridSlabHeight(const PgGrid_s *g);

/// The owning ranks below and above this one along z (-1: none; periodic: the ring of owners, itself
/// when it is the only owner). Ranks without planes have none. Not collective.
void PgGridOwningNeighbours(const PgGrid_s *g, PetscBool periodic, int *below, int *above);

/// Exchanges `width` ghost planes with the z-neighbours. `buf` holds width ghost planes, then the
/// nz_local owned planes, then width ghost planes, each of plane_bytes. With periodic, the first and
/// last owning ranks exchange too; otherwise the outer ghosts are left untouched. Ranks that own
/// no planes are skipped; every owning rank must own at least `width` planes.
PetscErrorCode PgGridHaloExchange(PgGrid g, void *buf, size_t plane_bytes, int width, PetscBool periodic);

/// Gathers the planes z_start - width .. z_start + nz_local + width - 1 (clipped to the volume)
/// into out, from whichever ranks own them (any width, also wider than a neighbour's slab): one
/// MPI_Alltoallv of whole planes. out must hold nz_local + 2 width planes; on return it holds the
/// planes [*lo, *hi) in order, the owned ones among them. A rank without planes gets none.
PetscErrorCode PgGridHaloGather(PgGrid g, const void *slab, size_t plane_bytes, int width, void *out, ptrdiff_t *lo,
                                ptrdiff_t *hi);
