"""Shared helpers of the plurigauss test suite: running the program at a rank count, temporary
output paths, reading the CSV/HDF5 outputs, and the exact statistics of the discrete fields.

Every test is a function named test_*; it raises AssertionError (with expected vs measured) on
failure. tests/run_tests.py collects them from the tests/test_*.py modules."""
import csv
import os
import shutil
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# PLURIGAUSS_BIN runs the suite against another build (e.g. a deliberately broken one, to check
# that the tests can fail).
BIN = os.environ.get("PLURIGAUSS_BIN", os.path.join(ROOT, "bin", "plurigauss"))
# the C drivers are taken from the same directory (bin-san/ for `make check SAN=1`)
BINDIR = os.path.dirname(os.path.abspath(BIN))
SAN = bool(os.environ.get("PLURIGAUSS_SAN"))  # set by `make check SAN=1`: sanitizer build
LONG = bool(os.environ.get("PLURIGAUSS_LONG"))  # set by `make check LONG=1`: the long tests too


def long_test(fn):
    """Marks a test that takes minutes: `make check` lists it as skipped, `make check LONG=1` (or
    naming it on run_tests.py's command line) runs it."""
    fn.long = True
    return fn
SAN_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")
WORK = os.path.join(ROOT, "tests", "work", f"run-{os.getpid()}")  # per process: suites may run side by side
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
# Open MPI keeps a session directory <base>/ompi.<host>.<uid>/ per user and removes it when the last job
# in it ends; two jobs started side by side race on creating it ("A call to mkdir was unable to create
# the desired directory ... File exists", seen once in CI). Every launch gets its own base (mpi_env),
# short (under /tmp: the daemon's sockets live there) and removed when the suite's process exits.
_SESSIONS = []


def mpi_env(extra=None):
    """ENV with a session directory base of this launch's own, plus the extra variables."""
    import atexit
    import tempfile
    if not _SESSIONS:
        _SESSIONS.append(tempfile.mkdtemp(prefix="pg-ompi-", dir="/tmp"))
        atexit.register(shutil.rmtree, _SESSIONS[0], True)
    env = dict(ENV, OMPI_MCA_orte_tmpdir_base=tempfile.mkdtemp(dir=_SESSIONS[0]))
    env.update(extra or {})  # an extra session directory base (test_fuzz: beside the case's output) wins
    return env
TINY = os.path.join(ROOT, "inputs", "tiny.yaml")
# the descriptors (C_ij, intrinsic volumes) are not needed by the tests of the fields, fractions,
# ranks and output contract: switching them off saves most of the run time of a small grid
# the transport descriptors (percolation, openings, MIP, tortuosity, conduction), off for tests of other things
TRANSPORT_OFF = ["-measure_percolation", "false", "-measure_psd", "false", "-measure_mip", "false", "-measure_tortuosity", "false", "-conductivity_solve", "false"]
NOMEASURE = ["-measure_covariance", "false", "-measure_intrinsic", "false", "-measure_percolation", "false", "-measure_psd", "false",
             "-measure_mip", "false", "-measure_tortuosity", "false", "-conductivity_solve", "false"]


def workdir(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run(np_, args, check=True, timeout=300, singleton=False, env=None):
    """mpirun -np np_ bin/plurigauss args...; returns the CompletedProcess. singleton=True with
    np_ = 1 starts the binary without mpirun (MPI singleton): faster on error exits, for which
    mpirun itself waits about 2 s. env: extra environment variables."""
    cmd = [BIN] + [str(a) for a in args] if singleton and np_ == 1 else mpirun_cmd(np_, args)
    p = subprocess.run(cmd, env=mpi_env(env), capture_output=True, text=True, timeout=timeout)
    sanitizer_check(cmd, p.stderr)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def sanitizer_check(cmd, stderr):
    """Fails on any AddressSanitizer / UndefinedBehaviorSanitizer report in stderr, also when the
    test expected the run to fail (an input error must not be a memory error)."""
    if stderr and any(m in stderr for m in SAN_MARKERS):
        i = min(stderr.find(m) for m in SAN_MARKERS if m in stderr)
        raise AssertionError(f"sanitizer report from {' '.join(str(c) for c in cmd)}:\n{stderr[max(0, i - 200):i + 3000]}")


def mpirun_cmd(np_, args):
    return ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(np_), BIN] + [str(a) for a in args]


def fingerprint(path):
    """(sha256 of the bytes, mtime in ns) of a file: equal fingerprints = the file was not touched."""
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns


def rows(h5path):
    """The CSV rows beside an HDF5 output, as dicts of floats (run as int)."""
    path = os.path.splitext(h5path)[0] + ".csv"
    with open(path) as f:
        return [{k: (int(v) if k == "run" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def torus_cov_1d(n, a):
    """exp(-(a d)^2) at the shortest periodic distance d on a ring of n points (a = alpha * dx)."""
    j = np.arange(n)
    d = np.minimum(j, n - j)
    return np.exp(-(a * d) ** 2)


def gauss_sums(shape, voxel, alpha):
    """Separable sums over the torus of the discrete covariance c(h) = exp(-(alpha |h|)^2):
    returns (sum c, sum c^2, 1D covariances per axis as a list x, y, z)."""
    c1 = [torus_cov_1d(n, alpha * v) for n, v in zip(shape, voxel)]
    s1 = np.prod([c.sum() for c in c1])
    s2 = np.prod([(c ** 2).sum() for c in c1])
    return s1, s2, c1


def torus_cov_3d(shape, voxel, alpha):
    """The discrete covariance c(h) on the whole torus as a [nz][ny][nx] array."""
    c1 = [torus_cov_1d(n, alpha * v) for n, v in zip(shape, voxel)]
    return np.einsum("i,j,k->ijk", c1[2], c1[1], c1[0])


def phi2_integral(lam, rho):
    """int_0^rho exp(-lam^2 / (1 + g)) / (2 pi sqrt(1 - g^2)) dg = C11(h) - eps1^2 (eq. 7 without
    the misprinted 1/(2 pi))."""
    from scipy.integrate import quad
    v, _ = quad(lambda g: np.exp(-lam * lam / (1 + g)) / (2 * np.pi * np.sqrt(1 - g * g)), 0, rho, limit=200)
    return v


def eq9(lx, lz, m):
    """eps2 by eq. 9, independently of the C code (scipy quadrature)."""
    from scipy.integrate import quad
    from scipy.stats import norm
    if m >= 1:
        return max(0.0, norm.cdf(lx) - norm.cdf(lz))
    v, _ = quad(lambda t: norm.pdf(t) * norm.sf((lz - np.sqrt(m) * t) / np.sqrt(1 - m)), -np.inf, lx, epsabs=1e-13)
    return v
