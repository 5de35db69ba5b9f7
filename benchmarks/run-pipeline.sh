#!/usr/bin/env bash
# Data-pipeline and sweep benchmarks (CPU), in one go:
#
#   benchmarks/run-pipeline.sh                    # StreamingBenchmark (-prof gc) then SweepBenchmark
#   benchmarks/run-pipeline.sh streaming -wi 1    # only one of them; further arguments go to JMH
#   benchmarks/run-pipeline.sh sweep -p steps=16
#
# StreamingBenchmark: batches/s delivered by the training data pipeline (sequential, shuffled,
# windowed; with and without the prefetch thread) from memory-mapped .npy shards, against the raw read
# bandwidth of the same files, and the heap bytes allocated per batch (gc.alloc.rate.norm, -prof gc).
# SweepBenchmark: wall time of `train --sweep k=16,32,64` (one pass) against three separate runs.
#
# Writes JMH's JSON and console log to benchmarks/results/pipeline-<UTC stamp>-{streaming,sweep}.*
# and prints the machine, the exact commands and a summary table. Run it on a quiet machine (see the
# load line it prints). Environment: JAVA_HOME, BATCHTOPK_LIBRARY, RESULTS_DIR as for run-cpu.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WHICH=all
if [[ $# -gt 0 && ( "$1" == streaming || "$1" == sweep ) ]]; then
    WHICH="$1"
    shift
fi

source benchmarks/preamble.sh

echo "# date (UTC):   $(date -u '+%Y-%m-%d %H:%M:%S')"
echo "# host:         $(uname -srm)"
echo "# cpu:          $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
echo "# memory:       $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "# load before:  $(cut -d' ' -f1-3 /proc/loadavg)"
java "${JVM_FLAGS[@]}" -cp "$JAR" ai.batchtopk.benchmarks.MachineInfo | sed 's/^/# /'

run() {  # name, JMH arguments...
    local name="$1"; shift
    local json="$RESULTS_DIR/pipeline-$STAMP-$name.json"
    local cmd=(java "${JVM_FLAGS[@]}" -jar "$JAR" "$@" -rf json -rff "$json")
    echo "# command:      (cd $ROOT && $(printf '%q ' "${cmd[@]}"))"
    "${cmd[@]}" > "$RESULTS_DIR/pipeline-$STAMP-$name.log" 2>&1 || { tail -30 "$RESULTS_DIR/pipeline-$STAMP-$name.log"; exit 1; }
    python3 - "$json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    p = r.get("params", {})
    m = r["primaryMetric"]
    extra = ""
    g = r.get("secondaryMetrics", {}).get("gc.alloc.rate.norm")
    if g:
        extra = f"   heap alloc {g['score']:.1f} B/op"
    name = r["benchmark"].rsplit(".", 2)[-2]
    others = ",".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "mode")
    raw = [x for fork in m.get("rawData", []) for x in fork]
    extra += f"   [{others}]" + (f" runs: {', '.join(f'{x:.0f}' for x in raw)}" if m["scoreUnit"] != "ops/s" else "")
    if m["scoreUnit"] == "ops/s":
        batch_mib = int(p.get("batch", 0)) * int(p.get("d", 0)) * 4 / 2**20
        print(f"{name:<20} {p.get('mode', ''):<22} {m['score']:>10.1f} +- {m['scoreError']:>7.1f} batches/s"
              f"  = {m['score'] * batch_mib / 1024:6.2f} GiB/s{extra}")
    else:
        print(f"{name:<20} {p.get('mode', ''):<22} {m['score']:>10.1f} +- {m['scoreError']:>7.1f} {m['scoreUnit']}{extra}")
PY
}

if [[ "$WHICH" == all || "$WHICH" == streaming ]]; then
    run streaming StreamingBenchmark -prof gc "$@"
fi
if [[ "$WHICH" == all || "$WHICH" == sweep ]]; then
    run sweep SweepBenchmark "$@"
fi
echo "# load after:   $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# results:      $RESULTS_DIR/pipeline-$STAMP-*"
