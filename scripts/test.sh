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
else
  echo "nvcc not found: CUDA kernels not compiled"
fi

mvn -B -ntp install "$@"

