#!/usr/bin/env python3
"""Generation benchmark: the fields against their bare transforms.

For N^3 with N in {128, 256, 384, 512}, single and double precision, and the layouts
1 rank x 1 thread, 2 ranks x 1 thread, 1 rank x 2 threads, runs bin/plurigauss with
-fft_time_bare so that the bare FFTW-MPI transform (the floor of generation) is timed in the
same process right before the realizations. Records, per configuration:
  t_generate_s     median over the realizations of the generate stage (noise + transform)
  t_bare_fft_s     best of 3 bare transforms of the same plan
  ratio            t_generate_s / t_bare_fft_s   (target <= 1.5)
  voxels_per_s_per_core
  peak_bytes_per_voxel   VmHWM of the largest rank / voxels per rank (includes MPI/PETSc baseline)
  t_threshold_s
Writes benchmarks/bench_generate.csv and prints a markdown table.
Usage: /usr/bin/python3 benchmarks/bench_generate.py [--sizes 128,256] [--reps 3]
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(n, prec, ranks, threads, reps, tmp):
    out = os.path.join(tmp, f"bench_{n}_{prec}_{ranks}x{threads}.h5")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin/plurigauss"),
           os.path.join(ROOT, "inputs/nvp_paper.yaml"), "-domain_shape", f"{n},{n},{n}", "-sweep_realizations", str(reps),
           "-output_write_phase", "false", "-output_precision", prec, "-output_file", out, "-output_overwrite",
           "-fft_time_bare", "-fft_planner", "measure", "-threads", str(threads), "-measure_covariance", "false",
           "-measure_intrinsic", "false"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    rows = list(csv.DictReader(open(out[:-3] + ".csv")))
    with h5py.File(out, "r") as f:
        bare = float(f["model"].attrs["t_bare_fft_s"])
    os.remove(out)
    tgen = statistics.median(float(r["t_generate_s"]) for r in rows)
    tthr = statistics.median(float(r["t_threshold_s"]) for r in rows)
    peak = max(float(r["peak_rss_bytes_per_voxel"]) for r in rows)
    return dict(n=n, precision=prec, ranks=ranks, threads=threads, t_generate_s=round(tgen, 4), t_bare_fft_s=round(bare, 4),
                ratio=round(tgen / bare, 3), voxels_per_s_per_core=int(n ** 3 / tgen / (ranks * threads)),
                peak_bytes_per_voxel=round(peak, 2), t_threshold_s=round(tthr, 4))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="128,256,384,512")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks/bench_generate.csv"))
    a = ap.parse_args()
    tmp = os.path.join(ROOT, "out")
    os.makedirs(tmp, exist_ok=True)
    res = []
    for n in map(int, a.sizes.split(",")):
        for prec in ("single", "double"):
            for ranks, threads in ((1, 1), (2, 1), (1, 2)):
                r = run(n, prec, ranks, threads, a.reps, tmp)
                print(r, flush=True)
                res.append(r)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(res[0].keys()))
        w.writeheader()
        w.writerows(res)
    print("\n| N | precision | ranks x threads | generate s | bare FFT s | ratio | voxels/s/core | peak B/voxel |")
    print("|---|---|---|---|---|---|---|---|")
    for r in res:
        print(f"| {r['n']} | {r['precision']} | {r['ranks']} x {r['threads']} | {r['t_generate_s']} | {r['t_bare_fft_s']} | "
              f"{r['ratio']} | {r['voxels_per_s_per_core']:.3g} | {r['peak_bytes_per_voxel']} |")


if __name__ == "__main__":
    main()
