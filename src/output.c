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
#include <plurigauss/files.h>
#include <plurigauss/output.h>

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
  char           *done; /* done[k] = run k complete */
  PgRow          *rows; /* summary rows of complete runs */
  char            final[PETSC_MAX_PATH_LEN], part[PETSC_MAX_PATH_LEN + 8];
  char            csv[PETSC_MAX_PATH_LEN + 8], xdmf[PETSC_MAX_PATH_LEN + 8];
  int             fresh_run; /* the run whose group was (re)created in this session, or -1 */
  PgOutputLock    lock;      /* checked before each run's write and the final rename (may be NULL) */
};

/* ---------------------------------------------------------------------------------------------
 * The lock of an output (one writer per output file)
 * --------------------------------------------------------------------------------------------- */

struct PgOutputLock_private {
  MPI_Comm  comm; /* duplicated */
  int       rank;
  int       fd;                           /* rank 0: the open lock file, -1 elsewhere */
  PetscBool kernel;                       /* the kernel lock is held (else content only) */
  char      path[PETSC_MAX_PATH_LEN + 8]; /* <output>.lock */
  char      token[40];                    /* this run's random token */
  char      content[1024];                /* what this run wrote into the lock file */
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
  ssize_t n          = pread(fd, buf, len - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  close(fd);
}

static void HolderText(const LockHolder *h, char *buf, size_t len)
{
  if (h->token[0])
    snprintf(buf, len, "host %s, pid %lld%s%s, started %s", h->host[0] ? h->host : "?", h->pid,
             h->job[0] ? ", Slurm job " : "", h->job, h->start[0] ? h->start : "?");
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

/* The kernel lock on fd (an open file description lock; the classic one where the kernel lacks
 * it). 0: taken (l->kernel) or the file system has no working locks (the content decides); 1: held
 * by another run; 2: a system error. msg says why for 1 and 2. */
static int LockKernel(PgOutputLock l, int fd, char *msg, size_t len)
{
  struct flock fl;
  int          r;
  char         old[1024], who[512];
  LockHolder   h;

  PetscMemzero(&fl, sizeof fl);
  fl.l_type   = F_WRLCK;
  fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
  r = fcntl(fd, F_OFD_SETLK, &fl);
  if (r != 0 && errno == EINVAL) r = fcntl(fd, F_SETLK, &fl); /* a kernel without OFD locks */
#else
  r = fcntl(fd, F_SETLK, &fl);
#endif
  if (r == 0) {
    l->kernel = PETSC_TRUE;
    return 0;
  }
  if (errno == EAGAIN || errno == EACCES) {
    /* the holder writes its content just after taking the lock: give it up to a second to appear */
    for (int wait = 0; wait < 20; wait++) {
      ReadLockFile(l->path, old, sizeof old);
      ParseHolder(old, &h);
      if (h.token[0] && h.pid > 0) break;
      usleep(50000);
    }
    HolderText(&h, who, sizeof who);
    snprintf(
      msg, len,
      "output.file %.*s is being written by another run (%s; lock file %s): wait for it to end or choose another output.file",
      (int)(strlen(l->path) - 5), l->path, who, l->path);
    return 1;
  }
  if (errno != ENOLCK && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) {
    snprintf(msg, len, "cannot lock %s: %s", l->path, strerror(errno));
    return 2;
  }
  return 0; /* the file system has no working locks; the content decides */
}

/* This run's content of the lock file: host, pid, start time, a random token, the mode, the Slurm job. */
static void LockContent(PgOutputLock l, const char *host)
{
  unsigned char rnd[16];
  time_t        now = time(NULL);
  struct tm     tm;
  char          start[64], job[96] = "";
  const char *jid = getenv("SLURM_JOB_ID"), *ajid = getenv("SLURM_ARRAY_JOB_ID"), *atid = getenv("SLURM_ARRAY_TASK_ID");

  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    for (size_t i = 0; i < sizeof rnd; i++)
      rnd[i] = (unsigned char)((uint64_t)now * 2654435761u >> (i % 8) ^ (uint64_t)getpid() >> i);
  for (size_t i = 0; i < sizeof rnd; i++) snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
  if (atid && atid[0]) snprintf(job, sizeof job, "%s_%s", ajid && ajid[0] ? ajid : "?", atid);
  else if (jid && jid[0]) snprintf(job, sizeof job, "%s", jid);
  localtime_r(&now, &tm);
  strftime(start, sizeof start, "%Y-%m-%d %H:%M:%S %Z", &tm);
  snprintf(l->content, sizeof l->content,
           "plurigauss output lock\nhost=%s\npid=%lld\nstart=%s\nstart_ticks=%llu\ntoken=%s\nmode=%s\nslurm_job=%s\n",
           host, (long long)getpid(), start, ProcessStart(getpid(), NULL), l->token, l->kernel ? "kernel" : "content",
           job);
}

/* Content only: two runs that started together both wrote; the last one keeps the file. Whether it
 * is still this run's after a pause (msg names the other run if not). */
static PetscBool LockKept(PgOutputLock l, char *msg, size_t len)
{
  char       old[1024], who[512];
  LockHolder h;

  usleep(200000);
  ReadLockFile(l->path, old, sizeof old);
  ParseHolder(old, &h);
  if (!strcmp(h.token, l->token)) return PETSC_TRUE;
  HolderText(&h, who, sizeof who);
  snprintf(msg, len,
           "output.file %.*s is being written by another run (%s; lock file %s, which it took at the same moment)",
           (int)(strlen(l->path) - 5), l->path, who, l->path);
  return PETSC_FALSE;
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
    int         fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), k;
    if (fd < 0) {
      snprintf(msg, len, "cannot create the lock file %s: %s", l->path, strerror(errno));
      return;
    }
    l->kernel = PETSC_FALSE;
    if (!content_only && (k = LockKernel(l, fd, msg, len))) {
      close(fd);
      *verdict = k;
      return;
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
      snprintf(
        msg, len,
        "output.file %.*s is being written by another run (%s; lock file %s, checked by its content: %s%s): wait for it to end or choose another output.file",
        (int)(strlen(l->path) - 5), l->path, who, l->path,
        content_only ? "output.lock = content" : "this file system has no working locks",
        strcmp(h.host, host) ? "; if that job has ended, remove the lock file" : "");
      close(fd);
      *verdict = 1;
      return;
    }
    if (h.token[0]) {
      HolderText(&h, who, sizeof who);
      printf(
        "plurigauss: note: the previous run on this output (%s) ended without releasing %s (killed?); taking over\n",
        who, l->path);
      fflush(stdout);
    }
    LockContent(l, host);
    size_t n = strlen(l->content);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, l->content, n, 0) != (ssize_t)n || fsync(fd) != 0) {
      snprintf(msg, len, "cannot write the lock file %s: %s", l->path, strerror(errno));
      close(fd);
      return;
    }
    if (!l->kernel && !LockKept(l, msg, len)) {
      close(fd);
      *verdict = 1;
      return;
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
  int          verdict                            = 0;
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
  int  ok                                 = 1;
  char msg[2 * PETSC_MAX_PATH_LEN + 1024] = "";

  PetscFunctionBeginUser;
  if (!l) PetscFunctionReturn(0);
  if (l->rank == 0) {
    char        now[1024], who[512];
    LockHolder  h;
    struct stat a, b;
    ReadLockFile(l->path, now, sizeof now);
    ParseHolder(now, &h);
    ok = !strcmp(h.token, l->token) && fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_ino == b.st_ino &&
         a.st_dev == b.st_dev;
    if (!ok) {
      HolderText(&h, who, sizeof who);
      snprintf(
        msg, sizeof msg,
        "another run took over %s (%s%s) while this one was writing; stopping before %s (this run's complete runs are kept in the .part file)",
        l->path, now[0] ? "" : "the lock file was removed; ", now[0] ? who : "no holder", before);
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
    if (l->token[0] && !strcmp(h.token, l->token) && fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 &&
        a.st_ino == b.st_ino)
      (void)unlink(l->path);
    close(l->fd);
  }
  (void)MPI_Comm_free(&l->comm); /* local to this rank's handle; no communication */
  PetscCall(PetscFree(*lockp));
  PetscFunctionReturn(0);
}

void PgOutputSetLock(PgOutput out, PgOutputLock lock) { out->lock = lock; }

static void RunName(int k, char *buf, size_t len) { snprintf(buf, len, "/runs/%04d", k); }

static PetscErrorCode Flush(PgOutput out);

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
      if (!PgH5ReadStringAttr(f, "signature", &sig) && sig) *verdict = strcmp(sig, signature) == 0;
      free(sig);
      H5Fclose(f);
    }
  }
  PetscCallMPI(MPI_Bcast(verdict, 1, MPI_INT, 0, comm));
  PetscFunctionReturn(0);
}

/* Reads dataset d back: a volume of the grid's shape [nz][ny][nx] by every rank's slab (collective,
 * blocks of 16 planes), anything else whole on every rank. *ok = 0 if any rank could not read it
 * (a Fletcher32 mismatch, a damaged chunk or header). Collective. */
static PetscErrorCode VerifyDataset(PgOutput out, hid_t d, int *ok)
{
  const PgGrid_s *g      = out->grid;
  const hsize_t   B      = 16;
  hid_t           fspace = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, mspace = H5I_INVALID_HID,
        dxpl = H5I_INVALID_HID;
  hsize_t   dims[H5S_MAX_RANK];
  long long nb_mine = (long long)((g->nz_local + (ptrdiff_t)B - 1) / (ptrdiff_t)B), nb;
  int       mine = 1, nd = -1;
  size_t    esize = 0;
  void     *buf   = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(&nb_mine, &nb, 1, MPI_LONG_LONG, MPI_MAX, g->comm));
  if ((fspace = H5Dget_space(d)) < 0 || (nd = H5Sget_simple_extent_dims(fspace, dims, NULL)) < 0 ||
      (ftype = H5Dget_type(d)) < 0 || (mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND)) < 0 ||
      !(esize = H5Tget_size(mtype)))
    mine = 0;
  /* the decision below must be the same on every rank: the metadata reads are collective */
  const PetscBool volume =
    mine && nd == 3 && dims[0] == (hsize_t)g->n[2] && dims[1] == (hsize_t)g->n[1] && dims[2] == (hsize_t)g->n[0];
  if (volume) {
    const hsize_t mdims[3] = {B, dims[1], dims[2]}, mstart[3] = {0, 0, 0};
    buf  = malloc(PetscMax(B * dims[1] * dims[2] * esize, 1));
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (!buf || dxpl < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0 ||
        (mspace = H5Screate_simple(3, mdims, NULL)) < 0)
      mine = 0;
    for (long long b = 0; b < nb; b++) {
      const hsize_t z0 = (hsize_t)b * B, nz = z0 < (hsize_t)g->nz_local ? PetscMin(B, (hsize_t)g->nz_local - z0) : 0;
      hsize_t       start[3] = {(hsize_t)g->z_start + z0, 0, 0}, count[3] = {nz, dims[1], dims[2]};
      herr_t        st = 0;
      if (nz)
        st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                 H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, count, NULL) < 0
               ? -1
               : 0;
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
  PgH5Close(&dxpl);
  PgH5Close(&mspace);
  PgH5Close(&mtype);
  PgH5Close(&ftype);
  PgH5Close(&fspace);
  PetscCallMPI(MPI_Allreduce(&mine, ok, 1, MPI_INT, MPI_MIN, g->comm));
  PetscFunctionReturn(0);
}

static PetscErrorCode VerifyGroup(PgOutput out, hid_t grp, const char *path, char *bad, size_t len);

/* Reads back object `name` of grp (path: its full name); its name goes to bad if it fails. */
static PetscErrorCode VerifyObject(PgOutput out, hid_t grp, const char *name, const char *path, char *bad, size_t len)
{
  hid_t          o    = H5Oopen(grp, name, H5P_DEFAULT);
  int            ok   = 1;
  PetscErrorCode ierr = 0;

  PetscFunctionBeginUser;
  if (o < 0) ok = 0;
  else if (H5Iget_type(o) == H5I_GROUP) ierr = VerifyGroup(out, o, path, bad, len);
  else if (H5Iget_type(o) == H5I_DATASET) ierr = VerifyDataset(out, o, &ok);
  PgH5Close(&o);
  PetscCall(ierr);
  if (!ok) snprintf(bad, len, "%s", path);
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
    char name[256], sub[512];
    if (H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) {
      snprintf(bad, len, "%s (link %d)", path, (int)i);
      break;
    }
    snprintf(sub, sizeof sub, "%s/%s", path, name);
    PetscCall(VerifyObject(out, grp, name, sub, bad, len));
  }
  PetscFunctionReturn(0);
}

/* The row of the complete run in group g (name: its path) and the read-back of its objects. */
static PetscErrorCode LoadRunRow(PgOutput out, hid_t g, const char *name, PgRow *row, char *bad, size_t len)
{
  char *cols = NULL, *save = NULL;
  hid_t a = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  if (PgH5ReadStringAttr(g, "columns", &cols) || !cols) snprintf(bad, len, "%s: attribute columns", name);
  else {
    row->n = 0;
    for (char *t = strtok_r(cols, ",", &save); t; t = strtok_r(NULL, ",", &save))
      if (PgRowSet(row, t, NAN)) snprintf(bad, len, "%s: attribute columns", name);
    if ((a = H5Aopen(g, "row", H5P_DEFAULT)) < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, row->value) < 0)
      snprintf(bad, len, "%s: attribute row", name);
    PgH5Close(&a);
  }
  free(cols);
  if (!bad[0]) PetscCall(VerifyGroup(out, g, name, bad, len));
  PetscFunctionReturn(0);
}

/* Loads the row of run k if it is marked complete and every object of it reads back (checksums);
 * *state: 0 absent or incomplete, 1 complete, -1 complete but damaged (bad names what failed). */
static PetscErrorCode LoadRun(PgOutput out, int k, int *state, char *bad, size_t len)
{
  char           name[64];
  hid_t          g    = H5I_INVALID_HID;
  PetscErrorCode ierr = 0;

  PetscFunctionBeginUser;
  *state = 0;
  bad[0] = 0;
  RunName(k, name, sizeof name);
  if (!PgH5Exists(out->file, "/runs") || !PgH5Exists(out->file, name)) PetscFunctionReturn(0);
  if ((g = H5Gopen2(out->file, name, H5P_DEFAULT)) < 0) {
    *state = -1; /* the group exists but cannot be opened: treat as damaged, recompute */
    snprintf(bad, len, "%s", name);
    PetscFunctionReturn(0);
  }
  if (H5Aexists(g, "complete") > 0) {
    *state = 1;
    ierr   = LoadRunRow(out, g, name, &out->rows[k], bad, len);
    if (bad[0]) *state = -1;
  }
  PgH5Close(&g);
  PetscCall(ierr);
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
      PetscCall(PetscPrintf(
        out->grid->comm,
        "plurigauss: warning: run %d in %s is damaged (%s does not read back: checksum or structure); computing it again\n",
        k, out->part, bad));
    }
  }
  if (ndamaged)
    PetscCall(PetscPrintf(out->grid->comm, "plurigauss: warning: %d damaged run%s of %s will be computed again\n",
                          ndamaged, ndamaged > 1 ? "s" : "", out->part));
  PetscFunctionReturn(0);
}

/* The root attributes of a new file and the group /runs; flushed, so that the file is resumable
 * from the start. */
static PetscErrorCode WriteHeader(PgOutput out, const char *signature)
{
  const PgConfig *cfg = out->cfg;
  double          nr = out->grid->size, nt = out->grid->threads;
  hid_t           g = H5I_INVALID_HID;

  PetscFunctionBeginUser;
  PetscCall(PgH5WriteStringAttr(out->file, "deck", cfg->deck_text ? cfg->deck_text : ""));
  PetscCall(PgH5WriteStringAttr(out->file, "deck_path", cfg->deck_path));
  PetscCall(PgH5WriteStringAttr(out->file, "resolved", cfg->resolved));
  PetscCall(PgH5WriteStringAttr(out->file, "signature", signature));
  PetscCall(PgH5WriteStringAttr(out->file, "version", PG_VERSION));
  PetscCall(PgH5WriteStringAttr(out->file, "build", PG_BUILD));
  PetscCall(PgH5WriteDoubleAttr(out->file, "nranks", &nr, 1));
  PetscCall(PgH5WriteDoubleAttr(out->file, "threads", &nt, 1));
  PetscCall(PgH5GroupCreate(out->file, "/runs", &g));
  PetscCall(PgH5GroupClose(&g));
  PetscCall(Flush(out));
  PetscFunctionReturn(0);
}

/* What an existing output at the paths of out means: has_part / has_final, and *resume. An
 * existing file of another deck is an input error (unless output.overwrite); a .part that is no
 * HDF5 file of ours is set aside. Nothing is changed on disk before the checks. */
static PetscErrorCode DecideResume(PgOutput out, const char *signature, PetscBool *resume, PetscBool *has_final)
{
  const MPI_Comm comm = out->grid->comm;
  PetscBool      has_part, overwrite = out->cfg->output.overwrite;
  int            vpart = -1, vfinal = -1;

  PetscFunctionBeginUser;
  PetscCall(PgFileExists(comm, out->part, &has_part));
  PetscCall(PgFileExists(comm, out->final, has_final));
  if (has_part) PetscCall(ProbeExisting(comm, out->part, signature, &vpart));
  if (*has_final) PetscCall(ProbeExisting(comm, out->final, signature, &vfinal));
  if (!overwrite) {
    PetscCheck(!*has_final || vfinal == 1, comm, PETSC_ERR_USER_INPUT,
               "output.file %s exists and %s; choose another output.file or set output.overwrite", out->final,
               vfinal < 0 ? "is not a plurigauss HDF5 file" : "holds runs of a different deck");
    PetscCheck(!has_part || vpart != 0, comm, PETSC_ERR_USER_INPUT,
               "%s exists and holds an interrupted run of a different deck; remove it or set output.overwrite",
               out->part);
  }
  if (has_part && vpart < 0) {
    /* a job killed before the file's header reached the disk leaves a .part that is no HDF5 file
     * of ours: it holds no finished run. Keep it for inspection under another name, start afresh. */
    char aside[PETSC_MAX_PATH_LEN + 32];
    snprintf(aside, sizeof aside, "%s.unreadable", out->part);
    PetscCall(PgFileRename(comm, out->part, aside));
    PetscCall(PetscPrintf(
      comm,
      "plurigauss: warning: %s was not readable (a job killed while creating it?); moved to %s, starting afresh\n",
      out->part, aside));
    has_part = PETSC_FALSE;
  }
  *resume = PETSC_FALSE;
  if (!overwrite && has_part) *resume = PETSC_TRUE; /* an interrupted sweep */
  else if (!overwrite && *has_final) {              /* a finished (or extended) sweep */
    PetscCall(PgFileRename(comm, out->final, out->part));
    *resume = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputOpen(PgGrid grid, const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp, int nruns,
                            PgOutput *outp)
{
  PgOutput  out;
  char      signature[8192];
  PetscBool resume, has_final;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&out));
  out->grid      = grid;
  out->cfg       = cfg;
  out->nruns     = nruns;
  out->file      = H5I_INVALID_HID;
  out->fresh_run = -1;
  PetscCall(PetscCalloc1(nruns, &out->done));
  PetscCall(PetscCalloc1(nruns, &out->rows));
  snprintf(out->final, sizeof out->final, "%s", cfg->output.file);
  snprintf(out->part, sizeof out->part, "%s.part", cfg->output.file);
  PgFileSideCar(cfg->output.file, ".csv", out->csv, sizeof out->csv);
  PgFileSideCar(cfg->output.file, ".xdmf", out->xdmf, sizeof out->xdmf);
  PetscCall(PgConfigSignature(cfg, dom ? dom : &cfg->domain, mp ? mp : &cfg->model, signature, sizeof signature));
  PetscCall(DecideResume(out, signature, &resume, &has_final));
  PetscCall(PgH5FileOpen(grid->comm, out->part, resume ? PETSC_FALSE : PETSC_TRUE, &out->file));
  if (resume) PetscCall(LoadDoneRuns(out));
  else PetscCall(WriteHeader(out, signature));
  if (cfg->output.overwrite && has_final && grid->rank == 0) unlink(out->final);
  *outp = out;
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputWriteModel(PgOutput out, const PgRow *model, const char *origin)
{
  hid_t      g  = H5I_INVALID_HID;
  PgH5Status st = PG_H5_STATUS_INIT;

  PetscFunctionBeginUser;
  PetscCall(PgH5GroupOpen(out->file, "/model", &g));
  for (int i = 0; i < model->n; i++) PgH5Try(&st, PgH5AttrDouble(g, model->name[i], &model->value[i], 1));
  if (origin) PgH5Try(&st, PgH5AttrString(g, "origin", origin));
  PgH5Close(&g);
  PetscCall(PgH5Check(&st));
  PetscFunctionReturn(0);
}

PetscBool PgOutputHasRun(PgOutput out, int k)
{
  return (k >= 0 && k < out->nruns && out->done[k]) ? PETSC_TRUE : PETSC_FALSE;
}

const PgRow *PgOutputGetRow(PgOutput out, int k) { return PgOutputHasRun(out, k) ? &out->rows[k] : NULL; }

int PgOutputRunsDone(PgOutput out)
{
  int n = 0;
  for (int k = 0; k < out->nruns; k++) n += out->done[k] != 0;
  return n;
}

static PetscErrorCode WriteVolume(PgOutput out, hid_t group, const char *name, hid_t filetype, hid_t memtype,
                                  const void *data, hsize_t row_len)
{
  PetscFunctionBeginUser;
  PetscCall(PgH5WriteSlabs(out->grid, group, name, filetype, memtype, data, row_len, out->cfg->output.compress_level,
                           out->part));
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
    PetscCall(PgH5GroupCreate(out->file, name, group));
    out->fresh_run = k;
  } else PetscCall(PgH5GroupOpen(out->file, name, group));
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputRunGroup(PgOutput out, int k, hid_t *descriptors)
{
  hid_t          g = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(OpenRunGroup(out, k, &g));
  ierr = PgH5GroupOpen(g, "descriptors", descriptors);
  PgH5Close(&g);
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

typedef struct {
  const struct PgOutput_private *out;
  int                            first; /* the first complete run: its columns head the table */
} CSVContext;

/* The CSV of all complete runs, columns of the first complete run (missing values NaN). */
static void CSVText(FILE *f, const void *ctx)
{
  const struct PgOutput_private *out  = ((const CSVContext *)ctx)->out;
  const PgRow                   *head = &out->rows[((const CSVContext *)ctx)->first];

  fprintf(f, "run");
  for (int c = 0; c < head->n; c++) fprintf(f, ",%s", head->name[c]);
  fprintf(f, "\n");
  for (int k = 0; k < out->nruns; k++) {
    if (!out->done[k]) continue;
    fprintf(f, "%d", k);
    for (int c = 0; c < head->n; c++) {
      double v = NAN;
      (void)PgRowGet(&out->rows[k], head->name[c], &v);
      if (!strcmp(head->name[c], "seed") || !strcmp(head->name[c], "realization")) fprintf(f, ",%.0f", v);
      else fprintf(f, ",%.10g", v);
    }
    fprintf(f, "\n");
  }
}

/* CSV of all complete runs (rank 0, written whole under a temporary name and renamed). */
static PetscErrorCode WriteCSV(PgOutput out)
{
  CSVContext ctx = {out, -1};

  PetscFunctionBeginUser;
  for (int k = 0; k < out->nruns && ctx.first < 0; k++)
    if (out->done[k]) ctx.first = k;
  if (ctx.first >= 0) PetscCall(PgFileWriteText(out->grid->comm, out->csv, CSVText, &ctx));
  PetscFunctionReturn(0);
}

static PetscErrorCode Flush(PgOutput out)
{
  PetscFunctionBeginUser;
  PetscCheck(H5Fflush(out->file, H5F_SCOPE_GLOBAL) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE,
             "flushing %s failed (disk full?)", out->part);
  PetscFunctionReturn(0);
}

/* Run k's attributes: every column (seed and realization as integers), `columns` and `row`. */
static PetscErrorCode WriteRunAttributes(hid_t g, const PgRow *row)
{
  char   cols[PG_ROW_MAX * 33] = "";
  size_t o                     = 0;

  PetscFunctionBeginUser;
  for (int i = 0; i < row->n; i++) {
    double v = row->value[i];
    if (!strcmp(row->name[i], "seed") || !strcmp(row->name[i], "realization"))
      PetscCall(PgH5WriteInt64Attr(g, row->name[i], (int64_t)v));
    else PetscCall(PgH5WriteDoubleAttr(g, row->name[i], &v, 1));
    o += (size_t)snprintf(cols + o, sizeof cols - o, "%s%s", i ? "," : "", row->name[i]);
  }
  PetscCall(PgH5WriteStringAttr(g, "columns", cols));
  PetscCall(PgH5WriteDoubleAttr(g, "row", row->value, (hsize_t)row->n));
  PetscFunctionReturn(0);
}

/* Everything of run k in its group g: the descriptors group (if no stage made it), attributes,
 * the label volume and the fields. */
static PetscErrorCode WriteRunGroup(PgOutput out, hid_t g, const PgRow *row, PgLabels labels, PgField field)
{
  hid_t       dg = H5I_INVALID_HID;
  const void *x, *y;
  ptrdiff_t   stride;
  PgPrecision prec;

  PetscFunctionBeginUser;
  PetscCall(PgH5GroupOpen(g, "descriptors", &dg));
  PetscCall(PgH5GroupClose(&dg));
  PetscCall(WriteRunAttributes(g, row));
  if (labels)
    PetscCall(WriteVolume(out, g, "phase", H5T_STD_U8LE, H5T_NATIVE_UINT8, labels->v, (hsize_t)out->grid->n[0]));
  if (field) {
    PetscCall(PgFieldGetArrays(field, &x, &y, &stride, &prec));
    hid_t ft = prec == PG_PRECISION_DOUBLE ? H5T_IEEE_F64LE : H5T_IEEE_F32LE,
          mt = prec == PG_PRECISION_DOUBLE ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
    PetscCall(WriteVolume(out, g, "X", ft, mt, x, (hsize_t)stride));
    PetscCall(WriteVolume(out, g, "Y", ft, mt, y, (hsize_t)stride));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgOutputWriteRun(PgOutput out, int k, const PgRow *row, PgLabels labels, PgField field)
{
  hid_t          g = H5I_INVALID_HID;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PgOutputLockVerify(out->lock, "writing a run"));
  PetscCall(OpenRunGroup(out, k, &g));
  ierr = WriteRunGroup(out, g, row, labels, field);
  /* complete only once its data are on disk */
  if (!ierr) ierr = Flush(out);
  if (!ierr) ierr = PgH5WriteInt64Attr(g, "complete", 1);
  PgH5Close(&g);
  PetscCall(ierr);
  PetscCall(Flush(out));
  out->done[k] = 1;
  out->rows[k] = *row;
  PetscCall(WriteCSV(out));
  PetscFunctionReturn(0);
}

/* XDMF side-car: one uniform grid per run with a phase volume, as a temporal collection so that
 * ParaView steps through the runs. Cell-centred data on a (n+1)^3 co-rectilinear mesh; XDMF lists
 * dimensions, origin and spacing slowest axis first (z, y, x). */
static void XDMFText(FILE *f, const void *ctx)
{
  const struct PgOutput_private *out  = ctx;
  const PgGrid_s                *g    = out->grid;
  const char                    *base = strrchr(out->final, '/');

  base = base ? base + 1 : out->final;
  fprintf(f, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"2.0\">\n <Domain>\n");
  fprintf(f, "  <Grid Name=\"runs\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
  for (int k = 0; k < out->nruns; k++) {
    if (!out->done[k] || !out->cfg->output.write_phase) continue;
    fprintf(f, "   <Grid Name=\"run_%04d\" GridType=\"Uniform\">\n    <Time Value=\"%d\"/>\n", k, k);
    fprintf(f, "    <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"%d %d %d\"/>\n", (int)g->n[2] + 1,
            (int)g->n[1] + 1, (int)g->n[0] + 1);
    fprintf(f, "    <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n");
    fprintf(f,
            "     <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">0 0 0</DataItem>\n");
    fprintf(
      f,
      "     <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">%.10g %.10g %.10g</DataItem>\n",
      g->voxel_um[2], g->voxel_um[1], g->voxel_um[0]);
    fprintf(f, "    </Geometry>\n");
    fprintf(f, "    <Attribute Name=\"phase\" AttributeType=\"Scalar\" Center=\"Cell\">\n");
    fprintf(
      f,
      "     <DataItem Dimensions=\"%d %d %d\" NumberType=\"UChar\" Precision=\"1\" Format=\"HDF\">%s:/runs/%04d/phase</DataItem>\n",
      (int)g->n[2], (int)g->n[1], (int)g->n[0], base, k);
    fprintf(f, "    </Attribute>\n   </Grid>\n");
  }
  fprintf(f, "  </Grid>\n </Domain>\n</Xdmf>\n");
}

PetscErrorCode PgOutputClose(PgOutput *outp)
{
  PgOutput out = *outp;

  PetscFunctionBeginUser;
  if (!out) PetscFunctionReturn(0);
  if (out->file >= 0) PetscCall(PgH5FileClose(&out->file, out->part));
  if (PgOutputRunsDone(out) == out->nruns) {
    PetscCall(PgOutputLockVerify(out->lock, "renaming the finished file"));
    PetscCall(PgFileRename(out->grid->comm, out->part, out->final));
    PetscCall(PgFileWriteText(out->grid->comm, out->xdmf, XDMFText, out));
  }
  PetscCall(PetscFree(out->done));
  PetscCall(PetscFree(out->rows));
  PetscCall(PetscFree(*outp));
  PetscFunctionReturn(0);
}

hid_t PgOutputFile(PgOutput out) { return out->file; }

/* --------------------------------------------------------------------------------------------
 * Deck keys: output.* (config.c runs the table, deck.h)
 * -------------------------------------------------------------------------------------------- */

static const char *const precision_names[] = {"single", "double", NULL};
static const char *const lock_names[]      = {"auto", "content", NULL};

const PgKey PgOutputKeys[] = {
  {"output_file", PG_KEY_STRING, 1, 1, "plurigauss.h5", "path", 0, 0, 0, 0, NULL,
   "HDF5 output; .xdmf and .csv are written beside it"},
  {"output_write_phase", PG_KEY_BOOL, 1, 1, "true", "-", 0, 0, 0, 0, NULL,
   "write the label volume /runs/<k>/phase (uint8)"},
  {"output_write_fields", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL, "also write the Gaussian fields X and Y"},
  {"output_precision", PG_KEY_ENUM, 1, 1, "single", "-", 0, 0, 0, 0, precision_names,
   "floating point of field synthesis and written fields"},
  {"output_compress", PG_KEY_INT, 1, 1, "1", "level", 0, 9, 0, 0, NULL, "deflate level of written volumes (0 = none)"},
  {"output_overwrite", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "replace an existing output instead of resuming it"},
  {"output_tiff_labels", PG_KEY_BOOL, 1, 1, "false", "-", 0, 0, 0, 0, NULL,
   "also write each run's labels as a multi-page TIFF <stem>_phase_<k>.tif (Fiji, tifffile)"},
  {"output_lock", PG_KEY_ENUM, 1, 1, "auto", "-", 0, 0, 0, 0, lock_names,
   "one writer per output: auto = kernel lock on <output.file>.lock, its content where the file system has no locks; content = the content only (locks local to each node)"},
};
const int PgOutputNKeys = (int)(sizeof PgOutputKeys / sizeof PgOutputKeys[0]);

#define V(name) PgDeckGet(deck, name)
PetscErrorCode PgOutputLoadOptions(PgDeck deck, PgOutputOptions *o)
{
  PetscFunctionBeginUser;
  snprintf(o->file, sizeof o->file, "%s", V("output_file")->s);
  o->write_phase    = V("output_write_phase")->v[0] != 0;
  o->write_fields   = V("output_write_fields")->v[0] != 0;
  o->overwrite      = V("output_overwrite")->v[0] != 0;
  o->tiff_labels    = V("output_tiff_labels")->v[0] != 0;
  o->lock_content   = V("output_lock")->v[0] != 0;
  o->precision      = (PgPrecision)(int)V("output_precision")->v[0];
  o->compress_level = (PetscInt)V("output_compress")->v[0];
  PetscFunctionReturn(0);
}
#undef V
