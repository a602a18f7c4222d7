/// \file
/// The conduction problem of conductivity.h assembled on the slabs and solved with PETSc.
///
/// Unknowns. Only the voxels of the percolating components (components.c, 6-connected, touching
/// both faces normal to the axis) are unknowns, numbered in the slab order: rank r owns the unknowns
/// of its own slab, so the ownership of the matrix rows follows the z-slabs exactly and the labels
/// are never redistributed (a PETSc DMDA with the same z-ownership would carry identity rows for
/// all other voxels: 1/eps_i times the unknowns, e.g. 7 times for the pores). The global number of
/// a neighbour in the next slab comes from one halo exchange of the boundary planes' numbers.
///
/// Matrix. Row by row in CSR form (at most 7 entries, columns sorted), created in one call
/// (MatCreateMPIAIJWithArrays) on the ranks that own planes. Symmetric positive definite: every
/// unknown connects to a Dirichlet face through its component.
///
/// Solver. CG preconditioned by hypre's BoomerAMG with the usual 3D settings (chosen by
/// measurement against PETSc's GAMG, see benchmarks/README.md; GAMG via -cond_pc_type gamg),
/// relative tolerance rtol, the
/// linear profile along the axis as the initial guess. Every KSP/PC option can be overridden with
/// the prefix cond_. A solve that does not converge is reported (converged = PETSC_FALSE, reason
/// < 0), never a silent number.
///
/// Communication per solve: the components (see components.c), one halo exchange of 2 planes of
/// PetscInt, then PETSc's: per CG iteration one halo of the matrix-vector product (the boundary
/// plane's unknowns, 8 bytes each, to each neighbour) and 2 allreduces, plus the multigrid
/// hierarchy (setup: coarsening and Galerkin products; per cycle a halo per level). Memory: the
/// mask (1 byte per voxel), the numbers (4 bytes per voxel with 32-bit PetscInt), and per unknown
/// the matrix (7 entries: ~84 bytes), the vectors and the AMG hierarchy (~2-3 times the matrix).
#include <plurigauss/components.h>
#include <plurigauss/conductivity.h>

#include <inttypes.h>
#include <petscksp.h>

struct PgConductivity_private {
  PgGrid       grid;
  MPI_Comm     sub;      /* the ranks that own planes (MPI_COMM_NULL elsewhere) */
  PetscBool    periodic_sides;
  double       rtol;
  PgComponents comp;
  uint8_t     *mask;     /* percolating voxels of the slab */
  PetscInt    *ids;      /* global unknown number per voxel, -1 if none: ghost plane, slab, ghost plane */
  KSP          ksp;
};

PetscErrorCode PgConductivityCreate(PgGrid grid, PetscBool periodic_sides, double rtol, PgConductivity *cond)
{
  PgConductivity c;
  const size_t   plane = PgGridPlane(grid);

  PetscFunctionBeginUser;
  PetscCheck(rtol > 0 && rtol < 1, grid->comm, PETSC_ERR_ARG_OUTOFRANGE, "conductivity: relative tolerance %g outside (0, 1)", rtol);
  PetscCall(PetscNew(&c));
  c->grid           = grid;
  c->periodic_sides = periodic_sides;
  c->rtol           = rtol;
  PetscCallMPI(MPI_Comm_split(grid->comm, grid->nz_local > 0 ? 0 : MPI_UNDEFINED, grid->rank, &c->sub));
  PetscCall(PgComponentsCreate(grid, &c->comp));
  PetscCall(PetscMalloc2(PetscMax(PgGridLocalVoxels(grid), 1), &c->mask, plane * (size_t)(grid->nz_local + 2), &c->ids));
  *cond = c;
  PetscFunctionReturn(0);
}

PetscErrorCode PgConductivityDestroy(PgConductivity *cond)
{
  PgConductivity c = *cond;

  PetscFunctionBeginUser;
  if (!c) PetscFunctionReturn(0);
  PetscCall(KSPDestroy(&c->ksp));
  if (c->sub != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&c->sub));
  PetscCall(PgComponentsDestroy(&c->comp));
  PetscCall(PetscFree2(c->mask, c->ids));
  PetscCall(PetscFree(*cond));
  PetscFunctionReturn(0);
}

/* A fresh solver for each problem (the multigrid hierarchy of GAMG cannot change size in place). */
static PetscErrorCode NewSolver(PgConductivity c)
{
  PC pc;

  PetscFunctionBeginUser;
  PetscCall(KSPDestroy(&c->ksp));
  PetscCall(KSPCreate(c->sub, &c->ksp));
  PetscCall(KSPSetOptionsPrefix(c->ksp, "cond_"));
  PetscCall(KSPSetType(c->ksp, KSPCG));
  PetscCall(KSPGetPC(c->ksp, &pc));
  PetscCall(PCSetType(pc, PCHYPRE));
  PetscCall(PCHYPRESetType(pc, "boomeramg"));
  /* BoomerAMG's usual 3D settings (PMIS coarsening, ext+i interpolation, at most 4 entries per
     interpolation row, one level of aggressive coarsening): measured 1.5x faster than GAMG's default
     and half its memory on the 300^3 paper structures; any of them can be overridden */
  {
    const char *defaults[][2] = {{"-cond_pc_hypre_boomeramg_strong_threshold", "0.5"}, {"-cond_pc_hypre_boomeramg_coarsen_type", "PMIS"}, {"-cond_pc_hypre_boomeramg_interp_type", "ext+i"},
                                 {"-cond_pc_hypre_boomeramg_P_max", "4"}, {"-cond_pc_hypre_boomeramg_agg_nl", "1"}};
    for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++) {
      PetscBool set;
      PetscCall(PetscOptionsHasName(NULL, NULL, defaults[k][0], &set));
      if (!set) PetscCall(PetscOptionsSetValue(NULL, defaults[k][0], defaults[k][1]));
    }
  }
  PetscCall(KSPSetTolerances(c->ksp, c->rtol, PETSC_DEFAULT, PETSC_DEFAULT, 10000));
  PetscCall(KSPSetNormType(c->ksp, KSP_NORM_UNPRECONDITIONED));
  PetscCall(KSPSetInitialGuessNonzero(c->ksp, PETSC_TRUE));
  PetscCall(KSPSetFromOptions(c->ksp));
  PetscFunctionReturn(0);
}

/* Insertion sort of one row's (column, value) pairs: at most 7. */
static void SortRow(PetscInt *col, PetscScalar *val, int n)
{
  for (int a = 1; a < n; a++)
    for (int b = a; b > 0 && col[b - 1] > col[b]; b--) {
      PetscInt    tc = col[b];
      PetscScalar tv = val[b];
      col[b]         = col[b - 1];
      val[b]         = val[b - 1];
      col[b - 1]     = tc;
      val[b - 1]     = tv;
    }
}

PetscErrorCode PgConductivityCompute(PgConductivity c, const uint8_t *v, uint8_t value, int axis, PgConductivityResult *res)
{
  const PgGrid  g = c->grid;
  const int     nx = (int)g->n[0], ny = (int)g->n[1], nz = (int)g->n[2], nzl = (int)g->nz_local;
  const size_t  plane = PgGridPlane(g), nloc_vox = PgGridLocalVoxels(g);
  const double *d = g->voxel_um;
  const int     n[3] = {nx, ny, nz};
  PetscInt     *id = c->ids + plane; /* the slab's numbers */
  int64_t       nloc = 0, first = 0, total = 0;
  double        cond_[3], gb, t0 = MPI_Wtime();
  double        flux[2] = {0, 0}; /* outlet, inlet */
  PetscBool     wrap[3];

  PetscFunctionBeginUser;
  PetscCheck(axis >= 0 && axis < 3, g->comm, PETSC_ERR_ARG_OUTOFRANGE, "conductivity: axis %d, allowed 0 (x), 1 (y), 2 (z)", axis);
  PetscCall(PetscMemzero(res, sizeof *res));
  for (int e = 0; e < 3; e++) {
    cond_[e] = d[(e + 1) % 3] * d[(e + 2) % 3] / d[e]; /* A / d between face neighbours along e */
    wrap[e]  = c->periodic_sides && e != axis ? PETSC_TRUE : PETSC_FALSE;
  }
  gb = 2 * cond_[axis]; /* a boundary voxel to its Dirichlet face, half a voxel away */
  /* the unknowns: the percolating components */
  PetscCall(PgComponentsCompute(c->comp, v, value, PG_CONNECTIVITY_6));
  PetscCall(PgComponentsSelect(c->comp, PgFacesNormalTo(axis), c->mask));
  for (size_t i = 0; i < nloc_vox; i++) nloc += c->mask[i];
  PetscCallMPI(MPI_Exscan(&nloc, &first, 1, MPI_INT64_T, MPI_SUM, g->comm));
  if (g->rank == 0) first = 0;
  PetscCallMPI(MPI_Allreduce(&nloc, &total, 1, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCheck(total <= (int64_t)PETSC_MAX_INT, g->comm, PETSC_ERR_SUP,
             "conductivity: %" PRId64 " unknowns exceed this PETSc's %d-bit indices; build with a 64-bit-index PETSc (Debian petsc64-dev: PETSC_DIR=/usr/lib/petscdir/petsc64, or a cluster module with --with-64-bit-indices)", total,
             (int)(8 * sizeof(PetscInt)));
  res->unknowns = total;
  res->converged = PETSC_TRUE;
  if (!total) { /* no path from face to face: no current */
    res->seconds = MPI_Wtime() - t0;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->seconds, 1, MPI_DOUBLE, MPI_MAX, g->comm));
    PetscFunctionReturn(0);
  }
  {
    PetscInt next = (PetscInt)first;
    for (size_t i = 0; i < plane; i++) c->ids[i] = c->ids[plane * (size_t)(nzl + 1) + i] = -1;
    for (size_t i = 0; i < nloc_vox; i++) id[i] = c->mask[i] ? next++ : -1;
  }
  PetscCall(PgGridHaloExchange(g, c->ids, plane * sizeof(PetscInt), 1, wrap[2]));
  if (c->sub != MPI_COMM_NULL) {
    PetscInt    *ri, *cj, its;
    PetscScalar *av, *bv, *xv;
    Mat          A;
    Vec          x, b;
    PetscReal    rnorm;
    KSPConvergedReason reason;
    int64_t      r = 0, nnz = 0;

    PetscCall(PetscMalloc3(nloc + 1, &ri, 7 * PetscMax(nloc, 1), &cj, 7 * PetscMax(nloc, 1), &av));
    PetscCall(PetscMalloc2(PetscMax(nloc, 1), &bv, PetscMax(nloc, 1), &xv));
    ri[0] = 0;
    for (int zl = 0; zl < nzl; zl++)
      for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
          const size_t i = PgGridIndex(g, zl, y, x);
          if (id[i] < 0) continue;
          const int   crd[3] = {x, y, (int)g->z_start + zl};
          PetscInt   *col    = cj + nnz;
          PetscScalar *val   = av + nnz, diag = 0, rhs = 0;
          int          m     = 1;
          for (int e = 0; e < 3; e++)
            for (int s = -1; s <= 1; s += 2) {
              int q[3] = {crd[0], crd[1], crd[2]};
              q[e] += s;
              if (q[e] < 0 || q[e] >= n[e]) {
                if (e == axis) { /* Dirichlet face: 1 at the inlet, 0 at the outlet */
                  diag += gb;
                  if (s < 0) rhs += gb;
                  continue;
                }
                if (!wrap[e]) continue; /* insulating side */
                q[e] = (q[e] + n[e]) % n[e];
              }
              PetscInt nb;
              if (e == 2) { /* another plane: this slab or a ghost plane (periodic wrap included) */
                const int dzl = zl + s;
                nb            = (dzl == -1 || dzl == nzl) ? c->ids[(size_t)(dzl + 1) * plane + (size_t)q[1] * nx + q[0]] : id[PgGridIndex(g, dzl, q[1], q[0])];
              } else nb = id[PgGridIndex(g, zl, q[1], q[0])];
              if (nb < 0) continue;
              diag += cond_[e];
              col[m] = nb;
              val[m] = -cond_[e];
              m++;
            }
          col[0] = id[i];
          val[0] = diag;
          SortRow(col, val, m);
          nnz += m;
          bv[r] = rhs;
          xv[r] = 1.0 - (crd[axis] + 0.5) / n[axis]; /* linear profile: the initial guess */
          ri[++r] = (PetscInt)nnz;
        }
    PetscCall(MatCreateMPIAIJWithArrays(c->sub, (PetscInt)nloc, (PetscInt)nloc, (PetscInt)total, (PetscInt)total, ri, cj, av, &A));
    PetscCall(MatSetOption(A, MAT_SPD, PETSC_TRUE));
    PetscCall(MatCreateVecs(A, &x, &b));
    {
      PetscScalar *p;
      PetscCall(VecGetArray(b, &p));
      PetscCall(PetscArraycpy(p, bv, nloc));
      PetscCall(VecRestoreArray(b, &p));
      PetscCall(VecGetArray(x, &p));
      PetscCall(PetscArraycpy(p, xv, nloc));
      PetscCall(VecRestoreArray(x, &p));
    }
    PetscCall(PetscFree3(ri, cj, av));
    PetscCall(NewSolver(c));
    PetscCall(KSPSetOperators(c->ksp, A, A));
    PetscCall(KSPSolve(c->ksp, b, x));
    PetscCall(KSPGetConvergedReason(c->ksp, &reason));
    PetscCall(KSPGetIterationNumber(c->ksp, &its));
    PetscCall(KSPGetResidualNorm(c->ksp, &rnorm));
    res->reason     = (int)reason;
    res->iterations = its;
    res->residual   = (double)rnorm;
    res->converged  = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
    /* the currents through the outlet and the inlet faces */
    {
      const PetscScalar *p;
      PetscCall(VecGetArrayRead(x, &p));
      r = 0;
      for (int zl = 0; zl < nzl; zl++)
        for (int y = 0; y < ny; y++)
          for (int xx = 0; xx < nx; xx++) {
            const size_t i = PgGridIndex(g, zl, y, xx);
            if (id[i] < 0) continue;
            const int ca = axis == 0 ? xx : axis == 1 ? y : (int)g->z_start + zl;
            if (ca == n[axis] - 1) flux[0] += gb * PetscRealPart(p[r]);
            if (ca == 0) flux[1] += gb * (1.0 - PetscRealPart(p[r]));
            r++;
          }
      PetscCall(VecRestoreArrayRead(x, &p));
    }
    PetscCall(PetscFree2(bv, xv));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&b));
    PetscCall(MatDestroy(&A));
    PetscCall(KSPDestroy(&c->ksp));
  }
  /* results to every rank (rank 0 always owns planes) */
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, flux, 2, MPI_DOUBLE, MPI_SUM, g->comm));
  {
    double info[4] = {(double)res->reason, (double)res->iterations, res->residual, (double)res->converged};
    PetscCallMPI(MPI_Bcast(info, 4, MPI_DOUBLE, 0, g->comm));
    res->reason     = (int)info[0];
    res->iterations = (PetscInt)info[1];
    res->residual   = info[2];
    res->converged  = info[3] != 0 ? PETSC_TRUE : PETSC_FALSE;
  }
  {
    double L = n[axis] * d[axis], area = 1;
    for (int e = 0; e < 3; e++)
      if (e != axis) area *= n[e] * d[e];
    res->M             = flux[0] * L / area;
    res->M_inlet       = flux[1] * L / area;
    res->flux_rel_diff = PetscMax(flux[0], flux[1]) > 0 ? PetscAbsReal(flux[0] - flux[1]) / PetscMax(flux[0], flux[1]) : 0.0;
  }
  res->seconds = MPI_Wtime() - t0;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->seconds, 1, MPI_DOUBLE, MPI_MAX, g->comm));
  PetscFunctionReturn(0);
}
