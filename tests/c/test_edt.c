/// \file
/// Driver for the distance transform tests and benchmark. Reads raw uint8 volumes, computes the
/// squared EDT of {v == value} (or its complement) of each and writes it as raw float32; with
/// -dilate R the bounded transform of a dilation by radius R (PgEdtDilate) instead.
///
///   test_edt -n NX,NY,NZ [-voxel DX,DY,DZ] -in A.u8[,B.u8...] [-out A.f32[,B.f32...]] [-value 1]
///            [-complement] [-periodic] [-dilate R] [-threads T] [-repeat R]
///
/// Prints `edt_time_s MIN MAX` (slowest rank; min and max over all volumes and the R repeats) and
/// `peak_bytes`.
#include <plurigauss/edt.h>

#include "driver.h"

int main(int argc, char **argv)
{
  PgGrid    grid = NULL;
  PgEdt     edt  = NULL;
  uint8_t  *v    = NULL;
  float    *d2   = NULL;
  char     *in[16], *out[16];
  PetscInt  value = 1, repeat = 1, nin = 16, nout = 16;
  PetscBool complement = PETSC_FALSE, periodic = PETSC_FALSE;
  double    tmin = HUGE_VAL, tmax = 0, peak, dilate = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-in", in, &nin, NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-out", out, &nout, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-value", &value, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-complement", &complement, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-periodic", &periodic, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-dilate", &dilate, NULL));
  PetscCheck(nin > 0, grid->comm, PETSC_ERR_USER_INPUT, "-in LABELS.u8 is required");
  PetscCheck(nout == 0 || nout == nin, grid->comm, PETSC_ERR_USER_INPUT,
             "-out needs one file per -in file (%" PetscInt_FMT " vs %" PetscInt_FMT ")", nout, nin);
  PetscCheck(value >= 0 && value <= 255, grid->comm, PETSC_ERR_USER_INPUT, "-value %" PetscInt_FMT " outside 0..255",
             value);
  PetscCall(PetscMalloc2(PgGridLocalVoxels(grid), &v, PgGridLocalVoxels(grid), &d2));
  PetscCall(PgEdtCreate(grid, periodic, &edt));
  for (PetscInt k = 0; k < nin; k++) {
    PetscCall(DriverRaw(grid, in[k], v, 1, PETSC_FALSE));
    for (PetscInt r = 0; r < repeat; r++) {
      double t;
      PetscCallMPI(MPI_Barrier(grid->comm));
      t = MPI_Wtime();
      if (dilate > 0) PetscCall(PgEdtDilate(edt, v, (uint8_t)value, dilate, d2));
      else PetscCall(PgEdtCompute(edt, v, (uint8_t)value, complement, d2));
      t = MPI_Wtime() - t;
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
      tmin = PetscMin(tmin, t);
      tmax = PetscMax(tmax, t);
    }
    if (nout) PetscCall(DriverRaw(grid, out[k], d2, sizeof(float), PETSC_TRUE));
  }
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  PetscCall(PetscPrintf(grid->comm, "edt_time_s %.6f %.6f\npeak_bytes %.0f\n", tmin, tmax, peak));
  PetscCall(PgEdtDestroy(&edt));
  PetscCall(PetscFree2(v, d2));
  for (PetscInt k = 0; k < nin; k++) PetscCall(PetscFree(in[k]));
  for (PetscInt k = 0; k < nout; k++) PetscCall(PetscFree(out[k]));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PetscFinalize());
  return 0;
}
