/// \file
/// The measure stage: the descriptors the deck asks for, of one label volume (a model realization
/// or an image), appended to the run's summary row and written to its descriptors group.
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/covariance.h>
#include <plurigauss/output.h>
#include <plurigauss/labels.h>

typedef struct PgMeasure_private *PgMeasure;

/// Sets up the descriptors of cfg on grid (plans FFTs once for all runs). periodic selects the
/// estimators for periodic model realizations or for images (minus sampling). Collective.
PetscErrorCode PgMeasureCreate(PgGrid grid, const PgConfig *cfg, PetscBool periodic, PgMeasure *measure);
/// Measures labels as run k: columns into row, curves into /runs/<k>/descriptors. Collective.
PetscErrorCode PgMeasureRun(PgMeasure measure, PgLabels labels, PgOutput out, int k, PgRow *row);
PetscErrorCode PgMeasureDestroy(PgMeasure *measure);
/// The covariance of the last PgMeasureRun (NULL if measure.covariance is off), e.g. for the
/// validation of a calibration.
PgCovariance PgMeasureGetCovariance(PgMeasure measure);
