/// \file
/// Model adequacy (calibration.validate_with): does the calibrated model reproduce what matters
/// for transport in a full 3D three-phase image of the same material?
///
/// The image is measured with the same descriptors as the model runs (the deck's measure.* and
/// conductivity.* keys, minus-sampling estimators) into `<stem>_adequacy_data.h5` (+ .csv), and
/// compared with the realizations of the calibrated point: for each descriptor the data value d,
/// the model mean m and standard deviation s over the R realizations, z = (d - m) / (s sqrt(1 +
/// 1/R)), the relative difference (d - m) / |m|, and a verdict. A descriptor is "reproduced" when
/// |d - m| lies within the 99.73 % prediction interval of one more realization, k_R s sqrt(1 + 1/R)
/// with k_R the Student-t quantile with R - 1 degrees of freedom (3 for R -> infinity), or within
/// the descriptor's relative tolerance (docs/adequacy.md), else "not reproduced"; "undefined" when
/// the data or the model lacks it (no percolating path, a descriptor switched off).
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/output.h>

typedef struct PgAdequacy_private *PgAdequacy;

/// Checks calibration.validate_with (a three-phase label image: HDF5 dataset or TIFF stack,
/// values mapped by input.labels) and reads it onto its own grid; every problem is a one-line
/// input error before any output is touched. Collective.
PetscErrorCode PgAdequacyCreate(MPI_Comm comm, const PgConfig *cfg, PgAdequacy *adq);
/// The grid of the model runs: the deck's, with the image's shape and voxel size where the deck gives
/// none (domain.shape, domain.voxel_size_um), so that data and model are measured on the same grid.
PetscErrorCode PgAdequacyDomain(PgAdequacy adq, const PgDomain *deck, PgDomain *dom);
/// Measures the image into <stem>_adequacy_data.h5 (resumed like any output; its signature names the
/// grid dom and model mp of the runs it is compared with), then frees it.
PetscErrorCode PgAdequacyMeasureData(PgAdequacy adq, const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp);
/// The table data vs model from runs 0 .. nruns - 1 of out (all must be complete): printed, and
/// written as <stem>_adequacy.csv and the group /adequacy of the output file. Collective.
PetscErrorCode PgAdequacyReport(PgAdequacy adq, PgOutput out, int nruns, const PgConfig *cfg);
PetscErrorCode PgAdequacyDestroy(PgAdequacy *adq);
