"""The figures of postprocess/make_figures.py from a real (tiny) sweep: every PNG written and a valid
image of reasonable size, and the numbers drawn equal to the CSV and HDF5 values, recomputed here
independently (Figure 6a's exact interface curves against the C code's values: the CSV at the sweep
points, the driver bin/test_interface between them); the optional inputs (/calibration data, measured M-factor columns) used when
present and skipped when absent. Runs standalone: /usr/bin/python3 tests/test_postprocess.py"""
import csv
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np

import pgtest

sys.path.insert(0, os.path.join(pgtest.ROOT, "postprocess"))
import make_figures  # noqa: E402
import pgplot  # noqa: E402

PNGS = ["fig3_covariance", "fig3_covariance_sweep", "fig4_psd2d", "fig4b_psd3d_mip", "fig5_structures", "fig6_sweep"]
_SWEEP = {}


def sweep():
    """A 2-point x 2-realization sweep of inputs/tiny.yaml (32^3) with every descriptor, once."""
    if "out" not in _SWEEP:
        d = pgtest.workdir("postprocess")
        out = os.path.join(d, "sw.h5")
        pgtest.run(2, [pgtest.TINY, "-sweep_carbon_fraction", "0.25,0.35", "-sweep_realizations", 2, "-output_file", out, "-output_write_fields", "false",
                       "-conductivity_solve", "false"])  # M_1..3 columns: see the calibration test
        _SWEEP["out"], _SWEEP["dir"] = out, d
    return _SWEEP["out"]


def csv_columns(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def png_info(path):
    """(width, height) from the IHDR chunk; asserts the PNG signature and a size of 10-300 kB."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path}: no IHDR chunk first"
    size = os.path.getsize(path)
    assert 10_000 < size <= 300_000, f"{path}: {size} bytes, expected 10 kB - 300 kB"
    return struct.unpack(">II", head[16:24])


def test_make_figures_cli_writes_every_png():
    out = sweep()
    figdir = os.path.join(os.path.dirname(out), "cli")
    p = subprocess.run([sys.executable, os.path.join(pgtest.ROOT, "postprocess", "make_figures.py"), out, "--outdir", figdir], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"make_figures exited {p.returncode}\n{p.stderr[-2000:]}"
    printed = p.stdout.split()
    for name in PNGS:
        path = os.path.join(figdir, name + ".png")
        assert os.path.exists(path), f"{name}.png not written"
        assert path in printed, f"{path} not printed"
        w, h = png_info(path)
        assert w >= 600 and h >= 250, f"{name}.png is {w} x {h} pixels"
    p = subprocess.run([sys.executable, os.path.join(pgtest.ROOT, "postprocess", "make_figures.py"), out + ".missing"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "make_figures: error:" in p.stderr, (p.returncode, p.stderr)


def test_plotted_numbers_equal_the_outputs():
    out = sweep()
    figdir = os.path.join(os.path.dirname(out), "values")
    done = make_figures.make_all(out, figdir)
    assert sorted(done) == sorted(PNGS), sorted(done)
    rows = csv_columns(os.path.splitext(out)[0] + ".csv")
    points = sorted({float(r["eps2_target"]) for r in rows})
    assert points == [0.25, 0.35], points

    # Figure 6: per point, mean / min / max of each column over the realizations, as in the CSV
    f6 = done["fig6_sweep"][1]
    for col in ["S_12", "S_13", "S_23", "M_pred_1", "M_pred_2", "M_pred_3", "perc_1", "perc_2", "perc_3", "beta_1", "beta_2", "beta_3", "tau_1", "tau_2", "tau_3"]:
        assert col in f6, f"Figure 6 does not draw {col}"
        for k, p in enumerate(points):
            v = np.array([float(r[col]) for r in rows if float(r["eps2_target"]) == p])
            if col.startswith("tau_"):
                v = v[v != 0]  # undefined tortuosity (no path) is stored as 0 and not drawn
            assert f6[col]["x"][k] == p
            assert f6[col]["n"][k] == v.size
            if v.size:
                assert np.isclose(f6[col]["mean"][k], v.mean(), rtol=1e-12), (col, p, f6[col]["mean"][k], v.mean())
                assert f6[col]["lo"][k] == v.min() and f6[col]["hi"][k] == v.max(), (col, p)
    assert "M_1" not in f6, "measured M drawn although the CSV has no M_1..3"

    # Figure 6a: the field-based points as the CSV, the exact curves through every sweep point equal
    # to the C code's S_ij_exact there (scipy here, GSL there), and between the points to the driver
    for col in ("S_12", "S_13", "S_23"):
        fs = f6[col + "_field"]
        for k, p in enumerate(points):
            v = np.array([float(r[col + "_field"]) for r in rows if float(r["eps2_target"]) == p])
            assert fs["x"][k] == p and np.isclose(fs["mean"][k], v.mean(), rtol=1e-12) and fs["lo"][k] == v.min() and fs["hi"][k] == v.max(), (col, p)
        cur = f6[col + "_exact"]
        assert cur["x"].size >= 40 and np.all(np.diff(cur["x"]) > 0), cur["x"]
        assert cur["x"][0] < points[0] and cur["x"][-1] > points[-1], (cur["x"][0], cur["x"][-1])
        for p in points:
            k = np.flatnonzero(cur["x"] == p)
            assert k.size == 1, f"the exact curve of {col} misses the sweep point {p}"
            ex = {float(r[col + "_exact"]) for r in rows if float(r["eps2_target"]) == p}
            assert len(ex) == 1 and np.isclose(cur["y"][k[0]], ex.pop(), rtol=1e-9), (col, p, cur["y"][k[0]])
    curves = {c: f6[c + "_exact"] for c in ("S_12", "S_13", "S_23")}
    x = curves["S_12"]["x"]
    assert np.all(np.diff(curves["S_12"]["y"]) > 0) and np.all(np.diff(curves["S_13"]["y"]) < 0), "S_12 rises, S_13 falls with the carbon fraction"
    with h5py.File(out, "r") as f:
        lx, m, ax_, ay_ = (float(f["model"].attrs[k]) for k in ("lambda_x", "m", "alpha_x_per_um", "alpha_y_per_um"))
    rice = 2 * np.sqrt(2) / np.pi * ax_ * np.exp(-lx * lx / 2)  # S_12 + S_13 = the whole level set {X = lambda_X}
    assert np.allclose(curves["S_12"]["y"] + curves["S_13"]["y"], rice, rtol=1e-12)
    env = dict(pgtest.ENV)
    for j in (0, len(x) // 3, len(x) - 1):
        p = subprocess.run([os.path.join(pgtest.ROOT, "bin", "test_interface"), "-lambda_x", repr(lx), "-eps2", repr(float(x[j])), "-m", repr(m), "-alpha_x", repr(ax_), "-alpha_y", repr(ay_)],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        sp = [float(v) for v in next(line for line in p.stdout.splitlines() if line.startswith("S_pair")).split()[1:]]
        assert np.allclose([curves[c]["y"][j] for c in ("S_12", "S_13", "S_23")], sp, rtol=1e-9), (x[j], sp)

    with h5py.File(out, "r") as f:
        # Figures 3 and 4 are drawn at the point nearest model.carbon_fraction = 0.3372 (tiny.yaml)
        names = [k for k in sorted(f["runs"]) if abs(float(f["runs"][k].attrs["eps2_target"]) - 0.35) < 1e-12]
        assert len(names) == 2, names
        f3 = done["fig3_covariance"][1]
        assert f3["runs"] == 2 and f3["data"] == [], (f3["runs"], f3["data"])
        order = {"11": 0, "12": 1, "13": 2, "22": 3, "23": 4, "33": 5}
        for (i, j), curve in f3["mean"].items():
            ref = []
            for k in names:
                g = f["runs"][k]
                C = g["descriptors/C_radial"][...]
                assert pgplot.text(g["descriptors/C_radial"].attrs["pairs"]) == "11,12,13,22,23,33"
                ref.append(C[order["%d%d" % (i, j)]] - float(g.attrs["eps_%d" % i]) * float(g.attrs["eps_%d" % j]))
            assert np.allclose(curve, np.mean(ref, axis=0), rtol=0, atol=1e-15), (i, j)
            assert np.allclose(f3["r"], f["runs"][names[0]]["descriptors/r_um"][...])
        # the centred C_ii at lag 0 is eps_i (1 - eps_i) of each run: a check of the centring
        e = [[float(f["runs"][k].attrs["eps_%d" % i]) for k in names] for i in (1, 2, 3)]
        for i in (1, 2, 3):
            assert np.isclose(f3["mean"][(i, i)][0], np.mean([x * (1 - x) for x in e[i - 1]]), atol=1e-12)
        f4 = done["fig4_psd2d"][1]
        for i in (1, 2, 3):
            T = [f["runs"][k]["descriptors/psd2_%d" % i][...] for k in names]
            L = max(len(t) for t in T)
            Y = np.zeros((len(T), L))
            for n, t in enumerate(T):
                Y[n, :len(t)] = t[:, 1]  # a shorter curve ended at 0
                assert t[-1, 1] == 0 or len(t) == L
            assert np.allclose(f4[i]["pooled_mean"], Y.mean(axis=0), atol=1e-15), i
            assert np.allclose(f4[i]["r"], max(T, key=len)[:, 0])
            nz = f["runs"][names[0]]["phase"].shape[0]
            assert f4[i]["slices"] == 2 * nz, (f4[i]["slices"], nz)
        # Figure 5: the drawn volume's fractions are the run's (32^3: drawn whole)
        f5 = done["fig5_structures"][1]
        assert sorted(f5) == points, sorted(f5)
        for p, v in f5.items():
            row = [r for r in rows if int(r["run"]) == int(v["run"])][0]
            assert v["stride"] == 1 and float(row["eps2_target"]) == p
            for i in (1, 2, 3):
                assert float(row["eps_%d" % i]) == float("%.10g" % v["fractions"][i - 1]), (p, i)


def test_calibration_and_measured_m_used_when_present():
    """A copy of the sweep given a /calibration group (the layout of the calibration stage: 7-row
    C_2d, psd2_data_<i>) and M_1..3 columns in its CSV: the figures draw them, with the data's
    C_ij centred by their own C_ii(0)."""
    out = sweep()
    d = os.path.join(os.path.dirname(out), "cal")
    os.makedirs(d, exist_ok=True)
    cal = os.path.join(d, "c.h5")
    shutil.copy(out, cal)
    h = np.arange(6) * 0.01
    eps = [0.5, 0.3, 0.2]
    C = {"11": eps[0] * (eps[0] + (1 - eps[0]) * np.exp(-h * 40)), "22": eps[1] * (eps[1] + (1 - eps[1]) * np.exp(-h * 50)),
         "33": eps[2] * (eps[2] + (1 - eps[2]) * np.exp(-h * 60))}
    C.update({"12": eps[0] * eps[1] * (1 - np.exp(-h * 30)), "13": eps[0] * eps[2] * (1 - np.exp(-h * 30)), "23": eps[1] * eps[2] * (1 - 0.5 * np.exp(-h * 30))})
    with h5py.File(cal, "a") as f:
        g = f.create_group("calibration")
        g.attrs["eps2"] = 0.25
        ds = g.create_dataset("C_2d", data=np.vstack([h] + [C[p] for p in ("11", "12", "13", "22", "23", "33")]))
        ds.attrs["rows"] = "h_um, C11, C12, C13, C22, C23, C33 (2D images, pooled, not centred)"
        for i in (1, 2, 3):
            r = np.arange(1, 6) * 0.01
            g.create_dataset("psd2_data_%d" % i, data=np.column_stack([r, np.linspace(1, 0, 5), np.linspace(1, 0.2, 5), np.linspace(1, 0.1, 5)]))
    rows = csv_columns(os.path.splitext(out)[0] + ".csv")
    with open(os.path.join(d, "c.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["M_1", "M_2", "M_3"], lineterminator="\n")
        w.writeheader()
        for n, r in enumerate(rows):
            w.writerow(dict(r, M_1=0.1 + 0.01 * n, M_2=0.05, M_3=0.0 if n == 0 else 0.02))
    with h5py.File(cal, "r") as f:
        got = pgplot.calibration_covariance(f)
    assert [g[0] for g in got] == ["data (2D images)"], [g[0] for g in got]
    for (i, j), y in got[0][2].items():
        assert np.allclose(y, C["%d%d" % (i, j)] - eps[i - 1] * eps[j - 1], atol=1e-15), (i, j)
    done = make_figures.make_all(cal, os.path.join(d, "figs"))
    assert done["fig3_covariance"][1]["data"] == ["data (2D images)"]
    f4 = done["fig4_psd2d"][1]
    for i in (1, 2, 3):
        assert np.allclose(f4[i]["data_mean"], np.linspace(1, 0.1, 5))
    f6 = done["fig6_sweep"][1]
    for i in (1, 2, 3):
        assert "M_%d" % i in f6 and "M_over_M_pred_%d" % i in f6, sorted(f6)
    # the ratio per run M / M_pred where M_pred > 0, averaged per point
    for k, p in enumerate(sorted({float(r["eps2_target"]) for r in rows})):
        v = [(0.1 + 0.01 * n) / float(r["M_pred_1"]) for n, r in enumerate(rows) if float(r["eps2_target"]) == p and float(r["M_pred_1"]) > 0]
        assert np.isclose(f6["M_over_M_pred_1"]["mean"][k], np.mean(v)), (p, f6["M_over_M_pred_1"]["mean"][k], np.mean(v))
    for name in PNGS:
        png_info(os.path.join(d, "figs", name + ".png"))


if __name__ == "__main__":
    import time
    failed = 0
    for name in sorted(n for n in dir() if n.startswith("test_")):
        t0 = time.time()
        try:
            globals()[name]()
            print(f"PASS {name} ({time.time() - t0:.1f} s)")
        except Exception as e:  # report and go on, as run_tests.py does
            failed += 1
            print(f"FAIL {name} ({time.time() - t0:.1f} s)\n     {e!r}")
    if not failed:
        shutil.rmtree(pgtest.WORK, ignore_errors=True)
    sys.exit(1 if failed else 0)
