/// \file
/// The measure stage sequences the descriptor modules for one label volume: volume fractions
/// (voxel counts), intrinsic volumes (intrinsic.c), two-point coverage functions (covariance.c),
/// percolation (components.c), size distributions and mercury intrusion (opening.c), geodesic
/// tortuosity (geodesic.c), and from them constrictivity and the predicted M-factor (eq. 14).
/// Scalars become CSV columns of the run; curves and per-axis tables go to the run's HDF5
/// descriptors group.
///
/// Conventions for phases that do not connect the faces (docs/methods.md): along an axis
/// where no inlet voxel reaches the outlet, tau is undefined and M_pred is 0; the CSV's tau_i is the
/// mean over the axes where it is defined (0 if there is none), every other column the mean over
/// all measured axes. beta = (r50_mip / r50_cpsd)^2 is 0 when less than half of the phase can be
/// intruded. No column is ever NaN.
#include <plurigauss/components.h>
#include <plurigauss/conductivity.h>
#include <plurigauss/covariance.h>
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
  double          step_um;                 /* radius step of the openings */
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
  if (cfg->conductivity_options[0]) PetscCall(PetscOptionsInsertString(NULL, cfg->conductivity_options));
  if (cfg->measure_covariance) PetscCall(PgCovarianceCreate(grid, periodic, cfg->measure_range_um, cfg->planner, &m->cov));
  m->comp     = cfg->measure_percolation;
  m->opening  = cfg->measure_psd || cfg->measure_mip;
  m->geodesic = cfg->measure_tortuosity;
  m->conductivity = cfg->conductivity;
  m->step_um  = cfg->measure_psd_step_um > 0 ? cfg->measure_psd_step_um : PetscMin(PetscMin(grid->voxel_um[0], grid->voxel_um[1]), grid->voxel_um[2]);
  *measure = m;
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

/* The 2D cPSD of every z-slice, gathered on rank 0 as [nz][n] (a few numbers per slice). */
static PetscErrorCode GatherSlices(PgMeasure m, PgOpening opening, double *all)
{
  const PgGrid  g = m->grid;
  const double *psd;
  int           n, stride, mine, *cnt = NULL, *displ = NULL;
  double       *buf;

  PetscFunctionBeginUser;
  PetscCall(PgOpeningGetSlices(opening, &psd, &n, &stride));
  mine = (int)g->nz_local * n;
  PetscCall(PetscMalloc1(PetscMax(mine, 1), &buf));
  for (int zl = 0; zl < (int)g->nz_local; zl++)
    for (int k = 0; k < n; k++) buf[zl * n + k] = psd[zl * stride + k];
  if (g->rank == 0) PetscCall(PetscMalloc2(g->size, &cnt, g->size, &displ));
  PetscCallMPI(MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, g->comm));
  if (g->rank == 0)
    for (int r = 0, o = 0; r < g->size; r++) {
      displ[r] = o;
      o += cnt[r];
    }
  PetscCallMPI(MPI_Gatherv(buf, mine, MPI_DOUBLE, all, cnt, displ, MPI_DOUBLE, 0, g->comm));
  if (g->rank == 0) PetscCall(PetscFree2(cnt, displ));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* Percolation, size distributions, intrusion, tortuosity, constrictivity, M_pred of every phase. */
static PetscErrorCode Transport(PgMeasure m, PgLabels labels, const double eps[PG_NPHASES], hid_t dg, PgRow *row)
{
  const PgConfig *cfg = m->cfg;
  const PgGrid    g   = m->grid;
  const unsigned  axes = cfg->measure_axes;
  double perc[3][3] = {{0}}, tau[3][3] = {{0}}, reached[3][3] = {{0}}, inlet[3][3] = {{0}}, r50mip[3][3] = {{0}}, beta[3][3] = {{0}}, mpred[3][3] = {{0}};
  double r50psd[3] = {0, 0, 0}, r50psd2[3] = {0, 0, 0}, t_comp = 0, t_open = 0, t_geo = 0;
  int    naxes = 0;
  const hsize_t dims33[2] = {3, 3};

  PetscFunctionBeginUser;
  for (int a = 0; a < 3; a++) naxes += (axes >> a) & 1;
  /* stage by stage over the phases: only one stage's arrays are alive at a time (peak memory is the
     largest stage's, not their sum) */
  if (m->comp) {
    PgComponents comp;
    PetscCall(PgComponentsCreate(g, &comp));
    for (int i = 0; i < PG_NPHASES; i++) {
      const uint8_t    value = (uint8_t)(i + 1);
      PgComponentsInfo info;
      double           t0 = MPI_Wtime();
      PetscCall(PgEventBegin(m->ev_components, "components"));
      PetscCall(PgComponentsCompute(comp, labels->v, value, (PgConnectivity)cfg->measure_connectivity));
      PetscCall(PgComponentsGetInfo(comp, &info));
      PetscCall(PgEventEnd(m->ev_components));
      for (int a = 0; a < 3; a++) perc[i][a] = info.percolating_fraction[a];
      t_comp += MPI_Wtime() - t0;
    }
    PetscCall(PgComponentsDestroy(&comp));
  }
  if (m->opening) {
    PgOpening opening;
    PetscCall(PgOpeningCreate(g, m->periodic, m->step_um, &opening));
    for (int i = 0; i < PG_NPHASES; i++) {
      const uint8_t value = (uint8_t)(i + 1);
      PgOpeningResult res;
      char            name[64];
      double          t0 = MPI_Wtime();
      PetscCall(PgEventBegin(m->ev_opening, "opening"));
      PetscCall(PgOpeningCompute(opening, labels->v, value, cfg->measure_psd2d, cfg->measure_mip ? axes : 0, cfg->measure_mip_inlet_high, &res));
      PetscCall(PgEventEnd(m->ev_opening));
      t_open += MPI_Wtime() - t0;
      r50psd[i]  = res.r50_psd3_um;
      r50psd2[i] = res.r50_psd2_um;
      for (int a = 0; a < 3; a++) r50mip[i][a] = res.r50_mip_um[a];
      /* curves: column 0 the radius (um), then the values */
      {
        int     nmax = PetscMax(res.n3, res.n2);
        double *c;
        for (int a = 0; a < 3; a++) nmax = PetscMax(nmax, res.nmip[a]);
        PetscCall(PetscMalloc1(5 * (size_t)PetscMax(nmax, 1), &c));
        if (cfg->measure_psd) {
          hsize_t d[2] = {(hsize_t)res.n3, 2};
          for (int k = 0; k < res.n3; k++) {
            c[2 * k]     = (k + 1) * res.step_um;
            c[2 * k + 1] = res.psd3[k];
          }
          snprintf(name, sizeof name, "psd3_%d", i + 1);
          PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, d, c, "um,-"));
        }
        if (res.psd2) {
          hsize_t d[2] = {(hsize_t)res.n2, 2};
          for (int k = 0; k < res.n2; k++) {
            c[2 * k]     = (k + 1) * res.step_um;
            c[2 * k + 1] = res.psd2[k];
          }
          snprintf(name, sizeof name, "psd2_%d", i + 1);
          PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, d, c, "um,-"));
          double *all = NULL;
          hsize_t ds[2] = {(hsize_t)g->n[2], (hsize_t)res.n2};
          if (g->rank == 0) PetscCall(PetscMalloc1((size_t)PetscMax(g->n[2] * res.n2, 1), &all));
          PetscCall(GatherSlices(m, opening, all));
          snprintf(name, sizeof name, "psd2_slices_%d", i + 1);
          PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, ds, all, "-"));
          PetscCall(PetscFree(all));
        }
        if (cfg->measure_mip) {
          hsize_t d[2] = {(hsize_t)nmax, 4};
          for (int k = 0; k < nmax; k++) {
            c[4 * k] = (k + 1) * res.step_um;
            for (int a = 0; a < 3; a++) c[4 * k + 1 + a] = k < res.nmip[a] ? res.mip[a][k] : (res.nmip[a] ? 0.0 : NAN);
          }
          snprintf(name, sizeof name, "mip_%d", i + 1);
          PetscCall(PgH5WriteSmall(dg, g->rank, name, 2, d, c, "um,-,-,-"));
        }
        PetscCall(PetscFree(c));
      }
    }
    PetscCall(PgOpeningDestroy(&opening));
  }
  if (m->geodesic) {
    PgGeodesic geodesic;
    PetscCall(PgGeodesicCreate(g, &geodesic));
    for (int i = 0; i < PG_NPHASES; i++) {
      const uint8_t value = (uint8_t)(i + 1);
      double t0 = MPI_Wtime();
      PetscCall(PgEventBegin(m->ev_geodesic, "geodesic"));
      for (int a = 0; a < 3; a++) {
        PgGeodesicResult gr;
        if (!(axes & (1u << a))) continue;
        PetscCall(PgGeodesicCompute(geodesic, labels->v, value, a, &gr));
        tau[i][a]     = gr.tau;
        reached[i][a] = (double)gr.reached;
        inlet[i][a]   = (double)gr.inlet;
      }
      PetscCall(PgEventEnd(m->ev_geodesic));
      t_geo += MPI_Wtime() - t0;
    }
    PetscCall(PgGeodesicDestroy(&geodesic));
  }
  for (int i = 0; i < PG_NPHASES; i++) {
    for (int a = 0; a < 3; a++) {
      beta[i][a]  = r50psd[i] > 0 ? (r50mip[i][a] / r50psd[i]) * (r50mip[i][a] / r50psd[i]) : 0.0;
      mpred[i][a] = tau[i][a] > 0 ? pow(eps[i], cfg->mhat_exponents[0]) * pow(beta[i][a], cfg->mhat_exponents[1]) / pow(tau[i][a], cfg->mhat_exponents[2]) : 0.0;
    }
  }
  /* the conduction problems: M measured, and M / M_pred (eq. 14 checked on every run) */
  double Mm[3][3] = {{0}}, Min[3][3] = {{0}}, fdiff[3][3] = {{0}}, its[3][3] = {{0}}, resid[3][3] = {{0}}, reason[3][3] = {{0}}, unk[3][3] = {{0}}, ratio[3][3] = {{0}};
  double t_cond = 0;
  const unsigned caxes = cfg->conductivity_axes;
  if (m->conductivity) {
    PgConductivity cond;
    PetscCall(PgConductivityCreate(g, cfg->conductivity_periodic_sides, cfg->conductivity_rtol, &cond));
    for (int i = 0; i < PG_NPHASES; i++)
      for (int a = 0; a < 3; a++) {
        PgConductivityResult cr;
        if (!(caxes & (1u << a))) continue;
        PetscCall(PgEventBegin(m->ev_conductivity, "conductivity"));
        PetscCall(PgConductivityCompute(cond, labels->v, (uint8_t)(i + 1), a, &cr));
        PetscCall(PgEventEnd(m->ev_conductivity));
        t_cond += cr.seconds;
        Mm[i][a]     = cr.converged ? cr.M : NAN;
        Min[i][a]    = cr.converged ? cr.M_inlet : NAN;
        fdiff[i][a]  = cr.flux_rel_diff;
        its[i][a]    = (double)cr.iterations;
        resid[i][a]  = cr.residual;
        reason[i][a] = cr.reason;
        unk[i][a]    = (double)cr.unknowns;
        ratio[i][a]  = mpred[i][a] > 0 ? Mm[i][a] / mpred[i][a] : 0.0;
        if (!cr.converged)
          PetscCall(PetscPrintf(g->comm, "plurigauss: warning: the conduction problem of phase %d along %c did not converge (PETSc reason %d after %d iterations, residual %g): M is NaN in the output\n", i + 1, "xyz"[a], cr.reason, (int)cr.iterations,
                                cr.residual));
      }
    PetscCall(PgConductivityDestroy(&cond));
  }
  /* CSV: means over the measured axes (tau: over those where it is defined) */
  for (int i = 0; i < PG_NPHASES; i++) {
    char   name[32];
    double s[5] = {0, 0, 0, 0, 0};
    int    ntau = 0;
    for (int a = 0; a < 3; a++) {
      if (!(axes & (1u << a))) continue;
      s[0] += perc[i][a];
      s[1] += beta[i][a];
      s[2] += r50mip[i][a];
      s[3] += mpred[i][a];
      if (tau[i][a] > 0) {
        s[4] += tau[i][a];
        ntau++;
      }
    }
    if (m->comp) {
      snprintf(name, sizeof name, "perc_%d", i + 1);
      PetscCall(PgRowSet(row, name, s[0] / naxes));
    }
    if (m->opening && cfg->measure_psd) {
      snprintf(name, sizeof name, "r50_cpsd_%d", i + 1);
      PetscCall(PgRowSet(row, name, r50psd[i]));
    }
    if (m->opening && cfg->measure_psd2d) {
      snprintf(name, sizeof name, "r50_cpsd2d_%d", i + 1);
      PetscCall(PgRowSet(row, name, r50psd2[i]));
    }
    if (m->opening && cfg->measure_mip) {
      snprintf(name, sizeof name, "r50_mip_%d", i + 1);
      PetscCall(PgRowSet(row, name, s[2] / naxes));
    }
    if (m->geodesic) {
      snprintf(name, sizeof name, "tau_%d", i + 1);
      PetscCall(PgRowSet(row, name, ntau ? s[4] / ntau : 0.0));
    }
    if (m->opening && cfg->measure_psd && cfg->measure_mip) {
      snprintf(name, sizeof name, "beta_%d", i + 1);
      PetscCall(PgRowSet(row, name, s[1] / naxes));
      if (m->geodesic) {
        snprintf(name, sizeof name, "M_pred_%d", i + 1);
        PetscCall(PgRowSet(row, name, s[3] / naxes));
      }
    }
  }
  if (m->conductivity) {
    int nc = 0;
    for (int a = 0; a < 3; a++) nc += (caxes >> a) & 1;
    for (int i = 0; i < PG_NPHASES; i++) {
      char   name[32];
      double sm = 0, sr = 0;
      int    nr = 0;
      for (int a = 0; a < 3; a++) {
        if (!(caxes & (1u << a))) continue;
        sm += Mm[i][a];
        if (mpred[i][a] > 0) {
          sr += ratio[i][a];
          nr++;
        }
      }
      snprintf(name, sizeof name, "M_%d", i + 1);
      PetscCall(PgRowSet(row, name, sm / nc));
      snprintf(name, sizeof name, "M_over_M_pred_%d", i + 1);
      PetscCall(PgRowSet(row, name, nr ? sr / nr : 0.0));
    }
    PetscCall(PgRowSet(row, "t_conductivity_s", t_cond));
    PetscCall(PgH5WriteSmall(dg, g->rank, "M", 2, dims33, &Mm[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "M_inlet", 2, dims33, &Min[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "M_over_M_pred", 2, dims33, &ratio[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "cond_flux_rel_diff", 2, dims33, &fdiff[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "cond_iterations", 2, dims33, &its[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "cond_residual", 2, dims33, &resid[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "cond_reason", 2, dims33, &reason[0][0], "KSPConvergedReason"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "cond_unknowns", 2, dims33, &unk[0][0], "voxels"));
  }
  if (m->comp) PetscCall(PgRowSet(row, "t_components_s", t_comp));
  if (m->opening) PetscCall(PgRowSet(row, "t_opening_s", t_open));
  if (m->geodesic) PetscCall(PgRowSet(row, "t_geodesic_s", t_geo));
  /* HDF5: per phase (rows) and axis x, y, z (columns); axes not measured hold 0 */
  if (m->comp) {
    double flag[3][3];
    for (int i = 0; i < 3; i++)
      for (int a = 0; a < 3; a++) flag[i][a] = perc[i][a] > 0;
    PetscCall(PgH5WriteSmall(dg, g->rank, "percolating_fraction", 2, dims33, &perc[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "percolates", 2, dims33, &flag[0][0], "0/1"));
  }
  if (m->opening && cfg->measure_mip) PetscCall(PgH5WriteSmall(dg, g->rank, "r50_mip_um", 2, dims33, &r50mip[0][0], "um"));
  if (m->opening && cfg->measure_psd && cfg->measure_mip) PetscCall(PgH5WriteSmall(dg, g->rank, "beta", 2, dims33, &beta[0][0], "-"));
  if (m->geodesic) {
    PetscCall(PgH5WriteSmall(dg, g->rank, "tau", 2, dims33, &tau[0][0], "-"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "tau_inlet_voxels", 2, dims33, &inlet[0][0], "voxels"));
    PetscCall(PgH5WriteSmall(dg, g->rank, "tau_reached_voxels", 2, dims33, &reached[0][0], "voxels"));
    if (m->opening && cfg->measure_psd && cfg->measure_mip) PetscCall(PgH5WriteSmall(dg, g->rank, "M_pred", 2, dims33, &mpred[0][0], "-"));
  }
  if (m->opening) {
    hsize_t one = 3;
    PetscCall(PgH5WriteSmall(dg, g->rank, "r50_cpsd_um", 1, &one, r50psd, "um"));
    if (cfg->measure_psd2d) PetscCall(PgH5WriteSmall(dg, g->rank, "r50_cpsd2d_um", 1, &one, r50psd2, "um"));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgMeasureRun(PgMeasure m, PgLabels labels, PgOutput out, int k, PgRow *row)
{
  double         eps[PG_NPHASES];
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PgEventBegin(m->ev_fractions, "fractions"));
  PetscCall(PgLabelsVolumeFractions(labels, eps));
  PetscCall(PgEventEnd(m->ev_fractions));
  PetscCall(RowSet3(row, "eps_%d", eps));
  PetscCall(PgRowSet(row, "eps2_solid", eps[1] * m->cfg->nanopore_ratio));
  if (m->cfg->measure_intrinsic) {
    PgIntrinsic in;
    PetscCall(PgEventBegin(m->ev_intrinsic, "intrinsic"));
    PetscCall(PgIntrinsicCompute(labels, m->periodic, &in));
    PetscCall(PgEventEnd(m->ev_intrinsic));
    PetscCall(RowSet3(row, "S_%d", in.S));
    PetscCall(PgRowSet(row, "S_12", in.S_pair[0]));
    PetscCall(PgRowSet(row, "S_13", in.S_pair[1]));
    PetscCall(PgRowSet(row, "S_23", in.S_pair[2]));
    PetscCall(RowSet3(row, "chi_%d", in.chi6));
    PetscCall(RowSet3(row, "chi26_%d", in.chi26));
  }
  if (m->cov) {
    hid_t  dg;
    char   csv[PETSC_MAX_PATH_LEN + 32];
    const char *file = m->cfg->output_file, *dot = strrchr(file, '.'), *slash = strrchr(file, '/');
    int    stem = (dot && (!slash || dot > slash)) ? (int)(dot - file) : (int)strlen(file);
    double t0 = MPI_Wtime();
    PetscCall(PgEventBegin(m->ev_covariance, "covariance"));
    PetscCall(PgCovarianceCompute(m->cov, labels));
    PetscCall(PgEventEnd(m->ev_covariance));
    PetscCall(PgRowSet(row, "t_covariance_s", MPI_Wtime() - t0));
    PetscCall(PgRowSet(row, "t_cov_fft_s", PgCovarianceFFTSeconds(m->cov)));
    snprintf(csv, sizeof csv, "%.*s_cov_%04d.csv", stem, file, k);
    PetscCall(PgOutputRunGroup(out, k, &dg));
    ierr = PgCovarianceWrite(m->cov, dg, csv);
    PgH5Close(&dg);
    PetscCall(ierr);
  }
  if (m->comp || m->opening || m->geodesic || m->conductivity) {
    hid_t dg;
    PetscCall(PgOutputRunGroup(out, k, &dg));
    ierr = Transport(m, labels, eps, dg, row);
    PgH5Close(&dg);
    PetscCall(ierr);
  }
  PetscFunctionReturn(0);
}

PgCovariance PgMeasureGetCovariance(PgMeasure m) { return m->cov; }
