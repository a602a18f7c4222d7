"""The same deck at 1, 2 and 3 ranks (and 5 ranks, where FFTW leaves one rank without planes):
fields equal to 1e-12 and labels identical (docs/design.md, "Reproducibility"). Uneven slabs: nz = 37 on
2 and 3 ranks; nz = 8 on 5 ranks gives blocks 2, 2, 2, 2, 0; on 3 ranks nz = 8 gives 3, 3, 2 and
nz = 10 gives 4, 4, 2 (the transposed Fourier layout splits ny the same way: ny = 8 and 10 too).
Odd nx changes the half-spectrum length and removes the Nyquist plane."""
import h5py
import numpy as np

import pgtest


def fields_and_labels(path, k):
    with h5py.File(path, "r") as f:
        g = f[f"runs/{k:04d}"]
        return g["X"][...], g["Y"][...], g["phase"][...]


def compare_ranks(shape, ranks, prec="double", threads=1):
    d = pgtest.workdir(f"ranks_{'x'.join(map(str, shape))}_{prec}_{'-'.join(map(str, ranks))}")
    outs = []
    for n in ranks:
        out = f"{d}/r{n}.h5"
        pgtest.run(n, [pgtest.TINY, "-domain_shape", ",".join(map(str, shape)), "-sweep_realizations", 2, "-output_file", out,
                       "-output_precision", prec, "-sweep_carbon_fraction", "0.25,0.35", "-threads", threads if n == 1 else 1, "-output_write_fields", "true"]
                  + pgtest.NOMEASURE)
        outs.append(out)
    bad = []
    for k in range(4):
        ref = fields_and_labels(outs[0], k)
        for n, out in zip(ranks[1:], outs[1:]):
            X, Y, P = fields_and_labels(out, k)
            ex, ey = np.abs(X - ref[0]).max(), np.abs(Y - ref[1]).max()
            nl = int((P != ref[2]).sum())
            if ex > 1e-12 or ey > 1e-12 or nl:
                bad.append(f"{shape} run {k}: {ranks[0]} vs {n} ranks: |dX| {ex:.3g}, |dY| {ey:.3g}, {nl} labels differ")
            if not np.isin(P, [1, 2, 3]).all():
                bad.append(f"{shape} run {k} at {n} ranks: labels outside 1..3")
    rows = [pgtest.rows(o) for o in outs]
    for n, r in zip(ranks[1:], rows[1:]):
        for a, b in zip(rows[0], r):
            for col in ("seed", "eps_1", "eps_2", "eps_3", "lambda_z"):
                if a[col] != b[col]:
                    bad.append(f"{shape}: CSV {col} differs at {n} ranks: {a[col]} vs {b[col]}")
    return bad


def test_rank_invariance_uneven_slabs():
    bad = compare_ranks((40, 36, 37), [1, 2, 3])
    assert not bad, "\n".join(bad)


def test_rank_invariance_empty_rank():
    bad = compare_ranks((12, 10, 8), [1, 5])
    assert not bad, "\n".join(bad)


def test_rank_invariance_small_grids():
    """8^3 and 8x10x10 on 3 ranks (blocks 3,3,2 and 4,4,2), and odd nx = 9 on 2 and 3 ranks."""
    bad = compare_ranks((8, 8, 8), [1, 3]) + compare_ranks((8, 10, 10), [1, 3]) + compare_ranks((9, 10, 10), [1, 2, 3])
    assert not bad, "\n".join(bad)


def test_rank_and_thread_invariance_single_precision():
    """Single precision: the same bits at 1 rank x 2 threads, 2 and 3 ranks."""
    bad = compare_ranks((33, 30, 31), [1, 2, 3], prec="single", threads=2)
    assert not bad, "\n".join(bad)


def test_low_memory_mode():
    """fft.memory = low (one buffer: X, then Z from its spectrum) gives the same structure as the
    two-buffer mode up to rounding at the thresholds (< 1e-5 of the voxels in single precision), is
    bitwise identical at 1, 2 and 3 ranks, and works with common random numbers."""
    d = pgtest.workdir("lowmem")
    base = [pgtest.TINY, "-domain_shape", "48,40,36", "-sweep_realizations", 2, "-sweep_carbon_fraction", "0.25,0.35",
            "-output_write_fields", "false", "-output_precision", "single"]
    outs = {}
    for mem, n, crn in (("fast", 1, "false"), ("low", 1, "false"), ("low", 2, "false"), ("low", 3, "false"), ("fast", 2, "true"), ("low", 2, "true")):
        out = f"{d}/{mem}_{n}_{crn}.h5"
        pgtest.run(n, base + ["-fft_memory", mem, "-output_file", out, "-sweep_common_random_numbers", crn])
        with h5py.File(out, "r") as f:
            outs[mem, n, crn] = [f[f"runs/{k:04d}/phase"][...] for k in range(4)]
    bad = []
    for k in range(4):
        a, b = outs["fast", 1, "false"][k], outs["low", 1, "false"][k]
        if (a != b).mean() > 1e-5:
            bad.append(f"run {k}: fast and low differ in {(a != b).mean():.2e} of the voxels")
        for n in (2, 3):
            if not np.array_equal(outs["low", 1, "false"][k], outs["low", n, "false"][k]):
                bad.append(f"run {k}: low memory differs between 1 and {n} ranks")
        a, b = outs["fast", 2, "true"][k], outs["low", 2, "true"][k]
        if (a != b).mean() > 1e-5:
            bad.append(f"run {k} (common random numbers): fast and low differ in {(a != b).mean():.2e}")
    assert not bad, "\n".join(bad)
