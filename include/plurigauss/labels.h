/// \file
/// A phase-label volume on the slab decomposition (labels contract: uint8, 1 = NVP, 2 = carbon,
/// 3 = pore; 0 never appears in a finished volume).
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

enum { PG_PHASE_NVP = 1, PG_PHASE_CARBON = 2, PG_PHASE_PORE = 3, PG_NPHASES = 3 };

#define PG_NPAIRS 6 /* phase pairs ij, i <= j: 11, 12, 13, 22, 23, 33 */

typedef struct {
  PgGrid   grid;
  uint8_t *v; /* nz_local planes, [z][y][x] */
} PgLabels_s;
typedef PgLabels_s *PgLabels;

PetscErrorCode PgLabelsCreate(PgGrid grid, PgLabels *labels);
PetscErrorCode PgLabelsDestroy(PgLabels *labels);
/// Volume fraction of each phase (eps[0..2] for phases 1..3) over the whole grid; one reduction.
/// Raises an error if any voxel holds a label outside {1,2,3}.
PetscErrorCode PgLabelsVolumeFractions(PgLabels labels, double eps[PG_NPHASES]);
