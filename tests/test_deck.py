"""Bad input: every case exits non-zero with one line 'plurigauss: error: ...' naming the key (no
PETSc trace), and touches no file: a pre-existing output (HDF5, CSV, XDMF) keeps its bytes and
modification time, and no new file (.part, .csv, ...) appears.

Each case runs in its own directory holding a copy of the same finished output, so the cases can
run side by side (an error exit is mostly waiting for MPI start-up) and a modified file is
attributed to the case that modified it."""
import concurrent.futures
import os
import re
import shutil

import pgtest

BASE = [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1] + pgtest.NOMEASURE
fingerprint = pgtest.fingerprint


def write(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def snapshot(d):
    return {f: fingerprint(os.path.join(d, f)) for f in sorted(os.listdir(d)) if os.path.isfile(os.path.join(d, f))}


def expect_error(args, must_contain, np_, d=None):
    """Runs a case that must fail; returns the list of problems. d: a directory whose files must
    be left exactly as they are."""
    before = snapshot(d) if d else None
    p = pgtest.run(np_, args, check=False, singleton=True)
    lines = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
    problems = []
    tag = " ".join(str(a) for a in args if str(a) not in BASE)[-160:]
    if p.returncode == 0:
        problems.append(f"[{tag}] exit 0, expected an error naming '{must_contain}'")
    if len(lines) != 1:
        problems.append(f"[{tag}] expected exactly one 'plurigauss: error' line, got {len(lines)}: {p.stderr[:500]}")
    elif must_contain.lower() not in lines[0].lower():
        problems.append(f"[{tag}] error line does not name '{must_contain}': {lines[0]}")
    if "PETSC ERROR" in p.stderr or "PETSC ERROR" in p.stdout:
        problems.append(f"[{tag}] a PETSc error trace instead of one line: {p.stderr[:300]}")
    if np_ == 1 and len([l for l in p.stderr.splitlines() if l.strip()]) != 1:
        problems.append(f"[{tag}] stderr has more than the error line: {p.stderr[:500]}")
    if d:
        after = snapshot(d)
        for f in before:
            if f not in after:
                problems.append(f"[{tag}] {f} was removed")
            elif after[f] != before[f]:
                problems.append(f"[{tag}] {f} was modified")
        new = sorted(set(after) - set(before))
        if new:
            problems.append(f"[{tag}] created {new}")
    return problems


def test_bad_decks_leave_output_untouched():
    d = pgtest.workdir("deck")
    good = os.path.join(d, "good")
    os.makedirs(good)
    ref = os.path.join(good, "keep.h5")
    pgtest.run(1, BASE + ["-output_file", ref])
    decks = {
        "garbage.yaml": ": : [\n",
        "garbage2.yaml": "domain: [1, 2\nmodel: : : {\n",
        "unknown_section.yaml": "modle:\n  alpha_x: 1\n",
        "unknown_key.yaml": "model: {alpha_z: 3}\n",
        "abc.yaml": "model:\n  alpha_x: abc\n",
        "list.yaml": "model:\n  alpha_x: [1, 2]\n",
        "both_x.yaml": "model:\n  lambda_x: 0.1\n  nvp_fraction: 0.5\ndomain:\n  shape: [16, 16, 16]\n",
        "both_z.yaml": "model:\n  lambda_z: 0.1\n  carbon_fraction: 0.3\ndomain:\n  shape: [16, 16, 16]\n",
    }
    O = ["-output_file", "{OUT}"]
    cases = [  # (arguments, text the error line must contain); {OUT} and {DIR} are per case
        (["{DIR}/unknown_section.yaml"] + O, "modle.alpha_x"),
        (["{DIR}/unknown_key.yaml"] + O, "model.alpha_z"),
        (BASE + O + ["-model_alpah_x", 3], "model_alpah_x"),
        (BASE + O + ["-shape", "8,8,8"], "-shape"),
        (BASE + O + ["-model_alpha_x", 0], "model.alpha_x"),
        (BASE + O + ["-model_alpha_x", -1], "model.alpha_x"),
        (BASE + O + ["-model_alpha_x", "abc"], "model.alpha_x"),
        (BASE + O + ["-model_alpha_y", "abc"], "model.alpha_y"),
        (["{DIR}/abc.yaml"] + O, "model.alpha_x"),
        (["{DIR}/list.yaml"] + O, "model.alpha_x"),
        (BASE + O + ["-model_m", 1.5], "model.m"),
        (BASE + O + ["-model_m", -0.1], "model.m"),
        (BASE + O + ["-model_nvp_fraction", 0], "model.nvp_fraction"),
        (BASE + O + ["-model_nvp_fraction", 1.2], "model.nvp_fraction"),
        (BASE + O + ["-model_nvp_fraction", 0.6, "-model_carbon_fraction", 0.45], "carbon_fraction"),
        (BASE + O + ["-sweep_carbon_fraction", "0.2,1.3,0.3"], "sweep.carbon_fraction"),
        (BASE + O + ["-sweep_carbon_fraction", "0.2,0.3,-0.1"], "sweep.carbon_fraction"),
        (BASE + O + ["-sweep_carbon_fraction", "0.2,0.5"], "sweep.carbon_fraction"),  # 0.5148 + 0.5 >= 1
        (BASE + O + ["-sweep_carbon_fraction", "0.2,0.3", "-model_lambda_z", 0.1], "model.lambda_z"),
        (BASE + O + ["-sweep_realizations", 0], "sweep.realizations"),
        (BASE + O + ["-domain_shape", "16,4,16"], "domain.shape"),
        (BASE + O + ["-domain_shape", "16,16"], "domain.shape"),
        (BASE + O + ["-domain_shape", "16,16,16,16"], "domain.shape"),
        (BASE + O + ["-domain_shape", "16,16.5,16"], "domain.shape"),
        (BASE + O + ["-domain_voxel_size_um", 0.2], "domain.voxel_size_um"),  # alpha dx = 5.3 with alpha_y 26.5
        (BASE + O + ["-domain_voxel_size_um", "0.01,0.02"], "domain.voxel_size_um"),
        (BASE + O + ["-output_precision", "quad"], "output.precision"),
        (BASE + O + ["-output_compress", 10], "output.compress"),
        (BASE + O + ["-fft_planner", "fast"], "fft.planner"),
        (BASE + O + ["-output_write_phase", "maybe"], "output.write_phase"),
        (["{DIR}/both_x.yaml"] + O, "model.lambda_x"),
        (["{DIR}/both_z.yaml"] + O, "model.lambda_z"),
        (BASE + O + ["-random_seed", -3], "random.seed"),
        (BASE + ["-output_file", "{DIR}/no/such/dir/x.h5"], "output.file"),
        (["{DIR}/missing.yaml"] + O, "missing.yaml"),
        (["{DIR}/garbage.yaml"] + O, "garbage.yaml"),
        (["{DIR}/garbage2.yaml"] + O, "garbage2.yaml"),
        (BASE + O + ["-random_seed", 999], "output.file"),  # the existing output holds a different deck
        (BASE + O + ["-domain_shape", "16,16,24"], "output.file"),  # ... a different grid
        (BASE + ["-output_file", "{DIR}/other.h5", "-random_seed", 999], "output.overwrite"),  # other.h5.part: an interrupted run of another deck
        (BASE + O + ["-input_image", "nofile.h5"], "input.image"),
        (BASE + O + ["-fft_memory", "low", "-output_write_fields", "true"], "output.write_fields"),
        (BASE + O + ["-fft_memory", "tiny"], "fft.memory"),
        (BASE + O + ["-measure_axes", "xq"], "measure.axes"),
        (BASE + O + ["-measure_axes", ""], "measure.axes"),
        (BASE + O + ["-measure_connectivity", 8], "measure.connectivity"),
        (BASE + O + ["-measure_mip_inlet", "top"], "measure.mip_inlet"),
        (BASE + O + ["-measure_psd_step_um", -0.01], "measure.psd_step_um"),
        (BASE + O + ["-measure_psd_step_um", 1e-6], "measure.psd_step_um"),
        (BASE + O + ["-measure_mhat_exponents", "1.15,0.35"], "measure.mhat_exponents"),
        (BASE + O + ["-measure_tortuosity", "sometimes"], "measure.tortuosity"),
        (BASE + O + ["-conductivity_axes", "w"], "conductivity.axes"),
        (BASE + O + ["-conductivity_rtol", 2], "conductivity.rtol"),
        (BASE + O + ["-conductivity_solver_options", "pc_type=hypre"], "conductivity.solver_options"),
    ]
    jobs = []
    for i, (args, key) in enumerate(cases):
        cd = os.path.join(d, f"case{i:02d}")
        shutil.copytree(good, cd)
        shutil.copy(os.path.join(cd, "keep.h5"), os.path.join(cd, "other.h5.part"))
        for name, text in decks.items():
            write(cd, name, text)
        out = os.path.join(cd, "keep.h5")
        a = [str(x).replace("{OUT}", out).replace("{DIR}", cd) for x in args]
        jobs.append((a, key, 2 if i % 3 == 0 else 1, cd))  # collective errors at 2 ranks print once
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(lambda j: expect_error(*j), jobs))
    problems = [p for r in results for p in r]
    # the positive control: the same deck on the same output is accepted (a finished sweep: no-op)
    p = pgtest.run(2, BASE + ["-output_file", ref])
    if "1 already in" not in p.stdout:
        problems.append(f"rerunning the good deck on its own output did not resume it: {p.stdout[:400]}")
    assert not problems, f"{len(problems)} problems in {len(cases)} cases:\n" + "\n".join(problems)


def test_unreachable_carbon_fraction_names_key():
    """With lambda_X given, a carbon fraction above Phi(lambda_X) cannot be reached by eq. 9: the
    error must name the key that asked for it (README: errors name the key, the value and the
    allowed range) and touch no file."""
    d = pgtest.workdir("deck_unreachable")
    problems = []
    problems += expect_error(BASE + ["-output_file", f"{d}/u.h5", "-model_lambda_x", 1, "-model_carbon_fraction", 0.9], "model.carbon_fraction", 1, d)
    problems += expect_error(BASE + ["-output_file", f"{d}/u.h5", "-model_lambda_x", 1, "-sweep_carbon_fraction", "0.2,0.9"], "sweep.carbon_fraction", 2, d)
    assert not problems, "\n".join(problems)


def test_help_lists_every_key():
    p = pgtest.run(1, ["-help"])
    for key in ("domain.shape", "domain.voxel_size_um", "model.alpha_x", "model.alpha_y", "model.m", "model.lambda_x",
                "model.nvp_fraction", "model.lambda_z", "model.carbon_fraction", "random.seed", "sweep.carbon_fraction",
                "sweep.realizations", "sweep.common_random_numbers", "output.file", "output.write_phase", "output.write_fields",
                "output.precision", "output.overwrite", "threads"):
        assert key in p.stdout, f"-help does not list {key}"
    assert "1/um" in p.stdout and "(0, 1)" in p.stdout, "units or ranges missing from -help"


def _cells(row):
    """The cells of a Markdown table row, split at unescaped '|', backslash escapes removed."""
    return [re.sub(r"\\(.)", r"\1", c).strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_readme_key_table():
    """README.md's deck-key table (between the keytable markers, written by tools/keytable.py) is
    exactly what `bin/plurigauss -help_markdown` prints, and that table lists the keys of `-help`,
    each once, in its order, with the same default, unit, allowed range and meaning."""
    md = [l for l in pgtest.run(1, ["-help_markdown"], singleton=True).stdout.splitlines() if l.startswith("|")]
    with open(os.path.join(pgtest.ROOT, "README.md"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert "<!-- keytable:begin -->" in lines and "<!-- keytable:end -->" in lines, "README.md lacks the keytable markers"
    readme = lines[lines.index("<!-- keytable:begin -->") + 1:lines.index("<!-- keytable:end -->")]
    if readme != md:
        have = {_cells(r)[0].strip("`"): r for r in readme[2:] if r.startswith("|")}
        want = {_cells(r)[0].strip("`"): r for r in md[2:]}
        missing = [k for k in want if k not in have]
        extra = [k for k in have if k not in want]
        differ = [k for k in want if k in have and have[k] != want[k]]
        raise AssertionError(f"README.md's key table differs from bin/plurigauss -help_markdown (run /usr/bin/python3 tools/keytable.py): "
                             f"missing {missing}, not in the program {extra}, different {differ}, {len(readme)} lines against {len(md)}")
    # the Markdown table against the plain -help: key, default and unit are its first three words,
    # then the range and the meaning
    out = pgtest.run(1, ["-help"], singleton=True).stdout.splitlines()
    start = next(i for i, l in enumerate(out) if l.split()[:2] == ["key", "default"]) + 1
    plain = [l for l in out[start:out.index("", start)]]
    rows = [_cells(r) for r in md[2:]]
    keys = [r[0].strip("`") for r in rows]
    assert len(set(keys)) == len(keys), f"a key is listed twice: {sorted(k for k in keys if keys.count(k) > 1)}"
    assert keys == [l.split()[0] for l in plain], f"-help_markdown and -help list different keys:\n{keys}\n{[l.split()[0] for l in plain]}"
    bad = []
    for r, l in zip(rows, plain):
        key, deflt, unit, allowed, meaning = r
        w = l.split(None, 3)
        d = "(unset)" if deflt == "unset" else deflt.strip("`")
        rest = w[3].strip()
        if w[1] != d or w[2] != unit or not rest.startswith(allowed) or not rest.endswith(meaning) or len(rest) < len(allowed) + len(meaning):
            bad.append(f"{key}: -help '{l.strip()}' vs Markdown {r}")
    assert not bad, "\n".join(bad)
    assert len(keys) >= 90, f"only {len(keys)} keys"


def test_command_line_overrides_deck():
    """A threshold on the command line replaces the deck's fraction; a key overrides the deck's."""
    d = pgtest.workdir("override")
    out = os.path.join(d, "o.h5")
    pgtest.run(1, BASE + ["-output_file", out, "-model_lambda_z", -0.5, "-model_m", 0.3])
    r = pgtest.rows(out)[0]
    assert r["lambda_z"] == -0.5, r["lambda_z"]
    assert abs(r["eps2_model"] - pgtest.eq9(r["lambda_x"], -0.5, 0.3)) < 1e-8


def test_solver_options_on_the_command_line():
    """The conduction solver's own options (-cond_*) are accepted on the command line and reach the
    solver (-cond_mg_view prints the hierarchy); a value that begins with '-' after
    -conductivity_solver_options, which PETSc's command line reads as an option named
    '-cond_method amg', is refused in one line that says so, before any output exists."""
    d = pgtest.workdir("cliopts")
    out = os.path.join(d, "o.h5")
    solve = [pgtest.TINY, "-domain_shape", "16,16,16", "-sweep_realizations", 1, "-measure_psd", "false", "-measure_mip", "false",
             "-measure_tortuosity", "false", "-conductivity_solve", "true"]
    p = pgtest.run(1, solve + ["-output_file", out, "-cond_mg_view"])
    assert "conductivity multigrid:" in p.stdout, p.stdout[-2000:]
    bad = os.path.join(d, "bad.h5")
    p = pgtest.run(1, solve + ["-output_file", bad, "-conductivity_solver_options", "-cond_method amg"], check=False)
    err = [l for l in p.stderr.splitlines() if l.startswith("plurigauss: error")]
    assert p.returncode != 0 and len(err) == 1 and "begins with '-'" in err[0], p.stderr[-2000:]
    assert not os.path.exists(bad) and not os.path.exists(bad + ".part")


def test_overwrite_replaces_other_deck():
    """output.overwrite replaces an output of a different deck: the new file carries the new seed."""
    import h5py
    d = pgtest.workdir("overwrite")
    out = os.path.join(d, "o.h5")
    pgtest.run(1, BASE + ["-output_file", out, "-random_seed", 1])
    s1 = pgtest.rows(out)[0]["seed"]
    pgtest.run(1, BASE + ["-output_file", out, "-random_seed", 2, "-output_overwrite", "true"])
    r = pgtest.rows(out)
    assert len(r) == 1 and r[0]["seed"] != s1, f"seeds {s1} -> {[x['seed'] for x in r]}"
    with h5py.File(out, "r") as f:
        sig = f.attrs["signature"]
        sig = sig.decode() if isinstance(sig, bytes) else sig
        assert "seed=2" in sig, sig
    assert not os.path.exists(out + ".part")
