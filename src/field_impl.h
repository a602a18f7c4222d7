/* Precision-generic body of field.c, included once per precision with
 *   R       the real type (double or float)
 *   FX(f)   the FFTW name prefix (fftw_##f or fftwf_##f)
 *   SFX(f)  the name of local functions per precision (f##_d or f##_s; PgNoiseRow_d is
 *           PgNoiseRowDouble)
 * Not a public header. */

/* White noise times sqrt(Lambda/N) on the half spectra of X and Y, in the transposed Fourier
 * layout [ky local][kz][kx <= nx/2], one row (ky, kz) at a time (noise.c). */
/* mode 0: X and Y into buf[0], buf[1]; mode 1: X into buf[0]; mode 2: Z = sqrt(m) X + sqrt(1-m) Y
 * into buf[0] (one-buffer generation). */
static PetscErrorCode SFX(FillSpectrum)(PgField f, uint64_t seed, int mode, double m)
{
  const PgGrid_s *g  = f->grid;
  const ptrdiff_t nx = g->n[0], ny = g->n[1], nz = g->n[2], nh = nx / 2 + 1;
  const double    norm = 1.0 / PgGridGlobalVoxels(g);
  R              *bx = (R *)f->buf[0], *by = (R *)f->buf[1]; /* by is NULL with one buffer */
  PetscErrorCode  ierr = 0;

  PetscFunctionBeginUser;
#pragma omp parallel num_threads(g->threads) reduction(| : ierr)
  {
    /* per thread: the row's scalings and the noise scratch (4 words + 1 byte per kx) */
    R        *sx      = (R *)malloc(sizeof(R) * 2 * (size_t)nh);
    uint32_t *scratch = (uint32_t *)malloc(sizeof(uint32_t) * 5 * (size_t)nh);
    if (!sx || !scratch) ierr = 1;
    else {
#pragma omp for collapse(2) schedule(static)
      for (ptrdiff_t jy = 0; jy < g->nky_local; jy++) {
        for (ptrdiff_t kz = 0; kz < nz; kz++) {
          const ptrdiff_t ky = g->ky_start + jy, my = (ny - ky) % ny, mz = (nz - kz) % nz;
          const double    syz_x = sqrt(f->eig_x[1][ky] * f->eig_x[2][kz] * norm),
                       syz_y    = sqrt(f->eig_y[1][ky] * f->eig_y[2][kz] * norm);
          for (ptrdiff_t kx = 0; kx < nh; kx++) {
            sx[kx]      = (R)(f->sqrt_eig_x0[kx] * syz_x);
            sx[nh + kx] = (R)(f->sqrt_eig_y0[kx] * syz_y);
          }
          const size_t off = 2 * ((size_t)jy * (size_t)nz + (size_t)kz) * (size_t)nh;
          PgNoiseRow   row = {seed,
                              ((uint64_t)ky * (uint64_t)nz + (uint64_t)kz) * (uint64_t)nx,
                              ((uint64_t)my * (uint64_t)nz + (uint64_t)mz) * (uint64_t)nx,
                              nx,
                              sx,
                              sx + nh};
          if (mode == 0) SFX(PgNoiseRow)(&row, bx + off, by + off, scratch);
          else if (mode == 1) SFX(PgNoiseRowX)(&row, (R)1, (R)0, bx + off, scratch);
          else SFX(PgNoiseRowSum)(&row, (R)sqrt(m), (R)sqrt(1 - m), bx + off, scratch);
        }
      }
    }
    free(sx);
    free(scratch);
  }
  PetscCheck(!ierr, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory for the noise scratch");
  PetscFunctionReturn(0);
}

static PetscErrorCode SFX(Plan)(PgField f, unsigned flags)
{
  const PgGrid_s *g = f->grid;

  PetscFunctionBeginUser;
  if (f->wisdom[0]) {
    if (g->rank == 0) (void)FX(import_wisdom_from_filename)(f->wisdom); /* missing: written below */
    FX(mpi_broadcast_wisdom)(g->comm);
  }
  if (g->threads > 1) FX(plan_with_nthreads)(g->threads);
  f->plan = FX(mpi_plan_dft_c2r_3d)(g->n[2], g->n[1], g->n[0], (FX(complex) *)f->buf[0], (R *)f->buf[0], g->comm,
                                    flags | FFTW_MPI_TRANSPOSED_IN);
  PetscCheck(f->plan, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan the %td x %td x %td transform",
             (ptrdiff_t)g->n[2], (ptrdiff_t)g->n[1], (ptrdiff_t)g->n[0]);
  if (f->wisdom[0]) {
    FX(mpi_gather_wisdom)(g->comm);
    if (g->rank == 0 && !FX(export_wisdom_to_filename)(f->wisdom))
      PetscCall(PetscInfo(NULL, "could not write FFTW wisdom %s\n", f->wisdom));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SFX(Alloc)(PgField f)
{
  const size_t bytes = sizeof(FX(complex)) * (size_t)PetscMax(f->grid->alloc_r2c, 1);

  PetscFunctionBeginUser;
  for (int i = 0; i < f->nbuf; i++) {
    f->buf[i] = FX(malloc)(bytes);
    PetscCheck(f->buf[i], PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate %zu bytes for a field", bytes);
  }
  f->bytes = (size_t)f->nbuf * bytes;
  PetscFunctionReturn(0);
}

static void SFX(Execute)(PgField f, int which)
{
  FX(mpi_execute_dft_c2r)((FX(plan))f->plan, (FX(complex) *)f->buf[which], (R *)f->buf[which]);
}

static void SFX(FreeBuffers)(PgField f)
{
  for (int i = 0; i < f->nbuf; i++) {
    FX(free)(f->buf[i]);
    f->buf[i] = NULL;
  }
}

static void SFX(Free)(PgField f)
{
  if (f->plan) FX(destroy_plan)((FX(plan))f->plan);
  for (int i = 0; i < f->nbuf; i++) FX(free)(f->buf[i]);
}
