#!/usr/bin/env python3
"""Bytes exchanged by every stage of the pipeline, counted by the PMPI byte counter
(benchmarks/commcount.c; docs/communication.md).

Runs bin/plurigauss on the paper's deck (`inputs/nvp_paper.yaml`: every descriptor and the
conduction solve along z, single precision, one realization, FFTW planner `estimate` so that the
transposes do not depend on timings) with bin/libcommcount.so preloaded (`make commcount`;
benchmarks/commcount.c defines what a byte is for every MPI function), oversubscribed on this
machine (bytes do not depend on speed):
  strong  N^3 at P = 1, 2, 4, 8, 16, 32 ranks (--n 128), and the same at --n2 64 (the second size
          lets benchmarks/comm_model.py separate the N^2 terms from the P terms; --n2 0: none)
  weak    128 x 128 x 8P voxels at P = 4, 8, 16, 32, 64 (8 planes per rank)
For every run and stage (the program's MPI_Pcontrol stages: setup, generate, threshold, fractions,
intrinsic, covariance, components (percolation), opening (cPSD 3D and 2D, MIP), geodesic,
conductivity, measure (the rest of the measure stage: HDF5 writes of the curves, the 2D cPSD's
gather), io, other): the largest bytes received by one rank (MPI_File traffic excluded: it goes to
the file system), their mean over the ranks, the largest bytes sent, the most calls by one rank,
an estimate of the messages one rank sends (calls x messages per call: 1 for point to point,
ceil(log2 P) for reductions, scans, broadcasts and barriers, P-1 for all-to-all and all-gather,
1 for gather and scatter), and the function that received the most bytes over all ranks.
Writes benchmarks/bench_comm.csv and prints the tables (stage x P) in markdown, as pasted into
benchmarks/README.md. The bytes depend on the stages' algorithms: rerun after changing one.
Usage: /usr/bin/python3 benchmarks/bench_comm.py [--n 128] [--n2 64] [--ranks 1,2,4,8,16,32]
         [--weak-ranks 4,8,16,32,64] [--weak-slab 128,128,8] [--no-solve] [--only strong|weak]
         [--table-only] [--out benchmarks/bench_comm.csv]
"""
import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
LIB = os.path.join(ROOT, "bin", "libcommcount.so")
STAGES = ["setup", "generate", "threshold", "fractions", "intrinsic", "covariance", "components", "opening", "geodesic", "conductivity", "measure",
          "io", "other"]
COLUMNS = ["kind", "nx", "ny", "nz", "ranks", "solve", "stage", "bytes_received_max", "bytes_received_mean", "bytes_sent_max", "calls_max",
           "messages_max", "dominant_function", "dominant_share", "seconds"]
P2P = {"MPI_Send", "MPI_Ssend", "MPI_Bsend", "MPI_Rsend", "MPI_Isend", "MPI_Issend", "MPI_Ibsend", "MPI_Irsend", "MPI_Sendrecv",
       "MPI_Sendrecv_replace", "MPI_Start", "MPI_Startall", "MPI_Put", "MPI_Rput", "MPI_Accumulate", "MPI_Get", "MPI_Rget", "MPI_Get_accumulate",
       "MPI_Fetch_and_op", "MPI_Neighbor_alltoall", "MPI_Neighbor_alltoallv", "MPI_Ineighbor_alltoallv", "MPI_Neighbor_allgather"}
ALL_PEERS = {"Alltoall", "Alltoallv", "Alltoallw", "Allgather", "Allgatherv", "Reduce_scatter", "Reduce_scatter_block"}
ROOTED = {"Gather", "Gatherv", "Scatter", "Scatterv"}
TREE = {"Barrier", "Bcast", "Reduce", "Allreduce", "Scan", "Exscan"}
NO_MESSAGE = {"MPI_Recv", "MPI_Irecv", "MPI_Mrecv", "MPI_Imrecv", "MPI_Send_init", "MPI_Ssend_init", "MPI_Bsend_init", "MPI_Rsend_init",
              "MPI_Recv_init"}


def messages_per_call(function, ranks):
    """The messages one call sends, by the convention of the module docstring."""
    if ranks == 1 or function in NO_MESSAGE or function.startswith("MPI_File"):
        return 0
    if function in P2P:
        return 1
    base = function[4:]
    if base.startswith("I") and base[1:].capitalize() in ALL_PEERS | ROOTED | TREE:
        base = base[1:].capitalize()  # the nonblocking twin
    if base in ALL_PEERS:
        return ranks - 1
    if base in ROOTED:
        return 1
    return math.ceil(math.log2(ranks))  # Bcast, Reduce, Allreduce, Scan, Exscan, Barrier


def summarize(path, ranks):
    """{stage: dict of the CSV columns} from the counter's per-rank rows."""
    per = {}  # (stage, rank) -> [recv, sent, calls, messages]
    by_fn = {}  # (stage, function) -> bytes received over all ranks
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["function"].startswith("MPI_File"):
                continue
            key = (r["stage"], int(r["rank"]))
            v = per.setdefault(key, [0, 0, 0, 0])
            calls = int(r["calls"])
            v[0] += int(r["bytes_received"])
            v[1] += int(r["bytes_sent"])
            v[2] += calls
            v[3] += calls * messages_per_call(r["function"], ranks)
            by_fn[(r["stage"], r["function"])] = by_fn.get((r["stage"], r["function"]), 0) + int(r["bytes_received"])
    out = {}
    for stage in {s for s, _ in per}:
        vals = [per.get((stage, k), [0, 0, 0, 0]) for k in range(ranks)]
        fns = {fn: b for (s, fn), b in by_fn.items() if s == stage}
        tot = sum(fns.values())
        dom = max(fns, key=fns.get) if tot else ""
        out[stage] = dict(bytes_received_max=max(v[0] for v in vals), bytes_received_mean=round(sum(v[0] for v in vals) / ranks),
                          bytes_sent_max=max(v[1] for v in vals), calls_max=max(v[2] for v in vals), messages_max=max(v[3] for v in vals),
                          dominant_function=dom, dominant_share=round(fns[dom] / tot, 3) if tot else "")
    return out


def run(tmp, ranks, shape, solve, timeout):
    """One counted run; returns ({stage: summary}, {stage: seconds of the run table})."""
    tag = f"{ranks}_{'x'.join(map(str, shape))}"
    out = os.path.join(tmp, f"r{tag}.h5")
    comm = os.path.join(tmp, f"comm{tag}.csv")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), "-x", f"LD_PRELOAD={LIB}", "-x", f"PG_COMMCOUNT_OUT={comm}",
           "-x", "PG_COMMCOUNT_QUIET=1", "-x", "OMP_NUM_THREADS=1", os.path.join(ROOT, "bin", "plurigauss"), os.path.join(ROOT, "inputs", "nvp_paper.yaml"),
           "-domain_shape", ",".join(map(str, shape)), "-sweep_realizations", "1", "-output_file", out, "-output_overwrite", "-fft_planner", "estimate"]
    if not solve:
        cmd += ["-conductivity_solve", "false"]
    t0 = time.time()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0 or not os.path.exists(comm):
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    with open(os.path.splitext(out)[0] + ".csv") as f:
        row = next(csv.DictReader(f))
    secs = {k[2:-2]: float(v) for k, v in row.items() if k.startswith("t_") and k.endswith("_s")}
    print(f"  {ranks:3d} ranks {'x'.join(map(str, shape))}: {time.time() - t0:.0f} s", flush=True)
    return summarize(comm, ranks), secs


def human(b):
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} B"


def table(rows, kind, shape_label):
    """Markdown: stage x P -> max bytes received by one rank / calls per rank / dominant function."""
    sel = [r for r in rows if r["kind"] == kind]
    if not sel:
        return ""
    ps = sorted({int(r["ranks"]) for r in sel})
    cell = {(r["stage"], int(r["ranks"])): r for r in sel}
    present = [s for s in STAGES if any((s, p) in cell and int(cell[(s, p)]["calls_max"]) > 0 for p in ps)]
    lo, hi = (4 if 4 in ps else next((p for p in ps if p > 1), ps[0])), ps[-1]
    if kind == "weak":
        growth_head = f"growth {lo} → {hi}"
    else:
        growth_head = f"growth {lo} → {hi} (log P allows {math.log2(hi) / math.log2(lo):.2g})" if lo > 1 else f"growth {lo} → {hi}"
    lines = [f"{shape_label}: largest bytes received by one rank · calls per rank · function receiving the most bytes",
             "", "| stage | " + " | ".join(f"P = {p}" for p in ps) + f" | {growth_head} |", "|---|" + "---|" * (len(ps) + 1)]
    for s in present:
        cells = []
        for p in ps:
            r = cell.get((s, p))
            if not r:
                cells.append("")
                continue
            b, c, d = int(r["bytes_received_max"]), int(r["calls_max"]), r["dominant_function"].replace("MPI_", "")
            cells.append(f"{human(b)} · {c}" + (f" · {d}" if d else ""))
        b_lo = int(cell[(s, lo)]["bytes_received_max"]) if (s, lo) in cell else 0
        b_hi = int(cell[(s, hi)]["bytes_received_max"]) if (s, hi) in cell else 0
        g = f"{b_hi / b_lo:.2f}×" if b_lo > 0 else "–"
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {g} |")
    return "\n".join(lines)


def tables(rows):
    out = []
    for n in sorted({int(r["nx"]) for r in rows if r["kind"] == "strong"}, reverse=True):
        sub = [r for r in rows if r["kind"] == "strong" and int(r["nx"]) == n]
        solve = " with the conduction solve" if sub and sub[0]["solve"] in ("1", 1, "True", True) else " without the solve"
        out.append(table(sub, "strong", f"**Strong scaling, {n}³{solve}**"))
    sub = [r for r in rows if r["kind"] == "weak"]
    if sub:
        solve = " with the conduction solve" if sub[0]["solve"] in ("1", 1, "True", True) else " without the solve"
        out.append(table(sub, "weak", f"**Weak scaling, {sub[0]['nx']} × {sub[0]['ny']} × {int(sub[0]['nz']) // int(sub[0]['ranks'])}P{solve}**"))
    return "\n\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--n2", type=int, default=64, help="second size of the strong series (0: none)")
    ap.add_argument("--ranks", default="1,2,4,8,16,32")
    ap.add_argument("--weak-ranks", default="4,8,16,32,64")
    ap.add_argument("--weak-slab", default="128,128,8", help="NX,NY,planes per rank")
    ap.add_argument("--no-solve", action="store_true", help="switch the conduction solve off")
    ap.add_argument("--only", choices=["strong", "weak"])
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--table-only", action="store_true", help="print the tables of the CSV")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "bench_comm.csv"))
    a = ap.parse_args()
    if a.table_only:
        with open(a.out) as f:
            print(tables(list(csv.DictReader(f))))
        return
    if not os.path.exists(LIB):
        sys.exit(f"{LIB} is missing: run `make commcount` first")
    solve = not a.no_solve
    configs = []
    if a.only != "weak":
        for n in [a.n] + ([a.n2] if a.n2 else []):
            configs += [("strong", int(p), (n, n, n)) for p in a.ranks.split(",")]
    if a.only != "strong":
        wx, wy, wz = (int(x) for x in a.weak_slab.split(","))
        configs += [("weak", int(p), (wx, wy, wz * int(p))) for p in a.weak_ranks.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, p, shape in configs:
            summ, secs = run(tmp, p, shape, solve, a.timeout)
            for stage in STAGES:
                if stage not in summ:  # no call in this run: a row of zeros
                    summ[stage] = dict(bytes_received_max=0, bytes_received_mean=0, bytes_sent_max=0, calls_max=0, messages_max=0,
                                       dominant_function="", dominant_share="")
                rows.append(dict(kind=kind, nx=shape[0], ny=shape[1], nz=shape[2], ranks=p, solve=int(solve), stage=stage, **summ[stage],
                                 seconds=round(secs[stage], 4) if stage in secs else ""))
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {a.out}\n")
    print(tables([{k: str(v) for k, v in r.items()} for r in rows]))


if __name__ == "__main__":
    main()
