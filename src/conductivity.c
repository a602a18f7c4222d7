/// \file
/// The conduction problem of conductivity.h on the slabs: the percolating voxels numbered in slab
/// order, CG preconditioned by a multigrid built from the labels (default), by hypre's BoomerAMG on
/// an assembled matrix, or by hypre's PFMG on a structured matrix of the whole grid.
///
/// Unknowns. Only the voxels of the percolating components (components.c, 6-connected, touching
/// both faces normal to the axis) are unknowns, numbered in the slab order [z][y][x]: rank r owns
/// the unknowns of its own slab, so the vectors follow the z-slabs and the labels never move.
///
/// Multigrid (-cond_method mg, the default; docs/solver.md). The fine operator is never assembled:
/// a padded map of the slab's voxels to their unknown numbers (4 bytes per voxel, -1 outside the
/// unknowns, -2 beyond a Dirichlet face; periodic sides copy the wrapped numbers into the padding)
/// gives the six neighbours of every unknown, and the conductances are one number per axis, so a
/// product with the operator reads the map and the vector only. Coarse levels aggregate: the
/// unknowns of each 2x2x2 block of voxels (then of blocks of blocks) that are connected inside the
/// block form one coarse unknown, so two branches of the phase that only meet outside the block stay
/// apart, and a dead end stays its own unknown. The coarse operator is the Galerkin product
/// P^T A P of the piecewise-constant prolongation P, a weighted graph Laplacian again (the sum of
/// the fine conductances between two aggregates, the Dirichlet conductances summed on the
/// diagonal), divided by alpha = 2: halving the block's conductances is what rediscretising a
/// coarsened pipe, sheet or bulk gives (two faces in series per coarse face), which repairs the
/// known over-stiffness of unsmoothed aggregation without smoothing the prolongation (no fill). The
/// operator stays an M-matrix with exact row sums (the weights are stored in single precision and
/// the diagonal is summed from the stored weights), so every level is symmetric positive definite.
/// Cycle: one forward Gauss-Seidel sweep from zero before the coarse correction, one backward sweep
/// after it (lexicographic inside the slab, Jacobi across slab faces), two cycles of the next level
/// per coarse correction (W-cycle) on levels 1-4 and on the levels that cost no communication
/// (replicated, or one rank), one (V-cycle, Galerkin operator alpha = 1) on the distributed levels
/// between: each level's correction keeps the eigenvalues of B A in (0, 1], so the preconditioner is
/// symmetric positive definite (docs/solver.md; a V-cycle everywhere needs 2.5x the iterations). The
/// residual's restriction is folded into the forward sweep (each new z_k is scattered to the
/// aggregates of its earlier neighbours). Aggregates never cross a slab face: once a level's slabs
/// are one block thick, pairs of groups of slabs merge onto one rank (Agglomerate: each rank hosts
/// at most one merged level), so coarsening goes on across the old faces with the rows per active
/// rank bounded; the first level of at most -cond_mg_replicate unknowns (4000) is merged once more
/// (onto ranks that host no other merged level), gathered on the ranks that hold rows of it and
/// cycled redundantly there (one gather per visit instead of halos);
/// the coarsest level (at most 4000 unknowns) is solved by a sparse LU factorisation on those
/// ranks.
///
/// Threads (lanes). A rank's planes are split into one lane per thread (LanesSetUp: at least two
/// planes each, the inner faces on multiples of 2^A planes, A <= 4 as long as the lanes stay
/// balanced). Every sweep, product and vector update runs lane by lane, one thread each: Gauss-Seidel
/// inside a lane, Jacobi across its faces exactly as across the slabs' faces (the forward sweep from
/// zero does not read the plane below the lane; the backward sweep reads the neighbouring lanes'
/// outer planes as they were before it, kept in zs), the faces' part of the restriction added after
/// the sweep to the lane's own aggregates. The blocks of levels 1 .. A never cross a face, so levels
/// 1 .. A-1 are swept by lanes too (rows in block order: a lane's rows are contiguous; each row's
/// entries reordered so that the columns outside its lane come last); the coarser, agglomerated and
/// replicated levels run on the calling thread. The smoother stays symmetric, so the preconditioner
/// too; the result depends on the number of lanes (to the solver's tolerance, like the number of
/// ranks), never on the threads' timing (the lanes' sums are added in lane order). MPI is called from
/// the calling thread only, between the parallel regions.
///
/// Solver. CG written out (FusedCG): four vectors, the update of x and r folded into the cycle's
/// first sweep and the dot products into the sweeps and the product, PETSc KSPCG's iterates and
/// convergence test (relative tolerance rtol on the unpreconditioned residual); the linear profile
/// along the axis as the initial guess. -cond_mg_ksp runs PETSc's KSP with the cycle as a shell
/// preconditioner instead (any -cond_ksp_ / -cond_pc_ option). A solve that does not converge is
/// reported (converged = PETSC_FALSE, reason < 0 with KSPConvergedReason's codes), never a silent
/// number.
///
/// Communication per solve: the components (see components.c), one halo of the mask's boundary
/// planes; per CG iteration one halo of the boundary planes' unknowns (8 bytes each) for the
/// product and two per fine cycle (4 bytes each: the preconditioner's messages are floats,
/// -cond_mg_float), 2 allreduces, two or three halos per visit of a distributed coarse level, the
/// residuals and corrections of the merged groups per visit of an agglomerated level (on their
/// hosts), and one all-gather per visit of the first replicated one among the ranks with rows of it
/// (all floats). Memory per rank
/// (PgConductivityEstimateBytes): the map (4 bytes per voxel), per unknown the CG vectors (4 x 8
/// bytes), position and aggregate (8 bytes) and the coarse levels (~25 bytes): 70-85 bytes per
/// unknown for the solid phases of the paper's structure, against 385-515 with BoomerAMG. The map,
/// positions, aggregates and CG vectors stay in the object for the next problem (fresh pages are
/// slow to touch) and are requested on transparent huge pages.
///
/// The other methods, kept as options and measured in benchmarks/README.md: -cond_method amg
/// assembles the matrix of the unknowns (MatCreateMPIAIJWithArrays, ~84 bytes per unknown) and
/// solves with CG + BoomerAMG (PMIS, ext+i, P_max 4, one aggressive level; or -cond_pc_type gamg);
/// -cond_method pfmg builds a DMDA of the whole grid with the same z-ownership, a hypre struct
/// matrix (MATHYPRESTRUCT) with identity rows on the other voxels, and solves with CG + hypre PFMG
/// (or -cond_pc_type smg); it holds 7 coefficients per voxel, not per unknown, and has no periodic
/// sides.
#include <plurigauss/config.h>
#include <plurigauss/components.h>
#include <plurigauss/conductivity.h>

#include <inttypes.h>
#include <omp.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <petscdmda.h>
#include <petscksp.h>

#define MG_MAX_LEVELS 40

typedef enum { COND_METHOD_MG, COND_METHOD_AMG, COND_METHOD_PFMG } CondMethod;
static const char *const CondMethods[] = {"mg", "amg", "pfmg", "CondMethod", "COND_METHOD_", NULL};

struct PgConductivity_private {
  PgGrid     grid;
  MPI_Comm   sub; /* the ranks that own planes (MPI_COMM_NULL elsewhere) */
  PetscBool  periodic_sides;
  double     rtol;
  double     m_rtol; /* the mg solve also stops when CG's estimate of M's relative error is below it (0: off) */
  CondMethod method;
  double     mg_alpha;       /* coarse operator P^T A P / alpha */
  double     mg_theta;       /* aggregate only along couplings >= theta x the rows' largest */
  PetscInt   mg_coarse;      /* the coarsest level has at most this many unknowns (if coarsening gets there) */
  PetscInt   mg_replicate;   /* levels of at most this many unknowns are held by every rank with rows of them */
  PetscInt   mg_gamma;       /* cycles per coarse correction: 1 V-cycle, 2 W-cycle */
  PetscInt   mg_wlevels;     /* levels 1 .. mg_wlevels get mg_gamma cycles, the coarser ones one */
  PetscBool  mg_agglomerate; /* merge pairs of slabs once the slabs of a level are one block thick */
  PetscBool  mg_wreplicated; /* W-cycles on every replicated level, whatever mg_wlevels */
  PetscBool  mg_float; /* the preconditioner's messages in single precision (halos of its sweeps, merges, gathers) */
  PetscBool  mg_view;  /* print the hierarchy */
  PetscBool  mg_commstages; /* name each level's messages for a profiling library (MPI_Pcontrol) */
  PetscInt   mg_bench;      /* time this many products and preconditioner applications (CPU time) */
  PetscBool  mg_ksp;        /* PETSc's KSP with the multigrid as a shell preconditioner instead of the fused CG */
  int        below, above;  /* z-neighbours in sub for the current problem (MPI_PROC_NULL: none) */
  KSP        ksp;
  struct {
    void  *p;
    size_t bytes;
  } work[7]; /* the multigrid's largest arrays, kept across problems (fresh pages are slow to touch) */
};

enum { WORK_MAP, WORK_POS, WORK_AGG, WORK_X, WORK_R, WORK_P, WORK_Q };

/* One conduction problem: the unknowns and the discretisation. */
typedef struct {
  int       axis;
  PetscBool wrap[3]; /* periodic along x, y, z */
  double    cond[3]; /* A / d between face neighbours along x, y, z */
  double    gb;      /* a boundary voxel to its Dirichlet face, half a voxel away */
  int       n[3], nzl;
  ptrdiff_t z0;
  uint8_t  *mask; /* percolating voxels: ghost plane, nzl planes, ghost plane */
  int64_t   nloc, first, total;
} Problem;

PetscErrorCode PgConductivityCreate(PgGrid grid, PetscBool periodic_sides, double rtol, PgConductivity *cond)
{
  PgConductivity c;
  PetscBool      set;
  PetscInt       method = COND_METHOD_MG;
  PetscReal      alpha = 2.0, theta = 0.0;

  PetscFunctionBeginUser;
  PetscCheck(rtol > 0 && rtol < 1, grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: relative tolerance %g outside (0, 1)", rtol);
  PetscCall(PetscNew(&c));
  c->grid           = grid;
  c->periodic_sides = periodic_sides;
  c->rtol           = rtol;
  c->mg_coarse      = 4000;
  c->mg_replicate   = 4000;
  c->mg_wreplicated = PETSC_TRUE;
  c->mg_float       = PETSC_TRUE;
  c->mg_gamma       = 2;
  PetscCall(PetscOptionsGetEList(NULL, "cond_", "-method", CondMethods, 3, &method, &set));
  c->method = (CondMethod)method;
  PetscCall(PetscOptionsGetReal(NULL, "cond_", "-mg_alpha", &alpha, NULL));
  PetscCall(PetscOptionsGetReal(NULL, "cond_", "-mg_theta", &theta, NULL));
  PetscCall(PetscOptionsGetInt(NULL, "cond_", "-mg_coarse", &c->mg_coarse, NULL));
  PetscCall(PetscOptionsGetInt(NULL, "cond_", "-mg_replicate", &c->mg_replicate, NULL));
  PetscCall(PetscOptionsGetBool(NULL, "cond_", "-mg_view", &c->mg_view, NULL));
  PetscCall(PetscOptionsGetBool(NULL, "cond_", "-mg_commstages", &c->mg_commstages, NULL));
  PetscCall(PetscOptionsGetInt(NULL, "cond_", "-mg_bench", &c->mg_bench, NULL));
  PetscCall(PetscOptionsGetBool(NULL, "cond_", "-mg_ksp", &c->mg_ksp, NULL));
  c->mg_agglomerate = PETSC_TRUE;
  PetscCall(PetscOptionsGetBool(NULL, "cond_", "-mg_agglomerate", &c->mg_agglomerate, NULL));
  PetscCall(PetscOptionsGetBool(NULL, "cond_", "-mg_wreplicated", &c->mg_wreplicated, NULL));
  PetscCall(PetscOptionsGetBool(NULL, "cond_", "-mg_float", &c->mg_float, NULL));
  PetscCall(PetscOptionsGetInt(NULL, "cond_", "-mg_gamma", &c->mg_gamma, NULL));
  c->mg_wlevels = 4;
  PetscCall(PetscOptionsGetInt(NULL, "cond_", "-mg_wlevels", &c->mg_wlevels, NULL));
  PetscCall(PetscOptionsGetReal(NULL, "cond_", "-m_rtol", &c->m_rtol, NULL));
  PetscCheck(c->m_rtol >= 0 && c->m_rtol < 1, grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: -cond_m_rtol %g outside [0, 1)", c->m_rtol);
  PetscCheck(c->mg_gamma >= 1 && c->mg_gamma <= 3, grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: -cond_mg_gamma %d outside [1, 3] (1 V-cycle, 2 W-cycle)", (int)c->mg_gamma);
  PetscCheck(alpha >= 1 && alpha <= 4, grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: -cond_mg_alpha %g outside [1, 4]", (double)alpha);
  PetscCheck(theta >= 0 && theta < 1, grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: -cond_mg_theta %g outside [0, 1)", (double)theta);
  PetscCheck(c->mg_coarse >= 1, grid->comm, PETSC_ERR_ARG_OUTOFRANGE, "conductivity: -cond_mg_coarse %d, at least 1",
             (int)c->mg_coarse);
  c->mg_alpha = (double)alpha;
  c->mg_theta = (double)theta;
  PetscCallMPI(MPI_Comm_split(grid->comm, grid->nz_local > 0 ? 0 : MPI_UNDEFINED, grid->rank, &c->sub));
  *cond = c;
  PetscFunctionReturn(0);
}

PetscErrorCode PgConductivitySetMTolerance(PgConductivity cond, double m_rtol)
{
  PetscFunctionBeginUser;
  PetscCheck(m_rtol >= 0 && m_rtol < 1, cond->grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: M tolerance %g outside [0, 1)", m_rtol);
  cond->m_rtol = m_rtol;
  PetscFunctionReturn(0);
}

PetscErrorCode PgConductivityDestroy(PgConductivity *cond)
{
  PgConductivity c = *cond;

  PetscFunctionBeginUser;
  if (!c) PetscFunctionReturn(0);
  PetscCall(KSPDestroy(&c->ksp));
  if (c->sub != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&c->sub));
  for (int i = 0; i < 7; i++) PetscCall(PetscFree(c->work[i].p));
  PetscCall(PetscFree(*cond));
  PetscFunctionReturn(0);
}

/* A CG solver with the prefix cond_ and the program's tolerances; the preconditioner is set by the caller. */
static PetscErrorCode NewSolver(PgConductivity c, Mat A)
{
  PetscFunctionBeginUser;
  PetscCall(KSPDestroy(&c->ksp));
  PetscCall(KSPCreate(c->sub, &c->ksp));
  PetscCall(KSPSetOptionsPrefix(c->ksp, "cond_"));
  PetscCall(KSPSetType(c->ksp, KSPCG));
  PetscCall(KSPSetTolerances(c->ksp, c->rtol, PETSC_DEFAULT, PETSC_DEFAULT, 10000));
  PetscCall(KSPSetNormType(c->ksp, KSP_NORM_UNPRECONDITIONED));
  PetscCall(KSPSetInitialGuessNonzero(c->ksp, PETSC_TRUE));
  PetscCall(KSPSetOperators(c->ksp, A, A));
  PetscFunctionReturn(0);
}

/* -cond_mg_view: the largest rank's resident peak so far */
static PetscErrorCode ViewPeak(PgConductivity c, const char *when)
{
  double peak;

  PetscFunctionBeginUser;
  PetscCall(PgPeakResidentBytes(c->sub, &peak));
  PetscCall(PetscPrintf(c->sub, "  resident peak %s: %.1f MB\n", when, peak / 1e6));
  PetscFunctionReturn(0);
}

/* The solver's options and setup (the preconditioner's own setup, e.g. AMG, counts as setup). Work
   vectors are allocated here: call it before creating the solution and right-hand side, so that the
   template vector KSP creates and frees does not add to the peak. */
static PetscErrorCode SetUpSolver(PgConductivity c, PgConductivityResult *res)
{
  PC     pc;
  double t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(KSPSetFromOptions(c->ksp));
  PetscCall(KSPSetUp(c->ksp));
  PetscCall(KSPGetPC(c->ksp, &pc));
  PetscCall(PCSetUp(pc));
  res->seconds_setup += MPI_Wtime() - t0;
  if (c->mg_view) PetscCall(ViewPeak(c, "after the solver setup"));
  PetscFunctionReturn(0);
}

static PetscErrorCode Solve(PgConductivity c, Vec b, Vec x, PgConductivityResult *res)
{
  PetscInt           its;
  PetscReal          rnorm;
  KSPConvergedReason reason;
  double             t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(KSPSolve(c->ksp, b, x));
  res->seconds_solve = MPI_Wtime() - t0;
  PetscCall(KSPGetConvergedReason(c->ksp, &reason));
  PetscCall(KSPGetIterationNumber(c->ksp, &its));
  PetscCall(KSPGetResidualNorm(c->ksp, &rnorm));
  res->reason     = (int)reason;
  res->iterations = its;
  res->residual   = (double)rnorm;
  res->converged  = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
  if (c->mg_view) PetscCall(ViewPeak(c, "after the solve"));
  PetscFunctionReturn(0);
}

/* The halo of the compact vectors along z: sends slo (nslo items) to the lower neighbour and shi to
   the upper one (ranks lo and hi of sub); receives the upper neighbour's into rhi and the lower
   neighbour's into rlo. The counts match by construction (each side derives them from the same
   boundary planes, or from the same lists of requested rows). */
static PetscErrorCode ExchangeWith(PgConductivity c, int lo, int hi, MPI_Datatype type, const void *slo, PetscInt nslo,
                                   const void *shi, PetscInt nshi, void *rlo, PetscInt nrlo, void *rhi, PetscInt nrhi)
{
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Sendrecv(slo, (int)nslo, type, lo, 81, rhi, (int)nrhi, type, hi, 81, c->sub, MPI_STATUS_IGNORE));
  PetscCallMPI(MPI_Sendrecv(shi, (int)nshi, type, hi, 82, rlo, (int)nrlo, type, lo, 82, c->sub, MPI_STATUS_IGNORE));
  PetscFunctionReturn(0);
}

/* The same with the problem's z-neighbours (the fine level's). */
static PetscErrorCode Exchange(PgConductivity c, MPI_Datatype type, const void *slo, PetscInt nslo, const void *shi,
                               PetscInt nshi, void *rlo, PetscInt nrlo, void *rhi, PetscInt nrhi)
{
  PetscFunctionBeginUser;
  PetscCall(ExchangeWith(c, c->below, c->above, type, slo, nslo, shi, nshi, rlo, nrlo, rhi, nrhi));
  PetscFunctionReturn(0);
}

/* Large arrays on transparent huge pages where the kernel grants them on request (madvise mode): a
   first touch of a fresh 4 KB page costs microseconds on a virtual machine, and the solver touches
   tens of bytes per unknown. Advice only; the memory is not initialised. */
/* Transparent huge pages for a large block (one fault per 2 MB instead of per 4 kB: first touches
   dominate the setup otherwise) */
static void AdviseHuge(void *p, size_t bytes)
{
#if defined(MADV_HUGEPAGE)
  if (bytes >= ((size_t)4 << 20)) {
    const uintptr_t huge = (uintptr_t)2 << 20, a = ((uintptr_t)p + huge - 1) & ~(huge - 1),
                    e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
  }
#else
  (void)p;
  (void)bytes;
#endif
}

static PetscErrorCode MallocHuge(size_t bytes, void *ptr)
{
  void **p = (void **)ptr;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc(PetscMax(bytes, 1), p));
  AdviseHuge(*p, bytes);
  PetscFunctionReturn(0);
}

/* Work array `slot` of at least `bytes`, kept in the object for the next problem (the conduction
   problems of one volume have similar sizes: the phases and axes of a realization). */
static PetscErrorCode WorkGet(PgConductivity c, int slot, size_t bytes, void *ptr)
{
  PetscFunctionBeginUser;
  if (c->work[slot].bytes < bytes) {
    PetscCall(PetscFree(c->work[slot].p));
    PetscCall(MallocHuge(bytes, &c->work[slot].p));
    c->work[slot].bytes = bytes;
  }
  *(void **)ptr = c->work[slot].p;
  PetscFunctionReturn(0);
}

/* ============================== multigrid on the labels ============================== */

typedef struct {        /* a coarse level: weighted graph Laplacian + Dirichlet diagonal, CSR of the owned rows */
  PetscInt n, nlo, nhi; /* owned rows; ghost slots of the lower and the upper neighbour (columns n.., n+nlo..) */
  PetscInt nslo, nshi;  /* owned rows sent to the lower / upper neighbour, in the order of its ghost slots */
  int32_t *slo, *shi;
  int32_t *rp, *col; /* off-diagonal entries: -w */
  float   *w;
  int32_t *mid;         /* first entry of each row with a column above the row (ghosts included) */
  int32_t *brow, nbrow; /* the rows with ghost columns */
  double  *idiag, *bnd; /* 1 / diagonal; bnd: the Dirichlet part of the diagonal (setup only) */
  int32_t *agg;         /* owned row -> row of the next level */
  int32_t *blk;         /* block of each row: goff[group] + (z nb[1] + y) nb[0] + x in its group's grid (setup only) */
  int      ngrp;  /* block grids: 1 (this rank's slab) on a distributed level, one per group of slabs when replicated */
  int (*gnb)[3];  /* each group's block grid */
  int64_t  *goff; /* first block of each group, ngrp + 1 */
  int32_t  *grp;  /* replicated: the group of each row (setup only) */
  PetscBool replicated;      /* the ranks with rows of it hold the whole level (no ghosts, no communication) */
  int       lo, hi;          /* distributed: the ranks (of sub) that hold the lower and upper neighbouring rows */
  PetscBool active;          /* distributed: this rank holds rows of the level (not merged into a neighbour's) */
  PetscBool merged;          /* the level was agglomerated: nfine, merge_from, merge_to are set */
  PetscInt  nfine;           /* rows the finer level restricts to on this rank (n unless merged) */
  PetscInt  nmerged[2];      /* rows received from merge_from[0] and [1], after the nfine own rows */
  PetscInt  mbase;           /* replicated: this rank's first row (its own, then the received ones) */
  int       merge_from[2];   /* the hosts of the lower and upper groups whose rows this rank holds */
  int       merge_to;        /* the host that holds this rank's rows */
  int      *rcount, *rdispl; /* the first replicated level: each rank's rows (the restriction is gathered) */
  double   *r, *z, *sbuf;    /* z: n + nlo + nhi */
  double   *z0;              /* W-cycle: the first cycle's result */
  int       nl;              /* lanes of the level: the MG's lanes if its rows are swept by lanes, else 1 */
  int32_t  *lrow;            /* lane t's rows: lrow[t] .. lrow[t + 1] - 1 (nl + 1) */
  int32_t  *lsnap;           /* lanes: the rows lane t shares with its neighbours (its first and last block
                                     planes): [lsnap[4t], lsnap[4t + 1]) and [lsnap[4t + 2], lsnap[4t + 3]) */
  int32_t  *out;             /* first entry of each row with a column outside the row's lane (ghosts too) */
  int32_t  *lbrow;           /* lane t's rows with such columns: brow[lbrow[t] .. lbrow[t + 1] - 1] */
  double   *zs;              /* lanes: the shared rows and the ghosts of z before the backward sweep */
} Level;

typedef struct {
  PgConductivity c;
  const Problem *p;
  /* the fine level, matrix-free on the map */
  PetscInt  n, nlo, nhi, nzl, W, PP;
  int32_t  *map;    /* padded (nx+2) x (ny+2) planes: ghost plane, nzl planes, ghost plane */
  int32_t  *pos;    /* in-plane offset of each unknown in the padded plane */
  int32_t  *agg;    /* unknown -> aggregate of level 1 */
  PetscInt *pstart; /* first unknown of each plane, nzl + 1 */
  double    cf[3], gb;
  double    D[81], iD[81]; /* the diagonal and its inverse by FineCode */
  double   *glo, *ghi;     /* ghost values: the lower neighbour's last plane, the upper neighbour's first */
  int       nlane;         /* lanes of planes, one per thread (1: the serial sweeps) */
  int      *lz;            /* lane t's planes: lz[t] .. lz[t + 1] - 1, the inner faces on multiples of 2^lanelev */
  int       lanelev;       /* the levels below it may be swept by lanes: their aggregates never cross a lane face */
  double   *zs;            /* the lanes' outer planes of z before the backward sweep */
  double   *part;          /* each lane's partial sum, one cache line (8 doubles) per lane */
  int       nlev;          /* levels 1 .. nlev-1 are coarse, the last one solved directly */
  int       size, rank;    /* ranks of sub, this rank in it */
  int       gend;          /* Agglomerate: the face above this rank's slab still lies between two groups */
  int       span[2];       /* Agglomerate, on a group's host: the ranks whose slabs the group covers */
  int       nagg;          /* Agglomerate: the levels merged so far */
  PetscBool rsplit;        /* Replicate split rsub off sub */
  MPI_Comm  rsub;          /* the ranks with rows of the first replicated level (MPI_COMM_NULL elsewhere) */
  int       nrsub;         /* their number */
  MPI_Comm  csub;          /* a distributed coarsest level: the ranks with rows of it (MPI_COMM_NULL elsewhere) */
  int       ncsub;         /* their number */
  float    *fb;            /* -cond_mg_float: the messages of the preconditioner, packed (FloatScratch) */
  Level     lev[MG_MAX_LEVELS];
  int64_t   nglob[MG_MAX_LEVELS], nnzglob[MG_MAX_LEVELS];
  double    tk[5]; /* -cond_mg_view: rank 0's CPU seconds in the fused CG's parts */
  double    tlu;   /* -cond_mg_view: the same in the coarsest solves */
  KSP       kc;    /* LU of the coarsest operator, redundant on the ranks with rows of it */
  Vec       cb, cx;
  int      *ccount, *cdispl;
  PetscInt  coff;
} MG;

/* This thread's CPU time (-cond_mg_view: wall time means little on a shared machine) */
static inline double CpuTime(void)
{
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* The kernels are branch-free: the phase is random, so a branch per neighbour would be mispredicted
   half of the time. An absent neighbour (j < 0) reads entry 0 and weighs it 0. */
static inline double Masked(const double *b, int32_t j, uint64_t keep)
{
  union {
    double   d;
    uint64_t u;
  } t;
  t.d = b[j & ~(j >> 31)]; /* entry 0 for j < 0 (arithmetic shift: -1 or 0) */
  t.u &= keep;
  return t.d;
}
static inline double Nb(const double *b, int32_t j) { return Masked(b, j, ~(uint64_t)(int64_t)(j >> 31)); }
static inline double NbLower(const double *b, int32_t j, int32_t k)
{
  return Masked(b, j, -(uint64_t)((uint32_t)j < (uint32_t)k));
}

/* The diagonal takes one of 81 values: neighbours along x, y, z (0-2 each) and Dirichlet faces (0-2). */
static inline int FineCode(int32_t a, int32_t b, int32_t c, int32_t d, int32_t e, int32_t f)
{
  return (a >= 0) + (b >= 0) + 3 * ((c >= 0) + (d >= 0)) + 9 * ((e >= 0) + (f >= 0)) +
         27 * ((a == -2) + (b == -2) + (c == -2) + (d == -2) + (e == -2) + (f == -2));
}

static inline double FineDiag(const MG *mg, const int32_t *q)
{
  return mg->D[FineCode(q[-1], q[1], q[-mg->W], q[mg->W], q[-mg->PP], q[mg->PP])];
}

/* -cond_mg_commstages: the messages of one level (or of CG's product) in a profiling stage of their
   own, "cond_L<l>" for the halos of level l, "cond_L<l>_merge" for an agglomerated level's
   hand-overs, "cond_L<l>_gather" for the gather of a replicated or coarsest level, "cond_product"
   for CG's halo (benchmarks/commcount.c counts bytes per stage; without a profiling library
   MPI_Pcontrol does nothing). Every rank that takes part in the messages enters the stage. */
static PetscErrorCode CommStage(const MG *mg, const char *kind, int l)
{
  char name[32];

  PetscFunctionBeginUser;
  if (!mg->c->mg_commstages) PetscFunctionReturn(0);
  if (l < 0) snprintf(name, sizeof name, "cond_%s", kind);
  else snprintf(name, sizeof name, "cond_L%d%s", l, kind);
  PetscCallMPI(MPI_Pcontrol(1, name));
  PetscFunctionReturn(0);
}

static PetscErrorCode CommStageEnd(const MG *mg)
{
  PetscFunctionBeginUser;
  if (mg->c->mg_commstages) PetscCallMPI(MPI_Pcontrol(-1));
  PetscFunctionReturn(0);
}

static PetscErrorCode FineHalo(MG *mg, const double *x)
{
  const PetscInt last = mg->pstart[mg->nzl - 1];

  PetscFunctionBeginUser;
  PetscCall(CommStage(mg, "product", -1));
  PetscCall(Exchange(mg->c, MPI_DOUBLE, x, mg->pstart[1], x + last, mg->n - last, mg->glo, mg->nlo, mg->ghi, mg->nhi));
  PetscCall(CommStageEnd(mg));
  PetscFunctionReturn(0);
}

#define FINE_NEIGHBOURS               \
  const int32_t *q  = m + mg->pos[k]; \
  const int32_t  j0 = q[-1], j1 = q[1], j2 = q[-W], j3 = q[W], j4 = q[-PP], j5 = q[PP]

/* r1[agg[j]] += w for a lower neighbour j < k (branch-free: otherwise w goes to a sink) */
static inline void ScatterLower(double *r1, const int32_t *agg, int32_t j, int32_t k, double w, double *sink)
{
  const int lower = (uint32_t)j < (uint32_t)k;
  double   *t     = lower ? r1 + agg[j & ~(j >> 31)] : sink; /* a select, not a branch; one sink per direction */
  *t += w;
}

/* The forward sweep of the cycle on planes zb .. ze - 1 (a lane; the whole slab without threads):
   z = (D + L)^-1 r, Gauss-Seidel from zero with L the couplings to earlier unknowns of the lane, into
   qz. The lane's first plane does not read the plane below: across a lane's or a slab's face the
   sweep is Jacobi from zero. The residual r - A z = U z + G z (couplings to later unknowns and to the
   planes beyond the lane's faces) is restricted on the fly: each new z_k is scattered to the
   aggregates of its earlier neighbours in the lane (U z, by symmetry); the faces' part is added after
   the sweep (FineFaces). With `update` the CG update is folded in (one pass instead of two):
   x += alpha p and r -= alpha q just before r_k is used (q_j for j < k is already z_j); returns the
   lane's sum r_k^2. */
static inline double FineForward(const MG *mg, PetscBool update, double alpha, double *x, const double *pv, double *r,
                                 double *qz, double *r1, PetscInt zb, PetscInt ze)
{
  const PetscInt W = mg->W, PP = mg->PP;
  const double   cx = mg->cf[0], cy = mg->cf[1], cz = mg->cf[2];
  const int32_t *agg = mg->agg;
  double         rr = 0, sink[5] = {0, 0, 0, 0, 0};

  for (PetscInt zl = zb; zl < ze; zl++) {
    const int32_t *m    = mg->map + (size_t)(zl + 1) * (size_t)PP;
    const int32_t  kill = zl > zb ? 0 : -1;       /* the first plane: j4 | -1 = -1, no lower neighbour */
    const double  *bm   = zl > zb ? qz : mg->glo; /* glo[0] is read and masked: nothing of another lane */
    for (PetscInt k = mg->pstart[zl]; k < mg->pstart[zl + 1]; k++) {
      FINE_NEIGHBOURS;
      const int32_t kk = (int32_t)k;
      double        rk = r[k], zk;
      if (update) {
        x[k] += alpha * pv[k];
        rk   = rk - alpha * qz[k];
        r[k] = rk;
        rr += rk * rk;
      }
      zk = (rk + cx * (NbLower(qz, j0, kk) + NbLower(qz, j1, kk)) + cy * (NbLower(qz, j2, kk) + NbLower(qz, j3, kk)) +
            cz * Nb(bm, j4 | kill)) *
           mg->iD[FineCode(j0, j1, j2, j3, j4, j5)];
      qz[k] = zk;
      ScatterLower(r1, agg, j0, kk, cx * zk, sink);
      ScatterLower(r1, agg, j1, kk, cx * zk, sink + 1);
      ScatterLower(r1, agg, j2, kk, cy * zk, sink + 2);
      ScatterLower(r1, agg, j3, kk, cy * zk, sink + 3);
      ScatterLower(r1, agg, j4 | kill, kk, cz * zk, sink + 4);
    }
  }
  return rr;
}

/* The restricted residual's part across lane t's two faces: its outer planes' couplings to the
   planes beyond, the neighbouring lanes' z (after their sweeps) or the ranks' ghosts (after the
   halo), added to the lane's own aggregates. */
static void FineFaces(const MG *mg, int t, const double *z, double *r1)
{
  const PetscInt PP = mg->PP;

  for (int side = 0; side < 2; side++) {
    const PetscInt zl = side == 0 ? mg->lz[t] : mg->lz[t + 1] - 1;
    const int32_t *m  = mg->map + (size_t)(zl + 1) * (size_t)PP + (side == 0 ? -PP : PP);
    const double  *g  = side == 0 ? (t == 0 ? mg->glo : z) : (t == mg->nlane - 1 ? mg->ghi : z);
    for (PetscInt k = mg->pstart[zl]; k < mg->pstart[zl + 1]; k++) r1[mg->agg[k]] += mg->cf[2] * Nb(g, m[mg->pos[k]]);
  }
}

/* The backward Gauss-Seidel sweep on planes zb .. ze - 1, the planes beyond its faces read from
   `below` and `above` (the ghosts, or the neighbouring lanes' planes as they were before the sweep);
   returns the lane's sum r_k z_k (the final z). */
static double FineBackward(const MG *mg, const double *r, double *z, PetscInt zb, PetscInt ze, const double *below,
                           const double *above)
{
  const PetscInt W = mg->W, PP = mg->PP;
  const double   cx = mg->cf[0], cy = mg->cf[1], cz = mg->cf[2];
  double         rz = 0;

  for (PetscInt zl = ze - 1; zl >= zb; zl--) {
    const int32_t *m  = mg->map + (size_t)(zl + 1) * (size_t)PP;
    const double  *bm = zl > zb ? z : below, *bp = zl < ze - 1 ? z : above;
    for (PetscInt k = mg->pstart[zl + 1] - 1; k >= mg->pstart[zl]; k--) {
      FINE_NEIGHBOURS;
      const double zk =
        (r[k] + cx * (Nb(z, j0) + Nb(z, j1)) + cy * (Nb(z, j2) + Nb(z, j3)) + cz * (Nb(bm, j4) + Nb(bp, j5))) *
        mg->iD[FineCode(j0, j1, j2, j3, j4, j5)];
      z[k] = zk;
      rz += r[k] * zk;
    }
  }
  return rz;
}

/* q = A p on planes zb .. ze - 1, returning their sum p_k q_k (the ghosts of p exchanged) */
static double FineApplyDot(const MG *mg, const double *x, double *y, PetscInt zb, PetscInt ze)
{
  const PetscInt W = mg->W, PP = mg->PP;
  const double   cx = mg->cf[0], cy = mg->cf[1], cz = mg->cf[2];
  double         xy = 0;

  for (PetscInt zl = zb; zl < ze; zl++) {
    const int32_t *m  = mg->map + (size_t)(zl + 1) * (size_t)PP;
    const double  *bm = zl > 0 ? x : mg->glo, *bp = zl < mg->nzl - 1 ? x : mg->ghi;
    for (PetscInt k = mg->pstart[zl]; k < mg->pstart[zl + 1]; k++) {
      FINE_NEIGHBOURS;
      const double yk = mg->D[FineCode(j0, j1, j2, j3, j4, j5)] * x[k] -
                        (cx * (Nb(x, j0) + Nb(x, j1)) + cy * (Nb(x, j2) + Nb(x, j3)) + cz * (Nb(bm, j4) + Nb(bp, j5)));
      y[k] = yk;
      xy += x[k] * yk;
    }
  }
  return xy;
}

/* The lanes' partial sums, added in lane order: a result depends on the number of lanes, never on
   the threads' timing. */
static double LaneSum(const MG *mg)
{
  double s = mg->part[0];
  for (int t = 1; t < mg->nlane; t++) s += mg->part[8 * t];
  return s;
}

static double FineForwardLanes(const MG *mg, PetscBool update, double alpha, double *x, const double *pv, double *r,
                               double *qz, double *r1)
{
  const int T = mg->nlane;

#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++)
    mg->part[8 * t] = FineForward(mg, update, alpha, x, pv, r, qz, r1, mg->lz[t], mg->lz[t + 1]);
  return LaneSum(mg);
}

/* The backward sweep by lanes: each lane first keeps its outer planes as they are (zs), so that its
   neighbours read them unchanged (Jacobi across the faces, as across the slabs' faces). */
static double FineBackwardLanes(const MG *mg, const double *r, double *z)
{
  const int T = mg->nlane;

  if (T == 1) return FineBackward(mg, r, z, 0, mg->nzl, mg->glo, mg->ghi);
#pragma omp parallel num_threads(T)
  {
    const int id = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int t = id; t < T; t += nt)
      for (int side = 0; side < 2; side++) {
        const PetscInt zl = side == 0 ? mg->lz[t] : mg->lz[t + 1] - 1;
        memcpy(mg->zs + mg->pstart[zl], z + mg->pstart[zl],
               sizeof(double) * (size_t)(mg->pstart[zl + 1] - mg->pstart[zl]));
      }
#pragma omp barrier
    for (int t = id; t < T; t += nt)
      mg->part[8 * t] =
        FineBackward(mg, r, z, mg->lz[t], mg->lz[t + 1], t == 0 ? mg->glo : mg->zs, t == T - 1 ? mg->ghi : mg->zs);
  }
  return LaneSum(mg);
}

static double FineApplyDotLanes(const MG *mg, const double *x, double *y)
{
  const int T = mg->nlane;

#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++) mg->part[8 * t] = FineApplyDot(mg, x, y, mg->lz[t], mg->lz[t + 1]);
  return LaneSum(mg);
}

/* -cond_mg_float (the default): the preconditioner's messages travel as floats, half the bytes. The
   preconditioner is an approximation whose levels already hold their weights as floats; CG's product
   and residual stay in double, so it converges to the same tolerance (rounding a ghost value to
   float perturbs B r by ~1e-7 relative, far below the preconditioner's own error; measured in
   docs/solver.md). Every rank rounds its own part of a gathered vector too, so the replicated
   levels stay identical on every rank. */
static inline void ToFloat(float *f, const double *d, PetscInt n)
{
  for (PetscInt i = 0; i < n; i++) f[i] = (float)d[i];
}

static inline void ToDouble(double *d, const float *f, PetscInt n)
{
  for (PetscInt i = 0; i < n; i++) d[i] = f[i];
}

/* A halo of the preconditioner (ExchangeWith's arguments): doubles, or floats with -cond_mg_float */
static PetscErrorCode ExchangePrecond(MG *mg, int lo, int hi, const double *slo, PetscInt nslo, const double *shi,
                                      PetscInt nshi, double *rlo, PetscInt nrlo, double *rhi, PetscInt nrhi)
{
  float *f = mg->fb, *g;

  PetscFunctionBeginUser;
  if (lo == MPI_PROC_NULL) nslo = nrlo = 0; /* nothing arrives: the ghosts keep their values */
  if (hi == MPI_PROC_NULL) nshi = nrhi = 0;
  g = f + nslo + nshi;
  if (!mg->c->mg_float || (lo == mg->rank && hi == mg->rank)) { /* doubles; a ring of one rank sends nothing */
    PetscCall(ExchangeWith(mg->c, lo, hi, MPI_DOUBLE, slo, nslo, shi, nshi, rlo, nrlo, rhi, nrhi));
    PetscFunctionReturn(0);
  }
  ToFloat(f, slo, nslo);
  ToFloat(f + nslo, shi, nshi);
  PetscCall(ExchangeWith(mg->c, lo, hi, MPI_FLOAT, f, nslo, f + nslo, nshi, g, nrlo, g + nrlo, nrhi));
  ToDouble(rlo, g, nrlo);
  ToDouble(rhi, g + nrlo, nrhi);
  PetscFunctionReturn(0);
}

/* An agglomerated level's hand-over to or from its partner (tag 97: residual, 98: correction) */
static PetscErrorCode SendPrecond(MG *mg, const double *x, PetscInt n, int to, int tag)
{
  PetscFunctionBeginUser;
  if (mg->c->mg_float) {
    ToFloat(mg->fb, x, n);
    PetscCallMPI(MPI_Send(mg->fb, (int)n, MPI_FLOAT, to, tag, mg->c->sub));
  } else PetscCallMPI(MPI_Send(x, (int)n, MPI_DOUBLE, to, tag, mg->c->sub));
  PetscFunctionReturn(0);
}

static PetscErrorCode RecvPrecond(MG *mg, double *x, PetscInt n, int from, int tag)
{
  PetscFunctionBeginUser;
  if (mg->c->mg_float) {
    PetscCallMPI(MPI_Recv(mg->fb, (int)n, MPI_FLOAT, from, tag, mg->c->sub, MPI_STATUS_IGNORE));
    ToDouble(x, mg->fb, n);
  } else PetscCallMPI(MPI_Recv(x, (int)n, MPI_DOUBLE, from, tag, mg->c->sub, MPI_STATUS_IGNORE));
  PetscFunctionReturn(0);
}

/* Every rank's part of x (count, displ; this rank's part already in place) gathered on every rank of
   comm */
static PetscErrorCode GatherPrecond(MG *mg, MPI_Comm comm, double *x, const int *count, const int *displ)
{
  int me, size, n;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &me));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  n = displ[size - 1] + count[size - 1];
  if (size == 1) PetscFunctionReturn(0);
  if (!mg->c->mg_float) {
    PetscCallMPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DOUBLE, x, count, displ, MPI_DOUBLE, comm));
    PetscFunctionReturn(0);
  }
  ToFloat(mg->fb + displ[me], x + displ[me], count[me]);
  PetscCallMPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, mg->fb, count, displ, MPI_FLOAT, comm));
  ToDouble(x, mg->fb, n);
  PetscFunctionReturn(0);
}

static PetscErrorCode CoarseHalo(MG *mg, Level *L)
{
  PetscFunctionBeginUser;
  if (L->replicated) PetscFunctionReturn(0); /* no ghosts */
  for (PetscInt i = 0; i < L->nslo; i++) L->sbuf[i] = L->z[L->slo[i]];
  for (PetscInt i = 0; i < L->nshi; i++) L->sbuf[L->nslo + i] = L->z[L->shi[i]];
  PetscCall(CommStage(mg, "", (int)(L - mg->lev)));
  PetscCall(ExchangePrecond(mg, L->lo, L->hi, L->sbuf, L->nslo, L->sbuf + L->nslo, L->nshi, L->z + L->n, L->nlo,
                            L->z + L->n + L->nlo, L->nhi));
  PetscCall(CommStageEnd(mg));
  PetscFunctionReturn(0);
}

/* The fine halo of the preconditioner's sweeps (FineHalo for CG's product) */
static PetscErrorCode FineHaloPrecond(MG *mg, const double *z)
{
  const PetscInt last = mg->pstart[mg->nzl - 1];

  PetscFunctionBeginUser;
  PetscCall(CommStage(mg, "", 0));
  PetscCall(ExchangePrecond(mg, mg->c->below, mg->c->above, z, mg->pstart[1], z + last, mg->n - last, mg->glo, mg->nlo,
                            mg->ghi, mg->nhi));
  PetscCall(CommStageEnd(mg));
  PetscFunctionReturn(0);
}

static PetscErrorCode CoarsestSolve(MG *mg)
{
  Level        *L = &mg->lev[mg->nlev - 1];
  double       *b;
  const double *x;
  double        t0 = CpuTime();

  PetscFunctionBeginUser;
  if (mg->csub == MPI_COMM_NULL) PetscFunctionReturn(0); /* no rows of it on this rank */
  PetscCall(VecGetArray(mg->cb, &b));
  if (L->replicated || mg->size == 1) PetscCall(PetscArraycpy(b, L->r, L->n));
  else {
    int me;
    PetscCallMPI(MPI_Comm_rank(mg->csub, &me));
    PetscCall(PetscArraycpy(b + mg->cdispl[me], L->r, L->n));
    PetscCall(CommStage(mg, "_gather", mg->nlev - 1));
    PetscCall(GatherPrecond(mg, mg->csub, b, mg->ccount, mg->cdispl));
    PetscCall(CommStageEnd(mg));
  }
  PetscCall(VecRestoreArray(mg->cb, &b));
  PetscCall(KSPSolve(mg->kc, mg->cb, mg->cx));
  PetscCall(VecGetArrayRead(mg->cx, &x));
  PetscCall(PetscArraycpy(L->z, x + mg->coff, L->n));
  PetscCall(VecRestoreArrayRead(mg->cx, &x));
  mg->tlu += CpuTime() - t0;
  PetscFunctionReturn(0);
}

static PetscErrorCode CoarseSolve(MG *mg, int l);
static PetscErrorCode CoarseCycleAgain(MG *mg, int l);

/* Level l gets mg_gamma cycles per coarse correction: levels 1 .. mg_wlevels, and the levels whose
   cycles cost no communication (replicated, or on one rank). */
static inline PetscBool WCycled(const MG *mg, int l)
{
  return l <= mg->c->mg_wlevels || (mg->c->mg_wreplicated && (mg->lev[l].replicated || mg->size == 1)) ? PETSC_TRUE
                                                                                                       : PETSC_FALSE;
}

/* Coarse level l's forward Gauss-Seidel sweep from zero on rows k0 .. k1 - 1 (a lane) with the
   couplings to the lane's earlier rows; U z restricted by scattering z_k (symmetric weights). */
static void CoarseForward(Level *L, Level *N, PetscInt k0, PetscInt k1)
{
  for (PetscInt k = k0; k < k1; k++) {
    double s = 0, zk;
    for (int32_t e = L->rp[k]; e < L->mid[k]; e++) s += L->w[e] * L->z[L->col[e]];
    zk      = (L->r[k] + s) * L->idiag[k];
    L->z[k] = zk;
    for (int32_t e = L->rp[k]; e < L->mid[k]; e++) N->r[L->agg[L->col[e]]] += L->w[e] * zk;
  }
}

/* G z: the couplings of rows brow[i0 .. i1 - 1] outside their lane (the other lanes, the ghosts) */
static void CoarseOutside(Level *L, Level *N, PetscInt i0, PetscInt i1)
{
  for (PetscInt i = i0; i < i1; i++) {
    const int32_t k = L->brow[i];
    for (int32_t e = L->rp[k + 1] - 1; e >= L->out[k]; e--) N->r[L->agg[k]] += L->w[e] * L->z[L->col[e]];
  }
}

/* The backward Gauss-Seidel sweep on rows k1 - 1 .. k0, the columns outside the lane read from zo */
static void CoarseBackward(Level *L, PetscInt k0, PetscInt k1, const double *zo)
{
  for (PetscInt k = k1 - 1; k >= k0; k--) {
    double s = 0;
    for (int32_t e = L->rp[k]; e < L->out[k]; e++) s += L->w[e] * L->z[L->col[e]];
    for (int32_t e = L->out[k]; e < L->rp[k + 1]; e++) s += L->w[e] * zo[L->col[e]];
    L->z[k] = (L->r[k] + s) * L->idiag[k];
  }
}

/* The backward sweep by lanes: each lane first keeps the rows its neighbours read (zs; one lane also
   the ghosts), so that they read them unchanged. */
static void CoarseBackwardLanes(Level *L)
{
  const int T = L->nl;

  if (T == 1) {
    CoarseBackward(L, 0, L->n, L->z);
    return;
  }
#pragma omp parallel num_threads(T)
  {
    const int id = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int t = id; t < T; t += nt)
      for (int h = 0; h < 2; h++) {
        const int32_t a = L->lsnap[4 * t + 2 * h], b = L->lsnap[4 * t + 2 * h + 1];
        memcpy(L->zs + a, L->z + a, sizeof(double) * (size_t)(b - a));
      }
    if (id == 0) memcpy(L->zs + L->n, L->z + L->n, sizeof(double) * (size_t)(L->nlo + L->nhi));
#pragma omp barrier
    for (int t = id; t < T; t += nt) CoarseBackward(L, L->lrow[t], L->lrow[t + 1], L->zs);
  }
}

/* One cycle on coarse level l: L->z from L->r, zero initial guess; the sweeps by the level's lanes. */
static PetscErrorCode CoarseCycle(MG *mg, int l)
{
  Level    *L = &mg->lev[l], *N;
  const int T = L->nl;

  PetscFunctionBeginUser;
  if (l == mg->nlev - 1) {
    PetscCall(CoarsestSolve(mg));
    PetscFunctionReturn(0);
  }
  N = &mg->lev[l + 1];
  PetscCall(PetscArrayzero(N->r, N->nfine));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++) CoarseForward(L, N, L->lrow[t], L->lrow[t + 1]);
  PetscCall(CoarseHalo(mg, L));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++) CoarseOutside(L, N, L->lbrow[t], L->lbrow[t + 1]);
  PetscCall(CoarseSolve(mg, l + 1));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++)
    for (PetscInt k = L->lrow[t]; k < L->lrow[t + 1]; k++) L->z[k] += N->z[L->agg[k]];
  PetscCall(CoarseHalo(mg, L));
  CoarseBackwardLanes(L);
  PetscFunctionReturn(0);
}

/* The coarse correction on level l: gamma cycles (V-cycle 1, W-cycle 2), the second from the
   residual of the first; the coarsest level exactly. */
static PetscErrorCode CoarseSolve(MG *mg, int l)
{
  Level          *L    = &mg->lev[l];
  const PetscBool skip = L->replicated && mg->rsub == MPI_COMM_NULL; /* no rows of the replicated levels */

  PetscFunctionBeginUser;
  if (L->merged) { /* agglomerated: the groups' hosts hand their residuals to the merged group's host */
    PetscCall(CommStage(mg, "_merge", l));
    if (L->merge_to != MPI_PROC_NULL) PetscCall(SendPrecond(mg, L->r, L->nfine, L->merge_to, 97));
    for (PetscInt s = 0, at = L->mbase + L->nfine; s < 2; at += L->nmerged[s++])
      if (L->merge_from[s] != MPI_PROC_NULL) PetscCall(RecvPrecond(mg, L->r + at, L->nmerged[s], L->merge_from[s], 97));
    PetscCall(CommStageEnd(mg));
  }
  if (!skip) {
    if (L->rcount) { /* the first replicated level */
      PetscCall(CommStage(mg, "_gather", l));
      PetscCall(GatherPrecond(mg, mg->rsub, L->r, L->rcount, L->rdispl));
      PetscCall(CommStageEnd(mg));
    }
    PetscCall(CoarseCycle(mg, l));
    if (l < mg->nlev - 1) PetscCall(CoarseCycleAgain(mg, l));
  }
  if (L->merged) { /* and receive their corrections */
    PetscCall(CommStage(mg, "_merge", l));
    for (PetscInt s = 0, at = L->mbase + L->nfine; s < 2; at += L->nmerged[s++])
      if (L->merge_from[s] != MPI_PROC_NULL) PetscCall(SendPrecond(mg, L->z + at, L->nmerged[s], L->merge_from[s], 98));
    if (L->merge_to != MPI_PROC_NULL) PetscCall(RecvPrecond(mg, L->z, L->nfine, L->merge_to, 98));
    PetscCall(CommStageEnd(mg));
  }
  PetscFunctionReturn(0);
}

/* The W-cycle's further cycles on level l, each from the residual of the ones before. */
static PetscErrorCode CoarseCycleAgain(MG *mg, int l)
{
  Level *L = &mg->lev[l];

  PetscFunctionBeginUser;
  for (PetscInt g = 1; g < (WCycled(mg, l) ? mg->c->mg_gamma : 1); g++) {
    const int T = L->nl;
    PetscCall(CoarseHalo(mg, L));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
    for (int t = 0; t < T; t++)
      for (PetscInt k = L->lrow[t]; k < L->lrow[t + 1]; k++) {
        double s = L->z[k] / L->idiag[k];
        for (int32_t e = L->rp[k]; e < L->rp[k + 1]; e++) s -= L->w[e] * L->z[L->col[e]];
        L->z0[k] = L->z[k];
        L->r[k] -= s; /* the right-hand side is not needed after this correction */
      }
    PetscCall(CoarseCycle(mg, l));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
    for (int t = 0; t < T; t++)
      for (PetscInt k = L->lrow[t]; k < L->lrow[t + 1]; k++) L->z[k] += L->z0[k];
  }
  PetscFunctionReturn(0);
}

/* The cycle after the forward sweep: restriction, coarse correction, prolongation (the backward
   sweep is the caller's). */
static PetscErrorCode FineCoarseCorrection(MG *mg, double *z)
{
  Level    *L1 = &mg->lev[1];
  const int T  = mg->nlane;

  PetscFunctionBeginUser;
  PetscCall(FineHaloPrecond(mg, z));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++) FineFaces(mg, t, z, L1->r);
  PetscCall(CoarseSolve(mg, 1));
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++)
    for (PetscInt k = mg->pstart[mg->lz[t]]; k < mg->pstart[mg->lz[t + 1]]; k++) z[k] += L1->z[mg->agg[k]];
  PetscCall(FineHaloPrecond(mg, z));
  PetscFunctionReturn(0);
}

/* The preconditioner for PETSc's KSP (-cond_mg_ksp) */
static PetscErrorCode MGApply(PC pc, Vec rv, Vec zv)
{
  MG           *mg;
  const double *r;
  double       *z;

  PetscFunctionBeginUser;
  PetscCall(PCShellGetContext(pc, &mg));
  PetscCall(VecGetArrayRead(rv, &r));
  PetscCall(VecGetArray(zv, &z));
  PetscCall(PetscArrayzero(mg->lev[1].r, mg->lev[1].nfine));
  (void)FineForwardLanes(mg, PETSC_FALSE, 0.0, NULL, NULL, (double *)r, z, mg->lev[1].r);
  PetscCall(FineCoarseCorrection(mg, z));
  (void)FineBackwardLanes(mg, r, z);
  PetscCall(VecRestoreArrayRead(rv, &r));
  PetscCall(VecRestoreArray(zv, &z));
  PetscFunctionReturn(0);
}

static PetscErrorCode FineMult(Mat A, Vec xv, Vec yv)
{
  MG           *mg;
  const double *x;
  double       *y;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(A, &mg));
  PetscCall(VecGetArrayRead(xv, &x));
  PetscCall(VecGetArray(yv, &y));
  PetscCall(FineHalo(mg, x));
  (void)FineApplyDotLanes(mg, x, y);
  PetscCall(VecRestoreArrayRead(xv, &x));
  PetscCall(VecRestoreArray(yv, &y));
  PetscFunctionReturn(0);
}

static PetscErrorCode FineGetDiagonal(Mat A, Vec dv)
{
  MG     *mg;
  double *d;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(A, &mg));
  PetscCall(VecGetArray(dv, &d));
  for (PetscInt zl = 0; zl < mg->nzl; zl++)
    for (PetscInt k = mg->pstart[zl]; k < mg->pstart[zl + 1]; k++)
      d[k] = FineDiag(mg, mg->map + (size_t)(zl + 1) * (size_t)mg->PP + mg->pos[k]);
  PetscCall(VecRestoreArray(dv, &d));
  PetscFunctionReturn(0);
}

/* Plane zl of the map: its unknowns numbered from pstart[zl] in [y][x] order, their positions, and
   the padding (Dirichlet faces, periodic copies or insulation -1) */
static void FinePlane(MG *mg, int zl)
{
  const Problem *p  = mg->p;
  const int      nx = p->n[0], ny = p->n[1];
  const PetscInt W = mg->W, PP = mg->PP;
  const size_t   plane = (size_t)nx * (size_t)ny;
  const uint8_t *mk    = p->mask + plane * (size_t)(zl + 1);
  int32_t       *m     = mg->map + (size_t)(zl + 1) * (size_t)PP;
  int32_t        k     = (int32_t)mg->pstart[zl];

  for (PetscInt i = 0; i < PP; i++) m[i] = -1;
  for (int y = 0; y < ny; y++)
    for (int x = 0; x < nx; x++)
      if (mk[(size_t)y * nx + x]) {
        mg->pos[k]             = (int32_t)((y + 1) * W + x + 1);
        m[(y + 1) * W + x + 1] = k++;
      }
  /* padding: Dirichlet faces, periodic copies or insulation (-1) */
  for (int y = 0; y < ny; y++) {
    int32_t *row = m + (y + 1) * W;
    if (p->axis == 0) row[0] = row[nx + 1] = -2;
    else if (p->wrap[0]) {
      row[0]      = row[nx];
      row[nx + 1] = row[1];
    }
  }
  for (int x = 0; x < nx; x++) {
    if (p->axis == 1) m[x + 1] = m[(ny + 1) * W + x + 1] = -2;
    else if (p->wrap[1]) {
      m[x + 1]                = m[ny * W + x + 1];
      m[(ny + 1) * W + x + 1] = m[W + x + 1];
    }
  }
}

/* ---- setup ---- */

/* The fine level: the padded map of unknown numbers, positions, plane starts, ghost counts. */
static PetscErrorCode FineSetUp(MG *mg)
{
  const Problem *p  = mg->p;
  const int      nx = p->n[0], ny = p->n[1], nzl = p->nzl;
  const PetscInt W = nx + 2, PP = (PetscInt)W * (ny + 2);
  const size_t   plane   = (size_t)nx * (size_t)ny;
  const int      threads = PetscMax(mg->c->grid->threads, 1);
  int32_t       *map;

  PetscFunctionBeginUser;
  mg->nzl = nzl;
  mg->W   = W;
  mg->PP  = PP;
  mg->n   = (PetscInt)p->nloc;
  for (int e = 0; e < 3; e++) mg->cf[e] = p->cond[e];
  mg->gb = p->gb;
  for (int code = 0; code < 81; code++) {
    mg->D[code] =
      mg->cf[0] * (code % 3) + mg->cf[1] * (code / 3 % 3) + mg->cf[2] * (code / 9 % 3) + mg->gb * (code / 27);
    mg->iD[code] = mg->D[code] > 0 ? 1.0 / mg->D[code] : 0.0;
  }
  PetscCall(WorkGet(mg->c, WORK_MAP, sizeof(int32_t) * (size_t)PP * (size_t)(nzl + 2), &mg->map));
  PetscCall(WorkGet(mg->c, WORK_POS, sizeof(int32_t) * (size_t)mg->n, &mg->pos));
  PetscCall(WorkGet(mg->c, WORK_AGG, sizeof(int32_t) * (size_t)mg->n, &mg->agg));
  PetscCall(PetscMalloc1(nzl + 1, &mg->pstart));
  map = mg->map;
  /* the planes' unknowns counted, then numbered, plane by plane on the threads */
  mg->pstart[0] = 0;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int zl = 0; zl < nzl; zl++) {
    const uint8_t *mk = p->mask + plane * (size_t)(zl + 1);
    PetscInt       n  = 0;
    for (size_t i = 0; i < plane; i++) n += mk[i];
    mg->pstart[zl + 1] = n;
  }
  for (int zl = 0; zl < nzl; zl++) mg->pstart[zl + 1] += mg->pstart[zl];
  for (size_t i = 0; i < (size_t)PP; i++) map[i] = map[(size_t)(nzl + 1) * (size_t)PP + i] = -1;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int zl = 0; zl < nzl; zl++) FinePlane(mg, zl);
  /* ghost planes: the neighbours' boundary unknowns, numbered into glo / ghi in their order */
  for (int side = 0; side < 2; side++) {
    const int      exists = side == 0 ? mg->c->below != MPI_PROC_NULL : mg->c->above != MPI_PROC_NULL;
    const uint8_t *mk     = p->mask + (side == 0 ? 0 : plane * (size_t)(nzl + 1));
    int32_t       *m      = map + (side == 0 ? 0 : (size_t)(nzl + 1) * (size_t)PP);
    int32_t        j      = 0;
    for (int y = 0; y < ny; y++)
      for (int x = 0; x < nx; x++) {
        if (exists) {
          if (mk[(size_t)y * nx + x]) m[(y + 1) * W + x + 1] = j++;
        } else if (p->axis == 2) m[(y + 1) * W + x + 1] = -2;
      }
    if (side == 0) mg->nlo = j;
    else mg->nhi = j;
  }
  PetscCall(PetscMalloc2(PetscMax(mg->nlo, 1), &mg->glo, PetscMax(mg->nhi, 1), &mg->ghi));
  PetscCall(PetscArrayzero(mg->glo, PetscMax(mg->nlo, 1)));
  PetscCall(PetscArrayzero(mg->ghi, PetscMax(mg->nhi, 1)));
  PetscFunctionReturn(0);
}

/* Components of the voxels of a 2x2x2 block (v = 4 dz + 2 dy + dx) present in `mask` (bit v), connected
   along the strong axes, numbered in the order of their first voxel: lab[v], and their number. One
   table entry per mask (256), computed once per problem. */
typedef struct {
  uint8_t lab[256][8], cnt[256];
} BlockTable;

static void BlockTableFill(BlockTable *t, const PetscBool strong[3])
{
  for (int mask = 0; mask < 256; mask++) {
    int par[8], cnt = 0;
    for (int v = 0; v < 8; v++) par[v] = v;
    for (int v = 0; v < 8; v++) {
      if (!(mask >> v & 1)) continue;
      for (int e = 0; e < 3; e++) {
        const int u = v | (1 << e);
        if ((v & (1 << e)) || !strong[e] || !(mask >> u & 1)) continue;
        int a = v, b = u;
        while (par[a] != a) a = par[a];
        while (par[b] != b) b = par[b];
        if (a != b) par[PetscMax(a, b)] = PetscMin(a, b);
      }
    }
    for (int v = 0; v < 8; v++) {
      int a           = v;
      t->lab[mask][v] = 0;
      if (!(mask >> v & 1)) continue;
      while (par[a] != a) a = par[a];
      t->lab[mask][v] = (uint8_t)(a == v ? cnt++ : t->lab[mask][a]);
    }
    t->cnt[mask] = (uint8_t)cnt;
  }
}

/* The voxels of fine block (bx, by, bz): their unknowns (-1 if none), map pointers and planes; returns
   the mask of the present ones. */
static inline int FineBlock(const MG *mg, int bx, int by, int bz, int32_t k8[8], const int32_t *q8[8], int zl8[8])
{
  const Problem *p = mg->p;
  const int32_t *base =
    mg->map + (size_t)(2 * bz + 1) * (size_t)mg->PP + (size_t)(2 * by + 1) * (size_t)mg->W + (size_t)(2 * bx + 1);
  const int full = 2 * bx + 1 < p->n[0] && 2 * by + 1 < p->n[1] && 2 * bz + 1 < p->nzl;
  int       mask = 0;

  for (int v = 0; v < 8; v++) {
    const int dx = v & 1, dy = v >> 1 & 1, dz = v >> 2;
    zl8[v] = 2 * bz + dz;
    if (!full && (2 * bx + dx >= p->n[0] || 2 * by + dy >= p->n[1] || 2 * bz + dz >= p->nzl)) {
      k8[v] = -1;
      q8[v] = NULL;
      continue;
    }
    q8[v] = base + dz * mg->PP + dy * mg->W + dx;
    k8[v] = *q8[v];
    mask |= (k8[v] >= 0) << v;
  }
  return mask;
}

/* Accumulates the entries of CSR rows one row at a time. Plain malloc / realloc, not PETSc's: the
   lanes build level 1's rows on threads (the level's col and w are released with free()). */
typedef struct {
  int32_t *col;
  float   *w;
  size_t   nnz, cap;
} Rows;

/* Room for `extra` more entries: 0, or 1 without memory or beyond 2^31 entries (no PETSc call: it
   runs on the lanes' threads). */
static int RowsGrow(Rows *R, size_t extra)
{
  int32_t *col;
  float   *w;
  size_t   cap;

  if (R->nnz + extra <= R->cap) return 0;
  cap = PetscMax(PetscMax(2 * R->cap, R->nnz + extra), 16);
  if (cap >= (size_t)INT32_MAX) return 1;
  if (!(col = (int32_t *)realloc(R->col, sizeof(int32_t) * cap))) return 1;
  R->col = col;
  if (!(w = (float *)realloc(R->w, sizeof(float) * cap))) return 1;
  R->w   = w;
  R->cap = cap;
  AdviseHuge(R->col, sizeof(int32_t) * cap);
  AdviseHuge(R->w, sizeof(float) * cap);
  return 0;
}

static PetscErrorCode RowsReserve(Rows *R, size_t extra)
{
  PetscFunctionBeginUser;
  PetscCheck(!RowsGrow(R, extra), PETSC_COMM_SELF, PETSC_ERR_MEM,
             "conductivity: out of memory for a coarse level's rows (or more than 2^31 entries on one rank)");
  PetscFunctionReturn(0);
}

static PetscErrorCode RowsCreate(Rows *R, size_t cap)
{
  PetscFunctionBeginUser;
  R->col = NULL;
  R->w   = NULL;
  R->nnz = R->cap = 0;
  PetscCall(RowsReserve(R, cap));
  PetscFunctionReturn(0);
}

/* Adds w to entry J of the row that starts at rowstart (a row has a few dozen entries at most: a
   scan of them, no table over the columns, so that lanes may build rows side by side). */
static inline void RowsAdd(Rows *R, size_t rowstart, int32_t J, float w)
{
  for (size_t e = rowstart; e < R->nnz; e++)
    if (R->col[e] == J) {
      R->w[e] += w;
      return;
    }
  R->col[R->nnz] = J;
  R->w[R->nnz]   = w;
  R->nnz++;
}

/* The lanes' rows joined in order into R: the first lane's grown in place, the others appended
   (rp shifted); the lanes' arrays released. */
static PetscErrorCode JoinLaneRows(Rows *LR, int nl, const PetscInt *first, int32_t *rp, Rows *R)
{
  size_t nnz = 0;

  PetscFunctionBeginUser;
  for (int t = 1; t < nl; t++) nnz += LR[t].nnz;
  *R        = LR[0];
  LR[0].col = NULL;
  LR[0].w   = NULL;
  PetscCall(RowsReserve(R, nnz));
  for (int t = 1; t < nl; t++) {
    memcpy(R->col + R->nnz, LR[t].col, sizeof(int32_t) * LR[t].nnz);
    memcpy(R->w + R->nnz, LR[t].w, sizeof(float) * LR[t].nnz);
    for (PetscInt ci = first[t]; ci < first[t + 1]; ci++) rp[ci + 1] += (int32_t)R->nnz;
    R->nnz += LR[t].nnz;
    free(LR[t].col);
    free(LR[t].w);
    LR[t].col = NULL;
    LR[t].w   = NULL;
  }
  PetscFunctionReturn(0);
}

/* Sorts a row's entries by column (the smoothers split lower / upper by the column order). */
static void SortRow(int32_t *col, float *w, size_t n)
{
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0 && col[b - 1] > col[b]; b--) {
      int32_t tc = col[b];
      float   tw = w[b];
      col[b]     = col[b - 1];
      w[b]       = w[b - 1];
      col[b - 1] = tc;
      w[b - 1]   = tw;
    }
}

/* Stores the finished rows in the level: single-precision weights, the diagonal summed from them. */
static PetscErrorCode RowsFinish(Rows *R, Level *N, int32_t *rp, int threads)
{
  int64_t nbrow = 0;

  PetscFunctionBeginUser;
  N->rp  = rp; /* the rows become the level's: no copy */
  N->col = R->col;
  N->w   = R->w;
  PetscCall(PetscMalloc2(PetscMax(N->n, 1), &N->idiag, PetscMax(N->n, 1), &N->mid));
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : nbrow)
  for (PetscInt ci = 0; ci < N->n; ci++) {
    SortRow(N->col + rp[ci], N->w + rp[ci], (size_t)(rp[ci + 1] - rp[ci]));
    N->mid[ci] = rp[ci];
    while (N->mid[ci] < rp[ci + 1] && N->col[N->mid[ci]] < ci) N->mid[ci]++;
    nbrow += rp[ci + 1] > rp[ci] && N->col[rp[ci + 1] - 1] >= N->n;
  }
  /* exactly symmetric weights (the two sums of a pair may round differently): the smoothers restrict
     U z by scattering with the lower entries. Row ci writes the upper entry (j, ci) of each lower
     neighbour j, which no other row writes or reads here: the rows may run on threads. */
#pragma omp parallel for schedule(static) num_threads(threads)
  for (PetscInt ci = 0; ci < N->n; ci++)
    for (int32_t e = rp[ci]; e < N->mid[ci]; e++) {
      const int32_t j  = N->col[e];
      int32_t       lo = N->mid[j], hi = rp[j + 1] - 1;
      while (lo < hi) {
        const int32_t m = (lo + hi) / 2;
        if (N->col[m] < ci) lo = m + 1;
        else hi = m;
      }
      if (lo < rp[j + 1] && N->col[lo] == ci) N->w[lo] = N->w[e];
    }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (PetscInt ci = 0; ci < N->n; ci++) {
    double d = N->bnd[ci];
    for (int32_t e = rp[ci]; e < rp[ci + 1]; e++) d += (double)N->w[e];
    N->idiag[ci] = 1.0 / d;
  }
  PetscCall(PetscMalloc1(PetscMax(nbrow, 1), &N->brow));
  N->nbrow = 0;
  for (PetscInt ci = 0; ci < N->n; ci++)
    if (rp[ci + 1] > rp[ci] && N->col[rp[ci + 1] - 1] >= N->n) N->brow[N->nbrow++] = (int32_t)ci;
  PetscFunctionReturn(0);
}

/* Sorted distinct values of a[0..m) as PetscInt; *u allocated. */
static PetscErrorCode Distinct(const int32_t *a, PetscInt m, PetscInt **u, PetscInt *mu)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(PetscMax(m, 1), u));
  for (PetscInt i = 0; i < m; i++) (*u)[i] = a[i];
  *mu = m;
  PetscCall(PetscSortRemoveDupsInt(mu, *u));
  PetscFunctionReturn(0);
}

/* The ghosts of the next level N: each side sends the aggregates of the rows it sends (asend_lo,
   asend_hi), receives the neighbours' (nlo, nhi of them); N's ghost slots are the distinct received
   aggregates in increasing order, its send lists the distinct sent ones (the same sets), with the
   neighbours N->lo, N->hi (those of the finer level). gslot maps
   this level's ghost slot i (lower ones first) to the column of N. */
static PetscErrorCode NextGhosts(MG *mg, Level *N, const int32_t *asend_lo, PetscInt nslo, const int32_t *asend_hi,
                                 PetscInt nshi, PetscInt nlo, PetscInt nhi, int32_t *gslot)
{
  int32_t  *rlo, *rhi;
  PetscInt *u, nu;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(PetscMax(nlo, 1), &rlo, PetscMax(nhi, 1), &rhi));
  PetscCall(ExchangeWith(mg->c, N->lo, N->hi, MPI_INT32_T, asend_lo, nslo, asend_hi, nshi, rlo, nlo, rhi, nhi));
  for (int side = 0; side < 2; side++) {
    PetscCall(Distinct(side == 0 ? asend_lo : asend_hi, side == 0 ? nslo : nshi, &u, &nu));
    PetscCall(PetscMalloc1(PetscMax(nu, 1), side == 0 ? &N->slo : &N->shi));
    for (PetscInt i = 0; i < nu; i++) (side == 0 ? N->slo : N->shi)[i] = (int32_t)u[i];
    if (side == 0) N->nslo = nu;
    else N->nshi = nu;
    PetscCall(PetscFree(u));
  }
  PetscCall(Distinct(rlo, nlo, &u, &N->nlo));
  for (PetscInt i = 0; i < nlo; i++) {
    PetscInt loc;
    PetscCall(PetscFindInt(rlo[i], N->nlo, u, &loc));
    gslot[i] = (int32_t)(N->n + loc);
  }
  PetscCall(PetscFree(u));
  PetscCall(Distinct(rhi, nhi, &u, &N->nhi));
  for (PetscInt i = 0; i < nhi; i++) {
    PetscInt loc;
    PetscCall(PetscFindInt(rhi[i], N->nhi, u, &loc));
    gslot[nlo + i] = (int32_t)(N->n + N->nlo + loc);
  }
  PetscCall(PetscFree(u));
  PetscCall(PetscFree2(rlo, rhi));
  PetscFunctionReturn(0);
}

/* One block grid per group: gnb and the offsets of the groups' blocks. */
static PetscErrorCode LevelGroups(Level *L, int ngrp, const int (*gnb)[3])
{
  PetscFunctionBeginUser;
  L->ngrp = ngrp;
  PetscCall(PetscMalloc2(ngrp, &L->gnb, ngrp + 1, &L->goff));
  L->goff[0] = 0;
  for (int g = 0; g < ngrp; g++) {
    for (int e = 0; e < 3; e++) L->gnb[g][e] = gnb[g][e];
    L->goff[g + 1] = L->goff[g] + (int64_t)gnb[g][0] * gnb[g][1] * gnb[g][2];
  }
  PetscCheck(L->goff[ngrp] < INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "conductivity: too many blocks on one rank");
  PetscFunctionReturn(0);
}

/* Lane t's block planes of level 1: its planes halved (the last lane to the slab's end) */
static inline void LaneBlocks(const MG *mg, int t, int nbz, int *bz0, int *bz1)
{
  *bz0 = mg->lz[t] / 2;
  *bz1 = t == mg->nlane - 1 ? nbz : mg->lz[t + 1] / 2;
}

/* The aggregates of level 1 in block planes bz0 .. bz1 - 1, numbered from n1 in block order (with
   `assign`: agg of their voxels and blk; without: only counted); returns their count. */
static PetscInt FineAggregates(MG *mg, const BlockTable *T, const int nb[3], int bz0, int bz1, PetscInt n1,
                               PetscBool assign)
{
  Level         *N = &mg->lev[1];
  int32_t        k8[8];
  const int32_t *q8[8];
  int            zl8[8];
  const PetscInt first = n1;

  for (int bz = bz0; bz < bz1; bz++)
    for (int by = 0; by < nb[1]; by++)
      for (int bx = 0; bx < nb[0]; bx++) {
        const int mask = FineBlock(mg, bx, by, bz, k8, q8, zl8), cnt = T->cnt[mask];
        if (assign) {
          for (int v = 0; v < 8; v++)
            if (mask >> v & 1) mg->agg[k8[v]] = (int32_t)(n1 + T->lab[mask][v]);
          for (int a = 0; a < cnt; a++) N->blk[n1 + a] = (int32_t)(((int64_t)bz * nb[1] + by) * nb[0] + bx);
        }
        n1 += cnt;
      }
  return n1 - first;
}

/* The rows of level 1 for the aggregates of block planes bz0 .. bz1 - 1 (the first one ci0): the
   conductances / alpha from each aggregate's voxels to other aggregates (ghosts through gslot) and
   to the faces (N->bnd), into the lane's own rows R, rp[ci + 1] counted from R's start; 0, or 1
   without memory (no PETSc call: it runs on the lanes' threads). */
static int FineRows(MG *mg, const BlockTable *T, const int nb[3], const int32_t *gslot, int bz0, int bz1, PetscInt ci0,
                    Rows *R, int32_t *rp)
{
  const Problem *p  = mg->p;
  Level         *N  = &mg->lev[1];
  const double   ia = 1.0 / mg->c->mg_alpha;
  int32_t        k8[8];
  const int32_t *q8[8];
  int            zl8[8];
  const PetscInt off[6] = {-1, 1, -mg->W, mg->W, -mg->PP, mg->PP};
  PetscInt       ci     = ci0;

  for (int bz = bz0; bz < bz1; bz++)
    for (int by = 0; by < nb[1]; by++)
      for (int bx = 0; bx < nb[0]; bx++) {
        const int mask = FineBlock(mg, bx, by, bz, k8, q8, zl8);
        for (int t = 0; t < T->cnt[mask]; t++, ci++) {
          const int32_t a     = (int32_t)ci;
          const size_t  start = R->nnz;
          double        bnd   = 0;
          if (RowsGrow(R, 48)) return 1;
          for (int v = 0; v < 8; v++) {
            if (!(mask >> v & 1) || T->lab[mask][v] != t) continue;
            for (int d = 0; d < 6; d++) {
              const int32_t j = q8[v][off[d]];
              int32_t       J;
              if (j < 0) {
                bnd += j == -2 ? mg->gb : 0.0;
                continue;
              }
              if (d == 4 && zl8[v] == 0) J = gslot[j];
              else if (d == 5 && zl8[v] == p->nzl - 1) J = gslot[mg->nlo + j];
              else J = mg->agg[j];
              if (J != a) RowsAdd(R, start, J, (float)(mg->cf[d / 2] * ia));
            }
          }
          N->bnd[ci] = bnd * ia;
          rp[ci + 1] = (int32_t)R->nnz;
        }
      }
  return 0;
}

/* Level 1 from the fine level: aggregates of the 2x2x2 voxel blocks, ghosts, Galerkin rows / alpha.
   The aggregates are counted, then numbered, and the rows built lane by lane on the threads (a
   lane's blocks are its planes'); the lanes' rows are then joined in order. */
static PetscErrorCode FineCoarsen(MG *mg)
{
  const Problem *p     = mg->p;
  Level         *N     = &mg->lev[1];
  const int      nb[3] = {(p->n[0] + 1) / 2, (p->n[1] + 1) / 2, (p->nzl + 1) / 2};
  const double   cmax  = PetscMax(PetscMax(mg->cf[0], mg->cf[1]), mg->cf[2]);
  const int      nl    = mg->nlane;
  PetscBool      strong[3];
  int32_t       *gslot, *rp;
  PetscInt      *first, n1 = 0;
  Rows           R, *LR;
  BlockTable     T;
  int            err = 0;

  PetscFunctionBeginUser;
  for (int e = 0; e < 3; e++) strong[e] = mg->cf[e] >= mg->c->mg_theta * cmax ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(LevelGroups(N, 1, (const int(*)[3]) & nb));
  N->lo     = mg->c->below;
  N->hi     = mg->c->above;
  N->active = PETSC_TRUE;
  BlockTableFill(&T, strong);
  /* aggregates, in block order; at most 4 per block (a 2x2x2 checkerboard) and one per unknown */
  PetscCall(PetscMalloc1(PetscMax(PetscMin((int64_t)mg->n, 4 * (int64_t)nb[0] * nb[1] * nb[2]), 1), &N->blk));
  PetscCall(PetscMalloc1(nl + 1, &first));
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++) {
    int bz0, bz1;
    LaneBlocks(mg, t, nb[2], &bz0, &bz1);
    first[t + 1] = FineAggregates(mg, &T, nb, bz0, bz1, 0, PETSC_FALSE);
  }
  first[0] = 0;
  for (int t = 0; t < nl; t++) first[t + 1] += first[t];
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++) {
    int bz0, bz1;
    LaneBlocks(mg, t, nb[2], &bz0, &bz1);
    (void)FineAggregates(mg, &T, nb, bz0, bz1, first[t], PETSC_TRUE);
  }
  N->n = n1 = first[nl];
  /* ghosts: the aggregates of the boundary planes' unknowns */
  {
    const PetscInt last = mg->pstart[mg->nzl - 1];
    PetscCall(PetscMalloc1(PetscMax(mg->nlo + mg->nhi, 1), &gslot));
    PetscCall(NextGhosts(mg, N, mg->agg, mg->pstart[1], mg->agg + last, mg->n - last, mg->nlo, mg->nhi, gslot));
  }
  /* rows: each lane its own, then joined */
  PetscCall(PetscMalloc1(n1 + 1, &rp));
  PetscCall(PetscMalloc1(PetscMax(n1, 1), &N->bnd));
  PetscCall(PetscCalloc1(nl, &LR));
  rp[0] = 0;
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1) reduction(| : err)
  for (int t = 0; t < nl; t++) {
    int bz0, bz1;
    LaneBlocks(mg, t, nb[2], &bz0, &bz1);
    err |= RowsGrow(&LR[t], (size_t)(5 * (first[t + 1] - first[t]) + 64)) ||
           FineRows(mg, &T, nb, gslot, bz0, bz1, first[t], &LR[t], rp);
  }
  if (!err) PetscCall(JoinLaneRows(LR, nl, first, rp, &R));
  for (int t = 0; t < nl; t++) {
    free(LR[t].col);
    free(LR[t].w);
  }
  PetscCall(PetscFree(LR));
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "conductivity: out of memory for level 1's rows");
  PetscCall(RowsFinish(&R, N, rp, nl));
  PetscCall(PetscFree(first));
  PetscCall(PetscFree(gslot));
  PetscFunctionReturn(0);
}

/* Level l+1 from coarse level l: aggregates of the 2x2x2 blocks of blocks, ghosts, Galerkin rows / alpha. */
/* The rows of level l sorted by parent block: the blocks of level l + 1 are those of level l halved
 * (on a replicated level whose slabs are single blocks, pairs of groups merge). */
typedef struct {
  int32_t  *pb;    /* row k's parent block */
  int32_t  *cnt;   /* block b's members are order[cnt[b] .. cnt[b + 1] - 1] */
  int32_t  *order; /* the rows by block (stable: members in increasing order) */
  int32_t  *slot;  /* row k's place among its block's members */
  float    *maxw;  /* row k's strongest coupling */
  int64_t   nblocks;
  PetscInt  maxmembers;
  int       nl; /* lanes: level l's rows and blocks split as its lanes' (1: the whole level) */
  int32_t  *lr; /* lane t's rows lr[t] .. lr[t + 1] - 1 */
  int64_t  *lb; /* lane t's parent blocks lb[t] .. lb[t + 1] - 1 */
  PetscInt *la; /* lane t's aggregates la[t] .. la[t + 1] - 1 (Aggregate) */
} Parents;

static PetscErrorCode ParentBlocks(MG *mg, int l, Parents *P)
{
  Level    *L = &mg->lev[l], *N = &mg->lev[l + 1];
  int32_t  *pb, *cnt, *order, *slot;
  float    *maxw;
  int64_t   nblocks;
  PetscInt  maxmembers = 0;
  PetscBool merge      = L->replicated;
  int       nl;

  PetscFunctionBeginUser;
  {
    int(*ngnb)[3];
    int ng;
    for (int g = 0; g < L->ngrp; g++)
      merge = merge && L->gnb[g][0] == 1 && L->gnb[g][1] == 1 && L->gnb[g][2] == 1 ? PETSC_TRUE : PETSC_FALSE;
    ng = merge ? (L->ngrp + 1) / 2 : L->ngrp;
    PetscCall(PetscMalloc1(ng, &ngnb));
    for (int g = 0; g < ng; g++)
      for (int e = 0; e < 3; e++) ngnb[g][e] = merge ? 1 : (L->gnb[g][e] + 1) / 2;
    PetscCall(LevelGroups(N, ng, (const int(*)[3])ngnb));
    PetscCall(PetscFree(ngnb));
  }
  nblocks = N->goff[N->ngrp];
  /* the lanes of a level swept by lanes (LevelLanes): their parent blocks are theirs alone */
  nl = L->lrow && !L->merged && !L->replicated ? mg->nlane : 1;
  PetscCall(PetscMalloc3(nl + 1, &P->lr, nl + 1, &P->lb, nl + 1, &P->la));
  for (int t = 0; t <= nl; t++) {
    P->lr[t] = nl > 1 ? L->lrow[t] : t ? (int32_t)L->n : 0;
    P->lb[t] = t == nl ? nblocks : nl > 1 ? (int64_t)(mg->lz[t] >> (l + 1)) * N->gnb[0][0] * N->gnb[0][1] : 0;
  }
  P->nl = nl;
  PetscCall(PetscMalloc5(PetscMax(L->n, 1), &pb, nblocks + 1, &cnt, PetscMax(L->n, 1), &order, PetscMax(L->n, 1), &slot,
                         PetscMax(L->n, 1), &maxw));
  /* counting sort of the rows by parent block (stable: members in increasing order), lane by lane:
     the lanes' blocks, and so the counters they touch, are disjoint */
  for (int64_t b = 0; b <= nblocks; b++) cnt[b] = 0;
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++)
    for (PetscInt k = P->lr[t]; k < P->lr[t + 1]; k++) {
      const int     g = L->replicated ? L->grp[k] : 0, G = merge ? g / 2 : g;
      const int    *nb = L->gnb[g], *pnb = N->gnb[G];
      const int64_t b  = L->blk[k] - L->goff[g];
      const int     bx = (int)(b % nb[0]), by = (int)(b / nb[0] % nb[1]), bz = (int)(b / nb[0] / nb[1]);
      pb[k] = (int32_t)(N->goff[G] + (merge ? 0 : ((int64_t)(bz / 2) * pnb[1] + by / 2) * pnb[0] + bx / 2));
      cnt[pb[k] + 1]++;
      maxw[k] = 0;
      for (int32_t e = L->rp[k]; e < L->rp[k + 1]; e++) maxw[k] = PetscMax(maxw[k], L->w[e]);
    }
  for (int64_t b = 0; b < nblocks; b++) {
    maxmembers = PetscMax(maxmembers, cnt[b + 1]);
    cnt[b + 1] += cnt[b];
  }
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++)
    for (PetscInt k = P->lr[t]; k < P->lr[t + 1]; k++) {
      slot[k]             = cnt[pb[k]];
      order[cnt[pb[k]]++] = (int32_t)k;
    }
  for (int64_t b = nblocks; b > 0; b--) cnt[b] = cnt[b - 1];
  cnt[0] = 0;
  for (PetscInt k = 0; k < L->n; k++) slot[k] -= cnt[pb[k]];
  P->pb         = pb;
  P->cnt        = cnt;
  P->order      = order;
  P->slot       = slot;
  P->maxw       = maxw;
  P->nblocks    = nblocks;
  P->maxmembers = maxmembers;
  PetscFunctionReturn(0);
}

/* The aggregates of lane t's parent blocks, numbered from 0 in block order (the caller adds the
   lane's offset); returns their count, or -1 without memory (no PETSc call: it runs on threads). */
static PetscInt LaneAggregates(Level *L, const Parents *P, int t, double theta)
{
  const int32_t *pb = P->pb, *cnt = P->cnt, *order = P->order, *slot = P->slot;
  const float   *maxw = P->maxw;
  int32_t       *par  = (int32_t *)malloc(sizeof(int32_t) * (size_t)PetscMax(P->maxmembers, 1));
  PetscInt       n1   = 0;

  if (!par) return -1;
  for (int64_t b = P->lb[t]; b < P->lb[t + 1]; b++) {
    const int32_t *m = order + cnt[b];
    const int32_t  s = cnt[b + 1] - cnt[b];
    for (int32_t i = 0; i < s; i++) par[i] = i;
    for (int32_t i = 0; i < s; i++) {
      const int32_t k = m[i];
      for (int32_t e = L->rp[k]; e < L->rp[k + 1]; e++) {
        const int32_t j = L->col[e];
        if (j >= L->n || pb[j] != b || L->w[e] < theta * PetscMax(maxw[k], maxw[j])) continue;
        int32_t a = i, c = slot[j];
        while (par[a] != a) a = par[a] = par[par[a]];
        while (par[c] != c) c = par[c] = par[par[c]];
        if (a != c) par[PetscMax(a, c)] = PetscMin(a, c);
      }
    }
    for (int32_t i = 0; i < s; i++) {
      int32_t a = i;
      while (par[a] != a) a = par[a] = par[par[a]];
      L->agg[m[i]] = a == i ? (int32_t)n1++ : L->agg[m[a]];
    }
  }
  free(par);
  return n1;
}

/* The aggregates of level l: the components of each parent block along the strong couplings
 * (weight >= theta times the larger of the two rows' strongest), numbered block by block (lane by
 * lane on threads: the same numbers); level l + 1 gets their count, blocks and groups. */
static PetscErrorCode Aggregate(MG *mg, int l, Parents *P)
{
  Level         *L = &mg->lev[l], *N = &mg->lev[l + 1];
  const int32_t *cnt = P->cnt, *order = P->order;
  const int      nl  = P->nl;
  int            err = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(PetscMax(L->n, 1), &L->agg));
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1) reduction(| : err)
  for (int t = 0; t < nl; t++) {
    P->la[t + 1] = LaneAggregates(L, P, t, mg->c->mg_theta);
    err |= P->la[t + 1] < 0;
  }
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "conductivity: out of memory aggregating a level");
  P->la[0] = 0;
  for (int t = 0; t < nl; t++) P->la[t + 1] += P->la[t];
  N->n          = P->la[nl];
  N->replicated = L->replicated;
  N->lo         = L->lo;
  N->hi         = L->hi;
  N->active     = L->active;
  PetscCall(PetscMalloc1(PetscMax(N->n, 1), &N->blk));
  if (N->replicated) PetscCall(PetscMalloc1(PetscMax(N->n, 1), &N->grp));
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++) {
    for (PetscInt k = P->lr[t]; k < P->lr[t + 1]; k++) L->agg[k] += (int32_t)P->la[t];
    for (int64_t b = P->lb[t]; b < P->lb[t + 1]; b++)
      for (int32_t i = cnt[b]; i < cnt[b + 1]; i++) N->blk[L->agg[order[i]]] = (int32_t)b;
  }
  if (N->replicated)
    for (int G = 0, b = 0; G < N->ngrp; G++)
      for (; b < N->goff[G + 1]; b++)
        for (int32_t i = cnt[b]; i < cnt[b + 1]; i++) N->grp[L->agg[order[i]]] = G;
  PetscFunctionReturn(0);
}

/* The rows of lane t's aggregates (members mem[memptr[ci] ..]): each the sum of its members' rows,
   weights scaled by ia, into the lane's own rows R (rp counted from R's start); 0, or 1 without
   memory (no PETSc call: it runs on threads). */
static int LaneCoarseRows(const Level *L, Level *N, const int32_t *memptr, const int32_t *mem, const int32_t *gslot,
                          PetscInt ci0, PetscInt ci1, double ia, Rows *R, int32_t *rp)
{
  for (PetscInt ci = ci0; ci < ci1; ci++) {
    const size_t start = R->nnz;
    double       bnd   = 0;
    size_t       most  = 0;
    for (int32_t i = memptr[ci]; i < memptr[ci + 1]; i++) most += (size_t)(L->rp[mem[i] + 1] - L->rp[mem[i]]);
    if (RowsGrow(R, most)) return 1;
    for (int32_t i = memptr[ci]; i < memptr[ci + 1]; i++) {
      const int32_t k = mem[i];
      bnd += L->bnd[k];
      for (int32_t e = L->rp[k]; e < L->rp[k + 1]; e++) {
        const int32_t j = L->col[e], J = j < L->n ? L->agg[j] : gslot[j - L->n];
        if (J == ci) continue;
        RowsAdd(R, start, J, (float)(L->w[e] * ia));
      }
    }
    N->bnd[ci] = bnd * ia;
    rp[ci + 1] = (int32_t)R->nnz;
  }
  return 0;
}

/* The rows of level l + 1: the ghosts' aggregates from the neighbours, then each aggregate's row
 * summed over its members' rows, the weights scaled by ia. */
static PetscErrorCode CoarseRows(MG *mg, int l, double ia, const Parents *P)
{
  Level         *L = &mg->lev[l], *N = &mg->lev[l + 1];
  const PetscInt n1 = N->n;
  const int      nl = P->nl;
  int32_t       *gslot, *rp, *memptr, *mem, *asend;
  Rows           R, *LR;
  int            err = 0;

  PetscFunctionBeginUser;
  /* ghosts */
  PetscCall(PetscMalloc2(PetscMax(L->nslo + L->nshi, 1), &asend, PetscMax(L->nlo + L->nhi, 1), &gslot));
  if (!L->replicated) {
    for (PetscInt i = 0; i < L->nslo; i++) asend[i] = L->agg[L->slo[i]];
    for (PetscInt i = 0; i < L->nshi; i++) asend[L->nslo + i] = L->agg[L->shi[i]];
    PetscCall(NextGhosts(mg, N, asend, L->nslo, asend + L->nslo, L->nshi, L->nlo, L->nhi, gslot));
  }
  /* members of each aggregate (a lane's aggregates are its rows'), then the rows lane by lane */
  PetscCall(PetscMalloc2(n1 + 1, &memptr, PetscMax(L->n, 1), &mem));
  PetscCall(PetscMalloc1(n1 + 1, &rp));
  for (PetscInt ci = 0; ci <= n1; ci++) memptr[ci] = 0;
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++)
    for (PetscInt k = P->lr[t]; k < P->lr[t + 1]; k++) memptr[L->agg[k] + 1]++;
  for (PetscInt ci = 0; ci < n1; ci++) memptr[ci + 1] += memptr[ci];
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1)
  for (int t = 0; t < nl; t++)
    for (PetscInt k = P->lr[t]; k < P->lr[t + 1]; k++) mem[memptr[L->agg[k]]++] = (int32_t)k;
  for (PetscInt ci = n1; ci > 0; ci--) memptr[ci] = memptr[ci - 1];
  memptr[0] = 0;
  PetscCall(PetscMalloc1(PetscMax(n1, 1), &N->bnd));
  PetscCall(PetscCalloc1(nl, &LR));
  rp[0] = 0;
#pragma omp parallel for schedule(static, 1) num_threads(nl) if (nl > 1) reduction(| : err)
  for (int t = 0; t < nl; t++)
    err |= RowsGrow(&LR[t], (size_t)((L->rp[P->lr[t + 1]] - L->rp[P->lr[t]]) / 2 + 64)) ||
           LaneCoarseRows(L, N, memptr, mem, gslot, P->la[t], P->la[t + 1], ia, &LR[t], rp);
  if (!err) PetscCall(JoinLaneRows(LR, nl, P->la, rp, &R));
  for (int t = 0; t < nl; t++) {
    free(LR[t].col);
    free(LR[t].w);
  }
  PetscCall(PetscFree(LR));
  PetscCheck(!err, PETSC_COMM_SELF, PETSC_ERR_MEM, "conductivity: out of memory for a coarse level's rows");
  PetscCall(RowsFinish(&R, N, rp, PetscMax(mg->c->grid->threads, 1)));
  PetscCall(PetscFree2(memptr, mem));
  PetscCall(PetscFree2(asend, gslot));
  PetscFunctionReturn(0);
}

static PetscErrorCode CoarseCoarsen(MG *mg, int l)
{
  /* Galerkin (alpha 1) below the W-cycle levels: a V-cycle there keeps mu(BA) <= 1 (docs/solver.md) */
  const double ia = WCycled(mg, l) ? 1.0 / mg->c->mg_alpha : 1.0;
  Parents      P;

  PetscFunctionBeginUser;
  PetscCall(ParentBlocks(mg, l, &P));
  PetscCall(Aggregate(mg, l, &P));
  PetscCall(PetscFree5(P.pb, P.cnt, P.order, P.slot, P.maxw));
  PetscCall(CoarseRows(mg, l, ia, &P));
  PetscCall(PetscFree3(P.lr, P.lb, P.la));
  PetscFunctionReturn(0);
}

/* Frees the arrays of a distributed level that a replicated level replaces. */
static PetscErrorCode LevelFreeDistributed(Level *L)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(L->rp));
  free(L->col); /* Rows: malloc */
  free(L->w);
  L->col = NULL;
  L->w   = NULL;
  PetscCall(PetscFree2(L->idiag, L->mid));
  PetscCall(PetscFree(L->brow));
  PetscCall(PetscFree(L->slo));
  PetscCall(PetscFree(L->shi));
  PetscCall(PetscFree(L->bnd));
  PetscCall(PetscFree(L->blk));
  PetscCall(PetscFree2(L->gnb, L->goff));
  PetscFunctionReturn(0);
}

static PetscErrorCode GlobalIds(PgConductivity c, const Level *L, PetscInt off, int64_t **idsp);

/* The sorted distinct values of a[0..m) in place; returns their number. */
static PetscInt SortedDistinct64(PetscInt m, int64_t *a)
{
  PetscInt u = 0;

  if (PetscSortInt64(m, (PetscInt64 *)a)) return -1;
  for (PetscInt i = 0; i < m; i++)
    if (!u || a[i] != a[u - 1]) a[u++] = a[i];
  return u;
}

/* Position of v in the sorted a[0..m), -1 if absent. */
static PetscInt Find64(int64_t v, const int64_t *a, PetscInt m)
{
  PetscInt lo = 0, hi = m;

  while (lo < hi) {
    const PetscInt mid = (lo + hi) / 2;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < m && a[lo] == v ? lo : -1;
}

/* A level's rows handed from a group's host to the host of the merged group. */
typedef struct {
  PetscInt n;
  int64_t  ne;
  int64_t  lo_owner, hi_owner; /* the ranks that hold the rows below and above the sender's after the merge */
  int64_t  off;                /* the global number of the first row */
  int64_t  span[2];            /* the ranks whose slabs the rows cover: span[0] .. span[1] - 1 */
  int      gnb[3];
  int32_t *rlen, *blk;
  int64_t *gcol; /* columns in global numbers */
  float   *w;
  double  *bnd;
} RowsOut;

/* Level l's rows as RowsOut in global numbers (own rows from `off`). */
static PetscErrorCode RowsOutOf(PgConductivity c, const Level *L, PetscInt off, RowsOut *o)
{
  int64_t *ids;

  PetscFunctionBeginUser;
  o->n   = L->n;
  o->ne  = L->rp[L->n];
  o->off = off;
  for (int e = 0; e < 3; e++) o->gnb[e] = L->gnb[0][e];
  PetscCall(GlobalIds(c, L, off, &ids));
  PetscCall(PetscMalloc5(PetscMax(o->n, 1), &o->rlen, PetscMax(o->n, 1), &o->blk, PetscMax(o->ne, 1), &o->gcol,
                         PetscMax(o->ne, 1), &o->w, PetscMax(o->n, 1), &o->bnd));
  for (PetscInt i = 0; i < o->n; i++) {
    o->rlen[i] = L->rp[i + 1] - L->rp[i];
    o->blk[i]  = (int32_t)(L->blk[i] - L->goff[0]);
    o->bnd[i]  = L->bnd[i];
  }
  for (int64_t e = 0; e < o->ne; e++) {
    o->gcol[e] = ids[L->col[e]];
    o->w[e]    = L->w[e];
  }
  PetscCall(PetscFree(ids));
  PetscFunctionReturn(0);
}

static PetscErrorCode RowsOutFree(RowsOut *o)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree5(o->rlen, o->blk, o->gcol, o->w, o->bnd));
  PetscFunctionReturn(0);
}

/* A RowsOut sent to (RowsOutSend) or received from (RowsOutRecv, from any rank: the host does not
   know its children's hosts) the host of a merged group; tags tag .. tag + 5. */
static PetscErrorCode RowsOutSend(PgConductivity c, RowsOut *o, int to, int tag)
{
  int64_t head[10] = {o->n,       o->ne,      o->lo_owner, o->hi_owner, o->off,
                      o->span[0], o->span[1], o->gnb[0],   o->gnb[1],   o->gnb[2]};

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Send(head, 10, MPI_INT64_T, to, tag, c->sub));
  PetscCallMPI(MPI_Send(o->rlen, (int)o->n, MPI_INT32_T, to, tag + 1, c->sub));
  PetscCallMPI(MPI_Send(o->blk, (int)o->n, MPI_INT32_T, to, tag + 2, c->sub));
  PetscCallMPI(MPI_Send(o->bnd, (int)o->n, MPI_DOUBLE, to, tag + 3, c->sub));
  PetscCallMPI(MPI_Send(o->gcol, (int)o->ne, MPI_INT64_T, to, tag + 4, c->sub));
  PetscCallMPI(MPI_Send(o->w, (int)o->ne, MPI_FLOAT, to, tag + 5, c->sub));
  PetscFunctionReturn(0);
}

static PetscErrorCode RowsOutRecv(PgConductivity c, RowsOut *o, int tag, int *from)
{
  int64_t    head[10];
  MPI_Status st;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Recv(head, 10, MPI_INT64_T, MPI_ANY_SOURCE, tag, c->sub, &st));
  *from       = st.MPI_SOURCE;
  o->n        = (PetscInt)head[0];
  o->ne       = head[1];
  o->lo_owner = head[2];
  o->hi_owner = head[3];
  o->off      = head[4];
  o->span[0]  = head[5];
  o->span[1]  = head[6];
  for (int e = 0; e < 3; e++) o->gnb[e] = (int)head[7 + e];
  PetscCheck(o->ne < INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "conductivity: a coarse level too large to merge");
  PetscCall(PetscMalloc5(PetscMax(o->n, 1), &o->rlen, PetscMax(o->n, 1), &o->blk, PetscMax(o->ne, 1), &o->gcol,
                         PetscMax(o->ne, 1), &o->w, PetscMax(o->n, 1), &o->bnd));
  PetscCallMPI(MPI_Recv(o->rlen, (int)o->n, MPI_INT32_T, *from, tag + 1, c->sub, MPI_STATUS_IGNORE));
  PetscCallMPI(MPI_Recv(o->blk, (int)o->n, MPI_INT32_T, *from, tag + 2, c->sub, MPI_STATUS_IGNORE));
  PetscCallMPI(MPI_Recv(o->bnd, (int)o->n, MPI_DOUBLE, *from, tag + 3, c->sub, MPI_STATUS_IGNORE));
  PetscCallMPI(MPI_Recv(o->gcol, (int)o->ne, MPI_INT64_T, *from, tag + 4, c->sub, MPI_STATUS_IGNORE));
  PetscCallMPI(MPI_Recv(o->w, (int)o->ne, MPI_FLOAT, *from, tag + 5, c->sub, MPI_STATUS_IGNORE));
  PetscFunctionReturn(0);
}

/* The ghosts of rows in global numbers (own rows [off, off + n)) from the new neighbours lo and hi:
 * each column outside the own rows is a ghost of the neighbour whose range holds it; the distinct
 * ghosts are requested from that neighbour, whose send list becomes the request. *lcol: the columns
 * as level columns (own rows 0..n-1, then the lower ghosts, then the upper ones). */
static PetscErrorCode MergedGhosts(PgConductivity c, Level *L, int lo, int hi, PetscInt off, int64_t ne,
                                   const int64_t *gcol, int32_t **lcol)
{
  int64_t  own[2] = {off, off + L->n}, rlo[2] = {0, 0}, rhi[2] = {0, 0}, *want[2], *req[2];
  PetscInt nw[2] = {0, 0}, nreq[2] = {0, 0};
  int      cnt[2], rcnt[2]         = {0, 0};
  int32_t *col;

  PetscFunctionBeginUser;
  PetscCall(ExchangeWith(c, lo, hi, MPI_INT64_T, own, 2, own, 2, rlo, 2, rhi, 2));
  PetscCall(PetscMalloc2(PetscMax(ne, 1), &want[0], PetscMax(ne, 1), &want[1]));
  for (int64_t e = 0; e < ne; e++) {
    const int64_t g = gcol[e];
    if (g >= own[0] && g < own[1]) continue;
    if (g >= rlo[0] && g < rlo[1]) want[0][nw[0]++] = g;
    else {
      PetscCheck(g >= rhi[0] && g < rhi[1], PETSC_COMM_SELF, PETSC_ERR_PLIB,
                 "conductivity: a merged coarse row couples to a rank that is not a neighbour");
      want[1][nw[1]++] = g;
    }
  }
  for (int s = 0; s < 2; s++) {
    nw[s] = SortedDistinct64(nw[s], want[s]);
    PetscCheck(nw[s] >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "conductivity: sort failed");
    cnt[s] = (int)nw[s];
  }
  PetscCall(ExchangeWith(c, lo, hi, MPI_INT, &cnt[0], 1, &cnt[1], 1, &rcnt[0], 1, &rcnt[1], 1));
  nreq[0] = rcnt[0];
  nreq[1] = rcnt[1];
  PetscCall(PetscMalloc2(PetscMax(nreq[0], 1), &req[0], PetscMax(nreq[1], 1), &req[1]));
  PetscCall(ExchangeWith(c, lo, hi, MPI_INT64_T, want[0], nw[0], want[1], nw[1], req[0], nreq[0], req[1], nreq[1]));
  L->nlo  = nw[0];
  L->nhi  = nw[1];
  L->nslo = nreq[0];
  L->nshi = nreq[1];
  PetscCall(PetscMalloc1(PetscMax(L->nslo, 1), &L->slo));
  PetscCall(PetscMalloc1(PetscMax(L->nshi, 1), &L->shi));
  for (int s = 0; s < 2; s++)
    for (PetscInt i = 0; i < nreq[s]; i++) {
      PetscCheck(req[s][i] >= own[0] && req[s][i] < own[1], PETSC_COMM_SELF, PETSC_ERR_PLIB,
                 "conductivity: a neighbour requested a row this rank does not hold");
      (s == 0 ? L->slo : L->shi)[i] = (int32_t)(req[s][i] - off);
    }
  PetscCall(PetscMalloc1(PetscMax(ne, 1), &col));
  for (int64_t e = 0; e < ne; e++) {
    const int64_t g = gcol[e];
    if (g >= own[0] && g < own[1]) col[e] = (int32_t)(g - off);
    else if (g >= rlo[0] && g < rlo[1]) col[e] = (int32_t)(L->n + Find64(g, want[0], nw[0]));
    else col[e] = (int32_t)(L->n + L->nlo + Find64(g, want[1], nw[1]));
  }
  PetscCall(PetscFree2(req[0], req[1]));
  PetscCall(PetscFree2(want[0], want[1]));
  *lcol = col;
  PetscFunctionReturn(0);
}

/* The rows of a followed by those of b (b's block grid stacked above a's along z) as one RowsOut. */
static PetscErrorCode RowsOutCat(const RowsOut *a, const RowsOut *b, RowsOut *m)
{
  const int64_t shift = (int64_t)a->gnb[0] * a->gnb[1] * a->gnb[2];

  PetscFunctionBeginUser;
  PetscCheck(!b->n || (b->gnb[0] == a->gnb[0] && b->gnb[1] == a->gnb[1]), PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "conductivity: the block grids of two merged slabs differ across the slab");
  m->n  = a->n + b->n;
  m->ne = a->ne + b->ne;
  PetscCheck(m->ne < INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "conductivity: a merged coarse level too large");
  m->gnb[0] = a->gnb[0];
  m->gnb[1] = a->gnb[1];
  m->gnb[2] = a->gnb[2] + (b->n ? b->gnb[2] : 0);
  PetscCall(PetscMalloc5(PetscMax(m->n, 1), &m->rlen, PetscMax(m->n, 1), &m->blk, PetscMax(m->ne, 1), &m->gcol,
                         PetscMax(m->ne, 1), &m->w, PetscMax(m->n, 1), &m->bnd));
  PetscCall(PetscArraycpy(m->rlen, a->rlen, a->n));
  PetscCall(PetscArraycpy(m->rlen + a->n, b->rlen, b->n));
  PetscCall(PetscArraycpy(m->blk, a->blk, a->n));
  for (PetscInt i = 0; i < b->n; i++) m->blk[a->n + i] = (int32_t)(b->blk[i] + shift);
  PetscCall(PetscArraycpy(m->bnd, a->bnd, a->n));
  PetscCall(PetscArraycpy(m->bnd + a->n, b->bnd, b->n));
  PetscCall(PetscArraycpy(m->gcol, a->gcol, a->ne));
  PetscCall(PetscArraycpy(m->gcol + a->ne, b->gcol, b->ne));
  PetscCall(PetscArraycpy(m->w, a->w, a->ne));
  PetscCall(PetscArraycpy(m->w + a->ne, b->w, b->ne));
  PetscFunctionReturn(0);
}

/* Level L rebuilt from the rows m (global numbers from off), with the neighbours lo and hi. */
static PetscErrorCode LevelFromRows(PgConductivity c, Level *L, const RowsOut *m, PetscInt off, int lo, int hi)
{
  int32_t *lcol = NULL, *rp;
  Rows     R;

  PetscFunctionBeginUser;
  PetscCall(LevelFreeDistributed(L));
  L->n  = m->n;
  L->lo = lo;
  L->hi = hi;
  PetscCall(PetscMalloc1(PetscMax(m->n, 1), &L->bnd));
  PetscCall(PetscMalloc1(PetscMax(m->n, 1), &L->blk));
  PetscCall(PetscArraycpy(L->bnd, m->bnd, m->n));
  PetscCall(PetscArraycpy(L->blk, m->blk, m->n));
  PetscCall(LevelGroups(L, 1, (const int(*)[3])m->gnb));
  PetscCall(MergedGhosts(c, L, lo, hi, off, m->ne, m->gcol, &lcol));
  PetscCall(RowsCreate(&R, (size_t)m->ne + 16));
  PetscCall(PetscMalloc1(L->n + 1, &rp));
  rp[0] = 0;
  for (PetscInt i = 0, e = 0; i < L->n; i++) {
    const size_t start = R.nnz;
    PetscCall(RowsReserve(&R, (size_t)m->rlen[i]));
    for (int32_t k = 0; k < m->rlen[i]; k++, e++)
      if (lcol[e] != i) RowsAdd(&R, start, lcol[e], m->w[e]);
    rp[i + 1] = (int32_t)R.nnz;
  }
  PetscCall(RowsFinish(&R, L, rp, 1));
  PetscCall(PetscFree(lcol));
  PetscFunctionReturn(0);
}

/* Agglomeration of level l. Aggregates never cross a slab face, so once every slab of a level is one
 * block thick, coarsening stops along z while the level is still large (weak scaling along z: the
 * global problem grows with the ranks), and the errors that are smooth along z are left to a
 * replicated level that grows with the ranks. Instead the groups of slabs (at first one rank's slab
 * each; a group's rows are held by one rank, its host) pair up along the chain (groups 0 and 1, 2 and
 * 3, ...; an odd last one stays alone) and each pair's rows go to one rank, which holds both from
 * this level down (the lower group's rows first, the upper group's block grid stacked above), so
 * that the next coarsening aggregates across the old face.
 *
 * Placement. The merged group's host is the rank just below the face that the merge removes, the last
 * rank of the lower group's span of slabs (at the first merge of two slabs, the lower rank itself).
 * Every face between two neighbouring ranks is removed once, so every rank hosts at most one merged
 * level (the in-order numbering of a binary tree): the merged levels are spread over the ranks
 * instead of piling up on the ranks at multiples of 2^k, and no rank's messages grow with the
 * number of levels. A rank knows that it becomes a host from one scan (mg->gend: its face is still
 * a face between groups; the group ending at it is even-numbered and has a partner above), and
 * receives the two groups' rows from whichever ranks host them (any source, one tag per side).
 * Groups that give their rows away keep empty levels below this one (they take part in the
 * collectives) and, at each visit, send their restricted residual to the host and receive the
 * correction. The neighbours change: the rows are renumbered through global numbers and the ghosts
 * requested from the new neighbours. Communication: once, each group's rows of this level (~40 bytes
 * per row); per visit, the residuals and corrections (4 or 8 bytes per row each way). Memory per
 * active rank stays bounded: merging doubles the rows, the next coarsening divides them by about
 * eight. */
static PetscErrorCode Agglomerate(MG *mg, int l)
{
  PgConductivity c    = mg->c;
  Level         *L    = &mg->lev[l];
  const int      rank = mg->rank, act = L->active ? 1 : 0;
  int64_t        v[3] = {act, L->n, mg->gend}, before[3] = {0, 0, 0};
  int            nact = 0, host = MPI_PROC_NULL, olo = MPI_PROC_NULL, ohi = MPI_PROC_NULL, from[2];
  PetscBool      lower, upper, hosts;
  const PetscInt nown = L->n;
  RowsOut        mine, got[2], merged;
  const RowsOut *side[2];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(&act, &nact, 1, MPI_INT, MPI_SUM, c->sub));
  PetscCallMPI(MPI_Exscan(v, before, 3, MPI_INT64_T, MPI_SUM, c->sub));
  if (rank == 0) before[0] = before[1] = before[2] = 0;
  /* before[0]: the groups below this rank's (its index if it hosts one); before[2]: the group faces
     below this rank, i.e. the index of the group that ends at this rank if mg->gend */
  lower = act && before[0] % 2 == 0 && before[0] + 1 < nact ? PETSC_TRUE : PETSC_FALSE;
  upper = act && before[0] % 2 == 1 ? PETSC_TRUE : PETSC_FALSE;
  hosts = mg->gend && before[2] % 2 == 0 && before[2] + 1 < nact ? PETSC_TRUE : PETSC_FALSE;
  if (lower) host = mg->span[1] - 1;
  else if (upper) host = mg->span[0] - 1;
  else if (act) host = rank;
  PetscCheck(!lower || (host == rank) == hosts, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "conductivity: the host of a merged group disagrees with the scan of the group faces");
  PetscCall(ExchangeWith(c, L->lo, L->hi, MPI_INT, &host, 1, &host, 1, &olo, 1, &ohi, 1));
  PetscCall(RowsOutOf(c, L, (PetscInt)before[1], &mine));
  mine.lo_owner = olo;
  mine.hi_owner = ohi;
  mine.span[0]  = mg->span[0];
  mine.span[1]  = mg->span[1];
  if ((lower && host != rank) || upper) { /* the rows go to the host; this rank's level becomes empty */
    PetscCall(RowsOutSend(c, &mine, host, upper ? 101 : 91));
    mine.n = mine.ne = 0;
    mine.gnb[0] = mine.gnb[1] = mine.gnb[2] = 1;
  }
  side[0] = side[1] = &mine;
  from[0] = from[1] = MPI_PROC_NULL;
  if (hosts) { /* the lower group's rows (unless they are this rank's own), then the upper group's */
    if (!lower) {
      PetscCall(RowsOutRecv(c, &got[0], 91, &from[0]));
      side[0] = &got[0];
    }
    PetscCall(RowsOutRecv(c, &got[1], 101, &from[1]));
    side[1]     = &got[1];
    mg->gend    = 0; /* the face above this rank is gone */
    mg->span[0] = (int)side[0]->span[0];
    mg->span[1] = (int)side[1]->span[1];
    PetscCall(RowsOutCat(side[0], side[1], &merged));
    PetscCall(LevelFromRows(c, L, &merged, (PetscInt)side[0]->off,
                            side[0]->lo_owner == rank ? MPI_PROC_NULL : (int)side[0]->lo_owner,
                            side[1]->hi_owner == rank ? MPI_PROC_NULL : (int)side[1]->hi_owner));
    PetscCall(RowsOutFree(&merged));
  } else if (act && !lower && !upper) { /* alone: the same rows, new neighbours */
    PetscCall(LevelFromRows(c, L, &mine, (PetscInt)before[1], olo == rank ? MPI_PROC_NULL : olo,
                            ohi == rank ? MPI_PROC_NULL : ohi));
  } else PetscCall(LevelFromRows(c, L, &mine, (PetscInt)before[1], MPI_PROC_NULL, MPI_PROC_NULL)); /* empty */
  PetscCall(RowsOutFree(&mine));
  for (int s = 0; s < 2; s++)
    if (from[s] != MPI_PROC_NULL) PetscCall(RowsOutFree(&got[s]));
  L->active        = hosts || (act && !lower && !upper) ? PETSC_TRUE : PETSC_FALSE;
  L->merged        = PETSC_TRUE;
  L->nfine         = nown;
  L->merge_to      = (lower && host != rank) || upper ? host : MPI_PROC_NULL;
  L->merge_from[0] = from[0];
  L->merge_from[1] = from[1];
  L->nmerged[0]    = from[0] != MPI_PROC_NULL ? got[0].n : 0;
  L->nmerged[1]    = from[1] != MPI_PROC_NULL ? got[1].n : 0;
  mg->nagg++;
  PetscFunctionReturn(0);
}

/* The rows of every rank gathered (ntot rows of glen entries, columns gcol and weights gw in global
 * numbers, nnz entries in all) as one level's rows R and row pointers *rpp. */
static PetscErrorCode ReplicatedRows(PetscInt ntot, const int32_t *glen, const int32_t *gcol, const float *gw,
                                     size_t nnz, Rows *R, int32_t **rpp)
{
  int32_t *rp;

  PetscFunctionBeginUser;
  PetscCall(RowsCreate(R, nnz + 16));
  PetscCall(PetscMalloc1(ntot + 1, &rp));
  rp[0] = 0;
  for (PetscInt i = 0, e = 0; i < ntot; i++) {
    const size_t start = R->nnz;
    for (int32_t k = 0; k < glen[i]; k++, e++)
      if (gcol[e] != i) RowsAdd(R, start, gcol[e], gw[e]);
    rp[i + 1] = (int32_t)R->nnz;
  }
  *rpp = rp;
  PetscFunctionReturn(0);
}

/* The global numbers (from off) of the owned rows of L and of its ghost slots (from the neighbours). */
static PetscErrorCode GlobalIds(PgConductivity c, const Level *L, PetscInt off, int64_t **idsp)
{
  int64_t *ids, *sbuf;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(PetscMax(L->n + L->nlo + L->nhi, 1), &ids));
  PetscCall(PetscMalloc1(PetscMax(L->nslo + L->nshi, 1), &sbuf));
  for (PetscInt i = 0; i < L->n; i++) ids[i] = off + i;
  for (PetscInt i = 0; i < L->nslo; i++) sbuf[i] = off + L->slo[i];
  for (PetscInt i = 0; i < L->nshi; i++) sbuf[L->nslo + i] = off + L->shi[i];
  PetscCall(ExchangeWith(c, L->lo, L->hi, MPI_INT64_T, sbuf, L->nslo, sbuf + L->nslo, L->nshi, ids + L->n, L->nlo,
                         ids + L->n + L->nlo, L->nhi));
  PetscCall(PetscFree(sbuf));
  *idsp = ids;
  PetscFunctionReturn(0);
}

/* Every rank's rows (cnt) and entries (ecnt) with their displacements, and block grids. */
static PetscErrorCode GatherCounts(PgConductivity c, const Level *L, int ne, int *cnt, int *dsp, int *ecnt, int *edsp,
                                   int (*gnb)[3])
{
  int nl = (int)L->n, size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(c->sub, &size));
  PetscCallMPI(MPI_Allgather(&nl, 1, MPI_INT, cnt, 1, MPI_INT, c->sub));
  PetscCallMPI(MPI_Allgather(&ne, 1, MPI_INT, ecnt, 1, MPI_INT, c->sub));
  PetscCallMPI(MPI_Allgather(L->gnb[0], 3, MPI_INT, gnb, 3, MPI_INT, c->sub));
  dsp[0] = edsp[0] = 0;
  for (int r = 0; r < size; r++) {
    dsp[r + 1]  = dsp[r] + cnt[r];
    edsp[r + 1] = edsp[r] + ecnt[r];
  }
  PetscFunctionReturn(0);
}

/* The first replicated level L's gather at each visit goes to the ranks with rows of it only (cnt,
   dsp: every rank's rows): the others have no rows to correct, so they skip the replicated levels. */
static PetscErrorCode GatherMembers(MG *mg, Level *L, const int *cnt, const int *dsp)
{
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_split(mg->c->sub, cnt[mg->rank] > 0 ? 0 : MPI_UNDEFINED, mg->rank, &mg->rsub));
  mg->rsplit = PETSC_TRUE;
  PetscCall(PetscMalloc2(mg->size, &L->rcount, mg->size, &L->rdispl));
  mg->nrsub = 0;
  for (int r = 0; r < mg->size; r++)
    if (cnt[r] > 0) {
      L->rcount[mg->nrsub] = cnt[r];
      L->rdispl[mg->nrsub] = dsp[r];
      mg->nrsub++;
    }
  PetscFunctionReturn(0);
}

/* Level l gathered on every rank (global numbering: the ranks' rows in order; once, at most
   -cond_mg_replicate rows): from here on the cycle is computed redundantly by the ranks that hold
   rows of level l (mg->rsub), without communication but one gather among them of the restricted
   residual per visit of level l (after the hand-overs, if the level was merged: MGSetUp merges it
   once more first, so that these ranks host no other merged level); the other ranks skip these
   levels in the cycle. The deep levels of a W-cycle are visited often and are small; distributed,
   each visit costs a few halo exchanges, i.e. synchronisations of the ranks. The previous level's
   aggregates are renumbered into the global rows by the caller (+ own_off, L->mbase) unless its
   rows were handed over. */
static PetscErrorCode Replicate(MG *mg, int l, PetscInt *own_off)
{
  PgConductivity c = mg->c;
  Level         *L = &mg->lev[l];
  int            size, rank;
  PetscInt       off = 0, ntot = 0, nloc = L->n;
  int64_t       *ids = NULL;
  int           *cnt, *dsp, *ecnt, *edsp, ne    = (int)L->rp[L->n], (*gnb)[3];
  int32_t       *rlen, *glen, *gcol, *mcol, *rp = NULL, *grp, *gblk, *blk;
  float         *gw;
  double        *gbnd;
  Rows           R;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(c->sub, &size));
  PetscCallMPI(MPI_Comm_rank(c->sub, &rank));
  PetscCallMPI(MPI_Exscan(&nloc, &off, 1, MPIU_INT, MPI_SUM, c->sub));
  if (rank == 0) off = 0;
  PetscCallMPI(MPI_Allreduce(&nloc, &ntot, 1, MPIU_INT, MPI_SUM, c->sub));
  PetscCall(GlobalIds(c, L, off, &ids));
  /* every rank's rows, columns in global numbers, block grids */
  PetscCall(PetscMalloc4(size, &cnt, size + 1, &dsp, size, &ecnt, size + 1, &edsp));
  PetscCall(PetscMalloc1(size, &gnb));
  PetscCall(GatherCounts(c, L, ne, cnt, dsp, ecnt, edsp, gnb));
  PetscCall(PetscMalloc3(PetscMax(L->n, 1), &rlen, PetscMax(ne, 1), &mcol, PetscMax(L->n, 1), &blk));
  for (PetscInt i = 0; i < L->n; i++) {
    rlen[i] = L->rp[i + 1] - L->rp[i];
    blk[i]  = L->blk[i] - (int32_t)L->goff[0];
  }
  for (int e = 0; e < ne; e++) mcol[e] = (int32_t)ids[L->col[e]];
  PetscCall(PetscMalloc1(PetscMax(ntot, 1), &glen));
  PetscCall(PetscMalloc1(PetscMax(edsp[size], 1), &gcol));
  PetscCall(PetscMalloc1(PetscMax(edsp[size], 1), &gw));
  PetscCall(PetscMalloc1(PetscMax(ntot, 1), &gbnd));
  PetscCall(PetscMalloc1(PetscMax(ntot, 1), &gblk));
  PetscCallMPI(MPI_Allgatherv(rlen, (int)L->n, MPI_INT32_T, glen, cnt, dsp, MPI_INT32_T, c->sub));
  PetscCallMPI(MPI_Allgatherv(blk, (int)L->n, MPI_INT32_T, gblk, cnt, dsp, MPI_INT32_T, c->sub));
  PetscCallMPI(MPI_Allgatherv(L->bnd, (int)L->n, MPI_DOUBLE, gbnd, cnt, dsp, MPI_DOUBLE, c->sub));
  PetscCallMPI(MPI_Allgatherv(mcol, ne, MPI_INT32_T, gcol, ecnt, edsp, MPI_INT32_T, c->sub));
  PetscCallMPI(MPI_Allgatherv(L->w, ne, MPI_FLOAT, gw, ecnt, edsp, MPI_FLOAT, c->sub));
  PetscCall(PetscFree3(rlen, mcol, blk));
  PetscCall(PetscFree(ids));
  /* the replicated rows: couplings of a row to itself (a periodic wrap onto the same slab) carry no
     current and are dropped; two ghost slots of one row (both neighbours the same rank) are merged */
  PetscCall(ReplicatedRows(ntot, glen, gcol, gw, (size_t)edsp[size], &R, &rp));
  PetscCall(PetscMalloc1(PetscMax(ntot, 1), &grp));
  for (int r = 0; r < size; r++)
    for (int i = dsp[r]; i < dsp[r + 1]; i++) grp[i] = r;
  /* the level becomes the replicated one */
  PetscCall(LevelFreeDistributed(L));
  L->n   = ntot;
  L->nlo = L->nhi = L->nslo = L->nshi = 0;
  L->replicated                       = PETSC_TRUE;
  L->bnd                              = gbnd;
  L->grp                              = grp;
  PetscCall(LevelGroups(L, size, (const int(*)[3])gnb));
  PetscCall(PetscMalloc1(PetscMax(ntot, 1), &L->blk));
  for (PetscInt i = 0; i < ntot; i++) L->blk[i] = (int32_t)(L->goff[grp[i]] + gblk[i]);
  PetscCall(RowsFinish(&R, L, rp, 1));
  PetscCall(GatherMembers(mg, L, cnt, dsp));
  PetscCall(PetscFree(glen));
  PetscCall(PetscFree(gcol));
  PetscCall(PetscFree(gw));
  PetscCall(PetscFree(gblk));
  PetscCall(PetscFree4(cnt, dsp, ecnt, edsp));
  PetscCall(PetscFree(gnb));
  L->mbase = off;
  *own_off = off;
  PetscFunctionReturn(0);
}

/* The sequential matrix (nc rows) of n entries (row ri, column ci, value vv), duplicates summed;
 * nnz (nc) is work space. */
static PetscErrorCode AssembleSeqAIJ(PetscInt nc, int n, const PetscInt *ri, const PetscInt *ci, const double *vv,
                                     PetscInt *nnz, Mat *A)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < nc; i++) nnz[i] = 0;
  for (int e = 0; e < n; e++) nnz[ri[e]]++;
  PetscCall(MatCreateSeqAIJ(PETSC_COMM_SELF, nc, nc, 0, nnz, A));
  PetscCall(MatSetOption(*A, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
  for (int e = 0; e < n; e++) PetscCall(MatSetValue(*A, ri[e], ci[e], vv[e], ADD_VALUES));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

/* The LU factorisation (nested dissection ordering) of the coarsest level's operator A (nc
 * unknowns) in mg->kc; a failed factorisation is an error. */
static PetscErrorCode CoarsestFactor(MG *mg, Mat A, PetscInt nc)
{
  PC             pc;
  Mat            F;
  MatFactorError ferr;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(PETSC_COMM_SELF, &mg->kc));
  PetscCall(KSPSetType(mg->kc, KSPPREONLY));
  PetscCall(KSPGetPC(mg->kc, &pc));
  PetscCall(PCSetType(pc, PCLU));
  PetscCall(PCFactorSetMatOrderingType(pc, MATORDERINGND));
  PetscCall(KSPSetOperators(mg->kc, A, A));
  PetscCall(KSPSetUp(mg->kc));
  PetscCall(PCFactorGetMatrix(pc, &F));
  PetscCall(MatFactorGetError(F, &ferr));
  PetscCheck(ferr == MAT_FACTOR_NOERROR, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "conductivity: the LU factorisation of the coarsest level (%d unknowns) failed (MatFactorError %d)",
             (int)nc, (int)ferr);
  PetscFunctionReturn(0);
}

/* The entries (row, column, value) of the coarsest level's rows of every rank (global numbers: this
 * rank's rows from off, its columns ids), to every rank (size 1: this rank's alone). */
static PetscErrorCode GatherEntries(MPI_Comm comm, const Level *L, PetscInt off, const int64_t *ids, int size,
                                    const int *ecount, const int *edispl, PetscInt *ri, PetscInt *ci, double *vv)
{
  const int ne = (int)(L->n + L->rp[L->n]);
  PetscInt *mr, *mc, e = 0;
  double   *mv;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(PetscMax(ne, 1), &mr, PetscMax(ne, 1), &mc, PetscMax(ne, 1), &mv));
  for (PetscInt i = 0; i < L->n; i++) {
    mr[e]   = off + i;
    mc[e]   = off + i;
    mv[e++] = 1.0 / L->idiag[i];
    for (int32_t k = L->rp[i]; k < L->rp[i + 1]; k++) {
      mr[e]   = off + i;
      mc[e]   = (PetscInt)ids[L->col[k]];
      mv[e++] = -(double)L->w[k];
    }
  }
  if (size > 1) {
    PetscCallMPI(MPI_Allgatherv(mr, ne, MPIU_INT, ri, ecount, edispl, MPIU_INT, comm));
    PetscCallMPI(MPI_Allgatherv(mc, ne, MPIU_INT, ci, ecount, edispl, MPIU_INT, comm));
    PetscCallMPI(MPI_Allgatherv(mv, ne, MPI_DOUBLE, vv, ecount, edispl, MPI_DOUBLE, comm));
  } else {
    PetscCall(PetscArraycpy(ri, mr, ne));
    PetscCall(PetscArraycpy(ci, mc, ne));
    PetscCall(PetscArraycpy(vv, mv, ne));
  }
  PetscCall(PetscFree3(mr, mc, mv));
  PetscFunctionReturn(0);
}

/* The coarsest level gathered on every rank and factored (LU, nested dissection ordering). */
static PetscErrorCode CoarsestSetUp(MG *mg)
{
  Level         *L = &mg->lev[mg->nlev - 1];
  PgConductivity c = mg->c;
  int            size, rank;
  PetscInt       off = 0, nc = 0, nloc = L->n;
  int64_t       *ids, *sbuf;
  int           *ecount, *edispl, ne;
  PetscInt      *ri, *ci, *nnz;
  double        *vv;
  Mat            A;

  PetscFunctionBeginUser;
  /* replicated, it is factored by the ranks that cycle the replicated levels (mg->rsub); distributed,
     it is gathered and factored on the ranks that hold rows of it only (after the merges a few): the
     others have no rows to correct */
  if (L->replicated && mg->rsplit && mg->rsub == MPI_COMM_NULL) mg->csub = MPI_COMM_NULL; /* skips the levels */
  else if (L->replicated || mg->size == 1) mg->csub = PETSC_COMM_SELF; /* already here: as on one rank */
  else PetscCallMPI(MPI_Comm_split(c->sub, L->n > 0 ? 0 : MPI_UNDEFINED, mg->rank, &mg->csub));
  if (mg->csub == MPI_COMM_NULL) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_size(mg->csub, &size));
  PetscCallMPI(MPI_Comm_rank(mg->csub, &rank));
  mg->ncsub = size;
  if (size > 1) PetscCallMPI(MPI_Exscan(&nloc, &off, 1, MPIU_INT, MPI_SUM, mg->csub));
  if (rank == 0) off = 0;
  if (size > 1) PetscCallMPI(MPI_Allreduce(&nloc, &nc, 1, MPIU_INT, MPI_SUM, mg->csub));
  else nc = nloc;
  mg->coff = off;
  /* global numbers of the ghost columns */
  PetscCall(PetscMalloc2(PetscMax(L->n + L->nlo + L->nhi, 1), &ids, PetscMax(L->nslo + L->nshi, 1), &sbuf));
  for (PetscInt i = 0; i < L->n; i++) ids[i] = off + i;
  for (PetscInt i = 0; i < L->nslo; i++) sbuf[i] = off + L->slo[i];
  for (PetscInt i = 0; i < L->nshi; i++) sbuf[L->nslo + i] = off + L->shi[i];
  if (!L->replicated)
    PetscCall(ExchangeWith(c, L->lo, L->hi, MPI_INT64_T, sbuf, L->nslo, sbuf + L->nslo, L->nshi, ids + L->n, L->nlo,
                           ids + L->n + L->nlo, L->nhi));
  /* the entries (row, column, value) of every rank, to every rank */
  ne = (int)(L->n + L->rp[L->n]);
  PetscCall(PetscMalloc2(size, &ecount, size + 1, &edispl));
  if (size > 1) PetscCallMPI(MPI_Allgather(&ne, 1, MPI_INT, ecount, 1, MPI_INT, mg->csub));
  else ecount[0] = ne;
  edispl[0] = 0;
  for (int r = 0; r < size; r++) edispl[r + 1] = edispl[r] + ecount[r];
  PetscCall(PetscMalloc4(PetscMax(edispl[size], 1), &ri, PetscMax(edispl[size], 1), &ci, PetscMax(edispl[size], 1), &vv,
                         PetscMax(nc, 1), &nnz));
  PetscCall(GatherEntries(mg->csub, L, off, ids, size, ecount, edispl, ri, ci, vv));
  PetscCall(AssembleSeqAIJ(nc, edispl[size], ri, ci, vv, nnz, &A));
  PetscCall(PetscFree4(ri, ci, vv, nnz));
  PetscCall(CoarsestFactor(mg, A, nc));
  PetscCall(MatDestroy(&A));
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, nc, &mg->cb));
  PetscCall(VecDuplicate(mg->cb, &mg->cx));
  /* the counts of the gather of the coarsest residual */
  PetscCall(PetscMalloc2(size, &mg->ccount, size, &mg->cdispl));
  {
    int nl = (int)L->n;
    if (size > 1) PetscCallMPI(MPI_Allgather(&nl, 1, MPI_INT, mg->ccount, 1, MPI_INT, mg->csub));
    else mg->ccount[0] = nl;
    mg->cdispl[0] = 0;
    for (int r = 1; r < size; r++) mg->cdispl[r] = mg->cdispl[r - 1] + mg->ccount[r - 1];
  }
  PetscCall(PetscFree2(ecount, edispl));
  PetscCall(PetscFree2(ids, sbuf));
  PetscFunctionReturn(0);
}

/* ---- lanes: the sweeps on threads ---- */

/* The lanes of the fine level: one per thread, at least two planes each, their inner faces on
   multiples of 2^A planes, so that the blocks of levels 1 .. A, and so their aggregates, never cross
   a face: A as large as 4 while the lanes stay balanced (at least 8 blocks of 2^A planes per lane, or
   the planes divide evenly). */
static PetscErrorCode LanesSetUp(MG *mg)
{
  const int nzl = (int)mg->nzl;
  int       T = PetscMax(PetscMin(mg->c->grid->threads, nzl / 2), 1), A = 1;

  PetscFunctionBeginUser;
  while (T > 1 && A < 4 && (nzl / (T << (A + 1)) >= 8 || nzl % (T << (A + 1)) == 0)) A++;
  PetscCall(PetscMalloc1(T + 1, &mg->lz));
  for (;;) { /* nearest multiples of 2^A to the even split; fewer lanes if two of them meet */
    PetscBool ok = PETSC_TRUE;
    mg->lz[0]    = 0;
    mg->lz[T]    = nzl;
    for (int t = 1; t < T; t++) {
      mg->lz[t] = (int)PetscFloorReal((double)t * nzl / T / (1 << A) + 0.5) * (1 << A);
      ok        = ok && mg->lz[t] > mg->lz[t - 1] ? PETSC_TRUE : PETSC_FALSE;
    }
    if (ok && mg->lz[T] > mg->lz[T - 1]) break;
    T--;
  }
  mg->nlane   = T;
  mg->lanelev = T > 1 ? A : 0;
  PetscCall(PetscCalloc1(8 * (size_t)T, &mg->part));
  if (T > 1) PetscCall(PetscMalloc1(PetscMax(mg->n, 1), &mg->zs)); /* only the lanes' outer planes are touched */
  PetscFunctionReturn(0);
}

/* First row of level L (rows in block order, one block grid) at or above block plane bz */
static PetscInt FirstRowOfPlane(const Level *L, int64_t bz)
{
  const int64_t nbxy = (int64_t)L->gnb[0][0] * L->gnb[0][1];
  PetscInt      lo = 0, hi = L->n;

  while (lo < hi) {
    const PetscInt m = (lo + hi) / 2;
    if (L->blk[m] / nbxy < bz) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/* The lanes of the new level l while its blocks are known: lane t's rows are its planes' blocks
   (block planes lz[t] >> l ..), and the rows it shares are those of its first and last block plane.
   Only below lanelev, on a level of this rank's slab alone. */
static PetscErrorCode LevelLanes(MG *mg, int l)
{
  Level    *L = &mg->lev[l];
  const int T = mg->nlane;

  PetscFunctionBeginUser;
  if (T == 1 || l >= mg->lanelev || L->replicated || L->merged || L->ngrp != 1) PetscFunctionReturn(0);
  PetscCall(PetscMalloc1(T + 1, &L->lrow));
  PetscCall(PetscMalloc1(4 * T, &L->lsnap));
  for (int t = 0; t < T; t++) L->lrow[t] = (int32_t)FirstRowOfPlane(L, mg->lz[t] >> l);
  L->lrow[T] = (int32_t)L->n;
  for (int t = 0; t < T; t++) {
    L->lsnap[4 * t]     = L->lrow[t];
    L->lsnap[4 * t + 1] = (int32_t)FirstRowOfPlane(L, (mg->lz[t] >> l) + 1);
    L->lsnap[4 * t + 2] = (int32_t)FirstRowOfPlane(L, (mg->lz[t + 1] - 1) >> l);
    L->lsnap[4 * t + 3] = L->lrow[t + 1];
  }
  PetscFunctionReturn(0);
}

/* Lane t's rows' entries ordered for its sweeps: the lane's earlier rows (up to mid), its later rows
   (up to out), then the columns outside the lane (the other lanes' rows, the ghosts), each group in
   increasing order; without lanes this is the order of RowsFinish. Returns 0; 1 if a row couples to
   another lane's row that is not one of the rows it shares (lsnap: what the backward sweep reads
   from zs), 2 without memory (no PETSc call: it runs on the lanes' threads). */
static int ColumnsInLane(Level *L, int t, int32_t most)
{
  const int32_t lo = L->lrow[t], hi = L->lrow[t + 1];
  int32_t      *tc  = (int32_t *)malloc(sizeof(int32_t) * (size_t)most);
  float        *tw  = (float *)malloc(sizeof(float) * (size_t)most);
  int           bad = 0;

  if (!tc || !tw) bad = 2;
  for (int32_t k = lo; k < hi && !bad; k++) {
    int32_t n = 0;
    for (int g = 0; g < 3; g++) {
      if (g == 1) L->mid[k] = L->rp[k] + n;
      if (g == 2) L->out[k] = L->rp[k] + n;
      for (int32_t e = L->rp[k]; e < L->rp[k + 1]; e++) {
        const int32_t j   = L->col[e];
        const int     grp = j >= lo && j < hi ? (j < k ? 0 : 1) : 2;
        if (grp != g) continue;
        tc[n]   = j;
        tw[n++] = L->w[e];
        if (g == 2 && j < L->n) {
          const int u = j < lo ? t - 1 : t + 1; /* a neighbouring lane's shared row */
          bad         = bad || !(u >= 0 && u < L->nl &&
                         ((j >= L->lsnap[4 * u] && j < L->lsnap[4 * u + 1]) ||
                          (j >= L->lsnap[4 * u + 2] && j < L->lsnap[4 * u + 3])));
        }
      }
    }
    memcpy(L->col + L->rp[k], tc, sizeof(int32_t) * (size_t)n);
    memcpy(L->w + L->rp[k], tw, sizeof(float) * (size_t)n);
  }
  free(tc);
  free(tw);
  return bad;
}

/* The entries of every row in its lane's order, and the rows with columns outside their lane (brow,
   by lane). */
static PetscErrorCode ColumnsInLanes(Level *L)
{
  int32_t most = 1;
  int     bad  = 0;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < L->n; k++) most = PetscMax(most, L->rp[k + 1] - L->rp[k]);
  PetscCall(PetscMalloc1(PetscMax(L->n, 1), &L->out));
#pragma omp parallel for schedule(static, 1) num_threads(L->nl) if (L->nl > 1) reduction(| : bad)
  for (int t = 0; t < L->nl; t++) bad |= ColumnsInLane(L, t, most);
  PetscCheck(!(bad & 2), PETSC_COMM_SELF, PETSC_ERR_MEM, "conductivity: out of memory ordering a level's rows");
  PetscCheck(!bad, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "conductivity: a coarse row couples to another lane's row off its face (lanes and blocks disagree)");
  PetscCall(PetscFree(L->brow));
  L->nbrow = 0;
  for (PetscInt k = 0; k < L->n; k++) L->nbrow += L->out[k] < L->rp[k + 1];
  PetscCall(PetscMalloc1(PetscMax(L->nbrow, 1), &L->brow));
  PetscCall(PetscMalloc1(L->nl + 1, &L->lbrow));
  L->nbrow = 0;
  for (int t = 0; t < L->nl; t++) {
    L->lbrow[t] = L->nbrow;
    for (int32_t k = L->lrow[t]; k < L->lrow[t + 1]; k++)
      if (L->out[k] < L->rp[k + 1]) L->brow[L->nbrow++] = k;
  }
  L->lbrow[L->nl] = L->nbrow;
  PetscFunctionReturn(0);
}

/* After the hierarchy: the levels swept by lanes (those of LevelLanes that stayed on this rank's
   slab), the others one lane; every cycled level's entries in lane order. */
static PetscErrorCode LanesFinish(MG *mg)
{
  PetscFunctionBeginUser;
  for (int l = 1; l < mg->nlev; l++) {
    Level *L = &mg->lev[l];
    if (L->lrow && (L->replicated || L->merged || l == mg->nlev - 1)) {
      PetscCall(PetscFree(L->lrow));
      PetscCall(PetscFree(L->lsnap));
    }
    L->nl = L->lrow ? mg->nlane : 1;
    if (!L->lrow) {
      PetscCall(PetscMalloc1(2, &L->lrow));
      L->lrow[0] = 0;
      L->lrow[1] = (int32_t)L->n;
    }
    if (l == mg->nlev - 1) continue; /* solved by LU */
    PetscCall(ColumnsInLanes(L));
    if (L->nl > 1) PetscCall(PetscMalloc1(PetscMax(L->n + L->nlo + L->nhi, 1), &L->zs));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode MGDestroy(MG *mg)
{
  PetscFunctionBeginUser;
  for (int l = 1; l < mg->nlev; l++) {
    Level *L = &mg->lev[l];
    PetscCall(PetscFree(L->rp));
    free(L->col); /* Rows: malloc */
    free(L->w);
    PetscCall(PetscFree2(L->idiag, L->mid));
    PetscCall(PetscFree(L->brow));
    PetscCall(PetscFree2(L->gnb, L->goff));
    PetscCall(PetscFree(L->grp));
    PetscCall(PetscFree2(L->rcount, L->rdispl));
    PetscCall(PetscFree(L->bnd));
    PetscCall(PetscFree(L->slo));
    PetscCall(PetscFree(L->shi));
    PetscCall(PetscFree(L->agg));
    PetscCall(PetscFree(L->blk));
    PetscCall(PetscFree3(L->r, L->z, L->sbuf));
    PetscCall(PetscFree(L->z0));
    PetscCall(PetscFree(L->lrow));
    PetscCall(PetscFree(L->lsnap));
    PetscCall(PetscFree(L->out));
    PetscCall(PetscFree(L->lbrow));
    PetscCall(PetscFree(L->zs));
  }
  PetscCall(PetscFree(mg->lz));
  PetscCall(PetscFree(mg->part));
  PetscCall(PetscFree(mg->zs));
  PetscCall(PetscFree(mg->pstart)); /* map, pos, agg: the object's work arrays */
  PetscCall(PetscFree2(mg->glo, mg->ghi));
  PetscCall(KSPDestroy(&mg->kc));
  PetscCall(VecDestroy(&mg->cb));
  PetscCall(VecDestroy(&mg->cx));
  PetscCall(PetscFree2(mg->ccount, mg->cdispl));
  PetscCall(PetscFree(mg->fb));
  if (mg->rsplit && mg->rsub != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&mg->rsub));
  if (mg->csub != MPI_COMM_NULL && mg->csub != PETSC_COMM_SELF) PetscCallMPI(MPI_Comm_free(&mg->csub));
  PetscFunctionReturn(0);
}

/* -cond_mg_float: one buffer for the largest message of the preconditioner, sent and received */
static PetscErrorCode FloatScratch(MG *mg)
{
  PetscInt n = mg->pstart[1] + mg->n - mg->pstart[mg->nzl - 1] + mg->nlo + mg->nhi;

  PetscFunctionBeginUser;
  if (!mg->c->mg_float) PetscFunctionReturn(0);
  for (int l = 1; l < mg->nlev; l++) {
    const Level *L = &mg->lev[l];
    n              = PetscMax(n, L->nslo + L->nshi + L->nlo + L->nhi);
    n              = PetscMax(n, L->nfine + L->nmerged[0] + L->nmerged[1]);
    if (L->replicated) n = PetscMax(n, L->n);
  }
  if (mg->ccount) /* the coarsest level's gather (CoarsestSetUp's counts) */
    n = PetscMax(n, mg->cdispl[mg->ncsub - 1] + mg->ccount[mg->ncsub - 1]);
  PetscCall(PetscMalloc1(n, &mg->fb));
  PetscFunctionReturn(0);
}

/* -cond_mg_view: the lanes and the levels (collective on the solver's ranks) */
static PetscErrorCode MGView(MG *mg)
{
  PgConductivity c     = mg->c;
  const int      size  = mg->size;
  int            swept = 0;

  PetscFunctionBeginUser;
  while (swept < mg->lanelev && (swept == 0 || mg->lev[swept].nl > 1)) swept++;
  PetscCall(
    PetscPrintf(c->sub, "conductivity multigrid: %d levels, alpha %g, theta %g\n", mg->nlev, c->mg_alpha, c->mg_theta));
  if (mg->nlane > 1)
    PetscCall(PetscPrintf(c->sub, "  rank 0: %d lanes of planes (threads), levels 0-%d swept by lanes\n", mg->nlane,
                          swept - 1));
  else PetscCall(PetscPrintf(c->sub, "  rank 0: one lane of planes (one thread)\n"));
  for (int l = 0; l < mg->nlev; l++) {
    int act = l == 0 || mg->lev[l].active, nact = mg->lev[l].replicated ? mg->nrsub : size;
    if (l && !mg->lev[l].replicated) PetscCallMPI(MPI_Allreduce(&act, &nact, 1, MPI_INT, MPI_SUM, c->sub));
    PetscCall(
      PetscPrintf(c->sub, "  level %d: %" PRId64 " unknowns%s%s on %d ranks, %.2f off-diagonal entries per row\n", l,
                  mg->nglob[l], l && mg->lev[l].replicated ? " (replicated)" : "", l == mg->nlev - 1 ? " (LU)" : "",
                  nact, l ? (double)mg->nnzglob[l] / (double)PetscMax(mg->nglob[l], 1) : 0.0));
  }
  PetscFunctionReturn(0);
}

/* The hierarchy: level 1 from the voxels, then coarser until the coarsest is small or stops shrinking. */
static PetscErrorCode MGSetUp(MG *mg)
{
  PgConductivity c = mg->c;
  int            size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(c->sub, &size));
  mg->size = size;
  PetscCallMPI(MPI_Comm_rank(c->sub, &mg->rank));
  mg->gend    = 1;
  mg->span[0] = mg->rank;
  mg->span[1] = mg->rank + 1;
  PetscCall(FineSetUp(mg));
  PetscCall(LanesSetUp(mg));
  PetscCall(FineCoarsen(mg));
  PetscCall(LevelLanes(mg, 1));
  mg->nlev = 2;
  {
    int64_t v[2] = {mg->n, mg->lev[1].n}, w[2];
    PetscCallMPI(MPI_Allreduce(v, w, 2, MPI_INT64_T, MPI_SUM, c->sub));
    mg->nglob[0] = w[0];
    mg->nglob[1] = w[1];
  }
  for (PetscBool stalled = PETSC_FALSE;;) {
    const int l = mg->nlev - 1;
    Level    *L = &mg->lev[l];
    int64_t   n;
    /* small levels, and levels where every slab has become one block, go to every rank */
    if (!L->replicated && size > 1 && (mg->nglob[l] <= c->mg_replicate || stalled)) {
      PetscInt off;
      int32_t *agg   = l == 1 ? mg->agg : mg->lev[l - 1].agg;
      PetscInt nprev = l == 1 ? mg->n : mg->lev[l - 1].n;
      /* after merges, one more: the ranks that gather the replicated level then host no other merged
         level (its host is the rank below a face no merge has removed yet) */
      if (c->mg_agglomerate && mg->nagg > 0) PetscCall(Agglomerate(mg, l));
      PetscCall(Replicate(mg, l, &off));
      if (!L->merged || L->merge_to == MPI_PROC_NULL) /* rows handed over keep their local numbers */
        for (PetscInt k = 0; k < nprev; k++) agg[k] += (int32_t)off;
      stalled = PETSC_FALSE;
      continue;
    }
    if (mg->nglob[l] <= c->mg_coarse || mg->nlev == MG_MAX_LEVELS || stalled) break;
    if (!L->replicated && size > 1 && c->mg_agglomerate) { /* slabs one block thick: pairs of slabs merge */
      int thin = L->active && L->gnb[0][2] <= 1, act = L->active, v[2] = {thin, act}, w[2];
      PetscCallMPI(MPI_Allreduce(v, w, 2, MPI_INT, MPI_SUM, c->sub));
      if (w[0] > 0 && w[1] > 1) PetscCall(Agglomerate(mg, l));
    }
    PetscCall(CoarseCoarsen(mg, l));
    PetscCall(LevelLanes(mg, l + 1));
    PetscCall(PetscFree(L->bnd));
    PetscCall(PetscFree(L->blk));
    PetscCall(PetscFree(L->grp));
    mg->nlev++;
    n = mg->lev[l + 1].n;
    if (mg->lev[l + 1].replicated) mg->nglob[l + 1] = n;
    else PetscCallMPI(MPI_Allreduce(&n, &mg->nglob[l + 1], 1, MPI_INT64_T, MPI_SUM, c->sub));
    stalled = mg->nglob[l + 1] > 0.9 * mg->nglob[l] ? PETSC_TRUE : PETSC_FALSE; /* e.g. every slab one block */
  }
  for (int l = 1; l < mg->nlev; l++) {
    Level  *L   = &mg->lev[l];
    int64_t nnz = L->rp[L->n];
    if (!L->merged) L->nfine = L->n;
    PetscCall(PetscMalloc3(PetscMax(PetscMax(L->n, L->nfine), 1), &L->r,
                           PetscMax(PetscMax(L->n + L->nlo + L->nhi, L->nfine), 1), &L->z,
                           PetscMax(L->nslo + L->nshi, 1), &L->sbuf));
    PetscCall(PetscArrayzero(L->z, PetscMax(PetscMax(L->n + L->nlo + L->nhi, L->nfine), 1)));
    if (c->mg_gamma > 1) PetscCall(PetscMalloc1(PetscMax(L->n, 1), &L->z0));
    if (L->replicated) mg->nnzglob[l] = nnz;
    else PetscCallMPI(MPI_Allreduce(&nnz, &mg->nnzglob[l], 1, MPI_INT64_T, MPI_SUM, c->sub));
    PetscCall(PetscFree(L->blk));
    PetscCall(PetscFree(L->bnd));
    PetscCall(PetscFree(L->grp));
  }
  PetscCall(CoarsestSetUp(mg));
  PetscCall(FloatScratch(mg));
  PetscCall(LanesFinish(mg));
  if (c->mg_view) PetscCall(MGView(mg));
  PetscFunctionReturn(0);
}

/* -cond_mg_bench N: this rank's CPU time (not wall: the machine may be shared) of N products with the
   operator and N applications of the preconditioner, per unknown */
static PetscErrorCode MGBench(MG *mg, Mat A, PC pc, Vec b, Vec x)
{
  struct timespec t0, t1, t2;
  Vec             y;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(x, &y));
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (PetscInt i = 0; i < mg->c->mg_bench; i++) PetscCall(MatMult(A, x, y));
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  for (PetscInt i = 0; i < mg->c->mg_bench; i++) PetscCall(PCApply(pc, b, y));
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t2);
  PetscCall(
    PetscPrintf(PETSC_COMM_SELF, "  rank cpu ns per unknown: product %.1f, preconditioner %.1f\n",
                ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / mg->c->mg_bench / PetscMax(mg->n, 1),
                ((t2.tv_sec - t1.tv_sec) * 1e9 + (t2.tv_nsec - t1.tv_nsec)) / mg->c->mg_bench / PetscMax(mg->n, 1)));
  PetscCall(VecDestroy(&y));
  PetscFunctionReturn(0);
}

/* The axis coordinate of unknown k of plane zl */
static inline int AxisCoordinate(const MG *mg, PetscInt zl, PetscInt k)
{
  const Problem *p = mg->p;
  return p->axis == 2   ? (int)(p->z0 + zl)
         : p->axis == 1 ? mg->pos[k] / (int32_t)mg->W - 1
                        : mg->pos[k] % (int32_t)mg->W - 1;
}

/* Whether CG may stop at x_{k+1} for M's sake. Each step lowers the power P (MGCurrents) by
   gamma_k = alpha_k (r_k, z_k), exactly the drop of the squared energy norm of the error, so the
   error left after step k is E = sum_{j > k} gamma_j (Hestenes & Stiefel; Strakos & Tichy 2002).
   With the observed ratio q of successive gammas (the larger of the last two) the tail is
   gamma_k q / (1 - q); it is trusted only while CG converges fast (q <= 1/2) and counted twice.
   M from the power is off by E / P* <= E / (P_{k+1} - E) relative. */
static PetscBool EnergyConverged(double m_rtol, const double gamma[3], int known, double power)
{
  if (!(m_rtol > 0) || known < 3 || !(gamma[1] > 0) || !(gamma[2] > 0)) return PETSC_FALSE;
  const double q = PetscMax(gamma[0] / gamma[1], gamma[1] / gamma[2]);
  if (!(q <= 0.5)) return PETSC_FALSE;
  const double tail = 2 * gamma[0] * q / (1 - q);
  return power - tail > 0 && tail <= m_rtol * (power - tail) ? PETSC_TRUE : PETSC_FALSE;
}

/* The start of CG: r = b - A x (b = gb on the inlet face), p = q = 0; the stopping residual and the
 * power of x: x.Ax - 2 b.x + sum b = sum b - b.x - x.r. */
static PetscErrorCode CGStart(MG *mg, double *x, double *r, double *pv, double *q, double *tol, double *power)
{
  const int T       = mg->nlane;
  double    init[4] = {0, 0, 0, 0};

  PetscFunctionBeginUser;
  PetscCall(FineHalo(mg, x));
  (void)FineApplyDotLanes(mg, x, r);
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
  for (int t = 0; t < T; t++) { /* by lanes: the vectors' pages are first touched by the threads that use them */
    double *s = mg->part + 8 * t;
    s[0] = s[1] = s[2] = s[3] = 0;
    for (PetscInt zl = mg->lz[t]; zl < mg->lz[t + 1]; zl++)
      for (PetscInt k = mg->pstart[zl]; k < mg->pstart[zl + 1]; k++) {
        const double bk = AxisCoordinate(mg, zl, k) == 0 ? mg->gb : 0.0;
        r[k]            = bk - r[k];
        s[0] += bk * bk;
        s[1] += bk;
        s[2] += bk * x[k];
        s[3] += x[k] * r[k];
        pv[k] = q[k] = 0;
      }
  }
  for (int t = 0; t < T; t++)
    for (int i = 0; i < 4; i++) init[i] = t ? init[i] + mg->part[8 * t + i] : mg->part[i];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, init, 4, MPI_DOUBLE, MPI_SUM, mg->c->sub));
  *tol   = PetscMax(mg->c->rtol * PetscSqrtReal(init[0]), 1e-50);
  *power = init[1] - init[2] - init[3];
  PetscFunctionReturn(0);
}

/* q = B r, with the previous iteration's update of x and r (step alpha along p) folded into the first
 * sweep; sums = {r.r, r.q} over all ranks. */
static PetscErrorCode CGPrecondition(MG *mg, double alpha, double *x, const double *pv, double *r, double *q,
                                     double sums[2])
{
  double t0 = CpuTime(), t1, t2;

  PetscFunctionBeginUser;
  PetscCall(PetscArrayzero(mg->lev[1].r, mg->lev[1].nfine));
  sums[0] = FineForwardLanes(mg, PETSC_TRUE, alpha, x, pv, r, q, mg->lev[1].r);
  t1      = CpuTime();
  PetscCall(FineCoarseCorrection(mg, q));
  t2      = CpuTime();
  sums[1] = FineBackwardLanes(mg, r, q);
  mg->tk[0] += t1 - t0;
  mg->tk[1] += t2 - t1;
  mg->tk[2] += CpuTime() - t2;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, mg->c->sub));
  PetscFunctionReturn(0);
}

/* Why CG stops after this preconditioned residual (sums = {r.r, r.B r}), or 0 to go on. */
static int CGStopReason(const double sums[2], double residual, double tol, PetscInt it, PetscInt maxit)
{
  if (PetscIsInfOrNanReal(sums[0]) || PetscIsInfOrNanReal(sums[1])) return KSP_DIVERGED_NANORINF;
  if (residual <= tol) return KSP_CONVERGED_RTOL;
  if (it >= maxit) return KSP_DIVERGED_ITS;
  if (sums[1] <= 0) return KSP_DIVERGED_INDEFINITE_PC;
  return 0;
}

/* Preconditioned CG with the multigrid, fused: per iteration one product (with p.q), one pass of
   the CG update folded into the forward sweep (with r.r), the cycle, the backward sweep (with r.z)
   and the update of p, and 2 allreduces; four vectors x, r, p, q (z overwrites q). The same
   iterates as PETSc's KSPCG with the unpreconditioned norm and its default test
   ||r|| <= max(rtol ||b||, abstol) with abstol = 1e-50; the reasons are KSPConvergedReason's. With
   m_rtol > 0 it also stops, with PG_CONDUCTIVITY_CONVERGED_M, once M is known to m_rtol relative
   (EnergyConverged): M from the power needs far fewer iterations than the residual test. */
static PetscErrorCode FusedCG(MG *mg, double *x, PgConductivityResult *res)
{
  PgConductivity c = mg->c;
  const PetscInt n = mg->n;
  double        *r, *pv, *q, sums[2], rho = 0, rho_old = 0, alpha = 0, pq, tol = 0, power = 0;
  double         gamma[3] = {0, 0, 0}; /* the power's drop in the last three steps, newest first */
  PetscInt       it = 0, maxit = 10000;
  PetscBool      monitor = PETSC_FALSE;
  int            reason  = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetInt(NULL, "cond_", "-ksp_max_it", &maxit, NULL));
  PetscCall(PetscOptionsHasName(NULL, "cond_", "-ksp_monitor", &monitor));
  PetscCall(WorkGet(c, WORK_R, sizeof(double) * (size_t)n, &r));
  PetscCall(WorkGet(c, WORK_P, sizeof(double) * (size_t)n, &pv));
  PetscCall(WorkGet(c, WORK_Q, sizeof(double) * (size_t)n, &q));
  PetscCall(CGStart(mg, x, r, pv, q, &tol, &power));
  for (;;) {
    PetscCall(CGPrecondition(mg, alpha, x, pv, r, q, sums));
    res->residual = PetscSqrtReal(sums[0]);
    if (monitor) PetscCall(PetscPrintf(c->sub, "  %3d CG residual norm %.12e\n", (int)it, res->residual));
    if ((reason = CGStopReason(sums, res->residual, tol, it, maxit))) break;
    rho_old = rho;
    rho     = sums[1];
    {
      const double beta = it ? rho / rho_old : 0.0, t0 = CpuTime();
      const int    T = mg->nlane;
#pragma omp parallel for schedule(static, 1) num_threads(T) if (T > 1)
      for (int t = 0; t < T; t++)
        for (PetscInt k = mg->pstart[mg->lz[t]]; k < mg->pstart[mg->lz[t + 1]]; k++) pv[k] = q[k] + beta * pv[k];
      mg->tk[4] += CpuTime() - t0;
    }
    const double t0 = CpuTime();
    PetscCall(FineHalo(mg, pv));
    pq = FineApplyDotLanes(mg, pv, q);
    mg->tk[3] += CpuTime() - t0;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &pq, 1, MPI_DOUBLE, MPI_SUM, c->sub));
    if (!(pq > 0)) {
      reason = PetscIsInfOrNanReal(pq) ? KSP_DIVERGED_NANORINF : KSP_DIVERGED_INDEFINITE_MAT;
      break;
    }
    alpha    = rho / pq;
    gamma[2] = gamma[1];
    gamma[1] = gamma[0];
    gamma[0] = alpha * rho;
    power -= gamma[0];
    it++;
    if (EnergyConverged(c->m_rtol, gamma, (int)PetscMin(it, 3), power)) { /* x_{k+1}, then stop */
      for (PetscInt k = 0; k < n; k++) x[k] += alpha * pv[k];
      reason = PG_CONDUCTIVITY_CONVERGED_M;
      break;
    }
  }
  if (c->mg_view)
    PetscCall(PetscPrintf(
      c->sub,
      "  rank 0 CPU seconds: forward sweeps %.3f, coarse corrections %.3f, backward sweeps %.3f, products %.3f, p updates %.3f (coarsest solves %.3f)\n",
      mg->tk[0], mg->tk[1], mg->tk[2], mg->tk[3], mg->tk[4], mg->tlu));
  res->iterations = it;
  res->reason     = reason;
  res->converged  = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* The currents through the outlet and the inlet face and the dissipated power of the potential x:
   P = x.Ax - 2 b.x + sum b (sum over the links of c (dphi)^2 and over the face links of gb (dphi)^2).
   For the solution P equals the current (unit potential difference); for an approximation it
   exceeds it by the squared energy norm of the error, so M from P is second-order accurate
   (docs/solver.md). */
static PetscErrorCode MGCurrents(MG *mg, const double *x, double flux[3])
{
  const Problem *p = mg->p;
  double        *ax;

  PetscFunctionBeginUser;
  PetscCall(WorkGet(mg->c, WORK_Q, sizeof(double) * (size_t)mg->n, &ax));
  PetscCall(FineHalo(mg, x));
  flux[2] += FineApplyDotLanes(mg, x, ax);
  for (PetscInt zl = 0; zl < mg->nzl; zl++)
    for (PetscInt k = mg->pstart[zl]; k < mg->pstart[zl + 1]; k++) {
      const int ca = AxisCoordinate(mg, zl, k);
      if (ca == p->n[p->axis] - 1) flux[0] += p->gb * x[k];
      if (ca == 0) {
        flux[1] += p->gb * (1.0 - x[k]);
        flux[2] += p->gb * (1.0 - 2 * x[k]);
      }
    }
  PetscFunctionReturn(0);
}

static PetscErrorCode SolveMG(PgConductivity c, Problem *p, PgConductivityResult *res, double flux[3])
{
  MG      mg;
  double *xv, t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&mg, sizeof mg));
  mg.rsub = mg.csub = MPI_COMM_NULL;
  mg.c              = c;
  mg.p              = p;
  PetscCall(MGSetUp(&mg));
  PetscCall(PetscFree(p->mask)); /* the map replaces it */
  if (c->mg_view) PetscCall(ViewPeak(c, "after the hierarchy"));
  res->seconds_setup += MPI_Wtime() - t0;
  if (!c->mg_ksp) {
    PetscCall(WorkGet(c, WORK_X, sizeof(double) * (size_t)mg.n, &xv));
#pragma omp parallel for schedule(static, 1) num_threads(mg.nlane) if (mg.nlane > 1)
    for (int t = 0; t < mg.nlane; t++)
      for (PetscInt zl = mg.lz[t]; zl < mg.lz[t + 1]; zl++)
        for (PetscInt k = mg.pstart[zl]; k < mg.pstart[zl + 1]; k++)
          xv[k] = 1.0 - (AxisCoordinate(&mg, zl, k) + 0.5) / p->n[p->axis]; /* the linear profile: the initial guess */
    t0 = MPI_Wtime();
    PetscCall(FusedCG(&mg, xv, res));
    res->seconds_solve = MPI_Wtime() - t0;
    if (c->mg_view) {
      PetscCall(PetscPrintf(c->sub, "  rank 0 wall seconds: components and hierarchy %.3f, solve %.3f\n",
                            res->seconds_setup, res->seconds_solve));
      PetscCall(ViewPeak(c, "after the solve"));
    }
  } else { /* PETSc's KSP with the multigrid as a shell preconditioner: any -cond_ksp_ and -cond_pc_ option */
    Mat A;
    Vec x, b;
    PC  pc;
    t0 = MPI_Wtime();
    PetscCall(MatCreateShell(c->sub, mg.n, mg.n, (PetscInt)p->total, (PetscInt)p->total, &mg, &A));
    PetscCall(MatShellSetOperation(A, MATOP_MULT, (void (*)(void))FineMult));
    PetscCall(MatShellSetOperation(A, MATOP_GET_DIAGONAL, (void (*)(void))FineGetDiagonal));
    PetscCall(MatSetOption(A, MAT_SPD, PETSC_TRUE));
    PetscCall(NewSolver(c, A));
    PetscCall(KSPGetPC(c->ksp, &pc));
    PetscCall(PCSetType(pc, PCSHELL));
    PetscCall(PCShellSetContext(pc, &mg));
    PetscCall(PCShellSetApply(pc, MGApply));
    PetscCall(PCShellSetName(pc, "plurigauss aggregation multigrid on the labels"));
    res->seconds_setup += MPI_Wtime() - t0;
    PetscCall(SetUpSolver(c, res));
    PetscCall(MatCreateVecs(A, &x, &b));
    {
      double *bv;
      PetscCall(VecGetArray(x, &xv));
      PetscCall(VecGetArray(b, &bv));
      for (PetscInt zl = 0; zl < mg.nzl; zl++)
        for (PetscInt k = mg.pstart[zl]; k < mg.pstart[zl + 1]; k++) {
          const int ca = AxisCoordinate(&mg, zl, k);
          xv[k]        = 1.0 - (ca + 0.5) / p->n[p->axis];
          bv[k]        = ca == 0 ? p->gb : 0.0;
        }
      PetscCall(VecRestoreArray(x, &xv));
      PetscCall(VecRestoreArray(b, &bv));
    }
    if (c->mg_bench) PetscCall(MGBench(&mg, A, pc, b, x));
    PetscCall(Solve(c, b, x, res));
    PetscCall(VecGetArray(x, &xv));
    PetscCall(KSPDestroy(&c->ksp));
    PetscCall(VecDestroy(&b));
    PetscCall(MatDestroy(&A));
    PetscCall(MGCurrents(&mg, xv, flux));
    PetscCall(VecRestoreArray(x, &xv));
    PetscCall(VecDestroy(&x));
    PetscCall(MGDestroy(&mg));
    PetscFunctionReturn(0);
  }
  PetscCall(MGCurrents(&mg, xv, flux));
  PetscCall(MGDestroy(&mg));
  PetscFunctionReturn(0);
}

/* ============================== BoomerAMG on the assembled matrix ============================== */

/* Insertion sort of one row's (column, value) pairs: at most 7. */
static void SortRowAIJ(PetscInt *col, PetscScalar *val, int n)
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

/* The global numbers of the unknowns with one ghost plane each side (-1: none), numbers of the
   neighbours' planes from one halo exchange (collective on the grid's communicator). */
static PetscErrorCode GlobalNumbers(PgConductivity c, const Problem *p, PetscInt **ids)
{
  const PgGrid g     = c->grid;
  const size_t plane = PgGridPlane(g), nvox = PgGridLocalVoxels(g);
  PetscInt     next = (PetscInt)p->first;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(plane * (size_t)(p->nzl + 2), ids));
  for (size_t i = 0; i < plane; i++) (*ids)[i] = (*ids)[plane * (size_t)(p->nzl + 1) + i] = -1;
  for (size_t i = 0; i < nvox; i++) (*ids)[plane + i] = p->mask[plane + i] ? next++ : -1;
  PetscCall(PgGridHaloExchange(g, *ids, plane * sizeof(PetscInt), 1, p->wrap[2]));
  PetscFunctionReturn(0);
}

/* The dissipated power x.Ax - 2 b.x + sum b of an assembled problem (see MGCurrents) */
static PetscErrorCode AssembledPower(Mat A, Vec b, Vec x, double *power)
{
  Vec         ax;
  PetscScalar xax, bx, sb;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(x, &ax));
  PetscCall(MatMult(A, x, ax));
  PetscCall(VecDot(x, ax, &xax));
  PetscCall(VecDot(b, x, &bx));
  PetscCall(VecSum(b, &sb));
  PetscCall(VecDestroy(&ax));
  *power = PetscRealPart(xax - 2 * bx + sb);
  PetscFunctionReturn(0);
}

/* The CSR rows (ri, cj, av) of this rank's unknowns: the 7-point stencil, Dirichlet faces along
 * the axis (1 at the inlet, 0 at the outlet), insulating or periodic sides; bv the right-hand side,
 * xv the initial guess (the linear profile). */
static void AssembleRows(PgGrid g, const Problem *p, const PetscInt *ids, PetscInt *ri, PetscInt *cj, PetscScalar *av,
                         PetscScalar *bv, PetscScalar *xv)
{
  const int       nx = p->n[0], ny = p->n[1], nzl = p->nzl;
  const size_t    plane = PgGridPlane(g);
  const PetscInt *id    = ids + plane;
  int64_t         r = 0, nnz = 0;

  ri[0] = 0;
  for (int zl = 0; zl < nzl; zl++)
    for (int y = 0; y < ny; y++)
      for (int x0 = 0; x0 < nx; x0++) {
        const size_t i = PgGridIndex(g, zl, y, x0);
        if (id[i] < 0) continue;
        const int    crd[3] = {x0, y, (int)p->z0 + zl};
        PetscInt    *col    = cj + nnz;
        PetscScalar *val = av + nnz, diag = 0, rhs = 0;
        int          m = 1;
        for (int e = 0; e < 3; e++)
          for (int s = -1; s <= 1; s += 2) {
            int q[3] = {crd[0], crd[1], crd[2]};
            q[e] += s;
            if (q[e] < 0 || q[e] >= p->n[e]) {
              if (e == p->axis) { /* Dirichlet face: 1 at the inlet, 0 at the outlet */
                diag += p->gb;
                if (s < 0) rhs += p->gb;
                continue;
              }
              if (!p->wrap[e]) continue; /* insulating side */
              q[e] = (q[e] + p->n[e]) % p->n[e];
            }
            PetscInt nb;
            if (e == 2) { /* another plane: this slab or a ghost plane (periodic wrap included) */
              const int dzl = zl + s;
              nb            = (dzl == -1 || dzl == nzl) ? ids[(size_t)(dzl + 1) * plane + (size_t)q[1] * nx + q[0]]
                                                        : id[PgGridIndex(g, dzl, q[1], q[0])];
            } else nb = id[PgGridIndex(g, zl, q[1], q[0])];
            if (nb < 0) continue;
            diag += p->cond[e];
            col[m] = nb;
            val[m] = -p->cond[e];
            m++;
          }
        col[0] = id[i];
        val[0] = diag;
        SortRowAIJ(col, val, m);
        nnz += m;
        bv[r]   = rhs;
        xv[r]   = 1.0 - (crd[p->axis] + 0.5) / p->n[p->axis]; /* linear profile: the initial guess */
        ri[++r] = (PetscInt)nnz;
      }
}

/* BoomerAMG's usual 3D settings (PMIS coarsening, ext+i interpolation, at most 4 entries per
 * interpolation row, one level of aggressive coarsening): measured 1.5x faster than GAMG's default
 * and half its memory on the 300^3 paper structures; any of them can be overridden */
static PetscErrorCode BoomerAMGDefaults(void)
{
  const char *defaults[][2] = {{"-cond_pc_hypre_boomeramg_strong_threshold", "0.5"},
                               {"-cond_pc_hypre_boomeramg_coarsen_type", "PMIS"},
                               {"-cond_pc_hypre_boomeramg_interp_type", "ext+i"},
                               {"-cond_pc_hypre_boomeramg_P_max", "4"},
                               {"-cond_pc_hypre_boomeramg_agg_nl", "1"}};

  PetscFunctionBeginUser;
  for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++) {
    PetscBool set;
    PetscCall(PetscOptionsHasName(NULL, NULL, defaults[k][0], &set));
    if (!set) PetscCall(PetscOptionsSetValue(NULL, defaults[k][0], defaults[k][1]));
  }
  PetscFunctionReturn(0);
}

/* This rank's currents through the outlet (flux[0]) and the inlet (flux[1]) from the solution x. */
static PetscErrorCode FaceCurrents(PgGrid g, const Problem *p, const PetscInt *ids, Vec x, double flux[3])
{
  const int          nx = p->n[0], ny = p->n[1], nzl = p->nzl;
  const PetscInt    *id = ids + PgGridPlane(g);
  const PetscScalar *q;
  int64_t            r;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(x, &q));
  r = 0;
  for (int zl = 0; zl < nzl; zl++)
    for (int y = 0; y < ny; y++)
      for (int x0 = 0; x0 < nx; x0++) {
        const size_t i = PgGridIndex(g, zl, y, x0);
        if (id[i] < 0) continue;
        const int ca = p->axis == 0 ? x0 : p->axis == 1 ? y : (int)p->z0 + zl;
        if (ca == p->n[p->axis] - 1) flux[0] += p->gb * PetscRealPart(q[r]);
        if (ca == 0) flux[1] += p->gb * (1.0 - PetscRealPart(q[r]));
        r++;
      }
  PetscCall(VecRestoreArrayRead(x, &q));
  PetscFunctionReturn(0);
}

static PetscErrorCode SolveAMG(PgConductivity c, const Problem *p, const PetscInt *ids, PgConductivityResult *res,
                               double flux[3])
{
  const PgGrid g = c->grid;
  PetscInt    *ri, *cj;
  PetscScalar *av, *bv, *xv;
  Mat          A;
  Vec          x, b;
  PC           pc;
  int64_t      nloc = p->nloc;
  double       t0   = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(nloc + 1, &ri, 7 * PetscMax(nloc, 1), &cj, 7 * PetscMax(nloc, 1), &av));
  PetscCall(PetscMalloc2(PetscMax(nloc, 1), &bv, PetscMax(nloc, 1), &xv));
  AssembleRows(g, p, ids, ri, cj, av, bv, xv);
  PetscCall(MatCreateMPIAIJWithArrays(c->sub, (PetscInt)nloc, (PetscInt)nloc, (PetscInt)p->total, (PetscInt)p->total,
                                      ri, cj, av, &A));
  PetscCall(MatSetOption(A, MAT_SPD, PETSC_TRUE));
  PetscCall(MatCreateVecs(A, &x, &b));
  {
    PetscScalar *q;
    PetscCall(VecGetArray(b, &q));
    PetscCall(PetscArraycpy(q, bv, nloc));
    PetscCall(VecRestoreArray(b, &q));
    PetscCall(VecGetArray(x, &q));
    PetscCall(PetscArraycpy(q, xv, nloc));
    PetscCall(VecRestoreArray(x, &q));
  }
  PetscCall(PetscFree3(ri, cj, av));
  PetscCall(NewSolver(c, A));
  PetscCall(KSPGetPC(c->ksp, &pc));
  PetscCall(PCSetType(pc, PCHYPRE));
  PetscCall(PCHYPRESetType(pc, "boomeramg"));
  PetscCall(BoomerAMGDefaults());
  res->seconds_setup += MPI_Wtime() - t0;
  PetscCall(SetUpSolver(c, res));
  PetscCall(Solve(c, b, x, res));
  {
    double power;
    PetscCall(AssembledPower(A, b, x, &power));
    if (c->sub != MPI_COMM_NULL) {
      int srank;
      PetscCallMPI(MPI_Comm_rank(c->sub, &srank));
      if (srank == 0) flux[2] += power; /* a global sum: counted once */
    }
    PetscCall(FaceCurrents(g, p, ids, x, flux));
  }
  PetscCall(PetscFree2(bv, xv));
  PetscCall(KSPDestroy(&c->ksp));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(MatDestroy(&A));
  PetscFunctionReturn(0);
}

/* ============================== hypre PFMG on the whole grid ============================== */

/* The rows of the structured operator on this rank's planes (7-point stencil; identity rows
 * outside the unknowns, Dirichlet faces along the axis), the right-hand side ba and the initial
 * guess xa (the linear profile). */
static PetscErrorCode AssembleStructured(const Problem *p, Mat A, PetscScalar ***ba, PetscScalar ***xa)
{
  const int    nx = p->n[0], ny = p->n[1], nzl = p->nzl;
  const size_t plane = (size_t)nx * (size_t)ny;

  PetscFunctionBeginUser;
  for (int zl = 0; zl < nzl; zl++)
    for (int y = 0; y < ny; y++)
      for (int x0 = 0; x0 < nx; x0++) {
        const int   z = (int)p->z0 + zl, crd[3] = {x0, y, z};
        const int   on  = p->mask[plane * (size_t)(zl + 1) + (size_t)y * nx + x0];
        MatStencil  row = {.k = z, .j = y, .i = x0}, col[7];
        PetscScalar val[7], diag = 0, rhs = 0;
        int         m = 1;
        for (int e = 0; e < 3; e++)
          for (int s = -1; s <= 1; s += 2) {
            int q[3] = {crd[0], crd[1], crd[2]};
            q[e] += s;
            if (q[e] < 0 || q[e] >= p->n[e]) {
              if (on && e == p->axis) {
                diag += p->gb;
                if (s < 0) rhs += p->gb;
              }
              continue;
            }
            const int onb = p->mask[plane * (size_t)(q[2] - p->z0 + 1) + (size_t)q[1] * nx + q[0]];
            col[m]        = (MatStencil){.k = q[2], .j = q[1], .i = q[0]};
            val[m]        = on && onb ? -p->cond[e] : 0.0;
            if (on && onb) diag += p->cond[e];
            m++;
          }
        col[0] = row;
        val[0] = on ? diag : 1.0; /* identity rows outside the unknowns */
        PetscCall(MatSetValuesStencil(A, 1, &row, m, col, val, INSERT_VALUES));
        ba[z][y][x0] = on ? rhs : 0.0;
        xa[z][y][x0] = on ? 1.0 - (crd[p->axis] + 0.5) / p->n[p->axis] : 0.0;
      }
  PetscFunctionReturn(0);
}

/* This rank's currents through the outlet (flux[0]) and the inlet (flux[1]) from the solution x. */
static PetscErrorCode StructuredCurrents(const Problem *p, DM da, Vec x, double flux[3])
{
  const int      nx = p->n[0], ny = p->n[1], nzl = p->nzl;
  const size_t   plane = (size_t)nx * (size_t)ny;
  PetscScalar ***xa;

  PetscFunctionBeginUser;
  PetscCall(DMDAVecGetArrayRead(da, x, &xa));
  for (int zl = 0; zl < nzl; zl++)
    for (int y = 0; y < ny; y++)
      for (int x0 = 0; x0 < nx; x0++) {
        const int z = (int)p->z0 + zl, ca = p->axis == 0 ? x0 : p->axis == 1 ? y : z;
        if (!p->mask[plane * (size_t)(zl + 1) + (size_t)y * nx + x0]) continue;
        if (ca == p->n[p->axis] - 1) flux[0] += p->gb * PetscRealPart(xa[z][y][x0]);
        if (ca == 0) flux[1] += p->gb * (1.0 - PetscRealPart(xa[z][y][x0]));
      }
  PetscCall(DMDAVecRestoreArrayRead(da, x, &xa));
  PetscFunctionReturn(0);
}

static PetscErrorCode SolvePFMG(PgConductivity c, const Problem *p, PgConductivityResult *res, double flux[3])
{
  const int      nx = p->n[0], ny = p->n[1];
  int            size;
  PetscInt      *lz, mine = p->nzl;
  DM             da;
  Mat            A;
  Vec            x, b;
  PC             pc;
  PetscScalar ***xa, ***ba;
  double         t0 = MPI_Wtime();

  PetscFunctionBeginUser;
  PetscCheck(
    !p->wrap[0] && !p->wrap[1] && !p->wrap[2], c->grid->comm, PETSC_ERR_SUP,
    "conductivity: -cond_method pfmg does not support periodic sides (conductivity.periodic_sides); use -cond_method mg or amg");
  PetscCallMPI(MPI_Comm_size(c->sub, &size));
  PetscCall(PetscMalloc1(size, &lz));
  PetscCallMPI(MPI_Allgather(&mine, 1, MPIU_INT, lz, 1, MPIU_INT, c->sub));
  PetscCall(DMDACreate3d(c->sub, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, nx, ny,
                         p->n[2], 1, 1, size, 1, 1, NULL, NULL, lz, &da));
  PetscCall(PetscFree(lz));
  PetscCall(DMSetMatType(da, MATHYPRESTRUCT));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateMatrix(da, &A));
  PetscCall(DMCreateGlobalVector(da, &x));
  PetscCall(VecDuplicate(x, &b));
  PetscCall(DMDAVecGetArray(da, x, &xa));
  PetscCall(DMDAVecGetArray(da, b, &ba));
  PetscCall(AssembleStructured(p, A, ba, xa));
  PetscCall(DMDAVecRestoreArray(da, x, &xa));
  PetscCall(DMDAVecRestoreArray(da, b, &ba));
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(NewSolver(c, A));
  PetscCall(KSPGetPC(c->ksp, &pc));
  PetscCall(PCSetType(pc, PCPFMG));
  res->seconds_setup += MPI_Wtime() - t0;
  PetscCall(SetUpSolver(c, res));
  PetscCall(Solve(c, b, x, res));
  {
    double power;
    int    srank;
    PetscCall(AssembledPower(A, b, x, &power));
    PetscCallMPI(MPI_Comm_rank(c->sub, &srank));
    if (srank == 0) flux[2] += power;
  }
  PetscCall(StructuredCurrents(p, da, x, flux));
  PetscCall(KSPDestroy(&c->ksp));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(MatDestroy(&A));
  PetscCall(DMDestroy(&da));
  PetscFunctionReturn(0);
}

/* ============================== the problem ============================== */

/* The problem of phase value along axis: conductances, periodic sides, and the unknowns (the
 * components of the phase that connect the two faces normal to the axis; the components object
 * lives only for this). Collective. */
static PetscErrorCode ProblemSetUp(PgConductivity c, const uint8_t *v, uint8_t value, int axis, Problem *p)
{
  const PgGrid  g     = c->grid;
  const size_t  plane = PgGridPlane(g), nloc_vox = PgGridLocalVoxels(g);
  const double *d = g->voxel_um;
  PgComponents  comp;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(p, sizeof *p));
  p->axis = axis;
  p->nzl  = (int)g->nz_local;
  p->z0   = g->z_start;
  for (int e = 0; e < 3; e++) {
    p->n[e]    = (int)g->n[e];
    p->cond[e] = d[(e + 1) % 3] * d[(e + 2) % 3] / d[e];
    /* a periodic side of one voxel couples a voxel to itself: no current, like an insulating side */
    p->wrap[e] = c->periodic_sides && e != axis && g->n[e] > 1 ? PETSC_TRUE : PETSC_FALSE;
  }
  p->gb = 2 * p->cond[axis];
  PetscCall(PetscCalloc1(plane * (size_t)(p->nzl + 2), &p->mask));
  PetscCall(PgComponentsCreate(g, &comp));
  PetscCall(PgComponentsCompute(comp, v, value, PG_CONNECTIVITY_6));
  PetscCall(PgComponentsSelect(comp, PgFacesNormalTo(axis), p->mask + plane));
  PetscCall(PgComponentsDestroy(&comp));
  for (size_t i = 0; i < nloc_vox; i++) p->nloc += p->mask[plane + i];
  PetscCallMPI(MPI_Exscan(&p->nloc, &p->first, 1, MPI_INT64_T, MPI_SUM, g->comm));
  if (g->rank == 0) p->first = 0;
  PetscCallMPI(MPI_Allreduce(&p->nloc, &p->total, 1, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCheck(
    p->total <= (int64_t)PETSC_MAX_INT, g->comm, PETSC_ERR_SUP,
    "conductivity: %" PRId64
    " unknowns exceed this PETSc's %d-bit indices; build with a 64-bit-index PETSc (Debian petsc64-dev: PETSC_DIR=/usr/lib/petscdir/petsc64, or a cluster module with --with-64-bit-indices)",
    p->total, (int)(8 * sizeof(PetscInt)));
  PetscFunctionReturn(0);
}

/* The solve of a problem with unknowns by the chosen method, on the ranks of the solver's
 * communicator; flux: this rank's outlet current, inlet current and dissipated power. */
static PetscErrorCode ProblemSolve(PgConductivity c, Problem *p, double t0, PgConductivityResult *res, double flux[3])
{
  const PgGrid g   = c->grid;
  PetscInt    *ids = NULL;

  PetscFunctionBeginUser;
  /* the neighbours' boundary planes of the mask (collective on the grid's communicator) */
  PetscCall(PgGridHaloExchange(g, p->mask, PgGridPlane(g), 1, p->wrap[2]));
  if (c->method == COND_METHOD_AMG) PetscCall(GlobalNumbers(c, p, &ids));
  if (c->sub != MPI_COMM_NULL) {
    int srank, ssize;
    PetscCallMPI(MPI_Comm_rank(c->sub, &srank));
    PetscCallMPI(MPI_Comm_size(c->sub, &ssize));
    c->below           = srank > 0 ? srank - 1 : p->wrap[2] ? ssize - 1 : MPI_PROC_NULL;
    c->above           = srank < ssize - 1 ? srank + 1 : p->wrap[2] ? 0 : MPI_PROC_NULL;
    res->seconds_setup = MPI_Wtime() - t0;
    switch (c->method) {
    case COND_METHOD_MG:
      PetscCall(SolveMG(c, p, res, flux));
      break;
    case COND_METHOD_AMG:
      PetscCall(SolveAMG(c, p, ids, res, flux));
      break;
    case COND_METHOD_PFMG:
      PetscCall(SolvePFMG(c, p, res, flux));
      break;
    }
  }
  PetscCall(PetscFree(ids));
  PetscFunctionReturn(0);
}

/* The results on every rank (rank 0 always owns planes): the solver's report, and M from the
 * dissipated power (and from the two currents) for a unit potential difference. Collective. */
static PetscErrorCode ProblemResults(PgConductivity c, const Problem *p, double flux[3], PgConductivityResult *res)
{
  const PgGrid  g       = c->grid;
  const double *d       = g->voxel_um;
  double        info[6] = {(double)res->reason,    (double)res->iterations, res->residual,
                           (double)res->converged, res->seconds_setup,      res->seconds_solve};
  double        L = p->n[p->axis] * d[p->axis], area = 1;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, flux, 3, MPI_DOUBLE, MPI_SUM, g->comm));
  PetscCallMPI(MPI_Bcast(info, 6, MPI_DOUBLE, 0, g->comm));
  res->reason        = (int)info[0];
  res->iterations    = (PetscInt)info[1];
  res->residual      = info[2];
  res->converged     = info[3] != 0 ? PETSC_TRUE : PETSC_FALSE;
  res->seconds_setup = info[4];
  res->seconds_solve = info[5];
  for (int e = 0; e < 3; e++)
    if (e != p->axis) area *= p->n[e] * d[e];
  res->M        = flux[2] * L / area; /* the power: unit potential difference, dV = 1 */
  res->M_outlet = flux[0] * L / area;
  res->M_inlet  = flux[1] * L / area;
  res->flux_rel_diff =
    PetscMax(flux[0], flux[1]) > 0 ? PetscAbsReal(flux[0] - flux[1]) / PetscMax(flux[0], flux[1]) : 0.0;
  PetscFunctionReturn(0);
}

PetscErrorCode PgConductivityCompute(PgConductivity c, const uint8_t *v, uint8_t value, int axis,
                                     PgConductivityResult *res)
{
  const PgGrid g = c->grid;
  Problem      p;
  double       t0      = MPI_Wtime();
  double       flux[3] = {0, 0, 0}; /* outlet current, inlet current, dissipated power */

  PetscFunctionBeginUser;
  PetscCheck(axis >= 0 && axis < 3, g->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: axis %d, allowed 0 (x), 1 (y), 2 (z)", axis);
  PetscCall(PetscMemzero(res, sizeof *res));
  PetscCall(ProblemSetUp(c, v, value, axis, &p));
  res->unknowns  = p.total;
  res->converged = PETSC_TRUE;
  if (p.total) PetscCall(ProblemSolve(c, &p, t0, res, flux));
  PetscCall(PetscFree(p.mask));
  /* no path from face to face: no current */
  if (p.total) PetscCall(ProblemResults(c, &p, flux, res));
  res->seconds = MPI_Wtime() - t0;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &res->seconds, 1, MPI_DOUBLE, MPI_MAX, g->comm));
  PetscFunctionReturn(0);
}

/* The formula of docs/solver.md, per rank with V padded voxels of the largest slab and U = f V
   unknowns: the multigrid setup holds the mask, the map, positions and aggregates and the first
   coarse level being assembled (5 V + 37 U); the solve the map, positions and aggregates, the coarse
   levels (0.15-0.25 U rows of about 70 bytes, a third more for the coarser levels) and the four CG
   vectors (4 V + 70 U); the components stage before them holds less (the mask and 4 bytes of ids per
   voxel, per-piece tables). Measured growth of the resident peak (benchmarks/README.md): within
   +0-15% of this at 128^3 and 300^3, 1 and 2 ranks, for the three phases of the paper's structure
   (+35% for the pores at 128^3, where the constant dominates). */
PetscErrorCode PgConductivityEstimateBytes(PgGrid grid, double unknown_fraction, double *bytes_per_rank)
{
  ptrdiff_t nz_max = grid->nz_local;
  double    V, U;

  PetscFunctionBeginUser;
  PetscCheck(unknown_fraction >= 0 && unknown_fraction <= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "conductivity: unknown fraction %g outside [0, 1]", unknown_fraction);
  /* FFTW's blocks: no rank holds more than ceil(nz / ranks) planes (this rank's slab is a lower bound) */
  nz_max          = PetscMax(nz_max, (grid->n[2] + grid->size - 1) / grid->size);
  V               = (double)(grid->n[0] + 2) * (double)(grid->n[1] + 2) * (double)(nz_max + 2);
  U               = unknown_fraction * (double)grid->n[0] * (double)grid->n[1] * (double)nz_max;
  *bytes_per_rank = PgConductivityPeakBytes(V, U);
  PetscFunctionReturn(0);
}

double PgConductivityPeakBytes(double padded_voxels, double unknowns)
{
  return PetscMax(5 * padded_voxels + 37 * unknowns, 4 * padded_voxels + 70 * unknowns) + 20e6;
}

/* --------------------------------------------------------------------------------------------
 * Deck keys: conductivity.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

const PgKey PgConductivityKeys[] = {
  {"conductivity_solve", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "solve the conduction problem of each phase: the M-factor measured (CG + aggregation multigrid, docs/solver.md)"},
  {"conductivity_axes", PG_KEY_STRING, 1, 1, "z", "-", 0, 0, 0, 0, NULL,
   "axes of the conduction problems: any of x, y, z"},
  {"conductivity_periodic_sides", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "the four faces parallel to the axis periodic instead of insulating"},
  {"conductivity_rtol", PG_KEY_REAL, 1, 1, "1e-6", "-", 0, 1, 1, 1, NULL, "relative residual tolerance of the solve"},
  {"conductivity_m_rtol", PG_KEY_REAL, 1, 1, "1e-5", "-", 0, 1, 0, 1, NULL,
   "relative accuracy of M: the solve stops once CG's error estimate puts M within it (0: rtol only)"},
  {"conductivity_solver_options", PG_KEY_STRING, 1, 1, "", "-", 0, 0, 0, 0, NULL,
   "PETSc options of the solver, prefix cond_ (e.g. '-cond_method amg' for BoomerAMG); on the command line give them directly"},
};
const int PgConductivityNKeys = (int)(sizeof PgConductivityKeys / sizeof PgConductivityKeys[0]);

/* The solver options must all carry the prefix -cond_. */
#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgConductivityLoadOptions(PgDeck deck, PgConductivityOptions *o)
{
  const MPI_Comm comm = PgDeckComm(deck);
  const char    *c;

  PetscFunctionBeginUser;
  o->solve = V("conductivity_solve")->v[0] != 0;
  PetscCall(PgDeckAxes(deck, "conductivity_axes", "z or xyz", &o->axes));
  PetscCheck(o->axes || !o->solve, comm, PETSC_ERR_USER_INPUT,
             "conductivity.axes is empty: give at least one of x, y, z");
  o->periodic_sides = V("conductivity_periodic_sides")->v[0] != 0;
  o->rtol           = V("conductivity_rtol")->v[0];
  o->m_rtol         = V("conductivity_m_rtol")->v[0];
  snprintf(o->solver_options, sizeof o->solver_options, "%s", V("conductivity_solver_options")->s);
  c = o->solver_options;
  while (*c == ' ') c++;
  PetscCheck(!*c || !strncmp(c, "-cond_", 6), comm, PETSC_ERR_USER_INPUT,
             "conductivity.solver_options = '%s': give PETSc options with the prefix -cond_ (e.g. -cond_method amg)",
             o->solver_options);
  for (c = o->solver_options; *c; c++) {
    if (*c != '-' || (c > o->solver_options && c[-1] != ' ')) continue;
    PetscCheck(!strncmp(c, "-cond_", 6), comm, PETSC_ERR_USER_INPUT,
               "conductivity.solver_options = '%s': every option must carry the prefix -cond_ (e.g. -cond_method amg)",
               o->solver_options);
  }
  PetscFunctionReturn(0);
}
#undef V
