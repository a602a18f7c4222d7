#!/usr/bin/env python3
"""The postprocess (postprocess/make_figures.py) on a small sweep made by the program: every figure
is written as a valid PNG of reasonable size, and the numbers of Figure 6 (means and standard
deviations over the realizations) are those of the run table."""
import csv
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdriver  # noqa: E402
import pgtest  # noqa: E402

sys.path.insert(0, os.path.join(pgtest.ROOT, "postprocess"))


def test_make_figures_from_a_sweep():
    import make_figures
    d = pgtest.workdir("figures")
    out = os.path.join(d, "sweep.h5")
    pgtest.run(2, [pgtest.TINY, "-sweep_carbon_fraction", "0.2,0.3,0.4", "-sweep_realizations", 2, "-output_file", out, "-output_write_fields", "false"])
    p = subprocess.run([sys.executable, os.path.join(pgtest.ROOT, "postprocess", "make_figures.py"), out, "--outdir", os.path.join(d, "figs")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    files = p.stdout.split()
    names = {os.path.basename(f) for f in files}
    for want in ("fig3_covariance.png", "fig4_psd2d.png", "fig4b_psd3d_mip.png", "fig6_sweep.png"):
        assert want in names, (want, names)
    assert sum(n.startswith("fig5_structure_") for n in names) == 3, names
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(8)
        assert head == b"\x89PNG\r\n\x1a\n", f"{f} is not a PNG"
        assert 10_000 < os.path.getsize(f) < 2_000_000, (f, os.path.getsize(f))
    rows = make_figures.rows_of(os.path.splitext(out)[0] + ".csv")
    _, plotted = make_figures.fig6(rows, os.path.join(d, "check.png"))
    raw = list(csv.DictReader(open(os.path.splitext(out)[0] + ".csv")))
    for col in ("S_12", "tau_1", "M_pred_3", "M_2", "perc_3"):
        x, m, s = plotted[col]
        for xi, mi, si in zip(x, m, s):
            vals = [float(r[col]) for r in raw if abs(float(r["eps2_target"]) - xi) < 1e-9 and not (col.startswith("tau") and float(r[col]) <= 0)]
            assert abs(mi - np.mean(vals)) < 1e-12 and abs(si - np.std(vals)) < 1e-12, (col, xi, mi, vals)


if __name__ == "__main__":
    sys.exit(cdriver.main(sys.modules[__name__]))
