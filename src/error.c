/// \file
/// One-line error messages. PETSc's default handler prints a multi-line trace from every rank; a
/// user who gave a bad deck wants one line naming the key. Collective input errors
/// (PETSC_ERR_USER_INPUT) print on rank 0 of their communicator only; anything else prints on the
/// rank that met it, with its origin, because it may not be collective.
#include <plurigauss/error.h>
#include <plurigauss/h5.h>

static PetscErrorCode PgErrorHandler(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode n,
                                     PetscErrorType p, const char *mess, void *ctx)
{
  (void)ctx;
  if (p != PETSC_ERROR_INITIAL) return n; /* already reported where it started */
  int rank = 0, wrank = 0;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
  MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
  if (n == PETSC_ERR_USER_INPUT) {
    if (rank == 0) fprintf(stderr, "plurigauss: error: %s\n", mess ? mess : "invalid input");
  } else {
    fprintf(stderr, "plurigauss: error on rank %d: %s (in %s at %s:%d)\n", wrank, mess ? mess : "(no message)", func,
            file, line);
  }
  fflush(stderr);
  return n;
}

PetscErrorCode PgErrorInitialize(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(PgErrorHandler, NULL));
  PetscCall(PgH5Initialize());
  PetscFunctionReturn(0);
}
