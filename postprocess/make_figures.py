#!/usr/bin/env python3
"""All figures of a sweep (or of a single deck) from its output file, as PNG, in the paper's order:

  fig3_covariance.png   centred C_ij(h) - eps_i eps_j, six panels: every run of the model (thin),
                        their mean (thick), and the data's 2D and 3D curves when the file holds a
                        /calibration (Figure 3)
  fig4_psd2d.png        2D continuous phase size distributions: every z-slice of the first run
                        (green), the pooled model curve (black), and each calibration image (blue
                        dotted) with their mean (red) when present (Figure 4)
  fig4b_psd3d_mip.png   3D cPSD and simulated mercury intrusion (x, y, z) of the first run, with
                        the medians r50 that define the constrictivity
  fig5_structure_<k>.png three orthogonal cut planes and a rendered corner of the cube of the runs
                        nearest to carbon fractions 0.2, 0.3, 0.4 (Figure 5; NVP yellow, carbon red,
                        pores blue)
  fig6_sweep.png        against the carbon fraction, mean and standard deviation over the
                        realizations: (a) interface areas S_12, S_13, S_23, (b) mean geodesic
                        tortuosity, (c) M-factors predicted by eq. 14 (solid) and solved on the voxels
                        (dashed, when measured), (d) percolating fraction, (e) constrictivity,
                        (f) M / M_pred (Figure 6 and beyond)

Usage: /usr/bin/python3 postprocess/make_figures.py OUT.h5 [--outdir DIR]   (make figures OUT=OUT.h5)
Reads OUT.h5 and the CSV beside it (or, for a sweep split into jobs, the merged STEM_sweep.csv if
given as --csv). Prints the files it wrote.
"""
import argparse
import csv
import os
from collections import defaultdict

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

PHASE = ["NVP", "carbon", "pore"]
COLOUR = ["#d4a900", "#c0282d", "#2b5fb4"]  # yellow (darkened for lines), red, blue
CMAP = ListedColormap(["#f2c500", "#c0282d", "#2b5fb4"])
PAIRS = ["11", "12", "13", "22", "23", "33"]


def rows_of(csv_path):
    out = []
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            out.append({k: float(v) if v not in ("", None) else np.nan for k, v in r.items()})
    return out


def sweep_means(rows, col):
    """Carbon fractions (sorted), mean and standard deviation of a column over the realizations
    (a tortuosity of 0, i.e. undefined because no path crosses the domain, is left out)."""
    by = defaultdict(list)
    for r in rows:
        if col in r and not (col.startswith("tau_") and not r[col] > 0):  # tau 0: undefined (no path)
            by[round(r["eps2_target"], 6)].append(r[col])
    x = sorted(by)
    return np.array(x), np.array([np.mean(by[k]) for k in x]), np.array([np.std(by[k]) for k in x])


def fig3(f, rows, out):
    runs = sorted(f["runs"])
    fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharex=True)
    curves = []
    for k in runs:
        d = f[f"runs/{k}/descriptors"]
        if "C_radial" not in d:
            continue
        eps = [f[f"runs/{k}"].attrs.get(f"eps_{i}", np.nan) for i in (1, 2, 3)]
        r, C = d["r_mean_um"][()], d["C_radial"][()]
        cen = np.array([C[p] - eps[int(PAIRS[p][0]) - 1] * eps[int(PAIRS[p][1]) - 1] for p in range(6)])
        curves.append((r, cen))
    if not curves:
        plt.close(fig)
        return None
    for p, ax in enumerate(axes.flat):
        for r, cen in curves:
            ax.plot(r, cen[p], color="0.7", lw=0.6)
        n = min(len(c[0]) for c in curves)
        ax.plot(curves[0][0][:n], np.mean([c[1][p][:n] for c in curves], axis=0), color="k", lw=2, label="model (mean of runs)")
        if "calibration" in f:
            g = f["calibration"]
            e2 = [g.attrs.get(f"eps{i}_2d", np.nan) for i in (1, 2, 3)]
            if "C_2d" in g:
                t = g["C_2d"][()]
                i, j = int(PAIRS[p][0]), int(PAIRS[p][1])
                ax.plot(t[0], t[1 + p] - e2[i - 1] * e2[j - 1], "o", ms=3, color="C3", label="2D images")
            if p == 0 and "rho_x" in g:
                t = g["rho_x"][()]
                e1 = g.attrs.get("eps1", np.nan)
                ax.plot(t[0], t[1] - e1 * e1, "s", ms=3, color="C0", label="3D stack")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set_title(f"$C_{{{PAIRS[p]}}} - \\varepsilon_{PAIRS[p][0]}\\varepsilon_{PAIRS[p][1]}$ ({PHASE[int(PAIRS[p][0]) - 1]}–{PHASE[int(PAIRS[p][1]) - 1]})", fontsize=10)
        if p >= 3:
            ax.set_xlabel("h (µm)")
        if p == 0:
            ax.legend(fontsize=8)
    fig.suptitle("Centred two-point coverage probability functions (Figure 3)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def fig4(f, out):
    k = sorted(f["runs"])[0]
    d = f[f"runs/{k}/descriptors"]
    if "psd2_1" not in d:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for i, ax in enumerate(axes):
        pooled = d[f"psd2_{i + 1}"][()]
        r = pooled[:, 0]
        if f"psd2_slices_{i + 1}" in d:
            sl = d[f"psd2_slices_{i + 1}"][()]
            for z in range(0, sl.shape[0], max(1, sl.shape[0] // 150)):
                ax.plot(np.r_[0, r], np.r_[1, sl[z]], color="#3cb44b", lw=0.3, alpha=0.5)
        ax.plot(np.r_[0, r], np.r_[1, pooled[:, 1]], color="k", lw=1.8, label="model slices (pooled)")
        if "calibration" in f and f"psd2_data_{i + 1}" in f["calibration"]:
            t = f[f"calibration/psd2_data_{i + 1}"][()]
            for c in range(1, t.shape[1] - 1):
                ax.plot(np.r_[0, t[:, 0]], np.r_[1, t[:, c]], ":", color="C0", lw=1, label="2D images" if c == 1 else None)
            ax.plot(np.r_[0, t[:, 0]], np.r_[1, t[:, -1]], color="C3", lw=1.5, label="mean of the images")
        ax.set_title(f"{PHASE[i]}")
        ax.set_xlabel("r (µm)")
        ax.set_ylabel("Ψ(r)")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    fig.suptitle("2D continuous phase size distributions (Figure 4), run " + k)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def fig4b(f, out):
    k = sorted(f["runs"])[0]
    d = f[f"runs/{k}/descriptors"]
    if "psd3_1" not in d:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for i, ax in enumerate(axes):
        p3 = d[f"psd3_{i + 1}"][()]
        ax.plot(np.r_[0, p3[:, 0]], np.r_[1, p3[:, 1]], color="k", lw=1.8, label="cPSD 3D")
        if f"mip_{i + 1}" in d:
            m = d[f"mip_{i + 1}"][()]
            for a in range(3):
                ok = np.isfinite(m[:, 1 + a])
                if ok.any():
                    ax.plot(m[ok, 0], m[ok, 1 + a], "--", lw=1, label=f"MIP from {'xyz'[a]} = 0")
        if "r50_cpsd_um" in d:
            ax.axvline(d["r50_cpsd_um"][()][i], color="k", lw=0.5)
        if "beta" in d:
            ax.set_title(f"{PHASE[i]}: β = {d['beta'][()][i].mean():.2f} (mean over axes)")
        ax.axhline(0.5, color="0.6", lw=0.5)
        ax.set_xlabel("r (µm)")
        ax.set_ylabel("volume fraction of the phase")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    fig.suptitle("3D continuous phase size distribution and simulated mercury intrusion, run " + k)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def fig5(f, rows, outdir):
    """Cut planes and a rendered corner for the runs nearest carbon fractions 0.2, 0.3, 0.4."""
    runs = [k for k in sorted(f["runs"]) if "phase" in f[f"runs/{k}"]]
    if not runs:
        return []
    targets = sorted({min(runs, key=lambda k: abs(f[f"runs/{k}"].attrs["eps2_target"] - t)) for t in (0.2, 0.3, 0.4)})
    outs = []
    for k in targets:
        ds = f[f"runs/{k}/phase"]
        vox = np.array(ds.attrs["voxel_size_um"], float).reshape(-1)
        dx, dy, dz = vox if vox.size == 3 else np.repeat(vox, 3)
        nz, ny, nx = ds.shape
        c = min(64, nx, ny, nz)  # the rendered corner
        corner = ds[nz - c:, :c, :c]
        fig = plt.figure(figsize=(14, 4.2))
        for i, (img, title, ext) in enumerate([(ds[nz // 2], "x–y, z = %.2f µm" % (nz // 2 * dz), (0, nx * dx, 0, ny * dy)),
                                              (ds[:, ny // 2, :], "x–z, y = %.2f µm" % (ny // 2 * dy), (0, nx * dx, 0, nz * dz)),
                                              (ds[:, :, nx // 2], "y–z, x = %.2f µm" % (nx // 2 * dx), (0, ny * dy, 0, nz * dz))]):
            ax = fig.add_subplot(1, 4, i + 1)
            ax.imshow(img, origin="lower", cmap=CMAP, vmin=1, vmax=3, extent=ext, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("µm")
        ax = fig.add_subplot(1, 4, 4, projection="3d")
        rgb = np.array([[0.95, 0.77, 0.0, 1], [0.75, 0.16, 0.18, 1], [0.17, 0.37, 0.71, 1]])
        vol = np.transpose(corner, (2, 1, 0))  # x, y, z for ax.voxels
        colours = np.zeros(vol.shape + (4,))
        for p in range(3):
            colours[vol == p + 1] = rgb[p]
        ax.voxels(np.ones(vol.shape, bool), facecolors=colours, edgecolor=None, shade=True)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=25, azim=-60)
        ax.set_axis_off()
        ax.set_title(f"corner {c}³ voxels ({c * dx:.2f} µm)", fontsize=9)
        a = f[f"runs/{k}"].attrs
        fig.suptitle(f"run {k}: carbon fraction {a['eps2_target']:.3f}; NVP yellow, carbon red, pores blue (Figure 5)", fontsize=10)
        fig.tight_layout()
        out = os.path.join(outdir, f"fig5_structure_{k}.png")
        fig.savefig(out, dpi=90)
        plt.close(fig)
        outs.append(out)
    return outs


def fig6(rows, out):
    panels = [("(a) interface area per volume (1/µm)", [("S_12", "NVP–carbon"), ("S_13", "NVP–pore"), ("S_23", "carbon–pore")], False),
              ("(b) mean geodesic tortuosity", [(f"tau_{i}", PHASE[i - 1]) for i in (1, 2, 3)], False),
              ("(c) M-factor: eq. 14 (solid), solved (dashed)", [(f"M_pred_{i}", PHASE[i - 1]) for i in (1, 2, 3)] + [(f"M_{i}", None) for i in (1, 2, 3)], True),
              ("(d) percolating volume fraction", [(f"perc_{i}", PHASE[i - 1]) for i in (1, 2, 3)], False),
              ("(e) constrictivity β", [(f"beta_{i}", PHASE[i - 1]) for i in (1, 2, 3)], False),
              ("(f) M solved / M predicted", [(f"M_over_M_pred_{i}", PHASE[i - 1]) for i in (1, 2, 3)], False)]
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    plotted = {}
    for ax, (title, cols, log) in zip(axes.flat, panels):
        for j, (col, lab) in enumerate(cols):
            if not rows or col not in rows[0]:
                continue
            x, m, s = sweep_means(rows, col)
            plotted[col] = (x, m, s)
            colour = ("C0", "C1", "C2")[j] if col.startswith("S_") else COLOUR[int(col[-1]) - 1]
            style = "--" if col.startswith("M_") and not col.startswith(("M_pred", "M_over")) else "-"
            ok = np.isfinite(m) & ((m > 0) if log else True)
            ax.errorbar(x[ok], m[ok], yerr=s[ok], fmt="o" + style, ms=3, capsize=2, color=colour, label=lab)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("carbon fraction ε₂ (incl. nanopores)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle("Against the carbon fraction at ε₁ = const: mean ± standard deviation over realizations (Figure 6)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out, plotted


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--outdir")
    ap.add_argument("--csv")
    a = ap.parse_args()
    outdir = a.outdir or os.path.splitext(a.file)[0] + "_figures"
    os.makedirs(outdir, exist_ok=True)
    rows = rows_of(a.csv or os.path.splitext(a.file)[0] + ".csv")
    written = []
    with h5py.File(a.file, "r") as f:
        written.append(fig3(f, rows, os.path.join(outdir, "fig3_covariance.png")))
        written.append(fig4(f, os.path.join(outdir, "fig4_psd2d.png")))
        written.append(fig4b(f, os.path.join(outdir, "fig4b_psd3d_mip.png")))
        written += fig5(f, rows, outdir)
    written.append(fig6(rows, os.path.join(outdir, "fig6_sweep.png"))[0])
    for w in written:
        if w:
            print(w)


if __name__ == "__main__":
    main()
