"""Volume fractions against eqs. 6 and 9, and eq. 9 against Monte Carlo.

Tolerances (4.5 sigma, averages over R realizations):
* eps1: Var(eps1_hat) = (1/N) sum_h [C11(h) - eps1^2] with C11(h) - eps1^2 = int_0^rho(h) phi2 (eq. 7
  without its misprinted 1/(2 pi)), summed exactly over the torus (tabulated in rho).
* eps2, eps3: the indicators are functions of the Gaussian vectors (X, Y) at two points; by
  Gebelein's inequality their correlation is at most the maximal correlation of the pair, which
  for independent X and Y is max(rho_X(h), rho_Y(h)). Hence
  Var(eps_hat) <= eps (1 - eps) / N * sum_h max(rho_X, rho_Y), a rigorous bound."""
import numpy as np
from scipy.stats import norm

import pgtest


def eps1_sigma(shape, voxel, alpha, lam):
    _, _, c1 = pgtest.gauss_sums(shape, voxel, alpha)
    rho = np.einsum("i,j,k->ijk", c1[2], c1[1], c1[0]).ravel()
    grid = np.linspace(0, 1, 2001)
    table = np.array([pgtest.phi2_integral(lam, g) for g in grid])
    N = rho.size
    return np.sqrt(np.interp(rho, grid, table).sum() / N)


def test_volume_fractions_paper_model():
    d = pgtest.workdir("fractions")
    shape, voxel, ax, ay, R = (96, 96, 96), (0.0166,) * 3, 16.6, 26.5, 3
    out = f"{d}/p.h5"
    pgtest.run(2, [pgtest.TINY, "-domain_shape", "96,96,96", "-sweep_realizations", R, "-output_file", out,
                   "-output_write_fields", "false", "-random_seed", 5])
    r = pgtest.rows(out)
    assert len(r) == R
    e1 = np.mean([x["eps_1"] for x in r])
    e2 = np.mean([x["eps_2"] for x in r])
    e3 = np.mean([x["eps_3"] for x in r])
    lx = r[0]["lambda_x"]
    assert abs(lx - norm.ppf(1 - 0.5148)) < 1e-9, f"lambda_x {lx}"
    assert abs(r[0]["eps2_model"] - 0.3372) < 1e-9, f"eps2_model {r[0]['eps2_model']}"
    s1 = eps1_sigma(shape, voxel, ax, lx) / np.sqrt(R)
    sx, _, _ = pgtest.gauss_sums(shape, voxel, ax)
    N = np.prod(shape)
    bound = lambda e: np.sqrt(e * (1 - e) * sx / N / R)  # rho_X >= rho_Y here: max is rho_X
    bad = []
    for name, est, target, sig in (("eps_1", e1, 0.5148, s1), ("eps_2", e2, 0.3372, bound(0.3372)), ("eps_3", e3, 1 - 0.5148 - 0.3372, bound(0.148))):
        if abs(est - target) > 4.5 * sig:
            bad.append(f"{name} = {est:.5f}, expected {target:.5f} +- {sig:.2g} (4.5 sigma)")
    assert abs(e1 + e2 + e3 - 1) < 1e-12
    assert not bad, "\n".join(bad)


def test_eq9_quadrature_and_monte_carlo():
    """The C code's eq. 9 (CSV eps2_model) equals an independent scipy quadrature to 1e-8 and a
    Monte Carlo estimate from 4e6 normal pairs to 4.5 binomial sigma, at several (m, lambda_Z)."""
    d = pgtest.workdir("eq9")
    rng = np.random.default_rng(2023)
    n = 4_000_000
    X = rng.standard_normal(n)
    Y = rng.standard_normal(n)
    bad = []
    for m, lz in ((0.15, -0.4886), (0.15, -0.8), (0.0, 0.3), (0.6, -1.2), (1.0, -0.5)):
        out = f"{d}/m{m}_{lz}.h5"
        pgtest.run(1, [pgtest.TINY, "-domain_shape", "8,8,8", "-sweep_realizations", 1, "-model_m", m, "-model_lambda_x", -0.0371,
                       "-model_lambda_z", lz, "-output_file", out, "-output_write_fields", "false"])
        e2 = pgtest.rows(out)[0]["eps2_model"]
        ref = pgtest.eq9(-0.0371, lz, m)
        Z = np.sqrt(m) * X + np.sqrt(1 - m) * Y
        mc = np.mean((X < -0.0371) & (Z >= lz))
        sig = np.sqrt(mc * (1 - mc) / n)
        if abs(e2 - ref) > 1e-8:
            bad.append(f"m={m} lz={lz}: C eq.9 {e2:.10f} vs scipy {ref:.10f}")
        if abs(e2 - mc) > 4.5 * sig:
            bad.append(f"m={m} lz={lz}: eq.9 {e2:.5f} vs Monte Carlo {mc:.5f} +- {sig:.2g}")
    assert not bad, "\n".join(bad)


def test_table1_thresholds():
    """Table 1's lambda_Z = -0.4886 gives eps2 = 0.2776 at m = 0.15; eps2 = 0.3372 needs -0.801."""
    d = pgtest.workdir("table1")
    out = f"{d}/t.h5"
    pgtest.run(1, ["inputs/nvp_paper_table1.yaml", "-domain_shape", "16,16,16", "-sweep_realizations", 1, "-output_file", out])
    r = pgtest.rows(out)[0]
    assert abs(r["eps2_model"] - 0.2776) < 5e-4, f"Table 1 eps2 {r['eps2_model']}"
    out = f"{d}/f.h5"
    pgtest.run(1, ["inputs/nvp_paper.yaml", "-domain_shape", "16,16,16", "-sweep_realizations", 1, "-output_file", out])
    r = pgtest.rows(out)[0]
    assert abs(r["lambda_z"] + 0.801) < 1e-3, f"lambda_z for eps2 = 0.3372: {r['lambda_z']}"
    assert abs(r["lambda_x"] + 0.0371) < 1e-4, f"lambda_x for eps1 = 0.5148: {r['lambda_x']}"


def test_sweep_and_common_random_numbers():
    """A sweep gives one lambda_Z per point; with common random numbers the NVP phase is identical
    across points of a realization and the carbon phase grows with the target."""
    import h5py
    d = pgtest.workdir("crn")
    out = f"{d}/c.h5"
    pgtest.run(2, [pgtest.TINY, "-sweep_carbon_fraction", "0.2,0.35", "-sweep_realizations", 2, "-sweep_common_random_numbers", "true",
                   "-output_file", out, "-output_write_fields", "false"])
    r = pgtest.rows(out)
    assert [x["eps2_target"] for x in r] == [0.2, 0.2, 0.35, 0.35], [x["eps2_target"] for x in r]
    with h5py.File(out, "r") as f:
        for real in (0, 1):
            a = f[f"runs/{real:04d}/phase"][...]
            b = f[f"runs/{2 + real:04d}/phase"][...]
            assert np.array_equal(a == 1, b == 1), "NVP differs between sweep points under common random numbers"
            assert ((a == 2) <= (b == 2)).all(), "carbon at eps2 = 0.2 is not contained in carbon at 0.35"
    assert r[0]["seed"] == r[2]["seed"] and r[0]["seed"] != r[1]["seed"]
