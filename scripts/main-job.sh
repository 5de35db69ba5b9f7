#!/usr/bin/env bash
# The main job: residual-stream activations of a real language model (all-MiniLM-L6-v2, layer 3, run
# in-process by ONNX Runtime) over the English text every Debian system has, a BatchTopK SAE trained on
# them with held-out evaluation, its final metrics and a report. Builds what is missing first.
# Usage: scripts/main-job.sh [OUTPUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/runs/main-job}"
"$root/scripts/install-deps.sh"
source "$root/scripts/java-env.sh"
cd "$root"

./batchtopk extract --model minilm --layer 3 --site resid --text /usr/share/common-licenses \
  --shard-tokens 6000 --out "$out/activations" --overwrite
# The last shard is held out for evaluation.
shards=("$out"/activations/activations-*.npy)
held_out="${shards[-1]}"
train_args=()
for shard in "${shards[@]::${#shards[@]}-1}"; do train_args+=(--data "$shard"); done

./batchtopk train "${train_args[@]}" --arch batchtopk --d-sae 3072 --k 32 --batch-size 1024 \
  --tokens 1000000 --lr 1e-3 --lr-warmup-steps 100 --lr-decay cosine --seed 1 \
  --eval-data "$held_out" --eval-every 200 --checkpoint-every 500 --out "$out/sae" --overwrite
echo "held-out evaluation:"
./batchtopk eval --sae "$out/sae" --data "$held_out"
./batchtopk report --run "$out/sae" --data "$out/activations" --tokens "$out/activations/tokens.tsv"
