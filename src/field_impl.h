/* Precision-generic body of field.c, included once per precision with
 *   R       the real type (double or float)
 *   FX(f)   the FFTW name prefix (fftw_##f or fftwf_##f)
 *   SFX(f)  the suffix of local functions (f##_d or f##_s)
 *   M(f)    the libm function of that precision (f or f##f)
 * Not a public header. */

typedef R SFX(Cplx)[2];

/* Hermitian white noise times sqrt(Lambda/N), drawn in the transposed Fourier layout
 * [ky local][kz][kx]. Each k and its partner -k read the same Philox counter (the smaller
 * global index of the pair), so A(-k) = conj A(k) and the transform is real, whichever rank holds
 * either frequency. */
static void SFX(FillSpectrum)(PgField f, uint64_t seed)
{
  const PgGrid_s *g    = f->grid;
  const ptrdiff_t nx   = g->n[0], ny = g->n[1], nz = g->n[2];
  SFX(Cplx)      *buf  = (SFX(Cplx) *)f->buf;
  const double    norm = 1.0 / PgGridGlobalVoxels(g);
  philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};

#pragma omp parallel for collapse(2) schedule(static) num_threads(g->threads)
  for (ptrdiff_t jy = 0; jy < g->nky_local; jy++) {
    for (ptrdiff_t kz = 0; kz < nz; kz++) {
      const ptrdiff_t ky = g->ky_start + jy, my = (ny - ky) % ny, mz = (nz - kz) % nz;
      const double    syz_x = f->eig_x[1][ky] * f->eig_x[2][kz] * norm, syz_y = f->eig_y[1][ky] * f->eig_y[2][kz] * norm;
      SFX(Cplx)      *row   = buf + ((size_t)jy * (size_t)nz + (size_t)kz) * (size_t)nx;
      for (ptrdiff_t kx = 0; kx < nx; kx++) {
        const ptrdiff_t mx  = (nx - kx) % nx;
        const uint64_t  gk  = ((uint64_t)ky * (uint64_t)nz + (uint64_t)kz) * (uint64_t)nx + (uint64_t)kx;
        const uint64_t  gm  = ((uint64_t)my * (uint64_t)nz + (uint64_t)mz) * (uint64_t)nx + (uint64_t)mx;
        const uint64_t  c   = gk < gm ? gk : gm;
        philox4x32_ctr_t ctr = {{(uint32_t)c, (uint32_t)(c >> 32), 0x5047u, 0}};
        philox4x32_ctr_t u   = philox4x32(ctr, key);
        /* Box-Muller, one complex normal per field: modulus sqrt(-2 ln u), phase 2 pi u' */
        const R ra = M(sqrt)(-2 * M(log)(PG_U01(R, u.v[0]))), ta = (R)(2 * M_PI) * PG_U01(R, u.v[1]);
        const R rb = M(sqrt)(-2 * M(log)(PG_U01(R, u.v[2]))), tb = (R)(2 * M_PI) * PG_U01(R, u.v[3]);
        R       ar = ra * M(cos)(ta), ai = ra * M(sin)(ta), br = rb * M(cos)(tb), bi = rb * M(sin)(tb);
        if (gk == gm) { /* self-conjugate frequency: real N(0,1) */
          ai = bi = 0;
        } else {
          const R h = (R)M_SQRT1_2;
          ar *= h;
          br *= h;
          ai *= (gk == c) ? h : -h; /* the partner takes the conjugate */
          bi *= (gk == c) ? h : -h;
        }
        const R sx = (R)sqrt(f->eig_x[0][kx] * syz_x), sy = (R)sqrt(f->eig_y[0][kx] * syz_y);
        /* F = sqrt(Lx) A + i sqrt(Ly) B  ->  IDFT(F) = X + i Y */
        row[kx][0] = sx * ar - sy * bi;
        row[kx][1] = sx * ai + sy * br;
      }
    }
  }
}

static PetscErrorCode SFX(Plan)(PgField f, unsigned flags)
{
  const PgGrid_s *g = f->grid;

  PetscFunctionBeginUser;
  if (f->wisdom[0]) {
    int ok = 0;
    if (g->rank == 0) ok = FX(import_wisdom_from_filename)(f->wisdom);
    (void)ok; /* a missing wisdom file is not an error: it is written below */
    FX(mpi_broadcast_wisdom)(g->comm);
  }
  if (g->threads > 1) FX(plan_with_nthreads)(g->threads);
  f->plan = FX(mpi_plan_dft_3d)(g->n[2], g->n[1], g->n[0], (FX(complex) *)f->buf, (FX(complex) *)f->buf, g->comm, FFTW_BACKWARD, flags | FFTW_MPI_TRANSPOSED_IN);
  PetscCheck(f->plan, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan the %td x %td x %td transform", (ptrdiff_t)g->n[2], (ptrdiff_t)g->n[1], (ptrdiff_t)g->n[0]);
  if (f->wisdom[0]) {
    FX(mpi_gather_wisdom)(g->comm);
    if (g->rank == 0 && !FX(export_wisdom_to_filename)(f->wisdom)) PetscCall(PetscInfo(NULL, "could not write FFTW wisdom %s\n", f->wisdom));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode SFX(Alloc)(PgField f)
{
  PetscFunctionBeginUser;
  f->buf = FX(malloc)(sizeof(SFX(Cplx)) * (size_t)PetscMax(f->grid->alloc_complex, 1));
  PetscCheck(f->buf, PETSC_COMM_SELF, PETSC_ERR_MEM, "cannot allocate %zu bytes for the field", sizeof(SFX(Cplx)) * (size_t)f->grid->alloc_complex);
  f->bytes = sizeof(SFX(Cplx)) * (size_t)f->grid->alloc_complex;
  PetscFunctionReturn(0);
}
