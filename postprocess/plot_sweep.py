#!/usr/bin/env python3
"""Figure 6a style: pairwise interface areas per unit volume S_12, S_13, S_23 (mean and range over
the realizations) against the carbon fraction of a sweep, from the run table (CSV).

Usage: /usr/bin/python3 postprocess/plot_sweep.py OUT.csv [--png FILE]
"""
import argparse
import csv
import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--png")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.csv)))
    by = defaultdict(list)
    for r in rows:
        by[float(r["eps2_target"])].append(r)
    x = sorted(by)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for col, lab in (("S_12", "NVP-carbon"), ("S_13", "NVP-pore"), ("S_23", "carbon-pore")):
        if col not in rows[0]:
            continue
        v = [[float(r[col]) for r in by[p]] for p in x]
        ax.errorbar(x, [np.mean(t) for t in v], yerr=[[np.mean(t) - min(t) for t in v], [max(t) - np.mean(t) for t in v]], marker="o", capsize=3, label=lab)
    ax.set_xlabel("volume fraction of carbon (incl. nanopores)")
    ax.set_ylabel("interface area per unit volume (1/um)")
    ax.legend()
    fig.tight_layout()
    png = a.png or os.path.splitext(a.csv)[0] + "_interfaces.png"
    fig.savefig(png, dpi=110)
    print(png)


if __name__ == "__main__":
    main()
