/// \file
/// Two-point coverage functions by distributed FFT (Ohser & Schladitz 2009, Section 6.2), in double
/// precision, with one transform buffer.
///
/// Correlations. For indicators a, b on a grid of M voxels, S_ab(h) = sum_x a(x) b(x + h) is
/// IDFT(conj(A) B) / M (FFTW's transforms are unnormalised). Only the three autocorrelations
/// S_ii are transformed; the cross terms follow exactly from the partition 1_1 + 1_2 + 1_3 = 1_W
/// (W the grid or the image window). For {i, j, k} = {1, 2, 3}, the autocorrelation of
/// 1_k = 1_W - 1_i - 1_j gives, lag by lag,
///   S_ij(h) + S_ij(-h) = S_kk(h) - S_ii(h) - S_jj(h) - |B_h| + T_i(h) + T_j(h),
/// with B_h = {x : x and x + h in W} and T_i(h) = #(Xi_i cap B_h) + #(Xi_i cap (B_h + h)), the
/// phase-i voxels of the two windows of the pairs at lag h. Divided by |B_h|, with
/// tau_i = T_i / |B_h| (sum_i tau_i = 2):
///   C_ij(h) + C_ij(-h) = C_kk(h) - C_ii(h) - C_jj(h) - 1 + tau_i(h) + tau_j(h)      (*)
/// Every curve averages the lags +h and -h (directional: by definition; radial: the shell holds
/// both), so (*) yields the symmetrised cross curves exactly. Periodic (model realizations):
/// B_h = W, tau_i = 2 eps_i, and (*) is C_ij = (C_kk - C_ii - C_jj + eps_i + eps_j - eps_k) / 2:
/// 3 forward + 3 inverse transforms instead of 3 + 6. Images (minus sampling): tau_1 and tau_2 are
/// correlations of the phase with the window, IDFT(2 Re(conj(F_i) F_W)) / M, where F_W, the DFT of
/// the box [0, n), is a product of three closed-form 1D sums (no transform); 5 forward + 5 inverse.
/// The identities are exact; in floating point they add a rounding error of ~1e-16.
///
/// Images are zero-padded to M_d >= n_d + K_d (K_d the largest lag used along axis d, M_d the next
/// 7-smooth size), so that no lag up to K_d wraps, and C(h) = S(h) / prod_d (n_d - |h_d|). The
/// padded grid has its own FFTW slabs: the label planes move there once per computation with one
/// MPI_Alltoallv of whole planes.
///
/// Per function: fill the buffer with the indicator, r2c (FFTW_MPI_TRANSPOSED_OUT, the spectrum
/// stays [ky][kz][kx]), a pointwise product, c2r (FFTW_MPI_TRANSPOSED_IN), then extract only the
/// lags |h_d| <= K_d of this rank's planes: sums per directional lag and per radial bin. The
/// buffer is then reused; no volume-sized result is kept. The first fill also counts the labels
/// (the volume fractions of the identities, and the check that every label is in {1,2,3}). Plans
/// use the deck's planner effort and whatever FFTW wisdom the process holds.
///
/// Communication: one global transpose per transform (8 N/P bytes per rank, (P-1)/P of it off
/// rank), images also one MPI_Alltoallv of the labels (N/P bytes); one MPI_Allreduce of the
/// curve sums (5 x (3 L + nbins) doubles) per computation. Memory per rank: the buffer (allocated
/// for each computation and freed after it, so that the other stages of a run can use the memory),
/// 8 x 2 (M_x/2 + 1) M_y M_z / P bytes (~8 bytes per voxel periodic, ~8 prod(M_d/n_d) bytes per image
/// voxel), plus for images a copy of the label planes on the padded slabs (~1 byte per voxel).
/// Cost: the transforms; the fills, products and extraction are one pass each over the local data
/// (extraction over the (2K+1)^3 / N share of it).
#include <plurigauss/covariance.h>
#include <plurigauss/files.h>

#include <fftw3-mpi.h>
#include <math.h>
#include <string.h>

static const int pair_i[PG_NPAIRS] = {1, 1, 1, 2, 2, 3}, pair_j[PG_NPAIRS] = {1, 2, 3, 2, 3, 3};

struct PgCovariance_private {
  PgGrid       grid;  /* the labels' grid */
  PgGrid       fgrid; /* the transform grid: grid itself (periodic) or padded (images) */
  PetscBool    periodic;
  double       range_um, radial_um; /* directional range; radial range (clamped) */
  double       bin_um, rmax2_um2;   /* radial bin width; radial lags: |h|^2 < rmax2 */
  ptrdiff_t    L[3];                /* directional lags 0..L[d] */
  ptrdiff_t    K[3];                /* lags extracted: |h_d| <= K[d] */
  int          nbins, nacc;         /* nacc: sums per function (3 axes + bins) */
  int          nfun;                /* functions: C_11, C_22, C_33 (+ tau_1, tau_2 images) */
  int          off_dir[3], off_rad; /* offsets of the curves in a function's sums */
  double      *buf;                 /* in-place r2c buffer on fgrid */
  size_t       buf_bytes;
  fftw_plan    fwd, inv;
  double      *win[3];            /* images: DFT of the window [0, n_d) on M_d points (re, im) */
  uint8_t     *flab;              /* images: the label planes z < nz on fgrid's slabs */
  ptrdiff_t    flab_planes;       /* planes in flab */
  MPI_Datatype plane;             /* images: one x-y label plane */
  int         *sc, *sd, *rc, *rd; /* images: MPI_Alltoallv counts and offsets in planes */
  double      *acc;               /* nfun x nacc sums */
  double      *cnt, *rmean;       /* lags per slot; mean |h| per bin (µm) */
  double      *inv_pairs_x;       /* 1 / (n_x - a), a = 0..K_x */
  int         *row_bin;           /* Visit's scratch per |h_x| = 0..K_x: radial bin (-1: none), */
  double      *row_w, *row_r;     /* weight of the lag, |h| (µm) */
  double      *dir[3][PG_NPAIRS], *rad[PG_NPAIRS], *rad_r;
  double       eps[3];
  double       t_fft;
};

PetscInt PgCovariancePaddedSize(PetscInt n)
{
  for (PetscInt m = PetscMax(n, 1);; m++) {
    PetscInt r = m;
    for (int p = 2; p <= 7; p++)
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

/* D(k) = sum_{x<n} exp(-2 pi i k x / M) = exp(-i pi k (n-1) / M) sin(pi k n / M) / sin(pi k / M),
 * the DFT of the window indicator along one axis; angles reduced exactly in integers. */
static void WindowDFT(PetscInt n, PetscInt M, double *D)
{
  for (PetscInt k = 0; k < M; k++) {
    double mag;
    if (k == 0) mag = (double)n;
    else mag = sin(M_PI * (double)(((int64_t)k * n) % (2 * M)) / (double)M) / sin(M_PI * (double)k / (double)M);
    const double ph = -M_PI * (double)(((int64_t)k * (n - 1)) % (2 * M)) / (double)M;
    D[2 * k]        = mag * cos(ph);
    D[2 * k + 1]    = mag * sin(ph);
  }
}

/* Shortest signed lag of index i on a ring of M points. */
static inline ptrdiff_t Lag(ptrdiff_t i, ptrdiff_t M) { return i <= M / 2 ? i : i - M; }

/* Visits the lags |h_d| <= K_d of this rank's planes of the real array buf (fgrid layout,
 * rows of 2 (M_x/2 + 1) reals). With buf: adds C(h) = buf(h) / (M * pairs(h)) into sum (one
 * function's nacc slots). Without buf: counts the lags per slot into sum and adds |h| per bin into
 * rsum. Per row (h_y, h_z) the radial bin and the weight of each |h_x| are tabulated once, so the
 * lags themselves cost a multiply-add each. */
static void Visit(PgCovariance c, const double *buf, double *sum, double *rsum)
{
  const PgGrid_s *f = c->fgrid, *g = c->grid;
  const ptrdiff_t Mx = f->n[0], My = f->n[1], Mz = f->n[2], stride = 2 * (Mx / 2 + 1), K0 = c->K[0];
  const double    Mtot = PgGridGlobalVoxels(f), *v = g->voxel_um;
  const ptrdiff_t x_hi = PetscMax(K0 + 1, Mx - K0); /* negative x lags: x_hi..Mx-1 */
  int            *bin  = c->row_bin;
  double         *w = c->row_w, *r = c->row_r;
  double         *rad = sum + c->off_rad, *dx = sum + c->off_dir[0];

  for (ptrdiff_t zl = 0; zl < f->nz_local; zl++) {
    const ptrdiff_t hz = Lag(f->z_start + zl, Mz);
    if (PetscAbs(hz) > c->K[2]) continue;
    for (ptrdiff_t y = 0; y < My; y++) {
      const ptrdiff_t hy = Lag(y, My);
      if (PetscAbs(hy) > c->K[1]) continue;
      const double *row = buf ? buf + ((size_t)zl * (size_t)My + (size_t)y) * (size_t)stride : NULL;
      const double  ryz = (hy * v[1]) * (hy * v[1]) + (hz * v[2]) * (hz * v[2]);
      /* 1 / (M * pairs at the lag): pairs = N on the torus, prod (n_d - |h_d|) in an image */
      const double wyz = c->periodic
                           ? 1.0 / (Mtot * PgGridGlobalVoxels(g))
                           : 1.0 / (Mtot * (double)(g->n[1] - PetscAbs(hy)) * (double)(g->n[2] - PetscAbs(hz)));
      for (ptrdiff_t a = 0; a <= K0; a++) {
        const double r2 = (a * v[0]) * (a * v[0]) + ryz;
        bin[a]          = -1;
        if (r2 < c->rmax2_um2) {
          r[a]   = sqrt(r2);
          bin[a] = (int)floor(r[a] / c->bin_um + 0.5);
          if (bin[a] >= c->nbins) bin[a] = -1;
        }
        w[a] = c->periodic ? wyz : wyz * c->inv_pairs_x[a];
      }
      if (row) {
        for (ptrdiff_t x = 0; x <= K0; x++)
          if (bin[x] >= 0) rad[bin[x]] += row[x] * w[x];
        for (ptrdiff_t x = x_hi; x < Mx; x++)
          if (bin[Mx - x] >= 0) rad[bin[Mx - x]] += row[x] * w[Mx - x];
      } else {
        for (ptrdiff_t x = 0; x < Mx; x++) {
          const ptrdiff_t a = x <= K0 ? x : x >= x_hi ? Mx - x : -1;
          if (a >= 0 && bin[a] >= 0) {
            rad[bin[a]] += 1;
            rsum[bin[a]] += r[a];
          }
        }
      }
      /* directional lags: (h_x, 0, 0) along this row; (0, h_y, 0) and (0, 0, h_z) at x = 0 */
      if (!hy && !hz)
        for (ptrdiff_t a = 0; a <= c->L[0]; a++) {
          const ptrdiff_t xm = (Mx - a) % Mx; /* -a; the same element as +a for a = 0 or a = Mx/2 */
          dx[a] += row ? row[a] * w[a] : 1;
          if (xm != a) dx[a] += row ? row[xm] * w[a] : 1;
        }
      if (!hz && PetscAbs(hy) <= c->L[1]) sum[c->off_dir[1] + PetscAbs(hy)] += row ? row[0] * w[0] : 1;
      if (!hy && PetscAbs(hz) <= c->L[2]) sum[c->off_dir[2] + PetscAbs(hz)] += row ? row[0] * w[0] : 1;
    }
  }
}

/* The label planes of the image move to the padded grid's slabs: rank r receives the image
 * planes z < nz among its padded planes. Counts in planes (no int overflow for large slabs). */
static PetscErrorCode SetUpRedistribution(PgCovariance c)
{
  const PgGrid_s *g = c->grid, *f = c->fgrid;
  ptrdiff_t      *zs, *fz, mine[2] = {g->z_start, g->nz_local}, fmine[2] = {f->z_start, f->nz_local};

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(g->size, &c->sc, g->size, &c->sd, g->size, &c->rc, g->size, &c->rd));
  PetscCall(PetscMalloc2(2 * g->size, &zs, 2 * g->size, &fz));
  PetscCallMPI(
    MPI_Allgather(mine, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, zs, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, g->comm));
  PetscCallMPI(
    MPI_Allgather(fmine, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, fz, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, g->comm));
  for (int r = 0; r < g->size; r++) {
    /* my image planes that r owns on the padded grid; r's image planes that I own there */
    ptrdiff_t lo = PetscMax(g->z_start, fz[2 * r]), hi = PetscMin(g->z_start + g->nz_local, fz[2 * r] + fz[2 * r + 1]);
    c->sc[r] = hi > lo ? (int)(hi - lo) : 0;
    c->sd[r] = hi > lo ? (int)(lo - g->z_start) : 0;
    lo       = PetscMax(zs[2 * r], f->z_start);
    hi       = PetscMin(zs[2 * r] + zs[2 * r + 1], f->z_start + f->nz_local);
    c->rc[r] = hi > lo ? (int)(hi - lo) : 0;
    c->rd[r] = hi > lo ? (int)(lo - f->z_start) : 0;
  }
  c->flab_planes = PetscMax(0, PetscMin(f->z_start + f->nz_local, (ptrdiff_t)g->n[2]) - f->z_start);
  PetscCall(PetscFree2(zs, fz));
  PetscCheck(PgGridPlane(g) <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "an x-y plane of %zu voxels exceeds one MPI count", PgGridPlane(g));
  PetscCallMPI(MPI_Type_contiguous((int)PgGridPlane(g), MPI_BYTE, &c->plane));
  PetscCallMPI(MPI_Type_commit(&c->plane));
  PetscCall(PetscMalloc1(PetscMax((size_t)c->flab_planes * PgGridPlane(g), 1), &c->flab));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceCreate(PgGrid grid, PetscBool periodic, double range_um, PgPlanner planner,
                                  PgCovariance *covp)
{
  PetscFunctionBeginUser;
  PetscCall(PgCovarianceCreateWithBin(grid, periodic, range_um, 0, planner, covp));
  PetscFunctionReturn(0);
}

/* The ranges of a PgCovariance: directional lags L, the radial range and its bins, the lags K the
 * transforms must hold, and the sizes fn of the transform grid (padded against wrap-around unless
 * periodic). Axes with one voxel (2D images) take part with the lag 0 only. */
static PetscErrorCode SetUpRanges(PgCovariance c, double range_um, double bin_um, PetscInt fn[3])
{
  const PgGrid_s *grid = c->grid;
  ptrdiff_t       cap[3];
  double          side = HUGE_VAL, vmin = HUGE_VAL, rcap = HUGE_VAL;

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++) {
    cap[d] = c->periodic ? grid->n[d] / 2 : grid->n[d] - 1;
    if (grid->n[d] < 2) continue;
    side = PetscMin(side, grid->n[d] * grid->voxel_um[d]);
    vmin = PetscMin(vmin, grid->voxel_um[d]);
    rcap = PetscMin(rcap, cap[d] * grid->voxel_um[d]);
  }
  if (vmin == HUGE_VAL) { /* a single voxel */
    side = vmin = 1;
    rcap        = 0;
  }
  c->range_um  = range_um > 0 ? range_um : 0.25 * side;
  c->radial_um = PetscMin(c->range_um, rcap);
  if (c->radial_um < c->range_um)
    PetscCall(PetscInfo(NULL, "radial covariance range %g um clamped to %g um\n", c->range_um, c->radial_um));
  c->bin_um    = bin_um > 0 ? bin_um : vmin;
  c->nbins     = (int)floor(c->radial_um / c->bin_um + 1e-9) + 1;
  c->rmax2_um2 = ((c->nbins - 0.5) * c->bin_um) * ((c->nbins - 0.5) * c->bin_um);
  for (int d = 0; d < 3; d++) {
    c->L[d] = (ptrdiff_t)PetscMin(floor(c->range_um / grid->voxel_um[d] + 1e-9), (double)cap[d]);
    c->K[d] = PetscMin(PetscMax(c->L[d], (ptrdiff_t)floor(sqrt(c->rmax2_um2) / grid->voxel_um[d])), cap[d]);
    fn[d]   = c->periodic ? grid->n[d] : PgCovariancePaddedSize(grid->n[d] + c->K[d]);
  }
  c->off_dir[0] = 0;
  c->off_dir[1] = (int)c->L[0] + 1;
  c->off_dir[2] = c->off_dir[1] + (int)c->L[1] + 1;
  c->off_rad    = c->off_dir[2] + (int)c->L[2] + 1;
  c->nacc       = c->off_rad + c->nbins;
  PetscFunctionReturn(0);
}

/* The transform grid (the grid itself when periodic), the r2c and c2r plans, and for the minus
 * sampling estimator the redistribution and the windows' transforms. */
static PetscErrorCode SetUpTransforms(PgCovariance c, const PetscInt fn[3], PgPlanner planner)
{
  const PgGrid_s *grid  = c->grid;
  unsigned        flags = planner == PG_PLANNER_PATIENT   ? FFTW_PATIENT
                          : planner == PG_PLANNER_MEASURE ? FFTW_MEASURE
                                                          : FFTW_ESTIMATE;

  PetscFunctionBeginUser;
  if (c->periodic) c->fgrid = c->grid;
  else PetscCall(PgGridCreate(grid->comm, fn, grid->voxel_um, grid->threads, &c->fgrid));
  const PgGrid_s *f = c->fgrid;
  c->buf_bytes      = sizeof(fftw_complex) * (size_t)PetscMax(f->alloc_r2c, 1);
  c->buf            = fftw_alloc_real(c->buf_bytes / sizeof(double));
  PetscCheck(c->buf, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate the covariance buffer (%zu bytes)", c->buf_bytes);
  if (grid->threads > 1) fftw_plan_with_nthreads(grid->threads);
  c->fwd = fftw_mpi_plan_dft_r2c_3d(f->n[2], f->n[1], f->n[0], c->buf, (fftw_complex *)c->buf, f->comm,
                                    flags | FFTW_MPI_TRANSPOSED_OUT);
  PetscCheck(c->fwd, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "FFTW could not plan the %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " r2c transform", f->n[2],
             f->n[1], f->n[0]);
  c->inv = fftw_mpi_plan_dft_c2r_3d(f->n[2], f->n[1], f->n[0], (fftw_complex *)c->buf, c->buf, f->comm,
                                    flags | FFTW_MPI_TRANSPOSED_IN);
  PetscCheck(c->inv, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "FFTW could not plan the %" PetscInt_FMT " x %" PetscInt_FMT " x %" PetscInt_FMT " c2r transform", f->n[2],
             f->n[1], f->n[0]);
  /* the buffer lives only while a computation runs (the other stages of a run need the memory);
     the plans execute on each new buffer (FFTW's new-array execute: same size and alignment) */
  fftw_free(c->buf);
  c->buf = NULL;
  if (!c->periodic) {
    PetscCall(SetUpRedistribution(c));
    for (int d = 0; d < 3; d++) {
      PetscCall(PetscMalloc1(2 * f->n[d], &c->win[d]));
      WindowDFT(grid->n[d], f->n[d], c->win[d]);
    }
  }
  PetscFunctionReturn(0);
}

/* The curves, and the lags behind each slot (the same for every computation): pair counts and
 * mean radii of the radial bins. Collective. */
static PetscErrorCode SetUpCurves(PgCovariance c)
{
  const PgGrid_s *grid = c->grid;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1((size_t)c->nfun * c->nacc + 4, &c->acc));
  PetscCall(PetscCalloc2(c->nacc, &c->cnt, c->nbins, &c->rmean));
  PetscCall(PetscMalloc4(c->K[0] + 1, &c->inv_pairs_x, c->K[0] + 1, &c->row_bin, c->K[0] + 1, &c->row_w, c->K[0] + 1,
                         &c->row_r));
  for (ptrdiff_t a = 0; a <= c->K[0]; a++) c->inv_pairs_x[a] = 1.0 / (double)(grid->n[0] - a);
  Visit(c, NULL, c->cnt, c->rmean);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->cnt, c->nacc, MPI_DOUBLE, MPI_SUM, grid->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->rmean, c->nbins, MPI_DOUBLE, MPI_SUM, grid->comm));
  for (int b = 0; b < c->nbins; b++)
    c->rmean[b] = c->cnt[c->off_rad + b] > 0 ? c->rmean[b] / c->cnt[c->off_rad + b] : NAN;
  for (int p = 0; p < PG_NPAIRS; p++) {
    for (int d = 0; d < 3; d++) PetscCall(PetscCalloc1(c->L[d] + 1, &c->dir[d][p]));
    PetscCall(PetscCalloc1(c->nbins, &c->rad[p]));
  }
  PetscCall(PetscMalloc1(c->nbins, &c->rad_r));
  for (int b = 0; b < c->nbins; b++) c->rad_r[b] = b * c->bin_um;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceCreateWithBin(PgGrid grid, PetscBool periodic, double range_um, double bin_um,
                                         PgPlanner planner, PgCovariance *covp)
{
  PgCovariance c;
  PetscInt     fn[3];

  PetscFunctionBeginUser;
  PetscCheck(range_um >= 0 && isfinite(range_um), grid->comm, PETSC_ERR_USER_INPUT,
             "measure.range_um = %g must be >= 0", range_um);
  PetscCall(PetscNew(&c));
  c->grid     = grid;
  c->periodic = periodic;
  c->nfun     = periodic ? 3 : 5;
  PetscCall(SetUpRanges(c, range_um, bin_um, fn));
  PetscCall(SetUpTransforms(c, fn, planner));
  PetscCall(SetUpCurves(c));
  *covp = c;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceDestroy(PgCovariance *covp)
{
  PgCovariance c = *covp;

  PetscFunctionBeginUser;
  if (!c) PetscFunctionReturn(0);
  if (c->fwd) fftw_destroy_plan(c->fwd);
  if (c->inv) fftw_destroy_plan(c->inv);
  fftw_free(c->buf);
  if (!c->periodic) {
    PetscCallMPI(MPI_Type_free(&c->plane));
    PetscCall(PetscFree4(c->sc, c->sd, c->rc, c->rd));
    PetscCall(PetscFree(c->flab));
    for (int d = 0; d < 3; d++) PetscCall(PetscFree(c->win[d]));
  }
  PetscCall(PetscFree(c->acc));
  PetscCall(PetscFree2(c->cnt, c->rmean));
  PetscCall(PetscFree4(c->inv_pairs_x, c->row_bin, c->row_w, c->row_r));
  for (int p = 0; p < PG_NPAIRS; p++) {
    for (int d = 0; d < 3; d++) PetscCall(PetscFree(c->dir[d][p]));
    PetscCall(PetscFree(c->rad[p]));
  }
  PetscCall(PetscFree(c->rad_r));
  if (c->fgrid != c->grid) PetscCall(PgGridDestroy(&c->fgrid));
  PetscCall(PetscFree(*covp));
  PetscFunctionReturn(0);
}

/* buf <- indicator of phase on fgrid: src holds nsrc x-y planes of the labels' grid (the first
 * local planes); the rest, and the padding in x and y, are zero. With count (4 entries), also
 * counts the labels 1, 2, 3 and any other value (index 0) of src. */
static void FillIndicator(PgCovariance c, const uint8_t *src, ptrdiff_t nsrc, int phase, double *count)
{
  const PgGrid_s *f = c->fgrid, *g = c->grid;
  const ptrdiff_t Mx = f->n[0], My = f->n[1], nx = g->n[0], ny = g->n[1], stride = 2 * (Mx / 2 + 1), nz = f->nz_local;
  double         *buf  = c->buf;
  int64_t         n[4] = {0, 0, 0, 0};

#pragma omp parallel for collapse(2) schedule(static) num_threads(g->threads) reduction(+ : n[:4])
  for (ptrdiff_t z = 0; z < nz; z++)
    for (ptrdiff_t y = 0; y < My; y++) {
      double *row = buf + ((size_t)z * (size_t)My + (size_t)y) * (size_t)stride;
      if (z >= nsrc || y >= ny) {
        memset(row, 0, sizeof(double) * (size_t)Mx);
        continue;
      }
      const uint8_t *l = src + ((size_t)z * (size_t)ny + (size_t)y) * (size_t)nx;
      for (ptrdiff_t x = 0; x < nx; x++) row[x] = l[x] == phase ? 1.0 : 0.0;
      for (ptrdiff_t x = nx; x < Mx; x++) row[x] = 0.0;
      if (count)
        for (ptrdiff_t x = 0; x < nx; x++) n[l[x] <= 3 ? l[x] : 0]++;
    }
  if (count)
    for (int k = 0; k < 4; k++) count[k] = (double)n[k];
}

/* The spectrum F (transposed layout [ky local][kz][kx <= Mx/2]) becomes |F|^2 (window = PETSC_FALSE)
 * or 2 Re(conj(F) F_W) (window = PETSC_TRUE), F_W the DFT of the image window. */
static void Product(PgCovariance c, PetscBool window)
{
  const PgGrid_s *f  = c->fgrid;
  const ptrdiff_t nh = f->n[0] / 2 + 1, Mz = f->n[2];
  double         *buf = c->buf;

#pragma omp parallel for collapse(2) schedule(static) num_threads(f->threads)
  for (ptrdiff_t jy = 0; jy < f->nky_local; jy++)
    for (ptrdiff_t kz = 0; kz < Mz; kz++) {
      double *b = buf + 2 * ((size_t)jy * (size_t)Mz + (size_t)kz) * (size_t)nh;
      if (!window) {
        for (ptrdiff_t kx = 0; kx < nh; kx++) {
          b[2 * kx]     = b[2 * kx] * b[2 * kx] + b[2 * kx + 1] * b[2 * kx + 1];
          b[2 * kx + 1] = 0;
        }
      } else {
        const double *dy = c->win[1] + 2 * (f->ky_start + jy), *dz = c->win[2] + 2 * kz, *dx = c->win[0];
        const double  wr = dy[0] * dz[0] - dy[1] * dz[1], wi = dy[0] * dz[1] + dy[1] * dz[0];
        for (ptrdiff_t kx = 0; kx < nh; kx++) {
          const double Wr = dx[2 * kx] * wr - dx[2 * kx + 1] * wi, Wi = dx[2 * kx] * wi + dx[2 * kx + 1] * wr;
          b[2 * kx]     = 2 * (b[2 * kx] * Wr + b[2 * kx + 1] * Wi);
          b[2 * kx + 1] = 0;
        }
      }
    }
}

static PetscErrorCode BufferAcquire(PgCovariance c)
{
  PetscFunctionBeginUser;
  if (!c->buf) c->buf = fftw_alloc_real(c->buf_bytes / sizeof(double));
  PetscCheck(c->buf, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate the covariance buffer (%zu bytes)", c->buf_bytes);
  PetscFunctionReturn(0);
}

static void BufferRelease(PgCovariance c)
{
  fftw_free(c->buf);
  c->buf = NULL;
}

static void Forward(PgCovariance c) { fftw_mpi_execute_dft_r2c(c->fwd, c->buf, (fftw_complex *)c->buf); }
static void Inverse(PgCovariance c) { fftw_mpi_execute_dft_c2r(c->inv, (fftw_complex *)c->buf, c->buf); }

/* One function: indicator of phase -> r2c -> product -> c2r -> sums of function slot fun. */
static void Correlate(PgCovariance c, const uint8_t *src, ptrdiff_t nsrc, int phase, PetscBool window, int fun,
                      double *count)
{
  double t;

  FillIndicator(c, src, nsrc, phase, count);
  t = MPI_Wtime();
  Forward(c);
  c->t_fft += MPI_Wtime() - t;
  Product(c, window);
  t = MPI_Wtime();
  Inverse(c);
  c->t_fft += MPI_Wtime() - t;
  Visit(c, c->buf, c->acc + (size_t)fun * c->nacc, NULL);
}

PetscErrorCode PgCovarianceCompute(PgCovariance c, PgLabels labels)
{
  const PgGrid_s *g    = c->grid;
  const uint8_t  *src  = labels->v;
  ptrdiff_t       nsrc = g->nz_local;
  const size_t    nsum = (size_t)c->nfun * c->nacc; /* the curve sums; then 4 label counts */
  const double   *acc = c->acc, *count = c->acc + nsum;

  PetscFunctionBeginUser;
  PetscCheck(labels->grid->n[0] == g->n[0] && labels->grid->n[1] == g->n[1] && labels->grid->n[2] == g->n[2] &&
               labels->grid->nz_local == g->nz_local,
             PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "labels are not on the covariance's grid");
  c->t_fft = 0;
  if (!c->periodic) {
    PetscCallMPI(MPI_Alltoallv(labels->v, c->sc, c->sd, c->plane, c->flab, c->rc, c->rd, c->plane, g->comm));
    src  = c->flab;
    nsrc = c->flab_planes;
  }
  PetscCall(PetscArrayzero(c->acc, nsum + 4));
  PetscCall(BufferAcquire(c));
  for (int i = 0; i < 3; i++) {
    double *cnt = i == 0 ? c->acc + nsum : NULL; /* the labels are counted in the first fill */
    if (!c->periodic && i < 2) {
      Correlate(c, src, nsrc, i + 1, PETSC_TRUE, 3 + i, cnt); /* tau_i */
      cnt = NULL;
    }
    Correlate(c, src, nsrc, i + 1, PETSC_FALSE, i, cnt); /* C_ii */
  }
  BufferRelease(c);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, c->acc, (int)(nsum + 4), MPI_DOUBLE, MPI_SUM, g->comm));
  /* the identities need a partition: every label in {1,2,3} */
  PetscCheck(count[0] == 0, g->comm, PETSC_ERR_ARG_WRONG, "%.0f voxels carry a label outside {1,2,3}", count[0]);
  for (int i = 0; i < 3; i++) c->eps[i] = count[i + 1] / PgGridGlobalVoxels(g);

  /* slot averages, then the cross curves by (*) */
  for (int s = 0; s < c->nacc; s++) {
    double C[3], tau[3], out[PG_NPAIRS];
    for (int i = 0; i < 3; i++) C[i] = acc[(size_t)i * c->nacc + s] / c->cnt[s];
    if (c->periodic)
      for (int i = 0; i < 3; i++) tau[i] = 2 * c->eps[i];
    else {
      tau[0] = acc[(size_t)3 * c->nacc + s] / c->cnt[s];
      tau[1] = acc[(size_t)4 * c->nacc + s] / c->cnt[s];
      tau[2] = 2 - tau[0] - tau[1];
    }
    for (int p = 0; p < PG_NPAIRS; p++) {
      const int i = pair_i[p] - 1, j = pair_j[p] - 1, k = 3 - i - j;
      out[p] = i == j ? C[i] : 0.5 * (C[k] - C[i] - C[j] - 1 + tau[i] + tau[j]);
    }
    for (int p = 0; p < PG_NPAIRS; p++) {
      if (s >= c->off_rad) c->rad[p][s - c->off_rad] = out[p];
      else {
        const int d                     = s >= c->off_dir[2] ? 2 : s >= c->off_dir[1] ? 1 : 0;
        c->dir[d][p][s - c->off_dir[d]] = out[p];
      }
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceExecuteBare(PgCovariance c)
{
  const int n = c->periodic ? 3 : 5;

  PetscFunctionBeginUser;
  PetscCall(BufferAcquire(c));
  PetscCall(PetscArrayzero(c->buf, c->buf_bytes / sizeof(double)));
  for (int k = 0; k < n; k++) {
    Forward(c);
    Inverse(c);
  }
  BufferRelease(c);
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceGetDirectional(PgCovariance c, int pair, int axis, int *nlag, const double **v)
{
  PetscFunctionBeginUser;
  PetscCheck(pair >= 0 && pair < PG_NPAIRS && axis >= 0 && axis < 3, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "pair %d (0..5) or axis %d (0..2) out of range", pair, axis);
  *nlag = (int)c->L[axis] + 1;
  *v    = c->dir[axis][pair];
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceGetRadial(PgCovariance c, int pair, int *nbins, const double **r_um, const double **v)
{
  PetscFunctionBeginUser;
  PetscCheck(pair >= 0 && pair < PG_NPAIRS, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "pair %d out of range 0..5",
             pair);
  *nbins = c->nbins;
  if (r_um) *r_um = c->rad_r;
  *v = c->rad[pair];
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceGetRadialLags(PgCovariance c, int *nbins, const double **count, const double **r_mean_um)
{
  PetscFunctionBeginUser;
  *nbins = c->nbins;
  if (count) *count = c->cnt + c->off_rad;
  if (r_mean_um) *r_mean_um = c->rmean;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceGetInfo(PgCovariance c, PgCovarianceInfo *info)
{
  PetscFunctionBeginUser;
  info->periodic  = c->periodic;
  info->range_um  = c->range_um;
  info->radial_um = c->radial_um;
  info->bin_um    = c->bin_um;
  info->nbins     = c->nbins;
  for (int d = 0; d < 3; d++) {
    info->nlag[d]  = c->L[d] + 1;
    info->fft_n[d] = c->fgrid->n[d];
  }
  info->nforward = info->ninverse = c->periodic ? 3 : 5;
  info->bytes                     = c->buf_bytes +
                (c->periodic ? 0
                             : (size_t)c->flab_planes * PgGridPlane(c->grid) +
                                 sizeof(double) * 2 * (size_t)(c->fgrid->n[0] + c->fgrid->n[1] + c->fgrid->n[2])) +
                sizeof(double) *
                  ((size_t)(c->nfun + 1 + PG_NPAIRS) * c->nacc + 4 + 2 * (size_t)c->nbins + 4 * (size_t)(c->K[0] + 1));
  PetscFunctionReturn(0);
}

double PgCovarianceFFTSeconds(PgCovariance c) { return c->t_fft; }

/* A small dataset that every rank holds identically (h5.c writes it); curves also say their pairs
 * and estimator. */
static PetscErrorCode WriteSmall(PgCovariance c, hid_t group, const char *name, int ndims, const hsize_t dims[],
                                 const double *data, const char *unit, PetscBool curve)
{
  hid_t      dset = H5I_INVALID_HID;
  PgH5Status st   = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PetscCall(PgH5WriteSmall(group, c->grid->rank, name, ndims, dims, data, unit));
  if (curve) {
    PgH5Try(&st, dset = H5Dopen2(group, name, H5P_DEFAULT));
    PgH5Try(&st, PgH5AttrString(dset, "pairs", "11,12,13,22,23,33"));
    PgH5Try(&st, PgH5AttrString(dset, "estimator", c->periodic ? "periodic" : "minus_sampling"));
    PgH5Close(&dset);
    PetscCall(PgH5Check(&st));
  }
  PetscFunctionReturn(0);
}

/* The long-format CSV of the curves (rank 0). */
static void CSVText(FILE *f, const void *ctx)
{
  const struct PgCovariance_private *c = ctx;

  fprintf(f, "curve,h_um,C11,C12,C13,C22,C23,C33\n");
  for (int d = 0; d < 3; d++)
    for (ptrdiff_t h = 0; h <= c->L[d]; h++) {
      fprintf(f, "%c,%.17g", "xyz"[d], h * c -> grid -> voxel_um[d]);
      for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.17g", c->dir[d][p][h]);
      fprintf(f, "\n");
    }
  for (int b = 0; b < c->nbins; b++) {
    fprintf(f, "radial,%.17g", c->rad_r[b]);
    for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.17g", c->rad[p][b]);
    fprintf(f, "\n");
  }
}

PetscErrorCode PgCovarianceWrite(PgCovariance c, hid_t group, const char *csv_path)
{
  const char *axis_name[3] = {"C_x", "C_y", "C_z"}, *lag_name[3] = {"h_x_um", "h_y_um", "h_z_um"};
  double     *buf;
  int         nmax = c->nbins;

  PetscFunctionBeginUser;
  if (group >= 0) {
    for (int d = 0; d < 3; d++) nmax = PetscMax(nmax, (int)c->L[d] + 1);
    PetscCall(PetscMalloc1((size_t)PG_NPAIRS * nmax, &buf));
    for (int d = 0; d < 3; d++) {
      hsize_t dims[2] = {PG_NPAIRS, (hsize_t)c->L[d] + 1};
      for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscArraycpy(buf + p * dims[1], c->dir[d][p], dims[1]));
      PetscCall(WriteSmall(c, group, axis_name[d], 2, dims, buf, "1", PETSC_TRUE));
      for (hsize_t h = 0; h < dims[1]; h++) buf[h] = (double)h * c->grid->voxel_um[d];
      PetscCall(WriteSmall(c, group, lag_name[d], 1, &dims[1], buf, "um", PETSC_FALSE));
    }
    hsize_t dims[2] = {PG_NPAIRS, (hsize_t)c->nbins};
    for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscArraycpy(buf + p * dims[1], c->rad[p], dims[1]));
    PetscCall(WriteSmall(c, group, "C_radial", 2, dims, buf, "1", PETSC_TRUE));
    PetscCall(WriteSmall(c, group, "r_um", 1, &dims[1], c->rad_r, "um", PETSC_FALSE));
    PetscCall(WriteSmall(c, group, "r_mean_um", 1, &dims[1], c->rmean, "um", PETSC_FALSE));
    PetscCall(WriteSmall(c, group, "radial_count", 1, &dims[1], c->cnt + c->off_rad, "1", PETSC_FALSE));
    PetscCall(PetscFree(buf));
  }
  if (csv_path) PetscCall(PgFileWriteText(c->grid->comm, csv_path, CSVText, c));
  PetscFunctionReturn(0);
}
