"""Shared readers and drawing helpers of the plurigauss figures (postprocess/make_figures.py and
the plot_*.py scripts). Reads only the output files (HDF5 and the CSV beside it), never stdout.

Readers return plain numpy arrays so that the tests can compare what is drawn with the files:
  read_rows(csv)                     the CSV as dicts of floats (strings where not a number)
  by_point(rows, x)                  rows grouped by the sweep point, sorted by x
  sweep_stats(rows, col, band)       x, mean, lo, hi, n over the realizations of every point
  runs(h5)                           the complete runs, in run order, with their attributes
  centred_covariance(group)          r (um) and C_ij - eps_i eps_j of one run, [pair][lag]
  calibration_covariance(h5)         the data's centred C_ij from /calibration, if present
  psd2(group, i), psd2_slices(...)   the 2D cPSD tables (Figure 4)
  model_parameters(h5)               alpha_x, alpha_y, m, lambda_x of /model
  interface_areas_exact(...)         the model's exact S_12, S_13, S_23 (docs/interface-areas.md)
Drawing: the paper's phase colours (NVP yellow, carbon red, pore blue), interface colours (the
mixtures), a voxel renderer for Figure 5 (one Poly3DCollection of the visible faces, so that
matplotlib depth-sorts polygons and not whole surfaces), and savefig with a size check.
"""
import csv
import os
import re

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401
import numpy as np  # noqa: E402

NAMES = {1: "NVP", 2: "carbon", 3: "pore"}
# the paper's colours: NVP yellow, carbon red, pores blue (a darker yellow for lines on white)
FACE = {1: (0.95, 0.77, 0.00), 2: (0.75, 0.16, 0.18), 3: (0.17, 0.37, 0.71)}
LINE = {1: "#d4a900", 2: "#c0282d", 3: "#2b5fb4"}
# interfaces: the mixture of the two phases' colours
PAIR_LINE = {(1, 2): "#e0661a", (1, 3): "#3f9a3f", (2, 3): "#7b3fa0", (1, 1): LINE[1], (2, 2): LINE[2], (3, 3): LINE[3]}
PAIRS = [(1, 1), (2, 2), (3, 3), (1, 2), (1, 3), (2, 3)]  # the paper's panel order (a)-(f) of Figure 3
FILE_PAIRS = [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]  # row order of descriptors/C_* (attribute "pairs")
UM = "\u00b5m"


def text(a):
    return a.decode() if isinstance(a, bytes) else str(a)


# ---------------------------------------------------------------------------------------------
# CSV and sweep statistics
def csv_beside(h5path):
    return os.path.splitext(h5path)[0] + ".csv"


def read_rows(path):
    """The run table as a list of dicts; numbers as floats, anything else kept as a string."""
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            d = {}
            for k, v in r.items():
                try:
                    d[k] = float(v)
                except (TypeError, ValueError):
                    d[k] = v
            out.append(d)
    return out


def by_point(rows, x="eps2_target"):
    """{x value: [rows]} as a list of (x, rows) sorted by x."""
    g = {}
    for r in rows:
        g.setdefault(r[x], []).append(r)
    return sorted(g.items())


def has_column(rows, col):
    return bool(rows) and col in rows[0]


def sweep_stats(rows, col, band="minmax", x="eps2_target", undefined=None):
    """Per sweep point: x, mean, lo, hi, n of column col over the realizations. band 'minmax'
    gives the range, 'std' mean -/+ one standard deviation (ddof 1; 0 for one realization).
    Values equal to `undefined` (e.g. 0 for the tortuosity of a phase that does not percolate)
    are left out; a point with none left has mean NaN and n = 0."""
    xs, mean, lo, hi, n = [], [], [], [], []
    for xv, rs in by_point(rows, x):
        v = np.array([r[col] for r in rs], dtype=float)
        v = v[np.isfinite(v)]
        if undefined is not None:
            v = v[v != undefined]
        xs.append(xv)
        n.append(v.size)
        if v.size == 0:
            mean.append(np.nan), lo.append(np.nan), hi.append(np.nan)
            continue
        m = v.mean()
        mean.append(m)
        if band == "std":
            s = v.std(ddof=1) if v.size > 1 else 0.0
            lo.append(m - s), hi.append(m + s)
        else:
            lo.append(v.min()), hi.append(v.max())
    return {"x": np.array(xs), "mean": np.array(mean), "lo": np.array(lo), "hi": np.array(hi), "n": np.array(n)}


def errorbar(ax, s, **kw):
    """Mean with asymmetric error bars lo..hi, skipping points without a value."""
    ok = np.isfinite(s["mean"])
    yerr = np.vstack([s["mean"][ok] - s["lo"][ok], s["hi"][ok] - s["mean"][ok]])
    kw.setdefault("capsize", 3)
    kw.setdefault("marker", "o")
    kw.setdefault("ms", 4)
    return ax.errorbar(s["x"][ok], s["mean"][ok], yerr=yerr, **kw)


def nanopore_ratio(h5path, rows=None):
    """model.nanopore_ratio: /model attribute, else eps2_solid / eps_2 of the CSV, else the
    paper's 0.28 / 0.69."""
    try:
        with h5py.File(h5path, "r") as f:
            if "model" in f and "nanopore_ratio" in f["model"].attrs:
                return float(f["model"].attrs["nanopore_ratio"])
    except OSError:
        pass
    if rows and has_column(rows, "eps2_solid") and rows[0].get("eps_2"):
        return rows[0]["eps2_solid"] / rows[0]["eps_2"]
    return 0.28 / 0.69


def solid_axis(ax, ratio):
    """A second x axis on top: the carbon fraction without the unresolved nanopores."""
    sec = ax.secondary_xaxis("top", functions=(lambda x: x * ratio, lambda x: x / ratio))
    sec.set_xlabel(f"carbon without nanopores ({ratio:.3f} \u00b7 \u03b5\u2082)", fontsize=8)
    sec.tick_params(labelsize=7)
    sec.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))
    return sec


# ---------------------------------------------------------------------------------------------
# The model's exact interface areas (docs/interface-areas.md; the C code: PgModelInterfaceAreas)
def model_parameters(h5path):
    """{alpha_x, alpha_y, m, lambda_x} from the /model attributes, or None."""
    keys = {"alpha_x": "alpha_x_per_um", "alpha_y": "alpha_y_per_um", "m": "m", "lambda_x": "lambda_x"}
    try:
        with h5py.File(h5path, "r") as f:
            if "model" in f and all(v in f["model"].attrs for v in keys.values()):
                return {k: float(f["model"].attrs[v]) for k, v in keys.items()}
    except OSError:
        pass
    return None


def lambda_z_of(lambda_x, m, eps2):
    """lambda_Z solving eq. 9 for eps2 (scipy quadrature and Brent)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq
    from scipy.stats import norm
    if m >= 1:
        return norm.ppf(norm.cdf(lambda_x) - eps2)

    def eps(lz):
        return quad(lambda t: norm.pdf(t) * norm.sf((lz - np.sqrt(m) * t) / np.sqrt(1 - m)), -np.inf, lambda_x, epsabs=1e-13, epsrel=1e-12)[0]
    return brentq(lambda lz: eps(lz) - eps2, -40, 40, xtol=1e-14)


def interface_areas_exact(lambda_x, lambda_z, m, alpha_x, alpha_y):
    """{'S_12', 'S_13', 'S_23'} (1/um): Rice's formula for {X = lambda_X} and {Z = lambda_Z} times
    the conditional normal probability of the other field's side."""
    from scipy.stats import norm
    az = np.sqrt(m * alpha_x ** 2 + (1 - m) * alpha_y ** 2)
    sx = 2 * np.sqrt(2) / np.pi * alpha_x * np.exp(-lambda_x ** 2 / 2)
    sz = 2 * np.sqrt(2) / np.pi * az * np.exp(-lambda_z ** 2 / 2)
    if m >= 1:
        up = 1.0 if lambda_x >= lambda_z else 0.0
        return {"S_12": sx * up, "S_13": sx * (1 - up), "S_23": sz * (1.0 if lambda_z < lambda_x else 0.0)}
    u = (lambda_z - np.sqrt(m) * lambda_x) / np.sqrt(1 - m)
    v = (lambda_x - np.sqrt(m) * lambda_z) / np.sqrt(1 - m)
    return {"S_12": sx * norm.sf(u), "S_13": sx * norm.cdf(u), "S_23": sz * norm.cdf(v)}


def interface_curves(model, eps2):
    """The exact S_12, S_13, S_23 at every carbon fraction of eps2: {'x': eps2, 'S_ij': values}."""
    x = np.asarray(eps2, dtype=float)
    out = {"x": x, "S_12": [], "S_13": [], "S_23": []}
    for e in x:
        S = interface_areas_exact(model["lambda_x"], lambda_z_of(model["lambda_x"], model["m"], e), model["m"], model["alpha_x"], model["alpha_y"])
        for k in ("S_12", "S_13", "S_23"):
            out[k].append(S[k])
    for k in ("S_12", "S_13", "S_23"):
        out[k] = np.array(out[k])
    return out


# ---------------------------------------------------------------------------------------------
# HDF5 runs
def runs(f):
    """[(name, group)] of the complete runs of an open file, in run order."""
    if "runs" not in f:
        return []
    out = []
    for k in sorted(f["runs"]):
        g = f["runs"][k]
        if int(g.attrs.get("complete", 1)) == 1:
            out.append((k, g))
    return out


def runs_at(f, eps2):
    """The complete runs whose eps2_target equals eps2 (to 1e-9)."""
    return [(k, g) for k, g in runs(f) if abs(float(g.attrs["eps2_target"]) - eps2) < 1e-9]


def sweep_points(f):
    return sorted({float(g.attrs["eps2_target"]) for _, g in runs(f)})


def nearest(points, want):
    return min(points, key=lambda p: abs(p - want))


def resolved_value(f, key):
    """A key = value of the resolved deck (root attribute `resolved`), or None."""
    if "resolved" not in f.attrs:
        return None
    m = re.search(r"^%s = (.*)$" % re.escape(key), text(f.attrs["resolved"]), re.M)
    return m.group(1).strip() if m else None


def pair_rows(ds):
    """Row index of each pair (i, j) in a descriptors/C_* table, from its `pairs` attribute."""
    names = text(ds.attrs["pairs"]).split(",") if "pairs" in ds.attrs else ["%d%d" % p for p in FILE_PAIRS]
    return {(int(s[0]), int(s[1])): n for n, s in enumerate(x.strip() for x in names)}


def centred_covariance(g, which="radial"):
    """(h in um, {pair: C_ij(h) - eps_i eps_j}) of one run, centred with the run's own measured
    fractions eps_1..3 (attributes); None if the run has no covariance."""
    d = g.get("descriptors")
    name = "C_" + which
    if d is None or name not in d:
        return None
    ds = d[name]
    h = d["r_um" if which == "radial" else "h_%s_um" % which][...]
    C = ds[...]
    eps = [float(g.attrs["eps_%d" % i]) for i in (1, 2, 3)]
    rows = pair_rows(ds)
    return h, {p: C[rows[p]] - eps[p[0] - 1] * eps[p[1] - 1] for p in PAIRS}


def _table_columns(ds):
    """Column names of a /calibration table from its `rows`/`columns` attribute: 'h_um, C11,
    ...' -> ['h_um', 'C11', ...] (the first word of each comma-separated item)."""
    for a in ("rows", "columns"):
        if a in ds.attrs:
            names = re.sub(r"\([^)]*\)", "", text(ds.attrs[a]))  # drop remarks in parentheses
            return [s.strip().split(" ")[0] for s in names.split(",") if s.strip()]
    return None


def calibration_covariance(f):
    """The data's C_ij from /calibration, centred, as a list of curves
    [(label, h in um, {pair: centred C_ij})]; [] when the file has no calibration.

    Looked for: `C_2d` (the 2D images, pooled), `C_model` (the calibrated model by eqs. 7, 10,
    11), any dataset named C_data* with the same layout: h plus one row (or column) per pair,
    named by the `rows` attribute, not centred; and `rho_x` (row 1: C11 of the 3D stack). Each is
    centred with its own fractions: C_ii(0) when the first lag is 0, else the attributes
    eps<i>_2d / eps<i> of /calibration."""
    if "calibration" not in f:
        return []
    cal = f["calibration"]
    out = []
    labels = {"C_2d": "data (2D images)", "C_model": "calibrated model (eqs. 7, 10, 11)"}
    names = [n for n in cal if n in labels or n.lower().startswith("c_data")]
    for n in sorted(names):
        ds = cal[n]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 2:
            continue
        T = ds[...]
        cols = _table_columns(ds) or ["h_um"] + ["C%d%d" % p for p in FILE_PAIRS]
        if T.shape[0] != len(cols) and T.shape[1] == len(cols):
            T = T.T
        if T.shape[0] != len(cols):
            continue
        col = {c: T[k] for k, c in enumerate(cols)}
        h = col.get("h_um", T[0])
        eps = {}
        for i in (1, 2, 3):
            if "C%d%d" % (i, i) in col and h[0] == 0:
                eps[i] = float(col["C%d%d" % (i, i)][0])
                continue
            for a in ("eps%d_2d" % i, "eps%d" % i):
                if a in cal.attrs:
                    eps[i] = float(cal.attrs[a])
                    break
        curves = {}
        for p in PAIRS:
            key = "C%d%d" % p
            if key in col and p[0] in eps and p[1] in eps:
                curves[p] = col[key] - eps[p[0]] * eps[p[1]]
        if curves:
            out.append((labels.get(n, "data (%s)" % n), h, curves))
    if "rho_x" in cal and isinstance(cal["rho_x"], h5py.Dataset) and cal["rho_x"].ndim == 2 and cal["rho_x"].shape[0] >= 2:
        T = cal["rho_x"][...]
        e1 = T[1][0] if T[0][0] == 0 else float(cal.attrs.get("eps1", np.nan))
        if np.isfinite(e1):
            out.append(("data (3D stack, C11)", T[0], {(1, 1): T[1] - e1 ** 2}))
    return out


def calibration_psd2(f, i):
    """(r in um, [curves of each image], mean) of /calibration/psd2_data_<i>
    [level][r, image 1..n, mean], or None."""
    name = "calibration/psd2_data_%d" % i
    if name not in f:
        return None
    T = f[name][...]
    if T.ndim != 2 or T.shape[1] < 3:
        return None
    return T[:, 0], [T[:, k] for k in range(1, T.shape[1] - 1)], T[:, -1]


def psd2(g, i):
    """The pooled 2D cPSD of phase i of one run: (r um, Psi), or None."""
    d = g.get("descriptors")
    if d is None or "psd2_%d" % i not in d:
        return None
    T = d["psd2_%d" % i][...]
    return T[:, 0], T[:, 1]


def psd2_slices(g, i):
    """(r um, [nz][levels]) of every z-slice; radii (k + 1) * step, step = psd2_<i>[0][0]."""
    d = g.get("descriptors")
    if d is None or "psd2_slices_%d" % i not in d or "psd2_%d" % i not in d:
        return None
    S = d["psd2_slices_%d" % i][...]
    step = float(d["psd2_%d" % i][0, 0])
    return (np.arange(S.shape[1]) + 1) * step, S


def table(g, name):
    d = g.get("descriptors")
    if d is None or name not in d:
        return None
    return d[name][...]


def mean_curve(curves):
    """Mean, min and max of curves of possibly different lengths on the longest abscissa; a
    shorter curve is extended by its last value when that is 0 (a cPSD that ended), else by NaN."""
    if not curves:
        return None
    L = max(len(c[0]) for c in curves)
    x = max(curves, key=lambda c: len(c[0]))[0]
    Y = np.full((len(curves), L), np.nan)
    for k, (_, y) in enumerate(curves):
        Y[k, :len(y)] = y
        if len(y) < L and len(y) and y[-1] == 0:
            Y[k, len(y):] = 0.0
    return x, np.nanmean(Y, axis=0), np.nanmin(Y, axis=0), np.nanmax(Y, axis=0)


# ---------------------------------------------------------------------------------------------
# Figure 5: voxels
def visible_faces(vol, spacing, view, removed=None):
    """Quads of the faces of a label volume [nz][ny][nx] seen from direction `view` (a vector
    towards the viewer in x, y, z): every face of a kept voxel whose neighbour across the face is
    outside the volume or removed, and whose outward normal points towards the viewer. Returns
    (quads [n][4][3] in um, labels [n], normal axis [n]).  removed: boolean mask of voxels cut
    away (a corner, to show the inside)."""
    nz, ny, nx = vol.shape
    keep = np.ones(vol.shape, bool) if removed is None else ~removed
    dx, dy, dz = spacing
    quads, labs, axes = [], [], []
    # axis index in array order: 0 = z, 1 = y, 2 = x; the unit square of each face per axis
    for arr_axis, space_axis in ((2, 0), (1, 1), (0, 2)):
        for sign in (1, -1):
            if sign * view[space_axis] <= 0:
                continue
            nb = np.zeros(vol.shape, bool)  # neighbour across the face kept?
            sl_dst = [slice(None)] * 3
            sl_src = [slice(None)] * 3
            if sign > 0:
                sl_dst[arr_axis], sl_src[arr_axis] = slice(0, -1), slice(1, None)
            else:
                sl_dst[arr_axis], sl_src[arr_axis] = slice(1, None), slice(0, -1)
            nb[tuple(sl_dst)] = keep[tuple(sl_src)]
            z, y, x = np.nonzero(keep & ~nb)
            if z.size == 0:
                continue
            c = [x.astype(float), y.astype(float), z.astype(float)]  # voxel corner (lower) in voxels
            c[space_axis] = c[space_axis] + (1.0 if sign > 0 else 0.0)
            u, v = [a for a in range(3) if a != space_axis]
            corners = []
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                p = [c[0].copy(), c[1].copy(), c[2].copy()]
                p[u] += du
                p[v] += dv
                corners.append(np.stack([p[0] * dx, p[1] * dy, p[2] * dz], axis=-1))
            quads.append(np.stack(corners, axis=1))
            labs.append(vol[z, y, x])
            axes.append(np.full(z.size, space_axis))
    return np.concatenate(quads), np.concatenate(labs), np.concatenate(axes)


def draw_voxels(ax, vol, spacing, elev=25, azim=-60, cut=True, zoom=1.0):
    """A cube of labels with its corner towards the viewer cut away (the three cut planes show
    the inside), faces coloured by phase and shaded by orientation. spacing: dx, dy, dz in um."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    e, a = np.radians(elev), np.radians(azim)
    view = (np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e))
    nz, ny, nx = vol.shape
    removed = None
    if cut:
        removed = np.zeros(vol.shape, bool)
        zs = slice(nz // 2, None) if view[2] > 0 else slice(0, nz // 2)
        ys = slice(ny // 2, None) if view[1] > 0 else slice(0, ny // 2)
        xs = slice(nx // 2, None) if view[0] > 0 else slice(0, nx // 2)
        removed[zs, ys, xs] = True
    quads, labs, axis = visible_faces(vol, spacing, view, removed)
    shade = np.array([0.78, 0.66, 1.0])[axis]  # x-normal, y-normal, z-normal (top brightest)
    rgb = np.array([FACE[1], FACE[1], FACE[2], FACE[3]])[np.clip(labs, 0, 3)] * shade[:, None]
    # no antialiasing: neighbouring quads then meet without light seams (and the PNG is smaller)
    pc = Poly3DCollection(quads, facecolors=rgb, edgecolors="none", linewidths=0, antialiased=False)
    ax.add_collection3d(pc)
    L = np.array([nx * spacing[0], ny * spacing[1], nz * spacing[2]])
    ax.set_xlim(0, L[0]), ax.set_ylim(0, L[1]), ax.set_zlim(0, L[2])
    ax.set_box_aspect(tuple(L), zoom=zoom)
    ax.view_init(elev=elev, azim=azim)
    return len(quads)


def phase_legend(fig_or_ax, **kw):
    from matplotlib.patches import Patch
    h = [Patch(facecolor=FACE[i], label=NAMES[i]) for i in (1, 2, 3)]
    return fig_or_ax.legend(handles=h, **kw)


# ---------------------------------------------------------------------------------------------
def savefig(fig, path, dpi=110, max_bytes=300_000):
    """Save as PNG below max_bytes (the README embeds them): first as drawn; if larger, reduced to
    a 128-colour palette (Pillow, which matplotlib requires), which keeps the resolution; only
    then a lower resolution."""
    while True:
        fig.savefig(path, dpi=dpi, facecolor="white")
        if os.path.getsize(path) > max_bytes:
            _palette(path)
        if os.path.getsize(path) <= max_bytes or dpi <= 50:
            break
        dpi = int(dpi * 0.85)
    plt.close(fig)
    return path


def _palette(path, colours=128):
    from PIL import Image
    with Image.open(path) as im:
        q = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    q.save(path, optimize=True)
