/// \file
/// Thresholds and labels. lambda_X by eq. 6; lambda_Z by inverting eq. 9 with GSL's Brent solver,
/// the integral by GSL's QAGIL (semi-infinite interval). The thresholding is one pass over the
/// field buffers (read 8 or 16 bytes, write 1 byte per voxel), no communication.
///
/// eq. 7 as printed carries a factor 1/(2 pi) in front of the integral of the bivariate normal
/// density phi2, which already contains it; the identity used here is
///   C11(h) = eps1^2 + int_0^rho(h) phi2(lambda, lambda, g) dg
///          = eps1^2 + int_0^rho exp(-lambda^2 / (1 + g)) / (2 pi sqrt(1 - g^2)) dg.
///
/// Interface areas (PgModelInterfaceAreas, docs/interface-areas.md): Rice's formula for the area
/// of a level set, restricted to one side of the other field's threshold. At a point, the gradient
/// of a stationary field is independent of its value, and grad X, grad Y are independent of
/// (X, Y); so grad Z = sqrt(m) grad X + sqrt(1-m) grad Y (each component of variance
/// 2 alpha_Z^2 = 2 (m alpha_X^2 + (1-m) alpha_Y^2)) is independent of (X, Z), and each expectation
/// factorises into the level set's area S_V(lambda, alpha) = (2 sqrt 2 / pi) alpha exp(-lambda^2/2)
/// times a conditional normal probability of the other field:
///   S_12 = S_V(lambda_X, alpha_X) P(Z >= lambda_Z | X = lambda_X)
///   S_13 = S_V(lambda_X, alpha_X) P(Z <  lambda_Z | X = lambda_X)
///   S_23 = S_V(lambda_Z, alpha_Z) P(X <  lambda_X | Z = lambda_Z)
/// with Z | X = x ~ N(sqrt(m) x, 1 - m) and X | Z = z ~ N(sqrt(m) z, 1 - m) (GSL's normal CDFs).
#include <plurigauss/config.h>
#include <plurigauss/model.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_roots.h>
#include <math.h>
#include <string.h>

double PgModelLambdaX(double nvp_fraction) { return gsl_cdf_ugaussian_Pinv(1.0 - nvp_fraction); }

typedef struct {
  double lx, lz, m;
} Eq9;

static double Eq9Integrand(double t, void *ctx)
{
  const Eq9 *p   = (const Eq9 *)ctx;
  double     phi = exp(-0.5 * t * t) / sqrt(2 * M_PI);
  return phi * gsl_cdf_ugaussian_Q((p->lz - sqrt(p->m) * t) / sqrt(1 - p->m));
}

PetscErrorCode PgModelCarbonFraction(double lambda_x, double lambda_z, double m, double *eps2)
{
  PetscFunctionBeginUser;
  if (m >= 1) { /* Z = X */
    *eps2 = PetscMax(0.0, gsl_cdf_ugaussian_P(lambda_x) - gsl_cdf_ugaussian_P(lambda_z));
    PetscFunctionReturn(0);
  }
  if (m <= 0) { /* Z = Y, independent of X */
    *eps2 = gsl_cdf_ugaussian_P(lambda_x) * gsl_cdf_ugaussian_Q(lambda_z);
    PetscFunctionReturn(0);
  }
  Eq9                        p = {lambda_x, lambda_z, m};
  gsl_function               F = {Eq9Integrand, &p};
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(256);
  double                     err;
  PetscCheck(w, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL workspace");
  int status = gsl_integration_qagil(&F, lambda_x, 1e-13, 1e-11, 256, w, eps2, &err);
  gsl_integration_workspace_free(w);
  PetscCheck(status == GSL_SUCCESS, PETSC_COMM_SELF, PETSC_ERR_LIB, "eq. 9 quadrature failed: %s",
             gsl_strerror(status));
  PetscFunctionReturn(0);
}

typedef struct {
  double lx, m, target;
} Eq9Root;

static double Eq9Residual(double lz, void *ctx)
{
  const Eq9Root *p = (const Eq9Root *)ctx;
  double         e;
  if (PgModelCarbonFraction(p->lx, lz, p->m, &e)) return NAN;
  return e - p->target;
}

PetscErrorCode PgModelLambdaZ(double lambda_x, double m, double eps2, double *lambda_z)
{
  Eq9Root p  = {lambda_x, m, eps2};
  double  lo = -40, hi = 40, top = gsl_cdf_ugaussian_P(lambda_x);

  PetscFunctionBeginUser;
  PetscCheck(eps2 > 0 && eps2 < top, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "carbon fraction %g is not reachable: eq. 9 allows (0, %g) when lambda_X = %g", eps2, top, lambda_x);
  gsl_function      F = {Eq9Residual, &p};
  gsl_root_fsolver *s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
  PetscCheck(s, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL root solver");
  gsl_root_fsolver_set(s, &F, lo, hi);
  int status = GSL_CONTINUE;
  for (int it = 0; it < 200 && status == GSL_CONTINUE; it++) {
    gsl_root_fsolver_iterate(s);
    lo     = gsl_root_fsolver_x_lower(s);
    hi     = gsl_root_fsolver_x_upper(s);
    status = gsl_root_test_interval(lo, hi, 1e-13, 0);
  }
  *lambda_z = gsl_root_fsolver_root(s);
  gsl_root_fsolver_free(s);
  PetscCheck(status == GSL_SUCCESS, PETSC_COMM_SELF, PETSC_ERR_LIB, "eq. 9 root for eps2 = %g did not converge", eps2);
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Two-point coverage functions (eqs. 7, 10, 11) as Gaussian orthant probabilities (orthant.h)
 * -------------------------------------------------------------------------------------------- */

#define RHO_MAX 0.9999 /* inversions search rho in [-RHO_MAX, RHO_MAX] */

/* W ~ N(0, S) of n coordinates with unit variances; S[i][j] = S[j][i] = s for the listed pairs */
typedef struct {
  double S[4][4], b[4];
} Orthant;

static void SetCov(Orthant *o, int i, int j, double s)
{
  o->S[i][j] = s;
  o->S[j][i] = s;
}

static void InitOrthant(Orthant *o, int n)
{
  memset(o, 0, sizeof *o);
  for (int i = 0; i < n; i++) o->S[i][i] = 1;
}

PetscErrorCode PgModelC11(PgOrthant q, double lx, double rx, double *c)
{
  Orthant o;

  PetscFunctionBeginUser;
  InitOrthant(&o, 2);
  o.b[0] = o.b[1] = -lx; /* W = (-X0 | -Xh) */
  SetCov(&o, 0, 1, rx);
  PetscCall(PgOrthantProbability(q, 2, 1, o.S, o.b, c));
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelC12(PgOrthant q, double lx, double lz, double m, double rx, double *c)
{
  Orthant      o;
  const double sm = sqrt(m);

  PetscFunctionBeginUser;
  InitOrthant(&o, 3);
  o.b[0] = -lx; /* W = (-X0 | Xh, -Zh) */
  o.b[1] = lx;
  o.b[2] = -lz;
  SetCov(&o, 0, 1, -rx);
  SetCov(&o, 0, 2, sm * rx);
  SetCov(&o, 1, 2, -sm);
  PetscCall(PgOrthantProbability(q, 3, 1, o.S, o.b, c));
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelC22(PgOrthant q, double lx, double lz, double m, double rx, double ry, double *c)
{
  Orthant      o;
  const double sm = sqrt(m);

  PetscFunctionBeginUser;
  InitOrthant(&o, 4);
  o.b[0] = lx; /* W = (X0, -Z0 | Xh, -Zh) */
  o.b[1] = -lz;
  o.b[2] = lx;
  o.b[3] = -lz;
  SetCov(&o, 0, 1, -sm);
  SetCov(&o, 2, 3, -sm);
  SetCov(&o, 0, 2, rx);
  SetCov(&o, 0, 3, -sm * rx);
  SetCov(&o, 1, 2, -sm * rx);
  SetCov(&o, 1, 3, m * rx + (1 - m) * ry);
  PetscCall(PgOrthantProbability(q, 4, 2, o.S, o.b, c));
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelTwoPoint(double lx, double lz, double m, double rx, double ry, double c[PG_NPAIRS])
{
  PgOrthant q  = NULL;
  double    e1 = gsl_cdf_ugaussian_Q(lx), e2, e3;

  PetscFunctionBeginUser;
  PetscCall(PgOrthantCreate(&q));
  PetscCall(PgModelCarbonFraction(lx, lz, m, &e2));
  e3 = 1 - e1 - e2;
  PetscCall(PgModelC11(q, lx, rx, &c[0]));
  PetscCall(PgModelC12(q, lx, lz, m, rx, &c[1]));
  PetscCall(PgModelC22(q, lx, lz, m, rx, ry, &c[3]));
  c[2] = e1 - c[0] - c[1]; /* C13 = eps1 - C11 - C12 */
  c[4] = e2 - c[1] - c[3]; /* C23 = eps2 - C21 - C22 */
  c[5] = e3 - c[2] - c[4]; /* C33 = eps3 - C31 - C32 */
  PetscCall(PgOrthantDestroy(&q));
  PetscFunctionReturn(0);
}

typedef struct {
  PgOrthant q;
  int       which; /* 7 or 10 */
  double    lx, lz, m, rx, target;
  int       fail;
} RootCtx;

static double RootResidual(double rho, void *ctx)
{
  RootCtx       *r = (RootCtx *)ctx;
  double         c;
  PetscErrorCode ierr =
    r->which == 7 ? PgModelC11(r->q, r->lx, rho, &c) : PgModelC22(r->q, r->lx, r->lz, r->m, r->rx, rho, &c);
  if (ierr) {
    r->fail = 1;
    return NAN;
  }
  return c - r->target;
}

/* Brent on [-RHO_MAX, RHO_MAX] for an increasing residual; outside the bracket: clamp. */
static PetscErrorCode InvertMonotone(RootCtx *r, double *rho, int *clamped)
{
  gsl_function F  = {RootResidual, r};
  double       lo = -RHO_MAX, hi = RHO_MAX, flo, fhi;

  PetscFunctionBeginUser;
  *clamped = 0;
  flo      = RootResidual(lo, r);
  fhi      = RootResidual(hi, r);
  PetscCheck(!r->fail && !isnan(flo) && !isnan(fhi), PETSC_COMM_SELF, PETSC_ERR_LIB, "eq. %d could not be evaluated",
             r->which);
  if (flo >= 0 || fhi <= 0) {
    *rho     = flo >= 0 ? lo : hi;
    *clamped = 1;
    PetscFunctionReturn(0);
  }
  gsl_root_fsolver *s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
  PetscCheck(s, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL root solver");
  gsl_root_fsolver_set(s, &F, lo, hi);
  int status = GSL_CONTINUE;
  for (int it = 0; it < 200 && status == GSL_CONTINUE; it++) {
    gsl_root_fsolver_iterate(s);
    status = gsl_root_test_interval(gsl_root_fsolver_x_lower(s), gsl_root_fsolver_x_upper(s), 1e-12, 0);
  }
  *rho = gsl_root_fsolver_root(s);
  gsl_root_fsolver_free(s);
  PetscCheck(status == GSL_SUCCESS && !r->fail, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "eq. %d: the root for C = %g did not converge", r->which, r->target);
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelInvertC11(double lx, double c11, double *rho, int *clamped)
{
  RootCtx        r = {NULL, 7, lx, 0, 0, 0, c11, 0};
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PgOrthantCreate(&r.q));
  ierr = InvertMonotone(&r, rho, clamped);
  PetscCall(PgOrthantDestroy(&r.q));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelInvertC22(double lx, double lz, double m, double rx, double c22, double *rho, int *clamped)
{
  RootCtx        r = {NULL, 10, lx, lz, m, rx, c22, 0};
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PgOrthantCreate(&r.q));
  ierr = InvertMonotone(&r, rho, clamped);
  PetscCall(PgOrthantDestroy(&r.q));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Interface areas
 * -------------------------------------------------------------------------------------------- */

/* Area per unit volume of the level set {U = lambda} of a smooth stationary isotropic Gaussian
 * field of variance 1 whose gradient components have variance 2 alpha^2 (Rice's formula:
 * phi(lambda) E|grad U|, E|N(0, s^2 I_3)| = 2 s sqrt(2 / pi)). */
static double LevelSetArea(double lambda, double alpha)
{
  return 2 * M_SQRT2 / M_PI * alpha * exp(-0.5 * lambda * lambda);
}

/* P(V >= lambda_v | U = lambda_u) and P(V < lambda_v | U = lambda_u) for V = sqrt(m) U + sqrt(1-m) W,
 * W independent of U, each from its own tail (no 1 - p cancellation); the limit m = 1 (V = U) is
 * a step. */
static void SplitGivenLevel(double lambda_v, double lambda_u, double m, double *upper, double *lower)
{
  if (m >= 1) {
    *upper = lambda_u >= lambda_v ? 1.0 : 0.0;
    *lower = 1 - *upper;
    return;
  }
  const double t = (lambda_v - sqrt(m) * lambda_u) / sqrt(1 - m);
  *upper         = gsl_cdf_ugaussian_Q(t);
  *lower         = gsl_cdf_ugaussian_P(t);
}

PetscErrorCode PgModelInterfaceAreas(double lambda_x, double lambda_z, double m, double alpha_x_per_um,
                                     double alpha_y_per_um, double S[3], double S_pair[3])
{
  double carbon, pore, nvp, below;

  PetscFunctionBeginUser;
  PetscCheck(m >= 0 && m <= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "model.m = %g: interface areas need m in [0, 1]", m);
  PetscCheck(alpha_x_per_um > 0 && alpha_y_per_um > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "alpha_X = %g, alpha_Y = %g /um: interface areas need both > 0", alpha_x_per_um, alpha_y_per_um);
  const double alpha_z = sqrt(m * alpha_x_per_um * alpha_x_per_um + (1 - m) * alpha_y_per_um * alpha_y_per_um);
  const double sx = LevelSetArea(lambda_x, alpha_x_per_um), sz = LevelSetArea(lambda_z, alpha_z);
  SplitGivenLevel(lambda_z, lambda_x, m, &carbon, &pore); /* Z >< lz on {X = lx} */
  SplitGivenLevel(lambda_x, lambda_z, m, &nvp, &below);   /* X >< lx on {Z = lz} */

  S_pair[0] = sx * carbon;
  S_pair[1] = sx * pore;
  S_pair[2] = sz * below;
  S[0]      = S_pair[0] + S_pair[1];
  S[1]      = S_pair[0] + S_pair[2];
  S[2]      = S_pair[1] + S_pair[2];
  PetscFunctionReturn(0);
}

/* Every threshold is one pass over the slab's rows: x and y (field rows, padded to `stride`
 * reals) to the labels o. RULE(x, y, o) gives the new label of one voxel. */
#define THRESHOLD_ROWS(R, RULE)                                                                                   \
  do {                                                                                                            \
    const R *X = (const R *)xd, *Y = (const R *)yd;                                                               \
    _Pragma("omp parallel for collapse(2) schedule(static) num_threads(g->threads)") for (ptrdiff_t zl = 0;       \
                                                                                          zl < g->nz_local; zl++) \
    {                                                                                                             \
      for (ptrdiff_t y = 0; y < g->n[1]; y++) {                                                                   \
        const size_t row     = ((size_t)zl * (size_t)g->n[1] + (size_t)y) * (size_t)stride;                       \
        const R *restrict xr = X + row, *restrict yr = Y ? Y + row : NULL;                                        \
        uint8_t *restrict o = labels->v + PgGridIndex(g, zl, y, 0);                                               \
        (void)yr;                                                                                                 \
        for (ptrdiff_t x = 0; x < g->n[0]; x++) o[x] = RULE(xr[x], yr[x], o[x]);                                  \
      }                                                                                                           \
    }                                                                                                             \
  } while (0)

typedef enum { RULE_BOTH, RULE_NVP, RULE_Z } Rule;

/* Applies a rule to the field's current buffers; lambda_x, lambda_z, m as the rule needs. */
static PetscErrorCode Threshold(PgField field, Rule rule, double lambda_x, double lambda_z, double m, PgLabels labels)
{
  const void     *xd, *yd;
  ptrdiff_t       stride;
  PgPrecision     prec;
  const PgGrid_s *g = labels->grid;

  PetscFunctionBeginUser;
  PetscCall(PgFieldGetArrays(field, &xd, &yd, &stride, &prec));
  PetscCheck(rule != RULE_BOTH || yd, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "thresholding X and Y needs the two-buffer field");
  /* Xi_1 = {X >= lx}, Xi_2 = {X < lx, sqrt(m) X + sqrt(1-m) Y >= lz}, Xi_3 = the rest */
#define BOTH(x, y, o)  ((x) >= lx ? PG_PHASE_NVP : (a * (x) + b * (y) >= lz ? PG_PHASE_CARBON : PG_PHASE_PORE))
#define NVP(x, y, o)   ((x) >= lx ? PG_PHASE_NVP : 0)
#define ZONLY(x, y, o) ((o) == PG_PHASE_NVP ? PG_PHASE_NVP : ((x) >= lz ? PG_PHASE_CARBON : PG_PHASE_PORE))
#define APPLY(R)                                                                    \
  do {                                                                              \
    const R lx = (R)lambda_x, lz = (R)lambda_z, a = (R)sqrt(m), b = (R)sqrt(1 - m); \
    (void)a;                                                                        \
    (void)b;                                                                        \
    (void)lx;                                                                       \
    (void)lz;                                                                       \
    if (rule == RULE_BOTH) THRESHOLD_ROWS(R, BOTH);                                 \
    else if (rule == RULE_NVP) THRESHOLD_ROWS(R, NVP);                              \
    else THRESHOLD_ROWS(R, ZONLY);                                                  \
  } while (0)
  if (prec == PG_PRECISION_DOUBLE) APPLY(double);
  else APPLY(float);
#undef APPLY
#undef BOTH
#undef NVP
#undef ZONLY
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelThreshold(PgField field, double lambda_x, double lambda_z, double m, PgLabels labels)
{
  PetscFunctionBeginUser;
  PetscCall(Threshold(field, RULE_BOTH, lambda_x, lambda_z, m, labels));
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelThresholdNVP(PgField field, double lambda_x, PgLabels labels)
{
  PetscFunctionBeginUser;
  PetscCall(Threshold(field, RULE_NVP, lambda_x, 0, 0, labels));
  PetscFunctionReturn(0);
}

PetscErrorCode PgModelThresholdZ(PgField field, double lambda_z, PgLabels labels)
{
  PetscFunctionBeginUser;
  PetscCall(Threshold(field, RULE_Z, 0, lambda_z, 0, labels));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Deck keys: domain.*, model.*, random.*, sweep.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

#define INF HUGE_VAL
const PgKey PgModelKeys[] = {
  {"domain_shape", PG_KEY_INT, 3, 3, "300,300,300", "voxels", 8, 1 << 24, 0, 0, NULL,
   "global grid nx,ny,nz (at least 8 per axis)"},
  {"domain_voxel_size_um", PG_KEY_REAL, 1, 3, "0.0166", "um", 0, INF, 1, 1, NULL,
   "voxel edge; one value (cubic) or dx,dy,dz"},
  {"model_alpha_x", PG_KEY_REAL, 1, 1, "16.6", "1/um", 0, INF, 1, 1, NULL,
   "alpha_X of rho_X(h) = exp(-(alpha_X h)^2), eq. 8"},
  {"model_alpha_y", PG_KEY_REAL, 1, 1, "26.5", "1/um", 0, INF, 1, 1, NULL,
   "alpha_Y of rho_Y(h) = exp(-(alpha_Y h)^2), eq. 12"},
  {"model_m", PG_KEY_REAL, 1, 1, "0.15", "-", 0, 1, 0, 0, NULL, "weight m in Z = sqrt(m) X + sqrt(1-m) Y"},
  {"model_nvp_fraction", PG_KEY_REAL, 1, 1, "0.5148", "-", 0, 1, 1, 1, NULL,
   "eps1, NVP volume fraction; lambda_X = Phi^-1(1-eps1), eq. 6"},
  {"model_lambda_x", PG_KEY_REAL, 1, 1, NULL, "-", -INF, INF, 1, 1, NULL,
   "threshold lambda_X, instead of model.nvp_fraction"},
  {"model_carbon_fraction", PG_KEY_REAL, 1, 1, "0.3372", "-", 0, 1, 1, 1, NULL,
   "eps2, carbon volume fraction; lambda_Z from eq. 9"},
  {"model_lambda_z", PG_KEY_REAL, 1, 1, NULL, "-", -INF, INF, 1, 1, NULL,
   "threshold lambda_Z, instead of model.carbon_fraction"},
  {"model_nanopore_ratio", PG_KEY_REAL, 1, 1, "0.405797", "-", 0, 1, 1, 0, NULL,
   "carbon without nanopores = ratio * eps2 (Section 4.2: 0.28/0.69)"},
  {"random_seed", PG_KEY_INT, 1, 1, "20231012", "-", 0, 9.007199254740992e15, 0, 0, NULL,
   "master seed; each run's seed is derived from it"},
  {"sweep_carbon_fraction", PG_KEY_REAL, 1, PG_MAX_SWEEP, NULL, "-", 0, 1, 1, 1, NULL,
   "list of target eps2; default: the single model.carbon_fraction"},
  {"sweep_realizations", PG_KEY_INT, 1, 1, "3", "-", 1, 1000000, 0, 0, NULL, "realizations per sweep point"},
  {"sweep_common_random_numbers", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "reuse the fields of realization r at every sweep point"},
  {"sweep_first_point", PG_KEY_INT, 1, 1, "0", "-", 0, 1000000, 0, 0, NULL,
   "index of the first point in a larger sweep split across jobs: seeds are those of that point on"},
};
#undef INF
const int PgModelNKeys = (int)(sizeof PgModelKeys / sizeof PgModelKeys[0]);

/* A threshold and its fraction are alternatives: given in the deck and on the command line, the
 * command line wins; both in one source is an error. */
static void ResolveAlternatives(PgDeck deck, const char *a, const char *b)
{
  if (PgDeckGet(deck, a)->set && PgDeckGet(deck, b)->set && PgDeckInFile(deck, a) != PgDeckInFile(deck, b))
    PgDeckForget(deck, PgDeckInFile(deck, a) ? a : b);
}

#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgModelLoadOptions(PgDeck deck, PgDomain *dom, PgModelParams *mp, PgSweepOptions *sw)
{
  const MPI_Comm     comm = PgDeckComm(deck);
  const PgDeckValue *vs   = V("domain_voxel_size_um"), *lx, *fx, *lz, *fz, *sc;

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++) dom->shape[d] = (PetscInt)V("domain_shape")->v[d];
  PetscCheck(vs->n == 1 || vs->n == 3, comm, PETSC_ERR_USER_INPUT, "domain.voxel_size_um needs 1 or 3 values, got %d",
             vs->n);
  for (int d = 0; d < 3; d++) dom->voxel_um[d] = vs->v[vs->n == 3 ? d : 0];
  dom->voxel_given   = vs->set;
  dom->shape_given   = V("domain_shape")->set;
  mp->alpha_x_per_um = V("model_alpha_x")->v[0];
  mp->alpha_y_per_um = V("model_alpha_y")->v[0];
  mp->m              = V("model_m")->v[0];
  mp->nanopore_ratio = V("model_nanopore_ratio")->v[0];
  ResolveAlternatives(deck, "model_lambda_x", "model_nvp_fraction");
  ResolveAlternatives(deck, "model_lambda_z", "model_carbon_fraction");
  ResolveAlternatives(deck, "model_lambda_z", "sweep_carbon_fraction");
  lx = V("model_lambda_x");
  fx = V("model_nvp_fraction");
  PetscCheck(!(lx->set && fx->set), comm, PETSC_ERR_USER_INPUT,
             "model.lambda_x and model.nvp_fraction are both given; give one");
  mp->have_lambda_x = lx->set;
  mp->lambda_x      = lx->set ? lx->v[0] : 0;
  mp->nvp_fraction  = fx->v[0];
  lz                = V("model_lambda_z");
  fz                = V("model_carbon_fraction");
  sc                = V("sweep_carbon_fraction");
  PetscCheck(!(lz->set && fz->set), comm, PETSC_ERR_USER_INPUT,
             "model.lambda_z and model.carbon_fraction are both given; give one");
  PetscCheck(!(lz->set && sc->set), comm, PETSC_ERR_USER_INPUT,
             "model.lambda_z and sweep.carbon_fraction are both given; a sweep sets lambda_Z from eq. 9 at each point");
  mp->have_lambda_z = lz->set;
  mp->lambda_z      = lz->set ? lz->v[0] : 0;
  mp->from_sweep    = sc->set;
  mp->npoints       = sc->set ? sc->n : 1;
  for (int i = 0; i < mp->npoints; i++) mp->carbon_fraction[i] = sc->set ? sc->v[i] : fz->v[0];
  for (int i = 0; i < mp->npoints && !mp->have_lambda_x && !mp->have_lambda_z; i++)
    PetscCheck(mp->nvp_fraction + mp->carbon_fraction[i] < 1, comm, PETSC_ERR_USER_INPUT,
               "%s = %g with model.nvp_fraction = %g: the fractions sum to %g, must be < 1",
               sc->set ? "sweep.carbon_fraction" : "model.carbon_fraction", mp->carbon_fraction[i], mp->nvp_fraction,
               mp->nvp_fraction + mp->carbon_fraction[i]);
  for (int i = 0; i < PG_NPARAMS; i++) mp->origin[i] = PG_FROM_DECK;
  mp->calibrated_from[0]    = 0;
  sw->realizations          = (PetscInt)V("sweep_realizations")->v[0];
  sw->common_random_numbers = V("sweep_common_random_numbers")->v[0] != 0;
  sw->first_point           = (PetscInt)V("sweep_first_point")->v[0];
  sw->seed                  = (uint64_t)V("random_seed")->v[0];
  PetscFunctionReturn(0);
}
#undef V
