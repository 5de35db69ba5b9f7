#!/usr/bin/env bash
# CPU benchmark of one training step, fused vs naive, in one JMH run.
#
#   benchmarks/run-cpu.sh                       # default shape: d=512, F=8192, B=2048, k=32, BatchTopK
#   benchmarks/run-cpu.sh -p dSae=16384 -i 4    # any further arguments go to JMH as they are
#
# Builds the project when benchmarks/target/benchmarks.jar or the native library is missing, runs
# TrainingStepBenchmark, writes JMH's JSON to benchmarks/results/cpu-<UTC date>.json and the console
# log and summary next to it, and prints: machine info, the exact command, and a table of ms/step
# (median, p5, p95, mean +- 99.9% error), tokens/s and the fused/naive speedup measured in this run.
#
# Environment: JAVA_HOME (default: Temurin 25 when installed), BATCHTOPK_LIBRARY (default:
# native/build/libbatchtopk.so), RESULTS_DIR (default: benchmarks/results).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

source benchmarks/preamble.sh

JSON="$RESULTS_DIR/cpu-$STAMP.json"
LOG="$RESULTS_DIR/cpu-$STAMP.log"
SUMMARY="$RESULTS_DIR/cpu-$STAMP.txt"

# The forked benchmark JVM inherits these flags from this one (JMH copies the host's JVM options
# when no -jvmArgs is given).
CMD=(java "${JVM_FLAGS[@]}" -jar "$JAR" TrainingStepBenchmark -rf json -rff "$JSON" "$@")

# ---- machine info ---------------------------------------------------------------------------------
blas_of() {
    # The BLAS that libtorch_cpu actually resolves to (through Debian's alternatives, if any).
    local torch_cpu blas
    torch_cpu="$(ldd "$LIB" | awk '/libtorch_cpu/ {print $3; exit}')"
    [[ -n "$torch_cpu" ]] || { echo "unknown"; return; }
    blas="$(ldd "$torch_cpu" | awk '/libblas|libopenblas|libmkl|libblis/ {print $3}' | xargs -r -n1 readlink -f | sort -u | tr '\n' ' ')"
    local pkg=""
    if command -v dpkg-query >/dev/null; then
        pkg="$(dpkg-query -W -f='${Package} ${Version}\n' 'libopenblas0*' 2>/dev/null | awk 'NF == 2' | paste -sd';' || true)"
    fi
    echo "${blas:-unknown}${pkg:+ [$pkg]}"
}

busiest() {
    # Instantaneous CPU use over one second (ps's %cpu is a lifetime average).
    if command -v top >/dev/null; then
        top -b -n2 -d1 -o %CPU -w 200 | awk '/^top -/ {f++} f == 2 && /^ *[0-9]+ / {print $1, $2, $9, $12}' | head -5
    else
        ps -eo pid,user,pcpu,comm --sort=-pcpu | sed -n '2,6p'
    fi
}

{
    echo "# date (UTC):   $(date -u '+%Y-%m-%d %H:%M:%S')"
    echo "# host:         $(uname -srm)"
    echo "# cpu:          $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# nproc:        $(nproc)"
    echo "# memory:       $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "# load before:  $(cut -d' ' -f1-3 /proc/loadavg)"
    java "${JVM_FLAGS[@]}" -cp "$JAR" ai.batchtopk.benchmarks.MachineInfo | sed 's/^/# /'
    echo "# blas:         $(blas_of)"
    if command -v dpkg-query >/dev/null; then
        echo "# torch pkgs:   $(dpkg-query -W -f='${Package} ${Version}\n' 'libtorch1*' 2>/dev/null | awk 'NF == 2' | paste -sd';' || true)"
    fi
    echo "# git:          $(git rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -z "$(git status --porcelain 2>/dev/null)" ]] || echo ' (working tree has uncommitted or untracked files)')"
    echo "# command:      (cd $ROOT && $(printf '%q ' "${CMD[@]}"))"
    # Anything else using the CPU right now would distort the timings: show the busiest processes.
    echo "# busiest processes just before the run (1 s sample; pid user %cpu command):"
    busiest | sed 's/^/#   /'
} | tee "$SUMMARY"

# ---- the run --------------------------------------------------------------------------------------
# A sampler in the background notes every 5 s any other process using more than 10% of a core
# (anything but this benchmark's JVMs), so a run disturbed by a build or a test is visible.
CONTENTION="$RESULTS_DIR/cpu-$STAMP.contention.log"
: > "$CONTENTION"
sample_competitors() {
    command -v top >/dev/null || return 0
    local t pid cpu cmd
    while sleep 4; do
        t="$(date -u +%H:%M:%S)"
        top -b -n2 -d1 -o %CPU -w 200 | awk '/^top -/ {f++} f == 2 && /^ *[0-9]+ / && $9 > 10 {print $1, $9}' \
            | while read -r pid cpu; do
                cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" || continue
                case "$cmd" in *benchmarks.jar*|*jmh.runner.ForkedMain*|"top "*) continue ;; esac
                echo "$t $pid $cpu% ${cmd:0:400}"
            done >> "$CONTENTION"
    done
}
sample_competitors &
SAMPLER=$!
trap 'kill "$SAMPLER" 2>/dev/null || true' EXIT

"${CMD[@]}" 2>&1 | tee "$LOG"

kill "$SAMPLER" 2>/dev/null || true

{
    echo "# load after:   $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# busiest processes just after the run:"
    busiest | sed 's/^/#   /'
    if [[ -s "$CONTENTION" ]]; then
        echo "# WARNING: other processes competed for the CPU during the run ($(cut -d' ' -f1 "$CONTENTION" | sort -u | wc -l) samples of ~5 s; see $CONTENTION):"
        awk '{cmd = ""; for (i = 4; i <= NF; i++) if ($i !~ /^-(D|X|-enable)/) cmd = cmd " " $i
              cmd = substr(cmd, 2, 110); c[cmd]++; s[cmd] += $3}
             END {for (k in c) printf "#   %3d x, mean %3.0f%% CPU: %s\n", c[k], s[k] / c[k], k}' "$CONTENTION"
    else
        echo "# no other process above 10% of a core was seen during the run (sampled every ~5 s)"
    fi
} | tee -a "$SUMMARY"

# ---- the table ------------------------------------------------------------------------------------
python3 - "$JSON" <<'PY' | tee -a "$SUMMARY"
import json, sys
from collections import OrderedDict

results = json.load(open(sys.argv[1]))

def quantile(hist, q):
    """q-quantile of a list of (value, count) pairs (nearest rank)."""
    hist = sorted(hist)
    n = sum(c for _, c in hist)
    rank = max(1, int(-(-q * n // 1)))  # ceil(q * n), at least 1
    seen = 0
    for v, c in hist:
        seen += c
        if seen >= rank:
            return v
    return hist[-1][0]

rows = []
for r in results:
    p = dict(r.get("params", {}))
    path = p.pop("path", "?")
    m = r["primaryMetric"]
    unit = m["scoreUnit"]
    assert unit == "ms/op", unit
    hist = [tuple(vc) for fork in m.get("rawDataHistogram", []) for it in fork for vc in it]
    n = sum(c for _, c in hist)
    med, p5, p95 = (quantile(hist, q) for q in (0.5, 0.05, 0.95)) if hist else (m["scorePercentiles"]["50.0"],) * 3
    tokens = int(p.get("batch", 0))
    rows.append(dict(shape=tuple(sorted(p.items())), path=path, n=n, mean=m["score"], err=m["scoreError"],
                     med=med, p5=p5, p95=p95, tok_med=tokens / (med / 1e3), tok_mean=tokens / (m["score"] / 1e3)))

shapes = OrderedDict()
for row in rows:
    shapes.setdefault(row["shape"], []).append(row)

for shape, group in shapes.items():
    print()
    print("shape: " + ", ".join(f"{k}={v}" for k, v in shape))
    print(f"{'path':<6} {'steps':>5} {'median ms':>10} {'p5 ms':>9} {'p95 ms':>9} {'mean ms (99.9% err)':>22} "
          f"{'tokens/s (median)':>18} {'tokens/s (mean)':>16}")
    for r in group:
        mean = f"{r['mean']:.2f} +- {r['err']:.2f}"
        print(f"{r['path']:<6} {r['n']:>5} {r['med']:>10.2f} {r['p5']:>9.2f} {r['p95']:>9.2f} {mean:>22} "
              f"{r['tok_med']:>18,.0f} {r['tok_mean']:>16,.0f}")
    by = {r["path"]: r for r in group}
    if "fused" in by and "naive" in by:
        f, nv = by["fused"], by["naive"]
        print(f"speedup fused/naive (tokens/s): {nv['med'] / f['med']:.2f}x on medians, "
              f"{nv['mean'] / f['mean']:.2f}x on means")
PY

echo
echo "# JSON: $JSON"
echo "# log:  $LOG"
echo "# summary: $SUMMARY"
echo "# contention samples: $CONTENTION"
