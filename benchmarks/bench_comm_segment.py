#!/usr/bin/env python3
"""Bytes exchanged by the segmentation and calibration stages, counted by the PMPI byte counter
(benchmarks/commcount.c, `make commcount`), as benchmarks/bench_comm.py counts the model pipeline.

Renders grey microscope data (tools/make_calibration_data.py --grey: a stack of nx x ny x nz voxels
and two 2D images of 512^2 pixels) and runs inputs/segment_example.yaml on it with the labels
handed to calibration (calibration.simulate = false: segment + calibrate only), oversubscribed:
  strong  a 128 x 128 x 128 stack at P = 1, 2, 4, 8, 16, 32
  weak    a 128 x 128 x 8P stack at P = 4, 8, 16, 32, 64 (8 planes per rank)
For every run the stages `segment` and `calibrate`: the largest bytes received by one rank, calls
per rank and the function receiving the most bytes. Writes benchmarks/bench_comm_segment.csv and
prints the tables in markdown (benchmarks/README.md, docs/communication.md).
With --stack-3d the stack is filtered in 3D (median and Otsu balls: ghost planes along z).
Usage: /usr/bin/python3 benchmarks/bench_comm_segment.py [--ranks 1,2,4,8,16,32] [--weak-ranks 4,8,16,32,64]
         [--stack-3d] [--out benchmarks/bench_comm_segment.csv]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_comm  # noqa: E402  (summarize, human)

ROOT = bench_comm.ROOT
STAGES = ["segment", "calibrate"]


def data(tmp, shape):
    path = os.path.join(tmp, "grey_" + "x".join(map(str, shape)) + ".h5")
    if not os.path.exists(path):
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make_calibration_data.py"), path, "--grey", "--seed", "3",
                        "--n3", ",".join(map(str, shape)), "--n2", "512", "--images", "2"], check=True, capture_output=True)
    return path


def run(tmp, ranks, shape, extra=()):
    d = data(tmp, shape)
    tag = f"{ranks}_{'x'.join(map(str, shape))}"
    comm = os.path.join(tmp, f"comm{tag}.csv")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), "-x", f"LD_PRELOAD={bench_comm.LIB}", "-x",
           f"PG_COMMCOUNT_OUT={comm}", "-x", "PG_COMMCOUNT_QUIET=1", "-x", "OMP_NUM_THREADS=1", os.path.join(ROOT, "bin", "plurigauss"),
           os.path.join(ROOT, "inputs", "segment_example.yaml"), "-segment_volume", f"{d}:/grey/volume",
           "-segment_images", f"{d}:/grey/images/0,{d}:/grey/images/1", "-segment_labels_file", os.path.join(tmp, f"labels{tag}.h5"),
           "-calibration_simulate", "false", "-output_file", os.path.join(tmp, f"o{tag}.h5"), "-output_overwrite"] + list(extra)
    t0 = time.time()
    p = subprocess.run(cmd, env=bench_comm.ENV, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0 or not os.path.exists(comm):
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    print(f"  {ranks:3d} ranks {'x'.join(map(str, shape))}: {time.time() - t0:.0f} s", flush=True)
    return bench_comm.summarize(comm, ranks)


def table(rows, kind, label):
    sel = [r for r in rows if r["kind"] == kind]
    ps = sorted({r["ranks"] for r in sel})
    cell = {(r["stage"], r["ranks"]): r for r in sel}
    lo = 4 if 4 in ps else ps[0]
    lines = [f"{label}: largest bytes received by one rank · calls per rank · function receiving the most bytes", "",
             "| stage | " + " | ".join(f"P = {p}" for p in ps) + f" | growth {lo} → {ps[-1]} |", "|---|" + "---|" * (len(ps) + 1)]
    for s in STAGES:
        cells = []
        for p in ps:
            r = cell.get((s, p))
            cells.append(f"{bench_comm.human(r['bytes_received_max'])} · {r['calls_max']} · {r['dominant_function'][4:]}" if r else "-")
        a, b = cell.get((s, lo)), cell.get((s, ps[-1]))
        g = f"{b['bytes_received_max'] / a['bytes_received_max']:.2f}×" if a and b and a["bytes_received_max"] else "-"
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {g} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", default="1,2,4,8,16,32")
    ap.add_argument("--weak-ranks", default="4,8,16,32,64")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "bench_comm_segment.csv"))
    ap.add_argument("--stack-3d", action="store_true", help="filter the stack in 3D (segment.stack_3d, median and Otsu balls of "
                    "0.1 um: ghost planes along z) instead of slice by slice")
    a = ap.parse_args()
    if not os.path.exists(bench_comm.LIB):
        sys.exit("bin/libcommcount.so is missing: make commcount")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pg_comm_seg_") as tmp:
        for kind, ranks, shape in [("strong", int(p), (128, 128, 128)) for p in a.ranks.split(",")] + \
                                  [("weak", int(p), (128, 128, 8 * int(p))) for p in a.weak_ranks.split(",")]:
            res = run(tmp, ranks, shape, ["-segment_stack_3d", "true", "-segment_stack_median_radius_um", "0.05",
                                          "-segment_stack_otsu_radius_um", "0.1"] if a.stack_3d else [])
            for s in STAGES:
                if s in res:
                    rows.append(dict(kind=kind, nx=shape[0], ny=shape[1], nz=shape[2], ranks=ranks, stage=s, **res[s]))
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(table(rows, "strong", "**Strong scaling, a 128³ grey stack + two 512² images**"))
    print()
    print(table(rows, "weak", "**Weak scaling, a 128 × 128 × 8P grey stack + two 512² images**"))


if __name__ == "__main__":
    main()
