#include "normalize.h"

namespace btk {

Normalized normalize_input(const btk_config& cfg, const torch::Tensor& x) {
  if (cfg.normalize == BTK_NORMALIZE_NONE) return {x, {}, {}};
  auto mean = x.mean(1, true);
  auto centred = x - mean;
  // Unbiased std, as torch.std in the reference's preprocessing.
  auto scale = centred.std(1, /*unbiased=*/true, /*keepdim=*/true) + 1e-5;
  return {centred / scale, mean, scale};
}

torch::Tensor denormalize(const Normalized& n, const torch::Tensor& x_hat) {
  if (!n.mean.defined()) return x_hat;
  return x_hat * n.scale + n.mean;
}

}  // namespace btk
