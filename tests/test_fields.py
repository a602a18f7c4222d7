"""Field statistics against the exact statistics of the discrete Gaussian field.

The synthesis makes the discrete field's covariance exactly c(h) = exp(-(alpha |h|)^2) at the
lattice lags of the torus (shortest periodic distance). For a Gaussian field with known mean 0
and N voxels (Isserlis' theorem, sums over the whole torus, all separable per axis):
  Var(mean)          = (1/N) sum_h c(h)
  Var(1/N sum f^2)   = (2/N) sum_h c(h)^2
  Var(C_hat(L e_a))  = (1/N) sum_u [c(u)^2 + c(u + L e_a) c(u - L e_a)],  C_hat = (1/N) sum f_i f_{i+L}
Each statistic is compared with its expectation at 4.5 standard deviations (about 80 statistics in
all: a false alarm has probability < 1e-3, and the seed is fixed, so the test is deterministic). A
wrong covariance shape, variance, normalisation or lag direction shifts the estimates by many
sigma (e.g. a 5% variance error is > 10 sigma at 64^3)."""
import h5py
import numpy as np

import pgtest

CASES = [
    # shape (nx, ny, nz), voxel (um), alpha_x, alpha_y (1/um): alpha * voxel from 0.12 to 0.4
    ((64, 64, 64), (0.0166, 0.0166, 0.0166), 12.0, 24.1),
    ((48, 64, 40), (0.010, 0.012, 0.015), 16.6, 26.5),
]


def lag_variance(c1, axis, L, N):
    """Var of C_hat at lag L along axis (0 = x, 1 = y, 2 = z) by the separable Isserlis sum."""
    other = np.prod([(c1[d] ** 2).sum() for d in range(3) if d != axis])
    c = c1[axis]
    n = c.size
    u = np.arange(n)
    term1 = (c ** 2).sum() * other
    term2 = (c[(u + L) % n] * c[(u - L) % n]).sum() * other
    return (term1 + term2) / N


def check_field(F, shape, voxel, alpha, label):
    N = F.size
    s1, s2, c1 = pgtest.gauss_sums(shape, voxel, alpha)
    bad = []
    m = F.mean()
    if abs(m) > 4.5 * np.sqrt(s1 / N):
        bad.append(f"{label}: mean {m:.4g}, sigma {np.sqrt(s1 / N):.3g}")
    v = (F * F).mean()
    if abs(v - 1) > 4.5 * np.sqrt(2 * s2 / N):
        bad.append(f"{label}: <f^2> {v:.5f}, expected 1 +- {np.sqrt(2 * s2 / N):.3g}")
    for axis, npaxis in ((0, 2), (1, 1), (2, 0)):  # arrays are [z][y][x]
        a = alpha * voxel[axis]
        for L in range(0, int(np.ceil(3 / a)) + 1):
            chat = (F * np.roll(F, -L, axis=npaxis)).mean()
            expect = np.exp(-(a * L) ** 2)
            sig = np.sqrt(lag_variance(c1, axis, L, N))
            if abs(chat - expect) > 4.5 * sig:
                bad.append(f"{label}: C({'xyz'[axis]} lag {L}) = {chat:.4f}, expected {expect:.4f} +- {sig:.3g}")
    return bad


def test_field_statistics():
    d = pgtest.workdir("fields")
    bad = []
    for i, (shape, voxel, ax, ay) in enumerate(CASES):
        out = f"{d}/f{i}.h5"
        pgtest.run(2, [pgtest.TINY, "-domain_shape", ",".join(map(str, shape)), "-domain_voxel_size_um", ",".join(map(str, voxel)),
                       "-model_alpha_x", ax, "-model_alpha_y", ay, "-sweep_realizations", 2, "-output_file", out,
                       "-output_precision", "double", "-output_write_fields", "true", "-random_seed", 11 + i])
        with h5py.File(out, "r") as f:
            for k in ("0000", "0001"):
                X = f[f"runs/{k}/X"][...]
                Y = f[f"runs/{k}/Y"][...]
                assert X.shape == shape[::-1], f"X has shape {X.shape}, expected {shape[::-1]}"
                bad += check_field(X, shape, voxel, ax, f"case {i} run {k} X")
                bad += check_field(Y, shape, voxel, ay, f"case {i} run {k} Y")
                # X and Y independent: sample correlation within 4.5 sigma of 0
                s1x, _, _ = pgtest.gauss_sums(shape, voxel, ax)
                cxy = (X * Y).mean()
                # Var(mean of X*Y) = (1/N) sum_h cX(h) cY(h)
                cx = pgtest.gauss_sums(shape, voxel, ax)[2]
                cy = pgtest.gauss_sums(shape, voxel, ay)[2]
                sxy = np.prod([(p * q).sum() for p, q in zip(cx, cy)]) / X.size
                if abs(cxy) > 4.5 * np.sqrt(sxy):
                    bad.append(f"case {i} run {k}: <XY> = {cxy:.4f}, expected 0 +- {np.sqrt(sxy):.3g}")
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
