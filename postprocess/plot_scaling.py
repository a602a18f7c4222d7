#!/usr/bin/env python3
"""Strong (and weak) scaling from benchmark tables: wall time and parallel efficiency against the
number of cores, one curve per problem (size, precision, stage, ...).

Usage: /usr/bin/python3 postprocess/plot_scaling.py TABLE.csv [TABLE.csv ...] [--png FILE] [--time COLUMN]

A table needs a `ranks` (or `cores`) column and time columns in seconds. A per-stage scaling table
(benchmarks/scaling_table.py: jobs/strong_scaling.sbatch, jobs/weak_scaling.sbatch,
benchmarks/bench_scaling.py) has one column per stage (t_generate_s, t_covariance_s, ...,
t_conductivity_s, t_measure_s, t_run_s): every stage present becomes its own curve. Otherwise the
time is --time, else the first of t_stage_s, t_generate_s, t_mpi_s, t_min_s present. cores =
ranks x threads (`threads`, default 1) unless a `cores` column exists. Rows that differ only in
their cores form one curve; the other identifying columns present (kind, what, stage, phase, n,
nx, ny, nz, voxels_per_rank, precision, planner, layout, threads) name it. Efficiency against the
curve's row with the fewest cores: strong t1 c1 / (t c); weak (a `kind` column equal to weak)
t1 / t. Works with the benchmarks/*.csv of this repository and the tables of
benchmarks/scaling_table.py.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgplot as pg  # noqa: E402
from pgplot import plt  # noqa: E402

TIMES = ["t_stage_s", "t_generate_s", "t_mpi_s", "t_min_s"]  # a per-stage table: its stage time
# the stage columns of a scaling table (benchmarks/scaling_table.py), in pipeline order
STAGE_TIMES = ["t_generate_s", "t_threshold_s", "t_covariance_s", "t_components_s", "t_opening_s", "t_geodesic_s", "t_conductivity_s",
               "t_measure_s", "t_run_s"]
KEYS = ["kind", "what", "stage", "phase", "n", "nx", "ny", "nz", "voxels_per_rank", "precision", "planner", "layout"]


def time_columns(rows, tcol=None):
    """The time columns to draw: --time, else every stage of a scaling table, else the first of TIMES."""
    if tcol:
        return [tcol] if tcol in rows[0] else []
    stages = [c for c in STAGE_TIMES if c in rows[0] and any(isinstance(r[c], float) and r[c] > 0 for r in rows)]
    if "t_run_s" in rows[0] and stages:
        return stages
    c = next((c for c in TIMES if c in rows[0]), None)
    return [c] if c else []


def curves(path, tcol=None):
    """{label: (cores array, seconds array, weak?)} of one table, sorted by cores."""
    rows = pg.read_rows(path)
    if not rows or not ("ranks" in rows[0] or "cores" in rows[0]):
        return {}
    res = {}
    for col in time_columns(rows, tcol):
        res.update(curves_of(path, rows, col, len(time_columns(rows, tcol)) > 1))
    return res


def curves_of(path, rows, tcol, per_stage):
    """The curves of one time column (per_stage: named by the stage). A scaling table's rows with
    several threads per rank form their own curve, which starts from the 1-core row."""
    scaling = "kind" in rows[0] and "nx" in rows[0] and "cores" in rows[0]
    skip = ("nx", "ny", "nz", "voxels_per_rank") if scaling else ()
    keys = [k for k in KEYS if k in rows[0] and k not in skip and len({str(r[k]) for r in rows}) > 1]
    by_threads = "cores" not in rows[0] and "threads" in rows[0]
    if by_threads and len({r["threads"] for r in rows}) > 1:
        keys.append("threads")  # rank-vs-thread comparisons are separate curves
    out = {}
    for r in rows:
        cores = r["cores"] if "cores" in r else r["ranks"] * (r.get("threads", 1) if isinstance(r.get("threads", 1), float) else 1)
        t = r[tcol]
        if not isinstance(t, float) or not np.isfinite(t) or t <= 0:
            continue
        lab = ", ".join("%s=%s" % (k, (("%g" % r[k]) if isinstance(r[k], float) else r[k])) for k in keys)
        if scaling:  # the invariant of the series: the grid (strong) or the voxels per core (weak)
            inv = ("%dx%dx%d" % (r["nx"], r["ny"], r["nz"])) if r["kind"] != "weak" else "%.3g voxels/core" % (r["nx"] * r["ny"] * r["nz"] / cores)
            lab = ", ".join(x for x in (lab, inv) if x)
        lab = "%s: %s" % (os.path.splitext(os.path.basename(path))[0], lab or os.path.basename(path))
        threads = int(r.get("threads", 1)) if scaling and isinstance(r.get("threads", 1), float) else 1
        labs = [lab + (" (%d threads/rank)" % threads if threads > 1 else "")]
        if scaling and cores == 1:  # the 1-core row starts every threads curve of its series
            labs += [lab + " (%d threads/rank)" % int(x["threads"]) for x in rows if isinstance(x.get("threads"), float) and x["threads"] > 1]
        weak = str(r.get("kind", "")) == "weak"
        for lb in dict.fromkeys(labs):
            out.setdefault(lb, [[], [], weak])
            out[lb][0].append(cores)
            out[lb][1].append(t)
    res = {}
    for lab, (c, t, weak) in out.items():
        o = np.argsort(c)
        res[(tcol[2:-2] if per_stage else None, lab)] = (np.array(c)[o], np.array(t)[o], weak)
    return res


def style(ax, ylabel=None, log_y=False):
    from matplotlib.ticker import ScalarFormatter
    ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    if ylabel:
        ax.set_ylabel(ylabel)


def plot_stages(allc, png):
    """Per-stage tables: one column of panels per stage, time above, efficiency below; one colour
    per series (table, kind, grid or voxels per core, threads)."""
    stages = [s[2:-2] for s in STAGE_TIMES if any(k[0] == s[2:-2] for k in allc)]
    series = sorted({k[1] for k in allc})
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(2, len(stages), figsize=(2.3 * len(stages) + 2.5, 5.2), squeeze=False)
    for j, st in enumerate(stages):
        ax1, ax2 = axes[0][j], axes[1][j]
        for n, lab in enumerate(series):
            if (st, lab) not in allc:
                continue
            c, t, weak = allc[(st, lab)]
            col = cmap(n % 10)
            ax1.plot(c, t, "o-", color=col, ms=3.5, lw=1.1, label=lab)
            ax1.plot(c, t[0] * (np.ones_like(c) if weak else c[0] / c), ":", color=col, lw=0.8)
            ax2.plot(c, t[0] / t if weak else t[0] * c[0] / (t * c), "o-", color=col, ms=3.5, lw=1.1)
        ax1.set_title(st, fontsize=10)
        style(ax1, "seconds" if j == 0 else None, log_y=True)
        style(ax2, "efficiency" if j == 0 else None)
        ax2.axhline(1, color="0.5", lw=0.8)
        ax2.set_ylim(0, max(1.2, ax2.get_ylim()[1]))
        ax2.set_xlabel("cores", fontsize=8)
        for ax in (ax1, ax2):
            ax.tick_params(labelsize=7)
    handles = {}
    for ax in axes[0]:
        for h, lb in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lb, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(3, len(handles)), fontsize=7, frameon=False)
    fig.suptitle("time per stage (dotted: ideal from the fewest cores) and efficiency: strong t\u2081c\u2081/(t c), weak t\u2081/t", fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.025 * ((len(handles) - 1) // 3), 1, 0.95))
    pg.savefig(fig, png)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--png")
    ap.add_argument("--time", help="time column (seconds)")
    a = ap.parse_args()
    allc = {}
    for t in a.tables:
        allc.update(curves(t, a.time))
    allc = {k: v for k, v in allc.items() if len(np.unique(v[0])) > 1}
    if not allc:
        print("plot_scaling: error: no table with a time at two or more core counts", file=sys.stderr)
        return 1
    png = a.png or os.path.splitext(a.tables[0])[0] + "_scaling.png"
    if any(k[0] for k in allc):
        plot_stages(allc, png)
        print(png)
        return 0
    allc = {k[1]: v for k, v in allc.items()}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    cmap = plt.get_cmap("tab20")
    for n, (lab, (c, t, weak)) in enumerate(sorted(allc.items())):
        col = cmap(n % 20)
        ax1.plot(c, t, "o-", color=col, ms=4, lw=1.2, label=lab)
        ax1.plot(c, t[0] * (np.ones_like(c) if weak else c[0] / c), ":", color=col, lw=0.8)
        eff = t[0] / t if weak else t[0] * c[0] / (t * c)
        ax2.plot(c, eff, "o-", color=col, ms=4, lw=1.2)
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("cores (ranks \u00d7 threads)")
    ax1.set_ylabel("wall time (s)")
    ax1.set_title("time (dotted: ideal from the fewest cores)", fontsize=10)
    ax2.set_xscale("log", base=2)
    ax2.axhline(1, color="0.5", lw=0.8)
    ax2.set_xlabel("cores (ranks \u00d7 threads)")
    ax2.set_ylabel("parallel efficiency (\u2013)")
    ax2.set_title("efficiency: strong t\u2081c\u2081/(t c), weak t\u2081/t", fontsize=10)
    ax2.set_ylim(0, max(1.2, ax2.get_ylim()[1]))
    from matplotlib.ticker import ScalarFormatter
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_major_formatter(ScalarFormatter())
    fig.legend(*ax1.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(0.70, 0.5), fontsize=6.5, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.70, 1))
    pg.savefig(fig, png)
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
