// The step as the reference code writes it: dense tensors, topk over the flattened batch, a scatter
// into a dense code matrix, a dense decode and autograd. It is the oracle of the tests and the
// baseline of the benchmarks, so it stays deliberately plain.
#include "normalize.h"
#include "step.h"

namespace btk {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

torch::Tensor rectangle(const torch::Tensor& acts, const torch::Tensor& threshold, double bandwidth) {
  return (((acts - threshold) / bandwidth).abs() < 0.5).to(acts.scalar_type());
}

// z = a * H(a - t), t = exp(log_threshold); straight-through gradient for the threshold.
struct JumpReLUFunction : public torch::autograd::Function<JumpReLUFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor acts, torch::Tensor log_threshold,
                               double bandwidth) {
    auto threshold = log_threshold.exp();
    ctx->save_for_backward({acts, threshold});
    ctx->saved_data["bandwidth"] = bandwidth;
    return acts * (acts > threshold);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto acts = saved[0], threshold = saved[1];
    double bandwidth = ctx->saved_data["bandwidth"].toDouble();
    auto grad = grad_outputs[0];
    auto grad_acts = grad * (acts > threshold);
    auto grad_threshold = (-(threshold / bandwidth) * rectangle(acts, threshold, bandwidth) * grad).sum(0);
    return {grad_acts, grad_threshold * threshold, torch::Tensor()};
  }
};

// H(a - t) for the L0 penalty; straight-through gradient for the threshold only.
struct StepFunction : public torch::autograd::Function<StepFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor acts, torch::Tensor log_threshold,
                               double bandwidth) {
    auto threshold = log_threshold.exp();
    ctx->save_for_backward({acts, threshold});
    ctx->saved_data["bandwidth"] = bandwidth;
    return (acts > threshold).to(acts.scalar_type());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto acts = saved[0], threshold = saved[1];
    double bandwidth = ctx->saved_data["bandwidth"].toDouble();
    auto grad_threshold = (-(1.0 / bandwidth) * rectangle(acts, threshold, bandwidth) * grad_outputs[0]).sum(0);
    return {torch::zeros_like(acts), grad_threshold * threshold, torch::Tensor()};
  }
};

torch::Tensor leaf(const torch::Tensor& t) { return t.detach().requires_grad_(true); }

}  // namespace

StepResult naive_forward_backward(const btk_sae& sae, const torch::Tensor& batch, bool want_gradients) {
  const auto& c = sae.cfg;
  const int64_t B = batch.size(0);
  auto W_encT = leaf(sae.W_encT), b_enc = leaf(sae.b_enc), W_dec = leaf(sae.W_dec), b_dec = leaf(sae.b_dec);
  torch::Tensor log_threshold = has_thresholds(c) ? leaf(sae.log_threshold) : torch::Tensor();

  auto x = normalize_input(c, batch).x;
  auto x_cent = x - b_dec;
  auto acts = torch::relu(torch::addmm(b_enc, x_cent, W_encT.t()));
  torch::Tensor codes, sparsity = torch::zeros({}, sae.options);
  switch (c.architecture) {
    case BTK_ARCH_BATCHTOPK:
    case BTK_ARCH_MATRYOSHKA_BATCHTOPK: {
      auto top = acts.flatten().topk(int64_t(c.k) * B, -1);
      codes = torch::zeros_like(acts.flatten()).scatter(-1, std::get<1>(top), std::get<0>(top)).reshape(acts.sizes());
      break;
    }
    case BTK_ARCH_TOPK: {
      auto top = acts.topk(c.k, -1);
      codes = torch::zeros_like(acts).scatter(-1, std::get<1>(top), std::get<0>(top));
      break;
    }
    case BTK_ARCH_JUMPRELU:
      codes = JumpReLUFunction::apply(acts, log_threshold, c.jumprelu_bandwidth);
      sparsity = c.l0_coeff * StepFunction::apply(acts, log_threshold, c.jumprelu_bandwidth).sum(-1).mean();
      break;
    default: codes = acts; sparsity = c.l1_coeff * codes.abs().sum(-1).mean();
  }
  auto x_hat = codes.mm(W_dec) + b_dec;
  auto mse = (x_hat - x).pow(2).mean();
  auto reconstruction = mse;
  if (c.architecture == BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
    // The mean of the MSEs of b_dec alone and of every prefix's reconstruction (the authors' weighting).
    auto bounds = prefix_bounds(c);
    auto prefix = b_dec.expand_as(x);
    auto sum = (prefix - x).pow(2).mean();
    for (size_t i = 1; i < bounds.size(); i++) {
      int64_t width = bounds[i] - bounds[i - 1];
      prefix = prefix + codes.narrow(1, bounds[i - 1], width).mm(W_dec.narrow(0, bounds[i - 1], width));
      sum = sum + (prefix - x).pow(2).mean();
    }
    reconstruction = sum / double(bounds.size());
  }

  StepResult r;
  auto fired = (codes > 0).any(0);
  r.tokens_since_fired = torch::where(fired, torch::zeros_like(sae.tokens_since_fired), sae.tokens_since_fired + B);
  auto aux = torch::zeros({}, sae.options);
  if (uses_aux_loss(c)) {
    auto dead = (r.tokens_since_fired >= c.dead_after_tokens).nonzero().flatten();
    if (dead.numel() > 0) {
      auto dead_acts = acts.index_select(1, dead);
      auto top = dead_acts.topk(std::min<int64_t>(c.k_aux, dead.numel()), -1);
      auto aux_codes = torch::zeros_like(dead_acts).scatter(-1, std::get<1>(top), std::get<0>(top));
      auto x_hat_aux = aux_codes.mm(W_dec.index_select(0, dead));
      auto residual = (x - x_hat).detach();
      aux = c.aux_coeff * (x_hat_aux - residual).pow(2).mean();
    }
  }
  auto loss = reconstruction + aux + sparsity;

  r.loss = loss.item<double>();
  r.mse = mse.item<double>();
  r.aux_loss = aux.item<double>();
  r.sparsity_loss = sparsity.item<double>();
  r.nmse = (x_hat - x).pow(2).sum().item<double>() / total_variance(x).item<double>();
  auto positive = codes.detach() > 0;
  r.l0 = positive.sum().item<double>() / double(B);
  if (positive.any().item<bool>()) r.smallest_selected = codes.detach().masked_select(positive).min().item<double>();

  if (want_gradients) {
    loss.backward();
    Gradients& g = r.gradients;
    g.W_encT = W_encT.grad();
    g.b_enc = b_enc.grad();
    g.W_dec = W_dec.grad();
    g.b_dec = b_dec.grad();
    if (log_threshold.defined()) g.log_threshold = log_threshold.grad();
  }
  return r;
}

}  // namespace btk
