/// \file
/// The Pluri-Gaussian model of Section 3.1: thresholds from volume fractions and labels from
/// the fields.
///   Xi_1 = {X >= lambda_X}                        NVP
///   Xi_2 = {X <  lambda_X, Z >= lambda_Z}         carbon, Z = sqrt(m) X + sqrt(1-m) Y
///   Xi_3 = the rest                               pores
#pragma once

#include <plurigauss/field.h>
#include <plurigauss/labels.h>

/// eq. 6: lambda_X = Phi^-1(1 - eps1).
double PgModelLambdaX(double nvp_fraction);
/// eq. 9: eps2 as a function of lambda_X, lambda_Z and m (GSL adaptive quadrature).
PetscErrorCode PgModelCarbonFraction(double lambda_x, double lambda_z, double m, double *eps2);
/// eq. 9 solved for lambda_Z by Brent's method on a bracket (eps2 is strictly decreasing in
/// lambda_Z). eps2 must lie in (0, Phi(lambda_X)).
PetscErrorCode PgModelLambdaZ(double lambda_x, double m, double eps2, double *lambda_z);
/// eq. 7 with the 1/(2 pi) misprint removed: C11 = eps1^2 + int_0^rho phi2(l, l, g) dg.
PetscErrorCode PgModelC11(double lambda_x, double rho, double *c11);
/// Exact expected surface area per unit volume (1/um) of each phase, S[0..2] = S_1, S_2, S_3, and
/// of each pairwise interface, S_pair[0..2] = S_12, S_13, S_23, of the continuum model (Rice's
/// formula for the level sets {X = lambda_X}, {Z = lambda_Z} restricted to the other field's side;
/// derivation in docs/interface-areas.md). m in [0, 1], alphas > 0.
PetscErrorCode PgModelInterfaceAreas(double lambda_x, double lambda_z, double m, double alpha_x_per_um, double alpha_y_per_um, double S[3], double S_pair[3]);

/// Labels of the current field realisation (two buffers: X and Y).
PetscErrorCode PgModelThreshold(PgField field, double lambda_x, double lambda_z, double m, PgLabels labels);
/// One buffer: after PgFieldGenerateX, marks NVP (label 1, others 0); after PgFieldGenerateZ,
/// labels every voxel that is not NVP as carbon or pore. The second may be repeated for several
/// lambda_Z on the same fields (common random numbers).
PetscErrorCode PgModelThresholdNVP(PgField field, double lambda_x, PgLabels labels);
PetscErrorCode PgModelThresholdZ(PgField field, double lambda_z, PgLabels labels);
