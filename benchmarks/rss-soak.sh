#!/usr/bin/env bash
# Resident memory over a long run: trains a small SAE for many steps with checkpoints and evaluation
# on (and, for comparison, the same run with both off), samples the JVM's VmRSS from /proc/PID/status
# every few seconds, and prints the machine, the commands and a table of the resident memory over the
# run: after the first 10% of the steps (warm), at 50% and at the end, and the growth from warm to end;
# then the process's own memory split: RssAnon less the Java heap's resident pages (libtorch, malloc,
# the JVM's own), the Java heap's, and RssFile (mapped files and libraries: reclaimable page cache, not
# a leak), each over the samples of the warm window (10-20% of the steps) and of the last 10%; for
# RssAnon the smallest sample of each window, which is not inflated by an evaluation in flight.
#
#   benchmarks/rss-soak.sh                       # defaults below: 20000 steps, both runs
#   STEPS=60000 RUNS=on benchmarks/rss-soak.sh   # only the run with checkpoints and evaluation
#
# Environment: STEPS (20000), D (64), D_SAE (512), K (16), BATCH (256), EVERY (200: --checkpoint-every and
# --eval-every), TOKENS (synthetic rows, 50000), RUNS ("on off"), INTERVAL (seconds between samples, 2),
# BATCHTOPK_JAVA_OPTS (JVM options, e.g. -XX:NativeMemoryTracking=summary), MALLOC_ARENA_MAX (glibc),
# OUT (scratch dir, default a temp dir, removed at the end), RESULTS_DIR (benchmarks/results),
# CLI (the command to run, default this checkout's batchtopk: another build, for a before/after).
# Writes RESULTS_DIR/rss-soak-<UTC stamp>-<run>.csv (seconds, step, VmRSS, RssAnon, RssFile, threads,
# Java heap resident; sizes in kB) and -summary.txt. RssAnon is the process's own memory (Java heap,
# JIT, malloc); RssFile the mapped files and libraries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="${CLI:-$ROOT/batchtopk}"
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
    echo "# cli:          $CLI"
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
    echo "seconds,step,rss_kb,anon_kb,file_kb,threads,heap_kb" > "$csv"
    local java heap=""
    while kill -0 "$pid" 2>/dev/null; do
        local rss
        # The JVM: the CLI's process itself, or the java its launcher started.
        java="$(pgrep -n -P "$pid" java || echo "$pid")"
        [[ -z "$heap" ]] && heap="$(java_heap_range "$java" || true)"
        rss="$(awk '/^(VmRSS|RssAnon|RssFile|Threads):/ {printf "%s%s", sep, $2; sep=","}' "/proc/$java/status" 2>/dev/null || true)"
        [[ "$rss" == *,*,*,* && -n "$heap" ]] \
            && echo "$((SECONDS - start)),$(step_of "$out"),$rss,$(resident_in "$java" $heap 2>/dev/null)" >> "$csv"
        sleep "$INTERVAL"
    done
    wait "$pid" || { echo "run $name failed:"; cat "$SCRATCH/$name.err"; exit 1; }
    python3 - "$csv" "$STEPS" "$name" <<'PY' | tee -a "$SUMMARY"
import csv, sys
records = list(csv.DictReader(open(sys.argv[1])))
rows = [(int(r["seconds"]), int(r["step"] or 0), int(r["rss_kb"]), int(r["anon_kb"])) for r in records]
steps, name = int(sys.argv[2]), sys.argv[3]
def at(fraction):  # the first sample at or past this fraction of the steps
    return next((r for r in rows if r[1] >= fraction * steps), rows[-1])
warm, mid, end = at(0.1), at(0.5), rows[-1]
peak = max(r[2] for r in rows)
print(f"{name:>3}: {len(rows)} samples over {end[0]} s; VmRSS MiB at step {warm[1]}: {warm[2]/1024:.1f}, "
      f"step {mid[1]}: {mid[2]/1024:.1f}, end (step {end[1]}): {end[2]/1024:.1f}, peak {peak/1024:.1f}; "
      f"growth warm -> end {(end[2]-warm[2])/1024:+.1f} MiB (RssAnon {(end[3]-warm[3])/1024:+.1f} MiB)")
def window(lo, hi):
    return [r for r in records if lo * steps <= int(r["step"] or 0) < hi * steps] or records[-1:]
def split(w):  # MiB: smallest RssAnon less heap, and at that sample the heap; median RssFile; threads
    low = min(w, key=lambda r: int(r["anon_kb"]))
    files = sorted(int(r["file_kb"]) for r in w)
    return ((int(low["anon_kb"]) - int(low["heap_kb"])) / 1024, int(low["heap_kb"]) / 1024,
            files[len(files) // 2] / 1024, max(int(r["threads"]) for r in w))
a, b = split(window(0.1, 0.2)), split(window(0.9, 1.01))
print(f"{name:>3}: RssAnon less Java heap {a[0]:.1f} -> {b[0]:.1f} MiB ({b[0]-a[0]:+.1f}); Java heap resident "
      f"{a[1]:.1f} -> {b[1]:.1f} MiB ({b[1]-a[1]:+.1f}); RssFile {a[2]:.1f} -> {b[2]:.1f} MiB ({b[2]-a[2]:+.1f}); "
      f"threads {a[3]} -> {b[3]} (warm: steps 10-20%, end: last 10%)")
PY
}

# The Java heap's address range, from the JVM itself; empty until it answers.
java_heap_range() {
    "${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/jcmd" "$1" GC.heap_info 2>/dev/null \
        | sed -n 's/.*\[0x\([0-9a-f]*\), 0x\([0-9a-f]*\)).*/\1 \2/p' | head -n 1
}

# The resident kB of a process's mappings that lie within [lo, hi) (hex addresses).
resident_in() {  # pid lo hi
    python3 - "$@" <<'PY'
import sys
lo, hi = int(sys.argv[2], 16), int(sys.argv[3], 16)
total, inside = 0, False
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    first = line.split(maxsplit=1)[0]
    if "-" in first and not first.endswith(":"):
        start, end = (int(x, 16) for x in first.split("-"))
        inside = lo <= start and end <= hi
    elif inside and first == "Rss:":
        total += int(line.split()[1])
print(total)
PY
}

for run in $RUNS; do
    soak "$run"
done
echo "# load after:   $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$SUMMARY"
echo "# samples:      $RESULTS_DIR/rss-soak-$STAMP-*.csv"
