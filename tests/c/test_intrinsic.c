/// \file
/// Driver for the intrinsic-volume tests and benchmark (src/intrinsic.c). The labels come from a raw
/// uint8 file or from an analytic shape evaluated per global voxel index, so any rank count sees the
/// same volume. Lengths of the shapes are in µm, voxel (i, j, k) sitting at ((i, j, k) - centre) *
/// voxel edges; the default centre is the middle of the grid.
///
///   test_intrinsic -n NX,NY,NZ [-voxel DX,DY,DZ] [-threads T] [-periodic] [-repeat R] [-weights]
///     -in LABELS.u8                      labels [z][y][x] as numpy's tofile writes them
///     -shape ball -radius R [-inner r]   phase 1 for |p| <= R (and |p| > r: a hollow ball whose
///                                        cavity |p| <= r is phase 2), phase 3 outside
///     -shape torus -radius R -inner r    phase 1 within r of the circle of radius R in the x-y plane
///     -shape slab -planes A,B,C          phase 1 for A <= z < B, phase 2 for B <= z < C (voxel
///                                        indices), phase 3 elsewhere
///     -shape gyroid -period P            three phases of sin(kx)cos(ky)+sin(ky)cos(kz)+sin(kz)cos(kx),
///                                        k = 2 pi / (P voxels): 1 above 0.4, 2 below -0.4, 3 between
///     [-centre CX,CY,CZ]                 in voxel indices
///
/// Prints `key v1 v2 v3` lines: V, S, S_pair, chi6, chi26 (full precision), window_um3, time_s MIN
/// MAX (slowest rank, over the R repeats), peak_bytes (largest VmHWM of the ranks), and with -weights the 13 Crofton weights.
#include <plurigauss/field.h>
#include <plurigauss/intrinsic.h>

#include <math.h>

#include "driver.h"

typedef enum { SHAPE_NONE, SHAPE_BALL, SHAPE_TORUS, SHAPE_SLAB, SHAPE_GYROID } Shape;
static const char *const ShapeNames[] = {"none", "ball", "torus", "slab", "gyroid", "Shape", "SHAPE_", NULL};

static PetscErrorCode FillShape(PgLabels lab, Shape shape)
{
  const PgGrid_s *g      = lab->grid;
  PetscReal       radius = 0, inner = 0, period = 16, centre[3], planes[3] = {0, 0, 0};
  PetscInt        nc = 3, np = 3;
  PetscBool       set;

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++) centre[d] = 0.5 * (PetscReal)(g->n[d] - 1);
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-radius", &radius, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-inner", &inner, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-period", &period, NULL));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-centre", centre, &nc, NULL));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-planes", planes, &np, &set));
  PetscCheck(shape != SHAPE_SLAB || (set && np == 3), g->comm, PETSC_ERR_USER_INPUT, "-shape slab needs -planes A,B,C");
  PetscCheck(shape == SHAPE_SLAB || shape == SHAPE_GYROID || radius > 0, g->comm, PETSC_ERR_USER_INPUT,
             "-shape %s needs -radius R > 0", ShapeNames[shape]);
  PetscCheck(period > 0, g->comm, PETSC_ERR_USER_INPUT, "-period %g must be positive", (double)period);
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
    for (ptrdiff_t y = 0; y < g->n[1]; y++)
      for (ptrdiff_t x = 0; x < g->n[0]; x++) {
        const ptrdiff_t z    = g->z_start + zl;
        const double    p[3] = {(x - centre[0]) * g->voxel_um[0], (y - centre[1]) * g->voxel_um[1],
                                (z - centre[2]) * g->voxel_um[2]};
        const double    r2   = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
        uint8_t         l    = 3;
        switch (shape) {
        case SHAPE_BALL:
          if (r2 <= radius * radius) l = r2 <= inner * inner ? 2 : 1;
          break;
        case SHAPE_TORUS: {
          const double q = sqrt(p[0] * p[0] + p[1] * p[1]) - radius;
          if (q * q + p[2] * p[2] <= inner * inner) l = 1;
        } break;
        case SHAPE_SLAB:
          if (z >= planes[0] && z < planes[1]) l = 1;
          else if (z >= planes[1] && z < planes[2]) l = 2;
          break;
        case SHAPE_GYROID: {
          const double k = 2 * M_PI / period;
          const double f = sin(k * x) * cos(k * y) + sin(k * y) * cos(k * z) + sin(k * z) * cos(k * x);
          l              = f > 0.4 ? 1 : (f < -0.4 ? 2 : 3);
        } break;
        case SHAPE_NONE:
          break;
        }
        lab->v[PgGridIndex(g, zl, y, x)] = l;
      }
  PetscFunctionReturn(0);
}

static PetscErrorCode Print3(MPI_Comm comm, const char *key, const double v[3])
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm, "%s %.17g %.17g %.17g\n", key, v[0], v[1], v[2]));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PgGrid      grid = NULL;
  PgLabels    lab  = NULL;
  PgIntrinsic res;
  char        in[PETSC_MAX_PATH_LEN] = "";
  PetscInt    repeat = 1, shape = SHAPE_NONE;
  PetscBool   periodic = PETSC_FALSE, weights = PETSC_FALSE, set;
  double      tmin = HUGE_VAL, tmax = 0, peak;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(PgFieldInitializePackage(1)); /* fftw_mpi_init: PgGridCreate asks FFTW-MPI for the slabs */
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-in", in, sizeof in, NULL));
  PetscCall(PetscOptionsGetEnum(NULL, NULL, "-shape", ShapeNames, (PetscEnum *)&shape, &set));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-periodic", &periodic, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-weights", &weights, NULL));
  PetscCheck((in[0] != 0) != (shape != SHAPE_NONE), grid->comm, PETSC_ERR_USER_INPUT,
             "give exactly one of -in LABELS.u8 and -shape ball|torus|slab|gyroid");
  PetscCheck(repeat >= 1, grid->comm, PETSC_ERR_USER_INPUT, "-repeat %" PetscInt_FMT " must be at least 1", repeat);
  PetscCall(PgLabelsCreate(grid, &lab));
  if (in[0]) PetscCall(DriverRaw(grid, in, lab->v, 1, PETSC_FALSE));
  else PetscCall(FillShape(lab, (Shape)shape));
  for (PetscInt r = 0; r < repeat; r++) {
    double t;
    PetscCallMPI(MPI_Barrier(grid->comm));
    t = MPI_Wtime();
    PetscCall(PgIntrinsicCompute(lab, periodic, &res));
    t = MPI_Wtime() - t;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
    tmin = PetscMin(tmin, t);
    tmax = PetscMax(tmax, t);
  }
  PetscCall(Print3(grid->comm, "V", res.V));
  PetscCall(Print3(grid->comm, "S", res.S));
  PetscCall(Print3(grid->comm, "S_pair", res.S_pair));
  PetscCall(Print3(grid->comm, "chi6", res.chi6));
  PetscCall(Print3(grid->comm, "chi26", res.chi26));
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  PetscCall(
    PetscPrintf(grid->comm, "window_um3 %.17g\ntime_s %.6f %.6f\npeak_bytes %.0f\n", res.window_um3, tmin, tmax, peak));
  if (weights) {
    double w[13];
    PetscCall(PgIntrinsicCroftonWeights(grid->voxel_um, w));
    PetscCall(PetscPrintf(grid->comm, "weights"));
    for (int i = 0; i < 13; i++) PetscCall(PetscPrintf(grid->comm, " %.17g", w[i]));
    PetscCall(PetscPrintf(grid->comm, "\n"));
  }
  PetscCall(PgLabelsDestroy(&lab));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PgFieldFinalizePackage());
  PetscCall(PetscFinalize());
  return 0;
}
