/// \file
/// TIFF stacks (see include/plurigauss/tiff.h for the layouts).
///
/// Reading. Rank 0 probes the input before any work (PgTiffProbe): it visits every page's IFD
/// (or opens every slice file), so a mixed page size, an unsupported sample type, several
/// samples per pixel (RGB), or a strip or tile that lies beyond the end of the file (a truncated
/// file) is one message before any output is touched. Every rank then reads only the pages of
/// its z-slab (PgTiffReadPages): TIFFSetDirectory to its first page, which walks the IFD chain
/// (a few bytes per page, no pixel data), then one page after the other, strip by strip or tile
/// by tile, decoded by libtiff. A folder or pattern is expanded by every rank the same way (the
/// same directory listing and sort), and each rank opens only its own slice files. Bytes read per
/// rank: its slab (compressed), plus the IFDs before it. libtiff's messages are captured per file
/// handle (TIFFOpenOptions) into the error line instead of being printed.
///
/// Writing (PgTiffWriteLabels). The file is laid out before anything is written: header, the
/// ImageJ description and the resolution rationals, then nz IFDs of a fixed size, then the planes
/// in z order (one uncompressed strip per page). Rank 0 writes the header and the IFDs; every rank
/// writes its contiguous slab of planes at 'data + z_start * nx * ny'; both in one collective
/// MPI_File_write_at_all. No rank gathers any plane of another. The file is written as .part and
/// renamed by rank 0 when complete. Cost: the volume's bytes plus ~200 bytes per page.
#include <plurigauss/files.h>
#include <plurigauss/tiff.h>

#include <ctype.h>
#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>

/* ---------------------------------------------------------------------------------------------
 * libtiff handles with their messages captured
 * --------------------------------------------------------------------------------------------- */

typedef struct {
  char text[256]; /* libtiff's first error message on this handle */
} TiffMsg;

static int CaptureError(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
  TiffMsg *m = (TiffMsg *)user;
  if (m && !m->text[0]) vsnprintf(m->text, sizeof m->text, fmt, ap);
  return 1;
}

static int IgnoreWarning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) { return 1; }

static TIFF *OpenTiff(const char *path, TiffMsg *m)
{
  TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
  TIFF            *t;
  m->text[0] = 0;
  if (!o) return NULL;
  TIFFOpenOptionsSetErrorHandlerExtR(o, CaptureError, m);
  TIFFOpenOptionsSetWarningHandlerExtR(o, IgnoreWarning, NULL);
  t = TIFFOpenExt(path, "rm", o); /* m: read(2) instead of mmap, so a truncated file is an error, not SIGBUS */
  TIFFOpenOptionsFree(o);
  return t;
}

/* ---------------------------------------------------------------------------------------------
 * Slice lists: folders, printf and glob patterns, natural order
 * --------------------------------------------------------------------------------------------- */

/* "s_2.tif" < "s_10.tif": runs of digits compare by value, the rest byte by byte */
static int NaturalCompare(const char *a, const char *b)
{
  while (*a && *b) {
    if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
      while (*a == '0' && isdigit((unsigned char)a[1])) a++;
      while (*b == '0' && isdigit((unsigned char)b[1])) b++;
      size_t la = 0, lb = 0;
      while (isdigit((unsigned char)a[la])) la++;
      while (isdigit((unsigned char)b[lb])) lb++;
      if (la != lb) return la < lb ? -1 : 1;
      int c = strncmp(a, b, la);
      if (c) return c;
      a += la;
      b += lb;
    } else {
      if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
      a++;
      b++;
    }
  }
  return *a ? 1 : *b ? -1 : 0;
}

static int CompareNames(const void *x, const void *y) { return NaturalCompare(*(char *const *)x, *(char *const *)y); }

static PetscBool HasTiffSuffix(const char *name)
{
  size_t n = strlen(name);
  return (n > 4 && !strcasecmp(name + n - 4, ".tif")) || (n > 5 && !strcasecmp(name + n - 5, ".tiff")) ? PETSC_TRUE
                                                                                                       : PETSC_FALSE;
}

static PetscBool IsDirectory(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? PETSC_TRUE : PETSC_FALSE;
}

/* The printf conversion of a pattern: %d, %Nd or %0Nd, exactly one. Returns its start, or NULL. */
static const char *PrintfConversion(const char *pattern, size_t *len)
{
  const char *found = NULL;
  for (const char *c = strchr(pattern, '%'); c; c = strchr(c + 1, '%')) {
    const char *e = c + 1;
    while (isdigit((unsigned char)*e)) e++;
    if (*e != 'd' || found) return NULL;
    found = c;
    *len  = (size_t)(e + 1 - c);
  }
  return found;
}

typedef struct {
  int    n;
  char **name; /* n paths, each malloc'ed, in slice order */
} SliceList;

static void SliceListFree(SliceList *l)
{
  for (int i = 0; i < l->n; i++) free(l->name[i]);
  free(l->name);
  l->n    = 0;
  l->name = NULL;
}

static int SliceListAdd(SliceList *l, const char *dir, const char *name)
{
  size_t need = strlen(dir) + strlen(name) + 2;
  char **nn   = (char **)realloc(l->name, sizeof(char *) * (size_t)(l->n + 1));
  if (!nn) return 0;
  l->name = nn;
  if (!(l->name[l->n] = (char *)malloc(need))) return 0;
  snprintf(l->name[l->n], need, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "", name);
  l->n++;
  return 1;
}

/* A folder: its .tif and .tiff files in name order. 0 and msg on failure. */
static int ListFolder(const char *spec, const char *what, SliceList *l, char *msg, size_t len)
{
  DIR           *d = opendir(spec);
  struct dirent *e;

  if (!d) {
    snprintf(msg, len, "%s = %s: cannot list the folder", what, spec);
    return 0;
  }
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && HasTiffSuffix(e->d_name) && !SliceListAdd(l, spec, e->d_name)) break;
  closedir(d);
  if (!l->n) {
    snprintf(msg, len, "%s = %s: the folder holds no .tif or .tiff file", what, spec);
    return 0;
  }
  qsort(l->name, (size_t)l->n, sizeof(char *), CompareNames);
  return 1;
}

/* The slices of a numbered list in the order of idx (insertion sort of names and numbers together:
 * lists are short), checked for gaps and repeats. 0 and msg on failure (idx freed, l emptied). */
static int OrderNumbered(const char *spec, const char *what, SliceList *l, long long *idx, char *msg, size_t len)
{
  for (int i = 1; i < l->n; i++)
    for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
      long long t    = idx[j];
      char     *p    = l->name[j];
      idx[j]         = idx[j - 1];
      l->name[j]     = l->name[j - 1];
      idx[j - 1]     = t;
      l->name[j - 1] = p;
    }
  for (int i = 1; i < l->n; i++)
    if (idx[i] != idx[i - 1] + 1) {
      snprintf(msg, len,
               "%s = %s: the slice numbers jump from %lld to %lld (%s, %s): a slice is missing or named twice", what,
               spec, idx[i - 1], idx[i], l->name[i - 1], l->name[i]);
      free(idx);
      SliceListFree(l);
      return 0;
    }
  free(idx);
  return 1;
}

/* DIR/prefix%04dsuffix: every entry prefix<digits>suffix of DIR, ordered by the number (conv is the
 * %d conversion in spec, clen its length). 0 and msg on failure. */
static int ListNumbered(const char *spec, const char *what, const char *conv, size_t clen, SliceList *l, char *msg,
                        size_t len)
{
  char        dir[PETSC_MAX_PATH_LEN];
  const char *slash = strrchr(spec, '/');

  if (!conv || (slash && slash > conv)) {
    snprintf(msg, len, "%s = %s: a pattern needs exactly one %%d (e.g. %%04d) in the file name", what, spec);
    return 0;
  }
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - spec) : 1, slash ? spec : ".");
  const char    *base = slash ? slash + 1 : spec;
  size_t         plen = (size_t)(conv - base);
  const char    *suf  = conv + clen;
  DIR           *d    = opendir(dir);
  long long     *idx  = NULL;
  struct dirent *e;
  if (!d) {
    snprintf(msg, len, "%s = %s: cannot list the folder '%s'", what, spec, dir);
    return 0;
  }
  while ((e = readdir(d))) {
    const char *s = e->d_name;
    if (strncmp(s, base, plen)) continue;
    const char *digits = s + plen, *end = digits;
    while (isdigit((unsigned char)*end)) end++;
    if (end == digits || end - digits > 15 || strcmp(end, suf)) continue;
    long long *ni = (long long *)realloc(idx, sizeof(long long) * (size_t)(l->n + 1));
    if (!ni || !SliceListAdd(l, slash ? dir : "", s)) {
      free(ni ? ni : idx);
      closedir(d);
      SliceListFree(l);
      snprintf(msg, len, "%s = %s: out of memory listing the slices", what, spec);
      return 0;
    }
    idx           = ni;
    idx[l->n - 1] = atoll(digits);
  }
  closedir(d);
  if (!l->n) {
    snprintf(msg, len, "%s = %s: no file matches the pattern in '%s'", what, spec, dir);
    free(idx);
    return 0;
  }
  return OrderNumbered(spec, what, l, idx, msg, len);
}

/* A shell pattern: the matches in name order. 0 and msg on failure. */
static int ListGlob(const char *spec, const char *what, SliceList *l, char *msg, size_t len)
{
  glob_t g;
  int    rc = glob(spec, 0, NULL, &g);

  if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
    snprintf(msg, len, "%s = %s: no file matches the pattern", what, spec);
    if (rc == 0) globfree(&g);
    return 0;
  }
  if (rc) {
    snprintf(msg, len, "%s = %s: cannot expand the pattern", what, spec);
    return 0;
  }
  for (size_t i = 0; i < g.gl_pathc; i++)
    if (!SliceListAdd(l, "", g.gl_pathv[i])) break;
  globfree(&g);
  qsort(l->name, (size_t)l->n, sizeof(char *), CompareNames);
  return 1;
}

/* Expands a folder or pattern into its slice files (l->n == 0: spec is one multi-page file). */
static int ListSlices(const char *spec, const char *what, SliceList *l, char *msg, size_t len)
{
  size_t      clen = 0;
  const char *conv = PrintfConversion(spec, &clen);

  l->n    = 0;
  l->name = NULL;
  if (IsDirectory(spec)) return ListFolder(spec, what, l, msg, len);
  if (strchr(spec, '%')) return ListNumbered(spec, what, conv, clen, l, msg, len);
  if (strpbrk(spec, "*?[")) return ListGlob(spec, what, l, msg, len);
  return 1; /* one file */
}

PetscBool PgTiffIsSpec(const char *spec)
{
  unsigned char m[4] = {0};
  FILE         *f;

  if (HasTiffSuffix(spec) || IsDirectory(spec) || strchr(spec, '%') || strpbrk(spec, "*?[")) return PETSC_TRUE;
  if (!(f = fopen(spec, "rb"))) return PETSC_FALSE;
  size_t n = fread(m, 1, 4, f);
  fclose(f);
  return n == 4 && ((m[0] == 'I' && m[1] == 'I' && (m[2] == 42 || m[2] == 43) && m[3] == 0) ||
                    (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && (m[3] == 42 || m[3] == 43)))
           ? PETSC_TRUE
           : PETSC_FALSE;
}

/* ---------------------------------------------------------------------------------------------
 * Probing
 * --------------------------------------------------------------------------------------------- */

typedef struct {
  uint32_t w, h;
  uint16_t bits, format, spp, photometric;
} PageFormat;

static const char *FormatName(uint16_t f)
{
  return f == SAMPLEFORMAT_UINT     ? "unsigned"
         : f == SAMPLEFORMAT_INT    ? "signed"
         : f == SAMPLEFORMAT_IEEEFP ? "float"
                                    : "other";
}

/* The page's format; 0 and a message if it is not a greyscale page plurigauss reads. */
static int ReadPageFormat(TIFF *t, const char *where, PageFormat *p, char *msg, size_t len)
{
  uint16_t planar = PLANARCONFIG_CONTIG;
  PetscMemzero(p, sizeof *p);
  p->format = SAMPLEFORMAT_UINT;
  p->spp    = 1;
  p->bits   = 1;
  if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &p->w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &p->h)) {
    snprintf(msg, len, "%s: no image size", where);
    return 0;
  }
  TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &p->bits);
  TIFFGetField(t, TIFFTAG_SAMPLEFORMAT, &p->format);
  TIFFGetField(t, TIFFTAG_SAMPLESPERPIXEL, &p->spp);
  TIFFGetField(t, TIFFTAG_PLANARCONFIG, &planar);
  if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &p->photometric)) p->photometric = PHOTOMETRIC_MINISBLACK;
  if (p->spp != 1 || p->photometric == PHOTOMETRIC_RGB || p->photometric == PHOTOMETRIC_YCBCR ||
      p->photometric == PHOTOMETRIC_SEPARATED) {
    snprintf(
      msg, len,
      "%s: %u samples per pixel (photometric %u): colour or multi-channel images are not read; save one greyscale channel",
      where, p->spp, p->photometric);
    return 0;
  }
  if (!((p->format == SAMPLEFORMAT_UINT || p->format == SAMPLEFORMAT_INT) &&
        (p->bits == 8 || p->bits == 16 || p->bits == 32)) &&
      !(p->format == SAMPLEFORMAT_IEEEFP && (p->bits == 32 || p->bits == 64))) {
    snprintf(
      msg, len,
      "%s: %u-bit %s samples are not supported (allowed: 8, 16, 32-bit integers, signed or not; 32 or 64-bit floats)",
      where, p->bits, FormatName(p->format));
    return 0;
  }
  return 1;
}

static int ElementType(const PageFormat *p)
{
  if (p->format == SAMPLEFORMAT_IEEEFP) return p->bits == 32 ? PG_RAW_FLOAT32 : PG_RAW_FLOAT64;
  if (p->format == SAMPLEFORMAT_INT) return p->bits == 8 ? PG_RAW_INT8 : p->bits == 16 ? PG_RAW_INT16 : PG_RAW_INT32;
  return p->bits == 8 ? PG_RAW_UINT8 : p->bits == 16 ? PG_RAW_UINT16 : PG_RAW_UINT32;
}

/* Every strip or tile of the current page must lie inside the file (else: truncated). */
static int CheckPageData(TIFF *t, const char *where, uint64_t file_bytes, char *msg, size_t len)
{
  uint64_t *off = NULL, *cnt = NULL;
  int       tiled = TIFFIsTiled(t);
  uint32_t  n     = tiled ? TIFFNumberOfTiles(t) : TIFFNumberOfStrips(t);
  if (!TIFFGetField(t, tiled ? TIFFTAG_TILEOFFSETS : TIFFTAG_STRIPOFFSETS, &off) ||
      !TIFFGetField(t, tiled ? TIFFTAG_TILEBYTECOUNTS : TIFFTAG_STRIPBYTECOUNTS, &cnt) || !off || !cnt) {
    snprintf(msg, len, "%s: no %s offsets or byte counts", where, tiled ? "tile" : "strip");
    return 0;
  }
  for (uint32_t i = 0; i < n; i++)
    if (off[i] > file_bytes || cnt[i] > file_bytes - off[i]) {
      snprintf(msg, len, "%s: %s %u ends at byte %llu, past the end of the file (%llu bytes): the file is truncated",
               where, tiled ? "tile" : "strip", i, (unsigned long long)(off[i] + cnt[i]),
               (unsigned long long)file_bytes);
      return 0;
    }
  return 1;
}

/* micrometres per unit of an ImageJ unit name; 0 if unknown */
static double UnitToUm(const char *u)
{
  if (!strcmp(u, "micron") || !strcmp(u, "um") || !strcmp(u, "\\u00B5m") || !strcmp(u, "\xC2\xB5m") ||
      !strcmp(u, "\xB5m") || !strcmp(u, "microns"))
    return 1;
  if (!strcmp(u, "nm")) return 1e-3;
  if (!strcmp(u, "mm")) return 1e3;
  if (!strcmp(u, "cm")) return 1e4;
  if (!strcmp(u, "m")) return 1e6;
  if (!strcmp(u, "inch")) return 25400;
  return 0;
}

/* "key=value" of an ImageJ description (lines), into val; 0 if absent */
static int ImageJValue(const char *desc, const char *key, char *val, size_t len)
{
  size_t k = strlen(key);
  for (const char *l = desc; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (!strncmp(l, key, k) && l[k] == '=') {
      const char *v = l + k + 1, *e = strchr(v, '\n');
      size_t      n = e ? (size_t)(e - v) : strlen(v);
      while (n && (v[n - 1] == '\r' || v[n - 1] == ' ')) n--;
      snprintf(val, len, "%.*s", (int)n, v);
      return 1;
    }
  return 0;
}

/* The voxel size from the first page's tags (see the header); 0 where unknown. */
static void ReadVoxelSize(TIFF *t, PgTiffInfo *info)
{
  float    xr = 0, yr = 0;
  uint16_t unit = RESUNIT_INCH; /* the TIFF default */
  char    *desc = NULL, ijunit[64] = "", spacing[64] = "";
  double   per = 0; /* µm per resolution unit */
  int      imagej;

  TIFFGetField(t, TIFFTAG_RESOLUTIONUNIT, &unit);
  imagej = TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc && !strncmp(desc, "ImageJ=", 7);
  if (imagej) {
    ImageJValue(desc, "unit", ijunit, sizeof ijunit);
    ImageJValue(desc, "spacing", spacing, sizeof spacing);
  }
  if (ijunit[0]) per = UnitToUm(ijunit);
  else if (unit == RESUNIT_INCH) per = 25400;
  else if (unit == RESUNIT_CENTIMETER) per = 1e4;
  if (per > 0 && TIFFGetField(t, TIFFTAG_XRESOLUTION, &xr) && xr > 0) {
    info->voxel_um[0] = per / xr;
    info->voxel_um[1] = TIFFGetField(t, TIFFTAG_YRESOLUTION, &yr) && yr > 0 ? per / yr : info->voxel_um[0];
    snprintf(info->voxel_source, sizeof info->voxel_source, "x, y from the resolution tags (%g per %s)", xr,
             ijunit[0]              ? ijunit
             : unit == RESUNIT_INCH ? "inch"
                                    : "cm");
    if (!ijunit[0] && unit == RESUNIT_INCH && (fabs(xr - 72) < 1e-3 || fabs(xr - 96) < 1e-3 || fabs(xr - 300) < 1e-3))
      snprintf(info->voxel_source, sizeof info->voxel_source,
               "x, y from the resolution tags, %g dpi: probably a writer's default, give the voxel size in the deck",
               xr);
  }
  if (imagej && spacing[0] && per > 0 && atof(spacing) > 0) {
    size_t o          = strlen(info->voxel_source);
    info->voxel_um[2] = atof(spacing) * per;
    snprintf(info->voxel_source + o, sizeof info->voxel_source - o, "%sz from the ImageJ spacing", o ? "; " : "");
  }
}

int PgTiffProbe(const char *spec, const char *what, PgTiffInfo *info, char *msg, size_t len)
{
  SliceList  l;
  PageFormat first = {0}, p;
  char       where[PETSC_MAX_PATH_LEN + 128];
  int        ok = 0;

  PetscMemzero(info, sizeof *info);
  if (!ListSlices(spec, what, &l, msg, len)) return 0;
  info->nfiles = l.n;
  for (int f = 0; f < PetscMax(l.n, 1); f++) {
    const char *path = l.n ? l.name[f] : spec;
    TiffMsg     m;
    TIFF       *t;
    struct stat st;
    if (stat(path, &st) != 0) {
      snprintf(msg, len, "%s = %s: cannot read '%s'", what, spec, path);
      goto done;
    }
    if (!(t = OpenTiff(path, &m))) {
      snprintf(msg, len, "%s = %s: '%s' is not a readable TIFF file (%s)", what, spec, path,
               m.text[0] ? m.text : "libtiff cannot open it");
      goto done;
    }
    for (long long k = 0;; k++) {
      if (l.n) snprintf(where, sizeof where, "%s = %s: %s", what, spec, path);
      else snprintf(where, sizeof where, "%s = %s: page %lld", what, spec, k);
      if (!ReadPageFormat(t, where, &p, msg, len) || !CheckPageData(t, where, (uint64_t)st.st_size, msg, len)) {
        TIFFClose(t);
        goto done;
      }
      if (f == 0 && k == 0) {
        first       = p;
        info->n[0]  = p.w;
        info->n[1]  = p.h;
        info->etype = ElementType(&p);
        ReadVoxelSize(t, info);
      } else if (p.w != first.w || p.h != first.h || p.bits != first.bits || p.format != first.format) {
        snprintf(msg, len,
                 "%s is %u x %u pixels of %u-bit %s, the first page %u x %u of %u-bit %s: all pages must agree", where,
                 p.w, p.h, p.bits, FormatName(p.format), first.w, first.h, first.bits, FormatName(first.format));
        TIFFClose(t);
        goto done;
      }
      info->n[2]++;
      m.text[0] = 0;
      if (!TIFFReadDirectory(t)) {
        if (m.text[0]) {
          snprintf(msg, len, "%s = %s: '%s' is truncated or damaged after page %lld (%s)", what, spec, path, k, m.text);
          TIFFClose(t);
          goto done;
        }
        break;
      }
      if (l.n) {
        snprintf(msg, len, "%s = %s: '%s' has more than one page; a slice file must hold one", what, spec, path);
        TIFFClose(t);
        goto done;
      }
    }
    TIFFClose(t);
  }
  ok = 1;
done:
  SliceListFree(&l);
  return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------------------------------- */

/* The current page into dst (w * h elements of es bytes, rows top to bottom). */
static int ReadPage(TIFF *t, uint32_t w, uint32_t h, size_t es, unsigned char *dst, TiffMsg *m)
{
  if (TIFFIsTiled(t)) {
    uint32_t       tw = 0, th = 0;
    tmsize_t       ts = TIFFTileSize(t);
    unsigned char *tile;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    if (!tw || !th || ts < (tmsize_t)((size_t)tw * th * es) || !(tile = (unsigned char *)malloc((size_t)ts))) return 0;
    for (uint32_t y0 = 0; y0 < h; y0 += th)
      for (uint32_t x0 = 0; x0 < w; x0 += tw) {
        if (TIFFReadEncodedTile(t, TIFFComputeTile(t, x0, y0, 0, 0), tile, ts) < 0) {
          free(tile);
          return 0;
        }
        uint32_t cw = PetscMin(tw, w - x0), ch = PetscMin(th, h - y0);
        for (uint32_t y = 0; y < ch; y++)
          memcpy(dst + ((size_t)(y0 + y) * w + x0) * es, tile + (size_t)y * tw * es, (size_t)cw * es);
      }
    free(tile);
    return 1;
  }
  uint32_t rps = h;
  TIFFGetField(t, TIFFTAG_ROWSPERSTRIP, &rps);
  if (rps == 0 || rps > h) rps = h;
  for (uint32_t s = 0, y0 = 0; y0 < h; s++, y0 += rps) {
    const uint32_t rows = PetscMin(rps, h - y0);
    const tmsize_t want = (tmsize_t)((size_t)rows * w * es);
    if (TIFFReadEncodedStrip(t, s, dst + (size_t)y0 * w * es, want) != want) {
      if (!m->text[0]) snprintf(m->text, sizeof m->text, "strip %u is short", s);
      return 0;
    }
  }
  return 1;
}

int PgTiffReadPages(const char *spec, const char *what, const PgTiffInfo *info, long long z0, long long nz, void *buf,
                    char *msg, size_t len)
{
  const size_t   es    = PgRawSize(info->etype);
  const size_t   plane = (size_t)info->n[0] * (size_t)info->n[1] * es;
  unsigned char *out   = (unsigned char *)buf;
  SliceList      l;
  TiffMsg        m;
  TIFF          *t  = NULL;
  int            ok = 0;

  if (nz <= 0) return 1;
  if (!ListSlices(spec, what, &l, msg, len)) return 0;
  if (l.n != info->nfiles) {
    snprintf(msg, len, "%s = %s: the folder now lists %d slices, %d when checked", what, spec, l.n, info->nfiles);
    goto done;
  }
  for (long long z = z0; z < z0 + nz; z++) {
    const char *path = l.n ? l.name[z] : spec;
    if (l.n || z == z0) {
      if (t) TIFFClose(t);
      if (!(t = OpenTiff(path, &m))) goto fail;
      if (!l.n && z0 > 0 && !TIFFSetDirectory(t, (tdir_t)z0)) goto fail;
    } else if (!TIFFReadDirectory(t)) goto fail;
    if (!ReadPage(t, (uint32_t)info->n[0], (uint32_t)info->n[1], es, out + (size_t)(z - z0) * plane, &m)) {
    fail:
      snprintf(msg, len, "%s = %s: cannot read %s %lld%s%s: %s", what, spec, l.n ? "slice" : "page", z,
               l.n ? " from " : "", l.n ? path : "", m.text[0] ? m.text : "decoding failed");
      goto done;
    }
  }
  ok = 1;
done:
  if (t) TIFFClose(t);
  SliceListFree(&l);
  return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 * --------------------------------------------------------------------------------------------- */

typedef struct {
  unsigned char *p;
  size_t         n, cap;
  int            big; /* BigTIFF: 8-byte offsets and counts, 20-byte entries */
} Bytes;

static void Put(Bytes *b, uint64_t v, int width)
{
  for (int i = 0; i < width; i++) b->p[b->n++] = (unsigned char)(v >> (8 * i)); /* little endian */
}

/* one IFD entry: tag, type, count, value (inline; values here always fit) */
static void Entry(Bytes *b, uint16_t tag, uint16_t type, uint64_t count, uint64_t value, int vwidth)
{
  Put(b, tag, 2);
  Put(b, type, 2);
  Put(b, count, b->big ? 8 : 4);
  Put(b, value, vwidth);
  for (int i = vwidth; i < (b->big ? 8 : 4); i++) b->p[b->n++] = 0;
}

enum { T_SHORT = 3, T_LONG = 4, T_RATIONAL = 5, T_ASCII = 2, T_LONG8 = 16 };

/* numerator / denominator of a positive x, both below 2^32 */
static void Rational(double x, uint32_t *num, uint32_t *den)
{
  double d = 1e6;
  while (d > 1 && x * d > 4.0e9) d /= 10;
  *num = (uint32_t)llround(x * d);
  *den = (uint32_t)d;
}

/* The file at part: rank 0's header and IFDs (b) from offset 0, every rank's planes from offset
 * data, in collective writes of at most 1 GiB per call (counts below 2^31 bytes). */
static PetscErrorCode WriteFile(PgGrid g, const Bytes *b, const uint8_t *v, MPI_Offset data, const char *part)
{
  const uint64_t plane = (uint64_t)g->n[0] * (uint64_t)g->n[1];
  const size_t   chunk = (size_t)1 << 30;
  const size_t   mine  = PgGridLocalVoxels(g);
  size_t         nmax, n = PetscMax((b->n + chunk - 1) / chunk, (mine + chunk - 1) / chunk);
  MPI_File       fh;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_File_open(g->comm, part, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh));
  PetscCallMPI(MPI_File_set_size(fh, 0));
  PetscCallMPI(MPI_Allreduce(&n, &nmax, 1, MPI_UNSIGNED_LONG, MPI_MAX, g->comm));
  for (size_t c = 0; c < nmax; c++) {
    size_t lo = c * chunk, hn = b->n > lo ? PetscMin(chunk, b->n - lo) : 0,
           dn = mine > lo ? PetscMin(chunk, mine - lo) : 0;
    PetscCallMPI(
      MPI_File_write_at_all(fh, (MPI_Offset)lo, hn ? b->p + lo : NULL, (int)hn, MPI_BYTE, MPI_STATUS_IGNORE));
    PetscCallMPI(MPI_File_write_at_all(fh, data + (MPI_Offset)(g->z_start * (ptrdiff_t)plane) + (MPI_Offset)lo,
                                       dn ? v + lo : NULL, (int)dn, MPI_BYTE, MPI_STATUS_IGNORE));
  }
  PetscCallMPI(MPI_File_close(&fh));
  PetscFunctionReturn(0);
}

PetscErrorCode PgTiffWriteLabels(PgGrid g, const uint8_t *v, const char *path)
{
  const uint64_t nx = (uint64_t)g->n[0], ny = (uint64_t)g->n[1], nz = (uint64_t)g->n[2], plane = nx * ny;
  const int      nentries = 15;
  char           desc[512], part[PETSC_MAX_PATH_LEN + 8];
  Bytes          b = {NULL, 0, 0, 0};
  MPI_Offset     data;
  uint32_t       xn, xd, yn, yd;

  PetscFunctionBeginUser;
  snprintf(
    desc, sizeof desc,
    "ImageJ=1.53t\nimages=%llu\nslices=%llu\nunit=micron\nspacing=%.10g\nloop=false\nmin=0.0\nmax=3.0\nplurigauss=labels 1 NVP, 2 carbon, 3 pore\n",
    (unsigned long long)nz, (unsigned long long)nz, g->voxel_um[2]);
  const uint64_t dlen = strlen(desc) + 1;
  /* classic TIFF addresses 4 GiB; beyond, BigTIFF (Fiji opens it through Bio-Formats) */
  b.big              = (double)plane * (double)nz + 4096.0 + 300.0 * (double)nz > 4.0e9;
  const int      ow  = b.big ? 8 : 4; /* offset width */
  const uint64_t hdr = b.big ? 16 : 8, ifd_size = (b.big ? 8 : 2) + (uint64_t)nentries * (b.big ? 20 : 12) + ow;
  const uint64_t o_desc = hdr, o_res = (o_desc + dlen + 7) & ~(uint64_t)7, o_ifd = o_res + 16;
  data = (MPI_Offset)((o_ifd + nz * ifd_size + 15) & ~(uint64_t)15);
  Rational(1.0 / g->voxel_um[0], &xn, &xd);
  Rational(1.0 / g->voxel_um[1], &yn, &yd);

  if (g->rank == 0) {
    b.cap = (size_t)data;
    PetscCall(PetscCalloc1(b.cap, &b.p));
    if (b.big) {
      Put(&b, 'I' | ('I' << 8), 2);
      Put(&b, 43, 2);
      Put(&b, 8, 2);
      Put(&b, 0, 2);
      Put(&b, o_ifd, 8);
    } else {
      Put(&b, 'I' | ('I' << 8), 2);
      Put(&b, 42, 2);
      Put(&b, o_ifd, 4);
    }
    memcpy(b.p + o_desc, desc, dlen);
    b.n = (size_t)o_res;
    Put(&b, xn, 4);
    Put(&b, xd, 4);
    Put(&b, yn, 4);
    Put(&b, yd, 4);
    for (uint64_t z = 0; z < nz; z++) {
      b.n = (size_t)(o_ifd + z * ifd_size);
      Put(&b, nentries, b.big ? 8 : 2);
      Entry(&b, 254, T_LONG, 1, 0, 4);  /* NewSubfileType */
      Entry(&b, 256, T_LONG, 1, nx, 4); /* ImageWidth */
      Entry(&b, 257, T_LONG, 1, ny, 4); /* ImageLength */
      Entry(&b, 258, T_SHORT, 1, 8, 2); /* BitsPerSample */
      Entry(&b, 259, T_SHORT, 1, 1, 2); /* Compression: none */
      Entry(&b, 262, T_SHORT, 1, 1, 2); /* Photometric: min-is-black */
      Entry(&b, 270, T_ASCII, z == 0 ? dlen : 1, z == 0 ? o_desc : 0,
            z == 0 ? ow : 1); /* ImageDescription (first page; else empty) */
      Entry(&b, 273, b.big ? T_LONG8 : T_LONG, 1, (uint64_t)data + z * plane, ow); /* StripOffsets */
      Entry(&b, 277, T_SHORT, 1, 1, 2);                                            /* SamplesPerPixel */
      Entry(&b, 278, T_LONG, 1, ny, 4);                                            /* RowsPerStrip */
      Entry(&b, 279, b.big ? T_LONG8 : T_LONG, 1, plane, ow);                      /* StripByteCounts */
      Entry(&b, 282, T_RATIONAL, 1, o_res, ow);                                    /* XResolution */
      Entry(&b, 283, T_RATIONAL, 1, o_res + 8, ow);                                /* YResolution */
      Entry(&b, 296, T_SHORT, 1, 1, 2);                         /* ResolutionUnit: none (ImageJ's unit=micron) */
      Entry(&b, 339, T_SHORT, 1, 1, 2);                         /* SampleFormat: unsigned */
      Put(&b, z + 1 < nz ? o_ifd + (z + 1) * ifd_size : 0, ow); /* next IFD */
    }
    b.n = b.cap;
  }
  snprintf(part, sizeof part, "%s.part", path);
  PetscCall(WriteFile(g, &b, v, data, part));
  PetscCall(PetscFree(b.p));
  PetscCall(PgFileRename(g->comm, part, path));
  PetscFunctionReturn(0);
}
