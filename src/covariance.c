/// \file
/// Two-point coverage functions by distributed FFT (Ohser & Schladitz 2009, Section 6.2).
///
/// For indicators a = 1_i, b = 1_j on the grid, S(h) = sum_x a(x) b(x + h) is the inverse
/// transform of conj(A) B. Model realizations are periodic: C_ij(h) = S(h) / N. Images are
/// zero-padded by the largest lag L_d along every axis, so that no lag up to L wraps around, and
/// C_ij(h) = S(h) / prod_d (n_d - |h_d|), the number of point pairs at lag h inside the image
/// (minus sampling). The padded grid has its own FFTW slabs; the labels are moved to them plane
/// by plane with one MPI_Alltoallv.
///
/// Transforms: in-place single-precision r2c with FFTW_MPI_TRANSPOSED_OUT and c2r with
/// FFTW_MPI_TRANSPOSED_IN (one global transpose each), on two buffers A and B: for each i, A holds
/// the spectrum of 1_i, B that of 1_j (j >= i), then B <- conj(A) B and its inverse gives S_ij.
/// Periodic runs need only C_11, C_12, C_22; the rest follow exactly from
/// sum_j C_ij(h) = eps_i and C_ji(h) = C_ij(-h) on the torus: 3 forward + 3 inverse transforms.
/// Images need all six pairs: 6 forward + 6 inverse (or fewer buffers than the 9-transform plan,
/// which would hold three spectra). Memory: 2 buffers of (nx/2 + 1) complex floats per row, 8 bytes
/// per (padded) voxel. Curves: the directional lags (+-h along x, y, z) and the radial bins are
/// accumulated per rank from its slab of lags and combined with one MPI_Allreduce per pair.
/// Communication per rank: one transpose per transform, 4 bytes x N/P x (P-1)/P each.
#include <plurigauss/covariance.h>
#include <plurigauss/error.h>

#include <fftw3-mpi.h>
#include <math.h>
#include <string.h>

static const int pair_i[PG_NPAIRS] = {1, 1, 1, 2, 2, 3}, pair_j[PG_NPAIRS] = {1, 2, 3, 2, 3, 3};

struct PgCovariance_private {
  PgGrid      grid;    /* the labels' grid */
  PgGrid      fgrid;   /* the FFT grid: the same (periodic) or padded by L (images) */
  PetscBool   periodic;
  ptrdiff_t   L[3];    /* largest lag per axis, voxels */
  int         nbins;
  double      bin_um, range_um;
  float      *A, *B;   /* in-place r2c buffers on fgrid */
  fftwf_plan  fwd, inv;
  uint8_t    *plan_labels; /* labels moved onto fgrid's slabs (images only) */
  double     *dir[3][PG_NPAIRS]; /* directional curves, L[d] + 1 lags each */
  double     *rad[PG_NPAIRS], *rad_r; /* radial curves and bin centres */
  double      eps[3];
  double      t_fft;
};

PetscErrorCode PgCovarianceCreate(PgGrid grid, PetscBool periodic, double range_um, PgPlanner planner, PgCovariance *covp)
{
  PgCovariance c;
  PetscInt     fn[3];
  unsigned     flags = planner == PG_PLANNER_PATIENT ? FFTW_PATIENT : planner == PG_PLANNER_MEASURE ? FFTW_MEASURE : FFTW_ESTIMATE;
  double       side  = HUGE_VAL, vmin = HUGE_VAL;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&c));
  c->grid     = grid;
  c->periodic = periodic;
  for (int d = 0; d < 3; d++) {
    side = PetscMin(side, grid->n[d] * grid->voxel_um[d]);
    vmin = PetscMin(vmin, grid->voxel_um[d]);
  }
  c->range_um = range_um > 0 ? range_um : 0.25 * side;
  for (int d = 0; d < 3; d++) {
    ptrdiff_t cap = periodic ? grid->n[d] / 2 : grid->n[d] - 1;
    c->L[d]       = PetscMin((ptrdiff_t)floor(c->range_um / grid->voxel_um[d] + 1e-9), cap);
    fn[d]         = periodic ? grid->n[d] : grid->n[d] + c->L[d];
  }
  c->bin_um = vmin;
  c->nbins  = (int)floor(c->range_um / vmin + 1e-9) + 1;
  if (periodic) c->fgrid = grid;
  else PetscCall(PgGridCreate(grid->comm, fn, grid->voxel_um, grid->threads, &c->fgrid));
  const size_t nc = (size_t)PetscMax(c->fgrid->alloc_r2c, 1);
  c->A = fftwf_alloc_real(2 * nc);
  c->B = fftwf_alloc_real(2 * nc);
  PetscCheck(c->A && c->B, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate the covariance buffers (%zu bytes)", 16 * nc);
  if (!periodic) PetscCall(PetscMalloc1(PetscMax(PgGridLocalVoxels(c->fgrid), 1), &c->plan_labels));
  if (grid->threads > 1) fftwf_plan_with_nthreads(grid->threads);
  const PgGrid_s *f = c->fgrid;
  c->fwd = fftwf_mpi_plan_dft_r2c_3d(f->n[2], f->n[1], f->n[0], c->A, (fftwf_complex *)c->A, f->comm, flags | FFTW_MPI_TRANSPOSED_OUT);
  c->inv = fftwf_mpi_plan_dft_c2r_3d(f->n[2], f->n[1], f->n[0], (fftwf_complex *)c->A, c->A, f->comm, flags | FFTW_MPI_TRANSPOSED_IN);
  PetscCheck(c->fwd && c->inv, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan the covariance transforms");
  for (int p = 0; p < PG_NPAIRS; p++) {
    for (int d = 0; d < 3; d++) PetscCall(PetscCalloc1(c->L[d] + 1, &c->dir[d][p]));
    PetscCall(PetscCalloc1(c->nbins, &c->rad[p]));
  }
  PetscCall(PetscMalloc1(c->nbins, &c->rad_r));
  for (int b = 0; b < c->nbins; b++) c->rad_r[b] = b * c->bin_um;
  *covp = c;
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceDestroy(PgCovariance *covp)
{
  PgCovariance c = *covp;

  PetscFunctionBeginUser;
  if (!c) PetscFunctionReturn(0);
  fftwf_destroy_plan(c->fwd);
  fftwf_destroy_plan(c->inv);
  fftwf_free(c->A);
  fftwf_free(c->B);
  PetscCall(PetscFree(c->plan_labels));
  for (int p = 0; p < PG_NPAIRS; p++) {
    for (int d = 0; d < 3; d++) PetscCall(PetscFree(c->dir[d][p]));
    PetscCall(PetscFree(c->rad[p]));
  }
  PetscCall(PetscFree(c->rad_r));
  if (c->fgrid != c->grid) PetscCall(PgGridDestroy(&c->fgrid));
  PetscCall(PetscFree(*covp));
  PetscFunctionReturn(0);
}

/* Moves the label planes from the labels' slabs onto the padded grid's slabs (planes z >= nz of
 * the padded grid are zero). One MPI_Alltoallv of whole planes. */
static PetscErrorCode Redistribute(PgCovariance c, const uint8_t *src)
{
  const PgGrid_s *g = c->grid, *f = c->fgrid;
  const size_t    plane = PgGridPlane(g);
  int            *sc, *sd, *rc, *rd;
  ptrdiff_t      *zs, *fz;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(g->size, &sc, g->size, &sd, g->size, &rc, g->size, &rd));
  PetscCall(PetscMalloc2(2 * g->size, &zs, 2 * g->size, &fz));
  ptrdiff_t mine[2] = {g->z_start, g->nz_local}, fmine[2] = {f->z_start, f->nz_local};
  PetscCallMPI(MPI_Allgather(mine, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, zs, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, g->comm));
  PetscCallMPI(MPI_Allgather(fmine, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, fz, 2 * (int)sizeof(ptrdiff_t), MPI_BYTE, g->comm));
  for (int r = 0; r < g->size; r++) {
    /* my source planes that rank r owns on the padded grid, and r's planes that I own */
    ptrdiff_t lo = PetscMax(g->z_start, fz[2 * r]), hi = PetscMin(g->z_start + g->nz_local, fz[2 * r] + fz[2 * r + 1]);
    sc[r] = hi > lo ? (int)((hi - lo) * (ptrdiff_t)plane) : 0;
    sd[r] = hi > lo ? (int)((lo - g->z_start) * (ptrdiff_t)plane) : 0;
    lo    = PetscMax(zs[2 * r], f->z_start);
    hi    = PetscMin(zs[2 * r] + zs[2 * r + 1], f->z_start + f->nz_local);
    rc[r] = hi > lo ? (int)((hi - lo) * (ptrdiff_t)plane) : 0;
    rd[r] = hi > lo ? (int)((lo - f->z_start) * (ptrdiff_t)plane) : 0;
  }
  PetscCheck((double)plane * (double)PetscMax(g->nz_local, f->nz_local) < 2147483647.0, PETSC_COMM_SELF, PETSC_ERR_SUP, "slab too large for one MPI message");
  memset(c->plan_labels, 0, PgGridLocalVoxels(f));
  PetscCallMPI(MPI_Alltoallv(src, sc, sd, MPI_BYTE, c->plan_labels, rc, rd, MPI_BYTE, g->comm));
  PetscCall(PetscFree4(sc, sd, rc, rd));
  PetscCall(PetscFree2(zs, fz));
  PetscFunctionReturn(0);
}

/* buf <- indicator of phase (image planes padded with zeros in x and y), then r2c in place. */
static void Forward(PgCovariance c, const uint8_t *lab, int phase, float *buf)
{
  const PgGrid_s *f = c->fgrid, *g = c->grid;
  const ptrdiff_t fx = f->n[0], fy = f->n[1], nx = g->n[0], ny = g->n[1], stride = 2 * (fx / 2 + 1);
  for (ptrdiff_t z = 0; z < f->nz_local; z++)
    for (ptrdiff_t y = 0; y < fy; y++) {
      float *row = buf + ((size_t)z * (size_t)fy + (size_t)y) * (size_t)stride;
      if (y >= ny) {
        memset(row, 0, sizeof(float) * (size_t)fx);
        continue;
      }
      const uint8_t *l = lab + ((size_t)z * (size_t)ny + (size_t)y) * (size_t)nx;
      for (ptrdiff_t x = 0; x < nx; x++) row[x] = l[x] == phase ? 1.0f : 0.0f;
      for (ptrdiff_t x = nx; x < fx; x++) row[x] = 0.0f;
    }
  fftwf_mpi_execute_dft_r2c(c->fwd, buf, (fftwf_complex *)buf);
}

/* Accumulates the lags of the real array buf (S(h) on fgrid's slab) into the curves of pair p:
 * directional sums over +-h, radial sums, with the normalisation of each lag. */
static PetscErrorCode Extract(PgCovariance c, const float *buf, int p, double *dsum[3], double *dcnt[3], double *rsum, double *rcnt)
{
  const PgGrid_s *f = c->fgrid, *g = c->grid;
  const ptrdiff_t fx = f->n[0], fy = f->n[1], fzn = f->n[2], stride = 2 * (fx / 2 + 1);
  const double    Nf = PgGridGlobalVoxels(f), r2max = c->range_um * c->range_um * (1 + 1e-12);

  PetscFunctionBeginUser;
  (void)p;
  for (ptrdiff_t zl = 0; zl < f->nz_local; zl++) {
    const ptrdiff_t zg = f->z_start + zl, hz = zg <= fzn / 2 ? zg : zg - fzn;
    if (PetscAbs(hz) > c->L[2]) continue;
    for (ptrdiff_t y = 0; y < fy; y++) {
      const ptrdiff_t hy = y <= fy / 2 ? y : y - fy;
      if (PetscAbs(hy) > c->L[1]) continue;
      const float *row = buf + ((size_t)zl * (size_t)fy + (size_t)y) * (size_t)stride;
      for (ptrdiff_t x = 0; x < fx; x++) {
        const ptrdiff_t hx = x <= fx / 2 ? x : x - fx;
        if (PetscAbs(hx) > c->L[0]) continue;
        /* pairs at this lag: N on the torus, prod (n_d - |h_d|) inside an image */
        const double npairs = c->periodic ? PgGridGlobalVoxels(g) : (double)(g->n[0] - PetscAbs(hx)) * (double)(g->n[1] - PetscAbs(hy)) * (double)(g->n[2] - PetscAbs(hz));
        const double v      = row[x] / (Nf * npairs);
        /* on an even periodic axis the lags +n/2 and -n/2 coincide: count what is there */
        if (!hy && !hz) {
          dsum[0][PetscAbs(hx)] += v;
          dcnt[0][PetscAbs(hx)] += 1;
        }
        if (!hx && !hz) {
          dsum[1][PetscAbs(hy)] += v;
          dcnt[1][PetscAbs(hy)] += 1;
        }
        if (!hx && !hy) {
          dsum[2][PetscAbs(hz)] += v;
          dcnt[2][PetscAbs(hz)] += 1;
        }
        const double ux = hx * g->voxel_um[0], uy = hy * g->voxel_um[1], uz = hz * g->voxel_um[2], r2 = ux * ux + uy * uy + uz * uz;
        if (r2 <= r2max) {
          const int b = (int)floor(sqrt(r2) / c->bin_um + 0.5);
          if (b < c->nbins) {
            rsum[b] += v;
            rcnt[b] += 1;
          }
        }
      }
    }
  }
  PetscFunctionReturn(0);
}

/* S_ij for the pair (i, j) into the curves of pair index p. */
static PetscErrorCode ComputePair(PgCovariance c, const uint8_t *lab, int p, int have_A_for)
{
  const PgGrid_s *f  = c->fgrid;
  const size_t    nc = (size_t)f->nky_local * (size_t)f->n[2] * (size_t)(f->n[0] / 2 + 1); /* transposed spectrum */
  const int       i  = pair_i[p], j = pair_j[p];
  double         *dsum[3], *dcnt[3], *rsum, *rcnt, t;

  PetscFunctionBeginUser;
  t = MPI_Wtime();
  if (have_A_for != i) Forward(c, lab, i, c->A);
  if (j == i) memcpy(c->B, c->A, 2 * sizeof(float) * nc);
  else Forward(c, lab, j, c->B);
  c->t_fft += MPI_Wtime() - t;
  const float *a = c->A;
  float       *b = c->B;
  for (size_t k = 0; k < nc; k++) { /* conj(A) B, interleaved (re, im) */
    const float re = a[2 * k] * b[2 * k] + a[2 * k + 1] * b[2 * k + 1], im = a[2 * k] * b[2 * k + 1] - a[2 * k + 1] * b[2 * k];
    b[2 * k]       = re;
    b[2 * k + 1]   = im;
  }
  t = MPI_Wtime();
  fftwf_mpi_execute_dft_c2r(c->inv, (fftwf_complex *)c->B, c->B);
  c->t_fft += MPI_Wtime() - t;
  for (int d = 0; d < 3; d++) PetscCall(PetscCalloc2(c->L[d] + 1, &dsum[d], c->L[d] + 1, &dcnt[d]));
  PetscCall(PetscCalloc2(c->nbins, &rsum, c->nbins, &rcnt));
  PetscCall(Extract(c, c->B, p, dsum, dcnt, rsum, rcnt));
  for (int d = 0; d < 3; d++) {
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, dsum[d], (int)c->L[d] + 1, MPI_DOUBLE, MPI_SUM, f->comm));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, dcnt[d], (int)c->L[d] + 1, MPI_DOUBLE, MPI_SUM, f->comm));
    for (ptrdiff_t h = 0; h <= c->L[d]; h++) c->dir[d][p][h] = dsum[d][h] / dcnt[d][h]; /* mean of +h and -h */
    PetscCall(PetscFree2(dsum[d], dcnt[d]));
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, rsum, c->nbins, MPI_DOUBLE, MPI_SUM, f->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, rcnt, c->nbins, MPI_DOUBLE, MPI_SUM, f->comm));
  for (int bidx = 0; bidx < c->nbins; bidx++) c->rad[p][bidx] = rcnt[bidx] > 0 ? rsum[bidx] / rcnt[bidx] : NAN;
  PetscCall(PetscFree2(rsum, rcnt));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceCompute(PgCovariance c, PgLabels labels)
{
  const uint8_t *lab = labels->v;

  PetscFunctionBeginUser;
  c->t_fft = 0;
  PetscCall(PgLabelsVolumeFractions(labels, c->eps));
  if (!c->periodic) {
    PetscCall(Redistribute(c, labels->v));
    lab = c->plan_labels;
  }
  if (c->periodic) {
    /* C_11, C_12, C_22 by FFT; the others from sum_j C_ij = eps_i and C_ji(h) = C_ij(-h), which
     * the +-h averages and the radial shells already symmetrise */
    PetscCall(ComputePair(c, lab, 0, 0)); /* 11: A = F1 */
    PetscCall(ComputePair(c, lab, 1, 1)); /* 12 */
    PetscCall(ComputePair(c, lab, 3, 0)); /* 22 */
    for (int d = 0; d < 4; d++) {
      const int n  = d < 3 ? (int)c->L[d] + 1 : c->nbins;
      double  **C  = d < 3 ? NULL : c->rad;
      double   *c11 = d < 3 ? c->dir[d][0] : C[0], *c12 = d < 3 ? c->dir[d][1] : C[1], *c13 = d < 3 ? c->dir[d][2] : C[2];
      double   *c22 = d < 3 ? c->dir[d][3] : C[3], *c23 = d < 3 ? c->dir[d][4] : C[4], *c33 = d < 3 ? c->dir[d][5] : C[5];
      for (int h = 0; h < n; h++) {
        c13[h] = c->eps[0] - c11[h] - c12[h];
        c23[h] = c->eps[1] - c12[h] - c22[h];
        c33[h] = c->eps[2] - c13[h] - c23[h];
      }
    }
  } else {
    int have = 0;
    for (int p = 0; p < PG_NPAIRS; p++) {
      PetscCall(ComputePair(c, lab, p, have));
      have = pair_i[p];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceGetDirectional(PgCovariance c, int pair, int axis, int *nlag, const double **v)
{
  PetscFunctionBeginUser;
  *nlag = (int)c->L[axis] + 1;
  *v    = c->dir[axis][pair];
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceGetRadial(PgCovariance c, int pair, int *nbins, const double **r_um, const double **v)
{
  PetscFunctionBeginUser;
  *nbins = c->nbins;
  *r_um  = c->rad_r;
  *v     = c->rad[pair];
  PetscFunctionReturn(0);
}

double PgCovarianceFFTSeconds(PgCovariance c) { return c->t_fft; }

/* A small dataset that every rank holds identically: collective create, rank 0 writes. */
static PetscErrorCode WriteSmall(MPI_Comm comm, hid_t group, const char *name, int ndims, const hsize_t dims[], const double *data, const char *unit)
{
  int   rank;
  hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, atype = H5I_INVALID_HID, aspace = H5I_INVALID_HID, attr = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PgCallH5(space = H5Screate_simple(ndims, dims, NULL));
  PgCallH5(dset = H5Dcreate2(group, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgCallH5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  if (rank != 0) PgCallH5(H5Sselect_none(space));
  PgCallH5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, space, space, dxpl, data));
  PgCallH5(atype = H5Tcopy(H5T_C_S1));
  PgCallH5(H5Tset_size(atype, strlen(unit) + 1));
  PgCallH5(aspace = H5Screate(H5S_SCALAR));
  PgCallH5(attr = H5Acreate2(dset, "unit", atype, aspace, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(H5Awrite(attr, atype, unit));
  PgCallH5(H5Aclose(attr));
  PgCallH5(H5Sclose(aspace));
  PgCallH5(H5Tclose(atype));
  PgCallH5(H5Pclose(dxpl));
  PgCallH5(H5Dclose(dset));
  PgCallH5(H5Sclose(space));
  PetscFunctionReturn(0);
}

PetscErrorCode PgCovarianceWrite(PgCovariance c, hid_t group, const char *csv_path)
{
  const char *axis_name[3] = {"C_x", "C_y", "C_z"}, *lag_name[3] = {"h_x_um", "h_y_um", "h_z_um"};
  double     *buf;
  int         nmax = c->nbins, ok = 1;

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++) nmax = PetscMax(nmax, (int)c->L[d] + 1);
  PetscCall(PetscMalloc1((size_t)PG_NPAIRS * nmax, &buf));
  for (int d = 0; d < 3; d++) {
    hsize_t dims[2] = {PG_NPAIRS, (hsize_t)c->L[d] + 1};
    for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscArraycpy(buf + p * dims[1], c->dir[d][p], dims[1]));
    PetscCall(WriteSmall(c->grid->comm, group, axis_name[d], 2, dims, buf, "probability; rows 11,12,13,22,23,33"));
    for (hsize_t h = 0; h < dims[1]; h++) buf[h] = (double)h * c->grid->voxel_um[d];
    PetscCall(WriteSmall(c->grid->comm, group, lag_name[d], 1, &dims[1], buf, "um"));
  }
  {
    hsize_t dims[2] = {PG_NPAIRS, (hsize_t)c->nbins};
    for (int p = 0; p < PG_NPAIRS; p++) PetscCall(PetscArraycpy(buf + p * dims[1], c->rad[p], dims[1]));
    PetscCall(WriteSmall(c->grid->comm, group, "C_radial", 2, dims, buf, "probability; rows 11,12,13,22,23,33"));
    PetscCall(WriteSmall(c->grid->comm, group, "r_um", 1, &dims[1], c->rad_r, "um"));
  }
  PetscCall(PetscFree(buf));
  if (csv_path && c->grid->rank == 0) {
    char  tmp[PETSC_MAX_PATH_LEN + 8];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", csv_path);
    f = fopen(tmp, "w");
    if (!f) ok = 0;
    else {
      fprintf(f, "curve,h_um,C11,C12,C13,C22,C23,C33\n");
      for (int d = 0; d < 3; d++)
        for (ptrdiff_t h = 0; h <= c->L[d]; h++) {
          fprintf(f, "%c,%.8g", "xyz"[d], h * c->grid->voxel_um[d]);
          for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.10g", c->dir[d][p][h]);
          fprintf(f, "\n");
        }
      for (int b = 0; b < c->nbins; b++) {
        fprintf(f, "radial,%.8g", c->rad_r[b]);
        for (int p = 0; p < PG_NPAIRS; p++) fprintf(f, ",%.10g", c->rad[p][b]);
        fprintf(f, "\n");
      }
      ok = fclose(f) == 0 && rename(tmp, csv_path) == 0;
    }
  }
  if (csv_path) {
    PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, c->grid->comm));
    PetscCheck(ok, c->grid->comm, PETSC_ERR_FILE_WRITE, "cannot write %s", csv_path);
  }
  PetscFunctionReturn(0);
}
