#!/usr/bin/env python3
"""Strong and weak scaling of every stage of the program on this machine.

Runs bin/plurigauss on a deck (default `inputs/nvp_paper.yaml`, the paper's pipeline: single
precision, every descriptor and the conduction solve along z; --generate-only switches every
descriptor off; one realization, `fft.time_bare` for the generation floor) in these
configurations:
  strong  N^3 fixed (--n, default 192): 1 rank, 2 ranks, and hybrid 1 rank x 2 threads
  weak    voxels per rank fixed: W x W x W on 1 rank, W x W x 2W on 2 ranks (each rank the same
          slab), and the hybrid 1 rank x 2 threads on the 2-rank volume (--weak W, default 160)
Each run becomes one row of the scaling table (benchmarks/scaling_table.py: the median seconds of
every stage read from the run's CSV, the bare FFT time, peak bytes per voxel), the same table the
sbatch scaling scripts write. Writes benchmarks/bench_scaling.csv, prints the markdown tables
(every stage's seconds and efficiency against the 1-core row: strong E = t1 / (c t), weak
E = t1 / t) and draws benchmarks/scaling.png with postprocess/plot_scaling.py. The machine has 2
cores: 2-way runs compete with anything else running; take ratios within one run of this script.
Usage: /usr/bin/python3 benchmarks/bench_scaling.py [--n 192] [--weak 160] [--deck DECK] [--generate-only]
         [--reps 1] [--plot-only]
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import scaling_table  # noqa: E402

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
GENERATE_ONLY = ["-measure_covariance", "false", "-measure_intrinsic", "false", "-measure_percolation", "false", "-measure_psd", "false",
                 "-measure_psd2d", "false", "-measure_mip", "false", "-measure_tortuosity", "false", "-conductivity_solve", "false"]
TABLE = os.path.join(ROOT, "benchmarks", "bench_scaling.csv")
PNG = os.path.join(ROOT, "benchmarks", "scaling.png")


def run(tmp, deck, kind, what, ranks, threads, shape, reps):
    base = os.path.join(tmp, f"{kind}_{ranks}_{threads}_{'x'.join(map(str, shape))}")
    cmd = ["mpirun", "--bind-to", "none", "-np", str(ranks), "-x", f"OMP_NUM_THREADS={threads}", os.path.join(ROOT, "bin", "plurigauss"), deck,
           "-domain_shape", ",".join(map(str, shape)), "-sweep_realizations", str(reps), "-output_file", base + ".h5", "-output_overwrite",
           "-output_write_phase", "false", "-threads", str(threads), "-fft_time_bare"] + (GENERATE_ONLY if what == "generate" else [])
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    with open(base + ".log", "w") as f:
        f.write(p.stdout + p.stderr)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return scaling_table.make_row(base + ".csv", base + ".log", kind, what, 1, ranks, threads, shape, precision="single", launcher="mpirun")


def plot():
    subprocess.run([sys.executable, os.path.join(ROOT, "postprocess", "plot_scaling.py"), TABLE, "--png", PNG], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=192)
    ap.add_argument("--weak", type=int, default=160)
    ap.add_argument("--deck", default=os.path.join(ROOT, "inputs", "nvp_paper.yaml"))
    ap.add_argument("--generate-only", action="store_true", help="every descriptor off: time generation only")
    ap.add_argument("--reps", type=int, default=1, help="realizations per run (medians)")
    ap.add_argument("--plot-only", action="store_true", help="redraw scaling.png from bench_scaling.csv")
    a = ap.parse_args()
    if a.plot_only:
        plot()
        return
    n, w = a.n, a.weak
    what = "generate" if a.generate_only else "pipeline"
    configs = [("strong", 1, 1, (n, n, n)), ("strong", 2, 1, (n, n, n)), ("strong", 1, 2, (n, n, n)),
               ("weak", 1, 1, (w, w, w)), ("weak", 2, 1, (w, w, 2 * w)), ("weak", 1, 2, (w, w, 2 * w))]
    if os.path.exists(TABLE):
        os.remove(TABLE)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, ranks, threads, shape in configs:
            row = run(tmp, a.deck, kind, what, ranks, threads, shape, a.reps)
            scaling_table.append_row(TABLE, row)
            rows.append({k: str(v) for k, v in row.items()})
            print(f"{kind} {ranks}x{threads} {shape}: " + ", ".join(f"{s} {row[f't_{s}_s']}" for s in scaling_table.STAGES if row[f"t_{s}_s"])
                  + f", bare FFT {row['t_bare_fft_s']}, peak {row['peak_bytes_per_voxel']} B/voxel", flush=True)
    print(f"wrote {TABLE}\n")
    print(scaling_table.markdown(rows))
    plot()


if __name__ == "__main__":
    main()
