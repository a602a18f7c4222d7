"""Calibration (Section 3.2): the identities of eqs. 7, 10, 11 against Monte Carlo on
correlated normals, the inversions and the alpha fit, round trips from data made with known
parameters (tools/make_calibration_data.py: 3D NVP-only stack at 16 x 16 x 20 nm, three 2D
three-phase images at 5 nm), identical results at 1, 2, 3 ranks, a deck from images to a
validated simulation, and one clear line for every malformed input.

Tolerances of the round trips come from replicate draws of the CI-sized data (3D 128 x 128 x 100,
three 1024^2 images; docs/validation.md "Calibration round trips"): over 10 seeds at Table 1 the spread (SD) was
lambda_X 0.008, alpha_X 0.8 %, alpha_Y 2.2 %, m 0.04, lambda_Z 0.035; at the second set
(m = 0.6, alpha_Y = 12 < alpha_X = 20) m 0.02, lambda_Z 0.02, alpha_Y 4 %. The target tolerances
(lambda 0.02, alpha 5 %, m 0.05) hold at >= 2.5 SD for lambda_X and alpha_X everywhere and for m at
the second set; for m and lambda_Z at Table 1 (m = 0.15, where the misfit of eq. 11 is flat) they
are 1.2 and 0.6 SD, and for alpha_Y at the second set 1.2 SD, so those use 3 SD (Table 1: m 0.12,
lambda_Z 0.10; second set: alpha_Y 12 %, lambda_Z 0.06); lambda_Z is also checked at the target
0.02 with m fixed to its true value (calibration.fix_m). The target tolerances themselves are
checked on 27 times the data, where the spread over seeds puts them at >= 3 SD (docs/validation.md)."""
import concurrent.futures
import os
import subprocess
import sys

import numpy as np

import cdriver
import pgtest

TOOL = os.path.join(pgtest.ROOT, "tools", "make_calibration_data.py")
DECK = os.path.join(pgtest.ROOT, "inputs", "calibrate_example.yaml")
TABLE1 = dict(lx=-0.037107, lz=-0.801069, ax=16.6, ay=26.5, m=0.15)
SECOND = dict(args=["--m", "0.6", "--alpha-x", "20", "--alpha-y", "12", "--eps1", "0.45", "--eps2", "0.3"])
_data = {}


def make_data(name, extra=(), seed=1):
    """The data file (cached per test process) and the true parameters."""
    key = (name, tuple(extra), seed)
    if key not in _data:
        d = pgtest.workdir("cal_" + name)
        path = os.path.join(d, "data.h5")
        p = subprocess.run([sys.executable, TOOL, path, "--seed", str(seed)] + list(extra), capture_output=True, text=True, check=True)
        truth = [float(v) for v in p.stdout.split()[1:6]]
        _data[key] = (path, dict(zip(["lx", "lz", "ax", "ay", "m"], truth)))
    return _data[key]


def image_args(path, n=3):
    return ["-calibration_volume", f"{path}:/volume", "-calibration_images", ",".join(f"{path}:/images/{k}" for k in range(n))]


def calibrate(np_, path, extra=(), out=None):
    """Calibration only (no simulation); returns the /calibration attributes."""
    import h5py
    out = out or os.path.join(os.path.dirname(path), f"cal_np{np_}.h5")
    pgtest.run(np_, [DECK, "-calibration_simulate", "false", "-output_file", out] + image_args(path) + list(extra))
    with h5py.File(out, "r") as f:
        g = f["calibration"]
        res = {k: float(g.attrs[k]) if not isinstance(g.attrs[k], (str, bytes)) else g.attrs[k] for k in g.attrs}
        res["_rho_x"] = g["rho_x"][()]
        res["_rho_y"] = g["rho_y"][()]
        res["_misfit"] = g["misfit"][()]
    return res


def check(res, truth, tol):
    est = dict(lx=res["lambda_x"], lz=res["lambda_z"], ax=res["alpha_x_per_um"], ay=res["alpha_y_per_um"], m=res["m"])
    bad = []
    for k, t in tol.items():
        err = abs(est[k] - truth[k]) / (truth[k] if k in ("ax", "ay") else 1)
        if err > t:
            bad.append(f"{k}: estimate {est[k]:.4f}, truth {truth[k]:.4f}, error {err:.4f} > {t}")
    assert not bad, "; ".join(bad) + f"\n all: {est}"


# --- the identities --------------------------------------------------------------------------

def mc_curves(lx, lz, m, rx, ry, n=2_000_000, seed=5):
    """The six C_ij and their standard errors from n pairs of points of correlated normals."""
    rng = np.random.default_rng(seed)
    def pair(r):
        a = rng.standard_normal(n)
        return a, r * a + np.sqrt(1 - r * r) * rng.standard_normal(n)
    x0, xh = pair(rx)
    y0, yh = pair(ry)
    def lab(x, y):
        z = np.sqrt(m) * x + np.sqrt(1 - m) * y
        return np.where(x >= lx, 1, np.where(z >= lz, 2, 3))
    a, b = lab(x0, y0), lab(xh, yh)
    c, se = [], []
    for i, j in [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]:
        v = 0.5 * (((a == i) & (b == j)).mean() + ((a == j) & (b == i)).mean())
        c.append(v)
        se.append(np.sqrt(v * (1 - v) / n))
    return np.array(c), np.array(se)


def test_eqs_7_10_11_against_monte_carlo():
    """All six C_ij of the model (eq. 7 for C11, eq. 11 for C12, eq. 10 for C22, the rest by the
    partition) against Monte Carlo on correlated normals; 5 standard errors."""
    bad = []
    for lx, lz, m in [(-0.0371, -0.801, 0.15), (0.1257, -0.618, 0.6), (0.3, 0.2, 0.0), (-0.2, -1.0, 0.95)]:
        rxs, rys = [0.0, 0.3, 0.7, 0.95, -0.2], [0.0, 0.6, 0.2, 0.9, 0.1]
        out = cdriver.values(cdriver.run(1, "test_calibrate", ["-lx", lx, "-lz", lz, "-m", m, "-rx", ",".join(map(str, rxs)), "-ry", ",".join(map(str, rys))]))
        for k, (rx, ry) in enumerate(zip(rxs, rys)):
            code = np.array(out["C"] if len(rxs) == 1 else [l for l in _lines(out, k)])
            mc, se = mc_curves(lx, lz, m, rx, ry, seed=k + 11)
            dev = np.abs(code - mc) / (se + 1e-12)
            if dev.max() > 5:
                bad.append(f"lx={lx} lz={lz} m={m} rx={rx} ry={ry}: code {code} MC {mc} ({dev.max():.1f} SE)")
    assert not bad, "\n".join(bad)


def _lines(out, k):
    return out[f"C#{k}"]


def _patch_values():
    """cdriver.values keeps the last line per key; the driver prints `C k ...`: key by k."""
    orig = cdriver.values
    def values(stdout):
        res = orig(stdout)
        for line in stdout.splitlines():
            p = line.split()
            if p and p[0] in ("C", "rho_x", "rho_y"):
                res[f"{p[0]}#{int(p[1])}"] = [float(x) for x in p[2:]]
        return res
    cdriver.values = values


_patch_values()


def test_eq7_inversion_returns_rho():
    """C11 from a known rho (independent scipy quadrature of eq. 7) inverted back to rho."""
    lx = -0.0371
    e1 = 0.5 * (1 - __import__("math").erf(lx / np.sqrt(2)))
    rhos = [-0.5, 0.0, 0.1, 0.5, 0.9, 0.99]
    c11 = [e1 * e1 + pgtest.phi2_integral(lx, r) for r in rhos]
    out = cdriver.values(cdriver.run(1, "test_calibrate", ["-lx", lx, "-invert11", ",".join(f"{c:.17g}" for c in c11)]))
    got = [out[f"rho_x#{k}"][0] for k in range(len(rhos))]
    assert np.allclose(got, rhos, atol=1e-8), f"rho {rhos} -> C11 {c11} -> {got}"


def test_eq10_inversion_returns_rho_y():
    """C22 by eq. 10 at a known rho_Y, inverted back; and C22 increases with rho_Y."""
    lx, lz, m, rx = -0.0371, -0.801, 0.15, 0.6
    rys = [-0.3, 0.0, 0.4, 0.8, 0.97]
    fwd = cdriver.values(cdriver.run(1, "test_calibrate", ["-lx", lx, "-lz", lz, "-m", m, "-rx", ",".join([str(rx)] * len(rys)), "-ry", ",".join(map(str, rys))]))
    c22 = [fwd[f"C#{k}"][3] for k in range(len(rys))]
    assert all(np.diff(c22) > 0), f"C22 not increasing in rho_Y: {c22}"
    out = cdriver.values(cdriver.run(1, "test_calibrate", ["-lx", lx, "-lz", lz, "-m", m, "-rx", rx, "-invert22", ",".join(f"{c:.17g}" for c in c22)]))
    got = [out[f"rho_y#{k}"][0] for k in range(len(rys))]
    assert np.allclose(got, rys, atol=1e-7), f"rho_Y {rys} -> C22 {c22} -> {got}"


def test_fit_alpha_exact():
    h = np.linspace(0.005, 0.2, 40)
    rho = np.exp(-(23.0 * h) ** 2)
    out = cdriver.values(cdriver.run(1, "test_calibrate", ["-fit_h", ",".join(map(str, h)), "-fit_rho", ",".join(f"{r:.17g}" for r in rho)]))
    assert abs(out["alpha"][0] - 23.0) < 1e-8, out


# --- round trips ---------------------------------------------------------------------------------

def test_round_trip_table1():
    path, truth = make_data("table1")
    res = calibrate(2, path)
    check(res, truth, dict(lx=0.02, ax=0.05, ay=0.05, m=0.12, lz=0.10))
    # with m fixed at its true value, lambda_Z meets the target 0.02
    fixed = calibrate(2, path, ["-calibration_fix_m", "true", "-model_m", "0.15"], out=os.path.join(os.path.dirname(path), "fixed.h5"))
    check(fixed, truth, dict(lz=0.02, m=1e-12))
    mis = res["_misfit"]
    assert mis.shape[1] == 201 and abs(mis[0][-1] - 1) < 1e-12, "the m grid is 0, 0.005, ..., 1"
    assert res["m"] == mis[0][np.argmin(mis[1])], "m is the minimiser of the misfit"


def test_round_trip_second_set():
    """m = 0.6, alpha_Y < alpha_X, other fractions: the target tolerances for lambda_X, alpha_X
    and m; 3 replicate SD for lambda_Z and alpha_Y (module docstring)."""
    path, truth = make_data("second", SECOND["args"])
    res = calibrate(2, path)
    check(res, truth, dict(lx=0.02, lz=0.06, ax=0.05, ay=0.12, m=0.05))


LARGE = ["--n3", "384,384,300", "--n2", "2048", "--images", "18"]


@pgtest.long_test
def test_round_trip_large_data_stated_tolerances():
    """The target tolerances (lambda 0.02, alpha 5 %, m 0.05) at both parameter sets, on 27 times
    the CI data (3D 384 x 384 x 300, eighteen 2048^2 images): there the replicate SD over seeds
    (docs/validation.md, Calibration round trips) puts 0.02 at about 3 SD for lambda_Z and m at 5 SD or more."""
    for name, extra in (("table1_large", []), ("second_large", SECOND["args"])):
        path, truth = make_data(name, list(extra) + LARGE)
        res = calibrate(2, path, ["-calibration_images", ",".join(f"{path}:/images/{k}" for k in range(18))])
        check(res, truth, dict(lx=0.02, lz=0.02, ax=0.05, ay=0.05, m=0.05))
        os.remove(path)


def test_identical_at_1_2_3_ranks():
    """The 2D curves and the m grid are rank-count independent by construction; the 3D covariance
    is a distributed FFT whose rounding depends on the rank count (~1e-16)."""
    path, _ = make_data("table1")
    res = [calibrate(n, path, out=os.path.join(os.path.dirname(path), f"ranks{n}.h5")) for n in (1, 2, 3)]
    bad = []
    for k in ("lambda_x", "lambda_z", "alpha_x_per_um", "alpha_y_per_um", "m", "eps1", "eps2", "eps3"):
        v = [r[k] for r in res]
        if max(v) - min(v) > 1e-9 * max(1, abs(v[0])):
            bad.append(f"{k}: {v}")
    if not all(res[0]["m"] == r["m"] for r in res):
        bad.append("m differs")
    assert not bad, "; ".join(bad)


def test_deck_images_to_validated_sweep():
    """One deck: calibrate, simulate the calibrated model, validate (Figure 3 table)."""
    import csv
    import h5py
    path, truth = make_data("table1")
    d = os.path.dirname(path)
    out = os.path.join(d, "e2e.h5")
    p = pgtest.run(2, [DECK, "-output_file", out, "-domain_shape", "64,64,64", "-sweep_realizations", "1"] + image_args(path))
    assert "Table 1" in p.stdout and "reference" in p.stdout, p.stdout
    with h5py.File(out, "r") as f:
        cal, model = f["calibration"].attrs, f["model"].attrs
        assert abs(model["alpha_x_per_um"] - cal["alpha_x_per_um"]) < 1e-8 * cal["alpha_x_per_um"]
        assert abs(model["m"] - cal["m"]) < 1e-9 and abs(model["lambda_x"] - cal["lambda_x"]) < 1e-8
        assert f["calibration/C_realizations"].shape[0] == 7
        lz_run = f["runs/0000"].attrs["lambda_z"]
        assert abs(lz_run - cal["lambda_z"]) < 1e-6, (lz_run, cal["lambda_z"])
        origin = model["origin"].decode() if isinstance(model["origin"], bytes) else str(model["origin"])
        assert origin == "lambda_x: calibration, lambda_z: calibration, alpha_x: calibration, alpha_y: calibration, m: calibration", origin
    rows = list(csv.DictReader(open(os.path.splitext(out)[0] + "_validation.csv")))
    src = {r["source"] for r in rows}
    assert src == {"data_3d", "data_2d", "model_theory", "model_realizations"}, src
    # the calibrated model's centred C_ij follow the 2D data (Figure 3): within 0.01 everywhere
    data = {float(r["h_um"]): r for r in rows if r["source"] == "data_2d"}
    theory = {float(r["h_um"]): r for r in rows if r["source"] == "model_theory"}
    worst = max(abs(float(theory[h][c]) - float(data[h][c])) for h in data for c in ("C11", "C12", "C13", "C22", "C23", "C33"))
    assert worst < 0.01, f"model vs 2D data: largest centred difference {worst}"


def test_image_size_distributions():
    """Figure 4, the data side: /calibration/psd2_data_<i> holds the 2D continuous phase size
    distribution of every image (disks, minus-sampling at the image edges) and their mean, equal to
    the scipy reference of tests/test_pores.py on the same image (image 1, every phase; the levels
    up to the first all-zero one), and the same at 1 and 3 ranks (images on different ranks)."""
    import h5py
    import test_pores as tp
    path, _ = make_data("table1")
    d = os.path.dirname(path)
    tabs = []
    for n in (1, 3):
        out = os.path.join(d, f"psd{n}.h5")
        calibrate(n, path, out=out)
        with h5py.File(out, "r") as f:
            tabs.append([f[f"calibration/psd2_data_{i}"][()] for i in (1, 2, 3)])
    for a, b in zip(*tabs):
        assert np.array_equal(a, b), "psd2_data differs between 1 and 3 ranks"
    with h5py.File(path, "r") as f:
        img = f["images/1"][()]
        px = float(np.atleast_1d(f["images/1"].attrs["voxel_size_um"])[0])
    bad = []
    for i in (1, 2, 3):
        t = tabs[0][i - 1]
        step = t[0, 0]
        ph = img == i
        e2 = lambda inside: tp.edt2(inside[None], (px, px, 1e9))[0]
        r2 = e2(ph)
        K = min(tp.levels(r2[ph].max(), step, 10 ** 6), t.shape[0])
        lt = tp.level_map(r2, step, K, e2)
        ny, nx = img.shape
        for k in range(t.shape[0]):
            r = (k + 1) * step
            m = tp.margin(r, px)
            w = (slice(m, ny - m), slice(m, nx - m))
            want = (lt[w] >= k + 1).sum() / ph[w].sum()
            if abs(t[k, 2] - want) > 1e-12:
                bad.append(f"phase {i} level {k}: {t[k, 2]} vs {want}")
        if abs(t[:, -1] - t[:, 1:-1].mean(axis=1)).max() > 1e-12:
            bad.append(f"phase {i}: mean column is not the mean of the images")
    assert not bad, "\n".join(bad[:8])


# --- malformed inputs ----------------------------------------------------------------------------

def test_malformed_inputs_one_line_each():
    import h5py
    path, _ = make_data("table1")
    d = pgtest.workdir("cal_bad")
    with h5py.File(path, "r") as f:
        vol, im = f["volume"][()], f["images/0"][()]
    bad_h5 = os.path.join(d, "bad.h5")
    with h5py.File(bad_h5, "w") as f:
        f.create_dataset("vol2d", data=vol[0]).attrs["voxel_size_um"] = [0.016, 0.016, 0.02]
        f.create_dataset("novoxel", data=vol)
        f.create_dataset("float", data=vol.astype(np.float32)).attrs["voxel_size_um"] = [0.016]
        f.create_dataset("allnvp", data=np.ones_like(vol)).attrs["voxel_size_um"] = [0.016]
        w = im.copy()
        w[3, 7] = 9
        f.create_dataset("wronglabel", data=w).attrs["voxel_size_um"] = [0.005]
        f.create_dataset("px4", data=im).attrs["voxel_size_um"] = [0.004]
        f.create_dataset("nopore", data=np.where(im == 3, 2, im).astype(np.uint8)).attrs["voxel_size_um"] = [0.005]
        f.create_dataset("zero", shape=(0, 5), dtype=np.uint8).attrs["voxel_size_um"] = [0.005]
    raw = os.path.join(d, "vol.u8")
    vol.tofile(raw)
    rawim = os.path.join(d, "im.u8")
    im.tofile(rawim)
    empty = os.path.join(d, "empty.u8")
    open(empty, "wb").close()
    V, I = f"{path}:/volume", f"{path}:/images/0"
    shp = ["-calibration_volume_shape", "128,128,100", "-calibration_volume_voxel_um", "0.016,0.016,0.02"]
    cases = [
        (["-calibration_volume", os.path.join(d, "missing.h5:/volume"), "-calibration_images", I], "does not exist"),
        (["-calibration_volume", f"{path}:/nothere", "-calibration_images", I], "no dataset"),
        (["-calibration_volume", f"{bad_h5}:/vol2d", "-calibration_images", I], "dimensions"),
        (["-calibration_volume", f"{bad_h5}:/novoxel", "-calibration_images", I], "voxel_size_um"),
        (["-calibration_volume", f"{bad_h5}:/float", "-calibration_images", I], "uint8"),
        (["-calibration_volume", f"{bad_h5}:/allnvp", "-calibration_images", I], "NVP fraction"),
        (["-calibration_volume", V, "-calibration_images", f"{bad_h5}:/wronglabel"], "label 9"),
        (["-calibration_volume", V, "-calibration_images", f"{I},{bad_h5}:/px4"], "inconsistent pixel sizes"),
        (["-calibration_volume", V, "-calibration_images", f"{bad_h5}:/nopore"], "all three phases"),
        (["-calibration_volume", V, "-calibration_images", f"{bad_h5}:/zero"], "zero extent"),
        (["-calibration_volume", raw, "-calibration_images", I], "calibration.volume_shape"),
        (["-calibration_volume", raw, "-calibration_images", I, "-calibration_volume_shape", "128,128,101", "-calibration_volume_voxel_um", "0.016"], "bytes"),
        (["-calibration_volume", empty, "-calibration_images", I] + shp, "0 bytes"),
        (["-calibration_volume", raw, "-calibration_images", I, "-calibration_volume_shape", "128,128,100"], "calibration.volume_voxel_um"),
        (["-calibration_volume", V, "-calibration_images", rawim, "-calibration_image_shape", "1024,1024"], "calibration.pixel_um"),
        (["-calibration_volume", V, "-calibration_images", rawim, "-calibration_image_shape", "1000,1024", "-calibration_pixel_um", "0.005"], "bytes"),
        (["-calibration_volume", V, "-calibration_images", path], "FILE.h5:/path"),
        (["-calibration_volume", V, "-calibration_images", ""], "calibration.images is not"),
        (["-calibration_volume", V, "-calibration_images", I, "-calibration_pixel_um", "0"], "out of range"),
        (["-calibration_volume", V, "-calibration_images", I, "-calibration_raw_type", "float64"], "not allowed"),
        (["-calibration_volume", V, "-calibration_images", I, "-calibration_range_um", "0.001"], "at least 2"),
    ]
    # one output per case: the cases run side by side, and a run holds the lock of its output
    # (docs/safety.md) from before the calibration reads its inputs
    outs = [os.path.join(d, f"out{k}.h5") for k in range(len(cases))]

    def one(case):
        args, must = case
        out = outs[cases.index(case)]
        p = pgtest.run(2, [DECK, "-calibration_simulate", "false", "-output_file", out] + args, check=False)
        lines = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
        if p.returncode == 0 or len(lines) != 1 or must.lower() not in lines[0].lower() or "PETSC ERROR" in p.stderr:
            return f"[{' '.join(map(str, args))[-120:]}] exit {p.returncode}, expected one line naming '{must}': {p.stderr.strip()[:300]}"
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        problems = [r for r in ex.map(one, cases) if r]
    assert not problems, "\n".join(problems)
    left = [f for f in os.listdir(d) if f.startswith("out")]
    assert not left, f"an input error left output files: {left}"


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
