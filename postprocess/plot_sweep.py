#!/usr/bin/env python3
"""Figure 6a style: pairwise interface areas per unit volume S_12, S_13, S_23 (mean and range over
the realizations) against the carbon fraction of a sweep, from the run table (CSV): the label-based
values, the field-based ones (S_ij_field, open diamonds) and the model's exact expectation (dashed,
from the /model attributes of the HDF5 output beside the CSV). The whole of
Figure 6 (tortuosity, M-factors, percolation, constrictivity) is made by make_figures.py.

Usage: /usr/bin/python3 postprocess/plot_sweep.py OUT.csv [--png FILE] [--band minmax|std]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgplot as pg  # noqa: E402
from pgplot import plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--png")
    ap.add_argument("--band", choices=("minmax", "std"), default="minmax")
    a = ap.parse_args()
    rows = pg.read_rows(a.csv)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    h5 = os.path.splitext(a.csv)[0] + ".h5"
    model = pg.model_parameters(h5)
    pts = sorted({r["eps2_target"] for r in rows})
    curve = pg.interface_curves(model, np.linspace(min(pts), max(pts), 41)) if model and pts else None
    for col, p in (("S_12", (1, 2)), ("S_13", (1, 3)), ("S_23", (2, 3))):
        if pg.has_column(rows, col):
            pg.errorbar(ax, pg.sweep_stats(rows, col, a.band), color=pg.PAIR_LINE[p], label="S$_{%d%d}$ %s\u2013%s" % (*p, pg.NAMES[p[0]], pg.NAMES[p[1]]))
        if pg.has_column(rows, col + "_field"):
            pg.errorbar(ax, pg.sweep_stats(rows, col + "_field", a.band), color=pg.PAIR_LINE[p], ls="none", marker="D", mfc="white", label="S$_{%d%d}$ from the fields" % p)
        if curve is not None:
            ax.plot(curve["x"], curve[col], color=pg.PAIR_LINE[p], ls="--", lw=1.3, label="S$_{%d%d}$ exact" % p)
    ax.set_xlabel("carbon fraction \u03b5\u2082 incl. nanopores (target)")
    ax.set_ylabel("interface area per unit volume (1/%s)" % pg.UM)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    pg.solid_axis(ax, pg.nanopore_ratio(h5, rows))
    fig.tight_layout()
    png = a.png or os.path.splitext(a.csv)[0] + "_interfaces.png"
    pg.savefig(fig, png)
    print(png)


if __name__ == "__main__":
    main()
