#include "sae.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "errors.h"
#ifdef BTK_HAVE_CUDA
#include "cuda_support.h"
#endif

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
    params.push_back({"log_threshold", &btk_sae::log_threshold, &btk_sae::m_log_threshold, &btk_sae::v_log_threshold,
                      &Gradients::log_threshold, false, false});
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

// The shortest text that reads back as the same double ("0.001", "1e+30", "nan", "-inf"), so that a
// message shows the value the caller gave, not a rounded one.
std::string text(double v) {
  char buffer[32];
  for (int precision = 1; precision <= 17; precision++) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
    if (std::isnan(v) || std::strtod(buffer, nullptr) == v) break;
  }
  return buffer;
}
std::string text(int64_t v) { return std::to_string(v); }
std::string text(int32_t v) { return std::to_string(v); }

void validate_matryoshka_widths(const btk_config& c) {
  if (c.architecture != BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
    require(c.matryoshka_count == 0,
            "matryoshka widths apply to the Matryoshka BatchTopK architecture only; this "
            "config (architecture code " +
                text(c.architecture) + ") has " + text(c.matryoshka_count));
    return;
  }
  require(c.matryoshka_count >= 1 && c.matryoshka_count <= BTK_MAX_MATRYOSHKA_WIDTHS,
          "Matryoshka BatchTopK needs 1 to " + text(BTK_MAX_MATRYOSHKA_WIDTHS) + " matryoshka widths, got " +
              text(c.matryoshka_count));
  int64_t previous = 0;
  for (int32_t i = 0; i < c.matryoshka_count; i++) {
    const int64_t w = c.matryoshka_widths[i];
    require(w > previous, "matryoshka widths must be positive and strictly increasing, but width " + text(i + 1) +
                              " is " + text(w) + (i == 0 ? std::string() : " after " + text(previous)));
    previous = w;
  }
  require(previous == c.d_sae,
          "the last matryoshka width must equal d_sae = " + text(c.d_sae) + ", got " + text(previous));
}
}  // namespace

// The one set of rules for a btk_config: Java calls it through btk_config_validate before it builds
// anything, so the two cannot disagree. Each message names the field and the value.
void validate_config(const btk_config& c) {
  require(c.d_in > 0, "d_in must be positive, got " + text(c.d_in));
  require(c.d_sae > 0, "d_sae must be positive, got " + text(c.d_sae));
  require(c.d_in <= std::numeric_limits<int64_t>::max() / c.d_sae,
          "d_in * d_sae overflows: d_in = " + text(c.d_in) + ", d_sae = " + text(c.d_sae));
  require(c.architecture >= BTK_ARCH_BATCHTOPK && c.architecture <= BTK_ARCH_MATRYOSHKA_BATCHTOPK,
          "unknown architecture code " + text(c.architecture));
  validate_matryoshka_widths(c);
  if (selects_over_batch(c) || c.architecture == BTK_ARCH_TOPK) {
    require(c.k > 0, "k must be positive, got " + text(c.k));
    require(c.k <= c.d_sae, "k = " + text(c.k) + " exceeds d_sae = " + text(c.d_sae));
  } else {
    // The other architectures do not use k, but keep it (in files too): nothing meaningless.
    require(c.k >= 0, "k must not be negative, got " + text(c.k));
  }
  require(c.k_aux >= 0, "k_aux must not be negative (0 disables AuxK), got " + text(c.k_aux));
  require(c.normalize == BTK_NORMALIZE_NONE || c.normalize == BTK_NORMALIZE_PER_TOKEN,
          "unknown normalisation code " + text(c.normalize));
  // Each row is divided by its (unbiased) standard deviation, which one value does not have: every row
  // would become NaN, and the run would fail later with a message about something else.
  require(c.normalize != BTK_NORMALIZE_PER_TOKEN || c.d_in >= 2,
          "normalization per-token needs d_in >= 2, got d_in = " + text(c.d_in) +
              ": a row of one value has no standard deviation to divide by; use normalization none");
  require(c.dead_after_tokens > 0, "dead_after_tokens must be positive, got " + text(c.dead_after_tokens));
  require(std::isfinite(c.aux_coeff) && c.aux_coeff >= 0,
          "aux_coeff must be finite and >= 0, got " + text(c.aux_coeff));
  require(finite_positive(c.lr), "lr must be finite and positive, got " + text(c.lr));
  require(c.beta1 >= 0 && c.beta1 < 1, "beta1 must be in [0, 1), got " + text(c.beta1));
  require(c.beta2 >= 0 && c.beta2 < 1, "beta2 must be in [0, 1), got " + text(c.beta2));
  require(finite_positive(c.eps), "eps must be finite and positive, got " + text(c.eps));
  // Finite so that every config can be written as JSON; a value <= 0 is how clipping is turned off.
  require(std::isfinite(c.max_grad_norm),
          "max_grad_norm must be finite (<= 0 disables clipping), got " + text(c.max_grad_norm));
  require(std::isfinite(c.l1_coeff) && c.l1_coeff >= 0, "l1_coeff must be finite and >= 0, got " + text(c.l1_coeff));
  require(std::isfinite(c.l0_coeff) && c.l0_coeff >= 0, "l0_coeff must be finite and >= 0, got " + text(c.l0_coeff));
  require(finite_positive(c.jumprelu_bandwidth),
          "jumprelu_bandwidth must be finite and positive, got " + text(c.jumprelu_bandwidth));
  require(finite_positive(c.jumprelu_init_threshold),
          "jumprelu_init_threshold must be finite and positive, got " + text(c.jumprelu_init_threshold));
  require(c.theta_momentum > 0 && c.theta_momentum <= 1,
          "theta_momentum must be in (0, 1], got " + text(c.theta_momentum));
  require(c.dtype == BTK_DTYPE_F32 || c.dtype == BTK_DTYPE_F64,
          "parameter dtype must be F32 or F64, got code " + text(c.dtype));
  require(c.device == BTK_DEVICE_CPU || c.device == BTK_DEVICE_CUDA, "unknown device code " + text(c.device));
  require(c.path == BTK_PATH_FUSED || c.path == BTK_PATH_NAIVE, "unknown path code " + text(c.path));
}

void require_device_available(const btk_config& c) {
  if (c.device != BTK_DEVICE_CUDA) return;
#ifdef BTK_HAVE_CUDA
  if (!cuda_device_present()) fail(BTK_ERR_DEVICE, "device cuda was asked for, but there is no CUDA device");
#else
  fail(BTK_ERR_DEVICE,
       "device cuda was asked for, but this build of batchtopk has CPU code paths only: it has no CUDA");
#endif
}

double theta_of(const btk_sae& sae) {
#ifdef BTK_HAVE_CUDA
  if (sae.cuda) return cuda_theta(sae);
#endif
  return sae.theta;
}

void set_theta(btk_sae& sae, double theta) {
  sae.theta = theta;
#ifdef BTK_HAVE_CUDA
  if (sae.cuda) cuda_set_theta(sae, theta);
#endif
}

void init_parameters(btk_sae& sae) {
  const auto& c = sae.cfg;
  auto gen = at::detail::createCPUGenerator(c.seed);
  // Drawn on the CPU whatever the device, so that a seed gives the same SAE everywhere.
  const auto device = sae.options.device();
  sae.options = sae.options.device(torch::kCPU);
  // The reference's initialisation: W_enc [d_in, d_sae] Kaiming-uniform as kaiming_uniform_ does it
  // for that shape (fan-in = d_sae, gain sqrt(2): bound sqrt(6 / d_sae)), drawn in W_enc's own
  // row-major order and with the bound rounded as kaiming_uniform_ computes it, so that a seed gives
  // the very values torch::manual_seed(seed) + kaiming_uniform_ give; W_dec = W_enc^T with unit rows.
  // The small encoder scale matters: unit-norm encoder columns train measurably worse.
  const double gain = std::sqrt(2.0);  // calculate_gain("leaky_relu", a = 0)
  const int64_t whole = sae.shard ? sae.shard->d_sae : c.d_sae;
  const double bound = std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(whole)));
  auto W_enc = torch::empty({c.d_in, c.d_sae}, sae.options);
  if (!sae.shard) {
    W_enc.uniform_(-bound, bound, gen);
  } else {
    // The whole matrix's numbers, drawn row by row in the same order (the generator is serial), of
    // which a shard keeps its own columns: one process's values, without ever holding its matrix.
    auto row = torch::empty({whole}, sae.options);
    for (int64_t i = 0; i < c.d_in; i++) {
      row.uniform_(-bound, bound, gen);
      W_enc[i].copy_(row.narrow(0, sae.shard->first, c.d_sae));
    }
  }
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
  if (device.is_cpu()) return;
  sae.options = sae.options.device(device);
  for (auto member : {&btk_sae::W_encT, &btk_sae::b_enc, &btk_sae::W_dec, &btk_sae::b_dec, &btk_sae::log_threshold,
                      &btk_sae::m_W_encT, &btk_sae::v_W_encT, &btk_sae::m_b_enc, &btk_sae::v_b_enc, &btk_sae::m_W_dec,
                      &btk_sae::v_W_dec, &btk_sae::m_b_dec, &btk_sae::v_b_dec, &btk_sae::m_log_threshold,
                      &btk_sae::v_log_threshold, &btk_sae::tokens_since_fired}) {
    if ((sae.*member).defined()) sae.*member = (sae.*member).to(device);
  }
}

}  // namespace btk
