/* Hermitian white noise in Fourier space, one row at a time, in two passes so that both vectorise:
 *   1. integers: the Philox4x32-10 counter of each frequency is the smaller global index of the
 *      pair {k, -k}, so both members read the same four 32-bit words;
 *   2. floating point: Box-Muller gives one complex normal r e^{i theta} per field, r = sqrt(-2 ln u),
 *      scaled by 1/sqrt(2) and conjugated on the partner (real N(0,1) on self-conjugate k).
 * See field.c for the construction. Compiled with -ffast-math (see Makefile): the values are
 * a deterministic function of (seed, k, nx), the same at any rank or thread count. */
#include "noise.h"

#include <Random123/philox.h>
#include <math.h>

static void Bits(const PgNoiseRow *r, uint32_t *restrict u, uint8_t *restrict kind)
{
  const ptrdiff_t  nx  = r->nx;
  philox4x32_key_t key = {{(uint32_t)r->seed, (uint32_t)(r->seed >> 32)}};
  for (ptrdiff_t kx = 0; kx < nx; kx++) {
    const uint64_t   gk  = r->g_row + (uint64_t)kx;
    const uint64_t   gm  = r->g_mirror + (uint64_t)(kx ? nx - kx : 0);
    const uint64_t   c   = gk < gm ? gk : gm;
    philox4x32_ctr_t ctr = {{(uint32_t)c, (uint32_t)(c >> 32), 0x5047u, 0}};
    philox4x32_ctr_t v   = philox4x32(ctr, key);
    u[kx]                = v.v[0];
    u[nx + kx]           = v.v[1];
    u[2 * nx + kx]       = v.v[2];
    u[3 * nx + kx]       = v.v[3];
    kind[kx]             = gk == gm ? 0 : (gk < gm ? 1 : 2); /* self, canonical, partner */
  }
}

#define NOISE_ROW(NAME, R, LOG, SQRT, SIN) \
  void NAME(const PgNoiseRow *r, R *restrict out, uint32_t *scratch) \
  { \
    const ptrdiff_t nx   = r->nx; \
    uint8_t        *kind = (uint8_t *)(scratch + 4 * nx); \
    Bits(r, scratch, kind); \
    const uint32_t *restrict u0 = scratch, *restrict u1 = scratch + nx, *restrict u2 = scratch + 2 * nx, *restrict u3 = scratch + 3 * nx; \
    const uint8_t *restrict kd = kind; \
    const R *restrict ex = (const R *)r->sqrt_eig_x, *restrict ey = (const R *)r->sqrt_eig_y; \
    const R         twopi = (R)(2 * M_PI), inv = (R)2.3283064365386963e-10, h = (R)M_SQRT1_2, qt = (R)M_PI_2; \
    for (ptrdiff_t kx = 0; kx < nx; kx++) { \
      const R ra = SQRT(-2 * LOG(((R)u0[kx] + (R)0.5) * inv)), ta = twopi * (((R)u1[kx] + (R)0.5) * inv); \
      const R rb = SQRT(-2 * LOG(((R)u2[kx] + (R)0.5) * inv)), tb = twopi * (((R)u3[kx] + (R)0.5) * inv); \
      const R sc = kd[kx] ? h : (R)1, sg = kd[kx] == 0 ? (R)0 : (kd[kx] == 1 ? h : -h); \
      /* cos t as sin(t + pi/2): keeps GCC from fusing sin and cos into sincos, which libmvec \
       * cannot vectorise through its pointer outputs */ \
      const R ar = sc * ra * SIN(ta + qt), ai = sg * ra * SIN(ta), br = sc * rb * SIN(tb + qt), bi = sg * rb * SIN(tb); \
      const R sx = ex[kx], sy = ey[kx]; \
      out[2 * kx]     = sx * ar - sy * bi; \
      out[2 * kx + 1] = sx * ai + sy * br; \
    } \
  }

NOISE_ROW(PgNoiseRowDouble, double, log, sqrt, sin)
NOISE_ROW(PgNoiseRowFloat, float, logf, sqrtf, sinf)
