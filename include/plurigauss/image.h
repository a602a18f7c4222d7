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

/// Image inputs named in the deck (calibration and segmentation): an HDF5 dataset
/// `FILE.h5:/path` (dataset [nz][ny][nx] or [ny][nx], a 2D image may also be [1][ny][nx]; voxel size
/// from the deck, else the dataset's or the file's attribute `voxel_size_um`), or a raw file (C
/// order, little endian) whose shape, element type and voxel size the deck gives. Every problem is
/// one line that names the deck key.
enum { PG_RAW_UINT8, PG_RAW_UINT16, PG_RAW_INT32, PG_RAW_FLOAT32 };

typedef struct {
  const char     *key;       /* deck key of the input, e.g. "calibration.volume" */
  const char     *shape_key; /* deck key of a raw input's shape */
  const char     *voxel_key; /* deck key of the voxel size */
  const char     *type_key;  /* deck key of the raw element type */
  const PetscInt *shape;     /* raw: nx, ny[, nz]; shape[0] == 0: not given */
  const double   *voxel_um;  /* voxel edges x, y[, z] (µm); voxel_um[0] == 0: from the attribute */
  int             raw_type;  /* PG_RAW_* */
  int             dims;      /* 2 or 3 */
  PetscBool       grey;      /* grey values (any integer or float dataset) instead of uint8 labels */
} PgInputSpec;

typedef struct {
  int       ok;
  char      msg[2 * PETSC_MAX_PATH_LEN + 256];
  long long n[3];     /* x, y, z (z = 1 for 2D) */
  double    voxel[3]; /* x, y, z (µm; z = x for 2D) */
} PgInputProbe;

#define PG_MAX_IMAGES 256
/// Splits a comma-separated list of inputs in place (list is modified; blanks around the names
/// are dropped) into at most PG_MAX_IMAGES names; more is an input error naming key.
PetscErrorCode PgInputSplitList(MPI_Comm comm, const char *key, char *list, char *names[], int *n);
/// Whether spec names an HDF5 dataset (FILE:/path) rather than a raw file.
PetscBool PgInputIsHDF5(const char *spec);
/// Checks input `spec` on rank 0 (file, dataset, type, rank, shape, size, voxel size) and raises
/// the one-line input error on every rank, or returns its shape and voxel size. Collective.
PetscErrorCode PgInputCheck(MPI_Comm comm, const PgInputSpec *s, const char *spec, PgInputProbe *r);
/// Reads this rank's slab of a checked 3D input onto grid, as float (grey) or uint8 (labels; a raw
/// value outside 0..255 becomes 0): a collective HDF5 hyperslab read or MPI-IO of the slab's bytes.
PetscErrorCode PgInputReadSlab(PgGrid grid, const PgInputSpec *s, const char *spec, PetscBool as_float, void *v);
/// Reads a checked 2D input of nx x ny pixels into v ([y][x]) as float or uint8, on the calling
/// rank alone. Returns 0 and a message on failure.
int PgInputRead2D(const PgInputSpec *s, const char *spec, int nx, int ny, PetscBool as_float, void *v, char *msg, size_t len);
