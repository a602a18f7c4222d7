/// \file
/// Driver for the conductivity tests and benchmark: the M-factor of {v == value} of one raw uint8
/// volume along the axes of -axes (bits: 1 x, 2 y, 4 z).
///
///   test_conductivity -n NX,NY,NZ [-voxel DX,DY,DZ] -in A.u8 [-value 1] [-axes 7]
///                     [-periodic_sides] [-rtol 1e-8] [-repeat R] [-cond_* PETSc options]
///
/// Prints per axis `M_A M M_inlet flux_rel_diff iterations residual reason unknowns M_outlet` (17
/// digits; M from the dissipated power, M_inlet / M_outlet from the currents),
/// `t_A seconds setup solve` (seconds: slowest rank, then rank 0's setup and CG iterations, of the
/// fastest repeat), `peak_bytes` (the largest rank's VmHWM) and `stage_peak_bytes` (the largest
/// rank's VmHWM growth over the solves: the conduction stage alone, labels and PETSc excluded), and
/// `estimate_bytes` (PgConductivityEstimateBytes for the largest unknown fraction solved).
#include <plurigauss/conductivity.h>

#include "driver.h"

int main(int argc, char **argv)
{
  PgGrid         grid                   = NULL;
  PgConductivity cond                   = NULL;
  uint8_t       *v                      = NULL;
  char           in[PETSC_MAX_PATH_LEN] = "";
  PetscInt       value = 1, axes = 7, repeat = 1;
  PetscReal      rtol     = 1e-8;
  PetscBool      periodic = PETSC_FALSE;
  double         peak, before, fraction = 0, estimate;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-in", in, sizeof in, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-value", &value, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-axes", &axes, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-rtol", &rtol, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-periodic_sides", &periodic, NULL));
  PetscCheck(in[0], grid->comm, PETSC_ERR_USER_INPUT, "-in LABELS.u8 is required");
  PetscCall(PetscMalloc1(PetscMax(PgGridLocalVoxels(grid), 1), &v));
  PetscCall(DriverRaw(grid, in, v, 1, PETSC_FALSE));
  PetscCall(PgPeakResidentBytes(PETSC_COMM_SELF, &before));
  PetscCall(PgConductivityCreate(grid, periodic, (double)rtol, &cond));
  for (int a = 0; a < 3; a++) {
    PgConductivityResult r;
    double               t = HUGE_VAL, ts = 0, tv = 0;
    if (!(axes & (1 << a))) continue;
    for (PetscInt rep = 0; rep < repeat; rep++) {
      PetscCall(PgConductivityCompute(cond, v, (uint8_t)value, a, &r));
      if (r.seconds < t) {
        t  = r.seconds;
        ts = r.seconds_setup;
        tv = r.seconds_solve;
      }
    }
    fraction = PetscMax(fraction, (double)r.unknowns / PgGridGlobalVoxels(grid));
    if (grid->rank == 0)
      printf("M_%c %.17g %.17g %.17g %d %.17g %d %lld %.17g\nt_%c %.6g %.6g %.6g\n", "xyz"[a], r.M, r.M_inlet,
             r.flux_rel_diff, (int)r.iterations, r.residual, r.reason, (long long)r.unknowns, r.M_outlet, "xyz"[a], t,
             ts, tv);
  }
  PetscCall(PgPeakResidentBytes(PETSC_COMM_SELF, &peak));
  peak -= before;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &peak, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
  PetscCall(PgConductivityEstimateBytes(grid, fraction, &estimate));
  if (grid->rank == 0) printf("stage_peak_bytes %.0f\nestimate_bytes %.0f\n", peak, estimate);
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  if (grid->rank == 0) printf("peak_bytes %.0f\n", peak);
  PetscCall(PgConductivityDestroy(&cond));
  PetscCall(PetscFree(v));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PetscFinalize());
  return 0;
}
