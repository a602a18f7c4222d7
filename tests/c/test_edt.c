/// \file
/// Driver for the distance transform tests and benchmark. Reads raw uint8 volumes, computes the
/// squared EDT of {v == value} (or its complement) of each and writes it as raw float32; with
/// -dilate R the bounded transform of a dilation by radius R (PgEdtDilate) instead.
///
///   test_edt -n NX,NY,NZ [-voxel DX,DY,DZ] -in A.u8[,B.u8...] [-out A.f32[,B.f32...]] [-value 1]
///            [-complement] [-periodic] [-dilate R] [-threads T] [-repeat R]
///
/// Prints `edt_time_s MIN MAX` (slowest rank; min and max over all volumes and the R repeats) and
/// `peak_bytes`.
///
///   test_edt -messages TRIALS
///
/// instead packs TRIALS random change patterns (message.h: runs, scattered entries, every density,
/// arrays of 0 to 5000 entries) and reads them back: prints `messages_encodings WHOLE BITMAP DELTA
/// PAIRS` (how often each was chosen) and fails on a message that reads back wrong or is longer than
/// the smallest encoding's formula.
#include <plurigauss/edt.h>
#include <plurigauss/message.h>

#include "driver.h"

/* The bytes of the smallest encoding of the flagged entries (message.h's four formulas). */
static int64_t SmallestMessage(int64_t n, const uint8_t *go)
{
  int64_t k = 0, gaps = 0;
  for (int64_t e = 0, prev = -1; e < n; e++)
    if (go[e]) {
      uint64_t u = (uint64_t)(e - prev - 1);
      k++;
      for (gaps++; u >= 0x80; u >>= 7) gaps++;
      prev = e;
    }
  return 4 + PetscMin(PetscMin(8 * k, (n + 7) / 8 + 4 * k), PetscMin(4 * n, 4 + gaps + 4 * k));
}

/* The message read with one byte missing and with one byte too many (in buffers of exactly that
 * size, so that the sanitizer build sees any read past them): the reader must report it (-1). */
static PetscErrorCode MessageWrongLength(const char *msg, int bytes, int64_t n, int32_t code)
{
  PetscFunctionBeginUser;
  for (int extra = -1; extra <= 1; extra += 2) {
    const int       len = bytes + extra;
    char           *m;
    PgMessageReader rd;
    int64_t         e;
    float           d;
    int             more;

    PetscCall(PetscMalloc1(PetscMax(len, 1), &m));
    memcpy(m, msg, (size_t)PetscMin(len, bytes));
    if (extra > 0) m[bytes] = 0;
    PgMessageBegin(&rd, m, len, n);
    while ((more = PgMessageNext(&rd, &e, &d)) > 0) {}
    PetscCheck(more < 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "message (code %d) of %d bytes read as %d bytes without an error", (int)code, bytes, len);
    PetscCall(PetscFree(m));
  }
  PetscFunctionReturn(0);
}

/* One random pattern: n entries, flagged with probability p, or in runs. */
static PetscErrorCode MessageTrial(PetscRandom rnd, int64_t n, int64_t count[4])
{
  float   *val;
  uint8_t *go, *seen;
  char    *msg;
  int      bytes, more;
  double   p, runs;

  PetscFunctionBeginUser;
  PetscCall(PetscRandomGetValueReal(rnd, &p));
  PetscCall(PetscRandomGetValueReal(rnd, &runs));
  p = p * p * p; /* mostly sparse */
  PetscCall(PetscMalloc3(n + 1, &val, n + 1, &go, n + 1, &seen));
  for (int64_t e = 0; e < n; e++) {
    double u;
    PetscCall(PetscRandomGetValueReal(rnd, &u));
    val[e]  = (float)(1000 * u);
    go[e]   = runs > 0.5 && e > 0 && u > 0.05 ? go[e - 1] : u < p;
    seen[e] = 0;
  }
  PetscCall(PgMessagePack(n, val, go, "test", &msg, &bytes));
  PetscCheck(bytes == SmallestMessage(n, go), PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "message of %d bytes, the smallest encoding takes %" PetscInt64_FMT, bytes,
             (PetscInt64)SmallestMessage(n, go));
  PgMessageReader rd;
  int64_t         e;
  float           d;
  int32_t         code;
  memcpy(&code, msg, 4);
  count[code == PG_MESSAGE_WHOLE ? 0 : code == PG_MESSAGE_BITMAP ? 1 : code == PG_MESSAGE_DELTA ? 2 : 3]++;
  PgMessageBegin(&rd, msg, bytes, n);
  while ((more = PgMessageNext(&rd, &e, &d)) > 0) {
    PetscCheck(!seen[e] && d == val[e] && (go[e] || code == PG_MESSAGE_WHOLE), PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "message (code %d) read back entry %" PetscInt64_FMT " wrong", (int)code, (PetscInt64)e);
    seen[e] = 1;
  }
  PetscCheck(more == 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "message (code %d) read back a corrupt entry", (int)code);
  for (e = 0; e < n; e++)
    PetscCheck(!go[e] || seen[e], PETSC_COMM_SELF, PETSC_ERR_PLIB, "message (code %d) lost entry %" PetscInt64_FMT,
               (int)code, (PetscInt64)e);
  PetscCall(MessageWrongLength(msg, bytes, n, code));
  PetscCall(PetscFree(msg));
  PetscCall(PetscFree3(val, go, seen));
  PetscFunctionReturn(0);
}

static PetscErrorCode MessageTrials(PetscInt trials)
{
  PetscRandom rnd;
  int64_t     count[4] = {0, 0, 0, 0};

  PetscFunctionBeginUser;
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 20261204));
  PetscCall(PetscRandomSeed(rnd));
  for (PetscInt t = 0; t < trials; t++) {
    double u;
    PetscCall(PetscRandomGetValueReal(rnd, &u));
    PetscCall(MessageTrial(rnd, (int64_t)(5000 * u * u), count));
  }
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "messages_encodings %" PetscInt64_FMT " %" PetscInt64_FMT " %" PetscInt64_FMT
                        " %" PetscInt64_FMT "\n",
                        (PetscInt64)count[0], (PetscInt64)count[1], (PetscInt64)count[2], (PetscInt64)count[3]));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PgGrid    grid = NULL;
  PgEdt     edt  = NULL;
  uint8_t  *v    = NULL;
  float    *d2   = NULL;
  char     *in[16], *out[16];
  PetscInt  value = 1, repeat = 1, nin = 16, nout = 16;
  PetscBool complement = PETSC_FALSE, periodic = PETSC_FALSE;
  double    tmin = HUGE_VAL, tmax = 0, peak, dilate = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PgErrorInitialize());
  {
    PetscInt  trials = 0;
    PetscBool set;
    PetscCall(PetscOptionsGetInt(NULL, NULL, "-messages", &trials, &set));
    if (set) {
      PetscCall(MessageTrials(trials));
      PetscCall(PetscFinalize());
      return 0;
    }
  }
  PetscCall(DriverGrid(PETSC_COMM_WORLD, &grid));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-in", in, &nin, NULL));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-out", out, &nout, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-value", &value, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-complement", &complement, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-periodic", &periodic, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-dilate", &dilate, NULL));
  PetscCheck(nin > 0, grid->comm, PETSC_ERR_USER_INPUT, "-in LABELS.u8 is required");
  PetscCheck(nout == 0 || nout == nin, grid->comm, PETSC_ERR_USER_INPUT,
             "-out needs one file per -in file (%" PetscInt_FMT " vs %" PetscInt_FMT ")", nout, nin);
  PetscCheck(value >= 0 && value <= 255, grid->comm, PETSC_ERR_USER_INPUT, "-value %" PetscInt_FMT " outside 0..255",
             value);
  PetscCall(PetscMalloc2(PgGridLocalVoxels(grid), &v, PgGridLocalVoxels(grid), &d2));
  PetscCall(PgEdtCreate(grid, periodic, &edt));
  for (PetscInt k = 0; k < nin; k++) {
    PetscCall(DriverRaw(grid, in[k], v, 1, PETSC_FALSE));
    for (PetscInt r = 0; r < repeat; r++) {
      double t;
      PetscCallMPI(MPI_Barrier(grid->comm));
      t = MPI_Wtime();
      if (dilate > 0) PetscCall(PgEdtDilate(edt, v, (uint8_t)value, dilate, d2));
      else PetscCall(PgEdtCompute(edt, v, (uint8_t)value, complement, d2));
      t = MPI_Wtime() - t;
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, grid->comm));
      tmin = PetscMin(tmin, t);
      tmax = PetscMax(tmax, t);
    }
    if (nout) PetscCall(DriverRaw(grid, out[k], d2, sizeof(float), PETSC_TRUE));
  }
  PetscCall(DriverPeakBytes(grid->comm, &peak));
  PetscCall(PetscPrintf(grid->comm, "edt_time_s %.6f %.6f\npeak_bytes %.0f\n", tmin, tmax, peak));
  PetscCall(PgEdtDestroy(&edt));
  PetscCall(PetscFree2(v, d2));
  for (PetscInt k = 0; k < nin; k++) PetscCall(PetscFree(in[k]));
  for (PetscInt k = 0; k < nout; k++) PetscCall(PetscFree(out[k]));
  PetscCall(PgGridDestroy(&grid));
  PetscCall(PetscFinalize());
  return 0;
}
