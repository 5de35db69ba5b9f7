#!/usr/bin/env bash
# Distributed training on this machine, two measurements:
#  1. bytes each worker all-reduces per step (measured by the library's counter) at the configs of
#     docs/PERFORMANCE.md, beside the model's figure: data parallel (DataParallelBytes) and latent
#     sharding (LatentShardedBytes), ranks as threads of one JVM;
#  2. wall time of one `train` with N workers x 1 thread (--nproc N --threads 1) against one process
#     with N threads (--threads N), same data, batches and steps, in alternating blocks.
#
#   benchmarks/run-dist.sh                  # both
#   benchmarks/run-dist.sh bytes            # only the bytes (CONFIGS="d,F,B,k ...", SHARDED_CONFIGS="d,F,B,k,N ...")
#   benchmarks/run-dist.sh overhead         # only the wall times (D, D_SAE, BATCH, K, STEPS, REPEATS, NPROC)
#
# The launcher gives each worker OPENBLAS_NUM_THREADS=--threads (1 here), while the one process with
# --threads N keeps OpenBLAS's own pool of one thread per core beside its N intra-op threads; a third run
# per block is the one process without --threads (train's default).
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
WHICH="${1:-all}"
JAR="${JAR:-$ROOT/benchmarks/target/benchmarks.jar}"
LIB="$(readlink -f "${BATCHTOPK_LIBRARY:-$ROOT/native/build/libbatchtopk.so}")"
RESULTS_DIR="${RESULTS_DIR:-$ROOT/benchmarks/results}"
mkdir -p "$RESULTS_DIR"
LOG="$RESULTS_DIR/dist-$(date -u +%Y%m%dT%H%M%SZ).txt"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

{
    echo "# data-parallel training: bytes per step and the overhead of workers"
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (before)"
} | tee "$LOG"

if [[ "$WHICH" == all || "$WHICH" == bytes ]]; then
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
fi

if [[ "$WHICH" == all || "$WHICH" == overhead ]]; then
    D="${D:-512}" D_SAE="${D_SAE:-4096}" BATCH="${BATCH:-2048}" K="${K:-32}" STEPS="${STEPS:-30}"
    REPEATS="${REPEATS:-3}" NPROC="${NPROC:-2}"
    "$ROOT/batchtopk" synth --out "$SCRATCH/data" --d-in "$D" --features $((D * 2)) --tokens $((BATCH * 8)) --seed 1 >/dev/null
    COMMON=(train --data "$SCRATCH/data/activations.npy" --d-sae "$D_SAE" --k "$K" --batch-size "$BATCH" --steps "$STEPS"
            --seed 1 --log-every "$STEPS")
    echo "## overhead: batchtopk ${COMMON[*]} --out DIR  with --nproc $NPROC --threads 1  vs  --threads $NPROC" | tee -a "$LOG"
    run() {  # prints the wall seconds of one run
        local start end
        start=$(date +%s.%N)
        "$ROOT/batchtopk" "${COMMON[@]}" "$@" --out "$SCRATCH/out" --overwrite >"$SCRATCH/last.out" 2>"$SCRATCH/last.err" \
            || { cat "$SCRATCH/last.err" >&2; exit 1; }
        end=$(date +%s.%N)
        echo "$start $end" | awk '{printf "%.2f", $2 - $1}'
    }
    for i in $(seq "$REPEATS"); do
        one=$(run --threads "$NPROC")
        many=$(run --nproc "$NPROC" --threads 1)
        # Without --threads: the library's default intra-op threads, OpenBLAS on every core (train's default).
        plain=$(run)
        echo "block $i: 1 process x $NPROC threads ${one} s, $NPROC workers x 1 thread ${many} s, ratio $(echo "$many $one" | awk '{printf "%.2f", $1 / $2}'); 1 process, default threads ${plain} s, ratio $(echo "$many $plain" | awk '{printf "%.2f", $1 / $2}')" | tee -a "$LOG"
    done
fi
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after)" | tee -a "$LOG"
