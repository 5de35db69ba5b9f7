// One training step, split as the shim runs it: forward and backward (two implementations that must
// agree), then the update (two implementations that must agree), then the bookkeeping both share.
#pragma once

#include <limits>

#include "sae.h"

namespace btk {

struct StepResult {
  Gradients gradients;               // defined only when asked for
  torch::Tensor tokens_since_fired;  // the counters as they stand after this batch
  double loss = 0, mse = 0, aux_loss = 0, sparsity_loss = 0, nmse = 0, l0 = 0;
  // Smallest positive selected activation (BatchTopK's theta estimate); NaN when none was selected.
  double smallest_selected = std::numeric_limits<double>::quiet_NaN();
};

struct DataParallel;
struct LatentShards;

// Explicit forward and backward over the active (token, latent) pairs only. With `dp` (BatchTopK
// and TopK), the batch is one rank's part of a global batch and the result is the global batch's.
// With `shards` (BatchTopK and TopK), the SAE is one rank's slice of the latents, every rank has the
// whole batch, and the selection, reconstruction and metrics are the whole SAE's; the gradients are
// this slice's (and the whole b_dec's).
StepResult fused_forward_backward(const btk_sae& sae, const torch::Tensor& batch, bool want_gradients,
                                  const DataParallel* dp = nullptr, const LatentShards* shards = nullptr);
// Dense tensors, topk over the flattened batch, scatter and autograd, as the reference code does.
StepResult naive_forward_backward(const btk_sae& sae, const torch::Tensor& batch, bool want_gradients);

// Decoder-gradient projection, global-norm clipping, Adam and decoder renormalisation.
// Both return the gradient norm before clipping and leave the step counter alone. With `shards`, the
// norm is the whole SAE's.
double fused_update(btk_sae& sae, Gradients& gradients, const LatentShards* shards = nullptr);
double naive_update(btk_sae& sae, Gradients& gradients);

// Counters, theta and the step count after an update.
void finish_step(btk_sae& sae, const StepResult& result);

// The batch's mean squared deviation from its per-column mean, summed: NMSE's denominator.
torch::Tensor total_variance(const torch::Tensor& x);

}  // namespace btk
