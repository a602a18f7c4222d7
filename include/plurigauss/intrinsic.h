/// \file
/// Intrinsic volumes of each phase from the histogram of 2x2x2 voxel configurations (Ohser &
/// Schladitz 2009, ch. 5; Schladitz, Ohser & Nagel 2007): volume fraction, surface area density
/// (discrete Crofton formula over the 13 lattice directions), Euler characteristic density of the
/// 6-connected and of the 26-connected phase, and the pairwise interface areas.
///
/// Conventions (see src/intrinsic.c for the estimators):
///  * periodic (model realizations): every voxel anchors one cell, the cells wrap around in x, y and
///    z; the window is the whole grid, N = nx ny nz voxels.
///  * not periodic (image data): only the (nx-1)(ny-1)(nz-1) cells that lie fully inside the image
///    count and the densities are per volume of that window of cell centres (minus sampling); V is
///    then the fraction of the cell anchors (voxels with every index below n-1) in the phase.
///  * chi6: the phase as a set of voxels joined through shared faces (6-connectivity); chi26:
///    the phase as the union of its closed voxel cubes (26-connectivity). On a periodic grid
///    chi26(A) = chi6(complement of A) exactly.
///  * anisotropic voxels are supported: the Crofton weights are the spherical Voronoi cells of the
///    13 physical direction vectors of the rectangular lattice.
#pragma once

#include <plurigauss/labels.h>

typedef struct {
  double V[3];       /* volume fraction of phases 1..3 (-) */
  double S[3];       /* surface area per unit volume of phases 1..3 (1/µm) */
  double S_pair[3];  /* interface areas S_12, S_13, S_23 = (S_i + S_j - S_k) / 2 (1/µm) */
  double chi6[3];    /* Euler characteristic per unit volume, 6-connected phase (1/µm^3) */
  double chi26[3];   /* Euler characteristic per unit volume, 26-connected phase (1/µm^3) */
  double window_um3; /* volume of the sampling window the densities refer to (µm^3) */
} PgIntrinsic;

/// Histograms the 2x2x2 cells of every phase on the slab decomposition and evaluates the
/// estimators. Labels must lie in {1,2,3} (error otherwise); a non-periodic grid needs at least 2
/// voxels along each axis. Communication: one plane from the next owning rank, one MPI_Allreduce of
/// 3 x 256 + 1 int64. Collective on the grid's communicator.
PetscErrorCode PgIntrinsicCompute(PgLabels labels, PetscBool periodic, PgIntrinsic *res);

/// The 13 lattice directions (x, y, z steps) of the Crofton formula, in the order of the weights.
extern const int PgIntrinsicDirections[13][3];

/// Crofton weights of the 13 directions for voxels of edges voxel_um (x, y, z): the solid-angle
/// fraction of the spherical Voronoi cells of the 26 unit vectors +-u_i (u_i = physical direction
/// of PgIntrinsicDirections[i]), summed over the pair, so that sum_i w[i] = 1. Exact to rounding.
PetscErrorCode PgIntrinsicCroftonWeights(const double voxel_um[3], double w[13]);
