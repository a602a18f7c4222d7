/// \file
/// Error reporting for plurigauss: PETSc's error machinery with one-line user messages.
///
/// Input errors are raised collectively with PETSC_ERR_USER_INPUT and printed once, by rank 0 of
/// the communicator they were raised on, as a single line `plurigauss: error: ...`. Every other
/// error is printed by the rank that met it, with the function and file where it started.
#pragma once

#include <hdf5.h>
#include <petscsys.h>

/// Installs the one-line error handler; call right after PetscInitialize.
PetscErrorCode PgErrorInitialize(void);

/// Checks an HDF5 return value (negative means failure) and raises a PETSc error naming the call.
#define PgCallH5(call) \
  do { \
    if ((call) < 0) SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "HDF5 call failed: %s", #call); \
  } while (0)

/// Checks an HDF5 handle (H5I_INVALID_HID or negative means failure).
#define PgCheckH5id(id, what) \
  do { \
    if ((id) < 0) SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "HDF5 could not %s", what); \
  } while (0)
