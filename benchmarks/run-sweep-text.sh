#!/usr/bin/env bash
# Sweep from text: one `train --text ... --sweep k=16,32,64` (the model runs once, its activations feed
# all three SAEs) against three separate `train --text ... --k K` runs (the model runs three times), on
# the same text, d_sae, batch size and token budget. Times whole CLI runs (JVM start included) and
# prints a table with the date, the machine, the commands and the ratio separate / sweep.
#
#   benchmarks/run-sweep-text.sh                         # defaults below
#   TEXT=/path/to/text TOKENS=60000 benchmarks/run-sweep-text.sh
#
# Environment: TEXT (file or dir, default /usr/share/common-licenses), TOKENS (60000), D_SAE (1536),
# BATCH (1024), LAYER (3), SITE (resid), KS ("16 32 64"), THREADS (native threads; default: all cores),
# OUT (scratch dir, default a temp dir, removed at the end), RESULTS_DIR (benchmarks/results).
# Run it on a quiet machine: the load average is printed before and after.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$ROOT/batchtopk"
TEXT="${TEXT:-/usr/share/common-licenses}"
TOKENS="${TOKENS:-60000}"
D_SAE="${D_SAE:-1536}"
BATCH="${BATCH:-1024}"
LAYER="${LAYER:-3}"
SITE="${SITE:-resid}"
KS="${KS:-16 32 64}"
RESULTS_DIR="${RESULTS_DIR:-$ROOT/benchmarks/results}"
SCRATCH="${OUT:-$(mktemp -d)}"
[[ -z "${OUT:-}" ]] && trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$RESULTS_DIR"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$RESULTS_DIR/sweep-text-$STAMP.txt"

COMMON=(train --text "$TEXT" --model minilm --layer "$LAYER" --site "$SITE" --d-sae "$D_SAE"
        --batch-size "$BATCH" --tokens "$TOKENS" --seed 1)
[[ -n "${THREADS:-}" ]] && COMMON+=(--threads "$THREADS")

# Build once (first use of the CLI), outside the timings.
"$CLI" --help >/dev/null

seconds() {  # runs the command, prints its wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >"$SCRATCH/last.out" 2>"$SCRATCH/last.err" || { cat "$SCRATCH/last.err" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$start $end" | awk '{printf "%.1f", $2 - $1}'
}

KLIST="$(echo $KS | tr ' ' ',')"
{
    echo "# train --text: one sweep vs separate runs"
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "java:    $("${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java" -version 2>&1 | head -1)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (before)"
    echo "sweep:   batchtopk ${COMMON[*]} --sweep k=$KLIST --out DIR"
    echo "single:  batchtopk ${COMMON[*]} --k K --out DIR   (K in $KS)"
    echo
} | tee "$LOG"

sweep_s=$(seconds "$CLI" "${COMMON[@]}" --sweep "k=$KLIST" --out "$SCRATCH/sweep")
sweep_line=$(cat "$SCRATCH/last.out")
single_total=0
rows=()
for k in $KS; do
    s=$(seconds "$CLI" "${COMMON[@]}" --k "$k" --out "$SCRATCH/k$k")
    rows+=("| separate run, k=$k | $s |")
    single_total=$(echo "$single_total $s" | awk '{printf "%.1f", $1 + $2}')
done
ratio=$(echo "$single_total $sweep_s" | awk '{printf "%.2f", $1 / $2}')
{
    echo "| run | wall s |"
    echo "|---|---:|"
    echo "| one sweep, k=$KLIST (3 SAEs) | $sweep_s |"
    printf '%s\n' "${rows[@]}"
    echo "| separate runs, total | $single_total |"
    echo
    echo "separate / sweep = ${ratio}x"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after)"
    echo "sweep summary: $sweep_line"
} | tee -a "$LOG"
echo "(log: $LOG)"
