/// \file
/// Peak memory per rank of every stage a deck asks for, estimated before any file is touched, and
/// the memory available per rank (cgroup limit, Slurm's allocation, else the node's MemAvailable
/// shared by the ranks on the node). A run whose largest stage does not fit is refused in one line
/// naming the stage, the bytes needed and the bytes available (run.memory_check = false overrides).
///
/// The formulas (memory.c) follow each module's allocations; they were checked against measured
/// peak resident memory (VmHWM) in benchmarks/bench_memory.py (table in benchmarks/README.md).
/// A module whose allocations change updates its stage in PgMemoryStageBytes and, for the
/// empirical coefficients, the constants below.
#pragma once

#include <plurigauss/config.h>

/// Resident bytes of a rank before any stage: MPI, PETSc, FFTW, HDF5, GSL and the program
/// (measured: 47.7 MiB on Debian 12 with Open MPI 4.1; +1 MiB per extra thread's stacks and arenas).
#define PG_MEMORY_BASE_BYTES (50.0 * 1048576.0)
/// Conduction solve with -cond_method amg (CG + BoomerAMG): bytes per unknown of the CSR arrays,
/// PETSc's matrix and vectors, CG's work vectors and hypre's hierarchy, measured 374-397 at
/// 96^3-192^3 on 1 and 2 ranks (benchmarks/bench_memory.py). The default multigrid's peak is
/// PgConductivityPeakBytes (conductivity.h), fitted to its own measurements.
#define PG_MEMORY_CONDUCTIVITY_AMG_BYTES_PER_UNKNOWN 400.0
/// Connected components: per-piece tables (volume, faces, boundary records) per voxel of the
/// slab, measured on Gaussian excursion sets (a bound for them; a salt-and-pepper image may need more).
#define PG_MEMORY_COMPONENTS_TABLE_BYTES_PER_VOXEL 1.0
/// Geodesic paths: Dial's bucket queue, bytes per voxel of the slab (frontier indices), measured.
#define PG_MEMORY_GEODESIC_QUEUE_BYTES_PER_VOXEL 1.0
/// HDF5 collective writes of a volume (chunk buffers, filter output): bytes per byte of the slab,
/// measured 0.5 (labels) to 1.13 (double fields) at 128^3-192^3 on 1 and 2 ranks.
#define PG_MEMORY_WRITE_BUFFER_FACTOR 1.2
/// HDF5's filter pipeline (shuffle, deflate, Fletcher32) holds about this many chunks' bytes at once
/// beside the slab's (measured: chunks 4x larger raised the write's peak by 3 of their sizes).
#define PG_MEMORY_WRITE_CHUNKS 3.0

typedef enum {
  PG_MEMORY_SEGMENT,      /* segmentation of the grey stack and images (segment.c) */
  PG_MEMORY_CALIBRATE,    /* calibration: C11 of the stack, C_ij and 2D cPSD of the images */
  PG_MEMORY_GENERATE,     /* the fields (field.c), incl. FFTW-MPI's transpose scratch */
  PG_MEMORY_COVARIANCE,   /* C_ij by FFT (covariance.c) */
  PG_MEMORY_INTRINSIC,    /* 2x2x2 configurations (intrinsic.c) */
  PG_MEMORY_COMPONENTS,   /* percolation (components.c) */
  PG_MEMORY_OPENING,      /* 3D/2D cPSD and MIP (opening.c, edt.c, components.c) */
  PG_MEMORY_GEODESIC,     /* tortuosity (geodesic.c) */
  PG_MEMORY_CONDUCTIVITY, /* the conduction solve (conductivity.c, PETSc, hypre) */
  PG_MEMORY_WRITE,        /* collective HDF5 writes of the volumes (h5.c) */
  PG_MEMORY_NSTAGES
} PgMemoryStage;

/// The sizes a stage's memory depends on, for the rank with the most data.
typedef struct {
  PetscInt n[3];      /* global voxels x, y, z of the stage's grid */
  double   nz_local;  /* largest z-slab in planes */
  double   alloc_r2c; /* largest FFTW-MPI r2c/c2r allocation, complex elements */
  int      ranks, threads;
} PgMemoryGrid;

typedef struct {
  PetscBool active[PG_MEMORY_NSTAGES];
  double    bytes
    [PG_MEMORY_NSTAGES]; /* peak resident bytes per rank while the stage runs (all that is alive then, base included) */
  int    peak;           /* the stage with the most bytes */
  double available;      /* bytes per rank */
  char   source[256];    /* where `available` comes from */
  int    ranks, ranks_per_node;
} PgMemoryEstimate;

/// Stage name as printed ("opening", ...).
const char *PgMemoryStageName(PgMemoryStage stage);
/// The slab geometry of an nx x ny x nz grid on `ranks` ranks as FFTW-MPI decomposes it (not
/// collective: computed locally for any rank count).
PetscErrorCode PgMemoryGridSetUp(const PetscInt n[3], int ranks, int threads, PgMemoryGrid *g);
/// The bytes a stage allocates per rank beyond what is alive before it (the labels, fields,
/// covariance buffer: see PgMemoryEstimateCompute), for the deck cfg on grid g. The per-stage
/// query that modules being rewritten update.
double PgMemoryStageBytes(PgMemoryStage stage, const PgMemoryGrid *g, const PgConfig *cfg);
/// The estimate of every stage of cfg at the size of comm (inspects the input images' shapes,
/// without reading their data). Collective.
PetscErrorCode PgMemoryEstimateCompute(MPI_Comm comm, const PgConfig *cfg, PgMemoryEstimate *est);
/// Memory available per rank and where the number comes from; ranks on this node from
/// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). Collective.
PetscErrorCode PgMemoryAvailable(MPI_Comm comm, double *bytes, int *ranks_per_node, char *source, size_t len);
/// Prints the per-stage table on rank 0.
PetscErrorCode PgMemoryView(MPI_Comm comm, const PgMemoryEstimate *est);
/// Estimates, prints one line (or the table with run.memory_report), and refuses a deck whose
/// largest stage exceeds the memory available per rank unless run.memory_check = false.
/// Collective; touches no file.
PetscErrorCode PgMemoryCheck(MPI_Comm comm, const PgConfig *cfg);
