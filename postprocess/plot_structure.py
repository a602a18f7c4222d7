#!/usr/bin/env python3
"""Figure 5 style views of a realization: three orthogonal cut planes through the middle of the
volume and a perspective view of the cube with one corner cut away, NVP yellow, carbon red,
pores blue (the paper's colours).

Usage: /usr/bin/python3 postprocess/plot_structure.py OUT.h5 [--run K] [--png FILE]
Reads /runs/<K>/phase (uint8 labels 1, 2, 3) and its voxel_size_um; writes a PNG.
"""
import argparse
import os
import sys

import h5py
import numpy as np
from matplotlib.colors import ListedColormap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgplot as pg  # noqa: E402
from pgplot import plt  # noqa: E402

COLOURS = ListedColormap([pg.FACE[1], pg.FACE[2], pg.FACE[3]])  # NVP, carbon, pore


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--run", type=int, default=0)
    ap.add_argument("--png")
    a = ap.parse_args()
    with h5py.File(a.file, "r") as f:
        name = f"runs/{a.run:04d}"
        ds = f[name + "/phase"]
        vox = np.array(ds.attrs["voxel_size_um"], dtype=float).reshape(-1)
        nz, ny, nx = ds.shape
        xy = ds[nz // 2, :, :]
        xz = ds[:, ny // 2, :]
        yz = ds[:, :, nx // 2]
        stride = max(1, -(-max(nx, ny, nz) // 96))  # at most 96 voxels per side in the cube view
        cube = ds[::stride, ::stride, ::stride]
        attrs = dict(f[name].attrs)
    dx, dy, dz = (vox if vox.size == 3 else np.repeat(vox, 3))
    fig = plt.figure(figsize=(13, 4.6))
    panels = [(xy, "x-y plane, z = %.2f \u00b5m" % (nz // 2 * dz), (0, nx * dx, 0, ny * dy), "x (\u00b5m)", "y (\u00b5m)"),
              (xz, "x-z plane, y = %.2f \u00b5m" % (ny // 2 * dy), (0, nx * dx, 0, nz * dz), "x (\u00b5m)", "z (\u00b5m)"),
              (yz, "y-z plane, x = %.2f \u00b5m" % (nx // 2 * dx), (0, ny * dy, 0, nz * dz), "y (\u00b5m)", "z (\u00b5m)")]
    for i, (img, title, ext, xl, yl) in enumerate(panels):
        ax = fig.add_subplot(1, 4, i + 1)
        ax.imshow(img, origin="lower", cmap=COLOURS, vmin=1, vmax=3, extent=ext, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    # the cube with its corner cut away (pgplot.draw_voxels: one depth-sorted set of faces)
    ax = fig.add_subplot(1, 4, 4, projection="3d")
    pg.draw_voxels(ax, cube, (dx * stride, dy * stride, dz * stride))
    ax.set_axis_off()
    eps = [attrs.get(f"eps_{i}", np.nan) for i in (1, 2, 3)]
    fig.suptitle("%s run %d: eps = %.3f (NVP, yellow) / %.3f (carbon, red) / %.3f (pores, blue)" % (os.path.basename(a.file), a.run, *eps), fontsize=10)
    fig.tight_layout()
    png = a.png or os.path.splitext(a.file)[0] + f"_run{a.run:04d}.png"
    pg.savefig(fig, png)
    print(png)


if __name__ == "__main__":
    main()
