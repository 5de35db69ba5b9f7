#!/usr/bin/env bash
# The BatchTopK paper's comparison on the main job's activations (all-MiniLM-L6-v2, layer 3 residual
# stream): BatchTopK, TopK and JumpReLU over a range of sparsities, all trained in one pass over the
# same batches (train --sweep), then compared on the held-out shard and spliced into the model
# (compare --text): RUN/compare.html. A few minutes on 2 cores.
# Usage: scripts/compare-job.sh [OUTPUT_DIR]   (default: runs/compare-job)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/runs/compare-job}"
"$root/scripts/install-deps.sh"
source "$root/scripts/java-env.sh"
cd "$root"

# The main job's activations when it has run (scripts/main-job.sh), else the same extraction here.
activations="$root/runs/main-job/activations"
if [[ ! -f "$activations/extraction.json" ]]; then
  activations="$out/activations"
  ./batchtopk extract --model minilm --layer 3 --site resid --text /usr/share/common-licenses \
    --shard-tokens 6000 --out "$activations" --overwrite
fi
# As in the main job, the last shard is held out, for evaluation and for the text of the splice.
shards=("$activations"/activations-*.npy)
held_out="${shards[-1]}"
train_args=()
for shard in "${shards[@]::${#shards[@]}-1}"; do train_args+=(--data "$shard"); done

# k = 16, 32, 64 for BatchTopK and TopK; JumpReLU at two L0 coefficients. d_sae 1536 (4 d) and 100 steps
# of 1024 tokens (about two epochs) keep the eight SAEs within minutes on 2 cores.
./batchtopk train "${train_args[@]}" --sweep arch=batchtopk,topk,jumprelu --sweep k=16,32,64 \
  --sweep l0-coeff=0.001,0.01 --d-sae 1536 --batch-size 1024 --steps 100 --lr 1e-3 \
  --lr-warmup-steps 10 --lr-decay cosine --seed 1 --eval-data "$held_out" --eval-every 50 \
  --out "$out/sweep" --overwrite

# The downstream score on MPL-2.0, the licence the held-out shard holds (in the last shard only, as
# with the main job's figures in the README); COMPARE_TEXT=FILE|DIR picks other text.
./batchtopk compare "$out/sweep" --eval-data "$held_out" --text "${COMPARE_TEXT:-/usr/share/common-licenses/MPL-2.0}"
