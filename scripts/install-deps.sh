#!/usr/bin/env bash
# Installs what building batchtopk needs and a fresh Debian/Ubuntu machine lacks: CMake, a C++
# compiler, Maven, GoogleTest (the native tests), clang-format 16 (scripts/format.sh), and libtorch (Debian's libtorch-dev with OpenBLAS and gloo's headers, unless LIBTORCH_HOME points at
# another libtorch). Installs nothing that is already there.
set -euo pipefail

packages=(cmake g++ maven libgtest-dev clang-format-16)
if [ -z "${LIBTORCH_HOME:-}" ]; then
  # Without libopenblas0-pthread, Debian's libtorch falls back to the reference BLAS (~10x slower).
  # libgloo-dev: the headers c10d's ProcessGroupGloo needs, for data-parallel training (ProcessGroup).
  packages+=(libtorch-dev libopenblas0-pthread libgloo-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
