// device = CUDA. CudaBuild runs everywhere: the build tells the truth about CUDA, and a device it
// cannot use is refused by name. The Gpu* suites need a device (they skip without one): the fused
// CUDA step against the naive step on the same GPU, bf16 against fp32, state moved between the CPU
// and the GPU, and a GPU run against a CPU run of the same seed and data.
#include <algorithm>

#include "test_util.h"

namespace {

bool cuda_build() {
  const std::string info = btk_build_info();
  return info.find(", cuda)") != std::string::npos;
}

#define REQUIRE_GPU() \
  if (btk_cuda_available() == 0) GTEST_SKIP() << "no CUDA device (or a build without CUDA): " << btk_build_info()

btk_config gpu_config(int32_t arch, int32_t path, int64_t d = 64, int64_t F = 512, int32_t k = 8) {
  auto cfg = config_for(d, F, arch, k);
  cfg.device = BTK_DEVICE_CUDA;
  cfg.path = path;
  cfg.k_aux = 32;
  cfg.dead_after_tokens = 256;  // latents die within a few batches, so AuxK takes part
  cfg.lr = 1e-3;
  cfg.seed = 11;
  return cfg;
}

std::vector<std::vector<float>> batches(int count, int64_t B, int64_t d, uint64_t seed) {
  std::vector<std::vector<float>> out;
  for (int i = 0; i < count; i++) out.push_back(random_normal<float>(size_t(B * d), seed + uint64_t(i)));
  return out;
}

btk_metrics step(Sae& sae, std::vector<float>& batch, int64_t d) {
  auto view = view_of(batch, int64_t(batch.size()) / d, d);
  btk_metrics m;
  REQUIRE_OK(btk_sae_train_step(sae.get(), &view, &m));
  return m;
}

void expect_close_states(const Sae& a, const Sae& b, double tolerance, const std::string& where) {
  for (const auto& name : a.state_names()) {
    if (name.rfind("grad.", 0) == 0) continue;
    double diff = relative_difference(a.state(name), b.state(name));
    EXPECT_LE(diff, tolerance) << where << ": '" << name << "'";
  }
}

TEST(CudaBuild, BuildInfoAndAvailabilityAgree) {
  std::printf("build: %s; btk_cuda_available() = %d\n", btk_build_info(), btk_cuda_available());
  if (!cuda_build()) EXPECT_EQ(btk_cuda_available(), 0) << btk_build_info();
  EXPECT_TRUE(btk_cuda_available() == 0 || btk_cuda_available() == 1);
}

TEST(CudaBuild, UnusableDeviceIsRefusedByName) {
  if (btk_cuda_available() != 0) GTEST_SKIP() << "a CUDA device is present";
  auto cfg = gpu_config(BTK_ARCH_BATCHTOPK, BTK_PATH_FUSED);
  btk_sae* sae = nullptr;
  EXPECT_EQ(btk_sae_create(&cfg, &sae), BTK_ERR_DEVICE);
  EXPECT_EQ(sae, nullptr);
  const std::string message = btk_last_error();
  EXPECT_NE(message.find(cuda_build() ? "there is no CUDA device" : "has no CUDA"), std::string::npos) << message;
}

TEST(CudaBuild, HostRegistrationNeedsADevice) {
  if (btk_cuda_available() != 0) GTEST_SKIP() << "a CUDA device is present";
  std::vector<float> block(1024);
  EXPECT_EQ(btk_host_register(block.data(), int64_t(block.size() * sizeof(float))), BTK_ERR_DEVICE);
  EXPECT_NE(std::string(btk_last_error()).find("CUDA"), std::string::npos);
}

TEST(CudaBuild, GpuPrecisionIsForCudaSaes) {
  auto cfg = config_for(16, 64, BTK_ARCH_BATCHTOPK, 4);
  Sae sae(cfg);
  EXPECT_EQ(btk_sae_set_gpu_precision(sae.get(), BTK_GPU_PRECISION_FP32), BTK_ERR_DEVICE);
}

TEST(CudaBuild, DeferredStepKeepsTheMetricsForLater) {
  auto cfg = config_for(16, 64, BTK_ARCH_BATCHTOPK, 4);
  Sae deferred(cfg), direct(cfg);
  btk_metrics none;
  EXPECT_EQ(btk_sae_last_metrics(deferred.get(), &none), BTK_ERR_INVALID_ARGUMENT);
  auto data = batches(3, 32, 16, 5);
  btk_metrics expected{}, read{};
  for (auto& batch : data) {
    auto view = view_of(batch, 32, 16);
    REQUIRE_OK(btk_sae_train_step_deferred(deferred.get(), &view));
    expected = step(direct, batch, 16);
  }
  REQUIRE_OK(btk_sae_last_metrics(deferred.get(), &read));
  EXPECT_EQ(read.step, 3);
  EXPECT_EQ(read.loss, expected.loss);
  EXPECT_EQ(read.dead, expected.dead);
  EXPECT_EQ(read.theta, expected.theta);
}

// Every named state tensor copied from one SAE to another, as a checkpoint carries it.
void copy_state(const Sae& from, Sae& to) {
  for (const auto& name : from.state_names()) {
    if (name.rfind("grad.", 0) == 0) continue;
    auto bytes = from.raw_state(name);
    REQUIRE_OK(btk_sae_state_set(to.get(), name.c_str(), bytes.data(), int64_t(bytes.size())));
  }
}

// One step of each from the same state: the same selection (the counters and L0 follow from nothing
// else; ties cannot differ on random data), losses within float rounding, parameters within the
// tolerance that Adam's amplification of rounding (lr * g / (|g| + eps) for g near eps) leaves.
void expect_same_step(Sae& fused, Sae& naive, std::vector<float>& batch, int64_t d, const std::string& where) {
  auto f = step(fused, batch, d);
  auto n = step(naive, batch, d);
  EXPECT_EQ(f.l0, n.l0) << where;
  EXPECT_EQ(f.dead, n.dead) << where;
  EXPECT_EQ(fused.state("tokens_since_fired"), naive.state("tokens_since_fired")) << where;
  EXPECT_NEAR(f.loss, n.loss, 1e-5 * std::max(1.0, std::abs(n.loss))) << where;
  EXPECT_NEAR(f.aux_loss, n.aux_loss, 1e-5 * std::max(1.0, std::abs(n.aux_loss))) << where;
  EXPECT_NEAR(f.theta, n.theta, 1e-5 * std::max(1.0, std::abs(n.theta))) << where;
  expect_close_states(fused, naive, 2e-3, where);
}

// Fused fp32 kernels against the naive libtorch step on the same GPU, after 1 and after 100 steps.
// The two drift apart by rounding over the 99 steps between, so step 100 starts both from the fused
// SAE's state; the curves in between must stay close.
void fused_matches_naive(int32_t arch) {
  const int64_t B = 128, d = 64;
  Sae fused(gpu_config(arch, BTK_PATH_FUSED)), naive(gpu_config(arch, BTK_PATH_NAIVE));
  REQUIRE_OK(btk_sae_set_gpu_precision(fused.get(), BTK_GPU_PRECISION_FP32));
  REQUIRE_OK(btk_sae_set_gpu_precision(naive.get(), BTK_GPU_PRECISION_FP32));
  auto data = batches(100, B, d, 21);
  const std::string name = arch_name(arch);
  expect_same_step(fused, naive, data[0], d, name + " step 1");
  for (int i = 1; i < 99; i++) {
    auto f = step(fused, data[i], d);
    auto n = step(naive, data[i], d);
    EXPECT_NEAR(f.loss, n.loss, 1e-2 * std::abs(n.loss)) << name << " step " << i + 1;
  }
  expect_close_states(fused, naive, 5e-2, name + " after 99 steps each");
  copy_state(fused, naive);
  expect_same_step(fused, naive, data[99], d, name + " step 100");
}

TEST(GpuFusedVsNaive, BatchTopKFp32) {
  REQUIRE_GPU();
  fused_matches_naive(BTK_ARCH_BATCHTOPK);
}

TEST(GpuFusedVsNaive, TopKFp32) {
  REQUIRE_GPU();
  fused_matches_naive(BTK_ARCH_TOPK);
}

// The default bf16 GEMM (fp32 accumulation) against fp32: bf16's 8-bit mantissa, not a wrong step.
TEST(GpuFusedVsNaive, Bf16WithinBf16Tolerance) {
  REQUIRE_GPU();
  const int64_t B = 128, d = 64;
  Sae bf16(gpu_config(BTK_ARCH_BATCHTOPK, BTK_PATH_FUSED)), fp32(gpu_config(BTK_ARCH_BATCHTOPK, BTK_PATH_NAIVE));
  REQUIRE_OK(btk_sae_set_gpu_precision(fp32.get(), BTK_GPU_PRECISION_FP32));
  auto data = batches(20, B, d, 31);
  for (int i = 0; i < 20; i++) {
    auto a = step(bf16, data[i], d);
    auto b = step(fp32, data[i], d);
    EXPECT_NEAR(a.loss, b.loss, 2e-2 * std::abs(b.loss)) << "step " << i + 1;
    EXPECT_NEAR(a.l0, b.l0, 0.05 * b.l0 + 1e-9) << "step " << i + 1;
  }
  // The weights, which rounding moves little; biases and moments follow each batch's selection,
  // which bf16 pre-activations change at the margin.
  for (const char* name : {"W_enc", "W_dec"}) {
    EXPECT_LE(relative_difference(bf16.state(name), fp32.state(name)), 1e-2) << name << " after 20 steps";
  }
}

TEST(GpuCheckpoint, CpuStateResumesOnGpuAndBack) {
  REQUIRE_GPU();
  const int64_t B = 128, d = 64;
  auto gpu_cfg = gpu_config(BTK_ARCH_BATCHTOPK, BTK_PATH_FUSED);
  auto cpu_cfg = gpu_cfg;
  cpu_cfg.device = BTK_DEVICE_CPU;
  auto data = batches(6, B, d, 41);
  Sae cpu(cpu_cfg), gpu(gpu_cfg), back(cpu_cfg);
  REQUIRE_OK(btk_sae_set_gpu_precision(gpu.get(), BTK_GPU_PRECISION_FP32));
  for (int i = 0; i < 3; i++) step(cpu, data[i], d);
  copy_state(cpu, gpu);
  expect_close_states(gpu, cpu, 0.0, "just copied to the GPU");
  for (int i = 3; i < 6; i++) {
    auto c = step(cpu, data[i], d);
    auto g = step(gpu, data[i], d);
    EXPECT_EQ(c.step, g.step);
    EXPECT_EQ(c.l0, g.l0) << "step " << i + 1;
    EXPECT_NEAR(c.loss, g.loss, 1e-4 * std::abs(c.loss)) << "step " << i + 1;
  }
  expect_close_states(gpu, cpu, 2e-3, "3 steps on each device");
  copy_state(gpu, back);
  expect_close_states(back, gpu, 0.0, "copied back to the CPU");
}

// 500 steps from the same seed and data on the CPU and on the GPU (fp32): the curves agree.
TEST(GpuCurves, FiveHundredStepsAgreeWithTheCpu) {
  REQUIRE_GPU();
  const int64_t B = 256, d = 64;
  auto gpu_cfg = gpu_config(BTK_ARCH_BATCHTOPK, BTK_PATH_FUSED);
  auto cpu_cfg = gpu_cfg;
  cpu_cfg.device = BTK_DEVICE_CPU;
  Sae cpu(cpu_cfg), gpu(gpu_cfg);
  REQUIRE_OK(btk_sae_set_gpu_precision(gpu.get(), BTK_GPU_PRECISION_FP32));
  // A fixed pool of batches with structure (a few directions), cycled: the loss has somewhere to go.
  auto directions = random_normal<float>(size_t(16 * d), 51);
  std::vector<std::vector<float>> pool;
  for (int b = 0; b < 20; b++) {
    auto weights = random_normal<float>(size_t(B * 16), 60 + uint64_t(b));
    std::vector<float> x(size_t(B * d), 0.0f);
    for (int64_t r = 0; r < B; r++)
      for (int j = 0; j < 16; j++)
        for (int64_t c = 0; c < d; c++) x[r * d + c] += std::max(0.0f, weights[r * 16 + j]) * directions[j * d + c];
    pool.push_back(x);
  }
  double first = 0, last_cpu = 0, last_gpu = 0;
  for (int i = 0; i < 500; i++) {
    auto c = step(cpu, pool[i % pool.size()], d);
    auto g = step(gpu, pool[i % pool.size()], d);
    if (i == 0) first = c.loss;
    if (i % 50 == 49) {
      EXPECT_NEAR(g.loss, c.loss, 0.05 * c.loss) << "loss at step " << i + 1;
      EXPECT_NEAR(g.l0, c.l0, 0.05 * c.l0 + 0.5) << "L0 at step " << i + 1;
      EXPECT_NEAR(double(g.dead), double(c.dead), 0.05 * 512 + 2) << "dead at step " << i + 1;
    }
    last_cpu = c.loss;
    last_gpu = g.loss;
  }
  EXPECT_LT(last_cpu, first);
  EXPECT_LT(last_gpu, first);
}

// A page-locked batch buffer, reused for every step as the prefetch ring reuses its buffers.
TEST(GpuFeeding, RegisteredHostBufferFeedsTheSteps) {
  REQUIRE_GPU();
  const int64_t B = 128, d = 64;
  Sae from_pinned(gpu_config(BTK_ARCH_TOPK, BTK_PATH_FUSED)), from_pageable(gpu_config(BTK_ARCH_TOPK, BTK_PATH_FUSED));
  std::vector<float> ring(size_t(B * d));
  REQUIRE_OK(btk_host_register(ring.data(), int64_t(ring.size() * sizeof(float))));
  auto data = batches(10, B, d, 71);
  for (auto& batch : data) {
    std::copy(batch.begin(), batch.end(), ring.begin());
    auto view = view_of(ring, B, d);
    REQUIRE_OK(btk_sae_train_step_deferred(from_pinned.get(), &view));
    step(from_pageable, batch, d);
  }
  btk_metrics a, b;
  REQUIRE_OK(btk_sae_last_metrics(from_pinned.get(), &a));
  REQUIRE_OK(btk_sae_last_metrics(from_pageable.get(), &b));
  REQUIRE_OK(btk_host_unregister(ring.data()));
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(from_pinned.state("W_dec"), from_pageable.state("W_dec"));
}

}  // namespace
