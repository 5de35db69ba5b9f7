// Per-token input normalisation (the reference trains with it on) and its inverse.
#pragma once

#include "sae.h"

namespace btk {

struct Normalized {
  torch::Tensor x;      // the batch in the SAE's training space
  torch::Tensor mean;   // [B, 1]; undefined without normalisation
  torch::Tensor scale;  // [B, 1] = std + 1e-5; undefined without normalisation
};

Normalized normalize_input(const btk_config& cfg, const torch::Tensor& x);
// Maps a reconstruction from the training space back to the batch's space.
torch::Tensor denormalize(const Normalized& n, const torch::Tensor& x_hat);

}  // namespace btk
