#!/usr/bin/env bash
# Builds everything (the native library with CMake, the Java modules with Maven) and runs every
# test: ctest (GoogleTest) for the shim, JUnit for the bindings, the API and the CLI; and checks the
# formatting (scripts/format.sh --check).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-deps.sh
source scripts/java-env.sh

# Formatting: the run fails on any file scripts/format.sh would change.
scripts/format.sh --check

# The CUDA kernels are compiled wherever nvcc is, so that they cannot rot on machines without a GPU;
# their self-test runs only where a GPU is (benchmarks/gpu/run.sh), and says so elsewhere.
nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
if [ -x "$nvcc" ]; then
  cmake -S native/cuda -B native/cuda/build -DCMAKE_CUDA_COMPILER="$nvcc" -DBTK_CUDA_WERROR=ON
  cmake --build native/cuda/build -j 2
  native/cuda/build/cuda_selftest
  # The shim's CUDA glue (native/src/cuda_*.cpp), which only a CUDA libtorch links: compiled through
  # nvcc against this machine's libtorch headers (Debian's carry ATen/cuda and c10/cuda, but not the
  # CMake-generated c10/cuda/impl/cuda_cmake_macros.h, written here), so that it cannot rot either.
  # scripts/cuda-link-check.sh links the whole CUDA build against a CUDA PyTorch and runs ctest with it.
  glue_includes="$(mktemp -d)"
  mkdir -p "$glue_includes/c10/cuda/impl"
  printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' >"$glue_includes/c10/cuda/impl/cuda_cmake_macros.h"
  for glue in native/src/cuda_*.cpp; do
    "$nvcc" -std=c++17 -DBTK_HAVE_CUDA -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Werror -Inative/include \
      -Inative/src -Inative/cuda/include -I/usr/include/torch/csrc/api/include -I"$glue_includes" \
      -c "$glue" -o /dev/null
  done
  rm -rf "$glue_includes"
else
  echo "nvcc not found: CUDA kernels not compiled"
fi

mvn -B -ntp install "$@"

