"""Field statistics against the exact statistics of the discrete Gaussian field.

The synthesis makes the discrete field's covariance exactly c(h) = exp(-(alpha |h|)^2) at the
lattice lags of the torus (shortest periodic distance). For a Gaussian field with known mean 0
and N voxels (Isserlis' theorem, sums over the whole torus, all separable per axis):
  Var(mean)          = (1/N) sum_h c(h)
  Var(1/N sum f^2)   = (2/N) sum_h c(h)^2
  Var(C_hat(L e_a))  = (1/N) sum_u [c(u)^2 + c(u + L e_a) c(u - L e_a)],  C_hat = (1/N) sum f_i f_{i+L}
Each statistic, averaged over the realizations, is compared with its expectation at 4.5 standard
deviations (about 80 statistics: a false alarm has probability < 1e-3; the seed is fixed, so the
test is deterministic). In real space a field with correlation length of a few voxels has few
independent samples (sigma of the variance ~ 0.005 at 128^3, alpha dx = 0.4), so a second test
checks the synthesis per Fourier mode, where the samples are independent:
  |DFT(f)(k)|^2 / Lambda(k) ~ Exp(1) for k != -k (chi^2_2 / 2), i.i.d. over the pairs {k, -k},
with Lambda(k) the product of the 1D spectra of the torus covariance. Its mean over N/2 pairs has
sigma sqrt(2/N) (0.001 at 128^3), and its tail P(> t) = exp(-t) checks that the noise is Gaussian."""
import h5py
import numpy as np

import pgtest

CASES = [
    # shape (nx, ny, nz), voxel (um), alpha_x, alpha_y (1/um): alpha * voxel from 0.17 to 0.6
    ((128, 96, 112), (0.0166, 0.0166, 0.0166), 15.0, 30.0),
    ((48, 64, 40), (0.010, 0.012, 0.015), 16.6, 40.0),
]
R = 3


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
    if abs(m) > 4.5 * np.sqrt(s1 / N / R_):
        bad.append(f"{label}: mean {m:.4g}, sigma {np.sqrt(s1 / N / R_):.3g}")
    v = np.mean([(F * F).mean() for F in Fs])
    if abs(v - 1) > 4.5 * np.sqrt(2 * s2 / N / R_):
        bad.append(f"{label}: <f^2> {v:.5f}, expected 1 +- {np.sqrt(2 * s2 / N / R_):.3g}")
    for axis, npaxis in ((0, 2), (1, 1), (2, 0)):  # arrays are [z][y][x]
        a = alpha * voxel[axis]
        for L in range(0, int(np.ceil(3 / a)) + 1):
            chat = np.mean([(F * np.roll(F, -L, axis=npaxis)).mean() for F in Fs])
            expect = np.exp(-(a * L) ** 2)
            sig = np.sqrt(lag_variance(c1, axis, L, N) / R_)
            if abs(chat - expect) > 4.5 * sig:
                bad.append(f"{label}: C({'xyz'[axis]} lag {L}) = {chat:.4f}, expected {expect:.4f} +- {sig:.3g}")
    return bad


def check_spectrum(Fs, shape, voxel, alpha, label):
    """|DFT f|^2 / Lambda ~ Exp(1) on the modes that are not self-conjugate."""
    lam1 = [np.real(np.fft.fft(pgtest.torus_cov_1d(n, alpha * v))) for n, v in zip(shape, voxel)]
    lam = np.einsum("i,j,k->ijk", lam1[2], lam1[1], lam1[0])
    nz, ny, nx = lam.shape
    kz, ky, kx = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    free = ~(((2 * kz) % nz == 0) & ((2 * ky) % ny == 0) & ((2 * kx) % nx == 0)) & (lam > 1e-6 * lam.max())
    ratios = np.concatenate([(np.abs(np.fft.fftn(F)) ** 2 / F.size / np.where(lam > 0, lam, 1))[free] for F in Fs])
    npairs = ratios.size / 2  # k and -k carry the same value
    bad = []
    mean = ratios.mean()
    if abs(mean - 1) > 4.5 / np.sqrt(npairs):
        bad.append(f"{label}: mean |F|^2/Lambda = {mean:.5f}, expected 1 +- {1 / np.sqrt(npairs):.2g}")
    for t in (0.5, 2.0, 4.0):
        p = np.exp(-t)
        frac = (ratios > t).mean()
        if abs(frac - p) > 4.5 * np.sqrt(p * (1 - p) / npairs):
            bad.append(f"{label}: P(|F|^2/Lambda > {t}) = {frac:.5f}, expected {p:.5f} +- {np.sqrt(p * (1 - p) / npairs):.2g}")
    return bad


def generate(d, i, shape, voxel, ax, ay):
    out = f"{d}/f{i}.h5"
    pgtest.run(2, [pgtest.TINY, "-domain_shape", ",".join(map(str, shape)), "-domain_voxel_size_um", ",".join(map(str, voxel)),
                   "-model_alpha_x", ax, "-model_alpha_y", ay, "-sweep_realizations", R, "-output_file", out,
                   "-output_precision", "double", "-output_write_fields", "true", "-output_write_phase", "false", "-random_seed", 11 + i])
    with h5py.File(out, "r") as f:
        X = [f[f"runs/{k:04d}/X"][...] for k in range(R)]
        Y = [f[f"runs/{k:04d}/Y"][...] for k in range(R)]
    assert X[0].shape == shape[::-1], f"X has shape {X[0].shape}, expected {shape[::-1]}"
    return X, Y


def test_field_statistics():
    d = pgtest.workdir("fields")
    bad = []
    for i, (shape, voxel, ax, ay) in enumerate(CASES):
        X, Y = generate(d, i, shape, voxel, ax, ay)
        bad += check_fields(X, shape, voxel, ax, f"case {i} X")
        bad += check_fields(Y, shape, voxel, ay, f"case {i} Y")
        # X and Y independent: Var(mean of X*Y) = (1/N) sum_h cX(h) cY(h)
        cx = pgtest.gauss_sums(shape, voxel, ax)[2]
        cy = pgtest.gauss_sums(shape, voxel, ay)[2]
        sxy = np.sqrt(np.prod([(p * q).sum() for p, q in zip(cx, cy)]) / X[0].size / R)
        cxy = np.mean([(x * y).mean() for x, y in zip(X, Y)])
        if abs(cxy) > 4.5 * sxy:
            bad.append(f"case {i}: <XY> = {cxy:.4f}, expected 0 +- {sxy:.3g}")
    assert not bad, "\n".join(bad)


def test_field_spectrum():
    d = pgtest.workdir("spectrum")
    bad = []
    for i, (shape, voxel, ax, ay) in enumerate(CASES):
        X, Y = generate(d, i, shape, voxel, ax, ay)
        bad += check_spectrum(X, shape, voxel, ax, f"case {i} X")
        bad += check_spectrum(Y, shape, voxel, ay, f"case {i} Y")
    assert not bad, "\n".join(bad)


def test_precision_single_matches_double():
    """Single precision synthesises the same structure up to float rounding: fields within 1e-5."""
    d = pgtest.workdir("precision")
    for prec in ("single", "double"):
        pgtest.run(1, [pgtest.TINY, "-output_file", f"{d}/{prec}.h5", "-output_precision", prec, "-sweep_realizations", 1])
    with h5py.File(f"{d}/single.h5", "r") as s, h5py.File(f"{d}/double.h5", "r") as dd:
        xs, xd = s["runs/0000/X"][...], dd["runs/0000/X"][...]
        assert xs.dtype == np.float32 and xd.dtype == np.float64, (xs.dtype, xd.dtype)
        err = np.abs(xs - xd).max()
        assert err < 1e-5, f"single vs double fields differ by {err}"
