/// \file
/// Openings by balls and disks on the z-slabs: 3D and 2D continuous phase size distributions and
/// simulated mercury intrusion (definitions in opening.h).
///
/// Algorithm. One exact distance transform of the phase gives every voxel's largest inscribed ball
/// (edt.c). For each radius r_k the centres C_r = {d2 >= r^2} are a threshold of it, and the opening
/// is the dilation of C_r by the ball, i.e. a threshold of a second distance transform, that of the
/// complement of C_r (the distance to the nearest centre): two passes over the volume per level plus
/// one transform, exact for any voxel shape. The MIP keeps only the centres connected to the inlet,
/// labelled by the distributed connected components (components.c) once per level for all axes.
/// The centres whose component touches every measured inlet (nearly all of them) are dilated once
/// for all axes; the few that only some inlets reach are stamped as balls into those axes' level
/// maps (MipLevelStamped), with the dilation's own float sums so that the result is bitwise that of
/// one dilation per axis; the stamps within reach of a slab face go to the neighbour first. When
/// the stamps would cost more than the dilations, or a slab is thinner than a ball, the level
/// dilates per axis instead (axes whose inlets select the same components share one). The 2D distributions work
/// plane by plane with the 2D transform (PgEdtPlane), entirely local.
///
/// The phase's transform is tried bounded first (windowed passes, several times cheaper than the
/// exact envelopes) when a radius hint says how far it reaches, and is exact either way (PhaseTransform);
/// measure.c keeps the hints from one realization to the next (PgOpeningGetHints / SetHints).
///
/// The number of levels is set by the largest inscribed radius R: K = R / step, so the cost is
/// K + 1 transforms for the 3D cPSD, K (transform + components) for the MIP and K' plane transforms
/// per slice for 2D, with R typically a few correlation lengths.
///
/// Communication per level and rank: the dilation's chain along the ranks (edt.c, at most a plane of
/// int32 per neighbour), the components' halo exchange and merge tree (components.c), and one
/// allreduce of a few counters; the 2D distribution one allreduce of its counters at the end. Nothing volume-sized.
/// Memory: one float volume (4 bytes per voxel: the transform, then each dilation), the inscribed
/// radius as a level (1), the centre mask (1), the level maps (1 for the cPSD, 1 per MIP axis while
/// the MIP runs, the first shared) and the components' ids (4 + 2 ghost planes) while the MIP runs:
/// 13 bytes per voxel beside the labels with three MIP axes.
#include <plurigauss/components.h>
#include <plurigauss/edt.h>
#include <plurigauss/opening.h>

#include <math.h>
#include <omp.h>
#include <string.h>

#define TAG_STAMPS 101 /* the MIP stamps' exchange with the z-neighbours (counts, then coordinates) */

/* float distances carry a relative rounding of a few 1e-7 (edt.c): thresholds at r^2 allow for it */
#define D2_TOL 2e-6

struct PgOpening_private {
  PgGrid          grid;
  PetscBool       periodic;
  double          step_um;
  PgEdt           edt, edt_np; /* the cPSD's transform (periodic or not) and the MIP's (never) */
  PgComponents    comp;
  float          *d2;          /* squared inscribed radius (the transform), then squared distance to the centres */
  uint8_t        *rl;          /* inscribed radius of each voxel in steps (level), 0 outside the phase */
  uint8_t        *centre;      /* mask of the centres, then of the centres connected to an inlet */
  uint8_t        *lt, *mlt[3]; /* largest covering level per voxel: cPSD, MIP per axis (0: none); lt is
                                mlt[0]'s memory (the cPSD is done when the MIP starts), mlt[1..2]
                                live only while the MIP runs */
  int             cap3, cap2;  /* most levels a curve may have (half the shortest side) */
  PetscBool       stamps;      /* MIP: one dilation for the centres every inlet reaches, balls stamped for the rest */
  PgOpeningHints  guess;       /* per transform (periodic 3D, non-periodic 3D, 2D) and phase value: the
                                 largest inscribed radius last time, in steps (0: unknown) */
  double         *psd3, *psd2, *mip[3];
  double         *slices;      /* per local plane and 2D level */
  int64_t        *num2, *den2; /* per local plane and 2D level: covered and phase voxels in the window */
  PgOpeningResult result;
};

PetscErrorCode PgOpeningCreate(PgGrid grid, PetscBool periodic, double step_um, PgOpening *op)
{
  PgOpening    o;
  const size_t n = PgGridLocalVoxels(grid), nzl = (size_t)grid->nz_local;
  const double side3 =
    PetscMin(PetscMin(grid->n[0] * grid->voxel_um[0], grid->n[1] * grid->voxel_um[1]), grid->n[2] * grid->voxel_um[2]);
  const double side2 = PetscMin(grid->n[0] * grid->voxel_um[0], grid->n[1] * grid->voxel_um[1]);

  PetscFunctionBeginUser;
  PetscCheck(step_um > 0 && isfinite(step_um), grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "opening: radius step %g um must be positive", step_um);
  PetscCall(PetscNew(&o));
  o->grid     = grid;
  o->periodic = periodic;
  o->step_um  = step_um;
  o->cap3     = PetscMax(1, (int)floor(0.5 * side3 / step_um));
  o->cap2     = PetscMax(1, (int)floor(0.5 * side2 / step_um));
  o->stamps   = PETSC_TRUE;
  PetscCall(
    PetscOptionsGetBool(NULL, NULL, "-opening_mip_stamps", &o->stamps, NULL)); /* tests: false = a dilation per axis */
  PetscCall(PgEdtCreate(grid, periodic, &o->edt));
  if (periodic) PetscCall(PgEdtCreate(grid, PETSC_FALSE, &o->edt_np));
  else o->edt_np = o->edt;
  PetscCall(PgEdtSetUpDilate(o->edt));
  PetscCall(PgEdtSetUpDilate(o->edt_np));
  PetscCall(PgComponentsCreate(grid, &o->comp));
  PetscCall(PetscMalloc4(n, &o->d2, n, &o->rl, n, &o->centre, n, &o->mlt[0]));
  o->lt = o->mlt[0];
  PetscCall(PetscMalloc5(o->cap3 + 1, &o->psd3, o->cap2 + 1, &o->psd2, o->cap3 + 1, &o->mip[0], o->cap3 + 1, &o->mip[1],
                         o->cap3 + 1, &o->mip[2]));
  PetscCall(
    PetscMalloc3(nzl * (size_t)o->cap2, &o->slices, nzl * (size_t)o->cap2, &o->num2, nzl * (size_t)o->cap2, &o->den2));
  *op = o;
  PetscFunctionReturn(0);
}

PetscErrorCode PgOpeningDestroy(PgOpening *op)
{
  PgOpening o = *op;

  PetscFunctionBeginUser;
  if (!o) PetscFunctionReturn(0);
  if (o->edt_np != o->edt) PetscCall(PgEdtDestroy(&o->edt_np));
  PetscCall(PgEdtDestroy(&o->edt));
  PetscCall(PgComponentsDestroy(&o->comp));
  PetscCall(PetscFree4(o->d2, o->rl, o->centre, o->mlt[0]));
  PetscCall(PetscFree5(o->psd3, o->psd2, o->mip[0], o->mip[1], o->mip[2]));
  PetscCall(PetscFree3(o->slices, o->num2, o->den2));
  PetscCall(PetscFree(*op));
  PetscFunctionReturn(0);
}

void PgOpeningGetHints(PgOpening o, PgOpeningHints hints) { memcpy(hints, o->guess, sizeof o->guess); }

void PgOpeningSetHints(PgOpening o, const PgOpeningHints hints) { memcpy(o->guess, hints, sizeof o->guess); }

double PgOpeningMedian(const double *curve, int n, double step, double v0)
{
  double prev = v0;

  if (n < 1 || v0 < 0.5) return 0.0;
  for (int k = 0; k < n; k++) {
    if (curve[k] < 0.5) return step * (k + (prev - 0.5) / (prev - curve[k]));
    prev = curve[k];
  }
  /* beyond the last level there are no centres: the curve is 0 at radius (n + 1) * step */
  return step * (n + (prev - 0.5) / prev);
}

/* Minus-sampling margin in voxels along an axis of voxel edge d for radius r: the voxels within
 * distance < 2r must lie in the domain. */
static inline int Margin(double r, double d) { return (int)ceil(2.0 * r / d * (1.0 - 1e-9)) - 1; }

/* Levels with a centre: radii k * step <= R, at most cap (+inf R: cap), and at most PG_OPENING_MAX_LEVELS
 * (the per-voxel level maps are bytes; a step that fine against the structure is flagged). */
static int Levels(double rmax2, double step, int cap)
{
  cap = PetscMin(cap, PG_OPENING_MAX_LEVELS);
  if (!(rmax2 < INFINITY)) return cap;
  int k = (int)floor(sqrt(rmax2) / step);
  while (k > 0 && (k * step) * (k * step) * (1 - D2_TOL) > rmax2) k--;
  while ((k + 1) * step * ((k + 1) * step) * (1 - D2_TOL) <= rmax2) k++;
  return PetscMin(k, cap);
}

/* Largest squared radius among the local voxels of the phase, over all ranks (+inf if the phase
 * has a voxel with no complement anywhere). */
static PetscErrorCode MaxRadius2(PgGrid g, const float *r2, const uint8_t *v, uint8_t value, double *rmax2)
{
  const size_t n = PgGridLocalVoxels(g);
  double       m = 0;

  PetscFunctionBeginUser;
  for (size_t i = 0; i < n; i++)
    if (v[i] == value && r2[i] > m) m = r2[i];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_DOUBLE, MPI_MAX, g->comm));
  *rmax2 = m;
  PetscFunctionReturn(0);
}

/* The phase's transform (o->d2) as levels: rl[i] = the largest k <= K with d2 >= (k step)^2 (less
 * the float slack), the same test as a threshold of the transform at each level; K from Levels. The
 * levels take 1 byte per voxel instead of the transform's 4, which is then free for the dilations. */
static PetscErrorCode RadiusLevels(PgOpening o, const uint8_t *v, uint8_t value, int K)
{
  PgGrid       g = o->grid;
  const size_t n = PgGridLocalVoxels(g);
  float        thr[PG_OPENING_MAX_LEVELS + 2];
  const float  inv = (float)(1.0 / o->step_um);

  PetscFunctionBeginUser;
  for (int k = 0; k <= K + 1; k++) thr[k] = (float)((k * o->step_um) * (k * o->step_um) * (1 - D2_TOL));
#pragma omp parallel for schedule(static) num_threads(g->threads)
  for (size_t i = 0; i < n; i++) {
    const float d = o->d2[i];
    int         k = v[i] != value ? 0 : d < INFINITY ? (int)PetscMin(sqrtf(d) * inv, (float)K) : K;
    while (k < K && d >= thr[k + 1]) k++;
    while (k > 0 && d < thr[k]) k--;
    o->rl[i] = (uint8_t)k;
  }
  PetscFunctionReturn(0);
}

/* The phase's transform into o->d2 and its largest squared radius over all ranks. When the last
 * transform of this phase (which: 0 periodic, 1 not) stayed below some radius, a bounded transform
 * (the cost of one dilation, edt.c) is tried first with a margin of two steps: it is exact iff its
 * largest value stays below that radius, which the maximum tells on every rank alike; otherwise, and
 * the first time, the exact transform. */
static PetscErrorCode PhaseTransform(PgOpening o, PgEdt edt, int which, const uint8_t *v, uint8_t value, double *rmax2)
{
  int *guess = &o->guess[which][value];

  PetscFunctionBeginUser;
  if (*guess > 0) {
    const double r = (*guess + 2) * o->step_um;
    PetscCall(PgEdtComputeBounded(edt, v, value, r, o->d2));
    PetscCall(MaxRadius2(o->grid, o->d2, v, value, rmax2));
    if (*rmax2 < r * r * (1 - D2_TOL)) PetscFunctionReturn(0);
  }
  PetscCall(PgEdtCompute(edt, v, value, PETSC_FALSE, o->d2));
  PetscCall(MaxRadius2(o->grid, o->d2, v, value, rmax2));
  *guess = *rmax2 < INFINITY ? (int)PetscMin(ceil(sqrt(*rmax2) / o->step_um), (double)PG_OPENING_MAX_LEVELS) : 0;
  PetscFunctionReturn(0);
}

/* centre[i] = 1 where the phase's inscribed radius reaches level k; returns the global count. */
static PetscErrorCode Centres(PgGrid g, const uint8_t *rl, int k, uint8_t *centre, int64_t *count)
{
  const size_t n = PgGridLocalVoxels(g);
  int64_t      c = 0;

  PetscFunctionBeginUser;
#pragma omp parallel for reduction(+ : c) schedule(static) num_threads(g->threads)
  for (size_t i = 0; i < n; i++) {
    centre[i] = rl[i] >= k;
    c += centre[i];
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &c, 1, MPI_INT64_T, MPI_SUM, g->comm));
  *count = c;
  PetscFunctionReturn(0);
}

/* Marks level k on the voxels within distance < r of the centres (d2: squared distance to them)
 * that no larger level covers yet. */
static void Cover(size_t n, const float *d2, double r, int k, uint8_t *level, int threads)
{
  const float thr = (float)(r * r * (1 - D2_TOL));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (size_t i = 0; i < n; i++)
    if (!level[i] && d2[i] < thr) level[i] = (uint8_t)k;
}

/* The opening of the phase at every level, largest radius first: level[i] = the largest level k
 * whose opening covers voxel i (0: none), i.e. the local thickness in steps. The union over the
 * levels >= k is the opening at r_k by the balls of radius >= r_k that fit: the covered set
 * shrinks with r (the curve is monotone), and a digital ball of radius R is covered entirely up
 * to R. */
static PetscErrorCode OpeningLevels(PgOpening o, PgEdt edt, int K, uint8_t *level)
{
  PgGrid       g = o->grid;
  const size_t n = PgGridLocalVoxels(g);

  PetscFunctionBeginUser;
  PetscCall(PetscArrayzero(level, n));
  for (int k = K; k >= 1; k--) {
    const double r = k * o->step_um;
    int64_t      ncentre;
    PetscCall(Centres(g, o->rl, k, o->centre, &ncentre));
    if (!ncentre) continue;
    PetscCall(PgEdtDilate(edt, o->centre, 1, r, o->d2));
    Cover(n, o->d2, r, k, level, g->threads);
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode Psd3(PgOpening o, const uint8_t *v, uint8_t value)
{
  PgGrid    g  = o->grid;
  const int nx = (int)g->n[0], ny = (int)g->n[1], nz = (int)g->n[2];
  double    rmax2;
  int       K, kwin = o->cap3, n;
  int64_t  *cnt;

  PetscFunctionBeginUser;
  PetscCall(PhaseTransform(o, o->edt, 0, v, value, &rmax2));
  K = Levels(rmax2, o->step_um, o->cap3);
  for (int k = 1; k <= o->cap3 && !o->periodic; k++) {
    const double r = k * o->step_um;
    if (2 * Margin(r, g->voxel_um[0]) >= nx || 2 * Margin(r, g->voxel_um[1]) >= ny ||
        2 * Margin(r, g->voxel_um[2]) >= nz) {
      kwin = k - 1;
      break;
    }
  }
  K = PetscMin(K, kwin);
  PetscCall(RadiusLevels(o, v, value, K));
  PetscCall(OpeningLevels(o, o->edt, K, o->lt));
  n = PetscMin(K + 1, kwin); /* one level past the last centre, where Psi = 0 */
  PetscCall(PetscCalloc1(2 * (size_t)PetscMax(n, 1), &cnt));
  for (int k = 1; k <= n; k++) { /* covered and phase voxels in the window of level k */
    const double r    = k * o->step_um;
    int          m[3] = {0, 0, 0};
    if (!o->periodic)
      for (int a = 0; a < 3; a++) m[a] = Margin(r, g->voxel_um[a]);
    const int z0 = PetscMax(m[2] - (int)g->z_start, 0), z1 = PetscMin(nz - m[2] - (int)g->z_start, (int)g->nz_local);
    int64_t   cov = 0, ph = 0;
#pragma omp parallel for collapse(2) reduction(+ : cov, ph) schedule(static) num_threads(g->threads)
    for (int zl = z0; zl < z1; zl++)
      for (int y = m[1]; y < ny - m[1]; y++) {
        const size_t   i0 = PgGridIndex(g, zl, y, 0);
        const uint8_t *vv = v + i0, *ll = o->lt + i0;
        for (int x = m[0]; x < nx - m[0]; x++) {
          ph += vv[x] == value;
          cov += ll[x] >= k;
        }
      }
    cnt[2 * (k - 1)]     = cov;
    cnt[2 * (k - 1) + 1] = ph;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 2 * n, MPI_INT64_T, MPI_SUM, g->comm));
  for (int k = 0; k < n; k++) o->psd3[k] = cnt[2 * k + 1] ? (double)cnt[2 * k] / (double)cnt[2 * k + 1] : 0.0;
  o->result.n3          = n;
  o->result.r50_psd3_um = (n && cnt[1]) ? PgOpeningMedian(o->psd3, n, o->step_um, 1.0) : 0.0; /* no phase: 0 */
  PetscCall(PetscFree(cnt));
  PetscFunctionReturn(0);
}

/* Phase voxels of the plane in the rectangle [x0, x1) x [y0, y1) from its summed-area table. */
static inline int64_t Rect(const int32_t *sat, int nx, int x0, int x1, int y0, int y1)
{
  const int w = nx + 1;
  return (int64_t)sat[y1 * w + x1] - sat[y0 * w + x1] - sat[y1 * w + x0] + sat[y0 * w + x0];
}

/* The summed-area table s ((nx + 1) x (ny + 1), a zero first row and column) of the pixels of
 * plane vp that hold value. */
static void SummedArea(const uint8_t *vp, uint8_t value, int nx, int ny, int32_t *s)
{
  for (int x = 0; x <= nx; x++) s[x] = 0;
  for (int y = 0; y < ny; y++) {
    int32_t row           = 0;
    s[(y + 1) * (nx + 1)] = 0;
    for (int x = 0; x < nx; x++) {
      row += vp[(size_t)y * nx + x] == value;
      s[(y + 1) * (nx + 1) + x + 1] = s[y * (nx + 1) + x + 1] + row;
    }
  }
}

/* The 2D curves of the first levels radii from the per-plane counts: every slice's (o->slices) and
 * the pooled one (o->psd2) with its median radius. Collective. */
static PetscErrorCode Psd2Curves(PgOpening o, int levels)
{
  PgGrid    g   = o->grid;
  const int cap = o->cap2;
  int64_t  *sum;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(2 * (size_t)PetscMax(levels, 1), &sum));
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
    for (int k = 0; k < levels; k++) {
      const int64_t nm = o->num2[zl * cap + k], dn = o->den2[zl * cap + k];
      o->slices[zl * cap + k] = dn > 0 ? (double)nm / (double)dn : NAN;
      sum[2 * k] += nm;
      sum[2 * k + 1] += dn;
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sum, 2 * levels, MPI_INT64_T, MPI_SUM, g->comm));
  for (int k = 0; k < levels; k++) o->psd2[k] = sum[2 * k + 1] ? (double)sum[2 * k] / (double)sum[2 * k + 1] : 0.0;
  o->result.n2 = levels;
  o->result.r50_psd2_um =
    (levels && sum[1]) ? PgOpeningMedian(o->psd2, levels, o->step_um, 1.0) : 0.0; /* no phase: 0 */
  PetscCall(PetscFree(sum));
  PetscFunctionReturn(0);
}

static PetscErrorCode Psd2(PgOpening o, const uint8_t *v, uint8_t value)
{
  PgGrid       g  = o->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1], cap = o->cap2, nt = PgEdtThreads(o->edt);
  const size_t plane  = PgGridPlane(g);
  int          levels = 0, kwin = cap;
  const double rguess = o->guess[2][value] > 0 ? (o->guess[2][value] + 2) * o->step_um : 0;

  PetscFunctionBeginUser;
  for (int k = 1; k <= cap && !o->periodic; k++)
    if (2 * Margin(k * o->step_um, g->voxel_um[0]) >= nx || 2 * Margin(k * o->step_um, g->voxel_um[1]) >= ny) {
      kwin = k - 1;
      break;
    }
  /* per thread: the plane's inscribed radii, distances to centres, centre mask, levels, summed-area table */
  float   *r2p, *d2p;
  uint8_t *cp, *lp;
  int32_t *sat;
  PetscCall(PetscMalloc5((size_t)nt * plane, &r2p, (size_t)nt * plane, &d2p, (size_t)nt * plane, &cp,
                         (size_t)nt * plane, &lp, (size_t)nt * (nx + 1) * (ny + 1), &sat));
#pragma omp parallel num_threads(nt) reduction(max : levels)
  {
    const int t  = omp_get_thread_num();
    float    *r2 = r2p + (size_t)t * plane, *d2 = d2p + (size_t)t * plane;
    uint8_t  *c = cp + (size_t)t * plane, *lt = lp + (size_t)t * plane;
    int32_t  *s = sat + (size_t)t * (nx + 1) * (ny + 1);
#pragma omp for schedule(dynamic, 1)
    for (ptrdiff_t zl = 0; zl < g->nz_local; zl++) {
      const uint8_t *vp  = v + (size_t)zl * plane;
      int64_t       *num = o->num2 + (size_t)zl * cap, *den = o->den2 + (size_t)zl * cap;
      double         m2 = 0;
      SummedArea(vp, value, nx, ny, s);
      /* a bounded transform when the last 2D radii stayed below the bound, checked per plane */
      if (rguess > 0) {
        PgEdtPlaneBounded(o->edt, t, vp, value, rguess, r2);
        for (size_t i = 0; i < plane; i++)
          if (vp[i] == value && r2[i] > m2) m2 = r2[i];
      }
      if (!(rguess > 0 && m2 < rguess * rguess * (1 - D2_TOL))) {
        m2 = 0;
        PgEdtPlane(o->edt, t, vp, value, PETSC_FALSE, r2);
        for (size_t i = 0; i < plane; i++)
          if (vp[i] == value && r2[i] > m2) m2 = r2[i];
      }
      const int K = PetscMin(Levels(m2, o->step_um, cap), kwin);
      if (K > levels) levels = K;
      for (size_t i = 0; i < plane; i++) lt[i] = 0;
      for (int k = K; k >= 1; k--) {
        const double r   = k * o->step_um;
        const float  thr = (float)(r * r * (1 - D2_TOL));
        int          any = 0;
        for (size_t i = 0; i < plane; i++) any |= (c[i] = r2[i] >= thr);
        if (!any) continue;
        PgEdtPlaneDilate(o->edt, t, c, 1, r, d2);
        for (size_t i = 0; i < plane; i++)
          if (!lt[i] && d2[i] < thr) lt[i] = (uint8_t)k;
      }
      for (int k = 1; k <= kwin; k++) {
        const double r  = k * o->step_um;
        const int    mx = o->periodic ? 0 : Margin(r, g->voxel_um[0]), my = o->periodic ? 0 : Margin(r, g->voxel_um[1]);
        den[k - 1] = Rect(s, nx, mx, nx - mx, my, ny - my);
        num[k - 1] = 0;
        if (k > K) continue;
        for (int y = my; y < ny - my; y++)
          for (int x = mx; x < nx - mx; x++) num[k - 1] += lt[(size_t)y * nx + x] >= k;
      }
    }
  }
  PetscCall(PetscFree5(r2p, d2p, cp, lp, sat));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &levels, 1, MPI_INT, MPI_MAX, g->comm));
  o->guess[2][value] = levels < kwin ? levels + 1 : 0; /* the largest 2D radius is below levels + 1 steps */
  levels             = PetscMin(levels + 1, kwin);     /* one level past the last centre, where Psi = 0 */
  PetscCall(Psd2Curves(o, levels));
  PetscFunctionReturn(0);
}

/* The centres that only some inlets reach, per MIP axis: global voxel coordinates (x, y, z) of this
   rank's such centres and of its neighbours' within reach wz planes of this slab. */
typedef struct {
  int32_t *xyz[3];
  int64_t  n[3], cap[3];
} Stamps;

static PetscErrorCode StampsPush(Stamps *S, int a, int32_t x, int32_t y, int32_t z)
{
  PetscFunctionBeginUser;
  if (S->n[a] == S->cap[a]) {
    int32_t *t;
    S->cap[a] = PetscMax(2 * S->cap[a], 1024);
    PetscCall(PetscMalloc1(3 * S->cap[a], &t));
    if (S->n[a]) PetscCall(PetscArraycpy(t, S->xyz[a], 3 * S->n[a]));
    PetscCall(PetscFree(S->xyz[a]));
    S->xyz[a] = t;
  }
  S->xyz[a][3 * S->n[a]]     = x;
  S->xyz[a][3 * S->n[a] + 1] = y;
  S->xyz[a][3 * S->n[a] + 2] = z;
  S->n[a]++;
  PetscFunctionReturn(0);
}

/* Sends the stamps within wz planes of each slab face to that neighbour (owners only; every owning
   slab holds at least wz planes, checked by the caller) and appends what arrives. */
static PetscErrorCode StampsExchange(PgGrid g, Stamps *S, int wz)
{
  const int32_t z0 = (int32_t)g->z_start, z1 = (int32_t)(g->z_start + g->nz_local);
  int           nb[2];

  PetscFunctionBeginUser;
  PgGridOwningNeighbours(g, PETSC_FALSE, &nb[0], &nb[1]);
  for (int d = 0; d < 2; d++)
    if (nb[d] < 0) nb[d] = MPI_PROC_NULL;
  for (int d = 0; d < 2; d++) { /* d = 0: to the rank below, 1: above */
    int64_t  cnt[3] = {0, 0, 0}, got[3] = {0, 0, 0}, ns = 0, nr;
    int32_t *sb, *rb;
    for (int a = 0; a < 3; a++)
      for (int64_t q = 0; q < S->n[a]; q++) {
        const int32_t z = S->xyz[a][3 * q + 2];
        cnt[a] += (z >= z0 && z < z1) && (d == 0 ? z < z0 + wz : z >= z1 - wz);
      }
    PetscCallMPI(MPI_Sendrecv(cnt, 3, MPI_INT64_T, nb[d], TAG_STAMPS, got, 3, MPI_INT64_T, nb[1 - d], TAG_STAMPS,
                              g->comm, MPI_STATUS_IGNORE));
    ns = cnt[0] + cnt[1] + cnt[2];
    nr = got[0] + got[1] + got[2];
    PetscCheck(3 * PetscMax(ns, nr) <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
               "opening: too many MIP stamps for one message");
    PetscCall(PetscMalloc2(3 * PetscMax(ns, 1), &sb, 3 * PetscMax(nr, 1), &rb));
    for (int a = 0, k = 0; a < 3; a++)
      for (int64_t q = 0; q < S->n[a]; q++) {
        const int32_t z = S->xyz[a][3 * q + 2];
        if ((z >= z0 && z < z1) && (d == 0 ? z < z0 + wz : z >= z1 - wz)) {
          PetscCall(PetscArraycpy(sb + 3 * k, S->xyz[a] + 3 * q, 3));
          k++;
        }
      }
    PetscCallMPI(MPI_Sendrecv(sb, (int)(3 * ns), MPI_INT32_T, nb[d], TAG_STAMPS + 1, rb, (int)(3 * nr), MPI_INT32_T,
                              nb[1 - d], TAG_STAMPS + 1, g->comm, MPI_STATUS_IGNORE));
    for (int a = 0, k = 0; a < 3; a++)
      for (int64_t q = 0; q < got[a]; q++, k++) PetscCall(StampsPush(S, a, rb[3 * k], rb[3 * k + 1], rb[3 * k + 2]));
    PetscCall(PetscFree2(sb, rb));
  }
  PetscFunctionReturn(0);
}

/* Marks level k on the voxels of this slab within distance < r of the stamps that no larger level
   covers yet: the same float sums, in the same order, as the dilation's z pass and y and x windows
   (edt.c), so a voxel is marked exactly when the dilation of the stamps would cover it. */
static void StampCover(PgGrid g, const int32_t *xyz, int64_t n, double r, int k, uint8_t *level)
{
  const int    nx = (int)g->n[0], ny = (int)g->n[1], nzl = (int)g->nz_local, z0 = (int)g->z_start;
  const double dx2 = g->voxel_um[0] * g->voxel_um[0], dy2 = g->voxel_um[1] * g->voxel_um[1];
  const double dz2 = g->voxel_um[2] * g->voxel_um[2];
  const int    wx = PetscMin((int)ceil(r / g->voxel_um[0]), nx), wy = PetscMin((int)ceil(r / g->voxel_um[1]), ny);
  const int    wz  = (int)ceil(r / g->voxel_um[2]);
  const float  thr = (float)(r * r * (1 - D2_TOL));

  for (int64_t q = 0; q < n; q++) {
    const int cx = xyz[3 * q], cy = xyz[3 * q + 1], cz = xyz[3 * q + 2];
    for (int t = -wz; t <= wz; t++) {
      const int zl = cz + t - z0;
      if (zl < 0 || zl >= nzl) continue;
      const double d  = (double)t;
      const float  tz = (float)(dz2 * d * d);
      for (int j = PetscMax(-wy, -cy); j <= PetscMin(wy, ny - 1 - cy); j++) {
        const float ty  = j ? tz + (float)(dy2 * j * j) : tz;
        uint8_t    *row = level + ((size_t)zl * ny + (size_t)(cy + j)) * nx;
        if (!(ty < thr)) continue;
        for (int i = PetscMax(-wx, -cx); i <= PetscMin(wx, nx - 1 - cx); i++) {
          const float tx = i ? ty + (float)(dx2 * i * i) : ty;
          if (tx < thr && !row[cx + i]) row[cx + i] = (uint8_t)k;
        }
      }
    }
  }
}

/* One MIP level with stamps: the centres whose component touches every measured inlet are dilated
   once; for each axis, the centres only its inlet (and not all) reaches are stamped as balls.
   Returns done = PETSC_FALSE (collectively) when stamping would cost more than a dilation per axis
   or a slab is thinner than the balls' reach; the caller then dilates per axis. */
static PetscErrorCode MipLevelStamped(PgOpening o, int k, unsigned axes, const unsigned face[3], PetscBool *done)
{
  PgGrid       g = o->grid;
  const size_t n = PgGridLocalVoxels(g), plane = PgGridPlane(g);
  const double r  = k * o->step_um;
  const int    wx = PetscMin((int)ceil(r / g->voxel_um[0]), (int)g->n[0]);
  const int    wy = PetscMin((int)ceil(r / g->voxel_um[1]), (int)g->n[1]), wz = (int)ceil(r / g->voxel_um[2]);
  unsigned     all = 0;
  Stamps       S;
  int64_t      cnt[4] = {0, 0, 0, 0}; /* centres reached by every inlet, stamps per axis (global) */
  double       cost[2];               /* this rank's stamping work / its voxels, -(thinnest owning slab) */

  PetscFunctionBeginUser;
  *done = PETSC_FALSE;
  PetscCall(PetscMemzero(&S, sizeof S));
  for (int a = 0; a < 3; a++)
    if (axes & (1u << a)) all |= face[a];
  PetscBool many = PETSC_FALSE; /* more stamps than n / 32 (0.4 bytes per voxel): dilate per axis */
  for (size_t i = 0; i < n && !many; i++) {
    if (!o->centre[i]) continue;
    const unsigned f = PgComponentsFacesOf(o->comp, i);
    o->centre[i]     = (f & all) == all;
    cnt[3] += o->centre[i];
    if (o->centre[i]) continue;
    for (int a = 0; a < 3; a++)
      if ((axes & (1u << a)) && (f & face[a]) == face[a])
        PetscCall(StampsPush(&S, a, (int32_t)(i % g->n[0]), (int32_t)(i / g->n[0] % g->n[1]),
                             (int32_t)(g->z_start + (ptrdiff_t)(i / plane))));
    many = (size_t)(S.n[0] + S.n[1] + S.n[2]) > n / 32 ? PETSC_TRUE : PETSC_FALSE;
  }
  for (int a = 0; a < 3; a++) cnt[a] = S.n[a];
  cost[0] =
    many ? INFINITY
         : (double)(S.n[0] + S.n[1] + S.n[2]) * (2 * wx + 1) * (2 * wy + 1) * (2 * wz + 1) / (double)PetscMax(n, 1);
  cost[1] = g->rank < g->nowners ? -(double)g->nz_local : -(double)INT_MAX;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cnt, 4, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cost, 2, MPI_DOUBLE, MPI_MAX, g->comm));
  /* a ball stamp visits (2w+1)^3 voxels, a dilation about 4 passes over the slab per axis it replaces */
  if (cost[0] <= 2.0 && -cost[1] >= wz) {
    PetscCall(StampsExchange(g, &S, wz));
    if (cnt[3]) PetscCall(PgEdtDilate(o->edt_np, o->centre, 1, r, o->d2));
    for (int a = 0; a < 3; a++) {
      if (!(axes & (1u << a))) continue;
      if (cnt[3]) Cover(n, o->d2, r, k, o->mlt[a], g->threads);
      if (cnt[a]) StampCover(g, S.xyz[a], S.n[a], r, k, o->mlt[a]);
    }
    *done = PETSC_TRUE;
    PetscCall(PetscInfo(NULL,
                        "MIP level %d: %" PetscInt64_FMT " centres dilated once, stamps x %" PetscInt64_FMT
                        " y %" PetscInt64_FMT " z %" PetscInt64_FMT "\n",
                        k, (PetscInt64)cnt[3], (PetscInt64)cnt[0], (PetscInt64)cnt[1], (PetscInt64)cnt[2]));
  }
  for (int a = 0; a < 3; a++) PetscCall(PetscFree(S.xyz[a]));
  PetscFunctionReturn(0);
}

static PetscErrorCode Mip(PgOpening o, const uint8_t *v, uint8_t value, unsigned axes, PetscBool inlet_high)
{
  PgGrid       g     = o->grid;
  const size_t n     = PgGridLocalVoxels(g);
  int64_t      phase = 0;
  double       rmax2;
  unsigned     face[3];
  int          K;

  PetscFunctionBeginUser;
  for (int a = 0; a < 3; a++) {
    o->result.nmip[a] = 0;
    face[a]           = (inlet_high ? 2u : 1u) << (2 * a);
    if (a > 0 && (axes & (1u << a))) PetscCall(PetscMalloc1(PetscMax(n, 1), &o->mlt[a]));
    if (axes & (1u << a)) PetscCall(PetscArrayzero(o->mlt[a], n));
  }
  for (size_t i = 0; i < n; i++) phase += v[i] == value;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &phase, 1, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCall(PhaseTransform(o, o->edt_np, 1, v, value, &rmax2));
  K = Levels(rmax2, o->step_um, o->cap3);
  PetscCall(RadiusLevels(o, v, value, K));
  /* largest radius first; at each level, the centres connected to the inlet, and their balls */
  for (int k = K; k >= 1; k--) {
    const double   r = k * o->step_um;
    int64_t        ncentre, first, count;
    const int64_t *vox;
    const uint8_t *fb;
    PetscBool      done[3] = {PETSC_FALSE, PETSC_FALSE, PETSC_FALSE};
    PetscCall(Centres(g, o->rl, k, o->centre, &ncentre));
    if (!ncentre) continue;
    PetscCall(PgComponentsCompute(o->comp, o->centre, 1, PG_CONNECTIVITY_6));
    if (o->stamps) {
      PetscBool stamped;
      PetscCall(MipLevelStamped(o, k, axes, face, &stamped));
      if (stamped) continue;
      PetscCall(Centres(g, o->rl, k, o->centre, &ncentre)); /* MipLevelStamped narrowed the mask */
    }
    PetscCall(PgComponentsGetLocalTable(o->comp, &first, &count, &vox, &fb));
    for (int a = 0; a < 3; a++) {
      int reached = 0, differ[3] = {0, 0, 0};
      if (!(axes & (1u << a)) || done[a]) continue;
      /* later axes whose inlet selects exactly the same components share this dilation */
      for (int64_t q = 0; q < count; q++) {
        reached |= (fb[q] & face[a]) != 0;
        for (int b = a + 1; b < 3; b++)
          if (!(fb[q] & face[a]) != !(fb[q] & face[b])) differ[b] = 1;
      }
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, differ, 3, MPI_INT, MPI_MAX, g->comm));
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &reached, 1, MPI_INT, MPI_MAX, g->comm));
      if (!reached) continue;
      PetscCall(PgComponentsSelect(o->comp, face[a], o->centre)); /* the centres are in the components now */
      PetscCall(PgEdtDilate(o->edt_np, o->centre, 1, r, o->d2));
      for (int b = a; b < 3; b++) {
        if (!(axes & (1u << b)) || (b > a && differ[b])) continue;
        Cover(n, o->d2, r, k, o->mlt[b], g->threads);
        done[b] = PETSC_TRUE;
      }
    }
  }
  for (int a = 0; a < 3; a++) {
    int64_t *hist;
    if (!(axes & (1u << a))) continue;
    PetscCall(PetscCalloc1((size_t)K + 2, &hist));
    for (size_t i = 0; i < n; i++) hist[o->mlt[a][i]]++;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, hist, K + 2, MPI_INT64_T, MPI_SUM, g->comm));
    int64_t above = 0; /* voxels intruded at level >= k */
    for (int k = K + 1; k >= 1; k--) {
      above += hist[k];
      o->mip[a][k - 1] = phase ? (double)above / (double)phase : 0.0;
    }
    o->result.nmip[a]       = PetscMin(K + 1, o->cap3);
    o->result.mip[a]        = o->mip[a];
    o->result.r50_mip_um[a] = PgOpeningMedian(o->mip[a], o->result.nmip[a], o->step_um, o->mip[a][0]);
    PetscCall(PetscFree(hist));
  }
  for (int a = 1; a < 3; a++) PetscCall(PetscFree(o->mlt[a]));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOpeningCompute(PgOpening o, const uint8_t *v, uint8_t value, PetscBool psd2, unsigned mip_axes,
                                PetscBool inlet_high, PgOpeningResult *result)
{
  MPI_Comm comm = o->grid->comm;
  double   t[4];

  PetscFunctionBeginUser;
  PetscCheck(mip_axes < 8, comm, PETSC_ERR_ARG_OUTOFRANGE, "opening: MIP axes bits %u outside 0..7", mip_axes);
  PetscCall(PetscMemzero(&o->result, sizeof o->result));
  o->result.step_um = o->step_um;
  t[0]              = MPI_Wtime();
  PetscCall(Psd3(o, v, value));
  t[1] = MPI_Wtime();
  if (psd2) PetscCall(Psd2(o, v, value));
  t[2] = MPI_Wtime();
  if (mip_axes) PetscCall(Mip(o, v, value, mip_axes, inlet_high));
  t[3]        = MPI_Wtime();
  double s[3] = {t[1] - t[0], t[2] - t[1], t[3] - t[2]};
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 3, MPI_DOUBLE, MPI_MAX, comm));
  o->result.seconds_psd3 = s[0];
  o->result.seconds_psd2 = s[1];
  o->result.seconds_mip  = s[2];
  PetscCall(PetscInfo(NULL, "opening of phase %d: cPSD 3D %.3f s (%d levels), 2D %.3f s (%d levels), MIP %.3f s\n",
                      (int)value, s[0], o->result.n3, s[1], o->result.n2, s[2]));
  o->result.psd3 = o->psd3;
  o->result.psd2 = psd2 ? o->psd2 : NULL;
  *result        = o->result;
  PetscFunctionReturn(0);
}

PetscErrorCode PgOpeningGetSlices(PgOpening o, const double **psd, int *n, int *stride)
{
  PetscFunctionBeginUser;
  *psd    = o->slices;
  *n      = o->result.n2;
  *stride = o->cap2;
  PetscFunctionReturn(0);
}
