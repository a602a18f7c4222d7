/// \file
/// The measure stage sequences the descriptor modules for one label volume: volume fractions
/// (voxel counts), intrinsic volumes (intrinsic.c), two-point coverage functions (covariance.c),
/// percolation (components.c), size distributions and mercury intrusion (opening.c), geodesic
/// tortuosity (geodesic.c), the conduction problem (conductivity.c), and from them constrictivity
/// and the predicted M-factor (eq. 14). Scalars become CSV columns of the run; curves and per-axis
/// tables go to the run's HDF5 descriptors group.
///
/// Two tables drive it: `descriptors[]` (fractions, intrinsic volumes, coverage functions, the
/// transport group), run in order when the deck asks for them, and `transport_stages[]` (percolation,
/// openings, tortuosity, the prediction, conduction), which fill one Transport struct of per-phase,
/// per-axis arrays whose columns and tables are written together. The order of the tables is the
/// order of the CSV columns.
///
/// Conventions for phases that do not connect the faces (docs/methods.md): along an axis
/// where no inlet voxel reaches the outlet, tau is undefined and M_pred is 0; the CSV's tau_i is the
/// mean over the axes where it is defined (0 if there is none), every other column the mean over
/// all measured axes. beta = (r50_mip / r50_cpsd)^2 is 0 when less than half of the phase can be
/// intruded. No column is ever NaN.
#include <plurigauss/components.h>
#include <plurigauss/conductivity.h>
#include <plurigauss/covariance.h>
#include <plurigauss/files.h>
#include <plurigauss/geodesic.h>
#include <plurigauss/intrinsic.h>
#include <plurigauss/opening.h>
#include <plurigauss/stage.h>

#include <math.h>
#include <string.h>
#include <plurigauss/measure.h>

struct PgMeasure_private {
  PgGrid          grid;
  const PgConfig *cfg;
  PetscBool       periodic;
  PgCovariance    cov;
  PetscBool       comp, opening, geodesic, conductivity; /* stages asked for; objects live only while they run */
  double          step_um;                               /* radius step of the openings */
  PgOpeningHints  opening_hints;                         /* the openings' radius hints, from run to run */
  PetscLogEvent   ev_fractions, ev_intrinsic, ev_covariance, ev_components, ev_opening, ev_geodesic, ev_conductivity;
};

PetscErrorCode PgMeasureCreate(PgGrid grid, const PgConfig *cfg, PetscBool periodic, PgMeasure *measure)
{
  PgMeasure m;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&m));
  m->grid     = grid;
  m->cfg      = cfg;
  m->periodic = periodic;
  PetscCall(PetscLogEventRegister("PgFractions", 0, &m->ev_fractions));
  PetscCall(PetscLogEventRegister("PgIntrinsic", 0, &m->ev_intrinsic));
  PetscCall(PetscLogEventRegister("PgCovariance", 0, &m->ev_covariance));
  PetscCall(PetscLogEventRegister("PgComponents", 0, &m->ev_components));
  PetscCall(PetscLogEventRegister("PgOpening", 0, &m->ev_opening));
  PetscCall(PetscLogEventRegister("PgGeodesic", 0, &m->ev_geodesic));
  PetscCall(PetscLogEventRegister("PgConductivity", 0, &m->ev_conductivity));
  if (cfg->cond.solver_options[0]) PetscCall(PetscOptionsInsertString(NULL, cfg->cond.solver_options));
  if (cfg->measure.covariance)
    PetscCall(PgCovarianceCreate(grid, periodic, cfg->measure.range_um, cfg->fft.planner, &m->cov));
  m->comp         = cfg->measure.percolation;
  m->opening      = cfg->measure.psd || cfg->measure.mip;
  m->geodesic     = cfg->measure.tortuosity;
  m->conductivity = cfg->cond.solve;
  m->step_um      = cfg->measure.psd_step_um > 0
                      ? cfg->measure.psd_step_um
                      : PetscMin(PetscMin(grid->voxel_um[0], grid->voxel_um[1]), grid->voxel_um[2]);
  *measure        = m;
  PetscFunctionReturn(0);
}

PetscErrorCode PgMeasureDestroy(PgMeasure *measure)
{
  PetscFunctionBeginUser;
  if (!*measure) PetscFunctionReturn(0);
  PetscCall(PgCovarianceDestroy(&(*measure)->cov));
  PetscCall(PetscFree(*measure));
  PetscFunctionReturn(0);
}

static PetscErrorCode RowSet3(PgRow *row, const char *fmt, const double v[3])
{
  char name[32];

  PetscFunctionBeginUser;
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, fmt, i + 1);
    PetscCall(PgRowSet(row, name, v[i]));
  }
  PetscFunctionReturn(0);
}

/* The 2D cPSD of every z-slice as psd2_slices_<i> [nz][n]: each rank writes the rows of its own
 * planes (one collective write; nothing is gathered on one rank, whose share would grow with nz). */
static PetscErrorCode WriteSlices(PgMeasure m, PgOpening opening, hid_t dg, const char *name)
{
  const PgGrid  g = m->grid;
  const double *psd;
  int           n, stride;
  double       *buf;

  PetscFunctionBeginUser;
  PetscCall(PgOpeningGetSlices(opening, &psd, &n, &stride));
  PetscCall(PetscMalloc1((size_t)PetscMax(g->nz_local * n, 1), &buf));
  for (int zl = 0; zl < (int)g->nz_local; zl++)
    for (int k = 0; k < n; k++) buf[zl * n + k] = psd[zl * stride + k];
  PetscCall(PgH5WriteRows(dg, name, (hsize_t)g->n[2], (hsize_t)n, (hsize_t)g->z_start, (hsize_t)g->nz_local, buf, "-"));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* What the descriptors of one run share: the labels, the run (output, number, row) and the volume
 * fractions (the predicted M-factor of eq. 14 needs them). */
typedef struct {
  PgLabels labels;
  PgOutput out;
  int      k;
  PgRow   *row;
  double   eps[PG_NPHASES];
} Run;

/* The transport descriptors of a run: per phase (rows) and axis x, y, z (columns); axes not
 * measured hold 0. */
typedef struct {
  double perc[3][3], tau[3][3], reached[3][3], inlet[3][3], r50mip[3][3], beta[3][3], mpred[3][3];
  double r50psd[3], r50psd2[3];
  /* the conduction problems: M measured, and M / M_pred (eq. 14 checked on every run) */
  double M[3][3], M_inlet[3][3], fdiff[3][3], its[3][3], resid[3][3], reason[3][3], unknowns[3][3], ratio[3][3];
  double t_comp, t_open, t_geo, t_cond;
} Transport;

/* Percolating fraction of every phase along every axis. */
static PetscErrorCode MeasurePercolation(PgMeasure m, const Run *run, hid_t dg, Transport *T)
{
  PgComponents comp;

  PetscFunctionBeginUser;
  PetscCall(PgComponentsCreate(m->grid, &comp));
  for (int i = 0; i < PG_NPHASES; i++) {
    const uint8_t    value = (uint8_t)(i + 1);
    PgComponentsInfo info;
    double           t0 = MPI_Wtime();
    PetscCall(PgEventBegin(m->ev_components, "components"));
    PetscCall(PgComponentsCompute(comp, run->labels->v, value, (PgConnectivity)m->cfg->measure.connectivity));
    PetscCall(PgComponentsGetInfo(comp, &info));
    PetscCall(PgEventEnd(m->ev_components));
    for (int a = 0; a < 3; a++) T->perc[i][a] = info.percolating_fraction[a];
    T->t_comp += MPI_Wtime() - t0;
  }
  PetscCall(PgComponentsDestroy(&comp));
  PetscFunctionReturn(0);
}

/* The curves of phase i's openings (column 0 the radius in um, then the values): psd3_<i>,
 * psd2_<i> and psd2_slices_<i>, mip_<i>. */
static PetscErrorCode WriteOpeningCurves(PgMeasure m, PgOpening opening, const PgOpeningResult *res, int i, hid_t dg)
{
  const PgConfig *cfg  = m->cfg;
  const PgGrid    g    = m->grid;
  int             nmax = PetscMax(res->n3, res->n2);
  char            name[64];
  double         *c;

  PetscFunctionBeginUser;
  for (int a = 0; a < 3; a++) nmax = PetscMax(nmax, res->nmip[a]);
  PetscCall(PetscMalloc1(5 * (size_t)PetscMax(nmax, 1), &c));
  if (cfg->measure.psd) {
    hsize_t d[2] = {(hsize_t)res->n3, 2};
    for (int k = 0; k < res->n3; k++) {
      c[2 * k]     = (k + 1) * res->step_um;
      c[2 * k + 1] = res->psd3[k];
    }
    snprintf(name, sizeof name, "psd3_%d", i + 1);
    PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, d, c, "um,-"));
  }
  if (res->psd2) {
    hsize_t d[2] = {(hsize_t)res->n2, 2};
    for (int k = 0; k < res->n2; k++) {
      c[2 * k]     = (k + 1) * res->step_um;
      c[2 * k + 1] = res->psd2[k];
    }
    snprintf(name, sizeof name, "psd2_%d", i + 1);
    PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, d, c, "um,-"));
    snprintf(name, sizeof name, "psd2_slices_%d", i + 1);
    PetscCall(WriteSlices(m, opening, dg, name));
  }
  if (cfg->measure.mip) {
    hsize_t d[2] = {(hsize_t)nmax, 4};
    for (int k = 0; k < nmax; k++) {
      c[4 * k] = (k + 1) * res->step_um;
      for (int a = 0; a < 3; a++) c[4 * k + 1 + a] = k < res->nmip[a] ? res->mip[a][k] : (res->nmip[a] ? 0.0 : NAN);
    }
    snprintf(name, sizeof name, "mip_%d", i + 1);
    PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, d, c, "um,-,-,-"));
  }
  PetscCall(PetscFree(c));
  PetscFunctionReturn(0);
}

/* Size distributions and mercury intrusion of every phase; their curves go to dg at once. */
static PetscErrorCode MeasureOpenings(PgMeasure m, const Run *run, hid_t dg, Transport *T)
{
  const PgConfig *cfg = m->cfg;
  PgOpening       opening;

  PetscFunctionBeginUser;
  PetscCall(PgOpeningCreate(m->grid, m->periodic, m->step_um, &opening));
  PgOpeningSetHints(opening, m->opening_hints);
  for (int i = 0; i < PG_NPHASES; i++) {
    const uint8_t   value = (uint8_t)(i + 1);
    PgOpeningResult res;
    double          t0 = MPI_Wtime();
    PetscCall(PgEventBegin(m->ev_opening, "opening"));
    PetscCall(PgOpeningCompute(opening, run->labels->v, value, cfg->measure.psd2d,
                               cfg->measure.mip ? cfg->measure.axes : 0, cfg->measure.mip_inlet_high, &res));
    PetscCall(PgEventEnd(m->ev_opening));
    T->t_open += MPI_Wtime() - t0;
    T->r50psd[i]  = res.r50_psd3_um;
    T->r50psd2[i] = res.r50_psd2_um;
    for (int a = 0; a < 3; a++) T->r50mip[i][a] = res.r50_mip_um[a];
    PetscCall(WriteOpeningCurves(m, opening, &res, i, dg));
  }
  PgOpeningGetHints(opening, m->opening_hints);
  PetscCall(PgOpeningDestroy(&opening));
  PetscFunctionReturn(0);
}

/* Geodesic tortuosity of every phase along every measured axis. */
static PetscErrorCode MeasureTortuosity(PgMeasure m, const Run *run, hid_t dg, Transport *T)
{
  const uint8_t value[PG_NPHASES] = {PG_PHASE_NVP, PG_PHASE_CARBON, PG_PHASE_PORE};
  PgGeodesic    geodesic;

  PetscFunctionBeginUser;
  PetscCall(PgGeodesicCreate(m->grid, &geodesic));
  for (int a = 0; a < 3; a++) {
    PgGeodesicResult gr[PG_NPHASES];
    double           t0 = MPI_Wtime();
    if (!(m->cfg->measure.axes & (1u << a))) continue;
    PetscCall(PgEventBegin(m->ev_geodesic, "geodesic"));
    PetscCall(PgGeodesicComputePhases(geodesic, run->labels->v, PG_NPHASES, value, a, gr));
    PetscCall(PgEventEnd(m->ev_geodesic));
    for (int i = 0; i < PG_NPHASES; i++) {
      T->tau[i][a]     = gr[i].tau;
      T->reached[i][a] = (double)gr[i].reached;
      T->inlet[i][a]   = (double)gr[i].inlet;
    }
    T->t_geo += MPI_Wtime() - t0;
  }
  PetscCall(PgGeodesicDestroy(&geodesic));
  PetscFunctionReturn(0);
}

/* Constrictivity beta = (r50_mip / r50_cpsd)^2 and the predicted M-factor of eq. 14. */
static PetscErrorCode Predict(PgMeasure m, const Run *run, hid_t dg, Transport *T)
{
  const PgConfig *cfg = m->cfg;
  const double   *eps = run->eps;

  PetscFunctionBeginUser;
  for (int i = 0; i < PG_NPHASES; i++) {
    for (int a = 0; a < 3; a++) {
      T->beta[i][a]  = T->r50psd[i] > 0 ? (T->r50mip[i][a] / T->r50psd[i]) * (T->r50mip[i][a] / T->r50psd[i]) : 0.0;
      T->mpred[i][a] = T->tau[i][a] > 0 ? pow(eps[i], cfg->measure.mhat_exponents[0]) *
                                            pow(T->beta[i][a], cfg->measure.mhat_exponents[1]) /
                                            pow(T->tau[i][a], cfg->measure.mhat_exponents[2])
                                        : 0.0;
    }
  }
  PetscFunctionReturn(0);
}

/* The conduction problem of every phase along every conductivity axis. */
static PetscErrorCode MeasureConduction(PgMeasure m, const Run *run, hid_t dg, Transport *T)
{
  const PgConfig *cfg = m->cfg;
  PgConductivity  cond;

  PetscFunctionBeginUser;
  PetscCall(PgConductivityCreate(m->grid, cfg->cond.periodic_sides, cfg->cond.rtol, &cond));
  PetscCall(PgConductivitySetMTolerance(cond, cfg->cond.m_rtol));
  for (int i = 0; i < PG_NPHASES; i++)
    for (int a = 0; a < 3; a++) {
      PgConductivityResult cr;
      if (!(cfg->cond.axes & (1u << a))) continue;
      PetscCall(PgEventBegin(m->ev_conductivity, "conductivity"));
      PetscCall(PgConductivityCompute(cond, run->labels->v, (uint8_t)(i + 1), a, &cr));
      PetscCall(PgEventEnd(m->ev_conductivity));
      T->t_cond += cr.seconds;
      T->M[i][a]        = cr.converged ? cr.M : NAN;
      T->M_inlet[i][a]  = cr.converged ? cr.M_inlet : NAN;
      T->fdiff[i][a]    = cr.flux_rel_diff;
      T->its[i][a]      = (double)cr.iterations;
      T->resid[i][a]    = cr.residual;
      T->reason[i][a]   = cr.reason;
      T->unknowns[i][a] = (double)cr.unknowns;
      T->ratio[i][a]    = T->mpred[i][a] > 0 ? T->M[i][a] / T->mpred[i][a] : 0.0;
      if (!cr.converged)
        PetscCall(PetscPrintf(
          m->grid->comm,
          "plurigauss: warning: the conduction problem of phase %d along %c did not converge (PETSc reason %d after %d iterations, residual %g): M is NaN in the output\n",
          i + 1, "xyz"[a], cr.reason, (int)cr.iterations, cr.residual));
    }
  PetscCall(PgConductivityDestroy(&cond));
  PetscFunctionReturn(0);
}

/* The CSV columns of phase i: means over the measured axes (tau: over those where it is defined). */
static PetscErrorCode RowTransportPhase(PgMeasure m, const Transport *T, int i, PgRow *row)
{
  const PgConfig *cfg = m->cfg;
  char            name[32];
  double          s[5] = {0, 0, 0, 0, 0};
  int             ntau = 0, naxes = 0;

  PetscFunctionBeginUser;
  for (int a = 0; a < 3; a++) naxes += (cfg->measure.axes >> a) & 1;
  for (int a = 0; a < 3; a++) {
    if (!(cfg->measure.axes & (1u << a))) continue;
    s[0] += T->perc[i][a];
    s[1] += T->beta[i][a];
    s[2] += T->r50mip[i][a];
    s[3] += T->mpred[i][a];
    if (T->tau[i][a] > 0) {
      s[4] += T->tau[i][a];
      ntau++;
    }
  }
  if (m->comp) {
    snprintf(name, sizeof name, "perc_%d", i + 1);
    PetscCall(PgRowSet(row, name, s[0] / naxes));
  }
  if (m->opening && cfg->measure.psd) {
    snprintf(name, sizeof name, "r50_cpsd_%d", i + 1);
    PetscCall(PgRowSet(row, name, T->r50psd[i]));
  }
  if (m->opening && cfg->measure.psd2d) {
    snprintf(name, sizeof name, "r50_cpsd2d_%d", i + 1);
    PetscCall(PgRowSet(row, name, T->r50psd2[i]));
  }
  if (m->opening && cfg->measure.mip) {
    snprintf(name, sizeof name, "r50_mip_%d", i + 1);
    PetscCall(PgRowSet(row, name, s[2] / naxes));
  }
  if (m->geodesic) {
    snprintf(name, sizeof name, "tau_%d", i + 1);
    PetscCall(PgRowSet(row, name, ntau ? s[4] / ntau : 0.0));
  }
  if (m->opening && cfg->measure.psd && cfg->measure.mip) {
    snprintf(name, sizeof name, "beta_%d", i + 1);
    PetscCall(PgRowSet(row, name, s[1] / naxes));
    if (m->geodesic) {
      snprintf(name, sizeof name, "M_pred_%d", i + 1);
      PetscCall(PgRowSet(row, name, s[3] / naxes));
    }
  }
  PetscFunctionReturn(0);
}

/* The conduction results: CSV columns M_<i> (mean over the axes) and M_over_M_pred_<i> (over the
 * axes with a prediction), and the per-axis tables. */
static PetscErrorCode WriteConduction(PgMeasure m, const Transport *T, hid_t dg, PgRow *row)
{
  const unsigned caxes     = m->cfg->cond.axes;
  const hsize_t  dims33[2] = {3, 3};
  const int      rank      = m->grid->rank;
  int            nc        = 0;

  PetscFunctionBeginUser;
  for (int a = 0; a < 3; a++) nc += (caxes >> a) & 1;
  for (int i = 0; i < PG_NPHASES; i++) {
    char   name[32];
    double sm = 0, sr = 0;
    int    nr = 0;
    for (int a = 0; a < 3; a++) {
      if (!(caxes & (1u << a))) continue;
      sm += T->M[i][a];
      if (T->mpred[i][a] > 0) {
        sr += T->ratio[i][a];
        nr++;
      }
    }
    snprintf(name, sizeof name, "M_%d", i + 1);
    PetscCall(PgRowSet(row, name, sm / nc));
    snprintf(name, sizeof name, "M_over_M_pred_%d", i + 1);
    PetscCall(PgRowSet(row, name, nr ? sr / nr : 0.0));
  }
  PetscCall(PgRowSet(row, "t_conductivity_s", T->t_cond));
  PetscCall(PgH5WriteSmall(dg, rank, "M", 2, dims33, &T->M[0][0], "-"));
  PetscCall(PgH5WriteSmall(dg, rank, "M_inlet", 2, dims33, &T->M_inlet[0][0], "-"));
  PetscCall(PgH5WriteSmall(dg, rank, "M_over_M_pred", 2, dims33, &T->ratio[0][0], "-"));
  PetscCall(PgH5WriteSmall(dg, rank, "cond_flux_rel_diff", 2, dims33, &T->fdiff[0][0], "-"));
  PetscCall(PgH5WriteSmall(dg, rank, "cond_iterations", 2, dims33, &T->its[0][0], "-"));
  PetscCall(PgH5WriteSmall(dg, rank, "cond_residual", 2, dims33, &T->resid[0][0], "-"));
  PetscCall(PgH5WriteSmall(dg, rank, "cond_reason", 2, dims33, &T->reason[0][0], "KSPConvergedReason"));
  PetscCall(PgH5WriteSmall(dg, rank, "cond_unknowns", 2, dims33, &T->unknowns[0][0], "voxels"));
  PetscFunctionReturn(0);
}

/* The per-axis tables of percolation, intrusion, constrictivity, tortuosity and M_pred, and the
 * r50 radii of the size distributions. */
static PetscErrorCode WriteTransportTables(PgMeasure m, const Transport *T, hid_t dg)
{
  const PgConfig *cfg       = m->cfg;
  const hsize_t   dims33[2] = {3, 3}, three = 3;
  const int       rank    = m->grid->rank;
  const PetscBool psd_mip = m->opening && cfg->measure.psd && cfg->measure.mip ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBeginUser;
  if (m->comp) {
    double flag[3][3];
    for (int i = 0; i < 3; i++)
      for (int a = 0; a < 3; a++) flag[i][a] = T->perc[i][a] > 0;
    PetscCall(PgH5WriteSmall(dg, rank, "percolating_fraction", 2, dims33, &T->perc[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, rank, "percolates", 2, dims33, &flag[0][0], "0/1"));
  }
  if (m->opening && cfg->measure.mip)
    PetscCall(PgH5WriteSmall(dg, rank, "r50_mip_um", 2, dims33, &T->r50mip[0][0], "um"));
  if (psd_mip) PetscCall(PgH5WriteSmall(dg, rank, "beta", 2, dims33, &T->beta[0][0], "-"));
  if (m->geodesic) {
    PetscCall(PgH5WriteSmall(dg, rank, "tau", 2, dims33, &T->tau[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, rank, "tau_inlet_voxels", 2, dims33, &T->inlet[0][0], "voxels"));
    PetscCall(PgH5WriteSmall(dg, rank, "tau_reached_voxels", 2, dims33, &T->reached[0][0], "voxels"));
    if (psd_mip) PetscCall(PgH5WriteSmall(dg, rank, "M_pred", 2, dims33, &T->mpred[0][0], "-"));
  }
  if (m->opening) {
    PetscCall(PgH5WriteSmall(dg, rank, "r50_cpsd_um", 1, &three, T->r50psd, "um"));
    if (cfg->measure.psd2d) PetscCall(PgH5WriteSmall(dg, rank, "r50_cpsd2d_um", 1, &three, T->r50psd2, "um"));
  }
  PetscFunctionReturn(0);
}

static PetscBool Always(PgMeasure m) { return PETSC_TRUE; }
static PetscBool WantPercolation(PgMeasure m) { return m->comp; }
static PetscBool WantOpenings(PgMeasure m) { return m->opening; }
static PetscBool WantTortuosity(PgMeasure m) { return m->geodesic; }
static PetscBool WantConduction(PgMeasure m) { return m->conductivity; }

/* The transport stages in the order they run: constrictivity and M_pred need the openings and the
 * tortuosity, M / M_pred needs M_pred. Each fills its arrays of the Transport struct. */
static const struct {
  PetscBool (*wanted)(PgMeasure m);
  PetscErrorCode (*measure)(PgMeasure m, const Run *run, hid_t dg, Transport *T);
} transport_stages[] = {
  {WantPercolation, MeasurePercolation}, {WantOpenings, MeasureOpenings},
  {WantTortuosity, MeasureTortuosity},   {Always, Predict},
  {WantConduction, MeasureConduction},
};

/* Percolation, size distributions, intrusion, tortuosity, constrictivity, M_pred and M of every
 * phase, stage by stage over the phases: only one stage's arrays are alive at a time (peak memory
 * is the largest stage's, not their sum); then the columns and tables of them all. */
static PetscErrorCode TransportInGroup(PgMeasure m, const Run *run, hid_t dg)
{
  Transport T;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&T, sizeof T));
  for (size_t i = 0; i < sizeof transport_stages / sizeof transport_stages[0]; i++)
    if (transport_stages[i].wanted(m)) PetscCall(transport_stages[i].measure(m, run, dg, &T));
  for (int i = 0; i < PG_NPHASES; i++) PetscCall(RowTransportPhase(m, &T, i, run->row));
  if (m->conductivity) PetscCall(WriteConduction(m, &T, dg, run->row));
  if (m->comp) PetscCall(PgRowSet(run->row, "t_components_s", T.t_comp));
  if (m->opening) PetscCall(PgRowSet(run->row, "t_opening_s", T.t_open));
  if (m->geodesic) PetscCall(PgRowSet(run->row, "t_geodesic_s", T.t_geo));
  PetscCall(WriteTransportTables(m, &T, dg));
  PetscFunctionReturn(0);
}

/* f with the run's descriptors group, closed on every path. */
static PetscErrorCode InRunGroup(PgMeasure m, const Run *run, PetscErrorCode (*f)(PgMeasure, const Run *, hid_t))
{
  hid_t          dg = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PgOutputRunGroup(run->out, run->k, &dg));
  ierr = f(m, run, dg);
  PgH5Close(&dg);
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* Volume fractions eps_i (and the solid carbon fraction). */
static PetscErrorCode MeasureFractions(PgMeasure m, Run *run)
{
  PetscFunctionBeginUser;
  PetscCall(PgEventBegin(m->ev_fractions, "fractions"));
  PetscCall(PgLabelsVolumeFractions(run->labels, run->eps));
  PetscCall(PgEventEnd(m->ev_fractions));
  PetscCall(RowSet3(run->row, "eps_%d", run->eps));
  PetscCall(PgRowSet(run->row, "eps2_solid", run->eps[1] * m->cfg->model.nanopore_ratio));
  PetscFunctionReturn(0);
}

/* Surface and interface areas and Euler characteristics. */
static PetscErrorCode MeasureIntrinsic(PgMeasure m, Run *run)
{
  PgIntrinsic in;

  PetscFunctionBeginUser;
  PetscCall(PgEventBegin(m->ev_intrinsic, "intrinsic"));
  PetscCall(PgIntrinsicCompute(run->labels, m->periodic, &in));
  PetscCall(PgEventEnd(m->ev_intrinsic));
  PetscCall(RowSet3(run->row, "S_%d", in.S));
  PetscCall(PgRowSet(run->row, "S_12", in.S_pair[0]));
  PetscCall(PgRowSet(run->row, "S_13", in.S_pair[1]));
  PetscCall(PgRowSet(run->row, "S_23", in.S_pair[2]));
  PetscCall(RowSet3(run->row, "chi_%d", in.chi6));
  PetscCall(RowSet3(run->row, "chi26_%d", in.chi26));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteCovariance(PgMeasure m, const Run *run, hid_t dg)
{
  char ext[32], csv[PETSC_MAX_PATH_LEN + 32];

  PetscFunctionBeginUser;
  snprintf(ext, sizeof ext, "_cov_%04d.csv", run->k);
  PgFileSideCar(m->cfg->output.file, ext, csv, sizeof csv);
  PetscCall(PgCovarianceWrite(m->cov, dg, csv));
  PetscFunctionReturn(0);
}

/* The two-point coverage functions: curves to the run's group and to <stem>_cov_<k>.csv. */
static PetscErrorCode MeasureCovariance(PgMeasure m, Run *run)
{
  double t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(PgEventBegin(m->ev_covariance, "covariance"));
  PetscCall(PgCovarianceCompute(m->cov, run->labels));
  PetscCall(PgEventEnd(m->ev_covariance));
  PetscCall(PgRowSet(run->row, "t_covariance_s", MPI_Wtime() - t0));
  PetscCall(PgRowSet(run->row, "t_cov_fft_s", PgCovarianceFFTSeconds(m->cov)));
  PetscCall(InRunGroup(m, run, WriteCovariance));
  PetscFunctionReturn(0);
}

static PetscErrorCode MeasureTransport(PgMeasure m, Run *run)
{
  PetscFunctionBeginUser;
  PetscCall(InRunGroup(m, run, TransportInGroup));
  PetscFunctionReturn(0);
}

static PetscBool WantIntrinsic(PgMeasure m) { return m->cfg->measure.intrinsic; }
static PetscBool WantCovariance(PgMeasure m) { return m->cov ? PETSC_TRUE : PETSC_FALSE; }
static PetscBool WantTransport(PgMeasure m)
{
  return m->comp || m->opening || m->geodesic || m->conductivity ? PETSC_TRUE : PETSC_FALSE;
}

/* The descriptors of a label volume, in the order they run and fill the row: whether the deck asks
 * for each, and its measurement (CSV columns into the row, datasets into the run's descriptors
 * group). */
static const struct {
  PetscBool (*wanted)(PgMeasure m);
  PetscErrorCode (*measure)(PgMeasure m, Run *run);
} descriptors[] = {
  {Always, MeasureFractions},
  {WantIntrinsic, MeasureIntrinsic},
  {WantCovariance, MeasureCovariance},
  {WantTransport, MeasureTransport},
};

PetscErrorCode PgMeasureRun(PgMeasure m, PgLabels labels, PgOutput out, int k, PgRow *row)
{
  Run run = {labels, out, k, row, {0, 0, 0}};

  PetscFunctionBeginUser;
  for (size_t i = 0; i < sizeof descriptors / sizeof descriptors[0]; i++)
    if (descriptors[i].wanted(m)) PetscCall(descriptors[i].measure(m, &run));
  PetscFunctionReturn(0);
}

PgCovariance PgMeasureGetCovariance(PgMeasure m) { return m->cov; }

/* --------------------------------------------------------------------------------------------
 * Deck keys: measure.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

#define INF HUGE_VAL
static const char *const periodic_names[] = {"auto", "true", "false", NULL};
static const char *const inlet_names[]    = {"lo", "hi", NULL};

const PgKey PgMeasureKeys[] = {
  {"measure_covariance", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "two-point coverage functions C_ij (eq. 4) by FFT"},
  {"measure_intrinsic", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "surface areas S_i, interface areas S_ij, Euler characteristics"},
  {"measure_interface_field", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "model runs: interface areas S_ij_field from the fields' level-set crossings (sub-voxel; fft.memory low keeps X in 1 byte per voxel)"},
  {"measure_range_um", PG_KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "largest lag of C_ij; 0 = a quarter of the shortest side"},
  {"measure_periodic", PG_KEY_ENUM, 1, 1, "auto", "-", 0, 0, 0, 0, periodic_names,
   "periodic estimators (auto: yes for model runs, no for images)"},
  {"measure_axes", PG_KEY_STRING, 1, 1, "xyz", "-", 0, 0, 0, 0, NULL,
   "axes of percolation, MIP, tortuosity and M_pred: any of x, y, z"},
  {"measure_percolation", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "connected components: volume fraction of each phase connecting the two faces normal to each axis"},
  {"measure_connectivity", PG_KEY_INT, 1, 1, "6", "-", 6, 26, 0, 0, NULL,
   "neighbourhood of the percolation components: 6 (faces) or 26"},
  {"measure_psd", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "3D continuous phase size distribution (opening by balls) and its median r50"},
  {"measure_psd2d", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "2D continuous phase size distribution on every z-slice (disks, eq. 13, Figure 4)"},
  {"measure_psd_step_um", PG_KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "radius step of the size distributions and MIP; 0 = the smallest voxel edge"},
  {"measure_mip", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "simulated mercury intrusion along each axis; constrictivity beta = (r50_mip / r50_cpsd)^2"},
  {"measure_mip_inlet", PG_KEY_ENUM, 1, 1, "lo", "-", 0, 0, 0, 0, inlet_names,
   "face the mercury enters: coordinate 0 (lo) or n-1 (hi) of each axis"},
  {"measure_tortuosity", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "mean geodesic tortuosity along each axis (26-neighbour shortest paths)"},
  {"measure_mhat_exponents", PG_KEY_REAL, 3, 3, "1.15,0.35,4.39", "-", 0, 100, 0, 0, NULL,
   "a,b,c of the predicted M-factor eps^a beta^b / tau^c (eq. 14; ref. [32] reports b = 0.37)"},
};
#undef INF
const int PgMeasureNKeys = (int)(sizeof PgMeasureKeys / sizeof PgMeasureKeys[0]);

#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgMeasureLoadOptions(PgDeck deck, PgMeasureOptions *o)
{
  const MPI_Comm comm = PgDeckComm(deck);

  PetscFunctionBeginUser;
  o->covariance      = V("measure_covariance")->v[0] != 0;
  o->intrinsic       = V("measure_intrinsic")->v[0] != 0;
  o->interface_field = V("measure_interface_field")->v[0] != 0;
  o->range_um        = V("measure_range_um")->v[0];
  o->periodic        = (int)V("measure_periodic")->v[0];
  PetscCall(PgDeckAxes(deck, "measure_axes", "xyz or z", &o->axes));
  PetscCheck(o->axes, comm, PETSC_ERR_USER_INPUT, "measure.axes is empty: give at least one of x, y, z");
  o->percolation  = V("measure_percolation")->v[0] != 0;
  o->connectivity = (int)V("measure_connectivity")->v[0];
  PetscCheck(o->connectivity == 6 || o->connectivity == 26, comm, PETSC_ERR_USER_INPUT,
             "measure.connectivity = %d: allowed 6 or 26", o->connectivity);
  o->psd            = V("measure_psd")->v[0] != 0;
  o->psd2d          = V("measure_psd2d")->v[0] != 0;
  o->psd_step_um    = V("measure_psd_step_um")->v[0];
  o->mip            = V("measure_mip")->v[0] != 0;
  o->mip_inlet_high = V("measure_mip_inlet")->v[0] != 0;
  o->tortuosity     = V("measure_tortuosity")->v[0] != 0;
  for (int i = 0; i < 3; i++) o->mhat_exponents[i] = V("measure_mhat_exponents")->v[i];
  PetscFunctionReturn(0);
}
#undef V
