#!/usr/bin/env python3
"""Threads against ranks for the stages that split a rank's slab into one lane per thread: the
geodesic search (three axes), the components' union-find and the conduction solve (z, with its
components and multigrid setup).

On a realization of the paper's deck at N^3 (default 300, phase 1, the NVP), runs the C drivers
(`make tests`) as 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread, interleaved, --rounds
times (this machine is shared: compare configurations within one round), each the best of --reps
repeats inside the driver. Per stage: the median over rounds of the speed-up of 2 threads and of 2
ranks over one core, theta = speed-up(2 threads) - 1, and the median over rounds of the time of 2
ranks over that of 2 threads on the same two cores (threads_over_ranks: 1 when the threads lose
nothing against ranks; what the machine's memory bandwidth costs both is left out of it), from
which benchmarks/comm_model.py takes the stage's serial fraction for threads (Amdahl:
f = 1 / threads_over_ranks - 1). Writes benchmarks/bench_threads.csv and prints a markdown table.
Usage: /usr/bin/python3 benchmarks/bench_threads.py [--n 300] [--rounds 3] [--reps 3]
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from bench_pores import ENV, VOXEL, labels  # noqa: E402

CONFIGS = ((1, 1), (1, 2), (2, 1))  # ranks, threads


def stage_seconds(ranks, threads, n, raw, reps):
    """Seconds of each stage at this configuration (slowest rank, best of reps)."""
    base = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks)]
    grid = ["-n", f"{n},{n},{n}", "-voxel", f"{VOXEL},{VOXEL},{VOXEL}", "-in", raw, "-value", "1", "-threads", str(threads), "-repeat", str(reps)]
    out = {}
    for exe, extra in (("test_pores", ["-tau", "7"]), ("test_components", ["-conn", "26"]), ("test_conductivity", ["-axes", "4"])):
        p = subprocess.run(base + [os.path.join(ROOT, "bin", exe)] + grid + extra, env=ENV, capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"{exe} failed:\n{p.stdout}\n{p.stderr}")
        vals = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in p.stdout.splitlines() if l.split()}
        if exe == "test_pores":
            out["geodesic"] = sum(vals[f"t_tau_{a}"][0] for a in "xyz")
        elif exe == "test_components":
            out["components"] = vals["components_time_s"][0]
        else:
            out["conductivity"] = vals["t_z"][0]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    speed = {}  # (stage, config) -> speed-ups over 1 x 1, one per round
    secs = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw = labels(a.n, tmp)
        for r in range(a.rounds):
            t = {c: stage_seconds(*c, a.n, raw, a.reps) for c in CONFIGS}
            for st in t[(1, 1)]:
                for c in CONFIGS:
                    secs.setdefault((st, c), []).append(t[c][st])
                    speed.setdefault((st, c), []).append(t[(1, 1)][st] / t[c][st])
            print(f"round {r + 1}: " + "; ".join(f"{st} " + ", ".join(f"{c[0]}x{c[1]} {t[c][st]:.3f} s" for c in CONFIGS) for st in t[(1, 1)]), flush=True)
    rows = []
    for st in ("geodesic", "components", "conductivity"):
        s2t, s2r = statistics.median(speed[(st, (1, 2))]), statistics.median(speed[(st, (2, 1))])
        rows.append(dict(n=a.n, stage=st, seconds_1x1=round(statistics.median(secs[(st, (1, 1))]), 4),
                         seconds_1x2=round(statistics.median(secs[(st, (1, 2))]), 4), seconds_2x1=round(statistics.median(secs[(st, (2, 1))]), 4),
                         speedup_2_threads=round(s2t, 3), speedup_2_ranks=round(s2r, 3), theta=round(max(0.0, min(1.0, s2t - 1)), 2),
                         threads_over_ranks=round(statistics.median(r / t for r, t in zip(secs[(st, (2, 1))], secs[(st, (1, 2))])), 3)))
    path = os.path.join(ROOT, "benchmarks", "bench_threads.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}\n")
    print("| stage | 1 × 1 s | 1 rank × 2 threads s | 2 ranks × 1 s | speed-up, 2 threads | speed-up, 2 ranks | theta | threads over ranks |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['seconds_1x1']} | {r['seconds_1x2']} | {r['seconds_2x1']} | {r['speedup_2_threads']} | {r['speedup_2_ranks']} | {r['theta']} | {r['threads_over_ranks']} |")


if __name__ == "__main__":
    main()
