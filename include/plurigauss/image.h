/// \file
/// Image inputs (label images, calibration and segmentation inputs) from HDF5, TIFF or raw files,
/// read in parallel straight into the slab decomposition; label values of any integer type mapped
/// to the phases of the labels contract (1 NVP, 2 carbon, 3 pore) by the deck.
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/grid.h>
#include <plurigauss/labels.h>
#include <plurigauss/rawtype.h>

/// Checks the three-phase label image input.image (an HDF5 dataset FILE.h5:/path of any integer
/// type, or a TIFF stack, see tiff.h) on rank 0 and reports any problem as a one-line input error;
/// returns its shape (nx, ny, nz) and voxel size (µm, x, y, z). The voxel size comes from
/// `voxel_um` if given (non-NULL), else from the dataset's attribute `voxel_size_um` or the file's
/// root attribute of that name, or the TIFF's resolution tags and ImageJ spacing. Collective.
PetscErrorCode PgImageInspect(MPI_Comm comm, const char *spec, const double *voxel_um, PetscInt shape[3],
                              double voxel_out[3]);
/// Reads input.image onto the grid's slabs and maps its values to phases with map (input.labels);
/// an unmapped value is a one-line input error naming the value and its position. Collective.
PetscErrorCode PgImageRead(PgGrid grid, const char *spec, const PgLabelMap *map, PgLabels labels);

/// Image inputs named in the deck (calibration and segmentation): an HDF5 dataset
/// `FILE.h5:/path` (dataset [nz][ny][nx] or [ny][nx], a 2D image may also be [1][ny][nx]; voxel size
/// from the deck, else the dataset's or the file's attribute `voxel_size_um`), a TIFF stack (see
/// tiff.h; voxel size from the deck, else the resolution tags), or a raw file (C order, little
/// endian) whose shape, element type and voxel size the deck gives. Every problem is one line that
/// names the deck key.

/// What the values of an input mean.
typedef enum {
  PG_VALUES_GREY,   /* grey values: any integer type or float, read as float */
  PG_VALUES_LABELS, /* three-phase labels: integers mapped to 1, 2, 3 by the spec's map */
  PG_VALUES_NVP,    /* the calibration stack: integers mapped to 1 (NVP) or 3 (not NVP) */
  PG_VALUES_MASK    /* integers, nonzero = inside -> 1, else 0 */
} PgValues;

typedef struct {
  const char       *key;       /* deck key of the input, e.g. "calibration.volume" */
  const char       *shape_key; /* deck key of a raw input's shape */
  const char       *voxel_key; /* deck key of the voxel size */
  const char       *type_key;  /* deck key of the raw element type */
  const PetscInt   *shape;     /* raw: nx, ny[, nz]; shape[0] == 0: not given */
  const double     *voxel_um;  /* voxel edges x, y[, z] (µm); voxel_um[0] == 0: from the file */
  int               raw_type;  /* PG_RAW_* */
  int               dims;      /* 2 or 3 */
  PgValues          values;
  const PgLabelMap *map;     /* LABELS, NVP: values -> phases */
  const char       *map_key; /* its deck key, for messages */
} PgInputSpec;

typedef struct {
  int       ok;
  char      msg[2 * PETSC_MAX_PATH_LEN + 256];
  long long n[3];     /* x, y, z (z = 1 for 2D) */
  double    voxel[3]; /* x, y, z (µm; z = x for 2D) */
  int       etype;    /* PG_RAW_* element type in the file */
  int       tiff;     /* a TIFF input; tiff_files: 0 = one multi-page file, else slice files */
  int       tiff_files;
  char      note[400]; /* where the voxel size came from (TIFF), printed once */
} PgInputProbe;

#define PG_MAX_IMAGES 256
/// Splits a comma-separated list of inputs in place (list is modified; blanks around the names
/// are dropped) into at most PG_MAX_IMAGES names; more is an input error naming key.
PetscErrorCode PgInputSplitList(MPI_Comm comm, const char *key, char *list, char *names[], int *n);
/// Whether spec names an HDF5 dataset (FILE:/path) rather than a TIFF or raw file.
PetscBool PgInputIsHDF5(const char *spec);
/// Checks input `spec` on rank 0 (file, dataset, type, rank, shape, size, voxel size; every page
/// of a TIFF) and raises the one-line input error on every rank, or returns its shape, voxel size
/// and element type. Collective.
PetscErrorCode PgInputCheck(MPI_Comm comm, const PgInputSpec *s, const char *spec, PgInputProbe *r);
/// Reads this rank's slab of a checked 3D input onto grid: float for GREY, uint8 otherwise (phases
/// for LABELS and NVP, 0/1 for MASK). HDF5: one collective hyperslab read; raw: MPI-IO of the
/// slab's bytes; TIFF: this rank's pages only. A value the map does not know is a collective
/// input error naming the first such voxel (x, y, z) and the count. Collective.
PetscErrorCode PgInputReadSlab(PgGrid grid, const PgInputSpec *s, const char *spec, const PgInputProbe *r, void *v);
/// Reads a checked 2D input (r from PgInputCheck) into v ([y][x]) as PgInputReadSlab does, on the
/// calling rank alone. Returns 0 and a one-line message on failure (unreadable, unmapped value).
int PgInputRead2D(const PgInputSpec *s, const char *spec, const PgInputProbe *r, void *v, char *msg, size_t len);
