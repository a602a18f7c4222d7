/// \file
/// The run's summary row (row.h): a linear search over at most PG_ROW_MAX names; no communication.
#include <plurigauss/row.h>

#include <string.h>

PetscErrorCode PgRowSet(PgRow *row, const char *name, double value)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < row->n; i++)
    if (!strcmp(row->name[i], name)) {
      row->value[i] = value;
      PetscFunctionReturn(0);
    }
  PetscCheck(row->n < PG_ROW_MAX, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "too many columns");
  PetscCheck(strlen(name) < sizeof row->name[0], PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "column name %s too long", name);
  snprintf(row->name[row->n], sizeof row->name[0], "%s", name);
  row->value[row->n++] = value;
  PetscFunctionReturn(0);
}

PetscBool PgRowGet(const PgRow *row, const char *name, double *value)
{
  for (int i = 0; i < row->n; i++)
    if (!strcmp(row->name[i], name)) {
      *value = row->value[i];
      return PETSC_TRUE;
    }
  return PETSC_FALSE;
}
