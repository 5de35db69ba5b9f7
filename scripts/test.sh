#!/usr/bin/env bash
# Builds everything (the native library with CMake, the Java modules with Maven) and runs every
# test: ctest (GoogleTest) for the shim, JUnit for the bindings, the API and the CLI; and checks the
# formatting (scripts/format.sh --check).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-deps.sh
source scripts/java-env.sh

# Formatting. "enforce" fails the run on any file scripts/format.sh would change; "report" only says
# where there are some. It stays "report" until one commit has run scripts/format.sh over the whole tree
# (with no other change in it) and switched this to "enforce".
format_check=report
if [ "$format_check" = enforce ]; then
  scripts/format.sh --check
else
  format_log="$(mktemp)"
  if scripts/format.sh --check >"$format_log" 2>&1; then
    echo "formatting: every file is formatted (set format_check=enforce in scripts/test.sh)"
  else
    echo "formatting (not enforced yet): scripts/format.sh would change" \
      "$(grep -c '^not formatted' "$format_log" || true) C++/CUDA files and Java files in" \
      "$(grep -c 'had format violations' "$format_log" || true) Maven modules"
  fi
  rm -f "$format_log"
fi

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

