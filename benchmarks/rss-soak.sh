#!/usr/bin/env bash
# Resident memory over a long run: trains a small SAE for many steps with checkpoints and evaluation
# on (and, for comparison, the same run with both off), samples the JVM's VmRSS from /proc/PID/status
# every few seconds, and prints the machine, the commands and a table of the resident memory over the
# run: after the first 10% of the steps (warm), at 50% and at the end, and the growth from warm to end.
#
#   benchmarks/rss-soak.sh                       # defaults below: 20000 steps, both runs
#   STEPS=60000 RUNS=on benchmarks/rss-soak.sh   # only the run with checkpoints and evaluation
#
# Environment: STEPS (20000), D (64), D_SAE (512), K (16), BATCH (256), EVERY (200: --checkpoint-every and
# --eval-every), TOKENS (synthetic rows, 50000), RUNS ("on off"), INTERVAL (seconds between samples, 2),
# BATCHTOPK_JAVA_OPTS (JVM options, e.g. -XX:NativeMemoryTracking=summary), MALLOC_ARENA_MAX (glibc),
# OUT (scratch dir, default a temp dir, removed at the end), RESULTS_DIR (benchmarks/results).
# Writes RESULTS_DIR/rss-soak-<UTC stamp>-<run>.csv (seconds, step, VmRSS, RssAnon, RssFile in kB) and
# -summary.txt. RssAnon is the process's own memory (Java heap, JIT, malloc); RssFile the mapped files
# and libraries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$ROOT/batchtopk"
STEPS="${STEPS:-20000}"
D="${D:-64}"
D_SAE="${D_SAE:-512}"
K="${K:-16}"
BATCH="${BATCH:-256}"
EVERY="${EVERY:-200}"
TOKENS="${TOKENS:-50000}"
RUNS="${RUNS:-on off}"
INTERVAL="${INTERVAL:-2}"
RESULTS_DIR="${RESULTS_DIR:-$ROOT/benchmarks/results}"
SCRATCH="${OUT:-$(mktemp -d)}"
[[ -z "${OUT:-}" ]] && trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$RESULTS_DIR" "$SCRATCH"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
SUMMARY="$RESULTS_DIR/rss-soak-$STAMP-summary.txt"

"$CLI" --help >/dev/null  # builds on first use, outside the measurement
"$CLI" synth --out "$SCRATCH/train" --d-in "$D" --features $((2 * D)) --tokens "$TOKENS" --seed 1 >/dev/null
"$CLI" synth --out "$SCRATCH/held" --d-in "$D" --features $((2 * D)) --tokens 8192 --seed 2 >/dev/null

{
    echo "# date (UTC):   $(date -u '+%Y-%m-%d %H:%M:%S')"
    echo "# host:         $(uname -srm)"
    echo "# cpu:          $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
    echo "# memory:       $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "# git:          $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' (modified)')"
    echo "# load before:  $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# env:          BATCHTOPK_JAVA_OPTS='${BATCHTOPK_JAVA_OPTS:-}' MALLOC_ARENA_MAX='${MALLOC_ARENA_MAX:-}'"
} | tee "$SUMMARY"

# The step a run is at: the last line of its metrics log.
step_of() {
    tail -n 1 "$1/metrics.jsonl" 2>/dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p'
}

soak() {  # run name (on|off)
    local name="$1" out="$SCRATCH/run-$1" csv="$RESULTS_DIR/rss-soak-$STAMP-$1.csv"
    local cmd=("$CLI" train --data "$SCRATCH/train/activations.npy" --d-sae "$D_SAE" --k "$K" --batch-size "$BATCH"
               --steps "$STEPS" --seed 1 --log-every 100 --out "$out")
    if [[ "$name" == on ]]; then
        cmd+=(--checkpoint-every "$EVERY" --eval-data "$SCRATCH/held/activations.npy" --eval-every "$EVERY"
              --eval-tokens 4096)
    fi
    echo "# command ($name): $(printf '%q ' "${cmd[@]}")" | tee -a "$SUMMARY"
    rm -rf "$out"
    "${cmd[@]}" > "$SCRATCH/$name.json" 2> "$SCRATCH/$name.err" &
    local pid=$! start=$SECONDS
    echo "seconds,step,rss_kb,anon_kb,file_kb" > "$csv"
    while kill -0 "$pid" 2>/dev/null; do
        local rss
        rss="$(awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s%s", sep, $2; sep=","}' "/proc/$pid/status" 2>/dev/null || true)"
        [[ "$rss" == *,*,* ]] && echo "$((SECONDS - start)),$(step_of "$out"),$rss" >> "$csv"
        sleep "$INTERVAL"
    done
    wait "$pid" || { echo "run $name failed:"; cat "$SCRATCH/$name.err"; exit 1; }
    python3 - "$csv" "$STEPS" "$name" <<'PY' | tee -a "$SUMMARY"
import csv, sys
rows = [(int(r["seconds"]), int(r["step"] or 0), int(r["rss_kb"]), int(r["anon_kb"]))
        for r in csv.DictReader(open(sys.argv[1]))]
steps, name = int(sys.argv[2]), sys.argv[3]
def at(fraction):  # the first sample at or past this fraction of the steps
    return next((r for r in rows if r[1] >= fraction * steps), rows[-1])
warm, mid, end = at(0.1), at(0.5), rows[-1]
peak = max(r[2] for r in rows)
print(f"{name:>3}: {len(rows)} samples over {end[0]} s; VmRSS MiB at step {warm[1]}: {warm[2]/1024:.1f}, "
      f"step {mid[1]}: {mid[2]/1024:.1f}, end (step {end[1]}): {end[2]/1024:.1f}, peak {peak/1024:.1f}; "
      f"growth warm -> end {(end[2]-warm[2])/1024:+.1f} MiB (RssAnon {(end[3]-warm[3])/1024:+.1f} MiB)")
PY
}

for run in $RUNS; do
    soak "$run"
done
echo "# load after:   $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$SUMMARY"
echo "# samples:      $RESULTS_DIR/rss-soak-$STAMP-*.csv"
