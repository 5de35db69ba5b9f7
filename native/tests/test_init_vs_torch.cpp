// The initial weights of a new SAE against libtorch's own torch::nn::init::kaiming_uniform_ (the C++
// twin of torch.nn.init.kaiming_uniform_) applied to W_enc's shape [d_in, d_sae] after
// torch::manual_seed(seed): the very same values, bit for bit, and W_dec their transpose with unit rows.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <string>

#include "batchtopk.h"

namespace {

torch::Tensor state(btk_sae* sae, const char* name, int64_t rows, int64_t cols, torch::ScalarType dtype) {
  auto out = torch::empty({rows, cols}, dtype);
  int32_t rc = btk_sae_state_get(sae, name, out.data_ptr(), out.numel() * out.element_size());
  EXPECT_EQ(rc, BTK_OK) << "btk_sae_state_get(" << name << "): " << btk_last_error();
  return out;
}

void compare(int64_t d, int64_t f, int32_t btk_dtype, uint64_t seed) {
  const auto dtype = btk_dtype == BTK_DTYPE_F64 ? torch::kFloat64 : torch::kFloat32;
  const std::string where = "d=" + std::to_string(d) + " F=" + std::to_string(f) + " seed=" + std::to_string(seed) +
                            (btk_dtype == BTK_DTYPE_F64 ? " f64" : " f32");
  btk_config cfg;
  if (btk_config_defaults(&cfg, d, f, BTK_ARCH_BATCHTOPK, 1) != BTK_OK) {
    ADD_FAILURE() << (where + ": btk_config_defaults: " + btk_last_error());
    return;
  }
  cfg.seed = seed;
  cfg.dtype = btk_dtype;
  btk_sae* sae = nullptr;
  if (btk_sae_create(&cfg, &sae) != BTK_OK) {
    ADD_FAILURE() << (where + ": btk_sae_create: " + btk_last_error());
    return;
  }
  auto w_enc = state(sae, "W_enc", d, f, dtype);
  auto w_dec = state(sae, "W_dec", f, d, dtype);
  btk_sae_destroy(sae);

  torch::manual_seed(seed);
  auto reference = torch::empty({d, f}, dtype);
  torch::nn::init::kaiming_uniform_(reference);
  EXPECT_TRUE(torch::equal(w_enc, reference)) << where + ": W_enc differs from kaiming_uniform_ (max difference " +
                                                     std::to_string((w_enc - reference).abs().max().item<double>()) +
                                                     ")";
  const double bound = std::sqrt(6.0 / static_cast<double>(f));
  EXPECT_TRUE(w_enc.abs().max().item<double>() <= bound) << where + ": W_enc leaves [-sqrt(6/F), sqrt(6/F)]";
  auto columns = reference.t().contiguous();
  EXPECT_TRUE(torch::equal(w_dec, columns / columns.norm(2, {1}, true)))
      << where + ": W_dec is not W_enc^T with unit rows";
}

}  // namespace

TEST(init_vs_torch, weights_are_kaiming_uniform_bit_for_bit) {
  for (uint64_t seed : {0ull, 1ull, 42ull, 18446744073709551615ull}) {
    compare(64, 512, BTK_DTYPE_F32, seed);
    compare(48, 2048, BTK_DTYPE_F32, seed);
    compare(32, 256, BTK_DTYPE_F64, seed);
    compare(7, 3, BTK_DTYPE_F32, seed);
  }
}
