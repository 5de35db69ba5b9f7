#!/usr/bin/env bash
# The one GPU script: on a machine with a GPU (no network, no Java, no Maven needed) it
#   1. builds the shim with its CUDA step (and the kernels' cuda_selftest) against this machine's
#      PyTorch libtorch (python3 -c 'import torch; print(torch.utils.cmake_prefix_path)');
#   2. runs cuda_selftest;
#   3. runs the GPU ctest cases (CudaBuild.*, Gpu*.*);
#   4. runs the Java GPU tests (JUnit tag "gpu") on the carried runtime and jars
#      (benchmarks/gpu/prepare-carry.sh makes them: benchmarks/gpu/carry/);
#   5. runs compute-sanitizer memcheck and racecheck on the GPU tests;
#   6. runs gpu_bench (selection vs torch.topk; steps/s fused vs naive fp32 vs naive bf16, streamed
#      vs resident, configs A and B) and prints one table.
#
#   benchmarks/gpu/run.sh             everything (needs a GPU)
#   benchmarks/gpu/run.sh --dry-run   what runs without a GPU: both builds, the self-test and the test
#                                     binaries (which skip their GPU cases); says what was skipped
# Environment: BUILD_DIR (default ${TMPDIR:-/tmp}/batchtopk-gpu), NVCC, CUDA_ARCH (e.g. 90), JOBS,
# PYTHON (a python3 with torch; default python3), LIBTORCH_HOME (instead of asking PYTHON), CARRY.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BUILD_DIR:-${TMPDIR:-/tmp}/batchtopk-gpu}"
carry="${CARRY:-$root/benchmarks/gpu/carry}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

declare -a summary=()
failed=0
note() { summary+=("$(printf '%-28s %s' "$1" "$2")"); }
run_step() {  # name, command...: runs it, records PASS/FAIL
  local name="$1"; shift
  echo "== $name: $*"
  if "$@"; then note "$name" "PASS"; else note "$name" "FAIL (exit $?)"; failed=1; fi
}

nvcc="${NVCC:-$(command -v nvcc || true)}"
if [[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]]; then nvcc=/usr/local/cuda/bin/nvcc; fi
gpu=0
arch="${CUDA_ARCH:-}"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
  nvidia-smi -L
  if [[ -z "$arch" ]]; then
    cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .' || true)"
    [[ "$cap" =~ ^[0-9]+$ ]] && arch="$cap"
  fi
fi
arch="${arch:-90}"
if [[ $gpu -eq 0 && $dry_run -eq 0 ]]; then
  echo "run.sh: no GPU found (nvidia-smi): doing a dry run"
  dry_run=1
fi
[[ -n "$nvcc" ]] || { echo "run.sh: nvcc not found (set NVCC or put it on PATH)" >&2; exit 1; }
mkdir -p "$build"

# 1. The shim against this machine's PyTorch (the kernels and cuda_selftest are part of it); a pip
# torch's CUDA libraries come from its nvidia-* wheels, which scripts/cuda-toolkit-tree.sh joins to
# nvcc's toolkit for libtorch's CMake.
# LIBTORCH_HOME (a torch package directory) wins: a CPU machine's wheel install may not import.
if [[ -n "${LIBTORCH_HOME:-}" ]]; then
  torch_home="$LIBTORCH_HOME"
else
  prefix="$("${PYTHON:-python3}" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)" ||
    { echo "run.sh: no python3 with torch (set PYTHON, or LIBTORCH_HOME)" >&2; exit 1; }
  torch_home="$(dirname "$(dirname "$prefix")")"
fi
site="$(dirname "$torch_home")"
# The toolkit nvcc belongs to, as nvcc itself reports it (nvcc on PATH may be a wrapper script).
toolkit="${CUDA_HOME:-$("$nvcc" -dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n1)}"
toolkit="$(cd "${toolkit:-$(dirname "$(dirname "$(readlink -f "$nvcc")")")}" && pwd -P)"
if [[ -d "$site/nvidia" ]]; then
  toolkit="$("$root/scripts/cuda-toolkit-tree.sh" "$site" "$build/cuda-toolkit" "$toolkit")"
fi
export LD_LIBRARY_PATH="$toolkit/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
shim="$build/shim"
gtest=()
[[ -d "$carry/googletest" ]] && gtest=(-DBTK_GTEST_SOURCE="$carry/googletest")
generator=()
command -v ninja >/dev/null 2>&1 && [[ ! -f "$shim/CMakeCache.txt" ]] && generator=(-G Ninja)
echo "== shim: libtorch $torch_home (CUDA toolkit $toolkit, arch $arch) -> $shim"
if ! { LIBTORCH_HOME="$torch_home" CUDA_HOME="$toolkit" cmake -S "$root/native" -B "$shim" "${generator[@]}" \
         -DCMAKE_BUILD_TYPE=Release "${gtest[@]}" -DBTK_CUDA=ON -DBTK_CUDA_ARCHITECTURES="$arch" \
         -DCMAKE_CUDA_COMPILER="$toolkit/bin/nvcc" -DCUDA_TOOLKIT_ROOT_DIR="$toolkit" -DCUDAToolkit_ROOT="$toolkit" \
         >"$build/shim-configure.log" 2>&1 &&
       cmake --build "$shim" -j "$jobs" >"$build/shim-build.log" 2>&1; }; then
  tail -n 60 "$build/shim-configure.log" "$build/shim-build.log" 2>/dev/null
  # Without the shim, at least the kernels' own self-test.
  echo "== shim build failed; the kernels alone: native/cuda -> $build/kernels"
  cmake -S "$root/native/cuda" -B "$build/kernels" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" >/dev/null && cmake --build "$build/kernels" -j "$jobs" >/dev/null &&
    "$build/kernels/cuda_selftest"
  echo "run.sh: the shim did not build (logs in $build)" >&2
  exit 1
fi
note "shim build" "PASS ($(grep -o 'libtorch [0-9.]*' "$build/shim-configure.log" | head -n1), arch $arch)"

# 2. The kernels' self-test (host references of native/src's semantics).
nothing=""
[[ $dry_run -eq 1 ]] && nothing=" (no GPU: it says so and runs no kernel)"
run_step "cuda_selftest$nothing" "$shim/cuda/cuda_selftest"

# 3. The GPU ctest cases (they skip without a device: the dry run shows they are there).
run_step "ctest CudaBuild/Gpu" ctest --test-dir "$shim" -R '^(CudaBuild|Gpu)' --output-on-failure
if [[ $dry_run -eq 1 ]]; then note "  (GPU cases)" "SKIPPED: no GPU, the Gpu* tests report themselves skipped"; fi

# 4. The Java GPU tests on the carried runtime (without a GPU: a CPU test, to show the carry works).
if [[ -x "$carry/jdk/bin/java" ]]; then
  junit=("$carry/jdk/bin/java" --enable-native-access=ALL-UNNAMED -Dbatchtopk.library="$shim/libbatchtopk.so"
    -jar "$carry/junit-console.jar" execute --disable-banner --details summary
    --class-path "$carry/classes:$(ls "$carry"/jars/*.jar | paste -sd:)")
  if [[ $dry_run -eq 1 ]]; then
    run_step "JUnit on the carry (CPU)" "${junit[@]}" --select-class ai.batchtopk.DeferredStepTest
    note "JUnit tag gpu" "SKIPPED: no GPU"
  else
    run_step "JUnit tag gpu" "${junit[@]}" --scan-class-path "$carry/classes" --include-tag gpu
  fi
else
  note "JUnit tag gpu" "SKIPPED: no carried Java runtime in $carry (benchmarks/gpu/prepare-carry.sh)"
fi

# 5. compute-sanitizer on the GPU tests that run every kernel in a few steps (BatchTopK with AuxK
# through a checkpoint, TopK from page-locked memory); it refuses the device on some runtimes (gVisor).
sanitizer="$(command -v compute-sanitizer || echo "$toolkit/bin/compute-sanitizer")"
if [[ $dry_run -eq 1 ]]; then
  note "compute-sanitizer" "SKIPPED: no GPU"
elif [[ -x "$sanitizer" ]]; then
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer --tool $tool"
    timeout 240 "$sanitizer" --tool "$tool" --error-exitcode 1 "$shim/batchtopk_tests" \
      --gtest_filter='GpuCheckpoint.*:GpuFeeding.*' >"$build/sanitizer-$tool.log" 2>&1
    code=$?
    tail -n 5 "$build/sanitizer-$tool.log"
    if grep -q "Device not supported" "$build/sanitizer-$tool.log"; then
      note "sanitizer $tool" "SKIPPED: this runtime's compute-sanitizer refuses the device"
    elif [[ $code -eq 0 ]]; then note "sanitizer $tool" "PASS (clean)"; else note "sanitizer $tool" "FAIL (exit $code)"; failed=1; fi
  done
else
  note "compute-sanitizer" "SKIPPED: not found"
fi

# 6. Benchmarks.
if [[ $dry_run -eq 1 ]]; then
  run_step "gpu_bench$nothing" "$shim/gpu_bench" --quick
  note "  (benchmarks)" "SKIPPED: no GPU"
else
  echo "== gpu_bench"
  "$shim/gpu_bench" | tee "$build/bench.log"
  [[ ${PIPESTATUS[0]} -eq 0 ]] && note "gpu_bench" "PASS" || { note "gpu_bench" "FAIL"; failed=1; }
  echo
  echo "| config | selection: kernel ms | torch.topk ms | speedup | equal |"
  echo "|---|---|---|---|---|"
  grep '^BENCH selection' "$build/bench.log" | sed -E 's/.*config=([^ ]+).*kernel_ms=([^ ]+) topk_ms=([^ ]+) speedup=([^ ]+) equal=([^ ]+).*/| \1 | \2 | \3 | \4 | \5 |/'
  echo
  echo "| config | step | ms/step | tokens/s |"
  echo "|---|---|---|---|"
  grep '^BENCH step' "$build/bench.log" | sed -E 's/.*config=([^ ]+).*mode=([^ ]+).*ms_per_step=([^ ]+) tokens_per_s=([^ ]+).*/| \1 | \2 | \3 | \4 |/'
fi

echo
echo "== summary ($(date -u +%FT%TZ), $( [[ $gpu -eq 1 ]] && nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 || echo 'no GPU: dry run'))"
printf '%s\n' "${summary[@]}"
exit "$failed"
