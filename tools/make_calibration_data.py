#!/usr/bin/env python3
"""Calibration data from known parameters, sampled as the paper's data were (Section 3.2):

  * a 3D stack in which only NVP is resolved (label 1 = NVP, 0 = not NVP), at anisotropic voxels
    (default 16 x 16 x 20 nm, 128 x 128 x 100 voxels), like the FIB-SEM data;
  * several 2D three-phase label images (1 = NVP, 2 = carbon, 3 = pore) at a finer pixel size
    (default three images of 1024^2 pixels at 5 nm), like the HR-SEM images.

The 3D stack and each 2D image are independent realizations (the paper's come from different
particles). The Gaussian fields are exact on the periodic grid: circulant embedding of
rho(h) = exp(-(alpha h)^2) (the 2D images are exact planar sections of the isotropic 3D model,
whose restriction to a plane is the 2D field with the same rho). Labels: X >= lambda_X is NVP;
else Z = sqrt(m) X + sqrt(1-m) Y >= lambda_Z is carbon; else pore (Section 3.1).

  tools/make_calibration_data.py OUT.h5 [--alpha-x 16.6 --alpha-y 26.5 --m 0.15 --eps1 0.5148
      --eps2 0.3372 --n3 128,128,100 --voxel3 0.016,0.016,0.020 --n2 1024 --pixel2 0.005
      --images 3 --seed 1 --raw DIR --grey --cnr 3 --psf-um 0.0025 --drift 0.3]

With --grey the same structures are also rendered as a microscope would image them (Section 2.3:
NVP bright, filled pore medium, carbon dark): grey levels 0.8 / 0.4 / 0.2 of full scale, a
Gaussian blur of --psf-um (the resolution), Gaussian noise of standard deviation 0.2 / --cnr (the
contrast-to-noise ratio of the closest phases, carbon and pore), and on the stack a slow multiplicative
brightness drift across slices (gain 1 + drift (z/(nz-1) - 1/2)), stored as uint16
(0..65535 = -0.25..1.25): /grey/volume and /grey/images/K, with the stack's true three-phase
labels in /truth/volume (--truth writes those alone: a full 3D three-phase image of the same
material, for calibration.validate_with). The segmentation tests and inputs/segment_example.yaml use them.

OUT.h5 holds /volume ([nz][ny][nx], attribute voxel_size_um = dx,dy,dz), /images/0, /images/1, ...
([ny][nx], attribute voxel_size_um = px,py) and the true parameters as root attributes
(lambda_x, lambda_z, alpha_x_per_um, alpha_y_per_um, m). --raw DIR also writes DIR/volume.u8 and
DIR/image_K.u8 (uint8, C order). Prints `truth lambda_x lambda_z alpha_x alpha_y m`."""
import argparse
import os

import numpy as np
from scipy.optimize import brentq
from scipy.integrate import quad
from scipy.stats import norm


def eq9(lx, lz, m):
    """eps2 by eq. 9 (scipy quadrature)."""
    if m >= 1:
        return max(0.0, norm.cdf(lx) - norm.cdf(lz))
    if m <= 0:
        return norm.cdf(lx) * norm.sf(lz)
    v, _ = quad(lambda t: norm.pdf(t) * norm.sf((lz - np.sqrt(m) * t) / np.sqrt(1 - m)), -np.inf, lx, epsabs=1e-13)
    return v


def gaussian_field(shape, voxel, alpha, rng):
    """A stationary Gaussian field on the periodic grid `shape` (numpy order) with voxel edges
    `voxel` (µm, same order), unit variance and covariance exp(-(alpha |h|)^2) at the lattice lags."""
    c = np.ones(shape)
    for ax, (n, v) in enumerate(zip(shape, voxel)):
        d = np.minimum(np.arange(n), n - np.arange(n)) * v
        s = [1] * len(shape)
        s[ax] = n
        c = c * np.exp(-(alpha * d) ** 2).reshape(s)
    lam = np.fft.rfftn(c).real
    lam[lam < 0] = 0
    w = rng.standard_normal(shape)
    return np.fft.irfftn(np.sqrt(lam) * np.fft.rfftn(w), s=shape)


def labels(x, y, lx, lz, m):
    z = np.sqrt(m) * x + np.sqrt(1 - m) * y
    out = np.full(x.shape, 3, dtype=np.uint8)
    out[z >= lz] = 2
    out[x >= lx] = 1
    return out


GREY = {1: 0.8, 2: 0.2, 3: 0.4}  # NVP bright, carbon dark, filled pore medium (Section 2.3)
CONTRAST = 0.2  # the smallest difference of neighbouring levels (carbon - pore)


def render(lab, voxel, psf_um, cnr, rng, gain):
    """Grey values of a label image: levels, Gaussian blur of psf_um (per axis in voxels, periodic
    like the fields), noise of sd CONTRAST / cnr, gain; uint16 with 0..65535 = -0.25..1.25."""
    from scipy.ndimage import gaussian_filter
    g = np.zeros(lab.shape)
    for phase, level in GREY.items():
        g[lab == phase] = level
    if psf_um > 0:
        g = gaussian_filter(g, [psf_um / v for v in voxel], mode="wrap", truncate=4.0)
    g = g + rng.standard_normal(lab.shape) * (CONTRAST / cnr)
    g = g * gain
    return np.round(np.clip((g + 0.25) / 1.5, 0, 1) * 65535).astype(np.uint16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--alpha-x", type=float, default=16.6)
    ap.add_argument("--alpha-y", type=float, default=26.5)
    ap.add_argument("--m", type=float, default=0.15)
    ap.add_argument("--eps1", type=float, default=0.5148)
    ap.add_argument("--eps2", type=float, default=0.3372)
    ap.add_argument("--n3", default="128,128,100", help="nx,ny,nz of the 3D stack")
    ap.add_argument("--voxel3", default="0.016,0.016,0.020", help="dx,dy,dz (um)")
    ap.add_argument("--n2", type=int, default=1024, help="side of each 2D image (pixels)")
    ap.add_argument("--pixel2", type=float, default=0.005, help="pixel edge (um)")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--raw", default=None, help="also write raw uint8 files into this directory")
    ap.add_argument("--grey", action="store_true", help="also write grey-value renderings (see above)")
    ap.add_argument("--truth", action="store_true", help="also write the stack's three-phase labels /truth/volume (implied by --grey)")
    ap.add_argument("--cnr", type=float, default=3.0, help="contrast-to-noise ratio of neighbouring phases")
    ap.add_argument("--psf-um", type=float, default=0.0025, help="Gaussian blur sigma (um): the resolution, half a 5 nm pixel")
    ap.add_argument("--drift", type=float, default=0.3, help="relative brightness change across the stack")
    a = ap.parse_args()

    import h5py
    lx = norm.ppf(1 - a.eps1)
    lz = brentq(lambda t: eq9(lx, t, a.m) - a.eps2, -40, 40, xtol=1e-14)
    rng = np.random.default_rng(a.seed)
    nx, ny, nz = (int(v) for v in a.n3.split(","))
    dx, dy, dz = (float(v) for v in a.voxel3.split(","))
    x3 = gaussian_field((nz, ny, nx), (dz, dy, dx), a.alpha_x, rng)
    vol = (x3 >= lx).astype(np.uint8)  # 1 = NVP, 0 = not resolved
    imgs = []
    for _ in range(a.images):
        x = gaussian_field((a.n2, a.n2), (a.pixel2, a.pixel2), a.alpha_x, rng)
        y = gaussian_field((a.n2, a.n2), (a.pixel2, a.pixel2), a.alpha_y, rng)
        imgs.append(labels(x, y, lx, lz, a.m))
    grey = {}
    if a.grey or a.truth:
        # drawn after the images, so that --grey and --truth leave the label data unchanged
        y3 = gaussian_field((nz, ny, nx), (dz, dy, dx), a.alpha_y, rng)
        truth3 = labels(x3, y3, lx, lz, a.m)
        del y3
    if a.grey:
        gain = 1 + a.drift * (np.arange(nz) / max(nz - 1, 1) - 0.5)
        grey["volume"] = (render(truth3, (dz, dy, dx), a.psf_um, a.cnr, rng, gain.reshape(nz, 1, 1)), (dx, dy, dz))
        for k, im in enumerate(imgs):
            grey[f"images/{k}"] = (render(im, (a.pixel2, a.pixel2), a.psf_um, a.cnr, rng, 1.0), (a.pixel2, a.pixel2))
    del x3
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset("volume", data=vol)
        d.attrs["voxel_size_um"] = np.array([dx, dy, dz])
        for k, im in enumerate(imgs):
            d = f.create_dataset(f"images/{k}", data=im)
            d.attrs["voxel_size_um"] = np.array([a.pixel2, a.pixel2])
        for name, (g, vox) in grey.items():
            d = f.create_dataset(f"grey/{name}", data=g)
            d.attrs["voxel_size_um"] = np.array(vox)
        if a.grey or a.truth:
            d = f.create_dataset("truth/volume", data=truth3)
            d.attrs["voxel_size_um"] = np.array([dx, dy, dz])
        if a.grey:
            f.attrs["cnr"] = a.cnr
            f.attrs["psf_um"] = a.psf_um
            f.attrs["drift"] = a.drift
        for k, v in dict(lambda_x=lx, lambda_z=lz, alpha_x_per_um=a.alpha_x, alpha_y_per_um=a.alpha_y, m=a.m, eps1=a.eps1, eps2=a.eps2, seed=a.seed).items():
            f.attrs[k] = v
    os.replace(tmp, a.out)
    if a.raw:
        os.makedirs(a.raw, exist_ok=True)
        vol.tofile(os.path.join(a.raw, "volume.u8"))
        for k, im in enumerate(imgs):
            im.tofile(os.path.join(a.raw, f"image_{k}.u8"))
    print(f"truth {lx:.6f} {lz:.6f} {a.alpha_x:.6f} {a.alpha_y:.6f} {a.m:.6f}")


if __name__ == "__main__":
    main()
