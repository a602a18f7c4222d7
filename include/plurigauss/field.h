/// \file
/// Two independent stationary Gaussian random fields X, Y on the periodic grid, by spectral
/// synthesis (circulant embedding): one c2r transform each.
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

typedef struct PgField_private *PgField;

/// Initialises FFTW's MPI (and, with threads > 1, threaded) planners for both precisions. Call once,
/// after MPI is initialised and before any PgFieldCreate.
PetscErrorCode PgFieldInitializePackage(int threads);
PetscErrorCode PgFieldFinalizePackage(void);

/// Plans the transform and computes the spectra of rho_X(h) = exp(-(alpha_x h)^2) and
/// rho_Y(h) = exp(-(alpha_y h)^2) on the grid's torus. one_buffer: hold one field at a time
/// (PgFieldGenerateX, then PgFieldGenerateZ), half the memory. Collective.
PetscErrorCode PgFieldCreate(PgGrid grid, PgPrecision precision, PgPlanner planner, const char *wisdom_file,
                             double alpha_x_per_um, double alpha_y_per_um, PetscBool one_buffer, PgField *field);
PetscErrorCode PgFieldDestroy(PgField *field);

/// Draws one realisation of (X, Y) with the counter-based generator keyed by (seed, global
/// frequency index): the result does not depend on the number of ranks. Collective.
PetscErrorCode PgFieldGenerate(PgField field, uint64_t seed);

/// One buffer: X of the realisation with this seed; then Z = sqrt(m) X + sqrt(1-m) Y of the same
/// realisation, synthesised from its spectrum sqrt(m) F_X + sqrt(1-m) F_Y (the counter-based noise
/// is drawn again). Collective.
PetscErrorCode PgFieldGenerateX(PgField field, uint64_t seed);
PetscErrorCode PgFieldGenerateZ(PgField field, uint64_t seed, double m);

/// The local slabs of X and Y of the last realisation (y is NULL with one buffer, where x holds the
/// last of X or Z), [z][y][x] with rows padded to row_stride
/// reals (FFTW's in-place layout: voxel (zl, y, x) at (zl * ny + y) * row_stride + x), float or
/// double as the field's precision says. Valid until the next PgFieldGenerate.
PetscErrorCode PgFieldGetArrays(PgField field, const void **x, const void **y, ptrdiff_t *row_stride,
                                PgPrecision *precision);

/// Frees the field buffers until the next generation, which allocates them again: the measure
/// stage can use the memory (2 x 4 bytes per voxel in single precision). The arrays returned by
/// PgFieldGetArrays are invalid afterwards.
PetscErrorCode PgFieldReleaseBuffers(PgField field);

/// Executes the bare transforms (one per field) once on the current buffers (benchmarks: the floor of generation).
PetscErrorCode PgFieldExecuteBare(PgField field);

/// Smallest eigenvalue of each spectrum before clipping at zero (negative means clipped), and
/// the buffer bytes held by this rank.
PetscErrorCode PgFieldGetInfo(PgField field, double *min_eig_x, double *min_eig_y, size_t *bytes);

/// The seed of run (point, realization) derived from the master seed by the same counter-based
/// generator. With common random numbers pass point = 0 for every point.
uint64_t PgFieldRunSeed(uint64_t master, int64_t point, int64_t realization);
