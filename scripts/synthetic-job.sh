#!/usr/bin/env bash
# A check with a known answer: sparse superposition data with a known dictionary (512 directions in 64
# dimensions, 4 active per token), a BatchTopK SAE trained on it, and how well it recovered the
# dictionary. Builds what is missing first. Usage: scripts/synthetic-job.sh [OUTPUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/runs/synthetic-job}"
"$root/scripts/install-deps.sh"
source "$root/scripts/java-env.sh"
cd "$root"

./batchtopk synth --out "$out/data" --d-in 64 --features 512 --tokens 200000 --active 4 --seed 1
./batchtopk train --data "$out/data/activations.npy" --arch batchtopk --d-sae 1024 --k 4 \
  --batch-size 1024 --steps 3000 --lr 1e-3 --seed 1 --out "$out/sae" --overwrite
echo "evaluation (dictionary_recovery: mean best cosine of each true direction with a learned one):"
./batchtopk eval --sae "$out/sae" --data "$out/data/activations.npy" --dictionary "$out/data/dictionary.npy"
echo "SAELens directory: $out/sae"
