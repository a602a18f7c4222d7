/// \file
/// Driver for the model identities behind the calibration (model.c, orthant.c) and its fit
/// (calibrate.c): evaluates the model's C_ij (eqs. 7, 10, 11), inverts eqs. 7 and 10, fits alpha, and prints `key values...` lines.
///
///   test_calibrate -lx LX -lz LZ -m M -rx RX,RX,... [-ry RY,RY,...]   -> `C k c11 c12 c13 c22 c23 c33` per pair
///   test_calibrate -lx LX -invert11 C,C,...                          -> `rho_x k rho clamped`
///   test_calibrate -lx LX -lz LZ -m M -rx RX -invert22 C,C,...       -> `rho_y k rho clamped`
///   test_calibrate -fit_h H,H,... -fit_rho R,R,...                   -> `alpha A`
///   test_calibrate -bvn X,Y,R                                        -> `bvn P`
#include <plurigauss/calibrate.h>
#include <plurigauss/model.h>

#include <plurigauss/error.h>

#define NMAX 256

int main(int argc, char **argv)
{
  PetscReal lx = 0, lz = 0, m = 0.5, rx[NMAX], ry[NMAX], inv[NMAX], fh[NMAX], fr[NMAX], bvn[3];
  PetscInt  nrx = NMAX, nry = NMAX, ninv = NMAX, nfh = NMAX, nfr = NMAX, nb = 3;
  PetscBool set_rx, set_ry, set_11, set_22, set_fh, set_b;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-lx", &lx, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-lz", &lz, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-m", &m, NULL));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-rx", rx, &nrx, &set_rx));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-ry", ry, &nry, &set_ry));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-invert11", inv, &ninv, &set_11));
  if (!set_11) {
    ninv = NMAX;
    PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-invert22", inv, &ninv, &set_22));
  } else set_22 = PETSC_FALSE;
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-fit_h", fh, &nfh, &set_fh));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-fit_rho", fr, &nfr, NULL));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-bvn", bvn, &nb, &set_b));
  if (set_b) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "bvn %.17g\n", PgBivariateNormalCDF(bvn[0], bvn[1], bvn[2])));
  if (set_rx && !set_22) {
    for (PetscInt k = 0; k < nrx; k++) {
      double c[PG_NPAIRS];
      PetscCall(PgModelTwoPoint(lx, lz, m, rx[k], set_ry ? ry[k] : 0, c));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "C %d %.17g %.17g %.17g %.17g %.17g %.17g\n", (int)k, c[0], c[1], c[2],
                            c[3], c[4], c[5]));
    }
  }
  for (PetscInt k = 0; (set_11 || set_22) && k < ninv; k++) {
    double rho;
    int    cl;
    if (set_11) PetscCall(PgModelInvertC11(lx, inv[k], &rho, &cl));
    else PetscCall(PgModelInvertC22(lx, lz, m, rx[0], inv[k], &rho, &cl));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s %d %.17g %d\n", set_11 ? "rho_x" : "rho_y", (int)k, rho, cl));
  }
  if (set_fh) {
    double a, h[NMAX], r[NMAX];
    PetscCheck(nfh == nfr, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-fit_h and -fit_rho differ in length");
    for (PetscInt i = 0; i < nfh; i++) {
      h[i] = fh[i];
      r[i] = fr[i];
    }
    PetscCall(PgCalibrateFitAlpha((int)nfh, h, r, &a));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "alpha %.17g\n", a));
  }
  PetscCall(PetscFinalize());
  return 0;
}
