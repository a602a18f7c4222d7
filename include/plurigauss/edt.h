/// \file
/// Exact squared Euclidean distance transform on the slab decomposition.
///
/// Convention: for a set S of voxels (S = {v == value}, or its complement), the transform at voxel
/// x is the squared distance in µm² from the centre of x to the centre of the nearest voxel NOT in
/// S; it is 0 outside S. For phase i (S = phase i) this is the squared radius of the largest ball
/// centred at x that fits in the phase: what the opening ({EDT >= r²} are the centres of balls of
/// radius r) and the MIP need. With complement = PETSC_TRUE and S the complement of a set of centres,
/// the transform is the squared distance to the nearest centre (the dilation step of the opening).
///
/// Edges: without periodic, only voxels inside the domain count, the outside belongs to neither S
/// nor its complement (a ball may touch the image edge; minus-sampling is the caller's business).
/// With periodic, distances are taken on the torus (shortest image). If the complement is empty
/// (the phase fills the domain) the transform is +INFINITY everywhere; if S is empty it is 0.
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

typedef struct PgEdt_private *PgEdt;

/// Collective on the grid's communicator. Holds plane-sized scratch only (the transform needs no
/// volume-sized buffer beyond its output).
PetscErrorCode PgEdtCreate(PgGrid grid, PetscBool periodic, PgEdt *edt);
PetscErrorCode PgEdtDestroy(PgEdt *edt);

/// Squared distances (µm²) of S = {v == value} (complement = PETSC_FALSE) or S = {v != value}
/// (complement = PETSC_TRUE), as described above. v and d2_um2 are this rank's slab, nz_local
/// planes [z][y][x] (NULL allowed on a rank without planes). Collective.
PetscErrorCode PgEdtCompute(PgEdt edt, const uint8_t *v, uint8_t value, PetscBool complement, float *d2_um2);

/// The 2D transform of one x-y plane (disks instead of balls): squared distances (µm²) within the
/// plane to the nearest voxel of the plane not in S, with the same conventions as PgEdtCompute
/// (periodic along x and y when the transform was created periodic). Local, no communication;
/// callable from OpenMP threads with distinct `thread` in 0 .. PgEdtThreads(edt)-1 (scratch).
void PgEdtPlane(PgEdt edt, int thread, const uint8_t *v, uint8_t value, PetscBool complement, float *d2_um2);
/// The threads of scratch the transform holds (the grid's threads per rank).
int PgEdtThreads(PgEdt edt);

/// Bounded transform for dilations by a ball of radius r: the squared distance (µm²) of each voxel
/// to the nearest voxel with v == value, exact wherever it is below r², and some value >= r²
/// elsewhere. Instead of the lower envelopes, the in-plane passes take minima over windows of
/// |offset| <= ceil(r / d) voxels, loops the compiler vectorises: for the small radii of an opening
/// several times faster than PgEdtCompute. Collective (the z pass is PgEdtCompute's).
PetscErrorCode PgEdtDilate(PgEdt edt, const uint8_t *v, uint8_t value, double r_um, float *d2_um2);
/// The bounded transform of the phase itself: the squared distance (µm²) of each voxel of
/// {v == value} to the nearest voxel not in it, exact wherever it is below r², some value >= r²
/// elsewhere (0 outside the phase). Where the largest inscribed radius is known to stay below r it
/// replaces PgEdtCompute at the cost of a dilation by r. Collective.
PetscErrorCode PgEdtComputeBounded(PgEdt edt, const uint8_t *v, uint8_t value, double r_um, float *d2_um2);
/// The same for one x-y plane (2D); local. Needs PgEdtSetUpDilate once (scratch).
void PgEdtPlaneBounded(PgEdt edt, int thread, const uint8_t *v, uint8_t value, double r_um, float *d2_um2);

/// The same for one x-y plane (2D, disks); local. Needs PgEdtSetUpDilate once (scratch).
PetscErrorCode PgEdtPlaneDilate(PgEdt edt, int thread, const uint8_t *v, uint8_t value, double r_um, float *d2_um2);
PetscErrorCode PgEdtSetUpDilate(PgEdt edt);
