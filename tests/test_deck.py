"""Bad input: every case exits non-zero with one line 'plurigauss: error: ...' naming the key, and an
existing output file is left untouched (same bytes, same modification time)."""
import hashlib
import os

import pgtest

BASE = [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1]


def fingerprint(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns


def write(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def expect_error(args, must_contain, np_=2):
    p = pgtest.run(np_, args, check=False, singleton=True)
    lines = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
    problems = []
    if p.returncode == 0:
        problems.append(f"exit 0 for {args[-6:]}")
    if len(lines) != 1:
        problems.append(f"expected exactly one error line, got {len(lines)}: {p.stderr[:500]}")
    elif must_contain.lower() not in lines[0].lower():
        problems.append(f"error line does not name '{must_contain}': {lines[0]}")
    return problems


def test_bad_decks_leave_output_untouched():
    d = pgtest.workdir("deck")
    out = os.path.join(d, "keep.h5")
    pgtest.run(1, BASE + ["-output_file", out])
    before = {p: fingerprint(p) for p in (out, out[:-3] + ".csv", out[:-3] + ".xdmf")}
    bad_yaml = write(d, "garbage.yaml", "domain: [1, 2\nmodel: : : {\n")
    unknown_section = write(d, "unknown_section.yaml", "modle:\n  alpha_x: 1\n")
    unknown_key = write(d, "unknown_key.yaml", "model:\n  alpha_z: 3\n")
    both = write(d, "both.yaml", "model:\n  lambda_x: 0.1\n  nvp_fraction: 0.5\ndomain:\n  shape: [16, 16, 16]\n")
    O = ["-output_file", out]
    cases = [
        ([unknown_section] + O, "modle.alpha_x"),
        ([unknown_key] + O, "model.alpha_z"),
        (BASE + O + ["-model_alpah_x", 3], "model_alpah_x"),
        (BASE + O + ["-shape", "8,8,8"], "-shape"),
        (BASE + O + ["-model_alpha_x", 0], "model.alpha_x"),
        (BASE + O + ["-model_alpha_x", -1], "model.alpha_x"),
        (BASE + O + ["-model_alpha_y", "abc"], "model.alpha_y"),
        (BASE + O + ["-model_m", 1.5], "model.m"),
        (BASE + O + ["-model_m", -0.1], "model.m"),
        (BASE + O + ["-model_nvp_fraction", 0], "model.nvp_fraction"),
        (BASE + O + ["-model_nvp_fraction", 1.2], "model.nvp_fraction"),
        (BASE + O + ["-model_nvp_fraction", 0.6, "-model_carbon_fraction", 0.45], "carbon_fraction"),
        (BASE + O + ["-sweep_carbon_fraction", "0.2,1.3,0.3"], "sweep.carbon_fraction"),
        (BASE + O + ["-sweep_carbon_fraction", "0.2,0.5"], "sweep.carbon_fraction"),
        (BASE + O + ["-sweep_realizations", 0], "sweep.realizations"),
        (BASE + O + ["-domain_shape", "16,4,16"], "domain.shape"),
        (BASE + O + ["-domain_shape", "16,16"], "domain.shape"),
        (BASE + O + ["-domain_shape", "16,16.5,16"], "domain.shape"),
        (BASE + O + ["-domain_voxel_size_um", 0.2], "domain.voxel_size_um"),
        (BASE + O + ["-domain_voxel_size_um", "0.01,0.02"], "domain.voxel_size_um"),
        (BASE + O + ["-output_precision", "quad"], "output.precision"),
        (BASE + O + ["-output_compress", 10], "output.compress"),
        (BASE + O + ["-fft_planner", "fast"], "fft.planner"),
        (BASE + O + ["-output_write_phase", "maybe"], "output.write_phase"),
        ([both] + O, "model.lambda_x"),
        (BASE + O + ["-random_seed", -3], "random.seed"),
        (BASE + ["-output_file", os.path.join(d, "no/such/dir/x.h5")], "output.file"),
        ([os.path.join(d, "missing.yaml")] + O, "missing.yaml"),
        ([bad_yaml] + O, "garbage.yaml"),
        (BASE + O + ["-random_seed", 999], "output.file"),  # same file, a different deck
        (BASE + O + ["-input_image", "nofile.h5"], "input.image"),
        (BASE + O + ["-fft_memory", "low", "-output_write_fields", "true"], "output.write_fields"),
        (BASE + O + ["-fft_memory", "tiny"], "fft.memory"),
    ]
    problems = []
    for i, (args, key) in enumerate(cases):
        problems += expect_error(args, key, np_=2 if i % 3 == 0 else 1)  # collective errors print once
    after = {p: fingerprint(p) for p in before}
    for p in before:
        if before[p] != after[p]:
            problems.append(f"{p} was modified")
    leftovers = [f for f in os.listdir(d) if f.endswith(".part")]
    if leftovers:
        problems.append(f"left {leftovers}")
    assert not problems, "\n".join(problems)


def test_help_lists_every_key():
    p = pgtest.run(1, ["-help"])
    for key in ("domain.shape", "domain.voxel_size_um", "model.alpha_x", "model.alpha_y", "model.m", "model.lambda_x",
                "model.nvp_fraction", "model.lambda_z", "model.carbon_fraction", "random.seed", "sweep.carbon_fraction",
                "sweep.realizations", "output.file", "output.write_phase", "output.precision", "threads"):
        assert key in p.stdout, f"-help does not list {key}"
    assert "1/um" in p.stdout and "(0, 1)" in p.stdout, "units or ranges missing from -help"


def test_command_line_overrides_deck():
    """A threshold on the command line replaces the deck's fraction; a key overrides the deck's."""
    d = pgtest.workdir("override")
    out = os.path.join(d, "o.h5")
    pgtest.run(1, BASE + ["-output_file", out, "-model_lambda_z", -0.5, "-model_m", 0.3])
    r = pgtest.rows(out)[0]
    assert r["lambda_z"] == -0.5, r["lambda_z"]
    assert abs(r["eps2_model"] - pgtest.eq9(r["lambda_x"], -0.5, 0.3)) < 1e-8
