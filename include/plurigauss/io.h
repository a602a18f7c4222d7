/// \file
/// Output contract: one HDF5 file per deck (parallel, collective writes), an XDMF side-car for
/// ParaView/VisIt, and a CSV with one row per run. Written as `<file>.part` and renamed when the
/// sweep is complete; an interrupted sweep resumes from the .part (or from a finished file of the
/// same deck) and skips the runs it already holds.
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/field.h>
#include <plurigauss/labels.h>

#include <hdf5.h>

#define PG_ROW_MAX 128

/// One CSV row / run summary: named scalar columns in order.
typedef struct {
  int    n;
  char   name[PG_ROW_MAX][32];
  double value[PG_ROW_MAX];
} PgRow;

/// Appends (or replaces) column `name`.
PetscErrorCode PgRowSet(PgRow *row, const char *name, double value);

typedef struct PgOutput_private *PgOutput;

/// The lock of an output: one writer per output file (see io.c and docs/safety.md).
typedef struct PgOutputLock_private *PgOutputLock;
/// Rank 0 takes an exclusive lock on `<output_file>.lock` (kernel lock, released when the process
/// dies; content_only or a file system without locks: the file's content decides). A lock held by
/// another run is an input error naming its host, pid and start time; nothing is touched then.
/// Collective. Call before any output file is touched.
PetscErrorCode PgOutputLockAcquire(MPI_Comm comm, const char *output_file, PetscBool content_only, PgOutputLock *lock);
/// Collective check that the lock file still holds this run's token (a second writer that got past
/// a lock that does not work is detected here): an error naming the new holder otherwise. `before`
/// names the action that is refused, for the message. A NULL lock passes.
PetscErrorCode PgOutputLockVerify(PgOutputLock lock, const char *before);
/// Whether the kernel lock is held (else the content decides).
PetscBool PgOutputLockKernel(PgOutputLock lock);
/// Removes the lock file if it is still this run's and drops the lock. Not collective: safe on
/// every error path.
PetscErrorCode PgOutputLockRelease(PgOutputLock *lock);

/// Opens the output for the runs of cfg: creates it, or resumes an interrupted or finished file
/// written by the same deck. An existing file of a different deck is an input error unless
/// output.overwrite is set; nothing on disk is changed before this check. Collective.
PetscErrorCode PgOutputOpen(PgGrid grid, const PgConfig *cfg, int nruns, PgOutput *out);
/// Whether run k is complete in the file (same answer on all ranks).
PetscBool PgOutputHasRun(PgOutput out, int k);
/// The summary row of complete run k (written by this process or loaded on resume), NULL if k is not complete.
const PgRow *PgOutputGetRow(PgOutput out, int k);
/// Stores the model parameters as attributes of /model (new files; on resume they must match).
PetscErrorCode PgOutputWriteModel(PgOutput out, const PgRow *model);
/// Number of runs already complete.
int PgOutputRunsDone(PgOutput out);
/// Writes run k: attributes and summary row, the label volume and the fields if the deck asks,
/// then marks it complete, flushes, and rewrites the CSV. Collective.
PetscErrorCode PgOutputWriteRun(PgOutput out, int k, const PgRow *row, PgLabels labels, PgField field);
/// The HDF5 group of run k, for stages that add datasets (e.g. descriptors); valid until the next
/// PgOutputWriteRun. Creates `/runs/<k>` and `/runs/<k>/descriptors` if missing.
PetscErrorCode PgOutputRunGroup(PgOutput out, int k, hid_t *descriptors_group);
/// A scalar string attribute of an HDF5 object, replaced if it exists. Collective on the file.
PetscErrorCode PgOutputWriteStringAttr(hid_t obj, const char *name, const char *text);
/// "dir/x.h5" -> "dir/x" + ext (the CSV, XDMF and labels files beside an output).
void PgOutputSideCar(const char *file, const char *ext, char *buf, size_t len);
/// Creates (truncating) or opens read-write an HDF5 file for collective parallel I/O on comm.
PetscErrorCode PgOutputOpenParallel(MPI_Comm comm, const char *path, PetscBool create, hid_t *file);
/// Renames from -> to on rank 0; a failure is an error on every rank. Collective.
PetscErrorCode PgOutputRename(MPI_Comm comm, const char *from, const char *to);
/// A double attribute (scalar when n == 1, else a 1D array), replaced if it exists. Collective.
PetscErrorCode PgOutputWriteDoubleAttr(hid_t obj, const char *name, const double *v, hsize_t n);
/// Collective write of the [nz][ny][nx] volume `name` in group from every rank's slab of grid g,
/// whose rows are row_len >= nx elements apart in memory; chunked, deflated at compress_level
/// (0 = none), attributes voxel_size_um and axes. `file` names the file in error lines.
PetscErrorCode PgOutputWriteSlabs(PgGrid g, hid_t group, const char *name, hid_t filetype, hid_t memtype, const void *data, hsize_t row_len, int compress_level, const char *file);
/// A small double dataset that every rank holds identically (curves, tables), in a group of the
/// output: created and written collectively, only rank 0 contributing data; attribute `unit`.
PetscErrorCode PgOutputWriteSmall(hid_t group, int rank, const char *name, int ndims, const hsize_t dims[], const double *data, const char *unit);
/// The open HDF5 file, for stages that write their own groups (e.g. /calibration). Collective use.
hid_t PgOutputFile(PgOutput out);
/// Closes the file. If all runs are present, renames <file>.part to <file> and writes the XDMF.
PetscErrorCode PgOutputClose(PgOutput *out);
/// The lock checked before each run's write and before the final rename (PgOutputLockVerify).
void PgOutputSetLock(PgOutput out, PgOutputLock lock);
