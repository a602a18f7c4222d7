/// \file
/// The measure stage sequences the descriptor modules for one label volume: volume fractions
/// (voxel counts), intrinsic volumes (intrinsic.c), two-point coverage functions (covariance.c).
/// Scalars become CSV columns of the run; curves go to the run's HDF5 descriptors group.
#include <plurigauss/covariance.h>
#include <plurigauss/intrinsic.h>

#include <string.h>
#include <plurigauss/measure.h>

struct PgMeasure_private {
  PgGrid          grid;
  const PgConfig *cfg;
  PetscBool       periodic;
  PgCovariance    cov;
  PetscLogEvent   ev_fractions, ev_intrinsic, ev_covariance;
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
  if (cfg->measure_covariance) PetscCall(PgCovarianceCreate(grid, periodic, cfg->measure_range_um, cfg->planner, &m->cov));
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

PetscErrorCode PgMeasureRun(PgMeasure m, PgLabels labels, PgOutput out, int k, PgRow *row)
{
  double eps[PG_NPHASES];

  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(m->ev_fractions, 0, 0, 0, 0));
  PetscCall(PgLabelsVolumeFractions(labels, eps));
  PetscCall(PetscLogEventEnd(m->ev_fractions, 0, 0, 0, 0));
  PetscCall(RowSet3(row, "eps_%d", eps));
  PetscCall(PgRowSet(row, "eps2_solid", eps[1] * m->cfg->nanopore_ratio));
  if (m->cfg->measure_intrinsic) {
    PgIntrinsic in;
    PetscCall(PetscLogEventBegin(m->ev_intrinsic, 0, 0, 0, 0));
    PetscCall(PgIntrinsicCompute(labels, m->periodic, &in));
    PetscCall(PetscLogEventEnd(m->ev_intrinsic, 0, 0, 0, 0));
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
    PetscCall(PetscLogEventBegin(m->ev_covariance, 0, 0, 0, 0));
    PetscCall(PgCovarianceCompute(m->cov, labels));
    PetscCall(PetscLogEventEnd(m->ev_covariance, 0, 0, 0, 0));
    PetscCall(PgRowSet(row, "t_covariance_s", MPI_Wtime() - t0));
    PetscCall(PgRowSet(row, "t_cov_fft_s", PgCovarianceFFTSeconds(m->cov)));
    snprintf(csv, sizeof csv, "%.*s_cov_%04d.csv", stem, file, k);
    PetscCall(PgOutputRunGroup(out, k, &dg));
    PetscCall(PgCovarianceWrite(m->cov, dg, csv));
    PetscCall(H5Gclose(dg) < 0 ? PETSC_ERR_FILE_WRITE : 0);
  }
  PetscFunctionReturn(0);
}

PgCovariance PgMeasureGetCovariance(PgMeasure m) { return m->cov; }
