/// \file
/// Peak memory per rank of the stages of a deck, and the memory available per rank.
///
/// Model. A stage's peak is what is alive while it runs: the process base (libraries), what
/// earlier steps keep (labels, field buffers, the covariance buffer, a calibration's data) and the
/// stage's own arrays, for the rank with the most data: FFTW-MPI's block distribution gives rank 0
/// ceil(nz/P) planes (and ceil(ny/P) ky-planes). Each term below names the allocation it comes
/// from (the module's create/compute functions); the coefficients that are not plain array sizes
/// (solver, component tables, bucket queue, HDF5 write buffers) are measured and live in memory.h.
/// Allocated bytes are counted whether or not every page is touched, so the estimate errs on the
/// high side; benchmarks/bench_memory.py compares it with the measured peak resident memory
/// (VmHWM) of every stage at two sizes and one and two ranks.
///
/// Available memory per rank: the smallest of (a) Slurm's allocation (SLURM_MEM_PER_CPU times the
/// CPUs per task, or SLURM_MEM_PER_NODE shared by the ranks of the node), (b) the cgroup's limit
/// minus its usage (v2 memory.max, v1 memory.limit_in_bytes) shared by the ranks of the node, and
/// (c) the node's MemAvailable shared by the ranks of the node; ranks per node from
/// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). Each rank's node is asked; the smallest answer wins.
///
/// Communication: a few collectives (input probes on rank 0, the node split, one allreduce).
/// Cost: negligible; no input data is read.
#include <plurigauss/conductivity.h>
#include <plurigauss/covariance.h>
#include <plurigauss/geodesic.h>
#include <plurigauss/h5.h>
#include <plurigauss/image.h>
#include <plurigauss/memory.h>
#include <plurigauss/segment.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const stage_names[PG_MEMORY_NSTAGES] = {"segment",      "calibrate",  "generate", "covariance",
                                                           "intrinsic",    "components", "opening",  "geodesic",
                                                           "conductivity", "write"};

const char *PgMemoryStageName(PgMemoryStage s) { return s >= 0 && s < PG_MEMORY_NSTAGES ? stage_names[s] : "?"; }

PetscErrorCode PgMemoryGridSetUp(const PetscInt n[3], int ranks, int threads, PgMemoryGrid *g)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(g, sizeof *g));
  for (int d = 0; d < 3; d++) g->n[d] = n[d];
  g->ranks   = PetscMax(ranks, 1);
  g->threads = PetscMax(threads, 1);
  /* FFTW-MPI's default blocks: ceil(n / P) planes for the first ranks */
  const double nzl = ceil((double)n[2] / g->ranks), nkyl = ceil((double)n[1] / g->ranks), nh = (double)(n[0] / 2 + 1);
  g->nz_local  = nzl;
  g->alloc_r2c = PetscMax(nzl * (double)n[1] * nh, nkyl * (double)n[2] * nh);
  PetscFunctionReturn(0);
}

static double Voxels(const PgMemoryGrid *g) { return g->nz_local * (double)g->n[0] * (double)g->n[1]; }
static double Plane(const PgMemoryGrid *g) { return (double)g->n[0] * (double)g->n[1]; }

/* Voxels of one chunk of a volume written on g (h5.c's PgH5ChunkShape on g's slabs). */
static double ChunkVoxels(const PgMemoryGrid *g)
{
  const int64_t dims[3] = {(int64_t)g->n[2], (int64_t)g->n[1], (int64_t)g->n[0]};
  const int64_t h       = g->ranks > 1 && (double)g->n[2] > g->nz_local ? (int64_t)g->nz_local : 0;
  int64_t       c[3];

  PgH5ChunkShape(h, dims, c);
  return (double)c[0] * (double)c[1] * (double)c[2];
}

/* FFTW-MPI's transpose buffer: allocated at every execution of a transposed plan, one buffer of
 * the local size, on one rank too (seen with an LD_PRELOAD malloc tracer). How much of it is
 * touched varies: (P-1)/P at P = 2; on one rank none or all of it from one run to the next (a
 * single-precision 192^3 field peaked at 112 or 140 MB). Counted whole. */
static double TransposeScratch(const PgMemoryGrid *g, double buffer_bytes)
{
  (void)g;
  return buffer_bytes;
}

/* The covariance's transform grid: the labels' grid (periodic) or padded by the largest lag. */
static PetscErrorCode CovarianceGrid(const PgMemoryGrid *g, const double voxel_um[3], PetscBool periodic,
                                     double range_um, PgMemoryGrid *f)
{
  PetscInt fn[3];
  double   side = HUGE_VAL, vmin = HUGE_VAL;

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++)
    if (g->n[d] > 1) {
      side = PetscMin(side, g->n[d] * voxel_um[d]);
      vmin = PetscMin(vmin, voxel_um[d]);
    }
  if (side == HUGE_VAL) side = vmin = 1;
  const double range = range_um > 0 ? range_um : 0.25 * side;
  for (int d = 0; d < 3; d++) {
    const double K = PetscMin((double)g->n[d] - 1, ceil((range + vmin) / voxel_um[d]));
    fn[d]          = periodic ? g->n[d] : PgCovariancePaddedSize(g->n[d] + (PetscInt)PetscMax(K, 0));
  }
  PetscCall(PgMemoryGridSetUp(fn, g->ranks, g->threads, f));
  PetscFunctionReturn(0);
}

/* The opening stage's arrays (opening.c: d2 float, the radius levels, the centre mask and the
 * level maps mlt[3] uint8, the cPSD's map sharing mlt[0]; two distance transforms with their int32
 * planes and scratch; the components of the MIP; per thread the 2D planes; per plane the 2D
 * curves). */
static double OpeningBytes(const PgMemoryGrid *g, PetscBool periodic)
{
  const double V = Voxels(g), A = Plane(g), T = g->threads, nmax = (double)PetscMax(g->n[0], g->n[1]);
  const double edt      = (16.0 + (periodic ? 8.0 : 0.0)) * A + 4.0 * T * A + 40.0 * T * (nmax + 2 * (nmax / 2 + 1));
  const double comps    = 4.0 * (V + 2 * A) + PG_MEMORY_COMPONENTS_TABLE_BYTES_PER_VOXEL * V;
  const double planes2d = T * (10.0 * A + 4.0 * (g->n[0] + 1.0) * (g->n[1] + 1.0));
  return 9.0 * V + 2 * edt + comps + planes2d + 24.0 * g->nz_local * (nmax / 2 + 2);
}

/* The segmentation chain on a grid (segment.c PgSegmentRun and its filters): the grey values
 * (float), labels, mask, the bright and sel masks, and the largest filter's arrays: the Mexican
 * hat's window and three float passes plus a double accumulator, Otsu's int32 bins and their
 * window, the median's float window, the majority's label window. A 3D filter's window holds the
 * slab and the planes within its radius on either side (PgGridHaloGather). */
static double SegmentBytes(const PgMemoryGrid *g, double dz_um, const PgSegmentFilters *f, PetscBool mask)
{
  const double V = Voxels(g), A = Plane(g);
#define WIN(r) (A * PetscMin((double)g->n[2], g->nz_local + 2.0 * (f->in3d && (r) > 0 ? ceil((r) / dz_um + 1e-9) : 0)))
  const double hat    = f->log_sigma_um > 0 ? 16.0 * WIN(3 * f->log_sigma_um) + 8.0 * V : 0.0;
  const double otsu   = 4.0 * V + (f->otsu_um > 0 ? 4.0 * WIN(f->otsu_um) : 0.0);
  const double median = f->median_um > 0 ? 4.0 * WIN(f->median_um) : 0.0;
  const double major  = f->majority == 1   ? A * PetscMin((double)g->n[2], g->nz_local + 2.0)
                        : f->majority == 2 ? WIN(f->majority_um)
                                           : 0.0;
#undef WIN
  return (4.0 + 1.0 + (mask ? 1.0 : 0.0) + 2.0) * V + PetscMax(PetscMax(hat, otsu), PetscMax(median, major));
}

double PgMemoryStageBytes(PgMemoryStage stage, const PgMemoryGrid *g, const PgConfig *cfg)
{
  const double V = Voxels(g), A = Plane(g), T = g->threads;
  const double real = cfg->output.precision == PG_PRECISION_DOUBLE ? 8.0 : 4.0;

  switch (stage) {
  case PG_MEMORY_GENERATE:
    /* field.c: nbuf buffers of alloc_r2c complex (persistent, counted by the caller), FFTW-MPI's
       transpose scratch of one buffer per execution, per thread the noise rows */
    return TransposeScratch(g, g->alloc_r2c * 2 * real) + T * 24.0 * (g->n[0] / 2 + 1);
  case PG_MEMORY_COVARIANCE:
    /* covariance.c: the double buffer, alive while C_ij are computed, and per transform FFTW's
       scratch */
    return 16.0 * g->alloc_r2c + TransposeScratch(g, g->alloc_r2c * 16.0);
  case PG_MEMORY_INTRINSIC:
    /* intrinsic.c: 3 planes of labels, per thread a row of keys, 65536 uint32 bins and the fold */
    return 3.0 * A + T * (2.0 * g->n[0] + 4.0 * 65536 + 8.0 * 769);
  case PG_MEMORY_COMPONENTS:
    /* components.c: int32 ids with a ghost plane each side, per-piece tables */
    return 4.0 * (V + 2 * A) + PG_MEMORY_COMPONENTS_TABLE_BYTES_PER_VOXEL * V;
  case PG_MEMORY_OPENING: {
    PetscBool periodic = cfg->measure.periodic == 0 ? (cfg->input.image[0] ? PETSC_FALSE : PETSC_TRUE)
                                                    : (cfg->measure.periodic == 1 ? PETSC_TRUE : PETSC_FALSE);
    return OpeningBytes(g, periodic);
  }
  case PG_MEMORY_GEODESIC: {
    /* geodesic.c: float distances (-1 out of play, no mask) on the padded slab or pencil of the
       largest layout used, with two ghost planes per lane (thread), the x-swapped labels (x axis),
       the labels on the pencils and the all-to-all's send and receive buffers (z axis), the queue */
    const unsigned axes  = cfg->measure.axes;
    const double   lanes = PetscMax(g->threads, 1);
    int            rows, cols;
    PgGeodesicPencilGrid(g->ranks, (int)g->n[0], (int)g->n[1], &rows, &cols);
    const double xcount = ceil((double)g->n[0] / rows), ycount = ceil((double)g->n[1] / cols);
    double       pad = 0;
    if (axes & 3u) pad = PetscMax(pad, ((double)g->n[0] + 2) * ((double)g->n[1] + 2) * (g->nz_local + 2 * lanes));
    if (axes & 4u) pad = PetscMax(pad, (ycount + 2) * ((double)g->n[2] + 2) * (xcount + 2 * lanes));
    return 4.0 * pad + ((axes & 1u) ? V : 0.0) + ((axes & 4u) ? 2 * xcount * ycount * (double)g->n[2] + V : 0.0) +
           PG_MEMORY_GEODESIC_QUEUE_BYTES_PER_VOXEL * V;
  }
  case PG_MEMORY_CONDUCTIVITY: {
    /* conductivity.c: the mask, PetscInt numbers with ghost planes, its components, and per
       unknown the solver (memory.h); unknowns at most the largest phase's voxels */
    double fmax = 1.0;
    if (!cfg->input.image[0] && !cfg->cal.volume[0] && !cfg->seg.volume[0]) {
      const double e1 =
        cfg->model.have_lambda_x ? 0.5 * erfc(cfg->model.lambda_x / sqrt(2.0)) : cfg->model.nvp_fraction;
      double e2 = 0;
      for (int p = 0; p < cfg->model.npoints; p++) e2 = PetscMax(e2, cfg->model.carbon_fraction[p]);
      if (cfg->model.have_lambda_z) e2 = 1 - e1;
      /* a realization's fraction fluctuates around the model's: a margin of 0.05 */
      fmax = PetscMin(1.0, PetscMax(PetscMax(e1, e2), 1 - e1 - PetscMin(e2, 1 - e1)) + 0.05);
    }
    if (strstr(cfg->cond.solver_options, "-cond_method amg"))
      return V + (double)sizeof(PetscInt) * (V + 2 * A) + 4.0 * (V + 2 * A) +
             PG_MEMORY_COMPONENTS_TABLE_BYTES_PER_VOXEL * V + PG_MEMORY_CONDUCTIVITY_AMG_BYTES_PER_UNKNOWN * fmax * V;
    /* the default multigrid: its fitted peak (which holds the mask and the map) */
    return PgConductivityPeakBytes(((double)g->n[0] + 2) * ((double)g->n[1] + 2) * (g->nz_local + 2.0), fmax * V);
  }
  case PG_MEMORY_WRITE:
    /* h5.c PgH5WriteSlabs: HDF5's chunk and filter buffers for this rank's slab, one volume
       at a time (the largest element: a field's with output.write_fields), and the chunks the
       filters hold at once */
    return (PG_MEMORY_WRITE_BUFFER_FACTOR * V + PG_MEMORY_WRITE_CHUNKS * ChunkVoxels(g)) *
           (cfg->output.write_fields ? real : 1.0);
  default:
    return 0.0;
  }
}

/* Shapes of the deck's image inputs: probed on rank 0 (PgInputCheck), no data read. */
typedef struct {
  PetscBool have;
  PetscInt  n[3];
  double    voxel[3];
} Shape;

static PetscErrorCode ProbeInput(MPI_Comm comm, const PgInputSpec *s, const char *spec, Shape *out)
{
  PgInputProbe r;

  PetscFunctionBeginUser;
  PetscCall(PgInputCheck(comm, s, spec, &r));
  out->have = PETSC_TRUE;
  for (int d = 0; d < 3; d++) {
    out->n[d]     = (PetscInt)PetscMin(r.n[d], (long long)PETSC_MAX_INT);
    out->voxel[d] = r.voxel[d];
  }
  PetscFunctionReturn(0);
}

/* The 2D images of a list: largest area on one rank (images k on rank k mod P), the total area
 * (calibration keeps every image on every rank) and the largest image. */
static PetscErrorCode ProbeImages(MPI_Comm comm, const PgInputSpec *s, const char *list_in, int ranks,
                                  double *owned_max, double *total, Shape *largest)
{
  char   list[PETSC_MAX_PATH_LEN], *specs[PG_MAX_IMAGES];
  int    n         = 0;
  double owned[64] = {0};

  PetscFunctionBeginUser;
  *owned_max = *total = 0;
  largest->have       = PETSC_FALSE;
  snprintf(list, sizeof list, "%s", list_in);
  PetscCall(PgInputSplitList(comm, s->key, list, specs, &n));
  for (int k = 0; k < n; k++) {
    Shape sh;
    PetscCall(ProbeInput(comm, s, specs[k], &sh));
    const double a = (double)sh.n[0] * (double)sh.n[1];
    *total += a;
    owned[(k % ranks) % 64] += a;
    if (!largest->have || a > (double)largest->n[0] * (double)largest->n[1]) *largest = sh;
  }
  for (int r = 0; r < 64; r++) *owned_max = PetscMax(*owned_max, owned[r]);
  PetscFunctionReturn(0);
}

/* What the estimate of one deck knows as it goes from stage to stage. */
typedef struct {
  MPI_Comm        comm;
  const PgConfig *cfg;
  int             size, T;
  double          base, real;
  Shape           seg_vol, seg_img;     /* the segmentation's inputs (have = PETSC_FALSE if none) */
  double          seg_owned, seg_total; /* bytes of the images a rank owns, of all images */
  double          keep;                 /* what earlier stages leave allocated for the rest of the run */
} Estimate;

/* segmentation: the stack on its slabs, the images on their owners, then the labels file */
static PetscErrorCode EstimateSegment(Estimate *E, PgMemoryEstimate *est)
{
  const PgConfig *cfg = E->cfg;
  PgInputSpec     vs, is;
  double          b = 0;

  PetscFunctionBeginUser;
  PgSegmentInputSpecs(cfg, &vs, &is);
  if (cfg->seg.images[0])
    PetscCall(ProbeImages(E->comm, &is, cfg->seg.images, E->size, &E->seg_owned, &E->seg_total, &E->seg_img));
  if (cfg->seg.volume[0]) {
    PgMemoryGrid g;
    PetscCall(ProbeInput(E->comm, &vs, cfg->seg.volume, &E->seg_vol));
    PetscCall(PgMemoryGridSetUp(E->seg_vol.n, E->size, E->T, &g));
    b = SegmentBytes(&g, E->seg_vol.voxel[2], &cfg->seg.stack, cfg->seg.mask[0] ? PETSC_TRUE : PETSC_FALSE) +
        PG_MEMORY_WRITE_BUFFER_FACTOR * Voxels(&g) + PG_MEMORY_WRITE_CHUNKS * ChunkVoxels(&g);
  }
  if (E->seg_img.have) {
    PgMemoryGrid g;
    PetscInt     n[3] = {E->seg_img.n[0], E->seg_img.n[1], 1};
    PetscCall(PgMemoryGridSetUp(n, 1, 1, &g));
    /* the stack's labels (and mask) stay while the images are segmented, and every owned
       image's labels until the file is written */
    PgMemoryGrid gv;
    double       stack = 0;
    if (E->seg_vol.have) {
      PetscCall(PgMemoryGridSetUp(E->seg_vol.n, E->size, E->T, &gv));
      stack = (cfg->seg.mask[0] ? 2.0 : 1.0) * Voxels(&gv);
    }
    b = PetscMax(b, stack + SegmentBytes(&g, E->seg_img.voxel[0], &cfg->seg.image, PETSC_FALSE) + E->seg_owned);
  }
  est->active[PG_MEMORY_SEGMENT] = PETSC_TRUE;
  est->bytes[PG_MEMORY_SEGMENT]  = E->base + b;
  PetscFunctionReturn(0);
}

/* calibration: the volume's labels and every 2D image stay until the end of the run */
static PetscErrorCode EstimateCalibration(Estimate *E, PgMemoryEstimate *est)
{
  const PgConfig *cfg = E->cfg;
  Shape           vol = E->seg_vol, img = E->seg_img;
  double          owned = E->seg_owned, total = E->seg_total;
  PgInputSpec     vs = {"calibration.volume",
                        "calibration.volume_shape",
                        "calibration.volume_voxel_um",
                        "calibration.raw_type",
                        cfg->cal.volume_shape,
                        cfg->cal.volume_voxel_um,
                        cfg->cal.raw_type,
                        3,
                        PG_VALUES_NVP,
                        &cfg->cal.volume_labels,
                        "calibration.volume_labels"};
  PgInputSpec     is = {"calibration.images", "calibration.image_shape", "calibration.pixel_um", "calibration.raw_type",
                        cfg->cal.image_shape, cfg->cal.pixel_um,         cfg->cal.raw_type,      2,
                        PG_VALUES_LABELS,     &cfg->cal.images_labels,   "input.labels"};
  /* inputs named in the deck, unless they are the labels file the segmentation writes first */
  const PetscBool from_segment = (cfg->seg.volume[0] || cfg->seg.images[0]) &&
                                 !strncmp(cfg->cal.volume, cfg->seg.labels_file, strlen(cfg->seg.labels_file));

  PetscFunctionBeginUser;
  if (cfg->cal.volume[0] && !from_segment) {
    PetscCall(ProbeInput(E->comm, &vs, cfg->cal.volume, &vol));
    PetscCall(ProbeImages(E->comm, &is, cfg->cal.images, E->size, &owned, &total, &img));
  }
  /* inputs the segmentation has yet to write have no known shape: no estimate for them */
  if (vol.have && img.have) {
    PgMemoryGrid g, f, gi, fi;
    PetscCall(PgMemoryGridSetUp(vol.n, E->size, E->T, &g));
    PetscCall(CovarianceGrid(&g, vol.voxel, PETSC_FALSE, cfg->cal.range_um, &f));
    const double vol_bytes = Voxels(&g),
                 cov3      = 16.0 * f.alloc_r2c + f.nz_local * Plane(&g) + TransposeScratch(&f, 16.0 * f.alloc_r2c);
    PetscInt n2[3]         = {img.n[0], img.n[1], 1};
    PetscCall(PgMemoryGridSetUp(n2, 1, 1, &gi));
    PetscCall(CovarianceGrid(&gi, img.voxel, PETSC_FALSE, cfg->cal.range_um, &fi));
    const double cov2 = 16.0 * fi.alloc_r2c + 2 * Voxels(&gi), open2 = OpeningBytes(&gi, PETSC_FALSE);
    E->keep                          = vol_bytes + total;
    est->active[PG_MEMORY_CALIBRATE] = PETSC_TRUE;
    est->bytes[PG_MEMORY_CALIBRATE]  = E->base + E->keep + PetscMax(cov3, PetscMax(cov2, open2));
    (void)owned; /* every rank holds every image; the transforms run one image at a time */
  }
  PetscFunctionReturn(0);
}

/* the sweep (or the measured image) */
static PetscErrorCode EstimateSweep(Estimate *E, PgMemoryEstimate *est)
{
  const PgConfig *cfg      = E->cfg;
  const PetscBool image    = cfg->input.image[0] ? PETSC_TRUE : PETSC_FALSE;
  PetscInt        n[3]     = {cfg->domain.shape[0], cfg->domain.shape[1], cfg->domain.shape[2]};
  double          voxel[3] = {cfg->domain.voxel_um[0], cfg->domain.voxel_um[1], cfg->domain.voxel_um[2]};
  PgMemoryGrid    g;

  PetscFunctionBeginUser;
  if (image) {
    /* the same inspection as the measure stage's (PgImageInspect): its errors, its shape */
    PetscCall(
      PgImageInspect(E->comm, cfg->input.image, cfg->domain.voxel_given ? cfg->domain.voxel_um : NULL, n, voxel));
  }
  PetscCall(PgMemoryGridSetUp(n, E->size, E->T, &g));
  const PetscBool periodic = cfg->measure.periodic == 0 ? (image ? PETSC_FALSE : PETSC_TRUE)
                                                        : (cfg->measure.periodic == 1 ? PETSC_TRUE : PETSC_FALSE);
  double          persist  = E->keep + Voxels(&g); /* the labels */
  /* the field buffers: while the fields are generated, and through the measure stage only when
     they are reused (common random numbers) or written; else they are released after the
     thresholds (and the crossings, whose 1 byte of X per voxel stays in low-memory mode) */
  const double fields = image ? 0.0 : (cfg->fft.low_memory ? 1.0 : 2.0) * g.alloc_r2c * 2 * E->real;
  const double kept   = (cfg->sweep.common_random_numbers || cfg->output.write_fields) ? fields : 0.0;
  persist += (!image && cfg->fft.low_memory && cfg->measure.interface_field) ? Voxels(&g) : 0.0;
  if (cfg->measure.covariance) {
    PgMemoryGrid f;
    PetscCall(CovarianceGrid(&g, voxel, periodic, cfg->measure.range_um, &f));
    persist += periodic ? 0.0 : f.nz_local * Plane(&g);
    est->active[PG_MEMORY_COVARIANCE] = PETSC_TRUE;
    est->bytes[PG_MEMORY_COVARIANCE]  = PgMemoryStageBytes(PG_MEMORY_COVARIANCE, &f, cfg);
  }
  est->active[PG_MEMORY_GENERATE]     = !image;
  est->active[PG_MEMORY_INTRINSIC]    = cfg->measure.intrinsic;
  est->active[PG_MEMORY_COMPONENTS]   = cfg->measure.percolation;
  est->active[PG_MEMORY_OPENING]      = cfg->measure.psd || cfg->measure.mip;
  est->active[PG_MEMORY_GEODESIC]     = cfg->measure.tortuosity;
  est->active[PG_MEMORY_CONDUCTIVITY] = cfg->cond.solve;
  est->active[PG_MEMORY_WRITE]        = cfg->output.write_phase || cfg->output.write_fields;
  for (int s = PG_MEMORY_GENERATE; s < PG_MEMORY_NSTAGES; s++) {
    if (!est->active[s]) continue;
    if (s != PG_MEMORY_COVARIANCE) est->bytes[s] = PgMemoryStageBytes((PgMemoryStage)s, &g, cfg);
    est->bytes[s] += E->base + persist + (s == PG_MEMORY_GENERATE ? fields : kept);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgMemoryEstimateCompute(MPI_Comm comm, const PgConfig *cfg, PgMemoryEstimate *est)
{
  Estimate E;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(est, sizeof *est));
  PetscCall(PetscMemzero(&E, sizeof E));
  E.comm = comm;
  E.cfg  = cfg;
  E.T    = (int)cfg->fft.threads;
  E.base = PG_MEMORY_BASE_BYTES + (E.T - 1) * 1048576.0;
  E.real = cfg->output.precision == PG_PRECISION_DOUBLE ? 8.0 : 4.0;
  PetscCallMPI(MPI_Comm_size(comm, &E.size));
  est->ranks = E.size;
  if (cfg->seg.volume[0] || cfg->seg.images[0]) PetscCall(EstimateSegment(&E, est));
  const PetscBool seg_cal = cfg->seg.calibrate && E.seg_vol.have && E.seg_img.have ? PETSC_TRUE : PETSC_FALSE;
  if (cfg->cal.volume[0] || seg_cal) PetscCall(EstimateCalibration(&E, est));
  const PetscBool simulate =
    (!cfg->seg.volume[0] && !cfg->seg.images[0]) || cfg->cal.volume[0] || cfg->input.image[0] || seg_cal;
  if (simulate && !(cfg->cal.volume[0] && !cfg->cal.simulate) &&
      !(!cfg->cal.volume[0] && seg_cal && !cfg->cal.simulate))
    PetscCall(EstimateSweep(&E, est));
  est->peak = -1;
  for (int s = 0; s < PG_MEMORY_NSTAGES; s++)
    if (est->active[s] && (est->peak < 0 || est->bytes[s] > est->bytes[est->peak])) est->peak = s;
  PetscCall(PgMemoryAvailable(comm, &est->available, &est->ranks_per_node, est->source, sizeof est->source));
  PetscFunctionReturn(0);
}

/* A number from a file (its first token), or -1; "max" is -1 too (no limit). */
static double ReadNumber(const char *path)
{
  FILE  *f       = fopen(path, "r");
  char   buf[64] = "";
  double v       = -1;

  if (!f) return -1;
  if (fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3)) {
    char *end;
    v = strtod(buf, &end);
    if (end == buf) v = -1;
  }
  fclose(f);
  return v;
}

/* The cgroup's memory limit minus its usage, in bytes, or -1 when unlimited or unknown. */
static double CgroupAvailable(void)
{
  FILE  *f = fopen("/proc/self/cgroup", "r");
  char   line[1024], path[PETSC_MAX_PATH_LEN + 64];
  double best = -1;

  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    char *nl = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (nl) *nl = 0;
    if (!c2) continue;
    const char *rel = c2 + 1;
    const int   v2  = !strncmp(line, "0::", 3);
    if (!v2 && !strstr(c1, "memory")) continue;
    /* the group's own directory, else (a cgroup namespace) the mount's root */
    for (int root = 0; root < 2; root++) {
      double lim, use;
      if (v2) {
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", root ? "" : rel);
        lim = ReadNumber(path);
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", root ? "" : rel);
        use = ReadNumber(path);
      } else {
        snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", root ? "" : rel);
        lim = ReadNumber(path);
        snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", root ? "" : rel);
        use = ReadNumber(path);
      }
      if (lim < 0) continue;
      if (lim < 1e18) { /* v1 writes "unlimited" as a huge number */
        const double a = lim - PetscMax(use, 0.0);
        best           = best < 0 ? a : PetscMin(best, a);
      }
      break;
    }
  }
  fclose(f);
  return best;
}

static double MemAvailable(void)
{
  FILE  *f = fopen("/proc/meminfo", "r");
  char   line[256];
  double kb = -1;

  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "MemAvailable:", 13)) kb = atof(line + 13);
  fclose(f);
  return kb < 0 ? -1 : kb * 1024.0;
}

PetscErrorCode PgMemoryAvailable(MPI_Comm comm, double *bytes, int *ranks_per_node, char *source, size_t len)
{
  MPI_Comm node;
  int      nrank, nsize;
  struct {
    double bytes;
    int    rank;
  } mine, least;
  char text[256] = "unknown";

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Comm_rank(node, &nrank));
  PetscCallMPI(MPI_Comm_size(node, &nsize));
  PetscCallMPI(MPI_Comm_free(&node));
  mine.bytes = HUGE_VAL;
  {
    const char *mpc = getenv("SLURM_MEM_PER_CPU"), *mpn = getenv("SLURM_MEM_PER_NODE"),
               *cpt = getenv("SLURM_CPUS_PER_TASK");
    const double cg = CgroupAvailable(), ma = MemAvailable();
    if (mpc && atof(mpc) > 0) {
      const double c = PetscMax(1.0, cpt ? atof(cpt) : 1.0), b = atof(mpc) * 1048576.0 * c;
      if (b < mine.bytes) {
        mine.bytes = b;
        snprintf(text, sizeof text, "SLURM_MEM_PER_CPU = %s MB x %g CPUs per task", mpc, c);
      }
    } else if (mpn && atof(mpn) > 0) {
      const double b = atof(mpn) * 1048576.0 / nsize;
      if (b < mine.bytes) {
        mine.bytes = b;
        snprintf(text, sizeof text, "SLURM_MEM_PER_NODE = %s MB / %d rank%s on the node", mpn, nsize,
                 nsize > 1 ? "s" : "");
      }
    }
    if (cg >= 0 && cg / nsize < mine.bytes) {
      mine.bytes = cg / nsize;
      snprintf(text, sizeof text, "cgroup limit minus usage / %d rank%s on the node", nsize, nsize > 1 ? "s" : "");
    }
    if (ma >= 0 && ma / nsize < mine.bytes) {
      mine.bytes = ma / nsize;
      snprintf(text, sizeof text, "MemAvailable / %d rank%s on the node", nsize, nsize > 1 ? "s" : "");
    }
  }
  PetscCallMPI(MPI_Comm_rank(comm, &mine.rank));
  PetscCallMPI(MPI_Allreduce(&mine, &least, 1, MPI_DOUBLE_INT, MPI_MINLOC, comm));
  /* the source as seen on the rank with the least */
  PetscCallMPI(MPI_Bcast(text, (int)sizeof text, MPI_CHAR, least.rank, comm));
  snprintf(source, len, "%s", text);
  *bytes = least.bytes;
  {
    int mx;
    PetscCallMPI(MPI_Allreduce(&nsize, &mx, 1, MPI_INT, MPI_MAX, comm));
    *ranks_per_node = mx;
  }
  PetscFunctionReturn(0);
}

static void Human(double b, char *buf, size_t len)
{
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int         i   = 0;
  while (b >= 1024 && i < 5) {
    b /= 1024;
    i++;
  }
  snprintf(buf, len, i ? "%.3g %s" : "%.0f %s", b, u[i]);
}

PetscErrorCode PgMemoryView(MPI_Comm comm, const PgMemoryEstimate *est)
{
  char a[32], b[32];

  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm, "plurigauss: memory per rank (estimate, %d rank%s, %d per node):\n", est->ranks,
                        est->ranks > 1 ? "s" : "", est->ranks_per_node));
  for (int s = 0; s < PG_MEMORY_NSTAGES; s++) {
    if (!est->active[s]) continue;
    Human(est->bytes[s], a, sizeof a);
    PetscCall(PetscPrintf(comm, "  %-13s %12.0f bytes  %10s%s\n", PgMemoryStageName((PgMemoryStage)s), est->bytes[s], a,
                          s == est->peak ? "  <- peak" : ""));
  }
  Human(est->available, b, sizeof b);
  PetscCall(PetscPrintf(comm, "  %-13s %12.0f bytes  %10s  (%s)\n", "available", est->available, b, est->source));
  PetscFunctionReturn(0);
}

PetscErrorCode PgMemoryCheck(MPI_Comm comm, const PgConfig *cfg)
{
  PgMemoryEstimate est;
  char             need[32], have[32];

  PetscFunctionBeginUser;
  PetscCall(PgMemoryEstimateCompute(comm, cfg, &est));
  if (est.peak < 0) PetscFunctionReturn(0);
  Human(est.bytes[est.peak], need, sizeof need);
  Human(est.available, have, sizeof have);
  if (cfg->run.memory_report) PetscCall(PgMemoryView(comm, &est));
  else
    PetscCall(PetscPrintf(comm, "plurigauss: memory per rank: peak %s (%s) of %s available (%s)\n", need,
                          PgMemoryStageName((PgMemoryStage)est.peak), have, est.source));
  if (est.bytes[est.peak] > est.available) {
    PetscCheck(
      !cfg->run.memory_check, comm, PETSC_ERR_USER_INPUT,
      "not enough memory: stage %s needs about %s (%.0f bytes) per rank, %s (%.0f bytes) are available per rank (%s); use more ranks or nodes, fft.memory = low, single precision or fewer descriptors, or set run.memory_check = false to try anyway",
      PgMemoryStageName((PgMemoryStage)est.peak), need, est.bytes[est.peak], have, est.available, est.source);
    PetscCall(PetscPrintf(
      comm,
      "plurigauss: warning: stage %s needs about %s per rank, more than the %s available; going on (run.memory_check = false)\n",
      PgMemoryStageName((PgMemoryStage)est.peak), need, have));
  }
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Deck keys: run.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

const PgKey PgRunKeys[] = {
  {"run_memory_check", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "refuse a deck whose largest stage needs more memory per rank than is available (estimate before any file is touched)"},
  {"run_memory_report", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "print the memory estimate of every stage (bytes per rank) instead of its one-line summary"},
};
const int PgRunNKeys = (int)(sizeof PgRunKeys / sizeof PgRunKeys[0]);

PetscErrorCode PgRunLoadOptions(PgDeck deck, PgRunOptions *o)
{
  PetscFunctionBeginUser;
  o->memory_check  = PgDeckGet(deck, "run_memory_check")->v[0] != 0;
  o->memory_report = PgDeckGet(deck, "run_memory_report")->v[0] != 0;
  PetscFunctionReturn(0);
}
