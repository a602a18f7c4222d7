/* White noise on the half spectrum kx = 0 .. nx/2, one row (ky, kz) at a time, in two passes so
 * that both vectorise:
 *   1. integers: one Philox4x32-10 draw per frequency gives the four uniforms of A(k) and B(k).
 *      On the planes kx = 0 and kx = nx/2 (nx even) the c2r transform needs Hermitian data,
 *      A(-k) = conj A(k) with -k in the same plane: both members use the counter of the smaller
 *      global index, the larger conjugates, self-conjugate k get real N(0,1). Elsewhere the
 *      partner -k is implicit in the half spectrum and the counter is k's own index.
 *   2. floating point: Box-Muller, one complex normal r e^{i theta} per field,
 *      r = sqrt(-2 ln u) (libmvec's vector log), theta uniform (polynomial sine and cosine below),
 *      scaled by 1/sqrt(2) (E|A|^2 = 1) except on self-conjugate k.
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

/* sin and cos of 2 pi w for w in [-1/2, 1/2]: reduction to a = 2 pi (w - q/4), |a| <= pi/4, and
 * Taylor polynomials to below the precision's rounding (double: terms to a^15 / a^16, truncation
 * < 4e-17; float: to a^9 / a^8, < 3e-8), then the quadrant q. Branch-free, so the row loop
 * vectorises; libmvec's sin would be called twice per angle. */
static inline __attribute__((always_inline)) void SinCos2PiDouble(double w, double *sn, double *cs)
{
  const double q = __builtin_rint(4 * w), a = 2 * M_PI * (w - 0.25 * q), z = a * a;
  const double s =
    a *
    (1 + z * (-1.0 / 6 +
              z * (1.0 / 120 +
                   z * (-1.0 / 5040 + z * (1.0 / 362880 + z * (-1.0 / 39916800 + z * (1.0 / 6227020800 +
                                                                                      z * (-1.0 / 1307674368000))))))));
  const double c =
    1 + z * (-0.5 +
             z * (1.0 / 24 + z * (-1.0 / 720 +
                                  z * (1.0 / 40320 + z * (-1.0 / 3628800 +
                                                          z * (1.0 / 479001600 + z * (-1.0 / 87178291200 +
                                                                                      z * (1.0 / 20922789888000))))))));
  const int    k = (int)q & 3, odd = k & 1;
  const double so = odd ? c : s, co = odd ? s : c;
  *sn = (k & 2) ? -so : so;
  *cs = ((k + 1) & 2) ? -co : co;
}

static inline __attribute__((always_inline)) void SinCos2PiFloat(float w, float *sn, float *cs)
{
  const float q = __builtin_rintf(4 * w), a = (float)(2 * M_PI) * (w - 0.25f * q), z = a * a;
  const float s = a * (1 + z * (-1.0f / 6 + z * (1.0f / 120 + z * (-1.0f / 5040 + z * (1.0f / 362880)))));
  const float c = 1 + z * (-0.5f + z * (1.0f / 24 + z * (-1.0f / 720 + z * (1.0f / 40320))));
  const int   k = (int)q & 3, odd = k & 1;
  const float so = odd ? c : s, co = odd ? s : c;
  *sn = (k & 2) ? -so : so;
  *cs = ((k + 1) & 2) ? -co : co;
}

/* The angle is 2 pi (u - 1/2) with u uniform in (0, 1): a uniform angle, as Box-Muller needs. */
#define NOISE_ROW(NAME, R, LOG, SQRT, SINCOS2PI)                                                                \
  void NAME(const PgNoiseRow *r, R *restrict ox, R *restrict oy, uint32_t *scratch)                             \
  {                                                                                                             \
    const ptrdiff_t nh   = r->nx / 2 + 1;                                                                       \
    uint8_t        *kind = (uint8_t *)(scratch + 4 * nh);                                                       \
    Bits(r, scratch, kind);                                                                                     \
    const uint32_t *restrict u0 = scratch, *restrict u1 = scratch + nh, *restrict u2 = scratch + 2 * nh,        \
                             *restrict u3 = scratch + 3 * nh;                                                   \
    const uint8_t *restrict kd            = kind;                                                               \
    const R *restrict ex = (const R *)r->scale_x, *restrict ey = (const R *)r->scale_y;                         \
    const R inv = (R)2.3283064365386963e-10, h = (R)M_SQRT1_2;                                                  \
    for (ptrdiff_t kx = 0; kx < nh; kx++) {                                                                     \
      R       sa, ca, sb, cb;                                                                                   \
      const R ra = SQRT(-2 * LOG(((R)u0[kx] + (R)0.5) * inv)), rb = SQRT(-2 * LOG(((R)u2[kx] + (R)0.5) * inv)); \
      SINCOS2PI(((R)u1[kx] + (R)0.5) * inv - (R)0.5, &sa, &ca);                                                 \
      SINCOS2PI(((R)u3[kx] + (R)0.5) * inv - (R)0.5, &sb, &cb);                                                 \
      const R sc = kd[kx] ? h : (R)1, sg = kd[kx] == 0 ? (R)0 : (kd[kx] == 1 ? h : -h);                         \
      ox[2 * kx]     = ex[kx] * sc * ra * ca;                                                                   \
      ox[2 * kx + 1] = ex[kx] * sg * ra * sa;                                                                   \
      oy[2 * kx]     = ey[kx] * sc * rb * cb;                                                                   \
      oy[2 * kx + 1] = ey[kx] * sg * rb * sb;                                                                   \
    }                                                                                                           \
  }

NOISE_ROW(PgNoiseRowDouble, double, log, sqrt, SinCos2PiDouble)
NOISE_ROW(PgNoiseRowFloat, float, logf, sqrtf, SinCos2PiFloat)

/* One output: wx sqrt(Lx/N) A + wy sqrt(Ly/N) B (the spectrum of wx X + wy Y), or with USE_B = 0
 * the spectrum of wx X alone, skipping the normals of B. Same random numbers as above. */
#define NOISE_ONE(NAME, R, LOG, SQRT, SINCOS2PI, USE_B)                                                  \
  void NAME(const PgNoiseRow *r, R wx, R wy, R *restrict o, uint32_t *scratch)                           \
  {                                                                                                      \
    const ptrdiff_t nh   = r->nx / 2 + 1;                                                                \
    uint8_t        *kind = (uint8_t *)(scratch + 4 * nh);                                                \
    Bits(r, scratch, kind);                                                                              \
    const uint32_t *restrict u0 = scratch, *restrict u1 = scratch + nh, *restrict u2 = scratch + 2 * nh, \
                             *restrict u3 = scratch + 3 * nh;                                            \
    const uint8_t *restrict kd            = kind;                                                        \
    const R *restrict ex = (const R *)r->scale_x, *restrict ey = (const R *)r->scale_y;                  \
    const R inv = (R)2.3283064365386963e-10, h = (R)M_SQRT1_2;                                           \
    (void)u2;                                                                                            \
    (void)u3;                                                                                            \
    (void)ey;                                                                                            \
    (void)wy;                                                                                            \
    for (ptrdiff_t kx = 0; kx < nh; kx++) {                                                              \
      R       sa, ca;                                                                                    \
      const R ra = SQRT(-2 * LOG(((R)u0[kx] + (R)0.5) * inv));                                           \
      SINCOS2PI(((R)u1[kx] + (R)0.5) * inv - (R)0.5, &sa, &ca);                                          \
      const R sc = kd[kx] ? h : (R)1, sg = kd[kx] == 0 ? (R)0 : (kd[kx] == 1 ? h : -h);                  \
      R       re = wx * ex[kx] * sc * ra * ca, im = wx * ex[kx] * sg * ra * sa;                          \
      if (USE_B) {                                                                                       \
        R       sb, cb;                                                                                  \
        const R rb = SQRT(-2 * LOG(((R)u2[kx] + (R)0.5) * inv));                                         \
        SINCOS2PI(((R)u3[kx] + (R)0.5) * inv - (R)0.5, &sb, &cb);                                        \
        re += wy * ey[kx] * sc * rb * cb;                                                                \
        im += wy * ey[kx] * sg * rb * sb;                                                                \
      }                                                                                                  \
      o[2 * kx]     = re;                                                                                \
      o[2 * kx + 1] = im;                                                                                \
    }                                                                                                    \
  }

NOISE_ONE(PgNoiseRowSumDouble, double, log, sqrt, SinCos2PiDouble, 1)
NOISE_ONE(PgNoiseRowSumFloat, float, logf, sqrtf, SinCos2PiFloat, 1)
NOISE_ONE(PgNoiseRowXDouble, double, log, sqrt, SinCos2PiDouble, 0)
NOISE_ONE(PgNoiseRowXFloat, float, logf, sqrtf, SinCos2PiFloat, 0)
