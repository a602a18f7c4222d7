#!/usr/bin/env python3
"""Distance transform (src/edt.c) against references at 1, 2 and 3 ranks: a brute-force EDT over all
pairs of voxels (numpy) on small random volumes, with anisotropic voxels, periodic or not, a phase or
its complement; scipy.ndimage.distance_transform_edt on larger smooth volumes; empty and full
phases (0 and +inf), a lone complement voxel (the scans must carry it through every rank), slabs of
uneven size and a rank without planes (nz = 4 on 3 ranks: 2, 2, 0), and 2 threads."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402

RANKS = (1, 2, 3)


def brute_d2(inside, voxel_xyz, periodic):
    """Squared distance (um^2) from every voxel to the nearest voxel not inside: all pairs."""
    shape = inside.shape
    pts = np.indices(shape).reshape(3, -1).T.astype(float)  # (z, y, x)
    comp = pts[~inside.ravel()]
    if len(comp) == 0:
        return np.where(inside, np.inf, 0.0)
    w = np.array(voxel_xyz[::-1], float) ** 2
    n = np.array(shape, float)
    best = np.full(len(pts), np.inf)
    for c in np.array_split(comp, max(1, len(comp) // 256)):
        d = np.abs(pts[:, None, :] - c[None, :, :])
        if periodic:
            d = np.minimum(d, n - d)
        best = np.minimum(best, (d * d * w).sum(axis=2).min(axis=1))
    return np.where(inside.ravel(), best, 0.0).reshape(shape)


def scipy_d2(inside, voxel_xyz):
    from scipy.ndimage import distance_transform_edt
    return distance_transform_edt(inside, sampling=voxel_xyz[::-1]) ** 2


def smooth_labels(shape, seed, sigma=2.0):
    """Three phases from a Gaussian-filtered noise: label 1 above the 60% quantile, 2 below 30%."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    f = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    lo, hi = np.quantile(f, [0.3, 0.6])
    return np.where(f > hi, 1, np.where(f < lo, 2, 3)).astype(np.uint8)


def compare(got, ref, what):
    if got.shape != ref.shape:
        return [f"{what}: shape {got.shape} vs {ref.shape}"]
    inf_g, inf_r = np.isinf(got), np.isinf(ref)
    if (inf_g != inf_r).any():
        return [f"{what}: {int((inf_g != inf_r).sum())} voxels differ in being infinite"]
    fin = ~inf_r
    err = np.abs(got[fin] - ref[fin]) / np.maximum(1.0, ref[fin])
    if err.size and err.max() > 1e-6:
        i = np.unravel_index(np.argmax(np.where(fin, np.abs(got - ref), 0)), ref.shape)
        return [f"{what}: max rel error {err.max():.3g} at (z,y,x)={i}: {got[i]} vs {ref[i]}"]
    return []


def run_edt(d, tag, volumes, voxel, value=1, complement=False, periodic=False, ranks=RANKS, threads=1, dilate=0):
    """The C transform of each label volume (same shape and flags, one run per rank count):
    list of (ranks, [d2 per volume])."""
    inp = [f"{d}/{tag}_{k}.u8" for k in range(len(volumes))]
    for p, v in zip(inp, volumes):
        cdriver.write_u8(p, v)
    res = []
    for n in ranks:
        out = [f"{d}/{tag}_{k}_r{n}.f32" for k in range(len(volumes))]
        args = ["-n", cdriver.shape_arg(volumes[0].shape), "-voxel", ",".join(map(str, voxel)), "-in", ",".join(inp), "-out", ",".join(out),
                "-value", value, "-threads", threads]
        args += (["-complement"] if complement else []) + (["-periodic"] if periodic else []) + (["-dilate", dilate] if dilate else [])
        cdriver.run(n, "test_edt", args)
        res.append((n, [cdriver.read(o, np.float32, volumes[0].shape).astype(float) for o in out]))
    return res


def test_message_encodings():
    """The changed-entry messages of the distance transform's chain and the geodesic search's sides
    (message.h): 3000 random patterns (runs and scattered entries, every density, 0-5000 entries)
    read back exactly, each no longer than the smallest of the four encodings' formulas (checked in
    the driver), and every encoding is chosen at least 100 times."""
    out = cdriver.values(cdriver.run(1, "test_edt", ["-messages", 3000]))
    counts = out["messages_encodings"]
    assert len(counts) == 4 and sum(counts) == 3000 and min(counts) >= 100, f"whole, bitmap, delta, pairs: {counts}"


def test_edt_brute_force_random():
    """Random three-phase labels 12x10x9 (x, y, z): each phase and a complement, isotropic and anisotropic voxels."""
    d = pgtest.workdir("edt_brute")
    rng = np.random.default_rng(11)
    bad = []
    cases = [((9, 10, 12), (1, 1, 1), 1, False, [0.5, 0.3, 0.2]),
             ((9, 10, 12), (0.5, 0.8, 1.3), 2, False, [0.3, 0.6, 0.1]),
             ((9, 10, 12), (1.1, 0.7, 0.4), 3, True, [0.2, 0.2, 0.6]),
             ((7, 5, 13), (0.3, 0.3, 0.9), 1, False, [0.9, 0.05, 0.05])]
    for k, (shape, voxel, value, complement, p) in enumerate(cases):
        labels = rng.choice([1, 2, 3], size=shape, p=p).astype(np.uint8)
        inside = (labels == value) != complement
        ref = brute_d2(inside, voxel, False)
        for n, (got,) in run_edt(d, f"c{k}", [labels], voxel, value, complement):
            bad += compare(got, ref, f"case {k} {shape} voxel {voxel} value {value} complement {complement}, {n} ranks")
    assert not bad, "\n".join(bad)


def test_edt_periodic_brute_force():
    """Periodic transform against all pairs with the shortest periodic offset."""
    d = pgtest.workdir("edt_periodic")
    rng = np.random.default_rng(12)
    bad = []
    for k, (shape, voxel, frac) in enumerate([((9, 10, 12), (1, 1, 1), 0.8), ((10, 7, 11), (0.6, 1.0, 1.7), 0.95)]):
        labels = np.where(rng.random(shape) < frac, 1, 2).astype(np.uint8)
        ref = brute_d2(labels == 1, voxel, True)
        for n, (got,) in run_edt(d, f"p{k}", [labels], voxel, periodic=True):
            bad += compare(got, ref, f"periodic case {k} {shape} voxel {voxel}, {n} ranks")
    assert not bad, "\n".join(bad)


def test_edt_deep_columns_many_ranks():
    """Columns whose nearest complement voxel lies many slabs away (a phase of 97-99.5 %, the rest
    isolated voxels), on thin slabs at 4, 5 and 7 ranks (2-4 planes each), periodic and not: the
    nearest complement plane travels along the chain of ranks (and around the ring) until found;
    a column without any complement must come out infinite along z."""
    d = pgtest.workdir("edt_deep")
    rng = np.random.default_rng(13)
    bad = []
    for k, (shape, frac, periodic) in enumerate([((14, 6, 7), 0.97, False), ((14, 6, 7), 0.995, True), ((11, 5, 6), 0.99, False)]):
        labels = np.where(rng.random(shape) < frac, 1, 2).astype(np.uint8)
        labels[:, 0, 0] = 1  # one column of phase throughout
        ref = brute_d2(labels == 1, (1, 1, 1), periodic)
        for n, (got,) in run_edt(d, f"deep{k}", [labels], (1, 1, 1), periodic=periodic, ranks=(4, 5, 7)):
            bad += compare(got, ref, f"deep case {k} {shape} periodic {periodic}, {n} ranks")
    assert not bad, "\n".join(bad)


def test_edt_bounded_dilation():
    """The bounded transform of a dilation by radius r (PgEdtDilate): the squared distance to the
    nearest centre, exact wherever it is below r^2 and at least r^2 elsewhere; sparse centres
    (1-3 %) so that the nearest one lies several thin slabs away; 1, 3 and 7 ranks, periodic and
    not, anisotropic voxels."""
    d = pgtest.workdir("edt_dilate")
    rng = np.random.default_rng(14)
    bad = []
    for k, (shape, voxel, frac, periodic, r) in enumerate([((21, 8, 9), (1, 1, 1), 0.02, False, 3.0), ((21, 8, 9), (0.8, 1.0, 0.7), 0.01, True, 2.5),
                                                           ((15, 7, 8), (1, 1, 1), 0.03, True, 4.0)]):
        labels = np.where(rng.random(shape) < frac, 1, 2).astype(np.uint8)
        ref = brute_d2(labels != 1, voxel, periodic)  # squared distance to the nearest centre (label 1)
        for n, (got,) in run_edt(d, f"dil{k}", [labels], voxel, periodic=periodic, ranks=(1, 3, 7), dilate=r):
            near = ref < r * r * (1 - 1e-6)
            what = f"dilation case {k} r {r} periodic {periodic}, {n} ranks"
            bad += compare(np.where(near, got, 0), np.where(near, ref, 0), what)
            if (got[~near] < r * r * (1 - 1e-6)).any():
                bad.append(f"{what}: {int((got[~near] < r * r * (1 - 1e-6)).sum())} voxels beyond r come out below r^2")
    assert not bad, "\n".join(bad)


def test_edt_scipy_smooth():
    """A smooth three-phase volume 40x36x37 with anisotropic voxels against scipy's exact EDT."""
    d = pgtest.workdir("edt_scipy")
    labels = smooth_labels((37, 36, 40), 5)
    bad = []
    for value, voxel in [(1, (0.5, 0.7, 0.9)), (3, (1, 1, 1))]:
        ref = scipy_d2(labels == value, voxel)
        for n, (got,) in run_edt(d, f"s{value}", [labels], voxel, value):
            bad += compare(got, ref, f"phase {value} voxel {voxel}, {n} ranks")
    assert not bad, "\n".join(bad)


def test_edt_empty_full_lone():
    """Empty phase: 0; full phase: +inf (periodic or not); a lone complement voxel: its distance field."""
    d = pgtest.workdir("edt_special")
    shape, voxel = (10, 8, 9), (0.5, 1.0, 2.0)
    bad = []
    full = np.ones(shape, np.uint8)
    lones = []
    for zc in (0, 4, 9):  # a lone complement voxel on the first, a middle and the last plane
        lone = np.ones(shape, np.uint8)
        lone[zc, 3, 5] = 0
        lones.append(lone)
    for periodic in (False, True):
        refs = [np.full(shape, np.inf)] + [brute_d2(v == 1, voxel, periodic) for v in lones]
        for n, got in run_edt(d, f"p{int(periodic)}", [full] + lones, voxel, 1, periodic=periodic):
            for k, (g, r) in enumerate(zip(got, refs)):
                bad += compare(g, r, f"{'full phase' if k == 0 else f'lone voxel case {k}'}, periodic {periodic}, {n} ranks")
        for n, (got,) in run_edt(d, f"empty{int(periodic)}", [full], voxel, 2, periodic=periodic):
            if (got != 0).any():
                bad.append(f"empty phase, periodic {periodic}, {n} ranks: {int((got != 0).sum())} nonzero voxels")
    assert not bad, "\n".join(bad)


def test_edt_rank_without_planes_and_threads():
    """nz = 4 at 3 ranks (slabs 2, 2, 0), nz = 5 (2, 2, 1), and 2 threads at 1 rank."""
    d = pgtest.workdir("edt_ranks")
    rng = np.random.default_rng(13)
    bad = []
    for nz in (4, 5):
        labels = np.where(rng.random((nz, 11, 13)) < 0.85, 1, 2).astype(np.uint8)
        for periodic in (False, True):
            ref = brute_d2(labels == 1, (1.0, 0.5, 1.5), periodic)
            for n, (got,) in run_edt(d, f"z{nz}_{int(periodic)}", [labels], (1.0, 0.5, 1.5), periodic=periodic, ranks=(3,)):
                bad += compare(got, ref, f"nz {nz} periodic {periodic}, {n} ranks")
    labels = smooth_labels((30, 28, 26), 6)
    ref = scipy_d2(labels == 1, (1, 1, 1))
    for n, (got,) in run_edt(d, "threads", [labels], (1, 1, 1), ranks=(1,), threads=2):
        bad += compare(got, ref, "2 threads, 1 rank")
    assert not bad, "\n".join(bad)


def test_edt_thin_volumes():
    """Volumes one voxel thin along one or two axes (a line along x, a column along z, a sheet)."""
    d = pgtest.workdir("edt_thin")
    rng = np.random.default_rng(14)
    bad = []
    for shape in [(1, 1, 7), (7, 1, 1), (2, 3, 1)]:
        labels = np.where(rng.random(shape) < 0.6, 1, 2).astype(np.uint8)
        for periodic in (False, True):
            ref = brute_d2(labels == 1, (0.7, 1.0, 1.3), periodic)
            for n, (got,) in run_edt(d, f"t{shape[0]}{shape[2]}_{int(periodic)}", [labels], (0.7, 1.0, 1.3), periodic=periodic, ranks=(1, 3)):
                bad += compare(got, ref, f"shape {shape} periodic {periodic}, {n} ranks")
    assert not bad, "\n".join(bad)


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
