/* Internal to field.c: one row of the white-noise half spectra of X and Y. Lives in its own file
 * so that it alone is compiled with -ffast-math, which lets GCC vectorise the logarithms and sines
 * through glibc's libmvec; the rest of the code keeps IEEE semantics. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t    seed;
  uint64_t    g_row, g_mirror;   /* full-spectrum global index of (ky, kz, 0) and of (-ky, -kz, 0) */
  ptrdiff_t   nx;                /* real length of a row; the half spectrum holds nx/2 + 1 values */
  const void *scale_x, *scale_y; /* sqrt(Lambda(k) / N) along the row, float or double as the output */
} PgNoiseRow;

/* Writes nx/2+1 complex values sqrt(Lx/N) A into out_x and sqrt(Ly/N) B into out_y (interleaved
 * re, im). scratch holds 5 * (nx/2 + 1) uint32. */
void PgNoiseRowDouble(const PgNoiseRow *r, double *out_x, double *out_y, uint32_t *scratch);
void PgNoiseRowFloat(const PgNoiseRow *r, float *out_x, float *out_y, uint32_t *scratch);
/* One output, the spectrum of wx X + wy Y (Sum) or of wx X (X: the normals of Y are not drawn). */
void PgNoiseRowSumDouble(const PgNoiseRow *r, double wx, double wy, double *out, uint32_t *scratch);
void PgNoiseRowSumFloat(const PgNoiseRow *r, float wx, float wy, float *out, uint32_t *scratch);
void PgNoiseRowXDouble(const PgNoiseRow *r, double wx, double wy, double *out, uint32_t *scratch);
void PgNoiseRowXFloat(const PgNoiseRow *r, float wx, float wy, float *out, uint32_t *scratch);
