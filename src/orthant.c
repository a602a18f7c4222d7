/// \file
/// Gaussian orthant probabilities (orthant.h): the path integral of Plackett's identity over the
/// scaling t of the covariances between the two blocks, and the bivariate normal CDF inside it.
///
/// Numerics. The bivariate CDF substitutes g = sin(theta) in Plackett's integral, which removes the
/// 1/sqrt(1 - g^2) singularity (GSL QAG, Gauss-Kronrod 21, relative tolerance 1e-12). The outer
/// integral over t is GSL QAGS (absolute 1e-13, relative 1e-10). Degenerate conditional variances
/// become steps. Cost: one outer quadrature of at most a few hundred integrand evaluations, each a
/// bivariate CDF; no communication.
#include <plurigauss/orthant.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <math.h>
#include <string.h>

#define QUAD_LIMIT 128

struct PgOrthant_private {
  gsl_integration_workspace *outer, *inner;
};

PetscErrorCode PgOrthantCreate(PgOrthant *orthant)
{
  PgOrthant q;

  PetscFunctionBeginUser;
  gsl_set_error_handler_off(); /* GSL's default handler aborts; statuses are checked instead */
  PetscCall(PetscNew(&q));
  q->outer = gsl_integration_workspace_alloc(QUAD_LIMIT);
  q->inner = gsl_integration_workspace_alloc(QUAD_LIMIT);
  *orthant = q;
  PetscCheck(q->outer && q->inner, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL workspace");
  PetscFunctionReturn(0);
}

PetscErrorCode PgOrthantDestroy(PgOrthant *orthant)
{
  PgOrthant q = *orthant;

  PetscFunctionBeginUser;
  if (!q) PetscFunctionReturn(0);
  if (q->outer) gsl_integration_workspace_free(q->outer);
  if (q->inner) gsl_integration_workspace_free(q->inner);
  PetscCall(PetscFree(*orthant));
  PetscFunctionReturn(0);
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
  int       n, na;
  double    S[4][4], b[4];
  PgOrthant q;
} Orthant;

/* Probability that the rest (n - 2 coordinates) of W ~ N(0, St) lies below b, given W_k = b_k and
 * W_l = b_l. Degenerate conditional variances become steps. */
static double Conditional(const Orthant *o, double St[4][4], int k, int l)
{
  const double r = St[k][l], det = 1 - r * r;
  int          R[2], nr          = 0;
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
  if (sd[0] == 0 || sd[1] == 0)
    return (z[0] == -INFINITY || z[1] == -INFINITY)
             ? 0
             : (sd[0] == 0 ? gsl_cdf_ugaussian_P(z[1]) : gsl_cdf_ugaussian_P(z[0]));
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
  PetscCheck(status == GSL_SUCCESS || status == GSL_EROUND || err < 1e-9, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "orthant probability quadrature failed: %s (error %g)", gsl_strerror(status), err);
  *p = p0 + v;
  PetscFunctionReturn(0);
}

PetscErrorCode PgOrthantProbability(PgOrthant q, int n, int na, const double S[4][4], const double b[4], double *p)
{
  Orthant o;

  PetscFunctionBeginUser;
  PetscCheck(n >= 2 && n <= 4 && na >= 1 && na <= 2 && n - na <= 2, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "orthant probability of %d coordinates in blocks of %d and %d: at most 2 + 2", n, na, n - na);
  memset(&o, 0, sizeof o);
  o.n  = n;
  o.na = na;
  o.q  = q;
  for (int i = 0; i < n; i++) {
    o.b[i] = b[i];
    for (int j = 0; j < n; j++) o.S[i][j] = S[i][j];
  }
  PetscCall(OrthantP(&o, p));
  PetscFunctionReturn(0);
}
