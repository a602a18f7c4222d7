/// \file
/// Segmentation of grey-value images into phase labels (Section 2.4), on the slab decomposition.
///
/// The filters work on a grey slab (float, [z][y][x]) of a grid; a 2D image is a grid of one plane
/// on PETSC_COMM_SELF (PgSegmentImageGrid). Neighbourhoods are balls of a radius in µm over the
/// voxel offsets (i dx)^2 + (j dy)^2 + (k dz)^2 <= r^2 (disks in the slice when `in3d` is false),
/// clipped at the image's edges (median, Otsu, majority use the voxels inside the image only); the
/// Mexican hat mirrors the image at its edges (scipy's mode 'reflect'). 3D neighbourhoods read
/// ghost planes from whichever ranks own them (PgGridHaloGather); per-slice filters communicate
/// nothing. Every result is independent of the rank count (bitwise).
#pragma once

#include <plurigauss/config.h>
#include <plurigauss/grid.h>
#include <plurigauss/image.h>
#include <stdint.h>

/// Output labels: 1 = NVP (bright), 2 = carbon (dark), 3 = pore (medium grey); with one phase, 0 =
/// not NVP; 255 = outside the mask.
enum { PG_SEG_REST = 0, PG_SEG_OUTSIDE = 255 };

/// Otsu's threshold of a histogram of nb bins: the t maximising the between-class variance of
/// {bins <= t} and {bins > t} (the first maximum); -1 when fewer than two bins are occupied.
int PgSegmentOtsuThreshold(const double *hist, int nb);

/// The input specifications of the segmentation's grey volume and images (keys, shapes, voxel
/// sizes, raw type), for the stage and for the memory check's probe.
void PgSegmentInputSpecs(const PgConfig *cfg, PgInputSpec *volume, PgInputSpec *images);

/// Median of the neighbourhood of radius_um (the lower median of an even count), in place.
PetscErrorCode PgSegmentMedian(PgGrid g, double radius_um, PetscBool in3d, float *v);
/// Mexican hat sharpening in place: g - weight * sum_d sigma^2 d^2/dx_d^2 (G_sigma * g), the
/// Gaussian derivative kernels of scipy.ndimage (normalised Gaussian, truncated at 3 sigma per
/// axis), mirrored edges. In-plane unless in3d.
PetscErrorCode PgSegmentMexicanHat(PgGrid g, double sigma_um, double weight, PetscBool in3d, float *v);
/// Otsu classification: for every voxel with sel[i] (sel NULL: all), bright[i] = 1 when its bin
/// exceeds Otsu's threshold of the histogram of the selected voxels in its neighbourhood of
/// radius_um (radius 0: of the whole image, one threshold), else 0; other voxels untouched. Values
/// are quantised to `bins` levels between the selected voxels' global min and max:
/// bin = round((v - min) / (max - min) (bins - 1)). A window whose selected voxels share one bin
/// classifies them as dark. threshold (optional) gets the global threshold in grey units, or NaN.
PetscErrorCode PgSegmentOtsu(PgGrid g, double radius_um, PetscBool in3d, int bins, const float *v, const uint8_t *sel,
                             uint8_t *bright, double *threshold);
/// Majority filter of labels 0..3 in place: each voxel takes the most frequent label of its
/// neighbourhood (kind 1: the 3x3(x3) cube; 2: the ball of radius_um); ties keep the voxel's own
/// label when it is among the most frequent, else the smallest. Label 255 (outside) is neither
/// counted nor changed.
PetscErrorCode PgSegmentMajority(PgGrid g, int kind, double radius_um, PetscBool in3d, uint8_t *labels);

typedef struct {
  double fraction[4];  /* fractions of labels 0..3 among the voxels inside the mask */
  double threshold[2]; /* global Otsu thresholds of steps 1 and 2 (grey units), NaN when local */
  double seconds[5];   /* median, otsu step 1, mexican hat, otsu step 2, majority */
} PgSegmentStats;

/// The chain of f on a grey slab: median -> step 1 (Otsu: bright = NVP) -> [three phases:
/// Mexican hat -> step 2 (Otsu among the non-NVP voxels: brighter = pore, darker = carbon)] ->
/// majority. v is overwritten (filtered grey values); mask (NULL: all) restricts everything.
PetscErrorCode PgSegmentRun(PgGrid g, const PgSegmentFilters *f, float *v, const uint8_t *mask, uint8_t *labels,
                            PgSegmentStats *st);

/// A one-plane grid on PETSC_COMM_SELF for a 2D image of nx x ny pixels (no FFTW), to be freed
/// with PgSegmentImageGridDestroy.
PetscErrorCode PgSegmentImageGrid(int nx, int ny, const double pixel_um[2], PgGrid *g);
PetscErrorCode PgSegmentImageGridDestroy(PgGrid *g);

/// The segment stage of the deck: reads the grey stack (on its slabs) and the 2D images (image k
/// on rank k mod P), segments them and writes cfg->seg.labels_file (/volume, /images/K; written to a
/// temporary name and renamed, so a finished labels file survives a later failure). The labels stay
/// in *seg, for calibration (PgCalibrationCreate) without reading the file back. Collective.
typedef struct PgSegmentation_private *PgSegmentation;
PetscErrorCode                         PgSegmentStage(MPI_Comm comm, const PgConfig *cfg, PgSegmentation *seg);
/// Whether the deck calibrates from these labels: segment.calibrate with a stack and images and no
/// calibration.volume of its own. The images must then have three phases (else an input error).
PetscErrorCode PgSegmentationCalibrates(PgSegmentation seg, PetscBool *yes);
/// The stack's labels on its slabs (labels[i], the local voxels of grid; 1 = NVP, 255 = outside
/// segment.mask), or grid = NULL without a stack.
void PgSegmentationVolume(PgSegmentation seg, PgGrid *grid, const uint8_t **labels);
/// Image k: its shape, pixel edges (µm), the rank that holds its labels ([y][x], 1, 2, 3) and, on
/// that rank, the labels (NULL elsewhere).
void PgSegmentationImage(PgSegmentation seg, int k, int *nx, int *ny, double pixel_um[2], int *owner,
                         const uint8_t **labels);
/// The number of 2D images, and the labels file (provenance of a calibration from these labels).
int            PgSegmentationNumImages(PgSegmentation seg);
const char    *PgSegmentationLabelsFile(PgSegmentation seg);
PetscErrorCode PgSegmentationDestroy(PgSegmentation *seg);
