#!/usr/bin/env python3
"""Figure 5 style views of a realization: three orthogonal cut planes through the middle of the
volume and an isometric view of the three visible faces of the cube, NVP yellow, carbon red,
pores blue (the paper's colours).

Usage: /usr/bin/python3 postprocess/plot_structure.py OUT.h5 [--run K] [--png FILE]
Reads /runs/<K>/phase (uint8 labels 1, 2, 3) and its voxel_size_um; writes a PNG.
"""
import argparse
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

COLOURS = ListedColormap(["#f2c500", "#c0282d", "#2b5fb4"])  # NVP, carbon, pore
NAMES = ["NVP", "carbon", "pore"]


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
        top = ds[nz - 1, :, :]
        front = ds[:, 0, :]
        side = ds[:, :, nx - 1]
        attrs = dict(f[name].attrs)
    dx, dy, dz = (vox if vox.size == 3 else np.repeat(vox, 3))
    fig = plt.figure(figsize=(13, 4.6))
    panels = [(xy, "x-y plane, z = %.2f um" % (nz // 2 * dz), (0, nx * dx, 0, ny * dy), "x (um)", "y (um)"),
              (xz, "x-z plane, y = %.2f um" % (ny // 2 * dy), (0, nx * dx, 0, nz * dz), "x (um)", "z (um)"),
              (yz, "y-z plane, x = %.2f um" % (nx // 2 * dx), (0, ny * dy, 0, nz * dz), "y (um)", "z (um)")]
    for i, (img, title, ext, xl, yl) in enumerate(panels):
        ax = fig.add_subplot(1, 4, i + 1)
        ax.imshow(img, origin="lower", cmap=COLOURS, vmin=1, vmax=3, extent=ext, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    # isometric cube: the three visible faces as shaded quads
    ax = fig.add_subplot(1, 4, 4, projection="3d")
    rgb = np.array([[0.95, 0.77, 0.0], [0.75, 0.16, 0.18], [0.17, 0.37, 0.71]])
    step = max(1, max(nx, ny, nz) // 96)

    def face(img, X, Y, Z, shade):
        c = rgb[img[::step, ::step] - 1] * shade
        ax.plot_surface(X, Y, Z, facecolors=c, rstride=1, cstride=1, shade=False, linewidth=0)

    xs, ys, zs = np.arange(0, nx, step) * dx, np.arange(0, ny, step) * dy, np.arange(0, nz, step) * dz
    X, Y = np.meshgrid(xs, ys)
    face(top, X, Y, np.full_like(X, nz * dz), 1.0)
    X, Z = np.meshgrid(xs, zs)
    face(front, X, np.zeros_like(X), Z, 0.8)
    Y, Z = np.meshgrid(ys, zs)
    face(side, np.full_like(Y, nx * dx), Y, Z, 0.65)
    ax.set_box_aspect((nx * dx, ny * dy, nz * dz))
    ax.view_init(elev=25, azim=-60)
    ax.set_axis_off()
    eps = [attrs.get(f"eps_{i}", np.nan) for i in (1, 2, 3)]
    fig.suptitle("%s run %d: eps = %.3f (NVP, yellow) / %.3f (carbon, red) / %.3f (pores, blue)" % (os.path.basename(a.file), a.run, *eps), fontsize=10)
    fig.tight_layout()
    png = a.png or os.path.splitext(a.file)[0] + f"_run{a.run:04d}.png"
    fig.savefig(png, dpi=110)
    print(png)


if __name__ == "__main__":
    main()
