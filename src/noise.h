/* Internal to field.c: one row of the Hermitian white-noise spectrum. Lives in its own file so
 * that it alone is compiled with -ffast-math, which lets GCC vectorise the logarithms and
 * sines through glibc's libmvec; the rest of the code keeps IEEE semantics. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t      seed;
  uint64_t      g_row, g_mirror; /* global index of (ky, kz, 0) and of (-ky, -kz, 0) */
  ptrdiff_t     nx;
  const void   *sqrt_eig_x, *sqrt_eig_y; /* sqrt of the 1D spectra along x, times sqrt(Lambda_yz / N),
                                          float or double as the output */
} PgNoiseRow;

/* Writes nx complex values sqrt(Lx) A + i sqrt(Ly) B into out (interleaved re, im).
 * scratch holds 4 * nx uint32. */
void PgNoiseRowDouble(const PgNoiseRow *r, double *out, uint32_t *scratch);
void PgNoiseRowFloat(const PgNoiseRow *r, float *out, uint32_t *scratch);
