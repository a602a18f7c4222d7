/// \file
/// Image inputs: HDF5 datasets, TIFF stacks (tiff.c) and raw files, as grey values, three-phase
/// labels, the calibration stack's NVP labels, or a mask.
///
/// Inspection happens on rank 0 (cheap metadata reads: HDF5 with the serial driver, every TIFF
/// IFD, a raw file's size) so that every problem becomes one clear line before any work. The read
/// itself puts each rank's z-slab into memory in the file's own element type (HDF5: one collective
/// hyperslab read through MPI-IO; raw: one collective MPI-IO read of the slab's bytes; TIFF: each
/// rank opens the file and decodes only its own pages), at most 8 bytes per voxel of the slab, and
/// converts it in one pass: to float (grey), or through the deck's label map to the phases (a
/// 256- or 65536-entry table for 8- and 16-bit values, a scan of the few mapped values otherwise).
/// A value the map does not know is reported with its position: one reduction of the count and
/// two of the first offender's global index and value.
#include <plurigauss/h5.h>
#include <plurigauss/image.h>
#include <plurigauss/tiff.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static PetscBool IsFloat(int type)
{
  return type == PG_RAW_FLOAT32 || type == PG_RAW_FLOAT64 ? PETSC_TRUE : PETSC_FALSE;
}

/* element i of a native buffer, as a double (grey) or an integer (labels) */
static inline double ValueAsDouble(const void *b, size_t i, int type)
{
  switch (type) {
  case PG_RAW_UINT8:
    return ((const uint8_t *)b)[i];
  case PG_RAW_INT8:
    return ((const int8_t *)b)[i];
  case PG_RAW_UINT16:
    return ((const uint16_t *)b)[i];
  case PG_RAW_INT16:
    return ((const int16_t *)b)[i];
  case PG_RAW_UINT32:
    return ((const uint32_t *)b)[i];
  case PG_RAW_INT32:
    return ((const int32_t *)b)[i];
  case PG_RAW_FLOAT32:
    return ((const float *)b)[i];
  case PG_RAW_FLOAT64:
    return ((const double *)b)[i];
  case PG_RAW_INT64:
    return (double)((const int64_t *)b)[i];
  default:
    return (double)((const uint64_t *)b)[i];
  }
}

static inline long long ValueAsInteger(const void *b, size_t i, int type)
{
  switch (type) {
  case PG_RAW_UINT8:
    return ((const uint8_t *)b)[i];
  case PG_RAW_INT8:
    return ((const int8_t *)b)[i];
  case PG_RAW_UINT16:
    return ((const uint16_t *)b)[i];
  case PG_RAW_INT16:
    return ((const int16_t *)b)[i];
  case PG_RAW_UINT32:
    return ((const uint32_t *)b)[i];
  case PG_RAW_INT32:
    return ((const int32_t *)b)[i];
  case PG_RAW_INT64:
    return ((const int64_t *)b)[i];
  case PG_RAW_UINT64: {
    uint64_t u = ((const uint64_t *)b)[i];
    return u > (uint64_t)LLONG_MAX ? LLONG_MIN : (long long)u; /* never a mapped value */
  }
  default:
    return LLONG_MIN;
  }
}

/* the phase of value x (0 = not mapped) */
static inline int MapValue(const PgLabelMap *map, long long x)
{
  for (int i = 0; i < map->n; i++)
    if (map->value[i] == x) return map->phase[i];
  return map->rest;
}

typedef struct {
  long long count; /* unmapped values */
  size_t    first; /* index of the first one in the buffer */
  long long value; /* its value */
} Unmapped;

/* n elements of a native buffer into out: float (grey) or uint8 (phases, mask) */
static PetscErrorCode Convert(const PgInputSpec *s, const void *buf, int type, size_t n, void *out, Unmapped *bad)
{
  PetscFunctionBeginUser;
  bad->count = 0;
  if (s->values == PG_VALUES_GREY) {
    float *o = (float *)out;
    for (size_t i = 0; i < n; i++) o[i] = (float)ValueAsDouble(buf, i, type);
    PetscFunctionReturn(0);
  }
  uint8_t *o = (uint8_t *)out;
  if (s->values == PG_VALUES_MASK) {
    for (size_t i = 0; i < n; i++) o[i] = ValueAsInteger(buf, i, type) != 0;
    PetscFunctionReturn(0);
  }
  const PgLabelMap *map = s->map;
  const int         nvp = s->values == PG_VALUES_NVP;
  const size_t      es  = PgRawSize(type);
  if (es <= 2) {
    /* a table over the type's whole range */
    const size_t    nt = es == 1 ? 256 : 65536;
    const long long lo = (type == PG_RAW_INT8) ? -128 : (type == PG_RAW_INT16) ? -32768 : 0;
    uint8_t        *tab;
    PetscCall(PetscMalloc1(nt, &tab));
    for (size_t k = 0; k < nt; k++) {
      int p  = MapValue(map, lo + (long long)k);
      tab[k] = (uint8_t)(nvp && p ? (p == 1 ? 1 : 3) : p);
    }
    for (size_t i = 0; i < n; i++) {
      long long x = ValueAsInteger(buf, i, type);
      o[i]        = tab[x - lo];
      if (!o[i] && !bad->count++) {
        bad->first = i;
        bad->value = x;
      }
    }
    PetscCall(PetscFree(tab));
  } else
    for (size_t i = 0; i < n; i++) {
      long long x = ValueAsInteger(buf, i, type);
      int       p = MapValue(map, x);
      o[i]        = (uint8_t)(nvp && p ? (p == 1 ? 1 : 3) : p);
      if (!p && !bad->count++) {
        bad->first = i;
        bad->value = x;
      }
    }
  PetscFunctionReturn(0);
}

/* The message of unmapped values: the count, the first value and its position. */
static void UnmappedMessage(const PgInputSpec *s, const char *spec, long long count, long long value,
                            const long long pos[3], char *msg, size_t len)
{
  char where[96];
  if (s->dims == 3) snprintf(where, sizeof where, "(x,y,z) = (%lld,%lld,%lld)", pos[0], pos[1], pos[2]);
  else snprintf(where, sizeof where, "(x,y) = (%lld,%lld)", pos[0], pos[1]);
  if (value == LLONG_MIN)
    snprintf(msg, len, "%s = %s: %lld %s hold values outside the 64-bit signed range, the first at %s", s->key, spec,
             count, s->dims == 3 ? "voxels" : "pixels", where);
  else if (s->map->given)
    snprintf(msg, len, "%s = %s: %lld %s hold values that %s = %s does not map, the first (value %lld) at %s", s->key,
             spec, count, s->dims == 3 ? "voxels" : "pixels", s->map_key, s->map->text, value, where);
  else if (s->dims == 3)
    snprintf(msg, len,
             "%s = %s: %lld voxels hold labels outside {1,2,3}, the first (label %lld) at %s; map other values with %s",
             s->key, spec, count, value, where, s->map_key);
  else
    snprintf(
      msg, len,
      "%s = %s: label %lld at %s (and %lld pixels in all); 2D images must hold 1 (NVP), 2 (carbon), 3 (pore), or map their values with %s",
      s->key, spec, value, where, count, s->map_key);
}

/* ---------------------------------------------------------------------------------------------
 * HDF5
 * --------------------------------------------------------------------------------------------- */

/* "file.h5:/path" -> file, path; the last ':' separates them */
static void SplitSpec(const char *spec, char *file, size_t flen, char *path, size_t plen)
{
  const char *colon = strrchr(spec, ':');
  snprintf(file, flen, "%.*s", (int)(colon - spec), spec);
  snprintf(path, plen, "%s", colon + 1);
}

static hid_t NativeType(int type)
{
  switch (type) {
  case PG_RAW_UINT8:
    return H5T_NATIVE_UINT8;
  case PG_RAW_INT8:
    return H5T_NATIVE_INT8;
  case PG_RAW_UINT16:
    return H5T_NATIVE_UINT16;
  case PG_RAW_INT16:
    return H5T_NATIVE_INT16;
  case PG_RAW_UINT32:
    return H5T_NATIVE_UINT32;
  case PG_RAW_INT32:
    return H5T_NATIVE_INT32;
  case PG_RAW_FLOAT32:
    return H5T_NATIVE_FLOAT;
  case PG_RAW_FLOAT64:
    return H5T_NATIVE_DOUBLE;
  case PG_RAW_INT64:
    return H5T_NATIVE_INT64;
  default:
    return H5T_NATIVE_UINT64;
  }
}

/* the attribute voxel_size_um of obj (1, 2 or 3 values; missing ones repeat the first) */
static int ReadVoxelAttr(hid_t obj, double v[3])
{
  if (H5Aexists(obj, "voxel_size_um") <= 0) return 0;
  hid_t    a  = H5Aopen(obj, "voxel_size_um", H5P_DEFAULT);
  hid_t    s  = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t n  = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
  int      ok = 0;
  double   buf[3];
  if (n >= 1 && n <= 3) {
    ok = H5Aread(a, H5T_NATIVE_DOUBLE, buf) >= 0;
    for (int d = 0; d < 3 && ok; d++) v[d] = buf[d < n ? d : 0];
  }
  if (s >= 0) H5Sclose(s);
  if (a >= 0) H5Aclose(a);
  return ok;
}

static void ProbeHDF5(const PgInputSpec *s, const char *spec, const char *file, const char *path, PgInputProbe *r)
{
  hid_t f = H5I_INVALID_HID, ds = H5I_INVALID_HID, t = H5I_INVALID_HID, sp = H5I_INVALID_HID;

  if (H5Fis_hdf5(file) <= 0 || (f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: '%s' is not an HDF5 file", s->key, spec, file);
    return;
  }
  if (H5Lexists(f, path, H5P_DEFAULT) <= 0 || (ds = H5Dopen2(f, path, H5P_DEFAULT)) < 0) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: no dataset '%s' in %s", s->key, spec, path, file);
    goto done;
  }
  t                = H5Dget_type(ds);
  H5T_class_t cls  = H5Tget_class(t);
  size_t      size = H5Tget_size(t);
  int         sign = cls == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_2;
  if (cls == H5T_INTEGER && (size == 1 || size == 2 || size == 4 || size == 8))
    r->etype = size == 1   ? (sign ? PG_RAW_INT8 : PG_RAW_UINT8)
               : size == 2 ? (sign ? PG_RAW_INT16 : PG_RAW_UINT16)
               : size == 4 ? (sign ? PG_RAW_INT32 : PG_RAW_UINT32)
                           : (sign ? PG_RAW_INT64 : PG_RAW_UINT64);
  else if (cls == H5T_FLOAT && s->values == PG_VALUES_GREY && (size == 4 || size == 8))
    r->etype = size == 4 ? PG_RAW_FLOAT32 : PG_RAW_FLOAT64;
  else {
    snprintf(r->msg, sizeof r->msg, "%s = %s: the dataset must hold %s", s->key, spec,
             s->values == PG_VALUES_GREY
               ? "grey values (integers or floats)"
               : "integer labels (uint8, or any 8, 16, 32 or 64-bit integer type, signed or not)");
    goto done;
  }
  sp           = H5Dget_space(ds);
  int     rank = H5Sget_simple_extent_ndims(sp);
  hsize_t h[3] = {0, 0, 0};
  if (rank >= 1 && rank <= 3) H5Sget_simple_extent_dims(sp, h, NULL);
  if (s->dims == 2 && rank == 3 && h[0] == 1) { /* a 2D image stored as [1][ny][nx] */
    h[0] = h[1];
    h[1] = h[2];
    rank = 2;
  }
  if (rank != s->dims) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: dataset has %d dimensions, expected %d (%s)", s->key, spec, rank, s->dims,
             s->dims == 3 ? "[nz][ny][nx]" : "[ny][nx]");
    goto done;
  }
  for (int d = 0; d < s->dims; d++) r->n[d] = (long long)h[s->dims - 1 - d];
  if (!s->voxel_um[0] && !ReadVoxelAttr(ds, r->voxel) && !ReadVoxelAttr(f, r->voxel)) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: no voxel_size_um attribute on the dataset or file; give %s", s->key, spec,
             s->voxel_key);
    goto done;
  }
  r->ok = 1;
done:
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (ds >= 0) H5Dclose(ds);
  if (f >= 0) H5Fclose(f);
}

/* this rank's slab of dataset spec in its native element type (collective). A file that passed
 * the inspection but cannot be read (a truncated or damaged file) is one input error on every rank. */
static PetscErrorCode ReadSlabHDF5(PgGrid g, const PgInputSpec *s, const char *spec, int etype, void *v)
{
  char file[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
  int  ok;

  PetscFunctionBeginUser;
  SplitSpec(spec, file, sizeof file, path, sizeof path);
  PetscCall(PgH5ReadSlabs(g, file, path, NativeType(etype), v, &ok));
  PetscCheck(ok, g->comm, PETSC_ERR_USER_INPUT, "%s = %s: %s cannot be read (a truncated or damaged file?)", s->key,
             spec, file);
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * Raw files (little endian)
 * --------------------------------------------------------------------------------------------- */

/* little endian -> native, in place */
static void RawToNative(void *buf, size_t n, size_t es)
{
  const uint16_t one = 1;
  if (*(const uint8_t *)&one == 1 || es == 1) return;
  unsigned char *b = (unsigned char *)buf;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < es / 2; k++) {
      unsigned char t        = b[i * es + k];
      b[i * es + k]          = b[i * es + es - 1 - k];
      b[i * es + es - 1 - k] = t;
    }
}

static void ProbeRaw(const PgInputSpec *s, const char *spec, PgInputProbe *r)
{
  if (H5Fis_hdf5(spec) > 0) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: an HDF5 file needs the dataset, FILE.h5:/path/to/dataset", s->key, spec);
    return;
  }
  if (!s->shape || !s->shape[0]) {
    snprintf(r->msg, sizeof r->msg,
             "%s = %s: a raw file needs its shape in %s (or give FILE.h5:/path/to/dataset, or a TIFF stack)", s->key,
             spec, s->shape_key);
    return;
  }
  if (!s->voxel_um[0]) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: a raw file needs its voxel size in %s", s->key, spec, s->voxel_key);
    return;
  }
  if (s->values != PG_VALUES_GREY && IsFloat(s->raw_type)) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: labels must be integers, but %s = %s", s->key, spec, s->type_key,
             PgRawName(s->raw_type));
    return;
  }
  FILE *f   = fopen(spec, "rb");
  long  len = -1;
  if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (f) fclose(f);
  double want = (double)PgRawSize(s->raw_type);
  for (int d = 0; d < s->dims; d++) {
    r->n[d] = s->shape[d];
    want *= (double)s->shape[d];
  }
  if ((double)len != want) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: the file has %ld bytes, but %s with %s = %s needs %.0f", s->key, spec,
             len, s->shape_key, s->type_key, PgRawName(s->raw_type), want);
    return;
  }
  r->etype = s->raw_type;
  r->ok    = 1;
}

/* ---------------------------------------------------------------------------------------------
 * TIFF
 * --------------------------------------------------------------------------------------------- */

static void ProbeTIFF(const PgInputSpec *s, const char *spec, PgInputProbe *r)
{
  PgTiffInfo info;

  if (!PgTiffProbe(spec, s->key, &info, r->msg, sizeof r->msg)) return;
  if (s->values != PG_VALUES_GREY && IsFloat(info.etype)) {
    snprintf(r->msg, sizeof r->msg,
             "%s = %s: the TIFF holds %s samples; labels must be integers (8, 16 or 32-bit, signed or not)", s->key,
             spec, PgRawName(info.etype));
    return;
  }
  if (s->dims == 2 && info.n[2] != 1) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: %lld pages; a 2D image is one page (list the images as separate files)",
             s->key, spec, info.n[2]);
    return;
  }
  for (int d = 0; d < s->dims; d++) r->n[d] = info.n[d];
  r->etype      = info.etype;
  r->tiff       = 1;
  r->tiff_files = info.nfiles;
  if (!s->voxel_um[0]) {
    if (!(info.voxel_um[0] > 0)) {
      snprintf(r->msg, sizeof r->msg,
               "%s = %s: the TIFF gives no voxel size (no resolution tags with a length unit); give %s", s->key, spec,
               s->voxel_key);
      return;
    }
    for (int d = 0; d < 3; d++) r->voxel[d] = info.voxel_um[d];
    if (s->dims == 3 && !(info.voxel_um[2] > 0)) {
      r->voxel[2] = r->voxel[0];
      snprintf(r->note, sizeof r->note, "%s; z = x (no ImageJ spacing: give %s if the slices are thicker)",
               info.voxel_source, s->voxel_key);
    } else snprintf(r->note, sizeof r->note, "%s", info.voxel_source);
  }
  r->ok = 1;
}

/* ---------------------------------------------------------------------------------------------
 * The inputs of the deck
 * --------------------------------------------------------------------------------------------- */

PetscErrorCode PgInputSplitList(MPI_Comm comm, const char *key, char *list, char *names[], int *n)
{
  char *save = NULL;

  PetscFunctionBeginUser;
  *n = 0;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') tok++;
    char *end = tok + strlen(tok);
    while (end > tok && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
    PetscCheck(*n < PG_MAX_IMAGES, comm, PETSC_ERR_USER_INPUT, "%s: at most %d images", key, PG_MAX_IMAGES);
    if (*tok) names[(*n)++] = tok;
  }
  PetscFunctionReturn(0);
}

PetscBool PgInputIsHDF5(const char *spec)
{
  const char *c = strrchr(spec, ':');
  return c && c != spec && c[1] == '/' ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode PgInputCheck(MPI_Comm comm, const PgInputSpec *s, const char *spec, PgInputProbe *r)
{
  int rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMemzero(r, sizeof *r));
  if (rank == 0) {
    char        file[PETSC_MAX_PATH_LEN];
    const char *colon = strrchr(spec, ':');
    PetscBool   h5 = PgInputIsHDF5(spec), tif = !h5 && PgTiffIsSpec(spec);
    for (int d = 0; d < 3; d++) r->n[d] = 1;
    snprintf(file, sizeof file, "%.*s", h5 ? (int)(colon - spec) : (int)strlen(spec), spec);
    if (!tif && access(file, R_OK) != 0)
      snprintf(r->msg, sizeof r->msg, "%s = %s: file '%s' does not exist or is not readable", s->key, spec, file);
    else if (h5) ProbeHDF5(s, spec, file, colon + 1, r);
    else if (tif) ProbeTIFF(s, spec, r);
    else ProbeRaw(s, spec, r);
    if (r->ok) {
      r->ok = 0;
      if (s->voxel_um[0])
        for (int d = 0; d < 3; d++) r->voxel[d] = s->voxel_um[d < s->dims ? d : 0];
      if (s->dims == 2) r->voxel[2] = r->voxel[0];
      int d;
      for (d = 0; d < s->dims; d++)
        if (r->n[d] < 2) {
          snprintf(r->msg, sizeof r->msg, "%s = %s: %s extent %lld along %c (at least 2 needed)", s->key, spec,
                   r->n[d] ? "too small an" : "zero", r->n[d], "xyz"[d]);
          break;
        } else if (r->n[d] > (1 << 24)) {
          snprintf(r->msg, sizeof r->msg, "%s = %s: extent %lld along %c is too large (at most %d)", s->key, spec,
                   r->n[d], "xyz"[d], 1 << 24);
          break;
        } else if (!(r->voxel[d] > 0) || !isfinite(r->voxel[d])) {
          snprintf(r->msg, sizeof r->msg, "%s = %s: voxel size %g along %c is not positive", s->key, spec, r->voxel[d],
                   "xyz"[d]);
          break;
        }
      r->ok = d == s->dims;
    }
  }
  PetscCallMPI(MPI_Bcast(r, (int)sizeof *r, MPI_BYTE, 0, comm));
  PetscCheck(r->ok, comm, PETSC_ERR_USER_INPUT, "%s", r->msg);
  if (r->note[0])
    PetscCall(PetscPrintf(comm, "plurigauss: %s = %s: voxel %g x %g x %g um: %s\n", s->key, spec, r->voxel[0],
                          r->voxel[1], r->voxel[2], r->note));
  PetscFunctionReturn(0);
}

PetscErrorCode PgInputReadSlab(PgGrid g, const PgInputSpec *s, const char *spec, const PgInputProbe *r, void *v)
{
  const size_t nloc = PgGridLocalVoxels(g), es = PgRawSize(r->etype);
  void        *buf;
  int          ok                 = 1, all;
  char         msg[sizeof r->msg] = "";
  Unmapped     bad;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc(PetscMax(nloc * es, 1), &buf));
  if (PgInputIsHDF5(spec)) PetscCall(ReadSlabHDF5(g, s, spec, r->etype, buf));
  else if (r->tiff) {
    PgTiffInfo info;
    PetscCall(PetscMemzero(&info, sizeof info));
    for (int d = 0; d < 3; d++) info.n[d] = r->n[d];
    info.etype  = r->etype;
    info.nfiles = r->tiff_files;
    ok = PgTiffReadPages(spec, s->key, &info, (long long)g->z_start, (long long)g->nz_local, buf, msg, sizeof msg);
  } else {
    const size_t  bytes = nloc * es;
    unsigned char dummy;
    MPI_File      fh;
    PetscCheck(bytes <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
               "a slab of %zu bytes is too large for one MPI read", bytes);
    PetscCallMPI(MPI_File_open(g->comm, spec, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
    PetscCallMPI(MPI_File_read_at_all(fh, (MPI_Offset)(g->z_start * (ptrdiff_t)PgGridPlane(g) * (ptrdiff_t)es),
                                      bytes ? buf : &dummy, (int)bytes, MPI_BYTE, MPI_STATUS_IGNORE));
    PetscCallMPI(MPI_File_close(&fh));
    RawToNative(buf, nloc, es);
  }
  /* a decoding error on any rank: the message of the lowest such rank */
  PetscCallMPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, g->comm));
  if (!all) {
    int who = ok ? g->size : g->rank, first;
    PetscCallMPI(MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, g->comm));
    PetscCallMPI(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, g->comm));
    PetscCall(PetscFree(buf));
    SETERRQ(g->comm, PETSC_ERR_USER_INPUT, "%s", msg);
  }
  PetscCall(Convert(s, buf, r->etype, nloc, v, &bad));
  PetscCall(PetscFree(buf));

  /* values the map does not know: the count, and the one with the smallest global index */
  long long total,
    key   = bad.count ? (long long)(g->z_start * (ptrdiff_t)PgGridPlane(g)) + (long long)bad.first : LLONG_MAX, best,
    value = bad.count ? bad.value : LLONG_MIN, vbest;
  PetscCallMPI(MPI_Allreduce(&bad.count, &total, 1, MPI_LONG_LONG, MPI_SUM, g->comm));
  if (total) {
    PetscCallMPI(MPI_Allreduce(&key, &best, 1, MPI_LONG_LONG, MPI_MIN, g->comm));
    long long mine = key == best ? value : LLONG_MIN;
    PetscCallMPI(MPI_Allreduce(&mine, &vbest, 1, MPI_LONG_LONG, MPI_MAX, g->comm));
    long long nx = g->n[0], ny = g->n[1], pos[3] = {best % nx, (best / nx) % ny, best / (nx * ny)};
    UnmappedMessage(s, spec, total, vbest, pos, msg, sizeof msg);
    SETERRQ(g->comm, PETSC_ERR_USER_INPUT, "%s", msg);
  }
  PetscFunctionReturn(0);
}

int PgInputRead2D(const PgInputSpec *s, const char *spec, const PgInputProbe *r, void *v, char *msg, size_t len)
{
  const size_t n = (size_t)r->n[0] * (size_t)r->n[1], es = PgRawSize(r->etype);
  void        *buf = malloc(PetscMax(n * es, 1));
  int          ok  = 0;
  Unmapped     bad;

  msg[0] = 0;
  if (!buf) {
    snprintf(msg, len, "%s = %s: out of memory", s->key, spec);
    return 0;
  }
  if (PgInputIsHDF5(spec)) {
    char file[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
    SplitSpec(spec, file, sizeof file, path, sizeof path);
    hid_t f  = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = f >= 0 ? H5Dopen2(f, path, H5P_DEFAULT) : -1;
    ok       = ds >= 0 && H5Dread(ds, NativeType(r->etype), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
  } else if (r->tiff) {
    PgTiffInfo info;
    PetscMemzero(&info, sizeof info);
    info.n[0]   = r->n[0];
    info.n[1]   = r->n[1];
    info.n[2]   = 1;
    info.etype  = r->etype;
    info.nfiles = r->tiff_files;
    ok          = PgTiffReadPages(spec, s->key, &info, 0, 1, buf, msg, len);
  } else {
    FILE *f = fopen(spec, "rb");
    ok      = f && fread(buf, es, n, f) == n;
    if (f) fclose(f);
    if (ok) RawToNative(buf, n, es);
  }
  if (ok) {
    ok = Convert(s, buf, r->etype, n, v, &bad) == 0;
    if (ok && bad.count) {
      long long pos[3] = {(long long)(bad.first % (size_t)r->n[0]), (long long)(bad.first / (size_t)r->n[0]), 0};
      UnmappedMessage(s, spec, bad.count, bad.value, pos, msg, len);
      ok = 0;
    }
  } else if (!msg[0]) snprintf(msg, len, "%s: %s could not be read", s->key, spec);
  free(buf);
  return ok;
}

/* ---------------------------------------------------------------------------------------------
 * input.image
 * --------------------------------------------------------------------------------------------- */

static void ImageSpec(const double *voxel_um, const PgLabelMap *map, PgInputSpec *s)
{
  static const double from_file[3] = {0, 0, 0};
  PetscMemzero(s, sizeof *s);
  s->key       = "input.image";
  s->shape_key = "-";
  s->voxel_key = "domain.voxel_size_um";
  s->type_key  = "-";
  s->voxel_um  = voxel_um ? voxel_um : from_file;
  s->raw_type  = PG_RAW_UINT8;
  s->dims      = 3;
  s->values    = PG_VALUES_LABELS;
  s->map       = map;
  s->map_key   = "input.labels";
}

PetscErrorCode PgImageInspect(MPI_Comm comm, const char *spec, const double *voxel_um, PetscInt shape[3],
                              double voxel_out[3])
{
  PgInputSpec  s;
  PgInputProbe r;

  PetscFunctionBeginUser;
  ImageSpec(voxel_um, NULL, &s);
  PetscCheck(
    PgInputIsHDF5(spec) || PgTiffIsSpec(spec), comm, PETSC_ERR_USER_INPUT,
    "input.image = '%s': expected FILE.h5:/path/to/dataset or a TIFF stack (FILE.tif, DIR/, DIR/slice_%%04d.tif)",
    spec);
  PetscCall(PgInputCheck(comm, &s, spec, &r));
  for (int k = 0; k < 3; k++) {
    shape[k]     = (PetscInt)r.n[k];
    voxel_out[k] = r.voxel[k];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgImageRead(PgGrid g, const char *spec, const PgLabelMap *map, PgLabels labels)
{
  PgInputSpec  s;
  PgInputProbe r;

  PetscFunctionBeginUser;
  ImageSpec(g->voxel_um, map, &s);
  PetscCall(PgInputCheck(g->comm, &s, spec, &r));
  PetscCall(PgInputReadSlab(g, &s, spec, &r, labels->v));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Deck keys: input.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

const char *const PgRawTypeKeyNames[] = {"uint8", "uint16", "int32", "float32", "int8", "int16", "uint32", NULL};

const PgKey PgInputKeys[] = {
  {"input_image", PG_KEY_STRING, 1, 1, "", "path", 0, 0, 0, 0, NULL,
   "measure a segmented image instead of simulating: FILE.h5:/dataset, FILE.tif, DIR/ or DIR/slice_%04d.tif"},
  {"input_labels", PG_KEY_STRING, 1, 1, "", "-", 0, 0, 0, 0, NULL,
   "label values of the three-phase inputs: {0: pore, 1: nvp, 2: carbon}, [nvp, carbon, pore] values, or nvp=V,carbon=V,pore=V; default 1,2,3"},
};
const int PgInputNKeys = (int)(sizeof PgInputKeys / sizeof PgInputKeys[0]);

/* input.labels: the map given, or 1, 2, 3 = NVP, carbon, pore */
PetscErrorCode PgInputLoadOptions(PgDeck deck, PgInputOptions *o)
{
  PetscFunctionBeginUser;
  snprintf(o->image, sizeof o->image, "%s", PgDeckGet(deck, "input_image")->s);
  PetscCall(PgDeckLabelMap(deck, "input_labels", PETSC_FALSE, &o->labels));
  if (!o->labels.given) {
    o->labels.n = 3;
    for (int i = 0; i < 3; i++) o->labels.value[i] = o->labels.phase[i] = i + 1;
    snprintf(o->labels.text, sizeof o->labels.text, "1:nvp,2:carbon,3:pore");
  }
  PetscFunctionReturn(0);
}
