/// \file
/// Intrinsic volumes from 2x2x2 configurations (Ohser & Schladitz 2009, "3D Images of Materials
/// Structures", ch. 5; Schladitz, Ohser & Nagel 2007).
///
/// A cell is the 2x2x2 block of voxels anchored at voxel (x, y, z); its code for phase p has bit
/// dx + 2 dy + 4 dz set when voxel (x+dx, y+dy, z+dz) is in p. Every estimator is a sum over cells
/// of a function of the code, so one histogram of 256 counts per phase holds everything:
///  * volume: the anchor bit.
///  * surface area, discrete Crofton formula: S_V = 2 sum_i w_i P_L(u_i), the isotropic mean
///    2 E_u[P_L(u)] with the sphere cut into the spherical Voronoi cells of the 26 directions +-u_i
///    of the 13 lattice vectors r_i (3 axes, 6 face and 4 space diagonals); w_i = solid-angle
///    fraction of the pair of cells. P_L(u_i) = (phase changes between the two cell voxels that
///    differ by r_i) / (cells * |r_i| in µm); every lattice pair along r_i lies in exactly one cell.
///    For cubic voxels w = 0.0915558 (axes), 0.0739613 (face), 0.0703913 (space diagonals), twice
///    the gamma_i tabulated by Ohser & Schladitz. The weights are computed exactly (vertices of the
///    spherical Voronoi cells, Van Oosterom-Strackee triangle areas) for the physical directions,
///    so rectangular voxels are supported. The estimator is unbiased for isotropic structures; a
///    plane of fixed normal n is measured as 2 sum_i w_i |u_i . n| times its area (0.9266 for a
///    plane normal to an axis of a cubic lattice).
///  * Euler characteristic, 26-connected phase = union of its closed voxel cubes: chi = vertices -
///    edges + faces - cubes of that complex. The lattice vertex at the cell centre owns the edges,
///    faces and cube on its +x, +y, +z side; each is present iff one of the 4, 2, 1 cell voxels
///    around it is in the phase.
///  * Euler characteristic, 6-connected phase = cubical complex on the voxel centres (edges between
///    face neighbours, squares of 4, cubes of 8 voxels): chi = voxels - pairs + squares - cubes, each
///    counted in the cell anchored at its lowest voxel. The two are dual: on a periodic grid the
///    complement U of the 26-complex K of A retracts onto the 6-complex of the complement of A, and
///    chi(T^3) = 0 = chi(K) + chi_c(U) with chi_c(U) = -chi(U) (open 3-manifold), so
///    chi26(A) = chi6(not A).
/// Windows: periodic grids (model realizations) use all N cells with wrap-around; images use the
/// (nx-1)(ny-1)(nz-1) cells inside the image and that window of cell centres as the reference
/// volume (minus sampling). Both give unbiased densities for stationary structures; a bounded
/// object inside the window has chi = its Euler characteristic exactly.
///
/// Kernel: the 8 labels of a cell form a 16-bit key (2 bits per voxel), built as the key of the
/// cell's x = 0 column ORed with the shifted key of its x = 1 column, so a cell costs two loads and
/// one histogram increment whatever the number of phases; the 65536-bin key histogram (uint32,
/// flushed before it can overflow) is folded into the three 256-bin phase histograms at the end.
/// Parallel: each rank histograms the cells anchored in its slab; the top plane of cells needs the
/// first plane of the next owning rank (one plane, nx*ny bytes, through PgGridHaloExchange); one
/// MPI_Allreduce of 3 x 256 + 1 int64. OpenMP threads split the anchor rows. Cost: one read of the
/// labels (each row is loaded twice, once per plane pair it belongs to), about 1e9 voxels/s on one
/// core; memory: 3 planes, a row of 16-bit keys and 256 KiB of bins per thread.
#include <plurigauss/intrinsic.h>

#include <math.h>
#include <string.h>

const int PgIntrinsicDirections[13][3] = {
  {1, 0, 0}, {0, 1, 0},  {0, 0, 1},                                     /* axes */
  {1, 1, 0}, {1, -1, 0}, {1, 0, 1},  {1, 0, -1}, {0, 1, 1}, {0, 1, -1}, /* face diagonals */
  {1, 1, 1}, {1, 1, -1}, {1, -1, 1}, {-1, 1, 1},                        /* space diagonals */
};

/* ---------------------------------------------------------------------------------------------
 * Crofton weights: exact areas of the spherical Voronoi cells of +-u_i. The cell of generator a is
 * the spherical polygon {p : p.(a - b) >= 0 for every other generator b}; its vertices are the
 * feasible directions on two constraint planes, its area the sum of the triangles (a, v_k, v_k+1).
 * --------------------------------------------------------------------------------------------- */
static inline double Dot(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
static inline void   Cross(const double a[3], const double b[3], double c[3])
{
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}

static double VoronoiCellArea(const double gen[26][3], int i)
{
  const double *a = gen[i], tol = 1e-12;
  double        n[26][3], vert[64][3], ang[64], e1[3], e2[3], area = 0;
  int           nv = 0;

  for (int j = 0; j < 26; j++)
    for (int k = 0; k < 3; k++) n[j][k] = a[k] - gen[j][k];
  for (int j = 0; j < 26; j++) {
    if (j == i) continue;
    for (int k = j + 1; k < 26; k++) {
      double v[3], len;
      if (k == i) continue;
      Cross(n[j], n[k], v);
      len = sqrt(Dot(v, v));
      if (len < 1e-9) continue; /* the same plane */
      for (int s = 0; s < 2; s++) {
        double p[3] = {v[0] / len, v[1] / len, v[2] / len};
        int    ok = 1, dup = 0;
        if (s) p[0] = -p[0], p[1] = -p[1], p[2] = -p[2];
        for (int l = 0; l < 26 && ok; l++)
          if (l != i && Dot(p, n[l]) < -tol) ok = 0;
        if (!ok) continue;
        for (int m = 0; m < nv && !dup; m++) {
          double d[3] = {p[0] - vert[m][0], p[1] - vert[m][1], p[2] - vert[m][2]};
          dup         = Dot(d, d) < 1e-18;
        }
        if (!dup && nv < 64) memcpy(vert[nv++], p, sizeof p);
      }
    }
  }
  /* order the vertices around a, then fan-triangulate from a */
  {
    const double ref[3] = {fabs(a[0]) < 0.9 ? 1.0 : 0.0, fabs(a[0]) < 0.9 ? 0.0 : 1.0, 0.0};
    Cross(a, ref, e1);
    const double l1 = sqrt(Dot(e1, e1));
    for (int k = 0; k < 3; k++) e1[k] /= l1;
    Cross(a, e1, e2);
  }
  for (int m = 0; m < nv; m++) ang[m] = atan2(Dot(vert[m], e2), Dot(vert[m], e1));
  for (int m = 1; m < nv; m++) /* insertion sort by angle */
    for (int q = m; q > 0 && ang[q] < ang[q - 1]; q--) {
      double t   = ang[q], tv[3];
      ang[q]     = ang[q - 1];
      ang[q - 1] = t;
      memcpy(tv, vert[q], sizeof tv);
      memcpy(vert[q], vert[q - 1], sizeof tv);
      memcpy(vert[q - 1], tv, sizeof tv);
    }
  for (int m = 0; m < nv; m++) {
    const double *b = vert[m], *c = vert[(m + 1) % nv];
    double        bc[3];
    Cross(b, c, bc);
    area += 2 * atan2(fabs(Dot(a, bc)), 1 + Dot(a, b) + Dot(b, c) + Dot(c, a));
  }
  return area;
}

PetscErrorCode PgIntrinsicCroftonWeights(const double voxel_um[3], double w[13])
{
  double gen[26][3], total = 0;

  PetscFunctionBeginUser;
  for (int k = 0; k < 3; k++)
    PetscCheck(voxel_um[k] > 0 && isfinite(voxel_um[k]), PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "voxel edge %d is %g um, must be positive", k, voxel_um[k]);
  for (int i = 0; i < 13; i++) {
    double len = 0;
    for (int k = 0; k < 3; k++) {
      gen[i][k] = PgIntrinsicDirections[i][k] * voxel_um[k];
      len += gen[i][k] * gen[i][k];
    }
    for (int k = 0; k < 3; k++) {
      gen[i][k] /= sqrt(len);
      gen[i + 13][k] = -gen[i][k];
    }
  }
  for (int i = 0; i < 13; i++) {
    w[i] = (VoronoiCellArea(gen, i) + VoronoiCellArea(gen, i + 13)) / (4 * M_PI);
    total += w[i];
  }
  PetscCheck(fabs(total - 1) < 1e-10, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "spherical Voronoi cells cover %.15g of the sphere, not 1", total);
  PetscFunctionReturn(0);
}

/* ---------------------------------------------------------------------------------------------
 * Estimators from a phase histogram: totals over the window, not yet densities.
 * --------------------------------------------------------------------------------------------- */
static inline int Bit(int code, int dx, int dy, int dz) { return (code >> (dx + 2 * dy + 4 * dz)) & 1; }

/* Phase change between the two cell voxels that differ by direction d: the voxel with coordinate 0
 * where the step is +1 and 1 where it is -1, and that voxel plus d. */
static int Transition(int code, const int d[3])
{
  int a[3], b[3];
  for (int k = 0; k < 3; k++) {
    a[k] = d[k] >= 0 ? 0 : 1;
    b[k] = a[k] + d[k];
  }
  return Bit(code, a[0], a[1], a[2]) != Bit(code, b[0], b[1], b[2]);
}

static void Totals(const int64_t hist[256], double *volume, double transitions[13], double *chi6, double *chi26)
{
  double v = 0, c6 = 0, c26 = 0, t[13] = {0};

  for (int code = 0; code < 256; code++) {
    if (!hist[code]) continue;
    const double n    = (double)hist[code];
    const int    b000 = Bit(code, 0, 0, 0), b100 = Bit(code, 1, 0, 0), b010 = Bit(code, 0, 1, 0),
              b001 = Bit(code, 0, 0, 1);
    v += n * b000;
    for (int i = 0; i < 13; i++) t[i] += n * Transition(code, PgIntrinsicDirections[i]);
    /* 6: the voxel at the anchor, its +x, +y, +z pairs, the 3 squares and the cube that start there */
    int e6 = b000 - (b000 & b100) - (b000 & b010) - (b000 & b001);
    e6 += (b000 & b100 & b010 & Bit(code, 1, 1, 0)) + (b000 & b100 & b001 & Bit(code, 1, 0, 1)) +
          (b000 & b010 & b001 & Bit(code, 0, 1, 1));
    e6 -= code == 255;
    /* 26: the vertex at the cell centre and its +x, +y, +z edges, +xy, +xz, +yz faces, +xyz cube */
    int ex = 0, ey = 0, ez = 0, fxy = 0, fxz = 0, fyz = 0;
    for (int a = 0; a < 2; a++) {
      for (int b = 0; b < 2; b++) {
        ex |= Bit(code, 1, a, b);
        ey |= Bit(code, a, 1, b);
        ez |= Bit(code, a, b, 1);
      }
      fxy |= Bit(code, 1, 1, a);
      fxz |= Bit(code, 1, a, 1);
      fyz |= Bit(code, a, 1, 1);
    }
    const int e26 = (code != 0) - ex - ey - ez + fxy + fxz + fyz - Bit(code, 1, 1, 1);
    c6 += n * e6;
    c26 += n * e26;
  }
  *volume = v;
  *chi6   = c6;
  *chi26  = c26;
  for (int i = 0; i < 13; i++) transitions[i] = t[i];
}

/* ---------------------------------------------------------------------------------------------
 * Histogram kernel. Key of a cell: bits 2b, 2b+1 hold label & 3 of cell voxel b = dx + 2dy + 4dz.
 * --------------------------------------------------------------------------------------------- */
enum { NKEY = 1 << 16, NFOLD = 3 * 256 + 1 /* + cells holding a label outside {1,2,3} */ };

/* Adds the key histogram to the phase histograms (fold[p*256 + code]) and clears it. */
static void FoldKeys(uint32_t *keys, int64_t *fold)
{
  for (int key = 0; key < NKEY; key++) {
    const int64_t c       = keys[key];
    int           code[3] = {0, 0, 0}, zero = 0;
    if (!c) continue;
    for (int b = 0; b < 8; b++) {
      const int l = (key >> (2 * b)) & 3;
      if (l) code[l - 1] |= 1 << b;
      else zero = 1;
    }
    for (int p = 0; p < 3; p++) fold[p * 256 + code[p]] += c;
    fold[3 * 256] += zero * c;
    keys[key] = 0;
  }
}

/* Histograms the anchor rows [r0, r1) (row r = plane r / yend, y = r % yend) of the slab. above is
 * the plane following the last owned one. Returns nonzero if a label above 3 was seen. */
static unsigned HistogramRows(const PgGrid_s *g, const uint8_t *own, const uint8_t *above, ptrdiff_t yend,
                              ptrdiff_t xend, ptrdiff_t r0, ptrdiff_t r1, uint16_t *col, uint32_t *keys, int64_t *fold)
{
  const ptrdiff_t nx = g->n[0], ny = g->n[1];
  const size_t    plane      = PgGridPlane(g);
  unsigned        high       = 0;
  uint64_t        since_fold = 0;

  for (ptrdiff_t r = r0; r < r1; r++) {
    const ptrdiff_t zl = r / yend, y = r % yend, y1 = y + 1 < ny ? y + 1 : 0;
    const uint8_t  *p0 = own + PgGridIndex(g, zl, 0, 0), *p1 = zl + 1 < g->nz_local ? p0 + plane : above;
    const uint8_t  *r00 = p0 + PgGridIndex(g, 0, y, 0), *r10 = p0 + PgGridIndex(g, 0, y1, 0);
    const uint8_t  *r01 = p1 + PgGridIndex(g, 0, y, 0), *r11 = p1 + PgGridIndex(g, 0, y1, 0);
    unsigned        acc = 0;

    if (since_fold + (uint64_t)xend > UINT32_MAX) { /* no bin can overflow */
      FoldKeys(keys, fold);
      since_fold = 0;
    }
    since_fold += (uint64_t)xend;
    for (ptrdiff_t x = 0; x < nx; x++) { /* column keys: (dy,dz) = 00, 10, 01, 11 -> bits 0, 4, 8, 12 */
      const unsigned a = r00[x], b = r10[x], c = r01[x], d = r11[x];
      acc |= a | b | c | d;
      col[x] = (uint16_t)((a & 3) | (b & 3) << 4 | (c & 3) << 8 | (d & 3) << 12);
    }
    col[nx] = col[0]; /* periodic wrap; unused otherwise */
    for (ptrdiff_t x = 0; x < xend; x++) keys[col[x] | col[x + 1] << 2]++;
    high |= acc & ~3u;
  }
  FoldKeys(keys, fold);
  return high;
}

/* The plane above this rank's slab (the first plane of the next owning rank, wrapping around when
 * periodic) into ghost[2 * plane ..]. PgGridHaloExchange on a view of the grid in which each owning
 * rank owns one plane, its first: buf = [ghost below | first owned plane | ghost above]. */
static PetscErrorCode PlaneAbove(PgGrid g, const uint8_t *first, PetscBool periodic, uint8_t *buf)
{
  PgGrid_s     view  = *g;
  const size_t plane = PgGridPlane(g);

  PetscFunctionBeginUser;
  view.nz_local = g->nz_local > 0 ? 1 : 0;
  if (g->nz_local > 0) PetscCall(PetscMemcpy(buf + plane, first, plane));
  PetscCall(PgGridHaloExchange(&view, buf, plane, 1, periodic));
  PetscFunctionReturn(0);
}

PetscErrorCode PgIntrinsicCompute(PgLabels labels, PetscBool periodic, PgIntrinsic *res)
{
  PgGrid          g  = labels->grid;
  const ptrdiff_t nx = g->n[0], ny = g->n[1], nz = g->n[2];
  const size_t    plane    = PgGridPlane(g);
  const int       nthreads = g->threads > 0 ? g->threads : 1;
  const size_t    ncol     = ((size_t)nx + 32) & ~(size_t)31; /* >= nx + 1 keys, whole cache lines per thread */
  uint8_t        *ghost;
  uint16_t       *col;
  uint32_t       *keys;
  int64_t        *fold, total[NFOLD];
  unsigned        high = 0;
  double          w[13], len[13];

  PetscFunctionBeginUser;
  PetscCheck(periodic || (nx >= 2 && ny >= 2 && nz >= 2), g->comm, PETSC_ERR_USER_INPUT,
             "intrinsic volumes of an image need at least 2 voxels along each axis, the grid is %" PetscInt_FMT
             " x %" PetscInt_FMT " x %" PetscInt_FMT,
             g->n[0], g->n[1], g->n[2]);
  PetscCall(PgIntrinsicCroftonWeights(g->voxel_um, w));
  PetscCall(PetscMalloc1(3 * plane, &ghost));
  PetscCall(PlaneAbove(g, labels->v, periodic, ghost));
  PetscCall(
    PetscMalloc3((size_t)nthreads * ncol, &col, (size_t)nthreads * NKEY, &keys, (size_t)nthreads * NFOLD, &fold));
  PetscCall(PetscArrayzero(keys, (size_t)nthreads * NKEY));
  PetscCall(PetscArrayzero(fold, (size_t)nthreads * NFOLD));
  {
    /* anchors: periodic -> every voxel; image -> those whose cell lies inside */
    const ptrdiff_t xend = periodic ? nx : nx - 1, yend = periodic ? ny : ny - 1;
    const ptrdiff_t zend = (!periodic && g->z_start + g->nz_local == nz) ? g->nz_local - 1 : g->nz_local;
    const ptrdiff_t rows = zend > 0 ? zend * yend : 0;
#pragma omp parallel for num_threads(nthreads) schedule(static, 1) reduction(| : high)
    for (int t = 0; t < nthreads; t++) {
      high |= HistogramRows(g, labels->v, ghost + 2 * plane, yend, xend, rows * t / nthreads, rows * (t + 1) / nthreads,
                            col + (size_t)t * ncol, keys + (size_t)t * NKEY, fold + (size_t)t * NFOLD);
    }
  }
  for (int t = 1; t < nthreads; t++)
    for (int k = 0; k < NFOLD; k++) fold[k] += fold[(size_t)t * NFOLD + k];
  if (high) fold[3 * 256] += 1; /* a label above 3 somewhere on this rank */
  PetscCallMPI(MPI_Allreduce(fold, total, NFOLD, MPI_INT64_T, MPI_SUM, g->comm));
  PetscCall(PetscFree3(col, keys, fold));
  PetscCall(PetscFree(ghost));
  PetscCheck(total[3 * 256] == 0, g->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "intrinsic volumes need labels in {1,2,3}; the volume holds labels outside {1,2,3} (0 or above 3)");

  const double cell_um3 = g->voxel_um[0] * g->voxel_um[1] * g->voxel_um[2];
  const double ncell    = periodic ? PgGridGlobalVoxels(g) : (double)(nx - 1) * (double)(ny - 1) * (double)(nz - 1);
  for (int i = 0; i < 13; i++) {
    double l = 0;
    for (int k = 0; k < 3; k++) l += PetscSqr(PgIntrinsicDirections[i][k] * g->voxel_um[k]);
    len[i] = sqrt(l);
  }
  res->window_um3 = ncell * cell_um3;
  for (int p = 0; p < 3; p++) {
    double vol, t[13], c6, c26, s = 0;
    Totals(total + 256 * p, &vol, t, &c6, &c26);
    for (int i = 0; i < 13; i++) s += 2 * w[i] * t[i] / (ncell * len[i]); /* S_V = 2 sum_i w_i P_L(u_i) */
    res->V[p]     = vol / ncell;
    res->S[p]     = s;
    res->chi6[p]  = c6 / res->window_um3;
    res->chi26[p] = c26 / res->window_um3;
  }
  res->S_pair[0] = 0.5 * (res->S[0] + res->S[1] - res->S[2]);
  res->S_pair[1] = 0.5 * (res->S[0] + res->S[2] - res->S[1]);
  res->S_pair[2] = 0.5 * (res->S[1] + res->S[2] - res->S[0]);
  PetscFunctionReturn(0);
}
