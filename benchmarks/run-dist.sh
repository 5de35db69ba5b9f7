#!/usr/bin/env bash
# Data-parallel and latent-sharded training on this machine: the bytes each worker all-reduces per
# step (measured by the library's counter) at the configs of docs/PERFORMANCE.md, beside the model's
# figure (DataParallelBytes, LatentShardedBytes: ranks as threads of one JVM). (The wall-time comparison of `train --nproc N`
# with one process waits for the CLI launcher, which is not in this build.)
#
#   benchmarks/run-dist.sh                  # CONFIGS="d,F,B,k ...", SHARDED_CONFIGS="d,F,B,k,N ..." to choose
#
# Writes the log to benchmarks/results/dist-<UTC stamp>.txt. Run it on a quiet machine: the load
# average is printed before and after.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -z "${JAVA_HOME:-}" && -d /usr/lib/jvm/temurin-25-jdk-amd64 ]]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
export PATH="${JAVA_HOME:+$JAVA_HOME/bin:}$PATH"
JAR="${JAR:-$ROOT/benchmarks/target/benchmarks.jar}"
LIB="$(readlink -f "${BATCHTOPK_LIBRARY:-$ROOT/native/build/libbatchtopk.so}")"
RESULTS_DIR="${RESULTS_DIR:-$ROOT/benchmarks/results}"
mkdir -p "$RESULTS_DIR"
LOG="$RESULTS_DIR/dist-$(date -u +%Y%m%dT%H%M%SZ).txt"

{
    echo "# data-parallel training: bytes per step"
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (before)"
} | tee "$LOG"

for config in ${CONFIGS:-"768,24576,4096,32" "2304,65536,4096,64"}; do
    IFS=, read -r d f b k <<<"$config"
    echo "## bytes: d=$d d_sae=$f batch=$b k=$k, 2 ranks, 2 steps" | tee -a "$LOG"
    java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library="$LIB" -cp "$JAR" \
        ai.batchtopk.benchmarks.DataParallelBytes "$d" "$f" "$b" "$k" 2 2 | tee -a "$LOG"
done
# Latent sharding: every rank holds 1/N of the latents and the whole batch (LatentShardedBytes).
for config in ${SHARDED_CONFIGS:-"768,24576,4096,32,2" "768,24576,4096,32,3" "2304,65536,4096,64,2"}; do
    IFS=, read -r d f b k n <<<"$config"
    echo "## latent sharding: d=$d d_sae=$f batch=$b k=$k, $n ranks, 2 steps" | tee -a "$LOG"
    java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library="$LIB" -cp "$JAR" \
        ai.batchtopk.benchmarks.LatentShardedBytes "$d" "$f" "$b" "$k" "$n" 2 | tee -a "$LOG"
done
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after)" | tee -a "$LOG"
