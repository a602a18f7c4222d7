/// \file
/// Spectral synthesis of two independent Gaussian random fields in one complex transform.
///
/// Circulant embedding on the periodic grid: for a covariance rho sampled on the torus (shortest
/// periodic distance), Lambda(k) = DFT(rho)(k) >= 0 and f = IDFT(sqrt(Lambda / N) A) with A unit
/// Hermitian white noise is real, has mean 0 and covariance exactly rho at lattice lags (so variance
/// exactly 1). The Gaussian covariance exp(-(alpha h)^2) = prod_d exp(-(alpha dx_d j_d)^2) is
/// separable, so Lambda is the product of three 1D spectra computed directly (O(n^2) each, no 3D
/// transform). Both fields come out of one backward c2c transform:
///     IDFT(sqrt(Lambda_X) A + i sqrt(Lambda_Y) B) = X + i Y,
/// with the noise drawn directly in Fourier space (no forward transform of white noise) and the
/// input taken in FFTW's transposed layout (FFTW_MPI_TRANSPOSED_IN), which saves one global
/// transpose. The floor is therefore one complex 3D transform of N voxels.
///
/// Random numbers: Philox4x32-10 keyed by the run seed, counter = global frequency index of the
/// pair {k, -k}; the structure is the same at any rank count (DESIGN.md "Reproducibility").
///
/// Communication: the FFT's two all-to-all transposes, 2 * 16 N (double) or 2 * 8 N (single) bytes
/// in total, (P-1)/P of it crossing ranks. Memory: one complex buffer of alloc_complex elements
/// (8 or 16 bytes per voxel), plus FFTW's small plan workspace.
#include <plurigauss/field.h>

#include "noise.h"

#include <Random123/philox.h>
#include <fftw3-mpi.h>
#include <math.h>

struct PgField_private {
  PgGrid      grid;
  PgPrecision precision;
  void       *buf;      /* complex array of alloc_complex elements, float or double */
  size_t      bytes;
  void       *plan;     /* fftw_plan or fftwf_plan */
  double     *eig_x[3]; /* 1D spectra of rho_X along x, y, z (eigenvalues, clipped >= 0) */
  double     *eig_y[3];
  double     *sqrt_eig_x0, *sqrt_eig_y0; /* square roots of the x spectra */
  double      min_eig_x, min_eig_y;
  char        wisdom[PETSC_MAX_PATH_LEN + 16];
};

#define PgNoiseRow_d PgNoiseRowDouble
#define PgNoiseRow_s PgNoiseRowFloat

/* --- double precision --- */
#define R      double
#define FX(f)  fftw_##f
#define SFX(f) f##_d
#include "field_impl.h"
#undef R
#undef FX
#undef SFX
/* --- single precision --- */
#define R      float
#define FX(f)  fftwf_##f
#define SFX(f) f##_s
#include "field_impl.h"
#undef R
#undef FX
#undef SFX

PetscErrorCode PgFieldInitializePackage(int threads)
{
  PetscFunctionBeginUser;
  if (threads > 1) {
    PetscCheck(fftw_init_threads() && fftwf_init_threads(), PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not initialise threads");
  }
  fftw_mpi_init();
  fftwf_mpi_init();
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldFinalizePackage(void)
{
  PetscFunctionBeginUser;
  fftw_mpi_cleanup();
  fftwf_mpi_cleanup();
  PetscFunctionReturn(0);
}

/* 1D eigenvalues of exp(-(a j)^2) on a periodic line of n points, a = alpha * dx. Returns the
 * smallest eigenvalue before clipping. */
static double Spectrum1D(PetscInt n, double a, double *eig)
{
  double mn = HUGE_VAL;
  for (PetscInt k = 0; k < n; k++) {
    double s = 0;
    for (PetscInt j = 0; j < n; j++) {
      PetscInt d = j <= n - j ? j : n - j; /* shortest periodic distance */
      s += exp(-(a * d) * (a * d)) * cos(2 * M_PI * (double)(((int64_t)j * k) % n) / (double)n);
    }
    mn     = PetscMin(mn, s);
    eig[k] = s > 0 ? s : 0;
  }
  return mn;
}

PetscErrorCode PgFieldCreate(PgGrid grid, PgPrecision precision, PgPlanner planner, const char *wisdom_file, double alpha_x_per_um, double alpha_y_per_um, PgField *field)
{
  PgField  f;
  unsigned flags = planner == PG_PLANNER_PATIENT ? FFTW_PATIENT : planner == PG_PLANNER_MEASURE ? FFTW_MEASURE : FFTW_ESTIMATE;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&f));
  f->grid      = grid;
  f->precision = precision;
  if (wisdom_file && wisdom_file[0]) snprintf(f->wisdom, sizeof f->wisdom, "%s-%s", wisdom_file, precision == PG_PRECISION_DOUBLE ? "double" : "single");
  f->min_eig_x = f->min_eig_y = HUGE_VAL;
  for (int d = 0; d < 3; d++) {
    double mx, my;
    PetscCall(PetscMalloc1(grid->n[d], &f->eig_x[d]));
    PetscCall(PetscMalloc1(grid->n[d], &f->eig_y[d]));
    mx           = Spectrum1D(grid->n[d], alpha_x_per_um * grid->voxel_um[d], f->eig_x[d]);
    my           = Spectrum1D(grid->n[d], alpha_y_per_um * grid->voxel_um[d], f->eig_y[d]);
    f->min_eig_x = PetscMin(f->min_eig_x, mx);
    f->min_eig_y = PetscMin(f->min_eig_y, my);
  }
  PetscCall(PetscMalloc2(grid->n[0], &f->sqrt_eig_x0, grid->n[0], &f->sqrt_eig_y0));
  for (PetscInt k = 0; k < grid->n[0]; k++) {
    f->sqrt_eig_x0[k] = sqrt(f->eig_x[0][k]);
    f->sqrt_eig_y0[k] = sqrt(f->eig_y[0][k]);
  }
  if (precision == PG_PRECISION_DOUBLE) {
    PetscCall(Alloc_d(f));
    PetscCall(Plan_d(f, flags));
  } else {
    PetscCall(Alloc_s(f));
    PetscCall(Plan_s(f, flags));
  }
  *field = f;
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldDestroy(PgField *field)
{
  PgField f = *field;

  PetscFunctionBeginUser;
  if (!f) PetscFunctionReturn(0);
  if (f->precision == PG_PRECISION_DOUBLE) {
    if (f->plan) fftw_destroy_plan((fftw_plan)f->plan);
    fftw_free(f->buf);
  } else {
    if (f->plan) fftwf_destroy_plan((fftwf_plan)f->plan);
    fftwf_free(f->buf);
  }
  PetscCall(PetscFree2(f->sqrt_eig_x0, f->sqrt_eig_y0));
  for (int d = 0; d < 3; d++) {
    PetscCall(PetscFree(f->eig_x[d]));
    PetscCall(PetscFree(f->eig_y[d]));
  }
  PetscCall(PetscFree(*field));
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGenerate(PgField f, uint64_t seed)
{
  PetscFunctionBeginUser;
  if (f->precision == PG_PRECISION_DOUBLE) {
    PetscCall(FillSpectrum_d(f, seed));
    fftw_execute((fftw_plan)f->plan);
  } else {
    PetscCall(FillSpectrum_s(f, seed));
    fftwf_execute((fftwf_plan)f->plan);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldExecuteBare(PgField f)
{
  PetscFunctionBeginUser;
  if (f->precision == PG_PRECISION_DOUBLE) fftw_execute((fftw_plan)f->plan);
  else fftwf_execute((fftwf_plan)f->plan);
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGetArray(PgField f, const void **xy, PgPrecision *precision)
{
  PetscFunctionBeginUser;
  *xy = f->buf;
  if (precision) *precision = f->precision;
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGetInfo(PgField f, double *min_eig_x, double *min_eig_y, size_t *bytes)
{
  PetscFunctionBeginUser;
  if (min_eig_x) *min_eig_x = f->min_eig_x;
  if (min_eig_y) *min_eig_y = f->min_eig_y;
  if (bytes) *bytes = f->bytes;
  PetscFunctionReturn(0);
}

uint64_t PgFieldRunSeed(uint64_t master, int64_t point, int64_t realization)
{
  philox4x32_key_t key = {{(uint32_t)master, (uint32_t)(master >> 32)}};
  philox4x32_ctr_t ctr = {{(uint32_t)point, (uint32_t)realization, 0x53454544u /* "SEED" */, 0}};
  philox4x32_ctr_t r   = philox4x32(ctr, key);
  /* keep 53 bits so that the seed is exact in a double-valued CSV column */
  return (((uint64_t)r.v[0] << 32) | r.v[1]) & ((UINT64_C(1) << 53) - 1);
}
