// The state behind an opaque btk_sae handle, and what every translation unit needs to read it.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batchtopk.h"

namespace btk {

// Gradients of one batch in the SAE's internal layouts. Sparse steps touch few latents, so the
// latent-indexed gradients can hold only the rows of the latents listed in `rows`.
struct Gradients {
  torch::Tensor rows;           // int64 [n], ascending; undefined means all d_sae latents, in order
  torch::Tensor W_encT;         // [n, d_in]
  torch::Tensor W_dec;          // [n, d_in]
  torch::Tensor b_enc;          // [n]
  torch::Tensor b_dec;          // [d_in]
  torch::Tensor log_threshold;  // [d_sae], JumpReLU only
};

// Buffers the fused step reuses from one step to the next: allocating tens of megabytes per step
// costs page faults that are a visible share of a CPU step.
struct Workspace {
  torch::Tensor pre;          // [B, d_sae] pre-activations
  torch::Tensor grad_W_encT;  // [d_sae, d_in] capacity; a step uses its first rows
  torch::Tensor grad_W_dec;   // [d_sae, d_in] capacity
  torch::Tensor prefixes;     // Matryoshka: [(G + 1) * B, d_in], each prefix's error, then its gradient
};

// A latent-sharded SAE's slice: rank `rank` of `world` owns latents [first, first + latents) of the
// d_sae the whole dictionary has (the slice's cfg.d_sae is `latents`).
struct ShardPlace {
  int32_t rank = 0;
  int32_t world = 1;
  int64_t first = 0;
  int64_t latents = 0;
  int64_t d_sae = 0;
};

struct CudaState;  // cuda_state.h: only in builds with CUDA

}  // namespace btk

struct btk_sae {
  btk_config cfg;
  torch::TensorOptions options;  // dtype and device of every parameter

  // Parameters. The encoder is kept transposed ([d_sae, d_in]) so that the per-latent gradient rows
  // of a sparse step are contiguous; it is exposed as SAELens's W_enc [d_in, d_sae].
  torch::Tensor W_encT, b_enc, W_dec, b_dec, log_threshold;
  // Adam moments, same layouts as their parameters.
  torch::Tensor m_W_encT, v_W_encT, m_b_enc, v_b_enc, m_W_dec, v_W_dec, m_b_dec, v_b_dec;
  torch::Tensor m_log_threshold, v_log_threshold;

  std::optional<btk::ShardPlace> shard;  // set when this is one rank's slice of a latent-sharded SAE

  torch::Tensor tokens_since_fired;  // int64 [d_sae]: tokens since each latent was last selected
  double theta = 0.0;                // BatchTopK inference threshold (EMA)
  int64_t step = 0;                  // optimizer steps taken

  mutable btk::Workspace workspace;  // scratch, not state
  btk::Gradients last_gradients;     // from btk_sae_loss_and_gradients, for inspection
  bool has_gradients = false;

  btk_metrics last_metrics{};  // of the latest step (CPU; on CUDA the device step keeps its own)
  bool has_last_metrics = false;
  std::shared_ptr<btk::CudaState> cuda;  // device = CUDA: streams, buffers, device-side theta and metrics

  std::vector<std::string> state_names;
};

namespace btk {

// One trainable tensor with its Adam moments, named as in SAELens.
struct Param {
  const char* name;
  torch::Tensor btk_sae::*value;
  torch::Tensor btk_sae::*m;
  torch::Tensor btk_sae::*v;
  torch::Tensor Gradients::*grad;
  bool transposed;  // stored transposed relative to its public name
  bool per_latent;  // first dimension indexes latents (sparse gradients carry only some rows)
};

// The parameters this SAE trains, in a fixed order.
std::vector<Param> params_of(const btk_sae& sae);

bool uses_aux_loss(const btk_config& cfg);
// BatchTopK's selection over the whole batch and its theta: BatchTopK and Matryoshka BatchTopK.
bool selects_over_batch(const btk_config& cfg);
// Matryoshka prefix widths w_0 = 0, w_1, ..., w_G = d_sae; just {0, d_sae} for other architectures.
std::vector<int64_t> prefix_bounds(const btk_config& cfg);
bool has_thresholds(const btk_config& cfg);
torch::ScalarType scalar_type_of(int32_t btk_dtype);

// Every field's range (BTK_ERR_INVALID_ARGUMENT naming the first bad one); not whether this build
// can run on the device asked for, which require_device_available tells (BTK_ERR_DEVICE).
void validate_config(const btk_config& cfg);
void require_device_available(const btk_config& cfg);
// Draws the parameters from cfg.seed; a shard draws exactly its slice of what the whole SAE draws.
void init_parameters(btk_sae& sae);
// BatchTopK's theta wherever it lives (the CUDA step keeps it on the device), and its replacement.
double theta_of(const btk_sae& sae);
void set_theta(btk_sae& sae, double theta);

}  // namespace btk
