/* White noise on the half spectrum kx = 0 .. nx/2, one row (ky, kz) at a time, in two passes so
 * that both vectorise:
 *   1. integers: one Philox4x32-10 draw per frequency gives the four uniforms of A(k) and B(k).
 *      On the planes kx = 0 and kx = nx/2 (nx even) the c2r transform needs Hermitian data,
 *      A(-k) = conj A(k) with -k in the same plane: both members use the counter of the smaller
 *      global index, the larger conjugates, self-conjugate k get real N(0,1). Elsewhere the
 *      partner -k is implicit in the half spectrum and the counter is k's own index.
 *   2. floating point: Box-Muller, one complex normal r e^{i theta} per field,
 *      r = sqrt(-2 ln u), scaled by 1/sqrt(2) (E|A|^2 = 1) except on self-conjugate k.
 * Compiled with -ffast-math (see Makefile): the values are a deterministic function of
 * (seed, k, nx), the same at any rank or thread count. */
#include "noise.h"

#include <Random123/philox.h>
#include <math.h>

/* kind: 0 self-conjugate, 1 free or canonical member of a pair, 2 conjugated partner */
static void Bits(const PgNoiseRow *r, uint32_t *restrict u, uint8_t *restrict kind)
{
  const ptrdiff_t  nx = r->nx, nh = nx / 2 + 1;
  const uint64_t   g_row = r->g_row, g_mirror = r->g_mirror; /* locals: no aliasing with u, kind */
  philox4x32_key_t key = {{(uint32_t)r->seed, (uint32_t)(r->seed >> 32)}};
  for (ptrdiff_t kx = 0; kx < nh; kx++) {
    const int        paired = kx == 0 || 2 * kx == nx;
    const uint64_t   gk     = g_row + (uint64_t)kx;
    const uint64_t   gm     = paired ? g_mirror + (uint64_t)kx : gk;
    const uint64_t   c      = gk < gm ? gk : gm;
    philox4x32_ctr_t ctr    = {{(uint32_t)c, (uint32_t)(c >> 32), 0x5047u, 0}};
    philox4x32_ctr_t v      = philox4x32(ctr, key);
    u[kx]                   = v.v[0];
    u[nh + kx]              = v.v[1];
    u[2 * nh + kx]          = v.v[2];
    u[3 * nh + kx]          = v.v[3];
    kind[kx]                = (paired && gk == gm) ? 0 : (gk <= gm ? 1 : 2);
  }
}

/* cos t is computed as sin(t + pi/2): that keeps GCC from fusing sin and cos into sincos, which
 * libmvec cannot vectorise through its pointer outputs. */
#define NOISE_ROW(NAME, R, LOG, SQRT, SIN) \
  void NAME(const PgNoiseRow *r, R *restrict ox, R *restrict oy, uint32_t *scratch) \
  { \
    const ptrdiff_t nh   = r->nx / 2 + 1; \
    uint8_t        *kind = (uint8_t *)(scratch + 4 * nh); \
    Bits(r, scratch, kind); \
    const uint32_t *restrict u0 = scratch, *restrict u1 = scratch + nh, *restrict u2 = scratch + 2 * nh, *restrict u3 = scratch + 3 * nh; \
    const uint8_t *restrict kd = kind; \
    const R *restrict       ex = (const R *)r->scale_x, *restrict ey = (const R *)r->scale_y; \
    const R                 twopi = (R)(2 * M_PI), inv = (R)2.3283064365386963e-10, h = (R)M_SQRT1_2, qt = (R)M_PI_2; \
    for (ptrdiff_t kx = 0; kx < nh; kx++) { \
      const R ra = SQRT(-2 * LOG(((R)u0[kx] + (R)0.5) * inv)), ta = twopi * (((R)u1[kx] + (R)0.5) * inv); \
      const R rb = SQRT(-2 * LOG(((R)u2[kx] + (R)0.5) * inv)), tb = twopi * (((R)u3[kx] + (R)0.5) * inv); \
      const R sc = kd[kx] ? h : (R)1, sg = kd[kx] == 0 ? (R)0 : (kd[kx] == 1 ? h : -h); \
      ox[2 * kx]     = ex[kx] * sc * ra * SIN(ta + qt); \
      ox[2 * kx + 1] = ex[kx] * sg * ra * SIN(ta); \
      oy[2 * kx]     = ey[kx] * sc * rb * SIN(tb + qt); \
      oy[2 * kx + 1] = ey[kx] * sg * rb * SIN(tb); \
    } \
  }

NOISE_ROW(PgNoiseRowDouble, double, log, sqrt, sin)
NOISE_ROW(PgNoiseRowFloat, float, logf, sqrtf, sinf)
