/// \file
/// The Pluri-Gaussian model of Section 3.1: thresholds from volume fractions (eqs. 6, 9), its
/// two-point coverage functions (eqs. 7, 10, 11: Gaussian orthant probabilities, orthant.h) and
/// their inversions, the exact expected interface areas, and labels from the fields.
///   Xi_1 = {X >= lambda_X}                        NVP
///   Xi_2 = {X <  lambda_X, Z >= lambda_Z}         carbon, Z = sqrt(m) X + sqrt(1-m) Y
///   Xi_3 = the rest                               pores
#pragma once

#include <plurigauss/field.h>
#include <plurigauss/labels.h>
#include <plurigauss/orthant.h>

/// eq. 6: lambda_X = Phi^-1(1 - eps1).
double PgModelLambdaX(double nvp_fraction);
/// eq. 9: eps2 as a function of lambda_X, lambda_Z and m (GSL adaptive quadrature).
PetscErrorCode PgModelCarbonFraction(double lambda_x, double lambda_z, double m, double *eps2);
/// eq. 9 solved for lambda_Z by Brent's method on a bracket (eps2 is strictly decreasing in
/// lambda_Z). eps2 must lie in (0, Phi(lambda_X)).
PetscErrorCode PgModelLambdaZ(double lambda_x, double m, double eps2, double *lambda_z);
/// eq. 7 (with the 1/(2 pi) misprint removed): C11 = P(X_0 >= lambda_X, X_h >= lambda_X)
/// = eps1^2 + int_0^rho_X phi2(lambda_X, lambda_X; g) dg, at rho_X = rho_X(h).
PetscErrorCode PgModelC11(PgOrthant orthant, double lambda_x, double rho_x, double *c11);
/// eq. 11: C12 = P(X_0 >= lambda_X, X_h < lambda_X, Z_h >= lambda_Z), Z = sqrt(m) X + sqrt(1-m) Y.
PetscErrorCode PgModelC12(PgOrthant orthant, double lambda_x, double lambda_z, double m, double rho_x, double *c12);
/// eq. 10: C22 = P(X_0 < lambda_X, Z_0 >= lambda_Z, X_h < lambda_X, Z_h >= lambda_Z).
PetscErrorCode PgModelC22(PgOrthant orthant, double lambda_x, double lambda_z, double m, double rho_x, double rho_y,
                          double *c22);
/// The model's six two-point coverage probabilities C_ij at one lag (pairs 11, 12, 13, 22, 23,
/// 33), given the correlations rho_X(h), rho_Y(h) at that lag: C11 by eq. 7, C12 by eq. 11, C22 by
/// eq. 10, the rest from the partition sum_j C_ij(h) = eps_i. Deterministic (no MPI).
PetscErrorCode PgModelTwoPoint(double lambda_x, double lambda_z, double m, double rho_x, double rho_y,
                               double c[PG_NPAIRS]);
/// Eq. 7 solved for rho_X (Brent): C11(rho) is strictly increasing. A value outside
/// [C11(-rho_max), C11(rho_max)] (rho_max = 0.9999) gives +-rho_max and *clamped = 1.
PetscErrorCode PgModelInvertC11(double lambda_x, double c11, double *rho_x, int *clamped);
/// Eq. 10 solved for rho_Y at given rho_X (Brent): C22 is strictly increasing in rho_Y.
PetscErrorCode PgModelInvertC22(double lambda_x, double lambda_z, double m, double rho_x, double c22, double *rho_y,
                                int *clamped);
/// Exact expected surface area per unit volume (1/um) of each phase, S[0..2] = S_1, S_2, S_3, and
/// of each pairwise interface, S_pair[0..2] = S_12, S_13, S_23, of the continuum model (Rice's
/// formula for the level sets {X = lambda_X}, {Z = lambda_Z} restricted to the other field's side;
/// derivation in docs/interface-areas.md). m in [0, 1], alphas > 0.
PetscErrorCode PgModelInterfaceAreas(double lambda_x, double lambda_z, double m, double alpha_x_per_um,
                                     double alpha_y_per_um, double S[3], double S_pair[3]);

/// Labels of the current field realisation (two buffers: X and Y).
PetscErrorCode PgModelThreshold(PgField field, double lambda_x, double lambda_z, double m, PgLabels labels);
/// One buffer: after PgFieldGenerateX, marks NVP (label 1, others 0); after PgFieldGenerateZ,
/// labels every voxel that is not NVP as carbon or pore. The second may be repeated for several
/// lambda_Z on the same fields (common random numbers).
PetscErrorCode PgModelThresholdNVP(PgField field, double lambda_x, PgLabels labels);
PetscErrorCode PgModelThresholdZ(PgField field, double lambda_z, PgLabels labels);
