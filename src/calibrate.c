/// \file
/// Calibration of Section 3.2, and the data of the validation of Section 4.1.
///
/// Data. The 3D volume (only NVP resolved: label 1 = NVP, anything else = not NVP) is read on its
/// own slab decomposition and mapped to labels {1, 3}; C_11 comes from the distributed,
/// non-periodic (minus sampling) covariance of covariance.c, nothing gathers the volume. The 2D
/// images are small: rank 0 reads and checks them, every rank receives them, and image k is
/// transformed on PETSC_COMM_SELF by rank k mod P (the curves are then broadcast), so the 2D
/// curves are bit-identical at every rank count. Curves are radial averages in µm (bin width =
/// the smallest voxel/pixel edge; each bin is placed at the mean length of its lag vectors).
/// Transforms are planned with FFTW_ESTIMATE: one execution each, measuring would cost more than
/// it saves, and the plans (hence the rounding) do not depend on timing.
///
/// Estimators (eqs. 1-3, 6-12), in order:
///  1. eps1 from the 3D voxel counts; eps_{i,2D} from the pooled 2D pixel counts; eps2, eps3 by
///     eqs. 2-3.
///  2. lambda_X = Phi^-1(1 - eps1) (eq. 6); rho_X(r_b) by inverting eq. 7 at each 3D radial bin
///     (Brent; C11 is increasing in rho); alpha_X by least squares of exp(-(alpha r)^2) (eq. 8)
///     over the bins 0 < r <= range.
///  3. For the 2D identities (eqs. 10, 11) the fractions are by default the 2D images' own
///     (lambda_X,2D = Phi^-1(1 - eps1,2D), eps2,2D): the 3D and 2D samples come from different
///     particles and a mismatch of the long-range limits biases rho_Y (see README). With
///     calibration.fractions_2d = rescaled the paper's eq. 2-3 values are used instead.
///  4. For m on the grid 0, step, ..., 1 (spread over the ranks, one reduction): lambda_Z(m) by
///     eq. 9 and the misfit sum_b (C12_model(r_b) - C12_data(r_b))^2 over the 2D bins, with
///     rho_X(r) = exp(-(alpha_X r)^2) at the 2D lags (the 3D bins are coarser than the 2D ones).
///     Eq. 11 does not involve rho_Y, so the misfit needs no rho_Y; rho_Y is inverted from eq. 10
///     at the chosen m only (spread over the ranks by bin), then alpha_Y by least squares (eq. 12).
///  5. lambda_Z of Table 1 by eq. 9 with lambda_X (eq. 6) and eps2 (eq. 2) at the chosen m.
/// Cost: negligible next to the transforms (a C22 evaluation is ~10^4 exponentials; the m grid
/// of 201 points x ~40 bins of C12 takes well under a second).
#include <plurigauss/calibrate.h>
#include <plurigauss/error.h>
#include <plurigauss/model.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_roots.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define RHO_MAX 0.9999 /* inversions search rho in [-RHO_MAX, RHO_MAX] */
#define QUAD_LIMIT 128

/* --------------------------------------------------------------------------------------------
 * Gaussian orthant probabilities
 * -------------------------------------------------------------------------------------------- */

typedef struct {
  gsl_integration_workspace *outer, *inner;
} Quad;

static PetscErrorCode QuadCreate(Quad *q)
{
  PetscFunctionBeginUser;
  gsl_set_error_handler_off(); /* GSL's default handler aborts; statuses are checked instead */
  q->outer = gsl_integration_workspace_alloc(QUAD_LIMIT);
  q->inner = gsl_integration_workspace_alloc(QUAD_LIMIT);
  PetscCheck(q->outer && q->inner, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL workspace");
  PetscFunctionReturn(0);
}

static void QuadDestroy(Quad *q)
{
  if (q->outer) gsl_integration_workspace_free(q->outer);
  if (q->inner) gsl_integration_workspace_free(q->inner);
}

typedef struct {
  double x, y;
} BvnCtx;

/* With g = sin(theta): d/dg Phi2(x, y; g) = phi2(x, y; g), and dg = cos(theta) dtheta removes the
 * 1/sqrt(1 - g^2) singularity: the integrand exp(-(x^2 + y^2 - 2 x y s) / (2 c^2)) is bounded and
 * smooth. The numerator is written around s = +-1 to avoid cancellation there. */
static double BvnIntegrand(double th, void *ctx)
{
  const BvnCtx *b = (const BvnCtx *)ctx;
  const double  s = sin(th), c = cos(th), c2 = c * c, x = b->x, y = b->y;
  double        e;
  if (s >= 0) e = (x - y) * (x - y) / (2 * c2) + x * y / (1 + s);
  else e = (x + y) * (x + y) / (2 * c2) - x * y / (1 - s);
  return exp(-e);
}

static double BvnCDF(double x, double y, double r, gsl_integration_workspace *w)
{
  if (isnan(x) || isnan(y) || isnan(r)) return NAN;
  if (x == -INFINITY || y == -INFINITY) return 0;
  if (x == INFINITY) return gsl_cdf_ugaussian_P(y);
  if (y == INFINITY) return gsl_cdf_ugaussian_P(x);
  if (r >= 1 - 1e-14) return gsl_cdf_ugaussian_P(PetscMin(x, y));
  if (r <= -1 + 1e-14) return PetscMax(0.0, gsl_cdf_ugaussian_P(x) + gsl_cdf_ugaussian_P(y) - 1);
  const double base = gsl_cdf_ugaussian_P(x) * gsl_cdf_ugaussian_P(y);
  if (r == 0) return base;
  BvnCtx       ctx = {x, y};
  gsl_function F   = {BvnIntegrand, &ctx};
  double       v, err;
  gsl_integration_qag(&F, 0, asin(r), 1e-15, 1e-12, QUAD_LIMIT, GSL_INTEG_GAUSS21, w, &v, &err);
  return PetscMin(1.0, PetscMax(0.0, base + v / (2 * M_PI)));
}

double PgBivariateNormalCDF(double x, double y, double r)
{
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(QUAD_LIMIT);
  double                     v;
  if (!w) return NAN;
  gsl_set_error_handler_off();
  v = BvnCDF(x, y, r, w);
  gsl_integration_workspace_free(w);
  return v;
}

static double Phi2Density(double x, double y, double r)
{
  const double d = 1 - r * r;
  return exp(-(x * x - 2 * r * x * y + y * y) / (2 * d)) / (2 * M_PI * sqrt(d));
}

/* P(W <= b), W ~ N(0, S) with unit variances, n <= 4 coordinates: 0..na-1 at the point 0,
 * na..n-1 at the point h. Along Sigma(t) (cross block times t):
 *   P = P_A P_B + int_0^1 sum_{k < na <= l} S_kl phi2(b_k, b_l; t S_kl) P(rest | W_k = b_k, W_l = b_l) dt. */
typedef struct {
  int    n, na;
  double S[4][4], b[4];
  Quad  *q;
} Orthant;

/* Probability that the rest (n - 2 coordinates) of W ~ N(0, St) lies below b, given W_k = b_k and
 * W_l = b_l. Degenerate conditional variances become steps. */
static double Conditional(const Orthant *o, double St[4][4], int k, int l)
{
  const double r = St[k][l], det = 1 - r * r;
  int          R[2], nr = 0;
  double       mu[2], cov[2][2];

  for (int i = 0; i < o->n; i++)
    if (i != k && i != l) R[nr++] = i;
  if (!nr) return 1;
  for (int a = 0; a < nr; a++) {
    const int i = R[a];
    mu[a]       = (St[i][k] * (o->b[k] - r * o->b[l]) + St[i][l] * (o->b[l] - r * o->b[k])) / det;
    for (int c = 0; c < nr; c++) {
      const int j = R[c];
      cov[a][c]   = St[i][j] - (St[i][k] * (St[j][k] - r * St[j][l]) + St[i][l] * (St[j][l] - r * St[j][k])) / det;
    }
  }
  double z[2], sd[2];
  for (int a = 0; a < nr; a++) {
    sd[a] = cov[a][a] > 1e-14 ? sqrt(cov[a][a]) : 0;
    z[a]  = sd[a] > 0 ? (o->b[R[a]] - mu[a]) / sd[a] : (o->b[R[a]] - mu[a] >= 0 ? INFINITY : -INFINITY);
  }
  if (nr == 1) return gsl_cdf_ugaussian_P(z[0]);
  if (sd[0] == 0 || sd[1] == 0) return (z[0] == -INFINITY || z[1] == -INFINITY) ? 0 : (sd[0] == 0 ? gsl_cdf_ugaussian_P(z[1]) : gsl_cdf_ugaussian_P(z[0]));
  const double rc = PetscMin(1.0, PetscMax(-1.0, cov[0][1] / (sd[0] * sd[1])));
  return BvnCDF(z[0], z[1], rc, o->q->inner);
}

static double PathIntegrand(double t, void *ctx)
{
  const Orthant *o = (const Orthant *)ctx;
  double         St[4][4], sum = 0;

  for (int i = 0; i < o->n; i++)
    for (int j = 0; j < o->n; j++) St[i][j] = ((i < o->na) != (j < o->na)) ? t * o->S[i][j] : o->S[i][j];
  for (int k = 0; k < o->na; k++)
    for (int l = o->na; l < o->n; l++) {
      if (o->S[k][l] == 0) continue;
      const double r = St[k][l];
      if (fabs(r) >= 1) continue; /* a measure-zero endpoint of a singular path */
      sum += o->S[k][l] * Phi2Density(o->b[k], o->b[l], r) * Conditional(o, St, k, l);
    }
  return sum;
}

/* P of one block (size 1 or 2) alone */
static double BlockP(const Orthant *o, int lo, int hi)
{
  if (hi - lo == 1) return gsl_cdf_ugaussian_P(o->b[lo]);
  return BvnCDF(o->b[lo], o->b[lo + 1], o->S[lo][lo + 1], o->q->inner);
}

static PetscErrorCode OrthantP(Orthant *o, double *p)
{
  gsl_function F = {PathIntegrand, o};
  double       v, err;

  PetscFunctionBeginUser;
  const double p0     = BlockP(o, 0, o->na) * BlockP(o, o->na, o->n);
  int          status = gsl_integration_qags(&F, 0, 1, 1e-13, 1e-10, QUAD_LIMIT, o->q->outer, &v, &err);
  PetscCheck(status == GSL_SUCCESS || status == GSL_EROUND || err < 1e-9, PETSC_COMM_SELF, PETSC_ERR_LIB, "orthant probability quadrature failed: %s (error %g)", gsl_strerror(status), err);
  *p = p0 + v;
  PetscFunctionReturn(0);
}

/* Unit diagonal; S[i][j] = S[j][i] = s for the listed pairs */
static void SetCov(Orthant *o, int i, int j, double s)
{
  o->S[i][j] = s;
  o->S[j][i] = s;
}

static void InitOrthant(Orthant *o, int n, int na, Quad *q)
{
  memset(o, 0, sizeof *o);
  o->n  = n;
  o->na = na;
  o->q  = q;
  for (int i = 0; i < n; i++) o->S[i][i] = 1;
}

/* eq. 7: C11 = P(X0 >= l, Xh >= l) */
static PetscErrorCode C11(Quad *q, double lx, double rx, double *c)
{
  Orthant o;

  PetscFunctionBeginUser;
  InitOrthant(&o, 2, 1, q);
  o.b[0] = o.b[1] = -lx; /* W = (-X0 | -Xh) */
  SetCov(&o, 0, 1, rx);
  PetscCall(OrthantP(&o, c));
  PetscFunctionReturn(0);
}

/* eq. 11: C12 = P(X0 >= lx, Xh < lx, Zh >= lz), Z = sqrt(m) X + sqrt(1-m) Y */
static PetscErrorCode C12(Quad *q, double lx, double lz, double m, double rx, double *c)
{
  Orthant      o;
  const double sm = sqrt(m);

  PetscFunctionBeginUser;
  InitOrthant(&o, 3, 1, q);
  o.b[0] = -lx; /* W = (-X0 | Xh, -Zh) */
  o.b[1] = lx;
  o.b[2] = -lz;
  SetCov(&o, 0, 1, -rx);
  SetCov(&o, 0, 2, sm * rx);
  SetCov(&o, 1, 2, -sm);
  PetscCall(OrthantP(&o, c));
  PetscFunctionReturn(0);
}

/* eq. 10: C22 = P(X0 < lx, Z0 >= lz, Xh < lx, Zh >= lz) */
static PetscErrorCode C22(Quad *q, double lx, double lz, double m, double rx, double ry, double *c)
{
  Orthant      o;
  const double sm = sqrt(m);

  PetscFunctionBeginUser;
  InitOrthant(&o, 4, 2, q);
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
  PetscCall(OrthantP(&o, c));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrateModelC(double lx, double lz, double m, double rx, double ry, double c[PG_NPAIRS])
{
  Quad   q;
  double e1 = gsl_cdf_ugaussian_Q(lx), e2, e3;

  PetscFunctionBeginUser;
  PetscCall(QuadCreate(&q));
  PetscCall(PgModelCarbonFraction(lx, lz, m, &e2));
  e3 = 1 - e1 - e2;
  PetscCall(C11(&q, lx, rx, &c[0]));
  PetscCall(C12(&q, lx, lz, m, rx, &c[1]));
  PetscCall(C22(&q, lx, lz, m, rx, ry, &c[3]));
  c[2] = e1 - c[0] - c[1]; /* C13 = eps1 - C11 - C12 */
  c[4] = e2 - c[1] - c[3]; /* C23 = eps2 - C21 - C22 */
  c[5] = e3 - c[2] - c[4]; /* C33 = eps3 - C31 - C32 */
  QuadDestroy(&q);
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Inversions and fits
 * -------------------------------------------------------------------------------------------- */

typedef struct {
  Quad  *q;
  int    which; /* 7 or 10 */
  double lx, lz, m, rx, target;
  int    fail;
} RootCtx;

static double RootResidual(double rho, void *ctx)
{
  RootCtx *r = (RootCtx *)ctx;
  double   c;
  PetscErrorCode ierr = r->which == 7 ? C11(r->q, r->lx, rho, &c) : C22(r->q, r->lx, r->lz, r->m, r->rx, rho, &c);
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
  PetscCheck(!r->fail && !isnan(flo) && !isnan(fhi), PETSC_COMM_SELF, PETSC_ERR_LIB, "eq. %d could not be evaluated", r->which);
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
  PetscCheck(status == GSL_SUCCESS && !r->fail, PETSC_COMM_SELF, PETSC_ERR_LIB, "eq. %d: the root for C = %g did not converge", r->which, r->target);
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrateInvertC11(double lx, double c11, double *rho, int *clamped)
{
  Quad    q;
  RootCtx r = {&q, 7, lx, 0, 0, 0, c11, 0};

  PetscFunctionBeginUser;
  PetscCall(QuadCreate(&q));
  PetscCall(InvertMonotone(&r, rho, clamped));
  QuadDestroy(&q);
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrateInvertC22(double lx, double lz, double m, double rx, double c22, double *rho, int *clamped)
{
  Quad    q;
  RootCtx r = {&q, 10, lx, lz, m, rx, c22, 0};

  PetscFunctionBeginUser;
  PetscCall(QuadCreate(&q));
  PetscCall(InvertMonotone(&r, rho, clamped));
  QuadDestroy(&q);
  PetscFunctionReturn(0);
}

typedef struct {
  int           n;
  const double *h, *rho;
} FitData;

static int FitF(const gsl_vector *x, void *ctx, gsl_vector *f)
{
  const FitData *d = (const FitData *)ctx;
  const double   a = gsl_vector_get(x, 0);
  for (int i = 0; i < d->n; i++) gsl_vector_set(f, (size_t)i, exp(-(a * d->h[i]) * (a * d->h[i])) - d->rho[i]);
  return GSL_SUCCESS;
}

static int FitJ(const gsl_vector *x, void *ctx, gsl_matrix *J)
{
  const FitData *d = (const FitData *)ctx;
  const double   a = gsl_vector_get(x, 0);
  for (int i = 0; i < d->n; i++) gsl_matrix_set(J, (size_t)i, 0, -2 * a * d->h[i] * d->h[i] * exp(-(a * d->h[i]) * (a * d->h[i])));
  return GSL_SUCCESS;
}

PetscErrorCode PgCalibrateFitAlpha(int n, const double *h, const double *rho, double *alpha)
{
  FitData                             d = {n, h, rho};
  gsl_multifit_nlinear_fdf            fdf;
  gsl_multifit_nlinear_parameters     par = gsl_multifit_nlinear_default_parameters();
  gsl_multifit_nlinear_workspace     *w;
  double                              a0 = NAN;
  int                                 info;

  PetscFunctionBeginUser;
  gsl_set_error_handler_off();
  PetscCheck(n >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "no points to fit alpha to");
  /* start: the first point with 0.1 < rho < 0.95, rho = exp(-(a h)^2) */
  for (int i = 0; i < n && isnan(a0); i++)
    if (rho[i] > 0.1 && rho[i] < 0.95 && h[i] > 0) a0 = sqrt(-log(rho[i])) / h[i];
  if (isnan(a0)) a0 = 1.0 / h[n - 1];
  fdf.f      = FitF;
  fdf.df     = FitJ;
  fdf.fvv    = NULL;
  fdf.n      = (size_t)n;
  fdf.p      = 1;
  fdf.params = &d;
  w          = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &par, (size_t)n, 1);
  PetscCheck(w, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL least-squares workspace");
  gsl_vector_view x = gsl_vector_view_array(&a0, 1);
  gsl_multifit_nlinear_init(&x.vector, &fdf, w);
  int status = gsl_multifit_nlinear_driver(200, 1e-12, 1e-12, 1e-14, NULL, NULL, &info, w);
  *alpha     = fabs(gsl_vector_get(w->x, 0));
  gsl_multifit_nlinear_free(w);
  PetscCheck(status == GSL_SUCCESS, PETSC_COMM_SELF, PETSC_ERR_LIB, "least squares for alpha did not converge: %s", gsl_strerror(status));
  PetscFunctionReturn(0);
}
