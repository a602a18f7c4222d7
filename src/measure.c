/// \file
/// The measure stage sequences the descriptor modules for one label volume: volume fractions
/// (voxel counts), intrinsic volumes (intrinsic.c), two-point coverage functions (covariance.c).
/// Scalars become CSV columns of the run; curves go to the run's HDF5 descriptors group.
#include <plurigauss/intrinsic.h>
#include <plurigauss/measure.h>

struct PgMeasure_private {
  PgGrid          grid;
  const PgConfig *cfg;
  PetscBool       periodic;
  PetscLogEvent   ev_fractions, ev_intrinsic;
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
  *measure = m;
  PetscFunctionReturn(0);
}

PetscErrorCode PgMeasureDestroy(PgMeasure *measure)
{
  PetscFunctionBeginUser;
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
  (void)out;
  (void)k;
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
  PetscFunctionReturn(0);
}
