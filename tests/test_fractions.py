"""Volume fractions against eqs. 6 and 9, eq. 9 against quadrature and Monte Carlo, Table 1, and
common random numbers.

Tolerances of the volume fractions (4.5 sigma, averages over R independent realizations, N voxels):
* eps1: the indicator 1{X >= lambda} has covariance C11(h) - eps1^2 = int_0^rho(h) phi2(l, l, g) dg
  = int_0^rho exp(-l^2 / (1 + g)) / (2 pi sqrt(1 - g^2)) dg (eq. 7 without its misprinted
  1/(2 pi)), so Var(eps1_hat) = (1/N) sum_h [C11(h) - eps1^2] exactly, summed over the torus
  (the integral tabulated in rho on 2001 points and interpolated; scipy quad).
* eps2, eps3: the indicators are functions f(U), f(V) of the Gaussian vectors U = (X, Y)(0),
  V = (X, Y)(h). By Gebelein's inequality |Corr(f(U), g(V))| is at most the maximal correlation of
  (U, V), which for independent X and Y is the largest canonical correlation
  max(|rho_X(h)|, |rho_Y(h)|). Hence, rigorously,
  Var(eps_hat) <= eps (1 - eps) / N * sum_h max(rho_X(h), rho_Y(h))  (rho >= 0 here).
Eq. 9 by Monte Carlo: n = 4e6 pairs of independent normals, binomial sigma sqrt(p (1 - p) / n)
~ 2.4e-4; 4.5 sigma. The scipy quadrature of eq. 9 is independent of the C code (GSL), and both
are accurate to ~1e-11, so they must agree to 1e-8."""
import h5py
import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

import pgtest

Z = 4.5


def eps1_sigma(shape, voxel, alpha, lam):
    """Exact standard deviation of the NVP fraction of one realization."""
    rho = pgtest.torus_cov_3d(shape, voxel, alpha).ravel()
    grid = np.linspace(0, 1, 2001)
    table = np.array([pgtest.phi2_integral(lam, g) for g in grid])
    return np.sqrt(np.interp(rho, grid, table).sum() / rho.size)


def gebelein_sum(shape, voxel, ax, ay):
    """sum_h max(rho_X(h), rho_Y(h)) over the torus."""
    return np.maximum(pgtest.torus_cov_3d(shape, voxel, ax), pgtest.torus_cov_3d(shape, voxel, ay)).sum()


def phase_counts_match_csv(out, r, shape):
    """The CSV's eps_1..3 are the voxel counts of the phase dataset (the CSV prints %.10g: the
    count / N printed the same way must give the same number)."""
    bad = []
    with h5py.File(out, "r") as f:
        for row in r:
            P = f[f"runs/{row['run']:04d}/phase"][...]
            if P.shape != tuple(shape[::-1]):
                bad.append(f"run {row['run']}: phase shape {P.shape}, expected {shape[::-1]}")
                continue
            if not np.isin(P, [1, 2, 3]).all():
                bad.append(f"run {row['run']}: labels outside {{1,2,3}}: {np.unique(P)}")
            for i in (1, 2, 3):
                count = float(f"{(P == i).sum() / P.size:.10g}")
                if row[f"eps_{i}"] != count:
                    bad.append(f"run {row['run']}: CSV eps_{i} = {row[f'eps_{i}']!r}, phase dataset gives {count!r}")
    return bad


def check_fractions(name, shape, ax, ay, m, eps1, eps2, R, seed):
    d = pgtest.workdir(f"fractions_{name}")
    voxel = (0.0166,) * 3
    out = f"{d}/p.h5"
    pgtest.run(2, [pgtest.TINY, "-domain_shape", ",".join(map(str, shape)), "-model_alpha_x", ax, "-model_alpha_y", ay, "-model_m", m,
                   "-model_nvp_fraction", eps1, "-model_carbon_fraction", eps2, "-sweep_realizations", R, "-output_file", out,
                   "-output_write_fields", "false", "-output_precision", "double", "-random_seed", seed] + pgtest.NOMEASURE)
    r = pgtest.rows(out)
    assert len(r) == R, f"{len(r)} CSV rows, expected {R}"
    bad = phase_counts_match_csv(out, r, shape)
    lx = r[0]["lambda_x"]
    if abs(lx - norm.ppf(1 - eps1)) > 1e-9:
        bad.append(f"{name}: lambda_x {lx}, expected Phi^-1(1 - {eps1}) = {norm.ppf(1 - eps1)}")
    e2m = r[0]["eps2_model"]
    if abs(e2m - eps2) > 1e-9 or abs(pgtest.eq9(lx, r[0]["lambda_z"], m) - eps2) > 1e-8:
        bad.append(f"{name}: eps2_model {e2m}, eq. 9 at lambda_z {r[0]['lambda_z']}: {pgtest.eq9(lx, r[0]['lambda_z'], m)}, target {eps2}")
    est = {i: np.mean([x[f"eps_{i}"] for x in r]) for i in (1, 2, 3)}
    N = np.prod(shape)
    G = gebelein_sum(shape, voxel, ax, ay)
    eps3 = 1 - eps1 - eps2
    for i, target, sig in ((1, eps1, eps1_sigma(shape, voxel, ax, lx) / np.sqrt(R)),
                           (2, eps2, np.sqrt(eps2 * (1 - eps2) * G / N / R)),
                           (3, eps3, np.sqrt(eps3 * (1 - eps3) * G / N / R))):
        if abs(est[i] - target) > Z * sig:
            bad.append(f"{name}: eps_{i} = {est[i]:.5f} (mean of {R}), expected {target:.5f} +- {sig:.2g} (sigma; bound {Z} sigma)")
    for x in r:
        if abs(x["eps_1"] + x["eps_2"] + x["eps_3"] - 1) > 3e-10:
            bad.append(f"{name} run {x['run']}: fractions sum to {x['eps_1'] + x['eps_2'] + x['eps_3']}")
    return bad


def test_volume_fractions_paper_model():
    """The paper's model (eps 0.5148 / 0.3372 / 0.148) on 96^3, 3 realizations."""
    bad = check_fractions("paper", (96, 96, 96), 16.6, 26.5, 0.15, 0.5148, 0.3372, 3, 5)
    assert not bad, "\n".join(bad)


def test_volume_fractions_other_model():
    """Another point, far from eps1 = 0.5 (a threshold of the wrong sign shows) and with
    alpha_Y < alpha_X (the Gebelein sum takes rho_Y at most lags): eps 0.3 / 0.25 / 0.45, m 0.5."""
    bad = check_fractions("other", (96, 80, 72), 20.0, 12.0, 0.5, 0.3, 0.25, 2, 17)
    assert not bad, "\n".join(bad)


def test_eq9_quadrature_and_monte_carlo():
    """The C code's eq. 9 (CSV eps2_model) equals an independent scipy quadrature to 1e-8 and a
    Monte Carlo estimate from 4e6 normal pairs to 4.5 binomial sigma, at several (m, lambda_Z); the
    run attributes carry the same lambda_z and eps2_model as the CSV."""
    d = pgtest.workdir("eq9")
    rng = np.random.default_rng(2023)
    n = 4_000_000
    X = rng.standard_normal(n)
    Y = rng.standard_normal(n)
    bad = []
    lx = -0.0371
    for m, lz in ((0.15, -0.4886), (0.15, -0.8), (0.0, 0.3), (0.6, -1.2), (0.95, 0.2), (1.0, -0.5)):
        out = f"{d}/m{m}_{lz}.h5"
        pgtest.run(1, [pgtest.TINY, "-domain_shape", "8,8,8", "-sweep_realizations", 1, "-model_m", m, "-model_lambda_x", lx,
                       "-model_lambda_z", lz, "-output_file", out, "-output_write_fields", "false"] + pgtest.NOMEASURE)
        row = pgtest.rows(out)[0]
        e2 = row["eps2_model"]
        with h5py.File(out, "r") as f:
            a = f["runs/0000"].attrs
            if float(a["lambda_z"]) != lz or abs(float(a["eps2_model"]) - e2) > 1e-9 or abs(float(f["model"].attrs["lambda_x"]) - lx) > 1e-15:
                bad.append(f"m={m} lz={lz}: attributes lambda_z {a['lambda_z']}, eps2_model {a['eps2_model']}, /model lambda_x {f['model'].attrs['lambda_x']} disagree with the CSV/deck")
        if row["lambda_x"] != lx or row["lambda_z"] != lz:
            bad.append(f"m={m} lz={lz}: CSV lambda_x {row['lambda_x']}, lambda_z {row['lambda_z']}")
        ref = pgtest.eq9(lx, lz, m)
        Zf = np.sqrt(m) * X + np.sqrt(1 - m) * Y
        mc = np.mean((X < lx) & (Zf >= lz))
        sig = np.sqrt(mc * (1 - mc) / n)
        if abs(e2 - ref) > 1e-8:
            bad.append(f"m={m} lz={lz}: C eq.9 {e2:.10f} vs scipy {ref:.10f}")
        if abs(e2 - mc) > Z * sig:
            bad.append(f"m={m} lz={lz}: eq.9 {e2:.5f} vs Monte Carlo {mc:.5f} +- {sig:.2g}")
    assert not bad, "\n".join(bad)


def test_lambda_z_inverts_eq9():
    """lambda_Z computed by the code from a target eps2 (a sweep of three): scipy's root of the
    scipy quadrature agrees to 1e-7, and the Monte Carlo probability at the code's lambda_Z is the
    target within 4.5 binomial sigma."""
    d = pgtest.workdir("eq9inv")
    out = f"{d}/s.h5"
    m, eps1, targets = 0.3, 0.4, (0.1, 0.3, 0.55)
    pgtest.run(1, [pgtest.TINY, "-domain_shape", "8,8,8", "-sweep_realizations", 1, "-model_m", m, "-model_nvp_fraction", eps1,
                   "-sweep_carbon_fraction", ",".join(map(str, targets)), "-output_file", out, "-output_write_fields", "false"] + pgtest.NOMEASURE)
    r = pgtest.rows(out)
    assert [x["eps2_target"] for x in r] == list(targets), [x["eps2_target"] for x in r]
    rng = np.random.default_rng(99)
    n = 4_000_000
    X = rng.standard_normal(n)
    Zf = np.sqrt(m) * X + np.sqrt(1 - m) * rng.standard_normal(n)
    lx = norm.ppf(1 - eps1)
    bad = []
    for x, t in zip(r, targets):
        ref = brentq(lambda lz: pgtest.eq9(lx, lz, m) - t, -12, 12, xtol=1e-12)
        if abs(x["lambda_z"] - ref) > 1e-7:
            bad.append(f"eps2 {t}: lambda_z {x['lambda_z']:.9f}, scipy root {ref:.9f}")
        mc = np.mean((X < lx) & (Zf >= x["lambda_z"]))
        sig = np.sqrt(mc * (1 - mc) / n)
        if abs(mc - t) > Z * sig:
            bad.append(f"eps2 {t}: Monte Carlo at the code's lambda_z {x['lambda_z']:.5f} gives {mc:.5f} +- {sig:.2g}")
    assert not bad, "\n".join(bad)


def test_table1_thresholds():
    """Table 1's lambda_X = -0.0371, lambda_Z = -0.4886 (m = 0.15) give eps2 = 0.2776 by eq. 9;
    eps1 = 0.5148, eps2 = 0.3372 need lambda_X = -0.0371, lambda_Z = -0.801. Given on the command
    line, and through the shipped decks inputs/nvp_paper_table1.yaml and inputs/nvp_paper.yaml."""
    d = pgtest.workdir("table1")
    small = ["-domain_shape", "16,16,16", "-sweep_realizations", 1, "-output_write_fields", "false"] + pgtest.NOMEASURE
    bad = []
    for i, (tag, args) in enumerate((("command line", [pgtest.TINY, "-model_m", 0.15, "-model_lambda_x", -0.0371, "-model_lambda_z", -0.4886]),
                                     ("nvp_paper_table1.yaml", ["inputs/nvp_paper_table1.yaml"]))):
        out = f"{d}/t{i}.h5"
        pgtest.run(1, args + small + ["-output_file", out])
        r = pgtest.rows(out)[0]
        if abs(r["eps2_model"] - 0.2776) > 5e-4:
            bad.append(f"{tag}: Table 1 thresholds give eps2_model {r['eps2_model']}, expected 0.2776 +- 0.0005")
        if abs(pgtest.eq9(-0.0371, -0.4886, 0.15) - 0.2776) > 5e-4:
            bad.append(f"scipy eq. 9 at Table 1: {pgtest.eq9(-0.0371, -0.4886, 0.15)}")
    for i, (tag, args) in enumerate((("command line", [pgtest.TINY, "-model_m", 0.15, "-model_nvp_fraction", 0.5148, "-model_carbon_fraction", 0.3372]),
                                     ("nvp_paper.yaml", ["inputs/nvp_paper.yaml"]))):
        out = f"{d}/f{i}.h5"
        pgtest.run(1, args + small + ["-output_file", out])
        r = pgtest.rows(out)[0]
        if abs(r["lambda_z"] + 0.801) > 1e-3:
            bad.append(f"{tag}: lambda_z for eps2 = 0.3372 is {r['lambda_z']}, expected -0.801 +- 0.001")
        if abs(r["lambda_x"] + 0.0371) > 1e-4:
            bad.append(f"{tag}: lambda_x for eps1 = 0.5148 is {r['lambda_x']}, expected -0.0371 +- 0.0001")
    assert not bad, "\n".join(bad)


def test_sweep_and_common_random_numbers():
    """With common random numbers, a sweep of 2 points: the NVP phase is identical between the
    points of a realization, the carbon phase at the lower target is contained in that at the higher
    one, eps_2 increases with the target, and the seeds repeat across points. Without them the
    points are independent realizations (NVP phases differ)."""
    d = pgtest.workdir("crn")
    bad = []
    for crn in ("true", "false"):
        out = f"{d}/c_{crn}.h5"
        pgtest.run(2, [pgtest.TINY, "-sweep_carbon_fraction", "0.2,0.35", "-sweep_realizations", 2, "-sweep_common_random_numbers", crn,
                       "-output_file", out, "-output_write_fields", "false"] + pgtest.NOMEASURE)
        r = pgtest.rows(out)
        assert [x["eps2_target"] for x in r] == [0.2, 0.2, 0.35, 0.35], [x["eps2_target"] for x in r]
        assert [x["realization"] for x in r] == [0, 1, 0, 1], [x["realization"] for x in r]
        with h5py.File(out, "r") as f:
            for real in (0, 1):
                a = f[f"runs/{real:04d}/phase"][...]
                b = f[f"runs/{2 + real:04d}/phase"][...]
                lo, hi = r[real], r[2 + real]
                if crn == "true":
                    if not np.array_equal(a == 1, b == 1):
                        bad.append(f"realization {real}: NVP differs between sweep points under common random numbers ({int(((a == 1) != (b == 1)).sum())} voxels)")
                    if not ((a == 2) <= (b == 2)).all():
                        bad.append(f"realization {real}: carbon at eps2 = 0.2 is not contained in carbon at 0.35")
                    if not hi["eps_2"] > lo["eps_2"] or lo["eps_1"] != hi["eps_1"]:
                        bad.append(f"realization {real}: eps_2 {lo['eps_2']} -> {hi['eps_2']}, eps_1 {lo['eps_1']} -> {hi['eps_1']}")
                    if lo["seed"] != hi["seed"]:
                        bad.append(f"realization {real}: seeds {lo['seed']} and {hi['seed']} differ under common random numbers")
                else:
                    if np.array_equal(a == 1, b == 1) or lo["seed"] == hi["seed"]:
                        bad.append(f"realization {real}: without common random numbers the two points share their NVP phase or seed")
        if r[0]["seed"] == r[1]["seed"]:
            bad.append(f"crn {crn}: realizations 0 and 1 have the same seed")
    assert not bad, "\n".join(bad)
