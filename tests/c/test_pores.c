/// \file
/// Driver for the opening (cPSD, MIP) and geodesic tests and benchmark, on one raw uint8 volume.
///
///   test_pores -n NX,NY,NZ [-voxel DX,DY,DZ] -in A.u8 [-value 1] [-step UM] [-periodic]
///              [-psd2] [-mip AXESBITS] [-inlet_high] [-tau AXESBITS] [-slices FILE] [-repeat R]
///              [-warmup W.u8]
///
/// With -warmup, the openings of W are computed first with the same object (so that the radii
/// remembered from W decide whether A's transforms start bounded).
///
/// Prints, with 17 digits: `psd3 r50 v1 v2 ...`, `psd2 r50 v1 ...`, `mip_A r50 v1 ...` per MIP axis
/// A, `tau_A tau mean_length inlet reached rounds` per tortuosity axis, `t_psd3 / t_psd2 / t_mip /
/// t_tau_A` (seconds, slowest rank, best of repeats) and `peak_bytes`. With -slices, the per-slice
/// 2D curves gathered as text, one line per z (tests only).
#include <plurigauss/geodesic.h>
#include <plurigauss/opening.h>

#include "driver.h"

static void PrintCurve(const char *name, double r50, const double *c, int n)
{
  printf("%s %.17g", name, r50);
  for (int k = 0; k < n; k++) printf(" %.17g", c[k]);
  printf("\n");
}

static PetscErrorCode WriteSlices(PgGrid g, PgOpening op, const char *path)
{
  const double *psd;
  int           n, stride;
  double       *mine, *all = NULL;
  int          *cnt = NULL, *displ = NULL, m;

  PetscFunctionBeginUser;
  PetscCall(PgOpeningGetSlices(op, &psd, &n, &stride));
  m = (int)g->nz_local * n;
  PetscCall(PetscMalloc1(PetscMax(m, 1), &mine));
  for (int zl = 0; zl < (int)g->nz_local; zl++)
    for (int k = 0; k < n; k++) mine[zl * n + k] = psd[zl * stride + k];
  if (g->rank == 0) PetscCall(PetscMalloc3(g->size, &cnt, g->size, &displ, PetscMax(g->n[2] * n, 1), &all));
  PetscCallMPI(MPI_Gather(&m, 1, MPI_INT, cnt, 1, MPI_INT, 0, g->comm));
  if (g->rank == 0)
    for (int r = 0, o = 0; r < g->size; r++) {
      displ[r] = o;
      o += cnt[r];
    }
  PetscCallMPI(MPI_Gatherv(mine, m, MPI_DOUBLE, all, cnt, displ, MPI_DOUBLE, 0, g->comm));
  if (g->rank == 0) {
    FILE *fp = fopen(path, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
    for (PetscInt z = 0; z < g->n[2]; z++) {
      for (int k = 0; k < n; k++) fprintf(fp, "%s%.17g", k ? " " : "", all[z * n + k]);
      fprintf(fp, "\n");
    }
    fclose(fp);
    PetscCall(PetscFree3(cnt, displ, all));
  }
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PgGrid          grid                   = NULL;
  PgOpening       op                     = NULL;
  PgGeodesic      geo                    = NULL;
  uint8_t        *v                      = NULL;
  char            in[PETSC_MAX_PATH_LEN] = "", slices[PETSC_MAX_PATH_LEN] = "", warm[PETSC_MAX_PATH_LEN] = "";
  PetscInt        value = 1, mip = 0, tau = 0, repeat = 1;
  PetscReal       step     = 0;
  PetscBool       periodic = PETSC_FALSE, psd2 = PETSC_FALSE, high = PETSC_FALSE;
  PgOpeningResult res;
  double          t[6] = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL}, peak;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-in", in, sizeof in, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-slices", slices, sizeof slices, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-warmup", warm, sizeof warm, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-value", &value, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-mip", &mip, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-tau", &tau, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-step", &step, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-periodic", &periodic, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-psd2", &psd2, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-inlet_high", &high, NULL));
  PetscCheck(in[0], grid->comm, PETSC_ERR_USER_INPUT, "-in LABELS.u8 is required");
  if (step <= 0) step = PetscMin(PetscMin(grid->voxel_um[0], grid->voxel_um[1]), grid->voxel_um[2]);
  PetscCall(PetscMalloc1(PetscMax(PgGridLocalVoxels(grid), 1), &v));
  PetscCall(DriverRaw(grid, in, v, 1, PETSC_FALSE));
  PetscCall(PgOpeningCreate(grid, periodic, step, &op));
  PetscCall(PgGeodesicCreate(grid, &geo));
  if (warm[0]) {
    PetscCall(DriverRaw(grid, warm, v, 1, PETSC_FALSE));
    PetscCall(PgOpeningCompute(op, v, (uint8_t)value, psd2, (unsigned)mip, high, &res));
    PetscCall(DriverRaw(grid, in, v, 1, PETSC_FALSE));
  }
  for (PetscInt rep = 0; rep < repeat; rep++) {
    PetscCall(PgOpeningCompute(op, v, (uint8_t)value, psd2, (unsigned)mip, high, &res));
    t[0] = PetscMin(t[0], res.seconds_psd3);
    t[1] = PetscMin(t[1], res.seconds_psd2);
    t[2] = PetscMin(t[2], res.seconds_mip);
  }
  if (grid->rank == 0) {
    PrintCurve("psd3", res.r50_psd3_um, res.psd3, res.n3);
    if (psd2) PrintCurve("psd2", res.r50_psd2_um, res.psd2, res.n2);
    for (int a = 0; a < 3; a++) {
      char name[16];
      snprintf(name, sizeof name, "mip_%c", "xyz"[a]);
      if (mip & (1 << a)) PrintCurve(name, res.r50_mip_um[a], res.mip[a], res.nmip[a]);
    }
  }
  if (psd2 && slices[0]) PetscCall(WriteSlices(grid, op, slices));
  for (int a = 0; a < 3; a++) {
    PgGeodesicResult g;
    if (!(tau & (1 << a))) continue;
    for (PetscInt rep = 0; rep < repeat; rep++) {
      PetscCall(PgGeodesicCompute(geo, v, (uint8_t)value, a, &g));
      t[3 + a] = PetscMin(t[3 + a], g.seconds);
    }
    if (grid->rank == 0)
      printf("tau_%c %.17g %.17g %" PetscInt64_FMT " %" PetscInt64_FMT " %d\n", "xyz"[a], g.tau, g.mean_length_um,
             g.inlet, g.reached, g.rounds);
  }
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  if (grid->rank == 0) {
    printf("t_psd3 %.6g\nt_psd2 %.6g\nt_mip %.6g\n", t[0], psd2 ? t[1] : 0.0, mip ? t[2] : 0.0);
    for (int a = 0; a < 3; a++)
      if (tau & (1 << a)) printf("t_tau_%c %.6g\n", "xyz"[a], t[3 + a]);
    printf("peak_bytes %.0f\n", peak);
  }
  PetscCall(PgGeodesicDestroy(&geo));
  PetscCall(PgOpeningDestroy(&op));
  PetscCall(PetscFree(v));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PetscFinalize());
  return 0;
}
