#!/usr/bin/env python3
"""Strong and weak scaling of every stage of the program on this machine (issue: cluster use).

Runs bin/plurigauss on the paper's deck (`inputs/nvp_paper.yaml`: single precision, all
descriptors, one realization, `fft.time_bare` for the generation floor) in these configurations:
  strong  N^3 fixed (default 256^3): 1 rank, 2 ranks, and hybrid 1 rank x 2 threads
  weak    voxels per rank fixed: 192 x 192 x 192 on 1 rank, 192 x 192 x 384 on 2 ranks (each rank
          the same slab), and the hybrid 1 rank x 2 threads on the 2-rank volume
and records per stage (generate, threshold, covariance, components, opening, geodesic, conductivity, measure
total) the seconds of the run (from the CSV the program writes), voxels per second per core, the
ratio to the stage's floor where one is measured (generate: the bare transforms; covariance: its
own FFTs), the peak resident bytes per voxel, the parallel efficiency against the 1-core row
(strong E = t1 / (c t), weak E = t1 / t). Writes benchmarks/bench_scaling.csv and
benchmarks/scaling.png (time per stage and efficiency). The machine has 2 cores: 2-way runs
compete with anything else running; take ratios within one run of this script.
Usage: /usr/bin/python3 benchmarks/bench_scaling.py [--n 256] [--weak 192]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
STAGES = ["generate", "threshold", "covariance", "components", "opening", "geodesic", "conductivity", "measure"]


def run(tmp, ranks, threads, shape):
    import h5py
    out = os.path.join(tmp, f"s_{ranks}_{threads}_{'x'.join(map(str, shape))}.h5")
    cmd = ["mpirun", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin", "plurigauss"), os.path.join(ROOT, "inputs", "nvp_paper.yaml"),
           "-domain_shape", ",".join(map(str, shape)), "-sweep_realizations", "1", "-output_file", out, "-output_overwrite",
           "-output_write_phase", "false", "-threads", str(threads), "-fft_time_bare"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    with open(os.path.splitext(out)[0] + ".csv") as f:
        row = {k: float(v) for k, v in next(csv.DictReader(f)).items()}
    with h5py.File(out, "r") as f:
        bare = float(f["model"].attrs.get("t_bare_fft_s", float("nan")))
    return row, bare


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--weak", type=int, default=192)
    ap.add_argument("--plot-only", action="store_true", help="redraw scaling.png from bench_scaling.csv")
    a = ap.parse_args()
    if a.plot_only:
        rows = []
        for r in csv.DictReader(open(os.path.join(ROOT, "benchmarks", "bench_scaling.csv"))):
            for k in ("ranks", "threads", "cores", "nx", "ny", "nz"):
                r[k] = int(r[k])
            for k in ("seconds", "efficiency"):
                r[k] = float(r[k])
            rows.append(r)
        plot(rows, os.path.join(ROOT, "benchmarks", "scaling.png"))
        return
    n, w = a.n, a.weak
    configs = [("strong", 1, 1, (n, n, n)), ("strong", 2, 1, (n, n, n)), ("strong", 1, 2, (n, n, n)),
               ("weak", 1, 1, (w, w, w)), ("weak", 2, 1, (w, w, 2 * w)), ("weak", 1, 2, (w, w, 2 * w))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, ranks, threads, shape in configs:
            row, bare = run(tmp, ranks, threads, shape)
            vox = shape[0] * shape[1] * shape[2]
            cores = ranks * threads
            for st in STAGES:
                t = row.get(f"t_{st}_s", float("nan"))
                floor = bare if st == "generate" else (row.get("t_cov_fft_s", float("nan")) if st == "covariance" else float("nan"))
                rows.append(dict(kind=kind, ranks=ranks, threads=threads, cores=cores, nx=shape[0], ny=shape[1], nz=shape[2], stage=st,
                                 seconds=round(t, 4), voxels_per_s_per_core=f"{vox / t / cores:.3g}", floor_s=round(floor, 4),
                                 ratio_to_floor=round(t / floor, 2) if floor == floor else "", peak_bytes_per_voxel=round(row["peak_rss_bytes_per_voxel"], 1)))
            print(f"{kind} {ranks}x{threads} {shape}: " + ", ".join(f"{st} {row.get(f't_{st}_s', float('nan')):.2f}" for st in STAGES)
                  + f", bare FFT {bare:.3f}, peak {row['peak_rss_bytes_per_voxel']:.1f} B/voxel", flush=True)
    # efficiency against the 1-core row of the same kind
    for r in rows:
        base = next(b for b in rows if b["kind"] == r["kind"] and b["stage"] == r["stage"] and b["cores"] == 1)
        if r["kind"] == "strong":
            r["efficiency"] = round(base["seconds"] / (r["cores"] * r["seconds"]), 2)
        else:
            r["efficiency"] = round(base["seconds"] / r["seconds"], 2)
    path = os.path.join(ROOT, "benchmarks", "bench_scaling.csv")
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"wrote {path}")
    plot(rows, os.path.join(ROOT, "benchmarks", "scaling.png"))
    print("\n| kind | ranks × threads | shape | " + " | ".join(STAGES) + " | peak B/voxel |")
    print("|---|---|---|" + "---|" * len(STAGES) + "---|")
    for kind, ranks, threads, shape in configs:
        sel = {r["stage"]: r for r in rows if r["kind"] == kind and r["ranks"] == ranks and r["threads"] == threads}
        print(f"| {kind} | {ranks} × {threads} | {'×'.join(map(str, shape))} | " + " | ".join(f"{sel[s]['seconds']:.2f} s (E {sel[s]['efficiency']})" for s in STAGES)
              + f" | {sel['generate']['peak_bytes_per_voxel']} |")


def plot(rows, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, ("strong", "weak")):
        labels = []
        sel = [(r, t) for r, t in ((1, 1), (2, 1), (1, 2))]
        width = 0.26
        for j, (ranks, threads) in enumerate(sel):
            vals = [next(x for x in rows if x["kind"] == kind and x["ranks"] == ranks and x["threads"] == threads and x["stage"] == s) for s in STAGES]
            xs = [i + (j - 1) * width for i in range(len(STAGES))]
            ax.bar(xs, [v["seconds"] for v in vals], width, label=f"{ranks} rank{'s' if ranks > 1 else ''} × {threads} thread{'s' if threads > 1 else ''}")
            for x, v in zip(xs, vals):
                if v["cores"] > 1:
                    ax.text(x, v["seconds"], f"{v['efficiency']:.2f}", ha="center", va="bottom", fontsize=7)
            labels = [s for s in STAGES]
        ax.set_xticks(range(len(STAGES)))
        ax.set_xticklabels(labels, rotation=30)
        ax.set_ylabel("seconds per realization (log)")
        ax.set_yscale("log")
        shape = next(x for x in rows if x["kind"] == kind and x["cores"] == 1)
        ax.set_title(f"{kind} scaling ({shape['nx']}×{shape['ny']}×{shape['nz']} on 1 core); numbers: efficiency")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
