/// \file
/// Driver for the connected-components tests and benchmark. For each raw uint8 volume: the
/// components of {v == value}, written as raw int32 labels (-1 outside the phase), a text table
/// (line 1: count phase_voxels largest_voxels, the percolating voxels along x y z, the fractions
/// x y z, the flags x y z; then one line `id voxels faces` per component, gathered on rank 0: tests
/// only), and the PgComponentsSelect mask of the given face bits as raw uint8.
///
///   test_components -n NX,NY,NZ -in A.u8[,B.u8...] [-labels A.i32,...] [-table A.txt,...]
///                   [-mask A.sel.u8,...] [-select FACEBITS] [-value 1] [-conn 6|26] [-repeat R]
///
/// Prints `components_time_s MIN MAX` (slowest rank; over volumes and repeats) and `peak_bytes`.
#include <plurigauss/components.h>

#include "driver.h"

static PetscErrorCode WriteTable(PgGrid g, PgComponents comp, const char *path)
{
  PgComponentsInfo info;
  int64_t          first, count, *vox = NULL;
  const int64_t   *v;
  const uint8_t   *f;
  uint8_t         *fac = NULL;
  int             *cnt = NULL, *displ = NULL, n;

  PetscFunctionBeginUser;
  PetscCall(PgComponentsGetInfo(comp, &info));
  PetscCall(PgComponentsGetLocalTable(comp, &first, &count, &v, &f));
  n = (int)count;
  if (g->rank == 0) {
    PetscCall(PetscMalloc2(g->size, &cnt, g->size + 1, &displ));
    PetscCall(PetscMalloc2(PetscMax(info.count, 1), &vox, PetscMax(info.count, 1), &fac));
  }
  PetscCallMPI(MPI_Gather(&n, 1, MPI_INT, cnt, 1, MPI_INT, 0, g->comm));
  if (g->rank == 0) {
    displ[0] = 0;
    for (int r = 0; r < g->size; r++) displ[r + 1] = displ[r] + cnt[r];
    PetscCheck(displ[g->size] == info.count, PETSC_COMM_SELF, PETSC_ERR_PLIB, "table rows %d != count %" PetscInt64_FMT,
               displ[g->size], info.count);
  }
  PetscCallMPI(MPI_Gatherv(v, n, MPI_INT64_T, vox, cnt, displ, MPI_INT64_T, 0, g->comm));
  PetscCallMPI(MPI_Gatherv(f, n, MPI_UINT8_T, fac, cnt, displ, MPI_UINT8_T, 0, g->comm));
  if (g->rank == 0) {
    FILE *fp = fopen(path, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
    fprintf(fp, "%" PetscInt64_FMT " %" PetscInt64_FMT " %" PetscInt64_FMT, info.count, info.phase_voxels,
            info.largest_voxels);
    for (int a = 0; a < 3; a++) fprintf(fp, " %" PetscInt64_FMT, info.percolating_voxels[a]);
    for (int a = 0; a < 3; a++) fprintf(fp, " %.17g", info.percolating_fraction[a]);
    for (int a = 0; a < 3; a++) fprintf(fp, " %d", (int)info.percolates[a]);
    fprintf(fp, "\n");
    for (int64_t k = 0; k < info.count; k++)
      fprintf(fp, "%" PetscInt64_FMT " %" PetscInt64_FMT " %d\n", k, vox[k], (int)fac[k]);
    fclose(fp);
    PetscCall(PetscFree2(cnt, displ));
    PetscCall(PetscFree2(vox, fac));
  }
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PgGrid       grid = NULL;
  PgComponents comp = NULL;
  uint8_t     *v = NULL, *mask = NULL;
  char        *in[16], *lab[16], *tab[16], *msk[16];
  PetscInt     value = 1, repeat = 1, conn = 6, select = 0, nin = 16, nlab = 16, ntab = 16, nmsk = 16;
  double       tmin = HUGE_VAL, tmax = 0, peak;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-in", in, &nin, NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-labels", lab, &nlab, NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-table", tab, &ntab, NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-mask", msk, &nmsk, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-value", &value, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-conn", &conn, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-select", &select, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCheck(nin > 0, grid->comm, PETSC_ERR_USER_INPUT, "-in LABELS.u8 is required");
  PetscCheck((nlab == 0 || nlab == nin) && (ntab == 0 || ntab == nin) && (nmsk == 0 || nmsk == nin), grid->comm,
             PETSC_ERR_USER_INPUT, "-labels, -table and -mask need one file per -in file");
  PetscCheck(value >= 0 && value <= 255, grid->comm, PETSC_ERR_USER_INPUT, "-value %" PetscInt_FMT " outside 0..255",
             value);
  PetscCall(PetscMalloc2(PgGridLocalVoxels(grid), &v, PgGridLocalVoxels(grid), &mask));
  PetscCall(PgComponentsCreate(grid, &comp));
  for (PetscInt k = 0; k < nin; k++) {
    PetscCall(DriverRaw(grid, in[k], v, 1, PETSC_FALSE));
    for (PetscInt r = 0; r < repeat; r++) {
      double t;
      PetscCallMPI(MPI_Barrier(grid->comm));
      t = MPI_Wtime();
      PetscCall(PgComponentsCompute(comp, v, (uint8_t)value, (PgConnectivity)conn));
      t = MPI_Wtime() - t;
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
      tmin = PetscMin(tmin, t);
      tmax = PetscMax(tmax, t);
    }
    if (nlab) {
      const int32_t *id;
      PetscCall(PgComponentsGetLabels(comp, &id));
      PetscCall(DriverRaw(grid, lab[k], (void *)id, sizeof(int32_t), PETSC_TRUE));
    }
    if (ntab) PetscCall(WriteTable(grid, comp, tab[k]));
    if (nmsk) {
      PetscCall(PgComponentsSelect(comp, (unsigned)select, mask));
      PetscCall(DriverRaw(grid, msk[k], mask, 1, PETSC_TRUE));
    }
  }
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  PetscCall(PetscPrintf(grid->comm, "components_time_s %.6f %.6f\npeak_bytes %.0f\n", tmin, tmax, peak));
  PetscCall(PgComponentsDestroy(&comp));
  PetscCall(PetscFree2(v, mask));
  for (PetscInt k = 0; k < nin; k++) PetscCall(PetscFree(in[k]));
  for (PetscInt k = 0; k < nlab; k++) PetscCall(PetscFree(lab[k]));
  for (PetscInt k = 0; k < ntab; k++) PetscCall(PetscFree(tab[k]));
  for (PetscInt k = 0; k < nmsk; k++) PetscCall(PetscFree(msk[k]));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PetscFinalize());
  return 0;
}
