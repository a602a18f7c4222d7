/// \file
/// Segmentation (Section 2.4): grey-value FIB-SEM stacks and HR-SEM images to phase labels.
///
/// The chain of the paper, each filter on the z-slabs of the stack's own grid:
///  1. median filter (radius in µm) against noise;
///  2. step 1: local Otsu threshold (radius in µm; per slice as in the paper, or on 3D balls),
///     bright = NVP, optionally only within a mask (the particle);
///  3. step 2 (three phases): Mexican hat (Laplacian of Gaussian) sharpening of the grey values,
///     then local Otsu among the voxels that are not NVP: the brighter class is the filled pore
///     space, the darker carbon (the EDX allocation of Section 2.3);
///  4. majority filter (the paper: 3x3x3 on the stack, radius 25 nm on the images).
///
/// Algorithms and cost per voxel (k = voxels in the neighbourhood, R = its rows, B = bins):
///  - median: the neighbourhood's values and a quickselect, O(k);
///  - local Otsu: a histogram that slides along x (the footprint's rows each lose one voxel and
///    gain one), O(R), then Otsu's maximum of the between-class variance over the occupied bins,
///    O(B) (skimage.filters.rank.otsu does the same);
///  - Mexican hat: separable Gaussian and second-derivative kernels (scipy.ndimage's, truncated at
///    3 sigma), O(sum of the kernel lengths) per term;
///  - majority: counts of the four labels, O(k).
/// Communication: none for per-slice filters; for 3D neighbourhoods one PgGridHaloGather of the
/// planes within the z-radius (any width, whichever ranks own them), plus two reductions (value
/// range, label fractions) per Otsu step. Threads (deck key threads) split the rows of each slab.
/// Every voxel's result depends only on the image, never on the decomposition.
///
/// The stage reads the grey inputs (the stack on its slabs by collective reads; 2D image k on
/// rank k mod P), segments them, and writes the labels file, which calibration then reads as if
/// the user had given it: the two stages share nothing but that file, which stays valid if a
/// later stage fails.
#include <plurigauss/files.h>
#include <plurigauss/h5.h>
#include <plurigauss/image.h>
#include <plurigauss/labels.h>
#include <plurigauss/segment.h>
#include <plurigauss/tiff.h>

#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Neighbourhoods
 * --------------------------------------------------------------------------------------------- */

/* Rows (dz, dy) of a neighbourhood, each spanning x offsets -wx..wx. */
typedef struct {
  int  nrows, rz;
  long count; /* voxels */
  int *dz, *dy, *wx;
} Footprint;

/* Largest i >= 0 with (i h)^2 <= rem (rem already includes the tolerance), or -1 if rem < 0. */
static int HalfWidth(double rem, double h)
{
  if (rem < 0) return -1;
  int i = 0;
  while ((i + 1) * h * (i + 1) * h <= rem) i++;
  return i;
}

/* The ball (i dx)^2 + (j dy)^2 + (k dz)^2 <= r^2 (1 + 1e-9), k = 0 unless in3d; cube: the
 * 3x3(x3) cube. */
static PetscErrorCode FootprintCreate(const PgGrid_s *g, double r, PetscBool in3d, PetscBool cube, Footprint *fp)
{
  const double *h = g->voxel_um, r2 = r * r * (1 + 1e-9);
  const int     ry = cube ? 1 : HalfWidth(r2, h[1]), rz = !in3d ? 0 : cube ? 1 : HalfWidth(r2, h[2]);

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(fp, sizeof *fp));
  fp->rz = rz;
  PetscCall(PetscMalloc3((2 * rz + 1) * (2 * ry + 1), &fp->dz, (2 * rz + 1) * (2 * ry + 1), &fp->dy,
                         (2 * rz + 1) * (2 * ry + 1), &fp->wx));
  for (int k = -rz; k <= rz; k++)
    for (int j = -ry; j <= ry; j++) {
      int wx = cube ? 1 : HalfWidth(r2 - (k * h[2]) * (k * h[2]) - (j * h[1]) * (j * h[1]), h[0]);
      if (wx < 0) continue;
      fp->dz[fp->nrows] = k;
      fp->dy[fp->nrows] = j;
      fp->wx[fp->nrows] = wx;
      fp->count += 2 * wx + 1;
      fp->nrows++;
    }
  PetscFunctionReturn(0);
}

static PetscErrorCode FootprintDestroy(Footprint *fp)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree3(fp->dz, fp->dy, fp->wx));
  PetscFunctionReturn(0);
}

/* A slab with its ghost planes: planes [lo, hi) of the volume, each nx*ny elements. */
typedef struct {
  void     *p;
  ptrdiff_t lo, hi;
} Window;

static PetscErrorCode WindowGather(PgGrid g, const void *slab, size_t elem, int width, Window *w)
{
  const size_t plane = PgGridPlane(g) * elem;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc(PetscMax(plane * (size_t)(g->nz_local + 2 * width), 1), &w->p));
  PetscCall(PgGridHaloGather(g, slab, plane, width, w->p, &w->lo, &w->hi));
  PetscFunctionReturn(0);
}

/* The window rows of footprint row r for output row (z, y), or NULL when outside the image. */
static inline const void *RowPtr(const PgGrid_s *g, const Window *w, size_t elem, const Footprint *fp, int r,
                                 ptrdiff_t z, ptrdiff_t y)
{
  ptrdiff_t zz = z + fp->dz[r], yy = y + fp->dy[r];
  if (zz < 0 || zz >= g->n[2] || yy < 0 || yy >= g->n[1]) return NULL;
  return (const char *)w->p + (((size_t)(zz - w->lo) * (size_t)g->n[1] + (size_t)yy) * (size_t)g->n[0]) * elem;
}

/* ---------------------------------------------------------------------------------------------
 * Median
 * --------------------------------------------------------------------------------------------- */

/* The k-th smallest of a[0..n-1] (a is reordered). */
static float Select(float *a, long n, long k)
{
  long lo = 0, hi = n - 1;
  while (lo < hi) {
    float pivot = a[lo + (hi - lo) / 2];
    long  i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        float t = a[i];
        a[i++]  = a[j];
        a[j--]  = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

PetscErrorCode PgSegmentMedian(PgGrid g, double radius_um, PetscBool in3d, float *v)
{
  Footprint fp;
  Window    w;
  const int nx = (int)g->n[0], ny = (int)g->n[1];

  PetscFunctionBeginUser;
  if (!(radius_um > 0)) PetscFunctionReturn(0);
  PetscCall(FootprintCreate(g, radius_um, in3d, PETSC_FALSE, &fp));
  PetscCall(WindowGather(g, v, sizeof(float), fp.rz, &w));
#pragma omp parallel num_threads(g->threads)
  {
    float *buf = (float *)malloc((size_t)fp.count * sizeof(float));
#pragma omp for collapse(2) schedule(static)
    for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
      for (ptrdiff_t y = 0; y < ny; y++) {
        const float *rows[fp.nrows];
        for (int r = 0; r < fp.nrows; r++)
          rows[r] = (const float *)RowPtr(g, &w, sizeof(float), &fp, r, g->z_start + zl, y);
        float *out = v + PgGridIndex(g, zl, y, 0);
        for (int x = 0; x < nx; x++) {
          long n = 0;
          for (int r = 0; r < fp.nrows; r++) {
            if (!rows[r]) continue;
            for (int xx = PetscMax(x - fp.wx[r], 0); xx <= PetscMin(x + fp.wx[r], nx - 1); xx++) buf[n++] = rows[r][xx];
          }
          out[x] = Select(buf, n, (n - 1) / 2);
        }
      }
    free(buf);
  }
  PetscCall(PetscFree(w.p));
  PetscCall(FootprintDestroy(&fp));
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * Otsu
 * --------------------------------------------------------------------------------------------- */

/* Otsu on a histogram with n = sum h and s = sum t h[t]. Empty bins are skipped: they leave w0
 * and s0, hence the variance, unchanged, and the first maximum is kept. */
static int OtsuCore(const double *h, int nb, double n, double s)
{
  double w0 = 0, s0 = 0, best = 0;
  int    t_best = -1;
  for (int t = 0; t < nb - 1; t++) {
    if (h[t] == 0) continue;
    w0 += h[t];
    s0 += t * h[t];
    const double w1 = n - w0;
    if (w1 <= 0) break;
    const double d = s0 / w0 - (s - s0) / w1, var = w0 * w1 * d * d;
    if (var > best) {
      best   = var;
      t_best = t;
    }
  }
  return t_best;
}

int PgSegmentOtsuThreshold(const double *hist, int nb)
{
  double n = 0, s = 0;
  for (int t = 0; t < nb; t++) {
    n += hist[t];
    s += t * hist[t];
  }
  return OtsuCore(hist, nb, n, s);
}

/* One threshold from the histogram of the selected voxels of the whole image (bin[i] >= 0). */
static PetscErrorCode OtsuGlobal(PgGrid g, int bins, const int32_t *bin, double lo, double scale, uint8_t *bright,
                                 double *threshold)
{
  const size_t nloc = PgGridLocalVoxels(g);
  double      *h, *gh;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(bins, &h, bins, &gh));
  for (size_t i = 0; i < nloc; i++)
    if (bin[i] >= 0) h[bin[i]] += 1;
  PetscCallMPI(MPI_Allreduce(h, gh, bins, MPI_DOUBLE, MPI_SUM, g->comm));
  const int t = PgSegmentOtsuThreshold(gh, bins);
  for (size_t i = 0; i < nloc; i++)
    if (bin[i] >= 0) bright[i] = bin[i] > t;
  if (threshold) *threshold = t < 0 ? NAN : lo + (t + 0.5) / (scale > 0 ? scale : 1);
  PetscCall(PetscFree2(h, gh));
  PetscFunctionReturn(0);
}

/* A threshold per voxel from the histogram of the selected voxels within radius_um (a sliding
 * window along x over the footprint's rows, gathered from the neighbouring planes). */
static PetscErrorCode OtsuLocal(PgGrid g, double radius_um, PetscBool in3d, int bins, const int32_t *bin,
                                uint8_t *bright)
{
  const int nx = (int)g->n[0], ny = (int)g->n[1];
  Footprint fp;
  Window    w;

  PetscFunctionBeginUser;
  PetscCall(FootprintCreate(g, radius_um, in3d, PETSC_FALSE, &fp));
  PetscCall(WindowGather(g, bin, sizeof(int32_t), fp.rz, &w));
#pragma omp parallel num_threads(g->threads)
  {
    double *h = (double *)malloc((size_t)bins * sizeof(double));
#pragma omp for collapse(2) schedule(static)
    for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
      for (ptrdiff_t y = 0; y < ny; y++) {
        const int32_t *rows[fp.nrows];
        const size_t   row0 = PgGridIndex(g, zl, y, 0);
        double         n = 0, s = 0;
        int            any = 0;
        for (int x = 0; x < nx && !any; x++) any = bin[row0 + x] >= 0;
        if (!any) continue;
        for (int r = 0; r < fp.nrows; r++)
          rows[r] = (const int32_t *)RowPtr(g, &w, sizeof(int32_t), &fp, r, g->z_start + zl, y);
        memset(h, 0, (size_t)bins * sizeof(double));
        for (int r = 0; r < fp.nrows; r++)
          for (int xx = 0; rows[r] && xx <= PetscMin(fp.wx[r], nx - 1); xx++)
            if (rows[r][xx] >= 0) {
              h[rows[r][xx]] += 1;
              n += 1;
              s += rows[r][xx];
            }
        for (int x = 0; x < nx; x++) {
          if (x > 0)
            for (int r = 0; r < fp.nrows; r++) {
              if (!rows[r]) continue;
              const int out = x - 1 - fp.wx[r], in = x + fp.wx[r];
              if (out >= 0 && rows[r][out] >= 0) {
                h[rows[r][out]] -= 1;
                n -= 1;
                s -= rows[r][out];
              }
              if (in < nx && rows[r][in] >= 0) {
                h[rows[r][in]] += 1;
                n += 1;
                s += rows[r][in];
              }
            }
          const int32_t b = bin[row0 + x];
          if (b >= 0) bright[row0 + x] = b > OtsuCore(h, bins, n, s);
        }
      }
    free(h);
  }
  PetscCall(PetscFree(w.p));
  PetscCall(FootprintDestroy(&fp));
  PetscFunctionReturn(0);
}

PetscErrorCode PgSegmentOtsu(PgGrid g, double radius_um, PetscBool in3d, int bins, const float *v, const uint8_t *sel,
                             uint8_t *bright, double *threshold)
{
  const size_t nloc     = PgGridLocalVoxels(g);
  float        range[2] = {-HUGE_VALF, -HUGE_VALF}, grange[2]; /* -min, max of the selected values */
  int32_t     *bin;

  PetscFunctionBeginUser;
  if (threshold) *threshold = NAN;
  for (size_t i = 0; i < nloc; i++)
    if (!sel || sel[i]) {
      range[0] = PetscMax(range[0], -v[i]);
      range[1] = PetscMax(range[1], v[i]);
    }
  PetscCallMPI(MPI_Allreduce(range, grange, 2, MPI_FLOAT, MPI_MAX, g->comm));
  if (grange[1] == -HUGE_VALF) PetscFunctionReturn(0); /* nothing selected anywhere */
  const double lo = -(double)grange[0], hi = grange[1], scale = hi > lo ? (bins - 1) / (hi - lo) : 0;

  /* bins of the selected voxels, -1 elsewhere */
  PetscCall(PetscMalloc1(PetscMax(nloc, 1), &bin));
  for (size_t i = 0; i < nloc; i++)
    bin[i] = (!sel || sel[i]) ? (int32_t)PetscMin(PetscMax(floor((v[i] - lo) * scale + 0.5), 0), bins - 1) : -1;

  if (!(radius_um > 0)) PetscCall(OtsuGlobal(g, bins, bin, lo, scale, bright, threshold));
  else PetscCall(OtsuLocal(g, radius_um, in3d, bins, bin, bright));
  PetscCall(PetscFree(bin));
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * Mexican hat
 * --------------------------------------------------------------------------------------------- */

/* scipy.ndimage's Gaussian (order 0) and second-derivative (order 2) kernels of sigma (voxels),
 * radius int(3 sigma + 0.5): phi = exp(-x^2 / 2 sigma^2) / sum, k2 = (x^2/sigma^4 - 1/sigma^2) phi. */
static PetscErrorCode Kernels(double sigma, int *radius, double **k0, double **k2)
{
  const int r   = (int)(3.0 * sigma + 0.5);
  double    sum = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(2 * r + 1, k0, 2 * r + 1, k2));
  for (int i = -r; i <= r; i++) sum += ((*k0)[i + r] = exp(-0.5 * i * i / (sigma * sigma)));
  for (int i = -r; i <= r; i++) {
    (*k0)[i + r] /= sum;
    (*k2)[i + r] = (i * i / (sigma * sigma * sigma * sigma) - 1 / (sigma * sigma)) * (*k0)[i + r];
  }
  *radius = r;
  PetscFunctionReturn(0);
}

/* mirrored index (scipy 'reflect': d c b a | a b c d | d c b a) */
static inline ptrdiff_t Reflect(ptrdiff_t i, ptrdiff_t n)
{
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

/* out = in convolved along x (axis 0) or y (axis 1) with k of radius r, on np planes */
static void Pass(const PgGrid_s *g, int axis, ptrdiff_t np, const double *k, int r, const float *in, float *out)
{
  const ptrdiff_t nx = g->n[0], ny = g->n[1];
#pragma omp parallel for collapse(2) schedule(static) num_threads(g->threads)
  for (ptrdiff_t p = 0; p < np; p++)
    for (ptrdiff_t y = 0; y < ny; y++)
      for (ptrdiff_t x = 0; x < nx; x++) {
        double acc = 0;
        for (int j = -r; j <= r; j++)
          acc += k[j + r] *
                 (axis == 0 ? in[(p * ny + y) * nx + Reflect(x + j, nx)] : in[(p * ny + Reflect(y + j, ny)) * nx + x]);
        out[(p * ny + y) * nx + x] = (float)acc;
      }
}

/* acc[owned] += c * (in convolved along z with k of radius r); in holds planes [lo, ..) */
static void PassZAdd(const PgGrid_s *g, ptrdiff_t lo, const double *k, int r, double c, const float *in, double *acc)
{
  const size_t plane = PgGridPlane(g);
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
    for (int j = -r; j <= r; j++) {
      const float *src = in + (size_t)(Reflect(g->z_start + zl + j, g->n[2]) - lo) * plane;
      double      *dst = acc + (size_t)zl * plane;
      for (size_t i = 0; i < plane; i++) dst[i] += c * k[j + r] * src[i];
    }
}

PetscErrorCode PgSegmentMexicanHat(PgGrid g, double sigma_um, double weight, PetscBool in3d, float *v)
{
  const size_t nloc = PgGridLocalVoxels(g), plane = PgGridPlane(g);
  double       s[3], *k0[3], *k2[3], *acc;
  int          r[3];
  Window       w;
  float       *t, *axx, *ayy;

  PetscFunctionBeginUser;
  if (!(sigma_um > 0) || weight == 0) PetscFunctionReturn(0);
  for (int d = 0; d < 3; d++) {
    s[d] = sigma_um / g->voxel_um[d];
    PetscCall(Kernels(s[d], &r[d], &k0[d], &k2[d]));
  }
  if (!in3d) r[2] = 0;
  PetscCall(WindowGather(g, v, sizeof(float), r[2], &w));
  const ptrdiff_t np = w.hi - w.lo;
  const size_t    nw = PetscMax((size_t)np * plane, 1);
  PetscCall(PetscMalloc3(nw, &t, nw, &axx, nw, &ayy));
  PetscCall(PetscCalloc1(PetscMax(nloc, 1), &acc));
  /* d2/dx2: k2 along x, k0 along y (and z); d2/dy2: k0 along x, k2 along y (and k0 along z) */
  Pass(g, 0, np, k2[0], r[0], (const float *)w.p, t);
  Pass(g, 1, np, k0[1], r[1], t, axx);
  Pass(g, 0, np, k0[0], r[0], (const float *)w.p, t);
  Pass(g, 1, np, k2[1], r[1], t, ayy);
  if (in3d) {
    /* d2/dz2: k0 along x and y, k2 along z; t := the x-y smoothed window */
    Pass(g, 1, np, k0[1], r[1], t, (float *)w.p);
    PassZAdd(g, w.lo, k0[2], r[2], s[0] * s[0], axx, acc);
    PassZAdd(g, w.lo, k0[2], r[2], s[1] * s[1], ayy, acc);
    PassZAdd(g, w.lo, k2[2], r[2], s[2] * s[2], (const float *)w.p, acc);
  } else {
    for (size_t i = 0; i < nloc; i++) acc[i] = s[0] * s[0] * axx[i] + s[1] * s[1] * ayy[i];
  }
  for (size_t i = 0; i < nloc; i++) v[i] = (float)(v[i] - weight * acc[i]);
  PetscCall(PetscFree3(t, axx, ayy));
  PetscCall(PetscFree(acc));
  PetscCall(PetscFree(w.p));
  for (int d = 0; d < 3; d++) PetscCall(PetscFree2(k0[d], k2[d]));
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * Majority
 * --------------------------------------------------------------------------------------------- */

PetscErrorCode PgSegmentMajority(PgGrid g, int kind, double radius_um, PetscBool in3d, uint8_t *labels)
{
  Footprint fp;
  Window    w;
  const int nx = (int)g->n[0], ny = (int)g->n[1];

  PetscFunctionBeginUser;
  if (kind == 0) PetscFunctionReturn(0);
  PetscCall(FootprintCreate(g, radius_um, in3d, kind == 1 ? PETSC_TRUE : PETSC_FALSE, &fp));
  PetscCall(WindowGather(g, labels, 1, fp.rz, &w));
#pragma omp parallel for collapse(2) schedule(static) num_threads(g->threads)
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
    for (ptrdiff_t y = 0; y < ny; y++) {
      const uint8_t *rows[fp.nrows];
      for (int r = 0; r < fp.nrows; r++) rows[r] = (const uint8_t *)RowPtr(g, &w, 1, &fp, r, g->z_start + zl, y);
      uint8_t *out = labels + PgGridIndex(g, zl, y, 0);
      for (int x = 0; x < nx; x++) {
        if (out[x] > 3) continue;
        long c[4] = {0, 0, 0, 0};
        for (int r = 0; r < fp.nrows; r++) {
          if (!rows[r]) continue;
          for (int xx = PetscMax(x - fp.wx[r], 0); xx <= PetscMin(x + fp.wx[r], nx - 1); xx++)
            if (rows[r][xx] <= 3) c[rows[r][xx]]++;
        }
        const uint8_t own = out[x];
        int           win = own;
        for (int l = 0; l < 4; l++)
          if (c[l] > c[win]) win = l;
        out[x] = (uint8_t)win;
      }
    }
  PetscCall(PetscFree(w.p));
  PetscCall(FootprintDestroy(&fp));
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * The chain
 * --------------------------------------------------------------------------------------------- */

PetscErrorCode PgSegmentRun(PgGrid g, const PgSegmentFilters *f, float *v, const uint8_t *mask, uint8_t *labels,
                            PgSegmentStats *st)
{
  const size_t nloc = PgGridLocalVoxels(g);
  uint8_t     *bright, *sel;
  double       t0, c[4] = {0, 0, 0, 0}, gc[4];

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(st, sizeof *st));
  st->threshold[0] = st->threshold[1] = NAN;
  PetscCall(PetscMalloc2(PetscMax(nloc, 1), &bright, PetscMax(nloc, 1), &sel));
  t0 = MPI_Wtime();
  PetscCall(PgSegmentMedian(g, f->median_um, f->in3d, v));
  st->seconds[0] = MPI_Wtime() - t0;

  /* step 1: NVP is the bright class */
  t0 = MPI_Wtime();
  PetscCall(PgSegmentOtsu(g, f->otsu_um, f->in3d, f->bins, v, mask, bright, &st->threshold[0]));
  for (size_t i = 0; i < nloc; i++)
    labels[i] = (mask && !mask[i]) ? PG_SEG_OUTSIDE : bright[i] ? PG_PHASE_NVP : PG_SEG_REST;
  st->seconds[1] = MPI_Wtime() - t0;

  if (f->phases == 3) {
    /* step 2: in the complement of NVP, the brighter class is pore (filled), the darker carbon */
    t0 = MPI_Wtime();
    PetscCall(PgSegmentMexicanHat(g, f->log_sigma_um, f->log_weight, f->in3d, v));
    st->seconds[2] = MPI_Wtime() - t0;
    t0             = MPI_Wtime();
    for (size_t i = 0; i < nloc; i++) sel[i] = labels[i] == PG_SEG_REST;
    PetscCall(PgSegmentOtsu(g, f->otsu_um, f->in3d, f->bins, v, sel, bright, &st->threshold[1]));
    for (size_t i = 0; i < nloc; i++)
      if (sel[i]) labels[i] = bright[i] ? PG_PHASE_PORE : PG_PHASE_CARBON;
    st->seconds[3] = MPI_Wtime() - t0;
  }
  t0 = MPI_Wtime();
  PetscCall(PgSegmentMajority(g, f->majority, f->majority_um, PETSC_TRUE, labels));
  st->seconds[4] = MPI_Wtime() - t0;

  for (size_t i = 0; i < nloc; i++)
    if (labels[i] <= 3) c[labels[i]] += 1;
  PetscCallMPI(MPI_Allreduce(c, gc, 4, MPI_DOUBLE, MPI_SUM, g->comm));
  const double n = gc[0] + gc[1] + gc[2] + gc[3];
  for (int l = 0; l < 4; l++) st->fraction[l] = n > 0 ? gc[l] / n : 0;
  PetscCall(PetscFree2(bright, sel));
  PetscFunctionReturn(0);
}

PetscErrorCode PgSegmentImageGrid(int nx, int ny, const double pixel_um[2], PgGrid *gp)
{
  PgGrid g;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&g));
  g->comm        = PETSC_COMM_SELF;
  g->rank        = 0;
  g->size        = 1;
  g->n[0]        = nx;
  g->n[1]        = ny;
  g->n[2]        = 1;
  g->voxel_um[0] = pixel_um[0];
  g->voxel_um[1] = pixel_um[1];
  g->voxel_um[2] = pixel_um[0];
  g->nz_local    = 1;
  g->threads     = 1;
  g->nowners     = 1;
  {
    ptrdiff_t *table; /* one rank owning the one plane */
    PetscCall(PetscMalloc1(2, &table));
    table[0]      = 0;
    table[1]      = 1;
    g->slab_start = table;
  }
  *gp = g;
  PetscFunctionReturn(0);
}

PetscErrorCode PgSegmentImageGridDestroy(PgGrid *g)
{
  PetscFunctionBeginUser;
  if (*g) {
    ptrdiff_t *table = (ptrdiff_t *)(*g)->slab_start;
    PetscCall(PetscFree(table));
  }
  PetscCall(PetscFree(*g));
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * The stage
 * --------------------------------------------------------------------------------------------- */

static PetscErrorCode ViewStats(MPI_Comm comm, const char *what, const PgSegmentFilters *f, const PgSegmentStats *st,
                                double seconds)
{
  PetscFunctionBeginUser;
  if (f->phases == 3)
    PetscCall(PetscPrintf(comm, "segment %s: NVP %.4f carbon %.4f pore %.4f", what, st->fraction[1], st->fraction[2],
                          st->fraction[3]));
  else PetscCall(PetscPrintf(comm, "segment %s: NVP %.4f rest %.4f", what, st->fraction[1], st->fraction[0]));
  PetscCall(PetscPrintf(comm, " (%.2f s: median %.2f, otsu %.2f + %.2f, hat %.2f, majority %.2f)\n", seconds,
                        st->seconds[0], st->seconds[1], st->seconds[3], st->seconds[2], st->seconds[4]));
  PetscFunctionReturn(0);
}

/* The filter parameters and the chain's statistics as attributes of obj. */
static herr_t StatsAttrs(hid_t obj, const PgSegmentFilters *f, const PgSegmentStats *st)
{
  const double par[8] = {f->median_um,    f->otsu_um,    (double)f->in3d,     (double)f->phases,
                         f->log_sigma_um, f->log_weight, (double)f->majority, f->majority_um};
  PgH5Status   s      = PG_H5_STATUS_INIT;

  PgH5Try(&s, PgH5AttrDouble(obj, "fractions_0123", st->fraction, 4));
  PgH5Try(&s, PgH5AttrDouble(obj, "global_thresholds", st->threshold, 2));
  PgH5Try(&s, PgH5AttrDouble(obj, "filters", par, 8));
  PgH5Try(
    &s,
    PgH5AttrString(
      obj, "filters_columns",
      "median_radius_um,otsu_radius_um,3d,phases,log_sigma_um,log_weight,majority(0 none 1 cube 2 ball),majority_radius_um"));
  PgH5Try(&s, PgH5AttrString(obj, "labels",
                             f->phases == 3 ? "1 = NVP, 2 = carbon, 3 = pore, 255 = outside the mask"
                                            : "1 = NVP, 0 = not NVP, 255 = outside the mask"));
  return s.failed ? -1 : 0;
}

/* Grey values must be numbers: NaN or infinities (a failed export) are an input error naming the
 * first offender in global order. Collective. */
static PetscErrorCode CheckFinite(PgGrid g, const char *key, const char *spec, const float *v)
{
  const size_t nloc = PgGridLocalVoxels(g);
  long long    bad = 0, first = LLONG_MAX, best, total;

  PetscFunctionBeginUser;
  for (size_t i = 0; i < nloc; i++)
    if (!isfinite(v[i])) {
      if (!bad) first = (long long)(g->z_start * (ptrdiff_t)PgGridPlane(g)) + (long long)i;
      bad++;
    }
  PetscCallMPI(MPI_Allreduce(&bad, &total, 1, MPI_LONG_LONG, MPI_SUM, g->comm));
  if (total) {
    const long long nx = g->n[0], ny = g->n[1];
    PetscCallMPI(MPI_Allreduce(&first, &best, 1, MPI_LONG_LONG, MPI_MIN, g->comm));
    SETERRQ(
      g->comm, PETSC_ERR_USER_INPUT,
      "%s = %s: %lld grey values are not finite (NaN or infinite), the first at (x,y,z) = (%lld,%lld,%lld); grey values must be numbers",
      key, spec, total, best % nx, (best / nx) % ny, best / (nx * ny));
  }
  PetscFunctionReturn(0);
}

typedef struct {
  int            nx, ny;
  double         pixel[2];
  uint8_t       *labels; /* on the owning rank */
  PgSegmentStats st;
} SegImage;

/* What the stage holds between its steps, and after it: the labels (PgSegmentation). */
typedef struct PgSegmentation_private SegStage;
struct PgSegmentation_private {
  MPI_Comm        comm;
  int             rank, size;
  const PgConfig *cfg;
  PgInputSpec     vs, is, ms;               /* the specs of the stack, the images, the mask */
  PgInputProbe    vr, mr, *ir;              /* their probes */
  char            list[PETSC_MAX_PATH_LEN]; /* segment.images, split in place into specs */
  char           *specs[PG_MAX_IMAGES];
  int             nimg;
  SegImage       *img;
  PgGrid          g; /* the stack's grid (NULL without a stack) */
  uint8_t        *vlabels, *mask;
  PgSegmentStats  vst;
};

/* The rank that reads, segments and writes image k (and hands it to calibration). */
static int ImageOwner(const SegStage *S, int k) { return k % S->size; }

/* Checks every input before any work. */
static PetscErrorCode CheckInputs(SegStage *S)
{
  const PgConfig *cfg = S->cfg;

  PetscFunctionBeginUser;
  snprintf(S->list, sizeof S->list, "%s", cfg->seg.images);
  PetscCall(PgInputSplitList(S->comm, "segment.images", S->list, S->specs, &S->nimg));
  PetscCall(PetscCalloc1(PetscMax(S->nimg, 1), &S->img));
  PetscCall(PetscCalloc1(PetscMax(S->nimg, 1), &S->ir));
  for (int k = 0; k < S->nimg; k++) {
    PgInputProbe *r = &S->ir[k];
    PetscCall(PgInputCheck(S->comm, &S->is, S->specs[k], r));
    S->img[k].nx       = (int)r->n[0];
    S->img[k].ny       = (int)r->n[1];
    S->img[k].pixel[0] = r->voxel[0];
    S->img[k].pixel[1] = r->voxel[1];
  }
  if (!cfg->seg.volume[0]) PetscFunctionReturn(0);
  PetscCall(PgInputCheck(S->comm, &S->vs, cfg->seg.volume, &S->vr));
  if (cfg->seg.mask[0]) {
    const PgInputProbe *r = &S->vr, *m = &S->mr;
    PetscCheck(PgInputIsHDF5(cfg->seg.mask) || PgTiffIsSpec(cfg->seg.mask), S->comm, PETSC_ERR_USER_INPUT,
               "segment.mask = %s: expected FILE.h5:/dataset or a TIFF stack (integers, nonzero = inside)",
               cfg->seg.mask);
    PetscCall(PgInputCheck(S->comm, &S->ms, cfg->seg.mask, &S->mr));
    PetscCheck(m->n[0] == r->n[0] && m->n[1] == r->n[1] && m->n[2] == r->n[2], S->comm, PETSC_ERR_USER_INPUT,
               "segment.mask = %s: shape %lld x %lld x %lld differs from the stack's %lld x %lld x %lld (x, y, z)",
               cfg->seg.mask, m->n[0], m->n[1], m->n[2], r->n[0], r->n[1], r->n[2]);
  }
  PetscFunctionReturn(0);
}

/* The stack, on its slabs. */
static PetscErrorCode SegmentStack(SegStage *S)
{
  const PgConfig *cfg  = S->cfg;
  PetscInt        n[3] = {(PetscInt)S->vr.n[0], (PetscInt)S->vr.n[1], (PetscInt)S->vr.n[2]};
  float          *v;
  double          t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(PgGridCreate(S->comm, n, S->vr.voxel, (int)cfg->fft.threads, &S->g));
  const size_t nloc = PetscMax(PgGridLocalVoxels(S->g), 1);
  PetscCall(PetscMalloc1(nloc, &v));
  PetscCall(PetscMalloc1(nloc, &S->vlabels));
  PetscCall(PgInputReadSlab(S->g, &S->vs, cfg->seg.volume, &S->vr, v));
  PetscCall(CheckFinite(S->g, "segment.volume", cfg->seg.volume, v));
  if (cfg->seg.mask[0]) {
    PetscCall(PetscMalloc1(nloc, &S->mask));
    PetscCall(PgInputReadSlab(S->g, &S->ms, cfg->seg.mask, &S->mr, S->mask));
  }
  PetscCall(PgSegmentRun(S->g, &cfg->seg.stack, v, S->mask, S->vlabels, &S->vst));
  PetscCall(ViewStats(S->comm, "stack", &cfg->seg.stack, &S->vst, MPI_Wtime() - t0));
  PetscCall(PetscFree(v));
  PetscFunctionReturn(0);
}

/* Image k on its owner: read, checked for finite values, segmented. Returns 0 and a message on a
 * read failure or a value that is not finite. */
static PetscErrorCode SegmentImageOwned(SegStage *S, int k, int *ok, char *msg, size_t len)
{
  SegImage    *im = &S->img[k];
  const size_t n  = (size_t)im->nx * (size_t)im->ny;
  float       *v;
  PgGrid       ig = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(n, &v));
  PetscCall(PetscMalloc1(n, &im->labels));
  *ok = PgInputRead2D(&S->is, S->specs[k], &S->ir[k], v, msg, len);
  for (size_t i = 0; i < n && *ok; i++)
    if (!isfinite(v[i])) {
      snprintf(
        msg, len,
        "segment.images = %s: the grey value at (x,y) = (%zu,%zu) is not finite (%g); grey values must be numbers",
        S->specs[k], i % (size_t)im->nx, i / (size_t)im->nx, (double)v[i]);
      *ok = 0;
    }
  if (*ok) {
    PetscCall(PgSegmentImageGrid(im->nx, im->ny, im->pixel, &ig));
    PetscCall(PgSegmentRun(ig, &S->cfg->seg.image, v, NULL, im->labels, &im->st));
    PetscCall(PgSegmentImageGridDestroy(&ig));
  }
  PetscCall(PetscFree(v));
  PetscFunctionReturn(0);
}

/* The 2D images: image k on rank k mod P; a failure on the owner is one input error on every rank. */
static PetscErrorCode SegmentImages(SegStage *S)
{
  PetscFunctionBeginUser;
  for (int k = 0; k < S->nimg; k++) {
    SegImage *im                          = &S->img[k];
    char      msg[2 * PETSC_MAX_PATH_LEN] = "", what[64];
    int       ok = 1, owner = ImageOwner(S, k);
    double    sum = 0;
    if (owner == S->rank) PetscCall(SegmentImageOwned(S, k, &ok, msg, sizeof msg));
    PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, owner, S->comm));
    if (!ok) {
      PetscCallMPI(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, owner, S->comm));
      SETERRQ(S->comm, PETSC_ERR_USER_INPUT, "%s", msg);
    }
    PetscCallMPI(MPI_Bcast(&im->st, (int)sizeof im->st, MPI_BYTE, owner, S->comm));
    for (int j = 0; j < 5; j++) sum += im->st.seconds[j];
    snprintf(what, sizeof what, "image %d", k);
    PetscCall(ViewStats(S->comm, what, &S->cfg->seg.image, &im->st, sum));
  }
  PetscFunctionReturn(0);
}

/* /images/<k> of the labels file: created collectively, written by the owner alone. */
static PetscErrorCode WriteImage(SegStage *S, hid_t grp, int k, const char *part)
{
  SegImage  *im      = &S->img[k];
  hsize_t    dims[2] = {(hsize_t)im->ny, (hsize_t)im->nx};
  hid_t      sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
  char       name[16];
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  snprintf(name, sizeof name, "%d", k);
  PgH5Try(&st, sp = H5Screate_simple(2, dims, NULL));
  PgH5TryMsg(&st, d = H5Dcreate2(grp, name, H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "cannot create /images/%s in %s (disk full?)", name, part);
  /* independent write by the owner; the others select nothing */
  if (ImageOwner(S, k) == S->rank)
    PgH5Try(&st, H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->labels));
  PgH5Try(&st, PgH5AttrDouble(d, "voxel_size_um", im->pixel, 2));
  PgH5Try(&st, PgH5AttrString(d, "source", S->specs[k]));
  PgH5Try(&st, StatsAttrs(d, &S->cfg->seg.image, &im->st));
  PgH5Close(&d);
  PgH5Close(&sp);
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

/* The contents of the labels file: its attributes, /volume (the stack) and /images/<k>. */
static PetscErrorCode WriteLabelsContent(SegStage *S, hid_t file, const char *part)
{
  const PgConfig *cfg = S->cfg;
  hid_t           d = H5I_INVALID_HID, grp = H5I_INVALID_HID;
  PgH5Status      st   = PG_H5_STATUS_INIT;
  PetscErrorCode  ierr = 0;

  PetscFunctionBeginUser;
  PetscCall(PgH5WriteStringAttr(file, "source_volume", cfg->seg.volume));
  PetscCall(PgH5WriteStringAttr(file, "source_images", cfg->seg.images));
  PetscCall(PgH5WriteStringAttr(file, "version", PG_VERSION));
  if (S->g) {
    PetscCall(PgH5WriteSlabs(S->g, file, "volume", H5T_STD_U8LE, H5T_NATIVE_UINT8, S->vlabels, (hsize_t)S->g->n[0],
                             (int)cfg->output.compress_level, part));
    PgH5Try(&st, d = H5Dopen2(file, "volume", H5P_DEFAULT));
    PgH5Try(&st, StatsAttrs(d, &cfg->seg.stack, &S->vst));
    PgH5Close(&d);
    PetscCall(PgH5Check(&st));
  }
  if (!S->nimg) PetscFunctionReturn(0);
  PetscCall(PgH5GroupCreate(file, "images", &grp));
  for (int k = 0; k < S->nimg && !ierr; k++) ierr = WriteImage(S, grp, k, part);
  PgH5Close(&grp);
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* The labels file: written under a temporary name, renamed when complete. */
static PetscErrorCode WriteLabelsFile(SegStage *S)
{
  const char    *path = S->cfg->seg.labels_file;
  char           part[PETSC_MAX_PATH_LEN + 8];
  hid_t          file = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  snprintf(part, sizeof part, "%s.part", path);
  PetscCall(PgH5FileOpen(S->comm, part, PETSC_TRUE, &file));
  ierr = WriteLabelsContent(S, file, part);
  if (ierr) PgH5Close(&file);
  PetscCall(ierr);
  PetscCall(PgH5FileClose(&file, part));
  PetscCall(PgFileRename(S->comm, part, path));
  PetscCall(PetscPrintf(S->comm, "plurigauss: labels in %s\n", path));
  PetscFunctionReturn(0);
}

static PetscErrorCode SegStageFree(SegStage *S)
{
  PetscFunctionBeginUser;
  for (int k = 0; k < S->nimg; k++) PetscCall(PetscFree(S->img[k].labels));
  PetscCall(PetscFree(S->img));
  PetscCall(PetscFree(S->ir));
  PetscCall(PetscFree(S->vlabels));
  PetscCall(PetscFree(S->mask));
  PetscCall(PgGridDestroy(&S->g));
  PetscFunctionReturn(0);
}

static PetscErrorCode SegStageRun(SegStage *S)
{
  const PgConfig *cfg = S->cfg;

  PetscFunctionBeginUser;
  PetscCheck(strcmp(cfg->seg.labels_file, cfg->output.file), S->comm, PETSC_ERR_USER_INPUT,
             "segment.labels_file = %s is output.file: give the labels their own file", cfg->seg.labels_file);
  PetscCall(CheckInputs(S));
  if (cfg->seg.volume[0]) PetscCall(SegmentStack(S));
  PetscCall(SegmentImages(S));
  PetscCall(WriteLabelsFile(S));
  PetscFunctionReturn(0);
}

void PgSegmentInputSpecs(const PgConfig *cfg, PgInputSpec *volume, PgInputSpec *images)
{
  *volume = (PgInputSpec){"segment.volume",
                          "segment.volume_shape",
                          "segment.volume_voxel_um",
                          "segment.raw_type",
                          cfg->seg.volume_shape,
                          cfg->seg.volume_voxel_um,
                          cfg->seg.raw_type,
                          3,
                          PG_VALUES_GREY,
                          NULL,
                          NULL};
  *images = (PgInputSpec){"segment.images",
                          "segment.image_shape",
                          "segment.pixel_um",
                          "segment.raw_type",
                          cfg->seg.image_shape,
                          cfg->seg.pixel_um,
                          cfg->seg.raw_type,
                          2,
                          PG_VALUES_GREY,
                          NULL,
                          NULL};
}

PetscErrorCode PgSegmentStage(MPI_Comm comm, const PgConfig *cfg, PgSegmentation *seg)
{
  const double   one[3] = {1, 1, 1};
  SegStage      *S;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  *seg = NULL;
  if (!cfg->seg.volume[0] && !cfg->seg.images[0]) PetscFunctionReturn(0);
  PetscCall(PetscNew(&S));
  S->comm = comm;
  S->cfg  = cfg;
  PetscCallMPI(MPI_Comm_rank(comm, &S->rank));
  PetscCallMPI(MPI_Comm_size(comm, &S->size));
  PgSegmentInputSpecs(cfg, &S->vs, &S->is);
  S->ms = (PgInputSpec){"segment.mask",
                        "segment.volume_shape",
                        "segment.volume_voxel_um",
                        "segment.raw_type",
                        cfg->seg.volume_shape,
                        one,
                        PG_RAW_UINT8,
                        3,
                        PG_VALUES_MASK,
                        NULL,
                        NULL};
  ierr  = SegStageRun(S);
  if (ierr) PetscCall(PgSegmentationDestroy(&S));
  PetscCall(ierr);
  *seg = S;
  PetscFunctionReturn(0);
}

PetscErrorCode PgSegmentationCalibrates(PgSegmentation S, PetscBool *yes)
{
  const PgConfig *cfg = S->cfg;

  PetscFunctionBeginUser;
  *yes = cfg->seg.calibrate && S->g && S->nimg && !cfg->cal.volume[0];
  if (!*yes) PetscFunctionReturn(0);
  PetscCheck(cfg->seg.image.phases == 3, S->comm, PETSC_ERR_USER_INPUT,
             "segment.calibrate needs three-phase images: segment.image_phases = 3");
  if (S->mask)
    PetscCall(PetscPrintf(
      S->comm,
      "segment: warning: calibration counts the stack's voxels outside segment.mask (label 255) as not NVP; crop the stack to the particle's interior\n"));
  PetscFunctionReturn(0);
}

void PgSegmentationVolume(PgSegmentation S, PgGrid *grid, const uint8_t **labels)
{
  *grid   = S->g;
  *labels = S->vlabels;
}

void PgSegmentationImage(PgSegmentation S, int k, int *nx, int *ny, double pixel_um[2], int *owner,
                         const uint8_t **labels)
{
  const SegImage *im = &S->img[k];
  *nx                = im->nx;
  *ny                = im->ny;
  pixel_um[0]        = im->pixel[0];
  pixel_um[1]        = im->pixel[1];
  *owner             = ImageOwner(S, k);
  *labels            = *owner == S->rank ? im->labels : NULL;
}

int PgSegmentationNumImages(PgSegmentation S) { return S->nimg; }

const char *PgSegmentationLabelsFile(PgSegmentation S) { return S->cfg->seg.labels_file; }

PetscErrorCode PgSegmentationDestroy(PgSegmentation *seg)
{
  PetscFunctionBeginUser;
  if (!*seg) PetscFunctionReturn(0);
  PetscCall(SegStageFree(*seg));
  PetscCall(PetscFree(*seg));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Deck keys: segment.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

#define INF HUGE_VAL
static const char *const majority_names[] = {"none", "cube", "ball", NULL};

const PgKey PgSegmentKeys[] = {
  {"segment_volume", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "segment first: grey 3D stack FILE.h5:/dataset (integer or float) or raw file ([z][y][x], x fastest)"},
  {"segment_volume_shape", PG_KEY_INT, 3, 3, NULL, "voxels", 1, 1 << 24, 0, 0, NULL, "raw stack: nx,ny,nz"},
  {"segment_volume_voxel_um", PG_KEY_REAL, 1, 3, NULL, "um", 0, INF, 1, 1, NULL,
   "voxel edge of the stack, one value or dx,dy,dz; default: HDF5 attribute voxel_size_um"},
  {"segment_mask", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "uint8 mask of the stack FILE.h5:/dataset (nonzero = particle); Otsu counts only the mask, label 255 outside"},
  {"segment_images", PG_KEY_STRING, 1, 1, "", "paths", 0, 0, 0, 0, NULL,
   "grey 2D images, comma-separated FILE.h5:/dataset or raw files"},
  {"segment_image_shape", PG_KEY_INT, 2, 2, NULL, "pixels", 1, 1 << 24, 0, 0, NULL, "raw images: nx,ny"},
  {"segment_pixel_um", PG_KEY_REAL, 1, 2, NULL, "um", 0, INF, 1, 1, NULL,
   "pixel edge of the 2D images, one value or dx,dy; default: HDF5 attribute voxel_size_um"},
  {"segment_raw_type", PG_KEY_ENUM, 1, 1, "uint16", "-", 0, 0, 0, 0, PgRawTypeKeyNames,
   "element type of raw grey inputs (little endian)"},
  {"segment_labels_file", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "HDF5 file of the labels (/volume, /images/K); default: <output.file stem>_labels.h5"},
  {"segment_calibrate", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "calibrate from the segmented stack and images (both needed) unless calibration.volume is given"},
  {"segment_stack_median_radius_um", PG_KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "stack: median filter radius (0 = off)"},
  {"segment_stack_otsu_radius_um", PG_KEY_REAL, 1, 1, "0.5", "um", 0, INF, 0, 1, NULL,
   "stack: local Otsu radius (the paper: 0.5 on each FIB-SEM slice); 0 = global Otsu"},
  {"segment_stack_3d", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "stack: median, Otsu and Mexican hat on 3D balls instead of slice by slice"},
  {"segment_stack_phases", PG_KEY_INT, 1, 1, "1", "-", 1, 3, 0, 0, NULL,
   "stack: 1 = NVP only (labels 1, 0), 3 = the two-step rule (labels 1, 2, 3); 2 is not allowed"},
  {"segment_stack_log_sigma_um", PG_KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "stack: Mexican hat sigma before the second step (0 = off)"},
  {"segment_stack_log_weight", PG_KEY_REAL, 1, 1, "1", "-", 0, INF, 0, 1, NULL,
   "stack: Mexican hat weight w in g - w sigma^2 LoG(g)"},
  {"segment_stack_majority", PG_KEY_ENUM, 1, 1, "cube", "-", 0, 0, 0, 0, majority_names,
   "stack: majority filter (the paper: 3x3x3 cube)"},
  {"segment_stack_majority_radius_um", PG_KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "stack: radius of the ball majority filter"},
  {"segment_stack_bins", PG_KEY_INT, 1, 1, "256", "-", 2, 65536, 0, 0, NULL,
   "stack: histogram bins of Otsu (values quantised between the data's min and max)"},
  {"segment_image_median_radius_um", PG_KEY_REAL, 1, 1, "0.025", "um", 0, INF, 0, 1, NULL,
   "images: median filter radius (the paper: 25 nm)"},
  {"segment_image_otsu_radius_um", PG_KEY_REAL, 1, 1, "0.25", "um", 0, INF, 0, 1, NULL,
   "images: local Otsu radius of both steps (the paper: 0.25); 0 = global Otsu"},
  {"segment_image_phases", PG_KEY_INT, 1, 1, "3", "-", 1, 3, 0, 0, NULL,
   "images: 3 = the two-step rule (labels 1, 2, 3); 1 = NVP only"},
  {"segment_image_log_sigma_um", PG_KEY_REAL, 1, 1, "0.005", "um", 0, INF, 0, 1, NULL,
   "images: Mexican hat sigma (the paper: 7x7 at 5 nm, i.e. sigma 5 nm, window 3 sigma); 0 = off"},
  {"segment_image_log_weight", PG_KEY_REAL, 1, 1, "1", "-", 0, INF, 0, 1, NULL,
   "images: Mexican hat weight w in g - w sigma^2 LoG(g)"},
  {"segment_image_majority", PG_KEY_ENUM, 1, 1, "ball", "-", 0, 0, 0, 0, majority_names,
   "images: majority filter (the paper: radius 25 nm)"},
  {"segment_image_majority_radius_um", PG_KEY_REAL, 1, 1, "0.025", "um", 0, INF, 0, 1, NULL,
   "images: radius of the ball majority filter"},
  {"segment_image_bins", PG_KEY_INT, 1, 1, "256", "-", 2, 65536, 0, 0, NULL, "images: histogram bins of Otsu"},
};
#undef INF
const int PgSegmentNKeys = (int)(sizeof PgSegmentKeys / sizeof PgSegmentKeys[0]);

/* The inputs, the labels file (default: beside output.file, set by config.c), and the filter chains
 * of the stack and of the images. */
#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgSegmentLoadOptions(PgDeck deck, PgSegmentOptions *o)
{
  const MPI_Comm comm = PgDeckComm(deck);

  PetscFunctionBeginUser;
  snprintf(o->volume, sizeof o->volume, "%s", V("segment_volume")->s);
  snprintf(o->mask, sizeof o->mask, "%s", V("segment_mask")->s);
  snprintf(o->images, sizeof o->images, "%s", V("segment_images")->s);
  PetscCall(PgDeckImageInputKeys(deck, "segment", o->volume_shape, o->volume_voxel_um, o->image_shape, o->pixel_um));
  o->raw_type  = (int)V("segment_raw_type")->v[0];
  o->calibrate = V("segment_calibrate")->v[0] != 0;
  snprintf(o->labels_file, sizeof o->labels_file, "%s", V("segment_labels_file")->s);
  for (int k = 0; k < 2; k++) {
    const char       *w = k ? "image" : "stack";
    PgSegmentFilters *f = k ? &o->image : &o->stack;
    char              key[64];
#define SV(name) (snprintf(key, sizeof key, "segment_%s_%s", w, name), V(key))
    f->median_um    = SV("median_radius_um")->v[0];
    f->otsu_um      = SV("otsu_radius_um")->v[0];
    f->in3d         = k ? PETSC_FALSE : (PetscBool)(V("segment_stack_3d")->v[0] != 0);
    f->phases       = (int)SV("phases")->v[0];
    f->log_sigma_um = SV("log_sigma_um")->v[0];
    f->log_weight   = SV("log_weight")->v[0];
    f->majority     = (int)SV("majority")->v[0];
    f->majority_um  = SV("majority_radius_um")->v[0];
    f->bins         = (int)SV("bins")->v[0];
#undef SV
    PetscCheck(f->phases != 2, comm, PETSC_ERR_USER_INPUT,
               "segment.%s_phases = 2 is not allowed; allowed: 1 (NVP vs the rest) or 3 (NVP, carbon, pore)", w);
    PetscCheck(f->majority != 2 || f->majority_um > 0, comm, PETSC_ERR_USER_INPUT,
               "segment.%s_majority = ball needs segment.%s_majority_radius_um > 0", w, w);
  }
  PetscFunctionReturn(0);
}
#undef V
