/// \file
/// Connected components of one phase across the slabs: global ids, volumes, the domain faces each
/// component touches, and percolation along each axis.
///
/// Conventions. Components are numbered 0, 1, ... in the order of their first voxel in the global
/// [z][y][x] scan order, so the numbering does not depend on the number of ranks. The domain is not
/// periodic: components do not wrap. A component percolates along an axis when it touches both
/// domain faces normal to that axis (coordinate 0 and n-1).
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

typedef enum {
  PG_CONNECTIVITY_6  = 6, /* face neighbours */
  PG_CONNECTIVITY_26 = 26 /* face, edge and corner neighbours */
} PgConnectivity;

/// The domain faces, one bit each: PG_FACE_X_LO is x = 0, PG_FACE_X_HI is x = nx-1, and so on.
enum { PG_FACE_X_LO = 1, PG_FACE_X_HI = 2, PG_FACE_Y_LO = 4, PG_FACE_Y_HI = 8, PG_FACE_Z_LO = 16, PG_FACE_Z_HI = 32 };
/// Both faces normal to axis a (0 = x, 1 = y, 2 = z).
static inline unsigned PgFacesNormalTo(int a) { return 3u << (2 * a); }

typedef struct {
  int64_t   count;                   /* components */
  int64_t   phase_voxels;            /* voxels of the phase */
  int64_t   largest_voxels;          /* voxels of the largest component (0 if none) */
  int64_t   percolating_voxels[3];   /* per axis x, y, z: voxels of the components touching both faces */
  double    percolating_fraction[3]; /* percolating_voxels / phase_voxels (0 for an empty phase) */
  PetscBool percolates[3];           /* some component touches both faces normal to the axis */
} PgComponentsInfo;

typedef struct PgComponents_private *PgComponents;

/// Collective on the grid's communicator.
PetscErrorCode PgComponentsCreate(PgGrid grid, PgComponents *comp);
PetscErrorCode PgComponentsDestroy(PgComponents *comp);

/// Labels the components of {v == value} (v: this rank's slab, nz_local planes [z][y][x]; NULL
/// allowed without planes). Replaces the result of any earlier call. Collective.
PetscErrorCode PgComponentsCompute(PgComponents comp, const uint8_t *v, uint8_t value, PgConnectivity conn);

/// Counts, volumes and percolation of the last computation (the same on every rank).
PetscErrorCode PgComponentsGetInfo(PgComponents comp, PgComponentsInfo *info);

/// Per-voxel component id of this rank's slab (nz_local planes; -1 outside the phase). Valid until
/// the next computation.
PetscErrorCode PgComponentsGetLabels(PgComponents comp, const int32_t **id);

/// This rank's share of the component table: components first .. first+count-1 (those whose first
/// voxel lies in this rank's slab), their volume in voxels and their PG_FACE_* bits.
PetscErrorCode PgComponentsGetLocalTable(PgComponents comp, int64_t *first, int64_t *count, const int64_t **voxels,
                                         const uint8_t **faces);

/// mask[v] = 1 on this rank's voxels whose component touches every face in `faces` (a PG_FACE_*
/// combination; 0 selects the whole phase), 0 elsewhere. E.g. the intrusion clusters connected to
/// the inlet, or the percolating clusters along z with PgFacesNormalTo(2). Local, no communication.
PetscErrorCode PgComponentsSelect(PgComponents comp, unsigned faces, uint8_t *mask);

/// The PG_FACE_* bits of the component of this rank's voxel i (0 outside the phase). Local.
unsigned PgComponentsFacesOf(PgComponents comp, size_t i);
