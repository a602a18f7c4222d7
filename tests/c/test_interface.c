/// \file
/// Driver for the interface-area tests (PgModelInterfaceAreas in src/model.c, the extrapolation
/// weights of src/crossing.c).
///
///   test_interface [-eps1 E1 | -lambda_x LX] [-eps2 E2 | -lambda_z LZ] -m M -alpha_x AX -alpha_y AY
///       prints `lambda_x v`, `lambda_z v`, `S S_1 S_2 S_3`, `S_pair S_12 S_13 S_23` (1/um, full precision)
///   test_interface -weights -voxel DX,DY,DZ
///       prints `weights c_1 .. c_13` (extrapolation) and `crofton w_1 .. w_13`
#include <plurigauss/crossing.h>
#include <plurigauss/intrinsic.h>
#include <plurigauss/model.h>

#include <math.h>

#include <plurigauss/error.h>

static PetscErrorCode PrintN(MPI_Comm comm, const char *key, const double *v, int n)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm, "%s", key));
  for (int i = 0; i < n; i++) PetscCall(PetscPrintf(comm, " %.17g", v[i]));
  PetscCall(PetscPrintf(comm, "\n"));
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(MPI_Comm comm)
{
  PetscReal lx = 0, lz = 0, e1 = 0, e2 = 0, m = 0.15, ax = 16.6, ay = 26.5, voxel[3] = {1, 1, 1};
  PetscBool set_lx, set_lz, set_e1, set_e2, weights = PETSC_FALSE;
  PetscInt  nv = 3;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-weights", &weights, NULL));
  if (weights) {
    double v[3], c[13], w[13];
    PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-voxel", voxel, &nv, NULL));
    for (int d = 0; d < 3; d++) v[d] = (double)voxel[d];
    PetscCall(PgCrossingExtrapolationWeights(v, c));
    PetscCall(PgIntrinsicCroftonWeights(v, w));
    PetscCall(PrintN(comm, "weights", c, 13));
    PetscCall(PrintN(comm, "crofton", w, 13));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-lambda_x", &lx, &set_lx));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-lambda_z", &lz, &set_lz));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-eps1", &e1, &set_e1));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-eps2", &e2, &set_e2));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-m", &m, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-alpha_x", &ax, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-alpha_y", &ay, NULL));
  PetscCheck(set_lx != set_e1 && set_lz != set_e2, comm, PETSC_ERR_USER_INPUT,
             "give one of -eps1/-lambda_x and one of -eps2/-lambda_z");
  double lambda_x = set_lx ? (double)lx : PgModelLambdaX((double)e1), lambda_z = (double)lz, S[3], S_pair[3];
  if (set_e2) PetscCall(PgModelLambdaZ(lambda_x, (double)m, (double)e2, &lambda_z));
  PetscCall(PgModelInterfaceAreas(lambda_x, lambda_z, (double)m, (double)ax, (double)ay, S, S_pair));
  PetscCall(PrintN(comm, "lambda_x", &lambda_x, 1));
  PetscCall(PrintN(comm, "lambda_z", &lambda_z, 1));
  PetscCall(PrintN(comm, "S", S, 3));
  PetscCall(PrintN(comm, "S_pair", S_pair, 3));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(Run(PETSC_COMM_WORLD));
  PetscCall(PetscFinalize());
  return 0;
}
