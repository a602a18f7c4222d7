/// \file
/// Error reporting for plurigauss: PETSc's error machinery with one-line user messages.
///
/// Input errors are raised collectively with PETSC_ERR_USER_INPUT and printed once, by rank 0 of
/// the communicator they were raised on, as a single line `plurigauss: error: ...`. Every other
/// error is printed by the rank that met it, with the function and file where it started.
#pragma once

#include <petscsys.h>

/// Installs the one-line error handler and switches off HDF5's own error printing (PgH5Initialize);
/// call right after PetscInitialize.
PetscErrorCode PgErrorInitialize(void);
