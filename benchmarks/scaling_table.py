#!/usr/bin/env python3
"""The scaling tables of jobs/strong_scaling.sbatch, jobs/weak_scaling.sbatch and
benchmarks/bench_scaling.py: one row per run (rank count), one column per stage (any python3, no
numpy).

  scaling_table.py append TABLE --kind strong|weak --csv RUN.csv --log RUN.log --nodes N --ranks R
                   --threads T --shape NX,NY,NZ [--what pipeline|generate] [--precision P]
                   [--launcher L] [--job ID]
      adds one row for a finished plurigauss run, read from its run table (RUN.csv, the t_*_s
      columns; never stdout): the median over the realizations of every stage's seconds
      (STAGES below; a stage the deck switched off stays empty), their sum t_run_s (generate +
      threshold + measure: the run without its write), the bare FFT time (the floor of
      generation, from -fft_time_bare: the HDF5 output's /model, else the log line), voxels per
      second per core of the whole run, peak bytes per voxel. Appends under a lock, so jobs may
      share a table.
  scaling_table.py show TABLE
      prints the table in markdown: per group of rows (same kind, what, precision, and grid for
      strong scaling or voxels per core for weak), one row per core count with every stage's
      seconds and parallel efficiency against the group's row with the fewest cores: strong
      E = t1 c1 / (t c), weak E = t1 / t.
"""
import argparse
import csv
import fcntl
import os
import re
import statistics
import sys
import time

# the stages of the run table, in pipeline order (t_cov_fft_s: the covariance's own transforms, a floor)
STAGES = ["generate", "threshold", "covariance", "cov_fft", "components", "opening", "geodesic", "conductivity", "measure", "run"]
COLUMNS = (["date", "job", "kind", "what", "launcher", "nodes", "ranks", "threads", "cores", "nx", "ny", "nz", "voxels", "voxels_per_rank",
            "precision", "realizations", "t_bare_fft_s", "ratio"] + [f"t_{s}_s" for s in STAGES] + ["voxels_per_s_per_core", "peak_bytes_per_voxel"])


def bare_fft_seconds(csv_path, log):
    """/model t_bare_fft_s of the HDF5 output (with h5py), else the 3 decimals of the log line."""
    h5 = os.path.splitext(csv_path)[0] + ".h5"
    try:
        import h5py
        with h5py.File(h5, "r") as f:
            return float(f["model"].attrs["t_bare_fft_s"])
    except Exception:  # no h5py, no file: the log
        pass
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            m = re.findall(r"bare FFT \(the floor of generation\) ([0-9.eE+-]+) s", f.read())
        if m:
            return float(m[-1])
    return float("nan")


def make_row(run_csv, log, kind, what, nodes, ranks, threads, shape, precision="single", launcher="", job=""):
    """The table row (dict of strings) of one finished run."""
    with open(run_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{run_csv} has no runs")
    bare = bare_fft_seconds(run_csv, log)
    nx, ny, nz = shape
    vox = nx * ny * nz
    cores = ranks * threads
    med = {}
    for s in STAGES[:-1]:
        vals = [float(r[f"t_{s}_s"]) for r in rows if r.get(f"t_{s}_s", "") not in ("", None)]
        if vals:
            med[s] = statistics.median(vals)
    med["run"] = sum(med.get(s, 0.0) for s in ("generate", "threshold", "measure"))
    tgen = med.get("generate", float("nan"))
    row = dict(date=time.strftime("%Y-%m-%dT%H:%M:%S"), job=job, kind=kind, what=what, launcher=launcher, nodes=nodes, ranks=ranks, threads=threads,
               cores=cores, nx=nx, ny=ny, nz=nz, voxels=vox, voxels_per_rank=vox // ranks, precision=precision, realizations=len(rows),
               t_bare_fft_s=f"{bare:.4g}", ratio=f"{tgen / bare:.3g}" if bare == bare and bare > 0 else "nan",
               voxels_per_s_per_core=f"{vox / med['run'] / cores:.4g}" if med["run"] > 0 else "nan",
               peak_bytes_per_voxel=f"{max(float(r['peak_rss_bytes_per_voxel']) for r in rows):.3g}")
    for s in STAGES:
        row[f"t_{s}_s"] = f"{med[s]:.4g}" if s in med else ""
    return row


def append_row(table, row):
    """Appends row to table under a lock (writing the header to a new table); refuses a table
    written with other columns."""
    os.makedirs(os.path.dirname(os.path.abspath(table)), exist_ok=True)
    with open(table, "a+", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        head = f.readline().strip()
        if head and head.split(",") != COLUMNS:
            sys.exit(f"scaling_table: {table} has other columns (an older table?): give a new TABLE")
        f.seek(0, os.SEEK_END)
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        if f.tell() == 0:
            w.writeheader()
        w.writerow(row)


def append(a):
    try:
        row = make_row(a.csv, a.log, a.kind, a.what, a.nodes, a.ranks, a.threads, tuple(int(x) for x in a.shape.split(",")), a.precision, a.launcher, a.job)
    except ValueError as e:
        sys.exit(f"scaling_table: {e}")
    append_row(a.table, row)
    print(f"scaling_table: {a.kind} {a.what} {a.nodes} node(s) x {a.ranks} rank(s) x {a.threads} thread(s), {a.shape.replace(',', 'x')}: "
          + ", ".join(f"{s} {row[f't_{s}_s']} s" for s in STAGES if row[f"t_{s}_s"]) + f" -> {a.table}")


def groups(rows):
    out = {}
    for r in rows:
        # weak scaling keeps the voxels per core (ranks x threads) fixed
        key = (r["kind"], r.get("what", ""), r["precision"], (r["nx"], r["ny"], r["nz"]) if r["kind"] == "strong" else int(r["voxels"]) // int(r["cores"]))
        out.setdefault(key, []).append(r)
    for g in out.values():
        g.sort(key=lambda r: (int(r["cores"]), r["date"]))
    return out


def efficiency(kind, t1, c1, t, c):
    return t1 * c1 / (t * c) if kind == "strong" else t1 / t


def markdown(rows):
    """The markdown tables of show, as a string."""
    lines = []
    for (kind, what, precision, _), g in groups(rows).items():
        stages = [s for s in STAGES if s != "cov_fft" and any(r.get(f"t_{s}_s", "") not in ("", "nan") for r in g)]
        base = g[0]
        per_rank = f"{int(base['voxels']) // int(base['cores'])} voxels per core" if kind == "weak" else f"{base['nx']}×{base['ny']}×{base['nz']}"
        lines += ["", f"**{kind} scaling, {what or 'pipeline'}, {precision}, {per_rank}**: seconds per realization (parallel efficiency)", "",
                  "| nodes | ranks | threads | cores | grid | " + " | ".join(stages) + " | bare FFT | B/voxel |",
                  "|---|---|---|---|---|" + "---|" * (len(stages) + 2)]
        c1 = int(base["cores"])
        for r in g:
            c = int(r["cores"])
            cells = []
            for s in stages:
                t, t1 = r.get(f"t_{s}_s", ""), base.get(f"t_{s}_s", "")
                if t in ("", "nan"):
                    cells.append("")
                elif t1 in ("", "nan") or float(t) <= 0 or float(t1) <= 0:
                    cells.append(f"{float(t):.3g}")
                else:
                    cells.append(f"{float(t):.3g} ({efficiency(kind, float(t1), c1, float(t), c):.2f})")
            lines.append(f"| {r['nodes']} | {r['ranks']} | {r['threads']} | {c} | {r['nx']}×{r['ny']}×{r['nz']} | " + " | ".join(cells)
                         + f" | {r['t_bare_fft_s']} | {r['peak_bytes_per_voxel']} |")
    return "\n".join(lines).lstrip("\n")


def show(a):
    with open(a.table) as f:
        rows = list(csv.DictReader(f))
    if not rows or "what" not in rows[0]:
        sys.exit(f"scaling_table: {a.table} has no rows in this format")
    print(markdown(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("append")
    p.add_argument("table")
    p.add_argument("--kind", choices=["strong", "weak"], required=True)
    p.add_argument("--what", choices=["pipeline", "generate"], default="pipeline")
    p.add_argument("--csv", required=True)
    p.add_argument("--log", default="")
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
