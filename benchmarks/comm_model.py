#!/usr/bin/env python3
"""Communication model of every stage, fitted to measured bytes, and the predicted parallel
efficiency of the whole pipeline on a cluster (docs/communication.md).

Communication: the bytes that one rank receives in each stage, as counted by the PMPI byte counter
in benchmarks/bench_comm.csv (benchmarks/bench_comm.py: the paper's pipeline at N^3 for several N
and P, and in weak scaling), fitted per stage by non-negative least squares on the relative error
to the terms (A = nx ny the slab face, V = nx ny nz the volume, P ranks in z-slabs):
  V/P (1 - 1/P)   all-to-all of the volume (FFT transposes, the geodesic z transpose)
  A               plane exchanges whose number does not depend on P (halos)
  A log2 P        scans and tree merges over the slabs
  A (P - 1)       all-gathers of plane-sized data, or rounds that cross every slab
  P - 1           per-rank small items (counts) from every rank
  pencil face     the lateral face nz (nx/rows + ny/cols) of the pencils along z that the geodesic
                  z problem runs on (rows x cols the rank grid of src/geodesic.c's PencilGrid); it
                  grows as sqrt(P) in weak scaling along z
and likewise the messages one rank sends (bench_comm.py's estimate from the calls) to 1, log2 P,
P - 1 and sqrt(A) (rounds that grow with the edge). The fit and its residuals are printed per
stage; a term the data cannot tell apart from another gets the smaller coefficient NNLS finds.
Compute: the core-seconds per voxel of each stage measured on this machine (the 1-core strong
row of benchmarks/bench_scaling.csv: t_<stage>_s / voxels; "measure_rest" is the measure stage
minus its timed parts: volume fractions, intrinsic volumes, the curves' writes), assumed to carry
over per core to a cluster (the stages are memory-bound loops and FFTs), times the extra work that
decomposition itself makes on more than one rank (--inflation, measured at 4 planes per rank, as
2048^3 on 512 ranks has: the geodesic search's slowest rank settles 1.43x its 1/P share of the
voxels at 128^3 on 32 ranks, the -info lines of src/geodesic.c, because shorter paths that arrive
from a neighbour settle voxels again; the conduction solve takes 21 CG iterations there against 19
on one rank (its smoother is Jacobi across slab faces): 1.1x; the other stages do the same work
at any rank count).
Ranks x threads: P ranks of T threads on P T cores, P <= N (slabs; the FFT's transposed layout
also splits y). Threads share their rank's bytes; a stage's compute speeds up by 1 + theta (T - 1)
with theta = --thread-efficiency (assumed) for the threaded stages. The stages which split a
rank's planes into one lane per thread (components, geodesic, conductivity) are measured on two
cores as 1 rank x 2 threads against 2 ranks (benchmarks/bench_threads.csv, threads_over_ranks q:
the model scales ranks perfectly, so threads are charged what they lose against ranks on the same
cores, not what the machine's memory bandwidth costs both): serial fraction f = 1 / q - 1, speed-up
1 / (f + (1 - f) / T) on T threads (Amdahl), capped by the assumed 1 + theta (T - 1); they use at
most N/P threads (a lane holds at least one plane; the conduction solve's at least two), so a
stage with a serial part gains less from each further thread than the 2-thread measurement
suggests.
Network: per node injection bandwidth B (--bandwidth, default 12.5 GB/s), latency a (--latency,
2 us), C cores per node (--cores-per-node, 64); a rank gets B T / C; every byte crosses the NIC
(intra-node traffic counted as inter-node: conservative). Stage time = compute + bytes / (B T / C)
+ a messages (no overlap, so a lower bound on efficiency). Efficiency = (1-core compute / cores) /
(sum over stages of the stage times). setup, io and other are left out (once per job, or to the
file system).
Prints the fit, the predictions for N = 2048 and 4096 on 64, 512 and 4096 cores at the best
ranks x threads, and the two efficiency targets (N = 2048 on 512 cores: 0.5, N = 4096 on 4096 cores: 0.3)
with the stage that limits.
--flat STAGE,... models those stages as if their exchange did not grow with P (their bytes and
messages per face voxel at the fewest ranks measured): stages whose traffic does not grow with P.
Usage: /usr/bin/python3 benchmarks/comm_model.py [--bandwidth 12.5e9] [--latency 2e-6] [--cores-per-node 64]
         [--thread-efficiency 0.7] [--max-threads T] [--flat components,opening,geodesic] [--comm benchmarks/bench_comm.csv] [--compute benchmarks/bench_scaling.csv]
         [--threads-csv benchmarks/bench_threads.csv] [--inflation geodesic=1.43,conductivity=1.1]
"""
import argparse
import csv
import math
import os

import numpy as np
from scipy.optimize import nnls

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ["generate", "threshold", "covariance", "components", "opening", "geodesic", "conductivity", "measure_rest"]
COMM_STAGE = {"fractions": "measure_rest", "intrinsic": "measure_rest", "measure": "measure_rest"}  # counted stage -> model stage
LANE_STAGES = {"components": 1, "geodesic": 1, "conductivity": 2}  # threaded by lanes of planes: planes per lane at least
BYTE_TERMS = ["V/P(1-1/P)", "A", "A log2 P", "A (P-1)", "P-1", "pencil face"]
MSG_TERMS = ["1", "log2 P", "P-1", "sqrt(A)"]
BYTES_PER_VOXEL = 80.0  # peak of a run with every descriptor: the AMG hierarchy of the largest phase


def pencil_grid(P, nx, ny):
    """The geodesic z problem's rank grid (rows over x, cols over y), as src/geodesic.c chooses it:
    the most ranks, then the least face nx/rows + ny/cols."""
    best = None
    for a in range(1, min(P, nx) + 1):
        for b in range(1, min(P // a, ny) + 1):
            key = (-a * b, nx / a + ny / b)
            if best is None or key < best[0]:
                best = (key, a, b)
    return best[1], best[2]


def byte_features(nx, ny, nz, P):
    A, V = nx * ny, nx * ny * nz
    if P <= 1:
        return np.zeros(len(BYTE_TERMS))
    rows, cols = pencil_grid(P, nx, ny)
    face = nz * ((nx / rows if rows > 1 else 0) + (ny / cols if cols > 1 else 0))
    return np.array([V / P * (1 - 1 / P), A, A * math.log2(P), A * (P - 1), P - 1.0, face])


def stage_byte_features(s):
    """The byte terms a stage may use: the pencil face only for the geodesic stage (the other
    stages run on z-slabs; left free, the term would soak up their weak-scaling growth)."""
    mask = np.array([1.0] * (len(BYTE_TERMS) - 1) + [1.0 if s == "geodesic" else 0.0])
    return lambda nx, ny, nz, P: byte_features(nx, ny, nz, P) * mask


def msg_features(nx, ny, nz, P):
    if P <= 1:
        return np.zeros(len(MSG_TERMS))
    return np.array([1.0, math.log2(P), P - 1.0, math.sqrt(nx * ny)])


def load_comm(path):
    """{model stage: [(nx, ny, nz, P, bytes, messages)]} summed over the counted stages it gathers."""
    acc = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            st = COMM_STAGE.get(r["stage"], r["stage"])
            if st not in STAGES:
                continue
            key = (st, r["kind"], int(r["nx"]), int(r["ny"]), int(r["nz"]), int(r["ranks"]))
            b, m = acc.get(key, (0, 0))
            acc[key] = (b + int(r["bytes_received_max"]), m + int(r["messages_max"]))  # max per stage summed: an upper bound
    data = {s: [] for s in STAGES}
    for (st, _, nx, ny, nz, P), (b, m) in acc.items():
        data[st].append((nx, ny, nz, P, b, m))
    return data


def fit(points, features, col):
    """NNLS on the relative error of the points with P > 1 and a non-zero value; returns
    (coefficients, relative residuals as [(point, measured, fitted)])."""
    pts = [p for p in points if p[3] > 1 and p[col] > 0]
    if not pts:
        return np.zeros(len(features(1, 1, 1, 2))), []
    X = np.array([features(*p[:4]) / p[col] for p in pts])
    c, _ = nnls(X, np.ones(len(pts)))
    return c, [(p, p[col], float(features(*p[:4]) @ c)) for p in pts]


def core_seconds_per_voxel(path):
    """{stage: seconds per voxel on one core} from the 1-core strong row of a scaling table."""
    rows = [r for r in csv.DictReader(open(path)) if r["kind"] == "strong" and r["cores"] == "1" and r.get("what", "pipeline") == "pipeline"]
    if not rows:
        raise SystemExit(f"comm_model: {path} has no 1-core strong pipeline row")
    r = rows[-1]
    vox = int(r["nx"]) * int(r["ny"]) * int(r["nz"])
    t = {s: float(r[f"t_{s}_s"]) for s in STAGES[:-1] if r.get(f"t_{s}_s", "") not in ("", "nan")}
    parts = sum(t.get(s, 0) for s in ("covariance", "components", "opening", "geodesic", "conductivity"))
    t["measure_rest"] = max(float(r["t_measure_s"]) - parts, 0.0)
    return {s: v / vox for s, v in t.items()}, (int(r["nx"]), int(r["ny"]), int(r["nz"]))


def measured_q(path):
    """{stage: time of 2 ranks over that of 1 rank x 2 threads} from bench_threads.csv ({} if absent)."""
    if not os.path.exists(path):
        return {}
    return {r["stage"]: float(r["threads_over_ranks"]) for r in csv.DictReader(open(path))}


def serial_fraction(s, a):
    """Amdahl's serial fraction of a lane stage from 2 threads against 2 ranks (None: not measured)."""
    if s not in LANE_STAGES or s not in a.q:
        return None
    return min(max(1.0 / a.q[s] - 1.0, 0.0), 1.0)


def threads_of(s, N, P, T):
    """The threads stage s can use: lanes of at least one plane (two for the conduction solve)."""
    return max(1, min(T, N // (P * LANE_STAGES[s]))) if s in LANE_STAGES else T


def speedup(s, N, P, T, a):
    """Stage s's compute speed-up on T threads per rank: 1 + theta (T - 1), and for a measured lane
    stage at most Amdahl's with its serial fraction."""
    t = threads_of(s, N, P, T)
    lin = 1 + a.thread_efficiency * (t - 1)
    f = serial_fraction(s, a)
    return lin if f is None else min(lin, 1.0 / (f + (1.0 - f) / t))


def predict(N, P, T, coef, cs, a):
    """Per stage (compute s, bandwidth s, latency s) at N^3 on P ranks x T threads."""
    Br = a.bandwidth * T / a.cores_per_node if T < a.cores_per_node else a.bandwidth
    out = {}
    for s in STAGES:
        if s not in cs:
            continue
        comp = cs[s] * N ** 3 / P / speedup(s, N, P, T, a) * (a.inflation.get(s, 1.0) if P > 1 else 1.0)
        cb, cm = coef[s]
        nbytes = max(float(byte_features(N, N, N, P) @ cb), 0.0)
        nmsg = max(float(msg_features(N, N, N, P) @ cm), 0.0)
        out[s] = (comp, nbytes / Br, a.latency * nmsg, nbytes)
    return out


def options(N, cores, coef, cs, a):
    """Every ranks x threads choice for N^3 on cores (T a power of 2 up to a node, P = cores / T
    <= N): [(efficiency, P, T, per-stage prediction)], best first."""
    ideal = sum(cs[s] for s in cs) * N ** 3 / cores
    out = []
    T = 1
    while T <= min(cores, a.cores_per_node, a.max_threads):
        P = cores // T
        if P * T == cores and P <= N:
            pr = predict(N, P, T, coef, cs, a)
            out.append((ideal / sum(sum(v[:3]) for v in pr.values()), P, T, pr))
        T *= 2
    return sorted(out, key=lambda x: -x[0])


def evaluate(N, cores, coef, cs, a):
    """The best ranks x threads for N^3 on cores: (efficiency, P, T, per-stage prediction)."""
    return options(N, cores, coef, cs, a)[0]


def limiting(pr, cs, N, cores, T, a):
    """The stage that loses the most time against its ideal, and why."""
    ideal = {s: cs[s] * N ** 3 / cores for s in pr}
    s = max(pr, key=lambda k: sum(pr[k][:3]) - ideal[k])
    comp, bw, lat, nbytes = pr[s]
    t = threads_of(s, N, cores // T, T)
    threads = (f"{t} threads, speed-up {speedup(s, N, cores // T, T, a):.2g}"
               + (f" (serial fraction {serial_fraction(s, a):.2f})" if serial_fraction(s, a) is not None else ""))
    parts = {threads: comp - ideal[s], f"bandwidth ({human(nbytes)} received per rank)": bw, "latency": lat}
    return s, max(parts, key=parts.get)


def human(b):
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} B"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bandwidth", type=float, default=12.5e9, help="injection bandwidth per node, bytes/s")
    ap.add_argument("--latency", type=float, default=2e-6, help="seconds per message")
    ap.add_argument("--cores-per-node", type=int, default=64)
    ap.add_argument("--thread-efficiency", type=float, default=0.7, help="theta: a threaded stage's speed-up per extra thread")
    ap.add_argument("--max-threads", type=int, default=1 << 30, help="threads per rank at most (e.g. the cores of a NUMA domain)")
    ap.add_argument("--flat", default="", help="comma list of stages to model as fixed: their bytes and messages per face voxel at the "
                    "fewest ranks (> 1) measured, whatever P (what an algorithm that does not grow with P would exchange)")
    ap.add_argument("--comm", default=os.path.join(ROOT, "benchmarks", "bench_comm.csv"))
    ap.add_argument("--compute", default=os.path.join(ROOT, "benchmarks", "bench_scaling.csv"))
    ap.add_argument("--threads-csv", default=os.path.join(ROOT, "benchmarks", "bench_threads.csv"),
                    help="the lane stages at 1 rank x 2 threads against 2 ranks (bench_threads.py)")
    ap.add_argument("--inflation", default="geodesic=1.43,conductivity=1.1",
                    help="STAGE=F,...: a stage's work on more than one rank over its 1/P share (measured, see above)")
    a = ap.parse_args()
    a.inflation = {k: float(v) for k, v in (item.split("=") for item in a.inflation.split(",") if item)}
    a.q = measured_q(a.threads_csv)
    data = load_comm(a.comm)
    cs, shape = core_seconds_per_voxel(a.compute)
    coef = {}
    print(f"Fit of the bytes one rank receives per stage ({os.path.relpath(a.comm, ROOT)}, P > 1), NNLS on the relative error:\n")
    print("| stage | " + " | ".join(BYTE_TERMS) + " | points | worst residual | messages: " + ", ".join(MSG_TERMS) + " |")
    print("|---|" + "---|" * (len(BYTE_TERMS) + 3))
    for s in STAGES:
        cb, rb = fit(data[s], stage_byte_features(s), 4)
        cm, _ = fit(data[s], msg_features, 5)
        if s in a.flat.split(","):  # scenario: the stage's exchange stops growing with P
            pts = [p for p in data[s] if p[3] > 1]
            if pts:
                p0 = min(pts, key=lambda p: (p[3], -p[0] * p[1]))
                cb = np.array([0.0, p0[4] / (p0[0] * p0[1]), 0, 0, 0])
                cm = np.array([float(p0[5]), 0, 0, 0])
        coef[s] = (cb, cm)
        worst = max(rb, key=lambda x: abs(x[2] / x[1] - 1)) if rb else None
        wtxt = f"{worst[2] / worst[1] - 1:+.0%} ({worst[0][0]}×{worst[0][1]}×{worst[0][2]}, P={worst[0][3]})" if worst else "–"
        print(f"| {s} | " + " | ".join(f"{c:.3g}" if c > 1e-6 else "0" for c in cb) + f" | {len(rb)} | {wtxt} | " + ", ".join(f"{c:.3g}" if c > 1e-6 else "0" for c in cm) + " |")
    print("\nResiduals (measured → fitted bytes per rank):")
    for s in STAGES:
        _, rb = fit(data[s], stage_byte_features(s), 4)
        if rb:
            print(f"  {s:13s} " + "  ".join(f"{p[0]}×{p[2]}/{p[3]}: {human(m)}→{f / m - 1:+.0%}" for p, m, f in sorted(rb, key=lambda x: (x[0][0], x[0][2], x[0][3]))))
    print(f"\nCompute: core-seconds per voxel from the 1-core row of {os.path.relpath(a.compute, ROOT)} ({'×'.join(map(str, shape))}): "
          + ", ".join(f"{s} {v * 1e9:.3g} ns" for s, v in cs.items()))
    if a.flat:
        print(f"Scenario --flat {a.flat}: those stages exchange, whatever P, the bytes and messages per face voxel measured at the fewest ranks")
    print(f"Network: {a.bandwidth / 1e9:g} GB/s per node, {a.latency * 1e6:g} us per message, {a.cores_per_node} cores per node; "
          f"a stage speeds up by 1 + theta (T - 1) on T threads, theta {a.thread_efficiency:g} (assumed); the lane stages at most "
          "1 / (f + (1 - f) / T), f their serial fraction from 2 threads against 2 ranks: "
          + ", ".join(f"{s} f = {serial_fraction(s, a):.2f} (2 threads {a.q[s]:g}x as fast as 2 ranks)" for s in sorted(a.q)
                      if serial_fraction(s, a) is not None) + "\n")
    print("| N | cores | best ranks × threads | compute s | bandwidth s | latency s | efficiency | " + " | ".join(STAGES) + " | limited by | GB per core |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(STAGES) + "---|---|")
    for N in (2048, 4096):
        for cores in (64, 512, 4096):
            if not options(N, cores, coef, cs, a):
                continue  # no split with P <= N and T <= --max-threads
            e, P, T, pr = evaluate(N, cores, coef, cs, a)
            st_eff = {s: cs[s] * N ** 3 / cores / sum(pr[s][:3]) if sum(pr[s][:3]) > 0 else 1.0 for s in pr}
            s, why = limiting(pr, cs, N, cores, T, a)
            print(f"| {N} | {cores} | {P} × {T} | {sum(v[0] for v in pr.values()):.0f} | {sum(v[1] for v in pr.values()):.0f} | "
                  f"{sum(v[2] for v in pr.values()):.1f} | {e:.2f} | " + " | ".join(f"{st_eff.get(x, 1):.2f}" for x in STAGES)
                  + f" | {s}: {why} | {BYTES_PER_VOXEL * N ** 3 / cores / 1e9:.1f} |")
    for N, cores, target in ((2048, 512, 0.5), (4096, 4096, 0.3)):
        opts = options(N, cores, coef, cs, a)
        if not opts:
            print(f"\nTarget N = {N} on {cores} cores: no ranks × threads split with P <= N and T <= {a.max_threads}")
            continue
        print(f"\nTarget N = {N} on {cores} cores (target: efficiency >= {target}), every ranks × threads choice:\n")
        print("| ranks × threads | efficiency | compute s | bandwidth s | latency s | limited by |")
        print("|---|---|---|---|---|---|")
        for e, P, T, pr in opts:
            s, why = limiting(pr, cs, N, cores, T, a)
            print(f"| {P} × {T} | {e:.2f} | {sum(v[0] for v in pr.values()):.0f} | {sum(v[1] for v in pr.values()):.0f} | {sum(v[2] for v in pr.values()):.1f} | {s}: {why} |")
        e, P, T, pr = opts[0]
        s, why = limiting(pr, cs, N, cores, T, a)
        print(f"\nBest: {P} ranks × {T} threads, predicted whole-pipeline efficiency {e:.2f} (target {target}); limited by {s}: {why}.")

if __name__ == "__main__":
    main()
