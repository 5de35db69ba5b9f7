// The CUDA side of the shim: whether a device is there, how a host batch reaches it, where the
// device step keeps its metrics and theta, and the step itself (cuda_step.cpp). Compiled only into
// builds with BTK_HAVE_CUDA (native/CMakeLists.txt, BTK_CUDA); callers guard their calls with it.
#pragma once

#include "sae.h"

namespace btk {

// A CUDA device is usable by this process (libtorch's own answer).
bool cuda_device_present();

// Gives a device SAE its streams and buffers; its tensors must already be on the device.
void attach_cuda(btk_sae& sae);

// The encoder GEMM's input precision on the device: BTK_GPU_PRECISION_*.
void set_gpu_precision(btk_sae& sae, int32_t precision);

// Copies a host batch (a CPU tensor, possibly a borrowed view of the caller's memory) to one of two
// device slots on the copy stream and makes the compute stream wait for it. Returns once the copy is
// done, so the caller may reuse its memory, but never waits for the computation: batch n+1 travels
// while step n runs. The slot is released by release_batch after the step that reads it.
torch::Tensor upload_batch(btk_sae& sae, const torch::Tensor& host);
void release_batch(btk_sae& sae);
// A batch already in device memory (rows x cols of `type`), borrowed; checked finite on the device.
torch::Tensor resident_batch(btk_sae& sae, void* data, int64_t rows, int64_t cols, torch::ScalarType type);

// One optimizer step on a device batch, path and architecture as configured. Metrics stay on the
// device (copied to a pinned host buffer asynchronously) until read_metrics.
void cuda_train_step(btk_sae& sae, const torch::Tensor& x);
// Loss and, with want_gradients, gradients (in sae.last_gradients) of a device batch; waits for the
// device, since it is an inspection call.
void cuda_loss_and_gradients(btk_sae& sae, const torch::Tensor& x, bool want_gradients, btk_metrics* out);
// The metrics of the latest step; waits for that step only.
void read_metrics(const btk_sae& sae, btk_metrics* out);

// BatchTopK's theta, which the device step updates on the device.
double cuda_theta(const btk_sae& sae);
void cuda_set_theta(btk_sae& sae, double theta);

// Page-locks (once) or releases a host block so that copies from it are DMA transfers.
void host_register(void* data, int64_t bytes);
void host_unregister(void* data);

}  // namespace btk
