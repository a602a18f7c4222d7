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
#include <plurigauss/segment.h>

typedef struct PgCalibration_private *PgCalibration;

/// Least squares (GSL multifit_nlinear) of rho(h) = exp(-(alpha h)^2) to n points (eqs. 8, 12).
PetscErrorCode PgCalibrateFitAlpha(int n, const double *h_um, const double *rho, double *alpha_per_um);

/// The calibration inputs: without seg, those of the deck (calibration.volume, calibration.images),
/// checked (every problem is a one-line input error before any work) and read, the 3D volume on its
/// own slab decomposition of comm, the 2D images on rank 0 and broadcast; with seg, the labels of
/// that segmentation in memory (PgSegmentationCalibrates). Collective.
PetscErrorCode PgCalibrationCreate(MPI_Comm comm, const PgConfig *cfg, PgSegmentation seg, PgCalibration *cal);
/// The estimators and fits of Section 3.2 (see the file comment of calibrate.c). Collective; the
/// results are the same on every rank.
PetscErrorCode PgCalibrationRun(PgCalibration cal);
/// Prints the parameter table (Table 1 form, with the reference values if the deck gives them).
PetscErrorCode PgCalibrationView(PgCalibration cal);
/// The calibrated model, a value: the deck's model with alpha_X, alpha_Y, m (unless
/// calibration.fix_m), the NVP fraction (eq. 6) and, unless a sweep or lambda_Z is given, the carbon
/// fraction (eq. 9) replaced by the estimates, each marked PG_FROM_CALIBRATION. Values are rounded to
/// 10 significant digits so that runs at different rank counts simulate the same model. With
/// calibration.simulate, an input error if dom's voxels do not resolve the calibrated correlation length.
PetscErrorCode PgCalibrationModelParams(PgCalibration cal, const PgModelParams *deck, const PgDomain *dom,
                                        PgModelParams *mp);
/// Adds the radial curves of one model realization (periodic covariance of the run) to the
/// validation averages. Collective (the curves are replicated; no communication).
PetscErrorCode PgCalibrationAddRealization(PgCalibration cal, PgCovariance cov);
/// Writes /calibration (parameters as attributes; rho_x, rho_y, misfit, data and model curves)
/// into the open output file, and the validation table `<stem>_validation.csv` (long format:
/// source,h_um,C11,C12,C13,C22,C23,C33, every C centred, C_ij - eps_i eps_j). Collective.
PetscErrorCode PgCalibrationWrite(PgCalibration cal, hid_t file, const char *output_file);
PetscErrorCode PgCalibrationDestroy(PgCalibration *cal);
