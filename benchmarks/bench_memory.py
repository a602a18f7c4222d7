#!/usr/bin/env python3
"""Memory benchmark: the pre-run estimate of src/memory.c against the measured peak.

For every stage the program estimates (generation in both fft.memory modes and precisions,
covariance, intrinsic volumes, components, openings/MIP, geodesic, conduction, writing the labels
and the fields, a measured image, calibration, segmentation) one run with that stage alone switched
on (generation is always there for model runs), at two sizes and 1 and 2 ranks. Each rank runs
under /usr/bin/time, whose maximum resident set size (VmHWM) is the measured peak; the estimate is
the program's own (-run_memory_report: bytes per rank of every stage). Writes
benchmarks/bench_memory.csv and prints a markdown table with estimate / measured.

Usage: /usr/bin/python3 benchmarks/bench_memory.py [--sizes 96,160] [--ranks 1,2] [--only STAGE,...]
"""
import argparse
import csv
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PLURIGAUSS_BIN", os.path.join(ROOT, "bin", "plurigauss"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
PY = "/usr/bin/python3"
OFF = {"measure_covariance": "false", "measure_intrinsic": "false", "measure_percolation": "false", "measure_psd": "false", "measure_psd2d": "false",
       "measure_mip": "false", "measure_tortuosity": "false", "conductivity_solve": "false", "output_write_phase": "false", "output_write_fields": "false"}
# stage -> the keys that switch it on (everything else off)
STAGES = {
    "generate_fast_single": {"fft_memory": "fast", "output_precision": "single"},
    "generate_fast_double": {"fft_memory": "fast", "output_precision": "double"},
    "generate_low_single": {"fft_memory": "low", "output_precision": "single"},
    "covariance": {"measure_covariance": "true"},
    "intrinsic": {"measure_intrinsic": "true"},
    "components": {"measure_percolation": "true"},
    "opening": {"measure_psd": "true", "measure_psd2d": "true", "measure_mip": "true"},
    "geodesic": {"measure_tortuosity": "true"},
    "conductivity": {"conductivity_solve": "true"},
    "write_phase": {"output_write_phase": "true"},
    "write_fields": {"output_write_phase": "true", "output_write_fields": "true", "output_precision": "double"},
}


def run(cmd_args, ranks, tmp):
    """Runs the program under /usr/bin/time on every rank; returns (estimate dict, measured peak bytes)."""
    hwm_file = os.path.join(tmp, "hwm.txt")
    if os.path.exists(hwm_file):
        os.remove(hwm_file)
    # one line per rank, appended (O_APPEND: the ranks' lines do not interleave)
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), "/usr/bin/time", "-a", "-o", hwm_file, "-f", "pg_hwm_kb %M", BIN] + cmd_args + ["-run_memory_report", "true"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, cwd=tmp, timeout=3600)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    est = {m.group(1): float(m.group(2)) for m in re.finditer(r"^  (\w+)\s+(\d+) bytes", p.stdout, re.M)}
    kb = re.findall(r"pg_hwm_kb (\d+)", open(hwm_file).read())
    if len(kb) != ranks:
        sys.exit(f"no peak from every rank of {' '.join(cmd)}\n{p.stdout[-1000:]}\n{p.stderr[-2000:]}")
    hwm = max(int(k) for k in kb) * 1024
    return est, hwm


def model_args(n, stage, tmp):
    keys = dict(OFF, **STAGES[stage])
    args = [os.path.join(ROOT, "inputs", "tiny.yaml"), "-domain_shape", f"{n},{n},{n}", "-sweep_realizations", "1", "-fft_planner", "estimate",
            "-output_file", os.path.join(tmp, "m.h5"), "-output_overwrite", "true", "-measure_axes", "xyz", "-conductivity_axes", "z"]
    for k, v in keys.items():
        args += [f"-{k}", v]
    return args


def image_args(n, tmp):
    """A label image of n^3 (a model realization written once), measured with every descriptor but the solve."""
    img = os.path.join(tmp, f"img{n}.h5")
    if not os.path.exists(img):
        run(model_args(n, "write_phase", tmp) + ["-output_file", img], 1, tmp)
    return ["-input_image", img + ":/runs/0000/phase", "-output_file", os.path.join(tmp, "i.h5"), "-output_overwrite", "true", "-conductivity_solve", "false"]


def calibration_args(n, tmp, grey=False):
    """Synthetic calibration data: a stack of n x n x (3n/4) and three n^2 images (tools/make_calibration_data.py)."""
    data = os.path.join(tmp, f"cal{n}{'g' if grey else ''}.h5")
    if not os.path.exists(data):
        extra = ["--grey"] if grey else []
        subprocess.run([PY, os.path.join(ROOT, "tools", "make_calibration_data.py"), data, "--n3", f"{n},{n},{3 * n // 4}", "--n2", str(2 * n), "--images", "3"] + extra,
                       check=True, capture_output=True)
    if grey:
        return ["-segment_volume", data + ":/grey/volume", "-segment_images", ",".join(f"{data}:/grey/images/{k}" for k in range(3)), "-segment_calibrate", "false",
                "-output_file", os.path.join(tmp, "s.h5")]
    return ["-calibration_volume", data + ":/volume", "-calibration_images", ",".join(f"{data}:/images/{k}" for k in range(3)), "-calibration_simulate", "false",
            "-output_file", os.path.join(tmp, "c.h5"), "-output_overwrite", "true"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="96,160")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "bench_memory.csv"))
    a = ap.parse_args()
    tmp = os.path.join(ROOT, "out", "bench_memory")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    only = set(a.only.split(",")) - {""}
    cases = list(STAGES) + ["image", "calibrate", "segment"]
    rows = []
    for n in map(int, a.sizes.split(",")):
        for ranks in map(int, a.ranks.split(",")):
            for case in cases:
                if only and case not in only:
                    continue
                if case == "image":
                    args = image_args(n, tmp)
                elif case == "calibrate":
                    args = calibration_args(n, tmp)
                elif case == "segment":
                    args = calibration_args(n, tmp, grey=True)
                else:
                    args = model_args(n, case, tmp)
                est, hwm = run(args, ranks, tmp)
                peak_stage = max(est.items(), key=lambda kv: kv[1] if kv[0] != "available" else -1)
                r = dict(case=case, n=n, ranks=ranks, peak_stage=peak_stage[0], estimate_bytes=int(peak_stage[1]), measured_bytes=hwm,
                         ratio=round(peak_stage[1] / hwm, 3))
                rows.append(r)
                print(r, flush=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("\n| case | N | ranks | peak stage (estimate) | estimate MiB | measured MiB | estimate / measured |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['n']} | {r['ranks']} | {r['peak_stage']} | {r['estimate_bytes'] / 2**20:.1f} | {r['measured_bytes'] / 2**20:.1f} | {r['ratio']} |")
    bad = [r for r in rows if r["ratio"] < 0.97 or r["ratio"] > 1.3]
    print(f"\n{len(rows)} cases; {len(bad)} outside [0.97, 1.3] (under-estimates by more than 3% or over-estimates by more than 30%)")


if __name__ == "__main__":
    main()
