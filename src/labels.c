/// \file
/// Label volumes. Volume fractions are voxel counts (eq. 1 with W the grid): one pass over the
/// local slab and one MPI_Allreduce of four counts.
#include <plurigauss/labels.h>

PetscErrorCode PgLabelsCreate(PgGrid grid, PgLabels *labels)
{
  PgLabels l;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&l));
  l->grid = grid;
  PetscCall(PetscMalloc1(PetscMax(PgGridLocalVoxels(grid), 1), &l->v));
  *labels = l;
  PetscFunctionReturn(0);
}

PetscErrorCode PgLabelsDestroy(PgLabels *labels)
{
  PetscFunctionBeginUser;
  if (!*labels) PetscFunctionReturn(0);
  PetscCall(PetscFree((*labels)->v));
  PetscCall(PetscFree(*labels));
  PetscFunctionReturn(0);
}

PetscErrorCode PgLabelsVolumeFractions(PgLabels l, double eps[PG_NPHASES])
{
  const size_t n        = PgGridLocalVoxels(l->grid);
  int64_t      count[4] = {0, 0, 0, 0}, total[4];
  const int    nthreads = l->grid->threads;

  PetscFunctionBeginUser;
#pragma omp parallel for reduction(+ : count[:4]) num_threads(nthreads)
  for (size_t i = 0; i < n; i++) {
    const unsigned c = l->v[i];
    count[c <= 3 ? c : 0]++;
  }
  PetscCallMPI(MPI_Allreduce(count, total, 4, MPI_INT64_T, MPI_SUM, l->grid->comm));
  PetscCheck(total[0] == 0, l->grid->comm, PETSC_ERR_PLIB, "%lld voxels carry a label outside {1,2,3}",
             (long long)total[0]);
  for (int p = 0; p < PG_NPHASES; p++) eps[p] = (double)total[p + 1] / PgGridGlobalVoxels(l->grid);
  PetscFunctionReturn(0);
}
