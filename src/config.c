/// \file
/// The deck. One table lists every key with its type, default, unit, range and help text; it drives
/// parsing, range checks, the unknown-key check, `-help` and `-help_markdown` (the key table of
/// README.md, rewritten by tools/keytable.py), so they cannot drift apart.
///
/// Values are read as strings from PETSc's options database and parsed here, so that a malformed
/// number is reported with the key's name in one line instead of a PETSc trace. Keys from the YAML
/// file are checked against the table on a private options object (every YAML key must be known);
/// command-line options are checked when they carry one of the deck's section prefixes, the rest
/// belong to PETSc. All checks run on every rank with identical data, so errors are collective.
#include <plurigauss/config.h>
#include <plurigauss/files.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

typedef enum { KEY_INT, KEY_REAL, KEY_BOOL, KEY_STRING, KEY_ENUM } KeyType;

typedef struct {
  const char        *name; /* option name without the leading dash */
  KeyType            type;
  int                nmin, nmax; /* number of values for arrays; 1, 1 for scalars */
  const char        *deflt;      /* default as text; NULL = unset (see help) */
  const char        *unit;
  double             lo, hi; /* allowed range for numbers */
  int                lo_open, hi_open;
  const char *const *names; /* enum names, NULL-terminated */
  const char        *help;
} Key;

static const char *const precision_names[] = {"single", "double", NULL};
static const char *const planner_names[]   = {"estimate", "measure", "patient", NULL};
static const char *const periodic_names[]  = {"auto", "true", "false", NULL};
static const char *const memory_names[]    = {"fast", "low", NULL};
static const char *const inlet_names[]     = {"lo", "hi", NULL};
static const char *const rawtype_names[]   = {"uint8", "uint16", "int32",  "float32",
                                              "int8",  "int16",  "uint32", NULL}; /* the order of PG_RAW_* */
static const char *const majority_names[]  = {"none", "cube", "ball", NULL};
static const char *const frac2d_names[]    = {"own", "rescaled", NULL};
static const char *const c11_names[]       = {"volume", "sections", NULL};
static const char *const lock_names[]      = {"auto", "content", NULL};

#define INF HUGE_VAL
static const Key keys[] = {
  {"domain_shape", KEY_INT, 3, 3, "300,300,300", "voxels", 8, 1 << 24, 0, 0, NULL,
   "global grid nx,ny,nz (at least 8 per axis)"},
  {"domain_voxel_size_um", KEY_REAL, 1, 3, "0.0166", "um", 0, INF, 1, 1, NULL,
   "voxel edge; one value (cubic) or dx,dy,dz"},
  {"model_alpha_x", KEY_REAL, 1, 1, "16.6", "1/um", 0, INF, 1, 1, NULL,
   "alpha_X of rho_X(h) = exp(-(alpha_X h)^2), eq. 8"},
  {"model_alpha_y", KEY_REAL, 1, 1, "26.5", "1/um", 0, INF, 1, 1, NULL,
   "alpha_Y of rho_Y(h) = exp(-(alpha_Y h)^2), eq. 12"},
  {"model_m", KEY_REAL, 1, 1, "0.15", "-", 0, 1, 0, 0, NULL, "weight m in Z = sqrt(m) X + sqrt(1-m) Y"},
  {"model_nvp_fraction", KEY_REAL, 1, 1, "0.5148", "-", 0, 1, 1, 1, NULL,
   "eps1, NVP volume fraction; lambda_X = Phi^-1(1-eps1), eq. 6"},
  {"model_lambda_x", KEY_REAL, 1, 1, NULL, "-", -INF, INF, 1, 1, NULL,
   "threshold lambda_X, instead of model.nvp_fraction"},
  {"model_carbon_fraction", KEY_REAL, 1, 1, "0.3372", "-", 0, 1, 1, 1, NULL,
   "eps2, carbon volume fraction; lambda_Z from eq. 9"},
  {"model_lambda_z", KEY_REAL, 1, 1, NULL, "-", -INF, INF, 1, 1, NULL,
   "threshold lambda_Z, instead of model.carbon_fraction"},
  {"model_nanopore_ratio", KEY_REAL, 1, 1, "0.405797", "-", 0, 1, 1, 0, NULL,
   "carbon without nanopores = ratio * eps2 (Section 4.2: 0.28/0.69)"},
  {"random_seed", KEY_INT, 1, 1, "20231012", "-", 0, 9.007199254740992e15, 0, 0, NULL,
   "master seed; each run's seed is derived from it"},
  {"sweep_carbon_fraction", KEY_REAL, 1, PG_MAX_SWEEP, NULL, "-", 0, 1, 1, 1, NULL,
   "list of target eps2; default: the single model.carbon_fraction"},
  {"sweep_realizations", KEY_INT, 1, 1, "3", "-", 1, 1000000, 0, 0, NULL, "realizations per sweep point"},
  {"sweep_common_random_numbers", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "reuse the fields of realization r at every sweep point"},
  {"sweep_first_point", KEY_INT, 1, 1, "0", "-", 0, 1000000, 0, 0, NULL,
   "index of the first point in a larger sweep split across jobs: seeds are those of that point on"},
  {"output_file", KEY_STRING, 1, 1, "plurigauss.h5", "path", 0, 0, 0, 0, NULL,
   "HDF5 output; .xdmf and .csv are written beside it"},
  {"output_write_phase", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "write the label volume /runs/<k>/phase (uint8)"},
  {"output_write_fields", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL, "also write the Gaussian fields X and Y"},
  {"output_precision", KEY_ENUM, 1, 1, "single", "-", 0, 0, 0, 0, precision_names,
   "floating point of field synthesis and written fields"},
  {"output_compress", KEY_INT, 1, 1, "1", "level", 0, 9, 0, 0, NULL, "deflate level of written volumes (0 = none)"},
  {"output_overwrite", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "replace an existing output instead of resuming it"},
  {"output_tiff_labels", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "also write each run's labels as a multi-page TIFF <stem>_phase_<k>.tif (Fiji, tifffile)"},
  {"output_lock", KEY_ENUM, 1, 1, "auto", "-", 0, 0, 0, 0, lock_names,
   "one writer per output: auto = kernel lock on <output.file>.lock, its content where the file system has no locks; content = the content only (locks local to each node)"},
  {"input_image", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "measure a segmented image instead of simulating: FILE.h5:/dataset, FILE.tif, DIR/ or DIR/slice_%04d.tif"},
  {"input_labels", KEY_STRING, 1, 1, "", "-", 0, 0, 0, 0, NULL,
   "label values of the three-phase inputs: {0: pore, 1: nvp, 2: carbon}, [nvp, carbon, pore] values, or nvp=V,carbon=V,pore=V; default 1,2,3"},
  {"measure_covariance", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "two-point coverage functions C_ij (eq. 4) by FFT"},
  {"measure_intrinsic", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "surface areas S_i, interface areas S_ij, Euler characteristics"},
  {"measure_interface_field", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "model runs: interface areas S_ij_field from the fields' level-set crossings (sub-voxel; fft.memory low keeps X in 1 byte per voxel)"},
  {"measure_range_um", KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "largest lag of C_ij; 0 = a quarter of the shortest side"},
  {"measure_periodic", KEY_ENUM, 1, 1, "auto", "-", 0, 0, 0, 0, periodic_names,
   "periodic estimators (auto: yes for model runs, no for images)"},
  {"measure_axes", KEY_STRING, 1, 1, "xyz", "-", 0, 0, 0, 0, NULL,
   "axes of percolation, MIP, tortuosity and M_pred: any of x, y, z"},
  {"measure_percolation", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "connected components: volume fraction of each phase connecting the two faces normal to each axis"},
  {"measure_connectivity", KEY_INT, 1, 1, "6", "-", 6, 26, 0, 0, NULL,
   "neighbourhood of the percolation components: 6 (faces) or 26"},
  {"measure_psd", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "3D continuous phase size distribution (opening by balls) and its median r50"},
  {"measure_psd2d", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "2D continuous phase size distribution on every z-slice (disks, eq. 13, Figure 4)"},
  {"measure_psd_step_um", KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "radius step of the size distributions and MIP; 0 = the smallest voxel edge"},
  {"measure_mip", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "simulated mercury intrusion along each axis; constrictivity beta = (r50_mip / r50_cpsd)^2"},
  {"measure_mip_inlet", KEY_ENUM, 1, 1, "lo", "-", 0, 0, 0, 0, inlet_names,
   "face the mercury enters: coordinate 0 (lo) or n-1 (hi) of each axis"},
  {"measure_tortuosity", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "mean geodesic tortuosity along each axis (26-neighbour shortest paths)"},
  {"measure_mhat_exponents", KEY_REAL, 3, 3, "1.15,0.35,4.39", "-", 0, 100, 0, 0, NULL,
   "a,b,c of the predicted M-factor eps^a beta^b / tau^c (eq. 14; ref. [32] reports b = 0.37)"},
  {"conductivity_solve", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "solve the conduction problem of each phase: the M-factor measured (CG + aggregation multigrid, docs/solver.md)"},
  {"conductivity_axes", KEY_STRING, 1, 1, "z", "-", 0, 0, 0, 0, NULL,
   "axes of the conduction problems: any of x, y, z"},
  {"conductivity_periodic_sides", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "the four faces parallel to the axis periodic instead of insulating"},
  {"conductivity_rtol", KEY_REAL, 1, 1, "1e-6", "-", 0, 1, 1, 1, NULL, "relative residual tolerance of the solve"},
  {"conductivity_m_rtol", KEY_REAL, 1, 1, "1e-5", "-", 0, 1, 0, 1, NULL,
   "relative accuracy of M: the solve stops once CG's error estimate puts M within it (0: rtol only)"},
  {"conductivity_solver_options", KEY_STRING, 1, 1, "", "-", 0, 0, 0, 0, NULL,
   "PETSc options of the solver, prefix cond_ (e.g. '-cond_method amg' for BoomerAMG); on the command line give them directly"},
  {"fft_planner", KEY_ENUM, 1, 1, "measure", "-", 0, 0, 0, 0, planner_names, "FFTW planner effort"},
  {"fft_wisdom", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "FFTW wisdom file, read if present and updated after planning"},
  {"fft_memory", KEY_ENUM, 1, 1, "fast", "-", 0, 0, 0, 0, memory_names,
   "fast: X and Y in two buffers; low: one buffer (X, then Z), half the field memory, ~0.3 transforms more"},
  {"fft_time_bare", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "time the bare transform after planning (benchmarks: the floor of generation)"},
  {"segment_volume", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "segment first: grey 3D stack FILE.h5:/dataset (integer or float) or raw file ([z][y][x], x fastest)"},
  {"segment_volume_shape", KEY_INT, 3, 3, NULL, "voxels", 1, 1 << 24, 0, 0, NULL, "raw stack: nx,ny,nz"},
  {"segment_volume_voxel_um", KEY_REAL, 1, 3, NULL, "um", 0, INF, 1, 1, NULL,
   "voxel edge of the stack, one value or dx,dy,dz; default: HDF5 attribute voxel_size_um"},
  {"segment_mask", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "uint8 mask of the stack FILE.h5:/dataset (nonzero = particle); Otsu counts only the mask, label 255 outside"},
  {"segment_images", KEY_STRING, 1, 1, "", "paths", 0, 0, 0, 0, NULL,
   "grey 2D images, comma-separated FILE.h5:/dataset or raw files"},
  {"segment_image_shape", KEY_INT, 2, 2, NULL, "pixels", 1, 1 << 24, 0, 0, NULL, "raw images: nx,ny"},
  {"segment_pixel_um", KEY_REAL, 1, 2, NULL, "um", 0, INF, 1, 1, NULL,
   "pixel edge of the 2D images, one value or dx,dy; default: HDF5 attribute voxel_size_um"},
  {"segment_raw_type", KEY_ENUM, 1, 1, "uint16", "-", 0, 0, 0, 0, rawtype_names,
   "element type of raw grey inputs (little endian)"},
  {"segment_labels_file", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "HDF5 file of the labels (/volume, /images/K); default: <output.file stem>_labels.h5"},
  {"segment_calibrate", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "calibrate from the segmented stack and images (both needed) unless calibration.volume is given"},
  {"segment_stack_median_radius_um", KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "stack: median filter radius (0 = off)"},
  {"segment_stack_otsu_radius_um", KEY_REAL, 1, 1, "0.5", "um", 0, INF, 0, 1, NULL,
   "stack: local Otsu radius (the paper: 0.5 on each FIB-SEM slice); 0 = global Otsu"},
  {"segment_stack_3d", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "stack: median, Otsu and Mexican hat on 3D balls instead of slice by slice"},
  {"segment_stack_phases", KEY_INT, 1, 1, "1", "-", 1, 3, 0, 0, NULL,
   "stack: 1 = NVP only (labels 1, 0), 3 = the two-step rule (labels 1, 2, 3); 2 is not allowed"},
  {"segment_stack_log_sigma_um", KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "stack: Mexican hat sigma before the second step (0 = off)"},
  {"segment_stack_log_weight", KEY_REAL, 1, 1, "1", "-", 0, INF, 0, 1, NULL,
   "stack: Mexican hat weight w in g - w sigma^2 LoG(g)"},
  {"segment_stack_majority", KEY_ENUM, 1, 1, "cube", "-", 0, 0, 0, 0, majority_names,
   "stack: majority filter (the paper: 3x3x3 cube)"},
  {"segment_stack_majority_radius_um", KEY_REAL, 1, 1, "0", "um", 0, INF, 0, 1, NULL,
   "stack: radius of the ball majority filter"},
  {"segment_stack_bins", KEY_INT, 1, 1, "256", "-", 2, 65536, 0, 0, NULL,
   "stack: histogram bins of Otsu (values quantised between the data's min and max)"},
  {"segment_image_median_radius_um", KEY_REAL, 1, 1, "0.025", "um", 0, INF, 0, 1, NULL,
   "images: median filter radius (the paper: 25 nm)"},
  {"segment_image_otsu_radius_um", KEY_REAL, 1, 1, "0.25", "um", 0, INF, 0, 1, NULL,
   "images: local Otsu radius of both steps (the paper: 0.25); 0 = global Otsu"},
  {"segment_image_phases", KEY_INT, 1, 1, "3", "-", 1, 3, 0, 0, NULL,
   "images: 3 = the two-step rule (labels 1, 2, 3); 1 = NVP only"},
  {"segment_image_log_sigma_um", KEY_REAL, 1, 1, "0.005", "um", 0, INF, 0, 1, NULL,
   "images: Mexican hat sigma (the paper: 7x7 at 5 nm, i.e. sigma 5 nm, window 3 sigma); 0 = off"},
  {"segment_image_log_weight", KEY_REAL, 1, 1, "1", "-", 0, INF, 0, 1, NULL,
   "images: Mexican hat weight w in g - w sigma^2 LoG(g)"},
  {"segment_image_majority", KEY_ENUM, 1, 1, "ball", "-", 0, 0, 0, 0, majority_names,
   "images: majority filter (the paper: radius 25 nm)"},
  {"segment_image_majority_radius_um", KEY_REAL, 1, 1, "0.025", "um", 0, INF, 0, 1, NULL,
   "images: radius of the ball majority filter"},
  {"segment_image_bins", KEY_INT, 1, 1, "256", "-", 2, 65536, 0, 0, NULL, "images: histogram bins of Otsu"},
  {"calibration_volume", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "calibrate first: 3D label volume FILE.h5:/dataset or raw file (label 1 = NVP, any other = not NVP)"},
  {"calibration_volume_shape", KEY_INT, 3, 3, NULL, "voxels", 1, 1 << 24, 0, 0, NULL,
   "raw volume: nx,ny,nz (file is [z][y][x], x fastest)"},
  {"calibration_volume_voxel_um", KEY_REAL, 1, 3, NULL, "um", 0, INF, 1, 1, NULL,
   "voxel edge of the volume, one value or dx,dy,dz; default: HDF5 attribute voxel_size_um"},
  {"calibration_images", KEY_STRING, 1, 1, "", "paths", 0, 0, 0, 0, NULL,
   "2D three-phase label images (1,2,3), comma-separated FILE.h5:/dataset or raw files"},
  {"calibration_image_shape", KEY_INT, 2, 2, NULL, "pixels", 1, 1 << 24, 0, 0, NULL,
   "raw images: nx,ny (file is [y][x])"},
  {"calibration_pixel_um", KEY_REAL, 1, 2, NULL, "um", 0, INF, 1, 1, NULL,
   "pixel edge of the 2D images, one value or dx,dy; default: HDF5 attribute voxel_size_um"},
  {"calibration_raw_type", KEY_ENUM, 1, 1, "uint8", "-", 0, 0, 0, 0, rawtype_names,
   "element type of raw inputs (little endian)"},
  {"calibration_range_um", KEY_REAL, 1, 1, "0.2", "um", 0, INF, 1, 1, NULL,
   "largest lag of the estimated C_ij and of the fits"},
  {"calibration_m_step", KEY_REAL, 1, 1, "0.005", "-", 0, 0.5, 1, 0, NULL,
   "spacing of the m grid 0, step, ..., 1 (the paper: 0.005)"},
  {"calibration_fix_m", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "keep model.m instead of fitting it to C_12 (eq. 11)"},
  {"calibration_simulate", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "simulate (and validate) the calibrated model after calibrating"},
  {"calibration_fractions_2d", KEY_ENUM, 1, 1, "own", "-", 0, 0, 0, 0, frac2d_names,
   "fractions in eqs. 10, 11: own = the 2D images' (unbiased), rescaled = eqs. 2, 3 (the paper)"},
  {"calibration_c11", KEY_ENUM, 1, 1, "volume", "-", 0, 0, 0, 0, c11_names,
   "C_11 from the whole volume (radial) or from its x-y cross-sections"},
  {"calibration_volume_labels", KEY_STRING, 1, 1, "", "-", 0, 0, 0, 0, NULL,
   "label values of calibration.volume: a map as input.labels, or [V] = the NVP value (the rest not NVP); default input.labels, else 1 = NVP"},
  {"calibration_validate_with", KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "a 3D three-phase image of the material: adequacy report of the calibrated model (<stem>_adequacy.csv)"},
  {"calibration_reference", KEY_REAL, 5, 5, NULL, "-", -INF, INF, 1, 1, NULL,
   "known lambda_X,lambda_Z,alpha_X,alpha_Y,m, printed next to the estimates"},
  {"run_memory_check", KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "refuse a deck whose largest stage needs more memory per rank than is available (estimate before any file is touched)"},
  {"run_memory_report", KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "print the memory estimate of every stage (bytes per rank) instead of its one-line summary"},
  {"threads", KEY_INT, 1, 1, "1", "-", 1, 1024, 0, 0, NULL, "threads per rank (FFTW threads and OpenMP loops)"},
};
#define NKEYS ((int)(sizeof(keys) / sizeof(keys[0])))

/* Section prefixes of the deck: a command-line option starting with one of them must be a key. */
static const char *const sections[] = {"domain_",  "model_", "random_",  "sweep_",       "output_",
                                       "fft_",     "input_", "measure_", "calibration_", "conductivity_",
                                       "segment_", "run_",   NULL};

typedef struct {
  PetscBool set;
  int       n;
  double    v[PG_MAX_SWEEP];
  char      s[PETSC_MAX_PATH_LEN];
} Value;

static const Key *FindKey(const char *name)
{
  if (name[0] == '-') name++;
  for (int i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].name, name)) return &keys[i];
  return NULL;
}

/* "model_alpha_x" -> "model.alpha_x", the way a user writes it in the deck */
static void DeckName(const char *opt, char *out, size_t len)
{
  const char *u = strchr(opt, '_');
  if (!u || !strcmp(opt, "threads")) {
    snprintf(out, len, "%s", opt);
    return;
  }
  snprintf(out, len, "%.*s.%s", (int)(u - opt), opt, u + 1);
}

static void RangeText(const Key *k, char *buf, size_t len)
{
  if (k->type == KEY_ENUM) {
    size_t o = 0;
    for (int i = 0; k->names[i]; i++) o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "|" : "", k->names[i]);
  } else if (k->type == KEY_BOOL) snprintf(buf, len, "true|false");
  else if (k->type == KEY_STRING) snprintf(buf, len, "text");
  else {
    char        lo[32], hi[32];
    const char *fmt = k->type == KEY_INT ? "%.0f" : "%g"; /* integers in full: [8, 16777216] */
    if (isinf(k->lo)) snprintf(lo, sizeof lo, "-inf");
    else snprintf(lo, sizeof lo, fmt, k->lo);
    if (isinf(k->hi)) snprintf(hi, sizeof hi, "inf");
    else snprintf(hi, sizeof hi, fmt, k->hi);
    snprintf(buf, len, "%s%s, %s%s", k->lo_open ? "(" : "[", lo, hi, k->hi_open ? ")" : "]");
  }
}

/* Parses the text of one key. Errors name the key, the value and what is allowed. */
static PetscErrorCode ParseValue(MPI_Comm comm, const Key *k, const char *text, Value *val)
{
  char dn[128], range[128];

  PetscFunctionBeginUser;
  DeckName(k->name, dn, sizeof dn);
  RangeText(k, range, sizeof range);
  val->set = PETSC_TRUE;
  val->n   = 0;
  if (k->type == KEY_STRING) {
    PetscCheck(strlen(text) < sizeof val->s, comm, PETSC_ERR_USER_INPUT, "%s: value is longer than %d characters", dn,
               (int)sizeof val->s - 1);
    snprintf(val->s, sizeof val->s, "%s", text);
    val->n = 1;
    PetscFunctionReturn(0);
  }
  if (k->type == KEY_BOOL) {
    const char *t = text[0] ? text : "true";
    if (!strcasecmp(t, "true") || !strcasecmp(t, "yes") || !strcasecmp(t, "on") || !strcmp(t, "1")) val->v[0] = 1;
    else if (!strcasecmp(t, "false") || !strcasecmp(t, "no") || !strcasecmp(t, "off") || !strcmp(t, "0")) val->v[0] = 0;
    else SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s = '%s' is not a boolean; allowed: true|false", dn, text);
    val->n = 1;
    PetscFunctionReturn(0);
  }
  if (k->type == KEY_ENUM) {
    for (int i = 0; k->names[i]; i++)
      if (!strcasecmp(text, k->names[i])) {
        val->v[0] = i;
        val->n    = 1;
        snprintf(val->s, sizeof val->s, "%s", k->names[i]);
        PetscFunctionReturn(0);
      }
    SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s = '%s' is not allowed; allowed: %s", dn, text, range);
  }
  /* numbers: comma-separated list, optionally in brackets */
  char buf[4096];
  PetscCheck(strlen(text) < sizeof buf, comm, PETSC_ERR_USER_INPUT, "%s: value list too long", dn);
  snprintf(buf, sizeof buf, "%s", text);
  for (char *c = buf; *c; c++)
    if (*c == '[' || *c == ']') *c = ' ';
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*tok)) tok++;
    char *end = tok + strlen(tok);
    while (end > tok && isspace((unsigned char)end[-1])) *--end = 0;
    PetscCheck(
      val->n<k->nmax, comm, PETSC_ERR_USER_INPUT, "%s = '%s': at most %d value%s allowed", dn, text, k->nmax, k->nmax> 1
        ? "s"
        : "");
    errno       = 0;
    char  *stop = NULL;
    double x    = strtod(tok, &stop);
    PetscCheck(*tok && stop && *stop == 0 && errno == 0 && isfinite(x), comm, PETSC_ERR_USER_INPUT,
               "%s = '%s': '%s' is not a number", dn, text, tok);
    if (k->type == KEY_INT)
      PetscCheck(x == floor(x), comm, PETSC_ERR_USER_INPUT, "%s = '%s': '%s' is not an integer", dn, text, tok);
    PetscBool ok = (k->lo_open ? x > k->lo : x >= k->lo) && (k->hi_open ? x < k->hi : x <= k->hi);
    PetscCheck(ok, comm, PETSC_ERR_USER_INPUT, "%s = %s is out of range; allowed: %s %s", dn, tok, range, k->unit);
    val->v[val->n++] = x;
  }
  PetscCheck(val->n >= k->nmin, comm, PETSC_ERR_USER_INPUT, "%s = '%s': needs %d value%s", dn, text, k->nmin,
             k->nmin > 1 ? "s" : "");
  PetscFunctionReturn(0);
}

/* Keys that also take a YAML map {value: phase}: PETSc's YAML reader names its entries KEY_VALUE
 * (input.labels: {0: pore} becomes -input_labels_0 pore). */
static const char *const map_keys[] = {"input_labels", "calibration_volume_labels", NULL};

/* The map key whose entry `name` is (its value in *value), or NULL. */
static const char *MapEntryKey(const char *name, long long *value)
{
  if (name[0] == '-') name++;
  for (int i = 0; map_keys[i]; i++) {
    size_t n = strlen(map_keys[i]);
    if (!strncmp(name, map_keys[i], n) && name[n] == '_' && name[n + 1]) {
      char *end   = NULL;
      errno       = 0;
      long long v = strtoll(name + n + 1, &end, 10);
      if (end && !*end && !errno) {
        *value = v;
        return map_keys[i];
      }
    }
  }
  return NULL;
}

static int PhaseByName(const char *t)
{
  while (isspace((unsigned char)*t)) t++;
  size_t n = strlen(t);
  while (n && isspace((unsigned char)t[n - 1])) n--;
  if (n == 3 && !strncasecmp(t, "nvp", 3)) return 1;
  if (n == 6 && !strncasecmp(t, "carbon", 6)) return 2;
  if (n == 4 && !strncasecmp(t, "pore", 4)) return 3;
  return 0;
}

static const char *const phase_names[] = {"-", "nvp", "carbon", "pore"};

static PetscErrorCode LabelMapAdd(MPI_Comm comm, const char *dn, PgLabelMap *map, long long value, int phase)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < map->n; i++)
    PetscCheck(map->value[i] != value, comm, PETSC_ERR_USER_INPUT, "%s: value %lld is mapped twice", dn, value);
  PetscCheck(map->n < PG_MAX_LABEL_VALUES, comm, PETSC_ERR_USER_INPUT, "%s: at most %d values can be mapped", dn,
             PG_MAX_LABEL_VALUES);
  map->value[map->n]   = value;
  map->phase[map->n++] = phase;
  PetscFunctionReturn(0);
}

static PetscBool ParseInteger(const char *t, long long *v)
{
  char *end = NULL;
  while (isspace((unsigned char)*t)) t++;
  errno = 0;
  *v    = strtoll(t, &end, 10);
  if (end == t || errno) return PETSC_FALSE;
  while (isspace((unsigned char)*end)) end++;
  return *end ? PETSC_FALSE : PETSC_TRUE;
}

/* given, the entries sorted by value, and the text of a map (for messages and the resolved deck) */
static void LabelMapFinish(PgLabelMap *map)
{
  size_t o = 0;

  map->given = map->n > 0;
  for (int i = 1; i < map->n; i++)
    for (int j = i; j > 0 && map->value[j - 1] > map->value[j]; j--) {
      long long v       = map->value[j];
      int       p       = map->phase[j];
      map->value[j]     = map->value[j - 1];
      map->phase[j]     = map->phase[j - 1];
      map->value[j - 1] = v;
      map->phase[j - 1] = p;
    }
  for (int i = 0; i < map->n && o < sizeof map->text; i++)
    o += (size_t)snprintf(map->text + o, sizeof map->text - o, "%s%lld:%s", i ? "," : "", map->value[i],
                          phase_names[map->phase[i]]);
  if (map->rest && o < sizeof map->text) snprintf(map->text + o, sizeof map->text - o, ",other:not nvp");
}

/* A label map from the deck: the text of KEY (a list [nvp, carbon, pore] of values, or pairs
 * phase=value / value:phase) or the YAML map entries KEY_VALUE: phase. volume: the calibration
 * stack, whose list form may also be one value (the NVP value, everything else not NVP). */
static PetscErrorCode LabelMapFromOptions(MPI_Comm comm, const char *key, const char *text, PetscBool volume,
                                          PgLabelMap *map)
{
  char      dn[128], buf[4096], *save = NULL;
  PetscInt  n;
  char    **names, **values;
  PetscBool from_map = PETSC_FALSE;

  PetscFunctionBeginUser;
  DeckName(key, dn, sizeof dn);
  PetscCall(PetscMemzero(map, sizeof *map));
  /* the map form: entries KEY_VALUE (collected first, then marked used) */
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    long long   v;
    const char *k = MapEntryKey(names[i], &v);
    if (!k || strcmp(k, key)) continue;
    int p = PhaseByName(values[i] ? values[i] : "");
    PetscCheck(p, comm, PETSC_ERR_USER_INPUT, "%s: value %lld maps to '%s'; allowed: nvp, carbon, pore", dn, v,
               values[i] ? values[i] : "");
    PetscCall(LabelMapAdd(comm, dn, map, v, p));
    from_map = PETSC_TRUE;
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  for (int i = 0; i < map->n; i++) {
    char opt[160];
    snprintf(opt, sizeof opt, "-%s_%lld", key, map->value[i]);
    PetscCall(PetscOptionsHasName(NULL, NULL, opt, NULL)); /* marks the entry used */
  }
  PetscCheck(!(from_map && text[0]), comm, PETSC_ERR_USER_INPUT, "%s is given both as a map and as '%s'; give one", dn,
             text);
  if (text[0]) {
    int nlist = 0;
    PetscCheck(strlen(text) < sizeof buf, comm, PETSC_ERR_USER_INPUT, "%s: value too long", dn);
    snprintf(buf, sizeof buf, "%s", text);
    for (char *c = buf; *c; c++)
      if (*c == '[' || *c == ']' || *c == '{' || *c == '}') *c = ' ';
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char     *sep = strpbrk(tok, "=:");
      long long v;
      if (sep) {
        /* phase=value or value:phase */
        *sep  = 0;
        int p = PhaseByName(tok), q = PhaseByName(sep + 1);
        PetscCheck(
          (p && ParseInteger(sep + 1, &v)) || (q && ParseInteger(tok, &v)), comm, PETSC_ERR_USER_INPUT,
          "%s = '%s': '%s%c%s' is neither phase=value nor value:phase (phases nvp, carbon, pore; integer values)", dn,
          text, tok, text[sep - buf], sep + 1);
        PetscCheck(!nlist, comm, PETSC_ERR_USER_INPUT,
                   "%s = '%s': give a list of values or phase=value pairs, not both", dn, text);
        PetscCall(LabelMapAdd(comm, dn, map, v, p ? p : q));
      } else {
        PetscCheck(ParseInteger(tok, &v), comm, PETSC_ERR_USER_INPUT, "%s = '%s': '%s' is not an integer value", dn,
                   text, tok);
        PetscCheck(nlist < 3 && (nlist == map->n), comm, PETSC_ERR_USER_INPUT,
                   "%s = '%s': a list gives the values of nvp, carbon, pore (three values%s)", dn, text,
                   volume ? ", or one: the NVP value" : "");
        PetscCall(LabelMapAdd(comm, dn, map, v, ++nlist));
      }
    }
    PetscCheck(map->n > 0, comm, PETSC_ERR_USER_INPUT, "%s = '%s' maps no value", dn, text);
    PetscCheck(!nlist || nlist == 3 || (volume && nlist == 1), comm, PETSC_ERR_USER_INPUT,
               "%s = '%s': a list gives the values of nvp, carbon, pore (three values%s)", dn, text,
               volume ? ", or one: the NVP value" : "");
    if (volume && nlist == 1) map->rest = 3; /* [V]: V is NVP, anything else is not */
  }
  LabelMapFinish(map);
  PetscFunctionReturn(0);
}

static PetscBool HasSectionPrefix(const char *name)
{
  for (int i = 0; sections[i]; i++)
    if (!strncmp(name, sections[i], strlen(sections[i]))) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Every key in the YAML file must be in the table; in_deck[i] tells whether key i is set there. */
static PetscErrorCode CheckDeckKeys(MPI_Comm comm, const char *path, PetscBool in_deck[])
{
  PetscOptions opts;
  PetscInt     n;
  char       **names, **values;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsCreate(&opts));
  PetscCall(PetscOptionsInsertFileYAML(comm, opts, path, PETSC_TRUE));
  PetscCall(PetscOptionsLeftGet(opts, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    char dn[256];
    DeckName(names[i], dn, sizeof dn);
    long long   v;
    const char *mk = MapEntryKey(names[i], &v);
    PetscCheck(FindKey(names[i]) || mk, comm, PETSC_ERR_USER_INPUT,
               "deck %s: unknown key '%s' (bin/plurigauss -help lists the keys)", path, dn);
    in_deck[FindKey(mk ? mk : names[i]) - keys] = PETSC_TRUE;
  }
  PetscCall(PetscOptionsLeftRestore(opts, &n, &names, &values));
  PetscCall(PetscOptionsDestroy(&opts));
  PetscFunctionReturn(0);
}

/* Option prefixes that belong to PETSc (and its solvers); any other unknown option is a typo. */
static const char *const petsc_prefixes[] = {"log",
                                             "malloc",
                                             "info",
                                             "options",
                                             "on_error",
                                             "ksp",
                                             "pc",
                                             "mg",
                                             "snes",
                                             "mat",
                                             "vec",
                                             "dm",
                                             "da",
                                             "viewer",
                                             "petsc",
                                             "mpi",
                                             "fp_trap",
                                             "no_signal_handler",
                                             "check_pointer",
                                             "memory",
                                             "objects",
                                             "history",
                                             "start_in_debugger",
                                             "debugger",
                                             "stop_for_debugger",
                                             "display",
                                             "help",
                                             "version",
                                             "use_gpu_aware_mpi",
                                             "device",
                                             "hypre",
                                             "pc_hypre",
                                             "mat_mumps",
                                             "cond_", /* the conduction solver's own options (conductivity.c) */
                                             NULL};

static PetscBool IsPetscOption(const char *name)
{
  for (int i = 0; petsc_prefixes[i]; i++)
    if (!strncmp(name, petsc_prefixes[i], strlen(petsc_prefixes[i]))) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Command-line options must be deck keys or PETSc options. */
static PetscErrorCode CheckCommandLineKeys(MPI_Comm comm)
{
  PetscInt n;
  char   **names, **values;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    char dn[256];
    DeckName(names[i], dn, sizeof dn);
    long long v;
    /* PETSc reads a value that begins with '-' as the next option's name, spaces and all */
    PetscCheck(!strchr(names[i], ' '), comm, PETSC_ERR_USER_INPUT,
               "'-%s' is an option value that begins with '-', which the command line reads as an option: give solver "
               "options directly (-cond_method amg) or in the deck (conductivity.solver_options)",
               names[i]);
    PetscCheck(
      FindKey(names[i]) || MapEntryKey(names[i], &v) || (!HasSectionPrefix(names[i]) && IsPetscOption(names[i])), comm,
      PETSC_ERR_USER_INPUT, "unknown option -%s (deck key '%s'; bin/plurigauss -help lists the keys)", names[i], dn);
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  PetscFunctionReturn(0);
}

static PetscErrorCode ReadDeckText(MPI_Comm comm, const char *path, char **text)
{
  int       rank;
  long long len = -1;
  char     *buf = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *f = fopen(path, "rb");
    if (f) {
      if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
      if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = (char *)malloc((size_t)len + 1);
        if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) len = -1;
      } else len = -1;
      fclose(f);
    }
  }
  PetscCallMPI(MPI_Bcast(&len, 1, MPI_LONG_LONG, 0, comm));
  PetscCheck(len >= 0, comm, PETSC_ERR_USER_INPUT, "deck %s: cannot read the file (%s)", path,
             rank == 0 ? strerror(errno) : "see rank 0");
  if (rank != 0) buf = (char *)malloc((size_t)len + 1);
  PetscCheck(buf, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory reading the deck");
  PetscCallMPI(MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm));
  buf[len] = 0;
  *text    = buf;
  PetscFunctionReturn(0);
}

/* The directory of the output file must exist and be writable, checked before any work. */
static PetscErrorCode CheckOutputPath(MPI_Comm comm, const char *file)
{
  char dir[PETSC_MAX_PATH_LEN];
  int  ok = 1, rank;

  PetscFunctionBeginUser;
  PetscCheck(file[0], comm, PETSC_ERR_USER_INPUT, "output.file is empty");
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  snprintf(dir, sizeof dir, "%s", file);
  char *slash = strrchr(dir, '/');
  if (slash) {
    if (slash == dir) slash[1] = 0;
    else *slash = 0;
  } else snprintf(dir, sizeof dir, ".");
  if (rank == 0) ok = access(dir, W_OK | X_OK) == 0;
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_USER_INPUT, "output.file = %s: directory '%s' does not exist or is not writable", file,
             dir);
  PetscFunctionReturn(0);
}

/* The shape and voxel-size keys of a section's image inputs (calibration, segment): SECTION_volume_shape,
 * SECTION_volume_voxel_um (1 or 3 values), SECTION_image_shape, SECTION_pixel_um (1 or 2); 0 = not given. */
static PetscErrorCode ImageInputKeys(MPI_Comm comm, Value *val, const char *section, PetscInt vshape[3],
                                     double voxel_um[3], PetscInt ishape[2], double pixel_um[2])
{
  char         name[64];
  const Value *vs, *vv, *is, *vp;

  PetscFunctionBeginUser;
#define KEYV(suffix) (snprintf(name, sizeof name, "%s_%s", section, suffix), &val[FindKey(name) - keys])
  vs = KEYV("volume_shape");
  vv = KEYV("volume_voxel_um");
  is = KEYV("image_shape");
  vp = KEYV("pixel_um");
#undef KEYV
  PetscCheck(!vv->set || vv->n == 1 || vv->n == 3, comm, PETSC_ERR_USER_INPUT,
             "%s.volume_voxel_um needs 1 or 3 values, got %d", section, vv->n);
  for (int d = 0; d < 3; d++) vshape[d] = vs->set ? (PetscInt)vs->v[d] : 0;
  for (int d = 0; d < 2; d++) ishape[d] = is->set ? (PetscInt)is->v[d] : 0;
  for (int d = 0; d < 3; d++) voxel_um[d] = vv->set ? vv->v[vv->n == 3 ? d : 0] : 0;
  for (int d = 0; d < 2; d++) pixel_um[d] = vp->set ? vp->v[vp->n == 2 ? d : 0] : 0;
  PetscFunctionReturn(0);
}

/* The resolved deck, cfg->resolved: one line appended (printf format), the buffer grown as needed. */
typedef struct {
  size_t len, cap;
} Resolved;

static PetscErrorCode ResolvedAppend(PgConfig *cfg, Resolved *r, const char *fmt, ...)
{
  va_list ap;
  int     need;

  PetscFunctionBeginUser;
  va_start(ap, fmt);
  need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (r->len + (size_t)need + 1 > r->cap) {
    r->cap = 2 * (r->len + (size_t)need + 1);
    PetscCall(PetscRealloc(r->cap, &cfg->resolved));
  }
  va_start(ap, fmt);
  r->len += (size_t)vsnprintf(cfg->resolved + r->len, r->cap - r->len, fmt, ap);
  va_end(ap);
  PetscFunctionReturn(0);
}

/* Every key: its given value or its default, and its line of the resolved deck. */
static PetscErrorCode ReadKeys(MPI_Comm comm, Value *val, PgConfig *cfg, Resolved *res)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < NKEYS; i++) {
    const Key *k = &keys[i];
    char       opt[160], text[4096], dn[128];
    PetscBool  set;
    snprintf(opt, sizeof opt, "-%s", k->name);
    PetscCall(PetscOptionsGetString(NULL, NULL, opt, text, sizeof text, &set));
    if (set) PetscCall(ParseValue(comm, k, text, &val[i]));
    else if (k->deflt) {
      PetscCall(ParseValue(comm, k, k->deflt, &val[i]));
      val[i].set = PETSC_FALSE; /* defaulted, not given */
    }
    DeckName(k->name, dn, sizeof dn);
    PetscCall(ResolvedAppend(cfg, res, "%s = %s\n", dn, set ? text : (k->deflt ? k->deflt : "(unset)")));
  }
  PetscFunctionReturn(0);
}

#define V(name) (&val[FindKey(name) - keys])

/* The label maps (their YAML map entries are options of their own, consumed here) and their
 * defaults; the resolved deck shows the maps in force. */
static PetscErrorCode LoadLabelMaps(MPI_Comm comm, Value *val, PgConfig *cfg, Resolved *res)
{
  PetscFunctionBeginUser;
  PetscCall(LabelMapFromOptions(comm, "input_labels", V("input_labels")->s, PETSC_FALSE, &cfg->input.labels));
  PetscCall(LabelMapFromOptions(comm, "calibration_volume_labels", V("calibration_volume_labels")->s, PETSC_TRUE,
                                &cfg->cal.volume_labels));
  if (!cfg->input.labels.given) {
    cfg->input.labels.n = 3;
    for (int i = 0; i < 3; i++) cfg->input.labels.value[i] = cfg->input.labels.phase[i] = i + 1;
    snprintf(cfg->input.labels.text, sizeof cfg->input.labels.text, "1:nvp,2:carbon,3:pore");
  }
  if (!cfg->cal.volume_labels.given) {
    if (cfg->input.labels.given) cfg->cal.volume_labels = cfg->input.labels;
    else {
      cfg->cal.volume_labels.n        = 1;
      cfg->cal.volume_labels.value[0] = 1;
      cfg->cal.volume_labels.phase[0] = 1;
      cfg->cal.volume_labels.rest     = 3;
      snprintf(cfg->cal.volume_labels.text, sizeof cfg->cal.volume_labels.text, "1:nvp,other:not nvp");
    }
  }
  cfg->cal.images_labels = cfg->input.labels;
  PetscCall(ResolvedAppend(cfg, res, "input.labels (in force) = %s\ncalibration.volume_labels (in force) = %s\n",
                           cfg->input.labels.text, cfg->cal.volume_labels.text));
  PetscFunctionReturn(0);
}

/* domain.*, model.* and sweep.*: a threshold and its fraction are alternatives; the command line
 * overrides the deck, within one source both is an error. */
static PetscErrorCode LoadModel(MPI_Comm comm, Value *val, const PetscBool in_deck[], PgConfig *cfg)
{
  Value *vs = V("domain_voxel_size_um");

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++) cfg->domain.shape[d] = (PetscInt)V("domain_shape")->v[d];
  PetscCheck(vs->n == 1 || vs->n == 3, comm, PETSC_ERR_USER_INPUT, "domain.voxel_size_um needs 1 or 3 values, got %d",
             vs->n);
  for (int d = 0; d < 3; d++) cfg->domain.voxel_um[d] = vs->v[vs->n == 3 ? d : 0];
  cfg->domain.voxel_given   = vs->set;
  cfg->domain.shape_given   = V("domain_shape")->set;
  cfg->model.alpha_x_per_um = V("model_alpha_x")->v[0];
  cfg->model.alpha_y_per_um = V("model_alpha_y")->v[0];
  cfg->model.m              = V("model_m")->v[0];
  cfg->model.nanopore_ratio = V("model_nanopore_ratio")->v[0];

#define IN_DECK(name) in_deck[FindKey(name) - keys]
#define RESOLVE(a, b)                                     \
  do {                                                    \
    Value *va = V(a), *vb = V(b);                         \
    if (va->set && vb->set && IN_DECK(a) != IN_DECK(b)) { \
      if (IN_DECK(a)) va->set = PETSC_FALSE;              \
      else vb->set = PETSC_FALSE;                         \
    }                                                     \
  } while (0)
  RESOLVE("model_lambda_x", "model_nvp_fraction");
  RESOLVE("model_lambda_z", "model_carbon_fraction");
  RESOLVE("model_lambda_z", "sweep_carbon_fraction");
#undef RESOLVE
#undef IN_DECK
  Value *lx = V("model_lambda_x"), *fx = V("model_nvp_fraction");
  PetscCheck(!(lx->set && fx->set), comm, PETSC_ERR_USER_INPUT,
             "model.lambda_x and model.nvp_fraction are both given; give one");
  cfg->model.have_lambda_x = lx->set;
  cfg->model.lambda_x      = lx->set ? lx->v[0] : 0;
  cfg->model.nvp_fraction  = fx->v[0];

  Value *lz = V("model_lambda_z"), *fz = V("model_carbon_fraction"), *sw = V("sweep_carbon_fraction");
  PetscCheck(!(lz->set && fz->set), comm, PETSC_ERR_USER_INPUT,
             "model.lambda_z and model.carbon_fraction are both given; give one");
  PetscCheck(!(lz->set && sw->set), comm, PETSC_ERR_USER_INPUT,
             "model.lambda_z and sweep.carbon_fraction are both given; a sweep sets lambda_Z from eq. 9 at each point");
  cfg->model.have_lambda_z = lz->set;
  cfg->model.lambda_z      = lz->set ? lz->v[0] : 0;
  cfg->model.from_sweep    = sw->set;
  if (sw->set) {
    cfg->model.npoints = sw->n;
    for (int i = 0; i < sw->n; i++) cfg->model.carbon_fraction[i] = sw->v[i];
  } else {
    cfg->model.npoints            = 1;
    cfg->model.carbon_fraction[0] = fz->v[0];
  }
  if (!cfg->model.have_lambda_x) {
    for (int i = 0; i < cfg->model.npoints && !cfg->model.have_lambda_z; i++)
      PetscCheck(cfg->model.nvp_fraction + cfg->model.carbon_fraction[i] < 1, comm, PETSC_ERR_USER_INPUT,
                 "%s = %g with model.nvp_fraction = %g: the fractions sum to %g, must be < 1",
                 sw->set ? "sweep.carbon_fraction" : "model.carbon_fraction", cfg->model.carbon_fraction[i],
                 cfg->model.nvp_fraction, cfg->model.nvp_fraction + cfg->model.carbon_fraction[i]);
  }
  cfg->sweep.realizations          = (PetscInt)V("sweep_realizations")->v[0];
  cfg->sweep.common_random_numbers = V("sweep_common_random_numbers")->v[0] != 0;
  cfg->sweep.first_point           = (PetscInt)V("sweep_first_point")->v[0];
  cfg->sweep.seed                  = (uint64_t)V("random_seed")->v[0];
  PetscFunctionReturn(0);
}

/* output.*, run.*, fft.*, threads and input.image. */
static PetscErrorCode LoadOutput(MPI_Comm comm, Value *val, PgConfig *cfg)
{
  PetscFunctionBeginUser;
  snprintf(cfg->output.file, sizeof cfg->output.file, "%s", V("output_file")->s);
  cfg->output.write_phase    = V("output_write_phase")->v[0] != 0;
  cfg->output.write_fields   = V("output_write_fields")->v[0] != 0;
  cfg->output.overwrite      = V("output_overwrite")->v[0] != 0;
  cfg->output.tiff_labels    = V("output_tiff_labels")->v[0] != 0;
  cfg->output.lock_content   = V("output_lock")->v[0] != 0;
  cfg->run.memory_check      = V("run_memory_check")->v[0] != 0;
  cfg->run.memory_report     = V("run_memory_report")->v[0] != 0;
  cfg->output.precision      = (PgPrecision)(int)V("output_precision")->v[0];
  cfg->output.compress_level = (PetscInt)V("output_compress")->v[0];
  cfg->fft.planner           = (PgPlanner)(int)V("fft_planner")->v[0];
  snprintf(cfg->fft.wisdom_file, sizeof cfg->fft.wisdom_file, "%s", V("fft_wisdom")->s);
  cfg->fft.threads    = (PetscInt)V("threads")->v[0];
  cfg->fft.time_bare  = V("fft_time_bare")->v[0] != 0;
  cfg->fft.low_memory = V("fft_memory")->v[0] != 0;
  PetscCheck(!(cfg->fft.low_memory && cfg->output.write_fields), comm, PETSC_ERR_USER_INPUT,
             "output.write_fields needs fft.memory = fast: with low, X and Y are never in memory together");
  snprintf(cfg->input.image, sizeof cfg->input.image, "%s", V("input_image")->s);
  PetscFunctionReturn(0);
}

/* An axes key ("xyz", "z", ...) as a bit mask (bit 0 = x). */
static PetscErrorCode AxesMask(MPI_Comm comm, const char *key, const char *text, const char *example, unsigned *mask)
{
  PetscFunctionBeginUser;
  *mask = 0;
  for (const char *c = text; *c; c++) {
    PetscCheck(*c == 'x' || *c == 'y' || *c == 'z', comm, PETSC_ERR_USER_INPUT,
               "%s = '%s': allowed letters x, y, z (e.g. %s)", key, text, example);
    *mask |= 1u << (*c - 'x');
  }
  PetscFunctionReturn(0);
}

/* measure.* */
static PetscErrorCode LoadMeasure(MPI_Comm comm, Value *val, PgConfig *cfg)
{
  PetscFunctionBeginUser;
  cfg->measure.covariance      = V("measure_covariance")->v[0] != 0;
  cfg->measure.intrinsic       = V("measure_intrinsic")->v[0] != 0;
  cfg->measure.interface_field = V("measure_interface_field")->v[0] != 0;
  cfg->measure.range_um        = V("measure_range_um")->v[0];
  cfg->measure.periodic        = (int)V("measure_periodic")->v[0];
  PetscCall(AxesMask(comm, "measure.axes", V("measure_axes")->s, "xyz or z", &cfg->measure.axes));
  PetscCheck(cfg->measure.axes, comm, PETSC_ERR_USER_INPUT, "measure.axes is empty: give at least one of x, y, z");
  cfg->measure.percolation  = V("measure_percolation")->v[0] != 0;
  cfg->measure.connectivity = (int)V("measure_connectivity")->v[0];
  PetscCheck(cfg->measure.connectivity == 6 || cfg->measure.connectivity == 26, comm, PETSC_ERR_USER_INPUT,
             "measure.connectivity = %d: allowed 6 or 26", cfg->measure.connectivity);
  cfg->measure.psd            = V("measure_psd")->v[0] != 0;
  cfg->measure.psd2d          = V("measure_psd2d")->v[0] != 0;
  cfg->measure.psd_step_um    = V("measure_psd_step_um")->v[0];
  cfg->measure.mip            = V("measure_mip")->v[0] != 0;
  cfg->measure.mip_inlet_high = V("measure_mip_inlet")->v[0] != 0;
  cfg->measure.tortuosity     = V("measure_tortuosity")->v[0] != 0;
  for (int i = 0; i < 3; i++) cfg->measure.mhat_exponents[i] = V("measure_mhat_exponents")->v[i];
  PetscFunctionReturn(0);
}

/* conductivity.*: the solver options must all carry the prefix -cond_. */
static PetscErrorCode LoadConductivity(MPI_Comm comm, Value *val, PgConfig *cfg)
{
  const char *c;

  PetscFunctionBeginUser;
  cfg->cond.solve = V("conductivity_solve")->v[0] != 0;
  PetscCall(AxesMask(comm, "conductivity.axes", V("conductivity_axes")->s, "z or xyz", &cfg->cond.axes));
  PetscCheck(cfg->cond.axes || !cfg->cond.solve, comm, PETSC_ERR_USER_INPUT,
             "conductivity.axes is empty: give at least one of x, y, z");
  cfg->cond.periodic_sides = V("conductivity_periodic_sides")->v[0] != 0;
  cfg->cond.rtol           = V("conductivity_rtol")->v[0];
  cfg->cond.m_rtol         = V("conductivity_m_rtol")->v[0];
  snprintf(cfg->cond.solver_options, sizeof cfg->cond.solver_options, "%s", V("conductivity_solver_options")->s);
  c = cfg->cond.solver_options;
  while (*c == ' ') c++;
  PetscCheck(!*c || !strncmp(c, "-cond_", 6), comm, PETSC_ERR_USER_INPUT,
             "conductivity.solver_options = '%s': give PETSc options with the prefix -cond_ (e.g. -cond_method amg)",
             cfg->cond.solver_options);
  for (c = cfg->cond.solver_options; *c; c++) {
    if (*c != '-' || (c > cfg->cond.solver_options && c[-1] != ' ')) continue;
    PetscCheck(!strncmp(c, "-cond_", 6), comm, PETSC_ERR_USER_INPUT,
               "conductivity.solver_options = '%s': every option must carry the prefix -cond_ (e.g. -cond_method amg)",
               cfg->cond.solver_options);
  }
  if (cfg->measure.psd_step_um > 0 && !cfg->input.image[0]) {
    const double vmin = PetscMin(PetscMin(cfg->domain.voxel_um[0], cfg->domain.voxel_um[1]), cfg->domain.voxel_um[2]);
    PetscCheck(
      cfg->measure.psd_step_um >= vmin / 16, comm, PETSC_ERR_USER_INPUT,
      "measure.psd_step_um = %g um is below 1/16 of the smallest voxel edge (%g um): finer radii do not change a digital opening",
      cfg->measure.psd_step_um, vmin);
  }
  PetscFunctionReturn(0);
}

/* segment.*: the inputs, the labels file, and the filter chains of the stack and of the images. */
static PetscErrorCode LoadSegment(MPI_Comm comm, Value *val, PgConfig *cfg)
{
  PetscFunctionBeginUser;
  snprintf(cfg->seg.volume, sizeof cfg->seg.volume, "%s", V("segment_volume")->s);
  snprintf(cfg->seg.mask, sizeof cfg->seg.mask, "%s", V("segment_mask")->s);
  snprintf(cfg->seg.images, sizeof cfg->seg.images, "%s", V("segment_images")->s);
  PetscCall(ImageInputKeys(comm, val, "segment", cfg->seg.volume_shape, cfg->seg.volume_voxel_um, cfg->seg.image_shape,
                           cfg->seg.pixel_um));
  cfg->seg.raw_type  = (int)V("segment_raw_type")->v[0];
  cfg->seg.calibrate = V("segment_calibrate")->v[0] != 0;
  if (V("segment_labels_file")->s[0])
    snprintf(cfg->seg.labels_file, sizeof cfg->seg.labels_file, "%s", V("segment_labels_file")->s);
  else PgFileSideCar(cfg->output.file, "_labels.h5", cfg->seg.labels_file, sizeof cfg->seg.labels_file);
  for (int k = 0; k < 2; k++) {
    const char       *w = k ? "image" : "stack";
    PgSegmentFilters *f = k ? &cfg->seg.image : &cfg->seg.stack;
    char              key[64];
#define SV(name) (snprintf(key, sizeof key, "segment_%s_%s", w, name), V(key))
    f->median_um    = SV("median_radius_um")->v[0];
    f->otsu_um      = SV("otsu_radius_um")->v[0];
    f->in3d         = k ? PETSC_FALSE : (PetscBool)(V("segment_stack_3d")->v[0] != 0);
    f->phases       = (int)SV("phases")->v[0];
    f->log_sigma_um = SV("log_sigma_um")->v[0];
    f->log_weight   = SV("log_weight")->v[0];
    f->majority     = (int)SV("majority")->v[0];
    f->majority_um  = SV("majority_radius_um")->v[0];
    f->bins         = (int)SV("bins")->v[0];
#undef SV
    PetscCheck(f->phases != 2, comm, PETSC_ERR_USER_INPUT,
               "segment.%s_phases = 2 is not allowed; allowed: 1 (NVP vs the rest) or 3 (NVP, carbon, pore)", w);
    PetscCheck(f->majority != 2 || f->majority_um > 0, comm, PETSC_ERR_USER_INPUT,
               "segment.%s_majority = ball needs segment.%s_majority_radius_um > 0", w, w);
  }
  PetscFunctionReturn(0);
}

/* calibration.*: the 3D volume and the 2D images come together, and exclude input.image. */
static PetscErrorCode LoadCalibration(MPI_Comm comm, Value *val, PgConfig *cfg)
{
  PetscFunctionBeginUser;
  snprintf(cfg->cal.volume, sizeof cfg->cal.volume, "%s", V("calibration_volume")->s);
  snprintf(cfg->cal.images, sizeof cfg->cal.images, "%s", V("calibration_images")->s);
  PetscCall(ImageInputKeys(comm, val, "calibration", cfg->cal.volume_shape, cfg->cal.volume_voxel_um,
                           cfg->cal.image_shape, cfg->cal.pixel_um));
  cfg->cal.raw_type = (int)V("calibration_raw_type")->v[0];
  snprintf(cfg->cal.validate_with, sizeof cfg->cal.validate_with, "%s", V("calibration_validate_with")->s);
  PetscCheck(
    !cfg->cal.validate_with[0] || cfg->cal.volume[0] || cfg->seg.volume[0], comm, PETSC_ERR_USER_INPUT,
    "calibration.validate_with = %s needs a calibration (calibration.volume and calibration.images, or segment.*)",
    cfg->cal.validate_with);
  cfg->cal.range_um       = V("calibration_range_um")->v[0];
  cfg->cal.m_step         = V("calibration_m_step")->v[0];
  cfg->cal.fix_m          = V("calibration_fix_m")->v[0] != 0;
  cfg->cal.simulate       = V("calibration_simulate")->v[0] != 0;
  cfg->cal.fractions_2d   = (int)V("calibration_fractions_2d")->v[0];
  cfg->cal.c11            = (int)V("calibration_c11")->v[0];
  cfg->cal.have_reference = V("calibration_reference")->set;
  for (int i = 0; i < 5; i++) cfg->cal.reference[i] = cfg->cal.have_reference ? V("calibration_reference")->v[i] : NAN;
  PetscCheck(
    !cfg->cal.volume[0] || cfg->cal.images[0], comm, PETSC_ERR_USER_INPUT,
    "calibration.volume is given but calibration.images is not: the 2D three-phase images are needed for lambda_Z, m and alpha_Y");
  PetscCheck(cfg->cal.volume[0] || !cfg->cal.images[0], comm, PETSC_ERR_USER_INPUT,
             "calibration.images is given but calibration.volume is not: the 3D volume is needed for eps1 and alpha_X");
  PetscCheck(!(cfg->cal.volume[0] && cfg->input.image[0]), comm, PETSC_ERR_USER_INPUT,
             "calibration.volume and input.image are both given: calibrate and simulate, or measure an image");
  PetscFunctionReturn(0);
}
#undef V

/* The values of every key into cfg, section by section, each checked where it is read. */
static PetscErrorCode LoadValues(MPI_Comm comm, Value *val, const PetscBool in_deck[], PgConfig *cfg)
{
  PetscFunctionBeginUser;
  PetscCall(LoadModel(comm, val, in_deck, cfg));
  PetscCall(LoadOutput(comm, val, cfg));
  PetscCall(LoadMeasure(comm, val, cfg));
  PetscCall(LoadConductivity(comm, val, cfg));
  PetscCall(LoadSegment(comm, val, cfg));
  PetscCall(LoadCalibration(comm, val, cfg));
  /* the grid must resolve the correlation length: rho(1 voxel) = exp(-(alpha dx)^2) */
  for (int d = 0; d < 3 && !cfg->input.image[0] && !cfg->cal.volume[0]; d++) {
    double ad = PetscMax(cfg->model.alpha_x_per_um, cfg->model.alpha_y_per_um) * cfg->domain.voxel_um[d];
    PetscCheck(
      ad <= 1.0, comm, PETSC_ERR_USER_INPUT,
      "domain.voxel_size_um = %g is large against 1/alpha = %g um (alpha*voxel = %.3g, allowed <= 1): the fields would not be resolved",
      cfg->domain.voxel_um[d], 1.0 / PetscMax(cfg->model.alpha_x_per_um, cfg->model.alpha_y_per_um), ad);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigLoad(MPI_Comm comm, const char *deck_path, PgConfig *cfg)
{
  Value    *val;
  Resolved  res            = {0, 8192};
  PetscBool in_deck[NKEYS] = {PETSC_FALSE};

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(cfg, sizeof *cfg));
  PetscCall(PetscCalloc1(NKEYS, &val));
  if (deck_path && deck_path[0]) {
    snprintf(cfg->deck_path, sizeof cfg->deck_path, "%s", deck_path);
    PetscCall(ReadDeckText(comm, deck_path, &cfg->deck_text));
    PetscCall(CheckDeckKeys(comm, deck_path, in_deck));
  } else {
    cfg->deck_text = strdup("");
  }
  PetscCall(PetscMalloc1(res.cap, &cfg->resolved));
  cfg->resolved[0] = 0;
  PetscCall(ReadKeys(comm, val, cfg, &res));
  PetscCall(LoadLabelMaps(comm, val, cfg, &res));
  PetscCall(CheckCommandLineKeys(comm));
  PetscCall(LoadValues(comm, val, in_deck, cfg));
  PetscCall(CheckOutputPath(comm, cfg->output.file));
  PetscCall(PetscFree(val));
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigDestroy(PgConfig *cfg)
{
  PetscFunctionBeginUser;
  free(cfg->deck_text);
  cfg->deck_text = NULL;
  PetscCall(PetscFree(cfg->resolved));
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigPrintHelp(MPI_Comm comm)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm,
                        "plurigauss: Pluri-Gaussian NVP/carbon/pore structures (Neumann et al.)\n\n"
                        "usage: mpirun -np P bin/plurigauss [DECK.yaml] [-section_key value ...] [PETSc options]\n\n"
                        "The deck is YAML; nested keys become -section_key and can be overridden on the command line.\n"
                        "Lists are written [a, b, c] in YAML and a,b,c on the command line.\n\n"));
  PetscCall(PetscPrintf(comm, "%-30s %-16s %-8s %-22s %s\n", "key", "default", "unit", "allowed", "meaning"));
  for (int i = 0; i < NKEYS; i++) {
    char dn[128], range[128];
    DeckName(keys[i].name, dn, sizeof dn);
    RangeText(&keys[i], range, sizeof range);
    PetscCall(PetscPrintf(comm, "%-30s %-16s %-8s %-22s %s\n", dn,
                          keys[i].deflt ? (keys[i].deflt[0] ? keys[i].deflt : "\"\"") : "(unset)", keys[i].unit, range,
                          keys[i].help));
  }
  PetscCall(PetscPrintf(
    comm,
    "\nExactly one of model.nvp_fraction / model.lambda_x and of model.carbon_fraction / model.lambda_z\n"
    "is used; a given threshold replaces the fraction. PETSc options (-log_view, -options_left) pass through.\n"
    "With calibration.volume and calibration.images, the calibrated parameters replace model.alpha_x, alpha_y,\n"
    "m (unless calibration.fix_m), nvp_fraction and carbon_fraction (unless a sweep or model.lambda_z is given).\n"));
  PetscFunctionReturn(0);
}

/* One cell of a Markdown table: '|' and '\\' escaped always, '<' always (it would open an HTML tag),
   '*' and '_' where they could open or close emphasis (not between two letters or two spaces). */
static PetscErrorCode MarkdownCell(const char *in, char *out, size_t len)
{
  size_t o = 0;

  PetscFunctionBeginUser;
  for (size_t i = 0; in[i]; i++) {
    const char c = in[i], prev = i ? in[i - 1] : ' ', next = in[i + 1] ? in[i + 1] : ' ';
    int        esc = c == '|' || c == '\\' || c == '<' || c == '`';
    PetscCheck(o + 3 < len, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "Markdown cell buffer too small for '%s'", in);
    if (c == '_') esc = !(isalnum((unsigned char)prev) && isalnum((unsigned char)next));
    if (c == '*') esc = !(prev == ' ' && next == ' ');
    if (esc) out[o++] = '\\';
    out[o++] = c;
  }
  out[o] = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigPrintHelpMarkdown(MPI_Comm comm)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm, "| key | default | unit | allowed | meaning |\n|---|---|---|---|---|\n"));
  for (int i = 0; i < NKEYS; i++) {
    char        dn[128], range[128], mrange[256], help[1024];
    const char *d = keys[i].deflt;
    DeckName(keys[i].name, dn, sizeof dn);
    RangeText(&keys[i], range, sizeof range);
    PetscCall(MarkdownCell(range, mrange, sizeof mrange));
    PetscCall(MarkdownCell(keys[i].help, help, sizeof help));
    if (!d) PetscCall(PetscPrintf(comm, "| `%s` | unset | %s | %s | %s |\n", dn, keys[i].unit, mrange, help));
    else
      PetscCall(
        PetscPrintf(comm, "| `%s` | `%s` | %s | %s | %s |\n", dn, d[0] ? d : "\"\"", keys[i].unit, mrange, help));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigSignature(const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp, char *buf,
                                 size_t len)
{
  size_t o = 0;

  PetscFunctionBeginUser;
  o += (size_t)snprintf(buf + o, len - o, "shape=%d,%d,%d voxel=%.17g,%.17g,%.17g ax=%.17g ay=%.17g m=%.17g",
                        (int)dom->shape[0], (int)dom->shape[1], (int)dom->shape[2], dom->voxel_um[0], dom->voxel_um[1],
                        dom->voxel_um[2], mp->alpha_x_per_um, mp->alpha_y_per_um, mp->m);
  if (mp->have_lambda_x) o += (size_t)snprintf(buf + o, len - o, " lx=%.17g", mp->lambda_x);
  else o += (size_t)snprintf(buf + o, len - o, " eps1=%.17g", mp->nvp_fraction);
  if (mp->have_lambda_z) o += (size_t)snprintf(buf + o, len - o, " lz=%.17g", mp->lambda_z);
  else
    for (int i = 0; i < mp->npoints && o < len; i++)
      o += (size_t)snprintf(buf + o, len - o, "%s%.17g", i ? "," : " eps2=", mp->carbon_fraction[i]);
  if (cfg->input.image[0] && o < len) o += (size_t)snprintf(buf + o, len - o, " image=%s", cfg->input.image);
  if ((cfg->input.labels.given || cfg->cal.volume_labels.given) && o < len)
    o += (size_t)snprintf(buf + o, len - o, " labels=%s|%s", cfg->input.labels.text, cfg->cal.volume_labels.text);
  if (mp->calibrated_from[0] && o < len) o += (size_t)snprintf(buf + o, len - o, " calibrated=%s", mp->calibrated_from);
  if (o < len)
    o += (size_t)snprintf(buf + o, len - o, " R=%d seed=%llu crn=%d prec=%d", (int)cfg->sweep.realizations,
                          (unsigned long long)cfg->sweep.seed, (int)cfg->sweep.common_random_numbers,
                          (int)cfg->output.precision);
  if (cfg->sweep.first_point && o < len) o += (size_t)snprintf(buf + o, len - o, " p0=%d", (int)cfg->sweep.first_point);
  PetscCheck(o < len, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "signature buffer too small");
  PetscFunctionReturn(0);
}

void PgModelParamsOrigin(const PgModelParams *mp, char *buf, size_t len)
{
  static const char *const name[PG_NPARAMS] = {"lambda_x", "lambda_z", "alpha_x", "alpha_y", "m"};
  size_t                   o                = 0;

  buf[0] = 0;
  for (int i = 0; i < PG_NPARAMS && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s: %s", i ? ", " : "", name[i],
                          mp->origin[i] == PG_FROM_CALIBRATION ? "calibration" : "deck");
}
