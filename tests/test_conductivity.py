#!/usr/bin/env python3
"""The conduction problem (src/conductivity.c): M = sigma_eff / sigma_phase of one phase along
each axis, at 1, 2, 3 ranks and 5 ranks (one rank without planes).

References: exact discrete answers (a full phase: M = 1; straight channels of area fraction f
along the axis: M = f; an isolated blob and channels across the axis: M = 0, no solve) and a direct
solve (scipy.sparse.linalg.spsolve) of the same finite-volume system assembled independently here
from the definition in conductivity.h, on random three-phase volumes with anisotropic voxels and
insulating or periodic sides. The currents through inlet and outlet agree to the solver tolerance."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402


def run(v, ranks=(1, 2, 3), voxel=(1, 1, 1), extra=(), tag="c"):
    wd = pgtest.workdir("cond")
    path = os.path.join(wd, f"{tag}.u8")
    cdriver.write_u8(path, v)
    outs = []
    for np_ in ranks:
        out = cdriver.run(np_, "test_conductivity", ["-n", cdriver.shape_arg(v.shape), "-voxel", ",".join(map(str, voxel)), "-in", path] + list(extra))
        outs.append(cdriver.values(out))
    return outs


def reference_M(v, value, voxel, axis, periodic_sides=False):
    """Direct solve of the finite-volume system of conductivity.h (scipy)."""
    from scipy.ndimage import label
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve
    ph = v == value
    lab, _ = label(ph)  # 6-connected, non-periodic: the unknowns are the components touching both faces
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[2 - axis], hi[2 - axis] = 0, -1
    keep = np.intersect1d(np.unique(lab[tuple(lo)]), np.unique(lab[tuple(hi)]))
    keep = keep[keep > 0]
    act = np.isin(lab, keep)
    if not act.any():
        return 0.0, 0.0
    idx = -np.ones(v.shape, np.int64)
    idx[act] = np.arange(act.sum())
    n = int(act.sum())
    d = voxel
    g = [d[(e + 1) % 3] * d[(e + 2) % 3] / d[e] for e in range(3)]  # A / d per axis (x, y, z)
    gb = 2 * g[axis]
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    rhs = np.zeros(n)
    for e in range(3):
        ax = 2 - e  # numpy axis of physical axis e
        for s in (-1, 1):
            nb = np.roll(idx, -s, axis=ax)  # neighbour at +s along e
            edge = [slice(None)] * 3
            edge[ax] = -1 if s > 0 else 0
            valid = np.ones(v.shape, bool)
            if e == axis or not periodic_sides:
                valid[tuple(edge)] = False
            m = act & valid & (nb >= 0)
            rows.append(idx[m])
            cols.append(nb[m])
            vals.append(np.full(m.sum(), -g[e]))
            np.add.at(diag, idx[m], g[e])
            if e == axis:  # Dirichlet faces
                fm = np.zeros(v.shape, bool)
                fm[tuple(edge)] = True
                fm &= act
                np.add.at(diag, idx[fm], gb)
                if s < 0:
                    np.add.at(rhs, idx[fm], gb)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    phi = spsolve(A, rhs)
    out = [slice(None)] * 3
    out[2 - axis] = -1
    inl = [slice(None)] * 3
    inl[2 - axis] = 0
    f_out = gb * phi[idx[tuple(out)][act[tuple(out)]]].sum()
    f_in = gb * (1 - phi[idx[tuple(inl)][act[tuple(inl)]]]).sum()
    L = v.shape[2 - axis] * d[axis]
    area = np.prod([v.shape[2 - k] * d[k] for k in range(3) if k != axis])
    return f_out * L / area, f_in * L / area


def smooth_volume(shape, seed, lo=0.3, hi=0.6):
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    f = gaussian_filter(rng.standard_normal(shape), 1.5, mode="wrap")
    a, b = np.quantile(f, [lo, hi])
    return np.where(f > b, 1, np.where(f < a, 2, 3)).astype(np.uint8)


def test_full_phase_and_channels():
    """A full phase: M = 1 along x, y, z with anisotropic voxels; straight channels of area
    fraction f along z: M = f; the same channels across the axis (x, y): M = 0 without a solve; at
    1, 2, 3 ranks and at 5 ranks (nz = 8: one rank without planes)."""
    bad = []
    full = np.ones((12, 10, 9), np.uint8)
    for o in run(full, voxel=(1.0, 1.5, 0.7), extra=["-rtol", "1e-12"], tag="full"):
        for a in "xyz":
            if abs(o[f"M_{a}"][0] - 1) > 1e-9:
                bad.append(f"full phase M_{a} = {o[f'M_{a}'][0]}")
    ch = np.full((8, 10, 9), 3, np.uint8)
    ch[:, 2:5, 3:6] = 1   # 9 voxels
    ch[:, 7:9, 0:2] = 1   # 4 more: f = 13 / 90
    for o in run(ch, ranks=(1, 2, 3, 5), extra=["-rtol", "1e-12"], tag="chan"):
        if abs(o["M_z"][0] - 13 / 90) > 1e-9:
            bad.append(f"channels: M_z {o['M_z'][0]} vs {13 / 90}")
        for a in "xy":
            if o[f"M_{a}"][0] != 0 or o[f"M_{a}"][6] != 0:
                bad.append(f"channels across {a}: {o[f'M_{a}']}")
    assert not bad, "\n".join(bad)


def test_isolated_blob():
    """A blob touching no face: M = 0 along every axis, no solver failure (reason 0, converged)."""
    v = np.full((10, 10, 10), 3, np.uint8)
    v[3:7, 3:7, 3:7] = 1
    for o in run(v, tag="blob"):
        for a in "xyz":
            assert o[f"M_{a}"][0] == 0 and o[f"M_{a}"][5] == 0 and o[f"M_{a}"][6] == 0, o[f"M_{a}"]


def test_random_against_direct_solve():
    """Smooth random three-phase volumes (every phase and axis with insulating sides, the pores with
    periodic sides; anisotropic voxels) against scipy's direct solve of the same system: M to 1e-7 at
    rtol 1e-10, inlet and outlet currents equal to 1e-7. The default (multigrid on the labels, fused
    CG; two levels on this small volume) at 1, 2, 3 ranks, and its deepest hierarchy distributed
    (-cond_mg_coarse 1 -cond_mg_replicate 0: coarsened until every slab is one block, so the coarse
    levels' halos, the W-cycle, the replication of the stalled level and the coarsest LU are
    exercised) at 1, 2, 3 ranks; at 2 ranks the deepest hierarchy replicated on every rank from
    level 1, a V-cycle, PETSc's KSP with the multigrid as its preconditioner, strength-based
    aggregation; BoomerAMG and hypre PFMG (no periodic sides)."""
    bad = []
    v = smooth_volume((14, 13, 12), 3)
    voxel = (1.0, 0.8, 1.3)
    for periodic, values in ((False, (1, 2, 3)), (True, (3,))):  # periodic sides: the pores (the hardest)
        for value in values:
            extra = ["-value", value, "-rtol", "1e-10"] + (["-periodic_sides"] if periodic else [])
            tag = f"{value}{int(periodic)}"
            outs = run(v, voxel=voxel, extra=extra, tag=f"d{tag}")
            outs += run(v, voxel=voxel, extra=extra + ["-cond_mg_coarse", "1", "-cond_mg_replicate", "0"], tag=f"r{tag}")
            variants = [["-cond_mg_coarse", "1"], ["-cond_mg_coarse", "1", "-cond_mg_gamma", "1"], ["-cond_mg_coarse", "1", "-cond_mg_ksp"],
                        ["-cond_mg_coarse", "1", "-cond_mg_theta", "0.7"], ["-cond_method", "amg"]] + ([] if periodic else [["-cond_method", "pfmg"]])
            for k, var in enumerate(variants):
                outs += run(v, ranks=(2,), voxel=voxel, extra=extra + var, tag=f"v{k}{tag}")
            for a, name in enumerate("xyz"):
                ref, ref_in = reference_M(v, value, voxel, a, periodic)
                for k, o in enumerate(outs):
                    M, Min, diff = o[f"M_{name}"][:3]
                    if abs(M - ref) > 1e-7 * max(ref, 1e-3) + 1e-12 or abs(Min - ref) > 1e-7 * max(ref, 1e-3) + 1e-12 or diff > 1e-6:
                        bad.append(f"phase {value} axis {name} periodic {periodic} run {k}: M {M} / {Min} (diff {diff}) vs direct {ref} / {ref_in}")
    assert not bad, "\n".join(bad[:10])


def test_agglomerated_levels_against_direct_solve():
    """Agglomeration (coarse levels whose slabs are one block thick merge pairs of slabs, so that
    coarsening goes on across the old slab faces): a smooth random 12 x 11 x 40 volume with the
    deepest hierarchy (-cond_mg_coarse 1 -cond_mg_replicate 0) at 4, 5 and 7 ranks (pairs, an
    unpaired last rank, uneven slabs), every phase along z and x, the pores also with periodic sides
    (the slabs' chain closes into a ring for the x problem): M to 1e-7 of scipy's direct solve at
    rtol 1e-10, CG's iterations at most 4 more than on one rank (measured 0-3; a correction that
    does not return to the upper rank of a pair costs 5 to thousands), and -cond_mg_view shows the
    levels held by fewer and fewer ranks (the merges took place) down to a single rank."""
    bad = []
    v = smooth_volume((12, 11, 40), 5)
    wd = pgtest.workdir("cond")
    path = os.path.join(wd, "agglomerate.u8")
    cdriver.write_u8(path, v)
    for periodic, values in ((False, (1, 2, 3)), (True, (3,))):
        for value in values:
            refs = {a: reference_M(v, value, (1, 1, 1), a, periodic)[0] for a in (0, 2)}
            its1 = {}
            for np_ in (1, 4, 5, 7):
                args = ["-n", cdriver.shape_arg(v.shape), "-in", path, "-value", value, "-rtol", "1e-10", "-cond_mg_coarse", "1",
                        "-cond_mg_replicate", "0", "-cond_mg_view"] + (["-periodic_sides"] if periodic else [])
                out = cdriver.run(np_, "test_conductivity", args)
                held = [int(line.split(" on ")[1].split()[0]) for line in out.splitlines() if line.strip().startswith("level ")]
                if np_ > 1 and (not held or min(held) != 1 or max(held) < 4):
                    bad.append(f"phase {value} periodic {periodic}, {np_} ranks: levels held by {held} ranks (no agglomeration down to one)")
                o = cdriver.values(out)
                for a in (0, 2):
                    M = o[f"M_{'xyz'[a]}"][0]
                    if abs(M - refs[a]) > 1e-7 * max(refs[a], 1e-3) + 1e-12:
                        bad.append(f"phase {value} axis {'xyz'[a]} periodic {periodic}, {np_} ranks: M {M} vs direct {refs[a]}")
                    it = int(o[f"M_{'xyz'[a]}"][3])
                    its1.setdefault(a, it)
                    if it > its1[a] + 4:
                        bad.append(f"phase {value} axis {'xyz'[a]} periodic {periodic}: {it} iterations at {np_} ranks, {its1[a]} at 1")
    assert not bad, "\n".join(bad[:10])


def test_multigrid_iterations_bounded():
    """The multigrid is a good preconditioner, not only a correct one: on smooth random volumes of
    32^3 and 64^3 (the carbon-like phase, every axis; at 64^3 eight levels, the first three
    distributed and the others on every rank: -cond_mg_replicate 1000) CG needs at most 20 iterations
    for rtol 1e-8 at 1, 2 and 3 ranks (measured 12-16; a wrong coarse operator or halo costs far more:
    30-77 with the coarse halos switched off), the counts grow by at most 5 from 32^3 to 64^3, and M
    agrees across rank counts and with BoomerAMG to 1e-6."""
    bad = []
    its = {}
    for n in (32, 64):
        v = smooth_volume((n, n, n), 7)
        outs = run(v, extra=["-value", 2, "-rtol", "1e-8", "-cond_mg_coarse", "1", "-cond_mg_replicate", "1000"], tag=f"b{n}")
        ref = run(v, ranks=(2,), extra=["-value", 2, "-rtol", "1e-10", "-cond_method", "amg"], tag=f"a{n}")[0]
        for k, o in enumerate(outs):
            for name in "xyz":
                M, it = o[f"M_{name}"][0], int(o[f"M_{name}"][3])
                its[n, k, name] = it
                if it > 20 or o[f"M_{name}"][5] <= 0:
                    bad.append(f"{n}^3, {k + 1} ranks, axis {name}: {it} iterations, reason {o[f'M_{name}'][5]}")
                if abs(M - ref[f"M_{name}"][0]) > 1e-6 * ref[f"M_{name}"][0]:
                    bad.append(f"{n}^3, {k + 1} ranks, axis {name}: M {M} vs BoomerAMG {ref[f'M_{name}'][0]}")
    for k in range(3):
        for name in "xyz":
            if its[64, k, name] > its[32, k, name] + 5:
                bad.append(f"{k + 1} ranks, axis {name}: {its[32, k, name]} iterations at 32^3, {its[64, k, name]} at 64^3")
    assert not bad, "\n".join(bad)


def test_power_estimate_second_order():
    """M is computed from the dissipated power, which exceeds the true current by the squared energy
    norm of the error: on a smooth random 32^3 volume stopped early (rtol 1e-4, 6-7 iterations),
    every phase and axis at 1, 2, 3 ranks, M lies above the direct solve's (never below, up to
    rounding) and within 2e-5 of it, and its error is at most 1/30 of the worse of the currents
    through the outlet and the inlet of the same potential (measured: M 2e-7 to 7e-6, the currents
    2e-4 to 5e-3, at least 300 times more)."""
    bad = []
    v = smooth_volume((32, 32, 32), 7)
    for value in (1, 2, 3):
        outs = run(v, extra=["-value", value, "-rtol", "1e-4"], tag=f"p{value}")
        for a, name in enumerate("xyz"):
            ref, _ = reference_M(v, value, (1, 1, 1), a)
            for k, o in enumerate(outs):
                M, Min, Mout = o[f"M_{name}"][0], o[f"M_{name}"][1], o[f"M_{name}"][7]
                worst = max(abs(Min - ref), abs(Mout - ref))
                if M < ref * (1 - 1e-12) or M - ref > 2e-5 * ref or not worst > 30 * (M - ref):
                    bad.append(f"phase {value} axis {name} {k + 1} ranks: M {M} inlet {Min} outlet {Mout} direct {ref}")
    assert not bad, "\n".join(bad)


def test_m_tolerance_stops_early():
    """-cond_m_rtol (the deck's conductivity.m_rtol): CG stops once its energy estimate puts M's
    relative error below the tolerance, with reason PG_CONDUCTIVITY_CONVERGED_M (20). On a smooth
    random 40^3 volume, every phase and axis at 1, 2, 3 ranks, with the residual test out of reach
    (rtol 1e-12): M lies above the direct solve's (up to rounding) and within the tolerance of it
    for 1e-6 and 1e-4, and the solve takes fewer iterations than for rtol 1e-10 (measured: errors
    up to 0.6 of the tolerance, 5-8 iterations for 1e-6 against 15-22 for rtol 1e-10)."""
    bad = []
    v = smooth_volume((40, 40, 40), 11)
    for value in (1, 2, 3):
        full = run(v, ranks=(1,), extra=["-value", value, "-rtol", "1e-10"], tag=f"f{value}")[0]
        for mtol in (1e-6, 1e-4):
            outs = run(v, extra=["-value", value, "-rtol", "1e-12", "-cond_m_rtol", mtol], tag=f"m{value}")
            for a, name in enumerate("xyz"):
                ref, _ = reference_M(v, value, (1, 1, 1), a)
                if ref == 0:
                    continue
                for k, o in enumerate(outs):
                    M, its, reason = o[f"M_{name}"][0], int(o[f"M_{name}"][3]), int(o[f"M_{name}"][5])
                    if reason != 20 or M < ref * (1 - 1e-12) or M - ref > mtol * ref or its >= int(full[f"M_{name}"][3]):
                        bad.append(f"m_rtol {mtol} phase {value} axis {name} {k + 1} ranks: M {M} direct {ref} (rel {(M - ref) / ref:.2e}), "
                                   f"reason {reason}, {its} iterations against {int(full[f'M_{name}'][3])} for rtol 1e-10")
    assert not bad, "\n".join(bad)


def test_program_columns_and_unconverged_solve():
    """The program (tiny deck, 2 ranks): M_1..3 and M_over_M_pred_1..3 in the CSV are the means of
    the HDF5 tables over conductivity.axes, M / M_pred consistent; a solve forced to stop after one
    iteration (conductivity.solver_options) is reported: a warning line, reason < 0, M = NaN; the
    same with BoomerAMG (-cond_method amg in the deck)."""
    import h5py
    d = pgtest.workdir("cond_program")
    out = os.path.join(d, "t.h5")
    base = [pgtest.TINY, "-sweep_realizations", 1, "-measure_covariance", "false", "-measure_intrinsic", "false", "-output_write_fields", "false"]
    pgtest.run(2, base + ["-output_file", out, "-conductivity_axes", "xz"])
    row = pgtest.rows(out)[0]
    with h5py.File(out, "r") as f:
        dd = f["runs/0000/descriptors"]
        M, ratio, mp = dd["M"][()], dd["M_over_M_pred"][()], dd["M_pred"][()]
    for i in range(3):
        assert abs(row[f"M_{i + 1}"] - M[i, [0, 2]].mean()) < 1e-9, (row[f"M_{i + 1}"], M[i])
        assert M[i, 1] == 0, "axis y was not asked for"
        for a in (0, 2):
            if mp[i, a] > 0:
                assert abs(ratio[i, a] - M[i, a] / mp[i, a]) < 1e-12
        assert 0 < M[i, 2] < 1, M
    out2 = os.path.join(d, "u.h5")
    deck = os.path.join(d, "unconverged.yaml")  # an option string that starts with '-' belongs in the deck
    with open(pgtest.TINY) as f, open(deck, "w") as g:
        g.write(f.read() + '\nconductivity:\n  solver_options: "-cond_ksp_max_it 1 -cond_pc_type jacobi"\n  rtol: 1e-12\n')
    p = pgtest.run(2, [deck] + base[1:] + ["-output_file", out2])
    assert "did not converge" in p.stdout, p.stdout[-800:]
    row = pgtest.rows(out2)[0]
    assert np.isnan(row["M_1"]), row["M_1"]
    with h5py.File(out2, "r") as f:
        assert (f["runs/0000/descriptors/cond_reason"][()][:, 2] < 0).all()
    out3 = os.path.join(d, "a.h5")
    deck3 = os.path.join(d, "unconverged_amg.yaml")
    with open(pgtest.TINY) as f, open(deck3, "w") as g:
        g.write(f.read() + '\nconductivity:\n  solver_options: "-cond_method amg -cond_ksp_max_it 1 -cond_pc_type jacobi"\n  rtol: 1e-12\n')
    p = pgtest.run(2, [deck3] + base[1:] + ["-output_file", out3])
    assert "did not converge" in p.stdout, p.stdout[-800:]
    assert np.isnan(pgtest.rows(out3)[0]["M_2"])


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))


def test_threads_against_direct_solve():
    """The sweeps on threads (a rank's planes in one lane per thread, Gauss-Seidel inside a lane,
    Jacobi across its faces; the coarse levels whose blocks stay inside the lanes swept the same way):
    a smooth random 16 x 15 x 64 volume, the deepest hierarchy (-cond_mg_coarse 1 -cond_mg_replicate
    0), the NVP phase and the pores with periodic sides along x, y, z, at 1 rank x 2 threads, 2 x 2
    and 3 x 3 (odd lanes, uneven slabs): M to 1e-7 of scipy's direct solve at rtol 1e-10, at most 3
    iterations more than one thread (measured 0-2: the lanes' faces cost what slab faces cost),
    -cond_mg_view shows the coarse levels swept by lanes (levels 0-2 at 1 x 2 threads: lanes of 32
    planes; fails if the lanes are not used), and a second run at 1 x 2 gives the same bits (the
    lanes' sums are added in lane order; a lane reading a neighbour's plane while it changes would
    not)."""
    bad = []
    v = smooth_volume((16, 15, 64), 7)
    wd = pgtest.workdir("cond")
    path = os.path.join(wd, "threads.u8")
    cdriver.write_u8(path, v)
    for value, periodic in ((1, False), (3, True)):
        refs = [reference_M(v, value, (1, 1, 1), a, periodic)[0] for a in range(3)]
        its1 = None
        first = None
        for np_, threads in ((1, 1), (1, 2), (2, 2), (3, 3), (1, 2)):
            args = ["-n", cdriver.shape_arg(v.shape), "-in", path, "-value", value, "-rtol", "1e-10", "-threads", threads,
                    "-cond_mg_coarse", "1", "-cond_mg_replicate", "0", "-cond_mg_view"] + (["-periodic_sides"] if periodic else [])
            out = cdriver.run(np_, "test_conductivity", args)
            o = cdriver.values(out)
            if (np_, threads) == (1, 2):
                ms = [line for line in out.splitlines() if line.startswith("M_")]
                if first is not None and ms != first:
                    bad.append(f"phase {value}, 1 x 2 threads: a second run differs:\n{ms}\n{first}")
                first = ms
            lanes = [line.strip() for line in out.splitlines() if "lane" in line]
            want = "rank 0: one lane" if threads == 1 else f"rank 0: {threads} lanes of planes"
            if not lanes or not lanes[0].startswith(want):
                bad.append(f"phase {value}, {np_} x {threads}: lanes line {lanes[:1]}, expected '{want}'")
            if (np_, threads) == (1, 2) and "levels 0-2 swept" not in lanes[0]:
                bad.append(f"phase {value}, 1 x 2: {lanes[0]} (the coarse levels 1 and 2 should be swept by lanes)")
            its = [int(o[f"M_{a}"][3]) for a in "xyz"]
            its1 = its1 or its
            for a in range(3):
                M = o[f"M_{'xyz'[a]}"][0]
                if abs(M - refs[a]) > 1e-7 * max(refs[a], 1e-3) + 1e-12:
                    bad.append(f"phase {value} axis {'xyz'[a]}, {np_} x {threads}: M {M} vs direct {refs[a]}")
                if its[a] > its1[a] + 3:
                    bad.append(f"phase {value} axis {'xyz'[a]}, {np_} x {threads}: {its[a]} iterations, {its1[a]} on one thread")
    assert not bad, "\n".join(bad[:10])


def test_float_messages():
    """-cond_mg_float (the default) sends the preconditioner's messages (the halos of its sweeps on
    every level, the agglomerated pairs' hand-overs, the gathers of the replicated and the coarsest
    level) as floats; CG's product and residual stay in double. On a smooth random 12 x 11 x 40
    volume with the deepest hierarchy (every kind of message) and every phase along z and x (the
    pores also with periodic sides: along x the slabs' chain is a ring, of one rank at one rank): on
    one rank (no message) the output is the same, bit for bit; at 3 and 5 ranks CG takes the same
    iterations (+-1) and M agrees with the double messages' to 1e-9 relative (measured: the same
    iterations, M to ~1e-12; rounding a ghost value perturbs B r by ~1e-7 relative, far below the
    preconditioner's own error)."""
    bad = []
    v = smooth_volume((12, 11, 40), 9)
    wd = pgtest.workdir("cond")
    path = os.path.join(wd, "float_messages.u8")
    cdriver.write_u8(path, v)
    for np_, value, periodic in [(n, val, False) for n in (1, 3, 5) for val in (1, 2, 3)] + [(1, 3, True), (3, 3, True)]:
        base = ["-n", cdriver.shape_arg(v.shape), "-in", path, "-value", value, "-axes", 5, "-rtol", "1e-10", "-cond_mg_coarse", "1",
                "-cond_mg_replicate", "8"] + (["-periodic_sides"] if periodic else [])
        out = {fl: cdriver.run(np_, "test_conductivity", base + ["-cond_mg_float", fl]) for fl in ("true", "false")}
        o = {fl: cdriver.values(out[fl]) for fl in out}
        for a in "xz":
            mf, md = o["true"][f"M_{a}"], o["false"][f"M_{a}"]
            if np_ == 1 and mf != md:
                bad.append(f"phase {value} axis {a} periodic {periodic}, one rank: float {mf} != double {md} (no message to round)")
            if abs(mf[0] - md[0]) > 1e-9 * abs(md[0]) or abs(int(mf[3]) - int(md[3])) > 1:
                bad.append(f"phase {value} axis {a} periodic {periodic}, {np_} ranks: M {mf[0]} in {int(mf[3])} iterations (float), {md[0]} in {int(md[3])} (double)")
    assert not bad, "\n".join(bad[:10])
