#!/usr/bin/env python3
"""Interface-area benchmark: the bias of the label-based and of the field-based interface
areas against the model's exact expectation, and the cost of the field-based estimator.

  resolution  eps2 = 0.3372 (Table 1's fractions), voxel sizes 33, 16.6, 8.3, 4.15 nm: the mean
              relative error (and its standard error over the realizations) of the label-based
              S_1, S_2, S_3, S_12, S_13, S_23 (intrinsic.c), of the field-based S_12, S_13, S_23
              (crossing.c, extrapolated to zero step) and of the same crossings combined with the
              plain Crofton weights (no extrapolation; from the HDF5 tables);
  classes     16.6 nm, eps2 = 0.3372: the field-based crossings per unit length of each direction
              class (axes, face and space diagonals) against the exact S/2: the lattice bias that
              the extrapolation removes;
  sweep       16.6 nm, eps2 = 0.150, 0.175, ..., 0.400 with common random numbers: the same errors
              per point (the target: field-based within 2 %);
  cost        the estimator's time over the generation's (t_interface_s / t_generate_s, medians of
              the runs of one process; beside them the threshold pass, which also reads the
              fields once) in both fft.memory modes, and the peak resident bytes per
              voxel with the estimator on and off.
Writes benchmarks/bench_interface.csv (long format; rerunning some --parts replaces only their rows)
and prints markdown tables.
Usage: /usr/bin/python3 benchmarks/bench_interface.py [--parts resolution,classes,sweep,cost] [--ranks 2] [--quick]
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
OFF = ["-measure_covariance", "false", "-measure_percolation", "false", "-measure_psd", "false", "-measure_mip", "false", "-measure_tortuosity", "false",
       "-conductivity_solve", "false", "-output_write_phase", "false", "-output_precision", "single", "-output_overwrite", "true"]
PAIRS = ("12", "13", "23")
# voxel size (um) -> grid and realizations of the resolution table
RESOLUTION = [(0.033, 128, 16), (0.0166, 256, 8), (0.0083, 384, 6), (0.00415, 512, 6)]
SWEEP = [round(0.15 + 0.025 * k, 3) for k in range(11)]


def run(ranks, out, args):
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), os.path.join(ROOT, "bin/plurigauss"), os.path.join(ROOT, "inputs/nvp_paper.yaml"),
           "-output_file", out] + OFF + [str(a) for a in args]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    with open(out[:-3] + ".csv") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    crofton = {}
    with h5py.File(out, "r") as f:
        for r in rows:
            g = f["runs/%04d/descriptors" % int(r["run"])]
            if "interface_P_L" in g:
                PL = g["interface_P_L"][...]
                crofton[int(r["run"])] = 2 * g["interface_weights"][1] @ PL
                # 2 x the mean P_L of the axes, face and space diagonals (cubic voxels)
                crofton["classes", int(r["run"])] = [2 * PL[a:b].mean(axis=0) for a, b in ((0, 3), (3, 9), (9, 13))]
    os.remove(out)
    return rows, crofton


def errors(rows, crofton):
    """{(estimator, quantity): (exact, mean, mean relative error, its standard error)}."""
    out = {}
    series = {("label", "S_%d" % i): ("S_%d" % i, "S_%d_exact" % i) for i in (1, 2, 3)}
    for p in PAIRS:
        series[("label", "S_" + p)] = ("S_" + p, "S_%s_exact" % p)
        series[("field", "S_" + p)] = ("S_%s_field" % p, "S_%s_exact" % p)
    for (est, q), (col, ex) in series.items():
        if col not in rows[0]:
            continue
        v = np.array([r[col] for r in rows])
        e = np.array([r[ex] for r in rows])
        rel = v / e - 1
        out[(est, q)] = (e.mean(), v.mean(), rel.mean(), rel.std(ddof=1) / np.sqrt(len(rel)) if len(rel) > 1 else float("nan"))
    if crofton:
        for k, p in enumerate(PAIRS):
            for c, name in enumerate(("axes", "face", "space")):
                v = np.array([crofton["classes", int(r["run"])][c][k] for r in rows])
                e = np.array([r["S_%s_exact" % p] for r in rows])
                rel = v / e - 1
                out[("field_" + name, "S_" + p)] = (e.mean(), v.mean(), rel.mean(), rel.std(ddof=1) / np.sqrt(len(rel)))
        for k, p in enumerate(PAIRS):
            v = np.array([crofton[int(r["run"])][k] for r in rows])
            e = np.array([r["S_%s_exact" % p] for r in rows])
            rel = v / e - 1
            out[("field_crofton", "S_" + p)] = (e.mean(), v.mean(), rel.mean(), rel.std(ddof=1) / np.sqrt(len(rel)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="resolution,classes,sweep,cost")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="small grids and few realizations (a smoke run, not the table)")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks/bench_interface.csv"))
    a = ap.parse_args()
    tmp = os.path.join(ROOT, "out")
    os.makedirs(tmp, exist_ok=True)
    parts = a.parts.split(",")
    table = []
    fields = ["part", "voxel_nm", "n", "realizations", "eps2", "estimator", "quantity", "exact_per_um", "mean_per_um", "rel_error", "rel_error_se", "value"]

    if "resolution" in parts:
        for voxel, n, R in RESOLUTION:
            if a.quick:
                n, R = min(n, 96), 2
            rows, cro = run(a.ranks, os.path.join(tmp, "bi_res.h5"), ["-domain_shape", f"{n},{n},{n}", "-domain_voxel_size_um", voxel, "-sweep_realizations", R])
            for (est, q), (ex, mean, rel, se) in errors(rows, cro).items():
                table.append(dict(part="resolution", voxel_nm=voxel * 1000, n=n, realizations=R, eps2=0.3372, estimator=est, quantity=q, exact_per_um=round(ex, 4),
                                  mean_per_um=round(mean, 4), rel_error=round(rel, 5), rel_error_se=round(se, 5)))
            print(f"resolution {voxel * 1000:g} nm done", flush=True)

    if "classes" in parts:
        n, R = (96, 2) if a.quick else (256, 8)
        rows, cro = run(a.ranks, os.path.join(tmp, "bi_cls.h5"), ["-domain_shape", f"{n},{n},{n}", "-sweep_realizations", R])
        for (est, q), (ex, mean, rel, se) in errors(rows, cro).items():
            if est.startswith("field"):
                table.append(dict(part="classes", voxel_nm=16.6, n=n, realizations=R, eps2=0.3372, estimator=est, quantity=q, exact_per_um=round(ex, 4),
                                  mean_per_um=round(mean, 4), rel_error=round(rel, 5), rel_error_se=round(se, 5)))
        print("classes done", flush=True)

    if "sweep" in parts:
        n, R = (96, 2) if a.quick else (256, 8)
        rows, cro = run(a.ranks, os.path.join(tmp, "bi_sweep.h5"), ["-domain_shape", f"{n},{n},{n}", "-sweep_carbon_fraction", ",".join(map(str, SWEEP)), "-sweep_realizations", R,
                                                                    "-sweep_common_random_numbers", "true"])
        for e2 in SWEEP:
            rs = [r for r in rows if abs(r["eps2_target"] - e2) < 1e-9]
            for (est, q), (ex, mean, rel, se) in errors(rs, cro).items():
                table.append(dict(part="sweep", voxel_nm=16.6, n=n, realizations=R, eps2=e2, estimator=est, quantity=q, exact_per_um=round(ex, 4), mean_per_um=round(mean, 4),
                                  rel_error=round(rel, 5), rel_error_se=round(se, 5)))
        print("sweep done", flush=True)

    if "cost" in parts:
        n, R = (128, 3) if a.quick else (256, 4)
        for ranks in (1, a.ranks):
            for mode in ("fast", "low"):
                for on in ("true", "false"):
                    rows, _ = run(ranks, os.path.join(tmp, "bi_cost.h5"), ["-domain_shape", f"{n},{n},{n}", "-sweep_realizations", R, "-fft_memory", mode, "-measure_intrinsic", "false",
                                                                           "-measure_interface_field", on])
                    peak = max(r["peak_rss_bytes_per_voxel"] for r in rows)
                    key = dict(part="cost", voxel_nm=16.6, n=n, realizations=R, eps2=0.3372, estimator=f"{mode} {ranks} rank{'s' if ranks > 1 else ''}")
                    table.append(dict(key, quantity="peak_bytes_per_voxel_interface_" + ("on" if on == "true" else "off"), value=round(peak, 2)))
                    if on == "true":
                        gen = statistics.median(r["t_generate_s"] for r in rows[1:] or rows)  # the first realization pays page faults
                        ti = statistics.median(r["t_interface_s"] for r in rows[1:] or rows)
                        thr = statistics.median(r["t_threshold_s"] for r in rows[1:] or rows)
                        table.append(dict(key, quantity="t_generate_s", value=round(gen, 4)))
                        table.append(dict(key, quantity="t_threshold_s", value=round(thr, 4)))
                        table.append(dict(key, quantity="t_interface_s", value=round(ti, 4)))
                        table.append(dict(key, quantity="interface_over_generate", value=round(ti / gen, 3)))
            if a.ranks == 1:
                break
        print("cost done", flush=True)

    kept = []
    if os.path.exists(a.out):  # the rows of the parts not rerun
        with open(a.out) as f:
            kept = [r for r in csv.DictReader(f) if r["part"] not in parts]
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in kept + table:
            w.writerow(r)
    # markdown
    res = [r for r in table if r["part"] == "resolution"]
    if res:
        print("\n| voxel | N | R | " + " | ".join(f"{q} label" for q in ("S_1", "S_2", "S_3", "S_12", "S_13", "S_23")) + " | " + " | ".join(f"{q} field" for q in ("S_12", "S_13", "S_23")) + " | " + " | ".join(f"{q} Crofton" for q in ("S_12", "S_13", "S_23")) + " |")
        print("|" + "---|" * 15)
        for voxel, _, _ in RESOLUTION:
            rs = {(r["estimator"], r["quantity"]): r for r in res if abs(r["voxel_nm"] - voxel * 1000) < 1e-6}
            if not rs:
                continue
            any_r = next(iter(rs.values()))
            cells = []
            for est, qs in (("label", ("S_1", "S_2", "S_3", "S_12", "S_13", "S_23")), ("field", ("S_12", "S_13", "S_23")), ("field_crofton", ("S_12", "S_13", "S_23"))):
                for q in qs:
                    r = rs.get((est, q))
                    cells.append(f"{100 * r['rel_error']:+.1f} ± {100 * r['rel_error_se']:.1f}" if r else "")
            print(f"| {voxel * 1000:g} nm | {any_r['n']} | {any_r['realizations']} | " + " | ".join(cells) + " |")
    cl = [r for r in table if r["part"] == "classes"]
    if cl:
        print("\n| 16.6 nm, eps2 0.3372 | " + " | ".join(f"S_{p}" for p in PAIRS) + " |")
        print("|---|---|---|---|")
        for est in ("field_axes", "field_face", "field_space", "field_crofton", "field"):
            rs = {r["quantity"]: r for r in cl if r["estimator"] == est}
            print(f"| {est} | " + " | ".join(f"{100 * rs['S_' + p]['rel_error']:+.2f} ± {100 * rs['S_' + p]['rel_error_se']:.2f}" for p in PAIRS) + " |")
    sw = [r for r in table if r["part"] == "sweep"]
    if sw:
        print("\n| eps2 | " + " | ".join(f"{q} field" for q in ("S_12", "S_13", "S_23")) + " | " + " | ".join(f"{q} label" for q in ("S_12", "S_13", "S_23")) + " |")
        print("|" + "---|" * 7)
        for e2 in SWEEP:
            rs = {(r["estimator"], r["quantity"]): r for r in sw if r["eps2"] == e2}
            cells = [f"{100 * rs[(est, q)]['rel_error']:+.2f} ± {100 * rs[(est, q)]['rel_error_se']:.2f}" if est == "field" else f"{100 * rs[(est, q)]['rel_error']:+.1f}"
                     for est in ("field", "label") for q in ("S_12", "S_13", "S_23")]
            print(f"| {e2:.3f} | " + " | ".join(cells) + " |")
    cost = [r for r in table if r["part"] == "cost"]
    if cost:
        print("\n| configuration | generate s | threshold s | interface s | interface / generate | peak B/voxel on | off |")
        print("|---|---|---|---|---|---|---|")
        for est in sorted({r["estimator"] for r in cost}):
            rs = {r["quantity"]: r["value"] for r in cost if r["estimator"] == est}
            print(f"| {est} | {rs['t_generate_s']} | {rs['t_threshold_s']} | {rs['t_interface_s']} | {rs['interface_over_generate']} | {rs['peak_bytes_per_voxel_interface_on']} | {rs['peak_bytes_per_voxel_interface_off']} |")


if __name__ == "__main__":
    main()
