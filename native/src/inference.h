// Encoding and decoding outside training: the codes a trained SAE gives, and reconstructions.
#pragma once

#include "normalize.h"
#include "sae.h"

namespace btk {

// Dense codes [B, d_sae] of a batch already in the training space.
torch::Tensor encode(const btk_sae& sae, const torch::Tensor& x, int32_t select);
// codes W_dec + b_dec.
torch::Tensor decode(const btk_sae& sae, const torch::Tensor& codes);

struct EvalSums {
  int64_t active = 0;
  double squared_error = 0, squared_sum = 0;
  torch::Tensor column_sums;                 // float64 [d_in]
  torch::Tensor fire_counts;                 // int64 [d_sae]
  std::vector<double> prefix_squared_error;  // Matryoshka: one per width; else empty
};
EvalSums evaluate(const btk_sae& sae, const torch::Tensor& batch);

}  // namespace btk
