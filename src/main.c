/// \file
/// plurigauss: deck -> grid -> fields -> labels -> output, for every run of the sweep.
///
/// main only sequences the stages; each lives in its own module. With segment.volume and/or
/// segment.images the grey images are first segmented into a labels file (segment.c), which
/// then serves as the calibration input (or input.image); without either the run ends there.
/// With calibration.volume and
/// calibration.images the model parameters are first estimated from the images (calibrate.c) and
/// replace the deck's model.* values; the realizations of the calibrated point are then compared
/// with the data (the validation table beside the output). With input.image the program
/// measures a segmented image instead of simulating (one run). Runs are numbered
/// k = point * realizations + realization. A run already complete in the output is skipped, so
/// rerunning an interrupted job resumes it. SIGTERM/SIGUSR1/SIGINT (Slurm's time-limit signal)
/// finish the run being written, close the file and exit with status 3 ("interrupted, resumable").
#include <plurigauss/adequacy.h>
#include <plurigauss/calibrate.h>
#include <plurigauss/segment.h>
#include <plurigauss/config.h>
#include <plurigauss/crossing.h>
#include <plurigauss/error.h>
#include <plurigauss/field.h>
#include <plurigauss/grid.h>
#include <plurigauss/image.h>
#include <plurigauss/files.h>
#include <plurigauss/output.h>
#include <plurigauss/labels.h>
#include <plurigauss/measure.h>
#include <plurigauss/memory.h>
#include <plurigauss/model.h>
#include <plurigauss/stage.h>
#include <plurigauss/tiff.h>

#include <math.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>

#define PG_EXIT_INTERRUPTED 3

static volatile sig_atomic_t stop_requested = 0;
static void                  OnStopSignal(int sig) { stop_requested = sig; }

typedef struct {
  PetscLogStage setup, segment, calibrate, generate, threshold, measure, io;
} Stages;

static PetscErrorCode RegisterStages(Stages *s)
{
  PetscFunctionBeginUser;
  PetscCall(PetscLogStageRegister("setup", &s->setup));
  PetscCall(PetscLogStageRegister("segment", &s->segment));
  PetscCall(PetscLogStageRegister("calibrate", &s->calibrate));
  PetscCall(PetscLogStageRegister("generate", &s->generate));
  PetscCall(PetscLogStageRegister("threshold", &s->threshold));
  PetscCall(PetscLogStageRegister("measure", &s->measure));
  PetscCall(PetscLogStageRegister("io", &s->io));
  PetscFunctionReturn(0);
}

/* The progress line's summary of a run: volume fractions and, when measured, interface areas. */
static PetscErrorCode RowSummary(const PgRow *row, char *buf, size_t len)
{
  const char *cols[] = {"eps_1", "eps_2", "eps_3", "S_12", "S_13", "S_23"};
  size_t      o      = 0;

  PetscFunctionBeginUser;
  buf[0] = 0;
  for (int i = 0; i < 6; i++)
    for (int c = 0; c < row->n; c++)
      if (!strcmp(row->name[c], cols[i]) && o < len)
        o += (size_t)snprintf(buf + o, len - o, "%s%s %.4g", o ? "  " : "", cols[i], row->value[c]);
  PetscFunctionReturn(0);
}

/* Whether any rank has been asked to stop (collective). */
static PetscErrorCode StopRequested(MPI_Comm comm, PetscBool *stop)
{
  int mine = stop_requested != 0, any;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm));
  *stop = any ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* output.tiff_labels: run k's labels as <stem>_phase_<k>.tif beside the HDF5 (before the run is
 * marked complete in the HDF5, so a run that is redone on resume rewrites it) */
static PetscErrorCode WriteTiffLabels(const PgConfig *cfg, PgLabels labels, int k)
{
  char ext[32], path[PETSC_MAX_PATH_LEN];

  PetscFunctionBeginUser;
  if (!cfg->output.tiff_labels) PetscFunctionReturn(0);
  snprintf(ext, sizeof ext, "_phase_%04d.tif", k);
  PgFileSideCar(cfg->output.file, ext, path, sizeof path);
  PetscCall(PgTiffWriteLabels(labels->grid, labels->v, path));
  PetscFunctionReturn(0);
}

/* The model's exact expected surface and interface areas (PgModelInterfaceAreas) and, when the
 * crossing estimator is on, the field-based interface areas of this realization (crossing.c),
 * as columns of the run and tables of its descriptors group. */
static PetscErrorCode InterfaceAreas(const PgModelParams *mp, PgGrid grid, PgCrossing crossing, PgOutput out, int k,
                                     double lambda_x, double lambda_z, PgRow *row)
{
  const char *pair[3] = {"12", "13", "23"};
  double      S[3], S_pair[3];
  char        name[32];

  PetscFunctionBeginUser;
  PetscCall(PgModelInterfaceAreas(lambda_x, lambda_z, mp->m, mp->alpha_x_per_um, mp->alpha_y_per_um, S, S_pair));
  if (crossing) {
    PgCrossingResult res;
    hid_t            dg = H5I_INVALID_HID;
    PetscErrorCode   ierr;
    PetscCall(PgCrossingCompute(crossing, lambda_x, lambda_z, mp->m, &res));
    for (int i = 0; i < 3; i++) {
      snprintf(name, sizeof name, "S_%s_field", pair[i]);
      PetscCall(PgRowSet(row, name, res.S_pair[i]));
    }
    PetscCall(PgRowSet(row, "t_interface_s", res.seconds));
    PetscCall(PgOutputRunGroup(out, k, &dg));
    ierr = PgCrossingWrite(grid, &res, dg);
    PgH5Close(&dg);
    PetscCall(ierr);
  }
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "S_%d_exact", i + 1);
    PetscCall(PgRowSet(row, name, S[i]));
  }
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "S_%s_exact", pair[i]);
    PetscCall(PgRowSet(row, name, S_pair[i]));
  }
  PetscFunctionReturn(0);
}

static PetscBool MeasurePeriodic(const PgConfig *cfg, PetscBool model)
{
  return cfg->measure.periodic == 0 ? model : (cfg->measure.periodic == 1 ? PETSC_TRUE : PETSC_FALSE);
}

/* A segmented image instead of a model: one run, measured. */
static PetscErrorCode MeasureImage(MPI_Comm comm, const PgConfig *cfg, const Stages *st, PgOutputLock lock,
                                   int *exit_status)
{
  PetscInt  shape[3];
  double    voxel[3];
  PgGrid    grid    = NULL;
  PgLabels  labels  = NULL;
  PgOutput  out     = NULL;
  PgMeasure measure = NULL;

  PetscFunctionBeginUser;
  PetscCall(
    PgImageInspect(comm, cfg->input.image, cfg->domain.voxel_given ? cfg->domain.voxel_um : NULL, shape, voxel));
  PetscCall(PgGridCreate(comm, shape, voxel, (int)cfg->fft.threads, &grid));
  PetscCall(PetscPrintf(comm, "plurigauss: measuring %s: %d x %d x %d voxels of %g x %g x %g um on %d rank%s\n",
                        cfg->input.image, (int)shape[0], (int)shape[1], (int)shape[2], voxel[0], voxel[1], voxel[2],
                        grid->size, grid->size > 1 ? "s" : ""));
  /* read and check the labels before any output is touched */
  double t0 = MPI_Wtime(), t1;
  PetscCall(PgLabelsCreate(grid, &labels));
  PetscCall(PgStagePush(st->io, "io"));
  PetscCall(PgImageRead(grid, cfg->input.image, &cfg->input.labels, labels));
  PetscCall(PgStagePop());
  t1 = MPI_Wtime();
  PetscCall(PgOutputOpen(grid, cfg, NULL, NULL, 1, &out));
  PgOutputSetLock(out, lock);
  if (!PgOutputHasRun(out, 0)) {
    PgRow row = {0};
    PetscCall(PgMeasureCreate(grid, cfg, MeasurePeriodic(cfg, PETSC_FALSE), &measure));
    PetscCall(PgStagePush(st->measure, "measure"));
    PetscCall(PgMeasureRun(measure, labels, out, 0, &row));
    PetscCall(PgStagePop());
    PetscCall(PgMeasureDestroy(&measure));
    PetscCall(PgRowSet(&row, "t_read_s", t1 - t0));
    PetscCall(PgRowSet(&row, "t_measure_s", MPI_Wtime() - t1));
    PetscCall(WriteTiffLabels(cfg, labels, 0));
    PetscCall(PgOutputWriteRun(out, 0, &row, NULL, NULL));
    char summary[256];
    PetscCall(RowSummary(&row, summary, sizeof summary));
    PetscCall(PetscPrintf(comm, "image  read %.2f s  measure %.2f s  | %s\n", t1 - t0, MPI_Wtime() - t1, summary));
  }
  PetscCall(PgOutputClose(&out));
  PetscCall(PetscPrintf(comm, "plurigauss: results in %s\n", cfg->output.file));
  *exit_status = 0;
  PetscCall(PgLabelsDestroy(&labels));
  PetscCall(PgGridDestroy(&grid));
  PetscFunctionReturn(0);
}

/* The sweep: for each realization r and point p, fields -> labels -> measure -> write. */
/* What a sweep holds from its setup to its end. */
typedef struct {
  MPI_Comm             comm;
  const PgConfig      *cfg; /* the deck (read only) */
  const PgDomain      *dom; /* the grid of the runs: the deck's, or the adequacy image's */
  const PgModelParams *mp;  /* the model simulated: the deck's, or the calibrated one */
  const Stages        *st;
  PgCalibration        cal; /* the calibration whose realizations are validated, or NULL */
  PgGrid               grid;
  PgField              field;
  PgLabels             labels;
  PgOutput             out;
  PgMeasure            measure;
  PgCrossing           crossing;
  int                  nruns;
  double               lambda_x, lambda_z[PG_MAX_SWEEP], eps2_model[PG_MAX_SWEEP];
  double               t_bare; /* the bare FFT's time (output.fft_time_bare), else NaN */
} Sweep;

/* The thresholds: eq. 6 and eq. 9 at every sweep point; checked before any file is touched. */
static PetscErrorCode SweepThresholds(Sweep *S)
{
  const PgModelParams *mp = S->mp;

  PetscFunctionBeginUser;
  S->lambda_x = mp->have_lambda_x ? mp->lambda_x : PgModelLambdaX(mp->nvp_fraction);
  for (int p = 0; p < mp->npoints; p++) {
    if (mp->have_lambda_z) S->lambda_z[p] = mp->lambda_z;
    else {
      PetscErrorCode ierr;
      PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
      ierr = PgModelLambdaZ(S->lambda_x, mp->m, mp->carbon_fraction[p], &S->lambda_z[p]);
      PetscCall(PetscPopErrorHandler());
      PetscCheck(!ierr, S->comm, PETSC_ERR_USER_INPUT,
                 "%s = %g cannot be reached with lambda_X = %g: eq. 9 allows (0, %g)",
                 mp->npoints > 1 || mp->from_sweep ? "sweep.carbon_fraction" : "model.carbon_fraction",
                 mp->carbon_fraction[p], S->lambda_x, 0.5 * erfc(S->lambda_x / sqrt(2.0)));
    }
    PetscCall(PgModelCarbonFraction(S->lambda_x, S->lambda_z[p], mp->m, &S->eps2_model[p]));
  }
  PetscFunctionReturn(0);
}

/* The objects of the runs still to do: fields (planned FFTs), labels, measure, crossings; with
 * output.fft_time_bare the bare FFT timed (best of three). */
static PetscErrorCode SweepPlan(Sweep *S)
{
  const PgConfig *cfg = S->cfg;
  double          t0  = MPI_Wtime(), e_min_x, e_min_y;
  size_t          fbytes;

  PetscFunctionBeginUser;
  PetscCall(PgFieldCreate(S->grid, cfg->output.precision, cfg->fft.planner, cfg->fft.wisdom_file, S->mp->alpha_x_per_um,
                          S->mp->alpha_y_per_um, cfg->fft.low_memory, &S->field));
  PetscCall(PgLabelsCreate(S->grid, &S->labels));
  PetscCall(PgMeasureCreate(S->grid, cfg, MeasurePeriodic(cfg, PETSC_TRUE), &S->measure));
  if (cfg->measure.interface_field) PetscCall(PgCrossingCreate(S->grid, S->field, &S->crossing));
  PetscCall(PgFieldGetInfo(S->field, &e_min_x, &e_min_y, &fbytes));
  /* 1D spectra average 1: an eigenvalue below -1e-6 is a visible truncation of rho on the torus */
  if (e_min_x < -1e-6 || e_min_y < -1e-6)
    PetscCall(PetscPrintf(
      S->comm,
      "plurigauss: warning: circulant embedding clipped negative eigenvalues (min %.3g for X, %.3g for Y): the domain is small against the correlation length\n",
      e_min_x, e_min_y));
  PetscCall(PetscPrintf(S->comm, "plurigauss: planned FFT in %.2f s; field buffer %.1f MiB per rank\n",
                        MPI_Wtime() - t0, fbytes / 1048576.0));
  if (cfg->fft.time_bare) {
    S->t_bare = HUGE_VAL;
    for (int i = 0; i < 3; i++) {
      PetscCallMPI(MPI_Barrier(S->comm));
      double t = MPI_Wtime();
      PetscCall(PgFieldExecuteBare(S->field));
      PetscCallMPI(MPI_Barrier(S->comm));
      S->t_bare = PetscMin(S->t_bare, MPI_Wtime() - t);
    }
    PetscCall(PetscPrintf(S->comm, "plurigauss: bare FFT (the floor of generation) %.4g s\n", S->t_bare));
  }
  PetscFunctionReturn(0);
}

/* Grid, output (resumed if it holds runs), the objects of the runs left, and /model. */
static PetscErrorCode SweepSetup(Sweep *S, PgOutputLock lock)
{
  const PgConfig *cfg = S->cfg;
  const PgGrid_s *grid;
  PgRow           m = {0};
  char            origin[128];

  PetscFunctionBeginUser;
  S->nruns = (int)(S->mp->npoints * cfg->sweep.realizations);
  PetscCall(PgStagePush(S->st->setup, "setup"));
  PetscCall(PgGridCreate(S->comm, S->dom->shape, S->dom->voxel_um, (int)cfg->fft.threads, &S->grid));
  grid = S->grid;
  PetscCall(PgOutputOpen(S->grid, cfg, S->dom, S->mp, S->nruns, &S->out));
  PgOutputSetLock(S->out, lock);
  PetscCall(PetscPrintf(
    S->comm, "plurigauss: %d x %d x %d voxels of %g x %g x %g um on %d rank%s x %d thread%s, %s precision\n",
    (int)S->dom->shape[0], (int)S->dom->shape[1], (int)S->dom->shape[2], S->dom->voxel_um[0], S->dom->voxel_um[1],
    S->dom->voxel_um[2], grid->size, grid->size > 1 ? "s" : "", grid->threads, grid->threads > 1 ? "s" : "",
    cfg->output.precision == PG_PRECISION_DOUBLE ? "double" : "single"));
  PetscCall(PetscPrintf(
    S->comm,
    "plurigauss: lambda_X = %.6f (eps1 = %.4f), m = %g, alpha_X = %g /um, alpha_Y = %g /um; %d sweep point%s x %d realization%s = %d runs, %d already in %s\n",
    S->lambda_x, 0.5 * erfc(S->lambda_x / sqrt(2.0)), S->mp->m, S->mp->alpha_x_per_um, S->mp->alpha_y_per_um,
    (int)S->mp->npoints, S->mp->npoints > 1 ? "s" : "", (int)cfg->sweep.realizations,
    cfg->sweep.realizations > 1 ? "s" : "", S->nruns, PgOutputRunsDone(S->out), cfg->output.file));
  if (PgOutputRunsDone(S->out) < S->nruns) PetscCall(SweepPlan(S));
  PetscCall(PgStagePop());
  PetscCall(PgRowSet(&m, "alpha_x_per_um", S->mp->alpha_x_per_um));
  PetscCall(PgRowSet(&m, "alpha_y_per_um", S->mp->alpha_y_per_um));
  PetscCall(PgRowSet(&m, "m", S->mp->m));
  PetscCall(PgRowSet(&m, "lambda_x", S->lambda_x));
  PetscCall(PgRowSet(&m, "nvp_fraction", 0.5 * erfc(S->lambda_x / sqrt(2.0))));
  PetscCall(PgRowSet(&m, "nanopore_ratio", S->mp->nanopore_ratio));
  if (S->field) {
    double ex, ey;
    PetscCall(PgFieldGetInfo(S->field, &ex, &ey, NULL));
    PetscCall(PgRowSet(&m, "min_eigenvalue_x", ex));
    PetscCall(PgRowSet(&m, "min_eigenvalue_y", ey));
  }
  if (cfg->fft.time_bare) PetscCall(PgRowSet(&m, "t_bare_fft_s", S->t_bare));
  PgModelParamsOrigin(S->mp, origin, sizeof origin);
  PetscCall(PgOutputWriteModel(S->out, &m, origin));
  PetscFunctionReturn(0);
}

/* The fields of a run (unless *have_field: common random numbers reuse realization r's). With
 * fft.memory = low one buffer serves both: X is thresholded into the NVP labels (and its byte kept
 * for the crossings) before Z is synthesised; *t_nvp and *t_keep are those two times. */
static PetscErrorCode SweepGenerate(Sweep *S, uint64_t seed, PetscBool *have_field, double *t_nvp, double *t_keep)
{
  const PgConfig *cfg = S->cfg;

  PetscFunctionBeginUser;
  *t_nvp = *t_keep = 0;
  PetscCall(PgStagePush(S->st->generate, "generate"));
  if (!*have_field && !cfg->fft.low_memory) PetscCall(PgFieldGenerate(S->field, seed));
  if (!*have_field && cfg->fft.low_memory) {
    PetscCall(PgFieldGenerateX(S->field, seed));
    double t = MPI_Wtime();
    PetscCall(PgModelThresholdNVP(S->field, S->lambda_x, S->labels));
    *t_nvp = MPI_Wtime() - t;
    if (S->crossing) {
      t = MPI_Wtime();
      PetscCall(PgCrossingStoreX(S->crossing, S->lambda_x)); /* in t_interface_s */
      *t_keep = MPI_Wtime() - t;
    }
    PetscCall(PgFieldGenerateZ(S->field, seed, S->mp->m));
  }
  *have_field = cfg->sweep.common_random_numbers;
  PetscCall(PgStagePop());
  PetscFunctionReturn(0);
}

/* The descriptors of run k (sweep point p) into row. */
static PetscErrorCode SweepMeasure(Sweep *S, int k, int p, PgRow *row)
{
  const PgConfig *cfg = S->cfg;

  PetscFunctionBeginUser;
  PetscCall(PgStagePush(S->st->measure, "measure"));
  /* the descriptors of the fields first: then, until the next generation, the fields are not
     needed (unless reused or written) and the label descriptors get their memory */
  PetscCall(InterfaceAreas(S->mp, S->grid, S->crossing, S->out, k, S->lambda_x, S->lambda_z[p], row));
  if (!cfg->sweep.common_random_numbers && !cfg->output.write_fields) PetscCall(PgFieldReleaseBuffers(S->field));
  PetscCall(PgMeasureRun(S->measure, S->labels, S->out, k, row));
  /* validation: the realizations of the calibrated point (its carbon fraction) */
  if (S->cal && !S->mp->have_lambda_z && !S->mp->from_sweep)
    PetscCall(PgCalibrationAddRealization(S->cal, PgMeasureGetCovariance(S->measure)));
  PetscCall(PgStagePop());
  PetscFunctionReturn(0);
}

/* Progress of the sweep: how many runs this job has done and has to do, since when. */
typedef struct {
  double t_start;
  int    ndone, ntodo;
} Progress;

/* Run k = p * realizations + r: generate, threshold, measure, write, report. */
static PetscErrorCode SweepRun(Sweep *S, int p, int r, PetscBool *have_field, Progress *prog)
{
  const PgConfig *cfg = S->cfg;
  const int       k   = p * (int)cfg->sweep.realizations + r;
  const uint64_t  seed =
    PgFieldRunSeed(cfg->sweep.seed, cfg->sweep.common_random_numbers ? 0 : cfg->sweep.first_point + p, r);
  const double target = S->mp->have_lambda_z ? S->eps2_model[p] : S->mp->carbon_fraction[p];
  double       t0     = MPI_Wtime(), t1, t2, t3, t4, t_nvp, t_keep, peak;
  PgRow        row    = {0};
  char         summary[256];

  PetscFunctionBeginUser;
  PetscCall(SweepGenerate(S, seed, have_field, &t_nvp, &t_keep));
  t1 = MPI_Wtime() - t_nvp - t_keep;
  PetscCall(PgStagePush(S->st->threshold, "threshold"));
  if (cfg->fft.low_memory) PetscCall(PgModelThresholdZ(S->field, S->lambda_z[p], S->labels));
  else PetscCall(PgModelThreshold(S->field, S->lambda_x, S->lambda_z[p], S->mp->m, S->labels));
  PetscCall(PgStagePop());
  t2 = MPI_Wtime();
  PetscCall(PgRowSet(&row, "eps2_target", target));
  PetscCall(PgRowSet(&row, "realization", r));
  PetscCall(PgRowSet(&row, "seed", (double)seed));
  PetscCall(PgRowSet(&row, "lambda_x", S->lambda_x));
  PetscCall(PgRowSet(&row, "lambda_z", S->lambda_z[p]));
  PetscCall(PgRowSet(&row, "eps2_model", S->eps2_model[p]));
  PetscCall(SweepMeasure(S, k, p, &row));
  t3 = MPI_Wtime();
  PetscCall(PgRowSet(&row, "t_generate_s", t1 - t0));
  PetscCall(PgRowSet(&row, "t_threshold_s", t2 - t1 - t_keep));
  PetscCall(PgRowSet(&row, "t_measure_s", t3 - t2));
  PetscCall(PgPeakResidentBytes(S->comm, &peak));
  PetscCall(PgRowSet(&row, "peak_rss_bytes_per_voxel", peak / (PgGridGlobalVoxels(S->grid) / S->grid->size)));
  PetscCall(PgStagePush(S->st->io, "io"));
  PetscCall(WriteTiffLabels(cfg, S->labels, k));
  PetscCall(PgOutputWriteRun(S->out, k, &row, cfg->output.write_phase ? S->labels : NULL,
                             cfg->output.write_fields ? S->field : NULL));
  PetscCall(PgStagePop());
  t4 = MPI_Wtime();
  prog->ndone++;
  double elapsed = MPI_Wtime() - prog->t_start, remain = elapsed / prog->ndone * (prog->ntodo - prog->ndone);
  PetscCall(RowSummary(&row, summary, sizeof summary));
  PetscCall(PetscPrintf(
    S->comm,
    "run %4d/%d  eps2_target %.4f  real %d  generate %6.2f s  threshold %5.2f s  measure %6.2f s  write %5.2f s  | %s | elapsed %.1f s, left ~%.1f s\n",
    k + 1, S->nruns, target, r, t1 - t0, t2 - t1, t3 - t2, t4 - t3, summary, elapsed, remain));
  PetscFunctionReturn(0);
}

/* The end of a sweep: the calibration and adequacy results, the output closed (renamed when
 * complete), the exit status (0, or interrupted and resumable). */
static PetscErrorCode SweepFinish(Sweep *S, PgAdequacy adq, int *exit_status)
{
  const PgConfig *cfg  = S->cfg;
  const int       done = PgOutputRunsDone(S->out);

  PetscFunctionBeginUser;
  if (S->cal) PetscCall(PgCalibrationWrite(S->cal, PgOutputFile(S->out), cfg->output.file));
  if (adq && done == S->nruns) PetscCall(PgAdequacyReport(adq, S->out, S->nruns, cfg));
  PetscCall(PgOutputClose(&S->out));
  if (done == S->nruns) {
    PetscCall(PetscPrintf(S->comm, "plurigauss: %d runs complete in %s\n", S->nruns, cfg->output.file));
    *exit_status = 0;
  } else {
    PetscCall(PetscPrintf(
      S->comm,
      "plurigauss: stopped by signal after %d of %d runs; %s.part keeps them; rerun the same command to resume\n", done,
      S->nruns, cfg->output.file));
    *exit_status = PG_EXIT_INTERRUPTED;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SimulateSweep(MPI_Comm comm, const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp,
                                    const Stages *st, PgCalibration cal, PgAdequacy adq, PgOutputLock lock,
                                    int *exit_status)
{
  Sweep     S;
  Progress  prog;
  PetscBool stop = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&S, sizeof S));
  S.comm   = comm;
  S.cfg    = cfg;
  S.dom    = dom;
  S.mp     = mp;
  S.st     = st;
  S.cal    = cal;
  S.t_bare = NAN;
  PetscCall(SweepThresholds(&S));
  PetscCall(SweepSetup(&S, lock));
  prog.t_start = MPI_Wtime();
  prog.ndone   = 0;
  prog.ntodo   = S.nruns - PgOutputRunsDone(S.out);
  for (int r = 0; r < cfg->sweep.realizations && !stop; r++) {
    PetscBool have_field = PETSC_FALSE; /* for common random numbers: fields of realization r */
    for (int p = 0; p < S.mp->npoints && !stop; p++) {
      if (PgOutputHasRun(S.out, p * (int)cfg->sweep.realizations + r)) continue;
      PetscCall(SweepRun(&S, p, r, &have_field, &prog));
      PetscCall(StopRequested(comm, &stop));
    }
  }
  PetscCall(SweepFinish(&S, adq, exit_status));
  PetscCall(PgMeasureDestroy(&S.measure));
  PetscCall(PgCrossingDestroy(&S.crossing));
  PetscCall(PgLabelsDestroy(&S.labels));
  PetscCall(PgFieldDestroy(&S.field));
  PetscCall(PgGridDestroy(&S.grid));
  PetscFunctionReturn(0);
}

/* Calibration (from the deck's inputs, or from *seg's labels in memory, freed once copied), then the calibrated model:
 * its realizations (validated, and compared with the adequacy image), or /calibration alone. */
static PetscErrorCode CalibrateAndSimulate(MPI_Comm comm, const PgConfig *cfg, PgSegmentation *seg, const Stages *st,
                                           PgAdequacy adq, PgOutputLock lock, int *exit_status)
{
  PgCalibration cal = NULL;
  PgDomain      dom = cfg->domain;
  PgModelParams mp;
  double        t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(PgStagePush(st->calibrate, "calibrate"));
  PetscCall(PgCalibrationCreate(comm, cfg, *seg, &cal));
  PetscCall(PgSegmentationDestroy(seg)); /* calibration holds its own copy of the labels */
  PetscCall(PgCalibrationRun(cal));
  PetscCall(PgStagePop());
  PetscCall(PgCalibrationView(cal));
  PetscCall(PetscPrintf(comm, "calibration: %.2f s\n", MPI_Wtime() - t0));
  if (adq) PetscCall(PgAdequacyDomain(adq, &cfg->domain, &dom));
  PetscCall(PgCalibrationModelParams(cal, &cfg->model, &dom, &mp));
  if (adq) {
    PetscCall(PgStagePush(st->measure, "measure"));
    PetscCall(PgAdequacyMeasureData(adq, cfg, &dom, &mp));
    PetscCall(PgStagePop());
  }
  if (cfg->cal.simulate) PetscCall(SimulateSweep(comm, cfg, &dom, &mp, st, cal, adq, lock, exit_status));
  else {
    /* calibration only: the output holds the header, /model and /calibration, no runs */
    PgGrid   grid;
    PgOutput out;
    PetscCall(PgGridCreate(comm, dom.shape, dom.voxel_um, 1, &grid));
    PetscCall(PgOutputOpen(grid, cfg, &dom, &mp, 0, &out));
    PgOutputSetLock(out, lock);
    PetscCall(PgCalibrationWrite(cal, PgOutputFile(out), cfg->output.file));
    PetscCall(PgOutputClose(&out));
    PetscCall(PgGridDestroy(&grid));
    PetscCall(PetscPrintf(comm, "plurigauss: calibration in %s\n", cfg->output.file));
    *exit_status = 0;
  }
  PetscCall(PgCalibrationDestroy(&cal));
  PetscFunctionReturn(0);
}

/* The stages the deck asks for, holding the lock of the output. The deck is read only: each stage
 * hands its result to the next as a value (labels, model parameters, grid). */
static PetscErrorCode RunStages(MPI_Comm comm, const PgConfig *cfg, const Stages *st, PgAdequacy adq, PgOutputLock lock,
                                int *exit_status)
{
  PgSegmentation seg      = NULL;
  PetscBool      from_seg = PETSC_FALSE;
  PetscErrorCode ierr     = 0;

  PetscFunctionBeginUser;
  if (cfg->seg.volume[0] || cfg->seg.images[0]) {
    PetscCall(PgStagePush(st->segment, "segment"));
    PetscCall(PgSegmentStage(comm, cfg, &seg));
    PetscCall(PgStagePop());
    ierr = PgSegmentationCalibrates(seg, &from_seg);
    if (ierr || (!from_seg && !cfg->cal.volume[0] && !cfg->input.image[0])) {
      /* segmentation only: nothing to calibrate or measure */
      PetscCall(PgSegmentationDestroy(&seg));
      PetscCall(ierr);
      *exit_status = 0;
      PetscFunctionReturn(0);
    }
    if (!from_seg) PetscCall(PgSegmentationDestroy(&seg));
  }
  if (cfg->cal.volume[0] || from_seg) {
    ierr = CalibrateAndSimulate(comm, cfg, &seg, st, adq, lock, exit_status);
    PetscCall(PgSegmentationDestroy(&seg));
    PetscCall(ierr);
  } else if (cfg->input.image[0]) PetscCall(MeasureImage(comm, cfg, st, lock, exit_status));
  else PetscCall(SimulateSweep(comm, cfg, &cfg->domain, &cfg->model, st, NULL, NULL, lock, exit_status));
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(MPI_Comm comm, const char *deck, int *exit_status)
{
  PgConfig       cfg;
  Stages         st;
  PgAdequacy     adq  = NULL;
  PgOutputLock   lock = NULL;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(RegisterStages(&st));
  PetscCall(PgStagePush(st.setup, "setup"));
  PetscCall(PgConfigLoad(comm, deck, &cfg));
  PetscCall(PgStagePop());
  /* the libraries' own OpenMP regions (hypre's AMG) get the deck's threads per rank, not one per
     core of the node each: with one rank per core that oversubscribed the cores */
  omp_set_num_threads((int)cfg.fft.threads);
  /* memory per rank of every stage against what this allocation offers, before any file exists */
  PetscCall(PgMemoryCheck(comm, &cfg));
  /* the adequacy image is checked and read before any stage writes anything */
  if (cfg.cal.validate_with[0]) PetscCall(PgAdequacyCreate(comm, &cfg, &adq));
  /* one writer per output, taken before any file is touched; released on every path */
  PetscCall(PgOutputLockAcquire(comm, cfg.output.file, cfg.output.lock_content, &lock));
  ierr = RunStages(comm, &cfg, &st, adq, lock, exit_status);
  PetscCall(PgOutputLockRelease(&lock));
  PetscCall(PgAdequacyDestroy(&adq));
  PetscCall(PgConfigDestroy(&cfg));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* The command line: `plurigauss DECK.yaml ...` is `plurigauss -options_file_yaml DECK.yaml ...` (the
 * deck is read first, so later command-line options override it); -help and -help_markdown are
 * taken out (PETSc would print its own option list instead). args is malloc'd, NULL-terminated. */
typedef struct {
  char      **args;
  int         nargs, threads;
  const char *deck;
  PetscBool   help, help_markdown;
} CommandLine;

static int ParseCommandLine(int argc, char **argv, CommandLine *cl)
{
  char **args  = (char **)malloc(sizeof(char *) * (size_t)(argc + 3));
  int    nargs = 0;

  memset(cl, 0, sizeof *cl);
  cl->threads = 1;
  if (!args) return 1;
  args[nargs++] = argv[0];
  if (argc > 1 && argv[1][0] != '-') {
    cl->deck      = argv[1];
    args[nargs++] = "-options_file_yaml";
    args[nargs++] = argv[1];
    for (int i = 2; i < argc; i++) args[nargs++] = argv[i];
  } else
    for (int i = 1; i < argc; i++) args[nargs++] = argv[i];
  args[nargs] = NULL;
  /* -help is ours (the deck keys); -help_markdown prints the same keys as README.md's Markdown table */
  for (int i = 1; i < nargs; i++)
    if (!strcmp(args[i], "-help") || !strcmp(args[i], "--help") || !strcmp(args[i], "-h") ||
        !strcmp(args[i], "-help_markdown")) {
      if (!strcmp(args[i], "-help_markdown")) cl->help_markdown = PETSC_TRUE;
      else cl->help = PETSC_TRUE;
      for (int j = i; j < nargs; j++) args[j] = args[j + 1];
      nargs--;
      i--;
    }
  for (int i = 1; i < nargs; i++) {
    if (!strcmp(args[i], "-options_file_yaml") && i + 1 < nargs) cl->deck = args[i + 1];
    if (!strcmp(args[i], "-threads") && i + 1 < nargs) cl->threads = atoi(args[i + 1]);
  }
  cl->args  = args;
  cl->nargs = nargs;
  return 0;
}

/* A deck that does not exist is reported in one line before PETSc reads it: 1 if it can be opened
 * (or there is none), on every rank. */
static int DeckReadable(const char *deck)
{
  int rank, ok = 1;

  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (deck && rank == 0) {
    FILE *f = fopen(deck, "r");
    ok      = f != NULL;
    if (f) fclose(f);
    if (!ok) fprintf(stderr, "plurigauss: error: deck %s: cannot open the file\n", deck);
  }
  (void)MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return ok;
}

/* -help: the deck keys, and with a deck its memory per rank and stage at this rank count. */
static PetscErrorCode PrintHelp(const char *deck)
{
  PgConfig         cfg;
  PgMemoryEstimate est;
  PetscErrorCode   e;

  PetscFunctionBeginUser;
  PetscCall(PgConfigPrintHelp(PETSC_COMM_WORLD));
  if (!deck) PetscFunctionReturn(0);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  e = PgConfigLoad(PETSC_COMM_WORLD, deck, &cfg);
  if (!e) e = PgMemoryEstimateCompute(PETSC_COMM_WORLD, &cfg, &est);
  PetscCall(PetscPopErrorHandler());
  if (!e) PetscCall(PgMemoryView(PETSC_COMM_WORLD, &est));
  else
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "plurigauss: no memory estimate: the deck %s has an error (run it without -help to see it)\n",
                          deck));
  if (!e) PetscCall(PgConfigDestroy(&cfg));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  CommandLine    cl;
  int            provided, status = 1;
  PetscErrorCode ierr;

  /* FFTW-MPI allocates its transpose buffers at every execution; served by mmap they would be
   * page-faulted in anew each time (measured: ~10% of generation in the kernel). Keeping large
   * blocks on the heap lets every realisation reuse the same pages. */
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
  if (ParseCommandLine(argc, argv, &cl)) return 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  if (!DeckReadable(cl.deck)) {
    MPI_Finalize();
    free(cl.args);
    return 1;
  }
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = PetscInitialize(&cl.nargs, &cl.args, NULL, "plurigauss: run bin/plurigauss -help for the deck keys");
  if (ierr) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
      fprintf(stderr, "plurigauss: error: cannot read the deck%s%s: not valid YAML or not readable\n",
              cl.deck ? " " : "", cl.deck ? cl.deck : "");
    MPI_Finalize();
    free(cl.args);
    return 1;
  }
  PetscCall(PgErrorInitialize());
  if (cl.help_markdown || cl.help) {
    if (cl.help_markdown) PetscCall(PgConfigPrintHelpMarkdown(PETSC_COMM_WORLD));
    else PetscCall(PrintHelp(cl.deck));
    PetscCall(PetscFinalize());
    MPI_Finalize();
    free(cl.args);
    return 0;
  }
  if (cl.threads > 1 && provided < MPI_THREAD_FUNNELED)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "plurigauss: warning: MPI gives no thread support; using 1 thread\n"));
  signal(SIGTERM, OnStopSignal);
  signal(SIGUSR1, OnStopSignal);
  signal(SIGINT, OnStopSignal);
  ierr = PgFieldInitializePackage(cl.threads);
  if (!ierr) ierr = Run(PETSC_COMM_WORLD, cl.deck, &status);
  if (ierr) {
    if (ierr != PETSC_ERR_USER_INPUT) {
      /* a rank-local failure (I/O, memory) cannot be finalised collectively */
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    status = 1;
  }
  PgFieldFinalizePackage();
  PetscFinalize();
  MPI_Finalize(); /* PETSc leaves MPI to whoever initialised it */
  free(cl.args);
  return status;
}
