#include "state.h"

#include <cstring>

#include "errors.h"

namespace btk {

namespace {

const std::string kMomentPrefix[2] = {"adam.m.", "adam.v."};
const std::string kGradPrefix = "grad.";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

const Param* find_param(const std::vector<Param>& params, const std::string& name) {
  for (const auto& p : params) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

torch::Tensor to_public(const Param& p, const torch::Tensor& internal) {
  return p.transposed ? internal.t() : internal;
}

// Dense gradient of one parameter in its internal layout.
torch::Tensor dense_gradient(const btk_sae& sae, const Param& p) {
  if (!sae.has_gradients) {
    fail(BTK_ERR_INVALID_ARGUMENT, "no gradients yet: call btk_sae_loss_and_gradients with want_gradients first");
  }
  const torch::Tensor& g = sae.last_gradients.*p.grad;
  const auto& rows = sae.last_gradients.rows;
  if (!p.per_latent || !rows.defined()) return g;
  auto dense = torch::zeros_like(sae.*p.value);
  if (rows.numel() > 0) dense.index_copy_(0, rows, g);
  return dense;
}

[[noreturn]] void unknown(const std::string& name) {
  fail(BTK_ERR_INVALID_ARGUMENT, "no state tensor named '" + name + "' (see btk_sae_state_name for the list)");
}

}  // namespace

int32_t btk_dtype_of(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return BTK_DTYPE_F32;
    case torch::kFloat64: return BTK_DTYPE_F64;
    case torch::kFloat16: return BTK_DTYPE_F16;
    case torch::kBFloat16: return BTK_DTYPE_BF16;
    case torch::kInt64: return BTK_DTYPE_I64;
    default: fail(BTK_ERR_DTYPE, std::string("no btk dtype for ") + c10::toString(type));
  }
}

std::vector<std::string> state_names_of(const btk_sae& sae) {
  std::vector<std::string> names;
  auto params = params_of(sae);
  for (const auto& p : params) names.emplace_back(p.name);
  for (const auto& prefix : kMomentPrefix) {
    for (const auto& p : params) names.push_back(prefix + p.name);
  }
  names.emplace_back("step");
  names.emplace_back("theta");
  names.emplace_back("tokens_since_fired");
  for (const auto& p : params) names.push_back(kGradPrefix + p.name);
  return names;
}

torch::Tensor read_state(const btk_sae& sae, const std::string& name) {
  auto params = params_of(sae);
  if (const Param* p = find_param(params, name)) return to_public(*p, sae.*p->value);
  for (int i = 0; i < 2; i++) {
    if (starts_with(name, kMomentPrefix[i])) {
      const Param* p = find_param(params, name.substr(kMomentPrefix[i].size()));
      if (!p) unknown(name);
      return to_public(*p, sae.*(i == 0 ? p->m : p->v));
    }
  }
  if (starts_with(name, kGradPrefix)) {
    const Param* p = find_param(params, name.substr(kGradPrefix.size()));
    if (!p) unknown(name);
    return to_public(*p, dense_gradient(sae, *p));
  }
  if (name == "step") return torch::tensor(sae.step, torch::kInt64);
  if (name == "theta") return torch::tensor(theta_of(sae), torch::kFloat64);
  if (name == "tokens_since_fired") return sae.tokens_since_fired;
  unknown(name);
}

void write_state(btk_sae& sae, const std::string& name, const void* src, int64_t src_bytes) {
  if (src == nullptr) fail(BTK_ERR_INVALID_ARGUMENT, "source buffer is NULL");
  if (starts_with(name, kGradPrefix)) fail(BTK_ERR_INVALID_ARGUMENT, "gradients are read-only: " + name);
  torch::Tensor current = read_state(sae, name);
  int64_t expected = current.numel() * static_cast<int64_t>(current.element_size());
  if (src_bytes != expected) {
    fail(BTK_ERR_SHAPE, "'" + name + "' needs " + std::to_string(expected) + " bytes (" +
                            std::to_string(current.numel()) + " elements of " + c10::toString(current.scalar_type()) +
                            "), got " + std::to_string(src_bytes));
  }
  // Copy first: the caller's buffer may be unaligned (safetensors data has no alignment guarantee).
  torch::Tensor incoming = torch::empty(current.sizes(), current.options().device(torch::kCPU));
  std::memcpy(incoming.data_ptr(), src, static_cast<size_t>(src_bytes));
  if (incoming.is_floating_point() && !torch::isfinite(incoming).all().item<bool>()) {
    fail(BTK_ERR_NON_FINITE, "'" + name + "' contains NaN or infinity");
  }
  if (name == "step") {
    int64_t step = incoming.item<int64_t>();
    if (step < 0) fail(BTK_ERR_INVALID_ARGUMENT, "step must not be negative");
    sae.step = step;
  } else if (name == "theta") {
    double theta = incoming.item<double>();
    if (theta < 0) fail(BTK_ERR_INVALID_ARGUMENT, "theta must not be negative");
    set_theta(sae, theta);
  } else if (name == "tokens_since_fired") {
    if (incoming.lt(0).any().item<bool>()) fail(BTK_ERR_INVALID_ARGUMENT, "tokens_since_fired must not be negative");
    sae.tokens_since_fired.copy_(incoming);
  } else {
    // A parameter or a moment: `current` is a view of the internal tensor in the public layout.
    current.copy_(incoming);
  }
}

}  // namespace btk
