#pragma once
/// \file
/// Messages of the changed entries of a boundary array: the geodesic search's sides (geodesic.c)
/// and the distance transform's chain (edt.c). Of n 4-byte values, those flagged travel in the
/// smallest of four encodings, named by the message's first int32:
///   k >= 0             k (index, value) pairs, 8 bytes each;
///   PG_MESSAGE_DELTA   the count k (int32), then per entry the gap to the previous entry's index
///                      (e - e_prev - 1, e_prev = -1 before the first) as a LEB128 varint and the
///                      value: 5 bytes per entry where the entries come in runs or near each other;
///   PG_MESSAGE_BITMAP  a bitmap of the n entries (bit e of byte e/8), then the flagged values in
///                      order: 4 bytes each and a bit per entry;
///   PG_MESSAGE_WHOLE   all n values, flagged or not (the receiver ignores what it already has).
/// So a message is never larger than the whole array and, when few entries changed, 5-8 bytes per
/// change.

#include <petscsys.h>
#include <stdint.h>

enum { PG_MESSAGE_WHOLE = -1, PG_MESSAGE_BITMAP = -2, PG_MESSAGE_DELTA = -3, PG_MESSAGE_BAD = -4 };

/// Packs the flagged entries of val (n values of 4 bytes; go[e] != 0: entry e travels) into a new
/// buffer *msg of *bytes bytes (free it with PetscFree). what names the message in the error when
/// it would exceed one MPI message.
PetscErrorCode PgMessagePack(int64_t n, const void *val, const uint8_t *go, const char *what, char **msg, int *bytes);

/// Reads a message of bytes bytes (as received) entry by entry: PgMessageNext returns 1 with the
/// entry's index (in [0, n)) and its 4 bytes, 0 after the last one, -1 for a corrupt message (an
/// index outside [0, n), an unknown encoding, or a length other than its header implies: no read
/// goes past the bytes received).
typedef struct {
  const char *m;
  int32_t     code;
  int64_t     bytes, n, q, v, nbit, k, prev;
} PgMessageReader;

void PgMessageBegin(PgMessageReader *r, const char *msg, int bytes, int64_t n);
int  PgMessageNext(PgMessageReader *r, int64_t *e, void *val);
