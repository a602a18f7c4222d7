#!/usr/bin/env python3
"""Merge the per-point outputs of a sweep run as a job array (jobs/sweep.sbatch) into one table.

Usage: python3 postprocess/merge_sweep.py STEM --points N [--realizations R] [--out FILE]
  STEM    the deck's output.file without .h5 (out/nvp_carbon_sweep): reads STEM_p<i>.csv,
          i = 0 .. N-1, each written by one array task
  --out   the table (default STEM_sweep.csv)

The table has one row per run: `point` (the index i of the carbon fraction in the sweep list),
then the tasks' columns, with `run` renumbered to the run's index in the whole sweep,
point * R + realization (what one job running the whole deck would call it); rows sorted by
point, then realization. Checks, each reported in one line, exit status 1 if any fails: every
point's output complete (STEM_p<i>.h5 present, not only its .part), every (point, realization)
exactly once, realizations 0 .. R-1 at every point, the same columns in every file. Needs only
python3 (no numpy).
"""
import argparse
import csv
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stem")
    ap.add_argument("--points", type=int, required=True)
    ap.add_argument("--realizations", type=int, help="expected realizations per point (default: as many as point 0 has)")
    ap.add_argument("--out")
    a = ap.parse_args()
    stem = a.stem[:-3] if a.stem.endswith(".h5") else a.stem
    out = a.out or stem + "_sweep.csv"
    problems, rows, columns = [], [], None
    for p in range(a.points):
        h5, path = f"{stem}_p{p}.h5", f"{stem}_p{p}.csv"
        if not os.path.exists(h5):
            problems.append(f"point {p}: {h5} missing" + (" (only the .part: the task has not finished)" if os.path.exists(h5 + ".part") else ""))
        if not os.path.exists(path):
            problems.append(f"point {p}: {path} missing")
            continue
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            if columns is None:
                columns = r.fieldnames
            elif r.fieldnames != columns:
                problems.append(f"point {p}: columns of {path} differ from those of point 0")
            for row in r:
                row["point"] = p
                rows.append(row)
    if columns is None:
        print("merge_sweep: error: no task output found", file=sys.stderr)
        return 1
    R = a.realizations
    if R is None:
        R = len({int(float(r["realization"])) for r in rows if r["point"] == 0}) or 1
    seen = {}
    for r in rows:
        key = (r["point"], int(float(r["realization"])))
        seen[key] = seen.get(key, 0) + 1
    for p in range(a.points):
        for k in range(R):
            n = seen.get((p, k), 0)
            if n != 1:
                problems.append(f"point {p} realization {k}: {n} rows")
    extra = sorted(k for k in seen if k[1] >= R or k[1] < 0)
    if extra:
        problems.append(f"realizations outside 0..{R - 1}: {extra[:5]}")
    fractions = {}
    for r in rows:
        fractions.setdefault(r["point"], set()).add(r["eps2_target"])
    for p, f in sorted(fractions.items()):
        if len(f) != 1:
            problems.append(f"point {p}: several eps2_target values {sorted(f)}")
    rows.sort(key=lambda r: (r["point"], int(float(r["realization"]))))
    for r in rows:
        r["run"] = r["point"] * R + int(float(r["realization"]))
    cols = ["point"] + list(columns)
    tmp = out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out)
    print(f"merge_sweep: {len(rows)} runs of {a.points} points x {R} realizations -> {out}")
    for m in problems:
        print(f"merge_sweep: error: {m}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
