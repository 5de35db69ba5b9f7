#include "cuda_support.h"

#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#include <torch/cuda.h>

#include "cuda_state.h"
#include "errors.h"

namespace btk {

namespace {

void check_cuda(cudaError_t status, const std::string& what) {
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail(BTK_ERR_OUT_OF_MEMORY, what + ": out of device memory");
  }
  if (status != cudaSuccess) {
    cudaGetLastError();
    fail(BTK_ERR_INTERNAL, what + ": " + cudaGetErrorString(status));
  }
}

CudaState& state_of(const btk_sae& sae) {
  if (!sae.cuda) fail(BTK_ERR_DEVICE, "this SAE is on the CPU, not on a CUDA device");
  return *sae.cuda;
}

}  // namespace

void Event::record(const c10::cuda::CUDAStream& stream) {
  if (event_ == nullptr) check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
  check_cuda(cudaEventRecord(event_, stream.stream()), "cudaEventRecord");
}

void Event::block(const c10::cuda::CUDAStream& stream) const {
  if (event_ != nullptr) check_cuda(cudaStreamWaitEvent(stream.stream(), event_, 0), "cudaStreamWaitEvent");
}

void Event::synchronize() const {
  if (event_ != nullptr) check_cuda(cudaEventSynchronize(event_), "cudaEventSynchronize");
}

bool cuda_device_present() { return torch::cuda::is_available() && torch::cuda::device_count() > 0; }

void attach_cuda(btk_sae& sae) {
  auto state = std::make_shared<CudaState>(c10::cuda::getStreamFromPool(/*isHighPriority=*/false));
  state->theta = torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(sae.options.device()));
  state->metrics = torch::zeros({kMetricCount}, state->theta.options());
  state->metrics_host = torch::zeros({kMetricCount}, torch::TensorOptions(torch::kFloat64).pinned_memory(true));
  sae.cuda = std::move(state);
}

void set_gpu_precision(btk_sae& sae, int32_t precision) {
  if (precision != BTK_GPU_PRECISION_BF16 && precision != BTK_GPU_PRECISION_FP32) {
    fail(BTK_ERR_INVALID_ARGUMENT, "unknown GPU precision code " + std::to_string(precision));
  }
  state_of(sae).precision = precision;
}

torch::Tensor upload_batch(btk_sae& sae, const torch::Tensor& host) {
  CudaState& s = state_of(sae);
  const int i = s.next_slot;
  s.next_slot ^= 1;
  const int64_t bytes = host.numel() * static_cast<int64_t>(host.element_size());
  auto compute = c10::cuda::getCurrentCUDAStream();
  if (!s.slot[i].defined() || s.slot[i].numel() < bytes) {
    s.slot[i] = torch::empty({bytes}, torch::TensorOptions(torch::kUInt8).device(sae.options.device()));
    // Allocated in the compute stream's order: the copy stream must not write before that point.
    s.consumed[i].record(compute);
  }
  // The step that read this slot two batches ago must be done with it; then the copy, and the
  // compute stream waits for the copy only.
  s.consumed[i].block(s.copy_stream);
  check_cuda(cudaMemcpyAsync(s.slot[i].data_ptr(), host.data_ptr(), static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                             s.copy_stream.stream()),
             "copying the batch to the device");
  s.copied[i].record(s.copy_stream);
  s.copied[i].block(compute);
  // The caller's memory is free once the copy is done: wait for that, never for a step.
  s.copied[i].synchronize();
  s.in_use = i;
  return s.slot[i].narrow(0, 0, bytes).view(host.scalar_type()).view(host.sizes());
}

torch::Tensor resident_batch(btk_sae& sae, void* data, int64_t rows, int64_t cols, torch::ScalarType type) {
  state_of(sae).in_use = -1;
  auto x = torch::from_blob(data, {rows, cols}, torch::TensorOptions(type).device(sae.options.device()));
  // The one host wait of a resident step: a bad batch must fail before it reaches the parameters.
  auto finite = torch::isfinite(x);
  if (!finite.all().item<bool>()) {
    int64_t row = (~finite).any(1).nonzero()[0][0].item<int64_t>();
    fail(BTK_ERR_NON_FINITE, "batch contains NaN or infinity (first in row " + std::to_string(row) + ")");
  }
  return x;
}

void release_batch(btk_sae& sae) {
  CudaState& s = state_of(sae);
  if (s.in_use >= 0) s.consumed[s.in_use].record(c10::cuda::getCurrentCUDAStream());
  s.in_use = -1;
}

void read_metrics(const btk_sae& sae, btk_metrics* out) {
  CudaState& s = state_of(sae);
  if (!s.has_metrics) fail(BTK_ERR_INVALID_ARGUMENT, "no training step has run yet: there are no metrics to read");
  s.metrics_ready.synchronize();
  const double* m = s.metrics_host.data_ptr<double>();
  out->step = static_cast<int64_t>(m[kStep]);
  out->loss = m[kLoss];
  out->mse = m[kMse];
  out->aux_loss = m[kAux];
  out->sparsity_loss = m[kSparsity];
  out->nmse = m[kNmse];
  out->l0 = m[kL0];
  out->dead = static_cast<int64_t>(m[kDead]);
  out->theta = m[kTheta];
  out->grad_norm = m[kGradNorm];
}

double cuda_theta(const btk_sae& sae) { return state_of(sae).theta.item<double>(); }

void cuda_set_theta(btk_sae& sae, double theta) { state_of(sae).theta.fill_(theta); }

void host_register(void* data, int64_t bytes) {
  if (!cuda_device_present()) fail(BTK_ERR_DEVICE, "no CUDA device: host memory cannot be page-locked for it");
  check_cuda(cudaHostRegister(data, static_cast<size_t>(bytes), cudaHostRegisterPortable), "cudaHostRegister");
}

void host_unregister(void* data) {
  if (!cuda_device_present()) fail(BTK_ERR_DEVICE, "no CUDA device: no host memory is page-locked for it");
  check_cuda(cudaHostUnregister(data), "cudaHostUnregister");
}

}  // namespace btk
