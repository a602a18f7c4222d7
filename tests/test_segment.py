#!/usr/bin/env python3
"""Segmentation (src/segment.c) against brute-force serial references (numpy/scipy) on small random
images at 1, 2 and 3 ranks, and end to end on grey renderings of model realizations:

  * median, local Otsu (with and without a selection), majority (cube and ball) and the Mexican
    hat: per slice and in 3D, anisotropic voxels, nz = 7 on 3 ranks (slabs 3, 3, 1: a 3D radius of
    2 planes reaches past a neighbour's whole slab); results bitwise identical across rank counts;
  * Otsu's threshold of bimodal histograms against an exhaustive search (and the symmetric case's
    known optimum, the midpoint);
  * local Otsu is invariant to a slow brightness drift that breaks the global threshold;
  * the program on rendered data (CNR 3): the stack's NVP and the images' three phases recovered
    with >= 97 % voxel accuracy, the labels file readable, and calibration run from it."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402

RANKS = (1, 2, 3)
SHAPE = (7, 13, 15)  # z, y, x
VOXEL = (1.0, 1.2, 1.5)  # x, y, z


def offsets(voxel, r, in3d, cube=False):
    """Neighbourhood offsets (dz, dy, dx): (i dx)^2 + (j dy)^2 + (k dz)^2 <= r^2 (1 + 1e-9)."""
    if cube:
        return [(k, j, i) for k in ((-1, 0, 1) if in3d else (0,)) for j in (-1, 0, 1) for i in (-1, 0, 1)]
    dx, dy, dz = voxel
    r2 = r * r * (1 + 1e-9)
    n = [int(r / v) + 1 for v in voxel]
    out = []
    for k in range(-n[2], n[2] + 1) if in3d else (0,):
        for j in range(-n[1], n[1] + 1):
            for i in range(-n[0], n[0] + 1):
                if (i * dx) ** 2 + (j * dy) ** 2 + (k * dz) ** 2 <= r2:
                    out.append((k, j, i))
    return out


def shifted(a, off, fill):
    """a shifted so that out[z, y, x] = a[z + dz, y + dy, x + dx], fill outside."""
    out = np.full(a.shape, fill, dtype=a.dtype)
    src, dst = [], []
    for d, n in zip(off, a.shape):
        src.append(slice(max(d, 0), n + min(d, 0)))
        dst.append(slice(max(-d, 0), n - max(d, 0)))
    out[tuple(dst)] = a[tuple(src)]
    return out


def median_ref(v, r, in3d):
    stack = np.stack([shifted(v.astype(np.float64), o, np.nan) for o in offsets(VOXEL, r, in3d)])
    cnt = np.sum(~np.isnan(stack), axis=0)
    srt = np.sort(stack, axis=0)  # NaN last
    return np.take_along_axis(srt, ((cnt - 1) // 2)[None], axis=0)[0].astype(np.float32)


def otsu_t(h):
    """Otsu's threshold: first maximum of w0 w1 (m0 - m1)^2 over occupied t with both classes."""
    n, s, w0, s0, best, tb = h.sum(), (np.arange(len(h)) * h).sum(), 0.0, 0.0, 0.0, -1
    for t in range(len(h) - 1):
        if h[t] == 0:
            continue
        w0 += h[t]
        s0 += t * h[t]
        w1 = n - w0
        if w1 <= 0:
            break
        d = s0 / w0 - (s - s0) / w1
        var = w0 * w1 * d * d
        if var > best:
            best, tb = var, t
    return tb


def bins_of(v, sel, bins):
    vs = v[sel]
    lo, hi = float(vs.min()), float(vs.max())
    scale = (bins - 1) / (hi - lo) if hi > lo else 0.0
    b = np.clip(np.floor((v.astype(np.float64) - lo) * scale + 0.5), 0, bins - 1).astype(np.int64)
    return np.where(sel, b, -1)


def otsu_ref(v, sel, r, in3d, bins):
    """1 bright, 0 dark, 2 not selected."""
    b = bins_of(v, sel, bins)
    out = np.full(v.shape, 2, np.uint8)
    if r <= 0:
        t = otsu_t(np.bincount(b[b >= 0], minlength=bins).astype(float))
        out[sel] = (b[sel] > t)
        return out
    stack = np.stack([shifted(b, o, -1) for o in offsets(VOXEL, r, in3d)])
    for idx in zip(*np.nonzero(sel)):
        col = stack[(slice(None),) + idx]
        t = otsu_t(np.bincount(col[col >= 0], minlength=bins).astype(float))
        out[idx] = b[idx] > t
    return out


def majority_ref(lab, kind, r, in3d):
    stack = np.stack([shifted(lab, o, 255) for o in offsets(VOXEL, r, in3d, cube=(kind == 1))])
    counts = np.stack([(stack == l).sum(axis=0) for l in range(4)])
    out = lab.copy()
    for idx in zip(*np.nonzero(lab <= 3)):
        c = counts[(slice(None),) + idx]
        win = int(lab[idx])
        for l in range(4):
            if c[l] > c[win]:
                win = l
        out[idx] = win
    return out


def hat_ref(v, sigma_um, weight, in3d):
    from scipy.ndimage import gaussian_filter
    s = [sigma_um / VOXEL[2] if in3d else 0.0, sigma_um / VOXEL[1], sigma_um / VOXEL[0]]  # z, y, x
    acc = np.zeros(v.shape)
    for ax in range(3):
        if s[ax] == 0:
            continue
        order = [0, 0, 0]
        order[ax] = 2
        acc += s[ax] ** 2 * gaussian_filter(v.astype(np.float64), s, order=order, mode="reflect", truncate=3.0)
    return v - weight * acc


def drive(ranks, filt, arr_in, out_dtype, extra, sel=None, shape=SHAPE, voxel=VOXEL):
    d = pgtest.workdir(f"seg_{filt}_{ranks}")
    src, dst = os.path.join(d, "in.raw"), os.path.join(d, "out.raw")
    np.ascontiguousarray(arr_in).tofile(src)
    args = ["-n", cdriver.shape_arg(shape), "-voxel", ",".join(map(str, voxel)), "-filter", filt, "-in", src, "-out", dst] + extra
    if sel is not None:
        cdriver.write_u8(os.path.join(d, "sel.u8"), sel)
        args += ["-sel", os.path.join(d, "sel.u8")]
    stdout = cdriver.run(ranks, "test_segment", args)
    return cdriver.read(dst, out_dtype, shape), cdriver.values(stdout)


def grey(seed, shape=SHAPE, levels=8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, levels, size=shape).astype(np.float32) * 3.0 + 10.0


def across_ranks(filt, arr_in, out_dtype, extra, sel=None):
    outs = [drive(p, filt, arr_in, out_dtype, extra, sel)[0] for p in RANKS]
    for p, o in zip(RANKS[1:], outs[1:]):
        assert np.array_equal(o, outs[0]), f"{filt} {extra}: {p} ranks differ from 1 rank"
    return outs[0]


def test_median_brute_force():
    v = grey(1, levels=50)
    for r, in3d in ((1.6, False), (2.5, False), (2.1, True), (3.2, True)):
        got = across_ranks("median", v, np.float32, ["-radius", r] + (["-in3d"] if in3d else []))
        ref = median_ref(v, r, in3d)
        assert np.array_equal(got, ref), f"median r={r} in3d={in3d}: {np.sum(got != ref)} voxels differ"


def test_local_otsu_brute_force():
    v = grey(2, levels=40)
    sel = (np.random.default_rng(3).random(SHAPE) < 0.7).astype(np.uint8)
    for r, in3d, bins, s in ((4.0, False, 16, None), (3.0, True, 256, None), (3.0, True, 32, sel), (0.0, False, 64, sel), (2.6, False, 7, sel)):
        got = across_ranks("otsu", v, np.uint8, ["-radius", r, "-bins", bins] + (["-in3d"] if in3d else []), sel=s)
        ref = otsu_ref(v, np.ones(SHAPE, bool) if s is None else s.astype(bool), r, in3d, bins)
        assert np.array_equal(got, ref), f"otsu r={r} in3d={in3d} bins={bins} sel={s is not None}: {np.sum(got != ref)} voxels differ"


def test_majority_brute_force():
    rng = np.random.default_rng(4)
    lab = rng.integers(0, 4, size=SHAPE).astype(np.uint8)
    lab[rng.random(SHAPE) < 0.1] = 255  # outside a mask: neither counted nor changed
    for kind, r, in3d in ((1, 0, True), (1, 0, False), (2, 2.2, True), (2, 3.1, False)):
        got = across_ranks("majority", lab, np.uint8, ["-kind", kind, "-radius", r] + (["-in3d"] if in3d else []))
        ref = majority_ref(lab, kind, r, in3d)
        assert np.array_equal(got, ref), f"majority kind={kind} r={r} in3d={in3d}: {np.sum(got != ref)} voxels differ"


def test_mexican_hat_against_scipy():
    v = grey(5, levels=100)
    for sigma, w, in3d in ((1.0, 1.0, False), (1.6, 0.5, True), (0.7, 2.0, True)):
        got = across_ranks("hat", v, np.float32, ["-sigma", sigma, "-weight", w] + (["-in3d"] if in3d else []))
        ref = hat_ref(v, sigma, w, in3d)
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        assert err < 2e-6, f"hat sigma={sigma} in3d={in3d}: relative error {err:.2e}"


def test_rank_without_planes():
    """nz = 4 on 3 ranks: slabs 2, 2, 0. Every 3D filter on the rank that owns nothing takes part in
    the collectives and the others get the same result as on 1 rank."""
    shape = (4, 13, 15)
    v = grey(8, shape=shape, levels=60)
    lab = np.random.default_rng(9).integers(0, 4, size=shape).astype(np.uint8)
    for filt, arr, dt, extra in (("median", v, np.float32, ["-radius", 2.1, "-in3d"]), ("otsu", v, np.uint8, ["-radius", 3.0, "-in3d", "-bins", 32]),
                                 ("hat", v, np.float32, ["-sigma", 1.0, "-in3d"]), ("majority", lab, np.uint8, ["-kind", 1, "-in3d"]),
                                 ("chain", v, np.uint8, ["-median_radius", 1.6, "-radius", 3.0, "-in3d", "-sigma", 1.0, "-phases", 3, "-kind", 1])):
        one = drive(1, filt, arr, dt, extra, shape=shape)[0]
        three = drive(3, filt, arr, dt, extra, shape=shape)[0]
        assert np.array_equal(one, three), f"{filt}: 3 ranks (one without planes) differ from 1 rank"


def test_otsu_histogram_optimum():
    d = pgtest.workdir("seg_hist")
    t = np.arange(256)
    cases = [(0.5, 64, 192, 20, 20), (0.3, 50, 170, 15, 30), (0.8, 100, 140, 8, 8)]
    for w, m1, m2, s1, s2 in cases:
        h = w * np.exp(-0.5 * ((t - m1) / s1) ** 2) + (1 - w) * np.exp(-0.5 * ((t - m2) / s2) ** 2)
        h = np.round(h * 1e6)
        path = os.path.join(d, "h.f64")
        h.astype(np.float64).tofile(path)
        got = int(cdriver.values(cdriver.run(1, "test_segment", ["-filter", "hist", "-bins", 256, "-in", path]))["threshold"][0])
        # exhaustive: the between-class variance at every split
        var = np.full(255, -1.0)
        for k in range(255):
            w0, w1 = h[:k + 1].sum(), h[k + 1:].sum()
            if w0 > 0 and w1 > 0:
                var[k] = w0 * w1 * ((t[:k + 1] * h[:k + 1]).sum() / w0 - (t[k + 1:] * h[k + 1:]).sum() / w1) ** 2
        assert got == int(np.argmax(var)), (w, m1, m2, got, int(np.argmax(var)))
        assert m1 < got < m2
        if w == 0.5 and s1 == s2:
            assert got == (m1 + m2) // 2 - 1 or got == (m1 + m2) // 2, got  # symmetric: the midpoint


def blobs(shape, seed, sigma_px):
    from scipy.ndimage import gaussian_filter
    f = gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma_px, mode="wrap")
    return f > 0


def test_local_otsu_invariant_to_drift():
    """A two-phase slice with noise (CNR 6) and a brightness ramp across x larger than the contrast:
    global Otsu fails, local Otsu (radius 12 px) recovers the phases with and without the ramp."""
    shape = (1, 192, 192)
    truth = blobs(shape, 6, (0, 4, 4))
    rng = np.random.default_rng(7)
    base = np.where(truth, 1.0, 0.0) + rng.standard_normal(shape) / 6
    ramp = np.linspace(0, 2.0, shape[2])[None, None, :]
    vox = (1.0, 1.0, 1.0)
    res = {}
    for name, img, r in (("flat_local", base, 12), ("ramp_local", base + ramp, 12), ("ramp_global", base + ramp, 0)):
        got, _ = drive(2, "otsu", img.astype(np.float32), np.uint8, ["-radius", r, "-bins", 256], shape=shape, voxel=vox)
        res[name] = np.mean((got == 1) == truth)
    assert res["flat_local"] > 0.97 and res["ramp_local"] > 0.97, res
    assert abs(res["flat_local"] - res["ramp_local"]) < 0.01, res
    assert res["ramp_global"] < 0.85, res


DECK = os.path.join(pgtest.ROOT, "inputs", "segment_example.yaml")


def test_program_on_rendered_data():
    """tools/make_calibration_data.py --grey at the CI calibration size (CNR 3, 2.5 nm blur, 30 %
    drift across the stack; seed 3, not the seed the example's Mexican-hat weight was chosen on),
    the example deck at 2 ranks: accuracy >= 97 % on the stack's NVP and on the three phases of
    every image; the labels file feeds the calibration of the same run, whose parameters are
    within the calibration's target tolerances (lambda 0.02, alpha 5 %, m 0.05) of the calibration
    from the true labels of the same data (what segmentation costs), and within the CI-size
    round-trip tolerances of test_calibration (3 SD of the sampling spread) of the truth."""
    import h5py
    d = pgtest.workdir("seg_program")
    data = os.path.join(d, "data.h5")
    p = subprocess.run(["/usr/bin/python3", os.path.join(pgtest.ROOT, "tools", "make_calibration_data.py"), data, "--grey", "--seed", "3"], check=True, capture_output=True, text=True)
    truth = dict(zip(["lambda_x", "lambda_z", "alpha_x_per_um", "alpha_y_per_um", "m"], [float(v) for v in p.stdout.split()[1:6]]))
    out, ref, labels = os.path.join(d, "run.h5"), os.path.join(d, "ref.h5"), os.path.join(d, "labels.h5")
    images = ",".join(f"{data}:/grey/images/{k}" for k in range(3))
    p = pgtest.run(2, [DECK, "-segment_volume", f"{data}:/grey/volume", "-segment_images", images,
                       "-segment_labels_file", labels, "-output_file", out, "-calibration_simulate", "false"])
    assert "Table 1" in p.stdout, p.stdout
    pgtest.run(2, [os.path.join(pgtest.ROOT, "inputs", "calibrate_example.yaml"), "-calibration_volume", f"{data}:/volume",
                   "-calibration_images", ",".join(f"{data}:/images/{k}" for k in range(3)), "-output_file", ref, "-calibration_simulate", "false"])
    with h5py.File(data, "r") as f, h5py.File(labels, "r") as g:
        acc = np.mean((f["truth/volume"][...] == 1) == (g["volume"][...] == 1))
        assert acc >= 0.97, f"stack NVP accuracy {acc:.4f}"
        assert np.allclose(g["volume"].attrs["voxel_size_um"], [0.016, 0.016, 0.02])
        for k in range(3):
            acc = np.mean(f[f"images/{k}"][...] == g[f"images/{k}"][...])
            assert acc >= 0.97, f"image {k} three-phase accuracy {acc:.4f}"
    png = os.path.join(d, "fig2.png")
    subprocess.run(["/usr/bin/python3", os.path.join(pgtest.ROOT, "postprocess", "plot_segmentation.py"), labels, "--truth", data, "--out", png], check=True, capture_output=True)
    assert os.path.getsize(png) > 20_000, "the segmentation figure"
    # the labels reach calibration in memory: the same estimates as calibrating from the labels file
    from_file = os.path.join(d, "from_file.h5")
    pgtest.run(3, [os.path.join(pgtest.ROOT, "inputs", "calibrate_example.yaml"), "-calibration_volume", f"{labels}:/volume",
                   "-calibration_images", ",".join(f"{labels}:/images/{k}" for k in range(3)), "-output_file", from_file, "-calibration_simulate", "false"])
    with h5py.File(out, "r") as f, h5py.File(from_file, "r") as g:
        for k in ("lambda_x", "lambda_z", "alpha_x_per_um", "alpha_y_per_um", "m"):
            assert abs(f["calibration"].attrs[k] - g["calibration"].attrs[k]) <= 1e-12 * max(1, abs(g["calibration"].attrs[k])), \
                f"{k}: from the segmentation in memory {f['calibration'].attrs[k]!r}, from its labels file {g['calibration'].attrs[k]!r}"
    with h5py.File(out, "r") as f, h5py.File(ref, "r") as r:
        seg, lab = dict(f["calibration"].attrs), dict(r["calibration"].attrs)
    bad = []
    for k, tol_lab, tol_truth in (("lambda_x", 0.02, 0.02), ("lambda_z", 0.02, 0.10), ("alpha_x_per_um", 0.05, 0.05), ("alpha_y_per_um", 0.05, 0.05), ("m", 0.05, 0.12)):
        rel = k.startswith("alpha")
        for name, other, tol in (("true labels", lab[k], tol_lab), ("truth", truth[k], tol_truth)):
            err = abs(seg[k] - other) / (abs(other) if rel else 1)
            if err > tol:
                bad.append(f"{k}: segmented {seg[k]:.4f}, {name} {other:.4f}, error {err:.4f} > {tol}")
    assert not bad, "; ".join(bad)


def test_program_stack_only_with_mask_in_3d():
    """A stack alone (no images: the run ends after the labels file), a particle mask (a box), 3D
    Otsu balls, three phases, at 3 ranks: 255 outside the mask, >= 97 % NVP accuracy inside, the
    labels identical to the 1-rank run's."""
    import h5py
    d = pgtest.workdir("seg_mask")
    data = os.path.join(d, "data.h5")
    subprocess.run(["/usr/bin/python3", os.path.join(pgtest.ROOT, "tools", "make_calibration_data.py"), data, "--grey", "--n3", "64,64,30", "--n2", "64", "--images", "1", "--seed", "5"], check=True, capture_output=True)
    with h5py.File(data, "a") as f:
        mask = np.zeros((30, 64, 64), np.uint8)
        mask[:, 8:56, 4:60] = 1
        f.create_dataset("mask", data=mask)
    labs = []
    for np_ in (1, 3):
        labels = os.path.join(d, f"labels{np_}.h5")
        p = pgtest.run(np_, [DECK, "-segment_volume", f"{data}:/grey/volume", "-segment_images", "", "-segment_mask", f"{data}:/mask",
                             "-segment_stack_3d", "true", "-segment_stack_otsu_radius_um", "0.2", "-segment_stack_phases", "3", "-segment_stack_log_sigma_um", "0.016",
                             "-segment_stack_majority", "none", "-segment_labels_file", labels, "-output_file", os.path.join(d, "o.h5")])
        assert "Table 1" not in p.stdout and not os.path.exists(os.path.join(d, "o.h5")), "a stack alone is not calibrated"
        with h5py.File(labels, "r") as g:
            labs.append(g["volume"][...])
    assert np.array_equal(labs[0], labs[1]), "labels differ between 1 and 3 ranks"
    lab = labs[0]
    assert np.all(lab[mask == 0] == 255) and np.all(np.isin(lab[mask == 1], (1, 2, 3)))
    with h5py.File(data, "r") as f:
        truth = f["truth/volume"][...]
    acc = np.mean((truth[mask == 1] == 1) == (lab[mask == 1] == 1))
    assert acc >= 0.97, f"NVP accuracy inside the mask {acc:.4f}"


def test_errors():
    d = pgtest.workdir("seg_errors")
    cases = [
        (["-segment_volume", os.path.join(d, "missing.h5:/x")], "does not exist"),
        (["-segment_images", os.path.join(d, "img.raw")], "segment.image_shape"),
        (["-segment_stack_phases", "2"], "is not allowed"),
        (["-segment_image_majority", "ball", "-segment_image_majority_radius_um", "0"], "majority_radius_um"),
    ]
    open(os.path.join(d, "img.raw"), "wb").write(b"\0" * 100)
    import h5py
    grey = os.path.join(d, "grey.h5")
    with h5py.File(grey, "w") as f:
        f.create_dataset("stack", data=np.zeros((6, 8, 8), np.uint16)).attrs["voxel_size_um"] = [0.016, 0.016, 0.02]
        f.create_dataset("mask", data=np.ones((6, 8, 9), np.uint8))
        f.create_dataset("text", data=np.array([b"abc"] * 8))
    cases += [
        (["-segment_volume", f"{grey}:/stack", "-segment_mask", f"{grey}:/mask"], "differs from the stack"),
        (["-segment_volume", f"{grey}:/stack", "-segment_mask", os.path.join(d, "img.raw")], "expected FILE.h5:/dataset"),
        (["-segment_volume", f"{grey}:/text"], "grey values"),
        (["-segment_volume", f"{grey}:/stack", "-segment_labels_file", os.path.join(d, "o.h5")], "their own file"),
    ]
    for extra, text in cases:
        # the deck's own inputs (out/calibration_data.h5) need not exist: each case names its inputs
        own = [] if "-segment_images" in extra else ["-segment_images", ""]
        own += [] if "-segment_volume" in extra else ["-segment_volume", ""]
        p = pgtest.run(1, [DECK, "-output_file", os.path.join(d, "o.h5")] + own + extra, check=False, singleton=True)
        lines = [l for l in p.stdout.splitlines() + p.stderr.splitlines() if "error" in l]
        assert p.returncode != 0 and lines and text in lines[0], (extra, p.returncode, p.stdout[-500:], p.stderr[-500:])


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
