// Bad input gives a status and a message naming the problem, never a crash.
#include <limits>
#include <thread>

#include "test_util.h"

namespace {

void expect_error(int32_t rc, int32_t status, const std::string& fragment) {
  std::string message = btk_last_error();
  EXPECT_TRUE(rc == status) << "expected status " + std::to_string(status) + ", got " + std::to_string(rc) + ": " +
                                   message;
  EXPECT_TRUE(message.find(fragment) != std::string::npos) << "message '" + message + "' lacks '" + fragment + "'";
}

// Why this build refuses device cuda when it has no usable device: none built in, or none present.
std::string no_cuda_reason() {
  return std::string(btk_build_info()).find(", cuda)") != std::string::npos ? "there is no CUDA device"
                                                                            : "CPU code paths only";
}

}  // namespace

TEST(errors, invalid_configs) {
  btk_sae* sae = nullptr;
  auto cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 20);
  expect_error(btk_sae_create(&cfg, &sae), BTK_ERR_INVALID_ARGUMENT, "k = 20 exceeds d_sae = 16");
  EXPECT_TRUE(sae == nullptr) << "no handle on failure";
  cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 4);
  cfg.device = BTK_DEVICE_CUDA;
  if (btk_cuda_available() == 0) expect_error(btk_sae_create(&cfg, &sae), BTK_ERR_DEVICE, no_cuda_reason());
  cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 4);
  cfg.lr = std::numeric_limits<double>::quiet_NaN();
  expect_error(btk_sae_create(&cfg, &sae), BTK_ERR_INVALID_ARGUMENT, "lr");
  expect_error(btk_sae_create(nullptr, &sae), BTK_ERR_INVALID_ARGUMENT, "cfg is NULL");
}

TEST(errors, bad_batches) {
  Sae sae(config_for(8, 16, BTK_ARCH_BATCHTOPK, 4));
  btk_metrics m;
  auto x = random_normal<float>(4 * 8, 1);
  auto wrong_cols = view_of(x, 8, 4);
  expect_error(btk_sae_train_step(sae.get(), &wrong_cols, &m), BTK_ERR_SHAPE, "4 columns but 8 are expected");
  auto v = view_of(x, 4, 8);
  v.dtype = BTK_DTYPE_I64;
  expect_error(btk_sae_train_step(sae.get(), &v, &m), BTK_ERR_DTYPE, "dtype I64");
  v = view_of(x, 4, 8);
  v.device = BTK_DEVICE_CUDA;
  expect_error(btk_sae_train_step(sae.get(), &v, &m), BTK_ERR_DEVICE, "CPU only");
  x[2 * 8 + 3] = std::numeric_limits<float>::quiet_NaN();
  v = view_of(x, 4, 8);
  expect_error(btk_sae_train_step(sae.get(), &v, &m), BTK_ERR_NON_FINITE, "first in row 2");
  x[2 * 8 + 3] = std::numeric_limits<float>::infinity();
  expect_error(btk_sae_train_step(sae.get(), &v, &m), BTK_ERR_NON_FINITE, "NaN or infinity");
  v.data = nullptr;
  expect_error(btk_sae_train_step(sae.get(), &v, &m), BTK_ERR_INVALID_ARGUMENT, "batch.data is NULL");
  expect_error(btk_sae_train_step(nullptr, &v, &m), BTK_ERR_INVALID_ARGUMENT, "sae is NULL");
  // The SAE is unharmed by all of the above.
  x[2 * 8 + 3] = 0.5f;
  v = view_of(x, 4, 8);
  REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
  EXPECT_TRUE(m.step == 1) << "one step taken";
}

TEST(errors, bad_state_access) {
  Sae sae(config_for(8, 16, BTK_ARCH_TOPK, 4));
  std::vector<float> small(3);
  expect_error(btk_sae_state_set(sae.get(), "W_enc", small.data(), 12), BTK_ERR_SHAPE, "'W_enc' needs 512 bytes");
  expect_error(btk_sae_state_get(sae.get(), "nope", small.data(), 12), BTK_ERR_INVALID_ARGUMENT,
               "no state tensor named 'nope'");
  expect_error(btk_sae_state_get(sae.get(), "grad.W_enc", small.data(), 12), BTK_ERR_INVALID_ARGUMENT,
               "no gradients yet");
  std::vector<float> bad(16, 0.0f);
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  expect_error(btk_sae_state_set(sae.get(), "b_enc", bad.data(), 64), BTK_ERR_NON_FINITE, "'b_enc' contains NaN");
  EXPECT_TRUE(btk_sae_state_name(sae.get(), 10000) == nullptr) << "NULL past the end";
}

TEST(errors, message_names_the_problem_once_and_a_success_clears_it) {
  Sae sae(config_for(8, 16, BTK_ARCH_BATCHTOPK, 4));
  btk_metrics m;
  auto x = random_normal<float>(4 * 8, 1);
  auto wrong_cols = view_of(x, 8, 4);
  EXPECT_TRUE(btk_sae_train_step(sae.get(), &wrong_cols, &m) == BTK_ERR_SHAPE) << "a shape error";
  // The caller knows which function failed; the message does not repeat its name.
  EXPECT_TRUE(std::string(btk_last_error()) == "batch has 4 columns but 8 are expected")
      << std::string("the message is '") + btk_last_error() + "'";
  auto v = view_of(x, 4, 8);
  REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
  EXPECT_TRUE(std::string(btk_last_error()).empty())
      << std::string("a success left the message '") + btk_last_error() + "'";
  expect_error(btk_sae_set_lr(sae.get(), -1), BTK_ERR_INVALID_ARGUMENT, "lr must be finite and positive");
  btk_config cfg;
  REQUIRE_OK(btk_sae_config(sae.get(), &cfg));
  EXPECT_TRUE(std::string(btk_last_error()).empty()) << "btk_sae_config cleared nothing";
}

TEST(errors, the_message_belongs_to_the_failing_thread) {
  Sae sae(config_for(8, 16, BTK_ARCH_BATCHTOPK, 4));
  expect_error(btk_sae_set_path(sae.get(), 9), BTK_ERR_INVALID_ARGUMENT, "unknown path code 9");
  std::string other;
  std::thread([&] {
    btk_config cfg;
    REQUIRE_OK(btk_config_defaults(&cfg, 8, 16, BTK_ARCH_TOPK, 4));
    other = btk_last_error();
  }).join();
  EXPECT_TRUE(other.empty()) << "another thread sees '" + other + "'";
  EXPECT_TRUE(std::string(btk_last_error()) == "unknown path code 9")
      << std::string("this thread's message became '") + btk_last_error() + "'";
}

// btk_config_validate is the one authority on a config: it refuses what btk_sae_create refuses, with
// the same status and message, and accepts the edge values create accepts.
TEST(errors, config_validate_and_create_agree) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Bad {
    std::function<void(btk_config&)> change;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {[](btk_config& c) { c.d_in = 0; }, "d_in must be positive, got 0"},
      {[](btk_config& c) { c.d_sae = -3; }, "d_sae must be positive, got -3"},
      {[](btk_config& c) { c.d_in = c.d_sae = int64_t(1) << 40; }, "d_in * d_sae overflows"},
      {[](btk_config& c) { c.architecture = 9; }, "unknown architecture code 9"},
      {[](btk_config& c) { c.k = 0; }, "k must be positive, got 0"},
      {[](btk_config& c) { c.k = 17; }, "k = 17 exceeds d_sae = 16"},
      {[](btk_config& c) { c.architecture = BTK_ARCH_RELU, c.k = -1; }, "k must not be negative, got -1"},
      {[](btk_config& c) { c.k_aux = -1; }, "k_aux must not be negative (0 disables AuxK), got -1"},
      {[](btk_config& c) { c.normalize = 2; }, "unknown normalisation code 2"},
      {[](btk_config& c) { c.d_in = 1; }, "normalization per-token needs d_in >= 2, got d_in = 1"},
      {[](btk_config& c) { c.dead_after_tokens = 0; }, "dead_after_tokens must be positive, got 0"},
      {[&](btk_config& c) { c.aux_coeff = nan; }, "aux_coeff must be finite and >= 0, got nan"},
      {[&](btk_config& c) { c.lr = inf; }, "lr must be finite and positive, got inf"},
      {[](btk_config& c) { c.beta1 = 1; }, "beta1 must be in [0, 1), got 1"},
      {[](btk_config& c) { c.beta2 = -0.1; }, "beta2 must be in [0, 1), got -0.1"},
      {[](btk_config& c) { c.eps = 0; }, "eps must be finite and positive, got 0"},
      {[&](btk_config& c) { c.max_grad_norm = inf; }, "max_grad_norm must be finite (<= 0 disables clipping), got inf"},
      {[&](btk_config& c) { c.max_grad_norm = -inf; },
       "max_grad_norm must be finite (<= 0 disables clipping), got -inf"},
      {[](btk_config& c) { c.l1_coeff = -1; }, "l1_coeff must be finite and >= 0, got -1"},
      {[&](btk_config& c) { c.l0_coeff = inf; }, "l0_coeff must be finite and >= 0, got inf"},
      {[](btk_config& c) { c.jumprelu_bandwidth = 0; }, "jumprelu_bandwidth must be finite and positive, got 0"},
      {[](btk_config& c) { c.jumprelu_init_threshold = -1e-3; },
       "jumprelu_init_threshold must be finite and positive, got -0.001"},
      {[](btk_config& c) { c.theta_momentum = 0; }, "theta_momentum must be in (0, 1], got 0"},
      {[](btk_config& c) { c.dtype = BTK_DTYPE_F16; }, "parameter dtype must be F32 or F64, got code 2"},
      {[](btk_config& c) { c.device = 7; }, "unknown device code 7"},
      {[](btk_config& c) { c.path = 2; }, "unknown path code 2"},
  };
  for (const auto& b : bad) {
    auto cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 4);
    b.change(cfg);
    expect_error(btk_config_validate(&cfg), BTK_ERR_INVALID_ARGUMENT, b.message);
    const std::string validate_message = btk_last_error();
    btk_sae* sae = nullptr;
    expect_error(btk_sae_create(&cfg, &sae), BTK_ERR_INVALID_ARGUMENT, b.message);
    EXPECT_EQ(std::string(btk_last_error()), validate_message);
    EXPECT_EQ(sae, nullptr);
    btk_sae_destroy(sae);
  }
  expect_error(btk_config_validate(nullptr), BTK_ERR_INVALID_ARGUMENT, "cfg is NULL");

  // Edges that are valid: both accept them.
  const std::vector<std::function<void(btk_config&)>> edges = {
      [](btk_config& c) { c.k = 16; },
      [](btk_config& c) { c.k_aux = 0; },
      [](btk_config& c) { c.max_grad_norm = 0; },
      [](btk_config& c) { c.max_grad_norm = -1; },
      [](btk_config& c) { c.beta1 = 0, c.beta2 = 0; },
      [](btk_config& c) { c.theta_momentum = 1; },
      [](btk_config& c) { c.aux_coeff = 0, c.l1_coeff = 0, c.l0_coeff = 0; },
      [](btk_config& c) { c.lr = 1e300, c.eps = 1e-300; },
      [](btk_config& c) { c.seed = UINT64_MAX; },
      [](btk_config& c) { c.d_in = 1, c.normalize = BTK_NORMALIZE_NONE; },
      [](btk_config& c) { c.architecture = BTK_ARCH_RELU, c.k = 1000; },
  };
  for (const auto& edge : edges) {
    auto cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 4);
    edge(cfg);
    REQUIRE_OK(btk_config_validate(&cfg));
    Sae sae(cfg);
  }

  // A valid config that this build cannot run: valid, but create refuses the device.
  auto cuda = config_for(8, 16, BTK_ARCH_BATCHTOPK, 4);
  cuda.device = BTK_DEVICE_CUDA;
  REQUIRE_OK(btk_config_validate(&cuda));
  btk_sae* sae = nullptr;
  if (btk_cuda_available() == 0) expect_error(btk_sae_create(&cuda, &sae), BTK_ERR_DEVICE, no_cuda_reason());
}
