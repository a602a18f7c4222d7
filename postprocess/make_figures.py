#!/usr/bin/env python3
"""The paper's Figures 3-6 from one output of plurigauss (a sweep over the carbon fraction, or a
single point): reads OUT.h5 and the CSV beside it, writes PNGs into --outdir.

Usage: /usr/bin/python3 postprocess/make_figures.py OUT.h5 [--outdir DIR] [--csv FILE]
           [--point EPS2] [--fig5 0.2,0.3,0.4] [--band minmax|std] [--voxels N]

  fig3_covariance.png         Figure 3: centred C_ij(h) - eps_i eps_j, six panels, at one sweep
                              point (--point; default the calibrated eps2, else model.carbon_fraction):
                              every realization (thin), their mean and min-max band; the data's
                              curves from /calibration when the file has them
  fig3_covariance_sweep.png   the mean centred C_ij of every sweep point, coloured by eps2
  fig4_psd2d.png              Figure 4: 2D continuous phase size distribution per phase: every
                              z-slice of every realization at --point (thin green), the pooled
                              curve of each realization and their mean; the images' curves and
                              their mean from /calibration/psd2_data_<i> when present
  fig4b_psd3d_mip.png         companion: 3D cPSD and simulated MIP (x, y, z) per phase at --point,
                              and the 3D cPSD of every sweep point
  fig5_structures.png         Figure 5: 3D renderings (cut-away cube, faces coloured by phase) of
                              one realization at each carbon fraction of --fig5 (nearest points)
  fig6_sweep.png              Figure 6 and beyond, against eps2_target (top axis: without
                              nanopores): (a) S_12, S_13, S_23 from the labels, from the fields
                              (S_ij_field) and the model's exact curves, (b) tau_1..3, (c) M_pred_1..3 and,
                              when the CSV has them, the solved M_1..3, (d) M / M_pred, (e)
                              percolating fraction perc_1..3, (f) constrictivity beta_1..3;
                              mean and error bars (min-max or std) over the realizations
  fig7_adequacy.png           with calibration.validate_with: the image's descriptors (data)
                              beside the calibrated model's (mean and SD over the realizations,
                              and the band a descriptor must fall in to count as reproduced),
                              six panels (fractions, areas, tortuosity, constrictivity, radii,
                              M-factors), descriptors not reproduced marked in red; reads
                              <stem>_adequacy.csv beside OUT.h5 (docs/adequacy.md)
The CSV is the table of the runs (one row per run); a job-array sweep merged by
merge_sweep.py can be given with --csv (Figure 6 needs only the CSV). Prints the PNGs written.
"""
import argparse
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgplot as pg  # noqa: E402
from pgplot import plt  # noqa: E402

GREEN = "#3a9a3a"


def default_point(f, points):
    """The sweep point Figures 3 and 4 show: the calibrated eps2, else model.carbon_fraction of
    the resolved deck, else the middle point."""
    want = None
    if "calibration" in f and "eps2" in f["calibration"].attrs:
        want = float(f["calibration"].attrs["eps2"])
    else:
        v = pg.resolved_value(f, "model.carbon_fraction")
        try:
            want = float(v)
        except (TypeError, ValueError):
            want = None
    return pg.nearest(points, want) if want is not None else points[len(points) // 2]


# ---------------------------------------------------------------------------------------------
def fig3(f, point, png, hmax=None):
    """Centred C_ij at one point. Returns {'r': lags, 'mean': {pair: curve}, 'runs': n,
    'data': [labels]}."""
    curves = [c for c in (pg.centred_covariance(g) for _, g in pg.runs_at(f, point)) if c is not None]
    if not curves:
        return None
    data = pg.calibration_covariance(f)
    r = curves[0][0]
    fig, axes = plt.subplots(2, 3, figsize=(11.5, 6.6), sharex=True)
    out = {"r": r, "mean": {}, "runs": len(curves), "data": [d[0] for d in data]}
    for n, (ax, p) in enumerate(zip(axes.ravel(), pg.PAIRS)):
        Y = np.array([c[1][p] for c in curves])
        m = Y.mean(axis=0)
        out["mean"][p] = m
        col = pg.PAIR_LINE[p]
        for k, y in enumerate(Y):
            ax.plot(r, y, color=col, lw=0.6, alpha=0.5, label="realizations (%d)" % len(Y) if k == 0 else None)
        ax.fill_between(r, Y.min(axis=0), Y.max(axis=0), color=col, alpha=0.18, lw=0, label="min\u2013max")
        ax.plot(r, m, color=col, lw=2, label="model, mean")
        for lab, h, dc in data:
            if p in dc:
                if lab.startswith("calibrated model"):
                    ax.plot(h, dc[p], "-.", color="0.35", lw=1.2, label=lab)
                else:
                    ax.plot(h, dc[p], "o" if "3D" in lab else "s", color="k", ms=3, mfc="white" if "3D" in lab else "k", lw=0, label=lab)
        ax.axhline(0, color="0.6", lw=0.5)
        i, j = p
        ax.set_title("(%s) C$_{%d%d}$ \u2212 \u03b5$_%d$\u03b5$_%d$: %s\u2013%s" % ("abcdef"[n], i, j, i, j, pg.NAMES[i], pg.NAMES[j]), fontsize=9)
        if n >= 3:
            ax.set_xlabel("distance h (%s)" % pg.UM)
        if n % 3 == 0:
            ax.set_ylabel("C$_{ij}$(h) \u2212 \u03b5$_i$\u03b5$_j$")
        ax.set_xlim(0, hmax or min(r[-1], 0.3))
        ax.tick_params(labelsize=8)
        if n == 0:
            ax.legend(fontsize=7)
    src = "model and data" if data else "model (no /calibration data in the file)"
    fig.suptitle("Figure 3: centred two-point coverage functions, %s; \u03b5\u2082 target %.3f, radial average" % (src, point), fontsize=10)
    fig.tight_layout()
    pg.savefig(fig, png)
    return out


def fig3_sweep(f, points, png):
    """Mean centred C_ij of every sweep point. Returns {point: {pair: mean curve}}."""
    if len(points) < 2:
        return None
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(2, 3, figsize=(11.5, 6.6), sharex=True)
    out = {}
    for q, p2 in enumerate(points):
        curves = [c for c in (pg.centred_covariance(g) for _, g in pg.runs_at(f, p2)) if c is not None]
        if not curves:
            continue
        r = curves[0][0]
        out[p2] = {}
        for n, (ax, p) in enumerate(zip(axes.ravel(), pg.PAIRS)):
            m = np.mean([c[1][p] for c in curves], axis=0)
            out[p2][p] = m
            ax.plot(r, m, color=cmap(q / max(1, len(points) - 1)), lw=1.2)
            ax.set_xlim(0, min(r[-1], 0.3))
    if not out:
        plt.close(fig)
        return None
    for n, (ax, p) in enumerate(zip(axes.ravel(), pg.PAIRS)):
        i, j = p
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title("(%s) C$_{%d%d}$ \u2212 \u03b5$_%d$\u03b5$_%d$: %s\u2013%s" % ("abcdef"[n], i, j, i, j, pg.NAMES[i], pg.NAMES[j]), fontsize=9)
        if n >= 3:
            ax.set_xlabel("distance h (%s)" % pg.UM)
        if n % 3 == 0:
            ax.set_ylabel("C$_{ij}$(h) \u2212 \u03b5$_i$\u03b5$_j$")
        ax.tick_params(labelsize=8)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(points[0], points[-1]))
    fig.tight_layout(rect=(0, 0, 0.92, 0.95))
    cax = fig.add_axes((0.93, 0.12, 0.015, 0.76))
    fig.colorbar(sm, cax=cax, label="carbon fraction \u03b5\u2082 (target)")
    fig.suptitle("Centred C_ij along the sweep: mean over the realizations of each point", fontsize=10)
    pg.savefig(fig, png)
    return out


# ---------------------------------------------------------------------------------------------
def fig4(f, point, png):
    """2D cPSD per phase at one point. Returns {i: {'r': radii, 'pooled_mean': mean of the runs'
    psd2_<i>, 'slices': number of slice curves}}."""
    rs = pg.runs_at(f, point)
    if not rs or pg.psd2(rs[0][1], 1) is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharey=True)
    out = {}
    for ax, i in zip(axes, (1, 2, 3)):
        nsl = 0
        for _, g in rs:
            s = pg.psd2_slices(g, i)
            if s is None:
                continue
            r, S = s
            for y in S:
                ax.plot(r, y, color=GREEN, lw=0.4, alpha=0.35, label="model, z-slices" if nsl == 0 else None)
                nsl += 1
        pooled = [c for c in (pg.psd2(g, i) for _, g in rs) if c is not None]
        mc = pg.mean_curve(pooled)
        for k, (r, y) in enumerate(pooled):
            ax.plot(r, y, color="#145214", lw=0.8, ls="--", label="model, pooled per realization" if k == 0 else None)
        if mc is not None:
            ax.plot(mc[0], mc[1], color="#0b3d0b", lw=2.2, label="model, mean (%d realizations)" % len(pooled))
        out[i] = {"r": mc[0] if mc else None, "pooled_mean": mc[1] if mc else None, "slices": nsl}
        cal = pg.calibration_psd2(f, i)
        if cal is not None:
            r, imgs, mean = cal
            for k, y in enumerate(imgs):
                ax.plot(r, y, ":", color="#2b5fb4", lw=1.3, label="SEM images" if k == 0 else None)
            ax.plot(r, mean, color="#c0282d", lw=2, label="images, mean")
            out[i]["data_mean"] = mean
        ax.set_title("(%s) %s" % ("abc"[i - 1], pg.NAMES[i]), fontsize=10, color=pg.LINE[i])
        ax.set_xlabel("radius r (%s)" % pg.UM)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        if i == 1:
            ax.set_ylabel("\u03a8$_i$(r): fraction covered by disks of radius \u2265 r")
        ax.legend(fontsize=7, loc="upper right")
    src = "model and SEM images" if pg.calibration_psd2(f, 1) is not None else "model (no /calibration images in the file)"
    fig.suptitle("Figure 4: 2D continuous phase size distributions (eq. 13), %s; \u03b5\u2082 target %.3f" % (src, point), fontsize=10)
    fig.tight_layout()
    pg.savefig(fig, png)
    return out


def fig4b(f, point, points, png):
    """3D cPSD and MIP per phase at one point (top), 3D cPSD of every point (bottom). Returns
    {i: {'psd3_mean': curve, 'mip_mean': [r, Vx, Vy, Vz]}}."""
    rs = pg.runs_at(f, point)
    if not rs or pg.table(rs[0][1], "psd3_1") is None:
        return None
    nrow = 2 if len(points) > 1 else 1
    fig, axes = plt.subplots(nrow, 3, figsize=(12, 3.9 * nrow), squeeze=False)
    out = {}
    for c, i in enumerate((1, 2, 3)):
        ax = axes[0, c]
        P = [pg.table(g, "psd3_%d" % i) for _, g in rs]
        P = [(T[:, 0], T[:, 1]) for T in P if T is not None]
        mp = pg.mean_curve(P)
        out[i] = {}
        if mp is not None:
            ax.fill_between(mp[0], mp[2], mp[3], color=pg.LINE[i], alpha=0.2, lw=0)
            ax.plot(mp[0], mp[1], color=pg.LINE[i], lw=2, marker="o", ms=3, label="3D cPSD \u03a8(r)")
            out[i]["psd3_mean"] = mp[1]
        M = [pg.table(g, "mip_%d" % i) for _, g in rs]
        M = [T for T in M if T is not None]
        if M:
            L = min(len(T) for T in M)
            Mm = np.mean([T[:L] for T in M], axis=0)
            out[i]["mip_mean"] = Mm
            for k, (ls, axn) in enumerate(zip(("--", "-.", ":"), "xyz")):
                ax.plot(Mm[:, 0], Mm[:, k + 1], ls, color="k", lw=1.3, label="MIP V(r), inlet \u22a5 %s" % axn)
        ax.axhline(0.5, color="0.6", lw=0.5)
        ax.set_title("%s: \u03b5\u2082 target %.3f, mean of %d" % (pg.NAMES[i], point, len(rs)), fontsize=9, color=pg.LINE[i])
        ax.set_xlabel("radius r (%s)" % pg.UM)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        if c == 0:
            ax.set_ylabel("fraction of the phase")
        ax.legend(fontsize=7)
    if nrow == 2:
        cmap = plt.get_cmap("viridis")
        for c, i in enumerate((1, 2, 3)):
            ax = axes[1, c]
            for q, p2 in enumerate(points):
                P = [pg.table(g, "psd3_%d" % i) for _, g in pg.runs_at(f, p2)]
                mp = pg.mean_curve([(T[:, 0], T[:, 1]) for T in P if T is not None])
                if mp is not None:
                    ax.plot(mp[0], mp[1], color=cmap(q / max(1, len(points) - 1)), lw=1.2)
            ax.set_xlabel("radius r (%s)" % pg.UM)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlim(left=0)
            ax.grid(alpha=0.3)
            ax.set_title("%s: 3D cPSD at every sweep point" % pg.NAMES[i], fontsize=9, color=pg.LINE[i])
            if c == 0:
                ax.set_ylabel("\u03a8(r), mean over realizations")
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(points[0], points[-1]))
        fig.tight_layout(rect=(0, 0, 0.92, 0.96))
        cax = fig.add_axes((0.93, 0.08, 0.012, 0.36))
        fig.colorbar(sm, cax=cax, label="\u03b5\u2082 target")
    else:
        fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.suptitle("3D continuous phase size distribution and simulated mercury intrusion (constrictivity \u03b2 = (r50 MIP / r50 cPSD)\u00b2)", fontsize=10)
    pg.savefig(fig, png)
    return out


# ---------------------------------------------------------------------------------------------
def fig5(f, points, wanted, png, max_voxels=96):
    """One cut-away cube per wanted carbon fraction (nearest sweep point, realization 0).
    Returns {point: {'run': name, 'fractions': (eps_1, eps_2, eps_3) of the drawn subvolume,
    'stride': s}}."""
    chosen = []
    for w in wanted:
        p = pg.nearest(points, w)
        if p not in chosen:
            chosen.append(p)
    panels = []
    for p in chosen:
        for k, g in pg.runs_at(f, p):
            if "phase" in g:
                panels.append((p, k, g))
                break
    if not panels:
        return None
    fig = plt.figure(figsize=(4.6 * len(panels), 5.0))
    out = {}
    for n, (p, k, g) in enumerate(panels):
        ds = g["phase"]
        vox = np.array(ds.attrs["voxel_size_um"], dtype=float).reshape(-1)
        vox = np.repeat(vox, 3) if vox.size == 1 else vox
        s = max(1, int(np.ceil(max(ds.shape) / max_voxels)))
        vol = ds[::s, ::s, ::s]
        ax = fig.add_subplot(1, len(panels), n + 1, projection="3d")
        pg.draw_voxels(ax, vol, vox * s, zoom=1.15)
        fr = tuple(float((vol == i).mean()) for i in (1, 2, 3))
        out[p] = {"run": k, "fractions": fr, "stride": s}
        ratio = float(f["model"].attrs.get("nanopore_ratio", 0.28 / 0.69)) if "model" in f else 0.28 / 0.69
        ax.set_title("(%s) \u03b5\u2082 = %.3f (without nanopores %.3f)\nrun %s: NVP %.3f, carbon %.3f, pore %.3f" % ("abcdefgh"[n], p, p * ratio, k, *fr), fontsize=8.5)
        for lab, setter in (("x", ax.set_xlabel), ("y", ax.set_ylabel), ("z", ax.set_zlabel)):
            setter("%s (%s)" % (lab, pg.UM), fontsize=8, labelpad=-2)
        ax.tick_params(labelsize=6, pad=0)
        shape = ds.shape
    pg.phase_legend(fig, loc="lower center", ncol=3, fontsize=9, frameon=False)
    L = np.array(shape[::-1]) * vox
    fig.suptitle("Figure 5: realizations of %.2f \u00d7 %.2f \u00d7 %.2f %s%s, corner cut away" % (*L, pg.UM, "" if s == 1 else " (every %d-th voxel drawn)" % s), fontsize=10)
    fig.subplots_adjust(left=0.0, right=0.97, bottom=0.06, top=0.86, wspace=0.04)
    pg.savefig(fig, png, dpi=130)
    return out


# ---------------------------------------------------------------------------------------------
def phase_curves(ax, rows, prefix, band, out, **stats):
    """The sweep curve of column prefix_i of each phase present in the rows, in the phase colours."""
    for i in (1, 2, 3):
        col = "%s_%d" % (prefix, i)
        if pg.has_column(rows, col):
            s = out[col] = pg.sweep_stats(rows, col, band, **stats)
            pg.errorbar(ax, s, color=pg.LINE[i], label=pg.NAMES[i])


def positive_part(s):
    """A sweep curve for a log axis: zeros hidden, error bars from the positive part."""
    pos = dict(s)
    pos["mean"] = np.where(s["mean"] > 0, s["mean"], np.nan)
    pos["lo"] = np.where(s["lo"] > 0, s["lo"], pos["mean"])
    return pos


def fig6(rows, ratio, png, band="minmax", model=None):
    """Descriptors against eps2_target. Returns {column: sweep_stats(...)} for every column
    drawn (tau with undefined zeros left out), and with the model's parameters (model: the /model
    attributes) the exact interface areas {'S_ij_exact': {x, y}} drawn as curves in panel (a)."""
    if not rows or not any(pg.has_column(rows, c) for c in ("S_12", "tau_1", "M_pred_1", "perc_1", "beta_1")):
        return None  # the runs measured none of these descriptors
    out = {}
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 8))
    ax = axes[0, 0]
    pts = np.unique([r["eps2_target"] for r in rows]) if model and pg.has_column(rows, "eps2_target") else np.array([])
    curve = None
    if pts.size:  # the exact expectation, on a fine grid through every sweep point
        lo, hi = pts.min(), pts.max()
        pad = 0.05 * (hi - lo) if hi > lo else 0.02
        grid = np.linspace(max(lo - pad, 1e-3), hi + pad, 41)
        curve = pg.interface_curves(model, np.union1d(grid, pts))
    handles = {"labels": [], "fields": [], "exact": []}  # legend columns: one row per interface
    for col, p in (("S_12", (1, 2)), ("S_13", (1, 3)), ("S_23", (2, 3))):
        name = "S$_{%d%d}$ %s\u2013%s" % (*p, pg.NAMES[p[0]], pg.NAMES[p[1]])
        if pg.has_column(rows, col):
            s = out[col] = pg.sweep_stats(rows, col, band)
            handles["labels"].append(pg.errorbar(ax, s, color=pg.PAIR_LINE[p], label=name + ", labels"))
        if pg.has_column(rows, col + "_field"):
            s = out[col + "_field"] = pg.sweep_stats(rows, col + "_field", band)
            handles["fields"].append(pg.errorbar(ax, s, color=pg.PAIR_LINE[p], ls="none", marker="D", mfc="white", ms=5, label="fields"))
        if curve is not None:
            out[col + "_exact"] = {"x": curve["x"], "y": curve[col]}
            handles["exact"].extend(ax.plot(curve["x"], curve[col], color=pg.PAIR_LINE[p], lw=1.3, ls="--", label="exact (model)"))
    ordered = handles["labels"] + handles["fields"] + handles["exact"]
    if ordered:
        ncol = sum(1 for v in handles.values() if v)
        ax.legend(handles=ordered, fontsize=6.5, ncol=ncol, loc="upper center", handlelength=1.8, columnspacing=0.8)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.45 * (hi - lo))  # room for the legend above the curves
    ax.set_ylabel("interface area per unit volume (1/%s)" % pg.UM)
    ax.set_title("(a) pairwise interface areas: labels, fields, exact", fontsize=10)

    ax = axes[0, 1]
    phase_curves(ax, rows, "tau", band, out, undefined=0.0)
    ax.set_ylabel("mean geodesic tortuosity \u03c4$_{geod}$ (\u2013)")
    ax.set_title("(b) mean geodesic tortuosity (axes with a 26-connected path)", fontsize=10)

    ax = axes[0, 2]
    has_m = all(pg.has_column(rows, "M_%d" % i) for i in (1, 2, 3))
    zero_marked = False
    for i in (1, 2, 3):
        col = "M_pred_%d" % i
        if not pg.has_column(rows, col):
            continue
        s = out[col] = pg.sweep_stats(rows, col, band)
        pg.errorbar(ax, positive_part(s), color=pg.LINE[i], label=r"$\hat{M}$ (eq. 14), %s" % pg.NAMES[i])
        z = s["x"][s["mean"] == 0]
        if z.size:
            ax.plot(z, np.full(z.size, 1e-3), "v", color=pg.LINE[i], ms=6, clip_on=False, label=None if zero_marked else r"$\hat{M}$ = 0 (no path)")
            zero_marked = True
        if has_m:
            s = out["M_%d" % i] = pg.sweep_stats(rows, "M_%d" % i, band)
            pg.errorbar(ax, positive_part(s), color=pg.LINE[i], ls="--", marker="s", mfc="white", label="M solved, %s" % pg.NAMES[i])
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6.5, ncol=2 if has_m else 1, loc="lower left")
    ax.set_ylabel("M-factor (\u2013)")
    ax.set_title(r"(c) M-factor: predicted $\hat{M}$" + (" and solved M" if has_m else ""), fontsize=10)

    ax = axes[1, 0]
    ratio_cols = ["M_over_M_pred_%d" % i for i in (1, 2, 3)]
    if has_m:
        for i in (1, 2, 3):
            col = ratio_cols[i - 1]
            if pg.has_column(rows, col):
                s = out[col] = pg.sweep_stats(rows, col, band, undefined=0.0)
            else:  # the ratio per run, from the two columns, where M_pred > 0
                rr = [dict(r, _ratio=(r["M_%d" % i] / r["M_pred_%d" % i] if r["M_pred_%d" % i] > 0 else 0.0)) for r in rows]
                s = out[col] = pg.sweep_stats(rr, "_ratio", band, undefined=0.0)
            pg.errorbar(ax, s, color=pg.LINE[i], label=pg.NAMES[i])
        ax.axhline(1, color="0.5", lw=0.8)
        ax.set_ylabel(r"M / $\hat{M}$" + " (\u2013)")
        ax.set_title(r"(d) solved over predicted M-factor, M / $\hat{M}$", fontsize=10)
    else:  # no solved M-factor in this output: the medians behind beta instead
        for i in (1, 2, 3):
            for col, ls, mk, what in (("r50_cpsd_%d" % i, "-", "o", "3D cPSD"), ("r50_mip_%d" % i, "--", "s", "MIP")):
                if pg.has_column(rows, col):
                    s = out[col] = pg.sweep_stats(rows, col, band)
                    pg.errorbar(ax, s, color=pg.LINE[i], ls=ls, marker=mk, mfc="white" if ls == "--" else None, label="%s, %s" % (what, pg.NAMES[i]))
        ax.set_ylabel("median radius r50 (%s)" % pg.UM)
        ax.set_title("(d) r50 of 3D cPSD and MIP (no solved M in this CSV)", fontsize=10)

    ax = axes[1, 1]
    phase_curves(ax, rows, "perc", band, out)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("percolating fraction of the phase (\u2013)")
    ax.set_title("(e) percolation (mean over axes)", fontsize=10)

    ax = axes[1, 2]
    phase_curves(ax, rows, "beta", band, out)
    ax.set_ylabel("constrictivity \u03b2 (\u2013)")
    ax.set_title("(f) constrictivity", fontsize=10)

    for ax in axes.ravel():
        ax.set_xlabel("carbon fraction \u03b5\u2082 incl. nanopores (target)")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        if ax.get_legend_handles_labels()[0] and ax is not axes[0, 2] and ax is not axes[0, 0]:
            ax.legend(fontsize=7)
        pg.solid_axis(ax, ratio)
    eps1 = np.mean([r["eps_1"] for r in rows]) if pg.has_column(rows, "eps_1") else np.nan
    what = "min\u2013max" if band == "minmax" else "\u00b1 1 standard deviation"
    nreal = max(len(rs) for _, rs in pg.by_point(rows))
    fig.suptitle("Figure 6: descriptors against the carbon fraction (NVP fraction %.4f measured); mean and %s over %d realizations" % (eps1, what, nreal), fontsize=10)
    fig.tight_layout()
    pg.savefig(fig, png)
    return out


# ---------------------------------------------------------------------------------------------
ADEQUACY_PANELS = [("(a) volume fractions", ("eps_",), False), ("(b) surface / interface areas (1/um)", ("S_",), False),
                   ("(c) geodesic tortuosity", ("tau_",), False), ("(d) constrictivity", ("beta_",), False),
                   ("(e) median radii (um)", ("r50_",), False), ("(f) M-factor: eq. 14 and solved", ("M_pred_", "M_"), True)]


def read_adequacy(path):
    """<stem>_adequacy.csv as a list of dicts (numbers as floats)."""
    import csv
    with open(path) as f:
        return [{k: (v if k in ("descriptor", "unit", "verdict", "criterion") else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def fig7(table, png):
    """Data beside model per descriptor: the model's mean with +-1 SD (thick) and the acceptance
    band (thin: the larger of the prediction interval k s sqrt(1 + 1/R) and the tolerance), the
    data as a diamond; labels of descriptors not reproduced in red."""
    if not table:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    drawn = {}
    for ax, (title, prefixes, logy) in zip(axes.flat, ADEQUACY_PANELS):
        rows = [r for r in table if any(r["descriptor"].startswith(p) for p in prefixes)]
        ax.set_title(title, fontsize=10)
        if not rows:
            ax.set_axis_off()
            continue
        x = np.arange(len(rows))
        for i, r in enumerate(rows):
            m, sd, d = r["model_mean"], r["model_sd"], r["data"]
            half = max(r["k_spread"] * sd * np.sqrt(1 + 1 / max(r["realizations"], 1)), r["tolerance"] * abs(m)) if np.isfinite(sd) else np.nan
            ax.bar(i - 0.18, m, width=0.36, color="#9bb7d4", edgecolor="k", linewidth=0.5, label="model mean" if i == 0 else None)
            ax.errorbar(i - 0.18, m, yerr=sd, color="k", capsize=3, lw=1.5, label="model SD" if i == 0 else None)
            if np.isfinite(half):
                lo = max(m - half, m / 100) if logy else max(m - half, 0)  # descriptors are >= 0
                ax.plot([i - 0.36, i], [lo, lo], color="0.4", lw=0.8)
                ax.plot([i - 0.36, i], [m + half, m + half], color="0.4", lw=0.8, label="accepted band" if i == 0 else None)
            ax.bar(i + 0.18, d, width=0.36, color="#e0a040", edgecolor="k", linewidth=0.5, label="data" if i == 0 else None)
            drawn[r["descriptor"]] = (d, m, sd, r["verdict"])
        ax.set_xticks(x)
        ax.set_xticklabels([r["descriptor"] for r in rows], rotation=45, ha="right", fontsize=8)
        for lab, r in zip(ax.get_xticklabels(), rows):
            if r["verdict"] == "not reproduced":
                lab.set_color("red")
                lab.set_fontweight("bold")
            elif r["verdict"] == "undefined":
                lab.set_color("0.5")
        if logy:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="upper right")
    nn = sum(r["verdict"] == "not reproduced" for r in table)
    fig.suptitle(f"calibrated model (mean, SD over {int(table[0]['realizations'])} realizations) vs the 3D image: {len(table) - nn} of {len(table)} descriptors reproduced, "
                 f"{nn} not (red)", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return drawn


def make_all(h5path, outdir=None, csv_path=None, point=None, fig5_at=(0.2, 0.3, 0.4), band="minmax", max_voxels=96):
    """Every figure; returns {name: (png path, plotted data)} for those the file allows."""
    outdir = outdir or os.path.join(os.path.dirname(os.path.abspath(h5path)), "figures")
    os.makedirs(outdir, exist_ok=True)
    csv_path = csv_path or pg.csv_beside(h5path)
    rows = pg.read_rows(csv_path) if os.path.exists(csv_path) else []
    done = {}

    def put(name, data):
        if data is not None:
            done[name] = (os.path.join(outdir, name + ".png"), data)

    with h5py.File(h5path, "r") as f:
        points = pg.sweep_points(f)
        if points:
            p = pg.nearest(points, point) if point is not None else default_point(f, points)
            put("fig3_covariance", fig3(f, p, os.path.join(outdir, "fig3_covariance.png")))
            put("fig3_covariance_sweep", fig3_sweep(f, points, os.path.join(outdir, "fig3_covariance_sweep.png")))
            put("fig4_psd2d", fig4(f, p, os.path.join(outdir, "fig4_psd2d.png")))
            put("fig4b_psd3d_mip", fig4b(f, p, points, os.path.join(outdir, "fig4b_psd3d_mip.png")))
            put("fig5_structures", fig5(f, points, fig5_at, os.path.join(outdir, "fig5_structures.png"), max_voxels))
        ratio = pg.nanopore_ratio(h5path, rows)
    put("fig6_sweep", fig6(rows, ratio, os.path.join(outdir, "fig6_sweep.png"), band, pg.model_parameters(h5path)))
    adequacy = os.path.splitext(h5path)[0] + "_adequacy.csv"
    if os.path.exists(adequacy):
        put("fig7_adequacy", fig7(read_adequacy(adequacy), os.path.join(outdir, "fig7_adequacy.png")))
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("file", help="the HDF5 output (OUT.h5)")
    ap.add_argument("--outdir", help="directory of the PNGs (default: figures/ beside OUT.h5)")
    ap.add_argument("--csv", help="run table (default: OUT.csv beside OUT.h5)")
    ap.add_argument("--point", type=float, help="carbon fraction of Figures 3 and 4 (nearest sweep point)")
    ap.add_argument("--fig5", default="0.2,0.3,0.4", help="carbon fractions rendered in Figure 5 (default 0.2,0.3,0.4)")
    ap.add_argument("--band", choices=("minmax", "std"), default="minmax", help="error bars of Figure 6")
    ap.add_argument("--voxels", type=int, default=96, help="largest number of voxels per side drawn in Figure 5 (a stride beyond)")
    a = ap.parse_args(argv)
    if not os.path.exists(a.file):
        print("make_figures: error: %s does not exist" % a.file, file=sys.stderr)
        return 1
    try:
        fig5_at = [float(x) for x in a.fig5.split(",") if x.strip()]
    except ValueError:
        print("make_figures: error: --fig5 = %s is not a list of numbers" % a.fig5, file=sys.stderr)
        return 1
    done = make_all(a.file, a.outdir, a.csv, a.point, fig5_at, a.band, a.voxels)
    for name, (png, _) in done.items():
        print(png)
    if not done:
        print("make_figures: error: %s has no complete run to draw" % a.file, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
