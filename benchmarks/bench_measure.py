#!/usr/bin/env python3
"""Descriptor benchmark: intrinsic volumes and coverage functions.

For N^3 with N in {256, 384} at 1 and 2 ranks, times the measure stage of model realizations with
one descriptor switched on at a time, beside the generation of the same run (single precision):
  intrinsic   the 2x2x2 configuration histograms: one pass over the labels, reported as voxels
              per second per core;
  covariance  the two-point coverage functions by FFT, reported against the bare r2c/c2r
              transforms it performs (bench_fft-style floor measured by the stage itself when
              available in the CSV as t_cov_fft_s).
Writes benchmarks/bench_measure.csv and prints a markdown table.
Usage: /usr/bin/python3 benchmarks/bench_measure.py [--sizes 256,384] [--reps 2]
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(n, ranks, stage, reps, tmp):
    out = os.path.join(tmp, f"bm_{n}_{ranks}_{stage}.h5")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin/plurigauss"),
           os.path.join(ROOT, "inputs/nvp_paper.yaml"), "-domain_shape", f"{n},{n},{n}", "-sweep_realizations", str(reps),
           "-output_write_phase", "false", "-output_file", out, "-output_overwrite",
           "-measure_intrinsic", "true" if stage == "intrinsic" else "false",
           "-measure_covariance", "true" if stage == "covariance" else "false"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    rows = list(csv.DictReader(open(out[:-3] + ".csv")))
    os.remove(out)
    med = lambda c: statistics.median(float(r[c]) for r in rows) if c in rows[0] else float("nan")
    return dict(n=n, ranks=ranks, stage=stage, t_generate_s=round(med("t_generate_s"), 4), t_measure_s=round(med("t_measure_s"), 4),
                t_cov_fft_s=round(med("t_cov_fft_s"), 4), peak_bytes_per_voxel=round(max(float(r["peak_rss_bytes_per_voxel"]) for r in rows), 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,384")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks/bench_measure.csv"))
    a = ap.parse_args()
    tmp = os.path.join(ROOT, "out")
    os.makedirs(tmp, exist_ok=True)
    res = []
    for n in map(int, a.sizes.split(",")):
        for ranks in (1, 2):
            base = run(n, ranks, "none", a.reps, tmp)
            for stage in ("intrinsic", "covariance"):
                r = run(n, ranks, stage, a.reps, tmp)
                r["t_stage_s"] = round(r["t_measure_s"] - base["t_measure_s"], 4)  # minus the volume-fraction pass
                r["stage_over_generate"] = round(r["t_stage_s"] / r["t_generate_s"], 3)
                r["voxels_per_s_per_core"] = int(n ** 3 / max(r["t_stage_s"], 1e-9) / ranks)
                r["stage_over_fft"] = round(r["t_stage_s"] / r["t_cov_fft_s"], 3) if r["t_cov_fft_s"] == r["t_cov_fft_s"] and r["t_cov_fft_s"] > 0 else ""
                print(r, flush=True)
                res.append(r)
    keys = list(res[0].keys())
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(res)
    print("\n| N | ranks | stage | stage s | generate s | stage / generate | stage / its FFTs | voxels/s/core | peak B/voxel |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res:
        print(f"| {r['n']} | {r['ranks']} | {r['stage']} | {r['t_stage_s']} | {r['t_generate_s']} | {r['stage_over_generate']} | "
              f"{r['stage_over_fft']} | {r['voxels_per_s_per_core']:.3g} | {r['peak_bytes_per_voxel']} |")


if __name__ == "__main__":
    main()
