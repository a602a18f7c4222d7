/// \file
/// Stage markers: one call enters (or leaves) a stage both for PETSc's log (-log_view) and for an
/// MPI profiling library. The profiling mark is MPI_Pcontrol, the standard hook for such libraries
/// (a no-op without one): MPI_Pcontrol(1, "name") enters stage "name", MPI_Pcontrol(-1) leaves the
/// innermost one. benchmarks/commcount.c counts the bytes and calls of every MPI function per stage
/// this way (the names are those of the run table's t_NAME_s columns where there is one).
#pragma once

#include <petscsys.h>

/// Pushes the PETSc log stage and enters the profiling stage name.
static inline PetscErrorCode PgStagePush(PetscLogStage stage, const char *name)
{
  PetscFunctionBegin;
  PetscCall(PetscLogStagePush(stage));
  PetscCallMPI(MPI_Pcontrol(1, name));
  PetscFunctionReturn(0);
}

/// Leaves the innermost profiling stage and pops the PETSc log stage.
static inline PetscErrorCode PgStagePop(void)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Pcontrol(-1));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(0);
}

/// Begins the PETSc log event and enters the profiling stage name.
static inline PetscErrorCode PgEventBegin(PetscLogEvent event, const char *name)
{
  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
  PetscCallMPI(MPI_Pcontrol(1, name));
  PetscFunctionReturn(0);
}

/// Leaves the innermost profiling stage and ends the PETSc log event.
static inline PetscErrorCode PgEventEnd(PetscLogEvent event)
{
  PetscFunctionBegin;
  PetscCallMPI(MPI_Pcontrol(-1));
  PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}
