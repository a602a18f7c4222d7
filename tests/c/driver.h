/// \file
/// Helpers shared by the C test drivers: the grid from options, raw volumes read and written with
/// collective MPI-IO (each rank its slab, [z][y][x] as python's numpy.tofile writes them), and the
/// slowest rank's time and peak memory.
#pragma once

#include <plurigauss/error.h>
#include <plurigauss/grid.h>
#include <stdio.h>
#include <string.h>

/* -n NX,NY,NZ  -voxel DX,DY,DZ (um, default 1,1,1)  -threads T (default 1) */
static PetscErrorCode DriverGrid(MPI_Comm comm, PgGrid *grid)
{
  PetscInt  n[3] = {0, 0, 0}, nn = 3, nv = 3, threads = 1;
  PetscReal voxel[3] = {1, 1, 1};
  double    v[3];
  PetscBool set;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-n", n, &nn, &set));
  PetscCheck(set && nn == 3 && n[0] > 0 && n[1] > 0 && n[2] > 0, comm, PETSC_ERR_USER_INPUT, "-n NX,NY,NZ (positive) is required");
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-voxel", voxel, &nv, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-threads", &threads, NULL));
  for (int d = 0; d < 3; d++) v[d] = (double)voxel[d];
  PetscCall(PgGridCreate(comm, n, v, (int)threads, grid));
  PetscFunctionReturn(0);
}

/* Reads (write = PETSC_FALSE) or writes this rank's slab of elem-byte voxels of a raw file. */
static PetscErrorCode DriverRaw(PgGrid g, const char *path, void *slab, size_t elem, PetscBool write)
{
  MPI_File   fh;
  MPI_Offset off   = (MPI_Offset)(g->z_start * (ptrdiff_t)PgGridPlane(g) * (ptrdiff_t)elem);
  size_t     bytes = PgGridLocalVoxels(g) * elem;
  char       dummy;

  PetscFunctionBeginUser;
  PetscCheck(bytes <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "slab of %zu bytes is too large for this driver", bytes);
  PetscCallMPI(MPI_File_open(g->comm, path, write ? MPI_MODE_CREATE | MPI_MODE_WRONLY : MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
  if (write) PetscCallMPI(MPI_File_set_size(fh, (MPI_Offset)(PgGridGlobalVoxels(g) * (double)elem))); /* no stale tail */
  if (write) PetscCallMPI(MPI_File_write_at_all(fh, off, bytes ? slab : &dummy, (int)bytes, MPI_BYTE, MPI_STATUS_IGNORE));
  else PetscCallMPI(MPI_File_read_at_all(fh, off, bytes ? slab : &dummy, (int)bytes, MPI_BYTE, MPI_STATUS_IGNORE));
  PetscCallMPI(MPI_File_close(&fh));
  PetscFunctionReturn(0);
}

/* Largest peak resident set over the ranks, in bytes (the library's measure). */
#define DriverPeakBytes PgPeakResidentBytes
