// Bad input gives a status and a message naming the problem, never a crash.
#include <limits>
#include <thread>

#include "test_util.h"

namespace {

void expect_error(int32_t rc, int32_t status, const std::string& fragment) {
  std::string message = btk_last_error();
  CHECK(rc == status, "expected status " + std::to_string(status) + ", got " + std::to_string(rc) + ": " + message);
  CHECK(message.find(fragment) != std::string::npos, "message '" + message + "' lacks '" + fragment + "'");
}

}  // namespace

TEST(errors, invalid_configs) {
  btk_sae* sae = nullptr;
  auto cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 20);
  expect_error(btk_sae_create(&cfg, &sae), BTK_ERR_INVALID_ARGUMENT, "k = 20 exceeds d_sae = 16");
  CHECK(sae == nullptr, "no handle on failure");
  cfg = config_for(8, 16, BTK_ARCH_BATCHTOPK, 4);
  cfg.device = BTK_DEVICE_CUDA;
  expect_error(btk_sae_create(&cfg, &sae), BTK_ERR_DEVICE, "CPU code paths only");
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
  CHECK_OK(btk_sae_train_step(sae.get(), &v, &m));
  CHECK(m.step == 1, "one step taken");
}

TEST(errors, bad_state_access) {
  Sae sae(config_for(8, 16, BTK_ARCH_TOPK, 4));
  std::vector<float> small(3);
  expect_error(btk_sae_state_set(sae.get(), "W_enc", small.data(), 12), BTK_ERR_SHAPE, "'W_enc' needs 512 bytes");
  expect_error(btk_sae_state_get(sae.get(), "nope", small.data(), 12), BTK_ERR_INVALID_ARGUMENT, "no state tensor named 'nope'");
  expect_error(btk_sae_state_get(sae.get(), "grad.W_enc", small.data(), 12), BTK_ERR_INVALID_ARGUMENT, "no gradients yet");
  std::vector<float> bad(16, 0.0f);
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  expect_error(btk_sae_state_set(sae.get(), "b_enc", bad.data(), 64), BTK_ERR_NON_FINITE, "'b_enc' contains NaN");
  CHECK(btk_sae_state_name(sae.get(), 10000) == nullptr, "NULL past the end");
}

TEST(errors, message_names_the_problem_once_and_a_success_clears_it) {
  Sae sae(config_for(8, 16, BTK_ARCH_BATCHTOPK, 4));
  btk_metrics m;
  auto x = random_normal<float>(4 * 8, 1);
  auto wrong_cols = view_of(x, 8, 4);
  CHECK(btk_sae_train_step(sae.get(), &wrong_cols, &m) == BTK_ERR_SHAPE, "a shape error");
  // The caller knows which function failed; the message does not repeat its name.
  CHECK(std::string(btk_last_error()) == "batch has 4 columns but 8 are expected",
        std::string("the message is '") + btk_last_error() + "'");
  auto v = view_of(x, 4, 8);
  CHECK_OK(btk_sae_train_step(sae.get(), &v, &m));
  CHECK(std::string(btk_last_error()).empty(), std::string("a success left the message '") + btk_last_error() + "'");
  expect_error(btk_sae_set_lr(sae.get(), -1), BTK_ERR_INVALID_ARGUMENT, "lr must be finite and positive");
  btk_config cfg;
  CHECK_OK(btk_sae_config(sae.get(), &cfg));
  CHECK(std::string(btk_last_error()).empty(), "btk_sae_config cleared nothing");
}

TEST(errors, the_message_belongs_to_the_failing_thread) {
  Sae sae(config_for(8, 16, BTK_ARCH_BATCHTOPK, 4));
  expect_error(btk_sae_set_path(sae.get(), 9), BTK_ERR_INVALID_ARGUMENT, "unknown path code 9");
  std::string other;
  std::thread([&] {
    btk_config cfg;
    CHECK_OK(btk_config_defaults(&cfg, 8, 16, BTK_ARCH_TOPK, 4));
    other = btk_last_error();
  }).join();
  CHECK(other.empty(), "another thread sees '" + other + "'");
  CHECK(std::string(btk_last_error()) == "unknown path code 9", std::string("this thread's message became '") +
                                                                     btk_last_error() + "'");
}
