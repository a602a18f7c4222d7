/* Bare FFTW transforms of the kind plurigauss performs, to answer: why can an FFTW-MPI transform
 * on 2 ranks of a 2-core machine be slower than on 1 rank, while threads speed it up?
 *
 *   mpirun -np P bench_fft N [estimate|measure] [transposed|plain] [threads]
 *
 * Times (best of 5) one in-place c2r transform of N^3 in double precision with FFTW-MPI, with
 * the input in transposed order (FFTW_MPI_TRANSPOSED_IN, one global transpose) or in normal order
 * (two global transposes), and, on one rank, the serial FFTW transform with `threads` threads.
 * Prints one CSV line: n,ranks,threads,planner,layout,t_mpi_s,t_serial_s */
#include <fftw3-mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double Best(void (*run)(void *), void *ctx, MPI_Comm comm)
{
  double best = 1e30;
  for (int i = 0; i < 5; i++) {
    MPI_Barrier(comm);
    double t = MPI_Wtime();
    run(ctx);
    MPI_Barrier(comm);
    t = MPI_Wtime() - t;
    if (t < best) best = t;
  }
  return best;
}

static void Exec(void *p) { fftw_execute((fftw_plan)p); }

int main(int argc, char **argv)
{
  int provided, rank, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ptrdiff_t n          = argc > 1 ? atol(argv[1]) : 256;
  unsigned  flags      = (argc > 2 && !strcmp(argv[2], "measure")) ? FFTW_MEASURE : FFTW_ESTIMATE;
  int       transposed = !(argc > 3 && !strcmp(argv[3], "plain"));
  int       threads    = argc > 4 ? atoi(argv[4]) : 1;
  fftw_init_threads();
  fftw_mpi_init();
  fftw_plan_with_nthreads(threads);

  ptrdiff_t     l0, s0, l1, s1, nh = n / 2 + 1;
  ptrdiff_t     alloc = fftw_mpi_local_size_3d_transposed(n, n, nh, MPI_COMM_WORLD, &l0, &s0, &l1, &s1);
  fftw_complex *a     = fftw_alloc_complex(alloc);
  fftw_plan     p     = fftw_mpi_plan_dft_c2r_3d(n, n, n, a, (double *)a, MPI_COMM_WORLD,
                                                 flags | (transposed ? FFTW_MPI_TRANSPOSED_IN : 0));
  for (ptrdiff_t i = 0; i < alloc; i++) a[i][0] = a[i][1] = 1e-3 * (double)(i % 97);
  double t_mpi = Best(Exec, p, MPI_COMM_WORLD);
  fftw_destroy_plan(p);
  fftw_free(a);

  double t_ser = -1;
  if (size == 1) {
    fftw_complex *b = fftw_alloc_complex((size_t)n * n * nh);
    fftw_plan     q = fftw_plan_dft_c2r_3d((int)n, (int)n, (int)n, b, (double *)b, flags);
    for (ptrdiff_t i = 0; i < n * n * nh; i++) b[i][0] = b[i][1] = 1e-3 * (double)(i % 97);
    t_ser = Best(Exec, q, MPI_COMM_WORLD);
    fftw_destroy_plan(q);
    fftw_free(b);
  }
  if (rank == 0)
    printf("%td,%d,%d,%s,%s,%.4f,%.4f\n", n, size, threads, flags == FFTW_MEASURE ? "measure" : "estimate",
           transposed ? "transposed" : "plain", t_mpi, t_ser);
  fftw_mpi_cleanup();
  MPI_Finalize();
  return 0;
}
