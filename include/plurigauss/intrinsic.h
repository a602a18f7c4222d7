/// \file
/// Intrinsic volumes of each phase from the histogram of 2x2x2 voxel configurations (Ohser,
/// Schladitz & Nagel): volume fraction, surface area density (discrete Crofton formula over 13
/// directions), Euler characteristic density for 6- and 26-connectivity; pairwise interface areas.
#pragma once

#include <plurigauss/labels.h>

typedef struct {
  double V[3];      /* volume fraction of phases 1..3 */
  double S[3];      /* surface area per unit volume of phases 1..3 (1/µm) */
  double S_pair[3]; /* S_12, S_13, S_23 = (S_i + S_j - S_k) / 2 (1/µm) */
  double chi6[3];   /* Euler characteristic per unit volume, 6-connected phase (1/µm^3) */
  double chi26[3];  /* Euler characteristic per unit volume, 26-connected phase (1/µm^3) */
  double volume_um3; /* volume of the sampling window the densities refer to */
} PgIntrinsic;

/// Histograms the 2x2x2 cells of every phase on the slab decomposition (one ghost plane from the
/// rank above, one reduction of 3 x 256 counts) and evaluates the estimators. periodic: cells
/// wrap around the grid (model realizations); otherwise only cells inside the image count
/// (window of (nx-1)(ny-1)(nz-1) cells, image data). Collective.
PetscErrorCode PgIntrinsicCompute(PgLabels labels, PetscBool periodic, PgIntrinsic *res);

/// Totals (not densities) from a 256-bin histogram of configurations: volume in voxels, the 13
/// directional transition counts, and both Euler characteristics. Exposed for the tests' serial
/// reference. Bit b of a configuration is voxel (b & 1, (b >> 1) & 1, (b >> 2) & 1) = (dx, dy, dz).
void PgIntrinsicFromHistogram(const int64_t hist[256], double *volume, double transitions[13], double *chi6, double *chi26);

/// The 13 lattice directions (x, y, z steps) in the order used for transitions[].
extern const int PgIntrinsicDirections[13][3];
