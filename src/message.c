/// \file
/// The messages of changed boundary entries (message.h).
#include <plurigauss/message.h>

#include <limits.h>
#include <string.h>

/* Bytes of u as a LEB128 varint: 7 bits per byte, the high bit set on all but the last. */
static inline int64_t VarintBytes(uint64_t u)
{
  int64_t b = 1;
  while (u >= 0x80) {
    u >>= 7;
    b++;
  }
  return b;
}

static inline char *VarintPut(char *o, uint64_t u)
{
  while (u >= 0x80) {
    *o++ = (char)(0x80 | (u & 0x7f));
    u >>= 7;
  }
  *o++ = (char)u;
  return o;
}

PetscErrorCode PgMessagePack(int64_t n, const void *val, const uint8_t *go, const char *what, char **msg, int *bytes)
{
  const char    *v = (const char *)val;
  int64_t        k = 0;
  char          *o;
  unsigned char *bits;

  PetscFunctionBeginUser;
  int64_t gaps = 0; /* the delta encoding's varints */
  for (int64_t e = 0, prev = -1; e < n; e++)
    if (go[e]) {
      k++;
      gaps += VarintBytes((uint64_t)(e - prev - 1));
      prev = e;
    }
  const int64_t nbit = (n + 7) / 8, pairs = 8 * k, bitmap = nbit + 4 * k, whole = 4 * n, delta = 4 + gaps + 4 * k;
  const int64_t best = PetscMin(PetscMin(pairs, bitmap), PetscMin(whole, delta));
  const int32_t code = whole == best    ? PG_MESSAGE_WHOLE
                       : bitmap == best ? PG_MESSAGE_BITMAP
                       : delta == best  ? PG_MESSAGE_DELTA
                                        : (int32_t)k;
  const int64_t len  = 4 + best;
  PetscCheck(len <= INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "%s: a message of %" PetscInt64_FMT " bytes exceeds one MPI message", what, (PetscInt64)len);
  PetscCall(PetscMalloc1(len, msg));
  memcpy(*msg, &code, 4);
  o = *msg + 4;
  if (code == PG_MESSAGE_WHOLE) memcpy(o, v, (size_t)whole);
  else if (code == PG_MESSAGE_BITMAP) {
    bits = (unsigned char *)o;
    memset(bits, 0, (size_t)nbit);
    o += nbit;
    for (int64_t e = 0; e < n; e++)
      if (go[e]) {
        bits[e >> 3] |= (unsigned char)(1u << (e & 7));
        memcpy(o, v + 4 * e, 4);
        o += 4;
      }
  } else if (code == PG_MESSAGE_DELTA) {
    const int32_t k32 = (int32_t)k;
    memcpy(o, &k32, 4);
    o += 4;
    for (int64_t e = 0, prev = -1; e < n; e++)
      if (go[e]) {
        o = VarintPut(o, (uint64_t)(e - prev - 1));
        memcpy(o, v + 4 * e, 4);
        o += 4;
        prev = e;
      }
  } else
    for (int64_t e = 0; e < n; e++)
      if (go[e]) {
        const int32_t i = (int32_t)e;
        memcpy(o, &i, 4);
        memcpy(o + 4, v + 4 * e, 4);
        o += 8;
      }
  *bytes = (int)len;
  PetscFunctionReturn(0);
}

void PgMessageBegin(PgMessageReader *r, const char *msg, int bytes, int64_t n)
{
  r->m     = msg;
  r->bytes = bytes;
  r->code  = PG_MESSAGE_BAD;
  if (bytes >= 4) memcpy(&r->code, msg, 4);
  r->n    = n;
  r->q    = 0;
  r->v    = 0;
  r->nbit = (n + 7) / 8;
  r->k    = 0;
  r->prev = -1;
  /* the length each encoding implies, where its header gives it */
  if ((r->code == PG_MESSAGE_WHOLE && bytes != 4 + 4 * n) || (r->code == PG_MESSAGE_BITMAP && bytes < 4 + r->nbit) ||
      (r->code >= 0 && bytes != 4 + 8 * (int64_t)r->code) || (r->code == PG_MESSAGE_DELTA && bytes < 8) ||
      r->code < PG_MESSAGE_DELTA)
    r->code = PG_MESSAGE_BAD;
  if (r->code == PG_MESSAGE_DELTA) {
    int32_t k;
    memcpy(&k, msg + 4, 4);
    r->k = k;
    r->v = 8; /* the byte where the next entry starts */
  }
}

int PgMessageNext(PgMessageReader *r, int64_t *e, void *val)
{
  const char *body = r->m + 4;

  if (r->code == PG_MESSAGE_BAD) return -1;
  if (r->code == PG_MESSAGE_WHOLE) {
    if (r->q >= r->n) return 0;
    *e = r->q;
    memcpy(val, body + 4 * r->q++, 4);
    return 1;
  }
  if (r->code == PG_MESSAGE_BITMAP) {
    const unsigned char *bits = (const unsigned char *)body;
    while (r->q < r->n && !(bits[r->q >> 3] >> (r->q & 7) & 1)) r->q++;
    if (r->q >= r->n) return 4 + r->nbit + 4 * r->v == r->bytes ? 0 : -1; /* as many values as bits */
    if (4 + r->nbit + 4 * (r->v + 1) > r->bytes) return -1;               /* more bits than values */
    *e = r->q++;
    memcpy(val, body + r->nbit + 4 * r->v++, 4);
    return 1;
  }
  if (r->code == PG_MESSAGE_DELTA) {
    uint64_t gap   = 0;
    int      shift = 0;
    if (r->q >= r->k) return r->v == r->bytes ? 0 : -1; /* the count and the length agree */
    for (;;) {
      if (r->v >= r->bytes || shift > 56) return -1;
      const unsigned char b = (unsigned char)r->m[r->v++];
      gap |= (uint64_t)(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    if (gap >= (uint64_t)(r->n - r->prev - 1) || r->v + 4 > r->bytes) return -1;
    *e = r->prev + 1 + (int64_t)gap;
    memcpy(val, r->m + r->v, 4);
    r->v += 4;
    r->prev = *e;
    r->q++;
    return 1;
  }
  if (r->q >= r->code) return 0;
  int32_t i;
  memcpy(&i, body + 8 * r->q, 4);
  memcpy(val, body + 8 * r->q++ + 4, 4);
  if (i < 0 || i >= r->n) return -1;
  *e = i;
  return 1;
}
