/// \file
/// File-system operations done collectively: one rank (rank 0) acts, every rank learns the
/// outcome, so that a failure is one error on every rank. Text side-cars (CSV, XDMF) are written
/// whole to `<path>.tmp` and renamed, so that a reader never sees half a file.
#pragma once

#include <petscsys.h>
#include <stdio.h>

/// Whether path exists (rank 0 looks; the same answer on every rank). Collective.
PetscErrorCode PgFileExists(MPI_Comm comm, const char *path, PetscBool *exists);
/// Renames from -> to on rank 0; a failure is an error on every rank naming rank 0's reason.
/// Collective.
PetscErrorCode PgFileRename(MPI_Comm comm, const char *from, const char *to);
/// "dir/x.h5" -> "dir/x" + ext: the files beside an output (CSV, XDMF, labels, TIFF).
void PgFileSideCar(const char *file, const char *ext, char *buf, size_t len);
/// Rank 0 writes path through write(f, ctx) into path.tmp and renames it to path; a failure to
/// open, write, close or rename is the error "cannot write <path>" on every rank. Collective.
PetscErrorCode PgFileWriteText(MPI_Comm comm, const char *path, void (*write)(FILE *f, const void *ctx),
                               const void *ctx);
