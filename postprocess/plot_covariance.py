#!/usr/bin/env python3
"""Figure 3 style: centred two-point coverage functions C_ij(h) - eps_i eps_j of every run of an
output file (radial curves from /runs/<k>/descriptors), one panel per pair, optionally beside the
curves of a measured image (another output file written with input.image) and the data of the
file's /calibration group. make_figures.py draws Figure 3 at one sweep point with its band.

Usage: /usr/bin/python3 postprocess/plot_covariance.py OUT.h5 [--data IMAGE_OUT.h5] [--png FILE] [--hmax UM]
"""
import argparse
import os
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgplot as pg  # noqa: E402
from pgplot import plt  # noqa: E402


def curves(path):
    with h5py.File(path, "r") as f:
        return [c for c in (pg.centred_covariance(g) for _, g in pg.runs(f)) if c is not None], pg.calibration_covariance(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--data")
    ap.add_argument("--png")
    ap.add_argument("--hmax", type=float, help="largest lag shown (um)")
    a = ap.parse_args()
    model, cal = curves(a.file)
    data = curves(a.data)[0] if a.data else []
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for n, (ax, p) in enumerate(zip(axes.ravel(), pg.PAIRS)):
        for k, (r, C) in enumerate(model):
            ax.plot(r, C[p], color=pg.PAIR_LINE[p], lw=1, label="model runs" if k == 0 else None)
        for k, (r, C) in enumerate(data):
            ax.plot(r, C[p], "k--", lw=1.5, label="image (--data)" if k == 0 else None)
        for (lab, h, C), ls in zip(cal, (":", "-.", "--", (0, (1, 3)))):
            if p in C:
                ax.plot(h, C[p], ls=ls, color="0.25", lw=1.4, label=lab)
        ax.axhline(0, color="0.6", lw=0.5)
        i, j = p
        ax.set_title("(%s) C$_{%d%d}$ \u2212 \u03b5$_%d$\u03b5$_%d$: %s\u2013%s" % ("abcdef"[n], i, j, i, j, pg.NAMES[i], pg.NAMES[j]), fontsize=9)
        ax.set_xlabel("distance h (%s)" % pg.UM)
        ax.set_ylabel("C$_{ij}$(h) \u2212 \u03b5$_i$\u03b5$_j$")
        if a.hmax:
            ax.set_xlim(0, a.hmax)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = a.png or os.path.splitext(a.file)[0] + "_covariance.png"
    pg.savefig(fig, png)
    print(png)


if __name__ == "__main__":
    main()
