/// \file
/// Calibration of Section 3.2, and the data of the validation of Section 4.1.
///
/// Data. The 3D volume (only NVP resolved: label 1 = NVP, anything else = not NVP) is read on its
/// own slab decomposition and mapped to labels {1, 3}; C_11 comes from the distributed,
/// non-periodic (minus sampling) covariance of covariance.c, nothing gathers the volume. The 2D
/// images are small: rank 0 reads and checks them, every rank receives them, and image k is
/// transformed on PETSC_COMM_SELF by rank k mod P (the curves are then broadcast), so the 2D
/// curves are bit-identical at every rank count. Curves are radial averages in µm, each bin placed
/// at the mean length of its lag vectors; bins are the pixel edge wide in 2D and a quarter of the
/// smallest voxel edge for C11 in 3D, whose coarser voxels and steeper curve made the bin average
/// of the curved C11 bias alpha_X by -0.4 % at full-voxel bins (empty bins are skipped).
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
///     particles and a mismatch of the long-range limits biases rho_Y (docs/methods.md). With
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
#include <plurigauss/files.h>
#include <plurigauss/image.h>
#include <plurigauss/model.h>
#include <plurigauss/opening.h>
#include <plurigauss/segment.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <math.h>
#include <string.h>
#include <unistd.h>


/* --------------------------------------------------------------------------------------------
 * Fits
 * -------------------------------------------------------------------------------------------- */

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
  for (int i = 0; i < d->n; i++)
    gsl_matrix_set(J, (size_t)i, 0, -2 * a * d->h[i] * d->h[i] * exp(-(a * d->h[i]) * (a * d->h[i])));
  return GSL_SUCCESS;
}

PetscErrorCode PgCalibrateFitAlpha(int n, const double *h, const double *rho, double *alpha)
{
  FitData                         d = {n, h, rho};
  gsl_multifit_nlinear_fdf        fdf;
  gsl_multifit_nlinear_parameters par = gsl_multifit_nlinear_default_parameters();
  gsl_multifit_nlinear_workspace *w;
  double                          a0 = NAN;
  int                             info;

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
  PetscCheck(status == GSL_SUCCESS, PETSC_COMM_SELF, PETSC_ERR_LIB, "least squares for alpha did not converge: %s",
             gsl_strerror(status));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Inputs
 * -------------------------------------------------------------------------------------------- */

typedef struct {
  int      nx, ny;
  double   px, py; /* pixel edges (µm) */
  uint8_t *v;      /* [y][x] labels 1, 2, 3 */
} Image2D;

struct PgCalibration_private {
  MPI_Comm        comm;
  int             rank, size;
  const PgConfig *cfg;
  char            from_volume[PETSC_MAX_PATH_LEN], from_images[PETSC_MAX_PATH_LEN]; /* where the labels came from */
  /* data */
  PgGrid   vgrid; /* the 3D volume's decomposition */
  PgLabels vol;   /* NVP = 1, the rest = 3 */
  int      nimg;
  Image2D *img;
  /* estimates */
  double  eps1, eps2d[3], eps[3]; /* 3D eps1; pooled 2D fractions; eqs. 2-3 */
  double  lx, lz, ax, ay, m;      /* Table 1 */
  double  lx2, e2for2d, lz2;      /* the fractions behind eqs. 10, 11 and lambda_Z there at m */
  int     nb3, nb2, nm, im, nclamp_x, nclamp_y;
  double *r3, *c11, *rhox, *clx;                  /* 3D points: lag (µm), C11, rho_X, clamped (0/1) */
  double *r2, *c2[PG_NPAIRS], *rhoy, *cly, *cnt2; /* pooled 2D radial curves, rho_Y at m */
  double *mgrid, *misfit, *lzgrid;                /* the m grid, eq. 11 misfit, lambda_Z,2D(m) */
  double *theory[PG_NPAIRS];                      /* calibrated model's C_ij at r2 */
  /* validation, Figure 4: the 2D continuous phase size distribution of every image */
  int     npsd; /* levels (radii (k + 1) * psd_step) */
  double  psd_step;
  double *psd[3]; /* per phase [level][image] */
  /* validation: realizations */
  int     nreal, nbv;
  double *rv, *cv[PG_NPAIRS]; /* sums of centred radial curves */
  double  em[3];              /* the calibrated model's fractions, for the validation table */
};

/* The deck keys of the calibration inputs (3D volume: dims = 3; 2D images: dims = 2). */
static void InputSpec(const PgConfig *cfg, int dims, PgInputSpec *s)
{
  s->key       = dims == 3 ? "calibration.volume" : "calibration.images";
  s->shape_key = dims == 3 ? "calibration.volume_shape" : "calibration.image_shape";
  s->voxel_key = dims == 3 ? "calibration.volume_voxel_um" : "calibration.pixel_um";
  s->type_key  = "calibration.raw_type";
  s->shape     = dims == 3 ? cfg->cal.volume_shape : cfg->cal.image_shape;
  s->voxel_um  = dims == 3 ? cfg->cal.volume_voxel_um : cfg->cal.pixel_um;
  s->raw_type  = cfg->cal.raw_type;
  s->dims      = dims;
  s->values    = dims == 3 ? PG_VALUES_NVP : PG_VALUES_LABELS;
  s->map       = dims == 3 ? &cfg->cal.volume_labels : &cfg->cal.images_labels;
  s->map_key =
    dims == 3 ? (cfg->cal.volume_labels.given ? "calibration.volume_labels" : "input.labels") : "input.labels";
}

/* Rank 0: reads a checked 2D image into v ([y][x]), its values mapped to the phases. */
static void ReadImage2D(const PgConfig *cfg, const char *spec, uint8_t *v, PgInputProbe *r)
{
  PgInputSpec s;

  InputSpec(cfg, 2, &s);
  r->ok = PgInputRead2D(&s, spec, r, v, r->msg, sizeof r->msg);
}

/* The 3D volume onto its slabs, as labels {1 = NVP, 3 = anything else} (calibration.volume_labels). */
static PetscErrorCode ReadVolume(PgCalibration c, const PgInputProbe *r)
{
  PgInputSpec s;

  PetscFunctionBeginUser;
  InputSpec(c->cfg, 3, &s);
  PetscCall(PgInputReadSlab(c->vgrid, &s, c->cfg->cal.volume, r, c->vol->v));
  PetscFunctionReturn(0);
}

/* The inputs named by the deck: the volume checked on rank 0 and read on its slabs, the 2D images
 * checked and read on rank 0 and broadcast. */
static PetscErrorCode ReadInputs(PgCalibration c)
{
  const PgConfig *cfg = c->cfg;
  PgInputProbe    r, vr;
  PgInputSpec     vs, is;
  char            list[PETSC_MAX_PATH_LEN], *specs[PG_MAX_IMAGES];

  PetscFunctionBeginUser;
  snprintf(c->from_volume, sizeof c->from_volume, "%s", cfg->cal.volume);
  snprintf(c->from_images, sizeof c->from_images, "%s", cfg->cal.images);
  InputSpec(cfg, 3, &vs);
  InputSpec(cfg, 2, &is);
  PetscCall(PgInputCheck(c->comm, &vs, cfg->cal.volume, &vr));
  {
    PetscInt n[3] = {(PetscInt)vr.n[0], (PetscInt)vr.n[1], (PetscInt)vr.n[2]};
    PetscCall(PgGridCreate(c->comm, n, vr.voxel, (int)cfg->fft.threads, &c->vgrid));
  }
  snprintf(list, sizeof list, "%s", cfg->cal.images);
  PetscCall(PgInputSplitList(c->comm, "calibration.images", list, specs, &c->nimg));
  PetscCheck(c->nimg > 0, c->comm, PETSC_ERR_USER_INPUT, "calibration.images = '%s' names no image", cfg->cal.images);
  PetscCall(PetscCalloc1(c->nimg, &c->img));
  for (int k = 0; k < c->nimg; k++) {
    Image2D *im = &c->img[k];
    PetscCall(PgInputCheck(c->comm, &is, specs[k], &r));
    im->nx = (int)r.n[0];
    im->ny = (int)r.n[1];
    im->px = r.voxel[0];
    im->py = r.voxel[1];
    PetscCheck(fabs(im->px - c->img[0].px) <= 1e-9 * c->img[0].px && fabs(im->py - c->img[0].py) <= 1e-9 * c->img[0].py,
               c->comm, PETSC_ERR_USER_INPUT,
               "calibration.images: inconsistent pixel sizes, %s has %g x %g um but %s has %g x %g um", specs[k],
               im->px, im->py, specs[0], c->img[0].px, c->img[0].py);
    PetscCall(PetscMalloc1((size_t)im->nx * im->ny, &im->v));
    if (c->rank == 0) ReadImage2D(cfg, specs[k], im->v, &r);
    PetscCallMPI(MPI_Bcast(&r, (int)sizeof r, MPI_BYTE, 0, c->comm));
    PetscCheck(r.ok, c->comm, PETSC_ERR_USER_INPUT, "%s", r.msg);
    PetscCallMPI(MPI_Bcast(im->v, im->nx * im->ny, MPI_UNSIGNED_CHAR, 0, c->comm));
  }
  PetscCall(PgLabelsCreate(c->vgrid, &c->vol));
  PetscCall(ReadVolume(c, &vr));
  PetscFunctionReturn(0);
}

/* The labels of a segmentation, in memory: the stack's on the same slabs (1 = NVP, any other label,
 * 255 outside the mask included, not NVP), image k broadcast from the rank that segmented it. Their
 * provenance is the labels file the segmentation wrote. */
static PetscErrorCode TakeSegmentation(PgCalibration c, PgSegmentation seg)
{
  PgGrid         sg;
  const uint8_t *sv;
  const char    *lf = PgSegmentationLabelsFile(seg);
  size_t         o  = 0;

  PetscFunctionBeginUser;
  PgSegmentationVolume(seg, &sg, &sv);
  PetscCall(PgGridCreate(c->comm, sg->n, sg->voxel_um, sg->threads, &c->vgrid));
  PetscCheck(PgGridLocalVoxels(c->vgrid) == PgGridLocalVoxels(sg) && c->vgrid->z_start == sg->z_start, PETSC_COMM_SELF,
             PETSC_ERR_PLIB, "the calibration's slabs differ from the segmentation's");
  PetscCall(PgLabelsCreate(c->vgrid, &c->vol));
  for (size_t i = 0; i < PgGridLocalVoxels(sg); i++) c->vol->v[i] = sv[i] == 1 ? 1 : 3;
  c->nimg = PgSegmentationNumImages(seg);
  PetscCall(PetscCalloc1(c->nimg, &c->img));
  snprintf(c->from_volume, sizeof c->from_volume, "%s:/volume", lf);
  for (int k = 0; k < c->nimg; k++) {
    Image2D       *im = &c->img[k];
    double         px[2];
    int            owner;
    const uint8_t *v;
    PgSegmentationImage(seg, k, &im->nx, &im->ny, px, &owner, &v);
    im->px = px[0];
    im->py = px[1];
    PetscCall(PetscMalloc1((size_t)im->nx * im->ny, &im->v));
    if (v) PetscCall(PetscArraycpy(im->v, v, (size_t)im->nx * im->ny));
    PetscCallMPI(MPI_Bcast(im->v, im->nx * im->ny, MPI_UNSIGNED_CHAR, owner, c->comm));
    int w = snprintf(c->from_images + o, sizeof c->from_images - o, "%s%s:/images/%d", k ? "," : "", lf, k);
    PetscCheck(w > 0 && (size_t)w < sizeof c->from_images - o, c->comm, PETSC_ERR_USER_INPUT,
               "segment.images: %d images with labels file %s make too long a list for calibration.images", c->nimg,
               lf);
    o += (size_t)w;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrationCreate(MPI_Comm comm, const PgConfig *cfg, PgSegmentation seg, PgCalibration *calp)
{
  PgCalibration  c;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&c));
  c->comm = comm;
  c->cfg  = cfg;
  PetscCallMPI(MPI_Comm_rank(comm, &c->rank));
  PetscCallMPI(MPI_Comm_size(comm, &c->size));
  ierr = seg ? TakeSegmentation(c, seg) : ReadInputs(c);
  if (ierr) PetscCall(PgCalibrationDestroy(&c));
  PetscCall(ierr);
  *calp = c;
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Estimation
 * -------------------------------------------------------------------------------------------- */

/* Pooled radial curves of the 2D images: image k is transformed on PETSC_COMM_SELF by rank
 * k mod P and its curves broadcast; curves are pooled with the image areas as weights. */
static PetscErrorCode Curves2D(PgCalibration c)
{
  double wsum = 0, n2[3] = {0, 0, 0};
  int    nb = INT_MAX;

  PetscFunctionBeginUser;
  /* the common number of bins: all images share the pixel size, the cap depends on the shape */
  for (int k = 0; k < c->nimg; k++) {
    const Image2D *im  = &c->img[k];
    double         cap = PetscMin((im->nx - 1) * im->px, (im->ny - 1) * im->py), vmin = PetscMin(im->px, im->py);
    nb = PetscMin(nb, (int)floor(PetscMin(c->cfg->cal.range_um, cap) / vmin + 1e-9) + 1);
  }
  c->nb2 = nb;
  PetscCall(PetscCalloc3(nb, &c->r2, nb, &c->cnt2, nb, &c->rhoy));
  PetscCall(PetscCalloc1(nb, &c->cly));
  for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscCalloc2(nb, &c->c2[p], nb, &c->theory[p]));
  for (int k = 0; k < c->nimg; k++) {
    const Image2D *im  = &c->img[k];
    const int      own = k % c->size;
    double        *buf; /* 6 curves, r_mean, count, fractions */
    PetscCall(PetscCalloc1((size_t)(PG_NPAIRS + 2) * nb + 3, &buf));
    if (c->rank == own) {
      PgGrid        g;
      PgLabels      l;
      PgCovariance  cov;
      PetscInt      n[3]     = {im->nx, im->ny, 1};
      double        voxel[3] = {im->px, im->py, im->px};
      int           nbins;
      const double *cur, *cnt, *rm;
      PetscCall(PgGridCreate(PETSC_COMM_SELF, n, voxel, 1, &g));
      PetscCall(PgLabelsCreate(g, &l));
      PetscCall(PetscArraycpy(l->v, im->v, (size_t)im->nx * im->ny));
      PetscCall(PgCovarianceCreate(g, PETSC_FALSE, c->cfg->cal.range_um, PG_PLANNER_ESTIMATE, &cov));
      PetscCall(PgCovarianceCompute(cov, l));
      for (int p = 0; p < PG_NPAIRS; p++) {
        PetscCall(PgCovarianceGetRadial(cov, p, &nbins, NULL, &cur));
        PetscCheck(nbins >= nb, PETSC_COMM_SELF, PETSC_ERR_PLIB, "image %d: %d radial bins, %d expected", k, nbins, nb);
        PetscCall(PetscArraycpy(buf + (size_t)p * nb, cur, nb));
      }
      PetscCall(PgCovarianceGetRadialLags(cov, &nbins, &cnt, &rm));
      PetscCall(PetscArraycpy(buf + (size_t)PG_NPAIRS * nb, rm, nb));
      PetscCall(PetscArraycpy(buf + (size_t)(PG_NPAIRS + 1) * nb, cnt, nb));
      PetscCall(PgLabelsVolumeFractions(l, buf + (size_t)(PG_NPAIRS + 2) * nb));
      PetscCall(PgCovarianceDestroy(&cov));
      PetscCall(PgLabelsDestroy(&l));
      PetscCall(PgGridDestroy(&g));
    }
    PetscCallMPI(MPI_Bcast(buf, (PG_NPAIRS + 2) * nb + 3, MPI_DOUBLE, own, c->comm));
    const double w = (double)im->nx * im->ny;
    for (int p = 0; p < PG_NPAIRS; p++)
      for (int b = 0; b < nb; b++) c->c2[p][b] += w * buf[(size_t)p * nb + b];
    for (int b = 0; b < nb; b++) {
      c->r2[b] += w * buf[(size_t)PG_NPAIRS * nb + b];
      c->cnt2[b] += buf[(size_t)(PG_NPAIRS + 1) * nb + b];
    }
    for (int i = 0; i < 3; i++) n2[i] += w * buf[(size_t)(PG_NPAIRS + 2) * nb + i];
    wsum += w;
    PetscCall(PetscFree(buf));
  }
  for (int p = 0; p < PG_NPAIRS; p++)
    for (int b = 0; b < nb; b++) c->c2[p][b] /= wsum;
  for (int b = 0; b < nb; b++) c->r2[b] /= wsum;
  for (int i = 0; i < 3; i++) c->eps2d[i] = n2[i] / wsum;
  PetscFunctionReturn(0);
}

/* C11 of the volume (distributed, minus sampling): radial bins, or the x and y lags only */
static PetscErrorCode Curves3D(PgCalibration c)
{
  PgCovariance  cov;
  const double *cur, *cx, *cy, *rm;
  int           nb, nlx, nly;

  PetscFunctionBeginUser;
  /* radial bins of a quarter voxel: at full-voxel bins the bin average of the curved C11 biased
     alpha_X by -0.4 % (second order in the width; measured over 8 seeds) */
  const double vmin = PetscMin(PetscMin(c->vgrid->voxel_um[0], c->vgrid->voxel_um[1]), c->vgrid->voxel_um[2]);
  PetscCall(PgCovarianceCreateWithBin(c->vgrid, PETSC_FALSE, c->cfg->cal.range_um,
                                      c->cfg->cal.c11 == 0 ? 0.25 * vmin : 0, PG_PLANNER_ESTIMATE, &cov));
  PetscCall(PgCovarianceCompute(cov, c->vol));
  PetscCall(PgCovarianceGetRadial(cov, 0, &nb, NULL, &cur));
  c->eps1 = cur[0]; /* C11(0) = eps1, the voxel count */
  if (c->cfg->cal.c11 == 0) {
    const double *cnt;
    PetscCall(PgCovarianceGetRadialLags(cov, &nb, &cnt, &rm));
    c->nb3 = 0;
    for (int b = 1; b < nb; b++) c->nb3 += cnt[b] > 0;
    PetscCall(PetscCalloc4(c->nb3, &c->r3, c->nb3, &c->c11, c->nb3, &c->rhox, c->nb3, &c->clx));
    for (int b = 1, k = 0; b < nb; b++)
      if (cnt[b] > 0) { /* the bins that hold lag vectors */
        c->r3[k]    = rm[b];
        c->c11[k++] = cur[b];
      }
  } else {
    PetscCall(PgCovarianceGetDirectional(cov, 0, 0, &nlx, &cx));
    PetscCall(PgCovarianceGetDirectional(cov, 0, 1, &nly, &cy));
    c->nb3 = nlx - 1 + nly - 1;
    PetscCall(PetscCalloc4(c->nb3, &c->r3, c->nb3, &c->c11, c->nb3, &c->rhox, c->nb3, &c->clx));
    for (int a = 1; a < nlx; a++) {
      c->r3[a - 1]  = a * c->vgrid->voxel_um[0];
      c->c11[a - 1] = cx[a];
    }
    for (int a = 1; a < nly; a++) {
      c->r3[nlx - 2 + a]  = a * c->vgrid->voxel_um[1];
      c->c11[nlx - 2 + a] = cy[a];
    }
  }
  PetscCall(PgCovarianceDestroy(&cov));
  PetscFunctionReturn(0);
}

/* Points b = 0..n-1 split over the ranks (b mod P); the others' zeros summed away. */
#define MINE(c, b) ((b) % (c)->size == (c)->rank)

static PetscErrorCode FitPoints(MPI_Comm comm, int n, const double *r, const double *rho, double range, double *alpha)
{
  double *h, *v;
  int     k = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(n, &h, n, &v));
  for (int b = 0; b < n; b++)
    if (r[b] > 0 && r[b] <= range * (1 + 1e-9) && isfinite(rho[b])) {
      h[k]   = r[b];
      v[k++] = rho[b];
    }
  PetscCheck(k >= 2, comm, PETSC_ERR_USER_INPUT,
             "calibration.range_um = %g leaves %d lag%s to fit alpha to; at least 2 are needed", range, k,
             k == 1 ? "" : "s");
  PetscCall(PgCalibrateFitAlpha(k, h, v, alpha));
  PetscCall(PetscFree2(h, v));
  PetscFunctionReturn(0);
}

/* The 2D cPSD (eq. 13, disks, minus-sampling at the image edges) of every image and phase, each
 * image on its owner rank (k mod size) as a one-plane grid on PETSC_COMM_SELF, then summed to
 * every rank; levels beyond an image's largest disk are 0. */
static PetscErrorCode Psd2D(PgCalibration c)
{
  int     nl   = 0, *mine;
  double  step = HUGE_VAL;
  double *buf;

  PetscFunctionBeginUser;
  for (int k = 0; k < c->nimg; k++) step = PetscMin(step, PetscMin(c->img[k].px, c->img[k].py));
  c->psd_step = step;
  PetscCall(PetscCalloc1(3 * (size_t)c->nimg, &mine));
  /* first pass: the levels of each image (an image's curve has at most half its side / step) */
  for (int k = 0; k < c->nimg; k++)
    nl = PetscMax(nl, (int)floor(0.5 * PetscMin(c->img[k].nx * c->img[k].px, c->img[k].ny * c->img[k].py) / step) + 1);
  c->npsd = nl;
  PetscCall(PetscCalloc1(3 * (size_t)nl * c->nimg, &buf));
  for (int k = 0; k < c->nimg; k++) {
    const Image2D *im = &c->img[k];
    if (c->rank != k % c->size) continue;
    PgGrid          g;
    PgOpening       op;
    PgOpeningResult res;
    PetscInt        n[3]     = {im->nx, im->ny, 1};
    double          voxel[3] = {im->px, im->py, step};
    PetscCall(PgGridCreate(PETSC_COMM_SELF, n, voxel, 1, &g));
    PetscCall(PgOpeningCreate(g, PETSC_FALSE, step, &op));
    for (int i = 0; i < 3; i++) {
      PetscCall(PgOpeningCompute(op, im->v, (uint8_t)(i + 1), PETSC_TRUE, 0, PETSC_FALSE, &res));
      for (int l = 0; l < PetscMin(res.n2, nl); l++) buf[((size_t)i * nl + l) * c->nimg + k] = res.psd2[l];
    }
    PetscCall(PgOpeningDestroy(&op));
    PetscCall(PgGridDestroy(&g));
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, buf, 3 * nl * c->nimg, MPI_DOUBLE, MPI_SUM, c->comm));
  { /* keep the levels up to the first where every curve is 0 */
    int used = 0;
    for (int i = 0; i < 3; i++)
      for (int l = 0; l < nl; l++)
        for (int k = 0; k < c->nimg; k++)
          if (buf[((size_t)i * nl + l) * c->nimg + k] > 0) used = PetscMax(used, l + 1);
    c->npsd = PetscMin(used + 1, nl);
  }
  for (int i = 0; i < 3; i++) {
    PetscCall(PetscMalloc1((size_t)c->npsd * c->nimg, &c->psd[i]));
    PetscCall(PetscArraycpy(c->psd[i], buf + (size_t)i * nl * c->nimg, (size_t)c->npsd * c->nimg));
  }
  PetscCall(PetscFree(buf));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(0);
}

/* eq. 7 point by point (rho_X at every 3D lag), eq. 8 by least squares (alpha_X). */
static PetscErrorCode FitAlphaX(PgCalibration c)
{
  PetscFunctionBeginUser;
  PetscCall(PetscArrayzero(c->rhox, c->nb3));
  PetscCall(PetscArrayzero(c->clx, c->nb3));
  for (int b = 0; b < c->nb3; b++)
    if (MINE(c, b)) {
      int cl;
      PetscCall(PgModelInvertC11(c->lx, c->c11[b], &c->rhox[b], &cl));
      c->clx[b] = cl;
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->rhox, c->nb3, MPI_DOUBLE, MPI_SUM, c->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->clx, c->nb3, MPI_DOUBLE, MPI_SUM, c->comm));
  PetscCall(FitPoints(c->comm, c->nb3, c->r3, c->rhox, c->cfg->cal.range_um, &c->ax));
  PetscFunctionReturn(0);
}

/* The m grid: lambda_Z,2D(m) by eq. 9 and the misfit of eq. 11 against the data's C12 within the
 * range; m is the best point (or the deck's, calibration.fix_m), lambda_Z follows by eq. 9. */
static PetscErrorCode ScanM(PgCalibration c, PgOrthant q)
{
  const PgConfig *cfg   = c->cfg;
  const double    range = cfg->cal.range_um;

  PetscFunctionBeginUser;
  c->nm = (int)ceil(1.0 / cfg->cal.m_step - 1e-9) + 1;
  PetscCall(PetscCalloc3(c->nm, &c->mgrid, c->nm, &c->misfit, c->nm, &c->lzgrid));
  for (int i = 0; i < c->nm; i++) {
    c->mgrid[i] = PetscMin(1.0, i * cfg->cal.m_step);
    if (!MINE(c, i)) continue;
    double lz2, s = 0;
    PetscCall(PgModelLambdaZ(c->lx2, c->mgrid[i], c->e2for2d, &lz2));
    for (int b = 1; b < c->nb2; b++) {
      if (c->r2[b] > range * (1 + 1e-9)) continue;
      double v;
      PetscCall(PgModelC12(q, c->lx2, lz2, c->mgrid[i], exp(-(c->ax * c->r2[b]) * (c->ax * c->r2[b])), &v));
      s += (v - c->c2[1][b]) * (v - c->c2[1][b]);
    }
    c->misfit[i] = s;
    c->lzgrid[i] = lz2;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->misfit, c->nm, MPI_DOUBLE, MPI_SUM, c->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->lzgrid, c->nm, MPI_DOUBLE, MPI_SUM, c->comm));
  c->im = 0;
  for (int i = 1; i < c->nm; i++)
    if (c->misfit[i] < c->misfit[c->im]) c->im = i;
  if (cfg->cal.fix_m) {
    c->m = cfg->model.m;
    PetscCall(PgModelLambdaZ(c->lx2, c->m, c->e2for2d, &c->lz2));
  } else {
    c->m   = c->mgrid[c->im];
    c->lz2 = c->lzgrid[c->im];
  }
  PetscCall(PgModelLambdaZ(c->lx, c->m, c->eps[1], &c->lz)); /* Table 1: eq. 9 with eqs. 2, 6 */
  PetscFunctionReturn(0);
}

/* eq. 10 point by point at m (rho_Y at every 2D lag), eq. 12 by least squares (alpha_Y). */
static PetscErrorCode FitAlphaY(PgCalibration c)
{
  PetscFunctionBeginUser;
  for (int b = 1; b < c->nb2; b++)
    if (MINE(c, b)) {
      int cl;
      PetscCall(PgModelInvertC22(c->lx2, c->lz2, c->m, exp(-(c->ax * c->r2[b]) * (c->ax * c->r2[b])), c->c2[3][b],
                                 &c->rhoy[b], &cl));
      c->cly[b] = cl;
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->rhoy, c->nb2, MPI_DOUBLE, MPI_SUM, c->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->cly, c->nb2, MPI_DOUBLE, MPI_SUM, c->comm));
  c->rhoy[0] = 1;
  PetscCall(FitPoints(c->comm, c->nb2 - 1, c->r2 + 1, c->rhoy + 1, c->cfg->cal.range_um, &c->ay));
  c->nclamp_x = c->nclamp_y = 0;
  for (int b = 0; b < c->nb3; b++) c->nclamp_x += c->clx[b] != 0;
  for (int b = 1; b < c->nb2; b++) c->nclamp_y += c->cly[b] != 0;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrationRun(PgCalibration c)
{
  const PgConfig *cfg = c->cfg;
  PgOrthant       q   = NULL;

  PetscFunctionBeginUser;
  PetscCall(PgOrthantCreate(&q));
  PetscCall(Curves3D(c));
  PetscCall(Curves2D(c));
  PetscCall(Psd2D(c));
  /* eps1 is C11(0) of an FFT: within rounding of the count, so half a voxel decides */
  const double nvox = PgGridGlobalVoxels(c->vgrid);
  PetscCheck(c->eps1 * nvox > 0.5 && (1 - c->eps1) * nvox > 0.5, c->comm, PETSC_ERR_USER_INPUT,
             "calibration.volume = %s: NVP fraction %g; the volume must hold both label 1 (NVP) and other labels",
             cfg->cal.volume, c->eps1);
  for (int i = 0; i < 3; i++)
    PetscCheck(c->eps2d[i] > 0, c->comm, PETSC_ERR_USER_INPUT,
               "calibration.images: no pixel of phase %d; the 2D images must show all three phases", i + 1);

  /* eqs. 2-3 and 6 */
  c->eps[0] = c->eps1;
  c->eps[1] = (1 - c->eps1) * c->eps2d[1] / (c->eps2d[1] + c->eps2d[2]);
  c->eps[2] = (1 - c->eps1) * c->eps2d[2] / (c->eps2d[1] + c->eps2d[2]);
  c->lx     = PgModelLambdaX(c->eps1);
  PetscCall(FitAlphaX(c));
  /* the fractions behind eqs. 10, 11 */
  c->lx2     = cfg->cal.fractions_2d == 0 ? PgModelLambdaX(c->eps2d[0]) : c->lx;
  c->e2for2d = cfg->cal.fractions_2d == 0 ? c->eps2d[1] : c->eps[1];
  PetscCall(ScanM(c, q));
  PetscCall(FitAlphaY(c));

  /* the calibrated model's C_ij at the 2D lags (validation, Figure 3) */
  for (int b = 0; b < c->nb2; b++) {
    double v[PG_NPAIRS] = {0};
    if (MINE(c, b))
      PetscCall(PgModelTwoPoint(c->lx, c->lz, c->m, exp(-(c->ax * c->r2[b]) * (c->ax * c->r2[b])),
                                exp(-(c->ay * c->r2[b]) * (c->ay * c->r2[b])), v));
    for (int p = 0; p < PG_NPAIRS; p++) c->theory[p][b] = v[p];
  }
  for (int p = 0; p < PG_NPAIRS; p++)
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->theory[p], c->nb2, MPI_DOUBLE, MPI_SUM, c->comm));
  PetscCall(PgOrthantDestroy(&q));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrationView(PgCalibration c)
{
  const char     *name[5] = {"lambda_X", "lambda_Z", "alpha_X [1/um]", "alpha_Y [1/um]", "m"};
  double          est[5]  = {c->lx, c->lz, c->ax, c->ay, c->m};
  const double   *ref     = c->cfg->cal.reference;
  const PgGrid_s *g       = c->vgrid;

  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(
    c->comm, "calibration: volume %s, %d x %d x %d voxels of %g x %g x %g um; %d image%s of %g x %g um pixels\n",
    c->from_volume, (int)g->n[0], (int)g->n[1], (int)g->n[2], g->voxel_um[0], g->voxel_um[1], g->voxel_um[2], c->nimg,
    c->nimg > 1 ? "s" : "", c->img[0].px, c->img[0].py));
  PetscCall(PetscPrintf(
    c->comm, "calibration: eps1 = %.4f (3D); eps_2D = %.4f, %.4f, %.4f; eqs. 2-3: eps2 = %.4f, eps3 = %.4f\n", c->eps1,
    c->eps2d[0], c->eps2d[1], c->eps2d[2], c->eps[1], c->eps[2]));
  PetscCall(PetscPrintf(
    c->comm,
    "calibration: eqs. 10-11 with %s fractions (lambda_X,2D = %.4f, eps2,2D = %.4f); rho_X from %d lags (%d clamped), rho_Y from %d (%d clamped); m %s\n",
    c->cfg->cal.fractions_2d == 0 ? "the 2D images'" : "the rescaled", c->lx2, c->e2for2d, c->nb3, c->nclamp_x,
    c->nb2 - 1, c->nclamp_y, c->cfg->cal.fix_m ? "fixed by model.m" : "fitted (eq. 11)"));
  PetscCall(PetscPrintf(c->comm, "Table 1  %-16s %12s %12s\n", "parameter", "estimate",
                        c->cfg->cal.have_reference ? "reference" : ""));
  for (int i = 0; i < 5; i++) {
    if (c->cfg->cal.have_reference)
      PetscCall(PetscPrintf(c->comm, "Table 1  %-16s %12.4f %12.4f\n", name[i], est[i], ref[i]));
    else PetscCall(PetscPrintf(c->comm, "Table 1  %-16s %12.4f\n", name[i], est[i]));
  }
  PetscFunctionReturn(0);
}

/* x rounded to 10 significant digits: the model simulated does not depend on the last bits */
static double Round10(double x)
{
  char b[32];
  snprintf(b, sizeof b, "%.10g", x);
  return strtod(b, NULL);
}

PetscErrorCode PgCalibrationModelParams(PgCalibration c, const PgModelParams *deck, const PgDomain *dom,
                                        PgModelParams *mp)
{
  const PgConfig *cfg = c->cfg;

  PetscFunctionBeginUser;
  *mp                           = *deck;
  mp->alpha_x_per_um            = Round10(c->ax);
  mp->alpha_y_per_um            = Round10(c->ay);
  mp->m                         = Round10(c->m);
  mp->have_lambda_x             = PETSC_FALSE;
  mp->nvp_fraction              = Round10(c->eps1);
  mp->origin[PG_PARAM_LAMBDA_X] = mp->origin[PG_PARAM_ALPHA_X] = mp->origin[PG_PARAM_ALPHA_Y] = PG_FROM_CALIBRATION;
  mp->origin[PG_PARAM_M] = cfg->cal.fix_m ? PG_FROM_DECK : PG_FROM_CALIBRATION;
  if (!mp->have_lambda_z && !mp->from_sweep) {
    mp->carbon_fraction[0]        = Round10(c->eps[1]);
    mp->origin[PG_PARAM_LAMBDA_Z] = PG_FROM_CALIBRATION;
  }
  snprintf(mp->calibrated_from, sizeof mp->calibrated_from, "%s|%s", c->from_volume, c->from_images);
  for (int d = 0; d < 3; d++) {
    const double ad = PetscMax(mp->alpha_x_per_um, mp->alpha_y_per_um) * dom->voxel_um[d];
    PetscCheck(
      !cfg->cal.simulate || ad <= 1.0, c->comm, PETSC_ERR_USER_INPUT,
      "domain.voxel_size_um = %g is large against the calibrated 1/alpha = %g um (alpha*voxel = %.3g, allowed <= 1)",
      dom->voxel_um[d], 1.0 / PetscMax(mp->alpha_x_per_um, mp->alpha_y_per_um), ad);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrationAddRealization(PgCalibration c, PgCovariance cov)
{
  const double *cur[PG_NPAIRS], *r;
  int           nb;

  PetscFunctionBeginUser;
  if (!cov) PetscFunctionReturn(0);
  for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PgCovarianceGetRadial(cov, p, &nb, &r, &cur[p]));
  if (!c->rv) {
    c->nbv = nb;
    PetscCall(PetscMalloc1(nb, &c->rv));
    PetscCall(PetscArraycpy(c->rv, r, nb));
    for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscCalloc1(nb, &c->cv[p]));
  }
  const int    pi[PG_NPAIRS] = {0, 0, 0, 1, 1, 2}, pj[PG_NPAIRS] = {0, 1, 2, 1, 2, 2};
  const double e[3] = {cur[0][0], cur[3][0], cur[5][0]}; /* C_ii(0) = eps_i */
  for (int p = 0; p < PG_NPAIRS; p++)
    for (int b = 0; b < PetscMin(nb, c->nbv); b++) c->cv[p][b] += cur[p][b] - e[pi[p]] * e[pj[p]];
  c->nreal++;
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Output
 * -------------------------------------------------------------------------------------------- */

/* A [rows][n] table that every rank holds (cols[i] is row i), written by rank 0 with the attribute
 * rows naming them. */
static PetscErrorCode Table(PgCalibration c, hid_t g, const char *name, int rows, int n, const double *const *cols,
                            const char *columns)
{
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)n};
  double *buf;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1((size_t)PetscMax(rows * n, 1), &buf));
  for (int i = 0; i < rows; i++)
    for (int b = 0; b < n; b++) buf[(size_t)i * n + b] = cols[i][b];
  PetscCall(PgH5WriteSmallAttr(g, c->rank, name, 2, dims, buf, "rows", columns));
  PetscCall(PetscFree(buf));
  PetscFunctionReturn(0);
}

/* The validation table (Figure 3): every curve centred, C_ij - eps_i eps_j, long format. */
static void ValidationText(FILE *f, const void *ctx)
{
  const struct PgCalibration_private *c             = ctx;
  const int                           pi[PG_NPAIRS] = {0, 0, 0, 1, 1, 2}, pj[PG_NPAIRS] = {0, 1, 2, 1, 2, 2};
  const double                        em[3] = {c->em[0], c->em[1], c->em[2]};

  fprintf(f, "source,h_um,C11,C12,C13,C22,C23,C33\n");
  for (int b = 0; b < c->nb3; b++) fprintf(f, "data_3d,%.10g,%.10g,,,,,\n", c->r3[b], c->c11[b] - c->eps1 * c->eps1);
  for (int b = 0; b < c->nb2; b++) {
    fprintf(f, "data_2d,%.10g", c->r2[b]);
    for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.10g", c->c2[p][b] - c->eps2d[pi[p]] * c->eps2d[pj[p]]);
    fprintf(f, "\n");
  }
  for (int b = 0; b < c->nb2; b++) {
    fprintf(f, "model_theory,%.10g", c->r2[b]);
    for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.10g", c->theory[p][b] - em[pi[p]] * em[pj[p]]);
    fprintf(f, "\n");
  }
  for (int b = 0; b < c->nbv && c->nreal; b++) {
    fprintf(f, "model_realizations,%.10g", c->rv[b]);
    for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.10g", c->cv[p][b] / c->nreal);
    fprintf(f, "\n");
  }
}

/* The parameters and settings as attributes of /calibration. */
static PetscErrorCode WriteAttributes(PgCalibration c, hid_t g)
{
  const char  *ref[5] = {"reference_lambda_x", "reference_lambda_z", "reference_alpha_x_per_um",
                         "reference_alpha_y_per_um", "reference_m"};
  const char  *name[] = {"lambda_x", "lambda_z", "alpha_x_per_um", "alpha_y_per_um", "m",
                         "m_fixed",  "eps1",     "eps2",           "eps3",           "eps1_2d",
                         "eps2_2d",  "eps3_2d",  "lambda_x_2d",    "lambda_z_2d",    "range_um"};
  const double v[]    = {
       c->lx,       c->lz,       c->ax,       c->ay,  c->m,   c->cfg->cal.fix_m ? 1 : 0, c->eps[0], c->eps[1], c->eps[2],
       c->eps2d[0], c->eps2d[1], c->eps2d[2], c->lx2, c->lz2, c->cfg->cal.range_um};
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) PgH5Try(&st, PgH5AttrDouble(g, name[i], &v[i], 1));
  PgH5Try(&st, PgH5AttrString(g, "fractions_2d", c->cfg->cal.fractions_2d == 0 ? "own" : "rescaled"));
  PgH5Try(&st, PgH5AttrString(g, "c11", c->cfg->cal.c11 == 0 ? "volume" : "sections"));
  PgH5Try(&st, PgH5AttrString(g, "volume", c->from_volume));
  PgH5Try(&st, PgH5AttrString(g, "images", c->from_images));
  for (int i = 0; i < 5 && c->cfg->cal.have_reference; i++)
    PgH5Try(&st, PgH5AttrDouble(g, ref[i], &c->cfg->cal.reference[i], 1));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

/* Figure 4, the data side: psd2_data_<i> [level][radius um, each image, mean over images]. */
static PetscErrorCode WritePsd(PgCalibration c, hid_t g)
{
  const int w = c->nimg + 2;
  double   *t;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1((size_t)c->npsd * w, &t));
  for (int i = 0; i < 3; i++) {
    char    name[32];
    hsize_t dims[2] = {(hsize_t)c->npsd, (hsize_t)w};
    for (int l = 0; l < c->npsd; l++) {
      double mean = 0;
      t[l * w]    = (l + 1) * c->psd_step;
      for (int k = 0; k < c->nimg; k++) mean += (t[l * w + 1 + k] = c->psd[i][l * c->nimg + k]);
      t[l * w + w - 1] = mean / c->nimg;
    }
    snprintf(name, sizeof name, "psd2_data_%d", i + 1);
    PetscCall(PgH5WriteSmall(g, c->rank, name, 2, dims, t, "um,-"));
  }
  PetscCall(PetscFree(t));
  PetscFunctionReturn(0);
}

/* The centred C_ij averaged over the validated realizations. */
static PetscErrorCode WriteRealizations(PgCalibration c, hid_t g)
{
  double *mean[7];
  double  n = c->nreal;

  PetscFunctionBeginUser;
  mean[0] = c->rv;
  for (int p = 0; p < PG_NPAIRS; p++) {
    PetscCall(PetscMalloc1(c->nbv, &mean[p + 1]));
    for (int b = 0; b < c->nbv; b++) mean[p + 1][b] = c->cv[p][b] / c->nreal;
  }
  PetscCall(Table(c, g, "C_realizations", 7, c->nbv, (const double *const *)mean,
                  "h_um, centred C11, C12, C13, C22, C23, C33 averaged over the realizations"));
  PetscCall(PgH5WriteDoubleAttr(g, "realizations_validated", &n, 1));
  for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscFree(mean[p + 1]));
  PetscFunctionReturn(0);
}

/* Everything of /calibration in group g. */
static PetscErrorCode WriteGroup(PgCalibration c, hid_t g)
{
  const double *rx[4] = {c->r3, c->c11, c->rhox, c->clx}, *ry[4] = {c->r2, c->c2[3], c->rhoy, c->cly},
               *mf[3]  = {c->mgrid, c->misfit, c->lzgrid};
  const double *c2d[7] = {c->r2, c->c2[0], c->c2[1], c->c2[2], c->c2[3], c->c2[4], c->c2[5]};
  const double *cm[7]  = {c->r2, c->theory[0], c->theory[1], c->theory[2], c->theory[3], c->theory[4], c->theory[5]};

  PetscFunctionBeginUser;
  PetscCall(WriteAttributes(c, g));
  PetscCall(Table(c, g, "rho_x", 4, c->nb3, rx, "h_um, C11 (3D data), rho_X by eq. 7, clamped"));
  PetscCall(Table(c, g, "rho_y", 4, c->nb2, ry, "h_um, C22 (2D data), rho_Y by eq. 10 at m, clamped"));
  PetscCall(
    Table(c, g, "misfit", 3, c->nm, mf, "m, sum of squared eq. 11 residuals against C12, lambda_Z,2D(m) by eq. 9"));
  PetscCall(Table(c, g, "C_2d", 7, c->nb2, c2d, "h_um, C11, C12, C13, C22, C23, C33 (2D images, pooled, not centred)"));
  PetscCall(Table(c, g, "C_model", 7, c->nb2, cm,
                  "h_um, C11, C12, C13, C22, C23, C33 (calibrated model, eqs. 7, 10, 11, not centred)"));
  if (c->npsd) PetscCall(WritePsd(c, g));
  if (c->nreal) PetscCall(WriteRealizations(c, g));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrationWrite(PgCalibration c, hid_t file, const char *output_file)
{
  hid_t          g = H5I_INVALID_HID;
  char           csv[PETSC_MAX_PATH_LEN + 32];
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (file >= 0) {
    PetscCall(PgH5GroupOpen(file, "/calibration", &g));
    ierr = WriteGroup(c, g);
    PgH5Close(&g);
    PetscCall(ierr);
  }
  c->em[0] = gsl_cdf_ugaussian_Q(c->lx);
  PetscCall(PgModelCarbonFraction(c->lx, c->lz, c->m, &c->em[1]));
  c->em[2] = 1 - c->em[0] - c->em[1];
  PgFileSideCar(output_file, "_validation.csv", csv, sizeof csv);
  PetscCall(PgFileWriteText(c->comm, csv, ValidationText, c));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCalibrationDestroy(PgCalibration *calp)
{
  PgCalibration c = *calp;

  PetscFunctionBeginUser;
  if (!c) PetscFunctionReturn(0);
  for (int i = 0; i < 3; i++) PetscCall(PetscFree(c->psd[i]));
  for (int k = 0; k < c->nimg && c->img; k++) PetscCall(PetscFree(c->img[k].v));
  PetscCall(PetscFree(c->img));
  PetscCall(PgLabelsDestroy(&c->vol));
  PetscCall(PgGridDestroy(&c->vgrid));
  PetscCall(PetscFree4(c->r3, c->c11, c->rhox, c->clx));
  PetscCall(PetscFree3(c->r2, c->cnt2, c->rhoy));
  PetscCall(PetscFree(c->cly));
  for (int p = 0; p < PG_NPAIRS; p++) {
    PetscCall(PetscFree2(c->c2[p], c->theory[p]));
    PetscCall(PetscFree(c->cv[p]));
  }
  PetscCall(PetscFree3(c->mgrid, c->misfit, c->lzgrid));
  PetscCall(PetscFree(c->rv));
  PetscCall(PetscFree(*calp));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Deck keys: calibration.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

#define INF HUGE_VAL
static const char *const frac2d_names[] = {"own", "rescaled", NULL};
static const char *const c11_names[]    = {"volume", "sections", NULL};

const PgKey PgCalibrationKeys[] = {
  {"calibration_volume", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "calibrate first: 3D label volume FILE.h5:/dataset or raw file (label 1 = NVP, any other = not NVP)"},
  {"calibration_volume_shape", PG_KEY_INT, 3, 3, NULL, "voxels", 1, 1 << 24, 0, 0, NULL,
   "raw volume: nx,ny,nz (file is [z][y][x], x fastest)"},
  {"calibration_volume_voxel_um", PG_KEY_REAL, 1, 3, NULL, "um", 0, INF, 1, 1, NULL,
   "voxel edge of the volume, one value or dx,dy,dz; default: HDF5 attribute voxel_size_um"},
  {"calibration_images", PG_KEY_STRING, 1, 1, "", "paths", 0, 0, 0, 0, NULL,
   "2D three-phase label images (1,2,3), comma-separated FILE.h5:/dataset or raw files"},
  {"calibration_image_shape", PG_KEY_INT, 2, 2, NULL, "pixels", 1, 1 << 24, 0, 0, NULL,
   "raw images: nx,ny (file is [y][x])"},
  {"calibration_pixel_um", PG_KEY_REAL, 1, 2, NULL, "um", 0, INF, 1, 1, NULL,
   "pixel edge of the 2D images, one value or dx,dy; default: HDF5 attribute voxel_size_um"},
  {"calibration_raw_type", PG_KEY_ENUM, 1, 1, "uint8", "-", 0, 0, 0, 0, PgRawTypeKeyNames,
   "element type of raw inputs (little endian)"},
  {"calibration_range_um", PG_KEY_REAL, 1, 1, "0.2", "um", 0, INF, 1, 1, NULL,
   "largest lag of the estimated C_ij and of the fits"},
  {"calibration_m_step", PG_KEY_REAL, 1, 1, "0.005", "-", 0, 0.5, 1, 0, NULL,
   "spacing of the m grid 0, step, ..., 1 (the paper: 0.005)"},
  {"calibration_fix_m", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "keep model.m instead of fitting it to C_12 (eq. 11)"},
  {"calibration_simulate", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "simulate (and validate) the calibrated model after calibrating"},
  {"calibration_fractions_2d", PG_KEY_ENUM, 1, 1, "own", "-", 0, 0, 0, 0, frac2d_names,
   "fractions in eqs. 10, 11: own = the 2D images' (unbiased), rescaled = eqs. 2, 3 (the paper)"},
  {"calibration_c11", PG_KEY_ENUM, 1, 1, "volume", "-", 0, 0, 0, 0, c11_names,
   "C_11 from the whole volume (radial) or from its x-y cross-sections"},
  {"calibration_volume_labels", PG_KEY_STRING, 1, 1, "", "-", 0, 0, 0, 0, NULL,
   "label values of calibration.volume: a map as input.labels, or [V] = the NVP value (the rest not NVP); default input.labels, else 1 = NVP"},
  {"calibration_validate_with", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "a 3D three-phase image of the material: adequacy report of the calibrated model (<stem>_adequacy.csv)"},
  {"calibration_reference", PG_KEY_REAL, 5, 5, NULL, "-", -INF, INF, 1, 1, NULL,
   "known lambda_X,lambda_Z,alpha_X,alpha_Y,m, printed next to the estimates"},
};
#undef INF
const int PgCalibrationNKeys = (int)(sizeof PgCalibrationKeys / sizeof PgCalibrationKeys[0]);

/* The 3D volume and the 2D images come together; the volume's label map (default: config.c). */
#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgCalibrationLoadOptions(PgDeck deck, PgCalibrationOptions *o)
{
  const MPI_Comm comm = PgDeckComm(deck);

  PetscFunctionBeginUser;
  snprintf(o->volume, sizeof o->volume, "%s", V("calibration_volume")->s);
  snprintf(o->images, sizeof o->images, "%s", V("calibration_images")->s);
  PetscCall(
    PgDeckImageInputKeys(deck, "calibration", o->volume_shape, o->volume_voxel_um, o->image_shape, o->pixel_um));
  o->raw_type = (int)V("calibration_raw_type")->v[0];
  snprintf(o->validate_with, sizeof o->validate_with, "%s", V("calibration_validate_with")->s);
  o->range_um       = V("calibration_range_um")->v[0];
  o->m_step         = V("calibration_m_step")->v[0];
  o->fix_m          = V("calibration_fix_m")->v[0] != 0;
  o->simulate       = V("calibration_simulate")->v[0] != 0;
  o->fractions_2d   = (int)V("calibration_fractions_2d")->v[0];
  o->c11            = (int)V("calibration_c11")->v[0];
  o->have_reference = V("calibration_reference")->set;
  for (int i = 0; i < 5; i++) o->reference[i] = o->have_reference ? V("calibration_reference")->v[i] : NAN;
  PetscCheck(
    !o->volume[0] || o->images[0], comm, PETSC_ERR_USER_INPUT,
    "calibration.volume is given but calibration.images is not: the 2D three-phase images are needed for lambda_Z, m and alpha_Y");
  PetscCheck(o->volume[0] || !o->images[0], comm, PETSC_ERR_USER_INPUT,
             "calibration.images is given but calibration.volume is not: the 3D volume is needed for eps1 and alpha_X");
  PetscCall(PgDeckLabelMap(deck, "calibration_volume_labels", PETSC_TRUE, &o->volume_labels));
  PetscFunctionReturn(0);
}
#undef V
