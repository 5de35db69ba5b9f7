#!/usr/bin/env bash
# Builds the shim with its CUDA step against a CUDA PyTorch's libtorch on a machine without a GPU,
# and runs the native test suite with that build: every CPU test must pass, btk_cuda_available()
# must say 0, and the GPU tests must skip. Proves the CUDA build links and changes nothing on the CPU.
# Slow (a C++20 libtorch 2.x build on few cores): not part of scripts/test.sh.
#
# Environment: VENV (default /work/venv-cuda: created from WHEELS if missing), WHEELS (default
# /opt/pypi-more/files: torch-2.*.whl and the nvidia-* wheels), BUILD_DIR (default
# ${TMPDIR:-/tmp}/batchtopk-cuda-link), JOBS (default 2), CUDA_TOOLKIT (default /usr/local/cuda).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-/work/venv-cuda}"
wheels="${WHEELS:-/opt/pypi-more/files}"
build="${BUILD_DIR:-${TMPDIR:-/tmp}/batchtopk-cuda-link}"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  # --no-deps --no-index: the torch wheel and its CUDA runtime wheels, nothing from the network.
  "$venv/bin/pip" install -q --no-deps --no-index "$wheels"/torch-2.*-cp311-*.whl "$wheels"/nvidia_*.whl
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
torch="$site/torch"
toolkit="$("$root/scripts/cuda-toolkit-tree.sh" "$site" "$venv/cuda-toolkit" "${CUDA_TOOLKIT:-/usr/local/cuda}")"

echo "== configure: $torch (CUDA toolkit tree $toolkit) -> $build"
LIBTORCH_HOME="$torch" CUDA_HOME="$toolkit" cmake -S "$root/native" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DBTK_CUDA=ON -DCMAKE_CUDA_COMPILER="$toolkit/bin/nvcc" -DCUDA_TOOLKIT_ROOT_DIR="$toolkit" -DCUDAToolkit_ROOT="$toolkit"
cmake --build "$build" -j "${JOBS:-2}"

# The wheels' CUDA libraries are found through the loader path, as Python's torch finds them.
export LD_LIBRARY_PATH="$toolkit/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# A pip torch ships no gloo headers, so the build has no distributed training (as any build against
# it, CUDA or not): its distributed tests skip, saying so.
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}"
# What the build says of itself: "(libtorch 2.x, cuda)", and btk_cuda_available() = 0 here.
"$build/batchtopk_tests" --gtest_filter='CudaBuild.BuildInfoAndAvailabilityAgree' | grep '^build:'

