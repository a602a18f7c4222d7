"""TIFF stacks in and out, and label maps (docs/tiff.md).

  * every TIFF layout read through input.image at 1, 2 and 3 ranks (multi-page ImageJ, LZW strips
    written by libtiff through PIL, deflate tiles, a folder, a printf and a glob pattern of slice
    files sorted naturally; 8, 16, 32-bit, signed or not): the labels the program writes back
    (output.tiff_labels) equal the mapped reference exactly, the descriptors equal those of the
    same labels read from HDF5, and the voxel size is the one in the resolution tags and ImageJ
    spacing (the deck overriding);
  * output.tiff_labels of model runs: tifffile reads labels equal to /runs/<k>/phase, with the
    ImageJ description and resolution, and the program reads its own TIFF back;
  * label maps (list, pairs and the YAML map form) on HDF5 datasets of every integer type and on
    raw files; calibration and segmentation from TIFF inputs identical to the HDF5 path;
  * every bad file (not a TIFF, truncated, mixed page sizes, float or RGB samples, an unmapped
    value, a gap in the slice numbers, an empty folder) is one error line, output untouched."""
import os
import shutil
import subprocess

import h5py
import numpy as np
import tifffile

import pgtest

SHAPE = (12, 11, 13)            # nz, ny, nx: 12 slices so that a natural sort differs from a lexical one
VOXEL = (0.02, 0.025, 0.03)     # dx, dy, dz (um)
FAST = pgtest.NOMEASURE[:2] + ["-measure_intrinsic", "true"] + pgtest.NOMEASURE[4:]  # volume fractions, S_ij, chi only
COMPARE = ["eps_1", "eps_2", "eps_3", "S_1", "S_2", "S_3", "S_12", "S_13", "S_23", "chi_1", "chi_2", "chi_3"]


def labels(seed=1, shape=SHAPE):
    rng = np.random.default_rng(seed)
    return rng.choice([1, 2, 3], size=shape, p=[0.5, 0.3, 0.2]).astype(np.uint8)


def write_pil(path, pages, compression, dpi=None):
    from PIL import Image
    ims = [Image.fromarray(p) for p in pages]
    kw = dict(save_all=True, append_images=ims[1:], compression=compression)
    if dpi:
        kw["dpi"] = dpi
    ims[0].save(path, **kw)


def measure(np_, spec, out, extra=()):
    """input.image = spec at np_ ranks, labels written back as TIFF; returns (row, labels, tiff)."""
    pgtest.run(np_, ["-input_image", spec, "-output_file", out, "-output_overwrite", "-output_tiff_labels"] + FAST + list(extra))
    tif = out[:-3] + "_phase_0000.tif"
    with tifffile.TiffFile(tif) as t:
        return pgtest.rows(out)[0], t.asarray(), t


def voxel_of(tif_path):
    """(dx, dy, dz) um of a TIFF the program wrote: resolution tags and ImageJ spacing."""
    with tifffile.TiffFile(tif_path) as t:
        xr, yr = t.pages[0].tags["XResolution"].value, t.pages[0].tags["YResolution"].value
        return (xr[1] / xr[0], yr[1] / yr[0], t.imagej_metadata["spacing"])


def layouts(d, lab):
    """(name, spec, extra args, expected voxel) for every layout, written from lab (1, 2, 3)."""
    nz = lab.shape[0]
    out = []
    # ImageJ multi-page, uint8, resolution and spacing in micron
    p = os.path.join(d, "imagej.tif")
    tifffile.imwrite(p, lab, imagej=True, resolution=(1 / VOXEL[0], 1 / VOXEL[1]), metadata={"spacing": VOXEL[2], "unit": "um"})
    out.append(("imagej-u8", p, [], VOXEL))
    # LZW strips by libtiff (PIL), uint16 values 100, 200, 300, resolution in dpi: z = x
    p = os.path.join(d, "lzw16.tif")
    write_pil(p, [(lab[z].astype(np.uint16) * 100) for z in range(nz)], "tiff_lzw", dpi=(25400 / VOXEL[0], 25400 / VOXEL[1]))
    out.append(("lzw-u16", p, ["-input_labels", "100,200,300"], (VOXEL[0], VOXEL[1], VOXEL[0])))
    # LZW 8-bit, no resolution: the deck's voxel size
    p = os.path.join(d, "lzw8.tif")
    write_pil(p, [lab[z] for z in range(nz)], "tiff_lzw")
    out.append(("lzw-u8", p, ["-domain_voxel_size_um", ",".join(map(str, VOXEL))], VOXEL))
    # deflate tiles, signed 32-bit values -7, 0, 7; resolution in cm, deck overrides it
    p = os.path.join(d, "tiles32.tif")
    tifffile.imwrite(p, (lab.astype(np.int32) - 2) * 7, tile=(16, 16), compression="zlib", resolution=(1e4 / 0.5, 1e4 / 0.5, "CENTIMETER"))
    out.append(("tiles-i32", p, ["-input_labels", "nvp=-7,carbon=0,pore=7", "-domain_voxel_size_um", ",".join(map(str, VOXEL))], VOXEL))
    # uncompressed tiles, unsigned 32-bit; the YAML map form in a deck
    p = os.path.join(d, "tiles_u32.tif")
    tifffile.imwrite(p, lab.astype(np.uint32) * 70000, tile=(16, 16), resolution=(1e4 / VOXEL[0], 1e4 / VOXEL[1], "CENTIMETER"))
    deck = os.path.join(d, "map.yaml")
    with open(deck, "w") as f:
        f.write("input:\n  labels: {70000: nvp, 140000: carbon, 210000: pore}\n")
    out.append(("tiles-u32-yaml-map", p, [deck, "-domain_voxel_size_um", ",".join(map(str, VOXEL))], VOXEL))
    # a folder of int16 slices (deflate, 3 rows per strip), values 0, 1, 2: natural order s_2 < s_10
    sd = os.path.join(d, "slices")
    os.makedirs(sd)
    for z in range(nz):
        tifffile.imwrite(os.path.join(sd, f"s_{z}.tif"), lab[z].astype(np.int16) - 1, compression="zlib", rowsperstrip=3,
                         resolution=(1e4 / VOXEL[0], 1e4 / VOXEL[1], "CENTIMETER"))
    vz = ["-domain_voxel_size_um", ",".join(map(str, VOXEL))]
    out.append(("folder-i16", sd + "/", ["-input_labels", "0:nvp,1:carbon,2:pore"] + vz, VOXEL))
    out.append(("glob-i16", os.path.join(sd, "s_*.tif"), ["-input_labels", "0:nvp,1:carbon,2:pore"] + vz, VOXEL))
    # a printf pattern, zero-padded numbers starting at 1, uint8 8-bit signed (int8) values
    pd = os.path.join(d, "pattern")
    os.makedirs(pd)
    for z in range(nz):
        tifffile.imwrite(os.path.join(pd, f"slice_{z + 1:04d}.tif"), (lab[z].astype(np.int8) * -1))
    out.append(("printf-i8", os.path.join(pd, "slice_%04d.tif"), ["-input_labels", "-1,-2,-3"] + vz, VOXEL))
    return out


def test_layouts_identical_to_hdf5():
    """Every layout at 1, 2, 3 ranks: labels written back equal the reference, descriptors equal
    the HDF5 path's, voxel size as the tags say (or the deck)."""
    d = pgtest.workdir("tiff_layouts")
    lab = labels()
    ref = os.path.join(d, "ref.h5")
    with h5py.File(ref, "w") as f:
        f.create_dataset("l", data=lab).attrs["voxel_size_um"] = VOXEL
    pgtest.run(1, ["-input_image", ref + ":/l", "-output_file", os.path.join(d, "h5.h5")] + FAST)
    want = pgtest.rows(os.path.join(d, "h5.h5"))[0]
    bad = []
    for name, spec, extra, voxel in layouts(d, lab):
        for np_ in (1, 2, 3):
            out = os.path.join(d, f"{name}-{np_}.h5")
            row, got, _ = measure(np_, spec, out, extra) if not extra or not extra[0].endswith(".yaml") else measure_deck(np_, spec, out, extra)
            if got.shape != lab.shape or not np.array_equal(got, lab):
                bad.append(f"{name} at {np_} ranks: labels differ in {np.count_nonzero(got != lab) if got.shape == lab.shape else got.shape} voxels")
            v = voxel_of(out[:-3] + "_phase_0000.tif")
            if not np.allclose(v, voxel, rtol=1e-6):
                bad.append(f"{name} at {np_} ranks: voxel {v}, expected {voxel}")
            if voxel == VOXEL:
                diff = [c for c in COMPARE if row[c] != want[c]]
                if diff:
                    bad.append(f"{name} at {np_} ranks: {diff} differ from the HDF5 path ({[(row[c], want[c]) for c in diff[:2]]})")
    assert not bad, "\n".join(bad)


def measure_deck(np_, spec, out, extra):
    """measure() with a deck file as the first argument."""
    pgtest.run(np_, [extra[0], "-input_image", spec, "-output_file", out, "-output_overwrite", "-output_tiff_labels"] + FAST + list(extra[1:]))
    with tifffile.TiffFile(out[:-3] + "_phase_0000.tif") as t:
        return pgtest.rows(out)[0], t.asarray(), t


def test_tiff_output_of_model_runs():
    """output.tiff_labels on model runs at 3 ranks (uneven slabs): tifffile reads each run's labels
    equal to /runs/<k>/phase, as an ImageJ stack with the voxel size; read back by the program at
    2 ranks the fractions are the same."""
    d = pgtest.workdir("tiff_output")
    out = os.path.join(d, "m.h5")
    pgtest.run(3, [pgtest.TINY, "-domain_shape", "13,11,10", "-domain_voxel_size_um", "0.0166,0.0166,0.02", "-sweep_realizations", "2",
                   "-output_tiff_labels", "-output_file", out] + pgtest.NOMEASURE)
    bad = []
    with h5py.File(out) as f:
        for k in range(2):
            tif = os.path.join(d, f"m_phase_{k:04d}.tif")
            with tifffile.TiffFile(tif) as t:
                a = t.asarray()
                if not t.is_imagej or t.imagej_metadata.get("unit") != "micron" or len(t.pages) != 10:
                    bad.append(f"{tif}: imagej {t.is_imagej}, {t.imagej_metadata}, {len(t.pages)} pages")
            if not np.array_equal(a, f[f"runs/{k:04d}/phase"][...]):
                bad.append(f"run {k}: TIFF differs from /runs/{k:04d}/phase")
            if not np.allclose(voxel_of(tif), (0.0166, 0.0166, 0.02), rtol=1e-6):
                bad.append(f"run {k}: voxel {voxel_of(tif)}")
    back = os.path.join(d, "back.h5")
    pgtest.run(2, ["-input_image", os.path.join(d, "m_phase_0001.tif"), "-output_file", back] + pgtest.NOMEASURE)
    r0, r1 = pgtest.rows(out)[1], pgtest.rows(back)[0]
    if any(r0[f"eps_{i}"] != r1[f"eps_{i}"] for i in (1, 2, 3)):
        bad.append(f"read back: {[r1[f'eps_{i}'] for i in (1, 2, 3)]} vs {[r0[f'eps_{i}'] for i in (1, 2, 3)]}")
    assert not bad, "\n".join(bad)


def test_label_maps_hdf5_every_integer_type():
    """HDF5 labels of every integer type (8 to 64 bits, signed or not) with arbitrary values,
    mapped by a list, by pairs and by a YAML map: the same fractions as uint8 labels 1, 2, 3, at
    1 and 3 ranks."""
    d = pgtest.workdir("tiff_maps")
    lab = labels(2)
    img = os.path.join(d, "img.h5")
    values = {"int8": (-5, 0, 100), "uint8": (0, 128, 255), "int16": (-300, 7, 30000), "uint16": (1, 2, 65535), "int32": (-70000, 3, 9),
              "uint32": (4000000000, 1, 2), "int64": (-1, 10 ** 12, 5), "uint64": (0, 1, 2)}
    with h5py.File(img, "w") as f:
        f.create_dataset("ref", data=lab).attrs["voxel_size_um"] = VOXEL
        for t, v in values.items():
            a = np.choose(lab - 1, v).astype(t)
            f.create_dataset(t, data=a).attrs["voxel_size_um"] = VOXEL
    pgtest.run(1, ["-input_image", img + ":/ref", "-output_file", os.path.join(d, "ref.h5")] + FAST)
    want = pgtest.rows(os.path.join(d, "ref.h5"))[0]
    deck = os.path.join(d, "map.yaml")
    bad = []
    for i, (t, v) in enumerate(values.items()):
        form = i % 3
        if form == 0:
            extra = ["-input_labels", ",".join(map(str, v))]
        elif form == 1:
            extra = ["-input_labels", f"pore={v[2]},nvp={v[0]},carbon={v[1]}"]
        else:
            with open(deck, "w") as f:
                f.write("input:\n  labels: {%d: nvp, %d: carbon, %d: pore}\n" % v)
            extra = [deck]
        for np_ in (1, 3):
            out = os.path.join(d, f"{t}-{np_}.h5")
            args = (extra if form == 2 else []) + ["-input_image", f"{img}:/{t}", "-output_file", out] + FAST + (extra if form != 2 else [])
            pgtest.run(np_, args)
            r = pgtest.rows(out)[0]
            diff = [c for c in COMPARE if r[c] != want[c]]
            if diff:
                bad.append(f"{t} ({['list', 'pairs', 'yaml map'][form]}) at {np_} ranks: {diff}")
    assert not bad, "\n".join(bad)


def calibration_data(d):
    data = os.path.join(d, "cal.h5")
    subprocess.run(["/usr/bin/python3", os.path.join(pgtest.ROOT, "tools", "make_calibration_data.py"), data, "--n3", "48,40,30", "--n2", "200", "--images", "2",
                    "--seed", "4", "--grey"], check=True, capture_output=True)
    return data


def calibration_attrs(path):
    with h5py.File(path) as f:
        return {k: f["calibration"].attrs[k] for k in ("lambda_x", "lambda_z", "alpha_x_per_um", "alpha_y_per_um", "m", "eps1", "eps2", "eps3")}


def test_calibration_from_tiff_and_raw():
    """calibration.volume and .images as TIFF (stack 255 = NVP with calibration.volume_labels [255],
    images 10/20/30 mapped by input.labels) and as raw int16/int32 files with maps: Table 1 equal
    to the HDF5 uint8 path's, at 1 and 3 ranks."""
    d = pgtest.workdir("tiff_calibration")
    data = calibration_data(d)
    with h5py.File(data) as f:
        vol, vox = f["volume"][...], f["volume"].attrs["voxel_size_um"]
        ims = [f[f"images/{k}"][...] for k in range(2)]
        px = f["images/0"].attrs["voxel_size_um"][0]
    tifffile.imwrite(os.path.join(d, "vol.tif"), (vol * 255).astype(np.uint8), imagej=True, resolution=(1 / vox[0], 1 / vox[1]), metadata={"spacing": vox[2], "unit": "um"})
    for k, im in enumerate(ims):
        write_pil(os.path.join(d, f"im{k}.tif"), [(im.astype(np.uint16) * 10)], "tiff_lzw", dpi=(25400 / px, 25400 / px))
        (im.astype(np.int32) - 10).tofile(os.path.join(d, f"im{k}.raw"))
    common = ["-calibration_simulate", "false", "-calibration_m_step", "0.02", "-fft_planner", "estimate"]
    cases = {
        "hdf5": ["-calibration_volume", f"{data}:/volume", "-calibration_images", ",".join(f"{data}:/images/{k}" for k in range(2))],
        "tiff": ["-calibration_volume", os.path.join(d, "vol.tif"), "-calibration_volume_labels", "[255]",
                 "-calibration_images", ",".join(os.path.join(d, f"im{k}.tif") for k in range(2)), "-input_labels", "10,20,30"],
        "raw": ["-calibration_volume", os.path.join(d, "vol.raw"), "-calibration_volume_shape", "48,40,30", "-calibration_volume_voxel_um", ",".join(map(str, vox)),
                "-calibration_raw_type", "int32", "-calibration_volume_labels", "3:nvp,5:pore",
                "-calibration_images", ",".join(os.path.join(d, f"im{k}.raw") for k in range(2)), "-calibration_image_shape", "200,200", "-calibration_pixel_um", str(px),
                "-input_labels", "nvp=-9,carbon=-8,pore=-7"],
    }
    (vol.astype(np.int32) * -2 + 5).tofile(os.path.join(d, "vol.raw"))  # NVP -> 3, rest -> 5 (one raw_type for both raw inputs)
    got = {}
    for name, args in cases.items():
        for np_ in (1, 3):
            out = os.path.join(d, f"{name}-{np_}.h5")
            pgtest.run(np_, args + common + ["-output_file", out])
            got[(name, np_)] = calibration_attrs(out)
    # identical across the formats at each rank count; across rank counts the reductions of C11
    # sum in another order (rounding)
    bad = [f"{k}: {v} != {got[('hdf5', k[1])]}" for k, v in got.items() if v != got[("hdf5", k[1])]]
    bad += [f"3 ranks vs 1: {k} {got[('hdf5', 3)][k]} != {v}" for k, v in got[("hdf5", 1)].items() if abs(got[("hdf5", 3)][k] - v) > 1e-8 * max(abs(v), 1)]
    assert not bad, "\n".join(bad)


def test_segmentation_from_tiff():
    """segment.volume (uint16 TIFF stack, deflate), segment.mask (a TIFF folder) and segment.images
    (TIFF) give the same labels file as the HDF5 inputs, at 2 ranks."""
    d = pgtest.workdir("tiff_segment")
    data = calibration_data(d)
    with h5py.File(data) as f:
        g, vox = f["grey/volume"][...], f["grey/volume"].attrs["voxel_size_um"]
        gi = [f[f"grey/images/{k}"][...] for k in range(2)]
        px = f["grey/images/0"].attrs["voxel_size_um"]
    mask = np.ones(g.shape, np.uint8)
    mask[:, :4, :] = 0
    with h5py.File(os.path.join(d, "mask.h5"), "w") as f:
        f.create_dataset("m", data=mask)
    tifffile.imwrite(os.path.join(d, "grey.tif"), g, compression="zlib", resolution=(1e4 / vox[0], 1e4 / vox[1], "CENTIMETER"))
    md = os.path.join(d, "mask")
    os.makedirs(md)
    for z in range(g.shape[0]):
        tifffile.imwrite(os.path.join(md, f"m{z}.tif"), mask[z] * 255)
    for k, im in enumerate(gi):
        tifffile.imwrite(os.path.join(d, f"gi{k}.tif"), im, tile=(64, 64), resolution=(1e4 / px[0], 1e4 / px[1], "CENTIMETER"))
    common = ["-segment_calibrate", "false", "-segment_volume_voxel_um", ",".join(map(str, vox)), "-segment_stack_median_radius_um", "0.02", "-segment_stack_otsu_radius_um", "0.1"]
    h5 = ["-segment_volume", f"{data}:/grey/volume", "-segment_mask", os.path.join(d, "mask.h5") + ":/m", "-segment_images", ",".join(f"{data}:/grey/images/{k}" for k in range(2))]
    tf = ["-segment_volume", os.path.join(d, "grey.tif"), "-segment_mask", md, "-segment_images", ",".join(os.path.join(d, f"gi{k}.tif") for k in range(2))]
    outs = []
    for name, args in (("h5", h5), ("tif", tf)):
        out = os.path.join(d, f"{name}.h5")
        pgtest.run(2, args + common + ["-output_file", out])
        outs.append(out[:-3] + "_labels.h5")
    with h5py.File(outs[0]) as a, h5py.File(outs[1]) as b:
        bad = [n for n in ("volume", "images/0", "images/1") if not np.array_equal(a[n][...], b[n][...])]
        assert (a["volume"][...] == 255).sum() == (mask == 0).sum(), "the mask was not applied"
    assert not bad, f"labels differ between HDF5 and TIFF inputs: {bad}"


def test_bad_files_one_line():
    """Not a TIFF, truncated, mixed page sizes, float labels, RGB, 1-bit, an unmapped value (its
    position), a gap in a pattern, an empty folder, a multi-page 2D image, a bad map: one error
    line each, exit 1, no output written."""
    d = pgtest.workdir("tiff_errors")
    lab = labels(3, (5, 6, 7))  # not 3 or 4 pages: tifffile would take them for colour samples
    good = os.path.join(d, "good.tif")
    tifffile.imwrite(good, lab, resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    with open(os.path.join(d, "text.tif"), "w") as f:
        f.write("not a tiff at all\n")
    raw = open(good, "rb").read()
    big = os.path.join(d, "big.tif")
    tifffile.imwrite(big, labels(4, (5, 40, 50)), resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    with open(os.path.join(d, "trunc.tif"), "wb") as f:
        f.write(open(big, "rb").read()[:4000])
    one = os.path.join(d, "one.tif")
    tifffile.imwrite(one, labels(4, (40, 50)), resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    with open(os.path.join(d, "trunc1.tif"), "wb") as f:  # the strip runs past the end
        f.write(open(one, "rb").read()[:-100])
    with tifffile.TiffWriter(os.path.join(d, "mixed.tif")) as t:
        t.write(lab[0], resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
        t.write(lab[1, :5, :], resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    tifffile.imwrite(os.path.join(d, "float.tif"), lab.astype(np.float32), resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    tifffile.imwrite(os.path.join(d, "rgb.tif"), np.stack([lab[0]] * 3, axis=-1), photometric="rgb")
    tifffile.imwrite(os.path.join(d, "bits1.tif"), lab[0] > 1, resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    unm = lab.copy()
    unm[2, 3, 5] = 9
    tifffile.imwrite(os.path.join(d, "unmapped.tif"), unm, resolution=(1e4 / 0.02, 1e4 / 0.02, "CENTIMETER"))
    gap = os.path.join(d, "gap")
    os.makedirs(gap)
    for z in (0, 1, 3):
        tifffile.imwrite(os.path.join(gap, f"s{z:02d}.tif"), lab[0])
    os.makedirs(os.path.join(d, "empty"))
    two = os.path.join(d, "twopages.tif")
    tifffile.imwrite(two, lab[:2])
    noimg = ",".join([two])
    vx = ["-domain_voxel_size_um", "0.02"]
    cases = [(["-input_image", os.path.join(d, "text.tif")], "not a readable TIFF"),
             (["-input_image", os.path.join(d, "trunc.tif")], "truncated"),
             (["-input_image", os.path.join(d, "trunc1.tif")], "past the end of the file"),
             (["-input_image", os.path.join(d, "mixed.tif")], "all pages must agree"),
             (["-input_image", os.path.join(d, "float.tif")], "labels must be integers"),
             (["-input_image", os.path.join(d, "rgb.tif")] + vx, "samples per pixel"),
             (["-input_image", os.path.join(d, "bits1.tif")], "1-bit"),
             (["-input_image", os.path.join(d, "unmapped.tif")], "(x,y,z) = (5,3,2)"),
             (["-input_image", os.path.join(d, "unmapped.tif"), "-input_labels", "{1: nvp, 2: carbon, 3: pore}"], "(value 9) at (x,y,z) = (5,3,2)"),
             (["-input_image", os.path.join(gap, "s%02d.tif")] + vx, "jump from 1 to 3"),
             (["-input_image", os.path.join(d, "empty")], "no .tif"),
             (["-input_image", os.path.join(d, "missing_%03d.tif")], "no file matches"),
             (["-input_image", os.path.join(d, "nothing.tif")], "cannot read"),
             (["-input_image", good, "-input_labels", "1,2"], "three values"),
             (["-input_image", good, "-input_labels", "nvp=1,stone=2"], "neither phase=value"),
             (["-input_image", good, "-input_labels", "1,1,2"], "mapped twice"),
             (["-calibration_volume", good, "-calibration_images", noimg], "2D image is one page")]

    def case(ic):  # cases run three at a time: each its own output (one output is one writer)
        i, (args, text) = ic
        p = pgtest.run(2, args + ["-output_file", os.path.join(d, f"e_{i}.h5")], check=False)
        err = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
        if p.returncode == 0 or len(err) != 1 or text not in err[0]:
            return [f"{args[1][len(d):]} {args[2:]}: exit {p.returncode}, expected one line with '{text}': {err or p.stderr[-300:]}"]
        return []

    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as ex:
        problems = [x for r in ex.map(case, enumerate(cases)) for x in r]
    left = [f for f in os.listdir(d) if f.startswith("e.") or f.startswith("e_")]
    assert not left, f"output written despite the error: {left}"
    assert not problems, "\n".join(problems)
