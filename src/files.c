/// \file
/// Collective file-system operations (files.h): rank 0 touches the file system, one broadcast
/// carries the outcome (and rank 0's errno) to every rank. Cost: one or two MPI_Bcast per call.
#include <plurigauss/files.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

PetscErrorCode PgFileExists(MPI_Comm comm, const char *path, PetscBool *exists)
{
  int rank, e = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) e = access(path, F_OK) == 0;
  PetscCallMPI(MPI_Bcast(&e, 1, MPI_INT, 0, comm));
  *exists = e ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode PgFileRename(MPI_Comm comm, const char *from, const char *to)
{
  int rank, ok = 1, err = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0 && rename(from, to) != 0) {
    ok  = 0;
    err = errno;
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, comm)); /* rank 0's reason on every rank */
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot rename %s to %s: %s", from, to, strerror(err));
  PetscFunctionReturn(0);
}

void PgFileSideCar(const char *file, const char *ext, char *buf, size_t len)
{
  const char *dot = strrchr(file, '.'), *slash = strrchr(file, '/');
  int         stem = (dot && (!slash || dot > slash)) ? (int)(dot - file) : (int)strlen(file);
  snprintf(buf, len, "%.*s%s", stem, file, ext);
}

PetscErrorCode PgFileWriteText(MPI_Comm comm, const char *path, void (*write)(FILE *f, const void *ctx),
                               const void *ctx)
{
  int  rank, ok = 1;
  char tmp[PETSC_MAX_PATH_LEN + 64];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ok = (f = fopen(tmp, "w")) != NULL;
    if (ok) {
      write(f, ctx);
      ok = fclose(f) == 0 && rename(tmp, path) == 0;
    }
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot write %s", path);
  PetscFunctionReturn(0);
}
