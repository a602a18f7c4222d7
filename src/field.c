/// \file
/// Spectral synthesis of two independent stationary Gaussian random fields.
///
/// Circulant embedding on the periodic grid: for a covariance rho sampled on the torus (shortest
/// periodic distance), Lambda(k) = DFT(rho)(k) >= 0 and f = IDFT(sqrt(Lambda / N) A), with A unit
/// Hermitian white noise, is real with mean 0 and covariance exactly rho at lattice lags (so
/// variance exactly 1). The Gaussian covariance exp(-(alpha h)^2) = prod_d exp(-(alpha dx_d j_d)^2)
/// is separable, so Lambda is the product of three 1D spectra computed directly (O(n^2) each, no
/// 3D transform). The noise is drawn directly in Fourier space (no forward transform of white
/// noise), on the half spectrum only, and each field takes one in-place c2r transform whose input
/// is in FFTW's transposed layout (FFTW_MPI_TRANSPOSED_IN saves one global transpose).
///
/// Why two c2r transforms and not one c2c transform of sqrt(Lx) A + i sqrt(Ly) B (both fields at
/// once, as its real and imaginary parts): the transforms cost about the same, but the c2c input
/// needs the noise at every frequency, each pair {k, -k} drawn twice (once on each rank that holds
/// a member), 4 normals per voxel; the half spectra need 2 normals per voxel. Measured at 256^3
/// single precision on one core, the c2c noise cost as much as the transform (6 ns per voxel); see
/// benchmarks/README.md.
///
/// Random numbers: Philox4x32-10 keyed by the run seed, counter = global frequency index (the
/// smaller of the pair on the Hermitian planes kx = 0, nx/2); the structure is the same at any
/// rank count (docs/design.md, "Reproducibility").
///
/// Communication: each c2r transform does one all-to-all transpose of its N/2 complex values,
/// 2 * 4 N (single) or 2 * 8 N (double) bytes in total for both fields, (P-1)/P of it crossing
/// ranks. Memory: two buffers of alloc_r2c complex values, (N + 2 ny nz) reals each: about 8
/// (single) or 16 (double) bytes per voxel.
#include <plurigauss/config.h>
#include <plurigauss/field.h>

#include "noise.h"

#include <Random123/philox.h>
#include <fftw3-mpi.h>
#include <math.h>

struct PgField_private {
  PgGrid      grid;
  PgPrecision precision;
  void       *buf[2]; /* X and Y: in-place c2r arrays of alloc_r2c complex values (one buffer:
                           buf[0] holds X, then Z; buf[1] is NULL) */
  int         nbuf;
  size_t      bytes;
  void       *plan;     /* fftw_plan or fftwf_plan, executed on both buffers */
  double     *eig_x[3]; /* 1D spectra of rho_X along x, y, z (eigenvalues, clipped >= 0) */
  double     *eig_y[3];
  double     *sqrt_eig_x0, *sqrt_eig_y0; /* square roots of the x spectra */
  double      min_eig_x, min_eig_y;
  char        wisdom[PETSC_MAX_PATH_LEN + 16];
};

#define PgNoiseRow_d    PgNoiseRowDouble
#define PgNoiseRow_s    PgNoiseRowFloat
#define PgNoiseRowX_d   PgNoiseRowXDouble
#define PgNoiseRowX_s   PgNoiseRowXFloat
#define PgNoiseRowSum_d PgNoiseRowSumDouble
#define PgNoiseRowSum_s PgNoiseRowSumFloat

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
    PetscCheck(fftw_init_threads() && fftwf_init_threads(), PETSC_COMM_SELF, PETSC_ERR_LIB,
               "FFTW could not initialise threads");
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

PetscErrorCode PgFieldCreate(PgGrid grid, PgPrecision precision, PgPlanner planner, const char *wisdom_file,
                             double alpha_x_per_um, double alpha_y_per_um, PetscBool one_buffer, PgField *field)
{
  PgField  f;
  unsigned flags = planner == PG_PLANNER_PATIENT   ? FFTW_PATIENT
                   : planner == PG_PLANNER_MEASURE ? FFTW_MEASURE
                                                   : FFTW_ESTIMATE;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&f));
  f->grid      = grid;
  f->precision = precision;
  f->nbuf      = one_buffer ? 1 : 2;
  if (wisdom_file && wisdom_file[0])
    snprintf(f->wisdom, sizeof f->wisdom, "%s-%s", wisdom_file, precision == PG_PRECISION_DOUBLE ? "double" : "single");
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
  if (f->precision == PG_PRECISION_DOUBLE) Free_d(f);
  else Free_s(f);
  PetscCall(PetscFree2(f->sqrt_eig_x0, f->sqrt_eig_y0));
  for (int d = 0; d < 3; d++) {
    PetscCall(PetscFree(f->eig_x[d]));
    PetscCall(PetscFree(f->eig_y[d]));
  }
  PetscCall(PetscFree(*field));
  PetscFunctionReturn(0);
}

/* The buffers after PgFieldReleaseBuffers: allocated again (same size and alignment, so the plan
 * executes on them). */
static PetscErrorCode Reacquire(PgField f)
{
  PetscFunctionBeginUser;
  if (f->buf[0]) PetscFunctionReturn(0);
  if (f->precision == PG_PRECISION_DOUBLE) PetscCall(Alloc_d(f));
  else PetscCall(Alloc_s(f));
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldReleaseBuffers(PgField f)
{
  PetscFunctionBeginUser;
  if (f->precision == PG_PRECISION_DOUBLE) FreeBuffers_d(f);
  else FreeBuffers_s(f);
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGenerate(PgField f, uint64_t seed)
{
  PetscFunctionBeginUser;
  PetscCall(Reacquire(f));
  PetscCheck(f->nbuf == 2, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "PgFieldGenerate needs two buffers; use PgFieldGenerateX/Z");
  if (f->precision == PG_PRECISION_DOUBLE) {
    PetscCall(FillSpectrum_d(f, seed, 0, 0));
    Execute_d(f, 0);
    Execute_d(f, 1);
  } else {
    PetscCall(FillSpectrum_s(f, seed, 0, 0));
    Execute_s(f, 0);
    Execute_s(f, 1);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGenerateX(PgField f, uint64_t seed)
{
  PetscFunctionBeginUser;
  PetscCall(Reacquire(f));
  if (f->precision == PG_PRECISION_DOUBLE) {
    PetscCall(FillSpectrum_d(f, seed, 1, 0));
    Execute_d(f, 0);
  } else {
    PetscCall(FillSpectrum_s(f, seed, 1, 0));
    Execute_s(f, 0);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGenerateZ(PgField f, uint64_t seed, double m)
{
  PetscFunctionBeginUser;
  if (f->precision == PG_PRECISION_DOUBLE) {
    PetscCall(FillSpectrum_d(f, seed, 2, m));
    Execute_d(f, 0);
  } else {
    PetscCall(FillSpectrum_s(f, seed, 2, m));
    Execute_s(f, 0);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldExecuteBare(PgField f)
{
  PetscFunctionBeginUser;
  PetscCall(Reacquire(f));
  /* the generation's two transforms: one per buffer, or twice on the one buffer */
  for (int i = 0; i < 2; i++) {
    if (f->precision == PG_PRECISION_DOUBLE) Execute_d(f, i % f->nbuf);
    else Execute_s(f, i % f->nbuf);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgFieldGetArrays(PgField f, const void **x, const void **y, ptrdiff_t *row_stride,
                                PgPrecision *precision)
{
  PetscFunctionBeginUser;
  *x = f->buf[0];
  *y = f->nbuf == 2 ? f->buf[1] : NULL;
  if (row_stride) *row_stride = 2 * (f->grid->n[0] / 2 + 1);
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

/* --------------------------------------------------------------------------------------------
 * Deck keys: fft.* and threads (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

static const char *const planner_names[] = {"estimate", "measure", "patient", NULL};
static const char *const memory_names[]  = {"fast", "low", NULL};

const PgKey PgFFTKeys[] = {
  {"fft_planner", PG_KEY_ENUM, 1, 1, "measure", "-", 0, 0, 0, 0, planner_names, "FFTW planner effort"},
  {"fft_wisdom", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "FFTW wisdom file, read if present and updated after planning"},
  {"fft_memory", PG_KEY_ENUM, 1, 1, "fast", "-", 0, 0, 0, 0, memory_names,
   "fast: X and Y in two buffers; low: one buffer (X, then Z), half the field memory, ~0.3 transforms more"},
  {"fft_time_bare", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "time the bare transform after planning (benchmarks: the floor of generation)"},
  {"threads", PG_KEY_INT, 1, 1, "1", "-", 1, 1024, 0, 0, NULL,
   "threads per rank (FFTW threads, OpenMP loops, lanes of planes)"},
};
const int PgFFTNKeys = (int)(sizeof PgFFTKeys / sizeof PgFFTKeys[0]);

#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgFFTLoadOptions(PgDeck deck, PgFFTOptions *o)
{
  PetscFunctionBeginUser;
  o->planner = (PgPlanner)(int)V("fft_planner")->v[0];
  snprintf(o->wisdom_file, sizeof o->wisdom_file, "%s", V("fft_wisdom")->s);
  o->threads    = (PetscInt)V("threads")->v[0];
  o->time_bare  = V("fft_time_bare")->v[0] != 0;
  o->low_memory = V("fft_memory")->v[0] != 0;
  PetscFunctionReturn(0);
}
#undef V
