#!/usr/bin/env python3
"""The scaling table of jobs/strong_scaling.sbatch and jobs/weak_scaling.sbatch (any python3, no
numpy).

  scaling_table.py append TABLE --kind strong|weak --csv RUN.csv --log RUN.log --nodes N --ranks R
                   --threads T --shape NX,NY,NZ [--precision P] [--launcher L] [--job ID]
      adds one row for a finished plurigauss run (its CSV and its stdout): medians over the
      realizations of t_generate_s and t_threshold_s, the bare FFT time (the floor of generation,
      from -fft_time_bare), voxels per second per core, peak bytes per voxel. Appends under a lock,
      so jobs may share a table.
  scaling_table.py show TABLE
      prints the table in markdown with speedup and parallel efficiency of the generate stage,
      against the row with the fewest cores of the same kind, shape (strong) or voxels per rank
      (weak) and precision: strong E = t1 c1 / (t c), weak E = t1 / t.
"""
import argparse
import csv
import fcntl
import os
import re
import statistics
import sys
import time

COLUMNS = ["date", "job", "kind", "launcher", "nodes", "ranks", "threads", "cores", "nx", "ny", "nz", "voxels", "voxels_per_rank", "precision",
           "realizations", "t_generate_s", "t_bare_fft_s", "ratio", "t_threshold_s", "voxels_per_s_per_core", "peak_bytes_per_voxel"]


def bare_fft_seconds(a):
    """/model t_bare_fft_s of the HDF5 output (with h5py), else the 3 decimals of the log line."""
    h5 = os.path.splitext(a.csv)[0] + ".h5"
    try:
        import h5py
        with h5py.File(h5, "r") as f:
            return float(f["model"].attrs["t_bare_fft_s"])
    except Exception:  # no h5py, no file: the log
        pass
    with open(a.log, errors="replace") as f:
        m = re.findall(r"bare FFT \(the floor of generation\) ([0-9.eE+-]+) s", f.read())
    return float(m[-1]) if m else float("nan")


def append(a):
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"scaling_table: {a.csv} has no runs")
    bare = bare_fft_seconds(a)
    nx, ny, nz = (int(x) for x in a.shape.split(","))
    vox = nx * ny * nz
    cores = a.ranks * a.threads
    tgen = statistics.median(float(r["t_generate_s"]) for r in rows)
    row = dict(date=time.strftime("%Y-%m-%dT%H:%M:%S"), job=a.job, kind=a.kind, launcher=a.launcher, nodes=a.nodes, ranks=a.ranks, threads=a.threads,
               cores=cores, nx=nx, ny=ny, nz=nz, voxels=vox, voxels_per_rank=vox // a.ranks, precision=a.precision, realizations=len(rows),
               t_generate_s=f"{tgen:.4g}", t_bare_fft_s=f"{bare:.4g}", ratio=f"{tgen / bare:.3g}" if bare == bare and bare > 0 else "nan",
               t_threshold_s=f"{statistics.median(float(r['t_threshold_s']) for r in rows):.4g}",
               voxels_per_s_per_core=f"{vox / tgen / cores:.4g}", peak_bytes_per_voxel=f"{max(float(r['peak_rss_bytes_per_voxel']) for r in rows):.3g}")
    os.makedirs(os.path.dirname(os.path.abspath(a.table)), exist_ok=True)
    with open(a.table, "a+", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0, os.SEEK_END)
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        if f.tell() == 0:
            w.writeheader()
        w.writerow(row)
    print(f"scaling_table: {a.kind} {a.nodes} node(s) x {a.ranks} rank(s) x {a.threads} thread(s), {nx}x{ny}x{nz}: generate {tgen:.4g} s, "
          f"bare FFT {bare:.4g} s -> {a.table}")


def show(a):
    with open(a.table) as f:
        rows = list(csv.DictReader(f))
    groups = {}
    for r in rows:
        key = (r["kind"], r["precision"], (r["nx"], r["ny"], r["nz"]) if r["kind"] == "strong" else r["voxels_per_rank"])
        groups.setdefault(key, []).append(r)
    print("| kind | nodes | ranks | threads | grid | precision | t_generate_s | t_bare_fft_s | ratio | voxels/s/core | speedup | efficiency | bytes/voxel |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, g in groups.items():
        g.sort(key=lambda r: (int(r["cores"]), r["date"]))
        base = g[0]
        t1, c1 = float(base["t_generate_s"]), int(base["cores"])
        for r in g:
            t, c = float(r["t_generate_s"]), int(r["cores"])
            if r["kind"] == "strong":
                speedup, eff = t1 / t, t1 * c1 / (t * c)
            else:  # weak: c/c1 times the work in the same time is ideal
                speedup, eff = t1 / t * c / c1, t1 / t
            print(f"| {r['kind']} | {r['nodes']} | {r['ranks']} | {r['threads']} | {r['nx']}x{r['ny']}x{r['nz']} | {r['precision']} | {r['t_generate_s']} | "
                  f"{r['t_bare_fft_s']} | {r['ratio']} | {float(r['voxels_per_s_per_core']):.3g} | {speedup:.2f} | {eff:.2f} | {r['peak_bytes_per_voxel']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("append")
    p.add_argument("table")
    p.add_argument("--kind", choices=["strong", "weak"], required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--ranks", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--shape", required=True)
    p.add_argument("--precision", default="single")
    p.add_argument("--launcher", default="")
    p.add_argument("--job", default="")
    s = sub.add_parser("show")
    s.add_argument("table")
    a = ap.parse_args()
    append(a) if a.cmd == "append" else show(a)


if __name__ == "__main__":
    main()
