"""Field statistics against the exact statistics of the discrete Gaussian field.

The synthesis makes the discrete field's covariance exactly c(h) = exp(-(alpha |h|)^2) at the
lattice lags of the torus (shortest periodic distance), with mean 0 and variance 1. For a Gaussian
field with known mean 0 and N voxels, Isserlis' theorem gives the exact variances of the
estimators (sums over the whole torus; c is a product of 1D factors, so every sum is a product of
three 1D sums):
  Var(mean)          = (1/N) sum_h c(h)
  Var(1/N sum f^2)   = (2/N) sum_h c(h)^2
  Var(C_hat(L e_a))  = (1/N) sum_u [c(u)^2 + c(u + L e_a) c(u - L e_a)],  C_hat = (1/N) sum f_i f_{i+L}
(the estimators use the known mean 0, so these are exact, not asymptotic). X and Y are independent
and the realizations are independent, so an average of K estimators has variance
(1/K^2) sum of their variances. Each average is compared with its expectation at 4.5 standard
deviations: with 239 real-space and 24 spectral statistics, the probability of a false alarm is at
most 263 * P(|N(0,1)| > 4.5) = 263 * 6.8e-6 < 2e-3 (a union bound; the seeds are fixed, so the test
is deterministic anyway).

In real space a field with a correlation length of a few voxels has few independent samples
(sigma of <f^2> ~ 0.008 at 128x96x112, alpha dx = 0.25, 3 realizations), so a second test checks
the synthesis per Fourier mode, where the samples are independent:
  |DFT(f)(k)|^2 / (N Lambda(k)) ~ Exp(1) for k != -k (chi^2_2 / 2), i.i.d. over the pairs {k, -k},
with Lambda(k) the product of the 1D spectra of the torus covariance. Its mean over n pairs has
sigma 1/sqrt(n) (0.001 at 128^3), and its tail P(> t) = exp(-t) checks that the noise is Gaussian.
A variance off by 1 % fails there, and a covariance of the wrong shape fails in both tests."""
import h5py
import numpy as np

import pgtest

VOX = 0.0166
CASES = [
    # shape (nx, ny, nz), voxel (um) x, y, z, alpha_x, alpha_y (1/um)
    ((64, 64, 64), (VOX, VOX, VOX), 0.2 / VOX, 0.4 / VOX),  # near the paper's resolution (0.28, 0.44): alpha dx = 0.2 and 0.4
    ((128, 96, 112), (VOX, VOX, VOX), 15.0, 30.0),  # alpha dx = 0.25 and 0.5, non-cubic
    ((48, 64, 40), (0.010, 0.012, 0.015), 16.6, 40.0),  # anisotropic voxels: alpha dx 0.17 .. 0.6
]
R = 3  # realizations per case
Z = 4.5  # bound in standard deviations
_cache = {}


def lag_variance(c1, axis, L, N):
    """Var of C_hat at lag L along axis (0 = x, 1 = y, 2 = z) by the separable Isserlis sum."""
    other = np.prod([(c1[d] ** 2).sum() for d in range(3) if d != axis])
    c = c1[axis]
    n = c.size
    u = np.arange(n)
    term1 = (c ** 2).sum() * other
    term2 = (c[(u + L) % n] * c[(u - L) % n]).sum() * other
    return (term1 + term2) / N


def check_fields(Fs, shape, voxel, alpha, label):
    """Fs: R independent realizations of one field; statistics averaged over them."""
    R_ = len(Fs)
    N = Fs[0].size
    s1, s2, c1 = pgtest.gauss_sums(shape, voxel, alpha)
    bad = []
    m = np.mean([F.mean() for F in Fs])
    sig = np.sqrt(s1 / N / R_)
    if abs(m) > Z * sig:
        bad.append(f"{label}: mean {m:.4g}, expected 0 +- {sig:.3g}")
    v = np.mean([(F * F).mean() for F in Fs])
    sig = np.sqrt(2 * s2 / N / R_)
    if abs(v - 1) > Z * sig:
        bad.append(f"{label}: <f^2> {v:.5f}, expected 1 +- {sig:.3g}")
    for axis, npaxis in ((0, 2), (1, 1), (2, 0)):  # arrays are [z][y][x]
        a = alpha * voxel[axis]
        for L in range(0, int(np.ceil(3 / a)) + 1):
            chat = np.mean([(F * np.roll(F, -L, axis=npaxis)).mean() for F in Fs])
            expect = np.exp(-(a * L) ** 2)
            sig = np.sqrt(lag_variance(c1, axis, L, N) / R_)
            if abs(chat - expect) > Z * sig:
                bad.append(f"{label}: C({'xyz'[axis]} lag {L}) = {chat:.4f}, expected {expect:.4f} +- {sig:.3g}")
    return bad


def check_pooled(X, Y, shape, voxel, ax, ay, label):
    """X and Y pooled (independent fields): mean of all 2R sample means and of all 2R <f^2>, whose
    variances are the averages of the per-field exact variances divided by 2R."""
    N = X[0].size
    K = len(X) + len(Y)
    sx1, sx2, _ = pgtest.gauss_sums(shape, voxel, ax)
    sy1, sy2, _ = pgtest.gauss_sums(shape, voxel, ay)
    bad = []
    m = np.mean([F.mean() for F in X + Y])
    sig = np.sqrt(len(X) * (sx1 + sy1) / N) / K
    if abs(m) > Z * sig:
        bad.append(f"{label} X+Y pooled: mean {m:.4g}, expected 0 +- {sig:.3g}")
    v = np.mean([(F * F).mean() for F in X + Y])
    sig = np.sqrt(len(X) * 2 * (sx2 + sy2) / N) / K
    if abs(v - 1) > Z * sig:
        bad.append(f"{label} X+Y pooled: variance {v:.5f}, expected 1 +- {sig:.3g}")
    return bad


def check_spectrum(Fs, shape, voxel, alpha, label):
    """|DFT f|^2 / (N Lambda) ~ Exp(1) on the modes that are not self-conjugate."""
    lam1 = [np.real(np.fft.fft(pgtest.torus_cov_1d(n, alpha * v))) for n, v in zip(shape, voxel)]
    lam = np.einsum("i,j,k->ijk", lam1[2], lam1[1], lam1[0])
    nz, ny, nx = lam.shape
    kz, ky, kx = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    free = ~(((2 * kz) % nz == 0) & ((2 * ky) % ny == 0) & ((2 * kx) % nx == 0)) & (lam > 1e-6 * lam.max())
    ratios = np.concatenate([(np.abs(np.fft.fftn(F)) ** 2 / F.size / np.where(lam > 0, lam, 1))[free] for F in Fs])
    npairs = ratios.size / 2  # k and -k carry the same value
    bad = []
    mean = ratios.mean()
    if abs(mean - 1) > Z / np.sqrt(npairs):
        bad.append(f"{label}: mean |F|^2/Lambda = {mean:.5f}, expected 1 +- {1 / np.sqrt(npairs):.2g}")
    for t in (0.5, 2.0, 4.0):
        p = np.exp(-t)
        frac = (ratios > t).mean()
        if abs(frac - p) > Z * np.sqrt(p * (1 - p) / npairs):
            bad.append(f"{label}: P(|F|^2/Lambda > {t}) = {frac:.5f}, expected {p:.5f} +- {np.sqrt(p * (1 - p) / npairs):.2g}")
    return bad


def generate(i):
    """The fields of case i (R realizations, double precision), generated once per suite process."""
    if i in _cache:
        return _cache[i]
    shape, voxel, ax, ay = CASES[i]
    d = pgtest.workdir(f"fields{i}")
    out = f"{d}/f.h5"
    pgtest.run(2, [pgtest.TINY, "-domain_shape", ",".join(map(str, shape)), "-domain_voxel_size_um", ",".join(map(str, voxel)),
                   "-model_alpha_x", repr(ax), "-model_alpha_y", repr(ay), "-sweep_realizations", R, "-output_file", out,
                   "-output_precision", "double", "-output_write_fields", "true", "-output_write_phase", "false", "-random_seed", 11 + i]
              + pgtest.NOMEASURE)
    with h5py.File(out, "r") as f:
        X = [f[f"runs/{k:04d}/X"][...] for k in range(R)]
        Y = [f[f"runs/{k:04d}/Y"][...] for k in range(R)]
    for F in X + Y:
        assert F.shape == shape[::-1], f"field has shape {F.shape}, expected [nz][ny][nx] = {shape[::-1]}"
        assert F.dtype == np.float64, f"output.precision double wrote {F.dtype}"
    _cache[i] = (X, Y)
    return X, Y


def test_field_statistics():
    """Mean, variance and covariance along x, y, z at lags 0..ceil(3/(alpha dx)) of X and Y against
    exp(-(alpha h)^2), with the exact Isserlis variances; X and Y uncorrelated."""
    bad = []
    for i, (shape, voxel, ax, ay) in enumerate(CASES):
        X, Y = generate(i)
        bad += check_fields(X, shape, voxel, ax, f"case {i} {shape} X")
        bad += check_fields(Y, shape, voxel, ay, f"case {i} {shape} Y")
        bad += check_pooled(X, Y, shape, voxel, ax, ay, f"case {i} {shape}")
        # X and Y independent: Var(mean of X*Y) = (1/N) sum_h cX(h) cY(h)
        cx = pgtest.gauss_sums(shape, voxel, ax)[2]
        cy = pgtest.gauss_sums(shape, voxel, ay)[2]
        sxy = np.sqrt(np.prod([(p * q).sum() for p, q in zip(cx, cy)]) / X[0].size / R)
        cxy = np.mean([(x * y).mean() for x, y in zip(X, Y)])
        if abs(cxy) > Z * sxy:
            bad.append(f"case {i}: <XY> = {cxy:.4f}, expected 0 +- {sxy:.3g}")
        # the realizations are independent: the same statistic between realization 0 and 1
        c01 = (X[0] * X[1]).mean()
        s01 = np.sqrt(pgtest.gauss_sums(shape, voxel, ax)[1] / X[0].size)
        if abs(c01) > Z * s01:
            bad.append(f"case {i}: <X_0 X_1> = {c01:.4f}, expected 0 +- {s01:.3g} (realizations not independent)")
    assert not bad, "\n".join(bad)


def test_field_spectrum():
    bad = []
    for i, (shape, voxel, ax, ay) in enumerate(CASES):
        X, Y = generate(i)
        bad += check_spectrum(X, shape, voxel, ax, f"case {i} X")
        bad += check_spectrum(Y, shape, voxel, ay, f"case {i} Y")
    assert not bad, "\n".join(bad)


def test_precision_single_matches_double():
    """Single precision synthesises the same structure up to float rounding: fields within 1e-5."""
    d = pgtest.workdir("precision")
    for prec in ("single", "double"):
        pgtest.run(1, [pgtest.TINY, "-output_file", f"{d}/{prec}.h5", "-output_precision", prec, "-sweep_realizations", 1] + pgtest.NOMEASURE)
    with h5py.File(f"{d}/single.h5", "r") as s, h5py.File(f"{d}/double.h5", "r") as dd:
        xs, xd = s["runs/0000/X"][...], dd["runs/0000/X"][...]
        assert xs.dtype == np.float32 and xd.dtype == np.float64, (xs.dtype, xd.dtype)
        err = np.abs(xs - xd).max()
        assert err < 1e-5, f"single vs double fields differ by {err}"
