#!/usr/bin/env bash
# Tokens/s of the CLI's `train`, of the same training loop driven from Java (the library run) and of the
# bare step, in one run, interleaved round by round, so that their ratios hold even on a busy machine.
#
#   benchmarks/cli-vs-step.sh                  # 3 rounds of: cli, library, step (d=512, F=8192, B=2048, k=32)
#   ROUNDS=5 STEPS=60 benchmarks/cli-vs-step.sh
#   CLI_ARGS="--threads 2" benchmarks/cli-vs-step.sh   # further options for `train` (the CLI contender only)
#
# - cli:     ./batchtopk train --data DATA --no-shuffle --log-every 1 ... (a JVM of its own, as users run it);
#            tokens/s from its metrics.jsonl.
# - library: the loop `train` runs (TrainingRun, the library API), on the same data, driven from Java by CliVsStep/LibraryRun
#            in a JVM of its own, with the library's default threads; tokens/s from its metrics.jsonl.
# - step:    Sae.trainStep alone on the same batches (sequential, no prefetch), timed around each call as
#            TrainingStepBenchmark does, with the library's default threads.
# Each contender trains a new SAE for STEPS steps; steady state is the tokens over the steps after the
# first WARMUP divided by their time (metrics.jsonl: the sum of each line's window, tokens / tokens_per_s).
#
# Data: DATA (an .npy of rows x 512 F32), or 65,536 rows made once by `batchtopk synth` under
# TMPDIR. Prints the table and saves it in RESULTS_DIR/cli-vs-step-<UTC stamp>.txt. Environment: JAVA_HOME, BATCHTOPK_LIBRARY, RESULTS_DIR as for run-cpu.sh; D_SAE, K,
# BATCH, STEPS (40), WARMUP (10), PREFETCH (the CLI's and the library run's --prefetch, 2), ROUNDS (3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

D_SAE="${D_SAE:-8192}" K="${K:-32}" BATCH="${BATCH:-2048}" STEPS="${STEPS:-40}" WARMUP="${WARMUP:-10}"
PREFETCH="${PREFETCH:-2}" ROUNDS="${ROUNDS:-3}" CLI_ARGS="${CLI_ARGS:-}"
NEEDS_BUILT="$ROOT/training/target/batchtopk-cli.jar" source benchmarks/preamble.sh
SUMMARY="$RESULTS_DIR/cli-vs-step-$STAMP.txt"
# The runs' output directories (an SAE each): scratch, removed at the end.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cli-vs-step.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
DATA="${DATA:-}"
if [[ -z "$DATA" ]]; then
    DATA="${TMPDIR:-/tmp}/batchtopk-cli-vs-step-data/activations.npy"
    if [[ ! -f "$DATA" ]]; then
        "$ROOT/batchtopk" synth --out "$(dirname "$DATA")" --d-in 512 --features 4096 --tokens 65536 --seed 0 > /dev/null
    fi
fi
JAVA=(java "${JVM_FLAGS[@]}" -cp "$JAR" ai.batchtopk.benchmarks.CliVsStep)

exec > >(tee "$SUMMARY")
echo "# date (UTC):   $(date -u '+%Y-%m-%d %H:%M:%S')"
echo "# host:         $(uname -srm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
java "${JVM_FLAGS[@]}" -cp "$JAR" ai.batchtopk.benchmarks.MachineInfo | sed 's/^/# /'
echo "# git:          $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# shape:        d=512 F=$D_SAE B=$BATCH k=$K; $STEPS steps per contender, steady state after $WARMUP; data $DATA"
echo "# cli:          ./batchtopk train --data $DATA --d-sae $D_SAE --k $K --batch-size $BATCH --steps $STEPS --no-shuffle --log-every 1 --prefetch $PREFETCH $CLI_ARGS --out OUT --overwrite"
echo "# library:      $(printf '%q ' "${JAVA[@]}") library $DATA OUT $D_SAE $K $BATCH $STEPS $PREFETCH 0"
echo "# step:         $(printf '%q ' "${JAVA[@]}") step $DATA - $D_SAE $K $BATCH $STEPS 0 0"

# Steady-state tokens/s of a metrics.jsonl: tokens after step WARMUP over the sum of their windows.
from_metrics() {
    python3 - "$1" "$WARMUP" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
warmup = int(sys.argv[2])
tokens = seconds = 0.0
for before, line in zip(lines, lines[1:]):
    if line["step"] > warmup:
        t = line["tokens"] - before["tokens"]
        tokens += t
        seconds += t / line["tokens_per_s"]
print(f"{tokens / seconds:.0f}")
PY
}
# Steady-state tokens/s of CliVsStep's "step <n> <seconds>" lines.
from_steps() {
    awk -v w="$WARMUP" -v b="$BATCH" '$1 == "step" && $2 > w {s += $3; n++} END {printf "%.0f\n", n * b / s}' "$1"
}

printf '%-6s %-16s %10s %10s %10s %9s %9s\n' round load cli library step cli/step lib/step
for round in $(seq 1 "$ROUNDS"); do
    load="$(cut -d' ' -f1 /proc/loadavg)"
    # shellcheck disable=SC2086
    "$ROOT/batchtopk" train --data "$DATA" --d-sae "$D_SAE" --k "$K" --batch-size "$BATCH" --steps "$STEPS" \
        --no-shuffle --log-every 1 --prefetch "$PREFETCH" $CLI_ARGS --out "$WORK/cli-$round" --overwrite > /dev/null
    cli="$(from_metrics "$WORK/cli-$round/metrics.jsonl")"
    "${JAVA[@]}" library "$DATA" "$WORK/library-$round" "$D_SAE" "$K" "$BATCH" "$STEPS" "$PREFETCH" 0
    library="$(from_metrics "$WORK/library-$round/metrics.jsonl")"
    "${JAVA[@]}" step "$DATA" - "$D_SAE" "$K" "$BATCH" "$STEPS" 0 0 > "$WORK/step-$round.txt"
    step="$(from_steps "$WORK/step-$round.txt")"
    load="$load-$(cut -d' ' -f1 /proc/loadavg)"
    python3 -c 'import sys; r, load, c, l, s = sys.argv[1:]; c, l, s = int(c), int(l), int(s)
print(f"{r:<6} {load:<16} {c:>10} {l:>10} {s:>10} {c / s:>9.2f} {l / s:>9.2f}")' \
        "$round" "$load" "$cli" "$library" "$step" | tee -a "$WORK/rounds.txt"
done
python3 - "$WORK/rounds.txt" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print(f"median over {len(rows)} rounds: cli/step {statistics.median(float(r[5]) for r in rows):.2f}, "
      f"library/step {statistics.median(float(r[6]) for r in rows):.2f}")
PY
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); summary: $SUMMARY"
