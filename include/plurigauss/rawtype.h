/// \file
/// Element types of image inputs (raw files, HDF5 datasets, TIFF samples): PG_RAW_*, their size
/// in bytes and their name. The first seven are the values of the deck keys *.raw_type, in order.
#pragma once

#include <stddef.h>

enum {
  PG_RAW_UINT8,
  PG_RAW_UINT16,
  PG_RAW_INT32,
  PG_RAW_FLOAT32,
  PG_RAW_INT8,
  PG_RAW_INT16,
  PG_RAW_UINT32,
  PG_RAW_FLOAT64,
  PG_RAW_INT64,
  PG_RAW_UINT64
};

/// The names of the first seven types, NULL-terminated: the values of the deck keys *.raw_type (image.c).
extern const char *const PgRawTypeKeyNames[];

/// Bytes of an element type.
static inline size_t PgRawSize(int type)
{
  switch (type) {
  case PG_RAW_UINT8:
  case PG_RAW_INT8:
    return 1;
  case PG_RAW_UINT16:
  case PG_RAW_INT16:
    return 2;
  case PG_RAW_FLOAT64:
  case PG_RAW_INT64:
  case PG_RAW_UINT64:
    return 8;
  default:
    return 4;
  }
}

/// Name of an element type ("uint8", ...), "?" for an unknown one.
static inline const char *PgRawName(int type)
{
  static const char *const names[] = {"uint8", "uint16", "int32",   "float32", "int8",
                                      "int16", "uint32", "float64", "int64",   "uint64"};
  return type >= 0 && type <= PG_RAW_UINT64 ? names[type] : "?";
}
