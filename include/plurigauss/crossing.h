/// \file
/// Field-based (sub-voxel) pairwise interface areas of a model realization: the crossings of the
/// continuous fields through their thresholds along the lattice lines, located by linear
/// interpolation and classified by the other field at the crossing point, combined by Crofton's
/// formula and extrapolated to zero lattice step (src/crossing.c explains the estimator).
#pragma once

#include <plurigauss/field.h>
#include <plurigauss/grid.h>

#include <hdf5.h>

typedef struct PgCrossing_private *PgCrossing;

typedef struct {
  /* per direction PgIntrinsicDirections[i], per interface: [0] X through lambda_X with
     Z >= lambda_Z there (NVP-carbon), [1] with Z < lambda_Z (NVP-pore), [2] Z through lambda_Z with
     X < lambda_X there (carbon-pore) */
  int64_t count[13][3];      /* crossings on the whole (periodic) grid */
  double  P_L[13][3];        /* crossings per unit test-line length, count / (N |r_i|) (1/um) */
  double  weight[13];        /* extrapolation weights c_i, sum 1 (-) */
  double  crofton[13];       /* intrinsic.c's Crofton weights w_i, sum 1 (-) */
  double  S_pair[3];         /* S_12, S_13, S_23 = 2 sum_i c_i P_L,i (1/um): the estimate */
  double  S_pair_crofton[3]; /* 2 sum_i w_i P_L,i, not extrapolated (1/um): for comparison */
  double  seconds;           /* PgCrossingStoreX (since the last compute) + PgCrossingCompute (s) */
} PgCrossingResult;

/// Sets up the estimator for the fields of `field` on its grid. With a one-buffer field
/// (fft.memory = low) it keeps X - lambda_X quantised in one byte per voxel (PgCrossingStoreX),
/// because X is overwritten by Z. Collective.
PetscErrorCode PgCrossingCreate(PgGrid grid, PgField field, PgCrossing *crossing);
PetscErrorCode PgCrossingDestroy(PgCrossing *crossing);

/// One-buffer field, right after PgFieldGenerateX: keeps what the estimator needs of X (its side
/// of lambda_X exactly, the offset X - lambda_X in steps of 1/32). A no-op with two buffers.
PetscErrorCode PgCrossingStoreX(PgCrossing crossing, double lambda_x);

/// The crossings of the current realization at (lambda_x, lambda_z, m): two buffers hold X and Y
/// (Z = sqrt(m) X + sqrt(1-m) Y is formed on the fly), one buffer holds Z (after
/// PgFieldGenerateZ) and X comes from PgCrossingStoreX with the same lambda_x. Communication: one
/// ghost plane (5 bytes per voxel of a plane) from the next rank, one MPI_Allreduce of 39 int64.
/// Collective.
PetscErrorCode PgCrossingCompute(PgCrossing crossing, double lambda_x, double lambda_z, double m,
                                 PgCrossingResult *result);

/// The result's tables into a run's descriptors group: interface_crossings [13][3] (counts),
/// interface_P_L [13][3] (1/um), interface_weights [2][13] (extrapolation, Crofton). Collective.
PetscErrorCode PgCrossingWrite(PgGrid grid, const PgCrossingResult *result, hid_t group);

/// Extrapolation weights of the 13 directions for voxels of edges voxel_um: the intercept of the
/// least-squares fit of P_L,i by a + b s_i^2 + c s_i^4 (s_i = |r_i|), as weights on the P_L,i. For
/// cubic voxels 1 (axes), -1/2 (face diagonals), 1/4 (space diagonals).
PetscErrorCode PgCrossingExtrapolationWeights(const double voxel_um[3], double c[13]);
