#!/usr/bin/env bash
# Assembles a CUDA toolkit directory that a CUDA libtorch's CMake accepts (FindCUDA, CUDAToolkit):
# nvcc and the runtime from a toolkit (default /usr/local/cuda), the libraries and headers it lacks
# (cuBLAS, cuSPARSE, cuDNN, ...) from the nvidia-* wheels a pip torch installs, as symlinks.
#
#   scripts/cuda-toolkit-tree.sh SITE_PACKAGES OUT_DIR [TOOLKIT]
set -euo pipefail
site="${1:?site-packages directory of the torch install}"
out="${2:?directory to create}"
toolkit="${3:-/usr/local/cuda}"
[[ -x "$toolkit/bin/nvcc" ]] || { echo "cuda-toolkit-tree.sh: no nvcc in $toolkit/bin" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/include" "$out/lib64" "$out/targets/x86_64-linux"
for entry in bin nvvm version.json; do
  [[ -e "$toolkit/$entry" ]] && ln -s "$toolkit/$entry" "$out/$entry"
done
# The toolkit first, so that its runtime wins over a wheel's copy of the same file.
for dir in "$toolkit/include" "$site"/nvidia/*/include; do
  [[ -d "$dir" ]] || continue
  for f in "$dir"/*; do [[ -e "$out/include/${f##*/}" ]] || ln -s "$f" "$out/include/"; done
done
for dir in "$toolkit/lib64" "$site"/nvidia/*/lib; do
  [[ -d "$dir" ]] || continue
  for f in "$dir"/*; do
    name="${f##*/}"
    [[ -e "$out/lib64/$name" ]] || ln -s "$f" "$out/lib64/"
    # Wheels ship only libX.so.N; find_library wants libX.so.
    if [[ "$name" == *.so.* && ! -e "$out/lib64/${name%%.so.*}.so" ]]; then ln -s "$f" "$out/lib64/${name%%.so.*}.so"; fi
  done
done
# nvcc looks for its libraries under targets/<arch>/.
ln -s "$out/lib64" "$out/targets/x86_64-linux/lib"
ln -s "$out/include" "$out/targets/x86_64-linux/include"
echo "$out"
