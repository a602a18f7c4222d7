/// \file
/// Low-level parallel HDF5 (see h5.h): the one place that opens files for MPI-IO, writes
/// attributes, small replicated datasets and slab volumes, and reads slabs back.
///
/// Communication: every call here is collective on the file's communicator where HDF5 requires it
/// (file open/close, object creation, attribute writes with collective metadata; collective
/// hyperslab transfers, each rank its own z-slab). Small datasets are written collectively with
/// only rank 0 selecting data. Cost: I/O bound; a volume is written in chunks that lie in one
/// rank's slab (no chunk's data moves between ranks) and hold 2^20 voxels or more (a bounded
/// number of chunks: HDF5's collective compressed write sends every rank a record of every chunk);
/// see PgH5ChunkShape.
///
/// Handles: every function below starts its handles at H5I_INVALID_HID, runs its calls through
/// PgH5Try and closes every handle with PgH5Close before PgH5Check reports the first failure, so
/// no path leaves a handle open.
#include <plurigauss/h5.h>

#include <string.h>

PetscErrorCode PgH5Check(const PgH5Status *st)
{
  PetscFunctionBeginUser;
  if (!st->failed) PetscFunctionReturn(0);
  if (st->msg[0]) SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "%s", st->msg);
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "HDF5 call failed: %s", st->failed);
}

herr_t PgH5Close(hid_t *h)
{
  herr_t status = 0;

  if (*h < 0) return 0;
  switch (H5Iget_type(*h)) {
  case H5I_FILE:
    status = H5Fclose(*h);
    break;
  case H5I_GROUP:
    status = H5Gclose(*h);
    break;
  case H5I_DATASET:
    status = H5Dclose(*h);
    break;
  case H5I_DATASPACE:
    status = H5Sclose(*h);
    break;
  case H5I_DATATYPE:
    status = H5Tclose(*h);
    break;
  case H5I_GENPROP_LST:
    status = H5Pclose(*h);
    break;
  case H5I_ATTR:
    status = H5Aclose(*h);
    break;
  default:
    status = H5Idec_ref(*h);
  }
  *h = H5I_INVALID_HID;
  return status;
}

PetscErrorCode PgH5Initialize(void)
{
  PetscFunctionBeginUser;
  PetscCheck(H5Eset_auto2(H5E_DEFAULT, NULL, NULL) >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB,
             "HDF5: cannot switch off the error printing");
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5FileOpen(MPI_Comm comm, const char *path, PetscBool create, hid_t *file)
{
  hid_t      fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  *file = H5I_INVALID_HID;
  PgH5Try(&st, fapl = H5Pcreate(H5P_FILE_ACCESS));
  PgH5Try(&st, H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  PgH5Try(&st, H5Pset_all_coll_metadata_ops(fapl, 1));
  PgH5Try(&st, H5Pset_coll_metadata_write(fapl, 1));
  /* dense attribute storage allows attributes (the deck text) beyond 64 KiB */
  PgH5Try(&st, H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST));
  if (create) {
    PgH5Try(&st, fcpl = H5Pcreate(H5P_FILE_CREATE));
    PgH5Try(&st, H5Pset_attr_phase_change(fcpl, 0, 0));
    if (!st.failed) *file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  } else if (!st.failed) *file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  PgH5Close(&fcpl);
  PgH5Close(&fapl);
  PetscCall(PgH5Check(&st));
  PetscCheck(*file >= 0, comm, PETSC_ERR_FILE_OPEN, "cannot %s %s", create ? "create" : "open", path);
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5FileClose(hid_t *file, const char *path)
{
  PetscFunctionBeginUser;
  PetscCheck(PgH5Close(file) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "closing %s failed (disk full?)", path);
  PetscFunctionReturn(0);
}

PetscBool PgH5Exists(hid_t loc, const char *name)
{
  return H5Lexists(loc, name, H5P_DEFAULT) > 0 ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode PgH5GroupOpen(hid_t loc, const char *name, hid_t *group)
{
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  *group = H5I_INVALID_HID;
  if (PgH5Exists(loc, name)) PgH5Try(&st, *group = H5Gopen2(loc, name, H5P_DEFAULT));
  else PgH5Try(&st, *group = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5GroupClose(hid_t *group)
{
  PetscFunctionBeginUser;
  PetscCheck(PgH5Close(group) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "HDF5 call failed: closing a group");
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5GroupCreate(hid_t loc, const char *name, hid_t *group)
{
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  *group = H5I_INVALID_HID;
  if (PgH5Exists(loc, name)) PgH5Try(&st, H5Ldelete(loc, name, H5P_DEFAULT));
  PgH5Try(&st, *group = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

/* An attribute of type ftype and dataspace space written from v (memtype), replacing any old one;
 * space is closed here. Negative on failure. */
static herr_t AttrWrite(hid_t obj, const char *name, hid_t ftype, hid_t memtype, hid_t space, const void *v)
{
  hid_t      attr = H5I_INVALID_HID;
  PgH5Status st   = PG_H5_STATUS_INIT;

  PgH5Try(&st, space);
  if (H5Aexists(obj, name) > 0) PgH5Try(&st, H5Adelete(obj, name));
  PgH5Try(&st, attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT));
  PgH5Try(&st, H5Awrite(attr, memtype, v));
  PgH5Close(&attr);
  PgH5Close(&space);
  return st.failed ? -1 : 0;
}

herr_t PgH5AttrString(hid_t obj, const char *name, const char *text)
{
  hid_t  type   = H5Tcopy(H5T_C_S1);
  herr_t status = type < 0 ? -1 : H5Tset_size(type, strlen(text) + 1);

  if (status >= 0) status = AttrWrite(obj, name, type, type, H5Screate(H5S_SCALAR), text);
  PgH5Close(&type);
  return status;
}

herr_t PgH5AttrDouble(hid_t obj, const char *name, const double *v, hsize_t n)
{
  return AttrWrite(obj, name, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE,
                   n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL), v);
}

PetscErrorCode PgH5WriteStringAttr(hid_t obj, const char *name, const char *text)
{
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PgH5Try(&st, PgH5AttrString(obj, name, text));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5WriteDoubleAttr(hid_t obj, const char *name, const double *v, hsize_t n)
{
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PgH5Try(&st, PgH5AttrDouble(obj, name, v, n));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5WriteInt64Attr(hid_t obj, const char *name, int64_t v)
{
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PgH5Try(&st, AttrWrite(obj, name, H5T_NATIVE_INT64, H5T_NATIVE_INT64, H5Screate(H5S_SCALAR), &v));
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5ReadStringAttr(hid_t obj, const char *name, char **text)
{
  hid_t      attr = H5I_INVALID_HID, type = H5I_INVALID_HID, mem = H5I_INVALID_HID;
  PgH5Status st   = PG_H5_STATUS_INIT;
  size_t     size = 0;

  PetscFunctionBeginUser;
  *text = NULL;
  if (H5Aexists(obj, name) <= 0) PetscFunctionReturn(0);
  PgH5Try(&st, attr = H5Aopen(obj, name, H5P_DEFAULT));
  PgH5Try(&st, type = H5Aget_type(attr));
  if (!st.failed) size = H5Tget_size(type);
  PgH5Try(&st, mem = H5Tcopy(H5T_C_S1));
  PgH5Try(&st, H5Tset_size(mem, size + 1));
  if (!st.failed && !(*text = (char *)calloc(size + 2, 1)))
    snprintf(st.msg, sizeof st.msg, "out of memory reading attribute %s", name);
  if (!st.failed && !*text) st.failed = "calloc";
  PgH5Try(&st, H5Aread(attr, mem, *text));
  PgH5Close(&mem);
  PgH5Close(&type);
  PgH5Close(&attr);
  if (st.failed) {
    free(*text);
    *text = NULL;
  }
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5WriteSmallAttr(hid_t group, int rank, const char *name, int ndims, const hsize_t dims[],
                                  const double *data, const char *attr, const char *text)
{
  hid_t      space = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  if (PgH5Exists(group, name)) PgH5Try(&st, H5Ldelete(group, name, H5P_DEFAULT));
  PgH5Try(&st, space = H5Screate_simple(ndims, dims, NULL));
  PgH5Try(&st, dset = H5Dcreate2(group, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PgH5Try(&st, dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgH5Try(&st, H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  if (rank != 0) PgH5Try(&st, H5Sselect_none(space));
  PgH5Try(&st, H5Dwrite(dset, H5T_NATIVE_DOUBLE, space, space, dxpl, data));
  PgH5Try(&st, PgH5AttrString(dset, attr, text));
  PgH5Close(&dxpl);
  PgH5Close(&dset);
  PgH5Close(&space);
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5WriteSmall(hid_t group, int rank, const char *name, int ndims, const hsize_t dims[],
                              const double *data, const char *unit)
{
  PetscFunctionBeginUser;
  PetscCall(PgH5WriteSmallAttr(group, rank, name, ndims, dims, data, "unit", unit));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5WriteRows(hid_t group, const char *name, hsize_t rows, hsize_t cols, hsize_t row0, hsize_t nrows,
                             const double *data, const char *unit)
{
  const hsize_t dims[2] = {rows, cols}, mdims[2] = {PetscMax(nrows, 1), cols}, start[2] = {row0, 0},
                count[2] = {nrows, cols};
  hid_t      fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  if (PgH5Exists(group, name)) PgH5Try(&st, H5Ldelete(group, name, H5P_DEFAULT));
  PgH5Try(&st, fspace = H5Screate_simple(2, dims, NULL));
  PgH5Try(&st, dset = H5Dcreate2(group, name, H5T_IEEE_F64LE, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PgH5Try(&st, mspace = H5Screate_simple(2, mdims, NULL));
  if (nrows > 0 && cols > 0) PgH5Try(&st, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
  else {
    PgH5Try(&st, H5Sselect_none(fspace));
    PgH5Try(&st, H5Sselect_none(mspace));
  }
  PgH5Try(&st, dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgH5Try(&st, H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  PgH5Try(&st, H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, data));
  PgH5Try(&st, PgH5AttrString(dset, "unit", unit));
  PgH5Close(&dxpl);
  PgH5Close(&mspace);
  PgH5Close(&dset);
  PgH5Close(&fspace);
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

/* The depth of a volume's chunks: a divisor of the slab height h so that every chunk lies in one
 * rank's slab: h itself up to 64 planes, else its largest divisor from 64 down to 8; 16 when h has
 * none (a chunk then straddles at most two slabs, each more than 64 planes thick: its owner
 * receives at most a quarter of its slab) or there is one slab (h = 0). */
static int64_t ChunkDepth(int64_t h)
{
  if (h <= 0) return 16;
  if (h <= 64) return h;
  for (int64_t k = 64; k >= 8; k--)
    if (h % k == 0) return k;
  return 16;
}

void PgH5ChunkShape(int64_t slab_height, const int64_t dims[3], int64_t chunk[3])
{
  const double voxels = PetscMax((double)(1 << 20), (double)dims[0] * (double)dims[1] * (double)dims[2] / 4096.0);

  chunk[0] = PetscMin(dims[0], ChunkDepth(slab_height));
  chunk[1] = PetscMin(dims[1], 256);
  chunk[2] = PetscMin(dims[2], 256);
  while ((double)chunk[0] * (double)chunk[1] * (double)chunk[2] < voxels &&
         (chunk[1] < dims[1] || chunk[2] < dims[2])) {
    int d    = chunk[2] < dims[2] && (chunk[2] <= chunk[1] || chunk[1] == dims[1]) ? 2 : 1;
    chunk[d] = PetscMin(dims[d], 2 * chunk[d]);
  }
}

/* The creation properties of a volume: chunks of PgH5ChunkShape, shuffle and deflate at level
 * (0: none), Fletcher32 last in the pipeline so that the checksum covers the bytes on disk
 * (verified on every read). */
static hid_t VolumeCreateProperties(const PgGrid_s *g, const hsize_t dims[3], int level)
{
  const int64_t d[3] = {(int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2]};
  int64_t       c[3];
  hsize_t       chunk[3];
  hid_t         dcpl = H5Pcreate(H5P_DATASET_CREATE);
  PgH5Status    st   = PG_H5_STATUS_INIT;

  PgH5ChunkShape(PgGridSlabHeight(g), d, c);
  for (int k = 0; k < 3; k++) chunk[k] = (hsize_t)c[k];
  PgH5Try(&st, dcpl);
  PgH5Try(&st, H5Pset_chunk(dcpl, 3, chunk));
  if (level > 0) {
    PgH5Try(&st, H5Pset_shuffle(dcpl));
    PgH5Try(&st, H5Pset_deflate(dcpl, (unsigned)level));
  }
  PgH5Try(&st, H5Pset_fletcher32(dcpl));
  if (st.failed) PgH5Close(&dcpl);
  return st.failed ? H5I_INVALID_HID : dcpl;
}

/* This rank's slab (planes z_start .. z_start + nz_local - 1) selected in the file space fspace and
 * in the memory space mspace (rows row_len apart); nothing on a rank without planes. */
static herr_t SelectSlab(const PgGrid_s *g, hid_t fspace, hid_t mspace)
{
  hsize_t start[3] = {(hsize_t)g->z_start, 0, 0}, count[3] = {(hsize_t)g->nz_local, (hsize_t)g->n[1], (hsize_t)g->n[0]},
          zero[3] = {0, 0, 0};

  if (g->nz_local == 0) return H5Sselect_none(fspace) < 0 || H5Sselect_none(mspace) < 0 ? -1 : 0;
  return H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
             H5Sselect_hyperslab(mspace, H5S_SELECT_SET, zero, NULL, count, NULL) < 0
           ? -1
           : 0;
}

PetscErrorCode PgH5WriteSlabs(PgGrid g, hid_t group, const char *name, hid_t filetype, hid_t memtype, const void *data,
                              hsize_t row_len, int compress_level, const char *file)
{
  const hsize_t dims[3]  = {(hsize_t)g->n[2], (hsize_t)g->n[1], (hsize_t)g->n[0]};
  const hsize_t mdims[3] = {(hsize_t)PetscMax(g->nz_local, 1), dims[1], row_len};
  const double  vox[3]   = {g->voxel_um[0], g->voxel_um[1], g->voxel_um[2]};
  hid_t         fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, dset = H5I_INVALID_HID,
        dxpl    = H5I_INVALID_HID;
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PgH5Try(&st, fspace = H5Screate_simple(3, dims, NULL));
  PgH5Try(&st, dcpl = VolumeCreateProperties(g, dims, compress_level));
  if (PgH5Exists(group, name)) PgH5Try(&st, H5Ldelete(group, name, H5P_DEFAULT));
  PgH5TryMsg(&st, dset = H5Dcreate2(group, name, filetype, fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT),
             "cannot create dataset %s in %s (disk full?)", name, file);
  PgH5Try(&st, mspace = H5Screate_simple(3, mdims, NULL));
  PgH5Try(&st, SelectSlab(g, fspace, mspace));
  PgH5Try(&st, dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgH5Try(&st, H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  PgH5TryMsg(&st, H5Dwrite(dset, memtype, mspace, fspace, dxpl, data), "writing %s to %s failed (disk full?)", name,
             file);
  PgH5Try(&st, PgH5AttrDouble(dset, "voxel_size_um", vox, 3));
  PgH5Try(&st, PgH5AttrString(dset, "axes", "z,y,x (voxel_size_um is x,y,z)"));
  PgH5Close(&dxpl);
  PgH5Close(&dset);
  PgH5Close(&mspace);
  PgH5Close(&dcpl);
  PgH5Close(&fspace);
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscErrorCode PgH5ReadSlabs(PgGrid g, const char *file, const char *path, hid_t memtype, void *v, int *ok)
{
  hsize_t mdims[3] = {(hsize_t)PetscMax(g->nz_local, 1), (hsize_t)g->n[1], (hsize_t)g->n[0]};
  hid_t   fapl = H5I_INVALID_HID, f = H5I_INVALID_HID, d = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID,
        dxpl = H5I_INVALID_HID;
  int mine   = 1;

  PetscFunctionBeginUser;
  /* every step is collective (metadata and the read): a rank goes on after a failure of its own,
     and the ranks decide together */
  if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 || H5Pset_fapl_mpio(fapl, g->comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0)
    mine = 0;
  if (mine) f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  if (f < 0 || (d = H5Dopen2(f, path, H5P_DEFAULT)) < 0 || (fs = H5Dget_space(d)) < 0) mine = 0;
  if ((ms = H5Screate_simple(3, mdims, NULL)) < 0) mine = 0;
  if (fs >= 0 && ms >= 0 && SelectSlab(g, fs, ms) < 0) mine = 0;
  if ((dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) mine = 0;
  if (d >= 0 && fs >= 0 && ms >= 0 && dxpl >= 0 && H5Dread(d, memtype, ms, fs, dxpl, v) < 0) mine = 0;
  PgH5Close(&dxpl);
  PgH5Close(&ms);
  PgH5Close(&fs);
  PgH5Close(&d);
  if (PgH5Close(&f) < 0) mine = 0;
  PgH5Close(&fapl);
  PetscCallMPI(MPI_Allreduce(&mine, ok, 1, MPI_INT, MPI_MIN, g->comm));
  PetscFunctionReturn(0);
}
