#!/usr/bin/env python3
"""Connected components (src/components.c) at 1, 2 and 3 ranks against a brute-force flood fill
(breadth-first search, numbered by the first voxel in [z][y][x] scan order, the C code's numbering):
per-voxel labels, per-component volume and face bits, percolation fractions and flags, and the face
selection mask. Volumes: random phases at several fractions, 6- and 26-connectivity; a serpentine
channel whose legs run through every slab boundary (one component only through other slabs); a
channel joined only at edges (one component with 26-, several with 6-connectivity); a straight
channel along z (percolates in z only) and the same channel blocked; empty and full phases; a rank
without planes (nz = 4 on 3 ranks)."""
import collections
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402

RANKS = (1, 2, 3)
FACE = {"x_lo": 1, "x_hi": 2, "y_lo": 4, "y_hi": 8, "z_lo": 16, "z_hi": 32}


def flood_fill(inside, conn):
    """Brute-force components: labels (-1 outside), volumes, face bits (x_lo=1 .. z_hi=32)."""
    nz, ny, nx = inside.shape
    offs = [d for d in itertools.product((-1, 0, 1), repeat=3) if any(d) and (conn == 26 or sum(map(abs, d)) == 1)]
    lab = np.full(inside.shape, -1, np.int32)
    vols, faces = [], []
    for start in zip(*np.nonzero(inside)):  # C order: the first voxel of each component first
        if lab[start] >= 0:
            continue
        k = len(vols)
        lab[start] = k
        q = collections.deque([start])
        vol, fb = 0, 0
        while q:
            z, y, x = q.popleft()
            vol += 1
            fb |= (x == 0) * 1 | (x == nx - 1) * 2 | (y == 0) * 4 | (y == ny - 1) * 8 | (z == 0) * 16 | (z == nz - 1) * 32
            for dz, dy, dx in offs:
                p = (z + dz, y + dy, x + dx)
                if 0 <= p[0] < nz and 0 <= p[1] < ny and 0 <= p[2] < nx and inside[p] and lab[p] < 0:
                    lab[p] = k
                    q.append(p)
        vols.append(vol)
        faces.append(fb)
    return lab, np.array(vols, np.int64), np.array(faces, np.int64)


def expected(inside, conn, select):
    lab, vols, faces = flood_fill(inside, conn)
    nph = int(inside.sum())
    perc = [int(vols[(faces & (3 << (2 * a))) == (3 << (2 * a))].sum()) for a in range(3)]
    info = [len(vols), nph, int(vols.max()) if len(vols) else 0] + perc + [p / nph if nph else 0.0 for p in perc] + [int(p > 0) for p in perc]
    fsel = faces[lab] if len(vols) else np.zeros(lab.shape, np.int64)
    mask = ((lab >= 0) & ((fsel & select) == select)).astype(np.uint8)
    return lab, vols, faces, info, mask


def read_table(path):
    with open(path) as f:
        head = [float(x) for x in f.readline().split()]
        rows = np.array(f.read().split(), dtype=np.int64).reshape(-1, 3)
    return head, rows


def check(volumes, names, conn, ranks=RANKS, value=1, select=FACE["z_lo"], tag="c", threads=1):
    """Runs the driver on volumes (same shape) at each rank count; returns a list of mismatches."""
    d = pgtest.workdir(f"components_{tag}")
    shape = volumes[0].shape
    inp = [f"{d}/v{k}.u8" for k in range(len(volumes))]
    for p, v in zip(inp, volumes):
        cdriver.write_u8(p, v)
    refs = [expected(v == value, conn, select) for v in volumes]
    bad = []
    for n in ranks:
        lab = [f"{d}/v{k}_r{n}.i32" for k in range(len(volumes))]
        tab = [f"{d}/v{k}_r{n}.txt" for k in range(len(volumes))]
        msk = [f"{d}/v{k}_r{n}.sel.u8" for k in range(len(volumes))]
        cdriver.run(n, "test_components", ["-n", cdriver.shape_arg(shape), "-in", ",".join(inp), "-labels", ",".join(lab), "-table", ",".join(tab),
                                           "-mask", ",".join(msk), "-select", select, "-value", value, "-conn", conn, "-threads", threads])
        for k, (name, (rlab, rvol, rfac, rinfo, rmask)) in enumerate(zip(names, refs)):
            what = f"{name}, {conn}-connectivity, {n} ranks"
            glab = cdriver.read(lab[k], np.int32, shape)
            head, rows = read_table(tab[k])
            if (glab != rlab).any():
                bad.append(f"{what}: {int((glab != rlab).sum())} voxel labels differ from the flood fill")
            if len(head) != len(rinfo) or not np.allclose(head, rinfo, rtol=1e-12, atol=0):
                bad.append(f"{what}: info {head} vs flood fill {rinfo}")
            if rows.shape[0] != len(rvol) or (len(rvol) and ((rows[:, 0] != np.arange(len(rvol))).any() or (rows[:, 1] != rvol).any() or (rows[:, 2] != rfac).any())):
                bad.append(f"{what}: table ({rows.shape[0]} rows) differs from the flood fill ({len(rvol)} components)")
            gmask = cdriver.read(msk[k], np.uint8, shape)
            if (gmask != rmask).any():
                bad.append(f"{what}: selection of faces {select}: {int((gmask != rmask).sum())} voxels differ")
    return bad


def serpentine(shape, edges_only=False):
    """Phase 1 only in a channel in the plane y = ny/2: legs along z at x = 1, 3, 5, ..., joined
    alternately at the top and bottom plane by a voxel at the even x between, so that each leg runs
    through every slab boundary and two legs meet only through other slabs. With edges_only the legs
    stop one plane short of each join, so that leg and join share only an edge: one component with
    26-connectivity, 2 legs - 1 with 6; the first leg still starts on z = 0, the joins touch z = 0
    and z = nz-1."""
    nz, ny, nx = shape
    v = np.full(shape, 2, np.uint8)
    y = ny // 2
    legs = list(range(1, nx - 1, 2))
    for i, x in enumerate(legs):
        bottom, top = 0, nz - 1  # the legs span all planes ...
        if edges_only:  # ... or stop short of their joins: (i, i+1) meet at the top for even i, bottom for odd i
            join_top = (i % 2 == 0 and i + 1 < len(legs)) or i % 2 == 1
            join_bottom = (i % 2 == 1 and i + 1 < len(legs)) or (i % 2 == 0 and i > 0)
            top, bottom = (nz - 2 if join_top else nz - 1), (1 if join_bottom else 0)
        v[bottom:top + 1, y, x] = 1
        if i + 1 < len(legs):
            v[nz - 1 if i % 2 == 0 else 0, y, x + 1] = 1
    return v


def test_components_random():
    """Random phases at fractions 0.25, 0.5 and 0.75 (across the percolation threshold), two shapes."""
    rng = np.random.default_rng(21)
    bad = []
    for shape in [(9, 10, 12), (13, 7, 11)]:
        vols = [rng.choice([1, 2, 3], size=shape, p=[f, (1 - f) / 2, (1 - f) / 2]).astype(np.uint8) for f in (0.25, 0.5, 0.75)]
        names = [f"random {shape} fraction {f}" for f in (0.25, 0.5, 0.75)]
        for conn in (6, 26):
            bad += check(vols, names, conn, tag=f"random_{conn}")
    assert not bad, "\n".join(bad)


def test_components_smooth_phases():
    """Smooth three-phase volume 24x22x20: every phase, both connectivities; selection of the
    components touching both z faces; at 2 and 3 threads (a slab's planes in one union-find lane
    per thread, stitched at the lanes' faces) at 1, 2 and 3 ranks, both connectivities."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(22)
    f = gaussian_filter(rng.standard_normal((20, 22, 24)), 1.5, mode="wrap")
    lo, hi = np.quantile(f, [0.35, 0.7])
    v = np.where(f > hi, 1, np.where(f < lo, 2, 3)).astype(np.uint8)
    bad = []
    for conn in (6, 26):
        for value in (1, 2, 3):
            bad += check([v], [f"smooth phase {value}"], conn, value=value, select=FACE["z_lo"] | FACE["z_hi"], tag=f"smooth_{conn}_{value}")
    for threads in (2, 3):
        for conn in (6, 26):
            bad += check([v], [f"smooth phase 1, {threads} threads"], conn, threads=threads, tag=f"smooth_threads_{threads}_{conn}")
    assert not bad, "\n".join(bad)


def test_components_serpentine():
    """A channel that winds through every slab boundary: one component, percolating along z only;
    with the joins at edges only, one component for 26-connectivity and one per leg and join for 6.
    Also at 5 ranks (slabs 3, 3, 3, 3, 0), and at 1 and 3 ranks with 4 threads (union-find lanes of
    1 to 3 planes that the legs cross)."""
    shape = (12, 9, 16)
    bad = []
    v, w = serpentine(shape), serpentine(shape, edges_only=True)
    for conn in (6, 26):
        bad += check([v, w], ["serpentine", "serpentine joined at edges"], conn, ranks=(1, 2, 3, 5), tag=f"serpentine_{conn}")
        bad += check([v, w], ["serpentine, 4 threads", "serpentine joined at edges, 4 threads"], conn, ranks=(1, 3), threads=4, tag=f"serpentine_t_{conn}")
    # the claims of the docstring, on the reference itself
    legs = len(range(1, shape[2] - 1, 2))
    for vol, conn, ncomp, flags in [(v, 6, 1, [0, 0, 1]), (v, 26, 1, [0, 0, 1]), (w, 26, 1, [0, 0, 1]), (w, 6, 2 * legs - 1, [0, 0, 0])]:
        _, _, _, info, _ = expected(vol == 1, conn, 0)
        if info[0] != ncomp or info[-3:] != flags:
            bad.append(f"serpentine reference, {conn}-connectivity: {info[0]} components (expected {ncomp}), percolation flags {info[-3:]} (expected {flags})")
    assert not bad, "\n".join(bad)


def test_components_merge_tree_many_ranks():
    """The merge tree of the slab faces at 4, 6, 7, 8 and 13 ranks (full, odd and uneven trees, a
    13 ranks own 2 planes each of 26): the serpentine through every
    slab boundary, a smooth three-phase volume and random phases near the percolation threshold,
    against the flood fill, with both connectivities."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(25)
    f = gaussian_filter(rng.standard_normal((26, 14, 15)), 1.2, mode="wrap")
    smooth = np.where(f > 0.2, 1, 2).astype(np.uint8)
    rand = rng.choice([1, 2], size=(26, 14, 15), p=[0.32, 0.68]).astype(np.uint8)
    bad = []
    for conn in (6, 26):
        bad += check([serpentine((26, 5, 14)), serpentine((26, 5, 14), edges_only=True)], ["serpentine", "serpentine at edges"], conn,
                     ranks=(4, 7, 13), tag=f"tree_serp_{conn}")
        bad += check([smooth, rand], ["smooth", "random 0.32"], conn, ranks=(6, 8, 13), select=FACE["z_lo"] | FACE["z_hi"], tag=f"tree_{conn}")
    assert not bad, "\n".join(bad)


def test_components_straight_and_blocked_channel():
    """A 2x2 channel along z percolates along z only (fraction 1); blocked by one plane at a slab
    boundary it does not percolate; a slab along x-y percolates along x and y, not z."""
    shape = (12, 10, 11)
    straight = np.full(shape, 2, np.uint8)
    straight[:, 4:6, 3:5] = 1
    blocked = straight.copy()
    blocked[6, 4:6, 3:5] = 2  # the boundary between the slabs at 2 ranks
    layer = np.full(shape, 2, np.uint8)
    layer[5:7] = 1
    bad = []
    for conn in (6, 26):
        bad += check([straight, blocked, layer], ["straight channel", "blocked channel", "x-y layer"], conn, tag=f"channel_{conn}")
    for vol, flags in [(straight, [0, 0, 1]), (blocked, [0, 0, 0]), (layer, [1, 1, 0])]:
        _, _, _, info, _ = expected(vol == 1, 6, 0)
        if info[-3:] != flags:
            bad.append(f"reference percolation flags {info[-3:]}, expected {flags}")
    assert not bad, "\n".join(bad)


def test_components_empty_full_and_rank_without_planes():
    """Empty phase (no components, fraction 0), full phase (one component percolating everywhere),
    and nz = 4 at 3 ranks (slabs 2, 2, 0), nz = 5 (2, 2, 1)."""
    rng = np.random.default_rng(23)
    shape = (7, 6, 8)
    bad = []
    for conn in (6, 26):
        bad += check([np.full(shape, 2, np.uint8), np.ones(shape, np.uint8)], ["empty phase", "full phase"], conn, tag=f"special_{conn}")
        for nz in (4, 5):
            vols = [rng.choice([1, 2], size=(nz, 9, 10), p=[f, 1 - f]).astype(np.uint8) for f in (0.3, 0.6)]
            bad += check(vols, [f"nz {nz} fraction 0.3", f"nz {nz} fraction 0.6"], conn, ranks=(3,), tag=f"nz{nz}_{conn}")
    assert not bad, "\n".join(bad)


def test_components_thin_volumes():
    """Volumes one voxel thin along one or two axes: a line along x, a column along z, a sheet."""
    rng = np.random.default_rng(24)
    bad = []
    for shape in [(1, 1, 9), (9, 1, 1), (5, 4, 1)]:
        v = np.where(rng.random(shape) < 0.6, 1, 2).astype(np.uint8)
        for conn in (6, 26):
            bad += check([v], [f"thin {shape}"], conn, ranks=(1, 3), select=FACE["x_lo"] | FACE["z_hi"], tag=f"thin_{conn}")
    assert not bad, "\n".join(bad)


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
