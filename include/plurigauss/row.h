/// \file
/// A run's summary row: named scalar columns in order (the CSV row of the run, and attributes of
/// its HDF5 group). Filled by the stages and descriptors, written by output.c.
#pragma once

#include <petscsys.h>

#define PG_ROW_MAX 128

typedef struct {
  int    n;
  char   name[PG_ROW_MAX][32];
  double value[PG_ROW_MAX];
} PgRow;

/// Appends column name, or replaces its value if the row has it.
PetscErrorCode PgRowSet(PgRow *row, const char *name, double value);
/// The value of column name, if the row has it.
PetscBool PgRowGet(const PgRow *row, const char *name, double *value);
