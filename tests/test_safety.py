"""No silent data loss under misuse: one writer per output (the lock beside the output,
its content fallback, a kill -9'd holder, two Slurm array tasks on one file), the memory estimate
before any file exists, and the Fletcher32 checksums of every volume checked on resume.

Runs standalone: /usr/bin/python3 tests/test_safety.py (prints PASS/FAIL and `N passed, N failed`)."""
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np

import pgtest
import test_output as tout

RESUME_ARGS, NRUNS = tout.RESUME_ARGS, tout.NRUNS


def errors(stderr):
    return [l for l in stderr.splitlines() if l.startswith("plurigauss: error")]


def start(args, np_=2, env=None):
    return subprocess.Popen(pgtest.mpirun_cmd(np_, args), env=env or pgtest.mpi_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300):
    so, se = proc.communicate(timeout=timeout)
    pgtest.sanitizer_check(proc.args, se)
    return proc.returncode, so, se


def read_everything(path):
    """Every dataset and attribute of an HDF5 file read in full by h5py; returns the problems."""
    bad = []

    def visit(name, obj):
        try:
            for a in obj.attrs:
                obj.attrs[a]
            if isinstance(obj, h5py.Dataset):
                obj[...]
        except Exception as e:  # noqa: BLE001 - any failure to read is what we look for
            bad.append(f"{path}:/{name}: {e}")
    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as e:  # noqa: BLE001
        bad.append(f"{path}: {e}")
    return bad


def lock_refusal(stderr):
    """The one error line of a run refused by the lock, with the holder's host, pid, start time."""
    e = errors(stderr)
    assert len(e) == 1, f"expected exactly one error line, got {len(e)}:\n{stderr[-1500:]}"
    m = re.search(r"is being written by another run \(host (\S+), pid (\d+)(?:, Slurm job (\S+))?, started ([^;]+);", e[0])
    assert m, f"the refusal does not name the holder (host, pid, start time): {e[0]}"
    return e[0], m


def two_runs(d, args_a, args_b, delay=0.5, env_a=None, env_b=None):
    """Starts A, then B delay seconds later; returns ((rc, out, err) of A, of B)."""
    a = start(args_a, env=env_a)
    time.sleep(delay)
    b = start(args_b, env=env_b)
    return finish(a), finish(b)


def test_two_runs_same_deck_half_a_second_apart():
    """The common mistake: the same deck started twice 0.5 s apart on one output. Exactly one run
    writes; the other refuses in one line naming the holder (host, pid, start time) and exits 1;
    the finished file is complete, every object readable by h5py, equal to an uninterrupted run;
    no lock file and no stray file remain."""
    ref = tout.reference()
    d = pgtest.workdir("lock_same")
    out = os.path.join(d, "o.h5")
    ra, rb = two_runs(d, RESUME_ARGS + ["-output_file", out], RESUME_ARGS + ["-output_file", out])
    rcs = sorted([ra[0], rb[0]])
    assert rcs == [0, 1], f"exit statuses {ra[0]}, {rb[0]}: expected one 0 and one 1\nA: {ra[2][-800:]}\nB: {rb[2][-800:]}"
    winner, loser = (ra, rb) if ra[0] == 0 else (rb, ra)
    line, m = lock_refusal(loser[2])
    assert m.group(1) == os.uname().nodename, line
    assert "run    1/" not in loser[1], "the refused run computed a run"
    bad = read_everything(out) + tout.compare_to_reference(ref, out, NRUNS)
    assert not bad, "\n".join(bad)
    left = sorted(os.listdir(d))
    assert left == sorted(["o.csv", "o.h5", "o.xdmf"] + [f"o_cov_{k:04d}.csv" for k in range(NRUNS)]), f"files left: {left}"


def test_two_decks_one_output():
    """Two different decks (other seed) on one output, 0.5 s apart: the second refuses by the lock
    (not later, by the first's deck signature) and the first's file is intact; once the first has
    finished, the second is refused by the signature and the file stays byte for byte."""
    ref = tout.reference()
    d = pgtest.workdir("lock_decks")
    out = os.path.join(d, "o.h5")
    other = RESUME_ARGS + ["-output_file", out, "-random_seed", 99]
    ra, rb = two_runs(d, RESUME_ARGS + ["-output_file", out], other)
    assert ra[0] == 0, f"the first run failed: {ra[2][-1500:]}"
    assert rb[0] == 1, f"the second deck: exit {rb[0]}\n{rb[1][-800:]}{rb[2][-800:]}"
    lock_refusal(rb[2])
    bad = read_everything(out) + tout.compare_to_reference(ref, out, NRUNS)
    assert not bad, "\n".join(bad)
    before = {f: pgtest.fingerprint(os.path.join(d, f)) for f in os.listdir(d)}
    p = pgtest.run(2, other, check=False)
    assert p.returncode == 1 and len(errors(p.stderr)) == 1 and "different deck" in errors(p.stderr)[0], p.stderr[-800:]
    assert before == {f: pgtest.fingerprint(os.path.join(d, f)) for f in os.listdir(d)}, "the refused deck changed a file"


def kill9_then_resume(mode):
    ref = tout.reference()
    d = pgtest.workdir(f"lock_kill9_{mode}")
    out = os.path.join(d, "k.h5")
    csv = os.path.join(d, "k.csv")
    args = RESUME_ARGS + ["-output_file", out, "-output_lock", mode]
    proc = start(args)
    tout.wait_for(lambda: tout.csv_rows(csv) >= 1, proc)
    with open(out + ".lock") as f:
        held = f.read()
    tout.signal_ranks(proc, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert os.path.exists(out + ".lock"), "the killed run's lock file is gone (the test needs a stale one)"
    pid = re.search(r"pid=(\d+)", held).group(1)
    p = pgtest.run(2, args, check=False)
    assert p.returncode == 0, f"[{mode}] the rerun after kill -9 was blocked: exit {p.returncode}\n{p.stderr[-1500:]}"
    assert f"pid {pid}" in p.stdout and "ended without releasing" in p.stdout, f"[{mode}] the rerun does not say whose lock it took over: {p.stdout[:800]}"
    bad = read_everything(out) + tout.compare_to_reference(ref, out, NRUNS)
    assert not bad, f"[{mode}] " + "\n".join(bad)
    assert not os.path.exists(out + ".lock"), f"[{mode}] lock file left after a complete run"


def test_kill9_stale_lock_does_not_block_resume():
    """A run killed with SIGKILL leaves its lock file behind; the rerun takes it over (kernel lock:
    released by the kernel; output.lock = content: the holder's pid is dead on this host), says
    whose it was, resumes and finishes equal to an uninterrupted run."""
    for mode in ("auto", "content"):
        kill9_then_resume(mode)


def test_slurm_array_tasks_on_one_output():
    """Two array tasks given the same output file (a user's mistake; jobs/sweep.sbatch gives each
    its own), started at the same moment as two mpirun processes with SLURM_ARRAY_TASK_ID and
    SLURM_ARRAY_JOB_ID set: exactly one writes; the other refuses in one line (by the lock, naming
    the holder's array task, or, if the first finished before it started, by the deck signature);
    the file holds the winner's point complete, equal to that task run alone."""
    d = pgtest.workdir("lock_array")
    out = os.path.join(d, "sweep.h5")
    fr = ["0.25", "0.35"]
    base = [pgtest.TINY, "-domain_shape", "96,96,96", "-sweep_realizations", 4, "-output_write_fields", "false", "-fft_planner", "estimate"] + pgtest.TRANSPORT_OFF
    task = lambda i, o: base + ["-sweep_carbon_fraction", fr[i], "-sweep_first_point", i, "-output_file", o]
    env = lambda i: pgtest.mpi_env(dict(SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(i), SLURM_JOB_ID=str(4243 + i)))
    ra, rb = two_runs(d, task(0, out), task(1, out), delay=0.0, env_a=env(0), env_b=env(1))
    assert sorted([ra[0], rb[0]]) == [0, 1], f"exit statuses {ra[0]}, {rb[0]}\nA: {ra[2][-800:]}\nB: {rb[2][-800:]}"
    win = 0 if ra[0] == 0 else 1
    loser = rb if win == 0 else ra
    e = errors(loser[2])
    assert len(e) == 1, loser[2][-1500:]
    if "different deck" not in e[0]:
        line, m = lock_refusal(loser[2])
        assert m.group(3) == f"4242_{win}", f"the refusal does not name the holder's array task 4242_{win}: {line}"
    solo = os.path.join(d, "solo.h5")
    pgtest.run(2, task(win, solo))
    bad = read_everything(out)
    with h5py.File(out, "r") as f, h5py.File(solo, "r") as g:
        if f.attrs["signature"] != g.attrs["signature"]:
            bad.append("the file's deck is not the winner's")
        for k in range(4):
            if not np.array_equal(f[f"runs/{k:04d}/phase"][...], g[f"runs/{k:04d}/phase"][...]):
                bad.append(f"run {k} differs from task {win} run alone")
    assert not bad, "\n".join(bad)
    assert not os.path.exists(out + ".lock")


def test_content_fallback_detects_a_second_writer():
    """output.lock = content (file systems without working locks): a run on another host that
    rewrote the lock file (simulated: the file's content replaced while the first run writes) is
    detected before the next run's write: the first stops with one error line naming the new
    holder, without renaming, its complete runs readable in the .part. A rerun refuses while the
    foreign holder's lock file is there (it cannot know whether a job on another host still runs)
    and says to remove it; once removed, the rerun completes the sweep equal to an uninterrupted one."""
    ref = tout.reference()
    d = pgtest.workdir("lock_content")
    out = os.path.join(d, "c.h5")
    csv = os.path.join(d, "c.csv")
    args = RESUME_ARGS + ["-output_file", out, "-output_lock", "content"]
    foreign = "plurigauss output lock\nhost=othernode-17\npid=4321\nstart=2020-01-01 00:00:00 UTC\nstart_ticks=1\ntoken=feedfacefeedfacefeedfacefeedface\nmode=content\nslurm_job=\n"
    proc = start(args)
    tout.wait_for(lambda: tout.csv_rows(csv) >= 1, proc)
    with open(out + ".lock", "w") as f:
        f.write(foreign)
    rc, so, se = finish(proc)
    e = errors(se)
    assert rc == 1 and len(e) == 1 and "othernode-17" in e[0] and "took over" in e[0], f"exit {rc}: {se[-1500:]}"
    assert not os.path.exists(out) and os.path.exists(out + ".part"), "the first run renamed its file after losing the lock"
    assert not read_everything(out + ".part")
    with open(out + ".lock") as f:
        assert f.read() == foreign, "the run that lost the lock changed or removed the new holder's lock file"
    p = pgtest.run(2, args, check=False)
    e = errors(p.stderr)
    assert p.returncode == 1 and len(e) == 1 and "host othernode-17, pid 4321" in e[0] and "remove the lock file" in e[0], p.stderr[-1500:]
    os.unlink(out + ".lock")
    pgtest.run(2, args)
    bad = read_everything(out) + tout.compare_to_reference(ref, out, NRUNS)
    assert not bad, "\n".join(bad)


def test_lock_gone_after_errors():
    """An input error met after the lock was taken (an output of another deck) leaves no lock file
    and touches nothing; -help and deck errors never create one."""
    d = pgtest.workdir("lock_errors")
    out = os.path.join(d, "o.h5")
    small = [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1, "-output_file", out] + pgtest.NOMEASURE
    pgtest.run(1, small, singleton=True)
    before = {f: pgtest.fingerprint(os.path.join(d, f)) for f in os.listdir(d)}
    p = pgtest.run(1, small + ["-random_seed", 3], check=False, singleton=True)
    assert p.returncode == 1 and len(errors(p.stderr)) == 1, p.stderr
    p = pgtest.run(1, small + ["-model_m", 3], check=False, singleton=True)
    assert p.returncode == 1 and len(errors(p.stderr)) == 1, p.stderr
    after = {f: pgtest.fingerprint(os.path.join(d, f)) for f in os.listdir(d)}
    assert before == after, f"files changed: {sorted(set(before) ^ set(after))}"


# ------------------------------------------------------------------------------------------------
# Memory before files
# ------------------------------------------------------------------------------------------------

def memory_refusal(p, source=None):
    e = errors(p.stderr)
    assert p.returncode == 1 and len(e) == 1, f"exit {p.returncode}, {len(e)} error lines:\n{p.stderr[-1500:]}"
    m = re.search(r"not enough memory: stage (\w+) needs about .* \((\d+) bytes\) per rank, .* \((\d+) bytes\) are available per rank \(([^)]*)\)", e[0])
    assert m, f"the refusal does not name the stage, the bytes needed and available: {e[0]}"
    assert int(m.group(2)) > int(m.group(3)), e[0]
    if source:
        assert source in m.group(4), f"the available memory should come from {source}: {e[0]}"
    return m


def test_oversize_deck_refused_before_any_file():
    """A 5000^3 deck (1 and 2 ranks) and an oversize input image (a sparse 4000^3 dataset) are
    refused in one line naming the stage, the bytes needed and available, before any file exists:
    no .part, no lock file, no CSV; an existing output is left byte for byte."""
    d = pgtest.workdir("memory_oversize")
    out = os.path.join(d, "o.h5")
    big = [pgtest.TINY, "-domain_shape", "5000,5000,5000", "-output_file", out]
    m = memory_refusal(pgtest.run(1, big, check=False, singleton=True))
    assert int(m.group(2)) > 5000 ** 3 * 9, f"5000^3 needs more than 9 bytes per voxel on one rank: {m.group(0)}"
    memory_refusal(pgtest.run(2, big, check=False))
    assert os.listdir(d) == [], f"files created: {os.listdir(d)}"
    img = os.path.join(d, "huge.h5")
    with h5py.File(img, "w") as f:
        ds = f.create_dataset("phase", shape=(4000, 4000, 4000), dtype=np.uint8, chunks=(1, 64, 64))
        ds.attrs["voxel_size_um"] = [0.01, 0.01, 0.01]
    memory_refusal(pgtest.run(1, ["-input_image", img + ":/phase", "-output_file", out], check=False, singleton=True))
    assert sorted(os.listdir(d)) == ["huge.h5"], f"files created: {os.listdir(d)}"
    small = [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1, "-output_file", out] + pgtest.NOMEASURE
    pgtest.run(1, small, singleton=True)
    before = {f: pgtest.fingerprint(os.path.join(d, f)) for f in os.listdir(d)}
    memory_refusal(pgtest.run(1, small[:1] + ["-domain_shape", "5000,5000,5000"] + small[3:], check=False, singleton=True))
    assert before == {f: pgtest.fingerprint(os.path.join(d, f)) for f in os.listdir(d)}, "the refused deck touched the existing output"


def test_memory_available_from_slurm_and_the_override():
    """The memory per rank comes from Slurm's allocation when it is set: SLURM_MEM_PER_CPU (times
    SLURM_CPUS_PER_TASK) and SLURM_MEM_PER_NODE (shared by the ranks on the node). A 128^3 run
    (about 75 MiB per rank) is refused under 60 MB per CPU, runs with 2 CPUs per task, and runs
    under 60 MB with run.memory_check = false (a warning, exit 0, the output complete)."""
    d = pgtest.workdir("memory_slurm")
    out = os.path.join(d, "o.h5")
    args = [pgtest.TINY, "-domain_shape", "128,128,128", "-sweep_realizations", 1, "-output_file", out, "-output_write_fields", "false", "-output_precision", "single"] + pgtest.NOMEASURE
    memory_refusal(pgtest.run(1, args, check=False, singleton=True, env={"SLURM_MEM_PER_CPU": "60"}), "SLURM_MEM_PER_CPU = 60 MB x 1 CPUs per task")
    assert os.listdir(d) == []
    memory_refusal(pgtest.run(2, args, check=False, env={"SLURM_MEM_PER_NODE": "100"}), "SLURM_MEM_PER_NODE = 100 MB / 2 ranks on the node")
    assert os.listdir(d) == []
    p = pgtest.run(1, args, singleton=True, env={"SLURM_MEM_PER_CPU": "60", "SLURM_CPUS_PER_TASK": "2"})
    assert re.search(r"memory per rank: peak \S+ MiB \(\w+\) of 120 MiB available \(SLURM_MEM_PER_CPU", p.stdout), p.stdout[:800]
    os.unlink(out)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    p = pgtest.run(1, args + ["-run_memory_check", "false"], singleton=True, env={"SLURM_MEM_PER_CPU": "60"})
    assert re.search(r"warning: stage \w+ needs about .* more than the 60 MiB available", p.stdout), p.stdout[:800]
    assert [r["run"] for r in pgtest.rows(out)] == [0]


def measured_peak(np_, args):
    """(the program's estimate of its peak, the measured largest VmHWM of the ranks), bytes."""
    hwm_file = os.path.join(pgtest.WORK, f"hwm-{os.getpid()}.txt")
    if os.path.exists(hwm_file):
        os.remove(hwm_file)
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(np_), "/usr/bin/time", "-a", "-o", hwm_file, "-f", "pg_hwm_kb %M", pgtest.BIN] + [str(a) for a in args] + ["-run_memory_report", "true"]
    p = subprocess.run(cmd, env=pgtest.mpi_env(), capture_output=True, text=True, timeout=600)
    pgtest.sanitizer_check(cmd, p.stderr)
    assert p.returncode == 0, p.stderr[-1500:]
    est = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\w+)\s+(\d+) bytes", p.stdout, re.M)}
    kb = re.findall(r"pg_hwm_kb (\d+)", open(hwm_file).read())
    assert len(kb) == np_, f"{len(kb)} peaks for {np_} ranks"
    hwm = max(int(k) for k in kb) * 1024
    return max(v for k, v in est.items() if k != "available"), hwm, est


def test_estimate_bounds_the_measured_peak():
    """The estimate against the measured peak resident memory of the largest rank (VmHWM), at 1
    and 3 ranks (uneven slabs), for generation (double, two buffers), for the openings/MIP (the
    largest measure stage) and for writing the double fields (HDF5's filters hold a few chunks at
    once: with chunks as deep as the 47-plane slabs an estimate that did not count them was 23 %
    below the peak at 3 ranks): never more than 3 % below, at most 40 % above (at these sizes the
    libraries' 48 MiB dominate; benchmarks/bench_memory.py covers every stage at larger sizes)."""
    if pgtest.SAN:
        return  # the sanitizers' shadow memory is not the program's
    d = pgtest.workdir("memory_measured")
    bad = []
    for np_ in (1, 3):
        for name, extra in (("generate", ["-output_precision", "double"] + pgtest.NOMEASURE), ("opening", pgtest.NOMEASURE[:6] + ["-measure_psd", "true", "-measure_psd2d", "true", "-measure_mip", "true"] + pgtest.NOMEASURE[10:]),
                            ("write", ["-output_precision", "double"] + pgtest.NOMEASURE + ["-output_write_phase", "true", "-output_write_fields", "true"])):
            args = [pgtest.TINY, "-domain_shape", "160,150,140", "-sweep_realizations", 1, "-output_write_phase", "false", "-output_write_fields", "false",
                    "-output_file", os.path.join(d, f"{name}{np_}.h5")] + extra
            est, hwm, table = measured_peak(np_, args)
            if not (0.97 * hwm <= est <= 1.4 * hwm):
                bad.append(f"{name} at {np_} ranks: estimate {est / 2**20:.1f} MiB, measured {hwm / 2**20:.1f} MiB ({table})")
    assert not bad, "\n".join(bad)


def test_help_shows_the_estimate_per_stage():
    """`-help` with a deck prints the memory per rank of each stage the deck asks for (and only
    those) with the peak marked and the memory available."""
    d = pgtest.workdir("help_estimate")  # the deck's own output directory need not exist here
    p = pgtest.run(1, [pgtest.TINY, "-help", "-output_file", os.path.join(d, "h.h5"), "-conductivity_solve", "false", "-measure_tortuosity", "false"], singleton=True)
    table = p.stdout[p.stdout.index("memory per rank (estimate"):]
    stages = re.findall(r"^  (\w+)\s+\d+ bytes", table, re.M)
    assert stages == ["generate", "covariance", "intrinsic", "components", "opening", "write", "available"], stages
    assert table.count("<- peak") == 1, table


def test_small_pipeline_identical_at_1_and_3_ranks():
    """Grey data of known structure (tools/make_calibration_data.py, small) through the whole
    pipeline in one deck: segmentation of the stack and two images, calibration from the labels,
    one realization of the calibrated model with every descriptor and the solve, at 1 and 3 ranks:
    the labels file, the calibrated parameters and the run's labels are identical, and every file
    reads back whole. Small enough for the sanitizer build (tests/san_subset.txt), where it covers
    segment.c, calibrate.c and image.c at 1 and 3 ranks."""
    import subprocess as sp
    import sys
    d = pgtest.workdir("pipeline")
    data = os.path.join(d, "data.h5")
    sp.run([sys.executable, os.path.join(pgtest.ROOT, "tools", "make_calibration_data.py"), data, "--grey", "--n3", "48,48,40", "--n2", "160", "--images", "2", "--seed", "5"],
           check=True, capture_output=True)
    res = {}
    for np_ in (1, 3):
        out = os.path.join(d, f"p{np_}.h5")
        pgtest.run(np_, [os.path.join(pgtest.ROOT, "inputs", "segment_example.yaml"), "-segment_volume", f"{data}:/grey/volume",
                         "-segment_images", f"{data}:/grey/images/0,{data}:/grey/images/1", "-domain_shape", "24,24,24", "-sweep_realizations", 1,
                         "-output_file", out, "-measure_intrinsic", "true", "-conductivity_solve", "true", "-output_write_phase", "true"])
        bad = read_everything(out) + read_everything(os.path.join(d, f"p{np_}_labels.h5"))
        assert not bad, "\n".join(bad)
        with h5py.File(out, "r") as f, h5py.File(os.path.join(d, f"p{np_}_labels.h5"), "r") as g:
            res[np_] = dict(cal={k: float(f["calibration"].attrs[k]) for k in ("lambda_x", "lambda_z", "alpha_x_per_um", "alpha_y_per_um", "m")},
                            phase=f["runs/0000/phase"][...], volume=g["volume"][...], images=[g[f"images/{k}"][...] for k in range(2)])
    a, b = res[1], res[3]
    bad = [f"{k}: {a['cal'][k]} vs {b['cal'][k]}" for k in a["cal"] if abs(a["cal"][k] - b["cal"][k]) > 1e-7 * max(1, abs(a["cal"][k]))]  # the distributed 3D FFT rounds differently (1e-16), amplified by the fits
    if not np.array_equal(a["volume"], b["volume"]) or not all(np.array_equal(x, y) for x, y in zip(a["images"], b["images"])):
        bad.append("segmented labels differ between 1 and 3 ranks")
    if a["cal"] == b["cal"] and not np.array_equal(a["phase"], b["phase"]):
        bad.append("the realization's labels differ between 1 and 3 ranks")
    assert not bad, "; ".join(bad)


def flip_chunk_bytes(path, dset, nbytes=16):
    """Flips nbytes bytes in the middle of the first chunk of dset in the file at path (h5py gives
    the chunk's byte offset); returns the offset."""
    with h5py.File(path, "r") as f:
        ds = f[dset]
        assert ds.fletcher32, f"{dset} carries no Fletcher32 filter: {ds.compression}, {ds.chunks}"
        info = ds.id.get_chunk_info(0)
        off, size = info.byte_offset, info.size
    with open(path, "r+b") as f:
        f.seek(off + size // 2 - nbytes // 2)
        b = bytearray(f.read(nbytes))
        f.seek(off + size // 2 - nbytes // 2)
        f.write(bytes(x ^ 0xA5 for x in b))
    return off


def test_checksums_detect_and_recompute_damaged_runs():
    """Every volume carries Fletcher32. Bytes flipped inside a chunk of a complete run (deflated,
    and uncompressed) make h5py's read fail; resuming the .part reports exactly the damaged runs by
    name, computes them again (only them) and finishes with a file that reads back whole and equals
    the undamaged one, labels and fields, at 1 and 3 ranks."""
    for np_, compress in ((1, 1), (3, 0)):
        d = pgtest.workdir(f"checksum_{np_}")
        out = os.path.join(d, "c.h5")
        args = [pgtest.TINY, "-domain_shape", "24,20,28", "-sweep_realizations", 3, "-output_file", out, "-output_compress", compress,
                "-output_write_fields", "true"] + pgtest.NOMEASURE
        pgtest.run(np_, args, singleton=True)
        with h5py.File(out, "r") as f:
            ref = {k: (f[f"runs/{k:04d}/phase"][...], f[f"runs/{k:04d}/X"][...]) for k in range(3)}
            assert all(f[f"runs/{k:04d}/{n}"].fletcher32 for k in range(3) for n in ("phase", "X", "Y")), "a volume without Fletcher32"
        flip_chunk_bytes(out, "runs/0001/phase")
        flip_chunk_bytes(out, "runs/0002/X")
        with h5py.File(out, "r") as f:
            for name in ("runs/0001/phase", "runs/0002/X"):
                try:
                    f[name][...]
                except OSError:
                    pass
                else:
                    raise AssertionError(f"{name}: flipped bytes were read without an error")
        os.rename(out, out + ".part")  # an interrupted sweep whose complete runs were damaged
        p = pgtest.run(np_, args, singleton=True)
        warned = sorted(int(k) for k in re.findall(r"warning: run (\d+) in \S+ is damaged", p.stdout))
        assert warned == [1, 2], f"[{np_} ranks] damaged runs reported: {warned}\n{p.stdout[:1500]}"
        assert "/runs/0001/phase" in p.stdout and "/runs/0002/X" in p.stdout, p.stdout[:1500]
        recomputed = sorted(int(k) - 1 for k in re.findall(r"^run +(\d+)/3", p.stdout, re.M))
        assert recomputed == [1, 2], f"[{np_} ranks] runs computed again: {recomputed}"
        bad = read_everything(out)
        with h5py.File(out, "r") as f:
            for k in range(3):
                if not (np.array_equal(f[f"runs/{k:04d}/phase"][...], ref[k][0]) and np.array_equal(f[f"runs/{k:04d}/X"][...], ref[k][1])):
                    bad.append(f"run {k} differs from the undamaged file")
        assert [r["run"] for r in pgtest.rows(out)] == [0, 1, 2]
        assert not bad, f"[{np_} ranks] " + "\n".join(bad)


if __name__ == "__main__":
    import sys
    import cdriver
    sys.exit(cdriver.main(sys.modules[__name__]))
