/// \file
/// Opening-based size descriptors of one phase: the continuous phase size distribution (cPSD,
/// eq. 13) with balls in 3D and with disks on every z-slice, and simulated mercury intrusion (MIP)
/// from a domain face, with their median radii r50.
///
/// Definitions (radii r_k = k * step, k = 1, 2, ...; a ball of radius r is the open ball, the voxels
/// at distance < r from its centre voxel):
///  - centres C_r = the phase voxels whose squared distance transform (edt.h) is >= r^2: the ball of
///    radius r around them holds only phase voxels;
///  - the opening O_r = the voxels within distance < r of C_r (the union of those balls);
///  - cPSD Psi(r) = |O_r| / |phase|, counted on the voxels whose whole 2r-neighbourhood lies in the
///    domain (minus-sampling, Ohser & Mücklich 2000 §4.7.2: membership of O_r depends only on the
///    structure within 2r); with periodic estimators, on the whole domain;
///  - MIP V(r) = |the part of O_r reached from the inlet| / |phase|, with the centres restricted to
///    the 6-connected components of C_r that touch the inlet face (mercury only enters through the
///    inlet, and a ball of radius r moves between face-neighbouring centres); the domain is not
///    periodic for MIP (it is a sample with one open face);
///  - r50 = the radius where the curve falls through 0.5, linear between levels (Psi(0) = 1; a MIP
///    curve that is below 0.5 at the first level has r50 = 0: less than half the phase is
///    reachable). The error of the linear rule is below one step.
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

typedef struct PgOpening_private *PgOpening;

/// At most this many radius levels per curve (per-voxel level maps are bytes): with a step finer
/// than R / 255 for the largest inscribed radius R, the curves stop at 255 steps.
#define PG_OPENING_MAX_LEVELS 255

typedef struct {
  double  step_um;     /* radius step (µm) */
  int     n3;          /* levels of the 3D cPSD: radii (k+1) * step for k = 0 .. n3-1 */
  double *psd3;        /* Psi(r) in 3D, n3 values */
  double  r50_psd3_um; /* median radius of the 3D cPSD */
  int     n2;          /* levels of the 2D cPSD */
  double *psd2;        /* pooled over all z-slices (ratio of sums), n2 values */
  double  r50_psd2_um;
  int     nmip[3]; /* levels of the MIP curve per axis (0: not computed) */
  double *mip[3];  /* intruded volume fraction per axis */
  double  r50_mip_um[3];
  double  seconds_psd3, seconds_psd2, seconds_mip; /* slowest rank */
} PgOpeningResult;

/// Collective. periodic selects periodic estimators for the cPSD (MIP is never periodic);
/// step_um > 0 is the radius step.
PetscErrorCode PgOpeningCreate(PgGrid grid, PetscBool periodic, double step_um, PgOpening *op);
PetscErrorCode PgOpeningDestroy(PgOpening *op);

/// Radius hints: per transform (periodic 3D, non-periodic 3D, 2D) and phase value, the largest
/// inscribed radius last seen, in steps (0: unknown). With a hint the transform is first tried
/// bounded (a windowed pass, a few times cheaper than the exact one) and is exact either way; a
/// caller measuring realization after realization of one model keeps them between the objects it
/// creates for each (PgOpeningGetHints after one, PgOpeningSetHints on the next). Not collective.
typedef int PgOpeningHints[3][256];
void        PgOpeningGetHints(PgOpening op, PgOpeningHints hints);
void        PgOpeningSetHints(PgOpening op, const PgOpeningHints hints);

/// Computes the descriptors of the phase {v == value}: the 3D cPSD, the 2D cPSD when psd2 is set,
/// and the MIP along each axis a with bit (1 << a) in mip_axes, from the face at coordinate 0
/// (inlet_high = PETSC_FALSE) or n-1. Replaces any earlier result. Collective.
PetscErrorCode PgOpeningCompute(PgOpening op, const uint8_t *v, uint8_t value, PetscBool psd2, unsigned mip_axes,
                                PetscBool inlet_high, PgOpeningResult *result);

/// The 2D cPSD of each of this rank's z-slices from the last computation: for local
/// plane zl and level k < n at psd[zl * stride + k] (NaN where the slice's window holds no phase
/// voxel). n = result->n2.
PetscErrorCode PgOpeningGetSlices(PgOpening op, const double **psd, int *n, int *stride);

/// r50 of a decreasing curve on levels (k+1) * step, k = 0 .. n-1, with value v0 at radius 0.
double PgOpeningMedian(const double *curve, int n, double step, double v0);
