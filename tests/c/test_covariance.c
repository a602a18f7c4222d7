/// \file
/// Driver for the two-point coverage function tests and benchmark. Labels come from a raw uint8
/// file or are filled per global voxel index (the same volume at any rank count):
///
///   test_covariance -n NX,NY,NZ [-voxel DX,DY,DZ] (-in LABELS.u8 | -pattern NAME) [-seed S]
///                   [-p1 P] [-p2 P] [-cell C] [-out_labels L.u8] [-periodic] [-range_um R]
///                   [-csv OUT.csv] [-h5 OUT.h5] [-repeat R] [-bare] [-planner estimate|measure|patient]
///                   [-threads T]
///
/// Patterns (x, y, z global voxel indices; u(.) a uniform number from a hash of seed and index):
///   random    label 1 if u(voxel) < p1, 2 if < p1 + p2, else 3 (defaults p1 = 0.5, p2 = 0.3)
///   cells     the same per cubic cell of C voxels (C = -cell, default 2)
///   checker3  label 1 + (x + y + z) mod 3
///   shift     label 1 on voxels with x = 0 mod 4 and u(voxel) < p1; label 2 on the voxel at
///             x + 1 of every label-1 voxel (phase 2 = phase 1 shifted by one voxel along x); else 3
///
/// Prints `cov_time_s MIN MAX` (slowest rank, over the repeats), `fft_time_s MIN MAX` (the part of
/// it in FFTs), `overhead_s MIN MAX` (the rest, per computation), `bare_time_s MIN MAX` (with
/// -bare: the same transforms alone), `transforms NF NI`, `fft_n MX MY MZ`, `module_bytes B`
/// (largest rank), `peak_bytes B` (largest VmHWM), `eps E1 E2 E3`.
#include <plurigauss/covariance.h>
#include <plurigauss/field.h>

#include "driver.h"

static uint64_t SplitMix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static double Uniform(uint64_t seed, uint64_t index)
{
  return (double)(SplitMix(SplitMix(seed) ^ index) >> 11) * 0x1.0p-53;
}

static PetscErrorCode FillPattern(PgGrid g, const char *name, uint64_t seed, double p1, double p2, PetscInt cell,
                                  uint8_t *v)
{
  const PetscInt nx = g->n[0], ny = g->n[1];
  int            kind = -1;

  PetscFunctionBeginUser;
  if (!strcmp(name, "random")) kind = 0;
  else if (!strcmp(name, "cells")) kind = 1;
  else if (!strcmp(name, "checker3")) kind = 2;
  else if (!strcmp(name, "shift")) kind = 3;
  PetscCheck(kind >= 0, g->comm, PETSC_ERR_USER_INPUT, "-pattern %s: use random, cells, checker3 or shift", name);
  PetscCheck(cell > 0, g->comm, PETSC_ERR_USER_INPUT, "-cell %" PetscInt_FMT " must be positive", cell);
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
    for (PetscInt y = 0; y < ny; y++)
      for (PetscInt x = 0; x < nx; x++) {
        const int64_t z = g->z_start + zl;
        uint8_t       l = 3;
        if (kind == 0 || kind == 1) {
          const int64_t c = kind == 0 ? 1 : cell;
          const double  u = Uniform(seed, (uint64_t)(((z / c) * ny + y / c) * nx + x / c));
          l               = u < p1 ? 1 : u < p1 + p2 ? 2 : 3;
        } else if (kind == 2) l = (uint8_t)(1 + (x + y + z) % 3);
        else {
          const PetscInt x0 = x % 4 == 1 ? x - 1 : x; /* the voxel that decides */
          if ((x % 4 == 0 || x % 4 == 1) && Uniform(seed, (uint64_t)((z * ny + y) * nx + x0)) < p1)
            l = x % 4 == 0 ? 1 : 2;
        }
        v[PgGridIndex(g, zl, y, x)] = l;
      }
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteH5(PgGrid g, PgCovariance cov, const char *path)
{
  hid_t          file = H5I_INVALID_HID, group = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PgH5FileOpen(g->comm, path, PETSC_TRUE, &file));
  PetscCall(PgH5GroupCreate(file, "cov", &group));
  ierr = PgCovarianceWrite(cov, group, NULL);
  PgH5Close(&group);
  PetscCall(ierr);
  PetscCall(PgH5FileClose(&file, path));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PgGrid           grid   = NULL;
  PgLabels         labels = NULL;
  PgCovariance     cov    = NULL;
  PgCovarianceInfo info;
  char in[PETSC_MAX_PATH_LEN] = "", pattern[64] = "", out_labels[PETSC_MAX_PATH_LEN] = "", csv[PETSC_MAX_PATH_LEN] = "",
       h5[PETSC_MAX_PATH_LEN] = "";
  const char *planners[]      = {"estimate", "measure", "patient", "PgPlanner", "PG_PLANNER_", NULL};
  PetscEnum   planner         = (PetscEnum)PG_PLANNER_ESTIMATE;
  PetscInt    repeat = 1, seed = 1, cell = 2, threads = 1;
  PetscReal   range = 0, p1 = 0.5, p2 = 0.3;
  PetscBool   periodic = PETSC_FALSE, bare = PETSC_FALSE;
  double tmin = HUGE_VAL, tmax = 0, fmin = HUGE_VAL, fmax = 0, bmin = HUGE_VAL, bmax = 0, omin = HUGE_VAL, omax = 0,
         peak, eps[3], bytes;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-threads", &threads, NULL));
  PetscCall(PgFieldInitializePackage((int)threads));
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-in", in, sizeof in, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-pattern", pattern, sizeof pattern, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-out_labels", out_labels, sizeof out_labels, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-csv", csv, sizeof csv, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-h5", h5, sizeof h5, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-seed", &seed, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-cell", &cell, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-range_um", &range, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-p1", &p1, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-p2", &p2, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-periodic", &periodic, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-bare", &bare, NULL));
  PetscCall(PetscOptionsGetEnum(NULL, NULL, "-planner", planners, &planner, NULL));
  PetscCheck(!in[0] != !pattern[0], grid->comm, PETSC_ERR_USER_INPUT,
             "give exactly one of -in LABELS.u8 and -pattern NAME");
  PetscCheck(repeat > 0, grid->comm, PETSC_ERR_USER_INPUT, "-repeat %" PetscInt_FMT " must be positive", repeat);

  PetscCall(PgLabelsCreate(grid, &labels));
  if (in[0]) PetscCall(DriverRaw(grid, in, labels->v, 1, PETSC_FALSE));
  else PetscCall(FillPattern(grid, pattern, (uint64_t)seed, (double)p1, (double)p2, cell, labels->v));
  if (out_labels[0]) PetscCall(DriverRaw(grid, out_labels, labels->v, 1, PETSC_TRUE));

  PetscCall(PgCovarianceCreate(grid, periodic, (double)range, (PgPlanner)planner, &cov));
  for (PetscInt r = 0; r < repeat; r++) {
    double t[2];
    PetscCallMPI(MPI_Barrier(grid->comm));
    t[0] = MPI_Wtime();
    PetscCall(PgCovarianceCompute(cov, labels));
    t[0] = MPI_Wtime() - t[0];
    t[1] = PgCovarianceFFTSeconds(cov);
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, t, 2, MPI_DOUBLE, MPI_MAX, grid->comm));
    tmin = PetscMin(tmin, t[0]);
    tmax = PetscMax(tmax, t[0]);
    fmin = PetscMin(fmin, t[1]);
    fmax = PetscMax(fmax, t[1]);
    omin = PetscMin(omin, t[0] - t[1]);
    omax = PetscMax(omax, t[0] - t[1]);
    if (bare) {
      PetscCallMPI(MPI_Barrier(grid->comm));
      t[0] = MPI_Wtime();
      PetscCall(PgCovarianceExecuteBare(cov));
      t[0] = MPI_Wtime() - t[0];
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, t, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
      bmin = PetscMin(bmin, t[0]);
      bmax = PetscMax(bmax, t[0]);
    }
  }
  if (csv[0]) PetscCall(PgCovarianceWrite(cov, H5I_INVALID_HID, csv));
  if (h5[0]) PetscCall(WriteH5(grid, cov, h5));

  PetscCall(PgCovarianceGetInfo(cov, &info));
  PetscCall(PgLabelsVolumeFractions(labels, eps));
  bytes = (double)info.bytes;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  PetscCall(PetscPrintf(grid->comm, "cov_time_s %.6f %.6f\nfft_time_s %.6f %.6f\noverhead_s %.6f %.6f\n", tmin, tmax,
                        fmin, fmax, omin, omax));
  if (bare) PetscCall(PetscPrintf(grid->comm, "bare_time_s %.6f %.6f\n", bmin, bmax));
  PetscCall(PetscPrintf(grid->comm,
                        "transforms %d %d\nfft_n %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT
                        "\nnlag %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT "\nnbins %" PetscInt_FMT
                        "\nrange_um %.17g\nradial_um %.17g\nbin_um %.17g\n",
                        info.nforward, info.ninverse, info.fft_n[0], info.fft_n[1], info.fft_n[2], info.nlag[0],
                        info.nlag[1], info.nlag[2], info.nbins, info.range_um, info.radial_um, info.bin_um));
  PetscCall(PetscPrintf(grid->comm, "module_bytes %.0f\npeak_bytes %.0f\nvoxels %.0f\neps %.17g %.17g %.17g\n", bytes,
                        peak, PgGridGlobalVoxels(grid), eps[0], eps[1], eps[2]));

  PetscCall(PgCovarianceDestroy(&cov));
  PetscCall(PgLabelsDestroy(&labels));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PgFieldFinalizePackage());
  PetscCall(PetscFinalize());
  return 0;
}
