/// \file
/// Field-based pairwise interface areas of model realizations.
///
/// The label-based S_ij = (S_i + S_j - S_k)/2 (intrinsic.c) sees only voxels: where a thin carbon
/// wedge separates NVP from pore, the lattice drops it and NVP touches pore. On model runs the
/// continuous fields are known at every voxel, so each interface is measured on its own level set:
///   NVP-carbon  {X = lambda_X} where Z >= lambda_Z      NVP-pore  {X = lambda_X} where Z < lambda_Z
///   carbon-pore {Z = lambda_Z} where X <  lambda_X
/// Along every lattice segment from voxel v to v + r_i (13 directions, PgIntrinsicDirections) a
/// sign change of X - lambda_X is a crossing of {X = lambda_X} (the same test as the labels, so it
/// is a phase-1 change); its position by linear interpolation t = a / (a - b) (a, b the two values)
/// and Z interpolated there, c + t (d - c), decide its class. Multiplied by a - b the test needs no
/// division: Z >= lambda_Z at the crossing iff det = a d - b c has the sign of a - b, i.e. of a. The
/// same det classifies the crossings of Z: X < lambda_X at Z's crossing iff det has the sign of c.
/// Crofton: P_L,i = crossings / (N |r_i|) estimates S_V / 2 in every direction of an isotropic
/// structure.
///
/// Lattice step: sampled at step s, a smooth field misses pairs of crossings between samples and
/// linear interpolation misplaces them; the expected P_L,i falls short of the continuum value by a
/// c1 s^2 + c2 s^4 + ... that depends only on s = |r_i| (the model is isotropic: the fields along any
/// line are the same 1D processes). At the paper's 16.6 nm this is 1% (axes) to 13% (space
/// diagonals) for S_13 and 4-10% for S_23 (docs/validation-interfaces.md), so the areas are not the
/// Crofton-weighted mean of the P_L,i but the intercept of the least-squares fit
/// P_L,i = P_L + c1 s_i^2 + c2 s_i^4 over the 13 directions (weights 1, -1/2, 1/4 per axis, face and
/// space diagonal for cubic voxels; any rectangular voxels give 7 distinct s_i). The plain Crofton
/// combination is reported beside it (HDF5) for comparison.
///
/// X in fewer bytes: with fft.memory = low the buffer holds X, then Z. PgCrossingStoreX keeps
/// q = floor(32 (X - lambda_X)) clamped to [-128, 127] (one byte per voxel); the estimator uses
/// X - lambda_X = (q + 1/2) / 32, whose sign is exactly that of X - lambda_X (the labels' test) and
/// whose offset is within 1/64 of the field's standard deviation (|X - lambda_X| >= 4 saturates, far
/// from any crossing). The two-buffer path quantises X the same way on the fly, so both memory
/// modes measure the same numbers (up to Z's rounding in its own synthesis).
///
/// Parallel: the anchor v runs over this rank's slab, every direction oriented so that its end lies
/// in the same plane or the next one; the next rank's first plane (X quantised, Z - lambda_Z as
/// float: 5 bytes per voxel) arrives through PgGridHaloExchange; the grid is periodic. Counts are
/// integers, reduced with one MPI_Allreduce: the result is identical at any rank count. OpenMP
/// threads split the anchor rows, each with a cache of the few converted rows it reads.
/// Cost: one read of the fields; per voxel 13 segments x (two sign tests, one 2x2 determinant),
/// branch-free and vectorised over x. Memory: 15 bytes per voxel of one plane (the exchange), a few
/// rows per thread, and with fft.memory = low the byte of X per voxel.
#include <plurigauss/crossing.h>
#include <plurigauss/intrinsic.h>
#include <plurigauss/h5.h>

#include <gsl/gsl_linalg.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define XQ_STEPS 32 /* quantisation steps of X per unit (its standard deviation) */
#define NCACHE   8  /* converted rows cached per thread (5 are read per anchor row) */

struct PgCrossing_private {
  PgGrid        grid;
  PgField       field;
  int8_t       *xq;       /* one buffer: X - lambda_X quantised, nz_local planes of nx*ny */
  PetscBool     have_x;   /* xq holds the current realization's X */
  double        lambda_x; /* the lambda_X xq is relative to */
  double        t_store;  /* seconds of the last PgCrossingStoreX */
  PetscLogEvent event;
};

/* The 13 directions oriented so that a segment runs from anchor (x, y, z) to (x + dx, y + dy,
 * z + dz) with dz in {0, 1} (and dy in {0, 1} when dz = 0); row: where the end lies among the 5
 * rows an anchor row reads: 0 (z, y), 1 (z, y+1), 2 (z+1, y-1), 3 (z+1, y), 4 (z+1, y+1). */
typedef struct {
  int dx, row;
} Segment;

static void Segments(Segment seg[13])
{
  for (int i = 0; i < 13; i++) {
    const int *d    = PgIntrinsicDirections[i];
    const int  flip = d[2] < 0 || (d[2] == 0 && (d[1] < 0 || (d[1] == 0 && d[0] < 0)));
    const int  dx = flip ? -d[0] : d[0], dy = flip ? -d[1] : d[1], dz = flip ? -d[2] : d[2];
    seg[i].dx  = dx;
    seg[i].row = dz ? 3 + dy : dy;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Conversion: X quantised (int8, exact side of lambda_X) and Z - lambda_Z as float, per row.
 * --------------------------------------------------------------------------------------------- */
static inline int8_t QuantD(double v)
{
  const double s = fabs(v) * XQ_STEPS;
  const int    k = s >= 127 ? 127 : (int)s;
  return (int8_t)(v >= 0 ? k : -1 - k);
}
static inline int8_t QuantF(float v)
{
  const float s = fabsf(v) * XQ_STEPS;
  const int   k = s >= 127 ? 127 : (int)s;
  return (int8_t)(v >= 0 ? k : -1 - k);
}
static inline float Dequant(int8_t q) { return ((float)q + 0.5f) * (1.0f / XQ_STEPS); }

typedef struct {
  const PgGrid_s *g;
  PgPrecision     prec;
  const void     *b0, *b1;   /* field buffers: X, Y (two) or Z (one, b1 NULL) */
  ptrdiff_t       stride;    /* reals per field row */
  const int8_t   *xq;        /* one buffer: X quantised */
  const float    *ghost_z;   /* the plane above: Z - lambda_Z */
  const int8_t   *ghost_q;   /* the plane above: X quantised */
  double          lx, lz, m; /* thresholds, weight */
} Source;

/* Owned row (zl, y) into q[0..nx) and zt[0..nx): the labels' arithmetic in the field's precision
 * (model.c: X >= lx, sqrt(m) X + sqrt(1-m) Y >= lz, or Z >= lz), so the sides agree with them. */
static void ConvertRow(const Source *s, ptrdiff_t zl, ptrdiff_t y, int8_t *restrict q, float *restrict zt)
{
  const PgGrid_s *g   = s->g;
  const ptrdiff_t nx  = g->n[0];
  const size_t    off = ((size_t)zl * (size_t)g->n[1] + (size_t)y) * (size_t)s->stride;

#define CONVERT(R, QUANT)                                                           \
  do {                                                                              \
    const R lx = (R)s->lx, lz = (R)s->lz, a = (R)sqrt(s->m), b = (R)sqrt(1 - s->m); \
    const R *restrict f0 = (const R *)s->b0 + off;                                  \
    if (s->b1) {                                                                    \
      const R *restrict f1 = (const R *)s->b1 + off;                                \
      for (ptrdiff_t x = 0; x < nx; x++) {                                          \
        const R zz = a * f0[x] + b * f1[x];                                         \
        q[x]       = QUANT(f0[x] - lx);                                             \
        zt[x]      = (float)(zz - lz);                                              \
      }                                                                             \
    } else {                                                                        \
      const int8_t *restrict xr = s->xq + PgGridIndex(g, zl, y, 0);                 \
      for (ptrdiff_t x = 0; x < nx; x++) {                                          \
        q[x]  = xr[x];                                                              \
        zt[x] = (float)(f0[x] - lz);                                                \
      }                                                                             \
    }                                                                               \
  } while (0)
  if (s->prec == PG_PRECISION_DOUBLE) CONVERT(double, QuantD);
  else CONVERT(float, QuantF);
#undef CONVERT
}

/* A thread's converted rows: X - lambda_X and Z - lambda_Z as float, with the periodic neighbours
 * at both ends (element x at [x + 1], [0] = [nx], [nx + 1] = [1]). */
typedef struct {
  float    *x[NCACHE], *z[NCACHE];
  ptrdiff_t tag[NCACHE]; /* zl * ny + y of the row held, -1 if none */
  uint64_t  used[NCACHE], clock;
  int8_t   *q; /* conversion scratch */
} Cache;

static void GetRow(const Source *s, Cache *c, ptrdiff_t zl, ptrdiff_t y, const float **xr, const float **zr)
{
  const PgGrid_s *g  = s->g;
  const ptrdiff_t nx = g->n[0], tag = zl * g->n[1] + y;
  int             k = 0;

  for (int j = 0; j < NCACHE; j++) {
    if (c->tag[j] == tag) {
      c->used[j] = ++c->clock;
      *xr        = c->x[j];
      *zr        = c->z[j];
      return;
    }
    if (c->used[j] < c->used[k]) k = j;
  }
  float *restrict xo = c->x[k], *restrict zo = c->z[k];
  if (zl < g->nz_local) ConvertRow(s, zl, y, c->q, zo + 1);
  else {
    memcpy(c->q, s->ghost_q + (size_t)y * (size_t)nx, (size_t)nx);
    memcpy(zo + 1, s->ghost_z + (size_t)y * (size_t)nx, sizeof(float) * (size_t)nx);
  }
  for (ptrdiff_t x = 0; x < nx; x++) xo[x + 1] = Dequant(c->q[x]);
  xo[0]      = xo[nx];
  xo[nx + 1] = xo[1];
  zo[0]      = zo[nx];
  zo[nx + 1] = zo[1];
  c->tag[k]  = tag;
  c->used[k] = ++c->clock;
  *xr        = xo;
  *zr        = zo;
}

/* The segments from anchors xa, za to ends xb, zb (X - lambda_X, Z - lambda_Z), x = 0 .. nx-1:
 * n[0] crossings of X with Z >= lambda_Z there, n[1] crossings of X, n[2] crossings of Z with
 * X < lambda_X there. Only sign bits are compared (X - lambda_X is never 0 and Z - lambda_Z = 0
 * is +0, so a sign bit is exactly the labels' side): a crossing where the signs of the two ends
 * differ; Z >= lambda_Z at X's crossing where det = a d - b c has the sign of a (that of a - b),
 * X < lambda_X at Z's crossing where det has the sign of c (det = 0 exactly, a tie of measure zero,
 * counts as positive). Integer bit operations only: vectorised without masks. */
static inline void Segment1(float a, float c, float b, float d, uint32_t *nx_, uint32_t *n12, uint32_t *n23)
{
  const float det = a * d - b * c;
  uint32_t    ia, ib, ic, id, idet;
  memcpy(&ia, &a, 4);
  memcpy(&ib, &b, 4);
  memcpy(&ic, &c, 4);
  memcpy(&id, &d, 4);
  memcpy(&idet, &det, 4);
  const uint32_t cx = ia ^ ib, cz = ic ^ id; /* sign bit: a crossing */
  *nx_ += cx >> 31;
  *n12 += (cx & ~(ia ^ idet)) >> 31;
  *n23 += (cz & ~(ic ^ idet)) >> 31;
}

/* One direction: ends at xb[x], zb[x]. */
static void CountSegments(const float *restrict xa, const float *restrict za, const float *restrict xb,
                          const float *restrict zb, ptrdiff_t nx, int64_t n[3])
{
  uint32_t n12 = 0, nx_ = 0, n23 = 0;

  for (ptrdiff_t x = 0; x < nx; x++) Segment1(xa[x], za[x], xb[x], zb[x], &nx_, &n12, &n23);
  n[0] += n12;
  n[1] += nx_;
  n[2] += n23;
}

/* The three directions that end in one row at x - 1, x, x + 1 (xb, zb point at element x = 0 of a
 * padded row): the anchors are loaded once. nm, n0, np: the counts of dx = -1, 0, +1. */
static void CountSegments3(const float *restrict xa, const float *restrict za, const float *restrict xb,
                           const float *restrict zb, ptrdiff_t nx, int64_t nm[3], int64_t n0[3], int64_t np[3])
{
  uint32_t c[9] = {0};

  for (ptrdiff_t x = 0; x < nx; x++) {
    const float a = xa[x], cc = za[x];
    Segment1(a, cc, xb[x - 1], zb[x - 1], &c[1], &c[0], &c[2]);
    Segment1(a, cc, xb[x], zb[x], &c[4], &c[3], &c[5]);
    Segment1(a, cc, xb[x + 1], zb[x + 1], &c[7], &c[6], &c[8]);
  }
  for (int k = 0; k < 3; k++) {
    nm[k] += c[k];
    n0[k] += c[3 + k];
    np[k] += c[6 + k];
  }
}

/* ---------------------------------------------------------------------------------------------
 * Weights
 * --------------------------------------------------------------------------------------------- */
PetscErrorCode PgCrossingExtrapolationWeights(const double voxel_um[3], double c[13])
{
  double s2[13], s2min = HUGE_VAL, M[9] = {0}, v[3] = {1, 0, 0};

  PetscFunctionBeginUser;
  for (int k = 0; k < 3; k++)
    PetscCheck(voxel_um[k] > 0 && isfinite(voxel_um[k]), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "voxel edge %d is %g um, must be positive", k, voxel_um[k]);
  for (int i = 0; i < 13; i++) {
    s2[i] = 0;
    for (int k = 0; k < 3; k++) s2[i] += PetscSqr(PgIntrinsicDirections[i][k] * voxel_um[k]);
    s2min = PetscMin(s2min, s2[i]);
  }
  /* normal equations of the fit by (1, x, x^2), x = s^2 / s2min; intercept = e0' M^-1 A' */
  for (int i = 0; i < 13; i++) {
    const double x = s2[i] / s2min, row[3] = {1, x, x * x};
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) M[3 * a + b] += row[a] * row[b];
  }
  {
    gsl_matrix_view  mv = gsl_matrix_view_array(M, 3, 3);
    gsl_vector_view  vv = gsl_vector_view_array(v, 3);
    gsl_permutation *p  = gsl_permutation_alloc(3);
    int              sign, status;
    PetscCheck(p, PETSC_COMM_SELF, PETSC_ERR_MEM, "GSL permutation");
    status = gsl_linalg_LU_decomp(&mv.matrix, p, &sign);
    if (!status) status = gsl_linalg_LU_svx(&mv.matrix, p, &vv.vector);
    gsl_permutation_free(p);
    PetscCheck(!status, PETSC_COMM_SELF, PETSC_ERR_LIB, "the extrapolation fit over the 13 directions is singular");
  }
  for (int i = 0; i < 13; i++) {
    const double x = s2[i] / s2min;
    c[i]           = v[0] + v[1] * x + v[2] * x * x;
  }
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * The object
 * --------------------------------------------------------------------------------------------- */
PetscErrorCode PgCrossingCreate(PgGrid grid, PgField field, PgCrossing *crossing)
{
  PgCrossing  c;
  const void *x, *y;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&c));
  c->grid  = grid;
  c->field = field;
  PetscCall(PgFieldGetArrays(field, &x, &y, NULL, NULL));
  if (!y) PetscCall(PetscMalloc1(PetscMax(PgGridLocalVoxels(grid), 1), &c->xq));
  PetscCall(PetscLogEventRegister("PgCrossing", 0, &c->event));
  *crossing = c;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCrossingDestroy(PgCrossing *crossing)
{
  PetscFunctionBeginUser;
  if (!*crossing) PetscFunctionReturn(0);
  PetscCall(PetscFree((*crossing)->xq));
  PetscCall(PetscFree(*crossing));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCrossingStoreX(PgCrossing c, double lambda_x)
{
  const PgGrid_s *g = c->grid;
  const void     *xd, *yd;
  ptrdiff_t       stride;
  PgPrecision     prec;
  double          t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  if (!c->xq) PetscFunctionReturn(0);
  PetscCall(PetscLogEventBegin(c->event, 0, 0, 0, 0));
  PetscCall(PgFieldGetArrays(c->field, &xd, &yd, &stride, &prec));
#define STORE(R, QUANT)                                                                                           \
  do {                                                                                                            \
    const R lx = (R)lambda_x;                                                                                     \
    _Pragma("omp parallel for collapse(2) schedule(static) num_threads(g->threads)") for (ptrdiff_t zl = 0;       \
                                                                                          zl < g->nz_local; zl++) \
    {                                                                                                             \
      for (ptrdiff_t y = 0; y < g->n[1]; y++) {                                                                   \
        const R *restrict xr = (const R *)xd + ((size_t)zl * (size_t)g->n[1] + (size_t)y) * (size_t)stride;       \
        int8_t *restrict q   = c->xq + PgGridIndex(g, zl, y, 0);                                                  \
        for (ptrdiff_t x = 0; x < g->n[0]; x++) q[x] = QUANT(xr[x] - lx);                                         \
      }                                                                                                           \
    }                                                                                                             \
  } while (0)
  if (prec == PG_PRECISION_DOUBLE) STORE(double, QuantD);
  else STORE(float, QuantF);
#undef STORE
  PetscCall(PetscLogEventEnd(c->event, 0, 0, 0, 0));
  c->have_x   = PETSC_TRUE;
  c->lambda_x = lambda_x;
  c->t_store  = MPI_Wtime() - t0;
  PetscFunctionReturn(0);
}

/* The crossings of every segment direction (13 x 3 counters per thread in count, nthreads * 39)
 * over the rows anchored in this rank's planes, the threads' shares contiguous. */
static PetscErrorCode CountRows(const Source *s, const int dir[5][3], int nthreads, int64_t *count)
{
  const PgGrid_s *g  = s->g;
  const ptrdiff_t nx = g->n[0], ny = g->n[1];
  const ptrdiff_t rows = g->nz_local * ny;
  PetscErrorCode  ierr = 0;

  PetscFunctionBeginUser;
#pragma omp parallel num_threads(nthreads) reduction(| : ierr)
  {
    const int t = omp_get_thread_num();
    Cache     cache;
    float    *mem = (float *)malloc(sizeof(float) * 2 * NCACHE * (size_t)(nx + 2));
    int64_t  *n   = count + 39 * (size_t)t;
    cache.q       = (int8_t *)malloc((size_t)nx);
    cache.clock   = 0;
    if (!mem || !cache.q) ierr = 1;
    else {
      for (int j = 0; j < NCACHE; j++) {
        cache.x[j]    = mem + (size_t)(2 * j) * (size_t)(nx + 2);
        cache.z[j]    = mem + (size_t)(2 * j + 1) * (size_t)(nx + 2);
        cache.tag[j]  = -1;
        cache.used[j] = 0;
      }
      /* contiguous anchor rows per thread: consecutive rows share 3 of their 5 rows */
      const ptrdiff_t r0 = rows * t / nthreads, r1 = rows * (t + 1) / nthreads;
      for (ptrdiff_t r = r0; r < r1; r++) {
        const ptrdiff_t zl = r / ny, y = r % ny;
        const ptrdiff_t at[5][2] = {
          {zl, y}, {zl, (y + 1) % ny}, {zl + 1, (y + ny - 1) % ny}, {zl + 1, y}, {zl + 1, (y + 1) % ny}};
        const float *xr[5], *zr[5];
        for (int k = 0; k < 5; k++) GetRow(s, &cache, at[k][0], at[k][1], &xr[k], &zr[k]);
        for (int k = 1; k < 5; k++)
          CountSegments3(xr[0] + 1, zr[0] + 1, xr[k] + 1, zr[k] + 1, nx, n + 3 * dir[k][0], n + 3 * dir[k][1],
                         n + 3 * dir[k][2]);
        CountSegments(xr[0] + 1, zr[0] + 1, xr[0] + 2, zr[0] + 2, nx, n + 3 * dir[0][2]);
      }
    }
    free(mem);
    free(cache.q);
  }
  PetscCheck(!ierr, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory for the rows of the interface crossings");
  PetscFunctionReturn(0);
}

/* The counts (summed over the ranks) as crossings per unit test-line length P_L of every direction
 * and pair, and the interface areas by the extrapolation and Crofton weights. */
static PetscErrorCode CrossingResults(PgGrid g, const int64_t total[39], PgCrossingResult *res)
{
  double w[13], cw[13];

  PetscFunctionBeginUser;
  PetscCall(PgCrossingExtrapolationWeights(g->voxel_um, w));
  PetscCall(PgIntrinsicCroftonWeights(g->voxel_um, cw));
  for (int k = 0; k < 3; k++) res->S_pair[k] = res->S_pair_crofton[k] = 0;
  for (int i = 0; i < 13; i++) {
    double len = 0;
    for (int k = 0; k < 3; k++) len += PetscSqr(PgIntrinsicDirections[i][k] * g->voxel_um[k]);
    len              = sqrt(len) * PgGridGlobalVoxels(g); /* test-line length along r_i (um) */
    res->count[i][0] = total[3 * i];
    res->count[i][1] = total[3 * i + 1] - total[3 * i];
    res->count[i][2] = total[3 * i + 2];
    res->weight[i]   = w[i];
    res->crofton[i]  = cw[i];
    for (int k = 0; k < 3; k++) {
      res->P_L[i][k] = (double)res->count[i][k] / len;
      res->S_pair[k] += 2 * w[i] * res->P_L[i][k];
      res->S_pair_crofton[k] += 2 * cw[i] * res->P_L[i][k];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgCrossingCompute(PgCrossing c, double lambda_x, double lambda_z, double m, PgCrossingResult *res)
{
  PgGrid          g  = c->grid;
  const ptrdiff_t nx = g->n[0], ny = g->n[1];
  const size_t    plane = PgGridPlane(g), slot = (5 * plane + 7) & ~(size_t)7; /* floats, then bytes */
  const int       nthreads = g->threads > 0 ? g->threads : 1;
  char           *halo;
  int64_t        *count, total[39];
  Segment         seg[13];
  int             dir[5][3]; /* direction index of end row k at dx = -1, 0, +1 */
  Source          s;
  double          t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCheck(m >= 0 && m <= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "model.m = %g must lie in [0, 1]", m);
  PetscCall(PetscLogEventBegin(c->event, 0, 0, 0, 0));
  Segments(seg);
  for (int k = 0; k < 5; k++) dir[k][0] = dir[k][1] = dir[k][2] = -1;
  for (int i = 0; i < 13; i++) dir[seg[i].row][seg[i].dx + 1] = i;
  PetscCheck(dir[0][2] >= 0 && dir[0][0] < 0 && dir[0][1] < 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "direction table");
  for (int k = 1; k < 5; k++)
    PetscCheck(dir[k][0] >= 0 && dir[k][1] >= 0 && dir[k][2] >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "direction table");
  s.g = g;
  PetscCall(PgFieldGetArrays(c->field, &s.b0, &s.b1, &s.stride, &s.prec));
  PetscCheck(s.b1 || (c->have_x && c->lambda_x == lambda_x), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "one-buffer field: PgCrossingStoreX must keep X at lambda_X = %g before Z is generated", lambda_x);
  s.xq = c->xq;
  s.lx = lambda_x;
  s.lz = lambda_z;
  s.m  = m;

  /* the first plane, converted, to the rank below; the next rank's first plane is the ghost */
  PetscCall(PetscMalloc1(3 * slot, &halo));
  if (g->nz_local > 0) {
    float  *zp = (float *)(halo + slot);
    int8_t *qp = (int8_t *)(halo + slot + 4 * plane);
    for (ptrdiff_t y = 0; y < ny; y++) ConvertRow(&s, 0, y, qp + (size_t)y * (size_t)nx, zp + (size_t)y * (size_t)nx);
  }
  {
    PgGrid_s view = *g;
    view.nz_local = g->nz_local > 0 ? 1 : 0;
    PetscCall(PgGridHaloExchange(&view, halo, slot, 1, PETSC_TRUE));
  }
  s.ghost_z = (const float *)(halo + 2 * slot);
  s.ghost_q = (const int8_t *)(halo + 2 * slot + 4 * plane);

  PetscCall(PetscCalloc1((size_t)nthreads * 39, &count));
  PetscCall(CountRows(&s, (const int(*)[3])dir, nthreads, count));
  for (int t = 1; t < nthreads; t++)
    for (int k = 0; k < 39; k++) count[k] += count[39 * (size_t)t + k];
  PetscCallMPI(MPI_Allreduce(count, total, 39, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCall(PetscFree(count));
  PetscCall(PetscFree(halo));

  PetscCall(CrossingResults(g, total, res));
  PetscCall(PetscLogEventEnd(c->event, 0, 0, 0, 0));
  res->seconds = MPI_Wtime() - t0 + (s.b1 ? 0 : c->t_store);
  c->t_store   = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCrossingWrite(PgGrid g, const PgCrossingResult *res, hid_t group)
{
  double        counts[13][3], wt[2][13];
  const hsize_t d133[2] = {13, 3}, d213[2] = {2, 13};

  PetscFunctionBeginUser;
  for (int i = 0; i < 13; i++) {
    for (int k = 0; k < 3; k++) counts[i][k] = (double)res->count[i][k];
    wt[0][i] = res->weight[i];
    wt[1][i] = res->crofton[i];
  }
  PetscCall(PgH5WriteSmall(group, g->rank, "interface_crossings", 2, d133, &counts[0][0], "-"));
  PetscCall(PgH5WriteSmall(group, g->rank, "interface_P_L", 2, d133, &res->P_L[0][0], "1/um"));
  PetscCall(PgH5WriteSmall(group, g->rank, "interface_weights", 2, d213, &wt[0][0], "-"));
  PetscFunctionReturn(0);
}
