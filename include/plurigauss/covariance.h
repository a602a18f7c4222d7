/// \file
/// Two-point coverage probability functions C_ij(h) = P(s in Xi_i, t in Xi_j), |s - t| = h
/// (eq. 4), for all 1 <= i <= j <= 3, by distributed FFT (double precision).
///
/// Conventions (the same on every rank and at every rank count):
///  - pairs p = 0..5 are 11, 12, 13, 22, 23, 33 (PG_NPAIRS);
///  - a lag h is a vector of voxel steps (h_x, h_y, h_z); its length in µm uses the grid's voxel
///    edges, so anisotropic voxels are measured correctly;
///  - periodic (model realizations): C_ij(h) = (1/N) sum_x 1_i(x) 1_j(x + h) on the torus, lags
///    are the shortest signed periodic lags (|h_d| <= n_d/2);
///  - not periodic (images, minus sampling, Ohser & Schladitz 2009 Sec. 6.2):
///    C_ij(h) = sum_x 1_i(x) 1_j(x + h) / #{x : x and x + h in the image}, the count being
///    prod_d (n_d - |h_d|), |h_d| <= n_d - 1;
///  - directional curves along x, y, z: lags 0..L_d voxels, L_d = floor(range / voxel_d) but at
///    most n_d/2 (periodic) or n_d - 1 (images), each the mean of the lags +h and -h along the
///    axis (C_ij(-h) = C_ji(h), so the pairs i != j are symmetrised; C_ii is even anyway);
///  - radial curve: bins of width bin_um = the smallest voxel edge (of the axes with more than
///    one voxel), centred at r_b = b * bin_um for b = 0 .. floor(radial / bin_um), radial = range
///    clamped to the smallest cap (min_d of n_d/2 or n_d - 1 voxels, in µm); bin b averages
///    C_ij(h) over all lag vectors with round(|h| / bin_um) = b (so bin 0 is the lag 0 alone; a
///    shell that reaches past an axis' cap holds only the lags inside it);
///  - an axis with one voxel (a 2D image has n_z = 1) contributes only the lag 0.
#pragma once

#include <plurigauss/h5.h>
#include <plurigauss/labels.h>

typedef struct PgCovariance_private *PgCovariance;


/// What a PgCovariance does and holds (the same on every rank except bytes).
typedef struct {
  PetscBool periodic;
  double    range_um;  /* largest lag of the directional curves (µm; each axis stops at its cap) */
  double    radial_um; /* largest radial bin centre (µm): range_um clamped to the shortest cap */
  double    bin_um;    /* radial bin width (µm) */
  PetscInt  nlag[3];   /* directional lags 0..nlag[d]-1 along x, y, z */
  PetscInt  nbins;     /* radial bins */
  PetscInt  fft_n[3];  /* transform size along x, y, z (padded for images) */
  int       nforward;  /* r2c transforms per PgCovarianceCompute */
  int       ninverse;  /* c2r transforms per PgCovarianceCompute */
  size_t    bytes;     /* memory held by this rank (FFT buffer, label copy, curves) */
} PgCovarianceInfo;

/// Plans the transforms for labels on grid. periodic: circular correlation on the torus (model
/// realizations); otherwise the image is zero-padded by the largest lag and each lag is divided
/// by its overlap count (minus sampling). range_um: largest lag (0: a quarter of the shortest
/// side). Each directional curve stops at its axis' cap, n_d/2 voxels (periodic) or n_d - 1
/// (images); the radial curve at the smallest cap in µm. Collective on the grid's communicator.
PetscErrorCode PgCovarianceCreate(PgGrid grid, PetscBool periodic, double range_um, PgPlanner planner,
                                  PgCovariance *cov);
/// The same with radial bins of width bin_um (0: the smallest voxel edge, as PgCovarianceCreate).
/// Narrow bins reduce the bias of a bin's average of a curved C(|h|) against C at the bin's mean
/// |h| (second order in the width); bins that no lag vector falls into hold NaN (count 0).
PetscErrorCode PgCovarianceCreateWithBin(PgGrid grid, PetscBool periodic, double range_um, double bin_um,
                                         PgPlanner planner, PgCovariance *cov);
PetscErrorCode PgCovarianceDestroy(PgCovariance *cov);
/// Computes the curves of labels (on the grid given to PgCovarianceCreate; every label in
/// {1,2,3}). Collective. The results are identical on every rank.
PetscErrorCode PgCovarianceCompute(PgCovariance cov, PgLabels labels);
/// Directional curve of pair p along axis d (0, 1, 2 = x, y, z): nlag values at lags 0..nlag-1
/// voxels (h = lag * voxel_um[d]).
PetscErrorCode PgCovarianceGetDirectional(PgCovariance cov, int pair, int axis, int *nlag, const double **c);
/// Radial curve of pair p: nbins values at the bin centres r_um.
PetscErrorCode PgCovarianceGetRadial(PgCovariance cov, int pair, int *nbins, const double **r_um, const double **c);
/// Per radial bin: the number of lag vectors it averages and their mean length (µm).
PetscErrorCode PgCovarianceGetRadialLags(PgCovariance cov, int *nbins, const double **count, const double **r_mean_um);
/// Sizes, transform counts and memory.
PetscErrorCode PgCovarianceGetInfo(PgCovariance cov, PgCovarianceInfo *info);
/// Seconds spent in the FFTs of the last PgCovarianceCompute (the floor of the stage).
double PgCovarianceFFTSeconds(PgCovariance cov);
/// Executes the transforms of one PgCovarianceCompute back to back on the buffer, nothing else
/// (benchmarks: the floor of the stage). Collective; the curves are not touched.
PetscErrorCode PgCovarianceExecuteBare(PgCovariance cov);
/// Writes the curves to group (datasets C_x, C_y, C_z [6][nlag], C_radial [6][nbins], h_x_um,
/// h_y_um, h_z_um, r_um, r_mean_um, radial_count; attributes unit, pairs, estimator) and, on rank
/// 0, a long-format CSV to csv_path if not NULL: header `curve,h_um,C11,C12,C13,C22,C23,C33`, one
/// row per lag with curve x, y or z (h_um = lag * voxel edge) and one per bin with curve radial
/// (h_um = bin centre). group may be H5I_INVALID_HID (CSV only). Collective.
PetscErrorCode PgCovarianceWrite(PgCovariance cov, hid_t group, const char *csv_path);

/// The smallest 7-smooth number >= n (FFTW's fast sizes): the side of the zero-padded grid of the
/// minus-sampling estimator for a side of n voxels plus the largest lag. The memory check uses it.
PetscInt PgCovariancePaddedSize(PetscInt n);
