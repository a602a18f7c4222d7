/// \file
/// Gaussian orthant probabilities P(W <= b) of a standard normal vector W of dimension n <= 4 with
/// unit variances, split into two blocks (coordinates 0..na-1 at one point, na..n-1 at another).
/// The model's two-point coverage functions (eqs. 7, 10, 11, model.h) are such probabilities.
///
/// One method for all: along the path Sigma(t) that scales the covariances between the two blocks
/// by t in [0, 1] (t = 0: the blocks are independent and the probability factorises), Plackett's
/// identity dP/dsigma_kl = phi2(b_k, b_l; sigma_kl) P(rest <= b_rest | W_k = b_k, W_l = b_l) turns
/// the probability into a 1D integral over t of bivariate normal densities times conditional
/// normal probabilities of dimension 0, 1 or 2 (GSL QAGS outside, a GSL QAG bivariate normal CDF
/// inside). For n = 2 this is the identity P = Phi(b0) Phi(b1) + int_0^rho phi2(b0, b1; g) dg.
#pragma once

#include <petscsys.h>

/// The quadrature workspaces of the orthant probabilities (reusable; not thread-safe).
typedef struct PgOrthant_private *PgOrthant;

PetscErrorCode PgOrthantCreate(PgOrthant *orthant);
PetscErrorCode PgOrthantDestroy(PgOrthant *orthant);
/// P(W <= b) for W ~ N(0, S), S[i][i] = 1, n <= 4 coordinates of which the first na form the first
/// block (1 <= na < n, blocks of at most 2). Deterministic (no MPI).
PetscErrorCode PgOrthantProbability(PgOrthant orthant, int n, int na, const double S[4][4], const double b[4],
                                    double *p);
/// P(U <= x, V <= y) for standard normals with correlation r in [-1, 1].
double PgBivariateNormalCDF(double x, double y, double r);
