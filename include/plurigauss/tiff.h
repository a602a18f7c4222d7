/// \file
/// TIFF stacks in and out (libtiff in, a hand-written parallel writer out).
///
/// In: a multi-page TIFF (`FILE.tif`, page k = plane z = k), or one single-page TIFF per slice
/// named by a folder (`DIR/`: every *.tif / *.tiff in it), a printf pattern (`DIR/s_%04d.tif`:
/// the files matching it, ordered by their number, which must run without gaps) or a glob pattern
/// (`DIR/s_*.tif`), both sorted naturally (s_2 before s_10). One sample per pixel of 8, 16, 32
/// (or 64, float) bits, unsigned, signed or float; strips or tiles; any compression libtiff
/// decodes (none, LZW, deflate, PackBits, ...). Row 0 of a page is y = 0. The voxel size comes from
/// XResolution / YResolution with ResolutionUnit (inch, cm; or none with an ImageJ `unit=`), z from
/// the ImageJ description's `spacing=`.
///
/// Out: uint8 labels as an uncompressed multi-page TIFF that Fiji and tifffile open (ImageJ
/// description with `spacing=` and `unit=micron`, resolution tags), written by all ranks at once:
/// rank 0 writes the header and every IFD, each rank its own planes at offsets computed from z
/// (one strip per page), one collective MPI-IO write each. Classic TIFF below 4 GiB, BigTIFF above.
#pragma once

#include <plurigauss/grid.h>
#include <plurigauss/rawtype.h>
#include <stdint.h>

/// What PgTiffProbe finds. Element types are PG_RAW_* (rawtype.h).
typedef struct {
  long long n[3];              /* nx, ny, number of pages (slices) */
  int       etype;             /* PG_RAW_* element type of the samples */
  int       nfiles;            /* 0: one multi-page file; else one file per slice */
  double    voxel_um[3];       /* from the tags; 0 where the file does not say */
  char      voxel_source[160]; /* where voxel_um came from, or a warning about it */
} PgTiffInfo;

/// Whether spec names a TIFF input: ends in .tif/.tiff, is a directory, holds a printf (%d) or
/// glob (* ? [) pattern, or is a file that starts with the TIFF magic bytes.
PetscBool PgTiffIsSpec(const char *spec);
/// Checks every page (or slice file) of a TIFF input on the calling rank: readable, same width,
/// height and sample type throughout, supported type, one sample per pixel, data inside the file.
/// Returns 0 and a one-line message (prefixed by `what`) on any problem.
int PgTiffProbe(const char *spec, const char *what, PgTiffInfo *info, char *msg, size_t len);
/// Reads pages z0 .. z0 + nz - 1 of a probed TIFF input into buf (native element type, [z][y][x])
/// on the calling rank alone: opens the file and visits only those pages (or only those slice
/// files). Returns 0 and a message on a decoding error.
int PgTiffReadPages(const char *spec, const char *what, const PgTiffInfo *info, long long z0, long long nz, void *buf,
                    char *msg, size_t len);
/// Writes grid g's labels (one uint8 per voxel, the slab of each rank) to path as a multi-page
/// TIFF with the voxel size; written as path.part and renamed when complete. Collective.
PetscErrorCode PgTiffWriteLabels(PgGrid g, const uint8_t *v, const char *path);
