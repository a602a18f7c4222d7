#!/usr/bin/env python3
"""Segmentation at a glance (the paper's Figure 2 a-b): for each 2D image of a labels file, the
grey image it came from, the labels, and where known the true labels with the misclassified pixels
marked; for the stack, one slice the same way. Reads the labels file written by the segment stage
(its datasets carry the source grey dataset as attribute `source`, the stack's as the file's
`source_volume`) and an optional file with the truth (`/images/K`, `/truth/volume`, as written by
tools/make_calibration_data.py --grey).

  /usr/bin/python3 postprocess/plot_segmentation.py out/segment_example_labels.h5 \
      [--truth out/calibration_data.h5] [--out out/segment_example_figures/fig2_segmentation.png]
"""
import argparse
import os
import sys

import h5py
import numpy as np
from matplotlib.colors import ListedColormap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgplot  # noqa: E402

plt = pgplot.plt
# 0 = not NVP (one-phase stacks), 1-3 the phases, 255 outside the mask (drawn white)
CMAP = ListedColormap([(0.85, 0.85, 0.85), pgplot.FACE[1], pgplot.FACE[2], pgplot.FACE[3], (1, 1, 1)])


def colour_index(lab):
    return np.where(lab == 255, 4, np.minimum(lab, 3))


def grey_of(spec, index=None):
    """The grey dataset FILE:/path (a 2D slice `index` of a 3D one)."""
    path, name = spec.rsplit(":", 1)
    with h5py.File(path, "r") as f:
        d = f[name]
        return d[index] if index is not None else d[...]


def rows(labels, truth):
    """(title, grey, labels, truth or None) per panel row."""
    out = []
    with h5py.File(labels, "r") as f:
        t = h5py.File(truth, "r") if truth else None
        if "volume" in f:
            z = f["volume"].shape[0] // 2
            src = pgplot.text(f.attrs.get("source_volume", ""))
            tr = t["truth/volume"][z] if t is not None and "truth/volume" in t else None
            out.append((f"stack, slice z = {z}", grey_of(src, z) if src else None, f["volume"][z], tr))
        for k in sorted(f["images"], key=int) if "images" in f else []:
            d = f[f"images/{k}"]
            tr = t[f"images/{k}"][...] if t is not None and f"images/{k}" in t else None
            out.append((f"image {k}", grey_of(pgplot.text(d.attrs["source"])), d[...], tr))
        if t is not None:
            t.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels")
    ap.add_argument("--truth", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-images", type=int, default=2)
    ap.add_argument("--crop", type=int, default=256, help="show the top-left CROP x CROP pixels of larger images (0: all)")
    a = ap.parse_args()
    r = rows(a.labels, a.truth)
    r = r[: 1 + a.max_images] if r and r[0][0].startswith("stack") else r[: a.max_images]
    ncol = 3 if any(x[3] is not None for x in r) else 2
    fig, axes = plt.subplots(len(r), ncol, figsize=(4.2 * ncol, 4.0 * len(r)), squeeze=False)
    for row, (title, grey, lab, tr) in zip(axes, r):
        if a.crop and max(lab.shape) > a.crop:
            c = (slice(0, a.crop), slice(0, a.crop))
            title = f"{title} ({a.crop}\u00b2 of {lab.shape[1]} x {lab.shape[0]} px)"
            grey, lab, tr = (None if grey is None else grey[c]), lab[c], (None if tr is None else tr[c])
        if grey is not None:
            row[0].imshow(grey, cmap="gray", interpolation="nearest")
        row[0].set_title(f"{title}: grey values")
        row[1].imshow(colour_index(lab), cmap=CMAP, vmin=0, vmax=4, interpolation="nearest")
        row[1].set_title("segmented (NVP yellow, carbon red, pore blue)")
        if ncol == 3:
            if tr is not None:
                inside = lab != 255
                one_phase = np.isin(lab[inside], (0, 1)).all()
                wrong = ((lab == 1) != (tr == 1)) if one_phase else (lab != tr)
                wrong &= inside
                row[2].imshow(colour_index(tr if not one_phase else np.where(tr == 1, 1, 0)), cmap=CMAP, vmin=0, vmax=4, interpolation="nearest")
                row[2].imshow(np.ma.masked_where(~wrong, wrong), cmap=ListedColormap(["black"]), interpolation="nearest")
                row[2].set_title(f"truth; misclassified black ({100 * wrong[inside].mean():.1f} % here)")
            else:
                row[2].axis("off")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(a.labels)), "fig2_segmentation.png")
    pgplot.savefig(fig, out)
    print(out)


if __name__ == "__main__":
    main()
