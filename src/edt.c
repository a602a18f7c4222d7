/// \file
/// Exact squared Euclidean distance transform, separable, on the z-slabs without a transpose.
///
/// Algorithm. The squared distance separates by axis (Meijster, Roerdink & Hesselink 2000;
/// Felzenszwalb & Huttenlocher 2012): first a binary pass along one axis gives
///   g(x,y,z) = dz² min { (z - z')² : (x,y,z') not in S }           (1D distance to the complement),
/// then each further axis takes the lower envelope of parabolas
///   h(x,y,z) = min_y' g(x,y',z) + dy² (y - y')²,   d2(x,y,z) = min_x' h(x',y,z) + dx² (x - x')²
/// (FH 2012, Algorithm 1, eq. 2), exact for any positive axis weights (anisotropic voxels).
///
/// Why the z pass comes first and needs no transpose. Only the envelope passes need a whole line
/// in one place; the binary pass only needs, per (x,y) column, the nearest complement voxel below
/// and above this rank's slab. That is found by a chain along the ranks (ChainResolve): each rank
/// passes its neighbours, per column, the nearest complement plane at or beyond its own slab as soon
/// as it knows it (its own highest / lowest complement plane, or what its neighbour told it), so a
/// column is known after as many rounds as slabs without complement lie between; for the phases of
/// a model one or two, for a column of one phase through the whole domain the length of the chain.
/// With z the binary axis, the envelope passes along x and y are local to each plane. A transpose
/// that makes z local would move 2 x 4 bytes per voxel (there and back,
/// float); a prefix scan over the ranks receives a plane per step, log2 P planes per rank.
///
/// Boundaries: non-periodic lines are the samples 0..n-1 only (the outside belongs to neither S nor
/// its complement). Periodic lines are unrolled to positions -h..n+h-1, h = n/2 + 1, which holds the
/// shortest image of every sample; along z the chain closes into a ring whose values move by one
/// period (nz) across the seam.
///
/// Communication per call and rank: each column's value crosses each slab face once per direction,
/// so a rank receives at most one plane of int32 per neighbour (the first round, sent dense) and
/// then only the newly known columns (pairs, or a bitmap of the columns and their values, whichever
/// is smaller), plus one allreduce of a count per round: flat in the number of ranks.
/// The bounded dilations need complements within r only: their chain stops after r planes.
/// Nothing volume-sized.
/// Cost: the z pass reads the labels three times and writes the output twice, in branch-free sweeps
/// that the compiler vectorises (SweepUp, SweepDown); the x and y passes visit each plane once while
/// it sits in cache, O(n) per line (a periodic line is unrolled to about 2n samples by copies). Threads (grid->threads, OpenMP):
/// the z pass splits the columns, the envelopes the planes. Memory: the float output (4 bytes per
/// voxel), 6 planes of int32, and per thread 4 lines of scratch.
/// Precision: the arithmetic is double, each pass stores float: with unit voxels the result is the
/// exact integer (below 2^24), otherwise it carries a relative rounding of a few 1e-7. Callers that
/// threshold at r² (the opening) should allow for that.
#include <plurigauss/edt.h>
#include <plurigauss/message.h>

#include <math.h>
#include <omp.h>

#define NO_COMP_BELOW (-(1 << 30)) /* no complement plane below: identity of MPI_MAX */
#define NO_COMP_ABOVE (1 << 30)    /* no complement plane above: identity of MPI_MIN */

struct PgEdt_private {
  PgGrid    grid;
  PetscBool periodic;
  int32_t  *lo, *hi;       /* per column: lowest / highest complement plane in the slab */
  int32_t  *below, *above; /* per column: nearest complement plane below / above the slab */
  uint8_t  *tmp_sent;      /* per direction and column: value passed on along the chain */
  int32_t  *tmp_val;       /* per column: the value a chain message carries (ChainSend) */
  uint8_t  *tmp_go;        /* per column: whether it travels */
  int       nthreads;
  int       line;      /* scratch elements per thread and array */
  double   *f, *a, *z; /* per thread: line values, envelope heights, boundaries */
  int      *v;         /* per thread: parabola apexes */
  float    *tmp;       /* per thread: a plane of scratch for the bounded dilation */
};

PetscErrorCode PgEdtCreate(PgGrid grid, PetscBool periodic, PgEdt *edt)
{
  PgEdt        e;
  const size_t plane = PgGridPlane(grid);
  PetscInt     nmax  = PetscMax(grid->n[0], grid->n[1]);

  PetscFunctionBeginUser;
  for (int d = 0; d < 3; d++) {
    PetscCheck(grid->n[d] >= 1 && grid->n[d] < (1 << 24), grid->comm, PETSC_ERR_SUP,
               "EDT: %" PetscInt_FMT " voxels along axis %d, supported 1 .. 2^24-1", grid->n[d], d);
    PetscCheck(grid->voxel_um[d] > 0, grid->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "EDT: voxel size %g um along axis %d must be positive", grid->voxel_um[d], d);
  }
  PetscCheck(plane <= (size_t)INT_MAX, grid->comm, PETSC_ERR_SUP,
             "EDT: an x-y plane of %zu voxels exceeds one MPI message", plane);
  PetscCall(PetscNew(&e));
  e->grid     = grid;
  e->periodic = periodic;
  PetscCall(PetscMalloc4(plane, &e->lo, plane, &e->hi, plane, &e->below, plane, &e->above));
  PetscCall(PetscMalloc3(2 * plane, &e->tmp_sent, plane, &e->tmp_val, plane, &e->tmp_go));
  e->nthreads = PetscMax(grid->threads, 1);
  e->line     = (int)(periodic ? nmax + 2 * (nmax / 2 + 1) : nmax);
  PetscCall(PetscMalloc4((size_t)e->nthreads * e->line, &e->f, (size_t)e->nthreads * e->line, &e->a,
                         (size_t)e->nthreads * (e->line + 1), &e->z, (size_t)e->nthreads * e->line, &e->v));
  *edt = e;
  PetscFunctionReturn(0);
}

PetscErrorCode PgEdtDestroy(PgEdt *edt)
{
  PetscFunctionBeginUser;
  if (!*edt) PetscFunctionReturn(0);
  PetscCall(PetscFree4((*edt)->lo, (*edt)->hi, (*edt)->below, (*edt)->above));
  PetscCall(PetscFree3((*edt)->tmp_sent, (*edt)->tmp_val, (*edt)->tmp_go));
  PetscCall(PetscFree4((*edt)->f, (*edt)->a, (*edt)->z, (*edt)->v));
  PetscCall(PetscFree((*edt)->tmp));
  PetscCall(PetscFree(*edt));
  PetscFunctionReturn(0);
}

/* Lower envelope of the parabolas f[j] + w (q - j)^2 over the m samples j = 0..m-1 (FH 2012,
 * Algorithm 1; +inf samples carry no parabola), evaluated at q = h..h+n-1 and written to
 * out[(q - h) * stride]. v holds the apexes of the envelope, a their f + w j^2, z the m + 1
 * boundaries. The pop test s <= z[k] is done without the division (j - v[k] > 0). */
static void Envelope(int m, int h, int n, const double *f, double w, int *v, double *a, double *z, float *out,
                     ptrdiff_t stride)
{
  const double inv2w = 0.5 / w;
  int          k     = -1;

  for (int j = 0; j < m; j++) {
    if (!(f[j] < INFINITY)) continue;
    const double fj = f[j] + w * (double)j * j;
    if (k < 0) {
      k    = 0;
      v[0] = j;
      a[0] = fj;
      z[0] = -INFINITY;
      z[1] = INFINITY;
      continue;
    }
    /* z[0] = -inf: the first parabola is never removed */
    while ((fj - a[k]) * inv2w <= z[k] * (double)(j - v[k])) k--;
    const double s = (fj - a[k]) * inv2w / (double)(j - v[k]);
    k++;
    v[k]     = j;
    a[k]     = fj;
    z[k]     = s;
    z[k + 1] = INFINITY;
  }
  if (k < 0) {
    for (int q = 0; q < n; q++) out[q * stride] = INFINITY;
    return;
  }
  for (int q = 0, i = 0; q < n; q++) {
    const int qq = q + h;
    while (z[i + 1] < qq) i++;
    const double d  = (double)(qq - v[i]);
    out[q * stride] = (float)(f[v[i]] + w * d * d);
  }
}

/* Samples of one line of n values with the given stride into f (periodic: unrolled to -h..n+h-1).
 * Returns the number m of samples and sets *h. */
static int Gather(const float *in, int n, ptrdiff_t stride, PetscBool periodic, double *f, int *h)
{
  if (!periodic) {
    for (int j = 0; j < n; j++) f[j] = in[j * stride];
    *h = 0;
    return n;
  }
  const int hh = n / 2 + 1, m = n + 2 * hh; /* hh <= n: each wing is a copy of part of the line */
  for (int j = 0; j < n; j++) f[hh + j] = in[j * stride];
  for (int j = 0; j < hh; j++) {
    f[j]          = f[j + n];  /* sample j - hh + n */
    f[hh + n + j] = f[hh + j]; /* sample j */
  }
  *h = hh;
  return m;
}

#define EDT_UNKNOWN INT32_MIN
#define TAG_CHAIN   61

/* The chain's state: per direction d (0: values from below, 1: from above) the neighbour they come
 * from, the values known (res[d]), and which columns were passed on (sent[d]). */
typedef struct {
  int            nb[2];
  int32_t       *res[2];
  uint8_t       *sent[2];
  int32_t       *val; /* a message's values and flags (ChainSend) */
  uint8_t       *go;
  int32_t        none[2];
  const int32_t *own[2]; /* this slab's highest (d = 0) / lowest (d = 1) complement plane */
} Chain;

/* What this rank passes on in direction d for column c: its own complement plane, or what it was
 * told (EDT_UNKNOWN while it knows nothing). */
static inline int32_t ChainValue(const Chain *ch, int d, ptrdiff_t c)
{
  return ch->own[d][c] != ch->none[d] ? ch->own[d][c] : ch->res[d][c];
}

static void ChainInit(PgEdt e, Chain *ch, int32_t *res[2])
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g), nz = g->n[2];
  const int       Q = g->nowners, me = g->rank;

  ch->none[0] = NO_COMP_BELOW;
  ch->none[1] = NO_COMP_ABOVE;
  ch->own[0]  = e->hi;
  ch->own[1]  = e->lo;
  ch->val     = e->tmp_val;
  ch->go      = e->tmp_go;
  ch->nb[0] = ch->nb[1] = -1;
  for (int d = 0; d < 2; d++) {
    ch->res[d]  = res[d];
    ch->sent[d] = e->tmp_sent + d * plane;
    for (ptrdiff_t c = 0; c < plane; c++) {
      res[d][c]      = EDT_UNKNOWN;
      ch->sent[d][c] = 0;
    }
  }
  if (me >= Q) return;
  if (me > 0) ch->nb[0] = me - 1;
  else if (e->periodic && Q > 1) ch->nb[0] = Q - 1;
  if (me + 1 < Q) ch->nb[1] = me + 1;
  else if (e->periodic && Q > 1) ch->nb[1] = 0;
  if (e->periodic && Q == 1) /* the ring is this slab: its own complements one period away */
    for (ptrdiff_t c = 0; c < plane; c++) {
      res[0][c] = e->hi[c] == NO_COMP_BELOW ? NO_COMP_BELOW : (int32_t)(e->hi[c] - nz);
      res[1][c] = e->lo[c] == NO_COMP_ABOVE ? NO_COMP_ABOVE : (int32_t)(e->lo[c] + nz);
    }
  else
    for (int d = 0; d < 2; d++)
      if (ch->nb[d] < 0)
        for (ptrdiff_t c = 0; c < plane; c++) res[d][c] = ch->none[d];
}

/* Sends the newly known values of direction d to the neighbour on the other side (message.h). */
static PetscErrorCode ChainSend(MPI_Comm comm, ptrdiff_t plane, Chain *ch, int d, char **msg, MPI_Request *req)
{
  int bytes;

  PetscFunctionBeginUser;
  for (ptrdiff_t c = 0; c < plane; c++) {
    ch->val[c] = ChainValue(ch, d, c);
    ch->go[c]  = !ch->sent[d][c] && ch->val[c] != EDT_UNKNOWN;
    if (ch->go[c]) ch->sent[d][c] = 1;
  }
  PetscCall(PgMessagePack(plane, ch->val, ch->go, "EDT: a chain message", msg, &bytes));
  PetscCallMPI(MPI_Isend(*msg, bytes, MPI_BYTE, ch->nb[1 - d], TAG_CHAIN + d, comm, req));
  PetscFunctionReturn(0);
}

/* Receives direction d's values from its neighbour; a value that crossed the seam of the ring
 * moves by one period; with reach >= 0 a complement farther than reach planes counts as none. */
static PetscErrorCode ChainReceive(PgEdt e, Chain *ch, int d, ptrdiff_t reach)
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g), nz = g->n[2], z0 = g->z_start, z1 = g->z_start + g->nz_local;
  const int32_t   shift = (int32_t)(d == 0 ? (g->rank == 0 ? -nz : 0) : (g->rank == g->nowners - 1 ? nz : 0));
  MPI_Status      st;
  int             bytes, more;
  char           *m;
  PgMessageReader rd;
  int64_t         k;
  int32_t         val;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Probe(ch->nb[d], TAG_CHAIN + d, g->comm, &st));
  PetscCallMPI(MPI_Get_count(&st, MPI_BYTE, &bytes));
  PetscCall(PetscMalloc1(bytes, &m));
  PetscCallMPI(MPI_Recv(m, bytes, MPI_BYTE, ch->nb[d], TAG_CHAIN + d, g->comm, MPI_STATUS_IGNORE));
  PgMessageBegin(&rd, m, bytes, plane);
  while ((more = PgMessageNext(&rd, &k, &val)) > 0) {
    const ptrdiff_t c = (ptrdiff_t)k;
    if (val == EDT_UNKNOWN || ch->res[d][c] != EDT_UNKNOWN) continue;
    if (val != ch->none[d]) {
      val += shift;
      if (reach >= 0 && (d == 0 ? z0 - val : val - (z1 - 1)) > reach) val = ch->none[d];
    }
    ch->res[d][c] = val;
  }
  PetscCheck(more == 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "EDT: a corrupt chain message (a column outside the plane, or its length)");
  PetscCall(PetscFree(m));
  PetscFunctionReturn(0);
}

/* The nearest complement plane of every column below (res[0]) and above (res[1]) this rank's slab,
 * from every slab's highest (hi) and lowest (lo) complement plane, by a chain along the ranks
 * instead of a scan over all of them: each round, every rank passes to its upper neighbour the
 * "nearest complement at or below my top" of each column that it newly knows (its own hi, or what
 * it learnt from below) and to its lower neighbour the same upward; a column is known after as many
 * rounds as slabs without a complement lie between it and its nearest complement, which for the
 * phases of a model is one or two. With periodic the chain closes into a ring (values shifted by
 * nz across the seam). With reach >= 0, complements farther than reach planes are not needed
 * (bounded dilations): they count as none, and the chain stops once it has covered reach planes.
 * Each value crosses each slab face once: a rank receives at most one plane of int32 per direction
 * (the first round, dense), then only the new columns (ChainSend); one allreduce of a count per round. */
static PetscErrorCode ChainResolve(PgEdt e, ptrdiff_t reach, int32_t *res[2])
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g);
  const int       Q = g->nowners, me = g->rank, owner = me < Q;
  Chain           ch;
  ptrdiff_t       covered[2] = {0, 0};

  PetscFunctionBeginUser;
  ChainInit(e, &ch, res);
  for (int round = 1;; round++) {
    char       *msg[2] = {NULL, NULL};
    MPI_Request req[2];
    int         nreq    = 0;
    int64_t     pending = 0;
    for (int d = 0; d < 2 && owner; d++) /* direction 0 (values from below) goes to the upper neighbour */
      if (ch.nb[1 - d] >= 0) PetscCall(ChainSend(g->comm, plane, &ch, d, &msg[d], &req[nreq++]));
    for (int d = 0; d < 2 && owner; d++)
      if (ch.nb[d] >= 0) PetscCall(ChainReceive(e, &ch, d, reach));
    PetscCallMPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
    PetscCall(PetscFree(msg[0]));
    PetscCall(PetscFree(msg[1]));
    for (int d = 0; d < 2 && owner; d++) {
      /* bounded: once the chain has covered reach planes, what is still unknown is out of reach */
      if (ch.nb[d] >= 0 && reach >= 0) {
        const int q = d == 0 ? ((me - round) % Q + Q) % Q : (me + round) % Q;
        covered[d] += g->slab_start[q + 1] - g->slab_start[q];
        if (covered[d] >= reach || round >= Q)
          for (ptrdiff_t c = 0; c < plane; c++)
            if (res[d][c] == EDT_UNKNOWN) res[d][c] = ch.none[d];
      }
      if (ch.nb[1 - d] >= 0)
        for (ptrdiff_t c = 0; c < plane; c++) pending += !ch.sent[d][c] && ChainValue(&ch, d, c) != EDT_UNKNOWN;
    }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &pending, 1, MPI_INT64_T, MPI_SUM, g->comm));
    if (!pending) break;
  }
  /* nothing more can arrive: what is unknown has no complement in its column (within reach) */
  for (int d = 0; d < 2 && owner; d++)
    for (ptrdiff_t c = 0; c < plane; c++)
      if (res[d][c] == EDT_UNKNOWN) res[d][c] = ch.none[d];
  PetscFunctionReturn(0);
}

/* The z pass's two plane sweeps are written so that GCC vectorises them: selects on int32 lanes
   (the label widened first), no conditional loads, and no trapping-math (an int-to-float conversion
   under a select counts as a possible trap otherwise; nothing here reads the FP exception flags). */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__INTEL_COMPILER)
#define SWEEP_ATTRIBUTES __attribute__((noinline, optimize("no-trapping-math")))
#else /* other compilers lack GCC's optimize attribute: the sweeps stay correct, perhaps scalar */
#define SWEEP_ATTRIBUTES
#endif

/* One plane of the z pass going up: below[c] = the nearest complement plane at or below, o[c] = the
   distance to it in planes (+inf: none). A complement voxel: (label == value) == complement. */
static SWEEP_ATTRIBUTES void SweepUp(ptrdiff_t n, const uint8_t *restrict row, int32_t value, int32_t complement,
                                     int32_t zg, int32_t *restrict below, float *restrict o)
{
  for (ptrdiff_t c = 0; c < n; c++) {
    const int32_t r = row[c], b0 = below[c];
    const int32_t b = ((r == value) == complement) ? zg : b0;
    below[c]        = b;
    o[c]            = b == NO_COMP_BELOW ? INFINITY : (float)(zg - b);
  }
}

/* One plane of the z pass going down: the nearer of the complement planes below (o) and above,
   squared and weighted by dz2 (in double, then stored as float). */
static SWEEP_ATTRIBUTES void SweepDown(ptrdiff_t n, const uint8_t *restrict row, int32_t value, int32_t complement,
                                       int32_t zg, double dz2, int32_t *restrict above, float *restrict o)
{
  for (ptrdiff_t c = 0; c < n; c++) {
    const int32_t r = row[c], a0 = above[c];
    const int32_t a  = ((r == value) == complement) ? zg : a0;
    const float   da = a == NO_COMP_ABOVE ? INFINITY : (float)(a - zg), du = o[c];
    const double  d = da < du ? da : du;
    above[c]        = a;
    o[c]            = d < INFINITY ? (float)(dz2 * d * d) : INFINITY;
  }
}

/* Binary pass along z: out = dz^2 (distance to the nearest complement plane of the column)^2. */
static PetscErrorCode PassZ(PgEdt e, const uint8_t *v, uint8_t value, int complement, ptrdiff_t reach, float *out)
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g), nzl = g->nz_local;
  const int32_t   z0   = (int32_t)g->z_start;
  const double    dz2  = g->voxel_um[2] * g->voxel_um[2];
  int32_t *restrict lo = e->lo, *restrict hi = e->hi, *restrict below = e->below, *restrict above = e->above;
  int32_t *res[2] = {below, above};

  PetscFunctionBeginUser;
  for (ptrdiff_t c = 0; c < plane; c++) {
    lo[c] = NO_COMP_ABOVE;
    hi[c] = NO_COMP_BELOW;
  }
#pragma omp parallel num_threads(e->nthreads)
  for (ptrdiff_t zl = 0; zl < nzl; zl++) {
    const uint8_t *row = v + zl * plane;
#pragma omp for schedule(static)
    for (ptrdiff_t c = 0; c < plane; c++)
      if ((row[c] == value) == complement) {
        hi[c] = z0 + (int32_t)zl;
        if (lo[c] == NO_COMP_ABOVE) lo[c] = z0 + (int32_t)zl;
      }
  }
  /* the nearest complement plane below and above the slab, per column (periodic: on the ring) */
  PetscCall(ChainResolve(e, reach, res));
  /* upward then downward sweep; each thread owns a range of columns through all planes (no barrier) */
#pragma omp parallel num_threads(e->nthreads)
  {
    const int       t = omp_get_thread_num(), nt = omp_get_num_threads();
    const ptrdiff_t c0 = plane * t / nt, c1 = plane * (t + 1) / nt;
    for (ptrdiff_t zl = 0; zl < nzl; zl++)
      SweepUp(c1 - c0, v + zl * plane + c0, value, complement, z0 + (int32_t)zl, below + c0, out + zl * plane + c0);
    for (ptrdiff_t zl = nzl - 1; zl >= 0; zl--)
      SweepDown(c1 - c0, v + zl * plane + c0, value, complement, z0 + (int32_t)zl, dz2, above + c0,
                out + zl * plane + c0);
  }
  PetscFunctionReturn(0);
}

/* The envelopes along y, then x, of one plane in place (the plane stays in cache). */
static void PlaneEnvelopes(PgEdt e, int t, float *o)
{
  const PgGrid g  = e->grid;
  const int    nx = (int)g->n[0], ny = (int)g->n[1];
  const double dx2 = g->voxel_um[0] * g->voxel_um[0], dy2 = g->voxel_um[1] * g->voxel_um[1];
  double      *f = e->f + (size_t)t * e->line, *a = e->a + (size_t)t * e->line, *z = e->z + (size_t)t * (e->line + 1);
  int         *ap = e->v + (size_t)t * e->line, h, m;

  for (int x = 0; x < nx; x++) {
    m = Gather(o + x, ny, nx, e->periodic, f, &h);
    Envelope(m, h, ny, f, dy2, ap, a, z, o + x, nx);
  }
  for (int y = 0; y < ny; y++) {
    m = Gather(o + (ptrdiff_t)y * nx, nx, 1, e->periodic, f, &h);
    Envelope(m, h, nx, f, dx2, ap, a, z, o + (ptrdiff_t)y * nx, 1);
  }
}

PetscErrorCode PgEdtCompute(PgEdt e, const uint8_t *v, uint8_t value, PetscBool complement, float *d2_um2)
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g);

  PetscFunctionBeginUser;
  PetscCall(PassZ(e, v, value, complement ? 1 : 0, -1, d2_um2));
#pragma omp parallel for schedule(dynamic, 1) num_threads(e->nthreads)
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++) PlaneEnvelopes(e, omp_get_thread_num(), d2_um2 + zl * plane);
  PetscFunctionReturn(0);
}

void PgEdtPlane(PgEdt e, int thread, const uint8_t *v, uint8_t value, PetscBool complement, float *d2_um2)
{
  const ptrdiff_t plane  = (ptrdiff_t)PgGridPlane(e->grid);
  const int       inside = complement ? 0 : 1;

  /* the binary start: 0 on the voxels not in S, +inf in S; the y envelope of that is the squared
     distance along y to the nearest voxel not in S (FH 2012 use the same start for binary images) */
  for (ptrdiff_t c = 0; c < plane; c++) d2_um2[c] = ((v[c] == value) == inside) ? INFINITY : 0.0f;
  PlaneEnvelopes(e, thread, d2_um2);
}

int PgEdtThreads(PgEdt e) { return e->nthreads; }

/* Window minimum along y then x: out = min over |t| <= w of in + d^2 t^2, for one plane (o: in
 * and out, tmp: a plane of scratch). Each pass is a short loop over t around a loop along x that
 * the compiler vectorises (rows are contiguous in x). */
static void PlaneWindows(const PgGrid_s *g, PetscBool periodic, int wx, int wy, float *o, float *tmp)
{
  const int    nx = (int)g->n[0], ny = (int)g->n[1];
  const double dx2 = g->voxel_um[0] * g->voxel_um[0], dy2 = g->voxel_um[1] * g->voxel_um[1];

  /* along y: tmp[y] = min_t o[y + t] + dy2 t^2 */
  for (int y = 0; y < ny; y++) {
    float *restrict out       = tmp + (size_t)y * nx;
    const float *restrict in0 = o + (size_t)y * nx;
    for (int x = 0; x < nx; x++) out[x] = in0[x];
    for (int t = -wy; t <= wy; t++) {
      int yy = y + t;
      if (!t) continue;
      if (periodic) yy = ((yy % ny) + ny) % ny;
      else if (yy < 0 || yy >= ny) continue;
      const float c            = (float)(dy2 * t * t);
      const float *restrict in = o + (size_t)yy * nx;
      for (int x = 0; x < nx; x++) {
        const float v = in[x] + c;
        out[x]        = v < out[x] ? v : out[x];
      }
    }
  }
  /* along x: o[x] = min_t tmp[x + t] + dx2 t^2 */
  for (int y = 0; y < ny; y++) {
    const float *restrict in = tmp + (size_t)y * nx;
    float *restrict out      = o + (size_t)y * nx;
    for (int x = 0; x < nx; x++) out[x] = in[x];
    for (int t = -wx; t <= wx; t++) {
      if (!t) continue;
      const float c  = (float)(dx2 * t * t);
      const int   x0 = PetscMax(0, -t), x1 = PetscMin(nx, nx - t);
      for (int x = x0; x < x1; x++) {
        const float v = in[x + t] + c;
        out[x]        = v < out[x] ? v : out[x];
      }
      if (periodic) { /* the wrapped ends (|t| <= nx): x + t < 0 below x0, x + t >= nx from x1 on */
        for (int x = 0; x < x0; x++) {
          const float v = in[x + t + nx] + c;
          out[x]        = v < out[x] ? v : out[x];
        }
        for (int x = x1; x < nx; x++) {
          const float v = in[x + t - nx] + c;
          out[x]        = v < out[x] ? v : out[x];
        }
      }
    }
  }
}

/* Window half-widths: offsets t with |t| d < r (and a margin of one) can give a distance < r. */
static void Windows(const PgGrid_s *g, double r_um, int *wx, int *wy)
{
  *wx = PetscMin((int)ceil(r_um / g->voxel_um[0]), (int)g->n[0]);
  *wy = PetscMin((int)ceil(r_um / g->voxel_um[1]), (int)g->n[1]);
}

/* The z pass within reach of r (the chain stops there), then the windowed x and y passes per plane:
   the bounded transform (dilate 0) or the dilation of the phase's complement (dilate 1). */
static PetscErrorCode Bounded(PgEdt e, const uint8_t *v, uint8_t value, int dilate, double r_um, float *d2_um2)
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g);
  int             wx, wy;

  PetscFunctionBeginUser;
  Windows(g, r_um, &wx, &wy);
  if (!e->tmp) PetscCall(PetscMalloc1((size_t)e->nthreads * plane, &e->tmp));
  PetscCall(PassZ(e, v, value, dilate, (ptrdiff_t)ceil(r_um / g->voxel_um[2]) + 1, d2_um2));
#pragma omp parallel for schedule(dynamic, 1) num_threads(e->nthreads)
  for (ptrdiff_t zl = 0; zl < g->nz_local; zl++)
    PlaneWindows(g, e->periodic, wx, wy, d2_um2 + zl * plane, e->tmp + (size_t)omp_get_thread_num() * plane);
  PetscFunctionReturn(0);
}

PetscErrorCode PgEdtComputeBounded(PgEdt e, const uint8_t *v, uint8_t value, double r_um, float *d2_um2)
{
  PetscFunctionBeginUser;
  PetscCall(Bounded(e, v, value, 0, r_um, d2_um2));
  PetscFunctionReturn(0);
}

void PgEdtPlaneBounded(PgEdt e, int thread, const uint8_t *v, uint8_t value, double r_um, float *d2_um2)
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g);
  int             wx, wy;

  Windows(g, r_um, &wx, &wy);
  for (ptrdiff_t c = 0; c < plane; c++) d2_um2[c] = v[c] == value ? INFINITY : 0.0f;
  PlaneWindows(g, e->periodic, wx, wy, d2_um2, e->tmp + (size_t)thread * plane);
}

PetscErrorCode PgEdtDilate(PgEdt e, const uint8_t *v, uint8_t value, double r_um, float *d2_um2)
{
  PetscFunctionBeginUser;
  PetscCall(Bounded(e, v, value, 1, r_um, d2_um2));
  PetscFunctionReturn(0);
}

PetscErrorCode PgEdtPlaneDilate(PgEdt e, int thread, const uint8_t *v, uint8_t value, double r_um, float *d2_um2)
{
  const PgGrid    g     = e->grid;
  const ptrdiff_t plane = (ptrdiff_t)PgGridPlane(g);
  int             wx, wy;

  PetscFunctionBeginUser;
  Windows(g, r_um, &wx, &wy);
  PetscCheck(e->tmp, PETSC_COMM_SELF, PETSC_ERR_ORDER, "EDT: call PgEdtSetUpDilate before PgEdtPlaneDilate");
  for (ptrdiff_t c = 0; c < plane; c++) d2_um2[c] = v[c] == value ? 0.0f : INFINITY;
  PlaneWindows(g, e->periodic, wx, wy, d2_um2, e->tmp + (size_t)thread * plane);
  PetscFunctionReturn(0);
}

PetscErrorCode PgEdtSetUpDilate(PgEdt e)
{
  PetscFunctionBeginUser;
  if (!e->tmp) PetscCall(PetscMalloc1((size_t)e->nthreads * PgGridPlane(e->grid), &e->tmp));
  PetscFunctionReturn(0);
}
