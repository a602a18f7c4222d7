#!/usr/bin/env python3
"""Segmentation filters (src/segment.c) on a grey stack of N x N x NZ voxels (16 x 16 x 20 nm, the
paper's FIB-SEM voxels), at 1 and 2 ranks, through the C driver bin/test_segment: wall time of the
slowest rank, ns per voxel, the work per voxel (neighbourhood voxels k or sliding-histogram rows R
plus bins B), and the 2-rank speed-up. Writes benchmarks/bench_segment.csv and a markdown table.

Usage: /usr/bin/python3 benchmarks/bench_segment.py [--n 512] [--nz 64]"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
VOXEL = (0.016, 0.016, 0.020)

# name, driver options, work per voxel (description)
CASES = [
    ("median r=25 nm, per slice", ["-filter", "median", "-radius", "0.025"], "k = 9"),
    ("median r=40 nm, 3D", ["-filter", "median", "-radius", "0.04", "-in3d"], "k = 49"),
    ("local Otsu r=0.5 um, per slice", ["-filter", "otsu", "-radius", "0.5", "-bins", "256"], "2 x 63 rows + B = 256 bins (window 3069)"),
    ("local Otsu r=0.25 um, 3D", ["-filter", "otsu", "-radius", "0.25", "-bins", "256", "-in3d"], "2 x 615 rows + B = 256 bins (window 12793)"),
    ("global Otsu", ["-filter", "otsu", "-radius", "0", "-bins", "256"], "1 + one allreduce"),
    ("Mexican hat sigma=16 nm, 3D", ["-filter", "hat", "-sigma", "0.016", "-weight", "1", "-in3d"], "3 terms x 3 passes x 7 taps"),
    ("majority 3x3x3", ["-filter", "majority", "-kind", "1", "-in3d"], "k = 27"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--nz", type=int, default=64)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    shape = (a.nz, a.n, a.n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        grey = os.path.join(tmp, "g.f32")
        lab = os.path.join(tmp, "l.u8")
        (rng.integers(0, 200, size=shape).astype(np.float32)).tofile(grey)
        rng.integers(0, 4, size=shape).astype(np.uint8).tofile(lab)
        for name, opts, work in CASES:
            t = {}
            for ranks in (1, 2):
                src = lab if "majority" in opts else grey
                cmd = ["mpirun", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin", "test_segment"), "-n", f"{a.n},{a.n},{a.nz}",
                       "-voxel", ",".join(map(str, VOXEL)), "-in", src, "-out", os.path.join(tmp, "o.raw")] + opts
                p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
                if p.returncode:
                    sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
                t[ranks] = float([l.split()[1] for l in p.stdout.splitlines() if l.startswith("t_filter")][0])
            nvox = a.n * a.n * a.nz
            rows.append(dict(filter=name, voxels=nvox, work_per_voxel=work, t1_s=t[1], t2_s=t[2], ns_per_voxel_1=1e9 * t[1] / nvox, speedup_2=t[1] / t[2]))
            print(rows[-1], flush=True)
    with open(os.path.join(ROOT, "benchmarks", "bench_segment.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("| filter | work per voxel | 1 rank s | ns/voxel | 2 ranks s | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['filter']} | {r['work_per_voxel']} | {r['t1_s']:.2f} | {r['ns_per_voxel_1']:.0f} | {r['t2_s']:.2f} | {r['speedup_2']:.2f} |")


if __name__ == "__main__":
    main()
