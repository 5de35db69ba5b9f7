// What a device SAE keeps beyond its tensors: the copy stream and slots of the feeding, theta and
// the metrics of the latest step on their way to the host, and the kernels' buffers.
#pragma once

#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "sae.h"

namespace btk {

// A CUDA event created on first use (cudaEventDisableTiming): orders two streams, or the host after
// a stream. Only cuda_runtime_api.h, so that the glue compiles against any libtorch's CUDA headers.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  void record(const c10::cuda::CUDAStream& stream);
  // The stream's later work waits for the recorded point; nothing to wait for before any record.
  void block(const c10::cuda::CUDAStream& stream) const;
  void synchronize() const;

 private:
  cudaEvent_t event_ = nullptr;
};

// The device step's metrics, in the order of btk_metrics' fields.
enum MetricSlot { kStep, kLoss, kMse, kAux, kSparsity, kNmse, kL0, kDead, kTheta, kGradNorm, kMetricCount };

struct CudaState {
  explicit CudaState(c10::cuda::CUDAStream stream) : copy_stream(stream) {}
  // A copy may still be writing a slot that the caching allocator is about to hand out again.
  ~CudaState() { cudaStreamSynchronize(copy_stream.stream()); }
  CudaState(const CudaState&) = delete;
  CudaState& operator=(const CudaState&) = delete;

  int32_t precision = BTK_GPU_PRECISION_BF16;

  // Feeding: two device slots, so that batch n+1 is copied while step n reads the other one.
  c10::cuda::CUDAStream copy_stream;
  torch::Tensor slot[2];  // uint8 device buffers
  Event copied[2];        // the slot's batch has arrived (copy stream)
  Event consumed[2];      // the step that read the slot is done with it (compute stream)
  int next_slot = 0;
  int in_use = -1;  // the slot the running step reads; -1 when none

  torch::Tensor theta;  // float64, 0-dim: BatchTopK's inference threshold, updated by the step

  torch::Tensor metrics;       // float64 [kMetricCount] on the device, written by the step
  torch::Tensor metrics_host;  // pinned copy of `metrics`, valid once metrics_ready has passed
  Event metrics_ready;
  bool has_metrics = false;

  // Kernel buffers for batches of `rows` rows, allocated once through libtorch's caching allocator.
  int64_t rows = 0;
  torch::Tensor pre;                                     // float [B, F] pre-activations
  torch::Tensor W_encT_bf16, x_bf16;                     // the bf16 GEMM's inputs
  torch::Tensor select_ws, row_ptr, col, val;            // the selection and its codes
  torch::Tensor aux_ws, aux_row_ptr, aux_col, aux_val;   // AuxK's codes
  torch::Tensor x_hat, x_hat_aux;                        // [B, d]
  torch::Tensor backward_ws, active, slot_of, n_active;  // the sparse backward
  torch::Tensor grad_W_dec, grad_W_encT, grad_b_enc, grad_b_dec;
  torch::Tensor optimizer_ws, grad_norm, clip_scale;  // the fused update
};

}  // namespace btk
