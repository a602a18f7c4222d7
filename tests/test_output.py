"""Output contract: HDF5 read back by h5py and h5dump, XDMF side-car, CSV; interruption by a signal
(SIGTERM to the ranks, SIGUSR1 through mpirun, SIGKILL) and resumption; measuring an image given in
the deck."""
import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import h5py
import numpy as np

import pgtest


def text(a):
    return a.decode() if isinstance(a, bytes) else str(a)


def test_hdf5_xdmf_csv_contract():
    d = pgtest.workdir("output")
    out = os.path.join(d, "o.h5")
    pgtest.run(3, [pgtest.TINY, "-domain_shape", "20,24,28", "-domain_voxel_size_um", "0.01,0.012,0.014", "-sweep_carbon_fraction", "0.25,0.3",
                   "-sweep_realizations", 2, "-output_file", out, "-output_compress", 4, "-output_write_fields", "true", "-output_precision", "single"] + pgtest.TRANSPORT_OFF)
    assert not os.path.exists(out + ".part"), ".part left behind after a complete sweep"
    r = pgtest.rows(out)
    assert [x["run"] for x in r] == [0, 1, 2, 3], [x["run"] for x in r]
    for col in ("eps2_target", "realization", "seed", "lambda_x", "lambda_z", "eps2_model", "eps_1", "eps_2", "eps_3"):
        assert col in r[0], f"CSV lacks {col}"
    with h5py.File(out, "r") as f:
        for a in ("deck", "resolved", "signature", "version", "nranks"):
            assert a in f.attrs, f"root attribute {a} missing"
        deck = text(f.attrs["deck"])
        with open(pgtest.TINY) as t:
            assert deck == t.read(), "root attribute deck is not the deck text"
        assert "domain.shape = 20,24,28" in text(f.attrs["resolved"]), "resolved keys do not show the command-line override"
        assert text(f.attrs["version"]).strip(), "empty version"
        assert float(f.attrs["nranks"]) == 3
        for a in ("alpha_x_per_um", "alpha_y_per_um", "m", "lambda_x"):
            assert a in f["model"].attrs, f"/model attribute {a} missing"
        assert float(f["model"].attrs["alpha_x_per_um"]) == 16.6 and float(f["model"].attrs["m"]) == 0.15
        assert text(f["model"].attrs["origin"]) == "lambda_x: deck, lambda_z: deck, alpha_x: deck, alpha_y: deck, m: deck"
        assert len(f["runs"]) == 4, list(f["runs"])
        for k, row in enumerate(r):
            g = f[f"runs/{k:04d}"]
            for a in ("eps2_target", "realization", "seed", "lambda_z", "complete"):
                assert a in g.attrs, f"run {k} attribute {a} missing"
            assert int(g.attrs["seed"]) == int(row["seed"]), "seed in HDF5 and CSV differ"
            assert float(g.attrs["eps2_target"]) == row["eps2_target"] and int(g.attrs["realization"]) == row["realization"]
            assert abs(float(g.attrs["lambda_z"]) - row["lambda_z"]) < 1e-9, (float(g.attrs["lambda_z"]), row["lambda_z"])  # CSV: 10 digits
            assert int(g.attrs["complete"]) == 1
            P = g["phase"]
            assert P.shape == (28, 24, 20) and P.dtype == np.uint8, (P.shape, P.dtype)
            assert np.allclose(P.attrs["voxel_size_um"], [0.01, 0.012, 0.014]), P.attrs["voxel_size_um"]
            v = P[...]
            assert np.isin(v, [1, 2, 3]).all(), f"labels outside {{1,2,3}}: {np.unique(v)}"
            for i in (1, 2, 3):
                assert row[f"eps_{i}"] == float(f"{(v == i).mean():.10g}"), f"eps_{i} in CSV is not the voxel count"  # CSV: 10 digits
            for name in ("X", "Y"):
                F = g[name]
                assert F.shape == (28, 24, 20) and F.dtype == np.float32, (name, F.shape, F.dtype)
                assert np.allclose(F.attrs["voxel_size_um"], [0.01, 0.012, 0.014])
            # the labels are the thresholded fields (eq. 6, Z = sqrt(m) X + sqrt(1 - m) Y)
            X, Y = g["X"][...].astype(np.float64), g["Y"][...].astype(np.float64)
            lx, lz, m = row["lambda_x"], row["lambda_z"], 0.15
            Zf = np.sqrt(m) * X + np.sqrt(1 - m) * Y
            expect = np.where(X >= lx, 1, np.where(Zf >= lz, 2, 3))
            near = (np.abs(X - lx) < 1e-5) | (np.abs(Zf - lz) < 1e-5)  # float rounding at the thresholds
            nbad = int(((expect != v) & ~near).sum())
            assert nbad == 0, f"run {k}: {nbad} labels are not the thresholds of the stored X, Y"
            assert "descriptors" in g
    p = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    assert p.returncode == 0, f"h5dump -H: {p.returncode} {p.stderr[:500]}"
    for needle in ('DATASET "phase"', "H5T_STD_U8LE", "DATASPACE  SIMPLE { ( 28, 24, 20 ) / ( 28, 24, 20 ) }", 'DATASET "X"', "H5T_IEEE_F32LE",
                   'ATTRIBUTE "voxel_size_um"', 'ATTRIBUTE "deck"', 'ATTRIBUTE "signature"', 'ATTRIBUTE "version"', 'GROUP "model"', 'ATTRIBUTE "complete"'):
        assert needle in p.stdout, f"h5dump -H output lacks {needle}"
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
        assert fname == "o.h5" and item.get("Dimensions") == "28 24 20", (fname, item.get("Dimensions"))
        assert re.fullmatch(r"/runs/\d{4}/phase", path), path
        with h5py.File(os.path.join(d, fname), "r") as f:
            assert path in f, f"XDMF points at missing {path}"
            assert list(f[path].shape) == [int(n) for n in item.get("Dimensions").split()]
        spacing = g.findall("Geometry/DataItem")[1].text.split()
        assert np.allclose([float(s) for s in spacing], [0.014, 0.012, 0.01]), spacing


def phases(path, n):
    with h5py.File(path, "r") as f:
        return [f[f"runs/{k:04d}/phase"][...] for k in range(n)]


def compare_to_reference(ref, out, n):
    """Every run present exactly once, complete, and equal to the uninterrupted reference."""
    bad = []
    a, b = pgtest.rows(ref), pgtest.rows(out)
    if [x["run"] for x in b] != list(range(n)):
        bad.append(f"CSV runs {[x['run'] for x in b]}, expected 0..{n - 1} once each")
    for x, y in zip(a, b):
        for col in ("seed", "realization", "eps2_target", "lambda_z", "eps_1", "eps_2", "eps_3"):
            if x[col] != y[col]:
                bad.append(f"run {x['run']} {col}: uninterrupted {x[col]} vs resumed {y[col]}")
    with h5py.File(out, "r") as f:
        if sorted(f["runs"]) != [f"{k:04d}" for k in range(n)]:
            bad.append(f"HDF5 runs {sorted(f['runs'])}")
        for k in range(n):
            if int(f[f"runs/{k:04d}"].attrs.get("complete", 0)) != 1:
                bad.append(f"run {k} not marked complete")
    for k, (p, q) in enumerate(zip(phases(ref, n), phases(out, n))):
        if not np.array_equal(p, q):
            bad.append(f"run {k}: phase differs from the uninterrupted run in {int((p != q).sum())} voxels")
    x = ET.parse(os.path.splitext(out)[0] + ".xdmf").getroot()
    if len(x.findall(".//Grid[@GridType='Uniform']")) != n:
        bad.append("XDMF does not list every run")
    return bad


# a sweep of 6 runs long enough to be interrupted: ~0.3 s per run with the descriptors on 2 cores
RESUME_ARGS = [pgtest.TINY, "-domain_shape", "128,128,128", "-sweep_carbon_fraction", "0.2,0.3,0.35", "-sweep_realizations", 2,
               "-output_write_fields", "false", "-output_precision", "single", "-fft_planner", "estimate"] + pgtest.TRANSPORT_OFF
NRUNS = 6
_ref = {}


def reference():
    """The uninterrupted sweep, run once per suite process."""
    if "path" not in _ref:
        d = pgtest.workdir("resume_ref")
        _ref["path"] = os.path.join(d, "ref.h5")
        pgtest.run(2, RESUME_ARGS + ["-output_file", _ref["path"]])
    return _ref["path"]


def csv_rows(csv):
    try:
        with open(csv) as f:
            return max(0, sum(1 for _ in f) - 1)
    except FileNotFoundError:
        return 0


def start(out):
    return subprocess.Popen(pgtest.mpirun_cmd(2, RESUME_ARGS + ["-output_file", out]), env=pgtest.mpi_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, proc, timeout=60):
    """Polls cond until it holds; fails with the job's output if the job ends or times out first."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        if proc.poll() is not None:
            so, se = proc.communicate()
            raise AssertionError(f"the job ended (exit {proc.returncode}) before the expected progress\n{so[-1500:]}\n{se[-1500:]}")
        time.sleep(0.01)
    proc.kill()
    so, se = proc.communicate()
    raise AssertionError(f"no progress within {timeout} s\n{so[-1500:]}\n{se[-1500:]}")


def signal_ranks(proc, sig):
    """Signals the ranks (the children of mpirun), as Slurm's scancel --signal does."""
    kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert kids, "no ranks found under mpirun"
    for pid in kids:
        try:
            os.kill(int(pid), sig)
        except ProcessLookupError:
            pass


def test_resume_finished_sweep():
    """A finished 4-run sweep rerun with the same deck is a no-op: exit 0, '4 already in', the same
    CSV and the same labels, no .part left."""
    d = pgtest.workdir("resume_small")
    out = os.path.join(d, "s.h5")
    args = [pgtest.TINY, "-sweep_carbon_fraction", "0.2,0.3", "-sweep_realizations", 2, "-output_file", out, "-output_write_fields", "false"] + pgtest.NOMEASURE
    pgtest.run(2, args)
    csv = os.path.splitext(out)[0] + ".csv"
    with open(csv) as f:
        before_csv = f.read()
    before = phases(out, 4)
    p = pgtest.run(1, args)
    assert "4 already in" in p.stdout, p.stdout[:600]
    assert "run    1/4" not in p.stdout, "a complete run was simulated again"
    with open(csv) as f:
        assert f.read() == before_csv, "the CSV changed on a no-op rerun"
    assert all(np.array_equal(a, b) for a, b in zip(before, phases(out, 4))), "labels changed on a no-op rerun"
    assert os.path.exists(out) and not os.path.exists(out + ".part")


def test_interrupt_and_resume():
    """SIGTERM to the ranks during a 6-run sweep: exit status 3 after the run being written, the
    .part keeps the complete runs (and only those, in the CSV too). The rerun resumes; SIGUSR1 sent
    to mpirun (which forwards it) interrupts it again with status 3; a third run completes the sweep:
    every run exactly once, equal (CSV and labels) to an uninterrupted run of the same deck."""
    ref = reference()
    d = pgtest.workdir("resume")
    out = os.path.join(d, "int.h5")
    csv = os.path.join(d, "int.csv")
    proc = start(out)
    wait_for(lambda: csv_rows(csv) >= 1, proc)
    signal_ranks(proc, signal.SIGTERM)
    so, se = proc.communicate(timeout=120)
    assert proc.returncode == 3, f"SIGTERM: exit {proc.returncode}, expected 3\n{so[-1500:]}\n{se[-1500:]}"
    assert os.path.exists(out + ".part") and not os.path.exists(out), "after the signal: .part must exist and the final file not"
    n1 = csv_rows(csv)
    assert 1 <= n1 < NRUNS, f"{n1} runs after the signal"
    with h5py.File(out + ".part", "r") as f:
        complete = sorted(k for k in f["runs"] if int(f["runs"][k].attrs.get("complete", 0)) == 1)
    assert len(complete) == n1, f"the .part holds {len(complete)} complete runs, the CSV {n1}"
    # second session, interrupted through mpirun with SIGUSR1 (Slurm --signal=USR1@...)
    proc = start(out)
    wait_for(lambda: csv_rows(csv) >= n1 + 1, proc)
    proc.send_signal(signal.SIGUSR1)
    so, se = proc.communicate(timeout=120)
    assert f"{n1} already in" in so, f"the second session did not resume at {n1} runs: {so[:600]}"
    n2 = csv_rows(csv)
    if n2 < NRUNS:  # it might finish the sweep before the signal arrives on a fast machine
        assert proc.returncode == 3, f"SIGUSR1 via mpirun: exit {proc.returncode}, expected 3\n{so[-1500:]}\n{se[-1500:]}"
        assert os.path.exists(out + ".part") and not os.path.exists(out)
    p = pgtest.run(2, RESUME_ARGS + ["-output_file", out])
    assert f"{n2} already in" in p.stdout, p.stdout[:600]
    assert os.path.exists(out) and not os.path.exists(out + ".part"), "the completed sweep was not renamed from .part"
    bad = compare_to_reference(ref, out, NRUNS)
    assert not bad, "\n".join(bad)


def kill9(out, csv, cond, delay=0.0):
    """Starts the sweep on out, waits for cond, sleeps delay, SIGKILLs the ranks; returns stdout."""
    proc = start(out)
    wait_for(cond, proc)
    time.sleep(delay)
    signal_ranks(proc, signal.SIGKILL)
    so, se = proc.communicate(timeout=60)
    return so


def test_kill9_mid_sweep_and_resume():
    """SIGKILL (a node failure, the OOM killer, or Slurm past its grace time) at several moments
    inside later runs (0, 0.1 and 0.2 s after a run completed: generation, descriptors or writing
    of the next). Each rerun opens the .part and resumes at least at the runs listed in the CSV
    (a run is complete in the HDF5 before it is listed); half-written runs are discarded; the final
    sweep equals the uninterrupted one."""
    ref = reference()
    d = pgtest.workdir("kill9")
    out = os.path.join(d, "k.h5")
    csv = os.path.join(d, "k.csv")
    log = []
    for delay in (0.0, 0.1, 0.2):
        n0 = csv_rows(csv)
        if n0 >= NRUNS - 1:
            break
        so = kill9(out, csv, lambda: csv_rows(csv) > n0, delay)
        if n0:
            m = re.search(r"(\d+) already in", so)
            assert m and int(m.group(1)) >= n0, f"the rerun after SIGKILL did not resume at >= {n0} runs: {so[:600]}"
        log.append(f"killed {delay} s after run {n0 + 1}: {csv_rows(csv)} runs in the CSV")
    p = pgtest.run(2, RESUME_ARGS + ["-output_file", out])
    bad = compare_to_reference(ref, out, NRUNS)
    assert not bad, "; ".join(log) + "\n" + "\n".join(bad)


def test_kill9_during_first_run_and_resume():
    """SIGKILL while the first run is being computed (the .part exists, no run is complete yet):
    rerunning the same command must start the sweep (nothing of value was lost) and finish it equal
    to the uninterrupted run (README "Resuming": rerunning a deck whose .part exists skips the runs
    already complete; here there are none)."""
    ref = reference()
    d = pgtest.workdir("kill9_first")
    out = os.path.join(d, "k.h5")
    csv = os.path.join(d, "k.csv")
    kill9(out, csv, lambda: os.path.exists(out + ".part"), 0.05)
    assert csv_rows(csv) == 0, "the kill came too late for this test (a run completed)"
    size = os.path.getsize(out + ".part") if os.path.exists(out + ".part") else None
    p = pgtest.run(2, RESUME_ARGS + ["-output_file", out], check=False)
    assert p.returncode == 0, f"rerun after a SIGKILL during the first run (left {out}.part of {size} bytes): exit {p.returncode}\n" + \
        "\n".join(l for l in p.stderr.splitlines() if l.startswith("plurigauss"))
    bad = compare_to_reference(ref, out, NRUNS)
    # the same, deterministically: a .part that is no HDF5 file (killed before its header reached
    # the disk) does not block the rerun, and its bytes are not silently destroyed
    d2 = pgtest.workdir("kill9_first_garbage")
    out2 = os.path.join(d2, "g.h5")
    garbage = b"\0" * 100 + b"not hdf5"
    with open(out2 + ".part", "wb") as f:
        f.write(garbage)
    p = pgtest.run(2, RESUME_ARGS + ["-output_file", out2], check=False)
    if p.returncode != 0:
        bad.append(f"rerun with an unreadable .part: exit {p.returncode}: " + " ".join(l for l in p.stderr.splitlines() if l.startswith("plurigauss")))
    else:
        bad += compare_to_reference(ref, out2, NRUNS)
        kept = [f for f in os.listdir(d2) if open(os.path.join(d2, f), "rb").read() == garbage]
        if not kept:
            bad.append("the unreadable .part was deleted instead of set aside")
    assert not bad, "\n".join(bad)


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
    def case(ic):  # the cases run side by side (an error exit is mostly MPI start-up), each its own output
        i, (spec, text) = ic
        p = pgtest.run(2, ["-input_image", spec, "-output_file", os.path.join(d, f"e_{i}.h5")], check=False)
        err = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
        if p.returncode == 0 or len(err) != 1 or text not in err[0]:
            return [f"{spec}: exit {p.returncode}, {err or p.stderr[:300]}"]
        return []

    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        problems = [x for r in ex.map(case, enumerate(cases)) for x in r]
    left = [f for f in os.listdir(d) if f.startswith("e_")]
    assert not left, f"output written despite the error: {left}"
    assert not problems, "\n".join(problems)
