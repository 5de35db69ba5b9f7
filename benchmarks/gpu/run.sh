#!/usr/bin/env bash
# Builds native/cuda (the CUDA kernels of the fused BatchTopK step), runs cuda_selftest and, with a
# GPU, cuda_selftest --bench, and prints a summary table. Needs no network.
#
#   benchmarks/gpu/run.sh             build, self-test, benchmark (needs a GPU)
#   benchmarks/gpu/run.sh --dry-run   build if nvcc is present, run the self-test (which says there is
#                                     no device on a CPU machine); the same happens when no GPU is found
# Environment: BUILD_DIR (default ${TMPDIR:-/tmp}/batchtopk-cuda-build), NVCC, CUDA_ARCH (e.g. 90).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/native/cuda"
build="${BUILD_DIR:-${TMPDIR:-/tmp}/batchtopk-cuda-build}"
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

nvcc="${NVCC:-$(command -v nvcc || true)}"
if [[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]]; then nvcc=/usr/local/cuda/bin/nvcc; fi

gpu=0
arch="${CUDA_ARCH:-}"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
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

if [[ -z "$nvcc" ]]; then
  if [[ $dry_run -eq 1 ]]; then
    echo "run.sh: nvcc not found: nothing to build (dry run)"
    exit 0
  fi
  echo "run.sh: nvcc not found (set NVCC or put it on PATH)" >&2
  exit 1
fi

echo "== build: $src -> $build (nvcc $nvcc, CUDA arch $arch)"
mkdir -p "$build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "${JOBS:-$(nproc 2>/dev/null || echo 1)}"

selftest="$build/cuda_selftest"
log="$build/selftest.log"
echo "== $selftest"
status=0
"$selftest" | tee "$log" || status=$?
if [[ $dry_run -eq 1 ]]; then
  exit "$status"
fi

bench_log="$build/bench.log"
echo "== $selftest --bench"
bench_status=0
"$selftest" --bench >"$bench_log" 2>&1 || bench_status=$?
grep -E '^(device|FAIL|BENCH)|passed, .* failed' "$bench_log" || true

echo
echo "== summary"
printf '%-10s %s\n' "self-test" "$(grep -E 'passed, .* failed' "$log" | tail -n1)"
printf '| %-6s | %-5s | %-6s | %-7s | %-10s | %-10s | %-10s | %-8s |\n' config B F K "median ms" "p5 ms" "p95 ms" "GB/s"
printf '|%s|\n' "--------|-------|--------|---------|------------|------------|------------|----------"
grep '^BENCH batch_topk' "$bench_log" | while read -r _ _ label b f k med p5 p95 gbps; do
  printf '| %-6s | %-5s | %-6s | %-7s | %-10s | %-10s | %-10s | %-8s |\n' "$label" "${b#B=}" "${f#F=}" "${k#K=}" \
    "${med#median_ms=}" "${p5#p5_ms=}" "${p95#p95_ms=}" "${gbps#GBps=}"
done
echo "(GB/s: one read of the B x F matrix per selection; HBM peak ~3350 GB/s on H100 SXM)"
[[ $status -eq 0 && $bench_status -eq 0 ]]
