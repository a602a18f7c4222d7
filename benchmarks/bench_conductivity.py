#!/usr/bin/env python3
"""Conduction-solve benchmark (issue: the M-factor measured).

On realizations of the paper's model (`inputs/nvp_paper.yaml`, 16.6 nm voxels) at N^3 for N in
--n (default 128 256 300), the carbon phase (2, eps = 0.34) along z, at 1 and 2 ranks, with CG +
hypre BoomerAMG (the program's default settings) and CG + PETSc GAMG (its defaults), rtol 1e-6:
solve time (assembly, AMG setup and iterations; slowest rank), iterations, unknowns, peak bytes per
unknown, and the ratio of the solve to the generation of the same realization (the program's
t_generate_s at the same rank count). Writes benchmarks/bench_conductivity.csv and a markdown table.
Usage: /usr/bin/python3 benchmarks/bench_conductivity.py [--n 128 256 300] [--phase 2]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
VOXEL = 0.0166
OFF = ["-measure_covariance", "false", "-measure_intrinsic", "false", "-measure_percolation", "false", "-measure_psd", "false",
       "-measure_mip", "false", "-measure_tortuosity", "false", "-conductivity_solve", "false"]


def generate(n, ranks, tmp):
    """A realization as raw labels, and the generation time at this rank count."""
    import h5py
    out = os.path.join(tmp, f"g{n}_{ranks}.h5")
    cmd = ["mpirun", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin", "plurigauss"), os.path.join(ROOT, "inputs", "nvp_paper.yaml"),
           "-domain_shape", f"{n},{n},{n}", "-sweep_realizations", "1", "-output_file", out, "-output_overwrite"] + OFF
    subprocess.run(cmd, env=ENV, check=True, capture_output=True)
    with open(os.path.splitext(out)[0] + ".csv") as f:
        tgen = float(next(csv.DictReader(f))["t_generate_s"])
    raw = os.path.join(tmp, f"g{n}.u8")
    with h5py.File(out, "r") as f:
        f["runs/0000/phase"][...].tofile(raw)
    return raw, tgen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[128, 256, 300])
    ap.add_argument("--phase", type=int, default=2)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.n:
            for ranks in (1, 2):
                raw, tgen = generate(n, ranks, tmp)
                for pc in ("hypre", "gamg"):
                    cmd = ["mpirun", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin", "test_conductivity"), "-n", f"{n},{n},{n}",
                           "-voxel", f"{VOXEL},{VOXEL},{VOXEL}", "-in", raw, "-value", str(a.phase), "-axes", "4", "-rtol", "1e-6", "-cond_pc_type", pc]
                    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
                    if p.returncode != 0:
                        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
                    v = {l.split()[0]: l.split()[1:] for l in p.stdout.splitlines() if l.split()}
                    m = v["M_z"]
                    t = float(v["t_z"][0])
                    unknowns = int(m[6])
                    r = dict(n=n, ranks=ranks, pc=pc, M=float(m[0]), iterations=int(m[3]), unknowns=unknowns, solve_s=round(t, 3),
                             generate_s=round(tgen, 3), solve_over_generate=round(t / tgen, 1),
                             peak_bytes_per_unknown=round(float(v["peak_bytes"][0]) / (unknowns / ranks), 0))
                    rows.append(r)
                    print(r, flush=True)
    path = os.path.join(ROOT, "benchmarks", "bench_conductivity.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}\n")
    print("| N | ranks | preconditioner | unknowns | iterations | solve s | generate s | solve / generate | peak B/unknown | M |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['ranks']} | {r['pc']} | {r['unknowns']} | {r['iterations']} | {r['solve_s']} | {r['generate_s']} | {r['solve_over_generate']} | {r['peak_bytes_per_unknown']:.0f} | {r['M']:.5f} |")


if __name__ == "__main__":
    main()
