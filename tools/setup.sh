#!/bin/sh
# Installs the Debian packages plurigauss needs, if any is missing. Run as root (or via sudo).
set -e
PKGS="build-essential pkg-config git libopenmpi-dev openmpi-bin libfftw3-dev libfftw3-mpi-dev libhdf5-openmpi-dev hdf5-tools petsc-dev libgsl-dev librandom123-dev libtiff-dev python3-numpy python3-h5py python3-matplotlib python3-scipy python3-tifffile slurm-wlm munge"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
