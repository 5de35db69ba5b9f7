// The training step on a CUDA device. BatchTopK and TopK on the fused path run the project's kernels
// (native/cuda) after one libtorch GEMM, and never wait for the device: metrics, counters and theta
// stay on it. The naive path (the GPU oracle, fp32 or bf16 autocast) and JumpReLU/ReLU run libtorch
// ops and read their metrics on the host, as on the CPU.
#include <ATen/autocast_mode.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/version.h>

#include <algorithm>
#include <limits>

#include "btk_cuda.h"
#include "cuda_state.h"
#include "cuda_support.h"
#include "errors.h"
#include "normalize.h"
#include "step.h"

namespace btk {

namespace {

void launched(cudaError_t status, const char* kernel) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  fail(status == cudaErrorMemoryAllocation ? BTK_ERR_OUT_OF_MEMORY : BTK_ERR_INTERNAL,
       std::string(kernel) + ": " + cudaGetErrorString(status));
}

template <typename T>
T* ptr(const torch::Tensor& t) {
  return t.data_ptr<T>();
}

// bf16 autocast on CUDA for the naive path's scope, restored afterwards (libtorch's API moved in 2.4).
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on) : on_(on) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    was_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    was_enabled_ = at::autocast::is_enabled();
    was_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  }
  ~Bf16Autocast() {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, was_dtype_);
#else
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(was_dtype_);
#endif
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

bool runs_kernels(const btk_config& c) {
  return c.path == BTK_PATH_FUSED && (c.architecture == BTK_ARCH_BATCHTOPK || c.architecture == BTK_ARCH_TOPK);
}

void require_supported(const btk_sae& sae) {
  const auto& c = sae.cfg;
  if (c.path == BTK_PATH_FUSED && c.architecture == BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
    fail(BTK_ERR_INVALID_ARGUMENT,
         "the fused CUDA step has no Matryoshka BatchTopK kernels yet; use the naive path on CUDA, or the CPU");
  }
  if (runs_kernels(c) && sae.options.dtype() != torch::kFloat32) {
    fail(BTK_ERR_DTYPE, "the fused CUDA step is float32 only; use dtype F32, or the naive path for F64");
  }
  if (runs_kernels(c) &&
      (c.d_sae > std::numeric_limits<int32_t>::max() || c.d_in > std::numeric_limits<int32_t>::max())) {
    fail(BTK_ERR_SHAPE, "the CUDA kernels index latents and columns with 32 bits");
  }
}

int64_t main_capacity(const btk_config& c, int64_t B) {
  return selects_over_batch(c) ? std::min<int64_t>(int64_t(c.k) * B, B * c.d_sae) : B * c.k;
}

int64_t aux_k(const btk_config& c) { return uses_aux_loss(c) ? std::min<int64_t>(c.k_aux, c.d_sae) : 0; }

// The kernels' buffers for batches of B rows: allocated when B changes, then reused step after step.
void prepare(const btk_sae& sae, CudaState& s, int64_t B) {
  if (s.rows == B) return;
  const auto& c = sae.cfg;
  const int64_t F = c.d_sae, d = c.d_in, cap = main_capacity(c, B), k_aux = aux_k(c), aux_cap = B * k_aux;
  if (B * F >= (int64_t(1) << 32) || cap + aux_cap >= (int64_t(1) << 31)) {
    fail(BTK_ERR_SHAPE, "a batch of " + std::to_string(B) + " rows is too large for the CUDA kernels at d_sae = " +
                            std::to_string(F) + " (rows * d_sae must stay below 2^32)");
  }
  s.rows = 0;
  const auto on_device = torch::TensorOptions().device(sae.options.device());
  const auto bytes = [&](size_t n) {
    return torch::empty({int64_t(std::max<size_t>(n, 1))}, on_device.dtype(torch::kUInt8));
  };
  const auto ints = on_device.dtype(torch::kInt32), floats = on_device.dtype(torch::kFloat32);
  s.pre = torch::empty({B, F}, floats);
  s.W_encT_bf16 = torch::Tensor();
  s.x_bf16 = torch::Tensor();
  s.select_ws = bytes(selects_over_batch(c) ? btk_cuda::batch_topk_workspace_bytes(int(B), int(F))
                                            : btk_cuda::row_topk_workspace_bytes(int(B), c.k));
  s.row_ptr = torch::empty({B + 1}, ints);
  s.col = torch::empty({cap}, ints);
  s.val = torch::empty({cap}, floats);
  if (k_aux > 0) {
    s.aux_ws = bytes(btk_cuda::row_topk_workspace_bytes(int(B), int(k_aux)));
    s.aux_row_ptr = torch::empty({B + 1}, ints);
    s.aux_col = torch::empty({aux_cap}, ints);
    s.aux_val = torch::empty({aux_cap}, floats);
    s.x_hat_aux = torch::empty({B, d}, floats);
  }
  s.x_hat = torch::empty({B, d}, floats);
  s.backward_ws = bytes(btk_cuda::backward_workspace_bytes(int(B), int(F), int(d), int(cap + aux_cap)));
  s.active = torch::empty({F}, ints);
  s.slot_of = torch::empty({F}, ints);
  s.n_active = torch::zeros({1}, ints);
  s.grad_W_dec = torch::empty({F, d}, floats);
  s.grad_W_encT = torch::empty({F, d}, floats);
  s.grad_b_enc = torch::empty({F}, floats);
  s.grad_b_dec = torch::empty({d}, floats);
  s.optimizer_ws = bytes(btk_cuda::optimizer_workspace_bytes(int(F)));
  s.grad_norm = torch::zeros({1}, on_device.dtype(torch::kFloat64));
  s.clip_scale = torch::zeros({1}, floats);
  s.rows = B;
}

// pre = b_enc + xc W_enc: bf16 inputs, fp32 accumulation and fp32 output by default; fp32 throughout
// with BTK_GPU_PRECISION_FP32.
void encoder_gemm(const btk_sae& sae, CudaState& s, const torch::Tensor& xc) {
  if (s.precision == BTK_GPU_PRECISION_FP32) {
    torch::addmm_out(s.pre, sae.b_enc, xc, sae.W_encT.t());
    return;
  }
  s.W_encT_bf16 = sae.W_encT.to(torch::kBFloat16);
  s.x_bf16 = xc.to(torch::kBFloat16);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
  at::mm_out(s.pre, s.x_bf16, s.W_encT_bf16.t(), torch::kFloat32);
#else
  // Older libtorch has no fp32-output bf16 GEMM: its bf16 result is widened (rounded pre-activations).
  s.pre.copy_(torch::mm(s.x_bf16, s.W_encT_bf16.t()));
#endif
  s.pre.add_(sae.b_enc);
}

// What the device forward/backward leaves, all on the device.
struct DeviceResult {
  torch::Tensor loss, mse, aux_loss, nmse, l0;  // float64, 0-dim
  torch::Tensor smallest;                       // float64: the smallest selected activation
  torch::Tensor any_selected;                   // bool
  torch::Tensor tokens_since_fired;
  int64_t capacity = 0;  // host-known bound on the pairs the backward saw
};

DeviceResult kernel_forward_backward(const btk_sae& sae, CudaState& s, const torch::Tensor& batch,
                                     bool want_gradients) {
  const auto& c = sae.cfg;
  const int64_t B = batch.size(0), d = c.d_in, F = c.d_sae;
  prepare(sae, s, B);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  auto xn = normalize_input(c, batch).x.contiguous();
  auto xc = (xn - sae.b_dec).contiguous();
  encoder_gemm(sae, s, xc);

  const int64_t cap = main_capacity(c, B);
  if (selects_over_batch(c)) {
    launched(
        btk_cuda::batch_topk(ptr<float>(s.pre), int(B), int(F), int64_t(c.k) * B, ptr<int>(s.row_ptr), ptr<int>(s.col),
                             ptr<float>(s.val), s.select_ws.data_ptr(), s.select_ws.numel(), stream),
        "batch_topk");
  } else {
    launched(btk_cuda::row_topk(ptr<float>(s.pre), int(B), int(F), c.k, nullptr, ptr<int>(s.row_ptr), ptr<int>(s.col),
                                ptr<float>(s.val), s.select_ws.data_ptr(), s.select_ws.numel(), stream),
             "row_topk");
  }
  const btk_cuda::Codes codes{ptr<int>(s.row_ptr), ptr<int>(s.col), ptr<float>(s.val)};
  launched(btk_cuda::decode(codes, int(B), ptr<float>(sae.W_dec), int(d), ptr<float>(sae.b_dec), ptr<float>(s.x_hat),
                            stream),
           "decode");
  auto error = s.x_hat - xn;

  DeviceResult r;
  r.capacity = cap;
  const auto f64 = torch::kFloat64;
  auto squared_error = error.pow(2).sum(f64);
  r.mse = squared_error / double(B * d);
  r.nmse = squared_error / total_variance(xn).to(f64);
  auto nnz = s.row_ptr[B].to(torch::kInt64);
  r.l0 = nnz.to(f64) / double(B);
  auto valid = torch::arange(cap, nnz.options()) < nnz;
  r.any_selected = nnz > 0;
  r.smallest = torch::where(valid, s.val, std::numeric_limits<float>::infinity()).min().to(f64);
  // Latents selected by this batch: the invalid tail of the codes points at a spare F-th entry.
  auto fired = torch::zeros({F + 1}, nnz.options().dtype(torch::kBool))
                   .index_fill_(0, torch::where(valid, s.col.to(torch::kInt64), F), true)
                   .narrow(0, 0, F);
  r.tokens_since_fired = torch::where(fired, torch::zeros_like(sae.tokens_since_fired), sae.tokens_since_fired + B);

  // AuxK: the dead latents' top activations of each row reconstruct what the live ones missed; no
  // dead latent, no loss (as on the CPU).
  r.aux_loss = torch::zeros({}, squared_error.options());
  torch::Tensor aux_grad_out;
  const int64_t k_aux = aux_k(c);
  if (k_aux > 0) {
    auto dead = r.tokens_since_fired >= c.dead_after_tokens;
    auto mask = dead.to(torch::kUInt8).contiguous();
    launched(btk_cuda::row_topk(ptr<float>(s.pre), int(B), int(F), int(k_aux), mask.data_ptr<uint8_t>(),
                                ptr<int>(s.aux_row_ptr), ptr<int>(s.aux_col), ptr<float>(s.aux_val),
                                s.aux_ws.data_ptr(), s.aux_ws.numel(), stream),
             "row_topk (AuxK)");
    const btk_cuda::Codes aux_codes{ptr<int>(s.aux_row_ptr), ptr<int>(s.aux_col), ptr<float>(s.aux_val)};
    launched(
        btk_cuda::decode(aux_codes, int(B), ptr<float>(sae.W_dec), int(d), nullptr, ptr<float>(s.x_hat_aux), stream),
        "decode (AuxK)");
    auto aux_error = s.x_hat_aux + error;
    r.aux_loss = (c.aux_coeff / double(B * d)) * aux_error.pow(2).sum(f64) * dead.any().to(f64);
    aux_grad_out = (aux_error * (2.0 * c.aux_coeff / double(B * d))).contiguous();
  }
  r.loss = r.mse + r.aux_loss;

  if (want_gradients) {
    auto grad_out = (error * (2.0 / double(B * d))).contiguous();
    const btk_cuda::CodeGrad main{codes, int(cap), ptr<float>(grad_out)};
    btk_cuda::CodeGrad aux{};
    if (k_aux > 0) {
      aux = {{ptr<int>(s.aux_row_ptr), ptr<int>(s.aux_col), ptr<float>(s.aux_val)},
             int(B * k_aux),
             ptr<float>(aux_grad_out)};
      r.capacity += B * k_aux;
    }
    const btk_cuda::SparseGrads grads{ptr<int>(s.active),       ptr<int>(s.slot_of),       ptr<int>(s.n_active),
                                      ptr<float>(s.grad_W_dec), ptr<float>(s.grad_W_encT), ptr<float>(s.grad_b_enc),
                                      ptr<float>(s.grad_b_dec)};
    launched(btk_cuda::backward(&main, k_aux > 0 ? &aux : nullptr, int(B), int(F), int(d), ptr<float>(xc),
                                ptr<float>(sae.W_dec), ptr<float>(sae.W_encT), grads, s.backward_ws.data_ptr(),
                                s.backward_ws.numel(), stream),
             "backward");
  }
  return r;
}

// The fused projection, clipping, Adam and renormalisation; the gradient norm stays on the device.
void kernel_update(btk_sae& sae, CudaState& s, int64_t capacity) {
  const auto& c = sae.cfg;
  const int64_t F = c.d_sae, d = c.d_in;
  const btk_cuda::Params params{ptr<float>(sae.W_encT), ptr<float>(sae.m_W_encT), ptr<float>(sae.v_W_encT),
                                ptr<float>(sae.W_dec),  ptr<float>(sae.m_W_dec),  ptr<float>(sae.v_W_dec),
                                ptr<float>(sae.b_enc),  ptr<float>(sae.m_b_enc),  ptr<float>(sae.v_b_enc),
                                ptr<float>(sae.b_dec),  ptr<float>(sae.m_b_dec),  ptr<float>(sae.v_b_dec)};
  const btk_cuda::SparseGrads grads{ptr<int>(s.active),       ptr<int>(s.slot_of),       ptr<int>(s.n_active),
                                    ptr<float>(s.grad_W_dec), ptr<float>(s.grad_W_encT), ptr<float>(s.grad_b_enc),
                                    ptr<float>(s.grad_b_dec)};
  const btk_cuda::AdamConfig adam{c.lr, c.beta1, c.beta2, c.eps, c.max_grad_norm, sae.step + 1};
  launched(btk_cuda::optimizer_step(params, grads, int(F), int(d), int(std::min<int64_t>(F, capacity)), adam,
                                    ptr<double>(s.grad_norm), ptr<float>(s.clip_scale), s.optimizer_ws.data_ptr(),
                                    s.optimizer_ws.numel(), c10::cuda::getCurrentCUDAStream().stream()),
           "optimizer_step");
}

// The device step's metrics, copied to the pinned host buffer behind the step.
void publish(btk_sae& sae, CudaState& s, const DeviceResult& r) {
  auto f64 = r.loss.options();
  auto dead = (sae.tokens_since_fired >= sae.cfg.dead_after_tokens).sum().to(torch::kFloat64);
  auto values = torch::stack({torch::full({}, double(sae.step), f64), r.loss, r.mse, r.aux_loss, torch::zeros({}, f64),
                              r.nmse, r.l0, dead, s.theta, s.grad_norm[0]});
  // No host wait: the copy is ordered after the previous step's on the same stream, and the host reads
  // the buffer only after waiting for the latest copy (read_metrics).
  s.metrics.copy_(values);
  s.metrics_host.copy_(s.metrics, /*non_blocking=*/true);
  s.metrics_ready.record(c10::cuda::getCurrentCUDAStream());
  s.has_metrics = true;
}

// Host metrics of a libtorch step (naive path, JumpReLU, ReLU) into the same buffer, once an earlier
// fused step's copy into it has landed.
void publish_host(btk_sae& sae, CudaState& s, const StepResult& r, double grad_norm) {
  s.metrics_ready.synchronize();
  double* m = s.metrics_host.data_ptr<double>();
  m[kStep] = double(sae.step);
  m[kLoss] = r.loss;
  m[kMse] = r.mse;
  m[kAux] = r.aux_loss;
  m[kSparsity] = r.sparsity_loss;
  m[kNmse] = r.nmse;
  m[kL0] = r.l0;
  m[kDead] = double((r.tokens_since_fired >= sae.cfg.dead_after_tokens).sum().item<int64_t>());
  m[kTheta] = sae.theta;
  m[kGradNorm] = grad_norm;
  s.has_metrics = true;
}

StepResult torch_forward_backward(const btk_sae& sae, const torch::Tensor& x, bool want_gradients) {
  if (sae.cfg.path == BTK_PATH_FUSED) return fused_forward_backward(sae, x, want_gradients);
  Bf16Autocast autocast(sae.cuda->precision == BTK_GPU_PRECISION_BF16);
  return naive_forward_backward(sae, x, want_gradients);
}

void finish_on_device(btk_sae& sae, CudaState& s, const DeviceResult& r) {
  sae.tokens_since_fired = r.tokens_since_fired;
  if (selects_over_batch(sae.cfg)) {
    const double m = sae.cfg.theta_momentum;
    // Zero means no batch has selected anything yet: the first estimate starts the average.
    auto updated = torch::where(s.theta == 0, r.smallest, (1.0 - m) * s.theta + m * r.smallest);
    s.theta.copy_(torch::where(r.any_selected, updated, s.theta));
  }
  sae.step++;
}

}  // namespace

void cuda_train_step(btk_sae& sae, const torch::Tensor& x) {
  require_supported(sae);
  CudaState& s = *sae.cuda;
  if (runs_kernels(sae.cfg)) {
    DeviceResult r = kernel_forward_backward(sae, s, x, true);
    kernel_update(sae, s, r.capacity);
    finish_on_device(sae, s, r);
    publish(sae, s, r);
    return;
  }
  // The libtorch paths keep theta on the host while they run, as on the CPU.
  sae.theta = cuda_theta(sae);
  StepResult r = torch_forward_backward(sae, x, true);
  double norm = naive_update(sae, r.gradients);
  finish_step(sae, r);
  cuda_set_theta(sae, sae.theta);
  publish_host(sae, s, r, norm);
}

void cuda_loss_and_gradients(btk_sae& sae, const torch::Tensor& x, bool want_gradients, btk_metrics* out) {
  require_supported(sae);
  CudaState& s = *sae.cuda;
  Gradients g;
  if (runs_kernels(sae.cfg)) {
    DeviceResult r = kernel_forward_backward(sae, s, x, want_gradients);
    out->loss = r.loss.item<double>();
    out->mse = r.mse.item<double>();
    out->aux_loss = r.aux_loss.item<double>();
    out->sparsity_loss = 0;
    out->nmse = r.nmse.item<double>();
    out->l0 = r.l0.item<double>();
    out->dead = (r.tokens_since_fired >= sae.cfg.dead_after_tokens).sum().item<int64_t>();
    if (want_gradients) {
      const int64_t n = s.n_active.item<int32_t>();
      g.rows = s.active.narrow(0, 0, n).to(torch::kInt64);
      g.W_dec = s.grad_W_dec.narrow(0, 0, n).clone();
      g.W_encT = s.grad_W_encT.narrow(0, 0, n).clone();
      g.b_enc = s.grad_b_enc.narrow(0, 0, n).clone();
      g.b_dec = s.grad_b_dec.clone();
    }
  } else {
    sae.theta = cuda_theta(sae);
    StepResult r = torch_forward_backward(sae, x, want_gradients);
    out->loss = r.loss;
    out->mse = r.mse;
    out->aux_loss = r.aux_loss;
    out->sparsity_loss = r.sparsity_loss;
    out->nmse = r.nmse;
    out->l0 = r.l0;
    out->dead = (r.tokens_since_fired >= sae.cfg.dead_after_tokens).sum().item<int64_t>();
    if (want_gradients) {
      for (auto field : {&Gradients::rows, &Gradients::W_encT, &Gradients::W_dec, &Gradients::b_enc, &Gradients::b_dec,
                         &Gradients::log_threshold}) {
        const auto& t = r.gradients.*field;
        g.*field = t.defined() ? t.clone() : t;
      }
    }
  }
  out->step = sae.step;
  out->theta = cuda_theta(sae);
  out->grad_norm = std::numeric_limits<double>::quiet_NaN();
  if (want_gradients) {
    sae.last_gradients = g;
    sae.has_gradients = true;
  }
}

}  // namespace btk
