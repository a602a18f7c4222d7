/// \file
/// Intrinsic volumes from 2x2x2 configurations (Ohser & Schladitz 2009, ch. 5; Schladitz, Ohser &
/// Nagel 2007).
///
/// Every cell of 2x2x2 voxels, anchored at voxel (x, y, z), is coded by the 8 bits "voxel in the
/// phase" (bit dx + 2 dy + 4 dz). All estimators are sums over cells of functions of the code, so
/// one histogram of 256 counts per phase holds everything:
///  * volume: the anchor bit;
///  * surface area, discrete Crofton formula: S_V = 2 sum_i w_i P_L(r_i), with P_L(r_i) the number
///    of phase changes between the two voxels of the cell that differ by the lattice vector r_i
///    (13 directions: 3 axes, 6 face diagonals, 4 space diagonals), per unit length of test line.
///    Each lattice pair lies in exactly one cell as a pair of that direction. The weights w_i are
///    the solid-angle fractions of the Voronoi cells of the 26 directions +-r_i on the unit sphere,
///    computed at set-up from 200 000 Fibonacci points; with anisotropic voxels the directions are
///    the physical vectors (r_i scaled by the voxel edges), so anisotropic grids are handled.
///  * Euler characteristic of the 26-connected phase (union of closed voxel cubes):
///    chi = #vertices - #edges + #faces - #cubes of that union; each lattice vertex is the centre of
///    one cell and owns the edges, faces and cube in its +x, +y, +z directions, which are present iff
///    any of the 4, 2, 1 cell voxels around them is in the phase.
///  * Euler characteristic of the 6-connected phase (cubical complex on voxel centres):
///    chi = #voxels - #face-adjacent pairs + #full 2x2 squares - #full 2x2x2 cubes, each counted
///    in the cell anchored at its lowest voxel.
/// Periodic grids (model output) use all N cells with wrap-around and the window volume N voxels;
/// images use the cells inside the image, (nx-1)(ny-1)(nz-1), as the window (minus sampling).
///
/// Parallel: each rank histograms the cells anchored in its slab; a cell needs the plane above,
/// which comes from the next owning rank (one ghost plane, nx*ny bytes). One MPI_Allreduce of
/// 3 x 256 int64. Cost: one pass over the labels.
#include <plurigauss/intrinsic.h>

#include <math.h>
#include <string.h>

const int PgIntrinsicDirections[13][3] = {
  {1, 0, 0}, {0, 1, 0}, {0, 0, 1},                                      /* axes */
  {1, 1, 0}, {1, -1, 0}, {1, 0, 1}, {1, 0, -1}, {0, 1, 1}, {0, 1, -1},   /* face diagonals */
  {1, 1, 1}, {1, 1, -1}, {1, -1, 1}, {-1, 1, 1},                         /* space diagonals */
};

static inline int Bit(int code, int dx, int dy, int dz) { return (code >> (dx + 2 * dy + 4 * dz)) & 1; }

/* The two cell voxels that differ by direction d: the one with the smaller coordinate where the
 * step is +1, the larger where it is -1. */
static int Transition(int code, const int d[3])
{
  int a[3], b[3];
  for (int k = 0; k < 3; k++) {
    a[k] = d[k] >= 0 ? 0 : 1;
    b[k] = a[k] + d[k];
  }
  return Bit(code, a[0], a[1], a[2]) != Bit(code, b[0], b[1], b[2]);
}

void PgIntrinsicFromHistogram(const int64_t hist[256], double *volume, double transitions[13], double *chi6, double *chi26)
{
  double v = 0, c6 = 0, c26 = 0, t[13] = {0};
  for (int code = 0; code < 256; code++) {
    if (!hist[code]) continue;
    const double n = (double)hist[code];
    const int    b000 = Bit(code, 0, 0, 0);
    v += n * b000;
    for (int i = 0; i < 13; i++) t[i] += n * Transition(code, PgIntrinsicDirections[i]);
    /* 6-connected: voxels - pairs + squares - cubes anchored at (0,0,0) */
    int e6 = b000 - (b000 & Bit(code, 1, 0, 0)) - (b000 & Bit(code, 0, 1, 0)) - (b000 & Bit(code, 0, 0, 1));
    e6 += (b000 & Bit(code, 1, 0, 0) & Bit(code, 0, 1, 0) & Bit(code, 1, 1, 0)) + (b000 & Bit(code, 1, 0, 0) & Bit(code, 0, 0, 1) & Bit(code, 1, 0, 1)) + (b000 & Bit(code, 0, 1, 0) & Bit(code, 0, 0, 1) & Bit(code, 0, 1, 1));
    e6 -= code == 255;
    /* 26-connected: the vertex at the cell centre and its +x, +y, +z edges, faces and cube */
    int ax = 0, ay = 0, az = 0, fxy = 0, fxz = 0, fyz = 0;
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++) {
        ax |= Bit(code, 1, a, b);
        ay |= Bit(code, a, 1, b);
        az |= Bit(code, a, b, 1);
      }
    for (int a = 0; a < 2; a++) {
      fxy |= Bit(code, 1, 1, a);
      fxz |= Bit(code, 1, a, 1);
      fyz |= Bit(code, a, 1, 1);
    }
    const int e26 = (code != 0) - ax - ay - az + fxy + fxz + fyz - Bit(code, 1, 1, 1);
    c6 += n * e6;
    c26 += n * e26;
  }
  *volume = v;
  *chi6   = c6;
  *chi26  = c26;
  for (int i = 0; i < 13; i++) transitions[i] = t[i];
}

/* Crofton weights: solid-angle fraction of the Voronoi cell of each pair of directions +-u_i on
 * the sphere (u_i = physical direction of r_i), by a Fibonacci lattice of M points. */
static void CroftonWeights(const double voxel[3], double w[13], double len[13])
{
  double u[13][3];
  for (int i = 0; i < 13; i++) {
    double l = 0;
    for (int k = 0; k < 3; k++) {
      u[i][k] = PgIntrinsicDirections[i][k] * voxel[k];
      l += u[i][k] * u[i][k];
    }
    len[i] = sqrt(l);
    for (int k = 0; k < 3; k++) u[i][k] /= len[i];
    w[i] = 0;
  }
  const int    M  = 200000;
  const double ga = M_PI * (3 - sqrt(5.0));
  for (int j = 0; j < M; j++) {
    double z = 1 - (2 * j + 1.0) / M, r = sqrt(1 - z * z), p[3] = {r * cos(ga * j), r * sin(ga * j), z};
    int    best = 0;
    double bc   = -1;
    for (int i = 0; i < 13; i++) {
      double c = fabs(u[i][0] * p[0] + u[i][1] * p[1] + u[i][2] * p[2]);
      if (c > bc) {
        bc   = c;
        best = i;
      }
    }
    w[best] += 1.0 / M;
  }
}

PetscErrorCode PgIntrinsicCompute(PgLabels labels, PetscBool periodic, PgIntrinsic *res)
{
  const PgGrid_s *g  = labels->grid;
  const ptrdiff_t nx = g->n[0], ny = g->n[1], nz = g->n[2];
  const size_t    plane = PgGridPlane(g);
  uint8_t        *buf;
  int64_t         hist[3][256], total[3][256];

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(hist, sizeof hist));
  /* owned planes plus one ghost plane above (width-1 halo; the plane below is not needed) */
  PetscCall(PetscMalloc1(plane * (size_t)(g->nz_local + 2), &buf));
  if (g->nz_local > 0) PetscCall(PetscMemcpy(buf + plane, labels->v, plane * (size_t)g->nz_local));
  PetscCall(PgGridHaloExchange(labels->grid, buf, plane, 1, PETSC_TRUE));
  const uint8_t *own = buf + plane;
  /* anchors: periodic -> all; image -> those whose cell lies inside */
  const ptrdiff_t xend = periodic ? nx : nx - 1, yend = periodic ? ny : ny - 1;
  ptrdiff_t       zend = g->nz_local;
  if (!periodic && g->z_start + g->nz_local == nz) zend = g->nz_local - 1; /* the top plane has no plane above */
#pragma omp parallel for reduction(+ : hist[:3][:256]) num_threads(g->threads) schedule(static)
  for (ptrdiff_t zl = 0; zl < zend; zl++) {
    const uint8_t *p0 = own + (size_t)zl * plane, *p1 = p0 + plane; /* p1 may be the ghost */
    for (ptrdiff_t y = 0; y < yend; y++) {
      const ptrdiff_t y1 = (y + 1) % ny;
      const uint8_t  *r00 = p0 + y * nx, *r10 = p0 + y1 * nx, *r01 = p1 + y * nx, *r11 = p1 + y1 * nx;
      for (ptrdiff_t x = 0; x < xend; x++) {
        const ptrdiff_t x1   = x + 1 < nx ? x + 1 : 0;
        const uint8_t   v[8] = {r00[x], r00[x1], r10[x], r10[x1], r01[x], r01[x1], r11[x], r11[x1]};
        for (int p = 0; p < 3; p++) {
          int code = 0;
          for (int b = 0; b < 8; b++) code |= (v[b] == p + 1) << b;
          hist[p][code]++;
        }
      }
    }
  }
  PetscCall(PetscFree(buf));
  PetscCallMPI(MPI_Allreduce(hist, total, 3 * 256, MPI_INT64_T, MPI_SUM, g->comm));

  double       w[13], len[13];
  const double cell_um3 = g->voxel_um[0] * g->voxel_um[1] * g->voxel_um[2];
  const double ncell    = periodic ? PgGridGlobalVoxels(g) : (double)(nx - 1) * (double)(ny - 1) * (double)(nz - 1);
  CroftonWeights(g->voxel_um, w, len);
  res->volume_um3 = ncell * cell_um3;
  for (int p = 0; p < 3; p++) {
    double vol, t[13], c6, c26, s = 0;
    PgIntrinsicFromHistogram(total[p], &vol, t, &c6, &c26);
    /* P_L(r_i) = transitions / total test-line length ncell * |r_i| */
    for (int i = 0; i < 13; i++) s += 2 * w[i] * t[i] / (ncell * len[i]);
    res->V[p]     = vol / ncell;
    res->S[p]     = s;
    res->chi6[p]  = c6 / res->volume_um3;
    res->chi26[p] = c26 / res->volume_um3;
  }
  res->S_pair[0] = 0.5 * (res->S[0] + res->S[1] - res->S[2]);
  res->S_pair[1] = 0.5 * (res->S[0] + res->S[2] - res->S[1]);
  res->S_pair[2] = 0.5 * (res->S[1] + res->S[2] - res->S[0]);
  PetscFunctionReturn(0);
}
