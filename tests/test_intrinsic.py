#!/usr/bin/env python3
"""Intrinsic volumes (src/intrinsic.c): volume fractions, surface areas, interface areas and Euler
characteristics (6- and 26-connectivity), through the C driver bin/test_intrinsic at 1, 2 and 3
ranks and through the program (image input, CSV columns).

  * Crofton weights: equal to scipy's SphericalVoronoi areas of the 26 directions (an independent
    implementation), for cubic and rectangular voxels; cubic ones equal to 2 gamma_i of Ohser &
    Schladitz.
  * balls R = 10, 20, 40 (surface within 2 % of 4 pi R^2 at R = 40; errors at 10, 20 reported),
    chi = 1; hollow ball chi = 2; solid torus chi = 0; a ball on rectangular voxels.
  * a periodic layered slab: its planes are measured as f = 2 sum_i w_i |u_i . e_z| times their
    true area (f = 0.9266: the Crofton estimator with isotropic weights is unbiased for isotropic
    structures, not for one fixed orientation), S_ij from the pairwise formula, chi = 0.
  * an independent serial reference in numpy (no histogram: shifted arrays, transitions counted per
    direction, chi as vertices - edges + faces - cubes of the two cell complexes) equal to the
    distributed result to rounding at 1, 2, 3 ranks, 2 threads, uneven and empty slabs, periodic
    or not, cubic or rectangular voxels; the duality chi26(A) = chi6(not A) on periodic grids.
  * the excursion sets of the program's Gaussian field X (rho(h) = exp(-(alpha h)^2)) against the
    Rice formula and the Adler-Taylor Euler characteristic density (derivation in
    test_gaussian_excursion_sets), measured by the numpy reference and checked equal to the C
    module on the same labels.
  * bad input: labels outside {1,2,3}, a non-periodic grid of one plane.

Runs standalone: `/usr/bin/python3 tests/test_intrinsic.py` prints PASS/FAIL per test and
`N passed, N failed` (needs `make all tests`)."""
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402

DIRS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1], [0, 1, -1],
                 [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], dtype=int)
# Ohser & Schladitz (2009), weights gamma_i of the 13 directions of the cubic lattice (sum 1/2)
GAMMA_CUBIC = (0.04577789120476, 0.03698062787608, 0.03519563978232)


def crofton_weights(voxel=(1.0, 1.0, 1.0)):
    """Solid-angle fractions of the spherical Voronoi cells of +-u_i (scipy), summed per pair."""
    from scipy.spatial import SphericalVoronoi
    U = DIRS * np.array(voxel, float)
    L = np.linalg.norm(U, axis=1)
    P = np.vstack([U / L[:, None], -U / L[:, None]])
    a = SphericalVoronoi(P).calculate_areas() / (4 * np.pi)
    return a[:13] + a[13:], L


def reference(lab, phase, voxel=(1.0, 1.0, 1.0), periodic=True):
    """Serial reference by direct counting on shifted arrays (no configuration histogram). Arrays are
    [z][y][x]; voxel is (x, y, z) in um. Non-periodic: cells fully inside, anchors 0..n-2."""
    A = (lab == phase).astype(np.int64)
    nz, ny, nx = A.shape

    def sh(dx, dy, dz):  # the voxel at anchor + (dx, dy, dz), for every anchor
        B = np.roll(A, (-dz, -dy, -dx), axis=(0, 1, 2))
        return B if periodic else B[: nz - 1, : ny - 1, : nx - 1]

    ncell = A.size if periodic else (nx - 1) * (ny - 1) * (nz - 1)
    b = {(i, j, k): sh(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)}
    w, L = crofton_weights(voxel)
    S = 0.0
    for d, wi, li in zip(DIRS, w, L):  # pairs (a, a + d) inside the cell
        a = tuple(0 if s >= 0 else 1 for s in d)
        c = tuple(ai + s for ai, s in zip(a, d))
        S += 2 * wi * (b[a] != b[c]).sum() / (ncell * li)
    # 6-connected: V - E + F - C of the complex on voxel centres, each element at its lowest voxel
    o = b[0, 0, 0]
    e6 = (o.sum() - (o * b[1, 0, 0]).sum() - (o * b[0, 1, 0]).sum() - (o * b[0, 0, 1]).sum()
          + (o * b[1, 0, 0] * b[0, 1, 0] * b[1, 1, 0]).sum() + (o * b[1, 0, 0] * b[0, 0, 1] * b[1, 0, 1]).sum()
          + (o * b[0, 1, 0] * b[0, 0, 1] * b[0, 1, 1]).sum() - np.prod([b[k] for k in b], axis=0).sum())
    # 26-connected: vertices - edges + faces - cubes of the union of closed voxel cubes, each element
    # at the lattice vertex of its lowest corner (the centre of the cell)
    anyof = lambda keys: np.max([b[k] for k in keys], axis=0)  # noqa: E731
    verts = anyof(list(b)).sum()
    edges = sum(anyof([k for k in b if k[ax] == 1]).sum() for ax in range(3))
    faces = sum(anyof([k for k in b if k[p] == 1 and k[q] == 1]).sum() for p, q in ((0, 1), (0, 2), (1, 2)))
    e26 = verts - edges + faces - b[1, 1, 1].sum()
    cell = float(np.prod(voxel))
    return dict(V=o.sum() / ncell, S=S, chi6=e6 / (ncell * cell), chi26=e26 / (ncell * cell))


def run_driver(np_, shape_zyx, args, voxel=(1.0, 1.0, 1.0), periodic=False, threads=1):
    a = ["-n", cdriver.shape_arg(shape_zyx), "-voxel", ",".join(map(str, voxel)), "-threads", threads] + list(args)
    if periodic:
        a.append("-periodic")
    return cdriver.values(cdriver.run(np_, "test_intrinsic", a))


def driver_on(d, lab, np_, name, **kw):
    path = os.path.join(d, name + ".u8")
    cdriver.write_u8(path, lab)
    return run_driver(np_, lab.shape, ["-in", path], **kw)


def measure_program(d, lab, voxel=(1.0, 1.0, 1.0), np_=2, periodic=False, name="img"):
    """The program's CSV row for an image (the measure stage around PgIntrinsicCompute)."""
    img = os.path.join(d, name + ".h5")
    with h5py.File(img, "w") as f:
        f.create_dataset("labels", data=lab).attrs["voxel_size_um"] = list(voxel)
    out = os.path.join(d, name + "_m.h5")
    pgtest.run(np_, ["-input_image", img + ":/labels", "-output_file", out, "-output_overwrite", "-measure_covariance", "false",
                     "-measure_periodic", "true" if periodic else "false"] + pgtest.TRANSPORT_OFF)
    return pgtest.rows(out)[0]


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def test_crofton_weights():
    bad = []
    for voxel in ((1.0, 1.0, 1.0), (0.7, 1.0, 1.3), (0.02, 0.03, 0.025)):
        got = np.array(run_driver(1, (3, 3, 3), ["-shape", "slab", "-planes", "0,1,2", "-weights"], voxel=voxel)["weights"])
        ref, _ = crofton_weights(voxel)
        if abs(got.sum() - 1) > 1e-12 or np.abs(got - ref).max() > 1e-9:
            bad.append(f"voxel {voxel}: weights {got} vs scipy {ref}")
        if voxel == (1.0, 1.0, 1.0):
            lit = 2 * np.repeat(GAMMA_CUBIC, (3, 6, 4))
            if np.abs(got - lit).max() > 1e-12:
                bad.append(f"cubic weights {got} vs Ohser & Schladitz {lit}")
    assert not bad, "\n".join(bad)


def test_ball_shell_torus():
    """Non-periodic, the shape inside with a margin of 4 voxels; chi exact, S of the ball vs 4 pi R^2."""
    bad, report = [], []
    for R in (10, 20, 40):
        n = 2 * R + 8
        for np_, per in ((2, False), (3, True)):
            r = run_driver(np_, (n, n, n), ["-shape", "ball", "-radius", R], periodic=per)
            W = r["window_um3"][0]
            err = r["S"][0] * W / (4 * np.pi * R * R) - 1
            if not per:
                report.append(f"R={R}: {err:+.4f}")
            if abs(err) > (0.02 if R == 40 else 0.05):
                bad.append(f"ball R={R} periodic={per}: surface error {err:+.4f}")
            for key in ("chi6", "chi26"):
                if abs(r[key][0] * W - 1) > 1e-9:
                    bad.append(f"ball R={R} periodic={per}: {key} = {r[key][0] * W}, expected 1")
    print("     ball surface error " + ", ".join(report))
    # ball of radius 20 um on rectangular voxels 0.8 x 1 x 1.25 um (the same physical object)
    r = run_driver(2, (40, 48, 58), ["-shape", "ball", "-radius", 20], voxel=(0.8, 1.0, 1.25))
    err = r["S"][0] * r["window_um3"][0] / (4 * np.pi * 400) - 1
    print(f"     ball R=20 um on 0.8 x 1 x 1.25 um voxels: surface error {err:+.4f}")
    if abs(err) > 0.03 or abs(r["chi6"][0] * r["window_um3"][0] - 1) > 1e-9:
        bad.append(f"anisotropic ball: surface error {err:+.4f}, chi6 {r['chi6'][0] * r['window_um3'][0]}")
    # hollow ball: shell of phase 1 (12 < r <= 20) around a cavity of phase 2
    for np_ in (1, 3):
        r = run_driver(np_, (48, 48, 48), ["-shape", "ball", "-radius", 20, "-inner", 12])
        W = r["window_um3"][0]
        got = [r["chi6"][0] * W, r["chi26"][0] * W, r["chi6"][1] * W, r["chi26"][1] * W]
        if np.abs(np.array(got) - [2, 2, 1, 1]).max() > 1e-9:
            bad.append(f"hollow ball np={np_}: chi shell {got[:2]} (expected 2), cavity {got[2:]} (expected 1)")
    # solid torus, major radius 16, minor 6, in the x-y plane
    for np_ in (1, 2, 3):
        r = run_driver(np_, (24, 48, 48), ["-shape", "torus", "-radius", 16, "-inner", 6])
        W = r["window_um3"][0]
        if abs(r["chi6"][0] * W) > 1e-9 or abs(r["chi26"][0] * W) > 1e-9:
            bad.append(f"torus np={np_}: chi {r['chi6'][0] * W}, {r['chi26'][0] * W}, expected 0")
    assert not bad, "\n".join(bad)


def test_slab_and_interfaces():
    """Periodic z-layers 3 | 1 | 2 | 3 on 0.5 um voxels. Every layer boundary is a plane of area
    nx ny voxel faces; the Crofton estimator measures it as f = 2 sum_i w_i |u_i . e_z| times that,
    exactly (each direction with a z-step has one transition per anchor column and plane). So
    S_i = 2 f / (nz dz), S_ij = f / (nz dz); chi = 0 for each layer on the 3-torus; V exact."""
    nz, ny, nx, vox = 24, 16, 20, 0.5
    w, L = crofton_weights()
    U = DIRS / L[:, None]
    f = 2 * (w * np.abs(U[:, 2])).sum()
    A = 1 / (nz * vox)  # one plane of the grid's cross-section per unit volume (1/um)
    bad = []
    for np_ in (1, 2, 3):
        r = run_driver(np_, (nz, ny, nx), ["-shape", "slab", "-planes", "4,12,18"], voxel=(vox,) * 3, periodic=True)
        expect = dict(S=[2 * A * f] * 3, S_pair=[A * f] * 3, V=[8 / 24, 6 / 24, 10 / 24], chi6=[0] * 3, chi26=[0] * 3)
        for k, v in expect.items():
            if not all(abs(g - e) <= 1e-12 * max(1, abs(e)) for g, e in zip(r[k], v)):
                bad.append(f"np={np_}: {k} = {r[k]}, expected {v}")
    assert abs(f - 0.92662) < 1e-5, f"axis-plane response {f}"
    assert not bad, "\n".join(bad)


def smooth_labels(shape, seed, lo=-0.6, hi=0.4):
    """Blurred noise thresholded into three phases, so that all configurations occur."""
    g = np.random.default_rng(seed).standard_normal(shape)
    for ax in range(3):
        g = g + np.roll(g, 1, axis=ax)
    return np.where(g > hi, 1, np.where(g < lo, 2, 3)).astype(np.uint8)


def test_against_serial_reference_at_1_2_3_ranks():
    d = pgtest.workdir("intrinsic_ref")
    bad = []
    cases = [((11, 13, 9), (1.0, 1.0, 1.0), True), ((11, 13, 9), (0.02, 0.03, 0.025), False), ((10, 8, 12), (1.0, 1.0, 1.0), False),
             ((4, 9, 7), (1.0, 1.0, 1.0), True), ((4, 9, 7), (0.7, 1.0, 1.3), False),  # 3 ranks: slabs 2, 2, 0
             ((5, 6, 6), (1.0, 1.0, 1.0), False), ((2, 5, 5), (1.0, 1.0, 1.0), False)]  # 2, 2, 1 and 1, 1, 0
    for c, (shape, voxel, periodic) in enumerate(cases):
        lab = smooth_labels(shape, 7 + c)
        refs = [reference(lab, p, voxel, periodic) for p in (1, 2, 3)]
        for np_, threads in ((1, 1), (2, 1), (3, 2)) + (((1, 2), (3, 1)) if c < 2 else ()):
            r = driver_on(d, lab, np_, f"ref{c}", voxel=voxel, periodic=periodic, threads=threads)
            for p, ref in enumerate(refs):
                for key in ("V", "S", "chi6", "chi26"):
                    if not close(r[key][p], ref[key]):
                        bad.append(f"{shape} voxel={voxel} periodic={periodic} np={np_} threads={threads}: {key}_{p + 1} {r[key][p]:.15g} vs reference {ref[key]:.15g}")
            Sp = [(r["S"][0] + r["S"][1] - r["S"][2]) / 2, (r["S"][0] + r["S"][2] - r["S"][1]) / 2, (r["S"][1] + r["S"][2] - r["S"][0]) / 2]
            if not all(close(a, b) for a, b in zip(r["S_pair"], Sp)):
                bad.append(f"{shape} np={np_}: S_pair {r['S_pair']} vs {Sp}")
    assert not bad, "\n".join(bad[:20])


def test_duality_periodic():
    """On the 3-torus the complement U of the union K of closed cubes of A retracts onto the 6-complex
    of the complement, and chi(K) = chi(U) (chi(T^3) = chi(K) + chi_c(U), chi_c(U) = -chi(U) for an
    open 3-manifold): chi26(A) = chi6(not A). Two phases (1 and 3), so not 1 = 3."""
    d = pgtest.workdir("intrinsic_dual")
    bad = []
    for seed, hi in ((1, 0.0), (2, 1.0), (3, -1.0)):
        lab = np.where(smooth_labels((16, 14, 12), seed, lo=-99, hi=hi) == 1, 1, 3).astype(np.uint8)
        r = driver_on(d, lab, 2, f"dual{seed}", periodic=True)
        W = r["window_um3"][0]
        a, b = r["chi26"][0] * W, r["chi6"][2] * W
        c, e = r["chi6"][0] * W, r["chi26"][2] * W
        if abs(a - b) > 1e-9 or abs(c - e) > 1e-9:
            bad.append(f"seed {seed}: chi26(1) = {a:.0f}, chi6(3) = {b:.0f}; chi6(1) = {c:.0f}, chi26(3) = {e:.0f}")
        if abs(a - c) < 0.5:
            bad.append(f"seed {seed}: chi6 = chi26 = {a}: the volume does not tell the connectivities apart")
    assert not bad, "\n".join(bad)


def test_gaussian_excursion_sets():
    """Excursion sets {X >= lambda} of the program's field X, rho(h) = exp(-(alpha h)^2), unit variance.

    Surface (Rice): along a line, X(t) is stationary with Var X'(t) = lambda2 = -rho''(0) = 2 alpha^2.
    Rice's formula gives the mean number of up-crossings of lambda per unit length,
    sqrt(lambda2) / (2 pi) exp(-lambda^2 / 2); crossings (up and down) P_L = sqrt(lambda2) / pi e^{..}.
    For an isotropic set S_V = 2 P_L (Crofton: E|cos| = 1/2), so
        S_V = (2 / pi) sqrt(2) alpha exp(-lambda^2 / 2).
    Euler characteristic (Adler & Taylor 2007, Gaussian kinematic formula; Worsley 1996): for an
    isotropic unit-variance field on R^3 with Var dX/dx_i = lambda2, the density of chi of the
    excursion set is the EC density rho_3(lambda) = lambda2^{3/2} (2 pi)^{-2} H_2(lambda) e^{-lambda^2/2}
    with the Hermite polynomial H_2(lambda) = lambda^2 - 1, i.e.
        chi_V = (2 alpha^2)^{3/2} / (2 pi)^2 (lambda^2 - 1) exp(-lambda^2 / 2).
    Digitisation: a pair of voxels r apart differs with probability 2 (eps - C(r)) =
    2 int_rho(r)^1 phi2(lambda, lambda, g) dg, which gives the exact expectation of the digital
    surface estimator (digital_surface_expectation); it lies below S_V by about 1.4 % (lambda = 0) to
    2.8 % (lambda = 1.5) at alpha dx = 0.2.

    Part 1, one realization with its field written: X thresholded here at lambda = 0 and 1.5,
    measured by the numpy reference and by the C module (raw labels, 3 ranks), equal to rounding;
    the program's own phase 1 (= {X >= lambda_X}) and CSV columns equal to the numpy reference.
    Part 2, R = 8 realizations of 128^3 (alpha dx = 0.2) per lambda in {-1.5, 0, 1, 1.5}, phase 1
    of the model (nvp_fraction = 1 - Phi(lambda)) measured by the program: mean S within 4.5
    standard errors of the digital expectation, and within 3 % of the Rice S_V for |lambda| <= 1
    (at 1.5 the digital expectation itself is 2.8 % below Rice); mean chi6 and chi26 each
    within 4.5 standard errors plus 5 % of |chi_V(0)| of Adler-Taylor."""
    from scipy.stats import norm
    d = pgtest.workdir("intrinsic_gauss")
    alpha, ad, n, R = 15.0, 0.2, 128, 8
    vox = ad / alpha
    base = [pgtest.TINY, "-domain_shape", f"{n},{n},{n}", "-domain_voxel_size_um", vox, "-model_alpha_x", alpha, "-model_alpha_y", 30,
            "-model_carbon_fraction", 0.05, "-measure_covariance", "false", "-output_overwrite", "-random_seed", 99]
    bad, lines = [], []
    # part 1
    out = os.path.join(d, "g1.h5")
    pgtest.run(2, base + ["-sweep_realizations", 1, "-output_file", out, "-output_write_fields", "true", "-output_write_phase", "true",
                          "-output_precision", "double", "-model_nvp_fraction", 0.5] + pgtest.TRANSPORT_OFF)
    row = pgtest.rows(out)[0]
    with h5py.File(out, "r") as f:
        X = f["runs/0000/X"][...]
        phase = f["runs/0000/phase"][...]
    ref = reference(phase, 1, (vox,) * 3, periodic=True)
    for key, col in (("S", "S_1"), ("chi6", "chi_1"), ("chi26", "chi26_1")):
        if not close(row[col], ref[key], 1e-9):
            bad.append(f"program {col} {row[col]:.12g} vs numpy reference {ref[key]:.12g}")
    for lam in (0.0, 1.5):
        lab = np.where(X >= lam, 1, 3).astype(np.uint8)
        ref = reference(lab, 1, (vox,) * 3, periodic=True)
        r = driver_on(d, lab, 3, "gx", voxel=(vox,) * 3, periodic=True)
        for key in ("V", "S", "chi6", "chi26"):
            if not close(r[key][0], ref[key], 1e-11):
                bad.append(f"lambda={lam}: C {key} {r[key][0]:.15g} vs numpy reference {ref[key]:.15g}")
    # part 2
    l2 = 2 * alpha ** 2
    chi_scale = l2 ** 1.5 / (2 * np.pi) ** 2
    for lam in (-1.5, 0.0, 1.0, 1.5):
        out = os.path.join(d, f"g{lam}.h5")
        pgtest.run(2, base + ["-sweep_realizations", R, "-output_file", out, "-output_write_fields", "false", "-output_write_phase", "false",
                              "-model_nvp_fraction", 1 - norm.cdf(lam)] + pgtest.TRANSPORT_OFF)
        a = np.array([(r["S_1"], r["chi_1"], r["chi26_1"]) for r in pgtest.rows(out)])
        m, se = a.mean(0), a.std(0, ddof=1) / np.sqrt(len(a))
        S_true = 2 / np.pi * np.sqrt(l2) * np.exp(-lam ** 2 / 2)
        S_dig = digital_surface_expectation(lam, alpha, vox)
        chi_true = chi_scale * (lam ** 2 - 1) * np.exp(-lam ** 2 / 2)
        lines.append(f"lambda={lam:+.1f}: S {m[0]:.3f} +- {se[0]:.3f} 1/um (Rice {S_true:.3f}: {m[0] / S_true - 1:+.4f}; digital "
                     f"{S_dig:.3f}: {m[0] / S_dig - 1:+.4f}); chi6 {m[1]:.0f} +- {se[1]:.0f}, chi26 {m[2]:.0f} +- {se[2]:.0f} "
                     f"(Adler-Taylor {chi_true:.0f}) 1/um^3")
        if abs(lam) <= 1 and abs(m[0] / S_true - 1) > 0.03:
            bad.append(f"lambda={lam}: S_V {m[0]:.4f} vs Rice {S_true:.4f} ({m[0] / S_true - 1:+.4f})")
        if abs(m[0] - S_dig) > 4.5 * se[0]:
            bad.append(f"lambda={lam}: S_V {m[0]:.4f} +- {se[0]:.4f} vs exact digital expectation {S_dig:.4f}")
        for j, name in ((1, "chi6"), (2, "chi26")):
            if abs(m[j] - chi_true) > 4.5 * se[j] + 0.05 * chi_scale:
                bad.append(f"lambda={lam}: {name} {m[j]:.1f} +- {se[j]:.1f} vs Adler-Taylor {chi_true:.1f}")
    print("     " + "\n     ".join(lines))
    assert not bad, "\n".join(bad)


def digital_surface_expectation(lam, alpha, dx):
    """Exact expectation of the digital Crofton estimator on {X >= lam} of the lattice field."""
    w, L = crofton_weights()
    S = 0.0
    for wi, li in zip(w, L):
        rho = np.exp(-(alpha * li * dx) ** 2)
        T = 2 * (pgtest.phi2_integral(lam, 1 - 1e-15) - pgtest.phi2_integral(lam, rho))
        S += 2 * wi * T / (li * dx)
    return S


def test_program_columns_equal_module():
    """The program's CSV columns (measure stage, image input) equal the driver's values."""
    d = pgtest.workdir("intrinsic_program")
    lab = smooth_labels((12, 10, 14), 5)
    bad = []
    for periodic in (False, True):
        row = measure_program(d, lab, voxel=(0.5, 0.5, 0.5), np_=3, periodic=periodic, name=f"p{int(periodic)}")
        r = driver_on(d, lab, 2, "p", voxel=(0.5, 0.5, 0.5), periodic=periodic)
        for p in range(3):
            for col, key in ((f"S_{p + 1}", "S"), (f"chi_{p + 1}", "chi6"), (f"chi26_{p + 1}", "chi26")):
                if not close(row[col], r[key][p], 1e-9):
                    bad.append(f"periodic={periodic}: {col} {row[col]} vs module {r[key][p]}")
        for j, col in enumerate(("S_12", "S_13", "S_23")):
            if not close(row[col], r["S_pair"][j], 1e-9):
                bad.append(f"periodic={periodic}: {col} {row[col]} vs module {r['S_pair'][j]}")
    assert not bad, "\n".join(bad)


def test_real_image_berea():
    """A real segmented micro-CT volume (Berea sandstone, labels 1 = solid, 3 = pore, 5.345 um,
    tests/data): the whole 400^3 volume read by the program with the file's own voxel size, porosity
    equal to the voxel count and the intrinsic-volume columns equal to the C module on the same
    labels (raw file, 3 ranks); on a 48^3 crop, every intrinsic volume equal to the numpy reference."""
    path = os.path.join(pgtest.ROOT, "tests", "data", "berea.h5")
    assert os.path.exists(path), f"{path} missing"
    d = pgtest.workdir("intrinsic_berea")
    with h5py.File(path, "r") as f:
        lab = f["phase"][...]
        vox = (float(np.atleast_1d(f["phase"].attrs["voxel_size_um"])[0]),) * 3
    crop = lab[100:148, 200:248, 50:98].copy()
    out = os.path.join(d, "b.h5")
    pgtest.run(2, ["-input_image", path + ":/phase", "-output_file", out] + pgtest.NOMEASURE + ["-measure_intrinsic", "true"])
    row = pgtest.rows(out)[0]
    assert abs(row["eps_3"] - (lab == 3).mean()) < 1e-9 and row["eps_2"] == 0, (row["eps_3"], (lab == 3).mean())
    r = driver_on(d, lab, 3, "whole", voxel=vox)
    print(f"     Berea 400^3: porosity {r['V'][2]:.4f}, S_13 {r['S_pair'][1] * 1e3:.2f} 1/mm, chi6/chi26 per mm^3: solid "
          f"{r['chi6'][0] * 1e9:.0f}/{r['chi26'][0] * 1e9:.0f}, pore {r['chi6'][2] * 1e9:.0f}/{r['chi26'][2] * 1e9:.0f}")
    for p in (1, 3):
        for col, key in ((f"S_{p}", "S"), (f"chi_{p}", "chi6"), (f"chi26_{p}", "chi26")):
            assert close(row[col], r[key][p - 1], 1e-9), f"whole volume {col}: program {row[col]} vs module {r[key][p - 1]}"
    got = driver_on(d, crop, 3, "crop", voxel=vox)
    for p in (1, 3):
        ref = reference(crop, p, vox, periodic=False)
        for key in ("V", "S", "chi6", "chi26"):
            assert close(got[key][p - 1], ref[key], 1e-11), f"crop {key}_{p}: {got[key][p - 1]} vs {ref[key]}"


def test_bad_input():
    """Labels outside {1,2,3} and a non-periodic grid with one plane are refused with a message."""
    d = pgtest.workdir("intrinsic_bad")
    bad = []
    for val in (0, 7):
        lab = smooth_labels((6, 5, 4), 3)
        lab[5, 4, 3] = val  # the very last voxel: only the top plane's cells see it
        path = os.path.join(d, f"bad{val}.u8")
        cdriver.write_u8(path, lab)
        p = subprocess.run(["mpirun", "--oversubscribe", "-np", "3", cdriver.driver("test_intrinsic"), "-n", "4,5,6", "-in", path],
                           env=pgtest.mpi_env(), capture_output=True, text=True, timeout=120)
        if p.returncode == 0 or "outside {1,2,3}" not in p.stdout + p.stderr:
            bad.append(f"label {val}: exit {p.returncode}, {(p.stdout + p.stderr)[-300:]}")
    p = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", cdriver.driver("test_intrinsic"), "-n", "8,8,1", "-shape", "slab", "-planes", "0,1,1"],
                       env=pgtest.mpi_env(), capture_output=True, text=True, timeout=120)
    if p.returncode == 0 or "at least 2 voxels" not in p.stdout + p.stderr:
        bad.append(f"one plane: exit {p.returncode}, {(p.stdout + p.stderr)[-300:]}")
    assert not bad, "\n".join(bad)


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
