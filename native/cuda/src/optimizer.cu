// The fused optimizer update: decoder-gradient projection, global-norm clipping, Adam exactly as
// torch.optim.Adam computes it, and decoder-row renormalisation, in three kernels:
//   1. project_norm: one block per active latent removes from its decoder-row gradient the component
//      along W_dec[f] (in place, as the CPU does) and sums its squared gradients in double;
//   2. clip: one block adds those partial sums in slot order (+ db_dec) into the norm and the clip
//      factor, both left on the device (no host round trip inside a step);
//   3. update: one block per latent row (every latent: an inactive one has a zero gradient and its
//      moments still decay) applies Adam to W_encT[f], W_dec[f] and b_enc[f], then renormalises
//      W_dec[f]; one extra block updates b_dec.
// Every sum is a fixed-order tree (see common.cuh), so the update is bitwise reproducible.
#include <cmath>

#include "btk_cuda.h"
#include "common.cuh"

namespace btk_cuda {

using namespace detail;

namespace {

constexpr int kOptBlock = 128;

// The constants of step t, computed in double on the host and rounded once, like the CPU's AdamStep.
struct AdamConsts {
  float keep1, beta2, keep2, bc2_sqrt, eps, step_size;
};

// torch.optim.Adam, one element: m.lerp_(g, 1 - beta1); v = v * beta2 + (1 - beta2) g^2;
// p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps). Written exactly as the CPU's apply_row.
__device__ __forceinline__ void adam(float g, float& p, float& m, float& v, const AdamConsts& a) {
  m += a.keep1 * (g - m);
  v = v * a.beta2 + a.keep2 * g * g;
  p -= a.step_size * (m / (sqrtf(v) / a.bc2_sqrt + a.eps));
}

__global__ void __launch_bounds__(kOptBlock)
    project_norm_kernel(const float* __restrict__ W_dec, int d, SparseGrads grads, double* partial) {
  __shared__ float scratch_f[kOptBlock / 32];
  __shared__ double scratch_d[kOptBlock / 32];
  const int s = blockIdx.x;
  if (s >= *grads.n_active) return;
  const float* w = W_dec + static_cast<size_t>(grads.active[s]) * d;
  float* gw = grads.W_dec + static_cast<size_t>(s) * d;
  const float* ge = grads.W_encT + static_cast<size_t>(s) * d;
  float along = 0.f, length = 0.f;
  for (int i = threadIdx.x; i < d; i += kOptBlock) {
    along += gw[i] * w[i];
    length += w[i] * w[i];
  }
  along = block_sum<kOptBlock>(along, scratch_f);
  length = block_sum<kOptBlock>(length, scratch_f);
  const float coef = along / length;  // W_dec rows are unit vectors up to rounding: divide like the CPU
  double sum = 0.0;
  for (int i = threadIdx.x; i < d; i += kOptBlock) {
    const float projected = gw[i] - coef * w[i];
    gw[i] = projected;
    sum += double(projected) * double(projected) + double(ge[i]) * double(ge[i]);
  }
  sum = block_sum<kOptBlock>(sum, scratch_d);
  if (threadIdx.x == 0) partial[s] = sum + double(grads.b_enc[s]) * double(grads.b_enc[s]);
}

__global__ void __launch_bounds__(1024) clip_kernel(const double* partial, const int* n_active, const float* b_dec_grad,
                                                    int d, double max_grad_norm, double* norm_out, float* scale_out) {
  __shared__ double scratch[1024 / 32];
  const int n = *n_active;
  double sum = 0.0;
  for (int s = threadIdx.x; s < n; s += 1024) sum += partial[s];
  for (int i = threadIdx.x; i < d; i += 1024) sum += double(b_dec_grad[i]) * double(b_dec_grad[i]);
  sum = block_sum<1024>(sum, scratch);
  if (threadIdx.x == 0) {
    const double norm = sqrt(sum);
    *norm_out = norm;
    // torch.nn.utils.clip_grad_norm_'s factor, as the CPU's clip_factor.
    *scale_out = max_grad_norm <= 0 ? 1.f : static_cast<float>(fmin(1.0, max_grad_norm / (norm + 1e-6)));
  }
}

__global__ void __launch_bounds__(kOptBlock)
    update_kernel(Params p, SparseGrads grads, int F, int d, const float* scale_ptr, AdamConsts a) {
  __shared__ float scratch[kOptBlock / 32];
  const float scale = *scale_ptr;
  const int f = blockIdx.x;
  if (f == F) {
    // b_dec: the one dense parameter of the sparse path.
    for (int i = threadIdx.x; i < d; i += kOptBlock)
      adam(scale * grads.b_dec[i], p.b_dec[i], p.m_b_dec[i], p.v_b_dec[i], a);
    return;
  }
  const int s = grads.slot_of[f];
  const size_t row = static_cast<size_t>(f) * d;
  const float* ge = s >= 0 ? grads.W_encT + static_cast<size_t>(s) * d : nullptr;
  const float* gd = s >= 0 ? grads.W_dec + static_cast<size_t>(s) * d : nullptr;
  for (int i = threadIdx.x; i < d; i += kOptBlock) {
    adam(ge != nullptr ? scale * ge[i] : 0.f, p.W_encT[row + i], p.m_W_encT[row + i], p.v_W_encT[row + i], a);
  }
  float squares = 0.f;
  for (int i = threadIdx.x; i < d; i += kOptBlock) {
    float w = p.W_dec[row + i];
    adam(gd != nullptr ? scale * gd[i] : 0.f, w, p.m_W_dec[row + i], p.v_W_dec[row + i], a);
    p.W_dec[row + i] = w;
    squares += w * w;
  }
  const float length = sqrtf(block_sum<kOptBlock>(squares, scratch));
  // Each thread rescales the elements it wrote itself: no barrier needed beyond the reduction's.
  for (int i = threadIdx.x; i < d; i += kOptBlock) p.W_dec[row + i] /= length;
  if (threadIdx.x == 0) adam(s >= 0 ? scale * grads.b_enc[s] : 0.f, p.b_enc[f], p.m_b_enc[f], p.v_b_enc[f], a);
}

}  // namespace

size_t optimizer_workspace_bytes(int F) { return align_up(static_cast<size_t>(F) * sizeof(double)); }

cudaError_t optimizer_step(Params params, SparseGrads grads, int F, int d, int grad_capacity, AdamConfig config,
                           double* norm_out, float* scale_out, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  if (F <= 0 || d <= 0 || grad_capacity < 0 || grad_capacity > F || config.step < 1) return cudaErrorInvalidValue;
  if (workspace_bytes < optimizer_workspace_bytes(F)) return cudaErrorInvalidValue;
  double* partial = static_cast<double*>(workspace);
  AdamConsts a;
  const double t = static_cast<double>(config.step);
  a.keep1 = static_cast<float>(1.0 - config.beta1);
  a.beta2 = static_cast<float>(config.beta2);
  a.keep2 = static_cast<float>(1.0 - config.beta2);
  a.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(config.beta2, t)));
  a.eps = static_cast<float>(config.eps);
  a.step_size = static_cast<float>(config.lr / (1.0 - std::pow(config.beta1, t)));
  if (grad_capacity > 0) {
    project_norm_kernel<<<grad_capacity, kOptBlock, 0, stream>>>(params.W_dec, d, grads, partial);
  }
  clip_kernel<<<1, 1024, 0, stream>>>(partial, grads.n_active, grads.b_dec, d, config.max_grad_norm, norm_out,
                                      scale_out);
  update_kernel<<<F + 1, kOptBlock, 0, stream>>>(params, grads, F, d, scale_out, a);
  return cudaGetLastError();
}

}  // namespace btk_cuda
