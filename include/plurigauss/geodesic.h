/// \file
/// Mean geodesic tortuosity of one phase along one axis (Neumann et al. 2019, ref. [39]).
///
/// Definition. Paths run inside the phase through the 26-neighbourhood with step lengths
/// sqrt((a dx)^2 + (b dy)^2 + (c dz)^2), a, b, c in {-1, 0, 1} (1, sqrt 2, sqrt 3 voxels for cubic
/// voxels). For every phase voxel of the inlet face (coordinate 0 along the axis) the shortest path
/// to any phase voxel of the outlet face (coordinate n-1) is found; tau = the mean of these lengths
/// divided by the thickness (n-1) d between the two faces' voxel centres, so a straight channel
/// along the axis has tau = 1 exactly. Inlet voxels with no path are excluded from the mean and
/// counted. The domain is not periodic (a sample between two electrodes).
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

typedef struct PgGeodesic_private *PgGeodesic;

typedef struct {
  double  tau;            /* mean geodesic tortuosity (0 when no inlet voxel reaches the outlet) */
  double  mean_length_um; /* mean shortest path length from the reached inlet voxels */
  int64_t inlet;          /* phase voxels on the inlet face */
  int64_t reached;        /* of those, with a path to the outlet face */
  int     rounds;         /* exchange rounds (one band of distances each) until no voxel is left to settle */
  double  seconds;        /* slowest rank (PgGeodesicComputePhases: the first phase includes the layout) */
} PgGeodesicResult;

/// Collective on the grid's communicator.
PetscErrorCode PgGeodesicCreate(PgGrid grid, PgGeodesic *geo);
PetscErrorCode PgGeodesicDestroy(PgGeodesic *geo);

/// The rank grid of the z problem's pencils along z for P ranks on an nx x ny cross-section: rows
/// split x, columns split y (rows <= nx, cols <= ny; the most ranks, then the least lateral face;
/// ranks beyond rows * cols idle). For the memory estimate and the model.
void PgGeodesicPencilGrid(int P, int nx, int ny, int *rows, int *cols);

/// Tortuosity of the phase {v == value} along axis (0 = x, 1 = y, 2 = z). Collective.
PetscErrorCode PgGeodesicCompute(PgGeodesic geo, const uint8_t *v, uint8_t value, int axis, PgGeodesicResult *result);
/// The same for the phases value[0 .. nvalue-1] along one axis: the labels are laid out for the
/// axis once (along z one all-to-all instead of one per phase). Collective.
PetscErrorCode PgGeodesicComputePhases(PgGeodesic geo, const uint8_t *v, int nvalue, const uint8_t value[], int axis,
                                       PgGeodesicResult result[]);
