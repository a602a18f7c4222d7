/// \file
/// Parallel HDF5 output with an XDMF side-car and a CSV table.
///
/// Layout (contract, see README "Output"):
///   /                 attrs: deck, resolved, signature, version, build, nranks, columns
///   /model            attrs: model parameters
///   /runs/<k>         attrs: eps2_target, realization, seed, lambda_z, columns, row, complete
///   /runs/<k>/phase   uint8 [nz][ny][nx], attr voxel_size_um (x, y, z)
///   /runs/<k>/X, /Y   float or double fields (output.write_fields)
///   /runs/<k>/descriptors
/// Every rank writes its own z-slab with a collective hyperslab write (MPI-IO); compression is
/// used only with collective writes, as parallel HDF5 requires. Metadata operations are
/// collective. Rank 0 alone writes the CSV and XDMF text files (small, from data all ranks hold).
/// A run is marked complete (attribute `complete`) only after its data are written and the file
/// is flushed, so a killed job never leaves a run that looks finished but is not.
///
/// Integrity. Every volume carries HDF5's Fletcher32 checksum (after shuffle and deflate, so it
/// covers the bytes on disk). Resuming reads every volume of every complete run back (each rank its
/// slab, collectively); a run whose data fail their checksum, or whose objects cannot be read, is
/// reported by name and computed again instead of being trusted. Cost: one read of the file at
/// resume, nothing per run.
///
/// One writer per output. Rank 0 holds an exclusive lock on `<output.file>.lock` for the whole
/// run (PgOutputLockAcquire, before any output file is touched): an open file description lock
/// (fcntl F_OFD_SETLK; classic F_SETLK where the kernel lacks it) on a file beside the output,
/// which the kernel releases when the process dies, so a killed job never blocks its resume. A
/// second run on the same output finds the lock held, reads the holder's host, pid and start time
/// from the file and refuses in one line, before it touches anything. The file also holds a random
/// token; before each run's write and before the final rename rank 0 re-reads it, so a second writer
/// that got past a lock that does not work (a lock file deleted by hand, a file system whose locks
/// are local to each node) is still detected and this run stops before it writes again. Where the
/// file system refuses locks (NFS without lockd, Lustre mounted without flock) or output.lock =
/// content, the content alone decides: a holder on this host is alive if its pid runs with the
/// same start time; a holder on another host is assumed alive (remove the lock file if that job
/// has ended: the error line says so). See docs/safety.md.
#include <plurigauss/error.h>
#include <plurigauss/io.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PG_VERSION
  #define PG_VERSION "unknown"
#endif
#ifndef PG_BUILD
  #define PG_BUILD "unknown"
#endif

struct PgOutput_private {
  PgGrid          grid;
  const PgConfig *cfg;
  hid_t           file;
  int             nruns;
  char           *done;  /* done[k] = run k complete */
  PgRow          *rows;  /* summary rows of complete runs */
  char            final[PETSC_MAX_PATH_LEN], part[PETSC_MAX_PATH_LEN + 8];
  char            csv[PETSC_MAX_PATH_LEN + 8], xdmf[PETSC_MAX_PATH_LEN + 8];
  int             fresh_run; /* the run whose group was (re)created in this session, or -1 */
  PgOutputLock    lock;      /* checked before each run's write and the final rename (may be NULL) */
};

/* ---------------------------------------------------------------------------------------------
 * The lock of an output (one writer per output file)
 * --------------------------------------------------------------------------------------------- */

struct PgOutputLock_private {
  MPI_Comm  comm;                           /* duplicated */
  int       rank;
  int       fd;                             /* rank 0: the open lock file, -1 elsewhere */
  PetscBool kernel;                         /* the kernel lock is held (else content only) */
  char      path[PETSC_MAX_PATH_LEN + 8];   /* <output>.lock */
  char      token[40];                      /* this run's random token */
  char      content[1024];                  /* what this run wrote into the lock file */
};

/* The holder recorded in a lock file. */
typedef struct {
  char               host[256], start[64], token[40], job[96];
  long long          pid;
  unsigned long long ticks; /* process start time, clock ticks after boot (/proc/PID/stat field 22) */
} LockHolder;

/* Start time of process pid in clock ticks after boot, 0 if unknown; *state its state letter
 * (R, S, D, Z for a zombie, ...) or 0. */
static unsigned long long ProcessStart(long long pid, char *state)
{
  char               path[64], buf[1024];
  unsigned long long ticks = 0;
  FILE              *f;

  if (state) *state = 0;
  snprintf(path, sizeof path, "/proc/%lld/stat", pid);
  if (!(f = fopen(path, "r"))) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n]        = 0;
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (!p) return 0;
  /* after ") ": field 3 (state) ... field 22 (starttime) */
  p += 2;
  if (state) *state = *p;
  for (int field = 3; field < 22 && *p; p++)
    if (*p == ' ') field++;
  if (sscanf(p, "%llu", &ticks) != 1) return 0;
  return ticks;
}

static void ParseHolder(const char *text, LockHolder *h)
{
  PetscMemzero(h, sizeof *h);
  for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    int len = (int)(strchr(l, '\n') ? strchr(l, '\n') - l : (ptrdiff_t)strlen(l));
    if (!strncmp(l, "host=", 5)) snprintf(h->host, sizeof h->host, "%.*s", len - 5, l + 5);
    else if (!strncmp(l, "start=", 6)) snprintf(h->start, sizeof h->start, "%.*s", len - 6, l + 6);
    else if (!strncmp(l, "token=", 6)) snprintf(h->token, sizeof h->token, "%.*s", len - 6, l + 6);
    else if (!strncmp(l, "slurm_job=", 10)) snprintf(h->job, sizeof h->job, "%.*s", len - 10, l + 10);
    else if (!strncmp(l, "pid=", 4)) h->pid = atoll(l + 4);
    else if (!strncmp(l, "start_ticks=", 12)) h->ticks = strtoull(l + 12, NULL, 10);
  }
}

/* Reads the lock file at path afresh (a new open: NFS revalidates on open); "" if absent. */
static void ReadLockFile(const char *path, char *buf, size_t len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  buf[0] = 0;
  if (fd < 0) return;
  ssize_t n = pread(fd, buf, len - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  close(fd);
}

static void HolderText(const LockHolder *h, char *buf, size_t len)
{
  if (h->token[0]) snprintf(buf, len, "host %s, pid %lld%s%s, started %s", h->host[0] ? h->host : "?", h->pid, h->job[0] ? ", Slurm job " : "", h->job, h->start[0] ? h->start : "?");
  else snprintf(buf, len, "holder unknown: the lock file is empty or not plurigauss's");
}

/* Whether the holder of a lock file (content only) still runs: on this host, its pid with the same
 * start time; on another host it cannot be known and counts as alive. */
static PetscBool HolderAlive(const LockHolder *h, const char *myhost)
{
  if (!h->token[0] || h->pid <= 0) return PETSC_FALSE;
  if (strcmp(h->host, myhost)) return PETSC_TRUE;
  char               state;
  unsigned long long ticks;
  if (kill((pid_t)h->pid, 0) != 0 && errno == ESRCH) return PETSC_FALSE;
  ticks = ProcessStart(h->pid, &state);
  if (state == 'Z' || state == 'X') return PETSC_FALSE; /* killed, not yet reaped */
  return h->ticks == 0 || ticks == h->ticks ? PETSC_TRUE : PETSC_FALSE;
}

/* Rank 0: takes the lock. *verdict: 0 taken; 1 held by another run (msg says who); 2 system error. */
static void LockTake(PgOutputLock l, PetscBool content_only, int *verdict, char *msg, size_t len)
{
  char       host[256] = "", old[1024], who[512];
  LockHolder h;

  *verdict = 2;
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = 0;
  for (int attempt = 0; attempt < 20; attempt++) {
    struct stat a, b;
    int         fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      snprintf(msg, len, "cannot create the lock file %s: %s", l->path, strerror(errno));
      return;
    }
    l->kernel = PETSC_FALSE;
    if (!content_only) {
      struct flock fl;
      int          r;
      PetscMemzero(&fl, sizeof fl);
      fl.l_type   = F_WRLCK;
      fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
      r = fcntl(fd, F_OFD_SETLK, &fl);
      if (r != 0 && errno == EINVAL) r = fcntl(fd, F_SETLK, &fl); /* a kernel without OFD locks */
#else
      r = fcntl(fd, F_SETLK, &fl);
#endif
      if (r == 0) l->kernel = PETSC_TRUE;
      else if (errno == EAGAIN || errno == EACCES) {
        ReadLockFile(l->path, old, sizeof old);
        ParseHolder(old, &h);
        HolderText(&h, who, sizeof who);
        snprintf(msg, len, "output.file %.*s is being written by another run (%s; lock file %s): wait for it to end or choose another output.file", (int)(strlen(l->path) - 5), l->path, who, l->path);
        close(fd);
        *verdict = 1;
        return;
      } else if (errno != ENOLCK && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) {
        snprintf(msg, len, "cannot lock %s: %s", l->path, strerror(errno));
        close(fd);
        return;
      } /* else: the file system has no working locks; the content decides */
    }
    /* the previous holder may have removed the file between our open and our lock: retry */
    if (fstat(fd, &a) != 0 || stat(l->path, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      close(fd);
      continue;
    }
    ReadLockFile(l->path, old, sizeof old);
    ParseHolder(old, &h);
    if (!l->kernel && HolderAlive(&h, host)) {
      HolderText(&h, who, sizeof who);
      snprintf(msg, len, "output.file %.*s is being written by another run (%s; lock file %s, checked by its content: %s%s): wait for it to end or choose another output.file", (int)(strlen(l->path) - 5), l->path, who, l->path,
               content_only ? "output.lock = content" : "this file system has no working locks", strcmp(h.host, host) ? "; if that job has ended, remove the lock file" : "");
      close(fd);
      *verdict = 1;
      return;
    }
    if (h.token[0]) {
      HolderText(&h, who, sizeof who);
      printf("plurigauss: note: the previous run on this output (%s) ended without releasing %s (killed?); taking over\n", who, l->path);
      fflush(stdout);
    }
    /* this run's content: host, pid, start time, a random token */
    {
      unsigned char rnd[16];
      time_t        now = time(NULL);
      struct tm     tm;
      char          start[64];
      if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)((uint64_t)now * 2654435761u >> (i % 8) ^ (uint64_t)getpid() >> i);
      for (size_t i = 0; i < sizeof rnd; i++) snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
      char        job[96]  = "";
      const char *jid = getenv("SLURM_JOB_ID"), *ajid = getenv("SLURM_ARRAY_JOB_ID"), *atid = getenv("SLURM_ARRAY_TASK_ID");
      if (atid && atid[0]) snprintf(job, sizeof job, "%s_%s", ajid && ajid[0] ? ajid : "?", atid);
      else if (jid && jid[0]) snprintf(job, sizeof job, "%s", jid);
      localtime_r(&now, &tm);
      strftime(start, sizeof start, "%Y-%m-%d %H:%M:%S %Z", &tm);
      snprintf(l->content, sizeof l->content, "plurigauss output lock\nhost=%s\npid=%lld\nstart=%s\nstart_ticks=%llu\ntoken=%s\nmode=%s\nslurm_job=%s\n", host, (long long)getpid(), start, ProcessStart(getpid(), NULL), l->token, l->kernel ? "kernel" : "content", job);
    }
    size_t n = strlen(l->content);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, l->content, n, 0) != (ssize_t)n || fsync(fd) != 0) {
      snprintf(msg, len, "cannot write the lock file %s: %s", l->path, strerror(errno));
      close(fd);
      return;
    }
    if (!l->kernel) {
      /* content only: two runs that started together both wrote; the last one keeps the file */
      usleep(200000);
      ReadLockFile(l->path, old, sizeof old);
      ParseHolder(old, &h);
      if (strcmp(h.token, l->token)) {
        HolderText(&h, who, sizeof who);
        snprintf(msg, len, "output.file %.*s is being written by another run (%s; lock file %s, which it took at the same moment)", (int)(strlen(l->path) - 5), l->path, who, l->path);
        close(fd);
        *verdict = 1;
        return;
      }
    }
    l->fd    = fd;
    *verdict = 0;
    return;
  }
  snprintf(msg, len, "cannot take the lock %s: it keeps being replaced", l->path);
}

PetscErrorCode PgOutputLockAcquire(MPI_Comm comm, const char *output_file, PetscBool content_only, PgOutputLock *lockp)
{
  PgOutputLock l;
  int          verdict = 0;
  char         msg[3 * PETSC_MAX_PATH_LEN + 1024] = "";

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&l));
  l->fd = -1;
  PetscCallMPI(MPI_Comm_dup(comm, &l->comm));
  PetscCallMPI(MPI_Comm_rank(l->comm, &l->rank));
  snprintf(l->path, sizeof l->path, "%s.lock", output_file);
  if (l->rank == 0) LockTake(l, content_only, &verdict, msg, sizeof msg);
  PetscCallMPI(MPI_Bcast(&verdict, 1, MPI_INT, 0, l->comm));
  PetscCallMPI(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, 0, l->comm));
  PetscCallMPI(MPI_Bcast(&l->kernel, 1, MPIU_BOOL, 0, l->comm));
  if (verdict) {
    PetscCallMPI(MPI_Comm_free(&l->comm));
    PetscCall(PetscFree(l));
    SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s", msg);
  }
  *lockp = l;
  PetscFunctionReturn(0);
}

PetscBool PgOutputLockKernel(PgOutputLock lock) { return lock ? lock->kernel : PETSC_FALSE; }

PetscErrorCode PgOutputLockVerify(PgOutputLock l, const char *before)
{
  int  ok = 1;
  char msg[2 * PETSC_MAX_PATH_LEN + 1024] = "";

  PetscFunctionBeginUser;
  if (!l) PetscFunctionReturn(0);
  if (l->rank == 0) {
    char        now[1024], who[512];
    LockHolder  h;
    struct stat a, b;
    ReadLockFile(l->path, now, sizeof now);
    ParseHolder(now, &h);
    ok = !strcmp(h.token, l->token) && fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
    if (!ok) {
      HolderText(&h, who, sizeof who);
      snprintf(msg, sizeof msg, "another run took over %s (%s%s) while this one was writing; stopping before %s (this run's complete runs are kept in the .part file)", l->path, now[0] ? "" : "the lock file was removed; ", now[0] ? who : "no holder", before);
    }
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, l->comm));
  if (!ok) {
    PetscCallMPI(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, 0, l->comm));
    l->token[0] = 0; /* no longer ours: never remove it */
    SETERRQ(l->comm, PETSC_ERR_USER_INPUT, "%s", msg);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputLockRelease(PgOutputLock *lockp)
{
  PgOutputLock l = *lockp;

  PetscFunctionBeginUser;
  if (!l) PetscFunctionReturn(0);
  if (l->rank == 0 && l->fd >= 0) {
    /* remove the file only while it is still ours (same file, same token), then drop the lock */
    char        now[1024];
    LockHolder  h;
    struct stat a, b;
    ReadLockFile(l->path, now, sizeof now);
    ParseHolder(now, &h);
    if (l->token[0] && !strcmp(h.token, l->token) && fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_ino == b.st_ino) (void)unlink(l->path);
    close(l->fd);
  }
  (void)MPI_Comm_free(&l->comm); /* local to this rank's handle; no communication */
  PetscCall(PetscFree(*lockp));
  PetscFunctionReturn(0);
}

void PgOutputSetLock(PgOutput out, PgOutputLock lock) { out->lock = lock; }

PetscErrorCode PgRowSet(PgRow *row, const char *name, double value)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < row->n; i++)
    if (!strcmp(row->name[i], name)) {
      row->value[i] = value;
      PetscFunctionReturn(0);
    }
  PetscCheck(row->n < PG_ROW_MAX, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "too many columns");
  PetscCheck(strlen(name) < sizeof row->name[0], PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "column name %s too long", name);
  snprintf(row->name[row->n], sizeof row->name[0], "%s", name);
  row->value[row->n++] = value;
  PetscFunctionReturn(0);
}

/* "out/x.h5" -> "out/x" + ext */
void PgOutputSideCar(const char *file, const char *ext, char *buf, size_t len)
{
  const char *dot = strrchr(file, '.'), *slash = strrchr(file, '/');
  int         stem = (dot && (!slash || dot > slash)) ? (int)(dot - file) : (int)strlen(file);
  snprintf(buf, len, "%.*s%s", stem, file, ext);
}

PetscErrorCode PgOutputWriteStringAttr(hid_t obj, const char *name, const char *text)
{
  hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PgCallH5(type = H5Tcopy(H5T_C_S1));
  PgCallH5(H5Tset_size(type, strlen(text) + 1));
  PgCallH5(space = H5Screate(H5S_SCALAR));
  if (H5Aexists(obj, name) > 0) PgCallH5(H5Adelete(obj, name));
  PgCallH5(attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(H5Awrite(attr, type, text));
  PgCallH5(H5Aclose(attr));
  PgCallH5(H5Sclose(space));
  PgCallH5(H5Tclose(type));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputWriteDoubleAttr(hid_t obj, const char *name, const double *v, hsize_t n)
{
  hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PgCallH5(space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL));
  if (H5Aexists(obj, name) > 0) PgCallH5(H5Adelete(obj, name));
  PgCallH5(attr = H5Acreate2(obj, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(H5Awrite(attr, H5T_NATIVE_DOUBLE, v));
  PgCallH5(H5Aclose(attr));
  PgCallH5(H5Sclose(space));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteInt64Attr(hid_t obj, const char *name, int64_t v)
{
  hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PgCallH5(space = H5Screate(H5S_SCALAR));
  if (H5Aexists(obj, name) > 0) PgCallH5(H5Adelete(obj, name));
  PgCallH5(attr = H5Acreate2(obj, name, H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(H5Awrite(attr, H5T_NATIVE_INT64, &v));
  PgCallH5(H5Aclose(attr));
  PgCallH5(H5Sclose(space));
  PetscFunctionReturn(0);
}

/* Reads a string attribute into a malloc'd buffer (NULL if absent). */
static PetscErrorCode ReadStringAttr(hid_t obj, const char *name, char **text)
{
  hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, mem = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  *text = NULL;
  if (H5Aexists(obj, name) <= 0) PetscFunctionReturn(0);
  PgCallH5(attr = H5Aopen(obj, name, H5P_DEFAULT));
  PgCallH5(type = H5Aget_type(attr));
  size_t size = H5Tget_size(type);
  PgCallH5(mem = H5Tcopy(H5T_C_S1));
  PgCallH5(H5Tset_size(mem, size + 1));
  *text = (char *)calloc(size + 2, 1);
  PetscCheck(*text, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  PgCallH5(H5Aread(attr, mem, *text));
  PgCallH5(H5Tclose(mem));
  PgCallH5(H5Tclose(type));
  PgCallH5(H5Aclose(attr));
  PetscFunctionReturn(0);
}

static void RunName(int k, char *buf, size_t len) { snprintf(buf, len, "/runs/%04d", k); }

PetscErrorCode PgOutputWriteSmall(hid_t group, int rank, const char *name, int ndims, const hsize_t dims[], const double *data, const char *unit)
{
  hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  if (H5Lexists(group, name, H5P_DEFAULT) > 0) PgCallH5(H5Ldelete(group, name, H5P_DEFAULT));
  PgCallH5(space = H5Screate_simple(ndims, dims, NULL));
  PgCallH5(dset = H5Dcreate2(group, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgCallH5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  if (rank != 0) PgCallH5(H5Sselect_none(space));
  PgCallH5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, space, space, dxpl, data));
  PetscCall(PgOutputWriteStringAttr(dset, "unit", unit));
  PgCallH5(H5Pclose(dxpl));
  PgCallH5(H5Dclose(dset));
  PgCallH5(H5Sclose(space));
  PetscFunctionReturn(0);
}

static PetscErrorCode FileExists(MPI_Comm comm, const char *path, PetscBool *exists)
{
  int rank, e = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) e = access(path, F_OK) == 0;
  PetscCallMPI(MPI_Bcast(&e, 1, MPI_INT, 0, comm));
  *exists = e ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* Rank 0 reads the signature of an existing file without modifying it: 1 = same deck, 0 = other
 * deck, -1 = not an HDF5 file of plurigauss. */
static PetscErrorCode ProbeExisting(MPI_Comm comm, const char *path, const char *signature, int *verdict)
{
  int rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  *verdict = -1;
  if (rank == 0 && H5Fis_hdf5(path) > 0) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      char *sig = NULL;
      if (!ReadStringAttr(f, "signature", &sig) && sig) *verdict = strcmp(sig, signature) == 0;
      free(sig);
      H5Fclose(f);
    }
  }
  PetscCallMPI(MPI_Bcast(verdict, 1, MPI_INT, 0, comm));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputRename(MPI_Comm comm, const char *from, const char *to)
{
  int rank, ok = 1, err = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0 && rename(from, to) != 0) {
    ok  = 0;
    err = errno;
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, comm)); /* rank 0's reason on every rank */
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot rename %s to %s: %s", from, to, strerror(err));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputOpenParallel(MPI_Comm comm, const char *path, PetscBool create, hid_t *file)
{
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PgCallH5(fapl = H5Pcreate(H5P_FILE_ACCESS));
  PgCallH5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  PgCallH5(H5Pset_all_coll_metadata_ops(fapl, 1));
  PgCallH5(H5Pset_coll_metadata_write(fapl, 1));
  /* dense attribute storage allows attributes (the deck text) beyond 64 KiB */
  PgCallH5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST));
  if (create) {
    PgCallH5(fcpl = H5Pcreate(H5P_FILE_CREATE));
    PgCallH5(H5Pset_attr_phase_change(fcpl, 0, 0));
    *file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    PgCallH5(H5Pclose(fcpl));
  } else *file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  PgCallH5(H5Pclose(fapl));
  PetscCheck(*file >= 0, comm, PETSC_ERR_FILE_OPEN, "cannot %s %s", create ? "create" : "open", path);
  PetscFunctionReturn(0);
}

/* Reads dataset d back: a volume of the grid's shape [nz][ny][nx] by every rank's slab (collective,
 * blocks of 16 planes), anything else whole on every rank. *ok = 0 if any rank could not read it
 * (a Fletcher32 mismatch, a damaged chunk or header). Collective. */
static PetscErrorCode VerifyDataset(PgOutput out, hid_t d, int *ok)
{
  const PgGrid_s *g      = out->grid;
  hid_t           fspace = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t         dims[H5S_MAX_RANK];
  int             mine = 1, nd = -1;
  size_t          esize = 0;
  void           *buf = NULL;

  PetscFunctionBeginUser;
  if ((fspace = H5Dget_space(d)) < 0 || (nd = H5Sget_simple_extent_dims(fspace, dims, NULL)) < 0 || (ftype = H5Dget_type(d)) < 0 || (mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND)) < 0 || !(esize = H5Tget_size(mtype))) mine = 0;
  /* the decision below must be the same on every rank: the metadata reads are collective */
  const PetscBool volume = mine && nd == 3 && dims[0] == (hsize_t)g->n[2] && dims[1] == (hsize_t)g->n[1] && dims[2] == (hsize_t)g->n[0];
  if (volume) {
    const hsize_t plane = dims[1] * dims[2], B = 16;
    long long     nb_mine = (long long)((g->nz_local + (ptrdiff_t)B - 1) / (ptrdiff_t)B), nb;
    PetscCallMPI(MPI_Allreduce(&nb_mine, &nb, 1, MPI_LONG_LONG, MPI_MAX, g->comm));
    buf = malloc(PetscMax(B * plane * esize, 1));
    if (!buf) mine = 0;
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) mine = 0;
    for (long long b = 0; b < nb; b++) {
      const hsize_t z0 = (hsize_t)b * B, nz = z0 < (hsize_t)g->nz_local ? PetscMin(B, (hsize_t)g->nz_local - z0) : 0;
      hsize_t       start[3] = {(hsize_t)g->z_start + z0, 0, 0}, count[3] = {nz, dims[1], dims[2]}, mdims[3] = {B, dims[1], dims[2]}, mstart[3] = {0, 0, 0};
      herr_t        st = 0;
      if (mspace < 0) mspace = H5Screate_simple(3, mdims, NULL);
      if (nz) st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 || H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, count, NULL) < 0 ? -1 : 0;
      else st = H5Sselect_none(fspace) < 0 || H5Sselect_none(mspace) < 0 ? -1 : 0;
      /* every rank takes part in the collective read, also after a failure of its own */
      if (H5Dread(d, mtype, mspace, fspace, dxpl, buf) < 0 || st < 0 || mspace < 0 || !buf) mine = 0;
    }
  } else if (mine) {
    hssize_t n = H5Sget_simple_extent_npoints(fspace);
    buf        = malloc(PetscMax((size_t)(n > 0 ? n : 0) * esize, 1));
    if (n < 0 || !buf || H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) mine = 0;
  }
  free(buf);
  if (dxpl >= 0) H5Pclose(dxpl);
  if (mspace >= 0) H5Sclose(mspace);
  if (mtype >= 0) H5Tclose(mtype);
  if (ftype >= 0) H5Tclose(ftype);
  if (fspace >= 0) H5Sclose(fspace);
  PetscCallMPI(MPI_Allreduce(&mine, ok, 1, MPI_INT, MPI_MIN, g->comm));
  PetscFunctionReturn(0);
}

/* Reads back every object below group `grp` (path: its name); the first that fails goes to bad.
 * Collective. */
static PetscErrorCode VerifyGroup(PgOutput out, hid_t grp, const char *path, char *bad, size_t len)
{
  H5G_info_t info;

  PetscFunctionBeginUser;
  if (H5Gget_info(grp, &info) < 0) {
    snprintf(bad, len, "%s", path);
    PetscFunctionReturn(0);
  }
  for (hsize_t i = 0; i < info.nlinks && !bad[0]; i++) {
    char  name[256], sub[512];
    hid_t o;
    if (H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) {
      snprintf(bad, len, "%s (link %d)", path, (int)i);
      break;
    }
    snprintf(sub, sizeof sub, "%s/%s", path, name);
    if ((o = H5Oopen(grp, name, H5P_DEFAULT)) < 0) {
      snprintf(bad, len, "%s", sub);
      break;
    }
    const H5I_type_t t = H5Iget_type(o);
    if (t == H5I_GROUP) PetscCall(VerifyGroup(out, o, sub, bad, len));
    else if (t == H5I_DATASET) {
      int ok;
      PetscCall(VerifyDataset(out, o, &ok));
      if (!ok) snprintf(bad, len, "%s", sub);
    }
    H5Oclose(o);
  }
  PetscFunctionReturn(0);
}

/* Loads the row of run k if it is marked complete and every object of it reads back (checksums);
 * *state: 0 absent or incomplete, 1 complete, -1 complete but damaged (bad names what failed). */
static PetscErrorCode LoadRun(PgOutput out, int k, int *state, char *bad, size_t len)
{
  char   name[64], *cols = NULL;
  hid_t  g = H5I_INVALID_HID, a = H5I_INVALID_HID;
  PgRow *row = &out->rows[k];

  PetscFunctionBeginUser;
  *state = 0;
  bad[0] = 0;
  RunName(k, name, sizeof name);
  if (H5Lexists(out->file, "/runs", H5P_DEFAULT) <= 0 || H5Lexists(out->file, name, H5P_DEFAULT) <= 0) PetscFunctionReturn(0);
  if ((g = H5Gopen2(out->file, name, H5P_DEFAULT)) < 0) {
    *state = -1; /* the group exists but cannot be opened: treat as damaged, recompute */
    snprintf(bad, len, "%s", name);
    PetscFunctionReturn(0);
  }
  if (H5Aexists(g, "complete") > 0) {
    *state = 1;
    if (ReadStringAttr(g, "columns", &cols) || !cols) snprintf(bad, len, "%s: attribute columns", name);
    else {
      row->n     = 0;
      char *save = NULL;
      for (char *t = strtok_r(cols, ",", &save); t; t = strtok_r(NULL, ",", &save)) PetscCall(PgRowSet(row, t, NAN));
      if ((a = H5Aopen(g, "row", H5P_DEFAULT)) < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, row->value) < 0) snprintf(bad, len, "%s: attribute row", name);
      if (a >= 0) H5Aclose(a);
    }
    free(cols);
    if (!bad[0]) PetscCall(VerifyGroup(out, g, name, bad, len));
    if (bad[0]) *state = -1;
  }
  H5Gclose(g);
  PetscFunctionReturn(0);
}

/* Loads the rows of the runs marked complete; a run whose data fail their checksums (or cannot be
 * read) is reported and left to be computed again. */
static PetscErrorCode LoadDoneRuns(PgOutput out)
{
  int ndamaged = 0;

  PetscFunctionBeginUser;
  for (int k = 0; k < out->nruns; k++) {
    char bad[600];
    int  state;
    PetscCall(LoadRun(out, k, &state, bad, sizeof bad));
    out->done[k] = state == 1;
    if (state < 0) {
      ndamaged++;
      out->rows[k].n = 0;
      PetscCall(PetscPrintf(out->grid->comm, "plurigauss: warning: run %d in %s is damaged (%s does not read back: checksum or structure); computing it again\n", k, out->part, bad));
    }
  }
  if (ndamaged) PetscCall(PetscPrintf(out->grid->comm, "plurigauss: warning: %d damaged run%s of %s will be computed again\n", ndamaged, ndamaged > 1 ? "s" : "", out->part));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteHeader(PgOutput out, const char *signature)
{
  const PgConfig *cfg   = out->cfg;
  double          nr    = out->grid->size, nt = out->grid->threads;
  hid_t           g     = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PetscCall(PgOutputWriteStringAttr(out->file, "deck", cfg->deck_text ? cfg->deck_text : ""));
  PetscCall(PgOutputWriteStringAttr(out->file, "deck_path", cfg->deck_path));
  PetscCall(PgOutputWriteStringAttr(out->file, "resolved", cfg->resolved));
  PetscCall(PgOutputWriteStringAttr(out->file, "signature", signature));
  PetscCall(PgOutputWriteStringAttr(out->file, "version", PG_VERSION));
  PetscCall(PgOutputWriteStringAttr(out->file, "build", PG_BUILD));
  PetscCall(PgOutputWriteDoubleAttr(out->file, "nranks", &nr, 1));
  PetscCall(PgOutputWriteDoubleAttr(out->file, "threads", &nt, 1));
  PgCallH5(g = H5Gcreate2(out->file, "/runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(H5Gclose(g));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputOpen(PgGrid grid, const PgConfig *cfg, int nruns, PgOutput *outp)
{
  PgOutput  out;
  char      signature[8192];
  PetscBool has_part, has_final;
  int       vpart = -1, vfinal = -1;

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported by PgCallH5, one line */
  PetscCall(PetscNew(&out));
  out->grid  = grid;
  out->cfg   = cfg;
  out->nruns = nruns;
  out->file  = H5I_INVALID_HID;
  out->fresh_run = -1;
  PetscCall(PetscCalloc1(nruns, &out->done));
  PetscCall(PetscCalloc1(nruns, &out->rows));
  snprintf(out->final, sizeof out->final, "%s", cfg->output_file);
  snprintf(out->part, sizeof out->part, "%s.part", cfg->output_file);
  PgOutputSideCar(cfg->output_file, ".csv", out->csv, sizeof out->csv);
  PgOutputSideCar(cfg->output_file, ".xdmf", out->xdmf, sizeof out->xdmf);
  PetscCall(PgConfigSignature(cfg, signature, sizeof signature));

  /* decide before touching anything */
  PetscCall(FileExists(grid->comm, out->part, &has_part));
  PetscCall(FileExists(grid->comm, out->final, &has_final));
  if (has_part) PetscCall(ProbeExisting(grid->comm, out->part, signature, &vpart));
  if (has_final) PetscCall(ProbeExisting(grid->comm, out->final, signature, &vfinal));
  if (!cfg->overwrite) {
    PetscCheck(!has_final || vfinal == 1, grid->comm, PETSC_ERR_USER_INPUT, "output.file %s exists and %s; choose another output.file or set output.overwrite", out->final,
               vfinal < 0 ? "is not a plurigauss HDF5 file" : "holds runs of a different deck");
    PetscCheck(!has_part || vpart != 0, grid->comm, PETSC_ERR_USER_INPUT, "%s exists and holds an interrupted run of a different deck; remove it or set output.overwrite", out->part);
  }
  if (has_part && vpart < 0) {
    /* a job killed before the file's header reached the disk leaves a .part that is no HDF5 file
     * of ours: it holds no finished run. Keep it for inspection under another name, start afresh. */
    char aside[PETSC_MAX_PATH_LEN + 32];
    snprintf(aside, sizeof aside, "%s.unreadable", out->part);
    PetscCall(PgOutputRename(grid->comm, out->part, aside));
    PetscCall(PetscPrintf(grid->comm, "plurigauss: warning: %s was not readable (a job killed while creating it?); moved to %s, starting afresh\n", out->part, aside));
    has_part = PETSC_FALSE;
  }
  PetscBool resume = PETSC_FALSE;
  if (!cfg->overwrite && has_part) resume = PETSC_TRUE; /* an interrupted sweep */
  else if (!cfg->overwrite && has_final) {             /* a finished (or extended) sweep */
    PetscCall(PgOutputRename(grid->comm, out->final, out->part));
    resume = PETSC_TRUE;
  }
  PetscCall(PgOutputOpenParallel(grid->comm, out->part, resume ? PETSC_FALSE : PETSC_TRUE, &out->file));
  if (resume) PetscCall(LoadDoneRuns(out));
  else {
    PetscCall(WriteHeader(out, signature));
    PgCallH5(H5Fflush(out->file, H5F_SCOPE_GLOBAL)); /* a resumable file from the start */
  }
  if (cfg->overwrite && has_final && grid->rank == 0) unlink(out->final);
  *outp = out;
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputWriteModel(PgOutput out, const PgRow *model)
{
  hid_t g = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  if (H5Lexists(out->file, "/model", H5P_DEFAULT) > 0) PgCallH5(g = H5Gopen2(out->file, "/model", H5P_DEFAULT));
  else PgCallH5(g = H5Gcreate2(out->file, "/model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  for (int i = 0; i < model->n; i++) PetscCall(PgOutputWriteDoubleAttr(g, model->name[i], &model->value[i], 1));
  PgCallH5(H5Gclose(g));
  PetscFunctionReturn(0);
}

PetscBool PgOutputHasRun(PgOutput out, int k) { return (k >= 0 && k < out->nruns && out->done[k]) ? PETSC_TRUE : PETSC_FALSE; }

const PgRow *PgOutputGetRow(PgOutput out, int k) { return PgOutputHasRun(out, k) ? &out->rows[k] : NULL; }

int PgOutputRunsDone(PgOutput out)
{
  int n = 0;
  for (int k = 0; k < out->nruns; k++) n += out->done[k] != 0;
  return n;
}

/* Collective write of a [nz][ny][nx] volume from this rank's slab, whose rows are row_len >= nx
 * elements apart in memory (nx for labels, FFTW's padded 2 (nx/2 + 1) for fields). */
PetscErrorCode PgOutputWriteSlabs(PgGrid g, hid_t group, const char *name, hid_t filetype, hid_t memtype, const void *data, hsize_t row_len, int compress_level, const char *file)
{
  hsize_t         dims[3] = {(hsize_t)g->n[2], (hsize_t)g->n[1], (hsize_t)g->n[0]};
  hsize_t         chunk[3] = {PetscMin(dims[0], 16), PetscMin(dims[1], 256), PetscMin(dims[2], 256)};
  hsize_t         start[3] = {(hsize_t)g->z_start, 0, 0}, count[3] = {(hsize_t)g->nz_local, dims[1], dims[2]};
  hsize_t         mdims[3] = {(hsize_t)PetscMax(g->nz_local, 1), dims[1], row_len};
  hid_t           fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  double          vox[3] = {g->voxel_um[0], g->voxel_um[1], g->voxel_um[2]};

  PetscFunctionBeginUser;
  PgCallH5(fspace = H5Screate_simple(3, dims, NULL));
  PgCallH5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
  PgCallH5(H5Pset_chunk(dcpl, 3, chunk));
  if (compress_level > 0) {
    PgCallH5(H5Pset_shuffle(dcpl));
    PgCallH5(H5Pset_deflate(dcpl, (unsigned)compress_level));
  }
  /* last in the pipeline: the checksum covers the bytes on disk, verified on every read */
  PgCallH5(H5Pset_fletcher32(dcpl));
  if (H5Lexists(group, name, H5P_DEFAULT) > 0) PgCallH5(H5Ldelete(group, name, H5P_DEFAULT));
  dset = H5Dcreate2(group, name, filetype, fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  PetscCheck(dset >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot create dataset %s in %s (disk full?)", name, file);
  PgCallH5(mspace = H5Screate_simple(3, mdims, NULL));
  if (g->nz_local > 0) {
    hsize_t mstart[3] = {0, 0, 0};
    PgCallH5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
    PgCallH5(H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, count, NULL));
  } else {
    PgCallH5(H5Sselect_none(fspace));
    PgCallH5(H5Sselect_none(mspace));
  }
  PgCallH5(dxpl = H5Pcreate(H5P_DATASET_XFER));
  PgCallH5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  herr_t status = H5Dwrite(dset, memtype, mspace, fspace, dxpl, data);
  PetscCheck(status >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "writing %s to %s failed (disk full?)", name, file);
  PetscCall(PgOutputWriteDoubleAttr(dset, "voxel_size_um", vox, 3));
  PetscCall(PgOutputWriteStringAttr(dset, "axes", "z,y,x (voxel_size_um is x,y,z)"));
  PgCallH5(H5Pclose(dxpl));
  PgCallH5(H5Dclose(dset));
  PgCallH5(H5Sclose(mspace));
  PgCallH5(H5Pclose(dcpl));
  PgCallH5(H5Sclose(fspace));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteVolume(PgOutput out, hid_t group, const char *name, hid_t filetype, hid_t memtype, const void *data, hsize_t row_len)
{
  PetscFunctionBeginUser;
  PetscCall(PgOutputWriteSlabs(out->grid, group, name, filetype, memtype, data, row_len, out->cfg->compress_level, out->part));
  PetscFunctionReturn(0);
}

/* The group of run k. The first time in this session it is created afresh: whatever an
 * interrupted job left there (a run not marked complete) is discarded. */
static PetscErrorCode OpenRunGroup(PgOutput out, int k, hid_t *group)
{
  char name[64];

  PetscFunctionBeginUser;
  RunName(k, name, sizeof name);
  if (out->fresh_run != k) {
    PetscCheck(!out->done[k], PETSC_COMM_SELF, PETSC_ERR_PLIB, "run %d is complete and must not be rewritten", k);
    if (H5Lexists(out->file, name, H5P_DEFAULT) > 0) PgCallH5(H5Ldelete(out->file, name, H5P_DEFAULT));
    PgCallH5(*group = H5Gcreate2(out->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    out->fresh_run = k;
  } else PgCallH5(*group = H5Gopen2(out->file, name, H5P_DEFAULT));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputRunGroup(PgOutput out, int k, hid_t *descriptors)
{
  hid_t g = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PetscCall(OpenRunGroup(out, k, &g));
  if (H5Lexists(g, "descriptors", H5P_DEFAULT) > 0) PgCallH5(*descriptors = H5Gopen2(g, "descriptors", H5P_DEFAULT));
  else PgCallH5(*descriptors = H5Gcreate2(g, "descriptors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PgCallH5(H5Gclose(g));
  PetscFunctionReturn(0);
}

/* CSV of all complete runs, columns of the first complete run; rank 0, written to a temporary
 * name and renamed so that a reader never sees half a table. */
static PetscErrorCode WriteCSV(PgOutput out)
{
  char  tmp[PETSC_MAX_PATH_LEN + 16];
  int   ok = 1, first = -1;
  FILE *f;

  PetscFunctionBeginUser;
  for (int k = 0; k < out->nruns && first < 0; k++)
    if (out->done[k]) first = k;
  if (out->grid->rank == 0 && first >= 0) {
    const PgRow *head = &out->rows[first];
    snprintf(tmp, sizeof tmp, "%s.tmp", out->csv);
    f = fopen(tmp, "w");
    if (!f) ok = 0;
    else {
      fprintf(f, "run");
      for (int c = 0; c < head->n; c++) fprintf(f, ",%s", head->name[c]);
      fprintf(f, "\n");
      for (int k = 0; k < out->nruns; k++) {
        if (!out->done[k]) continue;
        fprintf(f, "%d", k);
        for (int c = 0; c < head->n; c++) {
          double v = NAN;
          for (int j = 0; j < out->rows[k].n; j++)
            if (!strcmp(out->rows[k].name[j], head->name[c])) v = out->rows[k].value[j];
          if (!strcmp(head->name[c], "seed") || !strcmp(head->name[c], "realization")) fprintf(f, ",%.0f", v);
          else fprintf(f, ",%.10g", v);
        }
        fprintf(f, "\n");
      }
      ok = fclose(f) == 0 && rename(tmp, out->csv) == 0;
    }
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, out->grid->comm));
  PetscCheck(ok, out->grid->comm, PETSC_ERR_FILE_WRITE, "cannot write %s", out->csv);
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputWriteRun(PgOutput out, int k, const PgRow *row, PgLabels labels, PgField field)
{
  hid_t       g = H5I_INVALID_HID;
  char        cols[PG_ROW_MAX * 33] = "";
  size_t      o = 0;
  const void *x, *y;
  ptrdiff_t   stride;
  PgPrecision prec;

  PetscFunctionBeginUser;
  PetscCall(PgOutputLockVerify(out->lock, "writing a run"));
  PetscCall(OpenRunGroup(out, k, &g));
  if (H5Lexists(g, "descriptors", H5P_DEFAULT) <= 0) {
    hid_t dg = H5I_INVALID_HID;
    PgCallH5(dg = H5Gcreate2(g, "descriptors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    PgCallH5(H5Gclose(dg));
  }
  for (int i = 0; i < row->n; i++) {
    double v = row->value[i];
    if (!strcmp(row->name[i], "seed") || !strcmp(row->name[i], "realization")) PetscCall(WriteInt64Attr(g, row->name[i], (int64_t)v));
    else PetscCall(PgOutputWriteDoubleAttr(g, row->name[i], &v, 1));
    o += (size_t)snprintf(cols + o, sizeof cols - o, "%s%s", i ? "," : "", row->name[i]);
  }
  PetscCall(PgOutputWriteStringAttr(g, "columns", cols));
  PetscCall(PgOutputWriteDoubleAttr(g, "row", row->value, (hsize_t)row->n));
  if (labels) PetscCall(WriteVolume(out, g, "phase", H5T_STD_U8LE, H5T_NATIVE_UINT8, labels->v, (hsize_t)out->grid->n[0]));
  if (field) {
    PetscCall(PgFieldGetArrays(field, &x, &y, &stride, &prec));
    hid_t ft = prec == PG_PRECISION_DOUBLE ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, mt = prec == PG_PRECISION_DOUBLE ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
    PetscCall(WriteVolume(out, g, "X", ft, mt, x, (hsize_t)stride));
    PetscCall(WriteVolume(out, g, "Y", ft, mt, y, (hsize_t)stride));
  }
  PgCallH5(H5Fflush(out->file, H5F_SCOPE_GLOBAL));
  PetscCall(WriteInt64Attr(g, "complete", 1));
  PgCallH5(H5Gclose(g));
  herr_t status = H5Fflush(out->file, H5F_SCOPE_GLOBAL);
  PetscCheck(status >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "flushing %s failed (disk full?)", out->part);
  out->done[k] = 1;
  out->rows[k] = *row;
  PetscCall(WriteCSV(out));
  PetscFunctionReturn(0);
}

/* XDMF side-car: one uniform grid per run with a phase volume, as a temporal collection so that
 * ParaView steps through the runs. Cell-centred data on a (n+1)^3 co-rectilinear mesh; XDMF lists
 * dimensions, origin and spacing slowest axis first (z, y, x). */
static PetscErrorCode WriteXDMF(PgOutput out)
{
  const PgGrid_s *g = out->grid;
  int             ok = 1;
  char            tmp[PETSC_MAX_PATH_LEN + 16];

  PetscFunctionBeginUser;
  if (g->rank == 0) {
    const char *base = strrchr(out->final, '/');
    base             = base ? base + 1 : out->final;
    snprintf(tmp, sizeof tmp, "%s.tmp", out->xdmf);
    FILE *f = fopen(tmp, "w");
    if (!f) ok = 0;
    else {
      fprintf(f, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"2.0\">\n <Domain>\n");
      fprintf(f, "  <Grid Name=\"runs\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
      for (int k = 0; k < out->nruns; k++) {
        if (!out->done[k] || !out->cfg->write_phase) continue;
        fprintf(f, "   <Grid Name=\"run_%04d\" GridType=\"Uniform\">\n    <Time Value=\"%d\"/>\n", k, k);
        fprintf(f, "    <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"%d %d %d\"/>\n", (int)g->n[2] + 1, (int)g->n[1] + 1, (int)g->n[0] + 1);
        fprintf(f, "    <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n");
        fprintf(f, "     <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">0 0 0</DataItem>\n");
        fprintf(f, "     <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">%.10g %.10g %.10g</DataItem>\n", g->voxel_um[2], g->voxel_um[1], g->voxel_um[0]);
        fprintf(f, "    </Geometry>\n");
        fprintf(f, "    <Attribute Name=\"phase\" AttributeType=\"Scalar\" Center=\"Cell\">\n");
        fprintf(f, "     <DataItem Dimensions=\"%d %d %d\" NumberType=\"UChar\" Precision=\"1\" Format=\"HDF\">%s:/runs/%04d/phase</DataItem>\n", (int)g->n[2], (int)g->n[1], (int)g->n[0], base, k);
        fprintf(f, "    </Attribute>\n   </Grid>\n");
      }
      fprintf(f, "  </Grid>\n </Domain>\n</Xdmf>\n");
      ok = fclose(f) == 0 && rename(tmp, out->xdmf) == 0;
    }
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, g->comm));
  PetscCheck(ok, g->comm, PETSC_ERR_FILE_WRITE, "cannot write %s", out->xdmf);
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputClose(PgOutput *outp)
{
  PgOutput out = *outp;

  PetscFunctionBeginUser;
  if (!out) PetscFunctionReturn(0);
  if (out->file >= 0) PgCallH5(H5Fclose(out->file));
  if (PgOutputRunsDone(out) == out->nruns) {
    PetscCall(PgOutputLockVerify(out->lock, "renaming the finished file"));
    PetscCall(PgOutputRename(out->grid->comm, out->part, out->final));
    PetscCall(WriteXDMF(out));
  }
  PetscCall(PetscFree(out->done));
  PetscCall(PetscFree(out->rows));
  PetscCall(PetscFree(*outp));
  PetscFunctionReturn(0);
}

hid_t PgOutputFile(PgOutput out) { return out->file; }
