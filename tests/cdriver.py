"""Helpers for the tests that run the C drivers of tests/c/ (built into bin/ by `make tests`):
running a driver at a rank count, raw volumes in and out, and a standalone runner for a test
module (`python3 tests/test_edt.py` prints PASS/FAIL per test and `N passed, N failed`)."""
import os
import subprocess
import sys
import time
import traceback

import numpy as np

import pgtest


def driver(name):
    path = os.path.join(pgtest.BINDIR, name)
    if not os.path.exists(path):
        raise AssertionError(f"{path} is missing: run `make tests` first")
    return path


def run(np_, name, args, timeout=300):
    """mpirun -np np_ bin/NAME args...; returns stdout. Options are PETSc-style (-key value)."""
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(np_), driver(name)] + [str(a) for a in args]
    p = subprocess.run(cmd, env=pgtest.mpi_env(), capture_output=True, text=True, timeout=timeout)
    pgtest.sanitizer_check(cmd, p.stderr)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def values(stdout):
    """The `key v1 v2 ...` lines a driver prints, as {key: [floats]}."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        try:
            out[parts[0]] = [float(x) for x in parts[1:]]
        except (ValueError, IndexError):
            pass
    return out


def shape_arg(shape_zyx):
    """The driver's -n NX,NY,NZ for a numpy [z][y][x] shape."""
    nz, ny, nx = shape_zyx
    return f"{nx},{ny},{nz}"


def write_u8(path, a):
    np.ascontiguousarray(a, dtype=np.uint8).tofile(path)


def read(path, dtype, shape_zyx):
    return np.fromfile(path, dtype=dtype).reshape(shape_zyx)


def main(module):
    """Runs every test_* function of a module; prints `N passed, N failed`; exit status 1 on failure."""
    os.chdir(pgtest.ROOT)
    tests = sorted(n for n in dir(module) if n.startswith("test_") and callable(getattr(module, n)))
    passed = failed = 0
    for n in tests:
        t0 = time.time()
        try:
            getattr(module, n)()
        except Exception as e:
            failed += 1
            msg = str(e) if isinstance(e, AssertionError) and str(e) else traceback.format_exc()
            print(f"FAIL {n} ({time.time() - t0:.1f} s)\n     " + msg.strip().replace("\n", "\n     "))
        else:
            passed += 1
            print(f"PASS {n} ({time.time() - t0:.1f} s)")
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not tests else 0
