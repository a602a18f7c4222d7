/// \file
/// Low-level parallel HDF5: files opened for collective MPI-IO access, groups, attributes, small
/// datasets that every rank holds, and collective slab writes and reads of volumes on the grid.
///
/// Every function closes every handle it opens on every path, success or failure. Inside a
/// function the pattern is: handles start as H5I_INVALID_HID, each HDF5 call goes through
/// PgH5Try (which skips the calls after the first failure and records it), the handles are closed
/// with PgH5Close, and PgH5Check then raises one error naming the call that failed. HDF5's own
/// error-stack printing is switched off once at start-up (PgH5Initialize, from PgErrorInitialize).
#pragma once

#include <plurigauss/grid.h>

#include <hdf5.h>

/// The first failed HDF5 call of a function (NULL while all succeed) and an optional message.
typedef struct {
  const char *failed;                     /* source text of the call */
  char msg[2 * PETSC_MAX_PATH_LEN + 256]; /* the caller's message for that failure; "" = "HDF5 call failed: <call>" */
} PgH5Status;

// clang-format off
#define PG_H5_STATUS_INIT {NULL, ""}
// clang-format on

/// Runs `call` (an HDF5 call or an assignment of its result) unless an earlier call of st failed;
/// a negative result records the call in st.
#define PgH5Try(st, call)                                  \
  do {                                                     \
    if (!(st)->failed && (call) < 0) (st)->failed = #call; \
  } while (0)

/// PgH5Try with a message of the caller's (printf format and arguments) for that failure.
#define PgH5TryMsg(st, call, ...)                        \
  do {                                                   \
    if (!(st)->failed && (call) < 0) {                   \
      (st)->failed = #call;                              \
      snprintf((st)->msg, sizeof(st)->msg, __VA_ARGS__); \
    }                                                    \
  } while (0)

/// Raises PETSC_ERR_FILE_WRITE on this rank if a call of st failed. Call after closing the handles.
PetscErrorCode PgH5Check(const PgH5Status *st);
/// Closes a file, group, dataset, dataspace, datatype, property list or attribute and sets *h to
/// H5I_INVALID_HID; an invalid handle is left alone. Returns the close's status.
herr_t PgH5Close(hid_t *h);

/// Switches off HDF5's automatic printing of its error stack: plurigauss reports errors in one
/// line (error.h). Called once at start-up.
PetscErrorCode PgH5Initialize(void);

/// Creates (truncating) or opens read-write path for collective parallel I/O on comm (MPI-IO,
/// collective metadata, dense attribute storage for attributes beyond 64 KiB). Collective.
PetscErrorCode PgH5FileOpen(MPI_Comm comm, const char *path, PetscBool create, hid_t *file);
/// Closes a file opened by PgH5FileOpen (a failure, e.g. a full disk, names path). Collective.
PetscErrorCode PgH5FileClose(hid_t *file, const char *path);
/// Whether link name exists in loc (a failure of the query counts as absent).
PetscBool PgH5Exists(hid_t loc, const char *name);
/// Opens group name of loc, creating it if it does not exist. Collective on the file.
PetscErrorCode PgH5GroupOpen(hid_t loc, const char *name, hid_t *group);
/// Closes a group (or any handle) opened by the functions above; a failure is an error.
PetscErrorCode PgH5GroupClose(hid_t *group);
/// Creates group name of loc afresh: an existing link of that name is deleted first. Collective.
PetscErrorCode PgH5GroupCreate(hid_t loc, const char *name, hid_t *group);

/// A scalar string attribute, replaced if it exists. Collective on the file.
PetscErrorCode PgH5WriteStringAttr(hid_t obj, const char *name, const char *text);
/// A double attribute (scalar when n == 1, else a 1D array), replaced if it exists. Collective.
PetscErrorCode PgH5WriteDoubleAttr(hid_t obj, const char *name, const double *v, hsize_t n);
/// A scalar int64 attribute, replaced if it exists. Collective.
PetscErrorCode PgH5WriteInt64Attr(hid_t obj, const char *name, int64_t v);
/// A string attribute into a malloc'd buffer (*text NULL if absent; free it with free()). A
/// failure to read an existing attribute is an error.
PetscErrorCode PgH5ReadStringAttr(hid_t obj, const char *name, char **text);
/// The herr_t forms of the attribute writers, for use inside PgH5Try (negative on failure, every
/// handle closed).
herr_t PgH5AttrString(hid_t obj, const char *name, const char *text);
herr_t PgH5AttrDouble(hid_t obj, const char *name, const double *v, hsize_t n);

/// A small double dataset that every rank holds identically (curves, tables) in group: created and
/// written collectively, only rank 0 contributing data, replaced if it exists; attribute `unit`.
PetscErrorCode PgH5WriteSmall(hid_t group, int rank, const char *name, int ndims, const hsize_t dims[],
                              const double *data, const char *unit);
/// The same with a string attribute of the caller's choice (attr = text) instead of `unit`.
PetscErrorCode PgH5WriteSmallAttr(hid_t group, int rank, const char *name, int ndims, const hsize_t dims[],
                                  const double *data, const char *attr, const char *text);

/// A [rows][cols] double dataset distributed by rows (one row per z-plane, say): created and
/// written collectively, each rank contributing its rows row0 .. row0 + nrows - 1 (data, rows of
/// cols doubles) and nothing else: no rank gathers the others' rows; attribute `unit`.
PetscErrorCode PgH5WriteRows(hid_t group, const char *name, hsize_t rows, hsize_t cols, hsize_t row0, hsize_t nrows,
                             const double *data, const char *unit);

/// The chunks (z, y, x) of a volume of dims written on slabs slab_height planes high (0: one
/// slab). Compression needs collective writes in parallel HDF5, which cost two things per write: a
/// chunk is written by one rank, which receives the other ranks' planes of it, and every rank
/// receives a record of every chunk of the dataset (368 bytes each, twice on rank 0, in HDF5
/// 1.10). So a chunk lies in one slab (a divisor of the slab height up to 64 planes; 16-plane
/// chunks moved 0.2 MB per rank at 128^3 on 32 ranks), and its y x tile grows from 256 x 256 until
/// a chunk holds 2^20 voxels or 1/4096 of the volume, whichever is more: a dataset has at most a
/// few thousand chunks however many ranks write it. The writer holds about three chunks' bytes
/// at once (memory.c counts them).
void PgH5ChunkShape(int64_t slab_height, const int64_t dims[3], int64_t chunk[3]);

/// Collective write of the [nz][ny][nx] volume `name` in group from every rank's slab of grid g,
/// whose rows are row_len >= nx elements apart in memory; chunked, shuffled and deflated at
/// compress_level (0 = none), Fletcher32 checksum; attributes voxel_size_um and axes. `file`
/// names the file in error lines.
PetscErrorCode PgH5WriteSlabs(PgGrid g, hid_t group, const char *name, hid_t filetype, hid_t memtype, const void *data,
                              hsize_t row_len, int compress_level, const char *file);
/// Collective read of this rank's slab of the [nz][ny][nx] dataset path of file (opened and
/// closed here, read-only, MPI-IO) into v as memtype. *ok is 1 on every rank when every rank read
/// its slab, else 0 on every rank (the caller words the error). Collective on g.
PetscErrorCode PgH5ReadSlabs(PgGrid g, const char *file, const char *path, hid_t memtype, void *v, int *ok);
