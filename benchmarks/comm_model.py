#!/usr/bin/env python3
"""Communication model of every stage and predicted parallel efficiency on a cluster.

Compute: the core-seconds per voxel of each stage measured on this machine (the 1-core strong row of
benchmarks/bench_scaling.csv), assumed to carry over per core (the stages are memory-bound loops and
FFTs; a cluster core is not slower than this one). Communication, bytes sent per rank per
realization (N^3 grid, P MPI ranks in z-slabs, T threads each; see benchmarks/README.md):
  generate    2 FFTW-MPI c2r transforms, single precision, one global transpose each:
              2 * 4 N^3 / P bytes, all-to-all (P - 1 messages each)
  threshold   none (one allreduce of 3 counts)
  covariance  6 transforms in double precision: 6 * 8 N^3 / P bytes, all-to-all
  components  per call: halo 2 * 4 N^2 bytes + all-gather of the boundary pieces (24 bytes per
              piece reaching a slab face, f = 0.05 pieces per face voxel), received from all ranks:
              P * 2 * 24 f N^2 bytes; calls: 3 phases (percolation) + 3 phases * K levels (MIP)
  opening     per distance transform 2 prefix scans of one int32 plane: 2 log2(P) * 4 N^2 bytes;
              transforms: 3 phases * (2 + 4 K) (phase EDTs, cPSD and 3 MIP dilations per level)
  geodesic    per axis and phase: R rounds of 2 float planes (8 N^2 bytes) and one allreduce; for z
              the transposed labels N^3 / P bytes all-to-all; 9 problems
  conductivity per phase along z (3 solves): I = 10 CG iterations, each a halo of the boundary
              plane's unknowns to both neighbours (2 * 8 eps N^2 bytes) and 2 allreduces, and the AMG
              setup and V-cycles, modelled as 5 such exchanges per iteration (coarse levels:
              latency-bound, log2 P each)
  io          the labels, N^3 / P bytes to the file system (not in the network model)
Network: per node injection bandwidth B (default 12.5 GB/s), latency a (2 us), C cores per node
(default 64); a rank gets B / (ranks per node). All-to-all time = a (P - 1) + bytes / B_rank;
scans and all-gathers a log2 P + bytes / B_rank. Efficiency = compute / (compute + communication)
(no overlap assumed, so a lower bound). Slabs need P <= N: beyond, threads per rank T = cores / N.
Prints a markdown table for N = 2048, 4096 and 64, 512, 4096 cores.
Usage: /usr/bin/python3 benchmarks/comm_model.py [--bandwidth 12.5e9] [--latency 2e-6] [--cores-per-node 64]
"""
import argparse
import csv
import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K_LEVELS = 8      # radius levels of the openings at the paper's resolution (R / voxel)
ROUNDS = 10       # geodesic halo rounds (bench_pores.csv: 7-13 at 2 ranks)
CG_ITERATIONS = 10  # conduction solves: 9-12 iterations at rtol 1e-6 with BoomerAMG
FACE_PIECES = 0.05
BYTES_PER_VOXEL = 80.0  # peak of a run with every descriptor: the AMG hierarchy of the largest phase (~200 B per unknown, 40% of the voxels)


def core_seconds_per_voxel():
    path = os.path.join(ROOT, "benchmarks", "bench_scaling.csv")
    rows = list(csv.DictReader(open(path)))
    base = [r for r in rows if r["kind"] == "strong" and r["cores"] == "1"]
    vox = int(base[0]["nx"]) * int(base[0]["ny"]) * int(base[0]["nz"])
    return {r["stage"]: float(r["seconds"]) / vox for r in base}


def model(N, cores, B, a, C, cs):
    P = min(cores, N)                      # slabs: at most one plane per rank
    T = cores // P
    per_node = min(C, cores) // T or 1     # ranks per node
    Br = B / per_node
    lg = math.log2(P) if P > 1 else 0
    vox = N ** 3
    comp = {s: cs[s] * vox / cores for s in cs}
    a2a = lambda byts: (a * (P - 1) + byts / Br) if P > 1 else 0.0
    scan = lambda byts: (a * lg + byts / Br) if P > 1 else 0.0
    comm = {
        "generate": a2a(2 * 4 * vox / P),
        "threshold": scan(24),
        "covariance": a2a(6 * 8 * vox / P),
        "components": (3 + 3 * K_LEVELS) * (scan(2 * 4 * N ** 2) + scan(P * 2 * 24 * FACE_PIECES * N ** 2)),
        "opening": 3 * (2 + 4 * K_LEVELS) * 2 * scan(4 * N ** 2 * lg),
        "geodesic": 9 * ROUNDS * scan(8 * N ** 2) + 3 * a2a(vox / P),
        "conductivity": 3 * CG_ITERATIONS * (6 * scan(2 * 8 * 0.35 * N ** 2) + 2 * a * lg * 5),
    }
    stages = [s for s in ("generate", "threshold", "covariance", "components", "opening", "geodesic", "conductivity") if s in comp]
    tc = sum(comp[s] for s in stages)
    tm = sum(comm[s] for s in stages)
    worst = max(stages, key=lambda s: comm[s] / max(comp[s], 1e-30))
    return dict(P=P, T=T, t_compute=tc, t_comm=tm, eff=tc / (tc + tm), worst=worst, mem_gb_per_core=BYTES_PER_VOXEL * vox / cores / 1e9,
                per_stage={s: comp[s] / (comp[s] + comm[s]) for s in stages})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bandwidth", type=float, default=12.5e9)
    ap.add_argument("--latency", type=float, default=2e-6)
    ap.add_argument("--cores-per-node", type=int, default=64)
    a = ap.parse_args()
    cs = core_seconds_per_voxel()
    cs.pop("measure", None)
    print("| N | cores | ranks × threads | compute s | communication s | efficiency | generate | covariance | components | opening | geodesic | conductivity | GB per core |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for N in (2048, 4096):
        for cores in (64, 512, 4096):
            m = model(N, cores, a.bandwidth, a.latency, a.cores_per_node, cs)
            ps = m["per_stage"]
            print(f"| {N} | {cores} | {m['P']} × {m['T']} | {m['t_compute']:.0f} | {m['t_comm']:.0f} | {m['eff']:.2f} | "
                  + " | ".join(f"{ps[s]:.2f}" for s in ("generate", "covariance", "components", "opening", "geodesic", "conductivity")) + f" | {m['mem_gb_per_core']:.1f} |")


if __name__ == "__main__":
    main()
