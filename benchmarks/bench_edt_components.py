#!/usr/bin/env python3
"""Distance transform and connected components benchmark.

On an N^3 three-phase volume shaped like the model's (a Gaussian-filtered white noise, sigma 3
voxels, thresholded at fractions 0.5 / 0.3 / 0.2 for phases 1 / 2 / 3), runs the C drivers
bin/test_edt and bin/test_components (`make tests`) at 1 and 2 ranks and records, per
configuration:
  t_min_s, t_max_s     slowest rank, best and worst of --reps calls (the worst is the first call,
                       which also page-faults the output array in)
  ns_per_voxel         t_min_s * ranks / voxels (core-nanoseconds per voxel)
  bytes_per_voxel      (peak RSS of the largest rank - the same driver's peak on 8^3) / voxels per
                       rank: labels + the module's arrays (EDT: float output; components: int32 ids)
Writes benchmarks/bench_edt_components.csv and prints a markdown table.
Usage: /usr/bin/python3 benchmarks/bench_edt_components.py [--n 256] [--reps 5]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def volume(n, path):
    from scipy.ndimage import gaussian_filter
    f = gaussian_filter(np.random.default_rng(1).standard_normal((n, n, n)).astype(np.float32), 3.0, mode="wrap")
    lo, hi = np.quantile(f[::2, ::2, ::2], [0.2, 0.5])
    np.where(f > hi, 1, np.where(f < lo, 3, 2)).astype(np.uint8).tofile(path)


def run(ranks, exe, n, args):
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin", exe), "-n", f"{n},{n},{n}"] + [str(a) for a in args]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    return {l.split()[0]: [float(x) for x in l.split()[1:]] for l in p.stdout.splitlines() if l.split()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    for exe in ("test_edt", "test_components"):
        if not os.path.exists(os.path.join(ROOT, "bin", exe)):
            sys.exit(f"bin/{exe} is missing: run `make tests`")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        big, small = os.path.join(tmp, "v.u8"), os.path.join(tmp, "s.u8")
        volume(a.n, big)
        volume(8, small)
        configs = [("edt", "test_edt", p, ["-value", p]) for p in (1, 3)]
        configs += [(f"components{c}", "test_components", p, ["-value", p, "-conn", c]) for c in (6, 26) for p in (1, 3)]
        for ranks in (1, 2):
            for name, exe, phase, args in configs:
                base = run(ranks, exe, 8, ["-in", small] + args)["peak_bytes"][0]
                r = run(ranks, exe, a.n, ["-in", big, "-repeat", a.reps] + args)
                t = r[[k for k in r if k.endswith("_time_s")][0]]
                rows.append(dict(what=name, phase=phase, n=a.n, ranks=ranks, t_min_s=t[0], t_max_s=t[1],
                                 ns_per_voxel=t[0] * ranks / a.n ** 3 * 1e9,
                                 bytes_per_voxel=(r["peak_bytes"][0] - base) / (a.n ** 3 / ranks)))
    out = os.path.join(ROOT, "benchmarks", "bench_edt_components.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("| what | phase | N | ranks | t_min (s) | t_first (s) | core-ns/voxel | bytes/voxel |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['phase']} | {r['n']}^3 | {r['ranks']} | {r['t_min_s']:.3f} | {r['t_max_s']:.3f} | {r['ns_per_voxel']:.1f} | {r['bytes_per_voxel']:.2f} |")


if __name__ == "__main__":
    main()
