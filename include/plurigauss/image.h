/// \file
/// Segmented label images as input: `FILE.h5:/path/to/dataset`, uint8, 3D [nz][ny][nx], labels in
/// {1,2,3} (labels contract). Read in parallel straight into the slab decomposition.
#pragma once

#include <plurigauss/grid.h>
#include <plurigauss/labels.h>

/// Checks the image (file, dataset, type, rank, voxel size) on rank 0 and reports any problem as
/// a one-line input error; returns its shape (nx, ny, nz) and voxel size (µm, x, y, z). The voxel
/// size comes from `voxel_um` if given (non-NULL), else from the dataset's attribute
/// `voxel_size_um`, else from the file's root attribute of that name. Collective.
PetscErrorCode PgImageInspect(MPI_Comm comm, const char *spec, const double *voxel_um, PetscInt shape[3], double voxel_out[3]);
/// Reads this rank's slab of a uint8 dataset FILE.h5:/path of the grid's shape into v (collective
/// hyperslab read; a rank without planes reads nothing). `what` names the input in the error line
/// of a file that cannot be opened. No check of the values.
PetscErrorCode PgImageReadSlab(PgGrid grid, const char *spec, const char *what, uint8_t *v);
/// Reads the image into labels on grid (PgImageReadSlab) and checks every label.
PetscErrorCode PgImageRead(PgGrid grid, const char *spec, PgLabels labels);
