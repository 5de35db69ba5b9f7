// The explicit backward against central finite differences, in float64.
#include "test_util.h"

namespace {

double loss_of(Sae& sae, std::vector<double>& x, int64_t B, int64_t d) {
  auto v = view_of(x, B, d);
  btk_metrics m;
  REQUIRE_OK(btk_sae_loss_and_gradients(sae.get(), &v, 0, &m));
  return m.loss;
}

void check_architecture(int32_t arch) {
  const int64_t B = 12, d = 7, F = 23;
  auto cfg = config_for(d, F, arch, 3);
  cfg.dtype = BTK_DTYPE_F64;
  cfg.k_aux = 0;  // AuxK's target is detached, which finite differences cannot see
  cfg.l1_coeff = 0.05;
  cfg.l0_coeff = 0.05;
  cfg.jumprelu_init_threshold = 0.02;
  Sae sae(cfg);
  auto x = random_normal<double>(B * d, 21, 0.2, 1.0);
  auto v = view_of(x, B, d);
  btk_metrics m;
  REQUIRE_OK(btk_sae_loss_and_gradients(sae.get(), &v, 1, &m));

  std::mt19937_64 rng(5);
  for (const char* name : {"W_enc", "b_enc", "W_dec", "b_dec"}) {
    auto grad = sae.state(std::string("grad.") + name);
    auto param = sae.state(name);
    int checked = 0;
    for (int trial = 0; trial < 40 && checked < 12; trial++) {
      size_t i = rng() % param.size();
      const double h = 1e-6;
      auto plus = param, minus = param;
      plus[i] += h;
      minus[i] -= h;
      sae.set_state(name, plus);
      double lp = loss_of(sae, x, B, d);
      sae.set_state(name, minus);
      double lm = loss_of(sae, x, B, d);
      sae.set_state(name, param);
      double numeric = (lp - lm) / (2 * h);
      double error = std::abs(numeric - grad[i]);
      EXPECT_TRUE(error <= 1e-6 + 1e-4 * std::abs(numeric))
          << std::string(arch_name(arch)) + " grad." + name + "[" + std::to_string(i) + "]: analytic " +
                 std::to_string(grad[i]) + " vs numeric " + std::to_string(numeric);
      checked++;
    }
  }
}

}  // namespace

TEST(gradients, batchtopk) { check_architecture(BTK_ARCH_BATCHTOPK); }
TEST(gradients, topk) { check_architecture(BTK_ARCH_TOPK); }
TEST(gradients, jumprelu) { check_architecture(BTK_ARCH_JUMPRELU); }
TEST(gradients, relu) { check_architecture(BTK_ARCH_RELU); }
TEST(gradients, matryoshka_batchtopk) { check_architecture(BTK_ARCH_MATRYOSHKA_BATCHTOPK); }
