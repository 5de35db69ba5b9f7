#!/usr/bin/env bash
# Resident memory and wall time of `extract --max-tokens 20000` over a 50 MB text that is one single
# line, against the same words cut into paragraphs: before streaming, the single line was tokenized
# whole (gigabytes, minutes); streamed, both read only what the 20,000 tokens need.
#
#   benchmarks/run-extract-long-line.sh                      # the CLI jar of this checkout
#   benchmarks/run-extract-long-line.sh OLD.jar NEW.jar      # several builds, in one run (e.g. before/after)
#
# The texts are generated (deterministic: awk, fixed seed) in a temporary directory that is removed at
# the end. Prints the machine, each command and `/usr/bin/time` (elapsed seconds, maximum resident KB).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${JAVA_HOME:-}" && -d /usr/lib/jvm/temurin-25-jdk-amd64 ]]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
JARS=("$@")
if [[ ${#JARS[@]} -eq 0 ]]; then
    JARS=("$ROOT/training/target/batchtopk-cli.jar")
fi
MB="${MB:-50}"
TOKENS="${TOKENS:-20000}"
for jar in "${JARS[@]}"; do
    if [[ ! -f "$jar" ]]; then
        echo "no CLI jar at $jar: build it first (mvn -B -DskipTests verify -pl training -am)" >&2
        exit 1
    fi
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# About MB megabytes of common words: one line (no line break at all), and the same words with a
# blank line after every 100 words.
awk -v bytes="$((MB * 1000000))" -v out="$WORK" 'BEGIN {
    srand(12345);
    n = split("the of and to in a is that for it as was with be by on not he this are or his from at which " \
              "but have an they you were her she there been one all we their has would when if so no will " \
              "sparse autoencoder features model layer token activation residual stream dictionary latent " \
              "training batch language neural network learned representation, interpretability. words", w, " ");
    size = 0; count = 0;
    while (size < bytes) {
        word = w[int(rand() * n) + 1];
        sep = (count > 0) ? " " : "";
        printf "%s%s", sep, word > (out "/single-line.txt");
        if (count > 0 && count % 100 == 0) { printf "\n\n%s", word > (out "/paragraphs.txt"); }
        else { printf "%s%s", sep, word > (out "/paragraphs.txt"); }
        size += length(word) + 1; count++;
    }
}'

echo "# date (UTC):  $(date -u '+%Y-%m-%d %H:%M:%S')"
echo "# host:        $(uname -srm)"
echo "# cpu:         $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
echo "# memory:      $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for text in single-line paragraphs; do
    echo "# $text.txt: $(wc -c < "$WORK/$text.txt") bytes, $(wc -l < "$WORK/$text.txt") line breaks"
done
for jar in "${JARS[@]}"; do
    echo "# jar: $jar (sha256 $(sha256sum "$jar" | cut -c1-12))"
    for text in single-line paragraphs; do
        rm -rf "$WORK/out"
        cmd=("$JAVA" -jar "$jar" extract --layer 3 --text "$WORK/$text.txt" --out "$WORK/out" --max-tokens "$TOKENS")
        echo "\$ ${cmd[*]}"
        /usr/bin/time -f "$text: %e s elapsed, %M KB maximum resident, exit %x" "${cmd[@]}" \
            > "$WORK/out.json" 2> "$WORK/out.err" || true
        grep -v '^extract:' "$WORK/out.err" | tail -n 3
        echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    done
done
