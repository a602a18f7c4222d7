/// \file
/// Calibration (Section 3.2): from a 3D label volume in which only NVP (label 1) is resolved and
/// one or more 2D three-phase label images to the model parameters lambda_X, lambda_Z, alpha_X,
/// alpha_Y and m (Table 1), the non-parametric rho_X, rho_Y, the misfit curve over m and the data's
/// C_ij; and, for validation (Section 4.1), the data's centred C_ij next to the calibrated model's
/// (analytic, and averaged over the realizations of the same run).
///
/// The model identities behind the estimators (eqs. 7, 10, 11) and their inversions are the
/// model's (model.h), evaluated as Gaussian orthant probabilities (orthant.h).
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/covariance.h>
#include <plurigauss/h5.h>

typedef struct PgCalibration_private *PgCalibration;

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
