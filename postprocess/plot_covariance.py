#!/usr/bin/env python3
"""Figure 3 style: centred two-point coverage functions C_ij(h) - eps_i eps_j of every run of an
output file (radial curves from /runs/<k>/descriptors), one panel per pair, optionally beside the
curves of a measured image (another output file written with input.image).

Usage: /usr/bin/python3 postprocess/plot_covariance.py OUT.h5 [--data IMAGE_OUT.h5] [--png FILE]
"""
import argparse
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PAIRS = [(1, 1), (2, 2), (3, 3), (1, 2), (1, 3), (2, 3)]  # the paper's panel order (a)-(f)
ROW = {(1, 1): 0, (1, 2): 1, (1, 3): 2, (2, 2): 3, (2, 3): 4, (3, 3): 5}
NAMES = {1: "NVP", 2: "carbon", 3: "pore"}


def curves(path):
    out = []
    with h5py.File(path, "r") as f:
        for k in sorted(f["runs"]):
            g = f["runs"][k]
            if "descriptors" not in g or "C_radial" not in g["descriptors"]:
                continue
            eps = [float(g.attrs[f"eps_{i}"]) for i in (1, 2, 3)]
            out.append((g["descriptors/r_um"][...], g["descriptors/C_radial"][...], eps))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--data")
    ap.add_argument("--png")
    ap.add_argument("--hmax", type=float, help="largest lag shown (um)")
    a = ap.parse_args()
    model = curves(a.file)
    data = curves(a.data) if a.data else []
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for ax, (i, j) in zip(axes.ravel(), PAIRS):
        for n, (r, C, eps) in enumerate(model):
            ax.plot(r, C[ROW[i, j]] - eps[i - 1] * eps[j - 1], color="tab:green", lw=1, label="model" if n == 0 else None)
        for n, (r, C, eps) in enumerate(data):
            ax.plot(r, C[ROW[i, j]] - eps[i - 1] * eps[j - 1], "k--", lw=1.5, label="data" if n == 0 else None)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title(f"C{i}{j} - eps{i} eps{j}  ({NAMES[i]}, {NAMES[j]})", fontsize=9)
        ax.set_xlabel("h (um)")
        if a.hmax:
            ax.set_xlim(0, a.hmax)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png = a.png or os.path.splitext(a.file)[0] + "_covariance.png"
    fig.savefig(png, dpi=110)
    print(png)


if __name__ == "__main__":
    main()
