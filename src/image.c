/// \file
/// Label images from HDF5. Inspection happens on rank 0 with the serial driver (cheap metadata
/// reads) so that every problem becomes one clear line before any work; the read itself is one
/// collective hyperslab read per rank of its z-slab through MPI-IO (bytes read = the slab), and
/// the label check is one pass plus one reduction.
#include <plurigauss/error.h>
#include <plurigauss/image.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* "file.h5:/path" -> file, path; the last ':' separates them */
static PetscErrorCode SplitSpec(MPI_Comm comm, const char *spec, char *file, size_t flen, char *path, size_t plen)
{
  const char *colon = strrchr(spec, ':');

  PetscFunctionBeginUser;
  PetscCheck(colon && colon != spec && colon[1], comm, PETSC_ERR_USER_INPUT, "input.image = '%s': expected FILE.h5:/path/to/dataset", spec);
  snprintf(file, flen, "%.*s", (int)(colon - spec), spec);
  snprintf(path, plen, "%s", colon + 1);
  PetscFunctionReturn(0);
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

PetscErrorCode PgImageInspect(MPI_Comm comm, const char *spec, const double *voxel_um, PetscInt shape[3], double voxel_out[3])
{
  char              file[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
  const double      from_attribute[3] = {0, 0, 0};
  const PetscInt    no_shape[3]       = {0, 0, 0};
  const PgInputSpec s = {"input.image", "-", "domain.voxel_size_um", "-", no_shape, voxel_um ? voxel_um : from_attribute, PG_RAW_UINT8, 3, PETSC_FALSE};
  PgInputProbe      r;

  PetscFunctionBeginUser;
  PetscCall(SplitSpec(comm, spec, file, sizeof file, path, sizeof path));
  PetscCheck(PgInputIsHDF5(spec), comm, PETSC_ERR_USER_INPUT, "input.image = '%s': expected FILE.h5:/path/to/dataset", spec);
  PetscCall(PgInputCheck(comm, &s, spec, &r));
  for (int k = 0; k < 3; k++) {
    shape[k]     = (PetscInt)r.n[k];
    voxel_out[k] = r.voxel[k];
  }
  PetscFunctionReturn(0);
}

/* this rank's slab of dataset spec, converted by HDF5 to memtype. A file that passed the
 * inspection but cannot be read (a truncated or damaged file) is one input error on every rank. */
static PetscErrorCode ReadSlabAs(PgGrid g, const char *spec, const char *what, hid_t memtype, void *v)
{
  char    file[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
  hid_t   fapl = H5I_INVALID_HID, f = H5I_INVALID_HID, d = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t start[3] = {(hsize_t)g->z_start, 0, 0}, count[3] = {(hsize_t)g->nz_local, (hsize_t)g->n[1], (hsize_t)g->n[0]};
  hsize_t nloc = PetscMax((hsize_t)PgGridLocalVoxels(g), 1);
  int     ok = 1, all;

  PetscFunctionBeginUser;
  PetscCall(SplitSpec(g->comm, spec, file, sizeof file, path, sizeof path));
  PgCallH5(fapl = H5Pcreate(H5P_FILE_ACCESS));
  PgCallH5(H5Pset_fapl_mpio(fapl, g->comm, MPI_INFO_NULL));
  PgCallH5(H5Pset_all_coll_metadata_ops(fapl, 1));
  f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  /* every step is collective (metadata and the read): go on after a failure, decide together */
  if (f < 0 || (d = H5Dopen2(f, path, H5P_DEFAULT)) < 0 || (fs = H5Dget_space(d)) < 0) ok = 0;
  if ((ms = H5Screate_simple(1, &nloc, NULL)) < 0) ok = 0;
  if (fs >= 0 && ms >= 0) {
    if (g->nz_local > 0) {
      if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) ok = 0;
    } else if (H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0) ok = 0;
  }
  PgCallH5(dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgCallH5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  if (d >= 0 && fs >= 0 && ms >= 0) {
    if (H5Dread(d, memtype, ms, fs, dxpl, v) < 0) ok = 0;
  }
  H5Pclose(dxpl);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  if (f >= 0 && H5Fclose(f) < 0) ok = 0;
  H5Pclose(fapl);
  PetscCallMPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, g->comm));
  PetscCheck(all, g->comm, PETSC_ERR_USER_INPUT, "%s: %s cannot be read (a truncated or damaged file?): could not %s", spec, file, what);
  PetscFunctionReturn(0);
}

PetscErrorCode PgImageReadSlab(PgGrid g, const char *spec, const char *what, uint8_t *v)
{
  PetscFunctionBeginUser;
  PetscCall(ReadSlabAs(g, spec, what, H5T_NATIVE_UINT8, v));
  PetscFunctionReturn(0);
}

PetscErrorCode PgImageRead(PgGrid g, const char *spec, PgLabels labels)
{
  PetscFunctionBeginUser;
  PetscCall(PgImageReadSlab(g, spec, "open the input image", labels->v));

  /* labels contract: only 1, 2, 3; report the count and the first offender */
  long long bad = 0, first = -1;
  int       value = 0;
  for (size_t i = 0; i < PgGridLocalVoxels(g); i++)
    if (labels->v[i] < 1 || labels->v[i] > 3) {
      if (!bad) {
        first = (long long)(g->z_start * (ptrdiff_t)PgGridPlane(g)) + (long long)i;
        value = labels->v[i];
      }
      bad++;
    }
  long long total, key = bad ? first : LLONG_MAX, best;
  int       vbest;
  PetscCallMPI(MPI_Allreduce(&bad, &total, 1, MPI_LONG_LONG, MPI_SUM, g->comm));
  if (total) {
    /* the offender with the smallest global index, and its value */
    PetscCallMPI(MPI_Allreduce(&key, &best, 1, MPI_LONG_LONG, MPI_MIN, g->comm));
    int mine = first == best ? value : -1;
    PetscCallMPI(MPI_Allreduce(&mine, &vbest, 1, MPI_INT, MPI_MAX, g->comm));
    long long nx = g->n[0], ny = g->n[1];
    SETERRQ(g->comm, PETSC_ERR_USER_INPUT, "input.image = %s: %lld voxels hold labels outside {1,2,3}, the first (label %d) at (x,y,z) = (%lld,%lld,%lld)", spec, total, vbest, best % nx, (best / nx) % ny, best / (nx * ny));
  }
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * Image inputs of the deck (calibration, segmentation)
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

static size_t      RawSize(int type) { return type == PG_RAW_UINT8 ? 1 : type == PG_RAW_UINT16 ? 2 : 4; }
static const char *RawName(int type) { return type == PG_RAW_UINT8 ? "uint8" : type == PG_RAW_UINT16 ? "uint16" : type == PG_RAW_INT32 ? "int32" : "float32"; }

/* element i of a raw little-endian buffer */
static double RawValue(const unsigned char *b, size_t i, int type)
{
  if (type == PG_RAW_UINT8) return b[i];
  if (type == PG_RAW_UINT16) return (double)((unsigned)b[2 * i] | ((unsigned)b[2 * i + 1] << 8));
  uint32_t u = (uint32_t)b[4 * i] | ((uint32_t)b[4 * i + 1] << 8) | ((uint32_t)b[4 * i + 2] << 16) | ((uint32_t)b[4 * i + 3] << 24);
  if (type == PG_RAW_INT32) return (double)(int32_t)u;
  float f;
  memcpy(&f, &u, sizeof f);
  return (double)f;
}

/* raw bytes -> float or uint8 (labels: outside 0..255 -> 0, reported by the label checks) */
static void RawConvert(const unsigned char *b, size_t n, int type, PetscBool as_float, void *v)
{
  for (size_t i = 0; i < n; i++) {
    double x = RawValue(b, i, type);
    if (as_float) ((float *)v)[i] = (float)x;
    else ((uint8_t *)v)[i] = (uint8_t)(x >= 0 && x <= 255 && x == floor(x) ? x : 0);
  }
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
  if (s->grey ? !((cls == H5T_INTEGER && size <= 4) || (cls == H5T_FLOAT && size <= 8)) : !(cls == H5T_INTEGER && size == 1 && H5Tget_sign(t) == H5T_SGN_NONE)) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: the dataset must hold %s", s->key, spec, s->grey ? "grey values (integers of up to 32 bits, or floats)" : "uint8 labels");
    goto done;
  }
  sp              = H5Dget_space(ds);
  int     rank    = H5Sget_simple_extent_ndims(sp);
  hsize_t h[3]    = {0, 0, 0};
  if (rank >= 1 && rank <= 3) H5Sget_simple_extent_dims(sp, h, NULL);
  if (s->dims == 2 && rank == 3 && h[0] == 1) { /* a 2D image stored as [1][ny][nx] */
    h[0] = h[1];
    h[1] = h[2];
    rank = 2;
  }
  if (rank != s->dims) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: dataset has %d dimensions, expected %d (%s)", s->key, spec, rank, s->dims, s->dims == 3 ? "[nz][ny][nx]" : "[ny][nx]");
    goto done;
  }
  for (int d = 0; d < s->dims; d++) r->n[d] = (long long)h[s->dims - 1 - d];
  if (!s->voxel_um[0] && !ReadVoxelAttr(ds, r->voxel) && !ReadVoxelAttr(f, r->voxel)) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: no voxel_size_um attribute on the dataset or file; give %s", s->key, spec, s->voxel_key);
    goto done;
  }
  r->ok = 1;
done:
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (ds >= 0) H5Dclose(ds);
  if (f >= 0) H5Fclose(f);
}

static void ProbeRaw(const PgInputSpec *s, const char *spec, PgInputProbe *r)
{
  if (H5Fis_hdf5(spec) > 0) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: an HDF5 file needs the dataset, FILE.h5:/path/to/dataset", s->key, spec);
    return;
  }
  if (!s->shape[0]) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: a raw file needs its shape in %s", s->key, spec, s->shape_key);
    return;
  }
  if (!s->voxel_um[0]) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: a raw file needs its voxel size in %s", s->key, spec, s->voxel_key);
    return;
  }
  FILE *f   = fopen(spec, "rb");
  long  len = -1;
  if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (f) fclose(f);
  double want = (double)RawSize(s->raw_type);
  for (int d = 0; d < s->dims; d++) {
    r->n[d] = s->shape[d];
    want *= (double)s->shape[d];
  }
  if ((double)len != want) {
    snprintf(r->msg, sizeof r->msg, "%s = %s: the file has %ld bytes, but %s with %s = %s needs %.0f", s->key, spec, len, s->shape_key, s->type_key, RawName(s->raw_type), want);
    return;
  }
  r->ok = 1;
}

PetscErrorCode PgInputCheck(MPI_Comm comm, const PgInputSpec *s, const char *spec, PgInputProbe *r)
{
  int rank;

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMemzero(r, sizeof *r));
  if (rank == 0) {
    char        file[PETSC_MAX_PATH_LEN];
    const char *colon = strrchr(spec, ':');
    PetscBool   h5    = PgInputIsHDF5(spec);
    for (int d = 0; d < 3; d++) r->n[d] = 1;
    snprintf(file, sizeof file, "%.*s", h5 ? (int)(colon - spec) : (int)strlen(spec), spec);
    if (access(file, R_OK) != 0) snprintf(r->msg, sizeof r->msg, "%s = %s: file '%s' does not exist or is not readable", s->key, spec, file);
    else if (h5) ProbeHDF5(s, spec, file, colon + 1, r);
    else ProbeRaw(s, spec, r);
    if (r->ok) {
      r->ok = 0;
      if (s->voxel_um[0])
        for (int d = 0; d < 3; d++) r->voxel[d] = s->voxel_um[d < s->dims ? d : 0];
      if (s->dims == 2) r->voxel[2] = r->voxel[0];
      int d;
      for (d = 0; d < s->dims; d++)
        if (r->n[d] < 2) {
          snprintf(r->msg, sizeof r->msg, "%s = %s: %s extent %lld along %c (at least 2 needed)", s->key, spec, r->n[d] ? "too small an" : "zero", r->n[d], "xyz"[d]);
          break;
        } else if (r->n[d] > (1 << 24)) {
          snprintf(r->msg, sizeof r->msg, "%s = %s: extent %lld along %c is too large (at most %d)", s->key, spec, r->n[d], "xyz"[d], 1 << 24);
          break;
        } else if (!(r->voxel[d] > 0) || !isfinite(r->voxel[d])) {
          snprintf(r->msg, sizeof r->msg, "%s = %s: voxel size %g along %c is not positive", s->key, spec, r->voxel[d], "xyz"[d]);
          break;
        }
      r->ok = d == s->dims;
    }
  }
  PetscCallMPI(MPI_Bcast(r, (int)sizeof *r, MPI_BYTE, 0, comm));
  PetscCheck(r->ok, comm, PETSC_ERR_USER_INPUT, "%s", r->msg);
  PetscFunctionReturn(0);
}

PetscErrorCode PgInputReadSlab(PgGrid g, const PgInputSpec *s, const char *spec, PetscBool as_float, void *v)
{
  const size_t nloc = PgGridLocalVoxels(g);

  PetscFunctionBeginUser;
  if (PgInputIsHDF5(spec)) {
    char what[PETSC_MAX_PATH_LEN + 64];
    snprintf(what, sizeof what, "open %s", s->key);
    PetscCall(ReadSlabAs(g, spec, what, as_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, v));
  } else {
    const size_t   es = RawSize(s->raw_type), bytes = nloc * es;
    unsigned char *buf, dummy;
    MPI_File       fh;
    PetscCheck(bytes <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "a slab of %zu bytes is too large for one MPI read", bytes);
    PetscCall(PetscMalloc1(PetscMax(bytes, 1), &buf));
    PetscCallMPI(MPI_File_open(g->comm, spec, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
    PetscCallMPI(MPI_File_read_at_all(fh, (MPI_Offset)(g->z_start * (ptrdiff_t)PgGridPlane(g) * (ptrdiff_t)es), bytes ? buf : &dummy, (int)bytes, MPI_BYTE, MPI_STATUS_IGNORE));
    PetscCallMPI(MPI_File_close(&fh));
    RawConvert(buf, nloc, s->raw_type, as_float, v);
    PetscCall(PetscFree(buf));
  }
  PetscFunctionReturn(0);
}

int PgInputRead2D(const PgInputSpec *s, const char *spec, int nx, int ny, PetscBool as_float, void *v, char *msg, size_t len)
{
  const size_t n  = (size_t)nx * (size_t)ny;
  int          ok = 0;

  if (PgInputIsHDF5(spec)) {
    char        file[PETSC_MAX_PATH_LEN];
    const char *colon = strrchr(spec, ':');
    snprintf(file, sizeof file, "%.*s", (int)(colon - spec), spec);
    hid_t f  = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = f >= 0 ? H5Dopen2(f, colon + 1, H5P_DEFAULT) : -1;
    ok       = ds >= 0 && H5Dread(ds, as_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
  } else {
    size_t         es  = RawSize(s->raw_type);
    unsigned char *buf = (unsigned char *)malloc(n * es);
    FILE          *f   = fopen(spec, "rb");
    ok                 = buf && f && fread(buf, es, n, f) == n;
    if (f) fclose(f);
    if (ok) RawConvert(buf, n, s->raw_type, as_float, v);
    free(buf);
  }
  if (!ok) snprintf(msg, len, "%s: %s could not be read", s->key, spec);
  return ok;
}
