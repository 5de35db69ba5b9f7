#include "sae.h"

#include <cmath>

#include "errors.h"

namespace btk {

std::vector<Param> params_of(const btk_sae& sae) {
  std::vector<Param> params = {
      {"W_enc", &btk_sae::W_encT, &btk_sae::m_W_encT, &btk_sae::v_W_encT, &Gradients::W_encT, true, true},
      {"b_enc", &btk_sae::b_enc, &btk_sae::m_b_enc, &btk_sae::v_b_enc, &Gradients::b_enc, false, true},
      {"W_dec", &btk_sae::W_dec, &btk_sae::m_W_dec, &btk_sae::v_W_dec, &Gradients::W_dec, false, true},
      {"b_dec", &btk_sae::b_dec, &btk_sae::m_b_dec, &btk_sae::v_b_dec, &Gradients::b_dec, false, false},
  };
  if (has_thresholds(sae.cfg)) {
    // Thresholds get dense gradients (every latent near its threshold contributes), so not per_latent.
    params.push_back({"log_threshold", &btk_sae::log_threshold, &btk_sae::m_log_threshold,
                      &btk_sae::v_log_threshold, &Gradients::log_threshold, false, false});
  }
  return params;
}

bool uses_aux_loss(const btk_config& cfg) {
  return (selects_over_batch(cfg) || cfg.architecture == BTK_ARCH_TOPK) && cfg.k_aux > 0;
}

bool selects_over_batch(const btk_config& cfg) {
  return cfg.architecture == BTK_ARCH_BATCHTOPK || cfg.architecture == BTK_ARCH_MATRYOSHKA_BATCHTOPK;
}

std::vector<int64_t> prefix_bounds(const btk_config& cfg) {
  if (cfg.architecture != BTK_ARCH_MATRYOSHKA_BATCHTOPK) return {0, cfg.d_sae};
  std::vector<int64_t> bounds = {0};
  bounds.insert(bounds.end(), cfg.matryoshka_widths, cfg.matryoshka_widths + cfg.matryoshka_count);
  return bounds;
}

bool has_thresholds(const btk_config& cfg) { return cfg.architecture == BTK_ARCH_JUMPRELU; }

torch::ScalarType scalar_type_of(int32_t btk_dtype) {
  switch (btk_dtype) {
    case BTK_DTYPE_F32: return torch::kFloat32;
    case BTK_DTYPE_F64: return torch::kFloat64;
    case BTK_DTYPE_F16: return torch::kFloat16;
    case BTK_DTYPE_BF16: return torch::kBFloat16;
    case BTK_DTYPE_I64: return torch::kInt64;
    default: fail(BTK_ERR_DTYPE, "unknown dtype code " + std::to_string(btk_dtype));
  }
}

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) fail(BTK_ERR_INVALID_ARGUMENT, message);
}
bool finite_positive(double v) { return std::isfinite(v) && v > 0; }

void validate_matryoshka_widths(const btk_config& c) {
  if (c.architecture != BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
    require(c.matryoshka_count == 0, "matryoshka widths apply to the Matryoshka BatchTopK architecture only; this "
                                     "config (architecture code " + std::to_string(c.architecture) + ") has " +
                                     std::to_string(c.matryoshka_count));
    return;
  }
  require(c.matryoshka_count >= 1 && c.matryoshka_count <= BTK_MAX_MATRYOSHKA_WIDTHS,
          "Matryoshka BatchTopK needs 1 to " + std::to_string(BTK_MAX_MATRYOSHKA_WIDTHS) +
              " matryoshka widths, got " + std::to_string(c.matryoshka_count));
  int64_t previous = 0;
  for (int32_t i = 0; i < c.matryoshka_count; i++) {
    const int64_t w = c.matryoshka_widths[i];
    require(w > previous, "matryoshka widths must be positive and strictly increasing, but width " +
                              std::to_string(i + 1) + " is " + std::to_string(w) +
                              (i == 0 ? std::string() : " after " + std::to_string(previous)));
    previous = w;
  }
  require(previous == c.d_sae, "the last matryoshka width must equal d_sae = " + std::to_string(c.d_sae) + ", got " +
                                   std::to_string(previous));
}
}  // namespace

void validate_config(const btk_config& c) {
  require(c.d_in > 0, "d_in must be positive, got " + std::to_string(c.d_in));
  require(c.d_sae > 0, "d_sae must be positive, got " + std::to_string(c.d_sae));
  require(c.architecture >= BTK_ARCH_BATCHTOPK && c.architecture <= BTK_ARCH_MATRYOSHKA_BATCHTOPK,
          "unknown architecture code " + std::to_string(c.architecture));
  validate_matryoshka_widths(c);
  if (selects_over_batch(c) || c.architecture == BTK_ARCH_TOPK) {
    require(c.k > 0, "k must be positive, got " + std::to_string(c.k));
    require(c.k <= c.d_sae, "k = " + std::to_string(c.k) + " exceeds d_sae = " + std::to_string(c.d_sae));
  }
  require(c.k_aux >= 0, "k_aux must not be negative, got " + std::to_string(c.k_aux));
  require(c.normalize == BTK_NORMALIZE_NONE || c.normalize == BTK_NORMALIZE_PER_TOKEN,
          "unknown normalisation code " + std::to_string(c.normalize));
  require(c.dead_after_tokens > 0, "dead_after_tokens must be positive");
  require(std::isfinite(c.aux_coeff) && c.aux_coeff >= 0, "aux_coeff must be finite and >= 0");
  require(finite_positive(c.lr), "lr must be finite and positive");
  require(c.beta1 >= 0 && c.beta1 < 1, "beta1 must be in [0, 1)");
  require(c.beta2 >= 0 && c.beta2 < 1, "beta2 must be in [0, 1)");
  require(finite_positive(c.eps), "eps must be finite and positive");
  require(!std::isnan(c.max_grad_norm), "max_grad_norm must not be NaN");
  require(std::isfinite(c.l1_coeff) && c.l1_coeff >= 0, "l1_coeff must be finite and >= 0");
  require(std::isfinite(c.l0_coeff) && c.l0_coeff >= 0, "l0_coeff must be finite and >= 0");
  require(finite_positive(c.jumprelu_bandwidth), "jumprelu_bandwidth must be finite and positive");
  require(finite_positive(c.jumprelu_init_threshold), "jumprelu_init_threshold must be finite and positive");
  require(c.theta_momentum > 0 && c.theta_momentum <= 1, "theta_momentum must be in (0, 1]");
  require(c.dtype == BTK_DTYPE_F32 || c.dtype == BTK_DTYPE_F64, "parameter dtype must be F32 or F64");
  require(c.path == BTK_PATH_FUSED || c.path == BTK_PATH_NAIVE, "unknown path code " + std::to_string(c.path));
  if (c.device == BTK_DEVICE_CUDA) {
    fail(BTK_ERR_DEVICE, "device cuda was asked for, but this build of batchtopk has CPU code paths only");
  }
  require(c.device == BTK_DEVICE_CPU, "unknown device code " + std::to_string(c.device));
}

void init_parameters(btk_sae& sae) {
  const auto& c = sae.cfg;
  auto gen = at::detail::createCPUGenerator(c.seed);
  // The reference's initialisation: W_enc [d_in, d_sae] Kaiming-uniform as kaiming_uniform_ does it
  // for that shape (fan-in = d_sae, gain sqrt(2): bound sqrt(6 / d_sae)), drawn in W_enc's own
  // row-major order and with the bound rounded as kaiming_uniform_ computes it, so that a seed gives
  // the very values torch::manual_seed(seed) + kaiming_uniform_ give; W_dec = W_enc^T with unit rows.
  // The small encoder scale matters: unit-norm encoder columns train measurably worse.
  const double gain = std::sqrt(2.0);  // calculate_gain("leaky_relu", a = 0)
  const double bound = std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(c.d_sae)));
  auto W_enc = torch::empty({c.d_in, c.d_sae}, sae.options);
  W_enc.uniform_(-bound, bound, gen);
  sae.W_encT = W_enc.t().contiguous();
  sae.W_dec = sae.W_encT / sae.W_encT.norm(2, {1}, true);
  sae.b_enc = torch::zeros({c.d_sae}, sae.options);
  sae.b_dec = torch::zeros({c.d_in}, sae.options);
  if (has_thresholds(c)) {
    sae.log_threshold = torch::full({c.d_sae}, std::log(c.jumprelu_init_threshold), sae.options);
  }
  for (const auto& p : params_of(sae)) {
    sae.*p.m = torch::zeros_like(sae.*p.value);
    sae.*p.v = torch::zeros_like(sae.*p.value);
  }
  sae.tokens_since_fired = torch::zeros({c.d_sae}, torch::kInt64);
  sae.theta = 0.0;
  sae.step = 0;
}

}  // namespace btk
