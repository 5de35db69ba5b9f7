#!/usr/bin/env bash
# Latent sharding: the resident memory of each rank, one process per rank (LatentShardedBytes with
# -Drank=R -Dport=P, one step), for each world size given; GNU time's max RSS per process.
#
#   benchmarks/run-sharded-rss.sh "768 24576 4096 32" 1 2 3     # "d d_sae batch k", then world sizes
#
# Writes the log to benchmarks/results/sharded-rss-<UTC stamp>.txt.
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
LOG="$RESULTS_DIR/sharded-rss-$(date -u +%Y%m%dT%H%M%SZ).txt"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

read -r d f b k <<<"$1"
shift
{
    echo "# latent sharding: resident memory per rank"
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(uname -srm), $(nproc) cores"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (before)"
} | tee "$LOG"
for n in "$@"; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "## d=$d d_sae=$f batch=$b k=$k: $n processes" | tee -a "$LOG"
    pids=()
    for ((r = 0; r < n; r++)); do
        /usr/bin/time -f "rank $r: wall %e s, max RSS %M KB" java -Xmx512m --enable-native-access=ALL-UNNAMED \
            -Dbatchtopk.library="$LIB" -Drank=$r -Dport="$port" -cp "$JAR" \
            ai.batchtopk.benchmarks.LatentShardedBytes "$d" "$f" "$b" "$k" "$n" 1 >"$work/rank-$r.txt" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for ((r = 0; r < n; r++)); do grep -E "^rank|^step" "$work/rank-$r.txt" | tee -a "$LOG"; done
done
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after)" | tee -a "$LOG"
