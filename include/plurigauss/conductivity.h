/// \file
/// Effective conductivity of one phase along one axis, solved on the voxels with PETSc: the
/// M-factor measured (M = sigma_eff / sigma_phase), to check the prediction of eq. 14.
///
/// Model problem. Conductivity 1 in the phase and 0 elsewhere; potential 1 on the inlet face
/// (the domain face at coordinate 0 of the axis) and 0 on the outlet face (n-1), applied at the
/// faces themselves, i.e. half a voxel beyond the first and last voxel centres; no flux through the
/// other four faces (or periodic sides on request). Cell-centred finite volumes: the conductance
/// between two face-neighbouring phase voxels is A/d (A the face area, d the centre distance; the
/// harmonic mean of 1 and 1), 0 to a non-phase voxel, 2A/d from a boundary voxel to its Dirichlet
/// face. Only the voxels of the phase's 6-connected components that touch both the inlet and the
/// outlet face are unknowns (the others carry no current and would make the matrix singular; they
/// get identity rows). sigma_eff = F L / (A_tot dV) with F the current through a face, L = n d the
/// domain length along the axis, A_tot its cross-section and dV = 1: a full phase gives exactly 1,
/// straight channels of area fraction f exactly f. M is computed from the power dissipated in the
/// phase, P = sum of c (potential difference)^2 over the conducting links and the face links, which
/// equals the current for the solution and exceeds it by the squared energy norm of the error for an
/// approximation: second-order accurate, where the current through a face is first-order (at rtol
/// 1e-6 the pores' M from the outlet current is off by 2e-4, from the power by less than 1e-8).
/// The currents at the outlet and at the inlet are reported too; their difference checks the solve.
#pragma once

#include <plurigauss/grid.h>
#include <stdint.h>

typedef struct PgConductivity_private *PgConductivity;

typedef struct {
  double    M;             /* sigma_eff / sigma_phase from the dissipated power (0: no percolating path) */
  double    M_outlet;      /* the same from the outlet current */
  double    M_inlet;       /* the same from the inlet current */
  double    flux_rel_diff; /* |F_in - F_out| / max(F_in, F_out) */
  double    residual;      /* final preconditioned residual norm of the solve */
  PetscInt  iterations;
  int       reason;        /* KSPConvergedReason (> 0 converged; 0 when no solve was needed) */
  PetscBool converged;     /* PETSC_TRUE also when no solve was needed */
  int64_t   unknowns;      /* voxels of the percolating components */
  double    seconds;       /* slowest rank: components, setup and solve */
  double    seconds_setup; /* rank 0: components, numbering, operator and preconditioner setup */
  double    seconds_solve; /* rank 0: the CG iterations */
} PgConductivityResult;

/// Collective on the grid's communicator. periodic_sides: the four faces parallel to the axis are
/// periodic instead of insulating. rtol: relative tolerance of the solve. The solver is CG with an
/// aggregation multigrid built from the labels (docs/solver.md); PETSc options with the prefix
/// cond_ choose another (-cond_method amg: hypre BoomerAMG on the assembled matrix, with
/// -cond_pc_type gamg PETSc's GAMG; -cond_method pfmg: hypre PFMG on a structured matrix of the whole
/// grid) or tune it (-cond_mg_alpha 2, -cond_mg_theta 0, -cond_mg_coarse 2000, -cond_mg_view,
/// -cond_ksp_monitor, ...). The options are read here.
PetscErrorCode PgConductivityCreate(PgGrid grid, PetscBool periodic_sides, double rtol, PgConductivity *cond);
PetscErrorCode PgConductivityDestroy(PgConductivity *cond);

/// The reason (PgConductivityResult.reason) of a multigrid solve stopped because M was known to the
/// tolerance of PgConductivitySetMTolerance (a positive code beside KSPConvergedReason's).
#define PG_CONDUCTIVITY_CONVERGED_M 20

/// With m_rtol > 0 the default (multigrid) solve also stops as soon as CG's estimate of the energy
/// norm of the error bounds M's relative error (M from the power) by m_rtol: the error of M is the
/// square of the solution's, so M to 1e-6 needs about half the iterations of rtol 1e-6 (the currents
/// through the faces, first-order, are then only good to about sqrt(m_rtol); docs/solver.md). 0 (the
/// default; the option -cond_m_rtol sets it too): the residual test only. The other methods ignore it.
/// Logically collective.
PetscErrorCode PgConductivitySetMTolerance(PgConductivity cond, double m_rtol);

/// M of the phase {v == value} along axis (0 x, 1 y, 2 z). Collective.
PetscErrorCode PgConductivityCompute(PgConductivity cond, const uint8_t *v, uint8_t value, int axis,
                                     PgConductivityResult *result);

/// Estimated peak bytes per rank of one PgConductivityCompute with the default method, on the rank
/// with the most voxels, for a phase whose percolating voxels are unknown_fraction of the volume
/// (e.g. its volume fraction): the formula of docs/solver.md, fitted to measured peaks. Not collective.
PetscErrorCode PgConductivityEstimateBytes(PgGrid grid, double unknown_fraction, double *bytes_per_rank);

/// The same formula from the counts: padded voxels (nx+2)(ny+2)(nz_local+2) and unknowns of the
/// rank with the most voxels; the memory check (memory.c) uses it before any grid exists.
double PgConductivityPeakBytes(double padded_voxels, double unknowns);
