/// \file
/// Driver for the segmentation tests: one filter of segment.c on a raw volume, on the slab
/// decomposition of -n at the ranks of mpirun.
///
///   test_segment -n NX,NY,NZ [-voxel DX,DY,DZ] -filter F -in IN -out OUT [-radius R] [-in3d]
///                [-bins 256] [-sel SEL.u8] [-sigma S] [-weight W] [-kind 1|2] [-phases 1|3]
///                [-majority_radius R] [-median_radius R]
///
/// F = median | hat (float32 in and out), otsu (float32 in, uint8 out: 1 bright, 0 dark, 2 not
/// selected; prints `threshold T` for radius 0), majority (uint8 labels in and out), chain
/// (float32 grey in, uint8 labels out: the whole PgSegmentRun with -phases, -median_radius,
/// -radius (Otsu), -sigma/-weight (Mexican hat), -kind/-majority_radius), hist (IN holds float64
/// bin counts, -bins of them; prints `threshold T` of PgSegmentOtsuThreshold). Prints `t_filter S`.
#include <plurigauss/segment.h>

#include "driver.h"

int main(int argc, char **argv)
{
  PgGrid    grid       = NULL;
  char      filter[32] = "", in[PETSC_MAX_PATH_LEN] = "", out[PETSC_MAX_PATH_LEN] = "", selp[PETSC_MAX_PATH_LEN] = "";
  PetscReal radius = 0, sigma = 0, weight = 1, majority_radius = 0, median_radius = 0;
  PetscInt  bins = 256, kind = 1, phases = 3;
  PetscBool in3d = PETSC_FALSE;
  double    t0, t;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-filter", filter, sizeof filter, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-in", in, sizeof in, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-out", out, sizeof out, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-sel", selp, sizeof selp, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-radius", &radius, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-sigma", &sigma, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-weight", &weight, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-majority_radius", &majority_radius, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-median_radius", &median_radius, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bins", &bins, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-kind", &kind, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-phases", &phases, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-in3d", &in3d, NULL));
  PetscCheck(in[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-in FILE is required");

  if (!strcmp(filter, "hist")) {
    double *h;
    FILE   *f;
    PetscCall(PetscMalloc1(bins, &h));
    f = fopen(in, "rb");
    PetscCheck(f && fread(h, sizeof(double), (size_t)bins, f) == (size_t)bins, PETSC_COMM_SELF, PETSC_ERR_FILE_READ,
               "cannot read %" PetscInt_FMT " doubles from %s", bins, in);
    fclose(f);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "threshold %d\n", PgSegmentOtsuThreshold(h, (int)bins)));
    PetscCall(PetscFree(h));
    PetscCall(PetscFinalize());
    return 0;
  }

  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCheck(out[0], grid->comm, PETSC_ERR_USER_INPUT, "-out FILE is required");
  const size_t nloc = PetscMax(PgGridLocalVoxels(grid), 1);
  float       *v;
  uint8_t     *u, *sel = NULL;
  PetscCall(PetscMalloc2(nloc, &v, nloc, &u));
  if (!strcmp(filter, "majority")) PetscCall(DriverRaw(grid, in, u, 1, PETSC_FALSE));
  else PetscCall(DriverRaw(grid, in, v, sizeof(float), PETSC_FALSE));
  if (selp[0]) {
    PetscCall(PetscMalloc1(nloc, &sel));
    PetscCall(DriverRaw(grid, selp, sel, 1, PETSC_FALSE));
  }
  PetscCallMPI(MPI_Barrier(grid->comm));
  t0 = MPI_Wtime();
  if (!strcmp(filter, "median")) PetscCall(PgSegmentMedian(grid, radius, in3d, v));
  else if (!strcmp(filter, "hat")) PetscCall(PgSegmentMexicanHat(grid, sigma, weight, in3d, v));
  else if (!strcmp(filter, "majority")) PetscCall(PgSegmentMajority(grid, (int)kind, radius, in3d, u));
  else if (!strcmp(filter, "otsu")) {
    double thr;
    for (size_t i = 0; i < nloc; i++) u[i] = 2;
    PetscCall(PgSegmentOtsu(grid, radius, in3d, (int)bins, v, sel, u, &thr));
    PetscCall(PetscPrintf(grid->comm, "threshold %.9g\n", thr));
  } else if (!strcmp(filter, "chain")) {
    PgSegmentFilters f = {median_radius, radius,          in3d,     (int)phases, sigma, weight,
                          (int)kind,     majority_radius, (int)bins};
    PgSegmentStats   st;
    PetscCall(PgSegmentRun(grid, &f, v, sel, u, &st));
    PetscCall(PetscPrintf(grid->comm, "fractions %.9g %.9g %.9g %.9g\n", st.fraction[0], st.fraction[1], st.fraction[2],
                          st.fraction[3]));
  } else
    SETERRQ(grid->comm, PETSC_ERR_USER_INPUT, "-filter %s: expected median, hat, otsu, majority, chain or hist",
            filter);
  t = MPI_Wtime() - t0;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
  PetscCall(PetscPrintf(grid->comm, "t_filter %.6g\n", t));
  if (!strcmp(filter, "median") || !strcmp(filter, "hat"))
    PetscCall(DriverRaw(grid, out, v, sizeof(float), PETSC_TRUE));
  else PetscCall(DriverRaw(grid, out, u, 1, PETSC_TRUE));
  PetscCall(PetscFree2(v, u));
  PetscCall(PetscFree(sel));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PetscFinalize());
  return 0;
}
