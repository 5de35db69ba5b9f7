// Matryoshka BatchTopK specifics: its widths are checked, and evaluation reports every prefix.
// (Fused = naive and the finite-difference check are in test_fused_vs_naive and test_gradients.)
#include "test_util.h"

namespace {

void expect_invalid(const btk_config& cfg, const std::string& fragment) {
  btk_sae* sae = nullptr;
  int32_t rc = btk_sae_create(&cfg, &sae);
  std::string message = btk_last_error();
  EXPECT_TRUE(rc == BTK_ERR_INVALID_ARGUMENT)
      << "expected INVALID_ARGUMENT, got " + std::to_string(rc) + ": " + message;
  EXPECT_TRUE(sae == nullptr) << "no handle on failure";
  EXPECT_TRUE(message.find(fragment) != std::string::npos) << "message '" + message + "' lacks '" + fragment + "'";
}

btk_config with_widths(std::initializer_list<int64_t> widths) {
  auto cfg = config_for(8, 64, BTK_ARCH_MATRYOSHKA_BATCHTOPK, 4);
  cfg.matryoshka_count = static_cast<int32_t>(widths.size());
  int i = 0;
  for (int64_t w : widths) cfg.matryoshka_widths[i++] = w;
  return cfg;
}

}  // namespace

TEST(matryoshka, invalid_widths) {
  expect_invalid(with_widths({16, 16, 64}), "strictly increasing, but width 2 is 16 after 16");
  expect_invalid(with_widths({32, 16, 64}), "strictly increasing, but width 2 is 16 after 32");
  expect_invalid(with_widths({0, 64}), "positive and strictly increasing, but width 1 is 0");
  expect_invalid(with_widths({16, 32}), "the last matryoshka width must equal d_sae = 64, got 32");
  expect_invalid(with_widths({16, 128}), "the last matryoshka width must equal d_sae = 64, got 128");
  expect_invalid(with_widths({}), "needs 1 to 64 matryoshka widths, got 0");
  auto cfg = with_widths({64});
  cfg.matryoshka_count = BTK_MAX_MATRYOSHKA_WIDTHS + 1;
  expect_invalid(cfg, "needs 1 to 64 matryoshka widths, got 65");
  cfg = config_for(8, 64, BTK_ARCH_BATCHTOPK, 4);
  cfg.matryoshka_count = 1;
  cfg.matryoshka_widths[0] = 64;
  expect_invalid(cfg, "matryoshka widths apply to the Matryoshka BatchTopK architecture only");
  Sae one_group(with_widths({64}));  // a single prefix is allowed: the whole dictionary
}

// Prefix i's squared error is that of the codes with every latent at or past width i zeroed.
TEST(matryoshka, evaluation_reports_each_prefix) {
  const int64_t B = 40, d = 8, F = 64;
  auto cfg = with_widths({8, 24, 64});
  cfg.normalize = BTK_NORMALIZE_NONE;
  cfg.dtype = BTK_DTYPE_F64;
  Sae sae(cfg);
  for (int step = 0; step < 5; step++) {  // a few steps, so that theta is set and codes are non-zero
    auto x = random_normal<double>(B * d, 30 + step);
    auto v = view_of(x, B, d);
    btk_metrics m;
    REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
  }
  auto x = random_normal<double>(B * d, 99);
  auto v = view_of(x, B, d);
  btk_eval_sums sums{};
  std::vector<double> column_sums(d, 0.0);
  REQUIRE_OK(btk_sae_evaluate(sae.get(), &v, &sums, column_sums.data(), nullptr));

  std::vector<double> codes(B * F), x_hat(B * d);
  auto codes_view = view_of(codes, B, F);
  auto out = view_of(x_hat, B, d);
  REQUIRE_OK(btk_sae_encode(sae.get(), &v, BTK_SELECT_INFERENCE, &codes_view));
  EXPECT_TRUE(sums.active > 0) << "no latent fired";
  const int64_t widths[] = {8, 24, 64};
  for (int i = 0; i < 3; i++) {
    auto truncated = codes;
    for (int64_t b = 0; b < B; b++) {
      for (int64_t f = widths[i]; f < F; f++) truncated[b * F + f] = 0;
    }
    auto truncated_view = view_of(truncated, B, F);
    REQUIRE_OK(btk_sae_decode(sae.get(), &truncated_view, &out));
    double expected = 0;
    for (int64_t j = 0; j < B * d; j++) expected += (x_hat[j] - x[j]) * (x_hat[j] - x[j]);
    EXPECT_TRUE(std::abs(sums.prefix_squared_error[i] - expected) <= 1e-9 * expected)
        << "prefix " + std::to_string(i) + ": " + std::to_string(sums.prefix_squared_error[i]) + " vs " +
               std::to_string(expected);
  }
  EXPECT_TRUE(sums.prefix_squared_error[2] == sums.squared_error) << "the last prefix is the SAE's reconstruction";
  for (int i = 3; i < BTK_MAX_MATRYOSHKA_WIDTHS; i++)
    EXPECT_TRUE(sums.prefix_squared_error[i] == 0) << "unused slots stay zero";
}
