/// \file
/// Two-point coverage probability functions C_ij(h) = P(s in Xi_i, t in Xi_j), |s - t| = h
/// (eq. 4), for all 1 <= i <= j <= 3, by distributed FFT.
#pragma once

#include <plurigauss/io.h>
#include <plurigauss/labels.h>

typedef struct PgCovariance_private *PgCovariance;

#define PG_NPAIRS 6 /* 11, 12, 13, 22, 23, 33 */

/// Plans the transforms for labels on grid. periodic: circular correlation on the torus (model
/// realizations); otherwise the image is zero-padded by the largest lag and each lag is divided
/// by its overlap count (minus sampling). range_um: largest lag (0: a quarter of the shortest
/// side). Collective.
PetscErrorCode PgCovarianceCreate(PgGrid grid, PetscBool periodic, double range_um, PgPlanner planner, PgCovariance *cov);
PetscErrorCode PgCovarianceDestroy(PgCovariance *cov);
/// Computes the curves of labels: directional (x, y, z; averaged over +h and -h) and radial
/// (bins of width min voxel edge). Collective.
PetscErrorCode PgCovarianceCompute(PgCovariance cov, PgLabels labels);
/// Directional curve of pair p along axis d (0, 1, 2 = x, y, z): nlag values at lags 0..nlag-1
/// voxels; radial curve: nbins values at r_um.
PetscErrorCode PgCovarianceGetDirectional(PgCovariance cov, int pair, int axis, int *nlag, const double **c);
PetscErrorCode PgCovarianceGetRadial(PgCovariance cov, int pair, int *nbins, const double **r_um, const double **c);
/// Seconds spent in the FFTs of the last PgCovarianceCompute (the floor of the stage).
double PgCovarianceFFTSeconds(PgCovariance cov);
/// Writes the curves to group (datasets C_x, C_y, C_z [6][nlag], C_radial [6][nbins], h_x_um,
/// h_y_um, h_z_um, r_um; attribute pairs) and, on rank 0, a long-format CSV (curve, h_um, C11, C12,
/// C13, C22, C23, C33) to csv_path if not NULL. Collective.
PetscErrorCode PgCovarianceWrite(PgCovariance cov, hid_t group, const char *csv_path);
