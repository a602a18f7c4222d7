"""Fuzzed inputs: malformed inputs for every reader of the program, each of which must
end in exactly one line `plurigauss: error: ...`, a non-zero exit, no sanitizer report, no crash
and no hang (a timeout per case), and leave an existing output (and its directory) untouched.

Readers and what is fed to them (seeded, reproducible: PLURIGAUSS_FUZZ_SEED, default 16):
  * decks: random mutations of every shipped deck (inputs/*.yaml): a key's value replaced by one
    outside its range or of the wrong type (the keys, types and ranges come from `-help`), a key
    renamed or moved to another section, a scalar turned into a mapping or a nested list, and the
    YAML syntax broken (unclosed brackets and quotes, tabs, bad indentation, undefined aliases,
    control characters, a truncated file); the error must name the key (or say the YAML is bad);
  * HDF5 label images (input.image): truncated files, random bytes, wrong dtypes, wrong ranks, zero
    and huge extents (sparse chunked datasets: refused by the memory check), labels outside
    {1,2,3}, bad voxel-size attributes, groups and dangling links instead of datasets;
  * raw files (calibration and segmentation inputs): short, long and empty files;
  * calibration inputs: volumes and 2D images of wrong types and ranks, labels outside {1,2,3}, a
    missing phase, inconsistent pixel sizes, degenerate volumes, too short a range;
  * segmentation inputs: grey data with NaN and infinities, wrong types, masks of the wrong shape
    or type, zero extents.
Every case runs as a singleton MPI process (no mpirun) under a timeout, two at a time, with
output.file pointing at a finished output of another deck (whose files are fingerprinted), so that
even a case that wrongly passed every check could not run for long or change anything. Under
`make check SAN=1` the same cases run against the sanitizer build. The count is printed."""
import concurrent.futures
import copy
import os
import random
import re
import shutil

import h5py
import numpy as np
import yaml

import pgtest

SEED = int(os.environ.get("PLURIGAUSS_FUZZ_SEED", "16"))
# the plain suite runs every third case (0, 3, 6, ...), the sanitizer build (CI: make check SAN=1)
# the other two thirds, so CI runs each of the same generator's cases once; PLURIGAUSS_FUZZ_ALL=1
# (or make check LONG=1) runs all of them in either build
ALL = bool(os.environ.get("PLURIGAUSS_FUZZ_ALL")) or pgtest.LONG
TIMEOUT = 180 if pgtest.SAN else 60
JOBS = 2
# a singleton that does not start Open MPI's daemon: half the start-up time of an error exit. Isolated
# singletons all take the same job id, hence the same session directory (<tmp>/ompi.<host>.<uid>/jf.0/1):
# the first of two side-by-side cases to finish removes it under the other, whose MPI-IO open then fails
# (sharedfp/sm cannot create its file there; CI saw it once) or whose start-up does. Each case gets its
# own session directory base (fast_singleton_env).
FAST_SINGLETON = {"OMPI_MCA_ess_singleton_isolated": "1"}


def fast_singleton_env(outdir):
    """The environment of a case that writes into outdir: its session directory beside outdir (not in
    it: the test compares outdir's listing before and after)."""
    base = outdir.rstrip("/") + ".ompi"
    os.makedirs(base, exist_ok=True)
    return dict(FAST_SINGLETON, OMPI_MCA_orte_tmpdir_base=base)
INT_KEYS = {"domain.shape", "random.seed", "sweep.realizations", "sweep.first_point", "output.compress", "measure.connectivity", "segment.volume_shape",
            "segment.image_shape", "segment.stack_phases", "segment.stack_bins", "segment.image_phases", "segment.image_bins", "calibration.volume_shape",
            "calibration.image_shape", "threads"}
# text keys with a value that is always wrong, and the words the error must contain
TEXT_BAD = {"measure.axes": ["xq", "w", "xyzx1"], "conductivity.axes": ["q", "z y"], "conductivity.solver_options": ["-ksp_type cg", "-cond_pc_type hypre -pc_type lu"],
            }


# ------------------------------------------------------------------------------------------------
# The keys, from the program itself
# ------------------------------------------------------------------------------------------------

def keys_table():
    """{deck key: (allowed text, default)} from `bin/plurigauss -help`."""
    p = pgtest.run(1, ["-help"], singleton=True)
    keys = {}
    pat = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\[[^\]\)]*[\]\)]|\([^\]\)]*[\]\)]|\S+)\s+(.*)$")
    for line in p.stdout.splitlines():
        m = pat.match(line)
        if m and "." in m.group(1) or (m and m.group(1) == "threads"):
            keys[m.group(1)] = (m.group(4), m.group(2))
    assert len(keys) > 80, f"parsed only {len(keys)} keys from -help"
    return keys


def bad_values(key, allowed, rng):
    """Values that key must refuse, each with the text its error line must contain."""
    out = []
    if allowed == "true|false":
        out = ["maybe", "2", "yess", "[true, false]"]
    elif "|" in allowed:
        out = ["bogus", allowed.split("|")[0] + "x", "1.5", "[" + allowed.split("|")[0] + ", " + allowed.split("|")[-1] + "]"]
    elif allowed == "text":
        out = TEXT_BAD.get(key, [])
        return [(v, key) for v in out]
    else:
        m = re.match(r"([\[\(])([^,]+), ([^\]\)]+)([\]\)])", allowed)
        lo, hi = float(m.group(2)), float(m.group(3))
        lo_open, hi_open = m.group(1) == "(", m.group(4) == ")"
        out = ["abc", "1..2", "nan", "", "0x", "--1"]
        if np.isfinite(lo):
            out += [repr(lo) if lo_open else repr(lo - max(1.0, abs(lo))), repr(lo - 1e6)]
        if np.isfinite(hi):
            out += [repr(hi) if hi_open else repr(hi * 2 + 1), "1e300"]
        if key in INT_KEYS:
            out += ["2.5"]
        if key not in ("sweep.carbon_fraction",) and not key.endswith("shape") and not key.endswith("_um") and key != "measure.mhat_exponents" and key != "calibration.reference":
            out += ["1,2,3,4,5"]
    return [(v, key) for v in out]


def option_path(key):
    """deck key -> list of YAML mapping keys (flat under its section)."""
    if "." not in key:
        return [key]
    sec, rest = key.split(".", 1)
    return [sec, rest]


def find_nested(d, option):
    """The path in deck dict d whose joined names equal the option (e.g. segment/stack/otsu...)."""
    if not isinstance(d, dict):
        return None
    for k, v in d.items():
        k = str(k)
        if k == option:
            return [k]
        if option.startswith(k + "_") and isinstance(v, dict):
            sub = find_nested(v, option[len(k) + 1:])
            if sub:
                return [k] + sub
    return None


def set_path(d, path, value):
    for k in path[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise KeyError
    d[path[-1]] = value


def deck_cases(rng, keys, n):
    decks = sorted(f for f in os.listdir(os.path.join(pgtest.ROOT, "inputs")) if f.endswith(".yaml"))
    texts = {f: open(os.path.join(pgtest.ROOT, "inputs", f)).read() for f in decks}
    parsed = {f: yaml.safe_load(t) for f, t in texts.items()}
    cases = []
    keylist = sorted(keys)
    syntax = [
        lambda t, r: t.replace("[", "[ ", 1).replace("]", "", 1) if "]" in t else t + "\nmodel:\n  m: [0.1, 0.2\n",
        lambda t, r: t + '\nrandom:\n  seed: "7\n',
        lambda t, r: t + "\nmodel:\n\tm: 0.1\n",
        lambda t, r: t + "\nmodel:\n  m: 0.1\n    x: 2\n",
        lambda t, r: t + "\nmodel:\n  m: *undefined_alias\n",
        lambda t, r: t + "\nmodel:\n  m: 0.1\x01\n",
        lambda t, r: t + "\nmodel:\n  m: [[0.1]]\n",
        lambda t, r: t + "\na: b: c\n",
        lambda t, r: t + "\n? [a, b]\n: 1\n",
        lambda t, r: t + "\nmodel\n  m: 0.1\n",
        lambda t, r: t + "\n  - dangling\n",
        lambda t, r: t[: max(1, int(len(t) * r.uniform(0.3, 0.9)))] + "\n  : [\n",
        lambda t, r: t + "\nmodel: {m: 0.1\n",
        lambda t, r: t + "\n{}: 1\n",
    ]
    cli = {"output.file", "output.overwrite"}  # given on every case's command line, which wins
    keylist = [k for k in keylist if k not in cli]
    while len(cases) < n:
        deck = rng.choice(decks)
        kind = rng.random()
        if kind < 0.55:  # a value out of range or of the wrong type
            key = rng.choice(keylist)
            allowed, _ = keys[key]
            bad = bad_values(key, allowed, rng)
            if not bad:
                continue
            value, expect = rng.choice(bad)
            d = copy.deepcopy(parsed[deck])
            option = key.replace(".", "_")
            path = find_nested(d, option) or option_path(key)
            try:
                set_path(d, path, value)
            except KeyError:
                continue
            # both of a pair given in one source is its own (right) error; keep the case simple
            text = yaml.safe_dump(d, sort_keys=False)
            cases.append((f"deck {deck}: {key} = {value!r}", text, [expect]))
        elif kind < 0.75:  # a key the program does not know
            d = copy.deepcopy(parsed[deck])
            sec = rng.choice([k for k, v in d.items() if isinstance(v, dict)])
            sub = d[sec]
            k = rng.choice(list(sub))
            how = rng.randrange(4)
            if how == 0:
                newk = str(k) + rng.choice(["_x", "s", "2", "_um_um"])
            elif how == 1:
                s = list(str(k))
                i = rng.randrange(len(s) - 1) if len(s) > 1 else 0
                s[i], s[i + 1 if len(s) > 1 else 0] = s[i + 1 if len(s) > 1 else 0], s[i]
                newk = "".join(s) if "".join(s) != str(k) else str(k) + "q"
            elif how == 2:  # into another section
                other = rng.choice([x for x in ("domain", "model", "random", "sweep", "output", "fft", "measure") if x != sec])
                if f"{other}.{k}" in keys:
                    continue
                d.setdefault(other, {})
                if not isinstance(d[other], dict):
                    continue
                d[other][k] = sub.pop(k)
                cases.append((f"deck {deck}: {sec}.{k} moved to {other}", yaml.safe_dump(d, sort_keys=False), ["unknown key"]))
                continue
            else:  # a scalar turned into a mapping
                if isinstance(sub[k], dict):
                    continue
                sub[k] = {"value": sub[k]}
                cases.append((f"deck {deck}: {sec}.{k} as a mapping", yaml.safe_dump(d, sort_keys=False), ["unknown key"]))
                continue
            if f"{sec}.{newk}" in keys or newk in (str(x) for x in sub):
                continue
            sub[newk] = sub.pop(k)
            cases.append((f"deck {deck}: {sec}.{k} renamed {newk}", yaml.safe_dump(d, sort_keys=False), ["unknown key"]))
        else:  # the YAML itself broken
            i = rng.randrange(len(syntax))
            text = syntax[i](texts[deck], rng)
            cases.append((f"deck {deck}: syntax {i}", text, ["not valid YAML", "unknown key", "is not a number"]))
    return cases


# ------------------------------------------------------------------------------------------------
# Image inputs
# ------------------------------------------------------------------------------------------------

def labels(rng, shape, phases=(1, 2, 3)):
    return np.asarray(rng.choice(phases, size=shape), dtype=np.uint8)


def h5(path, name, data=None, voxel=(0.02, 0.02, 0.02), **kw):
    with h5py.File(path, "a") as f:
        if data is not None:
            d = f.create_dataset(name, data=data, **kw)
        else:
            d = f.create_dataset(name, **kw)
        if voxel is not None:
            d.attrs["voxel_size_um"] = np.asarray(voxel, dtype=np.float64)
    return f"{path}:/{name.lstrip('/')}"


def image_cases(rng, d, nprng):
    """(name, args, expected words) for input.image."""
    cases = []
    good = os.path.join(d, "good.h5")
    spec_good = h5(good, "phase", labels(nprng, (24, 22, 20)))
    big = os.path.join(d, "big.h5")
    h5(big, "phase", labels(nprng, (40, 40, 40)))
    raw = open(big, "rb").read()
    for k in range(30):  # truncated copies of a valid file
        cut = int(len(raw) * (k + rng.random()) / 30)
        p = os.path.join(d, f"trunc{k}.h5")
        open(p, "wb").write(raw[:cut])
        cases.append((f"image truncated at {cut}/{len(raw)} bytes", ["-input_image", p + ":/phase"], ["input.image"]))
    for k in range(6):  # random bytes, empty, a signature and garbage
        p = os.path.join(d, f"noise{k}.h5")
        body = bytes(nprng.integers(0, 256, size=rng.randrange(0, 5000), dtype=np.uint8))
        if k == 4:
            body = b"\x89HDF\r\n\x1a\n" + body
        if k == 5:
            body = b""
        open(p, "wb").write(body)
        cases.append((f"image random bytes {k}", ["-input_image", p + ":/phase"], ["input.image"]))
    types = {"float32": np.float32, "float64": np.float64, "int8": np.int8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "int64": np.int64, "bool": np.bool_}
    p = os.path.join(d, "types.h5")
    for n, t in types.items():
        a = labels(nprng, (8, 9, 10)).astype(t)
        if np.issubdtype(t, np.integer):  # any integer type is read; a value without a phase is not
            a[2, 3, 4] = 9 if np.issubdtype(t, np.unsignedinteger) else -1
            cases.append((f"image dtype {n} unmapped label", ["-input_image", h5(p, n, a)], ["outside {1,2,3}"]))
        else:
            cases.append((f"image dtype {n}", ["-input_image", h5(p, n, a)], ["integer"]))
    a = labels(nprng, (8, 9, 10)).astype(np.float32)
    a[3, 4, 5] = np.nan
    cases.append(("image float with NaN", ["-input_image", h5(p, "float_nan", a)], ["integer"]))
    cases.append(("image strings", ["-input_image", h5(p, "strings", np.array([b"ab", b"cd"]))], ["integer", "dimensions"]))
    cases.append(("image compound", ["-input_image", h5(p, "compound", np.zeros((4, 4, 4), dtype=[("a", "u1"), ("b", "f4")]))], ["integer"]))
    for shape in [(), (10,), (10, 12), (2, 8, 9, 10), (1, 1, 8, 9, 10)]:
        data = labels(nprng, shape) if shape else np.uint8(1)
        cases.append((f"image rank {len(shape)}", ["-input_image", h5(p, f"rank{len(shape)}_{len(cases)}", data)], ["dimensions"]))
    for shape in [(0, 10, 10), (10, 0, 10), (10, 10, 0), (1, 10, 10), (10, 1, 10), (10, 10, 1)]:
        cases.append((f"image extent {shape}", ["-input_image", h5(p, f"extent_{'_'.join(map(str, shape))}", dtype=np.uint8, shape=shape)], ["extent"]))
    for shape in [(4000, 4000, 4000), (2 ** 20, 2 ** 20, 2 ** 20), (100000, 100, 100), (3, 2 ** 31, 3)]:
        cases.append((f"image huge extent {shape}", ["-input_image", h5(p, f"huge_{len(cases)}", dtype=np.uint8, shape=shape, chunks=(1, min(shape[1], 64), min(shape[2], 64)))],
                      ["memory", "extent"]))
    for v in (0, 4, 7, 255):
        a = labels(nprng, (8, 9, 10))
        z, y, x = nprng.integers(0, 8), nprng.integers(0, 9), nprng.integers(0, 10)
        a[z, y, x] = v
        cases.append((f"image label {v}", ["-input_image", h5(p, f"label{v}", a)], [f"(x,y,z) = ({x},{y},{z})"]))
    for k, vox in enumerate([None, (-0.02, 0.02, 0.02), (0, 0.02, 0.02), (np.nan, 0.02, 0.02), (np.inf,) * 3, (0.02,) * 4]):
        cases.append((f"image voxel attribute {vox}", ["-input_image", h5(p, f"vox{k}", labels(nprng, (8, 9, 10)), voxel=vox)], ["voxel"]))
    with h5py.File(p, "a") as f:
        f.create_group("agroup")
        f["dangling"] = h5py.SoftLink("/does/not/exist")
        f["external"] = h5py.ExternalLink(os.path.join(d, "missing.h5"), "/phase")
        sa = f.create_dataset("strattr", data=labels(nprng, (8, 9, 10)))
        sa.attrs["voxel_size_um"] = "0.02"
    for name in ("agroup", "dangling", "external", "nothing"):
        cases.append((f"image path {name}", ["-input_image", f"{p}:/{name}"], ["no dataset"]))
    cases.append(("image voxel attribute a string", ["-input_image", f"{p}:/strattr"], ["voxel"]))
    cases.append(("image spec without dataset", ["-input_image", good], ["FILE.h5:/"]))
    cases.append(("image spec empty path", ["-input_image", good + ":"], ["FILE.h5:/", "does not exist"]))
    cases.append(("image missing file", ["-input_image", os.path.join(d, "missing.h5") + ":/phase"], ["does not exist"]))
    cases.append(("image directory", ["-input_image", d + ":/phase"], ["input.image"]))
    del spec_good
    return cases


def calibration_cases(rng, d, nprng):
    """Calibration inputs: HDF5 and raw volumes and images."""
    cases = []
    p = os.path.join(d, "cal.h5")
    vol = np.where(nprng.random((20, 24, 24)) < 0.5, 1, 0).astype(np.uint8)
    imgs = [labels(nprng, (64, 64)) for _ in range(3)]
    V = h5(p, "volume", vol)
    I = [h5(p, f"images/{k}", im, voxel=(0.005, 0.005)) for k, im in enumerate(imgs)]
    base = lambda v, i: ["-calibration_volume", v, "-calibration_images", ",".join(i), "-calibration_simulate", "false", "-calibration_range_um", "0.06"]
    # the volume
    cases.append(("calibration volume float32", base(h5(p, "vol_float32", vol.astype(np.float32)), I), ["calibration.volume", "integer"]))
    for n, t in (("int16", np.int16), ("uint16", np.uint16)):  # any integer type; with a map, every value must be in it
        v = vol.astype(t)
        v[1, 2, 3] = 7
        cases.append((f"calibration volume {n} unmapped", base(h5(p, f"vol_{n}", v), I) + ["-calibration_volume_labels", "{1: nvp, 0: pore}"], ["calibration.volume", "7"]))
    cases.append(("calibration volume 2D", base(h5(p, "vol2d", vol[0]), I), ["calibration.volume", "dimensions"]))
    cases.append(("calibration volume 4D", base(h5(p, "vol4d", vol[None]), I), ["calibration.volume", "dimensions"]))
    cases.append(("calibration volume zero extent", base(h5(p, "vol0", dtype=np.uint8, shape=(0, 5, 5)), I), ["calibration.volume", "extent"]))
    cases.append(("calibration volume all NVP", base(h5(p, "volall", np.ones_like(vol)), I), ["calibration"]))
    cases.append(("calibration volume no NVP", base(h5(p, "volnone", np.zeros_like(vol)), I), ["calibration"]))
    cases.append(("calibration volume huge", base(h5(p, "volhuge", dtype=np.uint8, shape=(5000, 5000, 5000), chunks=(1, 64, 64)), I), ["memory"]))
    cases.append(("calibration volume no voxel size", base(h5(p, "volnovox", vol, voxel=None), I), ["voxel_size_um"]))
    # the images
    for v in (0, 4, 200):
        bad = [im.copy() for im in imgs]
        y, x = nprng.integers(0, 64), nprng.integers(0, 64)
        bad[1][y, x] = v
        cases.append((f"calibration image label {v}", base(V, [I[0], h5(p, f"img_label{v}", bad[1], voxel=(0.005, 0.005)), I[2]]), ["calibration.images"]))
    nocarbon = [np.where(im == 2, 3, im).astype(np.uint8) for im in imgs]
    cases.append(("calibration images without carbon", base(V, [h5(p, f"nocarbon/{k}", im, voxel=(0.005, 0.005)) for k, im in enumerate(nocarbon)]), ["calibration"]))
    cases.append(("calibration images pixel sizes differ", base(V, [I[0], h5(p, "img_px", imgs[1], voxel=(0.006, 0.005))]), ["pixel sizes"]))
    cases.append(("calibration image 3D", base(V, [h5(p, "img3d", np.stack([imgs[0], imgs[1]]), voxel=(0.005, 0.005))]), ["calibration.images", "dimensions"]))
    cases.append(("calibration image float", base(V, [h5(p, "imgf", imgs[0].astype(np.float32), voxel=(0.005, 0.005))]), ["calibration.images", "uint8"]))
    cases.append(("calibration image missing", base(V, [I[0], p + ":/images/99"]), ["no dataset"]))
    cases.append(("calibration images empty list", base(V, [" , "]), ["calibration.images"]))
    cases.append(("calibration image tiny", base(V, [h5(p, "imgtiny", imgs[0][:1, :5], voxel=(0.005, 0.005))]), ["extent"]))
    cases.append(("calibration range too short", base(V, I)[:-2] + ["-calibration_range_um", "0.001"], ["calibration.range_um"]))
    # raw files: short, long, empty, for the volume and the images
    rv = os.path.join(d, "vol.raw")
    vol.tofile(rv)
    ri = os.path.join(d, "img.raw")
    imgs[0].tofile(ri)
    rawv = ["-calibration_volume_shape", "24,24,20", "-calibration_volume_voxel_um", "0.02"]
    rawi = ["-calibration_image_shape", "64,64", "-calibration_pixel_um", "0.005"]
    for k, cut in enumerate([0, 1, vol.size // 2, vol.size - 1, vol.size + 1, vol.size * 2]):
        q = os.path.join(d, f"vol_{k}.raw")
        data = vol.tobytes()
        open(q, "wb").write(data[:cut] if cut <= len(data) else data + b"\1" * (cut - len(data)))
        cases.append((f"calibration raw volume of {cut} bytes", base(q, I) + rawv, ["calibration.volume", "bytes"]))
    for k, cut in enumerate([0, 7, imgs[0].size - 1, imgs[0].size + 3]):
        q = os.path.join(d, f"img_{k}.raw")
        data = imgs[0].tobytes()
        open(q, "wb").write(data[:cut] if cut <= len(data) else data + b"\1" * (cut - len(data)))
        cases.append((f"calibration raw image of {cut} bytes", base(V, [q]) + rawi, ["calibration.images", "bytes"]))
    cases.append(("calibration raw volume without shape", base(rv, I), ["calibration.volume_shape"]))
    cases.append(("calibration raw volume uint16 type", base(rv, I) + rawv + ["-calibration_raw_type", "uint16"], ["bytes"]))
    cases.append(("calibration raw image without pixel size", base(V, [ri]) + ["-calibration_image_shape", "64,64"], ["calibration.pixel_um"]))
    cases.append(("calibration volume without images", ["-calibration_volume", V, "-calibration_simulate", "false"], ["calibration.images"]))
    return cases


def segment_cases(rng, d, nprng):
    """Segmentation inputs: grey stacks and images, masks, raw files."""
    cases = []
    p = os.path.join(d, "grey.h5")
    stack = nprng.random((12, 32, 32)).astype(np.float32)
    img = nprng.random((48, 48)).astype(np.float32)
    S = h5(p, "stack", stack)
    G = h5(p, "image", img, voxel=(0.005, 0.005))
    base = ["-segment_calibrate", "false", "-segment_stack_otsu_radius_um", "0.1", "-segment_image_otsu_radius_um", "0.05"]
    for where in ("stack", "image"):
        for bad in (np.nan, np.inf, -np.inf):
            a = (stack if where == "stack" else img).copy()
            idx = tuple(int(nprng.integers(0, s)) for s in a.shape)
            a[idx] = bad
            spec = h5(p, f"{where}_{bad}", a, voxel=(0.02, 0.02, 0.02) if where == "stack" else (0.005, 0.005))
            key = "segment.volume" if where == "stack" else "segment.images"
            cases.append((f"segment {where} with {bad}", base + ([f"-segment_volume", spec] if where == "stack" else ["-segment_images", spec]), [key, "finite"]))
    for n, t in (("bool", np.bool_), ("strings", None), ("complex", np.complex64)):  # grey values: any integer or float type
        data = np.array([b"ab", b"cd"]) if t is None else (stack * 100).astype(t)
        cases.append((f"segment stack {n}", base + ["-segment_volume", h5(p, f"stack_{n}", data)], ["segment.volume"]))
    cases.append(("segment stack 2D", base + ["-segment_volume", h5(p, "stack2d", stack[0])], ["dimensions"]))
    cases.append(("segment stack zero extent", base + ["-segment_volume", h5(p, "stack0", dtype=np.float32, shape=(4, 0, 4))], ["extent"]))
    cases.append(("segment stack huge", base + ["-segment_volume", h5(p, "stackhuge", dtype=np.float32, shape=(3000, 3000, 3000), chunks=(1, 64, 64))], ["memory"]))
    cases.append(("segment image huge", base + ["-segment_images", h5(p, "imagehuge", dtype=np.float32, shape=(300000, 300000), chunks=(64, 64), voxel=(0.005, 0.005))], ["memory", "extent"]))
    cases.append(("segment mask shape", base + ["-segment_volume", S, "-segment_mask", h5(p, "mask_shape", np.ones((12, 32, 31), np.uint8))], ["segment.mask"]))
    cases.append(("segment mask float", base + ["-segment_volume", S, "-segment_mask", h5(p, "mask_float", np.ones((12, 32, 32), np.float32))], ["segment.mask"]))
    cases.append(("segment mask raw", base + ["-segment_volume", S, "-segment_mask", os.path.join(d, "mask.raw")], ["segment.mask"]))
    cases.append(("segment image 3D", base + ["-segment_images", h5(p, "image3d", stack[:2], voxel=(0.005, 0.005))], ["segment.images", "dimensions"]))
    cases.append(("segment image missing", base + ["-segment_images", G + "," + p + ":/nothing"], ["no dataset"]))
    cases.append(("segment labels file is the output", base + ["-segment_images", G, "-segment_labels_file", "OUTPUT"], ["segment.labels_file"]))
    gr = (stack * 65535).astype("<u2")
    for k, cut in enumerate([0, 5, gr.nbytes - 2, gr.nbytes + 2]):
        q = os.path.join(d, f"grey_{k}.raw")
        data = gr.tobytes()
        open(q, "wb").write(data[:cut] if cut <= len(data) else data + b"\0" * (cut - len(data)))
        cases.append((f"segment raw stack of {cut} bytes", base + ["-segment_volume", q, "-segment_volume_shape", "32,32,12", "-segment_volume_voxel_um", "0.02"], ["segment.volume", "bytes"]))
    gi = (img * 65535).astype("<u2")
    for k, cut in enumerate([0, 3, gi.nbytes - 1]):
        q = os.path.join(d, f"greyimg_{k}.raw")
        open(q, "wb").write(gi.tobytes()[:cut])
        cases.append((f"segment raw image of {cut} bytes", base + ["-segment_images", q, "-segment_image_shape", "48,48", "-segment_pixel_um", "0.005"], ["segment.images", "bytes"]))
    cases.append(("segment raw stack float32 size", base + ["-segment_volume", os.path.join(d, "grey_3.raw"), "-segment_volume_shape", "32,32,12", "-segment_volume_voxel_um", "0.02",
                                                             "-segment_raw_type", "float32"], ["bytes"]))
    return cases


# ------------------------------------------------------------------------------------------------
# Running the cases
# ------------------------------------------------------------------------------------------------

def snapshot(d):
    return {f: pgtest.fingerprint(os.path.join(d, f)) for f in sorted(os.listdir(d))}


def run_case(case, outdir, deckdir):
    """Returns a problem description, or None if the case behaved."""
    name, payload, expect = case
    out = os.path.join(outdir, "existing.h5")
    if name.startswith("deck "):
        deck = os.path.join(deckdir, f"deck_{abs(hash(name)) % 10**8}_{os.getpid()}_{id(case)}.yaml")
        with open(deck, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(payload)
        args = [deck]
    elif name.startswith("image "):  # no deck: the voxel size comes from the image
        args = list(payload)
    else:
        args = [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1] + [out if a == "OUTPUT" else a for a in payload]
    args += ["-output_file", out, "-output_overwrite", "false"]
    env = fast_singleton_env(outdir)
    before = snapshot(outdir)
    for attempt in range(3):
        try:
            p = pgtest.run(1, args, check=False, singleton=True, timeout=TIMEOUT, env=env)
        except AssertionError as e:  # a sanitizer report
            return f"[{name}] {str(e)[:1500]}"
        except Exception as e:  # noqa: BLE001 - a timeout is a hang
            return f"[{name}] {type(e).__name__}: {e}"
        # Open MPI's own start-up failing (seen once under heavy load: "ompi_rte_init failed" before
        # main ran a line of plurigauss) is not the program's behaviour: start it again
        if "ompi_rte_init failed" not in p.stderr and "Local abort before MPI_INIT" not in p.stderr:
            break
    err = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
    probs = []
    if p.returncode == 0 or p.returncode < 0 or p.returncode > 1:
        probs.append(f"exit status {p.returncode} (expected 1)")
    if len(err) != 1 or not err[0].startswith("plurigauss: error: "):
        probs.append(f"{len(err)} error lines: {err[:3]}")
    elif not any(w in err[0] for w in expect):
        probs.append(f"the error line names none of {expect}: {err[0][:300]}")
    if err and "holds runs of a different deck" in err[0]:
        probs.append("the case passed every input check (refused only by the existing output)")
    if "PETSC ERROR" in p.stderr or "Traceback" in p.stderr:
        probs.append("a PETSc trace")
    after = snapshot(outdir)
    if after != before:
        probs.append(f"files changed in the output directory: {sorted(set(after.items()) ^ set(before.items()))[:4]}")
    if probs:
        return f"[{name}] " + "; ".join(probs) + ("\n        stderr: " + p.stderr[-600:].replace("\n", "\n        ") if p.stderr else "")
    return None


def test_fuzzed_inputs_one_error_line_each():
    rng = random.Random(SEED)
    nprng = np.random.default_rng(SEED)
    root = pgtest.workdir("fuzz")
    data = os.path.join(root, "data")
    os.makedirs(data)
    # the existing output every case points at: a finished run of another deck, one copy per worker
    first = os.path.join(root, "first")
    os.makedirs(first)
    pgtest.run(1, [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1, "-output_file", os.path.join(first, "existing.h5")] + pgtest.NOMEASURE, singleton=True)
    outdirs = []
    for w in range(JOBS):
        o = os.path.join(root, f"out{w}")
        shutil.copytree(first, o)
        outdirs.append(o)
    keys = keys_table()
    cases = deck_cases(rng, keys, 160) + image_cases(rng, data, nprng) + calibration_cases(rng, data, nprng) + segment_cases(rng, data, nprng)
    print(f"     fuzz: {len(cases)} cases (seed {SEED}): {sum(c[0].startswith('deck') for c in cases)} decks, {sum(c[0].startswith('image') for c in cases)} label images, "
          f"{sum(c[0].startswith('calibration') for c in cases)} calibration inputs, {sum(c[0].startswith('segment') for c in cases)} segmentation inputs", flush=True)
    assert len(cases) >= 300, f"only {len(cases)} cases"
    if not ALL and not pgtest.SAN:
        cases = cases[::3]
        print(f"     fuzz: running every third case ({len(cases)}); the sanitizer build runs the others, PLURIGAUSS_FUZZ_ALL=1 all", flush=True)
    elif not ALL:
        cases = [c for i, c in enumerate(cases) if i % 3]
        print(f"     fuzz: running the two thirds the plain suite leaves ({len(cases)}); PLURIGAUSS_FUZZ_ALL=1 runs all", flush=True)
    decks = os.path.join(root, "decks")
    os.makedirs(decks)
    # JOBS workers, each with its own copy of the output, running its share of the cases in turn
    def worker(w):
        return [r for r in (run_case(c, outdirs[w], decks) for c in cases[w::JOBS]) if r]

    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as ex:
        problems = [r for rs in ex.map(worker, range(JOBS)) for r in rs]
    print(f"     fuzz: {len(cases)} cases, {len(problems)} failed", flush=True)
    assert not problems, f"{len(problems)} of {len(cases)} cases failed:\n" + "\n".join(problems[:40])


if __name__ == "__main__":
    import sys
    import cdriver
    sys.exit(cdriver.main(sys.modules[__name__]))
