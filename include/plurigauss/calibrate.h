/// \file
/// Calibration (Section 3.2): from a 3D label volume in which only NVP (label 1) is resolved and
/// one or more 2D three-phase label images to the model parameters lambda_X, lambda_Z, alpha_X,
/// alpha_Y and m (Table 1), the non-parametric rho_X, rho_Y, the misfit curve over m and the data's
/// C_ij; and, for validation (Section 4.1), the data's centred C_ij next to the calibrated model's
/// (analytic, and averaged over the realizations of the same run).
///
/// The model identities behind the estimators are Gaussian orthant probabilities of dimension 2
/// (eq. 7, C11), 3 (eq. 11, C12) and 4 (eq. 10, C22). All are evaluated one way: along the path
/// Sigma(t) that scales the covariances between the two points by t in [0, 1] (t = 0: the points
/// are independent, the probability factorises into known fractions), Plackett's identity
/// dP/dsigma_kl = phi2(b_k, b_l; sigma_kl) P(rest <= b_rest | W_k = b_k, W_l = b_l) turns the
/// probability into a 1D integral over t of bivariate normal densities times conditional normal
/// probabilities of dimension 0, 1 or 2 (GSL QAGS outside, a GSL QAG bivariate normal CDF inside).
/// For eq. 7 this is the identity C11 = eps1^2 + int_0^rho phi2(l, l, g) dg.
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/covariance.h>
#include <plurigauss/io.h>

typedef struct PgCalibration_private *PgCalibration;

/// P(U <= x, V <= y) for standard normals with correlation r in [-1, 1].
double PgBivariateNormalCDF(double x, double y, double r);
/// The model's six two-point coverage probabilities C_ij at one lag (pairs 11, 12, 13, 22, 23,
/// 33), given the correlations rho_X(h), rho_Y(h) at that lag: C11 by eq. 7, C12 by eq. 11, C22 by
/// eq. 10, the rest from the partition sum_j C_ij(h) = eps_i. Deterministic (no MPI).
PetscErrorCode PgCalibrateModelC(double lambda_x, double lambda_z, double m, double rho_x, double rho_y, double c[PG_NPAIRS]);
/// Eq. 7 solved for rho_X (Brent): C11(rho) is strictly increasing. A value outside
/// [C11(-rho_max), C11(rho_max)] (rho_max = 0.9999) gives +-rho_max and *clamped = 1.
PetscErrorCode PgCalibrateInvertC11(double lambda_x, double c11, double *rho_x, int *clamped);
/// Eq. 10 solved for rho_Y at given rho_X (Brent): C22 is strictly increasing in rho_Y.
PetscErrorCode PgCalibrateInvertC22(double lambda_x, double lambda_z, double m, double rho_x, double c22, double *rho_y, int *clamped);
/// Least squares (GSL multifit_nlinear) of rho(h) = exp(-(alpha h)^2) to n points (eqs. 8, 12).
PetscErrorCode PgCalibrateFitAlpha(int n, const double *h_um, const double *rho, double *alpha_per_um);

/// Reads and checks the calibration inputs of cfg (calibration.volume, calibration.images):
/// every problem is a one-line input error before any work. The 3D volume is read on its own
/// slab decomposition of comm; the 2D images on rank 0 and broadcast. Collective.
PetscErrorCode PgCalibrationCreate(MPI_Comm comm, const PgConfig *cfg, PgCalibration *cal);
/// The estimators and fits of Section 3.2 (see the file comment of calibrate.c). Collective; the
/// results are the same on every rank.
PetscErrorCode PgCalibrationRun(PgCalibration cal);
/// Prints the parameter table (Table 1 form, with the reference values if the deck gives them).
PetscErrorCode PgCalibrationView(PgCalibration cal);
/// The calibrated model into cfg: model.alpha_x, alpha_y, m, nvp_fraction (eq. 6) and, unless a
/// sweep or lambda_Z is given, carbon_fraction (eq. 9). Values are rounded to 10 significant
/// digits so that runs at different rank counts simulate the same model.
PetscErrorCode PgCalibrationApply(PgCalibration cal, PgConfig *cfg);
/// Adds the radial curves of one model realization (periodic covariance of the run) to the
/// validation averages. Collective (the curves are replicated; no communication).
PetscErrorCode PgCalibrationAddRealization(PgCalibration cal, PgCovariance cov);
/// Writes /calibration (parameters as attributes; rho_x, rho_y, misfit, data and model curves)
/// into the open output file, and the validation table `<stem>_validation.csv` (long format:
/// source,h_um,C11,C12,C13,C22,C23,C33, every C centred, C_ij - eps_i eps_j). Collective.
PetscErrorCode PgCalibrationWrite(PgCalibration cal, hid_t file, const char *output_file);
PetscErrorCode PgCalibrationDestroy(PgCalibration *cal);
