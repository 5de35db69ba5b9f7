#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "latent_shards.h"
#include "step.h"

namespace btk {

namespace {

// The Adam step of one parameter with the bias corrections of step t, as torch.optim.Adam computes it.
struct AdamStep {
  double lr, beta1, beta2, eps;
  double step_size, bias_correction2_sqrt;

  AdamStep(const btk_config& c, int64_t t)
      : lr(c.lr),
        beta1(c.beta1),
        beta2(c.beta2),
        eps(c.eps),
        step_size(c.lr / (1.0 - std::pow(c.beta1, double(t)))),
        bias_correction2_sqrt(std::sqrt(1.0 - std::pow(c.beta2, double(t)))) {}

  // One row of a parameter; grad == nullptr is a zero gradient (a latent this batch did not touch).
  // Written as plain loops over restrict pointers so that they vectorise.
  template <typename T>
  void apply_row(const T* __restrict grad, T scale, T* __restrict param, T* __restrict m, T* __restrict v,
                 int64_t n) const {
    const T keep1 = T(1.0 - beta1), b2 = T(beta2), keep2 = T(1.0 - beta2), bc2 = T(bias_correction2_sqrt), e = T(eps),
            size = T(step_size);
    if (grad != nullptr) {
      for (int64_t i = 0; i < n; i++) {
        T g = scale * grad[i];
        m[i] += keep1 * (g - m[i]);
        v[i] = v[i] * b2 + keep2 * g * g;
        param[i] -= size * (m[i] / (std::sqrt(v[i]) / bc2 + e));
      }
    } else {
      for (int64_t i = 0; i < n; i++) {
        m[i] -= keep1 * m[i];
        v[i] = v[i] * b2;
        param[i] -= size * (m[i] / (std::sqrt(v[i]) / bc2 + e));
      }
    }
  }

  // The same update on whole tensors, pass after pass.
  void apply(const torch::Tensor& grad, torch::Tensor& param, torch::Tensor& m, torch::Tensor& v) const {
    m.lerp_(grad, 1.0 - beta1);
    v.mul_(beta2).addcmul_(grad, grad, 1.0 - beta2);
    auto denom = (v.sqrt() / bias_correction2_sqrt).add_(eps);
    param.addcdiv_(m, denom, -step_size);
  }
};

// torch.nn.utils.clip_grad_norm_'s factor.
double clip_factor(const btk_config& c, double norm) {
  if (c.max_grad_norm <= 0) return 1.0;
  return std::min(1.0, c.max_grad_norm / (norm + 1e-6));
}

template <typename T>
double fused_update_impl(btk_sae& sae, Gradients& g, const LatentShards* shards) {
  const auto& c = sae.cfg;
  const int64_t d = c.d_in, F = c.d_sae;
  const bool sparse = g.rows.defined();
  const int64_t n = g.W_dec.size(0);
  const int64_t* rows = sparse ? g.rows.data_ptr<int64_t>() : nullptr;
  auto latent = [&](int64_t s) { return sparse ? rows[s] : s; };

  T* W_dec = sae.W_dec.data_ptr<T>();
  T* gW_dec = g.W_dec.data_ptr<T>();
  T* gW_encT = g.W_encT.data_ptr<T>();
  T* gb_enc = g.b_enc.data_ptr<T>();

  // 1. Remove from each active decoder-row gradient its component along the row; sum squares.
  std::vector<double> partial(n, 0.0);
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; s++) {
      const T* w = W_dec + latent(s) * d;
      T* gw = gW_dec + s * d;
      T along = 0, length = 0;
      for (int64_t i = 0; i < d; i++) {
        along += gw[i] * w[i];
        length += w[i] * w[i];
      }
      T coef = along / length;
      double sum = double(gb_enc[s]) * double(gb_enc[s]);
      for (int64_t i = 0; i < d; i++) {
        gw[i] -= coef * w[i];
        sum += double(gw[i]) * double(gw[i]) + double(gW_encT[s * d + i]) * double(gW_encT[s * d + i]);
      }
      partial[s] = sum;
    }
  });
  double squared = 0;
  for (double p : partial) squared += p;
  if (shards) squared = shards->sum(squared);  // every shard's latents; b_dec, the same on all, once
  squared += g.b_dec.pow(2).sum().item<double>();
  if (g.log_threshold.defined()) squared += g.log_threshold.pow(2).sum().item<double>();
  const double norm = std::sqrt(squared);
  const T scale = T(clip_factor(c, norm));

  // 2. One pass over every latent: clipped gradient (zero for inactive latents), Adam on the encoder
  //    row, its bias and the decoder row, then the decoder row back to unit length.
  const AdamStep adam(c, sae.step + 1);
  std::vector<int64_t> slot_of;
  if (sparse) {
    slot_of.assign(F, -1);
    for (int64_t s = 0; s < n; s++) slot_of[rows[s]] = s;
  }
  T* W_encT = sae.W_encT.data_ptr<T>();
  T *mWe = sae.m_W_encT.data_ptr<T>(), *vWe = sae.v_W_encT.data_ptr<T>();
  T *mWd = sae.m_W_dec.data_ptr<T>(), *vWd = sae.v_W_dec.data_ptr<T>();
  T *b_enc = sae.b_enc.data_ptr<T>(), *mbe = sae.m_b_enc.data_ptr<T>(), *vbe = sae.v_b_enc.data_ptr<T>();
  at::parallel_for(0, F, 16, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; f++) {
      int64_t s = sparse ? slot_of[f] : f;
      adam.apply_row(s >= 0 ? gW_encT + s * d : nullptr, scale, W_encT + f * d, mWe + f * d, vWe + f * d, d);
      T* wd = W_dec + f * d;
      adam.apply_row(s >= 0 ? gW_dec + s * d : nullptr, scale, wd, mWd + f * d, vWd + f * d, d);
      T length = 0;
      for (int64_t i = 0; i < d; i++) length += wd[i] * wd[i];
      length = std::sqrt(length);
      for (int64_t i = 0; i < d; i++) wd[i] /= length;
      adam.apply_row(s >= 0 ? gb_enc + s : nullptr, scale, b_enc + f, mbe + f, vbe + f, 1);
    }
  });
  // The small dense parameters.
  adam.apply(g.b_dec * double(scale), sae.b_dec, sae.m_b_dec, sae.v_b_dec);
  if (g.log_threshold.defined())
    adam.apply(g.log_threshold * double(scale), sae.log_threshold, sae.m_log_threshold, sae.v_log_threshold);
  return norm;
}

}  // namespace

double fused_update(btk_sae& sae, Gradients& gradients, const LatentShards* shards) {
  double norm = 0;
  AT_DISPATCH_FLOATING_TYPES(sae.W_dec.scalar_type(), "fused_update",
                             [&] { norm = fused_update_impl<scalar_t>(sae, gradients, shards); });
  return norm;
}

double naive_update(btk_sae& sae, Gradients& g) {
  const auto& c = sae.cfg;
  auto params = params_of(sae);
  auto dense = [&](const Param& p) -> torch::Tensor {
    const torch::Tensor& grad = g.*p.grad;
    if (!p.per_latent || !g.rows.defined()) return grad;
    return torch::zeros_like(sae.*p.value).index_copy_(0, g.rows, grad);
  };
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(dense(p));

  // Reference order: project the decoder gradient, clip, step, renormalise.
  auto W_dec_unit = sae.W_dec / sae.W_dec.norm(2, {1}, true);
  auto& grad_W_dec = grads[2];
  grad_W_dec = grad_W_dec - (grad_W_dec * W_dec_unit).sum(-1, true) * W_dec_unit;

  auto squared = torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(sae.options.device()));
  for (const auto& grad : grads) squared += grad.to(torch::kFloat64).pow(2).sum();
  double norm = std::sqrt(squared.item<double>());
  double scale = clip_factor(c, norm);

  const AdamStep adam(c, sae.step + 1);
  for (size_t i = 0; i < params.size(); i++) {
    auto grad = grads[i] * scale;
    adam.apply(grad, sae.*params[i].value, sae.*params[i].m, sae.*params[i].v);
  }
  sae.W_dec.div_(sae.W_dec.norm(2, {1}, true));
  return norm;
}

void finish_step(btk_sae& sae, const StepResult& result) {
  sae.tokens_since_fired = result.tokens_since_fired;
  if (selects_over_batch(sae.cfg) && !std::isnan(result.smallest_selected)) {
    double m = sae.cfg.theta_momentum;
    // Zero means no batch has selected anything yet: the first estimate starts the average.
    sae.theta = sae.theta == 0.0 ? result.smallest_selected : (1.0 - m) * sae.theta + m * result.smallest_selected;
  }
  sae.step++;
}

}  // namespace btk
