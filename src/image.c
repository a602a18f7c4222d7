/// \file
/// Label images from HDF5. Inspection happens on rank 0 with the serial driver (cheap metadata
/// reads) so that every problem becomes one clear line before any work; the read itself is one
/// collective hyperslab read per rank of its z-slab through MPI-IO (bytes read = the slab), and
/// the label check is one pass plus one reduction.
#include <plurigauss/error.h>
#include <plurigauss/image.h>

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

typedef struct {
  int      ok;
  char     msg[3 * PETSC_MAX_PATH_LEN + 256];
  long long dims[3];
  double   voxel[3];
} Inspection;

static int ReadVoxelAttr(hid_t obj, double v[3])
{
  if (H5Aexists(obj, "voxel_size_um") <= 0) return 0;
  hid_t   a = H5Aopen(obj, "voxel_size_um", H5P_DEFAULT);
  hid_t   s = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
  int     ok = 0;
  double  buf[3];
  if (n == 1 || n == 3) {
    ok = H5Aread(a, H5T_NATIVE_DOUBLE, buf) >= 0;
    for (int d = 0; d < 3 && ok; d++) v[d] = buf[n == 3 ? d : 0];
  }
  if (s >= 0) H5Sclose(s);
  if (a >= 0) H5Aclose(a);
  return ok;
}

static void InspectOnRoot(const char *spec, const char *file, const char *path, const double *voxel_um, Inspection *r)
{
  hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, t = H5I_INVALID_HID, s = H5I_INVALID_HID;

  r->ok = 0;
  if (access(file, R_OK) != 0) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: file '%s' does not exist or is not readable", spec, file);
    return;
  }
  if (H5Fis_hdf5(file) <= 0 || (f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: '%s' is not an HDF5 file", spec, file);
    return;
  }
  if (H5Lexists(f, path, H5P_DEFAULT) <= 0 || (d = H5Dopen2(f, path, H5P_DEFAULT)) < 0) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: no dataset '%s' in %s", spec, path, file);
    goto done;
  }
  t = H5Dget_type(d);
  if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 1 || H5Tget_sign(t) != H5T_SGN_NONE) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: dataset type must be uint8 labels (1 = NVP, 2 = carbon, 3 = pore)", spec);
    goto done;
  }
  s       = H5Dget_space(d);
  int rank = H5Sget_simple_extent_ndims(s);
  if (rank != 3) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: dataset has %d dimensions, expected 3 ([nz][ny][nx])", spec, rank);
    goto done;
  }
  hsize_t dims[3];
  H5Sget_simple_extent_dims(s, dims, NULL);
  for (int k = 0; k < 3; k++) r->dims[k] = (long long)dims[2 - k]; /* to x, y, z */
  if (dims[0] < 2 || dims[1] < 2 || dims[2] < 2) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: shape %llu x %llu x %llu is too small (at least 2 per axis)", spec, (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2]);
    goto done;
  }
  if (voxel_um) {
    for (int k = 0; k < 3; k++) r->voxel[k] = voxel_um[k];
  } else if (!ReadVoxelAttr(d, r->voxel) && !ReadVoxelAttr(f, r->voxel)) {
    snprintf(r->msg, sizeof r->msg, "input.image = %s: no voxel_size_um attribute on the dataset or file; give domain.voxel_size_um", spec);
    goto done;
  }
  for (int k = 0; k < 3; k++)
    if (!(r->voxel[k] > 0)) {
      snprintf(r->msg, sizeof r->msg, "input.image = %s: voxel_size_um = %g is not positive", spec, r->voxel[k]);
      goto done;
    }
  r->ok = 1;
done:
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
}

PetscErrorCode PgImageInspect(MPI_Comm comm, const char *spec, const double *voxel_um, PetscInt shape[3], double voxel_out[3])
{
  char       file[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
  Inspection r;
  int        rank;

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  PetscCall(SplitSpec(comm, spec, file, sizeof file, path, sizeof path));
  PetscCall(PetscMemzero(&r, sizeof r));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) InspectOnRoot(spec, file, path, voxel_um, &r);
  PetscCallMPI(MPI_Bcast(&r, (int)sizeof r, MPI_BYTE, 0, comm));
  PetscCheck(r.ok, comm, PETSC_ERR_USER_INPUT, "%s", r.msg);
  for (int k = 0; k < 3; k++) {
    shape[k]     = (PetscInt)r.dims[k];
    voxel_out[k] = r.voxel[k];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgImageReadSlab(PgGrid g, const char *spec, const char *what, uint8_t *v)
{
  char    file[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
  hid_t   fapl = H5I_INVALID_HID, f = H5I_INVALID_HID, d = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t start[3] = {(hsize_t)g->z_start, 0, 0}, count[3] = {(hsize_t)g->nz_local, (hsize_t)g->n[1], (hsize_t)g->n[0]};
  hsize_t nloc = PetscMax((hsize_t)PgGridLocalVoxels(g), 1);

  PetscFunctionBeginUser;
  PetscCall(SplitSpec(g->comm, spec, file, sizeof file, path, sizeof path));
  PgCallH5(fapl = H5Pcreate(H5P_FILE_ACCESS));
  PgCallH5(H5Pset_fapl_mpio(fapl, g->comm, MPI_INFO_NULL));
  PgCallH5(H5Pset_all_coll_metadata_ops(fapl, 1));
  f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  PgCheckH5id(f, what);
  PgCallH5(d = H5Dopen2(f, path, H5P_DEFAULT));
  PgCallH5(fs = H5Dget_space(d));
  PgCallH5(ms = H5Screate_simple(1, &nloc, NULL));
  if (g->nz_local > 0) PgCallH5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
  else {
    PgCallH5(H5Sselect_none(fs));
    PgCallH5(H5Sselect_none(ms));
  }
  PgCallH5(dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgCallH5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  PgCallH5(H5Dread(d, H5T_NATIVE_UINT8, ms, fs, dxpl, v));
  PgCallH5(H5Pclose(dxpl));
  PgCallH5(H5Sclose(ms));
  PgCallH5(H5Sclose(fs));
  PgCallH5(H5Dclose(d));
  PgCallH5(H5Fclose(f));
  PgCallH5(H5Pclose(fapl));
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
