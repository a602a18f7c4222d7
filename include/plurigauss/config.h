/// \file
/// The input deck: one typed options struct per module, read from PETSc's options database.
///
/// A deck is YAML (`-options_file_yaml`, or the first positional argument); nested keys become
/// `-section_key`, and any key can be overridden on the command line. Each module declares its keys
/// (a PgKey table: name, type, default, unit, range, help) and reads them into its options (its
/// loader); the tables are the single source for parsing, validation and `-help` (deck.h, config.c).
#pragma once

#include <plurigauss/deck.h>
#include <plurigauss/grid.h>
#include <stdint.h>

#define PG_MAX_SWEEP PG_MAX_VALUES

/// The grid of the model runs: the deck's domain.*, or one a stage resolves (an adequacy image's).
typedef struct {
  PetscInt  shape[3];    /* global voxels along x, y, z */
  double    voxel_um[3]; /* voxel edge along x, y, z (µm) */
  PetscBool shape_given; /* set in the deck (else calibration.validate_with's shape is used) */
  PetscBool voxel_given; /* set in the deck (else an image's own voxel size is used) */
} PgDomain;

/// The model's parameters (λ_X, λ_Z, α_X, α_Y, m) and where each came from.
typedef enum {
  PG_PARAM_LAMBDA_X,
  PG_PARAM_LAMBDA_Z,
  PG_PARAM_ALPHA_X,
  PG_PARAM_ALPHA_Y,
  PG_PARAM_M,
  PG_NPARAMS
} PgParam;
typedef enum { PG_FROM_DECK, PG_FROM_CALIBRATION } PgParamOrigin;

/// The model simulated (Section 3.1), a value: the deck's (PgConfig.model) or the one calibration
/// returns (PgCalibrationModelParams), handed to the sweep. λ_X is given or follows from the NVP
/// fraction (eq. 6); λ_Z is given or follows from the carbon fraction of each sweep point (eq. 9).
typedef struct {
  double        alpha_x_per_um, alpha_y_per_um; /* eqs. 8, 12 (1/µm) */
  double        m;                              /* weight of X in Z = sqrt(m) X + sqrt(1-m) Y */
  PetscBool     have_lambda_x;                  /* lambda_x given; else from nvp_fraction (eq. 6) */
  double        lambda_x, nvp_fraction;
  PetscBool     have_lambda_z; /* lambda_z given; else from carbon_fraction[p] (eq. 9) */
  double        lambda_z;
  double        nanopore_ratio; /* carbon without unresolved nanopores = ratio * eps2 */
  PetscInt      npoints;        /* sweep points: one per carbon fraction (or the single lambda_z) */
  PetscBool     from_sweep;     /* the targets came from sweep.carbon_fraction */
  double        carbon_fraction[PG_MAX_SWEEP];
  PgParamOrigin origin[PG_NPARAMS];
  char          calibrated_from[2 * PETSC_MAX_PATH_LEN + 2]; /* "VOLUME|IMAGES" of a calibration, else "" */
} PgModelParams;


/// One segmentation chain (Section 2.4): median, Otsu (local or global), Mexican hat, majority.
typedef struct {
  double    median_um;    /* radius of the median filter (0 = off) */
  double    otsu_um;      /* radius of the local Otsu windows (0 = one global threshold) */
  PetscBool in3d;         /* stack: 3D balls across slices (z halos) instead of per-slice disks */
  int       phases;       /* 1: NVP (bright) vs the rest; 3: then carbon (dark) vs pore (medium) */
  double    log_sigma_um; /* Mexican hat (Laplacian of Gaussian) sigma before the second step (0 = off) */
  double    log_weight;   /* g - weight sigma^2 LoG_sigma(g) */
  int       majority;     /* 0 none, 1 cube (3x3x3, 3x3 on images), 2 ball of majority_um */
  double    majority_um;
  int       bins; /* histogram bins of the Otsu thresholds */
} PgSegmentFilters;

/// sweep.* and random.*: how many realizations of each point, and their seeds.
typedef struct {
  PetscInt  realizations;
  PetscBool common_random_numbers;
  PetscInt  first_point; /* index of point 0 in a sweep split across jobs (seeds) */
  uint64_t  seed;        /* random.seed */
} PgSweepOptions;

/// output.*: the output file and what goes into it (output.c).
typedef struct {
  char        file[PETSC_MAX_PATH_LEN];
  PetscBool   write_phase, write_fields, overwrite;
  PetscBool   lock_content; /* output.lock = content: the lock file's content decides, no kernel lock */
  PgPrecision precision;
  PetscInt    compress_level; /* 0 = none, 1..9 deflate */
  PetscBool   tiff_labels;    /* each run's labels also as TIFF */
} PgOutputOptions;

/// run.*: the memory check before any file is touched (memory.c).
typedef struct {
  PetscBool memory_check;  /* refuse a deck that does not fit */
  PetscBool memory_report; /* print the per-stage memory estimate */
} PgRunOptions;

/// fft.* and threads (field.c).
typedef struct {
  PgPlanner planner;
  char      wisdom_file[PETSC_MAX_PATH_LEN];
  PetscInt  threads;
  PetscBool time_bare;
  PetscBool low_memory; /* fft.memory = low: one field buffer */
} PgFFTOptions;

/// input.*: a segmented image to measure, and the label values of every three-phase input (image.c).
typedef struct {
  char       image[PETSC_MAX_PATH_LEN]; /* FILE.h5:/dataset or a TIFF stack, or "" to simulate */
  PgLabelMap labels;                    /* values -> phases of every three-phase label input */
} PgInputOptions;

/// measure.*: the descriptors of every run (measure.c).
typedef struct {
  PetscBool covariance, intrinsic;
  PetscBool interface_field; /* model runs: field-based interface areas (crossing.c) */
  double    range_um;        /* 0 = a quarter of the shortest side */
  int       periodic;        /* 0 auto, 1 yes, 2 no */
  unsigned  axes;            /* bit a set: axis a (0 x, 1 y, 2 z) for percolation, MIP, tortuosity */
  PetscBool percolation, psd, psd2d, mip, mip_inlet_high, tortuosity;
  int       connectivity;      /* 6 or 26 */
  double    psd_step_um;       /* 0 = the smallest voxel edge */
  double    mhat_exponents[3]; /* eq. 14: M_pred = eps^a beta^b / tau^c */
} PgMeasureOptions;

/// conductivity.*: the conduction problems (conductivity.c).
typedef struct {
  PetscBool solve; /* solve the conduction problems (the measured M-factor) */
  unsigned  axes;  /* bit a: axis a */
  PetscBool periodic_sides;
  double    rtol;
  double    m_rtol;
  char      solver_options[PETSC_MAX_PATH_LEN]; /* PETSc options, prefix -cond_ */
} PgConductivityOptions;

/// segment.* (Section 2.4); active when volume or images is given (segment.c).
typedef struct {
  char             volume[PETSC_MAX_PATH_LEN]; /* grey 3D stack FILE.h5:/dataset or raw; "" = none */
  PetscInt         volume_shape[3];            /* raw stack: nx, ny, nz */
  double           volume_voxel_um[3];         /* 0 = from the HDF5 attribute */
  char             mask[PETSC_MAX_PATH_LEN];   /* uint8 particle mask of the stack (nonzero = inside); "" = all */
  char             images[PETSC_MAX_PATH_LEN]; /* comma-separated grey 2D images */
  PetscInt         image_shape[2];
  double           pixel_um[2];
  int              raw_type;                        /* PG_RAW_* */
  char             labels_file[PETSC_MAX_PATH_LEN]; /* where the labels go; default <output stem>_labels.h5 */
  PetscBool        calibrate;                       /* calibrate from the segmented labels */
  PgSegmentFilters stack, image;                    /* the filter chains of the stack and of the 2D images */
} PgSegmentOptions;

/// calibration.* (Section 3.2); active when volume is given (calibrate.c).
typedef struct {
  char       volume[PETSC_MAX_PATH_LEN];        /* FILE.h5:/dataset, a TIFF stack or a raw file; "" = no calibration */
  PgLabelMap volume_labels;                     /* values -> NVP / not NVP of the stack */
  PgLabelMap images_labels;                     /* values -> phases of the 2D images (input.labels) */
  char       validate_with[PETSC_MAX_PATH_LEN]; /* a 3D three-phase image of the material: adequacy report */
  PetscInt   volume_shape[3];                   /* raw volume: nx, ny, nz (0 = not given) */
  double     volume_voxel_um[3];                /* voxel edges x, y, z (µm); 0 = from the HDF5 attribute */
  char       images[PETSC_MAX_PATH_LEN];        /* comma-separated list of 2D images (FILE.h5:/dataset or raw) */
  PetscInt   image_shape[2];                    /* raw images: nx, ny (0 = not given) */
  double     pixel_um[2];                       /* pixel edges x, y (µm); 0 = from the HDF5 attribute */
  int        raw_type;                          /* raw element type: PG_RAW_* (little endian) */
  double     range_um;                          /* largest lag of the curves and fits (µm) */
  double     m_step;                            /* spacing of the m grid 0, step, ..., 1 */
  PetscBool  fix_m;                             /* use model.m instead of fitting it */
  PetscBool  simulate;                          /* go on to simulate the calibrated model */
  int        fractions_2d; /* 0 own: eqs. 10, 11 with the 2D images' fractions; 1 rescaled (eqs. 2, 3) */
  int        c11;          /* 0 volume (radial), 1 sections (x-y lags only) */
  PetscBool  have_reference;
  double     reference[5]; /* known lambda_X, lambda_Z, alpha_X, alpha_Y, m (printed beside the estimates) */
} PgCalibrationOptions;

/// The deck: one typed options struct per module, each filled by its module's loader from the
/// module's own key table (see deck.h), then read only.
typedef struct {
  char  deck_path[PETSC_MAX_PATH_LEN]; /* "" when run without a deck */
  char *deck_text;                     /* the deck file as read, identical on all ranks ("" if none) */
  char *resolved;                      /* every key = value after defaults and overrides, one per line */

  PgDomain              domain; /* domain.*: the deck's grid (a stage resolves its own, e.g. PgAdequacyDomain) */
  PgModelParams         model;  /* model.*, sweep.carbon_fraction: the deck's model (calibration returns its own) */
  PgSweepOptions        sweep;
  PgOutputOptions       output;
  PgRunOptions          run;
  PgFFTOptions          fft;
  PgInputOptions        input;
  PgMeasureOptions      measure;
  PgConductivityOptions cond;
  PgSegmentOptions      seg;
  PgCalibrationOptions  cal;
} PgConfig;

/// The key tables of the modules (deck.h), in the order of -help, and their loaders: each fills its
/// module's options from the deck's values and checks what involves its own keys; PgConfigLoad runs
/// them in this order, then the checks across modules.
extern const PgKey PgModelKeys[], PgOutputKeys[], PgInputKeys[], PgMeasureKeys[], PgConductivityKeys[], PgFFTKeys[],
  PgSegmentKeys[], PgCalibrationKeys[], PgRunKeys[];
extern const int PgModelNKeys, PgOutputNKeys, PgInputNKeys, PgMeasureNKeys, PgConductivityNKeys, PgFFTNKeys,
  PgSegmentNKeys, PgCalibrationNKeys, PgRunNKeys;
PetscErrorCode PgModelLoadOptions(PgDeck deck, PgDomain *dom, PgModelParams *mp, PgSweepOptions *sw); /* model.c */
PetscErrorCode PgOutputLoadOptions(PgDeck deck, PgOutputOptions *o);                                  /* output.c */
PetscErrorCode PgInputLoadOptions(PgDeck deck, PgInputOptions *o);                                    /* image.c */
PetscErrorCode PgMeasureLoadOptions(PgDeck deck, PgMeasureOptions *o);                                /* measure.c */
PetscErrorCode PgConductivityLoadOptions(PgDeck deck, PgConductivityOptions *o); /* conductivity.c */
PetscErrorCode PgFFTLoadOptions(PgDeck deck, PgFFTOptions *o);                   /* field.c */
PetscErrorCode PgSegmentLoadOptions(PgDeck deck, PgSegmentOptions *o);           /* segment.c */
PetscErrorCode PgCalibrationLoadOptions(PgDeck deck, PgCalibrationOptions *o);   /* calibrate.c */
PetscErrorCode PgRunLoadOptions(PgDeck deck, PgRunOptions *o);                   /* memory.c */

/// Reads and validates the deck and the command line. Collective. On any bad key or value it
/// raises PETSC_ERR_USER_INPUT with a one-line message naming the key, before anything is written.
PetscErrorCode PgConfigLoad(MPI_Comm comm, const char *deck_path, PgConfig *cfg);
/// Frees what PgConfigLoad allocated.
PetscErrorCode PgConfigDestroy(PgConfig *cfg);
/// Prints every key with default, unit, range and description.
PetscErrorCode PgConfigPrintHelp(MPI_Comm comm);
/// The same keys as a Markdown table (header and one row per key), for README.md's key table
/// (tools/keytable.py writes it there; tests/test_deck.py checks that the two agree).
PetscErrorCode PgConfigPrintHelpMarkdown(MPI_Comm comm);
/// Where each parameter of mp came from, as text: "lambda_x: calibration, lambda_z: deck, ..."
/// (the attribute origin of /model).
void PgModelParamsOrigin(const PgModelParams *mp, char *buf, size_t len);
/// A canonical text of everything that determines the structures (the deck's run keys, the grid dom
/// and the model mp simulated); equal signatures mean that the runs in an existing output file can be
/// reused when resuming.
PetscErrorCode PgConfigSignature(const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp, char *buf,
                                 size_t len);
