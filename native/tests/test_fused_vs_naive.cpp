// The fused step against the naive one (the reference's way): same loss, gradients and parameters.
#include "test_util.h"

namespace {

constexpr int32_t kArchitectures[] = {BTK_ARCH_BATCHTOPK, BTK_ARCH_TOPK, BTK_ARCH_JUMPRELU, BTK_ARCH_RELU,
                                      BTK_ARCH_MATRYOSHKA_BATCHTOPK};

struct Case {
  int64_t B, d, F;
  int32_t k;
  float bias;  // added to every b_enc: strongly negative leaves fewer positives than k*B
  int32_t normalize = BTK_NORMALIZE_PER_TOKEN;
  int steps = 20;
};

btk_config case_config(const Case& c, int32_t arch, int32_t path, int32_t dtype) {
  auto cfg = config_for(c.d, c.F, arch, c.k);
  cfg.path = path;
  cfg.dtype = dtype;
  cfg.k_aux = 16;
  cfg.dead_after_tokens = c.B;  // latents go dead after one silent batch, so AuxK runs every step
  cfg.lr = 1e-3;
  cfg.jumprelu_init_threshold = 0.05;
  cfg.jumprelu_bandwidth = 0.1;
  cfg.l0_coeff = 1e-2;
  cfg.seed = 7;
  cfg.normalize = c.normalize;
  return cfg;
}

void compare_states(const Sae& fused, const Sae& naive, double tolerance, const std::string& where) {
  for (const auto& name : fused.state_names()) {
    if (name.rfind("grad.", 0) == 0) continue;
    double diff = relative_difference(fused.state(name), naive.state(name));
    EXPECT_TRUE(diff <= tolerance) << where + ": '" + name + "' differs by " + std::to_string(diff);
  }
}

// Float64 shows the two paths compute the same thing: they differ by rounding alone. Float32 differs
// by rounding too, which Adam magnifies wherever a gradient is as small as eps (its first step is
// lr * g / (|g| + eps)), so its parameters get a looser tolerance than its losses and gradients.
template <typename T>
void run_case(const Case& c, int32_t arch) {
  const bool single = sizeof(T) == 4;
  const int32_t dtype = single ? BTK_DTYPE_F32 : BTK_DTYPE_F64;
  const double loss_tolerance = single ? 1e-5 : 1e-12;
  const double gradient_tolerance = single ? 1e-4 : 1e-10;
  const double parameter_tolerance = single ? 2e-3 : 1e-10;
  std::string where = std::string(single ? "f32 " : "f64 ") + arch_name(arch) + " B=" + std::to_string(c.B) +
                      " d=" + std::to_string(c.d) + " F=" + std::to_string(c.F) +
                      (c.normalize == BTK_NORMALIZE_NONE ? " unnormalised" : " per-token");
  Sae fused(case_config(c, arch, BTK_PATH_FUSED, dtype));
  Sae naive(case_config(c, arch, BTK_PATH_NAIVE, dtype));
  auto bias = fused.state("b_enc");
  std::vector<T> shifted(bias.size());
  for (size_t i = 0; i < bias.size(); i++) shifted[i] = T(bias[i] + c.bias);
  fused.set_state("b_enc", shifted);
  naive.set_state("b_enc", shifted);

  // Gradients of the first batch, before any update.
  auto x0 = random_normal<T>(c.B * c.d, 11, 0.3, 1.0);
  auto v0 = view_of(x0, c.B, c.d);
  btk_metrics mf, mn;
  REQUIRE_OK(btk_sae_loss_and_gradients(fused.get(), &v0, 1, &mf));
  REQUIRE_OK(btk_sae_loss_and_gradients(naive.get(), &v0, 1, &mn));
  EXPECT_TRUE(std::abs(mf.loss - mn.loss) <= loss_tolerance * std::abs(mn.loss))
      << where + ": loss " + std::to_string(mf.loss) + " vs " + std::to_string(mn.loss);
  EXPECT_TRUE(mf.l0 == mn.l0) << where + ": L0 " + std::to_string(mf.l0) + " vs " + std::to_string(mn.l0);
  for (const auto& name : fused.state_names()) {
    if (name.rfind("grad.", 0) != 0) continue;
    double diff = relative_difference(fused.state(name), naive.state(name));
    EXPECT_TRUE(diff <= gradient_tolerance) << where + ": '" + name + "' differs by " + std::to_string(diff);
  }

  bool aux_seen = false;
  for (int step = 1; step <= c.steps; step++) {
    auto x = random_normal<T>(c.B * c.d, 100 + step, 0.3, 1.0);
    auto v = view_of(x, c.B, c.d);
    REQUIRE_OK(btk_sae_train_step(fused.get(), &v, &mf));
    REQUIRE_OK(btk_sae_train_step(naive.get(), &v, &mn));
    EXPECT_TRUE(std::abs(mf.loss - mn.loss) <= loss_tolerance * std::abs(mn.loss) + 1e-9)
        << where + " step " + std::to_string(step) + ": loss " + std::to_string(mf.loss) + " vs " +
               std::to_string(mn.loss);
    aux_seen |= mf.aux_loss > 0;
    if (step == 1 || step == c.steps)
      compare_states(fused, naive, parameter_tolerance, where + " after step " + std::to_string(step));
  }
  if (arch != BTK_ARCH_JUMPRELU && arch != BTK_ARCH_RELU) EXPECT_TRUE(aux_seen) << where + ": AuxK never ran";
}

}  // namespace

TEST(fused_vs_naive, random_inputs_every_architecture) {
  for (int32_t arch : kArchitectures) {
    run_case<double>({37, 19, 53, 3, 0.0f}, arch);
    run_case<float>({37, 19, 53, 3, 0.0f}, arch);
  }
}

TEST(fused_vs_naive, fewer_positives_than_k_times_batch) {
  for (int32_t arch : {BTK_ARCH_BATCHTOPK, BTK_ARCH_TOPK, BTK_ARCH_MATRYOSHKA_BATCHTOPK}) {
    run_case<double>({29, 13, 41, 9, -2.5f}, arch);
    run_case<float>({29, 13, 41, 9, -2.5f}, arch);
  }
}

TEST(fused_vs_naive, larger_shapes) {
  for (int32_t arch : kArchitectures) {
    run_case<double>({128, 45, 301, 11, 0.0f}, arch);
    run_case<float>({128, 45, 301, 11, 0.0f}, arch);
  }
}

// The smallest batches: at B = 1 a broadcast of b_dec over the batch is b_dec itself, so any buffer
// derived from it must be a copy before the step writes into it.
TEST(fused_vs_naive, batches_of_one_two_and_three_rows) {
  for (int32_t arch : kArchitectures) {
    for (int32_t normalize : {BTK_NORMALIZE_NONE, BTK_NORMALIZE_PER_TOKEN}) {
      for (int64_t B : {1, 2, 3}) {
        run_case<double>({B, 19, 53, 3, 0.0f, normalize}, arch);
        run_case<float>({B, 19, 53, 3, 0.0f, normalize}, arch);
      }
    }
  }
}

// A realistic size in float32, where the fused path's blocking and the rounding of long sums matter
// (d = 768, F = 24576, B = 4096 is too slow for a test on two cores): a few steps of every architecture.
TEST(fused_vs_naive, realistic_size_f32) {
  for (int32_t arch : kArchitectures) {
    run_case<float>({1024, 256, 8192, 32, 0.0f, BTK_NORMALIZE_PER_TOKEN, 3}, arch);
  }
}
