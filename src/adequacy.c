/// \file
/// Model adequacy: the descriptors of a 3D three-phase image of the material against the
/// realizations of the calibrated model (calibration.validate_with; see adequacy.h and
/// docs/adequacy.md).
///
/// The image is read at start-up on its own slab decomposition (image.c: every problem is an
/// input error before any output is written), measured by the measure stage exactly as the model
/// runs are (same keys; minus sampling instead of the torus) into its own output file, and its
/// summary row kept. After the sweep, the rows of the realizations come from the output (also
/// those of a resumed file), and the table is computed on every rank from replicated data: no
/// communication beyond the measure stage's own. Cost: one measurement of the image.
///
/// Verdict. Under the hypothesis that the image is one more realization of the model on the same
/// grid, (d - m) / (s sqrt(1 + 1/R)) follows Student's t with R - 1 degrees of freedom for
/// normally distributed descriptors (m, s: mean and SD of R realizations; d: the data). The
/// spread criterion accepts |d - m| <= k_R s sqrt(1 + 1/R), k_R the two-sided 99.73 % quantile
/// (the "3 sigma" level: 19.2 at R = 3, 6.6 at R = 5, 4.1 at R = 10, 3 as R grows). A difference
/// beyond it is significant but may be too small to matter, so a relative tolerance per
/// descriptor also accepts (volume fractions 5 %, surface and interface areas 10 %, tortuosity
/// 5 %, r50 radii 20 %, constrictivity and M-factors 25 %): an error within them moves the
/// M-factor of eq. 14 by at most about 25 % (5 % in tau is 24 % in M through tau^4.39).
#include <plurigauss/adequacy.h>
#include <plurigauss/files.h>
#include <plurigauss/image.h>
#include <plurigauss/labels.h>
#include <plurigauss/measure.h>
#include <plurigauss/tiff.h>

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <string.h>

struct PgAdequacy_private {
  MPI_Comm  comm;
  int       rank;
  char      spec[PETSC_MAX_PATH_LEN];
  PetscInt  shape[3];
  double    voxel_um[3];
  PgGrid    grid;
  PgLabels  labels; /* until measured */
  PgRow     data;   /* the image's summary row */
  PetscBool measured;
};

/* The descriptors of the table: CSV column, unit, relative tolerance. */
typedef struct {
  const char *col, *unit;
  double      tol;
} Descriptor;

static const Descriptor table[] = {
  {"eps_1", "-", 0.05},       {"eps_2", "-", 0.05},         {"eps_3", "-", 0.05},         {"S_1", "1/um", 0.10},
  {"S_2", "1/um", 0.10},      {"S_3", "1/um", 0.10},        {"S_12", "1/um", 0.10},       {"S_13", "1/um", 0.10},
  {"S_23", "1/um", 0.10},     {"tau_1", "-", 0.05},         {"tau_2", "-", 0.05},         {"tau_3", "-", 0.05},
  {"beta_1", "-", 0.25},      {"beta_2", "-", 0.25},        {"beta_3", "-", 0.25},        {"r50_cpsd_1", "um", 0.20},
  {"r50_cpsd_2", "um", 0.20}, {"r50_cpsd_3", "um", 0.20},   {"r50_mip_1", "um", 0.20},    {"r50_mip_2", "um", 0.20},
  {"r50_mip_3", "um", 0.20},  {"r50_cpsd2d_1", "um", 0.20}, {"r50_cpsd2d_2", "um", 0.20}, {"r50_cpsd2d_3", "um", 0.20},
  {"M_pred_1", "-", 0.25},    {"M_pred_2", "-", 0.25},      {"M_pred_3", "-", 0.25},      {"M_1", "-", 0.25},
  {"M_2", "-", 0.25},         {"M_3", "-", 0.25},
};
#define NDESC ((int)(sizeof(table) / sizeof(table[0])))

/* tau = 0 and M_pred = 0 mean "no percolating path" (docs/methods.md), r50_mip = 0 "less than half intruded"
   (a value, kept); a tortuosity of 0 is not a value */
static PetscBool Defined(const char *col, double v)
{
  return isfinite(v) && !(!strncmp(col, "tau_", 4) && v == 0) ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode PgAdequacyCreate(MPI_Comm comm, const PgConfig *cfg, PgAdequacy *adqp)
{
  PgAdequacy   a;
  PgInputSpec  s;
  PgInputProbe r;
  const double from_file[3] = {0, 0, 0};

  PetscFunctionBeginUser;
  PetscCheck(
    cfg->cal.simulate, comm, PETSC_ERR_USER_INPUT,
    "calibration.validate_with needs calibration.simulate = true: the report compares the image with realizations of the calibrated model");
  PetscCheck(cfg->sweep.realizations >= 2, comm, PETSC_ERR_USER_INPUT,
             "calibration.validate_with needs sweep.realizations >= 2 (the spread over the realizations), got %d",
             (int)cfg->sweep.realizations);
  PetscCheck(!cfg->model.from_sweep && !cfg->model.have_lambda_z, comm, PETSC_ERR_USER_INPUT,
             "calibration.validate_with compares the calibrated point: drop sweep.carbon_fraction and model.lambda_z");
  PetscCall(PetscNew(&a));
  a->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &a->rank));
  snprintf(a->spec, sizeof a->spec, "%s", cfg->cal.validate_with);
  PetscCall(PetscMemzero(&s, sizeof s));
  s.key       = "calibration.validate_with";
  s.shape_key = "-";
  s.voxel_key = "domain.voxel_size_um";
  s.type_key  = "-";
  s.voxel_um  = from_file;
  s.dims      = 3;
  s.values    = PG_VALUES_LABELS;
  s.map       = &cfg->input.labels;
  s.map_key   = "input.labels";
  PetscCheck(
    PgInputIsHDF5(a->spec) || PgTiffIsSpec(a->spec), comm, PETSC_ERR_USER_INPUT,
    "calibration.validate_with = %s: expected FILE.h5:/path/to/dataset or a TIFF stack (FILE.tif, DIR/, DIR/slice_%%04d.tif)",
    a->spec);
  PetscCall(PgInputCheck(comm, &s, a->spec, &r));
  for (int d = 0; d < 3; d++) {
    a->shape[d]    = (PetscInt)r.n[d];
    a->voxel_um[d] = r.voxel[d];
  }
  PetscCall(PgGridCreate(comm, a->shape, a->voxel_um, (int)cfg->fft.threads, &a->grid));
  PetscCall(PgLabelsCreate(a->grid, &a->labels));
  PetscCall(PgInputReadSlab(a->grid, &s, a->spec, &r, a->labels->v));
  *adqp = a;
  PetscFunctionReturn(0);
}

PetscErrorCode PgAdequacyDomain(PgAdequacy a, const PgDomain *deck, PgDomain *dom)
{
  PetscFunctionBeginUser;
  *dom = *deck;
  if (!deck->shape_given)
    for (int d = 0; d < 3; d++) dom->shape[d] = a->shape[d];
  if (!deck->voxel_given)
    for (int d = 0; d < 3; d++) dom->voxel_um[d] = a->voxel_um[d];
  PetscCall(PetscPrintf(
    a->comm,
    "adequacy: model runs on %d x %d x %d voxels of %g x %g x %g um (%s), the image %s is %d x %d x %d of %g x %g x %g um\n",
    (int)dom->shape[0], (int)dom->shape[1], (int)dom->shape[2], dom->voxel_um[0], dom->voxel_um[1], dom->voxel_um[2],
    deck->shape_given || deck->voxel_given ? "from the deck" : "the image's grid", a->spec, (int)a->shape[0],
    (int)a->shape[1], (int)a->shape[2], a->voxel_um[0], a->voxel_um[1], a->voxel_um[2]));
  PetscFunctionReturn(0);
}

PetscErrorCode PgAdequacyMeasureData(PgAdequacy a, const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp)
{
  PgConfig      dc = *cfg; /* a copy of the deck, writing beside the output and naming the image */
  PgModelParams dm = *mp;  /* the model of the runs it is compared with, for the file's signature */
  PgOutput      out;
  PgMeasure     m;

  PetscFunctionBeginUser;
  dm.calibrated_from[0] = 0;
  PgFileSideCar(cfg->output.file, "_adequacy_data.h5", dc.output.file, sizeof dc.output.file);
  snprintf(dc.input.image, sizeof dc.input.image, "%s", a->spec);
  dc.cal.volume[0]      = 0;
  dc.output.tiff_labels = PETSC_FALSE;
  PetscCall(PgOutputOpen(a->grid, &dc, dom, &dm, 1, &out));
  if (!PgOutputHasRun(out, 0)) {
    PgRow  row = {0};
    double t0  = MPI_Wtime();
    PetscCall(PgMeasureCreate(a->grid, &dc, cfg->measure.periodic == 1 ? PETSC_TRUE : PETSC_FALSE, &m));
    PetscCall(PgMeasureRun(m, a->labels, out, 0, &row));
    PetscCall(PgMeasureDestroy(&m));
    PetscCall(PgRowSet(&row, "t_measure_s", MPI_Wtime() - t0));
    PetscCall(PgOutputWriteRun(out, 0, &row, NULL, NULL));
    PetscCall(
      PetscPrintf(a->comm, "adequacy: measured %s in %.2f s into %s\n", a->spec, MPI_Wtime() - t0, dc.output.file));
  }
  a->data     = *PgOutputGetRow(out, 0);
  a->measured = PETSC_TRUE;
  PetscCall(PgOutputClose(&out));
  PetscCall(PgLabelsDestroy(&a->labels));
  PetscFunctionReturn(0);
}

typedef struct {
  double data, mean, sd, z, rel, tol, k, n;
  int    verdict; /* 1 reproduced, 0 not, -1 undefined */
  int    by;      /* 1 spread, 2 tolerance, 3 both */
} Line;

/* The lines of the table: line j is descriptor table[idx[j]]. */
typedef struct {
  Line line[NDESC];
  int  idx[NDESC], n;
} Table;

static const char *VerdictName(int v) { return v > 0 ? "reproduced" : v == 0 ? "not reproduced" : "undefined"; }

/* The line of descriptor D from the data value d and the runs' values: mean, SD, z, verdict.
 * *present = 0 when no run has the column. */
static void ComputeLine(const Descriptor *D, double d, PgOutput out, int nruns, Line *L, int *present)
{
  double sum = 0, sum2 = 0, v;
  int    n = 0;

  *present = 0;
  for (int k = 0; k < nruns; k++) {
    const PgRow *row = PgOutputGetRow(out, k);
    if (!row || !PgRowGet(row, D->col, &v)) continue;
    *present = 1;
    if (!Defined(D->col, v)) continue;
    sum += v;
    sum2 += v * v;
    n++;
  }
  PetscMemzero(L, sizeof *L);
  L->data = d;
  L->n    = n;
  L->tol  = D->tol;
  L->mean = n ? sum / n : NAN;
  L->sd   = n > 1 ? sqrt(PetscMax(sum2 - n * L->mean * L->mean, 0) / (n - 1)) : NAN;
  L->k    = n > 1 ? gsl_cdf_tdist_Pinv(1 - 0.0027 / 2, n - 1) : NAN;
  L->rel  = L->mean != 0 ? (d - L->mean) / fabs(L->mean) : (d == 0 ? 0 : INFINITY);
  L->z    = L->sd > 0 ? (d - L->mean) / (L->sd * sqrt(1 + 1.0 / n)) : (d == L->mean ? 0 : INFINITY);
  if (!Defined(D->col, d) || n < 2) L->verdict = -1;
  else {
    int spread = fabs(L->z) <= L->k, tol = fabs(d - L->mean) <= L->tol * fabs(L->mean);
    L->by      = spread + 2 * tol;
    L->verdict = spread || tol;
  }
}

/* The table: every descriptor that the image and the runs both have. */
static void ComputeTable(PgAdequacy a, PgOutput out, int nruns, Table *t)
{
  t->n = 0;
  for (int i = 0; i < NDESC; i++) {
    double d;
    int    present;
    if (!PgRowGet(&a->data, table[i].col, &d)) continue; /* not measured (switched off) */
    ComputeLine(&table[i], d, out, nruns, &t->line[t->n], &present);
    if (present) t->idx[t->n++] = i;
  }
}

static PetscErrorCode PrintTable(PgAdequacy a, const Table *t, int nruns)
{
  int nrep = 0, nnot = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(
    a->comm,
    "\nadequacy of the calibrated model against %s (%d realizations; reproduced = within the 99.73%% prediction interval of the realizations, or within the tolerance):\n",
    a->spec, nruns));
  PetscCall(PetscPrintf(a->comm, "  %-14s %12s %12s %11s %8s %8s %6s  %s\n", "descriptor", "data", "model mean",
                        "model SD", "z", "rel", "tol", "verdict"));
  for (int j = 0; j < t->n; j++) {
    const Line *L = &t->line[j];
    nrep += L->verdict == 1;
    nnot += L->verdict == 0;
    PetscCall(PetscPrintf(a->comm, "  %-14s %12.5g %12.5g %11.3g %8.2f %+7.1f%% %5.0f%%  %s%s\n", table[t->idx[j]].col,
                          L->data, L->mean, L->sd, L->z, 100 * L->rel, 100 * L->tol, VerdictName(L->verdict),
                          L->verdict == 1 ? (L->by == 1   ? " (spread)"
                                             : L->by == 2 ? " (tolerance)"
                                                          : "")
                                          : ""));
  }
  PetscCall(
    PetscPrintf(a->comm, "adequacy: %d reproduced, %d not reproduced, %d undefined\n", nrep, nnot, t->n - nrep - nnot));
  PetscFunctionReturn(0);
}

/* <stem>_adequacy.csv */
static void TableText(FILE *f, const void *ctx)
{
  const Table *t = ctx;

  fprintf(f, "descriptor,unit,data,model_mean,model_sd,realizations,z,k_spread,rel_diff,tolerance,verdict,criterion\n");
  for (int j = 0; j < t->n; j++) {
    const Line *L = &t->line[j];
    fprintf(f, "%s,%s,%.10g,%.10g,%.10g,%d,%.6g,%.6g,%.6g,%.3g,%s,%s\n", table[t->idx[j]].col, table[t->idx[j]].unit,
            L->data, L->mean, L->sd, (int)L->n, L->z, L->k, L->rel, L->tol, VerdictName(L->verdict),
            L->verdict != 1 ? "-"
            : L->by == 3    ? "spread+tolerance"
            : L->by == 1    ? "spread"
                            : "tolerance");
  }
}

/* /adequacy in the output: table [descriptor][data, mean, sd, n, z, k, rel, tol, verdict] and its
 * names as attributes of group g. */
static PetscErrorCode WriteGroup(PgAdequacy a, const Table *t, hid_t g)
{
  double    *v;
  hsize_t    dims[2]           = {(hsize_t)t->n, 9};
  char       names[NDESC * 16] = "";
  size_t     o                 = 0;
  PgH5Status st                = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1((size_t)PetscMax(t->n, 1) * 9, &v));
  for (int j = 0; j < t->n; j++) {
    const Line *L    = &t->line[j];
    double      r[9] = {L->data, L->mean, L->sd, L->n, L->z, L->k, L->rel, L->tol, (double)L->verdict};
    PetscCall(PetscArraycpy(v + 9 * j, r, 9));
    o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", j ? "," : "", table[t->idx[j]].col);
  }
  PetscCall(PgH5WriteSmall(g, a->rank, "table", 2, dims, v, "-"));
  PetscCall(PetscFree(v));
  PgH5Try(&st, PgH5AttrString(g, "rows", names));
  PgH5Try(
    &st,
    PgH5AttrString(
      g, "columns",
      "data,model_mean,model_sd,realizations,z,k_spread,rel_diff,tolerance,verdict(1 reproduced, 0 not, -1 undefined)"));
  PgH5Try(&st, PgH5AttrString(g, "image", a->spec));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgAdequacyReport(PgAdequacy a, PgOutput out, int nruns, const PgConfig *cfg)
{
  Table          t;
  char           csv[PETSC_MAX_PATH_LEN + 32];
  hid_t          g = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCheck(a->measured, a->comm, PETSC_ERR_ORDER, "adequacy: the image was not measured");
  ComputeTable(a, out, nruns, &t);
  PetscCall(PrintTable(a, &t, nruns));
  PgFileSideCar(cfg->output.file, "_adequacy.csv", csv, sizeof csv);
  PetscCall(PgFileWriteText(a->comm, csv, TableText, &t));
  PetscCall(PgH5GroupCreate(PgOutputFile(out), "adequacy", &g));
  ierr = WriteGroup(a, &t, g);
  PgH5Close(&g);
  PetscCall(ierr);
  PetscCall(PetscPrintf(a->comm, "adequacy: table in %s\n", csv));
  PetscFunctionReturn(0);
}

PetscErrorCode PgAdequacyDestroy(PgAdequacy *adq)
{
  PetscFunctionBeginUser;
  if (!*adq) PetscFunctionReturn(0);
  PetscCall(PgLabelsDestroy(&(*adq)->labels));
  PetscCall(PgGridDestroy(&(*adq)->grid));
  PetscCall(PetscFree(*adq));
  PetscFunctionReturn(0);
}
