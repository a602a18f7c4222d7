/// \file
/// The run-file contract: one HDF5 file per deck (parallel, collective writes), an XDMF side-car
/// for ParaView/VisIt, and a CSV with one row per run. Written as `<file>.part` and renamed when
/// the sweep is complete; an interrupted sweep resumes from the .part (or from a finished file of
/// the same deck) and skips the runs it already holds. One writer per output (the lock). The
/// HDF5 calls themselves are h5.c's; the collective file operations files.c's.
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/field.h>
#include <plurigauss/h5.h>
#include <plurigauss/labels.h>
#include <plurigauss/row.h>

typedef struct PgOutput_private *PgOutput;

/// The lock of an output: one writer per output file (see output.c and docs/safety.md).
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

/// Opens the output for the runs of cfg on the grid dom of the model mp (NULL: the deck's): creates
/// it, or resumes an interrupted or finished file written by the same deck, grid and model. An
/// existing file of a different deck is an input error unless output.overwrite is set; nothing on
/// disk is changed before this check. Collective.
PetscErrorCode PgOutputOpen(PgGrid grid, const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp, int nruns,
                            PgOutput *out);
/// Whether run k is complete in the file (same answer on all ranks).
PetscBool PgOutputHasRun(PgOutput out, int k);
/// The summary row of complete run k (written by this process or loaded on resume), NULL if k is not complete.
const PgRow *PgOutputGetRow(PgOutput out, int k);
/// Stores the model parameters as attributes of /model (new files; on resume they must match), and
/// origin (PgModelParamsOrigin; NULL: none) as its attribute origin.
PetscErrorCode PgOutputWriteModel(PgOutput out, const PgRow *model, const char *origin);
/// Number of runs already complete.
int PgOutputRunsDone(PgOutput out);
/// Writes run k: attributes and summary row, the label volume and the fields if the deck asks,
/// then marks it complete, flushes, and rewrites the CSV. Collective.
PetscErrorCode PgOutputWriteRun(PgOutput out, int k, const PgRow *row, PgLabels labels, PgField field);
/// The HDF5 group of run k's descriptors, for the stages that add datasets (close it with
/// PgH5Close before the next PgOutputWriteRun). Creates `/runs/<k>` (afresh the first time in
/// this session) and `/runs/<k>/descriptors` if missing.
PetscErrorCode PgOutputRunGroup(PgOutput out, int k, hid_t *descriptors_group);
/// The open HDF5 file, for stages that write their own groups (e.g. /calibration). Collective use.
hid_t PgOutputFile(PgOutput out);
/// Closes the file. If all runs are present, renames <file>.part to <file> and writes the XDMF.
PetscErrorCode PgOutputClose(PgOutput *out);
/// The lock checked before each run's write and before the final rename (PgOutputLockVerify).
void PgOutputSetLock(PgOutput out, PgOutputLock lock);
