#include "inference.h"

#include <ATen/Dispatch.h>

#include "errors.h"
#include "selection.h"

namespace btk {

namespace {

template <typename T>
torch::Tensor densify(const SparseRows<T>& codes, int64_t cols, const torch::TensorOptions& options) {
  torch::Tensor dense = torch::zeros({codes.rows(), cols}, options);
  T* out = dense.data_ptr<T>();
  for (int64_t b = 0; b < codes.rows(); b++) {
    for (int64_t p = codes.row_ptr[b]; p < codes.row_ptr[b + 1]; p++) out[b * cols + codes.col[p]] = codes.val[p];
  }
  return dense;
}

// Selected on the host (encode is not the training step's hot path), returned on pre's device.
torch::Tensor select_top(const btk_sae& sae, const torch::Tensor& device_pre, bool whole_batch) {
  const auto pre = device_pre.cpu().contiguous();
  const int64_t B = pre.size(0), F = pre.size(1);
  torch::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "select_top", [&] {
    const scalar_t* data = pre.data_ptr<scalar_t>();
    auto codes = whole_batch ? select_batch_topk(data, B, F, int64_t(sae.cfg.k) * B)
                             : select_row_topk(data, B, F, int64_t(sae.cfg.k));
    out = densify(codes, F, pre.options());
  });
  return out.to(device_pre.device());
}

}  // namespace

torch::Tensor encode(const btk_sae& sae, const torch::Tensor& x, int32_t select) {
  if (select != BTK_SELECT_INFERENCE && select != BTK_SELECT_TRAINING) {
    fail(BTK_ERR_INVALID_ARGUMENT, "unknown selection rule " + std::to_string(select));
  }
  auto pre = torch::addmm(sae.b_enc, x - sae.b_dec, sae.W_encT.t()).contiguous();
  auto acts = torch::relu(pre);
  switch (sae.cfg.architecture) {
    case BTK_ARCH_BATCHTOPK:
    case BTK_ARCH_MATRYOSHKA_BATCHTOPK:
      if (select == BTK_SELECT_TRAINING) return select_top(sae, pre, true);
      // At inference a global threshold replaces the batch: a JumpReLU with theta everywhere.
      return acts * (acts > theta_of(sae));
    case BTK_ARCH_TOPK: return select_top(sae, pre, false);
    case BTK_ARCH_JUMPRELU: return acts * (acts > sae.log_threshold.exp());
    default: return acts;
  }
}

torch::Tensor decode(const btk_sae& sae, const torch::Tensor& codes) {
  return torch::addmm(sae.b_dec, codes, sae.W_dec);
}

EvalSums evaluate(const btk_sae& sae, const torch::Tensor& batch) {
  auto normalized = normalize_input(sae.cfg, batch);
  auto codes = encode(sae, normalized.x, BTK_SELECT_INFERENCE);
  auto x = batch.to(torch::kFloat64);
  EvalSums sums;
  torch::Tensor x_hat;
  if (sae.cfg.architecture == BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
    // Each prefix decoded by its own latents, b_dec + codes[:, :w_i] W_dec[:w_i]; the last is the SAE's.
    auto bounds = prefix_bounds(sae.cfg);
    auto partial = sae.b_dec.expand({codes.size(0), sae.cfg.d_in});
    for (size_t i = 1; i < bounds.size(); i++) {
      int64_t width = bounds[i] - bounds[i - 1];
      partial = torch::addmm(partial, codes.narrow(1, bounds[i - 1], width), sae.W_dec.narrow(0, bounds[i - 1], width));
      x_hat = denormalize(normalized, partial);
      sums.prefix_squared_error.push_back((x_hat.to(torch::kFloat64) - x).pow(2).sum().item<double>());
    }
  } else {
    x_hat = denormalize(normalized, decode(sae, codes));
  }
  auto fired = codes > 0;
  sums.active = fired.sum().item<int64_t>();
  sums.squared_error = (x_hat.to(torch::kFloat64) - x).pow(2).sum().item<double>();
  sums.squared_sum = x.pow(2).sum().item<double>();
  sums.column_sums = x.sum(0);
  sums.fire_counts = fired.sum(0).to(torch::kInt64);
  return sums;
}

}  // namespace btk
