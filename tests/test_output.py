"""Output contract: HDF5 read back by h5py and h5dump, XDMF side-car, CSV; interruption by a signal
and resumption; measuring an image given in the deck."""
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import h5py
import numpy as np

import pgtest


def test_hdf5_xdmf_csv_contract():
    d = pgtest.workdir("output")
    out = os.path.join(d, "o.h5")
    pgtest.run(3, [pgtest.TINY, "-domain_shape", "20,24,28", "-domain_voxel_size_um", "0.01,0.012,0.014", "-sweep_carbon_fraction", "0.25,0.3",
                   "-sweep_realizations", 2, "-output_file", out, "-output_compress", 4])
    assert not os.path.exists(out + ".part"), ".part left behind after a complete sweep"
    r = pgtest.rows(out)
    assert [x["run"] for x in r] == [0, 1, 2, 3]
    for col in ("eps2_target", "realization", "seed", "lambda_x", "lambda_z", "eps_1", "eps_2", "eps_3"):
        assert col in r[0], f"CSV lacks {col}"
    with h5py.File(out, "r") as f:
        for a in ("deck", "resolved", "signature", "version", "nranks"):
            assert a in f.attrs, f"root attribute {a} missing"
        deck = f.attrs["deck"]
        assert "alpha_x: 16.6" in (deck.decode() if isinstance(deck, bytes) else deck), "deck text not stored"
        assert float(f.attrs["nranks"]) == 3
        for a in ("alpha_x_per_um", "alpha_y_per_um", "m", "lambda_x"):
            assert a in f["model"].attrs, f"/model attribute {a} missing"
        for k, row in enumerate(r):
            g = f[f"runs/{k:04d}"]
            for a in ("eps2_target", "realization", "seed", "lambda_z", "complete"):
                assert a in g.attrs, f"run {k} attribute {a} missing"
            assert int(g.attrs["seed"]) == int(row["seed"]), "seed in HDF5 and CSV differ"
            P = g["phase"]
            assert P.shape == (28, 24, 20) and P.dtype == np.uint8, (P.shape, P.dtype)
            assert np.allclose(P.attrs["voxel_size_um"], [0.01, 0.012, 0.014])
            v = P[...]
            assert np.isin(v, [1, 2, 3]).all(), "labels outside {1,2,3}"
            for i in (1, 2, 3):
                assert abs((v == i).mean() - row[f"eps_{i}"]) < 1e-9, f"eps_{i} in CSV is not the voxel count"  # CSV: 10 digits
            assert "descriptors" in g
    p = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    assert p.returncode == 0 and "DATASET \"phase\"" in p.stdout and "H5T_STD_U8LE" in p.stdout, f"h5dump: {p.returncode} {p.stderr[:500]}"
    p = subprocess.run(["h5dump", "-d", "/runs/0001/phase", "-s", "0,0,0", "-c", "1,1,4", out], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    x = ET.parse(os.path.join(d, "o.xdmf")).getroot()
    grids = x.findall(".//Grid[@GridType='Uniform']")
    assert len(grids) == 4, f"{len(grids)} grids in the XDMF"
    for g in grids:
        topo = g.find("Topology")
        assert topo.get("Dimensions") == "29 25 21", topo.get("Dimensions")
        item = g.find("Attribute/DataItem")
        fname, path = item.text.strip().split(":")
        assert fname == "o.h5" and item.get("Dimensions") == "28 24 20"
        with h5py.File(os.path.join(d, fname), "r") as f:
            assert path in f, f"XDMF points at missing {path}"
        spacing = g.findall("Geometry/DataItem")[1].text.split()
        assert np.allclose([float(s) for s in spacing], [0.014, 0.012, 0.01]), spacing


def test_interrupt_and_resume():
    """SIGTERM during a sweep: the job ends with status 3 after the run it was writing, the .part
    keeps the complete runs, and rerunning completes the sweep with every run once, equal to an
    uninterrupted run of the same deck."""
    d = pgtest.workdir("resume")
    args = [pgtest.TINY, "-domain_shape", "192,192,192", "-sweep_carbon_fraction", "0.2,0.3,0.35", "-sweep_realizations", 4,
            "-output_write_fields", "false", "-output_precision", "single", "-fft_planner", "estimate"]
    ref = os.path.join(d, "ref.h5")
    pgtest.run(2, args + ["-output_file", ref])
    out = os.path.join(d, "int.h5")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "2", pgtest.BIN] + [str(a) for a in args] + ["-output_file", out]
    proc = subprocess.Popen(cmd, env=pgtest.ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv = os.path.join(d, "int.csv")
    t0 = time.time()
    while time.time() - t0 < 60:
        if os.path.exists(csv) and sum(1 for _ in open(csv)) >= 2:  # header + 1 run
            break
        time.sleep(0.02)
    # the ranks get the signal, as from Slurm's scancel --signal or its time-limit warning
    kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert kids, "no ranks found"
    for pid in kids:
        os.kill(int(pid), signal.SIGTERM)
    so, se = proc.communicate(timeout=120)
    assert proc.returncode == 3, f"exit {proc.returncode}\n{so[-1500:]}\n{se[-1500:]}"
    assert os.path.exists(out + ".part") and not os.path.exists(out)
    ndone = len(pgtest.rows(out))
    assert 1 <= ndone < 12, f"{ndone} runs after the signal"
    p = pgtest.run(2, args + ["-output_file", out])
    assert f"{ndone} already in" in p.stdout, p.stdout[:500]
    a, b = pgtest.rows(ref), pgtest.rows(out)
    assert [x["run"] for x in b] == list(range(12)), [x["run"] for x in b]
    for x, y in zip(a, b):
        for col in ("seed", "eps_1", "eps_2", "eps_3", "lambda_z"):
            assert x[col] == y[col], f"run {x['run']} {col}: {x[col]} vs {y[col]}"
    with h5py.File(out, "r") as f:
        assert len(f["runs"]) == 12
    # a finished sweep reruns as a no-op
    p = pgtest.run(1, args + ["-output_file", out])
    assert "12 already in" in p.stdout


def test_image_input_and_errors():
    """A label image in the deck is measured instead of simulated (voxel size from the file), and
    each malformed image is a one-line error."""
    d = pgtest.workdir("image")
    img = os.path.join(d, "img.h5")
    rng = np.random.default_rng(3)
    lab = rng.choice([1, 2, 3], size=(9, 11, 13), p=[0.5, 0.3, 0.2]).astype(np.uint8)
    with h5py.File(img, "w") as f:
        ds = f.create_dataset("seg/labels", data=lab)
        ds.attrs["voxel_size_um"] = [0.02, 0.02, 0.03]
        f.create_dataset("float", data=lab.astype(np.float32))
        f.create_dataset("flat", data=lab[0])
        bad = lab.copy()
        bad[4, 5, 6] = 7
        f.create_dataset("bad", data=bad).attrs["voxel_size_um"] = 0.02
        f.create_dataset("novox", data=lab)
    out = os.path.join(d, "m.h5")
    pgtest.run(3, ["-input_image", img + ":/seg/labels", "-output_file", out])
    r = pgtest.rows(out)[0]
    for i in (1, 2, 3):
        assert abs(r[f"eps_{i}"] - (lab == i).mean()) < 1e-9
    cases = [(img + ":/nothing", "no dataset"), (img + ":/float", "uint8"), (img + ":/flat", "3"), (img + ":/bad", "(x,y,z) = (6,5,4)"),
             (img + ":/novox", "voxel_size_um"), (os.path.join(d, "nofile.h5") + ":/x", "does not exist"), (out[:-3] + ".csv:/x", "not an HDF5 file"),
             ("noseparator", "FILE.h5:/path")]
    problems = []
    for spec, text in cases:
        p = pgtest.run(2, ["-input_image", spec, "-output_file", os.path.join(d, "e.h5")], check=False)
        err = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
        if p.returncode == 0 or len(err) != 1 or text not in err[0]:
            problems.append(f"{spec}: exit {p.returncode}, {err or p.stderr[:300]}")
    assert not os.path.exists(os.path.join(d, "e.h5")) and not os.path.exists(os.path.join(d, "e.h5.part"))
    assert not problems, "\n".join(problems)
