// The GPU benchmarks of benchmarks/gpu/run.sh, in one process and one run, so that their ratios
// compare like with like: the BatchTopK selection kernel against torch.topk on the flattened matrix
// (equality and time), and full training steps through the C interface (fused bf16 and fp32, naive
// fp32 and naive bf16-autocast; batches streamed from page-locked host memory or resident on the GPU).
// One line per measurement: "BENCH <kind> key=value ...". --quick: fewer steps (the dry run's size).
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "batchtopk.h"
#include "btk_cuda.h"

namespace {

struct Shape {
  const char* name;
  int64_t d, F, B;
  int32_t k;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void check(int32_t rc, const char* what) {
  if (rc != BTK_OK) {
    std::fprintf(stderr, "%s failed (%d): %s\n", what, rc, btk_last_error());
    std::exit(1);
  }
}

// Median of `runs` timings of fn, each synchronised.
template <typename Fn>
double median_ms(int runs, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs + 2; i++) {
    torch::cuda::synchronize();
    auto start = std::chrono::steady_clock::now();
    fn();
    torch::cuda::synchronize();
    if (i >= 2) ms.push_back(1e3 * seconds_since(start));  // two warm-up runs
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void selection(const Shape& s, int runs) {
  const int64_t count = int64_t(s.k) * s.B;
  auto device = torch::TensorOptions().device(torch::kCUDA);
  auto gen = at::detail::createCPUGenerator(1);
  auto values = torch::randn({s.B, s.F}, gen, torch::kFloat32).to(torch::kCUDA);
  auto row_ptr = torch::empty({s.B + 1}, device.dtype(torch::kInt32));
  auto col = torch::empty({count}, device.dtype(torch::kInt32));
  auto val = torch::empty({count}, device.dtype(torch::kFloat32));
  auto ws =
      torch::empty({int64_t(btk_cuda::batch_topk_workspace_bytes(int(s.B), int(s.F)))}, device.dtype(torch::kUInt8));
  auto stream = c10::cuda::getCurrentCUDAStream().stream();
  auto kernel = [&] {
    btk_cuda::batch_topk(values.data_ptr<float>(), int(s.B), int(s.F), count, row_ptr.data_ptr<int>(),
                         col.data_ptr<int>(), val.data_ptr<float>(), ws.data_ptr(), ws.numel(), stream);
  };
  torch::Tensor top_indices;
  auto topk = [&] { top_indices = std::get<1>(values.flatten().topk(count)); };
  double kernel_ms = median_ms(runs, kernel), topk_ms = median_ms(runs, topk);
  // Same entries: the flat indices of the kernel's CSR against topk's, both sorted.
  auto rows = torch::repeat_interleave(torch::arange(s.B, device.dtype(torch::kInt64)),
                                       (row_ptr.narrow(0, 1, s.B) - row_ptr.narrow(0, 0, s.B)).to(torch::kInt64));
  auto ours = std::get<0>((rows * s.F + col.to(torch::kInt64)).sort());
  auto theirs = std::get<0>(top_indices.sort());
  const bool equal = ours.numel() == theirs.numel() && ours.equal(theirs);
  std::printf("BENCH selection config=%s B=%ld F=%ld k=%d kernel_ms=%.3f topk_ms=%.3f speedup=%.2f equal=%s\n", s.name,
              long(s.B), long(s.F), s.k, kernel_ms, topk_ms, topk_ms / kernel_ms, equal ? "yes" : "NO");
}

struct Mode {
  const char* name;
  int32_t path, precision;
  bool resident;
};

void training(const Shape& s, const Mode& mode, int steps) {
  btk_config cfg;
  check(btk_config_defaults(&cfg, s.d, s.F, BTK_ARCH_BATCHTOPK, s.k), "btk_config_defaults");
  cfg.device = BTK_DEVICE_CUDA;
  cfg.path = mode.path;
  btk_sae* sae = nullptr;
  check(btk_sae_create(&cfg, &sae), "btk_sae_create");
  check(btk_sae_set_gpu_precision(sae, mode.precision), "btk_sae_set_gpu_precision");
  // Two host buffers, page-locked once, as the prefetch ring's; or the same batches on the GPU.
  const int64_t n = s.B * s.d;
  std::vector<std::vector<float>> ring(2, std::vector<float>(size_t(n)));
  auto gen = at::detail::createCPUGenerator(2);
  std::vector<torch::Tensor> host;
  for (int i = 0; i < 2; i++) host.push_back(torch::randn({s.B, s.d}, gen, torch::kFloat32));
  std::vector<torch::Tensor> resident;
  for (int i = 0; i < 2; i++) {
    std::memcpy(ring[i].data(), host[i].data_ptr<float>(), size_t(n) * sizeof(float));
    check(btk_host_register(ring[i].data(), n * int64_t(sizeof(float))), "btk_host_register");
    resident.push_back(host[i].to(torch::kCUDA));
  }
  auto view = [&](int i) {
    return mode.resident ? btk_tensor_view{resident[i].data_ptr(), s.B, s.d, BTK_DTYPE_F32, BTK_DEVICE_CUDA}
                         : btk_tensor_view{ring[i].data(), s.B, s.d, BTK_DTYPE_F32, BTK_DEVICE_CPU};
  };
  btk_metrics m;
  for (int i = 0; i < 3; i++) {  // warm-up: allocations, cuBLAS heuristics
    auto v = view(i % 2);
    check(btk_sae_train_step(sae, &v, &m), "btk_sae_train_step");
  }
  torch::cuda::synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; i++) {
    auto v = view(i % 2);
    check(btk_sae_train_step_deferred(sae, &v), "btk_sae_train_step_deferred");
  }
  check(btk_sae_last_metrics(sae, &m), "btk_sae_last_metrics");
  double elapsed = seconds_since(start);
  std::printf(
      "BENCH step config=%s d=%ld F=%ld B=%ld k=%d mode=%s steps=%d ms_per_step=%.3f tokens_per_s=%.0f loss=%.6g\n",
      s.name, long(s.d), long(s.F), long(s.B), s.k, mode.name, steps, 1e3 * elapsed / steps,
      double(s.B) * steps / elapsed, m.loss);
  for (auto& buffer : ring) check(btk_host_unregister(buffer.data()), "btk_host_unregister");
  btk_sae_destroy(sae);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (!btk_cuda_available()) {
    std::printf("gpu_bench: no CUDA device (%s): nothing to measure\n", btk_build_info());
    return 0;
  }
  cudaDeviceProp properties;
  cudaGetDeviceProperties(&properties, 0);
  std::printf("device %s, %s\n", properties.name, btk_build_info());
  const Shape shapes[] = {{"A", 768, 24576, 4096, 32}, {"B", 2304, 65536, 4096, 64}};
  const Mode modes[] = {{"fused-bf16-streamed", BTK_PATH_FUSED, BTK_GPU_PRECISION_BF16, false},
                        {"fused-bf16-resident", BTK_PATH_FUSED, BTK_GPU_PRECISION_BF16, true},
                        {"fused-fp32-streamed", BTK_PATH_FUSED, BTK_GPU_PRECISION_FP32, false},
                        {"naive-fp32-streamed", BTK_PATH_NAIVE, BTK_GPU_PRECISION_FP32, false},
                        {"naive-bf16-streamed", BTK_PATH_NAIVE, BTK_GPU_PRECISION_BF16, false}};
  for (const auto& s : shapes) selection(s, quick ? 3 : 10);
  for (const auto& s : shapes) {
    for (const auto& mode : modes) training(s, mode, quick ? 5 : (mode.path == BTK_PATH_NAIVE ? 20 : 50));
  }
  return 0;
}
