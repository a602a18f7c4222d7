#!/usr/bin/env python3
"""Openings (src/opening.c: 3D and 2D continuous phase size distributions, simulated mercury
intrusion) and geodesic tortuosity (src/geodesic.c) at 1, 2 and 3 ranks.

References: analytic cases (a digital ball opened by smaller and larger balls, a cylinder, a channel
with a neck, straight, diagonal and zig-zag channels whose shortest paths are known in closed form,
a blocked channel) and brute force on small random volumes: the opening from scipy's independent
distance transform and labelling (scipy.ndimage), the intrusion from scipy's 6-connected labels of
the centres, the geodesic distances from scipy.sparse.csgraph.dijkstra on the explicit 26-neighbour
graph. Every curve and value must agree to float rounding, and be identical across rank counts."""
import itertools
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402

RANKS = (1, 2, 3)
TOL = 2e-6  # the C code's relative slack on squared radii (float distances)


def run(v, ranks=RANKS, voxel=(1, 1, 1), extra=(), tag="p"):
    """Runs test_pores on v at each rank count; returns the parsed outputs (one dict per count)."""
    wd = pgtest.workdir("pores")
    path = os.path.join(wd, f"{tag}.u8")
    cdriver.write_u8(path, v)
    outs = []
    for np_ in ranks:
        out = cdriver.run(np_, "test_pores", ["-n", cdriver.shape_arg(v.shape), "-voxel", ",".join(map(str, voxel)), "-in", path] + list(extra))
        outs.append(cdriver.values(out))
    return outs


def same_across_ranks(outs, keys):
    """Bitwise equal across rank counts (tau lines: all but the round count, which depends on them)."""
    for k in keys:
        n = 4 if k.startswith("tau") else None
        for o in outs[1:]:
            assert o[k][:n] == outs[0][k][:n], f"{k} differs across rank counts: {outs[0][k][:6]} vs {o[k][:6]}"


# --- brute-force references -------------------------------------------------------------------

def edt2(inside, voxel, periodic=False):
    """Squared distance to the nearest voxel not inside (scipy; +inf if there is none)."""
    from scipy.ndimage import distance_transform_edt
    if inside.all():
        return np.full(inside.shape, np.inf)
    if not periodic:
        return distance_transform_edt(inside, sampling=voxel[::-1]) ** 2
    # periodic: tile 3x along every axis and take the middle (distances < the side length)
    t = np.tile(inside, (3, 3, 3))
    d = distance_transform_edt(t, sampling=voxel[::-1]) ** 2
    nz, ny, nx = inside.shape
    return d[nz:2 * nz, ny:2 * ny, nx:2 * nx]


def margin(r, d):
    return int(np.ceil(2 * r / d * (1 - 1e-9))) - 1


def levels(rmax2, step, cap):
    """Radius levels k * step <= R (as the C code counts them), at most cap."""
    if not np.isfinite(rmax2):
        return cap
    k = int(np.floor(np.sqrt(rmax2) / step))
    while k > 0 and (k * step) ** 2 * (1 - TOL) > rmax2:
        k -= 1
    while ((k + 1) * step) ** 2 * (1 - TOL) <= rmax2:
        k += 1
    return min(k, cap)


def level_map(r2, step, K, edt):
    """Largest level k <= K whose opening (balls of radius k * step around the centres) covers each
    voxel, largest first; edt(inside) gives squared distances to the voxels not inside."""
    lt = np.zeros(r2.shape, np.int64)
    for k in range(K, 0, -1):
        r = k * step
        c = r2 >= r * r * (1 - TOL)
        if not c.any():
            continue
        cov = edt(~c) < r * r * (1 - TOL)
        lt[cov & (lt == 0)] = k
    return lt


def psd3_ref(v, value, voxel, step, periodic):
    ph = v == value
    r2 = edt2(ph, voxel, periodic)
    nz, ny, nx = v.shape
    cap = max(1, int(np.floor(0.5 * min(nx * voxel[0], ny * voxel[1], nz * voxel[2]) / step)))
    kwin = cap
    for k in range(1, cap + 1):
        m = [margin(k * step, voxel[a]) for a in range(3)]
        if not periodic and (2 * m[0] >= nx or 2 * m[1] >= ny or 2 * m[2] >= nz):
            kwin = k - 1
            break
    K = min(levels(r2[ph].max() if ph.any() else 0.0, step, cap), kwin)
    lt = level_map(r2, step, K, lambda inside: edt2(inside, voxel, periodic))
    curve = []
    for k in range(1, min(K + 1, kwin) + 1):
        m = [0, 0, 0] if periodic else [margin(k * step, voxel[a]) for a in range(3)]
        win = (slice(m[2], nz - m[2]), slice(m[1], ny - m[1]), slice(m[0], nx - m[0]))
        den = ph[win].sum()
        curve.append((lt[win] >= k).sum() / den if den else 0.0)
    return np.array(curve)


def mip_ref(v, value, voxel, step, axis, high=False):
    from scipy.ndimage import label
    ph = v == value
    r2 = edt2(ph, voxel)
    nz, ny, nx = v.shape
    cap = max(1, int(np.floor(0.5 * min(nx * voxel[0], ny * voxel[1], nz * voxel[2]) / step)))
    K = levels(r2[ph].max() if ph.any() else 0.0, step, cap)
    nph = ph.sum()
    lt = np.zeros(v.shape, np.int64)
    for k in range(K, 0, -1):
        r = k * step
        c = r2 >= r * r * (1 - TOL)
        lab, n = label(c)
        face = [slice(None)] * 3
        face[2 - axis] = -1 if high else 0
        keep = np.setdiff1d(np.unique(lab[tuple(face)]), [0])
        sel = np.isin(lab, keep)
        if sel.any():
            cov = edt2(~sel, voxel) < r * r * (1 - TOL)
            lt[cov & (lt == 0)] = k
    return np.array([(lt >= k).sum() / nph for k in range(1, min(K + 1, cap) + 1)])


def median(curve, step, v0):
    if len(curve) < 1 or v0 < 0.5:
        return 0.0
    prev = v0
    for k, c in enumerate(curve):
        if c < 0.5:
            return step * (k + (prev - 0.5) / (prev - c))
        prev = c
    return step * (len(curve) + (prev - 0.5) / prev)


def geodesic_ref(v, value, voxel, axis):
    """Mean shortest 26-path length from the inlet face (0) to the outlet face (n-1) / thickness."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    ph = v == value
    idx = -np.ones(v.shape, np.int64)
    idx[ph] = np.arange(ph.sum())
    nz, ny, nx = v.shape
    rows, cols, w = [], [], []
    for dz, dy, dx in itertools.product((-1, 0, 1), repeat=3):
        if not (dz or dy or dx):
            continue
        l = np.sqrt((dx * voxel[0]) ** 2 + (dy * voxel[1]) ** 2 + (dz * voxel[2]) ** 2)
        a = idx[max(0, -dz):nz - max(0, dz), max(0, -dy):ny - max(0, dy), max(0, -dx):nx - max(0, dx)]
        b = idx[max(0, dz):nz - max(0, -dz), max(0, dy):ny - max(0, -dy), max(0, dx):nx - max(0, -dx)]
        ok = (a >= 0) & (b >= 0)
        rows.append(a[ok])
        cols.append(b[ok])
        w.append(np.full(ok.sum(), l))
    n = int(ph.sum())
    # a super source joined to every outlet voxel by a zero-length edge (1e-300: csgraph drops 0)
    sl_out = [slice(None)] * 3
    sl_out[2 - axis] = -1
    outlet = idx[tuple(sl_out)]
    outlet = outlet[outlet >= 0]
    rows.append(np.full(len(outlet), n))
    cols.append(outlet)
    w.append(np.full(len(outlet), 1e-300))
    g = coo_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(n + 1, n + 1)).tocsr()
    d = dijkstra(g, directed=True, indices=n)
    sl_in = [slice(None)] * 3
    sl_in[2 - axis] = 0
    inlet = idx[tuple(sl_in)]
    inlet = inlet[inlet >= 0]
    di = d[inlet]
    reached = np.isfinite(di)
    thick = (v.shape[2 - axis] - 1) * voxel[axis]
    mean = di[reached].mean() if reached.any() else 0.0
    return (mean / thick if reached.any() else 0.0), len(inlet), int(reached.sum())


def smooth_volume(shape, seed, sigma=1.6):
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    f = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    lo, hi = np.quantile(f, [0.3, 0.65])
    return np.where(f > hi, 1, np.where(f < lo, 2, 3)).astype(np.uint8)


def close(a, b, tol=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol)


# --- analytic cases ---------------------------------------------------------------------------

def test_opening_of_a_ball():
    """A digital ball of radius R = 5 (voxels at distance < 5 from the centre): the opening by a ball
    of radius r covers all of it for r <= R and none of it for r > R; likewise in 2D the disks of
    radius R on every slice of a cylinder."""
    R, n = 5, 17
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    v = np.where(x * x + y * y + z * z < R * R, 1, 3).astype(np.uint8)
    outs = run(v, extra=["-periodic", "-psd2", "-step", "1"], tag="ball")
    same_across_ranks(outs, ["psd3", "psd2"])
    psd = outs[0]["psd3"]
    r50, curve = psd[0], psd[1:]
    assert np.allclose(curve[:R], 1.0) and np.allclose(curve[R:], 0.0) and len(curve) == R + 1, f"ball: {curve}"
    assert abs(r50 - (R + 0.5)) < 1e-12, f"r50 {r50} (linear rule between R and R + 1: R + 0.5)"
    # 2D: a cylinder of radius R along z has a digital disk of radius R on every slice
    y, x = np.mgrid[:n, :n] - n // 2
    cyl = np.broadcast_to(np.where(x * x + y * y < R * R, 1, 3).astype(np.uint8), (9, n, n)).copy()
    outs = run(cyl, extra=["-periodic", "-psd2", "-step", "1"], tag="disk")
    same_across_ranks(outs, ["psd2"])
    curve = outs[0]["psd2"][1:]
    assert np.allclose(curve[:R], 1.0) and np.allclose(curve[R:], 0.0) and len(curve) == R + 1, f"disks: {curve}"


def test_opening_remembered_radius():
    """The openings remember each phase's largest inscribed radius and next time start with a
    bounded transform (windows of that radius plus two steps), checked and replaced by the exact one
    when the radius grew: after a warm-up on fine structures (radii 1-3) a ball of radius 8 and a
    cylinder of radius 7 along z (bounded windows fall short in the planes: exact fallback), and
    after a warm-up on the same smooth volume (the bounded transform suffices), every curve is
    bitwise the one of a fresh object, at 1 and 3 ranks, periodic and not."""
    wd = pgtest.workdir("pores_warm")
    n = 23
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    vols = {"ball": np.where(x * x + y * y + z * z < 64, 1, 3), "cylinder": np.where(x * x + y * y < 49, 1, 3),
            "fine": np.random.default_rng(31).choice([1, 3], size=(n, n, n), p=[0.5, 0.5]), "smooth": smooth_volume((n, n, n), 32)}
    paths = {}
    for name, vol in vols.items():
        paths[name] = os.path.join(wd, f"{name}.u8")
        cdriver.write_u8(paths[name], vol.astype(np.uint8))
    keys = ["psd3", "psd2", "mip_x", "mip_y", "mip_z"]
    bad = []
    for target, warm in (("ball", "fine"), ("cylinder", "fine"), ("smooth", "smooth")):
        for periodic in (True, False):
            extra = ["-psd2", "-mip", "7", "-step", "1"] + (["-periodic"] if periodic else [])
            for np_ in (1, 3):
                base = ["-n", cdriver.shape_arg((n, n, n)), "-in", paths[target]] + extra
                fresh = cdriver.values(cdriver.run(np_, "test_pores", base))
                warmed = cdriver.values(cdriver.run(np_, "test_pores", base + ["-warmup", paths[warm]]))
                for k in keys:
                    if list(fresh[k]) != list(warmed[k]):
                        bad.append(f"{target} after {warm}, periodic {periodic}, {np_} ranks: {k} {warmed[k]} vs fresh {fresh[k]}")
    assert not bad, "\n".join(bad[:8])


def test_cylinder_and_neck():
    """A cylinder of radius 4 along z: Psi = 1 up to 4, MIP from z = 0 intrudes everything up to 4,
    constrictivity 1. With a neck of radius 2 over 3 planes in the middle, MIP from either z face
    falls below half the phase right after r = 2 (r50_MIP within one step of the neck radius), while
    the cPSD keeps r50 above 4."""
    n, R, Rn = 20, 4, 2
    z, y, x = np.mgrid[:24, :n, :n]
    rr = (x - n // 2) ** 2 + (y - n // 2) ** 2
    cyl = np.where(rr < R * R, 3, 1).astype(np.uint8)
    outs = run(cyl, extra=["-value", "3", "-mip", "4", "-step", "1", "-periodic"], tag="cyl")
    same_across_ranks(outs, ["psd3", "mip_z"])
    psd, mip = outs[0]["psd3"], outs[0]["mip_z"]
    assert np.allclose(psd[1:R + 1], 1.0) and np.allclose(mip[1:R + 1], 1.0), f"cylinder: psd {psd}, mip {mip}"
    assert abs(psd[0] - mip[0]) < 1e-12, f"cylinder constrictivity != 1: r50 psd {psd[0]} mip {mip[0]}"
    neck = cyl.copy()
    neck[11:14][rr[11:14] >= Rn * Rn] = 1
    for high in (False, True):
        outs = run(neck, extra=["-value", "3", "-mip", "4", "-step", "1", "-periodic"] + (["-inlet_high"] if high else []), tag=f"neck{int(high)}")
        same_across_ranks(outs, ["psd3", "mip_z"])
        psd, mip = outs[0]["psd3"], outs[0]["mip_z"]
        assert Rn <= mip[0] < Rn + 1, f"neck (inlet high {high}): r50_MIP {mip[0]}, expected in [{Rn}, {Rn + 1})"
        assert np.allclose(mip[1:Rn + 1], 1.0) and mip[Rn + 1] < 0.5, f"neck: MIP curve {mip[1:]}"
        assert psd[0] > R, f"neck: cPSD r50 {psd[0]} should stay above {R}"


def test_tortuosity_channels():
    """Straight channels along each axis: tau = 1; a channel that steps one voxel sideways per voxel
    along z (a 45 degree staircase): tau = sqrt 2; a zig-zag of the same; an anisotropic voxel; a
    blocked channel: no inlet voxel reaches the outlet (tau 0, all excluded)."""
    n = 13
    for a in range(3):
        v = np.full((n, n, n), 1, np.uint8)
        sl = [slice(5, 8)] * 3
        sl[2 - a] = slice(None)
        v[tuple(sl)] = 3
        outs = run(v, extra=["-value", "3", "-tau", str(1 << a)], tag=f"straight{a}")
        same_across_ranks(outs, [f"tau_{'xyz'[a]}"])
        t = outs[0][f"tau_{'xyz'[a]}"]
        assert abs(t[0] - 1) < 1e-6 and t[2] == 9 and t[3] == 9, f"straight channel along {'xyz'[a]}: {t}"
    nz = 12
    diag = np.full((nz, 4, nz + 2), 1, np.uint8)
    zig = np.full((nz, 4, 8), 1, np.uint8)
    for z in range(nz):
        diag[z, :, z:z + 2] = 3  # two voxels wide: the only shortest paths step diagonally
        k = z % 6 if z % 12 < 6 else 6 - z % 6
        zig[z, :, k:k + 2] = 3
    for name, v, expect in (("diagonal", diag, np.sqrt(2)), ("zig-zag", zig, np.sqrt(2))):
        outs = run(v, extra=["-value", "3", "-tau", "4"], tag=name)
        same_across_ranks(outs, ["tau_z"])
        t = outs[0]["tau_z"]
        ref = geodesic_ref(v, 3, (1, 1, 1), 2)
        assert abs(t[0] - ref[0]) < 1e-5 and abs(t[0] - expect) < 0.08, f"{name}: tau {t[0]}, dijkstra {ref[0]}, closed form {expect}"
    # the diagonal staircase's inlet voxels each have a path of exactly (nz-1) sqrt 2 from the
    # voxel at x = 0 and (nz-2) sqrt 2 + 1 ... the mean is checked against Dijkstra above; here the
    # anisotropic voxel: a straight z channel with dz = 2 dx still has tau = 1
    v = np.full((10, 7, 7), 1, np.uint8)
    v[:, 2:5, 2:5] = 3
    outs = run(v, voxel=(0.5, 0.5, 1.0), extra=["-value", "3", "-tau", "7"], tag="aniso")
    assert abs(outs[0]["tau_z"][0] - 1) < 1e-6, outs[0]["tau_z"]
    blocked = v.copy()
    blocked[5] = 1
    outs = run(blocked, extra=["-value", "3", "-tau", "4"], tag="blocked")
    t = outs[0]["tau_z"]
    assert t[0] == 0 and t[2] == 9 and t[3] == 0, f"blocked channel: {t}"


# --- brute force on random volumes ----------------------------------------------------------

def test_mip_stamps_identical_to_dilations():
    """The MIP dilates once the centres every inlet reaches and stamps balls around the few that only
    some inlets reach (opening.c, MipLevelStamped): the curves are bitwise those of one dilation per
    axis (-opening_mip_stamps false), on volumes whose small clusters touch some faces and not
    others, cubic and anisotropic voxels, at 1, 2 and 3 ranks, inlets low and high; and the stamped
    path is taken (the slabs are thick enough and the stamps few)."""
    bad = []
    for seed, shape, voxel, step in ((3, (30, 28, 26), (1, 1, 1), 1.0), (9, (27, 24, 30), (0.5, 0.6, 0.8), 0.35)):
        v = smooth_volume(shape, seed)
        for value in (1, 3):
            for high in ([], ["-inlet_high"]):
                extra = ["-value", str(value), "-step", str(step), "-mip", "7"] + high
                tag = f"stamp_{seed}_{value}_{len(high)}"
                on = run(v, ranks=RANKS, voxel=voxel, extra=extra, tag=tag)
                off = run(v, ranks=(1,), voxel=voxel, extra=extra + ["-opening_mip_stamps", "false"], tag=tag + "off")[0]
                for k, o in enumerate(on):
                    for a in "xyz":
                        if o[f"mip_{a}"] != off[f"mip_{a}"]:
                            bad.append(f"{tag} {k + 1} ranks mip_{a}: {o[f'mip_{a}'][:6]} vs per-axis dilations {off[f'mip_{a}'][:6]}")
        if seed == 3:  # the stamped path ran, with stamps (PetscInfo of MipLevelStamped)
            wd = pgtest.workdir("stampinfo")
            path = os.path.join(wd, "v.u8")
            cdriver.write_u8(path, v)
            info = os.path.join(wd, "info")
            cdriver.run(2, "test_pores", ["-n", cdriver.shape_arg(v.shape), "-in", path, "-value", 1, "-mip", 7, "-info", info + ":sys"])
            text = open(info + ".0").read() if os.path.exists(info + ".0") else open(info).read()
            lines = [l for l in text.splitlines() if "centres dilated once" in l]
            if not lines or not any(int(l.split("stamps x ")[1].split()[0]) + int(l.split(" y ")[1].split()[0]) > 0 for l in lines):
                bad.append(f"the stamped path did not run with stamps: {lines[:3]}")
    assert not bad, "\n".join(bad)


def test_opening_random_against_scipy():
    """Smooth three-phase volumes, every phase: 3D cPSD (periodic and minus-sampled), 2D cPSD per
    slice and pooled, MIP along x, y, z (the high side: the neck test), anisotropic voxels (at 1 and
    3 ranks; cubic at 1, 2, 3): equal to the scipy reference and identical across the rank counts."""
    bad = []
    v = smooth_volume((22, 20, 24), 5)
    for voxel, step in (((1, 1, 1), 1.0), ((0.5, 0.6, 0.8), 0.35)):
        for value in (1, 2, 3):
            for periodic in (False, True):
                extra = ["-value", str(value), "-step", str(step), "-psd2", "-mip", "7"] + (["-periodic"] if periodic else [])
                tag = f"rand_{value}_{int(periodic)}_{step}"
                wd = pgtest.workdir("pores")
                outs = run(v, ranks=RANKS if step == 1.0 else (1, 3), voxel=voxel, extra=extra + ["-slices", os.path.join(wd, tag + ".sl")], tag=tag)
                same_across_ranks(outs, ["psd3", "psd2", "mip_x", "mip_y", "mip_z"])
                o = outs[0]
                ref = psd3_ref(v, value, voxel, step, periodic)
                if not close(o["psd3"][1:], ref) or abs(o["psd3"][0] - median(ref, step, 1.0)) > 1e-9:
                    bad.append(f"{tag} psd3: {o['psd3'][1:8]} vs {ref[:7]}")
                for a in range(3):
                    ref = mip_ref(v, value, voxel, step, a)
                    got = o[f"mip_{'xyz'[a]}"]
                    if not close(got[1:], ref) or abs(got[0] - median(ref, step, ref[0])) > 1e-9:
                        bad.append(f"{tag} mip {'xyz'[a]}: {got[1:8]} vs {ref[:7]}")
                # 2D per slice: each slice is an independent 2D image
                sl = np.loadtxt(os.path.join(wd, tag + ".sl"), ndmin=2)
                nl = sl.shape[1]
                num = np.zeros(nl)
                den = np.zeros(nl)
                cap2 = max(1, int(np.floor(0.5 * min(v.shape[2] * voxel[0], v.shape[1] * voxel[1]) / step)))
                e2 = (lambda inside: edt2_2d_periodic(inside, voxel)) if periodic else (lambda inside: edt2(inside[None], (voxel[0], voxel[1], 1e9))[0])
                for z in range(v.shape[0]):
                    ph = v[z] == value
                    r2 = e2(ph)
                    K = min(levels(r2[ph].max() if ph.any() else 0.0, step, cap2), nl)
                    lt = level_map(r2, step, K, e2)
                    for k in range(nl):
                        r = (k + 1) * step
                        mx, my = (0, 0) if periodic else (margin(r, voxel[0]), margin(r, voxel[1]))
                        w = (slice(my, v.shape[1] - my), slice(mx, v.shape[2] - mx))
                        nm, dn = (lt[w] >= k + 1).sum(), ph[w].sum()
                        num[k] += nm
                        den[k] += dn
                        want = nm / dn if dn else np.nan
                        if not (np.isnan(want) and np.isnan(sl[z, k])) and abs(want - sl[z, k]) > 1e-12:
                            bad.append(f"{tag} slice {z} level {k}: {sl[z, k]} vs {want}")
                            break
                pooled = num / np.where(den > 0, den, 1)
                if not close(o["psd2"][1:], pooled):
                    bad.append(f"{tag} psd2 pooled: {o['psd2'][1:8]} vs {pooled[:7]}")
    assert not bad, "\n".join(bad[:10])


def edt2_2d_periodic(inside, voxel):
    from scipy.ndimage import distance_transform_edt
    if inside.all():
        return np.full(inside.shape, np.inf)
    t = np.tile(inside, (3, 3))
    ny, nx = inside.shape
    return (distance_transform_edt(t, sampling=(voxel[1], voxel[0])) ** 2)[ny:2 * ny, nx:2 * nx]


def test_tortuosity_random_against_dijkstra():
    """Smooth three-phase volumes, every phase and axis, cubic and anisotropic voxels: tau, the
    inlet count and the reached count equal scipy's Dijkstra on the 26-neighbour graph; the same at
    1, 2, 3 ranks and, with cubic voxels, at 7 (slabs of 3 and 2 planes: paths that meander across
    many slab faces, whose changed ghost voxels are exchanged over many rounds) (float sums: to 1e-6)."""
    bad = []
    v = smooth_volume((21, 18, 20), 8)
    for voxel in ((1, 1, 1), (0.7, 1.0, 1.3)):
        for value in (1, 2, 3):
            ranks = RANKS + (7,) if voxel == (1, 1, 1) else RANKS
            # the default band (32 steps: these paths fit in one or two rounds' bands), a band of
            # 2 steps (many rounds, most of the front waiting for the next one) and none
            # (-geodesic_band 0); one rank of one thread settles everything at once whatever the band
            for band, at in (("32", ranks), ("2", ranks[1:]), ("0", (3,))) if voxel == (1, 1, 1) else (("32", ranks), ("2", ranks[1:])):
                extra = ["-value", str(value), "-tau", "7", "-geodesic_band", band]
                outs = run(v, ranks=at, voxel=voxel, extra=extra, tag=f"tau_{value}")
                for a in range(3):
                    key = f"tau_{'xyz'[a]}"
                    ref = geodesic_ref(v, value, voxel, a)
                    for o in outs:
                        t = o[key]
                        if abs(t[0] - ref[0]) > 1e-5 * max(1, ref[0]) or t[2] != ref[1] or t[3] != ref[2]:
                            bad.append(f"phase {value} axis {'xyz'[a]} voxel {voxel} band {band}: {t[:4]} vs dijkstra {ref}")
    assert not bad, "\n".join(bad[:10])


def test_tortuosity_threads_identical():
    """The geodesic search split into one lane per thread (1, 2, 3 and 5 threads; lanes of 1-2
    planes whose meanders cross lane faces over many rounds, bands of 2 steps), at 1, 2 and 3 ranks: every phase
    and axis, the mean length bit-identical to one thread at the same rank count (the lanes sum
    the inlet in plane order), and tau and the counts equal to scipy's Dijkstra."""
    bad = []
    v = smooth_volume((19, 17, 11), 5)
    refs = {(value, a): geodesic_ref(v, value, (1, 1, 1), a) for value in (1, 3) for a in range(3)}
    for value in (1, 3):
        base = {}
        for threads in (1, 2, 3, 5):
            # a band of 2 steps: the lanes' fronts wait for each other every round
            extra = ["-value", str(value), "-tau", "7", "-threads", str(threads), "-geodesic_band", "2"]
            outs = run(v, extra=extra, tag=f"thr_{value}")
            for np_, o in zip(RANKS, outs):
                for a in range(3):
                    t, ref = o[f"tau_{'xyz'[a]}"], refs[(value, a)]
                    got = (t[0], t[1], t[2], t[3])
                    base.setdefault((np_, a), got)
                    if got != base[(np_, a)]:
                        bad.append(f"phase {value} axis {'xyz'[a]} ranks {np_} threads {threads}: {got} vs 1 thread {base[(np_, a)]}")
                    if abs(t[0] - ref[0]) > 1e-5 * max(1, ref[0]) or t[2] != ref[1] or t[3] != ref[2]:
                        bad.append(f"phase {value} axis {'xyz'[a]} ranks {np_} threads {threads}: {t[:4]} vs dijkstra {ref}")
    assert not bad, "\n".join(bad[:10])


def test_tortuosity_pencils():
    """The z problem on pencils: 4, 6, 9 and 12 ranks (rank grids 2 x 2, 3 x 2, 3 x 3, 4 x 3 over x
    and y: paths cross pencil faces and edges, the diagonal steps through the corner neighbours),
    at 1 thread (and at 4 and 9 ranks with 2 threads and bands of 3 steps), cubic and anisotropic voxels: tau and the counts equal scipy's Dijkstra; and
    a channel that crosses from one pencil to its diagonal neighbour through their shared edge."""
    bad = []
    v = smooth_volume((21, 18, 20), 8)
    for voxel in ((1, 1, 1), (0.7, 1.0, 1.3)):
        ref = geodesic_ref(v, 1, voxel, 2)
        for threads, band, at in ((1, "32", (4, 6, 9, 12)), (2, "3", (4, 9))):
            extra = ["-value", "1", "-tau", "4", "-threads", str(threads), "-geodesic_band", band]
            outs = run(v, ranks=at, voxel=voxel, extra=extra, tag="pencils")
            for P, o in zip(at, outs):
                t = o["tau_z"]
                if abs(t[0] - ref[0]) > 1e-5 * max(1, ref[0]) or t[2] != ref[1] or t[3] != ref[2]:
                    bad.append(f"voxel {voxel} ranks {P} threads {threads} band {band}: {t[:4]} vs dijkstra {ref}")
    # a channel along z that passes from one pencil to the diagonal one through their shared edge
    # only (x 3 -> 4 and y 3 -> 4 at 4 ranks: blocks [0, 4) and [4, 8)): reached through the corner
    # neighbours' exchange or not at all
    w = np.full((12, 8, 8), 2, np.uint8)
    w[:7, 3, 3] = 1
    w[6:, 4, 4] = 1
    ref = geodesic_ref(w, 1, (1, 1, 1), 2)
    for o, P in zip(run(w, ranks=(1, 4), extra=["-value", "1", "-tau", "4"], tag="corner"), (1, 4)):
        t = o["tau_z"]
        if abs(t[0] - ref[0]) > 1e-5 * max(1, ref[0]) or t[2] != ref[1] or t[3] != ref[2] or ref[2] != 1:
            bad.append(f"corner channel, {P} ranks: {t[:4]} vs dijkstra {ref}")
    assert not bad, "\n".join(bad[:10])


# --- the measure stage of the program -----------------------------------------------------

DESCRIPTOR_SETS = ("percolating_fraction", "r50_mip_um", "beta", "tau", "tau_inlet_voxels", "tau_reached_voxels", "M_pred", "r50_cpsd_um", "r50_cpsd2d_um")


def program_run(np_, out, extra=()):
    # the conduction solve agrees across rank counts only to its tolerance: tests/test_conductivity.py
    pgtest.run(np_, [pgtest.TINY, "-output_file", out, "-measure_covariance", "false", "-measure_intrinsic", "false", "-output_write_fields", "false",
                     "-conductivity_solve", "false"] + list(extra))
    rows = pgtest.rows(out)
    with h5py.File(out, "r") as f:
        desc = [{n: f[f"runs/{k:04d}/descriptors/{n}"][...] for n in f[f"runs/{k:04d}/descriptors"]} for k in range(len(rows))]
        labels = [f[f"runs/{k:04d}/phase"][...] for k in range(len(rows))]
    return rows, desc, labels


def test_program_descriptors_across_ranks_and_consistency():
    """The program on the tiny deck (32^3, 2 realizations) at 1, 2, 3 and 5 ranks (one rank without
    planes) and at 1 rank x 3 threads and 2 ranks x 2 threads (the components' and the geodesic
    search's lanes): every descriptor column and every curve and table of the descriptors group
    identical bit for bit. Then, per run: no NaN in the CSV; M_pred = eps^1.15 beta^0.35 / tau^4.39 per phase
    and axis; the CSV columns are the axis means of the HDF5 tables; perc_i equals the flood-fill
    (6-connected, scipy) fraction of the phase in components touching both faces, averaged over the
    axes; tau_i equals Dijkstra on the written labels."""
    import h5py  # noqa: F401
    from scipy.ndimage import label
    wd = pgtest.workdir("pores_program")
    runs = {n: program_run(n, os.path.join(wd, f"r{n}.h5")) for n in (1, 2, 3, 5)}
    for n, t in ((1, 3), (2, 2)):
        runs[f"{n} x {t} threads"] = program_run(n, os.path.join(wd, f"r{n}t{t}.h5"), ["-threads", str(t)])
    rows1, desc1, labels1 = runs[1]
    bad = []
    for n in [k for k in runs if k != 1]:
        rows, desc, _ = runs[n]
        for k, (a, b) in enumerate(zip(rows1, rows)):
            for col in a:
                if not col.startswith("t_") and not col.startswith("peak") and a[col] != b[col]:
                    bad.append(f"{n} ranks run {k}: {col} {b[col]} vs {a[col]}")
        for k, (a, b) in enumerate(zip(desc1, desc)):
            for name in a:
                if not np.array_equal(a[name], b[name], equal_nan=True):
                    bad.append(f"{n} ranks run {k}: dataset {name} differs")
    for k, (row, d, lab) in enumerate(zip(rows1, desc1, labels1)):
        for col, v in row.items():
            if isinstance(v, float) and not np.isfinite(v):
                bad.append(f"run {k}: {col} = {v}")
        for i in range(3):
            eps = row[f"eps_{i + 1}"]
            tau, beta, mp = d["tau"][i], d["beta"][i], d["M_pred"][i]
            want = np.where(tau > 0, eps ** 1.15 * beta ** 0.35 / np.where(tau > 0, tau, 1) ** 4.39, 0.0)
            if not np.allclose(mp, want, rtol=1e-8, atol=0):  # eps from the CSV: 10 digits
                bad.append(f"run {k} phase {i + 1}: M_pred {mp} vs {want}")
            for col, tab in (("M_pred", mp), ("beta", beta), ("perc", d["percolating_fraction"][i]), ("r50_mip", d["r50_mip_um"][i])):
                if abs(row[f"{col}_{i + 1}"] - tab.mean()) > 1e-9 * max(1, abs(tab.mean())):  # CSV: 10 digits
                    bad.append(f"run {k}: CSV {col}_{i + 1} {row[f'{col}_{i + 1}']} vs table mean {tab.mean()}")
            ok = tau > 0
            if abs(row[f"tau_{i + 1}"] - (tau[ok].mean() if ok.any() else 0.0)) > 1e-9:
                bad.append(f"run {k}: tau_{i + 1} {row[f'tau_{i + 1}']} vs {tau}")
            ph = lab == i + 1
            cl, _ = label(ph)
            nz, ny, nx = lab.shape
            perc = []
            for ax in range(3):
                lo = [slice(None)] * 3
                hi = [slice(None)] * 3
                lo[2 - ax], hi[2 - ax] = 0, -1
                both = np.intersect1d(np.unique(cl[tuple(lo)]), np.unique(cl[tuple(hi)]))
                both = both[both > 0]
                perc.append(np.isin(cl, both).sum() / ph.sum())
            if not np.allclose(d["percolating_fraction"][i], perc, rtol=1e-12, atol=0):
                bad.append(f"run {k} phase {i + 1}: percolation {d['percolating_fraction'][i]} vs flood fill {perc}")
            for ax in range(3):
                ref = geodesic_ref(lab, i + 1, (0.0166,) * 3, ax)
                if abs(tau[ax] - ref[0]) > 1e-5 * max(1, ref[0]) or d["tau_reached_voxels"][i][ax] != ref[2]:
                    bad.append(f"run {k} phase {i + 1} axis {ax}: tau {tau[ax]} vs dijkstra {ref}")
    assert not bad, "\n".join(bad[:12])


def test_program_real_image():
    """A 64^3 crop of the Berea micro-CT volume (solid 1, pore 3, 5.345 um voxels; no carbon) through
    the program's image path (non-periodic estimators): the absent phase reports zeros, not NaN; the
    pore tortuosity and percolation equal the references on the same labels; 1 and 3 ranks agree."""
    import h5py
    path = os.path.join(pgtest.ROOT, "tests", "data", "berea.h5")
    wd = pgtest.workdir("pores_berea")
    with h5py.File(path, "r") as f:
        crop = f["phase"][150:214, 100:164, 200:264]
        vox = float(np.atleast_1d(f["phase"].attrs["voxel_size_um"])[0])
    img = os.path.join(wd, "crop.h5")
    with h5py.File(img, "w") as f:
        f.create_dataset("phase", data=crop).attrs["voxel_size_um"] = vox
    rows = {}
    for n in (1, 3):
        out = os.path.join(wd, f"b{n}.h5")
        pgtest.run(n, ["-input_image", img + ":/phase", "-output_file", out, "-measure_covariance", "false", "-measure_intrinsic", "false",
                       "-conductivity_solve", "false"])
        rows[n] = pgtest.rows(out)[0]
    bad = [f"{c}: {rows[3][c]} vs {rows[1][c]}" for c in rows[1] if not c.startswith(("t_", "peak")) and rows[1][c] != rows[3][c]]
    row = rows[1]
    bad += [f"{c} = {v}" for c, v in row.items() if isinstance(v, float) and not np.isfinite(v)]
    bad += [f"carbon {c}_2 = {row[c + '_2']}" for c in ("tau", "beta", "perc", "M_pred", "r50_cpsd", "r50_mip") if row[c + "_2"] != 0]
    taus = [geodesic_ref(crop, 3, (vox,) * 3, a)[0] for a in range(3)]
    taus = [t for t in taus if t > 0]
    if abs(row["tau_3"] - (np.mean(taus) if taus else 0)) > 1e-5:
        bad.append(f"pore tau {row['tau_3']} vs dijkstra {taus}")
    print(f"     Berea crop 64^3: porosity {row['eps_3']:.3f}, pore tau {row['tau_3']:.3f}, perc {row['perc_3']:.3f}, r50 cPSD {row['r50_cpsd_3']:.1f} um, "
          f"r50 MIP {row['r50_mip_3']:.1f} um, beta {row['beta_3']:.3f}, M_pred {row['M_pred_3']:.4f}")
    assert not bad, "\n".join(bad[:10])


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
