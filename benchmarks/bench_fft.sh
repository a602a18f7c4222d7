#!/bin/sh
# Why does a 2-rank FFTW-MPI transform lose on a 2-core machine? Times bare c2r transforms of
# 256^3 (double) at 1 rank, 2 ranks and 1 rank x 2 threads, with FFTW's planners and layouts, with
# glibc's default malloc (large blocks from mmap) and with large blocks kept on the heap.
# Usage: sh benchmarks/bench_fft.sh [N]   -> benchmarks/bench_fft.csv
set -e
cd "$(dirname "$0")/.."
N=${1:-256}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
make --no-print-directory bin/bench_fft >/dev/null
out=benchmarks/bench_fft.csv
echo "n,ranks,threads,planner,layout,t_mpi_s,t_serial_s,malloc" > $out
for heap in mmap heap; do
  if [ $heap = heap ]; then envs="-x MALLOC_MMAP_MAX_=0 -x MALLOC_TRIM_THRESHOLD_=-1"; export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=-1; else envs=""; fi
  for pl in estimate measure; do
    for lay in plain transposed; do
      for cfg in "1 1" "1 2" "2 1"; do
        set -- $cfg
        line=$(mpirun --bind-to none $envs -np $1 bin/bench_fft $N $pl $lay $2)
        echo "$line,$heap" | tee -a $out
      done
    done
  done
  unset MALLOC_MMAP_MAX_ MALLOC_TRIM_THRESHOLD_
done
